// CUDA twin of src/ops/adamw.h (the same per-step scalars, loom::adamw_step_scalars).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace loom::cuda {

// params, m, v (n) updated in place from grads (n); step t counts from 1.
void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t,
                  cudaStream_t stream);

}  // namespace loom::cuda
