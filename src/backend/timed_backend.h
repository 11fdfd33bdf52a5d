// A backend that times each call of another: `loom bench --profile` runs the model on it and
// prints where a step's time goes, op by op. Each call waits for the inner backend
// (synchronize) before its clock stops, so a GPU backend's figures are per op, not per launch.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace loom {

class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  // Forgets the times so far (e.g. those of a warm-up step).
  void reset() const { times_.clear(); }
  // One line per op, slowest first: calls, seconds, share of `elapsed_seconds`; then the time
  // outside backend calls.
  void print(std::FILE* out, double elapsed_seconds) const;

  const char* name() const override { return inner_->name(); }
  const ArenaAllocator& allocator() const override { return inner_->allocator(); }
  void upload(void* dst, const void* src, size_t bytes) const override { inner_->upload(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) const override { inner_->download(dst, src, bytes); }
  void synchronize() const override { inner_->synchronize(); }
  void begin_reused_weight(const float* weight, size_t n, uint64_t version) const override {
    const Timer timer(*this, "begin_reused_weight");
    inner_->begin_reused_weight(weight, n, version);
  }
  void end_reused_weight(const float* weight) const override { inner_->end_reused_weight(weight); }

  void fill(float* x, float value, size_t n) const override {
    const Timer timer(*this, "fill");
    inner_->fill(x, value, n);
  }
  void copy(float* dst, const float* src, size_t n) const override {
    const Timer timer(*this, "copy");
    inner_->copy(dst, src, n);
  }
  void gather_rows(float* out, const float* inp, const int* rows, int count, int C) const override {
    const Timer timer(*this, "gather_rows");
    inner_->gather_rows(out, inp, rows, count, C);
  }
  void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) const override {
    const Timer timer(*this, "scatter_add_rows");
    inner_->scatter_add_rows(out, inp, rows, count, C);
  }
  void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T, int t0, int Tmax, int KVD) const override {
    const Timer timer(*this, "kv_cache_append");
    inner_->kv_cache_append(k_cache, v_cache, k, v, B, T, t0, Tmax, KVD);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC, bool accumulate) const override {
    const Timer timer(*this, "matmul_forward");
    inner_->matmul_forward(out, inp, weight, N, C, OC, accumulate);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC) const override {
    const Timer timer(*this, "matmul_backward_input");
    inner_->matmul_backward_input(dinp, dout, weight, N, C, OC);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC) const override {
    const Timer timer(*this, "matmul_backward_weight");
    inner_->matmul_backward_weight(dweight, dout, inp, N, C, OC);
  }
  void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N, bool accumulate) const override {
    const Timer timer(*this, "quantized_matmul_forward");
    inner_->quantized_matmul_forward(out, workspace, inp, w, N, accumulate);
  }
  void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w, int N, bool accumulate) const override {
    const Timer timer(*this, "quantized_matmul_backward_input");
    inner_->quantized_matmul_backward_input(dinp, workspace, dout, w, N, accumulate);
  }
  void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x, const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed, uint64_t stream) const override {
    const Timer timer(*this, "lora_linear_forward");
    inner_->lora_linear_forward(y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
  }
  void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid, const float* dy, const float* x, const float* u, const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed, uint64_t stream, bool accumulate) const override {
    const Timer timer(*this, "lora_linear_backward");
    inner_->lora_linear_backward(dx, da, db, workspace, dropped, mid, dy, x, u, w, a, b, N, R, scale, p, seed, stream, accumulate);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps) const override {
    const Timer timer(*this, "rmsnorm_forward");
    inner_->rmsnorm_forward(out, rstd, inp, weight, N, C, eps);
  }
  void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd, int N, int C) const override {
    const Timer timer(*this, "rmsnorm_backward");
    inner_->rmsnorm_backward(dinp, dout, inp, weight, rstd, N, C);
  }
  void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) const override {
    const Timer timer(*this, "rope_forward");
    inner_->rope_forward(x, pos, inv_freq, N, H, HD);
  }
  void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) const override {
    const Timer timer(*this, "rope_backward");
    inner_->rope_backward(dx, pos, inv_freq, N, H, HD);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc, int B, int T, int NH, int NKV, int HD) const override {
    const Timer timer(*this, "attention_forward");
    inner_->attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH, int NKV, int HD, bool accumulate) const override {
    const Timer timer(*this, "attention_backward");
    inner_->attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD, accumulate);
  }
  void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache, const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV, int HD) const override {
    const Timer timer(*this, "attention_decode");
    inner_->attention_decode(out, q, k_cache, v_cache, key_begin, key_end, B, Tmax, NH, NKV, HD);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const override {
    const Timer timer(*this, "swiglu_forward");
    inner_->swiglu_forward(out, gate, up, N, F);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N, int F, bool accumulate) const override {
    const Timer timer(*this, "swiglu_backward");
    inner_->swiglu_backward(dgate, dup, dout, gate, up, N, F, accumulate);
  }
  void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) const override {
    const Timer timer(*this, "embedding_forward");
    inner_->embedding_forward(out, tokens, wte, N, C, V);
  }
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed, uint64_t stream) const override {
    const Timer timer(*this, "dropout_forward");
    inner_->dropout_forward(out, inp, n, p, seed, stream);
  }
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed, uint64_t stream) const override {
    const Timer timer(*this, "dropout_backward");
    inner_->dropout_backward(dinp, dout, n, p, seed, stream);
  }
  void add_inplace(float* x, const float* y, size_t n) const override {
    const Timer timer(*this, "add_inplace");
    inner_->add_inplace(x, y, n);
  }
  void scale_inplace(float* x, float s, size_t n) const override {
    const Timer timer(*this, "scale_inplace");
    inner_->scale_inplace(x, s, n);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V) const override {
    const Timer timer(*this, "cross_entropy_forward");
    inner_->cross_entropy_forward(losses, logits, targets, N, V);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dloss, int N, int V) const override {
    const Timer timer(*this, "cross_entropy_backward");
    inner_->cross_entropy_backward(dlogits, logits, targets, dloss, N, V);
  }
  void classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits, const float* hidden,
                                   const float* head, const int* targets, const float* dloss, int N, int C,
                                   int V) const override {
    const Timer timer(*this, "classifier_forward_backward");
    inner_->classifier_forward_backward(losses, dhidden, dhead, logits, hidden, head, targets, dloss, N, C, V);
  }
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const override {
    const Timer timer(*this, "token_logprobs");
    inner_->token_logprobs(logprobs, logits, targets, N, V);
  }
  void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets, int N, int V) const override {
    const Timer timer(*this, "log_softmax_stats");
    inner_->log_softmax_stats(logprobs, entropy, log_dists, logits, targets, N, V);
  }
  void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N, int V) const override {
    const Timer timer(*this, "log_softmax_backward");
    inner_->log_softmax_backward(dlogits, logits, targets, dlogprobs, N, V);
  }
  void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T, int C) const override {
    const Timer timer(*this, "score_head_forward");
    inner_->score_head_forward(rewards, hidden, last, head, B, T, C);
  }
  void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last, const float* head, int B, int T, int C) const override {
    const Timer timer(*this, "score_head_backward");
    inner_->score_head_backward(dhidden, dhead, d_rewards, hidden, last, head, B, T, C);
  }
  void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N, int C) const override {
    const Timer timer(*this, "value_head_forward");
    inner_->value_head_forward(values, x, w, bias, N, C);
  }
  void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w, int N, int C) const override {
    const Timer timer(*this, "value_head_backward");
    inner_->value_head_backward(dx, dw, dbias, dvalues, x, w, N, C);
  }
  void sum_squares(float* out, const float* x, size_t n) const override {
    const Timer timer(*this, "sum_squares");
    inner_->sum_squares(out, x, n);
  }
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int t) const override {
    const Timer timer(*this, "adamw_update");
    inner_->adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t);
  }
  void allreduce_sum(const dist::Comm& comm, float* x, size_t n) const override {
    const Timer timer(*this, "allreduce_sum");
    inner_->allreduce_sum(comm, x, n);
  }

 private:
  struct OpTime {
    long long calls = 0;
    double seconds = 0.0;
  };
  class Timer {
   public:
    Timer(const TimedBackend& owner, const char* op)
        : owner_(owner), op_(op), start_(std::chrono::steady_clock::now()) {}
    ~Timer() {
      owner_.inner_->synchronize();
      OpTime& t = owner_.times_[op_];
      t.calls += 1;
      t.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

   private:
    const TimedBackend& owner_;
    const char* op_;
    std::chrono::steady_clock::time_point start_;
  };

  std::unique_ptr<Backend> inner_;
  mutable std::map<std::string, OpTime> times_;
};

}  // namespace loom
