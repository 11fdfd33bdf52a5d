// The tokenizers on arbitrary bytes: encode never fails or crashes, gives ids inside the
// vocabulary with BOS first, equals SentencePiece's whole-text encoding on the UTF-8 text
// loom-prep lets through, and decode takes any ids inside the vocabulary.
// Each tokenizer file in kTokenizerFiles (under ../shared, LOOM_SHARED_DIR at build time or in
// the environment) gets every input; a new kind of tokenizer is one more line there.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer.h"
#include "fuzz/fuzz_support.h"

namespace {

using loom::fuzz::finding;

constexpr const char* kTokenizerFiles[] = {
    "data/llama2-tokenizer/tokenizer.model",  // SentencePiece BPE, encoded word by word
};

std::vector<std::unique_ptr<loom::data::Tokenizer>> open_tokenizers() {
  const char* env = std::getenv("LOOM_SHARED_DIR");
  const std::string shared = env && *env ? env : LOOM_FUZZ_SHARED_DIR;
  std::vector<std::unique_ptr<loom::data::Tokenizer>> tokenizers;
  for (const char* file : kTokenizerFiles)
    tokenizers.push_back(std::make_unique<loom::data::Tokenizer>(shared + "/" + file));
  return tokenizers;
}

void check(const loom::data::Tokenizer& tokenizer, std::string_view text, const uint8_t* data, size_t size) {
  const std::string name = tokenizer.model_path();
  const std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.empty() || ids[0] != tokenizer.bos_id()) finding(name + ": encode does not start with BOS");
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer.vocab_size()) finding(name + ": id outside the vocabulary");
  if (loom::fuzz::valid_utf8(text) && tokenizer.encode_whole(text) != ids)
    finding(name + ": word-by-word encoding differs from the whole-text encoding");
  (void)tokenizer.decode(ids.data(), ids.size());

  // The input read as ids, each folded into the vocabulary.
  std::vector<int32_t> any_ids(size / 4);
  if (!any_ids.empty()) std::memcpy(any_ids.data(), data, any_ids.size() * 4);
  for (int32_t& id : any_ids) id = static_cast<int32_t>(static_cast<uint32_t>(id) % tokenizer.vocab_size());
  (void)tokenizer.decode(any_ids.data(), any_ids.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<loom::data::Tokenizer>> tokenizers = open_tokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& tokenizer : tokenizers) check(*tokenizer, text, data, size);
  return 0;
}
