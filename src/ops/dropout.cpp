#include "ops/dropout.h"

#include "core/check.h"
#include "core/rng.h"

namespace loom::cpu {

// out (n) = keep_i ? inp / (1 - p) : 0, the mask drawn from (seed, stream, i).
static void dropout_apply(float* out, const float* inp, size_t n, float p, uint64_t seed,
                          uint64_t stream, bool accumulate) {
  LOOM_REQUIRE(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is outside [0, 1)");
  const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for
  for (size_t i = 0; i < n; ++i) {
    const bool keep = p == 0.0f || random_uniform(seed, stream, i) >= p;
    const float value = keep ? inp[i] * keep_scale : 0.0f;
    out[i] = accumulate ? out[i] + value : value;
  }
}

void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                     uint64_t stream) {
  dropout_apply(out, inp, n, p, seed, stream, false);
}

void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream) {
  dropout_apply(dinp, dout, n, p, seed, stream, true);
}

}  // namespace loom::cpu
