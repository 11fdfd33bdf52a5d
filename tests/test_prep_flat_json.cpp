// loom-prep's record parser against nlohmann::json on the same lines: the same accept/reject
// decision, the same top-level members with the same decoded strings, on a table of edge
// cases and on every line of the HH-RLHF file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/flat_json.h"
#include "support/test_support.h"

namespace loom::data {
namespace {

// Parses `line` both ways and compares everything the templates can read.
void expect_same_as_nlohmann(const std::string& line) {
  SCOPED_TRACE("line: " + line);
  FlatJsonObject flat;
  size_t column = 0;
  const bool flat_ok = flat.parse(line, &column);
  nlohmann::json reference;
  bool reference_ok = true;
  try {
    reference = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error&) {
    reference_ok = false;
  }
  ASSERT_EQ(reference_ok, flat_ok);
  if (!flat_ok) {
    EXPECT_GE(column, 1u);
    EXPECT_LE(column, line.size() + 1);
    return;
  }
  ASSERT_EQ(reference.is_object(), flat.is_object());
  if (!reference.is_object()) return;
  for (const auto& [key, value] : reference.items()) {
    const JsonMember* member = flat.find(key);
    ASSERT_NE(nullptr, member) << "member " << key;
    if (value.is_string()) {
      ASSERT_EQ(JsonMember::Kind::string, member->kind) << key;
      EXPECT_EQ(value.get<std::string>(), member->text) << key;
    } else {
      EXPECT_EQ(value.is_null() ? JsonMember::Kind::null : JsonMember::Kind::other, member->kind) << key;
    }
  }
  EXPECT_EQ(nullptr, flat.find("no such member"));
}

TEST(PrepFlatJson, AgreesWithNlohmannOnEdgeCases) {
  const std::vector<std::string> lines = {
      R"({"text": "plain"})",
      R"({})",
      R"(  { "a" : "x" , "b":"y" }  )",
      "\t{\r\n\"a\":\"x\"}\n",
      R"({"q": "a \"quoted\" word", "p": "back\\slash \/ slash"})",
      R"({"e": "\b\f\n\r\t"})",
      R"({"u": "\u00e9\u4e2d\u0041\u0000 nul"})",
      R"({"pair": "\ud83d\ude00 smile"})",
      R"({"lone_high": "\ud83d x"})",
      R"({"lone_low": "\ude00"})",
      R"({"high_then_other": "\ud83d\u0041"})",
      R"({"bad_hex": "\u12g4"})",
      R"({"short_hex": "\u12"})",
      R"({"bad_escape": "\x41"})",
      "{\"raw_control\": \"a\tb\"}",
      "{\"raw_newline\": \"a\nb\"}",
      "{\"del\": \"a\x7f b\"}",
      R"({"n": 0, "m": -1.5e+10, "k": 2E-3, "z": -0})",
      R"({"lead_zero": 01})",
      R"({"dot": 1.})",
      R"({"exp": 1e})",
      R"({"minus": -})",
      R"({"plus": +1})",
      R"({"t": true, "f": false, "n": null})",
      R"({"tru": tru})",
      R"({"nul": nul})",
      R"({"nested": {"a": [1, {"b": [[], {}]}, "s"], "c": {}}, "text": "after"})",
      R"({"arr": [1, 2,]})",
      R"({"obj": {"a": 1,}})",
      R"({"obj": {"a" 1}})",
      R"({"unclosed": [1, 2)",
      R"({"unclosed": {"a": [{}])",
      R"({"a": "x",})",
      R"({"a": "x" "b": "y"})",
      R"({"a": "x"} trailing)",
      R"({"a": "x"}})",
      R"({"a": "unterminated)",
      R"({a: "x"})",
      R"({"a": 'x'})",
      R"({"dup": "first", "dup": "second"})",
      R"({"dup": "first", "dup": 3})",
      R"({"chosen": null, "text": "x"})",
      R"(["not", "an", "object"])",
      R"("just a string")",
      R"(42)",
      R"(null)",
      R"()",
      R"(   )",
      R"({)",
      R"(})",
      R"({"k": "v"}{"k": "v"})",
      R"({"": "empty key"})",
      R"({"text": "ünïcödé ✓ 𝄞 raw UTF-8"})",
  };
  for (const std::string& line : lines) expect_same_as_nlohmann(line);
}

TEST(PrepFlatJson, AgreesWithNlohmannOnEveryHhLine) {
  const std::vector<std::string> lines = test::hh_jsonl_lines(1 << 20);
  ASSERT_EQ(2312u, lines.size());
  for (const std::string& line : lines) expect_same_as_nlohmann(line);
}

TEST(PrepFlatJson, ReportsWhereItStopped) {
  FlatJsonObject flat;
  size_t column = 0;
  const std::string open = R"({"text": "no closing brace")";
  EXPECT_FALSE(flat.parse(open, &column));
  EXPECT_EQ(open.size() + 1, column);  // one past the end: the line ended inside the object
  EXPECT_FALSE(flat.parse(R"({"a": 1 x})", &column));
  EXPECT_EQ(9u, column);  // at the x
  EXPECT_FALSE(flat.is_object());
}

}  // namespace
}  // namespace loom::data
