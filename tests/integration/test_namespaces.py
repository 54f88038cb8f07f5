#!/usr/bin/env python3
"""Namespaces, users and capabilities of command tasks (docs/isolation.md),
the fetcher's wiring in the command executor, and an agent marked gone.

  - namespaces/pid: a task sees only its own processes (/proc counts,
    its shell is pid 2 under the executor's init) and cannot signal a
    neighbour; a SIGTERM kill reaches it through init;
  - filesystem/linux: /tmp is <sandbox>/tmp, private to the task, and
    the sandbox stays reachable at its path;
  - users: a task as nobody owns its sandbox, cannot write outside it,
    has no capability and no_new_privs; root tasks are refused without
    --allow-root-tasks, unknown users are TASK_ERROR naming them; an
    allowed root task keeps Docker's default capabilities only;
  - fetcher: a missing local URI fails the task with
    REASON_FETCHER_FAILURE, a readable one lands in the sandbox owned by
    the task's user;
  - MARK_AGENT_GONE: the agent's next SUBSCRIBE gets 403, it shuts its
    executors down and exits 1.

Every test checks that no mount of its cluster is left in the host's mount
table and no process of it survives. Namespaces and users need root: the
tests are skipped with a message otherwise."""

import json
import os
import pwd
import subprocess
import sys
import time

from atolltest import (ATOLL, Cluster, RawScheduler, call, launch, run_tests,
                       task_info, wait_for)

ROOT_FW = {"user": "root", "name": "namespaces"}
NOBODY_FW = {"user": "nobody", "name": "namespaces-nobody"}
NS = "posix,namespaces/pid,filesystem/linux"
# chown dac_override fowner fsetid kill setgid setuid setpcap
# net_bind_service net_raw sys_chroot mknod audit_write setfcap
DOCKER_CAPS = sum(1 << c for c in (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31))
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR")


class Box:
    """A cluster (one agent) and a subscribed raw scheduler."""

    def __init__(self, isolation=NS, fw=ROOT_FW, allow_root=True, extra=()):
        args = ["--isolation", isolation] if isolation else []
        self.c = Cluster(agent_args=args + list(extra), allow_root=allow_root)
        # Task users other than root must reach their sandboxes.
        os.chmod(self.c.dir, 0o755)
        self.fw = fw

    def __enter__(self):
        self.c.__enter__()
        self.agent = self.c.agents[0]
        self.s = RawScheduler(self.c.master.port, dict(self.fw))
        code, _ = self.s.subscribe()
        assert code == 200
        self.offers = []
        return self

    def __exit__(self, et, ev, tb):
        try:
            self.s.close()
        finally:
            d = self.c.dir
            self.c.__exit__(et, ev, tb)
        if et is None:
            left = [l for l in open("/proc/self/mountinfo") if d in l]
            assert not left, "mounts left behind: %s" % left
        return False

    def offer(self):
        if not self.offers:
            self.offers = self.s.expect("OFFERS", 15)["offers"]["offers"]
        return self.offers.pop(0)

    def start(self, tid, cmd, extra=None, cpus=0.1, mem=32):
        o = self.offer()
        st, _, body = launch(self.s, o, [task_info(tid, o, cmd, cpus=cpus, mem=mem, extra=extra)],
                             refuse=0.1)
        assert st == 202, body

    def until(self, tid, states, timeout=20):
        while True:
            ev = self.s.expect("UPDATE", timeout,
                               pred=lambda e: e["update"]["status"]["task_id"]["value"] == tid)
            st = ev["update"]["status"]
            self.s.ack(st)
            if st["state"] in states:
                return st

    def kill(self, tid, grace=None):
        body = {"task_id": {"value": tid}, "agent_id": {"value": self.agent_id()}}
        if grace is not None:
            body["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
        st, _, text = self.s.call("KILL", body)
        assert st == 202, text

    def agent_id(self):
        return self.c.state()["slaves"][0]["id"]

    def sandbox(self, tid):
        work = os.path.join(self.c.dir, "agent0", "work", "slaves")
        for root, dirs, _ in os.walk(work):
            if os.path.basename(root) == "executors" and tid in dirs:
                return os.path.join(root, tid, "runs", "latest")
        raise AssertionError("no sandbox for %s" % tid)

    def read(self, tid, name, timeout=10):
        path = os.path.join(self.sandbox(tid), name)
        wait_for(lambda: os.path.exists(path) and open(path).read().endswith("\n"), timeout,
                 "%s of %s" % (name, tid))
        with open(path) as f:
            return f.read().strip()

    def procs(self):
        """pids of processes working in this cluster's directory."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % pid)
            except OSError:
                continue
            if cwd.startswith(self.c.dir + "/"):
                out.append(int(pid))
        return out

    def wait_no_procs(self):
        wait_for(lambda: not self.procs(), 15, "no process of the cluster left")


def needs_root():
    if os.geteuid() != 0:
        print("     skipped: namespaces and users need root")
        return False
    return True


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_pid_namespace():
    if not needs_root():
        return
    with Box() as b:
        b.start("a", "sleep 1000")
        b.until("a", ("TASK_RUNNING",))
        sandbox_a = os.path.realpath(b.sandbox("a"))
        sleeper = wait_for(lambda: [p for p in b.procs() if cmdline(p).startswith("sleep 1000")
                                    and os.readlink("/proc/%d/cwd" % p) == sandbox_a], 10,
                           "task a's sleep")[0]
        b.start("b", "echo $$ > mypid; ls /proc | grep -c '^[0-9]' > nproc; "
                     "if kill -0 %d 2>/dev/null; then echo visible; else echo hidden; fi > other; "
                     "ps -e -o pid= | wc -l > ps; sleep 1000" % sleeper)
        b.until("b", ("TASK_RUNNING",))
        # sh -c is pid 2: pid 1 is the executor's init
        assert b.read("b", "mypid") == "2"
        # init, sh, ls and grep at most; the host has many more
        nproc = int(b.read("b", "nproc"))
        assert 2 <= nproc <= 4, nproc
        host = len([p for p in os.listdir("/proc") if p.isdigit()])
        assert host > 10, host
        assert b.read("b", "other") == "hidden"
        assert int(b.read("b", "ps")) <= 5
        # the host still sees (and the agent still kills) everything
        os.kill(sleeper, 0)
        b.kill("a")
        st = b.until("a", TERMINAL)
        assert st["state"] == "TASK_KILLED", st
        b.kill("b")
        assert b.until("b", TERMINAL)["state"] == "TASK_KILLED"
        b.wait_no_procs()


def test_sigterm_reaches_task_through_init():
    if not needs_root():
        return
    with Box() as b:
        b.start("t", "trap 'echo got-term > term; exit 0' TERM; "
                     "while true; do sleep 0.1; done")
        b.until("t", ("TASK_RUNNING",))
        time.sleep(0.5)
        t0 = time.time()
        b.kill("t", grace=30)
        st = b.until("t", TERMINAL)
        assert st["state"] == "TASK_KILLED", st
        # SIGTERM, not the SIGKILL 30 s later
        assert time.time() - t0 < 10
        assert b.read("t", "term") == "got-term"
        b.wait_no_procs()


def test_private_tmp():
    if not needs_root():
        return
    mark = "atoll-ns-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
    with Box() as b:
        b.start("one", "echo one > /tmp/%s; cd \"$MESOS_SANDBOX\" && echo ok > viaenv; "
                       "sleep 1000" % mark)
        b.until("one", ("TASK_RUNNING",))
        assert b.read("one", "viaenv") == "ok"
        assert b.read("one", "tmp/" + mark) == "one"
        assert not os.path.exists("/tmp/" + mark)
        b.start("two", "if [ -e /tmp/%s ]; then echo seen; else echo unseen; fi > out; "
                       "echo two > /tmp/two; ls -a /tmp | wc -l > ntmp" % mark)
        st = b.until("two", TERMINAL)
        assert st["state"] == "TASK_FINISHED", st
        assert b.read("two", "out") == "unseen"
        assert b.read("two", "tmp/two") == "two"
        assert not os.path.exists("/tmp/two") or open("/tmp/two").read() != "two\n"
        b.kill("one")
        b.until("one", TERMINAL)
        b.wait_no_procs()
    assert not os.path.exists("/tmp/" + mark)


def test_user_nobody_confined():
    if not needs_root():
        return
    nobody = pwd.getpwnam("nobody")
    probe = "/root/atoll-nobody-%d" % os.getpid()
    with Box(fw=NOBODY_FW) as b:
        work = os.path.join(b.c.dir, "agent0", "work")
        b.start("n", "id -u > uid; id -g > gid; "
                     "if echo x > %s; then echo yes; else echo no; fi > outside 2>/dev/null; "
                     "if echo x > %s/probe; then echo yes; else echo no; fi > workdir 2>/dev/null; "
                     "echo in > inside; echo in > \"$MESOS_SANDBOX/inside2\"; echo \"$USER $HOME\" > user; "
                     "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status > status"
                % (probe, work))
        st = b.until("n", TERMINAL)
        assert st["state"] == "TASK_FINISHED", st
        assert b.read("n", "uid") == str(nobody.pw_uid)
        assert b.read("n", "gid") == str(nobody.pw_gid)
        assert b.read("n", "outside") == "no"
        assert not os.path.exists(probe)
        assert b.read("n", "workdir") == "no"
        assert not os.path.exists(os.path.join(work, "probe"))
        assert b.read("n", "inside") == "in" and b.read("n", "inside2") == "in"
        assert b.read("n", "user") == "nobody %s" % nobody.pw_dir
        sb = b.sandbox("n")
        assert os.stat(sb).st_uid == nobody.pw_uid
        assert os.stat(os.path.join(sb, "inside")).st_uid == nobody.pw_uid
        assert os.stat(os.path.join(sb, "stdout")).st_uid == nobody.pw_uid
        status = dict(l.split(":", 1) for l in b.read("n", "status").splitlines())
        status = {k: v.strip() for k, v in status.items()}
        for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            assert status[k] == "0000000000000000", status
        assert status["NoNewPrivs"] == "1", status
        b.wait_no_procs()


def test_user_nobody_without_namespaces():
    """Users and capabilities do not depend on the namespaces."""
    if not needs_root():
        return
    with Box(isolation="posix", fw=NOBODY_FW) as b:
        b.start("p", "id -u > uid; grep CapEff /proc/self/status > caps; "
                     "ls /proc | grep -c '^[0-9]' > nproc")
        assert b.until("p", TERMINAL)["state"] == "TASK_FINISHED"
        assert b.read("p", "uid") == str(pwd.getpwnam("nobody").pw_uid)
        assert b.read("p", "caps").split()[1] == "0000000000000000"
        assert int(b.read("p", "nproc")) > 10  # the host's /proc
        b.wait_no_procs()


def test_root_task_keeps_docker_capabilities():
    if not needs_root():
        return
    with Box() as b:
        b.start("r", "id -u > uid; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status > status")
        assert b.until("r", TERMINAL)["state"] == "TASK_FINISHED"
        assert b.read("r", "uid") == "0"
        status = dict(l.split(":", 1) for l in b.read("r", "status").splitlines())
        assert int(status["CapBnd"].strip(), 16) == DOCKER_CAPS, status
        assert int(status["CapEff"].strip(), 16) == DOCKER_CAPS, status
        assert status["NoNewPrivs"].strip() == "0", status


def test_root_refused_and_unknown_user():
    if not needs_root():
        return
    with Box(isolation=None, allow_root=False) as b:
        b.start("root1", "true")
        st = b.until("root1", TERMINAL)
        assert st["state"] == "TASK_ERROR", st
        assert st["reason"] == "REASON_TASK_INVALID", st
        assert "tasks may not run as root; start the agent with --allow-root-tasks" in st["message"], st
        # CommandInfo.user wins over FrameworkInfo.user
        b.start("ghost", "true", extra={"command": {"shell": True, "value": "true",
                                                    "user": "no-such-user-atoll"}})
        st = b.until("ghost", TERMINAL)
        assert st["state"] == "TASK_ERROR", st
        assert "no-such-user-atoll" in st["message"], st
        b.start("nob", "id -u > uid", extra={"command": {"shell": True, "value": "id -u > uid",
                                                          "user": "nobody"}})
        assert b.until("nob", TERMINAL)["state"] == "TASK_FINISHED"
        assert b.read("nob", "uid") == str(pwd.getpwnam("nobody").pw_uid)
    with Box(isolation=None, fw=NOBODY_FW, allow_root=False) as b:
        b.start("root2", "true", extra={"command": {"shell": True, "value": "true", "user": "root"}})
        st = b.until("root2", TERMINAL)
        assert st["state"] == "TASK_ERROR", st
        assert "--allow-root-tasks" in st["message"], st


def test_bad_isolation_flag():
    for value, what in (("namespaces/pid,bogus", "unknown isolator 'bogus'"),
                        ("posix/cpu,cgroups/mem", "contradict"),
                        ("namespaces/pid,,filesystem/linux", "empty item")):
        p = subprocess.run([ATOLL, "agent", "--master", "127.0.0.1:1", "--port", "0",
                            "--isolation", value], capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (value, p.returncode, p.stderr)
        assert "--isolation" in p.stderr and what in p.stderr, (value, p.stderr)


def test_mesos_isolation_list_with_cgroups():
    if not needs_root():
        return
    if not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        print("     skipped: no cgroups")
        return
    with Box(isolation="cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux",
             extra=["--cgroups-root", "atoll-ns-%d" % os.getpid()]) as b:
        b.start("m", "echo $$ > mypid; cat /proc/self/cgroup > cg")
        assert b.until("m", TERMINAL)["state"] == "TASK_FINISHED"
        assert b.read("m", "mypid") == "2"
        assert "atoll-ns-%d" % os.getpid() in b.read("m", "cg")
    for h in ("cpu", "cpuacct", "memory", "pids", ""):
        try:
            os.rmdir(os.path.join("/sys/fs/cgroup", h, "atoll-ns-%d" % os.getpid()))
        except OSError:
            pass


def test_fetcher_wiring():
    if not needs_root():
        return
    with Box(fw=NOBODY_FW) as b:
        src = os.path.join(b.c.dir, "payload.txt")
        with open(src, "w") as f:
            f.write("payload\n")
        os.chmod(src, 0o644)
        b.start("f", "cat payload.txt > seen", extra={"command": {
            "shell": True, "value": "cat payload.txt > seen", "uris": [{"value": src}]}})
        st = b.until("f", TERMINAL)
        assert st["state"] == "TASK_FINISHED", st
        assert b.read("f", "seen") == "payload"
        nobody = pwd.getpwnam("nobody").pw_uid
        assert os.stat(os.path.join(b.sandbox("f"), "payload.txt")).st_uid == nobody
        missing = os.path.join(b.c.dir, "no-such-file")
        b.start("g", "true", extra={"command": {"shell": True, "value": "true",
                                                 "uris": [{"value": missing}]}})
        st = b.until("g", TERMINAL)
        assert st["state"] == "TASK_FAILED", st
        assert st["reason"] == "REASON_FETCHER_FAILURE", st
        assert missing in st["message"], st
        # a file the task's user may not read is not fetched for it
        secret = os.path.join(b.c.dir, "secret")
        with open(secret, "w") as f:
            f.write("secret\n")
        os.chmod(secret, 0o600)
        b.start("h", "true", extra={"command": {"shell": True, "value": "true",
                                                 "uris": [{"value": secret}]}})
        st = b.until("h", TERMINAL)
        assert st["state"] == "TASK_FAILED" and st["reason"] == "REASON_FETCHER_FAILURE", st
        b.wait_no_procs()


def test_agent_exits_when_marked_gone():
    with Box(isolation=None) as b:
        b.start("s", "sleep 1000")
        b.until("s", ("TASK_RUNNING",))
        aid = b.agent_id()
        st, _, text = call(b.c.master.port, {"type": "MARK_AGENT_GONE",
                                             "mark_agent_gone": {"agent_id": {"value": aid}}},
                           path="/api/v1")
        assert st == 200, text
        st = b.until("s", TERMINAL)
        assert st["state"] in ("TASK_GONE_BY_OPERATOR", "TASK_LOST"), st
        b.agent.proc.wait(20)
        assert b.agent.proc.returncode == 1, b.agent.proc.returncode
        assert "this agent was marked gone by the master" in b.agent.log()
        b.wait_no_procs()


if __name__ == "__main__":
    run_tests([test_pid_namespace, test_sigterm_reaches_task_through_init, test_private_tmp,
               test_user_nobody_confined, test_user_nobody_without_namespaces,
               test_root_task_keeps_docker_capabilities, test_root_refused_and_unknown_user,
               test_bad_isolation_flag, test_mesos_isolation_list_with_cgroups,
               test_fetcher_wiring, test_agent_exits_when_marked_gone])
