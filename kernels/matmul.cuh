// CUDA twin of src/ops/matmul.h (cuBLAS SGEMM, f32 math): the same names, argument order
// and semantics, device pointers, the stream last.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// out (N, OC) = inp (N, C) @ weight (OC, C)^T; with accumulate, out += instead.
void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate, cudaStream_t stream);

// dinp (N, C) += dout (N, OC) @ weight (OC, C)
void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC, cudaStream_t stream);

// dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                            int OC, cudaStream_t stream);

}  // namespace loom::cuda
