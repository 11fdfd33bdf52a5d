// GPT-2's byte-level alphabet (bytes_to_unicode): each of the 256 bytes as a printable character,
// so that byte-level BPE pieces are strings. Printable Latin-1 bytes stand for themselves; the
// others become U+0100 onwards in byte order (a space is "Ġ", a newline "Ċ").
#pragma once

#include <string>
#include <string_view>

namespace loom::data {

// The UTF-8 text of the character that stands for `byte`.
const std::string& byte_level_char(unsigned char byte);

// Appends the byte-level characters of every byte of `text`.
void append_byte_level(std::string_view text, std::string* out);

// The bytes `token` stands for, or false (out untouched) when some character of it is not in the
// alphabet.
bool bytes_of_byte_level(std::string_view token, std::string* out);

}  // namespace loom::data
