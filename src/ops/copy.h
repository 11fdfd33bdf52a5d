// Fills and copies of activations: the moves the model makes between ops (zeroing gradient
// buffers, gathering scored rows, appending to the KV cache), as ops so a backend runs them
// on its own memory.
#pragma once

#include <cstddef>

namespace loom::cpu {

// x (n) = value
void fill(float* x, float value, size_t n);

// dst (n) = src (n); no overlap
void copy(float* dst, const float* src, size_t n);

// out (count, C) = inp[rows[i]]; inp (*, C)
void gather_rows(float* out, const float* inp, const int* rows, int count, int C);

// out[rows[i]] (C) += inp[i]; inp (count, C); rows distinct
void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C);

// k_cache, v_cache (B, Tmax, KVD) at positions [t0, t0 + T) of each row = k, v (B, T, KVD)
void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                     int Tmax, int KVD);

}  // namespace loom::cpu
