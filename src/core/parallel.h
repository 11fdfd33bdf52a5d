// When a loop is worth an OpenMP parallel region.
#pragma once

#include <cstddef>

namespace loom {

// Loops over fewer elements than this run on the calling thread: starting the team costs more
// than the loop (decoding works on single rows; a team that has gone to sleep takes ~100 us
// to wake on the benchmark machine). Only where the result does not depend on the thread count.
inline constexpr size_t kMinParallelElements = size_t{1} << 15;

// Matrix-vector products (a handful of rows against a weight, decoding) with fewer weights
// than this run on the calling thread. Decoding runs one GEMV after another, so with loom's
// idle-thread spin (core/runtime_tuning.h) the team is still awake: SmolLM2's 576 x 1536 NF4
// GEMV took 25 us on 1 thread, 16 on 2. With OMP_WAIT_POLICY=passive every GEMV wakes the
// team instead, and batch-1 decoding runs at half the speed.
inline constexpr size_t kMinParallelGemvWeights = size_t{1} << 16;

}  // namespace loom
