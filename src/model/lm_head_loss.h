// The LM head and its cross-entropy, fused and computed in row chunks so the full (N, V)
// logits are never held at once: per chunk, logits = hidden @ lm_head^T, the token losses,
// and (training) d(hidden) += dlogits @ lm_head.
#pragma once

#include <cstdint>

#include "core/arena.h"

namespace loom {

struct LossSums {
  double loss_sum = 0.0;   // sum of -log p over target tokens
  int64_t tokens = 0;      // number of target tokens (targets >= 0)
};

class LmHeadLoss {
 public:
  // lm_head (V, C), frozen.
  LmHeadLoss(const float* lm_head, int V, int C, int chunk_rows = 32);

  // targets (N): the token each row predicts (< 0: ignored). With dhidden non-null, adds
  // d(loss_scale * sum of token losses)/d(hidden) into dhidden (N, C).
  LossSums forward_backward(float* dhidden, const float* hidden, const int* targets, int N, float loss_scale);

  // logits (N, V) of every row (inference, tests).
  void logits(float* out, const float* hidden, int N) const;

  // logprobs (N) of targets[n] under the model (0 where targets < 0): PPO, generation logs.
  void target_logprobs(float* logprobs, const float* hidden, const int* targets, int N);

 private:
  const float* lm_head_;
  int V_, C_, chunk_;
  Arena arena_;
  float* chunk_logits_ = nullptr;  // (chunk, V)
  float* chunk_losses_ = nullptr;  // (chunk)
  float* chunk_dloss_ = nullptr;   // (chunk)
};

// HF's label shift: targets[b, t] = labels[b, t + 1], and -1 at the last position of each row.
void shift_labels(int* targets, const int* labels, int B, int T);

}  // namespace loom
