#include "support/tiny_model.h"

#include "backend/cpu_f32.h"
#include "core/rng.h"
#include "model/random_init.h"
#include "support/test_support.h"

namespace loom::test {

LlamaConfig tiny_test_config() {
  LlamaConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5f;
  return c;
}

LoraSpec all_linear_lora() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = parse_target_modules("all-linear");
  return spec;
}

TinyModel make_tiny_model(const std::string& name, const LlamaConfig& config, QuantMode mode,
                          const LoraSpec& spec, int head_rows) {
  TinyModel m;
  m.dir = scratch_dir(name) + "/model";
  write_random_checkpoint(m.dir, config, /*seed=*/7, DType::F32, /*init_std=*/0.02f, /*norm_jitter=*/0.1f, {});
  m.checkpoint = std::make_unique<HfCheckpoint>(m.dir);
  m.base = std::make_unique<FrozenWeights>(*m.checkpoint, mode, cpu_f32_backend());
  m.layout = std::make_unique<TrainableLayout>(m.base->shape(), spec, head_rows);
  m.params.assign(m.layout->total(), 0.0f);
  init_trainable(m.params.data(), *m.layout, /*seed=*/11, /*head_init_std=*/0.02f);
  Rng rng(5);
  for (const LoraSlot& s : m.layout->slots())
    for (size_t i = 0; i < size_t(s.out) * m.layout->rank(); ++i) m.params[s.b + i] = 0.05f * rng.normal();
  return m;
}

void random_tokens(std::vector<int>* tokens, std::vector<int>* pos, int B, int T, int V, uint64_t seed) {
  Rng rng(seed);
  tokens->resize(size_t(B) * T);
  pos->resize(size_t(B) * T);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      (*tokens)[b * T + t] = 3 + static_cast<int>(rng.below(V - 3));
      (*pos)[b * T + t] = t;
    }
}

}  // namespace loom::test
