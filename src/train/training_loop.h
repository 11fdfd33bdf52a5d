// The optimizer-step loop of the SFT and reward stages:
//   zero grads -> task micro-batches (loss normalised by the loss units of the whole step
//   over all ranks) -> all-reduce of the flat gradient -> clip -> NaN/Inf guard -> AdamW ->
//   log / eval / checkpoint -> stop if asked (agreed by all ranks).
// Run control (output directory, resume, checkpoints, final adapter, stops, messages) is
// train/run_control.h, shared with PPO.
#pragma once

#include "dist/comm.h"
#include "model/trainable_layout.h"
#include "train/run_control.h"
#include "train/trainable_state.h"
#include "train/training_options.h"
#include "train/training_task.h"

namespace loom {

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

}  // namespace loom
