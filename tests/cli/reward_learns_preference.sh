#!/usr/bin/env bash
# Acceptance: under `mpirun -np 2`, the reward model learns a preference whose feature sits
# in the middle of the answer (chosen "... glad to help ...", rejected "... refuse to help ...",
# same ending): on the held-out pairs, accuracy at least MIN_ACCURACY and a mean reward margin
# (chosen - rejected) at least MIN_MARGIN. Every pair is distinct (topic x year), so the eval
# split (36 pairs) holds texts the model never trained on. Measured after 40 steps: accuracy
# 1.0 (36 of 36) and margin 7.9 (6.3 at step 20); the bounds allow one wrong pair and a 4x
# smaller margin, and fail a model that ranks by chance (margin ~0, accuracy ~0.5).
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tokenizer="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
# shellcheck source=tests/cli/lib/synthetic_preferences.sh
source "$(dirname "$0")/lib/synthetic_preferences.sh"
write_synthetic_preferences "$work/prefs.jsonl"
"$LOOM_PREP" pairs --template hh --tokenizer "$tokenizer" --max-len 48 --eval-fraction 0.15 \
  --out "$work/pairs" "$work/prefs.jsonl" >/dev/null
mpirun -np 2 --oversubscribe "$LOOM" reward --model.path "$LOOM_TINY_RUN/model" \
  --data.train "$work/pairs/manifest.json" --data.eval "$work/pairs/manifest.json" \
  --lora.target_modules all-linear --lora.r 8 --lora.alpha 16 --lora.dropout 0 \
  --train.learning_rate 3e-3 --train.lr_scheduler constant --train.max_steps 40 --train.micro_batch_size 4 \
  --train.logging_steps 10 --train.eval_steps 20 --train.save_steps 0 --train.output_dir "$work/out" \
  >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
grep -E '^step' "$work/log"
MIN_ACCURACY=0.97
MIN_MARGIN=2.0
accuracy=$(grep -o '"eval_accuracy":[0-9.e-]*' "$work/out/metrics.jsonl" | tail -1 | cut -d: -f2)
margin=$(grep -o '"eval_margin":[0-9.e-]*' "$work/out/metrics.jsonl" | tail -1 | cut -d: -f2)
echo "held-out accuracy $accuracy, margin $margin"
awk -v a="$accuracy" -v min="$MIN_ACCURACY" 'BEGIN { exit !(a >= min) }' ||
  { echo "FAIL: accuracy $accuracy is below $MIN_ACCURACY"; exit 1; }
awk -v m="$margin" -v min="$MIN_MARGIN" 'BEGIN { exit !(m >= min) }' ||
  { echo "FAIL: reward margin $margin is below $MIN_MARGIN"; exit 1; }
# The trained head and adapter are in PEFT's SEQ_CLS layout.
grep -q '"task_type": "SEQ_CLS"' "$work/out/final/adapter_config.json"
grep -q '"score"' "$work/out/final/adapter_config.json"
