// When a loop is worth an OpenMP parallel region.
#pragma once

#include <cstddef>

namespace loom {

// Loops over fewer elements than this run on the calling thread: waking the team costs more
// than the loop (decoding works on single rows; with OMP_WAIT_POLICY=passive every region
// wakes sleeping threads). Only where the result does not depend on the thread count.
inline constexpr size_t kMinParallelElements = size_t{1} << 15;

// Matrix-vector products (a handful of rows against a weight) with fewer weights than this
// run on the calling thread: with sleeping idle threads SmolLM2's 576 x 1536 NF4 GEMV took
// 207 us on 2 threads and 73 us on 1.
inline constexpr size_t kMinParallelGemvWeights = size_t{1} << 21;

}  // namespace loom
