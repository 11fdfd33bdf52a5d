// The `pattern` of tokenizer.json's Split pre-tokenizer and Replace normalizer/decoder: {"String": s}
// (the literal text) or {"Regex": r}, matched as tokenizers matches it (leftmost-first alternation,
// Unicode properties, \s and \w on Unicode). Regexes go through PCRE2 (UTF + UCP mode, JIT when
// available): std::regex has no \p{L} and no Unicode classes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

class TextPattern {
 public:
  // `pattern` as it appears in tokenizer.json; errors name `where` (the file and key).
  TextPattern(const nlohmann::json& pattern, const std::string& where);
  // A literal string.
  explicit TextPattern(std::string literal);
  ~TextPattern();
  TextPattern(TextPattern&&) noexcept;
  TextPattern& operator=(TextPattern&&) noexcept;

  // The [begin, end) byte ranges of the non-overlapping non-empty matches in valid UTF-8 `text`,
  // left to right; after an empty match the search goes on one character further.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // `text` with every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  struct Compiled;
  std::string literal_;                 // used when compiled_ is null
  std::unique_ptr<Compiled> compiled_;  // the PCRE2 code of a Regex pattern
};

}  // namespace loom::data
