#include "core/rng.h"
#include "kernels/cuda_check.cuh"
#include "kernels/dropout.cuh"
#include "kernels/kernel_utils.cuh"

namespace loom::cuda {

namespace {

// out (n) (+)= keep_i ? inp / (1 - p) : 0, the mask drawn from (seed, stream_id, i).
template <bool kAccumulate>
__global__ void dropout_kernel(float* out, const float* inp, size_t n, float p, uint64_t seed,
                               uint64_t stream_id) {
  const float keep_scale = 1.0f / (1.0f - p);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const bool keep = p == 0.0f || random_uniform(seed, stream_id, i) >= p;
    const float value = keep ? inp[i] * keep_scale : 0.0f;
    out[i] = kAccumulate ? out[i] + value : value;
  }
}

template <bool kAccumulate>
void dropout_apply(float* out, const float* inp, size_t n, float p, uint64_t seed,
                   uint64_t stream_id, cudaStream_t stream) {
  LOOM_REQUIRE(p >= 0.0f && p < 1.0f, "dropout: probability ", p, " is outside [0, 1)");
  if (n == 0) return;
  dropout_kernel<kAccumulate>
      <<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(out, inp, n, p, seed, stream_id);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                     uint64_t stream_id, cudaStream_t stream) {
  dropout_apply<false>(out, inp, n, p, seed, stream_id, stream);
}

void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                      uint64_t stream_id, cudaStream_t stream) {
  dropout_apply<true>(dinp, dout, n, p, seed, stream_id, stream);
}

}  // namespace loom::cuda
