#include "ops/swiglu.h"

#include <cmath>
#include <cstddef>

#include "core/parallel.h"

namespace loom::cpu {

static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) {
  const size_t count = static_cast<size_t>(N) * F;
#pragma omp parallel for if (count >= kMinParallelElements)
  for (size_t i = 0; i < count; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F) {
  const size_t count = static_cast<size_t>(N) * F;
#pragma omp parallel for if (count >= kMinParallelElements)
  for (size_t i = 0; i < count; ++i) {
    const float g = gate[i];
    const float sig = sigmoid(g);
    dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    dup[i] += dout[i] * g * sig;
  }
}

}  // namespace loom::cpu
