// Causal GQA attention (ops/attention.h, same arguments and semantics) in mixed precision,
// blocked in the flash-attention manner: for each (sequence, head) and block of kAttnBlockRows
// queries, the scores against the keys up to the block's last query are one bf16 GEMM
// (oneDNN, on head-major bf16 copies of q and k, so that every operand is dense), the softmax
// runs in f32 on that block, and P @ V is a second GEMM; only one block of scores
// (kAttnBlockRows x T) is alive, never T x T. The backward recomputes P from the saved lse,
// block by block (dP = dO V^T, dS = P (dP - D), dV += P^T dO, dK += dS^T Q, dQ += dS K).
// Inputs of every GEMM are rounded to bf16 (q, k, v, dout, P, dS); scores, softmax, lse and
// all outputs are f32.
#pragma once

namespace loom::bf16 {

inline constexpr int kAttnBlockRows = 64;

// out (B, T, NH, HD), lse (B, NH, T); q (B, T, NH, HD), k, v (B, T, NKV, HD), doc (B, T) or nullptr.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                       int B, int T, int NH, int NKV, int HD);

// dq (B, T, NH, HD), dk, dv (B, T, NKV, HD) += gradients (without accumulate, = instead); out
// and lse from the forward.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                        int NKV, int HD, bool accumulate);

}  // namespace loom::bf16
