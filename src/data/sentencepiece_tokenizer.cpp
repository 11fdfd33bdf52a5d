#include "data/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/check.h"
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

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& serialized, const std::string& path)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(path) {
  const auto status = processor_->LoadFromSerializedProto(serialized);
  LOOM_REQUIRE(status.ok(), path, ": cannot load tokenizer (", status.ToString(), ")");
  LOOM_REQUIRE(processor_->bos_id() >= 0 && processor_->eos_id() >= 0, path, ": tokenizer has no BOS or EOS piece");
  if (encodable_by_words(read_sentencepiece_settings(serialized, path), *processor_))
    word_cache_ = std::make_unique<WordCache>(kCachedWords);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }
int SentencePieceTokenizer::pad_id() const { return processor_->pad_id(); }

int SentencePieceTokenizer::token_id(std::string_view token) const {
  const int id = processor_->PieceToId(absl::string_view(token.data(), token.size()));
  return id >= 0 && processor_->IdToPiece(id) == token ? id : -1;  // PieceToId answers unknown pieces with <unk>
}

std::string SentencePieceTokenizer::token_text(int id) const { return processor_->IdToPiece(id); }

void SentencePieceTokenizer::append_whole_ids(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  LOOM_REQUIRE(status.ok(), path_, ": cannot encode text (", status.ToString(), ")");
  out->insert(out->end(), ids.begin(), ids.end());
}

void SentencePieceTokenizer::append_word_ids(std::string_view text, std::vector<int32_t>* out) const {
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
      append_whole_ids(word.substr(1), out);
      word_cache_->insert(word, out->data() + before, out->size() - before);
    }
    start = end;
  }
}

void SentencePieceTokenizer::append_ids(std::string_view text, std::vector<int32_t>* out) const {
  if (word_cache_) append_word_ids(text, out);
  else append_whole_ids(text, out);
}

std::string SentencePieceTokenizer::decode(const int32_t* ids, size_t count, bool skip_special) const {
  std::vector<int> kept;
  kept.reserve(count);
  for (size_t i = 0; i < count; ++i)
    if (!(skip_special && (processor_->IsControl(ids[i]) || processor_->IsUnknown(ids[i])))) kept.push_back(ids[i]);
  std::string text;
  const auto status = processor_->Decode(kept, &text);
  LOOM_REQUIRE(status.ok(), path_, ": cannot decode ids (", status.ToString(), ")");
  return text;
}

}  // namespace loom::data
