#!/usr/bin/env python3
"""The Mesos v1 operator API on the master (POST /api/v1): every
implemented call against live daemons, the error answers, and the event
stream (SUBSCRIBE) watching frameworks, tasks and agents come and go,
heartbeats, the subscriber limit and a slow subscriber being dropped."""

import json
import os
import re
import resource
import socket
import time

from atolltest import (Cluster, Daemon, RawScheduler, call, http_request,
                       launch, run_tests, scalar, task_info, wait_for)

FW = {"user": "root", "name": "op-api"}
PATH = "/api/v1"


def op(c, ctype, payload=None, expect=200):
    """Makes an operator call; returns the response payload (200 with a
    body), else the body text."""
    body = {"type": ctype}
    if payload is not None:
        body[ctype.lower()] = payload
    st, h, text = call(c.master.port, body, path=PATH)
    assert st == expect, (ctype, st, text)
    if st == 200 and text:
        assert h["content-type"].startswith("application/json"), h
        doc = json.loads(text)
        assert doc["type"] == ctype, doc
        return doc[ctype.lower()]
    return text


def raw(c, body, headers=None, method="POST"):
    return http_request(c.master.port, method, PATH, body, headers or {})


class OperatorStream(RawScheduler):
    """An operator SUBSCRIBE stream read with raw HTTP + RecordIO."""

    def __init__(self, port):
        super().__init__(port, {}, path=PATH)

    def subscribe(self, timeout=10):
        import http.client
        import threading
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request("POST", PATH, json.dumps({"type": "SUBSCRIBE"}),
                          {"Content-Type": "application/json", "Accept": "application/json"})
        r = self.conn.getresponse()
        self.status = r.status
        if r.status != 200:
            return r.status, r.read().decode()
        self.content_type = r.getheader("Content-Type")
        self.thread = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.thread.start()
        return 200, self.next_event(timeout, skip=())


def task_states(stream, task_id, final, timeout=20):
    """TASK_UPDATED states of task_id seen until final."""
    seen = []
    while True:
        ev = stream.expect("TASK_UPDATED", timeout,
                           pred=lambda e: e["task_updated"]["status"]["task_id"]["value"] == task_id)
        seen.append(ev["task_updated"]["state"])
        if ev["task_updated"]["state"] == final:
            return seen, ev["task_updated"]


def sched_updates_until(s, task_id, final, timeout=20):
    while True:
        ev = s.expect("UPDATE", timeout,
                      pred=lambda e: e["update"]["status"]["task_id"]["value"] == task_id)
        st = ev["update"]["status"]
        s.ack(st)
        if st["state"] == final:
            return st


def late_agent(c, name, resources="cpus:1;mem:512"):
    d = Daemon(c, name, ["agent", "--port", "0", "--work-dir", os.path.join(c.dir, name, "work"),
                         "--resources", resources, "--hostname", name,
                         "--master", c.master.address, "--log-level", "debug"])
    c.daemons.append(d)
    d.start()
    return d


# ---- reads -----------------------------------------------------------------

def test_introspection_calls():
    with Cluster(agents=0) as c:
        assert op(c, "GET_HEALTH") == {"healthy": True}

        flags = {f["name"]: f["value"] for f in op(c, "GET_FLAGS")["flags"]}
        assert flags["log-level"] == "debug", flags
        assert flags["port"] == "0" and "heartbeat-interval" in flags

        v = op(c, "GET_VERSION")["version_info"]
        assert re.match(r"^\d+\.\d+\.\d+", v["version"]), v
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", v["build_date"]), v
        assert isinstance(v["build_time"], (int, float)) and v["build_time"] > 1.5e9
        assert "build_user" in v and "git_sha" in v

        metrics = {x["name"]: x["value"] for x in op(c, "GET_METRICS", {})["metrics"]}
        assert metrics["master/elected"] == 1, metrics
        assert metrics["master/uptime_secs"] > 0
        assert metrics["master/slaves_active"] == 0
        # the payload is optional, as is its timeout
        assert op(c, "GET_METRICS", {"timeout": {"nanoseconds": 1000000}})["metrics"]
        assert op(c, "GET_METRICS")["metrics"]

        # the cluster runs with --log-level debug: glog verbosity 1
        assert op(c, "GET_LOGGING_LEVEL") == {"level": 1}

        gm = op(c, "GET_MASTER")
        mi = gm["master_info"]
        assert mi["port"] == c.master.port and mi["address"]["port"] == c.master.port
        assert mi["id"] == c.state()["id"]
        assert 0 < gm["start_time"] <= time.time() and gm["elected_time"] >= gm["start_time"]

        assert op(c, "GET_STATE") == {
            "get_tasks": {"tasks": [], "unreachable_tasks": [], "completed_tasks": []},
            "get_executors": {"executors": [], "orphan_executors": []},
            "get_frameworks": {"frameworks": [], "completed_frameworks": []},
            "get_agents": {"agents": [], "recovered_agents": []}}
        assert op(c, "GET_ROLES") == {"roles": []}

        # an Accept that admits JSON is fine
        st, h, text = raw(c, json.dumps({"type": "GET_HEALTH"}),
                          {"Content-Type": "application/json", "Accept": "application/json"})
        assert st == 200 and json.loads(text)["get_health"]["healthy"] is True


def test_logging_level():
    with Cluster(agents=0) as c:
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 1
        # verbosity 0 for half a second, then back to --log-level debug
        assert op(c, "SET_LOGGING_LEVEL", {"level": 0, "duration": {"nanoseconds": 500000000}}) == ""
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 0
        wait_for(lambda: op(c, "GET_LOGGING_LEVEL")["level"] == 1, 5, "logging level reverted")
        assert "logging level back to 'debug'" in c.master.log()
        # int64 as a string (protobuf JSON style) and any level > 0
        op(c, "SET_LOGGING_LEVEL", {"level": 3, "duration": {"nanoseconds": "60000000000"}})
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 1
        # a new call replaces the pending revert
        op(c, "SET_LOGGING_LEVEL", {"level": 0, "duration": {"nanoseconds": 60000000000}})
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 0
        op(c, "SET_LOGGING_LEVEL", {"level": 1, "duration": {"nanoseconds": 0}})
        time.sleep(0.2)
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 1

        bad = [
            (None, "set_logging_level"),
            ({"duration": {"nanoseconds": 1}}, "set_logging_level.level"),
            ({"level": -1, "duration": {"nanoseconds": 1}}, "set_logging_level.level"),
            ({"level": 1.5, "duration": {"nanoseconds": 1}}, "set_logging_level.level"),
            ({"level": "x", "duration": {"nanoseconds": 1}}, "set_logging_level.level"),
            ({"level": 4294967296, "duration": {"nanoseconds": 1}}, "set_logging_level.level"),
            ({"level": 1}, "set_logging_level.duration"),
            ({"level": 1, "duration": 5}, "set_logging_level.duration"),
            ({"level": 1, "duration": {}}, "duration.nanoseconds"),
            ({"level": 1, "duration": {"nanoseconds": -5}}, "duration.nanoseconds"),
            ({"level": 1, "duration": {"nanoseconds": "12x"}}, "duration.nanoseconds"),
            ({"level": 1, "duration": {"nanoseconds": "99999999999999999999"}}, "duration.nanoseconds"),
        ]
        for payload, field in bad:
            body = {"type": "SET_LOGGING_LEVEL"}
            if payload is not None:
                body["set_logging_level"] = payload
            st, _, text = call(c.master.port, body, path=PATH)
            assert st == 400, (payload, st, text)
            assert field in text, (payload, text)
        assert op(c, "GET_LOGGING_LEVEL")["level"] == 1


def test_errors():
    with Cluster(agents=0) as c:
        st, h, text = raw(c, None, method="GET")
        assert st == 405 and h.get("allow") == "POST", (st, h, text)
        st, _, text = raw(c, json.dumps({"type": "GET_HEALTH"}))
        assert st == 400 and "Content-Type" in text, (st, text)
        st, _, text = raw(c, json.dumps({"type": "GET_HEALTH"}), {"Content-Type": "text/plain"})
        assert st == 415, (st, text)
        st, _, text = raw(c, "x", {"Content-Type": "application/x-protobuf"})
        assert st == 415, (st, text)
        st, _, text = raw(c, json.dumps({"type": "GET_HEALTH"}),
                          {"Content-Type": "application/json", "Accept": "text/html"})
        assert st == 406, (st, text)
        for body, code, words in [
                ("{not json", 400, "JSON"),
                ("[]", 400, "object"),
                ("{}", 400, "'type'"),
                ('{"type": 5}', 400, "'type'"),
                ('{"type": "NO_SUCH_CALL"}', 501, "NO_SUCH_CALL"),
                ('{"type": "GET_QUOTA"}', 501, "not implemented"),
                ('{"type": "TEARDOWN"}', 400, "teardown.framework_id"),
                ('{"type": "TEARDOWN", "teardown": {"framework_id": "x"}}', 400, "teardown.framework_id"),
                ('{"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}}', 400, "No framework"),
                ('{"type": "MARK_AGENT_GONE"}', 400, "mark_agent_gone.agent_id"),
                ('{"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nope"}}}', 404,
                 "not found")]:
            st, _, text = raw(c, body, {"Content-Type": "application/json"})
            assert st == code and words in text, (body, st, text)
        assert op(c, "GET_HEALTH")["healthy"] is True


# ---- state with a framework, tasks and an agent -----------------------------

def test_state_calls_with_tasks():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        code, _ = s.subscribe()
        assert code == 200
        o = s.expect("OFFERS")["offers"]["offers"][0]
        t1 = task_info("t1", o, "sleep 20")
        t2 = task_info("t2", o, "unused")
        del t2["command"]
        t2["executor"] = {"executor_id": {"value": "ex1"},
                          "command": {"shell": True, "value": "sleep 20"}}
        st, _, body = launch(s, o, [t1, t2])
        assert st == 202, body
        sched_updates_until(s, "t1", "TASK_RUNNING")

        tasks = op(c, "GET_TASKS")
        byid = {t["task_id"]["value"]: t for t in tasks["tasks"]}
        assert set(byid) == {"t1", "t2"}, tasks
        assert byid["t1"]["state"] == "TASK_RUNNING"
        assert byid["t1"]["framework_id"]["value"] == s.framework_id
        assert byid["t1"]["agent_id"] == o["agent_id"]
        assert scalar(byid["t1"]["resources"], "cpus") == 0.1
        assert tasks["completed_tasks"] == [] and tasks["unreachable_tasks"] == []

        # only the task with an ExecutorInfo has an executor the master knows
        ex = op(c, "GET_EXECUTORS")
        assert len(ex["executors"]) == 1, ex
        e = ex["executors"][0]
        assert e["executor_info"]["executor_id"]["value"] == "ex1"
        assert e["executor_info"]["framework_id"]["value"] == s.framework_id
        assert e["executor_info"]["command"]["value"] == "sleep 20"
        assert e["agent_id"] == o["agent_id"]

        agents = op(c, "GET_AGENTS")
        assert agents["recovered_agents"] == []
        a = agents["agents"][0]
        assert a["agent_info"]["hostname"] == "agent0"
        assert a["agent_info"]["id"] == o["agent_id"]
        assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in a["agent_info"]["attributes"]
        assert a["active"] is True and a["deactivated"] is False
        assert a["pid"].startswith("slave(1)@") and a["version"]
        assert a["registered_time"]["nanoseconds"] > 1.5e18
        assert scalar(a["total_resources"], "cpus") == 4
        assert abs(scalar(a["allocated_resources"], "cpus") - 0.2) < 1e-9, a
        assert scalar(a["allocated_resources"], "mem") == 64

        fws = op(c, "GET_FRAMEWORKS")
        assert fws["completed_frameworks"] == []
        f = fws["frameworks"][0]
        assert f["framework_info"]["id"]["value"] == s.framework_id
        assert f["framework_info"]["name"] == "op-api" and f["framework_info"]["user"] == "root"
        assert f["active"] is True and f["connected"] is True and f["recovered"] is False
        assert f["registered_time"]["nanoseconds"] > 1.5e18
        assert "unregistered_time" not in f
        assert abs(scalar(f["allocated_resources"], "cpus") - 0.2) < 1e-9, f
        offered = sum(scalar(x["resources"], "cpus") for x in f["offers"])
        assert abs(scalar(f["offered_resources"], "cpus") - offered) < 1e-9
        for x in f["offers"]:
            assert x["framework_id"]["value"] == s.framework_id
            assert x["agent_id"] == o["agent_id"] and x["hostname"] == "agent0"

        roles = op(c, "GET_ROLES")["roles"]
        assert [r["name"] for r in roles] == ["*"], roles
        r = roles[0]
        assert r["weight"] == 1 and r["frameworks"] == [{"value": s.framework_id}]
        assert abs(scalar(r["allocated"], "cpus") - 0.2) < 1e-9, r
        assert abs(scalar(r["resources"], "cpus") - 0.2 - scalar(r["offered"], "cpus")) < 1e-9, r

        state = op(c, "GET_STATE")
        assert len(state["get_tasks"]["tasks"]) == 2
        assert state["get_executors"]["executors"] == ex["executors"]
        assert state["get_agents"]["agents"][0]["agent_info"] == a["agent_info"]
        assert state["get_frameworks"]["frameworks"][0]["framework_info"] == f["framework_info"]

        # TEARDOWN by the operator: tasks killed, framework completed
        assert op(c, "TEARDOWN", {"framework_id": {"value": s.framework_id}}) == ""
        assert "removed" in s.expect("ERROR", 5)["error"]["message"]
        fws = op(c, "GET_FRAMEWORKS")
        assert fws["frameworks"] == []
        f = fws["completed_frameworks"][0]
        assert f["framework_info"]["id"]["value"] == s.framework_id
        assert f["active"] is False and f["connected"] is False
        assert f["unregistered_time"]["nanoseconds"] > 1.5e18
        tasks = op(c, "GET_TASKS")
        assert tasks["tasks"] == []
        assert sorted(t["state"] for t in tasks["completed_tasks"]) == ["TASK_KILLED", "TASK_KILLED"]
        assert op(c, "GET_EXECUTORS")["executors"] == []
        text = op(c, "TEARDOWN", {"framework_id": {"value": s.framework_id}}, expect=400)
        assert "removed already" in text, text
        wait_for(lambda: scalar(op(c, "GET_AGENTS")["agents"][0]["allocated_resources"], "cpus") == 0,
                 10, "resources freed")
        s.close()


# ---- event stream ------------------------------------------------------------

def test_event_stream():
    with Cluster(agents=1, master_args=["--heartbeat-interval", "300ms"]) as c:
        ops = OperatorStream(c.master.port)
        code, ev = ops.subscribe()
        assert code == 200, ev
        assert ops.content_type == "application/json"
        assert ev["type"] == "SUBSCRIBED", ev
        sub = ev["subscribed"]
        assert sub["heartbeat_interval_seconds"] == 0.3
        agents = sub["get_state"]["get_agents"]["agents"]
        assert [a["agent_info"]["hostname"] for a in agents] == ["agent0"]
        assert sub["get_state"]["get_frameworks"]["frameworks"] == []
        # a HEARTBEAT right away, then one every 300 ms
        assert ops.next_event(2, skip=())["type"] == "HEARTBEAT"
        t0 = time.time()
        for _ in range(3):
            assert ops.next_event(2, skip=())["type"] == "HEARTBEAT"
        assert time.time() - t0 < 2.0

        s = RawScheduler(c.master.port, dict(FW, failover_timeout=60))
        s.subscribe()
        ev = ops.expect("FRAMEWORK_ADDED")["framework_added"]["framework"]
        assert ev["framework_info"]["id"]["value"] == s.framework_id
        assert ev["framework_info"]["name"] == "op-api"
        assert ev["active"] is True and ev["connected"] is True

        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("t1", o, "sleep 0.5")])
        added = ops.expect("TASK_ADDED")["task_added"]["task"]
        assert added["task_id"]["value"] == "t1" and added["state"] == "TASK_STAGING"
        assert added["framework_id"]["value"] == s.framework_id
        assert added["agent_id"] == o["agent_id"]
        # the agent sends the next update once the scheduler acknowledged
        sched_updates_until(s, "t1", "TASK_FINISHED")
        states, last = task_states(ops, "t1", "TASK_FINISHED")
        assert "TASK_RUNNING" in states, states
        assert states.index("TASK_RUNNING") < states.index("TASK_FINISHED")
        assert last["framework_id"]["value"] == s.framework_id
        assert last["status"]["state"] == "TASK_FINISHED"
        assert last["status"]["agent_id"] == o["agent_id"]
        assert "data" not in last["status"]

        # an agent joins, then the operator marks it gone
        late_agent(c, "late")
        ev = ops.expect("AGENT_ADDED")["agent_added"]["agent"]
        assert ev["agent_info"]["hostname"] == "late" and ev["active"] is True
        assert scalar(ev["total_resources"], "cpus") == 1
        late_id = ev["agent_info"]["id"]["value"]
        assert op(c, "MARK_AGENT_GONE", {"agent_id": {"value": late_id}}) == ""
        ev = ops.expect("AGENT_REMOVED")["agent_removed"]
        assert ev["agent_id"]["value"] == late_id
        assert late_id not in [a["agent_info"]["id"]["value"] for a in op(c, "GET_AGENTS")["agents"]]
        # again: 200, as Mesos answers; the agent may not come back
        assert op(c, "MARK_AGENT_GONE", {"agent_id": {"value": late_id}}) == ""
        time.sleep(1.5)
        assert [a["agent_info"]["hostname"] for a in op(c, "GET_AGENTS")["agents"]] == ["agent0"]

        # the scheduler's connection drops: FRAMEWORK_UPDATED, disconnected
        s.close()
        ev = ops.expect("FRAMEWORK_UPDATED")["framework_updated"]["framework"]
        assert ev["framework_info"]["id"]["value"] == s.framework_id
        assert ev["connected"] is False and ev["active"] is False
        # it comes back (failover): FRAMEWORK_UPDATED, connected
        s2 = RawScheduler(c.master.port, dict(FW, failover_timeout=60, id={"value": s.framework_id}))
        s2.subscribe()
        ev = ops.expect("FRAMEWORK_UPDATED")["framework_updated"]["framework"]
        assert ev["connected"] is True and ev["active"] is True

        op(c, "TEARDOWN", {"framework_id": {"value": s.framework_id}})
        ev = ops.expect("FRAMEWORK_REMOVED")["framework_removed"]
        assert ev["framework_info"]["id"]["value"] == s.framework_id
        assert ev["framework_info"]["name"] == "op-api"
        s2.close()

        # a second subscriber sees the state as it is now
        ops2 = OperatorStream(c.master.port)
        code, ev = ops2.subscribe()
        st = ev["subscribed"]["get_state"]
        assert st["get_frameworks"]["frameworks"] == []
        assert [f["framework_info"]["id"]["value"] for f in st["get_frameworks"]["completed_frameworks"]] \
            == [s.framework_id]
        assert [t["task_id"]["value"] for t in st["get_tasks"]["completed_tasks"]] == ["t1"]

        # the master stops: both streams end, the master exits cleanly
        c.master.stop()
        assert c.master.proc.returncode == 0, c.master.log()
        for stream in (ops, ops2):
            assert stream.next_event(5) is None
        ops.close()
        ops2.close()


def test_mark_agent_gone_tasks():
    with Cluster(agents=1) as c:
        ops = OperatorStream(c.master.port)
        assert ops.subscribe()[0] == 200
        aware = RawScheduler(c.master.port, dict(FW, name="aware", capabilities=[{"type": "PARTITION_AWARE"}]))
        aware.subscribe()
        o = aware.expect("OFFERS")["offers"]["offers"][0]
        launch(aware, o, [task_info("ta", o, "sleep 20")], refuse=60)
        sched_updates_until(aware, "ta", "TASK_RUNNING")
        plain = RawScheduler(c.master.port, dict(FW, name="plain"))
        plain.subscribe()
        o2 = plain.expect("OFFERS", timeout=15)["offers"]["offers"][0]
        launch(plain, o2, [task_info("tp", o2, "sleep 20")], refuse=60)
        sched_updates_until(plain, "tp", "TASK_RUNNING")

        agent_id = o["agent_id"]["value"]
        assert op(c, "MARK_AGENT_GONE", {"agent_id": {"value": agent_id}}) == ""
        st = sched_updates_until(aware, "ta", "TASK_GONE_BY_OPERATOR")
        assert st["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR" and st["source"] == "SOURCE_MASTER"
        st = sched_updates_until(plain, "tp", "TASK_LOST")
        assert st["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"

        _, ev = task_states(ops, "ta", "TASK_GONE_BY_OPERATOR")
        assert ev["status"]["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
        assert ops.expect("AGENT_REMOVED")["agent_removed"]["agent_id"]["value"] == agent_id
        tasks = op(c, "GET_TASKS")
        done = {t["task_id"]["value"]: t["state"] for t in tasks["completed_tasks"]}
        assert done == {"ta": "TASK_GONE_BY_OPERATOR", "tp": "TASK_LOST"}, tasks
        assert tasks["tasks"] == [] and op(c, "GET_AGENTS")["agents"] == []
        for x in (ops, aware, plain):
            x.close()


def raw_subscriber(port, rcvbuf=None):
    """A socket with an operator SUBSCRIBE sent; returns (sock, status)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    body = b'{"type":"SUBSCRIBE"}'
    s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    head = b""
    while b"\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, int(head.split()[1]) if head else 0


def test_subscriber_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2300:
        print("skip: RLIMIT_NOFILE hard limit %d is too low for 1000 subscribers" % hard)
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2300) if hard == resource.RLIM_INFINITY
                                                else min(hard, max(soft, 2300)), hard))
    socks = []
    try:
        with Cluster(agents=0) as c:
            for _ in range(1000):
                s, code = raw_subscriber(c.master.port)
                socks.append(s)
                assert code == 200, code
            st, _, text = call(c.master.port, {"type": "SUBSCRIBE"}, path=PATH)
            assert st == 503 and "1000" in text, (st, text)
            # calls still work, and a freed place is taken again
            assert op(c, "GET_HEALTH")["healthy"] is True
            socks.pop().close()

            def again():
                s, code = raw_subscriber(c.master.port)
                if code == 200:
                    socks.append(s)
                    return True
                s.close()
                return False
            wait_for(again, 10, "a subscriber place freed")
    finally:
        for s in socks:
            s.close()


def test_slow_subscriber_dropped():
    with Cluster(agents=0, master_args=["--max-stream-queue-bytes", "4096"]) as c:
        slow, code = raw_subscriber(c.master.port, rcvbuf=4096)
        assert code == 200
        fast = OperatorStream(c.master.port)
        assert fast.subscribe()[0] == 200

        def dropped():
            m = {x["name"]: x["value"] for x in op(c, "GET_METRICS")["metrics"]}
            return m["master/slow_subscribers_disconnected"] >= 1

        # events of about 1 KB each until the slow reader's queue overflows:
        # frameworks that subscribe and leave at once (failover_timeout 0).
        # Small enough that the events of one loop pass (added, updated,
        # removed) fit the fast reader's 4 KB queue.
        info = dict(FW, name="x" * 600)
        body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}).encode()
        for i in range(3000):
            f = socket.create_connection(("127.0.0.1", c.master.port))
            f.sendall(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            f.recv(64)
            f.close()
            if i % 20 == 19 and dropped():
                break
        assert dropped(), "the slow subscriber was never dropped"
        assert op(c, "GET_HEALTH")["healthy"] is True
        # the fast subscriber kept up and still gets events
        fast.expect("FRAMEWORK_REMOVED", timeout=10)
        # the slow one finds an ERROR event at the end of what it was sent
        data = b""
        slow.settimeout(20)
        while True:
            chunk = slow.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        slow.close()
        tail = data[-600:].decode(errors="replace")
        assert '"type":"ERROR"' in tail and "too slow" in tail, tail
        fast.close()


def test_prometheus_metrics():
    with Cluster(agents=1) as c:
        st, hdr, body = c.get("/metrics")
        assert st == 200 and hdr["content-type"].startswith("text/plain"), (st, hdr)
        values = {}
        for line in body.splitlines():
            if line.startswith("#"):
                assert re.match(r"^# TYPE atoll_[a-zA-Z0-9_]+ gauge$", line), line
                continue
            name, value = line.split(" ")
            assert re.match(r"^atoll_[a-zA-Z0-9_]+$", name), name
            values[name] = float(value)
        snap = json.loads(c.get("/metrics/snapshot")[2])
        assert len(values) == len(snap)
        assert values["atoll_master_elected"] == 1
        assert values["atoll_master_cpus_total"] == snap["master/cpus_total"] == 4
        assert values["atoll_master_slaves_active"] == 1


if __name__ == "__main__":
    run_tests([test_prometheus_metrics, test_introspection_calls, test_logging_level, test_errors,
               test_state_calls_with_tasks, test_event_stream,
               test_mark_agent_gone_tasks, test_subscriber_limit,
               test_slow_subscriber_dropped])
