// CUDA twin of src/ops/matmul.h: the same names, argument order and semantics, device
// pointers, the stream last. f32 operands run on cuBLAS SGEMM (f32 math); bf16 operands
// (the cuda-bf16 backend's, as src/ops/bf16/matmul_bf16.h) on cublasGemmEx with f32
// accumulation and an f32 output.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace loom::cuda {

// out (N, OC) = inp (N, C) @ weight (OC, C)^T; with accumulate, out += instead.
void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate, cudaStream_t stream);
void matmul_forward(float* out, const __nv_bfloat16* inp, const __nv_bfloat16* weight, int N,
                    int C, int OC, bool accumulate, cudaStream_t stream);

// dinp (N, C) += dout (N, OC) @ weight (OC, C)
void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC, cudaStream_t stream);
void matmul_backward_input(float* dinp, const __nv_bfloat16* dout, const __nv_bfloat16* weight,
                           int N, int C, int OC, cudaStream_t stream);

// dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                            int OC, cudaStream_t stream);
void matmul_backward_weight(float* dweight, const __nv_bfloat16* dout, const __nv_bfloat16* inp,
                            int N, int C, int OC, cudaStream_t stream);

}  // namespace loom::cuda
