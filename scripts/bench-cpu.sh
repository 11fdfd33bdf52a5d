#!/usr/bin/env bash
# CPU throughput of loom against transformers + PEFT on PyTorch, in one invocation. For each
# model shape, the parts listed in PARTS (default "peak train hf decode ranks"):
#   peak    `loom bench --peak`: oneDNN's bf16 and f32 GEMM peaks (4096^3), once
#   train   `loom bench` LoRA steps (NF4 base, LoRA r16 on all linears) in each of COMPUTES
#   hf      bench/hf_baseline.py's LoRA steps (same shape, LoRA, seq, micro-batch, threads; f32
#           and bf16 autocast), then the ratio of loom's better figure to HF's better one
#   decode  batch-1 greedy decoding (PROMPT prompt tokens, NEW_TOKENS new, prefill included)
#           and a prefill of PREFILL tokens: loom (NF4 base) against HF `generate` (f32 and
#           bf16 weights), each side the median of REPEATS timed generations, with the ratios
#   ranks   `mpirun -np 2` x 1 thread against 1 rank x 2 threads of `loom bench` (the last of
#           COMPUTES), with the ratio
# Every figure line ends with the load average at its end.
#
#   LOOM_PYTHON=/path/to/python scripts/bench-cpu.sh [BUILD_DIR] [CONFIG.json ...]
#
# BUILD_DIR defaults to build/; the configs default to bench/configs/*.json. LOOM_PYTHON is the
# Python that has torch, transformers and peft (needed by hf and decode). SEQ, MICRO_BATCH,
# STEPS, THREADS, QUANT, PROMPT, NEW_TOKENS, PREFILL and REPEATS override 256, 4, 3, 2, nf4, 16,
# 32, 256 and 5; COMPUTES (default "f32 bf16") lists loom's compute modes; GRAD_CKPT=1 adds
# --gradient-checkpointing; MPIRUN (default mpirun) starts the 2-rank run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
configs=("$@")
if ((${#configs[@]} == 0)); then configs=("$root"/bench/configs/*.json); fi
seq=${SEQ:-256} micro_batch=${MICRO_BATCH:-4} steps=${STEPS:-3} threads=${THREADS:-2} quant=${QUANT:-nf4}
prompt=${PROMPT:-16} new_tokens=${NEW_TOKENS:-32} prefill=${PREFILL:-256} repeats=${REPEATS:-5}
read -r -a computes <<<"${COMPUTES:-f32 bf16}"
read -r -a parts <<<"${PARTS:-peak train hf decode ranks}"
read -r -a mpirun <<<"${MPIRUN:-mpirun}"
train_flags=(--quant "$quant" --seq "$seq" --micro-batch "$micro_batch" --steps "$steps")
if [ "${GRAD_CKPT:-0}" = 1 ]; then train_flags+=(--gradient-checkpointing); fi
loom=$build/src/loom
[ -x "$loom" ] || { echo "bench-cpu.sh: $loom is missing (build the loom target)" >&2; exit 1; }
part() { [[ " ${parts[*]} " == *" $1 "* ]]; }
if part hf || part decode; then
  [ -n "${LOOM_PYTHON:-}" ] || { echo "bench-cpu.sh: set LOOM_PYTHON to a Python with torch, transformers and peft" >&2; exit 1; }
fi

load() { echo "[load $(cut -d' ' -f1-3 /proc/loadavg)]"; }
figure() {  # the tokens/s figure of a "train: ...", "decode: ...", "prefill: ..." or "hf ...:" line
  sed -n -E 's/.*[:,] ([0-9.]+) tokens\/s.*/\1/p' | head -1
}
ratio() {  # ratio LABEL LOOM_FIGURE HF_F32 HF_BF16: loom over the better HF figure
  awk -v what="$1" -v l="$2" -v hf="$3" -v hb="$4" 'BEGIN {
    h = hf > hb ? hf : hb;
    printf "ratio %s: loom %.1f / HF %.1f (best of f32 %.1f, bf16 %.1f) = %.2fx\n", what, l, h, hf, hb, l / h }'
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

echo "# $(date -u +%FT%TZ) on $(hostname), $(nproc) cores; parts: ${parts[*]} $(load)"
if part peak; then echo "$("$loom" bench --peak | grep -v '^#') $(load)"; fi
for config in "${configs[@]}"; do
  echo "## $config (seq $seq, micro-batch $micro_batch, $threads threads, $steps timed steps${GRAD_CKPT:+, checkpointing})"
  loom_f32=0 loom_bf16=0
  if part train; then
    for compute in "${computes[@]}"; do
      out=$(OMP_NUM_THREADS=$threads "$loom" bench --config "$config" --compute "$compute" "${train_flags[@]}")
      echo "$out" | grep '^# .*weights made' | sed 's/^# /# loom: /'
      line=$(echo "$out" | grep '^train:')
      echo "loom $compute ($quant base): $line $(load)"
      if [ "$compute" = f32 ]; then loom_f32=$(echo "$line" | figure); else loom_bf16=$(echo "$line" | figure); fi
    done
  fi
  if part hf; then
    hf=$(OMP_NUM_THREADS=$threads "$LOOM_PYTHON" "$root/bench/hf_baseline.py" --config "$config" --seq "$seq" \
           --micro-batch "$micro_batch" --steps "$steps" --threads "$threads" 2>/dev/null)
    echo "$hf" | sed "/^hf /s/\$/ $(load)/"
    ratio "train" "$(best "$loom_f32" "$loom_bf16")" "$(echo "$hf" | grep '^hf f32:' | figure)" \
      "$(echo "$hf" | grep '^hf bf16:' | figure)"
  fi
  if part decode; then
    for mode in decode prefill; do
      tokens=(--prompt-tokens "$prompt" --new-tokens "$new_tokens")
      [ "$mode" = prefill ] && tokens=(--prompt-tokens "$prefill")
      line=$(OMP_NUM_THREADS=$threads "$loom" bench --config "$config" --quant "$quant" --compute "${computes[-1]}" \
               --mode "$mode" "${tokens[@]}" --repeats "$repeats" | grep "^$mode:")
      echo "loom ${computes[-1]} ($quant base): $line $(load)"
      hf=$(OMP_NUM_THREADS=$threads "$LOOM_PYTHON" "$root/bench/hf_baseline.py" --config "$config" --mode "$mode" \
             --threads "$threads" --prompt-tokens "$( [ "$mode" = prefill ] && echo "$prefill" || echo "$prompt")" \
             --new-tokens "$new_tokens" --repeats "$repeats" 2>/dev/null | grep '^hf ')
      echo "$hf" | sed "s/^hf /hf $mode /; s/\$/ $(load)/"
      ratio "$mode" "$(echo "$line" | figure)" "$(echo "$hf" | grep '^hf f32:' | figure)" \
        "$(echo "$hf" | grep '^hf bf16:' | figure)"
    done
  fi
  if part ranks; then
    compute=${computes[-1]}
    one=$(OMP_NUM_THREADS=2 "$loom" bench --config "$config" --compute "$compute" "${train_flags[@]}" | grep '^train:')
    echo "loom $compute 1 rank x 2 threads: $one $(load)"
    two=$("${mpirun[@]}" -np 2 --oversubscribe -x OMP_NUM_THREADS=1 "$loom" bench --config "$config" \
            --compute "$compute" "${train_flags[@]}" | grep '^train:')
    echo "loom $compute 2 ranks x 1 thread: $two $(load)"
    awk -v a="$(echo "$two" | figure)" -v b="$(echo "$one" | figure)" \
      'BEGIN { printf "ratio ranks: 2 x 1 %.1f / 1 x 2 %.1f tokens/s = %.2fx\n", a, b, a / b }'
  fi
done
echo "# done $(date -u +%FT%TZ) $(load)"
