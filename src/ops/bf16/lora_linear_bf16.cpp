#include "ops/bf16/lora_linear_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/gemv_common.h"
#include "ops/bf16/onednn_gemm.h"
#include "ops/bf16/packed_weight_bf16.h"
#include "ops/dropout.h"

namespace loom::bf16 {

namespace {

// out (rows, cols) with row stride ld_out = bf16(scale * in (rows, cols)), in's row stride ld_in.
void round_rows(uint16_t* out, int ld_out, const float* in, int ld_in, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static) if (size_t(rows) * cols >= kMinParallelElements)
  for (int r = 0; r < rows; ++r) round_scaled_span_to_bf16(out + size_t(r) * ld_out, in + size_t(r) * ld_in, scale, cols);
}

// A linear's dropout mask as bits (cpu::dropout_mask_bits), memoized per stream: the fused
// forward draws it, and the backward of the same linear and micro-batch (same seed) reads it
// back instead of drawing it twice more. A mask depends on (n, p, seed, stream) alone, so an
// entry that matches them is that mask; the memo holds one per linear of the model.
const uint64_t* mask_bits(size_t n, float p, uint64_t seed, uint64_t stream) {
  struct Mask {
    size_t n = 0;
    float p = 0.0f;
    uint64_t seed = 0;
    std::vector<uint64_t> bits;
  };
  static std::unordered_map<uint64_t, Mask> masks;
  Mask& mask = masks[stream];
  if (mask.bits.empty() || mask.n != n || mask.p != p || mask.seed != seed) {
    mask.bits.resize((n + 63) / 64 + 1);  // + 1: bits16 may read one word past the last
    cpu::dropout_mask_bits(mask.bits.data(), n, p, seed, stream);
    mask.n = n, mask.p = p, mask.seed = seed;
  }
  return mask.bits.data();
}

// The 16 bits of elements [i, i + 16); the word after the last is there to be read (mask_bits).
inline uint32_t bits16(const uint64_t* bits, size_t i) {
  const size_t word = i / 64, shift = i % 64;
  uint64_t v = bits[word] >> shift;
  if (shift > 48) v |= bits[word + 1] << (64 - shift);
  return uint32_t(v) & 0xffffu;
}
inline bool bit(const uint64_t* bits, size_t i) { return (bits[i / 64] >> (i % 64)) & 1u; }

// out (n) = bf16(dropout(x (n))) with the mask bits of elements [first, first + n) of `bits`:
// kept elements x / (1 - p), others 0. One span, on the calling thread.
void round_masked_span(uint16_t* out, const float* x, const uint64_t* bits, size_t first, size_t n,
                       float keep_scale) {
  size_t i = 0;
#if defined(__AVX512BF16__)
  const __m512 k = _mm512_set1_ps(keep_scale);
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_maskz_mul_ps(__mmask16(bits16(bits, first + i)), _mm512_loadu_ps(x + i), k);
    const __m512 hi = _mm512_maskz_mul_ps(__mmask16(bits16(bits, first + i + 16)), _mm512_loadu_ps(x + i + 16), k);
    _mm512_storeu_si512(out + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
#endif
  for (; i < n; ++i) out[i] = f32_to_bf16(bit(bits, first + i) ? x[i] * keep_scale : 0.0f);
}

// out (n) = bf16(dropout(x (n))) with the mask `bits`.
void round_masked(uint16_t* out, const float* x, const uint64_t* bits, size_t n, float keep_scale) {
  constexpr size_t kSpan = 1024;
  const int64_t spans = int64_t((n + kSpan - 1) / kSpan);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t s = 0; s < spans; ++s) {
    const size_t first = size_t(s) * kSpan;
    round_masked_span(out + first, x + first, bits, first, std::min(kSpan, n - first), keep_scale);
  }
}

// xu (N, C), row stride K, = bf16(x (N, C)) and dropped (N, C) = bf16(dropout(x)) with the mask
// `bits`, a row at a time: the second pass over a row reads it from L1, one pass over x in all.
void round_rows_and_masked(uint16_t* xu, int K, uint16_t* dropped, const float* x, const uint64_t* bits, int N,
                           int C, float keep_scale) {
#pragma omp parallel for schedule(static) if (size_t(N) * C >= kMinParallelElements)
  for (int n = 0; n < N; ++n) {
    const size_t row_start = size_t(n) * C;  // the row's first element, for its mask bits
    round_span_to_bf16(xu + size_t(n) * K, x + row_start, C);
    round_masked_span(dropped + row_start, x + row_start, bits, row_start, C, keep_scale);
  }
}

// dx (N, C) += dropout'(du @ A) with the mask `bits` (kept: x (1 - p)^-1), or with bits null
// dx += du @ A; du (N, R) and A (R, C) bf16, products summed in f32. A rank-R product is a few
// multiply-adds per output: one pass over dx, instead of a GEMM into a buffer and a masked add.
// Rows go kLowRankRows at a time, so each vector of A read serves that many rows (A, R rows of
// up to a few thousand columns, is larger than L1: read once per row it cost more than the sums).
void add_low_rank(float* dx, const uint16_t* du, const uint16_t* a, const uint64_t* bits, float keep_scale, int N,
                  int C, int R) {
  LOOM_ASSERT(R <= kMaxFusedRank);
  constexpr int kLowRankRows = 8;
  thread_local std::vector<float> a32_buffer;  // the calling thread's: the team reads it through a32
  a32_buffer.resize(size_t(R) * C);
  for (size_t i = 0; i < a32_buffer.size(); ++i) a32_buffer[i] = bf16_to_f32(a[i]);
  const float* a32 = a32_buffer.data();  // A in f32, read by every block of rows
  const int blocks = (N + kLowRankRows - 1) / kLowRankRows;
#pragma omp parallel for schedule(static) if (size_t(N) * C * R >= kMinParallelElements)
  for (int block = 0; block < blocks; ++block) {
    const int n0 = block * kLowRankRows, rows = std::min(kLowRankRows, N - n0);
    float du32[kLowRankRows][kMaxFusedRank] = {};  // the block's rows of du; rows past N stay 0
    for (int j = 0; j < rows; ++j)
      for (int r = 0; r < R; ++r) du32[j][r] = bf16_to_f32(du[size_t(n0 + j) * R + r]);
    int c = 0;
#if defined(__AVX512BF16__)
    // 32 columns of every row of the block at a time: 2 x kLowRankRows independent sums
    const __m512 k = _mm512_set1_ps(bits ? keep_scale : 1.0f);
    for (; c < C; c += 32) {
      const __mmask16 in_row[2] = {first_lanes(C - c), first_lanes(C - c - 16)};
      __m512 sum[kLowRankRows][2];
      for (int j = 0; j < kLowRankRows; ++j) sum[j][0] = sum[j][1] = _mm512_setzero_ps();
      for (int r = 0; r < R; ++r) {
        const __m512 a_lo = _mm512_maskz_loadu_ps(in_row[0], &a32[size_t(r) * C + c]);
        const __m512 a_hi = _mm512_maskz_loadu_ps(in_row[1], &a32[size_t(r) * C + c + 16]);
        for (int j = 0; j < kLowRankRows; ++j) {
          const __m512 d = _mm512_set1_ps(du32[j][r]);
          sum[j][0] = _mm512_fmadd_ps(d, a_lo, sum[j][0]);
          sum[j][1] = _mm512_fmadd_ps(d, a_hi, sum[j][1]);
        }
      }
      // constant bounds, so that the sums stay in registers
#pragma GCC unroll 8
      for (int j = 0; j < kLowRankRows; ++j) {
        if (j >= rows) break;
        const size_t row_start = size_t(n0 + j) * C;  // the row's first element, for its mask bits
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          if (!in_row[h]) break;
          float* out = dx + row_start + c + 16 * h;
          const __mmask16 kept = bits ? __mmask16(bits16(bits, row_start + c + 16 * h)) & in_row[h] : in_row[h];
          _mm512_mask_storeu_ps(out, in_row[h], _mm512_mask3_fmadd_ps(sum[j][h], k, _mm512_maskz_loadu_ps(in_row[h], out), kept));
        }
      }
    }
#endif
    for (int j = 0; j < rows; ++j) {
      const size_t row_start = size_t(n0 + j) * C;
      for (int cc = c; cc < C; ++cc) {
        float sum = 0.0f;
        for (int r = 0; r < R; ++r) sum += du32[j][r] * a32[size_t(r) * C + cc];
        if (bits == nullptr)
          dx[row_start + cc] += sum;
        else if (bit(bits, row_start + cc))
          dx[row_start + cc] += sum * keep_scale;
      }
    }
  }
}

// A (R, C) in bf16: the caller's copy, or A rounded into scratch.
const uint16_t* factor_a(const float* a, const uint16_t* a_bf16, int R, int C) {
  if (a_bf16 != nullptr) return a_bf16;
  uint16_t* out = scratch(ScratchSlot::LoraA, size_t(R) * C);
  round_to_bf16(out, a, size_t(R) * C);
  return out;
}

// B (OC, R) in bf16: the caller's copy, or B rounded into scratch.
const uint16_t* factor_b(const float* b, const uint16_t* b_bf16, int OC, int R) {
  if (b_bf16 != nullptr) return b_bf16;
  uint16_t* out = scratch(ScratchSlot::LoraB, size_t(OC) * R);
  round_to_bf16(out, b, size_t(OC) * R);
  return out;
}

// [W | B] (OC, C + R) in bf16: each row of the frozen weight dequantized, then that row of B
// (OC, R) bf16.
const uint16_t* weight_and_b(const QuantizedMatrix& w, const uint16_t* b, int R) {
  const int OC = w.rows, C = w.cols, K = C + R;
  uint16_t* out = scratch(ScratchSlot::Weight, size_t(OC) * K);
  dequantize_rows_bf16(out, w, 0, OC, K);
  for (int o = 0; o < OC; ++o) std::copy_n(b + size_t(o) * R, R, out + size_t(o) * K + C);
  return out;
}

// bf16(dropout(x)) (N, C), or with p == 0 bf16(x)
const uint16_t* dropped_input(const float* x, size_t n, float p, uint64_t seed, uint64_t stream) {
  uint16_t* out = scratch(ScratchSlot::LoraDropped, n);
  if (p > 0.0f)
    round_masked(out, x, mask_bits(n, p, seed, stream), n, cpu::dropout_keep_scale(p));
  else
    round_to_bf16(out, x, n);
  return out;
}

}  // namespace

bool lora_linear_fused_applies(const QuantizedMatrix& w, int N, int R) {
  return R <= kMaxFusedRank && !(N <= kNf4GemvMaxPasses * kGemvMaxRows && nf4_gemv_applies(w));
}

void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w, const float* a,
                         const uint16_t* a_bf16, const float* b, const uint16_t* b_bf16, int N, int R, float scale,
                         float p, uint64_t seed, uint64_t stream) {
  const int OC = w.rows, C = w.cols;
  // [W | B] packed for oneDNN's AMX kernels where they run this product, with K rounded up to
  // whole blocks (zero columns), else row-major
  const bool packed = gemm_packed_b_available(N, OC, packed_depth(C, R), /*accumulate=*/false);
  const int K = packed ? packed_depth(C, R) : C + R;
  uint16_t* xu = scratch(ScratchSlot::OperandA, size_t(N) * K);  // [bf16(x) | bf16(scale * u) | 0] (N, K)
  for (int n = 0; n < N; ++n) std::fill(xu + size_t(n) * K + C + R, xu + size_t(n + 1) * K, uint16_t{0});
  const uint16_t* a16 = factor_a(a, a_bf16, R, C);  // (R, C)
  if (p > 0.0f) {
    uint16_t* dropped = scratch(ScratchSlot::LoraDropped, size_t(N) * C);  // bf16(dropout(x)) (N, C)
    round_rows_and_masked(xu, K, dropped, x, mask_bits(size_t(N) * C, p, seed, stream), N, C,
                          cpu::dropout_keep_scale(p));
    gemm(u, dropped, false, a16, /*b_trans=*/true, N, R, C, false);
  } else {
    round_rows(xu, K, x, C, N, C, 1.0f);
    gemm_strided(u, R, xu, K, false, a16, C, /*b_trans=*/true, N, R, C, false);
  }
  round_rows(xu + C, K, u, R, N, R, scale);
  const uint16_t* b16 = factor_b(b, b_bf16, OC, R);  // B (OC, R)
  if (packed) {
    uint16_t* wb = scratch(ScratchSlot::Weight, packed_elements(OC, K));
    pack_weight_and_b(wb, w, b16, R, K);
    gemm_packed_b(y, xu, wb, N, OC, K, /*accumulate=*/false);
  } else {
    gemm(y, xu, false, weight_and_b(w, b16, R), /*b_trans=*/true, N, OC, K, /*accumulate=*/false);
  }
}

void lora_linear_backward(float* dx, float* da, float* db, float* mid, const float* dy, const float* x,
                          const float* u, const QuantizedMatrix& w, const float* a, const uint16_t* a_bf16,
                          const float* b, const uint16_t* b_bf16, int N, int R, float scale, float p,
                          uint64_t seed, uint64_t stream, bool accumulate) {
  const int OC = w.rows, C = w.cols;
  uint16_t* dy16 = scratch(ScratchSlot::OperandA, size_t(N) * OC);  // (N, OC)
  round_to_bf16(dy16, dy, size_t(N) * OC);
  // W and B apart, each dense: oneDNN's AMX kernels take dense operands only (on the columns
  // of [W | B] it ran its AVX-512 GEMM, 1.5x slower there)
  const uint16_t* b16 = factor_b(b, b_bf16, OC, R);  // B (OC, R)
  // dx (N, C) (+)= dy @ W, W packed for oneDNN's AMX kernels where they run this product
  if (gemm_packed_b_available(N, C, OC, accumulate)) {
    uint16_t* w16 = scratch(ScratchSlot::Weight, packed_elements(C, OC));
    pack_weight(w16, w);
    gemm_packed_b(dx, dy16, w16, N, C, OC, accumulate);
  } else {
    gemm(dx, dy16, false, frozen_weight_bf16(w), false, N, C, OC, accumulate);
  }
  // du (N, R) = scale * dy @ B, in bf16 for the two GEMMs below
  gemm(mid, dy16, false, b16, false, N, R, OC, /*accumulate=*/false);
  uint16_t* du16 = scratch(ScratchSlot::OperandB, size_t(N) * R);
  round_scaled_to_bf16(du16, mid, scale, size_t(N) * R);
  // db (OC, R) += dy^T @ (scale * u)
  uint16_t* su16 = scratch(ScratchSlot::LoraMid, size_t(N) * R);
  round_scaled_to_bf16(su16, u, scale, size_t(N) * R);
  gemm(db, dy16, /*a_trans=*/true, su16, false, OC, R, N, /*accumulate=*/true);
  // da (R, C) += du^T @ dropout(x)
  gemm(da, du16, /*a_trans=*/true, dropped_input(x, size_t(N) * C, p, seed, stream), false, R, C, N, true);
  // dx += dropout'(du @ A)
  const uint16_t* a16 = factor_a(a, a_bf16, R, C);  // (R, C)
  add_low_rank(dx, du16, a16, p > 0.0f ? mask_bits(size_t(N) * C, p, seed, stream) : nullptr,
               cpu::dropout_keep_scale(p), N, C, R);
}

}  // namespace loom::bf16
