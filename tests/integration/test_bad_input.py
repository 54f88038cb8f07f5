#!/usr/bin/env python3
"""Every kind of bad input to the master gets the right status code and a
readable reason, and the master keeps serving everyone else."""

import json
import re
import socket
import time

from atolltest import (Cluster, RawScheduler, call, http_request, launch,
                       run_tests, task_info, wait_for)

FW = {"user": "root", "name": "bad-input"}


def expect_status(resp, code, needle):
    st, _, body = resp
    assert st == code, "expected %d, got %d: %s" % (code, st, body)
    assert needle.lower() in body.lower(), "body %r lacks %r" % (body, needle)


def test_protocol_errors():
    with Cluster(agents=0) as c:
        p = c.master.port
        expect_status(http_request(p, "GET", "/api/v1/scheduler"), 405, "POST")
        expect_status(call(p, {"type": "SUBSCRIBE"}, content_type=None), 400, "Content-Type")
        expect_status(call(p, {"type": "SUBSCRIBE"}, content_type="text/plain"), 415, "application/json")
        expect_status(call(p, {"type": "SUBSCRIBE"}, content_type="application/x-protobuf"), 415, "protobuf")
        expect_status(http_request(p, "POST", "/api/v1/scheduler", "{}",
                                   {"Content-Type": "application/json", "Accept": "text/html"}), 406, "Accept")
        expect_status(call(p, "{not json"), 400, "parse")
        expect_status(call(p, "[1,2]"), 400, "object")
        expect_status(call(p, {}), 400, "'type'")
        expect_status(call(p, {"type": "FROBNICATE"}), 501, "FROBNICATE")
        expect_status(call(p, {"type": "SUBSCRIBE"}), 400, "subscribe")
        expect_status(call(p, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}), 400, "user")
        expect_status(call(p, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "x"}}}), 400, "name")
        expect_status(call(p, {"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(FW, role="bad role")}}),
                      400, "role")
        expect_status(call(p, {"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(FW)}}, stream_id="abc"),
                      400, "Mesos-Stream-Id")
        expect_status(call(p, {"type": "REVIVE"}), 400, "framework_id")
        expect_status(call(p, {"type": "REVIVE", "framework_id": {"value": "nope"}}), 400, "cannot be found")
        expect_status(http_request(p, "GET", "/no/such/endpoint"), 404, "No endpoint")

        s = RawScheduler(p, dict(FW))
        s.subscribe()
        expect_status(call(p, {"type": "REVIVE", "framework_id": {"value": s.framework_id}}),
                      400, "Mesos-Stream-Id")
        expect_status(s.call("REVIVE", stream_id="wrong"), 400, "didn't match")
        expect_status(s.call("ACCEPT"), 400, "accept")
        expect_status(s.call("KILL", {}), 400, "task_id")
        expect_status(s.call("ACKNOWLEDGE", {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                                             "uuid": "!!notbase64"}), 400, "uuid")
        expect_status(s.call("REVIVE", {"roles": ["not-mine"]}), 400, "not subscribed")
        expect_status(s.call("UPDATE_FRAMEWORK", {}), 501, "UPDATE_FRAMEWORK")
        expect_status(s.call("REQUEST", {"requests": []}), 202, "")
        assert http_request(p, "GET", "/health")[0] == 200
        s.close()


def test_invalid_tasks_become_task_error():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW, capabilities=[{"type": "PARTITION_AWARE"}]))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        bad = [
            ("neg", task_info("neg", o, "true", cpus=-1), "must be"),
            ("huge", task_info("huge", o, "true", mem=1e300), "must be"),
            ("nan", dict(task_info("nan", o, "true"),
                         resources=[{"name": "cpus", "type": "SCALAR", "scalar": {"value": "NaN"}}]), "finite"),
            ("toomuch", task_info("toomuch", o, "true", cpus=64), "more resources"),
            ("noagent", dict(task_info("noagent", o, "true"), agent_id={"value": "other"}), "agent"),
            ("nocmd", {k: v for k, v in task_info("nocmd", o, "true").items() if k != "command"}, "command"),
            ("dup", task_info("dup", o, "sleep 5"), None),
            ("dup", task_info("dup", o, "true"), "duplicate"),
        ]
        st, _, body = launch(s, o, [b[1] for b in bad])
        assert st == 202, body
        errors = {}
        running = set()
        deadline = time.time() + 15
        while (len(errors) < len(bad) - 1 or "dup" not in running) and time.time() < deadline:
            u = s.expect("UPDATE")["update"]["status"]
            s.ack(u)
            if u["state"] == "TASK_ERROR":
                errors[u["task_id"]["value"]] = u
            else:
                running.add(u["task_id"]["value"])
        for tid, _, needle in bad:
            if needle is None:
                continue
            u = errors.get(tid)
            assert u, "no TASK_ERROR for %s (got %s)" % (tid, sorted(errors))
            assert u["reason"] == "REASON_TASK_INVALID", u
            assert u["source"] == "SOURCE_MASTER", u
            assert needle.lower() in u["message"].lower(), (tid, u["message"])
        assert "dup" in running
        # ACCEPT on an offer that no longer exists: TASK_DROPPED (partition aware)
        st, _, body = launch(s, o, [task_info("late", o, "true")])
        assert st == 202
        u = s.expect("UPDATE", pred=lambda e: e["update"]["status"]["task_id"]["value"] == "late")
        u = u["update"]["status"]
        assert u["state"] == "TASK_DROPPED" and u["reason"] == "REASON_INVALID_OFFERS", u
        assert "no longer valid" in u["message"]
        s.close()


def test_body_limit_and_idle_connections():
    with Cluster(agents=0, master_args=["--max-body-bytes", "1MB", "--http-idle-timeout", "2secs"]) as c:
        p = c.master.port
        # 100 MB body: refused with 413 without buffering it all
        sock = socket.create_connection(("127.0.0.1", p))
        sock.sendall(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 104857600\r\n\r\n")
        sent = 0
        try:
            chunk = b"x" * 65536
            while sent < 104857600:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            reply = sock.recv(4096).decode(errors="replace")
        except (ConnectionResetError, socket.timeout):
            reply = ""
        sock.close()
        assert sent < 104857600 or "413" in reply, "100 MB body accepted"
        if reply:
            assert "413" in reply, reply
        # 1,000 connections that send nothing
        idle = []
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", p)))
        t0 = time.time()
        st, _, _ = http_request(p, "GET", "/health")
        assert st == 200
        assert time.time() - t0 < 2, "health check slowed by idle connections"
        s = RawScheduler(p, dict(FW))
        assert s.subscribe()[0] == 200
        # idle connections are closed by the master after the idle timeout
        time.sleep(3)
        closed = 0
        for x in idle:
            x.settimeout(0.5)
            try:
                if x.recv(1) == b"":
                    closed += 1
            except (socket.timeout, ConnectionResetError):
                pass
            x.close()
        assert closed >= 990, "only %d of 1000 idle connections closed" % closed
        s.close()


def test_slow_stream_consumer_is_disconnected():
    with Cluster(agents=0, master_args=["--max-stream-queue-bytes", "64KB"]) as c:
        p = c.master.port
        sock = socket.create_connection(("127.0.0.1", p))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(FW, failover_timeout=60)}})
        sock.sendall(("POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
        head = b""
        while b"SUBSCRIBED" not in head or b"}}" not in head:
            head += sock.recv(1024)
        sid = re.search(rb"Mesos-Stream-Id: ([0-9a-f-]+)", head, re.I).group(1).decode()
        fid = re.search(rb'"framework_id":\{"value":"([^"]+)"', head).group(1).decode()
        # never read again; make the master produce ~30 MB of UPDATE events
        ghosts = [{"task_id": {"value": "ghost-%05d" % i}} for i in range(2000)]
        for _ in range(60):
            st, _, _ = call(p, {"type": "RECONCILE", "framework_id": {"value": fid},
                                "reconcile": {"tasks": ghosts}}, stream_id=sid)
            if st != 202:
                break
        wait_for(lambda: not c.state()["frameworks"][0]["connected"], 30, "slow subscriber disconnected")
        st, _, body = c.get("/metrics/snapshot")
        assert json.loads(body)["master/slow_subscribers_disconnected"] >= 1
        # the master's memory did not grow with the backlog
        rss_kb = int([l for l in open("/proc/%d/status" % c.master.proc.pid) if l.startswith("VmRSS")][0].split()[1])
        assert rss_kb < 200 * 1024, "master RSS %d KiB after a slow subscriber" % rss_kb
        sock.close()
        assert c.get("/health")[0] == 200


if __name__ == "__main__":
    run_tests([test_protocol_errors, test_invalid_tasks_become_task_error,
               test_body_limit_and_idle_connections, test_slow_stream_consumer_is_disconnected])
