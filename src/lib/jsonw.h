/*
 * jsonw.h: a streaming JSON writer for hot outputs (offers, event streams,
 * /state). It appends compact JSON to a struct buf and tracks only the comma
 * state per nesting level, so writing is a straight pass with no DOM. The
 * caller is responsible for well-formed nesting (BUG_ON catches mistakes in
 * debug builds of the tests). Strings are escaped per RFC 8259; invalid
 * UTF-8 is replaced with U+FFFD so output is always valid JSON.
 * Doubles: integral values print without a fraction; NaN and infinities
 * print as the strings "NaN", "Infinity", "-Infinity" (Mesos's mapping).
 */
#ifndef ATOLL_JSONW_H
#define ATOLL_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define JSONW_MAX_DEPTH 64

/* Hands over out's bytes (a prefix of the document) and empties out. */
typedef void jsonw_flush_fn(struct buf *out, void *arg);

struct jsonw {
	struct buf *out;
	int depth;
	bool need_comma[JSONW_MAX_DEPTH];
	bool after_key;
	/* optional: flush out whenever it holds flush_at bytes at the end of
	 * an object or array (see jsonw_set_flush) */
	jsonw_flush_fn *flush;
	void *flush_arg;
	size_t flush_at;
};

void jsonw_init(struct jsonw *w, struct buf *out);
/*
 * Makes the writer hand its output to fn (which must empty the buffer)
 * each time at least at bytes are pending at the end of an object or
 * array, so a large document streams in pieces instead of being held
 * whole. The caller flushes what remains after the last value.
 */
void jsonw_set_flush(struct jsonw *w, jsonw_flush_fn *fn, void *arg, size_t at);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Inserts already-valid JSON text as one value. */
void jsonw_raw(struct jsonw *w, const char *json, size_t n);

/* key + value shorthands */
void jsonw_kstr(struct jsonw *w, const char *key, const char *s);
void jsonw_kint(struct jsonw *w, const char *key, int64_t v);
void jsonw_kuint(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kdouble(struct jsonw *w, const char *key, double v);
void jsonw_kbool(struct jsonw *w, const char *key, bool v);
/* "key": {"value": "id"} , the Mesos *ID message shape. */
void jsonw_kid(struct jsonw *w, const char *key, const char *id);

/* Appends s as a quoted, escaped JSON string to b. */
void jsonw_escape(struct buf *b, const char *s, size_t n);

#endif
