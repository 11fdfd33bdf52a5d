// What every training command does before and around its stage: parse the INI file and
// overrides, start the ranks, print the effective configuration, load and quantize the
// base, lay out and initialise the trainable parameters, run the shared loop, and turn a
// graceful stop into the requeue exit code (train/run_control.h's finish_run).
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "dist/comm.h"
#include "io/hf_checkpoint.h"
#include "model/frozen_weights.h"
#include "model/trainable_layout.h"
#include "train/config_file.h"
#include "train/run_control.h"
#include "train/trainable_state.h"
#include "train/training_options.h"
#include "train/training_task.h"

namespace loom::cli {

// The trainable head's kind: a plain weight (score head, or none), or a value head with a bias.
enum class HeadKind { Weight, ValueHead };

struct TrainingSetup {
  po::variables_map values;
  std::string config_ini;
  dist::Comm comm;
  std::unique_ptr<Backend> backend;  // run.compute's choice; runs every op of the stage
  std::unique_ptr<HfCheckpoint> checkpoint;
  std::unique_ptr<FrozenWeights> base;
  std::unique_ptr<TrainableLayout> layout;
  std::unique_ptr<TrainableState> state;
  const CommonTrainingOptions* common = nullptr;
  std::string compute;  // the device the steps run on

  ~TrainingSetup();
  // False when --help was asked for (printed).
  bool parse(int argc, char** argv, const po::options_description& options, const std::string& usage);
  // Ranks, device, base, layout and initial parameters (same seed on every rank).
  void start(const CommonTrainingOptions& common, int argc, char** argv, int head_rows,
             HeadKind head = HeadKind::Weight);
  // The run's description for the run control.
  TrainingRun run(const std::string& head_key) const;
  // Runs the loop; returns the process exit code (kExitRequeue after a graceful stop).
  int train(TrainingTask& task, const std::string& head_key);

 private:
  const po::options_description* options_ = nullptr;
};

}  // namespace loom::cli
