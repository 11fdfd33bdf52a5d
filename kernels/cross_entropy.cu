#include "kernels/cross_entropy.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

constexpr int kRowThreads = 512;

// log sum_v exp(row[v]) with the max subtracted first; the whole block calls it, and every
// read of `row` is finished when it returns.
__device__ float row_logsumexp(const float* row, int V) {
  float max_logit = -INFINITY;
  for (int v = threadIdx.x; v < V; v += blockDim.x) max_logit = fmaxf(max_logit, row[v]);
  max_logit = block_max(max_logit);
  double sum = 0.0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += expf(row[v] - max_logit);
  sum = block_sum(sum);
  return max_logit + static_cast<float>(log(sum));
}

// One block per row; the branches on the target are uniform over the block.
__global__ void cross_entropy_forward_kernel(float* losses, const float* logits, const int* targets,
                                             int V) {
  const size_t n = blockIdx.x;
  const int target = targets[n];
  if (target < 0) {
    if (threadIdx.x == 0) losses[n] = 0.0f;
    return;
  }
  const float* row = logits + n * V;  // (V)
  const float lse = row_logsumexp(row, V);
  if (threadIdx.x == 0) losses[n] = lse - row[target];
}

__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits,
                                              const int* targets, const float* dloss, int V) {
  const size_t n = blockIdx.x;
  const float* row = logits + n * V;  // (V)
  float* drow = dlogits + n * V;      // (V), may alias row: each element is read, then written
  const int target = targets[n];
  if (target < 0) {
    for (int v = threadIdx.x; v < V; v += blockDim.x) drow[v] = 0.0f;
    return;
  }
  const float lse = row_logsumexp(row, V);
  const float upstream = dloss[n];
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float prob = expf(row[v] - lse);
    drow[v] = (prob - (v == target ? 1.0f : 0.0f)) * upstream;
  }
}

__global__ void token_logprobs_kernel(float* logprobs, const float* logits, const int* targets,
                                      int V) {
  const size_t n = blockIdx.x;
  const int target = targets[n];
  if (target < 0) {
    if (threadIdx.x == 0) logprobs[n] = 0.0f;
    return;
  }
  const float* row = logits + n * V;  // (V)
  const float lse = row_logsumexp(row, V);
  if (threadIdx.x == 0) logprobs[n] = row[target] - lse;
}

}  // namespace

void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V,
                           cudaStream_t stream) {
  if (N == 0) return;
  cross_entropy_forward_kernel<<<N, kRowThreads, 0, stream>>>(losses, logits, targets, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                            const float* dloss, int N, int V, cudaStream_t stream) {
  if (N == 0) return;
  cross_entropy_backward_kernel<<<N, kRowThreads, 0, stream>>>(dlogits, logits, targets, dloss, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V,
                    cudaStream_t stream) {
  if (N == 0) return;
  token_logprobs_kernel<<<N, kRowThreads, 0, stream>>>(logprobs, logits, targets, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
