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

#include "data/sentencepiece_tokenizer.h"
#include "data/tokenizer.h"
#include "fuzz/fuzz_support.h"
#include "io/json_file.h"

namespace {

using loom::fuzz::finding;

constexpr const char* kTokenizerFiles[] = {
    "data/llama2-tokenizer/tokenizer.model",  // SentencePiece BPE, encoded word by word
};

// A tokenizer, and for a tokenizer.model its SentencePiece implementation alone (the whole-text
// reference of the word-by-word encoding).
struct Subject {
  std::unique_ptr<loom::data::Tokenizer> tokenizer;
  std::unique_ptr<loom::data::SentencePieceTokenizer> sentencepiece;
};

std::vector<Subject> open_tokenizers() {
  const char* env = std::getenv("LOOM_SHARED_DIR");
  const std::string shared = env && *env ? env : LOOM_FUZZ_SHARED_DIR;
  std::vector<Subject> subjects;
  for (const char* file : kTokenizerFiles) {
    const std::string path = shared + "/" + file;
    Subject s{std::make_unique<loom::data::Tokenizer>(path), nullptr};
    if (std::string_view(file).ends_with(".model"))
      s.sentencepiece = std::make_unique<loom::data::SentencePieceTokenizer>(loom::read_text_file(path), path);
    subjects.push_back(std::move(s));
  }
  return subjects;
}

void check(const Subject& subject, std::string_view text, const uint8_t* data, size_t size) {
  const loom::data::Tokenizer& tokenizer = *subject.tokenizer;
  const std::string name = tokenizer.model_path();
  const std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.empty() || ids[0] != tokenizer.bos_id()) finding(name + ": encode does not start with BOS");
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer.vocab_size()) finding(name + ": id outside the vocabulary");
  if (subject.sentencepiece && loom::fuzz::valid_utf8(text)) {
    std::vector<int32_t> whole = {tokenizer.bos_id()};
    subject.sentencepiece->append_whole_ids(text, &whole);
    if (whole != ids) finding(name + ": word-by-word encoding differs from the whole-text encoding");
  }
  (void)tokenizer.decode(ids.data(), ids.size());

  // The input read as ids, each folded into the vocabulary.
  std::vector<int32_t> any_ids(size / 4);
  if (!any_ids.empty()) std::memcpy(any_ids.data(), data, any_ids.size() * 4);
  for (int32_t& id : any_ids) id = static_cast<int32_t>(static_cast<uint32_t>(id) % tokenizer.vocab_size());
  (void)tokenizer.decode(any_ids.data(), any_ids.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Subject> subjects = open_tokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Subject& subject : subjects) check(subject, text, data, size);
  return 0;
}
