/*
 * jsonw.c: streaming JSON writer. Invariant: need_comma[depth] is true when
 * the current container already holds a value, so the next one needs a ','.
 *
 * Speed (/state writes millions of values): bytes are appended straight
 * into the buf when it has room (out_add/out_addc, falling back to buf_add
 * to grow); strings are scanned with a table for the first byte needing an
 * escape, so plain ASCII is copied in one piece; integers and most doubles
 * are formatted by hand. The hand-made double formatter reproduces
 * printf's "%.0f" / "%.17g" byte for byte (exact integer arithmetic, ties
 * to even) and leaves the values it does not cover to snprintf.
 */
#include "lib/compat.h"
#include "lib/jsonw.h"

#include <math.h>

/* Appends n bytes, writing in place when the buf has room. */
static inline void out_add(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len > n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
	} else {
		buf_add(b, p, n);
	}
}

static inline void out_addc(struct buf *b, char c)
{
	if (b->cap - b->len > 1) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
	} else {
		buf_addc(b, c);
	}
}

/* JSONW_SAFE[c] is 1 when byte c is copied as is inside a string: printable
 * ASCII other than '"' and '\\'. NUL is not safe (it ends C strings). */
static const unsigned char JSONW_SAFE[256] = {
    [' '] = 1, ['!'] = 1, ['#' ... '['] = 1, [']' ... '~'] = 1, [0x7f] = 1,
};

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
		out_addc(w->out, ',');
	w->need_comma[w->depth] = true;
}

static void jsonw_open(struct jsonw *w, char c)
{
	jsonw_sep(w);
	out_addc(w->out, c);
	BUG_ON(w->depth + 1 >= JSONW_MAX_DEPTH);
	w->need_comma[++w->depth] = false;
}

static void jsonw_close(struct jsonw *w, char c)
{
	BUG_ON(w->depth <= 0 || w->after_key);
	w->depth--;
	out_addc(w->out, c);
	if (w->flush && w->out->len >= w->flush_at)
		w->flush(w->out, w->flush_arg);
}

void jsonw_set_flush(struct jsonw *w, jsonw_flush_fn *fn, void *arg, size_t at)
{
	w->flush = fn;
	w->flush_arg = arg;
	w->flush_at = at;
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

/* Appends the escaped form of s[0..n) without quotes; s[0] needs an escape
 * or is non-ASCII. */
static void escape_slow(struct buf *b, const unsigned char *s, size_t n)
{
	size_t i = 0, run = 0;

	while (i < n) {
		unsigned char c = s[i];
		if (JSONW_SAFE[c]) {
			i++;
			run++;
			continue;
		}
		if (run) {
			out_add(b, s + i - run, run);
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
		default: {
			static const char hex[] = "0123456789abcdef";
			char u[6] = {'\\', 'u',         '0',
			             '0',  hex[c >> 4], hex[c & 15]};
			out_add(b, u, sizeof(u));
		}
		}
		i++;
	}
	if (run)
		out_add(b, s + i - run, run);
}

void jsonw_escape(struct buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n && JSONW_SAFE[s[i]])
		i++;
	buf_grow(b, i + 2);
	b->data[b->len++] = '"';
	if (i)
		memcpy(b->data + b->len, s, i);
	b->len += i;
	if (i < n)
		escape_slow(b, s + i, n - i);
	out_addc(b, '"');
}

/* jsonw_escape of a C string in one pass (no strlen first). */
static void escape_cstr(struct buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (JSONW_SAFE[s[i]])
		i++;
	if (s[i] == '\0') {
		buf_grow(b, i + 2);
		b->data[b->len++] = '"';
		memcpy(b->data + b->len, s, i);
		b->len += i;
		b->data[b->len++] = '"';
		b->data[b->len] = '\0';
		return;
	}
	jsonw_escape(b, str, i + strlen(str + i));
}

void jsonw_key(struct jsonw *w, const char *key)
{
	BUG_ON(w->after_key);
	jsonw_sep(w);
	escape_cstr(w->out, key);
	out_addc(w->out, ':');
	w->after_key = true;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_sep(w);
	escape_cstr(w->out, s ? s : "");
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	jsonw_sep(w);
	jsonw_escape(w->out, s, n);
}

/* Writes v in decimal ending just before end; returns the first byte. */
static char *fmt_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void out_i64(struct buf *b, int64_t v)
{
	char tmp[24], *end = tmp + sizeof(tmp);
	char *p = fmt_u64(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	out_add(b, p, (size_t)(end - p));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	jsonw_sep(w);
	out_i64(w->out, v);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char tmp[24], *end = tmp + sizeof(tmp);
	char *p = fmt_u64(end, v);
	jsonw_sep(w);
	out_add(w->out, p, (size_t)(end - p));
}

/* 10^0 .. 10^19, exact. */
static const uint64_t POW10[20] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/*
 * The 17 significant digits of a = m * 2^-k (m < 2^53, 0 < k < 128),
 * rounded to nearest with ties to even, as an integer in [1e16, 1e17), for
 * the decimal exponent x with 1e16 <= a * 10^(16-x) < 1e17 when that needs
 * 0 <= 16 - x <= 19. Returns false when it does not.
 */
static bool digits17(uint64_t m, int k, int *x, uint64_t *out)
{
	for (int tries = 0; tries < 3; tries++) {
		int p = 16 - *x;
		if (p < 0 || p > 19)
			return false;
		unsigned __int128 n = (unsigned __int128)m * POW10[p];
		unsigned __int128 mask = ((unsigned __int128)1 << k) - 1;
		unsigned __int128 half = (unsigned __int128)1 << (k - 1);
		unsigned __int128 r = n & mask;
		uint64_t q = (uint64_t)(n >> k);
		if (r > half || (r == half && (q & 1)))
			q++;
		if (q < POW10[16]) {
			(*x)--;
			continue;
		}
		if (q >= POW10[17]) {
			if (q == POW10[17]) {
				/* rounded up to the next power of ten */
				*out = POW10[16];
				(*x)++;
				return true;
			}
			(*x)++;
			continue;
		}
		*out = q;
		return true;
	}
	return false;
}

/*
 * printf("%.17g", v) for a finite, non-integral v with 1e-3 <= |v| < 1e15,
 * where %g always picks the fixed style; false leaves v to snprintf.
 */
static bool fmt_g17(struct buf *b, double v)
{
	double a = fabs(v);
	int e, x;
	uint64_t m, d;
	char tmp[48], *p = tmp;

	if (!(a >= 1e-3 && a < 1e15))
		return false;
	/* a = m * 2^-k exactly, m a 53-bit integer */
	m = (uint64_t)ldexp(frexp(a, &e), 53);
	e -= 53;
	if (e >= 0 || e <= -127)
		return false;
	x = (int)floor(log10(a));
	if (!digits17(m, -e, &x, &d) || x < -4 || x > 16)
		return false;
	/* d holds digits c0..c16; the value is c0.c1...c16 * 10^x */
	char dig[17];
	for (int i = 16; i >= 0; i--) {
		dig[i] = (char)('0' + d % 10);
		d /= 10;
	}
	int last = 16; /* drop trailing zeros of the fraction */
	if (v < 0)
		*p++ = '-';
	if (x >= 0) {
		for (int i = 0; i <= x; i++)
			*p++ = dig[i];
		while (last > x && dig[last] == '0')
			last--;
		if (last > x) {
			*p++ = '.';
			for (int i = x + 1; i <= last; i++)
				*p++ = dig[i];
		}
	} else {
		while (last > 0 && dig[last] == '0')
			last--;
		*p++ = '0';
		*p++ = '.';
		for (int i = 0; i < -x - 1; i++)
			*p++ = '0';
		for (int i = 0; i <= last; i++)
			*p++ = dig[i];
	}
	out_add(b, tmp, (size_t)(p - tmp));
	return true;
}

void jsonw_double(struct jsonw *w, double v)
{
	jsonw_sep(w);
	if (isnan(v)) {
		buf_adds(w->out, "\"NaN\"");
	} else if (isinf(v)) {
		buf_adds(w->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		/* "%.0f" of an integral value: its exact integer */
		if (v == 0 && signbit(v))
			out_add(w->out, "-0", 2);
		else
			out_i64(w->out, (int64_t)v);
	} else if (!fmt_g17(w->out, v)) {
		buf_addf(w->out, "%.17g", v);
	}
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
