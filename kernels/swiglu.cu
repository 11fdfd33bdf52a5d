#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "kernels/swiglu.cuh"

namespace loom::cuda {

namespace {

__device__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g))); without accumulate dgate and dup
// are written, never read.
__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout,
                                       const float* gate, const float* up, size_t n, bool accumulate) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float sig = sigmoid(g);
    const float d_gate = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    const float d_up = dout[i] * g * sig;
    dgate[i] = accumulate ? dgate[i] + d_gate : d_gate;
    dup[i] = accumulate ? dup[i] + d_up : d_up;
  }
}

}  // namespace

void swiglu_forward(float* out, const float* gate, const float* up, int N, int F,
                    cudaStream_t stream) {
  const size_t n = static_cast<size_t>(N) * F;
  if (n == 0) return;
  swiglu_forward_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(out, gate, up,
                                                                                   n);
  LOOM_CUDA_CHECK_LAUNCH();
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F, bool accumulate, cudaStream_t stream) {
  const size_t n = static_cast<size_t>(N) * F;
  if (n == 0) return;
  swiglu_backward_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(
      dgate, dup, dout, gate, up, n, accumulate);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
