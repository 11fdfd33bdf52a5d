// What a training stage (SFT, reward model) plugs into the shared loop (train/training_loop.h):
// its data, its forward/backward and its evaluation. The loop owns the optimizer step, the
// all-reduces, logging, checkpoints, resume and graceful stops.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "model/lora_linear.h"
#include "train/metrics_log.h"
#include "train/run_control.h"

namespace loom {

struct StepSums {
  double loss_sum = 0.0;  // summed over this rank's loss units (target tokens, pairs)
  int64_t tokens = 0;     // tokens this rank processed (throughput)
  MetricValues extra;     // stage-specific sums over this rank's loss units (e.g. correct pairs)
};

// Its data cursor (CheckpointedStage) goes into every checkpoint.
class TrainingTask : public CheckpointedStage {
 public:
  // Optimizer steps in one epoch (the same on every rank).
  virtual int64_t steps_per_epoch() const = 0;
  // Reads this rank's micro-batches for the next optimizer step; returns its loss units.
  virtual int64_t load_step() = 0;
  // Forward + backward over the loaded micro-batches with the LoRA context (dropout seed set
  // by the loop): lora.grads += d(loss_scale * summed loss)/d(params).
  virtual StepSums run_step(const LoraContext& lora, float loss_scale) = 0;
  // Metrics over the evaluation split, already reduced over ranks; empty without one.
  virtual MetricValues evaluate(const LoraContext& lora) = 0;
};

}  // namespace loom
