# shellcheck shell=bash
# Background training runs that a CLI test signals once they train (sourced).
# Each launch logs to a file of its own: waiting for a step line in a log an earlier process
# wrote would signal the new launch while it may still be a freshly forked copy of the test's
# shell, which runs the test's EXIT trap (rm -rf of its work directory) on SIGINT, SIGHUP or
# SIGTERM.

# start_logged LOG COMMAND...: COMMAND in the background, stdout and stderr into LOG, which must
# not exist yet; its PID in $started.
start_logged() {
  local log=$1
  shift
  if [ -e "$log" ]; then
    echo "FAIL: $log exists: each background run logs to a new file" >&2
    exit 1
  fi
  "$@" >"$log" 2>&1 &
  # shellcheck disable=SC2034  # read by the test that sources this file
  started=$!
}

# wait_for_step LOG SECONDS WHAT: until LOG shows a "step" line; after SECONDS, prints LOG and
# fails naming WHAT.
wait_for_step() {
  local log=$1 seconds=$2 what=$3
  for _ in $(seq $((seconds * 10))); do
    grep -q "^step" "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$log" >&2
  echo "FAIL: $what: no training step in $seconds s" >&2
  exit 1
}
