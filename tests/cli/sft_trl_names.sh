#!/usr/bin/env bash
# A config written with Hugging Face TrainingArguments / TRL SFTConfig names runs `loom sft`
# on the tiny fixture (train/option_names.h): num_train_epochs gives
# max_steps = ceil(epochs x steps per epoch), warmup_ratio gives ceil(ratio x max_steps) warmup
# steps, bf16 = false is run.compute f32; the saved loom_config.ini uses the canonical names
# and runs again; unknown keys name the nearest key; bf16 against run.compute is refused.
set -euo pipefail
: "${LOOM:?}" "${LOOM_TINY_RUN:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$WORK/trl.ini" <<EOF
[model]
path = $LOOM_TINY_RUN/model
quant = f32

[lora]
modules_to_save =

[data]
train = $LOOM_TINY_RUN/sft/manifest.json

[train]
output_dir = $WORK/run
per_device_train_batch_size = 2
gradient_accumulation_steps = 2
num_train_epochs = 0.001
learning_rate = 3e-3
lr_scheduler_type = cosine
warmup_ratio = 0.3
max_grad_norm = 1.0
weight_decay = 0.01
logging_steps = 1
eval_steps = 0
save_steps = 0
save_total_limit = 1
seed = 3
bf16 = false
overwrite_output_dir = true
resume_from_checkpoint = false
EOF

"$LOOM" sft --config "$WORK/trl.ini" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "the TRL-named config did not run"; }
per_epoch=$(sed -n 's/.* \([0-9][0-9]*\) optimizer steps per epoch.*/\1/p' "$WORK/run.log")
[ -n "$per_epoch" ] || { cat "$WORK/run.log"; fail "no 'optimizer steps per epoch' line"; }
# transformers: max_steps = math.ceil(num_train_epochs * num_update_steps_per_epoch); the
# fixture's 12812 records / (2 x 2) give 3203 steps per epoch, 3.203 -> 4 steps.
expected=$(awk -v n="$per_epoch" 'BEGIN { x = 0.001 * n; c = int(x); if (c < x) c++; print c }')
max_steps=$(head -1 "$WORK/run/metrics.jsonl" | grep -o '"max_steps":[0-9]*' | cut -d: -f2)
[ "$max_steps" = "$expected" ] || fail "num_train_epochs 0.001 of $per_epoch steps gave max_steps $max_steps, not $expected"
[ -f "$WORK/run/final/adapter_model.safetensors" ] || fail "no final adapter"
head -1 "$WORK/run/metrics.jsonl" | grep -q '"compute":"cpu-f32"' || fail "bf16 = false did not choose the f32 compute"
echo "ok: num_train_epochs 0.001 x $per_epoch steps per epoch -> $max_steps steps, f32 compute"

# warmup_ratio 0.3 of 4 steps: ceil(1.2) = 2 warmup steps; the second update (logged as step 2)
# runs at lr 3e-3 x 1/2 (with 1 warmup step it would run at the full 3e-3).
lr2=$(grep '"step":2[,}]' "$WORK/run/metrics.jsonl" | grep -o '"learning_rate":[0-9.e-]*' | cut -d: -f2)
awk -v lr="$lr2" 'BEGIN { exit !(lr > 0.00149 && lr < 0.00151) }' || fail "step 2 ran at lr $lr2, not 1.5e-3"
echo "ok: warmup_ratio 0.3 -> 2 warmup steps"

# The saved configuration uses one canonical name per key and is a valid config.
saved="$WORK/run/final/loom_config.ini"
[ -f "$saved" ] || fail "no $saved"
for key in per_device_train_batch_size gradient_accumulation_steps num_train_epochs lr_scheduler_type \
           warmup_ratio resume_from_checkpoint; do
  grep -q "^$key = " "$saved" || { cat "$saved"; fail "$saved lacks $key"; }
done
for alias in micro_batch_size grad_accum_steps epochs lr_scheduler resume bf16; do
  ! grep -q "^$alias = " "$saved" || { cat "$saved"; fail "$saved writes the alias $alias"; }
done
grep -q "^compute = f32$" "$saved" || { cat "$saved"; fail "$saved does not hold compute = f32"; }
"$LOOM" sft --config "$saved" --train.output_dir "$WORK/again" --train.max_steps 1 >"$WORK/again.log" 2>&1 ||
  { cat "$WORK/again.log"; fail "the saved loom_config.ini does not run"; }
echo "ok: loom_config.ini uses canonical names and runs again"

# Mistakes are one line naming the key.
expect_error() {  # expected text, then loom's arguments
  local want=$1
  shift
  if "$LOOM" "$@" >"$WORK/err.log" 2>&1; then fail "accepted: $*"; fi
  grep -qF "$want" "$WORK/err.log" || { cat "$WORK/err.log"; fail "no '$want' for: $*"; }
}
expect_error "command line: unknown key 'train.lr' (did you mean 'train.learning_rate'?)" \
  sft --config "$WORK/trl.ini" --train.lr 1e-3
expect_error "command line: unknown key 'lora.rank' (did you mean 'lora.r'?)" sft --config "$WORK/trl.ini" --lora.rank 4
sed 's/^bf16 = false$/bf16 = true/' "$WORK/trl.ini" >"$WORK/clash.ini"
printf '[run]\ncompute = f32\n' >>"$WORK/clash.ini"
expect_error "$WORK/clash.ini: 'train.bf16' and 'run.compute' disagree" sft --config "$WORK/clash.ini"
printf 'micro_batch_size = 2\n' >>"$WORK/trl.ini"
expect_error "'train.per_device_train_batch_size' and 'train.micro_batch_size' are two names of one key" \
  sft --config "$WORK/trl.ini"
echo "ok: unknown keys, bf16 against run.compute, a key under two names"
