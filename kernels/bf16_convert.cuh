// CUDA twin of src/ops/bf16/bf16_convert.h's round_to_bf16: the GEMM operands of the
// cuda-bf16 backend, rounded from f32 as torch.autocast rounds them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace loom::cuda {

// out (n) = bf16(in (n)), rounded to nearest even (NaN stays NaN).
void round_to_bf16(__nv_bfloat16* out, const float* in, size_t n, cudaStream_t stream);

}  // namespace loom::cuda
