// The whole model's LoRA gradients against finite differences, gradient checkpointing,
// the KV-cache decoder against the full forward, the adapter switch, PEFT round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "backend/cpu_f32.h"
#include "core/check.h"
#include "core/rng.h"
#include "io/peft_adapter.h"
#include "io/safetensors.h"
#include "model/causal_lm.h"
#include "model/kv_decoder.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

// All linears plus the whole LM head trained (modules_to_save lm_head).
LoraSpec trained_head_spec() {
  LoraSpec spec = test::all_linear_lora();
  spec.modules_to_save = {kLmHeadModule};
  return spec;
}

struct Batch {
  int B, T;
  std::vector<int> tokens, pos, doc, targets;
  TokenBatch view() const {
    TokenBatch b;
    b.B = B;
    b.T = T;
    b.tokens = tokens.data();
    b.pos = pos.data();
    b.doc = doc.empty() ? nullptr : doc.data();
    return b;
  }
};

// Two packed rows: documents restart positions; some targets ignored.
Batch packed_batch(int V) {
  Batch b{2, 9, {}, {}, {}, {}};
  test::random_tokens(&b.tokens, &b.pos, b.B, b.T, V, 3);
  b.doc.assign(b.B * b.T, 0);
  for (int t = 4; t < b.T; ++t) {  // row 0: documents [0,4) and [4,9)
    b.doc[t] = 1;
    b.pos[t] = t - 4;
  }
  b.targets.resize(b.B * b.T);
  shift_labels(b.targets.data(), b.tokens.data(), b.B, b.T);
  b.targets[2] = -1;
  b.targets[b.T + 5] = -1;
  return b;
}

double loss_of(CausalLm& lm, const Batch& batch, LoraContext lora) {
  const LossSums s = lm.eval_micro_batch(batch.view(), batch.targets.data(), lora);
  return s.loss_sum / double(s.tokens);
}

// Directional finite difference of the mean loss against the analytic gradient, along a
// random direction over all LoRA parameters, and element-wise on the largest gradients.
void check_lora_gradients(float dropout, bool checkpointing, const LoraSpec& spec = test::all_linear_lora()) {
  test::TinyModel m = test::make_tiny_model("grad", test::tiny_test_config(), QuantMode::F32, spec);
  const Batch batch = packed_batch(m.base->shape().V);
  CausalLm lm(*m.base, *m.layout, batch.B, batch.T, checkpointing, cpu_f32_backend());
  std::vector<float> grads(m.params.size(), 0.0f);
  LoraContext lora{m.layout.get(), m.params.data(), grads.data(), dropout, /*seed=*/99, true};
  const LossSums sums = lm.eval_micro_batch(batch.view(), batch.targets.data(), lora);
  lm.train_micro_batch(batch.view(), batch.targets.data(), lora, 1.0f / float(sums.tokens));

  std::vector<float> direction = test::random_vector(m.params.size(), 17);
  double analytic = 0.0, norm = 0.0;
  for (size_t i = 0; i < grads.size(); ++i) {
    analytic += double(grads[i]) * direction[i];
    norm += double(direction[i]) * direction[i];
  }
  const float eps = 1e-2f / float(std::sqrt(norm));
  std::vector<float> saved = m.params;
  for (size_t i = 0; i < m.params.size(); ++i) m.params[i] = saved[i] + eps * direction[i];
  const double up = loss_of(lm, batch, lora);
  for (size_t i = 0; i < m.params.size(); ++i) m.params[i] = saved[i] - eps * direction[i];
  const double down = loss_of(lm, batch, lora);
  m.params = saved;
  const double numeric = (up - down) / (2.0 * eps);
  EXPECT_NEAR(numeric, analytic, 2e-3 * std::fabs(analytic) + 1e-4)
      << "directional derivative, dropout " << dropout;

  // The 12 largest gradient entries, one by one.
  std::vector<size_t> order(grads.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + 12, order.end(),
                    [&](size_t a, size_t b) { return std::fabs(grads[a]) > std::fabs(grads[b]); });
  for (int k = 0; k < 12; ++k) {
    const size_t i = order[k];
    const float h = 1e-2f;
    m.params[i] = saved[i] + h;
    const double plus = loss_of(lm, batch, lora);
    m.params[i] = saved[i] - h;
    const double minus = loss_of(lm, batch, lora);
    m.params[i] = saved[i];
    EXPECT_NEAR((plus - minus) / (2.0 * h), grads[i], 2e-2 * std::fabs(grads[i]) + 2e-4) << "param " << i;
  }
}

TEST(ModelGradients, LoraMatchesFiniteDifferences) { check_lora_gradients(0.0f, false); }
TEST(ModelGradients, LoraWithDropoutMatchesFiniteDifferences) { check_lora_gradients(0.2f, false); }
TEST(ModelGradients, CheckpointedMatchesFiniteDifferences) { check_lora_gradients(0.1f, true); }
TEST(ModelGradients, TrainedLmHeadMatchesFiniteDifferences) { check_lora_gradients(0.0f, false, trained_head_spec()); }
// PEFT's default for Llama: q and v adapted, so the first gradient into d_act, d_att and the MLP's
// d_norm comes through a frozen linear (which overwrites them there).
TEST(ModelGradients, AdapterOnQAndVMatchesFiniteDifferences) {
  LoraSpec spec = test::all_linear_lora();
  spec.target_modules = parse_target_modules("q_proj,v_proj");
  check_lora_gradients(0.1f, false, spec);
}

TEST(ModelGradients, CheckpointingGivesIdenticalGradients) {
  test::TinyModel m = test::make_tiny_model("ckpt", test::tiny_test_config(), QuantMode::NF4, test::all_linear_lora());
  const Batch batch = packed_batch(m.base->shape().V);
  std::vector<float> plain(m.params.size(), 0.0f), recomputed(m.params.size(), 0.0f);
  CausalLm a(*m.base, *m.layout, batch.B, batch.T, false, cpu_f32_backend()),
      b(*m.base, *m.layout, batch.B, batch.T, true, cpu_f32_backend());
  LoraContext la{m.layout.get(), m.params.data(), plain.data(), 0.1f, 5, true};
  LoraContext lb{m.layout.get(), m.params.data(), recomputed.data(), 0.1f, 5, true};
  const LossSums sa = a.train_micro_batch(batch.view(), batch.targets.data(), la, 0.1f);
  const LossSums sb = b.train_micro_batch(batch.view(), batch.targets.data(), lb, 0.1f);
  EXPECT_EQ(sa.loss_sum, sb.loss_sum);
  EXPECT_EQ(0, std::memcmp(plain.data(), recomputed.data(), sizeof(float) * plain.size()));
}

TEST(ModelAdapter, DisabledAdapterAndZeroAdapterGiveTheBaseModel) {
  test::TinyModel m = test::make_tiny_model("adapter", test::tiny_test_config(), QuantMode::INT8, test::all_linear_lora());
  const Batch batch = packed_batch(m.base->shape().V);
  const int V = m.base->shape().V;
  CausalLm lm(*m.base, *m.layout, batch.B, batch.T, false, cpu_f32_backend());
  std::vector<float> with(batch.B * batch.T * V), without(with.size()), zero_b(with.size());
  LoraContext on{m.layout.get(), m.params.data(), nullptr, 0.0f, 0, true};
  LoraContext off = on;
  off.enabled = false;
  lm.logits(with.data(), batch.view(), on);
  lm.logits(without.data(), batch.view(), off);
  EXPECT_GT(test::max_abs_diff(with.data(), without.data(), with.size()), 1e-4) << "the adapter changes nothing";
  std::vector<float> fresh(m.layout->total());
  init_trainable(fresh.data(), *m.layout, 3, 0.0f);  // PEFT init: B = 0
  LoraContext fresh_on{m.layout.get(), fresh.data(), nullptr, 0.0f, 0, true};
  lm.logits(zero_b.data(), batch.view(), fresh_on);
  EXPECT_EQ(0, std::memcmp(zero_b.data(), without.data(), sizeof(float) * with.size()));
}

TEST(ModelAdapter, TrainedLmHeadIsReadOnlyWithTheAdapterOn) {
  test::TinyModel m = test::make_tiny_model("head", test::tiny_test_config(), QuantMode::F32, trained_head_spec());
  ASSERT_TRUE(m.layout->trains_lm_head());
  ASSERT_EQ(size_t(m.base->shape().V) * m.base->shape().C, m.layout->total() - m.layout->head_offset());
  const Batch batch = packed_batch(m.base->shape().V);
  CausalLm lm(*m.base, *m.layout, batch.B, batch.T, false, cpu_f32_backend());
  LoraContext on{m.layout.get(), m.params.data(), nullptr, 0.0f, 0, true};
  LoraContext off = on;
  off.enabled = false;
  EXPECT_EQ(m.params.data() + m.layout->head_offset(), active_lm_head(*m.base, on).values);
  EXPECT_EQ(kUnversionedWeight, active_lm_head(*m.base, on).version);  // trained: rounded anew each call
  EXPECT_EQ(m.base->lm_head(), active_lm_head(*m.base, off).values);
  EXPECT_EQ(m.base->version(), active_lm_head(*m.base, off).version);
  EXPECT_EQ(nullptr, lm_head_grad(on));  // inference: no gradient buffer
  std::vector<float> head_only(m.params.size(), 0.0f);  // a zero adapter with the trained head copied in
  std::copy(m.params.begin() + m.layout->head_offset(), m.params.end(), head_only.begin() + m.layout->head_offset());
  std::vector<float> with(batch.B * batch.T * m.base->shape().V), without(with.size());
  LoraContext head_on{m.layout.get(), head_only.data(), nullptr, 0.0f, 0, true};
  lm.logits(with.data(), batch.view(), head_on);
  lm.logits(without.data(), batch.view(), off);
  EXPECT_GT(test::max_abs_diff(with.data(), without.data(), with.size()), 1e-3) << "the trained head is not read";
}

TEST(KvDecoder, MatchesFullForwardWithLeftPadding) {
  LlamaConfig config = test::tiny_test_config();
  // With a trained LM head, so generation is checked to read the adapter's head too.
  test::TinyModel m = test::make_tiny_model("kv", config, QuantMode::F32, trained_head_spec());
  const int V = m.base->shape().V, B = 2, total = 11;
  const int lengths[B] = {5, 3};  // prompt lengths; row 1 is left-padded by 2
  std::vector<int> seq, pos;
  test::random_tokens(&seq, &pos, B, total, V, 21);
  LoraContext lora{m.layout.get(), m.params.data(), nullptr, 0.0f, 0, true};

  // Reference: each row alone, unpadded, through the full forward.
  std::vector<std::vector<float>> reference(B);
  for (int b = 0; b < B; ++b) {
    const int T = lengths[b] + (total - lengths[0]);
    CausalLm lm(*m.base, *m.layout, 1, T, false, cpu_f32_backend());
    std::vector<int> tokens(seq.begin() + b * total, seq.begin() + b * total + T), p(T);
    for (int t = 0; t < T; ++t) p[t] = t;
    TokenBatch tb{1, T, tokens.data(), p.data(), nullptr};
    reference[b].resize(size_t(T) * V);
    lm.logits(reference[b].data(), tb, lora);
  }

  // Decoder: left-padded prompts, then one token per step (row b's own continuation).
  const int Tp = lengths[0];
  std::vector<int> prompt(B * Tp, 0), key_begin(B);
  for (int b = 0; b < B; ++b) {
    key_begin[b] = Tp - lengths[b];
    for (int t = 0; t < lengths[b]; ++t) prompt[b * Tp + key_begin[b] + t] = seq[b * total + t];
  }
  KvDecoder decoder(*m.base, *m.layout, B, total, cpu_f32_backend());
  std::vector<float> logits(B * V);
  decoder.prefill(logits.data(), prompt.data(), key_begin.data(), B, Tp, lora);
  const int steps = total - Tp;  // every row decodes the same number of tokens
  for (int step = 0; step <= steps; ++step) {
    for (int b = 0; b < B; ++b) {
      const int t = lengths[b] - 1 + step;  // the position whose next-token logits we hold
      std::string where;
      EXPECT_TRUE(test::all_close(logits.data() + b * V, reference[b].data() + size_t(t) * V, V, 1e-5, 1e-4, &where))
          << "row " << b << " position " << t << ": " << where;
    }
    if (step == steps) break;
    std::vector<int> next(B);
    for (int b = 0; b < B; ++b) next[b] = seq[b * total + lengths[b] + step];
    decoder.step(logits.data(), next.data(), lora);
  }
}

TEST(PeftAdapter, SaveLoadRoundTripIsExact) {
  test::TinyModel m = test::make_tiny_model("peft", test::tiny_test_config(), QuantMode::F32, test::all_linear_lora(), 1);
  const std::string dir = test::scratch_dir("peft-out");
  save_peft_adapter(dir, *m.layout, m.params.data(), "base_model.model.score.weight");
  std::vector<float> loaded(m.params.size(), 0.0f);
  load_peft_adapter(dir, *m.layout, loaded.data(), "base_model.model.score.weight");
  EXPECT_EQ(0, std::memcmp(loaded.data(), m.params.data(), sizeof(float) * loaded.size()));
  EXPECT_TRUE(std::filesystem::exists(dir + "/adapter_config.json"));
}

TEST(PeftAdapter, TrainedLmHeadRoundTripsUnderPeftKey) {
  test::TinyModel m = test::make_tiny_model("peft-head", test::tiny_test_config(), QuantMode::F32, trained_head_spec());
  const std::string dir = test::scratch_dir("peft-head-out");
  save_peft_adapter(dir, *m.layout, m.params.data(), kLmHeadKey);
  const SafetensorsFile file(dir + "/adapter_model.safetensors");
  const TensorInfo* head = file.find("base_model.model.lm_head.weight");
  ASSERT_NE(nullptr, head);
  EXPECT_EQ((std::vector<int64_t>{m.base->shape().V, m.base->shape().C}), head->shape);
  const LoraSpec spec = load_adapter_config(dir + "/adapter_config.json");
  EXPECT_EQ(std::vector<std::string>{"lm_head"}, spec.modules_to_save);
  const TrainableLayout layout(m.base->shape(), spec, 0);
  EXPECT_TRUE(layout.trains_lm_head());
  std::vector<float> loaded(layout.total(), 0.0f);
  load_peft_adapter(dir, layout, loaded.data(), kLmHeadKey);
  EXPECT_EQ(0, std::memcmp(loaded.data(), m.params.data(), sizeof(float) * loaded.size()));
}

TEST(PeftAdapter, MissingTensorNamesFileAndKey) {
  test::TinyModel m = test::make_tiny_model("peft-miss", test::tiny_test_config(), QuantMode::F32, test::all_linear_lora());
  const std::string dir = test::scratch_dir("peft-miss-out");
  save_peft_adapter(dir, *m.layout, m.params.data(), "");
  LoraSpec more = test::all_linear_lora();
  TrainableLayout with_head(m.base->shape(), more, 1);
  std::vector<float> loaded(with_head.total());
  try {
    load_peft_adapter(dir, with_head, loaded.data(), "base_model.model.score.weight");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_model.safetensors: tensor 'base_model.model.score.weight' is missing"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom
