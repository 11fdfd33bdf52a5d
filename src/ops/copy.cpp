#include "ops/copy.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace loom::cpu {

void fill(float* x, float value, size_t n) {
  if (value == 0.0f) {
    std::memset(x, 0, sizeof(float) * n);
    return;
  }
  std::fill(x, x + n, value);
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
