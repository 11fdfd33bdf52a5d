// Which records a rank reads, epoch by epoch: a fresh permutation of all records per
// (seed, epoch), dealt to ranks by stride (rank, rank + world, ...) or in contiguous blocks.
// Every rank gets floor(N / world) records an epoch, so ranks stay in step; the cursor
// (epoch, position) is all that a checkpoint needs to resume mid-epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::data {

enum class Partition { strided, block };
Partition parse_partition(const std::string& name, const std::string& where);

struct SamplerCursor {
  uint64_t epoch = 0;
  int64_t position = 0;  // records this rank has taken in the epoch
  nlohmann::json to_json() const;
  // "<where>: ..." when a field is missing or negative.
  static SamplerCursor from_json(const nlohmann::json& object, const std::string& where);
  bool operator==(const SamplerCursor&) const = default;
};

class ShardSampler {
 public:
  ShardSampler(int64_t num_records, uint64_t seed, int rank, int world, Partition partition);

  int64_t records_per_rank() const { return per_rank_; }
  // The record this rank reads next; moves the cursor, into the next epoch after the last.
  int64_t next();
  const SamplerCursor& cursor() const { return cursor_; }
  void restore(const SamplerCursor& cursor);
  // Everything this rank reads in `epoch`, in order.
  std::vector<int64_t> epoch_records(uint64_t epoch) const;

 private:
  int64_t record_at(const std::vector<int64_t>& order, int64_t position) const;

  int64_t num_records_, per_rank_;
  uint64_t seed_;
  int rank_, world_;
  Partition partition_;
  SamplerCursor cursor_;
  std::vector<int64_t> order_;  // permutation of the cursor's epoch
  uint64_t order_epoch_ = UINT64_MAX;
};

}  // namespace loom::data
