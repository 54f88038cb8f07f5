/*
 * zk.h: a thin ZooKeeper client on Atoll's libuv loop.
 *
 * It wraps the ZooKeeper C client (multi-threaded flavour, libzookeeper_mt):
 * that library runs its own I/O and completion threads and calls watchers
 * and completions there. zk.c copies every result into a record, queues it
 * under a mutex and wakes the loop (uv_async); so every zk_* callback
 * below runs on the loop thread, never concurrently with the caller.
 *
 * Also here: zk:// URL parsing ("zk://h1:2181,h2:2181/path"), shared by
 * the leader contender and detector (lib/leader.h) and every client that
 * accepts a zk:// master address.
 *
 * Rules for callers:
 * - Every function is called on the loop thread.
 * - No callback of a handle runs after zk_free() returned; pending
 *   operations are dropped (their callbacks never run).
 * - After ZK_SESSION_EXPIRED (or ZK_SESSION_AUTH_FAILED) the handle is
 *   dead: operations fail with ZK_RC_SESSION_EXPIRED; free it and make
 *   a new one (a new session, with no ephemeral znodes).
 * - Return codes of operations are ZooKeeper's (ZOK = 0, ZNONODE, ...):
 *   the ZK_RC_* constants below name the ones callers test.
 */
#ifndef ATOLL_ZK_H
#define ATOLL_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct err;
struct zk;

/* ---- zk:// URLs --------------------------------------------------------- */

struct zk_url {
	/* The connect string of the ZooKeeper C client: "h1:2181,h2:2181"
	 * (a missing port is filled in with 2181). */
	char *hosts;
	/* The znode path: starts with '/', no trailing '/', not "/". */
	char *path;
};

/* True when text starts with "zk://" (case-insensitive). */
bool zk_url_is_zk(const char *text);
/*
 * Parses "zk://host[:port][,host[:port]...]/path". IPv6 hosts go in
 * brackets ("[::1]:2181"). Credentials ("zk://user:pass@...") are refused
 * for now, as are empty hosts, bad ports, the root path "/", and paths with
 * empty, "." or ".." segments, control characters, '?' or '#'. On success
 * fills *url (release with zk_url_release) and returns 0; else returns
 * -EINVAL with e naming the part and the reason.
 */
int zk_url_parse(const char *text, struct zk_url *url, struct err *e)
    __attribute__((warn_unused_result));
void zk_url_release(struct zk_url *url);

/* ---- the client --------------------------------------------------------- */

/* Return codes (the ZooKeeper C client's, repeated so that callers need
 * not include its header). */
enum {
	ZK_RC_OK = 0,
	ZK_RC_CONNECTION_LOSS = -4,
	ZK_RC_OPERATION_TIMEOUT = -7,
	ZK_RC_NO_NODE = -101,
	ZK_RC_NODE_EXISTS = -110,
	ZK_RC_NOT_EMPTY = -111,
	ZK_RC_SESSION_EXPIRED = -112,
	ZK_RC_CLOSING = -116,
};

/* Node flags for zk_create. */
enum zk_create_flags {
	ZK_EPHEMERAL = 1 << 0,
	ZK_SEQUENCE = 1 << 1,
};

enum zk_session_event {
	/* Connected (first time or again): the session is usable. */
	ZK_SESSION_CONNECTED,
	/* The connection dropped; the client is reconnecting and the
	 * session (and its ephemeral znodes) may survive. */
	ZK_SESSION_CONNECTING,
	/* The server expired the session: ephemeral znodes are gone. */
	ZK_SESSION_EXPIRED,
	/* Authentication failed: the handle is dead. */
	ZK_SESSION_AUTH_FAILED,
};

enum zk_watch_event {
	ZK_WATCH_CREATED,
	ZK_WATCH_DELETED,
	ZK_WATCH_CHANGED,
	ZK_WATCH_CHILD,
	ZK_WATCH_OTHER,
};

/*
 * A session event. at is uv_hrtime() (ns) of the moment the ZooKeeper
 * thread saw it, which may be earlier than the callback.
 */
typedef void zk_session_fn(struct zk *zk, enum zk_session_event ev,
                           uint64_t at, void *arg);
/* A one-shot watch fired for path. */
typedef void zk_watch_fn(struct zk *zk, enum zk_watch_event ev,
                         const char *path, void *arg);
/* zk_create done: path is the created znode's path (with its sequence
 * number for ZK_SEQUENCE) when rc == ZK_RC_OK, else NULL. */
typedef void zk_create_fn(struct zk *zk, int rc, const char *path, void *arg);
/* zk_get_children done: names (not paths) of the n children. */
typedef void zk_children_fn(struct zk *zk, int rc, char *const *names,
                            size_t n, void *arg);
/* zk_get done: the znode's data (NUL-terminated copy; len bytes). */
typedef void zk_data_fn(struct zk *zk, int rc, const char *data, size_t len,
                        void *arg);
/* zk_exists done: rc ZK_RC_OK (exists; ephemeral_owner is the session id
 * owning an ephemeral znode, 0 else) or ZK_RC_NO_NODE. */
typedef void zk_exists_fn(struct zk *zk, int rc, int64_t ephemeral_owner,
                          void *arg);
/* zk_delete done. */
typedef void zk_done_fn(struct zk *zk, int rc, void *arg);

/*
 * Starts a session with hosts (a zk_url's connect string), session_timeout
 * seconds (the server bounds it to [2, 20] of its ticks). Session events
 * go to on_session. Returns the handle, or NULL with e set when the client
 * cannot be created (e.g. hosts do not resolve).
 */
struct zk *zk_new(uv_loop_t *loop, const char *hosts, double session_timeout,
                  zk_session_fn *on_session, void *arg, struct err *e);
/*
 * Closes the session (its ephemeral znodes go at once when connected) and
 * frees the handle. The close runs off the loop (it can block); the loop
 * must run until it ends. NULL is a no-op. Allowed from inside a callback
 * of the same handle: no further callback runs.
 */
void zk_free(struct zk *zk);
bool zk_is_connected(const struct zk *zk);
/* The session id (0 before the first connection). */
int64_t zk_session_id(const struct zk *zk);
/* The negotiated session timeout in seconds (the requested one before
 * the first connection). */
double zk_session_timeout(const struct zk *zk);
/* ZooKeeper's message for a return code ("no node", ...). */
const char *zk_strerror(int rc);

/*
 * Asynchronous operations. Each returns 0 (cb will run, unless zk_free()
 * comes first) or a ZooKeeper return code when nothing was sent (cb will
 * not run). Watches (watch_cb non-NULL) are one-shot; they fire for node
 * events only, never for session events.
 */
int zk_create(struct zk *zk, const char *path, const void *data, size_t len,
              enum zk_create_flags flags, zk_create_fn *cb, void *arg)
    __attribute__((warn_unused_result));
int zk_delete(struct zk *zk, const char *path, zk_done_fn *cb, void *arg)
    __attribute__((warn_unused_result));
int zk_get(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
           zk_data_fn *cb, void *arg) __attribute__((warn_unused_result));
int zk_exists(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
              zk_exists_fn *cb, void *arg)
    __attribute__((warn_unused_result));
int zk_get_children(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
                    zk_children_fn *cb, void *arg)
    __attribute__((warn_unused_result));
/*
 * Creates path and its missing ancestors as persistent empty znodes
 * (existing ones are fine); cb gets ZK_RC_OK or the first failure.
 */
int zk_create_parents(struct zk *zk, const char *path, zk_done_fn *cb,
                      void *arg) __attribute__((warn_unused_result));

#endif
