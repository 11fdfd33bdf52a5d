// A SentencePiece model (tokenizer.model), encoding as Hugging Face's LlamaTokenizer does. For BPE
// models whose pieces never join a word to the spaces after it (Llama-2's), text is encoded word by
// word through a cache of word ids, giving SentencePiece's ids (sentencepiece_tokenizer.cpp says why);
// other models go through SentencePiece whole.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer_backend.h"

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace loom::data {

class WordCache;

class SentencePieceTokenizer final : public TokenizerBackend {
 public:
  // `serialized` is the content of tokenizer.model at `path` (named in errors):
  // "<path>: cannot load tokenizer (...)" when it is not a SentencePiece model.
  SentencePieceTokenizer(const std::string& serialized, const std::string& path);
  ~SentencePieceTokenizer() override;

  void append_ids(std::string_view text, std::vector<int32_t>* out) const override;
  std::string decode(const int32_t* ids, size_t count, bool skip_special) const override;
  int vocab_size() const override;
  int token_id(std::string_view token) const override;
  std::string token_text(int id) const override;

  int bos_id() const;
  int eos_id() const;
  int pad_id() const;  // -1 when the model has none
  // Whether append_ids() goes word by word through the cache (true for Llama-2's tokenizer).
  bool encodes_by_words() const { return word_cache_ != nullptr; }
  // SentencePiece's ids of the whole text, without the word cache: the reference the word-by-word path
  // must equal.
  void append_whole_ids(std::string_view text, std::vector<int32_t>* out) const;

 private:
  void append_word_ids(std::string_view text, std::vector<int32_t>* out) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::unique_ptr<WordCache> word_cache_;  // null when the model cannot be encoded word by word
  std::string path_;
};

}  // namespace loom::data
