// What a model folder's tokenizer_config.json (transformers) says about special tokens: the names of
// BOS, EOS and pad, and, when given, whether BOS/EOS are added (add_bos_token, add_eos_token).
#pragma once

#include <optional>
#include <string>

namespace loom::data {

struct TokenizerConfig {
  std::optional<std::string> bos_token, eos_token, pad_token;  // absent or null: none named
  std::optional<bool> add_bos_token, add_eos_token;            // absent: as the tokenizer itself does
};

// The tokenizer_config.json at `path`; an empty config when the file does not exist. Errors name the
// file and key.
TokenizerConfig read_tokenizer_config(const std::string& path);

}  // namespace loom::data
