// The table of op cases that drives both backends: test_ops.cpp checks every case on the CPU
// (finite-difference gradients, double-precision references) and gpu_test_ops.cpp runs the
// same cases through the CUDA twins and compares them with the CPU. A case names its op
// family (the header in src/ops), its parameters, how to make its tensors, and its forward
// (and backward) as calls on an OpBackend, so one description serves both backends.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

namespace loom::test {

// Every op as a virtual call (the loom::cpu signatures); pointers are host pointers for
// CpuOps and device pointers for the CUDA backend of gpu_test_ops.cpp.
class OpBackend {
 public:
  virtual ~OpBackend() = default;
  virtual void matmul_forward(float* out, const float* inp, const float* weight, int N, int C,
                              int OC, bool accumulate) const = 0;
  virtual void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N,
                                     int C, int OC) const = 0;
  virtual void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N,
                                      int C, int OC) const = 0;
  virtual void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                               int N, int C, float eps) const = 0;
  virtual void rmsnorm_backward(float* dinp, const float* dout, const float* inp,
                                const float* weight, const float* rstd, int N, int C) const = 0;
  virtual void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H,
                            int HD) const = 0;
  virtual void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H,
                             int HD) const = 0;
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k,
                                 const float* v, const int* doc, int B, int T, int NH, int NKV,
                                 int HD) const = 0;
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout,
                                  const float* q, const float* k, const float* v, const float* out,
                                  const float* lse, const int* doc, int B, int T, int NH, int NKV,
                                  int HD) const = 0;
  virtual void attention_decode(float* out, const float* q, const float* k_cache,
                                const float* v_cache, const int* key_begin, const int* key_end,
                                int B, int Tmax, int NH, int NKV, int HD) const = 0;
  virtual void swiglu_forward(float* out, const float* gate, const float* up, int N,
                              int F) const = 0;
  virtual void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                               const float* up, int N, int F) const = 0;
  virtual void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C,
                                 int V) const = 0;
  virtual void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                                     int V) const = 0;
  virtual void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                                      const float* dloss, int N, int V) const = 0;
  virtual void token_logprobs(float* logprobs, const float* logits, const int* targets, int N,
                              int V) const = 0;
  virtual void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                               uint64_t stream) const = 0;
  virtual void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                                uint64_t stream) const = 0;
  virtual void add_inplace(float* x, const float* y, size_t n) const = 0;
  virtual void scale_inplace(float* x, float s, size_t n) const = 0;
  virtual void sum_squares(float* out, const float* x, size_t n) const = 0;
  virtual void adamw_update(float* params, float* m, float* v, const float* grads, size_t n,
                            float lr, float beta1, float beta2, float eps, float weight_decay,
                            int t) const = 0;
  // dst (n) = src (n), on the backend's memory.
  virtual void copy(float* dst, const float* src, size_t n) const = 0;
};

class CpuOps final : public OpBackend {
 public:
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    cpu::matmul_forward(out, inp, weight, N, C, OC, accumulate);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                             int OC) const override {
    cpu::matmul_backward_input(dinp, dout, weight, N, C, OC);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                              int OC) const override {
    cpu::matmul_backward_weight(dweight, dout, inp, N, C, OC);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                       float eps) const override {
    cpu::rmsnorm_forward(out, rstd, inp, weight, N, C, eps);
  }
  void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                        const float* rstd, int N, int C) const override {
    cpu::rmsnorm_backward(dinp, dout, inp, weight, rstd, N, C);
  }
  void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H,
                    int HD) const override {
    cpu::rope_forward(x, pos, inv_freq, N, H, HD);
  }
  void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H,
                     int HD) const override {
    cpu::rope_backward(dx, pos, inv_freq, N, H, HD);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const int* doc, int B, int T, int NH, int NKV, int HD) const override {
    cpu::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                          const float* k, const float* v, const float* out, const float* lse,
                          const int* doc, int B, int T, int NH, int NKV, int HD) const override {
    cpu::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD);
  }
  void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                        int HD) const override {
    cpu::attention_decode(out, q, k_cache, v_cache, key_begin, key_end, B, Tmax, NH, NKV, HD);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, int N, int F) const override {
    cpu::swiglu_forward(out, gate, up, N, F);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                       const float* up, int N, int F) const override {
    cpu::swiglu_backward(dgate, dup, dout, gate, up, N, F);
  }
  void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C,
                         int V) const override {
    cpu::embedding_forward(out, tokens, wte, N, C, V);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N,
                             int V) const override {
    cpu::cross_entropy_forward(losses, logits, targets, N, V);
  }
  void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                              const float* dloss, int N, int V) const override {
    cpu::cross_entropy_backward(dlogits, logits, targets, dloss, N, V);
  }
  void token_logprobs(float* logprobs, const float* logits, const int* targets, int N,
                      int V) const override {
    cpu::token_logprobs(logprobs, logits, targets, N, V);
  }
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed,
                       uint64_t stream) const override {
    cpu::dropout_forward(out, inp, n, p, seed, stream);
  }
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed,
                        uint64_t stream) const override {
    cpu::dropout_backward(dinp, dout, n, p, seed, stream);
  }
  void add_inplace(float* x, const float* y, size_t n) const override { cpu::add_inplace(x, y, n); }
  void scale_inplace(float* x, float s, size_t n) const override { cpu::scale_inplace(x, s, n); }
  void sum_squares(float* out, const float* x, size_t n) const override {
    cpu::sum_squares(out, x, n);
  }
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int t) const override {
    cpu::adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t);
  }
  void copy(float* dst, const float* src, size_t n) const override {
    std::memcpy(dst, src, n * sizeof(float));
  }
};

// kInput: random, never written. kOutput: overwritten by the op; made NaN so that an element
// the op fails to write shows. kInOut: random, then updated (gradients that backward adds
// into, in-place ops).
enum class Role { kInput, kOutput, kInOut };

struct F32Tensor {
  Role role = Role::kInput;
  std::vector<float> data;
};

// A case's host tensors by name; int tensors are always inputs.
struct Tensors {
  std::map<std::string, F32Tensor> f32;
  std::map<std::string, std::vector<int>> i32;
};

// The same names, pointing at one backend's copies of the tensors.
struct Pointers {
  std::map<std::string, float*> f32;
  std::map<std::string, int*> i32;

  float* f(const std::string& name) const {
    const auto it = f32.find(name);
    LOOM_REQUIRE(it != f32.end(), "op case: no f32 tensor named ", name);
    return it->second;
  }
  const int* i(const std::string& name) const {
    const auto it = i32.find(name);
    LOOM_REQUIRE(it != i32.end(), "op case: no int tensor named ", name);
    return it->second;
  }
  // Null when the case has no such tensor (optional inputs such as the doc mask).
  const int* i_or_null(const std::string& name) const {
    const auto it = i32.find(name);
    return it == i32.end() ? nullptr : it->second;
  }
};

inline Pointers host_pointers(Tensors& tensors) {
  Pointers p;
  for (auto& [name, t] : tensors.f32) p.f32[name] = t.data.data();
  for (auto& [name, t] : tensors.i32) p.i32[name] = t.data();
  return p;
}

using OpCall = std::function<void(const OpBackend&, const Pointers&)>;

struct OpCase {
  std::string family;  // the header in src/ops it exercises, e.g. "attention"
  std::string op;      // what it runs, e.g. "attention" or "attention_decode"
  std::vector<std::pair<std::string, double>> params;  // shape letters and scalars, in order
  std::function<Tensors(uint64_t seed)> make_tensors;
  OpCall forward;
  OpCall backward;  // empty for ops without a backward
  // loss = sum over terms of <forward output, upstream gradient>: what backward differentiates.
  std::vector<std::pair<std::string, std::string>> loss_terms;
  // {input, its gradient}: backward's results, checked against finite differences.
  std::vector<std::pair<std::string, std::string>> gradients;

  double param(const std::string& name) const {
    for (const auto& [key, value] : params)
      if (key == name) return value;
    LOOM_FAIL("op case ", op, ": no parameter ", name);
  }
  int dim(const std::string& name) const { return static_cast<int>(param(name)); }

  std::string name() const {
    std::ostringstream os;
    os << op;
    for (const auto& [key, value] : params) os << " " << key << "=" << value;
    return os.str();
  }
};

// Builds a case's tensors from one seed, each tensor with its own random stream.
class TensorMaker {
 public:
  explicit TensorMaker(uint64_t seed) : rng_(seed) {}

  TensorMaker& input(const std::string& name, size_t n, float lo = -1.0f, float hi = 1.0f) {
    return add(name, Role::kInput, n, lo, hi);
  }
  TensorMaker& inout(const std::string& name, size_t n, float lo = -1.0f, float hi = 1.0f) {
    return add(name, Role::kInOut, n, lo, hi);
  }
  TensorMaker& output(const std::string& name, size_t n) {
    tensors_.f32[name] = {Role::kOutput,
                          std::vector<float>(n, std::numeric_limits<float>::quiet_NaN())};
    return *this;
  }
  TensorMaker& fixed(const std::string& name, std::vector<float> data) {
    tensors_.f32[name] = {Role::kInput, std::move(data)};
    return *this;
  }
  TensorMaker& ints(const std::string& name, std::vector<int> data) {
    tensors_.i32[name] = std::move(data);
    return *this;
  }
  Rng& rng() { return rng_; }
  Tensors take() { return std::move(tensors_); }

 private:
  TensorMaker& add(const std::string& name, Role role, size_t n, float lo, float hi) {
    std::vector<float> data(n);
    for (float& x : data) x = lo + (hi - lo) * rng_.uniform();
    tensors_.f32[name] = {role, std::move(data)};
    return *this;
  }

  Rng rng_;
  Tensors tensors_;
};

// ---- one builder per op ---------------------------------------------------------------------

inline OpCase matmul_case(int N, int C, int OC, bool accumulate) {
  OpCase c;
  c.family = "matmul";
  c.op = "matmul";
  c.params = {{"N", N}, {"C", C}, {"OC", OC}, {"accumulate", accumulate}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.input("inp", size_t(N) * C).input("weight", size_t(OC) * C).input("dout", size_t(N) * OC);
    if (accumulate)
      m.inout("out", size_t(N) * OC);
    else
      m.output("out", size_t(N) * OC);
    return m.inout("dinp", size_t(N) * C).inout("dweight", size_t(OC) * C).take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.matmul_forward(p.f("out"), p.f("inp"), p.f("weight"), N, C, OC, accumulate);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    ops.matmul_backward_input(p.f("dinp"), p.f("dout"), p.f("weight"), N, C, OC);
    ops.matmul_backward_weight(p.f("dweight"), p.f("dout"), p.f("inp"), N, C, OC);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}, {"weight", "dweight"}};
  return c;
}

inline OpCase rmsnorm_case(int N, int C, float eps) {
  OpCase c;
  c.family = "rmsnorm";
  c.op = "rmsnorm";
  c.params = {{"N", N}, {"C", C}, {"eps", eps}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed)
        .input("inp", size_t(N) * C, -2.0f, 2.0f)
        .input("weight", C, 0.5f, 1.5f)
        .input("dout", size_t(N) * C)
        .output("out", size_t(N) * C)
        .output("rstd", N)
        .inout("dinp", size_t(N) * C)
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.rmsnorm_forward(p.f("out"), p.f("rstd"), p.f("inp"), p.f("weight"), N, C, eps);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    ops.rmsnorm_backward(p.f("dinp"), p.f("dout"), p.f("inp"), p.f("weight"), p.f("rstd"), N, C);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

// The in-place rotation runs on a copy: y = rope(x), dx = rope_backward(dy).
inline OpCase rope_case(int N, int H, int HD, float theta, bool llama3_scaling, int max_pos) {
  OpCase c;
  c.family = "rope";
  c.op = "rope";
  c.params = {{"N", N},
              {"H", H},
              {"HD", HD},
              {"theta", theta},
              {"llama3", llama3_scaling},
              {"max_pos", max_pos}};
  c.make_tensors = [=](uint64_t seed) {
    RopeScaling scaling;
    scaling.enabled = llama3_scaling;
    std::vector<float> inv_freq(HD / 2);
    cpu::rope_inv_freq(inv_freq.data(), HD, theta, scaling);
    TensorMaker m(seed);
    std::vector<int> pos(N);
    for (int& p : pos) p = static_cast<int>(m.rng().below(max_pos + 1));
    const size_t n = size_t(N) * H * HD;
    return m.input("x", n)
        .input("dy", n)
        .output("y", n)
        .output("dx", n)
        .fixed("inv_freq", std::move(inv_freq))
        .ints("pos", std::move(pos))
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.copy(p.f("y"), p.f("x"), size_t(N) * H * HD);
    ops.rope_forward(p.f("y"), p.i("pos"), p.f("inv_freq"), N, H, HD);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    ops.copy(p.f("dx"), p.f("dy"), size_t(N) * H * HD);
    ops.rope_backward(p.f("dx"), p.i("pos"), p.f("inv_freq"), N, H, HD);
  };
  c.loss_terms = {{"y", "dy"}};
  c.gradients = {{"x", "dx"}};
  return c;
}

// Document ids for packed rows: a new document starts at random positions (so some rows can
// attend only to themselves), and odd rows end in padding with a doc id of its own (-1).
inline std::vector<int> random_doc_ids(Rng& rng, int B, int T) {
  std::vector<int> doc(size_t(B) * T);
  for (int b = 0; b < B; ++b) {
    int id = 0;
    const int pad_from = b % 2 == 1 ? T - T / 4 : T;
    for (int t = 0; t < T; ++t) {
      if (t > 0 && rng.uniform() < 0.25f) ++id;
      doc[size_t(b) * T + t] = t >= pad_from ? -1 : id;
    }
  }
  return doc;
}

inline OpCase attention_case(int B, int T, int NH, int NKV, int HD, bool doc_mask) {
  OpCase c;
  c.family = "attention";
  c.op = "attention";
  c.params = {{"B", B}, {"T", T}, {"NH", NH}, {"NKV", NKV}, {"HD", HD}, {"doc", doc_mask}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    const size_t nq = size_t(B) * T * NH * HD, nkv = size_t(B) * T * NKV * HD;
    m.input("q", nq, -2.0f, 2.0f).input("k", nkv, -2.0f, 2.0f).input("v", nkv).input("dout", nq);
    m.output("out", nq).output("lse", size_t(B) * NH * T);
    m.inout("dq", nq).inout("dk", nkv).inout("dv", nkv);
    if (doc_mask) m.ints("doc", random_doc_ids(m.rng(), B, T));
    return m.take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.attention_forward(p.f("out"), p.f("lse"), p.f("q"), p.f("k"), p.f("v"), p.i_or_null("doc"),
                          B, T, NH, NKV, HD);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    ops.attention_backward(p.f("dq"), p.f("dk"), p.f("dv"), p.f("dout"), p.f("q"), p.f("k"),
                           p.f("v"), p.f("out"), p.f("lse"), p.i_or_null("doc"), B, T, NH, NKV, HD);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"q", "dq"}, {"k", "dk"}, {"v", "dv"}};
  return c;
}

// Key ranges [begin, end) per sequence: left padding before begin, and sequence 2 (if any)
// empty.
inline OpCase attention_decode_case(int B, int Tmax, int NH, int NKV, int HD) {
  OpCase c;
  c.family = "attention";
  c.op = "attention_decode";
  c.params = {{"B", B}, {"Tmax", Tmax}, {"NH", NH}, {"NKV", NKV}, {"HD", HD}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    std::vector<int> begin(B), end(B);
    for (int b = 0; b < B; ++b) {
      begin[b] = static_cast<int>(m.rng().below(Tmax / 2 + 1));
      end[b] = b == 2 ? begin[b] : begin[b] + 1 + static_cast<int>(m.rng().below(Tmax - begin[b]));
    }
    const size_t ncache = size_t(B) * Tmax * NKV * HD;
    return m.input("q", size_t(B) * NH * HD, -2.0f, 2.0f)
        .input("k_cache", ncache, -2.0f, 2.0f)
        .input("v_cache", ncache)
        .output("out", size_t(B) * NH * HD)
        .ints("key_begin", std::move(begin))
        .ints("key_end", std::move(end))
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.attention_decode(p.f("out"), p.f("q"), p.f("k_cache"), p.f("v_cache"), p.i("key_begin"),
                         p.i("key_end"), B, Tmax, NH, NKV, HD);
  };
  return c;
}

inline OpCase swiglu_case(int N, int F) {
  OpCase c;
  c.family = "swiglu";
  c.op = "swiglu";
  c.params = {{"N", N}, {"F", F}};
  c.make_tensors = [=](uint64_t seed) {
    const size_t n = size_t(N) * F;
    return TensorMaker(seed)
        .input("gate", n, -5.0f, 5.0f)
        .input("up", n, -2.0f, 2.0f)
        .input("dout", n)
        .output("out", n)
        .inout("dgate", n)
        .inout("dup", n)
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.swiglu_forward(p.f("out"), p.f("gate"), p.f("up"), N, F);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    ops.swiglu_backward(p.f("dgate"), p.f("dup"), p.f("dout"), p.f("gate"), p.f("up"), N, F);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"gate", "dgate"}, {"up", "dup"}};
  return c;
}

inline OpCase embedding_case(int N, int C, int V) {
  OpCase c;
  c.family = "embedding";
  c.op = "embedding";
  c.params = {{"N", N}, {"C", C}, {"V", V}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    std::vector<int> tokens(N);
    for (int n = 0; n < N; ++n)  // the first and last ids, then random ones
      tokens[n] = n == 0 ? 0 : n == 1 ? V - 1 : static_cast<int>(m.rng().below(V));
    return m.input("wte", size_t(V) * C)
        .output("out", size_t(N) * C)
        .ints("tokens", std::move(tokens))
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.embedding_forward(p.f("out"), p.i("tokens"), p.f("wte"), N, C, V);
  };
  return c;
}

// Targets in [0, V) with every `ignore_every`-th row set to -100 (HF's ignore index).
inline std::vector<int> random_targets(Rng& rng, int N, int V, int ignore_every) {
  std::vector<int> targets(N);
  for (int n = 0; n < N; ++n)
    targets[n] = ignore_every > 0 && n % ignore_every == ignore_every - 1
                     ? -100
                     : static_cast<int>(rng.below(V));
  return targets;
}

// With in_place, the gradient overwrites a copy of the logits (dlogits aliases logits).
inline OpCase cross_entropy_case(int N, int V, int ignore_every, bool in_place) {
  OpCase c;
  c.family = "cross_entropy";
  c.op = "cross_entropy";
  c.params = {{"N", N}, {"V", V}, {"ignore_every", ignore_every}, {"in_place", in_place}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, ignore_every));
    return m.input("logits", size_t(N) * V, -6.0f, 6.0f)
        .input("dloss", N, 0.5f, 1.5f)
        .output("losses", N)
        .output("dlogits", size_t(N) * V)
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.cross_entropy_forward(p.f("losses"), p.f("logits"), p.i("targets"), N, V);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& p) {
    if (in_place) {
      ops.copy(p.f("dlogits"), p.f("logits"), size_t(N) * V);
      ops.cross_entropy_backward(p.f("dlogits"), p.f("dlogits"), p.i("targets"), p.f("dloss"), N,
                                 V);
    } else {
      ops.cross_entropy_backward(p.f("dlogits"), p.f("logits"), p.i("targets"), p.f("dloss"), N, V);
    }
  };
  c.loss_terms = {{"losses", "dloss"}};
  c.gradients = {{"logits", "dlogits"}};
  return c;
}

inline OpCase token_logprobs_case(int N, int V, int ignore_every) {
  OpCase c;
  c.family = "cross_entropy";
  c.op = "token_logprobs";
  c.params = {{"N", N}, {"V", V}, {"ignore_every", ignore_every}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, ignore_every));
    return m.input("logits", size_t(N) * V, -6.0f, 6.0f).output("logprobs", N).take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.token_logprobs(p.f("logprobs"), p.f("logits"), p.i("targets"), N, V);
  };
  return c;
}

inline OpCase dropout_case(size_t n, float p, uint64_t mask_seed, uint64_t mask_stream) {
  OpCase c;
  c.family = "dropout";
  c.op = "dropout";
  c.params = {
      {"n", double(n)}, {"p", p}, {"seed", double(mask_seed)}, {"stream", double(mask_stream)}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed)
        .input("inp", n)
        .input("dout", n)
        .output("out", n)
        .inout("dinp", n)
        .take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& t) {
    ops.dropout_forward(t.f("out"), t.f("inp"), n, p, mask_seed, mask_stream);
  };
  c.backward = [=](const OpBackend& ops, const Pointers& t) {
    ops.dropout_backward(t.f("dinp"), t.f("dout"), n, p, mask_seed, mask_stream);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

inline OpCase add_inplace_case(size_t n) {
  OpCase c;
  c.family = "elementwise";
  c.op = "add_inplace";
  c.params = {{"n", double(n)}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed).inout("x", n).input("y", n).take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.add_inplace(p.f("x"), p.f("y"), n);
  };
  return c;
}

inline OpCase scale_inplace_case(size_t n, float s) {
  OpCase c;
  c.family = "elementwise";
  c.op = "scale_inplace";
  c.params = {{"n", double(n)}, {"s", s}};
  c.make_tensors = [=](uint64_t seed) { return TensorMaker(seed).inout("x", n).take(); };
  c.forward = [=](const OpBackend& ops, const Pointers& p) { ops.scale_inplace(p.f("x"), s, n); };
  return c;
}

inline OpCase sum_squares_case(size_t n) {
  OpCase c;
  c.family = "elementwise";
  c.op = "sum_squares";
  c.params = {{"n", double(n)}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed).input("x", n, -3.0f, 3.0f).output("out", 1).take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.sum_squares(p.f("out"), p.f("x"), n);
  };
  return c;
}

// fresh: the first step from zero moments; otherwise moments as after some training.
inline OpCase adamw_case(size_t n, float lr, float weight_decay, int t, bool fresh) {
  OpCase c;
  c.family = "adamw";
  c.op = "adamw";
  c.params = {{"n", double(n)}, {"lr", lr},     {"wd", weight_decay}, {"t", t},
              {"fresh", fresh}, {"beta1", 0.9}, {"beta2", 0.999},     {"eps", 1e-8}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.inout("params", n).input("grads", n, -0.1f, 0.1f);
    if (fresh)
      m.inout("m", n, 0.0f, 0.0f).inout("v", n, 0.0f, 0.0f);
    else
      m.inout("m", n, -0.01f, 0.01f).inout("v", n, 0.0f, 1e-4f);
    return m.take();
  };
  c.forward = [=](const OpBackend& ops, const Pointers& p) {
    ops.adamw_update(p.f("params"), p.f("m"), p.f("v"), p.f("grads"), n, lr, 0.9f, 0.999f, 1e-8f,
                     weight_decay, t);
  };
  return c;
}

// ---- the table ------------------------------------------------------------------------------

// Odd sizes, T not a multiple of any tile (1, 7, 33, 65), GQA ratios 1, 2, 4 and MQA, doc
// masks with padding, ignored targets, aliasing, llama3 RoPE scaling.
inline const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      matmul_case(7, 13, 5, false),
      matmul_case(33, 64, 17, true),
      matmul_case(1, 9, 130, false),
      rmsnorm_case(5, 37, 1e-5f),
      rmsnorm_case(3, 300, 1e-6f),
      rope_case(7, 3, 8, 10000.0f, false, 64),
      rope_case(5, 2, 128, 500000.0f, true, 9000),
      rope_case(33, 1, 64, 10000.0f, false, 4096),
      attention_case(1, 1, 2, 2, 8, false),
      attention_case(2, 7, 4, 2, 8, true),
      attention_case(1, 33, 4, 4, 16, false),
      attention_case(2, 33, 4, 1, 12, true),
      attention_case(1, 65, 8, 2, 32, true),
      attention_case(1, 65, 4, 1, 128, false),
      attention_case(2, 17, 4, 4, 256, true),
      attention_decode_case(3, 9, 4, 2, 8),
      attention_decode_case(4, 70, 8, 1, 64),
      attention_decode_case(2, 40, 4, 4, 128),
      swiglu_case(5, 11),
      swiglu_case(33, 130),
      embedding_case(9, 7, 11),
      embedding_case(40, 64, 1000),
      cross_entropy_case(7, 11, 3, false),
      cross_entropy_case(5, 1000, 2, true),
      cross_entropy_case(3, 32000, 0, false),
      token_logprobs_case(9, 13, 4),
      token_logprobs_case(4, 32000, 3),
      dropout_case(1000, 0.0f, 7, 0),
      dropout_case(1003, 0.1f, 7, 3),
      dropout_case(4099, 0.5f, 11, 1),
      add_inplace_case(1001),
      scale_inplace_case(777, -0.37f),
      sum_squares_case(1),
      sum_squares_case(100003),
      adamw_case(1000, 1e-3f, 0.01f, 1, true),
      adamw_case(777, 2e-5f, 0.0f, 5, false),
      adamw_case(1001, 1e-2f, 0.1f, 1000, false),
  };
  return cases;
}

// The op families of src/ops, one header each.
inline const std::vector<std::string>& op_families() {
  static const std::vector<std::string> families = {
      "adamw",     "attention", "cross_entropy", "dropout", "elementwise",
      "embedding", "matmul",    "rmsnorm",       "rope",    "swiglu"};
  return families;
}

}  // namespace loom::test
