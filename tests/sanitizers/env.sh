# shellcheck shell=bash
# Sourced by the sanitizer runs: how ASan, LSan and UBSan report. Leak detection stays on;
# lsan.supp names the leaks of libraries loom does not own (Open MPI's, at MPI_Init).
sanitizer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$sanitizer_dir/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
