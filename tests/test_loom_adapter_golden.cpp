// Adapters written by loom's SFT training mean the same in PEFT as in loom. For each case, PEFT
// loaded the adapter with PeftModel.from_pretrained, decoded three prompts greedily (16 tokens
// each) and stored the sequences and the chosen tokens' log-probs. loom loads the same adapter
// and, over each whole sequence, must pick the same token at every generated position (so
// greedy decoding gives PEFT's tokens) with log-probs within the case's tolerance.
//   f32:  tests/golden/data/loom_sft_adapter (make_golden.py, case loom_adapter; trained by
//         test_train_steps_golden) on llama_gqa, loom in f32: within 1e-5. The smallest top-2
//         logit margin in PEFT is 6.5e-4, far above loom's f32 logit error (about 2e-7); the
//         adapter moves the chosen log-probs by up to 0.26, so an adapter that loads as nothing
//         cannot pass.
//   bf16: tests/golden/data/loom_sft_adapter_bf16 (check_loom_adapter.py --compute bf16
//         --golden-out: trained by `loom sft` with run.compute = bf16, PEFT in f32) on the ctest
//         fixture's tiny model (LOOM_TINY_RUN, made by tests/fixtures/make_tiny_run.sh with the
//         seed and init the script used). loom in f32 must agree within 1e-4 (the adapter file
//         means the same); loom in bf16 compute within the bf16 tolerance 0.05, its greedy
//         choice compared where PEFT's top-2 margin exceeds that tolerance. The adapter moves
//         the first chosen log-prob by up to 1.1, so an adapter that loads as nothing cannot pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backend/backend_factory.h"
#include "io/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "support/golden_file.h"
#include "support/test_support.h"

namespace loom {
namespace {

struct AdapterCase {
  std::string base_dir, adapter_dir, golden_file;
  ComputeMode compute;
  double tolerance;  // max |loom - PEFT| of a chosen token's log-prob; also the margin below which a choice may differ
};

void expect_matches_peft(const AdapterCase& c) {
  const HfCheckpoint checkpoint(c.base_dir);
  const std::unique_ptr<Backend> backend = make_backend(c.compute);
  const FrozenWeights base(checkpoint, QuantMode::F32, *backend);
  const TrainableLayout layout(base.shape(), load_adapter_config(c.adapter_dir + "/adapter_config.json"), 0);
  std::vector<float> params(layout.total());
  load_peft_adapter(c.adapter_dir, layout, params.data(), "");
  const LoraContext lora{&layout, params.data(), nullptr, 0.0f, 0, true};
  const SafetensorsFile golden(c.golden_file);
  const int V = base.shape().V;
  int compared = 0;

  for (int p = 0; p < 3; ++p) {
    SCOPED_TRACE("prompt " + std::to_string(p));
    const std::vector<int> prompt = test::golden_ints(golden, "prompt" + std::to_string(p));
    const std::vector<int> sequence = test::golden_ints(golden, "sequence" + std::to_string(p));
    const std::vector<float> want = test::golden_floats(golden, "logprobs" + std::to_string(p));
    const std::vector<float> margin = test::golden_floats(golden, "top2_margin" + std::to_string(p));
    const int L = int(sequence.size()), P = int(prompt.size());
    ASSERT_EQ(size_t(L - P), want.size());
    ASSERT_EQ(want.size(), margin.size());
    ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), sequence.begin()));
    std::vector<int> pos(L);
    for (int t = 0; t < L; ++t) pos[t] = t;
    CausalLm lm(base, layout, 1, L, false, *backend);
    const TokenBatch batch{1, L, sequence.data(), pos.data(), nullptr};
    std::vector<float> logits(size_t(L) * V);
    lm.logits(logits.data(), batch, lora);
    for (int t = P - 1; t < L - 1; ++t) {
      const float* row = &logits[size_t(t) * V];
      const int choice = int(std::max_element(row, row + V) - row);
      if (margin[t - (P - 1)] > c.tolerance) {
        EXPECT_EQ(choice, sequence[t + 1]) << "greedy choice at position " << t;
        ++compared;
      }
      double top = row[0], z = 0.0;
      for (int v = 0; v < V; ++v) top = std::max(top, double(row[v]));
      for (int v = 0; v < V; ++v) z += std::exp(double(row[v]) - top);
      const double logprob = double(row[sequence[t + 1]]) - top - std::log(z);
      EXPECT_NEAR(logprob, want[t - (P - 1)], c.tolerance) << "log-prob at position " << t;
    }
  }
  EXPECT_GE(compared, 24) << "too few greedy choices clear of a near-tie to mean anything";
}

std::string tiny_fixture_model() {
  const char* run = std::getenv("LOOM_TINY_RUN");
  if (run == nullptr) ADD_FAILURE() << "LOOM_TINY_RUN is not set (ctest's fixture_tiny_run makes it)";
  return run == nullptr ? std::string() : std::string(run) + "/model";
}

TEST(LoomAdapterGolden, GreedyTokensAndLogprobsMatchPeft) {
  expect_matches_peft({test::golden_path("llama_gqa"), test::golden_path("loom_sft_adapter"),
                       test::golden_path("loom_sft_adapter_golden.safetensors"), ComputeMode::F32, 1e-5});
}

TEST(LoomAdapterGolden, Bf16TrainedAdapterMatchesPeftInF32) {
  expect_matches_peft({tiny_fixture_model(), test::golden_path("loom_sft_adapter_bf16"),
                       test::golden_path("loom_sft_adapter_bf16_golden.safetensors"), ComputeMode::F32, 1e-4});
}

TEST(LoomAdapterGolden, Bf16TrainedAdapterMatchesPeftInBf16Compute) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  expect_matches_peft({tiny_fixture_model(), test::golden_path("loom_sft_adapter_bf16"),
                       test::golden_path("loom_sft_adapter_bf16_golden.safetensors"), ComputeMode::Bf16, 0.05});
}

}  // namespace
}  // namespace loom
