#include "train/stop_request.h"

#include <csignal>

namespace loom {

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }
extern "C" void on_interrupt(int signal) {
  if (g_stop && signal == SIGINT) {  // a second Ctrl-C ends the process at once
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  g_stop = 1;
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

void catch_interrupts() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGHUP, on_interrupt);
}

bool stop_requested() { return g_stop != 0; }

void request_stop() { g_stop = 1; }

void clear_stop_request() { g_stop = 0; }

}  // namespace loom
