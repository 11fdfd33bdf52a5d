// Run configuration: INI + command-line overrides (config_file.h), the shared training
// options and the SFT options (training_options.h, sft_options.h), and the shipped configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "support/test_support.h"
#include "train/config_file.h"
#include "train/sft_options.h"

namespace loom {
namespace {

using test::error_of;

namespace fs = std::filesystem;


std::string write_ini(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = (fs::path(dir) / name).string();
  std::ofstream(path) << text;
  return path;
}

po::options_description sft_description() {
  po::options_description options;
  add_sft_options(options);
  return options;
}

const char* const kMinimalIni =
    "[model]\npath = models/tiny\n"
    "[data]\ntrain = data/train.manifest\n"
    "[train]\noutput_dir = runs/tiny\nlearning_rate = 1e-3\n";

class TrainConfig : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::scratch_dir("train-config"); }
  std::string dir_;
  po::options_description options_ = sft_description();
};

TEST_F(TrainConfig, UnknownKeyInFileNamesFileAndKey) {
  const std::string path = write_ini(dir_, "x.ini", std::string(kMinimalIni) + "lr = 3\n");
  EXPECT_EQ(error_of([&] { load_config(options_, path, {}); }),
            path + ": unknown key 'train.lr' (did you mean 'train.learning_rate'?)");
}

TEST_F(TrainConfig, UnknownKeyOnCommandLine) {
  const std::string path = write_ini(dir_, "x.ini", kMinimalIni);
  EXPECT_EQ(error_of([&] {
              load_config(options_, path, {"--train.lr", "3"});
            }),
            "command line: unknown key 'train.lr' (did you mean 'train.learning_rate'?)");
  EXPECT_EQ(error_of([&] { load_config(options_, path, {"--train.learning=3"}); }),
            "command line: unknown key 'train.learning' (did you mean 'train.learning_rate'?)");  // no abbreviations
}

TEST_F(TrainConfig, BadValuesNameFileAndKey) {
  const std::string path = write_ini(dir_, "x.ini", std::string(kMinimalIni) + "micro_batch_size = four\n");
  EXPECT_EQ(error_of([&] { load_config(options_, path, {}); }),
            path + ": bad value 'four' for key 'train.micro_batch_size'");
  const std::string good = write_ini(dir_, "good.ini", kMinimalIni);
  EXPECT_EQ(error_of([&] {
              load_config(options_, good, {"--model.gradient_checkpointing", "maybe"});
            }),
            "command line: bad value 'maybe' for key 'model.gradient_checkpointing'");
  EXPECT_EQ(error_of([&] { load_config(options_, good, {"--train.seed"}); }),
            "command line: key 'train.seed' needs a value");
}

TEST_F(TrainConfig, OtherMistakes) {
  const std::string twice = write_ini(dir_, "twice.ini", std::string(kMinimalIni) + "learning_rate = 2e-3\n");
  EXPECT_EQ(error_of([&] { load_config(options_, twice, {}); }),
            twice + ": key 'train.learning_rate' is given more than once");
  const std::string missing = (fs::path(dir_) / "missing.ini").string();
  EXPECT_EQ(error_of([&] { load_config(options_, missing, {}); }).rfind(missing + ": cannot read", 0), 0u);
  const std::string good = write_ini(dir_, "good.ini", kMinimalIni);
  EXPECT_EQ(error_of([&] { load_config(options_, good, {"stray"}); }),
            "command line: unexpected argument 'stray' (options are --section.key value)");
  const std::string no_model =
      write_ini(dir_, "no_model.ini", "[data]\ntrain = t\n[train]\noutput_dir = o\n");
  EXPECT_EQ(error_of([&] { load_config(options_, no_model, {}); }),
            "missing required key 'model.path' (set it in " + no_model + " or with --model.path)");
}

TEST_F(TrainConfig, CommandLineWinsOverFileWinsOverDefault) {
  const std::string path = write_ini(dir_, "x.ini", std::string(kMinimalIni) + "warmup_steps = 7\n");
  const po::variables_map from_file = load_config(options_, path, {});
  EXPECT_EQ(from_file["train.learning_rate"].as<double>(), 1e-3);
  EXPECT_EQ(from_file["train.warmup_steps"].as<int>(), 7);
  EXPECT_EQ(from_file["train.per_device_train_batch_size"].as<int>(), 4);  // default

  const po::variables_map overridden = load_config(
      options_, path, {"--train.learning_rate", "3e-4", "--train.warmup_steps=2", "--train.max_steps", "-1"});
  EXPECT_EQ(overridden["train.learning_rate"].as<double>(), 3e-4);
  EXPECT_EQ(overridden["train.warmup_steps"].as<int>(), 2);
  EXPECT_EQ(overridden["train.max_steps"].as<int>(), -1);
  EXPECT_EQ(overridden["model.path"].as<std::string>(), "models/tiny");

  // Everything can come from the command line alone.
  const po::variables_map no_file = load_config(
      options_, "", {"--model.path", "m", "--data.train", "t", "--train.output_dir", "o", "--lora.r=16"});
  EXPECT_EQ(sft_options_from(no_file).common.lora.r, 16);
}

TEST_F(TrainConfig, DefaultsFollowTrl) {
  const std::string path =
      write_ini(dir_, "x.ini", "[model]\npath = m\n[data]\ntrain = t\n[train]\noutput_dir = o\n");
  const SftOptions o = sft_options_from(load_config(options_, path, {}));
  EXPECT_EQ(o.common.model.path, "m");
  EXPECT_EQ(o.common.model.quant, QuantMode::NF4);
  EXPECT_FALSE(o.common.model.gradient_checkpointing);
  EXPECT_EQ(o.common.lora.r, 8);
  EXPECT_EQ(o.common.lora.alpha, 16.0f);
  EXPECT_EQ(o.common.lora.dropout, 0.05f);
  EXPECT_EQ(o.common.lora.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_FALSE(o.common.lora.use_rslora);
  EXPECT_EQ(o.common.lora.base_model_name_or_path, "m");
  const TrainOptions& t = o.common.train;
  EXPECT_EQ(t.output_dir, "o");
  EXPECT_EQ(t.micro_batch_size, 4);
  EXPECT_EQ(t.grad_accum_steps, 1);
  EXPECT_EQ(t.max_steps, -1);
  EXPECT_EQ(t.epochs, 1);
  EXPECT_EQ(t.learning_rate, 2e-4);
  EXPECT_EQ(t.lr_scheduler, LrScheduleKind::Linear);
  EXPECT_EQ(t.warmup_steps, 0);
  EXPECT_EQ(t.weight_decay, 0.0f);
  EXPECT_EQ(t.adam_beta1, 0.9f);
  EXPECT_EQ(t.adam_beta2, 0.999f);
  EXPECT_EQ(t.adam_epsilon, 1e-8f);
  EXPECT_EQ(t.max_grad_norm, 1.0f);
  EXPECT_EQ(t.seed, 42u);
  EXPECT_EQ(t.logging_steps, 10);
  EXPECT_EQ(t.eval_steps, 0);
  EXPECT_EQ(t.save_steps, 100);
  EXPECT_EQ(t.save_total_limit, 2);
  EXPECT_EQ(t.resume, ResumeMode::No);
  EXPECT_EQ(o.common.run.device, DeviceKind::Auto);
  EXPECT_EQ(o.data.train, "t");
  EXPECT_EQ(o.data.eval, "");
  EXPECT_EQ(o.data.sampling, data::Partition::strided);
  EXPECT_EQ(o.data.seq_length, 0);
}

// A later stage (the reward model) declares the same sections with its own defaults.
TEST(CommonTrainingOptions, StageDefaults) {
  CommonTrainingOptions reward_defaults;
  reward_defaults.lora.alpha = 32.0f;
  reward_defaults.lora.dropout = 0.1f;
  reward_defaults.train.learning_rate = 2e-5;
  reward_defaults.train.lr_scheduler = LrScheduleKind::Constant;
  po::options_description options;
  add_common_training_options(options, reward_defaults);
  const CommonTrainingOptions o = common_training_options_from(
      load_config(options, "", {"--model.path", "m", "--train.output_dir", "o", "--lora.r", "4"}));
  EXPECT_EQ(o.lora.r, 4);
  EXPECT_EQ(o.lora.alpha, 32.0f);
  EXPECT_EQ(o.lora.dropout, 0.1f);
  EXPECT_EQ(o.train.learning_rate, 2e-5);
  EXPECT_EQ(o.train.lr_scheduler, LrScheduleKind::Constant);
  EXPECT_EQ(o.train.micro_batch_size, 4);
}

TEST_F(TrainConfig, ValidationNamesTheKey) {
  const std::string path = write_ini(dir_, "x.ini", kMinimalIni);
  const auto invalid = [&](std::vector<std::string> overrides) {
    return error_of([&] { sft_options_from(load_config(options_, path, overrides)); });
  };
  EXPECT_EQ(invalid({"--train.micro_batch_size=0"}), "train.per_device_train_batch_size must be positive, got 0");
  EXPECT_EQ(invalid({"--train.max_steps=0"}), "train.max_steps must be positive or -1, got 0");
  EXPECT_EQ(invalid({"--lora.dropout=1"}), "lora.dropout must be in [0, 1), got 1");
  EXPECT_EQ(invalid({"--train.adam_beta2=1"}), "train.adam_beta2 must be in [0, 1), got 1");
  EXPECT_EQ(invalid({"--train.learning_rate=0"}), "train.learning_rate must be in (0, 1], got 0");
  EXPECT_EQ(invalid({"--train.warmup_steps=-1"}), "train.warmup_steps must be 0 or more, got -1");
  EXPECT_EQ(invalid({"--train.seed=-3"}), "train.seed must be 0 or more, got -3");
  EXPECT_EQ(invalid({"--train.lr_scheduler=cosine_with_restarts"}),
            "train.lr_scheduler_type must be constant, linear or cosine, got 'cosine_with_restarts'");
  EXPECT_EQ(invalid({"--model.quant=nf5"}), "model.quant must be nf4, int8, bf16 or f32, got 'nf5'");
  EXPECT_EQ(invalid({"--run.device=tpu"}), "run.device must be auto, cpu or cuda, got 'tpu'");
  EXPECT_EQ(invalid({"--data.sampling=random"}),
            "data.sampling: unknown partition 'random' (expected strided or block)");
  const std::string empty_path = write_ini(dir_, "empty.ini", std::string(kMinimalIni) + "[model]\npath =\n");
  EXPECT_EQ(error_of([&] { sft_options_from(load_config(options_, empty_path, {})); }),
            empty_path + ": key 'model.path' is given more than once");
  const std::string blank =
      write_ini(dir_, "blank.ini", "[model]\npath =\n[data]\ntrain = t\n[train]\noutput_dir = o\n");
  EXPECT_EQ(error_of([&] { sft_options_from(load_config(options_, blank, {})); }),
            "model.path must not be empty");
  EXPECT_EQ(invalid({"--train.eval_steps=50"}),
            "train.eval_steps is 50 but data.eval names no evaluation manifest");
  EXPECT_EQ(invalid({"--lora.target_modules=q,x"}).rfind("lora.target_modules: ", 0), 0u);
  const std::string not_dir = (fs::path(dir_) / "nowhere").string();
  EXPECT_EQ(invalid({"--train.resume", not_dir}),
            "train.resume_from_checkpoint: '" + not_dir +
                "' is not a directory (use no, auto or a checkpoint directory)");
}

TEST_F(TrainConfig, ParsedValues) {
  const std::string path = write_ini(dir_, "x.ini", kMinimalIni);
  const SftOptions o = sft_options_from(
      load_config(options_, path,
                  {"--model.quant=int8", "--lora.target_modules=all-linear", "--train.lr_scheduler=cosine",
                   "--train.resume=auto", "--run.device=cpu", "--data.sampling=block", "--data.eval=e",
                   "--train.eval_steps=5", "--lora.use_rslora=true"}));
  EXPECT_EQ(o.common.model.quant, QuantMode::INT8);
  EXPECT_EQ(o.common.lora.target_modules.size(), 7u);
  EXPECT_TRUE(o.common.lora.use_rslora);
  EXPECT_EQ(o.common.train.lr_scheduler, LrScheduleKind::Cosine);
  EXPECT_EQ(o.common.train.resume, ResumeMode::Auto);
  EXPECT_EQ(o.common.run.device, DeviceKind::Cpu);
  EXPECT_EQ(o.data.sampling, data::Partition::block);
  EXPECT_EQ(o.data.eval, "e");
  EXPECT_EQ(o.common.train.eval_steps, 5);

  const SftOptions resumed = sft_options_from(load_config(options_, path, {"--train.resume", dir_}));
  EXPECT_EQ(resumed.common.train.resume, ResumeMode::FromDirectory);
  EXPECT_EQ(resumed.common.train.resume_dir, dir_);
}

TEST_F(TrainConfig, EffectiveConfigRoundTrips) {
  const std::string path = write_ini(dir_, "x.ini", kMinimalIni);
  const po::variables_map values = load_config(
      options_, path, {"--train.adam_epsilon=1.5e-7", "--lora.dropout", "0.1", "--train.learning_rate=3e-4"});
  const std::string text = effective_config_ini(options_, values);
  EXPECT_NE(text.find("[train]\noutput_dir = runs/tiny\n"), std::string::npos) << text;
  EXPECT_NE(text.find("learning_rate = 3e-04\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dropout = 0.1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n[data]\ntrain = data/train.manifest\neval =\n"), std::string::npos) << text;

  const std::string saved = write_ini(dir_, kEffectiveConfigFileName, text);
  const po::variables_map reloaded = load_config(options_, saved, {});
  EXPECT_EQ(effective_config_ini(options_, reloaded), text);
  const SftOptions a = sft_options_from(values), b = sft_options_from(reloaded);
  EXPECT_EQ(a.common.train.adam_epsilon, b.common.train.adam_epsilon);
  EXPECT_EQ(a.common.lora.dropout, b.common.lora.dropout);
  EXPECT_EQ(a.common.train.learning_rate, b.common.train.learning_rate);
  EXPECT_EQ(b.common.lora.dropout, 0.1f);
}

TEST_F(TrainConfig, EffectiveConfigRefusesValuesIniCannotHold) {
  const std::string path = write_ini(dir_, "x.ini", kMinimalIni);
  const po::variables_map values = load_config(options_, path, {"--train.output_dir", "runs/#1"});
  EXPECT_EQ(error_of([&] {
              effective_config_ini(options_, values);
            }).rfind("key 'train.output_dir': value 'runs/#1'", 0),
            0u);
}

TEST(ConfigArguments, SplitsConfigHelpAndOverrides) {
  const char* argv[] = {"sft", "--config",  "configs/tiny-sft.ini", "--train.max_steps", "5",
                        "-h",  "--lora.r=4"};
  const ConfigArguments a = split_config_arguments(7, argv);
  EXPECT_EQ(a.config_path, "configs/tiny-sft.ini");
  EXPECT_TRUE(a.help);
  EXPECT_EQ(a.overrides, (std::vector<std::string>{"--train.max_steps", "5", "--lora.r=4"}));

  const char* adjacent[] = {"sft", "--config=c.ini"};
  EXPECT_EQ(split_config_arguments(2, adjacent).config_path, "c.ini");
  EXPECT_FALSE(split_config_arguments(2, adjacent).help);
  const char* dangling[] = {"sft", "--config"};
  EXPECT_EQ(error_of([&] { split_config_arguments(2, dangling); }),
            "command line: --config needs a file path");
}

// Every shipped SFT config loads and validates (paths inside are relative to the run directory
// and are not opened here).
TEST(ShippedConfigs, SftConfigsLoad) {
  const po::options_description options = sft_description();
  const std::string configs = (fs::path(test::source_dir()) / "configs").string();
  for (const char* name : {"tiny-sft.ini", "llama2-7b-qlora-sft.ini", "llama-7b-stackllama-sft.ini"}) {
    const std::string path = (fs::path(configs) / name).string();
    SCOPED_TRACE(path);
    EXPECT_NO_THROW(sft_options_from(load_config(options, path, {})));
  }
  const SftOptions qlora = sft_options_from(load_config(options, configs + "/llama2-7b-qlora-sft.ini", {}));
  EXPECT_EQ(qlora.common.model.quant, QuantMode::NF4);
  EXPECT_EQ(qlora.common.lora.r, 8);
  EXPECT_EQ(qlora.common.lora.alpha, 32.0f);
  EXPECT_EQ(qlora.common.lora.dropout, 0.05f);
  EXPECT_EQ(qlora.common.lora.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(qlora.common.train.micro_batch_size, 16);
  EXPECT_EQ(qlora.common.train.grad_accum_steps, 4);
  EXPECT_EQ(qlora.common.train.warmup_steps, 2);
  EXPECT_EQ(qlora.common.train.max_steps, 100);
  EXPECT_EQ(qlora.common.train.learning_rate, 2e-4);

  const SftOptions stack =
      sft_options_from(load_config(options, configs + "/llama-7b-stackllama-sft.ini", {}));
  EXPECT_EQ(stack.common.model.quant, QuantMode::INT8);
  EXPECT_EQ(stack.common.lora.r, 16);
  EXPECT_EQ(stack.common.lora.alpha, 32.0f);
  EXPECT_EQ(stack.data.seq_length, 1024);
  EXPECT_EQ(stack.common.train.learning_rate, 1e-5);
  EXPECT_EQ(stack.common.train.lr_scheduler, LrScheduleKind::Cosine);
}

}  // namespace
}  // namespace loom
