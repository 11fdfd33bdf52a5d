// How many threads each rank uses. Ranks that share a node split its cores: without an
// explicit OMP_NUM_THREADS, a rank takes cores / (ranks on this node), so `mpirun -np 8` on
// an 8-core node does not start 64 spinning threads. OpenBLAS gets the same count, and oneDNN
// (Debian's build uses the OpenMP runtime) runs its bf16 GEMMs on the same OpenMP pool, so the
// cpu-bf16 path adds no threads of its own.
#pragma once

namespace loom::dist {

// Applies the budget (OpenMP and OpenBLAS) and returns the thread count chosen.
int apply_thread_budget();

}  // namespace loom::dist
