#include "ppo/ppo_options.h"

#include "core/check.h"
#include "train/option_values.h"

namespace loom::ppo {

CommonTrainingOptions ppo_training_defaults() {
  CommonTrainingOptions d;
  d.train.micro_batch_size = 1;  // TRL mini_batch_size
  d.train.grad_accum_steps = 1;
  d.train.learning_rate = 1.41e-5;
  d.train.lr_scheduler = LrScheduleKind::Constant;
  d.train.max_grad_norm = 0.0f;  // TRL: max_grad_norm None
  d.train.logging_steps = 1;
  d.train.save_steps = 10;
  d.train.max_steps = 100;
  return d;
}

void add_ppo_options(po::options_description& options) {
  add_common_training_options(options, ppo_training_defaults());
  const PpoConfig p;
  const RolloutGeneration g;
  const RewardSource r;
  options.add_options()
      ("ppo.batch_size", with_default(p.batch_size), "rollouts per rank per PPO step")
      ("ppo.ppo_epochs", with_default(p.ppo_epochs), "optimisation passes over each batch of rollouts")
      ("ppo.adap_kl_ctrl", with_default(p.adap_kl_ctrl), "adaptive KL coefficient (false: fixed init_kl_coef)")
      ("ppo.init_kl_coef", with_default(p.init_kl_coef), "initial KL coefficient beta")
      ("ppo.target", with_default(p.target), "adaptive controller: target KL")
      ("ppo.horizon", with_default(p.horizon), "adaptive controller: horizon")
      ("ppo.gamma", with_default(p.gamma), "GAE discount")
      ("ppo.lam", with_default(p.lam), "GAE lambda")
      ("ppo.cliprange", with_default(p.loss.cliprange), "policy ratio clip")
      ("ppo.cliprange_value", with_default(p.loss.cliprange_value), "value clip around the rollout values")
      ("ppo.vf_coef", with_default(p.loss.vf_coef), "value loss coefficient")
      ("ppo.ratio_threshold", with_default(p.loss.ratio_threshold), "skip a minibatch whose mean ratio exceeds this")
      ("ppo.kl_penalty", with_default<std::string>(kl_penalty_name(p.kl_penalty)), "kl | abs | mse | full")
      ("ppo.early_stopping", with_default(p.early_stopping), "stop the epochs when policy KL > 1.5 x target_kl")
      ("ppo.target_kl", with_default(p.target_kl), "early stopping threshold")
      ("ppo.use_score_scaling", with_default(p.use_score_scaling), "divide scores by their running std")
      ("ppo.use_score_norm", with_default(p.use_score_norm), "with scaling: also subtract the running mean")
      ("ppo.score_clip", with_default(p.score_clip), "clip scores to [-x, x]; 0 = off")
      ("ppo.whiten_rewards", with_default(p.whiten_rewards), "whiten the per-token rewards before GAE")
      ("ppo.value_head_dropout", with_default(p.value_head_dropout), "dropout on the value head's input")
      ("ppo.samples_per_log", with_default(p.samples_per_log), "(prompt, response, reward) samples per logging step")
      ("generation.output_min_length", with_default(g.output_min_length), "fewest new tokens (inclusive)")
      ("generation.output_max_length", with_default(g.output_max_length), "most new tokens (exclusive)")
      ("generation.top_k", with_default(g.sampling.top_k), "0 = off")
      ("generation.top_p", with_default(g.sampling.top_p), "1 = off")
      ("generation.temperature", with_default(g.sampling.temperature), "sampling temperature")
      ("generation.stop_at_eos", with_default(g.stop_at_eos), "false: every response runs to its drawn length")
      ("generation.batch_size", with_default(g.batch_size), "prompts per generate call (one length drawn per call)")
      ("reward.model", po::value<std::string>()->required(), "merged reward-model directory, or afinn")
      ("reward.afinn_lexicon", with_default<std::string>("../shared/data/afinn/words.csv"), "AFINN words.csv")
      ("reward.quant", with_default<std::string>(quant_mode_name(r.quant)), "reward model storage: nf4 | int8 | bf16 | f32")
      ("reward.baseline", with_default(r.baseline), "subtracted from every score (StackLLaMA's reward_baseline)")
      ("reward.batch_size", with_default(r.batch_size), "sequences per reward-model forward")
      ("data.prompts", po::value<std::string>()->required(), "manifest.json of the prompts shards")
      ("data.sampling", with_default<std::string>("strided"), "strided | block: how ranks split the prompts");
}

PpoOptions ppo_options_from(const po::variables_map& values) {
  PpoOptions o;
  o.common = common_training_options_from(values);
  o.common.lora.task_type = "CAUSAL_LM";
  PpoConfig& p = o.ppo;
  p.batch_size = positive_int(values, "ppo.batch_size");
  p.ppo_epochs = positive_int(values, "ppo.ppo_epochs");
  p.adap_kl_ctrl = option<bool>(values, "ppo.adap_kl_ctrl");
  p.init_kl_coef = non_negative_float(values, "ppo.init_kl_coef");
  p.target = positive_float(values, "ppo.target");
  p.horizon = positive_float(values, "ppo.horizon");
  p.gamma = non_negative_float(values, "ppo.gamma");
  p.lam = non_negative_float(values, "ppo.lam");
  p.loss.cliprange = non_negative_float(values, "ppo.cliprange");
  p.loss.cliprange_value = non_negative_float(values, "ppo.cliprange_value");
  p.loss.vf_coef = non_negative_float(values, "ppo.vf_coef");
  p.loss.ratio_threshold = positive_float(values, "ppo.ratio_threshold");
  p.kl_penalty = kl_penalty_from_name(option<std::string>(values, "ppo.kl_penalty"), "ppo.kl_penalty");
  p.early_stopping = option<bool>(values, "ppo.early_stopping");
  p.target_kl = positive_float(values, "ppo.target_kl");
  p.use_score_scaling = option<bool>(values, "ppo.use_score_scaling");
  p.use_score_norm = option<bool>(values, "ppo.use_score_norm");
  p.score_clip = non_negative_float(values, "ppo.score_clip");
  p.whiten_rewards = option<bool>(values, "ppo.whiten_rewards");
  p.value_head_dropout = option<float>(values, "ppo.value_head_dropout");
  LOOM_REQUIRE(p.value_head_dropout >= 0.0f && p.value_head_dropout < 1.0f,
               "ppo.value_head_dropout must be in [0, 1), got ", p.value_head_dropout);
  p.samples_per_log = option<int>(values, "ppo.samples_per_log");
  LOOM_REQUIRE(p.samples_per_log >= 0, "ppo.samples_per_log must be 0 or more, got ", p.samples_per_log);
  const int backward_batch = o.common.train.micro_batch_size * o.common.train.grad_accum_steps;
  LOOM_REQUIRE(p.batch_size % backward_batch == 0, "ppo.batch_size (", p.batch_size,
               ") must be a multiple of train.per_device_train_batch_size x train.gradient_accumulation_steps (",
               backward_batch, ")");

  RolloutGeneration& g = o.generation;
  g.output_min_length = positive_int(values, "generation.output_min_length");
  g.output_max_length = positive_int(values, "generation.output_max_length");
  LOOM_REQUIRE(g.output_max_length > g.output_min_length, "generation.output_max_length (", g.output_max_length,
               ") must exceed output_min_length (", g.output_min_length, "): lengths are drawn from [min, max)");
  g.sampling.top_k = option<int>(values, "generation.top_k");
  g.sampling.top_p = option<float>(values, "generation.top_p");
  g.sampling.temperature = option<float>(values, "generation.temperature");
  validate_sampling_options(g.sampling);
  g.stop_at_eos = option<bool>(values, "generation.stop_at_eos");
  g.batch_size = positive_int(values, "generation.batch_size");

  RewardSource& r = o.reward;
  r.model = option<std::string>(values, "reward.model");
  LOOM_REQUIRE(!r.model.empty(), "reward.model must name a reward-model directory or afinn");
  r.afinn_lexicon = option<std::string>(values, "reward.afinn_lexicon");
  r.quant = parse_quant_mode(option<std::string>(values, "reward.quant"));
  r.baseline = option<float>(values, "reward.baseline");
  r.batch_size = positive_int(values, "reward.batch_size");

  o.prompts = option<std::string>(values, "data.prompts");
  LOOM_REQUIRE(!o.prompts.empty(), "data.prompts must not be empty");
  o.sampling = data::parse_partition(option<std::string>(values, "data.sampling"), "data.sampling");
  return o;
}

}  // namespace loom::ppo
