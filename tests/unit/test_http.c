/*
 * test_http.c: the HTTP server and client over real sockets on 127.0.0.1
 * with a real libuv loop. Raw blocking sockets play misbehaving clients;
 * a thread plays a scripted server where exact bytes matter. Each test
 * ends by closing everything and checking that the loop has no handle
 * left (uv_loop_close() == 0).
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/http.h"
#include "lib/http_int.h"
#include "lib/timeutil.h"

struct env {
	uv_loop_t loop;
	struct http_server *srv;
	int port;
	int nreq;
	/* streams */
	struct http_stream *stream;
	int stream_closed;
	/* deferred request */
	struct http_request *deferred;
	/* client results */
	int ndone;
	int errs[8];
	int status[8];
	char bodies[8][256];
	/* sub results */
	struct buf sub_data;
	int sub_status;
	int sub_end;
	int sub_end_err;
	char sub_ctype[64];
};

/* ---- helpers ----------------------------------------------------------- */

static void handler(struct http_request *req, void *arg)
{
	struct env *e = arg;
	struct buf b = BUF_INIT;

	e->nreq++;
	if (streq(req->path, "/stream")) {
		e->stream_closed = 0;
		e->stream = http_stream_begin(req, 200, "application/recordio",
		                              NULL, NULL);
		return;
	}
	if (streq(req->path, "/defer")) {
		http_request_defer(req);
		e->deferred = req;
		return;
	}
	buf_addf(&b, "%s %s", req->method, req->path);
	if (req->query)
		buf_addf(&b, " ?%s", req->query);
	buf_addf(&b, " body=");
	buf_add(&b, req->body, req->body_len);
	http_request_add_header(req, "X-Test", "yes");
	http_respond_buf(req, 200, "text/plain", &b);
}

static void env_start(struct env *e, const struct http_server_opts *o)
{
	struct err er;

	memset(e, 0, sizeof(*e));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	e->srv = http_server_new(&e->loop, o, handler, e);
	assert_int_equal(http_server_listen(e->srv, &er), 0);
	e->port = http_server_port(e->srv);
	assert_true(e->port > 0);
}

static void env_stop(struct env *e)
{
	if (e->srv)
		http_server_close(e->srv);
	e->srv = NULL;
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	buf_release(&e->sub_data);
}

typedef bool pred_fn(struct env *e, void *arg);

/* Runs the loop until pred holds or timeout_ms pass; returns pred. */
static bool run_until(struct env *e, pred_fn *pred, void *arg,
                      uint64_t timeout_ms)
{
	uint64_t end = timeutil_mono_ms() + timeout_ms;

	while (!pred(e, arg)) {
		if (timeutil_mono_ms() > end)
			return false;
		uv_run(&e->loop, UV_RUN_NOWAIT);
		if (!pred(e, arg))
			usleep(200);
	}
	return true;
}

static bool pred_never(struct env *e, void *arg)
{
	(void)e;
	(void)arg;
	return false;
}

static void run_for(struct env *e, uint64_t ms)
{
	run_until(e, pred_never, NULL, ms);
}

static int raw_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Sends everything, pumping the loop while the socket is full. */
static void raw_send(struct env *e, int fd, const void *data, size_t len)
{
	const char *p = data;
	uint64_t end = timeutil_mono_ms() + 5000;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			return; /* the server closed on us: fine for tests */
		assert_true(timeutil_mono_ms() < end);
		uv_run(&e->loop, UV_RUN_NOWAIT);
		usleep(200);
	}
}

static void raw_sends(struct env *e, int fd, const char *s)
{
	raw_send(e, fd, s, strlen(s));
}

struct raw_read {
	int fd;
	struct buf *out;
	size_t want_responses;
	bool eof;
};

/* Counts complete Content-Length responses at the start of b. */
static size_t count_responses(const struct buf *b)
{
	size_t n = 0, off = 0;

	while (off < b->len) {
		const char *start = b->data + off;
		const char *hend = strstr(start, "\r\n\r\n");
		const char *cl;
		size_t clen = 0;

		if (!hend)
			break;
		cl = strcasestr(start, "\r\nContent-Length:");
		if (cl && cl < hend)
			clen = strtoul(cl + 17, NULL, 10);
		if ((size_t)(hend + 4 - b->data) + clen > b->len)
			break;
		off = (size_t)(hend + 4 - b->data) + clen;
		n++;
	}
	return n;
}

static bool pred_raw(struct env *e, void *arg)
{
	struct raw_read *r = arg;
	char tmp[65536];
	ssize_t n;

	(void)e;
	while ((n = recv(r->fd, tmp, sizeof(tmp), 0)) > 0)
		buf_add(r->out, tmp, (size_t)n);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		r->eof = true;
	if (r->want_responses)
		return r->eof || count_responses(r->out) >= r->want_responses;
	return r->eof;
}

/* Reads until nresp responses arrived (0: until EOF). Returns eof. */
static bool raw_read(struct env *e, int fd, struct buf *out, size_t nresp,
                     uint64_t timeout_ms)
{
	struct raw_read r = {fd, out, nresp, false};
	assert_true(run_until(e, pred_raw, &r, timeout_ms));
	return r.eof;
}

static bool pred_conns(struct env *e, void *arg)
{
	return http_server_connections(e->srv) == *(size_t *)arg;
}

static void wait_conns(struct env *e, size_t n)
{
	assert_true(run_until(e, pred_conns, &n, 3000));
}

/* ---- server over raw sockets ------------------------------------------ */

static void test_keepalive_two_requests(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd, "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out.data, "X-Test: yes\r\n"));
	assert_non_null(strstr(out.data, "Content-Type: text/plain\r\n"));
	assert_non_null(strstr(out.data, "GET /a b ?x=1 body="));
	assert_null(strstr(out.data, "Connection: close"));
	buf_reset(&out);
	raw_sends(&e, fd,
	          "POST /p HTTP/1.1\r\nHost: h\r\n"
	          "Content-Length: 5\r\n\r\nhello");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "POST /p body=hello"));
	/* HEAD: the GET length, no body; the connection goes on. */
	buf_reset(&out);
	raw_sends(&e, fd, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
	run_for(&e, 50);
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "Content-Length: 13\r\n"));
	assert_null(strstr(out.data, "HEAD /h"));
	assert_non_null(strstr(out.data, "\r\n\r\nHTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out.data, "GET /g body="));
	assert_int_equal(e.nreq, 4);
	assert_int_equal(http_server_connections(e.srv), 1);
	close(fd);
	wait_conns(&e, 0);
	buf_release(&out);
	env_stop(&e);
}

static void test_pipelining_in_order(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	const char *a, *b, *c;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "GET /1 HTTP/1.1\r\n\r\n"
	          "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	          "GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n"
	          "GET /4 HTTP/1.1\r\n\r\n");
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_int_equal(count_responses(&out), 3);
	a = strstr(out.data, "GET /1 body=");
	b = strstr(out.data, "POST /2 body=abc");
	c = strstr(out.data, "GET /3 body=");
	assert_true(a && b && c && a < b && b < c);
	assert_null(strstr(out.data, "/4"));
	assert_non_null(strstr(out.data, "Connection: close\r\n"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

static void test_pipelining_split_bytes(void **state)
{
	static const char reqs[] = "GET /x HTTP/1.1\r\n\r\n"
				   "POST /y HTTP/1.1\r\nContent-Length: 2\r\n"
				   "\r\nhi";
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	for (size_t i = 0; i < sizeof(reqs) - 1; i++) {
		raw_send(&e, fd, reqs + i, 1);
		run_for(&e, 1);
	}
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_non_null(strstr(out.data, "GET /x body="));
	assert_non_null(strstr(out.data, "POST /y body=hi"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

static void test_chunked_request_body(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	          "\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "POST /c body=hello, world"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

static void test_expect_continue(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /e HTTP/1.1\r\nExpect: 100-continue\r\n"
	          "Content-Length: 2\r\n\r\n");
	run_for(&e, 50);
	raw_sends(&e, fd, "ok");
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_non_null(strstr(out.data, "POST /e body=ok"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

static void test_http10_closes(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd, "GET /old HTTP/1.0\r\n\r\n");
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_non_null(strstr(out.data, "GET /old body="));
	assert_non_null(strstr(out.data, "Connection: close\r\n"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

/* Reject cases: each gets its status, a text reason, and a close. */
static void test_rejects(void **state)
{
	static const struct {
		const char *req;
		int status;
		const char *reason;
	} cases[] = {
	    {"GET / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413,
	     "request body exceeds the limit"},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "800\r\n",
	     413, "request body exceeds the limit"},
	    {"\x16\x03\x01garbage\r\n\r\n", 400, NULL},
	    {"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, NULL},
	    {"GET nopath HTTP/1.1\r\n\r\n", 400, NULL},
	    {"GET /%zz HTTP/1.1\r\n\r\n", 400, "malformed request target"},
	    {"GET /%00 HTTP/1.1\r\n\r\n", 400, "malformed request target"},
	    {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, NULL},
	};
	struct http_server_opts o = {.max_body_bytes = 1024,
	                             .max_header_bytes = 1024};
	struct env e;

	(void)state;
	env_start(&e, &o);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf out = BUF_INIT;
		char want[64];
		int fd = raw_connect(e.port);

		raw_sends(&e, fd, cases[i].req);
		if (cases[i].status == 413 && strstr(cases[i].req, "800"))
			for (int k = 0; k < 4; k++) {
				char chunk[512];
				memset(chunk, 'z', sizeof(chunk));
				raw_send(&e, fd, chunk, sizeof(chunk));
			}
		assert_true(raw_read(&e, fd, &out, 0, 3000));
		snprintf(want, sizeof(want), "HTTP/1.1 %d ", cases[i].status);
		if (strncmp(out.data, want, strlen(want)))
			fail_msg("case %zu: got '%s'", i, out.data);
		assert_non_null(strstr(out.data, "Connection: close\r\n"));
		assert_non_null(strstr(out.data, "Content-Type: text/plain"));
		if (cases[i].reason && !strstr(out.data, cases[i].reason))
			fail_msg("case %zu: got '%s'", i, out.data);
		close(fd);
		buf_release(&out);
	}
	assert_int_equal(e.nreq, 0);
	/* The server is still fine. */
	{
		struct buf out = BUF_INIT;
		int fd = raw_connect(e.port);
		raw_sends(&e, fd, "GET /ok HTTP/1.1\r\n\r\n");
		assert_false(raw_read(&e, fd, &out, 1, 3000));
		assert_non_null(strstr(out.data, "GET /ok body="));
		close(fd);
		buf_release(&out);
	}
	env_stop(&e);
}

static void test_413_large_body_survives(void **state)
{
	struct http_server_opts o = {.max_body_bytes = 4096};
	struct env e;
	struct buf out = BUF_INIT;
	char *big = xmalloc(256 * 1024);
	int fd;

	(void)state;
	memset(big, 'b', 256 * 1024);
	env_start(&e, &o);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked"
	          "\r\n\r\n40000\r\n");
	raw_send(&e, fd, big, 256 * 1024);
	assert_true(raw_read(&e, fd, &out, 0, 5000));
	assert_memory_equal(out.data, "HTTP/1.1 413 ", 13);
	close(fd);
	buf_reset(&out);
	fd = raw_connect(e.port);
	raw_sends(&e, fd, "GET /after HTTP/1.1\r\n\r\n");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "GET /after body="));
	close(fd);
	free(big);
	buf_release(&out);
	env_stop(&e);
}

static void test_431_huge_headers(void **state)
{
	struct http_server_opts o = {.max_header_bytes = 2048};
	struct env e;
	struct buf out = BUF_INIT, req = BUF_INIT;
	int fd;

	(void)state;
	env_start(&e, &o);
	buf_adds(&req, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		buf_addf(&req, "X-Header-%d: %064d\r\n", i, i);
	buf_adds(&req, "\r\n");
	fd = raw_connect(e.port);
	raw_send(&e, fd, req.data, req.len);
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 431 ", 13);
	close(fd);
	/* Just under the limit passes. */
	buf_reset(&req);
	buf_reset(&out);
	buf_adds(&req, "GET /fits HTTP/1.1\r\n");
	for (int i = 0; i < 20; i++)
		buf_addf(&req, "X-Header-%d: %064d\r\n", i, i);
	buf_adds(&req, "\r\n");
	assert_true(req.len < 2048);
	fd = raw_connect(e.port);
	raw_send(&e, fd, req.data, req.len);
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "GET /fits body="));
	close(fd);
	buf_release(&req);
	buf_release(&out);
	env_stop(&e);
}

static void test_idle_and_header_timeouts(void **state)
{
	struct http_server_opts o = {.idle_timeout_ms = 100,
	                             .header_timeout_ms = 150};
	struct env e;
	struct buf out = BUF_INIT;
	uint64_t t0;
	int silent, partial, kept;

	(void)state;
	env_start(&e, &o);
	silent = raw_connect(e.port);
	partial = raw_connect(e.port);
	kept = raw_connect(e.port);
	raw_sends(&e, partial, "GET / HTTP/1.1\r\nHost:");
	raw_sends(&e, kept, "GET /k HTTP/1.1\r\n\r\n");
	t0 = timeutil_mono_ms();
	assert_true(raw_read(&e, silent, &out, 0, 3000));
	assert_int_equal(out.len, 0);
	assert_true(raw_read(&e, partial, &out, 0, 3000));
	assert_int_equal(out.len, 0);
	/* The kept-alive connection answered, then idled out. */
	assert_true(raw_read(&e, kept, &out, 0, 3000));
	assert_int_equal(count_responses(&out), 1);
	assert_true(timeutil_mono_ms() - t0 >= 90);
	wait_conns(&e, 0);
	close(silent);
	close(partial);
	close(kept);
	buf_release(&out);
	env_stop(&e);
}

/* ---- client ------------------------------------------------------------ */

static void on_resp(struct http_response *resp, int err, void *arg)
{
	struct env *e = arg;
	int i = e->ndone++;

	if (i >= 8)
		return;
	e->errs[i] = err;
	e->status[i] = resp ? resp->status : 0;
	if (resp)
		snprintf(e->bodies[i], sizeof(e->bodies[i]), "%s", resp->body);
}

static bool pred_ndone(struct env *e, void *arg)
{
	return e->ndone >= *(int *)arg;
}

static void wait_done(struct env *e, int n)
{
	assert_true(run_until(e, pred_ndone, &n, 5000));
}

static void test_client_keepalive_in_order(void **state)
{
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/one", .timeout_ms = 3000};

	(void)state;
	env_start(&e, NULL);
	c = http_client_new(&e.loop, "127.0.0.1", e.port);
	http_client_request(c, &r, on_resp, &e);
	r.path = "/two";
	r.body = "payload";
	r.body_len = 7;
	r.content_type = "application/json";
	http_client_request(c, &r, on_resp, &e);
	r.path = "/three?z=%41";
	r.body = NULL;
	r.body_len = 0;
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 3);
	assert_int_equal(e.errs[0], 0);
	assert_int_equal(e.status[0], 200);
	assert_string_equal(e.bodies[0], "GET /one body=");
	assert_string_equal(e.bodies[1], "POST /two body=payload");
	assert_string_equal(e.bodies[2], "GET /three ?z=%41 body=");
	assert_int_equal(http_server_connections(e.srv), 1);
	http_client_free(c);
	wait_conns(&e, 0);
	env_stop(&e);
}

static void test_client_connection_refused(void **state)
{
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/", .timeout_ms = 3000};
	int port;

	(void)state;
	env_start(&e, NULL);
	port = e.port;
	http_server_close(e.srv);
	e.srv = NULL;
	uv_run(&e.loop, UV_RUN_DEFAULT);
	c = http_client_new(&e.loop, "127.0.0.1", port);
	http_client_request(c, &r, on_resp, &e);
	/* Never synchronously. */
	assert_int_equal(e.ndone, 0);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], -ECONNREFUSED);
	http_client_free(c);
	env_stop(&e);
}

static void test_client_timeout(void **state)
{
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/defer", .timeout_ms = 100};
	uint64_t t0;

	(void)state;
	env_start(&e, NULL);
	c = http_client_new(&e.loop, "127.0.0.1", e.port);
	t0 = timeutil_mono_ms();
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], -ETIMEDOUT);
	assert_true(timeutil_mono_ms() - t0 >= 90);
	/* A late response to a deferred request whose client left. */
	assert_non_null(e.deferred);
	http_respond(e.deferred, 200, NULL, "late", 4);
	e.deferred = NULL;
	/* The client still works after a timeout. */
	r.path = "/fine";
	r.timeout_ms = 3000;
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 2);
	assert_int_equal(e.errs[1], 0);
	assert_string_equal(e.bodies[1], "GET /fine body=");
	http_client_free(c);
	env_stop(&e);
}

static void on_respond_later(uv_timer_t *t)
{
	struct env *e = t->data;
	http_respond(e->deferred, 202, "text/plain", "deferred", 8);
	e->deferred = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

static void test_deferred_response_keeps_order(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	uv_timer_t t;
	const char *a, *b;
	int fd;

	(void)state;
	env_start(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "GET /defer HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
	uv_timer_init(&e.loop, &t);
	t.data = &e;
	uv_timer_start(&t, on_respond_later, 50, 0);
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	a = strstr(out.data, "HTTP/1.1 202 Accepted");
	b = strstr(out.data, "GET /next body=");
	assert_true(a && b && a < b);
	assert_non_null(strstr(out.data, "\r\n\r\ndeferred"));
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

static void test_client_names_and_ipv6(void **state)
{
	struct http_server_opts o6 = {.ip = "::1"};
	struct http_server *s6;
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/named", .timeout_ms = 3000};
	struct err er;

	(void)state;
	env_start(&e, NULL);
	c = http_client_new(&e.loop, "localhost", e.port);
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], 0);
	assert_string_equal(e.bodies[0], "GET /named body=");
	http_client_free(c);
	s6 = http_server_new(&e.loop, &o6, handler, &e);
	if (http_server_listen(s6, &er) == 0) {
		c = http_client_new(&e.loop, "::1", http_server_port(s6));
		r.path = "/six";
		http_client_request(c, &r, on_resp, &e);
		wait_done(&e, 2);
		assert_int_equal(e.errs[1], 0);
		assert_string_equal(e.bodies[1], "GET /six body=");
		http_client_free(c);
	}
	http_server_close(s6);
	env_stop(&e);
}

static void on_resp_free(struct http_response *resp, int err, void *arg)
{
	(void)resp;
	(void)err;
	(void)arg;
	fail_msg("callback after http_client_free");
}

static void test_client_free_stops_callbacks(void **state)
{
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/defer", .timeout_ms = 50};

	(void)state;
	env_start(&e, NULL);
	c = http_client_new(&e.loop, "127.0.0.1", e.port);
	http_client_request(c, &r, on_resp_free, &e);
	http_client_request(c, &r, on_resp_free, &e);
	run_for(&e, 1);
	http_client_free(c);
	run_for(&e, 100);
	assert_int_equal(e.nreq, 1);
	http_respond(e.deferred, 200, NULL, NULL, 0);
	env_stop(&e);
}

static void test_many_silent_connections(void **state)
{
	struct http_server_opts o = {.idle_timeout_ms = 60000};
	enum { N = 300 };
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/served", .timeout_ms = 3000};
	int fds[N];

	(void)state;
	env_start(&e, &o);
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(e.port);
		if (i % 2)
			raw_sends(&e, fds[i], "GET / HTTP/1.1\r\nX:");
	}
	wait_conns(&e, N);
	c = http_client_new(&e.loop, "127.0.0.1", e.port);
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], 0);
	assert_string_equal(e.bodies[0], "GET /served body=");
	http_client_free(c);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	wait_conns(&e, 0);
	env_stop(&e);
}

static void test_max_connections(void **state)
{
	struct http_server_opts o = {.max_connections = 2};
	struct env e;
	struct buf out = BUF_INIT;
	int a, b, c;

	(void)state;
	env_start(&e, &o);
	a = raw_connect(e.port);
	b = raw_connect(e.port);
	wait_conns(&e, 2);
	c = raw_connect(e.port);
	assert_true(raw_read(&e, c, &out, 0, 3000));
	assert_int_equal(out.len, 0);
	assert_int_equal(http_server_connections(e.srv), 2);
	close(c);
	/* The admitted ones still work. */
	raw_sends(&e, a, "GET /a HTTP/1.1\r\n\r\n");
	assert_false(raw_read(&e, a, &out, 1, 3000));
	assert_non_null(strstr(out.data, "GET /a body="));
	close(a);
	close(b);
	wait_conns(&e, 0);
	buf_release(&out);
	env_stop(&e);
}

/* Scripted server thread: per connection, a list of actions. */
struct script {
	int lfd;
	int port;
	const char *const
	    *steps; /* "<" read a request, ">..." send, "x" close */
};

static void script_read_request(int fd)
{
	char b[4096];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(b) - 1 &&
	       (n = recv(fd, b + len, sizeof(b) - 1 - len, 0)) > 0) {
		len += (size_t)n;
		b[len] = '\0';
		if (strstr(b, "\r\n\r\n"))
			return;
	}
}

static void *script_main(void *arg)
{
	struct script *s = arg;
	int fd = -1;

	for (const char *const *st = s->steps; *st; st++) {
		if (fd < 0)
			fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if ((*st)[0] == '<')
			script_read_request(fd);
		else if ((*st)[0] == '>')
			send(fd, *st + 1, strlen(*st + 1), MSG_NOSIGNAL);
		else if ((*st)[0] == 'x') {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void script_listen(struct script *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
}

static void test_client_retries_closed_keepalive(void **state)
{
	static const char *const steps[] = {
	    "<", ">HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", "<", "x",
	    "<", ">HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", "x", NULL,
	};
	struct script s = {.steps = steps};
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/", .timeout_ms = 3000};
	pthread_t th;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(uv_loop_init(&e.loop), 0);
	script_listen(&s);
	pthread_create(&th, NULL, script_main, &s);
	c = http_client_new(&e.loop, "127.0.0.1", s.port);
	http_client_request(c, &r, on_resp, &e);
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 2);
	assert_int_equal(e.errs[0], 0);
	assert_string_equal(e.bodies[0], "one");
	assert_int_equal(e.errs[1], 0);
	assert_string_equal(e.bodies[1], "two");
	http_client_free(c);
	pthread_join(th, NULL);
	close(s.lfd);
	env_stop(&e);
}

static void test_client_read_until_close_and_errors(void **state)
{
	static const char *const steps[] = {
	    "<",
	    ">HTTP/1.0 200 OK\r\n\r\nuntil close",
	    "x",
	    "<",
	    ">HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
	    "x",
	    "<",
	    ">garbage that is not http\r\n\r\n",
	    "x",
	    "<",
	    ">HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	    "x",
	    "<",
	    ">HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	    "x",
	    NULL,
	};
	struct script s = {.steps = steps};
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/", .timeout_ms = 3000};
	pthread_t th;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(uv_loop_init(&e.loop), 0);
	script_listen(&s);
	pthread_create(&th, NULL, script_main, &s);
	c = http_client_new(&e.loop, "127.0.0.1", s.port);
	for (int i = 0; i < 4; i++)
		http_client_request(c, &r, on_resp, &e);
	r.max_body_bytes = 50;
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 5);
	assert_int_equal(e.errs[0], 0);
	assert_string_equal(e.bodies[0], "until close");
	assert_int_equal(e.errs[1], 0);
	assert_string_equal(e.bodies[1], "abcde");
	assert_int_equal(e.errs[2], -EPROTO);
	assert_int_equal(e.errs[3], -ECONNRESET);
	assert_int_equal(e.errs[4], -EMSGSIZE);
	http_client_free(c);
	pthread_join(th, NULL);
	close(s.lfd);
	env_stop(&e);
}

static void test_client_huge_response_headers(void **state)
{
	struct buf big = BUF_INIT;
	const char *steps[] = {"<", NULL, "x", NULL};
	struct script s = {.steps = steps};
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/", .timeout_ms = 5000};
	pthread_t th;

	(void)state;
	buf_adds(&big, ">HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 4000; i++)
		buf_addf(&big, "X-%d: %090d\r\n", i, i);
	buf_adds(&big, "Content-Length: 0\r\n\r\n");
	steps[1] = big.data;
	memset(&e, 0, sizeof(e));
	assert_int_equal(uv_loop_init(&e.loop), 0);
	script_listen(&s);
	pthread_create(&th, NULL, script_main, &s);
	c = http_client_new(&e.loop, "127.0.0.1", s.port);
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], -EMSGSIZE);
	http_client_free(c);
	pthread_join(th, NULL);
	close(s.lfd);
	buf_release(&big);
	env_stop(&e);
}

static void test_client_timeout_silent_server(void **state)
{
	struct script s = {0};
	struct env e;
	struct http_client *c;
	struct http_client_req r = {.path = "/", .timeout_ms = 80};

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(uv_loop_init(&e.loop), 0);
	script_listen(&s); /* never accepts: the backlog takes the connect */
	c = http_client_new(&e.loop, "127.0.0.1", s.port);
	http_client_request(c, &r, on_resp, &e);
	wait_done(&e, 1);
	assert_int_equal(e.errs[0], -ETIMEDOUT);
	http_client_free(c);
	close(s.lfd);
	env_stop(&e);
}

/* ---- streams ----------------------------------------------------------- */

static void sub_headers(struct http_response *resp, void *arg)
{
	struct env *e = arg;
	const char *ct = http_response_header(resp, "content-type");
	e->sub_status = resp->status;
	snprintf(e->sub_ctype, sizeof(e->sub_ctype), "%s", ct ? ct : "");
}

static void sub_data(const char *data, size_t len, void *arg)
{
	struct env *e = arg;
	buf_add(&e->sub_data, data, len);
}

static void sub_end(int err, void *arg)
{
	struct env *e = arg;
	e->sub_end++;
	e->sub_end_err = err;
}

static bool pred_stream(struct env *e, void *arg)
{
	(void)arg;
	return e->stream != NULL;
}

static bool pred_sub_len(struct env *e, void *arg)
{
	return e->sub_data.len >= *(size_t *)arg;
}

static bool pred_sub_end(struct env *e, void *arg)
{
	(void)arg;
	return e->sub_end > 0;
}

static void stream_closed(struct http_stream *s, void *arg)
{
	struct env *e = arg;
	(void)s;
	e->stream_closed++;
	e->stream = NULL;
}

static bool pred_stream_closed(struct env *e, void *arg)
{
	(void)arg;
	return e->stream_closed > 0;
}

static void test_stream_chunks_in_order(void **state)
{
	struct env e;
	struct http_sub *sub;
	struct http_client_req r = {.path = "/stream", .timeout_ms = 3000};
	size_t want;
	struct http_stream *st;

	(void)state;
	env_start(&e, NULL);
	sub = http_sub_open(&e.loop, "127.0.0.1", e.port, &r, sub_headers,
	                    sub_data, sub_end, &e);
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	st = e.stream;
	assert_int_equal(http_stream_write(st, "first,", 6), 0);
	want = 6;
	assert_true(run_until(&e, pred_sub_len, &want, 3000));
	assert_int_equal(e.sub_status, 200);
	assert_string_equal(e.sub_ctype, "application/recordio");
	assert_int_equal(http_stream_write(st, "second,", 7), 0);
	assert_int_equal(http_stream_write(st, "third", 5), 0);
	assert_int_equal(http_stream_write(st, "", 0), 0);
	http_stream_end_with(st, ",last", 5);
	assert_int_equal(http_stream_write(st, "x", 1), -EPIPE);
	assert_true(run_until(&e, pred_sub_end, NULL, 3000));
	assert_int_equal(e.sub_end, 1);
	assert_int_equal(e.sub_end_err, 0);
	assert_string_equal(e.sub_data.data, "first,second,third,last");
	(void)sub;
	env_stop(&e);
}

/* A handler variant that registers a close callback. */
static void stream_handler(struct http_request *req, void *arg)
{
	struct env *e = arg;
	e->nreq++;
	e->stream =
	    http_stream_begin(req, 200, "application/json", stream_closed, e);
}

static void env_start_stream(struct env *e, const struct http_server_opts *o)
{
	struct err er;

	memset(e, 0, sizeof(*e));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	e->srv = http_server_new(&e->loop, o, stream_handler, e);
	assert_int_equal(http_server_listen(e->srv, &er), 0);
	e->port = http_server_port(e->srv);
}

static void test_stream_close_when_client_leaves(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	env_start_stream(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd, "POST /s HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	assert_int_equal(http_stream_write(e.stream, "abc", 3), 0);
	{
		struct raw_read rr = {fd, &out, 0, false};
		run_for(&e, 50);
		assert_false(pred_raw(&e, &rr));
	}
	close(fd);
	assert_true(run_until(&e, pred_stream_closed, NULL, 3000));
	wait_conns(&e, 0);
	run_for(&e, 20);
	assert_int_equal(e.stream_closed, 1);
	assert_non_null(strstr(out.data, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(out.data, "\r\n\r\n3\r\nabc\r\n"));
	buf_release(&out);
	env_stop(&e);
}

static void test_stream_close_callback_once(void **state)
{
	struct env e;
	struct http_sub *sub;
	struct http_client_req r = {.path = "/s", .timeout_ms = 3000};

	(void)state;
	env_start_stream(&e, NULL);
	/* 1: the subscriber goes away. */
	sub = http_sub_open(&e.loop, "127.0.0.1", e.port, &r, sub_headers,
	                    sub_data, sub_end, &e);
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	assert_int_equal(http_stream_write(e.stream, "abc", 3), 0);
	http_sub_close(sub);
	assert_true(run_until(&e, pred_stream_closed, NULL, 3000));
	run_for(&e, 50);
	assert_int_equal(e.stream_closed, 1);
	assert_int_equal(e.sub_end, 0); /* closed subs get no callback */
	/* 2: the server closes with a stream open. */
	e.stream_closed = 0;
	sub = http_sub_open(&e.loop, "127.0.0.1", e.port, &r, sub_headers,
	                    sub_data, sub_end, &e);
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	http_server_close(e.srv);
	e.srv = NULL;
	assert_true(run_until(&e, pred_sub_end, NULL, 3000));
	assert_int_equal(e.stream_closed, 1);
	assert_int_not_equal(e.sub_end_err, 0);
	env_stop(&e);
}

static void test_stream_enobufs(void **state)
{
	struct http_server_opts o = {.stream_queue_bytes = 64 * 1024,
	                             .idle_timeout_ms = 200};
	struct env e;
	char chunk[16 * 1024];
	int fd, rcv = 4096, rc = 0;
	struct sockaddr_in a;

	(void)state;
	memset(chunk, 'q', sizeof(chunk));
	env_start_stream(&e, &o);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)e.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	raw_sends(&e, fd, "GET /events HTTP/1.1\r\n\r\n");
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	for (int i = 0; i < 4000 && rc == 0; i++) {
		rc = http_stream_write(e.stream, chunk, sizeof(chunk));
		uv_run(&e.loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(http_stream_queued(e.stream) <= 64 * 1024);
	assert_true(http_stream_queued(e.stream) + sizeof(chunk) > 64 * 1024);
	http_stream_end_with(e.stream, "5\nerror", 7);
	/* The reader never reads: the flush times out and closes. */
	assert_true(run_until(&e, pred_stream_closed, NULL, 3000));
	assert_int_equal(e.stream_closed, 1);
	close(fd);
	env_stop(&e);
}

static void test_sub_non_200_and_refused(void **state)
{
	struct env e;
	struct http_client_req r = {.path = "/nostream",
	                            .body = "x",
	                            .body_len = 1,
	                            .timeout_ms = 3000};
	int port;

	(void)state;
	env_start(&e, NULL);
	http_sub_open(&e.loop, "127.0.0.1", e.port, &r, sub_headers, sub_data,
	              sub_end, &e);
	assert_true(run_until(&e, pred_sub_end, NULL, 3000));
	assert_int_equal(e.sub_status, 200);
	assert_int_equal(e.sub_end_err, 0);
	assert_string_equal(e.sub_data.data, "POST /nostream body=x");
	port = e.port;
	http_server_close(e.srv);
	e.srv = NULL;
	uv_run(&e.loop, UV_RUN_DEFAULT);
	e.sub_end = 0;
	http_sub_open(&e.loop, "127.0.0.1", port, &r, sub_headers, sub_data,
	              sub_end, &e);
	assert_true(run_until(&e, pred_sub_end, NULL, 3000));
	assert_int_equal(e.sub_end_err, -ECONNREFUSED);
	env_stop(&e);
}

static void test_sub_silence_timeout(void **state)
{
	struct env e;
	struct http_client_req r = {.path = "/s", .timeout_ms = 400};

	(void)state;
	env_start_stream(&e, NULL);
	http_sub_open(&e.loop, "127.0.0.1", e.port, &r, sub_headers, sub_data,
	              sub_end, &e);
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	assert_int_equal(http_stream_write(e.stream, "a", 1), 0);
	run_for(&e, 250);
	assert_int_equal(http_stream_write(e.stream, "b", 1), 0);
	run_for(&e, 250);
	assert_int_equal(e.sub_end, 0); /* data keeps it alive */
	assert_true(run_until(&e, pred_sub_end, NULL, 3000));
	assert_int_equal(e.sub_end_err, -ETIMEDOUT);
	assert_string_equal(e.sub_data.data, "ab");
	env_stop(&e);
}

/* ---- pure helpers ------------------------------------------------------ */

static void test_parse_hostport(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *host;
		int port;
	} cases[] = {
	    {"host:5050", 0, "host", 5050},
	    {"host", 0, "host", 80},
	    {"http://10.0.0.1:5050/master/state", 0, "10.0.0.1", 5050},
	    {"HTTP://h:1", 0, "h", 1},
	    {"//leader:5050/api/v1/scheduler", 0, "leader", 5050},
	    {"[::1]:5050", 0, "::1", 5050},
	    {"[::1]", 0, "::1", 80},
	    {"::1", 0, "::1", 80},
	    {"http://[fe80::1]:8080", 0, "fe80::1", 8080},
	    {"h:65535", 0, "h", 65535},
	    {"", -EINVAL, NULL, 0},
	    {":5050", -EINVAL, NULL, 0},
	    {"h:", -EINVAL, NULL, 0},
	    {"h:0", -EINVAL, NULL, 0},
	    {"h:65536", -EINVAL, NULL, 0},
	    {"h:-1", -EINVAL, NULL, 0},
	    {"h:12x", -EINVAL, NULL, 0},
	    {"https://h:443", -EINVAL, NULL, 0},
	    {"zk://h:2181/atoll", -EINVAL, NULL, 0},
	    {"[::1", -EINVAL, NULL, 0},
	    {"[::1]x", -EINVAL, NULL, 0},
	    {"user@h:1", -EINVAL, NULL, 0},
	    {"http://", -EINVAL, NULL, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *host = NULL;
		int port = 0;
		int rc = http_parse_hostport(cases[i].in, 80, &host, &port);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d", cases[i].in, rc);
		if (rc == 0) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		} else {
			assert_null(host);
		}
		free(host);
	}
}

static void test_path_decode(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} cases[] = {
	    {"/plain", 0, "/plain"},
	    {"/a%20b", 0, "/a b"},
	    {"/%2Fx%2f", 0, "//x/"},
	    {"/a+b", 0, "/a+b"},
	    {"/%41%42%43", 0, "/ABC"},
	    {"/%", -EINVAL, NULL},
	    {"/%4", -EINVAL, NULL},
	    {"/%zz", -EINVAL, NULL},
	    {"/%g1", -EINVAL, NULL},
	    {"/%00", -EINVAL, NULL},
	    {"", 0, ""},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *out = NULL;
		int rc =
		    http_path_decode(cases[i].in, strlen(cases[i].in), &out);
		assert_int_equal(rc, cases[i].rc);
		if (!rc)
			assert_string_equal(out, cases[i].out);
		free(out);
	}
}

static void test_query_and_headers(void **state)
{
	struct http_header hs[] = {{(char *)"Content-Type", (char *)"a/b"},
	                           {(char *)"X-Empty", (char *)""}};
	struct http_request req;
	char *v;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.query = (char *)"a=1&b=hello+w%6Frld&c&d=%zz&a=2&e=%00";
	req.headers = hs;
	req.nheaders = 2;
	v = http_request_query(&req, "a");
	assert_string_equal(v, "1");
	free(v);
	v = http_request_query(&req, "b");
	assert_string_equal(v, "hello world");
	free(v);
	v = http_request_query(&req, "c");
	assert_string_equal(v, "");
	free(v);
	v = http_request_query(&req, "d");
	assert_string_equal(v, "%zz");
	free(v);
	v = http_request_query(&req, "e");
	assert_string_equal(v, "%00");
	free(v);
	assert_null(http_request_query(&req, "zz"));
	assert_string_equal(http_request_header(&req, "content-type"), "a/b");
	assert_string_equal(http_request_header(&req, "x-empty"), "");
	assert_null(http_request_header(&req, "missing"));
	assert_string_equal(http_status_text(404), "Not Found");
	assert_string_equal(http_status_text(431),
	                    "Request Header Fields Too Large");
}

/* The fuzz entry point answers like the real server. */
static void test_fuzz_entry(void **state)
{
	static const char in[] = "GET /f?q=1 HTTP/1.1\r\nA: b\r\nEmpty:\r\n\r\n"
				 "POST /stream HTTP/1.1\r\nContent-Length: 2"
				 "\r\n\r\nhiGET /never HTTP/1.1\r\n\r\n";
	struct buf whole = BUF_INIT, bytes = BUF_INIT;

	(void)state;
	http_fuzz_server_input(in, sizeof(in) - 1, 0, &whole);
	http_fuzz_server_input(in, sizeof(in) - 1, 1, &bytes);
	assert_string_equal(whole.data, bytes.data);
	assert_non_null(strstr(whole.data, "GET /f\nA=b\nEmpty=\nq=1\n"));
	assert_non_null(strstr(whole.data, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(whole.data, "4\r\n2\n{}\r\n2\r\nhi\r\n"
	                                   "3\r\n1\n1\r\n0\r\n\r\n"));
	assert_null(strstr(whole.data, "never"));
	buf_release(&whole);
	buf_release(&bytes);
}

/* Trailers are dropped, not turned into headers. */
static void test_trailers_dropped(void **state)
{
	static const char tr[] = "POST /t HTTP/1.1\r\nTransfer-Encoding:"
				 " chunked\r\n\r\n1\r\nz\r\n0\r\n"
				 "X-Trailer: t\r\n\r\n";
	struct buf out = BUF_INIT;

	(void)state;
	http_fuzz_server_input(tr, sizeof(tr) - 1, 3, &out);
	assert_non_null(strstr(out.data, "POST /t\nTransfer-Encoding="
	                                 "chunked\nz"));
	assert_null(strstr(out.data, "X-Trailer"));
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalive_two_requests),
	    cmocka_unit_test(test_pipelining_in_order),
	    cmocka_unit_test(test_pipelining_split_bytes),
	    cmocka_unit_test(test_chunked_request_body),
	    cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_http10_closes),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_413_large_body_survives),
	    cmocka_unit_test(test_431_huge_headers),
	    cmocka_unit_test(test_idle_and_header_timeouts),
	    cmocka_unit_test(test_client_keepalive_in_order),
	    cmocka_unit_test(test_client_connection_refused),
	    cmocka_unit_test(test_client_timeout),
	    cmocka_unit_test(test_client_names_and_ipv6),
	    cmocka_unit_test(test_deferred_response_keeps_order),
	    cmocka_unit_test(test_client_free_stops_callbacks),
	    cmocka_unit_test(test_many_silent_connections),
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_client_retries_closed_keepalive),
	    cmocka_unit_test(test_client_read_until_close_and_errors),
	    cmocka_unit_test(test_client_huge_response_headers),
	    cmocka_unit_test(test_client_timeout_silent_server),
	    cmocka_unit_test(test_stream_chunks_in_order),
	    cmocka_unit_test(test_stream_close_when_client_leaves),
	    cmocka_unit_test(test_stream_close_callback_once),
	    cmocka_unit_test(test_stream_enobufs),
	    cmocka_unit_test(test_sub_non_200_and_refused),
	    cmocka_unit_test(test_sub_silence_timeout),
	    cmocka_unit_test(test_parse_hostport),
	    cmocka_unit_test(test_path_decode),
	    cmocka_unit_test(test_query_and_headers),
	    cmocka_unit_test(test_fuzz_entry),
	    cmocka_unit_test(test_trailers_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
