// Graceful stops: SIGUSR1 (Slurm's warning before the time limit, `--signal=B:USR1@N`) and
// SIGTERM (preemption, scancel) ask the trainer to finish the current optimizer step,
// write a complete checkpoint and exit with kExitRequeue, which slurm/ scripts turn into a
// requeue; the requeued job continues with `--train.resume auto`.
#pragma once

namespace loom {

inline constexpr int kExitRequeue = 75;  // EX_TEMPFAIL: try again later

void install_stop_handlers();
bool stop_requested();
void request_stop();  // what the handlers do; tests call it directly
void clear_stop_request();  // a new run in the same process starts unstopped

}  // namespace loom
