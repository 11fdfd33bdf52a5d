#!/usr/bin/env bash
# Acceptance: under `mpirun -np 2`, DPO learns a preference whose feature sits in the middle of
# the answer (chosen "... glad to help ...", rejected "... refuse to help ...", same ending):
# held-out rewards/accuracies at least 0.9 and a positive held-out margin, from a start at
# chance (the adapter starts as zero, so policy == reference: every reward is 0). Every pair is
# distinct (topic x year), so the eval split holds texts the model never trained on. Then the
# precomputed reference log-probs give the same first steps as the reference computed on the
# fly, and a run stopped after 2 steps and resumed to 4 ends with the uninterrupted run's adapter,
# byte for byte.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
tokenizer="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
# shellcheck source=tests/cli/lib/synthetic_preferences.sh
source "$(dirname "$0")/lib/synthetic_preferences.sh"
write_synthetic_preferences "$work/prefs.jsonl"
"$LOOM_PREP" pairs --template hh --tokenizer "$tokenizer" --max-len 48 --eval-fraction 0.15 \
  --out "$work/pairs" "$work/prefs.jsonl" >/dev/null

run_dpo() {  # OUT_DIR STEPS [EVAL_STEPS [SAVE_STEPS]] EXTRA...: its exit status, its output in OUT_DIR.log
  local out=$1 steps=$2 eval_steps=${3:-$2} save_steps=${4:-0}
  shift $(($# < 4 ? $# : 4))
  mpirun -np 2 --oversubscribe "$LOOM" dpo --model.path "$LOOM_TINY_RUN/model" \
    --data.train "$work/pairs/manifest.json" --data.eval "$work/pairs/manifest.json" \
    --lora.target_modules all-linear --lora.r 8 --lora.alpha 16 --lora.dropout 0 \
    --dpo.beta 0.1 --train.learning_rate 3e-3 --train.lr_scheduler constant --train.max_steps "$steps" \
    --train.micro_batch_size 4 --train.logging_steps 1 --train.eval_steps "$eval_steps" --train.save_steps "$save_steps" \
    --train.output_dir "$out" "$@" >"$out.log" 2>&1
}
dpo() { run_dpo "$@" || { cat "$1.log"; fail "loom dpo failed"; }; }
metric() { grep -o "\"$2\":[-0-9.e]*" "$1/metrics.jsonl" | sed -n "${3:-\$}p" | cut -d: -f2; }

dpo "$work/run" 30
grep -E '^step' "$work/run.log" | sed -n '1p;$p'
first_loss=$(metric "$work/run" loss 1)
awk -v l="$first_loss" 'BEGIN { exit !(l > 0.6926 && l < 0.6936) }' ||
  fail "the first step's loss $first_loss is not log(2): policy and reference differ at the start"
accuracy=$(metric "$work/run" eval_rewards/accuracies)
margin=$(metric "$work/run" eval_rewards/margins)
echo "held-out rewards/accuracies $accuracy, rewards/margins $margin"
awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.9) }' || fail "held-out accuracy $accuracy is below 0.9"
awk -v m="$margin" 'BEGIN { exit !(m > 0) }' || fail "held-out margin $margin is not positive"
for key in rewards/chosen rewards/rejected rewards/margins logps/chosen logps/rejected; do
  [ -n "$(metric "$work/run" "$key")" ] || fail "metrics.jsonl logs no $key"
done
grep -q '"task_type": "CAUSAL_LM"' "$work/run/final/adapter_config.json" || fail "the adapter is not CAUSAL_LM"

# Precomputed reference log-probs: kept in the output folder, and the same losses.
dpo "$work/pre" 3 3 0 --dpo.precompute_ref_log_probs true
[ -s "$work/pre/reference_logps.json" ] || fail "no reference_logps.json in the output folder"
for step in 1 2 3; do
  a=$(metric "$work/run" loss "$step") b=$(metric "$work/pre" loss "$step")
  awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
    fail "step $step: loss $b with precomputed reference log-probs, $a without"
done
echo "precomputed reference log-probs: same losses: ok"

# A damaged reference file is refused on resume, naming the file and the entry.
dpo "$work/damaged" 2 0 2 --dpo.precompute_ref_log_probs true
sed -i 's/"logps":\[[^],]*/"logps":["x"/' "$work/damaged/reference_logps.json"
grep -q '"logps":\["x"' "$work/damaged/reference_logps.json" || fail "the test could not damage reference_logps.json"
run_dpo "$work/damaged" 4 0 2 --dpo.precompute_ref_log_probs true --train.resume auto &&
  fail "a damaged reference_logps.json was read"
grep -q "reference_logps.json: train.logps\[0\] must be a log-probability (a number <= 0), found \"x\"" \
  "$work/damaged.log" || { cat "$work/damaged.log"; fail "no one-line error naming the damaged reference_logps.json"; }
echo "damaged reference log-probs refused: ok"

# Resume: 2 steps, then --train.resume auto to 4, equals 4 steps straight.
dpo "$work/straight" 4 0 2
dpo "$work/resumed" 2 0 2
dpo "$work/resumed" 4 0 2 --train.resume auto
grep -q '"event": *"resumed"' "$work/resumed/metrics.jsonl" || fail "the second run did not resume"
cmp "$work/straight/final/adapter_model.safetensors" "$work/resumed/final/adapter_model.safetensors" ||
  fail "the resumed run's adapter differs from the uninterrupted run's"
echo "resume: byte-identical adapter: ok"
