#!/usr/bin/env python3
"""The fetcher end to end (issue 4): a URI served by a local HTTP server is
fetched, extracted and cached by a real agent's executor (the second task
is served from the cache: the server sees one request), and a malicious
archive is refused with REASON_FETCHER_FAILURE, leaving nothing outside the
sandbox. The HTTP server and the archives are made here, independent of
Atoll's code."""

import http.server
import io
import os
import tarfile
import threading

from atolltest import Cluster, RawScheduler, run_tests, task_info

FW = {"user": "root", "name": "fetch-test"}


class Server:
    """A threaded HTTP server over a directory that counts requests."""

    def __init__(self, root):
        self.hits = {}
        hits = self.hits

        class H(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=root, **kw)

            def do_GET(self):
                hits[self.path] = hits.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_tar(path, entries):
    """entries: [(name, text)]; names are taken as given (even '../x')."""
    with tarfile.open(path, "w:gz") as t:
        for name, text in entries:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def run_task(s, tid, cmd, uris):
    o = s.expect("OFFERS")["offers"]["offers"][0]
    ti = task_info(tid, o, cmd, extra={"command": {"shell": True, "value": cmd, "uris": uris}})
    st, _, body = s.call("ACCEPT", {"offer_ids": [o["id"]],
                                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": [ti]}}],
                                    "filters": {"refuse_seconds": 0}})
    assert st == 202, body
    while True:
        u = s.expect("UPDATE", 30)["update"]["status"]
        if u.get("uuid"):
            s.ack(u)
        if u["task_id"]["value"] == tid and u["state"] not in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"):
            return u


def sandbox_file(c, tid, name):
    for root, _, files in os.walk(os.path.join(c.dir, "agent0", "work")):
        if "/executors/%s/" % tid in root + "/" and name in files and "/runs/" in root:
            with open(os.path.join(root, name)) as f:
                return f.read()
    return None


def test_fetch_extract_and_cache():
    with Cluster(agents=1) as c:
        root = os.path.join(c.dir, "www")
        os.makedirs(root)
        make_tar(os.path.join(root, "app.tar.gz"), [("app/hello.txt", "hello from the archive\n")])
        srv = Server(root)
        try:
            s = RawScheduler(c.master.port, dict(FW))
            assert s.subscribe()[0] == 200
            uri = {"value": srv.url("app.tar.gz"), "extract": True, "cache": True}
            for tid in ("first", "second"):
                u = run_task(s, tid, "cat app/hello.txt > out", [uri])
                assert u["state"] == "TASK_FINISHED", u
                assert sandbox_file(c, tid, "out") == "hello from the archive\n", tid
            # The second fetch came from the agent's cache.
            assert srv.hits == {"/app.tar.gz": 1}, srv.hits
            s.close()
        finally:
            srv.close()


def test_malicious_archive_is_refused():
    with Cluster(agents=1) as c:
        root = os.path.join(c.dir, "www")
        os.makedirs(root)
        make_tar(os.path.join(root, "evil.tar.gz"), [("ok.txt", "fine\n"), ("../../escaped.txt", "gotcha\n")])
        srv = Server(root)
        try:
            s = RawScheduler(c.master.port, dict(FW))
            assert s.subscribe()[0] == 200
            u = run_task(s, "evil", "true", [{"value": srv.url("evil.tar.gz"), "extract": True}])
            assert u["state"] == "TASK_FAILED", u
            assert u["reason"] == "REASON_FETCHER_FAILURE", u
            assert "escaped.txt" in u["message"], u
            # Nothing escaped, and nothing of the archive was extracted.
            for root_, _, files in os.walk(c.dir):
                assert "escaped.txt" not in files, root_
            assert sandbox_file(c, "evil", "ok.txt") is None
            s.close()
        finally:
            srv.close()


if __name__ == "__main__":
    run_tests([test_fetch_extract_and_cache, test_malicious_archive_is_refused])
