#include "backend/cpu_f32.h"

#include <cstring>

#include "dist/comm.h"
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/copy.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/heads.h"
#include "ops/log_softmax.h"
#include "ops/lora_linear.h"
#include "ops/matmul.h"
#include "ops/quantized_matmul.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

namespace loom {

const char* CpuF32Backend::name() const { return "cpu-f32"; }

const ArenaAllocator& CpuF32Backend::allocator() const { return host_allocator(); }
void CpuF32Backend::upload(void* dst, const void* src, size_t bytes) const { std::memcpy(dst, src, bytes); }
void CpuF32Backend::download(void* dst, const void* src, size_t bytes) const { std::memcpy(dst, src, bytes); }
void CpuF32Backend::synchronize() const {}

void CpuF32Backend::fill(float* x, float value, size_t n) const { cpu::fill(x, value, n); }
void CpuF32Backend::copy(float* dst, const float* src, size_t n) const { cpu::copy(dst, src, n); }
void CpuF32Backend::gather_rows(float* out, const float* inp, const int* rows, int count, int C) const {
  cpu::gather_rows(out, inp, rows, count, C);
}
void CpuF32Backend::scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) const {
  cpu::scatter_add_rows(out, inp, rows, count, C);
}
void CpuF32Backend::kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T,
                                    int t0, int Tmax, int KVD) const {
  cpu::kv_cache_append(k_cache, v_cache, k, v, B, T, t0, Tmax, KVD);
}

void CpuF32Backend::matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                                   bool accumulate) const {
  cpu::matmul_forward(out, inp, weight, N, C, OC, accumulate);
}
void CpuF32Backend::matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                                          int OC) const {
  cpu::matmul_backward_input(dinp, dout, weight, N, C, OC);
}
void CpuF32Backend::matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                                           int OC) const {
  cpu::matmul_backward_weight(dweight, dout, inp, N, C, OC);
}
void CpuF32Backend::quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w,
                                             int N, bool accumulate) const {
  cpu::quantized_matmul_forward(out, workspace, inp, w, N, accumulate);
}
void CpuF32Backend::quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout,
                                                    const QuantizedMatrix& w, int N, bool accumulate) const {
  cpu::quantized_matmul_backward_input(dinp, workspace, dout, w, N, accumulate);
}
void CpuF32Backend::lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid,
                                        const float* x, const QuantizedMatrix& w, const float* a, const float* b,
                                        int N, int R, float scale, float p, uint64_t seed, uint64_t stream) const {
  cpu::lora_linear_forward(y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
}
void CpuF32Backend::lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped,
                                         float* mid, const float* dy, const float* x, const float* u,
                                         const QuantizedMatrix& w, const float* a, const float* b, int N, int R,
                                         float scale, float p, uint64_t seed, uint64_t stream, bool accumulate) const {
  cpu::lora_linear_backward(dx, da, db, workspace, dropped, mid, dy, x, u, w, a, b, N, R, scale, p, seed, stream,
                            accumulate);
}

void CpuF32Backend::rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                                    float eps) const {
  cpu::rmsnorm_forward(out, rstd, inp, weight, N, C, eps);
}
void CpuF32Backend::rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                                     const float* rstd, int N, int C) const {
  cpu::rmsnorm_backward(dinp, dout, inp, weight, rstd, N, C);
}
void CpuF32Backend::rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) const {
  cpu::rope_forward(x, pos, inv_freq, N, H, HD);
}
void CpuF32Backend::rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) const {
  cpu::rope_backward(dx, pos, inv_freq, N, H, HD);
}
void CpuF32Backend::attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                      const int* doc, int B, int T, int NH, int NKV, int HD) const {
  cpu::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
}
void CpuF32Backend::attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                       const float* k, const float* v, const float* out, const float* lse,
                                       const int* doc, int B, int T, int NH, int NKV, int HD, bool accumulate) const {
  cpu::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD, accumulate);
}
void CpuF32Backend::attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                                     const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                                     int HD) const {
  cpu::attention_decode(out, q, k_cache, v_cache, key_begin, key_end, B, Tmax, NH, NKV, HD);
}
void CpuF32Backend::swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const {
  cpu::swiglu_forward(out, gate, up, N, F);
}
void CpuF32Backend::swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                    int N, int F, bool accumulate) const {
  cpu::swiglu_backward(dgate, dup, dout, gate, up, N, F, accumulate);
}
void CpuF32Backend::embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) const {
  cpu::embedding_forward(out, tokens, wte, N, C, V);
}
void CpuF32Backend::dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                                    uint64_t stream) const {
  cpu::dropout_forward(out, inp, n, p, seed, stream);
}
void CpuF32Backend::dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                                     uint64_t stream) const {
  cpu::dropout_backward(dinp, dout, n, p, seed, stream);
}
void CpuF32Backend::add_inplace(float* x, const float* y, size_t n) const { cpu::add_inplace(x, y, n); }
void CpuF32Backend::scale_inplace(float* x, float s, size_t n) const { cpu::scale_inplace(x, s, n); }

void CpuF32Backend::cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V) const {
  cpu::cross_entropy_forward(losses, logits, targets, N, V);
}
void CpuF32Backend::cross_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dloss,
                                           int N, int V) const {
  cpu::cross_entropy_backward(dlogits, logits, targets, dloss, N, V);
}
void CpuF32Backend::classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits,
                                                const float* hidden, const float* head, const int* targets,
                                                const float* dloss, int N, int C, int V) const {
  cpu::matmul_forward(logits, hidden, head, N, C, V, /*accumulate=*/false);
  cpu::cross_entropy_forward_backward(losses, logits, logits, targets, dloss, N, V);  // logits -> dlogits
  cpu::matmul_backward_input(dhidden, logits, head, N, C, V);
  if (dhead != nullptr) cpu::matmul_backward_weight(dhead, logits, hidden, N, C, V);
}
void CpuF32Backend::token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const {
  cpu::token_logprobs(logprobs, logits, targets, N, V);
}
void CpuF32Backend::log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits,
                                      const int* targets, int N, int V) const {
  cpu::log_softmax_stats(logprobs, entropy, log_dists, logits, targets, N, V);
}
void CpuF32Backend::log_softmax_backward(float* dlogits, const float* logits, const int* targets,
                                         const float* dlogprobs, int N, int V) const {
  cpu::log_softmax_backward(dlogits, logits, targets, dlogprobs, N, V);
}
void CpuF32Backend::score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B,
                                       int T, int C) const {
  cpu::score_head_forward(rewards, hidden, last, head, B, T, C);
}
void CpuF32Backend::score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden,
                                        const int* last, const float* head, int B, int T, int C) const {
  cpu::score_head_backward(dhidden, dhead, d_rewards, hidden, last, head, B, T, C);
}
void CpuF32Backend::value_head_forward(float* values, const float* x, const float* w, const float* bias, int N,
                                       int C) const {
  cpu::value_head_forward(values, x, w, bias, N, C);
}
void CpuF32Backend::value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x,
                                        const float* w, int N, int C) const {
  cpu::value_head_backward(dx, dw, dbias, dvalues, x, w, N, C);
}

void CpuF32Backend::sum_squares(float* out, const float* x, size_t n) const { cpu::sum_squares(out, x, n); }
void CpuF32Backend::adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                                 float beta2, float eps, float weight_decay, int t) const {
  cpu::adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t);
}
void CpuF32Backend::allreduce_sum(const dist::Comm& comm, float* x, size_t n) const {
  if (comm.world > 1) comm.allreduce_sum(x, n);
}

std::unique_ptr<Backend> make_cpu_f32_backend() { return std::make_unique<CpuF32Backend>(); }

const Backend& cpu_f32_backend() {
  static const CpuF32Backend backend;
  return backend;
}

}  // namespace loom
