// Crafted shards: every length and index a shard holds is checked against the bound it is used
// with when the shard is opened, and a flipped bit in token data is caught by the Fletcher-32
// checksum. Shards are written by the library writer and then altered with the HDF5 C API.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/hdf5_util.h"
#include "data/shard_reader.h"
#include "data/shard_writer.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "support/test_support.h"
#include "train/reward_task.h"

namespace {

using namespace loom::data;
using loom::test::error_of;
using loom::test::expect_contains;

constexpr int kRowLen = 16;

// One shard of `n` records of `kind` and its manifest in `dir`; returns the manifest's path.
std::string write_shards(const std::string& dir, const Tokenizer& tokenizer, ShardKind kind, int n) {
  const ShardInfo info = loom::test::shard_info_for(tokenizer, kind, kRowLen);
  ShardRows rows;
  for (int i = 0; i < n; ++i) {
    TokenizedRecord r;
    r.text = "question " + std::to_string(i);
    r.tokens = tokenizer.encode(r.text);
    r.tokens.insert(r.tokens.begin(), tokenizer.bos_id());
    r.prompt_len = 2;
    r.rejected = r.tokens;
    r.rejected.push_back(tokenizer.eos_id());
    rows.append_record(r, info, 0, i + 1);
  }
  ShardCounts counts;
  counts.records = counts.documents = rows.rows;
  write_shard_file(dir + "/train-0.h5", info, "train", 0, counts, rows);
  Manifest manifest;
  manifest.info = info;
  ManifestSplit split{"train", {{"train-0.h5", counts}}, counts, 0};
  manifest.splits.push_back(split);
  loom::write_file_atomically(dir + "/manifest.json", manifest_to_json(manifest));
  return dir + "/manifest.json";
}

// Overwrites one value of a (N) dataset.
template <typename T>
void poke(const std::string& path, const char* dataset_name, hsize_t row, T value, hid_t memory_type) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  ASSERT_TRUE(file);
  H5Handle dataset(H5Dopen2(file.id(), dataset_name, H5P_DEFAULT), H5Dclose);
  ASSERT_TRUE(dataset);
  H5Handle space(H5Dget_space(dataset.id()), H5Sclose);
  const hsize_t one = 1;
  ASSERT_GE(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, &row, nullptr, &one, nullptr), 0);
  H5Handle memory(H5Screate_simple(1, &one, nullptr), H5Sclose);
  ASSERT_GE(H5Dwrite(dataset.id(), memory_type, memory.id(), space.id(), H5P_DEFAULT, &value), 0);
}

void poke_int(const std::string& path, const char* dataset, hsize_t row, int32_t value) {
  poke(path, dataset, row, value, H5T_NATIVE_INT32);
}

class ShardBounds : public ::testing::Test {
 protected:
  Tokenizer tokenizer{loom::test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model"};
  std::string open_error(const std::string& manifest, ShardKind kind) {
    return error_of([&] { ShardReader(manifest, "train", kind, &tokenizer); });
  }
};

TEST_F(ShardBounds, UntouchedShardsOpenAndRead) {
  const std::string dir = loom::test::scratch_dir("shard-bounds-clean");
  ShardReader pairs(write_shards(dir, tokenizer, ShardKind::pairs, 3), "train", ShardKind::pairs, &tokenizer);
  std::vector<int32_t> chosen(kRowLen), rejected(kRowLen);
  PairLengths lengths;
  pairs.read_pair(1, chosen.data(), rejected.data(), &lengths);
  EXPECT_EQ(lengths.rejected, lengths.chosen + 1);
  EXPECT_EQ(lengths.prompt, 2);
  EXPECT_EQ(pairs.source(2).line, 3);
}

TEST_F(ShardBounds, PairLengthsPastMaxLenAreRefusedAtOpen) {
  for (const char* dataset : {"chosen_lengths", "rejected_lengths"}) {
    const std::string dir = loom::test::scratch_dir(std::string("shard-bounds-") + dataset);
    const std::string manifest = write_shards(dir, tokenizer, ShardKind::pairs, 3);
    poke_int(dir + "/train-0.h5", dataset, 1, kRowLen + 1000);
    const std::string message = open_error(manifest, ShardKind::pairs);
    expect_contains(message, dir + "/train-0.h5");
    expect_contains(message, std::string("dataset '") + dataset + "' record 1");
    expect_contains(message, "max_len");
  }
}

TEST_F(ShardBounds, PairBatcherNeverSeesLongRows) {
  // Before the check at open, this batch load wrote past the batcher's buffer.
  const std::string dir = loom::test::scratch_dir("shard-bounds-batcher");
  const std::string manifest = write_shards(dir, tokenizer, ShardKind::pairs, 2);
  poke_int(dir + "/train-0.h5", "chosen_lengths", 0, 1 << 20);
  const std::string message = error_of([&] {
    ShardReader reader(manifest, "train", ShardKind::pairs, &tokenizer);
    loom::PairBatcher batcher(2, reader.row_len());
    const int64_t ids[2] = {0, 1};
    batcher.load(reader, ids, 2);
  });
  expect_contains(message, "chosen_lengths' record 0");
}

TEST_F(ShardBounds, ZeroNegativeAndPromptLengthsAreRefused) {
  constexpr int32_t kChosenPlusOne = INT32_MIN;  // a pair's prompt one token longer than its chosen sequence
  struct Case {
    ShardKind kind;
    const char* dataset;
    int32_t value;
    const char* bound;
  };
  const Case cases[] = {{ShardKind::pairs, "chosen_lengths", 0, "is outside 1..16 (max_len)"},
                        {ShardKind::pairs, "prompt_lengths", -1, "is outside 0.."},
                        {ShardKind::pairs, "prompt_lengths", kChosenPlusOne, "(the record's length)"},
                        {ShardKind::prompts, "lengths", -5, "is outside 1..16 (max_prompt_len)"},
                        {ShardKind::sft, "lengths", kRowLen + 1, "is outside 1..16 (seq_len)"},
                        {ShardKind::sft, "prompt_lengths", kRowLen, "(the record's length)"},
                        {ShardKind::prompts, "source_file", 1, "is outside 0..0 (index into source_files)"},
                        {ShardKind::sft, "source_file", -1, "(index into source_files)"}};
  int index = 0;
  for (const Case& c : cases) {
    const std::string dir = loom::test::scratch_dir("shard-bounds-case-" + std::to_string(index++));
    const std::string manifest = write_shards(dir, tokenizer, c.kind, 3);
    int32_t value = c.value;
    if (value == kChosenPlusOne) {
      ShardReader clean(manifest, "train", c.kind, &tokenizer);
      std::vector<int32_t> a(kRowLen), b(kRowLen);
      PairLengths lengths;
      clean.read_pair(2, a.data(), b.data(), &lengths);
      value = lengths.chosen + 1;  // still within the rejected sequence, one token longer
    }
    poke_int(dir + "/train-0.h5", c.dataset, 2, value);
    const std::string message = open_error(manifest, c.kind);
    expect_contains(message, dir + "/train-0.h5: dataset '" + c.dataset + "' record 2");
    expect_contains(message, c.bound);
  }
}

TEST_F(ShardBounds, PromptLengthsPastMaxPromptLenAreRefusedInEveryReader) {
  // PPO and loom-prep inspect read prompts through ShardReader: by a manifest or one shard.
  const std::string dir = loom::test::scratch_dir("shard-bounds-prompts");
  const std::string manifest = write_shards(dir, tokenizer, ShardKind::prompts, 3);
  poke_int(dir + "/train-0.h5", "lengths", 0, kRowLen + 1);
  expect_contains(open_error(manifest, ShardKind::prompts), "dataset 'lengths' record 0");
  const std::string single = error_of([&] { ShardReader::open_shard(dir + "/train-0.h5"); });
  expect_contains(single, dir + "/train-0.h5: dataset 'lengths' record 0: 17 is outside 1..16 (max_prompt_len)");
}

TEST_F(ShardBounds, SourceLineMustBeOneBased) {
  const std::string dir = loom::test::scratch_dir("shard-bounds-line");
  const std::string manifest = write_shards(dir, tokenizer, ShardKind::prompts, 3);
  poke(dir + "/train-0.h5", "source_line", 1, int64_t{0}, H5T_NATIVE_INT64);
  expect_contains(open_error(manifest, ShardKind::prompts), "dataset 'source_line' record 1");
}

TEST_F(ShardBounds, DescriptionNumbersAreBounded) {
  const std::string dir = loom::test::scratch_dir("shard-bounds-manifest");
  const std::string manifest = write_shards(dir, tokenizer, ShardKind::pairs, 2);
  const nlohmann::json original = nlohmann::json::parse(loom::read_text_file(manifest));
  using Edit = std::function<void(nlohmann::json&)>;
  const std::pair<Edit, std::string> edits[] = {
      {[](nlohmann::json& j) { j["max_len"] = 4294967312; }, "max_len = 4294967312 is outside 1..1048576"},
      {[](nlohmann::json& j) { j["max_len"] = 0; }, "max_len = 0 is outside"},
      {[](nlohmann::json& j) { j["bos_id"] = 32000; }, "bos_id = 32000 is outside -1..31999"},
      {[](nlohmann::json& j) { j["pad_id"] = -7; }, "pad_id = -7 is outside"},
      {[](nlohmann::json& j) { j["vocab_size"] = -1; }, "vocab_size = -1 is outside"},
      {[](nlohmann::json& j) { j["splits"]["train"]["shards"][0]["records"] = -2; }, "must not be negative"},
      {[](nlohmann::json& j) { j["splits"]["train"]["shards"][0]["records"] = 18446744073709551615u; },
       "records must be an integer"},
      {[](nlohmann::json& j) { j["splits"]["train"]["shards"][0]["file"] = "../x/train-0.h5"; },
       "not a file name inside"},
      {[](nlohmann::json& j) { j["source_files"][0] = 7; }, "'source_files' must be a list of strings"},
      {[](nlohmann::json& j) { j["format"] = 3; }, "not a loom token-shard manifest"},
      {[](nlohmann::json& j) { j["seed"] = "x"; }, "seed must be an integer, found \"x\""}};
  for (const auto& [edit, expected] : edits) {
    nlohmann::json edited = original;
    edit(edited);
    loom::write_file_atomically(manifest, edited.dump(2));
    const std::string message = open_error(manifest, ShardKind::pairs);
    expect_contains(message, manifest);
    expect_contains(message, expected);
  }
}

// The file offset of the first chunk of `dataset_name`.
haddr_t first_chunk_address(const std::string& path, const char* dataset_name) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle dataset(H5Dopen2(file.id(), dataset_name, H5P_DEFAULT), H5Dclose);
  H5Handle space(H5Dget_space(dataset.id()), H5Sclose);
  hsize_t offset[2] = {0, 0};
  unsigned filter_mask = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  EXPECT_GE(H5Dget_chunk_info(dataset.id(), space.id(), 0, offset, &filter_mask, &address, &size), 0);
  return address;
}

TEST_F(ShardBounds, FlippedBitInTokenDataIsAChecksumError) {
  for (ShardKind kind : {ShardKind::pairs, ShardKind::prompts}) {
    const std::string dir = loom::test::scratch_dir(std::string("shard-bounds-flip-") + shard_kind_name(kind));
    const std::string manifest = write_shards(dir, tokenizer, kind, 3);
    const std::string shard = dir + "/train-0.h5";
    const char* tokens = kind == ShardKind::pairs ? "chosen" : "tokens";
    const haddr_t address = first_chunk_address(shard, tokens);
    ASSERT_NE(address, HADDR_UNDEF);
    {
      // The low byte of record 0's first token (the BOS id 1, little-endian): 1 -> 0, still a
      // token of the vocabulary, so only the checksum can tell.
      std::fstream file(shard, std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(static_cast<std::streamoff>(address));
      char byte = 0;
      file.read(&byte, 1);
      ASSERT_EQ(byte, 1);
      byte ^= 1;
      file.seekp(static_cast<std::streamoff>(address));
      file.write(&byte, 1);
    }
    ShardReader reader(manifest, "train", kind, &tokenizer);
    std::vector<int32_t> a(kRowLen), b(kRowLen);
    int32_t length = 0;
    PairLengths lengths;
    const std::string message = error_of([&] {
      if (kind == ShardKind::pairs)
        reader.read_pair(0, a.data(), b.data(), &lengths);
      else
        reader.read_prompt(0, a.data(), &length, nullptr);
    });
    expect_contains(message, shard + ": cannot read record 0");
  }
}

TEST_F(ShardBounds, DatasetsWithoutChecksumsAreRefused) {
  const std::string dir = loom::test::scratch_dir("shard-bounds-nochecksum");
  const std::string manifest = write_shards(dir, tokenizer, ShardKind::prompts, 2);
  const std::string shard = dir + "/train-0.h5";
  {
    // Replace 'lengths' by a copy without the filter.
    H5Handle file(H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    std::vector<int32_t> values(2, 3);
    ASSERT_GE(H5Ldelete(file.id(), "lengths", H5P_DEFAULT), 0);
    const hsize_t dims = 2;
    H5Handle space(H5Screate_simple(1, &dims, nullptr), H5Sclose);
    H5Handle dataset(H5Dcreate2(file.id(), "lengths", H5T_STD_I32LE, space.id(), H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT), H5Dclose);
    ASSERT_GE(H5Dwrite(dataset.id(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  }
  expect_contains(open_error(manifest, ShardKind::prompts), shard + ": dataset 'lengths' has no Fletcher-32 checksum");
}

}  // namespace
