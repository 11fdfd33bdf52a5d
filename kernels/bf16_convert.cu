#include "kernels/bf16_convert.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

__global__ void round_to_bf16_kernel(__nv_bfloat16* out, const float* in, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}

}  // namespace

void round_to_bf16(__nv_bfloat16* out, const float* in, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  round_to_bf16_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(out, in, n);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
