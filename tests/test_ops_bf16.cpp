// The cpu-bf16 kernels (src/ops/bf16/) against double-precision references of the f32 ops.
//
// Tolerance rule (docs/ops.md, "The cpu-bf16 path"): a kernel that rounds its GEMM inputs to
// bf16 may differ from the exact result (double, f32 inputs) by at most
//   kBf16ErrorFactor x (the same computation in double on bf16-rounded inputs - exact) + floor,
// the maximum over the tensor, with floor = 1e-6 x max |exact|. Where the kernel rounds exactly
// the inputs the rounded reference rounds (the matmuls, the frozen GEMMs), it must also match
// that rounded reference to f32 accumulation error (1e-5 relative to the row scale).
// Finite differences are the f32 reference's job (test_ops.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend_factory.h"
#include "core/aligned_buffer.h"
#include "core/arena.h"
#include "core/check.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "model/causal_lm.h"
#include "ops/bf16/attention_bf16.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/matmul_bf16.h"
#include "ops/bf16/onednn_gemm.h"
#include "quant/quantized_matrix.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom::test {
namespace {

constexpr double kBf16ErrorFactor = 2.0;

std::vector<float> rounded(const std::vector<float>& x) {
  std::vector<float> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = bf16_to_f32(f32_to_bf16(x[i]));
  return r;
}

double max_abs(const std::vector<double>& x) {
  double m = 0.0;
  for (double v : x) m = std::max(m, std::abs(v));
  return m;
}

double max_err(const float* got, const std::vector<double>& ref) {
  double m = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) m = std::max(m, std::abs(double(got[i]) - ref[i]));
  return m;
}

double max_err(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// The rule: err(kernel vs exact) <= k x err(rounded-input reference vs exact) + floor.
void expect_within_bf16_rule(const std::string& what, const float* got, const std::vector<double>& exact,
                             const std::vector<double>& rounded_ref) {
  const double budget = max_err(rounded_ref, exact), floor = 1e-6 * max_abs(exact);
  const double err = max_err(got, exact);
  EXPECT_LE(err, kBf16ErrorFactor * budget + floor)
      << what << ": error " << err << " vs rounded-input reference error " << budget;
  EXPECT_GT(budget, 0.0) << what << ": inputs not perturbed by bf16 rounding (a vacuous case)";
}

// |got - rounded_ref| <= 1e-5 x max |rounded_ref|: only f32 accumulation differs.
void expect_matches_rounded(const std::string& what, const float* got, const std::vector<double>& rounded_ref) {
  const double err = max_err(got, rounded_ref), tol = 1e-5 * max_abs(rounded_ref) + 1e-30;
  EXPECT_LE(err, tol) << what << ": " << err << " from the rounded-input reference";
}

// out (N, OC) = a (N, C) @ b (OC, C)^T in double
std::vector<double> ref_matmul_nt(const std::vector<float>& a, const std::vector<float>& b, int N, int C, int OC) {
  std::vector<double> out(size_t(N) * OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = 0.0;
      for (int c = 0; c < C; ++c) s += double(a[size_t(n) * C + c]) * b[size_t(o) * C + c];
      out[size_t(n) * OC + o] = s;
    }
  return out;
}

// (N, C) = dout (N, OC) @ w (OC, C)
std::vector<double> ref_matmul_nn(const std::vector<float>& dout, const std::vector<float>& w, int N, int C, int OC) {
  std::vector<double> out(size_t(N) * C, 0.0);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o)
      for (int c = 0; c < C; ++c) out[size_t(n) * C + c] += double(dout[size_t(n) * OC + o]) * w[size_t(o) * C + c];
  return out;
}

// (OC, C) = dout (N, OC)^T @ x (N, C)
std::vector<double> ref_matmul_tn(const std::vector<float>& dout, const std::vector<float>& x, int N, int C, int OC) {
  std::vector<double> out(size_t(OC) * C, 0.0);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o)
      for (int c = 0; c < C; ++c) out[size_t(o) * C + c] += double(dout[size_t(n) * OC + o]) * x[size_t(n) * C + c];
  return out;
}

std::vector<double> plus(const std::vector<double>& a, const std::vector<float>& b) {
  std::vector<double> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}

struct MatmulCase {
  int N, C, OC;
};
// Up to bf16::kFewRowsMax rows take the few-rows kernels: weight row blocks of 16 and
// 32-value chunks with tails ({2, 70, 33}, {4, 16, 40}), whole ones ({1, 64, 48}); rows of
// 1024 values or more, blocks of 8 with even and odd chunks apart: an odd chunk count and a
// tail ({2, 1060, 21}), whole pairs ({1, 1024, 9}).
const MatmulCase kMatmulCases[] = {{1, 1, 1},      {3, 17, 5},     {2, 70, 33}, {4, 16, 40}, {1, 64, 48},
                                   {2, 1060, 21},  {1, 1024, 9},
                                   {7, 33, 65},    {67, 129, 31},  {130, 96, 257}, {5, 300, 2}};

std::string name(const MatmulCase& m) { return cat("N=", m.N, " C=", m.C, " OC=", m.OC); }

TEST(Bf16Matmul, ForwardBackwardInputWeightFollowTheRule) {
  uint64_t seed = 1;
  for (const MatmulCase& m : kMatmulCases) {
    const auto x = random_vector(size_t(m.N) * m.C, seed++), w = random_vector(size_t(m.OC) * m.C, seed++);
    const auto dy = random_vector(size_t(m.N) * m.OC, seed++);
    const auto prior_out = random_vector(size_t(m.N) * m.OC, seed++);
    const auto prior_dx = random_vector(size_t(m.N) * m.C, seed++), prior_dw = random_vector(size_t(m.OC) * m.C, seed++);
    const auto xr = rounded(x), wr = rounded(w), dyr = rounded(dy);
    for (bool accumulate : {false, true}) {
      std::vector<float> out = prior_out;
      bf16::matmul_forward(out.data(), x.data(), w.data(), m.N, m.C, m.OC, accumulate);
      auto exact = ref_matmul_nt(x, w, m.N, m.C, m.OC), rref = ref_matmul_nt(xr, wr, m.N, m.C, m.OC);
      if (accumulate) exact = plus(exact, prior_out), rref = plus(rref, prior_out);
      expect_within_bf16_rule("forward " + name(m), out.data(), exact, rref);
      expect_matches_rounded("forward " + name(m), out.data(), rref);
    }
    std::vector<float> dx = prior_dx;
    bf16::matmul_backward_input(dx.data(), dy.data(), w.data(), m.N, m.C, m.OC);
    expect_within_bf16_rule("backward_input " + name(m), dx.data(), plus(ref_matmul_nn(dy, w, m.N, m.C, m.OC), prior_dx),
                            plus(ref_matmul_nn(dyr, wr, m.N, m.C, m.OC), prior_dx));
    expect_matches_rounded("backward_input " + name(m), dx.data(), plus(ref_matmul_nn(dyr, wr, m.N, m.C, m.OC), prior_dx));
    std::vector<float> dw = prior_dw;
    bf16::matmul_backward_weight(dw.data(), dy.data(), x.data(), m.N, m.C, m.OC);
    expect_within_bf16_rule("backward_weight " + name(m), dw.data(), plus(ref_matmul_tn(dy, x, m.N, m.C, m.OC), prior_dw),
                            plus(ref_matmul_tn(dyr, xr, m.N, m.C, m.OC), prior_dw));
    expect_matches_rounded("backward_weight " + name(m), dw.data(), plus(ref_matmul_tn(dyr, xr, m.N, m.C, m.OC), prior_dw));
  }
}

// Working memory outside the arenas is 64-byte aligned (oneDNN's AMX GEMMs on 16-byte-aligned
// operands, what std::vector and new[] give, ran at a third of their speed): the bf16 scratch
// slots at every size, and AlignedBuffer, which keeps its memory while a request fits.
TEST(Bf16Scratch, WorkingBuffersAre64ByteAligned) {
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; };
  for (size_t bytes : {size_t(1), size_t(100), size_t(4096) + 2, size_t(3) << 20})
    for (bf16::ScratchSlot slot : {bf16::ScratchSlot::OperandA, bf16::ScratchSlot::Logits})
      EXPECT_TRUE(aligned(bf16::scratch_bytes(slot, bytes))) << bytes << " bytes";
  AlignedBuffer<uint16_t> buffer;
  uint16_t* first = buffer.reserve(33);
  EXPECT_TRUE(aligned(first));
  EXPECT_GE(buffer.capacity(), 33u);
  first[32] = 7;
  EXPECT_EQ(buffer.reserve(20), first);  // fits: same memory, contents kept
  EXPECT_EQ(first[32], 7);
  uint16_t* grown = buffer.reserve(100001);
  EXPECT_TRUE(aligned(grown));
  EXPECT_GE(buffer.capacity(), 100001u);
}

TEST(Bf16Matmul, RoundsToNearestEvenAsTorch) {
  // Values exactly halfway between two bf16 numbers go to the even one; the vector path
  // (32 at a time) and the scalar tail must agree with core/dtype.h's rule.
  std::vector<float> x(70);
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t bits = 0x3f800000u + (uint32_t(i) << 15);  // every other one a tie
    std::memcpy(&x[i], &bits, 4);
  }
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[5] = -0.0f;
  std::vector<uint16_t> got(x.size());
  bf16::round_to_bf16(got.data(), x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (i == 3) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(got[i])));
      continue;
    }
    EXPECT_EQ(got[i], f32_to_bf16(x[i])) << "element " << i;
  }
}

TEST(Bf16Matmul, PrimitivesAreCreatedOncePerShape) {
  const auto x = random_vector(9 * 13, 5), w = random_vector(11 * 13, 6);
  std::vector<float> out(9 * 11);
  bf16::matmul_forward(out.data(), x.data(), w.data(), 9, 13, 11, false);
  const size_t after_first = bf16::gemm_primitives_created();
  for (int i = 0; i < 3; ++i) bf16::matmul_forward(out.data(), x.data(), w.data(), 9, 13, 11, false);
  EXPECT_EQ(bf16::gemm_primitives_created(), after_first);
  bf16::matmul_forward(out.data(), x.data(), w.data(), 9, 13, 11, true);
  EXPECT_EQ(bf16::gemm_primitives_created(), after_first + 1);
}

// A small product runs on one thread (onednn_gemm.cpp) and hands the caller's team size back;
// a large one keeps the team. Both give the reference's result.
TEST(Bf16Matmul, SmallProductsLeaveTheThreadTeamAsItWas) {
  const int team = omp_get_max_threads();
  omp_set_num_threads(2);
  for (const int n : {16, 256}) {  // 4K and 16M multiply-adds: either side of the one-thread limit
    const auto x = random_vector(size_t(n) * n, 7), w = random_vector(size_t(n) * n, 8);
    std::vector<float> out(size_t(n) * n), want(size_t(n) * n);
    bf16::matmul_forward(out.data(), x.data(), w.data(), n, n, n, false);
    EXPECT_EQ(omp_get_max_threads(), 2) << n << "^3";
    bf16::matmul_forward(want.data(), x.data(), w.data(), n, n, n, false);
    EXPECT_EQ(out, want) << n << "^3";
  }
  omp_set_num_threads(team);
}

// ---- frozen weights ------------------------------------------------------------------------

struct FrozenCase {
  QuantMode mode;
  int N, rows, cols;
};

TEST(Bf16Frozen, DequantizeRowsBf16IsTheF32DequantizationRounded) {
  for (QuantMode mode : {QuantMode::F32, QuantMode::BF16, QuantMode::INT8, QuantMode::NF4}) {
    for (auto [rows, cols] : {std::pair{7, 33}, std::pair{5, 64}, std::pair{13, 200}, std::pair{300, 129}}) {
      const auto w = random_vector(size_t(rows) * cols, 11 + rows);
      Arena arena("test", quantized_matrix_bytes(mode, rows, cols));
      const QuantizedMatrix q = quantize_matrix(arena, mode, w.data(), rows, cols);
      for (auto [r0, r1] : {std::pair{0, rows}, std::pair{1, rows - 1}, std::pair{rows / 2, rows / 2 + 1}}) {
        std::vector<float> f32(size_t(r1 - r0) * cols);
        dequantize_rows(f32.data(), q, r0, r1);
        for (int ld : {cols, cols + 5}) {  // contiguous, and rows with room for more columns
          constexpr uint16_t kUntouched = 0x7fc1;
          std::vector<uint16_t> got(size_t(r1 - r0) * ld, kUntouched);
          bf16::dequantize_rows_bf16(got.data(), q, r0, r1, ld);
          size_t mismatches = 0;
          for (int r = 0; r < r1 - r0; ++r)
            for (int c = 0; c < ld; ++c) {
              const uint16_t want = c < cols ? f32_to_bf16(f32[size_t(r) * cols + c]) : kUntouched;
              mismatches += got[size_t(r) * ld + c] != want;
            }
          EXPECT_EQ(mismatches, 0u) << quant_mode_name(mode) << " rows " << rows << " cols " << cols << " ld " << ld
                                    << " [" << r0 << ", " << r1 << ")";
        }
      }
    }
  }
}

TEST(Bf16Frozen, ForwardAndBackwardInputFollowTheRule) {
  const FrozenCase cases[] = {{QuantMode::NF4, 37, 65, 128}, {QuantMode::NF4, 9, 31, 77},   {QuantMode::INT8, 19, 33, 70},
                              {QuantMode::BF16, 23, 48, 50}, {QuantMode::F32, 6, 17, 129},  {QuantMode::NF4, 1, 96, 192},
                              {QuantMode::NF4, 3, 40, 64},   {QuantMode::NF4, 4, 7, 320},   {QuantMode::INT8, 2, 9, 64},
                              {QuantMode::NF4, 11, 21, 192}, {QuantMode::NF4, 16, 9, 128},  {QuantMode::NF4, 17, 5, 64}};
  uint64_t seed = 100;
  for (const FrozenCase& f : cases) {
    const std::string what = cat(quant_mode_name(f.mode), " N=", f.N, " OC=", f.rows, " C=", f.cols);
    const auto w = random_vector(size_t(f.rows) * f.cols, seed++);
    Arena arena("test", quantized_matrix_bytes(f.mode, f.rows, f.cols));
    const QuantizedMatrix q = quantize_matrix(arena, f.mode, w.data(), f.rows, f.cols);
    std::vector<float> wd(w.size());
    dequantize_matrix(wd.data(), q);  // the weight the frozen model uses: the exact reference's
    const auto x = random_vector(size_t(f.N) * f.cols, seed++), dy = random_vector(size_t(f.N) * f.rows, seed++);
    const auto prior = random_vector(size_t(f.N) * f.rows, seed++), prior_dx = random_vector(x.size(), seed++);
    for (bool accumulate : {false, true}) {
      std::vector<float> out = prior;
      bf16::frozen_matmul_forward(out.data(), x.data(), q, f.N, accumulate);
      auto exact = ref_matmul_nt(x, wd, f.N, f.cols, f.rows), rref = ref_matmul_nt(rounded(x), rounded(wd), f.N, f.cols, f.rows);
      if (accumulate) exact = plus(exact, prior), rref = plus(rref, prior);
      if (f.mode != QuantMode::BF16) expect_within_bf16_rule("frozen forward " + what, out.data(), exact, rref);
      expect_matches_rounded("frozen forward " + what, out.data(), rref);
    }
    for (bool accumulate : {false, true}) {  // without accumulate dx starts as NaN: never read
      std::vector<float> dx = accumulate ? prior_dx : std::vector<float>(x.size(), std::nanf(""));
      bf16::frozen_matmul_backward_input(dx.data(), dy.data(), q, f.N, accumulate);
      auto want = ref_matmul_nn(rounded(dy), rounded(wd), f.N, f.cols, f.rows);
      if (accumulate) want = plus(want, prior_dx);
      expect_matches_rounded("frozen backward_input " + what, dx.data(), want);
    }
  }
}

TEST(Bf16Frozen, Nf4GemvMatchesTheDequantizedGemm) {
  for (auto [N, rows, cols] : {std::tuple{1, 1, 64}, std::tuple{1, 257, 576}, std::tuple{4, 33, 128}, std::tuple{2, 5, 1536},
                               std::tuple{3, 48, 192}, std::tuple{7, 37, 128}, std::tuple{8, 20, 256}}) {
    const auto w = random_vector(size_t(rows) * cols, 7 * rows + N);
    Arena arena("test", quantized_matrix_bytes(QuantMode::NF4, rows, cols));
    const QuantizedMatrix q = quantize_matrix(arena, QuantMode::NF4, w.data(), rows, cols);
    ASSERT_TRUE(bf16::nf4_gemv_applies(q));
    std::vector<float> wd(w.size());
    dequantize_matrix(wd.data(), q);
    const auto x = random_vector(size_t(N) * cols, 3 + N);
    std::vector<float> out(size_t(N) * rows, 0.5f);
    bf16::nf4_gemv(out.data(), x.data(), q, N, /*accumulate=*/true);
    std::vector<float> half(out.size(), 0.5f);
    expect_matches_rounded(cat("nf4_gemv N=", N, " OC=", rows, " C=", cols), out.data(),
                           plus(ref_matmul_nt(rounded(x), rounded(wd), N, cols, rows), half));
  }
}

// ---- attention -----------------------------------------------------------------------------

struct AttnCase {
  int B, T, NH, NKV, HD;
  bool doc;
};

std::string name(const AttnCase& a) { return cat("B=", a.B, " T=", a.T, " NH=", a.NH, " NKV=", a.NKV, " HD=", a.HD, " doc=", a.doc); }

size_t at(int b, int t, int h, int T, int H, int HD) { return ((size_t(b) * T + t) * H + h) * HD; }

struct AttnRef {
  std::vector<double> out, lse, dq, dk, dv;
};

// Double reference of forward and backward (the same formulas as ops/attention.cpp).
AttnRef ref_attention(const AttnCase& a, const std::vector<float>& q, const std::vector<float>& k,
                      const std::vector<float>& v, const std::vector<float>& dout, const std::vector<int>& doc) {
  const int group = a.NH / a.NKV;
  const double scale = 1.0 / std::sqrt(double(a.HD));
  AttnRef r;
  r.out.assign(q.size(), 0.0);
  r.lse.assign(size_t(a.B) * a.NH * a.T, 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  auto allowed = [&](int b, int i, int j) { return j <= i && (!a.doc || doc[size_t(b) * a.T + j] == doc[size_t(b) * a.T + i]); };
  std::vector<double> p(a.T);
  for (int b = 0; b < a.B; ++b)
    for (int h = 0; h < a.NH; ++h) {
      const int kvh = h / group;
      for (int i = 0; i < a.T; ++i) {
        double mx = -1e300;
        for (int j = 0; j <= i; ++j) {
          if (!allowed(b, i, j)) continue;
          double s = 0.0;
          for (int d = 0; d < a.HD; ++d) s += double(q[at(b, i, h, a.T, a.NH, a.HD) + d]) * k[at(b, j, kvh, a.T, a.NKV, a.HD) + d];
          p[j] = s * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0.0;
        for (int j = 0; j <= i; ++j)
          if (allowed(b, i, j)) sum += (p[j] = std::exp(p[j] - mx));
        const size_t qo = at(b, i, h, a.T, a.NH, a.HD);
        for (int j = 0; j <= i; ++j) {
          if (!allowed(b, i, j)) continue;
          p[j] /= sum;
          for (int d = 0; d < a.HD; ++d) r.out[qo + d] += p[j] * v[at(b, j, kvh, a.T, a.NKV, a.HD) + d];
        }
        r.lse[(size_t(b) * a.NH + h) * a.T + i] = mx + std::log(sum);
        double D = 0.0;
        for (int d = 0; d < a.HD; ++d) D += double(dout[qo + d]) * r.out[qo + d];
        for (int j = 0; j <= i; ++j) {
          if (!allowed(b, i, j)) continue;
          const size_t ko = at(b, j, kvh, a.T, a.NKV, a.HD);
          double dp = 0.0;
          for (int d = 0; d < a.HD; ++d) dp += double(dout[qo + d]) * v[ko + d];
          const double ds = p[j] * (dp - D) * scale;
          for (int d = 0; d < a.HD; ++d) {
            r.dv[ko + d] += p[j] * dout[qo + d];
            r.dk[ko + d] += ds * q[qo + d];
            r.dq[qo + d] += ds * k[ko + d];
          }
        }
      }
    }
  return r;
}

TEST(Bf16Attention, ForwardAndBackwardFollowTheRule) {
  const AttnCase cases[] = {{1, 2, 2, 1, 8, false},  {2, 7, 4, 2, 8, true},    {1, 65, 3, 3, 16, false},
                            {2, 70, 4, 1, 32, true}, {1, 130, 6, 2, 64, true}, {1, 33, 2, 2, 24, false}};
  uint64_t seed = 500;
  for (const AttnCase& a : cases) {
    const size_t nq = size_t(a.B) * a.T * a.NH * a.HD, nk = size_t(a.B) * a.T * a.NKV * a.HD;
    const auto q = random_vector(nq, seed++, -2.0f, 2.0f), k = random_vector(nk, seed++, -2.0f, 2.0f);
    const auto v = random_vector(nk, seed++), dout = random_vector(nq, seed++);
    // Documents of random lengths, then padding (doc -1) at the end of the first row.
    std::vector<int> doc(size_t(a.B) * a.T);
    Rng rng(seed++);
    for (int b = 0; b < a.B; ++b) {
      int id = 0;
      for (int t = 0; t < a.T; ++t) {
        if (t > 0 && rng.below(9) == 0) ++id;
        doc[size_t(b) * a.T + t] = (b == 0 && t >= a.T - a.T / 5 && a.T > 4) ? -1 : id;
      }
    }
    const int* doc_ptr = a.doc ? doc.data() : nullptr;
    std::vector<float> out(nq), lse(size_t(a.B) * a.NH * a.T);
    bf16::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), doc_ptr, a.B, a.T, a.NH, a.NKV, a.HD);
    const auto prior_dq = random_vector(nq, seed++), prior_dk = random_vector(nk, seed++), prior_dv = random_vector(nk, seed++);
    std::vector<float> dq = prior_dq, dk = prior_dk, dv = prior_dv;
    bf16::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                             lse.data(), doc_ptr, a.B, a.T, a.NH, a.NKV, a.HD, /*accumulate=*/true);
    const AttnRef exact = ref_attention(a, q, k, v, dout, doc);
    const AttnRef rref = ref_attention(a, rounded(q), rounded(k), rounded(v), rounded(dout), doc);
    expect_within_bf16_rule("attention out " + name(a), out.data(), exact.out, rref.out);
    expect_within_bf16_rule("attention lse " + name(a), lse.data(), exact.lse, rref.lse);
    expect_within_bf16_rule("attention dq " + name(a), dq.data(), plus(exact.dq, prior_dq), plus(rref.dq, prior_dq));
    expect_within_bf16_rule("attention dk " + name(a), dk.data(), plus(exact.dk, prior_dk), plus(rref.dk, prior_dk));
    expect_within_bf16_rule("attention dv " + name(a), dv.data(), plus(exact.dv, prior_dv), plus(rref.dv, prior_dv));
  }
}

// Heads run in parallel, each on its thread's GEMMs: the result is the same bits on 1 and 2
// threads (a KV head's group stays on one thread; no two threads share a scratch block).
TEST(Bf16Attention, ResultDoesNotDependOnTheThreadCount) {
  const AttnCase a{3, 130, 6, 2, 64, true};
  const size_t nq = size_t(a.B) * a.T * a.NH * a.HD, nk = size_t(a.B) * a.T * a.NKV * a.HD;
  const auto q = random_vector(nq, 900, -2.0f, 2.0f), k = random_vector(nk, 901, -2.0f, 2.0f);
  const auto v = random_vector(nk, 902), dout = random_vector(nq, 903);
  std::vector<int> doc(size_t(a.B) * a.T);
  for (size_t i = 0; i < doc.size(); ++i) doc[i] = int(i % a.T) / 50;
  auto run = [&](int threads) {
    const int team = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> out(nq), lse(size_t(a.B) * a.NH * a.T), dq(nq, 0.5f), dk(nk, 0.25f), dv(nk, -0.5f);
    bf16::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), doc.data(), a.B, a.T, a.NH, a.NKV,
                            a.HD);
    bf16::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                             lse.data(), doc.data(), a.B, a.T, a.NH, a.NKV, a.HD, /*accumulate=*/true);
    omp_set_num_threads(team);
    return std::vector<std::vector<float>>{out, lse, dq, dk, dv};
  };
  const auto one = run(1), two = run(2);
  const char* names[] = {"out", "lse", "dq", "dk", "dv"};
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], two[i]) << names[i];
}

// ---- a whole LoRA step of the test model: bf16 compute against f32 ---------------------------

struct StepResult {
  double loss;
  std::vector<float> grads;
};

// One training micro-batch (forward, chunked LM head + loss, backward) of the tiny test model
// (hidden 64, 2 layers, 4 heads, 2 KV heads, vocab 96) on an NF4 base with LoRA r=8 on all
// linears, 2 packed rows of 70 tokens (document mask; attention blocks of 64 and a partial one).
StepResult lora_step(bool bf16, const TinyModel& m) {
  const std::unique_ptr<Backend> backend = make_backend(bf16 ? ComputeMode::Bf16 : ComputeMode::F32);
  const int B = 2, T = 70, V = m.base->shape().V;
  std::vector<int> tokens, pos, doc(size_t(B) * T, 0), targets(size_t(B) * T);
  random_tokens(&tokens, &pos, B, T, V, 21);
  for (int t = 40; t < T; ++t) {  // row 0: documents [0, 40) and [40, 70)
    doc[t] = 1;
    pos[t] = t - 40;
  }
  shift_labels(targets.data(), tokens.data(), B, T);
  const TokenBatch batch{B, T, tokens.data(), pos.data(), doc.data()};
  CausalLm lm(*m.base, *m.layout, B, T, false, *backend);
  StepResult r;
  r.grads.assign(m.params.size(), 0.0f);
  const LoraContext lora{m.layout.get(), m.params.data(), r.grads.data(), 0.1f, 7, true};
  const LossSums sums = lm.train_micro_batch(batch, targets.data(), lora, 1.0f / float(B * (T - 1)));
  r.loss = sums.loss_sum / double(sums.tokens);
  return r;
}

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (size_t i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

// Loss within 0.5% relative and every LoRA tensor's gradient (and the trained head's) at a
// cosine of at least 0.999 to the f32 step's.
void expect_bf16_step_close(bool trained_head) {
  LlamaConfig config = tiny_test_config();
  config.hidden_size = 64;
  config.intermediate_size = 96;
  config.vocab_size = 96;
  config.head_dim = 16;
  LoraSpec spec;
  spec.r = 8;
  spec.alpha = 16.0f;
  spec.target_modules = parse_target_modules("all-linear");
  if (trained_head) spec.modules_to_save = {kLmHeadModule};
  const TinyModel m = make_tiny_model("bf16-step", config, QuantMode::NF4, spec);
  const StepResult f32 = lora_step(false, m);
  const StepResult bf = lora_step(true, m);
  EXPECT_NEAR(bf.loss, f32.loss, 5e-3 * f32.loss);
  EXPECT_NE(bf.loss, f32.loss) << "the bf16 step ran in f32";
  for (const LoraSlot& s : m.layout->slots()) {
    const std::string where = cat("layer ", s.layer, " linear ", int(s.id));
    EXPECT_GE(cosine(bf.grads.data() + s.a, f32.grads.data() + s.a, size_t(spec.r) * s.in), 0.999) << where << " A";
    EXPECT_GE(cosine(bf.grads.data() + s.b, f32.grads.data() + s.b, size_t(s.out) * spec.r), 0.999) << where << " B";
  }
  if (trained_head) {
    const size_t n = size_t(m.layout->head_rows()) * m.layout->head_cols();
    EXPECT_GE(cosine(bf.grads.data() + m.layout->head_offset(), f32.grads.data() + m.layout->head_offset(), n), 0.999);
  }
}

TEST(Bf16Model, WholeLoraStepMatchesF32) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  expect_bf16_step_close(false);
}

TEST(Bf16Model, WholeLoraStepWithTrainedLmHeadMatchesF32) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  expect_bf16_step_close(true);
}

// run.compute = bf16 (and auto on this CPU) makes the cpu-bf16 backend, whose GEMMs are the
// bf16 kernels.
TEST(Bf16Backend, FactoryMakesCpuBf16ForBf16AndAuto) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  EXPECT_STREQ(bf->name(), "cpu-bf16");
  EXPECT_STREQ(make_backend(ComputeMode::Auto)->name(), "cpu-bf16");
  EXPECT_STREQ(make_backend(ComputeMode::F32)->name(), "cpu-f32");
  const int N = 5, C = 37, OC = 19;
  const auto x = random_vector(size_t(N) * C, 1), w = random_vector(size_t(OC) * C, 2);
  std::vector<float> by_backend(size_t(N) * OC), by_kernel(by_backend.size()), by_f32(by_backend.size());
  bf->matmul_forward(by_backend.data(), x.data(), w.data(), N, C, OC, false);
  bf16::matmul_forward(by_kernel.data(), x.data(), w.data(), N, C, OC, false);
  make_backend(ComputeMode::F32)->matmul_forward(by_f32.data(), x.data(), w.data(), N, C, OC, false);
  EXPECT_EQ(0, std::memcmp(by_backend.data(), by_kernel.data(), sizeof(float) * by_kernel.size()));
  EXPECT_GT(max_abs_diff(by_backend.data(), by_f32.data(), by_f32.size()), 0.0);
}

// A weight in a reused-weight scope (the LM head) is rounded once, at begin: the GEMMs inside
// read that copy (seen here by changing the f32 weight inside the scope, which callers never
// do); after end the f32 weight is read again; a versioned copy is kept for the next scope
// of the same version, an unversioned one never. The input gradient reads the copy transposed
// (made at its first use), which follows the copy.
TEST(Bf16Backend, ReusedWeightIsRoundedOnceAndFollowsItsVersion) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 3, C = 40, OC = 21;
  const size_t n = size_t(OC) * C;
  const auto x = random_vector(size_t(N) * C, 3), dy = random_vector(size_t(N) * OC, 4);
  const std::vector<float> w0 = random_vector(n, 5), w1 = random_vector(n, 6);
  std::vector<float> w = w0;
  // forward and backward_input by the backend against the kernels on `values`
  const auto expect_reads = [&](const std::vector<float>& values, const std::string& where) {
    std::vector<float> got(size_t(N) * OC), want(got.size()), dgot(size_t(N) * C, 0.0f), dwant(dgot.size(), 0.0f);
    bf->matmul_forward(got.data(), x.data(), w.data(), N, C, OC, false);
    bf16::matmul_forward(want.data(), x.data(), values.data(), N, C, OC, false);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), sizeof(float) * got.size())) << where << ": forward";
    bf->matmul_backward_input(dgot.data(), dy.data(), w.data(), N, C, OC);
    if (where == "after the scope") {  // no scope: the weight is rounded for this call
      bf16::matmul_backward_input(dwant.data(), dy.data(), values.data(), N, C, OC);
    } else {  // in a scope the backward reads the copy transposed
      std::vector<uint16_t> rounded(n), transposed(n);
      bf16::round_to_bf16(rounded.data(), values.data(), n);
      bf16::transpose_bf16(transposed.data(), rounded.data(), OC, C);
      bf16::matmul_backward_input_transposed_weight(dwant.data(), dy.data(), transposed.data(), N, C, OC);
    }
    EXPECT_EQ(0, std::memcmp(dgot.data(), dwant.data(), sizeof(float) * dgot.size())) << where << ": backward";
  };
  {
    const ReusedWeight scope(*bf, w.data(), n, kUnversionedWeight);
    w = w1;
    expect_reads(w0, "unversioned scope");
  }
  expect_reads(w1, "after the scope");
  {
    const ReusedWeight scope(*bf, w.data(), n, kUnversionedWeight);
    expect_reads(w1, "a second unversioned scope");
  }
  const uint64_t frozen = new_weight_version();
  { const ReusedWeight scope(*bf, w.data(), n, frozen); }
  w = w0;
  {
    const ReusedWeight scope(*bf, w.data(), n, frozen);
    expect_reads(w1, "same version: the kept copy");
  }
  {
    const ReusedWeight scope(*bf, w.data(), n, new_weight_version());
    expect_reads(w0, "new version");
  }
}

// A weight in its own reused-weight scope (the LM head), read by a forward of more rows than the
// few-rows kernel takes: where oneDNN reads the packed layout (AMX), the forward runs on a packed
// copy made from the bf16 copy at first use; it must give what the row-major GEMM gives on the
// same values, up to the order of the f32 sums, and follow the copy when the version changes or
// the same values are read as another shape (100 x 64, then 50 x 128). OC = 100 leaves a part
// block of columns.
TEST(Bf16Backend, ReusedWeightForwardOnThePackedCopy) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 33, C = 64, OC = 100;
  const size_t n = size_t(OC) * C;
  const std::vector<float> w0 = random_vector(n, 32), w1 = random_vector(n, 33);
  std::vector<float> w = w0;
  // the forward of the weight read as (rows, cols) against the row-major GEMM on `values`
  const auto expect_shape_reads = [&](const std::vector<float>& values, int rows, int cols, const std::string& where) {
    const auto input = random_vector(size_t(N) * cols, 34);
    std::vector<float> got(size_t(N) * rows), want(got.size());
    bf->matmul_forward(got.data(), input.data(), w.data(), N, cols, rows, false);
    bf16::matmul_forward(want.data(), input.data(), values.data(), N, cols, rows, false);  // row-major
    float largest = 0.0f;
    for (float v : want) largest = std::max(largest, std::abs(v));
    EXPECT_LE(max_abs_diff(got.data(), want.data(), want.size()), 1e-5f * largest) << where;
  };
  const auto expect_reads = [&](const std::vector<float>& values, const std::string& where) {
    expect_shape_reads(values, OC, C, where);
  };
  const uint64_t frozen = new_weight_version();
  {
    const ReusedWeight scope(*bf, w.data(), n, frozen);
    expect_reads(w0, "first scope");
    expect_reads(w0, "first scope, again");
    expect_shape_reads(w0, 50, 128, "first scope, as 50 x 128");
    expect_reads(w0, "first scope, as 100 x 64 again");
  }
  w = w1;
  {
    const ReusedWeight scope(*bf, w.data(), n, frozen);
    expect_reads(w0, "same version: the kept copy");
  }
  {
    const ReusedWeight scope(*bf, w.data(), n, new_weight_version());
    expect_reads(w1, "new version");
  }
  w = w0;
  {
    const ReusedWeight scope(*bf, w.data(), n, kUnversionedWeight);
    expect_reads(w0, "unversioned");
  }
  w = w1;
  {
    const ReusedWeight scope(*bf, w.data(), n, kUnversionedWeight);
    expect_reads(w1, "unversioned again, new values");
  }
}

// A scope over a block (the trainable parameters over a generation) covers every matrix that
// lies in it: a GEMM reads its own part of the block's copy; a scope nested inside (a trained
// LM head in the block) wins over the block's; a matrix reaching past the block is read live.
TEST(Bf16Backend, ReusedBlockServesEachMatrixInsideIt) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 2, C = 1060, OC = 19;  // rows long enough for the few-rows kernel's 8-row blocks
  const size_t n = size_t(OC) * C, first = 17, second = first + n;  // two matrices after a gap
  const auto x = random_vector(size_t(N) * C, 8);
  // the block [0, second + n) and one value after it
  const std::vector<float> block0 = random_vector(second + n + 1, 9), block1 = random_vector(second + n + 1, 10);
  std::vector<float> block = block0;
  // what matmul_forward gives on the matrix at `at` against the kernel on values[at...]
  const auto expect_reads = [&](size_t at, const std::vector<float>& values, const std::string& where) {
    std::vector<float> got(size_t(N) * OC), want(got.size());
    bf->matmul_forward(got.data(), x.data(), block.data() + at, N, C, OC, false);
    bf16::matmul_forward(want.data(), x.data(), values.data() + at, N, C, OC, false);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), sizeof(float) * got.size())) << where;
  };
  {
    const ReusedWeight all(*bf, block.data(), second + n, kUnversionedWeight);
    block = block1;
    expect_reads(first, block0, "first matrix of the block");
    expect_reads(second, block0, "second matrix of the block");
    expect_reads(second + 1, block1, "a matrix reaching past the block");
    {
      const ReusedWeight inner(*bf, block.data() + second, n, kUnversionedWeight);
      expect_reads(second, block1, "the nested scope's own copy");
      expect_reads(first, block0, "beside the nested scope");
    }
    expect_reads(second, block0, "after the nested scope");
  }
  expect_reads(first, block1, "after the block's scope");
}

// The fused LM-head loss gives, to the bit, what the composed ops give on this backend: the
// bf16 gradient its cross-entropy writes is the f32 gradient the composed input-gradient GEMM
// rounds. Checked outside a reused-weight scope (the head rounded for the call) and inside one
// (the copy, read transposed by the input gradient) with the f32 head changed after the
// scope's begin; rows enough for oneDNN, a vocabulary of three spans, an ignored row.
TEST(Bf16Backend, ClassifierMatchesTheComposedOps) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 9, C = 64, V = 5003;
  const auto hidden = random_vector(size_t(N) * C, 21), dloss = random_vector(N, 22);
  const auto prior_dhidden = random_vector(size_t(N) * C, 23), prior_dhead = random_vector(size_t(V) * C, 24);
  const std::vector<float> head0 = random_vector(size_t(V) * C, 25), head1 = random_vector(size_t(V) * C, 26);
  std::vector<float> head = head0;
  std::vector<int> targets(N);
  for (int n = 0; n < N; ++n) targets[n] = n == 4 ? -100 : (n * 1999) % V;  // in each span of the row
  // losses, dhidden, dhead of the fused op (or of the composed ops) on `head`
  const auto run = [&](bool fused) {
    std::vector<std::vector<float>> out = {std::vector<float>(N), prior_dhidden, prior_dhead};
    std::vector<float> logits(size_t(N) * V);
    if (fused) {
      bf->classifier_forward_backward(out[0].data(), out[1].data(), out[2].data(), logits.data(), hidden.data(),
                                      head.data(), targets.data(), dloss.data(), N, C, V);
    } else {
      bf->matmul_forward(logits.data(), hidden.data(), head.data(), N, C, V, false);
      bf->cross_entropy_forward(out[0].data(), logits.data(), targets.data(), N, V);
      bf->cross_entropy_backward(logits.data(), logits.data(), targets.data(), dloss.data(), N, V);
      bf->matmul_backward_input(out[1].data(), logits.data(), head.data(), N, C, V);
      bf->matmul_backward_weight(out[2].data(), logits.data(), hidden.data(), N, C, V);
    }
    return out;
  };
  const auto expect_same = [](const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want,
                              const std::string& where) {
    const char* names[] = {"losses", "dhidden", "dhead"};
    for (size_t t = 0; t < want.size(); ++t)
      EXPECT_EQ(0, std::memcmp(got[t].data(), want[t].data(), sizeof(float) * want[t].size())) << where << " " << names[t];
  };
  expect_same(run(true), run(false), "outside a scope");
  const auto composed_on_copy = [&] {
    const ReusedWeight scope(*bf, head.data(), head.size(), kUnversionedWeight);
    return run(false);
  }();
  const ReusedWeight scope(*bf, head.data(), head.size(), kUnversionedWeight);
  head = head1;
  expect_same(run(true), composed_on_copy, "in a scope, the copy of the head");
}

// The fused lora_linear (more rows than the GEMV takes) reads A and B from a reused block's
// bf16 copy: inside a scope begun before the block's values change, it gives what it gives
// outside any scope on the old values, to the bit.
TEST(Bf16Backend, FusedLoraLinearReadsTheReusedFactors) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 33, C = 128, OC = 40, R = 16;
  const float scale = 2.0f, p = 0.1f;
  const auto w32 = random_vector(size_t(OC) * C, 11);
  Arena arena("test", quantized_matrix_bytes(QuantMode::NF4, OC, C));
  const QuantizedMatrix w = quantize_matrix(arena, QuantMode::NF4, w32.data(), OC, C);
  const size_t a_at = 5, b_at = a_at + size_t(R) * C, n = b_at + size_t(OC) * R;  // A, B after a gap
  const std::vector<float> block0 = random_vector(n, 12), block1 = random_vector(n, 13);
  std::vector<float> block = block0;
  const auto x = random_vector(size_t(N) * C, 14), dy = random_vector(size_t(N) * OC, 15);
  std::vector<float> workspace(size_t(OC) * C), dropped(size_t(N) * C), mid(size_t(N) * R);
  // y, u, dx, da, db of one forward and backward on the block's current values
  const auto run = [&] {
    std::vector<std::vector<float>> out = {std::vector<float>(size_t(N) * OC), std::vector<float>(size_t(N) * R),
                                           std::vector<float>(size_t(N) * C, 0.0f),
                                           std::vector<float>(size_t(R) * C, 0.0f),
                                           std::vector<float>(size_t(OC) * R, 0.0f)};
    bf->lora_linear_forward(out[0].data(), out[1].data(), workspace.data(), dropped.data(), mid.data(), x.data(), w,
                            block.data() + a_at, block.data() + b_at, N, R, scale, p, 7, 3);
    bf->lora_linear_backward(out[2].data(), out[3].data(), out[4].data(), workspace.data(), dropped.data(),
                             mid.data(), dy.data(), x.data(), out[1].data(), w, block.data() + a_at,
                             block.data() + b_at, N, R, scale, p, 7, 3, /*accumulate=*/true);
    return out;
  };
  const auto want = run();
  const ReusedWeight factors(*bf, block.data(), n, kUnversionedWeight);
  block = block1;
  const auto got = run();
  const char* names[] = {"y", "u", "dx", "da", "db"};
  for (size_t t = 0; t < want.size(); ++t)
    EXPECT_EQ(0, std::memcmp(got[t].data(), want[t].data(), sizeof(float) * want[t].size())) << names[t];
}

// Where oneDNN reads the packed weight layout (AMX), the fused lora_linear packs the frozen
// weight for its forward and backward; the row-major path it takes elsewhere must give the same
// results, up to the GEMMs' summation order. (Where neither path packs, both runs are the
// row-major one, which the op table checks.)
TEST(Bf16Backend, FusedLoraLinearPackedAndRowMajorAgree) {
  if (!cpu_has_native_bf16()) GTEST_SKIP() << "no bf16 instructions on this CPU";
  const std::unique_ptr<Backend> bf = make_backend(ComputeMode::Bf16);
  const int N = 37, C = 192, R = 16;  // C + R padded to 224
  const float scale = 2.0f, p = 0.1f;
  // OC 100: a partial block of 64 output channels in the forward (the backward's depth, 100, is
  // not whole blocks of 32: row-major there); OC 128: both packed
  for (const int OC : {100, 128}) {
    const auto w32 = random_vector(size_t(OC) * C, 21);
    Arena arena("test", quantized_matrix_bytes(QuantMode::NF4, OC, C));
    const QuantizedMatrix w = quantize_matrix(arena, QuantMode::NF4, w32.data(), OC, C);
    const auto a = random_vector(size_t(R) * C, 22), b = random_vector(size_t(OC) * R, 23);
    const auto x = random_vector(size_t(N) * C, 24), dy = random_vector(size_t(N) * OC, 25);
    std::vector<float> workspace(size_t(OC) * C), dropped(size_t(N) * C), mid(size_t(N) * R);
    // y, u, dx, da, db of one forward and backward; the gradients start nonzero (backward adds)
    const auto run = [&] {
      std::vector<std::vector<float>> out = {std::vector<float>(size_t(N) * OC), std::vector<float>(size_t(N) * R),
                                             random_vector(size_t(N) * C, 26), random_vector(size_t(R) * C, 27),
                                             random_vector(size_t(OC) * R, 28)};
      bf->lora_linear_forward(out[0].data(), out[1].data(), workspace.data(), dropped.data(), mid.data(), x.data(),
                              w, a.data(), b.data(), N, R, scale, p, 7, 3);
      bf->lora_linear_backward(out[2].data(), out[3].data(), out[4].data(), workspace.data(), dropped.data(),
                               mid.data(), dy.data(), x.data(), out[1].data(), w, a.data(), b.data(), N, R, scale,
                               p, 7, 3, /*accumulate=*/true);
      return out;
    };
    const auto packed = run();
    std::vector<std::vector<float>> row_major;
    {
      const bf16::RowMajorWeightsOnly row_major_only;
      row_major = run();
    }
    const char* names[] = {"y", "u", "dx", "da", "db"};
    for (size_t t = 0; t < packed.size(); ++t) {
      double largest = 0.0;
      for (float v : row_major[t]) largest = std::max(largest, double(std::fabs(v)));
      EXPECT_LE(max_abs_diff(packed[t].data(), row_major[t].data(), packed[t].size()), 1e-5 * largest)
          << "OC " << OC << ": " << names[t];
    }
  }
}

}  // namespace
}  // namespace loom::test
