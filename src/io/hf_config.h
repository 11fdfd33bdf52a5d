// HF config.json for the Llama family (LlamaForCausalLM / LlamaForSequenceClassification).
// Unsupported settings (attention_bias, mlp_bias, other rope types, other activations) are
// refused with an error naming the file and the key, never ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/rope.h"

namespace loom {

struct LlamaConfig {
  std::string architecture = "LlamaForCausalLM";  // or "LlamaForSequenceClassification"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  // absent in the file = num_attention_heads
  int head_dim = 0;             // absent in the file = hidden_size / num_attention_heads
  int vocab_size = 0;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
  int pad_token_id = -1;  // -1 = none
  int num_labels = 1;     // sequence classification heads
  std::string torch_dtype = "float32";
};

// Parses and validates; `source` names the file in error messages. Keys loom does not use
// (use_cache, pretraining_tp, transformers_version, ...) are ignored; eos_token_id may be a
// list (the first id is used); null token ids become -1. RoPE settings are read from
// rope_theta + rope_scaling (transformers 4) or rope_parameters (transformers 5); type
// "default" means plain RoPE, "llama3" is supported, any other type is refused.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
LlamaConfig load_llama_config(const std::string& path);
// HF config.json text in the transformers 4 layout (rope_theta + rope_scaling), which
// transformers 5 also reads.
std::string llama_config_to_json(const LlamaConfig& config);

// Presets: "tiny" (tests: hidden 64, 2 layers), "small" (benchmarks: hidden 256, 4 layers,
// ~19M params of which 16M are the two 32000-word embeddings), "llama2-7b", "llama2-13b",
// "llama2-70b", "llama3-8b" (the shapes of the public configs). Unknown names are an error
// listing the known ones.
bool is_llama_preset(const std::string& name);
LlamaConfig llama_preset(const std::string& name);
std::vector<std::string> llama_preset_names();

// Total parameter count of the HF model (embeddings, norms, linears, lm_head if untied;
// score [num_labels, H] instead of lm_head for LlamaForSequenceClassification).
int64_t llama_parameter_count(const LlamaConfig& config);

}  // namespace loom
