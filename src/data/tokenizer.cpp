#include "data/tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "core/check.h"
#include "data/md5.h"
#include "data/sentencepiece_settings.h"
#include "data/word_cache.h"

namespace loom::data {

// Encoding word by word.
//
// With an identity normalizer, a dummy prefix, and whitespace escaped (and kept as it is),
// SentencePiece encodes the string "▁" + text, every ' ' replaced by "▁" (U+2581), each other
// character as it is (a malformed UTF-8 byte becomes U+FFFD on its own). BPE starts from single
// characters and merges two neighbouring symbols only when their concatenation is a piece; byte
// fallback and the re-splitting of unused pieces act on one symbol at a time. So when no piece holds
// "▁" after a character other than "▁", no symbol ever spans a point where "▁" follows such a
// character, and the ids of the whole string are the ids of the parts between those points, each
// encoded alone, one after the other.
//
// A word is therefore a run of spaces and what follows up to the next such run; the text's first
// word (with the spaces it may start with) is read with the dummy prefix as its leading space. A word
// " xyz" is encoded as SentencePiece encodes "xyz" (whose dummy prefix is the word's first space), and
// its ids are cached under " xyz". Splitting at fewer points is always right too, so points that would
// need care are simply not used: spaces after a literal "▁" in the text, and trailing spaces (which
// stay with the word before them, as a word of spaces alone would be encoded from an empty string).

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁", U+2581
constexpr size_t kCachedWords = size_t{1} << 18;

// Whether some piece holds "▁" right after a character other than "▁".
bool pieces_join_words(const sentencepiece::SentencePieceProcessor& processor) {
  for (int id = 0; id < processor.GetPieceSize(); ++id) {
    const std::string& piece = processor.IdToPiece(id);
    for (size_t at = piece.find(kSpaceSymbol, 1); at != std::string::npos; at = piece.find(kSpaceSymbol, at + 1))
      if (piece.compare(at - kSpaceSymbol.size(), kSpaceSymbol.size(), kSpaceSymbol) != 0) return true;
  }
  return false;
}

bool encodable_by_words(const SentencePieceSettings& settings,
                        const sentencepiece::SentencePieceProcessor& processor) {
  return settings.bpe && settings.identity_normalizer && settings.add_dummy_prefix &&
         !settings.remove_extra_whitespaces && settings.escape_whitespaces && !settings.treat_whitespace_as_suffix &&
         !settings.has_user_defined_pieces && !pieces_join_words(processor);
}

// The end of the word that starts at `start` (see above).
size_t word_end(std::string_view text, size_t start) {
  size_t at = text.find_first_not_of(' ', start);
  while (at != std::string_view::npos) {
    at = text.find(' ', at);  // a space after a character other than a space
    if (at == std::string_view::npos) return text.size();
    const size_t spaces_end = text.find_first_not_of(' ', at);
    if (spaces_end == std::string_view::npos) return text.size();
    if (!text.substr(0, at).ends_with(kSpaceSymbol)) return at;
    at = spaces_end;
  }
  return text.size();
}

}  // namespace

Tokenizer::Tokenizer(const std::string& model_path)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), model_path_(model_path) {
  std::ifstream in(model_path, std::ios::binary);
  LOOM_REQUIRE(in, model_path, ": cannot load tokenizer (file cannot be opened)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string serialized = bytes.str();
  const auto status = processor_->LoadFromSerializedProto(serialized);
  LOOM_REQUIRE(status.ok(), model_path, ": cannot load tokenizer (", status.ToString(), ")");
  model_md5_ = md5_hex(serialized);
  vocab_size_ = processor_->GetPieceSize();
  bos_id_ = processor_->bos_id();
  eos_id_ = processor_->eos_id();
  pad_id_ = processor_->pad_id();
  LOOM_REQUIRE(bos_id_ >= 0 && eos_id_ >= 0, model_path, ": tokenizer has no BOS or EOS piece");
  if (encodable_by_words(read_sentencepiece_settings(serialized, model_path), *processor_))
    word_cache_ = std::make_unique<WordCache>(kCachedWords);
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::append_processor_ids(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  LOOM_REQUIRE(status.ok(), model_path_, ": cannot encode text (", status.ToString(), ")");
  out->insert(out->end(), ids.begin(), ids.end());
}

void Tokenizer::append_word_ids(std::string_view text, std::vector<int32_t>* out) const {
  std::string first_word;
  for (size_t start = 0; start < text.size();) {
    const size_t end = word_end(text, start);
    std::string_view word = text.substr(start, end - start);
    if (start == 0) {
      first_word.reserve(word.size() + 1);
      first_word.append(1, ' ').append(word);
      word = first_word;
    }
    if (!word_cache_->append_ids(word, out)) {
      const size_t before = out->size();
      append_processor_ids(word.substr(1), out);
      word_cache_->insert(word, out->data() + before, out->size() - before);
    }
    start = end;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  if (!word_cache_) return encode_whole(text, add_bos);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) out.push_back(bos_id_);
  append_word_ids(text, &out);
  return out;
}

std::vector<int32_t> Tokenizer::encode_whole(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) out.push_back(bos_id_);
  append_processor_ids(text, &out);
  return out;
}

std::string Tokenizer::decode(const int32_t* ids, size_t count) const {
  std::vector<int> kept;
  kept.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const int id = ids[i];
    if (id == bos_id_ || id == eos_id_ || id == pad_id_) continue;
    LOOM_REQUIRE(id >= 0 && id < vocab_size_, model_path_, ": token id ", id, " is outside the vocabulary of ",
                 vocab_size_);
    kept.push_back(id);
  }
  std::string text;
  const auto status = processor_->Decode(kept, &text);
  LOOM_REQUIRE(status.ok(), model_path_, ": cannot decode ids (", status.ToString(), ")");
  return text;
}

}  // namespace loom::data
