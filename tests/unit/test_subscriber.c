/*
 * test_subscriber.c: the subscriber against tiny event-stream servers
 * built on http.c, over 127.0.0.1 with a real loop. A server answers
 * SUBSCRIBE with a RecordIO stream (SUBSCRIBED first), other calls with
 * 202, and can be told to redirect, refuse, drop or go silent.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <unistd.h>

#include "lib/err.h"
#include "lib/recordio.h"
#include "lib/subscriber.h"
#include "lib/timeutil.h"

enum srv_mode {
	SRV_STREAM,   /* SUBSCRIBED, then two events */
	SRV_REDIRECT, /* 307 to redirect_to */
	SRV_REFUSE,   /* 400 with a message */
	SRV_SILENT,   /* SUBSCRIBED, then nothing */
	SRV_GARBAGE,  /* SUBSCRIBED, then a record that is not JSON */
};

struct tsrv {
	struct http_server *http;
	int port;
	enum srv_mode mode;
	char redirect_to[64];
	int subscribes;
	int calls;
	char call_stream_id[64];
	char call_body[128];
	struct http_stream *stream;
};

struct t {
	uv_loop_t loop;
	struct tsrv a, b;
	struct subscriber *sub;
	int connected;
	char connected_id[64];
	char types[16][32];
	int nevents;
	int ndisc;
	int disc_err;
	int disc_status;
	char disc_msg[128];
	bool stop_in_disconnect;
	bool free_in_event;
	int call_status;
	int call_done;
};

/* ---- the test servers -------------------------------------------------- */

static void stream_event(struct http_stream *st, const char *json)
{
	struct buf b = BUF_INIT;
	recordio_frame(&b, json, strlen(json));
	assert_int_equal(http_stream_write(st, b.data, b.len), 0);
	buf_release(&b);
}

static void stream_gone(struct http_stream *st, void *arg)
{
	struct tsrv *ts = arg;
	if (ts->stream == st)
		ts->stream = NULL;
}

static void srv_handler(struct http_request *req, void *arg)
{
	struct tsrv *ts = arg;
	const char *sid = http_request_header(req, "mesos-stream-id");
	char id[32];
	struct http_stream *st;

	if (!strstr(req->body, "SUBSCRIBE")) {
		ts->calls++;
		snprintf(ts->call_stream_id, sizeof(ts->call_stream_id), "%s",
		         sid ? sid : "");
		snprintf(ts->call_body, sizeof(ts->call_body), "%s", req->body);
		http_respond(req, 202, NULL, NULL, 0);
		return;
	}
	ts->subscribes++;
	if (sid || !streq(req->path, "/api/v1/scheduler") ||
	    !streq(http_request_header(req, "content-type"),
	           "application/json")) {
		http_respond_error(req, 400, "bad subscribe request");
		return;
	}
	switch (ts->mode) {
	case SRV_REDIRECT:
		http_request_add_header(req, "Location", ts->redirect_to);
		http_respond(req, 307, NULL, NULL, 0);
		return;
	case SRV_REFUSE:
		http_respond_error(req, 400, "framework is not allowed");
		return;
	default:
		break;
	}
	snprintf(id, sizeof(id), "stream-%d-%d", ts->port, ts->subscribes);
	http_request_add_header(req, "Mesos-Stream-Id", id);
	st = http_stream_begin(req, 200, "application/json", stream_gone, ts);
	ts->stream = st;
	stream_event(st, "{\"type\":\"SUBSCRIBED\",\"subscribed\":"
	                 "{\"framework_id\":{\"value\":\"fw\"}}}");
	if (ts->mode == SRV_GARBAGE) {
		stream_event(st, "{not json");
	} else if (ts->mode == SRV_STREAM) {
		/* One record split over two chunks. */
		assert_int_equal(http_stream_write(st, "20\n{\"type\":", 11),
		                 0);
		assert_int_equal(http_stream_write(st, "\"HEARTBEAT\"}", 12),
		                 0);
		stream_event(st, "{\"type\":\"OFFERS\",\"offers\":{}}");
		stream_event(st, "{\"no_type\":1}");
	}
}

static void tsrv_start(struct t *t, struct tsrv *ts, enum srv_mode mode)
{
	struct err e;

	ts->mode = mode;
	ts->http = http_server_new(&t->loop, NULL, srv_handler, ts);
	assert_int_equal(http_server_listen(ts->http, &e), 0);
	ts->port = http_server_port(ts->http);
}

/* ---- subscriber callbacks --------------------------------------------- */

static void build_subscribe(struct buf *body, void *arg)
{
	(void)arg;
	buf_adds(body, "{\"type\":\"SUBSCRIBE\"}");
}

static void on_connected(const char *stream_id, void *arg)
{
	struct t *t = arg;
	t->connected++;
	snprintf(t->connected_id, sizeof(t->connected_id), "%s",
	         stream_id ? stream_id : "(null)");
}

static void on_event(json_t *ev, const char *type, void *arg)
{
	struct t *t = arg;
	assert_non_null(ev);
	if (t->nevents < 16)
		snprintf(t->types[t->nevents], sizeof(t->types[0]), "%s", type);
	t->nevents++;
	if (t->free_in_event) {
		subscriber_free(t->sub);
		t->sub = NULL;
	}
}

static void on_disconnected(int err, int status, const char *msg, void *arg)
{
	struct t *t = arg;
	t->ndisc++;
	t->disc_err = err;
	t->disc_status = status;
	snprintf(t->disc_msg, sizeof(t->disc_msg), "%s", msg ? msg : "");
	if (t->stop_in_disconnect)
		subscriber_stop(t->sub);
}

static void t_init(struct t *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
}

static struct subscriber *t_sub(struct t *t, const char *const *eps, size_t n,
                                double heartbeat)
{
	struct subscriber_opts o = {
	    .endpoints = eps,
	    .nendpoints = n,
	    .path = "/api/v1/scheduler",
	    .build_subscribe = build_subscribe,
	    .on_connected = on_connected,
	    .on_event = on_event,
	    .on_disconnected = on_disconnected,
	    .heartbeat_timeout = heartbeat,
	    .backoff_min = 0.01,
	    .backoff_max = 0.05,
	    .call_timeout_ms = 3000,
	};
	t->sub = subscriber_new(&t->loop, &o, t);
	return t->sub;
}

static void t_finish(struct t *t)
{
	subscriber_free(t->sub);
	t->sub = NULL;
	http_server_close(t->a.http);
	http_server_close(t->b.http);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

typedef bool pred_fn(struct t *t);

static bool run_until(struct t *t, pred_fn *pred, uint64_t timeout_ms)
{
	uint64_t end = timeutil_mono_ms() + timeout_ms;

	while (!pred(t)) {
		if (timeutil_mono_ms() > end)
			return false;
		uv_run(&t->loop, UV_RUN_NOWAIT);
		if (!pred(t))
			usleep(200);
	}
	return true;
}

static bool pred_never(struct t *t)
{
	(void)t;
	return false;
}

static bool pred_3_events(struct t *t)
{
	return t->nevents >= 4;
}

static bool pred_disc(struct t *t)
{
	return t->ndisc > 0;
}

static bool pred_two_disc(struct t *t)
{
	return t->ndisc >= 2;
}

static bool pred_call(struct t *t)
{
	return t->call_done > 0;
}

static bool pred_two_connects(struct t *t)
{
	return t->connected >= 2;
}

static bool pred_connected(struct t *t)
{
	return t->connected >= 1;
}

static void ep_of(char *out, size_t n, int port)
{
	snprintf(out, n, "127.0.0.1:%d", port);
}

/* ---- tests ------------------------------------------------------------- */

static void on_call(struct http_response *resp, int err, void *arg)
{
	struct t *t = arg;
	t->call_done++;
	t->call_status = err ? err : resp->status;
}

static void test_events_stream_id_and_call(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_STREAM);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	assert_int_equal(subscriber_call(t.sub, "{}", 2, on_call, &t),
	                 -ENOTCONN);
	assert_false(subscriber_is_connected(t.sub));
	subscriber_start(t.sub);
	assert_int_equal(t.connected, 0); /* never inside start */
	assert_true(run_until(&t, pred_3_events, 3000));
	assert_int_equal(t.nevents, 4);
	assert_string_equal(t.types[0], "SUBSCRIBED");
	assert_string_equal(t.types[1], "HEARTBEAT");
	assert_string_equal(t.types[2], "OFFERS");
	assert_string_equal(t.types[3], "");
	assert_int_equal(t.connected, 1);
	assert_true(subscriber_is_connected(t.sub));
	assert_non_null(subscriber_stream_id(t.sub));
	assert_string_equal(subscriber_stream_id(t.sub), t.connected_id);
	assert_non_null(strstr(t.connected_id, "stream-"));
	assert_string_equal(subscriber_endpoint(t.sub), ep);
	assert_int_equal(
	    subscriber_call(t.sub, "{\"type\":\"ACCEPT\"}", 17, on_call, &t),
	    0);
	assert_true(run_until(&t, pred_call, 3000));
	assert_int_equal(t.call_status, 202);
	assert_int_equal(t.a.calls, 1);
	assert_string_equal(t.a.call_stream_id, t.connected_id);
	assert_string_equal(t.a.call_body, "{\"type\":\"ACCEPT\"}");
	/* A NULL callback is fine. */
	assert_int_equal(subscriber_call(t.sub, "{}", 2, NULL, NULL), 0);
	assert_int_equal(t.ndisc, 0);
	t_finish(&t);
}

static void test_reconnect_after_drop(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};
	char first[64];

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_STREAM);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_connected, 3000));
	snprintf(first, sizeof(first), "%s", t.connected_id);
	assert_true(run_until(&t, pred_3_events, 3000));
	http_stream_end(t.a.stream);
	assert_true(run_until(&t, pred_two_connects, 3000));
	assert_int_equal(t.ndisc, 1);
	assert_int_equal(t.disc_status, 0);
	assert_true(t.disc_err < 0);
	assert_int_equal(t.a.subscribes, 2);
	assert_string_not_equal(first, t.connected_id);
	assert_string_equal(subscriber_stream_id(t.sub), t.connected_id);
	t_finish(&t);
}

static void test_redirect_followed(void **state)
{
	struct t t;
	char ep[64], epb[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_REDIRECT);
	tsrv_start(&t, &t.b, SRV_STREAM);
	snprintf(t.a.redirect_to, sizeof(t.a.redirect_to),
	         "//127.0.0.1:%d/api/v1/scheduler", t.b.port);
	ep_of(ep, sizeof(ep), t.a.port);
	ep_of(epb, sizeof(epb), t.b.port);
	t_sub(&t, eps, 1, 5);
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_3_events, 3000));
	assert_int_equal(t.a.subscribes, 1);
	assert_int_equal(t.b.subscribes, 1);
	assert_int_equal(t.ndisc, 0);
	assert_string_equal(subscriber_endpoint(t.sub), epb);
	/* Calls go to the leader too. */
	assert_int_equal(subscriber_call(t.sub, "{}", 2, on_call, &t), 0);
	assert_true(run_until(&t, pred_call, 3000));
	assert_int_equal(t.b.calls, 1);
	assert_int_equal(t.a.calls, 0);
	t_finish(&t);
}

static void test_redirect_absolute_url(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_REDIRECT);
	tsrv_start(&t, &t.b, SRV_STREAM);
	snprintf(t.a.redirect_to, sizeof(t.a.redirect_to),
	         "http://127.0.0.1:%d/api/v1/scheduler", t.b.port);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_connected, 3000));
	assert_int_equal(t.b.subscribes, 1);
	t_finish(&t);
}

static void test_stop_inside_disconnected(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_REFUSE);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	t.stop_in_disconnect = true;
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_disc, 3000));
	assert_int_equal(t.disc_err, 0);
	assert_int_equal(t.disc_status, 400);
	assert_string_equal(t.disc_msg, "framework is not allowed");
	/* Well past the largest backoff: nothing more happens. */
	run_until(&t, pred_never, 200);
	assert_int_equal(t.a.subscribes, 1);
	assert_int_equal(t.ndisc, 1);
	assert_false(subscriber_is_connected(t.sub));
	/* A restart tries again. */
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_two_disc, 3000));
	assert_int_equal(t.a.subscribes, 2);
	t_finish(&t);
}

static void test_refused_then_rotates(void **state)
{
	struct t t;
	char dead[64], ep[64];
	const char *eps[2] = {dead, ep};
	struct tsrv gone = {0};

	(void)state;
	t_init(&t);
	/* A port that was just free: nothing listens there. */
	tsrv_start(&t, &gone, SRV_STREAM);
	ep_of(dead, sizeof(dead), gone.port);
	http_server_close(gone.http);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	tsrv_start(&t, &t.a, SRV_STREAM);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 2, 5);
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_connected, 3000));
	assert_true(t.ndisc >= 1);
	assert_int_equal(t.disc_status, 0);
	assert_int_equal(t.disc_err, -ECONNREFUSED);
	assert_non_null(strstr(t.disc_msg, dead));
	assert_string_equal(subscriber_endpoint(t.sub), ep);
	t_finish(&t);
}

static void test_heartbeat_silence_reconnects(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_SILENT);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 0.2);
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_connected, 3000));
	assert_true(run_until(&t, pred_disc, 3000));
	assert_int_equal(t.disc_err, -ETIMEDOUT);
	assert_string_equal(t.disc_msg, "no event for 0.2 s");
	assert_true(run_until(&t, pred_two_connects, 3000));
	assert_true(t.a.subscribes >= 2);
	t_finish(&t);
}

static void test_garbage_record(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_GARBAGE);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	t.stop_in_disconnect = true;
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_disc, 3000));
	assert_int_equal(t.disc_err, -EPROTO);
	assert_int_equal(t.nevents, 1);
	assert_non_null(strstr(t.disc_msg, "not a JSON object"));
	t_finish(&t);
}

static bool pred_one_event(struct t *t)
{
	return t->nevents >= 1;
}

static void test_free_inside_event(void **state)
{
	struct t t;
	char ep[64];
	const char *eps[1] = {ep};

	(void)state;
	t_init(&t);
	tsrv_start(&t, &t.a, SRV_STREAM);
	ep_of(ep, sizeof(ep), t.a.port);
	t_sub(&t, eps, 1, 5);
	t.free_in_event = true;
	subscriber_start(t.sub);
	assert_true(run_until(&t, pred_one_event, 3000));
	run_until(&t, pred_never, 50);
	assert_int_equal(t.nevents, 1);
	assert_int_equal(t.ndisc, 0);
	t_finish(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_stream_id_and_call),
	    cmocka_unit_test(test_reconnect_after_drop),
	    cmocka_unit_test(test_redirect_followed),
	    cmocka_unit_test(test_redirect_absolute_url),
	    cmocka_unit_test(test_stop_inside_disconnected),
	    cmocka_unit_test(test_refused_then_rotates),
	    cmocka_unit_test(test_heartbeat_silence_reconnects),
	    cmocka_unit_test(test_garbage_record),
	    cmocka_unit_test(test_free_inside_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
