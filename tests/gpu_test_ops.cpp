// The cuda backend (src/backend/cuda) over the op table (src/backend/op_cases): every case is
// checked against the double references (forward) and against cpu-f32 (forward and backward)
// with the case's f32 tolerance, inputs must be left untouched, and guard zones around every
// device tensor catch out-of-bounds writes (run_case).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/op_cases/op_cases.h"
#include "kernels/cublas_handle.cuh"
#include "kernels/device.cuh"
#include "support/test_support.h"

namespace loom::test {
namespace {

std::vector<size_t> all_case_indices() {
  std::vector<size_t> indices(op_cases().size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return indices;
}

std::string joined(const std::vector<std::string>& failures) {
  std::string text;
  for (const std::string& f : failures) text += f + "\n";
  return text;
}

class GpuOps : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    std::string why;
    if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
    gpu_ = make_cuda_backend(0);
  }
  std::unique_ptr<Backend> gpu_;
};

TEST_P(GpuOps, MatchReferencesAndCpuOps) {
  const OpCase& c = op_cases()[GetParam()];
  const std::vector<std::string> forward = check_forward(c, *gpu_, Precision::f32, 1);
  EXPECT_TRUE(forward.empty()) << joined(forward);
  const std::vector<std::string> both = check_against_cpu(c, *gpu_, Precision::f32, 3);
  EXPECT_TRUE(both.empty()) << joined(both);
}

// cublas_handle: one handle per device, created once and reused by every matmul.
TEST(CublasHandle, OneHandlePerDeviceIsReused) {
  std::string why;
  if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
  const cublasHandle_t first = cuda::cublas_handle();
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(cuda::cublas_handle(), first);
}

// Zeroing an arena (the gradient arena, every step) comes after the backend's earlier calls on
// its stream: with the zeroing on the legacy default stream, it ran while queued fills of the
// same memory were still to come, and ones survived it.
TEST(CudaArena, ZeroComesAfterTheBackendsEarlierCalls) {
  std::string why;
  if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
  const std::unique_ptr<Backend> gpu = make_cuda_backend(0);
  const size_t n = size_t(16) << 20;  // 64 MB of floats: 200 fills keep the stream busy for ms
  Arena arena = gpu->make_arena("zero order", n * sizeof(float));
  float* x = arena.take<float>(n);
  for (int i = 0; i < 200; ++i) gpu->fill(x, 1.0f, n);
  arena.zero();
  std::vector<float> host(n, -1.0f);
  gpu->download(host.data(), x, n * sizeof(float));
  size_t nonzero = 0;
  for (float v : host) nonzero += v != 0.0f;
  EXPECT_EQ(nonzero, 0u) << "of " << n << " elements";
}

INSTANTIATE_TEST_SUITE_P(Table, GpuOps, ::testing::ValuesIn(all_case_indices()),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

}  // namespace
}  // namespace loom::test
