// Options of `loom dpo`: the shared training options with TRL DPOConfig's defaults
// (learning_rate 1e-6, beta 0.1, loss sigmoid, max_length 1024) plus
//   [data] train      manifest of the pairs shards (required)
//          eval       manifest whose eval split is evaluated (empty = none)
//          sampling   strided | block
//   [dpo]  beta, loss_type (sigmoid | hinge | ipo | robust), label_smoothing (robust),
//          max_length (prompt + completion tokens kept from the start, TRL's keep_start;
//          0 = the shards' rows), precompute_ref_log_probs, ref_model (a separate reference
//          model folder; empty = the policy's base with the adapter off, as TRL with PEFT)
#pragma once

#include <string>

#include <boost/program_options.hpp>

#include "data/shard_sampler.h"
#include "train/dpo_loss.h"
#include "train/training_options.h"

namespace loom {

struct DpoOptions {
  CommonTrainingOptions common;
  std::string train_pairs, eval_pairs;
  data::Partition sampling = data::Partition::strided;
  DpoLossParams loss;
  int max_length = 1024;
  bool precompute_ref_log_probs = false;
  std::string ref_model;
};

CommonTrainingOptions dpo_training_defaults();
void add_dpo_options(po::options_description& options);
DpoOptions dpo_options_from(const po::variables_map& values);

}  // namespace loom
