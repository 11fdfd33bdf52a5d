// The tokenizer files a checkpoint written by loom (merge, init-model) carries, so that transformers'
// AutoTokenizer.from_pretrained and GenerationConfig work on it: tokenizer.json and/or tokenizer.model,
// tokenizer_config.json (with the special tokens and, when the source has one, the chat template),
// special_tokens_map.json and chat_template.jinja when the source has them, and generation_config.json
// for causal LMs. Files the source lacks (tokenizer_config.json beside a bare tokenizer.model,
// generation_config.json) are written from what data::Tokenizer reads.
#pragma once

#include <string>
#include <vector>

namespace loom {

class TokenizerFiles {
 public:
  // `source`: a model folder, or a tokenizer.json / tokenizer.model file. Generated files are staged in
  // `staging` (created, and removed by the destructor). A source without a tokenizer gives only
  // generation_config.json when it has one.
  TokenizerFiles(const std::string& source, const std::string& staging, bool causal_lm);
  ~TokenizerFiles();
  TokenizerFiles(const TokenizerFiles&) = delete;
  TokenizerFiles& operator=(const TokenizerFiles&) = delete;

  // The files to copy into the checkpoint under their own names (write_hf_checkpoint's extra files).
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::string staging_;
  std::vector<std::string> paths_;
};

}  // namespace loom
