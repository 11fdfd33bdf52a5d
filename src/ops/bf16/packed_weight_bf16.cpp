#include "ops/bf16/packed_weight_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/check.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/onednn_gemm.h"

namespace loom::bf16 {

namespace {

constexpr int kColumns = kPackedBColumns;  // output channels per block of the packed operand

// In that layout B(k, n) lies at (n / 64) * K * 64 + (k / 32) * 2048 + ((k % 32) / 2) * 128 +
// (n % 64) * 2 + k % 2: as 32-bit pairs of rows (k, k + 1), element (k / 2) * 64 + n % 64 of the
// column block. So a block is the transpose of its 64 rows of [W | B | 0] read as 32-bit pairs.

// out (pairs, 64) = in (64, pairs)^T, 32-bit elements; in's row stride ld.
void transpose_block(uint32_t* out, const uint32_t* in, int ld, int pairs) {
  int p = 0;
#if defined(__AVX512F__)
  // 16 x 16 tiles: four rounds of unpacks and lane shuffles
  for (; p + 16 <= pairs; p += 16) {
    for (int n0 = 0; n0 < kColumns; n0 += 16) {
      __m512i r[16], t[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(in + size_t(n0 + i) * ld + p);
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
      }
      for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
      }
      for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; ++j) {
          t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
          t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xdd);
        }
      for (int j = 0; j < 8; ++j) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
      }
      // r[j] now holds column p + j of the 16 rows
      for (int j = 0; j < 16; ++j) _mm512_storeu_si512(out + size_t(p + j) * kColumns + n0, r[j]);
    }
  }
#endif
  for (; p < pairs; ++p)
    for (int n = 0; n < kColumns; ++n) out[size_t(p) * kColumns + n] = in[size_t(n) * ld + p];
}

// out (128) = rows r0 and r1 (64 columns each) interleaved: r0[0], r1[0], r0[1], r1[1], ...
void interleave_pair(uint16_t* out, const uint16_t* r0, const uint16_t* r1) {
#if defined(__AVX512BW__)
  alignas(64) static const auto kIndex = [] {
    std::array<uint16_t, 32> lo{};
    for (int i = 0; i < 32; ++i) lo[i] = uint16_t(i / 2 | (i % 2) << 5);  // >= 32: the second source
    return lo;
  }();
  const __m512i lo = _mm512_load_si512(kIndex.data()), hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int c = 0; c < kColumns; c += 32) {
    const __m512i a = _mm512_loadu_si512(r0 + c), b = _mm512_loadu_si512(r1 + c);
    _mm512_storeu_si512(out + 2 * c, _mm512_permutex2var_epi16(a, lo, b));
    _mm512_storeu_si512(out + 2 * c + 32, _mm512_permutex2var_epi16(a, hi, b));
  }
#else
  for (int c = 0; c < kColumns; ++c) out[2 * c] = r0[c], out[2 * c + 1] = r1[c];
#endif
}

}  // namespace

int packed_depth(int C, int R) { return (C + R + kPackedBDepth - 1) / kPackedBDepth * kPackedBDepth; }

size_t packed_elements(int OC, int K) { return size_t((OC + kColumns - 1) / kColumns) * kColumns * K; }

void pack_weight_and_b(uint16_t* packed, const QuantizedMatrix& w, const uint16_t* b, int R, int K) {
  const int OC = w.rows, C = w.cols;
  LOOM_ASSERT(K % kPackedBDepth == 0 && K >= C + R);
  const int blocks = (OC + kColumns - 1) / kColumns;
#pragma omp parallel
  {
    thread_local std::vector<uint16_t> rows;  // (64, K): [W | B | 0] of the block's channels
    rows.resize(size_t(kColumns) * K);
#pragma omp for schedule(static)
    for (int block = 0; block < blocks; ++block) {
      const int n0 = block * kColumns, count = std::min(kColumns, OC - n0);
      dequantize_rows_bf16(rows.data(), w, n0, n0 + count, K);
      for (int n = 0; n < kColumns; ++n) {
        uint16_t* row = rows.data() + size_t(n) * K;
        if (n < count) {
          if (R > 0) std::copy_n(b + size_t(n0 + n) * R, R, row + C);
          std::fill(row + C + R, row + K, uint16_t{0});
        } else {
          std::fill(row, row + K, uint16_t{0});
        }
      }
      transpose_block(reinterpret_cast<uint32_t*>(packed + size_t(block) * kColumns * K),
                      reinterpret_cast<const uint32_t*>(rows.data()), K / 2, K / 2);
    }
  }
}

void pack_weight(uint16_t* packed, const QuantizedMatrix& w) {
  const int K = w.rows, C = w.cols;
  LOOM_ASSERT(K % kPackedBDepth == 0);
  const int column_blocks = (C + kColumns - 1) / kColumns, C_padded = column_blocks * kColumns;
  const int depth_blocks = K / kPackedBDepth;
#pragma omp parallel
  {
    thread_local std::vector<uint16_t> rows;  // (kPackedBDepth, C_padded): a depth block of W
    rows.resize(size_t(kPackedBDepth) * C_padded);
#pragma omp for schedule(static)
    for (int kb = 0; kb < depth_blocks; ++kb) {
      const int k0 = kb * kPackedBDepth;
      dequantize_rows_bf16(rows.data(), w, k0, k0 + kPackedBDepth, C_padded);
      for (int r = 0; r < kPackedBDepth; ++r)
        std::fill(rows.data() + size_t(r) * C_padded + C, rows.data() + size_t(r + 1) * C_padded, uint16_t{0});
      // block (cb, kb) of the packed operand: kPackedBDepth / 2 pairs of rows x 64 columns
      for (int cb = 0; cb < column_blocks; ++cb) {
        uint16_t* out = packed + (size_t(cb) * K + k0) * kColumns;
        for (int pair = 0; pair < kPackedBDepth / 2; ++pair)
          interleave_pair(out + size_t(pair) * 2 * kColumns, rows.data() + size_t(2 * pair) * C_padded + cb * kColumns,
                          rows.data() + size_t(2 * pair + 1) * C_padded + cb * kColumns);
      }
    }
  }
}

}  // namespace loom::bf16
