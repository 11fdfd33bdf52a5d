#include "train/trainable_state.h"

#include <cmath>

#include "core/check.h"

namespace loom {

TrainableState::TrainableState(size_t count, const Backend& backend)
    : count_(count),
      backend_(backend),
      param_arena_(backend.make_arena("trainable params", count * sizeof(float))),
      grad_arena_(backend.make_arena("grads", count * sizeof(float))),
      optimizer_arena_(backend.make_arena("optimizer state",
                                          2 * align_up(count * sizeof(float)) + align_up(sizeof(float)))) {
  params_ = param_arena_.take<float>(count);
  grads_ = grad_arena_.take<float>(count);
  exp_avg_ = optimizer_arena_.take<float>(count);
  exp_avg_sq_ = optimizer_arena_.take<float>(count);
  norm_squares_ = optimizer_arena_.take<float>(1);
}

std::vector<float> TrainableState::to_host(const float* buffer) const {
  std::vector<float> host(count_);
  backend_.download(host.data(), buffer, sizeof(float) * count_);
  return host;
}

void TrainableState::from_host(float* buffer, const std::vector<float>& host) {
  LOOM_REQUIRE(host.size() == count_, "trainable state: ", host.size(), " host values for ", count_, " parameters");
  backend_.upload(buffer, host.data(), sizeof(float) * count_);
}

void TrainableState::allreduce_grads(const dist::Comm& comm) { backend_.allreduce_sum(comm, grads_, count_); }

float TrainableState::clip_grad_norm(float max_norm) {
  float squares = 0.0f;
  backend_.sum_squares(norm_squares_, grads_, count_);
  backend_.download(&squares, norm_squares_, sizeof(float));
  const float norm = std::sqrt(squares);
  // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when below 1.
  const float coef = max_norm / (norm + 1e-6f);
  if (max_norm > 0.0f && coef < 1.0f) backend_.scale_inplace(grads_, coef, count_);
  return norm;
}

void TrainableState::adamw_step(float lr, const AdamWSettings& s) {
  ++updates_;
  backend_.adamw_update(params_, exp_avg_, exp_avg_sq_, grads_, count_, lr, s.beta1, s.beta2, s.eps,
                        s.weight_decay, static_cast<int>(updates_));
}

}  // namespace loom
