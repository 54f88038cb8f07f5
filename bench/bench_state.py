#!/usr/bin/env python3
"""/state at scale, and /health latency while /state is fetched in a loop.

A real master on loopback is filled through the real agent protocol:
simulated agents subscribe to /api/v1/agent reporting their frameworks
and tasks (the reregistration path), so the master holds AGENTS agents and
AGENTS*TASKS tasks exactly as it would after a failover. Then:
  - /state: size and latency (median, p99 over several fetches);
  - /health: p50/p99 latency measured while another connection fetches
    /state back to back, next to /health alone.
Prints one key=value line. Usage: bench_state.py ATOLL AGENTS TASKS_PER_AGENT

The master pings every agent (GET /health on its advertised port) and
marks silent ones unreachable after --agent-ping-timeout x
--max-agent-ping-timeouts. These simulated agents have no HTTP server (and
10k of them could not hold a ping connection each within this machine's
20k-fd limit besides their streams), so the master runs with
--agent-ping-timeout 1hrs: no ping is due during the run. Pings under load
are exercised by bench_master.c, whose agents answer them.
"""

import http.client
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def post_stream(port, body):
    s = socket.create_connection(("127.0.0.1", port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /api/v1/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return s


def drain(socks, stop):
    while not stop.is_set():
        for s in socks:
            try:
                s.setblocking(False)
                while s.recv(65536):
                    pass
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.05)


def get(conn, path):
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return time.perf_counter() - t0, len(body), r.status


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def main():
    atoll, agents, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # one connection per simulated agent, here and in the master
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, agents + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    d = tempfile.mkdtemp(prefix="atoll-bench-state-")
    pf = os.path.join(d, "port")
    m = subprocess.Popen([atoll, "master", "--port", "0", "--port-file", pf, "--log-level", "warn",
                          "--max-connections", str(agents + 1000),
                          "--agent-ping-timeout", "1hrs"],
                         stderr=open(os.path.join(d, "log"), "wb"))
    try:
        while not os.path.exists(pf) or not open(pf).read().strip():
            time.sleep(0.02)
        port = int(open(pf).read())
        fw = {"id": {"value": "bench-fw"}, "user": "root", "name": "bench", "checkpoint": True}
        res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}},
               {"name": "mem", "type": "SCALAR", "scalar": {"value": 1}}]
        socks = []
        t0 = time.time()
        for a in range(agents):
            tasks = [{"task_id": {"value": "t-%d-%d" % (a, i)}, "framework_id": {"value": "bench-fw"},
                      "executor_id": {"value": "t-%d-%d" % (a, i)}, "name": "bench task",
                      "state": "TASK_RUNNING", "resources": res} for i in range(per)]
            body = {"type": "SUBSCRIBE", "subscribe": {
                "agent_info": {"id": {"value": "bench-agent-%d" % a}, "hostname": "sim%d" % a,
                               "port": 5051,
                               "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 64}},
                                             {"name": "mem", "type": "SCALAR", "scalar": {"value": 262144}}],
                               "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r%d" % (a % 10)}}]},
                "frameworks": [fw], "tasks": tasks}}
            socks.append(post_stream(port, body))
        stop = threading.Event()
        threading.Thread(target=drain, args=(socks, stop), daemon=True).start()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            st = json.loads((c.request("GET", "/metrics/snapshot"), c.getresponse().read())[1])
            if st["master/slaves_active"] == agents and st["master/tasks_running"] == agents * per:
                break
            time.sleep(0.1)
        fill = time.time() - t0
        rss_kb = int([l for l in open("/proc/%d/status" % m.pid) if l.startswith("VmRSS")][0].split()[1])

        state_t = []
        size = 0
        for _ in range(7):
            t, size, s = get(c, "/state")
            assert s == 200
            state_t.append(t)
        h = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        alone = [get(h, "/health")[0] for _ in range(200)]

        busy = threading.Event()
        done = threading.Event()

        def hammer():
            hc = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while not done.is_set():
                get(hc, "/state")
                busy.set()

        th = threading.Thread(target=hammer, daemon=True)
        th.start()
        busy.wait(60)
        loaded = []
        t_end = time.time() + 3
        while time.time() < t_end:
            loaded.append(get(h, "/health")[0])
            time.sleep(0.005)
        done.set()
        th.join(120)
        stop.set()
        print("state agents=%d tasks=%d fill_s=%.2f rss_mb=%.1f state_bytes=%d state_ms_median=%.1f "
              "state_ms_p99=%.1f health_alone_ms_p50=%.3f health_alone_ms_p99=%.3f "
              "health_under_state_ms_p50=%.3f health_under_state_ms_p99=%.3f health_samples=%d" % (
                  agents, agents * per, fill, rss_kb / 1024.0, size, statistics.median(state_t) * 1000,
                  max(state_t) * 1000, pct(alone, 50) * 1000, pct(alone, 99) * 1000,
                  pct(loaded, 50) * 1000, pct(loaded, 99) * 1000, len(loaded)))
        for s in socks:
            s.close()
    finally:
        m.terminate()
        m.wait(10)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
