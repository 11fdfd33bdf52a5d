#include "backend/backend_factory.h"

#include <atomic>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backend/cpu_bf16.h"
#include "backend/cpu_f32.h"
#include "core/check.h"
#ifdef LOOM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "kernels/device.cuh"
#endif

namespace loom {

namespace {

using BackendMaker = std::unique_ptr<Backend> (*)();

// Every backend loom can run, by compute mode. A new backend adds its line here.
struct RegisteredBackend {
  ComputeMode mode;
  BackendMaker make;
};
constexpr RegisteredBackend kBackends[] = {
    {ComputeMode::F32, make_cpu_f32_backend},
    {ComputeMode::Bf16, make_cpu_bf16_backend},
};

BackendMaker registered(ComputeMode mode) {
  for (const RegisteredBackend& b : kBackends)
    if (b.mode == mode) return b.make;
  return nullptr;
}

}  // namespace

ComputeMode parse_compute_mode(const std::string& name, const std::string& key) {
  for (ComputeMode mode : {ComputeMode::Auto, ComputeMode::F32, ComputeMode::Bf16})
    if (name == compute_mode_name(mode)) return mode;
  LOOM_FAIL(key, " must be auto, f32 or bf16, got '", name, "'");
}

const char* compute_mode_name(ComputeMode mode) {
  switch (mode) {
    case ComputeMode::Auto: return "auto";
    case ComputeMode::F32: return "f32";
    case ComputeMode::Bf16: return "bf16";
  }
  return "?";
}

bool cpu_has_native_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  // CPUID directly: clang's __builtin_cpu_supports knows neither "amx-bf16" nor "avx512bf16".
  // AVX512_BF16 is leaf 7 subleaf 1 EAX bit 5, AMX-BF16 leaf 7 subleaf 0 EDX bit 22; both
  // need the AVX-512 state the OS enables (avx512f).
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool amx_bf16 = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 22));
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5));
  return amx_bf16 || avx512_bf16;
#else
  return false;
#endif
}

static ComputeMode resolve(ComputeMode mode) {
  if (mode != ComputeMode::Auto) return mode;
  return cpu_has_native_bf16() && registered(ComputeMode::Bf16) ? ComputeMode::Bf16 : ComputeMode::F32;
}

std::unique_ptr<Backend> make_backend(ComputeMode mode) {
  const BackendMaker make = registered(resolve(mode));
  LOOM_REQUIRE(make != nullptr, "compute mode ", compute_mode_name(mode),
               ": this loom build has no backend for it (registered: f32, bf16); use auto or f32");
  return make();
}

int usable_gpu_count(std::string* reason) {
#ifdef LOOM_HAVE_CUDA
  return cuda::usable_device_count(reason);
#else
  *reason = "this loom build has no CUDA backend (built without nvcc)";
  return 0;
#endif
}

std::unique_ptr<Backend> make_gpu_backend(ComputeMode mode, int local_rank) {
  std::string reason;
  const int gpus = usable_gpu_count(&reason);
  LOOM_REQUIRE(gpus > 0, "run.device=cuda: no usable GPU (", reason, ")");
#ifdef LOOM_HAVE_CUDA
  // auto is bf16: every GPU the build targets (sm_80 and later) has bf16 tensor cores
  return make_cuda_backend(local_rank % gpus, mode == ComputeMode::F32 ? CudaGemmInputs::F32 : CudaGemmInputs::Bf16);
#else
  (void)local_rank;
  LOOM_FAIL("unreachable: no GPU without CUDA");
#endif
}

std::vector<ComputeMode> registered_compute_modes() {
  std::vector<ComputeMode> modes;
  for (const RegisteredBackend& b : kBackends) modes.push_back(b.mode);
  return modes;
}

uint64_t new_weight_version() {
  static std::atomic<uint64_t> last{kUnversionedWeight};
  return ++last;
}

std::string compute_line(const Backend& backend, ComputeMode requested) {
  std::string line = cat("compute: ", backend.name(), " (requested ", compute_mode_name(requested));
  if (requested == ComputeMode::Auto && std::strcmp(backend.allocator().kind(), "cuda") == 0)
    line += "; bf16 on a GPU";
  else if (requested == ComputeMode::Auto)
    line += cpu_has_native_bf16() ? "; this CPU has native bf16" : "; no AMX-BF16/AVX512_BF16 on this CPU";
  return line + ")";
}

}  // namespace loom
