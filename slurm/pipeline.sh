#!/usr/bin/env bash
# Submits the whole chain as Slurm jobs, each waiting for the one before (--dependency=afterok):
#   prep (sft, pairs, prompts shards) -> sft -> merge sft -> reward -> merge reward -> ppo
# prints the job ids and where each stage writes, and records both in RUN_DIR/pipeline.txt.
#
#   slurm/pipeline.sh [options] CONFIG_DIR RUN_DIR
#
# CONFIG_DIR holds sft.ini, reward.ini and ppo.ini (or PRESET-sft.ini ... with --preset);
# they are copied to RUN_DIR/config/ so that editing them later does not change queued jobs.
# RUN_DIR must be on a filesystem every node sees; its layout is described in slurm/lib.sh.
#
# Options:
#   --base DIR          the base model (HF checkpoint with tokenizer.json or tokenizer.model), linked as
#                       RUN_DIR/base (needed unless RUN_DIR/base exists)
#   --input FILE        a prep input (JSON Lines, gzip or plain; globs allowed); repeatable, needed
#   --template NAME     loom-prep's template (default hh)
#   --prep-args "..."   more loom-prep options for all three kinds (default: --eval-fraction 0.05)
#   --preset NAME       read CONFIG_DIR/NAME-sft.ini, NAME-reward.ini, NAME-ppo.ini
#   --sft-args "..." --reward-args "..." --ppo-args "..."   extra loom options for that stage
#   --ranks N           ranks (tasks) per node for prep and the training stages
#   --nodes N           nodes for the training stages
#   --cpus-per-rank N   CPUs per rank (and for the merges)
#   --cpu               a CPU run: no GPUs (--gpus-per-node=0), LOOM_DEVICE=cpu, 1 CPU per rank
#                       unless --cpus-per-rank says otherwise
#   --sbatch "..."      more sbatch options for every job (--partition=..., --account=..., --time=...)
# Environment: LOOM, LOOM_PREP, LOOM_LAUNCHER, LOOM_DEVICE (slurm/lib.sh) reach every job.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}
die() {
  echo "pipeline: error: $*" >&2
  exit 1
}

LOOM_HOME=${LOOM_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export LOOM_HOME
export LOOM=${LOOM:-$LOOM_HOME/build/src/loom}
export LOOM_PREP=${LOOM_PREP:-$LOOM_HOME/build/data_prep/loom-prep}

base="" preset="" template=hh prep_args="--eval-fraction 0.05" sbatch_extra=""
sft_args="" reward_args="" ppo_args="" ranks="" nodes="" cpus="" cpu=0
inputs=()
while (($#)); do
  case $1 in
    --base) base=$2; shift 2 ;;
    --input) inputs+=("$2"); shift 2 ;;
    --template) template=$2; shift 2 ;;
    --prep-args) prep_args=$2; shift 2 ;;
    --preset) preset=$2-; shift 2 ;;
    --sft-args) sft_args=$2; shift 2 ;;
    --reward-args) reward_args=$2; shift 2 ;;
    --ppo-args) ppo_args=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --cpus-per-rank) cpus=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --sbatch) sbatch_extra=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
(($# == 2)) || usage 2 >&2
config_dir=$1 run_dir=$2

# Everything that can be checked now is checked now, not hours later in a queued job.
for stage in sft reward ppo; do
  [ -s "$config_dir/$preset$stage.ini" ] || die "$config_dir/$preset$stage.ini: no such config file"
done
((${#inputs[@]})) || die "no --input given for the prep stage"
[ -x "$LOOM" ] || die "$LOOM: no such program (build loom, or set LOOM)"
[ -x "$LOOM_PREP" ] || die "$LOOM_PREP: no such program (build loom-prep, or set LOOM_PREP)"
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"

mkdir -p "$run_dir"/{config,data,logs}
run_dir=$(cd "$run_dir" && pwd)
if [ -n "$base" ]; then
  [ -s "$base/config.json" ] || die "$base: not an HF checkpoint (no config.json)"
  [ -e "$run_dir/base" ] && [ ! -L "$run_dir/base" ] && die "$run_dir/base exists and is not a link; drop --base"
  ln -sfn "$(cd "$base" && pwd)" "$run_dir/base"
fi
[ -s "$run_dir/base/config.json" ] || die "$run_dir/base: no base model; pass --base DIR"
[ -s "$run_dir/base/tokenizer.json" ] || [ -s "$run_dir/base/tokenizer.model" ] ||
  die "$run_dir/base: no tokenizer.json or tokenizer.model (prep tokenizes with it)"
for stage in sft reward ppo; do cp "$config_dir/$preset$stage.ini" "$run_dir/config/$stage.ini"; done

# Resources: the scripts' #SBATCH lines are GPU-node defaults; these override them.
read -ra common <<<"$sbatch_extra"
ranked=()
[ -z "$ranks" ] || ranked+=("--ntasks-per-node=$ranks")
[ -z "$nodes" ] || ranked+=("--nodes=$nodes")
if ((cpu)); then
  export LOOM_DEVICE=cpu
  ranked+=(--gpus-per-node=0)
  cpus=${cpus:-1}
fi
[ -z "$cpus" ] || common+=("--cpus-per-task=$cpus")

table=$run_dir/pipeline.txt
printf '%-14s %-8s %-40s %s\n' stage job output log >"$table"

# submit NAME AFTER OUTPUT SBATCH_ARGS... -- SCRIPT ARGS...: prints the job id.
submit() {
  local name=$1 after=$2 output=$3 job
  shift 3
  local args=(--parsable --job-name="loom-$name" --output="$run_dir/logs/$name-%j.out" "${common[@]}")
  [ -z "$after" ] || args+=("--dependency=afterok:${after//,/:}" --kill-on-invalid-dep=yes)
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  job=$(sbatch "${args[@]}" "$@") || die "sbatch of stage $name failed"
  job=${job%%;*}
  printf '%-14s %-8s %-40s %s\n' "$name" "$job" "${output#"$run_dir"/}" "logs/$name-$job.out" >>"$table"
  echo "$job"
}

# prep.sbatch takes its settings from the environment, one kind a job.
prep_jobs=()
for kind in sft pairs prompts; do
  job=$(KIND=$kind TOKENIZER=$run_dir/base INPUTS="${inputs[*]}" TEMPLATE=$template \
    OUT=$run_dir/data/$kind ARGS=$prep_args \
    submit "prep-$kind" "" "$run_dir/data/$kind" "${ranked[@]}" -- "$LOOM_HOME/slurm/prep.sbatch")
  prep_jobs+=("$job")
done
read -ra sft_opts <<<"$sft_args"
read -ra reward_opts <<<"$reward_args"
read -ra ppo_opts <<<"$ppo_args"
sft=$(submit sft "${prep_jobs[0]}" "$run_dir/sft" "${ranked[@]}" -- \
  "$LOOM_HOME/slurm/sft.sbatch" "$run_dir/config/sft.ini" "$run_dir" "${sft_opts[@]}")
merge_sft=$(submit merge-sft "$sft" "$run_dir/sft-merged" -- "$LOOM_HOME/slurm/merge.sbatch" "$run_dir" sft)
reward=$(submit reward "$merge_sft,${prep_jobs[1]}" "$run_dir/reward" "${ranked[@]}" -- \
  "$LOOM_HOME/slurm/reward.sbatch" "$run_dir/config/reward.ini" "$run_dir" "${reward_opts[@]}")
merge_reward=$(submit merge-reward "$reward" "$run_dir/reward-merged" -- \
  "$LOOM_HOME/slurm/merge.sbatch" "$run_dir" reward)
ppo=$(submit ppo "$merge_reward,${prep_jobs[2]}" "$run_dir/ppo" "${ranked[@]}" -- \
  "$LOOM_HOME/slurm/ppo.sbatch" "$run_dir/config/ppo.ini" "$run_dir" "${ppo_opts[@]}")

echo "run directory: $run_dir"
cat "$table"
echo "jobs: ${prep_jobs[*]} $sft $merge_sft $reward $merge_reward $ppo"
echo "watch: squeue -j $(IFS=,; echo "${prep_jobs[*]},$sft,$merge_sft,$reward,$merge_reward,$ppo")"
