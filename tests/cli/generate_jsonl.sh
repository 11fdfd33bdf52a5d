#!/usr/bin/env bash
# loom generate end to end: jsonl fields, text streaming with the real Llama-2 tokenizer,
# --prompt-ids without a tokenizer, batching equals one prompt at a time, seeded sampling,
# EOS stopping turned off.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}"
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
[ -f "$TOKENIZER" ] || { echo "FAIL: $TOKENIZER is missing" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { grep -o "\"$1\":[^]]*]" <<<"$2" || true; }  # a list-valued field of one jsonl record

"$LOOM" init-model --config tiny --out "$WORK/model" --tokenizer "$TOKENIZER" --seed 3 >/dev/null
GEN=("$LOOM" generate --model "$WORK/model" --quant f32)

# jsonl: every field, for a text prompt.
line=$("${GEN[@]}" --prompt "Hello world!" --greedy --max-new-tokens 6 --format jsonl 2>/dev/null)
for key in prompt prompt_ids completion completion_ids logprobs stop_reason; do
  grep -q "\"$key\":" <<<"$line" || fail "jsonl lacks $key: $line"
done
grep -q '"prompt_ids":\[1,15043,3186,29991\]' <<<"$line" || fail "prompt not encoded as Llama-2 does: $line"
[ "$(field completion_ids "$line" | tr -cd , | wc -c)" -le 5 ] || fail "more than 6 new tokens: $line"
echo "ok: jsonl fields"

# The same ids given directly give the same completion; without a tokenizer the text fields are absent.
ids_line=$("${GEN[@]}" --prompt-ids 1,15043,3186,29991 --greedy --max-new-tokens 6 --format jsonl 2>/dev/null)
[ "$(field completion_ids "$ids_line")" = "$(field completion_ids "$line")" ] || fail "--prompt-ids differs from --prompt"
mkdir "$WORK/bare"
cp "$WORK/model/config.json" "$WORK/model/model.safetensors" "$WORK/bare/"
bare=$("$LOOM" generate --model "$WORK/bare" --quant f32 --max-new-tokens 6 --prompt-ids 1,15043,3186,29991 --greedy \
  --format jsonl 2>/dev/null)
grep -q '"prompt":\|"completion":' <<<"$bare" && fail "text fields without a tokenizer: $bare"
[ "$(field completion_ids "$bare")" = "$(field completion_ids "$line")" ] || fail "tokenizer changes the tokens"
echo "ok: --prompt-ids with and without a tokenizer"

# Text: the prompt, then the completion, streamed for a single prompt.
text=$("${GEN[@]}" --prompt "Hello world!" --greedy --max-new-tokens 6 2>"$WORK/err")
[[ "$text" == "Hello world!"* ]] || fail "text output does not start with the prompt: $text"
grep -q "tokens/s" "$WORK/err" || fail "no throughput line on stderr"
echo "ok: text"

# A batch of prompts of different lengths gives what each prompt gives alone.
printf 'Hello world!\nThe capital of France is\n\nOnce upon a time, in a land far away, there\n' >"$WORK/prompts.txt"
"${GEN[@]}" --prompts "$WORK/prompts.txt" --greedy --max-new-tokens 6 --batch-size 2 --format jsonl >"$WORK/batch.jsonl" 2>/dev/null
[ "$(wc -l <"$WORK/batch.jsonl")" -eq 3 ] || fail "expected 3 records: $(cat "$WORK/batch.jsonl")"
n=0
while IFS= read -r prompt; do
  [ -n "$prompt" ] || continue
  n=$((n + 1))
  alone=$("${GEN[@]}" --prompt "$prompt" --greedy --max-new-tokens 6 --format jsonl 2>/dev/null)
  batched=$(sed -n "${n}p" "$WORK/batch.jsonl")
  [ "$(field completion_ids "$alone")" = "$(field completion_ids "$batched")" ] || fail "prompt $n differs in a batch"
done <"$WORK/prompts.txt"
printf '{"prompt": "Hello world!"}\n{"prompt_ids": [1, 15043, 3186, 29991]}\n' >"$WORK/prompts.jsonl"
"${GEN[@]}" --prompts "$WORK/prompts.jsonl" --greedy --max-new-tokens 6 --format jsonl >"$WORK/two.jsonl" 2>/dev/null
[ "$(field completion_ids "$(sed -n 1p "$WORK/two.jsonl")")" = "$(field completion_ids "$(sed -n 2p "$WORK/two.jsonl")")" ] ||
  fail "JSONL prompt and prompt_ids disagree"
echo "ok: batches and prompt files"

# Sampling: the same seed gives the same tokens; no EOS stop gives exactly max-new-tokens.
SAMPLE=("${GEN[@]}" --prompt "Hello world!" --temperature 1.5 --top-k 50 --top-p 0.95 --format jsonl --max-new-tokens 12)
a=$("${SAMPLE[@]}" --seed 5 2>/dev/null)
b=$("${SAMPLE[@]}" --seed 5 2>/dev/null)
c=$("${SAMPLE[@]}" --seed 6 2>/dev/null)
[ "$a" = "$b" ] || fail "same seed, different output"
[ "$a" != "$c" ] || fail "different seeds, same output"
long=$("${SAMPLE[@]}" --seed 5 --no-eos-stop 2>/dev/null)
[ "$(field completion_ids "$long" | tr -cd , | wc -c)" -eq 11 ] || fail "--no-eos-stop did not give 12 tokens: $long"
grep -q '"stop_reason":"length"' <<<"$long" || fail "stop reason: $long"
echo "ok: sampling"
