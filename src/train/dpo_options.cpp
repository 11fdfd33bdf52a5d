#include "train/dpo_options.h"

#include "core/check.h"
#include "train/option_values.h"

namespace loom {

CommonTrainingOptions dpo_training_defaults() {
  CommonTrainingOptions d;
  d.train.learning_rate = 1e-6;  // DPOConfig's default
  return d;
}

void add_dpo_options(po::options_description& options) {
  add_common_training_options(options, dpo_training_defaults());
  options.add_options()
      ("data.train", po::value<std::string>()->required(), "manifest.json of the pairs shards to train on")
      ("data.eval", with_default<std::string>(""), "manifest.json whose eval split is evaluated")
      ("data.sampling", with_default<std::string>("strided"), "strided | block")
      ("dpo.beta", with_default(0.1f), "the KL weight of the implicit reward (TRL's beta)")
      ("dpo.loss_type", with_default<std::string>("sigmoid"), "sigmoid | hinge | ipo | robust")
      ("dpo.label_smoothing", with_default(0.0f), "robust loss: the assumed share of flipped labels, in [0, 0.5)")
      ("dpo.max_length", with_default(1024), "prompt + completion tokens kept from the start (0 = whole rows)")
      ("dpo.precompute_ref_log_probs", with_default(false),
       "compute the reference log-probs once before training and keep them in the output folder")
      ("dpo.ref_model", with_default<std::string>(""),
       "a separate reference model folder (default: the base with the adapter off)");
}

DpoOptions dpo_options_from(const po::variables_map& values) {
  DpoOptions o;
  o.common = common_training_options_from(values);
  o.train_pairs = non_empty_string(values, "data.train");
  o.eval_pairs = option<std::string>(values, "data.eval");
  o.sampling = data::parse_partition(option<std::string>(values, "data.sampling"), "data.sampling");
  o.loss.type = parse_dpo_loss_type(option<std::string>(values, "dpo.loss_type"), "dpo.loss_type");
  o.loss.beta = positive_float(values, "dpo.beta");
  o.loss.label_smoothing = non_negative_float(values, "dpo.label_smoothing");
  LOOM_REQUIRE(o.loss.label_smoothing < 0.5f, "dpo.label_smoothing must be below 0.5, got ", o.loss.label_smoothing);
  LOOM_REQUIRE(o.loss.label_smoothing == 0.0f || o.loss.type == DpoLossType::Robust,
               "dpo.label_smoothing is only used by dpo.loss_type = robust");
  o.max_length = non_negative_int(values, "dpo.max_length");
  o.precompute_ref_log_probs = option<bool>(values, "dpo.precompute_ref_log_probs");
  o.ref_model = option<std::string>(values, "dpo.ref_model");
  LOOM_REQUIRE(o.common.train.eval_steps == 0 || !o.eval_pairs.empty(), "train.eval_steps is ",
               o.common.train.eval_steps, " but data.eval names no evaluation manifest");
  return o;
}

}  // namespace loom
