"""Fault-injection helpers for test_faults.py (issue 5, "Done when").

Three parts, kept apart on purpose:

  * FaultCluster / Partition: a master and agents that can be killed with
    SIGKILL and restarted on the same port and --work-dir, and an agent
    running in a network namespace behind a veth pair that can be cut.
  * Workload: a framework written against the raw Mesos v1 scheduler HTTP
    API (no Atoll code). It follows 307 redirects, resubscribes with its
    framework id after the master goes away, reconciles explicitly after
    every subscription, acknowledges every update and relaunches a short
    task (under a new task id) only when it ended in a terminal state
    other than TASK_FINISHED. It records every event it receives, in
    order, in Workload.log.
  * check(): a pure function from that record plus the master's and the
    agents' final JSON to a list of violations. It re-derives everything
    from the raw record and does not trust the Workload's own bookkeeping.

Faults are injected by a FaultSchedule running in its own thread against a
FaultEnv (the cluster plus the workload's progress); a schedule only uses
the cluster's fault interface (kill_master/restart_master, kill_agent/
restart_agent, cut_agent/heal_agent).

High availability (test_faults_ha.py) plugs in the same way:
HaFaultCluster implements that interface with three masters on ZooKeeper
(kill_master() kills whichever leads; freeze_leader()/thaw_master() for a
session expiry) and restarts masters that exit unplanned, as a supervisor
would; LeaderSampler asks every master for master/elected at once through
the run; LeaderKills and LeaderExpiry are its schedules, timing each
failover (FailoverClock); check_ha() adds the HA checks (one leader per
sample, a deposed leader does nothing once its successor leads, GET_AGENTS
and the registry znodes, read with the checker's own ZkReader).
"""

import collections
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

from atolltest import ATOLL, Cluster, wait_for

TERMINAL = frozenset(("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                      "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"))
# Not terminal in Mesos, but the master saying it does not know the task:
# the framework relies on it as an end (it relaunches), so the checker does.
ENDS = TERMINAL | {"TASK_UNKNOWN"}
# Fault actions after which a master may have forgotten a launch it had
# answered 202 (it never passed it on to the agent).
# ("exit": a deposed leader exiting by itself once thawed.)
MASTER_DEATHS = frozenset(("kill -9", "freeze", "exit"))
RANK = {"TASK_STAGING": 0, "TASK_STARTING": 1, "TASK_RUNNING": 2}


# ---- HTTP ------------------------------------------------------------------

def http_req(host, port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode(errors="replace")
    finally:
        c.close()


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


def redirect_target(location, current):
    """host:port of a 307 Location ("//h:p/path", "http://h:p/path" or a
    path on the same server)."""
    loc = location
    if loc.startswith("http://"):
        loc = loc[len("http://"):]
    elif loc.startswith("//"):
        loc = loc[2:]
    else:
        return current
    return loc.split("/", 1)[0]


# ---- daemons ---------------------------------------------------------------

class Proc:
    """An atoll daemon that can be killed with SIGKILL and restarted on the
    same port, with the same arguments (so the same --work-dir)."""

    def __init__(self, root, name, args, host="127.0.0.1", netns=None):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "log")
        self.args = list(args)
        self.host = host
        self.netns = netns
        self.proc = None
        self.port = 0
        self.starts = 0

    def start(self, timeout=15):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        args = [a if a != "@PORT" else str(self.port) for a in self.args]
        with open(self.log_path, "ab") as log:
            log.write(("==== start %d (port %d)\n" % (self.starts, self.port)).encode())
            log.flush()
            # `ip netns exec` execs the daemon: the pid is the daemon's.
            self.proc = subprocess.Popen(prefix + [ATOLL] + args + ["--port-file", self.port_file],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s; its log ends:\n%s" % (
                    self.name, self.proc.returncode, self.log(1500)))
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    return self
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s did not write its port file; its log ends:\n%s" % (self.name, self.log(1500)))

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=10):
        if not self.alive:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self, tail=20000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-tail:]
        except OSError:
            return "(no log)"

    def grep(self, *words, limit=40):
        """The log lines holding every word (the last `limit`)."""
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [l.rstrip("\n") for l in f if all(w in l for w in words)]
        except OSError:
            return []
        return lines[-limit:]


class Partition:
    """A network namespace joined to the host by a veth pair: the host end
    has <prefix>.1/24, the namespace end <prefix>.2/24. cut() takes the
    host end down (the namespace loses the master; the host keeps its own
    address), heal() brings it up. remove() deletes both (idempotent)."""

    def __init__(self, tag):
        self.ns = "atoll-ft-%s" % tag
        self.host_if = ("aft%sh" % tag)[:15]
        self.ns_if = ("aft%sn" % tag)[:15]
        self.prefix = self._free_prefix()
        self.host_ip = self.prefix + ".1"
        self.ns_ip = self.prefix + ".2"
        self.created = False

    @staticmethod
    def _free_prefix():
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        start = os.getpid() % 200
        for k in range(200):
            p = "10.200.%d" % (20 + (start + k) % 200)
            if p + "." not in used and p + "." not in routes:
                return p
        raise RuntimeError("no free 10.200.x.0/24 for the test network")

    def _ip(self, *args):
        r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))

    def create(self):
        self.created = True
        self._ip("netns", "add", self.ns)
        self._ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self._ip("link", "set", self.ns_if, "netns", self.ns)
        self._ip("addr", "add", self.host_ip + "/24", "dev", self.host_if)
        self._ip("link", "set", self.host_if, "up")
        self._ip("-n", self.ns, "addr", "add", self.ns_ip + "/24", "dev", self.ns_if)
        self._ip("-n", self.ns, "link", "set", self.ns_if, "up")
        self._ip("-n", self.ns, "link", "set", "lo", "up")
        return self

    def cut(self):
        self._ip("link", "set", self.host_if, "down")

    def heal(self):
        self._ip("link", "set", self.host_if, "up")

    def remove(self):
        if not self.created:
            return
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        self.created = False

    def leftovers(self):
        """Names of this partition's namespace and links still present."""
        left = []
        if self.ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
            left.append(self.ns)
        if subprocess.run(["ip", "link", "show", self.host_if], capture_output=True).returncode == 0:
            left.append(self.host_if)
        return left


AGENT_RESOURCES = "cpus:8;mem:16384;disk:4096;ports:[31000-32000]"


class FaultCluster:
    """One master with a --work-dir and `agents` agents with their own
    --work-dir, every daemon restartable on its port. partition: a
    Partition whose namespace runs agent `cut_index`; the master and the
    other agents then listen on the host end of the veth (the agents' ping
    address is where their connection comes from).

    The fault interface (what a FaultSchedule may call): kill_master(),
    restart_master(), kill_agent(i), restart_agent(i), cut_agent(),
    heal_agent(); master_addresses() for frameworks. An HA cluster
    implements the same with a leader."""

    def __init__(self, agents=3, master_args=(), agent_args=(), partition=None, cut_index=0):
        self.dir = tempfile.mkdtemp(prefix="atoll-ft-")
        self.partition = partition
        self.cut_index = cut_index if partition else None
        host = partition.host_ip if partition else "127.0.0.1"
        self.master_work = os.path.join(self.dir, "master", "work")
        self.master = Proc(self.dir, "master",
                           ["master", "--ip", host, "--port", "@PORT", "--work-dir", self.master_work,
                            "--log-level", "debug"] + list(master_args), host=host)
        self.agents = []
        for i in range(agents):
            ns = partition.ns if partition and i == cut_index else None
            ahost = partition.ns_ip if ns else host
            self.agents.append(Proc(self.dir, "agent%d" % i,
                                    ["agent", "--ip", ahost, "--port", "@PORT",
                                     "--work-dir", os.path.join(self.dir, "agent%d" % i, "work"),
                                     "--resources", AGENT_RESOURCES, "--hostname", "agent%d" % i,
                                     "--isolation", "posix", "--allow-root-tasks",
                                     "--log-level", "debug"] + list(agent_args),
                                    host=ahost, netns=ns))
        self.daemons = [self.master] + self.agents

    # -- life cycle

    def start(self):
        self.master.start()
        for a in self.agents:
            a.args += ["--master", self.master.address]
            a.start()
        wait_for(lambda: len(self.active_agents()) == len(self.agents), 20, "agents registered")
        return self

    def close(self):
        for d in reversed(self.daemons):
            d.stop()
        # Executors of checkpointing frameworks outlive their agents by
        # design; the harness's sweep kills what runs in our directory.
        Cluster.kill_leftovers(self)
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump(self, out=sys.stderr):
        for d in self.daemons:
            out.write("----- log of %s (tail) -----\n%s\n" % (d.name, d.log(12000)))

    # -- fault interface

    def master_addresses(self):
        return [self.master.address]

    def kill_master(self):
        self.master.kill9()
        return self.master.name

    def restart_master(self):
        self.master.start()
        return self.master.name

    def kill_agent(self, i):
        self.agents[i].kill9()
        return self.agents[i].name

    def restart_agent(self, i):
        self.agents[i].start()
        return self.agents[i].name

    def cut_agent(self):
        self.partition.cut()
        return self.agents[self.cut_index].name

    def heal_agent(self):
        self.partition.heal()
        return self.agents[self.cut_index].name

    # -- observation (JSON only; no Atoll code)

    def get_json(self, path, daemon=None):
        d = daemon or self.master
        st, _, body = http_req(d.host, d.port, "GET", path)
        if st != 200:
            raise RuntimeError("GET %s on %s: %s %s" % (path, d.name, st, body[:200]))
        return json.loads(body)

    def state(self):
        return self.get_json("/state")

    def active_agents(self):
        return [a for a in self.state()["slaves"] if a.get("active")]

    def operator(self, ctype):
        st, _, body = http_req(self.master.host, self.master.port, "POST", "/api/v1",
                               json.dumps({"type": ctype}),
                               {"Content-Type": "application/json", "Accept": "application/json"})
        if st != 200:
            raise RuntimeError("%s: %s %s" % (ctype, st, body[:200]))
        return json.loads(body)

    def registry_rows(self):
        """(agent id, state) pairs of the master's registry file, read with
        SQLite directly: what survives a restart, not what the master says."""
        path = os.path.join(self.master_work, "registry.db")
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
        try:
            rows = db.execute("SELECT key, val FROM kv WHERE ns = 'agents'").fetchall()
        finally:
            db.close()
        out = []
        for key, val in rows:
            try:
                st = json.loads(val).get("state")
            except (ValueError, AttributeError):
                st = "unparseable: %r" % (val,)
            out.append((key, st))
        return out

    def snapshot(self):
        """Everything the checker reads from the daemons at the end."""
        snap = {"state": self.state(), "tasks": self.operator("GET_TASKS"),
                "agents": self.operator("GET_AGENTS"), "agent_states": {}}
        for a in self.agents:
            try:
                snap["agent_states"][a.name] = self.get_json("/state", a)
            except Exception as e:  # reported by the checker
                snap["agent_states"][a.name] = {"error": repr(e)}
        try:
            snap["registry"] = self.registry_rows()
        except Exception as e:
            snap["registry"] = "cannot read the registry: %r" % e
        return snap


# ---- high availability: three masters on ZooKeeper -------------------------

class ZkError(Exception):
    def __init__(self, code, what):
        super().__init__("%s: ZooKeeper error %d" % (what, code))
        self.code = code


class ZkReader:
    """A read-only ZooKeeper client, just enough for the checker to read
    znodes itself, independently of Atoll's ZooKeeper code: one short
    session, no watches, getChildren and getData over ZooKeeper's wire
    protocol (jute: big-endian fields, every packet prefixed with its
    length; strings and buffers are a length and the bytes)."""

    NONODE = -101
    OP_GET_DATA, OP_GET_CHILDREN, OP_CLOSE = 4, 8, -11

    def __init__(self, address, timeout=5.0):
        self.address = address
        self.sock = socket.create_connection(split_addr(address), timeout=timeout)
        self.xid = 0
        try:
            # ConnectRequest: protocolVersion, lastZxidSeen, timeOut (ms),
            # sessionId, passwd (16 bytes), readOnly
            self._send(struct.pack(">iqiqi16s?", 0, 0, int(timeout * 1000), 0, 16, bytes(16), False))
            reply = self._recv()
            if len(reply) < 16 or struct.unpack(">iiq", reply[:16])[1] <= 0:
                raise RuntimeError("ZooKeeper at %s refused a session" % address)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("ZooKeeper at %s closed the connection" % self.address)
            out += chunk
        return out

    def _recv(self):
        n = struct.unpack(">i", self._read(4))[0]
        if n < 0 or n > 16 << 20:
            raise RuntimeError("ZooKeeper at %s: bad packet length %d" % (self.address, n))
        return self._read(n)

    @staticmethod
    def _string(s):
        b = s.encode()
        return struct.pack(">i", len(b)) + b

    def _request(self, op, body, what):
        self.xid += 1
        self._send(struct.pack(">ii", self.xid, op) + body)
        while True:
            reply = self._recv()
            xid, _zxid, err = struct.unpack(">iqi", reply[:16])
            if xid < 0:
                continue  # a watch event or a ping answer: not ours
            if xid != self.xid:
                raise RuntimeError("ZooKeeper at %s answered xid %d to %d" % (self.address, xid, self.xid))
            if err:
                raise ZkError(err, what)
            return reply[16:]

    def children(self, path):
        """The names of path's children (unordered), [] when path does
        not exist."""
        try:
            body = self._request(self.OP_GET_CHILDREN, self._string(path) + b"\0", "children of " + path)
        except ZkError as e:
            if e.code == self.NONODE:
                return []
            raise
        n = struct.unpack(">i", body[:4])[0]
        out, off = [], 4
        for _ in range(max(n, 0)):
            k = struct.unpack(">i", body[off:off + 4])[0]
            out.append(body[off + 4:off + 4 + k].decode())
            off += 4 + k
        return out

    def data(self, path):
        """path's data (bytes), or None when path does not exist."""
        try:
            body = self._request(self.OP_GET_DATA, self._string(path) + b"\0", "data of " + path)
        except ZkError as e:
            if e.code == self.NONODE:
                return None
            raise
        n = struct.unpack(">i", body[:4])[0]
        return b"" if n < 0 else body[4:4 + n]

    def close(self):
        if self.sock is None:
            return
        try:
            self.xid += 1
            self._send(struct.pack(">ii", self.xid, self.OP_CLOSE))
        except OSError:
            pass
        self.sock.close()
        self.sock = None


def zk_unescape(name):
    """A znode name of the store's ZooKeeper layout back to its key: every
    byte other than [A-Za-z0-9._-] is written %XX (docs/ha.md)."""
    out, i = bytearray(), 0
    while i < len(name):
        hx = name[i + 1:i + 3]
        if name[i] == "%" and len(hx) == 2 and all(c in "0123456789abcdefABCDEF" for c in hx):
            out.append(int(hx, 16))
            i += 3
        else:
            out += name[i].encode()
            i += 1
    return out.decode(errors="replace")


def zk_registry_rows(zk_address, zk_path):
    """(agent id, state) pairs of the registry the masters keep in
    ZooKeeper (<path>/registry/agents/<id>, JSON with a "state"), read
    with ZkReader: what the next leader loads, not what this one says."""
    out = []
    base = zk_path.rstrip("/") + "/registry/agents"
    with ZkReader(zk_address) as zk:
        for child in zk.children(base):
            val = zk.data(base + "/" + child)
            try:
                st = json.loads(val.decode()).get("state")
            except (ValueError, AttributeError, UnicodeDecodeError):
                st = "unparseable: %r" % (val,)
            out.append((zk_unescape(child), st))
    return out


def zk_leader_info(zk_address, zk_path):
    """The MasterInfo JSON of the lowest "json.info_" znode under the
    election path (the leader, as Mesos-aware tools read it), or None."""
    with ZkReader(zk_address) as zk:
        kids = sorted(k for k in zk.children(zk_path.rstrip("/") or "/") if k.startswith("json.info_"))
        if not kids:
            return None
        val = zk.data(zk_path.rstrip("/") + "/" + kids[0])
    try:
        return json.loads(val.decode()) if val is not None else None
    except (ValueError, UnicodeDecodeError):
        return {"unparseable": repr(val)}


def master_elected(d, timeout=1.0):
    """master/elected of daemon d's /metrics/snapshot: 1, 0, or None when
    it does not answer within timeout."""
    try:
        st, _, body = http_req(d.host, d.port, "GET", "/metrics/snapshot", timeout=timeout)
        if st != 200:
            return None
        return int(json.loads(body).get("master/elected", 0))
    except (OSError, ValueError, http.client.HTTPException):
        return None


class LeaderSampler:
    """Asks every live master (a frozen one too) for master/elected at
    the same moment, every `period` seconds, from a thread; each round is
    one record in self.samples: {"t", "t_end", "answers": {name: 1, 0 or
    None}, "elected": [names answering 1]}. check_ha() finds the rounds
    where two masters said they lead."""

    def __init__(self, masters, period=0.25, timeout=1.0, after_round=None):
        self.masters = masters
        self.period = period
        self.timeout = timeout
        self.after_round = after_round
        self.samples = []
        self.stopping = threading.Event()
        self.thread = None
        self.clock = time.time

    def start(self, clock):
        self.clock = clock
        self.thread = threading.Thread(target=self._run, name="leader-sampler", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(10)

    def sample(self):
        live = [m for m in self.masters if m.alive and m.port]
        answers = {}
        t = self.clock()

        def ask(m):
            answers[m.name] = master_elected(m, self.timeout)
        threads = [threading.Thread(target=ask, args=(m,), daemon=True) for m in live]
        for th in threads:
            th.start()
        for th in threads:
            th.join(self.timeout + 2)
        rec = {"t": t, "t_end": self.clock(), "answers": dict(answers),
               "elected": sorted(n for n, e in answers.items() if e == 1)}
        self.samples.append(rec)
        return rec

    def _run(self):
        while not self.stopping.is_set():
            self.sample()
            if self.after_round:
                self.after_round()
            self.stopping.wait(self.period)


class HaFaultCluster(FaultCluster):
    """Three masters (--zk, --quorum 2, a short --zk-session-timeout, the
    registry in ZooKeeper) and agents with --master zk://..., every daemon
    restartable on its port. The fault interface of FaultCluster, with a
    leader: kill_master() kills whichever master leads now and
    restart_master() restarts that one (as a standby: the others' znodes
    are older); freeze_leader()/thaw_master() SIGSTOP and SIGCONT it.
    `master` is the current leader, found from the masters' own answers
    (master/elected in /metrics/snapshot). A LeaderSampler watches all
    masters through the run."""

    def __init__(self, zk_address, zk_path, masters=3, agents=3, quorum=2, session_timeout="2secs",
                 master_args=(), agent_args=()):
        self.dir = tempfile.mkdtemp(prefix="atoll-ftha-")
        self.partition = None
        self.cut_index = None
        self.zk_address = zk_address
        self.zk_path = zk_path
        self.zk_url = "zk://%s%s" % (zk_address, zk_path)
        self.masters = [Proc(self.dir, "master%d" % i,
                             ["master", "--ip", "127.0.0.1", "--port", "@PORT",
                              "--work-dir", os.path.join(self.dir, "master%d" % i, "work"),
                              "--zk", self.zk_url, "--quorum", str(quorum),
                              "--zk-session-timeout", session_timeout,
                              "--log-level", "debug"] + list(master_args))
                        for i in range(masters)]
        self.agents = [Proc(self.dir, "agent%d" % i,
                            ["agent", "--ip", "127.0.0.1", "--port", "@PORT", "--master", self.zk_url,
                             "--work-dir", os.path.join(self.dir, "agent%d" % i, "work"),
                             "--resources", AGENT_RESOURCES, "--hostname", "agent%d" % i,
                             "--isolation", "posix", "--allow-root-tasks",
                             "--log-level", "debug"] + list(agent_args))
                       for i in range(agents)]
        self.daemons = self.masters + self.agents
        self.sampler = LeaderSampler(self.masters, after_round=self.supervise)
        self.pinned = None      # the leader observations go to (snapshot)
        self.down = None        # the master killed or frozen last
        self.down_at = None     # and when (time.time())
        self.owned = set()      # masters the schedule has down (not supervised)
        self.lock = threading.Lock()
        self.note = None        # the workload's note(), for supervise()
        self.agent_ids = []     # the agents' ids, learnt at start

    # -- life cycle

    def start(self):
        for m in self.masters:
            m.start()
        wait_for(self.elected, 20, "a leading master")
        for a in self.agents:
            a.start()
        wait_for(lambda: len(self.active_agents()) == len(self.agents), 20, "agents registered")
        self.agent_ids = sorted(a["id"] for a in self.active_agents())
        return self

    def close(self):
        self.sampler.stop()
        for m in self.masters:
            if m.alive:
                os.kill(m.proc.pid, signal.SIGCONT)  # a frozen one must see SIGTERM
        super().close()

    # -- the leader

    def elected(self, exclude=None):
        """The first live master (not exclude) reporting master/elected 1."""
        for m in self.masters:
            if m is not exclude and m.alive and m.port and master_elected(m) == 1:
                return m
        return None

    @property
    def master(self):
        m = self.pinned or self.elected()
        if m is None:
            raise RuntimeError("no master reports master/elected 1")
        return m

    def master_addresses(self):
        return [m.address for m in self.masters if m.port]

    def active_ids_on(self, m):
        """Ids of the agents active in master m's /state."""
        st = self.get_json("/state", m)
        return sorted(a["id"] for a in st.get("slaves", []) if a.get("active"))

    def redirect_of(self, m):
        """Location of master m's GET /master/redirect (None: no 307)."""
        st, hdrs, _ = http_req(m.host, m.port, "GET", "/master/redirect", timeout=2)
        return hdrs.get("location") if st == 307 else None

    # -- fault interface

    def kill_master(self):
        m = wait_for(self.elected, 20, "a leader to kill")
        with self.lock:
            self.owned.add(m.name)
            self.down, self.down_at = m, time.time()
            m.kill9()
        return m.name

    def restart_master(self):
        with self.lock:
            self.down.start()
            self.owned.discard(self.down.name)
        return self.down.name

    def freeze_leader(self):
        m = wait_for(self.elected, 20, "a leader to freeze")
        with self.lock:
            self.owned.add(m.name)
            self.down, self.down_at = m, time.time()
            os.kill(m.proc.pid, signal.SIGSTOP)
        return m.name

    def supervise(self):
        """What a process supervisor does (docs/ha.md): restarts a master
        that exited although no fault was injected into it (a leader that
        lost its session on a loaded machine exits on purpose). Each such
        exit goes to the workload's log as an unplanned "exit" fault, with
        its last words, so the checker and the reader see it."""
        with self.lock:
            for m in self.masters:
                if m.name in self.owned or m.proc is None or m.alive:
                    continue
                last = (m.grep("lost leadership") or m.grep("error") or ["(no error logged)"])[-1]
                if self.note:
                    self.note("fault", action="exit", target=m.name, code=m.proc.returncode,
                              why="unplanned: " + last[:300], schedule="supervisor")
                try:
                    m.start()
                except RuntimeError as e:
                    self.owned.add(m.name)  # give up on it; the dump shows why
                    if self.note:
                        self.note("fault", action="restart failed", target=m.name, why=str(e)[:300],
                                  schedule="supervisor")
                    continue
                if self.note:
                    self.note("fault", action="restart", target=m.name, schedule="supervisor")

    def thaw_master(self):
        os.kill(self.down.proc.pid, signal.SIGCONT)
        return self.down.name

    # -- observation

    def registry_rows(self):
        return zk_registry_rows(self.zk_address, self.zk_path)

    def snapshot(self):
        """FaultCluster's snapshot, all of it from one leader, plus the
        MasterInfo of the lowest election znode and the leader's name."""
        self.pinned = wait_for(self.elected, 20, "a leader to take a snapshot from")
        try:
            snap = super().snapshot()
        finally:
            leader, self.pinned = self.pinned, None
        snap["registry_name"] = "the ZooKeeper registry"
        snap["leader"] = {"name": leader.name, "port": leader.port}
        try:
            snap["zk_leader"] = zk_leader_info(self.zk_address, self.zk_path)
        except Exception as e:
            snap["zk_leader"] = {"error": repr(e)}
        return snap


class FailoverClock:
    """Times one failover from t0 (the leader killed or frozen): when a
    master other than `old` first reports master/elected 1 (new leader
    serving), and when every agent in agent_ids is active in its /state
    (all agents reregistered). poll() returns True once both are known."""

    def __init__(self, cluster, t0, agent_ids, old):
        self.cluster, self.t0, self.agent_ids, self.old = cluster, t0, list(agent_ids), old
        self.new = None
        self.leader_secs = None
        self.agents_secs = None

    def poll(self):
        now = time.time()
        if self.new is None:
            m = self.cluster.elected(exclude=self.old)
            if m is not None:
                self.new, self.leader_secs = m, round(now - self.t0, 3)
        if self.new is not None and self.agents_secs is None:
            try:
                if set(self.agent_ids) <= set(self.cluster.active_ids_on(self.new)):
                    self.agents_secs = round(time.time() - self.t0, 3)
            except (OSError, RuntimeError, ValueError, http.client.HTTPException):
                pass
        return self.agents_secs is not None

    def figures(self):
        return {"new": self.new.name if self.new else None, "leader_secs": self.leader_secs,
                "agents_secs": self.agents_secs, "agents": len(self.agent_ids)}


# ---- the workload framework ---------------------------------------------------

class Workload:
    """A partition-aware, checkpointing v1 framework over raw HTTP.

    n_short logical short tasks ("s0007"; attempts "s0007.0", "s0007.1",
    ...) run `true` or `sleep 0.1`; n_long tasks ("l042") run `sleep 1000`
    spread evenly over the agents. Runs its event loop in a thread:
    start(), then wait_settled(), kill_long(), wait_long_killed(), stop().
    Everything received is appended to self.log (dicts, arrival order)."""

    def __init__(self, masters, n_short, n_long, n_agents, name="faults", max_inflight=30,
                 cpus=0.02, mem=8, user="root"):
        self.masters = masters
        self.n_short, self.n_long, self.n_agents = n_short, n_long, n_agents
        self.max_inflight = max_inflight
        self.cpus, self.mem = cpus, mem
        self.info = {"user": user, "name": name, "failover_timeout": 7 * 86400.0, "checkpoint": True,
                     "capabilities": [{"type": "PARTITION_AWARE"}]}
        self.t0 = time.time()
        self.log = []
        self.lock = threading.Lock()
        self.q = queue.Queue()
        self.thread = None
        self.stopping = threading.Event()
        self.error = None
        # connection
        self.framework_id = None
        self.stream_id = None
        self.master = None
        self.gen = 0
        self.resp = None
        self.sub_conn = None
        self.call_conn = None
        self.heartbeat = 15.0
        self.last_event = time.time()
        self.recv_t = None       # when the event being handled arrived (reader thread)
        self.subscriptions = 0
        # tasks: framework-side view (the checker does not trust it)
        self.tasks = {}          # task id -> dict(kind, logical, state, agent, t_update)
        self.attempts = collections.Counter()
        self.done_short = set()  # logical ids FINISHED
        self.pending = collections.deque()
        self.long_per_agent = collections.Counter()
        self.offers = {}         # held offers: id -> offer
        self.killing = False
        self.last_reconcile = 0.0
        for i in range(n_long):
            self.pending.append(("long", "l%03d" % i))
        for i in range(n_short):
            self.pending.append(("short", "s%04d" % i))

    # -- public

    def start(self):
        self.thread = threading.Thread(target=self._main, name="workload", daemon=True)
        self.thread.start()
        return self

    def now(self):
        return round(time.time() - self.t0, 4)

    def progress(self):
        return len(self.done_short) / float(self.n_short or 1)

    def settled(self):
        with self.lock:
            return (len(self.done_short) == self.n_short and
                    sum(1 for t in self.tasks.values() if t["kind"] == "long" and
                        t["state"] == "TASK_RUNNING") == self.n_long)

    def wait(self, pred, timeout, what, abort=None):
        """Waits for pred(); abort() returning a text stops the wait early
        (a fault schedule that failed, e.g. a daemon that cannot restart)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.error:
                raise AssertionError("workload failed: %s" % self.error)
            why = abort() if abort else None
            if why:
                raise AssertionError("stopped waiting for %s: %s" % (what, why))
            if pred():
                return
            time.sleep(0.1)
        raise AssertionError("timed out after %ss waiting for %s (%s)" % (timeout, what, self.describe()))

    def wait_settled(self, timeout, abort=None):
        self.wait(self.settled, timeout, "every short task FINISHED and every long task RUNNING", abort)

    def kill_long(self):
        self.q.put(("cmd", "kill_long"))

    def long_ended(self):
        with self.lock:
            return all(t["state"] in ENDS for t in self.tasks.values() if t["kind"] == "long")

    def wait_long_killed(self, timeout):
        self.wait(self.long_ended, timeout, "every long task ended")

    def stop(self, teardown=False):
        self.q.put(("cmd", "teardown" if teardown else "stop"))
        self.thread.join(20)
        self._close_stream()

    def note(self, kind, **kw):
        """Appends a record (faults and test steps go in the same log)."""
        rec = dict(kind=kind, t=self.now(), **kw)
        with self.lock:
            rec["seq"] = len(self.log)
            self.log.append(rec)
        return rec

    def running_count(self):
        """How many tasks the framework last heard were TASK_RUNNING."""
        with self.lock:
            return sum(1 for t in self.tasks.values() if t["state"] == "TASK_RUNNING")

    def describe(self):
        with self.lock:
            states = collections.Counter(t["state"] for t in self.tasks.values())
            return ("short done %d/%d, pending %d, tasks by state %s, subscriptions %d" %
                    (len(self.done_short), self.n_short, len(self.pending), dict(states),
                     self.subscriptions))

    # -- connection

    def _close_stream(self):
        for c in (self.sub_conn, self.call_conn):
            if c is None:
                continue
            try:
                if c.sock:
                    c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.sub_conn = self.call_conn = None

    def _subscribe(self):
        """Subscribes (resubscribes with the framework id), following 307s
        and trying each master, until it works or the workload stops."""
        self._close_stream()
        self.offers.clear()
        self.stream_id = None
        backoff = 0.1
        while not self.stopping.is_set():
            for addr in ([self.master] if self.master else []) + list(self.masters()):
                for _hop in range(4):
                    ok, nxt = self._try_subscribe(addr)
                    if ok:
                        return True
                    if not nxt:
                        break
                    addr = nxt
            time.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
        return False

    def _try_subscribe(self, addr):
        """(True, None) on success; (False, redirect address or None)."""
        host, port = split_addr(addr)
        info = dict(self.info)
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
            body["framework_id"] = {"value": self.framework_id}
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("POST", "/api/v1/scheduler", json.dumps(body),
                         {"Content-Type": "application/json", "Accept": "application/json"})
            r = conn.getresponse()
        except (OSError, http.client.HTTPException):
            conn.close()
            return False, None
        if r.status == 307:
            loc = r.getheader("Location") or ""
            r.read()
            conn.close()
            self.note("redirect", master=addr, location=loc)
            return False, redirect_target(loc, addr)
        if r.status != 200:
            text = r.read().decode(errors="replace")
            conn.close()
            self.note("subscribe_refused", master=addr, status=r.status, body=text[:300])
            return False, None
        conn.sock.settimeout(None)
        self.gen += 1
        self.master = addr
        self.sub_conn = conn
        self.stream_id = r.getheader("Mesos-Stream-Id")
        self.last_event = time.time()
        threading.Thread(target=self._reader, args=(r, self.gen), daemon=True).start()
        return True, None

    def _reader(self, r, gen):
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    ch = r.read(1)
                    if not ch:
                        raise EOFError
                    line += ch
                n = int(line)
                data = b""
                while len(data) < n:
                    chunk = r.read(n - len(data))
                    if not chunk:
                        raise EOFError
                    data += chunk
                self.q.put(("event", gen, json.loads(data), self.now()))
        except Exception as e:
            self.q.put(("closed", gen, repr(e)))

    def _call(self, ctype, payload=None):
        """POSTs a call to the current master on a kept-alive connection;
        returns the status, or None when the master could not be reached
        (the call may or may not have been applied)."""
        if self.master is None:
            return None  # stopped while resubscribing
        body = {"framework_id": {"value": self.framework_id}, "type": ctype}
        if payload is not None:
            body[ctype.lower()] = payload
        data = json.dumps(body)
        for attempt in range(2):
            if self.call_conn is None:
                host, port = split_addr(self.master)
                self.call_conn = http.client.HTTPConnection(host, port, timeout=5)
            try:
                self.call_conn.request("POST", "/api/v1/scheduler", data,
                                       {"Content-Type": "application/json",
                                        "Mesos-Stream-Id": self.stream_id or ""})
                r = self.call_conn.getresponse()
                text = r.read()
                if r.status not in (202, 200):
                    self.note("call_refused", call=ctype, status=r.status,
                              body=text.decode(errors="replace")[:300])
                return r.status
            except (OSError, http.client.HTTPException):
                # A kept-alive connection the server closed: retry once on
                # a fresh one only when nothing could have been sent.
                self.call_conn.close()
                self.call_conn = None
                if attempt == 0 and ctype in ("ACKNOWLEDGE", "RECONCILE", "DECLINE", "KILL"):
                    continue
                return None
        return None

    # -- loop

    def _main(self):
        try:
            if not self._subscribe():
                return
            while True:
                try:
                    item = self.q.get(timeout=0.2)
                except queue.Empty:
                    item = None
                if item is not None:
                    if item[0] == "cmd":
                        if item[1] in ("stop", "teardown"):
                            if item[1] == "teardown":
                                self._call("TEARDOWN")
                            self.stopping.set()
                            return
                        if item[1] == "kill_long":
                            self.killing = True
                            self._kill_long()
                    elif item[1] != self.gen:
                        pass  # from an older stream
                    elif item[0] == "closed":
                        self.note("stream_closed", master=self.master, why=item[2])
                        self._resubscribe()
                    else:
                        self.last_event = time.time()
                        self.recv_t = item[3]
                        self._event(item[2])
                if time.time() - self.last_event > 3 * self.heartbeat + 2:
                    self.note("stream_silent", master=self.master)
                    self._resubscribe()
                self._timers()
        except Exception as e:  # surfaced by wait()
            import traceback
            self.error = "%r\n%s" % (e, traceback.format_exc())

    def _resubscribe(self):
        self.master = None
        self._subscribe()

    def _event(self, ev):
        et = ev.get("type")
        if et == "SUBSCRIBED":
            sub = ev["subscribed"]
            self.framework_id = sub["framework_id"]["value"]
            self.heartbeat = sub.get("heartbeat_interval_seconds", 15.0)
            self.subscriptions += 1
            self.note("subscribed", master=self.master, framework_id=self.framework_id,
                      n=self.subscriptions, gen=self.gen)
            self._reconcile(all_open=True)
        elif et == "OFFERS":
            for o in ev["offers"].get("offers", []):
                self.offers[o["id"]["value"]] = o
            self._launch()
        elif et == "RESCIND":
            self.offers.pop(ev["rescind"]["offer_id"]["value"], None)
        elif et == "UPDATE":
            self._update(ev["update"]["status"])
        elif et in ("HEARTBEAT",):
            pass
        else:
            self.note("event", type=et, body=json.dumps(ev)[:300])
            if et == "ERROR":
                self._resubscribe()

    def _update(self, st):
        tid = st["task_id"]["value"]
        state = st["state"]
        agent = (st.get("agent_id") or {}).get("value")
        rec = self.note("update", task=tid, state=state, uuid=st.get("uuid"), agent=agent,
                        source=st.get("source"), reason=st.get("reason"), ts=st.get("timestamp"),
                        gen=self.gen, recv_t=self.recv_t)
        if st.get("uuid"):
            rec["ack"] = self._call("ACKNOWLEDGE", {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                                    "uuid": st["uuid"]})
        t = self.tasks.get(tid)
        if t is None:
            self.note("unknown_task_update", task=tid, state=state)
            return
        t["t_update"] = time.time()
        if agent and state != "TASK_UNKNOWN":
            t["agent"] = agent
        if t["state"] in ENDS:
            return  # the framework already acted on an end
        with self.lock:
            t["state"] = state
        if state not in ENDS:
            return
        if t["kind"] == "short":
            if state == "TASK_FINISHED":
                with self.lock:
                    self.done_short.add(t["logical"])
            else:
                self.pending.appendleft(("short", t["logical"]))
                self.note("relaunch", task=tid, logical=t["logical"], after=state)
        self._launch()

    def _inflight(self):
        return sum(1 for t in self.tasks.values() if t["kind"] == "short" and t["state"] not in ENDS)

    def _launch(self):
        if not self.pending or not self.offers:
            return
        per_agent = -(-self.n_long // self.n_agents)
        for oid in list(self.offers):
            if not self.pending:
                break
            o = self.offers[oid]
            aid = o["agent_id"]["value"]
            cpus = sum(r["scalar"]["value"] for r in o["resources"] if r["name"] == "cpus")
            mem = sum(r["scalar"]["value"] for r in o["resources"] if r["name"] == "mem")
            infos, skipped = [], []
            while self.pending:
                kind, logical = self.pending[0]
                if cpus < self.cpus + 1e-9 or mem < self.mem:
                    break
                if kind == "short" and self._inflight() + len([i for i in infos if i["_kind"] == "short"]) >= self.max_inflight:
                    break
                self.pending.popleft()
                if kind == "long" and self.long_per_agent[aid] >= per_agent:
                    skipped.append((kind, logical))
                    continue
                if kind == "long":
                    tid, cmd = logical, "sleep 1000"
                    self.long_per_agent[aid] += 1
                else:
                    tid = "%s.%d" % (logical, self.attempts[logical])
                    self.attempts[logical] += 1
                    cmd = "true" if int(logical[1:]) % 2 else "sleep 0.1"
                infos.append({"_kind": kind, "_logical": logical, "name": tid, "task_id": {"value": tid},
                              "agent_id": {"value": aid}, "command": {"shell": True, "value": cmd},
                              "resources": [
                                  {"name": "cpus", "type": "SCALAR", "scalar": {"value": self.cpus},
                                   "role": "*", "allocation_info": {"role": "*"}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": self.mem},
                                   "role": "*", "allocation_info": {"role": "*"}}]})
                cpus -= self.cpus
                mem -= self.mem
            for s in reversed(skipped):
                self.pending.appendleft(s)
            if not infos:
                if not self.pending or skipped:
                    # nothing for this agent: let the resources go
                    self._call("DECLINE", {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0.5}})
                    del self.offers[oid]
                continue  # else kept until capacity frees
            del self.offers[oid]
            sent = self.now()
            for i in infos:
                kind, logical = i.pop("_kind"), i.pop("_logical")
                with self.lock:
                    self.tasks[i["task_id"]["value"]] = {"kind": kind, "logical": logical,
                                                         "state": "LAUNCHING", "agent": aid,
                                                         "t_update": time.time()}
            code = self._call("ACCEPT", {"offer_ids": [o["id"]],
                                         "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
                                         "filters": {"refuse_seconds": 0}})
            for i in infos:
                t = self.tasks[i["task_id"]["value"]]
                self.note("launch", task=i["task_id"]["value"], logical=t["logical"], tkind=t["kind"],
                          agent=aid, offer=oid, status=code, master=self.master, sent=sent)
            if code is not None and 400 <= code < 500:
                # refused as a whole: nothing was launched; the framework
                # gives these ids up and relaunches under new ones
                for i in infos:
                    t = self.tasks[i["task_id"]["value"]]
                    with self.lock:
                        t["state"] = "TASK_DROPPED"
                    if t["kind"] == "long":
                        self.long_per_agent[aid] -= 1
                    self.pending.appendleft((t["kind"], t["logical"]))

    def _reconcile(self, all_open=False):
        """Explicit reconciliation of the open tasks (all of them, or the
        ones without news for a while)."""
        self.last_reconcile = time.time()
        now = time.time()
        ask = [{"task_id": {"value": tid}, "agent_id": {"value": t["agent"]}}
               for tid, t in self.tasks.items()
               if t["state"] not in ENDS and
               (all_open or (now - t["t_update"] > 4 and t["state"] != "TASK_RUNNING")
                or (now - t["t_update"] > 4 and t["kind"] == "short"))]
        for k in range(0, len(ask), 200):
            self.note("reconcile", tasks=len(ask[k:k + 200]))
            self._call("RECONCILE", {"tasks": ask[k:k + 200]})

    def _kill_long(self):
        for tid, t in self.tasks.items():
            if t["kind"] == "long" and t["state"] not in ENDS:
                self.note("kill", task=tid)
                self._call("KILL", {"task_id": {"value": tid}, "agent_id": {"value": t["agent"]}})
        self.last_kill = time.time()

    def _timers(self):
        if time.time() - self.last_reconcile > 3:
            self._reconcile()
        if self.killing and time.time() - self.last_kill > 4:
            self._kill_long()
        if self.pending and self.offers:
            self._launch()


# ---- fault schedules ------------------------------------------------------

class FaultEnv:
    """What a schedule may touch: the cluster's fault interface, the
    workload's progress, and the shared log."""

    def __init__(self, cluster, workload, stop):
        self.cluster = cluster
        self.workload = workload
        self.stop = stop

    def wait_progress(self, frac, timeout=120):
        deadline = time.time() + timeout
        while not self.stop.is_set() and time.time() < deadline:
            if self.workload.progress() >= frac:
                return True
            time.sleep(0.05)
        return False

    def sleep(self, secs):
        return not self.stop.wait(secs)


class FaultSchedule:
    """Base: injects faults from a thread until done or stopped. Subclasses
    implement plan(env). Every fault goes to the workload's log (so the
    checker sees them in the same timeline) and to self.injected."""

    name = "none"

    def __init__(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        self.injected = []
        self.error = None
        self.thread = None

    def record(self, env, action, target, **kw):
        rec = env.workload.note("fault", action=action, target=target, schedule=self.name, **kw)
        self.injected.append(rec)

    def start(self, env):
        def run():
            try:
                self.plan(env)
            except Exception as e:
                import traceback
                self.error = "%r\n%s" % (e, traceback.format_exc())
        self.thread = threading.Thread(target=run, name="faults-" + self.name, daemon=True)
        self.thread.start()

    def join(self, timeout=60):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("fault schedule %s did not finish" % self.name)
        if self.error:
            raise AssertionError("fault schedule %s failed: %s" % (self.name, self.error))

    def faults(self):
        return sum(1 for r in self.injected if r["action"] in ("kill -9", "cut"))

    def plan(self, env):
        raise NotImplementedError


class MasterKills(FaultSchedule):
    """kill -9 of the master `count` times at random points of the run
    (fractions of short tasks done), restarted on its port and --work-dir
    after a random 0.1-1.5 s."""

    name = "master-kill"

    def __init__(self, seed, count):
        super().__init__(seed)
        self.count = count

    def plan(self, env):
        points = sorted(self.rng.uniform(0.05, 0.85) for _ in range(self.count))
        for p in points:
            if not env.wait_progress(p):
                return
            self.record(env, "kill -9", env.cluster.kill_master(), progress=round(env.workload.progress(), 3))
            env.sleep(self.rng.uniform(0.1, 1.5))
            self.record(env, "restart", env.cluster.restart_master())


class AgentKills(FaultSchedule):
    """kill -9 of a random agent `count` times, restarted on its port and
    --work-dir after a random 0.5-2 s (it recovers its executors)."""

    name = "agent-kill"

    def __init__(self, seed, count, agents):
        super().__init__(seed)
        self.count = count
        self.agents = agents

    def plan(self, env):
        points = sorted(self.rng.uniform(0.1, 0.8) for _ in range(self.count))
        for p in points:
            if not env.wait_progress(p):
                return
            i = self.rng.randrange(self.agents)
            self.record(env, "kill -9", env.cluster.kill_agent(i), progress=round(env.workload.progress(), 3))
            env.sleep(self.rng.uniform(0.5, 2.0))
            self.record(env, "restart", env.cluster.restart_agent(i))


class AgentPartition(FaultSchedule):
    """Takes the partitioned agent's veth down at a random point for
    `hold` seconds (past the master's ping timeouts), then up again."""

    name = "partition"

    def __init__(self, seed, hold, until=None):
        super().__init__(seed)
        self.hold = hold
        self.until = until  # optional predicate: keep the link down until it holds (or hold*3)

    def plan(self, env):
        if not env.wait_progress(self.rng.uniform(0.1, 0.4)):
            return
        self.record(env, "cut", env.cluster.cut_agent(), progress=round(env.workload.progress(), 3))
        t0 = time.time()
        env.sleep(self.hold)
        while self.until and not self.until() and time.time() - t0 < 3 * self.hold:
            env.sleep(0.1)
        self.record(env, "heal", env.cluster.heal_agent(), down_secs=round(time.time() - t0, 2))


def _background(fn):
    """Runs fn in a thread (so a restart does not stall a FailoverClock)."""
    th = threading.Thread(target=fn, daemon=True)
    th.start()
    return th


def restarted_role(cluster, m, leader, timeout=10):
    """"standby" once restarted master m reports master/elected 0 and
    redirects to leader; "leader" if it leads; else what it answered."""
    seen = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        e = master_elected(m)
        if e == 1:
            return "leader"
        try:
            loc = cluster.redirect_of(m)
        except (OSError, http.client.HTTPException) as ex:
            loc = repr(ex)
        seen = "elected=%s redirect=%s" % (e, loc)
        if e == 0 and leader is not None and loc == "//" + leader.address:
            return "standby"
        time.sleep(0.1)
    return "unknown (%s)" % seen


class LeaderKills(FaultSchedule):
    """kill -9 of whichever master leads, `count` times at random points
    of the run (fractions of short tasks done); the killed master is
    restarted on its port after a random 0.1-1.5 s and must come back as
    a standby. Each failover is timed (FailoverClock) and noted in the log
    ("failover" record) before the next kill."""

    name = "leader-kill"

    def __init__(self, seed, count, failover_timeout=30):
        super().__init__(seed)
        self.count = count
        self.failover_timeout = failover_timeout

    def plan(self, env):
        c = env.cluster
        points = sorted(self.rng.uniform(0.05, 0.85) for _ in range(self.count))
        for p in points:
            if not env.wait_progress(p):
                return
            running = env.workload.running_count()
            old = c.kill_master()
            self.record(env, "kill -9", old, progress=round(env.workload.progress(), 3), running=running)
            down_t = self.injected[-1]["t"]
            clock = FailoverClock(c, c.down_at, c.agent_ids, None)
            delay = self.rng.uniform(0.1, 1.5)
            restart = None
            while time.time() < c.down_at + self.failover_timeout:
                done = clock.poll()
                if restart is None and time.time() - c.down_at >= delay:
                    restart = _background(lambda: self.record(env, "restart", c.restart_master()))
                if done and restart is not None:
                    break
                time.sleep(0.05)
            if restart is not None:
                restart.join(20)
            fo = clock.figures()
            fo["restarted_as"] = restarted_role(c, c.down, clock.new)
            env.workload.note("failover", cause="kill -9", old=old, old_address=c.down.address,
                              running=running, down_t=down_t, **fo)
            if clock.agents_secs is None:
                raise AssertionError("kill -9 of the leader %s: %s %ds later (%s)" % (
                    old, "no new leader" if clock.new is None else "agents not all reregistered",
                    self.failover_timeout, fo))


class LeaderExpiry(FaultSchedule):
    """A ZooKeeper session expiry of the leader: SIGSTOP it at a random
    point until a standby leads and its session is long gone (at least
    1.5 session timeouts), then SIGCONT. It must exit at once, by itself
    ("expiry_exit" record: exit status and its "lost leadership" line;
    check_ha() judges it); then it is restarted as a standby. The failover
    (from the freeze) is timed as LeaderKills does."""

    name = "leader-expiry"

    def __init__(self, seed, session_secs, failover_timeout=30, exit_timeout=10):
        super().__init__(seed)
        self.session_secs = session_secs
        self.failover_timeout = failover_timeout
        self.exit_timeout = exit_timeout

    def plan(self, env):
        c = env.cluster
        if not env.wait_progress(self.rng.uniform(0.2, 0.7)):
            return
        running = env.workload.running_count()
        old = c.freeze_leader()
        frozen = c.down
        self.record(env, "freeze", old, progress=round(env.workload.progress(), 3), running=running)
        down_t = self.injected[-1]["t"]
        clock = FailoverClock(c, c.down_at, c.agent_ids, frozen)
        thawed = None
        while time.time() < c.down_at + self.failover_timeout:
            clock.poll()
            held = time.time() - c.down_at
            if thawed is None and clock.new is not None and \
                    held >= max(1.5 * self.session_secs, clock.leader_secs + 0.5):
                self.record(env, "thaw", c.thaw_master(), frozen_secs=round(held, 2))
                thawed = time.time()
            if thawed is not None and clock.agents_secs is not None:
                break
            time.sleep(0.05)
        if thawed is None:
            self.record(env, "thaw", c.thaw_master(), frozen_secs=round(time.time() - c.down_at, 2))
            thawed = time.time()
        try:
            code = frozen.proc.wait(self.exit_timeout)
        except subprocess.TimeoutExpired:
            code = None
        lines = frozen.grep("lost leadership")
        env.workload.note("expiry_exit", target=old, exited=code is not None, code=code,
                          secs_after_thaw=round(time.time() - thawed, 2),
                          line=lines[-1][:300] if lines else None)
        if code is not None:
            self.record(env, "exit", old, code=code)
        else:
            frozen.kill9()
            self.record(env, "kill -9", old, why="still running after its session expired")
        self.record(env, "restart", c.restart_master())
        fo = clock.figures()
        fo["restarted_as"] = restarted_role(c, frozen, clock.new)
        env.workload.note("failover", cause="session expiry", old=old, old_address=frozen.address,
                          running=running, down_t=down_t, **fo)
        if clock.agents_secs is None:
            raise AssertionError("leader %s frozen past its session: %s %ds later (%s)" % (
                old, "no standby led" if clock.new is None else "agents not all reregistered",
                self.failover_timeout, fo))


# ---- the checker ------------------------------------------------------------

def check(log, n_short, n_long, n_agents, final, before_kill=None):
    """Checks the recorded run; returns (violations, stats).

    log: Workload.log (records in arrival order); final: the cluster's
    snapshot after the long tasks were killed; before_kill: the snapshot
    while the long tasks ran. Pure: reads only its arguments."""
    v = []
    updates = collections.defaultdict(list)
    launches = collections.defaultdict(list)
    for r in log:
        if r["kind"] == "update":
            updates[r["task"]].append(r)
        elif r["kind"] == "launch":
            launches[r["task"]].append(r)
    # Moments a master stopped serving without a word: kill -9, or a
    # leader frozen (SIGSTOP) until ZooKeeper expired its session.
    master_kills = [r["t"] for r in log if r["kind"] == "fault" and r["action"] in MASTER_DEATHS
                    and r["target"].startswith("master")]

    # 1. task ids: launched once, never an update for an id never launched
    for tid, ls in launches.items():
        if len(ls) > 1:
            v.append("task %s: launched %d times under one id" % (tid, len(ls)))
    for tid in updates:
        if tid not in launches:
            v.append("task %s: updates for an id the framework never launched" % tid)

    ends = {}
    for tid in sorted(launches):
        us = updates.get(tid, [])
        # 2. order per task. An end (terminal, or TASK_UNKNOWN answered
        # to a reconciliation) reported by the agent or the master is
        # final; after an end known only from a reconciliation answer, the
        # agent's older updates may still arrive (its stream is ordered
        # and acknowledged one by one), but nothing the master says.
        end_hard = None
        end_recon = None
        agent_rank = -1
        uuids_seen = []
        terminals = set()
        for u in us:
            s = u["state"]
            recon = u.get("reason") == "REASON_RECONCILIATION"
            from_agent = bool(u.get("uuid"))
            if s in ENDS:
                terminals.add(s)
            if from_agent:
                if u["uuid"] in uuids_seen:
                    if u["uuid"] != uuids_seen[-1]:
                        v.append("task %s: update %s (uuid %s) again after a newer one (#%d)"
                                 % (tid, s, u["uuid"], u["seq"]))
                    continue
                uuids_seen.append(u["uuid"])
                rank = 3 if s in ENDS else RANK.get(s, -1)
                if s == "TASK_UNREACHABLE" or rank < 0:
                    v.append("task %s: unexpected state %s from the agent (#%d)" % (tid, s, u["seq"]))
                elif rank < agent_rank:
                    v.append("task %s: agent update %s after a later state (#%d)" % (tid, s, u["seq"]))
                agent_rank = max(agent_rank, rank)
            if end_hard is not None and s not in ENDS:
                v.append("task %s: %s (#%d, %s) after the end %s (#%d, %s %s)" % (
                    tid, s, u["seq"], "reconciliation" if recon else u.get("source"), end_hard["state"],
                    end_hard["seq"], end_hard.get("source"), end_hard.get("reason") or ""))
            elif end_recon is not None and s not in ENDS and not from_agent:
                v.append("task %s: master reports %s after answering %s to a reconciliation (#%d)"
                         % (tid, s, end_recon["state"], u["seq"]))
            if s in ENDS:
                if recon:
                    end_recon = end_recon or u
                else:
                    end_hard = end_hard or u
        if len(terminals - {"TASK_UNKNOWN"}) > 1:
            v.append("task %s: several terminal states %s" % (tid, sorted(terminals)))
        if "TASK_UNKNOWN" in terminals and any(u["state"] in ("TASK_STARTING", "TASK_RUNNING") for u in us):
            v.append("task %s: reported TASK_UNKNOWN although it was seen starting/running" % tid)
        # 3. one agent per task
        agents = set(u["agent"] for u in us if u["state"] in ("TASK_STARTING", "TASK_RUNNING") and u.get("agent"))
        if len(agents) > 1:
            v.append("task %s: ran on several agents %s" % (tid, sorted(agents)))
        # 4. nothing lost: an executor's end comes after its RUNNING
        hard = [u for u in us if u.get("uuid") and u["state"] in TERMINAL]
        if hard and hard[0].get("source") == "SOURCE_EXECUTOR" and \
                not any(u.get("uuid") and u["state"] == "TASK_RUNNING" for u in us):
            v.append("task %s: %s from the executor but its TASK_RUNNING never arrived" % (tid, hard[0]["state"]))
        final_state = None
        for u in us:
            if u["state"] in ENDS:
                final_state = u["state"]
                break
        ends[tid] = (final_state, us)

    # 5. short tasks: each logical task FINISHED exactly once, relaunched
    # only after an end that was not FINISHED
    by_logical = collections.defaultdict(list)
    for tid, ls in launches.items():
        if ls[0]["tkind"] == "short":
            by_logical[ls[0]["logical"]].append((ls[0]["seq"], tid))
    relaunches = 0
    vanished = []
    for i in range(n_short):
        logical = "s%04d" % i
        attempts = [tid for _, tid in sorted(by_logical.get(logical, []))]
        relaunches += max(0, len(attempts) - 1)
        fin = [tid for tid in attempts if ends[tid][0] == "TASK_FINISHED"]
        if len(fin) != 1:
            v.append("short task %s: %d attempts FINISHED (attempts %s: %s)" % (
                logical, len(fin), attempts, [ends[t][0] for t in attempts]))
        for k, tid in enumerate(attempts):
            st = ends[tid][0]
            if st is None:
                v.append("short task %s: attempt %s has no end (updates: %s)" % (
                    logical, tid, [u["state"] for u in ends[tid][1]]))
            elif k + 1 < len(attempts) and st == "TASK_FINISHED":
                v.append("short task %s: relaunched as %s after %s FINISHED" % (logical, attempts[k + 1], tid))
            if st == "TASK_UNKNOWN":
                # The master forgot a task: acceptable only when the
                # launch call got no answer (the master died with it), was
                # refused, or the master was killed after it answered 202.
                ln = launches[tid][0]
                sent = ln.get("sent", ln["t"])
                told = next(u["t"] for u in ends[tid][1] if u["state"] == "TASK_UNKNOWN")
                # A launch a master refused (any answer but 202: a standby's
                # 503 or 307) never happened, so the task is rightly unknown.
                if (ln.get("status") is None or ln.get("status") != 202
                        or any(sent <= k_t <= told for k_t in master_kills)):
                    vanished.append(tid)
                else:
                    v.append("task %s: launch answered %s at %.2fs, then unknown to the master at %.2fs "
                             "with no master kill in between" % (tid, ln.get("status"), sent, told))
    # 6. long tasks: RUNNING while the test ran, then KILLED
    for i in range(n_long):
        tid = "l%03d" % i
        if tid not in launches:
            v.append("long task %s: never launched" % tid)
            continue
        us = ends[tid][1]
        kill_t = next((r["t"] for r in log if r["kind"] == "kill" and r["task"] == tid), None)
        if not any(u["state"] == "TASK_RUNNING" for u in us):
            v.append("long task %s: never RUNNING" % tid)
        if kill_t is None:
            v.append("long task %s: the test never killed it" % tid)
        early = [u for u in us if u["state"] in ENDS and (kill_t is None or u["t"] < kill_t)]
        if early:
            v.append("long task %s: ended %s before the test killed it (#%d)" % (tid, early[0]["state"], early[0]["seq"]))
        elif ends[tid][0] != "TASK_KILLED":
            v.append("long task %s: ended %s, expected TASK_KILLED" % (tid, ends[tid][0]))
    # 7. the master agrees with the framework
    v.extend(check_master(final, ends, n_agents, before_kill, n_long))
    stats = {
        "task ids": len(launches),
        "updates": sum(len(u) for u in updates.values()),
        "reconciliation answers": sum(1 for us in updates.values() for u in us
                                      if u.get("reason") == "REASON_RECONCILIATION"),
        "unreachable reports": sum(1 for us in updates.values() for u in us if u["state"] == "TASK_UNREACHABLE"),
        "back from unreachable": sum(1 for us in updates.values() if any(
            u["state"] == "TASK_UNREACHABLE" and any(w["state"] == "TASK_RUNNING" and w["seq"] > u["seq"] for w in us)
            for u in us)),
        "relaunches": relaunches,
        "ends": dict(collections.Counter(end_label(*e) for e in ends.values())),
        "vanished": vanished,
        "launches lost with a killed master": len(vanished),
        "subscriptions": sum(1 for r in log if r["kind"] == "subscribed"),
        "faults": [(r["t"], r["action"], r["target"]) for r in log if r["kind"] == "fault"],
    }
    return v, stats


def end_label(state, us):
    """"TASK_X (reason or source of the first update in state X)"."""
    if state is None:
        return "no end"
    u = next(u for u in us if u["state"] == state)
    return "%s (%s)" % (state, u.get("reason") or u.get("source") or "?")


def check_master(final, ends, n_agents, before_kill, n_long):
    """The master's and agents' final views against the recorded ends."""
    v = []
    st = final["state"]
    slaves = st.get("slaves", [])
    ids = sorted(a["id"] for a in slaves)
    if len(slaves) != n_agents:
        v.append("registry: /state lists %d agents, expected %d: %s" % (len(slaves), n_agents, ids))
    for a in slaves:
        if not a.get("active"):
            v.append("registry: agent %s (%s) is not active" % (a["id"], a.get("hostname")))
    rec = final["agents"].get("get_agents", {}).get("recovered_agents", [])
    if rec:
        v.append("registry: %d agents recovered but not reregistered" % len(rec))
    reg = final.get("registry")
    if isinstance(reg, str):
        v.append("registry: " + reg)
    elif reg is not None:
        where = final.get("registry_name", "registry.db")
        admitted = sorted(k for k, s in reg if s == "admitted")
        other = [(k, s) for k, s in reg if s != "admitted"]
        if admitted != ids:
            v.append("registry: %s admits %s, /state lists %s" % (where, admitted, ids))
        if other:
            v.append("registry: %s has agents not admitted: %s" % (where, other))
    gt = final["tasks"].get("get_tasks", {})
    if gt.get("tasks"):
        v.append("master: %d tasks still live after the run: %s" % (
            len(gt["tasks"]), [t["task_id"]["value"] for t in gt["tasks"]][:10]))
    if gt.get("unreachable_tasks"):
        v.append("master: %d unreachable tasks after the run" % len(gt["unreachable_tasks"]))
    for t in gt.get("tasks", []) + gt.get("completed_tasks", []):
        tid = t["task_id"]["value"]
        if tid not in ends:
            v.append("master: task %s is not one the framework launched" % tid)
        elif ends[tid][0] not in (None, "TASK_UNKNOWN") and t["state"] != ends[tid][0]:
            v.append("master: task %s is %s, the framework was told %s" % (tid, t["state"], ends[tid][0]))
    if before_kill is not None:
        live = {t["task_id"]["value"]: t for t in before_kill["tasks"].get("get_tasks", {}).get("tasks", [])}
        for i in range(n_long):
            tid = "l%03d" % i
            t = live.get(tid)
            if t is None or t["state"] != "TASK_RUNNING":
                v.append("master: long task %s not RUNNING before the kill (%s)" % (tid, t and t["state"]))
        for tid, t in live.items():
            if not tid.startswith("l"):
                v.append("master: task %s live after every short task ended (%s)" % (tid, t["state"]))
    for name, ast in sorted(final["agent_states"].items()):
        if "error" in ast:
            v.append("agent %s: /state failed: %s" % (name, ast["error"]))
            continue
        for fw in ast.get("frameworks", []):
            listed = [(t, True) for ex in fw.get("executors", []) for t in ex.get("tasks", [])]
            listed += [(t, False) for ex in fw.get("executors", []) + fw.get("completed_executors", [])
                       for t in ex.get("queued_tasks", [])]
            listed += [(t, False) for t in fw.get("pending_tasks", [])]
            for t, live in listed:
                if live and t.get("state") not in TERMINAL:
                    v.append("agent %s: task %s still %s" % (name, t.get("id"), t.get("state")))
                if t.get("unacknowledged_updates"):
                    v.append("agent %s: task %s has %d unacknowledged updates (never delivered)" % (
                        name, t.get("id"), t["unacknowledged_updates"]))
    return v


def check_ha(log, samples, final, n_agents):
    """The HA checks, beside check(): returns (violations, stats).

    samples: LeaderSampler.samples (at most one master may report
    master/elected 1 in a round); final: HaFaultCluster.snapshot()
    (GET_AGENTS on the leader lists the n_agents agents, all active, the
    ones /state lists; the lowest election znode names that leader); log:
    the "failover" and "expiry_exit" records (every failover completed;
    the restarted master is a standby; a leader thawed after its session
    expired exited by itself, non-zero, saying it lost the leadership).
    Pure: reads only its arguments."""
    v = []
    if not samples:
        v.append("leaders: no sample of the masters was taken")
    two = [s for s in samples if len(s["elected"]) > 1]
    for s in two[:20]:
        v.append("two leaders: %s all report master/elected 1 in the sample of %.2fs-%.2fs (answers %s)"
                 % (", ".join(s["elected"]), s["t"], s["t_end"], s["answers"]))
    if samples and not any(len(s["elected"]) == 1 for s in samples):
        v.append("leaders: no sample found a leader")
    ga = final["agents"].get("get_agents", {}).get("agents", [])
    ga_ids = sorted(a.get("agent_info", {}).get("id", {}).get("value", "?") for a in ga)
    st_ids = sorted(a["id"] for a in final["state"].get("slaves", []))
    if len(ga) != n_agents:
        v.append("registry: GET_AGENTS on the leader lists %d agents, expected %d: %s" % (len(ga), n_agents, ga_ids))
    for a in ga:
        if not a.get("active"):
            v.append("registry: GET_AGENTS on the leader lists agent %s inactive"
                     % a.get("agent_info", {}).get("id", {}).get("value", "?"))
    if ga_ids != st_ids:
        v.append("registry: GET_AGENTS lists %s, /state lists %s" % (ga_ids, st_ids))
    zl, leader = final.get("zk_leader"), final.get("leader") or {}
    if zl is None:
        v.append("leaders: no json.info_ znode in ZooKeeper at the end")
    elif "error" in zl or "unparseable" in zl:
        v.append("leaders: cannot read the leader's znode: %s" % zl)
    else:
        port = (zl.get("address") or {}).get("port", zl.get("port"))
        if port != leader.get("port"):
            v.append("leaders: the lowest json.info_ znode names port %s, but %s (port %s) leads"
                     % (port, leader.get("name"), leader.get("port")))
    failovers = [r for r in log if r["kind"] == "failover"]
    downs = [r for r in log if r["kind"] == "fault" and r["action"] in ("kill -9", "freeze")
             and r.get("why") is None and r["target"].startswith("master")]
    if len(failovers) != len(downs):
        v.append("failover: %d leaders killed or frozen, %d failovers timed" % (len(downs), len(failovers)))
    for r in failovers:
        if r.get("agents_secs") is None:
            v.append("failover after the %s of %s did not complete: %s" % (r["cause"], r["old"], r))
        if r.get("restarted_as") != "standby":
            v.append("failover: %s restarted after its %s is not a standby: %s"
                     % (r["old"], r["cause"], r.get("restarted_as")))
    v.extend(check_deposed(log, failovers))
    for r in log:
        if r["kind"] != "expiry_exit":
            continue
        if not r["exited"]:
            v.append("expiry: leader %s still ran %.1fs after SIGCONT past its session timeout"
                     % (r["target"], r["secs_after_thaw"]))
        elif r["code"] == 0:
            v.append("expiry: leader %s exited with status 0 after losing its session" % r["target"])
        if r["exited"] and not r.get("line"):
            v.append("expiry: leader %s exited without logging 'lost leadership'" % r["target"])
    stats = {"samples": len(samples),
             "samples with one leader": sum(1 for s in samples if len(s["elected"]) == 1),
             "samples with no leader": sum(1 for s in samples if not s["elected"]),
             "failovers": failovers}
    return v, stats


def check_deposed(log, failovers):
    """A deposed leader must not act once its successor leads: no status
    update reaches the framework on the old leader's stream, and no call
    is accepted by it, after the moment the successor was seen elected
    (down_t + leader_secs, which is no earlier than the real election:
    it is polled). A killed leader cannot; a frozen one, thawed, must
    exit before it handles anything."""
    v = []
    for fo in failovers:
        if fo.get("leader_secs") is None or not fo.get("old_address"):
            continue
        t_new = fo["down_t"] + fo["leader_secs"]
        subs = [r for r in log if r["kind"] == "subscribed" and r["t"] <= fo["down_t"]]
        if not subs or subs[-1]["master"] != fo["old_address"]:
            continue  # the framework was not on the old leader
        gen = subs[-1].get("gen")
        nxt = next((r["t"] for r in log if r["kind"] == "subscribed" and r["t"] > fo["down_t"]), None)
        # when the update arrived (the reader thread), not when the
        # framework, maybe blocked in a call to the frozen master, got to it
        late = [r for r in log if r["kind"] == "update" and gen is not None and r.get("gen") == gen
                and (r.get("recv_t") or r["t"]) > t_new]
        if late:
            v.append("deposed leader: %s (%s) delivered %d status updates to the framework after %s was "
                     "elected (by %.2fs): %s" % (
                         fo["old"], fo["old_address"], len(late), fo["new"], t_new,
                         ", ".join("%s %s at %.2fs" % (r["task"], r["state"], r.get("recv_t") or r["t"])
                                   for r in late[:5])))
        calls = [r for r in log if r["kind"] == "launch" and r.get("master") == fo["old_address"]
                 and r.get("status") in (200, 202) and r["t"] > t_new and (nxt is None or r["t"] < nxt)]
        if calls:
            v.append("deposed leader: %s (%s) accepted %d launches after %s was elected (by %.2fs): %s" % (
                fo["old"], fo["old_address"], len(calls), fo["new"], t_new,
                ", ".join("%s answered %s at %.2fs" % (r["task"], r["status"], r["t"]) for r in calls[:5])))
    return v


def trail(log, tid):
    """One line per record about task tid: what the framework saw, in order."""
    out = []
    for r in log:
        if r.get("task") != tid:
            continue
        if r["kind"] == "update":
            out.append("#%d %.2fs %s %s uuid=%s agent=%s %s %s" % (
                r["seq"], r["t"], r["kind"], r["state"], "yes" if r.get("uuid") else "no",
                (r.get("agent") or "?")[-3:], r.get("source"), r.get("reason") or ""))
        else:
            out.append("#%d %.2fs %s %s" % (r["seq"], r["t"], r["kind"],
                                           " ".join("%s=%s" % (k, r[k]) for k in ("status", "agent", "master")
                                                    if k in r)))
    return out


def offending_tasks(violations, limit=5):
    """The first task ids the violations name."""
    seen = []
    for x in violations:
        w = x.split()
        if len(w) > 1 and w[0] == "task":
            tid = w[1].rstrip(":")
            if tid not in seen:
                seen.append(tid)
    return seen[:limit]


def summary(title, stats, violations, elapsed, seed, out=sys.stdout, log=None):
    out.write("== %s (seed %s): %d task ids, %d updates (%d reconciliation answers, %d unreachable, "
              "%d back RUNNING), %d relaunches, %d launches lost with a killed master, %d subscriptions, %.1fs\n" % (
                  title, seed, stats["task ids"], stats["updates"], stats["reconciliation answers"],
                  stats["unreachable reports"], stats["back from unreachable"], stats["relaunches"],
                  stats["launches lost with a killed master"], stats["subscriptions"], elapsed))
    out.write("   faults: %s\n" % (", ".join("%.1fs %s %s" % f for f in stats["faults"]) or "none"))
    out.write("   ends of task ids: %s\n" % ", ".join("%s %d" % kv for kv in sorted(stats["ends"].items())))
    if stats["vanished"]:
        out.write("   launched, then unknown to a restarted master: %s\n" % " ".join(stats["vanished"]))
    if violations:
        out.write("   %d VIOLATIONS:\n" % len(violations))
        for x in violations[:200]:
            out.write("   - %s\n" % x)
        for tid in offending_tasks(violations) if log else ():
            out.write("   trail of %s:\n" % tid)
            for line in trail(log, tid):
                out.write("     %s\n" % line)
    else:
        out.write("   no violations\n")
    out.flush()


def summary_ha(stats, violations, out=sys.stdout):
    """The HA part of a scenario's block: the leader samples and each
    failover's figures (docs/ha.md copies them)."""
    out.write("   leader samples: %d (%d with one leader, %d with none), %s\n" % (
        stats["samples"], stats["samples with one leader"], stats["samples with no leader"],
        "never two leaders" if not any(x.startswith("two leaders") for x in violations)
        else "TWO LEADERS AT ONCE"))
    for r in stats["failovers"]:
        out.write("   FAILOVER %s of %s at %.1fs: %s serving after %s s, all %d agents reregistered after "
                  "%s s, framework resubscribed after %s s (%d tasks running); restarted as %s\n" % (
                      r["cause"], r["old"], r["down_t"], r["new"], r["leader_secs"], r["agents"],
                      r["agents_secs"], r.get("framework_secs"), r["running"], r["restarted_as"]))
    out.flush()


def framework_failover_secs(log):
    """Adds "framework_secs" to every failover record: from the leader's
    kill (or freeze) to the framework's next SUBSCRIBED."""
    fos = [r for r in log if r["kind"] == "failover"]
    for fo in fos:
        sub = next((r for r in log if r["kind"] == "subscribed" and r["t"] > fo["down_t"]), None)
        fo["framework_secs"] = round(sub["t"] - fo["down_t"], 2) if sub else None
    return fos
