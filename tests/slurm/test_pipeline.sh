#!/usr/bin/env bash
# The whole chain on a real Slurm cluster, on CPU with 2 ranks: slurm/pipeline.sh submits
# prep -> sft -> merge -> reward -> merge -> ppo with the tiny configs, by the command
# docs/distributed.md documents; every job must complete and leave its outputs in the run
# directory. First, a stage whose input is missing must refuse to start.
# Usage: test_pipeline.sh BUILD_DIR WORK_DIR (a running cluster: README.md).
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"
use_build "${1:-}"
work=${2:?usage: $0 BUILD_DIR WORK_DIR}
mkdir -p "$work"

# A stage refuses to start when the stage before it left nothing.
mkdir -p "$work/empty"
job=$(sbatch --parsable --cpus-per-task=1 --output="$work/empty/merge-%j.out" \
  "$LOOM_SOURCE_DIR/slurm/merge.sbatch" "$work/empty" sft)
[ "$(wait_job "$job" 60)" = FAILED ] || fail "merge on an empty run directory did not fail"
expect_grep "no config.json; the base model is missing or incomplete" "$work/empty/merge-$job.out" \
  "the refusal does not say what is missing"
note "a stage with missing input refuses to start: ok"

# The documented command (docs/distributed.md, the block after "pipeline-command"), run as
# written from a folder laid out like the repository's root (configs/, out/tiny-model,
# ../shared), with options inserted that shorten the stages for the test.
repo=$work/repo
rm -rf "$repo" "$work/shared"
mkdir -p "$repo/out"
ln -s "$LOOM_SOURCE_DIR/configs" "$repo/configs"
ln -s "$LOOM_SOURCE_DIR/slurm" "$repo/slurm"
ln -s "$(cd "$LOOM_SHARED_DIR" && pwd)" "$work/shared"
"$LOOM" init-model --config tiny --out "$repo/out/tiny-model" \
  --tokenizer "$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model" >/dev/null
documented=$(sed -n '/pipeline-command/,/^$/p' "$LOOM_SOURCE_DIR/docs/distributed.md" | grep -v 'pipeline-command' |
  sed 's/^ *//; s/\\$//' | tr '\n' ' ')
[[ "$documented" == "slurm/pipeline.sh "*" --preset tiny "*" out/tiny-run "* ]] ||
  fail "docs/distributed.md: no documented tiny pipeline command found (got '$documented')"
note "documented command: $documented"
shorten=(--prep-sft-args "'--seq-len 64 --eval-fraction 0.05 --seed 0'"
  --sft-args "'${sft_test_args[*]}'"
  --reward-args "'--train.max_steps 12 --train.save_steps 6 --train.eval_steps 12 --train.logging_steps 3'"
  --ppo-args "'--train.max_steps 4 --train.save_steps 2 --train.logging_steps 1'")
run=$repo/out/tiny-run
started=$SECONDS
(cd "$repo" && eval "${documented/slurm\/pipeline.sh /slurm/pipeline.sh ${shorten[*]} }")

# pipeline.txt: a header, then "stage job output log" a line.
while read -r stage job _ log; do
  expect_completed "$job" "$run/$log"
  note "$stage (job $job) completed after $((SECONDS - started)) s"
done < <(tail -n +2 "$run/pipeline.txt")

for kind in sft pairs prompts; do expect_file "$run/data/$kind/manifest.json"; done
expect_adapter "$run/sft/final" CAUSAL_LM 'lora_A.weight'
compgen -G "$run/sft/checkpoint-*/trainer_state.json" >/dev/null || fail "$run/sft: no complete checkpoint"
expect_metric "$run/sft/metrics.jsonl" loss
expect_metric "$run/sft/metrics.jsonl" eval_loss
expect_model "$run/sft-merged" LlamaForCausalLM
expect_adapter "$run/reward/final" SEQ_CLS 'score'
expect_metric "$run/reward/metrics.jsonl" accuracy
expect_model "$run/reward-merged" LlamaForSequenceClassification
expect_adapter "$run/ppo/final" CAUSAL_LM 'lora_A.weight'
expect_metric "$run/ppo/metrics.jsonl" env/reward_mean
note "all stages' outputs present: ok ($((SECONDS - started)) s)"
