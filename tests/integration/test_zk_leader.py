"""Leader election and detection against a real ZooKeeper server.

Starts Debian's ZooKeeper on a free loopback port (zkserver.py) and runs
the ZooKeeper half of the unit test build/tests/test_leader with
ATOLL_ZK=127.0.0.1:PORT: two contenders (first elected, second not), the
Mesos znode format read back, the detector following a handover, and a
paused leader whose session expires (the standby takes over; the old
leader reports it lost), and a zk:// subscriber aiming at the leader and
moving when it changes. Skips with a message when java or the ZooKeeper
jar is missing, or the test binary was not built.
"""

import os
import subprocess
import sys

import zkserver

BUILD = os.environ.get("BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
TEST_LEADER = os.environ.get("TEST_LEADER", os.path.join(BUILD, "tests", "test_leader"))


def main():
    why = zkserver.missing()
    if why:
        print("SKIP test_zk_leader: %s" % why)
        return 0
    if not os.path.exists(TEST_LEADER):
        print("SKIP test_zk_leader: %s not built (make %s)" % (TEST_LEADER, "build/tests/test_leader"))
        return 0
    with zkserver.ZkServer() as zk:
        env = dict(os.environ, ATOLL_ZK=zk.address)
        r = subprocess.run([TEST_LEADER], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        out = r.stdout.decode(errors="replace")
        print(out)
        if r.returncode != 0:
            print("FAIL test_zk_leader: test_leader exited with %d" % r.returncode)
            print("---- zookeeper log ----\n%s" % zk.log())
            return 1
        # The ZooKeeper tests must have run, not been skipped.
        if "SKIPPED" in out:
            print("FAIL test_zk_leader: ZooKeeper tests were skipped")
            return 1
        for name in ("test_zk_two_contenders", "test_zk_paused_leader_expires",
                     "test_zk_subscriber_follows_leader"):
            if "[       OK ] %s" % name not in out:
                print("FAIL test_zk_leader: %s did not pass" % name)
                return 1
    print("OK test_zk_leader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
