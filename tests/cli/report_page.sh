#!/usr/bin/env bash
# loom report RUN_DIR: one self-contained HTML page with an SVG plot per numeric key, a
# first/last summary, the effective config; bad input is one line naming file:line.
# With chromium installed the page is also rendered headless (LOOM_REPORT_SCREENSHOT=FILE
# keeps the PNG). chromium is not in scripts/install-deps.sh: about 300 MB installed and a
# minute of apt-get for one rendering check.
set -euo pipefail
: "${LOOM:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
RUN="$WORK/run"
mkdir -p "$RUN"

cat >"$RUN/metrics.jsonl" <<'JSONL'
{"run":"ppo","model":"tiny","lr":0.0002}
{"step":1,"loss":3.5,"learning_rate":0.0001,"grad_norm":2.25,"env/reward_mean":-0.5,"objective/kl":0.0,"stage":"ppo"}
{"step":2,"loss":2.75,"learning_rate":0.0002,"grad_norm":1.5,"env/reward_mean":0.25,"objective/kl":0.03125,"eval_loss":3.0}

{"step":3,"loss":2.0,"learning_rate":0.0002,"grad_norm":1.0,"env/reward_mean":0.75,"objective/kl":0.0625,"done":false}
{"step":4,"loss":1.25,"learning_rate":0.00015,"grad_norm":0.5,"env/reward_mean":1.5,"objective/kl":0.09375,"eval_loss":1.875,"rewards/accuracies":0.625}
JSONL
keys=(loss eval_loss learning_rate grad_norm env/reward_mean objective/kl rewards/accuracies)

"$LOOM" report "$RUN" >"$WORK/out" || fail "loom report failed: $(cat "$WORK/out")"
PAGE="$RUN/report.html"
[ -s "$PAGE" ] || fail "no $PAGE"
grep -q "wrote $PAGE (7 plots from 4 records)" "$WORK/out" || fail "unexpected output: $(cat "$WORK/out")"
grep -q '<title>loom run ' "$PAGE" || fail "no title"
[ "$(grep -o '<svg ' "$PAGE" | wc -l)" -eq ${#keys[@]} ] || fail "expected ${#keys[@]} plots, got $(grep -o '<svg ' "$PAGE" | wc -l)"
for key in "${keys[@]}"; do
  grep -q "<figcaption>$key</figcaption>" "$PAGE" || fail "no plot of $key"
done
! grep -q -e 'stage</' -e '>done<' -e '>run<' "$PAGE" || fail "non-numeric values plotted"
# Plotting order: the training curves first, then rewards, KL, accuracies.
order=$(grep -o '<figcaption>[^<]*' "$PAGE" | sed 's/<figcaption>//' | tr '\n' ' ')
[ "$order" = "${keys[*]} " ] || fail "plot order: $order"
# Self-contained: no scripts, no links or sources to fetch.
! grep -q -i -e '<script' -e ' src=' -e ' href=' -e '@import' "$PAGE" || fail "the page loads something"
# Axis ticks: min/max values and first/last steps; axis labels.
grep -q 'class="tick">3.5</text>' "$PAGE" || fail "no max tick of loss"
grep -q 'class="tick">1.25</text>' "$PAGE" || fail "no min tick of loss"
grep -q 'class="tick">4</text>' "$PAGE" || fail "no last-step tick"
grep -q 'class="axis">step</text>' "$PAGE" || fail "no x axis label"
# Summary: key, points, first step, first, last step, last, min, max.
row() { grep -F "<tr><td>$1</td>" "$PAGE" || fail "no summary row for $1"; }
[ "$(row loss)" = '<tr><td>loss</td><td>4</td><td>1</td><td>3.5</td><td>4</td><td>1.25</td><td>1.25</td><td>3.5</td></tr>' ] ||
  fail "loss row: $(row loss)"
[ "$(row eval_loss)" = '<tr><td>eval_loss</td><td>2</td><td>2</td><td>3</td><td>4</td><td>1.875</td><td>1.875</td><td>3</td></tr>' ] ||
  fail "eval_loss row: $(row eval_loss)"
[ "$(row env/reward_mean)" = '<tr><td>env/reward_mean</td><td>4</td><td>1</td><td>-0.5</td><td>4</td><td>1.5</td><td>-0.5</td><td>1.5</td></tr>' ] ||
  fail "reward row: $(row env/reward_mean)"
# Config: the header record without a config file, config.ini when the run dir has one.
grep -q 'From the header record of metrics.jsonl' "$PAGE" || fail "header record not shown as the config"
grep -q '&quot;model&quot;: &quot;tiny&quot;' "$PAGE" || fail "header record content missing"
printf '[train]\nlr = 2e-4\nnote = <a&b>\n' >"$RUN/config.ini"
"$LOOM" report "$RUN" --out "$WORK/other.html" >/dev/null
grep -q 'From config.ini' "$WORK/other.html" || fail "config.ini not shown"
grep -q 'note = &lt;a&amp;b&gt;' "$WORK/other.html" || fail "config.ini not escaped"
echo "ok: page content"

if command -v chromium >/dev/null; then
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1600 \
    --screenshot="$WORK/page.png" "file://$PAGE" >"$WORK/chromium.log" 2>&1 || fail "chromium: $(tail -3 "$WORK/chromium.log")"
  [ "$(head -c 8 "$WORK/page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no PNG screenshot"
  # A page of plots compresses far worse than a blank one (a few KiB).
  [ "$(stat -c %s "$WORK/page.png")" -gt 30000 ] || fail "the screenshot looks empty ($(stat -c %s "$WORK/page.png") bytes)"
  [ -z "${LOOM_REPORT_SCREENSHOT:-}" ] || cp "$WORK/page.png" "$LOOM_REPORT_SCREENSHOT"
  echo "ok: rendered by chromium ($(stat -c %s "$WORK/page.png") bytes)"
else
  echo "skip: chromium not installed, the page was not rendered"
fi

expect_error() {  # pattern -- loom arguments
  local pattern=$1; shift; shift
  local rc=0
  "$LOOM" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || fail "expected a failure: loom $*"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "expected one line on stderr from loom $*, got: $(cat "$WORK/err")"
  grep -q '^loom: error: ' "$WORK/err" || fail "not a loom error: $(cat "$WORK/err")"
  grep -q -F -- "$pattern" "$WORK/err" || fail "stderr lacks '$pattern': $(cat "$WORK/err")"
  echo "ok: $pattern"
}
mkdir -p "$WORK/empty" "$WORK/broken" "$WORK/array" "$WORK/badstep" "$WORK/nosteps"
expect_error "$WORK/nothere: not a directory" -- report "$WORK/nothere"
expect_error "$WORK/empty/metrics.jsonl: cannot open" -- report "$WORK/empty"
printf '{"step":1,"loss":2}\n\n{"step":3,"loss":\n' >"$WORK/broken/metrics.jsonl"  # blank lines count
expect_error "$WORK/broken/metrics.jsonl:3: not valid JSON" -- report "$WORK/broken"
[ ! -e "$WORK/broken/report.html" ] || fail "a page was written from a broken log"
printf '{"step":1,"loss":2}\n[1,2]\n' >"$WORK/array/metrics.jsonl"
expect_error "$WORK/array/metrics.jsonl:2: not a JSON object" -- report "$WORK/array"
printf '{"step":"1","loss":2}\n' >"$WORK/badstep/metrics.jsonl"
expect_error "$WORK/badstep/metrics.jsonl:1: \"step\" is not an integer" -- report "$WORK/badstep"
printf '{"run":"sft"}\n' >"$WORK/nosteps/metrics.jsonl"
expect_error "$WORK/nosteps/metrics.jsonl: no records with a \"step\"" -- report "$WORK/nosteps"
echo "PASS"
