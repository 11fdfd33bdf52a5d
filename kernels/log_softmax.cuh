// CUDA twin of src/ops/log_softmax.h: the policy's per-row statistics of softmax(logits).
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// Each output may be null: logprobs (N) = log p[targets[n]], entropy (N) = -sum p log p,
// log_dists (N, V) = log p; logits (N, V).
void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                       int N, int V, cudaStream_t stream);

// dlogits (N, V) = dlogprobs[n] * (onehot(targets[n]) - softmax(logits)); overwrites, may alias logits.
void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                          int V, cudaStream_t stream);

}  // namespace loom::cuda
