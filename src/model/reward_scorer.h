// A reward model ready to score: a checkpoint (a merged reward model holding score.weight,
// or an SFT model plus a SEQ_CLS adapter whose head is base_model.model.score.weight),
// quantized and frozen. Scores token sequences in batches; `loom score` and PPO use it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/hf_checkpoint.h"
#include "model/reward_model.h"

namespace loom {

class RewardScorer {
 public:
  // adapter_dir may be empty. Sequences longer than max_len keep their last max_len tokens.
  RewardScorer(const std::string& model_dir, const std::string& adapter_dir, QuantMode mode, int max_batch,
               int max_len, const Backend& backend);

  // rewards (n) of each non-empty token sequence.
  std::vector<float> score(const std::vector<std::vector<int>>& sequences);

  RewardModel& model() { return *model_; }
  LoraContext context() const;
  const HfCheckpoint& checkpoint() const { return checkpoint_; }
  int max_batch() const { return max_batch_; }

 private:
  HfCheckpoint checkpoint_;
  FrozenWeights base_;
  std::unique_ptr<TrainableLayout> layout_;
  Arena param_arena_;      // "reward model params": the layout's buffer in backend memory
  float* params_ = nullptr;
  std::unique_ptr<RewardModel> model_;
  int max_batch_, max_len_;
  std::vector<int> tokens_, pos_, last_;
  std::vector<float> rewards_;
};

}  // namespace loom
