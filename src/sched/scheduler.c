/*
 * scheduler.c: the C scheduler library (include/atoll/scheduler.h) on top
 * of the generic event-stream client (lib/subscriber.h).
 *
 * One struct atoll_scheduler wraps one subscriber on POST
 * /api/v1/scheduler. The subscriber owns the connection, the heartbeat
 * watch, redirects and backoff; this file owns the Mesos scheduler
 * semantics:
 *
 *   - the SUBSCRIBE body, rebuilt for every attempt so that a
 *     resubscription carries the framework id learnt from SUBSCRIBED (both
 *     top-level "framework_id" and "framework_info.id", as Mesos requires);
 *   - decoding events into the typed callbacks;
 *   - acknowledging updates that carry a uuid after the update callback
 *     returned (auto_acknowledge), never before: a framework that crashes
 *     inside its callback gets the update again;
 *   - the call envelope and the completion of calls.
 *
 * States (who moves between them):
 *
 *   new --start()--> connecting --SUBSCRIBED event--> subscribed
 *                       ^   |                             |
 *                       |   +-- 4xx and stop_on_refusal --+--> stopped
 *                       +--- stream broke (on_disconnected)
 *   any --TEARDOWN answered / stream broke after TEARDOWN--> stopped
 *   any --stop()--> stopped --start()--> connecting
 *
 * Invariants: subscribed implies framework_id != NULL; calls other than
 * through the subscriber are never made; every pending call context is on
 * s->calls until its completion runs (or free() drops it, after which the
 * subscriber guarantees no completion runs).
 */
#include "lib/compat.h"

#include <ctype.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/http.h"
#include "lib/list.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/subscriber.h"
#include "lib/zk.h"

#define SCHED_LOG "scheduler"
#define SCHED_PATH "/api/v1/scheduler"
#define SCHED_DEFAULT_PORT 5050
/* Longest call type we build a payload key for ("accept_inverse_offers"). */
#define SCHED_TYPE_MAX 64

struct atoll_scheduler {
	uv_loop_t *loop;
	struct subscriber *sub;
	char **endpoints;
	size_t nendpoints;
	json_t *framework_info; /* the object given in opts, id stripped */
	char *framework_id;     /* from SUBSCRIBED or framework_info.id */
	struct atoll_scheduler_callbacks cb;
	void *arg;
	bool auto_acknowledge;
	bool stop_on_refusal;
	bool subscribed;
	bool teardown_sent;
	struct list calls; /* struct sched_call, pending completions */
	/* Defers subscriber_stop() out of a call completion. */
	uv_timer_t stop_timer;
};

struct sched_call {
	struct list link;
	struct atoll_scheduler *s;
	atoll_call_done_fn *done;
	void *arg;
	bool teardown;
	char type[SCHED_TYPE_MAX];
};

/* ---- pure helpers -------------------------------------------------- */

static json_t *sched_id(const char *value)
{
	return json_pack("{s:s}", "value", value);
}

/* obj[key].value as a string, or NULL. */
static const char *sched_json_id(const json_t *obj, const char *key)
{
	json_t *id = json_object_get(obj, key);
	return json_string_value(json_object_get(id, "value"));
}

static bool sched_type_valid(const char *type)
{
	size_t n = type ? strlen(type) : 0;

	if (n == 0 || n >= SCHED_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)type[i];
		if (!(isupper(c) || isdigit(c) || c == '_'))
			return false;
	}
	return true;
}

static char *sched_dump(json_t *obj, size_t *len)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	if (!text)
		compat_bug(__FILE__, __LINE__, "json_dumps failed");
	if (len)
		*len = strlen(text);
	return text;
}

char *atoll_call_build(const char *framework_id, const char *type,
                       json_t *payload, size_t *len)
{
	char key[SCHED_TYPE_MAX];
	json_t *call;
	char *text;
	size_t i;

	if (!sched_type_valid(type)) {
		json_decref(payload);
		return NULL;
	}
	for (i = 0; type[i]; i++)
		key[i] = (char)tolower((unsigned char)type[i]);
	key[i] = '\0';
	call = json_object();
	if (framework_id)
		json_object_set_new(call, "framework_id",
		                    sched_id(framework_id));
	json_object_set_new(call, "type", json_string(type));
	if (payload)
		json_object_set_new(call, key, payload);
	text = sched_dump(call, len);
	json_decref(call);
	return text;
}

char *atoll_subscribe_build(const json_t *framework_info,
                            const char *framework_id, size_t *len)
{
	json_t *fi, *call;
	char *text;

	if (!json_is_object(framework_info))
		return NULL;
	fi = json_deep_copy(framework_info);
	if (framework_id)
		json_object_set_new(fi, "id", sched_id(framework_id));
	call = json_object();
	if (framework_id)
		json_object_set_new(call, "framework_id",
		                    sched_id(framework_id));
	json_object_set_new(call, "type", json_string("SUBSCRIBE"));
	json_object_set_new(call, "subscribe",
	                    json_pack("{s:o}", "framework_info", fi));
	text = sched_dump(call, len);
	json_decref(call);
	return text;
}

/* ---- options ------------------------------------------------------- */

static void sched_free_endpoints(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Splits "h1:p1,http://h2:p2/" into normalised "host:port" strings; a
 * zk:// URL is checked and yields no endpoint (the subscriber follows
 * the leader it finds in ZooKeeper).
 * Returns 0, or -EINVAL with *why set.
 */
static int sched_parse_master(const char *master, char ***out, size_t *nout,
                              const char **why)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	const char *p = master;

	if (!master || !*master) {
		*why = "master: required (host:port)";
		return -EINVAL;
	}
	if (zk_url_is_zk(master)) {
		struct zk_url url;
		struct err e;

		/* The subscriber follows the leader found in ZooKeeper. */
		if (zk_url_parse(master, &url, &e)) {
			log_error(SCHED_LOG, "master: %s", e.msg);
			*why = "master: bad zk:// URL (expected "
			       "zk://host:port[,host:port...]/path)";
			return -EINVAL;
		}
		zk_url_release(&url);
		*out = NULL;
		*nout = 0;
		return 0;
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *host = NULL;
		int port;

		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len) {
			char *item = xstrndup(p, len);

			if (http_parse_hostport(item, SCHED_DEFAULT_PORT, &host,
			                        &port)) {
				free(item);
				sched_free_endpoints(v, n);
				*why = "master: expected host:port "
				       "(comma-separated for several)";
				return -EINVAL;
			}
			free(item);
			ALLOC_GROW(v, n + 1, cap);
			if (strchr(host, ':'))
				v[n++] = xasprintf("[%s]:%d", host, port);
			else
				v[n++] = xasprintf("%s:%d", host, port);
			free(host);
		}
		p += end ? (size_t)(end - p) + 1 : strlen(p);
	}
	if (n == 0) {
		*why = "master: required (host:port)";
		return -EINVAL;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* ---- subscriber callbacks ------------------------------------------ */

static void sched_build_subscribe(struct buf *body, void *arg)
{
	struct atoll_scheduler *s = arg;
	size_t len;
	char *text =
	    atoll_subscribe_build(s->framework_info, s->framework_id, &len);

	BUG_ON(!text); /* framework_info was checked in _new() */
	buf_add(body, text, len);
	free(text);
	log_info(SCHED_LOG, "framework_id=%s subscribing",
	         s->framework_id ? s->framework_id : "(new)");
}

static void sched_on_connected(const char *stream_id, void *arg)
{
	struct atoll_scheduler *s = arg;

	log_debug(SCHED_LOG, "stream_id=%s endpoint=%s stream open",
	          stream_id ? stream_id : "(none)",
	          subscriber_endpoint(s->sub));
}

static void sched_on_disconnected(int err, int http_status, const char *message,
                                  void *arg)
{
	struct atoll_scheduler *s = arg;
	bool was_subscribed = s->subscribed;

	s->subscribed = false;
	if (s->teardown_sent) {
		subscriber_stop(s->sub);
		return;
	}
	if (http_status >= 400 && http_status < 500) {
		char *why = xasprintf(
		    "subscribe refused (HTTP %d): %s", http_status,
		    message && *message ? message : "no reason given");
		log_error(SCHED_LOG, "status=%d %s", http_status, why);
		if (s->stop_on_refusal)
			subscriber_stop(s->sub);
		if (s->cb.error)
			s->cb.error(s, why, s->arg);
		free(why);
	} else if (was_subscribed) {
		log_warn(SCHED_LOG, "status=%d err=%d stream lost: %s",
		         http_status, err,
		         message ? message : (err ? strerror(-err) : "eof"));
	} else {
		log_debug(SCHED_LOG, "status=%d err=%d cannot subscribe: %s",
		          http_status, err,
		          message ? message : (err ? strerror(-err) : "eof"));
	}
	if (was_subscribed && s->cb.disconnected)
		s->cb.disconnected(s, s->arg);
}

/* ---- event dispatch ------------------------------------------------ */

static void sched_on_subscribed(struct atoll_scheduler *s, json_t *ev)
{
	json_t *sub = json_object_get(ev, "subscribed");
	const char *fid = sched_json_id(sub, "framework_id");
	json_t *hb = json_object_get(sub, "heartbeat_interval_seconds");
	double interval = json_is_number(hb) ? json_number_value(hb) : 0;

	if (!fid || !*fid) {
		log_error(SCHED_LOG, "bad SUBSCRIBED event: "
		                     "subscribed.framework_id missing");
		return;
	}
	if (!s->framework_id || strcmp(s->framework_id, fid)) {
		free(s->framework_id);
		s->framework_id = xstrdup(fid);
	}
	s->subscribed = true;
	log_info(SCHED_LOG, "framework_id=%s heartbeat=%g subscribed",
	         s->framework_id, interval);
	if (s->cb.subscribed)
		s->cb.subscribed(s, s->framework_id, interval, s->arg);
}

static void sched_on_update(struct atoll_scheduler *s, json_t *ev)
{
	json_t *status =
	    json_object_get(json_object_get(ev, "update"), "status");
	const char *uuid, *agent_id, *task_id;
	char *a = NULL, *t = NULL, *u = NULL;

	if (!json_is_object(status)) {
		log_error(SCHED_LOG, "bad UPDATE event: update.status "
		                     "missing; ignored");
		return;
	}
	/* Copy what the acknowledgement needs: the callback may change the
	 * object (it is borrowed, not const). */
	uuid = json_string_value(json_object_get(status, "uuid"));
	agent_id = sched_json_id(status, "agent_id");
	task_id = sched_json_id(status, "task_id");
	if (s->auto_acknowledge && uuid && *uuid) {
		if (agent_id && task_id) {
			a = xstrdup(agent_id);
			t = xstrdup(task_id);
			u = xstrdup(uuid);
		} else {
			log_warn(SCHED_LOG, "update with a uuid but without "
			                    "agent_id or task_id; not "
			                    "acknowledged");
		}
	}
	json_incref(status);
	if (s->cb.update)
		s->cb.update(s, status, s->arg);
	json_decref(status);
	if (u && atoll_scheduler_acknowledge(s, a, t, u))
		log_warn(SCHED_LOG,
		         "task_id=%s cannot acknowledge: not "
		         "subscribed (the update will come again)",
		         t);
	free(a);
	free(t);
	free(u);
}

void atoll_scheduler_handle_event(struct atoll_scheduler *s, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *o;

	if (!type) {
		log_error(SCHED_LOG, "event without a type; ignored");
		return;
	}
	if (!strcmp(type, "SUBSCRIBED")) {
		sched_on_subscribed(s, ev);
	} else if (!strcmp(type, "OFFERS")) {
		o = json_object_get(json_object_get(ev, "offers"), "offers");
		if (!json_is_array(o)) {
			log_error(SCHED_LOG, "bad OFFERS event: offers.offers "
			                     "is not an array; ignored");
			return;
		}
		if (s->cb.offers)
			s->cb.offers(s, o, s->arg);
	} else if (!strcmp(type, "RESCIND")) {
		const char *oid =
		    sched_json_id(json_object_get(ev, "rescind"), "offer_id");
		if (!oid) {
			log_error(SCHED_LOG, "bad RESCIND event: "
			                     "rescind.offer_id missing");
			return;
		}
		if (s->cb.rescind)
			s->cb.rescind(s, oid, s->arg);
	} else if (!strcmp(type, "UPDATE")) {
		sched_on_update(s, ev);
	} else if (!strcmp(type, "MESSAGE")) {
		o = json_object_get(ev, "message");
		if (s->cb.message)
			s->cb.message(
			    s, sched_json_id(o, "agent_id"),
			    sched_json_id(o, "executor_id"),
			    json_string_value(json_object_get(o, "data")),
			    s->arg);
	} else if (!strcmp(type, "FAILURE")) {
		json_t *st;
		o = json_object_get(ev, "failure");
		st = json_object_get(o, "status");
		if (s->cb.failure)
			s->cb.failure(s, sched_json_id(o, "agent_id"),
			              sched_json_id(o, "executor_id"),
			              json_is_integer(st)
			                  ? (int)json_integer_value(st)
			                  : -1,
			              s->arg);
	} else if (!strcmp(type, "ERROR")) {
		/* The proto nests it (error.message); the Mesos docs show a
		 * flat "message". Accept both. */
		const char *msg = json_string_value(
		    json_object_get(json_object_get(ev, "error"), "message"));
		if (!msg)
			msg = json_string_value(json_object_get(ev, "message"));
		/* After our own TEARDOWN the master says goodbye this way. */
		if (s->teardown_sent)
			log_info(SCHED_LOG, "error event after teardown: %s",
			         msg ? msg : "(no message)");
		else
			log_error(SCHED_LOG, "error event from the master: %s",
			          msg ? msg : "(no message)");
		if (s->cb.error)
			s->cb.error(s, msg ? msg : "", s->arg);
	} else if (!strcmp(type, "HEARTBEAT")) {
		if (s->cb.heartbeat)
			s->cb.heartbeat(s, s->arg);
	} else {
		log_debug(SCHED_LOG, "type=%s event ignored", type);
	}
}

static void sched_on_event(json_t *event, const char *type, void *arg)
{
	(void)type;
	atoll_scheduler_handle_event(arg, event);
}

/* ---- lifecycle ----------------------------------------------------- */

struct atoll_scheduler *
atoll_scheduler_new(uv_loop_t *loop, const struct atoll_scheduler_opts *opts,
                    const struct atoll_scheduler_callbacks *cb, void *arg,
                    const char **why)
{
	struct subscriber_opts so = {0};
	struct atoll_scheduler *s;
	json_t *fi;
	const char *id;
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!opts || !opts->framework_info) {
		*why = "framework_info: required";
		return NULL;
	}
	fi = json_loads(opts->framework_info, 0, NULL);
	if (!json_is_object(fi)) {
		json_decref(fi);
		*why = "framework_info: not a JSON object";
		return NULL;
	}
	id = sched_json_id(fi, "id");
	if (json_object_get(fi, "id") && (!id || !*id)) {
		json_decref(fi);
		*why = "framework_info.id: expected {\"value\": \"...\"}";
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	if (sched_parse_master(opts->master, &s->endpoints, &s->nendpoints,
	                       why)) {
		json_decref(fi);
		free(s);
		return NULL;
	}
	s->framework_id = id ? xstrdup(id) : NULL;
	json_object_del(fi, "id");
	s->framework_info = fi;
	s->loop = loop;
	if (cb)
		s->cb = *cb;
	s->arg = arg;
	s->auto_acknowledge = opts->auto_acknowledge;
	s->stop_on_refusal = opts->stop_on_refusal;
	list_init(&s->calls);
	uv_timer_init(loop, &s->stop_timer);
	s->stop_timer.data = s;

	so.endpoints = (const char *const *)s->endpoints;
	so.nendpoints = s->nendpoints;
	so.zk = zk_url_is_zk(opts->master) ? opts->master : NULL;
	so.path = SCHED_PATH;
	so.build_subscribe = sched_build_subscribe;
	so.on_connected = sched_on_connected;
	so.on_event = sched_on_event;
	so.on_disconnected = sched_on_disconnected;
	s->sub = subscriber_new(loop, &so, s);
	return s;
}

void atoll_scheduler_start(struct atoll_scheduler *s)
{
	if (s->teardown_sent) {
		log_warn(SCHED_LOG, "framework was torn down; not "
		                    "subscribing again");
		return;
	}
	subscriber_start(s->sub);
}

void atoll_scheduler_stop(struct atoll_scheduler *s)
{
	uv_timer_stop(&s->stop_timer);
	subscriber_stop(s->sub);
	s->subscribed = false;
}

static void sched_free_cb(uv_handle_t *h)
{
	struct atoll_scheduler *s = h->data;

	sched_free_endpoints(s->endpoints, s->nendpoints);
	free(s);
}

void atoll_scheduler_free(struct atoll_scheduler *s)
{
	struct list *pos, *tmp;

	if (!s)
		return;
	subscriber_free(s->sub);
	s->sub = NULL;
	/* The subscriber runs no completion after it is freed. */
	LIST_FOR_EACH_SAFE(pos, tmp, &s->calls)
	{
		struct sched_call *c = list_entry(pos, struct sched_call, link);
		list_del(&c->link);
		free(c);
	}
	json_decref(s->framework_info);
	free(s->framework_id);
	s->framework_info = NULL;
	s->framework_id = NULL;
	uv_close((uv_handle_t *)&s->stop_timer, sched_free_cb);
}

const char *atoll_scheduler_framework_id(const struct atoll_scheduler *s)
{
	return s->framework_id;
}

bool atoll_scheduler_is_subscribed(const struct atoll_scheduler *s)
{
	return s->subscribed;
}

/* ---- calls --------------------------------------------------------- */

static void sched_stop_timer_cb(uv_timer_t *t)
{
	struct atoll_scheduler *s = t->data;

	subscriber_stop(s->sub);
	s->subscribed = false;
	log_info(SCHED_LOG, "framework_id=%s torn down; stream closed",
	         s->framework_id ? s->framework_id : "?");
}

static void sched_call_done(struct http_response *resp, int err, void *arg)
{
	struct sched_call *c = arg;
	struct atoll_scheduler *s = c->s;
	int status = resp ? resp->status : 0;
	const char *body = resp ? resp->body : strerror(err ? -err : EIO);

	list_del(&c->link);
	if (status < 200 || status >= 300)
		log_warn(SCHED_LOG, "call=%s status=%d call failed: %s",
		         c->type, status, body);
	if (c->teardown && status >= 200 && status < 300)
		uv_timer_start(&s->stop_timer, sched_stop_timer_cb, 0, 0);
	if (c->done)
		c->done(status, body, c->arg);
	free(c);
}

int atoll_scheduler_call(struct atoll_scheduler *s, const char *type,
                         json_t *payload, atoll_call_done_fn *done, void *arg)
{
	struct sched_call *c;
	size_t len;
	char *body;
	int rc;

	if (!s->subscribed || !s->framework_id) {
		json_decref(payload);
		return -ENOTCONN;
	}
	body = atoll_call_build(s->framework_id, type, payload, &len);
	if (!body)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->done = done;
	c->arg = arg;
	c->teardown = !strcmp(type, "TEARDOWN");
	snprintf(c->type, sizeof(c->type), "%s", type);
	list_add_tail(&s->calls, &c->link);
	rc = subscriber_call(s->sub, body, len, sched_call_done, c);
	free(body);
	if (rc) {
		list_del(&c->link);
		free(c);
		return rc;
	}
	if (c->teardown)
		s->teardown_sent = true;
	log_debug(SCHED_LOG, "call=%s sent", type);
	return 0;
}

static json_t *sched_ids(const char *const *ids, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, sched_id(ids[i]));
	return arr;
}

static json_t *sched_strings(const char *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	return arr;
}

static void sched_set_filters(json_t *payload, double refuse_seconds)
{
	if (refuse_seconds >= 0)
		json_object_set_new(
		    payload, "filters",
		    json_pack("{s:f}", "refuse_seconds", refuse_seconds));
}

int atoll_scheduler_accept(struct atoll_scheduler *s,
                           const char *const *offer_ids, size_t n,
                           json_t *operations, double refuse_seconds)
{
	json_t *p = json_object();

	json_object_set_new(p, "offer_ids", sched_ids(offer_ids, n));
	json_object_set_new(p, "operations",
	                    operations ? operations : json_array());
	sched_set_filters(p, refuse_seconds);
	return atoll_scheduler_call(s, "ACCEPT", p, NULL, NULL);
}

int atoll_scheduler_launch(struct atoll_scheduler *s, const char *offer_id,
                           json_t *task_infos, double refuse_seconds)
{
	json_t *op =
	    json_pack("{s:s,s:{s:o}}", "type", "LAUNCH", "launch", "task_infos",
	              task_infos ? task_infos : json_array());
	json_t *ops = json_array();

	json_array_append_new(ops, op);
	return atoll_scheduler_accept(s, &offer_id, 1, ops, refuse_seconds);
}

int atoll_scheduler_decline(struct atoll_scheduler *s,
                            const char *const *offer_ids, size_t n,
                            double refuse_seconds)
{
	json_t *p = json_object();

	json_object_set_new(p, "offer_ids", sched_ids(offer_ids, n));
	sched_set_filters(p, refuse_seconds);
	return atoll_scheduler_call(s, "DECLINE", p, NULL, NULL);
}

int atoll_scheduler_acknowledge(struct atoll_scheduler *s, const char *agent_id,
                                const char *task_id, const char *uuid_base64)
{
	json_t *p;

	if (!agent_id || !task_id || !uuid_base64)
		return -EINVAL;
	p = json_pack("{s:o,s:o,s:s}", "agent_id", sched_id(agent_id),
	              "task_id", sched_id(task_id), "uuid", uuid_base64);
	return atoll_scheduler_call(s, "ACKNOWLEDGE", p, NULL, NULL);
}

int atoll_scheduler_kill(struct atoll_scheduler *s, const char *task_id,
                         const char *agent_id)
{
	json_t *p;

	if (!task_id)
		return -EINVAL;
	p = json_pack("{s:o}", "task_id", sched_id(task_id));
	if (agent_id)
		json_object_set_new(p, "agent_id", sched_id(agent_id));
	return atoll_scheduler_call(s, "KILL", p, NULL, NULL);
}

int atoll_scheduler_reconcile(struct atoll_scheduler *s, json_t *tasks)
{
	if (tasks && !json_is_array(tasks)) {
		json_decref(tasks);
		return -EINVAL;
	}
	return atoll_scheduler_call(
	    s, "RECONCILE",
	    json_pack("{s:o}", "tasks", tasks ? tasks : json_array()), NULL,
	    NULL);
}

int atoll_scheduler_revive(struct atoll_scheduler *s, const char *const *roles,
                           size_t n)
{
	return atoll_scheduler_call(
	    s, "REVIVE", json_pack("{s:o}", "roles", sched_strings(roles, n)),
	    NULL, NULL);
}

int atoll_scheduler_suppress(struct atoll_scheduler *s,
                             const char *const *roles, size_t n)
{
	return atoll_scheduler_call(
	    s, "SUPPRESS", json_pack("{s:o}", "roles", sched_strings(roles, n)),
	    NULL, NULL);
}

int atoll_scheduler_teardown(struct atoll_scheduler *s)
{
	return atoll_scheduler_call(s, "TEARDOWN", NULL, NULL, NULL);
}
