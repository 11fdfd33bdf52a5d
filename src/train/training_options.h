// The options every training stage shares (SFT, reward, PPO): sections [model], [lora],
// [train] and [run] of the INI file. Each stage adds its own sections (sft_options.h adds
// [data]) and passes its own defaults where they differ (the reward stage: alpha 32,
// dropout 0.1, lr 2e-5). Every key, its default and its TRL/PEFT name: docs/configs.md.
//
// Usage:
//   po::options_description options;
//   add_common_training_options(options);          // or with a stage's defaults
//   po::variables_map vm = load_config(options, ini_path, overrides);
//   CommonTrainingOptions common = common_training_options_from(vm);  // validated
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "backend/backend_factory.h"
#include "io/peft_adapter.h"
#include "quant/quantized_matrix.h"
#include "train/lr_schedule.h"

namespace loom {

namespace po = boost::program_options;

// [model]
struct ModelOptions {
  std::string path;                  // HF checkpoint directory (required)
  QuantMode quant = QuantMode::NF4;  // frozen base storage; NF4 always double-quantizes
  bool gradient_checkpointing = false;
};

// The LoRA defaults of the SFT stage: r 8, alpha 16, dropout 0.05, q_proj and v_proj.
LoraSpec sft_lora_defaults();

enum class ResumeMode { No, Auto, FromDirectory };

// What a non-finite loss or gradient norm does (train/run_control.h): stop the run, or skip
// that update (train.max_skipped_steps in a row stop it).
enum class NanPolicy { Stop, Skip };

// [train]
struct TrainOptions {
  std::string output_dir;  // required
  int micro_batch_size = 4;  // sequences per rank per forward/backward
  int grad_accum_steps = 1;  // micro-batches per optimizer step
  int max_steps = -1;        // optimizer steps; -1 = run `epochs` epochs
  double epochs = 1.0;       // may be fractional (training_length.h)
  double learning_rate = 2e-4;
  LrScheduleKind lr_scheduler = LrScheduleKind::Linear;
  int warmup_steps = 0;
  double warmup_ratio = 0.0;  // warmup = ceil(ratio x total steps) when warmup_steps is 0
  float weight_decay = 0.0f;
  float adam_beta1 = 0.9f;
  float adam_beta2 = 0.999f;
  float adam_epsilon = 1e-8f;
  float max_grad_norm = 1.0f;  // 0 = no clipping
  uint64_t seed = 42;
  int logging_steps = 10;
  int eval_steps = 0;        // 0 = never
  int save_steps = 100;      // 0 = none during training
  int save_total_limit = 2;  // 0 = keep every checkpoint
  ResumeMode resume = ResumeMode::No;
  std::string resume_dir;  // when resume == FromDirectory
  std::vector<std::string> resume_allow_changes;  // identity keys a resume may change
  bool overwrite_output_dir = false;  // a fresh run may replace another run's outputs
  NanPolicy nan_policy = NanPolicy::Stop;
  int max_skipped_steps = 10;  // nan_policy skip: this many non-finite updates in a row stop the run
};

enum class DeviceKind { Auto, Cpu, Cuda };

// [run]
struct RunOptions {
  DeviceKind device = DeviceKind::Auto;
  ComputeMode compute = ComputeMode::Auto;  // run.compute: which backend runs the ops (backend_factory.h)
  double collective_timeout_s = 300.0;  // an all-reduce or barrier waiting longer ends the job; 0 = never
};

struct CommonTrainingOptions {
  ModelOptions model;
  LoraSpec lora = sft_lora_defaults();
  TrainOptions train;
  RunOptions run;
};

// Declares [model], [lora], [train] and [run] with the values in `defaults` as defaults
// (model.path and train.output_dir are required whatever `defaults` holds).
void add_common_training_options(po::options_description& options,
                                 const CommonTrainingOptions& defaults = CommonTrainingOptions{});

// Reads and validates them; errors name the key ("train.per_device_train_batch_size must be
// positive, got 0"). Keys are declared under their canonical names (train/option_names.h).
CommonTrainingOptions common_training_options_from(const po::variables_map& values);

const char* device_kind_name(DeviceKind kind);

}  // namespace loom
