// The run control every training stage shares (SFT and reward through train/training_loop.h,
// PPO through ppo/ppo_trainer.h): one owner per output directory, choosing and checking the
// checkpoint to resume, the metrics log and its run header, the NaN/Inf guard before each
// optimizer update, stops agreed by all ranks, checkpoints, the final adapter, and the
// interrupted / done messages with their exit codes.
//
//   RunControl control(run, layout, state, comm);
//   int64_t step = control.start(stage, total);      // lock, clean, resume, header
//   while (step < total) {
//     ... forward/backward, all-reduce ...
//     if (control.accept_update(step + 1, loss, grad_norm)) state.adamw_step(...);
//     ++step; control.log().log(step, values);
//     if (control.end_step(step, stage, trainer)) break;   // a stop was agreed: interrupted
//   }
//   control.finish();                            // the final adapter, unless interrupted
//   return finish_run({...}, comm);               // 0, or kExitRequeue after a stop
//
// Checkpoints (output_dir/checkpoint-STEP) hold the trainable tensors (PEFT adapter, value
// head), the optimizer and train state, trainer_state.json, loom_config.ini and
// run_identity.json; the final adapter goes to output_dir/final. Nothing holding a non-finite
// value is ever written: the write fails naming the directory instead.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "dist/comm.h"
#include "model/trainable_layout.h"
#include "train/checkpoint_dir.h"
#include "train/metrics_log.h"
#include "train/trainable_state.h"
#include "train/training_options.h"

namespace loom {

class RunDirOwner;

// What a run is: its options, how its head is saved, its configuration text.
struct TrainingRun {
  const TrainOptions* train = nullptr;
  std::string head_key;     // PEFT key of the trainable head, if the layout has one in the adapter
  std::string config_ini;   // the effective configuration, saved beside each checkpoint
  std::string compute = "cpu";  // what the steps run on, for the run header
  bool progress_lines = true;   // the metrics log prints a progress line per log (PPO prints its own)
  std::function<void(int64_t step)> after_step;  // tests: called after each optimizer step
};

// A stage's own resumable state beside the trainable tensors and the optimizer.
class CheckpointedStage {
 public:
  virtual ~CheckpointedStage() = default;
  virtual nlohmann::json data_cursor() const = 0;
  virtual void restore_data_cursor(const nlohmann::json& cursor, const std::string& where) = 0;
  // Anything else (PPO: the KL coefficient and score moments); an empty object for none.
  virtual nlohmann::json extra_state() const { return nlohmann::json::object(); }
  virtual void restore_extra_state(const nlohmann::json& extra, const std::string& where) {
    (void)extra;
    (void)where;
  }
};

// output_dir/final
std::string final_adapter_dir(const std::string& output_dir);

class RunControl {
 public:
  RunControl(const TrainingRun& run, const TrainableLayout& layout, TrainableState& state, const dist::Comm& comm);
  ~RunControl();

  // Every rank: rank 0 takes the output directory (train/run_dir_owner.h), cleans a crash's
  // leftovers, decides what to resume (train.resume) and checks it is this run
  // (train/run_identity.h) and that total_steps is not below its step; then every rank
  // loads it. Opens the metrics log with a run header (or a `resumed` record). Returns the
  // step to start from.
  int64_t start(CheckpointedStage& stage, int64_t total_steps);
  MetricsLog& log() { return *log_; }

  // The NaN/Inf guard, before optimizer update `step` (1-based), with loss and grad_norm
  // already global (the same on every rank). True: apply the update. Non-finite under
  // train.nan_policy = stop: fails the run. Under skip: false (the update is dropped, counted
  // and logged); train.max_skipped_steps such updates in a row fail the run.
  bool accept_update(int64_t step, double loss, double grad_norm);
  int64_t skipped_updates() const { return skipped_total_; }

  // True on every rank when any rank was asked to stop (SIGUSR1/SIGTERM/SIGINT/SIGHUP).
  bool stop_agreed() const;

  // After optimizer step `step`: calls run.after_step, agrees on a stop, and writes a
  // checkpoint when one is due (every train.save_steps, the last step) or a stop was asked.
  // True when the run stops here before its last step (interrupted).
  bool end_step(int64_t step, const CheckpointedStage& stage, const TrainerState& trainer);
  bool interrupted() const { return interrupted_; }
  // The final adapter (save_final) unless the run was interrupted, then the run's summary line
  // (train/run_summary.h) on rank 0.
  void finish();

  // Rank 0 writes output_dir/checkpoint-STEP, every rank waits. trainer carries the stage's
  // fields (epoch, batch size, ...); global_step, max_steps and log_history are filled here.
  // A failed write (disk full, a non-finite value) removes its .tmp folder and fails the run.
  void save_checkpoint(int64_t step, const CheckpointedStage& stage, TrainerState trainer);
  // Rank 0 writes output_dir/final (atomically replacing an old one), every rank waits.
  void save_final();

 private:
  std::string choose_resume_dir(int64_t total_steps);  // rank 0

  const TrainingRun& run_;
  const TrainOptions& train_;
  const TrainableLayout& layout_;
  TrainableState& state_;
  const dist::Comm& comm_;
  nlohmann::json identity_;
  std::unique_ptr<RunDirOwner> owner_;  // rank 0
  std::unique_ptr<MetricsLog> log_;
  int64_t total_steps_ = 0;
  int64_t skipped_in_a_row_ = 0, skipped_total_ = 0;
  bool interrupted_ = false;
};

// How a run ended, for finish_run.
struct RunEnd {
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  bool interrupted = false;
  std::string summary;  // stage details for the done line ("reward mean 0.1 -> 0.4"), may be empty
};

// Rank 0 prints "interrupted at step N of T: resume with --train.resume auto" or
// "done: N steps[, summary], final adapter in DIR"; returns the exit code (kExitRequeue
// after a graceful stop, else 0).
int finish_run(const RunEnd& end, const std::string& output_dir, const dist::Comm& comm);

}  // namespace loom
