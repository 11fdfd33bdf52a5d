#include "backend/cuda/cuda_backend.h"

#include <nccl.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/operand_scratch.h"
#include "dist/comm.h"
#include "kernels/adamw.cuh"
#include "kernels/attention.cuh"
#include "kernels/bf16_convert.cuh"
#include "kernels/copy.cuh"
#include "kernels/cross_entropy.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/dequant.cuh"
#include "kernels/dropout.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/embedding.cuh"
#include "kernels/heads.cuh"
#include "kernels/log_softmax.cuh"
#include "kernels/matmul.cuh"
#include "kernels/rmsnorm.cuh"
#include "kernels/rope.cuh"
#include "kernels/swiglu.cuh"
#include "ops/lora_linear.h"

#define LOOM_NCCL_CHECK(call)                                                                        \
  do {                                                                                               \
    ncclResult_t loom_nccl_status_ = (call);                                                         \
    if (loom_nccl_status_ != ncclSuccess)                                                            \
      ::loom::fail_at(__FILE__, __LINE__, ::loom::cat(#call, ": ", ncclGetErrorString(loom_nccl_status_))); \
  } while (0)

namespace loom {

namespace {

// Device memory, zeroed on the backend's stream: a plain cudaMemset goes to the legacy default
// stream, which does not wait for a non-blocking stream's kernels, so zeroing the gradient
// arena raced the previous step's optimizer kernels (and the next step's backward).
class CudaAllocator final : public ArenaAllocator {
 public:
  explicit CudaAllocator(const cudaStream_t& stream) : stream_(stream) {}
  void* allocate(size_t bytes) const override {
    void* memory = nullptr;
    if (cudaMalloc(&memory, bytes) != cudaSuccess) {
      cudaGetLastError();  // the arena reports the failed allocation by name
      return nullptr;
    }
    zero(memory, bytes);
    return memory;
  }
  void release(void* memory) const override { cudaFree(memory); }
  void zero(void* memory, size_t bytes) const override {
    LOOM_CUDA_CHECK(cudaMemsetAsync(memory, 0, bytes, stream_));
  }
  const char* kind() const override { return "cuda"; }

 private:
  const cudaStream_t& stream_;  // the backend's, created before any allocation
};

// The NCCL communicator of the ranks of the dist::Comm of the first all-reduce (a run has one),
// made then: rank 0's unique id travels to every rank over MPI.
class NcclCommunicator {
 public:
  ~NcclCommunicator() {
    if (comm_) ncclCommDestroy(comm_);
  }
  ncclComm_t get(const dist::Comm& comm) {
    std::call_once(made_, [&] {
      ncclUniqueId id{};
      if (comm.rank == 0) LOOM_NCCL_CHECK(ncclGetUniqueId(&id));
      std::vector<uint8_t> bytes(reinterpret_cast<const uint8_t*>(&id), reinterpret_cast<const uint8_t*>(&id) + sizeof id);
      comm.broadcast(&bytes, 0);
      LOOM_REQUIRE(bytes.size() == sizeof id, "NCCL unique id: received ", bytes.size(), " bytes");
      std::copy(bytes.begin(), bytes.end(), reinterpret_cast<uint8_t*>(&id));
      LOOM_NCCL_CHECK(ncclCommInitRank(&comm_, comm.world, id, comm.rank));
      world_ = comm.world;
    });
    LOOM_REQUIRE(comm.world == world_, "the CUDA backend's NCCL communicator spans ", world_,
                 " ranks; an all-reduce over ", comm.world, " ranks needs a backend of its own");
    return comm_;
  }

 private:
  std::once_flag made_;
  ncclComm_t comm_ = nullptr;
  int world_ = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, CudaGemmInputs gemm_inputs) : bf16_(gemm_inputs == CudaGemmInputs::Bf16) {
    LOOM_CUDA_CHECK(cudaSetDevice(device));
    LOOM_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    cudaDeviceProp properties{};
    LOOM_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
    char memory[32];
    std::snprintf(memory, sizeof memory, "%.1f GiB", double(properties.totalGlobalMem) / (1 << 30));
    name_ = cat(bf16_ ? "cuda-bf16" : "cuda-f32", " on GPU ", device, " (", properties.name, ", ", memory, ")");
  }
  ~CudaBackend() override {
    scratch_.reset();  // its buffers before the stream they are ordered on
    cudaStreamDestroy(s_);
  }

  // "cuda-f32 on GPU 0 (NVIDIA H100 80GB HBM3, 79.1 GiB)": printed first and in the run header.
  const char* name() const override { return name_.c_str(); }
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

  void fill(float* x, float value, size_t n) const override { cuda::fill(x, value, n, s_); }
  void copy(float* dst, const float* src, size_t n) const override {
    LOOM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s_));
  }
  void gather_rows(float* out, const float* inp, const int* rows, int count, int C) const override {
    cuda::gather_rows(out, inp, rows, count, C, s_);
  }
  void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) const override {
    cuda::scatter_add_rows(out, inp, rows, count, C, s_);
  }
  void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                       int Tmax, int KVD) const override {
    cuda::kv_cache_append(k_cache, v_cache, k, v, B, T, t0, Tmax, KVD, s_);
  }

  // cuda-bf16 runs each GEMM on its operands rounded to bf16 (f32 accumulation and output), as
  // torch.autocast and cpu-bf16 do; every other op computes in f32 on both.
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    if (bf16_)
      cuda::matmul_forward(out, rounded(OperandSlot::Input, inp, size_t(N) * C),
                           rounded(OperandSlot::Weight, weight, size_t(OC) * C), N, C, OC, accumulate, s_);
    else
      cuda::matmul_forward(out, inp, weight, N, C, OC, accumulate, s_);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                             int OC) const override {
    if (bf16_)
      cuda::matmul_backward_input(dinp, rounded(OperandSlot::Input, dout, size_t(N) * OC),
                                  rounded(OperandSlot::Weight, weight, size_t(OC) * C), N, C, OC, s_);
    else
      cuda::matmul_backward_input(dinp, dout, weight, N, C, OC, s_);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                              int OC) const override {
    if (bf16_)
      cuda::matmul_backward_weight(dweight, rounded(OperandSlot::Input, dout, size_t(N) * OC),
                                   rounded(OperandSlot::Weight, inp, size_t(N) * C), N, C, OC, s_);
    else
      cuda::matmul_backward_weight(dweight, dout, inp, N, C, OC, s_);
  }
  // The frozen weight dequantized into the workspace (cuda-bf16: straight to bf16, in its first
  // half), then cuBLAS (w's pointers are device memory).
  void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                                bool accumulate) const override {
    if (bf16_) {
      cuda::matmul_forward(out, rounded(OperandSlot::Input, inp, size_t(N) * w.cols), weight_bf16(workspace, w),
                           N, w.cols, w.rows, accumulate, s_);
      return;
    }
    cuda::dequantize_matrix(workspace, w, s_);
    cuda::matmul_forward(out, inp, workspace, N, w.cols, w.rows, accumulate, s_);
  }
  void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                       int N, bool accumulate) const override {
    if (!accumulate) fill(dinp, 0.0f, size_t(N) * w.cols);  // the GEMM adds
    if (bf16_) {
      cuda::matmul_backward_input(dinp, rounded(OperandSlot::Input, dout, size_t(N) * w.rows),
                                  weight_bf16(workspace, w), N, w.cols, w.rows, s_);
      return;
    }
    cuda::dequantize_matrix(workspace, w, s_);
    cuda::matmul_backward_input(dinp, dout, workspace, N, w.cols, w.rows, s_);
  }
  void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                           const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                           float p, uint64_t seed, uint64_t stream) const override {
    lora_linear_forward_composed(*this, y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
  }
  void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid,
                            const float* dy, const float* x, const float* u, const QuantizedMatrix& w,
                            const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed,
                            uint64_t stream, bool accumulate) const override {
    lora_linear_backward_composed(*this, dx, da, db, workspace, dropped, mid, dy, x, u, w, a, b, N, R, scale, p, seed,
                                  stream, accumulate);
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
                          int NKV, int HD, bool accumulate) const override {
    if (!accumulate) {  // the kernels add into dq, dk, dv
      fill(dq, 0.0f, size_t(B) * T * NH * HD);
      fill(dk, 0.0f, size_t(B) * T * NKV * HD);
      fill(dv, 0.0f, size_t(B) * T * NKV * HD);
    }
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
                       int F, bool accumulate) const override {
    cuda::swiglu_backward(dgate, dup, dout, gate, up, N, F, accumulate, s_);
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
  // composed of this backend's GEMMs and cross-entropy (dlogits in f32, in place over the logits)
  void classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits, const float* hidden,
                                   const float* head, const int* targets, const float* dloss, int N, int C,
                                   int V) const override {
    matmul_forward(logits, hidden, head, N, C, V, /*accumulate=*/false);
    cross_entropy_forward(losses, logits, targets, N, V);
    cross_entropy_backward(logits, logits, targets, dloss, N, V);
    matmul_backward_input(dhidden, logits, head, N, C, V);
    if (dhead != nullptr) matmul_backward_weight(dhead, logits, hidden, N, C, V);
  }
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const override {
    cuda::token_logprobs(logprobs, logits, targets, N, V, s_);
  }
  void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                         int N, int V) const override {
    cuda::log_softmax_stats(logprobs, entropy, log_dists, logits, targets, N, V, s_);
  }
  void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                            int V) const override {
    cuda::log_softmax_backward(dlogits, logits, targets, dlogprobs, N, V, s_);
  }
  void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T,
                          int C) const override {
    cuda::score_head_forward(rewards, hidden, last, head, B, T, C, s_);
  }
  void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                           const float* head, int B, int T, int C) const override {
    cuda::score_head_backward(dhidden, dhead, d_rewards, hidden, last, head, B, T, C, s_);
  }
  void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N,
                          int C) const override {
    cuda::value_head_forward(values, x, w, bias, N, C, s_);
  }
  void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                           int N, int C) const override {
    cuda::value_head_backward(dx, dw, dbias, dvalues, x, w, N, C, s_);
  }

  void sum_squares(float* out, const float* x, size_t n) const override { cuda::sum_squares(out, x, n, s_); }
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t) const override {
    cuda::adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t, s_);
  }
  // A world of one makes no NCCL call; otherwise in place on the backend's stream.
  void allreduce_sum(const dist::Comm& comm, float* x, size_t n) const override {
    if (comm.world == 1 || n == 0) return;
    LOOM_NCCL_CHECK(ncclAllReduce(x, x, n, ncclFloat32, ncclSum, nccl_.get(comm), s_));
  }

 private:
  // x (n) rounded to bf16 into the slot's buffer
  const __nv_bfloat16* rounded(OperandSlot slot, const float* x, size_t n) const {
    __nv_bfloat16* out = scratch_->get(slot, n);
    cuda::round_to_bf16(out, x, n, s_);
    return out;
  }
  // w dequantized to bf16 into the first half of workspace (w.rows * w.cols floats)
  const __nv_bfloat16* weight_bf16(float* workspace, const QuantizedMatrix& w) const {
    auto* out = reinterpret_cast<__nv_bfloat16*>(workspace);
    cuda::dequantize_rows_bf16(out, w, 0, w.rows, s_);
    return out;
  }

  bool bf16_;
  cudaStream_t s_ = nullptr;
  std::string name_;
  CudaAllocator allocator_{s_};
  std::unique_ptr<OperandScratch> scratch_ = std::make_unique<OperandScratch>(s_);
  mutable NcclCommunicator nccl_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device, CudaGemmInputs gemm_inputs) {
  return std::make_unique<CudaBackend>(device, gemm_inputs);
}

}  // namespace loom
