#include "ops/dropout.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace loom::cpu {

namespace {

// The mask rule. random_uniform is (bits >> 40) * 2^-24, exact, so `random_uniform >= p` is
// the integer test `bits >> 40 >= ceil(p * 2^24)`: the same mask, without branches, so the
// loops below vectorize.
struct KeepRule {
  explicit KeepRule(float p)
      : keep_scale(1.0f / (1.0f - p)), keep_from(static_cast<uint64_t>(std::ceil(double(p) * 16777216.0))) {
    LOOM_REQUIRE(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is outside [0, 1)");
  }
  float keep_scale;
  uint64_t keep_from;
};

}  // namespace

// out (n) = keep_i ? inp / (1 - p) : 0 (+= with kAccumulate), the mask drawn from (seed, stream, i).
template <bool kAccumulate>
static void dropout_apply(float* out, const float* inp, size_t n, float p, uint64_t seed, uint64_t stream) {
  const KeepRule rule(p);
#pragma omp parallel for simd if (n >= kMinParallelElements)
  for (size_t i = 0; i < n; ++i) {
    const bool keep = (random_bits(seed, stream, i) >> 40) >= rule.keep_from;
    const float value = keep ? inp[i] * rule.keep_scale : 0.0f;
    if constexpr (kAccumulate) {
      out[i] += value;
    } else {
      out[i] = value;
    }
  }
}

void dropout_span(float* out, const float* inp, size_t begin, size_t end, float p, uint64_t seed,
                  uint64_t stream) {
  const KeepRule rule(p);
#pragma omp simd
  for (size_t i = begin; i < end; ++i) {
    const bool keep = (random_bits(seed, stream, i) >> 40) >= rule.keep_from;
    out[i - begin] = keep ? inp[i - begin] * rule.keep_scale : 0.0f;
  }
}

void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                     uint64_t stream) {
  dropout_apply<false>(out, inp, n, p, seed, stream);
}

void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream) {
  dropout_apply<true>(dinp, dout, n, p, seed, stream);
}

}  // namespace loom::cpu
