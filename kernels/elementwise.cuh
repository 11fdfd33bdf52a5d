// CUDA twin of src/ops/elementwise.h.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace loom::cuda {

// x (n) += y (n)
void add_inplace(float* x, const float* y, size_t n, cudaStream_t stream);

// x (n) *= s
void scale_inplace(float* x, float s, size_t n, cudaStream_t stream);

// out (1, on the device) = sum of x^2 over n elements, accumulated in double (one block:
// meant for once-a-step norms, not for hot loops).
void sum_squares(float* out, const float* x, size_t n, cudaStream_t stream);

}  // namespace loom::cuda
