// The PPO policy model: log-prob and value gradients (LoRA, value weight and bias, with LoRA
// and value-head dropout) against finite differences; the reference (adapter off) equals the
// policy with a zero adapter; log-probs and entropy against full logits; kl_penalty full.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu_f32.h"
#include "model/causal_lm.h"
#include "ppo/policy_model.h"
#include "ppo/rollout.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom::ppo {
namespace {

LoraSpec all_linear_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return spec;
}

// Two rollouts of different lengths, packed as the trainer packs them.
std::vector<Rollout> two_rollouts(int V) {
  std::vector<Rollout> r(2);
  std::vector<int> tokens, pos;
  test::random_tokens(&tokens, &pos, 1, 13, V, 3);
  r[0].query.assign(tokens.begin(), tokens.begin() + 5);
  r[0].response.assign(tokens.begin() + 5, tokens.begin() + 9);
  r[1].query.assign(tokens.begin() + 2, tokens.begin() + 10);
  r[1].response.assign(tokens.begin() + 10, tokens.begin() + 13);
  return r;
}

// The tiny model with a value-head layout: LoRA, the value weight (1, C), the value bias.
test::TinyModel value_head_model() {
  test::TinyModel m = test::make_tiny_model("ppo_policy", test::tiny_test_config(), QuantMode::F32,
                                            all_linear_spec(), /*head_rows=*/1);
  m.layout = std::make_unique<TrainableLayout>(m.base->shape(), all_linear_spec(), 1, /*head_bias=*/true);
  m.params.resize(m.layout->total());
  m.params[value_bias_offset(*m.layout)] = 0.3f;
  return m;
}

struct Fixture {
  test::TinyModel m = value_head_model();
  std::vector<Rollout> rollouts = two_rollouts(m.base->shape().V);
  RolloutBatcher batcher{2, 16};
  std::vector<int> ids = {0, 1};
  TokenBatch batch = batcher.pack(rollouts, ids.data(), 2);
  PolicyModel policy{*m.base, *m.layout, 2, 16, false, cpu_f32_backend()};
};

constexpr int kScored = 7;  // 4 + 3 response tokens

// L = sum_k a_k logprob_k + b_k value_k
double objective(Fixture& f, const LoraContext& lora, float value_dropout, const std::vector<float>& a,
                 const std::vector<float>& b) {
  std::vector<float> lp(kScored), v(kScored);
  EXPECT_EQ(f.policy.forward({lp.data(), nullptr, v.data(), nullptr}, f.batch, f.batcher.targets(), lora, value_dropout),
            kScored);
  double sum = 0.0;
  for (int k = 0; k < kScored; ++k) sum += double(a[k]) * lp[k] + double(b[k]) * v[k];
  return sum;
}

void check_gradients(float lora_dropout, float value_dropout) {
  Fixture f;
  std::vector<float> grads(f.m.params.size(), 0.0f);
  LoraContext lora{f.m.layout.get(), f.m.params.data(), grads.data(), lora_dropout, 7, true};
  const std::vector<float> a = test::random_vector(kScored, 11), b = test::random_vector(kScored, 12);
  objective(f, lora, value_dropout, a, b);
  f.policy.backward(a.data(), b.data(), f.batch, f.batcher.targets(), lora, value_dropout);

  // Directional derivative over every parameter.
  const std::vector<float> direction = test::random_vector(f.m.params.size(), 17);
  double analytic = 0.0, norm = 0.0;
  for (size_t i = 0; i < grads.size(); ++i) {
    analytic += double(grads[i]) * direction[i];
    norm += double(direction[i]) * direction[i];
  }
  const float eps = 1e-2f / float(std::sqrt(norm));
  const std::vector<float> saved = f.m.params;
  for (size_t i = 0; i < saved.size(); ++i) f.m.params[i] = saved[i] + eps * direction[i];
  const double up = objective(f, lora, value_dropout, a, b);
  for (size_t i = 0; i < saved.size(); ++i) f.m.params[i] = saved[i] - eps * direction[i];
  const double down = objective(f, lora, value_dropout, a, b);
  f.m.params = saved;
  EXPECT_NEAR((up - down) / (2.0 * eps), analytic, 2e-3 * std::fabs(analytic) + 1e-4) << "directional";

  // The value bias, two value weights and the 8 largest LoRA gradients, one by one.
  std::vector<size_t> check = {value_bias_offset(*f.m.layout), value_weight_offset(*f.m.layout),
                               value_weight_offset(*f.m.layout) + 5};
  std::vector<size_t> order(f.m.layout->lora_count());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + 8, order.end(),
                    [&](size_t x, size_t y) { return std::fabs(grads[x]) > std::fabs(grads[y]); });
  check.insert(check.end(), order.begin(), order.begin() + 8);
  for (size_t i : check) {
    const float h = 1e-2f;
    f.m.params[i] = saved[i] + h;
    const double plus = objective(f, lora, value_dropout, a, b);
    f.m.params[i] = saved[i] - h;
    const double minus = objective(f, lora, value_dropout, a, b);
    f.m.params[i] = saved[i];
    EXPECT_NEAR((plus - minus) / (2.0 * h), grads[i], 2e-2 * std::fabs(grads[i]) + 2e-4) << "param " << i;
  }
}

TEST(PpoPolicy, GradientsMatchFiniteDifferences) { check_gradients(0.0f, 0.0f); }
TEST(PpoPolicy, GradientsWithDropoutMatchFiniteDifferences) { check_gradients(0.2f, 0.1f); }

TEST(PpoPolicy, ReferenceEqualsPolicyWithZeroAdapter) {
  Fixture f;
  for (const LoraSlot& s : f.m.layout->slots())
    std::fill(f.m.params.begin() + s.b, f.m.params.begin() + s.b + size_t(s.out) * f.m.layout->rank(), 0.0f);
  const LoraContext on{f.m.layout.get(), f.m.params.data(), nullptr, 0.0f, 0, true};
  LoraContext off = on;
  off.enabled = false;
  std::vector<float> lp_on(kScored), lp_off(kScored);
  f.policy.forward({lp_on.data(), nullptr, nullptr, nullptr}, f.batch, f.batcher.targets(), on, 0.0f);
  f.policy.forward({lp_off.data(), nullptr, nullptr, nullptr}, f.batch, f.batcher.targets(), off, 0.0f);
  for (int k = 0; k < kScored; ++k) EXPECT_EQ(lp_on[k], lp_off[k]) << k;

  // evaluate_rollouts: zero KL everywhere with a zero adapter, and not with the fixture's adapter.
  evaluate_rollouts(f.rollouts, f.policy, f.batcher, on, 1, KlPenalty::kl);
  for (const Rollout& r : f.rollouts)
    for (float kl : r.kl) EXPECT_EQ(kl, 0.0f);
  Fixture g;
  const LoraContext g_on{g.m.layout.get(), g.m.params.data(), nullptr, 0.0f, 0, true};
  evaluate_rollouts(g.rollouts, g.policy, g.batcher, g_on, 2, KlPenalty::kl);
  double total = 0.0;
  for (const Rollout& r : g.rollouts)
    for (float kl : r.kl) total += std::fabs(kl);
  EXPECT_GT(total, 1e-4);
}

TEST(PpoPolicy, LogprobsAndEntropyMatchFullLogits) {
  Fixture f;
  const int V = f.m.base->shape().V;
  const LoraContext lora{f.m.layout.get(), f.m.params.data(), nullptr, 0.0f, 0, true};
  std::vector<float> lp(kScored), ent(kScored), dists(size_t(kScored) * V);
  f.policy.forward({lp.data(), ent.data(), nullptr, dists.data()}, f.batch, f.batcher.targets(), lora, 0.0f);
  CausalLm lm(*f.m.base, *f.m.layout, 2, 16, false, cpu_f32_backend());
  std::vector<float> logits(size_t(f.batch.N()) * V);
  lm.logits(logits.data(), f.batch, lora);
  int k = 0;
  for (int n = 0; n < f.batch.N(); ++n) {
    const int target = f.batcher.targets()[n];
    if (target < 0) continue;
    const float* row = logits.data() + size_t(n) * V;
    double sum = 0.0;
    const float mx = *std::max_element(row, row + V);
    for (int v = 0; v < V; ++v) sum += std::exp(double(row[v] - mx));
    const double lse = mx + std::log(sum);
    double entropy = 0.0;
    for (int v = 0; v < V; ++v) entropy -= std::exp(row[v] - lse) * (row[v] - lse);
    EXPECT_NEAR(lp[k], row[target] - lse, 1e-4) << k;
    EXPECT_NEAR(ent[k], entropy, 1e-4) << k;
    EXPECT_NEAR(dists[size_t(k) * V + target], lp[k], 1e-6) << k;
    ++k;
  }
  EXPECT_EQ(k, kScored);
  // kl_penalty full: zero against itself, positive against another distribution.
  std::vector<float> kl(kScored);
  full_kl(kl.data(), dists.data(), dists.data(), kScored, V);
  for (float x : kl) EXPECT_NEAR(x, 0.0f, 1e-6);
  std::vector<float> uniform(dists.size(), -std::log(float(V)));
  full_kl(kl.data(), dists.data(), uniform.data(), kScored, V);
  for (float x : kl) EXPECT_GT(x, 0.0f);
}

}  // namespace
}  // namespace loom::ppo
