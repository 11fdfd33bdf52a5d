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

namespace {

// The gradients into dgate, dup, with d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g)));
// without kAccumulate dgate and dup are never read (they may hold NaN).
template <bool kAccumulate>
void swiglu_gradients(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                      size_t count) {
#pragma omp parallel for simd if (count >= kMinParallelElements)
  for (size_t i = 0; i < count; ++i) {
    const float g = gate[i];
    const float sig = sigmoid(g);
    const float d_gate = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    const float d_up = dout[i] * g * sig;
    if constexpr (kAccumulate) {
      dgate[i] += d_gate;
      dup[i] += d_up;
    } else {
      dgate[i] = d_gate;
      dup[i] = d_up;
    }
  }
}

}  // namespace

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F, bool accumulate) {
  const size_t count = static_cast<size_t>(N) * F;
  if (accumulate)
    swiglu_gradients<true>(dgate, dup, dout, gate, up, count);
  else
    swiglu_gradients<false>(dgate, dup, dout, gate, up, count);
}

}  // namespace loom::cpu
