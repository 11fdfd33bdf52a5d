#include "dist/thread_budget.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <thread>

#include "core/check.h"

namespace loom::dist {

int checked_thread_count(long long count, const char* what) {
  LOOM_REQUIRE(count >= 1 && count <= kMaxThreads, what, ": ", count, " threads is outside 1..", kMaxThreads);
  return static_cast<int>(count);
}

static int env_positive(const char* name) {
  const char* value = std::getenv(name);
  const long long n = value ? std::atoll(value) : 0;
  return n > 0 ? static_cast<int>(std::min<long long>(n, INT32_MAX)) : 0;
}

int apply_thread_budget() {
  int threads = env_positive("OMP_NUM_THREADS");
  if (threads == 0) {
    int ranks_here = env_positive("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ranks_here == 0) ranks_here = env_positive("SLURM_NTASKS_PER_NODE");
    const int cpus_per_task = env_positive("SLURM_CPUS_PER_TASK");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = cpus_per_task ? checked_thread_count(cpus_per_task, "SLURM_CPUS_PER_TASK")
                            : std::max(1, cores / std::max(1, ranks_here));
  } else {
    checked_thread_count(threads, "OMP_NUM_THREADS");
  }
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  return threads;
}

}  // namespace loom::dist
