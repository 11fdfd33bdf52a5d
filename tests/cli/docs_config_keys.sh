#!/usr/bin/env bash
# docs/configs.md against the programs' option tables: every key in its key tables is an
# option of `loom sft`, `loom reward` or `loom dpo` and every `loom sft` option is documented;
# in the TrainingArguments / SFTConfig table, every loom key is an option, every TRL name is
# accepted in [train] (as the key itself or as an alias of it), and the "also accepted" column
# is exactly the alias list the commands' --help prints (train/option_names.h).
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
doc="$LOOM_SOURCE_DIR/docs/configs.md"

for command in sft reward dpo; do "$LOOM" "$command" --help; done >"$WORK/help"
# Options: "  --section.key arg ..."; aliases: "  --alias = --key ...".
sed -n 's/^  --\([a-z_0-9]*\.[a-z_0-9]*\) arg.*/\1/p' "$WORK/help" | sort -u >"$WORK/options"
sed -n 's/^  --\([a-z_0-9.]*\) = --\([a-z_0-9.]*\).*/\1 \2/p' "$WORK/help" | sort -u >"$WORK/aliases"
"$LOOM" sft --help | sed -n 's/^  --\([a-z_0-9]*\.[a-z_0-9]*\) arg.*/\1/p' | sort -u >"$WORK/sft_options"
[ "$(wc -l <"$WORK/options")" -gt 30 ] || fail "too few options read from --help"
[ -s "$WORK/aliases" ] || fail "no aliases read from --help"

# The key tables: the first cell of each row under "### [section]", as section.key.
awk '/^#/ { section = ""; if (match($0, /^### \[[a-z]+\]/)) section = substr($0, 6, RLENGTH - 6) }
     section != "" && /^\| `/ { split($0, cell, "`"); print section "." cell[2] }' "$doc" | sort -u >"$WORK/documented"
[ "$(wc -l <"$WORK/documented")" -gt 30 ] || fail "too few keys read from $doc"
missing=$(comm -23 "$WORK/documented" "$WORK/options")
[ -z "$missing" ] || fail "documented in configs.md but no option of loom sft/reward/dpo: $missing"
undocumented=$(comm -13 "$WORK/documented" <(grep -E '^(model|lora|train|run|data)\.' "$WORK/sft_options"))
[ -z "$undocumented" ] || fail "options of loom sft missing from configs.md's key tables: $undocumented"
echo "ok: $(wc -l <"$WORK/documented") documented keys are options, every loom sft option is documented"

# The mapping table: | `trl name`[, `...`] | `loom key`[, `...`] | `alias` or empty | ... |
awk '/^### TrainingArguments \/ SFTConfig names/ { on = 1; next } /^#/ { on = 0 }
     on && /^\| `/ { split($0, cell, "|"); print cell[2] "|" cell[3] "|" cell[4] }' "$doc" >"$WORK/mapping"
[ "$(wc -l <"$WORK/mapping")" -ge 17 ] || fail "too few rows in configs.md's TrainingArguments table"
: >"$WORK/doc_aliases"
while IFS='|' read -r names keys aliases; do
  read -ra name_list <<<"$(tr -d '`,' <<<"$names")"
  read -ra key_list <<<"$(tr -d '`,' <<<"$keys")"
  [ "${#name_list[@]}" -eq "${#key_list[@]}" ] || fail "row '$names' names ${#name_list[@]} TRL names for ${#key_list[@]} keys"
  for i in "${!name_list[@]}"; do
    name=train.${name_list[$i]} key=${key_list[$i]}
    grep -qx "$key" "$WORK/options" || fail "configs.md maps $name to $key, which is no option"
    [ "$name" = "$key" ] || grep -qx "$name $key" "$WORK/aliases" ||
      fail "configs.md maps $name to $key, but loom does not accept $name for it"
  done
  for alias in $(tr -d '`,' <<<"$aliases"); do
    grep -qx "$alias ${key_list[0]}" "$WORK/aliases" || fail "configs.md lists $alias for ${key_list[0]}; --help does not"
    echo "$alias ${key_list[0]}" >>"$WORK/doc_aliases"
  done
done <"$WORK/mapping"
unlisted=$(comm -23 "$WORK/aliases" <(sort -u "$WORK/doc_aliases"))
[ -z "$unlisted" ] || fail "aliases missing from configs.md's TrainingArguments table: $unlisted"
echo "ok: $(wc -l <"$WORK/mapping") rows of the TrainingArguments table match the option and alias tables"
