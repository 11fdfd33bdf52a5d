#include "model/frozen_weights.h"

#include <vector>

#include "core/check.h"
#include "io/peft_adapter.h"

namespace loom {

std::string linear_tensor_name(int layer, LinearId id) {
  const std::string& module = llama_linear_names()[id];
  const char* block = (id <= kO) ? "self_attn" : "mlp";
  return cat("model.layers.", layer, ".", block, ".", module, ".weight");
}

static bool has_lm_head(const LlamaConfig& c) {
  return !c.tie_word_embeddings && c.architecture == "LlamaForCausalLM";
}

FrozenBytes frozen_bytes(const LlamaConfig& config, QuantMode mode) {
  const LlamaShape s = llama_shape(config);
  FrozenBytes b;
  b.embeddings = 4.0 * s.V * s.C;
  b.norms = 4.0 * s.C * (2.0 * s.L + 1);
  for (int id = 0; id < kNumLinears; ++id)
    b.linears += s.L * quantized_matrix_payload_bytes(mode, s.linear_out(LinearId(id)), s.linear_in(LinearId(id)));
  b.lm_head = has_lm_head(config) ? 4.0 * s.V * s.C : 0.0;
  return b;
}

FrozenWeights::FrozenWeights(const HfCheckpoint& ckpt, QuantMode mode)
    : config_(ckpt.config()), shape_(llama_shape(config_)), mode_(mode) {
  const LlamaShape& s = shape_;
  const bool untied_head = has_lm_head(config_);

  ArenaPlan plan;
  plan.add<float>(size_t(s.V) * s.C);  // embeddings
  for (int l = 0; l < s.L; ++l) {
    plan.add<float>(s.C);
    plan.add<float>(s.C);
  }
  plan.add<float>(s.C);  // final norm
  if (untied_head) plan.add<float>(size_t(s.V) * s.C);
  size_t linear_bytes = 0;
  for (int id = 0; id < kNumLinears; ++id)
    linear_bytes += quantized_matrix_bytes(mode, s.linear_out(LinearId(id)), s.linear_in(LinearId(id)));
  arena_ = Arena("frozen params", plan.bytes() + size_t(s.L) * linear_bytes);

  embed_ = arena_.take<float>(size_t(s.V) * s.C);
  ckpt.read_f32("model.embed_tokens.weight", {s.V, s.C}, embed_);

  std::vector<float> staging(size_t(s.max_linear_elements()));  // one linear in f32 before quantizing
  layers_.resize(s.L);
  for (int l = 0; l < s.L; ++l) {
    FrozenLayer& layer = layers_[l];
    float* input_norm = arena_.take<float>(s.C);
    float* post_norm = arena_.take<float>(s.C);
    ckpt.read_f32(cat("model.layers.", l, ".input_layernorm.weight"), {s.C}, input_norm);
    ckpt.read_f32(cat("model.layers.", l, ".post_attention_layernorm.weight"), {s.C}, post_norm);
    layer.input_norm = input_norm;
    layer.post_norm = post_norm;
    for (int id = 0; id < kNumLinears; ++id) {
      const int out = s.linear_out(LinearId(id)), in = s.linear_in(LinearId(id));
      ckpt.read_f32(linear_tensor_name(l, LinearId(id)), {out, in}, staging.data());
      layer.linear[id] = quantize_matrix(arena_, mode, staging.data(), out, in);
    }
  }
  final_norm_ = arena_.take<float>(s.C);
  ckpt.read_f32("model.norm.weight", {s.C}, final_norm_);
  if (untied_head) {
    lm_head_ = arena_.take<float>(size_t(s.V) * s.C);
    ckpt.read_f32("lm_head.weight", {s.V, s.C}, lm_head_);
  } else {
    lm_head_ = embed_;
  }
  bytes_ = frozen_bytes(config_, mode);
}

}  // namespace loom
