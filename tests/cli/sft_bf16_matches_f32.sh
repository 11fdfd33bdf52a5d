#!/usr/bin/env bash
# run.compute = bf16 trains like f32: 100 SFT steps of the tiny fixture (configs/tiny-sft.ini:
# NF4 base, LoRA r8 on all linears plus the trained LM head, packed HH shards), once with
# f32 and once with bf16, same seed and data, on the device LOOM_DEVICE names (default cpu:
# cpu-f32 against cpu-bf16; scripts/gpu-check.sh runs it with cuda: cuda-f32 against
# cuda-bf16). Every logged training loss (every 10 steps) of the bf16 run must lie within 0.5%
# of the f32 run's, and the final eval losses within 0.2% (measured on the CPU: at most 0.02%
# and 0.00%). On the CPU, skips (exit 0 with a notice) without AVX512_BF16 / AMX-BF16.
set -euo pipefail
device=${LOOM_DEVICE:-cpu}
if [ "$device" = cpu ] && ! grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  echo "SKIP: no bf16 instructions on this CPU"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for compute in f32 bf16; do
  "$LOOM" sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --run.device "$device" --run.compute "$compute" \
    --model.path "$LOOM_TINY_RUN/model" --data.train "$LOOM_TINY_RUN/sft/manifest.json" \
    --data.eval "$LOOM_TINY_RUN/sft/manifest.json" --train.max_steps 100 --train.logging_steps 10 \
    --train.eval_steps 100 --train.save_steps 0 --train.output_dir "$work/$compute" >"$work/$compute.log" 2>&1 ||
    { cat "$work/$compute.log"; exit 1; }
  grep -q "compute: $device-$compute" "$work/$compute.log" ||
    { echo "FAIL: the $compute run did not use $device-$compute"; exit 1; }
  grep -o '"loss":[0-9.e+-]*' "$work/$compute/metrics.jsonl" | cut -d: -f2 >"$work/$compute.loss"
  grep -o '"eval_loss":[0-9.e+-]*' "$work/$compute/metrics.jsonl" | tail -1 | cut -d: -f2 >"$work/$compute.eval"
done
[ "$(wc -l <"$work/f32.loss")" -eq 10 ] || { echo "FAIL: expected 10 logged losses"; cat "$work/f32.log"; exit 1; }
paste "$work/f32.loss" "$work/bf16.loss" | awk '
  { d = ($2 - $1) / $1; if (d < 0) d = -d; printf "step %3d: f32 %.4f bf16 %.4f (%.2f%%)\n", NR * 10, $1, $2, 100 * d
    if (d > 0.005) bad = 1; if ($1 != $2) differ = 1 }
  END { if (!differ) { print "FAIL: the runs are identical (bf16 ran in f32?)"; exit 1 }
        if (bad) { print "FAIL: a logged loss is more than 0.5% from f32"; exit 1 } }'
paste "$work/f32.eval" "$work/bf16.eval" | awk '
  { d = ($2 - $1) / $1; if (d < 0) d = -d; printf "eval: f32 %.4f bf16 %.4f (%.2f%%)\n", $1, $2, 100 * d
    if (d > 0.002) { print "FAIL: eval loss more than 0.2% from f32"; exit 1 } }'
