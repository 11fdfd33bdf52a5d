#!/usr/bin/env bash
# loom generate holds the base at the precision the checkpoint stores unless --quant asks for another
# (config.json torch_dtype: float32 -> f32, bfloat16 -> bf16).
set -euo pipefail
: "${LOOM:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$LOOM" init-model --config tiny --out "$WORK/f32" >/dev/null
"$LOOM" init-model --config tiny --dtype bf16 --out "$WORK/bf16" >/dev/null
expect_base() {  # mode -- generate arguments
  local mode=$1; shift; shift
  "$LOOM" generate "$@" --prompt-ids 1,2,3 --max-new-tokens 1 --greedy --format jsonl >/dev/null 2>"$WORK/err" ||
    fail "loom generate $*: $(cat "$WORK/err")"
  grep -q "base $mode" "$WORK/err" || fail "loom generate $*: expected base $mode: $(cat "$WORK/err")"
  echo "ok: $mode <- $*"
}
expect_base f32 -- --model "$WORK/f32"
expect_base bf16 -- --model "$WORK/bf16"
expect_base nf4 -- --model "$WORK/f32" --quant nf4
