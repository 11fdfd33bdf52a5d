#include "data/shard_reader.h"

#include <algorithm>
#include <filesystem>

namespace loom::data {

namespace names = shard_names;

static ShardInfo read_shard_info(hid_t file, const std::string& path) {
  const int64_t version = h5_read_attr_int(file, names::kFormatVersion, path);
  LOOM_REQUIRE(version == kShardFormatVersion, path, ": format_version ", version, " is not the supported ",
               kShardFormatVersion);
  ShardInfo info;
  info.kind = parse_shard_kind(h5_read_attr_string(file, names::kKind, path), path);
  if (info.kind == ShardKind::sft)
    info.layout = parse_sft_layout(h5_read_attr_string(file, names::kSftLayout, path), path);
  read_shard_numbers(&info, [&](const char* key) { return h5_read_attr_int(file, key, path); }, path);
  info.tokenizer_md5 = h5_read_attr_string(file, names::kTokenizerMd5, path);
  info.tokenizer_path = h5_read_attr_string(file, names::kTokenizerPath, path);
  info.source_files = h5_read_attr_strings(file, names::kSourceFiles, path);
  info.template_name = h5_read_attr_string(file, names::kTemplate, path);
  info.seed = static_cast<uint64_t>(h5_read_attr_int(file, names::kSeed, path));
  return info;
}

static void require_same_description(const ShardInfo& shard, const ShardInfo& manifest, const std::string& path) {
  LOOM_REQUIRE(shard.kind == manifest.kind && shard.layout == manifest.layout && shard.row_len == manifest.row_len,
               path, ": kind, layout or row length differs from the manifest");
  LOOM_REQUIRE(shard.tokenizer_md5 == manifest.tokenizer_md5 && shard.vocab_size == manifest.vocab_size, path,
               ": tokenizer differs from the manifest");
}

// The datasets each kind has, by slot ("" = none).
static std::vector<const char*> dataset_names(const ShardInfo& info) {
  std::vector<const char*> slots(10, "");
  const bool has_source = !(info.kind == ShardKind::sft && info.layout != SftLayout::padded);
  switch (info.kind) {
    case ShardKind::sft:
      slots[0] = names::kTokens;
      if (info.layout == SftLayout::packed_docs) slots[2] = names::kDocIndex;
      if (info.layout == SftLayout::padded) {
        slots[3] = names::kLossMask;
        slots[4] = names::kLengths;
        slots[6] = names::kPromptLengths;
      }
      break;
    case ShardKind::pairs:
      slots[0] = names::kChosen;
      slots[1] = names::kRejected;
      slots[4] = names::kChosenLengths;
      slots[5] = names::kRejectedLengths;
      slots[6] = names::kPromptLengths;
      break;
    case ShardKind::prompts:
      slots[0] = names::kTokens;
      slots[4] = names::kLengths;
      slots[7] = names::kText;
      break;
  }
  if (has_source) {
    slots[8] = names::kSourceFile;
    slots[9] = names::kSourceLine;
  }
  return slots;
}

ShardReader::ShardReader(const std::string& manifest_path, const std::string& split, ShardKind expected_kind,
                         const Tokenizer* tokenizer) {
  const Manifest manifest = read_manifest(manifest_path);
  info_ = manifest.info;
  LOOM_REQUIRE(info_.kind == expected_kind, manifest_path, ": holds '", shard_kind_name(info_.kind),
               "' records, not the '", shard_kind_name(expected_kind), "' records this trainer needs");
  if (tokenizer) {
    // The tokenizer's identity: its file's md5 and the special ids the shards were made with.
    const auto identity = [](const std::string& md5, int bos, int eos, int pad) {
      return cat("md5 ", md5, " (bos ", bos, ", eos ", eos, ", pad ", pad, ")");
    };
    const std::string made_with = identity(info_.tokenizer_md5, info_.bos_id, info_.eos_id, info_.pad_id);
    const std::string model_has =
        identity(tokenizer->model_md5(), tokenizer->bos_id(), tokenizer->eos_id(), tokenizer->padding_id());
    LOOM_REQUIRE(made_with == model_has, manifest_path, ": made with tokenizer ", made_with, " from ",
                 info_.tokenizer_path, ", but the model's tokenizer ", tokenizer->model_path(), " is ", model_has);
    LOOM_REQUIRE(info_.vocab_size == tokenizer->vocab_size(), manifest_path, ": vocabulary of ", info_.vocab_size,
                 " differs from the tokenizer's ", tokenizer->vocab_size());
  }
  const std::filesystem::path folder = std::filesystem::path(manifest_path).parent_path();
  warn_if_without_md5(manifest, manifest_path);
  for (const ManifestShard& shard : manifest.split(split, manifest_path).shards) {
    const std::string path = (folder / shard.file).string();
    require_shard_md5(path, shard, manifest_path);  // before HDF5 parses the file
    add_shard(path, shard.counts.records);
    require_same_description(read_shard_info(shards_.back().file.id(), path), info_, path);
  }
}

ShardReader ShardReader::open_shard(const std::string& shard_path) {
  ShardReader reader;
  require_shard_md5_beside(shard_path);  // before HDF5 parses the file
  H5Handle file = h5_open_file_read(shard_path);
  reader.info_ = read_shard_info(file.id(), shard_path);
  const int64_t rows = h5_read_attr_int(file.id(), names::kRecords, shard_path);
  file.reset();
  reader.add_shard(shard_path, rows);
  return reader;
}

// The whole (N) dataset of one value a record.
template <typename T>
static std::vector<T> read_column(hid_t dataset, hid_t memory_type, int64_t rows, const std::string& path,
                                  const char* name) {
  std::vector<T> values(static_cast<size_t>(rows));
  if (rows == 0) return values;
  LOOM_REQUIRE(H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0, path,
               ": cannot read dataset '", name, "' (", hdf5_error_detail(), ")");
  return values;
}

// Every value of a length dataset lies in [low, high]; `bound` names where high comes from.
static void require_lengths(const std::vector<int32_t>& values, const std::vector<int32_t>* high_per_record,
                            int32_t low, int32_t high, const std::string& path, const char* name, const char* bound) {
  for (size_t row = 0; row < values.size(); ++row) {
    const int32_t limit = high_per_record ? std::min(high, (*high_per_record)[row]) : high;
    LOOM_REQUIRE(values[row] >= low && values[row] <= limit, path, ": dataset '", name, "' record ", row, ": ",
                 values[row], " is outside ", low, "..", limit, " (", bound, ")");
  }
}

// Numeric datasets must carry the Fletcher-32 filter, so that HDF5 verifies every chunk it reads.
static void require_checksum(hid_t dataset, const std::string& path, const char* name) {
  H5Handle create_list(LOOM_H5_CHECK(H5Dget_create_plist(dataset)), H5Pclose);
  unsigned flags = 0, filter_config = 0;
  size_t values = 0;
  const bool present = H5Pget_filter_by_id2(create_list.id(), H5Z_FILTER_FLETCHER32, &flags, &values, nullptr, 0,
                                            nullptr, &filter_config) >= 0;
  if (!present) hdf5_error_detail();  // clears the error stack the lookup left
  LOOM_REQUIRE(present, path, ": dataset '", name, "' has no Fletcher-32 checksum (write it again with loom-prep)");
}

void ShardReader::add_shard(const std::string& path, int64_t expected_rows) {
  LOOM_REQUIRE(expected_rows >= 0, path, ": record count ", expected_rows, " is negative");
  Shard shard{path, h5_open_file_read(path), {}, {}};
  const std::vector<const char*> slots = dataset_names(info_);
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    if (!*slots[slot]) {
      shard.datasets.emplace_back();
      continue;
    }
    H5Handle dataset = h5_open_dataset(shard.file.id(), slots[slot], path);
    H5Handle space(LOOM_H5_CHECK(H5Dget_space(dataset.id())), H5Sclose);
    hsize_t dims[2] = {0, 0};
    const int rank = H5Sget_simple_extent_ndims(space.id());
    const bool is_rows = slot <= kMask;
    const bool rank_ok = rank == (is_rows ? 2 : 1);
    if (rank_ok) H5Sget_simple_extent_dims(space.id(), dims, nullptr);
    LOOM_REQUIRE(rank_ok && static_cast<int64_t>(dims[0]) == expected_rows &&
                     (!is_rows || dims[1] == static_cast<hsize_t>(info_.row_len)),
                 path, ": dataset '", slots[slot], "' has the wrong shape for ", expected_rows, " records of ",
                 info_.row_len);
    if (slot != kText) require_checksum(dataset.id(), path, slots[slot]);
    shard.datasets.push_back(std::move(dataset));
  }
  read_record_values(shard, expected_rows);
  shards_.push_back(std::move(shard));
  offsets_.push_back(offsets_.back() + expected_rows);
}

// Reads the one-value-a-record datasets and checks every length and index against the bound
// it is used with, so that no later read can index past a row or a list.
void ShardReader::read_record_values(Shard& shard, int64_t rows) {
  const std::string& path = shard.path;
  const std::vector<const char*> slots = dataset_names(info_);
  const int32_t L = info_.row_len;
  const char* row_bound = row_length_attribute(info_.kind);
  RecordValues& v = shard.values;
  auto ints = [&](DatasetSlot slot) {
    return read_column<int32_t>(shard.datasets[slot].id(), H5T_NATIVE_INT32, rows, path, slots[slot]);
  };
  if (shard.datasets[kLengths]) {
    v.lengths = ints(kLengths);
    require_lengths(v.lengths, nullptr, 1, L, path, slots[kLengths], row_bound);
  }
  if (shard.datasets[kLengths2]) {
    v.lengths2 = ints(kLengths2);
    require_lengths(v.lengths2, nullptr, 1, L, path, slots[kLengths2], row_bound);
  }
  if (shard.datasets[kPromptLengths]) {
    v.prompt_lengths = ints(kPromptLengths);
    require_lengths(v.prompt_lengths, &v.lengths, 0, L, path, slots[kPromptLengths], "the record's length");
    if (!v.lengths2.empty())
      require_lengths(v.prompt_lengths, &v.lengths2, 0, L, path, slots[kPromptLengths], "the rejected length");
  }
  if (shard.datasets[kSrcFile]) {
    v.source_file = ints(kSrcFile);
    const int32_t files = static_cast<int32_t>(info_.source_files.size());
    require_lengths(v.source_file, nullptr, 0, files - 1, path, slots[kSrcFile], "index into source_files");
    v.source_line = read_column<int64_t>(shard.datasets[kSrcLine].id(), H5T_NATIVE_INT64, rows, path, slots[kSrcLine]);
    for (size_t row = 0; row < v.source_line.size(); ++row)
      LOOM_REQUIRE(v.source_line[row] >= 1, path, ": dataset '", slots[kSrcLine], "' record ", row, ": line ",
                   v.source_line[row], " is not a 1-based line number");
  }
}

ShardReader::Shard& ShardReader::locate(int64_t id, hsize_t* row) {
  LOOM_REQUIRE(id >= 0 && id < num_records(), "record ", id, " is outside the ", num_records(), " records");
  const size_t shard = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), id) - offsets_.begin()) - 1;
  *row = static_cast<hsize_t>(id - offsets_[shard]);
  return shards_[shard];
}

void ShardReader::read_row(Shard& shard, DatasetSlot slot, hsize_t row, hid_t memory_type, void* out, hsize_t width) {
  const hid_t dataset = shard.datasets[slot].id();
  LOOM_ASSERT(dataset >= 0);
  H5Handle file_space(LOOM_H5_CHECK(H5Dget_space(dataset)), H5Sclose);
  const hsize_t start[2] = {row, 0};
  const hsize_t count[2] = {1, width};
  LOOM_H5_CHECK(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start, nullptr, count, nullptr));
  const hsize_t memory_count = width > 0 ? width : 1;
  H5Handle memory_space(LOOM_H5_CHECK(H5Screate_simple(1, &memory_count, nullptr)), H5Sclose);
  LOOM_REQUIRE(H5Dread(dataset, memory_type, memory_space.id(), file_space.id(), H5P_DEFAULT, out) >= 0, shard.path,
               ": cannot read record ", row, " (", hdf5_error_detail(), ")");
}

void ShardReader::check_tokens(const Shard& shard, hsize_t row, const int32_t* ids, int count) const {
  for (int i = 0; i < count; ++i)
    LOOM_REQUIRE(ids[i] >= 0 && ids[i] < info_.vocab_size, shard.path, ": record ", row, " holds token id ", ids[i],
                 " outside the vocabulary of ", info_.vocab_size);
}

void ShardReader::read_sft_block(int64_t id, int32_t* tokens, int32_t* doc_index_or_null, uint8_t* loss_mask_or_null) {
  LOOM_REQUIRE(info_.kind == ShardKind::sft, "read_sft_block: the shards hold ", shard_kind_name(info_.kind));
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  const hsize_t L = static_cast<hsize_t>(info_.row_len);
  read_row(shard, kRows, row, H5T_NATIVE_INT32, tokens, L);
  check_tokens(shard, row, tokens, info_.row_len);
  if (doc_index_or_null) {
    if (info_.layout == SftLayout::packed_docs)
      read_row(shard, kDocs, row, H5T_NATIVE_INT32, doc_index_or_null, L);
    else
      std::fill(doc_index_or_null, doc_index_or_null + L, 0);
  }
  if (loss_mask_or_null) {
    if (info_.layout == SftLayout::padded)
      read_row(shard, kMask, row, H5T_NATIVE_UINT8, loss_mask_or_null, L);
    else
      std::fill(loss_mask_or_null, loss_mask_or_null + L, uint8_t{1});
  }
}

void ShardReader::read_pair(int64_t id, int32_t* chosen, int32_t* rejected, PairLengths* lengths) {
  LOOM_REQUIRE(info_.kind == ShardKind::pairs, "read_pair: the shards hold ", shard_kind_name(info_.kind));
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  const hsize_t L = static_cast<hsize_t>(info_.row_len);
  read_row(shard, kRows, row, H5T_NATIVE_INT32, chosen, L);
  read_row(shard, kRows2, row, H5T_NATIVE_INT32, rejected, L);
  lengths->chosen = shard.values.lengths[row];
  lengths->rejected = shard.values.lengths2[row];
  lengths->prompt = shard.values.prompt_lengths[row];
  check_tokens(shard, row, chosen, info_.row_len);
  check_tokens(shard, row, rejected, info_.row_len);
}

void ShardReader::read_prompt(int64_t id, int32_t* tokens, int32_t* length, std::string* text_or_null) {
  LOOM_REQUIRE(info_.kind == ShardKind::prompts, "read_prompt: the shards hold ", shard_kind_name(info_.kind));
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  read_row(shard, kRows, row, H5T_NATIVE_INT32, tokens, static_cast<hsize_t>(info_.row_len));
  *length = shard.values.lengths[row];
  check_tokens(shard, row, tokens, info_.row_len);
  if (!text_or_null) return;
  H5Handle type(LOOM_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  LOOM_H5_CHECK(H5Tset_size(type.id(), H5T_VARIABLE));
  LOOM_H5_CHECK(H5Tset_cset(type.id(), H5T_CSET_UTF8));
  char* text = nullptr;
  read_row(shard, kText, row, type.id(), &text, 0);
  *text_or_null = text ? text : "";
  const hsize_t one = 1;
  H5Handle space(LOOM_H5_CHECK(H5Screate_simple(1, &one, nullptr)), H5Sclose);
  H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, &text);
}

RecordSource ShardReader::source(int64_t id) {
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  LOOM_REQUIRE(!shard.values.source_file.empty(), shard.path, ": packed blocks do not record their source lines");
  return {info_.source_files[static_cast<size_t>(shard.values.source_file[row])], shard.values.source_line[row]};
}

int32_t ShardReader::record_length(int64_t id) {
  hsize_t row = 0;
  const Shard& shard = locate(id, &row);
  return shard.values.lengths.empty() ? info_.row_len : shard.values.lengths[row];
}

}  // namespace loom::data
