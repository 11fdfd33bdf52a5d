# shellcheck shell=bash
# Helpers of the real-Slurm tests: waiting for jobs without accounting (no sacct), and the
# checks of a stage's outputs. Sourced by tests/slurm/test_*.sh, which need a running cluster
# (scripts/slurm-cluster.sh start; SLURM_CONF exported) and these variables:
#   LOOM_SOURCE_DIR  the loom source tree      BUILD_DIR  a build of loom and loom-prep
LOOM_SOURCE_DIR=${LOOM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LOOM_SHARED_DIR=${LOOM_SHARED_DIR:-$LOOM_SOURCE_DIR/../shared}
export LOOM_HOME=$LOOM_SOURCE_DIR
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # CI runs as root

test_name=$(basename "$0" .sh)
fail() {
  echo "FAIL $test_name: $*" >&2
  exit 1
}
note() { echo "$test_name: $*"; }

# Sets LOOM and LOOM_PREP from the build directory given as $1.
use_build() {
  [ -n "${1:-}" ] || fail "usage: $0 BUILD_DIR WORK_DIR"
  export LOOM=$1/src/loom LOOM_PREP=$1/data_prep/loom-prep
  [ -x "$LOOM" ] || fail "$LOOM: not built"
  [ -x "$LOOM_PREP" ] || fail "$LOOM_PREP: not built"
  [ -n "${SLURM_CONF:-}" ] || fail "SLURM_CONF is not set: start a cluster with scripts/slurm-cluster.sh start"
}

# The SFT run the pipeline test makes and the requeue test repeats under a time limit: long
# enough (about 40 s of steps on 2 cores; 400 steps ended before the signal once the bf16 path
# got faster) that the warning signal falls in the middle of it.
# shellcheck disable=SC2034  # used by the tests that source this file
sft_test_args=(--train.max_steps 800 --train.save_steps 100 --train.eval_steps 200 --train.logging_steps 50)

job_state() { scontrol show job "$1" 2>/dev/null | grep -oP 'JobState=\K\S+' || echo GONE; }
job_field() { scontrol show job "$1" 2>/dev/null | grep -oP "\\b$2=\\K\\S+"; }

# Waits for a job to end (up to $2 seconds, default 300) and prints its final state.
wait_job() {
  local s end=$((SECONDS + ${2:-300}))
  while ((SECONDS < end)); do
    s=$(job_state "$1")
    case $s in  # the states a job ends in; any other (SIGNALING, REQUEUED, ...) passes
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | GONE)
        echo "$s"
        return ;;
      *) sleep 1 ;;
    esac
  done
  echo TIMEOUT
}

# Fails unless the job ended COMPLETED, showing its log otherwise.
expect_completed() {  # JOB LOG
  local s
  s=$(wait_job "$1")
  [ "$s" = COMPLETED ] || { tail -n 30 "$2" >&2 2>/dev/null; fail "job $1 ended $s (log $2)"; }
}

# The JSON header of a safetensors file (8-byte little-endian length, then the header).
safetensors_header() {
  local n
  n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
  head -c "$((n + 8))" "$1" | tail -c +9  # head reads only the header: nothing dies of SIGPIPE
}

expect_file() { [ -s "$1" ] || fail "$1: missing or empty"; }
expect_grep() {  # PATTERN FILE WHAT
  grep -q -- "$1" "$2" || fail "$2: $3 (no match for '$1')"
}

# A PEFT LoRA adapter of task type $2 whose tensors include a key matching $3.
expect_adapter() {  # DIR TASK_TYPE KEY_PATTERN
  expect_file "$1/adapter_config.json"
  expect_file "$1/adapter_model.safetensors"
  expect_grep '"peft_type": *"LORA"' "$1/adapter_config.json" "not a LoRA adapter"
  expect_grep "\"task_type\": *\"$2\"" "$1/adapter_config.json" "task type is not $2"
  # Into a variable first: under pipefail, `| grep -q` fails when grep's early exit kills the writer.
  local header
  header=$(safetensors_header "$1/adapter_model.safetensors")
  [[ "$header" == *"$3"* ]] || fail "$1/adapter_model.safetensors: no tensor matching $3"
}

# A merged HF checkpoint of architecture $2.
expect_model() {  # DIR ARCHITECTURE
  expect_file "$1/config.json"
  expect_grep "\"$2\"" "$1/config.json" "architecture is not $2"
  compgen -G "$1/*.safetensors" >/dev/null || fail "$1: no *.safetensors"
  local header
  header=$(safetensors_header "$1/model.safetensors")
  [[ "$header" == *model.layers.0.self_attn.q_proj.weight* ]] ||
    fail "$1/model.safetensors: no merged q_proj weight"
}

# metrics.jsonl with at least one record holding key $2.
expect_metric() {  # FILE KEY
  expect_file "$1"
  expect_grep "\"$2\":" "$1" "no $2 logged"
}
