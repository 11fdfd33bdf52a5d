// One rank's rollouts of a PPO step and what is computed on them before optimisation:
// log-probs under the policy (adapter on) and the reference (adapter off), values, the
// per-token KL penalty, rewards, and GAE advantages and returns (TRL's batched_forward_pass,
// compute_rewards and compute_advantages).
#pragma once

#include <string>
#include <vector>

#include "ppo/policy_model.h"
#include "ppo/ppo_math.h"

namespace loom::ppo {

struct Rollout {
  std::vector<int> query;     // the prompt's tokens (BOS first)
  std::vector<int> response;  // the sampled continuation (R >= 1 tokens)
  std::string query_text;
  float raw_score = 0.0f;  // the reward function's value
  float score = 0.0f;      // after baseline, scaling and clipping: added at the last token
  // Per response token (R each):
  std::vector<float> logprobs, ref_logprobs, values;  // at rollout
  std::vector<float> kl, rewards, advantages, returns;
};

// Right-padded (B, T) rows of query + response for a set of rollouts; targets (B, T) is the
// next token at the positions that predict a response token, -1 elsewhere.
class RolloutBatcher {
 public:
  RolloutBatcher(int max_rows, int max_seq);
  // Rows for rollouts[ids[0..count)].
  TokenBatch pack(const std::vector<Rollout>& rollouts, const int* ids, int count);
  const int* targets() const { return targets_.data(); }

 private:
  int max_rows_, max_seq_;
  std::vector<int> tokens_, pos_, targets_;  // (max_rows, max_seq)
};

// Fills logprobs, values (the policy without dropout) and ref_logprobs (adapter off), then
// kl by kl_penalty, `micro` rollouts per forward. lora.grads is not used.
void evaluate_rollouts(std::vector<Rollout>& rollouts, PolicyModel& policy, RolloutBatcher& batcher,
                       const LoraContext& lora, int micro, KlPenalty kl_penalty);

// rewards = -beta kl with the score at the last token (optionally whitened over the batch
// without shifting the mean), GAE per response, advantages whitened over all response tokens.
void compute_advantages(std::vector<Rollout>& rollouts, float beta, float gamma, float lam, bool whiten_rewards);

// kl (k) = sum_v exp(log_dist) (log_dist - ref_log_dist), rows of V: kl_penalty full.
void full_kl(float* kl, const float* log_dists, const float* ref_log_dists, int k, int V);

}  // namespace loom::ppo
