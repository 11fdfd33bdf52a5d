// The Backend on one CUDA device, every op a kernel of kernels/ (or cuBLAS) on one stream,
// arenas in device memory, the gradient all-reduce on NCCL. Activations are f32. cuda-f32
// runs its GEMMs on f32 operands (cuBLAS SGEMM; the op table checks it with the f32
// tolerances); cuda-bf16 rounds each GEMM's operands to bf16 and accumulates in f32
// (cublasGemmEx), the autocast rule of cpu-bf16, checked with the bf16 tolerances of
// docs/ops.md. Built only with LOOM_CUDA; docs/gpu.md says what ran on a GPU, and what not.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace loom {

enum class CudaGemmInputs { F32, Bf16 };

// The backend on CUDA device `device` (cudaSetDevice), with a stream of its own.
std::unique_ptr<Backend> make_cuda_backend(int device, CudaGemmInputs gemm_inputs);

}  // namespace loom
