// CUDA twin of src/quant/quantized_matrix.h's dequantization: the same arithmetic (NF4
// code * (dynamic map value * scale + offset), int8 * row scale, bf16, f32), reading a
// QuantizedMatrix whose pointers are device pointers (relocate_quantized_matrix).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "quant/quantized_matrix.h"

namespace loom::cuda {

// out (rows, cols) f32 = the weight as the frozen model uses it.
void dequantize_matrix(float* out, const QuantizedMatrix& m, cudaStream_t stream);

// out (row_end - row_begin, cols) f32: rows [row_begin, row_end) only.
void dequantize_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end,
                     cudaStream_t stream);

// As dequantize_rows, rounded to bf16 (nearest even) for bf16 GEMMs.
void dequantize_rows_bf16(__nv_bfloat16* out, const QuantizedMatrix& m, int row_begin,
                          int row_end, cudaStream_t stream);

}  // namespace loom::cuda
