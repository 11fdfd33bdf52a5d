#include "quant/dynamic_map.h"

#include "quant/blockwise.h"

namespace loom {
namespace {

// Midpoints of adjacent map values, in f32 (the bounds bitsandbytes bucketizes on).
constexpr std::array<float, kDynamicMapSize - 1> kDynamicMapBounds = [] {
  std::array<float, kDynamicMapSize - 1> bounds{};
  for (int i = 0; i + 1 < kDynamicMapSize; ++i)
    bounds[i] = (kSignedDynamicMap[i] + kSignedDynamicMap[i + 1]) / 2.0f;
  return bounds;
}();

}  // namespace

uint8_t dynamic_map_index(float x) {
  return static_cast<uint8_t>(bucketize(kDynamicMapBounds.data(), kDynamicMapSize - 1, x));
}

void dynamic_quantize_blockwise(uint8_t* codes, float* scales, const float* x, size_t n,
                                int block_size) {
  block_absmax(scales, x, n, block_size);
  const int64_t blocks = static_cast<int64_t>((n + block_size - 1) / block_size);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t begin = static_cast<size_t>(b) * block_size;
    const size_t end = std::min(n, begin + block_size);
    for (size_t i = begin; i < end; ++i) codes[i] = dynamic_map_index(scale_to_unit(x[i], scales[b]));
  }
}

}  // namespace loom
