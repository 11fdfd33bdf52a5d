// The tokenizer of a model folder, as transformers' AutoTokenizer picks it: tokenizer.json (Hugging Face
// tokenizers, BPE; hf_tokenizer.h) when the folder has one, else tokenizer.model (SentencePiece;
// sentencepiece_tokenizer.h). The folder's tokenizer_config.json names BOS, EOS and pad and may say
// whether they are added; otherwise tokenizer.json's post-processor template decides what encode()
// adds (SmolLM2: nothing; Llama-2 converted by transformers: <s>), and a tokenizer.model adds BOS as
// LlamaTokenizer does. Text that is not UTF-8 is encoded as its lossy UTF-8 (U+FFFD for each
// malformed run), as Python's bytes.decode("utf-8", "replace") gives it to HF.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loom::data {

class TokenizerBackend;

class Tokenizer {
 public:
  // `path`: a model folder, or a tokenizer.json / tokenizer.model file (its folder's tokenizer_config.json
  // is read). Fails with "<path>: ..." when there is no tokenizer or it cannot be read.
  explicit Tokenizer(const std::string& path);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The tokenizer file a model folder holds (tokenizer.json first), or "" when it has none.
  static std::string file_in_model_dir(const std::string& dir);

  // Token ids of `text`, with the tokens the tokenizer puts before a text (BOS) first when add_bos.
  // Safe to call from several threads.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = true) const;
  // Token ids with every special token the tokenizer adds, before and after (BOS and, where the
  // config says so, EOS): transformers' add_special_tokens=True.
  std::vector<int32_t> encode_with_special_tokens(std::string_view text) const;
  // Text of `ids`; special tokens (BOS/EOS/pad among them) are dropped.
  std::string decode(const int32_t* ids, size_t count) const;
  // Text of `ids` with special tokens spelled out (transformers' skip_special_tokens=False; a
  // tokenizer.model's control tokens decode to nothing).
  std::string decode_with_special(const int32_t* ids, size_t count) const;

  int vocab_size() const { return vocab_size_; }
  // The BOS id, or -1 when the tokenizer names none.
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  // The model's pad id, or -1 when it has none (Llama-2); see padding_id().
  int pad_id() const { return pad_id_; }
  // The id that fills padded rows: pad_id() when the model has one, else EOS (as StackLLaMA sets pad = eos).
  int padding_id() const { return pad_id_ >= 0 ? pad_id_ : eos_id_; }
  // Whether encode(text, true) puts tokens before the text.
  bool adds_bos() const { return !prefix_.empty(); }
  // The id of a token's text (an added/special token or a vocabulary piece), or -1.
  int token_id(std::string_view token) const;
  // The text of a token (e.g. "<s>" for Llama-2's BOS); fails outside the vocabulary.
  std::string token_text(int id) const;
  // MD5 of the tokenizer file's bytes (`md5sum` prints the same); with the special ids above, the
  // identity that token shards record.
  const std::string& model_md5() const { return model_md5_; }
  // The tokenizer file read (tokenizer.json or tokenizer.model).
  const std::string& model_path() const { return model_path_; }

 private:
  void check_ids(const int32_t* ids, size_t count) const;

  std::unique_ptr<TokenizerBackend> backend_;
  std::string model_path_, model_md5_;
  std::vector<int32_t> prefix_, suffix_;
  int vocab_size_ = 0, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}  // namespace loom::data
