"""Helpers for Atoll's integration tests: real daemons on 127.0.0.1.

Every daemon is started with --port 0 and a --port-file, in a temporary
directory, and stopped by its own PID when the test ends (also on failure,
when its log is printed). A raw-HTTP Mesos v1 scheduler client is included
so tests can speak the wire protocol without the C library: it is the
"framework that knows nothing about Atoll".
"""

import base64
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ATOLL = os.environ.get("ATOLL", os.path.join(os.path.dirname(__file__), "..", "..", "build", "atoll"))
BUILD = os.environ.get("BUILD", os.path.dirname(ATOLL))


class Daemon:
    def __init__(self, cluster, name, args, env=None):
        self.env = env
        self.name = name
        self.dir = os.path.join(cluster.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "log")
        self.args = args
        self.proc = None
        self.port = None

    def start(self, timeout=10):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [ATOLL] + self.args + ["--port-file", self.port_file],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env=dict(os.environ, **self.env) if self.env else None)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log()))
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    return self
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s did not write its port file:\n%s" % (self.name, self.log()))

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-20000:]
        except OSError:
            return "(no log)"


class Cluster:
    """A master and agents in a temporary directory; use as a context."""

    def __init__(self, agents=1, master_args=(), agent_args=(), resources="cpus:4;mem:4096;disk:4096;ports:[31000-32000]",
                 attributes=None, agent_env=None, allow_root=True):
        """attributes: a function agent index -> attribute text (default
        "rack:r<i+1>"); agent_env: extra environment of the agents;
        allow_root: start the agents with --allow-root-tasks (the tests'
        frameworks run their tasks as root)."""
        self.dir = tempfile.mkdtemp(prefix="atoll-it-")
        self.daemons = []
        self.master = Daemon(self, "master", ["master", "--port", "0", "--log-level", "debug"] + list(master_args))
        self.daemons.append(self.master)
        self.agents = []
        for i in range(agents):
            d = Daemon(self, "agent%d" % i,
                       ["agent", "--port", "0", "--work-dir", os.path.join(self.dir, "agent%d" % i, "work"),
                        "--resources", resources, "--hostname", "agent%d" % i,
                        "--attributes", attributes(i) if attributes else "rack:r%d" % (i + 1),
                        "--log-level", "debug"] + (["--allow-root-tasks"] if allow_root else [])
                       + list(agent_args), env=agent_env)
            self.agents.append(d)
            self.daemons.append(d)
        self.ok = False

    def __enter__(self):
        try:
            self.master.start()
            for a in self.agents:
                a.args += ["--master", self.master.address]
                a.start()
            wait_for(lambda: len(self.state()["slaves"]) == len(self.agents), 10, "agents registered")
        except BaseException:
            self.dump()
            self.close()
            raise
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.dump()
        bad = self.close()
        if bad and et is None:
            raise AssertionError("sanitizer report in the log of %s:\n%s" % bad)
        return False

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def close(self):
        """Stops the daemons; returns (name, log) of the first daemon whose
        log has a sanitizer report (builds with SANITIZE=...), else None."""
        bad = None
        for d in reversed(self.daemons):
            d.stop()
        self.kill_leftovers()
        for d in self.daemons:
            log = d.log()
            if bad is None and any(m in log for m in self.SANITIZER_MARKS):
                bad = (d.name, log)
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        return bad

    def kill_leftovers(self):
        """Executors of checkpointing frameworks outlive their agent by
        design (recovery); a test must not leave them behind. Kills every
        process working in this cluster's directory (executors and tasks
        run in their sandboxes), then removes the container cgroups their
        agents could no longer remove."""
        for _ in range(3):
            found = False
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == os.getpid():
                    continue
                try:
                    cwd = os.readlink("/proc/%s/cwd" % pid)
                except OSError:
                    continue
                if cwd == self.dir or cwd.startswith(self.dir + "/"):
                    found = True
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            if not found:
                break
            time.sleep(0.2)
        # Volumes the agents did not get to unmount (a failed test): a
        # test leaves no mount behind.
        try:
            with open("/proc/self/mountinfo") as f:
                points = [l.split()[4] for l in f]
        except OSError:
            points = []
        for p in reversed(points):
            if p.startswith(self.dir + "/"):
                subprocess.run(["umount", "-l", p], capture_output=True)
        runs = set()
        for root, dirs, _ in os.walk(self.dir):
            if os.path.basename(root) == "runs":
                runs.update(d for d in dirs if d != "latest")
        for h in ("cpu", "cpuacct", "memory", "pids", "unified", ""):
            base = os.path.join("/sys/fs/cgroup", h, "atoll")
            for r in runs:
                try:
                    os.rmdir(os.path.join(base, r))
                except OSError:
                    pass

    def dump(self):
        for d in self.daemons:
            sys.stderr.write("----- log of %s -----\n%s\n" % (d.name, d.log()))

    def get(self, path, daemon=None):
        d = daemon or self.master
        return http_request(d.port, "GET", path)

    def state(self):
        st, _, body = self.get("/state")
        assert st == 200, (st, body)
        return json.loads(body)

    def start_services(self, args=(), name="services"):
        """Starts `atoll services` against this cluster's master (its store
        in <dir>/<name>); returns a Marathon client for it."""
        d = Daemon(self, name, ["services", "--port", "0", "--master", self.master.address,
                                "--work-dir", os.path.join(self.dir, name, "work"),
                                "--log-level", "debug"] + list(args))
        self.daemons.insert(1, d)  # stopped before the master
        d.start()
        m = Marathon(d)
        # In HA mode (--zk) it answers only once elected.
        wait_for(lambda: m.req("GET", "/v2/info")[0] == 200, 30, "the services framework leading")
        return m


class Marathon:
    """A client of the Marathon v2 REST API of `atoll services`."""

    def __init__(self, daemon):
        self.daemon = daemon

    @property
    def port(self):
        return self.daemon.port

    def req(self, method, path, body=None, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        st, hdrs, data = http_request(self.port, method, path, body, h)
        try:
            data = json.loads(data) if data else None
        except ValueError:
            pass
        return st, hdrs, data

    def ok(self, method, path, body=None, codes=(200, 201)):
        st, _, data = self.req(method, path, body)
        assert st in codes, (method, path, st, data)
        return data

    def tasks(self, app=None):
        path = "/v2/apps%s/tasks" % app if app else "/v2/tasks"
        return self.ok("GET", path)["tasks"]

    def deployments(self):
        return self.ok("GET", "/v2/deployments")

    def wait_deployed(self, timeout=30):
        wait_for(lambda: self.deployments() == [], timeout, "deployments done")

    def wait_running(self, app, n, timeout=30):
        return wait_for(lambda: (lambda ts: ts if len(ts) == n and all(t["state"] == "TASK_RUNNING" for t in ts)
                                 else None)(self.tasks(app)), timeout, "%d running tasks of %s" % (n, app))


class SSE:
    """Reads a Server-Sent Events stream in a thread: events are
    (id, type, data-dict) tuples on .events (a queue)."""

    def __init__(self, port, path="/v2/events", last_event_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        h = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status
        self.events = queue.Queue()
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _lines(self):
        """The body's lines as they arrive: the response is chunked, and
        http.client's readline() would wait for more than one chunk."""
        fp = self.resp.fp
        chunked = self.resp.chunked
        pending = b""
        while True:
            if chunked:
                size = int(fp.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    return
                data = fp.read(size)
                fp.readline()  # CRLF after the chunk
            else:
                data = fp.read1(65536)
                if not data:
                    return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line.decode().rstrip("\r")

    def _run(self):
        ev = {}
        try:
            for line in self._lines():
                if line == "":
                    if "data" in ev:
                        self.events.put((int(ev.get("id", "0")), ev.get("event"), json.loads(ev["data"])))
                    ev = {}
                elif line.startswith(":"):
                    continue
                else:
                    k, _, v = line.partition(": ")
                    ev[k] = v
        except Exception:
            pass
        self.events.put(None)

    def next(self, timeout=10):
        e = self.events.get(timeout=timeout)
        if e is None:
            raise AssertionError("event stream ended")
        return e

    def close(self):
        # Shut the socket down first: the reader thread is blocked in a
        # read on the same buffered file, which close() would wait for.
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            self.resp.close()
            self.conn.close()
        except Exception:
            pass


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # keep polling; report the last error
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last error: %r)" % (what, last))


def http_request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data.decode(errors="replace")
    finally:
        c.close()


def call(port, body, stream_id=None, content_type="application/json", path="/api/v1/scheduler"):
    h = {}
    if content_type:
        h["Content-Type"] = content_type
    if stream_id:
        h["Mesos-Stream-Id"] = stream_id
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return http_request(port, "POST", path, body, h)


class RawScheduler:
    """A Mesos v1 scheduler speaking raw HTTP + RecordIO (no Atoll code)."""

    def __init__(self, port, framework_info, path="/api/v1/scheduler"):
        self.port = port
        self.path = path
        self.info = framework_info
        self.events = queue.Queue()
        self.framework_id = framework_info.get("id", {}).get("value")
        self.stream_id = None
        self.conn = None
        self.thread = None
        self.status = None

    def subscribe(self, timeout=10):
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.info}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
            self.info["id"] = {"value": self.framework_id}
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request("POST", self.path, json.dumps(body),
                          {"Content-Type": "application/json", "Accept": "application/json"})
        r = self.conn.getresponse()
        self.status = r.status
        if r.status != 200:
            return r.status, r.read().decode()
        self.stream_id = r.getheader("Mesos-Stream-Id")
        self.resp = r
        self.thread = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.thread.start()
        ev = self.expect("SUBSCRIBED", timeout)
        self.framework_id = ev["subscribed"]["framework_id"]["value"]
        return 200, ev

    def _read(self, r):
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    ch = r.read(1)
                    if not ch:
                        self.events.put(None)
                        return
                    line += ch
                n = int(line)
                data = b""
                while len(data) < n:
                    chunk = r.read(n - len(data))
                    if not chunk:
                        self.events.put(None)
                        return
                    data += chunk
                self.events.put(json.loads(data))
        except Exception:
            self.events.put(None)

    def close(self):
        if self.conn:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass
            self.conn.close()
            self.conn = None

    def next_event(self, timeout=10, skip=("HEARTBEAT",)):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no event within %ss" % timeout)
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                raise AssertionError("no event within %ss" % timeout)
            if ev is None:
                return None
            if ev.get("type") in skip:
                continue
            return ev

    def expect(self, etype, timeout=10, pred=None, others=None):
        """Waits for an event of etype (matching pred); others collects
        the events skipped on the way."""
        deadline = time.time() + timeout
        while True:
            ev = self.next_event(max(0.01, deadline - time.time()))
            if ev is None:
                raise AssertionError("stream closed while waiting for %s" % etype)
            if ev.get("type") == etype and (pred is None or pred(ev)):
                return ev
            if others is not None:
                others.append(ev)

    def call(self, ctype, payload=None, stream_id=None):
        body = {"framework_id": {"value": self.framework_id}, "type": ctype}
        if payload is not None:
            body[ctype.lower()] = payload
        return call(self.port, body, stream_id or self.stream_id)

    def ack(self, status):
        if "uuid" not in status:
            return None
        st, _, body = self.call("ACKNOWLEDGE", {"agent_id": status["agent_id"],
                                                 "task_id": status["task_id"],
                                                 "uuid": status["uuid"]})
        assert st == 202, (st, body)
        return st


def scalar(resources, name):
    return sum(r["scalar"]["value"] for r in resources if r["name"] == name and r.get("type") == "SCALAR")


def task_info(task_id, offer, cmd, cpus=0.1, mem=32, shell=True, extra=None):
    role = offer.get("allocation_info", {}).get("role", "*")
    t = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
         "command": {"shell": shell, "value": cmd},
         "resources": [
             {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*", "allocation_info": {"role": role}},
             {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "role": "*", "allocation_info": {"role": role}}]}
    if extra:
        t.update(extra)
    return t


def launch(sched, offer, tasks, refuse=5.0):
    return sched.call("ACCEPT", {"offer_ids": [offer["id"]],
                                 "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                                 "filters": {"refuse_seconds": refuse}})


def run_tests(tests):
    """Runs test functions; prints a summary; exits non-zero on failure."""
    failed = 0
    only = os.environ.get("TEST_ONLY")
    for t in tests:
        if only and only not in t.__name__:
            continue
        t0 = time.time()
        try:
            t()
            print("ok   %-50s %.2fs" % (t.__name__, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-50s %.2fs" % (t.__name__, time.time() - t0), flush=True)
            traceback.print_exc()
    sys.exit(1 if failed else 0)


def b64uuid_bytes(s):
    return base64.b64decode(s)
