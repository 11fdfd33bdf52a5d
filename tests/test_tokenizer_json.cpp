// tokenizer.json (Hugging Face tokenizers) against the ids, special-token ids and decoded text that
// transformers gives (tests/golden/make_tokenizer_golden.py): three small byte-level BPEs trained on
// HH text (GPT-2's regex with "a b" merges, Llama 3's Split regex, ByteLevel without regex), the real
// SmolLM2 tokenizer, and the Llama-2 tokenizer (converted to tokenizer.json by
// tests/cli/tokenizer_llama2_json.sh when Python is there; its tokenizer.model against sentencepiece).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/check.h"
#include "data/bpe_pre_tokenizer.h"
#include "data/md5.h"
#include "data/tokenizer.h"
#include "io/json_file.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using loom::data::Tokenizer;

std::string golden_dir(const std::string& name) {
  return loom::test::source_dir() + "/tests/golden/data/tokenizers/" + name;
}

nlohmann::json golden(const std::string& name) {
  return nlohmann::json::parse(loom::read_text_file(golden_dir(name) + "/golden.json"));
}

std::string case_text(const nlohmann::json& c) {
  if (c.contains("text")) return c["text"].get<std::string>();
  const std::string hex = c["text_hex"].get<std::string>();
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

std::string md5_12(const std::string& text) { return loom::data::md5_hex(text).substr(0, 12); }

std::string id_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

// Every distinct HH dialogue, chosen then rejected, in file order (as the golden script reads them).
std::vector<std::string> hh_texts() {
  std::vector<std::string> texts;
  std::set<std::string> seen;
  for (const std::string& line : loom::test::hh_jsonl_lines(1 << 20)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    for (const char* key : {"chosen", "rejected"}) {
      const std::string text = record[key].get<std::string>();
      if (seen.insert(text).second) texts.push_back(text);
    }
  }
  return texts;
}

void expect_golden(const Tokenizer& tokenizer, const nlohmann::json& g) {
  EXPECT_EQ(tokenizer.vocab_size(), g["vocab_size"].get<int>());
  const nlohmann::json& specials = g["special_ids"];
  EXPECT_EQ(tokenizer.bos_id(), specials["bos"].is_null() ? -1 : specials["bos"].get<int>());
  EXPECT_EQ(tokenizer.eos_id(), specials["eos"].get<int>());
  EXPECT_EQ(tokenizer.pad_id(), specials["pad"].is_null() ? -1 : specials["pad"].get<int>());
  for (const nlohmann::json& c : g["cases"]) {
    const std::string text = case_text(c);
    const std::vector<int32_t> ids = ids_of(c["ids"]);
    EXPECT_EQ(tokenizer.encode(text, /*add_bos=*/false), ids) << "[" << c.dump() << "]";
    EXPECT_EQ(tokenizer.encode_with_special_tokens(text), ids_of(c["ids_special"])) << "[" << c.dump() << "]";
    EXPECT_EQ(tokenizer.decode_with_special(ids.data(), ids.size()), c["decoded"].get<std::string>()) << c.dump();
    EXPECT_EQ(tokenizer.decode(ids.data(), ids.size()), c["decoded_skip"].get<std::string>()) << c.dump();
  }
  for (const nlohmann::json& c : g["decode_cases"]) {
    const std::vector<int32_t> ids = ids_of(c["ids"]);
    EXPECT_EQ(tokenizer.decode_with_special(ids.data(), ids.size()), c["decoded"].get<std::string>()) << c.dump();
  }
  const std::vector<std::string> texts = hh_texts();
  const nlohmann::json& lines = g["hh"]["lines"];
  ASSERT_EQ(texts.size(), lines.size());
  int wrong = 0;
  for (size_t i = 0; i < texts.size() && wrong < 5; ++i) {
    const std::vector<int32_t> ids = tokenizer.encode(texts[i], /*add_bos=*/false);
    const std::string line = std::to_string(ids.size()) + " " + md5_12(id_string(ids)) + " " +
                             md5_12(tokenizer.decode_with_special(ids.data(), ids.size()));
    if (line != lines[i].get<std::string>()) {
      ++wrong;
      ADD_FAILURE() << "HH text " << i << ": loom " << line << ", HF " << lines[i].get<std::string>() << "\n" << texts[i];
    }
  }
}

TEST(TokenizerJson, Gpt2RegexWithStringMergesEqualsHf) {
  expect_golden(Tokenizer(golden_dir("gpt2-regex")), golden("gpt2-regex"));
}

TEST(TokenizerJson, Llama3RegexEqualsHf) {
  expect_golden(Tokenizer(golden_dir("llama3-regex")), golden("llama3-regex"));
}

TEST(TokenizerJson, ByteLevelWithoutRegexEqualsHf) {
  expect_golden(Tokenizer(golden_dir("bytelevel-noregex")), golden("bytelevel-noregex"));
}

TEST(TokenizerJson, SmolLm2EqualsHf) {
  const Tokenizer tokenizer(loom::test::shared_dir() + "/data/smollm2-135m-instruct");
  EXPECT_EQ(fs::path(tokenizer.model_path()).filename(), "tokenizer.json");
  EXPECT_FALSE(tokenizer.adds_bos());
  EXPECT_EQ(tokenizer.encode("Hello world!"), (std::vector<int32_t>{19556, 905, 17}));  // data/README.md
  expect_golden(tokenizer, golden("smollm2"));
}

// tokenizer.model (SentencePiece) against sentencepiece's own ids: transformers' tokenizer.json conversion
// differs from SentencePiece on runs of spaces, so this path has its own reference.
TEST(TokenizerJson, Llama2SentencePieceEqualsSentencePiece) {
  const Tokenizer tokenizer(loom::test::shared_dir() + "/data/llama2-tokenizer");
  EXPECT_EQ(fs::path(tokenizer.model_path()).filename(), "tokenizer.model");
  EXPECT_TRUE(tokenizer.adds_bos());
  expect_golden(tokenizer, golden("llama2-sentencepiece"));
}

// tests/cli/tokenizer_llama2_json.sh converts tokenizer.model with transformers into this folder.
TEST(TokenizerJson, Llama2TokenizerJsonEqualsHf) {
  const char* dir = std::getenv("LOOM_LLAMA2_TOKENIZER_JSON");
  if (dir == nullptr) GTEST_SKIP() << "LOOM_LLAMA2_TOKENIZER_JSON not set (tests/cli/tokenizer_llama2_json.sh sets it)";
  const Tokenizer tokenizer(dir);
  EXPECT_EQ(fs::path(tokenizer.model_path()).filename(), "tokenizer.json");
  expect_golden(tokenizer, golden("llama2"));
}

TEST(TokenizerJson, ThreadsEncodeAsOne) {
  const Tokenizer tokenizer(golden_dir("llama3-regex"));
  std::vector<std::string> texts = hh_texts();
  texts.resize(600);
  std::vector<std::vector<std::vector<int32_t>>> by_thread(4, std::vector<std::vector<int32_t>>(texts.size()));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < by_thread.size(); ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) by_thread[t][i] = tokenizer.encode(texts[(i + t * 97) % texts.size()]);
    });
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < by_thread.size(); ++t)
    for (size_t i = 0; i < texts.size(); ++i)
      ASSERT_EQ(by_thread[t][i], tokenizer.encode(texts[(i + t * 97) % texts.size()])) << "thread " << t;
}

// A model folder with both files uses tokenizer.json; the config's add_bos_token/add_eos_token override
// the template.
TEST(TokenizerJson, FolderChoiceAndConfigFlags) {
  const std::string dir = loom::test::scratch_dir("tokenizer_json_choice");
  fs::copy_file(golden_dir("gpt2-regex") + "/tokenizer.json", dir + "/tokenizer.json");
  fs::copy_file(loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model", dir + "/tokenizer.model");
  EXPECT_EQ(Tokenizer::file_in_model_dir(dir), dir + "/tokenizer.json");
  EXPECT_EQ(Tokenizer::file_in_model_dir(loom::test::shared_dir() + "/data/hh-rlhf"), "");
  loom::test::expect_contains(loom::test::error_of([&] { Tokenizer t(dir); }),
                              dir + "/tokenizer.json: no EOS token");
  std::ofstream(dir + "/tokenizer_config.json")
      << R"({"bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}, "add_bos_token": true, "add_eos_token": true})";
  const Tokenizer t(dir);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.padding_id(), 2);
  const std::vector<int32_t> plain = t.encode("Hi", false);
  std::vector<int32_t> special{1};
  special.insert(special.end(), plain.begin(), plain.end());
  EXPECT_EQ(t.encode("Hi"), special);
  special.push_back(2);
  EXPECT_EQ(t.encode_with_special_tokens("Hi"), special);
  EXPECT_EQ(t.model_md5(), loom::data::md5_hex(loom::read_text_file(dir + "/tokenizer.json")));
  EXPECT_EQ(t.token_id("<|im_end|>"), 2);
  EXPECT_EQ(t.token_id("no such token"), -1);
  fs::remove(dir + "/tokenizer.json");
  std::ofstream(dir + "/tokenizer_config.json") << R"({"add_bos_token": false})";
  const Tokenizer sp(dir);
  EXPECT_FALSE(sp.adds_bos());
  EXPECT_EQ(sp.encode("Hello world!"), (std::vector<int32_t>{15043, 3186, 29991}));
}

// Unsupported parts are one line naming the file and the key.
TEST(TokenizerJson, UnsupportedPartsAreNamed) {
  const std::string dir = loom::test::scratch_dir("tokenizer_json_unsupported");
  const nlohmann::json base = nlohmann::json::parse(loom::read_text_file(golden_dir("gpt2-regex") + "/tokenizer.json"));
  std::ofstream(dir + "/tokenizer_config.json") << R"({"eos_token": "<|endoftext|>"})";
  const auto error_with = [&](const std::string& pointer, const nlohmann::json& value) {
    nlohmann::json j = base;
    j[nlohmann::json::json_pointer(pointer)] = value;
    std::ofstream(dir + "/tokenizer.json") << j.dump();
    return loom::test::error_of([&] { Tokenizer t(dir); });
  };
  const std::string file = dir + "/tokenizer.json";
  loom::test::expect_contains(error_with("/model/type", "WordPiece"), file + ": model.type: unsupported model type");
  loom::test::expect_contains(error_with("/pre_tokenizer", {{"type", "Whitespace"}}),
                              file + ": pre_tokenizer: unsupported pre_tokenizer type 'Whitespace'");
  loom::test::expect_contains(error_with("/normalizer", {{"type", "NFKC"}}),
                              file + ": normalizer: unsupported normalizer type 'NFKC'");
  loom::test::expect_contains(
      error_with("/normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}}),
      file + ": normalizer.normalizers[0]: unsupported normalizer type 'Lowercase'");
  loom::test::expect_contains(error_with("/decoder", {{"type", "WordPiece"}}), file + ": decoder: unsupported decoder");
  loom::test::expect_contains(error_with("/post_processor", {{"type", "BertProcessing"}}),
                              file + ": post_processor: unsupported post_processor type 'BertProcessing'");
  loom::test::expect_contains(error_with("/model/dropout", 0.1), file + ": model.dropout: unsupported");
  loom::test::expect_contains(error_with("/model/merges/0", "a"), file + ": model.merges[0]: expected two pieces");
  loom::test::expect_contains(error_with("/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(?<"}}},
                                                            {"behavior", "Isolated"}}),
                              file + ": pre_tokenizer.pattern: cannot compile the regex");
  std::ofstream(dir + "/tokenizer.json") << "{\"model\": ";
  loom::test::expect_contains(loom::test::error_of([&] { Tokenizer t(dir); }), file + ": not valid JSON");
  for (const std::string& e : {error_with("/model/type", "Unigram")}) EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

// Split's five delimiter behaviours and invert, with tokenizers' documented example.
TEST(TokenizerJson, SplitBehaviours) {
  using Pieces = std::vector<std::string>;
  const std::vector<std::pair<std::string, Pieces>> expected = {
      {"Removed", {"the", "final", "countdown"}},
      {"Isolated", {"the", "-", "final", "-", "-", "countdown"}},
      {"MergedWithPrevious", {"the-", "final-", "-", "countdown"}},
      {"MergedWithNext", {"the", "-final", "-", "-countdown"}},
      {"Contiguous", {"the", "-", "final", "--", "countdown"}}};
  const auto split = [](const std::string& behavior, bool invert, const std::string& text) {
    const nlohmann::json spec = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
    std::vector<loom::data::PreToken> pieces{{text, true}};
    loom::data::make_bpe_pre_tokenizer(spec, "test")->pre_tokenize(&pieces);
    Pieces out;
    for (const auto& p : pieces) out.push_back(p.text);
    return out;
  };
  for (const auto& [behavior, pieces] : expected) EXPECT_EQ(split(behavior, false, "the-final--countdown"), pieces) << behavior;
  EXPECT_EQ(split("Removed", true, "the-final--countdown"), (Pieces{"-", "-", "-"}));  // no merging of matches
  // Metaspace: spaces become "▁", prepended to the first piece only with prepend_scheme "first".
  std::vector<loom::data::PreToken> pieces{{"a b", true}, {"c", false}};
  loom::data::make_bpe_pre_tokenizer({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}}, "t")
      ->pre_tokenize(&pieces);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].text, "\xE2\x96\x81" "a");
  EXPECT_EQ(pieces[1].text, "\xE2\x96\x81" "b");
  EXPECT_EQ(pieces[2].text, "c");
}

}  // namespace
