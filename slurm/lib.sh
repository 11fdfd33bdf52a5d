# shellcheck shell=bash
# What the stage scripts in slurm/ share: the run-directory layout, the checks that refuse a
# stage whose inputs are missing or incomplete, the launcher (srun or mpirun), and the
# graceful-stop-and-requeue wrapper. Sourced by each *.sbatch script:
#   source "${LOOM_HOME:-$SLURM_SUBMIT_DIR}/slurm/lib.sh"
#
# Environment (all optional):
#   LOOM_HOME       the loom source tree (default: the directory sbatch was run in)
#   LOOM, LOOM_PREP the programs (default: $LOOM_HOME/build/src/loom, .../build/data_prep/loom-prep)
#   LOOM_LAUNCHER   srun (default: srun --mpi=pmix) | mpirun
#   LOOM_SIGNAL_GRACE_S  a stop signal arriving this soon after launch is held back until the
#                   ranks have installed their handlers (default 10)
#
# Run directory (on a filesystem every node sees):
#   base/           the base model (HF folder with its tokenizer), or a symlink to one
#   config/         the stage configs the pipeline copied there (sft.ini, reward.ini, ppo.ini)
#   data/sft/ data/pairs/ data/prompts/   loom-prep shards + manifest.json (prep)
#   sft/ reward/ ppo/   checkpoint-N/, final/ (PEFT adapter), metrics.jsonl (training stages)
#   sft-merged/ reward-merged/   merged HF checkpoints (merge)
#   logs/           one Slurm log per job, STAGE-JOBID.out (a requeued job appends)

LOOM_HOME=${LOOM_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
LOOM=${LOOM:-$LOOM_HOME/build/src/loom}
LOOM_PREP=${LOOM_PREP:-$LOOM_HOME/build/data_prep/loom-prep}
readonly LOOM_EXIT_REQUEUE=75  # kExitRequeue in src/train/stop_request.h

loom_stage=${loom_stage:-stage}

loom_say() { echo "loom-slurm $loom_stage: $*"; }
loom_die() {
  echo "loom-slurm $loom_stage: error: $*" >&2
  exit 1
}

# Refuses to go on unless path is an executable program.
loom_require_program() {
  [ -x "$1" ] || loom_die "$1: no such program (build loom, or set LOOM / LOOM_PREP / LOOM_HOME)"
}

# Each check names the path, what is missing, and the stage that makes it.
loom_require_model() {  # DIR WHAT MADE_BY
  local dir=$1
  [ -s "$dir/config.json" ] || loom_die "$dir: no config.json; $2 is missing or incomplete ($3)"
  compgen -G "$dir/*.safetensors" >/dev/null ||
    loom_die "$dir: no *.safetensors; $2 is missing or incomplete ($3)"
}

loom_require_manifest() {  # DIR WHAT MADE_BY
  [ -s "$1/manifest.json" ] || loom_die "$1: no manifest.json; $2 is missing or incomplete ($3)"
}

loom_require_adapter() {  # DIR WHAT MADE_BY
  local f
  for f in adapter_config.json adapter_model.safetensors; do
    [ -s "$1/$f" ] || loom_die "$1: no $f; $2 is missing or incomplete ($3)"
  done
}

loom_require_run_dir() {
  [ -n "${1:-}" ] || loom_die "no run directory given"
  [ -d "$1" ] || loom_die "$1: run directory does not exist"
}

# OpenMP threads per rank follow the CPUs Slurm gave each task. How idle OpenMP threads wait
# is loom's own choice (src/core/runtime_tuning.h: a short spin, then sleep) unless the job
# exports OMP_WAIT_POLICY or GOMP_SPINCOUNT; mpirun passes those on to every rank.
loom_export_threads() {
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  [ "${loom_launcher[0]}" = mpirun ] || return 0
  local var
  for var in OMP_WAIT_POLICY GOMP_SPINCOUNT; do
    if [ -n "${!var:-}" ]; then loom_launcher+=(-x "$var"); fi
  done
}

# The tokenizer options of loom-prep for a model folder, one a line: the folder's own
# tokenizer (tokenizer.json, else tokenizer.model), as every loom stage takes it.
loom_tokenizer_args() {  # MODEL_DIR
  printf '%s\n' --model "$1"
}

# The launcher that starts one rank per task of the allocation, as an array to prefix a
# command with: "${loom_launcher[@]}" PROGRAM ARGS. A rank that dies ends the step: srun kills
# the others --wait seconds after the first task exits and names the task and host
# ("srun: error: HOST: task 1: Killed"); mpirun ends the job at once and names them
# ("mpirun noticed that process rank 1 with PID ... on node HOST exited on signal 9").
# shellcheck disable=SC2034  # used by the scripts that source this file
case ${LOOM_LAUNCHER:-srun} in
  srun)  # srun does not inherit --cpus-per-task from sbatch in Slurm 22.05: pass it on
    loom_launcher=(srun --mpi=pmix --wait=30 --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}") ;;
  mpirun)
    loom_launcher=(mpirun --bind-to none -x OMP_NUM_THREADS) ;;
  *) loom_die "LOOM_LAUNCHER=$LOOM_LAUNCHER: expected srun or mpirun" ;;
esac

# Runs a training command line (the launcher and loom) so that a stop request reaches loom:
# Slurm's warning signal before the time limit (--signal=B:USR1@N), SIGTERM (scancel,
# preemption), SIGINT and SIGHUP reach this shell, which passes SIGUSR1 on to the launcher,
# which passes it to every rank (mpirun forwards SIGUSR1 and exits with the ranks' status; on
# its own SIGTERM or SIGINT it exits 1 whatever they return: docs/distributed.md). loom then
# finishes the current optimizer step, writes a checkpoint and exits with 75; this function
# turns that into `scontrol requeue`, and the requeued job resumes with --train.resume auto.
# Outside Slurm, 75 is returned as it is. Any other status is returned unchanged.
loom_run_requeueable() {
  local status=0 launched child grace=${LOOM_SIGNAL_GRACE_S:-10}
  loom_stop_pending=0
  trap 'loom_stop_pending=1' USR1 TERM INT HUP
  "$@" &
  child=$!
  launched=$SECONDS
  while :; do
    if ((loom_stop_pending)); then
      if ((SECONDS - launched < grace)); then
        sleep 1  # too early: the ranks may not have installed their signal handlers yet
        continue
      fi
      loom_say "stop requested: asking the ranks to checkpoint and exit"
      kill -USR1 "$child" 2>/dev/null || true
      loom_stop_pending=0
    fi
    status=0
    wait "$child" || status=$?
    kill -0 "$child" 2>/dev/null || break  # it ended (a trapped signal only interrupts wait)
  done
  trap - USR1 TERM INT HUP
  if ((status == LOOM_EXIT_REQUEUE)) && [ -n "${SLURM_JOB_ID:-}" ]; then
    loom_say "stopped at a checkpoint; requeueing job $SLURM_JOB_ID (restart $((${SLURM_RESTART_COUNT:-0} + 1)))"
    scontrol requeue "$SLURM_JOB_ID" || loom_die "scontrol requeue $SLURM_JOB_ID failed; resubmit to resume"
    exit 0
  fi
  ((status == 0)) || loom_say "ended with status $status (a rank that died is named by the launcher above)"
  return "$status"
}
