// Options of `loom reward`: the shared training options with StackLLaMA's reward-model
// defaults (LoRA r 8, alpha 32, dropout 0.1, lr 2e-5, one epoch) plus
//   [data]   train     manifest of the pairs shards (required)
//            eval      manifest whose eval split is evaluated (empty = none)
//            sampling  strided | block
//   [reward] margin    subtracted inside the loss: -logsigmoid(r_chosen - r_rejected - margin)
#pragma once

#include <string>

#include <boost/program_options.hpp>

#include "data/shard_sampler.h"
#include "train/training_options.h"

namespace loom {

struct RewardOptions {
  CommonTrainingOptions common;
  std::string train_pairs, eval_pairs;
  data::Partition sampling = data::Partition::strided;
  float margin = 0.0f;
};

CommonTrainingOptions reward_training_defaults();
void add_reward_options(po::options_description& options);
RewardOptions reward_options_from(const po::variables_map& values);

}  // namespace loom
