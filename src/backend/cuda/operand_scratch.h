// The cuda-bf16 backend's bf16 copies of GEMM operands (its f32 inputs rounded for
// cublasGemmEx), in device memory: one buffer per operand slot that grows to the largest
// request and is then reused, so after a fixed shape's first step nothing is allocated.
// Buffers are used in stream order by the backend that owns them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>

namespace loom {

enum class OperandSlot { Input, Weight, kCount };  // a GEMM's two operands

class OperandScratch {
 public:
  explicit OperandScratch(const cudaStream_t& stream) : stream_(stream) {}
  ~OperandScratch();
  OperandScratch(const OperandScratch&) = delete;
  OperandScratch& operator=(const OperandScratch&) = delete;

  // n bf16 values of device memory, valid until the next call for the slot. Growing waits for
  // the stream first: queued kernels may still read the old buffer.
  __nv_bfloat16* get(OperandSlot slot, size_t n);

 private:
  struct Buffer {
    __nv_bfloat16* data = nullptr;
    size_t capacity = 0;
  };
  const cudaStream_t& stream_;  // the backend's, created before any call
  std::array<Buffer, size_t(OperandSlot::kCount)> buffers_{};
};

}  // namespace loom
