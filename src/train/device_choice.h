// `run.device = auto | cpu | cuda`. The training and generation steps in this version run
// on the CPU path; the CUDA twins of the ops are built and tested beside it (kernels/).
// auto picks the CPU path (with a one-line notice when a usable GPU is visible);
// cuda is refused with a clear error rather than silently running on the CPU.
#pragma once

#include "train/training_options.h"

namespace loom {

// Returns the device the step runs on (always Cpu in this version); prints notices on rank 0.
DeviceKind choose_device(DeviceKind requested, int rank);

}  // namespace loom
