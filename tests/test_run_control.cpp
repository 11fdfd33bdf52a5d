// The shared run control (train/run_control.h) and its parts: atomic directory replacement,
// crash leftovers, the output-directory lock, the run identity a resume checks, the NaN/Inf
// guard, checkpoints refused when a value is not finite, and options refusing NaN/Inf.
#include <gtest/gtest.h>

#include "backend/cpu_f32.h"
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "io/atomic_file.h"
#include "support/test_support.h"
#include "support/tiny_model.h"
#include "train/config_file.h"
#include "train/run_control.h"
#include "train/run_dir_owner.h"
#include "train/run_identity.h"
#include "train/training_options.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

LoraSpec q_k_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = {"q_proj", "k_proj"};
  return spec;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(AtomicReplace, NewDirectoryInOldGoneNothingLeftBehind) {
  const fs::path root = test::scratch_dir("replace");
  const std::string dir = (root / "final").string();
  replace_directory_atomically(dir, [](const std::string& tmp) { write_text(fs::path(tmp) / "a", "old"); });
  replace_directory_atomically(dir + "/", [](const std::string& tmp) { write_text(fs::path(tmp) / "a", "new"); });
  EXPECT_EQ(read_text(fs::path(dir) / "a"), "new");
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
  EXPECT_FALSE(fs::exists(dir + ".old"));
}

TEST(AtomicReplace, FailedWriteLeavesOldAndNoTmp) {
  const std::string dir = (fs::path(test::scratch_dir("replace-fail")) / "final").string();
  replace_directory_atomically(dir, [](const std::string& tmp) { write_text(fs::path(tmp) / "a", "old"); });
  EXPECT_THROW(replace_directory_atomically(dir,
                                            [](const std::string& tmp) {
                                              write_text(fs::path(tmp) / "a", "half");
                                              LOOM_FAIL("disk full");
                                            }),
               Error);
  EXPECT_EQ(read_text(fs::path(dir) / "a"), "old");
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

TEST(RecoverOutputDir, RestoresFinalRemovesTmpAndPrunedLeftovers) {
  const fs::path out = test::scratch_dir("recover");
  fs::create_directories(out / "final.old");  // a replacement interrupted between its two renames
  write_text(out / "final.old" / "adapter", "x");
  fs::create_directories(out / "checkpoint-5.tmp");
  fs::create_directories(out / "checkpoint-3.old");  // an interrupted prune
  fs::create_directories(out / "checkpoint-4");
  const std::vector<std::string> done = recover_output_dir(out.string());
  EXPECT_EQ(done.size(), 3u);
  EXPECT_EQ(read_text(out / "final" / "adapter"), "x");
  EXPECT_FALSE(fs::exists(out / "final.old"));
  EXPECT_FALSE(fs::exists(out / "checkpoint-5.tmp"));
  EXPECT_FALSE(fs::exists(out / "checkpoint-3.old"));
  EXPECT_TRUE(fs::exists(out / "checkpoint-4"));
}

TEST(RunDirOwner, SecondOwnerRefusedNamingHostAndPid) {
  const std::string out = test::scratch_dir("owner");
  {
    RunDirOwner first(out);
    const std::string error = test::error_of([&] { RunDirOwner second(out); });
    test::expect_contains(error, out + ": in use by the run of host ");
    test::expect_contains(error, cat("pid ", getpid()));
  }
  RunDirOwner again(out);  // released with the first
}

TEST(RunIdentity, DifferencesListedUnlessAllowedOrFree) {
  const fs::path dir = test::scratch_dir("identity");
  write_text(dir / "manifest.json", "{\"seq_len\": 32}");
  const std::string manifest = (dir / "manifest.json").string();
  const std::string a = "[lora]\nr = 8\n\n[train]\nlearning_rate = 0.001\nsave_steps = 10\n\n[data]\ntrain = " + manifest + "\n";
  const nlohmann::json saved = run_identity(a, 1);
  EXPECT_TRUE(identity_differences(saved, run_identity(a, 1), {}).empty());
  std::string b = a;
  b.replace(b.find("r = 8"), 5, "r = 16");
  b.replace(b.find("save_steps = 10"), 15, "save_steps = 20");  // free: no difference
  EXPECT_EQ(identity_differences(saved, run_identity(b, 1), {}), std::vector<std::string>{"lora.r: 8 -> 16"});
  EXPECT_TRUE(identity_differences(saved, run_identity(b, 1), {"lora.r"}).empty());
  // A world-size change is refused saying why: the sample order would not be kept.
  const std::vector<std::string> world = identity_differences(saved, run_identity(a, 2), {});
  ASSERT_EQ(world.size(), 1u);
  EXPECT_EQ(world[0].rfind("world_size: 1 -> 2 (each rank resumes its own data cursor", 0), 0u) << world[0];
  EXPECT_NE(world[0].find("the sample order is not kept"), std::string::npos) << world[0];
  write_text(dir / "manifest.json", "{\"seq_len\": 64}");  // same path, other data
  EXPECT_EQ(identity_differences(saved, run_identity(a, 1), {}),
            std::vector<std::string>{"data.train: the file's contents changed"});
  EXPECT_NE(run_identity_hash(saved), run_identity_hash(run_identity(a, 1)));
}

struct NoStageState : CheckpointedStage {
  nlohmann::json data_cursor() const override { return nlohmann::json::object(); }
  void restore_data_cursor(const nlohmann::json&, const std::string&) override {}
};

struct ControlFixture {
  test::TinyModel m = test::make_tiny_model("run-control", test::tiny_test_config(), QuantMode::F32,
                                            q_k_spec());
  TrainOptions train;
  TrainingRun run;
  TrainableState state{m.layout->total(), cpu_f32_backend()};
  dist::Comm comm;
  NoStageState stage;
  explicit ControlFixture(const std::string& name) {
    train.output_dir = test::scratch_dir(name);
    train.save_total_limit = 1;
    run.train = &train;
    std::copy(m.params.begin(), m.params.end(), state.params());
  }
};

TEST(RunControl, NonFiniteCheckpointRefusedNoTmpNewestFiniteKept) {
  ControlFixture f("control-nan-save");
  RunControl control(f.run, *f.m.layout, f.state, f.comm);
  EXPECT_EQ(control.start(f.stage, 10), 0);
  control.save_checkpoint(1, f.stage, TrainerState{});
  f.state.params()[3] = std::numeric_limits<float>::quiet_NaN();
  const std::string error = test::error_of([&] { control.save_checkpoint(2, f.stage, TrainerState{}); });
  test::expect_contains(error, "refusing to write trainable parameter 3 = nan");
  EXPECT_FALSE(fs::exists(checkpoint_path(f.train.output_dir, 2)));
  EXPECT_FALSE(fs::exists(checkpoint_path(f.train.output_dir, 2) + ".tmp"));
  EXPECT_TRUE(fs::exists(checkpoint_path(f.train.output_dir, 1)));  // save_total_limit 1 did not prune it
  EXPECT_THROW(control.save_final(), Error);
  EXPECT_FALSE(fs::exists(final_adapter_dir(f.train.output_dir)));
}

TEST(RunControl, NanPolicyStopFailsSkipCountsThenFails) {
  ControlFixture f("control-nan-policy");
  RunControl stop(f.run, *f.m.layout, f.state, f.comm);
  EXPECT_TRUE(stop.accept_update(1, 2.5, 1.0));
  test::expect_contains(test::error_of([&] { stop.accept_update(2, std::nan(""), 1.0); }),
                        "step 2: loss nan, grad_norm 1 (not finite): stopping (train.nan_policy = stop)");
  EXPECT_THROW(stop.accept_update(2, 1.0, INFINITY), Error);

  f.train.nan_policy = NanPolicy::Skip;
  f.train.max_skipped_steps = 3;
  RunControl skip(f.run, *f.m.layout, f.state, f.comm);
  EXPECT_FALSE(skip.accept_update(1, std::nan(""), 1.0));
  EXPECT_FALSE(skip.accept_update(2, 1.0, INFINITY));
  EXPECT_TRUE(skip.accept_update(3, 1.0, 1.0));  // a finite update resets the count in a row
  EXPECT_FALSE(skip.accept_update(4, std::nan(""), 1.0));
  EXPECT_FALSE(skip.accept_update(5, std::nan(""), 1.0));
  EXPECT_EQ(skip.skipped_updates(), 4);
  test::expect_contains(test::error_of([&] { skip.accept_update(6, std::nan(""), 1.0); }),
                        "3 updates in a row were not finite");
}

TEST(RunControl, AdapterWithNanIsRefusedOnLoad) {
  test::TinyModel m = test::make_tiny_model("nan-adapter", test::tiny_test_config(), QuantMode::F32, q_k_spec());
  const std::string dir = test::scratch_dir("nan-adapter-out");
  m.params[m.layout->slots()[1].b + 2] = INFINITY;
  save_peft_adapter(dir, *m.layout, m.params.data(), "");  // as an older loom could write it
  std::vector<float> loaded(m.layout->total());
  const std::string error = test::error_of([&] { load_peft_adapter(dir, *m.layout, loaded.data(), ""); });
  test::expect_contains(error, "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight' "
                               "holds 1 NaN or infinite values (the first at element 2)");
}

TEST(TrainingOptions, NonFiniteAndOutOfRangeValuesRefused) {
  po::options_description options;
  add_common_training_options(options);
  const std::vector<std::string> base = {"--model.path", "m", "--train.output_dir", "o"};
  const auto error_for = [&](const std::string& key, const std::string& value) {
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--" + key, value});
    return test::error_of([&] { common_training_options_from(load_config(options, "", args)); });
  };
  EXPECT_EQ(error_for("train.learning_rate", "inf"), "train.learning_rate must be finite, got inf");
  EXPECT_EQ(error_for("train.learning_rate", "1e30"), "train.learning_rate must be in (0, 1], got 1e+30");
  EXPECT_EQ(error_for("lora.alpha", "inf"), "lora.alpha must be finite, got inf");
  EXPECT_EQ(error_for("train.weight_decay", "inf"), "train.weight_decay must be finite, got inf");
  EXPECT_EQ(error_for("lora.dropout", "nan"), "lora.dropout must be finite, got nan");
  EXPECT_EQ(error_for("train.nan_policy", "ignore"), "train.nan_policy must be stop or skip, got 'ignore'");
  EXPECT_EQ(error_for("train.max_skipped_steps", "0"), "train.max_skipped_steps must be positive, got 0");
}

}  // namespace
}  // namespace loom
