// tokenizer.json's "added_tokens" (special tokens such as <|im_start|> or </s>, and any others):
// found in the text before the model sees it and never split, as tokenizers' AddedVocabulary does:
// leftmost-longest matches, lstrip/rstrip taking the whitespace beside a match along, tokens with
// "normalized": false matched in the raw text and the others in the normalized text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool lstrip = false, rstrip = false, normalized = false, special = false;
};

// A run of text: an added token's id, or -1 for text between tokens.
struct TextSegment {
  size_t begin, end;
  int32_t token_id;
};

class AddedTokens {
 public:
  // `spec` is tokenizer.json's "added_tokens" (null or an array); `where` names the file and key.
  AddedTokens(const nlohmann::json& spec, const std::string& where);

  // `text` cut into tokens and the text between them; `normalized` picks the tokens matched in
  // normalized text (true) or in the raw text (false). Empty runs of text are left out.
  std::vector<TextSegment> split(std::string_view text, bool normalized) const;

  // The token with this id, or null.
  const AddedToken* by_id(int32_t id) const;
  // The id of a token's content, or -1.
  int32_t id_of(std::string_view content) const;
  // One more than the largest id (0 when there are none).
  int32_t id_end() const { return id_end_; }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  // For each first byte, the tokens starting with it, longest first, per group (raw, normalized).
  std::vector<size_t> by_first_byte_[2][256];
  int32_t id_end_ = 0;
};

}  // namespace loom::data
