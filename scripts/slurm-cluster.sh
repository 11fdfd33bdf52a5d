#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for testing slurm/ (Debian 12, as root,
# without systemd). Everything lives in one state folder; /etc/slurm is left alone.
#
#   scripts/slurm-cluster.sh install   apt-get install slurm-wlm munge (only what is missing)
#   scripts/slurm-cluster.sh start     write slurm.conf, start munged (unless one answers),
#                                      slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-cluster.sh stop      kill the daemons this script started, by their PIDs
#   scripts/slurm-cluster.sh env       print `export SLURM_CONF=...` for the client commands
#
# start and stop are idempotent: start on a running cluster only checks it, stop on a stopped
# one does nothing. State folder: $LOOM_SLURM_STATE (default /tmp/loom-slurm).
#
# Settings that matter for a test cluster (each learnt the hard way):
#   ProctrackType=proctrack/linuxproc, TaskPlugin=task/none   no cgroups needed
#   DependencyParameters=kill_invalid_depend   a failed parent cancels its afterok children
#   SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2
#                             jobs start in about 1 s, a requeued one soon after its delay
#   AuthInfo=cred_expire=5    a requeued job waits about cred_expire + 1 s before it may
#                             start again (default 120 s)
#   MpiDefault=pmix   Debian's Open MPI has PMIx but no PMI-2
set -euo pipefail

state_dir=${LOOM_SLURM_STATE:-/tmp/loom-slurm}
conf=$state_dir/slurm.conf
host=$(hostname -s)

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: error: $*" >&2; exit 1; }

install_packages() {
  local missing=() p
  for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

# True when the PID in pid_file names a live process.
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  local mem_mb
  mem_mb=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024))
  mkdir -p "$state_dir"/{spool/ctld,spool/d,log}
  cat >"$conf" <<EOF
ClusterName=loomtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=5
StateSaveLocation=$state_dir/spool/ctld
SlurmdSpoolDir=$state_dir/spool/d
SlurmctldPidFile=$state_dir/slurmctld.pid
SlurmdPidFile=$state_dir/slurmd.pid
SlurmctldLogFile=$state_dir/log/slurmctld.log
SlurmdLogFile=$state_dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
JobRequeue=1
KillWait=10
DependencyParameters=kill_invalid_depend
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi  # one already answers
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --force
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge  # systemd-tmpfiles would make it
  runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1
  cp /run/munge/munged.pid "$state_dir/munged.pid"
  munge -n | unmunge >/dev/null || die "munged does not answer"
}

node_idle() { sinfo -h -N -o %t 2>/dev/null | grep -qx idle; }

start() {
  [ "$(id -u)" -eq 0 ] || die "start needs root (slurmd runs jobs as any user)"
  install_packages
  export SLURM_CONF=$conf
  if alive "$state_dir/slurmctld.pid" && alive "$state_dir/slurmd.pid"; then
    node_idle || sinfo -h -N -o %t | grep -qE '^(alloc|mix)' || die "cluster running but node not usable: $(sinfo -h -N -o %t)"
    say "already running (SLURM_CONF=$conf)"
    return 0
  fi
  stop  # a half-started cluster from an earlier, killed run
  write_conf
  start_munge
  /usr/sbin/slurmctld -f "$conf" -c </dev/null >/dev/null 2>&1  # -c: forget an earlier run's jobs
  /usr/sbin/slurmd -f "$conf" -N "$host" </dev/null >/dev/null 2>&1
  local _
  for _ in $(seq 120); do node_idle && break; sleep 0.5; done
  node_idle || { tail -n 20 "$state_dir"/log/*.log >&2; die "node $host did not become idle"; }
  say "running: node $host, $(nproc) CPUs; export SLURM_CONF=$conf"
}

# Kills the daemon whose PID is in pid_file (if it lives) and waits up to 10 s for it to go.
stop_daemon() {
  local pid_file=$1 pid _
  [ -s "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pid_file"
}

stop() {
  stop_daemon "$state_dir/slurmd.pid"
  stop_daemon "$state_dir/slurmctld.pid"
  stop_daemon "$state_dir/munged.pid"
}

case ${1:-} in
  install) install_packages ;;
  start) start ;;
  stop) stop && say "stopped" ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
