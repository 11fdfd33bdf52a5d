// The policy's view of the next-token distribution (PPO): per row of logits, the log-prob of
// a target, the entropy and the whole log-softmax, and the gradient of the log-prob. Sums in
// double, as TRL's f32 results are matched to within f32 rounding.
#pragma once

namespace loom::cpu {

// logits (N, V), targets (N) in [0, V). Each output may be null:
// logprobs (N) = log p[target], entropy (N) = -sum_v p log p, log_dists (N, V) = log p.
void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                       int N, int V);

// dlogits (N, V) = dlogprobs[n] * (onehot(targets[n]) - softmax(logits[n])). Overwrites; may
// alias logits (row by row in place).
void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                          int V);

}  // namespace loom::cpu
