// The CUDA twins over the op table (src/backend/op_cases): a test backend runs each op that
// has a twin in kernels/ on device memory and one stream; every case whose ops all have
// twins is checked against the double references (forward) and against cpu-f32 (forward and
// backward) with the case's f32 tolerance, inputs must be left untouched, and guard zones
// around every device tensor catch out-of-bounds writes (run_case). Cases of ops without a
// twin yet are skipped by name.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "backend/op_cases/op_cases.h"
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
#include "support/test_support.h"

namespace loom::test {
namespace {

class CudaAllocator final : public ArenaAllocator {
 public:
  void* allocate(size_t bytes) const override {
    void* memory = nullptr;
    if (cudaMalloc(&memory, bytes) != cudaSuccess) return nullptr;
    LOOM_CUDA_CHECK(cudaMemset(memory, 0, bytes));
    return memory;
  }
  void release(void* memory) const override { cudaFree(memory); }
  void zero(void* memory, size_t bytes) const override { LOOM_CUDA_CHECK(cudaMemset(memory, 0, bytes)); }
  const char* kind() const override { return "cuda"; }
};

// The ops with a CUDA twin today; the rest of the Backend fails by name.
const std::set<std::string>& ops_with_twins() {
  static const std::set<std::string> ops = {"matmul",  "rmsnorm",        "rope",          "attention",
                                            "attention_decode", "swiglu", "embedding", "cross_entropy",
                                            "token_logprobs", "dropout", "add_inplace", "scale_inplace",
                                            "sum_squares", "adamw"};
  return ops;
}

[[noreturn]] void no_twin(const char* op) { LOOM_FAIL("gpu_test_ops: ", op, " has no CUDA twin yet"); }

// The Backend calls on device pointers, all on one stream.
class CudaTestBackend final : public Backend {
 public:
  explicit CudaTestBackend(cudaStream_t stream) : s_(stream) {}

  const char* name() const override { return "cuda-f32 (test)"; }
  const ArenaAllocator& allocator() const override { return allocator_; }
  void upload(void* dst, const void* src, size_t bytes) const override {
    LOOM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_));
    LOOM_CUDA_CHECK(cudaStreamSynchronize(s_));  // src may be reused on return
  }
  void download(void* dst, const void* src, size_t bytes) const override {
    LOOM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s_));
    LOOM_CUDA_CHECK(cudaStreamSynchronize(s_));
  }
  void synchronize() const override { LOOM_CUDA_CHECK(cudaStreamSynchronize(s_)); }

  void fill(float*, float, size_t) const override { no_twin("fill"); }
  void copy(float* dst, const float* src, size_t n) const override {
    LOOM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s_));
  }
  void gather_rows(float*, const float*, const int*, int, int) const override { no_twin("gather_rows"); }
  void scatter_add_rows(float*, const float*, const int*, int, int) const override { no_twin("scatter_add_rows"); }
  void kv_cache_append(float*, float*, const float*, const float*, int, int, int, int, int) const override {
    no_twin("kv_cache_append");
  }

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
  void quantized_matmul_forward(float*, float*, const float*, const QuantizedMatrix&, int, bool) const override {
    no_twin("quantized_matmul_forward");
  }
  void quantized_matmul_backward_input(float*, float*, const float*, const QuantizedMatrix&, int) const override {
    no_twin("quantized_matmul_backward_input");
  }

  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                       float eps) const override {
    cuda::rmsnorm_forward(out, rstd, inp, weight, N, C, eps, s_);
  }
  void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd,
                        int N, int C) const override {
    cuda::rmsnorm_backward(dinp, dout, inp, weight, rstd, N, C, s_);
  }
  void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) const override {
    cuda::rope_forward(x, pos, inv_freq, N, H, HD, s_);
  }
  void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) const override {
    cuda::rope_backward(dx, pos, inv_freq, N, H, HD, s_);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                         int B, int T, int NH, int NKV, int HD) const override {
    cuda::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD, s_);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                          const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                          int NKV, int HD) const override {
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
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N,
                       int F) const override {
    cuda::swiglu_backward(dgate, dup, dout, gate, up, N, F, s_);
  }
  void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) const override {
    cuda::embedding_forward(out, tokens, wte, N, C, V, s_);
  }
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                       uint64_t stream) const override {
    cuda::dropout_forward(out, inp, n, p, seed, stream, s_);
  }
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                        uint64_t stream) const override {
    cuda::dropout_backward(dinp, dout, n, p, seed, stream, s_);
  }
  void add_inplace(float* x, const float* y, size_t n) const override { cuda::add_inplace(x, y, n, s_); }
  void scale_inplace(float* x, float s, size_t n) const override { cuda::scale_inplace(x, s, n, s_); }

  void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                             int V) const override {
    cuda::cross_entropy_forward(losses, logits, targets, N, V, s_);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dloss, int N,
                              int V) const override {
    cuda::cross_entropy_backward(dlogits, logits, targets, dloss, N, V, s_);
  }
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const override {
    cuda::token_logprobs(logprobs, logits, targets, N, V, s_);
  }
  void log_softmax_stats(float*, float*, float*, const float*, const int*, int, int) const override {
    no_twin("log_softmax_stats");
  }
  void log_softmax_backward(float*, const float*, const int*, const float*, int, int) const override {
    no_twin("log_softmax_backward");
  }
  void score_head_forward(float*, const float*, const int*, const float*, int, int, int) const override {
    no_twin("score_head_forward");
  }
  void score_head_backward(float*, float*, const float*, const float*, const int*, const float*, int, int,
                           int) const override {
    no_twin("score_head_backward");
  }
  void value_head_forward(float*, const float*, const float*, const float*, int, int) const override {
    no_twin("value_head_forward");
  }
  void value_head_backward(float*, float*, float*, const float*, const float*, const float*, int, int) const override {
    no_twin("value_head_backward");
  }

  void sum_squares(float* out, const float* x, size_t n) const override { cuda::sum_squares(out, x, n, s_); }
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t) const override {
    cuda::adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t, s_);
  }
  void allreduce_sum(const dist::Comm&, float*, size_t) const override { no_twin("allreduce_sum"); }

 private:
  cudaStream_t s_;
  CudaAllocator allocator_;
};

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
    LOOM_CUDA_CHECK(cudaStreamCreate(&stream_));
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

TEST_P(GpuOps, MatchReferencesAndCpuOps) {
  const OpCase& c = op_cases()[GetParam()];
  if (!ops_with_twins().count(c.op)) GTEST_SKIP() << c.op << " has no CUDA twin yet";
  const CudaTestBackend gpu(stream_);
  const std::vector<std::string> forward = check_forward(c, gpu, Precision::f32, 1);
  EXPECT_TRUE(forward.empty()) << joined(forward);
  const std::vector<std::string> both = check_against_cpu(c, gpu, Precision::f32, 3);
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

INSTANTIATE_TEST_SUITE_P(Table, GpuOps, ::testing::ValuesIn(all_case_indices()),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

}  // namespace
}  // namespace loom::test
