#include "ops/dropout.h"

#include <algorithm>
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
      : keep_scale(dropout_keep_scale(p)), keep_from(static_cast<uint64_t>(std::ceil(double(p) * 16777216.0))) {
    LOOM_REQUIRE(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is outside [0, 1)");
  }
  bool keep(uint64_t seed, uint64_t stream, size_t i) const { return (random_bits(seed, stream, i) >> 40) >= keep_from; }
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
    const float value = rule.keep(seed, stream, i) ? inp[i] * rule.keep_scale : 0.0f;
    if constexpr (kAccumulate) {
      out[i] += value;
    } else {
      out[i] = value;
    }
  }
}

void dropout_mask_bits(uint64_t* bits, size_t n, float p, uint64_t seed, uint64_t stream) {
  const KeepRule rule(p);
  const int64_t words = int64_t((n + 63) / 64);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t w = 0; w < words; ++w) {
    const size_t first = size_t(w) * 64, count = std::min<size_t>(64, n - first);
    uint64_t word = 0;
#pragma omp simd reduction(| : word)
    for (size_t j = 0; j < count; ++j)
      word |= uint64_t(rule.keep(seed, stream, first + j)) << j;
    bits[w] = word;
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
