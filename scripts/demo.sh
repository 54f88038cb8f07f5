#!/bin/sh
# make demo: `atoll up` starts a local cluster (a master, two agents and the
# services framework on 127.0.0.1, state in .atoll/demo), then the example
# framework launches tasks through the Mesos v1 scheduler API and reports
# their states, and the slides' /product group (a database layer, then the
# services that depend on it) deploys through the Marathon v2 API. The
# cluster keeps running until Ctrl-C (or stops at once with DEMO_EXIT=1);
# whatever the demo started is stopped when it ends. A second run resumes
# the same agents (their work dirs are kept in .atoll/demo).
set -eu
: "${ATOLL:?}" "${BUILD:?}"
DIR=${DEMO_DIR:-.atoll/demo}
mkdir -p "$DIR"
OUT="$DIR/up.out"

pids=""
cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "demo: $1; see $OUT and $DIR/*.log" >&2
	exit 1
}

# `atoll up` writes master.port when the master listens; its own output
# (every component's log lines under a prefix) goes to $OUT.
rm -f "$DIR/master.port"
marker="$DIR/.demo-start"
: >"$marker"
rm -f "$DIR/services.port"
"$ATOLL" up --data-dir "$DIR" --agents 2 --master-port 0 --services-port 0 \
	--agent-resources "cpus:2;mem:2048;disk:4096" >"$OUT" 2>&1 &
up_pid=$!
pids=$up_pid

i=0
until [ -s "$DIR/master.port" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "the master did not start"
	kill -0 "$up_pid" 2>/dev/null || fail "atoll up exited"
	sleep 0.05
done
MPORT=$(cat "$DIR/master.port")

# Wait until both agents are registered and active.
i=0
until curl -sf "127.0.0.1:$MPORT/state" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if sum(a["active"] for a in s["slaves"]) >= 2 else 1)'; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "the agents did not register"
	kill -0 "$up_pid" 2>/dev/null || fail "atoll up exited"
	sleep 0.05
done

echo "master:  http://127.0.0.1:$MPORT   (try: curl -s 127.0.0.1:$MPORT/state)"
echo "agents:  agent1, agent2   logs in $DIR/ (all of them: $OUT)"
echo
echo "running the example framework (build/examples/hello_framework):"
"$BUILD/examples/hello_framework" --master "127.0.0.1:$MPORT" --tasks 6 \
	--cmd 'echo "hello from $MESOS_EXECUTOR_ID on $(hostname)"'
echo
echo "what the tasks printed (their sandboxes' stdout files):"
for f in "$DIR"/agent*/slaves/*/frameworks/*/executors/*/runs/latest/stdout; do
	[ -f "$f" ] && [ "$f" -nt "$marker" ] && sed 's/^/  /' "$f"
done | head -6
echo
curl -s "127.0.0.1:$MPORT/metrics/snapshot" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print("cluster: %d agents, %.0f cpus, %.0f MB; tasks finished: %d" % (
    m["master/slaves_active"], m["master/cpus_total"], m["master/mem_total"],
    m["master/tasks_finished"]))'

i=0
until [ -s "$DIR/services.port" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "the services framework did not start"
	sleep 0.05
done
SPORT=$(cat "$DIR/services.port")
echo
echo "services: http://127.0.0.1:$SPORT   (Marathon v2 API)"
echo "deploying examples/services/marathon-product-group.json (database first, then the services):"
code=$(curl -s -o "$DIR/deploy.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data @examples/services/marathon-product-group.json "127.0.0.1:$SPORT/v2/groups/product")
case "$code" in 200|201) ;; *) cat "$DIR/deploy.out" >&2; fail "the deployment was refused ($code)" ;; esac
i=0
until [ "$(curl -sf "127.0.0.1:$SPORT/v2/deployments")" = "[]" ]; do
	i=$((i + 1))
	[ $i -gt 600 ] && fail "the deployment did not finish"
	sleep 0.1
done
curl -s "127.0.0.1:$SPORT/v2/apps" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["apps"]:
    print("  %-28s %d/%d running" % (a["id"], a["tasksRunning"], a["instances"]))'
echo
echo "the CLI: atoll agents --master 127.0.0.1:$MPORT"
"$ATOLL" agents --master "127.0.0.1:$MPORT" || true
echo
echo "next: build/atoll run --master 127.0.0.1:$MPORT -- echo hi"
echo "      build/atoll tasks --all --master 127.0.0.1:$MPORT"
echo "      build/atoll events --master 127.0.0.1:$MPORT"
echo "      build/atoll task logs hello-1 --master 127.0.0.1:$MPORT"
echo "      curl -s 127.0.0.1:$SPORT/v2/apps; curl -N 127.0.0.1:$SPORT/v2/events"
if [ "${DEMO_EXIT:-0}" = 1 ]; then
	# Leave nothing running: the services' tasks belong to a
	# checkpointing framework and would wait for their agents otherwise.
	curl -s -o /dev/null -X DELETE "127.0.0.1:$SPORT/v2/groups/product?force=true"
	i=0
	until [ "$(curl -sf "127.0.0.1:$SPORT/v2/deployments")" = "[]" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "the demo's apps did not stop"
		sleep 0.1
	done
	exit 0
fi
echo "the cluster keeps running; Ctrl-C stops it"
wait
