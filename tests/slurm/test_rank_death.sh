#!/usr/bin/env bash
# A rank that dies ends the whole job within 60 s, with a message naming the rank and host,
# under both launchers (srun --mpi=pmix and mpirun): rank 1 of a 2-rank `loom sft` job is
# killed with SIGKILL in the middle of training, while rank 0 waits for it in a collective.
# Usage: test_rank_death.sh BUILD_DIR WORK_DIR, after test_pipeline.sh with the same WORK_DIR.
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"
use_build "${1:-}"
work=${2:?usage: $0 BUILD_DIR WORK_DIR}
reference=$work/repo/out/tiny-run  # made by test_pipeline.sh
expect_file "$reference/data/sft/manifest.json"  # made by test_pipeline.sh
host=$(hostname -s)
loom_exe=$(readlink -f "$LOOM")

# The PID of rank 1 among the job's processes: srun sets SLURM_PROCID, mpirun OMPI_COMM_WORLD_RANK.
rank1_pid() {  # JOB
  local pid
  for pid in $(scontrol listpids "$1" 2>/dev/null | awk 'NR > 1 {print $1}'); do
    [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$loom_exe" ] || continue
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxE '(SLURM_PROCID|OMPI_COMM_WORLD_RANK)=1' &&
      { echo "$pid"; return; }
  done
}

for launcher in srun mpirun; do
  run=$work/death-$launcher
  rm -rf "$run"
  mkdir -p "$run/logs"
  ln -s "$reference/base" "$run/base"
  ln -s "$reference/data" "$run/data"
  job=$(LOOM_LAUNCHER=$launcher sbatch --parsable --time=5 \
    --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 --output="$run/logs/sft-%j.out" \
    "$LOOM_SOURCE_DIR/slurm/sft.sbatch" "$reference/config/sft.ini" "$run" --run.device cpu \
    --train.max_steps 100000 --train.save_steps 0 --train.eval_steps 0 --train.logging_steps 1)
  log=$run/logs/sft-$job.out
  for _ in $(seq 120); do grep -q '^step ' "$log" 2>/dev/null && break; sleep 0.5; done
  grep -q '^step ' "$log" || { scancel "$job"; fail "$launcher: job $job never started training (log $log)"; }
  pid=$(rank1_pid "$job")
  [ -n "$pid" ] || { scancel "$job"; fail "$launcher: no rank-1 loom process in job $job"; }
  kill -9 "$pid"
  killed=$SECONDS
  state=$(wait_job "$job" 90)
  took=$((SECONDS - killed))
  note "$launcher: killed rank 1 (PID $pid); job $job ended $state after $took s"
  [ "$state" = FAILED ] || fail "$launcher: job $job ended $state, not FAILED (log $log)"
  ((took < 60)) || fail "$launcher: job $job took $took s to end after a rank died"
  grep -E "(task|rank) 1\b" "$log" | grep -q "$host" ||
    fail "$launcher: no message naming rank 1 and host $host in $log"
  note "$launcher: $(grep -E "(task|rank) 1\b" "$log" | grep "$host" | head -n 1)"
done
