// OpenBLAS picks its kernels from the CPU model at load time; a model newer than the library
// (Debian's 0.3.21 on an AVX-512 Xeon with avx512_fp16) falls back to the generic SSE3
// "Prescott" kernels, a third of the speed of the AVX-512 ones there (docs/benchmarks.md). The choice can only
// be made through OPENBLAS_CORETYPE before the library loads, so loom re-executes itself once
// with it set when the fallback was taken on a CPU that has the wider instructions.
#pragma once

namespace loom {

// The kernel set OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
const char* blas_core_name();

// Re-executes argv with OPENBLAS_CORETYPE set to the best kernels this CPU supports when
// OpenBLAS fell back to a generic set and the variable is unset; otherwise returns (also when
// the exec fails: the generic kernels are slower, not wrong). Call first thing in main.
void reexec_with_tuned_blas(char** argv);

}  // namespace loom
