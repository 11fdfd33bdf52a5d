#!/usr/bin/env bash
# loom generate --chat / --messages on a tiny model with the real Llama-2 tokenizer and the
# Llama-2-chat template: the prompt is the template's render with its generation prompt,
# encoded with the template's <s> as BOS (the ids transformers' LlamaTokenizer gives); every
# EOS id of generation_config.json stops a row; bad conversations are one-line errors.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}"
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
[ -f "$TOKENIZER" ] || { echo "FAIL: $TOKENIZER is missing" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { grep -o "\"$1\":[^]]*]" <<<"$2" || true; }  # a list-valued field of one jsonl record

"$LOOM" init-model --config tiny --out "$WORK/model" --tokenizer "$TOKENIZER" --seed 3 >/dev/null
# The model folder gets Llama-2's tokenizer_config.json: special tokens and the chat template.
python3 - "$LOOM_SOURCE_DIR/tests/golden/chat/templates/llama-2-chat.jinja" "$WORK/model/tokenizer_config.json" <<'EOF'
import json, sys
template = open(sys.argv[1], encoding="utf-8").read()
json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "chat_template": template,
           "added_tokens_decoder": {"0": {"content": "<unk>", "special": True}, "1": {"content": "<s>", "special": True},
                                    "2": {"content": "</s>", "special": True}}}, open(sys.argv[2], "w"))
EOF
GEN=("$LOOM" generate --model "$WORK/model" --quant f32 --greedy)

line=$("${GEN[@]}" --chat "Hi" --system "Be brief." --max-new-tokens 5 --format jsonl 2>/dev/null)
expected='"prompt_ids":[1,518,25580,29962,3532,14816,29903,6778,13,3629,11473,29889,13,29966,829,14816,29903,6778,13,13,18567,518,29914,25580,29962]'
grep -qF "$expected" <<<"$line" || fail "chat prompt ids: $line"
grep -qF '"prompt":"<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"' <<<"$line" || fail "rendered prompt: $line"
grep -qF '"messages":[{"content":"Be brief.","role":"system"},{"content":"Hi","role":"user"}]' <<<"$line" ||
  grep -qF '"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]' <<<"$line" ||
  fail "messages not kept: $line"
for key in completion completion_ids stop_reason; do grep -q "\"$key\":" <<<"$line" || fail "jsonl lacks $key: $line"; done
echo "ok: --chat with --system renders and encodes the Llama-2 chat prompt"

# --messages: one conversation a line, either spelling; the same as --chat for the same conversation.
printf '%s\n\n%s\n' '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}' \
  '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]' \
  >"$WORK/chats.jsonl"
out=$("${GEN[@]}" --messages "$WORK/chats.jsonl" --max-new-tokens 5 --format jsonl 2>/dev/null)
[ "$(wc -l <<<"$out")" = 2 ] || fail "--messages: expected 2 records: $out"
[ "$(field completion_ids "$(head -1 <<<"$out")")" = "$(field completion_ids "$line")" ] || fail "--messages differs from --chat"
grep -qF '"prompt":"<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]"' <<<"$(tail -1 <<<"$out")" ||
  fail "multi-turn prompt: $out"
echo "ok: --messages"

# Text output: the decoded prompt and completion.
text=$("${GEN[@]}" --chat "Hi" --max-new-tokens 5 2>/dev/null)
[[ "$text" == "[INST] Hi [/INST]"* ]] || fail "text output: $text"
echo "ok: text output"

# Every EOS id stops: make the first greedy token an EOS through generation_config.json's list.
first=$(field completion_ids "$line" | grep -o '[0-9][0-9]*' | head -1)
second=$(field completion_ids "$line" | grep -o '[0-9][0-9]*' | sed -n 2p)
{ [ -n "$first" ] && [ -n "$second" ]; } || fail "no completion: $line"
[ "$(field completion_ids "$line" | grep -o '[0-9][0-9]*' | wc -l)" = 5 ] || fail "expected 5 tokens without an EOS: $line"
echo "{\"eos_token_id\": [2, $first]}" >"$WORK/model/generation_config.json"
stopped=$("${GEN[@]}" --chat "Hi" --system "Be brief." --max-new-tokens 5 --format jsonl 2>/dev/null)
grep -q "\"completion_ids\":\[$first\]" <<<"$stopped" || fail "did not stop at the listed EOS $first: $stopped"
grep -q '"stop_reason":"eos"' <<<"$stopped" || fail "stop reason is not eos: $stopped"
echo "{\"eos_token_id\": $second}" >"$WORK/model/generation_config.json"
stopped=$("${GEN[@]}" --chat "Hi" --system "Be brief." --max-new-tokens 5 --format jsonl 2>/dev/null)
grep -q "\"completion_ids\":\[$first,$second\]" <<<"$stopped" || fail "did not stop at EOS $second: $stopped"
rm "$WORK/model/generation_config.json"
echo "ok: generation stops on every EOS id of generation_config.json"

# Bad input: one error line each, non-zero exit.
expect_error() {
  local name=$1 pattern=$2; shift 2
  local status=0
  "$@" >/dev/null 2>"$WORK/err" || status=$?
  [ "$status" -ne 0 ] || fail "$name: exit status 0"
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "$name: not one line: $(cat "$WORK/err")"
  grep -q -e "$pattern" "$WORK/err" || fail "$name: '$pattern' not in: $(cat "$WORK/err")"
  echo "ok: $name: $(cat "$WORK/err")"
}
printf '%s\n' '[{"role": "assistant", "content": "Hi"}]' >"$WORK/bad-order.jsonl"
expect_error raise_exception "bad-order.jsonl:1: .*chat template failed: Conversation roles must alternate" \
  "${GEN[@]}" --messages "$WORK/bad-order.jsonl"
printf '%s\n' '{"messages": [{"role": "user"}]}' >"$WORK/no-content.jsonl"
expect_error missing_content "no-content.jsonl:1: every message needs string \"role\" and \"content\"" \
  "${GEN[@]}" --messages "$WORK/no-content.jsonl"
expect_error system_alone "--system: goes with --chat" "${GEN[@]}" --prompt "x" --system "y"
expect_error two_inputs "give exactly one of" "${GEN[@]}" --prompt "x" --chat "y"
mkdir "$WORK/plain" && cp "$WORK/model/config.json" "$WORK/model/model.safetensors" "$TOKENIZER" "$WORK/plain/"
expect_error no_template "plain: no chat_template.jinja or tokenizer_config.json" \
  "$LOOM" generate --model "$WORK/plain" --quant f32 --chat "Hi"
echo "generate --chat: all checks passed"
