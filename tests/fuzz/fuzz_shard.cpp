// A token shard's validation on mutated HDF5 files (the seeds are small real shards of each
// kind): open it as `loom-prep inspect` does, then read records as the trainers do, each read
// checking its token ids against the vocabulary.
#include <hdf5.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "data/shard_reader.h"
#include "fuzz/fuzz_support.h"

namespace {

constexpr int kMaxRowLen = 1 << 16;    // larger rows are valid but only slow the fuzzer down
constexpr int64_t kMaxRecords = 16;    // records read per input

void read_records(loom::data::ShardReader& reader) {
  using loom::data::ShardKind;
  const int L = reader.row_len();
  if (L > kMaxRowLen) return;
  std::vector<int32_t> a(static_cast<size_t>(L)), b(static_cast<size_t>(L));
  std::vector<uint8_t> mask(static_cast<size_t>(L));
  std::string text;
  for (int64_t id = 0; id < std::min(reader.num_records(), kMaxRecords); ++id) {
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
  static const std::string path = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // loom's own messages say what failed
    return loom::fuzz::scratch_file("shard.h5");
  }();
  loom::fuzz::write_file(path, data, size);
  try {
    loom::data::ShardReader reader = loom::data::ShardReader::open_shard(path);
    read_records(reader);
  } catch (const loom::Error&) {
  }
  return 0;
}
