// Chat templates: minja's renders equal transformers' apply_chat_template (tests/golden/chat,
// written by make_chat_golden.py) for SmolLM2's template and four public ones; loading from a
// model folder, tokenizer_config.json (string or named list) or .jinja file; one-line errors;
// added tokens cut out before tokenizing; assistant spans found by rendering prefixes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/tokenizer.h"
#include "io/json_file.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using loom::data::ChatMessages;
using loom::data::ChatTemplate;
using loom::data::ChatTemplateError;
using nlohmann::ordered_json;

const ordered_json& golden() {
  static const ordered_json g =
      ordered_json::parse(loom::read_text_file(loom::test::source_dir() + "/tests/golden/chat/chat_golden.json"));
  return g;
}

std::string smollm2_dir() { return loom::test::shared_dir() + "/data/smollm2-135m-instruct"; }
std::string llama2_tokenizer() { return loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"; }

ChatTemplate golden_template(const std::string& name) {
  if (name == "smollm2") return ChatTemplate::load(smollm2_dir());
  const std::string path = loom::test::source_dir() + "/tests/golden/chat/templates/" + name + ".jinja";
  return ChatTemplate(loom::read_text_file(path), golden()["special_tokens"][name], {}, path);
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(ChatTemplate, RendersAsTransformersDoes) {
  ASSERT_TRUE(fs::is_directory(smollm2_dir())) << smollm2_dir() << " is missing";
  std::map<std::string, ChatTemplate> templates;
  int compared = 0, errors = 0;
  for (const ordered_json& c : golden()["cases"]) {
    const std::string name = c["template"];
    if (!templates.count(name)) templates.emplace(name, golden_template(name));
    const ChatMessages& messages = golden()["conversations"][c["conversation"].get<std::string>()];
    const bool generation_prompt = c["add_generation_prompt"];
    const std::string where = name + " / " + c["conversation"].get<std::string>() + " / agp=" +
                              std::to_string(generation_prompt);
    if (c.contains("error")) {
      const std::string error = loom::test::error_of([&] { templates.at(name).render(messages, generation_prompt); });
      EXPECT_NE(error.find(c["error"].get<std::string>()), std::string::npos) << where << ": " << error;
      EXPECT_EQ(error.find('\n'), std::string::npos) << where << ": " << error;
      ++errors;
    } else {
      EXPECT_EQ(templates.at(name).render(messages, generation_prompt), c["text"].get<std::string>()) << where;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 52);
  EXPECT_EQ(errors, 8);
}

// Every assistant message's span is its content and the end of its turn.
TEST(ChatTemplate, AssistantSpansByPrefixRendering) {
  const ChatTemplate smol = golden_template("smollm2");
  const ChatMessages& multi = golden()["conversations"]["multi_turn"];
  const std::string text = smol.render(multi, false);
  const auto spans = smol.assistant_spans(multi, text);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(text.substr(spans[0].begin, spans[0].end - spans[0].begin), "Hello! How can I help?<|im_end|>\n");
  EXPECT_EQ(text.substr(spans[1].begin, spans[1].end - spans[1].begin),
            "Why did the chicken cross the road?<|im_end|>\n");

  const ChatTemplate llama2 = golden_template("llama-2-chat");
  const std::string l2 = llama2.render(multi, false);
  const auto l2_spans = llama2.assistant_spans(multi, l2);
  ASSERT_EQ(l2_spans.size(), 2u);
  EXPECT_EQ(l2.substr(l2_spans[0].begin, l2_spans[0].end - l2_spans[0].begin), " Hello! How can I help? </s>");

  // A template that renders an earlier turn differently once a later one follows.
  const ChatTemplate unstable("{% for m in messages %}{% if loop.last %}LAST:{% endif %}{{ m['content'] }}{% endfor %}",
                              ordered_json::object(), {}, "unstable.jinja");
  const ChatMessages two = ordered_json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", "b"}},
                                                {{"role", "user"}, {"content", "c"}}});
  loom::test::expect_contains(loom::test::error_of([&] { unstable.assistant_spans(two, unstable.render(two, false)); }),
                              "unstable.jinja: chat template renders the turns before message 2 differently");
}

TEST(ChatTemplate, ErrorsAreOneLine) {
  const ChatMessages user = ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  const ChatTemplate raises("{{ raise_exception('roles must alternate') }}", ordered_json::object(), {}, "t.jinja");
  std::string error = loom::test::error_of([&] { raises.render(user, false); });
  EXPECT_EQ(error.rfind("t.jinja: chat template failed: roles must alternate", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  const ChatTemplate undefined("{{ nothing.here }}", ordered_json::object(), {}, "u.jinja");
  error = loom::test::error_of([&] { undefined.render(user, false); });
  loom::test::expect_contains(error, "u.jinja: chat template failed: 'nothing' is not defined");
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  error = loom::test::error_of([&] { ChatTemplate("{% for m in messages %}", ordered_json::object(), {}, "p.jinja"); });
  loom::test::expect_contains(error, "p.jinja: chat template does not parse");
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  // Special tokens reach the template; an unset one renders empty, as jinja2's undefined does.
  const ChatTemplate specials("{{ bos_token }}|{{ eos_token }}|{{ pad_token }}",
                              ordered_json{{"bos_token", "<s>"}, {"eos_token", "</s>"}}, {}, "s.jinja");
  EXPECT_EQ(specials.render(user, false), "<s>|</s>|");
}

TEST(ChatTemplate, LoadsFromFolderConfigOrJinja) {
  const fs::path dir = loom::test::scratch_dir("chat_template_load");
  const std::string config_text = R"({"bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>",
    "added_tokens_decoder": {"1": {"content": "<s>", "special": true}, "2": {"content": "</s>", "special": true}},
    "chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "{{ bos_token }}D{{ messages[0]['content'] }}{{ eos_token }}"}]})";
  write(dir / "tokenizer_config.json", config_text);
  const ChatMessages user = ordered_json::array({{{"role", "user"}, {"content", "x"}}});
  EXPECT_EQ(ChatTemplate::load(dir.string()).render(user, false), "<s>Dx</s>");
  EXPECT_EQ(ChatTemplate::load((dir / "tokenizer_config.json").string()).render(user, false), "<s>Dx</s>");
  EXPECT_EQ(ChatTemplate::load(dir.string()).added_tokens().size(), 2u);
  // chat_template.jinja wins over the config's template, as in transformers.
  write(dir / "chat_template.jinja", "J{{ bos_token }}{{ messages[0]['content'] }}\n");
  EXPECT_EQ(ChatTemplate::load(dir.string()).render(user, false), "J<s>x");  // trailing newline dropped
  write(dir / "other.jinja", "O{{ eos_token }}");
  EXPECT_EQ(ChatTemplate::load((dir / "other.jinja").string()).render(user, false), "O</s>");

  write(dir / "tokenizer_config.json", R"({"chat_template": "{{ messages[0]['content'] }}!"})");
  EXPECT_EQ(ChatTemplate::load((dir / "tokenizer_config.json").string()).render(user, false), "x!");
  write(dir / "tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "R"}]})");
  loom::test::expect_contains(loom::test::error_of([&] { ChatTemplate::load((dir / "tokenizer_config.json").string()); }),
                              "tokenizer_config.json: chat_template lists no template named \"default\"");
  write(dir / "tokenizer_config.json", R"({"eos_token": "</s>"})");
  loom::test::expect_contains(loom::test::error_of([&] { ChatTemplate::load((dir / "tokenizer_config.json").string()); }),
                              "tokenizer_config.json: no chat_template");
  loom::test::expect_contains(loom::test::error_of([&] { ChatTemplate::load((dir / "missing").string()); }),
                              "missing: no such file or folder");
}

// Added tokens are matched in the text first; the text between them is encoded without BOS.
TEST(ChatTemplate, EncodesAddedTokensFirst) {
  const loom::data::Tokenizer tokenizer(llama2_tokenizer());
  const ChatTemplate chat("x", ordered_json::object(), {{"<s>", 1}, {"</s>", 2}}, "t");
  const std::vector<int32_t> ids = chat.encode(tokenizer, "<s>[INST] Hi [/INST] Hello </s><s>[INST]");
  std::vector<int32_t> expected{1};
  for (const char* part : {"[INST] Hi [/INST] Hello "}) {
    const auto p = tokenizer.encode(part, false);
    expected.insert(expected.end(), p.begin(), p.end());
  }
  expected.push_back(2);
  expected.push_back(1);
  const auto tail = tokenizer.encode("[INST]", false);
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(ids[0], 1);
  // Without added tokens "<s>" is text.
  const ChatTemplate plain("x", ordered_json::object(), {}, "t");
  EXPECT_EQ(plain.encode(tokenizer, "<s>"), tokenizer.encode("<s>", false));
}

// Token spans of Llama-2's assistant turns: the answer's tokens and its EOS.
TEST(ChatTemplate, TokenSpansCoverAssistantTurns) {
  const loom::data::Tokenizer tokenizer(llama2_tokenizer());
  const ChatTemplate llama2(loom::read_text_file(loom::test::source_dir() + "/tests/golden/chat/templates/llama-2-chat.jinja"),
                            golden()["special_tokens"]["llama-2-chat"], {{"<s>", 1}, {"</s>", 2}, {"<unk>", 0}}, "l2");
  const ChatMessages& multi = golden()["conversations"]["multi_turn"];
  const std::string text = llama2.render(multi, false);
  const std::vector<int32_t> ids = llama2.encode(tokenizer, text);
  const auto spans = loom::data::token_spans(llama2, tokenizer, text, ids, llama2.assistant_spans(multi, text));
  ASSERT_EQ(spans.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    const auto [begin, end] = spans[s];
    ASSERT_LT(begin, end);
    EXPECT_EQ(ids[end - 1], 2) << "span " << s << " ends with EOS";
    EXPECT_EQ(tokenizer.decode(ids.data() + begin, end - begin),
              s == 0 ? "Hello! How can I help? " : "Why did the chicken cross the road? ");  // " </s>": a space piece
    EXPECT_NE(ids[begin - 1], 2);
  }
  EXPECT_EQ(spans[1].second, ids.size());

  // A span that ends inside a token ("hel" of "▁hello") takes the whole token, as transformers
  // marks every token overlapping a span.
  const ChatTemplate glued("{% for m in messages %}{{ m['content'] }}{% endfor %}", ordered_json::object(), {}, "g");
  const ChatMessages split_word = ordered_json::array(
      {{{"role", "user"}, {"content", "x "}}, {{"role", "assistant"}, {"content", "hel"}}, {{"role", "user"}, {"content", "lo"}}});
  const std::string glued_text = glued.render(split_word, false);
  const std::vector<int32_t> glued_ids = glued.encode(tokenizer, glued_text);
  ASSERT_EQ(tokenizer.decode(glued_ids.data() + 1, 1), "hello");
  const auto glued_spans =
      loom::data::token_spans(glued, tokenizer, glued_text, glued_ids, glued.assistant_spans(split_word, glued_text));
  EXPECT_EQ(glued_spans, (std::vector<std::pair<size_t, size_t>>{{1, 2}}));
}

// SmolLM2's ids and transformers' assistant mask (needs a tokenizer.json reader).
TEST(ChatTemplate, SmolLm2IdsAndAssistantMask) {
  const std::string path = smollm2_dir() + "/tokenizer.json";
  std::unique_ptr<loom::data::Tokenizer> tokenizer;
  try {
    tokenizer = std::make_unique<loom::data::Tokenizer>(path);
  } catch (const loom::Error& e) {
    GTEST_SKIP() << "this build does not read tokenizer.json: " << e.what();
  }
  const ChatTemplate smol = ChatTemplate::load(smollm2_dir());
  int checked = 0;
  for (const ordered_json& c : golden()["cases"]) {
    if (c["template"] != "smollm2" || !c.contains("ids")) continue;
    const ChatMessages& messages = golden()["conversations"][c["conversation"].get<std::string>()];
    const std::string text = smol.render(messages, c["add_generation_prompt"]);
    const std::vector<int32_t> ids = smol.encode(*tokenizer, text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << c["conversation"];
    if (!c.contains("assistant_mask")) continue;
    if (c["conversation"] == "assistant_first") {
      // Rendering no messages drops SmolLM2's default system turn, so the first turn has no
      // span by prefix renders (loom-prep refuses such conversations before rendering them).
      EXPECT_THROW(smol.assistant_spans(messages, text), ChatTemplateError);
      continue;
    }
    std::vector<int> mask(ids.size(), 0);
    for (const auto& [b, e] : loom::data::token_spans(smol, *tokenizer, text, ids, smol.assistant_spans(messages, text)))
      for (size_t t = b; t < e; ++t) mask[t] = 1;
    EXPECT_EQ(mask, c["assistant_mask"].get<std::vector<int>>()) << c["conversation"];
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

}  // namespace
