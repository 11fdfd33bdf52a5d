// A Hugging Face tokenizer.json with a BPE model: added tokens, normalizer, pre-tokenizer, BPE, and the
// post-processor's single-sequence template (the special tokens put before and after the text), read
// into the pieces of this folder (bpe_*.h, added_tokens.h). Anything loom does not implement is refused
// by name: "<path>: <key>: unsupported ...".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/added_tokens.h"
#include "data/bpe_model.h"
#include "data/tokenizer_backend.h"

namespace loom::data {

class BpeNormalizer;
class BpePreTokenizer;
class BpeDecoder;

class HfTokenizer final : public TokenizerBackend {
 public:
  // `json_text` is the content of tokenizer.json at `path` (named in errors).
  HfTokenizer(const std::string& json_text, const std::string& path);
  ~HfTokenizer() override;

  void append_ids(std::string_view text, std::vector<int32_t>* out) const override;
  std::string decode(const int32_t* ids, size_t count, bool skip_special) const override;
  int vocab_size() const override { return vocab_size_; }
  int token_id(std::string_view token) const override;
  std::string token_text(int id) const override;

  // The ids the post-processor puts before and after a single sequence (add_special_tokens=True).
  const std::vector<int32_t>& template_prefix() const { return prefix_; }
  const std::vector<int32_t>& template_suffix() const { return suffix_; }

 private:
  HfTokenizer(const nlohmann::json& j, const std::string& path);
  void append_text_ids(std::string_view text, bool at_origin, std::vector<int32_t>* out) const;

  std::string path_;
  AddedTokens added_;
  std::unique_ptr<BpeNormalizer> normalizer_;
  std::unique_ptr<BpePreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<BpeDecoder> decoder_;
  std::vector<int32_t> prefix_, suffix_;
  int vocab_size_ = 0;
};

}  // namespace loom::data
