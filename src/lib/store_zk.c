/*
 * store_zk.c: the ZooKeeper backend of the store (store.h), used when the
 * path is "zk://hosts/root". It lets the master's registry and the
 * services framework's state live in ZooKeeper in high-availability mode.
 *
 * Layout under root (created with its ancestors at open):
 *   <root>/meta              data: the schema version in decimal ("1")
 *   <root>/<ns>              one persistent znode per namespace, no data
 *   <root>/<ns>/<key>        one persistent znode per key, data = value
 * Namespaces and keys are escaped into one znode name each
 * (store_zk_escape(): [A-Za-z0-9._-] stand for themselves, every other
 * byte is %XX), so an app id "/product/db" is the single znode
 * "%2Fproduct%2Fdb". The namespace "meta" is written "%6Deta" so it never
 * meets the meta znode. Children come back from ZooKeeper unordered; a
 * scan unescapes them and sorts the keys bytewise (strcmp), the order of
 * SQLite's BINARY collation. A child that is not the canonical escape of
 * a UTF-8 key is somebody else's znode: -EILSEQ, nothing is trusted.
 *
 * Calls are synchronous, as store.h promises: the ZooKeeper C client's
 * multi-threaded library (zoo_create, zoo_set, zoo_multi, ...) sends the
 * request from its I/O thread and the caller waits on a condition
 * variable. One round trip on loopback costs about 1 ms, comparable to
 * the fsync of the SQLite backend. Where one call needs many reads (the
 * values of a scan, the existence checks of a commit) they are pipelined
 * with the asynchronous calls (struct store_zk_batch) and waited for
 * together: one round trip per STORE_ZK_BATCH reads, not one per key.
 *
 * Writes. Outside a transaction a put is zoo_set(), or zoo_create() when
 * the key is new (creating the namespace znode on its first key); a
 * delete is zoo_delete() (a missing key is fine). Inside a transaction
 * the writes are only collected (s->tx, one entry per key: a second
 * write of a key replaces the first); reads of the transaction see them
 * (get, scan and count overlay s->tx on what ZooKeeper holds). The
 * commit checks which of the keys (and namespaces) exist, with one
 * pipelined round of zoo_aexists(), turns each entry into a create, set
 * or delete, and sends them all in one zoo_multi(): ZooKeeper applies all
 * or nothing. Should a key have appeared or vanished between the check
 * and the multi (another writer: see below), the multi fails with nothing
 * applied and the commit starts over, at most STORE_ZK_COMMIT_TRIES times.
 *
 *              store_zk_begin()               a write fails
 *   IDLE  ------------------------> IN_TX  -------------------> IN_TX, failed
 *     ^   store_zk_commit() (done,   |                              |
 *     |   or failed: nothing sent    |                              |
 *     |   or nothing applied)        |                              |
 *     +------------------------------+                              |
 *     |   store_zk_rollback() (drops s->tx)                         |
 *     +-------------------------------------------------------------+
 *         store_zk_rollback(), or store_zk_commit() (returns the first
 *         error, applies nothing)
 *
 * Size. ZooKeeper refuses a request larger than its jute.maxbuffer (1 MiB
 * by default) by dropping the connection. So a value over
 * STORE_ZK_MAX_VALUE, or a transaction whose writes add up to more than
 * STORE_ZK_MAX_REQUEST, is -EFBIG before anything is sent.
 *
 * Ownership. Unlike the SQLite file, nothing is locked: the masters of an
 * HA set all open the same store, and leader election (lib/leader.h)
 * guarantees that only the leader writes. A deposed leader must stop
 * writing when it loses leadership; this store does not fence it.
 *
 * Sessions and failures. store_open() waits at most connect_timeout for a
 * session and fails with -EIO otherwise (the library would retry
 * forever). Afterwards the library reconnects by itself; an operation
 * during a disconnection fails with ZCONNECTIONLOSS (after at most about
 * the session timeout) and becomes -EIO with a message naming the
 * servers and the operation, never a silent success. An expired session
 * cannot be revived: the call that meets it fails, and the next call
 * closes the handle and starts a new session (bounded as at open).
 *
 * Threads. The store is used from one thread; the library's threads only
 * run store_zk_watcher() (session state, under s->lock) and the
 * completions of pipelined reads (each fills its own slot and counts down
 * its batch under the batch's lock). No completion is pending when a
 * store call returns, so nothing of the library touches freed memory.
 *
 * Close-on-exec. The library opens its self-pipe and sockets without
 * FD_CLOEXEC. store_zk_cloexec() marks every FIFO and socket that was not
 * already open without FD_CLOEXEC before zookeeper_init2(): after the
 * init (the pipe) and on every connection (the socket, from the watcher).
 */
#include "lib/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The synchronous calls exist in the multi-threaded library only. */
#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/store_int.h"
#include "lib/zk.h"

#define STORE_ZK_LOG "store"
/* The newest schema this code reads and writes. */
#define STORE_ZK_SCHEMA_VERSION 1
#define STORE_ZK_META "meta"
/* Defaults of struct store_opts, in seconds. */
#define STORE_ZK_CONNECT_TIMEOUT 10.0
#define STORE_ZK_SESSION_TIMEOUT 10.0
/* The largest request we send: ZooKeeper's default jute.maxbuffer
 * (0xfffff) less a margin for the request and multi headers. */
#define STORE_ZK_MAX_REQUEST ((size_t)0xfffff - 1024)
/* What one operation of a request costs beyond its path and data: its
 * headers, ACL, flags and version, rounded up. */
#define STORE_ZK_OP_OVERHEAD 128
/* Reads in flight at once (a scan's values, a commit's checks). */
#define STORE_ZK_BATCH 64
/* Attempts of a commit whose view of existing keys went stale. */
#define STORE_ZK_COMMIT_TRIES 3
/* Descriptors remembered as inherited-on-purpose before the init. */
#define STORE_ZK_MAX_FDS 64

_Static_assert(STORE_ZK_MAX_VALUE + 4096 <= STORE_ZK_MAX_REQUEST,
               "a value of the maximum size must fit in one request");

/* A write of the open transaction: the last one of its key. */
struct store_zk_write {
	char *ns, *key;
	char *path; /* the key's znode */
	char *val;  /* a copy (NUL-terminated), or NULL for a delete */
	size_t len;
};

struct store_zk {
	struct store base;
	char *hosts;    /* the client's connect string */
	char *root;     /* the store's znode: "/a/b", no trailing '/' */
	int connect_ms; /* bound of waiting for a session */
	int session_ms; /* requested session timeout */
	zhandle_t *zh;  /* NULL between a failed reconnect and the next */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* state changed (CLOCK_MONOTONIC) */
	int state;              /* under lock: last session state, 0: none */
	int inherited[STORE_ZK_MAX_FDS]; /* open without FD_CLOEXEC before */
	size_t ninherited;               /* the library's init */
	bool in_tx;
	int tx_errno;      /* first failure inside the transaction, or 0 */
	unsigned scanning; /* depth of scan callbacks running */
	struct store_zk_write *tx;
	size_t ntx, tx_cap;
	size_t tx_bytes; /* request bytes the transaction's writes need */
};

static const struct store_ops store_zk_ops;

static struct store_zk *store_zk_of(struct store *base)
{
	return container_of(base, struct store_zk, base);
}

/* ---- escaping ---- */

static bool store_zk_is_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void store_zk_escape(struct buf *out, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	bool dots = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (!dots && store_zk_is_plain(*p)) {
			buf_addc(out, (char)*p);
		} else {
			buf_addc(out, '%');
			buf_addc(out, hex[*p >> 4]);
			buf_addc(out, hex[*p & 15]);
		}
	}
}

/* The value of an upper-case hex digit, or -1. */
static int store_zk_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int store_zk_unescape(const char *znode, char **out)
{
	struct buf name = BUF_INIT, again = BUF_INIT;
	const char *p = znode;
	bool ok = false;

	*out = NULL;
	if (!znode || !*znode)
		return -EILSEQ;
	while (*p) {
		if (*p == '%') {
			int hi = store_zk_hex(p[1]);
			int lo = hi < 0 ? -1 : store_zk_hex(p[2]);

			if (lo < 0 || (hi | lo) == 0)
				goto out_release;
			buf_addc(&name, (char)(hi << 4 | lo));
			p += 3;
		} else if (store_zk_is_plain((unsigned char)*p)) {
			buf_addc(&name, *p++);
		} else {
			goto out_release;
		}
	}
	/* Canonical: exactly what store_zk_escape() makes of the name. */
	store_zk_escape(&again, name.data);
	ok = strcmp(again.data, znode) == 0 && store_is_utf8(name.data);
	if (ok)
		*out = buf_detach(&name, NULL);
out_release:
	buf_release(&again);
	buf_release(&name);
	return ok ? 0 : -EILSEQ;
}

/* Appends the znode name of namespace ns. */
static void store_zk_escape_ns(struct buf *out, const char *ns)
{
	if (strcmp(ns, STORE_ZK_META) == 0)
		buf_adds(out, "%6Deta"); /* not the meta znode */
	else
		store_zk_escape(out, ns);
}

/* "<root>/<ns>" (heap). */
static char *store_zk_ns_path(const struct store_zk *s, const char *ns)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, s->root);
	buf_addc(&b, '/');
	store_zk_escape_ns(&b, ns);
	return buf_detach(&b, NULL);
}

/* "<root>/<ns>/<key>" (heap). */
static char *store_zk_key_path(const struct store_zk *s, const char *ns,
                               const char *key)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, s->root);
	buf_addc(&b, '/');
	store_zk_escape_ns(&b, ns);
	buf_addc(&b, '/');
	store_zk_escape(&b, key);
	return buf_detach(&b, NULL);
}

/* The namespace znode of a key's znode path (heap). */
static char *store_zk_parent(const char *path)
{
	const char *slash = strrchr(path, '/');

	return xstrndup(path, (size_t)(slash - path));
}

/* ---- errors ---- */

static bool store_zk_is_connection_rc(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT ||
	       rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE || rc == ZCLOSING ||
	       rc == ZSESSIONMOVED;
}

/*
 * Turns ZooKeeper's rc of the operation described by what ("cannot put
 * 'apps//web'") into a negative errno and a message naming the store, the
 * servers and the cause.
 */
static int store_zk_fail(const struct store_zk *s, int rc, const char *what,
                         struct err *e)
{
	const char *hint = "";
	int r = -EIO;

	if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE)
		hint = " (the session expired; the next call starts a new one)";
	else if (store_zk_is_connection_rc(rc))
		hint = " (ZooKeeper unreachable or too slow)";
	else if (rc == ZNOAUTH || rc == ZAUTHFAILED)
		hint = " (the znodes' ACL does not let us in)";
	else if (rc == ZBADARGUMENTS)
		r = -EINVAL;
	err_set(e, "store '%s': %s: ZooKeeper '%s': %s%s", s->base.path, what,
	        s->hosts, zerror(rc), hint);
	return r;
}

/* store_zk_fail() for an operation on one key. */
static int store_zk_key_fail(const struct store_zk *s, int rc, const char *op,
                             const char *ns, const char *key, struct err *e)
{
	char what[256];

	snprintf(what, sizeof(what), "cannot %s '%s/%s'", op, ns, key);
	return store_zk_fail(s, rc, what, e);
}

/* A key's znode has children: not a znode this store made. */
static int store_zk_not_a_key(const struct store_zk *s, const char *path,
                              const char *ns, const char *key, struct err *e)
{
	err_set(e,
	        "store '%s' is corrupt: cannot delete '%s/%s': znode '%s' "
	        "has children (not a key of a store)",
	        s->base.path, ns, key, path);
	return -EILSEQ;
}

/* ---- close-on-exec ---- */

/* Whether fd is one of those open without FD_CLOEXEC before the init. */
static bool store_zk_is_inherited(const struct store_zk *s, int fd)
{
	for (size_t i = 0; i < s->ninherited; i++)
		if (s->inherited[i] == fd)
			return true;
	return false;
}

/*
 * Walks this process's descriptors >= 3 that lack FD_CLOEXEC: remembers
 * them (note == true, before the library's init), or marks the FIFOs and
 * sockets among those not remembered (the library's).
 */
static void store_zk_fds(struct store_zk *s, bool note)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	if (note)
		s->ninherited = 0;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct stat st;
		int flags;

		if (*end || end == de->d_name || fd < 3 || fd == dirfd(d))
			continue;
		flags = fcntl((int)fd, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC))
			continue;
		if (note) {
			if (s->ninherited < STORE_ZK_MAX_FDS)
				s->inherited[s->ninherited++] = (int)fd;
			continue;
		}
		if (store_zk_is_inherited(s, (int)fd) ||
		    fstat((int)fd, &st) < 0 ||
		    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
			continue;
		(void)fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
	}
	closedir(d);
}

/* ---- sessions ---- */

/* The library's log lines: ours at debug level (we report failures). */
static void store_zk_on_log(const char *message)
{
	const char *at = strstr(message, "ZOO_");

	log_debug(STORE_ZK_LOG, "zookeeper client: %s", at ? at : message);
}

/* The default watcher (a library thread): session state changes. */
static void store_zk_watcher(zhandle_t *zh, int type, int state,
                             const char *path, void *ctx)
{
	struct store_zk *s = (struct store_zk *)zoo_get_context(zh);

	(void)path, (void)ctx;
	if (type != ZOO_SESSION_EVENT || !s)
		return;
	if (state == ZOO_CONNECTED_STATE)
		store_zk_fds(s, false); /* the new socket */
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* now + ms on CLOCK_MONOTONIC. */
static struct timespec store_zk_deadline(int ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/*
 * Starts a session and waits at most s->connect_ms for it. On failure
 * the handle is closed again and s->zh stays NULL.
 */
static int store_zk_connect(struct store_zk *s, struct err *e)
{
	struct timespec deadline;
	zhandle_t *zh;
	int state;

	BUG_ON(s->zh);
	pthread_mutex_lock(&s->lock);
	s->state = 0;
	pthread_mutex_unlock(&s->lock);
	store_zk_fds(s, true);
	errno = 0;
	zh = zookeeper_init2(s->hosts, store_zk_watcher, s->session_ms, NULL, s,
	                     0, store_zk_on_log);
	if (!zh) {
		int saved = errno;

		err_set(e,
		        "store '%s': cannot start a ZooKeeper client for "
		        "'%s': %s",
		        s->base.path, s->hosts,
		        saved ? strerror(saved) : "unknown error");
		return -EIO;
	}
	store_zk_fds(s, false); /* the self-pipe */
	deadline = store_zk_deadline(s->connect_ms);
	pthread_mutex_lock(&s->lock);
	while (s->state != ZOO_CONNECTED_STATE &&
	       s->state != ZOO_EXPIRED_SESSION_STATE &&
	       s->state != ZOO_AUTH_FAILED_STATE) {
		if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
	state = s->state;
	pthread_mutex_unlock(&s->lock);
	if (state != ZOO_CONNECTED_STATE) {
		zookeeper_close(zh);
		if (state == ZOO_AUTH_FAILED_STATE)
			err_set(e,
			        "store '%s': cannot connect to ZooKeeper '%s': "
			        "authentication failed",
			        s->base.path, s->hosts);
		else
			err_set(e,
			        "store '%s': cannot connect to ZooKeeper '%s' "
			        "within %.1f s (is it running and reachable?)",
			        s->base.path, s->hosts, s->connect_ms / 1000.0);
		return -EIO;
	}
	s->zh = zh;
	store_zk_fds(s, false); /* the socket, should the watcher have run
	                          before the descriptor was ours to see */
	log_debug(STORE_ZK_LOG, "store='%s' session=0x%" PRIx64 " connected",
	          s->base.path, (uint64_t)zoo_client_id(zh)->client_id);
	return 0;
}

/*
 * Makes sure there is a live session before an operation: after an
 * expired session (or a failed reconnect) starts a new one.
 */
static int store_zk_session(struct store_zk *s, struct err *e)
{
	if (s->zh && is_unrecoverable(s->zh) == ZOK)
		return 0;
	if (s->zh) {
		log_warn(STORE_ZK_LOG,
		         "store='%s' session expired, starting a new one",
		         s->base.path);
		zookeeper_close(s->zh);
		s->zh = NULL;
	}
	return store_zk_connect(s, e);
}

/* ---- pipelined reads ---- */

/* Asynchronous reads started together and waited for together. */
struct store_zk_batch {
	pthread_mutex_t lock;
	pthread_cond_t done;
	size_t pending; /* started and not completed */
};

/* One read of a batch; filled by its completion (a library thread). */
struct store_zk_slot {
	struct store_zk_batch *batch;
	int rc;
	char *val; /* get: a NUL-terminated copy of the data (ZOK only) */
	size_t len;
};

static void store_zk_batch_init(struct store_zk_batch *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->done, NULL);
	b->pending = 0;
}

/* Waits for every read of b, then releases b. */
static void store_zk_batch_wait(struct store_zk_batch *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->pending)
		pthread_cond_wait(&b->done, &b->lock);
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->lock);
}

static void store_zk_slot_done(struct store_zk_slot *sl)
{
	struct store_zk_batch *b = sl->batch;

	pthread_mutex_lock(&b->lock);
	if (--b->pending == 0)
		pthread_cond_signal(&b->done);
	pthread_mutex_unlock(&b->lock);
}

static void store_zk_on_stat(int rc, const struct Stat *st, const void *data)
{
	struct store_zk_slot *sl = (struct store_zk_slot *)data;

	(void)st;
	sl->rc = rc;
	store_zk_slot_done(sl);
}

static void store_zk_on_data(int rc, const char *value, int value_len,
                             const struct Stat *st, const void *data)
{
	struct store_zk_slot *sl = (struct store_zk_slot *)data;

	(void)st;
	sl->rc = rc;
	if (rc == ZOK) {
		size_t n = value && value_len > 0 ? (size_t)value_len : 0;

		sl->val = xmalloc(n + 1);
		if (n)
			memcpy(sl->val, value, n);
		sl->val[n] = '\0';
		sl->len = n;
	}
	store_zk_slot_done(sl);
}

/* Starts a read of path into sl: its data (get) or its existence. */
static void store_zk_batch_start(struct store_zk *s, struct store_zk_batch *b,
                                 struct store_zk_slot *sl, const char *path,
                                 bool get)
{
	int rc;

	sl->batch = b;
	sl->rc = ZOK;
	sl->val = NULL;
	sl->len = 0;
	pthread_mutex_lock(&b->lock);
	b->pending++;
	pthread_mutex_unlock(&b->lock);
	/* The completion may run before these return. */
	if (get)
		rc = zoo_aget(s->zh, path, 0, store_zk_on_data, sl);
	else
		rc = zoo_aexists(s->zh, path, 0, store_zk_on_stat, sl);
	if (rc != ZOK) {
		/* Refused up front: no completion will come. */
		sl->rc = rc;
		pthread_mutex_lock(&b->lock);
		b->pending--;
		pthread_mutex_unlock(&b->lock);
	}
}

/* ---- the transaction's writes ---- */

static struct store_zk_write *store_zk_tx_find(const struct store_zk *s,
                                               const char *ns, const char *key)
{
	for (size_t i = 0; i < s->ntx; i++)
		if (strcmp(s->tx[i].key, key) == 0 &&
		    strcmp(s->tx[i].ns, ns) == 0)
			return &s->tx[i];
	return NULL;
}

/* Request bytes of a write. */
static size_t store_zk_write_cost(const char *path, size_t len)
{
	/* The namespace's create may come with it: count its path too. */
	return 2 * strlen(path) + len + 2 * STORE_ZK_OP_OVERHEAD;
}

static void store_zk_tx_clear(struct store_zk *s)
{
	for (size_t i = 0; i < s->ntx; i++) {
		free(s->tx[i].ns);
		free(s->tx[i].key);
		free(s->tx[i].path);
		free(s->tx[i].val);
	}
	s->ntx = 0;
	s->tx_bytes = 0;
}

/*
 * Records a write of the transaction (val NULL: a delete), replacing an
 * earlier one of the same key. -EFBIG when the transaction would no
 * longer fit in one request.
 */
static int store_zk_tx_add(struct store_zk *s, const char *ns, const char *key,
                           const void *val, size_t len, bool del, struct err *e)
{
	struct store_zk_write *w = store_zk_tx_find(s, ns, key);
	char *path = w ? NULL : store_zk_key_path(s, ns, key);
	size_t old = w ? store_zk_write_cost(w->path, w->len) : 0;
	size_t cost = store_zk_write_cost(w ? w->path : path, del ? 0 : len);

	if (s->tx_bytes - old + cost > STORE_ZK_MAX_REQUEST) {
		err_set(e,
		        "store '%s': cannot %s '%s/%s': the transaction would "
		        "need %zu bytes, more than ZooKeeper's limit of %zu "
		        "bytes per request (commit smaller transactions)",
		        s->base.path, del ? "delete" : "put", ns, key,
		        s->tx_bytes - old + cost, STORE_ZK_MAX_REQUEST);
		free(path);
		return -EFBIG;
	}
	if (!w) {
		ALLOC_GROW(s->tx, s->ntx + 1, s->tx_cap);
		w = &s->tx[s->ntx++];
		w->ns = xstrdup(ns);
		w->key = xstrdup(key);
		w->path = path;
	} else {
		free(w->val);
	}
	w->val = NULL;
	w->len = 0;
	if (!del) {
		w->val = xmalloc(len + 1);
		if (len)
			memcpy(w->val, val, len);
		w->val[len] = '\0';
		w->len = len;
	}
	s->tx_bytes = s->tx_bytes - old + cost;
	return 0;
}

/* ---- argument and state checks ---- */

/* Common checks of the operations that write (as the SQLite backend). */
static int store_zk_check_write(const struct store_zk *s, struct err *e)
{
	if (s->scanning)
		return err_set(e,
		               "store '%s': cannot write from a scan callback",
		               s->base.path);
	if (s->in_tx && s->tx_errno)
		return err_set(e,
		               "store '%s': an earlier write of this "
		               "transaction failed (%s); call store_rollback()",
		               s->base.path, strerror(-s->tx_errno));
	return 0;
}

/* After a failed write inside a transaction: remember the first error. */
static void store_zk_write_failed(struct store_zk *s, int r)
{
	if (s->in_tx && !s->tx_errno)
		s->tx_errno = r;
}

/* -EFBIG unless a value of len bytes at path fits in one request. */
static int store_zk_check_size(const struct store_zk *s, const char *ns,
                               const char *key, const char *path, size_t len,
                               struct err *e)
{
	if (len > STORE_ZK_MAX_VALUE) {
		err_set(e,
		        "store '%s': cannot put '%s/%s': the value of %zu "
		        "bytes is larger than ZooKeeper's limit of %zu bytes",
		        s->base.path, ns, key, len, STORE_ZK_MAX_VALUE);
		return -EFBIG;
	}
	if (store_zk_write_cost(path, len) > STORE_ZK_MAX_REQUEST) {
		err_set(e,
		        "store '%s': cannot put '%s/%s': key and value (%zu "
		        "bytes) are larger than ZooKeeper's limit of %zu bytes",
		        s->base.path, ns, key, store_zk_write_cost(path, len),
		        STORE_ZK_MAX_REQUEST);
		return -EFBIG;
	}
	return 0;
}

/* ---- writes outside a transaction ---- */

/* Creates the persistent znode path with data (existing: ZNODEEXISTS). */
static int store_zk_create(struct store_zk *s, const char *path,
                           const void *val, size_t len)
{
	return zoo_create(s->zh, path, len ? val : "", (int)len,
	                  &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
}

/* put = set, or create when missing (and the namespace with it). */
static int store_zk_put_now(struct store_zk *s, const char *path,
                            const void *val, size_t len)
{
	const char *data = len ? val : "";
	int rc = zoo_set(s->zh, path, data, (int)len, -1);

	if (rc != ZNONODE)
		return rc;
	rc = store_zk_create(s, path, data, len);
	if (rc == ZNONODE) {
		/* The namespace's first key. */
		char *ns_path = store_zk_parent(path);

		rc = store_zk_create(s, ns_path, NULL, 0);
		free(ns_path);
		if (rc == ZOK || rc == ZNODEEXISTS)
			rc = store_zk_create(s, path, data, len);
	}
	if (rc == ZNODEEXISTS) /* created by somebody else meanwhile */
		rc = zoo_set(s->zh, path, data, (int)len, -1);
	return rc;
}

static int store_zk_put(struct store *base, const char *ns, const char *key,
                        const void *val, size_t len, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	char *path = NULL;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		goto out_failed;
	if (!val && len) {
		r = err_set(e, "store '%s': value: NULL with length %zu",
		            base->path, len);
		goto out_failed;
	}
	if ((r = store_zk_check_write(s, e)) < 0)
		goto out_failed;
	path = store_zk_key_path(s, ns, key);
	if ((r = store_zk_check_size(s, ns, key, path, len, e)) < 0)
		goto out_failed;
	if (s->in_tx) {
		r = store_zk_tx_add(s, ns, key, val, len, false, e);
		if (r < 0)
			goto out_failed;
		goto out_free;
	}
	if ((r = store_zk_session(s, e)) < 0)
		goto out_failed;
	rc = store_zk_put_now(s, path, val, len);
	if (rc != ZOK) {
		r = store_zk_key_fail(s, rc, "put", ns, key, e);
		goto out_failed;
	}
out_free:
	free(path);
	return 0;

out_failed:
	free(path);
	store_zk_write_failed(s, r);
	return r;
}

static int store_zk_delete(struct store *base, const char *ns, const char *key,
                           struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	char *path = NULL;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		goto out_failed;
	if ((r = store_zk_check_write(s, e)) < 0)
		goto out_failed;
	if (s->in_tx) {
		r = store_zk_tx_add(s, ns, key, NULL, 0, true, e);
		if (r < 0)
			goto out_failed;
		return 0;
	}
	if ((r = store_zk_session(s, e)) < 0)
		goto out_failed;
	path = store_zk_key_path(s, ns, key);
	rc = zoo_delete(s->zh, path, -1);
	if (rc == ZNOTEMPTY) {
		r = store_zk_not_a_key(s, path, ns, key, e);
		goto out_failed;
	}
	if (rc != ZOK && rc != ZNONODE) {
		r = store_zk_key_fail(s, rc, "delete", ns, key, e);
		goto out_failed;
	}
	free(path);
	return 0;

out_failed:
	free(path);
	store_zk_write_failed(s, r);
	return r;
}

/* ---- reads ---- */

static int store_zk_get(struct store *base, const char *ns, const char *key,
                        char **val, size_t *len, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	const struct store_zk_write *w;
	struct store_zk_batch b;
	struct store_zk_slot sl;
	char *path;
	int r;

	/* store_get() cleared *val and *len. */
	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		return r;
	if (!val || !len)
		return err_set(e, "store '%s': val and len must not be NULL",
		               base->path);
	w = s->in_tx ? store_zk_tx_find(s, ns, key) : NULL;
	if (w && w->val) {
		*val = xmalloc(w->len + 1);
		memcpy(*val, w->val, w->len + 1);
		*len = w->len;
		return 0;
	}
	if (w) {
		err_set(e, "store '%s': no key '%s/%s'", base->path, ns, key);
		return -ENOENT;
	}
	if ((r = store_zk_session(s, e)) < 0)
		return r;
	path = store_zk_key_path(s, ns, key);
	store_zk_batch_init(&b);
	store_zk_batch_start(s, &b, &sl, path, true);
	store_zk_batch_wait(&b);
	free(path);
	if (sl.rc == ZOK) {
		*val = sl.val;
		*len = sl.len;
		return 0;
	}
	if (sl.rc == ZNONODE) {
		err_set(e, "store '%s': no key '%s/%s'", base->path, ns, key);
		return -ENOENT;
	}
	return store_zk_key_fail(s, sl.rc, "get", ns, key, e);
}

/* A key of a namespace listing, with the transaction's write if any. */
struct store_zk_entry {
	char *key;
	const struct store_zk_write *w;
};

static int store_zk_entry_cmp(const void *a, const void *b)
{
	const struct store_zk_entry *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static void store_zk_entries_free(struct store_zk_entry *ent, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ent[i].key);
	free(ent);
}

/*
 * The keys of ns in key order: ZooKeeper's children, unescaped, with the
 * open transaction's writes applied. what names the operation in a
 * failure's message ("cannot scan 'apps'").
 */
static int store_zk_list(struct store_zk *s, const char *ns, const char *what,
                         struct store_zk_entry **out, size_t *nout,
                         struct err *e)
{
	struct String_vector kids = {0, NULL};
	struct store_zk_entry *ent = NULL;
	size_t n = 0, cap = 0;
	char *ns_path = store_zk_ns_path(s, ns);
	int rc, r = 0;

	*out = NULL;
	*nout = 0;
	rc = zoo_get_children(s->zh, ns_path, 0, &kids);
	if (rc != ZOK && rc != ZNONODE) {
		r = store_zk_fail(s, rc, what, e);
		goto out_free;
	}
	for (int32_t i = 0; rc == ZOK && i < kids.count; i++) {
		char *key;

		if (store_zk_unescape(kids.data[i], &key) < 0) {
			r = -EILSEQ;
			err_set(e,
			        "store '%s' is corrupt: %s: znode '%s/%s' is "
			        "not the name of a key",
			        s->base.path, what, ns_path, kids.data[i]);
			goto out_free;
		}
		ALLOC_GROW(ent, n + 1, cap);
		ent[n].key = key;
		ent[n].w = NULL;
		n++;
	}
	for (size_t t = 0; s->in_tx && t < s->ntx; t++) {
		const struct store_zk_write *w = &s->tx[t];
		size_t i;

		if (strcmp(w->ns, ns) != 0)
			continue;
		for (i = 0; i < n && strcmp(ent[i].key, w->key) != 0; i++)
			;
		if (!w->val && i < n) {
			free(ent[i].key);
			ent[i] = ent[--n]; /* the order is restored below */
		} else if (w->val && i < n) {
			ent[i].w = w;
		} else if (w->val) {
			ALLOC_GROW(ent, n + 1, cap);
			ent[n].key = xstrdup(w->key);
			ent[n].w = w;
			n++;
		}
	}
	if (n)
		qsort(ent, n, sizeof(*ent), store_zk_entry_cmp);
	*out = ent;
	*nout = n;
	ent = NULL;
	n = 0;
out_free:
	store_zk_entries_free(ent, n);
	if (rc == ZOK)
		deallocate_String_vector(&kids);
	free(ns_path);
	return r;
}

/*
 * Reads the values of ent[0 .. n-1] (those the transaction did not
 * write) together and calls fn for each in order. A key deleted since
 * the listing is skipped. Returns fn's non-zero value, or an error.
 */
static int store_zk_scan_chunk(struct store_zk *s, const char *ns,
                               const char *what,
                               const struct store_zk_entry *ent, size_t n,
                               store_scan_fn *fn, void *arg, struct err *e)
{
	struct store_zk_slot sl[STORE_ZK_BATCH];
	struct store_zk_batch b;
	int r = 0;

	BUG_ON(n > STORE_ZK_BATCH);
	store_zk_batch_init(&b);
	for (size_t i = 0; i < n; i++) {
		char *path;

		sl[i].val = NULL;
		sl[i].rc = ZOK;
		if (ent[i].w)
			continue;
		path = store_zk_key_path(s, ns, ent[i].key);
		store_zk_batch_start(s, &b, &sl[i], path, true);
		free(path);
	}
	store_zk_batch_wait(&b);
	for (size_t i = 0; i < n && !r; i++) {
		const struct store_zk_write *w = ent[i].w;

		if (w)
			r = fn(ent[i].key, w->val, w->len, arg);
		else if (sl[i].rc == ZOK)
			r = fn(ent[i].key, sl[i].val, sl[i].len, arg);
		else if (sl[i].rc != ZNONODE)
			r = store_zk_fail(s, sl[i].rc, what, e);
	}
	for (size_t i = 0; i < n; i++)
		free(sl[i].val);
	return r;
}

static int store_zk_scan(struct store *base, const char *ns, store_scan_fn *fn,
                         void *arg, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	struct store_zk_entry *ent;
	char what[160];
	size_t n;
	int r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0)
		return r;
	if (!fn)
		return err_set(e, "store '%s': scan callback must not be NULL",
		               base->path);
	if ((r = store_zk_session(s, e)) < 0)
		return r;
	snprintf(what, sizeof(what), "cannot scan '%s'", ns);
	if ((r = store_zk_list(s, ns, what, &ent, &n, e)) < 0)
		return r;
	s->scanning++;
	for (size_t i = 0; i < n && !r; i += STORE_ZK_BATCH)
		r = store_zk_scan_chunk(s, ns, what, ent + i,
		                        MIN(n - i, (size_t)STORE_ZK_BATCH), fn,
		                        arg, e);
	s->scanning--;
	store_zk_entries_free(ent, n);
	return r;
}

static int64_t store_zk_count(struct store *base, const char *ns, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	struct store_zk_entry *ent;
	struct Stat st;
	char what[160], *ns_path;
	size_t n;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0)
		return r;
	if ((r = store_zk_session(s, e)) < 0)
		return r;
	snprintf(what, sizeof(what), "cannot count '%s'", ns);
	if (s->in_tx) {
		/* The transaction's writes count: list and overlay. */
		if ((r = store_zk_list(s, ns, what, &ent, &n, e)) < 0)
			return r;
		store_zk_entries_free(ent, n);
		return (int64_t)n;
	}
	ns_path = store_zk_ns_path(s, ns);
	rc = zoo_exists(s->zh, ns_path, 0, &st);
	free(ns_path);
	if (rc == ZNONODE)
		return 0;
	if (rc != ZOK)
		return store_zk_fail(s, rc, what, e);
	return st.numChildren;
}

/* ---- transactions ---- */

static void store_zk_rollback(struct store *base)
{
	struct store_zk *s = store_zk_of(base);

	if (!s->in_tx)
		return;
	BUG_ON(s->scanning);
	store_zk_tx_clear(s);
	s->in_tx = false;
	s->tx_errno = 0;
}

static int store_zk_begin(struct store *base, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	int r;

	if (s->in_tx)
		return err_set(e, "store '%s': a transaction is already open",
		               base->path);
	if ((r = store_zk_check_write(s, e)) < 0)
		return r;
	store_zk_tx_clear(s);
	s->in_tx = true;
	s->tx_errno = 0;
	return 0;
}

/* What one attempt of a commit needs: checks, operations, results. */
struct store_zk_multi {
	struct store_zk_slot *key_sl; /* s->ntx: does the key exist? */
	struct store_zk_slot *ns_sl;  /* s->ntx: the namespace, or unused */
	char **ns_path;               /* s->ntx: set for a namespace's first
	                                 put of the transaction */
	zoo_op_t *ops;                /* at most 2 * s->ntx */
	zoo_op_result_t *res;
	struct Stat *stats;
	size_t *op_tx; /* the s->tx index of each op */
	char (*created)[16];
	int nops;
};

static void store_zk_multi_release(struct store_zk_multi *m, size_t ntx)
{
	for (size_t i = 0; i < ntx; i++)
		free(m->ns_path[i]);
	free(m->key_sl);
	free(m->ns_sl);
	free(m->ns_path);
	free(m->ops);
	free(m->res);
	free(m->stats);
	free(m->op_tx);
	free(m->created);
}

/*
 * One attempt: checks which keys and namespaces exist (pipelined), builds
 * the operations and sends them in one zoo_multi(). Returns ZooKeeper's
 * rc; *failed is the s->tx index of the operation that failed, or -1.
 */
static int store_zk_multi_once(struct store_zk *s, struct store_zk_multi *m,
                               ssize_t *failed)
{
	struct store_zk_batch b;
	int rc = ZOK;

	*failed = -1;
	m->nops = 0;
	store_zk_batch_init(&b);
	for (size_t i = 0; i < s->ntx; i++) {
		m->ns_sl[i].rc = ZOK;
		store_zk_batch_start(s, &b, &m->key_sl[i], s->tx[i].path,
		                     false);
		if (m->ns_path[i])
			store_zk_batch_start(s, &b, &m->ns_sl[i], m->ns_path[i],
			                     false);
	}
	store_zk_batch_wait(&b);
	for (size_t i = 0; i < s->ntx && rc == ZOK; i++) {
		if (m->key_sl[i].rc != ZOK && m->key_sl[i].rc != ZNONODE)
			rc = m->key_sl[i].rc, *failed = (ssize_t)i;
		else if (m->ns_sl[i].rc != ZOK && m->ns_sl[i].rc != ZNONODE)
			rc = m->ns_sl[i].rc, *failed = (ssize_t)i;
	}
	if (rc != ZOK)
		return rc;
	for (size_t i = 0; i < s->ntx; i++) {
		const struct store_zk_write *w = &s->tx[i];
		bool exists = m->key_sl[i].rc == ZOK;
		zoo_op_t *op;

		if (m->ns_path[i] && m->ns_sl[i].rc == ZNONODE) {
			op = &m->ops[m->nops];
			zoo_create_op_init(op, m->ns_path[i], "", 0,
			                   &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
			                   m->created[m->nops],
			                   sizeof(m->created[0]));
			m->op_tx[m->nops++] = i;
		}
		op = &m->ops[m->nops];
		if (w->val && exists)
			zoo_set_op_init(op, w->path, w->val, (int)w->len, -1,
			                &m->stats[m->nops]);
		else if (w->val)
			zoo_create_op_init(op, w->path, w->val, (int)w->len,
			                   &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
			                   m->created[m->nops],
			                   sizeof(m->created[0]));
		else if (exists)
			zoo_delete_op_init(op, w->path, -1);
		else
			continue; /* deleting a missing key: nothing to do */
		m->op_tx[m->nops++] = i;
	}
	if (m->nops == 0)
		return ZOK;
	memset(m->res, 0, sizeof(*m->res) * (size_t)m->nops);
	rc = zoo_multi(s->zh, m->nops, m->ops, m->res);
	for (int i = 0; rc != ZOK && i < m->nops; i++) {
		if (m->res[i].err != ZOK &&
		    m->res[i].err != ZRUNTIMEINCONSISTENCY) {
			*failed = (ssize_t)m->op_tx[i];
			if (m->res[i].err != ZNOTHING)
				rc = m->res[i].err;
			break;
		}
	}
	return rc;
}

/* Sends the transaction's writes in one zoo_multi() (see the top). */
static int store_zk_commit_writes(struct store_zk *s, struct err *e)
{
	struct store_zk_multi m;
	size_t n = s->ntx;
	ssize_t failed = -1;
	int rc = ZOK, r = 0;

	if (n == 0)
		return 0;
	m.key_sl = xcalloc(n, sizeof(*m.key_sl));
	m.ns_sl = xcalloc(n, sizeof(*m.ns_sl));
	m.ns_path = xcalloc(n, sizeof(*m.ns_path));
	m.ops = xcalloc(2 * n, sizeof(*m.ops));
	m.res = xcalloc(2 * n, sizeof(*m.res));
	m.stats = xcalloc(2 * n, sizeof(*m.stats));
	m.op_tx = xcalloc(2 * n, sizeof(*m.op_tx));
	m.created = xcalloc(2 * n, sizeof(*m.created));
	/* The first put of each namespace checks (and creates) it. */
	for (size_t i = 0; i < n; i++) {
		bool first = s->tx[i].val != NULL;

		for (size_t j = 0; first && j < i; j++)
			first = !(s->tx[j].val &&
			          strcmp(s->tx[j].ns, s->tx[i].ns) == 0);
		if (first)
			m.ns_path[i] = store_zk_parent(s->tx[i].path);
	}
	for (int attempt = 1;; attempt++) {
		rc = store_zk_multi_once(s, &m, &failed);
		/* A key appeared or vanished since the check: nothing was
		 * applied; check again. */
		if ((rc == ZNODEEXISTS || rc == ZNONODE) &&
		    attempt < STORE_ZK_COMMIT_TRIES)
			continue;
		break;
	}
	if (rc == ZNOTEMPTY && failed >= 0) {
		const struct store_zk_write *w = &s->tx[failed];

		r = store_zk_not_a_key(s, w->path, w->ns, w->key, e);
	} else if (rc != ZOK) {
		char what[320];
		const char *unknown =
		    rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT
			? " (the transaction may or may not have been applied)"
			: " (nothing was applied)";

		if (failed >= 0)
			snprintf(what, sizeof(what),
			         "cannot commit %zu writes%s: %s '%s/%s'", n,
			         unknown, s->tx[failed].val ? "put" : "delete",
			         s->tx[failed].ns, s->tx[failed].key);
		else
			snprintf(what, sizeof(what),
			         "cannot commit %zu writes%s", n, unknown);
		r = store_zk_fail(s, rc, what, e);
	}
	store_zk_multi_release(&m, n);
	return r;
}

static int store_zk_commit(struct store *base, struct err *e)
{
	struct store_zk *s = store_zk_of(base);
	int r;

	if (!s->in_tx)
		return err_set(e, "store '%s': commit without a transaction",
		               base->path);
	if (s->scanning)
		return err_set(e,
		               "store '%s': cannot commit from a scan callback",
		               base->path);
	if (s->tx_errno) {
		r = s->tx_errno;
		err_set(e,
		        "store '%s': transaction rolled back: an earlier write "
		        "failed (%s)",
		        base->path, strerror(-r));
		store_zk_rollback(base);
		return r;
	}
	r = s->ntx ? store_zk_session(s, e) : 0;
	if (r == 0)
		r = store_zk_commit_writes(s, e);
	store_zk_rollback(base); /* ends the transaction either way */
	return r;
}

static bool store_zk_in_transaction(const struct store *base)
{
	return container_of(base, const struct store_zk, base)->in_tx;
}

/* ---- open and close ---- */

/* Creates root and its missing ancestors (existing ones are fine). */
static int store_zk_create_root(struct store_zk *s, struct err *e)
{
	char *path = xstrdup(s->root);
	char what[160];
	int rc = zoo_exists(s->zh, path, 0, NULL);

	for (char *p = path + 1; rc == ZNONODE;) {
		char *slash = strchr(p, '/');

		if (slash)
			*slash = '\0';
		rc = store_zk_create(s, path, NULL, 0);
		if (rc == ZNODEEXISTS)
			rc = ZOK;
		if (!slash || rc != ZOK)
			break;
		*slash = '/';
		p = slash + 1;
		rc = ZNONODE;
	}
	if (rc != ZOK) {
		snprintf(what, sizeof(what), "cannot create '%s'", path);
		free(path);
		return store_zk_fail(s, rc, what, e);
	}
	free(path);
	return 0;
}

/* Parses the meta znode's data: the schema version, or -1. */
static int64_t store_zk_parse_version(const char *data, size_t len)
{
	int64_t v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (data[i] < '0' || data[i] > '9')
			return -1;
		v = v * 10 + (data[i] - '0');
	}
	return v;
}

/*
 * Checks <root>/meta, creating it in an empty root. A root with other
 * children but no meta is somebody else's data, and a newer version is
 * a format we do not understand: both -EILSEQ, nothing written.
 */
static int store_zk_check_meta(struct store_zk *s, struct err *e)
{
	char *meta = xasprintf("%s/%s", s->root, STORE_ZK_META);
	char version[16], what[160];
	int r = 0;

	snprintf(version, sizeof(version), "%d", STORE_ZK_SCHEMA_VERSION);
	snprintf(what, sizeof(what), "cannot read '%s'", meta);
	for (int attempt = 0; attempt < 3; attempt++) {
		struct String_vector kids = {0, NULL};
		struct store_zk_batch b;
		struct store_zk_slot sl;
		bool foreign = false;
		int64_t v;
		int rc;

		store_zk_batch_init(&b);
		store_zk_batch_start(s, &b, &sl, meta, true);
		store_zk_batch_wait(&b);
		if (sl.rc == ZOK) {
			v = store_zk_parse_version(sl.val, sl.len);
			free(sl.val);
			if (v > STORE_ZK_SCHEMA_VERSION) {
				r = -EILSEQ;
				err_set(e,
				        "store '%s' has schema version %" PRId64
				        ", newer than version %d of this "
				        "program",
				        s->base.path, v,
				        STORE_ZK_SCHEMA_VERSION);
			} else if (v < 1) {
				r = -EILSEQ;
				err_set(e,
				        "store '%s' is corrupt: znode '%s': "
				        "schema_version is missing or not a "
				        "positive integer",
				        s->base.path, meta);
			}
			/* Migrations from older versions go here. */
			goto out_free;
		}
		if (sl.rc != ZNONODE) {
			r = store_zk_fail(s, sl.rc, what, e);
			goto out_free;
		}
		/* No meta: a new store, unless root holds something. */
		rc = zoo_get_children(s->zh, s->root, 0, &kids);
		if (rc != ZOK) {
			r = store_zk_fail(s, rc, what, e);
			goto out_free;
		}
		for (int32_t i = 0; i < kids.count; i++)
			foreign = foreign || strcmp(kids.data[i], "meta") != 0;
		deallocate_String_vector(&kids);
		if (foreign) {
			r = -EILSEQ;
			err_set(
			    e,
			    "store '%s' is corrupt: znode '%s' has children "
			    "but no meta znode: it is not a store",
			    s->base.path, s->root);
			goto out_free;
		}
		rc = store_zk_create(s, meta, version, strlen(version));
		if (rc == ZOK)
			goto out_free;
		if (rc != ZNODEEXISTS) {
			snprintf(what, sizeof(what), "cannot create '%s'",
			         meta);
			r = store_zk_fail(s, rc, what, e);
			goto out_free;
		}
		/* Another opener created it meanwhile: read it. */
	}
	r = -EIO;
	err_set(e, "store '%s': '%s' keeps changing", s->base.path, meta);
out_free:
	free(meta);
	return r;
}

/* Seconds of an option (0: the default) in ms, or -1 when out of range. */
static int store_zk_option_ms(double v, double def)
{
	if (v == 0)
		v = def;
	if (!isfinite(v) || v < 0.1 || v > 3600)
		return -1;
	return (int)lround(v * 1000);
}

static void store_zk_close(struct store *base)
{
	struct store_zk *s = store_zk_of(base);

	BUG_ON(s->scanning);
	store_zk_rollback(base);
	if (s->zh)
		zookeeper_close(s->zh); /* joins the library's threads */
	free(s->tx);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s->hosts);
	free(s->root);
	free(s->base.path);
	free(s);
}

int store_zk_open(const char *url, const struct store_opts *opts,
                  struct store **out, struct err *e)
{
	struct store_opts defaults = {0};
	pthread_condattr_t attr;
	struct zk_url u;
	struct store_zk *s;
	int r;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((r = zk_url_parse(url, &u, e)) < 0) {
		err_prefix(e, "store '%s'", url);
		return r;
	}
	s = xcalloc(1, sizeof(*s));
	s->base.ops = &store_zk_ops;
	s->base.path = xstrdup(url);
	s->hosts = u.hosts;
	s->root = u.path;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &attr);
	pthread_condattr_destroy(&attr);
	s->connect_ms = store_zk_option_ms(opts->zk_connect_timeout,
	                                   STORE_ZK_CONNECT_TIMEOUT);
	s->session_ms = store_zk_option_ms(opts->zk_session_timeout,
	                                   STORE_ZK_SESSION_TIMEOUT);
	if (s->connect_ms < 0 || s->session_ms < 0) {
		r = err_set(e,
		            "store '%s': %s: must be in [0.1, 3600] seconds "
		            "(or 0 for the default)",
		            url,
		            s->connect_ms < 0 ? "zk_connect_timeout"
		                              : "zk_session_timeout");
		goto out_close;
	}
	if ((r = store_zk_connect(s, e)) < 0)
		goto out_close;
	if ((r = store_zk_create_root(s, e)) < 0)
		goto out_close;
	if ((r = store_zk_check_meta(s, e)) < 0)
		goto out_close;
	*out = &s->base;
	return 0;

out_close:
	store_zk_close(&s->base);
	return r;
}

static const struct store_ops store_zk_ops = {
    .name = "zookeeper",
    .close = store_zk_close,
    .put = store_zk_put,
    .get = store_zk_get,
    .del = store_zk_delete,
    .scan = store_zk_scan,
    .count = store_zk_count,
    .begin = store_zk_begin,
    .commit = store_zk_commit,
    .rollback = store_zk_rollback,
    .in_transaction = store_zk_in_transaction,
};
