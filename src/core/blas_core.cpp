#include "core/blas_core.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace loom {

namespace {

// The kernel sets OpenBLAS falls back to for a CPU model it does not know.
bool is_generic_core(const char* name) {
  for (const char* generic : {"Prescott", "Core2", "Nehalem", "Sandybridge", "Unknown"})
    if (std::strcmp(name, generic) == 0) return true;
  return false;
}

// The widest OpenBLAS kernel set this CPU runs, or nullptr.
const char* best_core_for_this_cpu() {
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

}  // namespace

const char* blas_core_name() { return openblas_get_corename(); }

void reexec_with_tuned_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or already re-executed
  if (!is_generic_core(blas_core_name())) return;
  const char* better = best_core_for_this_cpu();
  if (better == nullptr || std::strcmp(better, blas_core_name()) == 0) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: go on with the generic kernels
}

}  // namespace loom
