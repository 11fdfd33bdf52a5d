#!/usr/bin/env bash
# slurm/lib.sh's loom_export_threads: idle OpenMP threads spin (OMP_WAIT_POLICY=active) on a CPU
# with AVX512_BF16 or AMX-BF16 unless the user set a policy, and mpirun passes it on.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then expected=active; else expected=; fi
# policy LAUNCHER [PRESET]: OMP_WAIT_POLICY and the launcher after loom_export_threads
policy() {
  # shellcheck disable=SC2016  # expanded by the inner shell
  env -u OMP_WAIT_POLICY ${2:+OMP_WAIT_POLICY=$2} LOOM_LAUNCHER="$1" SLURM_CPUS_PER_TASK=2 bash -c '
    source "$0/slurm/lib.sh"; loom_export_threads; echo "${OMP_WAIT_POLICY:-} | ${loom_launcher[*]}"' "$LOOM_SOURCE_DIR"
}
got=$(policy srun)
[ "${got%% |*}" = "$expected" ] || fail "srun, no policy set: expected '$expected', got '$got'"
got=$(policy srun passive)
[ "${got%% |*}" = passive ] || fail "a policy the user set is kept: got '$got'"
got=$(policy mpirun passive)
[[ "$got" == *"-x OMP_WAIT_POLICY"* ]] || fail "mpirun does not pass the policy on: '$got'"
echo "ok: OMP_WAIT_POLICY '$expected' on this CPU, a set value kept, passed on by mpirun"
