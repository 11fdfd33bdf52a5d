#include "io/tokenizer_files.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/tokenizer.h"
#include "io/atomic_file.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

// tokenizer_config.json for a tokenizer.model that came without one: Llama's, adding BOS.
nlohmann::json sentencepiece_config(const data::Tokenizer& t) {
  nlohmann::json c = {{"tokenizer_class", "LlamaTokenizer"},
                      {"bos_token", t.token_text(t.bos_id())},
                      {"eos_token", t.token_text(t.eos_id())},
                      {"add_bos_token", t.adds_bos()},
                      {"add_eos_token", false},
                      {"clean_up_tokenization_spaces", false},
                      {"legacy", true}};
  const int unk = t.token_id("<unk>");
  if (unk >= 0) c["unk_token"] = "<unk>";
  if (t.pad_id() >= 0) c["pad_token"] = t.token_text(t.pad_id());
  return c;
}

nlohmann::json generation_config(const data::Tokenizer& t) {
  nlohmann::json c = {{"eos_token_id", t.eos_id()}};
  if (t.bos_id() >= 0) c["bos_token_id"] = t.bos_id();
  if (t.pad_id() >= 0) c["pad_token_id"] = t.pad_id();
  return c;
}

}  // namespace

TokenizerFiles::TokenizerFiles(const std::string& source, const std::string& staging, bool causal_lm)
    : staging_(staging) {
  const fs::path folder = fs::is_directory(source) ? fs::path(source) : fs::path(source).parent_path();
  const bool has_tokenizer =
      fs::is_directory(source) ? !data::Tokenizer::file_in_model_dir(source).empty() : fs::is_regular_file(source);
  const auto take = [&](const char* name) {
    const fs::path path = folder / name;
    if (!fs::is_regular_file(path)) return false;
    paths_.push_back(path.string());
    return true;
  };
  const auto write = [&](const char* name, const nlohmann::json& content) {
    fs::create_directories(staging_);
    const std::string path = (fs::path(staging_) / name).string();
    write_file_atomically(path, content.dump(2) + "\n");
    paths_.push_back(path);
  };
  std::unique_ptr<data::Tokenizer> tokenizer;
  if (has_tokenizer) {
    tokenizer = std::make_unique<data::Tokenizer>(source);  // refuses a tokenizer loom cannot read
    if (fs::is_directory(source)) {
      take("tokenizer.json");
      take("tokenizer.model");
    } else {
      const std::string name = fs::path(source).filename().string();
      LOOM_REQUIRE(name == "tokenizer.json" || name == "tokenizer.model", source,
                   ": a checkpoint's tokenizer file must be named tokenizer.json or tokenizer.model");
      paths_.push_back(source);
    }
    if (!take("tokenizer_config.json")) write("tokenizer_config.json", sentencepiece_config(*tokenizer));
    take("special_tokens_map.json");
    take("chat_template.jinja");
  }
  if (causal_lm && !take("generation_config.json") && tokenizer)
    write("generation_config.json", generation_config(*tokenizer));
}

TokenizerFiles::~TokenizerFiles() {
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

}  // namespace loom
