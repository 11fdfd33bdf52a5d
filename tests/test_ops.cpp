// Every registered backend against the op table (src/backend/op_cases): each forward against
// the double-precision references with the case's tolerance for the backend's precision, each
// backward of cpu-f32 against central finite differences of its forward, and every other
// backend's forward and backward against cpu-f32. Then what the table cannot express (HF's
// RoPE frequencies, dropout's keep rate, decode == the last row of the causal forward), that
// the tolerances catch the errors they are meant to (an AdamW step off by x0.5 or x1.5, GEMM
// inputs rounded coarser than bf16), and a coverage check over src/ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "backend/backend_factory.h"
#include "backend/cpu_f32.h"
#include "backend/op_cases/op_cases.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/rope.h"
#include "support/delegating_backend.h"
#include "support/test_support.h"

namespace loom::test {
namespace {

Precision precision_of(ComputeMode mode) { return mode == ComputeMode::Bf16 ? Precision::bf16 : Precision::f32; }

std::vector<size_t> case_indices(bool with_backward_only) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < op_cases().size(); ++i)
    if (!with_backward_only || op_cases()[i].backward) indices.push_back(i);
  return indices;
}

std::string joined(const std::vector<std::string>& failures) {
  std::string text;
  for (const std::string& f : failures) text += f + "\n";
  return text;
}

// ---- every backend: forward against double references, backward against cpu-f32 ----------

class OpForward : public ::testing::TestWithParam<size_t> {};

TEST_P(OpForward, MatchesDoubleReferenceAndLeavesInputsAlone) {
  const OpCase& c = op_cases()[GetParam()];
  for (ComputeMode mode : registered_compute_modes()) {
    const std::unique_ptr<Backend> backend = make_backend(mode);
    const std::vector<std::string> failures = check_forward(c, *backend, precision_of(mode), 1);
    EXPECT_TRUE(failures.empty()) << joined(failures);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpForward, ::testing::ValuesIn(case_indices(false)),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

class OpAgainstCpu : public ::testing::TestWithParam<size_t> {};

TEST_P(OpAgainstCpu, EveryBackendMatchesCpuF32ForwardAndBackward) {
  const OpCase& c = op_cases()[GetParam()];
  for (ComputeMode mode : registered_compute_modes()) {
    const std::unique_ptr<Backend> backend = make_backend(mode);
    const std::vector<std::string> failures = check_against_cpu(c, *backend, precision_of(mode), 3);
    EXPECT_TRUE(failures.empty()) << joined(failures);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, OpAgainstCpu, ::testing::ValuesIn(case_indices(false)),
                         [](const auto& info) { return test_name(op_cases()[info.param]); });

// ---- backward against finite differences --------------------------------------------------

// sum over loss terms of <output, upstream>, after a fresh forward of cpu-f32 on `t`.
double loss_of(const OpCase& c, const Tensors& t) {
  std::vector<std::string> failures;
  const Tensors out = run_case(c, cpu_f32_backend(), t, /*backward=*/false, &failures);
  EXPECT_TRUE(failures.empty()) << joined(failures);
  double loss = 0.0;
  for (const auto& [output, upstream] : c.loss_terms) {
    const auto& o = out.f32.at(output).data;
    const auto& up = out.f32.at(upstream).data;
    for (size_t i = 0; i < o.size(); ++i) loss += double(o[i]) * up[i];
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
  std::vector<std::string> failures;
  const Tensors t = run_case(c, cpu_f32_backend(), base, /*backward=*/true, &failures);
  ASSERT_TRUE(failures.empty()) << joined(failures);
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

// ---- the tolerances catch what they are for -------------------------------------------------

// cpu-f32 with AdamW's step scaled by `factor` (the parameters only).
class ScaledAdamwStep final : public DelegatingBackend {
 public:
  ScaledAdamwStep(const Backend& inner, float factor) : DelegatingBackend(inner), factor_(factor) {}
  void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int t) const override {
    const std::vector<float> before(params, params + n);
    inner_.adamw_update(params, m, v, grads, n, lr, beta1, beta2, eps, weight_decay, t);
    for (size_t i = 0; i < n; ++i) params[i] = before[i] + factor_ * (params[i] - before[i]);
  }

 private:
  float factor_;
};

std::vector<const OpCase*> cases_of(const std::string& op) {
  std::vector<const OpCase*> found;
  for (const OpCase& c : op_cases())
    if (c.op == op) found.push_back(&c);
  return found;
}

TEST(OpTolerance, AdamwStepOffByHalfOrOneAndAHalfFailsAtEveryLearningRate) {
  bool saw_lr_2e5 = false;
  for (const OpCase* c : cases_of("adamw")) {
    saw_lr_2e5 |= static_cast<float>(c->param("lr")) == 2e-5f;
    for (Precision precision : {Precision::f32, Precision::bf16}) {
      EXPECT_TRUE(check_forward(*c, ScaledAdamwStep(cpu_f32_backend(), 1.0f), precision, 1).empty()) << c->name();
      for (float factor : {0.5f, 1.5f}) {
        EXPECT_FALSE(check_forward(*c, ScaledAdamwStep(cpu_f32_backend(), factor), precision, 1).empty())
            << c->name() << ": a step x" << factor << " passed (" << precision_name(precision) << ")";
        EXPECT_FALSE(check_against_cpu(*c, ScaledAdamwStep(cpu_f32_backend(), factor), precision, 3).empty())
            << c->name() << ": a step x" << factor << " passed against cpu-f32";
      }
    }
  }
  EXPECT_TRUE(saw_lr_2e5) << "the table should hold an AdamW case at lr 2e-5";
}

// cpu-f32 whose GEMMs first round their inputs to `mantissa_bits` explicit bits (7: bf16).
class RoundedGemmInputs final : public DelegatingBackend {
 public:
  RoundedGemmInputs(const Backend& inner, int mantissa_bits) : DelegatingBackend(inner), bits_(mantissa_bits) {}
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    const std::vector<float> a = rounded(inp, size_t(N) * C), b = rounded(weight, size_t(OC) * C);
    inner_.matmul_forward(out, a.data(), b.data(), N, C, OC, accumulate);
  }

 private:
  std::vector<float> rounded(const float* x, size_t n) const {
    std::vector<float> r(n);
    for (size_t i = 0; i < n; ++i) {
      if (bits_ == 7) {
        r[i] = bf16_to_f32(f32_to_bf16(x[i]));
        continue;
      }
      int exponent = 0;
      const double mantissa = std::frexp(double(x[i]), &exponent);
      r[i] = float(std::ldexp(std::round(std::ldexp(mantissa, bits_ + 1)), exponent - bits_ - 1));
    }
    return r;
  }
  int bits_;
};

TEST(OpTolerance, Bf16RulePassesBf16GemmsAndFailsCoarserOnes) {
  for (const OpCase* c : cases_of("matmul")) {
    EXPECT_TRUE(check_forward(*c, RoundedGemmInputs(cpu_f32_backend(), 7), Precision::bf16, 1).empty()) << c->name();
    EXPECT_FALSE(check_forward(*c, RoundedGemmInputs(cpu_f32_backend(), 4), Precision::bf16, 1).empty()) << c->name();
  }
  // The largest GEMM is far enough from f32 that the f32 tolerance refuses bf16 inputs.
  const OpCase* largest = cases_of("matmul").back();
  EXPECT_FALSE(check_forward(*largest, RoundedGemmInputs(cpu_f32_backend(), 7), Precision::f32, 1).empty());
}

TEST(BackendFactory, NamesCpuF32AndRefusesAnUnregisteredMode) {
  EXPECT_STREQ(make_backend(ComputeMode::F32)->name(), "cpu-f32");
  EXPECT_EQ(parse_compute_mode("bf16", "run.compute"), ComputeMode::Bf16);
  expect_contains(error_of([] { parse_compute_mode("fp8", "run.compute"); }), "run.compute must be auto, f32 or bf16");
  const std::vector<ComputeMode> modes = registered_compute_modes();
  if (std::find(modes.begin(), modes.end(), ComputeMode::Bf16) == modes.end()) {
    expect_contains(error_of([] { make_backend(ComputeMode::Bf16); }), "compute mode bf16");
    EXPECT_STREQ(make_backend(ComputeMode::Auto)->name(), "cpu-f32");
  }
  EXPECT_NE(compute_line(cpu_f32_backend(), ComputeMode::Auto).find("compute: cpu-f32"), std::string::npos);
}

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
    EXPECT_TRUE(has_reference(c)) << c.name() << ": no double reference";
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

// A span of a row's cross-entropy gradient (the bf16 op writes a row span by span): each value
// is softmax * scale, the target's (softmax - 1) * scale when the target lies in the span, and
// nothing outside the span is written, wherever the target lies (before, in, after it).
TEST(CrossEntropy, RowGradientSpanWritesItsSpanOnly) {
  const int V = 10, target = 4;
  const float scale = 0.75f;
  std::vector<float> row(V);
  for (int v = 0; v < V; ++v) row[v] = 0.3f * float(v) - 1.0f;
  const float lse = cpu::row_logsumexp(row.data(), V);
  for (const auto& [begin, count] : std::vector<std::pair<int, int>>{{0, 3}, {2, 4}, {4, 1}, {6, 4}}) {
    std::vector<float> out(size_t(count) + 2 * V, -7.0f);  // V guard values on each side
    cpu::row_gradient_span(out.data() + V, row.data(), begin, count, target, lse, scale);
    for (int g = 0; g < V; ++g) {
      EXPECT_EQ(out[g], -7.0f) << "begin " << begin << ", guard before " << g;
      EXPECT_EQ(out[size_t(V + count + g)], -7.0f) << "begin " << begin << ", guard after " << g;
    }
    for (int v = begin; v < begin + count; ++v) {
      const double p = std::exp(double(row[v]) - lse);
      EXPECT_NEAR(out[size_t(v - begin + V)], (p - (v == target ? 1.0 : 0.0)) * scale, 1e-6) << "v " << v;
    }
  }
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

// The mask is exactly `random_uniform(seed, stream, i) >= p` (what the CUDA twin draws), at the
// boundary too: with p equal to element i's uniform the element is kept, with the next float
// above it is dropped.
TEST(Dropout, KeepsExactlyTheElementsWhoseUniformIsAtLeastP) {
  const size_t n = 64;
  const std::vector<float> ones(n, 1.0f);
  std::vector<float> out(n);
  for (const size_t i : {size_t(3), size_t(17), size_t(40)}) {
    const float u = random_uniform(9, 2, i);
    if (u <= 0.0f || u >= 0.999f) continue;  // p must stay inside (0, 1)
    cpu::dropout_forward(out.data(), ones.data(), n, u, 9, 2);
    EXPECT_NE(out[i], 0.0f) << "p == u_i keeps element " << i;
    cpu::dropout_forward(out.data(), ones.data(), n, std::nextafter(u, 1.0f), 9, 2);
    EXPECT_EQ(out[i], 0.0f) << "p just above u_i drops element " << i;
    for (size_t j = 0; j < n; ++j)
      EXPECT_EQ(out[j] != 0.0f, random_uniform(9, 2, j) >= std::nextafter(u, 1.0f)) << "element " << j;
  }
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
