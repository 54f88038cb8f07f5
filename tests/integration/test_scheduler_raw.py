#!/usr/bin/env python3
"""A framework that speaks raw Mesos v1 HTTP (no Atoll code) goes through
SUBSCRIBE -> OFFERS -> ACCEPT(LAUNCH) -> UPDATE(RUNNING) -> ACKNOWLEDGE ->
UPDATE(FINISHED) -> RECONCILE -> TEARDOWN against a real master and agents,
plus kill, decline filters, revive/suppress, multi-role offers and framework
failover."""

import glob
import json
import os
import time

from atolltest import (Cluster, RawScheduler, launch, run_tests, scalar,
                       task_info, wait_for)

FW = {"user": "root", "name": "raw-http"}


def updates_until(sched, task_id, final, acks=True, timeout=20):
    """Collects UPDATE states for task_id until state final; acks each."""
    states = []
    while True:
        ev = sched.expect("UPDATE", timeout,
                          pred=lambda e: e["update"]["status"]["task_id"]["value"] == task_id)
        st = ev["update"]["status"]
        states.append(st["state"])
        if acks:
            sched.ack(st)
        if st["state"] == final:
            return states, st


def test_full_lifecycle():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        code, ev = s.subscribe()
        assert code == 200, ev
        assert s.stream_id, "Mesos-Stream-Id header missing"
        assert ev["subscribed"]["heartbeat_interval_seconds"] == 15
        offers = s.expect("OFFERS")["offers"]["offers"]
        assert len(offers) == 1
        o = offers[0]
        assert o["framework_id"]["value"] == s.framework_id
        assert o["hostname"] == "agent0"
        assert scalar(o["resources"], "cpus") == 4
        assert scalar(o["resources"], "mem") == 4096
        ports = [r for r in o["resources"] if r["name"] == "ports"][0]
        assert ports["ranges"]["range"] == [{"begin": 31000, "end": 32000}]
        assert all(r["allocation_info"]["role"] == "*" for r in o["resources"])
        assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in o["attributes"]

        st, _, body = launch(s, o, [task_info("t1", o, "echo hello-from-t1")])
        assert st == 202, (st, body)
        states, final = updates_until(s, "t1", "TASK_FINISHED")
        assert "TASK_RUNNING" in states, states
        assert final["source"] == "SOURCE_EXECUTOR"
        assert final["agent_id"] == o["agent_id"]
        assert "uuid" in final and "timestamp" in final

        # the task really ran: its sandbox stdout has the output
        outs = glob.glob(os.path.join(c.dir, "agent0", "work", "**", "t1", "runs", "*", "stdout"), recursive=True)
        assert outs, "no sandbox stdout for t1"
        assert "hello-from-t1" in open(outs[0]).read()

        # explicit reconciliation of a finished and an unknown task
        st, _, body = s.call("RECONCILE", {"tasks": [{"task_id": {"value": "t1"}},
                                                    {"task_id": {"value": "nope"}}]})
        assert st == 202, body
        seen = {}
        while len(seen) < 2:
            u = s.expect("UPDATE")["update"]["status"]
            seen[u["task_id"]["value"]] = u
        assert seen["nope"]["state"] == "TASK_LOST"
        assert seen["nope"]["reason"] == "REASON_RECONCILIATION"
        assert "uuid" not in seen["nope"]
        assert seen["t1"]["state"] == "TASK_FINISHED"

        # the resources came back: a new offer has all 4 cpus again
        wait_for(lambda: c.state()["slaves"][0]["used_resources"]["cpus"] == 0, 5, "resources freed")

        st, _, body = s.call("TEARDOWN")
        assert st == 202, body
        wait_for(lambda: c.state()["completed_frameworks"], 5, "framework completed")
        state = c.state()
        assert state["frameworks"] == []
        assert state["completed_frameworks"][0]["id"] == s.framework_id
        s.close()


def test_kill_and_implicit_reconcile():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("sleeper", o, "sleep 60")])
        updates_until(s, "sleeper", "TASK_RUNNING")
        st, _, body = s.call("RECONCILE", {"tasks": []})
        assert st == 202, body
        u = s.expect("UPDATE")["update"]["status"]
        assert u["task_id"]["value"] == "sleeper" and u["state"] == "TASK_RUNNING"
        assert u["reason"] == "REASON_RECONCILIATION"
        st, _, body = s.call("KILL", {"task_id": {"value": "sleeper"}, "agent_id": o["agent_id"]})
        assert st == 202, body
        states, final = updates_until(s, "sleeper", "TASK_KILLED")
        assert final["state"] == "TASK_KILLED"
        # killing an unknown task answers TASK_LOST
        s.call("KILL", {"task_id": {"value": "ghost"}})
        u = s.expect("UPDATE")["update"]["status"]
        assert u["task_id"]["value"] == "ghost" and u["state"] == "TASK_LOST"
        s.close()


def test_decline_filter_and_revive():
    with Cluster(agents=1, master_args=["--allocation-interval", "100ms"]) as c:
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        st, _, _ = s.call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 3600}})
        assert st == 202
        # filtered: no offer for a while even with 100 ms allocation passes
        try:
            s.expect("OFFERS", timeout=1.0)
            raise AssertionError("offer re-sent despite a 1 h refuse filter")
        except AssertionError as e:
            if "re-sent" in str(e):
                raise
        st, _, _ = s.call("REVIVE")
        assert st == 202
        o2 = s.expect("OFFERS", timeout=5)["offers"]["offers"][0]
        assert o2["id"]["value"] != o["id"]["value"]
        # suppress stops offers even after the filter is gone
        st, _, _ = s.call("SUPPRESS")
        assert st == 202
        s.call("DECLINE", {"offer_ids": [o2["id"]], "filters": {"refuse_seconds": 0}})
        try:
            s.expect("OFFERS", timeout=1.0)
            raise AssertionError("offer sent while suppressed")
        except AssertionError as e:
            if "suppressed" in str(e):
                raise
        s.call("REVIVE")
        s.expect("OFFERS", timeout=5)
        s.close()


def test_multi_role_offers():
    with Cluster(agents=2) as c:
        info = {"user": "root", "name": "mr", "roles": ["dev", "ops"],
                "capabilities": [{"type": "MULTI_ROLE"}]}
        s = RawScheduler(c.master.port, info)
        s.subscribe()
        offers = []
        while len(offers) < 2:
            offers += s.expect("OFFERS")["offers"]["offers"]
        for o in offers:
            role = o["allocation_info"]["role"]
            assert role in ("dev", "ops")
            assert all(r["allocation_info"]["role"] == role for r in o["resources"])
        o = offers[0]
        launch(s, o, [task_info("mr1", o, "true")])
        updates_until(s, "mr1", "TASK_FINISHED")
        st = c.state()
        fw = st["frameworks"][0]
        assert fw["roles"] == ["dev", "ops"]
        s.close()


def test_failover_within_timeout_keeps_tasks():
    with Cluster(agents=1) as c:
        info = dict(FW, failover_timeout=30)
        s = RawScheduler(c.master.port, info)
        s.subscribe()
        fid = s.framework_id
        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("long", o, "sleep 60")])
        updates_until(s, "long", "TASK_RUNNING")
        s.close()
        wait_for(lambda: not c.state()["frameworks"][0]["connected"], 5, "framework disconnected")
        # calls from the disconnected framework are refused with 403
        st, _, body = s.call("REVIVE")
        assert st == 403, (st, body)
        s2 = RawScheduler(c.master.port, dict(FW, failover_timeout=30, id={"value": fid}))
        code, ev = s2.subscribe()
        assert code == 200 and s2.framework_id == fid
        st, _, body = s2.call("RECONCILE", {"tasks": [{"task_id": {"value": "long"}}]})
        u = s2.expect("UPDATE")["update"]["status"]
        assert u["state"] == "TASK_RUNNING", u
        # the old stream id is no longer valid
        st, _, body = s2.call("REVIVE", stream_id=s.stream_id)
        assert st == 400 and "stream ID" in body, (st, body)
        s2.call("TEARDOWN")
        s2.close()


def test_resubscribe_changes_roles():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW, role="alpha", failover_timeout=30))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        assert o["allocation_info"]["role"] == "alpha"
        fid = s.framework_id
        s.close()
        s2 = RawScheduler(c.master.port, dict(FW, roles=["beta"], failover_timeout=30, id={"value": fid},
                                              capabilities=[{"type": "MULTI_ROLE"}], user="mallory"))
        s2.subscribe()
        o2 = s2.expect("OFFERS")["offers"]["offers"][0]
        assert o2["allocation_info"]["role"] == "beta", o2["allocation_info"]
        fw = c.state()["frameworks"][0]
        assert fw["roles"] == ["beta"] and fw["user"] == "root", fw  # user cannot change
        s2.close()


def test_failover_timeout_expiry_tears_down():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW, failover_timeout=1))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("doomed", o, "sleep 60")])
        updates_until(s, "doomed", "TASK_RUNNING")
        s.close()
        wait_for(lambda: c.state()["completed_frameworks"], 10, "framework torn down after failover_timeout")
        st = c.state()
        done = st["completed_frameworks"][0]
        assert done["id"] == s.framework_id
        assert [t["state"] for t in done["completed_tasks"]] == ["TASK_KILLED"]
        # the agent really killed the process and freed the resources
        wait_for(lambda: c.state()["slaves"][0]["used_resources"]["cpus"] == 0, 10, "resources freed")
        # resubscribing a removed framework is refused
        s2 = RawScheduler(c.master.port, dict(FW, id={"value": s.framework_id}))
        try:
            s2.subscribe(timeout=5)
            raise AssertionError("a removed framework resubscribed")
        except AssertionError as e:
            assert "stream closed" in str(e), e
        s2.close()


if __name__ == "__main__":
    run_tests([test_full_lifecycle, test_kill_and_implicit_reconcile, test_decline_filter_and_revive,
               test_multi_role_offers, test_failover_within_timeout_keeps_tasks, test_resubscribe_changes_roles,
               test_failover_timeout_expiry_tears_down])
