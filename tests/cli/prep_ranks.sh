#!/usr/bin/env bash
# loom-prep on the real HH file: every output kind with 1, 2 and 3 ranks holds the same records
# in the same manifest order (ranks keep every W-th line of a gzip file), and so does plain
# (uncompressed) input, which ranks read by byte range, and HH cut into several files, plain or
# gzip; h5dump -A shows the attributes; inspect decodes records back to the original text.
set -euo pipefail
: "${LOOM_PREP:?}" "${LOOM_SHARED_DIR:?}"
TOKENIZER="$LOOM_SHARED_DIR/data/llama2-tokenizer/tokenizer.model"
HH="$LOOM_SHARED_DIR/data/hh-rlhf/harmless-base-test.jsonl.gz"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Values of a dataset over a split's shards in manifest order, one a line.
dump_split() {  # dir split dataset
  local dir=$1 split=$2 dataset=$3
  for shard in $(grep -o "\"$split-[0-9]*-of-[0-9]*\.h5\"" "$dir/manifest.json" | tr -d '"'); do
    h5dump -d "$dataset" -y -w 0 -o "$WORK/raw.txt" "$dir/$shard" >/dev/null
    { tr -d ' \n' <"$WORK/raw.txt"; echo; } | tr ',' '\n' | sed '/^$/d'
  done
}

check_kind() {  # name datasets... -- loom-prep arguments
  local name=$1; shift
  local datasets=()
  while [ "$1" != "--" ]; do datasets+=("$1"); shift; done
  shift
  local args=("$@" --tokenizer "$TOKENIZER" --template hh --seed 11 --eval-fraction 0.05 --on-error skip "$HH")
  "$LOOM_PREP" "${args[@]}" --out "$WORK/$name-1" >/dev/null
  for np in 2 3; do
    mpirun -np $np --oversubscribe --allow-run-as-root "$LOOM_PREP" "${args[@]}" --out "$WORK/$name-$np" >/dev/null
    shards=("$WORK/$name-$np"/train-*.h5)
    [ "${#shards[@]}" = $np ] || fail "$name: expected $np train shards from $np ranks"
    [ -z "$(find "$WORK/$name-$np" -name '*tmp*')" ] || fail "$name: temporary files left"
  done
  for split in train eval; do
    for dataset in "${datasets[@]}"; do
      dump_split "$WORK/$name-1" $split "$dataset" >"$WORK/one.txt"
      [ -s "$WORK/one.txt" ] || fail "$name: $split/$dataset is empty"
      for np in 2 3; do
        dump_split "$WORK/$name-$np" $split "$dataset" >"$WORK/two.txt"
        cmp -s "$WORK/one.txt" "$WORK/two.txt" || fail "$name: $split/$dataset differs between 1 and $np ranks"
      done
    done
  done
  local attributes
  attributes=$(h5dump -A "$WORK/$name-2/train-00001-of-00002.h5")
  for attribute in format_version kind tokenizer_md5 vocab_size bos_id eos_id pad_id source_files template \
                   records documents tokens dropped_invalid dropped_empty dropped_too_long dropped_identical; do
    grep -q "ATTRIBUTE \"$attribute\"" <<<"$attributes" || fail "$name: h5dump -A lacks $attribute"
  done
  grep -q eeec4125e9c7560836b4873b6f8e3025 <<<"$attributes" || fail "$name: tokenizer md5 not in the attributes"
  echo "ok: $name, 1 rank == 2 ranks == 3 ranks"
}

check_kind sft_packed tokens -- sft --layout packed --seq-len 256
check_kind sft_packed_docs tokens doc_index -- sft --layout packed_docs --seq-len 256
check_kind sft_padded tokens loss_mask lengths source_line -- sft --layout padded --seq-len 1024
check_kind pairs chosen rejected chosen_lengths rejected_lengths prompt_lengths source_line -- pairs --max-len 512
check_kind prompts tokens lengths source_line -- prompts --max-prompt-len 256

# HH cut into two files (the first with CRLF line ends, the second without a final newline), plain
# or gzip: ranks read the lines that start in their share of a plain file's bytes and every W-th
# line of a gzip file. With 1, 2 and 3 ranks both give the pairs of the whole gzip file, from the
# same files and lines.
zcat "$HH" >"$WORK/hh.jsonl"
head -n 1000 "$WORK/hh.jsonl" | sed 's/$/\r/' >"$WORK/cut-a.jsonl"
tail -n +1001 "$WORK/hh.jsonl" | head -c -1 >"$WORK/cut-b.jsonl"
gzip -c "$WORK/cut-a.jsonl" >"$WORK/cut-a.jsonl.gz"
gzip -c "$WORK/cut-b.jsonl" >"$WORK/cut-b.jsonl.gz"
for input in jsonl jsonl.gz; do
  for np in 1 2 3; do
    mpirun -np $np --oversubscribe --allow-run-as-root "$LOOM_PREP" pairs --max-len 512 --tokenizer "$TOKENIZER" \
      --template hh --seed 11 --eval-fraction 0.05 --on-error skip "$WORK/cut-a.$input" "$WORK/cut-b.$input" \
      --out "$WORK/cut-$input-$np" >/dev/null
  done
done
for split in train eval; do
  for dataset in chosen rejected chosen_lengths rejected_lengths prompt_lengths source_file source_line; do
    reference="$WORK/pairs-1"  # the whole file, whose source files and lines differ from the cut files'
    [[ $dataset != source_* ]] || reference="$WORK/cut-jsonl-1"
    dump_split "$reference" $split $dataset >"$WORK/one.txt"
    for out in "$WORK"/cut-jsonl-[123] "$WORK"/cut-jsonl.gz-[123]; do
      dump_split "$out" $split $dataset >"$WORK/two.txt"
      cmp -s "$WORK/one.txt" "$WORK/two.txt" || fail "$out: $split/$dataset differs from $reference"
    done
  done
done
echo "ok: HH cut into plain or gzip files, 1 rank == 2 ranks == 3 ranks == the whole file"

# The packed layouts hold the same token blocks; packed_docs adds the document index.
cmp -s <(dump_split "$WORK/sft_packed-1" train tokens) <(dump_split "$WORK/sft_packed_docs-1" train tokens) ||
  fail "packed and packed_docs blocks differ"
h5dump -A "$WORK/sft_packed-1/train-00000-of-00001.h5" | grep -q 'ATTRIBUTE "seq_len"' || fail "no seq_len attribute"

# inspect decodes a record to the original text: the padded sft record is the chosen dialogue
# of its source line (JSON-escaped the same way), and a prompt decodes to its stored text.
out=$("$LOOM_PREP" inspect "$WORK/sft_padded-2/manifest.json" --record 5)
line=$(sed -n 's/^record 5 of [0-9]* from .*:\([0-9]*\)$/\1/p' <<<"$out")
[ -n "$line" ] || fail "inspect printed no source line: $out"
decoded=$(sed -n 's/^  decoded: //p' <<<"$out")
zcat "$HH" | sed -n "${line}p" | grep -qF "\"chosen\": $decoded" || fail "sft record 5 does not decode to line $line's chosen text"
for record in 0 17 100; do
  out=$("$LOOM_PREP" inspect "$WORK/prompts-2/manifest.json" --record $record)
  text=$(sed -n 's/^  text: //p' <<<"$out")
  decoded=$(sed -n 's/^  decoded: //p' <<<"$out")
  if [ -z "$text" ] || [ "$text" != "$decoded" ]; then fail "prompt $record: decoded $decoded, text $text"; fi
done
out=$("$LOOM_PREP" inspect "$WORK/pairs-1/train-00000-of-00001.h5" --record 3)
grep -q 'kind = "pairs"' <<<"$out" || fail "inspect of a shard shows no kind: $out"
grep -q '^  rejected: ' <<<"$out" || fail "inspect of a pair shows no rejected answer"
echo "ok: inspect decodes records"
