// The compute backend: the one interface through which the model, the optimizer and the
// gradient all-reduce run their arithmetic and get their memory. `cpu-f32` (cpu_f32.h) is the
// reference: the loom::cpu ops of src/ops. Other backends (bf16 GEMMs on the CPU, CUDA) implement
// the same calls; the op table (src/backend/op_cases.h) checks each one against the references
// with the tolerances of docs/ops.md. backend_factory.h is the single place that names backends.
//
// Conventions (as src/ops/README.md): outputs first, then inputs, then sizes, then scalars;
// forward calls overwrite their outputs, backward calls ADD into their gradient outputs, except
// that the backward calls with an `accumulate` flag overwrite their input gradients without it
// (the model's first writer of a gradient buffer, which then needs no fill).
// Every pointer an op takes is backend memory: memory from an arena made with allocator()
// (host memory for CPU backends, device memory for CUDA). Host data crosses over only through
// upload / download. A backend runs its calls in the order they are made (one stream);
// download and synchronize wait for the calls before them. All calls are const: a backend may
// keep caches (e.g. weights repacked into its own layout) in mutable members.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/arena.h"
#include "quant/quantized_matrix.h"

namespace loom::dist {
struct Comm;
}

namespace loom {

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu-f32", "cpu-bf16", "cuda-bf16", ...: printed on each command's first line and logged.
  virtual const char* name() const = 0;

  // ---- memory ----------------------------------------------------------------------------
  // Where arenas of activations, caches and trainable state live (core/arena.h).
  virtual const ArenaAllocator& allocator() const = 0;
  Arena make_arena(std::string arena_name, size_t bytes) const {
    return Arena(std::move(arena_name), bytes, allocator());
  }
  // host src -> backend dst, in call order; src may be reused as soon as the call returns.
  virtual void upload(void* dst, const void* src, size_t bytes) const = 0;
  // backend src -> host dst after every earlier call; dst is valid when the call returns.
  virtual void download(void* dst, const void* src, size_t bytes) const = 0;
  // Returns when every earlier call has finished.
  virtual void synchronize() const = 0;

  // ---- fills and copies (ops/copy.h) ----------------------------------------------------
  // x (n) = value
  virtual void fill(float* x, float value, size_t n) const = 0;
  // dst (n) = src (n); they do not overlap
  virtual void copy(float* dst, const float* src, size_t n) const = 0;
  // out (count, C) = inp[rows[i]] (rows (count) index rows of inp (*, C))
  virtual void gather_rows(float* out, const float* inp, const int* rows, int count, int C) const = 0;
  // out[rows[i]] (C) += inp (i) (count, C); rows are distinct
  virtual void scatter_add_rows(float* out, const float* inp, const int* rows, int count, int C) const = 0;
  // k_cache, v_cache (B, Tmax, KVD): positions [t0, t0 + T) of row b = k, v (B, T, KVD)
  virtual void kv_cache_append(float* k_cache, float* v_cache, const float* k, const float* v, int B, int T,
                               int t0, int Tmax, int KVD) const = 0;

  // ---- GEMMs (ops/matmul.h): weights stored (OC, C) like torch.nn.Linear -----------------
  // out (N, OC) = inp (N, C) @ weight (OC, C)^T; with accumulate, out += instead.
  virtual void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                              bool accumulate) const = 0;
  // dinp (N, C) += dout (N, OC) @ weight (OC, C)
  virtual void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                                     int OC) const = 0;
  // dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
  virtual void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                                      int OC) const = 0;
  // The frozen linears: out (N, w.rows) = inp (N, w.cols) @ W^T (accumulate: +=), with W the
  // quantized weight as dequantize_matrix gives it. workspace: w.rows * w.cols floats of backend
  // memory the backend may use (e.g. to dequantize into); undefined afterwards.
  virtual void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w,
                                        int N, bool accumulate) const = 0;
  // dinp (N, w.cols) += dout (N, w.rows) @ W (without accumulate, = instead); the frozen weight
  // gets no gradient.
  virtual void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout,
                                               const QuantizedMatrix& w, int N, bool accumulate) const = 0;

  // ---- a frozen linear with a LoRA adapter (ops/lora_linear.h) -----------------------------
  // u (N, R) = dropout(x) @ A^T; y (N, OC) = x (N, C) @ W^T + scale * u @ B^T; W = w (OC, C),
  // A (R, C), B (OC, R), the dropout mask dropout_forward's. Scratch (undefined afterwards):
  // workspace (OC * C) as quantized_matmul_forward's, dropped (N, C), mid (N, R).
  virtual void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid,
                                   const float* x, const QuantizedMatrix& w, const float* a, const float* b, int N,
                                   int R, float scale, float p, uint64_t seed, uint64_t stream) const = 0;
  // du = scale * dy @ B: dx (N, C) += dy @ W + dropout'(du @ A) (without accumulate, dx = instead);
  // da (R, C) += du^T @ dropout(x); db (OC, R) += dy^T @ (scale * u). Scratch as in forward.
  virtual void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped,
                                    float* mid, const float* dy, const float* x, const float* u,
                                    const QuantizedMatrix& w, const float* a, const float* b, int N, int R,
                                    float scale, float p, uint64_t seed, uint64_t stream,
                                    bool accumulate) const = 0;

  // ---- the decoder layer (ops/rmsnorm.h, rope.h, attention.h, swiglu.h, embedding.h) -----
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                               float eps) const = 0;
  virtual void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                                const float* rstd, int N, int C) const = 0;
  virtual void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) const = 0;
  virtual void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) const = 0;
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                 const int* doc, int B, int T, int NH, int NKV, int HD) const = 0;
  // dq, dk, dv += gradients (without accumulate, = instead)
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                  const float* k, const float* v, const float* out, const float* lse,
                                  const int* doc, int B, int T, int NH, int NKV, int HD, bool accumulate) const = 0;
  virtual void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                                const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                                int HD) const = 0;
  virtual void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const = 0;
  // dgate, dup += gradients (without accumulate, = instead)
  virtual void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                               int N, int F, bool accumulate) const = 0;
  virtual void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) const = 0;
  virtual void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                               uint64_t stream) const = 0;
  virtual void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                                uint64_t stream) const = 0;
  virtual void add_inplace(float* x, const float* y, size_t n) const = 0;
  virtual void scale_inplace(float* x, float s, size_t n) const = 0;

  // ---- heads (ops/cross_entropy.h, log_softmax.h, heads.h) -------------------------------
  virtual void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                                     int V) const = 0;
  virtual void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                                      const float* dloss, int N, int V) const = 0;
  // The LM head's loss and gradients for N rows in one call (llm.c's fused classifier): logits
  // (N, V) = hidden (N, C) @ head (V, C)^T; losses as cross_entropy_forward's; with dlogits as
  // cross_entropy_backward's, dhidden (N, C) += dlogits @ head and, unless dhead is null (a
  // frozen head), dhead (V, C) += dlogits^T @ hidden. logits: (N, V) workspace, undefined
  // afterwards; a backend may hold dlogits in another precision between its GEMMs.
  virtual void classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits,
                                           const float* hidden, const float* head, const int* targets,
                                           const float* dloss, int N, int C, int V) const = 0;
  virtual void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) const = 0;
  // The policy's statistics of softmax(logits) per row; each output may be null:
  // logprobs (N) = log p[targets[n]], entropy (N) = -sum p log p, log_dists (N, V) = log p.
  virtual void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits,
                                 const int* targets, int N, int V) const = 0;
  // dlogits (N, V) = dlogprobs[n] * (onehot(targets[n]) - softmax(logits)); overwrites, may alias logits.
  virtual void log_softmax_backward(float* dlogits, const float* logits, const int* targets,
                                    const float* dlogprobs, int N, int V) const = 0;
  // rewards (B) = head (C) . hidden[b, last[b]]; hidden (B, T, C)
  virtual void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B,
                                  int T, int C) const = 0;
  // dhidden (B, T, C) += d_rewards[b] head at [b, last[b]]; dhead (C) += d_rewards[b] hidden[b, last[b]]
  virtual void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden,
                                   const int* last, const float* head, int B, int T, int C) const = 0;
  // values (N) = w (C) . x[n] + bias[0]; x (N, C)
  virtual void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N,
                                  int C) const = 0;
  // dx (N, C) += dvalues[n] w; dw (C) += sum_n dvalues[n] x[n]; dbias[0] += sum_n dvalues[n]
  virtual void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x,
                                   const float* w, int N, int C) const = 0;

  // ---- the optimizer and the gradient (ops/elementwise.h, adamw.h) -----------------------
  // out (1) = sum of x^2 (backend memory)
  virtual void sum_squares(float* out, const float* x, size_t n) const = 0;
  virtual void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                            float beta1, float beta2, float eps, float weight_decay, int t) const = 0;
  // x (n) summed in place over the ranks of comm.
  virtual void allreduce_sum(const dist::Comm& comm, float* x, size_t n) const = 0;

  // ---- weights that many GEMMs read in a row (the LM head over its row chunks, the LoRA ----
  // ---- factors over a generation) -------------------------------------------------------
  // Between begin_reused_weight and end_reused_weight, weight (n floats) does not change, and
  // matmul_* calls whose weight operand lies in [weight, weight + n) (`weight` itself, or one
  // matrix of a block such as the trainable parameters) may read a copy the backend converted
  // once (cpu-bf16: rounded to bf16). `version` names the weight's values: a backend may keep
  // the copy after end_reused_weight and reuse it at a later begin with the same weight, n and
  // version (new_weight_version(): a frozen weight's values for its whole life);
  // kUnversionedWeight makes it convert anew (a trained weight that changes between steps).
  // Scopes of different weights may nest, and one may lie inside another (a trained LM head in
  // the trainable block): a GEMM reads the innermost. A weight is in at most one scope at a time.
  virtual void begin_reused_weight(const float* weight, size_t n, uint64_t version) const {
    (void)weight, (void)n, (void)version;
  }
  virtual void end_reused_weight(const float* weight) const { (void)weight; }
};

inline constexpr uint64_t kUnversionedWeight = 0;
// A version no other weight has had in this process (never kUnversionedWeight).
uint64_t new_weight_version();

// One begin_reused_weight .. end_reused_weight scope.
class ReusedWeight {
 public:
  ReusedWeight(const Backend& backend, const float* weight, size_t n, uint64_t version)
      : backend_(backend), weight_(weight) {
    backend_.begin_reused_weight(weight, n, version);
  }
  ~ReusedWeight() { backend_.end_reused_weight(weight_); }
  ReusedWeight(const ReusedWeight&) = delete;
  ReusedWeight& operator=(const ReusedWeight&) = delete;

 private:
  const Backend& backend_;
  const float* weight_;
};

}  // namespace loom
