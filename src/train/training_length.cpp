#include "train/training_length.h"

#include <cmath>

namespace loom {

int64_t total_training_steps(int max_steps, double num_train_epochs, int64_t steps_per_epoch) {
  if (max_steps > 0) return max_steps;
  return static_cast<int64_t>(std::ceil(num_train_epochs * static_cast<double>(steps_per_epoch)));
}

int warmup_steps_for(int warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

}  // namespace loom
