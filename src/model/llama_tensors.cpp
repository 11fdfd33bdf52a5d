#include "model/llama_tensors.h"

#include <filesystem>
#include <set>

#include "core/check.h"
#include "io/peft_adapter.h"

namespace loom {

std::string linear_tensor_name(int layer, LinearId id) {
  const std::string& module = llama_linear_names()[id];
  const char* block = (id <= kO) ? "self_attn" : "mlp";
  return cat("model.layers.", layer, ".", block, ".", module, ".weight");
}

std::vector<LlamaTensor> llama_tensors(const LlamaConfig& config) {
  using Role = LlamaTensorRole;
  const LlamaShape s = llama_shape(config);
  std::vector<LlamaTensor> list;
  list.push_back({"model.embed_tokens.weight", {s.V, s.C}, Role::embed});
  for (int l = 0; l < s.L; ++l) {
    list.push_back({cat("model.layers.", l, ".input_layernorm.weight"), {s.C}, Role::input_norm, l});
    list.push_back({cat("model.layers.", l, ".post_attention_layernorm.weight"), {s.C}, Role::post_norm, l});
    for (int id = 0; id < kNumLinears; ++id) {
      const LinearId linear = LinearId(id);
      list.push_back({linear_tensor_name(l, linear), {s.linear_out(linear), s.linear_in(linear)}, Role::linear, l,
                      linear});
    }
  }
  list.push_back({"model.norm.weight", {s.C}, Role::final_norm});
  if (config.architecture == "LlamaForSequenceClassification")
    list.push_back({"score.weight", {config.num_labels, s.C}, Role::score});
  else if (!config.tie_word_embeddings)
    list.push_back({"lm_head.weight", {s.V, s.C}, Role::lm_head});
  return list;
}

// Buffers some checkpoints carry that no config describes and transformers ignores on load.
static bool is_ignored_tensor(const std::string& name, const LlamaConfig& config) {
  const std::string inv_freq = ".rotary_emb.inv_freq";
  const bool rotary = name.size() > inv_freq.size() &&
                      name.compare(name.size() - inv_freq.size(), inv_freq.size(), inv_freq) == 0;
  if (rotary && name == "model" + inv_freq) return true;
  if (rotary)
    for (int l = 0; l < config.num_hidden_layers; ++l)
      if (name == cat("model.layers.", l, ".self_attn", inv_freq)) return true;
  return name == "lm_head.weight" && config.tie_word_embeddings;
}

void check_llama_checkpoint(const HfCheckpoint& checkpoint) {
  const LlamaConfig& config = checkpoint.config();
  const std::string config_path = (std::filesystem::path(checkpoint.dir()) / "config.json").string();
  std::set<std::string> expected;
  for (const LlamaTensor& t : llama_tensors(config)) {
    expected.insert(t.name);
    const HfCheckpoint::Located found = checkpoint.locate(t.name);
    LOOM_REQUIRE(found.info, checkpoint.dir(), ": tensor '", t.name, "' is missing (", config_path,
                 " describes it)");
    LOOM_REQUIRE(found.info->shape == t.shape, found.file, ": tensor '", t.name, "' has shape ",
                 shape_string(found.info->shape), " but ", config_path, " gives ", shape_string(t.shape));
  }
  for (const std::string& name : checkpoint.tensor_names())
    LOOM_REQUIRE(expected.count(name) || is_ignored_tensor(name, config), checkpoint.locate(name).file,
                 ": tensor '", name, "' is not part of the model ", config_path, " describes (",
                 config.num_hidden_layers, " layers, tie_word_embeddings ", config.tie_word_embeddings ? "true" : "false",
                 ", ", config.architecture, ")");
}

}  // namespace loom
