// The matmul family (ops/matmul.h) in mixed precision, as torch.autocast(cpu, bfloat16) runs a
// linear: both GEMM operands rounded to bf16 (round-to-nearest-even), products accumulated and
// written in f32. Same arguments and accumulate rules as the f32 reference ops. A forward of up
// to kFewRowsMax rows runs on few_rows_matmul_bf16.h's kernels, every other GEMM on oneDNN.
#pragma once

#include <cstdint>

namespace loom::bf16 {

// out (N, OC) = inp (N, C) @ weight (OC, C)^T; with accumulate, out += instead.
void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC, bool accumulate);

// dinp (N, C) += dout (N, OC) @ weight (OC, C)
void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC);

// The same two with the weight already in bf16 (a copy rounded once and reused, as
// Backend::begin_reused_weight allows): weight_bf16 (OC, C).
void matmul_forward_bf16_weight(float* out, const float* inp, const uint16_t* weight_bf16, int N, int C, int OC,
                                bool accumulate);
void matmul_backward_input_bf16_weight(float* dinp, const float* dout, const uint16_t* weight_bf16, int N, int C,
                                       int OC);

// out (N, OC) (+)= inp (N, C) @ weight^T, the weight packed for gemm_packed_b (pack_weight_and_b
// with R = 0; C a multiple of kPackedBDepth), where gemm_packed_b_available(N, OC, C, accumulate).
void matmul_forward_packed_weight(float* out, const float* inp, const uint16_t* weight_packed, int N, int C, int OC,
                                  bool accumulate);

// dinp (N, C) += dout (N, OC) @ weight, given weight_t_bf16 (C, OC) = bf16(weight)^T: oneDNN
// reads the weight as the transposed B of this product 1.3x as fast as row-major (the LM head's
// 256 x 1024 x 32000, 2 threads: 12.8 ms against 17.3; SmolLM2's 170 x 576 x 49152: 8.8
// against 11.7).
void matmul_backward_input_transposed_weight(float* dinp, const float* dout, const uint16_t* weight_t_bf16, int N,
                                             int C, int OC);

// The input and weight gradients with dout already in bf16 (the LM head's, from
// cross_entropy_bf16.h): dinp (N, C) += dout_bf16 (N, OC) @ weight, the weight given in bf16 as
// (OC, C), or with weight_transposed as its transpose (C, OC); dweight (OC, C) += dout_bf16^T @ inp.
void matmul_backward_input_bf16_dout(float* dinp, const uint16_t* dout_bf16, const uint16_t* weight_bf16,
                                     bool weight_transposed, int N, int C, int OC);
void matmul_backward_weight_bf16_dout(float* dweight, const uint16_t* dout_bf16, const float* inp, int N, int C,
                                      int OC);

// out (cols, rows) = in (rows, cols)^T, bf16.
void transpose_bf16(uint16_t* out, const uint16_t* in, int rows, int cols);

// dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC);

}  // namespace loom::bf16
