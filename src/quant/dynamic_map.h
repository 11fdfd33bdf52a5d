// bitsandbytes' signed 8-bit dynamic map (create_dynamic_map(signed=True,
// max_exponent_bits=7, total_bits=8)) and blockwise quantization with it; NF4 uses it
// to store the per-block absmax values in 8 bits ("double quantization").
//
// The map: for exponent e = 0..6, 2^e fraction values (the midpoints of
// torch.linspace(0.1, 1, 2^e + 1)) times 10^(e-6), with both signs, plus 0 and 1.0:
// 256 sorted values in [-0.993, 1]. The groups do not overlap, so each value's sorted
// position is known without sorting, and the whole map is a compile-time constant that
// the CUDA twin shares.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace loom {

inline constexpr int kDynamicMapSize = 256;
using DynamicMap = std::array<float, kDynamicMapSize>;

namespace dynamic_map_detail {

// torch.linspace(0.1, 1, steps, dtype=float32)[i] as torch's CPU kernel computes it:
// start + step * i below the halfway point, end - step * (steps - 1 - i) from there on,
// each as one fused multiply-add (rounded once to f32; the product is exact in double).
constexpr float linspace_point(int steps, int i) {
  const float start = 0.1f, end = 1.0f;
  const float step = (end - start) / static_cast<float>(steps - 1);
  if (i < steps / 2) return static_cast<float>(static_cast<double>(step) * i + start);
  return static_cast<float>(end - static_cast<double>(step) * (steps - 1 - i));
}

constexpr DynamicMap make_signed_dynamic_map() {
  constexpr int kExponents = 7;
  constexpr int kZeroIndex = 127;  // negatives below, positives above, 1.0 last
  constexpr double kPowersOfTen[kExponents] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  DynamicMap map{};
  int group_start = 0;  // values of smaller exponents, per sign
  for (int e = 0; e < kExponents; ++e) {
    const int fractions = 1 << e;
    const float magnitude = static_cast<float>(kPowersOfTen[e]);
    for (int j = 0; j < fractions; ++j) {
      const float mean = (linspace_point(fractions + 1, j) + linspace_point(fractions + 1, j + 1)) / 2.0f;
      const float value = magnitude * mean;
      map[kZeroIndex + 1 + group_start + j] = value;
      map[kZeroIndex - 1 - group_start - j] = -value;
    }
    group_start += fractions;
  }
  map[kZeroIndex] = 0.0f;
  map[kDynamicMapSize - 1] = 1.0f;
  return map;
}

}  // namespace dynamic_map_detail

inline constexpr DynamicMap kSignedDynamicMap = dynamic_map_detail::make_signed_dynamic_map();

// Index of the map value nearest to x (x in [-1, 1]): bucketize on the midpoints of
// adjacent values; a tie goes to the lower value, as torch.bucketize does.
uint8_t dynamic_map_index(float x);

// As bitsandbytes' quantize_blockwise with the signed dynamic map: x (n) in blocks of
// block_size (the last may be short); scales (ceil(n / block_size)) = absmax per block;
// codes (n) = index of the nearest map value of x * (1 / scale), clamped to [-1, 1].
void dynamic_quantize_blockwise(uint8_t* codes, float* scales, const float* x, size_t n,
                                int block_size);

// map[code] * scale + offset, rounded after the multiply and again after the add, as
// bitsandbytes does (dequantize_blockwise, then += offset). The volatile keeps the
// compiler from fusing the two into one multiply-add, which would round once.
inline float dynamic_dequantize(uint8_t code, float scale, float offset) {
  const volatile float product = kSignedDynamicMap[code] * scale;
  return product + offset;
}

}  // namespace loom
