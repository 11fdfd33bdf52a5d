#include "ops/bf16/bf16_convert.h"

#include <immintrin.h>

#include "core/dtype.h"
#include "core/parallel.h"

namespace loom::bf16 {

namespace {

// out [begin, end) = bf16(in * scale)
void round_span(uint16_t* out, const float* in, float scale, size_t begin, size_t end) {
  size_t i = begin;
#if defined(__AVX512BF16__)
  const __m512 s = _mm512_set1_ps(scale);
  for (; i + 32 <= end; i += 32) {
    const __m512 lo = _mm512_mul_ps(_mm512_loadu_ps(in + i), s);
    const __m512 hi = _mm512_mul_ps(_mm512_loadu_ps(in + i + 16), s);
    _mm512_storeu_si512(out + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
#endif
  for (; i < end; ++i) out[i] = f32_to_bf16(in[i] * scale);
}

void round_all(uint16_t* out, const float* in, float scale, size_t n) {
  if (n < kMinParallelElements) {
    round_span(out, in, scale, 0, n);
    return;
  }
  constexpr size_t kSpan = 4096;
  const int64_t spans = int64_t((n + kSpan - 1) / kSpan);
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < spans; ++s) {
    const size_t begin = size_t(s) * kSpan;
    round_span(out, in, scale, begin, begin + kSpan < n ? begin + kSpan : n);
  }
}

}  // namespace

void round_span_to_bf16(uint16_t* out, const float* in, size_t n) { round_span(out, in, 1.0f, 0, n); }

void round_scaled_span_to_bf16(uint16_t* out, const float* in, float scale, size_t n) {
  round_span(out, in, scale, 0, n);
}

void round_to_bf16(uint16_t* out, const float* in, size_t n) { round_all(out, in, 1.0f, n); }

void round_scaled_to_bf16(uint16_t* out, const float* in, float scale, size_t n) { round_all(out, in, scale, n); }

}  // namespace loom::bf16
