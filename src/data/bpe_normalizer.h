// tokenizer.json's "normalizer": what is done to the text between added tokens before it is split
// (Prepend, Replace, Sequence, as Llama-2's converted tokenizer has them; null for byte-level BPE).
// Other types are refused by name (NFC/NFKC would need Unicode normalization tables).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

class BpeNormalizer {
 public:
  virtual ~BpeNormalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
};

// The normalizer of `spec` (a JSON object), null for JSON null; `where` names the file and key.
std::unique_ptr<BpeNormalizer> make_bpe_normalizer(const nlohmann::json& spec, const std::string& where);

}  // namespace loom::data
