#include "kernels/cuda_check.cuh"
#include "kernels/embedding.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

__global__ void embedding_forward_kernel(float* out, const int* tokens, const float* wte, int N,
                                         int C, int V) {
  const size_t n_elements = static_cast<size_t>(N) * C;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < n_elements;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int token = tokens[idx / C];
    const size_t c = idx % C;
    out[idx] = token >= 0 && token < V ? wte[static_cast<size_t>(token) * C + c] : NAN;
  }
}

}  // namespace

void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V,
                       cudaStream_t stream) {
  const size_t n = static_cast<size_t>(N) * C;
  if (n == 0) return;
  embedding_forward_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(out, tokens,
                                                                                      wte, N, C, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
