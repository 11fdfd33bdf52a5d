#!/usr/bin/env bash
# Every check of the CUDA path, in one command on a machine with an NVIDIA GPU and only the
# CUDA driver and runtime (nothing of loom's Debian libraries): run from the repository root
# after copying .bundle.tar.xz there (built elsewhere by scripts/device-bundle.sh).
#   scripts/gpu-check.sh [REPORT]      (default gpu-check-report.txt; exit 0 only if all pass)
# Checks, each under its own time limit (about 13 minutes at most in all):
#   gpu         nvidia-smi: which GPU, driver, memory
#   op table    every op of the cuda backend against the references and cpu-f32 (gpu_test_ops),
#               dequantization of every quantization mode (gpu_test_dequant)
#   memcheck    the op table under compute-sanitizer memcheck
#   sft steps   the 5-step PEFT + torch golden SFT run (clipping, cosine schedule, packed
#               documents) on the cuda backend, checkpoints and final adapter included
#   stages      sft, reward, dpo and ppo of a tiny fixture (built here from the bundle's
#               shared/ data) on cuda-f32 against cpu-f32 (scripts/gpu-stages.sh)
#   bf16 sft    100 SFT steps of that fixture on cuda-bf16 against cuda-f32, within the band
#               of tests/cli/sft_bf16_matches_f32.sh
# The report has each check's command, exit status (3: a GPU test skipped itself, i.e. no usable
# device), time and output tail.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
report=${1:-gpu-check-report.txt}
[ -d .bundle ] || tar xJf .bundle.tar.xz || { echo "gpu-check: no .bundle/ and no .bundle.tar.xz" >&2; exit 1; }
export LOOM_SOURCE_DIR=$PWD
failed=0
: >"$report"
check() {  # NAME SECONDS COMMAND...
  local name=$1 limit=$2 start status
  shift 2
  start=$SECONDS
  timeout "$limit" "$@" >"$report.part" 2>&1
  status=$?
  # A GPU test that skips itself found no usable device: here that is a failure.
  if [ "$status" -eq 0 ] && grep -q '^\[  SKIPPED \]' "$report.part"; then status=3; fi
  [ "$status" -eq 0 ] || failed=1
  {
    printf '== %s: exit %d in %d s\n$ %s\n' "$name" "$status" "$((SECONDS - start))" "$*"
    tail -n 40 "$report.part"
    echo
  } >>"$report"
  printf '%-10s exit %d in %d s\n' "$name" "$status" "$((SECONDS - start))"
}
check gpu 30 nvidia-smi
check "op table" 180 .bundle/run.sh gpu-tests
check memcheck 180 .bundle/run.sh sanitize
check "sft steps" 120 .bundle/run.sh test_train_steps_golden --gtest_filter='*Cuda*'
stages=$(mktemp -d)
check stages 150 scripts/gpu-stages.sh .bundle/run.sh .bundle/shared "$stages"
check "bf16 sft" 120 env LOOM="$stages/loom" LOOM_TINY_RUN="$stages/tiny-run" LOOM_DEVICE=cuda \
  bash tests/cli/sft_bf16_matches_f32.sh
rm -f "$report.part"
echo "gpu-check: report in $report"
exit "$failed"
