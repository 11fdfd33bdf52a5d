// Writing one token shard (docs/formats.md). Rows are collected in memory in record order,
// then written in one pass as chunked datasets sized for streaming reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/records.h"

namespace loom::data {

struct ShardRows {
  int64_t rows = 0;
  std::vector<int32_t> tokens;            // (N, L): sft, prompts (right-padded)
  std::vector<int32_t> doc_index;         // (N, L): sft packed_docs
  std::vector<uint8_t> loss_mask;         // (N, L): sft padded
  std::vector<int32_t> lengths;           // (N): sft padded, prompts
  std::vector<int32_t> chosen, rejected;  // (N, L): pairs (right-padded)
  std::vector<int32_t> chosen_lengths, rejected_lengths, prompt_lengths;  // (N)
  std::vector<std::string> texts;         // (N): prompts
  std::vector<int32_t> source_file;       // (N): every kind but packed sft
  std::vector<int64_t> source_line;       // (N)

  // Adds one record of a padded kind (sft padded, pairs, prompts) as a row.
  void append_record(const TokenizedRecord& record, const ShardInfo& info, int32_t file, int64_t line);
};

// Writes the shard at `path` (the caller names it temporary and renames it when every rank is
// done). "<path>: ..." when it cannot be written, a full disk included.
void write_shard_file(const std::string& path, const ShardInfo& info, const std::string& split, int shard_index,
                      const ShardCounts& counts, const ShardRows& rows);

}  // namespace loom::data
