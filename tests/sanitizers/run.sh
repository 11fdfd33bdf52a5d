#!/usr/bin/env bash
# The sanitizer pass of scripts/test.sh (docs/reliability.md): builds loom, loom-prep, the
# tests and the fuzz targets with clang, AddressSanitizer (leak checks on) and
# UndefinedBehaviorSanitizer halting on the first error (tests/sanitizers/build.sh); runs the
# `cpu` tests (unit and CLI) but the slow ones below; then each fuzz target for a few seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${LOOM_SANITIZE_BUILD_DIR:-build-sanitize}
# Skipped: the longest acceptance scripts, which the plain build runs; under the sanitizers
# they would add most of the pass's time and exercise no code the other tests do not.
skipped='^cli_(ppo_afinn_rises)$'
tests/sanitizers/build.sh
# shellcheck source=tests/sanitizers/env.sh
source tests/sanitizers/env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" -L cpu -E "$skipped" --output-on-failure -j "${LOOM_TEST_JOBS:-2}"
tests/fuzz/run.sh "${LOOM_FUZZ_SMOKE_SECONDS:-8}"
