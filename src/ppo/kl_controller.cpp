#include "ppo/kl_controller.h"

#include <algorithm>

namespace loom::ppo {

KlController::KlController(bool adaptive, double init_kl_coef, double target, double horizon)
    : adaptive_(adaptive), value_(init_kl_coef), target_(target), horizon_(horizon) {}

void KlController::update(double current_kl, int64_t n_steps) {
  if (!adaptive_) return;
  const double proportional_error = std::clamp(current_kl / target_ - 1.0, -0.2, 0.2);
  value_ *= 1.0 + proportional_error * double(n_steps) / horizon_;
}

}  // namespace loom::ppo
