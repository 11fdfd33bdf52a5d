#include "ops/copy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/parallel.h"

namespace loom::cpu {

// Spans of kFillSpan elements, one per task: a layer's gradient buffers (megabytes each) are
// filled by the whole team, each thread its share of the pages.
void fill(float* x, float value, size_t n) {
  constexpr size_t kFillSpan = size_t{1} << 14;
  const int64_t spans = int64_t((n + kFillSpan - 1) / kFillSpan);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t s = 0; s < spans; ++s) {
    float* first = x + size_t(s) * kFillSpan;
    const size_t count = std::min(kFillSpan, n - size_t(s) * kFillSpan);
    if (value == 0.0f)
      std::memset(first, 0, sizeof(float) * count);
    else
      std::fill(first, first + count, value);
  }
}

void copy(float* dst, const float* src, size_t n) { std::memcpy(dst, src, sizeof(float) * n); }

void gather_rows(float* out, const float* inp, const int* rows, int count, int C) {
  for (int i = 0; i < count; ++i)
    std::memcpy(out + size_t(i) * C, inp + size_t(rows[i]) * C, sizeof(float) * C);
}

void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) {
#pragma omp parallel for if (size_t(count) * C >= kMinParallelElements)
  for (int i = 0; i < count; ++i) {
    float* dst = out + size_t(rows[i]) * C;  // (C)
    const float* src = inp + size_t(i) * C;  // (C)
    for (int c = 0; c < C; ++c) dst[c] += src[c];
  }
}

void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                     int Tmax, int KVD) {
  const size_t row = size_t(KVD);
  for (int b = 0; b < B; ++b) {
    const size_t at = (size_t(b) * Tmax + t0) * row;  // (B, Tmax, KVD)
    std::memcpy(k_cache + at, k + size_t(b) * T * row, sizeof(float) * T * row);
    std::memcpy(v_cache + at, v + size_t(b) * T * row, sizeof(float) * T * row);
  }
}

}  // namespace loom::cpu
