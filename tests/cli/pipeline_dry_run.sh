#!/usr/bin/env bash
# slurm/pipeline.sh without Slurm: --dry-run prints each sbatch command and the dependency graph
# for every --stages chain and creates nothing; bad arguments and missing inputs are refused,
# with one line naming the problem, before anything is created.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}" "${LOOM_TINY_RUN:?}" "${LOOM_SHARED_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pipeline=$LOOM_SOURCE_DIR/slurm/pipeline.sh
configs=$LOOM_SOURCE_DIR/configs
base=$LOOM_TINY_RUN/model  # max_position_embeddings 512
hh=$LOOM_SHARED_DIR/data/hh-rlhf/harmless-base-test.jsonl.gz

dry() {  # RUN_DIR ARGS...: the dry run's output in $WORK/out
  local run=$1
  shift
  bash "$pipeline" --dry-run --cpu --ranks 2 --preset tiny "$@" "$configs" "$run" >"$WORK/out" 2>"$WORK/err" ||
    fail "dry run failed: $(cat "$WORK/err")"
  [ ! -e "$run" ] || fail "the dry run created $run"
}
expect_out() { grep -q -- "$1" "$WORK/out" || fail "dry-run output lacks '$1': $(cat "$WORK/out")"; }
expect_no() { ! grep -q -- "$1" "$WORK/out" || fail "dry-run output has '$1': $(cat "$WORK/out")"; }
expect_error() {  # PATTERN ARGS...
  local pattern=$1 rc=0
  shift
  bash "$pipeline" --preset tiny "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected a failure: pipeline.sh $*"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "expected one line on stderr, got: $(cat "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  [ ! -e "$WORK/run" ] || fail "a refused pipeline created its run directory"
  echo "ok: refused: $pattern"
}

# The whole chain: three prep jobs, sft, both merges, reward and ppo, each after what it reads.
dry "$WORK/run" --base "$base" --input "$hh"
for line in "prep-sft <- (none)" "sft <- {prep-sft}" "merge-sft <- {sft}" \
  "reward <- {merge-sft} {prep-pairs}" "merge-reward <- {reward}" \
  "ppo <- {merge-sft} {merge-reward} {prep-prompts}"; do
  expect_out "  $line\$"
done
[ "$(grep -c '^sbatch ' "$WORK/out")" -eq 8 ] || fail "expected 8 sbatch commands: $(cat "$WORK/out")"
# Per-kind defaults from the base's 512 positions; the pairs skip HH's empty answers.
expect_out "prep.sbatch $WORK/run sft --template hh --layout packed --seq-len 512 "
expect_out "prep.sbatch $WORK/run pairs --template hh --max-len 512 --eval-fraction 0.05 --seed 0 --on-error skip "
expect_out "prep.sbatch $WORK/run prompts --template hh --max-prompt-len 128 "
expect_out "sft.sbatch $WORK/run/config/sft.ini $WORK/run --run.device cpu"
expect_out "--mem="
echo "ok: the full chain"

# SFT only: one prep job and one training job.
dry "$WORK/run" --stages sft --base "$base" --input "$hh" --prep-sft-args "--seq-len 64" --prep-args "--seed 3"
[ "$(grep -c '^sbatch ' "$WORK/out")" -eq 2 ] || fail "--stages sft: expected 2 jobs: $(cat "$WORK/out")"
expect_out "prep.sbatch $WORK/run sft --template hh --seq-len 64 --seed 3 "
expect_no "reward"
echo "ok: --stages sft"

# The DPO chain: sft, merge, dpo; one pairs prep job serves reward and dpo alike.
dry "$WORK/run" --stages sft,merge,reward,ppo,dpo --base "$base" --input "$hh"
expect_out "  dpo <- {merge-sft} {prep-pairs}\$"
[ "$(grep -c 'prep.sbatch .* pairs ' "$WORK/out")" -eq 1 ] || fail "pairs are prepared more than once: $(cat "$WORK/out")"
dry "$WORK/run" --stages sft,merge,dpo --base "$base" --input "$hh"
[ "$(grep -c '^sbatch ' "$WORK/out")" -eq 5 ] || fail "--stages sft,merge,dpo: expected 5 jobs: $(cat "$WORK/out")"
expect_out "dpo.sbatch $WORK/run/config/dpo.ini $WORK/run --run.device cpu"
expect_no "prep-prompts"
echo "ok: --stages sft,merge,dpo"

# A later part of the chain continues a run whose SFT is merged and whose shards exist.
mkdir -p "$WORK/done/sft-merged" "$WORK/done/data/pairs" "$WORK/done/data/prompts"
ln -s "$base" "$WORK/done/base"
echo '{}' >"$WORK/done/data/pairs/manifest.json"
echo '{}' >"$WORK/done/data/prompts/manifest.json"
bash "$pipeline" --dry-run --cpu --preset tiny --stages reward,ppo "$configs" "$WORK/done" >"$WORK/out" 2>"$WORK/err" ||
  fail "--stages reward,ppo on a run with SFT done: $(cat "$WORK/err")"
expect_out "  reward <- (none)\$"
expect_out "  ppo <- {merge-reward}\$"
expect_no "prep-"
echo "ok: --stages reward,ppo continues a run"

expect_error "unknown stage 'dpoo'" --dry-run --stages sft,dpoo --base "$base" --input "$hh" "$configs" "$WORK/run"
expect_error "'sft' is listed twice or out of order" --dry-run --stages merge,sft --base "$base" --input "$hh" "$configs" "$WORK/run"
expect_error "stage reward reads $WORK/run/sft-merged, which no listed stage makes (add 'merge'" \
  --dry-run --stages sft,reward --base "$base" --input "$hh" "$configs" "$WORK/run"
expect_error "--input $WORK/nothing\*.gz: no such file" --dry-run --base "$base" --input "$WORK/nothing*.gz" "$configs" "$WORK/run"
expect_error "$WORK/run/data/sft/manifest.json: missing, and no --input given" --dry-run --stages sft --base "$base" "$configs" "$WORK/run"
expect_error "$configs/nope-sft.ini: no such config file" --dry-run --preset nope --base "$base" --input "$hh" "$configs" "$WORK/run"
expect_error "prep sft: --seq-len 1024 is longer than the base's max_position_embeddings 512" \
  --dry-run --base "$base" --input "$hh" --prep-sft-args "--seq-len 1024" "$configs" "$WORK/run"
expect_error "$WORK: not an HF model folder" --dry-run --base "$WORK" --input "$hh" "$configs" "$WORK/run"
expect_error "--ranks, --nodes, --cpus-per-rank and --mem take a positive integer" --dry-run --ranks 0 --base "$base" --input "$hh" "$configs" "$WORK/run"
echo "pipeline dry run: all passed"
