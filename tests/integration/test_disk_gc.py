#!/usr/bin/env python3
"""Disk isolation (disk/du) and sandbox garbage collection, end to end.

A task with disk: 10 that writes 20 MB is killed with
REASON_CONTAINER_LIMITATION_DISK when --enforce-container-disk-quota is
on, and only reported (disk_used_bytes / disk_limit_bytes in
/monitor/statistics and GET_CONTAINERS) when it is off; data written to a
persistent volume mounted in the sandbox is not counted. With a tiny
--gc-delay the sandbox of a finished task is removed (with its
completed-task record) while a running task's stays; a sandbox with
something still mounted inside is kept (and logged) until the mount is
gone; a sandbox left by an earlier run of the agent is found and removed
after a restart. The mount and volume tests need root and are skipped
otherwise."""

import glob
import json
import os
import subprocess
import time

from atolltest import (Cluster, RawScheduler, call, http_request, launch,
                       run_tests, task_info, wait_for)

MIB = 1 << 20
FW = {"user": "root", "name": "diskgc"}
FAST_DISK = ["--container-disk-watch-interval", "0.2secs"]
TERMINAL = ("TASK_FAILED", "TASK_FINISHED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR")


def disk(value, role="*"):
    return {"name": "disk", "type": "SCALAR", "scalar": {"value": value},
            "allocation_info": {"role": role}}


class Run:
    """A cluster, a subscribed raw scheduler and helpers."""

    def __init__(self, agent_args=(), fw=None):
        self.c = Cluster(agent_args=list(agent_args))
        self.fw = dict(fw or FW)

    def __enter__(self):
        self.c.__enter__()
        self.agent = self.c.agents[0]
        self.s = RawScheduler(self.c.master.port, self.fw)
        code, _ = self.s.subscribe()
        assert code == 200
        self.skipped = []
        return self

    def __exit__(self, et, ev, tb):
        try:
            self.s.close()
        finally:
            self.c.__exit__(et, ev, tb)
        return False

    def work(self):
        return os.path.join(self.c.dir, "agent0", "work")

    def offer(self):
        evs = [e for e in self.skipped if e.get("type") == "OFFERS"]
        self.skipped[:] = [e for e in self.skipped if e.get("type") != "OFFERS"]
        ev = evs[0] if evs else self.s.expect("OFFERS", others=self.skipped)
        return ev["offers"]["offers"][0]

    def start(self, tid, cmd, extra_resources=(), mem=32):
        o = self.offer()
        t = task_info(tid, o, cmd, mem=mem)
        t["resources"] += list(extra_resources)
        st, _, body = launch(self.s, o, [t], refuse=0.1)
        assert st == 202, body

    def until(self, tid, states, timeout=20):
        while True:
            ev = self.s.expect("UPDATE", timeout, others=self.skipped,
                               pred=lambda e: e["update"]["status"]["task_id"]["value"] == tid)
            st = ev["update"]["status"]
            self.s.ack(st)
            if st["state"] in states:
                return st

    def containers(self):
        st, _, text = call(self.agent.port, {"type": "GET_CONTAINERS"}, path="/api/v1")
        assert st == 200, text
        return json.loads(text)["get_containers"].get("containers", [])

    def stats(self, eid):
        """(GET_CONTAINERS' resource_statistics, /monitor/statistics')."""
        a = [c["resource_statistics"] for c in self.containers()
             if c["executor_id"]["value"] == eid]
        st, _, text = http_request(self.agent.port, "GET", "/monitor/statistics")
        assert st == 200, text
        b = [e["statistics"] for e in json.loads(text) if e["executor_id"] == eid]
        return (a[0] if a else None), (b[0] if b else None)

    def sandboxes(self, eid):
        return [p for p in glob.glob(os.path.join(
            self.work(), "slaves", "*", "frameworks", "*", "executors", eid, "runs", "*"))
            if not os.path.islink(p)]

    def sandbox(self, eid):
        sbs = self.sandboxes(eid)
        assert len(sbs) == 1, sbs
        return sbs[0]

    def completed_ids(self):
        st, _, text = call(self.agent.port, {"type": "GET_TASKS"}, path="/api/v1")
        assert st == 200, text
        tasks = json.loads(text)["get_tasks"]
        return [t["task_id"]["value"] for t in tasks.get("completed_tasks", [])]


WRITE_20MB = ("dd if=/dev/zero of=big bs=1M count=20 conv=fsync 2>/dev/null "
              "&& echo written && sleep 60")


def test_disk_limit_enforced():
    with Run(FAST_DISK + ["--enforce-container-disk-quota"]) as r:
        r.start("hog", WRITE_20MB, [disk(10)])
        st = r.until("hog", TERMINAL, timeout=30)
        assert st["state"] == "TASK_FAILED", st
        assert st.get("reason") == "REASON_CONTAINER_LIMITATION_DISK", st
        assert st.get("source") == "SOURCE_AGENT", st
        msg = st.get("message", "")
        assert "Disk usage (" in msg and "exceeds quota (10.0MB)" in msg, st
        assert "10485760 bytes allowed" in msg, st
        used = int(msg.split("(")[-1].split(" bytes used")[0])
        assert used > 10 * MIB, msg
        print("     disk message: %s" % msg)
        # the container is gone: nothing of it is left running
        wait_for(lambda: not r.containers(), 10, "container gone")


def test_disk_usage_reported_without_enforcement():
    with Run(FAST_DISK) as r:
        r.start("big", WRITE_20MB, [disk(10)])
        r.until("big", ("TASK_RUNNING",))

        def measured():
            a, b = r.stats("big")
            return a and b and a.get("disk_used_bytes", 0) >= 20 * MIB and \
                b.get("disk_used_bytes", 0) >= 20 * MIB and (a, b)
        a, b = wait_for(measured, 15, "20 MB reported")
        assert a["disk_limit_bytes"] == 10 * MIB, a
        assert b["disk_limit_bytes"] == 10 * MIB, b
        assert a["disk_used_bytes"] < 30 * MIB, a
        # over its limit for several intervals, and still running
        time.sleep(1.0)
        assert r.stats("big")[0] is not None
        assert "not enforced" in r.agent.log(), r.agent.log()
        r.s.call("KILL", {"task_id": {"value": "big"},
                          "agent_id": {"value": r.c.state()["slaves"][0]["id"]}})
        st = r.until("big", TERMINAL)
        assert st["state"] == "TASK_KILLED", st


def test_disk_off_without_isolator():
    # an explicit isolator list without disk/du: nothing measured
    with Run(FAST_DISK + ["--isolation", "posix/cpu,posix/mem"]) as r:
        r.start("quiet", "echo x > f; sleep 30", [disk(10)])
        r.until("quiet", ("TASK_RUNNING",))
        time.sleep(0.8)
        a, b = r.stats("quiet")
        assert "disk_used_bytes" not in a and "disk_used_bytes" not in b, (a, b)
        assert a["disk_limit_bytes"] == 10 * MIB, a


RESV = [{"type": "DYNAMIC", "role": "eng", "principal": "p1"}]


def rres(name, value, disk_info=None):
    r = {"name": name, "type": "SCALAR", "scalar": {"value": value},
         "reservations": RESV, "allocation_info": {"role": "eng"}}
    if disk_info:
        r["disk"] = disk_info
    return r


def volume(size):
    return rres("disk", size, {"persistence": {"id": "v1", "principal": "p1"},
                               "volume": {"container_path": "data", "mode": "RW"}})


def test_volume_data_not_counted():
    if os.geteuid() != 0:
        print("     skipped: persistent volumes need root")
        return
    fw = {"user": "root", "name": "vol", "role": "eng", "principal": "p1"}
    with Run(FAST_DISK + ["--enforce-container-disk-quota"], fw=fw) as r:
        o = r.offer()
        aid = o["agent_id"]
        task = {"name": "v", "task_id": {"value": "v"}, "agent_id": aid,
                "command": {"shell": True, "value":
                            "dd if=/dev/zero of=data/big bs=1M count=20 conv=fsync "
                            "2>/dev/null && dd if=/dev/zero of=small bs=1M count=1 "
                            "2>/dev/null && sleep 60"},
                "resources": [rres("cpus", 0.1), rres("mem", 32), volume(50),
                              disk(10, role="eng")]}
        ops = [{"type": "RESERVE", "reserve": {"resources": [
                    rres("cpus", 0.1), rres("mem", 32), rres("disk", 50)]}},
               {"type": "CREATE", "create": {"volumes": [volume(50)]}},
               {"type": "LAUNCH", "launch": {"task_infos": [task]}}]
        st, _, body = r.s.call("ACCEPT", {"offer_ids": [o["id"]], "operations": ops,
                                          "filters": {"refuse_seconds": 0.1}})
        assert st == 202, body
        r.until("v", ("TASK_RUNNING",))
        vdir = os.path.join(r.work(), "volumes", "roles", "eng", "v1")

        def written():
            a, _ = r.stats("v")
            return (os.path.exists(os.path.join(vdir, "big")) and
                    os.path.getsize(os.path.join(vdir, "big")) == 20 * MIB and
                    a and a.get("disk_used_bytes", 0) >= MIB and a)
        a = wait_for(written, 20, "the volume written and the sandbox measured")
        time.sleep(1.0)  # several measurements over the volume's 20 MB
        a, _ = r.stats("v")
        assert a is not None, "the task was killed: the volume was counted"
        assert MIB <= a["disk_used_bytes"] < 5 * MIB, a
        assert a["disk_limit_bytes"] == 10 * MIB, a  # not the volume's 50
        r.s.call("KILL", {"task_id": {"value": "v"}, "agent_id": aid})
        st = r.until("v", TERMINAL)
        assert st["state"] == "TASK_KILLED", st
        assert os.path.getsize(os.path.join(vdir, "big")) == 20 * MIB


def test_gc_removes_finished_keeps_running():
    with Run(["--gc-delay", "2secs", "--disk-watch-interval", "0.2secs"]) as r:
        r.start("long", "sleep 60")
        r.until("long", ("TASK_RUNNING",))
        r.start("short", "echo done")
        assert r.until("short", TERMINAL)["state"] == "TASK_FINISHED"
        sb = r.sandbox("short")
        keep = r.sandbox("long")
        wait_for(lambda: "short" in r.completed_ids(), 5, "completed record")
        wait_for(lambda: "sandbox='%s' delay=2s sandbox scheduled" % sb in r.agent.log(),
                 10, "scheduled in the log")
        t0 = time.time()
        wait_for(lambda: not os.path.exists(sb), 15, "finished sandbox removed")
        assert time.time() - t0 > 0.5, "removed before its gc_delay"
        # The log line and the records follow the deletion (which runs
        # off the loop) from the loop.
        wait_for(lambda: "sandbox='%s' sandbox removed" % sb in r.agent.log(), 5, "the removal logged")
        # the run's empty parents went too, the record of its task with them
        wait_for(lambda: not os.path.exists(os.path.dirname(os.path.dirname(sb))), 5, "empty parents removed")
        wait_for(lambda: "short" not in r.completed_ids(), 5, "the task's record gone")
        time.sleep(1.0)
        assert os.path.isdir(keep) and os.path.exists(os.path.join(keep, "stdout"))
        assert r.stats("long")[0] is not None


def test_gc_keeps_sandbox_with_a_mount():
    if os.geteuid() != 0:
        print("     skipped: mounting needs root")
        return
    with Run(["--gc-delay", "0secs", "--disk-watch-interval", "0.2secs"]) as r:
        r.start("m", "sleep 2")
        r.until("m", ("TASK_RUNNING",))
        sb = r.sandbox("m")
        mnt = os.path.join(sb, "mnt")
        os.mkdir(mnt)
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt])
        try:
            with open(os.path.join(mnt, "precious"), "w") as f:
                f.write("keep me")
            assert r.until("m", TERMINAL)["state"] == "TASK_FINISHED"
            wait_for(lambda: "is still mounted" in r.agent.log(), 10, "refusal logged")
            time.sleep(0.6)
            assert os.path.exists(os.path.join(mnt, "precious"))
            assert os.path.exists(os.path.join(sb, "stdout"))
            # logged once, retried every interval
            assert r.agent.log().count("is still mounted") == 1, r.agent.log()
        finally:
            subprocess.call(["umount", "-l", mnt])
        wait_for(lambda: not os.path.exists(sb), 10, "removed once unmounted")


def test_gc_after_restart():
    with Run(["--gc-delay", "1weeks"]) as r:
        r.start("old", "echo old")
        assert r.until("old", TERMINAL)["state"] == "TASK_FINISHED"
        sb = r.sandbox("old")
        wait_for(lambda: "sandbox='%s'" % sb in r.agent.log(), 10, "scheduled")
        time.sleep(0.3)
        assert os.path.isdir(sb)  # a week is long
        # restart the agent with a short delay: it finds the old sandbox
        r.agent.stop()
        i = r.agent.args.index("--gc-delay")
        r.agent.args[i + 1] = "1secs"
        r.agent.args += ["--disk-watch-interval", "0.2secs"]
        r.agent.start()
        wait_for(lambda: "left by an earlier run" in r.agent.log(), 10,
                 "old sandbox listed")
        wait_for(lambda: not os.path.exists(sb), 10, "old sandbox removed")


if __name__ == "__main__":
    run_tests([
        test_disk_limit_enforced,
        test_disk_usage_reported_without_enforcement,
        test_disk_off_without_isolator,
        test_volume_data_not_counted,
        test_gc_removes_finished_keeps_running,
        test_gc_keeps_sandbox_with_a_mount,
        test_gc_after_restart,
    ])
