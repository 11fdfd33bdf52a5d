// loom-prep: offline tokenization and packing into HDF5 token shards, an MPI batch job.
//   loom-prep sft|pairs|prompts [options] INPUT...   (under mpirun/srun: one shard per rank)
//   loom-prep inspect PATH                           (a manifest or a shard; decodes a record)
//   loom-prep bench [options]                        (throughput against the Python baseline)
// Errors print one line and exit 1.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <hdf5.h>

#include "bench.h"
#include "core/check.h"
#include "dist/comm.h"
#include "inspect.h"
#include "options.h"
#include "prep_job.h"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: loom-prep COMMAND [options]   (loom-prep COMMAND --help for its options)\n\n"
               "commands:\n"
               "  sft       packed, packed_docs or padded token blocks for supervised fine-tuning\n"
               "  pairs     chosen/rejected token pairs for a reward model\n"
               "  prompts   prompt tokens and text for PPO\n"
               "  inspect   print a manifest's or a shard's attributes and decode a record\n"
               "  bench     tokens/s and MB/s for 1 and 2 ranks against the Python baseline\n");
}

int run_prep_command(loom::data::ShardKind kind, int argc, char** argv) {
  loom::dist::Comm comm = loom::dist::Comm::init(&argc, &argv);
  int status = 0;
  try {
    loom::prep::PrepOptions options;
    if (loom::prep::parse_prep_options(kind, argc, argv, &options)) {
      const loom::prep::PrepSummary s = loom::prep::run_prep(options, comm);
      if (comm.rank == 0)
        std::printf("loom-prep: %lld records, %lld tokens, %.1f MB in %.2f s: %.0f tokens/s, %.2f MB/s (%d ranks)\n",
                    static_cast<long long>(s.records), static_cast<long long>(s.tokens), s.input_bytes / 1e6,
                    s.seconds, s.tokens / s.seconds, s.input_bytes / 1e6 / s.seconds, comm.world);
    }
  } catch (const std::exception& e) {
    if (comm.rank == 0) std::fprintf(stderr, "loom-prep: error: %s\n", e.what());
    status = 1;
  }
  comm.finalize();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Writing past a file-size limit then fails like a full disk instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  // After a failed write (a full disk) HDF5 1.10 cannot close the file, and its exit-time
  // cleanup would crash retrying; loom-prep removes such a file itself and leaves HDF5 be.
  H5dont_atexit();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "sft" || command == "pairs" || command == "prompts")
      return run_prep_command(loom::data::parse_shard_kind(command, "loom-prep"), argc - 1, argv + 1);
    if (command == "inspect") return loom::prep::run_inspect(argc - 1, argv + 1);
    if (command == "bench") return loom::prep::run_bench(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom-prep: error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "loom-prep: error: unknown command '%s'\n", command.c_str());
  print_usage(stderr);
  return 2;
}
