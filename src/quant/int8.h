// Weight-only int8 with one absmax per output row (the weight half of LLM.int8, without
// its outlier columns): q = round(w / absmax * 127) in [-127, 127], w ~ q * absmax / 127.
#pragma once

#include <cstdint>

namespace loom {

// q (rows, cols) and row_scale (rows) = absmax / 127 from w (rows, cols).
void int8_quantize_rows(int8_t* q, float* row_scale, const float* w, int rows, int cols);

// out (row_end - row_begin, cols) = q * row_scale for rows [row_begin, row_end).
void int8_dequantize_rows(float* out, const int8_t* q, const float* row_scale, int row_begin,
                          int row_end, int cols);

}  // namespace loom
