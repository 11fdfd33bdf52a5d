// GEMMs of a handful of activation rows (decoding: one row per sequence) for the cpu-bf16
// path, without oneDNN. At one row a oneDNN call costs tens of microseconds in overhead and
// in rounding the whole weight to bf16 first; a rank-16 LoRA factor is a few thousand
// multiply-adds. Here each 16-row block of the weight is read once, rounded to bf16 in
// registers (f32 weights) or read as bf16, and dotted with every activation row; the numbers
// are those of the oneDNN path (bf16 inputs, f32 accumulation) up to the order of the sums.
#pragma once

#include <cstdint>

namespace loom::bf16 {

// Rows up to which the cpu-bf16 matmul_forward takes these kernels.
inline constexpr int kFewRowsMax = 4;

// out (N, OC) (+)= bf16(inp (N, C)) @ bf16(weight (OC, C))^T, N <= kFewRowsMax.
void few_rows_matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                             bool accumulate);
// The same with the weight already in bf16 (a reused weight's copy).
void few_rows_matmul_forward(float* out, const float* inp, const uint16_t* weight_bf16, int N, int C, int OC,
                             bool accumulate);

}  // namespace loom::bf16
