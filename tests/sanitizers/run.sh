#!/usr/bin/env bash
# The sanitizer pass of scripts/test.sh (docs/reliability.md): builds loom, loom-prep, the
# tests and the fuzz targets with clang, AddressSanitizer (leak checks on) and
# UndefinedBehaviorSanitizer halting on the first error (tests/sanitizers/build.sh); runs the
# `cpu` unit tests (tests/test_*.cpp); then each fuzz target for a few seconds.
# The CLI tests are left out: they run under mpirun, whose Open MPI leaks LeakSanitizer can
# only attribute (and lsan.supp suppress) with the slow unwinder, 18x slower
# (docs/reliability.md, "Sanitizers").
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${LOOM_SANITIZE_BUILD_DIR:-build-sanitize}
tests/sanitizers/build.sh
# shellcheck source=tests/sanitizers/env.sh
source tests/sanitizers/env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" -L cpu -R '^test_' --output-on-failure -j "${LOOM_TEST_JOBS:-2}"
tests/fuzz/run.sh "${LOOM_FUZZ_SMOKE_SECONDS:-8}"
