#!/usr/bin/env python3
"""High availability with ZooKeeper, with real faults: three masters with
--zk and --quorum 2 on a real ZooKeeper on loopback (zkserver.py), an agent
and schedulers following the leader. Standbys redirect (307) the scheduler,
agent and operator APIs and /master/redirect to the leader; kill -9 of the
leader elects another, the agent reregisters with it, the framework
resubscribes with its id and its task is still RUNNING (reconciliation says
so); the failover time is measured and printed; a leader frozen past its
ZooKeeper session (SIGSTOP, then SIGCONT) exits and never leads again; the
registry in ZooKeeper survives a failover (a gone agent stays gone); the
CLI, `atoll services` and agents take zk:// addresses.

The checker finds the leader from the masters' own HTTP answers (the one
whose /master/redirect points to itself), never from Atoll's ZooKeeper
code. Skips with a message when java or the ZooKeeper jar is missing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import zkserver
from atolltest import ATOLL, Daemon, http_request, launch, run_tests, task_info, wait_for
from hatest import HaCluster, LeaderScheduler, location_port, metrics

FW = {"user": "root", "name": "ha", "failover_timeout": 600, "checkpoint": True,
      "capabilities": [{"type": "PARTITION_AWARE"}]}
# The ZooKeeper server's tick: session timeouts may be 2..20 ticks.
ZK_TICK_MS = 200
SESSION = "2secs"
# The failover figures' scale (docs/ha.md): HA_AGENTS=3 HA_TASKS=30 ...
NAGENTS = int(os.environ.get("HA_AGENTS", "1"))
NTASKS = int(os.environ.get("HA_TASKS", "3"))

ZK = None  # the ZkServer shared by the tests


def op(port, ctype, payload=None):
    body = {"type": ctype}
    if payload is not None:
        body[ctype.lower()] = payload
    return http_request(port, "POST", "/api/v1", json.dumps(body),
                        {"Content-Type": "application/json"})


def post(port, path, body):
    return http_request(port, "POST", path, json.dumps(body),
                        {"Content-Type": "application/json"}, timeout=3)


def cli(*args, env=None):
    r = subprocess.run([ATOLL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, **(env or {})), timeout=30)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def check_standby(c, m, leader):
    """m answers as a standby of leader, on every API and endpoint (once
    its view of ZooKeeper caught up: 503 "no leader" until then)."""
    want = "//" + leader.address
    wait_for(lambda: c.redirect(m) == (307, want), 10, "%s redirecting" % m.name)
    st, hdrs, _ = post(m.port, "/api/v1/scheduler",
                       {"type": "SUBSCRIBE", "subscribe": {"framework_info": FW}})
    assert st == 307 and hdrs["location"] == want + "/api/v1/scheduler", (st, hdrs)
    st, hdrs, _ = post(m.port, "/api/v1", {"type": "GET_HEALTH"})
    assert st == 307 and hdrs["location"] == want + "/api/v1", (st, hdrs)
    st, hdrs, _ = post(m.port, "/api/v1/agent", {"type": "SUBSCRIBE"})
    assert st == 307 and hdrs["location"] == want + "/api/v1/agent", (st, hdrs)
    assert c.redirect(m) == (307, want), c.redirect(m)
    assert http_request(m.port, "GET", "/health")[0] == 200
    st, _, body = http_request(m.port, "GET", "/state")
    state = json.loads(body)
    assert st == 200 and "elected_time" not in state, state.keys()
    assert state["leader"] == "master@" + leader.address, state["leader"]
    assert state["leader_info"]["port"] == leader.port, state["leader_info"]
    assert state["slaves"] == [] and state["frameworks"] == []
    assert metrics(m)["master/elected"] == 0


def running_task_ids(sched, n, timeout=20):
    """Accepts offers until n tasks run; returns their ids (acked)."""
    ids, running = [], set()
    deadline = time.time() + timeout
    while len(ids) < n:
        ev = sched.expect("OFFERS", max(0.1, deadline - time.time()))
        for offer in ev["offers"]["offers"]:
            batch = []
            while len(ids) < n and len(batch) < 10:
                tid = "t%d" % len(ids)
                ids.append(tid)
                batch.append(task_info(tid, offer, "sleep 1000", cpus=0.1, mem=16))
            if not batch:
                break
            st, _, body = launch(sched, offer, batch, refuse=0)
            assert st == 202, (st, body)
    while len(running) < n:
        ev = sched.expect("UPDATE", max(0.1, deadline - time.time()))
        status = ev["update"]["status"]
        sched.ack(status)
        if status["state"] == "TASK_RUNNING":
            running.add(status["task_id"]["value"])
        assert status["state"] in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"), status
    return ids


def test_flags_checked():
    rc, _, err = cli("master", "--port", "0", "--zk", "http://h:2181/atoll", "--quorum", "2")
    assert rc == 2 and "--zk" in err, (rc, err)
    rc, _, err = cli("master", "--port", "0", "--zk", "zk://h:2181/", "--quorum", "2")
    assert rc == 2 and "--zk" in err, (rc, err)
    rc, _, err = cli("master", "--port", "0", "--zk", ZK.url("/flags"))
    assert rc == 2 and "--quorum" in err, (rc, err)
    rc, _, err = cli("master", "--port", "0", "--zk", ZK.url("/flags"), "--quorum", "0")
    assert rc == 2 and "--quorum" in err, (rc, err)
    rc, _, err = cli("agent", "--port", "0", "--master", "zk://h:2181/a/../b")
    assert rc == 2 and "--master" in err, (rc, err)
    # the CLI: a bad zk:// URL is a usage error, no leader is "unreachable"
    rc, _, err = cli("agents", "--master", "zk://h:2181/")
    assert rc == 2, (rc, err)
    rc, _, err = cli("agents", "--master", ZK.url("/nobody-here"))
    assert rc == 3 and "no leader found" in err, (rc, err)


def test_failover():
    url = ZK.url("/failover")
    with HaCluster(url, masters=3, agents=NAGENTS, session_timeout=SESSION) as c:
        leader = c.master
        for m in c.standbys():
            check_standby(c, m, leader)
        assert metrics(leader)["master/elected"] == 1
        state = c.state()
        assert state["leader"] == "master@" + leader.address and "elected_time" in state
        agent_ids = sorted(s["id"] for s in state["slaves"])

        # A second agent, marked gone on this leader: the registry (in
        # ZooKeeper) must keep it gone on the next one.
        gone = c.add_agent(NAGENTS)
        gone.start()
        wait_for(lambda: len(c.state()["slaves"]) == NAGENTS + 1, 15, "one more agent")
        gone_id = [s["id"] for s in c.state()["slaves"] if s["id"] not in agent_ids][0]
        st, _, body = op(leader.port, "MARK_AGENT_GONE", {"agent_id": {"value": gone_id}})
        assert st == 200, (st, body)
        wait_for(lambda: gone.proc.poll() is not None, 15, "gone agent exits")

        # A raw scheduler that reaches the leader through a standby's 307.
        sched = LeaderScheduler(c.standbys() + [leader], dict(FW))
        sched.subscribe()
        assert sched.redirects and sched.redirects[0][0] == 307, sched.redirects
        assert location_port(sched.redirects[0][1]) == leader.port
        fid = sched.framework_id
        tasks = running_task_ids(sched, NTASKS)
        fw = [f for f in c.state()["frameworks"] if f["id"] == fid][0]
        task_agent = dict((t["id"], t["slave_id"]) for t in fw["tasks"])

        # `atoll services` with a zk:// master registers with the leader.
        svc = Daemon(c, "services", ["services", "--port", "0", "--master", url,
                                     "--work-dir", os.path.join(c.dir, "services", "work"),
                                     "--log-level", "debug"])
        c.daemons.append(svc)  # stopped first
        svc.start()
        wait_for(lambda: any(f["name"] == "atoll-services" and f["active"]
                             for f in c.state()["frameworks"]), 15, "services subscribed")

        # The CLI resolves the leader from ZooKeeper.
        rc, out, err = cli("agents", "--master", url)
        assert rc == 0 and "agent0" in out, (rc, out, err)

        # kill -9 of the leader.
        t0 = time.time()
        leader.kill9()
        new = c.wait_leader(timeout=20, exclude=leader)
        t_leader = time.time() - t0
        wait_for(lambda: sorted(s["id"] for s in c.state()["slaves"] if s["active"]) == agent_ids,
                 20, "agents reregistered with the new leader")
        t_agent = time.time() - t0
        print("FAILOVER masters=3 agents=%d tasks=%d zk_session_timeout=%s: "
              "new leader answering /master/redirect to itself after %.2fs, "
              "every agent reregistered after %.2fs"
              % (NAGENTS, NTASKS, SESSION, t_leader, t_agent), flush=True)
        assert metrics(new)["master/elected"] == 1
        for m in c.standbys():
            check_standby(c, m, new)
        assert "lost leadership" not in new.log()

        # The framework resubscribes (through the redirect) with its id.
        wait_for(lambda: sched.events.get(timeout=5) is None, 10, "old stream closed")
        sched.subscribe()
        assert sched.framework_id == fid and sched.port == new.port
        for tid in tasks:
            st, _, body = sched.call("RECONCILE", {"tasks": [{"task_id": {"value": tid},
                                                              "agent_id": {"value": task_agent[tid]}}]})
            assert st == 202, (st, body)
            ev = sched.expect("UPDATE", 10,
                              pred=lambda e: e["update"]["status"]["task_id"]["value"] == tid)
            assert ev["update"]["status"]["state"] == "TASK_RUNNING", ev
        fw = [f for f in c.state()["frameworks"] if f["id"] == fid][0]
        assert sorted(t["id"] for t in fw["tasks"] if t["state"] == "TASK_RUNNING") == sorted(tasks)

        # The registry survived: the gone agent is still gone.
        assert "gone=1" in new.log(), new.log()
        try:
            gone.start()
        except RuntimeError:
            pass  # refused before it wrote its port file
        wait_for(lambda: gone.proc.poll() is not None, 15, "gone agent refused again")
        assert "marked gone" in gone.log()
        assert all(s["id"] != gone_id for s in c.state()["slaves"])

        # `atoll services` follows the leader too; the CLI finds the new one.
        wait_for(lambda: any(f["name"] == "atoll-services" and f["active"]
                             for f in c.state()["frameworks"]), 20, "services resubscribed")
        rc, out, err = cli("tasks", env={"ATOLL_MASTER": url})
        assert rc == 0 and all(t in out for t in tasks), (rc, out, err)
        sched.call("TEARDOWN")
        sched.close()


def freeze(d, seconds):
    """SIGSTOP d for seconds (longer than its ZooKeeper session), SIGCONT."""
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)


def test_session_expiry():
    """A standby frozen past its session contends again; a leader frozen
    past its session is replaced while frozen and exits once thawed."""
    with HaCluster(ZK.url("/expiry"), masters=3, agents=0, session_timeout=SESSION) as c:
        old = c.master
        standby = c.standbys()[0]
        freeze(standby, 3.0)
        wait_for(lambda: "contending again" in standby.log(), 10, "the standby recontends")
        assert standby.proc.poll() is None
        assert c.leader() is old
        check_standby(c, standby, old)

        others = c.standbys()
        t0 = time.time()
        os.kill(old.proc.pid, signal.SIGSTOP)
        try:
            # The frozen leader cannot answer: look at the others only.
            def new_leader():
                for m in others:
                    if c.redirect(m) == (307, "//" + m.address):
                        return m
            new = wait_for(new_leader, 20, "a standby leads")
            t_leader = time.time() - t0
            time.sleep(0.5)
        finally:
            os.kill(old.proc.pid, signal.SIGCONT)
        old.proc.wait(15)
        assert old.proc.returncode != 0, old.proc.returncode
        assert "lost leadership" in old.log(), old.log()
        print("EXPIRY new leader after %.2fs of a frozen leader; old leader exited %d"
              % (t_leader, old.proc.returncode), flush=True)
        assert c.leader() is new and metrics(new)["master/elected"] == 1
        c.master = new
        for m in c.standbys():
            check_standby(c, m, new)


def main():
    global ZK
    why = zkserver.missing()
    if why:
        print("SKIP test_ha: %s" % why)
        return 0
    with zkserver.ZkServer(tick_ms=ZK_TICK_MS) as zk:
        ZK = zk
        try:
            run_tests([test_flags_checked, test_failover, test_session_expiry])
        except SystemExit as e:
            rc = e.code
        if rc:
            print("---- zookeeper log ----\n%s" % zk.log())
    return rc


if __name__ == "__main__":
    sys.exit(main())
