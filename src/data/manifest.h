// What a set of shards holds: the description every shard repeats in its attributes, the
// per-shard counts, and manifest.json, which lists the shards of each split in record order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/shard_format.h"

namespace loom::data {

struct ShardInfo {
  ShardKind kind = ShardKind::sft;
  SftLayout layout = SftLayout::packed;  // sft only
  int row_len = 0;                       // seq_len / max_len / max_prompt_len
  std::string tokenizer_md5, tokenizer_path;
  int vocab_size = 0, bos_id = -1, eos_id = -1, pad_id = -1;
  std::string template_name;
  uint64_t seed = 0;
  std::vector<std::string> source_files;
};

struct ShardCounts {
  int64_t records = 0;    // rows
  int64_t documents = 0;  // input records that went into the rows
  int64_t tokens = 0;     // tokens in the rows, padding excluded
  int64_t dropped_invalid = 0, dropped_empty = 0, dropped_too_long = 0, dropped_identical = 0;
  int64_t truncated = 0;
  void add(const ShardCounts& other);
  nlohmann::json to_json() const;
  static ShardCounts from_json(const nlohmann::json& object, const std::string& where);
};

struct ManifestShard {
  std::string file;  // relative to the manifest's folder
  ShardCounts counts;
  // MD5 of the file's bytes, checked before HDF5 opens it (libhdf5 can crash on a corrupted
  // header); empty in manifests of loom-prep before it recorded one (read with a warning).
  std::string md5;
};

struct ManifestSplit {
  std::string name;  // "train" or "eval"
  std::vector<ManifestShard> shards;
  ShardCounts totals;
  int64_t tail_tokens_dropped = 0;  // packed sft: the last block shorter than seq_len
};

struct Manifest {
  ShardInfo info;
  std::vector<ManifestSplit> splits;
  const ManifestSplit& split(const std::string& name, const std::string& where) const;
};

// `value` as an int when it lies in [low, high], else "<where>: <key> = value is outside low..high".
int bounded_int(int64_t value, int64_t low, int64_t high, const std::string& where, const char* key);
// Reads the description's numbers from `get(key)` (a manifest's members or a shard's
// attributes) with the bounds everything downstream relies on: 1 <= row length <=
// kMaxShardRowLen, 1 <= vocab_size <= kMaxShardVocab, special ids in -1..vocab_size-1.
void read_shard_numbers(ShardInfo* info, const std::function<int64_t(const char*)>& get, const std::string& where);

std::string manifest_to_json(const Manifest& manifest);
// "<path>: ..." for anything missing or malformed.
Manifest read_manifest(const std::string& path);

// Before HDF5 reads shard_path: its bytes' MD5 must be the one the manifest recorded (a shard
// without one passes). "<shard_path>: MD5 ... is not ... recorded in <manifest_path>" otherwise.
void require_shard_md5(const std::string& shard_path, const ManifestShard& shard, const std::string& manifest_path);
// For a shard opened alone (loom-prep inspect FILE): checks it against the manifest.json beside
// it when that manifest lists the file with an MD5; otherwise nothing can be checked.
void require_shard_md5_beside(const std::string& shard_path);
// One line on stderr, once per manifest and process, when its shards have no MD5.
void warn_if_without_md5(const Manifest& manifest, const std::string& manifest_path);

}  // namespace loom::data
