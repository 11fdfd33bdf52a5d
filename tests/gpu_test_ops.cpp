// The cuda backend (src/backend/cuda) over the op table (src/backend/op_cases), as cuda-f32 and
// as cuda-bf16: every case is checked against the double references (forward) and against
// cpu-f32 (forward and backward) with the case's tolerance for the backend's precision (f32, or
// the bf16 rule of docs/ops.md), inputs must be left untouched, and guard zones around every
// device tensor catch out-of-bounds writes (run_case). The bf16 rule also holds for a backend
// that does not round at all, so CudaBf16.GemmsRoundBothOperands checks that cuda-bf16 does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu_f32.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/op_cases/op_cases.h"
#include "core/check.h"
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

bool no_usable_device(std::string* why) { return cuda::usable_device_count(why) == 0; }

class GpuOps : public ::testing::TestWithParam<std::tuple<size_t, CudaGemmInputs>> {
 protected:
  void SetUp() override {
    std::string why;
    if (no_usable_device(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    gpu_ = make_cuda_backend(0, std::get<1>(GetParam()));
  }
  Precision precision() const {
    return std::get<1>(GetParam()) == CudaGemmInputs::Bf16 ? Precision::bf16 : Precision::f32;
  }
  std::unique_ptr<Backend> gpu_;
};

TEST_P(GpuOps, MatchReferencesAndCpuOps) {
  const OpCase& c = op_cases()[std::get<0>(GetParam())];
  const std::vector<std::string> forward = check_forward(c, *gpu_, precision(), 1);
  EXPECT_TRUE(forward.empty()) << joined(forward);
  const std::vector<std::string> both = check_against_cpu(c, *gpu_, precision(), 3);
  EXPECT_TRUE(both.empty()) << joined(both);
}

// cublas_handle: one handle per device, created once and reused by every matmul.
TEST(CublasHandle, OneHandlePerDeviceIsReused) {
  std::string why;
  if (no_usable_device(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  const cublasHandle_t first = cuda::cublas_handle();
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(cuda::cublas_handle(), first);
}

// Zeroing an arena (the gradient arena, every step) comes after the backend's earlier calls on
// its stream: with the zeroing on the legacy default stream, it ran while queued fills of the
// same memory were still to come, and ones survived it.
TEST(CudaArena, ZeroComesAfterTheBackendsEarlierCalls) {
  std::string why;
  if (no_usable_device(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  const std::unique_ptr<Backend> gpu = make_cuda_backend(0, CudaGemmInputs::F32);
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

// Each output of `c` (forward and backward) on `backend` against cpu-f32 on the case's inputs
// rounded to bf16 (rounded_to_bf16): failures where one is further than 1e-5 of its largest
// value (only f32 accumulation may differ), or where rounding the inputs moved cpu-f32's output
// less than 10 times that (a case that could not tell rounded operands from f32 ones).
std::vector<std::string> rounded_operand_failures(const OpCase& c, const Backend& backend) {
  std::vector<std::string> failures;
  const Tensors initial = c.make_tensors(1);
  const Tensors got = run_case(c, backend, initial, /*backward=*/true, &failures);
  const Tensors rounded = run_case(c, cpu_f32_backend(), rounded_to_bf16(initial), /*backward=*/true, &failures);
  const Tensors exact = run_case(c, cpu_f32_backend(), initial, /*backward=*/true, &failures);
  for (const auto& [name, tensor] : initial.f32) {
    if (tensor.role == Role::kInput || tensor.role == Role::kScratch) continue;
    const std::vector<float>& want = rounded.f32.at(name).data;
    double scale = 0.0;  // max |want|
    for (float v : want) scale = std::max(scale, std::abs(double(v)));
    const double err = max_abs_diff(got.f32.at(name).data.data(), want.data(), want.size());
    const double moved = max_abs_diff(exact.f32.at(name).data.data(), want.data(), want.size());
    if (err > 1e-5 * scale) failures.push_back(cat(c.name(), ": ", name, " is ", err, " from cpu-f32 on rounded inputs"));
    if (moved <= 10 * 1e-5 * scale) failures.push_back(cat(c.name(), ": ", name, " barely moved by rounding (", moved, ")"));
  }
  return failures;
}

// cuda-bf16's GEMMs round both operands to bf16 and accumulate in f32, which the table's bf16
// rule cannot show (it passes a GEMM on f32 operands too): every matmul case, forward and both
// backward GEMMs, against cpu-f32 on rounded inputs. A GEMM left in f32, or one rounding a
// single operand, fails it.
TEST(CudaBf16, GemmsRoundBothOperands) {
  std::string why;
  if (no_usable_device(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  const std::unique_ptr<Backend> gpu = make_cuda_backend(0, CudaGemmInputs::Bf16);
  int cases = 0;
  for (const OpCase& c : op_cases()) {
    if (c.op != "matmul") continue;
    ++cases;
    const std::vector<std::string> failures = rounded_operand_failures(c, *gpu);
    EXPECT_TRUE(failures.empty()) << joined(failures);
  }
  EXPECT_GT(cases, 0);
}

INSTANTIATE_TEST_SUITE_P(Table, GpuOps,
                         ::testing::Combine(::testing::ValuesIn(all_case_indices()),
                                            ::testing::Values(CudaGemmInputs::F32, CudaGemmInputs::Bf16)),
                         [](const auto& info) {
                           const bool bf16 = std::get<1>(info.param) == CudaGemmInputs::Bf16;
                           return (bf16 ? "bf16_" : "f32_") + test_name(op_cases()[std::get<0>(info.param)]);
                         });

}  // namespace
}  // namespace loom::test
