// `run.device = auto | cpu | cuda`: the backend a training command runs on.
// cpu: the CPU backend of run.compute (backend_factory.h). cuda: the cuda backend on the GPU of
// the process's local rank, an error where none is usable. auto: the CPU path in this version,
// with a one-line notice where a GPU is visible: the cuda backend has run on one GPU only, and
// its NCCL all-reduce across GPUs never (docs/gpu.md); it becomes "cuda where a GPU is usable"
// once that has.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "dist/comm.h"
#include "train/training_options.h"

namespace loom {

// Prints the notice on rank 0.
std::unique_ptr<Backend> make_run_backend(const RunOptions& run, const dist::Comm& comm);

}  // namespace loom
