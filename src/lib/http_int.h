/*
 * http_int.h: http.c's internals exposed to its unit tests and fuzz target.
 * Nothing else includes this header.
 */
#ifndef ATOLL_HTTP_INT_H
#define ATOLL_HTTP_INT_H

#include <stddef.h>

#include "lib/buf.h"

/*
 * Percent-decodes a request path (the part of the target before '?') into
 * a new heap string (*out, caller frees). '+' stays literal. Returns 0, or
 * -EINVAL for a malformed escape ("%4", "%zz") or an encoded NUL ("%00").
 */
int http_path_decode(const char *in, size_t len, char **out);

/*
 * Runs the server's whole request path (llhttp parsing, limits, target
 * decoding, dispatch, response and stream framing) over data without a
 * socket or a loop, feeding it in pieces of split bytes (0 = at once),
 * then reporting end of input. A built-in handler echoes each request;
 * path "/stream" answers with a chunked stream of three chunks. Everything
 * the server would have written is appended to out. Limits are small
 * (4 KiB of headers, 64 KiB of body) so that inputs reach them.
 */
void http_fuzz_server_input(const char *data, size_t len, size_t split,
                            struct buf *out);

#endif
