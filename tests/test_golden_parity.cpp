// loom against Hugging Face transformers + PEFT (tests/golden/make_golden.py wrote the files):
// logits, loss and every LoRA gradient of a tiny GQA Llama with a PEFT adapter, for an f32
// base and for an NF4 base (the script's own NumPy NF4 + double quantization vs loom's), and
// the logits of an MQA model with Llama 3.1 RoPE scaling and tied embeddings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu_f32.h"
#include "io/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "support/test_support.h"

namespace loom {
namespace {

std::string golden(const std::string& name) { return test::source_dir() + "/tests/golden/data/" + name; }

std::vector<float> read_all(const SafetensorsFile& file, const std::string& name) {
  const TensorInfo* info = file.find(name);
  EXPECT_NE(info, nullptr) << name;
  std::vector<float> out(info ? size_t(info->elements()) : 0);
  if (info) file.read_f32(name, info->shape, out.data());
  return out;
}

std::vector<int> as_ints(const std::vector<float>& v) {
  std::vector<int> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<int>(v[i]);
  return out;
}

// max|a - b| relative to max|b|: one number per tensor, printed on failure.
double relative_max_error(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 0.0;
  for (float x : b) scale = std::max(scale, double(std::fabs(x)));
  return test::max_abs_diff(a.data(), b.data(), a.size()) / std::max(scale, 1e-30);
}

double max_abs(const std::vector<float>& v) {
  double m = 1e-30;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

struct Case {
  const char* model;
  const char* adapter;  // nullptr: no adapter
  const char* golden;
  QuantMode mode;
};

void check_case(const Case& c) {
  const HfCheckpoint checkpoint(golden(c.model));
  const FrozenWeights base(checkpoint, c.mode, cpu_f32_backend());
  const SafetensorsFile expected(golden(c.golden));
  const std::vector<int> tokens = as_ints(read_all(expected, "input_ids"));
  const std::vector<int> labels = as_ints(read_all(expected, "labels"));
  const TensorInfo* ids = expected.find("input_ids");
  ASSERT_NE(ids, nullptr);
  const int B = int(ids->shape[0]), T = int(ids->shape[1]), V = base.shape().V;

  LoraSpec spec;  // without an adapter: PEFT's fresh init (B = 0) changes nothing
  if (c.adapter) spec = load_adapter_config(golden(c.adapter) + "/adapter_config.json");
  const TrainableLayout layout(base.shape(), spec, 0);
  std::vector<float> params(layout.total()), grads(layout.total(), 0.0f);
  init_trainable(params.data(), layout, 0, 0.0f);
  if (c.adapter) load_peft_adapter(golden(c.adapter), layout, params.data(), "");

  std::vector<int> pos(B * T), targets(B * T);
  for (int i = 0; i < B * T; ++i) pos[i] = i % T;
  shift_labels(targets.data(), labels.data(), B, T);
  const TokenBatch batch{B, T, tokens.data(), pos.data(), nullptr};
  CausalLm lm(base, layout, B, T, false, cpu_f32_backend());
  LoraContext lora{&layout, params.data(), grads.data(), 0.0f, 0, true};

  std::vector<float> logits(size_t(B) * T * V);
  lm.logits(logits.data(), batch, lora);
  // Tolerances: tests/golden/README.md (a few times the measured f32-vs-f64 differences).
  const std::vector<float> want_logits = read_all(expected, "logits");
  EXPECT_LE(test::max_abs_diff(logits.data(), want_logits.data(), logits.size()), 2e-6) << c.golden << ": logits";

  const LossSums sums = lm.eval_micro_batch(batch, targets.data(), lora);
  const double loss = sums.loss_sum / double(sums.tokens);
  EXPECT_NEAR(loss, read_all(expected, "loss")[0], 5e-6) << c.golden << ": loss";
  if (!c.adapter) return;

  LoraContext off = lora;
  off.enabled = false;
  lm.logits(logits.data(), batch, off);
  const std::vector<float> want_base = read_all(expected, "base_logits");
  EXPECT_LE(test::max_abs_diff(logits.data(), want_base.data(), logits.size()), 2e-6) << c.golden << ": base logits";

  lm.train_micro_batch(batch, targets.data(), lora, 1.0f / float(sums.tokens));
  const auto& names = llama_linear_names();
  for (const LoraSlot& s : layout.slots()) {
    for (const char* which : {"lora_A", "lora_B"}) {
      const std::string key = peft_lora_key(s.layer, names[s.id], which) + ".grad";
      const size_t offset = which[5] == 'A' ? s.a : s.b;
      const size_t count = size_t(layout.rank()) * (which[5] == 'A' ? s.in : s.out);
      const std::vector<float> mine(grads.begin() + offset, grads.begin() + offset + count);
      const std::vector<float> want = read_all(expected, key);
      EXPECT_LE(relative_max_error(mine, want), 1e-5 + 1e-8 / max_abs(want)) << c.golden << ": " << key;
    }
  }
}

TEST(GoldenParity, F32BaseWithPeftAdapter) {
  check_case({"llama_gqa", "llama_gqa_adapter", "llama_gqa_golden.safetensors", QuantMode::F32});
}

TEST(GoldenParity, Nf4BaseWithPeftAdapter) {
  check_case({"llama_gqa", "llama_gqa_adapter", "llama_gqa_nf4_golden.safetensors", QuantMode::NF4});
}

TEST(GoldenParity, MqaTiedLlama3RopeScaling) {
  check_case({"llama_mqa_llama3", nullptr, "llama_mqa_llama3_golden.safetensors", QuantMode::F32});
}

}  // namespace
}  // namespace loom
