#!/usr/bin/env bash
# scripts/hh_to_chat.py (the demo's HH-RLHF -> chat messages step): turns become alternating
# user/assistant messages in each of the three modes, a dialogue that does not alternate or has
# an empty turn is skipped and counted, a line that is not a JSON object is one FILE:LINE error
# with no output file left; the result goes through loom-prep --template trl.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}" "${LOOM_PREP:?}" "${LOOM_SHARED_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
convert() { python3 "$LOOM_SOURCE_DIR/scripts/hh_to_chat.py" "$@"; }
{
  printf '%s\n' '{"chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: See you.", "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: Go away."}'
  printf '%s\n' '{"chosen": "\n\nHuman: One\n\nHuman: Two\n\nAssistant: x", "rejected": "\n\nHuman: One\n\nAssistant: y"}'
  printf '%s\n' '{"chosen": "\n\nHuman: Empty answer\n\nAssistant: ", "rejected": "\n\nHuman: Empty answer\n\nAssistant: z"}'
} >"$WORK/hh.jsonl"

convert pairs "$WORK/hh.jsonl" "$WORK/pairs.jsonl" 2>"$WORK/err"
want='{"chosen": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you."}], "rejected": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Go away."}]}'
[ "$(cat "$WORK/pairs.jsonl")" = "$want" ] || fail "pairs: $(cat "$WORK/pairs.jsonl")"
grep -q "1 records to .*, 2 skipped" "$WORK/err" || fail "pairs count: $(cat "$WORK/err")"
convert messages "$WORK/hh.jsonl" "$WORK/messages.jsonl" 2>/dev/null
grep -q '^{"messages": \[{"role": "user", "content": "Hi there"}.*"See you."}\]}$' "$WORK/messages.jsonl" ||
  fail "messages: $(cat "$WORK/messages.jsonl")"
convert prompts "$WORK/hh.jsonl" "$WORK/prompts.jsonl" 2>/dev/null
[ "$(cat "$WORK/prompts.jsonl")" = '{"prompt": [{"role": "user", "content": "Hi there"}]}' ] ||
  fail "prompts: $(cat "$WORK/prompts.jsonl")"

# The records are TRL's conversational formats: loom-prep renders them with a chat template.
"$LOOM_PREP" pairs --template trl --model "$LOOM_SHARED_DIR/data/smollm2-135m-instruct" --max-len 128 \
  --out "$WORK/prep" "$WORK/pairs.jsonl" >/dev/null 2>"$WORK/prep.err" || fail "loom-prep: $(cat "$WORK/prep.err")"

printf '%s\n' "$(head -n 1 "$WORK/hh.jsonl")" '[1, 2]' 'not json' >"$WORK/bad.jsonl"
if convert pairs "$WORK/bad.jsonl" "$WORK/bad-out.jsonl" 2>"$WORK/err"; then fail "a non-object line was accepted"; fi
grep -qx "$WORK/bad.jsonl:2: not a JSON object" "$WORK/err" || fail "error line: $(cat "$WORK/err")"
if [ -e "$WORK/bad-out.jsonl" ] || [ -e "$WORK/bad-out.jsonl.tmp" ]; then fail "output left behind after an error"; fi
echo "ok: hh_to_chat.py"
