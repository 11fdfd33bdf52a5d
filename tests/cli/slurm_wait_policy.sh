#!/usr/bin/env bash
# slurm/lib.sh's loom_export_threads: threads per rank from SLURM_CPUS_PER_TASK; no wait policy
# of its own (loom chooses, src/core/runtime_tuning.h); one the user exported is kept and mpirun
# passes it on.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
# after LAUNCHER [VAR=VALUE...]: "OMP_NUM_THREADS | OMP_WAIT_POLICY | GOMP_SPINCOUNT | launcher"
# after loom_export_threads
after() {
  local launcher=$1
  shift
  # shellcheck disable=SC2016  # expanded by the inner shell
  env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$@" LOOM_LAUNCHER="$launcher" SLURM_CPUS_PER_TASK=3 \
    bash -c 'source "$0/slurm/lib.sh"; loom_export_threads
             echo "$OMP_NUM_THREADS | ${OMP_WAIT_POLICY:-} | ${GOMP_SPINCOUNT:-} | ${loom_launcher[*]}"' "$LOOM_SOURCE_DIR"
}
got=$(after srun)
[[ "$got" == "3 |  |  | srun"* ]] || fail "srun, nothing set: got '$got'"
got=$(after mpirun)
[[ "$got" == "3 |  |  | mpirun"* && "$got" != *"-x OMP_WAIT_POLICY"* && "$got" != *"-x GOMP_SPINCOUNT"* ]] ||
  fail "mpirun, nothing set: got '$got'"
got=$(after mpirun OMP_WAIT_POLICY=passive)
[[ "$got" == "3 | passive | "* ]] || fail "a policy the user set is kept: got '$got'"
[[ "$got" == *"-x OMP_WAIT_POLICY"* ]] || fail "mpirun does not pass OMP_WAIT_POLICY on: '$got'"
got=$(after mpirun GOMP_SPINCOUNT=5 OMP_NUM_THREADS=1)
[[ "$got" == "1 |  | 5 | "* && "$got" == *"-x GOMP_SPINCOUNT"* ]] || fail "GOMP_SPINCOUNT kept and passed on: '$got'"
echo "ok: threads from Slurm, no policy of its own, a set one kept and passed on by mpirun"
