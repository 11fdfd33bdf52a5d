// The SentencePiece wrapper against the genuine Llama-2 tokenizer and real HH-RLHF text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <string_view>
#include <thread>

#include "core/check.h"
#include "data/md5.h"
#include "data/sentencepiece_settings.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/tokenizer.h"
#include "data/utf8_text.h"
#include "data/word_cache.h"
#include "io/json_file.h"
#include "support/test_support.h"

namespace {

std::string tokenizer_path() { return loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"; }

// The SentencePiece implementation behind data::Tokenizer for tokenizer.model.
const loom::data::SentencePieceTokenizer& sentencepiece() {
  static const loom::data::SentencePieceTokenizer sp(loom::read_text_file(tokenizer_path()), tokenizer_path());
  return sp;
}

// SentencePiece's ids of the whole text, without the word cache: the reference for the word-by-word path.
std::vector<int32_t> encode_whole(std::string_view text, bool add_bos = true) {
  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(1);
  sentencepiece().append_whole_ids(text, &ids);
  return ids;
}


TEST(PrepTokenizer, EncodesAsHuggingFaceLlamaTokenizer) {
  loom::data::Tokenizer tokenizer(tokenizer_path());
  EXPECT_EQ(tokenizer.encode("Hello world!"), (std::vector<int32_t>{1, 15043, 3186, 29991}));
  EXPECT_EQ(tokenizer.encode("Hello world!", false), (std::vector<int32_t>{15043, 3186, 29991}));
  EXPECT_EQ(tokenizer.vocab_size(), 32000);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.pad_id(), -1);
  EXPECT_EQ(tokenizer.padding_id(), 2);
  EXPECT_EQ(tokenizer.model_md5(), "eeec4125e9c7560836b4873b6f8e3025");
}

TEST(PrepTokenizer, RealDialoguesRoundTrip) {
  loom::data::Tokenizer tokenizer(tokenizer_path());
  const std::vector<std::string> lines = loom::test::hh_jsonl_lines(300);
  ASSERT_EQ(lines.size(), 300u);
  for (size_t i = 0; i < lines.size(); ++i) {
    for (const char* field : {"chosen", "rejected"}) {
      const std::string text = nlohmann::json::parse(lines[i])[field].get<std::string>();
      const std::vector<int32_t> ids = tokenizer.encode(text);
      ASSERT_EQ(tokenizer.decode(ids.data(), ids.size()), text) << "line " << i + 1 << " field " << field;
    }
  }
}

// Every `chosen` and `rejected` dialogue of the HH file.
std::vector<std::string> hh_dialogues() {
  std::vector<std::string> texts;
  for (const std::string& line : loom::test::hh_jsonl_lines(1 << 20)) {
    const nlohmann::json record = nlohmann::json::parse(line);
    texts.push_back(record["chosen"].get<std::string>());
    texts.push_back(record["rejected"].get<std::string>());
  }
  return texts;
}

TEST(PrepTokenizer, Llama2ModelIsEncodedByWords) {
  std::ifstream in(tokenizer_path(), std::ios::binary);
  const std::string serialized((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const loom::data::SentencePieceSettings settings = loom::data::read_sentencepiece_settings(serialized, "llama2");
  EXPECT_TRUE(settings.bpe);
  EXPECT_TRUE(settings.identity_normalizer);
  EXPECT_TRUE(settings.add_dummy_prefix);
  EXPECT_FALSE(settings.remove_extra_whitespaces);
  EXPECT_TRUE(settings.escape_whitespaces);
  EXPECT_FALSE(settings.treat_whitespace_as_suffix);
  EXPECT_FALSE(settings.has_user_defined_pieces);
  EXPECT_TRUE(sentencepiece().encodes_by_words());
}

TEST(PrepTokenizer, SettingsReaderTakesFieldsAndDefaults) {
  // ModelProto{trainer_spec{model_type: UNIGRAM, treat_whitespace_as_suffix: true},
  //            normalizer_spec{name: "x", precompiled_charsmap: "ab", add_dummy_prefix: false},
  //            pieces{piece: "u", score: 0.0, type: USER_DEFINED}}
  const std::string model("\x12\x05\x18\x01\xc0\x01\x01\x1a\x09\x0a\x01x\x12\x02\x61\x62\x18\x00"
                          "\x0a\x0a\x0a\x01u\x15\x00\x00\x00\x00\x18\x04",
                          30);
  const loom::data::SentencePieceSettings settings = loom::data::read_sentencepiece_settings(model, "handmade");
  EXPECT_FALSE(settings.bpe);
  EXPECT_TRUE(settings.treat_whitespace_as_suffix);
  EXPECT_FALSE(settings.identity_normalizer);
  EXPECT_FALSE(settings.add_dummy_prefix);
  EXPECT_TRUE(settings.remove_extra_whitespaces);  // absent: the proto default
  EXPECT_TRUE(settings.escape_whitespaces);
  EXPECT_TRUE(settings.has_user_defined_pieces);
  try {
    loom::data::read_sentencepiece_settings(model.substr(0, 5), "handmade");
    FAIL() << "a truncated model was read";
  } catch (const loom::Error& e) {
    EXPECT_NE(std::string(e.what()).find("handmade: cannot read the tokenizer model"), std::string::npos) << e.what();
  }
}

TEST(PrepTokenizer, WordByWordEqualsWholeOnEveryHhDialogue) {
  const loom::data::Tokenizer tokenizer(tokenizer_path());
  const std::vector<std::string> texts = hh_dialogues();
  ASSERT_EQ(texts.size(), 4624u);
  std::vector<std::vector<int32_t>> whole(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) whole[i] = encode_whole(texts[i]);
  // The first pass fills the cache; the second reads it.
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < texts.size(); ++i)
      ASSERT_EQ(tokenizer.encode(texts[i]), whole[i]) << "pass " << pass << " text " << i << ": " << texts[i];
}

TEST(PrepTokenizer, WordByWordEqualsWholeOnEdgeCases) {
  using namespace std::string_literals;
  const std::vector<std::string> texts = {
      "", " ", "   ", "a", " a", "   a", "a ", "a   ", "a b", "a  b", " a   b  c   ", "\n", "\n\n", " \n ",
      "a\nb", "a \n b", "a\n b", "\t", "a\tb \t c\t", "\r\n x", "Hello\n\nHuman: hi there\n\nAssistant: ok",
      "héllo wörld", "naïve café résumé", "日本語 の テキスト", "中文 空格  和   标点。", "emoji 😀 🎉x 👩‍👩‍👧",
      "a▁b", "a▁ b", "▁ ▁▁ x", " ▁", "▁", "x ▁ y", "x▁  ▁ y",  // "▁" typed in the text
      "\xff bad byte", "a\xe2\x96 b", "trailing \xe2", "nul\0in side"s,
      "code:\n    indented\n        more    ", "1234 5678 9", "!!! ??? ...", ".\n.", std::string(300, 'a') + " b",
      "  Leading spaces,    runs   of  spaces, and a tail  "};
  const loom::data::Tokenizer tokenizer(tokenizer_path());
  for (int pass = 0; pass < 2; ++pass)
    for (const std::string& text : texts) {
      // data::Tokenizer makes malformed UTF-8 well-formed first (one U+FFFD per maximal bad run, as Python).
      const std::string utf8 = loom::data::utf8_lossy(text);
      EXPECT_EQ(tokenizer.encode(text), encode_whole(utf8)) << "pass " << pass << ": [" << text << "]";
      EXPECT_EQ(tokenizer.encode(text, false), encode_whole(utf8, false)) << "[" << text << "]";
    }
  EXPECT_EQ(tokenizer.encode(""), (std::vector<int32_t>{1}));
  EXPECT_EQ(tokenizer.encode("a "), (std::vector<int32_t>{1, 263, 29871}));  // "▁a", "▁"
}

TEST(PrepTokenizer, ThreadsEncodeAsOne) {
  const loom::data::Tokenizer tokenizer(tokenizer_path());
  std::vector<std::string> texts = hh_dialogues();
  texts.resize(800);
  std::vector<std::vector<int32_t>> whole(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) whole[i] = encode_whole(texts[i]);
  std::vector<std::vector<std::vector<int32_t>>> by_thread(4, std::vector<std::vector<int32_t>>(texts.size()));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < by_thread.size(); ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) by_thread[t][i] = tokenizer.encode(texts[i]);
    });
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < by_thread.size(); ++t) EXPECT_EQ(by_thread[t], whole) << "thread " << t;
}

TEST(PrepTokenizer, WordCacheStaysBounded) {
  loom::data::WordCache cache(640);
  const int32_t ids[] = {7, 8};
  for (int word = 0; word < 10000; ++word) cache.insert(" w" + std::to_string(word), ids, 2);
  EXPECT_LE(cache.size(), 640u);
  EXPECT_GT(cache.size(), 0u);
  std::vector<int32_t> out = {1};
  EXPECT_TRUE(cache.append_ids(" w9999", &out));
  EXPECT_EQ(out, (std::vector<int32_t>{1, 7, 8}));
  EXPECT_FALSE(cache.append_ids(" never", &out));
  EXPECT_EQ(out.size(), 3u);
  const std::string long_word(1000, 'x');  // more bytes than a shard of 10 words may hold
  cache.insert(long_word, ids, 2);
  EXPECT_FALSE(cache.append_ids(long_word, &out));
}

TEST(PrepTokenizer, WordCacheGrowsAndFindsEveryWord) {
  loom::data::WordCache cache(size_t{1} << 16);  // 1024 words a shard, tables growing from 64 slots
  for (int32_t word = 0; word < 20000; ++word) {
    const int32_t ids[] = {word, -word, 3};
    cache.insert(" w" + std::to_string(word), ids, 1 + word % 3);
  }
  ASSERT_EQ(cache.size(), 20000u);
  for (int32_t word = 0; word < 20000; ++word) {
    std::vector<int32_t> out;
    ASSERT_TRUE(cache.append_ids(" w" + std::to_string(word), &out)) << word;
    const std::vector<int32_t> ids = {word, -word, 3};
    EXPECT_EQ(out, std::vector<int32_t>(ids.begin(), ids.begin() + 1 + word % 3)) << word;
  }
}

TEST(PrepTokenizer, UnreadableModelIsOneLineError) {
  try {
    loom::data::Tokenizer tokenizer(loom::test::source_dir() + "/tests/CMakeLists.txt");
    FAIL() << "a text file loaded as a tokenizer";
  } catch (const loom::Error& e) {
    EXPECT_NE(std::string(e.what()).find("CMakeLists.txt: cannot load tokenizer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(loom::data::Tokenizer("/nonexistent/tokenizer.model"), loom::Error);
}

TEST(PrepTokenizer, Md5MatchesKnownDigests) {
  EXPECT_EQ(loom::data::md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(loom::data::md5_hex("The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
  EXPECT_EQ(loom::data::md5_hex(std::string(1000, 'a')), "cabe45dcc9ae5b66ba86600cca6b8ba8");
}

// The incremental digest (shard files, read in pieces) equals the one-shot one for pieces that
// end inside, at and across 64-byte blocks.
TEST(PrepTokenizer, Md5InPiecesEqualsWhole) {
  std::string bytes(1000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  for (size_t piece : {1, 3, 63, 64, 65, 200, 999}) {
    loom::data::Md5 md5;
    for (size_t at = 0; at < bytes.size(); at += piece) md5.update(std::string_view(bytes).substr(at, piece));
    EXPECT_EQ(md5.hex(), loom::data::md5_hex(bytes)) << "pieces of " << piece;
  }
  EXPECT_EQ(loom::data::md5_hex(std::string(1000, 'a')), "cabe45dcc9ae5b66ba86600cca6b8ba8");
}

}  // namespace
