// The layout of loom's token shards (docs/formats.md, "Token shards (HDF5)"): one place for
// the names of datasets and attributes, shared by the writer (loom-prep) and the reader.
#pragma once

#include <string>

#include "core/check.h"

namespace loom::data {

// 2: every dataset carries HDF5 Fletcher-32 chunk checksums.
inline constexpr int kShardFormatVersion = 2;
inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kManifestFormat = "loom-token-shards";

// Bounds on a shard's description, checked when it is read (a row is allocated from row_len).
inline constexpr int kMaxShardRowLen = 1 << 20;
inline constexpr int kMaxShardVocab = 1 << 24;

enum class ShardKind { sft, pairs, prompts };
// How sft rows are made: TRL ConstantLengthDataset blocks, the same with document indices,
// or one padded document a row with a completion-only loss mask.
enum class SftLayout { packed, packed_docs, padded };

inline const char* shard_kind_name(ShardKind kind) {
  switch (kind) {
    case ShardKind::sft: return "sft";
    case ShardKind::pairs: return "pairs";
    case ShardKind::prompts: return "prompts";
  }
  return "?";
}

inline ShardKind parse_shard_kind(const std::string& name, const std::string& where) {
  if (name == "sft") return ShardKind::sft;
  if (name == "pairs") return ShardKind::pairs;
  if (name == "prompts") return ShardKind::prompts;
  LOOM_FAIL(where, ": unknown shard kind '", name, "' (expected sft, pairs or prompts)");
}

inline const char* sft_layout_name(SftLayout layout) {
  switch (layout) {
    case SftLayout::packed: return "packed";
    case SftLayout::packed_docs: return "packed_docs";
    case SftLayout::padded: return "padded";
  }
  return "?";
}

inline SftLayout parse_sft_layout(const std::string& name, const std::string& where) {
  if (name == "packed") return SftLayout::packed;
  if (name == "packed_docs") return SftLayout::packed_docs;
  if (name == "padded") return SftLayout::padded;
  LOOM_FAIL(where, ": unknown sft layout '", name, "' (expected packed, packed_docs or padded)");
}

// The attribute naming the row length of each kind.
inline const char* row_length_attribute(ShardKind kind) {
  switch (kind) {
    case ShardKind::sft: return "seq_len";
    case ShardKind::pairs: return "max_len";
    case ShardKind::prompts: return "max_prompt_len";
  }
  return "?";
}

namespace shard_names {
// Datasets. (N) one value a row; (N, L) one row of L tokens.
inline constexpr const char* kTokens = "tokens";                     // int32 (N, L): sft, prompts
inline constexpr const char* kDocIndex = "doc_index";                // int32 (N, L): sft packed_docs
inline constexpr const char* kLossMask = "loss_mask";                // uint8 (N, L): sft padded
inline constexpr const char* kLengths = "lengths";                   // int32 (N): sft padded, prompts
inline constexpr const char* kChosen = "chosen";                     // int32 (N, L): pairs
inline constexpr const char* kRejected = "rejected";                 // int32 (N, L): pairs
inline constexpr const char* kChosenLengths = "chosen_lengths";      // int32 (N): pairs
inline constexpr const char* kRejectedLengths = "rejected_lengths";  // int32 (N): pairs
inline constexpr const char* kPromptLengths = "prompt_lengths";      // int32 (N): pairs, sft padded
inline constexpr const char* kText = "text";                         // string (N): prompts
inline constexpr const char* kSourceFile = "source_file";            // int32 (N): index into source_files
inline constexpr const char* kSourceLine = "source_line";            // int64 (N): 1-based line in that file

// Attributes of the root group.
inline constexpr const char* kFormatVersion = "format_version";
inline constexpr const char* kKind = "kind";
inline constexpr const char* kSftLayout = "sft_layout";
inline constexpr const char* kTokenizerMd5 = "tokenizer_md5";
inline constexpr const char* kTokenizerPath = "tokenizer_path";
inline constexpr const char* kVocabSize = "vocab_size";
inline constexpr const char* kBosId = "bos_id";
inline constexpr const char* kEosId = "eos_id";
inline constexpr const char* kPadId = "pad_id";
inline constexpr const char* kSourceFiles = "source_files";
inline constexpr const char* kTemplate = "template";
inline constexpr const char* kSplit = "split";
inline constexpr const char* kSeed = "seed";
inline constexpr const char* kShardIndex = "shard_index";
inline constexpr const char* kRecords = "records";
inline constexpr const char* kDocuments = "documents";
inline constexpr const char* kTokenCount = "tokens";
inline constexpr const char* kDroppedInvalid = "dropped_invalid";
inline constexpr const char* kDroppedEmpty = "dropped_empty";
inline constexpr const char* kDroppedTooLong = "dropped_too_long";
inline constexpr const char* kDroppedIdentical = "dropped_identical";
inline constexpr const char* kTruncated = "truncated";
}  // namespace shard_names

}  // namespace loom::data
