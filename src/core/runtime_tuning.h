// Two settings of the CPU runtime libraries that can only be made through the environment,
// before the libraries load, and that halve loom's CPU speed when left alone:
//  - OpenBLAS picks its kernels from the CPU model; a model newer than the library (Debian's
//    0.3.21 on an AVX-512 Xeon with avx512_fp16) falls back to the generic SSE3 "Prescott"
//    kernels, a third of the speed of the AVX-512 ones there. OPENBLAS_CORETYPE overrides it.
//  - libgomp's threads spin after each parallel region (OMP_WAIT_POLICY active by default)
//    while OpenBLAS's own threads run the next GEMM on the same cores; "passive" lets them
//    sleep (1 rank x 2 threads: 1.3x to 1.5x the steps per second; docs/benchmarks.md).
// So loom re-executes itself once with what is missing set. A variable the user set is kept.
#pragma once

namespace loom {

// The kernel set OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
const char* blas_core_name();

// Sets OPENBLAS_CORETYPE (only when OpenBLAS fell back to generic kernels on a CPU with wider
// ones) and OMP_WAIT_POLICY=passive where unset, and re-executes argv if it set either;
// otherwise returns (also when the exec fails: slower, not wrong). First thing in main.
void reexec_with_tuned_runtime(char** argv);

}  // namespace loom
