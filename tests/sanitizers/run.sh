#!/usr/bin/env bash
# The sanitizer pass of scripts/test.sh (docs/reliability.md): builds loom, loom-prep, the
# tests and the fuzz targets with clang, AddressSanitizer (leak checks on) and
# UndefinedBehaviorSanitizer halting on the first error (tests/sanitizers/build.sh); runs the
# `cpu` unit tests (tests/test_*.cpp), the MPI tests (mpi_test_*, under mpirun) and the CLI
# tests (tests/cli/*.sh, many under mpirun) but ppo_afinn_rises (its 4-minute PPO run would
# take most of the pass's time under ASan, and cli_ppo_run covers the same code); then each
# fuzz target for a few seconds. Under mpirun, LeakSanitizer ignores what Open MPI allocates
# in MPI_Init/MPI_Finalize and checks before MPI_Finalize (src/dist/comm.cpp).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${LOOM_SANITIZE_BUILD_DIR:-build-sanitize}
tests/sanitizers/build.sh
# shellcheck source=tests/sanitizers/env.sh
source tests/sanitizers/env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" -L cpu -R '^test_' --output-on-failure -j "${LOOM_TEST_JOBS:-2}"
ctest --test-dir "$build_dir" -R '^(cli_|mpi_test_)' -E '^cli_ppo_afinn_rises$' --output-on-failure \
  -j "${LOOM_TEST_JOBS:-2}"
tests/fuzz/run.sh "${LOOM_FUZZ_SMOKE_SECONDS:-8}"
