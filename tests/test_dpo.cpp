// loom dpo against TRL's DPOTrainer (tests/golden/make_dpo_golden.py wrote the golden file):
// for a fixed batch of three pairs through the tiny GQA Llama with a PEFT adapter (policy) and
// the adapter off (reference), the loss, TRL's logged metrics and every LoRA gradient, for each
// loss type; the loss derivatives against finite differences; the whole pair step's gradient
// against finite differences through LoRA; reference == policy with a zero adapter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu_f32.h"
#include "io/hf_checkpoint.h"
#include "io/peft_adapter.h"
#include "io/safetensors.h"
#include "model/causal_lm.h"
#include "support/golden_file.h"
#include "support/test_support.h"
#include "train/dpo_task.h"

namespace loom {
namespace {

using test::golden_floats;
using test::relative_max_error;

std::string golden(const std::string& name) { return test::golden_path(name); }

std::vector<float> read_all(const SafetensorsFile& file, const std::string& name) { return golden_floats(file, name); }

std::vector<int32_t> as_ints(const std::vector<float>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// The golden model, its adapter with lora_B scaled as the script scaled it, and the three pairs.
struct DpoFixture {
  HfCheckpoint checkpoint{golden("llama_gqa")};
  FrozenWeights base{checkpoint, QuantMode::F32, cpu_f32_backend()};
  SafetensorsFile expected{golden("dpo_golden.safetensors")};
  LoraSpec spec = load_adapter_config(golden("llama_gqa_adapter") + "/adapter_config.json");
  TrainableLayout layout{base.shape(), spec, 0};
  std::vector<float> params = std::vector<float>(layout.total());
  std::vector<DpoPairRows> pairs;
  CausalLm model{base, layout, 2, 64, false, cpu_f32_backend()};

  DpoFixture() {
    init_trainable(params.data(), layout, 0, 0.0f);
    load_peft_adapter(golden("llama_gqa_adapter"), layout, params.data(), "");
    const float scale = read_all(expected, "lora_b_scale")[0];
    for (const LoraSlot& s : layout.slots())
      for (size_t i = 0; i < size_t(s.out) * layout.rank(); ++i) params[s.b + i] *= scale;
    const int max_length = int(read_all(expected, "max_length")[0]);
    for (int i = 0; i < 3; ++i) {
      const std::string p = "pair" + std::to_string(i);
      const std::vector<int32_t> prompt = as_ints(read_all(expected, p + ".prompt"));
      std::vector<int32_t> chosen = prompt, rejected = prompt;
      for (int32_t t : as_ints(read_all(expected, p + ".chosen"))) chosen.push_back(t);
      for (int32_t t : as_ints(read_all(expected, p + ".rejected"))) rejected.push_back(t);
      DpoPairRows rows;
      build_dpo_pair_rows(chosen.data(), int(chosen.size()), rejected.data(), int(rejected.size()),
                          int(prompt.size()), base.config().eos_token_id, max_length, i, &rows);
      pairs.push_back(rows);
    }
  }

  LoraContext context(float* grads) const { return LoraContext{&layout, params.data(), grads, 0.0f, 0, true}; }

  // The step over the three pairs as DpoTask runs it (mean over pairs): loss and TRL's metrics.
  std::map<std::string, double> step(const DpoLossParams& loss_params, std::vector<float>* grads) {
    std::vector<float> row_grad_storage[2] = {std::vector<float>(layout.total()), std::vector<float>(layout.total())};
    float* const row_grads[2] = {row_grad_storage[0].data(), row_grad_storage[1].data()};
    std::vector<float> scratch;
    grads->assign(layout.total(), 0.0f);
    LoraContext off = context(nullptr);
    off.enabled = false;
    std::map<std::string, double> m;
    for (const DpoPairRows& rows : pairs) {
      double ref[2], policy[2];
      dpo_sequence_logps(model, rows, off, ref, &scratch);
      const DpoPairLoss loss = dpo_pair_step(model, rows, ref, loss_params, context(grads->data()), 0, 1.0f / 3,
                                             row_grads, layout.total(), cpu_f32_backend(), policy);
      m["loss"] += loss.loss / 3;
      m["rewards/chosen"] += loss.reward_chosen / 3;
      m["rewards/rejected"] += loss.reward_rejected / 3;
      m["rewards/accuracies"] += double(loss.reward_chosen > loss.reward_rejected) / 3;
      m["rewards/margins"] += (loss.reward_chosen - loss.reward_rejected) / 3;
      m["logps/chosen"] += policy[0] / 3;
      m["logps/rejected"] += policy[1] / 3;
    }
    return m;
  }
};

struct GoldenCase {
  const char* name;
  DpoLossType type;
  double beta, label_smoothing;
};

TEST(Dpo, MatchesTrlDpoTrainerForEveryLossType) {
  DpoFixture f;
  const auto& names = llama_linear_names();
  for (const GoldenCase& c : {GoldenCase{"sigmoid", DpoLossType::Sigmoid, 0.1, 0.0},
                              GoldenCase{"sigmoid_beta", DpoLossType::Sigmoid, 0.5, 0.0},
                              GoldenCase{"hinge", DpoLossType::Hinge, 0.1, 0.0},
                              GoldenCase{"ipo", DpoLossType::Ipo, 0.1, 0.0},
                              GoldenCase{"robust", DpoLossType::Robust, 0.1, 0.2}}) {
    SCOPED_TRACE(c.name);
    std::vector<float> grads;
    const auto metrics = f.step(DpoLossParams{c.type, c.beta, c.label_smoothing}, &grads);
    const std::string prefix = std::string(c.name) + ".";
    const double loss = read_all(f.expected, prefix + "loss")[0];
    EXPECT_NEAR(metrics.at("loss"), loss, 1e-5 * std::fabs(loss) + 1e-6);
    for (const char* name : {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                             "logps/chosen", "logps/rejected"}) {
      const double want = read_all(f.expected, prefix + name)[0];
      EXPECT_NEAR(metrics.at(name), want, 1e-5 * std::fabs(want) + 2e-6) << name;
    }
    for (const LoraSlot& s : f.layout.slots()) {
      for (const char* which : {"lora_A", "lora_B"}) {
        const std::string key = prefix + peft_lora_key(s.layer, names[s.id], which) + ".grad";
        const size_t offset = which[5] == 'A' ? s.a : s.b;
        const size_t count = size_t(f.layout.rank()) * (which[5] == 'A' ? s.in : s.out);
        const std::vector<float> mine(grads.begin() + offset, grads.begin() + offset + count);
        EXPECT_LT(relative_max_error(mine, read_all(f.expected, key)), 1e-4) << key;
      }
    }
  }
}

// d loss / d policy log-probs of every loss type against central differences, away from kinks.
TEST(Dpo, LossDerivativesMatchFiniteDifferences) {
  for (DpoLossType type : {DpoLossType::Sigmoid, DpoLossType::Hinge, DpoLossType::Ipo, DpoLossType::Robust}) {
    const DpoLossParams params{type, 0.3, type == DpoLossType::Robust ? 0.15 : 0.0};
    DpoPairLogps p{-20.5, -23.0, -21.0, -22.0, 5, 7};
    const DpoPairLoss at = dpo_pair_loss(p, params);
    const double h = 1e-5;
    for (int which = 0; which < 2; ++which) {
      DpoPairLogps up = p, down = p;
      (which == 0 ? up.policy_chosen : up.policy_rejected) += h;
      (which == 0 ? down.policy_chosen : down.policy_rejected) -= h;
      const double numeric = (dpo_pair_loss(up, params).loss - dpo_pair_loss(down, params).loss) / (2 * h);
      EXPECT_NEAR(which == 0 ? at.d_policy_chosen : at.d_policy_rejected, numeric, 1e-7)
          << dpo_loss_type_name(type) << (which == 0 ? " chosen" : " rejected");
    }
    EXPECT_DOUBLE_EQ(at.reward_chosen, 0.3 * (-20.5 + 21.0));
    EXPECT_DOUBLE_EQ(at.reward_rejected, 0.3 * (-23.0 + 22.0));
  }
}

// The gradient the pair step accumulates through LoRA, along a random direction, against a
// central difference of the step's loss (in f32, so the tolerance is 1%).
TEST(Dpo, PairStepGradientMatchesFiniteDifferences) {
  DpoFixture f;
  const DpoLossParams params{DpoLossType::Sigmoid, 0.5, 0.0};
  std::vector<float> grads;
  f.step(params, &grads);
  const std::vector<float> direction = test::random_vector(f.params.size(), 7);
  double analytic = 0.0;
  for (size_t i = 0; i < direction.size(); ++i) analytic += double(grads[i]) * direction[i];
  const std::vector<float> saved = f.params;
  auto loss_at = [&](float eps) {
    for (size_t i = 0; i < saved.size(); ++i) f.params[i] = saved[i] + eps * direction[i];
    std::vector<float> unused;
    return f.step(params, &unused).at("loss");
  };
  // Richardson extrapolation of two central differences: the loss is strongly curved along a
  // random direction (LoRA's product A B), and f32 rounding rules out much smaller steps.
  const float eps = 1e-4f;
  const double wide = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps);
  const double narrow = (loss_at(eps / 2) - loss_at(-eps / 2)) / double(eps);
  const double numeric = (4.0 * narrow - wide) / 3.0;
  f.params = saved;
  EXPECT_NEAR(analytic, numeric, 1e-2 * std::fabs(numeric) + 1e-4);
}

// With a zero adapter (PEFT's initial B = 0) the policy is the reference: every reward is 0,
// the loss is log 2 for sigmoid, and the reference log-probs equal the policy's.
TEST(Dpo, ZeroAdapterPolicyEqualsReference) {
  DpoFixture f;
  init_trainable(f.params.data(), f.layout, 3, 0.0f);  // A random, B zero
  std::vector<float> grads;
  const auto m = f.step(DpoLossParams{DpoLossType::Sigmoid, 0.1, 0.0}, &grads);
  EXPECT_NEAR(m.at("loss"), std::log(2.0), 1e-7);
  EXPECT_EQ(m.at("rewards/chosen"), 0.0);
  EXPECT_EQ(m.at("rewards/rejected"), 0.0);
  std::vector<float> scratch;
  LoraContext off = f.context(nullptr), on = f.context(nullptr);
  off.enabled = false;
  for (const DpoPairRows& rows : f.pairs) {
    double ref[2], policy[2];
    dpo_sequence_logps(f.model, rows, off, ref, &scratch);
    dpo_sequence_logps(f.model, rows, on, policy, &scratch);
    EXPECT_EQ(ref[0], policy[0]);
    EXPECT_EQ(ref[1], policy[1]);
  }
}

// Rows: EOS appended, keep_start truncation at max_length, completion-only targets.
TEST(Dpo, PairRowsFollowTrlsDataRules) {
  const int32_t chosen[] = {1, 10, 11, 20, 21, 22}, rejected[] = {1, 10, 11, 30};
  DpoPairRows rows;
  build_dpo_pair_rows(chosen, 6, rejected, 4, 3, 2, 6, 0, &rows);
  EXPECT_EQ(rows.tokens[0], (std::vector<int>{1, 10, 11, 20, 21, 22}));  // EOS appended, then cut
  EXPECT_EQ(rows.tokens[1], (std::vector<int>{1, 10, 11, 30, 2}));
  EXPECT_EQ(rows.targets[0], (std::vector<int>{-1, -1, 20, 21, 22, -1}));
  EXPECT_EQ(rows.targets[1], (std::vector<int>{-1, -1, 30, 2, -1}));
  EXPECT_EQ(rows.completion_tokens[0], 3);
  EXPECT_EQ(rows.completion_tokens[1], 2);
  test::expect_contains(test::error_of([&] { build_dpo_pair_rows(chosen, 6, rejected, 4, 3, 2, 3, 5, &rows); }),
                        "pair 5: its prompt of 3 tokens leaves no completion within dpo.max_length 3");
}

}  // namespace
}  // namespace loom
