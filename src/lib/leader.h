/*
 * leader.h: master leader election and leader detection in ZooKeeper, in
 * the znode format of Mesos, so that Mesos-aware tools find an Atoll
 * leader and Atoll finds a Mesos one.
 *
 * The format (Mesos's zookeeper::Group with the "json.info" label):
 * under the path of the zk:// URL each master creates an ephemeral,
 * sequential znode named "json.info_" + a 10-digit sequence number
 * ("json.info_0000000007") holding its MasterInfo as JSON:
 *
 *   {"id":"...","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050",
 *    "hostname":"m1","version":"1.11.0",
 *    "address":{"hostname":"m1","ip":"127.0.0.1","port":5050}}
 *
 * (ip is the IPv4 address as a uint32 in network byte order, read as a
 * host integer: 127.0.0.1 is 16777343 on x86.) The leader is the master
 * whose znode has the lowest sequence number. Other children of the path
 * (Mesos's "log_replicas", the legacy protobuf "info_" znodes) are not
 * candidates here.
 *
 * Both objects run on the caller's libuv loop; every callback runs on the
 * loop thread. Neither may be freed from inside its own callback: stop
 * using it there and free it afterwards (e.g. from a timer).
 */
#ifndef ATOLL_LEADER_H
#define ATOLL_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct err;

/* The label of MasterInfo JSON znodes (Mesos's MASTER_INFO_JSON_LABEL). */
#define LEADER_LABEL "json.info"
/* Mesos's default ZooKeeper session timeout, seconds. */
#define LEADER_DEFAULT_SESSION_TIMEOUT 10.0

/* ---- MasterInfo --------------------------------------------------------- */

/* A master as published in its znode. Strings are heap copies. */
struct leader_info {
	int64_t sequence; /* of its znode, -1 when unknown */
	char *id;
	char *hostname;   /* may be NULL */
	char *ip;         /* dotted IPv4 text */
	int port;
	char *pid;        /* "master@ip:port", may be NULL */
	char *version;    /* may be NULL */
	/* Where to send HTTP: "host:port" ("[v6]:port"), taken from
	 * address.ip, else address.hostname, else pid, else ip + port. */
	char *endpoint;
	char *json;       /* the znode's data as read */
};

/*
 * Parses a MasterInfo JSON object (len bytes, need not be NUL-terminated).
 * Requires "id" (string), "ip" (integer in [0, 2^32)) and "port" (integer
 * in [1, 65535]) as Mesos does; checks the optional fields' types and
 * address.port. Fills *info (release with leader_info_release; sequence
 * is set to -1) and returns 0, or -EINVAL with e naming the field.
 */
int leader_info_parse(const char *json, size_t len, struct leader_info *info,
                      struct err *e) __attribute__((warn_unused_result));
void leader_info_release(struct leader_info *info);
/* Deep copy of src into dst. */
void leader_info_copy(struct leader_info *dst, const struct leader_info *src);

/*
 * The sequence number of a child name "json.info_<digits>" (the Mesos
 * label, '_', 1 to 10 digits, nothing else), or -1 for any other name.
 */
int64_t leader_znode_sequence(const char *name);

/* ---- contender ---------------------------------------------------------- */

struct leader_contender;

enum leader_event {
	/* This contender's znode has the lowest sequence: act as leader. */
	LEADER_ELECTED,
	/* The candidacy is over for good (see below); stop acting as
	 * leader at once. */
	LEADER_LOST,
};

/* why: a message for the log (NULL for LEADER_ELECTED). */
typedef void leader_contender_fn(struct leader_contender *c,
                                 enum leader_event ev, const char *why,
                                 void *arg);

struct leader_contender_opts {
	const char *zk;          /* "zk://hosts/path" */
	const char *master_info; /* MasterInfo JSON, the znode's data */
	double session_timeout;  /* seconds; default 10 */
	/*
	 * LEADER_LOST fires after the connection has been down for this
	 * fraction of the negotiated session timeout; default 0.25. Must be
	 * in (0, 1/3]: see leader.c for why 1/3 is the limit.
	 */
	double disconnect_fraction;
};

/*
 * Joins the election: connects, creates the path's missing znodes and an
 * ephemeral sequential "json.info_" znode holding master_info, and watches
 * the znode just before its own (no herd effect: one watcher per change).
 * LEADER_ELECTED fires once, when this znode becomes the lowest.
 *
 * LEADER_LOST fires exactly once and ends the candidacy, elected or not
 * (the contender then closes its session, so its znode goes away):
 *   - on ZOO_EXPIRED_SESSION_STATE (the server expired the session: the
 *     znode is gone and another contender may already lead);
 *   - when the connection has been lost for longer than
 *     disconnect_fraction x the session timeout, counted from when the
 *     client reported the loss (the server may expire the session soon
 *     after; another contender is elected right then);
 *   - on an authentication failure, when its znode is deleted by someone
 *     else, or on a ZooKeeper error that cannot be retried.
 * A contender that lost never contends again; create a new one.
 *
 * Returns NULL with e set for a bad zk:// URL or master_info that is not
 * a JSON object.
 */
struct leader_contender *
leader_contender_new(uv_loop_t *loop, const struct leader_contender_opts *opts,
                     leader_contender_fn *cb, void *arg, struct err *e);
/* Withdraws (closes the session: the znode goes at once when connected)
 * and frees. NULL is a no-op. */
void leader_contender_free(struct leader_contender *c);
bool leader_contender_is_leader(const struct leader_contender *c);
/* The full path of this contender's znode, or NULL before it exists. */
const char *leader_contender_znode(const struct leader_contender *c);

/* ---- detector ----------------------------------------------------------- */

struct leader_detector;

/*
 * The leader changed: its MasterInfo (borrowed for the call), or NULL when
 * there is no leader (no candidate znode, or the lowest one's data is not
 * a valid MasterInfo, which is logged).
 */
typedef void leader_detector_fn(struct leader_detector *d,
                                const struct leader_info *leader, void *arg);

/*
 * Watches the children of the zk:// URL's path and reports the current
 * leader's MasterInfo whenever it changes (not before the first reading).
 * A lost connection keeps the last leader; an expired session is replaced
 * by a new one. A path that does not exist yet is waited for. Returns NULL
 * with e set for a bad URL. session_timeout <= 0 means 10 s.
 */
struct leader_detector *leader_detector_new(uv_loop_t *loop, const char *zk,
                                            double session_timeout,
                                            leader_detector_fn *cb, void *arg,
                                            struct err *e);
void leader_detector_free(struct leader_detector *d);
/* The current leader, or NULL (none, or not known yet). */
const struct leader_info *
leader_detector_leader(const struct leader_detector *d);

#endif
