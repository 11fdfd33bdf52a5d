// The CPU ops against the table in op_cases.h: every forward against a naive double-precision
// reference written here, every backward against central finite differences of its forward,
// plus the facts the table cannot express (HF's RoPE frequencies, dropout's keep rate,
// decode == the last row of the causal forward) and a coverage check over src/ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "op_cases.h"
#include "support/test_support.h"

namespace loom::test {
namespace {

using Expected = std::map<std::string, std::vector<double>>;  // tensor name -> values
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
      {"token_logprobs", reference_token_logprobs},
      {"dropout", reference_dropout},
      {"add_inplace", reference_add_inplace},
      {"scale_inplace", reference_scale_inplace},
      {"sum_squares", reference_sum_squares},
      {"adamw", reference_adamw},
  };
  return table;
}

std::string test_name(const OpCase& c) {
  std::string name = c.name();
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

std::vector<size_t> case_indices(bool with_backward_only) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < op_cases().size(); ++i)
    if (!with_backward_only || op_cases()[i].backward) indices.push_back(i);
  return indices;
}

// ---- forward against double references --------------------------------------------------

class OpForward : public ::testing::TestWithParam<size_t> {};

TEST_P(OpForward, MatchesDoubleReferenceAndLeavesInputsAlone) {
  const OpCase& c = op_cases()[GetParam()];
  const Tensors before = c.make_tensors(1);
  Tensors t = before;
  c.forward(CpuOps(), host_pointers(t));
  const Expected expected = references().at(c.op)(c, before);
  for (const auto& [name, want] : expected) {
    const std::vector<float>& got = t.f32.at(name).data;
    ASSERT_EQ(got.size(), want.size()) << name;
    double scale = 1.0;
    for (double x : want) scale = std::max(scale, std::fabs(x));
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_LE(std::fabs(got[i] - want[i]), 2e-6 * scale + 2e-5 * std::fabs(want[i]))
          << c.name() << ": " << name << "[" << i << "] = " << got[i] << ", reference " << want[i];
  }
  for (const auto& [name, tensor] : before.f32) {
    if (tensor.role != Role::kInput) continue;
    EXPECT_EQ(tensor.data, t.f32.at(name).data) << c.name() << ": input " << name << " was written";
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpForward, ::testing::ValuesIn(case_indices(false)),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

// ---- backward against finite differences --------------------------------------------------

// sum over loss terms of <output, upstream>, after a fresh forward on `t`.
double loss_of(const OpCase& c, Tensors t) {
  c.forward(CpuOps(), host_pointers(t));
  double loss = 0.0;
  for (const auto& [output, upstream] : c.loss_terms) {
    const auto& out = t.f32.at(output).data;
    const auto& up = t.f32.at(upstream).data;
    for (size_t i = 0; i < out.size(); ++i) loss += double(out[i]) * up[i];
  }
  return loss;
}

class OpBackward : public ::testing::TestWithParam<size_t> {};

// For random +-1 directions u: loss(x + eps u) - loss(x - eps u) against <gradient, 2 eps u>
// (with the perturbation as actually rounded to f32). The gradient is what backward added
// to the tensor's initial random contents (or wrote, for overwriting ops).
TEST_P(OpBackward, MatchesFiniteDifferences) {
  const OpCase& c = op_cases()[GetParam()];
  const Tensors base = c.make_tensors(2);
  Tensors t = base;
  const Pointers p = host_pointers(t);
  c.forward(CpuOps(), p);
  c.backward(CpuOps(), p);
  constexpr float kEps = 1e-3f;
  Rng directions(99);
  for (const auto& [input, grad_name] : c.gradients) {
    const F32Tensor& grad_tensor = t.f32.at(grad_name);
    std::vector<double> grad(grad_tensor.data.begin(), grad_tensor.data.end());
    if (base.f32.at(grad_name).role == Role::kInOut)
      for (size_t i = 0; i < grad.size(); ++i) grad[i] -= base.f32.at(grad_name).data[i];
    double grad_norm = 0.0;
    for (double g : grad) grad_norm += g * g;
    grad_norm = std::sqrt(grad_norm);
    for (int trial = 0; trial < 3; ++trial) {
      Tensors plus = base, minus = base;
      auto& xp = plus.f32.at(input).data;
      auto& xm = minus.f32.at(input).data;
      double predicted = 0.0;
      for (size_t i = 0; i < xp.size(); ++i) {
        const float step = directions.uniform() < 0.5f ? -kEps : kEps;
        xp[i] += step;
        xm[i] -= step;
        predicted += grad[i] * (double(xp[i]) - xm[i]);
      }
      const double measured = loss_of(c, plus) - loss_of(c, minus);
      const double tolerance = 1e-2 * std::max(std::fabs(predicted), 2 * kEps * grad_norm) + 1e-9;
      EXPECT_NEAR(measured / (2 * kEps), predicted / (2 * kEps), tolerance / (2 * kEps))
          << c.name() << ": d loss / d " << input << ", direction " << trial;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpBackward, ::testing::ValuesIn(case_indices(true)),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

// ---- what the table does not express --------------------------------------------------------

// Every header in src/ops is a family in the table, with at least one case; every case has a
// double reference; every backward has gradients to check.
TEST(OpCoverage, EveryOpFamilyHasCasesAndEveryCaseIsChecked) {
  std::set<std::string> headers;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/src/ops"))
    if (entry.path().extension() == ".h") headers.insert(entry.path().stem().string());
  const std::set<std::string> families(op_families().begin(), op_families().end());
  EXPECT_EQ(headers, families) << "src/ops headers and op_families() differ";
  std::set<std::string> covered;
  for (const OpCase& c : op_cases()) {
    covered.insert(c.family);
    EXPECT_TRUE(families.count(c.family)) << c.name() << ": unknown family " << c.family;
    EXPECT_TRUE(references().count(c.op)) << c.name() << ": no double reference";
    EXPECT_EQ(bool(c.backward), !c.gradients.empty()) << c.name();
    EXPECT_EQ(bool(c.backward), !c.loss_terms.empty()) << c.name();
  }
  for (const std::string& family : families)
    EXPECT_TRUE(covered.count(family)) << "op family " << family << " has no case";
}

// inv_freq bit patterns from transformers (5.x): _compute_llama3_parameters with HD 128,
// theta 500000, factor 8, low/high 1/4, original context 8192; and the default RoPE
// 1 / 10000 ** (arange(0, 128, 2) / 128), both in torch's f32.
TEST(RopeInvFreq, MatchesTransformersBitForBit) {
  const std::vector<uint32_t> llama3 = {
      1065353216, 1062243009, 1059709382, 1057645444, 1054963644, 1052224381, 1049992931,
      1047774305, 1044812720, 1042400160, 1040434848, 1037480348, 1034871981, 1032747160,
      1030233703, 1027413636, 1025116360, 1023079743, 1020030793, 1017547065, 1015523779,
      1012729580, 1010044269, 1007856767, 1005516623, 1002613366, 1000248322, 998321717,
      995260192,  990772486,  984863005,  979408798,  973706706,  967045384,  960179666,
      952658054,  950223245,  948239807,  945335425,  942703001,  940558584,  938099311,
      935253236,  932934773,  930956739,  927879669,  925373035,  923331087,  920588484,
      917878407,  915670731,  913386368,  910456336,  908069481,  906125108,  903112712,
      900532135,  898429952,  895853901,  893063879,  890791079,  888686786,  885670320,
      883213055};
  const std::vector<uint32_t> plain = {
      1065353216, 1063104471, 1061157137, 1059470816, 1058010522, 1056527311, 1054337179,
      1052440603, 1050798235, 1049376004, 1047712803, 1045579757, 1043732615, 1042133056,
      1040747895, 1038909398, 1036831949, 1035032952, 1033475085, 1032126029, 1030116802,
      1028093503, 1026341397, 1024824136, 1023510243, 1021334738, 1019364175, 1017657739,
      1016180025, 1014779187, 1012562930, 1010643729, 1008981770, 1007542573, 1005959600,
      1003801109, 1001931932, 1000313292, 998911607,  997151246,  995049016,  993228559,
      991652109,  990286959,  988353832,  986306396,  984533390,  982998030,  981668463,
      979567074,  977573004,  975846212,  974350870,  973033388,  970790693,  968848599,
      967166816,  965710450,  964208661,  962024420,  960132947,  958494998,  957076594,
      955395298};
  const auto bits_of = [](const std::vector<float>& values) {
    std::vector<uint32_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
    return bits;
  };
  std::vector<float> inv_freq(64);
  RopeScaling scaling;
  scaling.enabled = true;
  cpu::rope_inv_freq(inv_freq.data(), 128, 500000.0f, scaling);
  EXPECT_EQ(bits_of(inv_freq), llama3);
  cpu::rope_inv_freq(inv_freq.data(), 128, 10000.0f, RopeScaling{});
  EXPECT_EQ(bits_of(inv_freq), plain);
}

// The llama3 bands against the formula in double: high frequencies untouched, low ones
// divided by the factor, the middle band interpolated.
TEST(RopeInvFreq, Llama3BandsFollowTheFormula) {
  RopeScaling s;
  s.enabled = true;
  s.factor = 4.0f;
  s.low_freq_factor = 2.0f;
  s.high_freq_factor = 8.0f;
  s.original_max_position_embeddings = 1024;
  const int HD = 64;
  std::vector<float> inv_freq(HD / 2);
  cpu::rope_inv_freq(inv_freq.data(), HD, 10000.0f, s);
  std::set<int> bands;
  for (int i = 0; i < HD / 2; ++i) {
    const double base = std::pow(10000.0, -2.0 * i / HD);
    const double wavelen = 2 * M_PI / base;
    double want = base;
    if (wavelen > 1024.0 / 2.0) {
      want = base / 4.0;
      bands.insert(2);
    } else if (wavelen >= 1024.0 / 8.0) {
      const double smooth = (1024.0 / wavelen - 2.0) / (8.0 - 2.0);
      want = (1 - smooth) * base / 4.0 + smooth * base;
      bands.insert(1);
    } else {
      bands.insert(0);
    }
    EXPECT_NEAR(inv_freq[i], want, 1e-5 * want) << "i = " << i;
  }
  EXPECT_EQ(bands.size(), 3u) << "the shape should exercise all three bands";
}

TEST(Dropout, KeepsOneMinusPAndDependsOnSeedAndStream) {
  const size_t n = 200000;
  const std::vector<float> ones(n, 1.0f);
  std::vector<float> a(n), b(n), c(n);
  cpu::dropout_forward(a.data(), ones.data(), n, 0.3f, 5, 0);
  cpu::dropout_forward(b.data(), ones.data(), n, 0.3f, 5, 1);
  cpu::dropout_forward(c.data(), ones.data(), n, 0.3f, 6, 0);
  const auto kept = [](const std::vector<float>& x) {
    return std::count_if(x.begin(), x.end(), [](float v) { return v != 0.0f; });
  };
  EXPECT_NEAR(double(kept(a)) / n, 0.7, 0.005);
  EXPECT_FLOAT_EQ(*std::max_element(a.begin(), a.end()), 1.0f / 0.7f);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  std::vector<float> again(n);
  cpu::dropout_forward(again.data(), ones.data(), n, 0.3f, 5, 0);
  EXPECT_EQ(a, again);
  EXPECT_THROW(cpu::dropout_forward(again.data(), ones.data(), n, 1.0f, 5, 0), Error);
}

// Decoding position t against a cache holding positions [0, t] gives row t of the causal
// forward, for every query head of a GQA layout.
TEST(AttentionDecode, EqualsTheLastRowOfTheCausalForward) {
  const int B = 2, T = 11, NH = 6, NKV = 2, HD = 16;
  const auto q = random_vector(size_t(B) * T * NH * HD, 1);
  const auto k = random_vector(size_t(B) * T * NKV * HD, 2);
  const auto v = random_vector(size_t(B) * T * NKV * HD, 3);
  std::vector<float> out(q.size()), lse(size_t(B) * NH * T);
  cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), nullptr, B, T, NH,
                         NKV, HD);
  for (int t = 0; t < T; ++t) {
    std::vector<float> q_t(size_t(B) * NH * HD), out_t(size_t(B) * NH * HD);
    for (int b = 0; b < B; ++b)
      std::copy_n(&q[(size_t(b) * T + t) * NH * HD], NH * HD, &q_t[size_t(b) * NH * HD]);
    const std::vector<int> begin(B, 0), end(B, t + 1);
    cpu::attention_decode(out_t.data(), q_t.data(), k.data(), v.data(), begin.data(), end.data(), B,
                          T, NH, NKV, HD);
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < NH * HD; ++i)
        ASSERT_NEAR(out_t[size_t(b) * NH * HD + i], out[(size_t(b) * T + t) * NH * HD + i], 1e-6)
            << "t = " << t << ", b = " << b;
  }
}

TEST(Embedding, RejectsATokenOutsideTheVocabulary) {
  const std::vector<float> wte(4 * 3, 1.0f);
  std::vector<float> out(2 * 3);
  const std::vector<int> tokens = {1, 4};
  EXPECT_THROW(cpu::embedding_forward(out.data(), tokens.data(), wte.data(), 2, 3, 4), Error);
}

}  // namespace
}  // namespace loom::test
