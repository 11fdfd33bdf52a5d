// cuda-f32: the Backend on one CUDA device, every op a kernel of kernels/ (or cuBLAS) on one
// stream, arenas in device memory, the gradient all-reduce on NCCL. Activations are f32 in
// this version (the op table checks it with the f32 tolerances); bf16 activations on
// cuBLASLt are the next step. Built only with LOOM_CUDA; it ran on one H200
// (docs/gpu.md says what was verified there, and what not).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace loom {

// The backend on CUDA device `device` (cudaSetDevice), with a stream of its own.
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace loom
