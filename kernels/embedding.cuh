// CUDA twin of src/ops/embedding.h.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// out (N, C) = wte[tokens[n]]; wte (V, C). A token outside [0, V) (which the CPU op rejects)
// gives a row of NaN here instead of an out-of-bounds read.
void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V,
                       cudaStream_t stream);

}  // namespace loom::cuda
