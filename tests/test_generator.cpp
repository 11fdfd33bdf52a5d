// Batched KV-cache generation against a step-by-step full-forward reference, EOS stopping,
// batching independence, seeded sampling, the adapter's reused-weight scope.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu_f32.h"
#include "core/check.h"
#include "model/causal_lm.h"
#include "model/generator.h"
#include "support/delegating_backend.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

LoraSpec adapter_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = parse_target_modules("q,v,down");
  return spec;
}

struct Fixture {
  test::TinyModel m = test::make_tiny_model("generator", test::tiny_test_config(), QuantMode::F32, adapter_spec());
  LoraContext lora{m.layout.get(), m.params.data(), nullptr, 0.0f, 0, true};
  int V = m.base->shape().V;
};

std::vector<std::vector<int>> random_prompts(const std::vector<int>& lengths, int V, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int>> prompts;
  for (int n : lengths) {
    prompts.emplace_back();
    for (int t = 0; t < n; ++t) prompts.back().push_back(3 + static_cast<int>(rng.below(V - 3)));
  }
  return prompts;
}

// Greedy decoding by re-running the full forward over the whole sequence for every new token.
GeneratedRow greedy_reference(Fixture& f, const std::vector<int>& prompt, int new_tokens) {
  const int T_max = static_cast<int>(prompt.size()) + new_tokens;
  CausalLm lm(*f.m.base, *f.m.layout, 1, T_max, false, cpu_f32_backend());
  std::vector<int> seq = prompt, pos(T_max);
  for (int t = 0; t < T_max; ++t) pos[t] = t;
  std::vector<float> logits(size_t(T_max) * f.V);
  GeneratedRow row;
  for (int n = 0; n < new_tokens; ++n) {
    const int T = static_cast<int>(seq.size());
    lm.logits(logits.data(), TokenBatch{1, T, seq.data(), pos.data(), nullptr}, f.lora);
    const float* last = logits.data() + size_t(T - 1) * f.V;
    const int token = static_cast<int>(std::max_element(last, last + f.V) - last);
    double z = 0.0;
    for (int i = 0; i < f.V; ++i) z += std::exp(double(last[i]) - last[token]);
    row.tokens.push_back(token);
    row.logprobs.push_back(static_cast<float>(-std::log(z)));
    seq.push_back(token);
  }
  return row;
}

void expect_same_row(const GeneratedRow& expected, const GeneratedRow& got, double tol, const std::string& what) {
  ASSERT_EQ(expected.tokens, got.tokens) << what;
  for (size_t i = 0; i < got.tokens.size(); ++i)
    EXPECT_NEAR(expected.logprobs[i], got.logprobs[i], tol) << what << " token " << i;
}

TEST(Generator, GreedyEqualsFullForwardReferenceWithMixedPromptLengths) {
  Fixture f;
  const auto prompts = random_prompts({5, 2, 8}, f.V, 1);
  const int new_tokens = 9;
  Generator gen(*f.m.base, *f.m.layout, 3, 8 + new_tokens, cpu_f32_backend());
  GenerationOptions o;
  o.sampling.greedy = true;
  o.max_new_tokens = new_tokens;
  o.stop_at_eos = false;
  Rng rng(0);
  const GenerationResult got = gen.generate(prompts, o, f.lora, rng);
  ASSERT_EQ(3u, got.rows.size());
  for (int b = 0; b < 3; ++b) {
    expect_same_row(greedy_reference(f, prompts[b], new_tokens), got.rows[b], 1e-4, "row " + std::to_string(b));
    EXPECT_EQ(StopReason::length, got.rows[b].stop);
    EXPECT_EQ(got.rows[b].logprobs, got.rows[b].model_logprobs);  // greedy reports the model distribution
  }
  EXPECT_EQ(3 * new_tokens, got.new_tokens());
}

TEST(Generator, BatchGivesTheSameTokensAsEachPromptAlone) {
  Fixture f;
  const auto prompts = random_prompts({3, 7, 5, 1}, f.V, 2);
  GenerationOptions o;
  o.sampling.greedy = true;
  o.max_new_tokens = 12;
  o.stop_at_eos = false;
  Generator batched(*f.m.base, *f.m.layout, 4, 7 + 12, cpu_f32_backend());
  Rng rng(0);
  const GenerationResult all = batched.generate(prompts, o, f.lora, rng);
  Generator single(*f.m.base, *f.m.layout, 1, 7 + 12, cpu_f32_backend());
  for (size_t b = 0; b < prompts.size(); ++b) {
    const GenerationResult alone = single.generate({prompts[b]}, o, f.lora, rng);
    expect_same_row(alone.rows[0], all.rows[b], 1e-5, "prompt " + std::to_string(b));
  }
}

// Watches the trainable block's reused-weight scopes and the ops that read LoRA factors (the
// lora_linear ops, GEMMs whose weight lies inside the block).
class AdapterScopeWatch final : public test::DelegatingBackend {
 public:
  AdapterScopeWatch(const float* params, size_t n) : DelegatingBackend(cpu_f32_backend()), params_(params), n_(n) {}
  void begin_reused_weight(const float* weight, size_t n, uint64_t version) const override {
    if (weight == params_ && n == n_) open = true, ++scopes;
    DelegatingBackend::begin_reused_weight(weight, n, version);
  }
  void end_reused_weight(const float* weight) const override {
    if (weight == params_) open = false;
    DelegatingBackend::end_reused_weight(weight);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    count(weight);
    DelegatingBackend::matmul_forward(out, inp, weight, N, C, OC, accumulate);
  }
  void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                           const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                           float p, uint64_t seed, uint64_t stream) const override {
    count(a);
    DelegatingBackend::lora_linear_forward(y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
  }
  mutable bool open = false;
  mutable int scopes = 0, lora_reads_in_scope = 0, lora_reads_outside = 0;

 private:
  void count(const float* weight) const {
    if (weight >= params_ && weight < params_ + n_) ++(open ? lora_reads_in_scope : lora_reads_outside);
  }
  const float* params_;
  size_t n_;
};

// A generation reads each LoRA factor once per token: it holds the whole trainable block in
// one reused-weight scope (cpu-bf16 rounds it to bf16 once), closed when it returns; with the
// adapter off it opens none.
TEST(Generator, HoldsTheAdapterInOneReusedScopePerGeneration) {
  Fixture f;
  const AdapterScopeWatch watch(f.lora.params, f.m.layout->total());
  GenerationOptions o;
  o.sampling.greedy = true;
  o.max_new_tokens = 4;
  o.stop_at_eos = false;
  Generator gen(*f.m.base, *f.m.layout, 2, 5 + 4, watch);
  Rng rng(0);
  gen.generate(random_prompts({5, 2}, f.V, 4), o, f.lora, rng);
  EXPECT_EQ(1, watch.scopes);
  EXPECT_FALSE(watch.open);
  EXPECT_GT(watch.lora_reads_in_scope, 0);
  EXPECT_EQ(0, watch.lora_reads_outside);
  LoraContext base_only = f.lora;
  base_only.enabled = false;
  gen.generate(random_prompts({3}, f.V, 5), o, base_only, rng);
  EXPECT_EQ(1, watch.scopes);
}

TEST(Generator, RowsStopAtEosIndependently) {
  Fixture f;
  const auto prompts = random_prompts({4, 6, 3}, f.V, 3);
  GenerationOptions o;
  o.sampling.greedy = true;
  o.max_new_tokens = 10;
  o.stop_at_eos = false;
  Generator gen(*f.m.base, *f.m.layout, 3, 6 + 10, cpu_f32_backend());
  Rng rng(0);
  const GenerationResult full = gen.generate(prompts, o, f.lora, rng);
  o.stop_at_eos = true;
  o.eos_id = full.rows[0].tokens[2];  // row 0 stops at its third token at the latest
  std::vector<std::pair<int, int>> streamed;
  const GenerationResult stopped =
      gen.generate(prompts, o, f.lora, rng, [&](int row, int token) { streamed.emplace_back(row, token); });
  size_t streamed_total = 0;
  for (int b = 0; b < 3; ++b) {
    const std::vector<int>& all = full.rows[b].tokens;
    const auto eos = std::find(all.begin(), all.end(), o.eos_id);
    const std::vector<int> expected(all.begin(), eos == all.end() ? all.end() : eos + 1);
    EXPECT_EQ(expected, stopped.rows[b].tokens) << "row " << b;
    EXPECT_EQ(eos == all.end() ? StopReason::length : StopReason::eos, stopped.rows[b].stop) << "row " << b;
    std::vector<int> row_stream;
    for (const auto& [row, token] : streamed)
      if (row == b) row_stream.push_back(token);
    EXPECT_EQ(expected, row_stream) << "callback of row " << b;
    streamed_total += row_stream.size();
  }
  EXPECT_LE(stopped.rows[0].tokens.size(), 3u);
  EXPECT_EQ(StopReason::eos, stopped.rows[0].stop);
  EXPECT_EQ(streamed.size(), streamed_total);
}

TEST(Generator, SeededSamplingIsReproducibleAndReportsModelLogprobs) {
  Fixture f;
  const auto prompts = random_prompts({4, 2}, f.V, 4);
  GenerationOptions o;
  o.max_new_tokens = 16;
  o.stop_at_eos = false;
  Generator gen(*f.m.base, *f.m.layout, 2, 4 + 16, cpu_f32_backend());
  Rng a(7), b(7), c(8);
  const GenerationResult first = gen.generate(prompts, o, f.lora, a);
  const GenerationResult again = gen.generate(prompts, o, f.lora, b);
  const GenerationResult other = gen.generate(prompts, o, f.lora, c);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(first.rows[r].tokens, again.rows[r].tokens);
    EXPECT_EQ(first.rows[r].logprobs, again.rows[r].logprobs);
    // Temperature 1 without top-k/top-p samples from the model distribution itself.
    for (size_t i = 0; i < first.rows[r].tokens.size(); ++i)
      EXPECT_NEAR(first.rows[r].model_logprobs[i], first.rows[r].logprobs[i], 1e-6);
  }
  EXPECT_NE(first.rows[0].tokens, other.rows[0].tokens);
  // Restricting the distribution makes the sampling log-probs larger than the model's.
  o.sampling.top_k = 5;
  const GenerationResult top_k = gen.generate(prompts, o, f.lora, a);
  for (size_t i = 0; i < top_k.rows[0].tokens.size(); ++i)
    EXPECT_GT(top_k.rows[0].logprobs[i], top_k.rows[0].model_logprobs[i]);
}

TEST(Generator, RefusesPromptsThatDoNotFit) {
  Fixture f;
  Generator gen(*f.m.base, *f.m.layout, 2, 10, cpu_f32_backend());
  GenerationOptions o;
  o.max_new_tokens = 5;
  Rng rng(0);
  EXPECT_THROW(gen.generate(random_prompts({7}, f.V, 5), o, f.lora, rng), Error);     // 7 + 5 - 1 > 10
  EXPECT_NO_THROW(gen.generate(random_prompts({6}, f.V, 5), o, f.lora, rng));         // 6 + 5 - 1 = 10
  EXPECT_THROW(gen.generate(random_prompts({2, 2, 2}, f.V, 5), o, f.lora, rng), Error);  // batch 3 > 2
  EXPECT_THROW(gen.generate({{1, f.V}}, o, f.lora, rng), Error);                       // id out of range
  EXPECT_THROW(gen.generate({{}}, o, f.lora, rng), Error);                             // empty prompt
}

}  // namespace
}  // namespace loom
