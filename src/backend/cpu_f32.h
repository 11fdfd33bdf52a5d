// cpu-f32: the reference backend, the loom::cpu ops of src/ops on host memory (OpenMP,
// OpenBLAS). Everything else is checked against it.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace loom {

std::unique_ptr<Backend> make_cpu_f32_backend();

// One shared instance, for code that has no chosen backend (tools, tests).
const Backend& cpu_f32_backend();

}  // namespace loom
