#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "kernels/rmsnorm.cuh"

namespace loom::cuda {

namespace {

constexpr int kRowThreads = 256;

// One block per row.
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp,
                                       const float* weight, int C, float eps) {
  const size_t row = blockIdx.x;
  const float* x = inp + row * C;  // (C)
  float* y = out + row * C;        // (C)
  float sum_sq = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sum_sq += x[c] * x[c];
  sum_sq = block_sum(sum_sq);
  const float r = rsqrtf(sum_sq / C + eps);
  for (int c = threadIdx.x; c < C; c += blockDim.x) y[c] = (x[c] * r) * weight[c];
  if (threadIdx.x == 0) rstd[row] = r;
}

// dx_k += r w_k dy_k - (r^3 / C) x_k sum_j dy_j w_j x_j; one block per row.
__global__ void rmsnorm_backward_kernel(float* dinp, const float* dout, const float* inp,
                                        const float* weight, const float* rstd, int C) {
  const size_t row = blockIdx.x;
  const float* x = inp + row * C;    // (C)
  const float* dy = dout + row * C;  // (C)
  float* dx = dinp + row * C;        // (C)
  const float r = rstd[row];
  float dot = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dot += dy[c] * weight[c] * x[c];
  dot = block_sum(dot);
  const float coeff = dot * r * r * r / C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dx[c] += r * weight[c] * dy[c] - coeff * x[c];
}

}  // namespace

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                     float eps, cudaStream_t stream) {
  if (N == 0) return;
  rmsnorm_forward_kernel<<<N, kRowThreads, 0, stream>>>(out, rstd, inp, weight, C, eps);
  LOOM_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C, cudaStream_t stream) {
  if (N == 0) return;
  rmsnorm_backward_kernel<<<N, kRowThreads, 0, stream>>>(dinp, dout, inp, weight, rstd, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
