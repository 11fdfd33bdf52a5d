#include "train/training_loop.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/rng.h"
#include "train/lr_schedule.h"
#include "train/training_length.h"

namespace loom {

namespace {

double epochs_done(int64_t step, const TrainingTask& task) {
  return double(step) / double(std::max<int64_t>(1, task.steps_per_epoch()));
}

}  // namespace

TrainingOutcome run_training(const TrainingRun& run, TrainingTask& task, TrainableState& state,
                             const TrainableLayout& layout, const dist::Comm& comm) {
  const TrainOptions& train = *run.train;
  TrainingOutcome outcome;
  const int64_t total = total_training_steps(train.max_steps, train.epochs, task.steps_per_epoch());
  LOOM_REQUIRE(total > 0, "train.max_steps/num_train_epochs: the data gives no complete optimizer step (",
               task.steps_per_epoch(),
               " steps per epoch); lower per_device_train_batch_size or gradient_accumulation_steps");
  outcome.total_steps = total;
  const int warmup = warmup_steps_for(train.warmup_steps, train.warmup_ratio, total);

  RunControl control(run, layout, state, comm);
  int64_t step = control.start(task, total);
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
    const float lr = learning_rate_at(train.lr_scheduler, train.learning_rate, warmup, int(total), int(step));
    const double step_loss = sums.loss_sum / double(units);
    const bool applied = control.accept_update(step + 1, step_loss, grad_norm);
    if (applied) state.adamw_step(lr, adamw);
    ++step;

    control.log().count_tokens(sums.tokens);
    if (applied) {
      window_loss += step_loss;
      ++window_steps;
    }
    if (step % std::max(1, train.logging_steps) == 0 || step == total) {
      outcome.last_loss = window_steps > 0 ? window_loss / window_steps : step_loss;
      MetricValues values = {{"loss", outcome.last_loss}, {"learning_rate", lr}, {"grad_norm", grad_norm},
                             {"epoch", epochs_done(step, task)}};
      if (control.skipped_updates() > 0) values.emplace_back("skipped_updates", double(control.skipped_updates()));
      for (auto& [name, sum] : sums.extra) {
        double global = sum;
        comm.allreduce_sum(&global, 1);
        values.emplace_back(name, global / double(units));
      }
      control.log().log(step, values);
      window_loss = 0.0;
      window_steps = 0;
    }
    if (train.eval_steps > 0 && (step % train.eval_steps == 0 || step == total)) {
      LoraContext eval_lora = lora;
      eval_lora.dropout = 0.0f;
      eval_lora.grads = nullptr;
      outcome.last_eval = task.evaluate(eval_lora);
      if (!outcome.last_eval.empty()) control.log().log(step, outcome.last_eval);
    }
    TrainerState trainer;
    trainer.epoch = epochs_done(step, task);
    trainer.num_train_epochs = int(std::ceil(train.epochs));
    trainer.logging_steps = train.logging_steps;
    trainer.eval_steps = train.eval_steps;
    trainer.save_steps = train.save_steps;
    trainer.train_batch_size = train.micro_batch_size;
    if (control.end_step(step, task, trainer)) break;
  }
  outcome.steps_done = step;
  outcome.interrupted = control.interrupted();
  control.finish();
  return outcome;
}

}  // namespace loom
