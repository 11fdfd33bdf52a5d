#!/usr/bin/env bash
# Bad input to loom-prep: each case is one error line naming the file and line, a non-zero exit
# and no shard or manifest left behind; --on-error skip drops the record and counts it.
# A full disk is simulated two ways: a file-size limit (ulimit -f; loom-prep ignores SIGXFSZ, so
# the write fails with EFBIG like a full disk) always, and a tiny tmpfs when mounting is allowed.
set -euo pipefail
: "${LOOM_PREP:?}" "${LOOM_SHARED_DIR:?}"
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
HH="$LOOM_SHARED_DIR/data/hh-rlhf/harmless-base-test.jsonl.gz"
WORK=$(mktemp -d)
MOUNTED=""
cleanup() { [ -z "$MOUNTED" ] || umount "$MOUNTED"; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_failure NAME PATTERN loom-prep-arguments...: exit 1, one stderr line matching PATTERN,
# and an output folder with no shard, temporary file or manifest.
expect_failure() {
  local name=$1 pattern=$2; shift 2
  local out="${OUT:-$WORK/out-$name}"
  local status=0
  "$@" --out "$out" >/dev/null 2>"$WORK/err" || status=$?
  [ "$status" -ne 0 ] || fail "$name: exit status 0"
  grep -v '^loom-prep: error: ' "$WORK/err" | grep -v -e '^--' -e '^$' -e 'mpirun' -e 'Primary job' -e 'Process name' \
    -e 'Exit code' -e 'non-zero' -e 'aborted' -e 'job to be terminated' -e 'process to do so' -e 'user-direction' \
    | grep -q . && fail "$name: unexpected stderr: $(cat "$WORK/err")"
  [ "$(grep -c '^loom-prep: error: ' "$WORK/err")" = 1 ] || fail "$name: not one error line: $(cat "$WORK/err")"
  grep -q -e "$pattern" "$WORK/err" || fail "$name: error does not match '$pattern': $(cat "$WORK/err")"
  if [ -d "$out" ]; then
    [ -z "$(ls -A "$out")" ] || fail "$name: left behind: $(ls -A "$out")"
  fi
  echo "ok: $name: $(grep '^loom-prep: error: ' "$WORK/err")"
}

# expect_skip NAME ATTRIBUTE loom-prep-arguments...: success, and ATTRIBUTE = 1 in the shard.
expect_skip() {
  local name=$1 attribute=$2; shift 2
  local out="$WORK/skip-$name"
  "$@" --on-error skip --out "$out" >/dev/null
  [ -f "$out/manifest.json" ] || fail "$name: no manifest with --on-error skip"
  h5dump -a "/$attribute" "$out/train-00000-of-00001.h5" | grep -q '(0): 1$' ||
    fail "$name: $attribute is not 1: $(h5dump -a "/$attribute" "$out/train-00000-of-00001.h5")"
  echo "ok: $name skipped and counted in $attribute"
}

# expect_skip_once NAME loom-prep-arguments...: success, and the manifest's totals count one
# invalid record (whichever rank read it).
expect_skip_once() {
  local name=$1; shift
  local out="$WORK/skip-$name"
  "$@" --on-error skip --out "$out" >/dev/null
  tr -d ' \n' <"$out/manifest.json" | grep -q '"totals":{[^}]*"dropped_invalid":1,' ||
    fail "$name: the manifest's totals do not count one invalid record: $(cat "$out/manifest.json")"
  echo "ok: $name skipped and counted once"
}

good='{"text": "A good line of text."}'
printf '%s\n{"text": "no closing brace"\n%s\n' "$good" "$good" >"$WORK/malformed.jsonl"
printf '%s\n{"body": "wrong field"}\n%s\n' "$good" "$good" >"$WORK/missing.jsonl"
printf '%s\n{"text": "bad \xff byte"}\n%s\n' "$good" "$good" >"$WORK/nonutf8.jsonl"
printf '%s\n{"text": ""}\n%s\n' "$good" "$good" >"$WORK/empty.jsonl"
printf '%s\n{"text": "%s"}\n%s\n' "$good" "$(printf 'word %.0s' $(seq 1 50))" "$good" >"$WORK/long.jsonl"
# A bad line in the second half of a plain file's bytes: with 2 ranks, rank 1 reads it.
{ for _ in $(seq 1 30); do echo "$good"; done; echo '{"text": "late"'; echo "$good"; } >"$WORK/late.jsonl"
# A gzip file's lines are dealt out by index: with 2 or 3 ranks, rank 1 reads line 2.
gzip -c "$WORK/malformed.jsonl" >"$WORK/malformed.jsonl.gz"
# A gzip file cut short: its last line would arrive half, so the stream itself is the error.
for i in $(seq 1 400); do echo "{\"text\": \"line $i of $((i * 7919 % 1000))\"}"; done | gzip -c | head -c 1000 \
  >"$WORK/cut.jsonl.gz"

SFT=("$LOOM_PREP" sft --tokenizer "$TOKENIZER" --seq-len 16)
PADDED=("$LOOM_PREP" sft --tokenizer "$TOKENIZER" --layout padded --seq-len 32)
MPIRUN=(mpirun -np 2 --oversubscribe --allow-run-as-root)
MPIRUN3=(mpirun -np 3 --oversubscribe --allow-run-as-root)

expect_failure malformed "malformed.jsonl:2: malformed JSON" "${SFT[@]}" "$WORK/malformed.jsonl"
expect_failure malformed-2-ranks "malformed.jsonl:2: malformed JSON" "${MPIRUN[@]}" "${SFT[@]}" "$WORK/malformed.jsonl"
expect_failure missing "missing.jsonl:2: missing field 'text'" "${SFT[@]}" "$WORK/missing.jsonl"
expect_failure nonutf8 "nonutf8.jsonl:2: invalid UTF-8 byte at column 15" "${SFT[@]}" "$WORK/nonutf8.jsonl"
expect_failure empty "empty.jsonl:2: empty document" "${SFT[@]}" "$WORK/empty.jsonl"
expect_failure too-long "long.jsonl:2: document of [0-9]* tokens does not fit seq_len 32" "${PADDED[@]}" "$WORK/long.jsonl"
expect_failure too-long-2-ranks "long.jsonl:2: document of" "${MPIRUN[@]}" "${PADDED[@]}" "$WORK/long.jsonl"

expect_failure late-2-ranks "late.jsonl:31: malformed JSON" "${MPIRUN[@]}" "${SFT[@]}" "$WORK/late.jsonl"
expect_failure gzip-2-ranks "malformed.jsonl.gz:2: malformed JSON" "${MPIRUN[@]}" "${SFT[@]}" "$WORK/malformed.jsonl.gz"
expect_failure gzip-3-ranks "malformed.jsonl.gz:2: malformed JSON" "${MPIRUN3[@]}" "${SFT[@]}" "$WORK/malformed.jsonl.gz"

expect_skip malformed dropped_invalid "${SFT[@]}" "$WORK/malformed.jsonl"
expect_skip missing dropped_invalid "${SFT[@]}" "$WORK/missing.jsonl"
expect_skip nonutf8 dropped_invalid "${SFT[@]}" "$WORK/nonutf8.jsonl"
expect_skip empty dropped_empty "${SFT[@]}" "$WORK/empty.jsonl"
expect_skip too-long dropped_too_long "${PADDED[@]}" "$WORK/long.jsonl"
expect_skip_once late-2-ranks "${MPIRUN[@]}" "${SFT[@]}" "$WORK/late.jsonl"
expect_skip_once gzip-3-ranks "${MPIRUN3[@]}" "${SFT[@]}" "$WORK/malformed.jsonl.gz"

expect_failure cut-gzip "cut.jsonl.gz: the gzip stream is truncated or corrupt" "${SFT[@]}" "$WORK/cut.jsonl.gz"
expect_failure no-input "nothing.jsonl: cannot open input" "${SFT[@]}" "$WORK/nothing.jsonl"
expect_failure bad-tokenizer "malformed.jsonl: cannot load tokenizer" \
  "$LOOM_PREP" sft --tokenizer "$WORK/malformed.jsonl" "$WORK/empty.jsonl"
expect_failure missing-tokenizer "absent.model: cannot load tokenizer" \
  "$LOOM_PREP" sft --tokenizer "$WORK/absent.model" "$WORK/empty.jsonl"
# An output folder that cannot be made (its parent is a file), and, when not root, a read-only one.
OUT="$WORK/malformed.jsonl/shards" expect_failure out-under-file "malformed.jsonl/shards: cannot create output directory" \
  "${SFT[@]}" "$WORK/malformed.jsonl" --on-error skip
if [ "$(id -u)" != 0 ]; then
  mkdir "$WORK/readonly" && chmod 555 "$WORK/readonly"
  OUT="$WORK/readonly" expect_failure out-readonly "readonly: output directory is not writable" \
    "${SFT[@]}" "$WORK/malformed.jsonl" --on-error skip
fi

# A full disk while writing shards: a 64 KiB file-size limit, then a 64 KiB tmpfs.
PROMPTS=("$LOOM_PREP" prompts --template hh --tokenizer "$TOKENIZER" --on-error skip "$HH")
expect_failure file-size-limit "cannot write shard\|cannot finish writing" bash -c 'ulimit -f 64; exec "$@"' _ "${PROMPTS[@]}"
mkdir "$WORK/tiny"
if mount -t tmpfs -o size=64k tmpfs "$WORK/tiny" 2>/dev/null; then
  MOUNTED="$WORK/tiny"
  OUT="$WORK/tiny/out" expect_failure disk-full "cannot write shard\|cannot finish writing" "${PROMPTS[@]}"
else
  echo "note: tmpfs cannot be mounted here; the disk-full case ran with the file-size limit only"
fi
