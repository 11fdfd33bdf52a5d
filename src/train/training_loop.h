// The optimizer-step loop every training stage shares:
//   zero grads -> task micro-batches (loss normalised by the loss units of the whole step
//   over all ranks) -> all-reduce of the flat gradient -> clip -> AdamW -> log / eval /
//   checkpoint -> stop if asked (SIGUSR1 / SIGTERM, agreed by all ranks).
// Checkpoints (output_dir/checkpoint-STEP) hold the PEFT adapter, the optimizer and train
// state, trainer_state.json and loom_config.ini; the final adapter goes to output_dir/final.
#pragma once

#include <functional>
#include <string>

#include "dist/comm.h"
#include "model/trainable_layout.h"
#include "train/trainable_state.h"
#include "train/training_options.h"
#include "train/training_task.h"

namespace loom {

struct TrainingRun {
  const TrainOptions* train = nullptr;
  std::string head_key;     // PEFT key of the trainable head, if the layout has one
  std::string config_ini;   // the effective configuration, saved beside each checkpoint
  std::function<void(int64_t step)> after_step;  // tests: called after each optimizer step
};

struct TrainingOutcome {
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  bool interrupted = false;   // stopped by a signal after writing a checkpoint
  double last_loss = 0.0;     // mean loss of the last logging window
  MetricValues last_eval;
};

// Resumes first if train.resume says so. Every rank calls it.
TrainingOutcome run_training(const TrainingRun& run, TrainingTask& task, TrainableState& state,
                             const TrainableLayout& layout, const dist::Comm& comm);

// The final adapter of a finished run: output_dir/final.
std::string final_adapter_dir(const std::string& output_dir);

}  // namespace loom
