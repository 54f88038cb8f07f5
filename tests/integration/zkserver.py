"""A throw-away ZooKeeper server on 127.0.0.1 for integration tests.

Debian's 'zookeeper' package (3.8) run standalone: a zoo.cfg in a fresh
temporary directory, a free loopback port, ZooKeeperServerMain started
with java directly (the packaged service and /etc/zookeeper are left
alone). The server is stopped by its own PID, and its directory removed,
when the context ends, also on failure.

    with ZkServer() as zk:
        zk.address      # "127.0.0.1:PORT"
        zk.url("/atoll")  # "zk://127.0.0.1:PORT/atoll"

missing() returns why a server cannot be started here (no java, no
ZooKeeper jar), or None; tests print it and skip.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

# Debian's layout of the 'zookeeper' package.
ZK_JAR = os.environ.get("ZK_JAR", "/usr/share/java/zookeeper.jar")
ZK_CONF = os.environ.get("ZK_CONF", "/etc/zookeeper/conf")
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"


def missing():
    """Why no server can be started here, or None."""
    if not shutil.which("java"):
        return "java not found (apt-get install zookeeper)"
    if not os.path.exists(ZK_JAR):
        return "%s not found (apt-get install zookeeper)" % ZK_JAR
    return None


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def four_letter(port, word, timeout=2.0):
    """Sends a four-letter command ('ruok', 'srvr', ...); returns the text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(word.encode())
        out = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return out.decode(errors="replace")
            out += chunk


class ZkServer:
    def __init__(self, tick_ms=500, start_timeout=60):
        # A short tick lets tests use short session timeouts: the server
        # bounds them to [2, 20] ticks.
        self.tick_ms = tick_ms
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = None
        self.port = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def url(self, path):
        return "zk://%s%s" % (self.address, path)

    def log(self):
        try:
            with open(os.path.join(self.dir, "zk.log"), errors="replace") as f:
                return f.read()[-8000:]
        except (OSError, TypeError):
            return ""

    def _write_config(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(self.dir, "zoo.cfg"), "w") as f:
            f.write("tickTime=%d\n" % self.tick_ms)
            f.write("dataDir=%s\n" % data)
            f.write("clientPort=%d\n" % self.port)
            f.write("clientPortAddress=127.0.0.1\n")
            f.write("admin.enableServer=false\n")
            f.write("4lw.commands.whitelist=ruok,srvr,mntr,stat,cons\n")
            f.write("maxSessionTimeout=%d\n" % (self.tick_ms * 40))

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="atoll-zk-")
        self.port = _free_port()
        self._write_config()
        log = open(os.path.join(self.dir, "zk.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                ["java", "-Xmx256m",
                 "-Dzookeeper.log.dir=" + self.dir,
                 "-Dzookeeper.root.logger=INFO,CONSOLE",
                 "-cp", "%s:%s" % (ZK_CONF, ZK_JAR), MAIN,
                 os.path.join(self.dir, "zoo.cfg")],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("zookeeper exited with %s:\n%s"
                                   % (self.proc.returncode, self.log()))
            try:
                if four_letter(self.port, "ruok") == "imok":
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("zookeeper not ready after %ss:\n%s"
                           % (self.start_timeout, self.log()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        try:
            self.stop()
        finally:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, et, ev, tb):
        if et is not None and self.dir:
            print("---- zookeeper log (%s) ----\n%s" % (self.dir, self.log()))
        self.close()
