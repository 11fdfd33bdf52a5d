// The arithmetic of TRL's classic PPOTrainer as small pure functions over one rank's
// rollouts (docs/ppo.md). A set of responses is held flat: the tokens of response i are
// [offsets[i], offsets[i + 1]) of every per-token array; "masked means" over a batch are
// plain means over those flat tokens.
#pragma once

#include <cstddef>
#include <string>

namespace loom::ppo {

// kl_penalty: how the per-token KL estimate is formed from logp and ref_logp (TRL's _kl_penalty).
enum class KlPenalty { kl, abs, mse, full };
KlPenalty kl_penalty_from_name(const std::string& name, const std::string& where);
const char* kl_penalty_name(KlPenalty kind);

// kl (T): kl: logp - ref; abs: |logp - ref|; mse: 0.5 (logp - ref)^2. (`full` is the KL of
// the whole distributions: PolicyModel computes it, not this function.)
void kl_penalty(float* kl, const float* logprobs, const float* ref_logprobs, int T, KlPenalty kind);

// rewards (T) = -beta * kl (T), with score added at the last token (T >= 1).
void token_rewards(float* rewards, const float* kl, int T, float beta, float score);

// Generalised advantage estimation over one response, backwards:
//   delta_t = r_t + gamma V_{t+1} - V_t (V_T = 0), A_t = delta_t + gamma lam A_{t+1};
//   returns_t = A_t + V_t.  advantages, returns, rewards, values: (T)
void gae(float* advantages, float* returns, const float* rewards, const float* values, int T, float gamma, float lam);

struct MeanVar {
  double mean = 0.0, var = 0.0;
};
// Mean and variance of x (n); unbiased: var * n / (n - 1), as TRL's masked_var.
MeanVar mean_var(const float* x, size_t n, bool unbiased);

// x (n) <- (x - mean) / sqrt(var + 1e-8) with the unbiased variance; the mean is added
// back when !shift_mean (TRL's masked_whiten).
void whiten(float* x, size_t n, bool shift_mean);

struct LossSettings {
  float cliprange = 0.2f;
  float cliprange_value = 0.2f;
  float vf_coef = 0.1f;
  float ratio_threshold = 10.0f;
};

// The inputs of one minibatch's loss, n response tokens.
struct LossInputs {
  const float* logprobs = nullptr;      // (n) under the current policy
  const float* old_logprobs = nullptr;  // (n) at rollout
  const float* advantages = nullptr;    // (n) whitened
  const float* vpreds = nullptr;        // (n) current value head
  const float* old_values = nullptr;    // (n) at rollout
  const float* returns = nullptr;       // (n)
  size_t n = 0;
};

// TRL's loss statistics of one minibatch (means over its tokens).
struct LossStats {
  double pg_loss = 0, vf_loss = 0, loss = 0;
  double pg_clipfrac = 0, vf_clipfrac = 0;
  double approxkl = 0, policykl = 0;
  double ratio_mean = 0;
  double advantages_mean = 0;
  double returns_mean = 0, returns_var = 0;
  double vpred_mean = 0, val_error = 0, val_mean = 0, val_var = 0;
  bool skipped = false;  // mean ratio above ratio_threshold: losses and gradients zeroed
};

// ratio = exp(logp - old); pg = mean(max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)));
// vf = 0.5 mean(max((V - R)^2, (clip(V, V_old - eps_v, V_old + eps_v) - R)^2));
// loss = pg + vf_coef vf. dlogprobs (n), dvalues (n) = grad_scale * d(loss)/d(logprobs, vpreds).
LossStats ppo_loss(float* dlogprobs, float* dvalues, const LossInputs& in, const LossSettings& settings,
                   float grad_scale);

// TRL's RunningMoments: the running mean and std of the scores of all ranks (Chan's parallel
// update; std unbiased). Starts at mean 0, var 1, count 1e-24.
struct RunningMoments {
  double mean = 0.0, var = 1.0, std = 1.0, count = 1e-24;
  // Folds in a batch with mean m, population variance v and count c.
  void update(double batch_mean, double batch_var, double batch_count);
};

}  // namespace loom::ppo
