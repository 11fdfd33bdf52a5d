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
  info.row_len = static_cast<int>(h5_read_attr_int(file, row_length_attribute(info.kind), path));
  info.tokenizer_md5 = h5_read_attr_string(file, names::kTokenizerMd5, path);
  info.tokenizer_path = h5_read_attr_string(file, names::kTokenizerPath, path);
  info.vocab_size = static_cast<int>(h5_read_attr_int(file, names::kVocabSize, path));
  info.bos_id = static_cast<int>(h5_read_attr_int(file, names::kBosId, path));
  info.eos_id = static_cast<int>(h5_read_attr_int(file, names::kEosId, path));
  info.pad_id = static_cast<int>(h5_read_attr_int(file, names::kPadId, path));
  info.source_files = h5_read_attr_strings(file, names::kSourceFiles, path);
  info.template_name = h5_read_attr_string(file, names::kTemplate, path);
  info.seed = static_cast<uint64_t>(h5_read_attr_int(file, names::kSeed, path));
  LOOM_REQUIRE(info.row_len > 0, path, ": ", row_length_attribute(info.kind), " must be positive");
  LOOM_REQUIRE(info.vocab_size > 0 && info.bos_id < info.vocab_size && info.eos_id < info.vocab_size &&
                   info.pad_id < info.vocab_size,
               path, ": special token ids must lie inside the vocabulary of ", info.vocab_size);
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
    LOOM_REQUIRE(made_with == model_has, manifest_path, ": made with tokenizer ", info_.tokenizer_path, " ", made_with,
                 ", but the model's tokenizer ", tokenizer->model_path(), " is ", model_has);
    LOOM_REQUIRE(info_.vocab_size == tokenizer->vocab_size(), manifest_path, ": vocabulary of ", info_.vocab_size,
                 " differs from the tokenizer's ", tokenizer->vocab_size());
  }
  const std::filesystem::path folder = std::filesystem::path(manifest_path).parent_path();
  for (const ManifestShard& shard : manifest.split(split, manifest_path).shards) {
    const std::string path = (folder / shard.file).string();
    add_shard(path, shard.counts.records);
    require_same_description(read_shard_info(shards_.back().file.id(), path), info_, path);
  }
}

ShardReader ShardReader::open_shard(const std::string& shard_path) {
  ShardReader reader;
  H5Handle file = h5_open_file_read(shard_path);
  reader.info_ = read_shard_info(file.id(), shard_path);
  const int64_t rows = h5_read_attr_int(file.id(), names::kRecords, shard_path);
  file.reset();
  reader.add_shard(shard_path, rows);
  return reader;
}

void ShardReader::add_shard(const std::string& path, int64_t expected_rows) {
  Shard shard{path, h5_open_file_read(path), {}};
  const std::vector<const char*> slots = dataset_names(info_);
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    if (!*slots[slot]) {
      shard.datasets.emplace_back();
      continue;
    }
    H5Handle dataset = h5_open_dataset(shard.file.id(), slots[slot], path);
    H5Handle space(LOOM_H5_CHECK(H5Dget_space(dataset.id())), H5Sclose);
    hsize_t dims[2] = {0, 0};
    const int rank = H5Sget_simple_extent_dims(space.id(), dims, nullptr);
    const bool is_rows = slot <= kMask;
    LOOM_REQUIRE(rank == (is_rows ? 2 : 1) && static_cast<int64_t>(dims[0]) == expected_rows &&
                     (!is_rows || dims[1] == static_cast<hsize_t>(info_.row_len)),
                 path, ": dataset '", slots[slot], "' has the wrong shape for ", expected_rows, " records of ",
                 info_.row_len);
    shard.datasets.push_back(std::move(dataset));
  }
  shards_.push_back(std::move(shard));
  offsets_.push_back(offsets_.back() + expected_rows);
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
  read_row(shard, kLengths, row, H5T_NATIVE_INT32, &lengths->chosen, 0);
  read_row(shard, kLengths2, row, H5T_NATIVE_INT32, &lengths->rejected, 0);
  read_row(shard, kPromptLengths, row, H5T_NATIVE_INT32, &lengths->prompt, 0);
  check_tokens(shard, row, chosen, info_.row_len);
  check_tokens(shard, row, rejected, info_.row_len);
}

void ShardReader::read_prompt(int64_t id, int32_t* tokens, int32_t* length, std::string* text_or_null) {
  LOOM_REQUIRE(info_.kind == ShardKind::prompts, "read_prompt: the shards hold ", shard_kind_name(info_.kind));
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  read_row(shard, kRows, row, H5T_NATIVE_INT32, tokens, static_cast<hsize_t>(info_.row_len));
  read_row(shard, kLengths, row, H5T_NATIVE_INT32, length, 0);
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
  LOOM_REQUIRE(shard.datasets[kSrcFile], shard.path, ": packed blocks do not record their source lines");
  int32_t file = 0;
  RecordSource source;
  read_row(shard, kSrcFile, row, H5T_NATIVE_INT32, &file, 0);
  read_row(shard, kSrcLine, row, H5T_NATIVE_INT64, &source.line, 0);
  LOOM_REQUIRE(file >= 0 && file < static_cast<int32_t>(info_.source_files.size()), shard.path, ": record ", row,
               " names source file ", file, " of ", info_.source_files.size());
  source.file = info_.source_files[static_cast<size_t>(file)];
  return source;
}

int32_t ShardReader::record_length(int64_t id) {
  hsize_t row = 0;
  Shard& shard = locate(id, &row);
  if (!shard.datasets[kLengths]) return info_.row_len;
  int32_t length = 0;
  read_row(shard, kLengths, row, H5T_NATIVE_INT32, &length, 0);
  return length;
}

}  // namespace loom::data
