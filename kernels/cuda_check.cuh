// Check macros for CUDA runtime and cuBLAS calls: failures become loom::Error with file:line.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/check.h"

#define LOOM_CUDA_CHECK(call)                                                             \
  do {                                                                                    \
    cudaError_t loom_cuda_status_ = (call);                                               \
    if (loom_cuda_status_ != cudaSuccess)                                                 \
      ::loom::fail_at(__FILE__, __LINE__,                                                 \
                      ::loom::cat(#call, ": ", cudaGetErrorString(loom_cuda_status_)));  \
  } while (0)

#define LOOM_CUBLAS_CHECK(call)                                                           \
  do {                                                                                    \
    cublasStatus_t loom_cublas_status_ = (call);                                          \
    if (loom_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                     \
      ::loom::fail_at(__FILE__, __LINE__,                                                 \
                      ::loom::cat(#call, ": cuBLAS status ", static_cast<int>(loom_cublas_status_))); \
  } while (0)

// Errors from a kernel launch (configuration) show up here; asynchronous ones at the next sync.
#define LOOM_CUDA_CHECK_LAUNCH() LOOM_CUDA_CHECK(cudaGetLastError())

namespace loom::cuda {

inline int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

}  // namespace loom::cuda
