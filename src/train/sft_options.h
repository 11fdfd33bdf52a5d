// Options of `loom sft`: the shared training options (training_options.h) plus [data]:
//   [data] train       manifest.json of the packed shards; its "train" split is read (required)
//          eval        manifest.json whose "eval" split is evaluated (empty = no evaluation)
//          sampling    strided | block: how ranks split the records (data/shard_sampler.h)
//          seq_length  expected tokens per packed sequence; 0 = whatever the shards hold
//   [lora]  modules_to_save  "lm_head" trains the output layer too (a PEFT modules_to_save copy)
#pragma once

#include <string>

#include <boost/program_options.hpp>

#include "data/shard_sampler.h"
#include "train/training_options.h"

namespace loom {

namespace po = boost::program_options;

struct SftDataOptions {
  std::string train;
  std::string eval;
  data::Partition sampling = data::Partition::strided;
  int seq_length = 0;  // 0 = take it from the shards; otherwise the shards must match
};

struct SftOptions {
  CommonTrainingOptions common;
  SftDataOptions data;
};

// Declares the common training options and [data].
void add_sft_options(po::options_description& options);

// Reads and validates them; errors name the key.
SftOptions sft_options_from(const po::variables_map& values);

}  // namespace loom
