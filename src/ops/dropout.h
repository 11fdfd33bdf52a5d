// Inverted dropout with a counter-based mask (core/rng.h): element i is kept when
// random_uniform(seed, stream, i) >= p, so the backward (and the CUDA twin) regenerate the
// same mask without storing it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::cpu {

// out (n) = kept ? inp / (1 - p) : 0; p == 0 copies.
void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed, uint64_t stream);

// The factor kept elements are multiplied by: 1 / (1 - p).
inline float dropout_keep_scale(float p) { return 1.0f / (1.0f - p); }

// bits ((n + 63) / 64): bit i % 64 of word i / 64 is 1 where element i is kept (its value is
// then inp / (1 - p)); bits past n are 0. For kernels that apply one mask more than once.
void dropout_mask_bits(uint64_t* bits, size_t n, float p, uint64_t seed, uint64_t stream);

// dinp (n) += kept ? dout / (1 - p) : 0
void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream);

}  // namespace loom::cpu
