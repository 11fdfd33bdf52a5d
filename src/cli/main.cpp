// loom: LoRA fine-tuning of Llama-family models on a quantized frozen base.
// `loom COMMAND [options]`; errors a user can cause print one line and exit 1.
#include <cstdio>
#include <cstring>
#include <exception>

#ifdef LOOM_HAVE_MPI
#include <mpi.h>
#endif

#include "cli/commands.h"
#include "core/check.h"
#include "core/runtime_tuning.h"
#include "train/stop_request.h"

namespace {

void print_usage(std::FILE* out) {
  int count = 0;
  const loom::cli::Command* table = loom::cli::commands(&count);
  std::fprintf(out, "usage: loom COMMAND [options]   (loom COMMAND --help for its options)\n\ncommands:\n");
  for (int i = 0; i < count; ++i) std::fprintf(out, "  %-12s %s\n", table[i].name, table[i].summary);
}

// After an error on one rank, the others may wait in a collective forever: end them all.
int fail_all_ranks() {
#ifdef LOOM_HAVE_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  loom::reexec_with_tuned_runtime(argv);  // before anything else: it may replace this process
  loom::install_stop_handlers();  // first: a Slurm warning signal may come at any time
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  int count = 0;
  const loom::cli::Command* table = loom::cli::commands(&count);
  for (int i = 0; i < count; ++i) {
    if (std::strcmp(argv[1], table[i].name) != 0) continue;
    try {
      return table[i].run(argc - 1, argv + 1);
    } catch (const loom::Error& e) {
      std::fprintf(stderr, "loom: error: %s\n", e.what());
      return fail_all_ranks();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loom: error: %s\n", e.what());
      return fail_all_ranks();
    }
  }
  std::fprintf(stderr, "loom: error: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
