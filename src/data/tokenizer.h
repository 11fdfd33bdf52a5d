// The SentencePiece tokenizer of a Llama-family model (tokenizer.model), encoding as Hugging
// Face's LlamaTokenizer does: BOS first, no EOS (packing appends EOS between documents).
// For BPE models whose pieces never join a word to the spaces after it (Llama-2's), text is
// encoded word by word through a cache of word ids, giving SentencePiece's ids (tokenizer.cpp says
// why); other models go through SentencePiece whole.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace loom::data {

class WordCache;

class Tokenizer {
 public:
  // "<path>: cannot load tokenizer (...)" when the file is missing or not a SentencePiece model.
  explicit Tokenizer(const std::string& model_path);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`, BOS first when add_bos. Safe to call from several threads.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = true) const;
  // Text of `ids`; BOS/EOS/pad ids are dropped.
  std::string decode(const int32_t* ids, size_t count) const;

  int vocab_size() const { return vocab_size_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  // The model's pad id, or -1 when it has none (Llama-2); see padding_id().
  int pad_id() const { return pad_id_; }
  // The id that fills padded rows: pad_id() when the model has one, else EOS (as StackLLaMA sets pad = eos).
  int padding_id() const { return pad_id_ >= 0 ? pad_id_ : eos_id_; }
  const std::string& model_md5() const { return model_md5_; }
  const std::string& model_path() const { return model_path_; }
  // Whether encode() goes word by word through the cache (true for Llama-2's tokenizer).
  bool encodes_by_words() const { return word_cache_ != nullptr; }
  // encode() through SentencePiece on the whole text, without the word cache: the reference the
  // word-by-word path must equal.
  std::vector<int32_t> encode_whole(std::string_view text, bool add_bos = true) const;

 private:
  // Appends SentencePiece's ids of `text` to `out`.
  void append_processor_ids(std::string_view text, std::vector<int32_t>* out) const;
  void append_word_ids(std::string_view text, std::vector<int32_t>* out) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::unique_ptr<WordCache> word_cache_;  // null when the model cannot be encoded word by word
  std::string model_path_, model_md5_;
  int vocab_size_ = 0, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}  // namespace loom::data
