#!/usr/bin/env python3
"""`atoll app ...` and `atoll deployment ...` against a real `atoll services`
on a real cluster: the built binary runs as a subprocess with --services,
and its exit codes, tables and messages are checked against what the
Marathon v2 API reports (read through the test's own HTTP client)."""

import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atolltest import ATOLL, Cluster, run_tests, wait_for  # noqa: E402

# ATOLL_CLI: another build of the CLI (e.g. with sanitizers) against the
# daemons of $ATOLL.
ATOLL_BIN = os.path.abspath(os.environ.get("ATOLL_CLI", ATOLL))
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "services")

# Healthy once the task wrote ./ready.
READY_CHECK = {"protocol": "COMMAND", "command": {"value": "test -f ready"}, "intervalSeconds": 1,
               "timeoutSeconds": 0.5, "gracePeriodSeconds": 60, "delaySeconds": 0, "maxConsecutiveFailures": 3}


def cli(m, *args, timeout=120, env=None):
    """Runs `atoll args... [--services <m>]`; returns the process."""
    argv = [ATOLL_BIN] + list(args)
    if m is not None:
        argv += ["--services", "127.0.0.1:%d" % m.port]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def ok(p):
    assert p.returncode == 0, (p.args, p.returncode, p.stdout, p.stderr)
    return p.stdout


def table(out):
    """Parses an aligned table: rows as dicts keyed by the header; the last
    column may hold spaces."""
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "no table in %r" % out
    head = lines[0].split()
    rows = []
    for line in lines[1:]:
        cells = line.split(None, len(head) - 1)
        assert len(cells) == len(head), "row %r does not fit header %r" % (line, head)
        rows.append(dict(zip(head, cells)))
    return rows


def write_json(d, name, obj):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        if isinstance(obj, str):
            f.write(obj)
        else:
            json.dump(obj, f)
    return path


def running_ids(m, app):
    return {t["id"] for t in m.tasks(app) if t["state"] == "TASK_RUNNING"}


HELP = [["app", "deploy"], ["app", "ls"], ["app", "show"], ["app", "scale"], ["app", "restart"],
        ["app", "rm"], ["deployment", "ls"], ["deployment", "rollback"]]


def test_help_usage_and_unreachable():
    for verb in HELP:
        p = cli(None, *verb, "--help")
        assert p.returncode == 0, (verb, p.returncode, p.stderr)
        assert p.stdout.startswith("usage: atoll " + " ".join(verb)), (verb, p.stdout)
        assert "--services" in p.stdout and "ATOLL_SERVICES" in p.stdout, p.stdout
    for noun in ("app", "deployment"):
        p = cli(None, noun, "--help")
        assert p.returncode == 0 and "commands:" in p.stdout, p
    bad = [["app"], ["app", "frobnicate"], ["deployment", "promote", "x"], ["app", "show"],
           ["app", "show", "a", "b"], ["app", "scale", "/a"], ["app", "scale", "/a", "many"],
           ["app", "scale", "/a", "-1"], ["app", "ls", "--bogus"], ["app", "deploy"],
           ["app", "deploy", "f.json", "--timeout", "0"], ["app", "restart", "/a", "--timeout", "soon"],
           ["deployment", "rollback"], ["app", "ls", "--services", "host:notaport"]]
    for argv in bad:
        p = cli(None, *argv)
        assert p.returncode == 2, (argv, p.returncode, p.stdout, p.stderr)
        assert p.stderr, argv
    # Nobody listens on a fresh port.
    with tempfile.TemporaryDirectory() as d:
        f = write_json(d, "a.json", {"id": "/a", "cmd": "sleep 1"})
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        addr = "127.0.0.1:%d" % port
        for argv in (["app", "ls"], ["app", "show", "/a"], ["app", "deploy", f], ["app", "scale", "/a", "2"],
                     ["app", "restart", "/a"], ["app", "rm", "/a"], ["deployment", "ls"],
                     ["deployment", "rollback", "x"]):
            p = cli(None, *argv, "--services", addr)
            assert p.returncode == 3, (argv, p.returncode, p.stderr)
            assert "cannot reach the services at " + addr in p.stderr, p.stderr
        # $ATOLL_SERVICES is the fallback of --services.
        p = cli(None, "app", "ls", env=dict(os.environ, ATOLL_SERVICES=addr))
        assert p.returncode == 3 and addr in p.stderr, p.stderr
        # Files that cannot be deployed fail before any request.
        for content, why in (("{\"id\": ", "is not JSON"), ("42", "expected an app"),
                             ({"cmd": "sleep 1"}, "no \"id\""), ({"id": "/", "apps": []}, "root group")):
            f = write_json(d, "bad.json", content)
            p = cli(None, "app", "deploy", f, "--services", addr)
            assert p.returncode == 1 and why in p.stderr, (content, p.returncode, p.stderr)
        p = cli(None, "app", "deploy", os.path.join(d, "missing.json"), "--services", addr)
        assert p.returncode == 1 and "cannot open" in p.stderr, p.stderr


def test_app_verbs_with_wait():
    with Cluster(agents=1) as c, tempfile.TemporaryDirectory() as d:
        m = c.start_services()
        app = {"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2, "backoffSeconds": 0.2}
        f = write_json(d, "web.json", app)
        out = ok(cli(m, "app", "deploy", f, "--wait"))
        # --wait returned after the deployment: it is gone, both run.
        assert m.deployments() == [], m.deployments()
        assert len(running_ids(m, "/web")) == 2
        assert "app /web: created, deployment " in out, out
        assert out.strip().splitlines()[-1].endswith("done; /web 2/2 running"), out
        # The same file again changes nothing.
        assert "app /web: no change" in ok(cli(m, "app", "deploy", f, "--wait"))

        (row,) = table(ok(cli(m, "app", "ls")))
        assert row == {"ID": "/web", "INSTANCES": "2/2", "HEALTHY": "-", "CPUS": "0.1", "MEM": "16",
                       "DEPLOYING": "no", "CMD": "sleep 1000"}, row
        assert json.loads(ok(cli(m, "app", "ls", "--json")))["apps"][0]["id"] == "/web"

        out = ok(cli(m, "app", "show", "web"))  # relative ids resolve under /
        assert "id:" in out and "/web" in out and "2 wanted, 2 running" in out, out
        tasks = table(out[out.index("\nID "):])
        assert {t["ID"] for t in tasks} == running_ids(m, "/web"), (tasks, out)
        api = {t["id"]: t for t in m.tasks("/web")}
        for t in tasks:
            assert t["HOST"] == "agent0" and t["STATE"] == "TASK_RUNNING" and t["HEALTHY"] == "-", t
            assert t["PORTS"] == ",".join(str(p) for p in api[t["ID"]]["ports"]), (t, api)
        assert json.loads(ok(cli(m, "app", "show", "/web", "--json")))["app"]["instances"] == 2
        p = cli(m, "app", "show", "/nope")
        assert p.returncode == 1 and "does not exist" in p.stderr and "404" in p.stderr, p.stderr

        out = ok(cli(m, "app", "scale", "/web", "3", "--wait"))
        assert "scaling to 3" in out and "/web 3/3 running" in out, out
        assert len(running_ids(m, "/web")) == 3 and m.deployments() == []

        old = running_ids(m, "/web")
        out = ok(cli(m, "app", "restart", "/web", "--wait"))
        assert "restarting, deployment" in out and "/web 3/3 running" in out, out
        new = running_ids(m, "/web")
        assert len(new) == 3 and not (new & old), ("restart must replace every task", old, new)
        assert m.deployments() == []

        # On a terminal the progress line is rewritten in place.
        out = run_on_pty([ATOLL_BIN, "app", "scale", "/web", "1", "--wait",
                          "--services", "127.0.0.1:%d" % m.port])
        assert "\r" in out and "\x1b[K" in out and "/web 1/1 running" in out, repr(out)
        assert len(running_ids(m, "/web")) == 1

        out = ok(cli(m, "app", "rm", "/web", "--wait"))
        assert "removing, deployment" in out and "/web removed" in out, out
        st, _, _ = m.req("GET", "/v2/apps/web")
        assert st == 404 and m.deployments() == []
        wait_for(lambda: m.tasks() == [], 10, "no tasks left")
        assert table(ok(cli(m, "app", "ls"))) == []
        p = cli(m, "app", "rm", "/web")
        assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr


def run_on_pty(argv, timeout=60):
    """Runs argv with stdout on a pseudo-terminal; returns what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(10) == 0, (proc.returncode, out, proc.stderr.read())
    proc.stderr.close()
    return out.decode(errors="replace")


def test_deploy_group_example_array_and_relative_ids():
    with Cluster(agents=1) as c, tempfile.TemporaryDirectory() as d:
        m = c.start_services()
        group = os.path.join(EXAMPLES, "marathon-product-group.json")
        out = ok(cli(m, "app", "deploy", group, "--wait"))
        assert "group /product: created, deployment" in out, out
        assert m.deployments() == []
        ids = ["/product/database/mongo", "/product/database/mysql", "/product/service/play-app",
               "/product/service/rails-app"]
        for a in ids:
            assert len(running_ids(m, a)) == 1, a
            assert a + " 1/1 running" in out.splitlines()[-1], out
        # Two steps: the database before the service.
        assert "step 2 of 2" in out or "step 1 of 2" in out, out
        rows = table(ok(cli(m, "app", "ls")))
        assert [r["ID"] for r in rows] == sorted(ids), rows
        assert table(ok(cli(m, "deployment", "ls"))) == []

        # Relative ids in a group: followed under their absolute ids.
        rel = write_json(d, "rel.json", {"id": "/rel", "apps": [{"id": "a", "cmd": "sleep 1000", "cpus": 0.1,
                                                                 "mem": 16}],
                                         "groups": [{"id": "sub", "apps": [{"id": "./b/../b", "cmd": "sleep 1000",
                                                                            "cpus": 0.1, "mem": 16}]}]})
        out = ok(cli(m, "app", "deploy", rel, "--wait"))
        assert "/rel/a 1/1 running" in out and "/rel/sub/b 1/1 running" in out, out
        assert len(running_ids(m, "/rel/sub/b")) == 1

        # A JSON array of apps: one deployment.
        arr = write_json(d, "arr.json", [{"id": "/x1", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16},
                                         {"id": "x2", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                                          "instances": 2}])
        out = ok(cli(m, "app", "deploy", arr, "--wait"))
        assert "2 apps: deploying, deployment" in out and "/x2 2/2 running" in out, out
        assert len(running_ids(m, "/x2")) == 2 and len(running_ids(m, "/x1")) == 1

        # A group file replaces the group: apps it no longer lists stop.
        with open(group) as f:
            g = json.load(f)
        g["groups"] = g["groups"][:1]
        out = ok(cli(m, "app", "deploy", write_json(d, "g2.json", g), "--wait"))
        assert "group /product: updated, deployment" in out, out
        for a in ids[2:]:
            st, _, _ = m.req("GET", "/v2/apps" + a)
            assert st == 404, (a, st)
        assert all(len(running_ids(m, a)) == 1 for a in ids[:2])


def test_failing_deployment_is_rolled_back_and_wait_says_why():
    with Cluster(agents=1) as c, tempfile.TemporaryDirectory() as d:
        m = c.start_services()
        good = {"id": "/rb", "cmd": "touch ready && sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                "backoffSeconds": 0.2, "healthChecks": [READY_CHECK]}
        out = ok(cli(m, "app", "deploy", write_json(d, "good.json", good), "--wait"))
        assert "/rb 2/2 healthy" in out, out
        (row,) = table(ok(cli(m, "app", "ls")))
        assert row["HEALTHY"] == "2" and row["INSTANCES"] == "2/2", row
        old = running_ids(m, "/rb")
        out = ok(cli(m, "app", "show", "/rb"))
        assert "health checks: COMMAND `test -f ready`" in out, out
        assert all(t["HEALTHY"] == "yes" for t in table(out[out.index("\nID "):])), out

        # A version whose health check never passes, with a short deadline.
        bad = dict(good, cmd="sleep 1000",
                   upgradeStrategy={"minimumHealthCapacity": 1, "maximumOverCapacity": 1,
                                    "progressDeadlineSeconds": 3})
        t0 = time.time()
        p = cli(m, "app", "deploy", write_json(d, "bad.json", bad), "--wait", "--timeout", "60")
        took = time.time() - t0
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        assert took < 30, took
        assert "step 1 of 1 (RestartApplication /rb)" in p.stdout, p.stdout
        assert "no progress for 3 s" in p.stderr and "rolled back" in p.stderr, p.stderr
        # The rollback restored the good version and kept its tasks.
        m.wait_deployed()
        assert m.ok("GET", "/v2/apps/rb")["app"]["cmd"] == "touch ready && sleep 1000"
        assert running_ids(m, "/rb") == old

        # A new app that never becomes healthy: its start is rolled back
        # (the app is stopped again).
        fresh = {"id": "/never", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                 "healthChecks": [READY_CHECK], "upgradeStrategy": {"progressDeadlineSeconds": 3}}
        p = cli(m, "app", "deploy", write_json(d, "fresh.json", fresh), "--wait", "--timeout", "60")
        assert p.returncode == 1 and "rolled back" in p.stderr, (p.returncode, p.stdout, p.stderr)
        m.wait_deployed()

        # --timeout bounds the wait.
        slow = dict(fresh, id="/slow", upgradeStrategy={"progressDeadlineSeconds": 600})
        t0 = time.time()
        p = cli(m, "app", "deploy", write_json(d, "slow.json", slow), "--wait", "--timeout", "2")
        assert p.returncode == 1 and "timed out after 2 s" in p.stderr, (p.returncode, p.stderr)
        assert time.time() - t0 < 10
        assert "/slow: 0 of 1 instances healthy" in p.stderr, p.stderr


def test_refusals_locks_and_deployment_verbs():
    with Cluster(agents=1) as c, tempfile.TemporaryDirectory() as d:
        m = c.start_services()
        # 422: one line per problem, naming the field.
        p = cli(m, "app", "deploy", write_json(d, "bad.json", {"id": "/bad", "cmd": "x", "cpus": -1,
                                                                "instances": -2}))
        assert p.returncode == 1, (p.returncode, p.stderr)
        lines = p.stderr.splitlines()
        assert any(line.startswith("/cpus: ") for line in lines), p.stderr
        assert any(line.startswith("/instances: ") for line in lines), p.stderr
        assert "HTTP 422" in p.stderr, p.stderr
        p = cli(m, "app", "deploy", write_json(d, "badg.json", {"id": "/g", "apps": [{"id": "a", "cmd": "x",
                                                                                      "mem": "lots"}]}))
        assert p.returncode == 1 and any(line.startswith("/apps(0)/mem: ") for line in p.stderr.splitlines()), \
            p.stderr
        p = cli(m, "app", "scale", "/nope", "2")
        assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
        assert m.ok("GET", "/v2/apps")["apps"] == []

        # An app whose deployment cannot finish holds its lock: 409.
        stuck = {"id": "/stuck", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "healthChecks": [READY_CHECK]}
        out = ok(cli(m, "app", "deploy", write_json(d, "stuck.json", stuck)))
        dep = out.split("deployment ")[1].split()[0]
        rows = table(ok(cli(m, "deployment", "ls")))
        assert rows == [{"ID": dep, "APPS": "/stuck", "STEP": "1/1", "ACTIONS": "StartApplication:/stuck"}], rows
        assert json.loads(ok(cli(m, "deployment", "ls", "--json")))[0]["id"] == dep
        (row,) = table(ok(cli(m, "app", "ls")))
        assert row["DEPLOYING"] == "yes", row
        for argv in (["app", "deploy", write_json(d, "stuck2.json", dict(stuck, cmd="sleep 2000"))],
                     ["app", "scale", "/stuck", "2"], ["app", "restart", "/stuck"]):
            p = cli(m, *argv)
            assert p.returncode == 1, (argv, p.returncode, p.stderr)
            assert "HTTP 409" in p.stderr and "locked" in p.stderr and "--force" in p.stderr, p.stderr
        # Rolling back: a new deployment that stops the app it had started.
        p = cli(m, "deployment", "rollback", "nope")
        assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
        out = ok(cli(m, "deployment", "rollback", dep, "--wait"))
        assert "deployment %s: rolling back, deployment" % dep in out and "/stuck removed" in out, out
        assert m.deployments() == []
        st, _, _ = m.req("GET", "/v2/apps/stuck")
        assert st == 404, st

        # --force replaces a deployment in progress.
        out = ok(cli(m, "app", "deploy", write_json(d, "stuck3.json", stuck)))
        dep3 = out.split("deployment ")[1].split()[0]
        p = cli(m, "app", "scale", "/stuck", "2")
        assert p.returncode == 1 and "HTTP 409" in p.stderr, p.stderr
        out = ok(cli(m, "app", "scale", "/stuck", "2", "--force"))
        dep4 = out.split("deployment ")[1].split()[0]
        assert dep4 != dep3 and [x["id"] for x in m.deployments()] == [dep4]
        # rollback --force stops it and leaves the app as it is.
        out = ok(cli(m, "deployment", "rollback", dep4, "--force"))
        assert "stopped" in out, out
        assert m.deployments() == []
        assert m.ok("GET", "/v2/apps/stuck")["app"]["instances"] == 2
        ok(cli(m, "app", "rm", "/stuck", "--wait"))
        assert m.ok("GET", "/v2/apps")["apps"] == []


if __name__ == "__main__":
    run_tests([test_help_usage_and_unreachable, test_app_verbs_with_wait,
               test_deploy_group_example_array_and_relative_ids,
               test_failing_deployment_is_rolled_back_and_wait_says_why,
               test_refusals_locks_and_deployment_verbs])
