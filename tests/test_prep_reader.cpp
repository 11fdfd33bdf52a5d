// ShardReader over shards written by the library writer: manifest order, validation on open,
// and the sampler's determinism, partitioning and resume.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/check.h"
#include "data/shard_reader.h"
#include "data/shard_sampler.h"
#include "data/shard_writer.h"
#include "io/atomic_file.h"
#include "support/test_support.h"

namespace {

using namespace loom::data;

ShardInfo prompt_info(const Tokenizer& tokenizer) {
  return loom::test::shard_info_for(tokenizer, ShardKind::prompts, 8);
}

// Two shards of prompts "p0".."p{n-1}", split at `first_shard_rows`.
std::string write_prompt_shards(const std::string& dir, const Tokenizer& tokenizer, int n, int first_shard_rows) {
  const ShardInfo info = prompt_info(tokenizer);
  Manifest manifest;
  manifest.info = info;
  ManifestSplit split;
  split.name = "train";
  for (int shard = 0; shard < 2; ++shard) {
    ShardRows rows;
    const int begin = shard == 0 ? 0 : first_shard_rows, end = shard == 0 ? first_shard_rows : n;
    for (int i = begin; i < end; ++i) {
      TokenizedRecord r;
      r.text = "p" + std::to_string(i);
      r.tokens = tokenizer.encode(r.text);
      rows.append_record(r, info, 0, i + 1);
    }
    ShardCounts counts;
    counts.records = counts.documents = rows.rows;
    const std::string file = "train-" + std::to_string(shard) + ".h5";
    write_shard_file(dir + "/" + file, info, "train", shard, counts, rows);
    split.shards.push_back({file, counts});
    split.totals.add(counts);
  }
  manifest.splits.push_back(split);
  loom::write_file_atomically(dir + "/manifest.json", manifest_to_json(manifest));
  return dir + "/manifest.json";
}

class PrepReader : public ::testing::Test {
 protected:
  Tokenizer tokenizer{loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"};
};

TEST_F(PrepReader, ReadsRecordsInManifestOrder) {
  const std::string dir = loom::test::scratch_dir("prep-reader-order");
  const std::string manifest = write_prompt_shards(dir, tokenizer, 10, 4);
  ShardReader reader(manifest, "train", ShardKind::prompts, &tokenizer);
  ASSERT_EQ(reader.num_records(), 10);
  for (int i = 0; i < 10; ++i) {
    std::vector<int32_t> tokens(8);
    int32_t length = 0;
    std::string text;
    reader.read_prompt(i, tokens.data(), &length, &text);
    EXPECT_EQ(text, "p" + std::to_string(i));
    EXPECT_EQ(tokenizer.decode(tokens.data(), length), text);
    EXPECT_EQ(tokens[7], tokenizer.padding_id());
    EXPECT_EQ(reader.source(i).line, i + 1);
  }
  EXPECT_THROW(reader.read_prompt(10, nullptr, nullptr, nullptr), loom::Error);
}

TEST_F(PrepReader, ValidatesOnOpen) {
  const std::string dir = loom::test::scratch_dir("prep-reader-validate");
  const std::string manifest = write_prompt_shards(dir, tokenizer, 6, 3);
  auto message_of = [](auto&& open) {
    try {
      open();
    } catch (const loom::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of([&] { ShardReader(manifest, "train", ShardKind::sft, &tokenizer); }).find("not the 'sft' records"),
            std::string::npos);
  EXPECT_NE(message_of([&] { ShardReader(manifest, "eval", ShardKind::prompts, &tokenizer); }).find("no split 'eval'"),
            std::string::npos);
  // A manifest naming another tokenizer.
  std::string text;
  {
    std::ifstream in(manifest);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string md5 = tokenizer.model_md5();
  std::string other = text;
  other.replace(other.find(md5), md5.size(), std::string(32, '0'));
  loom::write_file_atomically(dir + "/other.json", other);
  EXPECT_NE(message_of([&] { ShardReader(dir + "/other.json", "train", ShardKind::prompts, &tokenizer); })
                .find("made with tokenizer md5 00000000"),
            std::string::npos);
  // A shard that disagrees with its manifest's count.
  std::string miscounted = text;
  miscounted.replace(miscounted.find("\"records\": 3"), 12, "\"records\": 4");
  loom::write_file_atomically(dir + "/miscounted.json", miscounted);
  EXPECT_NE(message_of([&] { ShardReader(dir + "/miscounted.json", "train", ShardKind::prompts, &tokenizer); })
                .find("wrong shape"),
            std::string::npos);
  std::filesystem::remove(dir + "/train-1.h5");
  EXPECT_NE(message_of([&] { ShardReader(manifest, "train", ShardKind::prompts, &tokenizer); }).find("train-1.h5"),
            std::string::npos);
}

TEST(PrepSampler, DeterministicPerSeedAndEpoch) {
  ShardSampler a(100, 42, 1, 3, Partition::strided), b(100, 42, 1, 3, Partition::strided);
  EXPECT_EQ(a.epoch_records(0), b.epoch_records(0));
  EXPECT_NE(a.epoch_records(0), a.epoch_records(1));
  EXPECT_NE(a.epoch_records(0), ShardSampler(100, 43, 1, 3, Partition::strided).epoch_records(0));
  std::vector<int64_t> drawn;
  for (int i = 0; i < 33 * 2; ++i) drawn.push_back(a.next());
  std::vector<int64_t> expected = a.epoch_records(0);
  const std::vector<int64_t> second = a.epoch_records(1);
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(drawn, expected);
  EXPECT_EQ(a.cursor(), (SamplerCursor{1, 33}));
}

TEST(PrepSampler, RanksPartitionAnEpoch) {
  for (Partition p : {Partition::strided, Partition::block}) {
    std::set<int64_t> seen;
    for (int rank = 0; rank < 4; ++rank) {
      ShardSampler s(103, 7, rank, 4, p);
      EXPECT_EQ(s.records_per_rank(), 25);
      for (int64_t id : s.epoch_records(2)) EXPECT_TRUE(seen.insert(id).second) << "record " << id << " twice";
    }
    EXPECT_EQ(seen.size(), 100u);
  }
  // Strided and block deal the same permutation differently.
  EXPECT_NE(ShardSampler(100, 7, 0, 4, Partition::strided).epoch_records(0),
            ShardSampler(100, 7, 0, 4, Partition::block).epoch_records(0));
}

TEST(PrepSampler, ResumesFromASavedCursor) {
  ShardSampler original(50, 3, 0, 2, Partition::block);
  for (int i = 0; i < 37; ++i) original.next();
  const nlohmann::json saved = original.cursor().to_json();
  std::vector<int64_t> rest;
  for (int i = 0; i < 30; ++i) rest.push_back(original.next());
  ShardSampler resumed(50, 3, 0, 2, Partition::block);
  resumed.restore(SamplerCursor::from_json(saved, "checkpoint"));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(resumed.next(), rest[i]) << "draw " << i;
  EXPECT_THROW(resumed.restore({0, 26}), loom::Error);
  EXPECT_THROW(SamplerCursor::from_json(nlohmann::json{{"epoch", 0}}, "checkpoint"), loom::Error);
}

}  // namespace
