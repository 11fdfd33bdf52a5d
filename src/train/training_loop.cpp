#include "train/training_loop.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "train/checkpoint_dir.h"
#include "train/config_file.h"
#include "train/lr_schedule.h"
#include "train/stop_request.h"
#include "train/train_state.h"

namespace loom {

namespace fs = std::filesystem;

std::string final_adapter_dir(const std::string& output_dir) { return (fs::path(output_dir) / "final").string(); }

namespace {

double epochs_done(int64_t step, const TrainingTask& task) {
  return double(step) / double(std::max<int64_t>(1, task.steps_per_epoch()));
}

// Rank 0 writes, every rank waits: the checkpoint is complete when anyone continues.
void save_checkpoint(const TrainingRun& run, const TrainableLayout& layout, TrainableState& state,
                     const TrainingTask& task, const MetricsLog& log, int64_t step, int64_t total,
                     const dist::Comm& comm) {
  const TrainOptions& train = *run.train;
  if (comm.rank == 0) {
    const std::string tmp = begin_checkpoint(train.output_dir, step);
    save_peft_adapter(tmp, layout, state.params(), run.head_key);
    save_optimizer_state(tmp, state.exp_avg(), state.exp_avg_sq(), state.count(), state.updates());
    TrainState ts;
    ts.scheduler_step = step;
    ts.data_cursor = task.data_cursor();
    save_train_state(tmp, ts);
    write_file_atomically((fs::path(tmp) / kEffectiveConfigFileName).string(), run.config_ini);
    TrainerState trainer;
    trainer.global_step = step;
    trainer.epoch = epochs_done(step, task);
    trainer.max_steps = total;
    trainer.num_train_epochs = train.epochs;
    trainer.logging_steps = train.logging_steps;
    trainer.eval_steps = train.eval_steps;
    trainer.save_steps = train.save_steps;
    trainer.train_batch_size = train.micro_batch_size;
    trainer.log_history = log.history();
    write_trainer_state(tmp, trainer);  // last: marks the checkpoint complete
    commit_checkpoint(tmp, checkpoint_path(train.output_dir, step));
    prune_checkpoints(train.output_dir, train.save_total_limit);
  }
  comm.barrier();
}

void save_final_adapter(const TrainingRun& run, const TrainableLayout& layout, const TrainableState& state,
                        const dist::Comm& comm) {
  if (comm.rank == 0) {
    const std::string final_dir = final_adapter_dir(run.train->output_dir);
    const std::string tmp = final_dir + ".tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    save_peft_adapter(tmp, layout, state.params(), run.head_key);
    write_file_atomically((fs::path(tmp) / kEffectiveConfigFileName).string(), run.config_ini);
    commit_checkpoint(tmp, final_dir);
  }
  comm.barrier();
}

// Loads a checkpoint's adapter, optimizer and data state; returns the step it was taken at.
int64_t resume_from(const std::string& dir, const TrainingRun& run, const TrainableLayout& layout,
                    TrainableState& state, TrainingTask& task, MetricsLog* log) {
  load_peft_adapter(dir, layout, state.params(), run.head_key);
  state.set_updates(load_optimizer_state(dir, state.exp_avg(), state.exp_avg_sq(), state.count()));
  const TrainState ts = load_train_state(dir);
  task.restore_data_cursor(ts.data_cursor, (fs::path(dir) / kTrainStateFileName).string());
  if (log) log->set_history(read_trainer_state(dir).log_history);
  return ts.scheduler_step;
}

std::string checkpoint_to_resume(const TrainOptions& train) {
  if (train.resume == ResumeMode::FromDirectory) return train.resume_dir;
  if (train.resume == ResumeMode::Auto) return latest_checkpoint(train.output_dir).value_or("");
  return "";
}

}  // namespace

TrainingOutcome run_training(const TrainingRun& run, TrainingTask& task, TrainableState& state,
                             const TrainableLayout& layout, const dist::Comm& comm) {
  const TrainOptions& train = *run.train;
  TrainingOutcome outcome;
  const int64_t total = train.max_steps > 0 ? train.max_steps : int64_t(train.epochs) * task.steps_per_epoch();
  LOOM_REQUIRE(total > 0, "train.max_steps/epochs: the data gives no complete optimizer step (",
               task.steps_per_epoch(), " steps per epoch); lower micro_batch_size or grad_accum_steps");
  outcome.total_steps = total;

  int64_t step = 0;
  const std::string resume_dir = checkpoint_to_resume(train);
  MetricsLog log(train.output_dir, total, 0, comm.rank == 0);
  if (!resume_dir.empty()) {
    step = resume_from(resume_dir, run, layout, state, task, &log);
    if (comm.rank == 0) std::printf("resumed from %s at step %lld\n", resume_dir.c_str(), (long long)step);
  }
  const AdamWSettings adamw{train.adam_beta1, train.adam_beta2, train.adam_epsilon, train.weight_decay};
  LoraContext lora{&layout, state.params(), state.grads(), 0.0f, 0, true};
  const float dropout = layout.spec().dropout;

  double window_loss = 0.0;
  int window_steps = 0;
  while (step < total) {
    state.zero_grads();
    int64_t units = task.load_step();
    comm.allreduce_sum(&units, 1);
    LOOM_REQUIRE(units > 0, "step ", step + 1, ": the micro-batches hold no target tokens (check the loss mask)");
    lora.dropout = dropout;
    lora.dropout_seed = random_bits(train.seed, uint64_t(step), uint64_t(comm.rank));
    StepSums sums = task.run_step(lora, 1.0f / float(units));
    state.allreduce_grads(comm);
    comm.allreduce_sum(&sums.loss_sum, 1);
    comm.allreduce_sum(&sums.tokens, 1);
    const float grad_norm = state.clip_grad_norm(train.max_grad_norm);
    const float lr = learning_rate_at(train.lr_scheduler, train.learning_rate, train.warmup_steps, int(total), int(step));
    state.adamw_step(lr, adamw);
    ++step;

    log.count_tokens(sums.tokens);
    window_loss += sums.loss_sum / double(units);
    ++window_steps;
    if (step % std::max(1, train.logging_steps) == 0 || step == total) {
      outcome.last_loss = window_loss / window_steps;
      MetricValues values = {{"loss", outcome.last_loss}, {"learning_rate", lr}, {"grad_norm", grad_norm},
                             {"epoch", epochs_done(step, task)}};
      for (auto& [name, sum] : sums.extra) {
        double global = sum;
        comm.allreduce_sum(&global, 1);
        values.emplace_back(name, global / double(units));
      }
      log.log(step, values);
      window_loss = 0.0;
      window_steps = 0;
    }
    if (train.eval_steps > 0 && (step % train.eval_steps == 0 || step == total)) {
      LoraContext eval_lora = lora;
      eval_lora.dropout = 0.0f;
      eval_lora.grads = nullptr;
      outcome.last_eval = task.evaluate(eval_lora);
      if (!outcome.last_eval.empty()) log.log(step, outcome.last_eval);
    }
    if (run.after_step) run.after_step(step);
    int64_t stop = stop_requested() ? 1 : 0;
    comm.allreduce_sum(&stop, 1);  // every rank stops at the same step
    if ((train.save_steps > 0 && step % train.save_steps == 0) || step == total || stop)
      save_checkpoint(run, layout, state, task, log, step, total, comm);
    if (stop && step < total) {
      outcome.interrupted = true;
      if (comm.rank == 0) std::printf("stop requested: checkpoint written at step %lld\n", (long long)step);
      break;
    }
  }
  outcome.steps_done = step;
  if (!outcome.interrupted) save_final_adapter(run, layout, state, comm);
  return outcome;
}

}  // namespace loom
