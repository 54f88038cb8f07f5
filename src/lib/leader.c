/*
 * leader.c: leader election (contender) and detection (detector) in
 * ZooKeeper, in Mesos's znode format (see leader.h).
 *
 * Contender. One session, one znode, one operation in flight at a time
 * (c->busy; a request to re-run while busy sets c->again):
 *
 *   CONNECTING --connected--> PARENTS --zk_create_parents ok--> CREATE
 *   CREATE --zk_create ok--> WATCH          (create outcome unknown after a
 *   CREATE --lost conn--> CREATE+unknown     connection loss: the next
 *        (ct_recover: our znode is the        attempt first looks for a
 *         child whose ephemeral owner is      child owned by our session)
 *         our session)
 *   WATCH: list children (ct_on_children); lowest is ours -> ELECTED,
 *          else exists+watch on the predecessor (the next lower
 *          sequence); its deletion (ct_on_watch) lists again
 *   ELECTED: exists+watch on our own znode; its deletion -> LOST
 *   any --expired / auth failed / grace timer / fatal error--> LOST
 *        (ct_lose: closes the session, reports once)
 *
 * After a reconnection within the session every state re-runs its step
 * (ct_step), because replies lost with the connection never come; the
 * library re-arms watches by itself, so a re-run may leave two armed
 * watches on a node: both lead to the same idempotent step.
 *
 * Why "lost" waits only disconnect_fraction (<= 1/3) of the session
 * timeout T after a disconnection: the C client reports a lost connection
 * when it has heard nothing for 2/3 T; the server expires the session T
 * after it last heard from us. So when the loss is reported, the server
 * may already be 2/3 T into that count, and at 1/3 T after the report
 * another contender may be elected. Stopping before that point means two
 * masters never both believe they lead (up to clock rate differences and
 * the loop's own delay, which is why the default is 1/4).
 *
 * Detector: a session, a children watch on the path (or an exists watch
 * while the path does not exist), the lowest "json.info_" child's data
 * read and parsed; changes reported. An expired session is replaced after
 * a short delay; errors are retried with a capped backoff.
 */
#include "lib/compat.h"
#include "lib/leader.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>

#include "lib/err.h"
#include "lib/http.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/zk.h"

#define LEADER_LOG "leader"
#define LEADER_DEFAULT_FRACTION 0.25
#define LEADER_RETRY_MIN 0.5
#define LEADER_RETRY_MAX 10.0
#define LEADER_MAX_DATA (1024 * 1024)

/* ---- MasterInfo ---- */

void leader_info_release(struct leader_info *info)
{
	if (!info)
		return;
	free(info->id);
	free(info->hostname);
	free(info->ip);
	free(info->pid);
	free(info->version);
	free(info->endpoint);
	free(info->json);
	memset(info, 0, sizeof(*info));
	info->sequence = -1;
}

static char *leader_strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void leader_info_copy(struct leader_info *dst, const struct leader_info *src)
{
	dst->sequence = src->sequence;
	dst->id = leader_strdup_or_null(src->id);
	dst->hostname = leader_strdup_or_null(src->hostname);
	dst->ip = leader_strdup_or_null(src->ip);
	dst->port = src->port;
	dst->pid = leader_strdup_or_null(src->pid);
	dst->version = leader_strdup_or_null(src->version);
	dst->endpoint = leader_strdup_or_null(src->endpoint);
	dst->json = leader_strdup_or_null(src->json);
}

/* An optional string member: NULL when absent; -EINVAL when not a string. */
static int leader_opt_str(json_t *obj, const char *key, const char *where,
                          const char **out, struct err *e)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, "%s%s: must be a string", where, key);
	*out = json_string_value(v);
	return 0;
}

static int leader_port(json_t *v, const char *field, struct err *e)
{
	json_int_t p;

	if (!json_is_integer(v))
		return err_set(e, "%s: must be an integer", field);
	p = json_integer_value(v);
	if (p < 1 || p > 65535)
		return err_set(e, "%s: must be in [1, 65535], got %lld", field,
		               (long long)p);
	return (int)p;
}

/* "host:port" for HTTP, bracketing IPv6 literals. */
static char *leader_endpoint(const char *host, int port)
{
	return strchr(host, ':') ? xasprintf("[%s]:%d", host, port)
	                         : xasprintf("%s:%d", host, port);
}

int leader_info_parse(const char *json, size_t len, struct leader_info *info,
                      struct err *e)
{
	json_error_t jerr;
	json_t *root, *v, *addr;
	const char *id, *hostname, *pid, *version;
	const char *a_host = NULL, *a_ip = NULL;
	int port, a_port = 0, rc = -EINVAL;
	json_int_t ip;
	struct in_addr in;
	char ipbuf[INET_ADDRSTRLEN];

	memset(info, 0, sizeof(*info));
	info->sequence = -1;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return err_set(e, "master info: not JSON: %s (line %d)",
		               jerr.text, jerr.line);
	if (!json_is_object(root)) {
		err_set(e, "master info: must be a JSON object");
		goto out_decref;
	}
	v = json_object_get(root, "id");
	if (!json_is_string(v) || !*json_string_value(v)) {
		err_set(e, "master info: id: required non-empty string");
		goto out_decref;
	}
	id = json_string_value(v);
	v = json_object_get(root, "ip");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX) {
		err_set(e, "master info: ip: required integer in "
		           "[0, 4294967295] (IPv4, network byte order)");
		goto out_decref;
	}
	ip = json_integer_value(v);
	port = leader_port(json_object_get(root, "port"), "master info: port",
	                   e);
	if (port < 0)
		goto out_decref;
	if (leader_opt_str(root, "hostname", "master info: ", &hostname, e) ||
	    leader_opt_str(root, "pid", "master info: ", &pid, e) ||
	    leader_opt_str(root, "version", "master info: ", &version, e))
		goto out_decref;
	addr = json_object_get(root, "address");
	if (addr && !json_is_object(addr)) {
		err_set(e, "master info: address: must be an object");
		goto out_decref;
	}
	if (addr) {
		if (leader_opt_str(addr, "hostname", "master info: address.",
		                   &a_host, e) ||
		    leader_opt_str(addr, "ip", "master info: address.", &a_ip,
		                   e))
			goto out_decref;
		v = json_object_get(addr, "port");
		if (v) {
			a_port = leader_port(v, "master info: address.port", e);
			if (a_port < 0)
				goto out_decref;
		}
	}
	/* The uint32 holds the address bytes in network order. */
	in.s_addr = (uint32_t)ip;
	if (!inet_ntop(AF_INET, &in, ipbuf, sizeof(ipbuf))) {
		err_set(e, "master info: ip: cannot be formatted");
		goto out_decref;
	}
	info->id = xstrdup(id);
	info->hostname = leader_strdup_or_null(hostname);
	info->ip = xstrdup(ipbuf);
	info->port = port;
	info->pid = leader_strdup_or_null(pid);
	info->version = leader_strdup_or_null(version);
	info->json = xstrndup(json, len);
	if (a_port && a_ip && *a_ip)
		info->endpoint = leader_endpoint(a_ip, a_port);
	else if (a_port && a_host && *a_host)
		info->endpoint = leader_endpoint(a_host, a_port);
	else if (pid && strchr(pid, '@')) {
		char *host = NULL;
		int p = 0;
		if (http_parse_hostport(strchr(pid, '@') + 1, port, &host,
		                        &p) == 0)
			info->endpoint = leader_endpoint(host, p);
		free(host);
	}
	if (!info->endpoint)
		info->endpoint = leader_endpoint(ipbuf, port);
	rc = 0;
out_decref:
	json_decref(root);
	return rc;
}

int64_t leader_znode_sequence(const char *name)
{
	static const char prefix[] = LEADER_LABEL "_";
	const char *p;
	int64_t seq = 0;
	size_t n;

	if (!name || strncmp(name, prefix, sizeof(prefix) - 1))
		return -1;
	p = name + sizeof(prefix) - 1;
	n = strlen(p);
	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		seq = seq * 10 + (p[i] - '0');
	}
	/* ZooKeeper's counter is a signed 32-bit int. */
	return seq > INT32_MAX ? -1 : seq;
}

/* ---- contender ---- */

enum ct_state {
	CT_CONNECTING,
	CT_PARENTS,
	CT_CREATE,
	CT_WATCH,
	CT_ELECTED,
	CT_LOST,
};

struct leader_contender {
	uv_loop_t *loop;
	struct zk *zk;
	char *hosts;
	char *path;   /* the group's znode */
	char *prefix; /* path + "/json.info_" */
	char *data;
	size_t len;
	leader_contender_fn *cb;
	void *arg;
	double session_timeout;
	double fraction;
	enum ct_state state;
	char *znode; /* ours, once created */
	int64_t seq;
	bool busy;           /* an operation is in flight */
	bool again;          /* re-run the step when it completes */
	bool create_unknown; /* a create may have succeeded unseen */
	char **cand;         /* recovery: candidate znodes, in order */
	size_t ncand;
	size_t next_cand;    /* the one the next exists reply is about */
	uv_timer_t *grace;
};

static void ct_step(struct leader_contender *c);

static const char *ct_state_name(enum ct_state s)
{
	static const char *const names[] = {
	    "connecting", "parents", "create", "watch", "elected", "lost",
	};
	return names[s];
}

/* Ends the candidacy: closes the session and reports LOST once. */
static void ct_lose(struct leader_contender *c, const char *why)
{
	bool was_leader = c->state == CT_ELECTED;

	if (c->state == CT_LOST)
		return;
	c->state = CT_LOST;
	loop_timer_drop(&c->grace);
	zk_free(c->zk);
	c->zk = NULL;
	c->busy = false;
	log_warn(LEADER_LOG, "znode=%s leader=%d candidacy lost: %s",
	         c->znode ? c->znode : "-", was_leader, why);
	if (c->cb)
		c->cb(c, LEADER_LOST, why, c->arg);
}

/* A reply came back; re-runs the step when asked meanwhile. */
static void ct_done(struct leader_contender *c)
{
	c->busy = false;
	if (c->again) {
		c->again = false;
		ct_step(c);
	}
}

/* rc of an operation that failed: retry after reconnecting, or lose. */
static void ct_failed(struct leader_contender *c, const char *what, int rc)
{
	char why[256];

	c->busy = false;
	c->again = false;
	if (rc == ZK_RC_CONNECTION_LOSS || rc == ZK_RC_OPERATION_TIMEOUT) {
		/* A lost reply means a lost connection: the session handler
		 * re-runs the step once reconnected (never earlier, so that
		 * no two steps run at once). */
		log_info(LEADER_LOG, "%s interrupted (%s); retrying once "
		                     "reconnected",
		         what, zk_strerror(rc));
		return;
	}
	if (rc == ZK_RC_CLOSING)
		return;
	snprintf(why, sizeof(why), "%s failed: %s", what, zk_strerror(rc));
	ct_lose(c, why);
}

static void ct_on_watch(struct zk *zk, enum zk_watch_event ev,
                        const char *path, void *arg)
{
	struct leader_contender *c = arg;

	(void)zk;
	if (c->state == CT_ELECTED && ev == ZK_WATCH_DELETED &&
	    streq(path, c->znode)) {
		ct_lose(c, "our znode was deleted");
		return;
	}
	if (c->state != CT_WATCH && c->state != CT_ELECTED)
		return;
	ct_step(c);
}

static void ct_on_own_exists(struct zk *zk, int rc, int64_t owner, void *arg)
{
	struct leader_contender *c = arg;

	(void)zk;
	(void)owner;
	if (c->state != CT_ELECTED)
		return;
	if (rc == ZK_RC_NO_NODE) {
		ct_lose(c, "our znode is gone");
		return;
	}
	if (rc != ZK_RC_OK) {
		ct_failed(c, "watching our znode", rc);
		return;
	}
	ct_done(c);
}

static void ct_on_pred_exists(struct zk *zk, int rc, int64_t owner, void *arg)
{
	struct leader_contender *c = arg;

	(void)zk;
	(void)owner;
	if (c->state != CT_WATCH)
		return;
	if (rc == ZK_RC_NO_NODE) {
		/* Gone already: look again. */
		c->busy = false;
		ct_step(c);
		return;
	}
	if (rc != ZK_RC_OK) {
		ct_failed(c, "watching the predecessor", rc);
		return;
	}
	ct_done(c);
}

static void ct_on_children(struct zk *zk, int rc, char *const *names,
                           size_t n, void *arg)
{
	struct leader_contender *c = arg;
	int64_t pred = -1;
	const char *pred_name = NULL;
	bool mine = false;
	char *path;
	int r;

	(void)zk;
	if (c->state != CT_WATCH)
		return;
	if (rc == ZK_RC_NO_NODE) {
		ct_lose(c, "the group's znode was deleted");
		return;
	}
	if (rc != ZK_RC_OK) {
		ct_failed(c, "listing the group", rc);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t s = leader_znode_sequence(names[i]);
		if (s < 0)
			continue;
		if (s == c->seq)
			mine = true;
		else if (s < c->seq && s > pred) {
			pred = s;
			pred_name = names[i];
		}
	}
	if (!mine) {
		ct_lose(c, "our znode is gone");
		return;
	}
	if (!pred_name) {
		c->state = CT_ELECTED;
		c->busy = false;
		c->again = false;
		log_info(LEADER_LOG, "znode=%s elected leader", c->znode);
		r = zk_exists(c->zk, c->znode, ct_on_watch, ct_on_own_exists,
		              c);
		if (r) {
			ct_failed(c, "watching our znode", r);
			if (c->state != CT_ELECTED)
				return;
		} else {
			c->busy = true;
		}
		if (c->cb)
			c->cb(c, LEADER_ELECTED, NULL, c->arg);
		return;
	}
	path = xasprintf("%s/%s", c->path, pred_name);
	log_info(LEADER_LOG, "znode=%s predecessor=%s waiting", c->znode,
	         pred_name);
	r = zk_exists(c->zk, path, ct_on_watch, ct_on_pred_exists, c);
	free(path);
	if (r)
		ct_failed(c, "watching the predecessor", r);
}

/* Our znode is known: adopt it and start watching. */
static void ct_adopt(struct leader_contender *c, const char *znode)
{
	const char *base = strrchr(znode, '/');

	free(c->znode);
	c->znode = xstrdup(znode);
	c->seq = leader_znode_sequence(base ? base + 1 : znode);
	c->create_unknown = false;
	if (c->seq < 0) {
		ct_lose(c, "created znode has an unexpected name");
		return;
	}
	log_info(LEADER_LOG, "znode=%s session=0x%llx contending", c->znode,
	         (unsigned long long)zk_session_id(c->zk));
	c->state = CT_WATCH;
	c->busy = false;
	ct_step(c);
}

static void ct_on_created(struct zk *zk, int rc, const char *path, void *arg)
{
	struct leader_contender *c = arg;

	(void)zk;
	if (rc == ZK_RC_OK && (c->state != CT_CREATE || c->znode)) {
		/* A create sent in the window of a reconnection landed after
		 * another one: ours is the first; withdraw this one. */
		log_warn(LEADER_LOG, "znode=%s withdrawing a duplicate", path);
		if (c->zk && zk_delete(zk, path, NULL, NULL))
			log_warn(LEADER_LOG, "znode=%s cannot delete: it goes "
			                     "with the session",
			         path);
		return;
	}
	if (c->state != CT_CREATE)
		return;
	if (rc == ZK_RC_CONNECTION_LOSS || rc == ZK_RC_OPERATION_TIMEOUT)
		c->create_unknown = true;
	if (rc != ZK_RC_OK) {
		ct_failed(c, "creating our znode", rc);
		return;
	}
	ct_adopt(c, path);
}

/* The sequence number of a znode path's last component, or -1. */
static int64_t ct_path_seq(const char *path)
{
	const char *base = strrchr(path, '/');

	return leader_znode_sequence(base ? base + 1 : path);
}

static void ct_recover_clear(struct leader_contender *c)
{
	for (size_t i = 0; i < c->ncand; i++)
		free(c->cand[i]);
	free(c->cand);
	c->cand = NULL;
	c->ncand = c->next_cand = 0;
}

/*
 * Recovery, one reply per candidate: replies of a session come back in
 * request order, so the next reply is about c->cand[c->next_cand].
 */
static void ct_on_recover_exists(struct zk *zk, int rc, int64_t owner,
                                 void *arg)
{
	struct leader_contender *c = arg;
	char *found;

	if (c->state != CT_CREATE || c->next_cand >= c->ncand)
		return;
	found = c->cand[c->next_cand++];
	if (rc == ZK_RC_OK && owner == zk_session_id(zk)) {
		/* Ours: keep the lowest, withdraw any duplicate. */
		char *drop = found;
		if (!c->znode || ct_path_seq(found) < ct_path_seq(c->znode)) {
			drop = c->znode;
			c->znode = xstrdup(found);
		}
		log_info(LEADER_LOG, "znode=%s found our znode after a lost "
		                     "reply",
		         c->znode);
		if (drop && zk_delete(zk, drop, NULL, NULL))
			log_warn(LEADER_LOG, "znode=%s cannot delete a "
			                     "duplicate",
			         drop);
		if (drop != found)
			free(drop);
	} else if (rc != ZK_RC_OK && rc != ZK_RC_NO_NODE) {
		/* Cannot tell: give up this pass, ct_failed decides. */
		ct_recover_clear(c);
		ct_failed(c, "looking for our znode", rc);
		return;
	}
	if (c->next_cand < c->ncand)
		return;
	ct_recover_clear(c);
	c->busy = false;
	c->create_unknown = false;
	if (c->znode) {
		found = c->znode;
		c->znode = NULL;
		ct_adopt(c, found);
		free(found);
		return;
	}
	ct_step(c); /* nothing of ours: create for real */
}

static void ct_on_recover_children(struct zk *zk, int rc, char *const *names,
                                   size_t n, void *arg)
{
	struct leader_contender *c = arg;
	int r;

	if (c->state != CT_CREATE)
		return;
	if (rc != ZK_RC_OK) {
		ct_failed(c, "looking for our znode", rc);
		return;
	}
	ct_recover_clear(c);
	free(c->znode);
	c->znode = NULL;
	c->cand = xcalloc(n ? n : 1, sizeof(*c->cand));
	for (size_t i = 0; i < n; i++)
		if (leader_znode_sequence(names[i]) >= 0)
			c->cand[c->ncand++] =
			    xasprintf("%s/%s", c->path, names[i]);
	for (size_t i = 0; i < c->ncand; i++) {
		r = zk_exists(zk, c->cand[i], NULL, ct_on_recover_exists, c);
		if (r) {
			/* Replies already due still arrive; drop them. */
			ct_recover_clear(c);
			ct_failed(c, "looking for our znode", r);
			return;
		}
	}
	if (c->ncand == 0) {
		ct_recover_clear(c);
		c->create_unknown = false;
		c->busy = false;
		ct_step(c);
	}
}

static void ct_on_parents(struct zk *zk, int rc, void *arg)
{
	struct leader_contender *c = arg;

	(void)zk;
	if (c->state != CT_PARENTS)
		return;
	if (rc != ZK_RC_OK) {
		ct_failed(c, "creating the group's path", rc);
		return;
	}
	c->state = CT_CREATE;
	c->busy = false;
	ct_step(c);
}

/* Sends the operation of the current state (one at a time). */
static void ct_step(struct leader_contender *c)
{
	int rc = 0;

	if (c->state == CT_LOST || !c->zk)
		return;
	if (c->busy) {
		c->again = true;
		return;
	}
	if (!zk_is_connected(c->zk))
		return; /* the session handler calls again */
	c->busy = true;
	switch (c->state) {
	case CT_CONNECTING:
		c->state = CT_PARENTS;
		/* fall through */
	case CT_PARENTS:
		rc = zk_create_parents(c->zk, c->path, ct_on_parents, c);
		break;
	case CT_CREATE:
		if (c->create_unknown)
			rc = zk_get_children(c->zk, c->path, NULL,
			                     ct_on_recover_children, c);
		else
			rc = zk_create(c->zk, c->prefix, c->data, c->len,
			               ZK_EPHEMERAL | ZK_SEQUENCE,
			               ct_on_created, c);
		break;
	case CT_WATCH:
		rc = zk_get_children(c->zk, c->path, NULL, ct_on_children, c);
		break;
	case CT_ELECTED:
		rc = zk_exists(c->zk, c->znode, ct_on_watch, ct_on_own_exists,
		               c);
		break;
	case CT_LOST:
		break;
	}
	if (rc)
		ct_failed(c, ct_state_name(c->state), rc);
}

static void ct_on_grace(uv_timer_t *t)
{
	struct leader_contender *c = t->data;
	char why[128];

	if (!c)
		return;
	loop_timer_drop(&c->grace);
	snprintf(why, sizeof(why),
	         "disconnected from ZooKeeper for %.1f s (%.0f%% of the "
	         "session timeout)",
	         c->fraction * zk_session_timeout(c->zk), c->fraction * 100);
	ct_lose(c, why);
}

static void ct_on_session(struct zk *zk, enum zk_session_event ev,
                          uint64_t at, void *arg)
{
	struct leader_contender *c = arg;
	double wait, since;

	switch (ev) {
	case ZK_SESSION_CONNECTED:
		loop_timer_drop(&c->grace);
		/* Replies lost with the connection never come: redo. A
		 * create in flight may have been applied: look first. */
		if (c->busy && c->state == CT_CREATE)
			c->create_unknown = true;
		c->busy = false;
		c->again = false;
		ct_step(c);
		break;
	case ZK_SESSION_CONNECTING:
		if (c->grace || c->state == CT_LOST)
			break;
		since = (double)(uv_hrtime() - at) / 1e9;
		wait = c->fraction * zk_session_timeout(zk) - since;
		c->grace = loop_timer_start(c->loop, c, ct_on_grace,
		                            wait > 0 ? wait : 0);
		break;
	case ZK_SESSION_EXPIRED:
		ct_lose(c, "ZooKeeper session expired");
		break;
	case ZK_SESSION_AUTH_FAILED:
		ct_lose(c, "ZooKeeper authentication failed");
		break;
	}
}

struct leader_contender *
leader_contender_new(uv_loop_t *loop, const struct leader_contender_opts *opts,
                     leader_contender_fn *cb, void *arg, struct err *e)
{
	struct leader_contender *c;
	struct zk_url url;
	json_t *probe;

	if (zk_url_parse(opts->zk, &url, e))
		return NULL;
	probe = opts->master_info ? json_loads(opts->master_info, 0, NULL)
	                          : NULL;
	if (!json_is_object(probe)) {
		json_decref(probe);
		zk_url_release(&url);
		err_set(e, "master info: must be a JSON object");
		return NULL;
	}
	json_decref(probe);
	if (opts->disconnect_fraction < 0 ||
	    opts->disconnect_fraction > 1.0 / 3) {
		zk_url_release(&url);
		err_set(e, "disconnect_fraction: must be in (0, 1/3], got %g",
		        opts->disconnect_fraction);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->hosts = url.hosts;
	c->path = url.path;
	c->prefix = xasprintf("%s/%s_", c->path, LEADER_LABEL);
	c->data = xstrdup(opts->master_info);
	c->len = strlen(c->data);
	c->cb = cb;
	c->arg = arg;
	c->seq = -1;
	c->session_timeout = opts->session_timeout > 0
	                         ? opts->session_timeout
	                         : LEADER_DEFAULT_SESSION_TIMEOUT;
	c->fraction = opts->disconnect_fraction > 0 ? opts->disconnect_fraction
	                                            : LEADER_DEFAULT_FRACTION;
	c->zk = zk_new(loop, c->hosts, c->session_timeout, ct_on_session, c, e);
	if (!c->zk) {
		leader_contender_free(c);
		return NULL;
	}
	return c;
}

void leader_contender_free(struct leader_contender *c)
{
	if (!c)
		return;
	loop_timer_drop(&c->grace);
	zk_free(c->zk);
	free(c->hosts);
	free(c->path);
	free(c->prefix);
	free(c->data);
	free(c->znode);
	ct_recover_clear(c);
	free(c);
}

bool leader_contender_is_leader(const struct leader_contender *c)
{
	return c->state == CT_ELECTED;
}

const char *leader_contender_znode(const struct leader_contender *c)
{
	return c->state == CT_LOST ? NULL : c->znode;
}

/* ---- detector ---- */

struct leader_detector {
	uv_loop_t *loop;
	struct zk *zk;
	char *hosts;
	char *path;
	double session_timeout;
	leader_detector_fn *cb;
	void *arg;
	struct leader_info leader; /* valid when has_leader */
	bool has_leader;
	bool known; /* reported at least once */
	bool busy;
	bool again;
	int64_t reading_seq; /* the znode whose data is being read */
	double backoff;
	uv_timer_t *retry;
};

static void dt_step(struct leader_detector *d);
static void dt_on_session(struct zk *zk, enum zk_session_event ev,
                          uint64_t at, void *arg);

/* Reports the leader (info, or none when NULL) if it changed. */
static void dt_report(struct leader_detector *d, struct leader_info *info)
{
	bool same;

	if (!info)
		same = d->known && !d->has_leader;
	else
		same = d->known && d->has_leader &&
		       d->leader.sequence == info->sequence &&
		       streq(d->leader.json, info->json);
	if (same) {
		leader_info_release(info);
		return;
	}
	leader_info_release(&d->leader);
	d->has_leader = info != NULL;
	if (info)
		d->leader = *info; /* takes the strings */
	d->known = true;
	if (info)
		log_info(LEADER_LOG, "leader=%s id=%s sequence=%lld detected",
		         d->leader.endpoint, d->leader.id,
		         (long long)d->leader.sequence);
	else
		log_info(LEADER_LOG, "path=%s no leader", d->path);
	if (d->cb)
		d->cb(d, d->has_leader ? &d->leader : NULL, d->arg);
}

static void dt_on_retry(uv_timer_t *t)
{
	struct leader_detector *d = t->data;
	struct err e;

	if (!d)
		return;
	loop_timer_drop(&d->retry);
	if (!d->zk) {
		d->zk = zk_new(d->loop, d->hosts, d->session_timeout,
		               dt_on_session, d, &e);
		if (!d->zk) {
			log_warn(LEADER_LOG, "cannot reconnect: %s", e.msg);
			d->backoff = MIN(d->backoff * 2, LEADER_RETRY_MAX);
			d->retry = loop_timer_start(d->loop, d, dt_on_retry,
			                            d->backoff);
		}
		return;
	}
	dt_step(d);
}

static void dt_schedule_retry(struct leader_detector *d)
{
	if (d->retry)
		return;
	d->retry = loop_timer_start(d->loop, d, dt_on_retry, d->backoff);
	d->backoff = MIN(d->backoff * 2, LEADER_RETRY_MAX);
}

static void dt_done(struct leader_detector *d)
{
	d->busy = false;
	d->backoff = LEADER_RETRY_MIN;
	if (d->again) {
		d->again = false;
		dt_step(d);
	}
}

static void dt_failed(struct leader_detector *d, const char *what, int rc)
{
	d->busy = false;
	d->again = false;
	if (rc == ZK_RC_CLOSING || rc == ZK_RC_SESSION_EXPIRED)
		return; /* the session handler takes over */
	if (rc == ZK_RC_CONNECTION_LOSS || rc == ZK_RC_OPERATION_TIMEOUT)
		return; /* the step runs again on reconnection */
	log_warn(LEADER_LOG, "path=%s %s failed: %s; retrying", d->path, what,
	         zk_strerror(rc));
	dt_schedule_retry(d);
}

static void dt_on_watch(struct zk *zk, enum zk_watch_event ev,
                        const char *path, void *arg)
{
	(void)zk;
	(void)ev;
	(void)path;
	dt_step(arg);
}

static void dt_on_data(struct zk *zk, int rc, const char *data, size_t len,
                       void *arg);

static void dt_on_path_exists(struct zk *zk, int rc, int64_t owner, void *arg)
{
	struct leader_detector *d = arg;

	(void)zk;
	(void)owner;
	if (rc == ZK_RC_OK) {
		/* Created meanwhile: the exists watch would not say so. */
		d->busy = false;
		dt_step(d);
	} else if (rc == ZK_RC_NO_NODE) {
		dt_done(d); /* the watch reports the creation */
	} else {
		dt_failed(d, "watching the path", rc);
	}
}

static void dt_on_children(struct zk *zk, int rc, char *const *names,
                           size_t n, void *arg)
{
	struct leader_detector *d = arg;
	const char *low = NULL;
	int64_t low_seq = -1;
	char *path;
	int r;

	if (rc == ZK_RC_NO_NODE) {
		/* The path does not exist yet: wait for its creation. */
		dt_report(d, NULL);
		r = zk_exists(zk, d->path, dt_on_watch, dt_on_path_exists, d);
		if (r)
			dt_failed(d, "watching the path", r);
		return;
	}
	if (rc != ZK_RC_OK) {
		dt_failed(d, "listing the path", rc);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t s = leader_znode_sequence(names[i]);
		if (s >= 0 && (low_seq < 0 || s < low_seq)) {
			low_seq = s;
			low = names[i];
		}
	}
	if (!low) {
		dt_report(d, NULL);
		dt_done(d);
		return;
	}
	if (d->has_leader && d->leader.sequence == low_seq) {
		dt_done(d); /* unchanged: ephemeral data is never rewritten */
		return;
	}
	path = xasprintf("%s/%s", d->path, low);
	r = zk_get(zk, path, NULL, dt_on_data, d);
	free(path);
	if (r) {
		dt_failed(d, "reading the leader's znode", r);
		return;
	}
	/* Still busy: the read's reply finishes this step. */
	d->reading_seq = low_seq;
}

static void dt_on_data(struct zk *zk, int rc, const char *data, size_t len,
                       void *arg)
{
	struct leader_detector *d = arg;
	struct leader_info info;
	struct err e;

	(void)zk;
	if (rc == ZK_RC_NO_NODE) {
		/* The leader went between the listing and the read. */
		d->busy = false;
		dt_step(d);
		return;
	}
	if (rc != ZK_RC_OK) {
		dt_failed(d, "reading the leader's znode", rc);
		return;
	}
	if (len > LEADER_MAX_DATA ||
	    leader_info_parse(data, len, &info, &e)) {
		log_error(LEADER_LOG,
		          "path=%s sequence=%lld leading znode has no valid "
		          "MasterInfo: %s",
		          d->path, (long long)d->reading_seq,
		          len > LEADER_MAX_DATA ? "too large" : e.msg);
		dt_report(d, NULL);
	} else {
		info.sequence = d->reading_seq;
		dt_report(d, &info);
	}
	dt_done(d);
}

/* Lists the children (arming the watch), unless a step runs. */
static void dt_step(struct leader_detector *d)
{
	int rc;

	if (!d->zk)
		return;
	if (d->busy) {
		d->again = true;
		return;
	}
	if (!zk_is_connected(d->zk))
		return; /* the session handler calls again */
	d->busy = true;
	rc = zk_get_children(d->zk, d->path, dt_on_watch, dt_on_children, d);
	if (rc)
		dt_failed(d, "listing the path", rc);
}

static void dt_on_session(struct zk *zk, enum zk_session_event ev,
                          uint64_t at, void *arg)
{
	struct leader_detector *d = arg;

	(void)at;
	switch (ev) {
	case ZK_SESSION_CONNECTED:
		d->busy = false;
		d->again = false;
		dt_step(d);
		break;
	case ZK_SESSION_CONNECTING:
		break; /* keep the last leader meanwhile */
	case ZK_SESSION_EXPIRED:
	case ZK_SESSION_AUTH_FAILED:
		/* A new session after a pause; the leader is kept. */
		zk_free(zk);
		d->zk = NULL;
		d->busy = false;
		d->again = false;
		loop_timer_drop(&d->retry);
		d->retry = loop_timer_start(d->loop, d, dt_on_retry,
		                            d->backoff);
		d->backoff = MIN(d->backoff * 2, LEADER_RETRY_MAX);
		break;
	}
}

struct leader_detector *leader_detector_new(uv_loop_t *loop, const char *zk,
                                            double session_timeout,
                                            leader_detector_fn *cb, void *arg,
                                            struct err *e)
{
	struct leader_detector *d;
	struct zk_url url;

	if (zk_url_parse(zk, &url, e))
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->hosts = url.hosts;
	d->path = url.path;
	d->session_timeout = session_timeout > 0
	                         ? session_timeout
	                         : LEADER_DEFAULT_SESSION_TIMEOUT;
	d->cb = cb;
	d->arg = arg;
	d->leader.sequence = -1;
	d->reading_seq = -1;
	d->backoff = LEADER_RETRY_MIN;
	d->zk = zk_new(loop, d->hosts, d->session_timeout, dt_on_session, d, e);
	if (!d->zk) {
		leader_detector_free(d);
		return NULL;
	}
	return d;
}

void leader_detector_free(struct leader_detector *d)
{
	if (!d)
		return;
	loop_timer_drop(&d->retry);
	zk_free(d->zk);
	leader_info_release(&d->leader);
	free(d->hosts);
	free(d->path);
	free(d);
}

const struct leader_info *
leader_detector_leader(const struct leader_detector *d)
{
	return d->has_leader ? &d->leader : NULL;
}
