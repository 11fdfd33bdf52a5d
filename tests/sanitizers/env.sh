# shellcheck shell=bash
# Sourced by the sanitizer runs: how ASan, LSan and UBSan report. Leak detection stays on;
# lsan.supp names the leaks of libraries loom does not own (Open MPI's, from MPI_Init).
sanitizer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$sanitizer_dir/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Open MPI unloads its components at MPI_Finalize; their leaks would then show unknown frames
# that no suppression can name. Kept loaded, the frames name the component libraries. (Open
# MPI is built without frame pointers, so with the fast unwinder most of its stacks stop at
# the allocator anyway: src/dist/comm.cpp keeps its allocations out of the leak check instead.)
export OMPI_MCA_mca_base_component_disable_dlclose=1
