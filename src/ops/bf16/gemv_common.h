// What the kernels that dot a few activation rows with weight rows streamed from memory share
// (few_rows_matmul_bf16.cpp, frozen_matmul_bf16.cpp's NF4 GEMV): each task takes 16 weight
// rows, keeps one accumulator vector per row, and sums all sixteen across lanes at once; or
// 8 rows, two accumulators each (split_lane_sums).
#pragma once

#include <cstddef>

namespace loom::bf16 {

// Weight rows per task: the 16 lanes of one output vector.
inline constexpr int kGemvBlockRows = 16;

// How far ahead of the bytes it reads a kernel prefetches weight bytes. A decode step reads
// every weight once, from memory, 16 rows side by side, which the hardware prefetchers do not
// follow: on SmolLM2's NF4 layers 16 KiB ahead took a pass over all of them from 10 ms to 3.8.
inline constexpr size_t kWeightPrefetchBytes = size_t(16) << 10;

}  // namespace loom::bf16

#if defined(__AVX512F__)
#include <immintrin.h>

#include <array>

namespace loom::bf16 {

// A fold of width w adds the two halves of each 2w-lane group of a and of b, and packs a's
// w-lane sums before b's.
template <int w>
inline __m512 fold_lanes(__m512 a, __m512 b) {
  static const std::array<int, 16> lo = [] {
    std::array<int, 16> idx{};
    for (int j = 0; j < 16; ++j) idx[j] = j / w * 2 * w + j % w;
    return idx;
  }();
  const __m512i lo_idx = _mm512_loadu_si512(lo.data());
  const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(w));
  return _mm512_add_ps(_mm512_permutex2var_ps(a, lo_idx, b), _mm512_permutex2var_ps(a, hi_idx, b));
}

// Lane i of the result = the sum of the 16 lanes of v[i] (15 folds, four levels).
inline __m512 lane_sums(const __m512 v[16]) {
  __m512 w8[8], w4[4], w2[2];
  for (int i = 0; i < 8; ++i) w8[i] = fold_lanes<8>(v[2 * i], v[2 * i + 1]);
  for (int i = 0; i < 4; ++i) w4[i] = fold_lanes<4>(w8[2 * i], w8[2 * i + 1]);
  for (int i = 0; i < 2; ++i) w2[i] = fold_lanes<2>(w4[2 * i], w4[2 * i + 1]);
  return fold_lanes<1>(w2[0], w2[1]);
}

// Lane i < 8 of the result = the sum of the 16 lanes of v[i] and of v[8 + i]: eight dot
// products, each split over two accumulators (a row's even and odd halves); lanes 8..15 the same.
inline __m512 split_lane_sums(const __m512 v[16]) {
  const __m512 sums = lane_sums(v);
  return _mm512_add_ps(sums, _mm512_shuffle_f32x4(sums, sums, _MM_SHUFFLE(1, 0, 3, 2)));
}

// The first `count` (0..16) lanes.
inline __mmask16 first_lanes(int count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

}  // namespace loom::bf16
#endif
