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

#include <boost/program_options.hpp>

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

// [train]
struct TrainOptions {
  std::string output_dir;  // required
  int micro_batch_size = 4;  // sequences per rank per forward/backward
  int grad_accum_steps = 1;  // micro-batches per optimizer step
  int max_steps = -1;        // optimizer steps; -1 = run `epochs` epochs
  int epochs = 1;
  double learning_rate = 2e-4;
  LrScheduleKind lr_scheduler = LrScheduleKind::Linear;
  int warmup_steps = 0;
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
};

enum class DeviceKind { Auto, Cpu, Cuda };

// [run]
struct RunOptions {
  DeviceKind device = DeviceKind::Auto;
  std::string compute = "f32";  // auto | f32 | bf16: the backend (backend/backend_factory.h)
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

// Reads and validates them; errors name the key ("train.micro_batch_size must be positive, got 0").
CommonTrainingOptions common_training_options_from(const po::variables_map& values);

const char* device_kind_name(DeviceKind kind);

}  // namespace loom
