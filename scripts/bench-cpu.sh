#!/usr/bin/env bash
# CPU training throughput of loom against transformers + PEFT on PyTorch, in one invocation:
# for each model shape, `loom bench` (NF4 base, LoRA r16 on all linears, f32 and bf16 compute)
# and bench/hf_baseline.py (the same shape, LoRA, seq, micro-batch and threads; f32 and bf16
# autocast), then the ratio of loom's better figure to HF's better one.
#
#   LOOM_PYTHON=/path/to/python scripts/bench-cpu.sh [BUILD_DIR] [CONFIG.json ...]
#
# BUILD_DIR defaults to build/; the configs default to bench/configs/*.json. LOOM_PYTHON is the
# Python that has torch, transformers and peft. SEQ, MICRO_BATCH, STEPS, THREADS and QUANT
# override 256, 4, 3, 2 and nf4; COMPUTES (default "f32 bf16") lists loom's compute modes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
configs=("$@")
if ((${#configs[@]} == 0)); then configs=("$root"/bench/configs/*.json); fi
seq=${SEQ:-256} micro_batch=${MICRO_BATCH:-4} steps=${STEPS:-3} threads=${THREADS:-2} quant=${QUANT:-nf4}
read -r -a computes <<<"${COMPUTES:-f32 bf16}"
loom=$build/src/loom
[ -x "$loom" ] || { echo "bench-cpu.sh: $loom is missing (build the loom target)" >&2; exit 1; }
[ -n "${LOOM_PYTHON:-}" ] || { echo "bench-cpu.sh: set LOOM_PYTHON to a Python with torch, transformers and peft" >&2; exit 1; }

figure() {  # the tokens/s figure of a "train: ..." or "hf ...:" line
  sed -n -E 's/.*: ([0-9.]+) tokens\/s.*/\1/p' | head -1
}

echo "# $(date -u +%FT%TZ) on $(hostname), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$loom" bench --peak | grep -v '^#'
for config in "${configs[@]}"; do
  echo "## $config (seq $seq, micro-batch $micro_batch, $threads threads, $steps timed steps)"
  declare -A loom_tps=()
  for compute in "${computes[@]}"; do
    line=$(OMP_NUM_THREADS=$threads "$loom" bench --config "$config" --quant "$quant" --compute "$compute" \
             --seq "$seq" --micro-batch "$micro_batch" --steps "$steps" | grep '^train:')
    echo "loom $compute ($quant base): $line"
    loom_tps[$compute]=$(echo "$line" | figure)
  done
  hf=$(OMP_NUM_THREADS=$threads "$LOOM_PYTHON" "$root/bench/hf_baseline.py" --config "$config" --seq "$seq" \
         --micro-batch "$micro_batch" --steps "$steps" --threads "$threads")
  echo "$hf"
  hf_f32=$(echo "$hf" | grep '^hf f32:' | figure)
  hf_bf16=$(echo "$hf" | grep '^hf bf16:' | figure)
  awk -v lf="${loom_tps[f32]:-0}" -v lb="${loom_tps[bf16]:-0}" -v hf="$hf_f32" -v hb="$hf_bf16" 'BEGIN {
    l = lf > lb ? lf : lb; h = hf > hb ? hf : hb;
    printf "ratio: loom %.1f tokens/s (best of f32 %.1f, bf16 %.1f) / HF %.1f (best of f32 %.1f, bf16 %.1f) = %.2fx\n",
           l, lf, lb, h, hf, hb, l / h }'
  unset loom_tps
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
