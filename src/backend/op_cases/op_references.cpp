// The double-precision references of the op table: naive loops, written once here, that
// every backend's forward is checked against.
#include <algorithm>
#include <cmath>
#include <map>

#include "backend/op_cases/op_cases.h"
#include "core/dtype.h"

namespace loom::test {

namespace {

using Reference = std::function<Expected(const OpCase&, const Tensors&)>;

std::vector<double> to_double(const std::vector<float>& x) { return {x.begin(), x.end()}; }

Expected reference_matmul(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C"), OC = c.dim("OC");
  const auto& inp = t.f32.at("inp").data;
  const auto& w = t.f32.at("weight").data;
  std::vector<double> out(size_t(N) * OC, 0.0);
  if (c.dim("accumulate")) out = to_double(t.f32.at("out").data);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o)
      for (int k = 0; k < C; ++k)
        out[size_t(n) * OC + o] += double(inp[size_t(n) * C + k]) * w[size_t(o) * C + k];
  return {{"out", out}};
}

Expected reference_rmsnorm(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C");
  const auto& x = t.f32.at("inp").data;
  const auto& w = t.f32.at("weight").data;
  std::vector<double> out(size_t(N) * C), rstd(N);
  for (int n = 0; n < N; ++n) {
    double ms = 0.0;
    for (int k = 0; k < C; ++k) ms += double(x[size_t(n) * C + k]) * x[size_t(n) * C + k];
    rstd[n] = 1.0 / std::sqrt(ms / C + static_cast<float>(c.param("eps")));
    for (int k = 0; k < C; ++k) out[size_t(n) * C + k] = x[size_t(n) * C + k] * rstd[n] * w[k];
  }
  return {{"out", out}, {"rstd", rstd}};
}

// HF forms the angle pos * inv_freq in f32; the rotation itself is done in double here.
Expected reference_rope(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), H = c.dim("H"), HD = c.dim("HD"), half = HD / 2;
  const auto& x = t.f32.at("x").data;
  const auto& inv_freq = t.f32.at("inv_freq").data;
  const auto& pos = t.i32.at("pos");
  std::vector<double> y(x.size());
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < half; ++i) {
        const double angle = static_cast<float>(pos[n]) * inv_freq[i];
        const size_t o = (size_t(n) * H + h) * HD;
        y[o + i] = x[o + i] * std::cos(angle) - double(x[o + i + half]) * std::sin(angle);
        y[o + i + half] = x[o + i + half] * std::cos(angle) + double(x[o + i]) * std::sin(angle);
      }
  return {{"y", y}};
}

// Softmax attention of one query row over the allowed keys; out_row (HD), returns the lse.
double attend(double* out_row, const float* q_row, const float* k, const float* v,
              const std::vector<int>& keys, size_t key_stride, int HD) {
  std::vector<double> scores;
  double max_score = -INFINITY;
  for (int j : keys) {
    double s = 0.0;
    for (int d = 0; d < HD; ++d) s += double(q_row[d]) * k[j * key_stride + d];
    scores.push_back(s / std::sqrt(double(HD)));
    max_score = std::max(max_score, scores.back());
  }
  double sum = 0.0;
  for (double s : scores) sum += std::exp(s - max_score);
  for (int d = 0; d < HD; ++d) out_row[d] = 0.0;
  for (size_t n = 0; n < keys.size(); ++n)
    for (int d = 0; d < HD; ++d)
      out_row[d] += std::exp(scores[n] - max_score) / sum * v[keys[n] * key_stride + d];
  return max_score + std::log(sum);
}

Expected reference_attention(const OpCase& c, const Tensors& t) {
  const int B = c.dim("B"), T = c.dim("T"), NH = c.dim("NH"), NKV = c.dim("NKV"), HD = c.dim("HD");
  const bool has_doc = t.i32.count("doc") > 0;
  std::vector<double> out(size_t(B) * T * NH * HD), lse(size_t(B) * NH * T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int i = 0; i < T; ++i) {
        std::vector<int> keys;
        for (int j = 0; j <= i; ++j)
          if (!has_doc || t.i32.at("doc")[b * T + j] == t.i32.at("doc")[b * T + i])
            keys.push_back(j);
        const int kvh = h / (NH / NKV);
        const size_t qo = ((size_t(b) * T + i) * NH + h) * HD;
        const size_t ko = (size_t(b) * T * NKV + kvh) * HD;
        lse[(size_t(b) * NH + h) * T + i] =
            attend(&out[qo], &t.f32.at("q").data[qo], &t.f32.at("k").data[ko],
                   &t.f32.at("v").data[ko], keys, size_t(NKV) * HD, HD);
      }
  return {{"out", out}, {"lse", lse}};
}

Expected reference_attention_decode(const OpCase& c, const Tensors& t) {
  const int B = c.dim("B"), Tmax = c.dim("Tmax"), NH = c.dim("NH"), NKV = c.dim("NKV"),
            HD = c.dim("HD");
  std::vector<double> out(size_t(B) * NH * HD, 0.0);
  for (int b = 0; b < B; ++b) {
    std::vector<int> keys;
    for (int j = t.i32.at("key_begin")[b]; j < t.i32.at("key_end")[b]; ++j) keys.push_back(j);
    if (keys.empty()) continue;
    for (int h = 0; h < NH; ++h) {
      const size_t qo = (size_t(b) * NH + h) * HD;
      const size_t ko = (size_t(b) * Tmax * NKV + h / (NH / NKV)) * HD;
      attend(&out[qo], &t.f32.at("q").data[qo], &t.f32.at("k_cache").data[ko],
             &t.f32.at("v_cache").data[ko], keys, size_t(NKV) * HD, HD);
    }
  }
  return {{"out", out}};
}

Expected reference_swiglu(const OpCase&, const Tensors& t) {
  const auto& g = t.f32.at("gate").data;
  const auto& u = t.f32.at("up").data;
  std::vector<double> out(g.size());
  for (size_t i = 0; i < g.size(); ++i) out[i] = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
  return {{"out", out}};
}

Expected reference_embedding(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C");
  std::vector<double> out(size_t(N) * C);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < C; ++k)
      out[size_t(n) * C + k] = t.f32.at("wte").data[size_t(t.i32.at("tokens")[n]) * C + k];
  return {{"out", out}};
}

// log softmax(row)[target] in double.
double log_prob(const float* row, int V, int target) {
  double max_logit = row[0], sum = 0.0;
  for (int v = 0; v < V; ++v) max_logit = std::max(max_logit, double(row[v]));
  for (int v = 0; v < V; ++v) sum += std::exp(row[v] - max_logit);
  return row[target] - max_logit - std::log(sum);
}

std::vector<double> reference_log_probs(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), V = c.dim("V");
  std::vector<double> lp(N, 0.0);
  for (int n = 0; n < N; ++n) {
    const int target = t.i32.at("targets")[n];
    if (target >= 0) lp[n] = log_prob(&t.f32.at("logits").data[size_t(n) * V], V, target);
  }
  return lp;
}

Expected reference_cross_entropy(const OpCase& c, const Tensors& t) {
  std::vector<double> losses = reference_log_probs(c, t);
  for (double& x : losses) x = -x;
  return {{"losses", losses}};
}

Expected reference_classifier(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C"), V = c.dim("V");
  const auto& hidden = t.f32.at("hidden").data;
  const auto& head = t.f32.at("head").data;
  const auto& dloss = t.f32.at("dloss").data;
  const auto& targets = t.i32.at("targets");
  std::vector<double> losses(N, 0.0), dhidden = to_double(t.f32.at("dhidden").data);
  const bool trains_head = c.dim("trains_head");
  std::vector<double> dhead = trains_head ? to_double(t.f32.at("dhead").data) : std::vector<double>();
  std::vector<double> logits(V), grad(V);
  for (int n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;  // loss 0, no gradient
    for (int v = 0; v < V; ++v) {
      logits[v] = 0.0;
      for (int k = 0; k < C; ++k) logits[v] += double(hidden[size_t(n) * C + k]) * head[size_t(v) * C + k];
    }
    const double max_logit = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(logits[v] - max_logit);
    const double lse = max_logit + std::log(sum);
    losses[n] = lse - logits[targets[n]];
    for (int v = 0; v < V; ++v) grad[v] = (std::exp(logits[v] - lse) - (v == targets[n] ? 1.0 : 0.0)) * dloss[n];
    for (int v = 0; v < V; ++v)
      for (int k = 0; k < C; ++k) {
        dhidden[size_t(n) * C + k] += grad[v] * head[size_t(v) * C + k];
        if (trains_head) dhead[size_t(v) * C + k] += grad[v] * hidden[size_t(n) * C + k];
      }
  }
  Expected out = {{"losses", losses}, {"dhidden", dhidden}};
  if (trains_head) out["dhead"] = dhead;
  return out;
}

Expected reference_token_logprobs(const OpCase& c, const Tensors& t) {
  return {{"logprobs", reference_log_probs(c, t)}};
}

Expected reference_dropout(const OpCase& c, const Tensors& t) {
  const double p = static_cast<float>(c.param("p"));
  const auto& x = t.f32.at("inp").data;
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const bool keep =
        random_uniform(uint64_t(c.param("seed")), uint64_t(c.param("stream")), i) >= p;
    out[i] = keep ? x[i] / (1.0 - p) : 0.0;
  }
  return {{"out", out}};
}

Expected reference_add_inplace(const OpCase&, const Tensors& t) {
  std::vector<double> x = to_double(t.f32.at("x").data);
  for (size_t i = 0; i < x.size(); ++i) x[i] += t.f32.at("y").data[i];
  return {{"x", x}};
}

Expected reference_scale_inplace(const OpCase& c, const Tensors& t) {
  std::vector<double> x = to_double(t.f32.at("x").data);
  for (double& v : x) v *= static_cast<float>(c.param("s"));
  return {{"x", x}};
}

Expected reference_sum_squares(const OpCase&, const Tensors& t) {
  double sum = 0.0;
  for (float v : t.f32.at("x").data) sum += double(v) * v;
  return {{"out", {sum}}};
}

// torch.optim.AdamW's step in double.
Expected reference_adamw(const OpCase& c, const Tensors& t) {
  const double lr = static_cast<float>(c.param("lr")), wd = static_cast<float>(c.param("wd"));
  const double b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const int step = c.dim("t");
  std::vector<double> p = to_double(t.f32.at("params").data), m = to_double(t.f32.at("m").data),
                      v = to_double(t.f32.at("v").data);
  for (size_t i = 0; i < p.size(); ++i) {
    const double g = t.f32.at("grads").data[i];
    p[i] *= 1.0 - lr * wd;
    m[i] = b1 * m[i] + (1.0 - b1) * g;
    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
    const double m_hat = m[i] / (1.0 - std::pow(b1, step));
    const double v_hat = v[i] / (1.0 - std::pow(b2, step));
    p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
  return {{"params", p}, {"m", m}, {"v", v}};
}


Expected reference_fill(const OpCase& c, const Tensors& t) {
  return {{"x", std::vector<double>(t.f32.at("x").data.size(), static_cast<float>(c.param("value")))}};
}

Expected reference_copy(const OpCase&, const Tensors& t) { return {{"dst", to_double(t.f32.at("src").data)}}; }

Expected reference_gather_rows(const OpCase& c, const Tensors& t) {
  const int count = c.dim("count"), C = c.dim("C");
  std::vector<double> out(size_t(count) * C);
  for (int i = 0; i < count; ++i)
    for (int k = 0; k < C; ++k) out[size_t(i) * C + k] = t.f32.at("inp").data[size_t(t.i32.at("rows")[i]) * C + k];
  return {{"out", out}};
}

Expected reference_kv_cache_append(const OpCase& c, const Tensors& t) {
  const int B = c.dim("B"), T = c.dim("T"), t0 = c.dim("t0"), Tmax = c.dim("Tmax"), KVD = c.dim("KVD");
  Expected e = {{"k_cache", to_double(t.f32.at("k_cache").data)}, {"v_cache", to_double(t.f32.at("v_cache").data)}};
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < T; ++s)
      for (int d = 0; d < KVD; ++d) {
        const size_t to = (size_t(b) * Tmax + t0 + s) * KVD + d, from = (size_t(b) * T + s) * KVD + d;
        e["k_cache"][to] = t.f32.at("k").data[from];
        e["v_cache"][to] = t.f32.at("v").data[from];
      }
  return e;
}

// Against the dequantized weight, as dequantize_matrix gives it.
Expected reference_quantized_matmul(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C"), OC = c.dim("OC");
  const auto& inp = t.f32.at("inp").data;
  const auto& w = t.f32.at("weight").data;
  std::vector<double> out(size_t(N) * OC, 0.0);
  if (c.dim("accumulate")) out = to_double(t.f32.at("out").data);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o)
      for (int k = 0; k < C; ++k) out[size_t(n) * OC + o] += double(inp[size_t(n) * C + k]) * w[size_t(o) * C + k];
  return {{"out", out}};
}

// u = dropout(x) @ A^T, y = x @ W^T + scale * u @ B^T, the mask as reference_dropout's.
Expected reference_lora_linear(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C"), OC = c.dim("OC"), R = c.dim("R");
  const double p = static_cast<float>(c.param("p")), scale = static_cast<float>(c.param("scale"));
  const auto seed = uint64_t(c.param("seed")), stream = uint64_t(c.param("stream"));
  const auto &x = t.f32.at("x").data, &w = t.f32.at("weight").data;
  const auto &a = t.f32.at("a").data, &b = t.f32.at("b").data;
  std::vector<double> y(size_t(N) * OC, 0.0), u(size_t(N) * R, 0.0);
  for (int n = 0; n < N; ++n) {
    for (int r = 0; r < R; ++r)
      for (int k = 0; k < C; ++k) {
        const size_t i = size_t(n) * C + k;
        const double dropped = random_uniform(seed, stream, i) >= p ? x[i] / (1.0 - p) : 0.0;
        u[size_t(n) * R + r] += dropped * a[size_t(r) * C + k];
      }
    for (int o = 0; o < OC; ++o) {
      double sum = 0.0;
      for (int k = 0; k < C; ++k) sum += double(x[size_t(n) * C + k]) * w[size_t(o) * C + k];
      for (int r = 0; r < R; ++r) sum += scale * u[size_t(n) * R + r] * b[size_t(o) * R + r];
      y[size_t(n) * OC + o] = sum;
    }
  }
  return {{"y", y}, {"u", u}};
}

Expected reference_log_softmax(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), V = c.dim("V");
  const auto& logits = t.f32.at("logits").data;
  std::vector<double> logprobs(N), entropy(N), dists(size_t(N) * V);
  for (int n = 0; n < N; ++n) {
    const float* row = &logits[size_t(n) * V];
    double max_logit = row[0];
    for (int v = 1; v < V; ++v) max_logit = std::max(max_logit, double(row[v]));
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(row[v] - max_logit);
    const double lse = max_logit + std::log(sum);
    double h = 0.0;
    for (int v = 0; v < V; ++v) {
      dists[size_t(n) * V + v] = row[v] - lse;
      h -= std::exp(row[v] - lse) * (row[v] - lse);
    }
    logprobs[n] = row[t.i32.at("targets")[n]] - lse;
    entropy[n] = h;
  }
  Expected e = {{"logprobs", logprobs}, {"entropy", entropy}};
  if (c.dim("dists")) e["log_dists"] = dists;
  return e;
}

Expected reference_score_head(const OpCase& c, const Tensors& t) {
  const int B = c.dim("B"), T = c.dim("T"), C = c.dim("C");
  std::vector<double> rewards(B, 0.0);
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < C; ++k)
      rewards[b] += double(t.f32.at("head").data[k]) *
                    t.f32.at("hidden").data[(size_t(b) * T + t.i32.at("last")[b]) * C + k];
  return {{"rewards", rewards}};
}

Expected reference_value_head(const OpCase& c, const Tensors& t) {
  const int N = c.dim("N"), C = c.dim("C");
  std::vector<double> values(N, t.f32.at("bias").data[0]);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < C; ++k) values[n] += double(t.f32.at("w").data[k]) * t.f32.at("x").data[size_t(n) * C + k];
  return {{"values", values}};
}

const std::map<std::string, Reference>& references() {
  static const std::map<std::string, Reference> table = {
      {"matmul", reference_matmul},
      {"rmsnorm", reference_rmsnorm},
      {"rope", reference_rope},
      {"attention", reference_attention},
      {"attention_decode", reference_attention_decode},
      {"swiglu", reference_swiglu},
      {"embedding", reference_embedding},
      {"cross_entropy", reference_cross_entropy},
      {"classifier_forward_backward", reference_classifier},
      {"token_logprobs", reference_token_logprobs},
      {"dropout", reference_dropout},
      {"add_inplace", reference_add_inplace},
      {"scale_inplace", reference_scale_inplace},
      {"sum_squares", reference_sum_squares},
      {"adamw", reference_adamw},
      {"fill", reference_fill},
      {"copy", reference_copy},
      {"gather_rows", reference_gather_rows},
      {"kv_cache_append", reference_kv_cache_append},
      {"quantized_matmul", reference_quantized_matmul},
      {"lora_linear", reference_lora_linear},
      {"log_softmax", reference_log_softmax},
      {"score_head", reference_score_head},
      {"value_head", reference_value_head},
  };
  return table;
}


}  // namespace

bool has_reference(const OpCase& c) { return references().count(c.op) > 0; }

Expected reference_forward(const OpCase& c, const Tensors& t) {
  const auto it = references().find(c.op);
  LOOM_REQUIRE(it != references().end(), "op case ", c.name(), ": no double reference");
  return it->second(c, t);
}

Tensors rounded_to_bf16(const Tensors& t) {
  Tensors rounded = t;
  for (auto& [name, tensor] : rounded.f32)
    if (tensor.role == Role::kInput)
      for (float& x : tensor.data) x = bf16_to_f32(f32_to_bf16(x));
  return rounded;
}

}  // namespace loom::test
