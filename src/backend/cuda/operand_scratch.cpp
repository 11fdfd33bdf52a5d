#include "backend/cuda/operand_scratch.h"

#include "core/check.h"
#include "kernels/cuda_check.cuh"

namespace loom {

OperandScratch::~OperandScratch() {
  for (Buffer& b : buffers_) cudaFree(b.data);
}

__nv_bfloat16* OperandScratch::get(OperandSlot slot, size_t n) {
  Buffer& b = buffers_[size_t(slot)];
  if (n > b.capacity) {
    LOOM_CUDA_CHECK(cudaStreamSynchronize(stream_));
    LOOM_CUDA_CHECK(cudaFree(b.data));
    b.data = nullptr, b.capacity = 0;
    const size_t capacity = n + n / 2;  // room to grow a little without reallocating
    if (cudaMalloc(&b.data, capacity * sizeof(__nv_bfloat16)) != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it, then say what failed
      b.data = nullptr;
      LOOM_FAIL("cuda-bf16: no GPU memory left for a GEMM operand of ", n, " bf16 values");
    }
    b.capacity = capacity;
  }
  return b.data;
}

}  // namespace loom
