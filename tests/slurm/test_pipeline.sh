#!/usr/bin/env bash
# The whole chain on a real Slurm cluster, on CPU with 2 ranks: slurm/pipeline.sh submits
# prep -> sft -> merge -> reward -> merge -> ppo with the tiny configs; every job must complete
# and leave its outputs in the run directory. First, a stage whose input is missing must
# refuse to start. Usage: test_pipeline.sh BUILD_DIR WORK_DIR (a running cluster: README.md).
# LOOM_TEST_CONFIG_DIR and LOOM_TEST_PRESET choose other configs (default configs/, tiny).
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"
use_build "${1:-}"
work=${2:?usage: $0 BUILD_DIR WORK_DIR}
config_dir=${LOOM_TEST_CONFIG_DIR:-$LOOM_SOURCE_DIR/configs}
preset=${LOOM_TEST_PRESET:-tiny}
mkdir -p "$work"

# A stage refuses to start when the stage before it left nothing.
mkdir -p "$work/empty"
job=$(sbatch --parsable --cpus-per-task=1 --output="$work/empty/merge-%j.out" \
  "$LOOM_SOURCE_DIR/slurm/merge.sbatch" "$work/empty" sft)
[ "$(wait_job "$job" 60)" = FAILED ] || fail "merge on an empty run directory did not fail"
expect_grep "no config.json; the base model is missing or incomplete" "$work/empty/merge-$job.out" \
  "the refusal does not say what is missing"
note "a stage with missing input refuses to start: ok"

"$LOOM" init-model --config tiny --out "$work/base" \
  --tokenizer "$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model" >/dev/null

run=$work/run
started=$SECONDS
"$LOOM_SOURCE_DIR/slurm/pipeline.sh" --cpu --ranks 2 --preset "$preset" --base "$work/base" \
  --input "$LOOM_SHARED_DIR/data/hh-rlhf/harmless-base-test.jsonl.gz" \
  --prep-args "--seq-len 64 --max-len 256 --max-prompt-len 48 --eval-fraction 0.05 --seed 0 --on-error skip" \
  --sft-args "${sft_test_args[*]}" \
  --reward-args "--train.max_steps 12 --train.save_steps 6 --train.eval_steps 12 --train.logging_steps 3" \
  --ppo-args "--train.max_steps 4 --train.save_steps 2 --train.logging_steps 1" \
  "$config_dir" "$run"

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
