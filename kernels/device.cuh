// Which device runs the ops: a CUDA build on a machine without a usable GPU (no device,
// or a driver older than the runtime, as on CI) falls back to the CPU path.
#pragma once

#include <string>

namespace loom::cuda {

// Number of usable CUDA devices; 0 with *reason set when none can be used.
int usable_device_count(std::string* reason);

}  // namespace loom::cuda
