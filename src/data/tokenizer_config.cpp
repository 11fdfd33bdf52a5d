#include "data/tokenizer_config.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/json_file.h"

namespace loom::data {

namespace {

// A token given as "text" or as {"content": "text", ...} (AddedToken's serialization).
std::optional<std::string> token_name(const nlohmann::json& config, const char* key, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const nlohmann::json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  LOOM_REQUIRE(v.is_object() && v.contains("content") && v["content"].is_string(), path, ": ", key,
               " must be a string or an object with a \"content\" string");
  return v["content"].get<std::string>();
}

std::optional<bool> optional_flag(const nlohmann::json& config, const char* key, const std::string& path) {
  bool value = false;
  if (!json_bool(config, key, path, &value)) return std::nullopt;
  return value;
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::string& path) {
  TokenizerConfig c;
  if (!std::filesystem::exists(path)) return c;
  const nlohmann::json config = parse_json_object(read_text_file(path), path);
  c.bos_token = token_name(config, "bos_token", path);
  c.eos_token = token_name(config, "eos_token", path);
  c.pad_token = token_name(config, "pad_token", path);
  c.add_bos_token = optional_flag(config, "add_bos_token", path);
  c.add_eos_token = optional_flag(config, "add_eos_token", path);
  return c;
}

}  // namespace loom::data
