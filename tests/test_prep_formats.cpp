// TRL's dataset formats (--template trl): each form per kind, conversational records through
// the chat template, --loss-on masks (completion, all, assistant spans), and bad records.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/chat_template.h"
#include "data/records.h"
#include "data/trl_formats.h"
#include "io/json_file.h"
#include "support/test_support.h"

namespace {

using loom::data::ChatTemplate;
using loom::data::Example;
using loom::data::LossOn;
using loom::data::RecordError;
using loom::data::ShardKind;
using loom::data::SftLayout;
using loom::data::TokenizedRecord;
using loom::data::TrlOptions;
using json = nlohmann::ordered_json;

const loom::data::Tokenizer& tokenizer() {
  static const loom::data::Tokenizer t(loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model");
  return t;
}

// Llama-2-chat's template with Llama-2's special tokens.
const ChatTemplate& llama2_chat() {
  static const ChatTemplate t(
      loom::read_text_file(loom::test::source_dir() + "/tests/golden/chat/templates/llama-2-chat.jinja"),
      json{{"bos_token", "<s>"}, {"eos_token", "</s>"}}, {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}}, "llama-2-chat.jinja");
  return t;
}

json msg(const char* role, const char* content) { return {{"role", role}, {"content", content}}; }

Example apply_ok(const json& record, ShardKind kind, std::optional<LossOn> loss_on = std::nullopt) {
  Example e;
  RecordError error;
  EXPECT_TRUE(loom::data::apply_trl_format(record, TrlOptions{kind, loss_on, &llama2_chat()}, &e, &error))
      << record.dump() << ": " << error.message;
  return e;
}

std::string apply_error(const json& record, ShardKind kind, std::optional<LossOn> loss_on = std::nullopt,
                        const ChatTemplate* chat = &llama2_chat()) {
  Example e;
  RecordError error;
  EXPECT_FALSE(loom::data::apply_trl_format(record, TrlOptions{kind, loss_on, chat}, &e, &error)) << record.dump();
  EXPECT_EQ(error.reason, RecordError::Reason::invalid);
  return error.message;
}

std::string decode(const std::vector<int32_t>& ids, size_t begin, size_t end) {
  return tokenizer().decode(ids.data() + begin, end - begin);
}

TEST(PrepFormats, PlainForms) {
  Example e = apply_ok({{"text", "Hello world"}}, ShardKind::sft);
  EXPECT_EQ(e.text(), "Hello world");
  EXPECT_EQ(e.loss_on, LossOn::all);
  EXPECT_EQ(e.chat, nullptr);
  e = apply_ok({{"prompt", "Q: 2+2? A:"}, {"completion", " 4"}}, ShardKind::sft);
  EXPECT_EQ(e.prompt, "Q: 2+2? A:");
  EXPECT_EQ(e.completion, " 4");
  EXPECT_EQ(e.loss_on, LossOn::completion);  // TRL's completion_only_loss default
  e = apply_ok({{"prompt", "Q?"}, {"chosen", " yes"}, {"rejected", " no"}}, ShardKind::pairs);
  EXPECT_EQ(e.prompt + "|" + e.completion + "|" + e.rejected, "Q?| yes| no");
  // Implicit prompt: the common start, less the space before the first difference (TRL's extract_prompt).
  e = apply_ok({{"chosen", "The sky is blue."}, {"rejected", "The sky is green."}}, ShardKind::pairs);
  EXPECT_EQ(e.prompt + "|" + e.completion + "|" + e.rejected, "The sky is| blue.| green.");
  e = apply_ok({{"prompt", "Tell me"}}, ShardKind::prompts);
  EXPECT_EQ(e.prompt, "Tell me");
  e = apply_ok({{"chosen", "Hi there A"}, {"rejected", "Hi there B"}}, ShardKind::prompts);
  EXPECT_EQ(e.prompt, "Hi there");  // the space before "A" goes with the answers
}

TEST(PrepFormats, ConversationalFormsGoThroughTheTemplate) {
  const json user = json::array({msg("user", "Hi")});
  Example e = apply_ok({{"messages", {msg("system", "Be brief."), msg("user", "Hi"), msg("assistant", "Hello")}}},
                       ShardKind::sft);
  EXPECT_EQ(e.text(), "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s>");
  EXPECT_EQ(e.chat, &llama2_chat());
  e = apply_ok({{"prompt", user}, {"completion", {msg("assistant", "Hello")}}}, ShardKind::sft);
  EXPECT_EQ(e.prompt, "<s>[INST] Hi [/INST]");
  EXPECT_EQ(e.completion, " Hello </s>");
  e = apply_ok({{"prompt", user}, {"chosen", {msg("assistant", "Hello")}}, {"rejected", {msg("assistant", "Go away")}}},
               ShardKind::pairs);
  EXPECT_EQ(e.prompt + "|" + e.completion + "|" + e.rejected, "<s>[INST] Hi [/INST]| Hello </s>| Go away </s>");
  // Implicit conversational prompt: the shared leading messages.
  e = apply_ok({{"chosen", {msg("user", "Hi"), msg("assistant", "Hello")}},
                {"rejected", {msg("user", "Hi"), msg("assistant", "Go away")}}},
               ShardKind::pairs);
  EXPECT_EQ(e.prompt + "|" + e.completion + "|" + e.rejected, "<s>[INST] Hi [/INST]| Hello </s>| Go away </s>");
  e = apply_ok({{"prompt", user}}, ShardKind::prompts);
  EXPECT_EQ(e.prompt, "<s>[INST] Hi [/INST]");
}

TEST(PrepFormats, PaddedLossMasks) {
  const loom::data::RecordLimits padded{ShardKind::sft, SftLayout::padded, 128};
  const json conversation = {msg("user", "Hi"), msg("assistant", "Hello"), msg("user", "Bye"), msg("assistant", "Ciao")};
  // assistant: both answers and their EOS, nothing else.
  const Example e = apply_ok({{"messages", conversation}}, ShardKind::sft, LossOn::assistant);
  const TokenizedRecord r = loom::data::tokenize_record(e, tokenizer(), padded);
  ASSERT_EQ(r.status, TokenizedRecord::Status::ok) << r.error.message;
  EXPECT_EQ(r.tokens, llama2_chat().encode(tokenizer(), e.text()));
  EXPECT_EQ(r.tokens[0], 1);  // the template's BOS, not a second one
  EXPECT_NE(r.tokens[1], 1);
  EXPECT_EQ(r.tokens.back(), 2);  // the template's EOS, none appended
  ASSERT_EQ(r.loss_mask.size(), r.tokens.size());
  std::vector<std::string> runs;  // the target tokens, run by run, decoded; each run ends with EOS
  for (size_t t = 0; t < r.tokens.size(); ++t) {
    if (!r.loss_mask[t]) continue;
    size_t end = t;
    while (end < r.tokens.size() && r.loss_mask[end]) ++end;
    EXPECT_EQ(r.tokens[end - 1], 2);
    runs.push_back(decode(r.tokens, t, end));
    t = end;
  }
  EXPECT_EQ(runs, (std::vector<std::string>{"Hello ", "Ciao "}));
  EXPECT_EQ(r.prompt_len, std::find(r.loss_mask.begin(), r.loss_mask.end(), 1) - r.loss_mask.begin());

  // completion: the prompt's tokens are not targets; all: every token is.
  const json pc = {{"prompt", {msg("user", "Hi")}}, {"completion", {msg("assistant", "Hello")}}};
  const TokenizedRecord c = loom::data::tokenize_record(apply_ok(pc, ShardKind::sft), tokenizer(), padded);
  EXPECT_TRUE(c.loss_mask.empty());
  EXPECT_EQ(decode(c.tokens, c.prompt_len, c.tokens.size()), "Hello ");
  EXPECT_EQ(decode(c.tokens, 0, c.prompt_len), "[INST] Hi [/INST]");
  const TokenizedRecord a = loom::data::tokenize_record(apply_ok(pc, ShardKind::sft, LossOn::all), tokenizer(), padded);
  EXPECT_EQ(a.prompt_len, 0);
  EXPECT_EQ(a.tokens, c.tokens);

  // Too long for the row.
  const TokenizedRecord long_one =
      loom::data::tokenize_record(e, tokenizer(), loom::data::RecordLimits{ShardKind::sft, SftLayout::padded, 8});
  EXPECT_EQ(long_one.status, TokenizedRecord::Status::rejected);
  EXPECT_EQ(long_one.error.reason, RecordError::Reason::too_long);
}

TEST(PrepFormats, ChatPairsAndPromptsTokens) {
  const json record = {{"prompt", {msg("user", "Hi")}}, {"chosen", {msg("assistant", "Hello")}},
                       {"rejected", {msg("assistant", "Go away")}}};
  const TokenizedRecord p = loom::data::tokenize_record(apply_ok(record, ShardKind::pairs), tokenizer(),
                                                        loom::data::RecordLimits{ShardKind::pairs, SftLayout::packed, 64});
  ASSERT_EQ(p.status, TokenizedRecord::Status::ok) << p.error.message;
  EXPECT_EQ(p.tokens[0], 1);
  EXPECT_EQ(p.tokens.back(), 2);
  EXPECT_EQ(decode(p.tokens, p.prompt_len, p.tokens.size()), "Hello ");
  EXPECT_EQ(decode(p.rejected, p.prompt_len, p.rejected.size()), "Go away ");
  const TokenizedRecord q = loom::data::tokenize_record(apply_ok({{"prompt", {msg("user", "Hi")}}}, ShardKind::prompts),
                                                        tokenizer(), loom::data::RecordLimits{ShardKind::prompts, SftLayout::packed, 64});
  EXPECT_EQ(q.tokens, llama2_chat().encode(tokenizer(), "<s>[INST] Hi [/INST]"));
  EXPECT_EQ(q.text, "<s>[INST] Hi [/INST]");
}

TEST(PrepFormats, BadRecords) {
  const json user = json::array({msg("user", "Hi")});
  loom::test::expect_contains(apply_error({{"prompt", "x"}}, ShardKind::sft), "sft takes");
  loom::test::expect_contains(apply_error({{"prompt", "x"}, {"chosen", "a"}}, ShardKind::pairs), "lacks 'chosen' or 'rejected'");
  loom::test::expect_contains(apply_error({{"text", 3}}, ShardKind::sft), "field 'text' must be a string");
  loom::test::expect_contains(apply_error({{"prompt", user}, {"completion", "x"}}, ShardKind::sft),
                              "fields 'prompt' and 'completion' must both be strings or both lists");
  loom::test::expect_contains(apply_error({{"messages", {{{"role", "user"}}}}}, ShardKind::sft),
                              "field 'messages' message 1 must be an object with string \"role\" and \"content\"");
  loom::test::expect_contains(apply_error({{"messages", {msg("user", "a"), msg("user", "b")}}}, ShardKind::sft),
                              "message 2 of the conversation has role 'user' where 'assistant' belongs");
  loom::test::expect_contains(apply_error({{"messages", {msg("user", "a"), msg("system", "b")}}}, ShardKind::sft),
                              "message 2 of the conversation has role 'system'");
  loom::test::expect_contains(apply_error({{"messages", {msg("robot", "a")}}}, ShardKind::sft), "has role 'robot'");
  loom::test::expect_contains(
      apply_error({{"prompt", {msg("user", "a"), msg("assistant", "b")}}, {"completion", {msg("assistant", "c")}}},
                  ShardKind::sft),
      "must end with a user message");
  loom::test::expect_contains(apply_error({{"messages", user}}, ShardKind::sft, std::nullopt, nullptr),
                              "a conversational record needs a chat template");
  loom::test::expect_contains(apply_error({{"text", "x"}}, ShardKind::sft, LossOn::assistant),
                              "--loss-on assistant needs conversational records");
  loom::test::expect_contains(apply_error({{"messages", user}}, ShardKind::sft, LossOn::completion),
                              "--loss-on completion needs prompt-completion records");
  // The template's own errors come back as the record's error.
  const ChatTemplate raising("{{ raise_exception('no ' + messages[0]['content']) }}", json::object(), {}, "r.jinja");
  const std::string error = apply_error({{"messages", user}}, ShardKind::sft, std::nullopt, &raising);
  EXPECT_EQ(error.rfind("r.jinja: chat template failed: no Hi", 0), 0u) << error;
  loom::test::expect_contains(apply_error({{"chosen", {msg("user", "a")}}, {"rejected", {msg("user", "b")}}}, ShardKind::pairs),
                              "share no leading messages");
}

}  // namespace
