// The model touches backend memory only through the backend: the SFT micro-batch (forward,
// backward, gradient checkpointing, NF4 base) and KV-cache generation run on the fenced
// backend (tests/support/fenced_backend.h: arenas the host cannot read or write), and give
// cpu-f32's results exactly. A host access to backend memory kills the test with SIGSEGV; this
// is what a GPU backend needs of the model, checked without a GPU.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu_f32.h"
#include "core/rng.h"
#include "model/causal_lm.h"
#include "model/generator.h"
#include "support/fenced_backend.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

LoraSpec all_linear_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = parse_target_modules("all-linear");
  return spec;
}

// The adapter's parameters and gradients in one arena of `backend`, parameters uploaded.
struct BackendAdapter {
  BackendAdapter(const test::TinyModel& m, const Backend& backend)
      : arena(backend.make_arena("adapter", 2 * sizeof(float) * m.params.size())),
        params(arena.take<float>(m.params.size())),
        grads(arena.take<float>(m.params.size())) {
    backend.upload(params, m.params.data(), sizeof(float) * m.params.size());
  }
  Arena arena;
  float* params;
  float* grads;
};

TEST(FencedBackend, HostAccessToItsMemoryFaults) {
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
  BackendAdapter adapter(m, backend);
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
                                                    all_linear_spec());
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
                                                  all_linear_spec());
  const test::FencedBackend fenced;
  const FrozenWeights fenced_base(*m.checkpoint, QuantMode::NF4, fenced);
  const std::vector<std::vector<int>> prompts = {{5, 9, 11}, {7, 3, 20, 21, 8}};
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.stop_at_eos = false;
  const auto generate = [&](const Backend& backend, const FrozenWeights& base) {
    const BackendAdapter adapter(m, backend);
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

}  // namespace
}  // namespace loom
