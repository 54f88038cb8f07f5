#!/usr/bin/env python3
"""`atoll up`: a local cluster in one command. Starts the real supervisor
as a subprocess on a temporary data dir (master on a free port), checks
what it starts (hostnames, attributes, port file, prefixed logs), runs a
task through it, kills a component, stops it with SIGTERM (every child
gone, exit 0) and resumes it on the same data dir (same agent ids)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from atolltest import (ATOLL, RawScheduler, http_request, launch, run_tests,
                       task_info, wait_for)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Up:
    """One `atoll up` subprocess whose stdout is collected line by line."""

    def __init__(self, data_dir, agents=2, extra=()):
        self.dir = data_dir
        self.args = [ATOLL, "up", "--agents", str(agents), "--master-port", "0",
                     "--services-port", "0", "--data-dir", data_dir] + list(extra)
        self.lines = []
        self.lock = threading.Lock()
        self.proc = None
        self.port = None

    def start(self):
        # a port file of an earlier run must not be mistaken for this one's
        try:
            os.unlink(os.path.join(self.dir, "master.port"))
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def output(self):
        with self.lock:
            return list(self.lines)

    def saw(self, text):
        return any(text in l for l in self.output())

    def wait_up(self, agents, timeout=20):
        pf = os.path.join(self.dir, "master.port")

        def port():
            assert self.proc.poll() is None, "atoll up exited with %s" % self.proc.returncode
            with open(pf) as f:
                return int(f.read().strip())
        self.port = wait_for(port, timeout, "master.port")
        wait_for(lambda: len(self.active_agents()) == agents, timeout, "%d agents registered" % agents)
        wait_for(lambda: self.saw("cluster is up"), timeout, "the summary")
        return self

    def state(self):
        st, _, body = http_request(self.port, "GET", "/state")
        assert st == 200, (st, body)
        return json.loads(body)

    def active_agents(self):
        return {s["hostname"]: s for s in self.state()["slaves"] if s["active"]}

    def children(self):
        """PIDs whose parent is this `atoll up`."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.proc.pid:
                pids.append(int(d))
        return pids

    def stop(self, timeout=15):
        """SIGTERM; returns the exit status (kills and fails on timeout)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("atoll up did not stop within %ss" % timeout)

    def kill(self):
        for p in self.children():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def dump(self):
        sys.stderr.write("----- output of atoll up -----\n%s\n" % "\n".join(self.output()[-300:]))


class DataDir:
    """A temporary data dir; every `up` started through it is killed at
    the end, its output printed when the test failed, and the
    components' logs checked for sanitizer reports."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="atoll-up-")
        self.ups = []

    def up(self, **kw):
        u = Up(self.dir, **kw)
        self.ups.append(u)
        return u.start()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        for u in self.ups:
            if u.proc and u.proc.poll() is None:
                u.kill()
            if et is not None:
                u.dump()
        bad = None
        for u in self.ups:
            text = "\n".join(u.output())
            if any(m in text for m in SANITIZER_MARKS):
                bad = ("the output of atoll up", text[-20000:])
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text = f.read()
                if any(m in text for m in SANITIZER_MARKS):
                    bad = (name, text[-20000:])
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        if bad and et is None:
            raise AssertionError("sanitizer report in %s:\n%s" % bad)
        return False


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def run_one_task(port):
    s = RawScheduler(port, {"user": "root", "name": "up-test"})
    s.subscribe()
    o = s.expect("OFFERS")["offers"]["offers"][0]
    launch(s, o, [task_info("t1", o, "echo hi from up")])
    states = []
    while not states or states[-1] not in ("TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
        u = s.expect("UPDATE", timeout=20)["update"]["status"]
        s.ack(u)
        states.append(u["state"])
    s.close()
    assert states[-1] == "TASK_FINISHED", states
    return o["hostname"]


def test_up_runs_a_cluster_and_stops_cleanly():
    with DataDir() as d:
        u = d.up(agents=2).wait_up(2)
        agents = u.active_agents()
        assert sorted(agents) == ["agent1", "agent2"], agents
        assert agents["agent1"]["attributes"]["rack"] == "r1", agents["agent1"]
        assert agents["agent2"]["attributes"]["rack"] == "r2", agents["agent2"]
        # non-overlapping port ranges
        assert agents["agent1"]["resources"]["ports"] == "[31000-31999]", agents["agent1"]
        assert agents["agent2"]["resources"]["ports"] == "[32000-32999]", agents["agent2"]
        # logs are streamed under a prefix and kept per component
        wait_for(lambda: u.saw("master  | ") and u.saw("agent1  | ") and u.saw("agent2  | "),
                 5, "prefixed log lines")
        assert u.saw("http://127.0.0.1:%d" % u.port), "summary lacks the master URL"
        with open(os.path.join(d.dir, "agent2.log")) as f:
            assert "listening on" in f.read(), "agent2.log lacks the agent's log"
        for name in ("master", "agent1", "agent2"):
            assert os.path.getsize(os.path.join(d.dir, name + ".log")) > 0, name
        host = run_one_task(u.port)
        assert host in ("agent1", "agent2"), host
        # The services framework runs too: an app deploys through it.
        with open(os.path.join(d.dir, "services.port")) as f:
            sport = int(f.read())
        assert u.saw("http://127.0.0.1:%d" % sport), "summary lacks the services URL"
        app = json.dumps({"id": "/up-app", "cmd": "sleep 100", "cpus": 0.1, "mem": 16})
        st, _, body = http_request(sport, "POST", "/v2/apps", app, {"Content-Type": "application/json"})
        assert st == 201, (st, body)
        wait_for(lambda: json.loads(http_request(sport, "GET", "/v2/apps/up-app")[2])["app"]["tasksRunning"] == 1,
                 20, "the app's task running")
        # Leave nothing behind: the app's executor belongs to a
        # checkpointing framework and would wait for its agent.
        st, _, body = http_request(sport, "DELETE", "/v2/apps/up-app")
        assert st == 200, (st, body)
        wait_for(lambda: http_request(sport, "GET", "/v2/apps/up-app")[0] == 404, 20, "the app removed")
        kids = u.children()
        assert len(kids) == 4, kids
        t0 = time.time()
        assert u.stop() == 0
        assert time.time() - t0 < 12
        alive = [p for p in kids if pid_alive(p)]
        assert not alive, "children still running after stop: %s" % alive
        assert u.saw("stopped")


def test_up_resumes_the_same_agents():
    with DataDir() as d:
        u = d.up(agents=2).wait_up(2)
        ids = {h: a["id"] for h, a in u.active_agents().items()}
        assert u.stop() == 0
        u2 = d.up(agents=2).wait_up(2)
        ids2 = {h: a["id"] for h, a in u2.active_agents().items()}
        assert ids2 == ids, (ids, ids2)
        assert u2.stop() == 0


def test_up_reports_a_dead_component_and_keeps_the_rest():
    with DataDir() as d:
        u = d.up(agents=2).wait_up(2)
        victim = [p for p in u.children()
                  if ("--port-file\0%s" % os.path.join(d.dir, "agent2.port")).encode()
                  in open("/proc/%d/cmdline" % p, "rb").read()]
        assert len(victim) == 1, victim
        os.kill(victim[0], signal.SIGKILL)
        wait_for(lambda: u.saw("agent2 exited unexpectedly"), 5, "the death reported")
        assert u.proc.poll() is None, "atoll up exited when one agent died"
        assert "agent1" in u.active_agents()
        assert len(u.children()) == 3, u.children()  # master, agent1, services
        assert u.stop() == 0


def test_up_second_signal_kills_a_stuck_component():
    with DataDir() as d:
        u = d.up(agents=1).wait_up(1)
        kids = u.children()
        stuck = kids[-1]
        os.kill(stuck, signal.SIGSTOP)  # cannot act on SIGTERM now
        try:
            u.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            u.proc.send_signal(signal.SIGTERM)  # an echo: ignored
            time.sleep(0.3)
            assert u.proc.poll() is None, "atoll up did not wait for its stuck child"
            assert pid_alive(stuck)
            time.sleep(0.6)
            u.proc.send_signal(signal.SIGTERM)  # a real second request
            assert u.proc.wait(5) == 0
        finally:
            if pid_alive(stuck):
                os.kill(stuck, signal.SIGKILL)
        assert u.saw("again: SIGKILL"), u.output()
        assert u.saw("killed by signal 9"), u.output()
        assert not [p for p in kids if pid_alive(p)]


def test_up_refuses_a_data_dir_in_use():
    with DataDir() as d:
        u = d.up(agents=1).wait_up(1)
        r = subprocess.run([ATOLL, "up", "--agents", "1", "--master-port", "0", "--data-dir", d.dir],
                           capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        assert r.returncode == 1, r
        assert b"in use" in r.stdout + r.stderr, r
        assert len(u.active_agents()) == 1
        assert u.stop() == 0


def test_up_fails_when_the_master_cannot_start():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with DataDir() as d:
            u = Up(d.dir, agents=1)
            u.args[u.args.index("--master-port") + 1] = str(busy.getsockname()[1])
            d.ups.append(u)
            u.start()
            rc = u.proc.wait(15)
            assert rc == 1, rc
            assert u.saw("master exited during start-up"), u.output()
    finally:
        busy.close()


def test_up_bad_flags():
    for args, word in ((["--agents", "99"], "--agents"), (["--log-level", "loud"], "--log-level"),
                       (["--nope"], "nope")):
        r = subprocess.run([ATOLL, "up"] + args, capture_output=True, timeout=10)
        assert r.returncode == 2, (args, r)
        assert word.encode() in r.stderr, (args, r.stderr)


def up_is_routed():
    try:
        r = subprocess.run([ATOLL, "up", "--help"], capture_output=True, timeout=10)
    except OSError:
        return False
    return r.returncode == 0 and b"--data-dir" in r.stdout


if __name__ == "__main__":
    if not up_is_routed():
        print("SKIP test_up.py: `%s up --help` fails; `atoll up` is not routed "
              "in src/main.c yet" % ATOLL)
        sys.exit(0)
    run_tests([test_up_runs_a_cluster_and_stops_cleanly,
               test_up_resumes_the_same_agents,
               test_up_reports_a_dead_component_and_keeps_the_rest,
               test_up_second_signal_kills_a_stuck_component,
               test_up_refuses_a_data_dir_in_use,
               test_up_fails_when_the_master_cannot_start,
               test_up_bad_flags])
