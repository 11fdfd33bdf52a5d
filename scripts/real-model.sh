#!/usr/bin/env bash
# The real-model check: SmolLM2-135M-Instruct (../shared/data) through loom generate --chat
# against the public reference in ../shared/data/README.md (the chat prompt's ids and the
# greedy continuation that transformers gives on the float32 model).
#
#   scripts/real-model.sh LOOM_BINARY [CACHE_DIR]
#
# The GGUF file is converted once to a Hugging Face folder in CACHE_DIR (default
# ~/.cache/loom-real-model) with ../shared/tools/gguf_to_hf.py, in a venv made there with the
# PyPI packages gguf, numpy and safetensors (or with $LOOM_REAL_PYTHON when set). Exits 77
# (skipped) when the shared data is missing or the venv cannot be made (no package registry).
set -euo pipefail
LOOM=${1:?usage: scripts/real-model.sh LOOM_BINARY [CACHE_DIR]}
CACHE=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/loom-real-model}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${LOOM_SHARED_DIR:-$ROOT/../shared}
SMOL="$SHARED/data/smollm2-135m-instruct"
GGUF="$SMOL/SmolLM2-135M-Instruct.Q4_1.gguf"
skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$GGUF" ] || skip "$GGUF is missing"
MODEL="$CACHE/smollm2-135m-instruct-hf"

if [ ! -f "$MODEL/model.safetensors" ]; then
  mkdir -p "$CACHE"
  PY=${LOOM_REAL_PYTHON:-}
  if [ -z "$PY" ]; then
    PY="$CACHE/venv/bin/python"
    if [ ! -x "$PY" ]; then
      if ! { python3 -m venv "$CACHE/venv.tmp" >/dev/null &&
             "$CACHE/venv.tmp/bin/pip" install -q gguf numpy safetensors; }; then
        rm -rf "$CACHE/venv.tmp"
        skip "cannot make a venv with gguf, numpy and safetensors"
      fi
      mv "$CACHE/venv.tmp" "$CACHE/venv"
    fi
  fi
  rm -rf "$MODEL.tmp"
  "$PY" "$SHARED/tools/gguf_to_hf.py" "$GGUF" "$MODEL.tmp" --tokenizer-dir "$SMOL" >/dev/null
  mv "$MODEL.tmp" "$MODEL"
fi

# The reference: the ids of the chat prompt and its greedy continuation.
PROMPT_IDS="1,9690,198,2683,359,253,5356,5646,11173,3365,3511,308,34519,28,7018,411,407,19712,8182,2,198,1,4093,198,1780,314,260,3575,282,4649,47,2,198,1,520,9531,198"
COMPLETION_IDS="504,3575,282,4649,314,7042,30,2"
line=$("$LOOM" generate --model "$MODEL" --quant f32 --greedy --max-new-tokens 16 --format jsonl \
  --chat "What is the capital of France?" 2>/dev/null)
grep -qF "\"prompt_ids\":[$PROMPT_IDS]" <<<"$line" || fail "chat prompt ids differ from transformers': $line"
grep -qF "\"completion_ids\":[$COMPLETION_IDS]" <<<"$line" || fail "greedy continuation differs from transformers': $line"
grep -qF '"completion":"The capital of France is Paris."' <<<"$line" || fail "decoded completion: $line"
grep -qF '"stop_reason":"eos"' <<<"$line" || fail "did not stop at <|im_end|>: $line"
echo "ok: SmolLM2-135M-Instruct: --chat prompt ids and greedy continuation equal transformers'"
