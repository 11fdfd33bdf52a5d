// loom's NF4 + double quantization against the NumPy re-implementation of bitsandbytes in
// tests/golden/make_golden.py (cross-checked there against bitsandbytes 0.50 on CPU: identical
// dynamic map, NF4 indices, offsets and absmax indices on these weights), step by step and bit
// for bit: nf4_golden.safetensors (64 x 258: an all-zero block, outliers, two 256-block scales)
// and nf4_small_golden.safetensors (3 x 100, with the packed bytes).
#include <gtest/gtest.h>

#include <cstring>

#include "core/arena.h"
#include "quant/dynamic_map.h"
#include "quant/nf4.h"
#include "quant/quantized_matrix.h"
#include "support/golden_file.h"

namespace loom {
namespace {

struct Quantized {
  Arena arena;
  QuantizedMatrix m;
};

Quantized quantize_nf4(const std::vector<float>& w, int rows, int cols) {
  Quantized q{Arena("frozen", quantized_matrix_bytes(QuantMode::NF4, rows, cols)), {}};
  q.m = quantize_matrix(q.arena, QuantMode::NF4, w.data(), rows, cols);
  return q;
}

// Bit-exact: the golden arithmetic is f32 throughout and loom's must be the same.
void expect_bits_equal(const float* mine, const std::vector<float>& want, const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &mine[i], 4);
    std::memcpy(&b, &want[i], 4);
    ASSERT_EQ(a, b) << what << " differs at " << i << ": " << mine[i] << " vs " << want[i];
  }
}

void check_round_trip(const std::string& file_name) {
  SCOPED_TRACE(file_name);
  const SafetensorsFile golden(test::golden_path(file_name));
  const std::vector<float> weight = test::golden_floats(golden, "weight");
  const TensorInfo* info = golden.find("weight");
  ASSERT_NE(info, nullptr);
  const int rows = int(info->shape[0]), cols = int(info->shape[1]);
  const Quantized q = quantize_nf4(weight, rows, cols);

  const std::vector<int> absmax_index = test::golden_ints(golden, "absmax_index");
  for (size_t b = 0; b < absmax_index.size(); ++b)
    ASSERT_EQ(int(q.m.absmax_code[b]), absmax_index[b]) << "8-bit absmax index of block " << b;
  expect_bits_equal(q.m.absmax_scale, test::golden_floats(golden, "absmax_scale"), "absmax_scale");
  expect_bits_equal(&q.m.absmax_offset, test::golden_floats(golden, "offset"), "offset");
  std::vector<float> back(q.m.elements());
  dequantize_matrix(back.data(), q.m);
  expect_bits_equal(back.data(), test::golden_floats(golden, "dequant"), "dequantized weight");
}

TEST(Nf4Golden, CodeAndDynamicMapAreTheGoldenTables) {
  const SafetensorsFile golden(test::golden_path("nf4_golden.safetensors"));
  expect_bits_equal(kNf4Code.data(), test::golden_floats(golden, "nf4_code"), "NF4 code");
  expect_bits_equal(kSignedDynamicMap.data(), test::golden_floats(golden, "dynamic_map"), "signed dynamic map");
}

TEST(Nf4Golden, RoundTripWithZeroBlockOutliersAndTwoScaleBlocks) { check_round_trip("nf4_golden.safetensors"); }

TEST(Nf4Golden, SmallWeightRoundTripAndPackedBytes) {
  check_round_trip("nf4_small_golden.safetensors");
  const SafetensorsFile golden(test::golden_path("nf4_small_golden.safetensors"));
  const std::vector<float> weight = test::golden_floats(golden, "weight");
  const Quantized q = quantize_nf4(weight, 3, 100);
  const std::vector<int> packed = test::golden_ints(golden, "packed");
  const auto* bytes = static_cast<const uint8_t*>(q.m.data);
  for (size_t i = 0; i < packed.size(); ++i) ASSERT_EQ(int(bytes[i]), packed[i]) << "packed byte " << i;
}

}  // namespace
}  // namespace loom
