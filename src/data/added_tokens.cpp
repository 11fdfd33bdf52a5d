#include "data/added_tokens.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/utf8_text.h"

namespace loom::data {

namespace {

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// The character ending at text[end) (valid UTF-8), as (start, code point).
std::pair<size_t, uint32_t> char_before(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return {start, utf8_decode_at(text, start, end - start)};
}

bool flag(const nlohmann::json& token, const char* key, bool fallback, const std::string& where) {
  if (!token.contains(key) || token[key].is_null()) return fallback;
  LOOM_REQUIRE(token[key].is_boolean(), where, ".", key, ": expected true or false");
  return token[key].get<bool>();
}

}  // namespace

AddedTokens::AddedTokens(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return;
  LOOM_REQUIRE(spec.is_array(), where, ": expected an array");
  for (size_t i = 0; i < spec.size(); ++i) {
    const nlohmann::json& t = spec[i];
    const std::string at = cat(where, "[", i, "]");
    LOOM_REQUIRE(t.is_object() && t.contains("id") && t["id"].is_number_unsigned() && t.contains("content") &&
                     t["content"].is_string() && !t["content"].get<std::string>().empty(),
                 at, ": expected an object with an id and a non-empty content");
    AddedToken& token = tokens_.emplace_back();  // built in place (the constructor throws whole)
    token.id = static_cast<int32_t>(t["id"].get<uint32_t>());
    token.content = t["content"].get<std::string>();
    token.special = flag(t, "special", false, at);
    token.lstrip = flag(t, "lstrip", false, at);
    token.rstrip = flag(t, "rstrip", false, at);
    token.normalized = flag(t, "normalized", !token.special, at);
    LOOM_REQUIRE(!flag(t, "single_word", false, at), at, ".single_word: unsupported (loom reads added tokens without it)");
    by_id_[token.id] = tokens_.size() - 1;
    by_content_[token.content] = tokens_.size() - 1;
    id_end_ = std::max(id_end_, token.id + 1);
  }
  for (size_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[tokens_[i].normalized][static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  // Longest first; among equal lengths, file order (the index breaks ties: a total order).
  for (auto& group : by_first_byte_)
    for (auto& list : group)
      std::sort(list.begin(), list.end(), [&](size_t a, size_t b) {
        const size_t la = tokens_[a].content.size(), lb = tokens_[b].content.size();
        return la != lb ? la > lb : a < b;
      });
}

std::vector<TextSegment> AddedTokens::split(std::string_view text, bool normalized) const {
  std::vector<TextSegment> segments;
  const auto& first_byte = by_first_byte_[normalized];
  size_t copied = 0;  // text before this is in `segments`
  for (size_t at = 0; at < text.size();) {
    const AddedToken* match = nullptr;
    for (size_t i : first_byte[static_cast<unsigned char>(text[at])])
      if (text.compare(at, tokens_[i].content.size(), tokens_[i].content) == 0) {
        match = &tokens_[i];  // the longest, as the list is longest first
        break;
      }
    if (match == nullptr) {
      ++at;
      continue;
    }
    size_t begin = at, end = at + match->content.size();
    if (match->lstrip)
      while (begin > copied) {
        const auto [start, c] = char_before(text, begin);
        if (!is_whitespace(c)) break;
        begin = start;
      }
    if (match->rstrip)
      while (end < text.size()) {
        const size_t n = std::max<size_t>(1, utf8_sequence_length(text, end));
        if (!is_whitespace(utf8_decode_at(text, end, n))) break;
        end += n;
      }
    if (begin > copied) segments.push_back({copied, begin, -1});
    segments.push_back({begin, end, match->id});
    copied = at = end;
  }
  if (copied < text.size()) segments.push_back({copied, text.size(), -1});
  return segments;
}

const AddedToken* AddedTokens::by_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

int32_t AddedTokens::id_of(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? -1 : tokens_[it->second].id;
}

}  // namespace loom::data
