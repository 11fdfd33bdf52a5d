// The MPI wrapper under mpirun -np 2: sums, broadcast, gathers of unequal blocks, all-to-all.
#include <gtest/gtest.h>

#include "dist/comm.h"

namespace {

loom::dist::Comm& comm() {
  // Never destroyed: the exit hook below finalizes it after the tests.
  static loom::dist::Comm* instance = [] {
    int argc = 0;
    char** argv = nullptr;
    return new loom::dist::Comm(loom::dist::Comm::init(&argc, &argv));
  }();
  return *instance;
}

TEST(PrepComm, RunsAsTwoRanks) {
  EXPECT_EQ(comm().world, 2);
  EXPECT_TRUE(comm().uses_mpi);
  EXPECT_FALSE(comm().host.empty());
}

TEST(PrepComm, AllreduceSums) {
  float f[2] = {1.5f, float(comm().rank)};
  double d[1] = {0.25};
  int64_t i[1] = {int64_t{1} << (40 + comm().rank)};
  comm().allreduce_sum(f, 2);
  comm().allreduce_sum(d, 1);
  comm().allreduce_sum(i, 1);
  EXPECT_EQ(f[0], 3.0f);
  EXPECT_EQ(f[1], 1.0f);
  EXPECT_EQ(d[0], 0.5);
  EXPECT_EQ(i[0], (int64_t{1} << 40) + (int64_t{1} << 41));
}

TEST(PrepComm, BroadcastAndGathers) {
  std::vector<uint8_t> bytes = comm().rank == 1 ? std::vector<uint8_t>{7, 8, 9} : std::vector<uint8_t>{};
  comm().broadcast(&bytes, 1);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{7, 8, 9}));
  const std::vector<uint8_t> mine(static_cast<size_t>(comm().rank * 3), static_cast<uint8_t>(comm().rank + 1));
  const auto gathered = comm().gather_to_root(mine);
  if (comm().rank == 0) {
    ASSERT_EQ(gathered.size(), 2u);
    EXPECT_TRUE(gathered[0].empty());
    EXPECT_EQ(gathered[1], (std::vector<uint8_t>{2, 2, 2}));
  } else {
    EXPECT_TRUE(gathered.empty());
  }
  const auto everyone = comm().allgather(mine);
  ASSERT_EQ(everyone.size(), 2u);
  EXPECT_EQ(everyone[1], (std::vector<uint8_t>{2, 2, 2}));
  comm().barrier();
}

// Rank s sends rank d a block of 3 s + 2 d bytes, each 10 s + d: rank 0 sends itself nothing.
std::vector<uint8_t> block_from_to(int s, int d) {
  return std::vector<uint8_t>(static_cast<size_t>(3 * s + 2 * d), static_cast<uint8_t>(10 * s + d));
}

TEST(PrepComm, AlltoallvDeliversEveryBlock) {
  // One piece per block, then pieces of 2 bytes (a 3-byte block travels as 2 + 1).
  for (const size_t piece_bytes : {size_t{1} << 30, size_t{2}}) {
    std::vector<std::vector<uint8_t>> to_ranks;
    for (int d = 0; d < comm().world; ++d) to_ranks.push_back(block_from_to(comm().rank, d));
    const auto from_ranks = comm().alltoallv(to_ranks, piece_bytes);
    ASSERT_EQ(from_ranks.size(), 2u);
    for (int s = 0; s < comm().world; ++s)
      EXPECT_EQ(from_ranks[static_cast<size_t>(s)], block_from_to(s, comm().rank)) << "from rank " << s << ", pieces of "
                                                                                   << piece_bytes;
  }
}

}  // namespace

// gtest_main has no hook after the tests; finalize MPI when the program exits.
static const int kFinalizeAtExit = std::atexit([] { comm().finalize(); });
