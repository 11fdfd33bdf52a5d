// cpu-f32: the reference backend, the loom::cpu ops of src/ops on host memory (OpenMP,
// OpenBLAS). Everything else is checked against it. Other CPU backends derive from it and
// override only the calls they run differently (cpu_bf16.h).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace loom {

class CpuF32Backend : public Backend {
 public:
  const char* name() const override;

  const ArenaAllocator& allocator() const override;
  void upload(void* dst, const void* src, size_t bytes) const override;
  void download(void* dst, const void* src, size_t bytes) const override;
  void synchronize() const override;

  void fill(float* x, float value, size_t n) const override;
  void copy(float* dst, const float* src, size_t n) const override;
  void gather_rows(float* out, const float* inp, const int* rows, int count, int C) const override;
  void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) const override;
  void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0,
                       int Tmax, int KVD) const override;

  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override;
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                             int OC) const override;
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                              int OC) const override;
  void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                                bool accumulate) const override;
  void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                       int N, bool accumulate) const override;
  void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                           const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                           float p, uint64_t seed, uint64_t stream) const override;
  void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid,
                            const float* dy, const float* x, const float* u, const QuantizedMatrix& w,
                            const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed,
                            uint64_t stream, bool accumulate) const override;

  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                       float eps) const override;
  void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd,
                        int N, int C) const override;
  void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) const override;
  void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) const override;
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                         int B, int T, int NH, int NKV, int HD) const override;
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                          const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                          int NKV, int HD, bool accumulate) const override;
  void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                        int HD) const override;
  void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const override;
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N,
                       int F, bool accumulate) const override;
  void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) const override;
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                       uint64_t stream) const override;
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                        uint64_t stream) const override;
  void add_inplace(float* x, const float* y, size_t n) const override;
  void scale_inplace(float* x, float s, size_t n) const override;

  void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                             int V) const override;
  void cross_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dloss, int N,
                              int V) const override;
  void classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits, const float* hidden,
                                   const float* head, const int* targets, const float* dloss, int N, int C,
                                   int V) const override;
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const override;
  void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                         int N, int V) const override;
  void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                            int V) const override;
  void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T,
                          int C) const override;
  void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden,
                           const int* last, const float* head, int B, int T, int C) const override;
  void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N,
                          int C) const override;
  void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                           int N, int C) const override;

  void sum_squares(float* out, const float* x, size_t n) const override;
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t) const override;
  void allreduce_sum(const dist::Comm& comm, float* x, size_t n) const override;

};

std::unique_ptr<Backend> make_cpu_f32_backend();

// One shared instance, for code that has no chosen backend (tools, tests).
const Backend& cpu_f32_backend();

}  // namespace loom
