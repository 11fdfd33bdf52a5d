// Cross-entropy over the vocabulary, rows with target < 0 ignored (HF's -100).
#pragma once

namespace loom::cpu {

// losses (N) = -log softmax(logits)[target] (0 for ignored rows); logits (N, V), targets (N)
void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V);

// dlogits (N, V) = (softmax(logits) - onehot(target)) * dloss[n]; ignored rows get 0.
// Overwrites dlogits (it may alias logits: computed row by row in place).
void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                            const float* dloss, int N, int V);

// logprobs (N) = log softmax(logits)[target] (0 for target < 0); logits (N, V). For PPO/generate.
void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V);

}  // namespace loom::cpu
