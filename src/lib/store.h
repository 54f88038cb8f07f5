/*
 * store.h: durable key-value storage for what must survive a restart (the
 * master's registry, the services framework's apps, deployments and
 * tasks). The default backend is an embedded SQLite database in WAL mode
 * with synchronous=FULL: a put that returned 0 survives a crash of the
 * process or the machine.
 *
 * Data model: namespaces ("agents", "apps", "tasks", ...) of keys
 * (non-empty UTF-8 text) mapped to opaque values (usually JSON text).
 * Writes outside a transaction commit one by one; store_begin() ..
 * store_commit() batches several writes into one atomic, one-fsync
 * commit (use it whenever one logical change touches several keys).
 *
 * Errors are negative errnos with a message in the struct err naming the
 * file and the cause:
 *   -ENOSPC   the disk (or quota) is full; the failed write left nothing
 *             behind (the transaction is rolled back) and the store stays
 *             usable for reads
 *   -EILSEQ   the file is not a store or is corrupt (detected at open by
 *             an integrity check, or by SQLite later); nothing is trusted
 *   -ENOENT   no such key (get)
 *   -EBUSY    another process holds the store (an exclusive lock is taken
 *             at open, so two daemons never share one)
 *   -EIO      any other failure of the backend
 *   -EINVAL   bad argument (empty key or namespace, nested begin, ...)
 *
 * Threads: a store is used from one thread (the loop's). Calls block for
 * the duration of one SQLite commit (one fsync, typically < 5 ms on SSD);
 * callers that must not stall batch their writes in a transaction.
 *
 * Backends: store_open() picks one by the path. "zk://h1:2181,h2:2181/p"
 * (any case of "zk://", see zk.h for the URL syntax) keeps the store in
 * ZooKeeper (high-availability mode, DESIGN.md 3 and 5); anything else
 * is a SQLite file. With ZooKeeper:
 *   - a namespace is the znode <p>/<ns>, a key the znode <p>/<ns>/<key>
 *     with the key escaped into one znode name (see store_zk.c), the value
 *     its data; <p>/meta holds the schema version (newer: -EILSEQ);
 *   - every call blocks for one round trip to the server (about 1 ms on
 *     loopback, comparable to the fsync it replaces); a commit is one
 *     atomic multi-operation plus one pipelined existence check;
 *   - values (and a transaction's writes together) are limited by
 *     ZooKeeper's 1 MiB request size: a larger one is -EFBIG and nothing
 *     is written (STORE_ZK_MAX_VALUE);
 *   - there is no exclusive lock (-EBUSY never happens): several masters
 *     open the same store and leader election (lib/leader.h) guarantees
 *     that only the leader writes;
 *   - a server that cannot be reached, a lost connection, a timeout or an
 *     expired session is -EIO with a message naming the servers and the
 *     operation; store_open() gives up after a bounded time (10 s by
 *     default, store_opts) rather than hang. After an expired session the
 *     next call starts a new one. A commit that fails with -EIO because
 *     the connection dropped may or may not have been applied (the
 *     message says so): reread before retrying.
 * Additional error of the ZooKeeper backend:
 *   -EFBIG    a value or transaction too large for ZooKeeper; the message
 *             names the key and the size; nothing was written
 */
#ifndef ATOLL_STORE_H
#define ATOLL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

/*
 * Opens the store at path, creating the file (mode 0600) and its schema
 * when missing, and checking an existing one (PRAGMA quick_check and the
 * schema version). The parent directory must exist. On success *out owns
 * the store (store_close() releases it).
 */
int store_open(const char *path, struct store **out, struct err *e)
    __attribute__((warn_unused_result));
/* Options of store_open_opts(); a zero field means its default. */
struct store_opts {
	/* ZooKeeper: seconds store_open() waits for a session (default 10);
	 * also the bound of reconnecting after an expired session. */
	double zk_connect_timeout;
	/* ZooKeeper: the requested session timeout in seconds (default 10;
	 * the server bounds it to [2, 20] of its ticks). */
	double zk_session_timeout;
};

/* The largest value the ZooKeeper backend stores (1 MiB - 8 KiB: room
 * for the request's header and path in ZooKeeper's default 1 MiB
 * jute.maxbuffer). */
#define STORE_ZK_MAX_VALUE ((size_t)(1024 * 1024 - 8 * 1024))

/* store_open() with options (opts may be NULL: the defaults). */
int store_open_opts(const char *path, const struct store_opts *opts,
                    struct store **out, struct err *e)
    __attribute__((warn_unused_result));

/* Closes the store (rolling back an open transaction). NULL is a no-op. */
void store_close(struct store *s);

/* Inserts or replaces ns/key. val (len bytes, may contain NULs) is copied. */
int store_put(struct store *s, const char *ns, const char *key, const void *val,
              size_t len, struct err *e) __attribute__((warn_unused_result));
/*
 * Reads ns/key into a fresh heap buffer *val (NUL-terminated for
 * convenience; the caller frees it) of *len bytes. -ENOENT when missing.
 */
int store_get(struct store *s, const char *ns, const char *key, char **val,
              size_t *len, struct err *e) __attribute__((warn_unused_result));
/* Deletes ns/key; deleting a missing key is not an error. */
int store_delete(struct store *s, const char *ns, const char *key,
                 struct err *e) __attribute__((warn_unused_result));

/*
 * Calls fn for every key of ns in key order (bytewise). val is borrowed
 * (valid during the call, NUL-terminated). A non-zero return from fn stops
 * the scan and is returned by store_scan(). The callback must not write to
 * the store.
 */
typedef int store_scan_fn(const char *key, const char *val, size_t len,
                          void *arg);
int store_scan(struct store *s, const char *ns, store_scan_fn *fn, void *arg,
               struct err *e) __attribute__((warn_unused_result));
/* Number of keys in ns (>= 0), or a negative errno. */
int64_t store_count(struct store *s, const char *ns, struct err *e);

/* Transactions: no nesting. After an error inside a transaction, call
 * store_rollback(). */
int store_begin(struct store *s, struct err *e)
    __attribute__((warn_unused_result));
int store_commit(struct store *s, struct err *e)
    __attribute__((warn_unused_result));
void store_rollback(struct store *s);
bool store_in_transaction(const struct store *s);

/* The path given to store_open() (borrowed). */
const char *store_path(const struct store *s);

#endif
