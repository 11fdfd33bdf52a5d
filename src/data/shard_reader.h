// Reading token shards for training: the shards of one split of a manifest, seen as one
// sequence of records in manifest order. Opening validates everything a trainer relies on
// (format version, kind, tokenizer fingerprint, vocabulary bounds, dataset shapes); every read
// checks its token ids against the vocabulary. Shards stay open; a read is one hyperslab.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/hdf5_util.h"
#include "data/manifest.h"
#include "data/tokenizer.h"

namespace loom::data {

struct PairLengths {
  int32_t chosen = 0, rejected = 0, prompt = 0;
};

struct RecordSource {
  std::string file;  // as given to loom-prep
  int64_t line = 0;  // 1-based
};

class ShardReader {
 public:
  // `tokenizer` (may be null: no fingerprint check) is the model's tokenizer; the shards must
  // come from the same tokenizer.model. Errors name the manifest or the shard file.
  ShardReader(const std::string& manifest_path, const std::string& split, ShardKind expected_kind,
              const Tokenizer* tokenizer);
  // One shard file on its own (loom-prep inspect).
  static ShardReader open_shard(const std::string& shard_path);

  const ShardInfo& info() const { return info_; }
  int64_t num_records() const { return offsets_.back(); }
  int row_len() const { return info_.row_len; }

  // sft: tokens (L); doc_index (L) is 0 for every token of packed blocks without boundaries and
  // of padded rows; loss_mask (L) is 1 for tokens that are targets (all of a packed block).
  void read_sft_block(int64_t id, int32_t* tokens, int32_t* doc_index_or_null, uint8_t* loss_mask_or_null);
  // pairs: chosen (L), rejected (L), right-padded with the pad id.
  void read_pair(int64_t id, int32_t* chosen, int32_t* rejected, PairLengths* lengths);
  // prompts: tokens (L) right-padded, the prompt's token count and its text.
  void read_prompt(int64_t id, int32_t* tokens, int32_t* length, std::string* text_or_null);
  // Where a record came from (every kind but packed sft).
  RecordSource source(int64_t id);
  // Tokens in the record (padding excluded): L for packed sft.
  int32_t record_length(int64_t id);

 private:
  // The one-value-a-record datasets, read and bounds-checked when the shard is opened (empty
  // when the kind has none).
  struct RecordValues {
    std::vector<int32_t> lengths;         // lengths / chosen_lengths: 1..L
    std::vector<int32_t> lengths2;        // rejected_lengths: 1..L
    std::vector<int32_t> prompt_lengths;  // 0..the record's length (both lengths for pairs)
    std::vector<int32_t> source_file;     // index into info().source_files
    std::vector<int64_t> source_line;     // >= 1
  };
  struct Shard {
    std::string path;
    H5Handle file;
    std::vector<H5Handle> datasets;  // by DatasetSlot
    RecordValues values;
  };
  enum DatasetSlot { kRows, kRows2, kDocs, kMask, kLengths, kLengths2, kPromptLengths, kText, kSrcFile, kSrcLine, kSlots };
  ShardReader() = default;
  void add_shard(const std::string& path, int64_t expected_rows);
  void read_record_values(Shard& shard, int64_t rows);
  Shard& locate(int64_t id, hsize_t* row);
  void read_row(Shard& shard, DatasetSlot slot, hsize_t row, hid_t memory_type, void* out, hsize_t width);
  void check_tokens(const Shard& shard, hsize_t row, const int32_t* ids, int count) const;

  ShardInfo info_;
  std::vector<Shard> shards_;
  std::vector<int64_t> offsets_{0};  // first record id of each shard; back() = total
};

}  // namespace loom::data
