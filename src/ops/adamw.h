// AdamW on flat f32 buffers, PyTorch semantics (decoupled weight decay, bias correction).
#pragma once

#include <cmath>
#include <cstddef>

namespace loom {

// The per-step scalars shared by the CPU op and its CUDA twin, computed as torch does
// (Python floats, i.e. double, then used in f32).
struct AdamwStepScalars {
  float step_size;              // lr / (1 - beta1^t)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float decay;                  // 1 - lr * weight_decay
};

inline AdamwStepScalars adamw_step_scalars(float lr, float beta1, float beta2,
                                           float weight_decay, int t) {
  AdamwStepScalars s;
  s.step_size = static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(beta1), t)));
  s.bias_correction2_sqrt =
      static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(beta2), t)));
  s.decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  return s;
}

}  // namespace loom

namespace loom::cpu {

// params, m, v (n) updated in place from grads (n); step t counts from 1:
//   p *= 1 - lr * wd;  m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2;
//   p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t);

}  // namespace loom::cpu
