#!/usr/bin/env bash
# Acceptance: under `mpirun -np 2`, SFT teaches the tiny model a fixed prompt -> answer
# mapping (completion-only loss): eval loss falls below MAX_EVAL_LOSS, and greedy generation
# answers all 8 prompts correctly. Measured (tiny-sft.ini, 80 steps): first logged loss 5.37,
# final eval loss 0.0012, 8 of 8 right; MAX_EVAL_LOSS 0.05 leaves a 40x margin and fails a run
# that stops half way (loss 0.14 at step 40). The task is memorising 8 facts, so the eval split
# holds the same facts as the training split: it measures fit, not generalisation (the reward
# acceptance test holds out distinct pairs).
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tokenizer="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
keys=(sky grass snow coal blood sun sea night)
values=(blue green white black red yellow deep dark)
for _ in $(seq 40); do
  for i in "${!keys[@]}"; do
    printf '{"prompt": "Q: what color is the %s? A:", "completion": " %s"}\n' "${keys[$i]}" "${values[$i]}"
  done
done >"$work/mapping.jsonl"
"$LOOM_PREP" sft --layout padded --template "{prompt}{completion}" --tokenizer "$tokenizer" --seq-len 24 \
  --eval-fraction 0.1 --out "$work/sft" "$work/mapping.jsonl" >/dev/null
mpirun -np 2 --oversubscribe "$LOOM" sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" \
  --model.path "$LOOM_TINY_RUN/model" --data.train "$work/sft/manifest.json" --data.eval "$work/sft/manifest.json" \
  --lora.target_modules all-linear --lora.r 16 --lora.alpha 32 --lora.dropout 0 \
  --train.learning_rate 5e-3 --train.lr_scheduler constant --train.warmup_steps 5 --train.max_steps 80 \
  --train.micro_batch_size 8 --train.eval_steps 80 --train.logging_steps 20 --train.save_steps 0 \
  --train.output_dir "$work/out" >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
grep -E '^step' "$work/log"
first=$(grep -o '"loss":[0-9.]*' "$work/out/metrics.jsonl" | head -1 | cut -d: -f2)
eval_loss=$(grep -o '"eval_loss":[0-9.]*' "$work/out/metrics.jsonl" | tail -1 | cut -d: -f2)
echo "first logged loss $first, final eval loss $eval_loss"
MAX_EVAL_LOSS=0.05
awk -v l="$eval_loss" -v max="$MAX_EVAL_LOSS" 'BEGIN { exit !(l < max) }' ||
  { echo "FAIL: eval loss $eval_loss is not below $MAX_EVAL_LOSS"; exit 1; }
# The run ends with its summary line (RunControl::finish): the loss falls from its first to its
# last logged tenth, and the final eval loss is the one logged.
summary=$(grep '^summary (' "$work/log") || { echo "FAIL: no summary line"; exit 1; }
echo "$summary"
awk -v s="$summary" 'BEGIN { split(s, w, " "); for (i in w) if (w[i] == "loss") { a = w[i + 1]; b = w[i + 3] }
  exit !(a > b) }' || { echo "FAIL: the summary's loss does not fall: $summary"; exit 1; }
grep -qF "eval_loss" <<<"$summary" || { echo "FAIL: the summary has no eval_loss: $summary"; exit 1; }
right=0
for i in "${!keys[@]}"; do
  answer=$("$LOOM" generate --model "$LOOM_TINY_RUN/model" --adapter "$work/out/final" --greedy --max-new-tokens 1 \
    --format jsonl --prompt "Q: what color is the ${keys[$i]}? A:" | grep -o '"completion":"[^"]*"')
  echo "${keys[$i]} -> $answer"
  [[ "$answer" == *"${values[$i]}"* ]] && right=$((right + 1))
done
echo "$right of ${#keys[@]} answers right"
[ "$right" -eq "${#keys[@]}" ]
