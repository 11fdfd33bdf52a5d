// A token shard's validation, on well-formed HDF5 files whose contents the fuzz input decides:
// the input is a recipe (attributes present, missing or of the wrong type, any values; each
// dataset of the kind present, missing, of the wrong shape or type; any token ids, lengths and
// source indices), written with HDF5 and then opened as `loom-prep inspect` does, with up to
// 16 records read as the trainers read them. An empty input is a valid shard; every choice's
// first option is the valid one.
//
// Raw bytes are not fuzzed: libhdf5 1.10 itself crashes on corrupted files within seconds
// (reproducer: crashes/shard/, docs/reliability.md), before loom sees any attribute.
#include <hdf5.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "data/hdf5_util.h"
#include "data/shard_format.h"
#include "data/shard_reader.h"
#include "fuzz/fuzz_support.h"

namespace {

namespace names = loom::data::shard_names;
using loom::data::H5Handle;

constexpr int kMaxRowLen = 8;
constexpr int kMaxRows = 4;
constexpr int64_t kMaxRecordsRead = 16;

// How one attribute or dataset is written: 0 as loom-prep writes it.
enum Variant { kValid, kMissing, kWrongType, kOddValue, kVariants };

Variant variant(FuzzedDataProvider& in) { return static_cast<Variant>(in.ConsumeIntegralInRange<int>(0, kVariants - 1)); }

void int_attribute(FuzzedDataProvider& in, hid_t file, const char* name, int64_t valid) {
  switch (variant(in)) {
    case kValid: loom::data::h5_write_attr_int(file, name, valid); break;
    case kMissing: break;
    case kWrongType: loom::data::h5_write_attr_string(file, name, in.ConsumeRandomLengthString(8)); break;
    case kOddValue: loom::data::h5_write_attr_int(file, name, in.ConsumeIntegral<int64_t>()); break;
    default: break;
  }
}

void string_attribute(FuzzedDataProvider& in, hid_t file, const char* name, const std::string& valid) {
  switch (variant(in)) {
    case kValid: loom::data::h5_write_attr_string(file, name, valid); break;
    case kMissing: break;
    case kWrongType: loom::data::h5_write_attr_int(file, name, in.ConsumeIntegral<int64_t>()); break;
    case kOddValue: loom::data::h5_write_attr_string(file, name, in.ConsumeRandomLengthString(16)); break;
    default: break;
  }
}

// A (rows) or (rows, cols) dataset of `type` holding values from the input (0 when it runs out).
void dataset(FuzzedDataProvider& in, hid_t file, const char* name, hid_t valid_type, int rows, int cols) {
  hid_t type = valid_type;
  int rank = cols > 0 ? 2 : 1;
  switch (variant(in)) {
    case kValid: break;
    case kMissing: return;
    case kWrongType: type = in.PickValueInArray({H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64, H5T_NATIVE_UINT8, H5T_NATIVE_INT32}); break;
    case kOddValue:  // the wrong shape
      rows = in.ConsumeIntegralInRange<int>(0, kMaxRows + 1);
      cols = in.ConsumeIntegralInRange<int>(0, kMaxRowLen + 1);
      rank = in.ConsumeIntegralInRange<int>(1, 3);
      break;
    default: break;
  }
  const hsize_t dims[3] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(std::max(cols, 1)), 1};
  H5Handle space(LOOM_H5_CHECK(H5Screate_simple(rank, dims, nullptr)), H5Sclose);
  H5Handle set(LOOM_H5_CHECK(H5Dcreate2(file, name, type, space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)),
               H5Dclose);
  const size_t count = static_cast<size_t>(rows) * (rank >= 2 ? dims[1] : 1);
  std::vector<int64_t> values(count);
  for (int64_t& v : values) {  // ids in and just outside the vocabulary of 32
    v = in.ConsumeIntegralInRange<int64_t>(0, 40);
    if (v == 40) v = -1;
  }
  LOOM_H5_CHECK(H5Dwrite(set.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
}

void text_dataset(FuzzedDataProvider& in, hid_t file, int rows) {
  if (variant(in) != kValid) return dataset(in, file, names::kText, H5T_NATIVE_INT32, rows, 0);
  H5Handle type(LOOM_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  LOOM_H5_CHECK(H5Tset_size(type.id(), H5T_VARIABLE));
  LOOM_H5_CHECK(H5Tset_cset(type.id(), H5T_CSET_UTF8));
  const hsize_t dims[1] = {static_cast<hsize_t>(rows)};
  H5Handle space(LOOM_H5_CHECK(H5Screate_simple(1, dims, nullptr)), H5Sclose);
  H5Handle set(LOOM_H5_CHECK(H5Dcreate2(file, names::kText, type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT,
                                        H5P_DEFAULT)), H5Dclose);
  std::vector<std::string> texts(static_cast<size_t>(rows));
  std::vector<const char*> pointers;
  for (std::string& t : texts) {
    t = in.ConsumeRandomLengthString(32);
    pointers.push_back(t.c_str());
  }
  if (rows) LOOM_H5_CHECK(H5Dwrite(set.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()));
}

void write_shard(FuzzedDataProvider& in, const std::string& path) {
  using loom::data::ShardKind;
  using loom::data::SftLayout;
  const auto kind = static_cast<ShardKind>(in.ConsumeIntegralInRange<int>(0, 2));
  const auto layout = static_cast<SftLayout>(in.ConsumeIntegralInRange<int>(0, 2));
  const int row_len = 1 + in.ConsumeIntegralInRange<int>(0, kMaxRowLen - 1);
  const int rows = in.ConsumeIntegralInRange<int>(0, kMaxRows);
  H5Handle file = loom::data::h5_create_file(path);
  const hid_t f = file.id();
  int_attribute(in, f, names::kFormatVersion, loom::data::kShardFormatVersion);
  string_attribute(in, f, names::kKind, loom::data::shard_kind_name(kind));
  string_attribute(in, f, names::kSftLayout, loom::data::sft_layout_name(layout));
  int_attribute(in, f, loom::data::row_length_attribute(kind), row_len);
  string_attribute(in, f, names::kTokenizerMd5, "0123456789abcdef0123456789abcdef");
  string_attribute(in, f, names::kTokenizerPath, "tokenizer.model");
  int_attribute(in, f, names::kVocabSize, 32);
  int_attribute(in, f, names::kBosId, 1);
  int_attribute(in, f, names::kEosId, 2);
  int_attribute(in, f, names::kPadId, 2);
  std::vector<std::string> sources(static_cast<size_t>(in.ConsumeIntegralInRange<int>(1, 3)), "data.jsonl");
  if (variant(in) == kValid) loom::data::h5_write_attr_strings(f, names::kSourceFiles, sources);
  string_attribute(in, f, names::kTemplate, "hh");
  int_attribute(in, f, names::kSeed, 0);
  int_attribute(in, f, names::kRecords, rows);

  const bool sft = kind == ShardKind::sft;
  const bool has_source = !sft || layout == SftLayout::padded;
  dataset(in, f, kind == ShardKind::pairs ? names::kChosen : names::kTokens, H5T_NATIVE_INT32, rows, row_len);
  if (kind == ShardKind::pairs) {
    dataset(in, f, names::kRejected, H5T_NATIVE_INT32, rows, row_len);
    dataset(in, f, names::kChosenLengths, H5T_NATIVE_INT32, rows, 0);
    dataset(in, f, names::kRejectedLengths, H5T_NATIVE_INT32, rows, 0);
  }
  if (sft && layout == SftLayout::packed_docs) dataset(in, f, names::kDocIndex, H5T_NATIVE_INT32, rows, row_len);
  if (sft && layout == SftLayout::padded) {
    dataset(in, f, names::kLossMask, H5T_NATIVE_UINT8, rows, row_len);
    dataset(in, f, names::kLengths, H5T_NATIVE_INT32, rows, 0);
  }
  if (kind == ShardKind::prompts) {
    dataset(in, f, names::kLengths, H5T_NATIVE_INT32, rows, 0);
    text_dataset(in, f, rows);
  }
  if (kind == ShardKind::pairs || (sft && layout == SftLayout::padded))
    dataset(in, f, names::kPromptLengths, H5T_NATIVE_INT32, rows, 0);
  if (has_source) {
    dataset(in, f, names::kSourceFile, H5T_NATIVE_INT32, rows, 0);
    dataset(in, f, names::kSourceLine, H5T_NATIVE_INT64, rows, 0);
  }
  file.close(path);
}

void read_records(loom::data::ShardReader& reader) {
  using loom::data::ShardKind;
  const size_t L = static_cast<size_t>(reader.row_len());
  std::vector<int32_t> a(L), b(L);
  std::vector<uint8_t> mask(L);
  std::string text;
  for (int64_t id = 0; id < std::min(reader.num_records(), kMaxRecordsRead); ++id) {
    try {
      switch (reader.info().kind) {
        case ShardKind::sft: reader.read_sft_block(id, a.data(), b.data(), mask.data()); break;
        case ShardKind::pairs: {
          loom::data::PairLengths lengths;
          reader.read_pair(id, a.data(), b.data(), &lengths);
          break;
        }
        case ShardKind::prompts: {
          int32_t length = 0;
          reader.read_prompt(id, a.data(), &length, &text);
          break;
        }
      }
      (void)reader.record_length(id);
      (void)reader.source(id);
    } catch (const loom::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = loom::fuzz::scratch_file("shard.h5");
  FuzzedDataProvider in(data, size);
  write_shard(in, path);
  try {
    loom::data::ShardReader reader = loom::data::ShardReader::open_shard(path);
    if (reader.row_len() > kMaxRowLen + 1) loom::fuzz::finding("opened a shard wider than any of its datasets");
    read_records(reader);
  } catch (const loom::Error&) {
  }
  return 0;
}
