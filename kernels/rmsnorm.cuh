// CUDA twin of src/ops/rmsnorm.h: the same names, argument order and semantics, device
// pointers, the stream last.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// out (N, C), rstd (N) kept for backward; inp (N, C), weight (C)
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                     float eps, cudaStream_t stream);

// dinp (N, C) += gradient through the norm (the weight is frozen).
void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C, cudaStream_t stream);

}  // namespace loom::cuda
