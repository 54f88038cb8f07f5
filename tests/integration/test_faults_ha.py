#!/usr/bin/env python3
"""Fault-tolerance acceptance tests (issue 5, "Done when"), high availability.

The run of test_faults.py (the same raw-HTTP workload framework: 1,000
short tasks `true`/`sleep 0.1` and 100 long `sleep 1000`, three agents; the
same checker) against three masters with --zk, --quorum 2 and a 2 s
--zk-session-timeout on a real ZooKeeper on loopback (zkserver.py), the
registry in ZooKeeper, agents with --master zk://... The framework is given
every master: it follows a standby's 307 to the leader and, when the leader
dies, tries the others until one accepts it.

  * test_leader_kill9: kill -9 of whichever master leads, 3 times at random
    moments, each time restarted (as a standby) after 0.1-1.5 s;
  * test_leader_session_expiry: the leader is frozen (SIGSTOP) until a
    standby leads and its session expired, then thawed (SIGCONT): it must
    exit by itself; it is then restarted as a standby.

Besides faultlib.check(), faultlib.check_ha() judges each run: never two
masters reporting master/elected 1 in the same sample (every master is
asked at once, 4 times a second, through the run); a deposed leader
delivers no update and accepts no launch once its successor was seen
elected (a frozen, thawed leader must exit before it handles anything: see
docs/faults.md, "Open"); at the end GET_AGENTS on
the leader lists the 3 agents active, the registry znodes (read with
faultlib's own ZooKeeper reader) admit exactly them, and the lowest
election znode names the leader; every failover completed, with the
killed master back as a standby. Each failover is timed (leader killed ->
a new leader serving -> every agent reregistered; the framework's
resubscription) and printed as "FAILOVER ..." lines (docs/ha.md). A master
that exits with no fault injected (a leader that lost its session on a
loaded machine) is restarted as a supervisor would, and logged as an
unplanned "exit" fault.

FAULT_SEED=n replays a run's random moments; KEEP_TMP=1 keeps the logs;
TEST_ONLY=expiry runs one test. Skips with a message when java or the
ZooKeeper jar is missing. docs/faults.md explains the output.
"""

import os
import random
import re
import sys
import threading
import time

import zkserver
from atolltest import run_tests, wait_for
from faultlib import (FaultEnv, HaFaultCluster, LeaderExpiry, LeaderKills, Workload,
                      check, check_ha, framework_failover_secs, offending_tasks, summary,
                      summary_ha, trail, zk_unescape)
from test_faults import AGENT_ARGS, MASTER_ARGS, print_log_lines

SEED = int(os.environ.get("FAULT_SEED", random.SystemRandom().randrange(1 << 30)))
# ZooKeeper's tick: a session timeout may be 2..40 ticks (zkserver.py).
ZK_TICK_MS = 200
SESSION_SECS = 2
N_SHORT = int(os.environ.get("FAULT_HA_SHORT", "1000"))
N_LONG = int(os.environ.get("FAULT_HA_LONG", "100"))

ZK = None  # the ZkServer shared by the tests


def run_ha(title, cluster, schedule, n_short, n_long, timeout, max_inflight=30):
    """test_faults.run_scenario for an HaFaultCluster: the same steps and
    checker, plus the leader sampler, check_ha() and the failover figures.
    Starts and closes the cluster; raises AssertionError listing the
    violations."""
    t0 = time.time()
    wl = None
    stop = threading.Event()
    try:
        cluster.start()
        wl = Workload(cluster.master_addresses, n_short, n_long, len(cluster.agents),
                      max_inflight=max_inflight).start()
        cluster.note = wl.note
        cluster.sampler.start(wl.now)
        schedule.start(FaultEnv(cluster, wl, stop))
        try:
            wl.wait_settled(timeout, abort=lambda: schedule.error)
        finally:
            stop.set()
        schedule.join(90)
        wait_for(lambda: len(cluster.active_agents()) == len(cluster.agents), 30,
                 "every agent active on the leader after the faults")
        wl.wait_settled(10)
        before = cluster.snapshot()
        wl.note("step", what="kill the long tasks")
        wl.kill_long()
        wl.wait_long_killed(30)
        wait_for(lambda: not any(t.get("unacknowledged_updates")
                                 for a in cluster.agents
                                 for fw in cluster.get_json("/state", a).get("frameworks", [])
                                 for ex in fw.get("executors", []) + fw.get("completed_executors", [])
                                 for t in ex.get("tasks", [])), 15, "agents' updates acknowledged")
        final = cluster.snapshot()
        cluster.sampler.stop()
        wl.stop(teardown=True)
        framework_failover_secs(wl.log)
        violations, stats = check(wl.log, n_short, n_long, len(cluster.agents), final, before)
        hv, hstats = check_ha(wl.log, cluster.sampler.samples, final, len(cluster.agents))
        violations += hv
        if wl.error:
            violations.append("workload framework error: %s" % wl.error)
        summary(title, stats, violations, time.time() - t0, schedule.seed, log=wl.log)
        summary_ha(hstats, violations)
        if violations:
            print_log_lines(cluster, offending_tasks(violations, 3))
            print_deposed_tasks(cluster, wl.log, violations)
            print_leader_lines(cluster)
            raise AssertionError("%s: %d violations (first: %s)" % (title, len(violations), violations[0]))
        return stats, hstats
    except AssertionError as e:
        if "violations (first:" in str(e):
            raise
        if wl is not None:
            sys.stderr.write("workload: %s\n" % wl.describe())
            sys.stderr.write("faults: %s\n" % [(r["t"], r["action"], r["target"]) for r in schedule.injected])
        cluster.dump()
        raise
    except BaseException:
        if wl is not None:
            sys.stderr.write("workload: %s\n" % wl.describe())
            sys.stderr.write("faults: %s\n" % [(r["t"], r["action"], r["target"]) for r in schedule.injected])
        cluster.dump()
        raise
    finally:
        stop.set()
        if wl is not None and wl.thread and wl.thread.is_alive():
            wl.stopping.set()
        cluster.close()


def print_deposed_tasks(cluster, log, violations, out=sys.stdout):
    """For "deposed leader" violations: the trail and the daemons' log
    lines of the first two tasks each one names."""
    for x in violations:
        if not x.startswith("deposed leader:"):
            continue
        tids = []
        for tid in re.findall(r"\b([sl]\d{3,4}(?:\.\d+)?) ", x):
            if tid not in tids:
                tids.append(tid)
        for tid in tids[:2]:
            out.write("   trail of %s:\n" % tid)
            for line in trail(log, tid):
                out.write("     %s\n" % line)
        print_log_lines(cluster, tids[:2], out)


def print_leader_lines(cluster, out=sys.stdout):
    """Each master's election and leadership log lines: what the lead
    needs to judge a two-leader or expiry violation."""
    for m in cluster.masters:
        lines = [l for l in m.grep("", limit=100000) if "zookeeper client" not in l and "zk client" not in l]
        keep = set()
        for i, l in enumerate(lines):
            if "elected leader" in l or "leading master" in l or "==== start" in l or "contending" in l:
                keep.add(i)
            if "lost leadership" in l:
                keep.update(range(max(0, i - 8), i + 1))  # what it did last
        out.write("   %s election lines:\n" % m.name)
        for i in sorted(keep)[-30:]:
            out.write("     %s\n" % lines[i][:300])
    out.flush()


# ---- the HA checker's own tests: synthetic records with known faults -------

A = ("agent-S0", "agent-S1", "agent-S2")


def sample(t, **answers):
    return {"t": t, "t_end": t + 0.01, "answers": answers,
            "elected": sorted(n for n, e in answers.items() if e == 1)}


def ha_final(agents=A, inactive=(), leader_port=5050, zk_port=5050):
    ga = [{"agent_info": {"id": {"value": a}}, "active": a not in inactive} for a in agents]
    return {"state": {"slaves": [{"id": a, "active": True} for a in A]},
            "agents": {"get_agents": {"agents": ga, "recovered_agents": []}},
            "leader": {"name": "master1", "port": leader_port},
            "zk_leader": {"address": {"ip": "127.0.0.1", "port": zk_port}, "id": "x"}}


M0, M1 = "127.0.0.1:5050", "127.0.0.1:5051"


def ha_log(restarted_as="standby", agents_secs=2.1, exit_rec=None, extra=()):
    """master0 leads, is killed at 1.0s, master1 is seen elected at 3.0s
    and the framework resubscribes there at 3.6s."""
    log = [{"kind": "subscribed", "master": M0, "gen": 1, "t": 0.5},
           {"kind": "update", "task": "s0000.0", "state": "TASK_RUNNING", "gen": 1, "t": 0.9},
           {"kind": "fault", "action": "kill -9", "target": "master0", "t": 1.0},
           {"kind": "fault", "action": "restart", "target": "master0", "t": 1.5},
           {"kind": "failover", "cause": "kill -9", "old": "master0", "old_address": M0,
            "new": "master1", "t": 3.5, "down_t": 1.0, "leader_secs": 2.0,
            "agents_secs": agents_secs, "agents": 3, "running": 100, "restarted_as": restarted_as},
           {"kind": "subscribed", "master": M1, "gen": 2, "t": 3.6},
           {"kind": "update", "task": "s0000.0", "state": "TASK_FINISHED", "gen": 2, "t": 4.0},
           {"kind": "launch", "task": "s0001.0", "master": M1, "status": 202, "t": 4.1}]
    if exit_rec is not None:
        log.append(dict(kind="expiry_exit", target="master1", t=5.0, **exit_rec))
    log.extend(extra)
    log.sort(key=lambda r: r["t"])
    for i, r in enumerate(log):
        r["seq"] = i
    return log


GOOD_SAMPLES = [sample(0.0, master0=1, master1=0, master2=0), sample(0.3, master1=0, master2=0),
                sample(3.0, master1=1, master2=0), sample(3.3, master0=0, master1=1, master2=0)]

HA_CASES = [
    # (what, log, samples, final, expected violation text)
    ("two leaders in one sample", ha_log(),
     GOOD_SAMPLES + [sample(4.0, master0=0, master1=1, master2=1)], ha_final(), "two leaders: master1, master2"),
    ("no samples", ha_log(), [], ha_final(), "no sample of the masters"),
    ("never a leader", ha_log(), [sample(0.0, master0=0, master1=None)], ha_final(),
     "no sample found a leader"),
    ("GET_AGENTS misses an agent", ha_log(), GOOD_SAMPLES, ha_final(agents=A[:2]),
     "GET_AGENTS on the leader lists 2 agents"),
    ("GET_AGENTS lists an agent inactive", ha_log(), GOOD_SAMPLES, ha_final(inactive=A[1:2]),
     "agent-S1 inactive"),
    ("znode names another leader", ha_log(), GOOD_SAMPLES, ha_final(zk_port=6060),
     "lowest json.info_ znode names port 6060"),
    ("no leader znode", ha_log(), GOOD_SAMPLES, dict(ha_final(), zk_leader=None), "no json.info_ znode"),
    ("failover incomplete", ha_log(agents_secs=None), GOOD_SAMPLES, ha_final(), "did not complete"),
    ("restarted master leads", ha_log(restarted_as="leader"), GOOD_SAMPLES, ha_final(),
     "is not a standby"),
    ("kill without a failover", [r for r in ha_log() if r["kind"] != "failover"], GOOD_SAMPLES, ha_final(),
     "1 leaders killed or frozen, 0 failovers"),
    ("deposed leader delivers an update",
     ha_log(extra=[{"kind": "update", "task": "s0000.0", "state": "TASK_RUNNING", "gen": 1, "t": 3.05}]),
     GOOD_SAMPLES, ha_final(), "deposed leader: master0 (127.0.0.1:5050) delivered 1 status updates"),
    ("deposed leader accepts a launch",
     ha_log(extra=[{"kind": "launch", "task": "s0002.0", "master": M0, "status": 202, "t": 3.2}]),
     GOOD_SAMPLES, ha_final(), "deposed leader: master0 (127.0.0.1:5050) accepted 1 launches"),
    ("expired leader kept running",
     ha_log(exit_rec=dict(exited=False, code=None, secs_after_thaw=10.0, line=None)),
     GOOD_SAMPLES, ha_final(), "still ran 10.0s after SIGCONT"),
    ("expired leader exited 0",
     ha_log(exit_rec=dict(exited=True, code=0, secs_after_thaw=0.1, line="lost leadership: x")),
     GOOD_SAMPLES, ha_final(), "exited with status 0"),
    ("expired leader exited silently",
     ha_log(exit_rec=dict(exited=True, code=1, secs_after_thaw=0.1, line=None)),
     GOOD_SAMPLES, ha_final(), "without logging 'lost leadership'"),
]


def test_ha_checker():
    v, stats = check_ha(ha_log(), GOOD_SAMPLES, ha_final(), 3)
    assert v == [], v
    assert stats["samples with one leader"] == 3 and stats["samples with no leader"] == 1, stats
    # before the successor: fine; a refused launch: fine
    early = [{"kind": "update", "task": "s0000.0", "state": "TASK_RUNNING", "gen": 1, "t": 2.9},
             # arrived before, handled after the election (framework busy)
             {"kind": "update", "task": "s0000.0", "state": "TASK_RUNNING", "gen": 1, "t": 3.3,
              "recv_t": 2.95},
             {"kind": "launch", "task": "s0002.0", "master": M0, "status": None, "t": 3.2}]
    assert check_ha(ha_log(extra=early), GOOD_SAMPLES, ha_final(), 3)[0] == []
    ok_exit = dict(exited=True, code=1, secs_after_thaw=0.05, line="... lost leadership: expired")
    assert check_ha(ha_log(exit_rec=ok_exit), GOOD_SAMPLES, ha_final(), 3)[0] == []
    for what, log, samples, final, want in HA_CASES:
        v, _ = check_ha(log, samples, final, 3)
        assert any(want in x for x in v), "HA checker case %r: expected %r, got %s" % (what, want, v)
    # a freeze is a master death for the forgotten-launch rule of check()
    log = [{"kind": "launch", "task": "s0000.0", "logical": "s0000", "tkind": "short", "status": 202,
            "sent": 1.0, "t": 1.0, "seq": 0, "agent": A[0]},
           {"kind": "fault", "action": "freeze", "target": "master0", "t": 1.1, "seq": 1},
           {"kind": "update", "task": "s0000.0", "state": "TASK_UNKNOWN", "uuid": None, "agent": A[0],
            "source": "SOURCE_MASTER", "reason": "REASON_RECONCILIATION", "t": 5.0, "seq": 2}]
    v, stats = check(log, 1, 0, 3, {"state": {"slaves": []}, "agents": {}, "tasks": {},
                                    "agent_states": {}})
    assert not any("no master kill in between" in x for x in v), v
    assert stats["vanished"] == ["s0000.0"], stats


ESCAPES = [
    # (znode name, key)
    ("0a1b-c2d3-S0", "0a1b-c2d3-S0"),
    ("%2Fproduct%2Fdb", "/product/db"),
    ("%6Deta", "meta"),
    ("a.b_c-d", "a.b_c-d"),
    ("%C3%A9t%C3%A9", "\u00e9t\u00e9"),
    ("100%", "100%"),      # not an escape: kept as it is
    ("%zz", "%zz"),
]


def test_zk_unescape():
    for name, key in ESCAPES:
        assert zk_unescape(name) == key, (name, zk_unescape(name), key)


# ---- runs with real faults ------------------------------------------------

def ha_cluster(path):
    return HaFaultCluster(ZK.address, path, masters=3, agents=3, quorum=2,
                          session_timeout="%dsecs" % SESSION_SECS,
                          master_args=MASTER_ARGS, agent_args=AGENT_ARGS)


def test_leader_kill9():
    rng = random.Random(SEED + 10)
    sched = LeaderKills(rng.randrange(1 << 30), count=3)
    stats, hstats = run_ha("leader kill -9 (3 masters, ZooKeeper)", ha_cluster("/faults-kill"), sched,
                           n_short=N_SHORT, n_long=N_LONG, timeout=150)
    kills = [r for r in sched.injected if r["action"] == "kill -9"]
    assert len(kills) == 3, stats["faults"]
    assert len(hstats["failovers"]) == 3, hstats["failovers"]
    assert stats["subscriptions"] > 3, "the framework did not resubscribe after each kill"


def test_leader_session_expiry():
    rng = random.Random(SEED + 11)
    sched = LeaderExpiry(rng.randrange(1 << 30), session_secs=SESSION_SECS)
    stats, hstats = run_ha("leader session expiry (3 masters, ZooKeeper)", ha_cluster("/faults-expiry"),
                           sched, n_short=N_SHORT, n_long=N_LONG, timeout=150)
    acts = [r["action"] for r in sched.injected]
    assert acts == ["freeze", "thaw", "exit", "restart"], stats["faults"]
    assert len(hstats["failovers"]) == 1, hstats["failovers"]
    assert stats["subscriptions"] > 1, "the framework did not resubscribe after the expiry"


def main():
    global ZK
    sys.stdout.write("fault seed %d (FAULT_SEED=%d reproduces it)\n" % (SEED, SEED))
    why = zkserver.missing()
    tests = [test_ha_checker, test_zk_unescape]
    if why:
        print("SKIP the runs of test_faults_ha: %s" % why)
        run_tests(tests)  # exits
    rc = 0
    with zkserver.ZkServer(tick_ms=ZK_TICK_MS) as zk:
        ZK = zk
        try:
            run_tests(tests + [test_leader_kill9, test_leader_session_expiry])
        except SystemExit as e:
            rc = e.code
        if rc:
            print("---- zookeeper log ----\n%s" % zk.log())
    return rc


if __name__ == "__main__":
    sys.exit(main())
