#include "train/training_options.h"

#include <filesystem>

#include "backend/backend_factory.h"
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

void resume_from(const po::variables_map& values, TrainOptions* train) {
  const std::string text = option<std::string>(values, "train.resume");
  if (text == "no") {
    train->resume = ResumeMode::No;
  } else if (text == "auto") {
    train->resume = ResumeMode::Auto;
  } else {
    LOOM_REQUIRE(std::filesystem::is_directory(text), "train.resume: '", text,
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
      ("train.micro_batch_size", with_default(t.micro_batch_size), "sequences per rank per forward/backward")
      ("train.grad_accum_steps", with_default(t.grad_accum_steps), "micro-batches per optimizer step")
      ("train.max_steps", with_default(t.max_steps), "optimizer steps; -1 = train.epochs epochs")
      ("train.epochs", with_default(t.epochs), "passes over the training data when max_steps is -1")
      ("train.learning_rate", with_default(t.learning_rate), "peak learning rate")
      ("train.lr_scheduler", with_default<std::string>(lr_schedule_name(t.lr_scheduler)),
       "constant | linear | cosine, after linear warmup")
      ("train.warmup_steps", with_default(t.warmup_steps), "optimizer steps of linear warmup from 0")
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
      ("train.resume", with_default<std::string>(resume_text(t)), "no | auto (newest checkpoint) | a checkpoint directory")
      ("run.device", with_default<std::string>(device_kind_name(defaults.run.device)), "auto | cpu | cuda")
      ("run.compute", with_default<std::string>(defaults.run.compute),
       "auto | f32 | bf16 (GEMM inputs rounded to bf16, f32 accumulation, as torch.autocast); auto is bf16 where the CPU has AMX-BF16 or AVX512_BF16");
}

CommonTrainingOptions common_training_options_from(const po::variables_map& values) {
  CommonTrainingOptions o;
  o.model.path = non_empty_string(values, "model.path");
  o.model.quant = quant_from(values);
  o.model.gradient_checkpointing = option<bool>(values, "model.gradient_checkpointing");

  o.lora.r = positive_int(values, "lora.r");
  o.lora.alpha = float_at_least(values, "lora.alpha", 0.0f, true);
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
  t.micro_batch_size = positive_int(values, "train.micro_batch_size");
  t.grad_accum_steps = positive_int(values, "train.grad_accum_steps");
  t.max_steps = option<int>(values, "train.max_steps");
  LOOM_REQUIRE(t.max_steps == -1 || t.max_steps > 0, "train.max_steps must be positive or -1, got ", t.max_steps);
  t.epochs = positive_int(values, "train.epochs");
  t.learning_rate = option<double>(values, "train.learning_rate");
  LOOM_REQUIRE(t.learning_rate > 0.0, "train.learning_rate must be positive, got ", t.learning_rate);
  const std::string schedule = option<std::string>(values, "train.lr_scheduler");
  LOOM_REQUIRE(lr_schedule_from_name(schedule, &t.lr_scheduler),
               "train.lr_scheduler must be constant, linear or cosine, got '", schedule, "'");
  t.warmup_steps = non_negative_int(values, "train.warmup_steps");
  t.weight_decay = float_at_least(values, "train.weight_decay", 0.0f, false);
  t.adam_beta1 = fraction_below_one(values, "train.adam_beta1");
  t.adam_beta2 = fraction_below_one(values, "train.adam_beta2");
  t.adam_epsilon = float_at_least(values, "train.adam_epsilon", 0.0f, true);
  t.max_grad_norm = float_at_least(values, "train.max_grad_norm", 0.0f, false);
  const int64_t seed = option<int64_t>(values, "train.seed");
  LOOM_REQUIRE(seed >= 0, "train.seed must be 0 or more, got ", seed);
  t.seed = static_cast<uint64_t>(seed);
  t.logging_steps = positive_int(values, "train.logging_steps");
  t.eval_steps = non_negative_int(values, "train.eval_steps");
  t.save_steps = non_negative_int(values, "train.save_steps");
  t.save_total_limit = non_negative_int(values, "train.save_total_limit");
  resume_from(values, &t);

  o.run.device = device_from(values);
  o.run.compute = option<std::string>(values, "run.compute");
  parse_compute_mode(o.run.compute, "run.compute");  // refuse a bad value before any work
  return o;
}

}  // namespace loom
