/*
 * http_int.h: http.c's internals exposed to its unit tests and fuzz target.
 * Nothing else includes this header.
 */
#ifndef ATOLL_HTTP_INT_H
#define ATOLL_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct http_server;

/*
 * Percent-decodes a request path (the part of the target before '?') into
 * a new heap string (*out, caller frees). '+' stays literal. Returns 0, or
 * -EINVAL for a malformed escape ("%4", "%zz") or an encoded NUL ("%00").
 */
int http_path_decode(const char *in, size_t len, char **out);

/*
 * True when path is prefix or lies below it: "/a" covers "/a" and "/a/b"
 * but not "/ab"; a prefix ending in '/' covers everything under it.
 */
bool http_path_has_prefix(const char *path, const char *prefix);

/*
 * The most request input any one connection of s has held at once since
 * s was created: unparsed bytes kept while paused plus a buffered body.
 * Tests use it to prove that stream routes do not buffer bodies.
 */
size_t http_server_peak_input(const struct http_server *s);

/*
 * How many times s has handed output to a socket (one uv_try_write, with
 * at most one uv_write for what it left, per coalesced batch) since s was
 * created. Tests use it to prove that responses and stream chunks queued
 * in one loop pass leave in one write, not one write each.
 */
uint64_t http_server_socket_writes(const struct http_server *s);

/*
 * Runs the server's whole request path (llhttp parsing, limits, target
 * decoding, dispatch, response and stream framing) over data without a
 * socket or a loop, feeding it in pieces of split bytes (0 = at once),
 * then reporting end of input. A built-in handler echoes each request;
 * path "/stream" answers with a chunked stream of three chunks. Paths
 * under "/up" are a stream route whose handler hashes the body as it
 * arrives (pausing and resuming at every piece) and answers with its
 * length and FNV-1a hash; "/up/deny" is rejected with a 403 by start,
 * "/up/late" with a 403 at the first piece, "/up/none" neither accepts
 * nor answers (500). Everything the server would have written is appended
 * to out. Limits are small (4 KiB of headers, 64 KiB of buffered body,
 * 128 KiB of streamed body) so that inputs reach them.
 */
void http_fuzz_server_input(const char *data, size_t len, size_t split,
                            struct buf *out);

#endif
