#!/usr/bin/env python3
"""Heartbeats, offer timeouts, and the master rebuilding its state when it
restarts: agents reregister with their tasks, frameworks resubscribe with
their ids and reconcile to the truth."""

import time

from atolltest import (Cluster, Daemon, RawScheduler, launch, run_tests,
                       task_info, wait_for)

FW = {"user": "root", "name": "recovery"}


def test_heartbeats():
    with Cluster(agents=0, master_args=["--heartbeat-interval", "100ms"]) as c:
        s = RawScheduler(c.master.port, dict(FW))
        _, ev = s.subscribe()
        assert ev["subscribed"]["heartbeat_interval_seconds"] == 0.1
        t0 = time.time()
        n = 0
        while n < 5:
            ev = s.next_event(timeout=2, skip=())
            assert ev is not None
            if ev["type"] == "HEARTBEAT":
                n += 1
        took = time.time() - t0
        assert 0.3 < took < 2.0, "5 heartbeats at 100 ms took %.2fs" % took
        s.close()


def test_offer_timeout_rescinds_hoarded_offers():
    with Cluster(agents=1, master_args=["--offer-timeout", "500ms", "--allocation-interval", "100ms"]) as c:
        s = RawScheduler(c.master.port, dict(FW))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        ev = s.expect("RESCIND", timeout=5)
        assert ev["rescind"]["offer_id"] == o["id"]
        # the resources are offered again, with a new id
        o2 = s.expect("OFFERS", timeout=5)["offers"]["offers"][0]
        assert o2["id"] != o["id"]
        # accepting the rescinded offer is refused per task
        launch(s, o, [task_info("late", o, "true")])
        u = s.expect("UPDATE")["update"]["status"]
        assert u["state"] == "TASK_LOST" and u["reason"] == "REASON_INVALID_OFFERS", u
        s.close()


def test_master_restart_rebuilds_from_agents():
    with Cluster(agents=1, agent_args=["--recover", "reconnect"]) as c:
        s = RawScheduler(c.master.port, dict(FW, failover_timeout=600, checkpoint=True))
        s.subscribe()
        fid = s.framework_id
        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("survivor", o, "sleep 60")])
        while True:
            u = s.expect("UPDATE")["update"]["status"]
            s.ack(u)
            if u["state"] == "TASK_RUNNING":
                break
        agent_id = o["agent_id"]["value"]
        port = c.master.port
        s.close()
        c.master.kill9()
        # a new master on the same address; it knows nothing
        c.master.args = [a for a in c.master.args if a != "0"]
        i = c.master.args.index("--port")
        c.master.args.insert(i + 1, str(port))
        c.master.start()
        assert c.master.port == port
        wait_for(lambda: c.state()["slaves"], 30, "agent reregistered")
        st = c.state()
        assert st["slaves"][0]["id"] == agent_id, "agent changed its id on reregistration"
        fws = st["frameworks"]
        assert len(fws) == 1 and fws[0]["id"] == fid and fws[0]["recovered"], fws
        assert [t["id"] for t in fws[0]["tasks"]] == ["survivor"]
        assert st["slaves"][0]["used_resources"]["cpus"] > 0
        # the framework fails over to the new master and reconciles
        s2 = RawScheduler(port, dict(FW, failover_timeout=600, checkpoint=True, id={"value": fid}))
        code, _ = s2.subscribe()
        assert code == 200 and s2.framework_id == fid
        s2.call("RECONCILE", {"tasks": [{"task_id": {"value": "survivor"}, "agent_id": {"value": agent_id}}]})
        u = s2.expect("UPDATE")["update"]["status"]
        assert u["task_id"]["value"] == "survivor" and u["state"] == "TASK_RUNNING", u
        # and can still kill it through the new master
        s2.call("KILL", {"task_id": {"value": "survivor"}, "agent_id": {"value": agent_id}})
        while True:
            u = s2.expect("UPDATE", timeout=15)["update"]["status"]
            s2.ack(u)
            if u["state"] == "TASK_KILLED":
                break
        s2.call("TEARDOWN")
        s2.close()


def test_kill_while_agent_away_is_sent_when_it_returns():
    with Cluster(agents=1) as c:
        s = RawScheduler(c.master.port, dict(FW, failover_timeout=600, checkpoint=True))
        s.subscribe()
        o = s.expect("OFFERS")["offers"]["offers"][0]
        launch(s, o, [task_info("away", o, "sleep 60")])
        while True:
            u = s.expect("UPDATE")["update"]["status"]
            s.ack(u)
            if u["state"] == "TASK_RUNNING":
                break
        agent = c.agents[0]
        agent.kill9()
        wait_for(lambda: not c.state()["slaves"][0]["active"], 10, "agent disconnected")
        st, _, body = s.call("KILL", {"task_id": {"value": "away"}, "agent_id": o["agent_id"]})
        assert st == 202, body
        agent.start()
        # the agent comes back with its executor; the kept kill reaches it
        while True:
            u = s.expect("UPDATE", timeout=20)["update"]["status"]
            s.ack(u)
            if u["state"] in ("TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"):
                break
        assert u["state"] == "TASK_KILLED", u
        s.call("TEARDOWN")
        s.close()


if __name__ == "__main__":
    run_tests([test_heartbeats, test_offer_timeout_rescinds_hoarded_offers,
               test_master_restart_rebuilds_from_agents,
               test_kill_while_agent_away_is_sent_when_it_returns])
