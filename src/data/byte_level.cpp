#include "data/byte_level.h"

#include <array>
#include <unordered_map>

#include "data/utf8_text.h"

namespace loom::data {

namespace {

struct Alphabet {
  std::array<std::string, 256> chars;
  std::unordered_map<uint32_t, unsigned char> bytes;  // code point -> byte

  Alphabet() {
    const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? uint32_t(b) : next++;
      chars[size_t(b)] = utf8_encode(cp);
      bytes[cp] = static_cast<unsigned char>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

const std::string& byte_level_char(unsigned char byte) { return alphabet().chars[byte]; }

void append_byte_level(std::string_view text, std::string* out) {
  const Alphabet& a = alphabet();
  for (char c : text) out->append(a.chars[static_cast<unsigned char>(c)]);
}

bool bytes_of_byte_level(std::string_view token, std::string* out) {
  const Alphabet& a = alphabet();
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t at = 0; at < token.size();) {
    const size_t n = utf8_sequence_length(token, at);
    if (n == 0) return false;
    const auto it = a.bytes.find(utf8_decode_at(token, at, n));
    if (it == a.bytes.end()) return false;
    bytes += static_cast<char>(it->second);
    at += n;
  }
  out->append(bytes);
  return true;
}

}  // namespace loom::data
