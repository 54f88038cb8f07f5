#!/usr/bin/env python3
"""Mesos health checks run by `atoll executor` next to the task, seen by a
raw v1 scheduler: TASK_RUNNING updates carrying `healthy`, the kill after
consecutive_failures failed checks (TASK_KILLED, healthy false, reason and
message), the grace period, and TASK_FAILED for a bad health_check."""

import socket
import sys
import time

from atolltest import Cluster, RawScheduler, launch, run_tests, task_info

FW = {"user": "root", "name": "health-checks"}
HC_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check(htype, params, **timing):
    hc = {"type": htype, htype.lower(): params}
    hc.update(timing)
    return hc


class Updates:
    """Every UPDATE of the framework, by task, each acknowledged once and
    recorded once (an agent retry carries the same uuid)."""

    def __init__(self, sched):
        self.s = sched
        self.by_task = {}
        self.uuids = set()

    def pump(self, timeout):
        ev = self.s.expect("UPDATE", timeout)
        st = ev["update"]["status"]
        self.s.ack(st)
        if st.get("uuid") in self.uuids:
            return
        self.uuids.add(st.get("uuid"))
        self.by_task.setdefault(st["task_id"]["value"], []).append(st)

    def of(self, task_id):
        return self.by_task.get(task_id, [])

    def wait(self, pred, timeout, what):
        deadline = time.time() + timeout
        while not pred():
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; updates: %r" % (what, self.by_task))
            try:
                self.pump(left)
            except AssertionError:
                pass
        return True

    def wait_state(self, task_id, state, timeout=20, pred=lambda st: True):
        def found():
            return [st for st in self.of(task_id) if st["state"] == state and pred(st)]
        self.wait(found, timeout, "%s %s" % (task_id, state))
        return found()[0]

    def idle(self, seconds):
        """Keeps acknowledging for a while (nothing is expected)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                self.pump(max(0.01, deadline - time.time()))
            except AssertionError:
                pass


def healthy_is(value):
    return lambda st: st.get("healthy") is value


def start(c, tasks_of_offer):
    s = RawScheduler(c.master.port, dict(FW))
    code, ev = s.subscribe()
    assert code == 200, ev
    o = s.expect("OFFERS")["offers"]["offers"][0]
    st, _, body = launch(s, o, tasks_of_offer(o))
    assert st == 202, (st, body)
    return s, Updates(s)


def kill(s, u, task_id):
    st, _, body = s.call("KILL", {"task_id": {"value": task_id}})
    assert st == 202, (st, body)
    return u.wait_state(task_id, "TASK_KILLED")


def test_command_check_passes():
    # The check runs in the sandbox with the task's environment.
    env = {"variables": [{"name": "HC_MARK", "value": "yes"}]}
    hc = check("COMMAND", {"value": 'test "$HC_MARK" = yes && test -f ready'},
               delay_seconds=0, interval_seconds=0.3, grace_period_seconds=10)
    with Cluster() as c:
        s, u = start(c, lambda o: [task_info(
            "cmd", o, "touch ready; sleep 60",
            extra={"health_check": hc, "command": {"value": "touch ready; sleep 60",
                                                   "environment": env}})])
        first = u.wait_state("cmd", "TASK_RUNNING")
        assert "healthy" not in first, first
        good = u.wait_state("cmd", "TASK_RUNNING", pred=healthy_is(True))
        assert good["reason"] == HC_REASON, good
        assert good["source"] == "SOURCE_EXECUTOR", good
        # healthy stays healthy: no further health updates
        u.idle(1.2)
        running = [st for st in u.of("cmd") if st["state"] == "TASK_RUNNING"]
        assert len(running) == 2, running
        final = kill(s, u, "cmd")
        assert "healthy" not in final, final
        s.close()


def test_tcp_and_http_checks():
    ports = {"tcp": free_port(), "http": free_port()}
    server = "exec %s -m http.server %%d --bind 127.0.0.1" % sys.executable
    timing = {"delay_seconds": 0, "interval_seconds": 0.3, "grace_period_seconds": 20}
    with Cluster() as c:
        s, u = start(c, lambda o: [
            task_info("tcp", o, server % ports["tcp"],
                      extra={"health_check": check("TCP", {"port": ports["tcp"]}, **timing)}),
            task_info("http", o, server % ports["http"],
                      extra={"health_check": check("HTTP", {"port": ports["http"], "path": "/"},
                                                   **timing)})])
        for tid in ("tcp", "http"):
            st = u.wait_state(tid, "TASK_RUNNING", pred=healthy_is(True))
            assert st["reason"] == HC_REASON, st
            # no failure was reported before the server came up (grace)
            assert not [x for x in u.of(tid) if x.get("healthy") is False], u.of(tid)
        for tid in ("tcp", "http"):
            kill(s, u, tid)
        s.close()


def test_http_check_bad_status_kills():
    # a path the server answers with 404: unhealthy, killed after 2
    port = free_port()
    # The grace period covers the server's start on a loaded machine
    # (refused connections are ignored then); the 404s after it count.
    hc = check("HTTP", {"port": port, "path": "/no-such-file"}, delay_seconds=0.5,
               interval_seconds=0.2, grace_period_seconds=3, consecutive_failures=2)
    with Cluster() as c:
        s, u = start(c, lambda o: [task_info(
            "h404", o, "exec %s -m http.server %d --bind 127.0.0.1" % (sys.executable, port),
            extra={"health_check": hc})])
        final = u.wait_state("h404", "TASK_KILLED")
        assert final.get("healthy") is False, final
        assert final["message"].startswith("task killed after 2 consecutive failed health checks: "), final
        assert final["message"].endswith("returned status 404"), final
        s.close()


def test_failing_check_kills_task():
    hc = check("COMMAND", {"value": "exit 1"}, delay_seconds=0, interval_seconds=0.2,
               grace_period_seconds=0, consecutive_failures=2)
    with Cluster() as c:
        s, u = start(c, lambda o: [task_info("bad", o, "sleep 60", extra={"health_check": hc})])
        final = u.wait_state("bad", "TASK_KILLED")
        states = [(st["state"], st.get("healthy")) for st in u.of("bad")]
        # Mesos's command executor: one healthy=false update per failure
        assert states == [("TASK_STARTING", None), ("TASK_RUNNING", None),
                          ("TASK_RUNNING", False), ("TASK_RUNNING", False),
                          ("TASK_KILLED", False)], states
        for st in u.of("bad")[2:4]:
            assert st["reason"] == HC_REASON, st
            assert "command exited with status 1" in st["message"], st
        assert final["reason"] == HC_REASON, final
        assert final["source"] == "SOURCE_EXECUTOR", final
        assert final["message"] == ("task killed after 2 consecutive failed health "
                                    "checks: command exited with status 1"), final
        s.close()


def test_grace_period():
    # (1) healthy only after 2 s, grace 5 s, one failure would kill: the
    # early failures are ignored and the task lives on.
    # (2) the grace period ends at the first success: a failure at 3 s,
    # still inside the 10 s window, kills at once.
    late = check("COMMAND", {"value": "test -f ready"}, delay_seconds=0,
                 interval_seconds=0.3, grace_period_seconds=5, consecutive_failures=1)
    flap = check("COMMAND", {"value": "test -f ready"}, delay_seconds=0,
                 interval_seconds=0.3, grace_period_seconds=10, consecutive_failures=1)
    with Cluster() as c:
        t0 = time.time()
        s, u = start(c, lambda o: [
            task_info("late", o, "sleep 2; touch ready; sleep 60", extra={"health_check": late}),
            task_info("flap", o, "touch ready; sleep 2; rm ready; sleep 60",
                      extra={"health_check": flap})])
        st = u.wait_state("late", "TASK_RUNNING", pred=healthy_is(True))
        assert time.time() - t0 >= 1.5, "healthy before the task made itself healthy"
        final = u.wait_state("flap", "TASK_KILLED", timeout=10)
        assert time.time() - t0 < 9, "flap was only killed after its grace period"
        assert final.get("healthy") is False, final
        flap_states = [(x["state"], x.get("healthy")) for x in u.of("flap")]
        assert flap_states[-3:] == [("TASK_RUNNING", True), ("TASK_RUNNING", False),
                                    ("TASK_KILLED", False)], flap_states
        u.idle(4)  # well past late's grace period
        assert [(x["state"], x.get("healthy")) for x in u.of("late")] == [
            ("TASK_STARTING", None), ("TASK_RUNNING", None), ("TASK_RUNNING", True)], u.of("late")
        kill(s, u, "late")
        s.close()


def test_bad_health_check_fails_launch():
    cases = {
        "noport": ({"type": "TCP", "tcp": {}}, "health_check.tcp.port: required field missing"),
        "badtype": ({"type": "GRPC", "grpc": {"port": 1}},
                    "health_check.type: must be COMMAND, HTTP or TCP, got 'GRPC'"),
        "negative": (check("TCP", {"port": 80}, interval_seconds=-1),
                     "health_check.interval_seconds: must be >= 0, got -1"),
        "negfail": (check("COMMAND", {"value": "true"}, consecutive_failures=-2),
                    "health_check.consecutive_failures: must be between 0 and 4294967295, got -2"),
    }
    with Cluster() as c:
        s, u = start(c, lambda o: [task_info(tid, o, "touch started; sleep 60",
                                             cpus=0.1, mem=16, extra={"health_check": hc})
                                   for tid, (hc, _) in cases.items()])
        for tid, (_, msg) in cases.items():
            st = u.wait_state(tid, "TASK_FAILED")
            assert st["message"] == msg, (tid, st)
            assert st["reason"] == "REASON_TASK_INVALID", st
            # validated before the task started: nothing else was sent
            assert [x["state"] for x in u.of(tid)] == ["TASK_FAILED"], u.of(tid)
        s.close()


if __name__ == "__main__":
    run_tests([test_command_check_passes, test_tcp_and_http_checks,
               test_http_check_bad_status_kills, test_failing_check_kills_task,
               test_grace_period, test_bad_health_check_fails_launch])
