#include "kernels/device.cuh"

#include <cuda_runtime.h>

#include "core/check.h"

namespace loom::cuda {

int usable_device_count(std::string* reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (reason) *reason = cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  if (count == 0 && reason) *reason = "no CUDA device visible";
  return count;
}

}  // namespace loom::cuda
