#include "dist/thread_budget.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace loom::dist {

static int env_positive(const char* name) {
  const char* value = std::getenv(name);
  const int n = value ? std::atoi(value) : 0;
  return n > 0 ? n : 0;
}

int apply_thread_budget() {
  int threads = env_positive("OMP_NUM_THREADS");
  if (threads == 0) {
    int ranks_here = env_positive("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ranks_here == 0) ranks_here = env_positive("SLURM_NTASKS_PER_NODE");
    const int cpus_per_task = env_positive("SLURM_CPUS_PER_TASK");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = cpus_per_task ? cpus_per_task : std::max(1, cores / std::max(1, ranks_here));
  }
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  return threads;
}

}  // namespace loom::dist
