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
// Rank 0 logs TRL's stat names to metrics.jsonl, a progress line, samples to samples.jsonl,
// and writes checkpoints (adapter, value head, optimizer, KL controller, running moments,
// data cursor); all randomness is keyed by (seed, step, rank), so resume is bit-identical.
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
#include "train/trainable_state.h"

namespace loom::ppo {

inline constexpr const char* kValueHeadFileName = "value_head.safetensors";
inline constexpr const char* kValueWeightKey = "v_head.summary.weight";  // (1, C), TRL's ValueHead
inline constexpr const char* kValueBiasKey = "v_head.summary.bias";      // (1)
inline constexpr const char* kSamplesFileName = "samples.jsonl";

struct PpoOutcome {
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  bool interrupted = false;
  MetricValues first_stats, last_stats;  // the global stats of the first and last step run
};

// The value named `name` in stats (NaN when absent).
double stat_value(const MetricValues& stats, const std::string& name);

// Writes dir/value_head.safetensors from params; reads it back.
void save_value_head(const std::string& dir, const TrainableLayout& layout, const float* params);
void load_value_head(const std::string& dir, const TrainableLayout& layout, float* params);

// The value head's init: torch.nn.Linear's, U(-1/sqrt(C), 1/sqrt(C)) for weight and bias.
void init_value_head(float* params, const TrainableLayout& layout, uint64_t seed);

class PpoTrainer {
 public:
  // layout: the policy's LoRA plus a one-row head; state holds policy_parameter_count(layout).
  // tokenizer: the policy's (required for AFINN and to check the prompts shards).
  PpoTrainer(const PpoOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
             TrainableState& state, const data::Tokenizer& tokenizer, const dist::Comm& comm);
  ~PpoTrainer();

  // Resumes first if train.resume says so. config_ini is saved beside each checkpoint.
  PpoOutcome run(const std::string& config_ini, const std::function<void(int64_t step)>& after_step = {});

 private:
  void read_prompts();
  double generate(int64_t step);  // returns the seconds it took
  void score();
  void scale_scores();
  MetricValues optimize(int64_t step);
  void save_checkpoint(int64_t step, const MetricsLog& log, const std::string& config_ini);
  void save_final(const std::string& config_ini);
  int64_t resume_from(const std::string& dir, MetricsLog* log);
  void write_samples(int64_t step);

  const PpoOptions& o_;
  const FrozenWeights& base_;
  const TrainableLayout& layout_;
  TrainableLayout adapter_layout_;  // the LoRA part alone: the PEFT CAUSAL_LM adapter
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
};

}  // namespace loom::ppo
