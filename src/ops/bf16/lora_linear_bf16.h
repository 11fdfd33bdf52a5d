// The lora_linear op (ops/lora_linear.h) fused for the cpu-bf16 path, where the frozen weight
// is dequantized for oneDNN anyway (training, prefill: frozen_matmul_forward's GEMV does not
// take N rows):
// - forward: x rounded once into [bf16(x) | bf16(scale * u)] (N, C + R) and W dequantized into
//   [W | B] (OC, C + R), so one GEMM gives x @ W^T + scale * u @ B^T; the dropout mask is
//   applied while rounding x for the A GEMM (no f32 copy of dropout(x)). Where oneDNN runs the
//   product on AMX, [W | B] is written straight into its packed layout (packed_weight_bf16.h),
//   with C + R rounded up to whole blocks by zero columns;
// - backward: dy rounded once for its three GEMMs (dx, du and dB), W dequantized apart from B
//   (packed for AMX likewise, else row-major: both dense, which oneDNN's AMX kernels need),
//   dropout(x) regenerated straight into bf16 from the mask the forward drew (kept as bits), and
//   dropout'(du @ A) added into dx by a rank-R kernel in the same pass that applies the mask.
// Same arguments as the op; the results differ from the composed op's by rounding only.
#pragma once

#include <cstdint>

#include "quant/quantized_matrix.h"

namespace loom::bf16 {

// The largest rank the fused kernels take (the rank-R kernel keeps a row of du in registers).
inline constexpr int kMaxFusedRank = 64;

// Whether the fused kernels take an N-row product with w and rank R (else the composed op runs).
bool lora_linear_fused_applies(const QuantizedMatrix& w, int N, int R);

// a_bf16 (R, C) / b_bf16 (OC, R): bf16 copies of A / B the caller holds (reused weights), or
// null to round A / B here.
void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w, const float* a,
                         const uint16_t* a_bf16, const float* b, const uint16_t* b_bf16, int N, int R, float scale,
                         float p, uint64_t seed, uint64_t stream);

// mid: (N, R) f32 scratch. Without accumulate the dx GEMM overwrites dx (never read).
void lora_linear_backward(float* dx, float* da, float* db, float* mid, const float* dy, const float* x,
                          const float* u, const QuantizedMatrix& w, const float* a, const uint16_t* a_bf16,
                          const float* b, const uint16_t* b_bf16, int N, int R, float scale, float p,
                          uint64_t seed, uint64_t stream, bool accumulate);

}  // namespace loom::bf16
