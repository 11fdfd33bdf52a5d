#!/usr/bin/env bash
# Time limits: the pipeline test's SFT stage again, as a job whose 1-minute limit makes Slurm
# send the warning signal (--signal=B:USR1@45) in the middle of training. loom must write a
# checkpoint and exit 75, the script must requeue the job, the requeued job must resume from
# that checkpoint, and the final adapter must be byte-identical to the uninterrupted run's.
# A merge job waiting on it (afterok) must run only after the requeued job has finished.
# Usage: test_requeue.sh BUILD_DIR WORK_DIR, after test_pipeline.sh with the same WORK_DIR.
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"
use_build "${1:-}"
work=${2:?usage: $0 BUILD_DIR WORK_DIR}
reference=$work/repo/out/tiny-run  # made by test_pipeline.sh
expect_file "$reference/sft/final/adapter_model.safetensors"  # made by test_pipeline.sh

run=$work/requeue
rm -rf "$run"
mkdir -p "$run/logs"
ln -s "$reference/base" "$run/base"
ln -s "$reference/data" "$run/data"
started=$SECONDS
sft=$(sbatch --parsable --time=1 --signal=B:USR1@45 \
  --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 --output="$run/logs/sft-%j.out" \
  "$LOOM_SOURCE_DIR/slurm/sft.sbatch" "$reference/config/sft.ini" "$run" --run.device cpu "${sft_test_args[@]}")
merge=$(sbatch --parsable --dependency="afterok:$sft" --cpus-per-task=1 --output="$run/logs/merge-%j.out" \
  "$LOOM_SOURCE_DIR/slurm/merge.sbatch" "$run" sft)
log=$run/logs/sft-$sft.out

expect_completed "$sft" "$log"
restarts=$(job_field "$sft" Restarts)
note "sft job $sft completed after $((SECONDS - started)) s and $restarts requeue(s)"
((restarts >= 1)) || fail "job $sft was never requeued: it finished before the warning signal (log $log)"
expect_grep "stop requested: checkpoint written at step" "$log" "loom did not stop at a checkpoint"
expect_grep "requeueing job $sft" "$log" "the script did not requeue"
expect_grep "resumed from .*checkpoint-" "$log" "the requeued job did not resume"
cmp "$reference/sft/final/adapter_model.safetensors" "$run/sft/final/adapter_model.safetensors" ||
  fail "the requeued run's final adapter differs from the uninterrupted run's"
note "final adapter byte-identical to the uninterrupted run: ok"

expect_completed "$merge" "$run/logs/merge-$merge.out"
expect_model "$run/sft-merged" LlamaForCausalLM
note "the dependent merge job ran after the requeued job: ok ($((SECONDS - started)) s)"
