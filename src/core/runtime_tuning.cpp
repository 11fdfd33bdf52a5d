#include "core/runtime_tuning.h"

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

// Sets name=value unless the environment has name; true when it set it.
bool set_if_unset(const char* name, const char* value) {
  if (value == nullptr || std::getenv(name) != nullptr) return false;
  return setenv(name, value, 0) == 0;
}

}  // namespace

const char* blas_core_name() { return openblas_get_corename(); }

std::string idle_thread_wait() {
  std::string wait;
  for (const char* name : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (const char* value = std::getenv(name)) wait += (wait.empty() ? "" : " ") + std::string(name) + "=" + value;
  return wait.empty() ? "libgomp's default" : wait;
}

void reexec_with_tuned_runtime(char** argv) {
  const char* better_core = is_generic_core(blas_core_name()) ? best_core_for_this_cpu() : nullptr;
  const bool set_core = set_if_unset("OPENBLAS_CORETYPE", better_core);
  const bool set_spin = std::getenv("OMP_WAIT_POLICY") == nullptr && set_if_unset("GOMP_SPINCOUNT", kIdleSpinRounds);
  if (set_core || set_spin) execv("/proc/self/exe", argv);
}

}  // namespace loom
