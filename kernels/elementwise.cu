#include "kernels/cuda_check.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

constexpr int kSumThreads = 1024;

__global__ void add_inplace_kernel(float* x, const float* y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

__global__ void scale_inplace_kernel(float* x, float s, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] *= s;
}

// A single block: each thread sums a strided slice in double, then the block reduces.
__global__ void sum_squares_kernel(float* out, const float* x, size_t n) {
  double sum = 0.0;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) sum += static_cast<double>(x[i]) * x[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[0] = static_cast<float>(sum);
}

}  // namespace

void add_inplace(float* x, const float* y, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_inplace_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, y, n);
  LOOM_CUDA_CHECK_LAUNCH();
}

void scale_inplace(float* x, float s, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  scale_inplace_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, s, n);
  LOOM_CUDA_CHECK_LAUNCH();
}

void sum_squares(float* out, const float* x, size_t n, cudaStream_t stream) {
  sum_squares_kernel<<<1, kSumThreads, 0, stream>>>(out, x, n);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
