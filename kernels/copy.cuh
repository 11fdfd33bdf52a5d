// CUDA twin of src/ops/copy.h: fills, row gathers and scatters, the KV-cache append.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace loom::cuda {

// x (n) = value
void fill(float* x, float value, size_t n, cudaStream_t stream);

// out (count, C) = inp[rows[i]] (rows (count) index rows of inp (*, C))
void gather_rows(float* out, const float* inp, const int* rows, int count, int C, cudaStream_t stream);

// out[rows[i]] (C) += inp (i) (count, C); rows are distinct
void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C, cudaStream_t stream);

// k_cache, v_cache (B, Tmax, KVD): positions [t0, t0 + T) of row b = k, v (B, T, KVD)
void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                     int Tmax, int KVD, cudaStream_t stream);

}  // namespace loom::cuda
