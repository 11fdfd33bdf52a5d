#include "data/utf8_text.h"

namespace loom::data {

namespace {

// How many bytes a sequence led by `lead` has, and the range its second byte must lie in
// (Unicode Table 3-7, which rules out overlongs, surrogates and code points past U+10FFFF).
struct LeadRule {
  int length;
  unsigned char second_low, second_high;
};

LeadRule lead_rule(unsigned char lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead >= 0xC2 && lead <= 0xDF) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) return {3, 0x80, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// The number of bytes at text[at] that start a well-formed sequence (the whole sequence when it
// is complete, else the length of the maximal ill-formed subpart, at least 1).
size_t valid_prefix(std::string_view text, size_t at, bool* complete) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const LeadRule rule = lead_rule(byte(at));
  *complete = false;
  if (rule.length == 0) return 1;
  if (rule.length == 1) {
    *complete = true;
    return 1;
  }
  size_t n = 1;
  if (at + n >= text.size() || byte(at + n) < rule.second_low || byte(at + n) > rule.second_high) return n;
  for (++n; n < size_t(rule.length); ++n)
    if (at + n >= text.size() || byte(at + n) < 0x80 || byte(at + n) > 0xBF) return n;
  *complete = true;
  return n;
}

}  // namespace

size_t utf8_sequence_length(std::string_view text, size_t at) {
  bool complete = false;
  const size_t n = valid_prefix(text, at, &complete);
  return complete ? n : 0;
}

bool is_valid_utf8(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    if (static_cast<unsigned char>(text[at]) < 0x80) {
      ++at;
      continue;
    }
    const size_t n = utf8_sequence_length(text, at);
    if (n == 0) return false;
    at += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  for (size_t at = 0; at < bytes.size();) {
    bool complete = false;
    const size_t n = valid_prefix(bytes, at, &complete);
    if (complete) out.append(bytes.substr(at, n));
    else out.append(kReplacementCharacter);
    at += n;
  }
  return out;
}

std::string utf8_encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
  return out;
}

uint32_t utf8_decode_at(std::string_view text, size_t at, size_t length) {
  const auto byte = [&](size_t i) { return uint32_t(static_cast<unsigned char>(text[at + i])); };
  switch (length) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default: return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
}

}  // namespace loom::data
