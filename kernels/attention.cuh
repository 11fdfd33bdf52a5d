// CUDA twin of src/ops/attention.h: causal grouped-query attention with document masks,
// computed tile by tile with an online softmax (no T x T matrix). HD <= 256.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// out (B, T, NH, HD), lse (B, NH, T); q (B, T, NH, HD), k, v (B, T, NKV, HD), doc (B, T) or null.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int* doc, int B, int T, int NH, int NKV, int HD, cudaStream_t stream);

// dq (B, T, NH, HD), dk, dv (B, T, NKV, HD) += gradients; out and lse from the forward.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const int* doc, int B, int T, int NH, int NKV, int HD, cudaStream_t stream);

// out (B, NH, HD); q (B, NH, HD); k_cache, v_cache (B, Tmax, NKV, HD); keys of sequence b in
// [key_begin[b], key_end[b]) (device arrays); an empty range gives a zero row.
void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                      int HD, cudaStream_t stream);

}  // namespace loom::cuda
