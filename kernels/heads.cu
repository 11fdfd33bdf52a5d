#include "kernels/cuda_check.cuh"
#include "kernels/heads.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

constexpr int kDotThreads = 256;

// One block per reward: the dot product summed in double, as the CPU reference does.
__global__ void score_head_forward_kernel(float* rewards, const float* hidden, const int* last, const float* head,
                                          int T, int C) {
  const int b = blockIdx.x;
  const float* h = hidden + (static_cast<size_t>(b) * T + last[b]) * C;  // (C)
  double sum = 0.0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sum += static_cast<double>(head[c]) * h[c];
  sum = block_sum(sum);
  if (threadIdx.x == 0) rewards[b] = static_cast<float>(sum);
}

// One thread per channel c, looping over the B rows: each element is written by one thread.
__global__ void score_head_backward_kernel(float* dhidden, float* dhead, const float* d_rewards,
                                           const float* hidden, const int* last, const float* head, int B, int T,
                                           int C) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
    float dhead_c = 0.0f;
    for (int b = 0; b < B; ++b) {
      const size_t at = (static_cast<size_t>(b) * T + last[b]) * C + c;
      dhidden[at] += d_rewards[b] * head[c];
      dhead_c += d_rewards[b] * hidden[at];
    }
    dhead[c] += dhead_c;
  }
}

__global__ void value_head_forward_kernel(float* values, const float* x, const float* w, const float* bias, int C) {
  const size_t n = blockIdx.x;
  const float* xn = x + n * C;  // (C)
  double sum = 0.0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sum += static_cast<double>(w[c]) * xn[c];
  sum = block_sum(sum);
  if (threadIdx.x == 0) values[n] = static_cast<float>(bias[0] + sum);
}

// dx (N, C) += dvalues[n] w[c], one thread per element.
__global__ void value_head_backward_input_kernel(float* dx, const float* dvalues, const float* w, int N, int C) {
  const size_t total = static_cast<size_t>(N) * C;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    dx[i] += dvalues[i / C] * w[i % C];
}

// dw (C) += sum_n dvalues[n] x[n, c], one thread per channel; block 0 also adds dbias.
__global__ void value_head_backward_weight_kernel(float* dw, float* dbias, const float* dvalues, const float* x, int N,
                                                  int C) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
    float sum = 0.0f;
    for (int n = 0; n < N; ++n) sum += dvalues[n] * x[static_cast<size_t>(n) * C + c];
    dw[c] += sum;
  }
  if (blockIdx.x == 0) {
    float sum = 0.0f;
    for (int n = threadIdx.x; n < N; n += blockDim.x) sum += dvalues[n];
    sum = block_sum(sum);
    if (threadIdx.x == 0) dbias[0] += sum;
  }
}

int channel_blocks(int C) { return ceil_div(C, kElementwiseThreads); }

}  // namespace

void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T, int C,
                        cudaStream_t stream) {
  if (B == 0) return;
  score_head_forward_kernel<<<B, kDotThreads, 0, stream>>>(rewards, hidden, last, head, T, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                         const float* head, int B, int T, int C, cudaStream_t stream) {
  if (B == 0 || C == 0) return;
  score_head_backward_kernel<<<channel_blocks(C), kElementwiseThreads, 0, stream>>>(dhidden, dhead, d_rewards, hidden,
                                                                                   last, head, B, T, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N, int C,
                        cudaStream_t stream) {
  if (N == 0) return;
  value_head_forward_kernel<<<N, kDotThreads, 0, stream>>>(values, x, w, bias, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                         int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  const size_t total = static_cast<size_t>(N) * C;
  value_head_backward_input_kernel<<<elementwise_blocks(total), kElementwiseThreads, 0, stream>>>(dx, dvalues, w, N,
                                                                                                   C);
  LOOM_CUDA_CHECK_LAUNCH();
  value_head_backward_weight_kernel<<<channel_blocks(C), kElementwiseThreads, 0, stream>>>(dw, dbias, dvalues, x, N,
                                                                                          C);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
