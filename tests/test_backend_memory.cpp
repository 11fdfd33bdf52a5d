// The model touches backend memory only through the backend: the SFT micro-batch (forward,
// backward, gradient checkpointing, NF4 base), the reward model's and the PPO policy's forward
// and backward, and KV-cache generation run on the fenced
// backend (tests/support/fenced_backend.h: arenas the host cannot read or write), and give
// cpu-f32's results exactly. A host access to backend memory kills the test with SIGSEGV; this
// is what a GPU backend needs of the model, checked without a GPU.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu_f32.h"
#include "core/rng.h"
#include "model/causal_lm.h"
#include "model/generator.h"
#include "model/reward_model.h"
#include "ppo/policy_model.h"
#include "support/fenced_backend.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

// The adapter's parameters and gradients in one arena of `backend`, parameters uploaded.
ArenaPlan adapter_plan(size_t count) {
  ArenaPlan plan;
  plan.add<float>(count);
  plan.add<float>(count);
  return plan;
}

struct BackendAdapter {
  BackendAdapter(const std::vector<float>& host, const Backend& backend)
      : arena(backend.make_arena("adapter", adapter_plan(host.size()).bytes())),
        params(arena.take<float>(host.size())),
        grads(arena.take<float>(host.size())) {
    backend.upload(params, host.data(), sizeof(float) * host.size());
  }
  Arena arena;
  float* params;
  float* grads;
};

TEST(FencedBackend, HostAccessToItsMemoryFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::FencedBackend fenced;
  Arena arena = fenced.make_arena("probe", 64 * sizeof(float));
  float* x = arena.take<float>(64);
  const std::vector<float> host = test::random_vector(64, 1);
  fenced.upload(x, host.data(), sizeof(float) * 64);
  fenced.scale_inplace(x, 2.0f, 64);
  std::vector<float> back(64);
  fenced.download(back.data(), x, sizeof(float) * 64);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(back[i], 2.0f * host[i]);
  EXPECT_DEATH(x[3] = 1.0f, "");
  EXPECT_NE(test::error_of([&] { fenced.upload(back.data(), x, 4); }), "");
}

struct Micro {
  double loss_sum = 0;
  std::vector<float> grads;
};

Micro sft_micro_batch(const test::TinyModel& m, const Backend& backend, const FrozenWeights& base, bool checkpointing) {
  const int B = 2, T = 9, V = base.shape().V;
  std::vector<int> tokens, pos, targets(B * T);
  test::random_tokens(&tokens, &pos, B, T, V, 5);
  shift_labels(targets.data(), tokens.data(), B, T);
  BackendAdapter adapter(m.params, backend);
  CausalLm lm(base, *m.layout, B, T, checkpointing, backend);
  const LoraContext lora{m.layout.get(), adapter.params, adapter.grads, 0.1f, 17, true};
  const LossSums sums = lm.train_micro_batch(TokenBatch{B, T, tokens.data(), pos.data(), nullptr}, targets.data(),
                                            lora, 1.0f);
  Micro out;
  out.loss_sum = sums.loss_sum;
  out.grads.resize(m.params.size());
  backend.download(out.grads.data(), adapter.grads, sizeof(float) * out.grads.size());
  return out;
}

TEST(BackendMemory, SftMicroBatchRunsOnFencedMemoryAndMatchesCpu) {
  for (const bool checkpointing : {false, true}) {
    const test::TinyModel m = test::make_tiny_model("fenced-sft", test::tiny_test_config(), QuantMode::NF4,
                                                    test::all_linear_lora());
    const test::FencedBackend fenced;
    const FrozenWeights fenced_base(*m.checkpoint, QuantMode::NF4, fenced);
    const Micro want = sft_micro_batch(m, cpu_f32_backend(), *m.base, checkpointing);
    const Micro got = sft_micro_batch(m, fenced, fenced_base, checkpointing);
    EXPECT_EQ(want.loss_sum, got.loss_sum) << "checkpointing " << checkpointing;
    EXPECT_EQ(want.grads, got.grads) << "checkpointing " << checkpointing;
  }
}

TEST(BackendMemory, GenerationRunsOnFencedMemoryAndMatchesCpu) {
  const test::TinyModel m = test::make_tiny_model("fenced-gen", test::tiny_test_config(), QuantMode::NF4,
                                                  test::all_linear_lora());
  const test::FencedBackend fenced;
  const FrozenWeights fenced_base(*m.checkpoint, QuantMode::NF4, fenced);
  const std::vector<std::vector<int>> prompts = {{5, 9, 11}, {7, 3, 20, 21, 8}};
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.stop_at_eos = false;
  const auto generate = [&](const Backend& backend, const FrozenWeights& base) {
    const BackendAdapter adapter(m.params, backend);
    Generator gen(base, *m.layout, 2, 5 + o.max_new_tokens, backend);
    Rng rng(3);
    return gen.generate(prompts, o, LoraContext{m.layout.get(), adapter.params, nullptr, 0.0f, 0, true}, rng);
  };
  const GenerationResult want = generate(cpu_f32_backend(), *m.base);
  const GenerationResult got = generate(fenced, fenced_base);
  ASSERT_EQ(want.rows.size(), got.rows.size());
  for (size_t b = 0; b < want.rows.size(); ++b) {
    EXPECT_EQ(want.rows[b].tokens, got.rows[b].tokens) << "row " << b;
    EXPECT_EQ(want.rows[b].logprobs, got.rows[b].logprobs) << "row " << b;
  }
}

// Reward model (score head) and PPO policy (log-probs, entropy, value head) forward and
// backward on one batch: rewards / outputs and gradients downloaded for comparison.
std::vector<float> reward_step(const test::TinyModel& m, const Backend& backend, const FrozenWeights& base) {
  const int B = 4, T = 10;
  std::vector<int> tokens, pos;
  test::random_tokens(&tokens, &pos, B, T, base.shape().V, 13);
  const std::vector<int> last = {9, 6, 4, 7};
  const std::vector<float> d_rewards = {0.5f, -0.25f, 1.0f, -2.0f};
  BackendAdapter adapter(m.params, backend);
  RewardModel model(base, *m.layout, B, T, false, backend);
  const LoraContext lora{m.layout.get(), adapter.params, adapter.grads, 0.0f, 0, true};
  const TokenBatch batch{B, T, tokens.data(), pos.data(), nullptr};
  std::vector<float> out(B + m.params.size());
  model.forward(out.data(), batch, last.data(), lora);
  model.backward(d_rewards.data(), batch, last.data(), lora);
  backend.download(out.data() + B, adapter.grads, sizeof(float) * m.params.size());
  return out;
}

TEST(BackendMemory, RewardModelRunsOnFencedMemoryAndMatchesCpu) {
  LoraSpec spec = test::all_linear_lora();
  spec.task_type = "SEQ_CLS";
  const test::TinyModel m = test::make_tiny_model("fenced-reward", test::tiny_test_config(), QuantMode::INT8, spec,
                                                  /*head_rows=*/1);
  const test::FencedBackend fenced;
  const FrozenWeights fenced_base(*m.checkpoint, QuantMode::INT8, fenced);
  EXPECT_EQ(reward_step(m, cpu_f32_backend(), *m.base), reward_step(m, fenced, fenced_base));
}

std::vector<float> policy_step(const TrainableLayout& layout, const std::vector<float>& params,
                               const Backend& backend, const FrozenWeights& base) {
  const int B = 2, T = 8, V = base.shape().V;
  std::vector<int> tokens, pos, targets(B * T, -1);
  test::random_tokens(&tokens, &pos, B, T, V, 21);
  for (int t = 3; t < T - 1; ++t) targets[t] = tokens[t + 1];  // row 0 scores positions 3..6
  for (int t = 5; t < T - 1; ++t) targets[T + t] = tokens[T + t + 1];  // row 1 scores 5..6
  const int k = 6;
  const BackendAdapter adapter(params, backend);
  ppo::PolicyModel policy(base, layout, B, T, false, backend);
  const LoraContext lora{&layout, adapter.params, adapter.grads, 0.1f, 5, true};
  std::vector<float> out(3 * k + params.size());
  float* logprobs = out.data();
  float* entropy = out.data() + k;
  float* values = out.data() + 2 * k;
  const TokenBatch batch{B, T, tokens.data(), pos.data(), nullptr};
  EXPECT_EQ(policy.forward({logprobs, entropy, values, nullptr}, batch, targets.data(), lora, 0.1f), k);
  const std::vector<float> dlogprobs = test::random_vector(k, 3), dvalues = test::random_vector(k, 4);
  policy.backward(dlogprobs.data(), dvalues.data(), batch, targets.data(), lora, 0.1f);
  backend.download(out.data() + 3 * k, adapter.grads, sizeof(float) * params.size());
  return out;
}

TEST(BackendMemory, PpoPolicyRunsOnFencedMemoryAndMatchesCpu) {
  const test::TinyModel m = test::make_tiny_model("fenced-policy", test::tiny_test_config(), QuantMode::NF4,
                                                  test::all_linear_lora(), /*head_rows=*/1);
  const TrainableLayout layout(m.base->shape(), test::all_linear_lora(), 1, /*head_bias=*/true);
  const std::vector<float> params = test::random_vector(layout.total(), 9, -0.1f, 0.1f);
  const test::FencedBackend fenced;
  const FrozenWeights fenced_base(*m.checkpoint, QuantMode::NF4, fenced);
  EXPECT_EQ(policy_step(layout, params, cpu_f32_backend(), *m.base), policy_step(layout, params, fenced, fenced_base));
}

}  // namespace
}  // namespace loom
