#!/bin/sh
# make demo: a local cluster (one master, two agents on 127.0.0.1) running
# the example framework, which launches tasks through the Mesos v1
# scheduler API and reports their states. The cluster keeps running until
# Ctrl-C (or exits at once with DEMO_EXIT=1). State lives in .atoll/demo.
set -eu
: "${ATOLL:?}" "${BUILD:?}"
DIR=${DEMO_DIR:-.atoll/demo}
mkdir -p "$DIR"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_port() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "demo: $2 did not start; see $DIR/$2.log" >&2; exit 1; }
		sleep 0.05
	done
	cat "$1"
}

rm -f "$DIR"/*.port
"$ATOLL" master --port 0 --port-file "$DIR/master.port" 2>"$DIR/master.log" &
pids="$pids $!"
MPORT=$(wait_port "$DIR/master.port" master)
for i in 1 2; do
	"$ATOLL" agent --port 0 --port-file "$DIR/agent$i.port" \
		--master "127.0.0.1:$MPORT" --work-dir "$DIR/agent$i" \
		--hostname "agent$i" --attributes "rack:r$i" \
		--resources "cpus:2;mem:2048;disk:4096;ports:[3${i}000-3${i}999]" \
		2>"$DIR/agent$i.log" &
	pids="$pids $!"
	wait_port "$DIR/agent$i.port" "agent$i" >/dev/null
done
echo "master:  http://127.0.0.1:$MPORT   (try: curl -s 127.0.0.1:$MPORT/state)"
echo "agents:  agent1, agent2   logs in $DIR/"
echo
echo "running the example framework (build/examples/hello_framework):"
"$BUILD/examples/hello_framework" --master "127.0.0.1:$MPORT" --tasks 6 \
	--cmd 'echo "hello from $MESOS_EXECUTOR_ID on $(hostname)"'
echo
echo "what the tasks printed (their sandboxes' stdout files):"
for f in "$DIR"/agent*/slaves/*/frameworks/*/executors/*/runs/latest/stdout; do
	[ -f "$f" ] && sed 's/^/  /' "$f"
done | head -6
echo
curl -s "127.0.0.1:$MPORT/metrics/snapshot" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print("cluster: %d agents, %.0f cpus, %.0f MB; tasks finished: %d" % (
    m["master/slaves_active"], m["master/cpus_total"], m["master/mem_total"],
    m["master/tasks_finished"]))'
[ "${DEMO_EXIT:-0}" = 1 ] && exit 0
echo "the cluster keeps running; Ctrl-C stops it"
wait
