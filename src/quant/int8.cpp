#include "quant/int8.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "quant/blockwise.h"

namespace loom {

void int8_quantize_rows(int8_t* q, float* row_scale, const float* w, int rows, int cols) {
  const size_t n = static_cast<size_t>(rows) * cols;
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int r = 0; r < rows; ++r) {
    const float* w_row = w + static_cast<size_t>(r) * cols;  // (C)
    int8_t* q_row = q + static_cast<size_t>(r) * cols;       // (C)
    float absmax = 0.0f;
    for (int c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(w_row[c]));
    row_scale[r] = absmax / 127.0f;
    for (int c = 0; c < cols; ++c) {
      const float level = absmax > 0.0f ? std::nearbyint(w_row[c] / absmax * 127.0f) : 0.0f;
      q_row[c] = static_cast<int8_t>(std::clamp(level, -127.0f, 127.0f));
    }
  }
}

void int8_dequantize_rows(float* out, const int8_t* q, const float* row_scale, int row_begin,
                          int row_end, int cols) {
  const size_t n = static_cast<size_t>(row_end - row_begin) * cols;
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int r = row_begin; r < row_end; ++r) {
    const int8_t* q_row = q + static_cast<size_t>(r) * cols;                // (C)
    float* out_row = out + static_cast<size_t>(r - row_begin) * cols;       // (C)
    for (int c = 0; c < cols; ++c) out_row[c] = q_row[c] * row_scale[r];
  }
}

}  // namespace loom
