#!/usr/bin/env bash
# Real-model SFT acceptance: LoRA SFT teaches SmolLM2-135M-Instruct a behaviour it does not have,
# and the adapter loom writes means the same in PEFT.
#
#   tests/real/smollm2_sft_ahoy.sh LOOM LOOM_PREP [CACHE_DIR]
#
# Behaviour: every reply begins with "Ahoy!". Training data: 240 TRL conversational records
# ({"messages": [user, assistant]}) made from the first human turns of the HH-RLHF file, each
# answered with "Ahoy! " + the first sentence of HH's own reply (tests/real/make_ahoy_data.py);
# `loom-prep sft --template trl --loss-on assistant`, then `loom sft` with
# tests/real/smollm2-ahoy-sft.ini (bf16 base, LoRA r 8 on q,v, 16 steps of 8 rows of 64 tokens,
# run.compute as configured: auto). Metric: of 24 held-out prompts (the file's last distinct
# first turns, none of them a training prompt), how many greedy answers of `loom generate
# --messages` start with "Ahoy!". Measured: base 0/24, after 8 steps already 24/24, after 16
# steps 24/24. Thresholds: base <= 2/24, trained >= 22/24 (0.9 N).
#
# PEFT parity: tests/golden/data/smollm2_ahoy_golden.json holds, from transformers + PEFT on the
# adapter of this same deterministic command (tests/golden/make_smollm2_ahoy_golden.py), the chat
# prompt ids, the greedy ids and their log-probs. Decoding here runs with --quant f32 --compute
# f32, as transformers does, so both sides compute in float32. The test requires loom's prompt
# ids and greedy ids to equal PEFT's for all 24 prompts, and, when the adapter is byte-identical
# to the golden run's (sha256 in the golden file), the greedy tokens' log-probs within 1e-4.
# Training is bit-identical run to run on one machine (checked). Another CPU, or compute f32
# where the CPU has no bf16 instructions, trains a slightly different adapter: the test says so,
# skips the log-prob tolerance (it is for one adapter) and still requires PEFT's greedy ids; if
# those differ it fails and says that the difference may come from the training, not from
# loading the adapter, and how to re-check PEFT on this machine's adapter. Measured with
# --run.compute f32: a different adapter, still 24/24 with the greeting and PEFT's greedy ids
# for 24/24 prompts (log-probs within 2.8e-2 of the bf16-trained adapter's).
#
# LOOM_KEEP_REAL_SFT=DIR keeps the work folder there (data, shards, run, generations).
# Exits 77 (skipped) where scripts/real-model.sh skips (no shared GGUF or no venv for it).
set -euo pipefail
LOOM=${1:?usage: smollm2_sft_ahoy.sh LOOM LOOM_PREP [CACHE_DIR]}
LOOM_PREP=${2:?usage: smollm2_sft_ahoy.sh LOOM LOOM_PREP [CACHE_DIR]}
CACHE=${3:-${XDG_CACHE_HOME:-$HOME/.cache}/loom-real-model}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${LOOM_SHARED_DIR:-$ROOT/../shared}
MODEL="$CACHE/smollm2-135m-instruct-hf"
fail() { echo "FAIL: $*" >&2; exit 1; }

# The converted model folder, and the base model's own check against transformers.
rc=0
bash "$ROOT/scripts/real-model.sh" "$LOOM" "$CACHE" || rc=$?
[ "$rc" = 0 ] || exit "$rc"

if [ -n "${LOOM_KEEP_REAL_SFT:-}" ]; then
  WORK=$LOOM_KEEP_REAL_SFT
  rm -rf "$WORK" && mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

python3 "$ROOT/tests/real/make_ahoy_data.py" "$SHARED/data/hh-rlhf/harmless-base-test.jsonl.gz" "$WORK"
"$LOOM_PREP" sft --model "$MODEL" --template trl --layout padded --loss-on assistant --seq-len 64 \
  --eval-fraction 0 --on-error skip --out "$WORK/sft" "$WORK/train.jsonl" >"$WORK/prep.log" 2>&1 ||
  { cat "$WORK/prep.log"; fail "loom-prep sft"; }
"$LOOM" sft --config "$ROOT/tests/real/smollm2-ahoy-sft.ini" --model.path "$MODEL" \
  --data.train "$WORK/sft/manifest.json" --train.output_dir "$WORK/run" >"$WORK/sft.log" 2>&1 ||
  { cat "$WORK/sft.log"; fail "loom sft"; }
head -1 "$WORK/sft.log"   # the compute backend in use
grep -E '^step' "$WORK/sft.log" || true

GEN=("$LOOM" generate --model "$MODEL" --quant f32 --compute f32 --messages "$WORK/heldout.jsonl" --greedy
     --max-new-tokens 12 --batch-size 24 --format jsonl)
"${GEN[@]}" >"$WORK/base.jsonl" 2>"$WORK/base.log" || { cat "$WORK/base.log"; fail "loom generate (base)"; }
"${GEN[@]}" --adapter "$WORK/run/final" >"$WORK/trained.jsonl" 2>"$WORK/trained.log" ||
  { cat "$WORK/trained.log"; fail "loom generate (adapter)"; }

python3 "$ROOT/tests/real/check_ahoy.py" --base "$WORK/base.jsonl" --trained "$WORK/trained.jsonl" \
  --adapter "$WORK/run/final/adapter_model.safetensors" --golden "$ROOT/tests/golden/data/smollm2_ahoy_golden.json"
