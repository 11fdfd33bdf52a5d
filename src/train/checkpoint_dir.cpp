#include "train/checkpoint_dir.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/json_file.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCheckpointPrefix = "checkpoint-";

// The step of a directory named exactly checkpoint-N, or nullopt.
std::optional<int64_t> checkpoint_step(const std::string& name) {
  if (name.rfind(kCheckpointPrefix, 0) != 0) return std::nullopt;
  const char* begin = name.data() + kCheckpointPrefix.size();
  const char* end = name.data() + name.size();
  int64_t step = 0;
  const auto result = std::from_chars(begin, end, step);
  if (begin == end || result.ec != std::errc() || result.ptr != end || step < 0) return std::nullopt;
  return step;
}

void remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  LOOM_REQUIRE(!error, path.string(), ": cannot remove (", error.message(), ")");
}

}  // namespace

std::string checkpoint_path(const std::string& output_dir, int64_t step) {
  return (fs::path(output_dir) / cat(kCheckpointPrefix, step)).string();
}

std::string begin_checkpoint(const std::string& output_dir, int64_t step) {
  const fs::path tmp = checkpoint_path(output_dir, step) + ".tmp";
  std::error_code error;
  fs::create_directories(output_dir, error);
  LOOM_REQUIRE(!error, output_dir, ": cannot create directory (", error.message(), ")");
  remove_tree(tmp);
  fs::create_directory(tmp, error);
  LOOM_REQUIRE(!error, tmp.string(), ": cannot create directory (", error.message(), ")");
  return tmp.string();
}

void commit_checkpoint(const std::string& tmp_dir, const std::string& final_dir) {
  commit_directory(tmp_dir, final_dir);
}

std::vector<std::string> complete_checkpoints(const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code error;
  for (fs::directory_iterator it(output_dir, error), end; !error && it != end; it.increment(error)) {
    const std::optional<int64_t> step = checkpoint_step(it->path().filename().string());
    if (step && it->is_directory() && fs::is_regular_file(it->path() / kTrainerStateFileName))
      found.emplace_back(*step, it->path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

void prune_checkpoints(const std::string& output_dir, int keep_last) {
  if (keep_last <= 0) return;
  const std::vector<std::string> checkpoints = complete_checkpoints(output_dir);
  const size_t keep = static_cast<size_t>(keep_last);
  for (size_t i = 0; i + keep < checkpoints.size(); ++i) {
    // Out of sight first (one rename), then removed: an interrupted prune leaves a
    // checkpoint-N.old for recover_output_dir(), never a half-deleted checkpoint-N.
    const fs::path old = checkpoints[i] + ".old";
    remove_tree(old);
    std::error_code error;
    fs::rename(checkpoints[i], old, error);
    LOOM_REQUIRE(!error, checkpoints[i], ": cannot rename to ", old.string(), " (", error.message(), ")");
    remove_tree(old);
  }
}

std::vector<std::string> recover_output_dir(const std::string& output_dir) {
  std::vector<std::string> done;
  std::error_code error;
  std::vector<std::string> targets;
  for (fs::directory_iterator it(output_dir, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    for (const std::string suffix : {".tmp", ".old"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        const std::string target = name.substr(0, name.size() - suffix.size());
        if (target == kFinalDirName || checkpoint_step(target)) targets.push_back(target);
      }
    }
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (const std::string& target : targets) {
    const std::string dir = (fs::path(output_dir) / target).string();
    if (checkpoint_step(target) && !fs::exists(dir) && fs::exists(dir + ".old")) {
      remove_tree(dir + ".old");  // a pruned checkpoint: finish the prune
      done.push_back(cat(dir, ".old: removed (an interrupted prune)"));
    }
    for (std::string& line : recover_replaced_directory(dir)) done.push_back(std::move(line));
  }
  return done;
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  std::vector<std::string> checkpoints = complete_checkpoints(output_dir);
  if (checkpoints.empty()) return std::nullopt;
  return std::move(checkpoints.back());
}

void write_trainer_state(const std::string& dir, const TrainerState& state) {
  nlohmann::json j;
  j["global_step"] = state.global_step;
  j["epoch"] = state.epoch;
  j["max_steps"] = state.max_steps;
  j["num_train_epochs"] = state.num_train_epochs;
  j["logging_steps"] = state.logging_steps;
  j["eval_steps"] = state.eval_steps;
  j["save_steps"] = state.save_steps;
  j["train_batch_size"] = state.train_batch_size;
  j["best_metric"] = state.best_metric ? nlohmann::json(*state.best_metric) : nlohmann::json();
  j["best_model_checkpoint"] =
      state.best_model_checkpoint ? nlohmann::json(*state.best_model_checkpoint) : nlohmann::json();
  j["log_history"] = state.log_history;
  j["is_local_process_zero"] = true;
  j["is_world_process_zero"] = true;
  write_file_atomically((fs::path(dir) / kTrainerStateFileName).string(), j.dump(2) + "\n");
}

TrainerState read_trainer_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / kTrainerStateFileName).string();
  const nlohmann::json j = parse_json_object(read_text_file(path), path);
  TrainerState state;
  LOOM_REQUIRE(json_int(j, "global_step", path, &state.global_step), path, ": global_step is missing");
  json_number(j, "epoch", path, &state.epoch);
  json_int(j, "max_steps", path, &state.max_steps);
  const auto small_int = [&](const char* key, int* out) {
    int64_t v = 0;
    if (json_int(j, key, path, &v)) *out = static_cast<int>(v);
  };
  small_int("num_train_epochs", &state.num_train_epochs);
  small_int("logging_steps", &state.logging_steps);
  small_int("eval_steps", &state.eval_steps);
  small_int("save_steps", &state.save_steps);
  small_int("train_batch_size", &state.train_batch_size);
  double best = 0.0;
  if (json_number(j, "best_metric", path, &best)) state.best_metric = best;
  std::string best_checkpoint;
  if (json_string(j, "best_model_checkpoint", path, &best_checkpoint)) state.best_model_checkpoint = best_checkpoint;
  const auto history = j.find("log_history");
  if (history != j.end() && !history->is_null()) {
    LOOM_REQUIRE(history->is_array(), path, ": log_history must be a list");
    state.log_history = *history;
  }
  return state;
}

}  // namespace loom
