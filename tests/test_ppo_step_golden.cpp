// One PPO step's arithmetic against TRL's classic PPOTrainer (tests/golden/make_golden.py, case
// ppo_step, which reproduces trl 0.11's compute_rewards, compute_advantages, masked_whiten and
// loss in float64): three responses of 5, 3 and 7 tokens. loom's kl_penalty and
// compute_advantages must give TRL's per-token KL, rewards (-beta kl, score at the last token),
// returns and whitened advantages (with and without whiten_rewards); ppo_loss must give TRL's
// loss statistics and the gradients autograd computes for the new log-probs and values.
// A wrong KL sign, advantages left unwhitened or whitened per response cannot pass.
#include <gtest/gtest.h>

#include <cmath>

#include "ppo/rollout.h"
#include "support/golden_file.h"
#include "support/test_support.h"

namespace loom::ppo {
namespace {

class PpoStepGolden : public ::testing::Test {
 protected:
  SafetensorsFile golden{test::golden_path("ppo_step_golden.safetensors")};
  std::vector<int> offsets = test::golden_ints(golden, "offsets");
  std::vector<float> get(const std::string& name) { return test::golden_floats(golden, name); }

  // Rollouts holding the golden log-probs, reference log-probs, values and scores, with the KL
  // computed by loom's kl_penalty ("kl").
  std::vector<Rollout> rollouts() {
    const std::vector<float> lp = get("logprobs"), ref = get("ref_logprobs"), values = get("values"),
                             scores = get("scores");
    std::vector<Rollout> out(offsets.size() - 1);
    for (size_t i = 0; i + 1 < offsets.size(); ++i) {
      Rollout& r = out[i];
      const int begin = offsets[i], R = offsets[i + 1] - offsets[i];
      r.response.assign(R, 5);
      r.logprobs.assign(lp.begin() + begin, lp.begin() + begin + R);
      r.ref_logprobs.assign(ref.begin() + begin, ref.begin() + begin + R);
      r.values.assign(values.begin() + begin, values.begin() + begin + R);
      r.score = scores[i];
      r.kl.resize(R);
      kl_penalty(r.kl.data(), r.logprobs.data(), r.ref_logprobs.data(), R, KlPenalty::kl);
    }
    return out;
  }

  static std::vector<float> flat(const std::vector<Rollout>& rs, std::vector<float> Rollout::*field) {
    std::vector<float> out;
    for (const Rollout& r : rs) out.insert(out.end(), (r.*field).begin(), (r.*field).end());
    return out;
  }
};

TEST_F(PpoStepGolden, KlRewardsAdvantagesReturnsMatchTrl) {
  const std::vector<float> bgl = get("beta_gamma_lam");
  for (const bool whiten_rewards : {false, true}) {
    SCOPED_TRACE(whiten_rewards ? "whiten_rewards" : "plain rewards");
    std::vector<Rollout> rs = rollouts();
    compute_advantages(rs, bgl[0], bgl[1], bgl[2], whiten_rewards);
    const std::string suffix = whiten_rewards ? ".whiten_rewards" : "";
    EXPECT_LT(test::max_abs_diff(flat(rs, &Rollout::kl).data(), get("kl").data(), get("kl").size()), 1e-6) << "kl";
    if (!whiten_rewards) {  // TRL returns the rewards before whitening; loom keeps the whitened ones
      EXPECT_LT(test::max_abs_diff(flat(rs, &Rollout::rewards).data(), get("rewards").data(), get("rewards").size()),
                1e-6)
          << "rewards";
    }
    const std::vector<float> adv = flat(rs, &Rollout::advantages), ret = flat(rs, &Rollout::returns);
    EXPECT_LT(test::max_abs_diff(adv.data(), get("advantages" + suffix).data(), adv.size()), 1e-5) << "advantages";
    EXPECT_LT(test::max_abs_diff(ret.data(), get("returns" + suffix).data(), ret.size()), 1e-5) << "returns";
  }
}

TEST_F(PpoStepGolden, MinibatchLossStatsAndGradientsMatchTrl) {
  const std::vector<float> settings = get("cliprange_cliprange_value_vf_coef");
  const std::vector<float> new_lp = get("new_logprobs"), old_lp = get("logprobs"), adv = get("advantages"),
                           vpreds = get("vpreds"), old_values = get("values"), returns = get("returns");
  LossInputs in{new_lp.data(), old_lp.data(), adv.data(), vpreds.data(), old_values.data(), returns.data(),
                new_lp.size()};
  LossSettings s;
  s.cliprange = settings[0];
  s.cliprange_value = settings[1];
  s.vf_coef = settings[2];
  std::vector<float> dlp(in.n), dv(in.n);
  const LossStats st = ppo_loss(dlp.data(), dv.data(), in, s, 1.0f);
  EXPECT_FALSE(st.skipped);
  const std::vector<std::pair<const char*, double>> stats = {
      {"pg_loss", st.pg_loss},         {"vf_loss", st.vf_loss},         {"loss", st.loss},
      {"pg_clipfrac", st.pg_clipfrac}, {"vf_clipfrac", st.vf_clipfrac}, {"approxkl", st.approxkl},
      {"policykl", st.policykl}};
  for (const auto& [name, value] : stats)
    EXPECT_NEAR(value, get(std::string("stats.") + name)[0], 1e-6) << name;
  EXPECT_LT(test::max_abs_diff(dlp.data(), get("dlogprobs").data(), in.n), 1e-6) << "d loss / d logprobs";
  EXPECT_LT(test::max_abs_diff(dv.data(), get("dvpreds").data(), in.n), 1e-6) << "d loss / d values";
}

}  // namespace
}  // namespace loom::ppo
