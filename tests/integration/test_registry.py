#!/usr/bin/env python3
"""The master's registry and agent health with real faults: kill -9 of the
master and a restart on the same --work-dir, an agent frozen with SIGSTOP
past the ping timeouts (unreachable) and thawed with SIGCONT, MARK_AGENT_GONE
surviving a restart, a corrupt registry.db, a registry on a full tmpfs, and
--agent-removal-rate-limit. Every check reads what a framework, the operator
or the logs see; nothing here trusts the master's own bookkeeping."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time

from atolltest import (Cluster, Daemon, RawScheduler, call, launch, run_tests,
                       task_info, wait_for)

FW = {"user": "root", "name": "registry", "failover_timeout": 600, "checkpoint": True}
AWARE = dict(FW, name="aware", capabilities=[{"type": "PARTITION_AWARE"}])
PLAIN = dict(FW, name="plain")
# pings every 200 ms, 3 misses: a silent agent is unreachable in ~0.6 s
FAST_PINGS = ["--agent-ping-timeout", "200ms", "--max-agent-ping-timeouts", "3"]


class RegistryCluster(Cluster):
    """A Cluster whose master keeps its registry in <dir>/master/work."""

    def __init__(self, agents=1, master_args=(), **kw):
        super().__init__(agents=agents, master_args=master_args, **kw)
        self.work = os.path.join(self.dir, "master", "work")
        self.master.args += ["--work-dir", self.work]
        self.registry = os.path.join(self.work, "registry.db")

    def restart_master(self, extra=(), kill=True):
        """kill -9 (or SIGTERM) the master; start it again on its port."""
        port = self.master.port
        if kill:
            self.master.kill9()
        else:
            self.master.stop()
        args = list(self.master.args)
        args[args.index("--port") + 1] = str(port)
        self.master.args = args + list(extra)
        self.master.start()
        assert self.master.port == port


def updates_until(s, task_id, final, timeout=20, ack=True):
    """UPDATE statuses of task_id until one in state final; returns it."""
    deadline = time.time() + timeout
    while True:
        ev = s.expect("UPDATE", max(0.1, deadline - time.time()),
                      pred=lambda e: e["update"]["status"]["task_id"]["value"] == task_id)
        st = ev["update"]["status"]
        if ack:
            s.ack(st)
        if st["state"] == final:
            return st


def start_task(port, info, task_id, cmd="sleep 120"):
    s = RawScheduler(port, dict(info))
    assert s.subscribe()[0] == 200
    o = s.expect("OFFERS", timeout=15)["offers"]["offers"][0]
    launch(s, o, [task_info(task_id, o, cmd)], refuse=3600)
    updates_until(s, task_id, "TASK_RUNNING")
    return s, o["agent_id"]["value"]


def no_update(s, task_id, secs):
    """True when no UPDATE for task_id arrives within secs."""
    try:
        s.expect("UPDATE", secs, pred=lambda e: e["update"]["status"]["task_id"]["value"] == task_id)
        return False
    except AssertionError:
        return True


def reconcile(s, task_id, agent_id):
    st, _, body = s.call("RECONCILE", {"tasks": [{"task_id": {"value": task_id},
                                                   "agent_id": {"value": agent_id}}]})
    assert st == 202, (st, body)


def op(c, ctype, payload=None):
    body = {"type": ctype}
    if payload is not None:
        body[ctype.lower()] = payload
    return call(c.master.port, body, path="/api/v1")


def log_has(d, text):
    return text in d.log()


def test_silent_agent_unreachable_then_back():
    """SIGSTOP: pings go unanswered; partition-aware tasks TASK_UNREACHABLE,
    others TASK_LOST. SIGCONT: the aware task is RUNNING again, the other
    is killed."""
    with RegistryCluster(agents=1, master_args=FAST_PINGS) as c:
        aware, agent_id = start_task(c.master.port, AWARE, "ta")
        plain, _ = start_task(c.master.port, PLAIN, "tp")
        agent = c.agents[0]
        os.kill(agent.proc.pid, signal.SIGSTOP)
        try:
            st = updates_until(aware, "ta", "TASK_UNREACHABLE", timeout=10)
            assert st["reason"] == "REASON_AGENT_REMOVED" and st["source"] == "SOURCE_MASTER", st
            st = updates_until(plain, "tp", "TASK_LOST", timeout=10)
            assert st["agent_id"]["value"] == agent_id
            assert log_has(c.master, "agent=%s marked unreachable" % agent_id)
            assert c.state()["slaves"] == []
            # reconciliation tells the same story while it is away
            reconcile(aware, "ta", agent_id)
            st = updates_until(aware, "ta", "TASK_UNREACHABLE", timeout=5)
            assert st["reason"] == "REASON_RECONCILIATION", st
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)
        st = updates_until(aware, "ta", "TASK_RUNNING", timeout=20)
        assert st["reason"] == "REASON_AGENT_REREGISTERED", st
        st = updates_until(plain, "tp", "TASK_KILLED", timeout=20)
        wait_for(lambda: [a["id"] for a in c.state()["slaves"]] == [agent_id], 10, "agent back")
        # the aware task goes on: it still runs and answers RUNNING
        reconcile(aware, "ta", agent_id)
        assert updates_until(aware, "ta", "TASK_RUNNING", timeout=5)["reason"] == "REASON_RECONCILIATION"
        assert agent.proc.poll() is None
        # the registry has it admitted again: a restarted master waits for it
        c.restart_master()
        wait_for(lambda: log_has(c.master, "admitted=1 unreachable=0 gone=0"), 5, "registry loaded")
        for s in (aware, plain):
            s.call("TEARDOWN")
            s.close()


def test_master_kill9_recovery_window():
    """kill -9 of the master while an agent is frozen: after the restart the
    registry names the agent; reconciliation answers nothing (Mesos's no-op
    for a transitioning agent) to any framework until
    --agent-reregister-timeout marks the agent unreachable (then TASK_LOST,
    or TASK_UNREACHABLE for an aware framework).
    The agent then returns: the aware task runs on, the other is killed."""
    with RegistryCluster(agents=1) as c:
        aware, agent_id = start_task(c.master.port, AWARE, "wa")
        plain, _ = start_task(c.master.port, PLAIN, "wp")
        fids = (aware.framework_id, plain.framework_id)
        aware.close()
        plain.close()
        agent = c.agents[0]
        os.kill(agent.proc.pid, signal.SIGSTOP)
        try:
            c.restart_master(["--agent-reregister-timeout", "4secs"])
            t0 = time.time()
            assert log_has(c.master, "admitted=1 unreachable=0 gone=0")
            aware = RawScheduler(c.master.port, dict(AWARE, id={"value": fids[0]}))
            plain = RawScheduler(c.master.port, dict(PLAIN, id={"value": fids[1]}))
            assert aware.subscribe()[0] == 200 and plain.subscribe()[0] == 200
            reconcile(aware, "wa", agent_id)
            reconcile(plain, "wp", agent_id)
            assert no_update(aware, "wa", 1.0), "aware framework answered during the window"
            assert no_update(plain, "wp", 0.5), "non-aware framework answered during the window"
            assert time.time() - t0 < 3.5, "the window closed before the checks ran"
            wait_for(lambda: log_has(c.master, "did not reregister within"), 10, "window closed")
            reconcile(plain, "wp", agent_id)
            updates_until(plain, "wp", "TASK_LOST", timeout=5)
            reconcile(aware, "wa", agent_id)
            updates_until(aware, "wa", "TASK_UNREACHABLE", timeout=5)
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)
        st = updates_until(aware, "wa", "TASK_RUNNING", timeout=30)
        assert st["reason"] == "REASON_AGENT_REREGISTERED", st
        updates_until(plain, "wp", "TASK_KILLED", timeout=20)
        wait_for(lambda: [a["id"] for a in c.state()["slaves"]] == [agent_id], 10, "agent back")
        for s in (aware, plain):
            s.call("TEARDOWN")
            s.close()


def test_restart_with_agents_reregistering_in_time():
    """SIGTERM and kill -9 restarts: the agent is back within the window with
    its task and keeps its id; nothing is marked unreachable."""
    with RegistryCluster(agents=1) as c:
        s, agent_id = start_task(c.master.port, AWARE, "keep")
        fid = s.framework_id
        s.close()
        for kill in (False, True):
            c.restart_master(["--agent-reregister-timeout", "2secs"], kill=kill)
            wait_for(lambda: [a["id"] for a in c.state()["slaves"]] == [agent_id], 15, "reregistered")
            time.sleep(2.5)  # past the window
            assert not log_has(c.master, "marked unreachable"), c.master.log()
            assert log_has(c.master, "every agent of the registry reregistered")
        s = RawScheduler(c.master.port, dict(AWARE, id={"value": fid}))
        assert s.subscribe()[0] == 200
        reconcile(s, "keep", agent_id)
        assert updates_until(s, "keep", "TASK_RUNNING", timeout=5)["reason"] == "REASON_RECONCILIATION"
        s.call("TEARDOWN")
        s.close()


def test_gone_agent_refused_after_restart():
    with RegistryCluster(agents=1) as c:
        agent_id = c.state()["slaves"][0]["id"]
        st, _, body = op(c, "MARK_AGENT_GONE", {"agent_id": {"value": agent_id}})
        assert st == 200, (st, body)
        # repeated: 200 (as Mesos)
        assert op(c, "MARK_AGENT_GONE", {"agent_id": {"value": agent_id}})[0] == 200
        st, _, body = op(c, "MARK_AGENT_GONE", {"agent_id": {"value": "no-such-agent"}})
        assert st == 404 and "no-such-agent" in body, (st, body)
        c.restart_master()
        assert log_has(c.master, "admitted=0 unreachable=0 gone=1")
        # the agent keeps trying under its id and is refused every time
        wait_for(lambda: log_has(c.master, "agent=%s marked gone tried to reregister" % agent_id),
                 15, "refusal")
        wait_for(lambda: "has been marked gone" in c.agents[0].log(), 10, "agent told")
        assert c.state()["slaves"] == []


def test_corrupt_registry_exits_with_message():
    with RegistryCluster(agents=0) as c:
        pass  # creates registry.db
    c = RegistryCluster(agents=0)
    try:
        os.makedirs(c.work)
        with open(c.registry, "wb") as f:
            f.write(b"SQLite format 3\x00" + b"\xde\xad\xbe\xef" * 2048)
        try:
            c.master.start(timeout=10)
            raise AssertionError("master started on a corrupt registry:\n" + c.master.log())
        except RuntimeError:
            pass
        assert c.master.proc.returncode not in (0, None)
        log = c.master.log()
        assert c.registry in log, log
        # and the file was left alone for the operator to inspect
        with open(c.registry, "rb") as f:
            assert f.read(20).startswith(b"SQLite format 3\x00\xde\xad")
    finally:
        c.close()


def test_bad_registry_flags():
    for args, text in ((["--registry", "zookeeper"], "--registry"),
                       (["--agent-removal-rate-limit", "fast"], "--agent-removal-rate-limit"),
                       (["--agent-removal-rate-limit", "0/1mins"], "--agent-removal-rate-limit")):
        c = Cluster(agents=0, master_args=args)
        try:
            try:
                c.master.start()
                raise AssertionError("started with %s" % args)
            except RuntimeError:
                pass
            assert text in c.master.log(), c.master.log()
        finally:
            c.close()
    # without --work-dir the master runs with a warning (in memory)
    with Cluster(agents=1) as c:
        assert "no --work-dir: the registry is kept in memory" in c.master.log()


def test_removal_rate_limit_spaces_unreachable_marks():
    with RegistryCluster(agents=2, master_args=FAST_PINGS + ["--agent-removal-rate-limit", "1/3secs"]) as c:
        for a in c.agents:
            os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            marks = []
            deadline = time.time() + 15
            while len(marks) < 2 and time.time() < deadline:
                n = len(re.findall(r"agent=\S+ marked unreachable", c.master.log()))
                while len(marks) < n:
                    marks.append(time.time())
                time.sleep(0.05)
            assert len(marks) == 2, c.master.log()
            assert marks[1] - marks[0] >= 2.5, marks
            assert log_has(c.master, "(--agent-removal-rate-limit)")
        finally:
            for a in c.agents:
                os.kill(a.proc.pid, signal.SIGCONT)
        wait_for(lambda: len(c.state()["slaves"]) == 2, 15, "agents back")


def test_full_disk_refuses_admission():
    if os.geteuid() != 0:
        print("skip: mounting a tmpfs needs root")
        return
    mnt = tempfile.mkdtemp(prefix="atoll-full-")
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt])
    try:
        c = Cluster(agents=1, master_args=["--work-dir", mnt])
        agent = c.agents[0]
        try:
            c.master.start()
            filler = os.path.join(mnt, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            agent.args += ["--master", c.master.address]
            agent.start()
            wait_for(lambda: "status=503" in agent.log(), 15, "refusal seen by the agent")
            alog = agent.log()
            assert "cannot be admitted" in alog and "full" in alog.lower(), alog
            assert c.state()["slaves"] == []
            time.sleep(2)  # several retries: the master logs the failure once
            mlog = c.master.log()
            assert mlog.count("registry write failed") == 1, mlog
            assert c.master.proc.poll() is None and agent.proc.poll() is None
            # space again: the agent's retry is admitted, durably
            os.unlink(filler)
            wait_for(lambda: len(c.state()["slaves"]) == 1, 20, "admitted after space freed")
            assert "registry writes succeed again" in c.master.log()
        except BaseException:
            c.dump()
            raise
        finally:
            c.close()
    finally:
        subprocess.call(["umount", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    run_tests([test_silent_agent_unreachable_then_back,
               test_master_kill9_recovery_window,
               test_restart_with_agents_reregistering_in_time,
               test_gone_agent_refused_after_restart,
               test_corrupt_registry_exits_with_message,
               test_bad_registry_flags,
               test_removal_rate_limit_spaces_unreachable_marks,
               test_full_disk_refuses_admission])
