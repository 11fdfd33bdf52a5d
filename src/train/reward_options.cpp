#include "train/reward_options.h"

#include "core/check.h"

namespace loom {

CommonTrainingOptions reward_training_defaults() {
  CommonTrainingOptions d;
  d.lora.r = 8;
  d.lora.alpha = 32.0f;
  d.lora.dropout = 0.1f;
  d.lora.task_type = "SEQ_CLS";
  d.lora.modules_to_save = {"score"};
  d.train.learning_rate = 2e-5;
  d.train.epochs = 1;
  return d;
}

void add_reward_options(po::options_description& options) {
  add_common_training_options(options, reward_training_defaults());
  options.add_options()
      ("data.train", po::value<std::string>()->required(), "manifest.json of the pairs shards to train on")
      ("data.eval", po::value<std::string>()->default_value("", ""), "manifest.json whose eval split is evaluated")
      ("data.sampling", po::value<std::string>()->default_value("strided"), "strided | block")
      ("reward.margin", po::value<float>()->default_value(0.0f), "margin inside -logsigmoid(r_c - r_r - margin)");
}

RewardOptions reward_options_from(const po::variables_map& values) {
  RewardOptions o;
  o.common = common_training_options_from(values);
  o.common.lora.task_type = "SEQ_CLS";
  o.common.lora.modules_to_save = {"score"};
  o.train_pairs = values["data.train"].as<std::string>();
  LOOM_REQUIRE(!o.train_pairs.empty(), "data.train must not be empty");
  o.eval_pairs = values["data.eval"].as<std::string>();
  o.sampling = data::parse_partition(values["data.sampling"].as<std::string>(), "data.sampling");
  o.margin = values["reward.margin"].as<float>();
  LOOM_REQUIRE(o.common.train.eval_steps == 0 || !o.eval_pairs.empty(), "train.eval_steps is ",
               o.common.train.eval_steps, " but data.eval names no evaluation manifest");
  return o;
}

}  // namespace loom
