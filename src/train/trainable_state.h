// The trainable parameters and what updates them, one arena per kind: parameters,
// gradients, AdamW moments. Flat f32 buffers laid out by TrainableLayout, in the memory of the
// backend that runs the optimizer and the gradient all-reduce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"

namespace loom {

struct AdamWSettings {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};

class TrainableState {
 public:
  TrainableState(size_t count, const Backend& backend);

  const Backend& backend() const { return backend_; }
  size_t count() const { return count_; }
  float* params() { return params_; }
  const float* params() const { return params_; }
  float* grads() { return grads_; }
  float* exp_avg() { return exp_avg_; }
  float* exp_avg_sq() { return exp_avg_sq_; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }

  void zero_grads() { grad_arena_.zero(); }

  // The only way the host reads or writes the buffers above (initialisation, checkpoints):
  // buffer is params(), grads(), exp_avg() or exp_avg_sq(); host holds count() values.
  std::vector<float> to_host(const float* buffer) const;
  void from_host(float* buffer, const std::vector<float>& host);

  // Sums the gradients over the ranks of comm, in place.
  void allreduce_grads(const dist::Comm& comm);

  // The global L2 norm of the gradients (before clipping); scales them to max_norm when
  // larger (max_norm 0: no clipping), as torch.nn.utils.clip_grad_norm_.
  float clip_grad_norm(float max_norm);

  // One AdamW update with learning rate lr.
  void adamw_step(float lr, const AdamWSettings& settings);

 private:
  size_t count_;
  const Backend& backend_;
  Arena param_arena_, grad_arena_, optimizer_arena_;
  float* norm_squares_;  // (1) in the optimizer arena
  float* params_;
  float* grads_;
  float* exp_avg_;
  float* exp_avg_sq_;
  int64_t updates_ = 0;
};

}  // namespace loom
