#!/usr/bin/env bash
# loom tokenize against the ids data/README.md gives for the real SmolLM2 and Llama-2 tokenizers: text to
# ids (--text, stdin, --special), ids back to text (--ids, stdin), SmolLM2's chat prompt ids decoded and
# encoded again, and one-line errors.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SHARED_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
SMOL="$LOOM_SHARED_DIR/data/smollm2-135m-instruct"
LLAMA="$LOOM_SHARED_DIR/data/llama2-tokenizer"
expect() {  # expected -- loom arguments
  local expected=$1; shift; shift
  local got
  got=$("$LOOM" "$@") || fail "loom $* failed"
  [ "$got" = "$expected" ] || fail "loom $*: expected '$expected', got '$got'"
  echo "ok: loom $* -> $got"
}
expect "19556 905 17" -- tokenize --model "$SMOL" --text "Hello world!"
expect "19556 905 17" -- tokenize --model "$SMOL" --text "Hello world!" --special  # SmolLM2 adds no BOS
expect "15043 3186 29991" -- tokenize --model "$LLAMA" --text "Hello world!"
expect "1 15043 3186 29991" -- tokenize --model "$LLAMA" --text "Hello world!" --special
got=$(printf 'Hello world!' | "$LOOM" tokenize --model "$SMOL")
[ "$got" = "19556 905 17" ] || fail "stdin: got '$got'"
expect "Hello world!" -- tokenize --model "$SMOL" --decode --ids 19556,905,17
got=$(echo "1 15043 3186 29991" | "$LOOM" tokenize --model "$LLAMA" --decode)
[ "$got" = "Hello world!" ] || fail "decode stdin: got '$got'"

# The chat prompt of data/README.md: decoded with its special tokens, then encoded back to the same ids.
chat="1 9690 198 2683 359 253 5356 5646 11173 3365 3511 308 34519 28 7018 411 407 19712 8182 2 198 1 4093 198 1780 314 260 3575 282 4649 47 2 198 1 520 9531 198"
"$LOOM" tokenize --model "$SMOL" --decode --special --ids "$chat" >"$WORK/chat.txt"
head -c 13 "$WORK/chat.txt" | grep -q '^<|im_start|>s' || fail "chat decode: $(cat "$WORK/chat.txt")"
truncate -s -1 "$WORK/chat.txt"  # the newline tokenize prints after the text
got=$("$LOOM" tokenize --model "$SMOL" <"$WORK/chat.txt")
[ "$got" = "$chat" ] || fail "chat prompt re-encoded: $got"
echo "ok: chat prompt decoded and encoded back"
expect "Hello world!" -- tokenize --model "$SMOL" --decode --ids "1 19556 905 17 2"  # special tokens dropped

expect_error() {  # pattern -- loom arguments
  local pattern=$1; shift; shift
  local rc=0
  "$LOOM" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  [ "$rc" -ne 0 ] || fail "expected a failure: loom $*"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "expected one line on stderr from loom $*, got: $(cat "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  echo "ok: $pattern"
}
expect_error "no tokenizer.json or tokenizer.model" -- tokenize --model "$WORK" --text x
expect_error "'x' is not a token id" -- tokenize --model "$SMOL" --decode --ids 1,x
expect_error "outside the vocabulary" -- tokenize --model "$SMOL" --decode --ids 49152
mkdir "$WORK/bad"
sed 's/"type":"ByteLevel","add_prefix_space"/"type":"Whitespace","add_prefix_space"/' \
  "$LOOM_SOURCE_DIR/tests/golden/data/tokenizers/gpt2-regex/tokenizer.json" >"$WORK/bad/tokenizer.json"
cp "$LOOM_SOURCE_DIR/tests/golden/data/tokenizers/gpt2-regex/tokenizer_config.json" "$WORK/bad/"
expect_error "bad/tokenizer.json: pre_tokenizer: unsupported pre_tokenizer type 'Whitespace'" -- \
  tokenize --model "$WORK/bad" --text x
