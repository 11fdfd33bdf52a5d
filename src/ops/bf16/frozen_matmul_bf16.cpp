#include "ops/bf16/frozen_matmul_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/gemv_common.h"
#include "ops/bf16/onednn_gemm.h"
#include "quant/dynamic_map.h"
#include "quant/nf4.h"

namespace loom::bf16 {

namespace {

float nf4_absmax(const QuantizedMatrix& m, size_t block) {
  return dynamic_dequantize(m.absmax_code[block], m.absmax_scale[block / kNf4AbsmaxBlockSize], m.absmax_offset);
}

#if defined(__AVX512BF16__)
// The 64 values of one NF4 block (32 packed bytes, first element in the high nibble) as f32,
// code value x absmax, in four vectors of 16 in element order.
inline void nf4_block_f32(__m512 v[4], const uint8_t* packed, float absmax) {
  const __m512 table = _mm512_loadu_ps(kNf4Code.data());
  const __m512 scale = _mm512_set1_ps(absmax);
  const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed)));
  // word j = (low nibble << 8) | high nibble: as bytes, element 2j then 2j + 1
  const __m512i pairs = _mm512_or_si512(_mm512_srli_epi16(bytes, 4),
                                        _mm512_slli_epi16(_mm512_and_si512(bytes, _mm512_set1_epi16(0x0F)), 8));
  const auto decode = [&](__m128i sixteen_indices) {
    return _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(sixteen_indices), table), scale);
  };
  v[0] = decode(_mm512_extracti32x4_epi32(pairs, 0));
  v[1] = decode(_mm512_extracti32x4_epi32(pairs, 1));
  v[2] = decode(_mm512_extracti32x4_epi32(pairs, 2));
  v[3] = decode(_mm512_extracti32x4_epi32(pairs, 3));
}

// out (count) = nf4_absmax of blocks [first, first + count) of m, 16 at a time: the map value
// and the scale gathered, product and sum rounded separately (no FMA), as dynamic_dequantize.
void nf4_absmax_span(float* out, const QuantizedMatrix& m, size_t first, size_t count) {
  static_assert(kNf4AbsmaxBlockSize == 256, "the scale index below is block >> 8");
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 offset = _mm512_set1_ps(m.absmax_offset);
  size_t j = 0;
  for (; j + 16 <= count; j += 16) {
    const __m512i code = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m.absmax_code + first + j)));
    const __m512i block = _mm512_add_epi32(_mm512_set1_epi32(int(first + j)), lanes);
    const __m512 value = _mm512_i32gather_ps(code, kSignedDynamicMap.data(), 4);
    const __m512 scale = _mm512_i32gather_ps(_mm512_srli_epi32(block, 8), m.absmax_scale, 4);
    const __m512 product = _mm512_mul_round_ps(value, scale, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_storeu_ps(out + j, _mm512_add_round_ps(product, offset, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; j < count; ++j) out[j] = nf4_absmax(m, first + j);
}

// Each 64-value block of x (n values, a multiple of 64) reordered in place to its 32
// even-indexed values, then its 32 odd-indexed ones: the order in which a block's packed
// bytes give their high and low nibbles.
void split_blocks_even_odd(uint16_t* x, size_t n) {
  alignas(64) static const std::array<uint16_t, 32> kEven = [] {
    std::array<uint16_t, 32> idx{};
    for (int j = 0; j < 32; ++j) idx[j] = uint16_t(2 * j);
    return idx;
  }();
  const __m512i even = _mm512_load_si512(kEven.data()), odd = _mm512_add_epi16(even, _mm512_set1_epi16(1));
  for (size_t i = 0; i < n; i += kNf4BlockSize) {
    const __m512i lo = _mm512_loadu_si512(x + i), hi = _mm512_loadu_si512(x + i + 32);
    _mm512_storeu_si512(x + i, _mm512_permutex2var_epi16(lo, even, hi));
    _mm512_storeu_si512(x + i + 32, _mm512_permutex2var_epi16(lo, odd, hi));
  }
}

// Weight rows per task of nf4_gemv with N activation rows: the R x N dot products fill the 16
// accumulators. With one activation row, 8 weight rows whose blocks' even and odd halves go to
// separate accumulators beat 16 rows (h1024-l8's 56 NF4 GEMVs, 2 threads: 1.5 ms against 2.1
// to 2.7 per pass; 4 rows 1.6 to 1.8).
template <int N>
inline constexpr int kNf4GemvRows = N == 1 ? kGemvBlockRows / 2 : kGemvBlockRows / N;

// out (N, OC) columns [r0, r0 + R) (+)= x (N, C) @ bf16(W rows [r0, r0 + R))^T, x split by
// split_blocks_even_odd, R = kNf4GemvRows<N>: each weight block is decoded once for all N rows
// of x. Per block the 16 code values x absmax are rounded to bf16 once and the 64 nibbles look
// them up (vpermw): the values dequantize_rows_bf16 gives. Rows past OC repeat row r0 and
// their sums are not stored.
template <int N>
void nf4_gemv_block(float* out, const uint16_t* x, const QuantizedMatrix& w, int r0, bool accumulate) {
  constexpr int R = kNf4GemvRows<N>;
  // accumulators [r * N + n] take the blocks' even halves, [kOdd + r * N + n] their odd halves
  // (kOdd 0: all in [r * N + n]); split_lane_sums folds 8 split dot products
  constexpr int kOdd = R * N == kGemvBlockRows / 2 ? R * N : 0;
  static_assert(R * N <= kGemvBlockRows);
  const int OC = w.rows, C = w.cols, blocks_per_row = C / kNf4BlockSize;
  const int rows = std::min(R, OC - r0);
  const auto* packed = static_cast<const uint8_t*>(w.data);
  const __m512 code = _mm512_loadu_ps(kNf4Code.data());
  const __m512i low_nibble = _mm512_set1_epi16(0x0F);
  thread_local std::vector<float> absmax;  // (rows, blocks_per_row)
  absmax.resize(size_t(R) * blocks_per_row);
  nf4_absmax_span(absmax.data(), w, size_t(r0) * blocks_per_row, size_t(rows) * blocks_per_row);
  // the absmax codes as far ahead as the weight bytes (one code per 32 bytes)
  const auto* codes_ahead = reinterpret_cast<const char*>(w.absmax_code + size_t(r0 + R) * blocks_per_row) +
                            kWeightPrefetchBytes / (kNf4BlockSize / 2);
  for (int line = 0; line < R * blocks_per_row; line += 64) _mm_prefetch(codes_ahead + line, _MM_HINT_T0);
  __m512 acc[kGemvBlockRows];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  for (int kb = 0; kb < blocks_per_row; ++kb) {
    for (int r = 0; r < R; ++r) {
      const int row = r < rows ? r : 0;
      const size_t block = size_t(r0 + row) * blocks_per_row + kb;
      const __m512i table = _mm512_castsi256_si512((__m256i)_mm512_cvtneps_pbh(
          _mm512_mul_ps(code, _mm512_set1_ps(absmax[size_t(row) * blocks_per_row + kb]))));
      const uint8_t* block_bytes = packed + block * (kNf4BlockSize / 2);
      _mm_prefetch(reinterpret_cast<const char*>(block_bytes + kWeightPrefetchBytes), _MM_HINT_T0);
      const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block_bytes)));
      const __m512bh w_even = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(bytes, 4), table);
      const __m512bh w_odd = (__m512bh)_mm512_permutexvar_epi16(_mm512_and_si512(bytes, low_nibble), table);
      for (int n = 0; n < N; ++n) {
        const uint16_t* xb = x + size_t(n) * C + size_t(kb) * kNf4BlockSize;
        acc[r * N + n] = _mm512_dpbf16_ps(acc[r * N + n], w_even, (__m512bh)_mm512_loadu_si512(xb));
        acc[kOdd + r * N + n] = _mm512_dpbf16_ps(acc[kOdd + r * N + n], w_odd, (__m512bh)_mm512_loadu_si512(xb + 32));
      }
    }
  }
  alignas(64) float sums[kGemvBlockRows];  // [r * N + n]
  _mm512_store_ps(sums, kOdd != 0 ? split_lane_sums(acc) : lane_sums(acc));
  for (int r = 0; r < rows; ++r)
    for (int n = 0; n < N; ++n) {
      float& y = out[size_t(n) * OC + r0 + r];
      y = accumulate ? y + sums[r * N + n] : sums[r * N + n];
    }
}

// nf4_gemv for N rows of x: one task per R = kNf4GemvRows<N> weight rows.
template <int N>
void nf4_gemv_rows(float* out, const uint16_t* x, const QuantizedMatrix& w, bool accumulate) {
  constexpr int R = kNf4GemvRows<N>;
  const int tasks = (w.rows + R - 1) / R;
#pragma omp parallel for schedule(static) if (size_t(w.rows) * w.cols >= kMinParallelGemvWeights)
  for (int t = 0; t < tasks; ++t) nf4_gemv_block<N>(out, x, w, t * R, accumulate);
}

using GemvRows = void (*)(float*, const uint16_t*, const QuantizedMatrix&, bool);
template <int... n>
constexpr std::array<GemvRows, sizeof...(n)> gemv_by_rows(std::integer_sequence<int, n...>) {
  return {&nf4_gemv_rows<n + 1>...};
}
// [N - 1]: nf4_gemv_rows<N>
constexpr auto kGemvByRows = gemv_by_rows(std::make_integer_sequence<int, kGemvMaxRows>{});
#endif

// out [0, end - begin) = bf16 of NF4 elements [begin, end) of m (flat indices).
void dequantize_nf4_span_bf16(uint16_t* out, const QuantizedMatrix& m, size_t begin, size_t end) {
  const auto* packed = static_cast<const uint8_t*>(m.data);
  size_t i = begin;
  const auto scalar_until = [&](size_t stop) {
    for (; i < stop; ++i) out[i - begin] = f32_to_bf16(kNf4Code[nf4_packed_index(packed, i)] * nf4_absmax(m, i / kNf4BlockSize));
  };
#if defined(__AVX512BF16__)
  const size_t first_full = std::min(end, (begin + kNf4BlockSize - 1) / kNf4BlockSize * kNf4BlockSize);
  scalar_until(first_full);
  for (; i + kNf4BlockSize <= end; i += kNf4BlockSize) {
    __m512 v[4];
    nf4_block_f32(v, packed + i / 2, nf4_absmax(m, i / kNf4BlockSize));
    _mm512_storeu_si512(out + (i - begin), (__m512i)_mm512_cvtne2ps_pbh(v[1], v[0]));
    _mm512_storeu_si512(out + (i - begin) + 32, (__m512i)_mm512_cvtne2ps_pbh(v[3], v[2]));
  }
#endif
  scalar_until(end);
}

}  // namespace

// out [0, end - begin) = bf16 of elements [begin, end) of m (flat indices), on the calling thread.
static void dequantize_span_bf16(uint16_t* out, const QuantizedMatrix& m, size_t begin, size_t end) {
  switch (m.mode) {
    case QuantMode::F32: round_span_to_bf16(out, static_cast<const float*>(m.data) + begin, end - begin); break;
    case QuantMode::BF16: std::copy_n(static_cast<const uint16_t*>(m.data) + begin, end - begin, out); break;
    case QuantMode::INT8: {
      const auto* q = static_cast<const int8_t*>(m.data);
      for (size_t i = begin; i < end;) {  // row by row: one scale each
        const size_t row = i / m.cols, row_end = std::min(end, (row + 1) * m.cols);
        for (; i < row_end; ++i) out[i - begin] = f32_to_bf16(q[i] * m.row_scale[row]);
      }
      break;
    }
    case QuantMode::NF4: dequantize_nf4_span_bf16(out, m, begin, end); break;
  }
}

void dequantize_rows_bf16(uint16_t* out, const QuantizedMatrix& m, int row_begin, int row_end, int ld_out) {
  LOOM_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= m.rows && ld_out >= m.cols);
  const size_t first = size_t(row_begin) * m.cols, count = size_t(row_end - row_begin) * m.cols;
  if (ld_out != m.cols) {  // row by row
#pragma omp parallel for schedule(static) if (count >= kMinParallelElements)
    for (int r = row_begin; r < row_end; ++r)
      dequantize_span_bf16(out + size_t(r - row_begin) * ld_out, m, size_t(r) * m.cols, size_t(r + 1) * m.cols);
    return;
  }
  // Spans of 4096 elements (64 NF4 blocks), one per task.
  constexpr size_t kSpan = 64 * kNf4BlockSize;
  const int64_t spans = int64_t((count + kSpan - 1) / kSpan);
#pragma omp parallel for schedule(static) if (count >= kMinParallelElements)
  for (int64_t s = 0; s < spans; ++s) {
    const size_t begin = first + size_t(s) * kSpan, end = std::min(first + count, begin + kSpan);
    dequantize_span_bf16(out + (begin - first), m, begin, end);
  }
}

const uint16_t* frozen_weight_bf16(const QuantizedMatrix& w) {
  if (w.mode == QuantMode::BF16) return static_cast<const uint16_t*>(w.data);
  uint16_t* out = scratch(ScratchSlot::Weight, w.elements());
  dequantize_rows_bf16(out, w, 0, w.rows, w.cols);
  return out;
}

bool nf4_gemv_applies(const QuantizedMatrix& w) {
  return w.mode == QuantMode::NF4 && w.cols % kNf4BlockSize == 0;
}

void frozen_matmul_forward(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate) {
  const int OC = w.rows, C = w.cols;
  if (N <= kNf4GemvMaxPasses * kGemvMaxRows && nf4_gemv_applies(w)) {
    // the rows in passes of equal size (at most kGemvMaxRows each)
    const int passes = (N + kGemvMaxRows - 1) / kGemvMaxRows;
    for (int first = 0, pass = 0; pass < passes; ++pass) {
      const int rows = (N - first) / (passes - pass);
      nf4_gemv(out + size_t(first) * OC, inp + size_t(first) * C, w, rows, accumulate);
      first += rows;
    }
    return;
  }
  uint16_t* x = scratch(ScratchSlot::OperandA, size_t(N) * C);  // (N, C)
  round_to_bf16(x, inp, size_t(N) * C);
  gemm(out, x, false, frozen_weight_bf16(w), /*b_trans=*/true, N, OC, C, accumulate);
}

void frozen_matmul_backward_input(float* dinp, const float* dout, const QuantizedMatrix& w, int N, bool accumulate) {
  const int OC = w.rows, C = w.cols;
  uint16_t* dy = scratch(ScratchSlot::OperandA, size_t(N) * OC);  // (N, OC)
  round_to_bf16(dy, dout, size_t(N) * OC);
  gemm(dinp, dy, false, frozen_weight_bf16(w), false, N, C, OC, accumulate);
}

void nf4_gemv(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate) {
  LOOM_ASSERT(nf4_gemv_applies(w) && N >= 1 && N <= kGemvMaxRows);
  const int C = w.cols;
  uint16_t* x = scratch(ScratchSlot::OperandA, size_t(N) * C);  // (N, C) bf16
  round_to_bf16(x, inp, size_t(N) * C);
#if defined(__AVX512BF16__)
  split_blocks_even_odd(x, size_t(N) * C);
  kGemvByRows[N - 1](out, x, w, accumulate);
#else
  const int OC = w.rows;
  const auto* packed = static_cast<const uint8_t*>(w.data);
#pragma omp parallel for schedule(static) if (size_t(OC) * C >= kMinParallelGemvWeights)
  for (int r = 0; r < OC; ++r)
    for (int n = 0; n < N; ++n) {
      float sum = 0.0f;
      for (int c = 0; c < C; ++c) {
        const size_t i = size_t(r) * C + c;
        const float wv = bf16_to_f32(f32_to_bf16(kNf4Code[nf4_packed_index(packed, i)] * nf4_absmax(w, i / kNf4BlockSize)));
        sum += wv * bf16_to_f32(x[size_t(n) * C + c]);
      }
      float& y = out[size_t(n) * OC + r];
      y = accumulate ? y + sum : sum;
    }
#endif
}

}  // namespace loom::bf16
