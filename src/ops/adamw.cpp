#include "ops/adamw.h"

#include <cmath>

#include "core/parallel.h"

namespace loom::cpu {

void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t) {
  const AdamwStepScalars s = adamw_step_scalars(lr, beta1, beta2, weight_decay, t);
#pragma omp parallel for if (n >= kMinParallelElements)
  for (size_t i = 0; i < n; ++i) {
    const float g = grads[i];
    params[i] *= s.decay;
    m[i] += (1.0f - beta1) * (g - m[i]);
    v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
    const float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + eps;
    params[i] -= s.step_size * (m[i] / denom);
  }
}

}  // namespace loom::cpu
