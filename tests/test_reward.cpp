// The reward model: the pairwise loss's gradient through LoRA and the score head against
// finite differences, invariance to right padding, and parity with HF's
// LlamaForSequenceClassification + a PEFT SEQ_CLS adapter (tests/golden).
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu_f32.h"
#include "model/reward_scorer.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

LoraSpec seq_cls_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.task_type = "SEQ_CLS";
  spec.target_modules = parse_target_modules("q,v,down");
  return spec;
}

// Two pairs of different lengths, right-padded into (4, T): chosen rows then rejected rows.
struct PairBatch {
  int T = 10;
  std::vector<int> tokens, pos, last = {9, 6, 4, 7};
  PairBatch(int V) {
    std::vector<int> unused;
    test::random_tokens(&tokens, &pos, 4, T, V, 13);
  }
  TokenBatch view() const { return TokenBatch{4, T, tokens.data(), pos.data(), nullptr}; }
};

double mean_pair_loss(RewardModel& model, const PairBatch& b, const LoraContext& lora, std::vector<float>* d_rewards) {
  float rewards[4];
  model.forward(rewards, b.view(), b.last.data(), lora);
  double loss = 0.0;
  for (int i = 0; i < 2; ++i) {
    double d = 0.0;
    loss += pairwise_loss(rewards[i], rewards[2 + i], 0.0, &d) / 2.0;
    if (d_rewards) {
      (*d_rewards)[i] = float(d / 2.0);
      (*d_rewards)[2 + i] = float(-d / 2.0);
    }
  }
  return loss;
}

TEST(RewardModel, PairwiseLossGradientMatchesFiniteDifferences) {
  test::TinyModel m = test::make_tiny_model("reward-grad", test::tiny_test_config(), QuantMode::F32, seq_cls_spec(), 1);
  const PairBatch batch(m.base->shape().V);
  RewardModel model(*m.base, *m.layout, 4, batch.T, false, cpu_f32_backend());
  std::vector<float> grads(m.params.size(), 0.0f), d_rewards(4);
  LoraContext lora{m.layout.get(), m.params.data(), grads.data(), 0.0f, 0, true};
  mean_pair_loss(model, batch, lora, &d_rewards);
  model.backward(d_rewards.data(), batch.view(), batch.last.data(), lora);

  const std::vector<float> direction = test::random_vector(m.params.size(), 3);
  double analytic = 0.0, norm = 0.0;
  for (size_t i = 0; i < grads.size(); ++i) {
    analytic += double(grads[i]) * direction[i];
    norm += double(direction[i]) * direction[i];
  }
  const float eps = 1e-2f / float(std::sqrt(norm));
  const std::vector<float> saved = m.params;
  for (size_t i = 0; i < saved.size(); ++i) m.params[i] = saved[i] + eps * direction[i];
  const double up = mean_pair_loss(model, batch, lora, nullptr);
  for (size_t i = 0; i < saved.size(); ++i) m.params[i] = saved[i] - eps * direction[i];
  const double down = mean_pair_loss(model, batch, lora, nullptr);
  EXPECT_NEAR((up - down) / (2 * eps), analytic, 2e-3 * std::fabs(analytic) + 1e-6);
  // The head's own gradient is non-zero (it is trained).
  double head = 0.0;
  for (size_t i = m.layout->head_offset(); i < grads.size(); ++i) head += std::fabs(grads[i]);
  EXPECT_GT(head, 0.0);
}

TEST(RewardModel, PairwiseLossIsStable) {
  double d = 0.0;
  EXPECT_NEAR(pairwise_loss(0.0, 0.0, 0.0, &d), std::log(2.0), 1e-12);
  EXPECT_NEAR(d, -0.5, 1e-12);
  EXPECT_NEAR(pairwise_loss(-800.0, 0.0, 0.0, &d), 800.0, 1e-9);  // no overflow
  EXPECT_NEAR(d, -1.0, 1e-12);
  EXPECT_NEAR(pairwise_loss(1.0, 0.0, 1.0, &d), std::log(2.0), 1e-12);  // the margin shifts the difference
}

TEST(RewardModel, RewardIsInvariantToRightPadding) {
  test::TinyModel m = test::make_tiny_model("reward-pad", test::tiny_test_config(), QuantMode::NF4, seq_cls_spec(), 1);
  RewardModel model(*m.base, *m.layout, 1, 16, false, cpu_f32_backend());
  LoraContext lora{m.layout.get(), m.params.data(), nullptr, 0.0f, 0, true};
  std::vector<int> tokens, pos;
  test::random_tokens(&tokens, &pos, 1, 16, m.base->shape().V, 8);
  const int last = 6;
  float unpadded = 0.0f, padded = 0.0f;
  model.forward(&unpadded, TokenBatch{1, last + 1, tokens.data(), pos.data(), nullptr}, &last, lora);
  for (int t = last + 1; t < 16; ++t) tokens[t] = 0;  // pad id
  model.forward(&padded, TokenBatch{1, 16, tokens.data(), pos.data(), nullptr}, &last, lora);
  // Equal up to f32 rounding (BLAS blocks a 7-row and a 16-row product differently).
  EXPECT_NEAR(unpadded, padded, 1e-6 * std::fabs(unpadded) + 1e-7);
}

TEST(RewardModel, MatchesTransformersSequenceClassificationWithPeftAdapter) {
  const std::string data = test::source_dir() + "/tests/golden/data/";
  const SafetensorsFile golden(data + "llama_seqcls_golden.safetensors");
  const TensorInfo* ids = golden.find("input_ids");
  ASSERT_NE(ids, nullptr);
  const int B = int(ids->shape[0]), T = int(ids->shape[1]);
  std::vector<float> ids_f(B * T), last_f(B), expected(B), expected_base(B);
  golden.read_f32("input_ids", ids->shape, ids_f.data());
  golden.read_f32("last_token", {B}, last_f.data());
  golden.read_f32("scores", {B, 1}, expected.data());
  golden.read_f32("base_scores", {B, 1}, expected_base.data());
  std::vector<std::vector<int>> sequences(B);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t <= int(last_f[b]); ++t) sequences[b].push_back(int(ids_f[b * T + t]));

  RewardScorer with_adapter(data + "llama_seqcls", data + "llama_seqcls_adapter", QuantMode::F32, 2, T, cpu_f32_backend());
  RewardScorer base_only(data + "llama_seqcls", "", QuantMode::F32, 2, T, cpu_f32_backend());
  const std::vector<float> scores = with_adapter.score(sequences), base = base_only.score(sequences);
  for (int b = 0; b < B; ++b) {  // tests/golden/README.md: scores within 2e-6
    EXPECT_NEAR(scores[b], expected[b], 2e-6) << "row " << b;
    EXPECT_NEAR(base[b], expected_base[b], 2e-6) << "row " << b;
  }
}

}  // namespace
}  // namespace loom
