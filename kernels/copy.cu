#include "kernels/copy.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

__global__ void fill_kernel(float* x, float value, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = value;
}

// One block per row i: out row i <- inp row rows[i] (gather) or inp row i added into out row
// rows[i] (scatter: rows are distinct, so no two blocks write one element).
__global__ void gather_rows_kernel(float* out, const float* inp, const int* rows, int C) {
  const float* src = inp + static_cast<size_t>(rows[blockIdx.x]) * C;  // (C)
  float* dst = out + static_cast<size_t>(blockIdx.x) * C;              // (C)
  for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = src[c];
}

__global__ void scatter_add_rows_kernel(float* out, const float* inp, const int* rows, int C) {
  const float* src = inp + static_cast<size_t>(blockIdx.x) * C;  // (C)
  float* dst = out + static_cast<size_t>(rows[blockIdx.x]) * C;  // (C)
  for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] += src[c];
}

// One block per (b, t): the KVD values of k and v at that position.
__global__ void kv_cache_append_kernel(float* k_cache, float* v_cache, const float* k, const float* v, int T,
                                       int t0, int Tmax, int KVD) {
  const int b = blockIdx.x / T, t = blockIdx.x % T;
  const size_t from = static_cast<size_t>(blockIdx.x) * KVD;                    // (B, T, KVD)
  const size_t to = (static_cast<size_t>(b) * Tmax + t0 + t) * KVD;             // (B, Tmax, KVD)
  for (int d = threadIdx.x; d < KVD; d += blockDim.x) {
    k_cache[to + d] = k[from + d];
    v_cache[to + d] = v[from + d];
  }
}

constexpr int kRowThreads = 256;

}  // namespace

void fill(float* x, float value, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  fill_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, value, n);
  LOOM_CUDA_CHECK_LAUNCH();
}

void gather_rows(float* out, const float* inp, const int* rows, int count, int C, cudaStream_t stream) {
  if (count == 0 || C == 0) return;
  gather_rows_kernel<<<count, kRowThreads, 0, stream>>>(out, inp, rows, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C, cudaStream_t stream) {
  if (count == 0 || C == 0) return;
  scatter_add_rows_kernel<<<count, kRowThreads, 0, stream>>>(out, inp, rows, C);
  LOOM_CUDA_CHECK_LAUNCH();
}

void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                     int Tmax, int KVD, cudaStream_t stream) {
  if (B == 0 || T == 0 || KVD == 0) return;
  kv_cache_append_kernel<<<B * T, kRowThreads, 0, stream>>>(k_cache, v_cache, k, v, T, t0, Tmax, KVD);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
