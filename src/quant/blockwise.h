// Pieces shared by the blockwise quantizers (NF4, the dynamic map): absmax per block,
// scaling into [-1, 1] and nearest-code lookup, each done the way bitsandbytes does.
#pragma once

#include <algorithm>
#include <cstddef>

#include "core/parallel.h"

namespace loom {

// absmax (ceil(n / block_size)) = max |x| over each block of x (n); the last block may be short.
void block_absmax(float* absmax, const float* x, size_t n, int block_size);

// x * (1 / absmax) clamped to [-1, 1]; an all-zero block (absmax 0) maps to 0.
inline float scale_to_unit(float x, float absmax) {
  const float inverse = 1.0f / std::max(absmax, 1e-38f);
  return std::clamp(x * inverse, -1.0f, 1.0f);
}

// Position of x among sorted bounds (count): the number of bounds strictly below x
// (torch.bucketize with right=False). With the midpoints of a sorted code as bounds this
// is the index of the nearest code value, a tie going to the lower one.
inline int bucketize(const float* bounds, int count, float x) {
  return static_cast<int>(std::lower_bound(bounds, bounds + count, x) - bounds);
}

}  // namespace loom
