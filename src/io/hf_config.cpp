#include "io/hf_config.h"

#include <climits>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/json_file.h"

namespace loom {

namespace {

const char* const kCausalLm = "LlamaForCausalLM";
const char* const kSequenceClassification = "LlamaForSequenceClassification";

int required_positive(const nlohmann::json& j, const char* key, const std::string& source) {
  int64_t value = 0;
  LOOM_REQUIRE(json_int(j, key, source, &value), source, ": ", key, " is missing");
  LOOM_REQUIRE(value > 0 && value <= INT32_MAX, source, ": ", key, " must be a positive integer, found ", value);
  return static_cast<int>(value);
}

void optional_positive(const nlohmann::json& j, const char* key, const std::string& source, int* out) {
  int64_t value = 0;
  if (!json_int(j, key, source, &value)) return;
  LOOM_REQUIRE(value > 0 && value <= INT32_MAX, source, ": ", key, " must be a positive integer, found ", value);
  *out = static_cast<int>(value);
}

// A token id: an integer, the first of a list of integers, or null (-1 = none).
int token_id(const nlohmann::json& j, const char* key, const std::string& source, int fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_null()) return -1;
  const nlohmann::json& first = it->is_array() && !it->empty() ? (*it)[0] : *it;
  LOOM_REQUIRE(first.is_number_integer() && first.get<int64_t>() >= 0 && first.get<int64_t>() <= INT32_MAX,
               source, ": ", key, " must be a token id or a list of token ids, found ", it->dump());
  return first.get<int>();
}

// transformers < 5 writes rope_theta beside rope_scaling (null for plain RoPE); transformers
// >= 5 writes rope_parameters {rope_type, rope_theta, ...}. Both are read.
void parse_rope(const nlohmann::json& j, const std::string& source, LlamaConfig* c) {
  json_float_number(j, "rope_theta", source, &c->rope_theta);
  const char* key = j.contains("rope_parameters") ? "rope_parameters" : "rope_scaling";
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  const std::string where = source + ": " + key;
  LOOM_REQUIRE(it->is_object(), where, " must be null or an object, found ", it->dump());
  json_float_number(*it, "rope_theta", where, &c->rope_theta);
  std::string type;
  if (!json_string(*it, "rope_type", where, &type)) json_string(*it, "type", where, &type);
  if (type == "default") return;
  LOOM_REQUIRE(type == "llama3", where, " type '", type, "' is not supported (loom implements 'llama3' or none)");
  RopeScaling& scaling = c->rope_scaling;
  double value = 0;
  for (const char* field : {"factor", "low_freq_factor", "high_freq_factor"})
    LOOM_REQUIRE(json_number(*it, field, where, &value), where, ".", field, " is missing");
  int64_t original = 0;
  LOOM_REQUIRE(json_int(*it, "original_max_position_embeddings", where, &original), where,
               ".original_max_position_embeddings is missing");
  LOOM_REQUIRE(original > 0 && original <= INT32_MAX, where, ".original_max_position_embeddings must be positive");
  scaling.enabled = true;
  json_float_number(*it, "factor", where, &scaling.factor);
  json_float_number(*it, "low_freq_factor", where, &scaling.low_freq_factor);
  json_float_number(*it, "high_freq_factor", where, &scaling.high_freq_factor);
  scaling.original_max_position_embeddings = static_cast<int>(original);
  LOOM_REQUIRE(scaling.factor > 0 && scaling.low_freq_factor > 0 &&
                   scaling.high_freq_factor > scaling.low_freq_factor,
               where, " needs factor > 0 and high_freq_factor > low_freq_factor > 0");
}

void require_false(const nlohmann::json& j, const char* key, const std::string& source) {
  bool value = false;
  json_bool(j, key, source, &value);
  LOOM_REQUIRE(!value, source, ": ", key, "=true is not supported (Llama linears in loom have no bias)");
}

}  // namespace

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json j = parse_json_object(json_text, source);
  LlamaConfig c;

  std::string model_type;
  if (json_string(j, "model_type", source, &model_type))
    LOOM_REQUIRE(model_type == "llama", source, ": model_type '", model_type,
                 "' is not supported (loom reads Llama-family models, model_type \"llama\")");
  const auto architectures = j.find("architectures");
  if (architectures != j.end() && !architectures->is_null()) {
    LOOM_REQUIRE(architectures->is_array() && (architectures->empty() || (*architectures)[0].is_string()),
                 source, ": architectures must be a list of names");
    if (!architectures->empty()) c.architecture = (*architectures)[0].get<std::string>();
  }
  LOOM_REQUIRE(c.architecture == kCausalLm || c.architecture == kSequenceClassification, source,
               ": architecture '", c.architecture, "' is not supported (expected ", kCausalLm, " or ",
               kSequenceClassification, ")");
  std::string activation = "silu";
  json_string(j, "hidden_act", source, &activation);
  LOOM_REQUIRE(activation == "silu", source, ": hidden_act '", activation,
               "' is not supported (Llama uses \"silu\")");
  require_false(j, "attention_bias", source);
  require_false(j, "mlp_bias", source);

  c.hidden_size = required_positive(j, "hidden_size", source);
  c.intermediate_size = required_positive(j, "intermediate_size", source);
  c.num_hidden_layers = required_positive(j, "num_hidden_layers", source);
  c.num_attention_heads = required_positive(j, "num_attention_heads", source);
  c.vocab_size = required_positive(j, "vocab_size", source);
  c.num_key_value_heads = c.num_attention_heads;
  optional_positive(j, "num_key_value_heads", source, &c.num_key_value_heads);
  LOOM_REQUIRE(c.num_attention_heads % c.num_key_value_heads == 0, source, ": num_attention_heads (",
               c.num_attention_heads, ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  optional_positive(j, "head_dim", source, &c.head_dim);
  LOOM_REQUIRE(c.head_dim > 0 && c.head_dim % 2 == 0, source, ": head_dim ", c.head_dim,
               " must be a positive even number (rotary embeddings rotate pairs)");
  LOOM_REQUIRE(int64_t(c.num_attention_heads) * c.head_dim <= INT32_MAX, source, ": num_attention_heads ",
               c.num_attention_heads, " x head_dim ", c.head_dim, " is too large a projection");
  optional_positive(j, "max_position_embeddings", source, &c.max_position_embeddings);
  json_float_number(j, "rms_norm_eps", source, &c.rms_norm_eps);
  LOOM_REQUIRE(c.rms_norm_eps > 0, source, ": rms_norm_eps must be positive");
  parse_rope(j, source, &c);
  LOOM_REQUIRE(c.rope_theta > 0, source, ": rope_theta must be positive");
  json_bool(j, "tie_word_embeddings", source, &c.tie_word_embeddings);
  c.bos_token_id = token_id(j, "bos_token_id", source, c.bos_token_id);
  c.eos_token_id = token_id(j, "eos_token_id", source, c.eos_token_id);
  c.pad_token_id = token_id(j, "pad_token_id", source, c.pad_token_id);
  for (const auto& [key, id] : {std::pair{"bos_token_id", c.bos_token_id}, std::pair{"eos_token_id", c.eos_token_id},
                                std::pair{"pad_token_id", c.pad_token_id}})
    LOOM_REQUIRE(id < c.vocab_size, source, ": ", key, " ", id, " is outside the vocabulary of vocab_size ",
                 c.vocab_size);

  if (c.architecture == kSequenceClassification) {
    const auto id2label = j.find("id2label");
    if (id2label != j.end() && id2label->is_object() && !id2label->empty()) {
      c.num_labels = static_cast<int>(id2label->size());
    } else {
      optional_positive(j, "num_labels", source, &c.num_labels);
    }
  }
  // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
  if (!json_string(j, "torch_dtype", source, &c.torch_dtype)) json_string(j, "dtype", source, &c.torch_dtype);
  return c;
}

LlamaConfig load_llama_config(const std::string& path) { return parse_llama_config(read_text_file(path), path); }

std::string llama_config_to_json(const LlamaConfig& c) {
  const auto id_or_null = [](int id) { return id < 0 ? nlohmann::json(nullptr) : nlohmann::json(id); };
  nlohmann::json j = {
      {"architectures", {c.architecture}},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", id_or_null(c.bos_token_id)},
      {"eos_token_id", id_or_null(c.eos_token_id)},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"initializer_range", 0.02},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"mlp_bias", false},
      {"model_type", "llama"},
      {"num_attention_heads", c.num_attention_heads},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_key_value_heads", c.num_key_value_heads},
      {"pad_token_id", id_or_null(c.pad_token_id)},
      {"pretraining_tp", 1},
      {"rms_norm_eps", json_float(c.rms_norm_eps)},
      {"rope_scaling", nullptr},
      {"rope_theta", json_float(c.rope_theta)},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"torch_dtype", c.torch_dtype},
      {"use_cache", true},
      {"vocab_size", c.vocab_size},
  };
  if (c.rope_scaling.enabled) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", json_float(c.rope_scaling.factor)},
        {"low_freq_factor", json_float(c.rope_scaling.low_freq_factor)},
        {"high_freq_factor", json_float(c.rope_scaling.high_freq_factor)},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings},
    };
  }
  if (c.architecture == kSequenceClassification) {
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (int i = 0; i < c.num_labels; ++i) {
      const std::string label = "LABEL_" + std::to_string(i);
      id2label[std::to_string(i)] = label;
      label2id[label] = i;
    }
    j["id2label"] = id2label;
    j["label2id"] = label2id;
  }
  return j.dump(2) + "\n";
}

namespace {

struct Preset {
  const char* name;
  int hidden, intermediate, layers, heads, kv_heads, vocab, max_positions;
  float rope_theta;
  int bos, eos;
  const char* torch_dtype;
};

// Shapes of the public configs (meta-llama/Llama-2-{7,13,70}b-hf, Meta-Llama-3-8B) and two
// small models for tests and benchmarks.
const Preset kPresets[] = {
    {"tiny", 64, 176, 2, 4, 2, 32000, 512, 10000.0f, 1, 2, "float32"},
    {"small", 256, 688, 4, 8, 4, 32000, 2048, 10000.0f, 1, 2, "float32"},
    {"llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, 1, 2, "float16"},
    {"llama2-13b", 5120, 13824, 40, 40, 40, 32000, 4096, 10000.0f, 1, 2, "float16"},
    {"llama2-70b", 8192, 28672, 80, 64, 8, 32000, 4096, 10000.0f, 1, 2, "float16"},
    {"llama3-8b", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0f, 128000, 128001, "bfloat16"},
};

const Preset* find_preset(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace

bool is_llama_preset(const std::string& name) { return find_preset(name) != nullptr; }

std::vector<std::string> llama_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.push_back(p.name);
  return names;
}

LlamaConfig llama_preset(const std::string& name) {
  const Preset* p = find_preset(name);
  if (!p) {
    std::string known;
    for (const Preset& q : kPresets) known += (known.empty() ? "" : ", ") + std::string(q.name);
    LOOM_FAIL("unknown model preset '", name, "' (known: ", known, ")");
  }
  LlamaConfig c;
  c.hidden_size = p->hidden;
  c.intermediate_size = p->intermediate;
  c.num_hidden_layers = p->layers;
  c.num_attention_heads = p->heads;
  c.num_key_value_heads = p->kv_heads;
  c.head_dim = p->hidden / p->heads;
  c.vocab_size = p->vocab;
  c.max_position_embeddings = p->max_positions;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = p->rope_theta;
  c.bos_token_id = p->bos;
  c.eos_token_id = p->eos;
  c.torch_dtype = p->torch_dtype;
  return c;
}

int64_t llama_parameter_count(const LlamaConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q_width = int64_t{c.num_attention_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.num_key_value_heads} * c.head_dim;
  const int64_t attention = H * q_width + 2 * H * kv_width + q_width * H;
  const int64_t mlp = 3 * H * I;
  const int64_t per_layer = attention + mlp + 2 * H;
  int64_t total = V * H + c.num_hidden_layers * per_layer + H;
  if (c.architecture == kSequenceClassification) total += int64_t{c.num_labels} * H;
  else if (!c.tie_word_embeddings) total += V * H;
  return total;
}

}  // namespace loom
