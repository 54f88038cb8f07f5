"""The store's ZooKeeper backend against a real ZooKeeper server.

Starts Debian's ZooKeeper on a free loopback port (zkserver.py) and runs
the unit test build/tests/test_store_zk with ATOLL_ZK=127.0.0.1:PORT:
round trips, the znode layout, scan order equal to SQLite's, atomic
transactions, -EFBIG, reopen, the schema version, and a session expiry
(see the top of tests/unit/test_store_zk.c). Fails when the binary is
missing or when any ZooKeeper test was skipped or did not pass; skips
(with a message) only when java or the ZooKeeper jar is missing.
"""

import os
import subprocess
import sys

import zkserver

BUILD = os.environ.get("BUILD", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
TEST_BIN = os.environ.get("TEST_STORE_ZK",
                          os.path.join(BUILD, "tests", "test_store_zk"))

# Every ZooKeeper test of the binary: each must report OK.
ZK_TESTS = (
    "test_zk_round_trip",
    "test_zk_too_big",
    "test_zk_scan_order_matches_sqlite",
    "test_zk_transactions",
    "test_zk_multi_atomic",
    "test_zk_reopen_and_share",
    "test_zk_meta_and_foreign",
    "test_zk_bad_arguments",
    "test_zk_session_expiry",
)


def main():
    why = zkserver.missing()
    if why:
        print("SKIP test_store_zk: %s" % why)
        return 0
    if not os.path.exists(TEST_BIN):
        print("FAIL test_store_zk: %s not built "
              "(make build/tests/test_store_zk)" % TEST_BIN)
        return 1
    with zkserver.ZkServer() as zk:
        env = dict(os.environ, ATOLL_ZK=zk.address)
        r = subprocess.run([TEST_BIN], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        out = r.stdout.decode(errors="replace")
        print(out)
        if r.returncode != 0:
            print("FAIL test_store_zk: %s exited with %d"
                  % (TEST_BIN, r.returncode))
            print("---- zookeeper log ----\n%s" % zk.log())
            return 1
        if "SKIPPED" in out:
            print("FAIL test_store_zk: ZooKeeper tests were skipped")
            return 1
        for name in ZK_TESTS:
            if "[       OK ] %s" % name not in out:
                print("FAIL test_store_zk: %s did not pass" % name)
                return 1
    print("OK test_store_zk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
