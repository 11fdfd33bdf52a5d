#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "kernels/log_softmax.cuh"

namespace loom::cuda {

namespace {

constexpr int kRowThreads = 512;

// One block per row. Sums in double as the CPU reference does.
__global__ void log_softmax_stats_kernel(float* logprobs, float* entropy, float* log_dists, const float* logits,
                                         const int* targets, int V) {
  const size_t n = blockIdx.x;
  const float* row = logits + n * V;  // (V)
  float max_logit = -INFINITY;
  for (int v = threadIdx.x; v < V; v += blockDim.x) max_logit = fmaxf(max_logit, row[v]);
  max_logit = block_max(max_logit);
  double sum = 0.0, weighted = 0.0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const double e = exp(static_cast<double>(row[v] - max_logit));
    sum += e;
    weighted += e * row[v];
  }
  sum = block_sum(sum);
  weighted = block_sum(weighted);
  const double logsumexp = max_logit + log(sum);
  if (threadIdx.x == 0) {
    if (logprobs) logprobs[n] = static_cast<float>(row[targets[n]] - logsumexp);
    if (entropy) entropy[n] = static_cast<float>(logsumexp - weighted / sum);
  }
  if (log_dists) {
    float* dist = log_dists + n * V;  // (V)
    for (int v = threadIdx.x; v < V; v += blockDim.x) dist[v] = static_cast<float>(row[v] - logsumexp);
  }
}

__global__ void log_softmax_backward_kernel(float* dlogits, const float* logits, const int* targets,
                                            const float* dlogprobs, int V) {
  const size_t n = blockIdx.x;
  const float* row = logits + n * V;  // (V)
  float* drow = dlogits + n * V;      // (V), may alias row: every read of row ends at the sums
  float max_logit = -INFINITY;
  for (int v = threadIdx.x; v < V; v += blockDim.x) max_logit = fmaxf(max_logit, row[v]);
  max_logit = block_max(max_logit);
  double sum = 0.0;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += exp(static_cast<double>(row[v] - max_logit));
  sum = block_sum(sum);  // synchronises: all reads of the row are done before the writes below
  const float g = dlogprobs[n];
  const int target = targets[n];
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = static_cast<float>(exp(static_cast<double>(row[v] - max_logit)) / sum);
    drow[v] = -g * p + (v == target ? g : 0.0f);
  }
}

}  // namespace

void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                       int N, int V, cudaStream_t stream) {
  if (N == 0) return;
  log_softmax_stats_kernel<<<N, kRowThreads, 0, stream>>>(logprobs, entropy, log_dists, logits, targets, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                          int V, cudaStream_t stream) {
  if (N == 0) return;
  log_softmax_backward_kernel<<<N, kRowThreads, 0, stream>>>(dlogits, logits, targets, dlogprobs, V);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
