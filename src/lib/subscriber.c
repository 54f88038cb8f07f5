/*
 * subscriber.c: the event-stream client (see subscriber.h).
 *
 *            subscriber_start()
 *   STOPPED --------------------> CONNECTING --200--> CONNECTED
 *      ^                           |   |  ^ (sub_on_headers)  |
 *      | subscriber_stop()         |   |  +-- 307: follow     | stream ends,
 *      | (from anywhere,           |   |      Location at     | error, or
 *      |  callbacks included)      |   |      once            | heartbeat
 *      |                           v   v      (sub_redirect)  | silence
 *      +--------------------- WAITING <-----------------------+
 *                 (sub_lost: on_disconnected, then a jittered
 *                  exponential backoff; sub_on_retry moves to
 *                  the next endpoint and connects again)
 *
 * Invariants:
 * - At most one http_sub is open (s->sub); its callbacks are the only
 *   ones that can reach us, because http_sub_close() silences the old one.
 * - After every user callback we re-check that the attempt is still the
 *   current one and that the subscriber runs: the callback may have
 *   stopped or freed it. Memory is released only from the timers' close
 *   callbacks, i.e. never inside our own callback chain.
 * - Calls go through one http_client per endpoint. A client left behind
 *   by an endpoint change is retired: freed once its calls complete, so
 *   no call loses its callback except at subscriber_free().
 * - zk:// mode: the leader detector (s->detector, created by start) is
 *   the only source of endpoints besides 307s. A new leader closes the
 *   current attempt or stream (on_disconnected, "leader changed") and
 *   connects at once (sub_on_leader); with no leader known the subscriber
 *   waits in WAITING without a timer. The detector is freed from the
 *   handles' close callback, never inside its own callback chain.
 */
#include "lib/compat.h"
#include "lib/subscriber.h"

#include "lib/err.h"
#include "lib/leader.h"
#include "lib/log.h"
#include "lib/recordio.h"

#define SUB_DEF_HEARTBEAT 75.0
#define SUB_DEF_BACKOFF_MIN 0.25
#define SUB_DEF_BACKOFF_MAX 15.0
#define SUB_DEF_MAX_EVENT (64 * 1024 * 1024)
#define SUB_DEF_CALL_TIMEOUT_MS (75 * 1000)
#define SUB_DEFAULT_PORT 5050
#define SUB_MAX_REDIRECTS 5
#define SUB_MAX_ERROR_BODY (64 * 1024)

struct sub_client;

/* One call in flight: routes the completion back through us. */
struct sub_call {
	struct sub_call *prev, *next;
	struct sub_client *owner;
	http_response_fn *cb;
	void *arg;
};

struct sub_client {
	struct sub_client *next;
	struct subscriber *s;
	struct http_client *http;
	char *endpoint;
	struct sub_call *calls;
	bool retired;
	bool in_callback;
};

struct subscriber {
	uv_loop_t *loop;
	struct subscriber_opts opts;
	void *arg;
	char **endpoints;
	size_t nendpoints;
	size_t ep_idx;
	char *path;
	char *zk; /* zk:// URL, or NULL */
	struct leader_detector *detector;
	char *endpoint; /* "host:port" in use */
	char *host;
	int port;
	struct http_sub *sub;
	int status; /* of the current attempt's response, 0 before */
	char *location;
	struct buf errbody;
	struct recordio_reader rr;
	char *stream_id;
	struct sub_client *clients; /* head: current endpoint's, if any */
	uv_timer_t heartbeat;
	uv_timer_t retry;
	int handles;
	double backoff;
	int redirects;
	uint64_t rng;
	bool running;
	bool connected;
	bool freed;
	bool rotate_next; /* the next attempt moves to another endpoint */
};

static void sub_connect(struct subscriber *s);

/* ---- endpoints --------------------------------------------------------- */

/* Sets the endpoint in use from "host:port" or a URL; 0 or -EINVAL. */
static int sub_set_endpoint(struct subscriber *s, const char *text)
{
	char *host = NULL;
	int port = 0;

	if (http_parse_hostport(text, SUB_DEFAULT_PORT, &host, &port) < 0)
		return -EINVAL;
	free(s->host);
	free(s->endpoint);
	s->host = host;
	s->port = port;
	s->endpoint = strchr(host, ':') ? xasprintf("[%s]:%d", host, port)
	                                : xasprintf("%s:%d", host, port);
	return 0;
}

/* Moves to the next configured endpoint that parses (zk:// mode: to the
 * detected leader, if any). */
static void sub_rotate(struct subscriber *s)
{
	const struct leader_info *li;

	if (s->zk) {
		li = s->detector ? leader_detector_leader(s->detector) : NULL;
		if (li && sub_set_endpoint(s, li->endpoint) < 0)
			log_warn("subscriber",
			         "leader='%s' unparsable leader endpoint",
			         li->endpoint);
		return;
	}
	for (size_t i = 0; i < s->nendpoints; i++) {
		s->ep_idx = (s->ep_idx + 1) % s->nendpoints;
		if (sub_set_endpoint(s, s->endpoints[s->ep_idx]) == 0)
			return;
		log_warn("subscriber",
		         "endpoint='%s' skipping unparsable "
		         "endpoint",
		         s->endpoints[s->ep_idx]);
	}
}

/* ---- backoff ----------------------------------------------------------- */

static double sub_random(struct subscriber *s)
{
	/* xorshift64*: per-subscriber state, no global. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (double)((s->rng * 2685821657736338717ull) >> 11) /
	       (double)(1ull << 53);
}

static void sub_on_retry(uv_timer_t *t)
{
	struct subscriber *s = container_of(t, struct subscriber, retry);

	if (!s->running || s->sub)
		return;
	if (s->rotate_next)
		sub_rotate(s);
	s->rotate_next = true;
	if (!s->endpoint)
		return; /* zk:// mode, no leader yet: sub_on_leader connects */
	sub_connect(s);
}

/* Waits backoff (jittered in [0.5, 1.5) x) and doubles it, capped. */
static void sub_schedule_retry(struct subscriber *s)
{
	double d = s->backoff * (0.5 + sub_random(s));

	d = MIN(d, s->opts.backoff_max);
	s->backoff = MIN(s->backoff * 2, s->opts.backoff_max);
	uv_timer_start(&s->retry, sub_on_retry, (uint64_t)(d * 1000), 0);
}

/* ---- losing a stream --------------------------------------------------- */

/*
 * The attempt or stream is over (s->sub already closed or ended): tell the
 * user, then retry unless stopped meanwhile.
 */
static void sub_lost(struct subscriber *s, int err, int status, const char *msg)
{
	bool was_connected = s->connected;

	s->connected = false;
	free(s->stream_id);
	s->stream_id = NULL;
	uv_timer_stop(&s->heartbeat);
	log_info("subscriber",
	         "endpoint=%s err=%d status=%d connected=%d "
	         "stream lost: %s",
	         s->endpoint, err, status, was_connected, msg);
	if (s->opts.on_disconnected)
		s->opts.on_disconnected(err, status, msg, s->arg);
	if (s->running && !s->freed && !s->sub)
		sub_schedule_retry(s);
}

static void sub_on_heartbeat(uv_timer_t *t)
{
	struct subscriber *s = container_of(t, struct subscriber, heartbeat);
	char msg[96];

	http_sub_close(s->sub);
	s->sub = NULL;
	snprintf(msg, sizeof(msg), "no event for %.1f s",
	         s->opts.heartbeat_timeout);
	sub_lost(s, -ETIMEDOUT, 0, msg);
}

static void sub_watch(struct subscriber *s)
{
	uv_timer_start(&s->heartbeat, sub_on_heartbeat,
	               (uint64_t)(s->opts.heartbeat_timeout * 1000), 0);
}

/* ---- stream callbacks -------------------------------------------------- */

static void sub_on_headers(struct http_response *resp, void *arg)
{
	struct subscriber *s = arg;
	struct http_sub *sub = s->sub;
	const char *id, *loc;

	s->status = resp->status;
	if (resp->status == 307) {
		loc = http_response_header(resp, "location");
		free(s->location);
		s->location = loc ? xstrdup(loc) : NULL;
		return;
	}
	if (resp->status != 200)
		return;
	id = http_response_header(resp, "mesos-stream-id");
	free(s->stream_id);
	s->stream_id = id ? xstrdup(id) : NULL;
	s->connected = true;
	s->backoff = s->opts.backoff_min;
	s->redirects = 0;
	sub_watch(s);
	log_info("subscriber", "endpoint=%s stream_id=%s subscribed",
	         s->endpoint, id ? id : "-");
	if (s->opts.on_connected)
		s->opts.on_connected(s->stream_id, s->arg);
	(void)sub;
}

/* Parses one record; returns non-zero to stop the feed. */
static int sub_on_record(const char *data, size_t len, void *arg)
{
	struct subscriber *s = arg;
	struct http_sub *sub = s->sub;
	json_error_t jerr;
	json_t *ev, *type;
	char msg[256];

	sub_watch(s);
	ev = json_loadb(data, len, 0, &jerr);
	if (!ev || !json_is_object(ev)) {
		snprintf(msg, sizeof(msg), "event is not a JSON object: %s",
		         ev ? "wrong type" : jerr.text);
		json_decref(ev);
		http_sub_close(s->sub);
		s->sub = NULL;
		sub_lost(s, -EPROTO, 0, msg);
		return 1;
	}
	type = json_object_get(ev, "type");
	if (s->opts.on_event)
		s->opts.on_event(
		    ev, json_is_string(type) ? json_string_value(type) : "",
		    s->arg);
	json_decref(ev);
	return (s->sub != sub || !s->running || s->freed) ? 1 : 0;
}

static void sub_on_data(const char *data, size_t len, void *arg)
{
	struct subscriber *s = arg;
	struct err e;
	int rc;

	if (s->status != 200) {
		size_t room = SUB_MAX_ERROR_BODY -
		              MIN(s->errbody.len, SUB_MAX_ERROR_BODY);
		buf_add(&s->errbody, data, MIN(len, room));
		return;
	}
	rc = recordio_reader_feed(&s->rr, data, len, sub_on_record, s, &e);
	if (rc < 0 && s->sub) {
		http_sub_close(s->sub);
		s->sub = NULL;
		sub_lost(s, -EPROTO, 0, e.msg);
	}
}

/* Follows a 307 at once; returns false when it cannot be followed. */
static bool sub_redirect(struct subscriber *s)
{
	if (!s->location || ++s->redirects > SUB_MAX_REDIRECTS)
		return false;
	if (sub_set_endpoint(s, s->location) < 0)
		return false;
	log_info("subscriber", "endpoint=%s following redirect", s->endpoint);
	sub_connect(s);
	return true;
}

static void sub_on_end(int err, void *arg)
{
	struct subscriber *s = arg;
	char msg[128];

	s->sub = NULL;
	if (s->status == 200) {
		snprintf(msg, sizeof(msg), "stream ended: %s",
		         err ? uv_strerror(err) : "closed by the server");
		sub_lost(s, err ? err : -ECONNRESET, 0, msg);
	} else if (s->status == 307 && !err && sub_redirect(s)) {
		return;
	} else if (s->status == 307) {
		sub_lost(s, 0, 307,
		         s->redirects > SUB_MAX_REDIRECTS
		             ? "too many redirects"
		             : "redirect without a valid Location");
	} else if (s->status) {
		/* The body is the message a user reads: one line. */
		while (s->errbody.len &&
		       strchr(" \t\r\n", s->errbody.data[s->errbody.len - 1]))
			s->errbody.data[--s->errbody.len] = '\0';
		sub_lost(s, 0, s->status,
		         s->errbody.len ? s->errbody.data : "no message");
	} else {
		snprintf(msg, sizeof(msg), "cannot subscribe at '%s': %s",
		         s->endpoint, uv_strerror(err));
		sub_lost(s, err, 0, msg);
	}
}

static void sub_connect(struct subscriber *s)
{
	struct buf body = BUF_INIT;
	struct http_client_req req = {
	    .method = "POST",
	    .path = s->path,
	    .content_type = "application/json",
	    .accept = "application/json",
	};

	s->status = 0;
	free(s->location);
	s->location = NULL;
	buf_reset(&s->errbody);
	recordio_reader_release(&s->rr);
	recordio_reader_init(&s->rr, s->opts.max_event_bytes);
	if (s->opts.build_subscribe)
		s->opts.build_subscribe(&body, s->arg);
	if (!s->running || s->freed || s->sub) {
		buf_release(&body);
		return;
	}
	req.body = body.data ? body.data : "";
	req.body_len = body.len;
	/* No timeout of its own: the heartbeat watch covers connecting,
	 * the response headers and every gap between records. */
	req.timeout_ms = 0;
	s->sub = http_sub_open(s->loop, s->host, s->port, &req, sub_on_headers,
	                       sub_on_data, sub_on_end, s);
	buf_release(&body);
	sub_watch(s);
}

/* ---- zk:// mode ------------------------------------------------------- */

/* The detector's news: follow a new leader at once. */
static void sub_on_leader(struct leader_detector *d,
                          const struct leader_info *li, void *arg)
{
	struct subscriber *s = arg;
	bool same;

	(void)d;
	if (s->freed)
		return;
	if (!li) {
		log_info("subscriber", "zk=%s no leader; waiting", s->zk);
		return; /* a stream to the old leader ends by itself */
	}
	same = s->endpoint && streq(s->endpoint, li->endpoint);
	if (sub_set_endpoint(s, li->endpoint) < 0) {
		log_warn("subscriber", "leader='%s' unparsable leader endpoint",
		         li->endpoint);
		return;
	}
	log_info("subscriber", "endpoint=%s leader detected", s->endpoint);
	if (!s->running || (same && (s->sub || s->connected)))
		return;
	if (s->sub) {
		http_sub_close(s->sub);
		s->sub = NULL;
		sub_lost(s, -ECONNRESET, 0, "leader changed");
		if (!s->running || s->freed)
			return;
	}
	/* Connect now, to the new leader (not the next endpoint). */
	s->backoff = s->opts.backoff_min;
	s->redirects = 0;
	s->rotate_next = false;
	uv_timer_start(&s->retry, sub_on_retry, 0, 0);
}

/* Creates the detector at the first start; false on a bad URL. */
static bool sub_start_detector(struct subscriber *s)
{
	struct err e;

	if (s->detector)
		return true;
	s->detector = leader_detector_new(s->loop, s->zk,
	                                  s->opts.zk_session_timeout,
	                                  sub_on_leader, s, &e);
	if (!s->detector) {
		log_error("subscriber", "cannot start: %s", e.msg);
		return false;
	}
	return true;
}

/* ---- public ------------------------------------------------------------ */

struct subscriber *subscriber_new(uv_loop_t *loop,
                                  const struct subscriber_opts *opts, void *arg)
{
	struct subscriber *s = xcalloc(1, sizeof(*s));
	struct subscriber_opts *o = &s->opts;

	s->loop = loop;
	s->arg = arg;
	*o = *opts;
	s->nendpoints = opts->nendpoints;
	s->endpoints =
	    xcalloc(s->nendpoints ? s->nendpoints : 1, sizeof(*s->endpoints));
	for (size_t i = 0; i < s->nendpoints; i++)
		s->endpoints[i] = xstrdup(opts->endpoints[i]);
	o->endpoints = NULL;
	s->path = xstrdup(opts->path ? opts->path : "/");
	o->path = NULL;
	s->zk = opts->zk ? xstrdup(opts->zk) : NULL;
	o->zk = NULL;
	if (o->heartbeat_timeout <= 0)
		o->heartbeat_timeout = SUB_DEF_HEARTBEAT;
	if (o->backoff_min <= 0)
		o->backoff_min = SUB_DEF_BACKOFF_MIN;
	if (o->backoff_max <= 0)
		o->backoff_max = SUB_DEF_BACKOFF_MAX;
	if (o->backoff_max < o->backoff_min)
		o->backoff_max = o->backoff_min;
	if (!o->max_event_bytes)
		o->max_event_bytes = SUB_DEF_MAX_EVENT;
	if (!o->call_timeout_ms)
		o->call_timeout_ms = SUB_DEF_CALL_TIMEOUT_MS;
	s->backoff = o->backoff_min;
	s->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ull;
	if (!s->rng)
		s->rng = 1;
	recordio_reader_init(&s->rr, o->max_event_bytes);
	s->ep_idx = s->nendpoints ? s->nendpoints - 1 : 0;
	sub_rotate(s);
	uv_timer_init(loop, &s->heartbeat);
	uv_timer_init(loop, &s->retry);
	s->handles = 2;
	return s;
}

void subscriber_start(struct subscriber *s)
{
	if (s->running || s->freed)
		return;
	s->backoff = s->opts.backoff_min;
	s->redirects = 0;
	if (s->zk && !sub_start_detector(s))
		return;
	if (!s->endpoint)
		sub_rotate(s);
	if (!s->endpoint && !s->zk) {
		log_error("subscriber", "cannot start: no usable endpoint");
		return;
	}
	s->running = true;
	s->rotate_next = false;
	if (!s->endpoint)
		return; /* sub_on_leader connects once a leader is known */
	/* Connect from the loop so callbacks never run inside start. */
	uv_timer_start(&s->retry, sub_on_retry, 0, 0);
}

void subscriber_stop(struct subscriber *s)
{
	if (!s)
		return;
	s->running = false;
	http_sub_close(s->sub);
	s->sub = NULL;
	s->connected = false;
	free(s->stream_id);
	s->stream_id = NULL;
	if (!s->freed) {
		uv_timer_stop(&s->heartbeat);
		uv_timer_stop(&s->retry);
	}
}

static void sub_client_free(struct sub_client *sc)
{
	struct sub_call *c, *next;

	http_client_free(sc->http);
	for (c = sc->calls; c; c = next) {
		next = c->next;
		free(c);
	}
	free(sc->endpoint);
	free(sc);
}

static void sub_on_handle_close(uv_handle_t *h)
{
	struct subscriber *s = h->data;
	struct sub_client *sc, *next;

	if (--s->handles > 0)
		return;
	for (sc = s->clients; sc; sc = next) {
		next = sc->next;
		sub_client_free(sc);
	}
	for (size_t i = 0; i < s->nendpoints; i++)
		free(s->endpoints[i]);
	free(s->endpoints);
	leader_detector_free(s->detector);
	free(s->zk);
	free(s->path);
	free(s->endpoint);
	free(s->host);
	free(s->location);
	free(s->stream_id);
	buf_release(&s->errbody);
	recordio_reader_release(&s->rr);
	free(s);
}

void subscriber_free(struct subscriber *s)
{
	struct sub_client *sc;

	if (!s || s->freed)
		return;
	subscriber_stop(s);
	s->freed = true;
	/* Calls are cancelled now; their records go with the subscriber. */
	for (sc = s->clients; sc; sc = sc->next) {
		http_client_free(sc->http);
		sc->http = NULL;
	}
	s->heartbeat.data = s;
	s->retry.data = s;
	uv_close((uv_handle_t *)&s->heartbeat, sub_on_handle_close);
	uv_close((uv_handle_t *)&s->retry, sub_on_handle_close);
}

bool subscriber_is_connected(const struct subscriber *s)
{
	return s->connected;
}

const char *subscriber_stream_id(const struct subscriber *s)
{
	return s->connected ? s->stream_id : NULL;
}

const char *subscriber_endpoint(const struct subscriber *s)
{
	return s->endpoint;
}

static void sub_client_unlink(struct subscriber *s, struct sub_client *sc)
{
	for (struct sub_client **p = &s->clients; *p; p = &(*p)->next) {
		if (*p == sc) {
			*p = sc->next;
			return;
		}
	}
}

static void sub_call_done(struct http_response *resp, int err, void *arg)
{
	struct sub_call *c = arg;
	struct sub_client *sc = c->owner;
	struct subscriber *s = sc->s;

	if (c->prev)
		c->prev->next = c->next;
	else
		sc->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sc->in_callback = true;
	if (c->cb)
		c->cb(resp, err, c->arg);
	sc->in_callback = false;
	free(c);
	/* A retired client goes once idle (freeing from its own callback
	 * is allowed: http_client_free defers the memory). */
	if (sc->retired && !sc->calls && !s->freed) {
		sub_client_unlink(s, sc);
		sub_client_free(sc);
	}
}

/* The client for the current endpoint; older ones are retired. */
static struct sub_client *sub_client_get(struct subscriber *s)
{
	struct sub_client *sc = s->clients;

	if (sc && !sc->retired && streq(sc->endpoint, s->endpoint))
		return sc;
	if (sc && !sc->retired) {
		sc->retired = true;
		if (!sc->calls && !sc->in_callback) {
			s->clients = sc->next;
			sub_client_free(sc);
		}
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->s = s;
	sc->endpoint = xstrdup(s->endpoint);
	sc->http = http_client_new(s->loop, s->host, s->port);
	sc->next = s->clients;
	s->clients = sc;
	return sc;
}

int subscriber_call(struct subscriber *s, const char *body, size_t len,
                    http_response_fn *cb, void *arg)
{
	struct sub_client *sc;
	struct sub_call *c;
	char *id_header = NULL;
	const char *headers[2] = {NULL, NULL};
	struct http_client_req req = {
	    .method = "POST",
	    .path = s->path,
	    .content_type = "application/json",
	    .accept = "application/json",
	    .headers = headers,
	    .body = body ? body : "",
	    .body_len = len,
	    .timeout_ms = s->opts.call_timeout_ms,
	};

	if (!s->connected || s->freed)
		return -ENOTCONN;
	if (s->stream_id) {
		id_header = xasprintf("Mesos-Stream-Id: %s", s->stream_id);
		headers[0] = id_header;
	}
	sc = sub_client_get(s);
	c = xcalloc(1, sizeof(*c));
	c->owner = sc;
	c->cb = cb;
	c->arg = arg;
	c->next = sc->calls;
	if (sc->calls)
		sc->calls->prev = c;
	sc->calls = c;
	http_client_request(sc->http, &req, sub_call_done, c);
	free(id_header);
	return 0;
}
