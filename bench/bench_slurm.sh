#!/bin/sh
# bench_slurm.sh: Slurm on the same machine, for the side-by-side figure of
# bench/run.sh. Starts munged (if none runs), slurmctld and slurmd on
# loopback with a private configuration and state under a temporary
# directory, submits N x `sbatch --wrap true` and times submit to all
# finished, RUNS times, then stops the daemons it started (by PID).
#
# Public tools only: Debian's slurmctld, slurmd, slurm-client and munge
# packages, installed here when missing (as scripts/deps.sh does).
# Tuning (the approach of the peers' loopback script): the scheduler runs
# at once on every submission (batch_sched_delay=0, sched_min_interval=0)
# instead of every few seconds, and the node advertises SLURM_NODE_CPUS
# CPUs (default 64, oversubscribing the 2 cores as Atoll's tasks of 0.01
# cpus do) so that jobs are not serialised two at a time.
#
# Output, one line per run:
#   slurm tasks=N run=R submit_s=S all_done_s=T
# Usage: bench_slurm.sh [N] [RUNS]
set -eu
N=${1:-1000}
RUNS=${2:-3}
CPUS=${SLURM_NODE_CPUS:-64}

need=""
for p in slurmctld slurmd slurm-client munge; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
	echo "bench_slurm: installing$need" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	inst="$SUDO apt-get install -y -q --no-install-recommends"
	if ! $inst $need >/dev/null; then
		$SUDO apt-get update -q >/dev/null
		$inst $need >/dev/null
	fi
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/atoll-bench-slurm-XXXXXX")
export SLURM_CONF="$DIR/slurm.conf"
started_munge=""
stop() {
	for f in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	[ -n "$started_munge" ] && kill "$started_munge" 2>/dev/null || true
	sleep 0.5
	rm -rf "$DIR"
}
trap stop EXIT INT TERM

mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/out"
if ! [ -S /run/munge/munge.socket.2 ]; then
	install -d -o munge -g munge -m 0755 /run/munge
	runuser -u munge -- /usr/sbin/munged
	sleep 0.3
	started_munge=$(cat /run/munge/munged.pid)
fi
# two free ports, so that a Slurm already running elsewhere is untouched
set -- $(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
CTLD_PORT=$1
SLURMD_PORT=$2
HOST=$(hostname -s)
MEMMB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512))
cat >"$SLURM_CONF" <<CFG
ClusterName=atollbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=error
SlurmdDebug=error
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MaxJobCount=100000
MinJobAge=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMMB State=UNKNOWN
PartitionName=bench Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CFG
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
i=0
until sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "bench_slurm: slurm not ready" >&2
		cat "$DIR"/log/*.log >&2 || true
		exit 1
	fi
	sleep 0.1
done

cd "$DIR/out"
r=1
while [ $r -le "$RUNS" ]; do
	t0=$(date +%s.%N)
	i=0
	while [ $i -lt "$N" ]; do
		sbatch -Q -o /dev/null --wrap true
		i=$((i + 1))
	done
	t1=$(date +%s.%N)
	while [ "$(squeue -h -t PD,R,CG 2>/dev/null | wc -l)" -gt 0 ]; do
		sleep 0.05
	done
	t2=$(date +%s.%N)
	echo "slurm tasks=$N run=$r submit_s=$(echo "$t1 - $t0" | bc)" \
		"all_done_s=$(echo "$t2 - $t0" | bc)"
	r=$((r + 1))
done
