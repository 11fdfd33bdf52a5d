// The cuda backend (src/backend/cuda) over the op table (src/backend/op_cases), as cuda-f32 and
// as cuda-bf16: every case is checked against the double references (forward) and against
// cpu-f32 (forward and backward) with the case's tolerance for the backend's precision (f32, or
// the bf16 rule of docs/ops.md), inputs must be left untouched, and guard zones around every
// device tensor catch out-of-bounds writes (run_case). The bf16 rule also holds for a backend
// that does not round at all, so CudaBf16.GemmsRoundBothOperands checks that cuda-bf16 does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/op_cases/op_cases.h"
#include "core/dtype.h"
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

// cuda-bf16's three GEMMs each match the double product of their operands rounded to bf16 to
// f32 accumulation error (1e-5 of the largest value), and that product is more than 10 times as
// far from the unrounded one: a GEMM on f32 operands, or with one operand left unrounded, fails.
TEST(CudaBf16, GemmsRoundBothOperands) {
  std::string why;
  if (no_usable_device(&why)) GTEST_SKIP() << "no usable CUDA device: " << why;
  const std::unique_ptr<Backend> gpu = make_cuda_backend(0, CudaGemmInputs::Bf16);
  const int N = 37, C = 300, OC = 45;
  // out (M, K2) = sum over k of x[m, k] * y[k2, k] with x (M, K), y (K2, K) given by index maps
  struct Product {
    const char* name;
    int M, K2, K;
    std::vector<float> x, y;  // as the op takes them
    std::function<float(const std::vector<float>&, int, int)> xa, yb;  // x[m, k], y[k2, k]
    std::function<void(const Backend&, float*, const float*, const float*)> call;
  };
  const std::vector<float> inp = random_vector(size_t(N) * C, 1), weight = random_vector(size_t(OC) * C, 2),
                           dout = random_vector(size_t(N) * OC, 3);
  const std::vector<Product> products = {
      {"matmul_forward: out (N, OC) = inp @ weight^T", N, OC, C, inp, weight,
       [&](const auto& x, int m, int k) { return x[size_t(m) * C + k]; },
       [&](const auto& y, int o, int k) { return y[size_t(o) * C + k]; },
       [&](const Backend& be, float* out, const float* x, const float* y) {
         be.matmul_forward(out, x, y, N, C, OC, false);
       }},
      {"matmul_backward_input: dinp (N, C) = dout @ weight", N, C, OC, dout, weight,
       [&](const auto& x, int m, int k) { return x[size_t(m) * OC + k]; },
       [&](const auto& y, int c, int k) { return y[size_t(k) * C + c]; },
       [&](const Backend& be, float* out, const float* x, const float* y) {
         be.matmul_backward_input(out, x, y, N, C, OC);
       }},
      {"matmul_backward_weight: dweight (OC, C) = dout^T @ inp", OC, C, N, dout, inp,
       [&](const auto& x, int o, int n) { return x[size_t(n) * OC + o]; },
       [&](const auto& y, int c, int n) { return y[size_t(n) * C + c]; },
       [&](const Backend& be, float* out, const float* x, const float* y) {
         be.matmul_backward_weight(out, x, y, N, C, OC);
       }},
  };
  for (const Product& p : products) {
    const size_t outs = size_t(p.M) * p.K2;
    Arena arena = gpu->make_arena("gemm rounding", (p.x.size() + p.y.size() + outs) * sizeof(float) + 256);
    float* x = arena.take<float>(p.x.size());
    float* y = arena.take<float>(p.y.size());
    float* out = arena.take<float>(outs);  // zeroed: the backward GEMMs add into it
    gpu->upload(x, p.x.data(), p.x.size() * sizeof(float));
    gpu->upload(y, p.y.data(), p.y.size() * sizeof(float));
    p.call(*gpu, out, x, y);
    std::vector<float> got(outs);
    gpu->download(got.data(), out, outs * sizeof(float));
    auto bf16 = [](float v) { return double(bf16_to_f32(f32_to_bf16(v))); };
    double err = 0.0, rounding = 0.0, scale = 0.0;
    for (int m = 0; m < p.M; ++m)
      for (int k2 = 0; k2 < p.K2; ++k2) {
        double exact = 0.0, rounded = 0.0;
        for (int k = 0; k < p.K; ++k) {
          exact += double(p.xa(p.x, m, k)) * p.yb(p.y, k2, k);
          rounded += bf16(p.xa(p.x, m, k)) * bf16(p.yb(p.y, k2, k));
        }
        const double g = got[size_t(m) * p.K2 + k2];
        err = std::max(err, std::abs(g - rounded));
        rounding = std::max(rounding, std::abs(exact - rounded));
        scale = std::max(scale, std::abs(rounded));
      }
    EXPECT_LE(err, 1e-5 * scale) << p.name << ": " << err << " from the product of the rounded operands";
    EXPECT_GT(rounding, 10 * 1e-5 * scale) << p.name << ": rounding the operands changed too little to tell";
  }
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
