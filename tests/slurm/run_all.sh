#!/usr/bin/env bash
# The real-Slurm tests, from a bare machine: installs Slurm (Debian's slurm-wlm + munge, only
# if missing), starts a single-node cluster, runs the pipeline, requeue and rank-death tests,
# and stops every daemon it started, by PID, whatever happens. Needs root. About 5 minutes
# on 2 cores. Usage: bash tests/slurm/run_all.sh BUILD_DIR
# LOOM_SLURM_TEST_WORK names the work folder (default: a fresh one under /tmp, removed on success).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
[ -n "${1:-}" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
work=${LOOM_SLURM_TEST_WORK:-$(mktemp -d /tmp/loom-slurm-test.XXXXXX)}
mkdir -p "$work"
cluster=$source_dir/scripts/slurm-cluster.sh
export LOOM_SLURM_STATE=$work/cluster
trap '"$cluster" stop' EXIT

started=$SECONDS
"$cluster" start
export SLURM_CONF=$LOOM_SLURM_STATE/slurm.conf
for test in test_pipeline test_requeue test_rank_death; do
  bash "$here/$test.sh" "$build" "$work/tests"
done
echo "slurm tests: all passed in $((SECONDS - started)) s"
"$cluster" stop
trap - EXIT
[ -n "${LOOM_SLURM_TEST_WORK:-}" ] || rm -rf "$work"
