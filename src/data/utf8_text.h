// UTF-8 helpers of the tokenizers: malformed input replaced as Python's bytes.decode("utf-8",
// "replace") and Rust's String::from_utf8_lossy do (one U+FFFD per maximal ill-formed subpart, the
// Unicode recommendation), and the length of the character at a position.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loom::data {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 sequence at text[at], or 0 when none starts there.
size_t utf8_sequence_length(std::string_view text, size_t at);

// Whether `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// `bytes` with every maximal ill-formed subpart replaced by U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// The UTF-8 encoding of a code point (no surrogates; below 0x110000).
std::string utf8_encode(uint32_t code_point);

// The code point of the well-formed character at text[at] (length from utf8_sequence_length).
uint32_t utf8_decode_at(std::string_view text, size_t at, size_t length);

}  // namespace loom::data
