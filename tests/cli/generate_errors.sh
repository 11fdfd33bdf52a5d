#!/usr/bin/env bash
# loom generate: every bad input is one line on stderr ("loom: error: ...") and a non-zero exit.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
GOLDEN="$LOOM_SOURCE_DIR/tests/golden/data"
MODEL="$GOLDEN/llama_gqa"  # vocab 512, no tokenizer.model

expect_error() {  # message (a fixed string) -- loom arguments
  local pattern=$1; shift; shift
  local rc=0
  "$LOOM" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected a failure: loom $*"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "expected one line on stderr from loom $*, got: $(cat "$WORK/err")"
  grep -q '^loom: error: ' "$WORK/err" || fail "not a loom error: $(cat "$WORK/err")"
  grep -qF -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  echo "ok: $pattern"
}

printf '{"prompt_ids": [1, 2]}\n{"text": "x"}\n' >"$WORK/bad.jsonl"
printf '{"prompt_ids": [1, 2]\n' >"$WORK/broken.jsonl"
: >"$WORK/empty.txt"

expect_error "the option '--model' is required but missing" -- generate --prompt-ids 1,2
expect_error "exactly one of" -- generate --model "$MODEL" --prompt-ids 1,2 --prompt hi
expect_error "exactly one of" -- generate --model "$MODEL"
expect_error "--prompt-ids: expected comma-separated token ids such as 1,2,3, got 'x'" -- generate --model "$MODEL" --prompt-ids 1,x,3 --format jsonl
expect_error "--prompt-ids: expected comma-separated token ids such as 1,2,3, got '-4'" -- generate --model "$MODEL" --prompt-ids 1,-4 --format jsonl
expect_error "outside the vocabulary" -- generate --model "$MODEL" --quant f32 --prompt-ids 1,512 --format jsonl
expect_error "top_p must be in (0, 1], got 0" -- generate --model "$MODEL" --prompt-ids 1 --top-p 0 --format jsonl
expect_error "temperature must be a positive number when sampling, got 0" -- generate --model "$MODEL" --prompt-ids 1 --temperature 0 --format jsonl
expect_error "top_k must be >= 0 (0 = off), got -2" -- generate --model "$MODEL" --prompt-ids 1 --top-k -2 --format jsonl
expect_error "--max-new-tokens must be positive, got 0" -- generate --model "$MODEL" --prompt-ids 1 --max-new-tokens 0 --format jsonl
expect_error "--batch-size must be positive, got 0" -- generate --model "$MODEL" --prompt-ids 1 --batch-size 0 --format jsonl
expect_error "--format: expected text or jsonl, got 'xml'" -- generate --model "$MODEL" --prompt-ids 1 --format xml
expect_error "needs a tokenizer" -- generate --model "$MODEL" --prompt-ids 1
expect_error "needs a tokenizer" -- generate --model "$MODEL" --prompt hello --format jsonl
expect_error "missing.model: no such file" -- generate --model "$MODEL" --tokenizer "$WORK/missing.model" --prompt hi
expect_error "nowhere: checkpoint directory does not exist" -- generate --model "$WORK/nowhere" --prompt-ids 1 --format jsonl
expect_error "quantization mode 'q3' is unknown (expected f32, bf16, int8 or nf4)" -- generate --model "$MODEL" --prompt-ids 1 --quant q3 --format jsonl
expect_error "missing.txt: cannot open" -- generate --model "$MODEL" --prompts "$WORK/missing.txt" --format jsonl
expect_error "bad.jsonl:2: expected a \"prompt\" or \"prompt_ids\" field" -- \
  generate --model "$MODEL" --prompts "$WORK/bad.jsonl" --format jsonl
expect_error "broken.jsonl:1: not a JSON object" -- generate --model "$MODEL" --prompts "$WORK/broken.jsonl" --format jsonl
expect_error "empty.txt: no prompts" -- generate --model "$MODEL" --prompts "$WORK/empty.txt" --format jsonl
expect_error "$WORK/adapter_config.json: cannot read (No such file or directory)" -- generate --model "$MODEL" --adapter "$WORK" --prompt-ids 1 --format jsonl
expect_error "not a generation adapter" -- \
  generate --model "$MODEL" --adapter "$GOLDEN/llama_seqcls_adapter" --prompt-ids 1 --format jsonl
expect_error "has no LM head" -- generate --model "$GOLDEN/llama_seqcls" --prompt-ids 1 --format jsonl
echo "all generate errors are one-line messages"
