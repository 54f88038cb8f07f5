/*
 * jsonw.c: streaming JSON writer. Invariant: need_comma[depth] is true when
 * the current container already holds a value, so the next one needs a ','.
 */
#include "lib/compat.h"
#include "lib/jsonw.h"

#include <math.h>

void jsonw_init(struct jsonw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/* Emits the separator due before a value (or key) at the current level. */
static void jsonw_sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		buf_addc(w->out, ',');
	w->need_comma[w->depth] = true;
}

static void jsonw_open(struct jsonw *w, char c)
{
	jsonw_sep(w);
	buf_addc(w->out, c);
	BUG_ON(w->depth + 1 >= JSONW_MAX_DEPTH);
	w->need_comma[++w->depth] = false;
}

static void jsonw_close(struct jsonw *w, char c)
{
	BUG_ON(w->depth <= 0 || w->after_key);
	w->depth--;
	buf_addc(w->out, c);
}

void jsonw_obj_begin(struct jsonw *w)
{
	jsonw_open(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
	jsonw_close(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
	jsonw_open(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
	jsonw_close(w, ']');
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void jsonw_escape(struct buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	buf_grow(b, n + 2);
	buf_addc(b, '"');
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		if (run) {
			buf_add(b, s + i - run, run);
			run = 0;
		}
		if (c >= 0x80) {
			size_t l = utf8_seq_len(s + i, n - i);
			if (l) {
				buf_add(b, s + i, l);
				i += l;
			} else {
				buf_adds(b, "\\ufffd");
				i++;
			}
			continue;
		}
		switch (c) {
		case '"':
			buf_adds(b, "\\\"");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case '\n':
			buf_adds(b, "\\n");
			break;
		case '\r':
			buf_adds(b, "\\r");
			break;
		case '\t':
			buf_adds(b, "\\t");
			break;
		case '\b':
			buf_adds(b, "\\b");
			break;
		case '\f':
			buf_adds(b, "\\f");
			break;
		default:
			buf_addf(b, "\\u%04x", c);
		}
		i++;
	}
	if (run)
		buf_add(b, s + i - run, run);
	buf_addc(b, '"');
}

void jsonw_key(struct jsonw *w, const char *key)
{
	BUG_ON(w->after_key);
	jsonw_sep(w);
	jsonw_escape(w->out, key, strlen(key));
	buf_addc(w->out, ':');
	w->after_key = true;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_strn(w, s ? s : "", s ? strlen(s) : 0);
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	jsonw_sep(w);
	jsonw_escape(w->out, s, n);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	jsonw_sep(w);
	buf_addf(w->out, "%lld", (long long)v);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	jsonw_sep(w);
	buf_addf(w->out, "%llu", (unsigned long long)v);
}

void jsonw_double(struct jsonw *w, double v)
{
	jsonw_sep(w);
	if (isnan(v))
		buf_adds(w->out, "\"NaN\"");
	else if (isinf(v))
		buf_adds(w->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_addf(w->out, "%.0f", v);
	else
		buf_addf(w->out, "%.17g", v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	jsonw_sep(w);
	buf_adds(w->out, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
	jsonw_sep(w);
	buf_adds(w->out, "null");
}

void jsonw_raw(struct jsonw *w, const char *json, size_t n)
{
	jsonw_sep(w);
	buf_add(w->out, json, n);
}

void jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_kint(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_kuint(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}

void jsonw_kdouble(struct jsonw *w, const char *key, double v)
{
	jsonw_key(w, key);
	jsonw_double(w, v);
}

void jsonw_kbool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_kid(struct jsonw *w, const char *key, const char *id)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "value", id);
	jsonw_obj_end(w);
}
