#include "ppo/ppo_math.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace loom::ppo {

KlPenalty kl_penalty_from_name(const std::string& name, const std::string& where) {
  if (name == "kl") return KlPenalty::kl;
  if (name == "abs") return KlPenalty::abs;
  if (name == "mse") return KlPenalty::mse;
  if (name == "full") return KlPenalty::full;
  LOOM_FAIL(where, " must be kl, abs, mse or full, got '", name, "'");
}

const char* kl_penalty_name(KlPenalty kind) {
  switch (kind) {
    case KlPenalty::kl: return "kl";
    case KlPenalty::abs: return "abs";
    case KlPenalty::mse: return "mse";
    case KlPenalty::full: return "full";
  }
  return "?";
}

void kl_penalty(float* kl, const float* logprobs, const float* ref_logprobs, int T, KlPenalty kind) {
  LOOM_REQUIRE(kind != KlPenalty::full, "kl_penalty: 'full' needs the whole distributions");
  for (int t = 0; t < T; ++t) {
    const float d = logprobs[t] - ref_logprobs[t];
    kl[t] = kind == KlPenalty::kl ? d : kind == KlPenalty::abs ? std::fabs(d) : 0.5f * d * d;
  }
}

void token_rewards(float* rewards, const float* kl, int T, float beta, float score) {
  for (int t = 0; t < T; ++t) rewards[t] = -beta * kl[t];
  rewards[T - 1] += score;
}

void gae(float* advantages, float* returns, const float* rewards, const float* values, int T, float gamma, float lam) {
  float last = 0.0f;
  for (int t = T - 1; t >= 0; --t) {
    const float next_value = t + 1 < T ? values[t + 1] : 0.0f;
    const float delta = rewards[t] + gamma * next_value - values[t];
    last = delta + gamma * lam * last;
    advantages[t] = last;
    returns[t] = last + values[t];
  }
}

MeanVar mean_var(const float* x, size_t n, bool unbiased) {
  MeanVar mv;
  if (n == 0) return mv;
  for (size_t i = 0; i < n; ++i) mv.mean += x[i];
  mv.mean /= double(n);
  for (size_t i = 0; i < n; ++i) mv.var += (x[i] - mv.mean) * (x[i] - mv.mean);
  mv.var /= double(n);
  if (unbiased && n > 1) mv.var *= double(n) / double(n - 1);
  return mv;
}

void whiten(float* x, size_t n, bool shift_mean) {
  const MeanVar mv = mean_var(x, n, /*unbiased=*/true);
  const double inv_std = 1.0 / std::sqrt(mv.var + 1e-8);
  for (size_t i = 0; i < n; ++i) {
    double w = (x[i] - mv.mean) * inv_std;
    if (!shift_mean) w += mv.mean;
    x[i] = float(w);
  }
}

LossStats ppo_loss(float* dlogprobs, float* dvalues, const LossInputs& in, const LossSettings& s, float grad_scale) {
  LossStats st;
  const size_t n = in.n;
  LOOM_REQUIRE(n > 0, "ppo_loss: a minibatch with no response tokens");
  const double inv_n = 1.0 / double(n);
  for (size_t i = 0; i < n; ++i) {
    const double lp = in.logprobs[i], old = in.old_logprobs[i], a = in.advantages[i];
    const double v = in.vpreds[i], v_old = in.old_values[i], r = in.returns[i];
    const double ratio = std::exp(lp - old);
    const double pg1 = -a * ratio;
    const double pg2 = -a * std::clamp(ratio, 1.0 - s.cliprange, 1.0 + s.cliprange);
    const double v_clipped = std::clamp(v, v_old - s.cliprange_value, v_old + s.cliprange_value);
    const double vf1 = (v - r) * (v - r);
    const double vf2 = (v_clipped - r) * (v_clipped - r);
    st.pg_loss += std::max(pg1, pg2);
    st.vf_loss += std::max(vf1, vf2);
    st.pg_clipfrac += pg2 > pg1;
    st.vf_clipfrac += vf2 > vf1;
    st.approxkl += (lp - old) * (lp - old);
    st.policykl += old - lp;
    st.ratio_mean += ratio;
    st.advantages_mean += a;
    st.vpred_mean += v;
    st.val_error += vf1;
    // The larger term carries the gradient; when the clipped one is strictly larger the clip
    // is active and its derivative is zero.
    dlogprobs[i] = pg2 > pg1 ? 0.0f : float(grad_scale * inv_n * pg1);
    dvalues[i] = vf2 > vf1 ? 0.0f : float(grad_scale * s.vf_coef * inv_n * (v - r));
  }
  st.pg_loss *= inv_n;
  st.vf_loss *= 0.5 * inv_n;
  st.pg_clipfrac *= inv_n;
  st.vf_clipfrac *= inv_n;
  st.approxkl *= 0.5 * inv_n;
  st.policykl *= inv_n;
  st.ratio_mean *= inv_n;
  st.advantages_mean *= inv_n;
  st.vpred_mean *= inv_n;
  st.val_error *= inv_n;
  st.loss = st.pg_loss + s.vf_coef * st.vf_loss;
  const MeanVar returns = mean_var(in.returns, n, true), values = mean_var(in.old_values, n, true);
  st.returns_mean = returns.mean;
  st.returns_var = returns.var;
  st.val_mean = values.mean;
  st.val_var = values.var;
  if (st.ratio_mean > s.ratio_threshold) {
    st.skipped = true;
    st.pg_loss = st.vf_loss = st.loss = 0.0;
    std::fill(dlogprobs, dlogprobs + n, 0.0f);
    std::fill(dvalues, dvalues + n, 0.0f);
  }
  return st;
}

void RunningMoments::update(double batch_mean, double batch_var, double batch_count) {
  const double delta = batch_mean - mean;
  const double total = count + batch_count;
  const double old_sum = var * count + delta * delta * count * batch_count / total;
  mean += delta * batch_count / total;
  var = (old_sum + batch_var * batch_count) / total;
  std = std::sqrt(var * total / (total - 1.0));
  count = total;
}

}  // namespace loom::ppo
