// Two settings of the CPU runtime libraries that can only be made through the environment,
// before the libraries load, and that halve loom's CPU speed when left alone:
//  - OpenBLAS picks its kernels from the CPU model; a model newer than the library (Debian's
//    0.3.21 on an AVX-512 Xeon with avx512_fp16) falls back to the generic SSE3 "Prescott"
//    kernels, a third of the speed of the AVX-512 ones there. OPENBLAS_CORETYPE overrides it.
//  - How long libgomp's idle threads spin before they sleep (GOMP_SPINCOUNT). By default they
//    spin for 300,000 rounds, long after a region, while cpu-f32's OpenBLAS threads run the
//    next GEMM on the same cores (OMP_WAIT_POLICY=active: forever). Sleeping at once
//    (passive) costs cpu-bf16 a wake-up per region instead: decoding, one region per GEMV,
//    runs at half the speed. kIdleSpinRounds (10,000) keep the team awake from one region to the next
//    and let it sleep while OpenBLAS works (docs/benchmarks.md).
// So loom re-executes itself once with what is missing set. A variable the user set is kept.
#pragma once

#include <string>

namespace loom {

// The kernel set OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
const char* blas_core_name();

// How idle OpenMP threads wait in this process, as set in the environment:
// "OMP_WAIT_POLICY=passive", "GOMP_SPINCOUNT=10000", both, or "libgomp's default".
std::string idle_thread_wait();

// GOMP_SPINCOUNT when the user set neither it nor OMP_WAIT_POLICY.
inline constexpr const char* kIdleSpinRounds = "10000";

// Sets OPENBLAS_CORETYPE (only when OpenBLAS fell back to generic kernels on a CPU with wider
// ones) and GOMP_SPINCOUNT = kIdleSpinRounds where neither it nor OMP_WAIT_POLICY is set, and
// re-executes argv if it set either; otherwise returns (also when the exec fails: slower, not
// wrong). First thing in main.
void reexec_with_tuned_runtime(char** argv);

}  // namespace loom
