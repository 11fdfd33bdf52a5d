// Token sampling: greedy, temperature, top-k, top-p (HF semantics and order), log-probs,
// seeded determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "core/check.h"
#include "model/sampling.h"
#include "support/test_support.h"

namespace loom {
namespace {

// Empirical frequency of each token over n seeded draws.
std::vector<double> frequencies(TokenSampler& sampler, const std::vector<float>& logits, const SamplingOptions& o,
                                int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) f[sampler.choose(logits.data(), o, rng).token] += 1.0 / n;
  return f;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double m = logits[0], z = 0.0;
  for (float l : logits) m = std::max(m, double(l));
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp((logits[i] - m) / temperature);
  for (double& x : p) x /= z;
  return p;
}

TEST(Sampling, GreedyIsArgmaxWithModelLogprob) {
  const std::vector<float> logits = test::random_vector(100, 3, -4.0f, 4.0f);
  TokenSampler sampler(100);
  SamplingOptions o;
  o.greedy = true;
  o.temperature = 0.1f;  // ignored, as HF ignores warpers without do_sample
  int argmax = 0;
  for (int i = 1; i < 100; ++i)
    if (logits[i] > logits[argmax]) argmax = i;
  const std::vector<double> p = softmax(logits, 1.0);
  for (float u : {0.0f, 0.5f, 0.999f}) {
    const TokenChoice c = sampler.choose(logits.data(), o, u);
    EXPECT_EQ(argmax, c.token);
    EXPECT_NEAR(std::log(p[argmax]), c.model_logprob, 1e-6);
    EXPECT_EQ(c.logprob, c.model_logprob);
  }
}

TEST(Sampling, PlainSamplingFollowsSoftmaxAndReportsLogprobs) {
  const std::vector<float> logits = {0.0f, 1.0f, -1.0f, 2.0f, 0.5f};
  TokenSampler sampler(5);
  SamplingOptions o;
  const std::vector<double> p = softmax(logits, 1.0);
  const std::vector<double> f = frequencies(sampler, logits, o, 40000, 9);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(p[i], f[i], 0.01) << "token " << i;
  for (float u : {0.01f, 0.3f, 0.7f, 0.99f}) {
    const TokenChoice c = sampler.choose(logits.data(), o, u);
    EXPECT_NEAR(std::log(p[c.token]), c.logprob, 1e-6);
    EXPECT_NEAR(std::log(p[c.token]), c.model_logprob, 1e-6);
  }
  // The draw u walks the cumulative distribution in id order.
  EXPECT_EQ(0, sampler.choose(logits.data(), o, 0.0f).token);
  EXPECT_EQ(4, sampler.choose(logits.data(), o, 0.9999f).token);
}

TEST(Sampling, TemperatureScalesTheSamplingDistributionOnly) {
  const std::vector<float> logits = {0.0f, 1.0f, -1.0f, 2.0f};
  TokenSampler sampler(4);
  for (float t : {0.5f, 2.0f}) {
    SamplingOptions o;
    o.temperature = t;
    const std::vector<double> p = softmax(logits, t), raw = softmax(logits, 1.0);
    const std::vector<double> f = frequencies(sampler, logits, o, 40000, 17);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], f[i], 0.01) << "T " << t << " token " << i;
    const TokenChoice c = sampler.choose(logits.data(), o, 0.42f);
    EXPECT_NEAR(std::log(p[c.token]), c.logprob, 1e-6);
    EXPECT_NEAR(std::log(raw[c.token]), c.model_logprob, 1e-6);
  }
}

TEST(Sampling, TopKKeepsTheKLargestAndRenormalises) {
  const std::vector<float> logits = test::random_vector(50, 5, -3.0f, 3.0f);
  std::vector<int> by_logit(50);
  for (int i = 0; i < 50; ++i) by_logit[i] = i;
  std::sort(by_logit.begin(), by_logit.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  TokenSampler sampler(50);
  SamplingOptions o;
  o.top_k = 3;
  const std::set<int> top(by_logit.begin(), by_logit.begin() + 3);
  const std::vector<double> f = frequencies(sampler, logits, o, 20000, 23);
  double z = 0.0;
  for (int id : top) z += std::exp(double(logits[id]));
  for (int i = 0; i < 50; ++i) {
    const double expected = top.count(i) ? std::exp(double(logits[i])) / z : 0.0;
    EXPECT_NEAR(expected, f[i], 0.012) << "token " << i;
  }
  const TokenChoice c = sampler.choose(logits.data(), o, 0.5f);
  EXPECT_NEAR(double(logits[c.token]) - std::log(z), c.logprob, 1e-6);
  o.top_k = 1;  // top-k 1 is greedy
  EXPECT_EQ(by_logit[0], sampler.choose(logits.data(), o, 0.99f).token);
}

TEST(Sampling, TopKKeepsTiesWithTheKthValue) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 2.0f, 0.0f};  // k = 2: 3 and both 2s stay
  TokenSampler sampler(5);
  SamplingOptions o;
  o.top_k = 2;
  const std::vector<double> f = frequencies(sampler, logits, o, 4000, 29);
  EXPECT_GT(f[2], 0.0);
  EXPECT_GT(f[3], 0.0);
  EXPECT_EQ(0.0, f[0]);
  EXPECT_EQ(0.0, f[4]);
}

// Eight equal logits (probability 1/8 each, exactly) and one whose weight underflows to zero:
// the nucleus size is exact.
int nucleus_size(float top_p) {
  std::vector<float> logits(9, 0.0f);
  logits[8] = -1000.0f;
  TokenSampler sampler(9);
  SamplingOptions o;
  o.top_p = top_p;
  const TokenChoice c = sampler.choose(logits.data(), o, 0.0f);
  return static_cast<int>(std::lround(std::exp(-double(c.logprob))));  // the kept set is uniform
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  EXPECT_EQ(1, nucleus_size(0.01f));   // always at least one token
  EXPECT_EQ(1, nucleus_size(0.125f));  // cumulative 1/8 reaches 0.125 exactly
  EXPECT_EQ(2, nucleus_size(0.126f));
  EXPECT_EQ(4, nucleus_size(0.5f));    // exactly 4/8
  EXPECT_EQ(5, nucleus_size(0.5001f));
  EXPECT_EQ(8, nucleus_size(1.0f - 1e-6f));
  EXPECT_EQ(8, nucleus_size(0.99f));
}

TEST(Sampling, TopPKeepsTheMostProbableTokensAndNoOthers) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f, -1.0f};  // p ~ 0.087, 0.644, 0.237, 0.032
  const std::vector<double> p = softmax(logits, 1.0);
  TokenSampler sampler(4);
  SamplingOptions o;
  o.top_p = 0.8f;  // 0.644 < 0.8 <= 0.644 + 0.237: tokens 1 and 2
  const std::vector<double> f = frequencies(sampler, logits, o, 20000, 31);
  EXPECT_NEAR(p[1] / (p[1] + p[2]), f[1], 0.012);
  EXPECT_NEAR(p[2] / (p[1] + p[2]), f[2], 0.012);
  EXPECT_EQ(0.0, f[0] + f[3]);
  const TokenChoice c = sampler.choose(logits.data(), o, 0.9f);
  EXPECT_EQ(2, c.token);
  EXPECT_NEAR(std::log(p[2] / (p[1] + p[2])), c.logprob, 1e-6);
  EXPECT_NEAR(std::log(p[2]), c.model_logprob, 1e-6);
}

TEST(Sampling, TopPAppliesToTheTemperedTopKDistribution) {
  // HF's order: temperature, then top-k, then top-p on the renormalised top-k distribution.
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f, -5.0f};
  TokenSampler sampler(5);
  SamplingOptions o;
  o.temperature = 2.0f;
  o.top_k = 3;
  o.top_p = 0.6f;
  const std::vector<double> t = softmax({1.5f, 1.0f, 0.5f}, 1.0);  // 0.506, 0.307, 0.186 within the top 3
  const std::vector<double> f = frequencies(sampler, logits, o, 20000, 37);
  EXPECT_NEAR(t[0] / (t[0] + t[1]), f[0], 0.012);
  EXPECT_NEAR(t[1] / (t[0] + t[1]), f[1], 0.012);
  EXPECT_EQ(0.0, f[2] + f[3] + f[4]);
  const TokenChoice c = sampler.choose(logits.data(), o, 0.1f);
  EXPECT_EQ(0, c.token);
  EXPECT_NEAR(std::log(t[0] / (t[0] + t[1])), c.logprob, 1e-6);
  EXPECT_NEAR(std::log(softmax(logits, 1.0)[0]), c.model_logprob, 1e-6);
}

TEST(Sampling, SameSeedSameTokensOtherSeedOtherTokens) {
  const std::vector<float> logits = test::random_vector(1000, 41, -2.0f, 2.0f);
  TokenSampler sampler(1000);
  SamplingOptions o;
  o.top_p = 0.9f;
  o.temperature = 0.8f;
  auto draw = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<int> tokens;
    for (int i = 0; i < 64; ++i) tokens.push_back(sampler.choose(logits.data(), o, rng).token);
    return tokens;
  };
  EXPECT_EQ(draw(1), draw(1));
  EXPECT_NE(draw(1), draw(2));
}

TEST(Sampling, BadOptionsAreOneLineErrors) {
  SamplingOptions o;
  o.temperature = 0.0f;
  EXPECT_THROW(validate_sampling_options(o), Error);
  o = {};
  o.top_p = 0.0f;
  EXPECT_THROW(validate_sampling_options(o), Error);
  o = {};
  o.top_p = 1.5f;
  EXPECT_THROW(validate_sampling_options(o), Error);
  o = {};
  o.top_k = -1;
  EXPECT_THROW(validate_sampling_options(o), Error);
  o = {};
  o.greedy = true;
  o.temperature = 0.0f;
  EXPECT_NO_THROW(validate_sampling_options(o));
}

}  // namespace
}  // namespace loom
