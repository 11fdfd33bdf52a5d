#include "io/peft_adapter.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/json_file.h"
#include "io/safetensors.h"

namespace loom {

namespace {

// PEFT options that change what an adapter computes: loom refuses them instead of ignoring them.
const std::pair<const char*, const char*> kRefusedFlags[] = {
    {"use_dora", "DoRA"},
    {"fan_in_fan_out", "Llama linears store weights as [out, in]"},
    {"lora_bias", "loom's LoRA layers have no bias"},
    {"use_qalora", "QALoRA"},
};
const std::pair<const char*, const char*> kRefusedSettings[] = {
    {"layers_to_transform", "loom adapts every layer"},
    {"layer_replication", "loom adapts every layer once"},
    {"exclude_modules", "name the adapted modules in target_modules"},
    {"rank_pattern", "one r for every module"},
    {"alpha_pattern", "one lora_alpha for every module"},
    {"target_parameters", "loom adapts linear modules"},
    {"trainable_token_indices", "loom trains no embedding rows"},
};

const char* const kKnownModules = "q, k, v, o, gate, up, down, their *_proj names, or all-linear";

// "q" or "q_proj" -> "q_proj"; "" when the name is not one of the Llama linears.
std::string canonical_module(const std::string& name) {
  for (const std::string& module : llama_linear_names())
    if (name == module || name + "_proj" == module) return module;
  return "";
}

std::vector<std::string> in_layer_order(const std::set<std::string>& chosen) {
  std::vector<std::string> ordered;
  for (const std::string& module : llama_linear_names())
    if (chosen.count(module)) ordered.push_back(module);
  return ordered;
}

std::string trimmed(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

float LoraSpec::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<float>(r)) : alpha / static_cast<float>(r);
}

const std::vector<std::string>& llama_linear_names() {
  static const std::vector<std::string> names = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return names;
}

std::vector<std::string> parse_target_modules(const std::string& text) {
  std::set<std::string> chosen;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = trimmed(text.substr(start, comma - start));
    start = comma + 1;
    if (name.empty()) continue;
    if (name == "all-linear") {
      chosen.insert(llama_linear_names().begin(), llama_linear_names().end());
      continue;
    }
    const std::string module = canonical_module(name);
    LOOM_REQUIRE(!module.empty(), "target modules '", text, "': unknown module '", name, "' (known: ",
                 kKnownModules, ")");
    chosen.insert(module);
  }
  LOOM_REQUIRE(!chosen.empty(), "target modules '", text, "' name no module (known: ", kKnownModules, ")");
  return in_layer_order(chosen);
}

std::string peft_lora_key(int layer, const std::string& module, const std::string& which) {
  LOOM_ASSERT(which == "lora_A" || which == "lora_B");
  LOOM_ASSERT(canonical_module(module) == module && !module.empty());
  const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
  return cat("base_model.model.model.layers.", layer, attention ? ".self_attn." : ".mlp.", module, ".", which,
             ".weight");
}

bool LoraSpec::saves_module(const std::string& module) const {
  return std::find(modules_to_save.begin(), modules_to_save.end(), module) != modules_to_save.end();
}

std::string peft_saved_module_key(const std::string& module) { return "base_model.model." + module + ".weight"; }

std::string adapter_config_json(const LoraSpec& spec) {
  const nlohmann::json j = {
      {"base_model_name_or_path", spec.base_model_name_or_path},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"layers_to_transform", nullptr},
      {"lora_alpha", json_float(spec.alpha)},
      {"lora_dropout", json_float(spec.dropout)},
      {"modules_to_save", spec.modules_to_save.empty() ? nlohmann::json(nullptr)
                                                       : nlohmann::json(spec.modules_to_save)},
      {"peft_type", "LORA"},
      {"r", spec.r},
      {"revision", nullptr},
      {"target_modules", spec.target_modules},
      {"task_type", spec.task_type},
      {"use_dora", false},
      {"use_rslora", spec.use_rslora},
  };
  return j.dump(2) + "\n";
}

LoraSpec parse_adapter_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json j = parse_json_object(json_text, source);
  LoraSpec spec;

  std::string peft_type;
  LOOM_REQUIRE(json_string(j, "peft_type", source, &peft_type), source, ": peft_type is missing");
  LOOM_REQUIRE(peft_type == "LORA", source, ": peft_type '", peft_type, "' is not supported (loom reads LORA adapters)");
  if (json_string(j, "task_type", source, &spec.task_type))
    LOOM_REQUIRE(spec.task_type == "CAUSAL_LM" || spec.task_type == "SEQ_CLS", source, ": task_type '",
                 spec.task_type, "' is not supported (expected CAUSAL_LM or SEQ_CLS)");

  int64_t r = 0;
  LOOM_REQUIRE(json_int(j, "r", source, &r), source, ": r is missing");
  LOOM_REQUIRE(r > 0 && r <= INT32_MAX, source, ": r must be a positive integer, found ", r);
  spec.r = static_cast<int>(r);
  spec.alpha = 8.0f;  // PEFT's default lora_alpha
  json_float_number(j, "lora_alpha", source, &spec.alpha);
  LOOM_REQUIRE(spec.alpha > 0.0f, source, ": lora_alpha must be a positive number, found ", spec.alpha);
  spec.dropout = 0.0f;
  json_float_number(j, "lora_dropout", source, &spec.dropout);
  LOOM_REQUIRE(spec.dropout >= 0.0f && spec.dropout < 1.0f, source, ": lora_dropout must be in [0, 1), found ",
               spec.dropout);
  json_bool(j, "use_rslora", source, &spec.use_rslora);

  std::string bias = "none";
  json_string(j, "bias", source, &bias);
  LOOM_REQUIRE(bias == "none", source, ": bias '", bias, "' is not supported (loom's LoRA layers have no bias; "
               "expected \"none\")");
  for (const auto& [key, reason] : kRefusedFlags) {
    bool flag = false;
    LOOM_REQUIRE(!json_bool(j, key, source, &flag) || !flag, source, ": ", key, "=true is not supported (", reason, ")");
  }
  for (const auto& [key, reason] : kRefusedSettings) {
    const auto it = j.find(key);
    const bool unset = it == j.end() || it->is_null() || ((it->is_object() || it->is_array()) && it->empty());
    LOOM_REQUIRE(unset, source, ": ", key, " is not supported (", reason, ")");
  }

  const auto targets = j.find("target_modules");
  LOOM_REQUIRE(targets != j.end() && !targets->is_null(), source, ": target_modules is missing");
  std::set<std::string> chosen;
  if (targets->is_string()) {
    LOOM_REQUIRE(targets->get<std::string>() == "all-linear", source, ": target_modules '",
                 targets->get<std::string>(), "' is not supported (a list of module names or \"all-linear\")");
    chosen.insert(llama_linear_names().begin(), llama_linear_names().end());
  } else {
    LOOM_REQUIRE(targets->is_array(), source, ": target_modules must be a list of module names");
    for (const auto& name : *targets) {
      LOOM_REQUIRE(name.is_string(), source, ": target_modules entry ", name.dump(), " is not a name");
      const std::string module = canonical_module(name.get<std::string>());
      LOOM_REQUIRE(!module.empty() && module == name.get<std::string>(), source, ": target_modules entry '",
                   name.get<std::string>(), "' is not supported (loom adapts q_proj, k_proj, v_proj, o_proj, "
                   "gate_proj, up_proj, down_proj)");
      chosen.insert(module);
    }
  }
  LOOM_REQUIRE(!chosen.empty(), source, ": target_modules is empty");
  spec.target_modules = in_layer_order(chosen);

  const auto saved = j.find("modules_to_save");
  spec.modules_to_save.clear();
  if (saved != j.end() && !saved->is_null()) {
    LOOM_REQUIRE(saved->is_array(), source, ": modules_to_save must be null or a list of module names");
    for (const auto& name : *saved) {
      LOOM_REQUIRE(name.is_string(), source, ": modules_to_save entry ", name.dump(), " is not a name");
      spec.modules_to_save.push_back(name.get<std::string>());
    }
  }
  json_string(j, "base_model_name_or_path", source, &spec.base_model_name_or_path);
  return spec;
}

LoraSpec load_adapter_config(const std::string& path) { return parse_adapter_config(read_text_file(path), path); }

void require_only_named_tensors(const SafetensorsFile& file, const std::set<std::string>& expected,
                                const std::string& config_path) {
  for (const TensorInfo& t : file.tensors())
    LOOM_REQUIRE(expected.count(t.name), file.path(), ": tensor '", t.name,
                 "' is for a module, layer or head that ", config_path, " and the base model do not name");
}

}  // namespace loom
