// loom-prep's record parser against nlohmann::json on the same lines: the same accept/reject
// decision, the same top-level members with the same decoded strings, on a table of edge
// cases and on every line of the HH-RLHF file; and the two kinds of line where it follows
// RFC 8259 instead (a NUL byte, a number beyond a double: src/data/flat_json.h).
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
      R"({"a": "ends in a backslash\)",
      R"({"a": "ends in an escape \u12)",
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

// The two kinds of line where loom follows RFC 8259 and nlohmann does not (flat_json.h).
TEST(PrepFlatJson, RejectsEveryNulByteUnlikeNlohmann) {
  using namespace std::string_literals;
  struct Case {
    std::string line;
    size_t nul_column;  // 1-based
    bool nlohmann_accepts;
  };
  const std::vector<Case> cases = {
      {"{\"a\": \"x\"}\0"s, 11, true},
      {"{\"a\": \"x\"}\0 {trailing junk"s, 11, true},
      {"{\"a\": \"x\"} \0"s, 12, true},
      {"\0"s, 1, false},
      {"{\"a\": \"x\0\"}"s, 9, false},
      {"{\"a\":\0 \"x\"}"s, 6, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.line));
    FlatJsonObject flat;
    size_t column = 0;
    EXPECT_FALSE(flat.parse(c.line, &column));
    EXPECT_EQ(c.nul_column, column);
    EXPECT_EQ(c.nlohmann_accepts, nlohmann::json::accept(c.line));
  }
}

TEST(PrepFlatJson, AcceptsNumbersBeyondADoubleUnlikeNlohmann) {
  const std::vector<std::string> lines = {
      R"({"big": 1e999, "text": "kept"})",
      R"({"text": "kept", "neg": -1e999})",
      R"({"text": "kept", "deep": [0, {"x": 2.5E+400}]})",
      "{\"text\": \"kept\", \"digits\": 1" + std::string(400, '0') + "}",
  };
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    FlatJsonObject flat;
    size_t column = 0;
    ASSERT_TRUE(flat.parse(line, &column)) << "column " << column;
    ASSERT_TRUE(flat.is_object());
    ASSERT_NE(nullptr, flat.find("text"));
    EXPECT_EQ("kept", flat.find("text")->text);
    try {
      const nlohmann::json parsed = nlohmann::json::parse(line);
      ADD_FAILURE() << "nlohmann parsed it: " << parsed.dump();
    } catch (const nlohmann::json::out_of_range& e) {
      EXPECT_EQ(406, e.id);  // number overflow
    }
  }
  // Out of range is not out of grammar: the malformed numbers stay errors at any size.
  for (const char* bad : {R"({"a": 1e999e1})", R"({"a": 01e999})", R"({"a": 1e+})", R"({"a": .1e999})"}) {
    FlatJsonObject flat;
    size_t column = 0;
    EXPECT_FALSE(flat.parse(bad, &column)) << bad;
  }
}

TEST(PrepFlatJson, ReportsWhereItStopped) {
  FlatJsonObject flat;
  size_t column = 0;
  const std::string open = R"({"text": "no closing brace")";
  EXPECT_FALSE(flat.parse(open, &column));
  EXPECT_EQ(open.size() + 1, column);  // one past the end: the line ended inside the object
  const std::string backslash = R"({"text": "ends in a backslash\)";
  EXPECT_FALSE(flat.parse(backslash, &column));
  EXPECT_EQ(backslash.size() + 1, column);
  EXPECT_FALSE(flat.parse(R"({"a": 1 x})", &column));
  EXPECT_EQ(9u, column);  // at the x
  EXPECT_FALSE(flat.is_object());
}

}  // namespace
}  // namespace loom::data
