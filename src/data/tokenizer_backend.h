// What data::Tokenizer needs from an implementation: text to ids without BOS/EOS, ids to text, and
// the vocabulary. Two implementations: HfTokenizer (tokenizer.json) and SentencePieceTokenizer
// (tokenizer.model).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom::data {

class TokenizerBackend {
 public:
  virtual ~TokenizerBackend() = default;
  // Appends the ids of valid UTF-8 `text`, with no BOS/EOS added. Safe to call from several threads.
  virtual void append_ids(std::string_view text, std::vector<int32_t>* out) const = 0;
  // The text of ids that all lie in [0, vocab_size()); special tokens dropped when skip_special.
  virtual std::string decode(const int32_t* ids, size_t count, bool skip_special) const = 0;
  virtual int vocab_size() const = 0;
  // The id of a token's text, or -1.
  virtual int token_id(std::string_view token) const = 0;
  // The text of the token with an id in [0, vocab_size()) ("" where the vocabulary has a hole).
  virtual std::string token_text(int id) const = 0;
};

}  // namespace loom::data
