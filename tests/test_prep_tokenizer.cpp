// The SentencePiece wrapper against the genuine Llama-2 tokenizer and real HH-RLHF text.
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/md5.h"
#include "data/tokenizer.h"
#include "support/test_support.h"

namespace {

std::string tokenizer_path() { return loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"; }

std::vector<std::string> hh_lines(size_t count) {
  const std::string path = loom::test::shared_dir() + "/data/hh-rlhf/harmless-base-test.jsonl.gz";
  gzFile in = gzopen(path.c_str(), "rb");
  EXPECT_TRUE(in) << path;
  std::vector<std::string> lines;
  char buffer[1 << 16];
  std::string line;
  while (in && lines.size() < count && gzgets(in, buffer, sizeof(buffer))) {
    line += buffer;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      lines.push_back(line);
      line.clear();
    }
  }
  if (in) gzclose(in);
  return lines;
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
  const std::vector<std::string> lines = hh_lines(300);
  ASSERT_EQ(lines.size(), 300u);
  for (size_t i = 0; i < lines.size(); ++i) {
    for (const char* field : {"chosen", "rejected"}) {
      const std::string text = nlohmann::json::parse(lines[i])[field].get<std::string>();
      const std::vector<int32_t> ids = tokenizer.encode(text);
      ASSERT_EQ(tokenizer.decode(ids.data(), ids.size()), text) << "line " << i + 1 << " field " << field;
    }
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

}  // namespace
