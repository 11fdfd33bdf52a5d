#!/usr/bin/env bash
# The test command: install deps, configure, build, run every ctest test, lint the shell
# scripts, and (as root, where Slurm can be installed and started) the real-Slurm tests.
# CPU and MPI tests run everywhere; `gpu` tests skip themselves without a CUDA device (ctest
# reports them as Skipped, and the count is printed after the run).
# LOOM_SLURM_TESTS=0 skips the Slurm tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${LOOM_BUILD_DIR:-build}
scripts/install-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest_log="$build_dir/ctest-summary.log"
ctest --test-dir "$build_dir" --output-on-failure -j "${LOOM_TEST_JOBS:-2}" 2>&1 | tee "$ctest_log"
# ctest lists each skipped program as "NN - name (Skipped)"; gpu_test_* skip without a CUDA device.
gpu_skipped=$(grep -cE '^[[:space:]]*[0-9]+ - gpu_test_[A-Za-z0-9_]+ \(Skipped\)' "$ctest_log" || true)
echo "test: ${gpu_skipped} GPU test program(s) skipped (no usable CUDA device, or built without CUDA)"
scripts/lint.sh
if [ "${LOOM_SLURM_TESTS:-1}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
  bash tests/slurm/run_all.sh "$build_dir"
else
  echo "test: real-Slurm tests skipped (they need root; LOOM_SLURM_TESTS=${LOOM_SLURM_TESTS:-1})"
fi
# Sanitizer pass (docs/reliability.md): the unit tests again in a second, clang build with
# AddressSanitizer + UndefinedBehaviorSanitizer, then a few seconds of each fuzz target.
# LOOM_SANITIZER_TESTS=0 skips it.
if [ "${LOOM_SANITIZER_TESTS:-1}" != 0 ]; then
  tests/sanitizers/run.sh
else
  echo "test: sanitizer pass skipped (LOOM_SANITIZER_TESTS=${LOOM_SANITIZER_TESTS:-1})"
fi
