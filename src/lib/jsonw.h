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

struct jsonw {
	struct buf *out;
	int depth;
	bool need_comma[JSONW_MAX_DEPTH];
	bool after_key;
};

void jsonw_init(struct jsonw *w, struct buf *out);

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
