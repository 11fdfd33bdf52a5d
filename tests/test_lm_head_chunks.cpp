// The chunked LM-head loss (LmHeadLoss) over several 32-row chunks, the last one partial,
// against a naive reference in double: the full (N, V) logits, log-softmax cross-entropy per row,
// and its gradients with respect to the hidden rows and the head. Ignored targets (< 0) give
// neither loss nor gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu_f32.h"
#include "model/lm_head_loss.h"
#include "support/test_support.h"

namespace loom {
namespace {

constexpr int kN = 100, kC = 24, kV = 70, kChunk = 32;  // chunks of 32, 32, 32 and 4 rows

struct Reference {
  double loss_sum = 0.0;
  int64_t tokens = 0;
  std::vector<double> dhidden, dhead, logprobs;
};

Reference naive(const std::vector<float>& hidden, const std::vector<float>& head, const std::vector<int>& targets,
                double scale) {
  Reference r;
  r.dhidden.assign(size_t(kN) * kC, 0.0);
  r.dhead.assign(size_t(kV) * kC, 0.0);
  r.logprobs.assign(kN, 0.0);
  std::vector<double> logits(kV), p(kV);
  for (int n = 0; n < kN; ++n) {
    double top = -1e300;
    for (int v = 0; v < kV; ++v) {
      double dot = 0.0;
      for (int c = 0; c < kC; ++c) dot += double(hidden[size_t(n) * kC + c]) * head[size_t(v) * kC + c];
      logits[v] = dot;
      top = std::max(top, dot);
    }
    double z = 0.0;
    for (int v = 0; v < kV; ++v) z += std::exp(logits[v] - top);
    const double log_z = top + std::log(z);
    if (targets[n] < 0) continue;
    r.logprobs[n] = logits[targets[n]] - log_z;
    r.loss_sum -= r.logprobs[n];
    ++r.tokens;
    for (int v = 0; v < kV; ++v) {
      const double dlogit = scale * (std::exp(logits[v] - log_z) - (v == targets[n] ? 1.0 : 0.0));
      for (int c = 0; c < kC; ++c) {
        r.dhidden[size_t(n) * kC + c] += dlogit * head[size_t(v) * kC + c];
        r.dhead[size_t(v) * kC + c] += dlogit * hidden[size_t(n) * kC + c];
      }
    }
  }
  return r;
}

// max |a - b| relative to max |b|, and where.
double relative_error(const std::vector<float>& a, const std::vector<double>& b, size_t* worst) {
  double scale = 0.0, diff = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::fabs(b[i]));
    if (std::fabs(a[i] - b[i]) > diff) diff = std::fabs(a[i] - b[i]), *worst = i;
  }
  return diff / scale;
}

class LmHeadChunks : public ::testing::Test {
 protected:
  std::vector<float> hidden = test::random_vector(size_t(kN) * kC, 41, -2.0f, 2.0f);
  std::vector<float> head = test::random_vector(size_t(kV) * kC, 42, -0.5f, 0.5f);
  std::vector<int> targets = [] {
    std::vector<int> t(kN);
    for (int n = 0; n < kN; ++n) t[n] = (n % 7 == 3 || n == kN - 1) ? -1 : (n * 37 + 11) % kV;
    return t;
  }();
};

TEST_F(LmHeadChunks, LossAndGradientsMatchNaiveFullLogits) {
  const float scale = 0.37f;
  const Reference want = naive(hidden, head, targets, scale);
  LmHeadLoss loss(kV, kC, cpu_f32_backend(), kChunk);
  std::vector<float> dhidden(size_t(kN) * kC, 0.0f), dhead(size_t(kV) * kC, 0.0f);
  const LossSums sums = loss.forward_backward(dhidden.data(), dhead.data(), hidden.data(), LmHeadWeight{head.data()},
                                              targets.data(), kN, scale);
  EXPECT_EQ(sums.tokens, want.tokens);
  EXPECT_NEAR(sums.loss_sum, want.loss_sum, 1e-5 * want.loss_sum);
  size_t worst = 0;
  EXPECT_LT(relative_error(dhidden, want.dhidden, &worst), 1e-5) << "d hidden, row " << worst / kC;
  EXPECT_LT(relative_error(dhead, want.dhead, &worst), 1e-5) << "d lm_head, row " << worst / kC;
  for (int n = 0; n < kN; ++n) {
    if (targets[n] >= 0) continue;
    for (int c = 0; c < kC; ++c) ASSERT_EQ(dhidden[size_t(n) * kC + c], 0.0f) << "ignored row " << n;
  }
}

TEST_F(LmHeadChunks, GradientsAccumulateIntoWhatIsThere) {
  LmHeadLoss loss(kV, kC, cpu_f32_backend(), kChunk);
  std::vector<float> once(size_t(kN) * kC, 0.0f), twice(size_t(kN) * kC, 0.0f);
  loss.forward_backward(once.data(), nullptr, hidden.data(), LmHeadWeight{head.data()}, targets.data(), kN, 1.0f);
  loss.forward_backward(twice.data(), nullptr, hidden.data(), LmHeadWeight{head.data()}, targets.data(), kN, 1.0f);
  loss.forward_backward(twice.data(), nullptr, hidden.data(), LmHeadWeight{head.data()}, targets.data(), kN, 1.0f);
  for (size_t i = 0; i < once.size(); ++i) ASSERT_NEAR(twice[i], 2.0f * once[i], 1e-6f + 1e-5f * std::fabs(once[i])) << i;
}

TEST_F(LmHeadChunks, ForwardOnlyAndTargetLogprobsAgree) {
  const Reference want = naive(hidden, head, targets, 1.0);
  LmHeadLoss loss(kV, kC, cpu_f32_backend(), kChunk);
  const LossSums sums = loss.forward_backward(nullptr, nullptr, hidden.data(), LmHeadWeight{head.data()}, targets.data(), kN, 1.0f);
  EXPECT_NEAR(sums.loss_sum, want.loss_sum, 1e-5 * want.loss_sum);
  std::vector<float> logprobs(kN, 5.0f);
  loss.target_logprobs(logprobs.data(), hidden.data(), LmHeadWeight{head.data()}, targets.data(), kN);
  for (int n = 0; n < kN; ++n) EXPECT_NEAR(logprobs[n], want.logprobs[n], 2e-5) << "row " << n;
}

}  // namespace
}  // namespace loom

TEST(LmHeadChunkRows, LogitsOfAChunkStayWithin32MiBAndRowsWithin32To256) {
  using loom::lm_head_chunk_rows;
  EXPECT_EQ(lm_head_chunk_rows(32000), 256);   // Llama-2: the upper bound
  EXPECT_EQ(lm_head_chunk_rows(49152), 170);   // SmolLM2
  EXPECT_EQ(lm_head_chunk_rows(128256), 65);   // Llama-3
  EXPECT_EQ(lm_head_chunk_rows(1 << 20), 32);  // the lower bound
  for (const int V : {1000, 32000, 49152, 65536, 128256, 152064}) {
    const int rows = lm_head_chunk_rows(V);
    EXPECT_GE(rows, 32) << V;
    EXPECT_LE(rows, 256) << V;
    if (rows > 32) EXPECT_LE(size_t(rows) * V * sizeof(float), size_t(32) << 20) << V;
  }
}
