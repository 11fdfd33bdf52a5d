#include "quant/nf4.h"

#include "quant/blockwise.h"
#include "quant/quantized_matrix.h"

namespace loom {
namespace {

// Midpoints of adjacent code values, in f32.
constexpr std::array<float, 15> kNf4Bounds = [] {
  std::array<float, 15> bounds{};
  for (int i = 0; i < 15; ++i) bounds[i] = (kNf4Code[i] + kNf4Code[i + 1]) / 2.0f;
  return bounds;
}();

}  // namespace

uint8_t nf4_index(float x) { return static_cast<uint8_t>(bucketize(kNf4Bounds.data(), 15, x)); }

void nf4_quantize(uint8_t* packed, const float* x, const float* absmax, size_t n) {
  const int64_t pairs = static_cast<int64_t>((n + 1) / 2);
  const uint8_t zero_index = nf4_index(0.0f);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t p = 0; p < pairs; ++p) {
    const size_t first = 2 * static_cast<size_t>(p), second = first + 1;  // same block: 64 is even
    const float block_absmax = absmax[first / kNf4BlockSize];
    const uint8_t high = nf4_index(scale_to_unit(x[first], block_absmax));
    const uint8_t low = second < n ? nf4_index(scale_to_unit(x[second], block_absmax)) : zero_index;
    packed[p] = static_cast<uint8_t>(high << 4 | low);
  }
}

void nf4_dequantize_span(float* out, const uint8_t* packed, size_t begin, size_t end, float absmax) {
  for (size_t i = begin; i < end; ++i) out[i - begin] = kNf4Code[nf4_packed_index(packed, i)] * absmax;
}

}  // namespace loom
