// Options of `loom ppo`: the shared training options (training_options.h; [train]
// micro_batch_size is TRL's mini_batch_size, grad_accum_steps its gradient_accumulation_steps,
// max_steps counts PPO steps, learning_rate 1.41e-5, lr_scheduler constant, max_grad_norm 0
// = no clipping, as TRL's PPOConfig) plus
//   [ppo]        TRL PPOConfig: batch_size (rollouts per rank per step), ppo_epochs, the KL
//                controller, clipping, GAE, kl_penalty, early stopping, score scaling
//   [generation] rollout sampling: output_min_length / output_max_length (TRL's LengthSampler,
//                new-token count uniform in [min, max)), top_k, top_p, temperature,
//                stop_at_eos, batch_size (prompts per generate call, one length drawn per call)
//   [reward]     model: a merged reward-model directory, or "afinn" (the lexicon reward,
//                afinn_reward.h); afinn_lexicon, quant, baseline (subtracted from every score)
//   [data]       prompts: manifest.json of the prompts shards (train split); sampling
// Every key, its default and its TRL name: docs/ppo.md.
#pragma once

#include <string>

#include <boost/program_options.hpp>

#include "data/shard_sampler.h"
#include "model/sampling.h"
#include "ppo/ppo_math.h"
#include "quant/quantized_matrix.h"
#include "train/training_options.h"

namespace loom::ppo {

namespace po = boost::program_options;

struct PpoConfig {  // [ppo]
  int batch_size = 256;  // rollouts per rank per PPO step
  int ppo_epochs = 4;
  bool adap_kl_ctrl = true;
  float init_kl_coef = 0.2f;
  float target = 6.0f;
  float horizon = 10000.0f;
  float gamma = 1.0f;
  float lam = 0.95f;
  LossSettings loss;  // cliprange, cliprange_value, vf_coef, ratio_threshold
  KlPenalty kl_penalty = KlPenalty::kl;
  bool early_stopping = false;
  float target_kl = 1.0f;
  bool use_score_scaling = false;
  bool use_score_norm = false;
  float score_clip = 0.0f;  // 0 = no clipping
  bool whiten_rewards = false;
  float value_head_dropout = 0.1f;  // TRL's summary_dropout_prob
  int samples_per_log = 4;          // (prompt, response, reward) lines per logging step
};

struct RolloutGeneration {  // [generation]
  int output_min_length = 4;
  int output_max_length = 16;
  SamplingOptions sampling;  // top_k, top_p, temperature (never greedy)
  bool stop_at_eos = true;
  int batch_size = 4;
};

inline constexpr const char* kAfinnReward = "afinn";

struct RewardSource {  // [reward]
  std::string model;            // a merged reward-model directory, or "afinn"
  std::string afinn_lexicon;
  QuantMode quant = QuantMode::NF4;
  float baseline = 0.0f;
  int batch_size = 4;           // sequences per reward-model forward
  bool is_afinn() const { return model == kAfinnReward; }
};

struct PpoOptions {
  CommonTrainingOptions common;
  PpoConfig ppo;
  RolloutGeneration generation;
  RewardSource reward;
  std::string prompts;  // [data] prompts
  data::Partition sampling = data::Partition::strided;
};

CommonTrainingOptions ppo_training_defaults();
void add_ppo_options(po::options_description& options);
// Reads and validates them; errors name the key.
PpoOptions ppo_options_from(const po::variables_map& values);

}  // namespace loom::ppo
