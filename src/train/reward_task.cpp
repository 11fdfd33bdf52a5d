#include "train/reward_task.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"

namespace loom {

PairBatcher::PairBatcher(int max_pairs, int max_len)
    : max_pairs_(max_pairs), max_len_(max_len), chosen_(max_len), rejected_(max_len),
      tokens_(size_t(2) * max_pairs * max_len), pos_(size_t(2) * max_pairs * max_len), last_(2 * max_pairs) {}

TokenBatch PairBatcher::load(data::ShardReader& reader, const int64_t* ids, int count) {
  LOOM_ASSERT(count <= max_pairs_);
  // Rows go in at stride max_len_ (chosen rows, then rejected rows), then are compacted to
  // stride T, the longest row of the batch.
  int T = 1;
  for (int i = 0; i < count; ++i) {
    data::PairLengths lengths;
    reader.read_pair(ids[i], chosen_.data(), rejected_.data(), &lengths);
    LOOM_REQUIRE(lengths.chosen > 0 && lengths.rejected > 0, "pair ", ids[i], " has an empty sequence");
    T = std::max({T, int(lengths.chosen), int(lengths.rejected)});
    std::copy(chosen_.begin(), chosen_.end(), tokens_.begin() + size_t(i) * max_len_);
    std::copy(rejected_.begin(), rejected_.end(), tokens_.begin() + size_t(count + i) * max_len_);
    last_[i] = lengths.chosen - 1;
    last_[count + i] = lengths.rejected - 1;
  }
  for (int row = 0; row < 2 * count; ++row) {
    std::memmove(&tokens_[size_t(row) * T], &tokens_[size_t(row) * max_len_], sizeof(int) * T);
    for (int t = 0; t < T; ++t) pos_[size_t(row) * T + t] = t;
  }
  return TokenBatch{2 * count, T, tokens_.data(), pos_.data(), nullptr};
}

PairScores score_pairs(RewardModel& model, PairBatcher& batcher, data::ShardReader& reader, const LoraContext& lora,
                       int micro, int rank, int world) {
  PairScores scores;
  std::vector<int64_t> ids;
  std::vector<float> rewards(2 * micro);
  for (int64_t id = rank; id < reader.num_records(); id += world) {
    ids.push_back(id);
    if (int(ids.size()) < micro && id + world < reader.num_records()) continue;
    const int count = int(ids.size());
    const TokenBatch batch = batcher.load(reader, ids.data(), count);
    model.forward(rewards.data(), batch, batcher.last(), lora);
    scores.chosen.insert(scores.chosen.end(), rewards.begin(), rewards.begin() + count);
    scores.rejected.insert(scores.rejected.end(), rewards.begin() + count, rewards.begin() + 2 * count);
    ids.clear();
  }
  return scores;
}

RewardTask::RewardTask(const RewardOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
                       const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend)
    : ShardTask(options.train_pairs, options.eval_pairs, data::ShardKind::pairs, tokenizer, base.shape().V,
                options.common.train, options.sampling, comm),
      margin_(options.margin),
      model_(base, layout, 2 * micro_, train_.row_len(), options.common.model.gradient_checkpointing, backend),
      batcher_(micro_, train_.row_len()),
      step_ids_(size_t(accum_) * micro_), rewards_(2 * micro_), d_rewards_(2 * micro_) {
  require_within_positions(base.config(), train_.row_len(), options.train_pairs + ": max_len");
}

int64_t RewardTask::load_step() {
  for (int64_t& id : step_ids_) id = sampler_.next();
  return int64_t(step_ids_.size());
}

StepSums RewardTask::run_step(const LoraContext& lora, float loss_scale) {
  StepSums sums;
  double correct = 0.0;
  for (int m = 0; m < accum_; ++m) {
    LoraContext micro = lora;
    micro.dropout_seed = lora.dropout_seed + uint64_t(m) * 0x9E3779B97F4A7C15ull;
    const TokenBatch batch = batcher_.load(train_, &step_ids_[size_t(m) * micro_], micro_);
    model_.forward(rewards_.data(), batch, batcher_.last(), micro);
    for (int i = 0; i < micro_; ++i) {
      double d_difference = 0.0;
      sums.loss_sum += pairwise_loss(rewards_[i], rewards_[micro_ + i], margin_, &d_difference);
      d_rewards_[i] = float(d_difference) * loss_scale;
      d_rewards_[micro_ + i] = -float(d_difference) * loss_scale;
      correct += rewards_[i] > rewards_[micro_ + i];
    }
    model_.backward(d_rewards_.data(), batch, batcher_.last(), micro);
    sums.tokens += batch.N();
  }
  sums.extra = {{"accuracy", correct}};
  return sums;
}

MetricValues RewardTask::evaluate(const LoraContext& lora) {
  if (!eval_) return {};
  const PairScores s = score_pairs(model_, batcher_, *eval_, lora, micro_, comm_.rank, comm_.world);
  // sums: pairs, correct, margin, reward, reward^2
  double sums[5] = {double(s.chosen.size()), 0, 0, 0, 0};
  for (size_t i = 0; i < s.chosen.size(); ++i) {
    sums[1] += s.chosen[i] > s.rejected[i];
    sums[2] += s.chosen[i] - s.rejected[i];
    for (float r : {s.chosen[i], s.rejected[i]}) {
      sums[3] += r;
      sums[4] += double(r) * r;
    }
  }
  comm_.allreduce_sum(sums, 5);
  const double pairs = std::max(sums[0], 1.0), mean = sums[3] / (2 * pairs);
  return {{"eval_accuracy", sums[1] / pairs},
          {"eval_margin", sums[2] / pairs},
          {"eval_reward_mean", mean},
          {"eval_reward_std", std::sqrt(std::max(0.0, sums[4] / (2 * pairs) - mean * mean))},
          {"eval_pairs", sums[0]}};
}


}  // namespace loom
