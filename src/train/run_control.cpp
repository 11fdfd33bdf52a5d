#include "train/run_control.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "train/config_file.h"
#include "train/run_dir_owner.h"
#include "train/run_identity.h"
#include "train/run_summary.h"
#include "train/stop_request.h"
#include "train/train_state.h"

#ifndef LOOM_VERSION
#define LOOM_VERSION "unknown"
#endif

namespace loom {

namespace fs = std::filesystem;

std::string final_adapter_dir(const std::string& output_dir) { return (fs::path(output_dir) / kFinalDirName).string(); }

namespace {

// The config hash of the newest run header in output_dir/metrics.jsonl; empty when none.
std::string logged_config_hash(const std::string& output_dir) {
  std::ifstream in(fs::path(output_dir) / kMetricsFileName);
  std::string line, hash;
  while (std::getline(in, line)) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_object() && record.value("event", "") == kRunStartEvent) hash = record.value("config_hash", "");
  }
  return hash;
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : separator) + item;
  return text;
}

void require_finite(const float* values, size_t n, const std::string& dir, const char* what) {
  const size_t bad = first_non_finite(values, n);
  LOOM_REQUIRE(bad == n, dir, ": refusing to write ", what, " ", bad, " = ", values[bad], " (not finite)");
}

}  // namespace

RunControl::RunControl(const TrainingRun& run, const TrainableLayout& layout, TrainableState& state,
                       const dist::Comm& comm)
    : run_(run), train_(*run.train), layout_(layout), state_(state), comm_(comm) {
  LOOM_REQUIRE(state.count() == layout.total(), "RunControl: the state holds ", state.count(),
               " parameters, the layout ", layout.total());
  identity_ = run_identity(run.config_ini, comm.world);
}

RunControl::~RunControl() = default;

std::string RunControl::choose_resume_dir(int64_t total_steps) {
  const std::string& out = train_.output_dir;
  owner_ = std::make_unique<RunDirOwner>(out);
  for (const std::string& line : recover_output_dir(out)) std::printf("cleaned %s\n", line.c_str());
  std::string dir;
  if (train_.resume == ResumeMode::FromDirectory) dir = train_.resume_dir;
  if (train_.resume == ResumeMode::Auto) dir = latest_checkpoint(out).value_or("");
  if (dir.empty()) {
    const std::vector<std::string> used = run_outputs(out);
    if (!used.empty()) {
      const bool same_run_restarting = train_.resume == ResumeMode::Auto && complete_checkpoints(out).empty() &&
                                       logged_config_hash(out) == run_identity_hash(identity_);
      LOOM_REQUIRE(train_.overwrite_output_dir || same_run_restarting, out, ": holds another run (",
                   join(used, ", "), "); resume it with --train.resume auto, choose a new train.output_dir, or set ",
                   "train.overwrite_output_dir = true to replace it");
      std::printf("%s: removing %s (%s)\n", out.c_str(), join(used, ", ").c_str(),
                  same_run_restarting ? "this run had no checkpoint yet: starting it again"
                                      : "train.overwrite_output_dir = true");
      remove_run_outputs(out);
    }
    return "";
  }
  std::error_code error;
  const bool inside = fs::equivalent(fs::path(dir).parent_path(), out, error);
  const std::vector<std::string> used = inside ? std::vector<std::string>() : run_outputs(out);
  LOOM_REQUIRE(used.empty() || train_.overwrite_output_dir, out, ": holds another run (", join(used, ", "),
               ") and train.resume names a checkpoint elsewhere, ", dir,
               "; choose a new train.output_dir or set train.overwrite_output_dir = true");
  if (!used.empty()) remove_run_outputs(out);
  const nlohmann::json saved = load_run_identity(dir);
  LOOM_REQUIRE(!saved.empty(), dir, "/", kRunIdentityFileName,
               " is missing: cannot check that the checkpoint belongs to this run");
  const std::vector<std::string> differences = identity_differences(saved, identity_, train_.resume_allow_changes);
  LOOM_REQUIRE(differences.empty(), dir, ": the checkpoint is of another run (", join(differences, "; "),
               "); resume only the same run, or name the keys in --train.resume_allow_changes");
  if (saved.value("world_size", "") != identity_.value("world_size", ""))
    std::printf("warning: %s was written on %s rank(s), resumed on %s: each rank's data cursor is kept, so records "
                "are skipped or repeated in this epoch (train.resume_allow_changes names world_size)\n",
                dir.c_str(), saved.value("world_size", "?").c_str(), identity_.value("world_size", "?").c_str());
  const int64_t step = load_train_state(dir).scheduler_step;
  LOOM_REQUIRE(step <= total_steps, dir, ": the checkpoint is at step ", step, ", past this run's ", total_steps,
               " steps (train.max_steps may grow on resume, not shrink below the checkpoint)");
  return dir;
}

int64_t RunControl::start(CheckpointedStage& stage, int64_t total_steps) {
  total_steps_ = total_steps;
  catch_interrupts();
  std::vector<uint8_t> chosen;
  if (comm_.rank == 0) {
    const std::string dir = choose_resume_dir(total_steps);
    chosen.assign(dir.begin(), dir.end());
  }
  comm_.broadcast(&chosen, 0);  // rank 0 failing above aborts every rank (cli/main.cpp)
  const std::string dir(chosen.begin(), chosen.end());
  int64_t step = 0;
  nlohmann::json history = nlohmann::json::array();
  if (!dir.empty()) {
    std::vector<float> params(state_.count()), exp_avg(state_.count()), exp_avg_sq(state_.count());
    load_trainable(dir, layout_, params.data(), run_.head_key);
    state_.set_updates(load_optimizer_state(dir, exp_avg.data(), exp_avg_sq.data(), state_.count()));
    state_.from_host(state_.params(), params);
    state_.from_host(state_.exp_avg(), exp_avg);
    state_.from_host(state_.exp_avg_sq(), exp_avg_sq);
    const TrainState ts = load_train_state(dir);
    const std::string where = (fs::path(dir) / kTrainStateFileName).string();
    stage.restore_data_cursor(ts.data_cursor, where);
    stage.restore_extra_state(ts.extra, where);
    step = ts.scheduler_step;
    history = read_trainer_state(dir).log_history;
  }
  log_ = std::make_unique<MetricsLog>(train_.output_dir, total_steps, step, comm_.rank == 0,
                                      run_.progress_lines ? stdout : nullptr);
  log_->set_history(std::move(history));
  nlohmann::json record = {{"config_hash", run_identity_hash(identity_)}, {"world_size", comm_.world}};
  if (dir.empty()) {
    record["event"] = kRunStartEvent;
    record["version"] = LOOM_VERSION;
    record["compute"] = run_.compute;
    record["max_steps"] = total_steps;
  } else {
    record["event"] = kResumedEvent;
    record["from"] = dir;
    record["step"] = step;
    record["max_steps"] = total_steps;
    if (comm_.rank == 0) std::printf("resumed from %s at step %lld\n", dir.c_str(), (long long)step);
  }
  log_->record(record);
  return step;
}

bool RunControl::accept_update(int64_t step, double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    skipped_in_a_row_ = 0;
    return true;
  }
  const std::string what = cat("step ", step, ": loss ", loss, ", grad_norm ", grad_norm, " (not finite)");
  LOOM_REQUIRE(train_.nan_policy == NanPolicy::Skip, what, ": stopping (train.nan_policy = stop); ",
               "no checkpoint holds a non-finite value; lower train.learning_rate or set train.nan_policy = skip");
  ++skipped_in_a_row_;
  ++skipped_total_;
  LOOM_REQUIRE(skipped_in_a_row_ < train_.max_skipped_steps, what, ": ", skipped_in_a_row_,
               " updates in a row were not finite (train.max_skipped_steps = ", train_.max_skipped_steps,
               "): stopping");
  if (comm_.rank == 0) {
    std::printf("%s: update skipped (%lld in a row, %lld in all)\n", what.c_str(), (long long)skipped_in_a_row_,
                (long long)skipped_total_);
    std::fflush(stdout);
  }
  state_.zero_grads();
  return false;
}

bool RunControl::stop_agreed() const {
  int64_t stop = stop_requested() ? 1 : 0;
  comm_.allreduce_sum(&stop, 1);  // every rank stops at the same step
  return stop > 0;
}

bool RunControl::end_step(int64_t step, const CheckpointedStage& stage, const TrainerState& trainer) {
  if (run_.after_step) run_.after_step(step);
  const bool stop = stop_agreed();
  if ((train_.save_steps > 0 && step % train_.save_steps == 0) || step == total_steps_ || stop)
    save_checkpoint(step, stage, trainer);
  interrupted_ = stop && step < total_steps_;
  return interrupted_;
}

void RunControl::finish() {
  if (!interrupted_) save_final();
  print_run_summary(log_->history(), comm_);
}

void RunControl::save_checkpoint(int64_t step, const CheckpointedStage& stage, TrainerState trainer) {
  if (comm_.rank == 0) {
    const std::string tmp = begin_checkpoint(train_.output_dir, step);
    try {
      save_trainable(tmp, layout_, state_.to_host(state_.params()).data(), run_.head_key);
      const std::vector<float> exp_avg = state_.to_host(state_.exp_avg());
      const std::vector<float> exp_avg_sq = state_.to_host(state_.exp_avg_sq());
      require_finite(exp_avg.data(), state_.count(), tmp, "optimizer exp_avg");
      require_finite(exp_avg_sq.data(), state_.count(), tmp, "optimizer exp_avg_sq");
      save_optimizer_state(tmp, exp_avg.data(), exp_avg_sq.data(), state_.count(), state_.updates());
      TrainState ts;
      ts.scheduler_step = step;
      ts.data_cursor = stage.data_cursor();
      ts.extra = stage.extra_state();
      save_train_state(tmp, ts);
      write_file_atomically((fs::path(tmp) / kEffectiveConfigFileName).string(), run_.config_ini);
      save_run_identity(tmp, identity_);
      trainer.global_step = step;
      trainer.max_steps = total_steps_;
      trainer.log_history = log_->history();
      write_trainer_state(tmp, trainer);  // last: marks the checkpoint complete
      commit_checkpoint(tmp, checkpoint_path(train_.output_dir, step));
    } catch (...) {
      std::error_code error;
      fs::remove_all(tmp, error);  // a failed checkpoint leaves no .tmp behind
      throw;
    }
    prune_checkpoints(train_.output_dir, train_.save_total_limit);  // only after the new one is complete
  }
  comm_.barrier();
}

void RunControl::save_final() {
  if (comm_.rank == 0) {
    replace_directory_atomically(final_adapter_dir(train_.output_dir), [&](const std::string& tmp) {
      save_trainable(tmp, layout_, state_.to_host(state_.params()).data(), run_.head_key);
      write_file_atomically((fs::path(tmp) / kEffectiveConfigFileName).string(), run_.config_ini);
    });
  }
  comm_.barrier();
}

int finish_run(const RunEnd& end, const std::string& output_dir, const dist::Comm& comm) {
  if (comm.rank == 0) {
    if (end.interrupted) std::printf("stop requested: checkpoint written at step %lld\n", (long long)end.steps_done);
    if (end.interrupted)
      std::printf("interrupted at step %lld of %lld: resume with --train.resume auto\n", (long long)end.steps_done,
                  (long long)end.total_steps);
    else
      std::printf("done: %lld steps%s%s, final adapter in %s\n", (long long)end.steps_done,
                  end.summary.empty() ? "" : ", ", end.summary.c_str(), final_adapter_dir(output_dir).c_str());
    std::fflush(stdout);
  }
  return end.interrupted ? kExitRequeue : 0;
}

}  // namespace loom
