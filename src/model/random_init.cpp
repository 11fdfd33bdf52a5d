#include "model/random_init.h"

#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "io/hf_checkpoint.h"
#include "model/frozen_weights.h"

namespace loom {

void write_random_checkpoint(const std::string& dir, const LlamaConfig& config, uint64_t seed, DType stored,
                             float init_std, float norm_jitter, const std::vector<std::string>& extra_files) {
  const LlamaShape s = llama_shape(config);
  std::vector<std::vector<float>> storage;
  std::vector<NamedTensor> tensors;
  Rng rng(seed, /*stream=*/0x696e6974);  // "init"
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool is_norm) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    std::vector<float>& data = storage.emplace_back(n);
    for (float& x : data) x = is_norm ? 1.0f + norm_jitter * rng.normal() : init_std * rng.normal();
    tensors.push_back({name, std::move(shape), nullptr});
  };
  add("model.embed_tokens.weight", {s.V, s.C}, false);
  for (int l = 0; l < s.L; ++l) {
    add(cat("model.layers.", l, ".input_layernorm.weight"), {s.C}, true);
    add(cat("model.layers.", l, ".post_attention_layernorm.weight"), {s.C}, true);
    for (int id = 0; id < kNumLinears; ++id)
      add(linear_tensor_name(l, LinearId(id)), {s.linear_out(LinearId(id)), s.linear_in(LinearId(id))}, false);
  }
  add("model.norm.weight", {s.C}, true);
  if (config.architecture == "LlamaForSequenceClassification") add("score.weight", {config.num_labels, s.C}, false);
  else if (!config.tie_word_embeddings) add("lm_head.weight", {s.V, s.C}, false);
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].data = storage[i].data();  // storage no longer grows

  LlamaConfig written = config;
  written.torch_dtype = stored == DType::BF16 ? "bfloat16" : stored == DType::F16 ? "float16" : "float32";
  write_hf_checkpoint(dir, written, tensors, stored, size_t(4) << 30, extra_files);
}

}  // namespace loom
