#include "ppo/ppo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/rng.h"
#include "train/lr_schedule.h"
#include "train/training_length.h"

namespace loom::ppo {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Streams of the per-step random numbers: (train.seed, stream, step) seeds an Rng per rank.
enum : uint64_t { kGenerationStream = 1, kShuffleStream = 2, kDropoutStream = 3 };

uint64_t step_seed(uint64_t seed, uint64_t stream, int64_t step) { return random_bits(seed, stream, uint64_t(step)); }

// Means over all ranks of values that are already per-rank means.
void average_over_ranks(std::vector<double>* values, const dist::Comm& comm) {
  if (comm.world == 1) return;
  comm.allreduce_sum(values->data(), values->size());
  for (double& v : *values) v /= comm.world;
}

}  // namespace

double stat_value(const MetricValues& stats, const std::string& name) {
  for (const auto& [key, value] : stats)
    if (key == name) return value;
  return std::numeric_limits<double>::quiet_NaN();
}

void init_value_head(float* params, const TrainableLayout& layout, uint64_t seed) {
  Rng rng(seed, /*stream=*/0x5648656164ull);  // "VHead"
  const float bound = 1.0f / std::sqrt(float(layout.head_cols()));
  float* w = params + value_weight_offset(layout);
  for (int c = 0; c < layout.head_cols(); ++c) w[c] = bound * (2.0f * rng.uniform() - 1.0f);
  params[value_bias_offset(layout)] = bound * (2.0f * rng.uniform() - 1.0f);
}

PpoTrainer::PpoTrainer(const PpoOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
                       TrainableState& state, const data::Tokenizer& tokenizer, const dist::Comm& comm)
    : o_(options),
      base_(base),
      layout_(layout),
      state_(state),
      tokenizer_(tokenizer),
      comm_(comm),
      prompts_(options.prompts, "train", data::ShardKind::prompts, &tokenizer),
      sampler_(prompts_.num_records(), options.common.train.seed, comm.rank, comm.world, options.sampling),
      generator_(base, layout, options.generation.batch_size,
                 prompts_.row_len() + options.generation.output_max_length, state.backend()),
      policy_(base, layout, options.common.train.micro_batch_size,
              prompts_.row_len() + options.generation.output_max_length, options.common.model.gradient_checkpointing,
              state.backend()),
      batcher_(options.common.train.micro_batch_size, prompts_.row_len() + options.generation.output_max_length),
      kl_ctl_(options.ppo.adap_kl_ctrl, options.ppo.init_kl_coef, options.ppo.target, options.ppo.horizon) {
  require_within_positions(base.config(), int64_t(prompts_.row_len()) + options.generation.output_max_length,
                           options.prompts + ": max_prompt_len + generation.output_max_length");
  LOOM_REQUIRE(state.count() == layout.total(), "PpoTrainer: the state holds ", state.count(),
               " parameters, the policy needs ", layout.total());
  LOOM_REQUIRE(sampler_.records_per_rank() >= options.ppo.batch_size, options.prompts, ": ", prompts_.num_records(),
               " prompts give each of ", comm.world, " rank(s) fewer than ppo.batch_size = ", options.ppo.batch_size);
  if (options.reward.is_afinn()) {
    afinn_ = std::make_unique<AfinnReward>(options.reward.afinn_lexicon);
  } else {
    scorer_ = std::make_unique<RewardScorer>(options.reward.model, "", options.reward.quant, options.reward.batch_size,
                                             prompts_.row_len() + options.generation.output_max_length,
                                             state.backend());
  }
  const int64_t minibatches = options.ppo.batch_size / options.common.train.micro_batch_size;
  const int64_t updates_per_step = options.ppo.ppo_epochs * minibatches / options.common.train.grad_accum_steps;
  total_updates_ = updates_per_step * options.common.train.max_steps;
  warmup_updates_ = warmup_steps_for(options.common.train.warmup_steps, options.common.train.warmup_ratio, total_updates_);
}

PpoTrainer::~PpoTrainer() = default;

void PpoTrainer::read_prompts() {
  const int B = o_.ppo.batch_size;
  rollouts_.assign(B, Rollout{});
  std::vector<int32_t> row(prompts_.row_len());
  for (Rollout& r : rollouts_) {
    int32_t length = 0;
    prompts_.read_prompt(sampler_.next(), row.data(), &length, &r.query_text);
    r.query.assign(row.begin(), row.begin() + length);
  }
}

double PpoTrainer::generate(int64_t step) {
  const auto start = Clock::now();
  const RolloutGeneration& g = o_.generation;
  Rng rng(step_seed(o_.common.train.seed, kGenerationStream, step), uint64_t(comm_.rank));
  GenerationOptions options;
  options.sampling = g.sampling;
  options.stop_at_eos = g.stop_at_eos;
  options.eos_id = tokenizer_.eos_id();
  const LoraContext lora{&layout_, state_.params(), nullptr, 0.0f, 0, true};
  std::vector<std::vector<int>> prompts;
  for (int first = 0; first < int(rollouts_.size()); first += g.batch_size) {
    const int count = std::min(g.batch_size, int(rollouts_.size()) - first);
    options.max_new_tokens = g.output_min_length + int(rng.below(uint64_t(g.output_max_length - g.output_min_length)));
    prompts.clear();
    for (int i = 0; i < count; ++i) prompts.push_back(rollouts_[first + i].query);
    GenerationResult result = generator_.generate(prompts, options, lora, rng);
    for (int i = 0; i < count; ++i) rollouts_[first + i].response = std::move(result.rows[i].tokens);
  }
  return seconds_since(start);
}

void PpoTrainer::score() {
  if (afinn_) {
    for (Rollout& r : rollouts_) {
      const std::vector<int32_t> ids(r.response.begin(), r.response.end());
      r.raw_score = afinn_->score(tokenizer_.decode(ids.data(), ids.size()));
    }
    return;
  }
  std::vector<std::vector<int>> sequences;
  for (const Rollout& r : rollouts_) {
    sequences.push_back(r.query);
    sequences.back().insert(sequences.back().end(), r.response.begin(), r.response.end());
  }
  const std::vector<float> rewards = scorer_->score(sequences);
  for (size_t i = 0; i < rollouts_.size(); ++i) rollouts_[i].raw_score = rewards[i];
}

void PpoTrainer::scale_scores() {
  const PpoConfig& p = o_.ppo;
  for (Rollout& r : rollouts_) r.score = r.raw_score - o_.reward.baseline;
  if (p.use_score_scaling) {
    std::vector<double> sums = {0.0, 0.0, double(rollouts_.size())};  // sum, sum of squares, count
    for (const Rollout& r : rollouts_) {
      sums[0] += r.score;
      sums[1] += double(r.score) * r.score;
    }
    comm_.allreduce_sum(sums.data(), sums.size());
    const double mean = sums[0] / sums[2];
    score_moments_.update(mean, std::max(0.0, sums[1] / sums[2] - mean * mean), sums[2]);
    const double factor = score_moments_.std + std::numeric_limits<float>::epsilon();
    for (Rollout& r : rollouts_)
      r.score = float(p.use_score_norm ? (r.score - score_moments_.mean) / factor : r.score / factor);
  }
  if (p.score_clip > 0.0f)
    for (Rollout& r : rollouts_) r.score = std::clamp(r.score, -p.score_clip, p.score_clip);
}

MetricValues PpoTrainer::optimize(int64_t step, RunControl& control) {
  const PpoConfig& p = o_.ppo;
  const TrainOptions& train = o_.common.train;
  const int B = int(rollouts_.size()), micro = train.micro_batch_size, accum = train.grad_accum_steps;
  const AdamWSettings adamw{train.adam_beta1, train.adam_beta2, train.adam_epsilon, train.weight_decay};
  LoraContext lora{&layout_, state_.params(), state_.grads(), layout_.spec().dropout, 0, true};

  // Sums over minibatches of TRL's train stats, in this order.
  enum { kPg, kVf, kLoss, kEntropy, kApproxKl, kPolicyKl, kClipfrac, kAdvMean, kRatio, kRetMean, kRetVar,
         kVpred, kValError, kValClipfrac, kValMean, kValVar, kCount };
  std::vector<double> sums(kCount, 0.0);
  int minibatches = 0, updates = 0;
  bool early_stop = false;
  std::vector<int> order(B), ids;
  std::vector<double> last_losses(accum, 0.0);
  std::vector<float> logprobs, entropy, values, old_logprobs, advantages, old_values, returns, dlogprobs, dvalues;
  Rng shuffle(step_seed(train.seed, kShuffleStream, step), uint64_t(comm_.rank));
  float grad_norm = 0.0f, lr = 0.0f;
  for (int epoch = 0; epoch < p.ppo_epochs && !early_stop; ++epoch) {
    for (int i = 0; i < B; ++i) order[i] = i;
    for (int i = B - 1; i > 0; --i) std::swap(order[i], order[shuffle.below(uint64_t(i) + 1)]);
    for (int first = 0; first < B && !early_stop; first += micro * accum) {
      state_.zero_grads();
      for (int m = 0; m < accum; ++m) {
        ids.assign(order.begin() + first + m * micro, order.begin() + first + (m + 1) * micro);
        old_logprobs.clear();
        advantages.clear();
        old_values.clear();
        returns.clear();
        for (int id : ids) {
          const Rollout& r = rollouts_[id];
          old_logprobs.insert(old_logprobs.end(), r.logprobs.begin(), r.logprobs.end());
          advantages.insert(advantages.end(), r.advantages.begin(), r.advantages.end());
          old_values.insert(old_values.end(), r.values.begin(), r.values.end());
          returns.insert(returns.end(), r.returns.begin(), r.returns.end());
        }
        const size_t k = old_logprobs.size();
        logprobs.resize(k);
        entropy.resize(k);
        values.resize(k);
        dlogprobs.resize(k);
        dvalues.resize(k);
        lora.dropout_seed = random_bits(step_seed(train.seed, kDropoutStream, step), uint64_t(minibatches),
                                        uint64_t(comm_.rank));
        const TokenBatch batch = batcher_.pack(rollouts_, ids.data(), int(ids.size()));
        policy_.forward({logprobs.data(), entropy.data(), values.data(), nullptr}, batch, batcher_.targets(), lora,
                        p.value_head_dropout);
        const LossInputs in{logprobs.data(), old_logprobs.data(), advantages.data(), values.data(),
                            old_values.data(), returns.data(), k};
        const LossStats st = ppo_loss(dlogprobs.data(), dvalues.data(), in, p.loss, 1.0f / float(accum));
        last_losses[m] = st.loss;
        if (!st.skipped) policy_.backward(dlogprobs.data(), dvalues.data(), batch, batcher_.targets(), lora,
                                          p.value_head_dropout);
        double mean_entropy = 0.0;
        for (float e : entropy) mean_entropy += e;
        const double row[kCount] = {st.pg_loss, st.vf_loss, st.loss, mean_entropy / double(k), st.approxkl,
                                    st.policykl, st.pg_clipfrac, st.advantages_mean, st.ratio_mean,
                                    st.returns_mean, st.returns_var, st.vpred_mean, st.val_error, st.vf_clipfrac,
                                    st.val_mean, st.val_var};
        for (int s = 0; s < kCount; ++s) sums[s] += row[s];
        ++minibatches;
        if (p.early_stopping) {
          double policykl = st.policykl;
          comm_.allreduce_sum(&policykl, 1);
          if (policykl / comm_.world > 1.5 * p.target_kl) {
            early_stop = true;  // the partial update is dropped, as TRL zeroes the gradients
            break;
          }
        }
      }
      if (early_stop) break;
      if (comm_.world > 1) {
        state_.allreduce_grads(comm_);
        state_.backend().scale_inplace(state_.grads(), 1.0f / float(comm_.world), state_.count());
      }
      grad_norm = state_.clip_grad_norm(train.max_grad_norm);
      lr = learning_rate_at(train.lr_scheduler, train.learning_rate, warmup_updates_, int(total_updates_),
                            int(state_.updates()));
      double update_loss = 0.0;  // this update's summed minibatch loss over all ranks
      for (int m = 0; m < accum; ++m) update_loss += last_losses[m];
      comm_.allreduce_sum(&update_loss, 1);
      if (!control.accept_update(step + 1, update_loss, grad_norm)) continue;
      state_.adamw_step(lr, adamw);
      ++updates;
    }
  }
  state_.zero_grads();
  for (double& s : sums) s /= std::max(1, minibatches);
  average_over_ranks(&sums, comm_);
  return {{"ppo/loss/policy", sums[kPg]},
          {"ppo/loss/value", sums[kVf]},
          {"ppo/loss/total", sums[kLoss]},
          {"ppo/policy/entropy", sums[kEntropy]},
          {"ppo/policy/approxkl", sums[kApproxKl]},
          {"ppo/policy/policykl", sums[kPolicyKl]},
          {"ppo/policy/clipfrac", sums[kClipfrac]},
          {"ppo/policy/advantages_mean", sums[kAdvMean]},
          {"ppo/policy/ratio_mean", sums[kRatio]},
          {"ppo/returns/mean", sums[kRetMean]},
          {"ppo/returns/var", sums[kRetVar]},
          {"ppo/val/vpred", sums[kVpred]},
          {"ppo/val/error", sums[kValError]},
          {"ppo/val/clipfrac", sums[kValClipfrac]},
          {"ppo/val/mean", sums[kValMean]},
          {"ppo/val/var", sums[kValVar]},
          {"ppo/optimizer_updates", double(updates)},
          {"ppo/early_stopped", early_stop ? 1.0 : 0.0},
          {"ppo/skipped_updates", double(control.skipped_updates())},
          {"ppo/learning_rate", lr},
          {"ppo/grad_norm", grad_norm}};
}

void PpoTrainer::write_samples(int64_t step) {
  if (comm_.rank != 0 || o_.ppo.samples_per_log == 0) return;
  std::string lines;
  for (int i = 0; i < std::min(o_.ppo.samples_per_log, int(rollouts_.size())); ++i) {
    const Rollout& r = rollouts_[i];
    const std::vector<int32_t> ids(r.response.begin(), r.response.end());
    nlohmann::json j;
    j["step"] = step;
    j["prompt"] = r.query_text;
    j["response"] = tokenizer_.decode(ids.data(), ids.size());
    j["reward"] = r.raw_score;
    lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  const std::string path = (fs::path(o_.common.train.output_dir) / kSamplesFileName).string();
  std::FILE* f = std::fopen(path.c_str(), "a");
  LOOM_REQUIRE(f != nullptr, path, ": cannot open for appending");
  std::fputs(lines.c_str(), f);
  std::fclose(f);
}

nlohmann::json PpoTrainer::data_cursor() const { return sampler_.cursor().to_json(); }

void PpoTrainer::restore_data_cursor(const nlohmann::json& cursor, const std::string& where) {
  sampler_.restore(data::SamplerCursor::from_json(cursor, where));
}

nlohmann::json PpoTrainer::extra_state() const {
  return {{"kl_coef", kl_ctl_.value()},
          {"score_moments",
           {{"mean", score_moments_.mean}, {"var", score_moments_.var}, {"std", score_moments_.std},
            {"count", score_moments_.count}}}};
}

void PpoTrainer::restore_extra_state(const nlohmann::json& extra, const std::string& where) {
  LOOM_REQUIRE(extra.contains("kl_coef") && extra.contains("score_moments"), where,
               ": not a PPO checkpoint (no kl_coef / score_moments)");
  kl_ctl_.set_value(extra["kl_coef"].get<double>());
  const nlohmann::json& m = extra["score_moments"];
  score_moments_ = {m["mean"].get<double>(), m["var"].get<double>(), m["std"].get<double>(),
                    m["count"].get<double>()};
}

PpoOutcome PpoTrainer::run(const TrainingRun& run) {
  const TrainOptions& train = o_.common.train;
  const PpoConfig& p = o_.ppo;
  PpoOutcome outcome;
  const int64_t total = train.max_steps;
  LOOM_REQUIRE(total > 0, "train.max_steps must be set to the number of PPO steps");
  outcome.total_steps = total;
  RunControl control(run, layout_, state_, comm_);
  int64_t step = control.start(*this, total);
  MetricsLog& log = control.log();
  const LoraContext rollout_lora{&layout_, state_.params(), nullptr, 0.0f, 0, true};
  while (step < total) {
    const auto step_start = Clock::now();
    read_prompts();
    const double t_rollout = generate(step);
    auto t0 = Clock::now();
    score();
    scale_scores();
    const double t_score = seconds_since(t0);
    t0 = Clock::now();
    evaluate_rollouts(rollouts_, policy_, batcher_, rollout_lora, train.micro_batch_size, p.kl_penalty);
    const double beta = kl_ctl_.value();
    compute_advantages(rollouts_, float(beta), p.gamma, p.lam, p.whiten_rewards);
    const double t_forward = seconds_since(t0);

    // Rollout stats, per rank then averaged (sums of tokens and squares for the global std).
    enum { kKl, kNonScore, kEntropy, kScore, kReward, kReward2, kRespLen, kQueryLen, kCount };
    std::vector<double> r(kCount, 0.0);
    for (const Rollout& x : rollouts_) {
      for (size_t t = 0; t < x.response.size(); ++t) {
        r[kKl] += x.logprobs[t] - x.ref_logprobs[t];
        r[kNonScore] += -beta * x.kl[t];
        r[kEntropy] += -x.logprobs[t];
      }
      r[kScore] += x.score;
      r[kReward] += x.raw_score - o_.reward.baseline;
      r[kReward2] += double(x.raw_score - o_.reward.baseline) * (x.raw_score - o_.reward.baseline);
      r[kRespLen] += double(x.response.size());
      r[kQueryLen] += double(x.query.size());
    }
    for (double& v : r) v /= double(rollouts_.size());
    average_over_ranks(&r, comm_);
    int64_t new_tokens = 0;
    for (const Rollout& x : rollouts_) new_tokens += int64_t(x.response.size());
    comm_.allreduce_sum(&new_tokens, 1);

    t0 = Clock::now();
    const MetricValues train_stats = optimize(step, control);
    const double t_optimize = seconds_since(t0);
    kl_ctl_.update(r[kKl], int64_t(p.batch_size) * comm_.world);
    ++step;

    MetricValues stats = {
        {"objective/kl", r[kKl]},
        {"objective/kl_coef", beta},
        {"objective/entropy", r[kEntropy]},
        {"ppo/mean_non_score_reward", r[kNonScore]},
        {"ppo/mean_scores", r[kScore]},
        {"env/reward_mean", r[kReward]},
        {"env/reward_std", std::sqrt(std::max(0.0, r[kReward2] - r[kReward] * r[kReward]))},
        {"tokens/responses_len_mean", r[kRespLen]},
        {"tokens/queries_len_mean", r[kQueryLen]}};
    stats.insert(stats.end(), train_stats.begin(), train_stats.end());
    stats.insert(stats.end(), {{"time/ppo/rollout", t_rollout},
                               {"time/ppo/score", t_score},
                               {"time/ppo/forward_passes", t_forward},
                               {"time/ppo/optimize", t_optimize},
                               {"time/ppo/total", seconds_since(step_start)},
                               {"time/ppo/rollout_tokens_per_second", double(new_tokens) / t_rollout}});
    if (outcome.first_stats.empty()) outcome.first_stats = stats;
    outcome.last_stats = stats;
    log.count_tokens(new_tokens);
    if (step % std::max(1, train.logging_steps) == 0 || step == total) {
      log.log(step, stats);
      write_samples(step);
      if (comm_.rank == 0) {
        std::printf("step %lld/%lld | reward %.4f | kl %.4f | kl_coef %.4f | loss %.4f | approxkl %.4f | "
                    "response %.1f tok | rollout %.0f tok/s\n",
                    (long long)step, (long long)total, r[kReward], r[kKl], beta, stat_value(train_stats, "ppo/loss/total"),
                    stat_value(train_stats, "ppo/policy/approxkl"), r[kRespLen], double(new_tokens) / t_rollout);
        std::fflush(stdout);
      }
    }
    TrainerState trainer;
    trainer.logging_steps = train.logging_steps;
    trainer.save_steps = train.save_steps;
    trainer.train_batch_size = o_.ppo.batch_size;
    if (control.end_step(step, *this, trainer)) break;
  }
  outcome.steps_done = step;
  outcome.interrupted = control.interrupted();
  control.finish();
  return outcome;
}

}  // namespace loom::ppo
