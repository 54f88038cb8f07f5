/*
 * zk.c: the ZooKeeper C client (multi-threaded flavour) marshalled onto
 * the libuv loop, and zk:// URL parsing (see zk.h).
 *
 * Threads. The library calls us on its own threads: the default watcher
 * (session events), per-path watchers and operation completions. Those
 * entry points (zk_on_*_thread below) never call user code and never touch
 * loop state: they copy what they were given into a struct zk_rec, append
 * it to zk->queue under zk->lock and uv_async_send(). zk_on_async() then
 * runs on the loop, takes the whole queue and dispatches each record.
 *
 *   ZooKeeper thread                      loop thread
 *   zk_on_session_thread ---+
 *   zk_on_watch_thread   ---+--> queue --> zk_on_async --> user callback
 *   zk_on_*_done         ---+   (mutex)
 *
 * Lifetimes.
 * - An operation record (REC_OP) is allocated when the call is made and
 *   freed on the loop after its callback (or unsent). The library holds
 *   it as the completion's data until it queues it.
 * - A watch record (REC_WATCH) is on zk->watches from the call until it
 *   fires (queued by the library's thread, freed on the loop after the
 *   user's watch callback), or until its operation fails (the library
 *   arms a watch only on success: ZOK, or ZNONODE for exists), or until
 *   the handle is freed. The library also shows session events to armed
 *   watches; those calls only read rec->zk and return.
 * - zk_free() marks the handle closing (no user callback runs from then
 *   on) and runs zookeeper_close() on the thread pool, because it blocks
 *   until the library's threads end. Its after-work callback, on the
 *   loop, frees every record left (no library thread remains), then
 *   closes the async handle, whose close callback frees the handle.
 *
 * Close-on-exec. The library opens its self-pipe and its sockets without
 * FD_CLOEXEC. zk_cloexec_sweep() marks them: the pipe right after
 * zookeeper_init() (new non-close-on-exec FIFOs), each socket when the
 * session connects (sockets whose peer is the connected server). A child
 * spawned while a connection is being set up could still inherit one.
 */
#include "lib/compat.h"
#include "lib/zk.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

#define ZK_LOG "zk"
#define ZK_DEFAULT_PORT 2181
#define ZK_MAX_PATH 1024
#define ZK_MAX_CREATED_PATH (ZK_MAX_PATH + 32)

/* Our ZK_RC_* constants are the library's codes. */
#define ZK_SAME_RC(ours, theirs)                                               \
	_Static_assert((int)(ours) == (int)(theirs), #theirs)
ZK_SAME_RC(ZK_RC_OK, ZOK);
ZK_SAME_RC(ZK_RC_CONNECTION_LOSS, ZCONNECTIONLOSS);
ZK_SAME_RC(ZK_RC_OPERATION_TIMEOUT, ZOPERATIONTIMEOUT);
ZK_SAME_RC(ZK_RC_NO_NODE, ZNONODE);
ZK_SAME_RC(ZK_RC_NODE_EXISTS, ZNODEEXISTS);
ZK_SAME_RC(ZK_RC_NOT_EMPTY, ZNOTEMPTY);
ZK_SAME_RC(ZK_RC_SESSION_EXPIRED, ZSESSIONEXPIRED);
ZK_SAME_RC(ZK_RC_CLOSING, ZCLOSING);

/* ---- zk:// URLs ---- */

bool zk_url_is_zk(const char *text)
{
	return text && !strncasecmp(text, "zk://", 5);
}

void zk_url_release(struct zk_url *url)
{
	if (!url)
		return;
	free(url->hosts);
	free(url->path);
	url->hosts = NULL;
	url->path = NULL;
}

/* Checks one "host[:port]" of the host list and appends it to out. */
static int zk_url_add_host(struct buf *out, const char *s, size_t n,
                           size_t idx, struct err *e)
{
	const char *colon = NULL, *hend = s + n;
	size_t hlen;
	long port = ZK_DEFAULT_PORT;

	if (n == 0)
		return err_set(e, "zk url: host %zu: empty", idx + 1);
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb || rb == s + 1)
			return err_set(e,
			               "zk url: host %zu: bad IPv6 address "
			               "(expected [addr]:port)",
			               idx + 1);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return err_set(e,
				               "zk url: host %zu: expected ':' "
				               "after ']'",
				               idx + 1);
			colon = rb + 1;
		}
		hend = rb + 1;
	} else {
		colon = memchr(s, ':', n);
		if (colon && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
			return err_set(e,
			               "zk url: host %zu: IPv6 addresses go "
			               "in brackets ([addr]:port)",
			               idx + 1);
		if (colon)
			hend = colon;
	}
	hlen = (size_t)(hend - s);
	if (hlen == 0)
		return err_set(e, "zk url: host %zu: empty host name", idx + 1);
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && !strchr("-._[]:%", c))
			return err_set(e,
			               "zk url: host %zu: invalid character "
			               "'%c' in the host name",
			               idx + 1, isprint(c) ? c : '?');
	}
	if (colon) {
		const char *p = colon + 1;
		size_t plen = (size_t)(s + n - p);

		port = 0;
		if (plen == 0 || plen > 5)
			return err_set(e, "zk url: host %zu: bad port", idx + 1);
		for (size_t i = 0; i < plen; i++) {
			if (!isdigit((unsigned char)p[i]))
				return err_set(e,
				               "zk url: host %zu: port must be a "
				               "number",
				               idx + 1);
			port = port * 10 + (p[i] - '0');
		}
		if (port < 1 || port > 65535)
			return err_set(e,
			               "zk url: host %zu: port must be in "
			               "[1, 65535], got %ld",
			               idx + 1, port);
	}
	if (out->len)
		buf_add(out, ",", 1);
	buf_add(out, s, hlen);
	buf_addf(out, ":%ld", port);
	return 0;
}

/* Checks a znode path: "/a/b", no empty/./.. segment, printable. */
static int zk_url_check_path(const char *p, struct err *e)
{
	size_t n = strlen(p);

	if (n == 0 || p[0] != '/')
		return err_set(e, "zk url: a path is required "
		                  "(zk://host:port/path)");
	if (n == 1)
		return err_set(e, "zk url: path: '/' is not supported, give a "
		                  "path such as /atoll");
	if (n > ZK_MAX_PATH)
		return err_set(e, "zk url: path: longer than %d bytes",
		               ZK_MAX_PATH);
	if (p[n - 1] == '/')
		return err_set(e, "zk url: path: must not end with '/'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			return err_set(e, "zk url: path: control character at "
			                  "offset %zu",
			               i);
		if (c == '?' || c == '#')
			return err_set(e,
			               "zk url: path: '%c' is not allowed "
			               "(no query or fragment)",
			               c);
	}
	for (const char *seg = p + 1; seg <= p + n;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);

		if (len == 0)
			return err_set(e, "zk url: path: empty segment ('//')");
		if ((len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return err_set(e, "zk url: path: '.' and '..' segments "
			                  "are not allowed");
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

int zk_url_parse(const char *text, struct zk_url *url, struct err *e)
{
	struct buf hosts = BUF_INIT;
	const char *auth, *slash, *p;
	size_t idx = 0;
	int rc;

	url->hosts = NULL;
	url->path = NULL;
	if (!text || !*text)
		return err_set(e, "zk url: empty (expected "
		                  "zk://host:port[,host:port...]/path)");
	if (!zk_url_is_zk(text))
		return err_set(e, "zk url: must start with zk://");
	auth = text + 5;
	slash = strchr(auth, '/');
	if (memchr(auth, '@', slash ? (size_t)(slash - auth) : strlen(auth)))
		return err_set(e, "zk url: credentials (user:password@) are "
		                  "not supported yet");
	if (!slash)
		return err_set(e, "zk url: a path is required "
		                  "(zk://host:port/path)");
	if (slash == auth)
		return err_set(e, "zk url: no host (zk://host:port/path)");
	for (p = auth; p < slash;) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *end = comma ? comma : slash;

		rc = zk_url_add_host(&hosts, p, (size_t)(end - p), idx++, e);
		if (rc)
			goto out_release;
		if (comma && comma + 1 == slash) {
			rc = err_set(e, "zk url: host %zu: empty", idx + 1);
			goto out_release;
		}
		p = comma ? comma + 1 : slash;
	}
	rc = zk_url_check_path(slash, e);
	if (rc)
		goto out_release;
	url->hosts = xstrdup(hosts.data);
	url->path = xstrdup(slash);
out_release:
	buf_release(&hosts);
	return rc;
}

/* ---- records passed from the library's threads to the loop ---- */

enum zk_rec_kind { REC_SESSION, REC_WATCH, REC_OP };

enum zk_op_kind {
	OP_CREATE,
	OP_DELETE,
	OP_GET,
	OP_EXISTS,
	OP_CHILDREN,
	OP_PARENTS, /* zk_create_parents: one znode per step */
};

struct zk_rec {
	struct zk_rec *next; /* zk->queue */
	struct zk_rec *wprev, *wnext; /* zk->watches (armed watches) */
	enum zk_rec_kind kind;
	struct zk *zk;
	void *arg;
	/* REC_SESSION */
	int state;
	uint64_t at;
	/* REC_WATCH */
	zk_watch_fn *watch_cb;
	int type;
	/* REC_OP */
	enum zk_op_kind op;
	struct zk_rec *watch; /* armed with this op, or NULL */
	zk_create_fn *create_cb;
	zk_done_fn *done_cb;
	zk_data_fn *data_cb;
	zk_exists_fn *exists_cb;
	zk_children_fn *children_cb;
	int rc;
	char *path; /* created path, watched path, or OP_PARENTS target */
	char *data;
	size_t len; /* data length; OP_PARENTS: length of the prefix done */
	char **names;
	size_t n;
	int64_t owner;
};

struct zk {
	uv_loop_t *loop;
	zhandle_t *zh;
	uv_async_t async;
	uv_work_t close_work;
	pthread_mutex_t lock;
	struct zk_rec *queue, *queue_tail; /* under lock */
	struct zk_rec *watches;            /* loop thread only */
	zk_session_fn *on_session;
	void *arg;
	double timeout;
	int64_t session_id;
	bool connected;
	bool dead;    /* expired or auth failed */
	bool closing; /* zk_free() was called */
};

static void zk_rec_free(struct zk_rec *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
	free(r->path);
	free(r->data);
	free(r);
}

/* Any thread: appends r and wakes the loop. */
static void zk_enqueue(struct zk *zk, struct zk_rec *r)
{
	r->next = NULL;
	pthread_mutex_lock(&zk->lock);
	if (zk->queue_tail)
		zk->queue_tail->next = r;
	else
		zk->queue = r;
	zk->queue_tail = r;
	pthread_mutex_unlock(&zk->lock);
	uv_async_send(&zk->async);
}

static void zk_watch_link(struct zk *zk, struct zk_rec *w)
{
	w->wprev = NULL;
	w->wnext = zk->watches;
	if (zk->watches)
		zk->watches->wprev = w;
	zk->watches = w;
}

static void zk_watch_unlink(struct zk *zk, struct zk_rec *w)
{
	if (w->wprev)
		w->wprev->wnext = w->wnext;
	else
		zk->watches = w->wnext;
	if (w->wnext)
		w->wnext->wprev = w->wprev;
	w->wprev = w->wnext = NULL;
}

/* ---- library threads ---- */

static void zk_on_session_thread(zhandle_t *zh, int type, int state,
                                 const char *path, void *ctx)
{
	struct zk *zk = ctx;
	struct zk_rec *r;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return; /* node events go to the per-path watchers */
	r = xcalloc(1, sizeof(*r));
	r->kind = REC_SESSION;
	r->zk = zk;
	r->state = state;
	r->at = uv_hrtime();
	zk_enqueue(zk, r);
}

static void zk_on_watch_thread(zhandle_t *zh, int type, int state,
                               const char *path, void *ctx)
{
	struct zk_rec *w = ctx;

	(void)zh;
	(void)state;
	if (type == ZOO_SESSION_EVENT)
		return; /* the default watcher reports those */
	w->type = type;
	free(w->path);
	w->path = xstrdup(path ? path : "");
	zk_enqueue(w->zk, w);
}

static void zk_on_create_done(int rc, const char *value, const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	r->rc = rc;
	free(r->path);
	r->path = (rc == ZOK && value) ? xstrdup(value) : NULL;
	zk_enqueue(r->zk, r);
}

/* A step of zk_create_parents: r->path is the target, keep it. */
static void zk_on_parent_done(int rc, const char *value, const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	(void)value;
	r->rc = rc;
	zk_enqueue(r->zk, r);
}

static void zk_on_void_done(int rc, const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	r->rc = rc;
	zk_enqueue(r->zk, r);
}

static void zk_on_data_done(int rc, const char *value, int len,
                            const struct Stat *stat, const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	(void)stat;
	r->rc = rc;
	if (rc == ZOK) {
		size_t n = (value && len > 0) ? (size_t)len : 0;
		r->data = xmalloc(n + 1);
		if (n)
			memcpy(r->data, value, n);
		r->data[n] = '\0';
		r->len = n;
	}
	zk_enqueue(r->zk, r);
}

static void zk_on_stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	r->rc = rc;
	r->owner = (rc == ZOK && stat) ? stat->ephemeralOwner : 0;
	zk_enqueue(r->zk, r);
}

static void zk_on_children_done(int rc, const struct String_vector *sv,
                                const void *data)
{
	struct zk_rec *r = (struct zk_rec *)data;

	r->rc = rc;
	if (rc == ZOK && sv && sv->count > 0) {
		r->names = xcalloc((size_t)sv->count, sizeof(*r->names));
		for (int32_t i = 0; i < sv->count; i++)
			r->names[i] = xstrdup(sv->data[i] ? sv->data[i] : "");
		r->n = (size_t)sv->count;
	}
	zk_enqueue(r->zk, r);
}

/* The library's log lines, at our levels ("...:ZOO_ERROR@fn@line: msg"). */
static void zk_on_log_thread(const char *message)
{
	const char *at = strstr(message, "ZOO_");

	/* A level lower than the library's: it repeats its connection
	 * errors while retrying, and zk_dispatch_session() already logs
	 * every state change once. */
	if (at && !strncmp(at, "ZOO_ERROR", 9))
		log_info(ZK_LOG, "client: %s", at);
	else
		log_debug(ZK_LOG, "client: %s", at ? at : message);
}

/* ---- close-on-exec sweep ---- */

static bool zk_same_peer(const struct sockaddr_storage *a,
                         const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr,
		               sizeof(x->sin6_addr));
	}
	return false;
}

/*
 * Sets FD_CLOEXEC on the library's descriptors that lack it: sockets whose
 * peer is *peer (when given), and FIFOs not in the before[] set (when
 * before is given: the self-pipe zookeeper_init() just made).
 */
static void zk_cloexec_sweep(const struct sockaddr_storage *peer,
                             const int *before, size_t nbefore, bool fifos)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct stat st;
		bool known = false;
		int flags;

		if (*end || end == de->d_name || fd < 3 || fd == dirfd(d))
			continue;
		flags = fcntl((int)fd, F_GETFD);
		if (flags < 0 || (flags & FD_CLOEXEC))
			continue;
		if (fstat((int)fd, &st) < 0)
			continue;
		if (S_ISSOCK(st.st_mode) && peer) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			memset(&ss, 0, sizeof(ss));
			if (getpeername((int)fd, (struct sockaddr *)&ss,
			                &len) == 0 &&
			    zk_same_peer(&ss, peer))
				(void)fcntl((int)fd, F_SETFD,
				            flags | FD_CLOEXEC);
		} else if (S_ISFIFO(st.st_mode) && fifos) {
			for (size_t i = 0; i < nbefore; i++)
				known = known || before[i] == (int)fd;
			if (!known)
				(void)fcntl((int)fd, F_SETFD,
				            flags | FD_CLOEXEC);
		}
	}
	closedir(d);
}

/* The non-close-on-exec FIFOs open now (at most cap). */
static size_t zk_list_fifos(int *out, size_t cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < cap) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct stat st;
		int flags;

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		flags = fcntl((int)fd, F_GETFD);
		if (flags >= 0 && !(flags & FD_CLOEXEC) &&
		    fstat((int)fd, &st) == 0 && S_ISFIFO(st.st_mode))
			out[n++] = (int)fd;
	}
	closedir(d);
	return n;
}

static void zk_cloexec_socket(struct zk *zk)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	memset(&peer, 0, sizeof(peer));
	if (zookeeper_get_connected_host(zk->zh, (struct sockaddr *)&peer,
	                                 &len))
		zk_cloexec_sweep(&peer, NULL, 0, false);
}

/* ---- the loop side ---- */

static enum zk_watch_event zk_watch_event_of(int type)
{
	if (type == ZOO_CREATED_EVENT)
		return ZK_WATCH_CREATED;
	if (type == ZOO_DELETED_EVENT)
		return ZK_WATCH_DELETED;
	if (type == ZOO_CHANGED_EVENT)
		return ZK_WATCH_CHANGED;
	if (type == ZOO_CHILD_EVENT)
		return ZK_WATCH_CHILD;
	return ZK_WATCH_OTHER;
}

static void zk_dispatch_session(struct zk *zk, struct zk_rec *r)
{
	enum zk_session_event ev;

	if (r->state == ZOO_CONNECTED_STATE) {
		const clientid_t *id = zoo_client_id(zk->zh);
		int ms = zoo_recv_timeout(zk->zh);

		zk->connected = true;
		zk->session_id = id ? id->client_id : 0;
		if (ms > 0)
			zk->timeout = ms / 1000.0;
		zk_cloexec_socket(zk);
		log_info(ZK_LOG, "session=0x%llx timeout=%.1f connected",
		         (unsigned long long)zk->session_id, zk->timeout);
		ev = ZK_SESSION_CONNECTED;
	} else if (r->state == ZOO_EXPIRED_SESSION_STATE) {
		zk->connected = false;
		zk->dead = true;
		log_warn(ZK_LOG, "session=0x%llx session expired",
		         (unsigned long long)zk->session_id);
		ev = ZK_SESSION_EXPIRED;
	} else if (r->state == ZOO_AUTH_FAILED_STATE) {
		zk->connected = false;
		zk->dead = true;
		log_error(ZK_LOG, "authentication failed");
		ev = ZK_SESSION_AUTH_FAILED;
	} else if (r->state == ZOO_CONNECTING_STATE ||
	           r->state == ZOO_ASSOCIATING_STATE ||
	           r->state == ZOO_NOTCONNECTED_STATE) {
		if (!zk->connected)
			return; /* not a change worth reporting */
		zk->connected = false;
		log_warn(ZK_LOG, "session=0x%llx connection lost, reconnecting",
		         (unsigned long long)zk->session_id);
		ev = ZK_SESSION_CONNECTING;
	} else {
		log_debug(ZK_LOG, "state=%d session state ignored", r->state);
		return;
	}
	if (zk->on_session)
		zk->on_session(zk, ev, r->at, zk->arg);
}

/* An operation completed: runs its callback, then frees its record. */
static void zk_dispatch_op(struct zk *zk, struct zk_rec *r)
{
	struct zk_rec *w = r->watch;

	/* The library arms a watch only on success (ZNONODE also arms an
	 * exists watch); an unarmed one will never fire. */
	if (w && !(r->rc == ZOK || (r->op == OP_EXISTS && r->rc == ZNONODE))) {
		zk_watch_unlink(zk, w);
		zk_rec_free(w);
	}
	r->watch = NULL;
	switch (r->op) {
	case OP_CREATE:
		if (r->create_cb)
			r->create_cb(zk, r->rc, r->rc == ZOK ? r->path : NULL,
			             r->arg);
		break;
	case OP_DELETE:
	case OP_PARENTS:
		if (r->done_cb)
			r->done_cb(zk, r->rc, r->arg);
		break;
	case OP_GET:
		if (r->data_cb)
			r->data_cb(zk, r->rc, r->data, r->len, r->arg);
		break;
	case OP_EXISTS:
		if (r->exists_cb)
			r->exists_cb(zk, r->rc, r->owner, r->arg);
		break;
	case OP_CHILDREN:
		if (r->children_cb)
			r->children_cb(zk, r->rc, r->names, r->n, r->arg);
		break;
	}
	zk_rec_free(r);
}

static int zk_parents_step(struct zk *zk, struct zk_rec *r);

static void zk_dispatch(struct zk *zk, struct zk_rec *r)
{
	switch (r->kind) {
	case REC_SESSION:
		zk_dispatch_session(zk, r);
		zk_rec_free(r);
		break;
	case REC_WATCH:
		zk_watch_unlink(zk, r);
		if (r->watch_cb)
			r->watch_cb(zk, zk_watch_event_of(r->type), r->path,
			            r->arg);
		zk_rec_free(r);
		break;
	case REC_OP:
		/* zk_create_parents: the next ancestor, unless done. */
		if (r->op == OP_PARENTS &&
		    (r->rc == ZOK || r->rc == ZNODEEXISTS) &&
		    r->len < strlen(r->path)) {
			int rc = zk_parents_step(zk, r);
			if (rc == ZOK)
				return;
			r->rc = rc;
		} else if (r->op == OP_PARENTS && r->rc == ZNODEEXISTS) {
			r->rc = ZOK;
		}
		zk_dispatch_op(zk, r);
		break;
	}
}

static void zk_on_async(uv_async_t *a)
{
	struct zk *zk = a->data;
	struct zk_rec *r, *next;

	pthread_mutex_lock(&zk->lock);
	r = zk->queue;
	zk->queue = zk->queue_tail = NULL;
	pthread_mutex_unlock(&zk->lock);
	for (; r; r = next) {
		next = r->next;
		if (zk->closing) {
			/* Records still on the watch list are freed with
			 * the handle; everything else goes now. */
			if (r->kind == REC_WATCH)
				zk_watch_unlink(zk, r);
			zk_rec_free(r);
			continue;
		}
		zk_dispatch(zk, r);
	}
}

/* ---- lifecycle ---- */

static void zk_on_async_closed(uv_handle_t *h)
{
	struct zk *zk = h->data;

	pthread_mutex_destroy(&zk->lock);
	free(zk);
}

struct zk *zk_new(uv_loop_t *loop, const char *hosts, double session_timeout,
                  zk_session_fn *on_session, void *arg, struct err *e)
{
	struct zk *zk;
	int before[64];
	size_t nbefore;
	int ms;

	if (!hosts || !*hosts) {
		err_set(e, "zk: no hosts");
		return NULL;
	}
	if (session_timeout <= 0)
		session_timeout = 10;
	ms = session_timeout > 3600 ? 3600 * 1000
	                            : (int)(session_timeout * 1000);
	zk = xcalloc(1, sizeof(*zk));
	zk->loop = loop;
	zk->on_session = on_session;
	zk->arg = arg;
	zk->timeout = session_timeout;
	pthread_mutex_init(&zk->lock, NULL);
	if (uv_async_init(loop, &zk->async, zk_on_async)) {
		pthread_mutex_destroy(&zk->lock);
		free(zk);
		err_set(e, "zk: cannot create the loop wake-up handle");
		return NULL;
	}
	zk->async.data = zk;
	nbefore = zk_list_fifos(before, ARRAY_SIZE(before));
	errno = 0;
	zk->zh = zookeeper_init2(hosts, zk_on_session_thread, ms, NULL, zk, 0,
	                         zk_on_log_thread);
	if (!zk->zh) {
		int saved = errno;
		err_set(e, "zk: cannot start a client for '%s': %s", hosts,
		        saved ? strerror(saved) : "unknown error");
		/* No library thread exists; the close callback frees zk. */
		zk->closing = true;
		uv_close((uv_handle_t *)&zk->async, zk_on_async_closed);
		return NULL;
	}
	zk_cloexec_sweep(NULL, before, nbefore, true);
	return zk;
}

static void zk_close_work(uv_work_t *w)
{
	struct zk *zk = w->data;

	zookeeper_close(zk->zh);
}

static void zk_after_close(uv_work_t *w, int status)
{
	struct zk *zk = w->data;
	struct zk_rec *r, *next;

	(void)status;
	zk->zh = NULL;
	/* No library thread is left: nothing else can reach these. */
	pthread_mutex_lock(&zk->lock);
	r = zk->queue;
	zk->queue = zk->queue_tail = NULL;
	pthread_mutex_unlock(&zk->lock);
	for (; r; r = next) {
		next = r->next;
		if (r->kind == REC_WATCH)
			zk_watch_unlink(zk, r);
		zk_rec_free(r);
	}
	while (zk->watches) {
		r = zk->watches;
		zk_watch_unlink(zk, r);
		zk_rec_free(r);
	}
	uv_close((uv_handle_t *)&zk->async, zk_on_async_closed);
}

void zk_free(struct zk *zk)
{
	if (!zk || zk->closing)
		return;
	zk->closing = true;
	zk->connected = false;
	zk->close_work.data = zk;
	if (uv_queue_work(zk->loop, &zk->close_work, zk_close_work,
	                  zk_after_close)) {
		/* Cannot defer: close here (blocks the loop briefly). */
		zk_close_work(&zk->close_work);
		zk_after_close(&zk->close_work, 0);
	}
}

bool zk_is_connected(const struct zk *zk)
{
	return zk->connected;
}

int64_t zk_session_id(const struct zk *zk)
{
	return zk->session_id;
}

double zk_session_timeout(const struct zk *zk)
{
	return zk->timeout;
}

const char *zk_strerror(int rc)
{
	return zerror(rc);
}

/* ---- operations ---- */

/* A new operation record, or NULL with *rc when the handle cannot take
 * one. */
static struct zk_rec *zk_op_new(struct zk *zk, enum zk_op_kind op,
                                const char *path, void *arg, int *rc)
{
	struct zk_rec *r;

	if (zk->closing) {
		*rc = ZCLOSING;
		return NULL;
	}
	if (zk->dead) {
		*rc = ZSESSIONEXPIRED;
		return NULL;
	}
	if (!path || path[0] != '/' || strlen(path) > ZK_MAX_PATH) {
		*rc = ZBADARGUMENTS;
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->kind = REC_OP;
	r->zk = zk;
	r->op = op;
	r->arg = arg;
	*rc = ZOK;
	return r;
}

/* A watch record for an operation; armed by the library on success. */
static struct zk_rec *zk_watch_new(struct zk *zk, zk_watch_fn *cb, void *arg)
{
	struct zk_rec *w;

	if (!cb)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->kind = REC_WATCH;
	w->zk = zk;
	w->watch_cb = cb;
	w->arg = arg;
	zk_watch_link(zk, w);
	return w;
}

/* The call was refused: nothing will come back for r or its watch. */
static int zk_op_refused(struct zk *zk, struct zk_rec *r, int rc)
{
	if (r->watch) {
		zk_watch_unlink(zk, r->watch);
		zk_rec_free(r->watch);
	}
	r->watch = NULL;
	zk_rec_free(r);
	return rc;
}

int zk_create(struct zk *zk, const char *path, const void *data, size_t len,
              enum zk_create_flags flags, zk_create_fn *cb, void *arg)
{
	int rc, zflags = 0;
	struct zk_rec *r = zk_op_new(zk, OP_CREATE, path, arg, &rc);

	if (!r)
		return rc;
	if (len > INT32_MAX)
		return zk_op_refused(zk, r, ZBADARGUMENTS);
	r->create_cb = cb;
	if (flags & ZK_EPHEMERAL)
		zflags |= ZOO_EPHEMERAL;
	if (flags & ZK_SEQUENCE)
		zflags |= ZOO_SEQUENCE;
	rc = zoo_acreate(zk->zh, path, data, data ? (int)len : -1,
	                 &ZOO_OPEN_ACL_UNSAFE, zflags, zk_on_create_done, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}

int zk_delete(struct zk *zk, const char *path, zk_done_fn *cb, void *arg)
{
	int rc;
	struct zk_rec *r = zk_op_new(zk, OP_DELETE, path, arg, &rc);

	if (!r)
		return rc;
	r->done_cb = cb;
	rc = zoo_adelete(zk->zh, path, -1, zk_on_void_done, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}

int zk_get(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
           zk_data_fn *cb, void *arg)
{
	int rc;
	struct zk_rec *r = zk_op_new(zk, OP_GET, path, arg, &rc);

	if (!r)
		return rc;
	r->data_cb = cb;
	r->watch = zk_watch_new(zk, watch_cb, arg);
	rc = zoo_awget(zk->zh, path, r->watch ? zk_on_watch_thread : NULL,
	               r->watch, zk_on_data_done, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}

int zk_exists(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
              zk_exists_fn *cb, void *arg)
{
	int rc;
	struct zk_rec *r = zk_op_new(zk, OP_EXISTS, path, arg, &rc);

	if (!r)
		return rc;
	r->exists_cb = cb;
	r->watch = zk_watch_new(zk, watch_cb, arg);
	rc = zoo_awexists(zk->zh, path, r->watch ? zk_on_watch_thread : NULL,
	                  r->watch, zk_on_stat_done, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}

int zk_get_children(struct zk *zk, const char *path, zk_watch_fn *watch_cb,
                    zk_children_fn *cb, void *arg)
{
	int rc;
	struct zk_rec *r = zk_op_new(zk, OP_CHILDREN, path, arg, &rc);

	if (!r)
		return rc;
	r->children_cb = cb;
	r->watch = zk_watch_new(zk, watch_cb, arg);
	rc = zoo_awget_children(zk->zh, path,
	                        r->watch ? zk_on_watch_thread : NULL, r->watch,
	                        zk_on_children_done, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}

/*
 * Sends the create of the next ancestor of r->path: the prefix up to the
 * next '/' after r->len (or the whole path). Returns ZOK or the error.
 */
static int zk_parents_step(struct zk *zk, struct zk_rec *r)
{
	const char *slash = strchr(r->path + r->len + 1, '/');
	size_t end = slash ? (size_t)(slash - r->path) : strlen(r->path);
	char *prefix = xstrndup(r->path, end);
	int rc;

	if (zk->closing || zk->dead) {
		free(prefix);
		return zk->closing ? ZCLOSING : ZSESSIONEXPIRED;
	}
	r->len = end;
	rc = zoo_acreate(zk->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
	                 zk_on_parent_done, r);
	free(prefix);
	return rc;
}

int zk_create_parents(struct zk *zk, const char *path, zk_done_fn *cb,
                      void *arg)
{
	int rc;
	struct zk_rec *r = zk_op_new(zk, OP_PARENTS, path, arg, &rc);

	if (!r)
		return rc;
	r->done_cb = cb;
	r->path = xstrdup(path);
	r->len = 0;
	if (strlen(path) < 2)
		return zk_op_refused(zk, r, ZBADARGUMENTS);
	rc = zk_parents_step(zk, r);
	return rc == ZOK ? 0 : zk_op_refused(zk, r, rc);
}
