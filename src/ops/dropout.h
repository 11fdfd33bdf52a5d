// Inverted dropout with a counter-based mask (core/rng.h): element i is kept when
// random_uniform(seed, stream, i) >= p, so the backward (and the CUDA twin) regenerate the
// same mask without storing it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::cpu {

// out (n) = kept ? inp / (1 - p) : 0; p == 0 copies.
void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed, uint64_t stream);

// out (end - begin) = dropout_forward's values of elements [begin, end) of a tensor whose
// element `begin` is inp[0], on the calling thread (for kernels that fuse dropout into a pass
// of their own).
void dropout_span(float* out, const float* inp, size_t begin, size_t end, float p, uint64_t seed,
                  uint64_t stream);

// dinp (n) += kept ? dout / (1 - p) : 0
void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream);

}  // namespace loom::cpu
