// A small MPI wrapper: the ranks of a batch job. Built without MPI, or run without a launcher
// (no mpirun/srun environment), it is a world of one and makes no MPI calls, so every
// program runs unchanged on a laptop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loom::dist {

struct Comm {
  int rank = 0;
  int world = 1;
  int local_rank = 0;  // rank among the processes on this host (OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID)
  std::string host;
  bool uses_mpi = false;
  double collective_timeout_s = 0.0;  // all-reduces and barriers waiting longer end the job; 0 = never

  // Calls MPI_Init_thread only when built with LOOM_HAVE_MPI and launched by mpirun or srun.
  static Comm init(int* argc, char*** argv);
  void finalize();

  // The barrier and the all-reduces wait at most collective_timeout_s (when > 0): past it the
  // job ends (MPI_Abort) with a message naming the ranks that did not arrive, as far as rank 0
  // can learn them (ranks that answer while waiting in the same collective arrived).
  void barrier() const;
  // In-place sums over all ranks.
  void allreduce_sum(float* values, size_t count) const;
  void allreduce_sum(double* values, size_t count) const;
  void allreduce_sum(int64_t* values, size_t count) const;
  // Root's bytes replace everyone's (sizes may differ before the call).
  void broadcast(std::vector<uint8_t>* bytes, int root) const;
  // Rank 0 receives every rank's block, in rank order; other ranks receive nothing.
  std::vector<std::vector<uint8_t>> gather_to_root(const std::vector<uint8_t>& mine) const;
  // Every rank receives every rank's block, in rank order.
  std::vector<std::vector<uint8_t>> allgather(const std::vector<uint8_t>& mine) const;
  // Every rank sends to_ranks[r] to rank r (one block per rank) and receives, in rank order, the
  // block each rank sent it. Blocks of any size: they travel in pieces of at most piece_bytes.
  std::vector<std::vector<uint8_t>> alltoallv(std::vector<std::vector<uint8_t>> to_ranks,
                                              size_t piece_bytes = size_t{1} << 30) const;
  // Prints "loom: rank R on HOST: message" and ends every rank with `code`.
  [[noreturn]] void abort(int code, const std::string& message) const;
};

// True when the environment shows a launcher (mpirun / srun) started this process.
bool launched_by_mpi_launcher();

}  // namespace loom::dist
