#!/usr/bin/env python3
"""A framework's own executor (TaskInfo.executor), written here in Python
against the Mesos v1 executor API with no Atoll code, runs tasks on an
Atoll agent; and status updates are retried by the agent until the
framework acknowledges them, in order per task."""

import os
import sys
import textwrap

from atolltest import Cluster, RawScheduler, run_tests

FW = {"user": "root", "name": "custom-executor"}

# A minimal v1 executor: subscribe, answer LAUNCH with RUNNING then
# FINISHED (fresh uuids), wait for both acknowledgements, exit.
EXECUTOR = textwrap.dedent(r'''
    import base64, http.client, json, os, time, uuid
    host, port = os.environ["MESOS_AGENT_ENDPOINT"].split(":")
    fid = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
    eid = {"value": os.environ["MESOS_EXECUTOR_ID"]}
    def post(body, sid=None):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        h = {"Content-Type": "application/json"}
        c.request("POST", "/api/v1/executor", json.dumps(body), h)
        r = c.getresponse(); r.read(); c.close()
        assert r.status == 202, r.status
    def update(task_id, state, msg):
        st = {"task_id": task_id, "state": state, "source": "SOURCE_EXECUTOR",
              "message": msg, "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
              "executor_id": eid, "timestamp": time.time()}
        post({"type": "UPDATE", "framework_id": fid, "executor_id": eid, "update": {"status": st}})
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("POST", "/api/v1/executor", json.dumps(
        {"type": "SUBSCRIBE", "framework_id": fid, "executor_id": eid, "subscribe": {}}),
        {"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, r.status
    acked = 0
    launched = 0
    while True:
        line = b""
        while not line.endswith(b"\n"):
            ch = r.read(1)
            if not ch:
                raise SystemExit(1)
            line += ch
        ev = json.loads(r.read(int(line)))
        t = ev["type"]
        if t == "LAUNCH":
            task = ev["launch"]["task"]
            launched += 1
            update(task["task_id"], "TASK_RUNNING", "custom executor running " + task["name"])
            open("custom-" + task["task_id"]["value"], "w").write(task.get("data", ""))
            update(task["task_id"], "TASK_FINISHED", "custom executor done")
        elif t == "ACKNOWLEDGED":
            acked += 1
            if acked == 2 * launched:
                raise SystemExit(0)
        elif t == "SHUTDOWN":
            raise SystemExit(0)
''')


def test_custom_executor():
    with Cluster(agents=1) as c:
        path = os.path.join(c.dir, "executor.py")
        with open(path, "w") as f:
            f.write(EXECUTOR)
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        role = o["allocation_info"]["role"]
        res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}, "role": "*",
                "allocation_info": {"role": role}},
               {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}, "role": "*",
                "allocation_info": {"role": role}}]
        task = {"name": "ct", "task_id": {"value": "ct1"}, "agent_id": o["agent_id"],
                "resources": res, "data": "aGVsbG8=",
                "executor": {"executor_id": {"value": "pyexec"}, "framework_id": {"value": s.framework_id},
                             "command": {"shell": True, "value": "%s %s" % (sys.executable, path)}}}
        st, _, body = s.call("ACCEPT", {"offer_ids": [o["id"]],
                                        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
        assert st == 202, body
        states = []
        while "TASK_FINISHED" not in states:
            u = s.expect("UPDATE", timeout=20)["update"]["status"]
            assert u["task_id"]["value"] == "ct1"
            assert u.get("executor_id", {}).get("value") == "pyexec", u
            states.append(u["state"])
            s.ack(u)
        assert states == ["TASK_RUNNING", "TASK_FINISHED"], states
        s.close()


def test_updates_retried_until_acknowledged():
    with Cluster(agents=1, agent_args=["--status-update-retry-interval", "200ms"]) as c:
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        from atolltest import launch, task_info
        launch(s, o, [task_info("r1", o, "true")])
        # do not acknowledge: the same first update (same uuid) comes again
        first = s.expect("UPDATE", timeout=10)["update"]["status"]
        again = s.expect("UPDATE", timeout=10)["update"]["status"]
        assert again["uuid"] == first["uuid"] and again["state"] == first["state"], (first, again)
        # in order: after the ack the next state follows, each exactly once acked
        seen = [first["state"]]
        s.ack(first)
        last_uuid = first["uuid"]
        while seen[-1] != "TASK_FINISHED":
            u = s.expect("UPDATE", timeout=10)["update"]["status"]
            if u["uuid"] == last_uuid:
                continue  # a retry raced with our ack
            seen.append(u["state"])
            last_uuid = u["uuid"]
            s.ack(u)
        order = ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        assert [x for x in seen if x in order] == [x for x in order if x in seen], seen
        assert seen[-1] == "TASK_FINISHED"
        s.close()


if __name__ == "__main__":
    run_tests([test_custom_executor, test_updates_retried_until_acknowledged])
