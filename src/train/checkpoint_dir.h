// Checkpoint directories on a shared filesystem, transformers-style:
//   output_dir/checkpoint-STEP/   adapter, optimizer and train state, trainer_state.json
//
// Writing one (rank 0 writes, every rank waits at a barrier afterwards):
//   std::string tmp = begin_checkpoint(output_dir, step);   // output_dir/checkpoint-STEP.tmp
//   ... write files into tmp, trainer_state.json last (write_trainer_state) ...
//   commit_checkpoint(tmp, checkpoint_path(output_dir, step));
//   prune_checkpoints(output_dir, save_total_limit);
// A crash at any point leaves either the previous set of complete checkpoints or the new
// one: latest_checkpoint() only returns checkpoint-N directories (never *.tmp or *.old)
// that hold trainer_state.json, and recover_output_dir() cleans the leftovers at the next start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom {

inline constexpr const char* kTrainerStateFileName = "trainer_state.json";

// output_dir/checkpoint-STEP
std::string checkpoint_path(const std::string& output_dir, int64_t step);

// Creates output_dir (if needed) and an empty output_dir/checkpoint-STEP.tmp, removing a
// stale one left by an interrupted run; returns its path.
std::string begin_checkpoint(const std::string& output_dir, int64_t step);

// Makes tmp_dir durable and puts it at final_dir (io/atomic_file.h's commit_directory: an
// existing final_dir is exchanged in one rename, then the old one removed).
void commit_checkpoint(const std::string& tmp_dir, const std::string& final_dir);

// The complete checkpoints in output_dir (checkpoint-N directories holding
// trainer_state.json), oldest step first. Empty when output_dir does not exist.
std::vector<std::string> complete_checkpoints(const std::string& output_dir);

// Removes all but the newest keep_last complete checkpoints; keep_last 0 keeps all. Each is
// renamed to checkpoint-N.old before it is removed, so an interrupted prune never leaves a
// partly deleted checkpoint-N behind.
void prune_checkpoints(const std::string& output_dir, int keep_last);

// The final adapter's directory name: output_dir/final.
inline constexpr const char* kFinalDirName = "final";

// Cleans what a crash may leave in output_dir: checkpoint-N.tmp / final.tmp (unfinished
// writes, removed), checkpoint-N.old (an interrupted prune, removed) and final.old (renamed
// back when final/ is missing, removed otherwise). Returns one line per thing done.
std::vector<std::string> recover_output_dir(const std::string& output_dir);

// The newest complete checkpoint, if any.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// trainer_state.json, with the field names of transformers' TrainerState so its tools read it.
struct TrainerState {
  int64_t global_step = 0;
  double epoch = 0.0;  // fractional epochs completed
  int64_t max_steps = 0;
  int num_train_epochs = 1;
  int logging_steps = 0;
  int eval_steps = 0;
  int save_steps = 0;
  int train_batch_size = 0;  // micro-batch size per rank
  std::optional<double> best_metric;
  std::optional<std::string> best_model_checkpoint;
  nlohmann::json log_history = nlohmann::json::array();  // the metrics.jsonl objects so far
};

// Writes dir/trainer_state.json atomically.
void write_trainer_state(const std::string& dir, const TrainerState& state);

// Reads dir/trainer_state.json; errors name the file and the field.
TrainerState read_trainer_state(const std::string& dir);

}  // namespace loom
