#!/usr/bin/env python3
"""A framework built on the C scheduler library (examples/hello_framework)
against a real master and two agents: 200 tasks to FINISHED with every
update acknowledged, kill, and reconciliation."""

import os
import subprocess
import time

from atolltest import BUILD, Cluster, run_tests, wait_for

HELLO = os.path.join(BUILD, "examples", "hello_framework")


def run_hello(c, *args, timeout=120):
    p = subprocess.run([HELLO, "--master", c.master.address] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        print(p.stdout[-5000:], p.stderr[-5000:])
    return p


def test_200_tasks_finish_and_are_acknowledged():
    with Cluster(agents=2, resources="cpus:2;mem:2048;disk:1024;ports:[31000-31100]") as c:
        t0 = time.time()
        p = run_hello(c, "--tasks", "200", "--cpus", "0.1", "--mem", "16", "--cmd", "echo done-$MESOS_EXECUTOR_ID")
        took = time.time() - t0
        assert p.returncode == 0, p.returncode
        assert p.stdout.count("TASK_FINISHED") >= 200, p.stdout[-2000:]
        print("     200 tasks through the C library in %.2fs" % took)
        st = c.state()
        # tasks move to completed only when the framework acknowledged
        # their terminal update
        fws = st["completed_frameworks"] + st["frameworks"]
        assert len(fws) == 1
        done = fws[0]["completed_tasks"]
        assert len(done) == 200, len(done)
        assert all(t["state"] == "TASK_FINISHED" for t in done)
        assert fws[0]["tasks"] == []
        # both agents ran tasks
        agents = set(t["slave_id"] for t in done)
        assert len(agents) == 2, agents
        for a in st["slaves"]:
            assert a["used_resources"]["cpus"] == 0, a


def test_kill_after_running():
    with Cluster(agents=1) as c:
        p = run_hello(c, "--tasks", "3", "--cmd", "sleep 600", "--kill-after-running")
        assert p.returncode == 0, p.returncode
        assert p.stdout.count("TASK_KILLED") >= 3, p.stdout
        st = c.state()
        assert st["slaves"][0]["used_resources"]["cpus"] == 0


def test_reconcile():
    with Cluster(agents=1) as c:
        p = run_hello(c, "--tasks", "2", "--reconcile")
        assert p.returncode == 0, p.returncode
        assert "REASON_RECONCILIATION" in p.stdout, p.stdout


if __name__ == "__main__":
    run_tests([test_200_tasks_finish_and_are_acknowledged, test_kill_after_running, test_reconcile])
