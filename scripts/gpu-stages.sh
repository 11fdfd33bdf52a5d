#!/usr/bin/env bash
# Every training stage (sft, reward, dpo, ppo) of the tiny fixture on the cuda backend and on
# cpu-f32, the same seed and data, then their logged figures side by side: a check of
# scripts/gpu-check.sh.
#   scripts/gpu-stages.sh LAUNCHER SHARED_DIR OUT_DIR
# LAUNCHER runs a program by name (`.bundle/run.sh`: `LAUNCHER loom sft ...`); SHARED_DIR holds
# data/ as ../shared does (the bundle's copy: the tokenizer, the HH-RLHF split and the AFINN
# lexicon), from which tests/fixtures/make_tiny_run.sh builds the fixture in OUT_DIR/tiny-run.
# GPU_STAGES_DEVICES (default "cuda cpu") names the two devices compared. Exit 0 only if every
# run exits 0 and, stage by stage, the two devices agree: sft, reward and dpo losses (and eval
# figures) within a relative 1e-5 at every logged step (measured on an H200: at most 2.6e-7),
# ppo's first step within 1e-4 (later steps sample different tokens once the devices' roundings
# differ, and then part ways).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
launcher=${1:?usage: gpu-stages.sh LAUNCHER SHARED_DIR OUT_DIR}
shared=${2:?missing SHARED_DIR} out=${3:?missing OUT_DIR}
launcher=$(realpath "$launcher") shared=$(realpath "$shared")
read -r -a devices <<<"${GPU_STAGES_DEVICES:-cuda cpu}"
[ "${#devices[@]}" -eq 2 ] || { echo "gpu-stages: GPU_STAGES_DEVICES names two devices" >&2; exit 1; }
mkdir -p "$out"
failed=0

# The fixture, with loom and loom-prep as the launcher runs them.
for program in loom loom-prep; do
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$launcher" "$program" >"$out/$program"
  chmod +x "$out/$program"
done
fixture=$out/tiny-run
LOOM=$out/loom LOOM_PREP=$out/loom-prep LOOM_SHARED_DIR=$shared bash tests/fixtures/make_tiny_run.sh "$fixture" ||
  { echo "gpu-stages: the fixture could not be built" >&2; exit 1; }
afinn=$shared/data/afinn/words.csv

run() {  # NAME ARGS...: one loom command, its output in OUT_DIR/NAME.log
  local name=$1 start=$SECONDS status
  shift
  "$launcher" loom "$@" >"$out/$name.log" 2>&1
  status=$?
  [ "$status" -eq 0 ] || failed=1
  echo "$name ($dev): exit $status in $((SECONDS - start)) s; $(grep -m1 -o 'compute: [^;)]*' "$out/$name.log")"
}

for i in 0 1; do  # run i's outputs in OUT_DIR/STAGE-i
  dev=${devices[$i]}
  flags=(--run.device "$dev" --run.compute f32 --model.path "$fixture/model" --train.save_steps 0)
  pairs=(--data.train "$fixture/pairs/manifest.json" --data.eval "$fixture/pairs/manifest.json")
  run "sft-$i" sft --config configs/tiny-sft.ini "${flags[@]}" --data.train "$fixture/sft/manifest.json" \
    --data.eval "$fixture/sft/manifest.json" --train.max_steps 40 --train.logging_steps 5 --train.eval_steps 40 \
    --train.output_dir "$out/sft-$i"
  run "reward-$i" reward --config configs/tiny-reward.ini "${flags[@]}" "${pairs[@]}" --train.max_steps 20 \
    --train.logging_steps 5 --train.eval_steps 20 --train.output_dir "$out/reward-$i"
  run "dpo-$i" dpo --config configs/tiny-dpo.ini "${flags[@]}" "${pairs[@]}" --train.max_steps 20 \
    --train.logging_steps 5 --train.eval_steps 20 --train.output_dir "$out/dpo-$i"
  run "ppo-$i" ppo --config configs/tiny-ppo.ini "${flags[@]}" --data.prompts "$fixture/prompts/manifest.json" \
    --reward.afinn_lexicon "$afinn" --ppo.batch_size 8 --generation.batch_size 8 --generation.output_min_length 8 \
    --generation.output_max_length 12 --train.max_steps 6 --train.output_dir "$out/ppo-$i"
done

values() {  # STAGE RUN KEY: the key's logged values in run 0 or 1, one a line
  grep -o "\"$3\":[-0-9.e+]*" "$out/$1-$2/metrics.jsonl" 2>/dev/null | cut -d: -f2
}
compare() {  # STAGE KEY TOLERANCE [ROWS]: the two devices' values side by side, within TOLERANCE
  local a b
  a=$(values "$1" 0 "$2" | head -n "${4:-1000}")
  b=$(values "$1" 1 "$2" | head -n "${4:-1000}")
  echo "== $1 $2 (${devices[*]}; relative tolerance $3)"
  paste <(echo "$a") <(echo "$b") | awk -v tol="$3" '
    NF != 2 || $1 == "" { bad = 1; print "missing value"; next }
    { d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; r = s > 0 ? d / s : d
      printf "%s\t%s\trel %.2e\n", $1, $2, r; if (r > tol) bad = 1 }
    END { if (NR == 0) { print "no values"; bad = 1 } exit bad }' || failed=1
}
for stage in sft dpo; do compare "$stage" loss 1e-5; compare "$stage" eval_loss 1e-5; done
compare reward loss 1e-5
compare reward eval_accuracy 1e-5
compare ppo ppo/loss/total 1e-4 1
echo "gpu-stages: $([ "$failed" -eq 0 ] && echo "the devices agree" || echo FAILED); logs in $out"
exit "$failed"
