// dequant: the CUDA twin (kernels/dequant.cuh) against the CPU dequantization on the same
// quantized matrices. Both round the same operations in the same order (the NF4 absmax's
// multiply and add separately), so the results must be bit-identical.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/arena.h"
#include "core/check.h"
#include "core/dtype.h"
#include "kernels/cuda_check.cuh"
#include "kernels/dequant.cuh"
#include "kernels/device.cuh"
#include "quant/quantized_matrix.h"
#include "support/test_support.h"

namespace loom {
namespace {

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) { LOOM_CUDA_CHECK(cudaMalloc(&pointer_, bytes)); }
  ~DeviceBuffer() { cudaFree(pointer_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return pointer_; }

 private:
  void* pointer_ = nullptr;
};

class DequantCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
  }
};

struct Case {
  QuantMode mode;
  int rows, cols;
};

std::vector<Case> dequant_cases() {
  std::vector<Case> cases;
  for (const QuantMode mode : {QuantMode::F32, QuantMode::BF16, QuantMode::INT8, QuantMode::NF4})
    for (const auto& [rows, cols] : {std::pair{1, 1}, {5, 13}, {129, 257}, {401, 333}})
      cases.push_back({mode, rows, cols});
  return cases;
}

// Rows [begin, end) of the matrix, whole and in odd slices (mid-byte and mid-block starts).
std::vector<std::pair<int, int>> row_ranges(int rows) {
  std::vector<std::pair<int, int>> ranges = {{0, rows}, {rows - 1, rows}, {rows / 2, rows / 2}};
  if (rows > 3) ranges.push_back({1, rows - 2});
  return ranges;
}

TEST_F(DequantCuda, DequantMatchesCpuBitForBitInEveryMode) {
  // NaNs past the end of each output, which the kernels never write for finite weights
  constexpr uint32_t kF32Sentinel = 0x7fc0beefu;
  constexpr uint16_t kBf16Sentinel = 0x7fc1;
  for (const Case& c : dequant_cases()) {
    SCOPED_TRACE(cat(quant_mode_name(c.mode), " ", c.rows, "x", c.cols));
    std::vector<float> w = test::random_vector(static_cast<size_t>(c.rows) * c.cols, 7);
    for (size_t i = 0; i < w.size(); ++i) w[i] *= 1.0f + static_cast<float>(i % 977) / 97.0f;
    Arena host("frozen", quantized_matrix_bytes(c.mode, c.rows, c.cols));
    const QuantizedMatrix m = quantize_matrix(host, c.mode, w.data(), c.rows, c.cols);
    DeviceBuffer device_arena(host.used());
    LOOM_CUDA_CHECK(cudaMemcpy(device_arena.get(), host.base(), host.used(), cudaMemcpyHostToDevice));
    const QuantizedMatrix on_device = relocate_quantized_matrix(m, host.base(), device_arena.get());

    for (const auto& [begin, end] : row_ranges(c.rows)) {
      const size_t count = static_cast<size_t>(end - begin) * c.cols;
      std::vector<float> expected(count);
      dequantize_rows(expected.data(), m, begin, end);

      // f32 output, one sentinel element past the end
      DeviceBuffer out(4 * (count + 1));
      std::vector<uint32_t> got(count + 1, kF32Sentinel);
      LOOM_CUDA_CHECK(cudaMemcpy(out.get(), got.data(), 4 * (count + 1), cudaMemcpyHostToDevice));
      cuda::dequantize_rows(static_cast<float*>(out.get()), on_device, begin, end, nullptr);
      LOOM_CUDA_CHECK(cudaMemcpy(got.data(), out.get(), 4 * (count + 1), cudaMemcpyDeviceToHost));
      ASSERT_EQ(0, std::memcmp(got.data(), expected.data(), 4 * count))
          << "f32 rows [" << begin << ", " << end << ")";
      ASSERT_EQ(got[count], kF32Sentinel) << "wrote past the f32 output";

      // bf16 output: the CPU values rounded to nearest even
      DeviceBuffer out_bf16(2 * (count + 1));
      std::vector<uint16_t> got_bf16(count + 1, kBf16Sentinel);
      LOOM_CUDA_CHECK(cudaMemcpy(out_bf16.get(), got_bf16.data(), 2 * (count + 1), cudaMemcpyHostToDevice));
      cuda::dequantize_rows_bf16(static_cast<__nv_bfloat16*>(out_bf16.get()), on_device, begin, end, nullptr);
      LOOM_CUDA_CHECK(cudaMemcpy(got_bf16.data(), out_bf16.get(), 2 * (count + 1), cudaMemcpyDeviceToHost));
      for (size_t i = 0; i < count; ++i)
        ASSERT_EQ(got_bf16[i], f32_to_bf16(expected[i]))
            << "bf16 element " << i << " of rows [" << begin << ", " << end << ")";
      ASSERT_EQ(got_bf16[count], kBf16Sentinel) << "wrote past the bf16 output";
    }

    std::vector<float> whole(m.elements()), whole_gpu(m.elements());
    dequantize_matrix(whole.data(), m);
    DeviceBuffer out(4 * m.elements());
    cuda::dequantize_matrix(static_cast<float*>(out.get()), on_device, nullptr);
    LOOM_CUDA_CHECK(cudaMemcpy(whole_gpu.data(), out.get(), 4 * m.elements(), cudaMemcpyDeviceToHost));
    EXPECT_EQ(0, std::memcmp(whole_gpu.data(), whole.data(), 4 * m.elements())) << "whole matrix";
  }
}

}  // namespace
}  // namespace loom
