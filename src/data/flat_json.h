// One JSON Lines record, parsed for what the templates read: the top-level members of an
// object, with string values decoded to UTF-8 and every other value (numbers, true/false,
// arrays, nested objects) checked against the JSON grammar and skipped without being built.
// It costs a fraction of a full JSON parser's time (the general parser's lexer and its
// char-by-char string building were a quarter of `loom-prep`'s time).
//
// Which lines parse: exactly those RFC 8259's grammar allows. That is what nlohmann::json
// decides too, on every line but two kinds, where loom follows the RFC (as Python's json
// module does) and nlohmann does not:
//  - a NUL byte is invalid anywhere: it is neither whitespace nor allowed raw in a string.
//    nlohmann takes a NUL outside a string as the end of the input and parses
//    `{"a": "x"}<NUL>anything`.
//  - a number is valid whatever its magnitude (RFC 8259 section 6 lets a parser limit the
//    range; loom never builds numbers, the templates read strings). nlohmann refuses a number
//    that overflows a double, such as 1e999, with "number overflow".
// tests/test_prep_flat_json.cpp holds both the agreement and these two differences;
// tests/fuzz/fuzz_flat_json.cpp checks them on arbitrary lines.
// The input must already be valid UTF-8 (loom-prep checks each line first).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loom::data {

struct JsonMember {
  enum class Kind { string, null, other };
  Kind kind = Kind::other;
  std::string text;  // the decoded value when kind == string
};

class FlatJsonObject {
 public:
  // False for malformed JSON, with *error_column the 1-based byte where parsing stopped. A
  // valid JSON value that is not an object parses, with is_object() false.
  bool parse(std::string_view line, size_t* error_column);

  bool is_object() const { return is_object_; }
  // The member named key (the last one when a key repeats, as nlohmann keeps), or nullptr.
  const JsonMember* find(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, JsonMember>> members_;
  bool is_object_ = false;
};

}  // namespace loom::data
