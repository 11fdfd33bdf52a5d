#!/usr/bin/env bash
# loom-prep --template trl on small files in each of TRL's dataset formats (language modelling,
# prompt-completion, preference with explicit and implicit prompt, prompt-only; plain and
# conversational), with the Llama-2 tokenizer and the Llama-2-chat template found beside it;
# --loss-on masks in the shards; bad records (missing field, role order, a template that raises
# or reads an undefined name, too long) are one error line naming file:line, nothing left behind,
# or skipped and counted with --on-error skip.
set -euo pipefail
: "${LOOM_PREP:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A tokenizer folder as a model folder holds it: tokenizer.model and tokenizer_config.json.
mkdir "$WORK/tok"
cp "$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model" "$WORK/tok/"
python3 - "$LOOM_SOURCE_DIR/tests/golden/chat/templates/llama-2-chat.jinja" "$WORK/tok/tokenizer_config.json" <<'EOF'
import json, sys
template = open(sys.argv[1], encoding="utf-8").read()
json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "chat_template": template,
           "added_tokens_decoder": {"0": {"content": "<unk>", "special": True}, "1": {"content": "<s>", "special": True},
                                    "2": {"content": "</s>", "special": True}}}, open(sys.argv[2], "w"))
EOF
PREP=("$LOOM_PREP")
COMMON=(--template trl --tokenizer "$WORK/tok/tokenizer.model")
u() { printf '{"role": "user", "content": "%s"}' "$1"; }
a() { printf '{"role": "assistant", "content": "%s"}' "$1"; }
s() { printf '{"role": "system", "content": "%s"}' "$1"; }

D="$WORK/data"
mkdir "$D"
{ echo '{"text": "The cat sat on the mat."}'; echo '{"text": "Dogs bark at night."}'; } >"$D/lm_text.jsonl"
{ echo "{\"messages\": [$(s "Be brief."), $(u "Hi"), $(a "Hello")]}"
  echo "{\"messages\": [$(u "Hi"), $(a "Hello"), $(u "Bye"), $(a "Ciao")]}"; } >"$D/lm_messages.jsonl"
{ echo '{"prompt": "The sky is", "completion": " blue."}'; echo '{"prompt": "Grass is", "completion": " green."}'; } \
  >"$D/pc_plain.jsonl"
echo "{\"prompt\": [$(u "Hi")], \"completion\": [$(a "Hello")]}" >"$D/pc_conv.jsonl"
{ echo '{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}'
  echo '{"chosen": "Grass is green.", "rejected": "Grass is red."}'; } >"$D/pref_plain.jsonl"
{ echo "{\"prompt\": [$(u "Hi")], \"chosen\": [$(a "Hello")], \"rejected\": [$(a "Go away")]}"
  echo "{\"chosen\": [$(u "Hi"), $(a "Hello")], \"rejected\": [$(u "Hi"), $(a "Go away")]}"; } >"$D/pref_conv.jsonl"
{ echo '{"prompt": "Tell me a story"}'; echo "{\"prompt\": [$(s "Be brief."), $(u "Tell me a story")]}"; } \
  >"$D/prompt_only.jsonl"

totals() { tr -d ' \n' <"$1/manifest.json" | grep -o '"totals":{[^}]*}' | head -1; }
expect_documents() {  # OUT N: the train split holds N documents, none dropped
  local t
  t=$(totals "$1")
  grep -q "\"documents\":$2," <<<"$t" || fail "$1: expected $2 documents: $t"
  for counter in dropped_invalid dropped_empty dropped_too_long; do
    grep -q "\"$counter\":0," <<<"$t" || fail "$1: dropped records: $t"
  done
}

# sft: every language-modelling and prompt-completion form in one run, packed and padded.
"${PREP[@]}" sft "${COMMON[@]}" --seq-len 32 --out "$WORK/sft" "$D/lm_text.jsonl" "$D/lm_messages.jsonl" \
  "$D/pc_plain.jsonl" "$D/pc_conv.jsonl" >/dev/null
expect_documents "$WORK/sft" 7
"${PREP[@]}" sft "${COMMON[@]}" --layout padded --seq-len 96 --out "$WORK/sft-padded" "$D/lm_text.jsonl" \
  "$D/lm_messages.jsonl" "$D/pc_plain.jsonl" "$D/pc_conv.jsonl" >/dev/null
expect_documents "$WORK/sft-padded" 7
echo "ok: sft takes text, messages and prompt-completion (plain and conversational)"

# The conversational record's row: the template's tokens, its <s> once, the prompt not a target.
for i in 0 1 2 3 4 5 6; do "$LOOM_PREP" inspect "$WORK/sft-padded/manifest.json" --record $i; done >"$WORK/records.txt"
grep -A3 'pc_conv.jsonl:1' "$WORK/records.txt" >"$WORK/pc.txt" || fail "no pc_conv record: $(cat "$WORK/records.txt")"
grep -q 'tokens (12): 1 518 25580 29962 6324 518 29914 25580 29962 15043 29871 2$' "$WORK/pc.txt" ||
  fail "conversational prompt-completion tokens: $(cat "$WORK/pc.txt")"
grep -q 'prompt: "\[INST\] Hi \[/INST\]"' "$WORK/pc.txt" || fail "prompt-completion loss mask: $(cat "$WORK/pc.txt")"
echo "ok: conversational prompt-completion: template tokens, completion-only loss"

# --loss-on assistant: only the assistant turns (and their </s>) are targets.
"${PREP[@]}" sft "${COMMON[@]}" --layout padded --seq-len 96 --loss-on assistant --out "$WORK/assistant" \
  "$D/lm_messages.jsonl" >/dev/null
expect_documents "$WORK/assistant" 2
masked=$(h5dump -d /loss_mask -y -w 1 "$WORK/assistant/train-00000-of-00001.h5" | grep -c '^ *1,\?$')
# " Hello </s>" = ▁Hello ▁ </s> (the first record); that and " Ciao </s>" = ▁C iao ▁ </s> (the second)
[ "$masked" = 10 ] || fail "--loss-on assistant: $masked target tokens, expected 10"
# Two ranks: the records (and their masks) travel to the rank that writes them; same targets.
mpirun -np 2 --oversubscribe --allow-run-as-root "$LOOM_PREP" sft "${COMMON[@]}" --layout padded --seq-len 96 \
  --loss-on assistant --out "$WORK/assistant-2" "$D/lm_messages.jsonl" >/dev/null
masked2=0
for shard in "$WORK"/assistant-2/train-*.h5; do
  masked2=$((masked2 + $(h5dump -d /loss_mask -y -w 1 "$shard" | grep -c '^ *1,\?$' || true)))
done
[ "$masked2" = 10 ] || fail "--loss-on assistant on 2 ranks: $masked2 target tokens, expected 10"
"${PREP[@]}" sft "${COMMON[@]}" --layout padded --seq-len 96 --loss-on all --out "$WORK/all" "$D/lm_messages.jsonl" >/dev/null
all=$(h5dump -d /loss_mask -y -w 1 "$WORK/all/train-00000-of-00001.h5" | grep -c '^ *1,\?$')
lengths=$(h5dump -d /lengths -y -w 1 "$WORK/all/train-00000-of-00001.h5" | awk '{ sum += $1 } END { print sum }')
[ "$all" = "$lengths" ] || fail "--loss-on all: $all targets of $lengths tokens"
echo "ok: --loss-on assistant marks the 10 assistant tokens; all marks every token"

# pairs: explicit and implicit prompts, plain and conversational.
"${PREP[@]}" pairs "${COMMON[@]}" --max-len 64 --out "$WORK/pairs" "$D/pref_plain.jsonl" "$D/pref_conv.jsonl" >/dev/null
expect_documents "$WORK/pairs" 4
for i in 0 1 2 3; do "$LOOM_PREP" inspect "$WORK/pairs/manifest.json" --record $i; done >"$WORK/pairs.txt"
[ "$(grep -c 'prompt: "\[INST\] Hi \[/INST\]"' "$WORK/pairs.txt")" = 2 ] || fail "conversational pair prompts: $(cat "$WORK/pairs.txt")"
grep -q 'prompt: "Grass is"' "$WORK/pairs.txt" || fail "implicit plain prompt: $(cat "$WORK/pairs.txt")"
echo "ok: pairs from preference records"

# prompts: prompt-only records and the prompts of preference records.
"${PREP[@]}" prompts "${COMMON[@]}" --out "$WORK/prompts" "$D/prompt_only.jsonl" "$D/pref_conv.jsonl" >/dev/null
expect_documents "$WORK/prompts" 4
for i in 0 1 2 3; do "$LOOM_PREP" inspect "$WORK/prompts/manifest.json" --record $i; done >"$WORK/prompts.txt"
grep -q '<<SYS>>' "$WORK/prompts.txt" || fail "conversational prompt not rendered: $(cat "$WORK/prompts.txt")"
echo "ok: prompts"

# Bad records: one error line naming file:line, no output left; or skipped and counted (in packed
# blocks of 4, which the good records fill).
expect_failure() {
  local name=$1 pattern=$2; shift 2
  local out="$WORK/bad-$name" status=0
  "$@" --out "$out" >/dev/null 2>"$WORK/err" || status=$?
  [ "$status" -ne 0 ] || fail "$name: exit status 0"
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "$name: not one line: $(cat "$WORK/err")"
  grep -q -e "$pattern" "$WORK/err" || fail "$name: '$pattern' not in: $(cat "$WORK/err")"
  if [ -d "$out" ]; then [ -z "$(ls -A "$out")" ] || fail "$name: left behind: $(ls -A "$out")"; fi
  echo "ok: $name: $(cat "$WORK/err")"
}
expect_skipped() {  # NAME FIELD: --on-error skip succeeds and counts one record in FIELD
  local name=$1 counter=$2; shift 2
  "$@" --on-error skip --out "$WORK/skip-$name" >/dev/null
  totals "$WORK/skip-$name" | grep -q "\"$counter\":1," || fail "$name: not counted in $counter: $(totals "$WORK/skip-$name")"
  echo "ok: $name skipped and counted in $counter"
}
good="{\"messages\": [$(u "Hi"), $(a "Hello")]}"
{ echo "$good"; echo '{"prompt": "only a prompt"}'; } >"$D/missing.jsonl"
{ echo "$good"; echo "{\"messages\": [$(u "Hi"), $(u "Again")]}"; } >"$D/order.jsonl"
{ echo "$good"; echo "$good"; echo "{\"messages\": [$(u "A"), $(a "B"), $(u "C"), $(a "D")]}"; } >"$D/turns.jsonl"
{ echo "$good"; echo "{\"messages\": [$(u "Tell me a long story about a cat who sat on a mat all day long"), $(a "Once upon a time there was a cat")]}"; } >"$D/long.jsonl"
printf '%s' "{% if messages|length > 2 %}{{ raise_exception('at most one turn') }}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}" >"$WORK/one-turn.jinja"
printf '%s' "{% for m in messages %}{{ m['content'] }}{% endfor %}{% if messages|length > 2 %}{{ nothing.here }}{% endif %}" >"$WORK/undefined.jinja"

expect_failure missing_field "missing.jsonl:2: sft takes" "${PREP[@]}" sft "${COMMON[@]}" "$D/missing.jsonl"
expect_failure role_order "order.jsonl:2: message 2 of the conversation has role 'user' where 'assistant' belongs" \
  "${PREP[@]}" sft "${COMMON[@]}" "$D/order.jsonl"
expect_failure raise_exception "turns.jsonl:3: .*one-turn.jinja: chat template failed: at most one turn" \
  "${PREP[@]}" sft "${COMMON[@]}" --chat-template "$WORK/one-turn.jinja" "$D/turns.jsonl"
expect_failure undefined "turns.jsonl:3: .*undefined.jinja: chat template failed: 'nothing' is not defined" \
  "${PREP[@]}" sft "${COMMON[@]}" --chat-template "$WORK/undefined.jinja" "$D/turns.jsonl"
expect_failure too_long "long.jsonl:2: document of [0-9]* tokens does not fit seq_len 16" \
  "${PREP[@]}" sft "${COMMON[@]}" --layout padded --seq-len 16 "$D/long.jsonl"
expect_failure no_template "pc_conv.jsonl:1: a conversational record needs a chat template" \
  "${PREP[@]}" sft --template trl --tokenizer "$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model" "$D/pc_conv.jsonl"
expect_failure loss_on_packed "--loss-on assistant: needs --layout padded" \
  "${PREP[@]}" sft "${COMMON[@]}" --loss-on assistant "$D/lm_messages.jsonl"
expect_failure bad_template_file "nope.jinja: no such file" \
  "${PREP[@]}" sft "${COMMON[@]}" --chat-template "$WORK/nope.jinja" "$D/lm_messages.jsonl"
expect_skipped missing_field dropped_invalid "${PREP[@]}" sft "${COMMON[@]}" --seq-len 4 "$D/missing.jsonl"
expect_skipped role_order dropped_invalid "${PREP[@]}" sft "${COMMON[@]}" --seq-len 4 "$D/order.jsonl"
expect_skipped raise_exception dropped_invalid "${PREP[@]}" sft "${COMMON[@]}" --seq-len 4 --chat-template "$WORK/one-turn.jinja" "$D/turns.jsonl"
expect_skipped too_long dropped_too_long "${PREP[@]}" sft "${COMMON[@]}" --layout padded --seq-len 16 "$D/long.jsonl"
echo "prep --template trl: all checks passed"
