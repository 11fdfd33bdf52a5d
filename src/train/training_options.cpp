#include "train/training_options.h"

#include <filesystem>

#include "core/check.h"
#include "train/option_values.h"

namespace loom {

namespace {

std::string join_names(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
  return text;
}

const char* resume_text(const TrainOptions& train) {
  switch (train.resume) {
    case ResumeMode::No: return "no";
    case ResumeMode::Auto: return "auto";
    case ResumeMode::FromDirectory: return train.resume_dir.c_str();
  }
  LOOM_ASSERT(false);
}

QuantMode quant_from(const po::variables_map& values) {
  const std::string name = option<std::string>(values, "model.quant");
  for (QuantMode mode : {QuantMode::NF4, QuantMode::INT8, QuantMode::BF16, QuantMode::F32})
    if (name == quant_mode_name(mode)) return mode;
  LOOM_FAIL("model.quant must be nf4, int8, bf16 or f32, got '", name, "'");
}

DeviceKind device_from(const po::variables_map& values) {
  const std::string name = option<std::string>(values, "run.device");
  for (DeviceKind kind : {DeviceKind::Auto, DeviceKind::Cpu, DeviceKind::Cuda})
    if (name == device_kind_name(kind)) return kind;
  LOOM_FAIL("run.device must be auto, cpu or cuda, got '", name, "'");
}

NanPolicy nan_policy_from(const po::variables_map& values) {
  const std::string name = option<std::string>(values, "train.nan_policy");
  if (name == "stop") return NanPolicy::Stop;
  if (name == "skip") return NanPolicy::Skip;
  LOOM_FAIL("train.nan_policy must be stop or skip, got '", name, "'");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// TRL's resume_from_checkpoint takes a path or true (the newest checkpoint in output_dir).
void resume_from(const po::variables_map& values, TrainOptions* train) {
  const std::string text = option<std::string>(values, "train.resume_from_checkpoint");
  if (text == "no" || text == "false") {
    train->resume = ResumeMode::No;
  } else if (text == "auto" || text == "true") {
    train->resume = ResumeMode::Auto;
  } else {
    LOOM_REQUIRE(std::filesystem::is_directory(text), "train.resume_from_checkpoint: '", text,
                 "' is not a directory (use no, auto or a checkpoint directory)");
    train->resume = ResumeMode::FromDirectory;
    train->resume_dir = text;
  }
}

}  // namespace

LoraSpec sft_lora_defaults() {
  LoraSpec spec;
  spec.r = 8;
  spec.alpha = 16.0f;
  spec.dropout = 0.05f;
  spec.target_modules = {"q_proj", "v_proj"};
  return spec;
}

const char* device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::Auto: return "auto";
    case DeviceKind::Cpu: return "cpu";
    case DeviceKind::Cuda: return "cuda";
  }
  LOOM_ASSERT(false);
}

void add_common_training_options(po::options_description& options, const CommonTrainingOptions& defaults) {
  const ModelOptions& m = defaults.model;
  const LoraSpec& l = defaults.lora;
  const TrainOptions& t = defaults.train;
  options.add_options()
      ("model.path", po::value<std::string>()->required(), "HF checkpoint directory of the base model")
      ("model.quant", with_default<std::string>(quant_mode_name(m.quant)),
       "frozen base storage: nf4 (double-quantized) | int8 | bf16 | f32")
      ("model.gradient_checkpointing", with_default(m.gradient_checkpointing),
       "recompute activations in backward instead of keeping them")
      ("lora.r", with_default(l.r), "LoRA rank")
      ("lora.alpha", with_default(l.alpha), "LoRA alpha (scale = alpha / r)")
      ("lora.dropout", with_default(l.dropout), "dropout on the LoRA input, in [0, 1)")
      ("lora.target_modules", with_default(join_names(l.target_modules)),
       "comma list of q,k,v,o,gate,up,down (or *_proj), or all-linear")
      ("lora.use_rslora", with_default(l.use_rslora), "scale = alpha / sqrt(r)")
      ("train.output_dir", po::value<std::string>()->required(), "checkpoints, metrics.jsonl and the final adapter")
      ("train.per_device_train_batch_size", with_default(t.micro_batch_size),
       "sequences per rank per forward/backward")
      ("train.gradient_accumulation_steps", with_default(t.grad_accum_steps),
       "micro-batches per optimizer step")
      ("train.max_steps", with_default(t.max_steps), "optimizer steps; -1 = train.num_train_epochs epochs")
      ("train.num_train_epochs", with_default(t.epochs),
       "passes over the training data when max_steps is -1, may be fractional")
      ("train.learning_rate", with_default(t.learning_rate), "peak learning rate")
      ("train.lr_scheduler_type", with_default<std::string>(lr_schedule_name(t.lr_scheduler)),
       "constant | linear | cosine, after linear warmup")
      ("train.warmup_steps", with_default(t.warmup_steps), "optimizer steps of linear warmup from 0")
      ("train.warmup_ratio", with_default(t.warmup_ratio),
       "warmup as a share of the run's steps, ceil(ratio x steps), when warmup_steps is 0")
      ("train.weight_decay", with_default(t.weight_decay), "AdamW decoupled weight decay")
      ("train.adam_beta1", with_default(t.adam_beta1), "AdamW beta1")
      ("train.adam_beta2", with_default(t.adam_beta2), "AdamW beta2")
      ("train.adam_epsilon", with_default(t.adam_epsilon), "AdamW epsilon")
      ("train.max_grad_norm", with_default(t.max_grad_norm), "clip gradients to this global norm; 0 = no clipping")
      ("train.seed", with_default(static_cast<int64_t>(t.seed)), "seed of LoRA init, dropout and data order")
      ("train.logging_steps", with_default(t.logging_steps), "optimizer steps between progress lines")
      ("train.eval_steps", with_default(t.eval_steps), "optimizer steps between evaluations; 0 = never")
      ("train.save_steps", with_default(t.save_steps), "optimizer steps between checkpoints; 0 = none during training")
      ("train.save_total_limit", with_default(t.save_total_limit), "checkpoints kept; 0 = all")
      ("train.resume_from_checkpoint", with_default<std::string>(resume_text(t)),
       "no | auto (newest checkpoint) | a checkpoint directory; false = no, true = auto")
      ("train.resume_allow_changes", with_default(join_names(t.resume_allow_changes)),
       "comma list of configuration keys a resume may change (e.g. train.learning_rate,world_size)")
      ("train.overwrite_output_dir", with_default(t.overwrite_output_dir),
       "a fresh run may replace another run's outputs in train.output_dir")
      ("train.nan_policy", with_default<std::string>(t.nan_policy == NanPolicy::Skip ? "skip" : "stop"),
       "a non-finite loss or gradient norm: stop the run, or skip that update")
      ("train.max_skipped_steps", with_default(t.max_skipped_steps),
       "nan_policy skip: this many skipped updates in a row stop the run")
      ("run.device", with_default<std::string>(device_kind_name(defaults.run.device)), "auto | cpu | cuda")
      ("run.collective_timeout", with_default(defaults.run.collective_timeout_s),
       "seconds an all-reduce or barrier may wait for the other ranks before the job is ended; 0 = never")
      ("run.compute", with_default<std::string>(compute_mode_name(defaults.run.compute)),
       "auto (bf16 where the CPU has AMX-BF16/AVX512_BF16 and a bf16 backend exists) | f32 | bf16");
}

CommonTrainingOptions common_training_options_from(const po::variables_map& values) {
  CommonTrainingOptions o;
  o.model.path = non_empty_string(values, "model.path");
  o.model.quant = quant_from(values);
  o.model.gradient_checkpointing = option<bool>(values, "model.gradient_checkpointing");

  o.lora.r = positive_int(values, "lora.r");
  o.lora.alpha = float_in(values, "lora.alpha", 0.0f, false, 1e4f);
  o.lora.dropout = fraction_below_one(values, "lora.dropout");
  try {
    o.lora.target_modules = parse_target_modules(option<std::string>(values, "lora.target_modules"));
  } catch (const Error& e) {
    LOOM_FAIL("lora.target_modules: ", e.what());
  }
  o.lora.use_rslora = option<bool>(values, "lora.use_rslora");
  o.lora.base_model_name_or_path = o.model.path;

  TrainOptions& t = o.train;
  t.output_dir = non_empty_string(values, "train.output_dir");
  t.micro_batch_size = positive_int(values, "train.per_device_train_batch_size");
  t.grad_accum_steps = positive_int(values, "train.gradient_accumulation_steps");
  t.max_steps = option<int>(values, "train.max_steps");
  LOOM_REQUIRE(t.max_steps == -1 || t.max_steps > 0, "train.max_steps must be positive or -1, got ", t.max_steps);
  t.epochs = double_in(values, "train.num_train_epochs", 0.0, false, 1e6);
  t.learning_rate = double_in(values, "train.learning_rate", 0.0, false, 1.0);
  const std::string schedule = option<std::string>(values, "train.lr_scheduler_type");
  LOOM_REQUIRE(lr_schedule_from_name(schedule, &t.lr_scheduler),
               "train.lr_scheduler_type must be constant, linear or cosine, got '", schedule, "'");
  t.warmup_steps = non_negative_int(values, "train.warmup_steps");
  t.warmup_ratio = double_in(values, "train.warmup_ratio", 0.0, true, 1.0);
  LOOM_REQUIRE(t.warmup_steps == 0 || t.warmup_ratio == 0.0, "train.warmup_steps (", t.warmup_steps,
               ") and train.warmup_ratio (", t.warmup_ratio, ") both set the warmup; give one of them");
  t.weight_decay = float_in(values, "train.weight_decay", 0.0f, true, 1.0f);
  t.adam_beta1 = fraction_below_one(values, "train.adam_beta1");
  t.adam_beta2 = fraction_below_one(values, "train.adam_beta2");
  t.adam_epsilon = float_in(values, "train.adam_epsilon", 0.0f, false, 1.0f);
  t.max_grad_norm = float_in(values, "train.max_grad_norm", 0.0f, true, 1e6f);
  const int64_t seed = option<int64_t>(values, "train.seed");
  LOOM_REQUIRE(seed >= 0, "train.seed must be 0 or more, got ", seed);
  t.seed = static_cast<uint64_t>(seed);
  t.logging_steps = positive_int(values, "train.logging_steps");
  t.eval_steps = non_negative_int(values, "train.eval_steps");
  t.save_steps = non_negative_int(values, "train.save_steps");
  t.save_total_limit = non_negative_int(values, "train.save_total_limit");
  resume_from(values, &t);
  t.resume_allow_changes = split_commas(option<std::string>(values, "train.resume_allow_changes"));
  t.overwrite_output_dir = option<bool>(values, "train.overwrite_output_dir");
  t.nan_policy = nan_policy_from(values);
  t.max_skipped_steps = positive_int(values, "train.max_skipped_steps");

  o.run.device = device_from(values);
  o.run.compute = parse_compute_mode(option<std::string>(values, "run.compute"), "run.compute");
  o.run.collective_timeout_s = double_in(values, "run.collective_timeout", 0.0, true, 86400.0);
  return o;
}

}  // namespace loom
