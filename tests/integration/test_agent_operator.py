#!/usr/bin/env python3
"""The agent's operator surface: POST /api/v1 on the agent (introspection,
state, containers, LIST_FILES / READ_FILE), the classic /files/* and
/monitor/statistics endpoints, sandbox confinement (.., absolute paths,
symlinks planted by a task, the agent's own meta directory) and bad input.
One cluster with a finished and a running task serves most tests."""

import base64
import json
import os
import urllib.parse

from atolltest import (Cluster, RawScheduler, call, http_request, launch,
                       run_tests, task_info, wait_for)

FW = {"user": "root", "name": "agent-op"}
PATH = "/api/v1"
MIB = 1 << 20


def aop(agent, ctype, payload=None, expect=200):
    """An operator call to the agent; the payload of a 200, else the text."""
    body = {"type": ctype}
    if payload is not None:
        body[ctype.lower()] = payload
    st, h, text = call(agent.port, body, path=PATH)
    assert st == expect, (ctype, payload, st, text)
    if st == 200 and text:
        assert h["content-type"].startswith("application/json"), h
        doc = json.loads(text)
        assert doc["type"] == ctype, doc
        return doc[ctype.lower()]
    return text


def get(agent, endpoint, **query):
    q = "?" + urllib.parse.urlencode(query) if query else ""
    return http_request(agent.port, "GET", endpoint + q)


def updates_until(s, task_id, final, timeout=20):
    while True:
        ev = s.expect("UPDATE", timeout,
                      pred=lambda e: e["update"]["status"]["task_id"]["value"] == task_id)
        st = ev["update"]["status"]
        s.ack(st)
        if st["state"] == final:
            return st


class Setup:
    """A cluster with task 'done' (finished, two lines of stdout) and
    task 'run' (running, with symlinks to /etc and to / in its sandbox)."""

    def __init__(self, c):
        self.c = c
        self.agent = c.agents[0]
        s = RawScheduler(c.master.port, dict(FW))
        code, _ = s.subscribe()
        assert code == 200
        self.s = s
        o = s.expect("OFFERS")["offers"]["offers"][0]
        done = task_info("done", o, "printf 'hello-stdout\\nline2\\n'")
        run = task_info("run", o, "ln -s /etc escape && ln -s / root && "
                                  "mkdir sub && echo inner > sub/f && "
                                  "echo running && sleep 60", mem=64)
        st, _, body = launch(s, o, [done, run])
        assert st == 202, body
        updates_until(s, "done", "TASK_FINISHED")
        updates_until(s, "run", "TASK_RUNNING")
        wait_for(lambda: os.path.exists(os.path.join(self.sandbox("run"), "sub", "f")),
                 10, "run's files")
        wait_for(lambda: self.in_completed("done"), 10, "done acknowledged")

    def in_completed(self, tid):
        tasks = aop(self.agent, "GET_TASKS")
        return any(t["task_id"]["value"] == tid
                   for t in tasks["completed_tasks"] + tasks["terminated_tasks"])

    def sandbox(self, eid):
        """The sandbox the agent reports in /state (live or completed)."""
        st = json.loads(get(self.agent, "/state")[2])
        for fw in st["frameworks"]:
            for ex in fw["executors"] + fw["completed_executors"]:
                if ex["id"] == eid:
                    return ex["directory"]
        # a finished command executor is forgotten: rebuild its path
        run = self.sandbox("run")
        return os.path.join(os.path.dirname(run).replace("/run/", "/%s/" % eid), "latest")

    def alias(self, eid):
        return "/frameworks/%s/executors/%s/runs/latest" % (self.s.framework_id, eid)


def test_introspection():
    with Cluster(agents=1) as c:
        a = c.agents[0]
        assert aop(a, "GET_HEALTH") == {"healthy": True}
        flags = {f["name"]: f["value"] for f in aop(a, "GET_FLAGS")["flags"]}
        assert flags["hostname"] == "agent0" and flags["log-level"] == "debug", flags
        v = aop(a, "GET_VERSION")["version_info"]
        assert v["version"] and "build_user" in v and "git_sha" in v, v
        info = aop(a, "GET_AGENT")["agent_info"]
        st = json.loads(get(a, "/state")[2])
        assert info["id"]["value"] == st["id"] and info["hostname"] == "agent0", info
        assert aop(a, "GET_LOGGING_LEVEL") == {"level": 1}
        m = {x["name"]: x["value"] for x in aop(a, "GET_METRICS", {})["metrics"]}
        assert m["slave/registered"] == 1 and m["slave/uptime_secs"] > 0, m
        assert m["slave/cpus_total"] == 4 and m["slave/mem_total"] == 4096, m
        assert m["slave/tasks_running"] == 0 and m["slave/executors_running"] == 0
        snap = json.loads(get(a, "/metrics/snapshot")[2])
        assert snap["slave/mem_total"] == 4096, snap
        assert aop(a, "GET_STATE") == {
            "get_tasks": {"pending_tasks": [], "queued_tasks": [], "launched_tasks": [],
                          "terminated_tasks": [], "completed_tasks": []},
            "get_executors": {"executors": [], "completed_executors": []},
            "get_frameworks": {"frameworks": [], "completed_frameworks": []}}
        assert aop(a, "GET_CONTAINERS") == {"containers": []}
        assert json.loads(get(a, "/monitor/statistics")[2]) == []


def test_state_and_files():
    with Cluster(agents=1) as c:
        x = Setup(c)
        a = x.agent
        fid = x.s.framework_id

        m = {v["name"]: v["value"] for v in aop(a, "GET_METRICS")["metrics"]}
        assert m["slave/tasks_running"] == 1 and m["slave/executors_running"] == 1, m
        assert abs(m["slave/cpus_used"] - 0.1) < 1e-9 and m["slave/mem_used"] == 64, m

        tasks = aop(a, "GET_TASKS")
        launched = [t["task_id"]["value"] for t in tasks["launched_tasks"]]
        assert launched == ["run"], tasks
        t = tasks["launched_tasks"][0]
        assert t["state"] == "TASK_RUNNING" and t["framework_id"]["value"] == fid
        assert t["statuses"][0]["state"] == "TASK_RUNNING", t
        done = [t for t in tasks["completed_tasks"] + tasks["terminated_tasks"]
                if t["task_id"]["value"] == "done"]
        assert done and done[0]["state"] == "TASK_FINISHED", tasks

        state = aop(a, "GET_STATE")
        assert state["get_tasks"] == aop(a, "GET_TASKS")
        fws = state["get_frameworks"]["frameworks"]
        assert [f["framework_info"]["id"]["value"] for f in fws] == [fid], fws
        exs = aop(a, "GET_EXECUTORS")["executors"]
        assert [e["executor_info"]["executor_id"]["value"] for e in exs] == ["run"], exs
        assert exs[0]["executor_info"]["framework_id"]["value"] == fid

        cs = aop(a, "GET_CONTAINERS")["containers"]
        assert len(cs) == 1, cs
        ct = cs[0]
        assert ct["executor_id"]["value"] == "run" and ct["framework_id"]["value"] == fid
        assert ct["container_id"]["value"] and ct["container_status"]["executor_pid"] > 0
        rs = ct["resource_statistics"]
        assert rs["mem_rss_bytes"] > 0 and rs["processes"] >= 2, rs
        assert rs["cpus_user_time_secs"] >= 0 and rs["timestamp"] > 0
        if "mem_total_bytes" in rs:  # from a cgroup: its limit, with the executor overhead
            assert rs["mem_limit_bytes"] == (64 + 32) * MIB, rs
        else:  # posix: the task's resources
            assert rs["mem_limit_bytes"] == 64 * MIB, rs
        mon = json.loads(get(a, "/monitor/statistics")[2])
        assert [e["executor_id"] for e in mon] == ["run"], mon
        assert mon[0]["framework_id"] == fid and mon[0]["statistics"]["mem_rss_bytes"] > 0

        # LIST_FILES of the running sandbox, by its real path and by alias
        sb = x.sandbox("run")
        for root in (sb, x.alias("run")):
            infos = aop(a, "LIST_FILES", {"path": root})["file_infos"]
            byname = {os.path.basename(i["path"]): i for i in infos}
            assert {"stdout", "stderr", "escape", "root", "sub"} <= set(byname), infos
            assert byname["stdout"]["path"] == root + "/stdout"
            assert byname["sub"]["mode"] & 0o170000 == 0o040000  # a directory
            assert byname["escape"]["mode"] & 0o170000 == 0o120000  # a link, not followed
            assert byname["stdout"]["mtime"]["nanoseconds"] > 10**18
            assert byname["stdout"]["uid"] and byname["stdout"]["nlink"] == 1
        sub = aop(a, "LIST_FILES", {"path": x.alias("run") + "/sub"})["file_infos"]
        assert [(i["path"], i["size"]) for i in sub] == [(x.alias("run") + "/sub/f", 6)]
        one = aop(a, "LIST_FILES", {"path": x.alias("run") + "/./sub//f"})["file_infos"]
        assert [i["path"] for i in one] == [x.alias("run") + "/sub/f"], one

        # READ_FILE of the finished task's stdout, with offset and length
        out = x.alias("done") + "/stdout"
        r = aop(a, "READ_FILE", {"path": out, "offset": 0})
        assert base64.b64decode(r["data"]) == b"hello-stdout\nline2\n" and r["size"] == 19, r
        r = aop(a, "READ_FILE", {"path": out, "offset": 6, "length": 6})
        assert base64.b64decode(r["data"]) == b"stdout" and r["size"] == 19, r
        r = aop(a, "READ_FILE", {"path": out, "offset": "13", "length": "100"})
        assert base64.b64decode(r["data"]) == b"line2\n", r
        r = aop(a, "READ_FILE", {"path": out, "offset": 1000})
        assert r == {"size": 19, "data": ""}, r
        r = aop(a, "READ_FILE", {"path": out, "offset": 0, "length": 1 << 40})
        assert base64.b64decode(r["data"]) == b"hello-stdout\nline2\n"  # clamped
        r = aop(a, "READ_FILE", {"path": x.sandbox("run") + "/stdout", "offset": 0})
        assert base64.b64decode(r["data"]) == b"running\n", r

        # the classic endpoints
        st, _, body = get(a, "/files/read", path=out, offset=6, length=6)
        assert st == 200 and json.loads(body) == {"data": "stdout", "offset": 6}, body
        st, _, body = get(a, "/files/read", path=out, offset=-1)
        assert st == 200 and json.loads(body) == {"data": "", "offset": 19}, body
        st, _, body = get(a, "/files/read", path=out, offset=500)
        assert st == 200 and json.loads(body)["data"] == "", body
        st, h, body = get(a, "/files/download", path=out)
        assert st == 200 and body == "hello-stdout\nline2\n", (st, body)
        assert h["content-type"] == "application/octet-stream"
        assert 'filename="stdout"' in h["content-disposition"], h
        st, _, body = get(a, "/files/browse", path=x.alias("run"))
        assert st == 200, body
        br = {os.path.basename(i["path"]): i for i in json.loads(body)}
        assert br["sub"]["mode"].startswith("d") and br["escape"]["mode"].startswith("l"), br
        assert br["stdout"]["size"] == 8
        st, _, body = get(a, "/files/browse.json", path=x.alias("run") + "/sub")
        assert st == 200 and len(json.loads(body)) == 1
        st, _, body = get(a, "/monitor/statistics.json")
        assert st == 200 and len(json.loads(body)) == 1

        # ---- confinement -------------------------------------------------
        run = x.alias("run")
        work = os.path.dirname(sb.split("/slaves/")[0] + "/")
        refused = [
            ({"path": run + "/../../../../../../etc/passwd"}, 400, "'..'"),
            ({"path": run + "/sub/../stdout"}, 400, "'..'"),
            ({"path": "/etc/passwd"}, 404, "not in any sandbox"),
            ({"path": "/"}, 404, "not in any sandbox"),
            ({"path": "relative/stdout"}, 400, "absolute"),
            ({"path": ""}, 400, "required"),
            ({"path": run + "/escape/passwd"}, 403, "outside"),
            ({"path": run + "/escape"}, 403, "outside"),
            ({"path": run + "/root/etc/passwd"}, 403, "outside"),
            ({"path": run + "/missing"}, 404, "no such file"),
            ({"path": work + "/meta"}, 404, "not in any sandbox"),
            ({"path": work + "/slaves"}, 404, "not in any sandbox"),
            ({"path": "/frameworks/%s/executors/nope/runs/latest" % fid}, 404, "no sandbox"),
            ({"path": "/frameworks/%s/executors" % fid}, 404, "not in any sandbox"),
        ]
        for payload, code, word in refused:
            for ctype in ("LIST_FILES", "READ_FILE"):
                p = dict(payload, offset=0) if ctype == "READ_FILE" else payload
                text = aop(a, ctype, p, expect=code)
                assert word in text, (ctype, payload, text)
            st, _, body = get(a, "/files/read", path=payload["path"], offset=0)
            assert st == code and word in body, (payload, st, body)
            st, _, body = get(a, "/files/download", path=payload["path"])
            assert st == code and "root:" not in body, (payload, st, body)
        # reading a directory, a missing path parameter
        assert "directory" in aop(a, "READ_FILE", {"path": run + "/sub", "offset": 0}, expect=400)
        st, _, body = get(a, "/files/download", path=run)
        assert st == 400 and "directory" in body, body
        st, _, body = get(a, "/files/read")
        assert st == 400 and "path" in body, body

        x.s.close()


def test_bad_input():
    with Cluster(agents=1) as c:
        a = c.agents[0]
        H = {"Content-Type": "application/json"}

        def raw(body, headers=H, method="POST", path=PATH):
            return http_request(a.port, method, path, body, headers)

        st, h, body = raw(None, {}, "GET")
        assert st == 405 and h.get("allow") == "POST", (st, h, body)
        assert raw('{"type":"GET_HEALTH"}', {})[0] == 400
        assert raw('{"type":"GET_HEALTH"}', {"Content-Type": "text/plain"})[0] == 415
        assert raw('{"type":"GET_HEALTH"}', {"Content-Type": "application/x-protobuf"})[0] == 415
        assert raw('{"type":"GET_HEALTH"}', dict(H, Accept="text/html"))[0] == 406
        st, _, body = raw("{not json")
        assert st == 400 and "JSON" in body, body
        assert raw("[1,2]")[0] == 400
        st, _, body = raw("{}")
        assert st == 400 and "type" in body, body
        assert raw('{"type": 7}')[0] == 400
        st, _, body = raw('{"type": "NO_SUCH_CALL"}')
        assert st == 501 and "NO_SUCH_CALL" in body, body
        st, _, body = raw('{"type": "LAUNCH_CONTAINER"}')
        assert st == 501 and "not implemented" in body, body

        assert "list_files.path" in aop(a, "LIST_FILES", expect=400)
        assert "read_file.path" in aop(a, "READ_FILE", {"offset": 0}, expect=400)
        p = "/frameworks/f/executors/e/runs/latest/stdout"
        bad = [({"path": p, "offset": -1}, "read_file.offset"),
               ({"path": p, "offset": 0, "length": -5}, "read_file.length"),
               ({"path": p, "offset": "12x"}, "read_file.offset"),
               ({"path": p, "offset": "99999999999999999999999"}, "read_file.offset"),
               ({"path": p, "offset": 0, "length": 1.5}, "read_file.length"),
               ({"path": p, "offset": 0, "length": "huge"}, "read_file.length"),
               ({"path": p}, "read_file.offset"),
               ({"path": 5, "offset": 0}, "read_file.path")]
        for payload, word in bad:
            text = aop(a, "READ_FILE", payload, expect=400)
            assert word in text, (payload, text)

        for q in ({"offset": "-2"}, {"offset": "x"}, {"length": "-1"},
                  {"length": "99999999999999999999999"}, {"offset": ""}):
            st, _, body = get(a, "/files/read", path=p, **q)
            assert st == 400 and "Failed to parse" in body, (q, st, body)
        st, h, _ = http_request(a.port, "POST", "/files/read?path=/x", "", {})
        assert st == 405 and h.get("allow") == "GET"
        assert get(a, "/files/nothing")[0] == 404


def test_prometheus_metrics():
    with Cluster(agents=1) as c:
        a = c.agents[0]
        st, hdr, body = http_request(a.port, "GET", "/metrics")
        assert st == 200 and hdr["content-type"].startswith("text/plain"), (st, hdr)
        values = {}
        for line in body.splitlines():
            if not line.startswith("#"):
                name, value = line.split(" ")
                values[name] = float(value)
        snap = json.loads(http_request(a.port, "GET", "/metrics/snapshot")[2])
        assert len(values) == len(snap) > 5
        assert values["atoll_slave_cpus_total"] == snap["slave/cpus_total"] == 4
        assert values["atoll_slave_registered"] == 1


if __name__ == "__main__":
    run_tests([test_introspection, test_state_and_files, test_bad_input, test_prometheus_metrics])
