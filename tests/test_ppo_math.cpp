// PPO arithmetic: GAE against a hand-computed example, the KL penalties and per-token rewards,
// whitening, the clipped losses and their gradients against finite differences, the ratio
// guard, the adaptive KL controller against TRL's formula, running score moments, AFINN.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <vector>

#include "ppo/afinn_reward.h"
#include "ppo/kl_controller.h"
#include "ppo/ppo_math.h"
#include "support/test_support.h"

namespace loom::ppo {
namespace {

TEST(PpoMath, GaeMatchesHandComputedExample) {
  // gamma 0.9, lam 0.8:
  //   t=2: delta = 2 - 1.5 = 0.5                     A = 0.5
  //   t=1: delta = 0 + 0.9 * 1.5 - 1 = 0.35           A = 0.35 + 0.72 * 0.5 = 0.71
  //   t=0: delta = 1 + 0.9 * 1 - 0.5 = 1.4            A = 1.4 + 0.72 * 0.71 = 1.9112
  const float rewards[3] = {1.0f, 0.0f, 2.0f}, values[3] = {0.5f, 1.0f, 1.5f};
  float adv[3], ret[3];
  gae(adv, ret, rewards, values, 3, 0.9f, 0.8f);
  const float want_adv[3] = {1.9112f, 0.71f, 0.5f};
  for (int t = 0; t < 3; ++t) {
    EXPECT_NEAR(adv[t], want_adv[t], 1e-6) << t;
    EXPECT_NEAR(ret[t], want_adv[t] + values[t], 1e-6) << t;
  }
}

TEST(PpoMath, KlPenaltiesAndTokenRewards) {
  const float lp[3] = {-1.0f, -2.0f, -0.5f}, ref[3] = {-1.5f, -1.0f, -0.5f};
  float kl[3], rewards[3];
  kl_penalty(kl, lp, ref, 3, KlPenalty::kl);
  EXPECT_FLOAT_EQ(kl[0], 0.5f);
  EXPECT_FLOAT_EQ(kl[1], -1.0f);
  kl_penalty(kl, lp, ref, 3, KlPenalty::abs);
  EXPECT_FLOAT_EQ(kl[1], 1.0f);
  kl_penalty(kl, lp, ref, 3, KlPenalty::mse);
  EXPECT_FLOAT_EQ(kl[0], 0.125f);
  EXPECT_FLOAT_EQ(kl[1], 0.5f);
  kl_penalty(kl, lp, ref, 3, KlPenalty::kl);
  token_rewards(rewards, kl, 3, 0.2f, 3.0f);
  EXPECT_FLOAT_EQ(rewards[0], -0.1f);
  EXPECT_FLOAT_EQ(rewards[1], 0.2f);
  EXPECT_FLOAT_EQ(rewards[2], 3.0f);  // zero KL + the score at the last token
  EXPECT_THROW(kl_penalty_from_name("kll", "ppo.kl_penalty"), std::exception);
}

TEST(PpoMath, WhitenGivesZeroMeanUnitUnbiasedVariance) {
  std::vector<float> x = {1.0f, 2.0f, 4.0f, 7.0f, -3.0f};
  whiten(x.data(), x.size(), true);
  const MeanVar mv = mean_var(x.data(), x.size(), true);
  EXPECT_NEAR(mv.mean, 0.0, 1e-6);
  EXPECT_NEAR(mv.var, 1.0, 1e-5);
  std::vector<float> y = {1.0f, 2.0f, 4.0f, 7.0f, -3.0f};
  whiten(y.data(), y.size(), false);  // the mean is kept
  EXPECT_NEAR(mean_var(y.data(), y.size(), true).mean, 2.2, 1e-5);
}

struct LossCase {
  std::vector<float> logprobs, old, adv, vpreds, old_values, returns;
  LossInputs view() const {
    return {logprobs.data(), old.data(), adv.data(), vpreds.data(), old_values.data(), returns.data(), logprobs.size()};
  }
};

// Ratios spread over [0.6, 1.5] and values over [-0.5, 0.5] around the old ones, kept away
// from the clip boundaries (|log ratio - log(1 +- 0.2)| and |v - v_old +- 0.2| > 0.02), so
// the finite differences never straddle a kink.
LossCase loss_case() {
  LossCase c;
  const std::vector<float> u = test::random_vector(64, 5, 0.0f, 1.0f);
  for (int i = 0; i < 16; ++i) {
    float log_ratio = std::log(0.6f + 0.9f * u[i]);
    for (float edge : {std::log(0.8f), std::log(1.2f)})
      if (std::fabs(log_ratio - edge) < 0.02f) log_ratio = edge + 0.05f;
    float dv = -0.5f + u[16 + i];
    for (float edge : {-0.2f, 0.2f})
      if (std::fabs(dv - edge) < 0.02f) dv = edge + 0.05f;
    c.old.push_back(-1.0f - u[32 + i]);
    c.logprobs.push_back(c.old.back() + log_ratio);
    c.adv.push_back(i % 2 == 0 ? 0.5f + u[48 + i] : -0.5f - u[48 + i]);
    c.old_values.push_back(u[48 + i] - 0.3f);
    c.vpreds.push_back(c.old_values.back() + dv);
    c.returns.push_back(c.old_values.back() + (i % 3 == 0 ? 0.6f : -0.4f));
  }
  return c;
}

TEST(PpoMath, ClippedLossGradientsMatchFiniteDifferences) {
  LossCase c = loss_case();
  const LossSettings settings;
  const size_t n = c.logprobs.size();
  std::vector<float> dlp(n), dv(n), scratch1(n), scratch2(n);
  const LossStats st = ppo_loss(dlp.data(), dv.data(), c.view(), settings, 1.0f);
  EXPECT_GT(st.pg_clipfrac, 0.0);
  EXPECT_LT(st.pg_clipfrac, 1.0);
  EXPECT_GT(st.vf_clipfrac, 0.0);
  EXPECT_LT(st.vf_clipfrac, 1.0);
  const double h = 1e-3;
  for (size_t i = 0; i < n; ++i) {
    for (std::vector<float>* field : {&c.logprobs, &c.vpreds}) {
      const float saved = (*field)[i];
      (*field)[i] = float(saved + h);
      const double plus = ppo_loss(scratch1.data(), scratch2.data(), c.view(), settings, 1.0f).loss;
      (*field)[i] = float(saved - h);
      const double minus = ppo_loss(scratch1.data(), scratch2.data(), c.view(), settings, 1.0f).loss;
      (*field)[i] = saved;
      const double analytic = field == &c.logprobs ? dlp[i] : dv[i];
      EXPECT_NEAR((plus - minus) / (2 * h), analytic, 1e-4 + 1e-3 * std::fabs(analytic))
          << (field == &c.logprobs ? "logprob " : "value ") << i;
    }
  }
  // grad_scale scales the gradients only.
  std::vector<float> dlp_half(n), dv_half(n);
  const LossStats half = ppo_loss(dlp_half.data(), dv_half.data(), c.view(), settings, 0.5f);
  EXPECT_DOUBLE_EQ(half.loss, st.loss);
  for (size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(dlp_half[i], 0.5f * dlp[i]);
}

TEST(PpoMath, LossStatsFollowTrlDefinitions) {
  LossCase c;
  c.logprobs = {-1.0f, -2.0f};
  c.old = {-1.0f, -1.0f};
  c.adv = {1.0f, -1.0f};
  c.vpreds = {0.5f, 0.0f};
  c.old_values = {0.5f, 0.0f};
  c.returns = {1.0f, 0.0f};
  std::vector<float> dlp(2), dv(2);
  const LossStats st = ppo_loss(dlp.data(), dv.data(), c.view(), LossSettings{}, 1.0f);
  const double r1 = std::exp(-1.0);
  // token 0: ratio 1 -> pg -1; token 1: ratio e^-1 < 0.8, A = -1: max(r1, 0.8) = 0.8 (clipped).
  EXPECT_NEAR(st.pg_loss, (-1.0 + 0.8) / 2, 1e-6);
  EXPECT_NEAR(st.pg_clipfrac, 0.5, 1e-12);
  EXPECT_NEAR(st.vf_loss, 0.5 * (0.25 + 0.0) / 2, 1e-6);
  EXPECT_NEAR(st.approxkl, 0.5 * (0.0 + 1.0) / 2, 1e-6);
  EXPECT_NEAR(st.policykl, 0.5, 1e-6);
  EXPECT_NEAR(st.ratio_mean, (1.0 + r1) / 2, 1e-6);
  EXPECT_FLOAT_EQ(dlp[1], 0.0f);  // clipped: no gradient
  EXPECT_NEAR(st.loss, st.pg_loss + 0.1 * st.vf_loss, 1e-8);
}

TEST(PpoMath, RatioThresholdSkipsTheMinibatch) {
  LossCase c = loss_case();
  for (float& lp : c.logprobs) lp += 3.0f;  // ratios ~ 20
  std::vector<float> dlp(c.logprobs.size()), dv(c.logprobs.size());
  const LossStats st = ppo_loss(dlp.data(), dv.data(), c.view(), LossSettings{}, 1.0f);
  EXPECT_TRUE(st.skipped);
  EXPECT_EQ(st.loss, 0.0);
  for (size_t i = 0; i < dlp.size(); ++i) {
    EXPECT_EQ(dlp[i], 0.0f);
    EXPECT_EQ(dv[i], 0.0f);
  }
}

TEST(KlController, AdaptiveUpdateFollowsTrlFormula) {
  // value *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon
  KlController ctl(true, 0.2, 6.0, 10000.0);
  ctl.update(9.0, 256);  // error 0.5 -> clipped to 0.2
  EXPECT_DOUBLE_EQ(ctl.value(), 0.2 * (1.0 + 0.2 * 256 / 10000.0));
  const double before = ctl.value();
  ctl.update(6.6, 16);  // error 0.1
  EXPECT_DOUBLE_EQ(ctl.value(), before * (1.0 + (6.6 / 6.0 - 1.0) * 16 / 10000.0));
  const double before2 = ctl.value();
  ctl.update(-3.0, 16);  // error -1.5 -> -0.2
  EXPECT_DOUBLE_EQ(ctl.value(), before2 * (1.0 - 0.2 * 16 / 10000.0));
  KlController fixed(false, 0.2, 6.0, 10000.0);
  fixed.update(100.0, 256);
  EXPECT_DOUBLE_EQ(fixed.value(), 0.2);
}

TEST(RunningMoments, TwoBatchesGiveTheMomentsOfTheirUnion) {
  const std::vector<float> a = {1.0f, 2.0f, 6.0f}, b = {-1.0f, 4.0f, 3.0f, 0.0f};
  RunningMoments m;
  for (const std::vector<float>* x : {&a, &b}) {
    const MeanVar mv = mean_var(x->data(), x->size(), false);
    m.update(mv.mean, mv.var, double(x->size()));
  }
  std::vector<float> all = a;
  all.insert(all.end(), b.begin(), b.end());
  const MeanVar want = mean_var(all.data(), all.size(), false);
  EXPECT_NEAR(m.mean, want.mean, 1e-9);
  EXPECT_NEAR(m.var, want.var, 1e-9);
  EXPECT_NEAR(m.std, std::sqrt(mean_var(all.data(), all.size(), true).var), 1e-9);
  EXPECT_NEAR(m.count, 7.0, 1e-9);
}

TEST(AfinnReward, MeanValenceOfLexiconWords) {
  const std::string dir = test::scratch_dir("afinn");
  {
    std::ofstream f(dir + "/words.csv");
    f << "word,valence\ngood,3\nbad,-3\ncan't stand,-3\nwell-known,2\n";
  }
  const AfinnReward afinn(dir + "/words.csv");
  EXPECT_EQ(afinn.size(), 4u);
  EXPECT_FLOAT_EQ(afinn.score("A GOOD day, a bad night; good!"), 1.0f);  // (3 - 3 + 3) / 3
  EXPECT_FLOAT_EQ(afinn.score("nothing here"), 0.0f);
  EXPECT_FLOAT_EQ(afinn.score("well-known"), 2.0f);
  EXPECT_FLOAT_EQ(afinn.score("I can't stand it"), 0.0f);  // phrases never match single words
  {
    std::ofstream f(dir + "/bad.csv");
    f << "word,valence\ngood\n";
  }
  EXPECT_THROW(AfinnReward(dir + "/bad.csv"), std::exception);
}

TEST(AfinnReward, LoadsTheSharedLexicon) {
  const AfinnReward afinn(test::shared_dir() + "/data/afinn/words.csv");
  EXPECT_GT(afinn.size(), 2400u);
  EXPECT_GT(afinn.score("what a wonderful and happy day"), 2.0f);
  EXPECT_LT(afinn.score("terrible awful"), -2.0f);
}

}  // namespace
}  // namespace loom::ppo
