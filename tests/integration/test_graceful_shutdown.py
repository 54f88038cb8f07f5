#!/usr/bin/env python3
"""Aurora's graceful shutdown in `atoll executor`, seen by a raw v1
scheduler: a task labelled atoll.shutdown.port is asked to stop with
POST /quitquitquit, then POST /abortabortabort, before SIGTERM and SIGKILL
(docs/executor.md). The tasks are small Python HTTP servers that log what
they receive (requests and SIGTERM, with the time) in their sandbox."""

import os
import socket
import sys
import time

from atolltest import Cluster, RawScheduler, launch, run_tests, task_info, wait_for

FW = {"user": "root", "name": "graceful-shutdown",
      "capabilities": [{"type": "TASK_KILLING_STATE"}]}

# argv: mode port. polite: exits on /quitquitquit (and on SIGTERM);
# stubborn: answers /quitquitquit and carries on, never answers
# /abortabortabort, ignores SIGTERM; plain: exits on SIGTERM.
SERVER = r'''
import http.server, os, signal, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
log = open("requests.log", "a")
def note(what):
    log.write("%.3f %s\n" % (time.time(), what))
    log.flush()
def on_term(sig, frame):
    note("SIGTERM")
    if mode != "stubborn":
        os._exit(0)
signal.signal(signal.SIGTERM, on_term)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        note("%s %s" % (self.command, self.path))
        if mode == "stubborn" and self.path == "/abortabortabort":
            time.sleep(120)
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.wfile.flush()
        if mode == "polite" and self.path == "/quitquitquit":
            os._exit(0)
    do_GET = do_POST
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.daemon_threads = True
note("listening")
srv.serve_forever()
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def labels(**kv):
    return {"labels": [{"key": "atoll.shutdown." + k, "value": v} for k, v in kv.items()]}


def server_task(tid, offer, mode, port, extra=None):
    t = task_info(tid, offer, sys.executable, shell=False, extra=extra)
    t["command"]["arguments"] = [sys.executable, "-c", SERVER, mode, str(port)]
    return t


class Updates:
    """Every UPDATE, by task, acknowledged and recorded once, with the
    time it arrived."""

    def __init__(self, sched):
        self.s = sched
        self.by_task = {}
        self.uuids = set()

    def pump(self, timeout):
        ev = self.s.expect("UPDATE", timeout)
        st = ev["update"]["status"]
        st["_received"] = time.time()
        self.s.ack(st)
        if st.get("uuid") in self.uuids:
            return
        self.uuids.add(st.get("uuid"))
        self.by_task.setdefault(st["task_id"]["value"], []).append(st)

    def of(self, tid):
        return self.by_task.get(tid, [])

    def states(self, tid):
        return [st["state"] for st in self.of(tid)]

    def wait_state(self, tid, state, timeout=20):
        deadline = time.time() + timeout
        while True:
            found = [st for st in self.of(tid) if st["state"] == state]
            if found:
                return found[0]
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out waiting for %s %s; updates: %r"
                                     % (tid, state, self.by_task))
            try:
                self.pump(left)
            except AssertionError:
                pass


def start(c, tasks_of_offer):
    s = RawScheduler(c.master.port, dict(FW))
    code, ev = s.subscribe()
    assert code == 200, ev
    o = s.expect("OFFERS")["offers"]["offers"][0]
    st, _, body = launch(s, o, tasks_of_offer(o))
    assert st == 202, (st, body)
    return s, Updates(s)


def sandbox_log(c, tid):
    """The lines of the task's requests.log: [(time, what)]."""
    for root, _, files in os.walk(c.agents[0].dir):
        if "/executors/%s/runs/" % tid in root + "/" and "requests.log" in files:
            with open(os.path.join(root, "requests.log")) as f:
                return [(float(l.split(" ", 1)[0]), l.split(" ", 1)[1].strip())
                        for l in f if l.strip()]
    return None


def events(c, tid):
    return [what for _, what in sandbox_log(c, tid) or []]


def wait_listening(c, u, tid):
    u.wait_state(tid, "TASK_RUNNING")
    wait_for(lambda: "listening" in events(c, tid), 20, "%s listening" % tid)


def kill(s, tid):
    st, _, body = s.call("KILL", {"task_id": {"value": tid}})
    assert st == 202, (st, body)
    return time.time()


def test_polite_task_quits_on_quitquitquit():
    port = free_port()
    with Cluster() as c:
        s, u = start(c, lambda o: [server_task("polite", o, "polite", port,
                                               extra={"labels": labels(port=str(port))})])
        wait_listening(c, u, "polite")
        t0 = kill(s, "polite")
        final = u.wait_state("polite", "TASK_KILLED")
        # well before quit_wait (5 s by default) would have passed
        assert final["_received"] - t0 < 3, final["_received"] - t0
        assert u.states("polite") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
                                      "TASK_KILLED"], u.states("polite")
        assert final["message"] == "Command exited with status 0", final
        assert final["source"] == "SOURCE_EXECUTOR", final
        assert events(c, "polite") == ["listening", "POST /quitquitquit"], sandbox_log(c, "polite")
        s.close()


def stubborn_task(agent_args=()):
    port = free_port()
    waits = {"quit": 1.0, "abort": 1.5, "grace": 1.0}
    extra = {"labels": labels(port=str(port), quit_wait="1", abort_wait="1.5"),
             "kill_policy": {"grace_period": {"nanoseconds": int(waits["grace"] * 1e9)}}}
    with Cluster(agent_args=agent_args) as c:
        s, u = start(c, lambda o: [server_task("stubborn", o, "stubborn", port, extra=extra)])
        wait_listening(c, u, "stubborn")
        t0 = kill(s, "stubborn")
        final = u.wait_state("stubborn", "TASK_KILLED", timeout=30)
        log = sandbox_log(c, "stubborn")
        assert [w for _, w in log] == ["listening", "POST /quitquitquit", "POST /abortabortabort",
                                       "SIGTERM"], log
        at = dict((w, t) for t, w in log)
        stages = [("kill -> quitquitquit", at["POST /quitquitquit"] - t0, 0.0),
                  ("quitquitquit -> abortabortabort",
                   at["POST /abortabortabort"] - at["POST /quitquitquit"], waits["quit"]),
                  ("abortabortabort -> SIGTERM", at["SIGTERM"] - at["POST /abortabortabort"],
                   waits["abort"]),
                  ("SIGTERM -> TASK_KILLED", final["_received"] - at["SIGTERM"], waits["grace"])]
        for name, took, want in stages:
            # timers never fire early; a loaded machine may be late
            assert want - 0.25 <= took <= want + 1.5, (name, took, want, stages)
        # the SIGKILL ended it: it ignored SIGTERM
        assert final["message"] == "Command terminated with signal Killed", final
        assert u.states("stubborn") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
                                        "TASK_KILLED"], u.states("stubborn")
        s.close()


def test_stubborn_task_goes_through_every_stage():
    stubborn_task()


def test_stubborn_task_in_namespaces():
    # SIGTERM through the pid namespace's init, SIGKILL of init; the
    # sandbox (and its log) seen through the private /tmp
    stubborn_task(["--isolation", "namespaces/pid,filesystem/linux"])


def test_task_without_label_gets_sigterm():
    port = free_port()
    with Cluster() as c:
        s, u = start(c, lambda o: [server_task("plain", o, "plain", port)])
        wait_listening(c, u, "plain")
        t0 = kill(s, "plain")
        final = u.wait_state("plain", "TASK_KILLED")
        assert final["_received"] - t0 < 3, final["_received"] - t0
        assert final["message"] == "Command exited with status 0", final
        assert events(c, "plain") == ["listening", "SIGTERM"], sandbox_log(c, "plain")
        s.close()


def test_health_kill_and_shutdown_are_graceful():
    # a health check kill and a framework teardown (SHUTDOWN) both go
    # through /quitquitquit
    ports = {"sick": free_port(), "torn": free_port()}
    hc = {"type": "COMMAND", "command": {"value": "test -f healthy"}, "delay_seconds": 0,
          "interval_seconds": 0.3, "grace_period_seconds": 2, "consecutive_failures": 1}
    with Cluster() as c:
        s, u = start(c, lambda o: [
            server_task("sick", o, "polite", ports["sick"],
                        extra={"labels": labels(port=str(ports["sick"])), "health_check": hc}),
            server_task("torn", o, "polite", ports["torn"],
                        extra={"labels": labels(port=str(ports["torn"]))})])
        final = u.wait_state("sick", "TASK_KILLED")
        assert final.get("healthy") is False, final
        assert final["message"].startswith("task killed after 1 consecutive failed health checks"), final
        assert events(c, "sick") == ["listening", "POST /quitquitquit"], sandbox_log(c, "sick")
        wait_listening(c, u, "torn")
        st, _, body = s.call("TEARDOWN")
        assert st == 202, (st, body)
        wait_for(lambda: events(c, "torn") == ["listening", "POST /quitquitquit"], 10,
                 "torn asked to quit")
        # and it quit: no SIGTERM followed
        time.sleep(1)
        assert events(c, "torn") == ["listening", "POST /quitquitquit"], sandbox_log(c, "torn")
        s.close()


def test_bad_label_fails_launch():
    cases = {
        "word": (labels(port="http"),
                 "label 'atoll.shutdown.port': must be a port number between 1 and 65535, got 'http'"),
        "zero": (labels(port="0"),
                 "label 'atoll.shutdown.port': must be a port number between 1 and 65535, got '0'"),
        "big": (labels(port="65536"),
                "label 'atoll.shutdown.port': must be a port number between 1 and 65535, got '65536'"),
        "sign": (labels(port="+80"),
                 "label 'atoll.shutdown.port': must be a port number between 1 and 65535, got '+80'"),
        "neg": (labels(port="8080", quit_wait="-1"),
                "label 'atoll.shutdown.quit_wait': must be a number of seconds between 0 and 3600, "
                "got '-1'"),
        "unit": (labels(port="8080", abort_wait="5s"),
                 "label 'atoll.shutdown.abort_wait': must be a number of seconds between 0 and 3600, "
                 "got '5s'"),
        "inf": (labels(port="8080", abort_wait="inf"),
                "label 'atoll.shutdown.abort_wait': must be a number of seconds between 0 and 3600, "
                "got 'inf'"),
        "long": (labels(quit_wait="3601"),
                 "label 'atoll.shutdown.quit_wait': must be a number of seconds between 0 and 3600, "
                 "got '3601'"),
        "twice": ({"labels": [{"key": "atoll.shutdown.port", "value": "80"},
                              {"key": "atoll.shutdown.port", "value": "81"}]},
                  "label 'atoll.shutdown.port': given more than once"),
        "novalue": ({"labels": [{"key": "atoll.shutdown.port"}]},
                    "label 'atoll.shutdown.port': must have a string value"),
    }
    with Cluster() as c:
        s, u = start(c, lambda o: [task_info(tid, o, "touch started; sleep 60", cpus=0.1, mem=16,
                                             extra={"labels": lab})
                                   for tid, (lab, _) in cases.items()] +
                     # other labels and good values are fine
                     [task_info("fine", o, "sleep 60", cpus=0.1, mem=16,
                                extra={"labels": {"labels": [
                                    {"key": "team", "value": "x"},
                                    {"key": "atoll.shutdown.port", "value": "8080"},
                                    {"key": "atoll.shutdown.quit_wait", "value": "1e-05"},
                                    {"key": "atoll.shutdown.abort_wait", "value": "0.5"}]}})])
        for tid, (_, msg) in cases.items():
            st = u.wait_state(tid, "TASK_FAILED")
            assert st["message"] == msg, (tid, st)
            assert st["reason"] == "REASON_TASK_INVALID", st
            # refused before the task started: nothing else was sent
            assert u.states(tid) == ["TASK_FAILED"], u.of(tid)
        u.wait_state("fine", "TASK_RUNNING")
        # nothing listens on its port: the stages pass, then SIGTERM ends it
        t0 = kill(s, "fine")
        final = u.wait_state("fine", "TASK_KILLED")
        assert 0.4 <= final["_received"] - t0 < 3, final["_received"] - t0
        assert final["message"] == "Command terminated with signal Terminated", final
        s.close()


if __name__ == "__main__":
    run_tests([test_polite_task_quits_on_quitquitquit, test_stubborn_task_goes_through_every_stage,
               test_stubborn_task_in_namespaces, test_task_without_label_gets_sigterm, test_health_kill_and_shutdown_are_graceful,
               test_bad_label_fails_launch])
