#include "ops/bf16/few_rows_matmul_bf16.h"

#include <immintrin.h>

#include <algorithm>

#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/gemv_common.h"

namespace loom::bf16 {

namespace {

constexpr int kChunk = 32;  // bf16 values per dot-product step

// Weight rows per task. Rows of 1024 values or more take 8 rows, each row's even and odd
// chunks in separate accumulators: h1024-l8's LM head (32000 x 1024) in decoding, 67 to 55 ms
// per 32 tokens (medians of 6 paired runs). Shorter rows keep 16 rows, one accumulator each,
// so the fold across lanes is shared by 16 outputs: SmolLM2's LM head (49152 x 576) was no
// faster with 8 (64 against 67 ms), nor are the rank-16 LoRA B factors (one chunk a row).
int rows_per_task(int C) { return C >= 32 * kChunk ? kGemvBlockRows / 2 : kGemvBlockRows; }

#if defined(__AVX512BF16__)
// count (1..32) values at p as 32 bf16 lanes (f32 values rounded), lanes from count on zero.
inline __m512bh bf16_chunk(const float* p, int count) {
  if (count >= kChunk) return _mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 16), _mm512_loadu_ps(p));
  return _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(first_lanes(count - 16), p + 16),
                             _mm512_maskz_loadu_ps(first_lanes(count), p));
}
inline __m512bh bf16_chunk(const uint16_t* p, int count) {
  if (count >= kChunk) return (__m512bh)_mm512_loadu_si512(p);
  return (__m512bh)_mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << count) - 1), p);
}

// out (N, OC) columns [o0, o0 + R) (+)= x (N, C) bf16 @ weight rows [o0, o0 + R)^T, R =
// rows_per_task(C). Rows past OC repeat row o0 and their sums are not stored.
template <typename W, int R>
void block_forward(float* out, const uint16_t* x, const W* weight, int N, int C, int OC, int o0, bool accumulate) {
  // accumulators [i] take row i's even chunks, [kOdd + i] its odd ones (kOdd 0: all in [i]);
  // split_lane_sums folds the two
  constexpr int kOdd = R == kGemvBlockRows / 2 ? R : 0;
  const int rows = std::min(R, OC - o0);
  const W* row[R];
  for (int i = 0; i < R; ++i) row[i] = weight + size_t(o0 + (i < rows ? i : 0)) * C;
  for (int n = 0; n < N; ++n) {
    const uint16_t* xn = x + size_t(n) * C;
    __m512 acc[kGemvBlockRows];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    // the chunk at k (count values) into accumulators [first, first + R)
    const auto chunk = [&](int k, int count, int first) {
      const __m512bh xk = bf16_chunk(xn + k, count);
      for (int i = 0; i < R; ++i) {
        const auto* ahead = reinterpret_cast<const char*>(row[i] + k) + kWeightPrefetchBytes;
        for (size_t line = 0; line < kChunk * sizeof(W); line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
        acc[first + i] = _mm512_dpbf16_ps(acc[first + i], bf16_chunk(row[i] + k, count), xk);
      }
    };
    int k = 0;
    for (; k + 2 * kChunk <= C; k += 2 * kChunk) {
      chunk(k, kChunk, 0);
      chunk(k + kChunk, kChunk, kOdd);
    }
    for (; k < C; k += kChunk) chunk(k, std::min(kChunk, C - k), 0);
    __m512 y = kOdd != 0 ? split_lane_sums(acc) : lane_sums(acc);
    float* yn = out + size_t(n) * OC + o0;
    const __mmask16 store = first_lanes(rows);
    if (accumulate) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(store, yn));
    _mm512_mask_storeu_ps(yn, store, y);
  }
}
#else
float weight_value(const float* w, size_t i) { return bf16_to_f32(f32_to_bf16(w[i])); }
float weight_value(const uint16_t* w, size_t i) { return bf16_to_f32(w[i]); }

template <typename W, int R>
void block_forward(float* out, const uint16_t* x, const W* weight, int N, int C, int OC, int o0, bool accumulate) {
  for (int o = o0; o < std::min(OC, o0 + R); ++o)
    for (int n = 0; n < N; ++n) {
      float sum = 0.0f;
      for (int c = 0; c < C; ++c) sum += bf16_to_f32(x[size_t(n) * C + c]) * weight_value(weight, size_t(o) * C + c);
      float& y = out[size_t(n) * OC + o];
      y = accumulate ? y + sum : sum;
    }
}
#endif

template <typename W>
void forward(float* out, const float* inp, const W* weight, int N, int C, int OC, bool accumulate) {
  LOOM_ASSERT(N >= 1 && N <= kFewRowsMax && C >= 1 && OC >= 1);
  uint16_t* x = scratch(ScratchSlot::OperandA, size_t(N) * C);  // (N, C) bf16
  round_span_to_bf16(x, inp, size_t(N) * C);
  const int R = rows_per_task(C), blocks = (OC + R - 1) / R;
  const auto task = R == kGemvBlockRows ? &block_forward<W, kGemvBlockRows> : &block_forward<W, kGemvBlockRows / 2>;
#pragma omp parallel for schedule(static) if (size_t(OC) * C >= kMinParallelGemvWeights)
  for (int b = 0; b < blocks; ++b) task(out, x, weight, N, C, OC, b * R, accumulate);
}

}  // namespace

void few_rows_matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                             bool accumulate) {
  forward(out, inp, weight, N, C, OC, accumulate);
}

void few_rows_matmul_forward(float* out, const float* inp, const uint16_t* weight_bf16, int N, int C, int OC,
                             bool accumulate) {
  forward(out, inp, weight_bf16, N, C, OC, accumulate);
}

}  // namespace loom::bf16
