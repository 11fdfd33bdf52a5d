// CUDA twin of src/ops/cross_entropy.h (rows with target < 0 ignored).
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// losses (N) = -log softmax(logits)[target] (0 for ignored rows); logits (N, V), targets (N)
void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V,
                           cudaStream_t stream);

// dlogits (N, V) = (softmax(logits) - onehot(target)) * dloss[n]; ignored rows get 0.
// Overwrites dlogits (it may alias logits).
void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                            const float* dloss, int N, int V, cudaStream_t stream);

// logprobs (N) = log softmax(logits)[target] (0 for target < 0); logits (N, V).
void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V,
                    cudaStream_t stream);

}  // namespace loom::cuda
