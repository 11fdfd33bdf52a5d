// An adapter written by loom's SFT training (tests/golden/data/loom_sft_adapter) means the same in
// PEFT as in loom: make_golden.py (case loom_adapter) loaded it with PeftModel.from_pretrained on
// the llama_gqa checkpoint, decoded three prompts greedily (16 tokens each) and stored the
// sequences and the chosen tokens' log-probs (float64 pass). loom loads the same adapter and,
// over each whole sequence, must pick the same token at every generated position (so greedy
// decoding gives PEFT's tokens) with log-probs within 1e-5. The smallest top-2 logit margin in
// PEFT is 6.5e-4, far above loom's f32 logit error (about 2e-7), so identical choices are
// meaningful; the adapter moves the chosen log-probs by up to 0.26, so an adapter that loads as
// nothing cannot pass.
#include <gtest/gtest.h>

#include "backend/cpu_f32.h"

#include <algorithm>
#include <cmath>

#include "io/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "support/golden_file.h"
#include "support/test_support.h"

namespace loom {
namespace {

TEST(LoomAdapterGolden, GreedyTokensAndLogprobsMatchPeft) {
  const HfCheckpoint checkpoint(test::golden_path("llama_gqa"));
  const FrozenWeights base(checkpoint, QuantMode::F32, cpu_f32_backend());
  const std::string adapter = test::golden_path("loom_sft_adapter");
  const TrainableLayout layout(base.shape(), load_adapter_config(adapter + "/adapter_config.json"), 0);
  std::vector<float> params(layout.total());
  load_peft_adapter(adapter, layout, params.data(), "");
  const LoraContext lora{&layout, params.data(), nullptr, 0.0f, 0, true};
  const SafetensorsFile golden(test::golden_path("loom_sft_adapter_golden.safetensors"));
  const int V = base.shape().V;

  for (int p = 0; p < 3; ++p) {
    SCOPED_TRACE("prompt " + std::to_string(p));
    const std::vector<int> prompt = test::golden_ints(golden, "prompt" + std::to_string(p));
    const std::vector<int> sequence = test::golden_ints(golden, "sequence" + std::to_string(p));
    const std::vector<float> want = test::golden_floats(golden, "logprobs" + std::to_string(p));
    const int L = int(sequence.size()), P = int(prompt.size());
    ASSERT_EQ(size_t(L - P), want.size());
    ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), sequence.begin()));
    std::vector<int> pos(L);
    for (int t = 0; t < L; ++t) pos[t] = t;
    CausalLm lm(base, layout, 1, L, false, cpu_f32_backend());
    const TokenBatch batch{1, L, sequence.data(), pos.data(), nullptr};
    std::vector<float> logits(size_t(L) * V);
    lm.logits(logits.data(), batch, lora);
    for (int t = P - 1; t < L - 1; ++t) {
      const float* row = &logits[size_t(t) * V];
      const int choice = int(std::max_element(row, row + V) - row);
      EXPECT_EQ(choice, sequence[t + 1]) << "greedy choice at position " << t;
      double top = row[0], z = 0.0;
      for (int v = 0; v < V; ++v) top = std::max(top, double(row[v]));
      for (int v = 0; v < V; ++v) z += std::exp(double(row[v]) - top);
      const double logprob = double(row[sequence[t + 1]]) - top - std::log(z);
      EXPECT_NEAR(logprob, want[t - (P - 1)], 1e-5) << "log-prob at position " << t;
    }
  }
}

}  // namespace
}  // namespace loom
