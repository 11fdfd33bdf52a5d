// GEMMs against a frozen base weight (quant/quantized_matrix.h) for the cpu-bf16 path.
// A BF16 base is used as stored (no copy); NF4, INT8 and F32 weights are dequantized straight
// into a bf16 scratch (the value dequantize_rows gives, rounded once to bf16), one whole
// matrix per call. Activations are rounded to bf16; products accumulate in f32.
// For up to 8 rows (decoding) an NF4 weight is not dequantized into memory at all: nf4_gemv
// takes 16 / N weight rows at a time (8 for one row), decodes each 64-value block in
// registers (its 16 code values x absmax rounded to bf16, looked up by nibble) and dots it
// with each of the N activation rows, prefetching the weight bytes ahead (gemv_common.h). From
// 9 to 16 rows (a short prompt's prefill, batched rollouts) frozen_matmul_forward runs it
// twice, on each half of the rows.
#pragma once

#include <cstdint>

#include "quant/quantized_matrix.h"

namespace loom::bf16 {

// out (row_end - row_begin, cols), row stride ld_out >= cols, = bf16 of rows [row_begin, row_end)
// of m; columns [cols, ld_out) of out are left alone.
void dequantize_rows_bf16(uint16_t* out, const QuantizedMatrix& m, int row_begin, int row_end, int ld_out);

// W (rows, cols) in bf16, dense: a BF16 base as stored, any other dequantized into the Weight
// scratch slot (valid until its next use).
const uint16_t* frozen_weight_bf16(const QuantizedMatrix& w);

// out (N, OC) = inp (N, C) @ W (OC, C)^T, out += with accumulate; W = w (w.rows = OC, w.cols = C).
void frozen_matmul_forward(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate);

// dinp (N, C) += dout (N, OC) @ W (OC, C) (without accumulate, = instead)
void frozen_matmul_backward_input(float* dinp, const float* dout, const QuantizedMatrix& w, int N, bool accumulate);

// Rows up to which nf4_gemv runs in one pass: its 16 accumulators hold 16 / N weight rows x N
// activation rows (a single 16-row pass, one weight row per task, was slower than oneDNN).
inline constexpr int kGemvMaxRows = 8;
// Passes of nf4_gemv frozen_matmul_forward takes before it dequantizes the weight for oneDNN.
// 2816 x 1024 NF4 weights, 2 threads: 9 rows 5.3 ms against 7.7 per 36 weights, 16 rows 8.4
// against 10.7; at 24 rows (3 passes) oneDNN was faster (12.2 against 13.4).
inline constexpr int kNf4GemvMaxPasses = 2;

// out (N, OC) (+)= bf16(inp (N, C)) @ bf16(W)^T for an NF4 w whose cols are a multiple of its
// block size (every row starts a block), N <= kGemvMaxRows; f32 accumulation.
void nf4_gemv(float* out, const float* inp, const QuantizedMatrix& w, int N, bool accumulate);

// Whether nf4_gemv takes w (NF4, cols a multiple of kNf4BlockSize).
bool nf4_gemv_applies(const QuantizedMatrix& w);

}  // namespace loom::bf16
