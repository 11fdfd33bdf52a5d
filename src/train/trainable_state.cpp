#include "train/trainable_state.h"

#include <cmath>

#include "ops/adamw.h"
#include "ops/elementwise.h"

namespace loom {

TrainableState::TrainableState(size_t count)
    : count_(count),
      param_arena_("trainable params", count * sizeof(float)),
      grad_arena_("grads", count * sizeof(float)),
      optimizer_arena_("optimizer state", 2 * align_up(count * sizeof(float))) {
  params_ = param_arena_.take<float>(count);
  grads_ = grad_arena_.take<float>(count);
  exp_avg_ = optimizer_arena_.take<float>(count);
  exp_avg_sq_ = optimizer_arena_.take<float>(count);
}

float TrainableState::clip_grad_norm(float max_norm) {
  float squares = 0.0f;
  cpu::sum_squares(&squares, grads_, count_);
  const float norm = std::sqrt(squares);
  // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when below 1.
  const float coef = max_norm / (norm + 1e-6f);
  if (max_norm > 0.0f && coef < 1.0f) cpu::scale_inplace(grads_, coef, count_);
  return norm;
}

void TrainableState::adamw_step(float lr, const AdamWSettings& s) {
  ++updates_;
  cpu::adamw_update(params_, exp_avg_, exp_avg_sq_, grads_, count_, lr, s.beta1, s.beta2, s.eps, s.weight_decay,
                    static_cast<int>(updates_));
}

}  // namespace loom
