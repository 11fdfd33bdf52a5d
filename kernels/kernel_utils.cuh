// Device helpers shared by the kernels (never by host code): warp and block reductions,
// and the grid size of grid-stride elementwise loops.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>

namespace loom::cuda {

inline constexpr int kWarpSize = 32;
inline constexpr int kElementwiseThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline int elementwise_blocks(size_t n) {
  const size_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<int>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Every lane of the warp gets the reduction of all 32 lanes.
template <typename T, typename Op>
__device__ T warp_reduce(T x, Op op) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    x = op(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}

// Every thread of the block gets the reduction; blockDim.x must be a multiple of 32.
// All threads of the block must call it (it synchronises).
template <typename T, typename Op>
__device__ T block_reduce(T x, Op op, T identity) {
  __shared__ T partial[kWarpSize];
  __shared__ T total;
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  x = warp_reduce(x, op);
  __syncthreads();  // an earlier call's readers of `total` are done
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  if (warp == 0) {
    T y = lane < static_cast<int>(blockDim.x) / kWarpSize ? partial[lane] : identity;
    y = warp_reduce(y, op);
    if (lane == 0) total = y;
  }
  __syncthreads();
  return total;
}

template <typename T>
__device__ T block_sum(T x) {
  return block_reduce(x, SumOp{}, T(0));
}

__device__ inline float block_max(float x) { return block_reduce(x, MaxOp{}, -INFINITY); }

}  // namespace loom::cuda
