#!/usr/bin/env bash
# GPU throughput of loom's cuda backend against transformers + PEFT on PyTorch, on the same GPU
# in one invocation: LoRA SFT steps of one model shape (random weights, NF4 base for loom,
# LoRA r16 alpha 32 dropout 0.05 on all seven linears, AdamW, clipping, seq 256, micro-batch 4)
#   loom    `loom sft --run.device cuda` in each of COMPUTES (default "f32 bf16": cuda-f32,
#           cuda-bf16) on the HH-RLHF test split packed into 256-token rows; its figure is the
#           median tokens_per_second of steps 6 to STEPS (the first steps include start-up)
#   hf      bench/hf_baseline.py --device cuda: f32 and bf16 autocast, unquantized f32 base,
#           random tokens, STEPS timed steps after one warm-up
# then the ratio of loom's better figure to HF's better one. Run from the repository root on the
# GPU machine, with a device bundle (scripts/device-bundle.sh) unpacked there:
#   scripts/bench-gpu.sh LAUNCHER SHARED_DIR [CONFIG.json]
# LAUNCHER runs loom and loom-prep by name (.bundle/run.sh); SHARED_DIR holds data/ as ../shared
# does (.bundle/shared); CONFIG defaults to bench/configs/h1024-l8.json. PYTHON (default python3)
# has torch, transformers and peft; STEPS defaults to 30.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=${1:?usage: bench-gpu.sh LAUNCHER SHARED_DIR [CONFIG.json]}
shared=${2:?missing SHARED_DIR} config=${3:-bench/configs/h1024-l8.json}
steps=${STEPS:-30} python=${PYTHON:-python3}
read -r -a computes <<<"${COMPUTES:-f32 bf16}"
tokenizer=$shared/data/llama2-tokenizer/tokenizer.model
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n 1); $config, seq 256, micro-batch 4, $steps steps"
"$launcher" loom init-model --config "$config" --out "$work/model" --seed 1 --tokenizer "$tokenizer" >"$work/init.log"
"$launcher" loom-prep sft --template hh --tokenizer "$tokenizer" --seq-len 256 --eval-fraction 0.02 \
  --out "$work/data" "$shared/data/hh-rlhf/harmless-base-test.jsonl.gz" >"$work/prep.log"
best_loom=0
for compute in "${computes[@]}"; do
  command=(loom sft --config configs/smollm2-135m-sft.ini --model.path MODEL --model.quant nf4
    --data.train DATA/manifest.json --data.eval DATA/manifest.json --train.micro_batch_size 4
    --train.grad_accum_steps 1 --train.max_steps "$steps" --train.logging_steps 1 --train.eval_steps 0
    --train.save_steps 0 --train.output_dir OUT --run.device cuda --run.compute "$compute")
  echo "\$ ${command[*]}"
  run=("${command[@]/MODEL/$work/model}")
  run=("${run[@]/DATA/$work/data}")
  run=("${run[@]/OUT/$work/out-$compute}")
  "$launcher" "${run[@]}" >"$work/$compute.log" 2>&1 || { tail -n 20 "$work/$compute.log"; exit 1; }
  tps=$(grep -o '"tokens_per_second":[0-9.]*' "$work/out-$compute/metrics.jsonl" | tail -n +6 | cut -d: -f2 |
    sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] }')
  echo "loom $(grep -m1 -o 'compute: [^ ]*' "$work/$compute.log" | cut -d' ' -f2): $tps tokens/s (median of steps 6-$steps)"
  best_loom=$(awk -v a="$best_loom" -v b="$tps" 'BEGIN { print (b > a ? b : a) }')
done
echo "\$ $python bench/hf_baseline.py --config $config --device cuda --steps $steps --seq 256 --micro-batch 4"
"$python" bench/hf_baseline.py --config "$config" --device cuda --steps "$steps" --seq 256 --micro-batch 4 |
  tee "$work/hf.txt"
best_hf=$(awk '/^hf / { if ($3 > m) m = $3 } END { print m + 0 }' "$work/hf.txt")
awk -v l="$best_loom" -v h="$best_hf" 'BEGIN { printf "ratio: loom %.0f / HF %.1f = %.2fx\n", l, h, l / h }'
