#include "data/shard_sampler.h"

#include "core/check.h"
#include "data/permutation.h"

namespace loom::data {

// Streams of the shuffle generator: loom-prep uses 1 for record order; epochs use 2^32 + epoch.
static constexpr uint64_t kEpochStreamBase = uint64_t{1} << 32;

Partition parse_partition(const std::string& name, const std::string& where) {
  if (name == "strided") return Partition::strided;
  if (name == "block") return Partition::block;
  LOOM_FAIL(where, ": unknown partition '", name, "' (expected strided or block)");
}

nlohmann::json SamplerCursor::to_json() const { return {{"epoch", epoch}, {"position", position}}; }

SamplerCursor SamplerCursor::from_json(const nlohmann::json& object, const std::string& where) {
  LOOM_REQUIRE(object.is_object() && object.contains("epoch") && object.contains("position"), where,
               ": sampler cursor needs 'epoch' and 'position'");
  LOOM_REQUIRE(object["epoch"].is_number_unsigned() || (object["epoch"].is_number_integer() && object["epoch"] >= 0),
               where, ": sampler cursor 'epoch' must be a non-negative integer");
  LOOM_REQUIRE(object["position"].is_number_integer() && object["position"] >= 0, where,
               ": sampler cursor 'position' must be a non-negative integer");
  return SamplerCursor{object["epoch"].get<uint64_t>(), object["position"].get<int64_t>()};
}

ShardSampler::ShardSampler(int64_t num_records, uint64_t seed, int rank, int world, Partition partition)
    : num_records_(num_records), per_rank_(world > 0 ? num_records / world : 0), seed_(seed), rank_(rank),
      world_(world), partition_(partition) {
  LOOM_ASSERT(world > 0 && rank >= 0 && rank < world);
  LOOM_REQUIRE(per_rank_ > 0, "sampler: ", num_records, " records cannot give each of ", world, " ranks one");
}

int64_t ShardSampler::record_at(const std::vector<int64_t>& order, int64_t position) const {
  const int64_t slot = partition_ == Partition::strided ? rank_ + position * world_ : rank_ * per_rank_ + position;
  return order[static_cast<size_t>(slot)];
}

std::vector<int64_t> ShardSampler::epoch_records(uint64_t epoch) const {
  const std::vector<int64_t> order = shuffled_order(num_records_, seed_, kEpochStreamBase + epoch);
  std::vector<int64_t> records(static_cast<size_t>(per_rank_));
  for (int64_t p = 0; p < per_rank_; ++p) records[static_cast<size_t>(p)] = record_at(order, p);
  return records;
}

int64_t ShardSampler::next() {
  if (cursor_.position >= per_rank_) cursor_ = SamplerCursor{cursor_.epoch + 1, 0};
  if (order_epoch_ != cursor_.epoch) {
    order_ = shuffled_order(num_records_, seed_, kEpochStreamBase + cursor_.epoch);
    order_epoch_ = cursor_.epoch;
  }
  return record_at(order_, cursor_.position++);
}

void ShardSampler::restore(const SamplerCursor& cursor) {
  LOOM_REQUIRE(cursor.position >= 0 && cursor.position <= per_rank_, "sampler cursor: position ", cursor.position,
               " is outside an epoch of ", per_rank_, " records");
  cursor_ = cursor;
}

}  // namespace loom::data
