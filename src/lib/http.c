/*
 * http.c: HTTP/1.1 server and client on libuv + llhttp.
 *
 * Server connection (struct http_conn), one state at a time:
 *
 *   accept --> READING --request complete--> handler (conn_dispatch)
 *                ^  responded, keep-alive      |   |   |
 *                +-----------------------------+   |   +- deferred: reads
 *                          http_stream_begin()     |      stop until the
 *                   STREAMING <--------------------+      response comes
 *                       |  http_stream_end()              (conn_resume)
 *   error (400/413/431),|  Connection: close, HTTP/1.0
 *                       v
 *                   FLUSHING --drained--> LINGERING --EOF/2 s--> CLOSED
 *             (conn_flush_close)  (conn_on_shutdown: FIN sent, input dropped)
 *
 *   Any state --EOF, read/write error, timeout, server close--> CLOSED
 *   (conn_close: uv_close on both handles; conn_on_close frees the
 *   connection, and runs the stream's close callback, from the loop).
 *
 * A request on a stream route (http_server_set_stream_route) leaves
 * READING only when its message ends; within it, its body phase:
 *
 *   headers complete --llhttp paused--> start (conn_body_start)
 *     accepted: each body span pauses llhttp --> on_body (conn_body_piece)
 *                 [handler paused: reading stops, unparsed input waits
 *                  in conn->in until http_request_resume]
 *               message complete --> on_end (conn_body_end), then as a
 *                 handler: responded, deferred or streaming
 *     answered before the end (respond): no more callbacks; the rest of
 *               the body goes unparsed and the connection flushes and
 *               closes (FLUSHING), unless the request had no body
 *     connection closed first (EOF, timeout, 413/400 on the body, server
 *               close): on_abort from conn_destroy, from the loop
 *
 * Invariants:
 * - One request is handled at a time per connection; parsing stops at
 *   each message end (on_message_complete pauses llhttp) so pipelined
 *   requests are answered in order. Bytes read while a request is
 *   outstanding are kept in conn->in and reading stops until it is done:
 *   input held per connection is bounded by one read.
 * - Connections that are not in the middle of a message hold no input
 *   buffer: reads land in the server's shared buffer and llhttp copies
 *   spans into the request as it goes.
 * - Header bytes are counted as fed to llhttp, which never gets more than
 *   one byte past the limit; body bytes are checked against the limit
 *   before they are stored.
 * - Queued output is bounded: pipelined requests are not parsed while more
 *   than HTTP_OUT_HIGH bytes of responses wait, and streams refuse writes
 *   beyond opts.stream_queue_bytes.
 * - Output is coalesced: whatever a connection is sent (responses, stream
 *   chunks, 100 Continue) is appended to its pending buffer (conn->out),
 *   and the connection joins the server's dirty list. Once per loop pass
 *   (srv_flush, from a uv_check handle right after I/O callbacks and a
 *   uv_prepare handle before the loop blocks, both active only while the
 *   list is non-empty) each dirty connection hands its bytes to the
 *   socket in one uv_try_write, queueing what the kernel did not take as
 *   one uv_write behind it. Pending bytes are sent early when they pass
 *   HTTP_COALESCE_MAX, when a large response body rides along without a
 *   copy, and before a stream write would be refused for the bound. Bytes
 *   keep their order on a connection: nothing is ever written around
 *   queued bytes. conn->out_bytes counts pending plus in-flight bytes, so
 *   the bounds below see both.
 * - Every write owns its memory (struct http_wreq) and frees it in its
 *   callback. Handles are closed, then freed from close callbacks; objects
 *   stay valid until then, so user callbacks may close anything they like.
 * - User code never runs inside llhttp_execute(): callbacks that need the
 *   user (message complete; on stream routes, headers complete and every
 *   body span) pause the parser, and conn_execute() calls the user once
 *   llhttp has returned. After such a pause llhttp may hold steps that
 *   need no input (a message's end), so it runs once more with none
 *   (parse_pending when that has to wait for a resume).
 * - A streamed request is conn->cur from its headers to its message end,
 *   even after the handler answered: the parser owns it (in_body), so
 *   neither respond nor the handler frees it meanwhile; conn_dispatch or
 *   conn_destroy does. An accepted body ends exactly once: on_end, an
 *   early response, or on_abort.
 *
 * Client: struct http_cconn is one connection with a response parser and an
 * owner (struct http_client or struct http_sub) reached through ops. When
 * an owner lets go of a connection it clears the owner pointer first, so
 * no late event reaches it.
 */
#include "lib/compat.h"
#include "lib/http.h"
#include "lib/http_int.h"

#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include "lib/err.h"
#include "lib/log.h"

#define HTTP_DEF_MAX_HEADER (64 * 1024)
#define HTTP_DEF_MAX_BODY (8 * 1024 * 1024)
#define HTTP_DEF_IDLE_MS (75 * 1000)
#define HTTP_DEF_HEADER_MS (15 * 1000)
#define HTTP_DEF_MAX_CONNS 10000
#define HTTP_DEF_STREAM_QUEUE (16 * 1024 * 1024)
#define HTTP_DEF_MAX_STREAM_BODY ((uint64_t)1 << 30)
#define HTTP_CLIENT_DEF_MAX_BODY (64 * 1024 * 1024)
#define HTTP_CLIENT_MAX_HEADER (256 * 1024) /* response headers + trailers */
#define HTTP_READ_BUF (64 * 1024)
#define HTTP_OUT_HIGH (1024 * 1024)
#define HTTP_COALESCE_MAX (64 * 1024) /* pending bytes sent at once */
#define HTTP_LINGER_MS 2000
#define HTTP_BODY_PRESIZE (64 * 1024)
#define HTTP_BACKLOG 511

/* ---- header collection (both directions) ------------------------------ */

/*
 * Headers as llhttp hands them over, in pieces: all names and values go
 * into one string buffer ("name\0value\0..."), offsets in pairs, so a
 * message costs two allocations however many headers it has.
 */
struct http_hdrs {
	struct buf strs;
	size_t *offs; /* 2 per header: name, value */
	size_t n, cap;
	bool in_field, in_value;
};

static void hdrs_release(struct http_hdrs *h)
{
	buf_release(&h->strs);
	free(h->offs);
	memset(h, 0, sizeof(*h));
}

static void hdrs_field(struct http_hdrs *h, const char *at, size_t len)
{
	if (!h->in_field) {
		ALLOC_GROW(h->offs, 2 * (h->n + 1), h->cap);
		h->offs[2 * h->n] = h->strs.len;
		h->in_field = true;
		h->in_value = false;
	}
	buf_add(&h->strs, at, len);
}

static void hdrs_field_done(struct http_hdrs *h)
{
	if (!h->in_field)
		hdrs_field(h, "", 0);
	buf_addc(&h->strs, '\0');
	h->offs[2 * h->n + 1] = h->strs.len;
	h->in_field = false;
	h->in_value = true;
}

static void hdrs_value(struct http_hdrs *h, const char *at, size_t len)
{
	if (h->in_value)
		buf_add(&h->strs, at, len);
}

static void hdrs_value_done(struct http_hdrs *h)
{
	if (!h->in_value)
		return;
	buf_addc(&h->strs, '\0');
	h->in_value = false;
	h->n++;
}

/* Looks a name up while headers are still being collected. */
static const char *hdrs_get(const struct http_hdrs *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcasecmp(h->strs.data + h->offs[2 * i], name))
			return h->strs.data + h->offs[2 * i + 1];
	return NULL;
}

/* Turns the collection into an array; *strs owns the strings after. */
static struct http_header *hdrs_finish(struct http_hdrs *h, size_t *n,
                                       char **strs)
{
	struct http_header *arr = xcalloc(h->n ? h->n : 1, sizeof(*arr));
	char *base = buf_detach(&h->strs, NULL);

	for (size_t i = 0; i < h->n; i++) {
		arr[i].name = base + h->offs[2 * i];
		arr[i].value = base + h->offs[2 * i + 1];
	}
	*n = h->n;
	*strs = base;
	free(h->offs);
	memset(h, 0, sizeof(*h));
	return arr;
}

static const char *headers_find(const struct http_header *hs, size_t n,
                                const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(hs[i].name, name))
			return hs[i].value;
	return NULL;
}

/* ---- small pure helpers ------------------------------------------------ */

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_path_decode(const char *in, size_t len, char **out)
{
	char *o = xmalloc(len + 1);
	size_t j = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] != '%') {
			if (in[i] == '\0')
				goto out_bad;
			o[j++] = in[i];
			continue;
		}
		if (i + 2 >= len)
			goto out_bad;
		int hi = hex_val(in[i + 1]), lo = hex_val(in[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto out_bad;
		o[j++] = (char)(hi * 16 + lo);
		i += 2;
	}
	o[j] = '\0';
	*out = o;
	return 0;
out_bad:
	free(o);
	*out = NULL;
	return -EINVAL;
}

/* Decodes a query component: '+' is a space; bad escapes stay literal. */
static char *query_decode(const char *in, size_t len)
{
	char *o = xmalloc(len + 1);
	size_t j = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (in[i] == '+') {
			o[j++] = ' ';
		} else if (in[i] == '%' && i + 2 < len &&
		           (hi = hex_val(in[i + 1])) >= 0 &&
		           (lo = hex_val(in[i + 2])) >= 0 && (hi || lo)) {
			o[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			o[j++] = in[i];
		}
	}
	o[j] = '\0';
	return o;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 507:
		return "Insufficient Storage";
	default:
		break;
	}
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

/* Appends "ip:port" (IPv6 bracketed) for a socket address. */
static void sockaddr_format(const struct sockaddr_storage *ss, char *out,
                            size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		uv_ip6_name(a, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		uv_ip4_name(a, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else {
		snprintf(out, n, "?");
	}
}

/* Fills ss from a numeric IPv4/IPv6 address; -EINVAL for anything else. */
static int addr_numeric(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

/* ---- server: types ------------------------------------------------------ */

enum conn_state {
	CONN_READING,
	CONN_STREAMING,
	CONN_FLUSHING,
	CONN_LINGERING,
	CONN_CLOSED,
};

struct http_route {
	char *prefix;
	http_body_start_fn *start;
	void *arg;
};

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct http_server_opts opts;
	char ip[64];
	http_handler_fn *handler;
	void *arg;
	int port;
	bool closing;
	bool listener_closed;
	int flush_handles; /* open: flush_prepare, flush_check */
	size_t nconns;
	struct http_conn *conns; /* doubly linked */
	/* connections with pending output, doubly linked; srv_flush */
	struct http_conn *dirty;
	uv_prepare_t flush_prepare;
	uv_check_t flush_check;
	uint64_t socket_writes; /* see http_server_socket_writes() */
	struct http_route *routes;
	size_t nroutes, routes_cap;
	size_t peak_input; /* see http_server_peak_input() */
	char readbuf[HTTP_READ_BUF];
};

/* A request and what only the server sees of it. */
struct http_req_priv {
	struct http_request req;
	struct http_hdrs hdrs;
	struct buf url;
	struct buf body;
	char *hdr_strs;
	bool keep_alive;
	bool http10;
	bool responded;
	bool deferred;
	bool in_handler;
	/* stream routes only */
	bool streamed; /* handed to a route's start */
	bool in_start; /* inside start: accepting is allowed */
	bool accepted; /* http_request_accept_body() was called */
	bool in_body;  /* still conn->cur: the parser owns it */
	bool has_body; /* Content-Length > 0 or chunked */
	uint64_t body_seen;
	struct http_body_ops ops;
	void *body_arg;
};

struct http_stream {
	struct http_conn *conn; /* NULL once the connection is gone */
	http_stream_close_fn *on_close;
	void *arg;
	bool chunked;
	bool ending;
};

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct http_server *srv;
	struct http_conn *prev, *next;
	llhttp_t parser;
	enum conn_state state;
	int handles; /* open uv handles */
	bool reading;
	struct http_req_priv *cur;         /* being parsed */
	struct http_req_priv *outstanding; /* handed to the handler */
	size_t hdr_bytes;
	bool headers_done;
	bool msg_complete;
	int fail_status;
	const char *fail_reason;
	struct buf in;    /* unparsed input held while paused */
	struct buf out;   /* pending output, not yet handed to the socket */
	size_t out_bytes; /* pending plus in flight: not yet written */
	size_t nwrites;   /* uv_writes in flight */
	bool dirty;       /* on srv->dirty */
	struct http_conn *dirty_prev, *dirty_next;
	struct http_stream *stream;
	char peer[64];
	struct buf *sink; /* fuzz mode: output goes here, no socket */
	/* stream routes: set by llhttp callbacks, acted on by conn_execute */
	http_body_start_fn *start; /* start pending, with start_arg */
	void *start_arg;
	const char *piece; /* a body span to deliver, piece_len bytes */
	size_t piece_len;
	bool parse_pending; /* llhttp must run again, input or not */
	bool body_paused;   /* http_request_pause() */
	int abort_err;      /* why the connection closed, for on_abort */
};

/* A write the kernel did not take at once: its bytes and their memory. */
struct http_wreq {
	uv_write_t req;
	struct http_conn *conn;
	size_t len;  /* bytes this write still had to send */
	char *mem;   /* owned: coalesced output, or NULL */
	char *extra; /* owned: a second buffer (a large body), or NULL */
};

static void conn_close(struct http_conn *c);
static void conn_flush_close(struct http_conn *c);
static void conn_resume(struct http_conn *c);
static void conn_process(struct http_conn *c, const char *data, size_t len);

/* Records the first reason a connection ends, for a body's on_abort. */
static void conn_set_abort_err(struct http_conn *c, int err)
{
	if (!c->abort_err)
		c->abort_err = err;
}

/* Updates the server's high-water mark of input held by one connection. */
static void conn_note_input(struct http_conn *c)
{
	size_t held = c->in.len + (c->cur ? c->cur->body.len : 0);

	if (held > c->srv->peak_input)
		c->srv->peak_input = held;
}

/* An accepted streamed body that has neither ended nor been answered. */
static bool req_awaits_body(const struct http_req_priv *r)
{
	return r && r->accepted && r->in_body && !r->responded;
}

/* ---- server: connection plumbing --------------------------------------- */

static void conn_on_timeout(uv_timer_t *t)
{
	struct http_conn *c = container_of(t, struct http_conn, timer);
	log_debug("http", "peer=%s state=%d connection timed out", c->peer,
	          (int)c->state);
	conn_set_abort_err(c, -ETIMEDOUT);
	conn_close(c);
}

static void conn_timer(struct http_conn *c, uint64_t ms)
{
	if (c->sink || c->state == CONN_CLOSED)
		return;
	uv_timer_start(&c->timer, conn_on_timeout, ms, 0);
}

static void conn_timer_stop(struct http_conn *c)
{
	if (!c->sink && c->state != CONN_CLOSED)
		uv_timer_stop(&c->timer);
}

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_conn *c = container_of(h, struct http_conn, tcp);
	(void)hint;
	b->base = c->srv->readbuf;
	b->len = sizeof(c->srv->readbuf);
}

static void conn_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *b);

static void conn_read_start(struct http_conn *c)
{
	if (c->sink || c->reading || c->state == CONN_CLOSED)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc,
	                  conn_on_read) == 0)
		c->reading = true;
	else
		conn_close(c);
}

static void conn_read_stop(struct http_conn *c)
{
	if (c->sink || !c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

/* Whether anything is still to be written: pending or in flight. */
static bool conn_has_output(const struct http_conn *c)
{
	return c->nwrites || c->out.len;
}

/*
 * Output went out (a write completed, or a flush pass found everything
 * written at once): a flushing connection closes once drained, and one
 * whose parsing waited on the output backlog continues.
 */
static void conn_out_progress(struct http_conn *c)
{
	if (c->state == CONN_FLUSHING && !conn_has_output(c))
		conn_flush_close(c);
	else if (c->state == CONN_READING && (c->in.len || c->parse_pending) &&
	         c->out_bytes < HTTP_OUT_HIGH / 2 && !c->outstanding)
		conn_resume(c);
}

static void conn_on_write(uv_write_t *w, int status)
{
	struct http_wreq *wr = container_of(w, struct http_wreq, req);
	struct http_conn *c = wr->conn;

	c->out_bytes -= wr->len;
	c->nwrites--;
	free(wr->mem);
	free(wr->extra);
	free(wr);
	if (c->state == CONN_CLOSED)
		return;
	if (status < 0) {
		log_debug("http", "peer=%s write failed: %s", c->peer,
		          uv_strerror(status));
		conn_set_abort_err(c, status);
		conn_close(c);
		return;
	}
	conn_out_progress(c);
}

static void srv_on_flush_prepare(uv_prepare_t *h);
static void srv_on_flush_check(uv_check_t *h);

/* Puts c on the server's dirty list; the next flush pass writes it. */
static void conn_out_mark(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->dirty)
		return;
	if (!srv->dirty) {
		uv_prepare_start(&srv->flush_prepare, srv_on_flush_prepare);
		uv_check_start(&srv->flush_check, srv_on_flush_check);
	}
	c->dirty = true;
	c->dirty_prev = NULL;
	c->dirty_next = srv->dirty;
	if (srv->dirty)
		srv->dirty->dirty_prev = c;
	srv->dirty = c;
}

static void conn_out_unmark(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (!c->dirty)
		return;
	if (c->dirty_prev)
		c->dirty_prev->dirty_next = c->dirty_next;
	else
		srv->dirty = c->dirty_next;
	if (c->dirty_next)
		c->dirty_next->dirty_prev = c->dirty_prev;
	c->dirty = false;
	c->dirty_prev = c->dirty_next = NULL;
}

/*
 * Hands the pending output, then extra (extra_len bytes, owned; its bytes
 * must already be counted in out_bytes), to the socket: one uv_try_write
 * when nothing is in flight, and what the kernel did not take as one
 * uv_write queued behind. Runs no user code; a failure closes the
 * connection.
 */
static void conn_out_send(struct http_conn *c, char *extra, size_t extra_len)
{
	uv_stream_t *st = (uv_stream_t *)&c->tcp;
	uv_buf_t bufs[2];
	unsigned n = 0, first = 0;
	size_t len, done = 0;
	char *mem = NULL;
	struct http_wreq *wr;
	int rc = 0;

	if (c->out.len)
		mem = buf_detach(&c->out, &len);
	else
		len = 0;
	if (len)
		bufs[n++] = uv_buf_init(mem, (unsigned)len);
	if (extra_len)
		bufs[n++] = uv_buf_init(extra, (unsigned)extra_len);
	if (!n)
		goto out_free;
	c->srv->socket_writes++;
	if (!c->nwrites) {
		rc = uv_try_write(st, bufs, n);
		if (rc < 0 && rc != UV_EAGAIN)
			goto out_fail;
		done = rc > 0 ? (size_t)rc : 0;
		c->out_bytes -= done;
		if (done == len + extra_len)
			goto out_free;
		/* Skip what the kernel took. */
		while (done >= bufs[first].len) {
			done -= bufs[first].len;
			first++;
		}
		bufs[first].base += done;
		bufs[first].len -= (unsigned)done;
	}
	wr = xmalloc(sizeof(*wr));
	wr->conn = c;
	wr->mem = mem;
	wr->extra = extra;
	wr->len = 0;
	for (unsigned i = first; i < n; i++)
		wr->len += bufs[i].len;
	rc = uv_write(&wr->req, st, bufs + first, n - first, conn_on_write);
	if (rc < 0) {
		free(wr);
		goto out_fail;
	}
	c->nwrites++;
	return;
out_fail:
	log_debug("http", "peer=%s write failed: %s", c->peer, uv_strerror(rc));
	free(mem);
	free(extra);
	conn_set_abort_err(c, rc);
	conn_close(c);
	return;
out_free:
	free(mem);
	free(extra);
}

/*
 * Where output for c is appended: the fuzz sink, or the pending buffer.
 * NULL when the connection takes no more output (closed, lingering).
 * After appending, conn_out_commit(c, len) with the buffer's length
 * from before.
 */
static struct buf *conn_out_buf(struct http_conn *c)
{
	if (c->state == CONN_CLOSED || c->state == CONN_LINGERING)
		return NULL;
	return c->sink ? c->sink : &c->out;
}

static void conn_out_commit(struct http_conn *c, size_t before)
{
	if (c->sink)
		return;
	c->out_bytes += c->out.len - before;
	conn_out_mark(c);
	if (c->out.len >= HTTP_COALESCE_MAX)
		conn_out_send(c, NULL, 0);
}

static void conn_write_copy(struct http_conn *c, const void *data, size_t len)
{
	struct buf *o = conn_out_buf(c);
	size_t before;

	if (!o)
		return;
	before = o->len;
	buf_add(o, data, len);
	conn_out_commit(c, before);
}

/*
 * Queues take (len bytes, owned) after everything pending, without
 * copying it: the pending bytes and take go out at once in one write.
 */
static void conn_write_take(struct http_conn *c, char *take, size_t len)
{
	struct buf *o = conn_out_buf(c);

	if (!o || c->sink) {
		if (o)
			buf_add(o, take, len);
		free(take);
		return;
	}
	c->out_bytes += len;
	conn_out_send(c, take, len);
}

/*
 * The flush pass: every dirty connection's pending output goes to its
 * socket. User code may run (a connection whose parsing waited on its
 * output resumes) and dirty more connections; they are flushed in the
 * same pass, so the loop never blocks with output pending.
 */
static void srv_flush(struct http_server *srv)
{
	struct http_conn *c;

	while ((c = srv->dirty)) {
		conn_out_unmark(c);
		if (c->out.len)
			conn_out_send(c, NULL, 0);
		if (c->state != CONN_CLOSED && !c->nwrites)
			conn_out_progress(c);
	}
	uv_prepare_stop(&srv->flush_prepare);
	uv_check_stop(&srv->flush_check);
}

static void srv_on_flush_prepare(uv_prepare_t *h)
{
	srv_flush(container_of(h, struct http_server, flush_prepare));
}

static void srv_on_flush_check(uv_check_t *h)
{
	srv_flush(container_of(h, struct http_server, flush_check));
}

static void req_free(struct http_req_priv *p)
{
	if (!p)
		return;
	hdrs_release(&p->hdrs);
	buf_release(&p->url);
	buf_release(&p->body);
	free(p->req.target);
	free(p->req.path);
	free(p->req.headers);
	free(p->req.body);
	free(p->hdr_strs);
	buf_release(&p->req.resp_headers);
	free(p);
}

/* Frees r unless someone still holds it: a running callback or the
 * parser (a streamed request before its message ends). */
static void req_release(struct http_req_priv *r)
{
	if (!r->in_handler && !r->in_body)
		req_free(r);
}

static void conn_unlink(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Last step of a connection: the callbacks owed, then memory. */
static void conn_destroy(struct http_conn *c)
{
	struct http_stream *st = c->stream;
	struct http_req_priv *r = c->cur;

	if (req_awaits_body(r) && r->ops.on_abort) {
		int err = c->abort_err ? c->abort_err : -ECONNRESET;
		log_debug("http",
		          "peer=%s path='%s' err=%d request body aborted",
		          c->peer, r->req.path, err);
		r->ops.on_abort(&r->req, err, r->body_arg);
	}
	if (st) {
		st->conn = NULL;
		st->ending = true;
		if (st->on_close)
			st->on_close(st, st->arg);
		free(st);
		c->stream = NULL;
	}
	req_free(c->cur);
	buf_release(&c->in);
	buf_release(&c->out);
	BUG_ON(c->dirty);
	free(c);
}

static void srv_free(struct http_server *srv)
{
	for (size_t i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].prefix);
	free(srv->routes);
	free(srv);
}

static void srv_maybe_free(struct http_server *srv)
{
	if (srv->closing && srv->listener_closed && !srv->flush_handles &&
	    srv->nconns == 0)
		srv_free(srv);
}

static void conn_on_close(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	struct http_server *srv = c->srv;

	if (--c->handles > 0)
		return;
	conn_unlink(c);
	srv->nconns--;
	conn_destroy(c);
	srv_maybe_free(srv);
}

/*
 * Closes at once. A deferred request survives without its connection
 * (its response is then dropped); the stream's close callback runs from
 * conn_on_close.
 */
static void conn_close(struct http_conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	if (c->outstanding) {
		c->outstanding->req.conn = NULL;
		c->outstanding = NULL;
	}
	if (c->stream)
		c->stream->ending = true;
	if (c->sink)
		return;
	conn_out_unmark(c);
	if (c->out.len && !c->nwrites) {
		/* Best effort, as when every response was written at once:
		 * what the kernel takes now still reaches the peer. */
		uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
		(void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	}
	c->out_bytes -= c->out.len;
	buf_release(&c->out);
	c->reading = false;
	uv_close((uv_handle_t *)&c->tcp, conn_on_close);
	uv_close((uv_handle_t *)&c->timer, conn_on_close);
}

static void conn_on_shutdown(uv_shutdown_t *sr, int status)
{
	struct http_conn *c = sr->data;
	free(sr);
	if (c->state == CONN_CLOSED)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* Read (and drop) until the peer closes, so that unread input does
	 * not turn our close into a reset that destroys the response. */
	c->state = CONN_LINGERING;
	conn_read_start(c);
	conn_timer(c, HTTP_LINGER_MS);
}

/* Ends the connection once everything queued is written. */
static void conn_flush_close(struct http_conn *c)
{
	uv_shutdown_t *sr;

	if (c->state == CONN_CLOSED || c->state == CONN_LINGERING)
		return;
	if (c->state != CONN_FLUSHING) {
		c->state = CONN_FLUSHING;
		conn_read_stop(c);
		conn_timer(c, c->srv->opts.idle_timeout_ms);
	}
	if (conn_has_output(c))
		return; /* conn_out_progress comes back when drained */
	if (c->sink) {
		c->state = CONN_CLOSED;
		return;
	}
	sr = xmalloc(sizeof(*sr));
	sr->data = c;
	if (uv_shutdown(sr, (uv_stream_t *)&c->tcp, conn_on_shutdown) < 0) {
		free(sr);
		conn_close(c);
		return;
	}
	/* From here the shutdown callback decides; no further writes. */
	c->state = CONN_LINGERING;
}

/* Answers a request the parser rejected, then closes. */
static void conn_fail(struct http_conn *c, int status, const char *reason)
{
	struct buf b = BUF_INIT;
	size_t blen = strlen(reason) + 1;

	log_debug("http", "peer=%s status=%d rejected request: %s", c->peer,
	          status, reason);
	conn_set_abort_err(c, status == 413 ? -EMSGSIZE : -EPROTO);
	/* A streamed request's handler still holds it: it gets on_abort
	 * from conn_destroy, which frees it then. */
	if (!req_awaits_body(c->cur)) {
		req_free(c->cur);
		c->cur = NULL;
	}
	buf_addf(&b,
	         "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	         status, http_status_text(status), blen, reason);
	conn_write_copy(c, b.data, b.len);
	buf_release(&b);
	conn_flush_close(c);
}

/* ---- server: parsing --------------------------------------------------- */

static int srv_on_message_begin(llhttp_t *p)
{
	struct http_conn *c = p->data;

	if (!c->cur)
		c->cur = xcalloc(1, sizeof(*c->cur));
	conn_timer(c, c->srv->opts.header_timeout_ms);
	return 0;
}

static int srv_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	buf_add(&c->cur->url, at, len);
	return 0;
}

static int srv_on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (!c->headers_done) /* trailers are dropped, never buffered */
		hdrs_field(&c->cur->hdrs, at, len);
	return 0;
}

static int srv_on_header_field_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	if (!c->headers_done)
		hdrs_field_done(&c->cur->hdrs);
	return 0;
}

static int srv_on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (!c->headers_done) /* trailers are dropped, never buffered */
		hdrs_value(&c->cur->hdrs, at, len);
	return 0;
}

static int srv_on_header_value_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	if (!c->headers_done)
		hdrs_value_done(&c->cur->hdrs);
	return 0;
}

/*
 * Splits a request target into its path span and query. Origin form
 * ("/p?q"), absolute form ("http://h/p?q", authority dropped) and "*" are
 * accepted; anything else is -EINVAL.
 */
static int target_split(const char *t, const char **path, size_t *plen,
                        const char **query)
{
	const char *p = t, *q;

	if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
		p = strchr(strstr(t, "//") + 2, '/');
		if (!p)
			p = "/";
	} else if (t[0] != '/' && strcmp(t, "*")) {
		return -EINVAL;
	}
	q = strchr(p, '?');
	*plen = q ? (size_t)(q - p) : strlen(p);
	*query = q ? q + 1 : NULL;
	*path = p;
	return 0;
}

/* Splits and decodes the target into path and query. */
static int req_parse_target(struct http_req_priv *r)
{
	const char *path, *query;
	size_t plen;

	if (target_split(r->req.target, &path, &plen, &query) < 0)
		return -EINVAL;
	r->req.query = (char *)query;
	return http_path_decode(path, plen, &r->req.path);
}

/*
 * Fills the request's public fields from what the parser collected (the
 * body so far, empty for a streamed request). -EINVAL: malformed target.
 */
static int req_prepare(struct http_conn *c, struct http_req_priv *r)
{
	r->req.conn = c;
	r->req.target = buf_detach(&r->url, NULL);
	r->req.headers = hdrs_finish(&r->hdrs, &r->req.nheaders, &r->hdr_strs);
	r->req.body = buf_detach(&r->body, &r->req.body_len);
	memcpy(r->req.peer, c->peer, sizeof(r->req.peer));
	return req_parse_target(r);
}

bool http_path_has_prefix(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n))
		return false;
	return path[n] == '\0' || path[n] == '/' || (n && prefix[n - 1] == '/');
}

/* The stream route for a raw target (longest prefix), or NULL. */
static const struct http_route *srv_find_route(const struct http_server *s,
                                               const char *target)
{
	const struct http_route *best = NULL;
	const char *path, *query;
	size_t plen, best_len = 0;
	char *decoded;

	if (!s->nroutes || !target ||
	    target_split(target, &path, &plen, &query) < 0 ||
	    http_path_decode(path, plen, &decoded) < 0)
		return NULL;
	for (size_t i = 0; i < s->nroutes; i++) {
		size_t len = strlen(s->routes[i].prefix);
		if (len > best_len &&
		    http_path_has_prefix(decoded, s->routes[i].prefix)) {
			best = &s->routes[i];
			best_len = len;
		}
	}
	free(decoded);
	return best;
}

/*
 * Headers of a request on a stream route are complete: the request gets
 * its public fields now, and llhttp pauses so that conn_execute runs the
 * route's start outside the parser.
 */
static int srv_route_request(llhttp_t *p, const struct http_route *rt,
                             bool has_body)
{
	struct http_conn *c = p->data;
	struct http_req_priv *r = c->cur;

	r->streamed = true;
	r->in_body = true;
	r->has_body = has_body;
	r->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
	r->http10 = p->http_major == 1 && p->http_minor == 0;
	r->req.method = llhttp_method_name((llhttp_method_t)p->method);
	if (req_prepare(c, r) < 0) {
		/* Unreachable: the route matched the decoded target. */
		c->fail_status = 400;
		c->fail_reason = "malformed request target";
		return -1;
	}
	c->start = rt->start;
	c->start_arg = rt->arg;
	return HPE_PAUSED;
}

static int srv_on_headers_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	struct http_req_priv *r = c->cur;
	const struct http_server_opts *o = &c->srv->opts;
	bool has_body = (p->flags & F_CHUNKED) ||
	                ((p->flags & F_CONTENT_LENGTH) && p->content_length);
	const struct http_route *rt = srv_find_route(c->srv, r->url.data);
	uint64_t limit = rt ? o->max_stream_body_bytes : o->max_body_bytes;
	const char *expect;

	c->headers_done = true;
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > limit) {
		c->fail_status = 413;
		c->fail_reason = "request body exceeds the limit";
		return -1;
	}
	if (rt)
		return srv_route_request(p, rt, has_body);
	if (!has_body)
		return 0;
	if (p->flags & F_CONTENT_LENGTH)
		buf_grow(&r->body, MIN(p->content_length, HTTP_BODY_PRESIZE));
	expect = hdrs_get(&r->hdrs, "expect");
	if (expect && !strcasecmp(expect, "100-continue") &&
	    p->http_major == 1 && p->http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		conn_write_copy(c, cont, sizeof(cont) - 1);
	}
	/* The whole body gets the idle timeout to arrive. */
	conn_timer(c, o->idle_timeout_ms);
	return 0;
}

static int srv_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req_priv *r = c->cur;

	if (r->streamed) {
		/* llhttp flushes an open span, empty too, at each return. */
		if (!len || r->responded)
			return 0;
		r->body_seen += len;
		if (r->body_seen > c->srv->opts.max_stream_body_bytes) {
			c->fail_status = 413;
			c->fail_reason = "request body exceeds the limit";
			return -1;
		}
		c->piece = at;
		c->piece_len = len;
		return HPE_PAUSED;
	}
	if (r->body.len + len > c->srv->opts.max_body_bytes) {
		c->fail_status = 413;
		c->fail_reason = "request body exceeds the limit";
		return -1;
	}
	buf_add(&r->body, at, len);
	conn_note_input(c);
	return 0;
}

static int srv_on_message_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	struct http_req_priv *r = c->cur;

	r->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
	r->http10 = p->http_major == 1 && p->http_minor == 0;
	r->req.method = llhttp_method_name((llhttp_method_t)p->method);
	c->msg_complete = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t srv_settings = {
    .on_message_begin = srv_on_message_begin,
    .on_url = srv_on_url,
    .on_header_field = srv_on_header_field,
    .on_header_field_complete = srv_on_header_field_complete,
    .on_header_value = srv_on_header_value,
    .on_header_value_complete = srv_on_header_value_complete,
    .on_headers_complete = srv_on_headers_complete,
    .on_body = srv_on_body,
    .on_message_complete = srv_on_message_complete,
};

/*
 * Hands a complete request to fn (the server's handler, or a streamed
 * body's on_end), which must respond or defer; a 500 otherwise.
 */
static void conn_hand_over(struct http_conn *c, struct http_req_priv *r,
                           http_handler_fn *fn, void *arg)
{
	c->outstanding = r;
	conn_timer_stop(c);
	r->in_handler = true;
	fn(&r->req, arg);
	if (!r->responded && !r->deferred) {
		log_error("http",
		          "path='%s' handler returned without a "
		          "response",
		          r->req.path);
		http_respond_error(&r->req, 500, "handler did not respond");
	}
	r->in_handler = false;
	if (r->responded)
		req_free(r);
}

/* Runs a stream route's start on the request whose headers just ended. */
static void conn_body_start(struct http_conn *c)
{
	struct http_req_priv *r = c->cur;
	http_body_start_fn *start = c->start;
	const char *expect;

	c->start = NULL;
	r->in_handler = true;
	r->in_start = true;
	start(&r->req, c->start_arg);
	r->in_start = false;
	if (!r->responded && !r->accepted) {
		log_error("http",
		          "path='%s' stream route start neither accepted "
		          "nor answered",
		          r->req.path);
		http_respond_error(&r->req, 500, "handler did not respond");
	}
	r->in_handler = false;
	if (r->responded || c->state != CONN_READING)
		return;
	expect = http_request_header(&r->req, "expect");
	if (r->has_body && expect && !strcasecmp(expect, "100-continue") &&
	    c->parser.http_major == 1 && c->parser.http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		conn_write_copy(c, cont, sizeof(cont) - 1);
	}
	/* From here the body must keep moving (conn_body_piece). */
	conn_timer(c, c->srv->opts.idle_timeout_ms);
}

/* Delivers a piece of an accepted body. */
static void conn_body_piece(struct http_conn *c, const char *data, size_t len)
{
	struct http_req_priv *r = c->cur;

	if (!req_awaits_body(r))
		return;
	conn_timer(c, c->srv->opts.idle_timeout_ms);
	r->in_handler = true;
	r->ops.on_body(&r->req, data, len, r->body_arg);
	r->in_handler = false;
}

/* A streamed request's message ended: on_end, unless it was answered. */
static void conn_body_end(struct http_conn *c, struct http_req_priv *r)
{
	r->in_body = false;
	c->body_paused = false;
	if (r->responded) {
		req_free(r);
		return;
	}
	r->deferred = false;
	conn_hand_over(c, r, r->ops.on_end, r->body_arg);
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_req_priv *r = c->cur;
	struct http_server *srv = c->srv;

	c->cur = NULL;
	c->hdr_bytes = 0;
	c->headers_done = false;
	if (r->streamed) {
		conn_body_end(c, r);
		return;
	}
	if (req_prepare(c, r) < 0) {
		req_free(r);
		conn_fail(c, 400, "malformed request target");
		return;
	}
	conn_hand_over(c, r, srv->handler, srv->arg);
}

/* Whether llhttp may run: nothing outstanding, paused or backlogged. */
static bool conn_may_parse(const struct http_conn *c)
{
	return c->state == CONN_READING && !c->outstanding &&
	       c->out_bytes < HTTP_OUT_HIGH && !c->body_paused;
}

/*
 * Runs llhttp over data until it is consumed or the connection must wait
 * (request outstanding, body paused, output backlog, closing). Returns the
 * bytes used.
 */
static size_t conn_execute(struct http_conn *c, const char *data, size_t len)
{
	size_t off = 0;
	size_t max_hdr = c->srv->opts.max_header_bytes;
	bool again = c->parse_pending;

	c->parse_pending = false;
	while ((off < len || again) && conn_may_parse(c)) {
		const char *p = data + off;
		size_t n = len - off, used;
		llhttp_errno_t rc;

		again = false;
		if (!c->headers_done)
			n = MIN(n, max_hdr + 1 - c->hdr_bytes);
		rc = llhttp_execute(&c->parser, p, n);
		used = n;
		if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
			used = (size_t)(llhttp_get_error_pos(&c->parser) - p);
			if (rc == HPE_PAUSED)
				llhttp_resume(&c->parser);
			else
				llhttp_resume_after_upgrade(&c->parser);
		} else if (rc != HPE_OK) {
			int st = c->fail_status ? c->fail_status : 400;
			const char *why =
			    c->fail_status
				? c->fail_reason
				: llhttp_get_error_reason(&c->parser);
			conn_fail(c, st, why ? why : "malformed request");
			return len;
		}
		if (!c->headers_done) {
			c->hdr_bytes += used;
			if (c->hdr_bytes > max_hdr) {
				conn_fail(c, 431,
				          "request headers exceed the limit");
				return len;
			}
		}
		off += used;
		if (c->start) {
			conn_body_start(c);
			again = true;
		}
		if (c->piece) {
			const char *piece = c->piece;
			c->piece = NULL;
			conn_body_piece(c, piece, c->piece_len);
			again = true;
		}
		if (c->msg_complete) {
			c->msg_complete = false;
			conn_dispatch(c);
		}
	}
	if (again && c->state == CONN_READING)
		c->parse_pending = true;
	if (c->body_paused)
		conn_read_stop(c);
	return off;
}

/* Feeds fresh input; what cannot be parsed yet is kept, reading stops. */
static void conn_process(struct http_conn *c, const char *data, size_t len)
{
	size_t used = conn_execute(c, data, len);

	if (used < len && c->state == CONN_READING) {
		buf_add(&c->in, data + used, len - used);
		conn_note_input(c);
		conn_read_stop(c);
	}
}

/* Continues with held input after a wait; restarts reading when empty. */
static void conn_resume(struct http_conn *c)
{
	size_t used;

	if (c->state != CONN_READING || c->outstanding)
		return;
	if (c->in.len || c->parse_pending) {
		used = conn_execute(c, c->in.len ? c->in.data : "", c->in.len);
		if (c->state == CONN_CLOSED)
			return;
		if (c->state != CONN_READING)
			buf_reset(&c->in);
		else if (used)
			buf_consume(&c->in, used);
	}
	if (c->state == CONN_READING && !c->in.len && !c->outstanding &&
	    !c->body_paused)
		conn_read_start(c);
}

static void conn_on_resume_timer(uv_timer_t *t)
{
	struct http_conn *c = container_of(t, struct http_conn, timer);
	conn_timer(c, c->srv->opts.idle_timeout_ms);
	conn_resume(c);
}

static void conn_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
	struct http_conn *c = container_of(h, struct http_conn, tcp);

	if (nread == 0)
		return;
	if (nread < 0) {
		bool mid = c->cur || llhttp_get_errno(&c->parser) != HPE_OK;
		conn_set_abort_err(c,
		                   nread == UV_EOF ? -ECONNRESET : (int)nread);
		if (c->state == CONN_READING && !mid && conn_has_output(c) &&
		    nread == UV_EOF)
			conn_flush_close(c);
		else
			conn_close(c);
		return;
	}
	if (c->state == CONN_READING)
		conn_process(c, b->base, (size_t)nread);
	/* STREAMING, LINGERING: input is dropped; only EOF matters. */
}

/* ---- server: public ---------------------------------------------------- */

struct http_server *http_server_new(uv_loop_t *loop,
                                    const struct http_server_opts *opts,
                                    http_handler_fn *handler, void *arg)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct http_server_opts *o = &s->opts;

	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	if (opts)
		*o = *opts;
	snprintf(s->ip, sizeof(s->ip), "%s", o->ip ? o->ip : "127.0.0.1");
	o->ip = s->ip;
	if (!o->max_header_bytes)
		o->max_header_bytes = HTTP_DEF_MAX_HEADER;
	if (!o->max_body_bytes)
		o->max_body_bytes = HTTP_DEF_MAX_BODY;
	if (!o->idle_timeout_ms)
		o->idle_timeout_ms = HTTP_DEF_IDLE_MS;
	if (!o->header_timeout_ms)
		o->header_timeout_ms = HTTP_DEF_HEADER_MS;
	if (!o->max_connections)
		o->max_connections = HTTP_DEF_MAX_CONNS;
	if (!o->stream_queue_bytes)
		o->stream_queue_bytes = HTTP_DEF_STREAM_QUEUE;
	if (!o->max_stream_body_bytes)
		o->max_stream_body_bytes = HTTP_DEF_MAX_STREAM_BODY;
	s->port = o->port;
	if (loop) {
		uv_tcp_init(loop, &s->listener);
		uv_prepare_init(loop, &s->flush_prepare);
		uv_check_init(loop, &s->flush_check);
		s->flush_handles = 2;
	}
	return s;
}

static void srv_on_reject_close(uv_handle_t *h)
{
	free(h);
}

static void srv_on_connection(uv_stream_t *l, int status)
{
	struct http_server *srv = container_of(l, struct http_server, listener);
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	struct http_conn *c;

	if (status < 0) {
		log_warn("http", "accept failed: %s", uv_strerror(status));
		return;
	}
	if (srv->closing)
		return;
	if (srv->nconns >= srv->opts.max_connections) {
		uv_tcp_t *t = xmalloc(sizeof(*t));
		uv_tcp_init(srv->loop, t);
		if (uv_accept(l, (uv_stream_t *)t) == 0)
			log_warn("http",
			         "max=%zu rejected connection: too many "
			         "connections",
			         srv->opts.max_connections);
		uv_close((uv_handle_t *)t, srv_on_reject_close);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	uv_tcp_init(srv->loop, &c->tcp);
	uv_timer_init(srv->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	llhttp_init(&c->parser, HTTP_REQUEST, &srv_settings);
	c->parser.data = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_format(&ss, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "?");
	conn_timer(c, srv->opts.idle_timeout_ms);
	conn_read_start(c);
}

int http_server_listen(struct http_server *s, struct err *e)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	int rc;

	if (addr_numeric(s->ip, s->opts.port, &ss) < 0)
		return err_set(e,
		               "ip: '%s' is not a numeric IPv4 or IPv6 "
		               "address",
		               s->ip);
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG,
		               srv_on_connection);
	if (rc < 0) {
		err_set(e, "cannot listen on '%s:%d': %s", s->ip, s->opts.port,
		        uv_strerror(rc));
		return rc;
	}
	rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &sl);
	if (rc == 0)
		s->port = ntohs(ss.ss_family == AF_INET6
		                    ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                    : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

int http_server_write_port_file(const struct http_server *s, const char *path,
                                struct err *e)
{
	char *tmp = xasprintf("%s.tmp", path);
	char text[16];
	int n = snprintf(text, sizeof(text), "%d\n", http_server_port(s));
	int fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		err_set(e, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, text, (size_t)n) != n || fsync(fd)) {
		rc = errno ? -errno : -EIO;
		err_set(e, "cannot write '%s': %s", tmp, strerror(-rc));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		rc = -errno;
		err_set(e, "cannot rename '%s' to '%s': %s", tmp, path,
		        strerror(errno));
		unlink(tmp);
	}
out:
	free(tmp);
	return rc;
}

size_t http_server_connections(const struct http_server *s)
{
	return s->nconns;
}

static void srv_on_listener_close(uv_handle_t *h)
{
	struct http_server *s =
	    container_of((uv_tcp_t *)h, struct http_server, listener);
	s->listener_closed = true;
	srv_maybe_free(s);
}

static void srv_on_flush_handle_close(uv_handle_t *h)
{
	struct http_server *s = h->data;
	s->flush_handles--;
	srv_maybe_free(s);
}

void http_server_close(struct http_server *s)
{
	struct http_conn *c;

	if (!s || s->closing)
		return;
	s->closing = true;
	for (c = s->conns; c; c = c->next) {
		conn_set_abort_err(c, -ECANCELED);
		conn_close(c);
	}
	s->flush_prepare.data = s;
	s->flush_check.data = s;
	uv_close((uv_handle_t *)&s->flush_prepare, srv_on_flush_handle_close);
	uv_close((uv_handle_t *)&s->flush_check, srv_on_flush_handle_close);
	uv_close((uv_handle_t *)&s->listener, srv_on_listener_close);
}

size_t http_server_peak_input(const struct http_server *s)
{
	return s->peak_input;
}

uint64_t http_server_socket_writes(const struct http_server *s)
{
	return s->socket_writes;
}

int http_server_set_stream_route(struct http_server *s, const char *path_prefix,
                                 http_body_start_fn *start, void *arg)
{
	size_t i;

	if (!path_prefix || path_prefix[0] != '/')
		return -EINVAL;
	for (i = 0; i < s->nroutes; i++)
		if (streq(s->routes[i].prefix, path_prefix))
			break;
	if (!start) {
		if (i < s->nroutes) {
			free(s->routes[i].prefix);
			s->routes[i] = s->routes[--s->nroutes];
		}
		return 0;
	}
	if (i == s->nroutes) {
		ALLOC_GROW(s->routes, s->nroutes + 1, s->routes_cap);
		s->routes[i].prefix = xstrdup(path_prefix);
		s->nroutes++;
	}
	s->routes[i].start = start;
	s->routes[i].arg = arg;
	return 0;
}

const char *http_request_header(const struct http_request *req,
                                const char *name)
{
	return headers_find(req->headers, req->nheaders, name);
}

char *http_request_query(const struct http_request *req, const char *name)
{
	const char *q = req->query;
	size_t nlen = strlen(name);

	while (q && *q) {
		const char *end = strchr(q, '&');
		const char *eq;
		size_t len = end ? (size_t)(end - q) : strlen(q);
		char *key;
		bool match;

		eq = memchr(q, '=', len);
		key = query_decode(q, eq ? (size_t)(eq - q) : len);
		match = strlen(key) == nlen && !memcmp(key, name, nlen);
		free(key);
		if (match)
			return eq ? query_decode(eq + 1,
			                         len - (size_t)(eq - q) - 1)
			          : xstrdup("");
		q = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Appends text with CR and LF replaced, so no header can be injected. */
static void buf_add_header_text(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_addc(b, (*s == '\r' || *s == '\n') ? ' ' : *s);
}

void http_request_add_header(struct http_request *req, const char *name,
                             const char *value)
{
	buf_add_header_text(&req->resp_headers, name);
	buf_adds(&req->resp_headers, ": ");
	buf_add_header_text(&req->resp_headers, value);
	buf_adds(&req->resp_headers, "\r\n");
}

/* Marks the request answered and decides what the connection does next. */
static void req_after_response(struct http_req_priv *r, bool keep_alive)
{
	struct http_conn *c = r->req.conn;

	r->responded = true;
	if (!c)
		return;
	if (c->outstanding == r)
		c->outstanding = NULL;
	r->req.conn = NULL;
	if (c->state != CONN_READING)
		return;
	if (!keep_alive) {
		conn_flush_close(c);
		return;
	}
	if (r->in_handler) {
		conn_timer(c, c->srv->opts.idle_timeout_ms);
	} else if (!c->sink) {
		/* Not from inside our parsing: resume from the loop. */
		uv_timer_start(&c->timer, conn_on_resume_timer, 0, 0);
	}
}

static void respond(struct http_request *req, int status,
                    const char *content_type, const void *body, size_t len,
                    char *take)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);
	struct http_conn *c = req->conn;
	struct buf *o;
	size_t before;
	bool keep_alive = r->keep_alive;
	bool inline_body = !take || len <= 16 * 1024;

	BUG_ON(r->responded);
	if (!c || c->state != CONN_READING) {
		free(take);
		req_after_response(r, false);
		goto out_free;
	}
	if (c->srv->closing)
		keep_alive = false;
	if (r->in_body) {
		/* Answered before its body ended: no more body callbacks;
		 * what is left of the body is discarded by closing. */
		c->body_paused = false;
		if (r->has_body)
			keep_alive = false;
	}
	/* Formatted straight into the connection's pending output. */
	o = conn_out_buf(c);
	before = o->len;
	buf_addf(o, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	if (req->resp_headers.len)
		buf_add(o, req->resp_headers.data, req->resp_headers.len);
	if (content_type) {
		buf_adds(o, "Content-Type: ");
		buf_add_header_text(o, content_type);
		buf_adds(o, "\r\n");
	}
	buf_addf(o, "Content-Length: %zu\r\n", len);
	if (!keep_alive)
		buf_adds(o, "Connection: close\r\n");
	else if (r->http10)
		buf_adds(o, "Connection: keep-alive\r\n");
	buf_adds(o, "\r\n");
	if (streq(req->method, "HEAD")) {
		/* The length of what GET would send, and no body. */
		len = 0;
		inline_body = true;
	}
	if (inline_body) {
		if (len)
			buf_add(o, body, len);
		free(take);
		conn_out_commit(c, before);
	} else {
		/* A large body goes out behind the headers, uncopied. */
		conn_out_commit(c, before);
		conn_write_take(c, take, len);
	}
	req_after_response(r, keep_alive);
out_free:
	req_release(r);
}

void http_respond(struct http_request *req, int status,
                  const char *content_type, const void *body, size_t len)
{
	respond(req, status, content_type, body, len, NULL);
}

void http_respond_buf(struct http_request *req, int status,
                      const char *content_type, struct buf *b)
{
	size_t len;
	char *data = buf_detach(b, &len);
	respond(req, status, content_type, data, len, data);
}

void http_respond_error(struct http_request *req, int status, const char *fmt,
                        ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_addc(&b, '\n');
	http_respond_buf(req, status, "text/plain", &b);
}

void http_request_defer(struct http_request *req)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);
	BUG_ON(!r->in_handler);
	r->deferred = true;
}

/* ---- server: streamed request bodies ------------------------------------ */

void http_request_accept_body(struct http_request *req,
                              const struct http_body_ops *ops, void *arg)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);

	BUG_ON(!r->in_start || r->responded || !ops || !ops->on_body ||
	       !ops->on_end);
	r->ops = *ops;
	r->body_arg = arg;
	r->accepted = true;
}

void http_request_pause(struct http_request *req)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);
	struct http_conn *c = req->conn;

	if (!req_awaits_body(r) || !c)
		return;
	c->body_paused = true;
	/* Inside our callback conn_execute stops after it returns. */
	if (!r->in_handler)
		conn_read_stop(c);
}

void http_request_resume(struct http_request *req)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);
	struct http_conn *c = req->conn;

	if (!req_awaits_body(r) || !c || !c->body_paused)
		return;
	c->body_paused = false;
	if (r->in_handler || c->sink || c->state != CONN_READING)
		return;
	/* Held input is delivered from the loop, not inside this call. */
	uv_timer_start(&c->timer, conn_on_resume_timer, 0, 0);
}

/* ---- server: streams --------------------------------------------------- */

struct http_stream *http_stream_begin(struct http_request *req, int status,
                                      const char *content_type,
                                      http_stream_close_fn *on_close, void *arg)
{
	struct http_req_priv *r = container_of(req, struct http_req_priv, req);
	struct http_conn *c = req->conn;
	struct http_stream *st = xcalloc(1, sizeof(*st));
	struct buf h = BUF_INIT;

	BUG_ON(r->responded);
	st->on_close = on_close;
	st->arg = arg;
	st->chunked = !r->http10;
	r->responded = true;
	if (!c || c->state != CONN_READING) {
		/* Nothing to stream to: the callback still runs, later. */
		st->ending = true;
		st->conn = NULL;
		if (c) {
			if (c->outstanding == r)
				c->outstanding = NULL;
			req->conn = NULL;
		}
		free(st);
		st = NULL;
		goto out;
	}
	if (c->outstanding == r)
		c->outstanding = NULL;
	req->conn = NULL;
	st->conn = c;
	c->stream = st;
	buf_addf(&h, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	if (req->resp_headers.len)
		buf_add(&h, req->resp_headers.data, req->resp_headers.len);
	if (content_type) {
		buf_adds(&h, "Content-Type: ");
		buf_add_header_text(&h, content_type);
		buf_adds(&h, "\r\n");
	}
	if (st->chunked)
		buf_adds(&h, "Transfer-Encoding: chunked\r\n");
	else
		buf_adds(&h, "Connection: close\r\n");
	buf_adds(&h, "\r\n");
	c->state = CONN_STREAMING;
	buf_reset(&c->in);
	conn_timer_stop(c);
	conn_write_copy(c, h.data, h.len);
	buf_release(&h);
	if (c->state == CONN_STREAMING)
		conn_read_start(c);
out:
	req_release(r);
	return st;
}

static bool stream_is_open(const struct http_stream *s)
{
	return s && s->conn && !s->ending && s->conn->state == CONN_STREAMING;
}

/* Appends one chunk (framed when chunked) to the pending output. */
static void stream_queue(struct http_stream *s, const void *data, size_t len)
{
	struct http_conn *c = s->conn;
	struct buf *o = conn_out_buf(c);
	size_t before;

	if (!len || !o)
		return;
	before = o->len;
	if (s->chunked)
		buf_addf(o, "%zx\r\n", len);
	buf_add(o, data, len);
	if (s->chunked)
		buf_add(o, "\r\n", 2);
	conn_out_commit(c, before);
}

int http_stream_write(struct http_stream *s, const void *data, size_t len)
{
	struct http_conn *c;
	size_t bound;

	if (!stream_is_open(s))
		return -EPIPE;
	c = s->conn;
	bound = c->srv->opts.stream_queue_bytes;
	/* Only what the kernel will not take counts against the bound:
	 * pending bytes go to the socket before a write is refused. */
	if (c->out_bytes + len > bound && c->out.len && !c->sink) {
		conn_out_send(c, NULL, 0);
		if (!stream_is_open(s))
			return -EPIPE;
	}
	if (c->out_bytes + len > bound)
		return -ENOBUFS;
	stream_queue(s, data, len);
	return stream_is_open(s) ? 0 : -EPIPE;
}

size_t http_stream_queued(const struct http_stream *s)
{
	return s && s->conn ? s->conn->out_bytes : 0;
}

void http_stream_end_with(struct http_stream *s, const void *data, size_t len)
{
	struct http_conn *c;

	if (!stream_is_open(s))
		return;
	c = s->conn;
	stream_queue(s, data, len);
	if (c->state != CONN_STREAMING)
		return;
	s->ending = true;
	if (s->chunked)
		conn_write_copy(c, "0\r\n\r\n", 5);
	conn_flush_close(c);
}

void http_stream_end(struct http_stream *s)
{
	http_stream_end_with(s, NULL, 0);
}

/* ---- fuzzing entry ----------------------------------------------------- */

/* What the fuzz handlers count, so that the entry can check invariants. */
struct fuzz_state {
	int streams_closed;
	int uploads_live; /* accepted bodies not yet ended or aborted */
};

struct fuzz_upload {
	struct fuzz_state *st;
	uint64_t len;
	uint32_t hash; /* FNV-1a: the same however the body is cut */
	bool reject_late;
};

static void fuzz_stream_closed(struct http_stream *s, void *arg)
{
	struct fuzz_state *st = arg;
	(void)s;
	st->streams_closed++;
}

static void fuzz_upload_free(struct fuzz_upload *u)
{
	u->st->uploads_live--;
	free(u);
}

static void fuzz_upload_body(struct http_request *req, const char *data,
                             size_t len, void *arg)
{
	struct fuzz_upload *u = arg;

	if (u->reject_late) {
		fuzz_upload_free(u);
		http_respond_error(req, 403, "rejected at the first piece");
		return;
	}
	for (size_t i = 0; i < len; i++)
		u->hash = (u->hash ^ (uint8_t)data[i]) * 16777619u;
	u->len += len;
	/* Exercise backpressure: no effect on the output. */
	http_request_pause(req);
	http_request_resume(req);
}

static void fuzz_upload_end(struct http_request *req, void *arg)
{
	struct fuzz_upload *u = arg;
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s %s len=%" PRIu64 " fnv=%08" PRIx32 "\n", req->method,
	         req->path, u->len, u->hash);
	fuzz_upload_free(u);
	http_respond_buf(req, 200, "text/plain", &b);
}

static void fuzz_upload_abort(struct http_request *req, int err, void *arg)
{
	(void)req;
	(void)err;
	fuzz_upload_free(arg);
}

static void fuzz_upload_start(struct http_request *req, void *arg)
{
	static const struct http_body_ops ops = {
	    .on_body = fuzz_upload_body,
	    .on_end = fuzz_upload_end,
	    .on_abort = fuzz_upload_abort,
	};
	struct fuzz_state *st = arg;
	struct fuzz_upload *u;

	if (streq(req->path, "/up/deny")) {
		http_respond_error(req, 403, "uploads denied");
		return;
	}
	if (streq(req->path, "/up/none"))
		return;
	u = xcalloc(1, sizeof(*u));
	u->st = st;
	u->hash = 2166136261u;
	u->reject_late = streq(req->path, "/up/late");
	st->uploads_live++;
	http_request_accept_body(req, &ops, u);
}

static void fuzz_handler(struct http_request *req, void *arg)
{
	struct buf b = BUF_INIT;
	char *v;

	if (streq(req->path, "/stream")) {
		struct http_stream *s = http_stream_begin(
		    req, 200, "application/json", fuzz_stream_closed, arg);
		if (http_stream_write(s, "2\n{}", 4) == 0 &&
		    http_stream_write(s, req->body, req->body_len) == 0)
			http_stream_end_with(s, "1\n1", 3);
		return;
	}
	buf_addf(&b, "%s %s\n", req->method, req->path);
	for (size_t i = 0; i < req->nheaders; i++)
		buf_addf(&b, "%s=%s\n", req->headers[i].name,
		         req->headers[i].value);
	v = http_request_query(req, "q");
	if (v)
		buf_addf(&b, "q=%s\n", v);
	free(v);
	buf_add(&b, req->body, req->body_len);
	http_request_add_header(req, "X-Len", "1");
	http_respond_buf(req, 200, "text/plain", &b);
}

void http_fuzz_server_input(const char *data, size_t len, size_t split,
                            struct buf *out)
{
	struct http_server_opts o = {
	    .max_header_bytes = 4096,
	    .max_body_bytes = 64 * 1024,
	    .max_stream_body_bytes = 128 * 1024,
	};
	struct fuzz_state st = {0};
	struct http_server *srv = http_server_new(NULL, &o, fuzz_handler, &st);
	struct http_conn *c = xcalloc(1, sizeof(*c));
	size_t off = 0;

	BUG_ON(http_server_set_stream_route(srv, "/up", fuzz_upload_start,
	                                    &st) < 0);

	c->srv = srv;
	c->sink = out;
	snprintf(c->peer, sizeof(c->peer), "fuzz");
	llhttp_init(&c->parser, HTTP_REQUEST, &srv_settings);
	c->parser.data = c;
	if (!split)
		split = len ? len : 1;
	while (off < len && c->state == CONN_READING) {
		size_t n = MIN(split, len - off);
		conn_process(c, data + off, n);
		off += n;
		/* Nothing is ever outstanding: writes complete at once, and
		 * bodies are never left paused. */
		while (c->state == CONN_READING &&
		       (c->in.len || c->parse_pending))
			conn_resume(c);
	}
	conn_close(c);
	conn_destroy(c);
	BUG_ON(st.streams_closed > 1);
	BUG_ON(st.uploads_live != 0);
	srv_free(srv);
}

/* ---- client: connections ---------------------------------------------- */

struct http_cconn;

struct http_cconn_ops {
	void (*on_connect)(struct http_cconn *cc, int status);
	/* Return non-zero to stop (set cc->err first). */
	int (*on_headers)(struct http_cconn *cc);
	int (*on_body)(struct http_cconn *cc, const char *data, size_t len);
	void (*on_complete)(struct http_cconn *cc);
	void (*on_error)(struct http_cconn *cc, int err);
};

struct http_cconn {
	uv_tcp_t tcp;
	uv_connect_t connect;
	llhttp_t parser;
	const struct http_cconn_ops *ops;
	void *owner; /* NULL once released */
	struct http_hdrs hdrs;
	struct http_response resp;
	char *hdr_strs;
	char rbuf[HTTP_READ_BUF];
	int err;        /* set by ops to fail parsing */
	size_t nserved; /* complete responses on this connection */
	bool connected;
	bool closing;
	bool got_bytes; /* of the current response */
	bool complete;
	bool informational;
	bool reusable;
};

static void cconn_on_close(uv_handle_t *h)
{
	struct http_cconn *cc =
	    container_of((uv_tcp_t *)h, struct http_cconn, tcp);
	hdrs_release(&cc->hdrs);
	free(cc->resp.headers);
	free(cc->hdr_strs);
	free(cc);
}

/* The owner lets go: no op runs again; memory goes in the close cb. */
static void cconn_release(struct http_cconn *cc)
{
	if (!cc)
		return;
	cc->owner = NULL;
	cc->ops = NULL;
	if (!cc->closing) {
		cc->closing = true;
		uv_close((uv_handle_t *)&cc->tcp, cconn_on_close);
	}
}

static void cconn_reset_message(struct http_cconn *cc)
{
	hdrs_release(&cc->hdrs);
	free(cc->resp.headers);
	free(cc->hdr_strs);
	memset(&cc->resp, 0, sizeof(cc->resp));
	cc->hdr_strs = NULL;
	cc->got_bytes = false;
	cc->complete = false;
	cc->informational = false;
}

static int cli_on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_cconn *cc = p->data;
	if (cc->hdrs.strs.len + len > HTTP_CLIENT_MAX_HEADER) {
		cc->err = -EMSGSIZE;
		return -1;
	}
	hdrs_field(&cc->hdrs, at, len);
	return 0;
}

static int cli_on_header_field_complete(llhttp_t *p)
{
	struct http_cconn *cc = p->data;
	hdrs_field_done(&cc->hdrs);
	return 0;
}

static int cli_on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_cconn *cc = p->data;
	if (cc->hdrs.strs.len + len > HTTP_CLIENT_MAX_HEADER) {
		cc->err = -EMSGSIZE;
		return -1;
	}
	hdrs_value(&cc->hdrs, at, len);
	return 0;
}

static int cli_on_header_value_complete(llhttp_t *p)
{
	struct http_cconn *cc = p->data;
	hdrs_value_done(&cc->hdrs);
	return 0;
}

static int cli_on_headers_complete(llhttp_t *p)
{
	struct http_cconn *cc = p->data;
	int status = llhttp_get_status_code(p);

	if (status >= 100 && status < 200 && status != 101) {
		cc->informational = true;
		hdrs_release(&cc->hdrs);
		return 0;
	}
	cc->resp.status = status;
	cc->resp.headers =
	    hdrs_finish(&cc->hdrs, &cc->resp.nheaders, &cc->hdr_strs);
	cc->resp.body = (char *)"";
	if (!cc->owner || cc->ops->on_headers(cc) || !cc->owner)
		return -1;
	return 0;
}

static int cli_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct http_cconn *cc = p->data;
	if (!cc->owner || cc->ops->on_body(cc, at, len) || !cc->owner)
		return HPE_USER;
	return 0;
}

static int cli_on_message_complete(llhttp_t *p)
{
	struct http_cconn *cc = p->data;

	if (cc->informational) {
		cc->informational = false;
		return 0;
	}
	cc->complete = true;
	cc->reusable = llhttp_should_keep_alive(p);
	return HPE_PAUSED;
}

static const llhttp_settings_t cli_settings = {
    .on_header_field = cli_on_header_field,
    .on_header_field_complete = cli_on_header_field_complete,
    .on_header_value = cli_on_header_value,
    .on_header_value_complete = cli_on_header_value_complete,
    .on_headers_complete = cli_on_headers_complete,
    .on_body = cli_on_body,
    .on_message_complete = cli_on_message_complete,
};

static void cconn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct http_cconn *cc =
	    container_of((uv_tcp_t *)h, struct http_cconn, tcp);
	(void)hint;
	b->base = cc->rbuf;
	b->len = sizeof(cc->rbuf);
}

/* A response is complete: hand it over with the parser ready again. */
static void cconn_complete(struct http_cconn *cc, bool leftover)
{
	cc->nserved++;
	if (leftover)
		cc->reusable = false;
	llhttp_init(&cc->parser, HTTP_RESPONSE, &cli_settings);
	cc->parser.data = cc;
	cc->ops->on_complete(cc);
}

static void cconn_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
	struct http_cconn *cc =
	    container_of((uv_tcp_t *)h, struct http_cconn, tcp);
	llhttp_errno_t rc;

	if (!cc->owner || nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && cc->got_bytes &&
		    llhttp_message_needs_eof(&cc->parser)) {
			rc = llhttp_finish(&cc->parser);
			if (!cc->owner)
				return;
			if (cc->complete) {
				cc->reusable = false;
				cconn_complete(cc, false);
				return;
			}
			if (rc != HPE_OK) {
				cc->ops->on_error(cc,
				                  cc->err ? cc->err : -EPROTO);
				return;
			}
		}
		cc->ops->on_error(cc,
		                  nread == UV_EOF ? -ECONNRESET : (int)nread);
		return;
	}
	cc->got_bytes = true;
	rc = llhttp_execute(&cc->parser, b->base, (size_t)nread);
	if (!cc->owner)
		return;
	if (rc == HPE_PAUSED && cc->complete) {
		const char *pos = llhttp_get_error_pos(&cc->parser);
		cconn_complete(cc, pos < b->base + nread);
		return;
	}
	if (rc != HPE_OK)
		cc->ops->on_error(cc, cc->err ? cc->err : -EPROTO);
}

static void cconn_on_connect(uv_connect_t *req, int status)
{
	struct http_cconn *cc = container_of(req, struct http_cconn, connect);

	if (!cc->owner)
		return;
	if (status == 0) {
		cc->connected = true;
		status = uv_read_start((uv_stream_t *)&cc->tcp, cconn_on_alloc,
		                       cconn_on_read);
	}
	cc->ops->on_connect(cc, status);
}

/* Starts connecting; returns the new connection or NULL with *err. */
static struct http_cconn *cconn_open(uv_loop_t *loop,
                                     const struct sockaddr_storage *ss,
                                     const struct http_cconn_ops *ops,
                                     void *owner, int *err)
{
	struct http_cconn *cc = xcalloc(1, sizeof(*cc));
	int rc;

	cc->ops = ops;
	cc->owner = owner;
	llhttp_init(&cc->parser, HTTP_RESPONSE, &cli_settings);
	cc->parser.data = cc;
	uv_tcp_init(loop, &cc->tcp);
	uv_tcp_nodelay(&cc->tcp, 1);
	rc = uv_tcp_connect(&cc->connect, &cc->tcp, (const struct sockaddr *)ss,
	                    cconn_on_connect);
	if (rc < 0) {
		cconn_release(cc);
		*err = rc;
		return NULL;
	}
	return cc;
}

struct cconn_wreq {
	uv_write_t req;
	struct http_cconn *cc;
	char data[];
};

static void cconn_on_write(uv_write_t *w, int status)
{
	struct cconn_wreq *wr = container_of(w, struct cconn_wreq, req);
	struct http_cconn *cc = wr->cc;

	free(wr);
	if (status < 0 && cc->owner)
		cc->ops->on_error(cc, status);
}

/* Sends a copy of data; errors arrive through ops->on_error, later. */
static int cconn_send(struct http_cconn *cc, const char *data, size_t len)
{
	struct cconn_wreq *wr = xmalloc(sizeof(*wr) + len);
	uv_buf_t b;
	int rc;

	memcpy(wr->data, data, len);
	wr->cc = cc;
	b = uv_buf_init(wr->data, (unsigned)len);
	cconn_reset_message(cc);
	rc = uv_write(&wr->req, (uv_stream_t *)&cc->tcp, &b, 1, cconn_on_write);
	if (rc < 0)
		free(wr);
	return rc;
}

/* ---- client: name resolution ------------------------------------------ */

typedef void gai_done_fn(void *owner, int status,
                         const struct sockaddr_storage *ss);

struct http_gai {
	uv_getaddrinfo_t req;
	gai_done_fn *done;
	void *owner; /* NULL once the owner went away */
	int port;
};

static void gai_on_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct http_gai *g = container_of(req, struct http_gai, req);
	struct sockaddr_storage ss;
	const struct addrinfo *pick = NULL;

	memset(&ss, 0, sizeof(ss));
	if (status == 0) {
		for (const struct addrinfo *a = res; a; a = a->ai_next) {
			if (a->ai_family == AF_INET) {
				pick = a;
				break;
			}
			if (a->ai_family == AF_INET6 && !pick)
				pick = a;
		}
	}
	if (pick && pick->ai_addrlen <= sizeof(ss)) {
		memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)g->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)g->port);
	}
	uv_freeaddrinfo(res);
	if (g->owner)
		g->done(g->owner, pick ? 0 : -EHOSTUNREACH, &ss);
	free(g);
}

static struct http_gai *gai_start(uv_loop_t *loop, const char *host, int port,
                                  gai_done_fn *done, void *owner, int *err)
{
	struct http_gai *g = xcalloc(1, sizeof(*g));
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	g->done = done;
	g->owner = owner;
	g->port = port;
	rc = uv_getaddrinfo(loop, &g->req, gai_on_done, host, NULL, &hints);
	if (rc < 0) {
		free(g);
		*err = -EHOSTUNREACH;
		return NULL;
	}
	return g;
}

/* ---- client: requests -------------------------------------------------- */

const char *http_response_header(const struct http_response *resp,
                                 const char *name)
{
	return headers_find(resp->headers, resp->nheaders, name);
}

/* Serialises a request; host_hdr is "host:port" as sent in Host. */
static char *request_wire(const struct http_client_req *req,
                          const char *host_hdr, size_t *len)
{
	struct buf b = BUF_INIT;
	const char *method = req->method;

	if (!method)
		method = req->body ? "POST" : "GET";
	buf_addf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method,
	         req->path ? req->path : "/", host_hdr);
	if (req->content_type) {
		buf_adds(&b, "Content-Type: ");
		buf_add_header_text(&b, req->content_type);
		buf_adds(&b, "\r\n");
	}
	if (req->accept) {
		buf_adds(&b, "Accept: ");
		buf_add_header_text(&b, req->accept);
		buf_adds(&b, "\r\n");
	}
	for (const char *const *h = req->headers; h && *h; h++) {
		buf_add_header_text(&b, *h);
		buf_adds(&b, "\r\n");
	}
	if (req->body || strcmp(method, "GET"))
		buf_addf(&b, "Content-Length: %zu\r\n", req->body_len);
	buf_adds(&b, "\r\n");
	if (req->body_len)
		buf_add(&b, req->body, req->body_len);
	return buf_detach(&b, len);
}

static char *host_header(const char *host, int port)
{
	if (strchr(host, ':'))
		return xasprintf("[%s]:%d", host, port);
	return xasprintf("%s:%d", host, port);
}

struct http_creq {
	struct http_creq *next;
	char *wire;
	size_t wire_len;
	uint64_t timeout_ms;
	size_t max_body;
	http_response_fn *cb;
	void *arg;
	bool retried;
};

struct http_client {
	uv_loop_t *loop;
	char *host;
	char *host_hdr;
	int port;
	struct sockaddr_storage addr;
	bool have_addr;
	struct http_gai *gai;
	struct http_cconn *cc;
	struct http_creq *head; /* head is in flight when busy */
	struct http_creq **tailp;
	bool busy;
	bool freed;
	int pending_err; /* delivered from the timer (never synchronously) */
	uv_timer_t timer;
	struct buf body;
};

static void client_kick(struct http_client *c);
static void client_connect(struct http_client *c);

static void creq_free(struct http_creq *q)
{
	if (!q)
		return;
	free(q->wire);
	free(q);
}

/* Completes the in-flight request (resp NULL on error). */
static void client_finish(struct http_client *c, struct http_response *resp,
                          int err)
{
	struct http_creq *q = c->head;

	uv_timer_stop(&c->timer);
	c->head = q->next;
	if (!c->head)
		c->tailp = &c->head;
	/* Still busy during the callback: a request queued from it must not
	 * reuse the connection (and its headers) before we return. */
	if (q->cb)
		q->cb(resp, err, q->arg);
	creq_free(q);
	if (c->freed)
		return;
	c->busy = false;
	buf_reset(&c->body);
	client_kick(c);
}

static void client_fail(struct http_client *c, int err)
{
	cconn_release(c->cc);
	c->cc = NULL;
	buf_reset(&c->body);
	if (c->busy)
		client_finish(c, NULL, err);
}

static void client_on_timeout(uv_timer_t *t)
{
	struct http_client *c = container_of(t, struct http_client, timer);
	int err = c->pending_err ? c->pending_err : -ETIMEDOUT;

	c->pending_err = 0;
	client_fail(c, err);
}

/* Reports err from the loop, never from inside the caller's call. */
static void client_fail_later(struct http_client *c, int err)
{
	c->pending_err = err;
	uv_timer_start(&c->timer, client_on_timeout, 0, 0);
}

static void client_send(struct http_client *c)
{
	int rc = cconn_send(c->cc, c->head->wire, c->head->wire_len);
	if (rc < 0)
		client_fail_later(c, rc);
}

static void client_on_connect(struct http_cconn *cc, int status)
{
	struct http_client *c = cc->owner;

	if (status < 0) {
		client_fail(c, status);
		return;
	}
	if (c->busy)
		client_send(c);
}

static int client_on_headers(struct http_cconn *cc)
{
	struct http_client *c = cc->owner;

	if (c->busy && (cc->parser.flags & F_CONTENT_LENGTH) &&
	    cc->parser.content_length > c->head->max_body) {
		cc->err = -EMSGSIZE;
		return -1;
	}
	return 0;
}

static int client_on_body(struct http_cconn *cc, const char *data, size_t len)
{
	struct http_client *c = cc->owner;

	if (!c->busy) {
		cc->err = -EPROTO;
		return -1;
	}
	if (c->body.len + len > c->head->max_body) {
		cc->err = -EMSGSIZE;
		return -1;
	}
	buf_add(&c->body, data, len);
	return 0;
}

static void client_on_complete(struct http_cconn *cc)
{
	struct http_client *c = cc->owner;
	struct http_response resp;

	if (!c->busy) {
		client_fail(c, -EPROTO);
		return;
	}
	resp = cc->resp;
	resp.body = c->body.data ? c->body.data : (char *)"";
	resp.body_len = c->body.len;
	if (!cc->reusable) {
		/* The headers live in cc, which outlives this callback. */
		c->cc = NULL;
		cconn_release(cc);
	}
	client_finish(c, &resp, 0);
}

static void client_on_error(struct http_cconn *cc, int err)
{
	struct http_client *c = cc->owner;
	struct http_creq *q = c->head;

	if (c->busy && q && !q->retried && cc->nserved > 0 && !cc->got_bytes &&
	    (err == -ECONNRESET || err == -EPIPE)) {
		/* A reused idle connection the server had closed: once more
		 * on a fresh one. */
		q->retried = true;
		cconn_release(cc);
		c->cc = NULL;
		client_connect(c);
		return;
	}
	client_fail(c, err);
}

static const struct http_cconn_ops client_ops = {
    .on_connect = client_on_connect,
    .on_headers = client_on_headers,
    .on_body = client_on_body,
    .on_complete = client_on_complete,
    .on_error = client_on_error,
};

static void client_on_resolved(void *owner, int status,
                               const struct sockaddr_storage *ss)
{
	struct http_client *c = owner;

	c->gai = NULL;
	if (status < 0) {
		client_fail(c, status);
		return;
	}
	c->addr = *ss;
	c->have_addr = true;
	client_connect(c);
}

static void client_connect(struct http_client *c)
{
	int err = 0;

	if (c->gai)
		return;
	if (!c->have_addr) {
		c->gai = gai_start(c->loop, c->host, c->port,
		                   client_on_resolved, c, &err);
		if (!c->gai)
			client_fail_later(c, err);
		return;
	}
	c->cc = cconn_open(c->loop, &c->addr, &client_ops, c, &err);
	if (!c->cc)
		client_fail_later(c, err);
}

static void client_kick(struct http_client *c)
{
	if (c->busy || !c->head || c->freed)
		return;
	c->busy = true;
	buf_reset(&c->body);
	if (c->head->timeout_ms)
		uv_timer_start(&c->timer, client_on_timeout,
		               c->head->timeout_ms, 0);
	if (c->cc && c->cc->connected)
		client_send(c);
	else if (!c->cc)
		client_connect(c);
}

struct http_client *http_client_new(uv_loop_t *loop, const char *host, int port)
{
	struct http_client *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->host = xstrdup(host);
	c->port = port;
	c->host_hdr = host_header(host, port);
	c->tailp = &c->head;
	c->have_addr = addr_numeric(host, port, &c->addr) == 0;
	uv_timer_init(loop, &c->timer);
	return c;
}

static void client_on_timer_close(uv_handle_t *h)
{
	struct http_client *c =
	    container_of((uv_timer_t *)h, struct http_client, timer);
	free(c->host);
	free(c->host_hdr);
	buf_release(&c->body);
	free(c);
}

void http_client_free(struct http_client *c)
{
	struct http_creq *q, *next;

	if (!c || c->freed)
		return;
	c->freed = true;
	for (q = c->head; q; q = next) {
		next = q->next;
		creq_free(q);
	}
	c->head = NULL;
	c->tailp = &c->head;
	c->busy = false;
	if (c->gai)
		c->gai->owner = NULL;
	c->gai = NULL;
	cconn_release(c->cc);
	c->cc = NULL;
	uv_close((uv_handle_t *)&c->timer, client_on_timer_close);
}

void http_client_request(struct http_client *c,
                         const struct http_client_req *req,
                         http_response_fn *cb, void *arg)
{
	struct http_creq *q = xcalloc(1, sizeof(*q));

	BUG_ON(c->freed);
	q->wire = request_wire(req, c->host_hdr, &q->wire_len);
	q->timeout_ms = req->timeout_ms;
	q->max_body = req->max_body_bytes ? req->max_body_bytes
	                                  : HTTP_CLIENT_DEF_MAX_BODY;
	q->cb = cb;
	q->arg = arg;
	*c->tailp = q;
	c->tailp = &q->next;
	client_kick(c);
}

/* ---- client: streaming responses --------------------------------------- */

struct http_sub {
	uv_loop_t *loop;
	char *host;
	int port;
	char *wire;
	size_t wire_len;
	uint64_t timeout_ms;
	http_sub_headers_fn *on_headers;
	http_sub_data_fn *on_data;
	http_sub_end_fn *on_end;
	void *arg;
	struct http_gai *gai;
	struct http_cconn *cc;
	uv_timer_t timer;
	int pending_err;
	bool ended;
};

static void sub_on_timer_close(uv_handle_t *h)
{
	struct http_sub *s =
	    container_of((uv_timer_t *)h, struct http_sub, timer);
	free(s->host);
	free(s->wire);
	free(s);
}

static void sub_destroy(struct http_sub *s)
{
	if (s->gai)
		s->gai->owner = NULL;
	s->gai = NULL;
	cconn_release(s->cc);
	s->cc = NULL;
	uv_close((uv_handle_t *)&s->timer, sub_on_timer_close);
}

static void sub_end(struct http_sub *s, int err)
{
	if (s->ended)
		return;
	s->ended = true;
	cconn_release(s->cc);
	s->cc = NULL;
	uv_timer_stop(&s->timer);
	s->on_end(err, s->arg);
	sub_destroy(s);
}

static void sub_on_timeout(uv_timer_t *t)
{
	struct http_sub *s = container_of(t, struct http_sub, timer);
	sub_end(s, s->pending_err ? s->pending_err : -ETIMEDOUT);
}

static void sub_fail_later(struct http_sub *s, int err)
{
	s->pending_err = err;
	uv_timer_start(&s->timer, sub_on_timeout, 0, 0);
}

static void sub_on_connect(struct http_cconn *cc, int status)
{
	struct http_sub *s = cc->owner;

	if (status == 0)
		status = cconn_send(cc, s->wire, s->wire_len);
	if (status < 0)
		sub_end(s, status);
}

static int sub_on_headers(struct http_cconn *cc)
{
	struct http_sub *s = cc->owner;

	if (s->timeout_ms)
		uv_timer_start(&s->timer, sub_on_timeout, s->timeout_ms,
		               s->timeout_ms);
	else
		uv_timer_stop(&s->timer);
	if (s->on_headers)
		s->on_headers(&cc->resp, s->arg);
	return 0;
}

static int sub_on_body(struct http_cconn *cc, const char *data, size_t len)
{
	struct http_sub *s = cc->owner;

	if (s->timeout_ms)
		uv_timer_again(&s->timer);
	if (s->on_data)
		s->on_data(data, len, s->arg);
	return 0;
}

static void sub_on_complete(struct http_cconn *cc)
{
	sub_end(cc->owner, 0);
}

static void sub_on_error(struct http_cconn *cc, int err)
{
	sub_end(cc->owner, err);
}

static const struct http_cconn_ops sub_ops = {
    .on_connect = sub_on_connect,
    .on_headers = sub_on_headers,
    .on_body = sub_on_body,
    .on_complete = sub_on_complete,
    .on_error = sub_on_error,
};

static void sub_connect(struct http_sub *s, const struct sockaddr_storage *ss)
{
	int err = 0;

	s->cc = cconn_open(s->loop, ss, &sub_ops, s, &err);
	if (!s->cc)
		sub_fail_later(s, err);
}

static void sub_on_resolved(void *owner, int status,
                            const struct sockaddr_storage *ss)
{
	struct http_sub *s = owner;

	s->gai = NULL;
	if (status < 0)
		sub_end(s, status);
	else
		sub_connect(s, ss);
}

struct http_sub *http_sub_open(uv_loop_t *loop, const char *host, int port,
                               const struct http_client_req *req,
                               http_sub_headers_fn *on_headers,
                               http_sub_data_fn *on_data,
                               http_sub_end_fn *on_end, void *arg)
{
	struct http_sub *s = xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	char *host_hdr = host_header(host, port);
	int err = 0;

	s->loop = loop;
	s->host = xstrdup(host);
	s->port = port;
	s->wire = request_wire(req, host_hdr, &s->wire_len);
	free(host_hdr);
	s->timeout_ms = req->timeout_ms;
	s->on_headers = on_headers;
	s->on_data = on_data;
	s->on_end = on_end;
	s->arg = arg;
	uv_timer_init(loop, &s->timer);
	if (s->timeout_ms)
		uv_timer_start(&s->timer, sub_on_timeout, s->timeout_ms,
		               s->timeout_ms);
	if (addr_numeric(host, port, &ss) == 0) {
		sub_connect(s, &ss);
	} else {
		s->gai = gai_start(loop, host, port, sub_on_resolved, s, &err);
		if (!s->gai)
			sub_fail_later(s, err);
	}
	return s;
}

void http_sub_close(struct http_sub *s)
{
	if (!s || s->ended)
		return;
	s->ended = true;
	sub_destroy(s);
}

/* ---- addresses --------------------------------------------------------- */

int http_parse_hostport(const char *s, int default_port, char **host, int *port)
{
	const char *h, *end, *colon = NULL, *hend;
	long p = default_port;

	*host = NULL;
	if (!strncasecmp(s, "http://", 7))
		s += 7;
	else if (!strncmp(s, "//", 2))
		s += 2;
	else if (strstr(s, "://"))
		return -EINVAL;
	end = s + strcspn(s, "/?#");
	if (memchr(s, '@', (size_t)(end - s)))
		return -EINVAL;
	if (*s == '[') {
		h = s + 1;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend)
			return -EINVAL;
		if (hend + 1 < end) {
			if (hend[1] != ':')
				return -EINVAL;
			colon = hend + 1;
		}
	} else {
		h = s;
		colon = memchr(s, ':', (size_t)(end - s));
		/* Several colons and no brackets: a bare IPv6 address. */
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			colon = NULL;
		hend = colon ? colon : end;
	}
	if (hend == h)
		return -EINVAL;
	if (colon) {
		char *pe;
		if (colon + 1 == end || colon[1] < '0' || colon[1] > '9')
			return -EINVAL;
		errno = 0;
		p = strtol(colon + 1, &pe, 10);
		if (errno || pe != end)
			return -EINVAL;
	}
	if (p < 1 || p > 65535)
		return -EINVAL;
	*host = xstrndup(h, (size_t)(hend - h));
	*port = (int)p;
	return 0;
}
