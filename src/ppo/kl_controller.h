// The KL coefficient beta of the per-token penalty, as TRL's AdaptiveKLController
// (Ziegler et al. 2019) or FixedKLController: once per PPO step, with the mean KL of the
// global batch and n_steps = the global batch size,
//   beta *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon.
#pragma once

#include <cstdint>

namespace loom::ppo {

class KlController {
 public:
  // adaptive false: beta stays init_kl_coef.
  KlController(bool adaptive, double init_kl_coef, double target, double horizon);

  double value() const { return value_; }
  void set_value(double value) { value_ = value; }  // resume
  void update(double current_kl, int64_t n_steps);

 private:
  bool adaptive_;
  double value_, target_, horizon_;
};

}  // namespace loom::ppo
