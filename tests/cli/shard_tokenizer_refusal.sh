#!/usr/bin/env bash
# The tokenizer travels with the model: shards made with another tokenizer than the model folder's are
# refused by sft, reward and score, whatever tokenizer files the folder has, and a folder with none is
# refused too; init-model writes the tokenizer files transformers needs (and AutoTokenizer loads them
# when LOOM_PYTHON names a Python with transformers).
set -euo pipefail
: "${LOOM:?}" "${LOOM_PREP:?}" "${LOOM_SHARED_DIR:?}" "${LOOM_TINY_RUN:?}" "${LOOM_SOURCE_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
SMOL="$LOOM_SHARED_DIR/data/smollm2-135m-instruct"
HH="$LOOM_SHARED_DIR/data/hh-rlhf/harmless-base-test.jsonl.gz"
MODEL="$LOOM_TINY_RUN/model"  # the Llama-2 tokenizer.model

expect_error() {  # pattern -- loom arguments
  local pattern=$1; shift; shift
  local rc=0
  "$LOOM" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected a failure: loom $*"
  grep -q -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  [ "$(grep -c 'loom: error' "$WORK/err")" -eq 1 ] || fail "expected one error line: $(cat "$WORK/err")"
  echo "ok: $pattern"
}

# init-model wrote the tokenizer set.
for f in tokenizer.model tokenizer_config.json generation_config.json; do
  [ -f "$MODEL/$f" ] || fail "init-model did not write $f"
done
grep -q '"add_bos_token": true' "$MODEL/tokenizer_config.json" || fail "tokenizer_config.json: $(cat "$MODEL/tokenizer_config.json")"

# Shards from SmolLM2's tokenizer.json (loom-prep --model) against the Llama-2 model.
"$LOOM_PREP" sft --template hh --model "$SMOL" --seq-len 32 --out "$WORK/smol-sft" "$HH" >/dev/null
"$LOOM_PREP" pairs --template hh --model "$SMOL" --max-len 96 --on-error skip --eval-fraction 0.5 \
  --out "$WORK/smol-pairs" "$HH" >/dev/null
grep -q '"tokenizer_path": "[^"]*smollm2-135m-instruct/tokenizer.json"' "$WORK/smol-sft/manifest.json" ||
  fail "manifest: $(head -c 600 "$WORK/smol-sft/manifest.json")"
TRAIN=(--train.max_steps 1 --train.save_steps 0 --train.eval_steps 0 --train.output_dir "$WORK/out")
expect_error "smol-sft/manifest.json: made with tokenizer .*smollm2-135m-instruct/tokenizer.json" -- \
  sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$MODEL" --data.train "$WORK/smol-sft/manifest.json" \
  --data.eval "" "${TRAIN[@]}"
expect_error "smol-pairs/manifest.json: made with tokenizer" -- reward --config "$LOOM_SOURCE_DIR/configs/tiny-reward.ini" \
  --model.path "$MODEL" --data.train "$WORK/smol-pairs/manifest.json" --data.eval "" "${TRAIN[@]}"
expect_error "smol-pairs/manifest.json: made with tokenizer" -- score --model "$MODEL" --pairs "$WORK/smol-pairs/manifest.json"

# The same model folder without its tokenizer.model: refused, not trained unchecked.
mkdir "$WORK/bare"
cp "$MODEL"/config.json "$MODEL"/*.safetensors "$WORK/bare/"
expect_error "bare: the model folder has no tokenizer.json or tokenizer.model" -- \
  sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$WORK/bare" \
  --data.train "$LOOM_TINY_RUN/sft/manifest.json" --data.eval "" "${TRAIN[@]}"

# The folder given SmolLM2's tokenizer.json beside its tokenizer.model now uses it, and refuses the
# Llama-2 shards it trained on before.
cp -r "$MODEL" "$WORK/switched"
cp "$SMOL/tokenizer.json" "$SMOL/tokenizer_config.json" "$WORK/switched/"
expect_error "made with tokenizer .*tokenizer.model.*switched/tokenizer.json" -- \
  sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$WORK/switched" \
  --data.train "$LOOM_TINY_RUN/sft/manifest.json" --data.eval "" "${TRAIN[@]}"

if [ -n "${LOOM_PYTHON:-}" ] && "$LOOM_PYTHON" -c 'import transformers' 2>/dev/null; then
  ids=$("$LOOM_PYTHON" -c 'import sys; from transformers import AutoTokenizer
print(" ".join(map(str, AutoTokenizer.from_pretrained(sys.argv[1])("Hello world!").input_ids)))' "$MODEL" 2>/dev/null)
  [ "$ids" = "1 15043 3186 29991" ] || fail "AutoTokenizer on init-model's output: '$ids'"
  echo "ok: AutoTokenizer loads init-model's output and adds BOS"
else
  echo "skipped the AutoTokenizer check: set LOOM_PYTHON to a Python with transformers"
fi
