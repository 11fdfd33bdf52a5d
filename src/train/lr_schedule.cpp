#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.h"

namespace loom {

bool lr_schedule_from_name(const std::string& name, LrScheduleKind* out) {
  for (LrScheduleKind kind : {LrScheduleKind::Constant, LrScheduleKind::Linear, LrScheduleKind::Cosine}) {
    if (name == lr_schedule_name(kind)) {
      *out = kind;
      return true;
    }
  }
  return false;
}

const char* lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::Constant: return "constant";
    case LrScheduleKind::Linear: return "linear";
    case LrScheduleKind::Cosine: return "cosine";
  }
  LOOM_ASSERT(false);
}

// The multiplier of base_lr (transformers' lr_lambda), in double as Python computes it.
static double schedule_factor(LrScheduleKind kind, int warmup_steps, int total_steps, int step) {
  if (step < warmup_steps) return static_cast<double>(step) / std::max(1, warmup_steps);
  const double decay_steps = std::max(1, total_steps - warmup_steps);
  switch (kind) {
    case LrScheduleKind::Constant:
      return 1.0;
    case LrScheduleKind::Linear:
      return std::max(0.0, (total_steps - step) / decay_steps);
    case LrScheduleKind::Cosine: {
      const double progress = (step - warmup_steps) / decay_steps;
      return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * 0.5 * 2.0 * progress)));
    }
  }
  LOOM_ASSERT(false);
}

float learning_rate_at(LrScheduleKind kind, double base_lr, int warmup_steps, int total_steps, int step) {
  return static_cast<float>(base_lr * schedule_factor(kind, warmup_steps, total_steps, step));
}

}  // namespace loom
