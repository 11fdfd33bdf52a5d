// f32 -> bf16 rounding of whole buffers for the cpu-bf16 path: round-to-nearest-even as
// torch's autocast does (core/dtype.h's f32_to_bf16 is the scalar rule), vectorized with
// AVX512_BF16 where the build targets it, OpenMP over large buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::bf16 {

// out (n) = bf16(in (n)). NaN stays NaN; with AVX512_BF16 subnormal inputs become zero
// (the instruction treats them as zero), a difference below bf16's smallest normal, 1.2e-38.
void round_to_bf16(uint16_t* out, const float* in, size_t n);

// out (rows, cols) = bf16(in (rows, cols) scaled by `scale`) (the LoRA bottleneck's scale
// folded into the rounding pass).
void round_scaled_to_bf16(uint16_t* out, const float* in, float scale, size_t n);

// The same two for one short span, on the calling thread (inside OpenMP loops).
void round_span_to_bf16(uint16_t* out, const float* in, size_t n);
void round_scaled_span_to_bf16(uint16_t* out, const float* in, float scale, size_t n);

}  // namespace loom::bf16
