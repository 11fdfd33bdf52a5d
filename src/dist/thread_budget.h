// How many threads each rank uses. Ranks that share a node split its cores: without an
// explicit OMP_NUM_THREADS, a rank takes cores / (ranks on this node), so `mpirun -np 8` on
// an 8-core node does not start 64 spinning threads. OpenBLAS gets the same count, and oneDNN
// (Debian's build uses the OpenMP runtime) runs its bf16 GEMMs on the same OpenMP pool, so the
// cpu-bf16 path adds no threads of its own.
#pragma once

namespace loom::dist {

// The most threads a rank may be given (OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, loom-prep
// --threads): far above any node's cores, far below the count at which thread stacks exhaust
// memory (libgomp crashed at 100000).
inline constexpr int kMaxThreads = 1024;

// `count` when it lies in 1..kMaxThreads, else "<what>: ..." as an error.
int checked_thread_count(long long count, const char* what);

// Applies the budget (OpenMP and OpenBLAS) and returns the thread count chosen.
int apply_thread_budget();

}  // namespace loom::dist
