// Choosing the next token from a row of logits (V), as Hugging Face's generate does:
// greedy = argmax of the raw logits; sampling applies, in HF's order, temperature
// (logits / T), top-k (keep the k largest; ties with the k-th are kept, k = 0 = off), then
// top-p (nucleus: keep the smallest set of most probable tokens whose cumulative probability
// under the top-k distribution is >= top_p, always at least one token; top_p = 1 = off), and
// draws from the softmax of what is left.
// Each choice reports two log-probs of the chosen token: under the final sampling distribution
// (what PPO's ratio and `loom generate`'s "logprobs" use; for greedy, HF's convention: the raw
// model distribution, since no warper runs) and under the raw model distribution.
// All scratch is allocated once at construction: nothing is allocated per token.
#pragma once

#include <vector>

#include "core/rng.h"

namespace loom {

struct SamplingOptions {
  bool greedy = false;
  float temperature = 1.0f;  // > 0 when sampling
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // in (0, 1]; 1 = off
};

// One-line error naming the option when a setting is out of range.
void validate_sampling_options(const SamplingOptions& options);

struct TokenChoice {
  int token = 0;
  float logprob = 0.0f;        // under the sampling distribution
  float model_logprob = 0.0f;  // under softmax(logits)
};

class TokenSampler {
 public:
  explicit TokenSampler(int V);

  // Chooses from logits (V) with the uniform draw u in [0, 1) (ignored when greedy).
  TokenChoice choose(const float* logits, const SamplingOptions& options, float u);
  // The same with u drawn from rng (one draw per call, greedy included, so the stream's
  // position does not depend on the mode).
  TokenChoice choose(const float* logits, const SamplingOptions& options, Rng& rng) {
    return choose(logits, options, rng.uniform());
  }

  int vocab_size() const { return V_; }

 private:
  // Moves the ids whose logit is >= the k-th largest to the front of order_, sorted; returns their count.
  int keep_top_k(const float* logits, int k);
  // Sorts the first `count` ids of order_ by logit, largest first (ties: lower id first).
  void sort_by_logit(const float* logits, int count);

  int V_;
  std::vector<int> order_;     // (V) candidate token ids
  std::vector<double> probs_;  // (V) sampling weights of the candidates, in order_'s order
};

}  // namespace loom
