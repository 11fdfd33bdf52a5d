// The run configuration under Hugging Face TrainingArguments / TRL SFTConfig names
// (train/option_names.h): aliases, both names of a key given, did-you-mean for unknown keys,
// num_train_epochs and warmup_ratio as transformers' Trainer computes them
// (train/training_length.h), train.bf16 against run.compute, and run identities that treat
// an alias as its key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "train/config_file.h"
#include "train/option_names.h"
#include "train/run_identity.h"
#include "train/sft_options.h"
#include "train/training_length.h"

namespace loom {
namespace {

using test::error_of;

namespace fs = std::filesystem;

const char* const kRequired =
    "[model]\npath = m\n"
    "[data]\ntrain = t\n"
    "[train]\noutput_dir = o\n";

class TrlNames : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("trl-names");
    add_sft_options(options_);
  }

  // A config of the required keys plus `train_lines` (under [train]) and `run_lines` (under [run]).
  std::string ini(const std::string& name, const std::string& train_lines, const std::string& run_lines = "") {
    const std::string path = (fs::path(dir_) / name).string();
    std::ofstream(path) << kRequired << train_lines << "[run]\n" << run_lines;
    return path;
  }

  po::variables_map load(const std::string& path, const std::vector<std::string>& overrides = {}) {
    return load_config(options_, path, overrides);
  }

  std::string dir_;
  po::options_description options_;
};

// Each alias, in a file and on the command line, gives the same options and the same
// effective config as its canonical name; the effective config writes the canonical name.
// The pairs are written out here, not taken from the alias table under test.
TEST_F(TrlNames, AliasesMeanTheirCanonicalKey) {
  struct Case {
    const char* alias;
    const char* alias_value;
    const char* key;
    const char* key_value;
  };
  const Case cases[] = {
      {"train.micro_batch_size", "3", "train.per_device_train_batch_size", "3"},
      {"train.grad_accum_steps", "5", "train.gradient_accumulation_steps", "5"},
      {"train.epochs", "2.5", "train.num_train_epochs", "2.5"},
      {"train.lr_scheduler", "cosine", "train.lr_scheduler_type", "cosine"},
      {"train.resume", "auto", "train.resume_from_checkpoint", "auto"},
      {"train.bf16", "true", "run.compute", "bf16"},
      {"train.bf16", "false", "run.compute", "f32"},
  };
  const std::string defaults = effective_config_ini(options_, load(ini("defaults.ini", "")));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.alias);
    const std::string alias_key = std::string(c.alias).substr(std::string(c.alias).find('.') + 1);
    const std::string canonical = std::string(c.key).substr(std::string(c.key).find('.') + 1);
    const bool in_run = std::string(c.key).rfind("run.", 0) == 0;
    const std::string by_alias =
        effective_config_ini(options_, load(ini("alias.ini", alias_key + " = " + c.alias_value + "\n")));
    const std::string by_key =
        effective_config_ini(options_, load(in_run ? ini("key.ini", "", canonical + " = " + c.key_value + "\n")
                                                   : ini("key.ini", canonical + " = " + c.key_value + "\n")));
    const std::string by_command_line =
        effective_config_ini(options_, load(ini("plain.ini", ""), {std::string("--") + c.alias + "=" + c.alias_value}));
    EXPECT_EQ(by_alias, by_key);
    EXPECT_EQ(by_command_line, by_key);
    EXPECT_NE(by_key, defaults) << "the value did not reach the key";
    EXPECT_NE(by_key.find("\n" + canonical + " = " + c.key_value + "\n"), std::string::npos) << by_key;
    EXPECT_EQ(by_key.find("\n" + alias_key + " ="), std::string::npos) << by_key;
  }
  const TrainOptions t = sft_options_from(load(ini("all.ini",
                                                   "micro_batch_size = 3\ngrad_accum_steps = 5\nepochs = 0.5\n"
                                                   "lr_scheduler = constant\nbf16 = false\n")))
                             .common.train;
  EXPECT_EQ(t.micro_batch_size, 3);
  EXPECT_EQ(t.grad_accum_steps, 5);
  EXPECT_EQ(t.epochs, 0.5);
  EXPECT_EQ(t.lr_scheduler, LrScheduleKind::Constant);
}

// TRL's values of resume_from_checkpoint: true (the newest checkpoint), false, a path.
TEST_F(TrlNames, ResumeFromCheckpointTakesTrlValues) {
  const auto resume = [&](const std::string& value) {
    return sft_options_from(load(ini("r.ini", "resume_from_checkpoint = " + value + "\n"))).common.train;
  };
  EXPECT_EQ(resume("true").resume, ResumeMode::Auto);
  EXPECT_EQ(resume("false").resume, ResumeMode::No);
  EXPECT_EQ(resume(dir_).resume, ResumeMode::FromDirectory);
  EXPECT_EQ(resume(dir_).resume_dir, dir_);
}

TEST_F(TrlNames, KeyUnderTwoNamesInOneSourceIsRefused) {
  const std::string both = ini("both.ini", "micro_batch_size = 2\nper_device_train_batch_size = 2\n");
  EXPECT_EQ(error_of([&] { load(both); }),
            both +
                ": 'train.micro_batch_size' and 'train.per_device_train_batch_size' are two names of one key; "
                "give one of them");
  EXPECT_EQ(error_of([&] {
              load(ini("p.ini", ""), {"--train.epochs=2", "--train.num_train_epochs", "2"});
            }),
            "command line: 'train.epochs' and 'train.num_train_epochs' are two names of one key; give one of them");
  // The command line overriding the file under the other name is precedence, not a clash.
  const po::variables_map overridden =
      load(ini("f.ini", "per_device_train_batch_size = 2\n"), {"--train.micro_batch_size", "6"});
  EXPECT_EQ(overridden["train.per_device_train_batch_size"].as<int>(), 6);
  // The same alias twice is the usual duplicate, named as written.
  const std::string twice = ini("twice.ini", "epochs = 2\nepochs = 3\n");
  EXPECT_EQ(error_of([&] { load(twice); }), twice + ": key 'train.epochs' is given more than once");
  const std::string bad = ini("bad.ini", "micro_batch_size = many\n");
  EXPECT_EQ(error_of([&] { load(bad); }), bad + ": bad value 'many' for key 'train.micro_batch_size'");
}

TEST_F(TrlNames, Bf16AgainstRunCompute) {
  const std::string clash = ini("clash.ini", "bf16 = true\n", "compute = f32\n");
  EXPECT_EQ(error_of([&] { load(clash); }),
            clash + ": 'train.bf16' and 'run.compute' disagree (train.bf16 sets run.compute); give one of them");
  const std::string clash2 = ini("clash2.ini", "bf16 = no\n", "compute = bf16\n");
  EXPECT_EQ(error_of([&] { load(clash2); }),
            clash2 + ": 'train.bf16' and 'run.compute' disagree (train.bf16 sets run.compute); give one of them");
  EXPECT_EQ(error_of([&] {
              load(ini("p.ini", ""), {"--train.bf16=1", "--run.compute=auto"});
            }),
            "command line: 'train.bf16' and 'run.compute' disagree (train.bf16 sets run.compute); give one of them");
  // Agreeing values are no conflict.
  EXPECT_EQ(sft_options_from(load(ini("agree.ini", "bf16 = true\n", "compute = bf16\n"))).common.run.compute,
            ComputeMode::Bf16);
  // The command line overrides the file.
  EXPECT_EQ(sft_options_from(load(ini("f.ini", "", "compute = bf16\n"), {"--train.bf16", "off"})).common.run.compute,
            ComputeMode::F32);
  EXPECT_EQ(sft_options_from(load(ini("g.ini", "bf16 = yes\n"), {"--run.compute", "f32"})).common.run.compute,
            ComputeMode::F32);
  const std::string bad = ini("bad.ini", "bf16 = maybe\n");
  EXPECT_EQ(error_of([&] { load(bad); }), bad + ": bad value 'maybe' for key 'train.bf16'");
}

TEST(EditDistance, Levenshtein) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("rank", "r"), 3u);
  EXPECT_EQ(edit_distance("seed", "seed"), 0u);
  EXPECT_EQ(edit_distance("ab", "ba"), 2u);
}

// The documented rule: key-part distance (0 for initials), plus 1 for another section, ties
// to the earlier name.
TEST(NearestKey, DistancePlusOneForAnotherSection) {
  EXPECT_EQ(nearest_key("a.xy", {"a.xyzw", "b.xy"}), "b.xy");    // 0 + 1 beats 2 + 0
  EXPECT_EQ(nearest_key("a.xy", {"a.xyz", "b.xy"}), "a.xyz");    // 1 + 0 ties 0 + 1: the earlier
  EXPECT_EQ(nearest_key("a.xy", {"b.xy", "a.xyz"}), "b.xy");
  EXPECT_EQ(nearest_key("t.lr", {"t.seed", "t.learning_rate"}), "t.learning_rate");  // initials
  EXPECT_EQ(nearest_key("t.s", {"t.x", "t.seed"}), "t.x");  // a one-word key has no initials to match
  EXPECT_EQ(nearest_key("lr", {"t.seed", "t.learning_rate"}), "t.learning_rate");  // no section given
  EXPECT_EQ(nearest_key("t.x", {}), "");
}

TEST_F(TrlNames, UnknownKeysSuggestTheNearest) {
  const auto file_error = [&](const std::string& section, const std::string& line) {
    const std::string path = (fs::path(dir_) / "u.ini").string();
    std::ofstream(path) << kRequired << "[" << section << "]\n" << line << " = 1\n";
    const std::string error = error_of([&] { load(path); });
    return error.substr(std::min(error.size(), path.size() + 2));
  };
  EXPECT_EQ(file_error("train", "lr"), "unknown key 'train.lr' (did you mean 'train.learning_rate'?)");
  EXPECT_EQ(file_error("lora", "rank"), "unknown key 'lora.rank' (did you mean 'lora.r'?)");
  EXPECT_EQ(file_error("train", "per_device_batch_size"),
            "unknown key 'train.per_device_batch_size' (did you mean 'train.per_device_train_batch_size'?)");
  EXPECT_EQ(file_error("data", "max_seq_length"),
            "unknown key 'data.max_seq_length' (did you mean 'data.seq_length'?)");
  EXPECT_EQ(file_error("train", "gas"), "unknown key 'train.gas' (did you mean 'train.gradient_accumulation_steps'?)");
  EXPECT_EQ(file_error("train", "micro_batch"),
            "unknown key 'train.micro_batch' (did you mean 'train.micro_batch_size'?)");
  // Across sections: the key is right, the section is not.
  EXPECT_EQ(file_error("train", "r"), "unknown key 'train.r' (did you mean 'lora.r'?)");
  EXPECT_EQ(file_error("model", "learning_rate"),
            "unknown key 'model.learning_rate' (did you mean 'train.learning_rate'?)");
  EXPECT_EQ(file_error("training", "warmup_ratio"),
            "unknown key 'training.warmup_ratio' (did you mean 'train.warmup_ratio'?)");
  const std::string plain = (fs::path(dir_) / "plain.ini").string();
  std::ofstream(plain) << kRequired;
  EXPECT_EQ(error_of([&] {
              load(plain, {"--train.lerning_rate", "1e-3"});
            }),
            "command line: unknown key 'train.lerning_rate' (did you mean 'train.learning_rate'?)");
  EXPECT_EQ(error_of([&] { load(plain, {"--lora.lora_alpha=16"}); }),
            "command line: unknown key 'lora.lora_alpha' (did you mean 'lora.alpha'?)");
  EXPECT_EQ(error_of([&] {
              load(plain, {"--train.seed=1", "--data.sampler=block"});
            }),
            "command line: unknown key 'data.sampler' (did you mean 'data.sampling'?)");
}

// Expected numbers by hand from transformers' Trainer.set_initial_training_values:
//   max_steps = math.ceil(num_train_epochs * num_update_steps_per_epoch) when max_steps <= 0.
// 1024 records on 2 ranks, micro-batch 4, accumulation 2: 512 records per rank, 128
// micro-batches, 64 optimizer steps per epoch (transformers: 128 // 2 = 64 as well).
TEST(TrainingLength, EpochsGiveStepsAsTransformers) {
  EXPECT_EQ(total_training_steps(-1, 1.0, 64), 64);
  EXPECT_EQ(total_training_steps(-1, 3.0, 64), 192);
  EXPECT_EQ(total_training_steps(-1, 2.5, 64), 160);
  EXPECT_EQ(total_training_steps(-1, 0.3, 64), 20);   // 19.2 -> 20
  EXPECT_EQ(total_training_steps(-1, 0.01, 64), 1);   // 0.64 -> 1
  EXPECT_EQ(total_training_steps(-1, 0.07, 100), 8);  // Python: 0.07 * 100 = 7.000000000000001 -> 8
  EXPECT_EQ(total_training_steps(-1, 2.0, 0), 0);     // no whole step: the caller refuses it
  EXPECT_EQ(total_training_steps(50, 3.0, 64), 50);   // max_steps overrides epochs
  EXPECT_EQ(total_training_steps(500, 0.5, 64), 500);
}

// TrainingArguments.get_warmup_steps: warmup_steps if set, else math.ceil(total * ratio).
TEST(TrainingLength, WarmupRatioRoundsUp) {
  EXPECT_EQ(warmup_steps_for(0, 0.1, 155), 16);  // 15.5 -> 16
  EXPECT_EQ(warmup_steps_for(0, 0.03, 100), 3);  // exactly 3.0 in binary: 3
  EXPECT_EQ(warmup_steps_for(0, 0.07, 100), 8);  // 7.000000000000001 -> 8
  EXPECT_EQ(warmup_steps_for(0, 0.5, 3), 2);     // 1.5 -> 2
  EXPECT_EQ(warmup_steps_for(0, 0.01, 60), 1);   // 0.6 -> 1
  EXPECT_EQ(warmup_steps_for(0, 0.0, 60), 0);
  EXPECT_EQ(warmup_steps_for(5, 0.0, 60), 5);
}

TEST_F(TrlNames, EpochsAndWarmupRatioValues) {
  const TrainOptions t =
      sft_options_from(load(ini("e.ini", "num_train_epochs = 0.25\nwarmup_ratio = 0.1\n"))).common.train;
  EXPECT_EQ(t.epochs, 0.25);
  EXPECT_EQ(t.warmup_ratio, 0.1);
  const auto invalid = [&](const std::string& lines) {
    return error_of([&] { sft_options_from(load(ini("bad.ini", lines))); });
  };
  EXPECT_EQ(invalid("warmup_steps = 5\nwarmup_ratio = 0.1\n"),
            "train.warmup_steps (5) and train.warmup_ratio (0.1) both set the warmup; give one of them");
  EXPECT_EQ(invalid("warmup_ratio = 1.5\n"), "train.warmup_ratio must be in [0, 1], got 1.5");
  EXPECT_EQ(invalid("num_train_epochs = 0\n"), "train.num_train_epochs must be in (0, 1e+06], got 0");
}

// A checkpoint's identity written under loom's earlier names is the same run as one written
// under the canonical names; resume_allow_changes may name a key by either.
TEST(RunIdentityNames, AliasesAreTheirKey) {
  const std::string canonical =
      "[train]\nper_device_train_batch_size = 4\ngradient_accumulation_steps = 2\nlr_scheduler_type = cosine\n"
      "num_train_epochs = 1\nresume_from_checkpoint = no\n";
  const std::string old_names =
      "[train]\nmicro_batch_size = 4\ngrad_accum_steps = 2\nlr_scheduler = cosine\nepochs = 3\nresume = auto\n";
  EXPECT_TRUE(identity_differences(run_identity(old_names, 1), run_identity(canonical, 1), {}).empty());
  const nlohmann::json saved_by_older_version = {{"train.micro_batch_size", "4"},
                                                 {"train.grad_accum_steps", "2"},
                                                 {"train.lr_scheduler", "cosine"},
                                                 {"world_size", "1"}};
  EXPECT_TRUE(identity_differences(saved_by_older_version, run_identity(canonical, 1), {}).empty());
  EXPECT_EQ(run_identity_hash(saved_by_older_version), run_identity_hash(run_identity(canonical, 1)));
  std::string changed = canonical;
  changed.replace(changed.find("per_device_train_batch_size = 4"), 31, "per_device_train_batch_size = 8");
  EXPECT_EQ(identity_differences(saved_by_older_version, run_identity(changed, 1), {}),
            std::vector<std::string>{"train.per_device_train_batch_size: 4 -> 8"});
  EXPECT_TRUE(
      identity_differences(saved_by_older_version, run_identity(changed, 1), {"train.micro_batch_size"}).empty());
  EXPECT_TRUE(
      identity_differences(saved_by_older_version, run_identity(changed, 1), {"train.per_device_train_batch_size"})
          .empty());
}

}  // namespace
}  // namespace loom
