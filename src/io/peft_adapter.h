// PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors with PEFT's key
// names (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in], lora_B
// [out, r]; SEQ_CLS heads as base_model.model.score.weight and a trained LM head as
// base_model.model.lm_head.weight, both listed in modules_to_save).
#pragma once

#include <set>
#include <string>
#include <vector>

namespace loom {

class SafetensorsFile;

// Mirrors PEFT's LoraConfig fields that loom supports.
struct LoraSpec {
  int r = 8;
  float alpha = 16.0f;
  float dropout = 0.0f;
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};  // HF module names
  bool use_rslora = false;
  std::string task_type = "CAUSAL_LM";  // or "SEQ_CLS"
  std::vector<std::string> modules_to_save;  // e.g. {"score"}, {"lm_head"}
  bool saves_module(const std::string& module) const;
  std::string base_model_name_or_path;
  float scale() const;  // alpha / r, or alpha / sqrt(r) with rslora
};

// PEFT key of a SEQ_CLS score head saved as a module to save.
inline constexpr const char* kScoreHeadKey = "base_model.model.score.weight";
// A causal LM's fully trained output layer: modules_to_save ["lm_head"], saved under this key.
inline constexpr const char* kLmHeadModule = "lm_head";
inline constexpr const char* kLmHeadKey = "base_model.model.lm_head.weight";

// The seven Llama linears in the order loom stores them within a layer.
const std::vector<std::string>& llama_linear_names();  // q_proj k_proj v_proj o_proj gate_proj up_proj down_proj

// "q,v" / "q_proj, v_proj" / "all-linear" -> HF module names in llama_linear_names() order,
// without repeats; fails on unknown names.
std::vector<std::string> parse_target_modules(const std::string& text);

// PEFT key of a LoRA matrix: layer, module ("q_proj"), which ("lora_A" | "lora_B"):
// base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight (q/k/v/o under self_attn,
// gate/up/down under mlp).
std::string peft_lora_key(int layer, const std::string& module, const std::string& which);
// PEFT key of a fully trained module listed in modules_to_save: "score" ->
// base_model.model.score.weight.
std::string peft_saved_module_key(const std::string& module);

// adapter_config.json text as PEFT writes it (modules_to_save null when empty).
std::string adapter_config_json(const LoraSpec& spec);
// Validates an adapter_config.json and refuses, naming the key, whatever loom would otherwise
// get silently wrong: peft_type other than LORA; task_type other than CAUSAL_LM / SEQ_CLS;
// bias other than "none"; use_dora, fan_in_fan_out, lora_bias or use_qalora true;
// layers_to_transform, layer_replication, exclude_modules, rank_pattern, alpha_pattern,
// target_parameters or trainable_token_indices set; target_modules other than a list of the
// seven Llama linears or the string "all-linear". Keys loom does not use are ignored.
LoraSpec parse_adapter_config(const std::string& json_text, const std::string& source);
LoraSpec load_adapter_config(const std::string& path);

// Refuses an adapter file holding a tensor outside `expected` (the keys its adapter_config.json
// names: target modules of layers the model has, the head): "<file>: tensor '<key>' is not ...".
void require_only_named_tensors(const SafetensorsFile& file, const std::set<std::string>& expected,
                                const std::string& config_path);

}  // namespace loom
