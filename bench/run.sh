#!/bin/sh
# make bench: runs Atoll's benchmarks and writes bench/RESULTS.md with the
# machine, the date, the commit and every figure (median of several runs)
# next to its target. Uses public tools only. BENCH_SMOKE=1 runs the
# smallest sizes (what make check does to prove the benchmarks work).
set -eu
: "${BUILD:?}"
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench/RESULTS.md}
smoke=""
[ "${BENCH_SMOKE:-0}" = 1 ] && smoke="--smoke"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

"$BUILD/bench/bench_alloc" $smoke --runs "${BENCH_RUNS:-5}" >"$tmp"
[ -n "$smoke" ] && { cat "$tmp"; exit 0; }

# End to end: a master and one agent on loopback, the example framework
# (C library) launching N trivial tasks; next to the floor of fork+exec
# of `true` N times from a shell, measured in the same run.
N=${BENCH_TASKS:-1000}
e2e=$(mktemp -d)
pids=""
stop() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
"$BUILD/atoll" master --port 0 --port-file "$e2e/m" --log-level warn 2>"$e2e/m.log" & pids="$pids $!"
while [ ! -s "$e2e/m" ]; do sleep 0.02; done
"$BUILD/atoll" agent --port 0 --port-file "$e2e/a" --master "127.0.0.1:$(cat "$e2e/m")" \
	--work-dir "$e2e/agent" --resources "cpus:2;mem:65536;disk:1024;ports:[31000-31001]" \
	--log-level info 2>"$e2e/a.log" & pids="$pids $!"
while [ ! -s "$e2e/a" ]; do sleep 0.02; done
e2e_runs=""
for r in 1 2 3; do
	t0=$(date +%s.%N)
	"$BUILD/examples/hello_framework" --master "127.0.0.1:$(cat "$e2e/m")" --tasks "$N" \
		--cpus 0.01 --mem 1 --cmd true >"$e2e/hello.out" 2>&1 || { stop; cat "$e2e/hello.out"; exit 1; }
	t1=$(date +%s.%N)
	e2e_runs="$e2e_runs $(echo "$t1 - $t0" | bc)"
done
stop
iso=$(grep -m1 -o 'isolation=.*' "$e2e/a.log" | sed 's/ root=.*//')
[ -n "$iso" ] || iso="unknown"
floor_runs=""
for r in 1 2 3; do
	t0=$(date +%s.%N)
	i=0; while [ $i -lt "$N" ]; do /bin/true; i=$((i + 1)); done
	t1=$(date +%s.%N)
	floor_runs="$floor_runs $(echo "$t1 - $t0" | bc)"
done
rm -rf "$e2e"
# /state at scale through the real agent protocol, and /health meanwhile
state_lines=""
for size in "1000 10" "10000 10"; do
	set -- $size
	state_lines="$state_lines$(python3 bench/bench_state.py "$BUILD/atoll" "$1" "$2")
"
done
med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'; }
spread() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.3f-%.3f", lo, hi}'; }
e2e_med=$(med $e2e_runs)
floor_med=$(med $floor_runs)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
	echo "# Atoll benchmark results"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "- machine: $cpu, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo
	echo "## Allocator (in process, no I/O; bench/bench_alloc.c)"
	echo
	echo "Agents cpus:2;mem:1024;disk:4096;ports:[31000-32000] as in Mesos's"
	echo "allocator benchmarks. full = one full allocation pass (CPU time,"
	echo "median of the runs); incr = one incremental pass after one agent's"
	echo "resources come back; filtered = an incremental pass over every agent"
	echo "when every framework holds a refuse filter; spread = max-min DRF"
	echo "share across frameworks after a pass (0 = perfectly fair)."
	echo
	echo "| agents | frameworks | roles | full ms | incr us | filtered ms | spread | target (full <= 50 ms at 50k x 1k) |"
	echo "|---|---|---|---|---|---|---|---|"
	awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		t = "";
		if (v["agents"] == 50000 && v["frameworks"] == 1000)
			t = (v["full_ms"] + 0 <= 50) ? "met" : "not met";
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", v["agents"],
			v["frameworks"], v["roles"], v["full_ms"], v["incr_us"],
			v["filtered_ms"], v["share_spread"], t
	}' "$tmp"
	echo
	echo "## Real launches on one agent (examples/hello_framework, loopback)"
	echo
	echo "$N tasks running \`true\`, each under its own \`atoll executor\`, submit to"
	echo "all FINISHED and acknowledged; isolation: $iso (the agent's default:"
	echo "one cgroup per container when running as root with cgroups)."
	echo "Floor: fork+exec of \`true\` $N times from sh, same run."
	echo
	echo "| figure | median s | runs (min-max) |"
	echo "|---|---|---|"
	echo "| $N tasks end to end | $e2e_med | $(spread $e2e_runs) |"
	echo "| floor: $N x fork+exec true | $floor_med | $(spread $floor_runs) |"
	echo "| ratio to floor | $(echo "scale=1; $e2e_med / $floor_med" | bc) | target <= 3x (with isolation, issue 7) |"
	echo
	echo "## /state at scale and /health meanwhile (bench/bench_state.py)"
	echo
	echo "Simulated agents register over the real agent protocol reporting their"
	echo "tasks; /state is served from a forked copy-on-write snapshot, so the"
	echo "master's loop only pays for fork()."
	echo
	echo "| agents | tasks | master RSS MB | KiB/task (approx.) | /state MB | /state ms (median) | /health p99 ms alone | /health p99 ms under /state | targets: /state <= 300 ms, /health p99 <= 10 ms at 10k/100k |"
	echo "|---|---|---|---|---|---|---|---|---|"
	printf "%s" "$state_lines" | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		t = "";
		if (v["agents"] == 10000)
			t = sprintf("/state %s, /health %s", (v["state_ms_median"] <= 300) ? "met" : "not met",
				(v["health_under_state_ms_p99"] <= 10) ? "met" : "not met");
		printf "| %s | %s | %s | %.2f | %.1f | %s | %s | %s | %s |\n", v["agents"], v["tasks"], v["rss_mb"],
			v["rss_mb"] * 1024 / v["tasks"], v["state_bytes"] / 1048576, v["state_ms_median"],
			v["health_alone_ms_p99"], v["health_under_state_ms_p99"], t
	}'
	echo
	echo "Raw lines:"
	echo
	echo '```'
	cat "$tmp"
	printf "%s" "$state_lines"
	echo '```'
} >"$out"
echo "wrote $out"
