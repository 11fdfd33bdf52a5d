#!/usr/bin/env bash
# Shard checksums: loom-prep records each shard's MD5 in manifest.json, and every reader checks
# it before libhdf5 parses the file, so a corrupted shard is one error line naming the file.
# The corrupted shard is the committed reproducer that makes libhdf5 1.10.8 segfault
# (tests/fuzz/crashes/shard/, docs/reliability.md finding 3). A manifest without MD5s (an older
# loom-prep's) is read with a warning.
set -euo pipefail
: "${LOOM_PREP:?}" "${LOOM_TINY_RUN:?}" "${LOOM_SOURCE_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$LOOM_TINY_RUN/pairs" "$WORK/pairs"
manifest=$WORK/pairs/manifest.json
shard=$WORK/pairs/train-00000-of-00001.h5

# The manifest holds each shard's MD5, as md5sum computes it.
for f in "$WORK"/pairs/*.h5; do
  sum=$(md5sum "$f" | cut -d' ' -f1)
  grep -q "\"md5\": \"$sum\"" "$manifest" || fail "$manifest: no md5 $sum for $(basename "$f")"
done
echo "ok: the manifest records each shard's MD5"

expect_error() {  # PATTERN -- loom-prep ARGS
  local pattern=$1 rc=0
  shift 2
  "$LOOM_PREP" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "loom-prep $*: exit $rc, not 1: $(cat "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" || fail "loom-prep $*: stderr lacks '$pattern': $(cat "$WORK/err")"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "loom-prep $*: expected one line: $(cat "$WORK/err")"
}

cp "$shard" "$WORK/good.h5"
cp "$LOOM_SOURCE_DIR/tests/fuzz/crashes/shard/libhdf5-H5HG_read-segv.h5" "$shard"
expect_error "$shard: MD5 [0-9a-f]* is not the [0-9a-f]* recorded in $manifest" -- inspect "$shard"
expect_error "$shard: MD5 .* the file is corrupted" -- inspect "$manifest" --record 0
echo "ok: a corrupted shard is one error line naming it, alone and through its manifest"

# An older manifest, without MD5s: read, with one warning.
cp "$WORK/good.h5" "$shard"
sed -i '/"md5": /d' "$manifest"
"$LOOM_PREP" inspect "$manifest" --record 0 >"$WORK/out" 2>"$WORK/err" || fail "a manifest without MD5s: $(cat "$WORK/err")"
grep -q "warning: $manifest: shards without an MD5" "$WORK/err" || fail "no warning: $(cat "$WORK/err")"
[ "$(grep -c warning "$WORK/err")" -eq 1 ] || fail "expected one warning: $(cat "$WORK/err")"
echo "ok: a manifest without MD5s is read with a warning"
