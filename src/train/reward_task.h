// Stage 2: the pairwise reward model. Each micro-batch puts micro_batch_size pairs through
// the model together (chosen rows, then rejected rows, cut to the longest row of the batch);
// loss -logsigmoid(r_chosen - r_rejected - margin), averaged over the pairs of the whole
// optimizer step on all ranks.
#pragma once

#include <memory>
#include <vector>

#include "data/shard_reader.h"
#include "model/reward_model.h"
#include "train/reward_options.h"
#include "train/shard_task.h"

namespace loom {

// Scores of a set of pairs (eval, `loom score`).
struct PairScores {
  std::vector<float> chosen, rejected;
};

// Micro-batches of pairs read from a pairs shard reader into (2 * pairs, T) token rows.
class PairBatcher {
 public:
  PairBatcher(int max_pairs, int max_len);
  // Reads the pairs `ids` (at most max_pairs) into rows; returns the batch view.
  TokenBatch load(data::ShardReader& reader, const int64_t* ids, int count);
  const int* last() const { return last_.data(); }  // (2 * pairs) index of each row's last real token

 private:
  int max_pairs_, max_len_;
  std::vector<int32_t> chosen_, rejected_;  // (max_len) one pair as read
  std::vector<int> tokens_, pos_, last_;    // (2 * max_pairs, T) compact rows
};

// Rewards of every pair of `reader` that this rank owns (ids rank, rank + world, ...), or of
// all pairs with world 1; `micro` pairs per forward.
PairScores score_pairs(RewardModel& model, PairBatcher& batcher, data::ShardReader& reader, const LoraContext& lora,
                       int micro, int rank, int world);

class RewardTask final : public ShardTask {
 public:
  RewardTask(const RewardOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
             const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend);

  int64_t load_step() override;
  StepSums run_step(const LoraContext& lora, float loss_scale) override;
  MetricValues evaluate(const LoraContext& lora) override;

 private:
  float margin_;
  RewardModel model_;
  PairBatcher batcher_;
  std::vector<int64_t> step_ids_;  // (accum * micro) pair ids of the loaded step
  std::vector<float> rewards_, d_rewards_;  // (2 * micro)
};

}  // namespace loom
