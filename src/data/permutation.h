// The seeded shuffle shared by loom-prep (record order in the shards) and the sampler (record
// order per epoch): Fisher-Yates driven by loom's counter-based generator, so it depends only
// on (count, seed, stream).
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include "core/rng.h"

namespace loom::data {

inline std::vector<int64_t> shuffled_order(int64_t count, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t{0});
  Rng rng(seed, stream);
  for (int64_t i = count - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  return order;
}

}  // namespace loom::data

namespace loom::data {
// The stream loom-prep shuffles record order with (epochs of the sampler use others).
inline constexpr uint64_t kRecordOrderStream = 1;
}  // namespace loom::data
