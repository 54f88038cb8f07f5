/*
 * svc_events.c: the event bus of the services framework and its
 * Server-Sent Events endpoint, GET /v2/events (Marathon's event stream).
 *
 * Beyond Marathon, the stream can be resumed without loss:
 *
 *   - every event has an id, strictly increasing for the life of the
 *     store (not just of the process): ids are reserved in blocks of
 *     SVC_EV_BLOCK persisted in the store before use, so after a restart
 *     numbering continues above anything a client has seen;
 *   - the last cfg.event_buffer events are kept in a ring; a client that
 *     reconnects with Last-Event-ID (the SSE standard header, or
 *     ?lastEventId=) first receives every later event it missed, then the
 *     live stream;
 *   - when the events it missed are no longer in the ring (or were before
 *     a restart), it receives one "event_stream_reset" event first: the
 *     signal to re-read the state it caches.
 *
 * Each client has a bounded queue (the HTTP stream's); a client that does
 * not read is disconnected, never allowed to grow our memory. A comment
 * line every SVC_EV_HEARTBEAT_MS keeps proxies from closing idle streams.
 * ?event_type=a&event_type=b filters, as in Marathon.
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include <inttypes.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/log.h"
#include "lib/store.h"

#define SVC_EV_BLOCK 1000
#define SVC_EV_HEARTBEAT_MS 15000
#define SVC_EV_MAX_FILTERS 32

struct svc_sse {
	struct list link;
	struct services *sv;
	struct http_stream *stream;
	char **types; /* filter; NULL = every type */
	size_t ntypes;
};

static void svc_handle_free(uv_handle_t *h)
{
	free(h);
}

static int svc_ev_reserve(struct services *sv, struct err *e)
{
	char text[32];

	sv->ev_reserved = sv->ev_next + SVC_EV_BLOCK;
	snprintf(text, sizeof(text), "%" PRIu64, sv->ev_reserved);
	return store_put(sv->store, "meta", "event_seq", text, strlen(text), e);
}

int svc_events_init(struct services *sv, struct err *e)
{
	char *val = NULL;
	size_t len;
	int rc;

	sv->events = xcalloc((size_t)sv->cfg.event_buffer, sizeof(*sv->events));
	sv->ev_head = sv->ev_count = 0;
	rc = store_get(sv->store, "meta", "event_seq", &val, &len, e);
	if (rc && rc != -ENOENT)
		return rc;
	sv->ev_next = 1;
	if (!rc) {
		sv->ev_next = strtoull(val, NULL, 10) + 1;
		free(val);
	}
	return svc_ev_reserve(sv, e);
}

static void svc_sse_free(struct svc_sse *c)
{
	for (size_t i = 0; i < c->ntypes; i++)
		free(c->types[i]);
	free(c->types);
	free(c);
}

void svc_events_release(struct services *sv)
{
	struct list *pos, *tmp;
	uv_timer_t *hb;

	LIST_FOR_EACH_SAFE(pos, tmp, &sv->sse)
	{
		struct svc_sse *c = list_entry(pos, struct svc_sse, link);

		/* The close callback frees c. */
		http_stream_end(c->stream);
	}
	if (sv->events) {
		for (size_t i = 0; i < (size_t)sv->cfg.event_buffer; i++) {
			free(sv->events[i].type);
			free(sv->events[i].json);
		}
		free(sv->events);
		sv->events = NULL;
	}
	if ((hb = sv->ev_heartbeat) != NULL) {
		uv_timer_stop(hb);
		uv_close((uv_handle_t *)hb, svc_handle_free);
		sv->ev_heartbeat = NULL;
	}
}

static bool svc_sse_wants(const struct svc_sse *c, const char *type)
{
	if (!c->ntypes)
		return true;
	for (size_t i = 0; i < c->ntypes; i++)
		if (!strcmp(c->types[i], type))
			return true;
	return false;
}

static void svc_sse_send(struct svc_sse *c, uint64_t id, const char *type,
                         const char *json, size_t len)
{
	struct buf b;

	if (!svc_sse_wants(c, type))
		return;
	buf_init(&b);
	buf_addf(&b, "id: %" PRIu64 "\nevent: %s\ndata: ", id, type);
	buf_add(&b, json, len);
	buf_adds(&b, "\n\n");
	if (http_stream_write(c->stream, b.data, b.len) == -ENOBUFS) {
		static const char msg[] = "event: event_stream_overflow\n"
					  "data: {\"message\":\"client too slow"
					  "\"}\n\n";

		log_warn(SVC_COMPONENT,
		         "dropping a slow /v2/events client (queue full)");
		http_stream_end_with(c->stream, msg, sizeof(msg) - 1);
	}
	buf_release(&b);
}

void svc_event(struct services *sv, const char *type, json_t *obj)
{
	struct svc_event *ev;
	struct list *pos, *tmp;
	char stamp[40];
	struct tm tm;
	time_t now = time(NULL);
	size_t slot;

	if (!sv->events) {
		json_decref(obj);
		return;
	}
	if (!obj)
		obj = json_object();
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	json_object_set_new(obj, "eventType", json_string(type));
	json_object_set_new(obj, "timestamp", json_string(stamp));
	if (sv->ev_next >= sv->ev_reserved) {
		struct err e = {{0}};

		/* Losing an id block is harmless (ids stay increasing);
		 * failing to persist one means a restart may reuse ids, so
		 * say so loudly. */
		if (svc_ev_reserve(sv, &e))
			log_error(SVC_COMPONENT,
			          "cannot persist the event sequence: %s",
			          e.msg);
	}
	slot = (sv->ev_head + sv->ev_count) % (size_t)sv->cfg.event_buffer;
	if (sv->ev_count == (size_t)sv->cfg.event_buffer) {
		slot = sv->ev_head;
		sv->ev_head = (sv->ev_head + 1) % (size_t)sv->cfg.event_buffer;
		sv->ev_count--;
	}
	ev = &sv->events[slot];
	free(ev->type);
	free(ev->json);
	ev->id = sv->ev_next++;
	ev->type = xstrdup(type);
	ev->json = json_dumps(obj, JSON_COMPACT);
	ev->len = strlen(ev->json);
	sv->ev_count++;
	json_decref(obj);
	LIST_FOR_EACH_SAFE(pos, tmp, &sv->sse)
	{
		struct svc_sse *c = list_entry(pos, struct svc_sse, link);

		svc_sse_send(c, ev->id, ev->type, ev->json, ev->len);
	}
}

static void svc_sse_closed(struct http_stream *s, void *arg)
{
	struct svc_sse *c = arg;

	(void)s;
	list_del(&c->link);
	svc_sse_free(c);
}

static void svc_heartbeat_cb(uv_timer_t *h)
{
	struct services *sv = h->data;
	struct list *pos, *tmp;
	static const char beat[] = ":\n\n";

	LIST_FOR_EACH_SAFE(pos, tmp, &sv->sse)
	{
		struct svc_sse *c = list_entry(pos, struct svc_sse, link);

		if (http_stream_write(c->stream, beat, sizeof(beat) - 1) ==
		    -ENOBUFS)
			http_stream_end(c->stream);
	}
}

/* Collects ?event_type= values (repeatable). */
static void svc_sse_filters(struct svc_sse *c, const char *query)
{
	const char *p = query;

	while (p && *p && c->ntypes < SVC_EV_MAX_FILTERS) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > 11 && !strncmp(p, "event_type=", 11)) {
			c->types = xrealloc(c->types, (c->ntypes + 1) *
			                                  sizeof(*c->types));
			c->types[c->ntypes++] = xstrndup(p + 11, len - 11);
		}
		p = end ? end + 1 : NULL;
	}
}

void svc_events_serve(struct services *sv, struct http_request *req)
{
	const char *last = http_request_header(req, "Last-Event-ID");
	char *qlast = http_request_query(req, "lastEventId");
	struct svc_sse *c = xcalloc(1, sizeof(*c));
	uint64_t resume = 0;
	bool resuming = false;

	if (!last)
		last = qlast;
	if (last) {
		char *end;

		errno = 0;
		resume = strtoull(last, &end, 10);
		if (errno || end == last || *end) {
			http_respond_error(
			    req, 400,
			    "Last-Event-ID: expected an event id "
			    "(a decimal number), got '%s'",
			    last);
			free(qlast);
			free(c);
			return;
		}
		resuming = true;
	}
	free(qlast);
	c->sv = sv;
	svc_sse_filters(c, req->query);
	http_request_add_header(req, "Cache-Control", "no-cache");
	c->stream =
	    http_stream_begin(req, 200, "text/event-stream", svc_sse_closed, c);
	if (!c->stream) {
		svc_sse_free(c);
		return;
	}
	list_add_tail(&sv->sse, &c->link);
	if (!sv->ev_heartbeat) {
		sv->ev_heartbeat = xcalloc(1, sizeof(*sv->ev_heartbeat));
		uv_timer_init(sv->loop, sv->ev_heartbeat);
		sv->ev_heartbeat->data = sv;
		uv_timer_start(sv->ev_heartbeat, svc_heartbeat_cb,
		               SVC_EV_HEARTBEAT_MS, SVC_EV_HEARTBEAT_MS);
	}
	/* An attach event, as Marathon sends. */
	{
		static const char att[] = "{\"eventType\":"
					  "\"event_stream_attached\"}";

		svc_sse_send(c, sv->ev_next > 0 ? sv->ev_next - 1 : 0,
		             "event_stream_attached", att, sizeof(att) - 1);
	}
	if (!resuming)
		return;
	if (sv->ev_count) {
		uint64_t oldest = sv->events[sv->ev_head].id;

		if (resume + 1 < oldest) {
			static const char reset[] =
			    "{\"eventType\":\"event_stream_reset\","
			    "\"message\":\"events after the given id are no "
			    "longer kept: re-read the state\"}";

			svc_sse_send(c, oldest - 1, "event_stream_reset", reset,
			             sizeof(reset) - 1);
		}
	} else if (resume + 1 < sv->ev_next) {
		static const char reset[] =
		    "{\"eventType\":\"event_stream_reset\",\"message\":"
		    "\"events after the given id are no longer kept: re-read "
		    "the state\"}";

		svc_sse_send(c, sv->ev_next - 1, "event_stream_reset", reset,
		             sizeof(reset) - 1);
	}
	for (size_t i = 0; i < sv->ev_count; i++) {
		const struct svc_event *ev =
		    &sv->events[(sv->ev_head + i) %
		                (size_t)sv->cfg.event_buffer];

		if (ev->id > resume)
			svc_sse_send(c, ev->id, ev->type, ev->json, ev->len);
	}
}
