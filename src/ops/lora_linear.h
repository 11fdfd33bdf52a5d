// A frozen (quantized) linear with a LoRA adapter, as one op:
//   u (N, R) = dropout(x) @ A^T
//   y (N, OC) = x (N, C) @ W^T + scale * u @ B^T
// W = w (OC = w.rows, C = w.cols), A (R, C), B (OC, R); the dropout mask is dropout_forward's
// for (p, seed, stream), regenerated in backward. The op is written once, below, over the ops
// it is made of; the CPU reference runs it on the cpu:: ops, and a backend without a fused
// version (cuda; cpu-bf16 when decoding) runs it on its own calls. cpu-bf16's fused version
// (ops/bf16/lora_linear_bf16.h) rounds x and the mask once and runs W and B as one GEMM.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quantized_matrix.h"

namespace loom {

// `ops` has the Backend's calls of these names (a Backend, or the cpu:: ops). Scratch:
// workspace (OC * C) as quantized_matmul_forward's, dropped (N, C), mid (N, R); all undefined
// afterwards. u is kept for backward.
template <class Ops>
void lora_linear_forward_composed(const Ops& ops, float* y, float* u, float* workspace, float* dropped,
                                  float* mid, const float* x, const QuantizedMatrix& w, const float* a,
                                  const float* b, int N, int R, float scale, float p, uint64_t seed,
                                  uint64_t stream) {
  const int OC = w.rows, C = w.cols;
  ops.quantized_matmul_forward(y, workspace, x, w, N, /*accumulate=*/false);
  const float* xd = x;  // (N, C) dropout(x)
  if (p > 0.0f) {
    ops.dropout_forward(dropped, x, size_t(N) * C, p, seed, stream);
    xd = dropped;
  }
  ops.matmul_forward(u, xd, a, N, C, R, /*accumulate=*/false);  // u (N, R)
  ops.copy(mid, u, size_t(N) * R);
  ops.scale_inplace(mid, scale, size_t(N) * R);
  ops.matmul_forward(y, mid, b, N, R, OC, /*accumulate=*/true);
}

// With du = scale * dy @ B (N, R):
//   dx (N, C) += dy @ W + dropout'(du @ A)   (without accumulate, dx = instead)
//   da (R, C) += du^T @ dropout(x)
//   db (OC, R) += dy^T @ (scale * u)
// Scratch as in forward.
template <class Ops>
void lora_linear_backward_composed(const Ops& ops, float* dx, float* da, float* db, float* workspace,
                                   float* dropped, float* mid, const float* dy, const float* x, const float* u,
                                   const QuantizedMatrix& w, const float* a, const float* b, int N, int R,
                                   float scale, float p, uint64_t seed, uint64_t stream, bool accumulate) {
  const int OC = w.rows, C = w.cols;
  ops.quantized_matmul_backward_input(dx, workspace, dy, w, N, accumulate);
  // db (OC, R) += dy^T @ (scale * u)
  ops.copy(mid, u, size_t(N) * R);
  ops.scale_inplace(mid, scale, size_t(N) * R);
  ops.matmul_backward_weight(db, dy, mid, N, R, OC);
  // du (N, R) = scale * dy @ B
  ops.fill(mid, 0.0f, size_t(N) * R);
  ops.matmul_backward_input(mid, dy, b, N, R, OC);
  ops.scale_inplace(mid, scale, size_t(N) * R);
  // da (R, C) += du^T @ dropout(x)
  const float* xd = x;
  if (p > 0.0f) {
    ops.dropout_forward(dropped, x, size_t(N) * C, p, seed, stream);
    xd = dropped;
  }
  ops.matmul_backward_weight(da, mid, xd, N, C, R);
  // dx += dropout'(du @ A)
  if (p > 0.0f) {
    ops.fill(dropped, 0.0f, size_t(N) * C);
    ops.matmul_backward_input(dropped, mid, a, N, C, R);
    ops.dropout_backward(dx, dropped, size_t(N) * C, p, seed, stream);
  } else {
    ops.matmul_backward_input(dx, mid, a, N, C, R);
  }
}

}  // namespace loom

namespace loom::cpu {

// The composed op on the cpu:: ops.
void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                         const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                         float p, uint64_t seed, uint64_t stream);
void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid,
                          const float* dy, const float* x, const float* u, const QuantizedMatrix& w,
                          const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed,
                          uint64_t stream, bool accumulate);

}  // namespace loom::cpu
