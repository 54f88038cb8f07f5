"""Helpers for high-availability tests: several masters sharing one
ZooKeeper (zkserver.ZkServer), agents and schedulers following the leader.

HaCluster reuses atolltest's Daemon and Cluster (temporary directory,
port files, stopping by PID, logs on failure) with several masters
started with --zk; it finds the leader the way a client does, from the
masters' own answers (GET /master/redirect: the leader redirects to
itself, standbys to the leader), never from Atoll's ZooKeeper code.
"""

import http.client
import json
import os
import queue
import tempfile
import threading
import time
import urllib.parse

import atolltest
from atolltest import Daemon, RawScheduler, http_request, wait_for


def location_port(location):
    """The port of a Location such as "//127.0.0.1:5050/api/v1"."""
    u = urllib.parse.urlsplit(location if "//" in location else "//" + location)
    return u.port


class HaCluster(atolltest.Cluster):
    """n masters on one zk:// URL and agents with --master zk://...;
    use as a context. self.master is the leader last found."""

    def __init__(self, zk_url, masters=3, agents=1, quorum=2,
                 session_timeout="2secs", master_args=(), agent_args=(),
                 resources="cpus:4;mem:4096;disk:4096;ports:[31000-32000]"):
        self.dir = tempfile.mkdtemp(prefix="atoll-ha-")
        self.zk_url = zk_url
        self.daemons = []
        self.masters = []
        for i in range(masters):
            d = Daemon(self, "master%d" % i,
                       ["master", "--port", "0", "--log-level", "debug",
                        "--zk", zk_url, "--quorum", str(quorum),
                        "--zk-session-timeout", session_timeout,
                        "--work-dir", os.path.join(self.dir, "master%d" % i, "work")]
                       + list(master_args))
            self.masters.append(d)
            self.daemons.append(d)
        self.agents = []
        for i in range(agents):
            self.agents.append(self.add_agent(i, agent_args, resources))
        self.master = None
        self.ok = False

    def add_agent(self, i, agent_args=(), resources="cpus:4;mem:4096;disk:4096;ports:[31000-32000]"):
        d = Daemon(self, "agent%d" % i,
                   ["agent", "--port", "0", "--master", self.zk_url,
                    "--work-dir", os.path.join(self.dir, "agent%d" % i, "work"),
                    "--resources", resources, "--hostname", "agent%d" % i,
                    "--log-level", "debug", "--allow-root-tasks"] + list(agent_args))
        self.daemons.append(d)
        return d

    def __enter__(self):
        try:
            for m in self.masters:
                m.start()
            self.master = self.wait_leader()
            for a in self.agents:
                a.start()
            wait_for(lambda: len(self.state()["slaves"]) == len(self.agents), 15, "agents registered")
        except BaseException:
            self.dump()
            self.close()
            raise
        return self

    def alive(self):
        return [m for m in self.masters if m.proc and m.proc.poll() is None]

    def redirect(self, m):
        """(status, Location) of GET /master/redirect on master m."""
        st, hdrs, _ = http_request(m.port, "GET", "/master/redirect", timeout=3)
        return st, hdrs.get("location")

    def leader(self):
        """The master that redirects to itself, or None."""
        for m in self.alive():
            try:
                st, loc = self.redirect(m)
            except OSError:
                continue
            if st == 307 and loc == "//" + m.address:
                return m
        return None

    def wait_leader(self, timeout=15, exclude=None):
        def found():
            m = self.leader()
            return m if m is not None and m is not exclude else None
        self.master = wait_for(found, timeout, "a leading master")
        return self.master

    def standbys(self):
        return [m for m in self.alive() if m is not self.master]


class LeaderScheduler(RawScheduler):
    """A RawScheduler that subscribes through any master: it POSTs the
    SUBSCRIBE to the first live one and follows its 307 to the leader
    (503 and dead masters: the next one, then again). Every subscription
    reads into a fresh event queue, so the end of an old stream never
    shows up in the new one. redirects lists the (status, Location) of
    every non-200 answer of the last subscribe()."""

    def __init__(self, masters, info):
        super().__init__(None, info)
        self.masters = masters
        self.redirects = []

    def _post(self, port):
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.info}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
            self.info["id"] = {"value": self.framework_id}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", self.path, json.dumps(body),
                     {"Content-Type": "application/json", "Accept": "application/json"})
        r = conn.getresponse()
        if r.status != 200:
            self.redirects.append((r.status, r.getheader("Location")))
            r.read()
            conn.close()
            return r.status, r.getheader("Location")
        self.port = port
        self.conn = conn
        self.stream_id = r.getheader("Mesos-Stream-Id")
        self.events = queue.Queue()
        q = self.events
        self.thread = threading.Thread(target=self._read_into, args=(r, q), daemon=True)
        self.thread.start()
        return 200, None

    def _read_into(self, r, q):
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    ch = r.read(1)
                    if not ch:
                        q.put(None)
                        return
                    line += ch
                n = int(line)
                data = b""
                while len(data) < n:
                    chunk = r.read(n - len(data))
                    if not chunk:
                        q.put(None)
                        return
                    data += chunk
                q.put(json.loads(data))
        except Exception:
            q.put(None)

    def subscribe(self, timeout=15):
        self.close()
        self.redirects = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.masters:
                if not m.proc or m.proc.poll() is not None:
                    continue
                try:
                    st, loc = self._post(m.port)
                    if st == 307:
                        st, loc = self._post(location_port(loc))
                except OSError:
                    continue
                if st == 200:
                    ev = self.expect("SUBSCRIBED", 10)
                    self.framework_id = ev["subscribed"]["framework_id"]["value"]
                    return 200, ev
            time.sleep(0.1)
        raise AssertionError("no master accepted the subscription in %ss: %r"
                             % (timeout, self.redirects))


def metrics(m):
    st, _, body = http_request(m.port, "GET", "/metrics/snapshot", timeout=3)
    assert st == 200, (st, body)
    return json.loads(body)
