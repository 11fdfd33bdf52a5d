#include "quant/blockwise.h"

#include <cmath>
#include <cstdint>

namespace loom {

void block_absmax(float* absmax, const float* x, size_t n, int block_size) {
  const int64_t blocks = static_cast<int64_t>((n + block_size - 1) / block_size);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t begin = static_cast<size_t>(b) * block_size;
    const size_t end = std::min(n, begin + block_size);
    float block_max = 0.0f;
    for (size_t i = begin; i < end; ++i) block_max = std::max(block_max, std::fabs(x[i]));
    absmax[b] = block_max;
  }
}

}  // namespace loom
