#include "kernels/attention.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"

// Layout of every kernel here: one warp per row it owns (a query for the forward and dq, a
// key for dk/dv), the other side streamed through shared memory in tiles of 32 rows, one row
// per lane; each lane keeps the head dimensions d = lane + 32 r (r < kDimsPerLane) of the
// warp's accumulators in registers.
namespace loom::cuda {

namespace {

constexpr int kMaxHeadDim = 256;
constexpr int kDimsPerLane = kMaxHeadDim / kWarpSize;
constexpr int kRowsPerBlock = 8;  // warps per block, each owning one row
constexpr int kTile = kWarpSize;  // streamed rows per tile, one per lane
constexpr unsigned kFullMask = 0xffffffffu;

// attention_forward's mask: keys at or before the query, in the same document.
struct CausalDocMask {
  const int* doc;  // (B, T) or null
  int T;
  __device__ bool allowed(int b, int query, int key) const {
    if (key > query) return false;
    return !doc || doc[static_cast<size_t>(b) * T + key] == doc[static_cast<size_t>(b) * T + query];
  }
  __device__ int keys_begin(int b) const { return 0; }
  __device__ int keys_end(int b, int last_query) const { return last_query + 1; }
};

// attention_decode's mask: the key range of the sequence.
struct KeyRangeMask {
  const int* key_begin;  // (B)
  const int* key_end;    // (B)
  __device__ bool allowed(int b, int query, int key) const {
    return key >= key_begin[b] && key < key_end[b];
  }
  __device__ int keys_begin(int b) const { return key_begin[b]; }
  __device__ int keys_end(int b, int last_query) const { return key_end[b]; }
};

__device__ size_t row_offset(int b, int t, int h, int T, int heads, int HD) {
  return ((static_cast<size_t>(b) * T + t) * heads + h) * HD;
}

// Copies rows [first, first + kTile) of head h of x (B, T, heads, HD) into tile (kTile, stride),
// zero past `end`. The whole block calls it.
__device__ void load_tile(float* tile, int stride, const float* x, int b, int first, int end, int h,
                          int T, int heads, int HD) {
  for (int idx = threadIdx.x; idx < kTile * HD; idx += blockDim.x) {
    const int r = idx / HD, d = idx % HD;
    const int t = first + r;
    tile[r * stride + d] = t < end ? x[row_offset(b, t, h, T, heads, HD) + d] : 0.0f;
  }
}

__device__ float dot_shared(const float* a, const float* b, int HD) {
  float sum = 0.0f;
  for (int d = 0; d < HD; ++d) sum += a[d] * b[d];
  return sum;
}

// Forward and decode: grid (query tiles, NH, B), kRowsPerBlock warps, warp w owns query
// first_query + w. q (B, Tq, NH, HD), k, v (B, Tk, NKV, HD), out like q, lse (B, NH, Tq) or null.
template <typename Mask>
__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k,
                                         const float* v, Mask mask, int Tq, int Tk, int NH, int NKV,
                                         int HD, float scale) {
  extern __shared__ float smem[];
  float* q_rows = smem;                         // (kRowsPerBlock, HD)
  float* k_tile = q_rows + kRowsPerBlock * HD;  // (kTile, HD + 1): padded, read down columns
  float* v_tile = k_tile + kTile * (HD + 1);    // (kTile, HD)
  const int b = blockIdx.z, h = blockIdx.y, kvh = h / (NH / NKV);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int first_query = blockIdx.x * kRowsPerBlock;
  const int last_query = min(first_query + kRowsPerBlock, Tq) - 1;
  const int query = first_query + warp;
  const bool active = query < Tq;
  if (active)
    for (int d = lane; d < HD; d += kWarpSize)
      q_rows[warp * HD + d] = q[row_offset(b, query, h, Tq, NH, HD) + d];

  float running_max = -INFINITY, running_sum = 0.0f;
  float acc[kDimsPerLane] = {};
  const int keys_end = mask.keys_end(b, last_query);
  for (int first_key = mask.keys_begin(b); first_key < keys_end; first_key += kTile) {
    __syncthreads();  // the previous tile is consumed (and q_rows is written)
    load_tile(k_tile, HD + 1, k, b, first_key, keys_end, kvh, Tk, NKV, HD);
    load_tile(v_tile, HD, v, b, first_key, keys_end, kvh, Tk, NKV, HD);
    __syncthreads();
    if (!active) continue;
    const int key = first_key + lane;
    float score = -INFINITY;
    if (key < keys_end && mask.allowed(b, query, key))
      score = dot_shared(q_rows + warp * HD, k_tile + lane * (HD + 1), HD) * scale;
    const float new_max = fmaxf(running_max, warp_reduce(score, MaxOp{}));
    if (new_max == -INFINITY) continue;  // no allowed key yet (uniform over the warp)
    const float correction = expf(running_max - new_max);
    const float p = expf(score - new_max);  // 0 for masked keys
    running_sum = running_sum * correction + warp_reduce(p, SumOp{});
    running_max = new_max;
#pragma unroll
    for (int r = 0; r < kDimsPerLane; ++r) acc[r] *= correction;
    for (int j = 0; j < kTile; ++j) {
      const float pj = __shfl_sync(kFullMask, p, j);
#pragma unroll
      for (int r = 0; r < kDimsPerLane; ++r) {
        const int d = lane + r * kWarpSize;
        if (d < HD) acc[r] += pj * v_tile[j * HD + d];
      }
    }
  }
  if (!active) return;
  const float inv_sum = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  float* out_row = out + row_offset(b, query, h, Tq, NH, HD);
#pragma unroll
  for (int r = 0; r < kDimsPerLane; ++r) {
    const int d = lane + r * kWarpSize;
    if (d < HD) out_row[d] = acc[r] * inv_sum;
  }
  if (lse && lane == 0)
    lse[(static_cast<size_t>(b) * NH + h) * Tq + query] = running_max + logf(running_sum);
}

// dq: grid (query tiles, NH, B), warp w owns query first_query + w and streams its keys:
// dq_i += scale * sum_j P_ij (dout_i . v_j - D_i) k_j with P_ij = exp(S_ij - lse_i).
__global__ void attention_backward_dq_kernel(float* dq, const float* dout, const float* q,
                                             const float* k, const float* v, const float* out,
                                             const float* lse, CausalDocMask mask, int T, int NH,
                                             int NKV, int HD, float scale) {
  extern __shared__ float smem[];
  float* q_rows = smem;                            // (kRowsPerBlock, HD)
  float* dout_rows = q_rows + kRowsPerBlock * HD;  // (kRowsPerBlock, HD)
  float* k_tile = dout_rows + kRowsPerBlock * HD;  // (kTile, HD + 1)
  float* v_tile = k_tile + kTile * (HD + 1);       // (kTile, HD + 1)
  const int b = blockIdx.z, h = blockIdx.y, kvh = h / (NH / NKV);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int first_query = blockIdx.x * kRowsPerBlock;
  const int last_query = min(first_query + kRowsPerBlock, T) - 1;
  const int query = first_query + warp;
  const bool active = query < T;
  float D = 0.0f, row_lse = 0.0f;
  if (active) {
    const size_t offset = row_offset(b, query, h, T, NH, HD);
    for (int d = lane; d < HD; d += kWarpSize) {
      q_rows[warp * HD + d] = q[offset + d];
      dout_rows[warp * HD + d] = dout[offset + d];
      D += dout[offset + d] * out[offset + d];
    }
    D = warp_reduce(D, SumOp{});
    row_lse = lse[(static_cast<size_t>(b) * NH + h) * T + query];
  }
  float acc[kDimsPerLane] = {};
  const int keys_end = last_query + 1;
  for (int first_key = 0; first_key < keys_end; first_key += kTile) {
    __syncthreads();
    load_tile(k_tile, HD + 1, k, b, first_key, keys_end, kvh, T, NKV, HD);
    load_tile(v_tile, HD + 1, v, b, first_key, keys_end, kvh, T, NKV, HD);
    __syncthreads();
    if (!active) continue;
    const int key = first_key + lane;
    float ds = 0.0f;
    if (key < keys_end && mask.allowed(b, query, key)) {
      const float p =
          expf(dot_shared(q_rows + warp * HD, k_tile + lane * (HD + 1), HD) * scale - row_lse);
      ds = p * (dot_shared(dout_rows + warp * HD, v_tile + lane * (HD + 1), HD) - D);
    }
    for (int j = 0; j < kTile; ++j) {
      const float ds_j = __shfl_sync(kFullMask, ds, j);
#pragma unroll
      for (int r = 0; r < kDimsPerLane; ++r) {
        const int d = lane + r * kWarpSize;
        if (d < HD) acc[r] += ds_j * k_tile[j * (HD + 1) + d];
      }
    }
  }
  if (!active) return;
  float* dq_row = dq + row_offset(b, query, h, T, NH, HD);
#pragma unroll
  for (int r = 0; r < kDimsPerLane; ++r) {
    const int d = lane + r * kWarpSize;
    if (d < HD) dq_row[d] += scale * acc[r];
  }
}

// dk, dv: grid (key tiles, NKV, B), warp w owns key first_key + w of kv head kvh and streams
// the queries of every query head that reads it, so no two warps write the same dk/dv row:
// dv_j += sum_i P_ij dout_i;  dk_j += scale * sum_i P_ij (dout_i . v_j - D_i) q_i.
__global__ void attention_backward_dkv_kernel(float* dk, float* dv, const float* dout,
                                              const float* q, const float* k, const float* v,
                                              const float* out, const float* lse,
                                              CausalDocMask mask, int T, int NH, int NKV, int HD,
                                              float scale) {
  extern __shared__ float smem[];
  float* k_rows = smem;                          // (kRowsPerBlock, HD)
  float* v_rows = k_rows + kRowsPerBlock * HD;   // (kRowsPerBlock, HD)
  float* q_tile = v_rows + kRowsPerBlock * HD;   // (kTile, HD + 1)
  float* dout_tile = q_tile + kTile * (HD + 1);  // (kTile, HD + 1)
  float* tile_D = dout_tile + kTile * (HD + 1);  // (kTile) dout_i . out_i
  float* tile_lse = tile_D + kTile;              // (kTile)
  const int b = blockIdx.z, kvh = blockIdx.y, group = NH / NKV;
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int first_key = blockIdx.x * kRowsPerBlock;
  const int key = first_key + warp;
  const bool active = key < T;
  if (active) {
    const size_t offset = row_offset(b, key, kvh, T, NKV, HD);
    for (int d = lane; d < HD; d += kWarpSize) {
      k_rows[warp * HD + d] = k[offset + d];
      v_rows[warp * HD + d] = v[offset + d];
    }
  }
  float dk_acc[kDimsPerLane] = {}, dv_acc[kDimsPerLane] = {};
  for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
    for (int first_query = first_key; first_query < T; first_query += kTile) {
      __syncthreads();
      load_tile(q_tile, HD + 1, q, b, first_query, T, h, T, NH, HD);
      load_tile(dout_tile, HD + 1, dout, b, first_query, T, h, T, NH, HD);
      for (int r = warp; r < kTile; r += kRowsPerBlock) {
        const int query = first_query + r;
        float D = 0.0f;
        if (query < T) {
          const size_t offset = row_offset(b, query, h, T, NH, HD);
          for (int d = lane; d < HD; d += kWarpSize) D += dout[offset + d] * out[offset + d];
        }
        D = warp_reduce(D, SumOp{});
        if (lane == 0) {
          tile_D[r] = D;
          tile_lse[r] = query < T ? lse[(static_cast<size_t>(b) * NH + h) * T + query] : 0.0f;
        }
      }
      __syncthreads();
      if (!active) continue;
      const int query = first_query + lane;
      float p = 0.0f, ds = 0.0f;
      if (query < T && mask.allowed(b, query, key)) {
        p = expf(dot_shared(q_tile + lane * (HD + 1), k_rows + warp * HD, HD) * scale -
                 tile_lse[lane]);
        ds = p * (dot_shared(dout_tile + lane * (HD + 1), v_rows + warp * HD, HD) - tile_D[lane]);
      }
      for (int i = 0; i < kTile; ++i) {
        const float p_i = __shfl_sync(kFullMask, p, i);
        const float ds_i = __shfl_sync(kFullMask, ds, i);
#pragma unroll
        for (int r = 0; r < kDimsPerLane; ++r) {
          const int d = lane + r * kWarpSize;
          if (d < HD) {
            dv_acc[r] += p_i * dout_tile[i * (HD + 1) + d];
            dk_acc[r] += ds_i * q_tile[i * (HD + 1) + d];
          }
        }
      }
    }
  }
  if (!active) return;
  const size_t offset = row_offset(b, key, kvh, T, NKV, HD);
#pragma unroll
  for (int r = 0; r < kDimsPerLane; ++r) {
    const int d = lane + r * kWarpSize;
    if (d < HD) {
      dk[offset + d] += scale * dk_acc[r];
      dv[offset + d] += dv_acc[r];
    }
  }
}

// Dynamic shared memory above the 48 KiB default needs an opt-in per kernel.
template <typename Kernel>
void allow_shared_bytes(Kernel* kernel, size_t bytes) {
  LOOM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
}

void require_shapes(int NH, int NKV, int HD) {
  LOOM_REQUIRE(HD > 0 && HD <= kMaxHeadDim, "attention: head dimension ", HD,
               " is outside the supported range [1, ", kMaxHeadDim, "]");
  LOOM_REQUIRE(NKV > 0 && NH % NKV == 0, "attention: ", NH, " heads are not a multiple of ", NKV,
               " key/value heads");
}

template <typename Mask>
void launch_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                    Mask mask, int B, int Tq, int Tk, int NH, int NKV, int HD,
                    cudaStream_t stream) {
  require_shapes(NH, NKV, HD);
  if (B == 0 || Tq == 0) return;
  const size_t shared_bytes = sizeof(float) * (kRowsPerBlock * HD + kTile * (HD + 1) + kTile * HD);
  allow_shared_bytes(attention_forward_kernel<Mask>, shared_bytes);
  const dim3 grid(ceil_div(Tq, kRowsPerBlock), NH, B);
  attention_forward_kernel<Mask><<<grid, kRowsPerBlock * kWarpSize, shared_bytes, stream>>>(
      out, lse, q, k, v, mask, Tq, Tk, NH, NKV, HD, 1.0f / sqrtf(static_cast<float>(HD)));
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int* doc, int B, int T, int NH, int NKV, int HD, cudaStream_t stream) {
  launch_forward(out, lse, q, k, v, CausalDocMask{doc, T}, B, T, T, NH, NKV, HD, stream);
}

void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                      int HD, cudaStream_t stream) {
  launch_forward(out, static_cast<float*>(nullptr), q, k_cache, v_cache,
                 KeyRangeMask{key_begin, key_end}, B, 1, Tmax, NH, NKV, HD, stream);
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const int* doc, int B, int T, int NH, int NKV, int HD,
                        cudaStream_t stream) {
  require_shapes(NH, NKV, HD);
  if (B == 0 || T == 0) return;
  const float scale = 1.0f / sqrtf(static_cast<float>(HD));
  const CausalDocMask mask{doc, T};
  const int threads = kRowsPerBlock * kWarpSize;

  const size_t dq_bytes = sizeof(float) * (2 * kRowsPerBlock * HD + 2 * kTile * (HD + 1));
  allow_shared_bytes(attention_backward_dq_kernel, dq_bytes);
  attention_backward_dq_kernel<<<dim3(ceil_div(T, kRowsPerBlock), NH, B), threads, dq_bytes,
                                 stream>>>(dq, dout, q, k, v, out, lse, mask, T, NH, NKV, HD,
                                           scale);
  LOOM_CUDA_CHECK_LAUNCH();

  const size_t dkv_bytes =
      sizeof(float) * (2 * kRowsPerBlock * HD + 2 * kTile * (HD + 1) + 2 * kTile);
  allow_shared_bytes(attention_backward_dkv_kernel, dkv_bytes);
  attention_backward_dkv_kernel<<<dim3(ceil_div(T, kRowsPerBlock), NKV, B), threads, dkv_bytes,
                                  stream>>>(dk, dv, dout, q, k, v, out, lse, mask, T, NH, NKV, HD,
                                            scale);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
