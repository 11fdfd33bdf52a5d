#!/usr/bin/env bash
# loom-prep on plain text with --text-unit line | paragraph | file (datasets' text loader's
# sample_by): the exact documents of crafted files (CRLF, leading and trailing blank lines,
# whitespace-only lines, no final newline), decoded back with `loom-prep inspect`; a file longer
# than --seq-len packed into blocks (its tokens as `loom tokenize` gives them) or refused in
# padded rows; the same records from 1, 2 and 3 ranks for every unit, plain and gzip, on 60
# generated files whose rank boundaries fall anywhere in a paragraph, checked against a
# reference cut in Python; a run that would write no rows is an error and leaves no manifest;
# --help shows every option's default.
set -euo pipefail
: "${LOOM:?}" "${LOOM_PREP:?}" "${LOOM_SHARED_DIR:?}"
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
MPIRUN=(mpirun --oversubscribe --allow-run-as-root)
PREP=("$LOOM_PREP" sft --tokenizer "$TOKENIZER" --seed 5)
cd "$WORK"  # inputs by relative name: the shards record them so

# Values of a dataset over a split's shards in manifest order, one a line (two may run at once).
dump_split() {  # dir split dataset
  local dir=$1 split=$2 dataset=$3 raw
  raw=$(mktemp -p "$WORK")
  for shard in $(grep -o "\"$split-[0-9]*-of-[0-9]*\.h5\"" "$dir/manifest.json" | tr -d '"'); do
    h5dump -d "$dataset" -y -w 0 -o "$raw" "$dir/$shard" >/dev/null
    { tr -d ' \n' <"$raw"; echo; } | tr ',' '\n' | sed '/^$/d'
  done
  rm -f "$raw"
}

# Every record of a padded run as "FILE:LINE DECODED-JSON", sorted by file and line.
decoded_records() {  # dir
  local dir=$1 count
  count=$("$LOOM_PREP" inspect "$dir/manifest.json" --record 0 | sed -n 's/^record 0 of \([0-9]*\) from .*/\1/p')
  for ((i = 0; i < count; i++)); do
    "$LOOM_PREP" inspect "$dir/manifest.json" --record $i |
      sed -n -e 's/^record [0-9]* of [0-9]* from \(.*\)$/\1/p' -e 's/^  decoded: //p' | paste -d ' ' - -
  done | sort -t: -k1,1 -k2,2n
}

# Crafted files. a.txt: a leading blank line, CRLF and LF, a whitespace-only line between
# paragraphs, an indented line inside one, three blank lines, trailing blank and whitespace lines.
# b.txt: CRLF and no final newline.
printf '\nTitle line\r\n\r\nFirst paragraph, line one.\r\nfirst paragraph, line two.\n\n \t \nSecond paragraph.\n  indented, still the second\n\n\n\nThird paragraph\n\n\n \n' >a.txt
printf 'b one\r\nb two\r\n\r\nb three, no final newline' >b.txt

cat >expected-line.txt <<'EOF'
a.txt:2 "Title line"
a.txt:4 "First paragraph, line one."
a.txt:5 "first paragraph, line two."
a.txt:8 "Second paragraph."
a.txt:9 "  indented, still the second"
a.txt:13 "Third paragraph"
b.txt:1 "b one"
b.txt:2 "b two"
b.txt:4 "b three, no final newline"
EOF
cat >expected-paragraph.txt <<'EOF'
a.txt:2 "Title line"
a.txt:4 "First paragraph, line one.\nfirst paragraph, line two."
a.txt:8 "Second paragraph.\n  indented, still the second"
a.txt:13 "Third paragraph"
b.txt:1 "b one\nb two"
b.txt:4 "b three, no final newline"
EOF
cat >expected-file.txt <<'EOF'
a.txt:2 "Title line\n\nFirst paragraph, line one.\nfirst paragraph, line two.\n\n \t \nSecond paragraph.\n  indented, still the second\n\n\n\nThird paragraph"
b.txt:1 "b one\nb two\n\nb three, no final newline"
EOF

gzip -k a.txt b.txt
for unit in line paragraph file; do
  for np in 1 2 3; do
    "${MPIRUN[@]}" -np $np "${PREP[@]}" --layout padded --seq-len 64 --text-unit $unit --out "crafted-$unit-$np" \
      a.txt b.txt >/dev/null
    "${MPIRUN[@]}" -np $np "${PREP[@]}" --layout padded --seq-len 64 --text-unit $unit --out "crafted-gz-$unit-$np" \
      a.txt.gz b.txt.gz >/dev/null
  done
  decoded_records "crafted-$unit-1" >"got-$unit.txt"
  diff "expected-$unit.txt" "got-$unit.txt" >/dev/null || fail "--text-unit $unit: documents differ: $(diff "expected-$unit.txt" "got-$unit.txt")"
  for dataset in tokens lengths source_file source_line; do
    dump_split "crafted-$unit-1" train $dataset >one.txt
    for out in "crafted-$unit-2" "crafted-$unit-3" "crafted-gz-$unit-1" "crafted-gz-$unit-2" "crafted-gz-$unit-3"; do
      cmp -s one.txt <(dump_split "$out" train $dataset) || fail "--text-unit $unit: $out: $dataset differs from 1 rank's"
    done
  done
  echo "ok: --text-unit $unit: $(wc -l <"expected-$unit.txt") exact documents; 1 == 2 == 3 ranks, plain == gzip"
done
# Without --text-unit a text file is cut by line.
"${PREP[@]}" --layout padded --seq-len 64 --out crafted-default a.txt b.txt >/dev/null
cmp -s <(dump_split crafted-line-1 train tokens) <(dump_split crafted-default train tokens) ||
  fail "the default text unit is not line"
echo "ok: the default text unit is line"

# A file longer than --seq-len: packed, its document (BOS + text + EOS, as `loom tokenize`
# encodes the text) cut into whole blocks; padded, a one-line error naming it.
# long.txt: LF lines with a blank line after every fifth, no blank line first or last, so its one
# document is its text less the final newline.
for i in $(seq 1 30); do
  echo "Line $i of a file longer than one block."
  [ $((i % 5)) != 0 ] || [ "$i" = 30 ] || echo
done >long.txt
"${PREP[@]}" --layout packed --seq-len 16 --text-unit file --out long-packed long.txt >/dev/null
document=$(cat long.txt)
ids=$(printf '%s' "$document" | "$LOOM" tokenize --model "$(dirname "$TOKENIZER")" --special)
read -r -a expected <<<"$ids 2"
blocks=$(( ${#expected[@]} / 16 ))
[ $blocks -ge 10 ] || fail "long.txt makes only $blocks blocks of 16"
dump_split long-packed train tokens >got.txt
printf '%s\n' "${expected[@]:0:$((blocks * 16))}" >want.txt
cmp -s want.txt got.txt || fail "long.txt: the packed blocks are not its document's tokens cut at 16"
grep -q "\"documents\": 1," long-packed/manifest.json || fail "long.txt: not one document"
echo "ok: a file of ${#expected[@]} tokens (with EOS) packed into $blocks blocks of 16"
status=0
"${PREP[@]}" --layout padded --seq-len 16 --text-unit file --out long-padded long.txt >/dev/null 2>err.txt || status=$?
[ $status -ne 0 ] || fail "long.txt in padded rows: exit 0"
[ "$(wc -l <err.txt)" = 1 ] || fail "long.txt in padded rows: not one line: $(cat err.txt)"
grep -q "^loom-prep: error: long.txt:1: document of [0-9]* tokens does not fit seq_len 16 .*--layout packed" err.txt ||
  fail "long.txt in padded rows: $(cat err.txt)"
[ ! -e long-padded/manifest.json ] || fail "long.txt in padded rows: a manifest was written"
echo "ok: $(cat err.txt)"

# 60 generated files: paragraphs of 1 to 4 lines between runs of blank, whitespace-only and CRLF
# lines, some files with leading blank lines or no final newline, of sizes that put the rank
# boundaries (size r / W) anywhere in them. reference.py prints each unit's records as
# "FILE-INDEX LINE" from a cut of its own.
python3 - <<'EOF'
import random
rng = random.Random(7)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
for f in range(60):
    text = "".join(rng.choice(["", "\n", " \n"]) for _ in range(rng.randrange(3)))
    for p in range(rng.randrange(1, 9)):
        if p:
            text += rng.choice(["\n", "\r\n", "\n \t\n", "\r\n\r\n", "\n\n\n"])
        for l in range(rng.randrange(1, 5)):
            text += " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8)))
            text += rng.choice(["\n", "\r\n"]) if l < 3 else ""
        text = text.rstrip("\r\n")
        text += "\n"
    if rng.random() < 0.3:
        text = text.rstrip("\n")
    if rng.random() < 0.3:
        text += "\n\n \n"
    open(f"gen-{f:02d}.txt", "w", newline="").write(text)
EOF
cat >reference.py <<'EOF'
import sys
unit, files = sys.argv[1], sys.argv[2:]
for f, path in enumerate(files):
    lines = open(path, newline="").read().split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    blank = [line.strip(" \t\r") == "" for line in lines]
    starts = [i for i in range(len(lines)) if not blank[i]]
    if unit == "paragraph":
        starts = [i for i in starts if i == 0 or blank[i - 1]]
    elif unit == "file":
        starts = starts[:1]
    for i in starts:
        print(f, i + 1)
EOF
for unit in line paragraph file; do
  for kind in txt txt.gz; do
    [ $kind = txt ] || gzip -kf gen-*.txt
    for np in 1 2 3; do
      "${MPIRUN[@]}" -np $np "${PREP[@]}" --layout padded --seq-len 1024 --text-unit $unit --eval-fraction 0.1 \
        --out "gen-$unit-$kind-$np" gen-*.$kind >/dev/null
    done
  done
  python3 reference.py $unit gen-*.txt >want.txt
  paste -d ' ' <(dump_split "gen-$unit-txt-1" train source_file; dump_split "gen-$unit-txt-1" eval source_file) \
    <(dump_split "gen-$unit-txt-1" train source_line; dump_split "gen-$unit-txt-1" eval source_line) | sort -n -k1,1 -k2,2 >got.txt
  cmp -s want.txt got.txt || fail "--text-unit $unit: generated files: records differ from the reference: $(diff want.txt got.txt | head -5)"
  for split in train eval; do
    for dataset in tokens lengths source_file source_line; do
      dump_split "gen-$unit-txt-1" $split $dataset >one.txt
      for out in "gen-$unit-txt-2" "gen-$unit-txt-3" "gen-$unit-txt.gz-1" "gen-$unit-txt.gz-2" "gen-$unit-txt.gz-3"; do
        cmp -s one.txt <(dump_split "$out" $split $dataset) || fail "--text-unit $unit: $out: $split/$dataset differs from 1 rank's"
      done
    done
  done
  echo "ok: --text-unit $unit: $(wc -l <want.txt) records of 60 generated files as the reference cuts them; 1 == 2 == 3 ranks, plain == gzip"
done

# expect_no_rows NAME PATTERN loom-prep-arguments...: exit 1, one error line naming the input
# and matching PATTERN, and no manifest (the one of an earlier good run in the folder removed).
expect_no_rows() {
  local name=$1 pattern=$2; shift 2
  rm -rf "no-rows-$name"
  "${PREP[@]}" --layout padded --seq-len 64 --out "no-rows-$name" a.txt >/dev/null
  [ -f "no-rows-$name/manifest.json" ] || fail "$name: the earlier good run wrote no manifest"
  local status=0
  "$@" --out "no-rows-$name" >/dev/null 2>err.txt || status=$?
  [ $status -ne 0 ] || fail "$name: exit 0"
  [ "$(grep -c '^loom-prep' err.txt)" = 1 ] || fail "$name: not one line: $(cat err.txt)"  # mpirun adds its own
  grep -q "^loom-prep: error: $pattern" err.txt || fail "$name: $(cat err.txt)"
  [ ! -e "no-rows-$name/manifest.json" ] || fail "$name: a manifest was left"
  [ -z "$(find "no-rows-$name" -name '*tmp*')" ] || fail "$name: temporary files left"
  echo "ok: $name: $(cat err.txt)"
}
: >empty.txt
: >empty.jsonl
printf '\n \r\n\t\n' >blank.txt
printf 'a\nb\nc\nd\ne\n' >short-lines.txt
expect_no_rows empty-file "empty.txt: nothing to write to the train split: no records" "${PREP[@]}" empty.txt
expect_no_rows blank-lines "blank.txt: nothing to write to the train split: no records" \
  "${PREP[@]}" --text-unit paragraph blank.txt
expect_no_rows blank-lines-2-ranks "blank.txt: nothing to write to the train split: no records" \
  "${MPIRUN[@]}" -np 2 "${PREP[@]}" blank.txt
expect_no_rows all-dropped "a.txt, b.txt: nothing to write to the train split: all 2 records were dropped" \
  "${PREP[@]}" --layout padded --seq-len 8 --text-unit file --on-error skip a.txt b.txt
expect_no_rows short-packed \
  "b.txt: nothing to write to the train split: its 1 documents make 15 tokens, fewer than one block of --seq-len 1024" \
  "${PREP[@]}" --text-unit file b.txt
# Five one-letter lines (BOS, letter, EOS: 3 tokens each), one of them in the eval split.
expect_no_rows eval-empty \
  "short-lines.txt: nothing to write to the eval split: its 1 documents make 3 tokens, fewer than one block of --seq-len 8" \
  "${PREP[@]}" --seq-len 8 --eval-fraction 0.2 short-lines.txt
expect_no_rows empty-jsonl "empty.jsonl: nothing to write to the train split: no records" "${PREP[@]}" empty.jsonl

# --text-unit is for text inputs.
printf '{"text": "a record"}\n' >one.jsonl
status=0
"${PREP[@]}" --text-unit paragraph --out jsonl-unit one.jsonl >/dev/null 2>err.txt || status=$?
if [ "$status" -eq 0 ] || ! grep -q "^loom-prep: error: --text-unit: applies to text inputs" err.txt; then
  fail "--text-unit with JSON Lines: $(cat err.txt)"
fi
"${PREP[@]}" --text-unit nonsense --out bad-unit a.txt >/dev/null 2>err.txt && fail "--text-unit nonsense: exit 0"
grep -q "^loom-prep: error: --text-unit: expected line, paragraph or file, not 'nonsense'" err.txt ||
  fail "--text-unit nonsense: $(cat err.txt)"
echo "ok: --text-unit refused for JSON Lines and for an unknown unit"

# --help: every option that takes a value shows its default "(=...)" or says "(required".
# An option's entry is its first line and the deeper-indented lines under it.
check_help() {  # name loom-prep-arguments...
  local name=$1; shift
  "$LOOM_PREP" "$@" --help >help.txt || fail "$name --help: exit status"
  awk '/^  -/ { if (entry != "") print entry; entry = $0; next } /^   / { entry = entry " " $0 } END { print entry }' \
    help.txt >entries.txt
  [ "$(grep -c . entries.txt)" -ge 4 ] || fail "$name --help: too few options: $(cat help.txt)"
  local missing
  missing=$(grep -e ' arg ' -e ' arg$' entries.txt | grep -v -e '(=' -e '(required' || true)
  [ -z "$missing" ] || fail "$name --help: no default shown for: $missing"
  echo "ok: $name --help shows every default ($(grep -c ' arg' entries.txt) options)"
}
for command in sft pairs prompts inspect bench; do check_help $command $command; done
"${PREP[@]}" --help | grep -q -e '--text-unit arg (=line)' || fail "sft --help: no --text-unit (=line)"
"$LOOM_PREP" --help | grep -q "COMMAND --help" || fail "loom-prep --help names no command help"
