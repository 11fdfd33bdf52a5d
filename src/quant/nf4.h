// bitsandbytes' 4-bit NormalFloat (NF4): 16 code values in [-1, 1], blocks of
// kNf4BlockSize elements over the flattened weight, one f32 absmax per block, two
// 4-bit indices per byte with the FIRST element in the HIGH nibble.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace loom {

// index -> value, as bitsandbytes' NF4 code (sorted, 0 at index 7).
inline constexpr std::array<float, 16> kNf4Code = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// Index of the code value nearest to x (x in [-1, 1]); a tie goes to the lower value.
uint8_t nf4_index(float x);

// packed ((n + 1) / 2) = NF4 indices of x (n) scaled by the absmax of its block
// (ceil(n / kNf4BlockSize) values); an odd n leaves the last low nibble at the index of 0.
void nf4_quantize(uint8_t* packed, const float* x, const float* absmax, size_t n);

// The 4-bit index of element i.
inline uint8_t nf4_packed_index(const uint8_t* packed, size_t i) {
  const uint8_t pair = packed[i / 2];
  return i % 2 == 0 ? static_cast<uint8_t>(pair >> 4) : static_cast<uint8_t>(pair & 0x0F);
}

// out (end - begin) = code value * absmax for elements [begin, end), all in one block.
void nf4_dequantize_span(float* out, const uint8_t* packed, size_t begin, size_t end, float absmax);

}  // namespace loom
