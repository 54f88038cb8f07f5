#!/usr/bin/env python3
"""Dynamic reservations and persistent volumes, end to end with a raw
Mesos v1 scheduler and the operator API: RESERVE, CREATE, LAUNCH on the
volume, DESTROY, UNRESERVE through ACCEPT (with UPDATE_OPERATION_STATUS
for operations that carry an id), reserved resources offered only to their
role, volume directories on the agent, the agent's checkpoint, refused
operations with their reasons, the operator's RESERVE_RESOURCES ...
DESTROY_VOLUMES with 202/400/409, and reservations and volumes surviving
an agent restart and a master restart."""

import json
import os
import time

from atolltest import (Cluster, RawScheduler, call, run_tests, scalar,
                       wait_for)

FW = {"user": "root", "name": "resv", "role": "eng", "principal": "p1"}
RESV = [{"type": "DYNAMIC", "role": "eng", "principal": "p1"}]


def res(name, value, role="eng", resv=RESV, alloc="eng", disk=None):
    r = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if resv is not None:
        r["reservations"] = resv
    if alloc:
        r["allocation_info"] = {"role": alloc}
    if disk:
        r["disk"] = disk
    return r


def volume(size, vid="vol1", path="data", alloc="eng"):
    return res("disk", size, alloc=alloc,
               disk={"persistence": {"id": vid, "principal": "p1"},
                     "volume": {"container_path": path, "mode": "RW"}})


def op(kind, resources, oid=None):
    key = kind.lower()
    field = "volumes" if kind in ("CREATE", "DESTROY") else "resources"
    o = {"type": kind, key: {field: resources}}
    if oid:
        o["id"] = {"value": oid}
    return o


def accept(s, offer, ops, refuse=0.0):
    st, _, body = s.call("ACCEPT", {"offer_ids": [offer["id"]], "operations": ops,
                                    "filters": {"refuse_seconds": refuse}})
    assert st == 202, (st, body)


def op_status(s, oid):
    ev = s.expect("UPDATE_OPERATION_STATUS", others=skipped(s),
                  pred=lambda e: e["update_operation_status"]["status"]["operation_id"]["value"] == oid)
    return ev["update_operation_status"]["status"]


def skipped(s):
    """Events expect() passed over on s (offers met while waiting)."""
    if not hasattr(s, "skipped"):
        s.skipped = []
    return s.skipped


def until_state(s, state):
    """Acknowledges the task's updates until one in state."""
    while True:
        u = s.expect("UPDATE", 15, others=skipped(s))["update"]["status"]
        s.ack(u)
        if u["state"] == state:
            return u


def reserved(resources, role="eng"):
    return [r for r in resources if r.get("reservations") and r["reservations"][-1]["role"] == role]


def volumes(resources):
    return [r for r in resources if "disk" in r]


def next_offer(s, pred=lambda o: True, timeout=10):
    """The first offer matching pred (skipped events first); the others
    met on the way are declined, so that their resources come back."""
    deadline = time.time() + timeout
    while True:
        evs = [e for e in skipped(s) if e.get("type") == "OFFERS"]
        skipped(s)[:] = [e for e in skipped(s) if e.get("type") != "OFFERS"]
        if not evs:
            evs = [s.expect("OFFERS", max(0.01, deadline - time.time()))]
        found = None
        for ev in evs:
            for o in ev["offers"]["offers"]:
                if found is None and pred(o):
                    found = o
                else:
                    s.call("DECLINE", {"offer_ids": [o["id"]],
                                       "filters": {"refuse_seconds": 0.5}})
        if found:
            return found
        assert time.time() < deadline, "no offer matching within %ss" % timeout


def operator(c, body):
    return call(c.master.port, body, path="/api/v1")


def agents(c):
    st, _, body = operator(c, {"type": "GET_AGENTS"})
    assert st == 200, body
    return json.loads(body)["get_agents"]["agents"]


def volume_dir(c, role="eng", vid="vol1"):
    return os.path.join(c.dir, "agent0", "work", "volumes", "roles", role, vid)


def ckpt(c):
    p = os.path.join(c.dir, "agent0", "work", "meta", "resources", "resources.info")
    with open(p) as f:
        return json.load(f)


def test_accept_reserve_create_launch_destroy_unreserve():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        assert s.subscribe()[0] == 200
        o = s.expect("OFFERS")["offers"]["offers"][0]
        aid = o["agent_id"]
        # reserve, create a volume on part of the reserved disk and launch
        # a task on it, all in one ACCEPT
        task = {"name": "w", "task_id": {"value": "w"}, "agent_id": aid,
                "command": {"shell": True, "value": "sleep 30"},
                "resources": [res("cpus", 0.5), res("mem", 32), volume(50)]}
        accept(s, o, [op("RESERVE", [res("cpus", 1), res("mem", 128), res("disk", 100)], "r1"),
                      op("CREATE", [volume(50)], "c1"),
                      {"type": "LAUNCH", "launch": {"task_infos": [task]}}])
        assert op_status(s, "r1")["state"] == "OPERATION_FINISHED"
        assert op_status(s, "c1")["state"] == "OPERATION_FINISHED"
        until_state(s, "TASK_RUNNING")
        assert os.path.isdir(volume_dir(c)), "no volume directory on the agent"
        saved = ckpt(c)
        assert [r["disk"]["persistence"]["id"] for r in volumes(saved)] == ["vol1"], saved
        assert reserved(saved), saved

        # the agent's total shows the reservation and the volume
        tot = agents(c)[0]["total_resources"]
        assert scalar(reserved(tot), "cpus") == 1, tot
        assert [v["disk"]["persistence"]["id"] for v in volumes(tot)] == ["vol1"], tot
        assert scalar(tot, "cpus") == 4 and scalar(tot, "disk") == 4096, tot

        # a framework of another role never sees the reserved resources
        o = next_offer(s)
        other = RawScheduler(c.master.port, {"user": "root", "name": "other", "role": "ops"})
        assert other.subscribe()[0] == 200
        st, _, _ = s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 2}})
        assert st == 202
        oo = other.expect("OFFERS")["offers"]["offers"][0]
        assert not [r for r in oo["resources"] if r.get("reservations")], oo["resources"]
        assert scalar(oo["resources"], "cpus") == 3, oo["resources"]
        other.call("DECLINE", {"offer_ids": [oo["id"]], "filters": {"refuse_seconds": 100}})
        other.close()

        # DESTROY of the volume the task uses is refused with the reason:
        # it is in no offer, and the operator hears 409
        o = next_offer(s, lambda o: reserved(o["resources"]))
        accept(s, o, [op("DESTROY", [volume(50)], "d0")])
        st = op_status(s, "d0")
        assert st["state"] == "OPERATION_ERROR", st
        assert "not in the offers" in st["message"], st
        st, _, body = operator(c, {"type": "DESTROY_VOLUMES", "destroy_volumes": {
            "agent_id": aid, "volumes": [volume(50, alloc=None)]}})
        assert st == 409 and "in use by task 'w'" in body, (st, body)
        st, _, body = s.call("KILL", {"task_id": {"value": "w"}, "agent_id": aid})
        assert st == 202
        until_state(s, "TASK_KILLED")

        # once the task ended the volume is offered again to its role
        o = next_offer(s, lambda o: volumes(o["resources"]))
        v = volumes(o["resources"])[0]
        assert v["disk"] == {"persistence": {"id": "vol1", "principal": "p1"},
                             "volume": {"container_path": "data", "mode": "RW"}}, v
        assert v["reservations"] == RESV and v["allocation_info"] == {"role": "eng"}, v
        assert v["scalar"]["value"] == 50
        accept(s, o, [op("DESTROY", [volume(50)], "d1")])
        assert op_status(s, "d1")["state"] == "OPERATION_FINISHED"
        wait_for(lambda: not os.path.exists(volume_dir(c)), 5, "volume directory removed")
        o = next_offer(s, lambda o: scalar(reserved(o["resources"]), "disk") == 100 and
                       scalar(reserved(o["resources"]), "cpus") == 1)
        assert not volumes(o["resources"]), o["resources"]

        accept(s, o, [op("UNRESERVE", [res("cpus", 1), res("mem", 128), res("disk", 100)], "u1")])
        assert op_status(s, "u1")["state"] == "OPERATION_FINISHED"
        o = next_offer(s, lambda o: scalar(o["resources"], "cpus") == 4)
        assert all(r["role"] == "*" and "reservations" not in r for r in o["resources"]), o
        tot = agents(c)[0]["total_resources"]
        assert not reserved(tot) and not volumes(tot), tot
        wait_for(lambda: ckpt(c) == [], 5, "checkpoint emptied")
        s.close()


def test_volume_data_outlives_its_task():
    """Issue 4: data written to a persistent volume by one task is read by
    the next task on that volume after the first was killed; the volume is
    bind-mounted at its container_path in each sandbox and unmounted when
    the executor ends."""
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        assert s.subscribe()[0] == 200
        o = s.expect("OFFERS")["offers"]["offers"][0]
        aid = o["agent_id"]
        writer = {"name": "w", "task_id": {"value": "writer"}, "agent_id": aid,
                  "command": {"shell": True, "value": "echo kept > data/file && sleep 60"},
                  "resources": [res("cpus", 0.5), res("mem", 32), volume(50)]}
        accept(s, o, [op("RESERVE", [res("cpus", 1), res("mem", 128), res("disk", 100)], "r1"),
                      op("CREATE", [volume(50)], "c1"),
                      {"type": "LAUNCH", "launch": {"task_infos": [writer]}}])
        until_state(s, "TASK_RUNNING")
        wait_for(lambda: os.path.exists(os.path.join(volume_dir(c), "file")), 10, "the file on the volume")
        st, _, body = s.call("KILL", {"task_id": {"value": "writer"}, "agent_id": aid})
        assert st == 202, body
        until_state(s, "TASK_KILLED")

        def mounted():
            with open("/proc/self/mountinfo") as f:
                return [l for l in f if c.dir in l]
        wait_for(lambda: not mounted(), 10, "the volume unmounted")
        o = next_offer(s, lambda o: volumes(o["resources"]))
        reader = {"name": "r", "task_id": {"value": "reader"}, "agent_id": aid,
                  "command": {"shell": True, "value": "test \"$(cat data/file)\" = kept"},
                  "resources": [res("cpus", 0.5), res("mem", 32), volume(50)]}
        accept(s, o, [{"type": "LAUNCH", "launch": {"task_infos": [reader]}}])
        st = until_state(s, "TASK_FINISHED")
        assert st["task_id"]["value"] == "reader", st
        wait_for(lambda: not mounted(), 10, "the volume unmounted")
        s.close()


def test_bad_operations_are_refused_with_reasons():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        accept(s, o, [
            op("RESERVE", [res("cpus", 1, resv=[{"type": "DYNAMIC", "role": "ops", "principal": "p1"}])], "b1"),
            op("RESERVE", [res("cpus", 1, resv=[{"type": "DYNAMIC", "role": "eng", "principal": "zz"}])], "b2"),
            op("RESERVE", [res("cpus", 100)], "b3"),
            op("CREATE", [res("disk", 10, resv=None, disk=volume(10)["disk"])], "b4"),
            op("CREATE", [volume(10)], "b5"),  # disk not reserved yet
            op("RESERVE", [res("disk", 20)], "ok1"),
            op("CREATE", [volume(10, path="/abs")], "b6"),
            op("CREATE", [volume(10), volume(10)], "b7"),
            op("CREATE", [volume(10)], "ok2"),
            op("CREATE", [volume(5)], "b8"),  # same id again
            op("UNRESERVE", [volume(10)], "b9"),
            op("RESERVE", "nope", "b10"),
        ])
        want = {"b1": "allocation role", "b2": "principal", "b3": "not in the offers",
                "b4": "reserved disk", "b5": "not in the offers", "b6": "relative",
                "b7": "appears twice", "b8": "exists on the agent", "b9": "DESTROY it first",
                "b10": "reserve.resources"}
        for oid in ["b1", "b2", "b3", "b4", "b5", "ok1", "b6", "b7", "ok2", "b8", "b9", "b10"]:
            st = op_status(s, oid)
            if oid.startswith("ok"):
                assert st["state"] == "OPERATION_FINISHED", st
            else:
                assert st["state"] == "OPERATION_ERROR", st
                assert want[oid] in st["message"], (oid, st["message"])
        tot = agents(c)[0]["total_resources"]
        assert scalar(reserved(tot), "disk") == 20 and len(volumes(tot)) == 1, tot
        s.close()


def test_operator_calls():
    with Cluster(agents=1) as c:
        aid = agents(c)[0]["agent_info"]["id"]

        def op_call(kind, key, field, resources, agent=aid):
            return operator(c, {"type": kind, key: {"agent_id": agent, field: resources}})

        r = [res("cpus", 2, alloc=None), res("disk", 100, alloc=None)]
        st, _, body = op_call("RESERVE_RESOURCES", "reserve_resources", "resources", r)
        assert st == 202, (st, body)
        tot = agents(c)[0]["total_resources"]
        assert scalar(reserved(tot), "cpus") == 2, tot
        # more than the agent has left unreserved
        st, _, body = op_call("RESERVE_RESOURCES", "reserve_resources", "resources",
                              [res("cpus", 3, alloc=None)])
        assert st == 409, (st, body)
        # bad input names the field
        bad = res("cpus", 1, alloc=None)
        bad["scalar"]["value"] = -1
        st, _, body = op_call("RESERVE_RESOURCES", "reserve_resources", "resources", [bad])
        assert st == 400 and "reserve_resources.resources[0].scalar.value" in body, (st, body)
        st, _, body = op_call("RESERVE_RESOURCES", "reserve_resources", "resources", r, {"value": "nope"})
        assert st == 400 and "agent_id" in body, (st, body)
        st, _, body = operator(c, {"type": "CREATE_VOLUMES", "create_volumes": {"agent_id": aid}})
        assert st == 400 and "create_volumes.volumes" in body, (st, body)

        v = volume(60, alloc=None)
        st, _, body = op_call("CREATE_VOLUMES", "create_volumes", "volumes", [v])
        assert st == 202, (st, body)
        wait_for(lambda: os.path.isdir(volume_dir(c)), 5, "volume directory")
        st, _, body = op_call("CREATE_VOLUMES", "create_volumes", "volumes", [v])
        assert st == 409 and "exists" in body, (st, body)
        st, _, body = op_call("UNRESERVE_RESOURCES", "unreserve_resources", "resources", [v])
        assert st == 400 and "DESTROY it first" in body, (st, body)
        st, _, body = op_call("DESTROY_VOLUMES", "destroy_volumes", "volumes", [v])
        assert st == 202, (st, body)
        wait_for(lambda: not os.path.exists(volume_dir(c)), 5, "volume directory removed")
        st, _, body = op_call("DESTROY_VOLUMES", "destroy_volumes", "volumes", [v])
        assert st == 409, (st, body)
        st, _, body = op_call("UNRESERVE_RESOURCES", "unreserve_resources", "resources", r)
        assert st == 202, (st, body)
        assert not reserved(agents(c)[0]["total_resources"])

        # a framework holding an offer does not block the operator: the
        # offer is rescinded and the reservation is made
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        s.expect("OFFERS")
        st, _, body = op_call("RESERVE_RESOURCES", "reserve_resources", "resources", r)
        assert st == 202, (st, body)
        s.expect("RESCIND")
        o = next_offer(s, lambda o: reserved(o["resources"]))
        assert scalar(reserved(o["resources"]), "cpus") == 2
        s.close()


def test_agent_and_master_restarts_keep_them():
    with Cluster(agents=1, agent_args=["--recover", "reconnect"]) as c:
        aid = agents(c)[0]["agent_info"]["id"]
        st, _, body = operator(c, {"type": "RESERVE_RESOURCES", "reserve_resources": {
            "agent_id": aid, "resources": [res("cpus", 1, alloc=None), res("disk", 100, alloc=None)]}})
        assert st == 202, body
        st, _, body = operator(c, {"type": "CREATE_VOLUMES", "create_volumes": {
            "agent_id": aid, "volumes": [volume(40, alloc=None)]}})
        assert st == 202, body
        wait_for(lambda: volumes(ckpt(c)), 5, "checkpoint written")

        def check_total():
            tot = agents(c)[0]["total_resources"]
            assert scalar(reserved(tot), "cpus") == 1, tot
            assert [v["disk"]["persistence"]["id"] for v in volumes(tot)] == ["vol1"], tot
            return True

        # the agent restarts: the master keeps its view and sends it back
        agent = c.agents[0]
        agent.kill9()
        agent.start()
        wait_for(lambda: agents(c)[0]["active"], 10, "agent back")
        check_total()
        assert os.path.isdir(volume_dir(c))
        assert volumes(ckpt(c))

        # the master restarts: it learns the reservations from the agent
        port = c.master.port
        c.master.kill9()
        c.master.args = [a for a in c.master.args if a != "0"]
        c.master.args.insert(c.master.args.index("--port") + 1, str(port))
        c.master.start()
        wait_for(lambda: agents(c), 30, "agent reregistered")
        check_total()
        # and offers them to the role again
        s = RawScheduler(port, dict(FW))
        s.subscribe()
        o = next_offer(s, lambda o: volumes(o["resources"]))
        assert volumes(o["resources"])[0]["disk"]["persistence"]["id"] == "vol1"
        s.close()


if __name__ == "__main__":
    run_tests([test_volume_data_outlives_its_task,
               test_accept_reserve_create_launch_destroy_unreserve,
               test_bad_operations_are_refused_with_reasons,
               test_operator_calls,
               test_agent_and_master_restarts_keep_them])
