/*
 * http.h: HTTP/1.1 server and client on libuv + llhttp.
 *
 * Server: keep-alive, pipelining handled in order (one request at a time per
 * connection), request bodies buffered up to a bound (413 beyond), bounded
 * header size (431), idle and header timeouts (a client that connects and
 * sends nothing is closed after the idle timeout), a cap on connections.
 * Paths registered as stream routes get their request body piece by piece
 * as it arrives instead, with backpressure (see "streaming request bodies").
 * Responses are either complete (http_respond*) or a chunked stream
 * (http_stream_*) with a bounded outbound queue: a subscriber that does not
 * read is never allowed to grow the process's memory. Output is coalesced:
 * what a connection is sent during one loop pass (responses, stream chunks)
 * leaves in one write when the pass ends, before the loop next waits, or
 * sooner past 64 KiB; order on a connection is always kept.
 *
 * Client: a keep-alive connection per struct http_client running requests
 * in order, and struct http_sub for one long-lived streaming response
 * (subscriptions), whose body is handed over as it arrives (de-chunked).
 *
 * Lifetimes (libuv's rule): objects are closed, then freed from close
 * callbacks; after http_client_free() / http_sub_close() / http_server_close()
 * return, no callback of that object runs again.
 */
#ifndef ATOLL_HTTP_H
#define ATOLL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lib/buf.h"

struct err;
struct http_conn;
struct http_server;

struct http_header {
	char *name;
	char *value;
};

struct http_request {
	struct http_conn *conn; /* private */
	const char *method;     /* "GET", "POST", ... (static string) */
	char *target;           /* the raw request target */
	char *path;             /* percent-decoded path, without query */
	char *query;            /* raw query string after '?', or NULL */
	struct http_header *headers;
	size_t nheaders;
	/* NUL-terminated (body[body_len] == 0); never NULL; "" on stream
	 * routes, whose body goes to http_body_ops.on_body instead */
	char *body;
	size_t body_len;
	const char *principal; /* authenticated principal; NULL = anonymous */
	char peer[64];         /* "ip:port" of the client */
	/* response headers added with http_request_add_header(), private */
	struct buf resp_headers;
};

/*
 * A handler must, before it returns, either respond (http_respond*) or turn
 * the request into a stream (http_stream_begin). The request is freed by
 * the server afterwards: do not keep pointers into it.
 */
typedef void http_handler_fn(struct http_request *req, void *arg);

struct http_server_opts {
	const char *ip;             /* default "127.0.0.1" */
	int port;                   /* 0 = pick a free port */
	size_t max_header_bytes;    /* default 64 KiB; beyond: 431 */
	size_t max_body_bytes;      /* default 8 MiB; beyond: 413 */
	uint64_t idle_timeout_ms;   /* default 75 s: no complete request */
	uint64_t header_timeout_ms; /* default 15 s: request must complete */
	size_t max_connections;     /* default 10000; beyond: closed at once */
	size_t stream_queue_bytes;  /* default 16 MiB per streaming response */
	/* Stream routes only (http_server_set_stream_route): default 1 GiB;
	 * beyond: 413; UINT64_MAX for no limit. */
	uint64_t max_stream_body_bytes;
};

/* Case-insensitive lookup; NULL when absent. */
const char *http_request_header(const struct http_request *req,
                                const char *name);
/*
 * Looks up a query parameter and percent-decodes it into a new heap string
 * (caller frees). Returns NULL when absent.
 */
char *http_request_query(const struct http_request *req, const char *name);

struct http_server *http_server_new(uv_loop_t *loop,
                                    const struct http_server_opts *opts,
                                    http_handler_fn *handler, void *arg);
/* Binds and listens. Returns 0 or a negative errno with e set. */
int http_server_listen(struct http_server *s, struct err *e)
    __attribute__((warn_unused_result));
/* The bound port (useful with port 0). */
int http_server_port(const struct http_server *s);
/*
 * Writes the bound port ("<port>\n") to path for scripts and tests
 * (every daemon's --port-file): a temp file, fsync, rename, so a reader
 * never sees a partial file. Returns 0 or a negative errno with e naming
 * the file.
 */
int http_server_write_port_file(const struct http_server *s, const char *path,
                                struct err *e)
    __attribute__((warn_unused_result));
/* Number of open connections (for metrics and tests). */
size_t http_server_connections(const struct http_server *s);
/* Stops listening, closes every connection (streams get their close
 * callback), and frees the server once all handles are closed. */
void http_server_close(struct http_server *s);

/*
 * Called from inside the handler: the handler keeps req and answers later
 * (from any loop callback) with exactly one http_respond* call, which then
 * frees req. The connection reads no further request meanwhile. If the
 * client goes away first, the late response is dropped (req is still
 * freed by it).
 */
void http_request_defer(struct http_request *req);

/* Adds a response header (before http_respond* / http_stream_begin). */
void http_request_add_header(struct http_request *req, const char *name,
                             const char *value);
/* Sends a complete response. body may be NULL when len is 0. */
void http_respond(struct http_request *req, int status,
                  const char *content_type, const void *body, size_t len);
/* Same, taking the buffer's memory (b is left empty). */
void http_respond_buf(struct http_request *req, int status,
                      const char *content_type, struct buf *b);
/* A text/plain error body: the message a user reads, plus a newline. */
void http_respond_error(struct http_request *req, int status, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
/* The standard reason phrase ("Not Found"). */
const char *http_status_text(int status);

/* ---- streaming responses ------------------------------------------------ */

struct http_stream;
/*
 * Called exactly once when the stream is over for any reason: the peer
 * closed, a write failed, the server closed, or http_stream_end(). The
 * stream is freed right after this returns; drop every pointer to it.
 */
typedef void http_stream_close_fn(struct http_stream *s, void *arg);

/*
 * Starts a chunked 'status' response on req's connection and dedicates the
 * connection to it. The request is freed by the server after the handler
 * returns, as usual.
 */
struct http_stream *http_stream_begin(struct http_request *req, int status,
                                      const char *content_type,
                                      http_stream_close_fn *on_close,
                                      void *arg);
/* (Returns NULL, without a close callback, only for a deferred request
 * whose connection is already gone; http_stream_* accept NULL.) */
/*
 * Queues one chunk. Returns 0, or -ENOBUFS when the queued bytes would
 * exceed the bound (nothing queued; the caller should end the stream,
 * typically with http_stream_end_with() and an error event), or -EPIPE
 * when the stream is already closing.
 */
int http_stream_write(struct http_stream *s, const void *data, size_t len)
    __attribute__((warn_unused_result));
/* Bytes queued and not yet written to the socket. */
size_t http_stream_queued(const struct http_stream *s);
/* Ends the response (terminating chunk), then closes the connection. The
 * close callback runs later, from the loop. */
void http_stream_end(struct http_stream *s);
/* Queues data regardless of the bound, then ends as http_stream_end(). */
void http_stream_end_with(struct http_stream *s, const void *data, size_t len);

/* ---- streaming request bodies ------------------------------------------- */

/*
 * A stream route hands a request to the handler as soon as its headers are
 * complete; the body follows piece by piece as it is read, so that an
 * upload of any size costs the server one read buffer (64 KiB), never the
 * whole body. Requests on other paths are buffered as before.
 *
 * Per request, from the loop, never from inside another call of this API:
 *
 *   start(req, arg)                headers complete; req->body is "" and
 *     |                            body_len 0. The start callback either
 *     |                            accepts with http_request_accept_body()
 *     |                            or responds at once (a rejection);
 *     |                            neither is answered with a 500.
 *   ops.on_body(req, data, len)    zero or more times, the body in order,
 *     |                            de-chunked; data is only valid during
 *     |                            the call. Trailers are dropped.
 *   ops.on_end(req)                the body is complete. As in a handler:
 *                                  respond, http_request_defer(), or
 *                                  http_stream_begin() before returning.
 *
 * Exactly one of three things ends the body for an accepted request:
 * - on_end runs; req then follows the handler rules (http_request_defer).
 * - The handler responds first (from start, on_body or any later loop
 *   callback, e.g. a 403 or a 507 when the disk fills): no body callback
 *   runs after that, and if the request has a body the connection closes
 *   once the response is out (what the client still sends is read and
 *   dropped for a moment, as after a 413, so that it sees the response);
 *   a bodiless request keeps its connection alive as usual.
 * - The body can never complete: the client went away (-ECONNRESET, or
 *   the read error), the idle timeout passed (-ETIMEDOUT), the body went
 *   over max_stream_body_bytes (-EMSGSIZE; the client gets a 413), its
 *   chunked framing was malformed (-EPROTO; a 400), a write failed (its
 *   error), or the server closed (-ECANCELED): ops.on_abort(req, err, arg)
 *   runs once, from the loop, and req is freed when it returns. Do not
 *   respond to it.
 *
 * Limits: a Content-Length above max_stream_body_bytes is answered with a
 * 413 before start runs. The header timeout applies as usual; then the
 * body must keep moving: the idle timeout restarts with every piece
 * delivered, and also bounds how long the handler may keep it paused.
 * Expect: 100-continue is answered once start has accepted, so that a
 * client waiting for it sends nothing when start rejects.
 */
struct http_body_ops {
	/* A piece of the body (len > 0). Required. */
	void (*on_body)(struct http_request *req, const char *data, size_t len,
	                void *arg);
	/* The body is complete. Required. */
	void (*on_end)(struct http_request *req, void *arg);
	/* The body will never complete; req is freed after this returns.
	 * Optional (NULL: nothing to clean up). */
	void (*on_abort)(struct http_request *req, int err, void *arg);
};

/* Called with the request's headers; see above. */
typedef void http_body_start_fn(struct http_request *req, void *arg);

/*
 * Routes requests whose percent-decoded path is path_prefix, or lies below
 * it ("/files" matches "/files" and "/files/a", not "/filesx"; "/" matches
 * every path), to start instead of the server's handler. The longest
 * matching prefix wins. Setting a prefix again replaces its route; start
 * NULL removes it. Applies to requests whose headers complete afterwards.
 * path_prefix is copied. Returns 0, or -EINVAL when path_prefix does not
 * start with '/'.
 */
int http_server_set_stream_route(struct http_server *s, const char *path_prefix,
                                 http_body_start_fn *start, void *arg)
    __attribute__((warn_unused_result));

/*
 * Called from start: accepts the body. ops is copied; arg is passed to
 * every callback. Calling it anywhere else is a bug.
 */
void http_request_accept_body(struct http_request *req,
                              const struct http_body_ops *ops, void *arg);

/*
 * Backpressure for an accepted body that has not ended. Pausing stops
 * reading the socket: at most one read already taken in (64 KiB) waits in
 * the server, and the client is held back by TCP flow control. Pausing
 * from inside on_body takes effect when it returns. Resuming from inside
 * start or on_body simply continues; from elsewhere, delivery resumes from
 * the loop, never inside this call. A paused connection still times out
 * after the idle timeout (then on_abort). Both are no-ops once the body
 * has ended or the request was answered.
 */
void http_request_pause(struct http_request *req);
void http_request_resume(struct http_request *req);

/* ---- client ------------------------------------------------------------- */

struct http_response {
	int status;
	struct http_header *headers;
	size_t nheaders;
	char *body; /* NUL-terminated; empty for streams' header callback */
	size_t body_len;
};

const char *http_response_header(const struct http_response *resp,
                                 const char *name);

struct http_client_req {
	const char *method;       /* default "POST" when body, else "GET" */
	const char *path;         /* request target, e.g. "/api/v1/scheduler" */
	const char *content_type; /* NULL = none */
	const char *accept;       /* NULL = none */
	const char *const *headers; /* NULL-terminated "Name: value" list */
	const void *body;
	size_t body_len;
	/* Plain requests: whole exchange. Subscriptions: connect + headers,
	 * then the longest silence allowed between body bytes. 0 = none. */
	uint64_t timeout_ms;
	size_t max_body_bytes; /* default 64 MiB; beyond: -EMSGSIZE */
};

/*
 * Completion of a plain request. err is 0 with resp set, or a negative
 * errno with resp NULL: -ECONNREFUSED and other connect errors,
 * -EHOSTUNREACH when the name does not resolve,
 * -ETIMEDOUT, -EPROTO (unparsable response), -EMSGSIZE, -ECONNRESET.
 * resp is freed after the callback returns.
 */
typedef void http_response_fn(struct http_response *resp, int err, void *arg);

struct http_client;
/* A client for host:port (numeric IPv4/IPv6 or a name resolved once). */
struct http_client *http_client_new(uv_loop_t *loop, const char *host,
                                    int port);
/* Cancels queued requests without calling their callbacks, closes. */
void http_client_free(struct http_client *c);
/* Queues a request; requests run in order on one keep-alive connection,
 * which is (re)opened on demand. Everything in req is copied. */
void http_client_request(struct http_client *c,
                         const struct http_client_req *req,
                         http_response_fn *cb, void *arg);

struct http_sub;
/* Status and headers of the streaming response (body empty). */
typedef void http_sub_headers_fn(struct http_response *resp, void *arg);
/* A piece of the de-chunked body. */
typedef void http_sub_data_fn(const char *data, size_t len, void *arg);
/* The stream ended: 0 at a clean end of the body, else a negative errno.
 * The sub is freed right after this returns. */
typedef void http_sub_end_fn(int err, void *arg);

/* Opens a dedicated connection and sends req; the response body streams. */
struct http_sub *http_sub_open(uv_loop_t *loop, const char *host, int port,
                               const struct http_client_req *req,
                               http_sub_headers_fn *on_headers,
                               http_sub_data_fn *on_data,
                               http_sub_end_fn *on_end, void *arg);
/* Closes the stream; no callback of s runs after this returns. */
void http_sub_close(struct http_sub *s);

/*
 * Parses "host:port", "http://host:port[/...]", or "host" (default_port)
 * into host (heap, caller frees) and port. Returns 0 or -EINVAL.
 */
int http_parse_hostport(const char *s, int default_port, char **host,
                        int *port);

#endif
