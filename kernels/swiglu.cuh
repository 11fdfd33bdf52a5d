// CUDA twin of src/ops/swiglu.h.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// out (N, F) = silu(gate) * up; gate, up (N, F)
void swiglu_forward(float* out, const float* gate, const float* up, int N, int F,
                    cudaStream_t stream);

// dgate, dup (N, F) += gradients of out (without accumulate, = instead)
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F, bool accumulate, cudaStream_t stream);

}  // namespace loom::cuda
