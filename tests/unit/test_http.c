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
#include <inttypes.h>
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
	/* streamed request bodies (the "/up" route) */
	int up_mode; /* enum up_mode */
	int up_started, up_ended, up_aborted, up_abort_err;
	int up_live; /* handler states allocated and not yet freed */
	int up_pauses;
	bool up_paused;
	struct http_request *up_req; /* while its body is being received */
	uint64_t up_len;             /* bytes received by the current body */
	uint32_t up_sum;             /* its rolling checksum, at on_end */
	size_t up_pieces, up_max_piece;
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

/* --port-file: the bound port, atomically; a bad path is a clear error. */
static void test_write_port_file(void **state)
{
	char dir[] = "/tmp/atoll-portfile-XXXXXX";
	char path[128], bad[160], text[32] = {0};
	struct err er = {{0}};
	struct env e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	env_start(&e, NULL);
	snprintf(path, sizeof(path), "%s/port", dir);
	assert_int_equal(http_server_write_port_file(e.srv, path, &er), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_int_equal(strtol(text, NULL, 10), e.port);
	snprintf(bad, sizeof(bad), "%s/no-such-dir/port", dir);
	assert_int_equal(http_server_write_port_file(e.srv, bad, &er), -ENOENT);
	assert_non_null(strstr(er.msg, "no-such-dir/port.tmp"));
	env_stop(&e);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

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

/* ---- streamed request bodies ------------------------------------------- */

enum up_mode {
	UP_CONSUME,      /* take every piece */
	UP_PAUSE,        /* pause at the first and every 16th piece */
	UP_REJECT_FIRST, /* 403 at the first piece */
};

/* The most input a streamed connection may hold: one read. */
#define READ_BUF_BYTES (64 * 1024)

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#define FNV_INIT 2166136261u

/* Body byte i of generated uploads: position-dependent. */
static uint8_t body_byte(uint64_t i)
{
	return (uint8_t)(((uint32_t)i * 2654435761u) >> 24) ^
	       (uint8_t)(i >> 16);
}

struct upload {
	struct env *e;
	uint64_t len;
	uint32_t sum;
};

static void upload_free(struct upload *u)
{
	u->e->up_live--;
	u->e->up_req = NULL;
	free(u);
}

static void up_body(struct http_request *req, const char *data, size_t len,
                    void *arg)
{
	struct upload *u = arg;
	struct env *e = u->e;

	assert_true(len > 0);
	e->up_pieces++;
	e->up_max_piece = MAX(e->up_max_piece, len);
	u->sum = fnv1a(u->sum, data, len);
	u->len += len;
	e->up_len = u->len;
	e->up_req = req;
	if (e->up_mode == UP_REJECT_FIRST) {
		upload_free(u);
		http_respond_error(req, 403, "not after %zu bytes", len);
		return;
	}
	if (e->up_mode == UP_PAUSE &&
	    (e->up_pieces == 1 || e->up_pieces % 16 == 0)) {
		http_request_pause(req);
		e->up_paused = true;
		e->up_pauses++;
	}
}

static void up_end(struct http_request *req, void *arg)
{
	struct upload *u = arg;
	struct env *e = u->e;
	struct buf b = BUF_INIT;

	e->up_ended++;
	e->up_len = u->len;
	e->up_sum = u->sum;
	upload_free(u);
	if (strstr(req->path, "defer")) {
		http_request_defer(req);
		e->deferred = req;
		return;
	}
	buf_addf(&b, "%s len=%" PRIu64 " sum=%08" PRIx32, req->path, e->up_len,
	         e->up_sum);
	http_respond_buf(req, 200, "text/plain", &b);
}

static void up_abort(struct http_request *req, int err, void *arg)
{
	struct upload *u = arg;

	(void)req;
	u->e->up_aborted++;
	u->e->up_abort_err = err;
	upload_free(u);
}

static void up_start(struct http_request *req, void *arg)
{
	static const struct http_body_ops ops = {
	    .on_body = up_body,
	    .on_end = up_end,
	    .on_abort = up_abort,
	};
	struct env *e = arg;
	struct upload *u;

	e->up_started++;
	assert_string_equal(req->body, "");
	if (streq(req->path, "/up/deny")) {
		http_respond_error(req, 403, "uploads denied");
		return;
	}
	if (streq(req->path, "/up/missing")) {
		http_respond_error(req, 404, "no such upload");
		return;
	}
	if (streq(req->path, "/up/none"))
		return; /* a bug: neither accepted nor answered */
	u = xcalloc(1, sizeof(*u));
	u->e = e;
	u->sum = FNV_INIT;
	e->up_live++;
	e->up_len = 0;
	e->up_req = req;
	http_request_accept_body(req, &ops, u);
}

/* A server whose "/up" paths stream, with 1 MiB of buffered body. */
static void env_start_up(struct env *e, struct http_server_opts *o)
{
	struct http_server_opts def = {0};

	if (!o)
		o = &def;
	if (!o->max_body_bytes)
		o->max_body_bytes = 1024 * 1024;
	env_start(e, o);
	assert_int_equal(
	    http_server_set_stream_route(e->srv, "/up", up_start, e), 0);
}

/* A client uploading a generated body without blocking the loop. */
struct sender {
	int fd;
	uint64_t total;     /* body bytes */
	uint64_t generated; /* body bytes framed into pending so far */
	uint64_t body_sent; /* body bytes the kernel took */
	size_t chunk;       /* 0: Content-Length, else chunk size */
	struct buf pending; /* framed bytes, sent from pos */
	size_t pos;
	size_t pending_body; /* body bytes in pending[pos..] */
	uint32_t sum;        /* checksum of the generated body */
	bool trailer;        /* the end ("0\r\n\r\n") is framed */
	bool done;
	bool failed; /* the server closed on us */
};

static void sender_start(struct sender *s, int fd, const char *path,
                         uint64_t total, size_t chunk, const char *extra)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->total = total;
	s->chunk = chunk;
	s->sum = FNV_INIT;
	buf_addf(&s->pending, "POST %s HTTP/1.1\r\nHost: t\r\n%s", path,
	         extra ? extra : "");
	if (chunk)
		buf_adds(&s->pending, "Transfer-Encoding: chunked\r\n\r\n");
	else
		buf_addf(&s->pending, "Content-Length: %" PRIu64 "\r\n\r\n",
		         total);
}

/* Frames the next piece of body into pending (which is all sent). */
static void sender_refill(struct sender *s)
{
	size_t n = (size_t)MIN(s->total - s->generated,
	                       (uint64_t)(s->chunk ? s->chunk : 256 * 1024));
	char *d;

	buf_reset(&s->pending);
	s->pos = 0;
	if (!n) {
		if (s->chunk)
			buf_adds(&s->pending, "0\r\n\r\n");
		s->trailer = true;
		return;
	}
	if (s->chunk)
		buf_addf(&s->pending, "%zx\r\n", n);
	buf_grow(&s->pending, n + 2);
	d = s->pending.data + s->pending.len;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)body_byte(s->generated + i);
	s->sum = fnv1a(s->sum, d, n);
	s->pending.len += n;
	s->pending.data[s->pending.len] = '\0';
	if (s->chunk)
		buf_adds(&s->pending, "\r\n");
	s->generated += n;
	s->pending_body = n;
}

/* Sends until the socket is full, the body is out, or the peer left. */
static void sender_pump(struct sender *s)
{
	while (!s->done && !s->failed) {
		ssize_t n;

		if (s->pos == s->pending.len) {
			s->body_sent += s->pending_body;
			s->pending_body = 0;
			if (s->trailer) {
				s->done = true;
				break;
			}
			sender_refill(s);
			continue;
		}
		n = send(s->fd, s->pending.data + s->pos,
		         s->pending.len - s->pos, MSG_NOSIGNAL);
		if (n > 0)
			s->pos += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			break;
		else
			s->failed = true;
	}
}

struct xfer {
	struct sender *snd;
	struct buf *out;
	bool stop_on_pause;
	bool never; /* pump only, never stop */
	bool eof;
};

/* Pumps the sender and collects the reply. */
static bool pred_xfer(struct env *e, void *arg)
{
	struct xfer *x = arg;
	struct raw_read rr = {x->snd->fd, x->out, 1, false};

	sender_pump(x->snd);
	if (pred_raw(e, &rr) && rr.eof)
		x->eof = true;
	if (x->never)
		return false;
	if (x->stop_on_pause && e->up_paused)
		return true;
	return x->eof || count_responses(x->out) >= 1;
}

static void test_stream_body_64m(void **state)
{
	static const struct {
		size_t chunk; /* 0: Content-Length */
		const char *path;
	} cases[] = {
	    {1000003, "/up/chunked"},
	    {0, "/up/length"},
	};
	const uint64_t total = 64ull * 1024 * 1024;
	struct env e;

	(void)state;
	env_start_up(&e, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf out = BUF_INIT;
		struct sender snd;
		struct xfer x = {&snd, &out, false, false, false};
		char want[128];
		int fd = raw_connect(e.port);

		e.up_pieces = e.up_max_piece = 0;
		sender_start(&snd, fd, cases[i].path, total, cases[i].chunk,
		             NULL);
		assert_true(run_until(&e, pred_xfer, &x, 120000));
		assert_true(snd.done);
		assert_memory_equal(out.data, "HTTP/1.1 200 OK\r\n", 17);
		snprintf(want, sizeof(want),
		         "%s len=%" PRIu64 " sum=%08" PRIx32, cases[i].path,
		         total, snd.sum);
		if (!strstr(out.data, want))
			fail_msg("case %zu: want '%s', got '%s'", i, want,
			         out.data);
		assert_int_equal(e.up_ended, (int)i + 1);
		assert_int_equal(e.up_aborted, 0);
		assert_int_equal(e.up_live, 0);
		assert_true(e.up_pieces > 1);
		assert_true(e.up_max_piece <= READ_BUF_BYTES);
		/* Never buffered: the server held at most one read. */
		assert_true(http_server_peak_input(e.srv) <= READ_BUF_BYTES);
		/* The connection stays usable. */
		buf_reset(&out);
		raw_sends(&e, fd, "GET /next HTTP/1.1\r\n\r\n");
		assert_false(raw_read(&e, fd, &out, 1, 3000));
		assert_non_null(strstr(out.data, "GET /next body="));
		close(fd);
		buf_release(&out);
		buf_release(&snd.pending);
	}
	assert_int_equal(e.nreq, 2); /* only the two GETs were buffered */
	env_stop(&e);
}

static bool pred_paused(struct env *e, void *arg)
{
	(void)arg;
	return e->up_paused;
}

static void test_stream_body_pause_resume(void **state)
{
	const uint64_t total = 32ull * 1024 * 1024;
	struct env e;
	struct buf out = BUF_INIT;
	struct sender snd;
	struct xfer x = {&snd, &out, true, false, false};
	struct xfer pump = {&snd, &out, false, true, false};
	uint64_t len0, sent0;
	char want[128];
	int fd;

	(void)state;
	env_start_up(&e, NULL);
	e.up_mode = UP_PAUSE;
	fd = raw_connect(e.port);
	/* Chunks smaller than a read: a pause leaves input unparsed. */
	sender_start(&snd, fd, "/up/paused", total, 10007, NULL);
	assert_true(run_until(&e, pred_xfer, &x, 5000));
	assert_true(e.up_paused);
	len0 = e.up_len;
	assert_true(len0 > 0 && len0 < total);
	/* While paused nothing is delivered and the sender is held back
	 * by TCP flow control: it cannot finish. */
	run_until(&e, pred_xfer, &pump, 300);
	sent0 = snd.body_sent;
	run_until(&e, pred_xfer, &pump, 100);
	assert_int_equal(e.up_len, len0);
	assert_false(snd.done);
	assert_true(snd.body_sent < total);
	assert_true(snd.body_sent - sent0 < total / 4);
	assert_true(http_server_peak_input(e.srv) <= READ_BUF_BYTES);
	/* Resuming never delivers inside the call. */
	e.up_paused = false;
	http_request_resume(e.up_req);
	assert_int_equal(e.up_len, len0);
	/* Go on, resuming from outside every time the handler pauses. */
	while (count_responses(&out) < 1 && !x.eof) {
		assert_true(run_until(&e, pred_xfer, &x, 20000));
		if (e.up_paused) {
			e.up_paused = false;
			http_request_resume(e.up_req);
		}
	}
	assert_true(snd.done);
	snprintf(want, sizeof(want),
	         "/up/paused len=%" PRIu64 " sum=%08" PRIx32, total, snd.sum);
	assert_non_null(strstr(out.data, want));
	assert_true(e.up_pauses > 2);
	assert_int_equal(e.up_ended, 1);
	assert_int_equal(e.up_live, 0);
	assert_true(http_server_peak_input(e.srv) <= READ_BUF_BYTES);
	close(fd);
	/* Paused on the last piece with nothing more to read: resuming
	 * still ends the message. */
	buf_reset(&out);
	e.up_pieces = 0;
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /up/tail HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
	assert_true(run_until(&e, pred_paused, NULL, 3000));
	run_for(&e, 50);
	assert_int_equal(e.up_ended, 1);
	e.up_paused = false;
	http_request_resume(e.up_req);
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "/up/tail len=5 sum="));
	assert_int_equal(e.up_ended, 2);
	close(fd);
	buf_release(&out);
	buf_release(&snd.pending);
	env_stop(&e);
}

static void test_stream_body_early_reject(void **state)
{
	const uint64_t total = 64ull * 1024 * 1024;
	struct env e;
	struct buf out = BUF_INIT;
	struct sender snd;
	struct xfer x = {&snd, &out, false, false, false};
	int fd;

	(void)state;
	env_start_up(&e, NULL);
	/* 1: 403 from on_body at the first piece, mid-upload. */
	e.up_mode = UP_REJECT_FIRST;
	fd = raw_connect(e.port);
	sender_start(&snd, fd, "/up/big", total, 0, NULL);
	assert_true(run_until(&e, pred_xfer, &x, 10000));
	assert_true(raw_read(&e, fd, &out, 0, 5000));
	assert_memory_equal(out.data, "HTTP/1.1 403 Forbidden\r\n", 24);
	assert_non_null(strstr(out.data, "Connection: close\r\n"));
	assert_non_null(strstr(out.data, "not after "));
	assert_int_equal(count_responses(&out), 1);
	assert_false(snd.done);
	assert_true(snd.body_sent < total);
	assert_int_equal(e.up_pieces, 1);
	assert_int_equal(e.up_ended + e.up_aborted, 0);
	assert_int_equal(e.up_live, 0);
	close(fd);
	wait_conns(&e, 0);
	/* 2: start rejects; a client waiting for 100-continue is told at
	 * once and gets no 100. */
	buf_reset(&out);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "PUT /up/deny HTTP/1.1\r\nExpect: 100-continue\r\n"
	          "Content-Length: 1000000\r\n\r\n");
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 403 Forbidden\r\n", 24);
	assert_null(strstr(out.data, "100 Continue"));
	assert_non_null(strstr(out.data, "uploads denied"));
	close(fd);
	/* 3: start that neither accepts nor answers gets a 500. */
	buf_reset(&out);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /up/none HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 500 ", 13);
	close(fd);
	/* The server is healthy: the next connections are served. */
	e.up_mode = UP_CONSUME;
	buf_reset(&out);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "GET /ok HTTP/1.1\r\n\r\n"
	          "POST /up/fine HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_non_null(strstr(out.data, "GET /ok body="));
	assert_non_null(strstr(out.data, "/up/fine len=3 sum="));
	close(fd);
	wait_conns(&e, 0);
	assert_int_equal(e.up_live, 0);
	assert_int_equal(e.up_aborted, 0);
	buf_release(&out);
	buf_release(&snd.pending);
	env_stop(&e);
}

static bool pred_up_len(struct env *e, void *arg)
{
	return e->up_len >= *(uint64_t *)arg;
}

static bool pred_aborted(struct env *e, void *arg)
{
	(void)arg;
	return e->up_aborted > 0;
}

/* Every way an accepted body can fail ends in exactly one on_abort. */
static void test_stream_body_aborts(void **state)
{
	enum how {
		CLIENT_CLOSES,
		IDLE_TIMEOUT,
		PAUSED_TOO_LONG,
		CHUNKED_TOO_BIG,
		BAD_CHUNK,
		SERVER_CLOSES,
	};
	static const struct {
		enum how how;
		int err;
		int status; /* what the client reads, 0: nothing */
	} cases[] = {
	    {CLIENT_CLOSES, -ECONNRESET, 0},  {IDLE_TIMEOUT, -ETIMEDOUT, 0},
	    {PAUSED_TOO_LONG, -ETIMEDOUT, 0}, {CHUNKED_TOO_BIG, -EMSGSIZE, 413},
	    {BAD_CHUNK, -EPROTO, 400},        {SERVER_CLOSES, -ECANCELED, 0},
	};
	struct http_server_opts o = {.idle_timeout_ms = 200,
	                             .max_stream_body_bytes = 4 << 20};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct env e;
		struct buf out = BUF_INIT;
		struct sender snd;
		uint64_t some = 1 << 20;
		char want[32];
		int fd;

		env_start_up(&e, &o);
		e.up_mode =
		    cases[i].how == PAUSED_TOO_LONG ? UP_PAUSE : UP_CONSUME;
		fd = raw_connect(e.port);
		/* 3 MiB of a 4 MiB body (chunked: of an endless one). */
		sender_start(&snd, fd, "/up/x", 4 << 20,
		             cases[i].how == CHUNKED_TOO_BIG ? 65536 : 0, NULL);
		snd.total = 3 << 20;
		if (cases[i].how == CHUNKED_TOO_BIG)
			snd.total = 64 << 20;
		if (cases[i].how == BAD_CHUNK) {
			buf_reset(&snd.pending);
			buf_adds(&snd.pending,
			         "POST /up/x HTTP/1.1\r\n"
			         "Transfer-Encoding: chunked\r\n\r\n"
			         "4\r\nabcd\r\nzz\r\n");
			snd.total = 0;
			snd.trailer = true;
			some = 4;
		}
		if (cases[i].how == PAUSED_TOO_LONG)
			some = 1;
		{
			struct xfer x = {&snd, &out, false, true, false};
			uint64_t end = timeutil_mono_ms() + 10000;
			while (!pred_up_len(&e, &some) && !e.up_aborted) {
				if (timeutil_mono_ms() > end)
					fail_msg("case %zu: stuck", i);
				run_until(&e, pred_xfer, &x, 5);
			}
		}
		if (cases[i].how == CLIENT_CLOSES) {
			close(fd);
			fd = -1;
		} else if (cases[i].how == SERVER_CLOSES) {
			http_server_close(e.srv);
			e.srv = NULL;
		} else if (cases[i].how == CHUNKED_TOO_BIG) {
			struct xfer x = {&snd, &out, false, false, false};
			assert_true(run_until(&e, pred_xfer, &x, 10000));
		}
		/* IDLE_TIMEOUT, PAUSED_TOO_LONG: the client sends no more. */
		assert_true(run_until(&e, pred_aborted, NULL, 5000));
		if (fd >= 0) {
			assert_true(raw_read(&e, fd, &out, 0, 5000));
			if (cases[i].status) {
				snprintf(want, sizeof(want), "HTTP/1.1 %d ",
				         cases[i].status);
				if (strncmp(out.data, want, strlen(want)))
					fail_msg("case %zu: got '%s'", i,
					         out.data);
			} else if (out.len) {
				fail_msg("case %zu: got '%s'", i, out.data);
			}
			close(fd);
		}
		if (e.srv)
			wait_conns(&e, 0);
		run_for(&e, 20);
		if (e.up_aborted != 1 || e.up_abort_err != cases[i].err)
			fail_msg("case %zu: %d aborts, err %d", i, e.up_aborted,
			         e.up_abort_err);
		assert_int_equal(e.up_ended, 0);
		assert_int_equal(e.up_live, 0);
		assert_true(e.srv == NULL ||
		            http_server_peak_input(e.srv) <= READ_BUF_BYTES);
		buf_release(&out);
		buf_release(&snd.pending);
		env_stop(&e);
	}
}

static bool pred_deferred(struct env *e, void *arg)
{
	(void)arg;
	return e->deferred != NULL;
}

/* Requests pipelined behind streamed ones are answered in order. */
static void test_stream_body_pipelined(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	const char *a, *b, *c, *d;
	char want[64];
	int fd;

	(void)state;
	env_start_up(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /up/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	          "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n"
	          "GET /after HTTP/1.1\r\n\r\n"
	          "POST /up/defer HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	          "GET /last HTTP/1.1\r\n\r\n");
	assert_true(run_until(&e, pred_deferred, NULL, 3000));
	run_for(&e, 30);
	/* Nothing behind the deferred request is parsed meanwhile. */
	assert_int_equal(e.nreq, 1);
	http_respond(e.deferred, 202, "text/plain", "deferred", 8);
	e.deferred = NULL;
	assert_false(raw_read(&e, fd, &out, 4, 3000));
	snprintf(want, sizeof(want), "/up/a len=7 sum=%08" PRIx32,
	         fnv1a(FNV_INIT, "abcdefg", 7));
	a = strstr(out.data, want);
	b = strstr(out.data, "GET /after body=");
	c = strstr(out.data, "HTTP/1.1 202 Accepted");
	d = strstr(out.data, "GET /last body=");
	assert_true(a && b && c && d && a < b && b < c && c < d);
	assert_null(strstr(out.data, "Connection: close"));
	assert_int_equal(e.up_ended, 2);
	assert_int_equal(e.up_len, 5);
	assert_int_equal(e.up_sum, fnv1a(FNV_INIT, "hello", 5));
	assert_int_equal(e.nreq, 2);
	assert_int_equal(http_server_connections(e.srv), 1);
	close(fd);
	wait_conns(&e, 0);
	buf_release(&out);
	env_stop(&e);
}

/* Other paths on the same server keep buffering, with their 413. */
static void test_stream_route_others_buffered(void **state)
{
	enum { BODY = 512 * 1024 };
	struct env e;
	struct buf out = BUF_INIT, req = BUF_INIT;
	int fd;

	(void)state;
	env_start_up(&e, NULL);
	/* Over max_body_bytes (1 MiB) on a buffered path: 413. */
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "POST /other HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 413 ", 13);
	close(fd);
	assert_int_equal(e.up_started, 0);
	/* "/upload" is not under "/up": buffered whole. */
	buf_reset(&out);
	buf_addf(&req, "POST /upload HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
	         BODY);
	for (int i = 0; i < BODY; i++)
		buf_addc(&req, (char)('a' + i % 26));
	fd = raw_connect(e.port);
	raw_send(&e, fd, req.data, req.len);
	assert_false(raw_read(&e, fd, &out, 1, 5000));
	assert_non_null(strstr(out.data, "POST /upload body=abcdef"));
	assert_true(out.len > BODY);
	assert_int_equal(e.nreq, 1);
	assert_int_equal(e.up_started, 0);
	assert_true(http_server_peak_input(e.srv) >= BODY);
	/* A bodiless request answered by start keeps its connection. */
	buf_reset(&out);
	raw_sends(&e, fd,
	          "GET /up/missing HTTP/1.1\r\n\r\nGET /fine HTTP/1.1\r\n\r\n");
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 404 ", 13);
	assert_null(strstr(out.data, "Connection: close"));
	assert_non_null(strstr(out.data, "GET /fine body="));
	/* Expect: 100-continue is answered once start accepted. */
	buf_reset(&out);
	raw_sends(&e, fd,
	          "PUT /up/e HTTP/1.1\r\nExpect: 100-continue\r\n"
	          "Content-Length: 2\r\n\r\n");
	run_for(&e, 30);
	raw_sends(&e, fd, "ok");
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_memory_equal(out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_non_null(strstr(out.data, "/up/e len=2 sum="));
	/* A Content-Length over max_stream_body_bytes never reaches start. */
	close(fd);
	{
		struct http_server_opts o = {.max_stream_body_bytes = 1000};
		struct env e2;
		int started;

		env_start_up(&e2, &o);
		buf_reset(&out);
		fd = raw_connect(e2.port);
		raw_sends(
		    &e2, fd,
		    "POST /up/x HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");
		assert_true(raw_read(&e2, fd, &out, 0, 3000));
		assert_memory_equal(out.data, "HTTP/1.1 413 ", 13);
		started = e2.up_started;
		close(fd);
		env_stop(&e2);
		assert_int_equal(started, 0);
	}
	buf_release(&req);
	buf_release(&out);
	env_stop(&e);
}

static void long_start(struct http_request *req, void *arg)
{
	(void)arg;
	http_respond_error(req, 404, "the long route");
}

static void test_stream_route_table(void **state)
{
	static const struct {
		const char *path, *prefix;
		bool match;
	} cases[] = {
	    {"/up", "/up", true},     {"/up/", "/up", true},
	    {"/up/a/b", "/up", true}, {"/upload", "/up", false},
	    {"/u", "/up", false},     {"/", "/up", false},
	    {"/anything", "/", true}, {"/", "/", true},
	    {"*", "/", false},        {"/up/a", "/up/", true},
	    {"/up", "/up/", false},   {"/UP", "/up", false},
	};
	struct env e;
	struct buf out = BUF_INIT;
	int fd;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (http_path_has_prefix(cases[i].path, cases[i].prefix) !=
		    cases[i].match)
			fail_msg("'%s' under '%s': want %d", cases[i].path,
			         cases[i].prefix, cases[i].match);
	env_start_up(&e, NULL);
	assert_int_equal(
	    http_server_set_stream_route(e.srv, "up", up_start, &e), -EINVAL);
	assert_int_equal(http_server_set_stream_route(e.srv, "", up_start, &e),
	                 -EINVAL);
	/* The longest prefix wins. */
	assert_int_equal(
	    http_server_set_stream_route(e.srv, "/up/long", long_start, &e), 0);
	fd = raw_connect(e.port);
	raw_sends(&e, fd,
	          "GET /up/long/x HTTP/1.1\r\n\r\n"
	          "POST /up/%61 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	assert_false(raw_read(&e, fd, &out, 2, 3000));
	assert_non_null(strstr(out.data, "HTTP/1.1 404 "));
	assert_non_null(strstr(out.data, "the long route"));
	assert_non_null(strstr(out.data, "/up/a len=2"));
	assert_int_equal(e.up_started, 1);
	/* Removed: "/up" takes it again. */
	assert_int_equal(
	    http_server_set_stream_route(e.srv, "/up/long", NULL, NULL), 0);
	buf_reset(&out);
	raw_sends(&e, fd, "GET /up/long/x HTTP/1.1\r\n\r\n");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "/up/long/x len=0"));
	assert_int_equal(e.up_started, 2);
	assert_int_equal(http_server_set_stream_route(e.srv, "/up", NULL, NULL),
	                 0);
	buf_reset(&out);
	raw_sends(&e, fd, "POST /up/z HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	assert_false(raw_read(&e, fd, &out, 1, 3000));
	assert_non_null(strstr(out.data, "POST /up/z body=hi"));
	assert_int_equal(e.up_started, 2);
	close(fd);
	buf_release(&out);
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

/* The fuzz entry's stream route: the same output however input is cut. */
static void test_fuzz_entry_streamed(void **state)
{
	static const char in[] =
	    "POST /up/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nT: x\r\n\r\n"
	    "PUT /up/b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
	    "GET /up HTTP/1.1\r\n\r\n"
	    "GET /up/deny HTTP/1.1\r\n\r\n"
	    "GET /plain HTTP/1.1\r\n\r\n"
	    "POST /up/late HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"
	    "GET /never HTTP/1.1\r\n\r\n";
	static const char none[] = "POST /up/none HTTP/1.1\r\n"
				   "Content-Length: 1\r\n\r\nz";
	static const char big[] = "POST /up/big HTTP/1.1\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "20001\r\n";
	struct buf whole = BUF_INIT, bytes = BUF_INIT, cut = BUF_INIT;
	char want[96];

	(void)state;
	http_fuzz_server_input(in, sizeof(in) - 1, 0, &whole);
	http_fuzz_server_input(in, sizeof(in) - 1, 1, &bytes);
	http_fuzz_server_input(in, sizeof(in) - 1, 7, &cut);
	assert_string_equal(whole.data, bytes.data);
	assert_string_equal(whole.data, cut.data);
	snprintf(want, sizeof(want), "POST /up/a len=12 fnv=%08" PRIx32,
	         fnv1a(FNV_INIT, "hello, world", 12));
	assert_non_null(strstr(whole.data, want));
	snprintf(want, sizeof(want), "PUT /up/b len=3 fnv=%08" PRIx32,
	         fnv1a(FNV_INIT, "xyz", 3));
	assert_non_null(strstr(whole.data, want));
	snprintf(want, sizeof(want), "GET /up len=0 fnv=%08" PRIx32, FNV_INIT);
	assert_non_null(strstr(whole.data, want));
	assert_non_null(strstr(whole.data, "uploads denied"));
	assert_non_null(strstr(whole.data, "GET /plain\n"));
	assert_non_null(strstr(whole.data, "rejected at the first piece"));
	assert_null(strstr(whole.data, "never"));
	buf_reset(&whole);
	http_fuzz_server_input(none, sizeof(none) - 1, 0, &whole);
	assert_memory_equal(whole.data, "HTTP/1.1 500 ", 13);
	/* One chunk one byte over the streamed limit (128 KiB): 413. */
	buf_reset(&bytes);
	buf_add(&bytes, big, sizeof(big) - 1);
	for (int i = 0; i < 0x20001; i++)
		buf_addc(&bytes, 'q');
	buf_reset(&whole);
	http_fuzz_server_input(bytes.data, bytes.len, 0, &whole);
	assert_memory_equal(whole.data, "HTTP/1.1 413 ", 13);
	buf_reset(&whole);
	http_fuzz_server_input(bytes.data, bytes.len - 1, 0, &whole);
	assert_int_equal(whole.len, 0); /* at the limit: still going */
	buf_release(&whole);
	buf_release(&bytes);
	buf_release(&cut);
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

/* ---- output coalescing ------------------------------------------------ */

/*
 * A handler for the coalescing tests: "/emit?n=N" writes N numbered events
 * to the open stream (another connection) before answering; "/s" starts a
 * stream and writes three chunks into it at once; anything else is echoed.
 */
static void coalesce_handler(struct http_request *req, void *arg)
{
	struct env *e = arg;
	char ev[32];

	e->nreq++;
	if (streq(req->path, "/s")) {
		e->stream =
		    http_stream_begin(req, 200, "text/plain", stream_closed, e);
		assert_int_equal(http_stream_write(e->stream, "one,", 4), 0);
		assert_int_equal(http_stream_write(e->stream, "two,", 4), 0);
		assert_int_equal(http_stream_write(e->stream, "three", 5), 0);
		return;
	}
	if (streq(req->path, "/emit")) {
		char *v = http_request_query(req, "n");
		int n = v ? (int)strtol(v, NULL, 10) : 0;
		free(v);
		for (int i = 0; i < n; i++) {
			int len = snprintf(ev, sizeof(ev), "[%d]", i);
			assert_int_equal(
			    http_stream_write(e->stream, ev, (size_t)len), 0);
		}
	}
	handler(req, arg);
}

static void env_start_coalesce(struct env *e, const struct http_server_opts *o)
{
	struct err er;

	memset(e, 0, sizeof(*e));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	e->srv = http_server_new(&e->loop, o, coalesce_handler, e);
	assert_int_equal(http_server_listen(e->srv, &er), 0);
	e->port = http_server_port(e->srv);
}

/* Removes chunked framing from raw (headers included); -1 if malformed. */
static int dechunk(const struct buf *raw, struct buf *body)
{
	const char *p = strstr(raw->data, "\r\n\r\n");
	const char *end = raw->data + raw->len;

	if (!p)
		return -1;
	for (p += 4; p < end;) {
		char *q;
		unsigned long n = strtoul(p, &q, 16);
		if (q == p || end - q < 2 || memcmp(q, "\r\n", 2))
			return -1;
		q += 2;
		if (n == 0)
			return 0;
		if ((size_t)(end - q) < n + 2)
			return -1;
		buf_add(body, q, n);
		p = q + n + 2;
	}
	return -1; /* no terminating chunk */
}

/*
 * Fifty pipelined requests arrive in one read: their responses leave in
 * order, keep-alive until the one that asked to close, in one write.
 */
static void test_coalesce_pipelined_responses(void **state)
{
	struct env e;
	struct buf req = BUF_INIT, out = BUF_INIT;
	const char *prev, *at;
	uint64_t writes0;
	int fd;

	(void)state;
	env_start(&e, NULL);
	for (int i = 0; i < 49; i++)
		buf_addf(&req, "GET /r%d HTTP/1.1\r\n\r\n", i);
	buf_addf(&req, "GET /r49 HTTP/1.1\r\nConnection: close\r\n\r\n");
	fd = raw_connect(e.port);
	wait_conns(&e, 1);
	writes0 = http_server_socket_writes(e.srv);
	raw_send(&e, fd, req.data, req.len);
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	assert_int_equal(count_responses(&out), 50);
	assert_int_equal(e.nreq, 50);
	prev = out.data;
	for (int i = 0; i < 50; i++) {
		char want[32];
		snprintf(want, sizeof(want), "GET /r%d body=", i);
		at = strstr(out.data, want);
		assert_non_null(at);
		assert_true(at >= prev);
		prev = at;
	}
	/* Only the last response closes. */
	at = strstr(out.data, "Connection: close\r\n");
	assert_non_null(at);
	assert_true(at > strstr(out.data, "GET /r48 body="));
	assert_null(strstr(at + 1, "Connection: close\r\n"));
	/* One read, one pass: far fewer writes than responses. */
	assert_true(http_server_socket_writes(e.srv) - writes0 <= 3);
	close(fd);
	buf_release(&req);
	buf_release(&out);
	env_stop(&e);
}

/*
 * A stream's header follows the responses pipelined before it, and its
 * first chunks follow the header, on one connection in one write; events
 * written to it from another connection's handler keep their order.
 */
static void test_coalesce_stream_after_responses(void **state)
{
	struct env e;
	struct buf out = BUF_INIT, body = BUF_INIT, want = BUF_INIT;
	const char *a, *b, *h;
	uint64_t writes0;
	int fd, fd2;

	(void)state;
	env_start_coalesce(&e, NULL);
	fd = raw_connect(e.port);
	wait_conns(&e, 1);
	writes0 = http_server_socket_writes(e.srv);
	raw_sends(&e, fd,
	          "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
	          "GET /s HTTP/1.1\r\n\r\n");
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	run_for(&e, 20);
	assert_true(http_server_socket_writes(e.srv) - writes0 <= 2);
	/* Another connection's handler writes 200 events to the stream. */
	fd2 = raw_connect(e.port);
	raw_sends(&e, fd2, "GET /emit?n=200 HTTP/1.1\r\n\r\n");
	{
		struct buf out2 = BUF_INIT;
		assert_false(raw_read(&e, fd2, &out2, 1, 3000));
		assert_non_null(strstr(out2.data, "GET /emit ?n=200 body="));
		buf_release(&out2);
	}
	http_stream_end(e.stream);
	assert_true(raw_read(&e, fd, &out, 0, 3000));
	a = strstr(out.data, "GET /a body=");
	b = strstr(out.data, "GET /b body=");
	h = strstr(out.data, "Transfer-Encoding: chunked\r\n");
	assert_true(a && b && h && a < b && b < h);
	{
		struct buf raw = BUF_INIT;
		/* The stream's response starts after the second one. */
		const char *st = strstr(b, "HTTP/1.1 200 OK");
		assert_non_null(st);
		buf_add(&raw, st, out.len - (size_t)(st - out.data));
		assert_int_equal(dechunk(&raw, &body), 0);
		buf_release(&raw);
	}
	buf_adds(&want, "one,two,three");
	for (int i = 0; i < 200; i++)
		buf_addf(&want, "[%d]", i);
	assert_int_equal(body.len, want.len);
	assert_memory_equal(body.data, want.data, want.len);
	assert_true(run_until(&e, pred_stream_closed, NULL, 3000));
	assert_int_equal(e.stream_closed, 1);
	close(fd);
	close(fd2);
	buf_release(&out);
	buf_release(&body);
	buf_release(&want);
	env_stop(&e);
}

/*
 * A reader that does not read: small events written in a burst (no loop
 * pass in between) are pushed to the kernel before the bound refuses
 * one, so -ENOBUFS still means "the kernel is full and the queue is at
 * its bound"; a refused write queues nothing; everything accepted
 * arrives, in order, once the reader reads.
 */
static void test_coalesce_slow_reader_bound(void **state)
{
	struct http_server_opts o = {.stream_queue_bytes = 32 * 1024};
	struct env e;
	struct buf out = BUF_INIT, body = BUF_INIT;
	char ev[32];
	size_t accepted = 0, queued;
	int fd, rcv = 4096, rc = 0, i, n = 0;
	struct sockaddr_in a;

	(void)state;
	env_start_stream(&e, &o);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)e.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	raw_sends(&e, fd, "GET /events HTTP/1.1\r\n\r\n");
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	for (i = 0; i < 1000000 && rc == 0; i++) {
		int len = snprintf(ev, sizeof(ev), "%07d\n", i);
		rc = http_stream_write(e.stream, ev, (size_t)len);
		if (rc == 0) {
			accepted += (size_t)len;
			n++;
		}
	}
	assert_int_equal(rc, -ENOBUFS);
	queued = http_stream_queued(e.stream);
	/* The bound counts payloads; the last one's chunk framing (its
	 * size line and CRLF) may stick out. */
	assert_true(queued <= o.stream_queue_bytes + 16);
	/* The kernel holds part of it: nothing waited in our buffer while
	 * there was room below. */
	assert_true(accepted > queued);
	/* Refused again: still nothing queued. */
	assert_int_equal(http_stream_write(e.stream, "12345678", 8), -ENOBUFS);
	assert_true(http_stream_queued(e.stream) <= queued);
	http_stream_end_with(e.stream, "end\n", 4);
	assert_true(raw_read(&e, fd, &out, 0, 5000));
	assert_int_equal(dechunk(&out, &body), 0);
	assert_int_equal(body.len, accepted + 4);
	for (i = 0; i < n; i++) {
		snprintf(ev, sizeof(ev), "%07d\n", i);
		assert_memory_equal(body.data + (size_t)i * 8, ev, 8);
	}
	assert_memory_equal(body.data + accepted, "end\n", 4);
	assert_true(run_until(&e, pred_stream_closed, NULL, 3000));
	close(fd);
	buf_release(&out);
	buf_release(&body);
	env_stop(&e);
}

static void on_keep_alive(uv_timer_t *t)
{
	(void)t;
}

static void on_stream_write_later(uv_timer_t *t)
{
	struct env *e = t->data;
	/* (t stays open: a closing handle would keep the loop from
	 * blocking, which is what this test needs it to try.) */
	assert_int_equal(http_stream_write(e->stream, "later", 5), 0);
}

static void on_client_readable(uv_poll_t *p, int status, int events)
{
	struct raw_read *rr = p->data;
	(void)status;
	(void)events;
	(void)pred_raw(NULL, rr);
}

/*
 * Output queued outside I/O callbacks (a stream chunk written from a
 * timer) is written before the loop blocks: it does not wait for the next
 * event (here a timer 3 s away). The client's socket is watched by the
 * same loop, so the loop wakes when the chunk arrives.
 */
static void test_coalesce_flush_before_blocking(void **state)
{
	struct env e;
	struct buf out = BUF_INIT;
	struct raw_read rr;
	uv_timer_t t, far;
	uv_poll_t pl;
	uint64_t start;
	int fd;

	(void)state;
	env_start_stream(&e, NULL);
	fd = raw_connect(e.port);
	raw_sends(&e, fd, "GET /events HTTP/1.1\r\n\r\n");
	assert_true(run_until(&e, pred_stream, NULL, 3000));
	rr = (struct raw_read){fd, &out, 0, false};
	run_for(&e, 20);
	(void)pred_raw(&e, &rr); /* the response's headers */
	assert_non_null(memmem(out.data, out.len, "\r\n\r\n", 4));
	uv_poll_init(&e.loop, &pl, fd);
	pl.data = &rr;
	uv_poll_start(&pl, UV_READABLE, on_client_readable);
	uv_timer_init(&e.loop, &t);
	t.data = &e;
	uv_timer_start(&t, on_stream_write_later, 20, 0);
	uv_timer_init(&e.loop, &far);
	uv_timer_start(&far, on_keep_alive, 3000, 0);
	start = timeutil_mono_ms();
	while (!memmem(out.data, out.len, "later", 5) &&
	       timeutil_mono_ms() - start < 5000)
		uv_run(&e.loop, UV_RUN_ONCE);
	assert_non_null(memmem(out.data, out.len, "5\r\nlater\r\n", 10));
	assert_true(timeutil_mono_ms() - start < 1000);
	uv_close((uv_handle_t *)&pl, NULL);
	uv_close((uv_handle_t *)&t, NULL);
	uv_close((uv_handle_t *)&far, NULL);
	close(fd);
	buf_release(&out);
	env_stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_port_file),
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
	    cmocka_unit_test(test_stream_body_64m),
	    cmocka_unit_test(test_stream_body_pause_resume),
	    cmocka_unit_test(test_stream_body_early_reject),
	    cmocka_unit_test(test_stream_body_aborts),
	    cmocka_unit_test(test_stream_body_pipelined),
	    cmocka_unit_test(test_stream_route_others_buffered),
	    cmocka_unit_test(test_stream_route_table),
	    cmocka_unit_test(test_parse_hostport),
	    cmocka_unit_test(test_path_decode),
	    cmocka_unit_test(test_query_and_headers),
	    cmocka_unit_test(test_fuzz_entry),
	    cmocka_unit_test(test_fuzz_entry_streamed),
	    cmocka_unit_test(test_trailers_dropped),
	    cmocka_unit_test(test_coalesce_pipelined_responses),
	    cmocka_unit_test(test_coalesce_stream_after_responses),
	    cmocka_unit_test(test_coalesce_slow_reader_bound),
	    cmocka_unit_test(test_coalesce_flush_before_blocking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
