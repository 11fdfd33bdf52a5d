#!/usr/bin/env bash
# The run control of the training commands (train/run_control.h), on the tiny fixture:
# non-finite and out-of-range options are refused; one run per output directory (a lock
# naming the holder, a used directory refused, overwrite_output_dir); metrics.jsonl starts
# with a run header and a resume logs a `resumed` record; a resume with changed math is
# refused listing the differences unless allowed, and max_steps below the checkpoint is
# refused; SIGINT and SIGHUP checkpoint and exit 75, also through mpirun; leftovers of a
# crash are cleaned; a stalled rank (SIGSTOP) ends the job after run.collective_timeout,
# naming the rank.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_TINY_RUN:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/cli/lib/background_run.sh
source "$(dirname "$0")/lib/background_run.sh"
MPIRUN=(mpirun -np 2 --oversubscribe --allow-run-as-root)
SFT=("$LOOM" sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$LOOM_TINY_RUN/model"
     --model.quant f32 --data.train "$LOOM_TINY_RUN/sft/manifest.json" --data.eval "$LOOM_TINY_RUN/sft/manifest.json"
     --lora.modules_to_save "" --train.micro_batch_size 2 --train.eval_steps 0 --train.logging_steps 1
     --train.save_steps 2)

# Options: NaN, Inf and out-of-range values are one-line errors naming the key.
for bad in "train.learning_rate inf" "train.learning_rate 1e30" "lora.alpha inf" "train.weight_decay inf" \
           "train.learning_rate nan" "train.adam_epsilon inf" "run.collective_timeout -1" "train.nan_policy maybe"; do
  read -r key value <<<"$bad"
  set -- "$key" "$value"
  if "${SFT[@]}" --train.output_dir "$WORK/bad" --train.max_steps 2 "--$1" "$2" >"$WORK/bad.log" 2>&1; then
    fail "--$1 $2 was accepted"
  fi
  grep -q "loom: error: $1" "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "the error for --$1 $2 does not name the key"; }
  [ ! -e "$WORK/bad/metrics.jsonl" ] || fail "--$1 $2 left a metrics.jsonl"
done
echo "ok: non-finite and out-of-range options are refused"

# A run: header first, checkpoints, final.
"${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 4 >"$WORK/a.log" 2>&1 || { cat "$WORK/a.log"; fail "run a"; }
head -1 "$WORK/a/metrics.jsonl" | grep -q '"event":"run_start"' || fail "metrics.jsonl does not start with run_start"
head -1 "$WORK/a/metrics.jsonl" | grep -q '"config_hash":"[0-9a-f]\{32\}"' || fail "the header has no config hash"
head -1 "$WORK/a/metrics.jsonl" | grep -q '"world_size":1' || fail "the header has no world size"
[ -f "$WORK/a/checkpoint-4/run_identity.json" ] || fail "the checkpoint has no run_identity.json"
echo "ok: run header and run identity"

# A fresh run into a used directory is refused; overwrite_output_dir replaces it.
if "${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 4 --train.seed 7 >"$WORK/used.log" 2>&1; then
  fail "a fresh run into a used directory was accepted"
fi
grep -q "holds another run" "$WORK/used.log" || { cat "$WORK/used.log"; fail "no 'holds another run' error"; }
[ "$(grep -c run_start "$WORK/a/metrics.jsonl")" -eq 1 ] || fail "the refused run wrote to metrics.jsonl"
"${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 2 --train.seed 7 --train.overwrite_output_dir true \
  >"$WORK/over.log" 2>&1 || { cat "$WORK/over.log"; fail "overwrite_output_dir run"; }
[ "$(grep -c run_start "$WORK/a/metrics.jsonl")" -eq 1 ] || fail "overwrite kept the old metrics.jsonl"
[ ! -d "$WORK/a/checkpoint-4" ] || fail "overwrite kept the old checkpoint-4"
echo "ok: a used directory is refused, overwrite_output_dir replaces it"

# Resume: a changed learning rate / LoRA rank is refused with the differences; allowed when named;
# max_steps may grow but not fall below the checkpoint.
if "${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 4 --train.seed 7 --train.resume auto \
     --train.learning_rate 1e-3 --lora.r 4 >"$WORK/diff.log" 2>&1; then
  fail "a resume with changed math was accepted"
fi
grep -q "train.learning_rate: 0.003 -> 0.001" "$WORK/diff.log" || { cat "$WORK/diff.log"; fail "difference not listed"; }
grep -q "lora.r: 8 -> 4" "$WORK/diff.log" || { cat "$WORK/diff.log"; fail "lora.r difference not listed"; }
"${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 3 --train.seed 7 --train.resume auto \
  --train.learning_rate 1e-3 --train.resume_allow_changes train.learning_rate >"$WORK/allow.log" 2>&1 \
  || { cat "$WORK/allow.log"; fail "an allowed change was refused"; }
grep -q '"event":"resumed"' "$WORK/a/metrics.jsonl" || fail "no resumed record"
if "${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 1 --train.seed 7 --train.resume auto \
     --train.learning_rate 1e-3 --train.resume_allow_changes train.learning_rate >"$WORK/short.log" 2>&1; then
  fail "max_steps below the checkpoint's step was accepted"
fi
grep -q "past this run's 1 steps" "$WORK/short.log" || { cat "$WORK/short.log"; fail "no max_steps error"; }
echo "ok: resume checks the run identity and max_steps"

# Leftovers of a crash are cleaned and named.
mkdir -p "$WORK/a/checkpoint-9.tmp" "$WORK/a/final.old"
"${SFT[@]}" --train.output_dir "$WORK/a" --train.max_steps 4 --train.seed 7 --train.resume auto \
  --train.learning_rate 1e-3 --train.resume_allow_changes train.learning_rate >"$WORK/clean.log" 2>&1 \
  || { cat "$WORK/clean.log"; fail "the run after a crash failed"; }
grep -q "checkpoint-9.tmp: removed" "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "checkpoint-9.tmp not named"; }
if [ -e "$WORK/a/checkpoint-9.tmp" ] || [ -e "$WORK/a/final.old" ]; then fail "leftovers remain"; fi
echo "ok: crash leftovers are cleaned"

# A second run into a directory in use is refused naming the holder.
holder_log="$WORK/holder-first.log"
start_logged "$holder_log" "${SFT[@]}" --train.output_dir "$WORK/lock" --train.max_steps 100000
holder=$started
for _ in $(seq 300); do [ -s "$WORK/lock/metrics.jsonl" ] && break; sleep 0.1; done
if "${SFT[@]}" --train.output_dir "$WORK/lock" --train.max_steps 4 --train.resume auto >"$WORK/second.log" 2>&1; then
  fail "a second run into a locked directory was accepted"
fi
grep -q "in use by the run of host .*, pid $holder" "$WORK/second.log" || { cat "$WORK/second.log"; fail "holder not named"; }
echo "ok: a second run is refused naming host and pid"

# SIGINT and SIGHUP: a checkpoint at the step in progress, exit 75.
for sig in INT HUP; do
  kill -"$sig" "$holder"
  timeout 60 tail --pid="$holder" -f /dev/null || { kill -KILL "$holder"; fail "SIG$sig did not stop the run"; }
  rc=0
  wait "$holder" || rc=$?
  [ "$rc" -eq 75 ] || { cat "$holder_log"; fail "SIG$sig: exit $rc, not 75"; }
  stopped=$(sed -nE 's/^interrupted at step ([0-9]+) of.*/\1/p' "$holder_log")
  if [ -z "$stopped" ] || [ ! -d "$WORK/lock/checkpoint-$stopped" ]; then cat "$holder_log"; fail "SIG$sig: no checkpoint"; fi
  holder_log="$WORK/holder-after-$sig.log"
  start_logged "$holder_log" "${SFT[@]}" --train.output_dir "$WORK/lock" --train.max_steps 100000 --train.resume auto
  holder=$started
  wait_for_step "$holder_log" 30 "the resume after SIG$sig"
done
kill -TERM "$holder"
wait "$holder" || true
echo "ok: SIGINT and SIGHUP checkpoint and exit 75"

# Through mpirun: SIGTERM and SIGINT to mpirun reach the ranks, which checkpoint and exit 75.
# Open MPI's mpirun reports its own SIGTERM/SIGINT as an abort (exit 1) whatever the ranks
# return, so only the checkpoint is required here (SIGUSR1 gives exit 75: tests/cli/ppo_run.sh).
for sig in TERM INT; do
  rm -rf "$WORK/mpi"
  mpi_log="$WORK/mpi-$sig.log"
  start_logged "$mpi_log" "${MPIRUN[@]}" "${SFT[@]}" --train.output_dir "$WORK/mpi" --train.max_steps 100000
  pid=$started
  wait_for_step "$mpi_log" 30 "mpirun SIG$sig"
  kill -"$sig" "$pid"
  rc=0
  wait "$pid" || rc=$?
  stopped=$(sed -nE 's/^interrupted at step ([0-9]+) of.*/\1/p' "$mpi_log")
  if [ -z "$stopped" ] || [ ! -d "$WORK/mpi/checkpoint-$stopped" ]; then cat "$mpi_log"; fail "mpirun SIG$sig: no checkpoint"; fi
  echo "mpirun SIG$sig: checkpoint-$stopped, mpirun exit $rc"
  [ "$rc" -ne 0 ] || fail "mpirun SIG$sig: exit 0"
done
echo "ok: through mpirun, SIGTERM and SIGINT checkpoint"

# A stalled rank: the job ends after run.collective_timeout naming it.
rm -rf "$WORK/stall"
start_logged "$WORK/stall.log" "${MPIRUN[@]}" "${SFT[@]}" --train.output_dir "$WORK/stall" --train.max_steps 100000 \
  --run.collective_timeout 3
pid=$started
wait_for_step "$WORK/stall.log" 30 "the stall run"
rank1=""
for child in $(pgrep -P "$pid"); do
  if tr '\0' '\n' <"/proc/$child/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then rank1=$child; fi
done
[ -n "$rank1" ] || { kill "$pid"; fail "rank 1 not found among mpirun's children"; }
kill -STOP "$rank1"
rc=0
timeout 60 tail --pid="$pid" -f /dev/null || { kill -CONT "$rank1"; kill -KILL "$pid"; fail "the job did not end after the collective timeout"; }
wait "$pid" || rc=$?
kill -CONT "$rank1" 2>/dev/null || true
[ "$rc" -ne 0 ] || fail "a stalled job exited 0"
grep -q "rank(s) 1 did not arrive" "$WORK/stall.log" || { cat "$WORK/stall.log"; fail "the stalled rank is not named"; }
echo "ok: a stalled rank ends the job after run.collective_timeout, named"
echo PASS
