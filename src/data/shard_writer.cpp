#include "data/shard_writer.h"

#include <algorithm>

#include "data/hdf5_util.h"

namespace loom::data {

namespace names = shard_names;

static void append_padded(std::vector<int32_t>* rows, const std::vector<int32_t>& tokens, int row_len, int32_t pad) {
  rows->insert(rows->end(), tokens.begin(), tokens.end());
  rows->insert(rows->end(), static_cast<size_t>(row_len) - tokens.size(), pad);
}

void ShardRows::append_record(const TokenizedRecord& record, const ShardInfo& info, int32_t file, int64_t line) {
  const int32_t pad = info.pad_id >= 0 ? info.pad_id : info.eos_id;
  const int32_t length = static_cast<int32_t>(record.tokens.size());
  LOOM_ASSERT(length <= info.row_len && static_cast<int>(record.rejected.size()) <= info.row_len);
  switch (info.kind) {
    case ShardKind::sft:
      LOOM_ASSERT(info.layout == SftLayout::padded);
      append_padded(&tokens, record.tokens, info.row_len, pad);
      if (record.loss_mask.empty()) {
        loss_mask.insert(loss_mask.end(), static_cast<size_t>(record.prompt_len), uint8_t{0});
        loss_mask.insert(loss_mask.end(), static_cast<size_t>(length - record.prompt_len), uint8_t{1});
      } else {
        LOOM_ASSERT(record.loss_mask.size() == record.tokens.size());
        loss_mask.insert(loss_mask.end(), record.loss_mask.begin(), record.loss_mask.end());
      }
      loss_mask.insert(loss_mask.end(), static_cast<size_t>(info.row_len - length), uint8_t{0});
      lengths.push_back(length);
      prompt_lengths.push_back(record.prompt_len);
      break;
    case ShardKind::pairs:
      append_padded(&chosen, record.tokens, info.row_len, pad);
      append_padded(&rejected, record.rejected, info.row_len, pad);
      chosen_lengths.push_back(length);
      rejected_lengths.push_back(static_cast<int32_t>(record.rejected.size()));
      prompt_lengths.push_back(record.prompt_len);
      break;
    case ShardKind::prompts:
      append_padded(&tokens, record.tokens, info.row_len, pad);
      lengths.push_back(length);
      texts.push_back(record.text);
      break;
  }
  source_file.push_back(file);
  source_line.push_back(line);
  ++rows;
}

// About 512 KiB a chunk: large enough to stream, small enough for HDF5's default chunk cache.
static hsize_t chunk_rows(int64_t row_bytes) { return std::max<hsize_t>(1, (512 * 1024) / row_bytes); }

// A chunked dataset of `rows` x `cols` (cols == 0: one-dimensional) holding `data`. Numeric
// datasets get HDF5's Fletcher-32 chunk checksum, which the library verifies on every read
// (HDF5 filters cannot apply to variable-length strings).
static void write_dataset(hid_t file, const char* name, hid_t file_type, hid_t memory_type, int64_t rows, int64_t cols,
                          size_t element_bytes, const void* data) {
  const bool numeric = H5Tget_class(file_type) != H5T_STRING;
  const int rank = cols > 0 ? 2 : 1;
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(cols)};
  const hsize_t chunk[2] = {chunk_rows(static_cast<int64_t>(element_bytes) * std::max<int64_t>(cols, 1)),
                            static_cast<hsize_t>(cols)};
  H5Handle space(LOOM_H5_CHECK(H5Screate_simple(rank, dims, max_dims)), H5Sclose);
  H5Handle plist(LOOM_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)), H5Pclose);
  LOOM_H5_CHECK(H5Pset_chunk(plist.id(), rank, chunk));
  if (numeric) LOOM_H5_CHECK(H5Pset_fletcher32(plist.id()));
  H5Handle dataset(LOOM_H5_CHECK(H5Dcreate2(file, name, file_type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT)),
                   H5Dclose);
  if (rows > 0) LOOM_H5_CHECK(H5Dwrite(dataset.id(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  dataset.close(cat("dataset '", name, "'"));
}

static void write_ints(hid_t file, const char* name, const std::vector<int32_t>& values, int64_t rows, int64_t cols) {
  LOOM_ASSERT(static_cast<int64_t>(values.size()) == rows * std::max<int64_t>(cols, 1));
  write_dataset(file, name, H5T_STD_I32LE, H5T_NATIVE_INT32, rows, cols, 4, values.data());
}

static void write_strings(hid_t file, const char* name, const std::vector<std::string>& values) {
  H5Handle type(LOOM_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  LOOM_H5_CHECK(H5Tset_size(type.id(), H5T_VARIABLE));
  LOOM_H5_CHECK(H5Tset_cset(type.id(), H5T_CSET_UTF8));
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  write_dataset(file, name, type.id(), type.id(), static_cast<int64_t>(values.size()), 0, sizeof(char*),
                pointers.data());
}

static void write_attributes(hid_t file, const ShardInfo& info, const std::string& split, int shard_index,
                             const ShardCounts& counts) {
  h5_write_attr_int(file, names::kFormatVersion, kShardFormatVersion);
  h5_write_attr_string(file, names::kKind, shard_kind_name(info.kind));
  if (info.kind == ShardKind::sft) h5_write_attr_string(file, names::kSftLayout, sft_layout_name(info.layout));
  h5_write_attr_int(file, row_length_attribute(info.kind), info.row_len);
  h5_write_attr_string(file, names::kTokenizerMd5, info.tokenizer_md5);
  h5_write_attr_string(file, names::kTokenizerPath, info.tokenizer_path);
  h5_write_attr_int(file, names::kVocabSize, info.vocab_size);
  h5_write_attr_int(file, names::kBosId, info.bos_id);
  h5_write_attr_int(file, names::kEosId, info.eos_id);
  h5_write_attr_int(file, names::kPadId, info.pad_id);
  h5_write_attr_strings(file, names::kSourceFiles, info.source_files);
  h5_write_attr_string(file, names::kTemplate, info.template_name);
  h5_write_attr_string(file, names::kSplit, split);
  h5_write_attr_int(file, names::kSeed, static_cast<int64_t>(info.seed));
  h5_write_attr_int(file, names::kShardIndex, shard_index);
  const nlohmann::json totals = counts.to_json();
  for (const auto& [key, value] : totals.items()) h5_write_attr_int(file, key, value.get<int64_t>());
}

static void write_contents(hid_t file, const ShardInfo& info, const ShardRows& r) {
  const int64_t L = info.row_len;
  switch (info.kind) {
    case ShardKind::sft:
      write_ints(file, names::kTokens, r.tokens, r.rows, L);
      if (info.layout == SftLayout::packed_docs) write_ints(file, names::kDocIndex, r.doc_index, r.rows, L);
      if (info.layout == SftLayout::padded) {
        LOOM_ASSERT(static_cast<int64_t>(r.loss_mask.size()) == r.rows * L);
        write_dataset(file, names::kLossMask, H5T_STD_U8LE, H5T_NATIVE_UINT8, r.rows, L, 1, r.loss_mask.data());
        write_ints(file, names::kLengths, r.lengths, r.rows, 0);
        write_ints(file, names::kPromptLengths, r.prompt_lengths, r.rows, 0);
      }
      break;
    case ShardKind::pairs:
      write_ints(file, names::kChosen, r.chosen, r.rows, L);
      write_ints(file, names::kRejected, r.rejected, r.rows, L);
      write_ints(file, names::kChosenLengths, r.chosen_lengths, r.rows, 0);
      write_ints(file, names::kRejectedLengths, r.rejected_lengths, r.rows, 0);
      write_ints(file, names::kPromptLengths, r.prompt_lengths, r.rows, 0);
      break;
    case ShardKind::prompts:
      write_ints(file, names::kTokens, r.tokens, r.rows, L);
      write_ints(file, names::kLengths, r.lengths, r.rows, 0);
      write_strings(file, names::kText, r.texts);
      break;
  }
  if (info.kind == ShardKind::sft && info.layout != SftLayout::padded) return;
  write_ints(file, names::kSourceFile, r.source_file, r.rows, 0);
  LOOM_ASSERT(static_cast<int64_t>(r.source_line.size()) == r.rows);
  write_dataset(file, names::kSourceLine, H5T_STD_I64LE, H5T_NATIVE_INT64, r.rows, 0, 8, r.source_line.data());
}

void write_shard_file(const std::string& path, const ShardInfo& info, const std::string& split, int shard_index,
                      const ShardCounts& counts, const ShardRows& rows) {
  H5Handle file = h5_create_file(path);
  try {
    write_attributes(file.id(), info, split, shard_index, counts);
    write_contents(file.id(), info, rows);
  } catch (const Error& e) {
    LOOM_FAIL(path, ": cannot write shard (", e.what(), ")");
  }
  LOOM_REQUIRE(H5Fflush(file.id(), H5F_SCOPE_GLOBAL) >= 0, path, ": cannot write shard (", hdf5_error_detail(), ")");
  file.close(path);
}

}  // namespace loom::data
