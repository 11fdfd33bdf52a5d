// Stage 3: the PPO loop of TRL's classic PPOTrainer as an SPMD job. Per PPO step, every rank:
//   1. reads ppo.batch_size prompts and samples responses with the KV-cache generator on the
//      policy (adapter on), one new-token count drawn per generate call from [min, max);
//   2. scores them (the reward model on prompt + response, or AFINN on the response text),
//      minus reward.baseline, optionally scaled / normalised by running moments and clipped;
//   3. computes rollout log-probs and values (policy) and reference log-probs (adapter off),
//      per-token KL rewards, GAE, whitened advantages;
//   4. runs ppo_epochs passes over its rollouts in shuffled minibatches of
//      train.micro_batch_size, one optimizer update every train.grad_accum_steps minibatches
//      (gradients averaged over minibatches and all-reduced over ranks, clipped, AdamW),
//      stopping early when the ranks' mean policy KL exceeds 1.5 x target_kl;
//   5. updates the KL controller with the global mean KL and the global batch size.
// Rank 0 logs TRL's stat names to metrics.jsonl, a progress line and samples to samples.jsonl.
// Output directory, resume, checkpoints (adapter, value head, optimizer, KL controller,
// running moments, data cursor), the NaN/Inf guard and stops are the shared run control
// (train/run_control.h); all randomness is keyed by (seed, step, rank), so resume is
// bit-identical.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/shard_reader.h"
#include "data/shard_sampler.h"
#include "dist/comm.h"
#include "model/generator.h"
#include "model/reward_scorer.h"
#include "ppo/afinn_reward.h"
#include "ppo/kl_controller.h"
#include "ppo/policy_model.h"
#include "ppo/ppo_options.h"
#include "ppo/rollout.h"
#include "train/metrics_log.h"
#include "train/run_control.h"
#include "train/trainable_state.h"

namespace loom::ppo {

inline constexpr const char* kSamplesFileName = "samples.jsonl";

struct PpoOutcome {
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  bool interrupted = false;
  MetricValues first_stats, last_stats;  // the global stats of the first and last step run
};

// The value named `name` in stats (NaN when absent).
double stat_value(const MetricValues& stats, const std::string& name);

// The value head's init: torch.nn.Linear's, U(-1/sqrt(C), 1/sqrt(C)) for weight and bias.
void init_value_head(float* params, const TrainableLayout& layout, uint64_t seed);

class PpoTrainer : private CheckpointedStage {
 public:
  // layout: the policy's LoRA plus a value head (one row with a bias); state holds layout.total().
  // tokenizer: the policy's (required for AFINN and to check the prompts shards).
  PpoTrainer(const PpoOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
             TrainableState& state, const data::Tokenizer& tokenizer, const dist::Comm& comm);
  ~PpoTrainer();

  // Resumes first if train.resume says so.
  PpoOutcome run(const TrainingRun& run);

 private:
  void read_prompts();
  double generate(int64_t step);  // returns the seconds it took
  void score();
  void scale_scores();
  MetricValues optimize(int64_t step, RunControl& control);
  void write_samples(int64_t step);
  // CheckpointedStage: the prompt cursor, the KL coefficient and the score moments.
  nlohmann::json data_cursor() const override;
  void restore_data_cursor(const nlohmann::json& cursor, const std::string& where) override;
  nlohmann::json extra_state() const override;
  void restore_extra_state(const nlohmann::json& extra, const std::string& where) override;

  const PpoOptions& o_;
  const FrozenWeights& base_;
  const TrainableLayout& layout_;
  TrainableState& state_;
  const data::Tokenizer& tokenizer_;
  const dist::Comm& comm_;
  data::ShardReader prompts_;
  data::ShardSampler sampler_;
  Generator generator_;
  PolicyModel policy_;
  RolloutBatcher batcher_;
  std::unique_ptr<AfinnReward> afinn_;
  std::unique_ptr<RewardScorer> scorer_;
  KlController kl_ctl_;
  RunningMoments score_moments_;
  std::vector<Rollout> rollouts_;
  int64_t total_updates_ = 0;
  int warmup_updates_ = 0;  // train.warmup_steps, or warmup_ratio of total_updates_
};

}  // namespace loom::ppo
