// tokenizer.json's "pre_tokenizer": how normalized text is cut into the words that BPE encodes one
// by one. ByteLevel (GPT-2's regex or no split, then bytes as GPT-2's alphabet), Split (a String or
// Regex pattern with tokenizers' five delimiter behaviours), Metaspace (spaces as "▁") and Sequence.
// Other types are refused by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

struct PreToken {
  std::string text;
  bool at_origin = false;  // starts at offset 0 of the original text (Metaspace's prepend_scheme "first")
};

class BpePreTokenizer {
 public:
  virtual ~BpePreTokenizer() = default;
  // Replaces `pieces` by their splits, in order; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<PreToken>* pieces) const = 0;
};

// The pre-tokenizer of `spec`, null for JSON null; `where` names the file and key.
std::unique_ptr<BpePreTokenizer> make_bpe_pre_tokenizer(const nlohmann::json& spec, const std::string& where);

}  // namespace loom::data
