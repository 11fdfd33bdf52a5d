#include "train/sft_options.h"

#include "core/check.h"

namespace loom {

void add_sft_options(po::options_description& options) {
  const CommonTrainingOptions common_defaults;
  add_common_training_options(options, common_defaults);
  const SftDataOptions defaults;
  options.add_options()
      ("data.train", po::value<std::string>()->required(), "manifest.json whose train split is trained on")
      ("data.eval", po::value<std::string>()->default_value(defaults.eval, ""),
       "manifest.json whose eval split is evaluated; empty = no evaluation")
      ("data.sampling", po::value<std::string>()->default_value("strided"),
       "strided | block: how ranks split the records")
      ("data.seq_length", po::value<int>()->default_value(defaults.seq_length),
       "tokens per packed sequence; 0 = take it from the shards")
      ("lora.modules_to_save", po::value<std::string>()->default_value(""),
       "lm_head: also train the whole output layer (PEFT modules_to_save); empty = LoRA only");
}

SftOptions sft_options_from(const po::variables_map& values) {
  SftOptions o;
  o.common = common_training_options_from(values);
  const std::string saved = values["lora.modules_to_save"].as<std::string>();
  LOOM_REQUIRE(saved.empty() || saved == kLmHeadModule, "lora.modules_to_save: loom sft can train '", kLmHeadModule,
               "' besides the LoRA weights, got '", saved, "'");
  if (!saved.empty()) o.common.lora.modules_to_save = {saved};
  o.data.train = values["data.train"].as<std::string>();
  LOOM_REQUIRE(!o.data.train.empty(), "data.train must not be empty");
  o.data.eval = values["data.eval"].as<std::string>();
  o.data.sampling = data::parse_partition(values["data.sampling"].as<std::string>(), "data.sampling");
  o.data.seq_length = values["data.seq_length"].as<int>();
  LOOM_REQUIRE(o.data.seq_length >= 0, "data.seq_length must be 0 or more, got ", o.data.seq_length);
  LOOM_REQUIRE(o.common.train.eval_steps == 0 || !o.data.eval.empty(), "train.eval_steps is ",
               o.common.train.eval_steps, " but data.eval names no evaluation manifest");
  return o;
}

}  // namespace loom
