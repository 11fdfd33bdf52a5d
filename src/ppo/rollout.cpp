#include "ppo/rollout.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace loom::ppo {

RolloutBatcher::RolloutBatcher(int max_rows, int max_seq)
    : max_rows_(max_rows),
      max_seq_(max_seq),
      tokens_(size_t(max_rows) * max_seq),
      pos_(size_t(max_rows) * max_seq),
      targets_(size_t(max_rows) * max_seq) {}

TokenBatch RolloutBatcher::pack(const std::vector<Rollout>& rollouts, const int* ids, int count) {
  LOOM_REQUIRE(count > 0 && count <= max_rows_, "RolloutBatcher: ", count, " rows for room of ", max_rows_);
  int T = 0;
  for (int i = 0; i < count; ++i) {
    const Rollout& r = rollouts[ids[i]];
    T = std::max(T, int(r.query.size() + r.response.size()));
  }
  LOOM_REQUIRE(T <= max_seq_, "RolloutBatcher: a rollout of ", T, " tokens exceeds ", max_seq_);
  for (int i = 0; i < count; ++i) {
    const Rollout& r = rollouts[ids[i]];
    const int q = int(r.query.size()), len = q + int(r.response.size());
    int* tokens = tokens_.data() + size_t(i) * T;   // (T)
    int* targets = targets_.data() + size_t(i) * T;  // (T)
    for (int t = 0; t < T; ++t) {
      tokens[t] = t < q ? r.query[t] : t < len ? r.response[t - q] : 0;  // pad: ignored (causal, after the row)
      pos_[size_t(i) * T + t] = t;
      targets[t] = (t >= q - 1 && t < len - 1) ? r.response[t + 1 - q] : -1;
    }
  }
  TokenBatch batch;
  batch.B = count;
  batch.T = T;
  batch.tokens = tokens_.data();
  batch.pos = pos_.data();
  return batch;
}

void full_kl(float* kl, const float* log_dists, const float* ref_log_dists, int k, int V) {
  for (int i = 0; i < k; ++i) {
    const float* lp = log_dists + size_t(i) * V;
    const float* lr = ref_log_dists + size_t(i) * V;
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(double(lp[v])) * (double(lp[v]) - lr[v]);
    kl[i] = float(sum);
  }
}

void evaluate_rollouts(std::vector<Rollout>& rollouts, PolicyModel& policy, RolloutBatcher& batcher,
                       const LoraContext& lora, int micro, KlPenalty kl_penalty) {
  const int V = policy.body().shape().V;
  LoraContext policy_lora = lora;
  policy_lora.dropout = 0.0f;
  policy_lora.grads = nullptr;
  LoraContext ref_lora = policy_lora;
  ref_lora.enabled = false;
  std::vector<int> ids;
  std::vector<float> logprobs, ref_logprobs, values, dists, ref_dists;
  for (int first = 0; first < int(rollouts.size()); first += micro) {
    const int count = std::min(micro, int(rollouts.size()) - first);
    ids.resize(count);
    size_t k = 0;
    for (int i = 0; i < count; ++i) {
      ids[i] = first + i;
      k += rollouts[first + i].response.size();
    }
    logprobs.resize(k);
    ref_logprobs.resize(k);
    values.resize(k);
    const bool full = kl_penalty == KlPenalty::full;
    if (full) {
      dists.resize(k * V);
      ref_dists.resize(k * V);
    }
    const TokenBatch batch = batcher.pack(rollouts, ids.data(), count);
    PolicyOutputs out{logprobs.data(), nullptr, values.data(), full ? dists.data() : nullptr};
    LOOM_ASSERT(size_t(policy.forward(out, batch, batcher.targets(), policy_lora, 0.0f)) == k);
    PolicyOutputs ref_out{ref_logprobs.data(), nullptr, nullptr, full ? ref_dists.data() : nullptr};
    policy.forward(ref_out, batch, batcher.targets(), ref_lora, 0.0f);
    size_t offset = 0;
    for (int i = 0; i < count; ++i) {
      Rollout& r = rollouts[first + i];
      const int R = int(r.response.size());
      r.logprobs.assign(logprobs.begin() + offset, logprobs.begin() + offset + R);
      r.ref_logprobs.assign(ref_logprobs.begin() + offset, ref_logprobs.begin() + offset + R);
      r.values.assign(values.begin() + offset, values.begin() + offset + R);
      r.kl.resize(R);
      if (full)
        full_kl(r.kl.data(), dists.data() + offset * V, ref_dists.data() + offset * V, R, V);
      else
        ppo::kl_penalty(r.kl.data(), r.logprobs.data(), r.ref_logprobs.data(), R, kl_penalty);
      offset += R;
    }
  }
}

namespace {

// Applies f to every response token of every rollout through one flat copy of `field`.
template <typename F>
void over_flat(std::vector<Rollout>& rollouts, std::vector<float> Rollout::*field, F f) {
  std::vector<float> flat;
  for (const Rollout& r : rollouts) flat.insert(flat.end(), (r.*field).begin(), (r.*field).end());
  f(flat);
  size_t offset = 0;
  for (Rollout& r : rollouts) {
    std::copy_n(flat.begin() + offset, (r.*field).size(), (r.*field).begin());
    offset += (r.*field).size();
  }
}

}  // namespace

void compute_advantages(std::vector<Rollout>& rollouts, float beta, float gamma, float lam, bool whiten_rewards) {
  for (Rollout& r : rollouts) {
    const int R = int(r.response.size());
    r.rewards.resize(R);
    token_rewards(r.rewards.data(), r.kl.data(), R, beta, r.score);
  }
  if (whiten_rewards)
    over_flat(rollouts, &Rollout::rewards, [](std::vector<float>& x) { whiten(x.data(), x.size(), false); });
  for (Rollout& r : rollouts) {
    const int R = int(r.response.size());
    r.advantages.resize(R);
    r.returns.resize(R);
    gae(r.advantages.data(), r.returns.data(), r.rewards.data(), r.values.data(), R, gamma, lam);
  }
  over_flat(rollouts, &Rollout::advantages, [](std::vector<float>& x) { whiten(x.data(), x.size(), true); });
}

}  // namespace loom::ppo
