#!/usr/bin/env bash
# Limits on what loom and loom-prep accept from the command line, the environment and model
# files: absurd thread counts, and shard rows longer than the model's max_position_embeddings.
# Each is one error line and a non-zero exit.
set -euo pipefail
: "${LOOM:?}" "${LOOM_PREP:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}" "${LOOM_TINY_RUN:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"

# expect_error PROGRAM-NAME PATTERN -- command...: non-zero exit, one "NAME: error: " line matching PATTERN.
expect_error() {
  local name=$1 pattern=$2; shift 3
  local rc=0
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then fail "expected a clean failure (rc $rc): $*: $(cat "$WORK/err")"; fi
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "expected one line on stderr from $*, got: $(cat "$WORK/err")"
  grep -q "^$name: error: " "$WORK/err" || fail "not a $name error: $(cat "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  echo "ok: $(cat "$WORK/err")"
}

printf '{"text": "one short line"}\n' >"$WORK/in.jsonl"
expect_error loom-prep "--threads: 100000 threads is outside 1..1024" -- \
  "$LOOM_PREP" prompts --tokenizer "$TOKENIZER" --threads 100000 --out "$WORK/prep" "$WORK/in.jsonl"
[ ! -e "$WORK/prep/manifest.json" ] || fail "loom-prep left a manifest behind"
expect_error loom "OMP_NUM_THREADS: 100000 threads is outside 1..1024" -- \
  env OMP_NUM_THREADS=100000 "$LOOM" sft --model.path "$LOOM_TINY_RUN/model" \
  --data.train "$LOOM_TINY_RUN/sft/manifest.json" --train.output_dir "$WORK/sft" --train.max_steps 1

# A model whose max_position_embeddings (64) is shorter than the pairs' max_len (96).
cp -r "$LOOM_TINY_RUN/model" "$WORK/short-model"
sed -i 's/"max_position_embeddings": [0-9]*/"max_position_embeddings": 64/' "$WORK/short-model/config.json"
grep -q '"max_position_embeddings": 64' "$WORK/short-model/config.json" || fail "config edit did not apply"
expect_error loom "max_len: 96 tokens exceed the model's max_position_embeddings of 64" -- \
  "$LOOM" score --model "$WORK/short-model" --pairs "$LOOM_TINY_RUN/pairs/manifest.json" --split eval

# max_position_embeddings 16: sft rows (32), reward pairs (96) and PPO prompts (32) + generation
# are all refused before training.
cp -r "$LOOM_TINY_RUN/model" "$WORK/tiny-positions"
sed -i 's/"max_position_embeddings": [0-9]*/"max_position_embeddings": 16/' "$WORK/tiny-positions/config.json"
expect_error loom "sft/manifest.json: seq_len: 32 tokens exceed the model's max_position_embeddings of 16" -- \
  "$LOOM" sft --model.path "$WORK/tiny-positions" --data.train "$LOOM_TINY_RUN/sft/manifest.json" \
  --train.output_dir "$WORK/sft16" --train.max_steps 1
expect_error loom "pairs/manifest.json: max_len: 96 tokens exceed the model's max_position_embeddings of 16" -- \
  "$LOOM" reward --model.path "$WORK/tiny-positions" --data.train "$LOOM_TINY_RUN/pairs/manifest.json" \
  --train.output_dir "$WORK/reward16" --train.max_steps 1
expect_error loom "max_prompt_len + generation.output_max_length: 38 tokens exceed the model's max_position_embeddings of 16" -- \
  "$LOOM" ppo --config "$LOOM_SOURCE_DIR/configs/tiny-ppo.ini" --model.path "$WORK/tiny-positions" \
  --data.prompts "$LOOM_TINY_RUN/prompts/manifest.json" --reward.afinn_lexicon "$LOOM_SHARED_DIR/data/afinn/words.csv" --generation.output_min_length 3 --generation.output_max_length 6 \
  --train.output_dir "$WORK/ppo16" --train.max_steps 1
echo "input limits hold"
