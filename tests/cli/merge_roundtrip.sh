#!/usr/bin/env bash
# loom merge end to end: the merged model generates what base + adapter generate, sharding,
# bf16 storage, the SEQ_CLS head, and one-line errors.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}"
GOLDEN="$LOOM_SOURCE_DIR/tests/golden/data"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { grep -o "\"$1\":[^]]*]" <<<"$2" || true; }

"$LOOM" merge --base "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_gqa_adapter" --out "$WORK/merged" >/dev/null
grep -q '"torch_dtype": "float32"' "$WORK/merged/config.json" || fail "a float32 base merges to f32 by default"
GEN=(generate --quant f32 --prompt-ids "1,17,300,42,9" --greedy --max-new-tokens 8 --format jsonl)
with_adapter=$("$LOOM" "${GEN[@]}" --model "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_gqa_adapter" 2>/dev/null)
merged=$("$LOOM" "${GEN[@]}" --model "$WORK/merged" 2>/dev/null)
base=$("$LOOM" "${GEN[@]}" --model "$GOLDEN/llama_gqa" 2>/dev/null)
[ "$(field completion_ids "$with_adapter")" = "$(field completion_ids "$merged")" ] ||
  fail "merged model generates differently: $merged vs $with_adapter"
[ "$(field completion_ids "$with_adapter")" != "$(field completion_ids "$base")" ] || fail "the adapter changes nothing"
echo "ok: merged = base + adapter"

"$LOOM" merge --base "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_gqa_adapter" --out "$WORK/sharded" \
  --max-shard-size 100KB --dtype bf16 >/dev/null
[ -f "$WORK/sharded/model.safetensors.index.json" ] || fail "no index.json past the shard size"
shards=("$WORK/sharded"/model-*-of-*.safetensors)
[ "${#shards[@]}" -gt 1 ] || fail "expected several shards"
grep -q '"torch_dtype": "bfloat16"' "$WORK/sharded/config.json" || fail "--dtype bf16 not recorded"
"$LOOM" generate --model "$WORK/sharded" --quant f32 --prompt-ids 1,2,3 --max-new-tokens 2 --format jsonl >/dev/null 2>&1 ||
  fail "the sharded checkpoint does not load"
echo "ok: sharded bf16"

"$LOOM" merge --base "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_seqcls_adapter" --out "$WORK/rm" >/dev/null
grep -q LlamaForSequenceClassification "$WORK/rm/config.json" || fail "SEQ_CLS merge is not a classifier"
echo "ok: SEQ_CLS head"

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
M=(merge --base "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_gqa_adapter")
expect_error "--dtype: expected f32 or bf16, got 'f16'" -- "${M[@]}" --out "$WORK/x" --dtype f16
expect_error "--max-shard-size: expected a size such as 2GB, 500MB, 4GiB or a byte count, got '2XB'" -- "${M[@]}" --out "$WORK/x" --max-shard-size 2XB
expect_error "llama_gqa: the output directory is the base directory" -- "${M[@]}" --out "$GOLDEN/llama_gqa"
expect_error "$WORK/none/adapter_config.json: cannot read (No such file or directory)" -- merge --base "$GOLDEN/llama_gqa" --adapter "$WORK/none" --out "$WORK/x"
expect_error "the option '--out' is required but missing" -- merge --base "$GOLDEN/llama_gqa" --adapter "$GOLDEN/llama_gqa_adapter"
[ ! -e "$WORK/x" ] || fail "a failed merge left output behind"
echo "all merge checks passed"
