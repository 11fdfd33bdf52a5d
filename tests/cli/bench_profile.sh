#!/usr/bin/env bash
# loom bench --profile: one line per backend op of the timed steps (the warm-up step left out),
# whose shares and the time outside backend calls add up to the elapsed time; none without it;
# decode's --repeats times several generations (the profile covers them all); --peak --gemm times
# GEMMs of given shapes.
set -euo pipefail
: "${LOOM:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$LOOM" init-model --config tiny --out "$WORK/tiny" >/dev/null  # 2 layers, 7 linears each
layers=2 steps=3
OMP_NUM_THREADS=1 "$LOOM" bench --model "$WORK/tiny" --seq 32 --micro-batch 2 --steps $steps --profile >"$WORK/out"
calls() { awk -v op="$1" '$1 == "profile:" && $2 == op { print $3 }' "$WORK/out"; }
# The time outside backend calls is the elapsed time less the ops' (the shares add up to 100% by
# construction): negative when the elapsed time is shorter than what was profiled.
outside_not_negative() { awk '$2 == "(outside" { bad = ($5 < 0) } END { exit bad }' "$WORK/out"; }
[ "$(calls attention_forward)" = $((layers * steps)) ] || fail "attention_forward calls: $(calls attention_forward)"
[ "$(calls attention_backward)" = $((layers * steps)) ] || fail "attention_backward calls: $(calls attention_backward)"
# bench adapts all seven linears: each is one lora_linear call each way
[ "$(calls lora_linear_forward)" = $((7 * layers * steps)) ] ||
  fail "lora_linear_forward calls: $(calls lora_linear_forward)"
[ "$(calls lora_linear_backward)" = $((7 * layers * steps)) ] ||
  fail "lora_linear_backward calls: $(calls lora_linear_backward)"
[ "$(calls adamw_update)" = $steps ] || fail "adamw_update calls: $(calls adamw_update)"
grep -q '^profile: (outside backend calls)' "$WORK/out" || fail "no line for the time outside backend calls"
# The shares (last field, "12.3%") sum to 100% give or take the rounding of each line.
awk '$1 == "profile:" { sub("%", "", $NF); total += $NF } END { if (total < 98.5 || total > 101.5) exit 1 }' \
  "$WORK/out" || fail "shares do not add up to 100%: $(grep '^profile' "$WORK/out")"
outside_not_negative || fail "the profile's elapsed time leaves out steps: $(grep '^profile' "$WORK/out")"
echo "ok: train profile"
OMP_NUM_THREADS=1 "$LOOM" bench --model "$WORK/tiny" --mode decode --new-tokens 4 --profile >"$WORK/out"
[ "$(calls attention_decode)" = $((layers * 3)) ] || fail "attention_decode calls (3 single-token steps): $(calls attention_decode)"
echo "ok: decode profile"
# --repeats: the profile covers every timed generation, the figure is their median.
OMP_NUM_THREADS=1 "$LOOM" bench --model "$WORK/tiny" --mode decode --new-tokens 4 --repeats 3 --profile >"$WORK/out"
[ "$(calls attention_decode)" = $((layers * 3 * 3)) ] ||
  fail "attention_decode calls (3 generations of 3 single-token steps): $(calls attention_decode)"
line=$(grep '^decode:' "$WORK/out")
# "... in X s (median of 3: T1 T2 T3 s): F tokens/s ...", the times sorted: F = 4 / T2
echo "$line" | awk '{
    if (!match($0, /\(median of 3: [^)]*\)/)) exit 1
    split(substr($0, RSTART + 14, RLENGTH - 17), t, " ")
    if (!match($0, /: [0-9.]+ tokens\/s/)) exit 1
    figure = substr($0, RSTART + 2, RLENGTH - 11) + 0
    if (!(t[1] <= t[2] && t[2] <= t[3])) exit 1
    want = 4 / t[2]
    if (figure < want * 0.9999 - 0.05 || figure > want * 1.0001 + 0.05) exit 1
  }' || fail "the decode figure is not 4 tokens over the median of its 3 times: $line"
outside_not_negative || fail "the profile's elapsed time leaves out generations: $(grep '^profile' "$WORK/out")"
echo "ok: decode --repeats"
OMP_NUM_THREADS=1 "$LOOM" bench --model "$WORK/tiny" --seq 32 --micro-batch 2 --steps 1 >"$WORK/out"
if grep -q '^profile' "$WORK/out"; then fail "profile lines without --profile"; fi
echo "ok: no profile without --profile"
# --peak --gemm MxNxK: each shape timed with B (K, N), B (N, K) and, where oneDNN reads it, packed;
# a shape that is not MxNxK, or --gemm without --peak, is a one-line error naming --gemm.
if OMP_NUM_THREADS=1 "$LOOM" bench --peak --gemm 64x48x32 --gemm 33x64x64 >"$WORK/out" 2>"$WORK/err"; then
  for shape in 64x48x32 33x64x64; do
    for layout in '(K, N)' '(N, K)'; do
      grep -qF "gemm bf16 $shape, B $layout: " "$WORK/out" || fail "no $layout line for $shape: $(cat "$WORK/out")"
    done
    grep -qE "^gemm bf16 $shape, B packed: ([0-9.]+ GFLOP/s|oneDNN does not read)" "$WORK/out" ||
      fail "no packed line for $shape: $(cat "$WORK/out")"
  done
  echo "ok: --peak --gemm"
else
  grep -q "no bf16 instructions" "$WORK/err" || fail "--peak --gemm failed: $(cat "$WORK/err")"
  echo "ok: --peak --gemm refused on a CPU without bf16"
fi
for bad in "--peak --gemm 12x3" "--peak --gemm 0x4x4" "--peak --gemm 4x4x4x" "--gemm 4x4x4"; do
  # shellcheck disable=SC2086
  if "$LOOM" bench $bad >"$WORK/out" 2>"$WORK/err"; then fail "bench $bad succeeded"; fi
  if [ "$(grep -c . "$WORK/err")" != 1 ] || ! grep -q -- "--gemm" "$WORK/err"; then fail "bench $bad: $(cat "$WORK/err")"; fi
done
echo "ok: bad --gemm refused"
# --peak --memory: one read-modify-write figure per buffer size, 1 MiB to 512 MiB; an option of
# --peak only.
OMP_NUM_THREADS=1 "$LOOM" bench --peak --memory >"$WORK/out"
for mib in 1 2 4 8 16 32 64 128 256 512; do
  grep -qE "^memory $mib MiB: read-modify-write [0-9.]+ GB/s$" "$WORK/out" || fail "no $mib MiB line: $(cat "$WORK/out")"
done
if "$LOOM" bench --memory >"$WORK/out" 2>"$WORK/err"; then fail "bench --memory without --peak succeeded"; fi
grep -q -- "--memory is an option of --peak" "$WORK/err" || fail "bench --memory: $(cat "$WORK/err")"
echo "ok: --peak --memory"
