#include "backend/op_cases/op_cases.h"

#include <cctype>
#include <cstring>
#include <memory>

#include "core/arena.h"
#include "ops/rope.h"
#include "quant/quantized_matrix.h"

namespace loom::test {

namespace {

// ---- one builder per op ---------------------------------------------------------------------

OpCase matmul_case(int N, int C, int OC, bool accumulate) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.matmul_forward(p.f("out"), p.f("inp"), p.f("weight"), N, C, OC, accumulate);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.matmul_backward_input(p.f("dinp"), p.f("dout"), p.f("weight"), N, C, OC);
    ops.matmul_backward_weight(p.f("dweight"), p.f("dout"), p.f("inp"), N, C, OC);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}, {"weight", "dweight"}};
  return c;
}

OpCase rmsnorm_case(int N, int C, float eps) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.rmsnorm_forward(p.f("out"), p.f("rstd"), p.f("inp"), p.f("weight"), N, C, eps);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.rmsnorm_backward(p.f("dinp"), p.f("dout"), p.f("inp"), p.f("weight"), p.f("rstd"), N, C);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

// The in-place rotation runs on a copy: y = rope(x), dx = rope_backward(dy).
OpCase rope_case(int N, int H, int HD, float theta, bool llama3_scaling, int max_pos) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.copy(p.f("y"), p.f("x"), size_t(N) * H * HD);
    ops.rope_forward(p.f("y"), p.i("pos"), p.f("inv_freq"), N, H, HD);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.copy(p.f("dx"), p.f("dy"), size_t(N) * H * HD);
    ops.rope_backward(p.f("dx"), p.i("pos"), p.f("inv_freq"), N, H, HD);
  };
  c.loss_terms = {{"y", "dy"}};
  c.gradients = {{"x", "dx"}};
  return c;
}

// Document ids for packed rows: a new document starts at random positions (so some rows can
// attend only to themselves), and odd rows end in padding with a doc id of its own (-1).
std::vector<int> random_doc_ids(Rng& rng, int B, int T) {
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

// A tensor the case's op adds into (random initial values), or without accumulate overwrites
// (NaN initial values, so that an element it fails to write, or reads, shows).
TensorMaker& added_into(TensorMaker& m, const std::string& name, size_t n, bool accumulate) {
  return accumulate ? m.inout(name, n) : m.output(name, n);
}

OpCase attention_case(int B, int T, int NH, int NKV, int HD, bool doc_mask, bool accumulate) {
  OpCase c;
  c.family = "attention";
  c.op = "attention";
  c.params = {{"B", B},   {"T", T},           {"NH", NH},
              {"NKV", NKV}, {"HD", HD}, {"doc", doc_mask}, {"accumulate", accumulate}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    const size_t nq = size_t(B) * T * NH * HD, nkv = size_t(B) * T * NKV * HD;
    m.input("q", nq, -2.0f, 2.0f).input("k", nkv, -2.0f, 2.0f).input("v", nkv).input("dout", nq);
    m.output("out", nq).output("lse", size_t(B) * NH * T);
    added_into(m, "dq", nq, accumulate);
    added_into(m, "dk", nkv, accumulate);
    added_into(m, "dv", nkv, accumulate);
    if (doc_mask) m.ints("doc", random_doc_ids(m.rng(), B, T));
    return m.take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.attention_forward(p.f("out"), p.f("lse"), p.f("q"), p.f("k"), p.f("v"), p.i_or_null("doc"),
                          B, T, NH, NKV, HD);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.attention_backward(p.f("dq"), p.f("dk"), p.f("dv"), p.f("dout"), p.f("q"), p.f("k"),
                           p.f("v"), p.f("out"), p.f("lse"), p.i_or_null("doc"), B, T, NH, NKV, HD, accumulate);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"q", "dq"}, {"k", "dk"}, {"v", "dv"}};
  return c;
}

// Key ranges [begin, end) per sequence: left padding before begin, and sequence 2 (if any)
// empty.
OpCase attention_decode_case(int B, int Tmax, int NH, int NKV, int HD) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.attention_decode(p.f("out"), p.f("q"), p.f("k_cache"), p.f("v_cache"), p.i("key_begin"),
                         p.i("key_end"), B, Tmax, NH, NKV, HD);
  };
  return c;
}

OpCase swiglu_case(int N, int F, bool accumulate) {
  OpCase c;
  c.family = "swiglu";
  c.op = "swiglu";
  c.params = {{"N", N}, {"F", F}, {"accumulate", accumulate}};
  c.make_tensors = [=](uint64_t seed) {
    const size_t n = size_t(N) * F;
    TensorMaker m(seed);
    m.input("gate", n, -5.0f, 5.0f).input("up", n, -2.0f, 2.0f).input("dout", n).output("out", n);
    added_into(m, "dgate", n, accumulate);
    added_into(m, "dup", n, accumulate);
    return m.take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.swiglu_forward(p.f("out"), p.f("gate"), p.f("up"), N, F);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.swiglu_backward(p.f("dgate"), p.f("dup"), p.f("dout"), p.f("gate"), p.f("up"), N, F, accumulate);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"gate", "dgate"}, {"up", "dup"}};
  return c;
}

OpCase embedding_case(int N, int C, int V) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.embedding_forward(p.f("out"), p.i("tokens"), p.f("wte"), N, C, V);
  };
  return c;
}

// Targets in [0, V) with every `ignore_every`-th row set to -100 (HF's ignore index).
std::vector<int> random_targets(Rng& rng, int N, int V, int ignore_every) {
  std::vector<int> targets(N);
  for (int n = 0; n < N; ++n)
    targets[n] = ignore_every > 0 && n % ignore_every == ignore_every - 1
                     ? -100
                     : static_cast<int>(rng.below(V));
  return targets;
}

// With in_place, the gradient overwrites a copy of the logits (dlogits aliases logits).
// logits uniform in [-6, 6]; with spike != 0, one logit of each row, early in the row, set to
// spike: a peaked row (as a trained model's) whose exponentials overflow unless the max
// subtracted first is the row's max.
OpCase cross_entropy_case(int N, int V, int ignore_every, bool in_place, float spike = 0.0f) {
  OpCase c;
  c.family = "cross_entropy";
  c.op = "cross_entropy";
  c.params = {{"N", N}, {"V", V}, {"ignore_every", ignore_every}, {"in_place", in_place}, {"spike", spike}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, ignore_every));
    std::vector<float> logits(size_t(N) * V);
    for (float& x : logits) x = -6.0f + 12.0f * m.rng().uniform();
    if (spike != 0.0f)
      for (int n = 0; n < N; ++n) logits[size_t(n) * V + (n * 37) % std::min(V, 64)] = spike;
    return m.fixed("logits", std::move(logits))
        .input("dloss", N, 0.5f, 1.5f)
        .output("losses", N)
        .output("dlogits", size_t(N) * V)
        .take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.cross_entropy_forward(p.f("losses"), p.f("logits"), p.i("targets"), N, V);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
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

// The fused LM-head loss: its outputs are the loss and both gradients at once (no backward of
// its own), each checked against the double reference; dhidden and dhead start nonzero.
OpCase classifier_case(int N, int C, int V, int ignore_every, bool trains_head) {
  OpCase c;
  c.family = "cross_entropy";
  c.op = "classifier_forward_backward";
  c.params = {{"N", N}, {"C", C}, {"V", V}, {"ignore_every", ignore_every}, {"trains_head", trains_head}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, ignore_every));
    m.input("hidden", size_t(N) * C).input("head", size_t(V) * C).input("dloss", N, 0.5f, 1.5f);
    m.output("losses", N).inout("dhidden", size_t(N) * C).scratch("logits", size_t(N) * V);
    if (trains_head) m.inout("dhead", size_t(V) * C);
    return m.take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.classifier_forward_backward(p.f("losses"), p.f("dhidden"), trains_head ? p.f("dhead") : nullptr,
                                    p.f("logits"), p.f("hidden"), p.f("head"), p.i("targets"), p.f("dloss"), N, C, V);
  };
  return c;
}

OpCase token_logprobs_case(int N, int V, int ignore_every) {
  OpCase c;
  c.family = "cross_entropy";
  c.op = "token_logprobs";
  c.params = {{"N", N}, {"V", V}, {"ignore_every", ignore_every}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, ignore_every));
    return m.input("logits", size_t(N) * V, -6.0f, 6.0f).output("logprobs", N).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.token_logprobs(p.f("logprobs"), p.f("logits"), p.i("targets"), N, V);
  };
  return c;
}

OpCase dropout_case(size_t n, float p, uint64_t mask_seed, uint64_t mask_stream) {
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
  c.forward = [=](const Backend& ops, const Pointers& t) {
    ops.dropout_forward(t.f("out"), t.f("inp"), n, p, mask_seed, mask_stream);
  };
  c.backward = [=](const Backend& ops, const Pointers& t) {
    ops.dropout_backward(t.f("dinp"), t.f("dout"), n, p, mask_seed, mask_stream);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

OpCase add_inplace_case(size_t n) {
  OpCase c;
  c.family = "elementwise";
  c.op = "add_inplace";
  c.params = {{"n", double(n)}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed).inout("x", n).input("y", n).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.add_inplace(p.f("x"), p.f("y"), n);
  };
  return c;
}

OpCase scale_inplace_case(size_t n, float s) {
  OpCase c;
  c.family = "elementwise";
  c.op = "scale_inplace";
  c.params = {{"n", double(n)}, {"s", s}};
  c.make_tensors = [=](uint64_t seed) { return TensorMaker(seed).inout("x", n).take(); };
  c.forward = [=](const Backend& ops, const Pointers& p) { ops.scale_inplace(p.f("x"), s, n); };
  return c;
}

OpCase sum_squares_case(size_t n) {
  OpCase c;
  c.family = "elementwise";
  c.op = "sum_squares";
  c.params = {{"n", double(n)}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed).input("x", n, -3.0f, 3.0f).output("out", 1).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.sum_squares(p.f("out"), p.f("x"), n);
  };
  return c;
}

// fresh: the first step from zero moments; otherwise moments as after some training.
OpCase adamw_case(size_t n, float lr, float weight_decay, int t, bool fresh) {
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
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.adamw_update(p.f("params"), p.f("m"), p.f("v"), p.f("grads"), n, lr, 0.9f, 0.999f, 1e-8f,
                     weight_decay, t);
  };
  return c;
}


// ---- fills, copies and the KV cache (ops/copy.h) ----------------------------------------

OpCase fill_case(size_t n, float value) {
  OpCase c;
  c.family = "copy";
  c.op = "fill";
  c.params = {{"n", double(n)}, {"value", value}};
  c.make_tensors = [=](uint64_t seed) { return TensorMaker(seed).output("x", n).take(); };
  c.forward = [=](const Backend& ops, const Pointers& p) { ops.fill(p.f("x"), value, n); };
  return c;
}

OpCase copy_case(size_t n) {
  OpCase c;
  c.family = "copy";
  c.op = "copy";
  c.params = {{"n", double(n)}};
  c.make_tensors = [=](uint64_t seed) { return TensorMaker(seed).input("src", n).output("dst", n).take(); };
  c.forward = [=](const Backend& ops, const Pointers& p) { ops.copy(p.f("dst"), p.f("src"), n); };
  return c;
}

// Distinct rows of a (total, C) matrix, in random order; backward scatters the gradient back.
OpCase gather_rows_case(int count, int total, int C) {
  OpCase c;
  c.family = "copy";
  c.op = "gather_rows";
  c.params = {{"count", count}, {"total", total}, {"C", C}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    std::vector<int> all(total);
    for (int i = 0; i < total; ++i) all[i] = i;
    for (int i = total - 1; i > 0; --i) std::swap(all[i], all[m.rng().below(i + 1)]);
    all.resize(count);
    return m.input("inp", size_t(total) * C)
        .input("dout", size_t(count) * C)
        .output("out", size_t(count) * C)
        .inout("dinp", size_t(total) * C)
        .ints("rows", std::move(all))
        .take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.gather_rows(p.f("out"), p.f("inp"), p.i("rows"), count, C);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.scatter_add_rows(p.f("dinp"), p.f("dout"), p.i("rows"), count, C);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

// The cache around the appended positions must keep its contents.
OpCase kv_cache_append_case(int B, int T, int t0, int Tmax, int KVD) {
  OpCase c;
  c.family = "copy";
  c.op = "kv_cache_append";
  c.params = {{"B", B}, {"T", T}, {"t0", t0}, {"Tmax", Tmax}, {"KVD", KVD}};
  c.make_tensors = [=](uint64_t seed) {
    const size_t cache = size_t(B) * Tmax * KVD, rows = size_t(B) * T * KVD;
    return TensorMaker(seed).inout("k_cache", cache).inout("v_cache", cache).input("k", rows).input("v", rows).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.kv_cache_append(p.f("k_cache"), p.f("v_cache"), p.f("k"), p.f("v"), B, T, t0, Tmax, KVD);
  };
  return c;
}

// ---- GEMMs with a quantized frozen weight (ops/quantized_matmul.h) ----------------------

// The weight (fixed per case) is quantized once into a host arena; the case carries the
// arena's bytes as an int tensor ("qbytes"), and the forward points the matrix at the
// backend's copy of them. "weight" is the dequantized weight the reference multiplies by.
struct QuantizedWeight {
  Arena arena;
  QuantizedMatrix m;
  std::vector<float> dequantized;

  // The arena's bytes as the case's int tensor.
  std::vector<int> bytes() const {
    std::vector<int> out((arena.used() + sizeof(int) - 1) / sizeof(int));
    std::memcpy(out.data(), arena.base(), arena.used());
    return out;
  }
  // The matrix over the backend's copy of those bytes.
  QuantizedMatrix on(const Pointers& p, const std::string& name) const {
    return relocate_quantized_matrix(m, arena.base(), const_cast<int*>(p.i(name)));
  }
};

std::shared_ptr<QuantizedWeight> quantized_weight(int OC, int C, QuantMode mode) {
  auto q = std::make_shared<QuantizedWeight>();
  Rng rng(uint64_t(OC) * 1000 + C);
  std::vector<float> w(size_t(OC) * C);
  for (float& x : w) x = -0.5f + rng.uniform();
  q->arena = Arena("op case weight", quantized_matrix_bytes(mode, OC, C));
  q->m = quantize_matrix(q->arena, mode, w.data(), OC, C);
  q->dequantized.resize(w.size());
  dequantize_matrix(q->dequantized.data(), q->m);
  return q;
}

OpCase quantized_matmul_case(int N, int OC, int C, QuantMode mode, bool accumulate) {
  const auto q = quantized_weight(OC, C, mode);
  OpCase c;
  c.family = "quantized_matmul";
  c.op = "quantized_matmul";
  c.params = {{"N", N}, {"OC", OC}, {"C", C}, {"mode", double(int(mode))}, {"accumulate", accumulate}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.input("inp", size_t(N) * C).input("dout", size_t(N) * OC).fixed("weight", q->dequantized);
    added_into(m, "out", size_t(N) * OC, accumulate);
    added_into(m, "dinp", size_t(N) * C, accumulate);
    m.scratch("workspace", size_t(OC) * C);
    return m.ints("qbytes", q->bytes()).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.quantized_matmul_forward(p.f("out"), p.f("workspace"), p.f("inp"), q->on(p, "qbytes"), N, accumulate);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.quantized_matmul_backward_input(p.f("dinp"), p.f("workspace"), p.f("dout"), q->on(p, "qbytes"), N, accumulate);
  };
  c.loss_terms = {{"out", "dout"}};
  c.gradients = {{"inp", "dinp"}};
  return c;
}

// ---- a frozen linear with a LoRA adapter (ops/lora_linear.h) -------------------------------

// B as large as A (a trained adapter, not PEFT's zero init) so the LoRA path shows in y. All
// cases draw their masks from stream 3: cases that differ only in the seed or p show a mask
// kept from an earlier call where a new one was due.
OpCase lora_linear_case(int N, int OC, int C, int R, QuantMode mode, float p, uint64_t mask_seed = 5,
                        bool accumulate = true) {
  const auto q = quantized_weight(OC, C, mode);
  const float scale = 2.0f;
  const uint64_t mask_stream = 3;
  OpCase c;
  c.family = "lora_linear";
  c.op = "lora_linear";
  c.params = {{"N", N}, {"OC", OC}, {"C", C}, {"R", R}, {"mode", double(int(mode))}, {"p", p},
              {"scale", scale}, {"seed", double(mask_seed)}, {"stream", double(mask_stream)}, {"accumulate", accumulate}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.input("x", size_t(N) * C).input("a", size_t(R) * C, -0.25f, 0.25f).input("b", size_t(OC) * R, -0.25f, 0.25f);
    m.input("dy", size_t(N) * OC).fixed("weight", q->dequantized);
    m.output("y", size_t(N) * OC).output("u", size_t(N) * R);
    added_into(m, "dx", size_t(N) * C, accumulate).inout("da", size_t(R) * C).inout("db", size_t(OC) * R);
    m.scratch("workspace", size_t(OC) * C).scratch("dropped", size_t(N) * C).scratch("mid", size_t(N) * R);
    return m.ints("qbytes", q->bytes()).take();
  };
  c.forward = [=](const Backend& ops, const Pointers& t) {
    ops.lora_linear_forward(t.f("y"), t.f("u"), t.f("workspace"), t.f("dropped"), t.f("mid"), t.f("x"),
                            q->on(t, "qbytes"), t.f("a"), t.f("b"), N, R, scale, p, mask_seed, mask_stream);
  };
  c.backward = [=](const Backend& ops, const Pointers& t) {
    ops.lora_linear_backward(t.f("dx"), t.f("da"), t.f("db"), t.f("workspace"), t.f("dropped"), t.f("mid"),
                             t.f("dy"), t.f("x"), t.f("u"), q->on(t, "qbytes"), t.f("a"), t.f("b"), N, R, scale,
                             p, mask_seed, mask_stream, accumulate);
  };
  c.loss_terms = {{"y", "dy"}};
  c.gradients = {{"x", "dx"}, {"a", "da"}, {"b", "db"}};
  return c;
}

// ---- the policy's log-softmax (ops/log_softmax.h) and the heads (ops/heads.h) -----------

OpCase log_softmax_case(int N, int V, bool with_dists, bool in_place) {
  OpCase c;
  c.family = "log_softmax";
  c.op = "log_softmax";
  c.params = {{"N", N}, {"V", V}, {"dists", with_dists}, {"in_place", in_place}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    m.ints("targets", random_targets(m.rng(), N, V, 0));
    m.input("logits", size_t(N) * V, -6.0f, 6.0f).input("dlogprobs", N, -1.5f, 1.5f);
    m.output("logprobs", N).output("entropy", N).output("dlogits", size_t(N) * V);
    if (with_dists) m.output("log_dists", size_t(N) * V);
    return m.take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.log_softmax_stats(p.f("logprobs"), p.f("entropy"), with_dists ? p.f("log_dists") : nullptr, p.f("logits"),
                          p.i("targets"), N, V);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    if (in_place) {
      ops.copy(p.f("dlogits"), p.f("logits"), size_t(N) * V);
      ops.log_softmax_backward(p.f("dlogits"), p.f("dlogits"), p.i("targets"), p.f("dlogprobs"), N, V);
    } else {
      ops.log_softmax_backward(p.f("dlogits"), p.f("logits"), p.i("targets"), p.f("dlogprobs"), N, V);
    }
  };
  c.loss_terms = {{"logprobs", "dlogprobs"}};
  c.gradients = {{"logits", "dlogits"}};
  return c;
}

OpCase score_head_case(int B, int T, int C) {
  OpCase c;
  c.family = "heads";
  c.op = "score_head";
  c.params = {{"B", B}, {"T", T}, {"C", C}};
  c.make_tensors = [=](uint64_t seed) {
    TensorMaker m(seed);
    std::vector<int> last(B);
    for (int b = 0; b < B; ++b) last[b] = b == 0 ? T - 1 : int(m.rng().below(T));
    return m.input("hidden", size_t(B) * T * C, -2.0f, 2.0f)
        .input("head", C)
        .input("d_rewards", B, 0.5f, 1.5f)
        .output("rewards", B)
        .inout("dhidden", size_t(B) * T * C)
        .inout("dhead", C)
        .ints("last", std::move(last))
        .take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.score_head_forward(p.f("rewards"), p.f("hidden"), p.i("last"), p.f("head"), B, T, C);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.score_head_backward(p.f("dhidden"), p.f("dhead"), p.f("d_rewards"), p.f("hidden"), p.i("last"), p.f("head"),
                            B, T, C);
  };
  c.loss_terms = {{"rewards", "d_rewards"}};
  c.gradients = {{"hidden", "dhidden"}, {"head", "dhead"}};
  return c;
}

OpCase value_head_case(int N, int C) {
  OpCase c;
  c.family = "heads";
  c.op = "value_head";
  c.params = {{"N", N}, {"C", C}};
  c.make_tensors = [=](uint64_t seed) {
    return TensorMaker(seed)
        .input("x", size_t(N) * C, -2.0f, 2.0f)
        .input("w", C)
        .input("bias", 1)
        .input("dvalues", N)
        .output("values", N)
        .inout("dx", size_t(N) * C)
        .inout("dw", C)
        .inout("dbias", 1)
        .take();
  };
  c.forward = [=](const Backend& ops, const Pointers& p) {
    ops.value_head_forward(p.f("values"), p.f("x"), p.f("w"), p.f("bias"), N, C);
  };
  c.backward = [=](const Backend& ops, const Pointers& p) {
    ops.value_head_backward(p.f("dx"), p.f("dw"), p.f("dbias"), p.f("dvalues"), p.f("x"), p.f("w"), N, C);
  };
  c.loss_terms = {{"values", "dvalues"}};
  c.gradients = {{"x", "dx"}, {"w", "dw"}, {"bias", "dbias"}};
  return c;
}

// ---- tolerances ------------------------------------------------------------------------------

// Ops a bf16 backend may run with bf16 inputs (f32 accumulation): the bf16 rule, at most
// twice the error that rounding the inputs to bf16 causes in exact arithmetic.
OpCase bf16_inputs(OpCase c) {
  c.bf16_tolerance.rounded_input_factor = 2.0;
  c.bf16_tolerance.abs = 1e-5;
  return c;
}

// AdamW moves each value by about lr: checked on the step, not the value.
OpCase on_delta(OpCase c) {
  c.f32_tolerance = {1e-4, 1e-4, 0.0, true};
  c.bf16_tolerance = c.f32_tolerance;
  return c;
}

}  // namespace

// ---- the table ------------------------------------------------------------------------------

// Odd sizes, T not a multiple of any tile (1, 7, 33, 65), GQA ratios 1, 2, 4 and MQA, doc
// masks with padding, ignored targets, aliasing, llama3 RoPE scaling.
const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      bf16_inputs(matmul_case(7, 13, 5, false)),
      bf16_inputs(matmul_case(33, 64, 17, true)),
      bf16_inputs(matmul_case(1, 9, 130, false)),
      bf16_inputs(matmul_case(64, 576, 192, false)),
      bf16_inputs(quantized_matmul_case(7, 33, 64, QuantMode::F32, false)),
      bf16_inputs(quantized_matmul_case(5, 17, 128, QuantMode::BF16, true)),
      bf16_inputs(quantized_matmul_case(9, 40, 64, QuantMode::INT8, false)),
      bf16_inputs(quantized_matmul_case(33, 64, 192, QuantMode::NF4, false)),
      bf16_inputs(quantized_matmul_case(1, 130, 256, QuantMode::NF4, true)),
      bf16_inputs(quantized_matmul_case(6, 37, 128, QuantMode::NF4, false)),
      bf16_inputs(quantized_matmul_case(13, 21, 192, QuantMode::NF4, true)),
      bf16_inputs(lora_linear_case(7, 33, 64, 4, QuantMode::F32, 0.0f)),
      bf16_inputs(lora_linear_case(33, 70, 128, 16, QuantMode::NF4, 0.1f)),
      bf16_inputs(lora_linear_case(19, 37, 90, 8, QuantMode::INT8, 0.5f)),
      bf16_inputs(lora_linear_case(19, 37, 90, 8, QuantMode::INT8, 0.5f, 6)),
      bf16_inputs(lora_linear_case(19, 37, 90, 8, QuantMode::INT8, 0.1f, 6)),
      bf16_inputs(lora_linear_case(17, 24, 64, 3, QuantMode::BF16, 0.05f)),
      bf16_inputs(lora_linear_case(1, 130, 256, 16, QuantMode::NF4, 0.0f)),
      bf16_inputs(lora_linear_case(3, 21, 192, 8, QuantMode::NF4, 0.1f)),
      bf16_inputs(lora_linear_case(13, 40, 128, 16, QuantMode::NF4, 0.0f)),
      // dx overwritten: the fused path (dx's GEMM on packed W, row-major W), the composed path
      bf16_inputs(lora_linear_case(37, 128, 192, 16, QuantMode::NF4, 0.1f, 5, false)),
      bf16_inputs(lora_linear_case(19, 37, 90, 8, QuantMode::INT8, 0.5f, 6, false)),
      bf16_inputs(lora_linear_case(1, 130, 256, 16, QuantMode::NF4, 0.0f, 5, false)),
      rmsnorm_case(5, 37, 1e-5f),
      rmsnorm_case(3, 300, 1e-6f),
      rope_case(7, 3, 8, 10000.0f, false, 64),
      rope_case(5, 2, 128, 500000.0f, true, 9000),
      rope_case(33, 1, 64, 10000.0f, false, 4096),
      bf16_inputs(attention_case(1, 1, 2, 2, 8, false, true)),
      bf16_inputs(attention_case(2, 7, 4, 2, 8, true, true)),
      bf16_inputs(attention_case(1, 33, 4, 4, 16, false, true)),
      bf16_inputs(attention_case(2, 33, 4, 1, 12, true, true)),
      bf16_inputs(attention_case(1, 65, 8, 2, 32, true, true)),
      bf16_inputs(attention_case(1, 65, 4, 1, 128, false, true)),
      bf16_inputs(attention_case(2, 17, 4, 4, 256, true, true)),
      bf16_inputs(attention_case(2, 33, 4, 1, 12, true, false)),
      bf16_inputs(attention_case(1, 65, 8, 2, 32, false, false)),
      bf16_inputs(attention_decode_case(3, 9, 4, 2, 8)),
      bf16_inputs(attention_decode_case(4, 70, 8, 1, 64)),
      bf16_inputs(attention_decode_case(2, 40, 4, 4, 128)),
      swiglu_case(5, 11, true),
      swiglu_case(33, 130, true),
      swiglu_case(33, 130, false),
      embedding_case(9, 7, 11),
      embedding_case(40, 64, 1000),
      cross_entropy_case(7, 11, 3, false),
      cross_entropy_case(5, 1000, 2, true),
      cross_entropy_case(3, 32000, 0, false),
      cross_entropy_case(4, 5003, 0, false, 120.0f),
      bf16_inputs(classifier_case(7, 16, 11, 3, true)),
      bf16_inputs(classifier_case(33, 64, 1000, 4, false)),
      bf16_inputs(classifier_case(6, 32, 5003, 0, true)),  // dlogits in three bf16 spans of a row
      token_logprobs_case(9, 13, 4),
      token_logprobs_case(4, 32000, 3),
      dropout_case(1000, 0.0f, 7, 0),
      dropout_case(1003, 0.1f, 7, 3),
      dropout_case(4099, 0.5f, 11, 1),
      add_inplace_case(1001),
      scale_inplace_case(777, -0.37f),
      sum_squares_case(1),
      sum_squares_case(100003),
      on_delta(adamw_case(1000, 1e-3f, 0.01f, 1, true)),
      on_delta(adamw_case(777, 2e-5f, 0.0f, 5, false)),
      on_delta(adamw_case(4096, 2e-5f, 0.0f, 1, true)),
      on_delta(adamw_case(1001, 1e-2f, 0.1f, 1000, false)),
      fill_case(1001, 0.0f),
      fill_case(77, -1.25f),
      fill_case(70001, 0.0f),   // filled by the team in spans, the last one short
      fill_case(40963, 0.5f),
      copy_case(1003),
      gather_rows_case(5, 9, 7),
      gather_rows_case(32, 100, 64),
      kv_cache_append_case(3, 5, 2, 9, 16),
      kv_cache_append_case(2, 1, 6, 7, 64),
      log_softmax_case(5, 13, true, false),
      log_softmax_case(4, 1000, false, true),
      log_softmax_case(3, 32000, true, false),
      score_head_case(3, 5, 16),
      score_head_case(2, 9, 576),
      value_head_case(7, 16),
      value_head_case(33, 576),
  };
  return cases;
}

// The op families of src/ops, one header each.
const std::vector<std::string>& op_families() {
  static const std::vector<std::string> families = {
      "adamw",   "attention",   "copy",  "cross_entropy",    "dropout", "elementwise", "embedding",
      "heads",   "log_softmax", "lora_linear", "matmul", "quantized_matmul", "rmsnorm", "rope",        "swiglu"};
  return families;
}

const char* precision_name(Precision precision) { return precision == Precision::bf16 ? "bf16" : "f32"; }

std::string test_name(const OpCase& c) {
  std::string name = c.name();
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

}  // namespace loom::test
