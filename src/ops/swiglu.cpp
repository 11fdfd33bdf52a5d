#include "ops/swiglu.h"

#include <cmath>
#include <cstddef>

#include "core/fast_exp.h"
#include "core/parallel.h"

namespace loom::cpu {

// 1 / (1 + exp(-x)) from exp(-|x|), which never overflows (core/fast_exp.h: a libm exp per
// element was a tenth of a cpu-bf16 training step).
#pragma omp declare simd
static inline float sigmoid(float x) {
  const float e = exp_nonpositive(-std::fabs(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) {
  const size_t count = static_cast<size_t>(N) * F;
#pragma omp parallel for simd if (count >= kMinParallelElements)
  for (size_t i = 0; i < count; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F) {
  const size_t count = static_cast<size_t>(N) * F;
#pragma omp parallel for simd if (count >= kMinParallelElements)
  for (size_t i = 0; i < count; ++i) {
    const float g = gate[i];
    const float sig = sigmoid(g);
    dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    dup[i] += dout[i] * g * sig;
  }
}

}  // namespace loom::cpu
