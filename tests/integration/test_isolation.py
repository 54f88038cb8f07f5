#!/usr/bin/env python3
"""Container isolation with cgroups: the memory limit (an OOM kill becomes
TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY), the limits written
while a task runs and the cgroup removed after it, a hard CFS quota, the
pids limit, GET_CONTAINERS' limits. Skipped when not root or when the
machine has no usable cgroups (v1 cpu, cpuacct, memory, pids mounts, or a
cgroup2 hierarchy with cpu, memory and pids). Every test runs under its own
--cgroups-root and checks that no cgroup is left behind."""

import json
import os
import sys
import time

from atolltest import (Cluster, RawScheduler, call, http_request, launch,
                       run_tests, task_info, wait_for)

FW = {"user": "root", "name": "isolation"}
MIB = 1 << 20
OVERHEAD_MEM = 32 * MIB
V1 = ("cpu", "cpuacct", "memory", "pids")


def mounts():
    """{controller: mount point} of v1 hierarchies, and the v2 mount."""
    v1, v2 = {}, None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3:
                continue
            if rfields[0] == "cgroup2":
                v2 = fields[4]
            elif rfields[0] == "cgroup":
                for c in rfields[2].split(","):
                    if c in V1 and c not in v1:
                        v1[c] = fields[4]
    return v1, v2


def detect():
    """('v2', {c: dir}) / ('v1', {c: dir}) / (None, reason)."""
    if os.geteuid() != 0:
        return None, "not root"
    v1, v2 = mounts()
    if v2:
        try:
            with open(os.path.join(v2, "cgroup.controllers")) as f:
                ctl = f.read().split()
            if all(c in ctl for c in ("cpu", "memory", "pids")):
                return "v2", {c: v2 for c in V1}
        except OSError:
            pass
    if all(c in v1 for c in V1):
        return "v1", v1
    return None, "no usable cgroups hierarchy"


VERSION, MOUNTS = detect()


class Iso:
    """A cluster whose agent isolates with cgroups under a private root."""

    def __init__(self, *extra, fw=None):
        self.root = "atoll-it-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.c = Cluster(agent_args=["--isolation", "cgroups", "--cgroups-root", self.root] + list(extra))
        self.fw = fw or FW

    def __enter__(self):
        self.c.__enter__()
        self.agent = self.c.agents[0]
        self.s = RawScheduler(self.c.master.port, dict(self.fw))
        code, _ = self.s.subscribe()
        assert code == 200
        return self

    def __exit__(self, et, ev, tb):
        try:
            self.s.close()
        finally:
            self.c.__exit__(et, ev, tb)
        leftovers = []
        for d in set(self.root_dir(c) for c in V1):
            if os.path.isdir(d):
                leftovers += [os.path.join(d, x) for x in os.listdir(d)
                              if os.path.isdir(os.path.join(d, x))]
                try:
                    os.rmdir(d)
                except OSError as e:
                    leftovers.append("%s (%s)" % (d, e))
        if et is None:
            assert not leftovers, "cgroups left behind: %s" % leftovers
        return False

    def root_dir(self, c):
        return os.path.join(MOUNTS[c], self.root)

    def cg(self, c, cid, name):
        return os.path.join(self.root_dir(c), cid, name)

    def read(self, c, cid, name):
        with open(self.cg(c, cid, name)) as f:
            return f.read().strip()

    def offer(self):
        return self.s.expect("OFFERS")["offers"]["offers"][0]

    def start(self, tid, cmd, cpus=0.1, mem=32):
        o = self.offer()
        st, _, body = launch(self.s, o, [task_info(tid, o, cmd, cpus=cpus, mem=mem)])
        assert st == 202, body

    def until(self, tid, states, timeout=20):
        while True:
            ev = self.s.expect("UPDATE", timeout,
                               pred=lambda e: e["update"]["status"]["task_id"]["value"] == tid)
            st = ev["update"]["status"]
            self.s.ack(st)
            if st["state"] in states:
                return st

    def containers(self):
        st, _, text = call(self.agent.port, {"type": "GET_CONTAINERS"}, path="/api/v1")
        assert st == 200, text
        return json.loads(text)["get_containers"].get("containers", [])

    def container(self, eid):
        for ct in self.containers():
            if ct["executor_id"]["value"] == eid:
                return ct
        raise AssertionError("no container for %s" % eid)

    def kill(self, tid):
        st, _, body = self.s.call("KILL", {"task_id": {"value": tid},
                                           "agent_id": {"value": self.agent_id()}})
        assert st == 202, body

    def agent_id(self):
        return self.c.state()["slaves"][0]["id"]

    def gone(self, cid):
        return not any(os.path.exists(os.path.join(self.root_dir(c), cid)) for c in V1)


def mem_limit_file():
    return "memory.max" if VERSION == "v2" else "memory.limit_in_bytes"


def test_memory_limit_oom_kill():
    with Iso() as t:
        t.start("hog", "python3 -c 'a = bytearray(200*1024*1024); "
                       "import time; time.sleep(5)'", mem=64)
        st = t.until("hog", ("TASK_FAILED", "TASK_FINISHED", "TASK_KILLED", "TASK_LOST"))
        assert st["state"] == "TASK_FAILED", st
        assert st.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY", st
        assert st.get("source") == "SOURCE_AGENT", st
        assert "Memory limit exceeded" in st.get("message", ""), st
        assert "Requested: 96MB" in st["message"], st
        print("     oom message: %s" % st["message"])


def test_limits_while_running_and_removal():
    with Iso("--cgroups-pids-max", "100") as t:
        t.start("calm", "echo up; sleep 30", cpus=0.5, mem=64)
        t.until("calm", ("TASK_RUNNING",))
        ct = t.container("calm")
        cid = ct["container_id"]["value"]
        pid = ct["container_status"]["executor_pid"]
        assert int(t.read("memory", cid, mem_limit_file())) == 64 * MIB + OVERHEAD_MEM
        if VERSION == "v1":
            assert int(t.read("cpu", cid, "cpu.shares")) == int(0.6 * 1024)
            assert t.read("cpu", cid, "cpu.cfs_quota_us") == "-1"
        else:
            assert int(t.read("cpu", cid, "cpu.weight")) == 60
        assert t.read("pids", cid, "pids.max") == "100"
        for c in V1:
            procs = t.read(c, cid, "cgroup.procs").split()
            assert str(pid) in procs, (c, pid, procs)
        # The task itself (sleep) is inside too, in every hierarchy.
        assert len(t.read("memory", cid, "cgroup.procs").split()) >= 2
        # GET_CONTAINERS reports the cgroup's limits (the task's resources
        # plus the executor overhead, as Mesos) and the usage read from the
        # cgroup (mem_total_bytes is cgroup-only).
        rs = ct["resource_statistics"]
        assert rs["mem_limit_bytes"] == (64 + 32) * MIB, rs
        assert abs(rs["cpus_limit"] - 0.6) < 1e-9, rs
        assert rs["mem_total_bytes"] > 0, rs
        st, _, text = http_request(t.agent.port, "GET", "/monitor/statistics")
        assert st == 200
        mon = [e for e in json.loads(text) if e["executor_id"] == "calm"]
        assert mon and mon[0]["statistics"]["mem_limit_bytes"] == (64 + 32) * MIB, mon
        assert mon[0]["statistics"]["mem_total_bytes"] > 0, mon
        t.kill("calm")
        st = t.until("calm", ("TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"))
        assert st["state"] == "TASK_KILLED", st
        wait_for(lambda: t.gone(cid), 10, "cgroup removed")


def test_cfs_quota_caps_cpu():
    with Iso("--cgroups-enable-cfs") as t:
        t.start("spin", "while :; do :; done", cpus=0.2, mem=32)
        t.until("spin", ("TASK_RUNNING",))
        cid = t.container("spin")["container_id"]["value"]
        if VERSION == "v1":
            assert int(t.read("cpu", cid, "cpu.cfs_quota_us")) == 30000

            def usage():
                return int(t.read("cpuacct", cid, "cpuacct.usage")) / 1e9
        else:
            def usage():
                for line in t.read("cpu", cid, "cpu.stat").splitlines():
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1e6
        time.sleep(0.5)
        u0, t0 = usage(), time.time()
        time.sleep(2)
        share = (usage() - u0) / (time.time() - t0)
        print("     cpus 0.2 (+0.1 overhead) busy loop used %.3f of a core" % share)
        assert 0.1 <= share <= 0.35, share
        rs = t.container("spin")["resource_statistics"]
        assert rs["cpus_nr_throttled"] > 0, rs
        t.kill("spin")
        t.until("spin", ("TASK_KILLED", "TASK_FAILED"))
        wait_for(lambda: t.gone(cid), 10, "cgroup removed")


FORKER = ("import subprocess, sys, time\n"
          "ps = []\n"
          "for i in range(200):\n"
          "    try:\n"
          "        ps.append(subprocess.Popen(['sleep', '30']))\n"
          "    except OSError as e:\n"
          "        print('fork failed after', len(ps), e, flush=True)\n"
          "        break\n"
          "time.sleep(30)\n")


def test_pids_limit_stops_fork_bomb():
    with Iso("--cgroups-pids-max", "24") as t:
        with open(os.path.join(t.c.dir, "forker.py"), "w") as f:
            f.write(FORKER)
        t.start("bomb", "python3 %s" % os.path.join(t.c.dir, "forker.py"))
        t.until("bomb", ("TASK_RUNNING",))
        cid = t.container("bomb")["container_id"]["value"]
        sandbox = None

        def failed():
            nonlocal sandbox
            for root, _, files in os.walk(t.agent.dir):
                if "stdout" in files and root.endswith(cid):
                    sandbox = root
                    with open(os.path.join(root, "stdout")) as f:
                        return "fork failed" in f.read()
            return False
        wait_for(failed, 10, "the fork loop hit the limit")
        cur = int(t.read("pids", cid, "pids.current"))
        assert cur <= 24, cur
        events = t.read("pids", cid, "pids.events")
        assert int(events.split()[-1]) > 0, events
        print("     pids.current=%d with pids.max=24; %s" % (cur, events))
        st, _, _ = http_request(t.agent.port, "GET", "/health")
        assert st == 200
        t.kill("bomb")
        t.until("bomb", ("TASK_KILLED", "TASK_FAILED"))
        wait_for(lambda: t.gone(cid), 10, "cgroup removed")


def restart_agent(t, recover):
    t.agent.stop()
    i = t.agent.args.index("--recover") if "--recover" in t.agent.args else -1
    if i >= 0:
        t.agent.args[i + 1] = recover
    else:
        t.agent.args += ["--recover", recover]
    t.agent.start()


def test_restart_keeps_or_cleans_cgroups():
    fw = dict(FW, checkpoint=True, failover_timeout=600)
    with Iso(fw=fw) as t:
        t.start("kept", "sleep 30", mem=32)
        t.until("kept", ("TASK_RUNNING",))
        cid = t.container("kept")["container_id"]["value"]
        restart_agent(t, "reconnect")
        wait_for(lambda: any(ct["executor_id"]["value"] == "kept" for ct in t.containers()),
                 10, "executor adopted")
        assert not t.gone(cid)
        # The adopted container's usage still comes from its cgroup.
        rs = t.container("kept")["resource_statistics"]
        assert rs["mem_total_bytes"] > 0, rs
        restart_agent(t, "cleanup")
        wait_for(lambda: t.gone(cid), 10, "cgroup removed by --recover=cleanup")


def test_posix_isolation_has_no_cgroup():
    with Iso("--isolation", "posix") as t:
        t.start("plain", "sleep 30", mem=32)
        t.until("plain", ("TASK_RUNNING",))
        cid = t.container("plain")["container_id"]["value"]
        assert t.gone(cid)
        rs = t.container("plain")["resource_statistics"]
        assert rs["mem_limit_bytes"] == 32 * MIB and "mem_total_bytes" not in rs, rs
        t.kill("plain")
        t.until("plain", ("TASK_KILLED", "TASK_FAILED"))


if __name__ == "__main__":
    if VERSION is None:
        print("skip test_isolation.py: %s" % MOUNTS)
        sys.exit(0)
    print("cgroups %s" % VERSION)
    run_tests([test_memory_limit_oom_kill,
               test_limits_while_running_and_removal,
               test_cfs_quota_caps_cpu,
               test_pids_limit_stops_fork_bomb,
               test_restart_keeps_or_cleans_cgroups,
               test_posix_isolation_has_no_cgroup])
