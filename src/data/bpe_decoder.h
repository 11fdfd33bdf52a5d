// tokenizer.json's "decoder": how the pieces of a list of ids become text again. ByteLevel (GPT-2's
// alphabet back to bytes, malformed UTF-8 as U+FFFD), ByteFallback (<0xXX> runs to bytes), Metaspace,
// Replace, Strip, Fuse and Sequence, each as tokenizers' decode_chain. Other types are refused by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

class BpeDecoder {
 public:
  virtual ~BpeDecoder() = default;
  // One step of the chain: the pieces as this decoder leaves them (the caller joins the last).
  virtual std::vector<std::string> decode_chain(std::vector<std::string> pieces) const = 0;
};

// The decoder of `spec`, null for JSON null (pieces are then joined by spaces); `where` names the file
// and key.
std::unique_ptr<BpeDecoder> make_bpe_decoder(const nlohmann::json& spec, const std::string& where);

}  // namespace loom::data
