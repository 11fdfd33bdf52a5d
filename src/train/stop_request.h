// Graceful stops: SIGUSR1 (Slurm's warning before the time limit, `--signal=B:USR1@N`),
// SIGTERM (preemption, scancel), and, once training has started, SIGINT (Ctrl-C, mpirun
// forwarding it) and SIGHUP (a closed terminal) ask the trainer to finish the current
// optimizer step, write a complete checkpoint and exit with kExitRequeue, which slurm/
// scripts turn into a requeue; the requeued job continues with `--train.resume auto`.
// A second SIGINT ends the process at once (the default action), as an impatient Ctrl-C.
#pragma once

namespace loom {

inline constexpr int kExitRequeue = 75;  // EX_TEMPFAIL: try again later

void install_stop_handlers();  // SIGUSR1, SIGTERM: at program start
void catch_interrupts();       // SIGINT, SIGHUP: when a training run starts
bool stop_requested();
void request_stop();  // what the handlers do; tests call it directly
void clear_stop_request();  // a new run in the same process starts unstopped

}  // namespace loom
