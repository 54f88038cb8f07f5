"""Integration tests of `atoll services`: the Marathon v2 REST API on real
agents (distinct hostnames and attributes), real tasks, real restarts.

The slides' examples (examples/services/*.json) are deployed unchanged; the
checker reads the master's /state and the REST API, never the services'
internals."""

import json
import os
import signal
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atolltest import Cluster, SSE, http_request, run_tests, wait_for  # noqa: E402
import zkserver  # noqa: E402

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def zkcli(address, *cmd):
    """ZooKeeper's own CLI: the checker shares no code with Atoll."""
    import subprocess
    r = subprocess.run([ZKCLI, "-server", address] + list(cmd), capture_output=True, text=True, timeout=60)
    return r.stdout

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "services")


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return json.load(f)


def master_tasks(c, states=("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")):
    out = []
    for fw in c.state()["frameworks"]:
        for t in fw["tasks"]:
            if t["state"] in states:
                out.append(t)
    return out


def fake_bin(serve=True):
    """A directory with a `bundle` that serves on $PORT0 like `bundle exec
    rails server` would (the slides' command; Ruby is not installed), or
    just stays up (serve=False: many agents on one host share the same
    port ranges, so only one could bind a given port)."""
    d = tempfile.mkdtemp(prefix="atoll-bin-")
    p = os.path.join(d, "bundle")
    with open(p, "w") as f:
        if serve:
            f.write("#!/bin/sh\nexec python3 -m http.server \"${PORT0:-0}\" --bind 127.0.0.1\n")
        else:
            f.write("#!/bin/sh\nexec sleep 3600\n")
    os.chmod(p, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return d


# Healthy once the task wrote ./ready: a check that gates deployments.
READY_CHECK = {"protocol": "COMMAND", "command": {"value": "test -f ready"}, "intervalSeconds": 1,
               "timeoutSeconds": 0.5, "gracePeriodSeconds": 60, "delaySeconds": 0, "maxConsecutiveFailures": 3}


def test_app_lifecycle_ports_and_env():
    with Cluster(agents=2) as c:
        m = c.start_services()
        st, _, body = m.req("GET", "/ping")
        assert st == 200 and body is not None
        app = example("marathon-http-discovery.json")
        app["cmd"] = "echo $PORT0 $PORT_HTTP $PORT $HOST > env.txt && exec python3 -m http.server $PORT0"
        st, hdrs, body = m.req("POST", "/v2/apps", app)
        assert st == 201, (st, body)
        assert hdrs.get("marathon-deployment-id"), hdrs
        assert body["id"] == "/app" and body["portDefinitions"][0]["name"] == "http"
        st, _, body = m.req("POST", "/v2/apps", app)
        assert st == 409, (st, body)
        m.wait_deployed()
        (t,) = m.wait_running("/app", 1)
        port = t["ports"][0]
        assert 31000 <= port <= 32000, t
        # The task really serves on the port it was given.
        st, _, _ = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            http_request(port, "GET", "/")), 10, "http.server on PORT0")
        # PORT0, PORT_HTTP, PORT and HOST were set.
        agent = [a for a in c.agents if a.args[a.args.index("--hostname") + 1] == t["host"]][0]
        env_path = None
        for root, _, files in os.walk(os.path.join(c.dir, agent.name, "work")):
            if "env.txt" in files and t["id"] in root:
                env_path = os.path.join(root, "env.txt")
        assert env_path, "env.txt not found in the sandbox"
        with open(env_path) as f:
            assert f.read().split() == [str(port), str(port), str(port), t["host"]]
        # DiscoveryInfo is visible in the master's state.
        (mt,) = master_tasks(c)
        assert mt["discovery"]["ports"]["ports"][0]["number"] == port, mt
        # Endpoints: the healthy instance is listed.
        eps = m.ok("GET", "/v2/endpoints")["apps"]
        assert eps[0]["endpoints"][0]["ports"][0]["port"] == port, eps
        # Delete: every task goes, the app is gone.
        m.ok("DELETE", "/v2/apps/app")
        wait_for(lambda: master_tasks(c) == [], 15, "tasks killed")
        wait_for(lambda: m.req("GET", "/v2/apps/app")[0] == 404, 10, "app gone")


def test_scale_up_down_youngest_first():
    with Cluster(agents=2) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/s", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2})
        first = {t["id"] for t in m.wait_running("/s", 2)}
        m.wait_deployed()
        m.ok("PATCH", "/v2/apps/s", {"instances": 4})
        m.wait_running("/s", 4)
        m.wait_deployed()
        # A scale keeps the running tasks (no restart).
        assert first <= {t["id"] for t in m.tasks("/s")}
        m.ok("PUT", "/v2/apps/s", {"instances": 2})
        m.wait_deployed()
        left = {t["id"] for t in m.wait_running("/s", 2)}
        assert left == first, (left, first)  # the youngest were killed
        assert len(master_tasks(c)) == 2


def test_rolling_upgrade_capacity_bounds():
    with Cluster(agents=2) as c:
        m = c.start_services()
        app = {"id": "/roll", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 4,
               "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.25}}
        m.ok("POST", "/v2/apps", app)
        old = {t["id"] for t in m.wait_running("/roll", 4)}
        m.wait_deployed()
        # The new version becomes healthy only after a second, so the
        # upgrade takes several rounds we can sample.
        dep = m.ok("PUT", "/v2/apps/roll", {"cmd": "sleep 1 && touch ready && sleep 1000",
                                             "healthChecks": [READY_CHECK]})
        samples = 0
        deadline = time.time() + 60
        while time.time() < deadline:
            ts = master_tasks(c)
            healthy = [t for t in ts if t["state"] == "TASK_RUNNING" and
                       (t["id"] in old or t["statuses"][-1].get("healthy"))]
            # Never more than 4 * 1.25 = 5 alive, never fewer than 2 healthy.
            assert len(ts) <= 5, ts
            assert len(healthy) >= 2, ts
            samples += 1
            if m.deployments() == []:
                break
            time.sleep(0.05)
        assert m.deployments() == [], "upgrade did not finish"
        new = m.wait_running("/roll", 4)
        assert not old & {t["id"] for t in new}
        assert all(t["version"] == dep["version"] or t["version"] for t in new)
        assert samples > 10, samples


def test_group_dependency_order():
    with Cluster(agents=2) as c:
        m = c.start_services()
        ev = SSE(m.port)
        st, _, plan = m.req("PUT", "/v2/groups/product?dryRun=true", example("marathon-product-group.json"))
        assert st == 200, (st, plan)
        steps = [sorted(a["app"] for a in s["actions"]) for s in plan["steps"]]
        assert steps == [["/product/database/mongo", "/product/database/mysql"],
                         ["/product/service/play-app", "/product/service/rails-app"]], steps
        assert m.ok("GET", "/v2/apps")["apps"] == []  # a dry run changes nothing
        m.ok("POST", "/v2/groups", example("marathon-product-group.json"))
        m.wait_deployed(60)
        order = []
        deadline = time.time() + 30
        while len([1 for o in order if o[1] == "TASK_RUNNING"]) < 4 and time.time() < deadline:
            _, etype, data = ev.next()
            if etype == "status_update_event":
                order.append((data["appId"], data["taskStatus"]))
        ev.close()
        db_running = [i for i, o in enumerate(order) if o[0].startswith("/product/database") and o[1] == "TASK_RUNNING"]
        svc_any = [i for i, o in enumerate(order) if o[0].startswith("/product/service")]
        assert len(db_running) == 2 and svc_any, order
        assert max(db_running) < min(svc_any), order
        g = m.ok("GET", "/v2/groups/product")
        assert sorted(x["id"] for x in g["groups"]) == ["/product/database", "/product/service"], g
        # scaleBy doubles every app of a group, in one deployment.
        m.ok("PUT", "/v2/groups/product/database", {"scaleBy": 2})
        m.wait_deployed(30)
        for a in ("mongo", "mysql"):
            m.wait_running("/product/database/" + a, 2)
        m.wait_running("/product/service/rails-app", 1)
        st, _, bad = m.req("PUT", "/v2/groups/product", {"scaleBy": -1})
        assert st == 422 and bad["details"][0]["path"] == "/scaleBy", (st, bad)
        snap = m.ok("GET", "/metrics/snapshot")
        assert snap["services/apps"] == 4 and snap["services/tasks_running"] == 6, snap
        st, hdrs, text = http_request(m.port, "GET", "/metrics")
        assert st == 200 and "atoll_services_tasks_running 6" in text, text


def test_dependency_cycle_is_refused():
    with Cluster(agents=1) as c:
        m = c.start_services()
        g = {"id": "/cyc", "apps": [
            {"id": "a", "cmd": "sleep 1", "dependencies": ["/cyc/b"]},
            {"id": "b", "cmd": "sleep 1", "dependencies": ["/cyc/a"]}]}
        st, _, body = m.req("POST", "/v2/groups", g)
        assert st == 422, (st, body)
        assert "cycle" in body["message"] and "/cyc/a" in body["message"] and "/cyc/b" in body["message"], body
        assert m.ok("GET", "/v2/apps")["apps"] == []


def test_constraints_on_the_slides_rails_app():
    # 12 agents: 10 public in 4 racks (3+3+2+2), 2 private.
    def attrs(i):
        return "type:%s;rack_id:rack-%d" % ("public_node" if i < 10 else "private", [1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 1, 2][i])

    with Cluster(agents=12, attributes=attrs, resources="cpus:2;mem:256;disk:100;ports:[31000-31010]",
                 agent_env={"PATH": fake_bin(serve=False) + ":" + os.environ["PATH"]}) as c:
        m = c.start_services()
        app = example("marathon-rails-constraints.json")
        st, _, body = m.req("POST", "/v2/apps", app)
        assert st == 201, (st, body)
        ts = m.wait_running("/rails_app", 10, timeout=60)
        hosts = [t["host"] for t in ts]
        assert len(set(hosts)) == 10, hosts                    # UNIQUE hostname
        idx = [int(h[len("agent"):]) for h in hosts]
        assert all(i < 10 for i in idx), hosts                 # CLUSTER type:public_node
        racks = {}
        for i in idx:
            r = attrs(i).split("rack_id:")[1]
            racks[r] = racks.get(r, 0) + 1
        assert max(racks.values()) <= 3, racks                 # MAX_PER 3


def test_constraint_operators_and_queue_explanation():
    def attrs(i):
        return "rack:r%d;zone:%s;size:%d" % (i % 2 + 1, "east" if i < 2 else "west", i)

    with Cluster(agents=4, attributes=attrs) as c:
        m = c.start_services()
        cases = [
            ("like", [["zone", "LIKE", "ea.*"]], 2, lambda h: int(h[5:]) < 2),
            ("unlike", [["zone", "UNLIKE", "ea.*"]], 2, lambda h: int(h[5:]) >= 2),
            ("is", [["rack", "IS", "r2"]], 2, lambda h: int(h[5:]) % 2 == 1),
            ("maxper", [["rack", "MAX_PER", "1"]], 2, None),
            ("groupby", [["zone", "GROUP_BY", "2"]], 2, None),
            ("cluster", [["rack", "CLUSTER"]], 2, None),
            ("aurora", {"zone": "west", "host": "limit:1"}, 2, lambda h: int(h[5:]) >= 2),
        ]
        for name, cons, n, pred in cases:
            m.ok("POST", "/v2/apps", {"id": "/c/" + name, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                                      "instances": n, "constraints": cons})
        for name, cons, n, pred in cases:
            ts = m.wait_running("/c/" + name, n)
            hosts = [t["host"] for t in ts]
            if pred:
                assert all(pred(h) for h in hosts), (name, hosts)
            idx = [int(h[5:]) for h in hosts]
            if name == "maxper":
                assert len({i % 2 for i in idx}) == 2, (name, hosts)
            if name == "groupby":
                assert len({i < 2 for i in idx}) == 2, (name, hosts)
            if name == "cluster":
                assert len({i % 2 for i in idx}) == 1, (name, hosts)
            if name == "aurora":
                assert len(set(hosts)) == 2, (name, hosts)
        # An app no agent can take says why in /v2/queue.
        m.ok("POST", "/v2/apps", {"id": "/nowhere", "cmd": "sleep 1", "cpus": 0.1, "mem": 16,
                                  "constraints": [["rack", "IS", "r9"]]})

        def explained():
            for q in m.ok("GET", "/v2/queue")["queue"]:
                if q["app"]["id"] == "/nowhere" and q["constraintRejections"][0]["declined"] > 0:
                    return q
        q = wait_for(explained, 20, "queue explanation")
        assert q["count"] == 1 and q["constraintRejections"][0]["constraint"].startswith("rack"), q


def test_rollback_by_cancelling_and_progress_deadline():
    with Cluster(agents=1) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/rb", "cmd": "touch ready && sleep 1000", "cpus": 0.1, "mem": 16,
                                  "instances": 2, "backoffSeconds": 0.2, "healthChecks": [READY_CHECK]})
        old = {t["id"] for t in m.wait_running("/rb", 2)}
        m.wait_deployed()
        # A broken version: the deployment cannot finish.
        dep = m.ok("PUT", "/v2/apps/rb", {"cmd": "sleep 1000"})  # never healthy
        time.sleep(1.5)
        st, _, locked = m.req("PUT", "/v2/apps/rb", {"cmd": "sleep 2000"})
        assert st == 409, (st, locked)
        back = m.ok("DELETE", "/v2/deployments/" + dep["deploymentId"])
        assert back["deploymentId"] != dep["deploymentId"]
        m.wait_deployed()
        ts = m.wait_running("/rb", 2)
        assert {t["id"] for t in ts} == old, "rollback must keep the old tasks"
        assert m.ok("GET", "/v2/apps/rb")["app"]["cmd"] == "touch ready && sleep 1000"
        # Now with a progress deadline: rolled back by itself.
        ev = SSE(m.port)
        m.ok("PATCH", "/v2/apps/rb", {"cmd": "sleep 1000", "upgradeStrategy": {
            "minimumHealthCapacity": 1, "maximumOverCapacity": 1, "progressDeadlineSeconds": 3}})
        deadline = time.time() + 30
        failed = None
        while time.time() < deadline and not failed:
            _, etype, data = ev.next(timeout=30)
            if etype == "deployment_failed":
                failed = data
        ev.close()
        assert failed and "deadline" in failed["reason"], failed
        m.wait_deployed()
        assert m.ok("GET", "/v2/apps/rb")["app"]["cmd"] == "touch ready && sleep 1000"
        assert {t["id"] for t in m.wait_running("/rb", 2)} == old


def test_events_resume_with_last_event_id():
    with Cluster(agents=1) as c:
        m = c.start_services()
        ev = SSE(m.port)
        m.ok("POST", "/v2/apps", {"id": "/e1", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16})
        seen = []
        while not any(t == "deployment_success" for _, t, _ in seen):
            seen.append(ev.next())
        ev.close()
        last = seen[-1][0]
        # Events happen while we are away.
        m.ok("POST", "/v2/apps", {"id": "/e2", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16})
        m.wait_deployed()
        ev2 = SSE(m.port, last_event_id=last)
        got = []
        while not any(t == "deployment_success" for _, t, _ in got):
            got.append(ev2.next())
        ev2.close()
        ids = [i for i, t, _ in got if t != "event_stream_attached"]
        assert ids[0] == last + 1, (last, got[:3])
        assert ids == list(range(ids[0], ids[0] + len(ids))), ids  # nothing lost
        assert any(d.get("appId") == "/e2" for _, t, d in got if t == "status_update_event")
        st, _, body = m.req("GET", "/v2/events", headers={"Last-Event-ID": "x"})
        assert st == 400, (st, body)


def test_events_resume_too_old_gets_a_reset():
    with Cluster(agents=1) as c:
        m = c.start_services(["--event-buffer", "16"])
        m.ok("POST", "/v2/apps", {"id": "/r", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 10})
        m.wait_deployed()
        m.wait_running("/r", 10)  # > 16 events: 10 staging/running pairs and more
        ev = SSE(m.port, last_event_id=1)
        got = [ev.next() for _ in range(3)]
        ev.close()
        kinds = [t for _, t, _ in got]
        assert kinds[:2] == ["event_stream_attached", "event_stream_reset"], kinds
        # After the reset, the oldest kept event follows.
        assert got[2][0] == got[1][0] + 1, got
        # Resuming from the newest id sends nothing old.
        newest = got[0][0]
        ev = SSE(m.port, last_event_id=newest)
        first = ev.next()
        ev.close()
        assert first[1] == "event_stream_attached", first
        try:
            extra = ev.events.get(timeout=0.5)
        except Exception:
            extra = None
        assert extra is None, extra


def test_restart_of_services_launches_no_duplicates():
    with Cluster(agents=2) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/keep", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3})
        before = {t["id"] for t in m.wait_running("/keep", 3)}
        m.wait_deployed()
        fw = c.state()["frameworks"][0]["id"]
        m.daemon.kill9()
        m.daemon.start()
        time.sleep(3)  # reconciliation, offers
        after = {t["id"] for t in m.wait_running("/keep", 3)}
        assert after == before, (before, after)
        assert {t["id"] for t in master_tasks(c)} == before
        assert c.state()["frameworks"][0]["id"] == fw  # the same framework
        # A task killed behind its back is replaced (and only that one).
        victim = sorted(before)[0]
        st, _, body = m.req("DELETE", "/v2/apps/keep/tasks/" + victim)
        assert st == 200, (st, body)
        wait_for(lambda: victim not in {t["id"] for t in master_tasks(c)}, 15, "victim gone")
        now = {t["id"] for t in m.wait_running("/keep", 3)}
        assert len(now - before) == 1 and before - now == {victim}


def test_master_restart_replaces_nothing():
    c = Cluster(agents=2)
    c.master.args += ["--work-dir", os.path.join(c.dir, "master", "work")]
    with c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/stay", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 4})
        before = {t["id"] for t in m.wait_running("/stay", 4)}
        m.wait_deployed()
        host = m.tasks("/stay")[0]["host"]
        busy = [a for a in c.agents if a.args[a.args.index("--hostname") + 1] == host][0]
        for frozen in (None, busy):  # kill -9 of the master, twice
            port = c.master.port
            if frozen:  # this agent comes back only after we reconciled
                os.kill(frozen.proc.pid, signal.SIGSTOP)
            c.master.kill9()
            args = list(c.master.args)
            args[args.index("--port") + 1] = str(port)
            c.master.args = args
            c.master.start()
            if frozen:
                wait_for(lambda: [f for f in c.state()["frameworks"] if f["active"]], 20, "services back")
                try:
                    time.sleep(1.5)  # its reconciliation, offers from the other agent
                finally:
                    os.kill(frozen.proc.pid, signal.SIGCONT)
            wait_for(lambda: len([a for a in c.state()["slaves"] if a["active"]]) == 2, 20, "agents back")
            wait_for(lambda: {t["id"] for t in master_tasks(c)} == before, 20, "tasks back at the master")
            time.sleep(2)  # offers, reconciliation: nothing may be launched
            assert {t["id"] for t in m.tasks("/stay")} == before
            assert {t["id"] for t in master_tasks(c)} == before


def test_health_checked_app_of_the_slides():
    with Cluster(agents=1, agent_env={"PATH": fake_bin() + ":" + os.environ["PATH"]}) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", example("marathon-rails-health.json"))
        # Marathon's defaults: the first check after delaySeconds (15 s).
        wait_for(lambda: m.ok("GET", "/v2/apps/rails_app")["app"]["tasksHealthy"] == 1, 40, "healthy")
        m.wait_deployed()
        (t,) = m.tasks("/rails_app")
        assert t["healthCheckResults"][0]["alive"] is True, t


def test_unhealthy_task_is_killed_and_replaced():
    with Cluster(agents=1) as c:
        m = c.start_services()
        ev = SSE(m.port)
        m.ok("POST", "/v2/apps", {"id": "/sick", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "backoffSeconds": 0.1,
                                  "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"},
                                                    "gracePeriodSeconds": 0, "intervalSeconds": 1,
                                                    "timeoutSeconds": 0.5, "delaySeconds": 0,
                                                    "maxConsecutiveFailures": 2}]})
        (first,) = m.wait_running("/sick", 1)
        kill = None
        deadline = time.time() + 20
        while not kill and time.time() < deadline:
            _, etype, data = ev.next(timeout=20)
            if etype == "unhealthy_instance_kill_event":
                kill = data
        ev.close()
        assert kill and kill["taskId"] == first["id"], kill
        wait_for(lambda: [t for t in m.tasks("/sick") if t["id"] != first["id"]], 20, "a replacement")
        m.ok("DELETE", "/v2/apps/sick?force=true")
        wait_for(lambda: master_tasks(c) == [], 15, "tasks gone")


def test_readiness_gates_the_deployment():
    with Cluster(agents=1) as c:
        m = c.start_services()
        t0 = time.time()
        m.ok("POST", "/v2/apps", {
            "id": "/ready", "cpus": 0.1, "mem": 32,
            # Serves at once, but /warm.txt (the readiness path) only
            # after 2 s: a cache warming up.
            "cmd": "python3 -m http.server $PORT0 --bind 127.0.0.1 & sleep 2 && echo ok > warm.txt && wait",
            "portDefinitions": [{"port": 0, "name": "http-api"}],
            "readinessChecks": [{"portName": "http-api", "path": "/warm.txt", "intervalSeconds": 1,
                                 "timeoutSeconds": 0.5}]})
        m.wait_running("/ready", 1)
        (d,) = m.deployments()  # running, but not ready yet
        res = d["currentActions"][0]["readinessCheckResults"]
        assert res and res[0]["ready"] is False, d
        m.wait_deployed(20)
        assert time.time() - t0 >= 2, "the deployment ended before the task was ready"


def test_dedicated_hosts_both_ways():
    def attrs(i):
        return "dedicated:db/data" if i == 0 else "rack:r1"

    with Cluster(agents=2, attributes=attrs) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/plain", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3})
        m.ok("POST", "/v2/apps", {"id": "/db", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2,
                                  "constraints": {"dedicated": "db/data"}})
        plain = m.wait_running("/plain", 3)
        db = m.wait_running("/db", 2)
        assert all(t["host"] == "agent1" for t in plain), plain
        assert all(t["host"] == "agent0" for t in db), db


def test_unreachable_task_is_replaced_and_expunged():
    with Cluster(agents=2, master_args=["--agent-ping-timeout", "0.3secs", "--max-agent-ping-timeouts", "2"]) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/u", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16})
        (t,) = m.wait_running("/u", 1)
        agent = [a for a in c.agents if a.args[a.args.index("--hostname") + 1] == t["host"]][0]
        os.kill(agent.proc.pid, signal.SIGSTOP)
        try:
            # unreachableStrategy 0/0: replaced at once on the other agent.
            repl = wait_for(lambda: [x for x in m.tasks("/u") if x["id"] != t["id"] and x["state"] == "TASK_RUNNING"],
                            20, "a replacement")
            assert repl[0]["host"] != t["host"], repl
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)
        # The old task comes back with its agent, and is killed (expunged).
        wait_for(lambda: {x["id"] for x in master_tasks(c)} == {repl[0]["id"]}, 30, "the old task killed")
        assert {x["id"] for x in m.tasks("/u")} == {repl[0]["id"]}


def test_crash_loop_backoff():
    with Cluster(agents=1) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/crash", "cmd": "exit 3", "cpus": 0.1, "mem": 16,
                                  "backoffSeconds": 0.5, "backoffFactor": 2, "maxLaunchDelaySeconds": 4})
        ev = SSE(m.port)
        failed = []
        t0 = time.time()
        while time.time() - t0 < 6:
            try:
                _, etype, data = ev.next(timeout=1)
            except Exception:
                continue
            if etype == "status_update_event" and data["taskStatus"] == "TASK_FAILED":
                failed.append(time.time())
        ev.close()
        # 0.5 + 1 + 2 + 4 (capped) s between launches: 3 to 5 failures in
        # 6 s, not one per offer round.
        assert 2 <= len(failed) <= 5, failed
        gaps = [b - a for a, b in zip(failed, failed[1:])]
        assert all(g2 > g1 for g1, g2 in zip(gaps, gaps[1:])), gaps
        # Between launches the app waits in the queue with its delay.
        wait_for(lambda: [e for e in m.ok("GET", "/v2/queue")["queue"]
                          if e["app"]["id"] == "/crash" and e["delay"]["timeLeftSeconds"] > 0], 10, "a delay")
        assert m.ok("GET", "/v2/apps/crash")["app"]["lastTaskFailure"]["appId"] == "/crash"
        # Resetting the delay launches at once.
        st, _, _ = m.req("DELETE", "/v2/queue/crash/delay")
        assert st == 204, st
        m.ok("DELETE", "/v2/apps/crash?force=true")


def test_unreachable_inactive_after_and_surplus():
    with Cluster(agents=2, master_args=["--agent-ping-timeout", "0.3secs", "--max-agent-ping-timeouts", "2"]) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/w", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                                  "unreachableStrategy": {"inactiveAfterSeconds": 3, "expungeAfterSeconds": 600}})
        (t,) = m.wait_running("/w", 1)
        agent = [a for a in c.agents if a.args[a.args.index("--hostname") + 1] == t["host"]][0]
        os.kill(agent.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: [x for x in m.tasks("/w") if x["state"] == "TASK_UNREACHABLE"], 10, "unreachable")
            t_unreach = time.time()
            repl = wait_for(lambda: [x for x in m.tasks("/w") if x["id"] != t["id"]], 10, "a replacement")
            # not before inactiveAfterSeconds
            assert time.time() - t_unreach >= 2, time.time() - t_unreach
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)
        # The old task is back before expungeAfterSeconds: one of the two
        # goes (the surplus), one stays running.
        wait_for(lambda: len(master_tasks(c)) == 1 and len(m.tasks("/w")) == 1, 30, "the surplus killed")
        (left,) = m.tasks("/w")
        assert left["id"] in (t["id"], repl[0]["id"]) and left["state"] == "TASK_RUNNING", left


def test_serverset_announcements_follow_health():
    why = zkserver.missing() or (None if os.path.exists(ZKCLI) else ZKCLI + " not found")
    if why:
        print("skip test_serverset_announcements_follow_health: %s" % why)
        return
    with zkserver.ZkServer() as zk, Cluster(agents=2) as c:
        m = c.start_services(["--zk", zk.url("/atoll")])
        m.ok("POST", "/v2/apps", {"id": "/web/api", "cpus": 0.1, "mem": 16, "instances": 2,
                                  "cmd": "touch ready && sleep 1000",
                                  "portDefinitions": [{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}],
                                  "healthChecks": [READY_CHECK]})
        tasks = m.wait_running("/web/api", 2)
        wait_for(lambda: all(t.get("healthy") for t in m.tasks("/web/api")), 20, "healthy")

        def members():
            out = zkcli(zk.address, "ls", "/atoll/serversets/web/api")
            line = [l for l in out.splitlines() if l.startswith("[")]
            return [x.strip() for x in line[-1].strip("[]").split(",") if x.strip()] if line else []
        names = wait_for(lambda: (lambda ms: ms if len(ms) == 2 else None)(members()), 30, "two members")
        assert all(n.startswith("member_") for n in names), names
        got = []
        for n in names:
            out = zkcli(zk.address, "get", "/atoll/serversets/web/api/" + n)
            data = [l for l in out.splitlines() if l.startswith("{")][-1]
            got.append(json.loads(data))
        by_port = {t["ports"][0]: t for t in tasks}
        assert sorted(g["shard"] for g in got) == [0, 1], got
        for g in got:
            assert g["status"] == "ALIVE", g
            t = by_port[g["serviceEndpoint"]["port"]]
            assert g["serviceEndpoint"]["host"] == t["host"], (g, t)
            assert g["additionalEndpoints"]["admin"]["port"] == t["ports"][1], (g, t)
            assert g["additionalEndpoints"]["http"]["port"] == t["ports"][0], (g, t)
        # A killed instance is withdrawn (its replacement is announced once
        # healthy); scaling to 0 withdraws every member.
        m.ok("PUT", "/v2/apps/web/api", {"instances": 0})
        wait_for(lambda: members() == [], 30, "members withdrawn")


def reservations(c):
    """Dynamically reserved resources of every agent (operator API)."""
    st, _, body = http_request(c.master.port, "POST", "/api/v1", json.dumps({"type": "GET_AGENTS"}),
                               {"Content-Type": "application/json", "Accept": "application/json"})
    assert st == 200, body
    return [r for a in json.loads(body)["get_agents"]["agents"] for r in a["total_resources"]
            if any(x.get("type") == "DYNAMIC" for x in r.get("reservations", []))]


def volume_logs(c):
    """The volumes' 'log' files on the agents (what ./db.sh wrote)."""
    out = {}
    for a in c.agents:
        root = os.path.join(c.dir, a.name, "work", "volumes")
        for d, _, files in os.walk(root):
            if "log" in files:
                with open(os.path.join(d, "log")) as f:
                    out[os.path.basename(d)] = f.read().split()
    return out


def test_persistent_volume_app_of_the_slides():
    """The slide's stateful app: one resident instance reserves its
    resources and a 128 MB volume on one agent; every relaunch (kill,
    restart) comes back there with the same data; deleting the app destroys
    the volume and releases the reservation. The slide's ./db.sh is
    provided by the test through `fetch` (the only addition)."""
    d = tempfile.mkdtemp(prefix="atoll-db-")
    db = os.path.join(d, "db.sh")
    with open(db, "w") as f:
        f.write("#!/bin/sh\necho start >> \"$1/log\"\nexec sleep 3600\n")
    with Cluster(agents=2) as c:
        m = c.start_services(["--mesos-role", "services"])
        app = example("marathon-persistent-volume.json")
        app["fetch"] = [{"uri": db, "executable": True}]
        m.ok("POST", "/v2/apps", app)
        (t1,) = m.wait_running("/foo", 1, timeout=30)
        m.wait_deployed()
        wait_for(lambda: list(volume_logs(c).values()) == [["start"]], 10, "the first start on the volume")
        reserved = reservations(c)
        assert sorted(r["name"] for r in reserved) == ["cpus", "disk", "mem"], reserved
        assert [r for r in reserved if r.get("disk", {}).get("volume", {}).get("container_path") == "data"], reserved
        # Killed: relaunched on the same agent, on the same volume.
        m.ok("DELETE", "/v2/apps/foo/tasks/" + t1["id"])
        wait_for(lambda: [t for t in m.tasks("/foo") if t["id"] != t1["id"] and t["state"] == "TASK_RUNNING"],
                 30, "the relaunch")
        (t2,) = m.tasks("/foo")
        assert t2["host"] == t1["host"], (t1, t2)
        wait_for(lambda: list(volume_logs(c).values()) == [["start", "start"]], 10, "the second start")
        # A restart (rolling, resident: kill first) keeps the data too.
        m.ok("POST", "/v2/apps/foo/restart")
        m.wait_deployed(30)
        (t3,) = m.wait_running("/foo", 1)
        assert t3["host"] == t1["host"] and t3["id"] != t2["id"], (t1, t3)
        wait_for(lambda: list(volume_logs(c).values()) == [["start", "start", "start"]], 10, "the third start")
        # Deleting the app destroys the volume and releases everything.
        m.ok("DELETE", "/v2/apps/foo")
        wait_for(lambda: volume_logs(c) == {}, 30, "the volume destroyed")
        wait_for(lambda: reservations(c) == [], 30, "the reservation released")


def test_high_availability_failover():
    """Two `atoll services` with --zk: one leads (state in ZooKeeper), the
    other redirects to it; kill -9 of the leader: the standby takes over
    with the same framework and tasks, launching nothing twice."""
    why = zkserver.missing()
    if why:
        print("skip test_high_availability_failover: %s" % why)
        return
    from atolltest import Daemon
    with zkserver.ZkServer() as zk, Cluster(agents=2) as c:
        url = zk.url("/svc")
        ms = []
        for name in ("svc-a", "svc-b"):
            d = Daemon(c, name, ["services", "--port", "0", "--master", c.master.address, "--zk", url,
                                 "--zk-session-timeout", "2secs", "--log-level", "debug"])
            c.daemons.insert(1, d)
            d.start()
            ms.append(__import__("atolltest").Marathon(d))

        def leader():
            for m in ms:
                if m.daemon.proc.poll() is None:
                    st, _, body = m.req("GET", "/v2/leader")
                    if st == 200:
                        return body["leader"]
        lead = wait_for(leader, 20, "a leader")
        lm = [m for m in ms if lead.endswith(":%d" % m.port)][0]
        sm = [m for m in ms if m is not lm][0]
        st, hdrs, body = sm.req("POST", "/v2/apps", {"id": "/ha", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
                                                      "instances": 3})
        assert st == 307 and hdrs["location"].endswith(":%d/v2/apps" % lm.port), (st, hdrs, body)
        lm.ok("POST", "/v2/apps", {"id": "/ha", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3})
        before = {t["id"] for t in lm.wait_running("/ha", 3)}
        lm.wait_deployed()
        fw = c.state()["frameworks"][0]["id"]
        t0 = time.time()
        lm.daemon.kill9()
        wait_for(lambda: sm.req("GET", "/v2/apps/ha")[0] == 200, 30, "the standby leading")
        took = time.time() - t0
        after = {t["id"] for t in sm.wait_running("/ha", 3)}
        assert after == before, (before, after)
        time.sleep(1)
        assert {t["id"] for t in master_tasks(c)} == before
        assert [f["id"] for f in c.state()["frameworks"] if f["active"]] == [fw]
        print("services failover (session timeout 2 s): %.1f s" % took)


QUITTER = r"""
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        with open("requests.log", "a") as f:
            f.write(self.path + "\n")
        self.send_response(200)
        self.end_headers()
        if self.path == "/quitquitquit":
            os._exit(0)
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_graceful_shutdown_on_kill():
    """Atoll's gracefulShutdown: a kill first POSTs /quitquitquit to the
    named port (Aurora's HTTP lifecycle); a task that obeys ends at once."""
    d = tempfile.mkdtemp(prefix="atoll-quit-")
    script = os.path.join(d, "quitter.py")
    with open(script, "w") as f:
        f.write(QUITTER)
    with Cluster(agents=1) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/q", "cpus": 0.1, "mem": 32,
                                  "cmd": "exec python3 %s $PORT_HEALTH" % script,
                                  "portDefinitions": [{"port": 0, "name": "health"}],
                                  "gracefulShutdown": {"portName": "health", "quitquitquitWaitSeconds": 20},
                                  "taskKillGracePeriodSeconds": 30})
        (t,) = m.wait_running("/q", 1)
        wait_for(lambda: http_request(t["ports"][0], "GET", "/")[0] == 200, 10, "the task serving")
        t0 = time.time()
        m.ok("DELETE", "/v2/apps/q")
        wait_for(lambda: master_tasks(c) == [], 15, "the task gone")
        # Far sooner than the 20 s quit wait or the 30 s SIGTERM grace.
        assert time.time() - t0 < 10, time.time() - t0
        logs = []
        for root, _, files in os.walk(os.path.join(c.dir, "agent0", "work")):
            if "requests.log" in files:
                with open(os.path.join(root, "requests.log")) as f:
                    logs.append(f.read().split())
        assert logs == [["/quitquitquit"]], logs


def test_bad_input_gets_422_naming_the_field():
    with Cluster(agents=1) as c:
        m = c.start_services()
        bad = [
            ({"id": "/b", "cmd": "x", "cpus": -1}, "/cpus"),
            ({"id": "/b", "cmd": "x", "mem": "lots"}, "/mem"),
            ({"id": "/b", "cmd": "x", "instances": -2}, "/instances"),
            ({"id": "/b", "cmd": "x", "args": ["y"]}, ""),
            ({"id": "/B A", "cmd": "x"}, "/id"),
            ({"id": "/b", "cmd": "x", "constraints": [["rack", "MAX_PER", "x"]]}, "/constraints"),
            ({"id": "/b", "cmd": "x", "healthChecks": [{"protocol": "SMTP"}]}, "/healthChecks(0)"),
            ({"id": "/b", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}}, "/upgradeStrategy"),
            ({"id": "/b", "cmd": "x", "portDefinitions": [{"port": 70000}]}, "/portDefinitions(0)"),
        ]
        for body, path in bad:
            st, _, resp = m.req("POST", "/v2/apps", body)
            assert st == 422, (body, st, resp)
            paths = [d["path"] for d in resp["details"]]
            assert any(p.startswith(path) for p in paths), (body, paths)
        st, _, resp = m.req("POST", "/v2/apps", "{not json")
        assert st == 400 and "Invalid JSON" in resp["message"], (st, resp)
        st, _, resp = m.req("GET", "/v2/apps/nope")
        assert st == 404, (st, resp)
        st, _, resp = m.req("DELETE", "/v2/deployments/nope")
        assert st == 404, (st, resp)
        assert m.ok("GET", "/v2/apps")["apps"] == []


def test_versions_and_rollback_by_version():
    with Cluster(agents=1) as c:
        m = c.start_services()
        m.ok("POST", "/v2/apps", {"id": "/v", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16})
        m.wait_deployed()
        m.ok("PUT", "/v2/apps/v", {"cmd": "sleep 2000"})
        m.wait_deployed()
        versions = m.ok("GET", "/v2/apps/v/versions")["versions"]
        assert len(versions) == 2, versions
        first = m.ok("GET", "/v2/apps/v/versions/" + versions[0])
        assert first["cmd"] == "sleep 1000", first
        m.ok("PUT", "/v2/apps/v", {"version": versions[0]})
        m.wait_deployed()
        assert m.ok("GET", "/v2/apps/v")["app"]["cmd"] == "sleep 1000"
        m.wait_running("/v", 1)


if __name__ == "__main__":
    run_tests([
        test_app_lifecycle_ports_and_env,
        test_scale_up_down_youngest_first,
        test_rolling_upgrade_capacity_bounds,
        test_group_dependency_order,
        test_dependency_cycle_is_refused,
        test_constraints_on_the_slides_rails_app,
        test_constraint_operators_and_queue_explanation,
        test_rollback_by_cancelling_and_progress_deadline,
        test_events_resume_with_last_event_id,
        test_events_resume_too_old_gets_a_reset,
        test_restart_of_services_launches_no_duplicates,
        test_master_restart_replaces_nothing,
        test_health_checked_app_of_the_slides,
        test_unhealthy_task_is_killed_and_replaced,
        test_readiness_gates_the_deployment,
        test_dedicated_hosts_both_ways,
        test_unreachable_task_is_replaced_and_expunged,
        test_crash_loop_backoff,
        test_unreachable_inactive_after_and_surplus,
        test_serverset_announcements_follow_health,
        test_persistent_volume_app_of_the_slides,
        test_high_availability_failover,
        test_graceful_shutdown_on_kill,
        test_bad_input_gets_422_naming_the_field,
        test_versions_and_rollback_by_version,
    ])
