#include "ops/bf16/frozen_matmul_bf16.h"

#include <immintrin.h>

#include <algorithm>

#include "core/check.h"
#include "core/dtype.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
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

void dequantize_rows_bf16(uint16_t* out, const QuantizedMatrix& m, int row_begin, int row_end) {
  LOOM_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= m.rows);
  const size_t first = size_t(row_begin) * m.cols, count = size_t(row_end - row_begin) * m.cols;
  switch (m.mode) {
    case QuantMode::F32: round_to_bf16(out, static_cast<const float*>(m.data) + first, count); break;
    case QuantMode::BF16: std::copy_n(static_cast<const uint16_t*>(m.data) + first, count, out); break;
    case QuantMode::INT8: {
      const auto* q = static_cast<const int8_t*>(m.data);
#pragma omp parallel for schedule(static) if (count >= (size_t(1) << 15))
      for (int r = row_begin; r < row_end; ++r)
        for (int c = 0; c < m.cols; ++c)
          out[size_t(r - row_begin) * m.cols + c] = f32_to_bf16(q[size_t(r) * m.cols + c] * m.row_scale[r]);
      break;
    }
    case QuantMode::NF4: {
      // Spans of whole blocks (a multiple of 64 elements), one per task.
      constexpr size_t kSpan = 64 * kNf4BlockSize;
      const int64_t spans = int64_t((count + kSpan - 1) / kSpan);
#pragma omp parallel for schedule(static) if (spans > 1)
      for (int64_t s = 0; s < spans; ++s) {
        const size_t begin = first + size_t(s) * kSpan, end = std::min(first + count, begin + kSpan);
        dequantize_nf4_span_bf16(out + (begin - first), m, begin, end);
      }
      break;
    }
  }
}

static const uint16_t* bf16_weight(const QuantizedMatrix& w) {
  if (w.mode == QuantMode::BF16) return static_cast<const uint16_t*>(w.data);
  uint16_t* out = scratch(ScratchSlot::Weight, w.elements());
  dequantize_rows_bf16(out, w, 0, w.rows);
  return out;
}

bool nf4_gemv_applies(const QuantizedMatrix& w) {
  return w.mode == QuantMode::NF4 && w.cols % kNf4BlockSize == 0;
}

void frozen_matmul_forward(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate) {
  if (N <= kGemvMaxRows && nf4_gemv_applies(w)) {
    nf4_gemv(out, inp, w, N, accumulate);
    return;
  }
  const int OC = w.rows, C = w.cols;
  uint16_t* x = scratch(ScratchSlot::OperandA, size_t(N) * C);  // (N, C)
  round_to_bf16(x, inp, size_t(N) * C);
  gemm(out, x, false, bf16_weight(w), /*b_trans=*/true, N, OC, C, accumulate);
}

void frozen_matmul_backward_input(float* dinp, const float* dout, const QuantizedMatrix& w, int N) {
  const int OC = w.rows, C = w.cols;
  uint16_t* dy = scratch(ScratchSlot::OperandA, size_t(N) * OC);  // (N, OC)
  round_to_bf16(dy, dout, size_t(N) * OC);
  gemm(dinp, dy, false, bf16_weight(w), false, N, C, OC, /*accumulate=*/true);
}

void nf4_gemv(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate) {
  LOOM_ASSERT(nf4_gemv_applies(w) && N >= 1 && N <= kGemvMaxRows);
  const int OC = w.rows, C = w.cols;
  uint16_t* x = scratch(ScratchSlot::OperandA, size_t(N) * C);  // (N, C) bf16
  round_to_bf16(x, inp, size_t(N) * C);
  const auto* packed = static_cast<const uint8_t*>(w.data);
  const int blocks_per_row = C / kNf4BlockSize;
  // A GEMV under 2M weights runs on the calling thread: with sleeping idle threads
  // (OMP_WAIT_POLICY=passive) SmolLM2's 576 x 1536 took 207 us on 2 threads, 73 us on 1.
  constexpr size_t kMinParallelWeights = size_t(1) << 21;
#pragma omp parallel for schedule(static) if (size_t(OC) * C >= kMinParallelWeights)
  for (int r = 0; r < OC; ++r) {
    const size_t first_block = size_t(r) * blocks_per_row;
#if defined(__AVX512BF16__)
    __m512 acc[kGemvMaxRows];
    for (int n = 0; n < N; ++n) acc[n] = _mm512_setzero_ps();
    for (int kb = 0; kb < blocks_per_row; ++kb) {
      const size_t block = first_block + kb;
      __m512 v[4];
      nf4_block_f32(v, packed + block * (kNf4BlockSize / 2), nf4_absmax(w, block));
      const __m512bh w0 = _mm512_cvtne2ps_pbh(v[1], v[0]), w1 = _mm512_cvtne2ps_pbh(v[3], v[2]);
      for (int n = 0; n < N; ++n) {
        const uint16_t* xb = x + size_t(n) * C + size_t(kb) * kNf4BlockSize;
        acc[n] = _mm512_dpbf16_ps(acc[n], w0, (__m512bh)_mm512_loadu_si512(xb));
        acc[n] = _mm512_dpbf16_ps(acc[n], w1, (__m512bh)_mm512_loadu_si512(xb + 32));
      }
    }
    for (int n = 0; n < N; ++n) {
      alignas(64) float lanes[16];  // (GCC 12 warns falsely inside _mm512_reduce_add_ps)
      _mm512_store_ps(lanes, acc[n]);
      float sum = 0.0f;
      for (float lane : lanes) sum += lane;
      float& y = out[size_t(n) * OC + r];
      y = accumulate ? y + sum : sum;
    }
#else
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
    (void)first_block;
#endif
  }
}

}  // namespace loom::bf16
