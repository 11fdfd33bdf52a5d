#!/usr/bin/env bash
# loom re-executes itself with GOMP_SPINCOUNT=10000 (src/core/runtime_tuning.h) unless the user
# set it or OMP_WAIT_POLICY; a value the user set is kept. What libgomp took is read from its
# own report (OMP_DISPLAY_ENV=VERBOSE, printed by each process image: the last one counts);
# `loom bench` names the setting on its header line.
set -euo pipefail
: "${LOOM:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# run [VAR=VALUE...]: "libgomp's spin count | bench's idle-thread setting"
run() {
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$@" OMP_DISPLAY_ENV=VERBOSE OMP_NUM_THREADS=1 \
    "$LOOM" bench --preset tiny --seq 16 --micro-batch 1 --steps 1 >"$WORK/out" 2>&1
  echo "$(sed -n "s/^ *GOMP_SPINCOUNT = '\(.*\)'/\1/p" "$WORK/out" | tail -1) | $(sed -n 's/.*idle threads \([^)]*\)).*/\1/p' "$WORK/out")"
}
got=$(run)
[ "$got" = "10000 | GOMP_SPINCOUNT=10000" ] || fail "nothing set: '$got', expected '10000 | GOMP_SPINCOUNT=10000'"
got=$(run GOMP_SPINCOUNT=7)
[ "$got" = "7 | GOMP_SPINCOUNT=7" ] || fail "GOMP_SPINCOUNT=7 set by the user: got '$got'"
got=$(run OMP_WAIT_POLICY=passive)
[ "$got" = "0 | OMP_WAIT_POLICY=passive" ] || fail "OMP_WAIT_POLICY=passive set by the user: got '$got'"
echo "ok: GOMP_SPINCOUNT=10000 by default, a value the user set kept, none added to OMP_WAIT_POLICY"
