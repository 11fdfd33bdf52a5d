#!/usr/bin/env bash
# The test command: install deps, configure, build, run every ctest test.
# CPU and MPI tests run everywhere; `gpu` tests skip themselves without a CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "${LOOM_BUILD_DIR:-build}" --output-on-failure -j "${LOOM_TEST_JOBS:-2}"
