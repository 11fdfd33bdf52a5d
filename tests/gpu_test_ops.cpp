// The CUDA twins against the CPU ops over the table in op_cases.h: each case runs on both
// backends from the same tensors; every tensor an op writes must agree (f32: 1e-4 relative
// plus 1e-5 of the tensor's largest magnitude, no element excused), inputs must be left
// untouched, and guard zones around every device buffer catch out-of-bounds writes.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/adamw.cuh"
#include "kernels/attention.cuh"
#include "kernels/cublas_handle.cuh"
#include "kernels/cross_entropy.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/device.cuh"
#include "kernels/dropout.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/embedding.cuh"
#include "kernels/matmul.cuh"
#include "kernels/rmsnorm.cuh"
#include "kernels/rope.cuh"
#include "kernels/swiglu.cuh"
#include "op_cases.h"
#include "support/test_support.h"

namespace loom::test {
namespace {

// The OpBackend calls on device pointers, all on one stream.
class CudaOps final : public OpBackend {
 public:
  explicit CudaOps(cudaStream_t stream) : s_(stream) {}

  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    cuda::matmul_forward(out, inp, weight, N, C, OC, accumulate, s_);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                             int OC) const override {
    cuda::matmul_backward_input(dinp, dout, weight, N, C, OC, s_);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                              int OC) const override {
    cuda::matmul_backward_weight(dweight, dout, inp, N, C, OC, s_);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                       float eps) const override {
    cuda::rmsnorm_forward(out, rstd, inp, weight, N, C, eps, s_);
  }
  void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                        const float* rstd, int N, int C) const override {
    cuda::rmsnorm_backward(dinp, dout, inp, weight, rstd, N, C, s_);
  }
  void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H,
                    int HD) const override {
    cuda::rope_forward(x, pos, inv_freq, N, H, HD, s_);
  }
  void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H,
                     int HD) const override {
    cuda::rope_backward(dx, pos, inv_freq, N, H, HD, s_);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const int* doc, int B, int T, int NH, int NKV, int HD) const override {
    cuda::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD, s_);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                          const float* k, const float* v, const float* out, const float* lse,
                          const int* doc, int B, int T, int NH, int NKV, int HD) const override {
    cuda::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD, s_);
  }
  void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                        int HD) const override {
    cuda::attention_decode(out, q, k_cache, v_cache, key_begin, key_end, B, Tmax, NH, NKV, HD, s_);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const override {
    cuda::swiglu_forward(out, gate, up, N, F, s_);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                       const float* up, int N, int F) const override {
    cuda::swiglu_backward(dgate, dup, dout, gate, up, N, F, s_);
  }
  void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C,
                         int V) const override {
    cuda::embedding_forward(out, tokens, wte, N, C, V, s_);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                             int V) const override {
    cuda::cross_entropy_forward(losses, logits, targets, N, V, s_);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                              const float* dloss, int N, int V) const override {
    cuda::cross_entropy_backward(dlogits, logits, targets, dloss, N, V, s_);
  }
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N,
                      int V) const override {
    cuda::token_logprobs(logprobs, logits, targets, N, V, s_);
  }
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                       uint64_t stream) const override {
    cuda::dropout_forward(out, inp, n, p, seed, stream, s_);
  }
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                        uint64_t stream) const override {
    cuda::dropout_backward(dinp, dout, n, p, seed, stream, s_);
  }
  void add_inplace(float* x, const float* y, size_t n) const override {
    cuda::add_inplace(x, y, n, s_);
  }
  void scale_inplace(float* x, float s, size_t n) const override {
    cuda::scale_inplace(x, s, n, s_);
  }
  void sum_squares(float* out, const float* x, size_t n) const override {
    cuda::sum_squares(out, x, n, s_);
  }
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int t) const override {
    cuda::adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t, s_);
  }
  void copy(float* dst, const float* src, size_t n) const override {
    LOOM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s_));
  }

 private:
  cudaStream_t s_;
};

// Guard elements on each side of every device buffer, filled with a byte pattern no op writes.
constexpr size_t kGuard = 256;
constexpr unsigned char kGuardByte = 0xA5;

// One device buffer of `count` elements of T between two guard zones.
template <typename T>
class GuardedBuffer {
 public:
  explicit GuardedBuffer(const std::vector<T>& host) : count_(host.size()) {
    const size_t total = (count_ + 2 * kGuard) * sizeof(T);
    LOOM_CUDA_CHECK(cudaMalloc(&base_, total));
    LOOM_CUDA_CHECK(cudaMemset(base_, kGuardByte, total));
    if (count_ > 0)
      LOOM_CUDA_CHECK(cudaMemcpy(data(), host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~GuardedBuffer() { cudaFree(base_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  T* data() { return base_ + kGuard; }

  std::vector<T> download() {
    std::vector<T> host(count_);
    if (count_ > 0)
      LOOM_CUDA_CHECK(cudaMemcpy(host.data(), data(), count_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

  // True when both guard zones still hold the pattern.
  bool guards_intact() {
    std::vector<unsigned char> bytes((count_ + 2 * kGuard) * sizeof(T));
    LOOM_CUDA_CHECK(cudaMemcpy(bytes.data(), base_, bytes.size(), cudaMemcpyDeviceToHost));
    const size_t guard_bytes = kGuard * sizeof(T);
    for (size_t i = 0; i < guard_bytes; ++i)
      if (bytes[i] != kGuardByte || bytes[bytes.size() - 1 - i] != kGuardByte) return false;
    return true;
  }

 private:
  size_t count_;
  T* base_ = nullptr;
};

std::string test_name(const OpCase& c) {
  std::string name = c.name();
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

std::vector<size_t> all_case_indices() {
  std::vector<size_t> indices(op_cases().size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return indices;
}

class GpuOps : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    std::string why;
    if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
    LOOM_CUDA_CHECK(cudaStreamCreate(&stream_));
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

TEST_P(GpuOps, MatchCpuOps) {
  const OpCase& c = op_cases()[GetParam()];
  const Tensors initial = c.make_tensors(3);

  Tensors on_cpu = initial;
  const Pointers cpu_pointers = host_pointers(on_cpu);
  c.forward(CpuOps(), cpu_pointers);
  if (c.backward) c.backward(CpuOps(), cpu_pointers);

  std::map<std::string, std::unique_ptr<GuardedBuffer<float>>> f32;
  std::map<std::string, std::unique_ptr<GuardedBuffer<int>>> i32;
  Pointers device;
  for (const auto& [name, tensor] : initial.f32) {
    f32[name] = std::make_unique<GuardedBuffer<float>>(tensor.data);
    device.f32[name] = f32[name]->data();
  }
  for (const auto& [name, values] : initial.i32) {
    i32[name] = std::make_unique<GuardedBuffer<int>>(values);
    device.i32[name] = i32[name]->data();
  }
  const CudaOps gpu(stream_);
  c.forward(gpu, device);
  if (c.backward) c.backward(gpu, device);
  LOOM_CUDA_CHECK(cudaStreamSynchronize(stream_));

  for (const auto& [name, tensor] : initial.f32) {
    EXPECT_TRUE(f32[name]->guards_intact()) << c.name() << ": write outside " << name;
    const std::vector<float> got = f32[name]->download();
    const std::vector<float>& want = on_cpu.f32.at(name).data;
    if (tensor.role == Role::kInput) {
      EXPECT_EQ(got, tensor.data) << c.name() << ": input " << name << " was written";
      continue;
    }
    double scale = 1.0;
    for (float x : want) scale = std::max(scale, double(std::fabs(x)));
    std::string where;
    EXPECT_TRUE(all_close(got.data(), want.data(), want.size(), 1e-5 * scale, 1e-4, &where))
        << c.name() << ": " << name << " " << where << " (max abs diff "
        << max_abs_diff(got.data(), want.data(), want.size()) << ")";
  }
  for (const auto& [name, values] : initial.i32) {
    EXPECT_TRUE(i32[name]->guards_intact()) << c.name() << ": write outside " << name;
    EXPECT_EQ(i32[name]->download(), values) << c.name() << ": input " << name << " was written";
  }
}

// cublas_handle: one handle per device, created once and reused by every matmul.
TEST(CublasHandle, OneHandlePerDeviceIsReused) {
  std::string why;
  if (cuda::usable_device_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
  const cublasHandle_t first = cuda::cublas_handle();
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(cuda::cublas_handle(), first);
}

INSTANTIATE_TEST_SUITE_P(Table, GpuOps, ::testing::ValuesIn(all_case_indices()),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

}  // namespace
}  // namespace loom::test
