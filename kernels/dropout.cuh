// CUDA twin of src/ops/dropout.h: the same counter-based mask as the CPU op, element for
// element (core/rng.h is shared by host and device).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace loom::cuda {

// out (n) = kept ? inp / (1 - p) : 0; p == 0 copies.
void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                     uint64_t stream_id, cudaStream_t stream);

// dinp (n) += kept ? dout / (1 - p) : 0
void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream_id, cudaStream_t stream);

}  // namespace loom::cuda
