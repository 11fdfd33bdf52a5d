// When a loop is worth an OpenMP parallel region.
#pragma once

#include <cstddef>

namespace loom {

// Loops over fewer elements than this run on the calling thread: waking the team costs more
// than the loop (decoding works on single rows; with OMP_WAIT_POLICY=passive every region
// wakes sleeping threads). Only where the result does not depend on the thread count.
inline constexpr size_t kMinParallelElements = size_t{1} << 15;

}  // namespace loom
