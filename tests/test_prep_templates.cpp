// Templates and per-kind tokenization: prompt/completion split, loss-mask boundary, pair
// truncation from the left of the prompt, identical pairs, prompt truncation, empty and too-long records.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/flat_json.h"
#include "data/records.h"
#include "data/templates.h"
#include "support/test_support.h"

namespace {

using loom::data::Example;
using loom::data::FlatJsonObject;
using loom::data::RecordError;
using loom::data::Template;
using nlohmann::json;

// The record as a JSON Lines line, parsed the way loom-prep parses it.
FlatJsonObject record(const json& object) {
  FlatJsonObject parsed;
  size_t column = 0;
  EXPECT_TRUE(parsed.parse(object.dump(), &column)) << object.dump();
  return parsed;
}

Example apply(const Template& t, const json& object, bool want_rejected = false) {
  Example example;
  RecordError error;
  EXPECT_TRUE(t.apply(record(object), want_rejected, &example, &error)) << error.message;
  return example;
}

TEST(PrepTemplates, StackLlama) {
  const Template t("stackllama", "text", "rejected");
  const Example e = apply(t, {{"question", "Why?"}, {"response_j", "Because."}, {"response_k", "No."}}, true);
  EXPECT_EQ(e.prompt, "Question: Why?\n\nAnswer: ");
  EXPECT_EQ(e.completion, "Because.");
  EXPECT_EQ(e.rejected, "No.");
  EXPECT_EQ(e.text(), "Question: Why?\n\nAnswer: Because.");
}

TEST(PrepTemplates, Guanaco) {
  const Template t("guanaco", "text", "rejected");
  const Example e = apply(t, {{"prompt", "Hi"}, {"completion", "Hello!"}});
  EXPECT_EQ(e.text(), "### Human: Hi ### Assistant: Hello!");
  EXPECT_EQ(e.prompt, "### Human: Hi ### Assistant: ");
}

TEST(PrepTemplates, HhVerbatimWithCommonPrefixPrompt) {
  const Template t("hh", "text", "rejected");
  const std::string prompt = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\n\nAssistant:";
  const Example e = apply(t, {{"chosen", prompt + " Goodbye."}, {"rejected", prompt + " Whatever."}}, true);
  EXPECT_EQ(e.prompt, prompt);
  EXPECT_EQ(e.completion, " Goodbye.");
  EXPECT_EQ(e.rejected, " Whatever.");
  EXPECT_EQ(e.text(), prompt + " Goodbye.");
  // A chosen answer that itself holds an Assistant tag: the prompt still ends where the two differ.
  const Example tricky = apply(t, {{"chosen", prompt + " A\n\nAssistant: B"}, {"rejected", prompt + " C"}}, true);
  EXPECT_EQ(tricky.prompt, prompt);
}

TEST(PrepTemplates, TextFieldAndUserTemplate) {
  const Template text("text", "body", "rejected");
  EXPECT_FALSE(text.has_prompt());
  EXPECT_EQ(apply(text, {{"body", "plain"}}).completion, "plain");
  const Template user("Q: {q}\nA: {a}", "text", "worse");
  EXPECT_TRUE(user.has_prompt());
  const Example e = apply(user, {{"q", "2+2?"}, {"a", "4"}, {"worse", "5"}}, true);
  EXPECT_EQ(e.prompt, "Q: 2+2?\nA: ");
  EXPECT_EQ(e.completion, "4");
  EXPECT_EQ(e.rejected, "5");
}

TEST(PrepTemplates, MissingAndWrongFieldsAreRecordErrors) {
  const Template t("stackllama", "text", "rejected");
  Example e;
  RecordError error;
  EXPECT_FALSE(t.apply(record({{"question", "q"}}), false, &e, &error));
  EXPECT_EQ(error.message, "missing field 'response_j'");
  EXPECT_FALSE(t.apply(record({{"question", 3}, {"response_j", "a"}}), false, &e, &error));
  EXPECT_EQ(error.message, "field 'question' must be a string");
  EXPECT_FALSE(Template("hh", "text", "r").apply(record({{"chosen", "no tag"}}), false, &e, &error));
  EXPECT_THROW(Template("{unclosed", "text", "r"), loom::Error);
  EXPECT_THROW(Template("no placeholder", "text", "r"), loom::Error);
}

class PrepRecords : public ::testing::Test {
 protected:
  loom::data::Tokenizer tokenizer{loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"};
};

TEST_F(PrepRecords, PaddedSftMasksThePrompt) {
  const Example e{"Question: Why?\n\nAnswer: ", "Because.", ""};
  const auto r = loom::data::tokenize_record(e, tokenizer, {loom::data::ShardKind::sft, loom::data::SftLayout::padded, 64});
  ASSERT_EQ(r.status, loom::data::TokenizedRecord::Status::ok);
  const std::vector<int32_t> prompt_ids = tokenizer.encode("Question: Why?\n\nAnswer:");
  EXPECT_EQ(r.prompt_len, static_cast<int32_t>(prompt_ids.size()));
  EXPECT_EQ(r.tokens.back(), tokenizer.eos_id());
  EXPECT_EQ(tokenizer.decode(r.tokens.data() + r.prompt_len, r.tokens.size() - r.prompt_len), "Because.");
  const auto too_long = loom::data::tokenize_record(e, tokenizer, {loom::data::ShardKind::sft, loom::data::SftLayout::padded, 8});
  EXPECT_EQ(too_long.status, loom::data::TokenizedRecord::Status::rejected);
  EXPECT_EQ(too_long.error.reason, RecordError::Reason::too_long);
  const auto empty = loom::data::tokenize_record({"Q", " ", ""}, tokenizer, {loom::data::ShardKind::sft, loom::data::SftLayout::padded, 64});
  EXPECT_EQ(empty.error.reason, RecordError::Reason::empty);
}

TEST_F(PrepRecords, PairsTruncateThePromptFromTheLeft) {
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "word" + std::to_string(i) + " ";
  const Example e{prompt + "Answer:", " yes indeed", " no"};
  const loom::data::RecordLimits limits{loom::data::ShardKind::pairs, loom::data::SftLayout::packed, 24};
  const auto r = loom::data::tokenize_record(e, tokenizer, limits);
  ASSERT_EQ(r.status, loom::data::TokenizedRecord::Status::ok);
  EXPECT_TRUE(r.truncated);
  EXPECT_LE(r.tokens.size(), 24u);
  EXPECT_LE(r.rejected.size(), 24u);
  EXPECT_EQ(r.tokens[0], 1);
  EXPECT_EQ(r.rejected[0], 1);
  EXPECT_TRUE(std::equal(r.tokens.begin(), r.tokens.begin() + r.prompt_len, r.rejected.begin()));
  EXPECT_EQ(tokenizer.decode(r.tokens.data() + r.prompt_len, r.tokens.size() - r.prompt_len), "yes indeed");
  const std::string kept_prompt = tokenizer.decode(r.tokens.data(), r.prompt_len);
  EXPECT_EQ(kept_prompt.substr(kept_prompt.size() - 7), "Answer:");
  const auto same = loom::data::tokenize_record({prompt, " a", " a"}, tokenizer, limits);
  EXPECT_EQ(same.status, loom::data::TokenizedRecord::Status::identical);
}

TEST_F(PrepRecords, PromptsKeepTextAndTheirEnd) {
  const Example e{"\n\nHuman: tell me a long story please\n\nAssistant:", "x", ""};
  const auto r = loom::data::tokenize_record(e, tokenizer, {loom::data::ShardKind::prompts, loom::data::SftLayout::packed, 6});
  ASSERT_EQ(r.status, loom::data::TokenizedRecord::Status::ok);
  EXPECT_TRUE(r.truncated);
  ASSERT_EQ(r.tokens.size(), 6u);
  EXPECT_EQ(r.tokens[0], 1);
  const std::vector<int32_t> full = tokenizer.encode(e.prompt);
  EXPECT_TRUE(std::equal(r.tokens.begin() + 1, r.tokens.end(), full.end() - 5));
  EXPECT_EQ(r.text, e.prompt);
}

}  // namespace
