// The quantized frozen base: NF4 with double quantization, int8, bf16 and f32 against
// bitsandbytes' definitions (REFERENCE.md), error bounds, odd sizes and byte accounting.
// Bit-exact comparisons with the golden NF4 files (NF4 code, dynamic map, round trips, packed
// bytes): test_quant_golden.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/arena.h"
#include "core/check.h"
#include "core/dtype.h"
#include "quant/dynamic_map.h"
#include "quant/nf4.h"
#include "quant/quantized_matrix.h"
#include "support/test_support.h"

namespace loom {
namespace {

struct Shape {
  int rows, cols;
};

// Shapes whose element counts are odd, not multiples of 64 or 256, or span several
// 256-block scales; the last is large enough to run the multithreaded loops.
const Shape kShapes[] = {{1, 1}, {1, 63}, {5, 13}, {3, 100}, {7, 64}, {129, 257}, {64, 512}, {300, 301}};
const QuantMode kModes[] = {QuantMode::F32, QuantMode::BF16, QuantMode::INT8, QuantMode::NF4};

std::string describe(QuantMode mode, Shape s) {
  return cat(quant_mode_name(mode), " ", s.rows, "x", s.cols);
}

struct Quantized {
  Arena arena;
  QuantizedMatrix m;
};

Quantized quantize(QuantMode mode, const std::vector<float>& w, int rows, int cols) {
  Quantized q{Arena("frozen", quantized_matrix_bytes(mode, rows, cols)), {}};
  q.m = quantize_matrix(q.arena, mode, w.data(), rows, cols);
  return q;
}

std::vector<float> dequantized(const QuantizedMatrix& m) {
  std::vector<float> out(m.elements());
  dequantize_matrix(out.data(), m);
  return out;
}

// Weights with per-block scales spread over two orders of magnitude (so the absmax values
// the double quantization stores are far from equal).
std::vector<float> uneven_weights(int rows, int cols, uint64_t seed) {
  std::vector<float> w = test::random_vector(static_cast<size_t>(rows) * cols, seed);
  const std::vector<float> spread = test::random_vector(w.size() / kNf4BlockSize + 1, seed + 1, -2.0f, 0.0f);
  for (size_t i = 0; i < w.size(); ++i) w[i] *= std::pow(10.0f, spread[i / kNf4BlockSize]);
  return w;
}

float max_half_gap(const float* code, int count) {
  float gap = 0.0f;
  for (int i = 0; i + 1 < count; ++i) gap = std::max(gap, code[i + 1] - code[i]);
  return gap / 2.0f;
}

TEST(Nf4Code, NearestIndexBucketizesOnMidpoints) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(nf4_index(kNf4Code[i]), i);
  for (int i = 0; i < 15; ++i) {
    const float midpoint = (kNf4Code[i] + kNf4Code[i + 1]) / 2.0f;
    EXPECT_EQ(nf4_index(midpoint), i) << "a tie goes to the lower value";
    EXPECT_EQ(nf4_index(std::nextafter(midpoint, 2.0f)), i + 1);
  }
}

TEST(DynamicMap, SortedWithZeroAndOneAndSymmetric) {
  const DynamicMap& map = kSignedDynamicMap;
  ASSERT_EQ(map.size(), 256u);
  for (int i = 0; i + 1 < 256; ++i) EXPECT_LT(map[i], map[i + 1]) << "index " << i;
  EXPECT_EQ(map[127], 0.0f);
  EXPECT_EQ(map[255], 1.0f);
  // bitsandbytes' signed map has 127 values of each sign; only 1.0 lacks a negative twin.
  for (int k = 1; k <= 127; ++k) EXPECT_EQ(map[127 - k], -map[127 + k]) << "k " << k;
  EXPECT_GT(map[0], -1.0f);
}

TEST(DynamicMap, SpotValuesFollowTheFormula) {
  const DynamicMap& map = kSignedDynamicMap;
  // From the formula: exponent group e holds 2^e midpoints of linspace(0.1, 1, 2^e + 1)
  // times 10^(e - 6); the smallest positive value is 1e-6 * (0.1 + 1) / 2, the largest
  // below 1.0 is the mean of the last two of linspace(0.1, 1, 65).
  EXPECT_FLOAT_EQ(map[128], 1e-6f * 0.55f);
  EXPECT_FLOAT_EQ(map[129], 1e-5f * (0.1f + 0.55f) / 2.0f);
  EXPECT_FLOAT_EQ(map[254], (1.0f - 0.9f / 64.0f + 1.0f) / 2.0f);
  EXPECT_FLOAT_EQ(map[190], 0.1f * (1.0f - 0.9f / 32.0f + 1.0f) / 2.0f);
  EXPECT_FLOAT_EQ(map[191], (0.1f + 0.1f + 0.9f / 64.0f) / 2.0f);
  // The whole table, bit for bit against bitsandbytes' create_dynamic_map: test_quant_golden.
}

TEST(DynamicMap, BlockwiseRoundTripIsWithinHalfAGap) {
  const size_t n = 3 * 256 + 17;
  const std::vector<float> x = test::random_vector(n, 11, -3.0f, 3.0f);
  std::vector<uint8_t> codes(n);
  std::vector<float> scales(4);
  dynamic_quantize_blockwise(codes.data(), scales.data(), x.data(), n, 256);
  const float half_gap = max_half_gap(kSignedDynamicMap.data(), 256);
  for (size_t i = 0; i < n; ++i) {
    const float scale = scales[i / 256];
    const float back = dynamic_dequantize(codes[i], scale, 0.0f);
    EXPECT_LE(std::fabs(back - x[i]), half_gap * scale * 1.0001f) << "element " << i;
  }
  for (size_t b = 0; b < 4; ++b) {
    float absmax = 0.0f;
    for (size_t i = b * 256; i < std::min(n, (b + 1) * 256); ++i) absmax = std::max(absmax, std::fabs(x[i]));
    EXPECT_EQ(scales[b], absmax) << "block " << b;
  }
}

// Element-wise bound: |dequant - x| <= (half the widest NF4 gap) * absmax + |absmax error
// of the double quantization|, where each block's absmax is recomputed here; the absmax
// error itself is within half the widest dynamic-map gap times its 256-block scale.
TEST(Nf4, RoundTripWithinBoundsBlockByBlock) {
  for (const Shape s : kShapes) {
    SCOPED_TRACE(describe(QuantMode::NF4, s));
    const std::vector<float> w = uneven_weights(s.rows, s.cols, 21);
    const Quantized q = quantize(QuantMode::NF4, w, s.rows, s.cols);
    const std::vector<float> back = dequantized(q.m);
    const float nf4_half_gap = max_half_gap(kNf4Code.data(), 16);
    const float map_half_gap = max_half_gap(kSignedDynamicMap.data(), 256);
    const size_t n = w.size();
    for (size_t block = 0; block * kNf4BlockSize < n; ++block) {
      const size_t begin = block * kNf4BlockSize, end = std::min(n, begin + kNf4BlockSize);
      float absmax = 0.0f;
      for (size_t i = begin; i < end; ++i) absmax = std::max(absmax, std::fabs(w[i]));
      const float scale = q.m.absmax_scale[block / kNf4AbsmaxBlockSize];
      const float stored = dynamic_dequantize(q.m.absmax_code[block], scale, q.m.absmax_offset);
      const float absmax_error = std::fabs(stored - absmax);
      const float rounding = 1e-6f * std::max(absmax, q.m.absmax_offset);
      ASSERT_LE(absmax_error, map_half_gap * scale + rounding) << "block " << block;
      for (size_t i = begin; i < end; ++i)
        ASSERT_LE(std::fabs(back[i] - w[i]), nf4_half_gap * absmax + absmax_error + rounding)
            << "element " << i << " of block " << block;
    }
  }
}

TEST(Nf4, CodeValuesTimesAbsmaxAreReconstructedExactly) {
  // Every block holds a +-1 code, so all blocks share absmax 0.5: the double quantization
  // then stores absmax - offset = 0 and gives back 0.5 exactly.
  for (const Shape s : {Shape{3, 77}, Shape{1, 1}, Shape{17, 301}}) {
    SCOPED_TRACE(describe(QuantMode::NF4, s));
    std::vector<float> w(static_cast<size_t>(s.rows) * s.cols);
    for (size_t i = 0; i < w.size(); ++i) {
      const int index = i % kNf4BlockSize == 0 ? (i / kNf4BlockSize % 2 == 0 ? 15 : 0) : (i * 7 + i / 5) % 16;
      w[i] = kNf4Code[index] * 0.5f;
    }
    const Quantized q = quantize(QuantMode::NF4, w, s.rows, s.cols);
    const std::vector<float> back = dequantized(q.m);
    for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(back[i], w[i]) << "element " << i;
  }
}

TEST(Nf4, PacksFirstElementInHighNibbleAndPadsOddCounts) {
  const std::vector<float> w = {1.0f, -1.0f, 0.0f};  // indices 15, 0, 7; pad nibble = index of 0
  const Quantized q = quantize(QuantMode::NF4, w, 1, 3);
  const auto* packed = static_cast<const uint8_t*>(q.m.data);
  EXPECT_EQ(packed[0], 0xF0);
  EXPECT_EQ(packed[1], 0x77);
}

TEST(Int8, RoundTripWithinHalfAStepPerRow) {
  for (const Shape s : kShapes) {
    SCOPED_TRACE(describe(QuantMode::INT8, s));
    std::vector<float> w = uneven_weights(s.rows, s.cols, 31);
    if (s.rows > 2) std::fill(w.begin() + s.cols, w.begin() + 2 * s.cols, 0.0f);  // an all-zero row
    const Quantized q = quantize(QuantMode::INT8, w, s.rows, s.cols);
    const std::vector<float> back = dequantized(q.m);
    const auto* levels = static_cast<const int8_t*>(q.m.data);
    for (int r = 0; r < s.rows; ++r) {
      float absmax = 0.0f;
      for (int c = 0; c < s.cols; ++c) absmax = std::max(absmax, std::fabs(w[static_cast<size_t>(r) * s.cols + c]));
      EXPECT_EQ(q.m.row_scale[r], absmax / 127.0f) << "row " << r;
      int widest = 0;
      for (int c = 0; c < s.cols; ++c) {
        const size_t i = static_cast<size_t>(r) * s.cols + c;
        ASSERT_GE(levels[i], -127);
        widest = std::max(widest, std::abs(static_cast<int>(levels[i])));
        ASSERT_LE(std::fabs(back[i] - w[i]), absmax / 254.0f * (1.0f + 1e-5f)) << "row " << r << " col " << c;
      }
      EXPECT_EQ(widest, absmax > 0.0f ? 127 : 0) << "row " << r;
    }
  }
}

TEST(Bf16, RoundsToNearestEven) {
  const std::vector<float> w = {1.0f + 1.0f / 256.0f, 1.0f + 3.0f / 256.0f, -2.5f, 3.14159265f};
  const Quantized q = quantize(QuantMode::BF16, w, 2, 2);
  const std::vector<float> back = dequantized(q.m);
  EXPECT_EQ(back[0], 1.0f);  // halfway, rounds to the even neighbour
  EXPECT_EQ(back[1], 1.0f + 4.0f / 256.0f);
  EXPECT_EQ(back[2], -2.5f);
  EXPECT_EQ(back[3], bf16_to_f32(f32_to_bf16(3.14159265f)));
  EXPECT_EQ(back[3], 3.140625f);
}

TEST(F32, IsACopy) {
  const std::vector<float> w = test::random_vector(5 * 13, 41);
  const Quantized q = quantize(QuantMode::F32, w, 5, 13);
  EXPECT_EQ(dequantized(q.m), w);
}

void expect_rows_match_whole(const QuantizedMatrix& m, const std::vector<float>& whole, int begin, int end) {
  std::vector<float> part(static_cast<size_t>(end - begin) * m.cols + 1, -7.0f);  // + a sentinel
  dequantize_rows(part.data(), m, begin, end);
  ASSERT_EQ(0, std::memcmp(part.data(), whole.data() + static_cast<size_t>(begin) * m.cols,
                           (part.size() - 1) * sizeof(float)))
      << "rows [" << begin << ", " << end << ")";
  ASSERT_EQ(part.back(), -7.0f) << "wrote past rows [" << begin << ", " << end << ")";
}

TEST(DequantizeRows, AnyRowRangeEqualsTheSameRowsOfTheWholeMatrix) {
  for (const QuantMode mode : kModes) {
    for (const Shape s : {Shape{9, 37}, Shape{5, 13}, Shape{3, 200}}) {
      SCOPED_TRACE(describe(mode, s));
      const Quantized q = quantize(mode, uneven_weights(s.rows, s.cols, 51), s.rows, s.cols);
      const std::vector<float> whole = dequantized(q.m);
      for (int begin = 0; begin <= s.rows; ++begin)
        for (int end = begin; end <= s.rows; ++end) expect_rows_match_whole(q.m, whole, begin, end);
    }
    const Shape large{401, 333};  // rows start mid-byte and mid-block; multithreaded ranges
    SCOPED_TRACE(describe(mode, large));
    const Quantized q = quantize(mode, uneven_weights(large.rows, large.cols, 52), large.rows, large.cols);
    const std::vector<float> whole = dequantized(q.m);
    for (const auto& [begin, end] : {std::pair{0, 401}, {1, 400}, {200, 201}, {3, 250}, {400, 401}})
      expect_rows_match_whole(q.m, whole, begin, end);
  }
}

TEST(QuantizedMatrix, ArenaTakesExactlyThePlannedBytes) {
  for (const QuantMode mode : kModes) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(describe(mode, s));
      const std::vector<float> w = test::random_vector(static_cast<size_t>(s.rows) * s.cols, 61);
      Arena arena("frozen", 3 * quantized_matrix_bytes(mode, s.rows, s.cols));
      quantize_matrix(arena, mode, w.data(), s.rows, s.cols);
      EXPECT_EQ(arena.used(), quantized_matrix_bytes(mode, s.rows, s.cols));
      quantize_matrix(arena, mode, w.data(), s.rows, s.cols);
      EXPECT_EQ(arena.used(), 2 * quantized_matrix_bytes(mode, s.rows, s.cols));
    }
  }
}

TEST(QuantizedMatrix, PayloadBytesPerMode) {
  const int rows = 6, cols = 1000;  // 6000 elements: 94 NF4 blocks, one 256-block scale
  const double n = rows * cols;
  EXPECT_EQ(quantized_matrix_payload_bytes(QuantMode::F32, rows, cols), 4 * n);
  EXPECT_EQ(quantized_matrix_payload_bytes(QuantMode::BF16, rows, cols), 2 * n);
  EXPECT_EQ(quantized_matrix_payload_bytes(QuantMode::INT8, rows, cols), n + 4 * rows);
  EXPECT_EQ(quantized_matrix_payload_bytes(QuantMode::NF4, rows, cols), n / 2 + 94 + 4 + 4);
  EXPECT_EQ(quantized_matrix_payload_bytes(QuantMode::NF4, 1, 3), 2 + 1 + 4 + 4);
}

TEST(QuantizedMatrix, DoubleQuantizationOverheadIsAboutAnEighthOfABitPerParameter) {
  const int rows = 4096, cols = 4096;
  const double n = static_cast<double>(rows) * cols;
  const double overhead_bits = (quantized_matrix_payload_bytes(QuantMode::NF4, rows, cols) - n / 2) * 8 / n;
  const double blocks = n / kNf4BlockSize;
  const double without_double_quant_bits = blocks * 32 / n;  // one f32 absmax per block
  std::printf("NF4 %dx%d absmax overhead: %.4f bits/param with double quantization, %.4f without\n", rows,
              cols, overhead_bits, without_double_quant_bits);
  EXPECT_NEAR(overhead_bits, 8.0 / 64 + 32.0 / (64 * 256) + 32 / n, 1e-9);  // codes, scales, offset
  EXPECT_LT(overhead_bits, 0.13);
  EXPECT_EQ(without_double_quant_bits, 0.5);
}

TEST(QuantizedMatrix, RelocatedCopyDequantizesTheSame) {
  const std::vector<float> w = uneven_weights(7, 300, 71);
  for (const QuantMode mode : kModes) {
    SCOPED_TRACE(quant_mode_name(mode));
    const Quantized q = quantize(mode, w, 7, 300);
    const std::vector<float> before = dequantized(q.m);
    Arena copy("copy", q.arena.used());
    std::memcpy(copy.base(), q.arena.base(), q.arena.used());
    const QuantizedMatrix moved = relocate_quantized_matrix(q.m, q.arena.base(), copy.base());
    EXPECT_EQ(moved.data, copy.base());
    std::memset(q.arena.base(), 0, q.arena.used());  // the original no longer holds the weight
    EXPECT_EQ(dequantized(moved), before);
  }
}

TEST(QuantMode, NamesRoundTripAndUnknownNamesFail) {
  for (const QuantMode mode : kModes) EXPECT_EQ(parse_quant_mode(quant_mode_name(mode)), mode);
  try {
    parse_quant_mode("nf3");
    FAIL() << "nf3 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nf3'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom
