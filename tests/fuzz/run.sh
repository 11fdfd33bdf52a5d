#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/sanitizers/build.sh: clang, ASan + UBSan) and runs each
# for SECONDS (default 60) from its seed corpus tests/fuzz/corpus/<name>/; fails when any
# target finds a crash, a sanitizer error, a leak, a timeout or a broken property.
# Usage: tests/fuzz/run.sh [SECONDS] [NAME...]   (NAME: safetensors, json_files, ...; default all)
# New inputs go to $build_dir/fuzz/corpus/<name>/ (kept between runs), findings and the log
# of each target to $build_dir/fuzz/<name>.log and $build_dir/fuzz/crashes/<name>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
build_dir=${LOOM_SANITIZE_BUILD_DIR:-build-sanitize}
names=("$@")
if ((${#names[@]} == 0)); then
  for src in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    names+=("${name#fuzz_}")
  done
fi
tests/sanitizers/build.sh fuzz_targets >/dev/null
# shellcheck source=tests/sanitizers/env.sh
source tests/sanitizers/env.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # one input at a time: threads only add noise
failed=()
for name in "${names[@]}"; do
  corpus=$build_dir/fuzz/corpus/$name
  crashes=$build_dir/fuzz/crashes/$name
  mkdir -p "$corpus" "$crashes"
  log=$build_dir/fuzz/$name.log
  if "$build_dir/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz: $name: ${seconds}s, ${runs:-?} runs, ${cov:-cov: ?}, no crash"
  else
    echo "fuzz: $name: FAILED (log $log; reproducer in $crashes/):" >&2
    grep -E 'ERROR|SUMMARY|finding|uncaught|==[0-9]+==' "$log" | head -5 >&2 || tail -5 "$log" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
