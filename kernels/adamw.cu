#include "kernels/adamw.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "ops/adamw.h"

namespace loom::cuda {

namespace {

__global__ void adamw_kernel(float* params, float* m, float* v, const float* grads, size_t n,
                             float beta1, float beta2, float eps, AdamwStepScalars s) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = grads[i];
    const float p = params[i] * s.decay;
    const float m_new = m[i] + (1.0f - beta1) * (g - m[i]);
    const float v_new = beta2 * v[i] + (1.0f - beta2) * g * g;
    const float denom = sqrtf(v_new) / s.bias_correction2_sqrt + eps;
    params[i] = p - s.step_size * (m_new / denom);
    m[i] = m_new;
    v[i] = v_new;
  }
}

}  // namespace

void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t,
                  cudaStream_t stream) {
  if (n == 0) return;
  const AdamwStepScalars s = adamw_step_scalars(lr, beta1, beta2, weight_decay, t);
  adamw_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(params, m, v, grads, n,
                                                                          beta1, beta2, eps, s);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace loom::cuda
