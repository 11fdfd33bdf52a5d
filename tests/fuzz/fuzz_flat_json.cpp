// loom-prep's JSON Lines record parser against nlohmann::json on arbitrary lines: no crash on
// any bytes, and on valid UTF-8 the same decision and the same top-level members, except
// where src/data/flat_json.h documents that it follows RFC 8259 instead (a NUL byte is never
// valid; a number too large for a double is valid).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "data/flat_json.h"
#include "fuzz/fuzz_support.h"

using loom::fuzz::finding;
using loom::fuzz::valid_utf8;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  loom::data::FlatJsonObject flat;
  size_t column = 0;
  const bool flat_ok = flat.parse(line, &column);
  if (!flat_ok && (column < 1 || column > size + 1)) finding("error column outside the line");
  if (line.find('\0') != std::string::npos) {
    if (flat_ok) finding("a line with a NUL byte parsed");
    return 0;
  }
  if (!valid_utf8(line)) return 0;  // loom-prep rejects such lines before parsing them

  nlohmann::json reference;
  try {
    reference = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error&) {
    if (flat_ok) finding("parsed a line nlohmann rejects");
    return 0;
  } catch (const nlohmann::json::out_of_range& e) {
    if (e.id != 406) throw;
    return 0;  // a number beyond a double: nlohmann refuses it, RFC 8259's grammar allows it
  }
  if (!flat_ok) finding("rejected a line nlohmann parses, at column " + std::to_string(column));
  if (reference.is_object() != flat.is_object()) finding("is_object differs");
  if (!reference.is_object()) return 0;
  for (const auto& [key, value] : reference.items()) {
    const loom::data::JsonMember* member = flat.find(key);
    if (!member) finding("member missing: " + key);
    using Kind = loom::data::JsonMember::Kind;
    const Kind expected = value.is_string() ? Kind::string : value.is_null() ? Kind::null : Kind::other;
    if (member->kind != expected) finding("member kind differs: " + key);
    if (expected == Kind::string && member->text != value.get<std::string>()) finding("string differs: " + key);
  }
  return 0;
}
