#include "dist/comm.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/check.h"

#if LOOM_HAVE_MPI
#include <mpi.h>

// Under AddressSanitizer, what Open MPI allocates inside MPI_Init and MPI_Finalize and keeps
// (its components, PMIx and hwloc state) is not loom's to free: LeakSanitizer ignores the
// allocations made in those calls on this thread, and checks for leaks before MPI_Finalize,
// while what Open MPI's own threads (PMIx's event loop) allocated is still reachable
// (docs/reliability.md, "Sanitizers").
#if defined(__SANITIZE_ADDRESS__)
#define LOOM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOOM_ASAN 1
#endif
#endif
#if LOOM_ASAN
#include <sanitizer/lsan_interface.h>
#define LOOM_MPI_LIBRARY_ALLOCATIONS_NOT_LEAKS __lsan::ScopedDisabler loom_lsan_disabler_
#else
#define LOOM_MPI_LIBRARY_ALLOCATIONS_NOT_LEAKS
#endif

// Every MPI call goes through this: a failure names the call, file and line.
#define LOOM_MPI_CHECK(call)                                                    \
  do {                                                                          \
    const int loom_mpi_status_ = (call);                                        \
    if (loom_mpi_status_ != MPI_SUCCESS) {                                      \
      char loom_mpi_text_[MPI_MAX_ERROR_STRING];                                \
      int loom_mpi_len_ = 0;                                                    \
      MPI_Error_string(loom_mpi_status_, loom_mpi_text_, &loom_mpi_len_);       \
      ::loom::fail_at(__FILE__, __LINE__,                                       \
                      ::loom::cat(#call, " failed: ", std::string(loom_mpi_text_, loom_mpi_len_))); \
    }                                                                           \
  } while (0)
#endif

namespace loom::dist {

static int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool launched_by_mpi_launcher() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("SLURM_NTASKS") ||
         std::getenv("PMI_RANK");
}

Comm Comm::init(int* argc, char*** argv) {
  Comm comm;
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  comm.host = name;
#if LOOM_HAVE_MPI
  if (launched_by_mpi_launcher()) {
    int provided = 0;
    {
      LOOM_MPI_LIBRARY_ALLOCATIONS_NOT_LEAKS;
      LOOM_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    LOOM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &comm.rank));
    LOOM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &comm.world));
    comm.uses_mpi = true;
  }
#endif
  comm.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", 0));
  return comm;
}

void Comm::finalize() {
#if LOOM_HAVE_MPI
  if (uses_mpi) {
#if LOOM_ASAN
    __lsan_do_leak_check();  // once: the check at exit is then skipped
#endif
    LOOM_MPI_LIBRARY_ALLOCATIONS_NOT_LEAKS;
    LOOM_MPI_CHECK(MPI_Finalize());
  }
#endif
  uses_mpi = false;
}

#if LOOM_HAVE_MPI
// Collective timeouts. All-reduces and barriers are non-blocking calls polled against a
// deadline (collective_timeout_s). Each one has a sequence number, the same on every rank.
// A rank past its deadline tells rank 0 (kTimeoutTag); rank 0, past its own deadline or told,
// asks every rank which collective it waits in (kCensusTag; a rank answers while it polls,
// kAnswerTag), waits kGraceSeconds for the answers, prints the ranks that did not answer or
// wait elsewhere, and calls MPI_Abort. A rank whose report rank 0 does not act on within
// twice the grace ends the job itself, naming rank 0 (which may be the rank that stalled).
namespace {

constexpr int kTimeoutTag = 32001, kCensusTag = 32002, kAnswerTag = 32003;  // within MPI_TAG_UB's guaranteed 32767
constexpr double kGraceSeconds = 5.0;
int64_t g_collective_seq = 0;  // collectives started by this process (one world per process)
int64_t g_answer = 0;          // the buffer of the last census answer sent

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Answers rank 0's census, if it asked: the collective this rank waits in.
void answer_census(int64_t seq) {
  int asked = 0;
  MPI_Status status;
  MPI_Iprobe(0, kCensusTag, MPI_COMM_WORLD, &asked, &status);
  if (!asked) return;
  int64_t ignored = 0;
  MPI_Recv(&ignored, 1, MPI_INT64_T, 0, kCensusTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  g_answer = seq;
  MPI_Request request;
  MPI_Isend(&g_answer, 1, MPI_INT64_T, 0, kAnswerTag, MPI_COMM_WORLD, &request);
  MPI_Request_free(&request);
}

// Rank 0: which ranks are not waiting in collective `seq`; ends the job.
[[noreturn]] void end_job_after_census(const Comm& comm, int64_t seq, const char* what, double waited) {
  std::vector<int64_t> at(size_t(comm.world), -1);
  at[0] = seq;
  std::vector<int64_t> asks(size_t(comm.world), 0);
  for (int r = 1; r < comm.world; ++r) {
    MPI_Request request;
    MPI_Isend(&asks[size_t(r)], 1, MPI_INT64_T, r, kCensusTag, MPI_COMM_WORLD, &request);
    MPI_Request_free(&request);
  }
  const Clock::time_point start = Clock::now();
  int answered = 1;
  while (answered < comm.world && seconds_since(start) < kGraceSeconds) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kAnswerTag, MPI_COMM_WORLD, &flag, &status);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    int64_t their = 0;
    MPI_Recv(&their, 1, MPI_INT64_T, status.MPI_SOURCE, kAnswerTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (at[size_t(status.MPI_SOURCE)] < 0) ++answered;
    at[size_t(status.MPI_SOURCE)] = their;
  }
  std::string missing;
  for (int r = 0; r < comm.world; ++r)
    if (at[size_t(r)] != seq) missing += cat(missing.empty() ? "" : ", ", r);
  comm.abort(1, cat(what, " #", seq, " waited ", int(waited), " s (run.collective_timeout = ", comm.collective_timeout_s,
                    " s); rank(s) ", missing.empty() ? "(none known)" : missing,
                    " did not arrive (stalled, dead or elsewhere); ending the job"));
}

// Waits for a non-blocking collective; past comm.collective_timeout_s, ends the job.
void wait_collective(const Comm& comm, MPI_Request* request, const char* what) {
  const int64_t seq = ++g_collective_seq;
  const Clock::time_point start = Clock::now();
  bool reported = false;
  double reported_at = 0.0;
  for (int polls = 0;; ++polls) {
    int done = 0;
    LOOM_MPI_CHECK(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (polls < 1000) continue;  // short waits: spin
    std::this_thread::sleep_for(std::chrono::microseconds(polls < 20000 ? 20 : 500));
    const double waited = seconds_since(start);
    if (comm.rank == 0) {
      int told = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kTimeoutTag, MPI_COMM_WORLD, &told, &status);
      if (told || waited > comm.collective_timeout_s) end_job_after_census(comm, seq, what, waited);
      continue;
    }
    answer_census(seq);
    if (!reported && waited > comm.collective_timeout_s) {
      reported = true;
      reported_at = waited;
      g_answer = seq;
      MPI_Request report;
      MPI_Isend(&g_answer, 1, MPI_INT64_T, 0, kTimeoutTag, MPI_COMM_WORLD, &report);
      MPI_Request_free(&report);
    }
    if (reported && waited - reported_at > 2 * kGraceSeconds)
      comm.abort(1, cat(what, " #", seq, " waited ", int(waited), " s (run.collective_timeout = ",
                        comm.collective_timeout_s, " s) and rank 0 did not answer: rank 0 may have stalled; ending the job"));
  }
}

void allreduce_in_place(const Comm& comm, void* values, size_t count, MPI_Datatype type) {
  if (!comm.uses_mpi || count == 0) return;
  LOOM_ASSERT(count <= static_cast<size_t>(INT32_MAX));
  if (comm.collective_timeout_s <= 0.0) {
    LOOM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), type, MPI_SUM, MPI_COMM_WORLD));
    return;
  }
  MPI_Request request;
  LOOM_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(count), type, MPI_SUM, MPI_COMM_WORLD, &request));
  wait_collective(comm, &request, "all-reduce");
}

}  // namespace
#endif

void Comm::barrier() const {
#if LOOM_HAVE_MPI
  if (!uses_mpi) return;
  if (collective_timeout_s <= 0.0) {
    LOOM_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    return;
  }
  MPI_Request request;
  LOOM_MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
  wait_collective(*this, &request, "barrier");
#endif
}

#if LOOM_HAVE_MPI
void Comm::allreduce_sum(float* values, size_t count) const { allreduce_in_place(*this, values, count, MPI_FLOAT); }
void Comm::allreduce_sum(double* values, size_t count) const { allreduce_in_place(*this, values, count, MPI_DOUBLE); }
void Comm::allreduce_sum(int64_t* values, size_t count) const { allreduce_in_place(*this, values, count, MPI_INT64_T); }
#else
void Comm::allreduce_sum(float*, size_t) const {}
void Comm::allreduce_sum(double*, size_t) const {}
void Comm::allreduce_sum(int64_t*, size_t) const {}
#endif

void Comm::broadcast(std::vector<uint8_t>* bytes, int root) const {
#if LOOM_HAVE_MPI
  if (!uses_mpi) return;
  int64_t size = static_cast<int64_t>(bytes->size());
  LOOM_MPI_CHECK(MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD));
  LOOM_ASSERT(size <= INT32_MAX);
  bytes->resize(static_cast<size_t>(size));
  if (size > 0) LOOM_MPI_CHECK(MPI_Bcast(bytes->data(), static_cast<int>(size), MPI_BYTE, root, MPI_COMM_WORLD));
#endif
}

#if LOOM_HAVE_MPI
// Sizes and displacements of every rank's block; the concatenation must fit an int count.
static std::vector<int> block_offsets(const std::vector<int>& sizes) {
  std::vector<int> offsets(sizes.size(), 0);
  int64_t total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
    LOOM_ASSERT(total <= INT32_MAX);
  }
  return offsets;
}

static std::vector<std::vector<uint8_t>> split_blocks(const std::vector<uint8_t>& all, const std::vector<int>& sizes,
                                                      const std::vector<int>& offsets) {
  std::vector<std::vector<uint8_t>> blocks(sizes.size());
  for (size_t r = 0; r < sizes.size(); ++r)
    blocks[r].assign(all.begin() + offsets[r], all.begin() + offsets[r] + sizes[r]);
  return blocks;
}
#endif

std::vector<std::vector<uint8_t>> Comm::gather_to_root(const std::vector<uint8_t>& mine) const {
#if LOOM_HAVE_MPI
  if (uses_mpi) {
    LOOM_ASSERT(mine.size() <= static_cast<size_t>(INT32_MAX));
    int my_size = static_cast<int>(mine.size());
    std::vector<int> sizes(rank == 0 ? world : 0);
    LOOM_MPI_CHECK(MPI_Gather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
    std::vector<int> offsets = rank == 0 ? block_offsets(sizes) : std::vector<int>();
    std::vector<uint8_t> all(rank == 0 ? static_cast<size_t>(offsets.back()) + sizes.back() : 0);
    LOOM_MPI_CHECK(MPI_Gatherv(mine.data(), my_size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0,
                               MPI_COMM_WORLD));
    if (rank != 0) return {};
    return split_blocks(all, sizes, offsets);
  }
#endif
  return {mine};
}

std::vector<std::vector<uint8_t>> Comm::allgather(const std::vector<uint8_t>& mine) const {
#if LOOM_HAVE_MPI
  if (uses_mpi) {
    LOOM_ASSERT(mine.size() <= static_cast<size_t>(INT32_MAX));
    int my_size = static_cast<int>(mine.size());
    std::vector<int> sizes(world);
    LOOM_MPI_CHECK(MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD));
    std::vector<int> offsets = block_offsets(sizes);
    std::vector<uint8_t> all(static_cast<size_t>(offsets.back()) + sizes.back());
    LOOM_MPI_CHECK(MPI_Allgatherv(mine.data(), my_size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE,
                                  MPI_COMM_WORLD));
    return split_blocks(all, sizes, offsets);
  }
#endif
  return {mine};
}

std::vector<std::vector<uint8_t>> Comm::alltoallv(std::vector<std::vector<uint8_t>> to_ranks,
                                                 size_t piece_bytes) const {
  LOOM_ASSERT(to_ranks.size() == static_cast<size_t>(world));
  LOOM_ASSERT(piece_bytes > 0 && piece_bytes <= static_cast<size_t>(INT32_MAX));
  std::vector<std::vector<uint8_t>> from_ranks(to_ranks.size());
  from_ranks[static_cast<size_t>(rank)] = std::move(to_ranks[static_cast<size_t>(rank)]);
#if LOOM_HAVE_MPI
  if (uses_mpi) {
    std::vector<int64_t> send_sizes(static_cast<size_t>(world)), receive_sizes(static_cast<size_t>(world));
    for (size_t r = 0; r < to_ranks.size(); ++r) send_sizes[r] = static_cast<int64_t>(to_ranks[r].size());
    LOOM_MPI_CHECK(MPI_Alltoall(send_sizes.data(), 1, MPI_INT64_T, receive_sizes.data(), 1, MPI_INT64_T, MPI_COMM_WORLD));
    // Sender and receiver cut a block into the same pieces; pieces between two ranks arrive in order.
    std::vector<MPI_Request> requests;
    auto post_pieces = [&](uint8_t* bytes, size_t size, int peer, bool send) {
      for (size_t at = 0; at < size; at += piece_bytes) {
        const int count = static_cast<int>(std::min(piece_bytes, size - at));
        requests.emplace_back();
        if (send)
          LOOM_MPI_CHECK(MPI_Isend(bytes + at, count, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &requests.back()));
        else
          LOOM_MPI_CHECK(MPI_Irecv(bytes + at, count, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &requests.back()));
      }
    };
    for (int r = 0; r < world; ++r) {
      if (r == rank) continue;
      std::vector<uint8_t>& block = from_ranks[static_cast<size_t>(r)];
      block.resize(static_cast<size_t>(receive_sizes[static_cast<size_t>(r)]));
      post_pieces(block.data(), block.size(), r, false);
    }
    for (int r = 0; r < world; ++r)
      if (r != rank) post_pieces(to_ranks[static_cast<size_t>(r)].data(), to_ranks[static_cast<size_t>(r)].size(), r, true);
    LOOM_MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  }
#endif
  return from_ranks;
}

void Comm::abort(int code, const std::string& message) const {
  std::fprintf(stderr, "loom: rank %d on %s: %s\n", rank, host.c_str(), message.c_str());
  std::fflush(stderr);
#if LOOM_HAVE_MPI
  if (uses_mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace loom::dist
