/*
 * up.h: `atoll up`, a whole local cluster in one command for development
 * and demos: a master and N agents (hostnames agent1..agentN, attributes
 * rack:rI;zone:zK), supervised as child processes of the same binary, with
 * their logs streamed to stdout under a name prefix and kept in
 * <data-dir>/<name>.log. State lives under --data-dir, so a second
 * `atoll up` on the same directory resumes the same agents.
 */
#ifndef ATOLL_UP_H
#define ATOLL_UP_H

/*
 * Entry point of `atoll up` (argv holds the flags after "up"). Runs until
 * SIGINT or SIGTERM, then stops every child (SIGTERM, SIGKILL after 10 s)
 * and returns 0; returns 2 on a bad flag and 1 when the cluster could not
 * start (a child exited during start-up, the data dir is unusable or
 * already in use by another `atoll up`).
 */
int up_main(int argc, char **argv);

#endif
