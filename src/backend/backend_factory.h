// The single place that names backends: `run.compute = auto | f32 | bf16` (and `--compute` of
// the non-training commands) becomes a Backend object here. f32 is `cpu-f32`; bf16 is the
// backend registered for it in backend_factory.cpp (an error naming the mode until one is);
// auto is bf16 where the CPU has AMX-BF16 or AVX512_BF16 and a bf16 backend is registered,
// else f32.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace loom {

enum class ComputeMode { Auto, F32, Bf16 };

// "auto" | "f32" | "bf16"; `key` names the option in the error ("run.compute must be ...").
ComputeMode parse_compute_mode(const std::string& name, const std::string& key);
const char* compute_mode_name(ComputeMode mode);

// True when this CPU runs bf16 dot products natively (AMX-BF16 or AVX512_BF16, by cpuid).
bool cpu_has_native_bf16();

// The backend for `mode` (auto resolved as above). Fails with one line naming the mode when
// no backend is registered for it.
std::unique_ptr<Backend> make_backend(ComputeMode mode);

// GPUs this process can use (0 in a build without CUDA, with *reason saying why).
int usable_gpu_count(std::string* reason);

// The backend on this process's GPU (local_rank modulo the usable GPUs) for `mode`: f32 gives
// cuda-f32, auto and bf16 cuda-bf16. Fails with one line when no GPU is usable or the build
// has no CUDA.
std::unique_ptr<Backend> make_gpu_backend(ComputeMode mode, int local_rank);

// The compute modes a backend is registered for (f32 always), e.g. for tests to run them all.
std::vector<ComputeMode> registered_compute_modes();

// "compute: cpu-f32 (run.compute=auto; no AMX-BF16/AVX512_BF16 on this CPU)": the line every
// command prints first.
std::string compute_line(const Backend& backend, ComputeMode requested);

}  // namespace loom
