// Cross-entropy over the vocabulary, rows with target < 0 ignored (HF's -100).
#pragma once

namespace loom::cpu {

// losses (N) = -log softmax(logits)[target] (0 for ignored rows); logits (N, V), targets (N)
void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V);

// dlogits (N, V) = (softmax(logits) - onehot(target)) * dloss[n]; ignored rows get 0.
// Overwrites dlogits (it may alias logits: computed row by row in place).
void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                            const float* dloss, int N, int V);

// Both of the above in one pass per row (llm.c's fused classifier): the row's log-sum-exp is
// computed once for the loss and the gradient. dlogits may alias logits.
void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int* targets,
                                    const float* dloss, int N, int V);

// The pieces of a row shared with the bf16 ops. log sum_v exp(row[v]) of a row (V >= 1) in one
// pass over memory; out (count) = ((softmax(row) - onehot(target)) * scale)[begin, begin +
// count) given that log-sum-exp (out may alias row + begin).
float row_logsumexp(const float* row, int V);
void row_gradient_span(float* out, const float* row, int begin, int count, int target, float lse, float scale);

// logprobs (N) = log softmax(logits)[target] (0 for target < 0); logits (N, V). For PPO/generate.
void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V);

}  // namespace loom::cpu
