// One cuBLAS handle per device, created on first use and kept for the life of the process
// (destroying it at exit would race the driver's own teardown). Callers set the stream per
// call; one host thread drives a device in loom, so the handle is not shared across threads.
#pragma once

#include <cublas_v2.h>

namespace loom::cuda {

// The handle of the current device.
cublasHandle_t cublas_handle();

}  // namespace loom::cuda
