// Checkpoint directories: atomic commit, crash leftovers, pruning, trainer_state.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/json_file.h"
#include "support/test_support.h"
#include "train/checkpoint_dir.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A complete checkpoint at `step` holding one file with `content`.
std::string save_checkpoint(const std::string& output_dir, int64_t step, const std::string& content) {
  const std::string tmp = begin_checkpoint(output_dir, step);
  write_text(fs::path(tmp) / "adapter_model.safetensors", content);
  TrainerState state;
  state.global_step = step;
  write_trainer_state(tmp, state);
  commit_checkpoint(tmp, checkpoint_path(output_dir, step));
  return checkpoint_path(output_dir, step);
}

TEST(CheckpointDir, BeginCommitLatest) {
  const std::string out = (fs::path(test::scratch_dir("ckpt-commit")) / "run").string();
  EXPECT_FALSE(latest_checkpoint(out).has_value());  // output_dir does not exist yet

  const std::string tmp = begin_checkpoint(out, 10);
  EXPECT_EQ(tmp, out + "/checkpoint-10.tmp");
  EXPECT_TRUE(fs::is_directory(tmp));
  EXPECT_FALSE(latest_checkpoint(out).has_value());

  save_checkpoint(out, 10, "ten");
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(latest_checkpoint(out).value_or(""), out + "/checkpoint-10");
  save_checkpoint(out, 9, "nine");  // the newest is the highest step, not the last written
  save_checkpoint(out, 100, "hundred");
  EXPECT_EQ(latest_checkpoint(out).value_or(""), out + "/checkpoint-100");
  EXPECT_EQ(
      complete_checkpoints(out),
      (std::vector<std::string>{out + "/checkpoint-9", out + "/checkpoint-10", out + "/checkpoint-100"}));
}

TEST(CheckpointDir, CrashLeftoversAreIgnored) {
  const std::string out = test::scratch_dir("ckpt-crash");
  save_checkpoint(out, 20, "twenty");

  // A crash while writing step 30: its .tmp directory is complete except for the rename.
  const std::string tmp = begin_checkpoint(out, 30);
  TrainerState state;
  state.global_step = 30;
  write_trainer_state(tmp, state);
  // A directory that looks like a checkpoint but was never finished, and unrelated names.
  fs::create_directory(fs::path(out) / "checkpoint-40");
  fs::create_directory(fs::path(out) / "checkpoint-50.old");
  write_trainer_state((fs::path(out) / "checkpoint-50.old").string(), state);
  fs::create_directory(fs::path(out) / "checkpoint-x60");
  write_text(fs::path(out) / "checkpoint-70", "a file, not a directory");

  EXPECT_EQ(latest_checkpoint(out).value_or(""), out + "/checkpoint-20");

  // The rerun at step 30 starts from a clean .tmp.
  const std::string again = begin_checkpoint(out, 30);
  EXPECT_TRUE(fs::is_empty(again));
}

TEST(CheckpointDir, CommitReplacesAnExistingCheckpoint) {
  const std::string out = test::scratch_dir("ckpt-replace");
  const std::string dir = save_checkpoint(out, 5, "old");
  save_checkpoint(out, 5, "new");
  EXPECT_EQ(read_text_file(dir + "/adapter_model.safetensors"), "new");
  EXPECT_FALSE(fs::exists(dir + ".old"));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

TEST(CheckpointDir, PruneKeepsTheNewest) {
  const std::string out = test::scratch_dir("ckpt-prune");
  for (int64_t step : {100, 200, 300, 400}) save_checkpoint(out, step, "x");
  const std::string unfinished = begin_checkpoint(out, 500);

  prune_checkpoints(out, 0);  // 0 keeps all
  EXPECT_EQ(complete_checkpoints(out).size(), 4u);
  prune_checkpoints(out, 2);
  EXPECT_EQ(complete_checkpoints(out),
            (std::vector<std::string>{out + "/checkpoint-300", out + "/checkpoint-400"}));
  EXPECT_FALSE(fs::exists(fs::path(out) / "checkpoint-100"));
  EXPECT_TRUE(fs::is_directory(unfinished));  // only complete checkpoints are pruned
  prune_checkpoints(out, 5);
  EXPECT_EQ(complete_checkpoints(out).size(), 2u);
}

TEST(CheckpointDir, TrainerStateRoundTrip) {
  const std::string dir = test::scratch_dir("ckpt-trainer-state");
  TrainerState state;
  state.global_step = 60;
  state.epoch = 1.5;
  state.max_steps = 80;
  state.num_train_epochs = 2;
  state.logging_steps = 5;
  state.eval_steps = 20;
  state.save_steps = 30;
  state.train_batch_size = 4;
  state.log_history.push_back({{"step", 5}, {"loss", 2.5}, {"learning_rate", 1e-3}});
  state.log_history.push_back({{"step", 20}, {"eval_loss", 2.0}});
  write_trainer_state(dir, state);

  const nlohmann::json j =
      parse_json_object(read_text_file(dir + "/trainer_state.json"), "trainer_state.json");
  EXPECT_EQ(j["global_step"], 60);
  EXPECT_TRUE(j["best_metric"].is_null());
  EXPECT_TRUE(j["best_model_checkpoint"].is_null());
  EXPECT_EQ(j["log_history"][0]["loss"], 2.5);

  const TrainerState back = read_trainer_state(dir);
  EXPECT_EQ(back.global_step, 60);
  EXPECT_EQ(back.epoch, 1.5);
  EXPECT_EQ(back.max_steps, 80);
  EXPECT_EQ(back.num_train_epochs, 2);
  EXPECT_EQ(back.logging_steps, 5);
  EXPECT_EQ(back.eval_steps, 20);
  EXPECT_EQ(back.save_steps, 30);
  EXPECT_EQ(back.train_batch_size, 4);
  EXPECT_FALSE(back.best_metric.has_value());
  EXPECT_EQ(back.log_history, state.log_history);

  state.best_metric = 1.25;
  state.best_model_checkpoint = "out/checkpoint-40";
  write_trainer_state(dir, state);
  EXPECT_EQ(read_trainer_state(dir).best_metric.value_or(0.0), 1.25);
  EXPECT_EQ(read_trainer_state(dir).best_model_checkpoint.value_or(""), "out/checkpoint-40");
}

TEST(CheckpointDir, TrainerStateErrorsNameTheFile) {
  const std::string dir = test::scratch_dir("ckpt-trainer-state-bad");
  const std::string path = dir + "/trainer_state.json";
  write_text(path, R"({"epoch": 1.0})");
  try {
    read_trainer_state(dir);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": global_step is missing");
  }
  write_text(path, R"({"global_step": "ten"})");
  EXPECT_THROW(read_trainer_state(dir), Error);
}

}  // namespace
}  // namespace loom
