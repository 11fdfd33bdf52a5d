#include "model/frozen_weights.h"

#include <vector>

#include "core/check.h"
#include "model/llama_tensors.h"

namespace loom {

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

// config.json against the headers, before the arena is sized from it
static const LlamaConfig& checked_config(const HfCheckpoint& ckpt) {
  check_llama_checkpoint(ckpt);
  return ckpt.config();
}

FrozenWeights::FrozenWeights(const HfCheckpoint& ckpt, QuantMode mode, const Backend& backend)
    : FrozenWeights(checked_config(ckpt), mode,
                    [&ckpt](const LlamaTensor& t, float* out) { ckpt.read_f32(t.name, t.shape, out); }, backend) {}

FrozenWeights::FrozenWeights(const LlamaConfig& config, QuantMode mode, const TensorSource& source,
                             const Backend& backend)
    : config_(config), shape_(llama_shape(config_)), mode_(mode) {
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

  std::vector<float> staging(size_t(s.max_linear_elements()));  // one linear in f32 before quantizing
  layers_.resize(s.L);
  using Role = LlamaTensorRole;
  for (const LlamaTensor& t : llama_tensors(config_)) {
    const auto take_and_read = [&](size_t elements) {
      float* out = arena_.take<float>(elements);
      source(t, out);
      return out;
    };
    switch (t.role) {
      case Role::embed: embed_ = take_and_read(size_t(s.V) * s.C); break;
      case Role::input_norm: layers_[t.layer].input_norm = take_and_read(s.C); break;
      case Role::post_norm: layers_[t.layer].post_norm = take_and_read(s.C); break;
      case Role::linear: {
        const int out = int(t.shape[0]), in = int(t.shape[1]);
        source(t, staging.data());
        layers_[t.layer].linear[t.id] = quantize_matrix(arena_, mode, staging.data(), out, in);
        break;
      }
      case Role::final_norm: final_norm_ = take_and_read(s.C); break;
      case Role::lm_head: lm_head_ = take_and_read(size_t(s.V) * s.C); break;
      case Role::score: break;  // the reward model reads its head (model/reward_model.h)
    }
  }
  if (!untied_head) lm_head_ = embed_;
  bytes_ = frozen_bytes(config_, mode);
  if (&backend.allocator() != &host_allocator()) move_to(backend);
}

void FrozenWeights::move_to(const Backend& backend) {
  Arena moved(arena_.name(), arena_.used(), backend.allocator());
  std::byte* to = static_cast<std::byte*>(moved.take_bytes(arena_.used()));
  backend.upload(to, arena_.base(), arena_.used());
  const std::byte* from = static_cast<const std::byte*>(arena_.base());
  const auto relocated = [&](const float* p) { return reinterpret_cast<float*>(to + (reinterpret_cast<const std::byte*>(p) - from)); };
  embed_ = relocated(embed_);
  final_norm_ = relocated(final_norm_);
  lm_head_ = relocated(lm_head_);
  for (FrozenLayer& layer : layers_) {
    layer.input_norm = relocated(layer.input_norm);
    layer.post_norm = relocated(layer.post_norm);
    for (QuantizedMatrix& m : layer.linear) m = relocate_quantized_matrix(m, from, to);
  }
  arena_ = std::move(moved);
}

}  // namespace loom
