#include <map>
#include <mutex>

#include "kernels/cublas_handle.cuh"
#include "kernels/cuda_check.cuh"

namespace loom::cuda {

cublasHandle_t cublas_handle() {
  static std::mutex mutex;
  static std::map<int, cublasHandle_t> handles;  // device -> handle
  int device = 0;
  LOOM_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  cublasHandle_t& handle = handles[device];
  if (!handle) LOOM_CUBLAS_CHECK(cublasCreate(&handle));
  return handle;
}

}  // namespace loom::cuda
