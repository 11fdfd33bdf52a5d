#!/usr/bin/env bash
# The launcher wrapper of the Slurm scripts (slurm/lib.sh, loom_run_requeueable) outside
# Slurm, with LOOM_LAUNCHER=mpirun and 2 ranks: SIGTERM, SIGINT and SIGHUP to the wrapper
# make the ranks write a checkpoint, and the wrapper exits 75 (bare mpirun exits 1 on its own
# SIGTERM/SIGINT: tests/cli/run_control.sh); the run then resumes from that checkpoint and
# finishes.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_TINY_RUN:?}"
WORK=$(mktemp -d)
wrapper_groups=()
# Each wrapper leads its own process group (set -m below), with mpirun and the ranks in it:
# whatever of them is left when the test ends is killed.
cleanup() {
  local group
  for group in "${wrapper_groups[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/cli/lib/background_run.sh
source "$(dirname "$0")/lib/background_run.sh"
SFT=("$LOOM" sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$LOOM_TINY_RUN/model"
     --model.quant f32 --data.train "$LOOM_TINY_RUN/sft/manifest.json" --data.eval "$LOOM_TINY_RUN/sft/manifest.json"
     --lora.modules_to_save "" --train.micro_batch_size 2 --train.eval_steps 0 --train.logging_steps 1
     --train.save_steps 1000 --train.output_dir "$WORK/out" --train.resume auto)
# As the sbatch scripts run it: source slurm/lib.sh, then loom_run_requeueable LAUNCHER loom ...
wrapped() {  # MAX_STEPS (run in a subshell: it execs)
  # shellcheck disable=SC2016  # expanded by the inner bash
  exec env -u SLURM_JOB_ID LOOM_LAUNCHER=mpirun LOOM_SIGNAL_GRACE_S=0 OMP_NUM_THREADS=1 bash -c '
    source "$LOOM_SOURCE_DIR/slurm/lib.sh"
    loom_run_requeueable "${loom_launcher[@]}" -np 2 --oversubscribe --allow-run-as-root "$@"' \
    wrapper "${SFT[@]}" --train.max_steps "$1"
}
# Job control: the wrapper gets SIGINT like a foreground command would (a non-interactive
# shell starts background commands with SIGINT ignored, and bash cannot trap an ignored signal).
set -m

for sig in TERM INT HUP; do
  start_logged "$WORK/$sig.log" wrapped 100000
  wrapper=$started
  wrapper_groups+=("$wrapper")
  wait_for_step "$WORK/$sig.log" 60 "SIG$sig"
  kill -"$sig" "$wrapper"
  rc=0
  timeout 120 tail --pid="$wrapper" -f /dev/null || { cat "$WORK/$sig.log"; fail "SIG$sig: the wrapper did not end"; }
  wait "$wrapper" || rc=$?
  [ "$rc" -eq 75 ] || { cat "$WORK/$sig.log"; fail "SIG$sig to the wrapper: exit $rc, not 75"; }
  stopped=$(sed -nE 's/^interrupted at step ([0-9]+) of.*/\1/p' "$WORK/$sig.log")
  if [ -z "$stopped" ] || [ ! -d "$WORK/out/checkpoint-$stopped" ]; then cat "$WORK/$sig.log"; fail "SIG$sig: no checkpoint"; fi
  echo "ok: SIG$sig to the wrapper: checkpoint-$stopped, exit 75"
done

# The last checkpoint resumes and the run finishes.
last=$(sed -nE 's/^interrupted at step ([0-9]+) of.*/\1/p' "$WORK/HUP.log")
rc=0
(wrapped $((last + 2))) >"$WORK/resume.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/resume.log"; fail "the resumed run: exit $rc"; }
grep -q "resumed from .*checkpoint-$last at step $last" "$WORK/resume.log" ||
  { cat "$WORK/resume.log"; fail "the run did not resume from checkpoint-$last"; }
[ -f "$WORK/out/final/adapter_model.safetensors" ] || fail "the resumed run wrote no final adapter"
echo "ok: resumed from checkpoint-$last and finished"
