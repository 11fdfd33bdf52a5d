#include "data/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "data/hf_tokenizer.h"
#include "data/md5.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/tokenizer_config.h"
#include "data/utf8_text.h"

namespace loom::data {

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOOM_REQUIRE(in, path, ": cannot load tokenizer (file cannot be opened)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The id of a special token named in tokenizer_config.json; -1 when none is named.
int named_id(const TokenizerBackend& backend, const std::optional<std::string>& name, const std::string& config,
             const char* key) {
  if (!name) return -1;
  const int id = backend.token_id(*name);
  LOOM_REQUIRE(id >= 0, config, ": ", key, " '", *name, "' is not a token of the tokenizer");
  return id;
}

}  // namespace

std::string Tokenizer::file_in_model_dir(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (fs::is_regular_file(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  return "";
}

Tokenizer::Tokenizer(const std::string& path) {
  model_path_ = path;
  if (fs::is_directory(path)) {
    model_path_ = file_in_model_dir(path);
    LOOM_REQUIRE(!model_path_.empty(), path, ": no tokenizer.json or tokenizer.model in the model folder");
  }
  const std::string bytes = read_bytes(model_path_);
  model_md5_ = md5_hex(bytes);
  const std::string config_path = (fs::path(model_path_).parent_path() / "tokenizer_config.json").string();
  const TokenizerConfig config = read_tokenizer_config(config_path);
  if (fs::path(model_path_).extension() == ".json") {
    auto hf = std::make_unique<HfTokenizer>(bytes, model_path_);
    prefix_ = hf->template_prefix();
    suffix_ = hf->template_suffix();
    bos_id_ = named_id(*hf, config.bos_token, config_path, "bos_token");
    if (bos_id_ < 0 && !prefix_.empty()) bos_id_ = prefix_.front();
    eos_id_ = named_id(*hf, config.eos_token, config_path, "eos_token");
    LOOM_REQUIRE(eos_id_ >= 0, model_path_, ": no EOS token (no tokenizer_config.json beside it naming eos_token)");
    pad_id_ = named_id(*hf, config.pad_token, config_path, "pad_token");
    backend_ = std::move(hf);
  } else {
    auto sp = std::make_unique<SentencePieceTokenizer>(bytes, model_path_);
    bos_id_ = sp->bos_id();
    eos_id_ = sp->eos_id();
    pad_id_ = sp->pad_id();
    prefix_ = {bos_id_};  // LlamaTokenizer's add_bos_token defaults to true, add_eos_token to false
    backend_ = std::move(sp);
  }
  // transformers' Llama tokenizers rebuild the template from these flags when the config sets them.
  if (config.add_bos_token && *config.add_bos_token != adds_bos()) {
    LOOM_REQUIRE(!*config.add_bos_token || bos_id_ >= 0, config_path, ": add_bos_token is true but there is no BOS");
    prefix_ = *config.add_bos_token ? std::vector<int32_t>{bos_id_} : std::vector<int32_t>{};
  }
  if (config.add_eos_token && *config.add_eos_token != !suffix_.empty())
    suffix_ = *config.add_eos_token ? std::vector<int32_t>{eos_id_} : std::vector<int32_t>{};
  vocab_size_ = backend_->vocab_size();
}

Tokenizer::~Tokenizer() = default;

int Tokenizer::token_id(std::string_view token) const { return backend_->token_id(token); }

std::string Tokenizer::token_text(int id) const {
  check_ids(&id, 1);
  return backend_->token_text(id);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) out = prefix_;
  if (is_valid_utf8(text)) backend_->append_ids(text, &out);
  else backend_->append_ids(utf8_lossy(text), &out);
  return out;
}

std::vector<int32_t> Tokenizer::encode_with_special_tokens(std::string_view text) const {
  std::vector<int32_t> out = encode(text, /*add_bos=*/true);
  out.insert(out.end(), suffix_.begin(), suffix_.end());
  return out;
}

void Tokenizer::check_ids(const int32_t* ids, size_t count) const {
  for (size_t i = 0; i < count; ++i)
    LOOM_REQUIRE(ids[i] >= 0 && ids[i] < vocab_size_, model_path_, ": token id ", ids[i],
                 " is outside the vocabulary of ", vocab_size_);
}

std::string Tokenizer::decode(const int32_t* ids, size_t count) const {
  std::vector<int32_t> kept;
  kept.reserve(count);
  for (size_t i = 0; i < count; ++i)
    if (ids[i] != bos_id_ && ids[i] != eos_id_ && ids[i] != pad_id_) kept.push_back(ids[i]);
  check_ids(kept.data(), kept.size());
  return backend_->decode(kept.data(), kept.size(), /*skip_special=*/true);
}

std::string Tokenizer::decode_with_special(const int32_t* ids, size_t count) const {
  check_ids(ids, count);
  return backend_->decode(ids, count, /*skip_special=*/false);
}

}  // namespace loom::data
