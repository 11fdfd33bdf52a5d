#!/usr/bin/env bash
# Submits loom's stages as Slurm jobs, each waiting for the jobs whose outputs it reads
# (--dependency=afterok), prints the job ids and where each stage writes, and records both in
# RUN_DIR/pipeline.txt.
#
#   slurm/pipeline.sh [options] CONFIG_DIR RUN_DIR
#
# Stages (--stages, a comma list in chain order; default sft,merge,reward,ppo):
#   sft      LoRA SFT of the base on data/sft                 -> sft/final
#   merge    sft/final merged into the base                   -> sft-merged/
#   reward   reward model on sft-merged and data/pairs, then merged -> reward/final, reward-merged/
#   ppo      PPO on sft-merged against reward-merged, data/prompts -> ppo/final
#   dpo      DPO on sft-merged and data/pairs (instead of reward + ppo) -> dpo/final
# A stage's input comes from a listed stage or must already be in RUN_DIR, so `--stages sft`
# is an SFT-only run, `--stages sft,merge,dpo` the DPO chain, and `--stages reward,ppo`
# continues a run whose SFT is merged. The shards
# a listed stage reads are tokenized first (prep jobs) when --input is given; without --input
# they must exist in RUN_DIR/data/.
# CONFIG_DIR holds sft.ini, reward.ini, ppo.ini, dpo.ini (PRESET-sft.ini ... with --preset) for the listed
# stages; they are copied to RUN_DIR/config/ so that later edits do not change queued jobs.
# RUN_DIR must be on a filesystem every node sees; its layout is described in slurm/lib.sh.
#
# Options:
#   --stages LIST        the stages to submit (above)
#   --dry-run            check everything, print each sbatch command and the dependency
#                        graph, and stop: nothing is created or submitted
#   --base DIR           the base model (HF folder with config.json, safetensors and
#                        tokenizer.json or tokenizer.model), linked as RUN_DIR/base
#   --input FILE         a prep input (JSON Lines, gzip or plain; globs allowed); repeatable
#   --template NAME      loom-prep's template (default hh)
#   --prep-args "..."    loom-prep options for every kind (added after the kind's defaults)
#   --prep-sft-args "..." --prep-pairs-args "..." --prep-prompts-args "..."
#                        loom-prep options for one kind, replacing its defaults, which are
#                          sft:     --layout packed --seq-len S --eval-fraction 0.05 --seed 0
#                          pairs:   --max-len S --eval-fraction 0.05 --seed 0 --on-error skip
#                          prompts: --max-prompt-len P --eval-fraction 0.05 --seed 0
#                        with S = min(1024, max_position_embeddings) and P = min(256, S / 4);
#                        pairs skip (and count) HH's records with an empty answer
#   --preset NAME        read CONFIG_DIR/NAME-sft.ini, NAME-reward.ini, NAME-ppo.ini, NAME-dpo.ini
#   --sft-args "..." --reward-args "..." --ppo-args "..." --dpo-args "..."
#                        extra loom options for that stage
#   --ranks N            ranks (tasks) per node for prep and the training stages
#   --nodes N            nodes for the training stages
#   --cpus-per-rank N    CPUs per rank (and for the merges)
#   --mem MB             memory per node for every job, instead of the estimate from the
#                        base's size (merge: f32 copy + files + 1 GiB; training: files +
#                        ranks x (files / 2 + 2 GiB); prep: 2 GiB x ranks)
#   --cpu                a CPU run: no GPUs (--gpus-per-node=0), --run.device cpu, 1 CPU per
#                        rank unless --cpus-per-rank says otherwise
#   --launcher NAME      srun (default) | mpirun: how each job starts its ranks
#   --sbatch "..."       more sbatch options for every job (--partition=..., --account=...)
# Environment: LOOM and LOOM_PREP name the programs (default: LOOM_HOME/build/...).
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

stages_arg=sft,merge,reward,ppo dry_run=0 base="" preset="" template=hh prep_args=""
sft_args="" reward_args="" ppo_args="" dpo_args="" ranks="" nodes="" cpus="" cpu=0 mem="" sbatch_extra=""
launcher=${LOOM_LAUNCHER:-srun}
declare -A kind_args=()
inputs=()
while (($#)); do
  case $1 in
    --stages) stages_arg=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --base) base=$2; shift 2 ;;
    --input) inputs+=("$2"); shift 2 ;;
    --template) template=$2; shift 2 ;;
    --prep-args) prep_args=$2; shift 2 ;;
    --prep-sft-args) kind_args[sft]=$2; shift 2 ;;
    --prep-pairs-args) kind_args[pairs]=$2; shift 2 ;;
    --prep-prompts-args) kind_args[prompts]=$2; shift 2 ;;
    --preset) preset=$2-; shift 2 ;;
    --sft-args) sft_args=$2; shift 2 ;;
    --reward-args) reward_args=$2; shift 2 ;;
    --ppo-args) ppo_args=$2; shift 2 ;;
    --dpo-args) dpo_args=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --cpus-per-rank) cpus=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --launcher) launcher=$2; shift 2 ;;
    --sbatch) sbatch_extra=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
(($# == 2)) || usage 2 >&2
config_dir=$1
run_dir=$(realpath -m "$2")

# ---- every check comes before anything is created ----------------------------------------
for n in "$ranks" "$nodes" "$cpus" "$mem"; do
  [[ -z "$n" || "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n': --ranks, --nodes, --cpus-per-rank and --mem take a positive integer"
done
case $launcher in srun | mpirun) ;; *) die "--launcher $launcher: expected srun or mpirun" ;; esac

# The stages, validated against the chain order.
chain=(sft merge reward ppo dpo)
declare -A listed=()
IFS=, read -ra stages <<<"$stages_arg"
((${#stages[@]})) || die "--stages is empty"
last=-1
for s in "${stages[@]}"; do
  pos=-1
  for i in "${!chain[@]}"; do [ "${chain[$i]}" != "$s" ] || pos=$i; done
  ((pos >= 0)) || die "--stages: unknown stage '$s' (expected a list from: ${chain[*]})"
  ((pos > last)) || die "--stages: '$s' is listed twice or out of order (the order is ${chain[*]})"
  listed[$s]=1 last=$pos
done

# What each stage reads, and which stage (or earlier run) provides it.
declare -A stage_data=([sft]=sft [reward]=pairs [ppo]=prompts [dpo]=pairs)
declare -A stage_model_input=([merge]=sft/final [reward]=sft-merged [ppo]=sft-merged [dpo]=sft-merged)
declare -A made_by=([sft/final]=sft [sft-merged]=merge [reward-merged]=reward)
require_input() {  # STAGE PATH: PATH made by a listed stage, or present in RUN_DIR
  local stage=$1 path=$2
  [ -n "${listed[${made_by[$path]}]:-}" ] && return
  [ -e "$run_dir/$path" ] ||
    die "stage $stage reads $run_dir/$path, which no listed stage makes (add '${made_by[$path]}' to --stages)"
}
for s in "${stages[@]}"; do
  [ -z "${stage_model_input[$s]:-}" ] || require_input "$s" "${stage_model_input[$s]}"
  [ "$s" != ppo ] || require_input ppo reward-merged
done

# Configs of the listed training stages.
for s in sft reward ppo dpo; do
  [ -z "${listed[$s]:-}" ] || [ -s "$config_dir/$preset$s.ini" ] ||
    die "$config_dir/$preset$s.ini: no such config file (needed by stage $s)"
done

# The base model and its tokenizer.
if [ -n "$base" ]; then
  [ -s "$base/config.json" ] || die "$base: not an HF model folder (no config.json)"
  [ -e "$run_dir/base" ] && [ ! -L "$run_dir/base" ] && die "$run_dir/base exists and is not a link; drop --base"
  base=$(cd "$base" && pwd)
else
  [ -s "$run_dir/base/config.json" ] || die "$run_dir/base: no base model; pass --base DIR"
  base=$(cd "$run_dir/base" && pwd)
fi
compgen -G "$base/*.safetensors" >/dev/null || die "$base: no *.safetensors weights"
[ -s "$base/tokenizer.json" ] || [ -s "$base/tokenizer.model" ] ||
  die "$base: no tokenizer.json or tokenizer.model (prep tokenizes with the base's tokenizer)"

# The shards the listed stages read: made by prep jobs from --input, or already there.
kinds=()
for s in "${stages[@]}"; do
  [ -z "${stage_data[$s]:-}" ] || [[ " ${kinds[*]} " == *" ${stage_data[$s]} "* ]] || kinds+=("${stage_data[$s]}")
done
if ((${#inputs[@]})); then
  for pattern in "${inputs[@]}"; do
    compgen -G "$pattern" >/dev/null || die "--input $pattern: no such file"
  done
else
  for kind in "${kinds[@]}"; do
    [ -s "$run_dir/data/$kind/manifest.json" ] ||
      die "$run_dir/data/$kind/manifest.json: missing, and no --input given to make it"
  done
fi

# Per-kind loom-prep arguments, checked against the base's positions.
max_pos=$(grep -oP '"max_position_embeddings"\s*:\s*\K[0-9]+' "$base/config.json" || echo 1024)
seq=$((max_pos < 1024 ? max_pos : 1024))
prompt_len=$((seq / 4 < 256 ? seq / 4 : 256))
declare -A default_kind_args=(
  [sft]="--layout packed --seq-len $seq --eval-fraction 0.05 --seed 0"
  [pairs]="--max-len $seq --eval-fraction 0.05 --seed 0 --on-error skip"
  [prompts]="--max-prompt-len $prompt_len --eval-fraction 0.05 --seed 0")
for kind in sft pairs prompts; do
  args="${kind_args[$kind]-${default_kind_args[$kind]}} $prep_args"
  kind_args[$kind]=$args
  read -ra words <<<"$args"
  for i in "${!words[@]}"; do
    case ${words[$i]} in
      --seq-len | --max-len | --max-prompt-len)
        n=${words[$((i + 1))]:-}
        [[ "$n" =~ ^[0-9]+$ ]] || die "prep $kind: ${words[$i]} '$n' is not a number"
        ((n <= max_pos)) ||
          die "prep $kind: ${words[$i]} $n is longer than the base's max_position_embeddings $max_pos ($base/config.json)" ;;
    esac
  done
done

if ((!dry_run)); then
  [ -x "$LOOM" ] || die "$LOOM: no such program (build loom, or set LOOM)"
  [ -x "$LOOM_PREP" ] || die "$LOOM_PREP: no such program (build loom-prep, or set LOOM_PREP)"
  command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node (or use --dry-run)"
fi

# ---- resources --------------------------------------------------------------------------
# The scripts' #SBATCH lines are GPU-node defaults; these override them.
read -ra common <<<"$sbatch_extra"
ranked=()
[ -z "$ranks" ] || ranked+=("--ntasks-per-node=$ranks")
[ -z "$nodes" ] || ranked+=("--nodes=$nodes")
stage_device=()
if ((cpu)); then
  ranked+=(--gpus-per-node=0)
  stage_device=(--run.device cpu)
  cpus=${cpus:-1}
fi
[ -z "$cpus" ] || common+=("--cpus-per-task=$cpus")

# Memory per node, in MiB, from the base's weight files (a 7B bf16 base is ~12.6 GiB).
file_mib=$(($(du -cbL "$base"/*.safetensors | tail -n 1 | cut -f1) / 1048576 + 1))
dtype=$(grep -oP '"(torch_)?dtype"\s*:\s*"\K[a-z0-9]+' "$base/config.json" | head -n 1 || true)
f32_mib=$((2 * file_mib))
[ "$dtype" != float32 ] || f32_mib=$file_mib
node_ranks=${ranks:-8}
merge_mem=${mem:-$((f32_mib + file_mib + 1024))}
train_mem=${mem:-$((file_mib + node_ranks * (file_mib / 2 + 2048)))}
prep_mem=${mem:-$((node_ranks * 2048))}

# ---- submission -------------------------------------------------------------------------
table=$run_dir/pipeline.txt
if ((dry_run)); then
  echo "pipeline: dry run: nothing is created or submitted"
  echo "run directory: $run_dir (base: $base)"
else
  mkdir -p "$run_dir"/{config,data,logs}
  ln -sfn "$base" "$run_dir/base"
  for s in sft reward ppo dpo; do
    [ -z "${listed[$s]:-}" ] || cp "$config_dir/$preset$s.ini" "$run_dir/config/$s.ini"
  done
  printf '%-14s %-8s %-40s %s\n' stage job output log >"$table"
fi
graph=()

# submit NAME AFTER OUTPUT SBATCH_ARGS... -- SCRIPT ARGS...: submits one job and sets job_of[NAME]
# to its id (in a dry run, prints the sbatch command and uses the placeholder {NAME}). AFTER
# names the jobs it waits for, as keys of job_of separated by blanks; unknown keys are skipped.
export LOOM_LAUNCHER=$launcher
declare -A job_of=()
submit() {
  local name=$1 output=$3 job ids=() n
  for n in $2; do [ -z "${job_of[$n]:-}" ] || ids+=("${job_of[$n]}"); done
  shift 3
  local args=(--parsable --job-name="loom-$name" --output="$run_dir/logs/$name-%j.out" "${common[@]}")
  if ((${#ids[@]})); then
    args+=("--dependency=afterok:$(IFS=:; echo "${ids[*]}")" --kill-on-invalid-dep=yes)
  fi
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  graph+=("$name <- ${ids[*]:-(none)}")
  if ((dry_run)); then
    printf '%q ' sbatch "${args[@]}" "$@"
    echo
    job_of[$name]="{$name}"
    return
  fi
  job=$(sbatch "${args[@]}" "$@") || die "sbatch of stage $name failed"
  job=${job%%;*}
  printf '%-14s %-8s %-40s %s\n' "$name" "$job" "${output#"$run_dir"/}" "logs/$name-$job.out" >>"$table"
  job_of[$name]=$job
}

if ((${#inputs[@]})); then
  for kind in "${kinds[@]}"; do
    read -ra kargs <<<"${kind_args[$kind]}"
    submit "prep-$kind" "" "$run_dir/data/$kind" "${ranked[@]}" --mem="$prep_mem" -- \
      "$LOOM_HOME/slurm/prep.sbatch" "$run_dir" "$kind" --template "$template" "${kargs[@]}" "${inputs[@]}"
  done
fi
read -ra sft_opts <<<"$sft_args"
read -ra reward_opts <<<"$reward_args"
read -ra ppo_opts <<<"$ppo_args"
read -ra dpo_opts <<<"$dpo_args"
if [ -n "${listed[sft]:-}" ]; then
  submit sft prep-sft "$run_dir/sft" "${ranked[@]}" --mem="$train_mem" -- \
    "$LOOM_HOME/slurm/sft.sbatch" "$run_dir/config/sft.ini" "$run_dir" "${stage_device[@]}" "${sft_opts[@]}"
fi
if [ -n "${listed[merge]:-}" ]; then
  submit merge-sft sft "$run_dir/sft-merged" --mem="$merge_mem" -- "$LOOM_HOME/slurm/merge.sbatch" "$run_dir" sft
fi
if [ -n "${listed[reward]:-}" ]; then
  submit reward "merge-sft prep-pairs" "$run_dir/reward" "${ranked[@]}" --mem="$train_mem" -- \
    "$LOOM_HOME/slurm/reward.sbatch" "$run_dir/config/reward.ini" "$run_dir" "${stage_device[@]}" "${reward_opts[@]}"
  submit merge-reward reward "$run_dir/reward-merged" --mem="$merge_mem" -- \
    "$LOOM_HOME/slurm/merge.sbatch" "$run_dir" reward
fi
if [ -n "${listed[ppo]:-}" ]; then
  submit ppo "merge-sft merge-reward prep-prompts" "$run_dir/ppo" "${ranked[@]}" --mem="$train_mem" -- \
    "$LOOM_HOME/slurm/ppo.sbatch" "$run_dir/config/ppo.ini" "$run_dir" "${stage_device[@]}" "${ppo_opts[@]}"
fi
if [ -n "${listed[dpo]:-}" ]; then
  submit dpo "merge-sft prep-pairs" "$run_dir/dpo" "${ranked[@]}" --mem="$train_mem" -- \
    "$LOOM_HOME/slurm/dpo.sbatch" "$run_dir/config/dpo.ini" "$run_dir" "${stage_device[@]}" "${dpo_opts[@]}"
fi

echo "dependencies (job <- the jobs it waits for):"
printf '  %s\n' "${graph[@]}"
((!dry_run)) || exit 0
echo "run directory: $run_dir"
cat "$table"
job_list=$(tail -n +2 "$table" | awk '{print $2}' | paste -sd,)
echo "jobs: ${job_list//,/ }"
echo "watch: squeue -j $job_list"
