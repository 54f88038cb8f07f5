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
	echo "Raw lines:"
	echo
	echo '```'
	cat "$tmp"
	echo '```'
} >"$out"
echo "wrote $out"
