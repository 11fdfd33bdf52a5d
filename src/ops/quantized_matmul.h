// GEMMs with a frozen quantized weight (QuantizedMatrix, any mode): the base's linears.
// The CPU op dequantizes the whole weight into a workspace (f32 weights are used in place)
// and calls the f32 GEMM; other backends may keep the weight in a layout of their own.
#pragma once

#include "quant/quantized_matrix.h"

namespace loom::cpu {

// out (N, w.rows) = inp (N, w.cols) @ W^T (accumulate: +=); workspace (w.rows * w.cols).
void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                              bool accumulate);

// dinp (N, w.cols) += dout (N, w.rows) @ W (without accumulate, = instead); workspace
// (w.rows * w.cols).
void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                     int N, bool accumulate);

}  // namespace loom::cpu
