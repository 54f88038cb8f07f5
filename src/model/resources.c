/*
 * resources.c: the Mesos resource and attribute model.
 *
 * Representation. A struct resources is a small array of struct resource
 * (a handful of entries on a real agent: cpus, mem, disk, ports, gpus, per
 * role). Every entry owns its strings and arrays. The invariants kept by
 * every function of this file are:
 *   - scalars are int64 milli-units, never negative;
 *   - ranges are sorted by begin and coalesced: no two ranges overlap or
 *     touch ([1-3],[4-5] is stored as [1-5]);
 *   - set items are sorted (strcmp) and unique;
 *   - role is never NULL ("*" = unreserved);
 *   - no entry is empty (zero scalar, no range, no item): add skips empty
 *     input, subtract removes entries that become empty;
 *   - entries produced here are merged: no two entries "match" (same name,
 *     type, role and allocation role).
 * Callers may still edit entries in place (the master sets alloc_role on
 * task resources), which can break the last invariant. The arithmetic is
 * written so that it stays correct then: contains and subtract treat every
 * matching entry of an operand together (scalars summed, ranges and sets
 * united), which is also what merging would have produced.
 *
 * Cost. add, subtract and contains allocate nothing for scalars; ranges and
 * sets grow their arrays only when a merge or a split needs more room. The
 * subtraction is all-or-nothing without a scratch copy: it first checks
 * containment (read only), then applies a subtraction that cannot fail.
 *
 * Parsing. Text ("cpus:2;ports:[1-5];cpus(ads):4;bugs:{a,b}") and JSON
 * (Mesos v1 Resource objects) are parsed into a scratch set and added to
 * the output only when everything is valid, so a failed parse leaves the
 * output unchanged. Messages name the item or the JSON path.
 */
#include "lib/compat.h"
#include "model/resources.h"

#include <math.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"

/* Longest role or text quoted in an error message. */
#define QUOTE_MAX 128

/* ---- small helpers ------------------------------------------------- */

/* A slice of a string: n bytes at p, not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static struct span span_trim(struct span s)
{
	while (s.n && is_space(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_space(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Index of the first c in s, or s.n. */
static size_t span_find(struct span s, char c)
{
	const char *q = s.n ? memchr(s.p, c, s.n) : NULL;
	return q ? (size_t)(q - s.p) : s.n;
}

static struct span span_sub(struct span s, size_t from, size_t to)
{
	struct span r = {s.p + from, to - from};
	return r;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int64_t res_from_double(double v)
{
	double x;
	if (isnan(v))
		return 0;
	x = v * RES_SCALE;
	if (x >= 9.2e18)
		return INT64_MAX;
	if (x <= -9.2e18)
		return INT64_MIN;
	return (int64_t)llround(x);
}

double res_to_double(int64_t milli)
{
	return (double)milli / RES_SCALE;
}

/*
 * Formats milli-units as the shortest exact decimal ("2", "0.5", "-1.25")
 * into out, which holds 32 bytes. Returns the length.
 */
static size_t milli_format(char out[32], int64_t milli)
{
	uint64_t u = milli < 0 ? -(uint64_t)milli : (uint64_t)milli;
	unsigned frac = (unsigned)(u % RES_SCALE);
	int n;

	n = snprintf(out, 32, "%s%llu", milli < 0 ? "-" : "",
	             (unsigned long long)(u / RES_SCALE));
	if (frac) {
		char d[8];
		size_t k;
		snprintf(d, sizeof(d), "%03u", frac);
		for (k = 3; d[k - 1] == '0'; k--)
			;
		n += snprintf(out + n, 32 - (size_t)n, ".%.*s", (int)k, d);
	}
	return (size_t)n;
}

/*
 * Parses a decimal number (optional sign, digits, fraction, exponent) that
 * fills all of s. No hex, no "inf"/"nan" words: text input is for humans.
 */
static bool decimal_parse(struct span s, double *out)
{
	char tmp[64], *end;
	bool digit = false;

	if (s.n == 0 || s.n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		if (c >= '0' && c <= '9')
			digit = true;
		else if (c != '.' && c != '-' && c != '+' && c != 'e' &&
		         c != 'E')
			return false;
	}
	if (!digit)
		return false;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	return *end == '\0' && end != tmp;
}

/*
 * Offset of the first byte of s that does not start a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF are
 * invalid), or n when all of s is valid.
 */
static size_t utf8_invalid_at(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		size_t len, k;
		uint32_t cp;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = s[i] & 0x07;
		} else {
			return i;
		}
		if (len > n - i)
			return i;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += len;
	}
	return n;
}

/* Text input must be UTF-8: names and items end up in JSON. */
static int utf8_check(const char *text, struct err *e)
{
	size_t n = strlen(text), bad = utf8_invalid_at(text, n);
	if (bad < n)
		return err_set(e, "invalid UTF-8 at byte %zu", bad + 1);
	return 0;
}

/* Parses a decimal integer in [0, RES_RANGE_MAX] filling all of s. */
static bool uint_parse(struct span s, uint64_t *out)
{
	char tmp[32], *end;
	unsigned long long v;

	if (s.n == 0 || s.n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = '\0';
	errno = 0;
	v = strtoull(tmp, &end, 10);
	if (errno || *end || v > RES_RANGE_MAX)
		return false;
	*out = v;
	return true;
}

/*
 * Validates a scalar read from outside and converts it. text is the
 * "got ..." text when the value came from a string, else NULL.
 */
static int scalar_check(double v, const char *text, int64_t *out, struct err *e)
{
	int64_t m;
	if (!isfinite(v) || v < 0) {
		if (text)
			return err_set(
			    e, "must be a finite number >= 0, got '%.*s'",
			    QUOTE_MAX, text);
		return err_set(e, "must be a finite number >= 0, got %g", v);
	}
	m = res_from_double(v);
	if (m > RES_SCALAR_MAX)
		return err_set(e, "must be at most %lld, got %g",
		               (long long)(RES_SCALAR_MAX / RES_SCALE), v);
	*out = m;
	return 0;
}

/*
 * Reads a JSON double the way Mesos's mapping does: a number, or a string
 * holding one ("NaN", "Infinity", "1.5"). *text is the string or NULL.
 */
static bool json_double(const json_t *v, double *out, const char **text)
{
	*text = NULL;
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (!*s)
			return false;
		*out = strtod(s, &end);
		*text = s;
		return *end == '\0';
	}
	return false;
}

/* Reads a JSON unsigned integer (an integral number >= 0). */
static bool json_uint(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return false;
		*out = (uint64_t)i;
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* below 2^63 (RES_RANGE_MAX) */
		if (!(d >= 0 && d < 9223372036854775808.0) || d != floor(d))
			return false;
		*out = (uint64_t)d;
		return true;
	}
	return false;
}

/* ---- ranges -------------------------------------------------------- */

static int range_cmp(const void *a, const void *b)
{
	const struct value_range *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Merges overlapping or touching neighbours of a sorted array in place. */
static size_t ranges_coalesce(struct value_range *v, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (o > 0 && (v[o - 1].end == UINT64_MAX ||
		              v[i].begin <= v[o - 1].end + 1)) {
			if (v[i].end > v[o - 1].end)
				v[o - 1].end = v[i].end;
		} else {
			v[o++] = v[i];
		}
	}
	return o;
}

static size_t ranges_normalize(struct value_range *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), range_cmp);
	return ranges_coalesce(v, n);
}

/* *v += add; both sorted and coalesced. */
static void ranges_merge(struct value_range **v, size_t *n,
                         const struct value_range *add, size_t nadd)
{
	size_t i = *n, j = nadd, k = *n + nadd;
	struct value_range *a;

	if (nadd == 0)
		return;
	a = xrealloc(*v, k * sizeof(*a));
	/* merge from the back so the array can be reused */
	while (j > 0) {
		if (i > 0 && range_cmp(&a[i - 1], &add[j - 1]) > 0)
			a[--k] = a[--i];
		else
			a[--k] = add[--j];
	}
	*v = a;
	*n = ranges_coalesce(a, *n + nadd);
}

/* *v -= sub (parts of sub outside *v are ignored); both normalized. */
static void ranges_remove(struct value_range **v, size_t *n,
                          const struct value_range *sub, size_t nsub)
{
	size_t i = 0;
	for (size_t k = 0; k < nsub; k++) {
		uint64_t b = sub[k].begin, e = sub[k].end;
		/* sub is sorted, so i never needs to move back */
		while (i < *n && (*v)[i].end < b)
			i++;
		while (i < *n && (*v)[i].begin <= e) {
			struct value_range *r = &(*v)[i];
			if (r->begin < b && r->end > e) {
				/* split r into [begin, b-1] and [e+1, end] */
				struct value_range *a;
				a = xrealloc(*v, (*n + 1) * sizeof(*a));
				memmove(&a[i + 1], &a[i],
				        (*n - i) * sizeof(*a));
				a[i].end = b - 1;
				a[i + 1].begin = e + 1;
				*v = a;
				(*n)++;
				i++;
				break;
			}
			if (r->begin < b) {
				r->end = b - 1;
				i++;
			} else if (r->end > e) {
				r->begin = e + 1;
				break;
			} else {
				memmove(r, r + 1, (*n - i - 1) * sizeof(*r));
				(*n)--;
			}
		}
	}
}

/* Index of the range of the sorted v holding p, or n. */
static size_t ranges_find(const struct value_range *v, size_t n, uint64_t p)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].end < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].begin <= p ? lo : n;
}

static void ranges_format(struct buf *out, const struct value_range *v,
                          size_t n)
{
	buf_addc(out, '[');
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s%llu-%llu", i ? "," : "",
		         (unsigned long long)v[i].begin,
		         (unsigned long long)v[i].end);
	buf_addc(out, ']');
}

static void ranges_write_json(struct jsonw *w, const struct value_range *v,
                              size_t n)
{
	jsonw_key(w, "ranges");
	jsonw_obj_begin(w);
	jsonw_key(w, "range");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		jsonw_obj_begin(w);
		jsonw_kuint(w, "begin", v[i].begin);
		jsonw_kuint(w, "end", v[i].end);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* Parses "[1-5,7-9]" (brackets included) into a normalized array. */
static int ranges_parse_text(struct span s, struct value_range **out,
                             size_t *nout, struct err *e)
{
	struct value_range *v = NULL;
	size_t n = 0, cap = 0;
	struct span body;
	int rc = 0;

	if (s.n < 2 || s.p[s.n - 1] != ']')
		return err_set(e, "missing ']' at the end of the ranges");
	body = span_trim(span_sub(s, 1, s.n - 1));
	while (body.n) {
		size_t comma = span_find(body, ',');
		struct span r = span_trim(span_sub(body, 0, comma));
		size_t dash = span_find(r, '-');
		uint64_t b, en;

		if (dash == r.n) {
			rc = err_set(e,
			             "expected a range 'begin-end', got "
			             "'%.*s'",
			             (int)MIN(r.n, QUOTE_MAX), r.p);
			goto out_free;
		}
		if (!uint_parse(span_trim(span_sub(r, 0, dash)), &b) ||
		    !uint_parse(span_trim(span_sub(r, dash + 1, r.n)), &en)) {
			rc = err_set(e,
			             "expected integers between 0 and %lld in "
			             "range '%.*s'",
			             (long long)RES_RANGE_MAX,
			             (int)MIN(r.n, QUOTE_MAX), r.p);
			goto out_free;
		}
		if (b > en) {
			rc = err_set(e, "range begin %llu > end %llu",
			             (unsigned long long)b,
			             (unsigned long long)en);
			goto out_free;
		}
		ALLOC_GROW(v, n + 1, cap);
		v[n].begin = b;
		v[n].end = en;
		n++;
		if (comma == body.n)
			break;
		body = span_sub(body, comma + 1, body.n);
		if (span_trim(body).n == 0) {
			rc = err_set(e, "empty range after ','");
			goto out_free;
		}
	}
	*nout = ranges_normalize(v, n);
	*out = v;
	return 0;
out_free:
	free(v);
	return rc;
}

/*
 * Parses {"range":[{"begin":..,"end":..}]} (the "ranges" value) into a
 * normalized array. Messages are relative to "ranges".
 */
static int ranges_from_json(const json_t *obj, struct value_range **out,
                            size_t *nout, struct err *e)
{
	const json_t *arr, *it;
	struct value_range *v = NULL;
	size_t i, n;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	arr = json_object_get(obj, "range");
	if (!arr) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	if (!json_is_array(arr))
		return err_set(e, "range: must be an array");
	n = json_array_size(arr);
	v = n ? xcalloc(n, sizeof(*v)) : NULL;
	json_array_foreach(arr, i, it)
	{
		const json_t *jb = json_object_get(it, "begin");
		const json_t *je = json_object_get(it, "end");
		if (!json_is_object(it)) {
			err_set(e, "range[%zu]: must be an object", i);
			goto out_free;
		}
		if (!jb || !je) {
			err_set(e, "range[%zu].%s: required field missing", i,
			        jb ? "end" : "begin");
			goto out_free;
		}
		if (!json_uint(jb, &v[i].begin) || !json_uint(je, &v[i].end)) {
			err_set(e,
			        "range[%zu]: begin and end must be "
			        "integers >= 0",
			        i);
			goto out_free;
		}
		if (v[i].begin > v[i].end) {
			err_set(e, "range[%zu]: range begin %llu > end %llu", i,
			        (unsigned long long)v[i].begin,
			        (unsigned long long)v[i].end);
			goto out_free;
		}
	}
	*nout = ranges_normalize(v, n);
	*out = v;
	return 0;
out_free:
	free(v);
	return -EINVAL;
}

/* ---- sets ---------------------------------------------------------- */

static int item_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void items_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorts and removes duplicates in place (freeing them). */
static size_t items_normalize(char **v, size_t n)
{
	size_t o = 0;
	if (n > 1)
		qsort(v, n, sizeof(*v), item_cmp);
	for (size_t i = 0; i < n; i++) {
		if (o > 0 && strcmp(v[o - 1], v[i]) == 0)
			free(v[i]);
		else
			v[o++] = v[i];
	}
	return o;
}

/* *v += add (copies of the new items); both sorted and unique. */
static void items_merge(char ***v, size_t *n, char *const *add, size_t nadd)
{
	char **a = *v, **r;
	size_t i = 0, j = 0, o = 0;

	if (nadd == 0)
		return;
	r = xmalloc((*n + nadd) * sizeof(*r));
	while (i < *n || j < nadd) {
		int c = i == *n ? 1 : j == nadd ? -1 : strcmp(a[i], add[j]);
		if (c < 0) {
			r[o++] = a[i++];
		} else if (c > 0) {
			r[o++] = xstrdup(add[j++]);
		} else {
			r[o++] = a[i++];
			j++;
		}
	}
	free(a);
	*v = r;
	*n = o;
}

/* *v -= sub (items not in *v are ignored); both sorted and unique. */
static void items_remove(char **v, size_t *n, char *const *sub, size_t nsub)
{
	size_t i = 0, j = 0, o = 0;
	while (i < *n) {
		int c = j == nsub ? -1 : strcmp(v[i], sub[j]);
		if (c < 0) {
			v[o++] = v[i++];
		} else if (c > 0) {
			j++;
		} else {
			free(v[i++]);
			j++;
		}
	}
	*n = o;
}

static bool items_has(char *const *v, size_t n, const char *item)
{
	return n && bsearch(&item, v, n, sizeof(*v), item_cmp) != NULL;
}

static void items_format(struct buf *out, char *const *v, size_t n)
{
	buf_addc(out, '{');
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s%s", i ? "," : "", v[i]);
	buf_addc(out, '}');
}

static void items_write_json(struct jsonw *w, char *const *v, size_t n)
{
	jsonw_key(w, "set");
	jsonw_obj_begin(w);
	jsonw_key(w, "item");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, v[i]);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* Parses "{a,b}" (braces included) into a sorted unique array. */
static int items_parse_text(struct span s, char ***out, size_t *nout,
                            struct err *e)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct span body;
	int rc = 0;

	if (s.n < 2 || s.p[s.n - 1] != '}')
		return err_set(e, "missing '}' at the end of the set");
	body = span_trim(span_sub(s, 1, s.n - 1));
	while (body.n) {
		size_t comma = span_find(body, ',');
		struct span it = span_trim(span_sub(body, 0, comma));

		if (it.n == 0) {
			rc = err_set(e, "empty item in set");
			goto out_free;
		}
		if (memchr(it.p, '{', it.n) || memchr(it.p, '}', it.n) ||
		    memchr(it.p, '\0', it.n)) {
			rc = err_set(e, "invalid set item '%.*s'",
			             (int)MIN(it.n, QUOTE_MAX), it.p);
			goto out_free;
		}
		ALLOC_GROW(v, n + 1, cap);
		v[n++] = xstrndup(it.p, it.n);
		if (comma == body.n)
			break;
		body = span_sub(body, comma + 1, body.n);
		if (span_trim(body).n == 0) {
			rc = err_set(e, "empty item in set");
			goto out_free;
		}
	}
	*nout = items_normalize(v, n);
	*out = v;
	return 0;
out_free:
	items_free(v, n);
	return rc;
}

/* Parses {"item":[...]} (the "set" value). Messages relative to "set". */
static int items_from_json(const json_t *obj, char ***out, size_t *nout,
                           struct err *e)
{
	const json_t *arr, *it;
	char **v;
	size_t i, n;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	arr = json_object_get(obj, "item");
	if (!arr) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	if (!json_is_array(arr))
		return err_set(e, "item: must be an array");
	n = json_array_size(arr);
	v = n ? xcalloc(n, sizeof(*v)) : NULL;
	json_array_foreach(arr, i, it)
	{
		if (!json_is_string(it) || !*json_string_value(it)) {
			items_free(v, i);
			return err_set(e,
			               "item[%zu]: must be a non-empty "
			               "string",
			               i);
		}
		v[i] = xstrdup(json_string_value(it));
	}
	*nout = items_normalize(v, n);
	*out = v;
	return 0;
}

/* ---- roles --------------------------------------------------------- */

int role_validate(const char *role, bool allow_star, struct err *e)
{
	const char *p, *comp;

	if (!role || !*role)
		return err_set(e, "role must not be empty");
	if (strcmp(role, "*") == 0) {
		if (allow_star)
			return 0;
		return err_set(e, "role '*' is not allowed here");
	}
	for (p = role; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f)
			return err_set(e,
			               "invalid role '%.*s': must not "
			               "contain whitespace or control "
			               "characters",
			               QUOTE_MAX, role);
	}
	if (role[0] == '/' || p[-1] == '/')
		return err_set(e,
		               "invalid role '%.*s': must not start or "
		               "end with '/'",
		               QUOTE_MAX, role);
	if (strstr(role, "//"))
		return err_set(e,
		               "invalid role '%.*s': must not contain "
		               "'//'",
		               QUOTE_MAX, role);
	for (comp = role; comp; comp = strchr(comp, '/')) {
		size_t len;
		if (*comp == '/')
			comp++;
		len = strcspn(comp, "/");
		if ((len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.'))
			return err_set(e,
			               "invalid role '%.*s': '.' and '..' "
			               "are not allowed as components",
			               QUOTE_MAX, role);
		if (len == 1 && comp[0] == '*')
			return err_set(e,
			               "invalid role '%.*s': '*' is not "
			               "allowed as a component",
			               QUOTE_MAX, role);
		if (comp[0] == '-')
			return err_set(e,
			               "invalid role '%.*s': must not start "
			               "a component with '-'",
			               QUOTE_MAX, role);
	}
	return 0;
}

/* True when msg starts with a field path ("a.b[2].c") followed by ':'. */
static bool msg_starts_with_path(const char *msg)
{
	const char *p = msg;
	while (*p == '_' || *p == '.' || *p == '[' || *p == ']' ||
	       (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	       (*p >= '0' && *p <= '9'))
		p++;
	return p > msg && *p == ':' && (msg[0] < '0' || msg[0] > '9');
}

int res_err_path(struct err *e, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!e)
		return -EINVAL;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	e->msg[sizeof(e->msg) - 1] = '\0';
	if (!msg_starts_with_path(e->msg))
		buf_adds(&b, ": ");
	else if (e->msg[0] != '[')
		buf_addc(&b, '.');
	buf_adds(&b, e->msg);
	if (b.len >= sizeof(e->msg))
		b.len = sizeof(e->msg) - 1;
	memcpy(e->msg, b.data, b.len);
	e->msg[b.len] = '\0';
	buf_release(&b);
	return -EINVAL;
}

/* True when anc is role itself or one of its ancestors ("a" of "a/b"). */
static bool role_is_self_or_ancestor(const char *anc, const char *role)
{
	size_t n = strlen(anc);
	return strncmp(anc, role, n) == 0 &&
	       (role[n] == '\0' || role[n] == '/');
}

/* ---- one resource -------------------------------------------------- */

static char *opt_strdup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void reservations_free(struct reservation *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].role);
		free(v[i].principal);
		free(v[i].labels_json);
	}
	free(v);
}

static struct reservation *reservations_dup(const struct reservation *v,
                                            size_t n)
{
	struct reservation *d;

	if (!n)
		return NULL;
	d = xcalloc(n, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		d[i].type = v[i].type;
		d[i].role = xstrdup(v[i].role);
		d[i].principal = opt_strdup(v[i].principal);
		d[i].labels_json = opt_strdup(v[i].labels_json);
	}
	return d;
}

/* Frees r's persistence and volume. */
static void resource_disk_clear(struct resource *r)
{
	free(r->persistence_id);
	free(r->persistence_principal);
	free(r->container_path);
	r->persistence_id = r->persistence_principal = NULL;
	r->container_path = NULL;
	r->volume_ro = false;
}

static void resource_release(struct resource *r)
{
	free(r->name);
	free(r->ranges);
	items_free(r->items, r->nitems);
	free(r->role);
	free(r->alloc_role);
	reservations_free(r->reservations, r->nreservations);
	resource_disk_clear(r);
	memset(r, 0, sizeof(*r));
}

/* Copies everything of src but its value (name, type, roles, stack,
 * disk) into dst, which is overwritten. */
static void resource_copy_meta(struct resource *dst, const struct resource *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = xstrdup(src->name);
	dst->type = src->type;
	dst->role = xstrdup(src->role ? src->role : "*");
	dst->alloc_role = opt_strdup(src->alloc_role);
	dst->reservations =
	    reservations_dup(src->reservations, src->nreservations);
	dst->nreservations = src->nreservations;
	dst->persistence_id = opt_strdup(src->persistence_id);
	dst->persistence_principal = opt_strdup(src->persistence_principal);
	dst->container_path = opt_strdup(src->container_path);
	dst->volume_ro = src->volume_ro;
}

static void resource_copy(struct resource *dst, const struct resource *src)
{
	resource_copy_meta(dst, src);
	dst->scalar = src->scalar;
	dst->nranges = src->nranges;
	dst->nitems = src->nitems;
	if (src->nranges) {
		dst->ranges = xmalloc(src->nranges * sizeof(*dst->ranges));
		memcpy(dst->ranges, src->ranges,
		       src->nranges * sizeof(*dst->ranges));
	}
	if (src->nitems) {
		dst->items = xmalloc(src->nitems * sizeof(*dst->items));
		for (size_t i = 0; i < src->nitems; i++)
			dst->items[i] = xstrdup(src->items[i]);
	}
}

static bool resource_is_empty(const struct resource *r)
{
	switch (r->type) {
	case RESOURCE_SCALAR:
		return r->scalar <= 0;
	case RESOURCE_RANGES:
		return r->nranges == 0;
	case RESOURCE_SET:
		return r->nitems == 0;
	}
	return true;
}

static bool opt_streq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool resource_is_reserved(const struct resource *r);

/* The number of levels of r's reservation stack (an entry built by hand
 * with a role and no stack has one STATIC level). */
static size_t resv_count(const struct resource *r)
{
	if (r->nreservations)
		return r->nreservations;
	return resource_is_reserved(r) ? 1 : 0;
}

/* Level i of r's stack (borrowed strings). */
static struct reservation resv_get(const struct resource *r, size_t i)
{
	struct reservation v = {RESERVATION_STATIC, r->role, NULL, NULL};

	if (r->nreservations)
		v = r->reservations[i];
	return v;
}

static bool resv_equal(const struct resource *a, const struct resource *b)
{
	size_t n = resv_count(a);

	if (n != resv_count(b))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct reservation x = resv_get(a, i), y = resv_get(b, i);
		if (x.type != y.type || !opt_streq(x.role, y.role) ||
		    !opt_streq(x.principal, y.principal) ||
		    !opt_streq(x.labels_json, y.labels_json))
			return false;
	}
	return true;
}

bool resource_is_persistent_volume(const struct resource *r)
{
	return r->persistence_id != NULL;
}

bool resource_is_dynamically_reserved(const struct resource *r)
{
	for (size_t i = 0; i < r->nreservations; i++)
		if (r->reservations[i].type == RESERVATION_DYNAMIC)
			return true;
	return false;
}

static bool disk_equal(const struct resource *a, const struct resource *b)
{
	return opt_streq(a->persistence_id, b->persistence_id) &&
	       opt_streq(a->persistence_principal, b->persistence_principal) &&
	       opt_streq(a->container_path, b->container_path) &&
	       a->volume_ro == b->volume_ro;
}

static bool resource_matches(const struct resource *a, const struct resource *b)
{
	return a->type == b->type && strcmp(a->name, b->name) == 0 &&
	       opt_streq(a->role, b->role) &&
	       opt_streq(a->alloc_role, b->alloc_role) && resv_equal(a, b) &&
	       disk_equal(a, b);
}

/* Entries that add into one (volumes never do: they are indivisible). */
static bool resource_mergeable(const struct resource *a,
                               const struct resource *b)
{
	return !resource_is_persistent_volume(a) && resource_matches(a, b);
}

/* The same volume of the same size. */
static bool volume_equal(const struct resource *a, const struct resource *b)
{
	return resource_matches(a, b) && a->scalar == b->scalar;
}

/* d += s for matching resources. */
static void resource_merge(struct resource *d, const struct resource *s)
{
	switch (d->type) {
	case RESOURCE_SCALAR:
		d->scalar = sat_add(d->scalar, s->scalar);
		break;
	case RESOURCE_RANGES:
		ranges_merge(&d->ranges, &d->nranges, s->ranges, s->nranges);
		break;
	case RESOURCE_SET:
		items_merge(&d->items, &d->nitems, s->items, s->nitems);
		break;
	}
}

static bool resource_is_reserved(const struct resource *r)
{
	return r->role && strcmp(r->role, "*") != 0;
}

static const char *const resource_type_names[] = {"SCALAR", "RANGES", "SET"};

/* Appends "name(role)(allocated: a):value" to out. */
static void resource_format(struct buf *out, const struct resource *r)
{
	struct reservation top = resv_get(r, 0);

	buf_adds(out, r->name);
	if (resv_count(r) == 1 && top.type == RESERVATION_STATIC &&
	    !top.principal && !top.labels_json) {
		buf_addf(out, "(%s)", r->role);
	} else if (resv_count(r)) {
		buf_adds(out, "(reservations: [");
		for (size_t i = 0; i < resv_count(r); i++) {
			struct reservation v = resv_get(r, i);
			buf_addf(out, "%s(%s,%s%s%s)", i ? "," : "",
			         v.type == RESERVATION_DYNAMIC ? "DYNAMIC"
			                                       : "STATIC",
			         v.role, v.principal ? "," : "",
			         v.principal ? v.principal : "");
		}
		buf_adds(out, "])");
	}
	if (r->alloc_role)
		buf_addf(out, "(allocated: %s)", r->alloc_role);
	if (resource_is_persistent_volume(r))
		buf_addf(out, "[%s:%s%s]", r->persistence_id, r->container_path,
		         r->volume_ro ? ":RO" : "");
	buf_addc(out, ':');
	switch (r->type) {
	case RESOURCE_SCALAR: {
		char num[32];
		buf_add(out, num, milli_format(num, r->scalar));
		break;
	}
	case RESOURCE_RANGES:
		ranges_format(out, r->ranges, r->nranges);
		break;
	case RESOURCE_SET:
		items_format(out, r->items, r->nitems);
		break;
	}
}

/* ---- collections --------------------------------------------------- */

void resources_init(struct resources *r)
{
	r->v = NULL;
	r->n = 0;
	r->cap = 0;
}

void resources_release(struct resources *r)
{
	for (size_t i = 0; i < r->n; i++)
		resource_release(&r->v[i]);
	free(r->v);
	resources_init(r);
}

void resources_copy(struct resources *dst, const struct resources *src)
{
	resources_init(dst);
	if (!src->n)
		return;
	dst->v = xmalloc(src->n * sizeof(*dst->v));
	dst->cap = src->n;
	for (size_t i = 0; i < src->n; i++)
		resource_copy(&dst->v[i], &src->v[i]);
	dst->n = src->n;
}

bool resources_is_empty(const struct resources *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!resource_is_empty(&r->v[i]))
			return false;
	return true;
}

static struct resource *resources_find(struct resources *rs,
                                       const struct resource *x)
{
	for (size_t i = 0; i < rs->n; i++)
		if (resource_mergeable(&rs->v[i], x))
			return &rs->v[i];
	return NULL;
}

/* Adds r to rs, taking ownership of r's contents (r is left zeroed). */
static void resources_add_take(struct resources *rs, struct resource *r)
{
	struct resource *d;

	if (resource_is_empty(r)) {
		resource_release(r);
		return;
	}
	d = resources_find(rs, r);
	if (d) {
		resource_merge(d, r);
		resource_release(r);
		return;
	}
	ALLOC_GROW(rs->v, rs->n + 1, rs->cap);
	rs->v[rs->n++] = *r;
	memset(r, 0, sizeof(*r));
}

/* Adds a copy of r to rs. */
static void resources_add_one(struct resources *rs, const struct resource *r)
{
	struct resource *d;

	if (resource_is_empty(r))
		return;
	d = resources_find(rs, r);
	if (d) {
		resource_merge(d, r);
		return;
	}
	ALLOC_GROW(rs->v, rs->n + 1, rs->cap);
	resource_copy(&rs->v[rs->n++], r);
}

void resources_add(struct resources *dst, const struct resources *src)
{
	if (dst == src) {
		struct resources tmp;
		resources_copy(&tmp, src);
		resources_add(dst, &tmp);
		resources_release(&tmp);
		return;
	}
	for (size_t i = 0; i < src->n; i++)
		resources_add_one(dst, &src->v[i]);
}

/* Moves all of src into dst and leaves src empty. */
static void resources_add_all_take(struct resources *dst, struct resources *src)
{
	if (dst->n == 0) {
		free(dst->v);
		*dst = *src;
		resources_init(src);
		return;
	}
	for (size_t i = 0; i < src->n; i++)
		resources_add_take(dst, &src->v[i]);
	free(src->v);
	resources_init(src);
}

/* True when some entry of r before index i matches r->v[i]. */
static bool has_earlier_match(const struct resources *r, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (resource_matches(&r->v[k], &r->v[i]))
			return true;
	return false;
}

/* Sum of the scalars of the entries of r from index from matching x. */
static int64_t scalar_sum(const struct resources *r, size_t from,
                          const struct resource *x)
{
	int64_t s = 0;
	for (size_t k = from; k < r->n; k++)
		if (resource_matches(&r->v[k], x))
			s = sat_add(s, r->v[k].scalar);
	return s;
}

/* True when [lo, hi] is covered by the union of a's entries matching x. */
static bool range_covered(const struct resources *a, const struct resource *x,
                          uint64_t lo, uint64_t hi)
{
	uint64_t p = lo;
	for (;;) {
		bool moved = false;
		for (size_t k = 0; k < a->n; k++) {
			const struct resource *d = &a->v[k];
			size_t j;
			if (!resource_matches(d, x))
				continue;
			j = ranges_find(d->ranges, d->nranges, p);
			if (j == d->nranges)
				continue;
			if (d->ranges[j].end >= hi)
				return true;
			p = d->ranges[j].end + 1;
			moved = true;
		}
		if (!moved)
			return false;
	}
}

static bool item_covered(const struct resources *a, const struct resource *x,
                         const char *item)
{
	for (size_t k = 0; k < a->n; k++)
		if (resource_matches(&a->v[k], x) &&
		    items_has(a->v[k].items, a->v[k].nitems, item))
			return true;
	return false;
}

/* Entries of r from index from equal to the volume x. */
static size_t volume_count(const struct resources *r, size_t from,
                           const struct resource *x)
{
	size_t n = 0;
	for (size_t k = from; k < r->n; k++)
		n += volume_equal(&r->v[k], x);
	return n;
}

bool resources_contains(const struct resources *a, const struct resources *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct resource *x = &b->v[i];

		if (resource_is_persistent_volume(x)) {
			/* indivisible: one equal entry of a per entry of b */
			bool earlier = false;
			if (x->scalar <= 0)
				continue;
			for (size_t k = 0; k < i && !earlier; k++)
				earlier = volume_equal(&b->v[k], x);
			if (!earlier &&
			    volume_count(b, i, x) > volume_count(a, 0, x))
				return false;
			continue;
		}
		if (has_earlier_match(b, i))
			continue;
		switch (x->type) {
		case RESOURCE_SCALAR:
			if (scalar_sum(b, i, x) > scalar_sum(a, 0, x))
				return false;
			break;
		case RESOURCE_RANGES:
			for (size_t k = i; k < b->n; k++) {
				const struct resource *y = &b->v[k];
				if (!resource_matches(y, x))
					continue;
				for (size_t j = 0; j < y->nranges; j++)
					if (!range_covered(a, x,
					                   y->ranges[j].begin,
					                   y->ranges[j].end))
						return false;
			}
			break;
		case RESOURCE_SET:
			for (size_t k = i; k < b->n; k++) {
				const struct resource *y = &b->v[k];
				if (!resource_matches(y, x))
					continue;
				for (size_t j = 0; j < y->nitems; j++)
					if (!item_covered(a, x, y->items[j]))
						return false;
			}
			break;
		}
	}
	return true;
}

/* Removes entries that became empty, keeping the order of the others. */
static void resources_compact(struct resources *r)
{
	size_t o = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (resource_is_empty(&r->v[i]))
			resource_release(&r->v[i]);
		else
			r->v[o++] = r->v[i];
	}
	r->n = o;
}

int resources_subtract(struct resources *dst, const struct resources *src)
{
	if (dst == src) {
		resources_release(dst);
		return 0;
	}
	if (!resources_contains(dst, src))
		return -EINVAL;
	/* Contained, so every step below succeeds. */
	for (size_t i = 0; i < src->n; i++) {
		const struct resource *x = &src->v[i];
		int64_t left = x->scalar;

		if (resource_is_persistent_volume(x)) {
			/* the last equal one, so (a + b) - b keeps a's order */
			for (size_t k = dst->n; k-- > 0 && x->scalar > 0;) {
				if (volume_equal(&dst->v[k], x)) {
					dst->v[k].scalar = 0; /* whole */
					break;
				}
			}
			continue;
		}
		for (size_t k = 0; k < dst->n; k++) {
			struct resource *d = &dst->v[k];
			if (!resource_matches(d, x))
				continue;
			switch (x->type) {
			case RESOURCE_SCALAR: {
				int64_t take = MIN(d->scalar, left);
				d->scalar -= take;
				left -= take;
				break;
			}
			case RESOURCE_RANGES:
				ranges_remove(&d->ranges, &d->nranges,
				              x->ranges, x->nranges);
				break;
			case RESOURCE_SET:
				items_remove(d->items, &d->nitems, x->items,
				             x->nitems);
				break;
			}
		}
	}
	resources_compact(dst);
	return 0;
}

int64_t resources_scalar(const struct resources *r, const char *name)
{
	int64_t s = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].type == RESOURCE_SCALAR &&
		    strcmp(r->v[i].name, name) == 0)
			s = sat_add(s, r->v[i].scalar);
	return s;
}

void resources_set_alloc_role(struct resources *r, const char *role)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].alloc_role);
		r->v[i].alloc_role = role ? xstrdup(role) : NULL;
	}
	/* entries that differed only in alloc_role now match: merge them */
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = i + 1; k < r->n;) {
			if (resource_mergeable(&r->v[i], &r->v[k])) {
				resource_merge(&r->v[i], &r->v[k]);
				resource_release(&r->v[k]);
				memmove(&r->v[k], &r->v[k + 1],
				        (r->n - k - 1) * sizeof(r->v[0]));
				r->n--;
			} else {
				k++;
			}
		}
	}
}

void resources_allocatable_to(struct resources *out, const struct resources *r,
                              const char *role)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct resource *x = &r->v[i];
		if (!resource_is_reserved(x) ||
		    (role && role_is_self_or_ancestor(x->role, role)))
			resources_add_one(out, x);
	}
}

void resources_scalars_by_name(struct resources *out, const struct resources *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct resource *x = &r->v[i];
		struct resource key = {0};
		struct resource *d;

		if (x->type != RESOURCE_SCALAR || x->scalar <= 0)
			continue;
		key.name = x->name;
		key.type = RESOURCE_SCALAR;
		key.role = (char *)"*";
		d = resources_find(out, &key);
		if (d) {
			d->scalar = sat_add(d->scalar, x->scalar);
			continue;
		}
		ALLOC_GROW(out->v, out->n + 1, out->cap);
		d = &out->v[out->n++];
		memset(d, 0, sizeof(*d));
		d->name = xstrdup(x->name);
		d->type = RESOURCE_SCALAR;
		d->scalar = x->scalar;
		d->role = xstrdup("*");
	}
}

/* ---- text form ----------------------------------------------------- */

/* Characters that may not appear in a resource or attribute name. */
static bool name_char_ok(char c)
{
	return (unsigned char)c > 0x20 && c != 0x7f && !strchr("();:[]{},", c);
}

static int name_check(struct span name, struct err *e)
{
	if (name.n == 0)
		return err_set(e, "name must not be empty");
	for (size_t i = 0; i < name.n; i++)
		if (!name_char_ok(name.p[i]))
			return err_set(e,
			               "invalid character '%c' in name "
			               "'%.*s'",
			               name.p[i], (int)MIN(name.n, QUOTE_MAX),
			               name.p);
	return 0;
}

/*
 * Parses a value of the text form into r (type and value): "[..]" ranges,
 * "{..}" set, else a scalar.
 */
static int resource_value_parse(struct resource *r, struct span v,
                                struct err *e)
{
	double d;

	if (v.n == 0)
		return err_set(e, "missing value after ':'");
	if (v.p[0] == '[') {
		r->type = RESOURCE_RANGES;
		return ranges_parse_text(v, &r->ranges, &r->nranges, e);
	}
	if (v.p[0] == '{') {
		r->type = RESOURCE_SET;
		return items_parse_text(v, &r->items, &r->nitems, e);
	}
	r->type = RESOURCE_SCALAR;
	if (!decimal_parse(v, &d))
		return err_set(e,
		               "expected a number, [begin-end,...] ranges "
		               "or a {a,b,...} set, got '%.*s'",
		               (int)MIN(v.n, QUOTE_MAX), v.p);
	return scalar_check(d, NULL, &r->scalar, e);
}

static void resource_fill_static_stack(struct resource *r);

/* Parses one "name(role):value" item into r (zeroed on entry). */
static int resource_item_parse(struct resource *r, struct span item,
                               const char *def_role, struct err *e)
{
	size_t i = 0;
	struct span name, rest;
	int rc;

	while (i < item.n && item.p[i] != '(' && item.p[i] != ':')
		i++;
	if (i == item.n)
		return err_set(e, "missing ':' between name and value");
	name = span_trim(span_sub(item, 0, i));
	if ((rc = name_check(name, e)))
		return rc;
	r->name = xstrndup(name.p, name.n);
	rest = span_sub(item, i, item.n);
	if (rest.p[0] == '(') {
		size_t close = span_find(rest, ')');
		if (close == rest.n)
			return err_set(e, "missing ')' after the role");
		r->role = xstrndup(rest.p + 1, close - 1);
		if ((rc = role_validate(r->role, true, e)))
			return rc;
		rest = span_trim(span_sub(rest, close + 1, rest.n));
		if (rest.n == 0 || rest.p[0] != ':')
			return err_set(e, "expected ':' after the role");
	} else {
		r->role = xstrdup(def_role);
	}
	resource_fill_static_stack(r);
	/* rest.p[0] is the ':' */
	return resource_value_parse(r, span_trim(span_sub(rest, 1, rest.n)), e);
}

static int resources_from_json_role(struct resources *out, const json_t *arr,
                                    const char *def_role, struct err *e);

int resources_parse_text(struct resources *out, const char *text,
                         const char *default_role, struct err *e)
{
	struct resources tmp;
	const char *def = default_role ? default_role : "*";
	struct span all = {text, strlen(text)};
	int rc = 0, item = 0, nitems = 0;

	if ((rc = role_validate(def, true, e)))
		return err_prefix(e, "default role");
	if ((rc = utf8_check(text, e)))
		return rc;
	if (span_trim(all).n && span_trim(all).p[0] == '[') {
		json_error_t jerr;
		json_t *arr = json_loads(text, 0, &jerr);
		if (!arr)
			return err_set(e,
			               "invalid JSON at line %d, column "
			               "%d: %s",
			               jerr.line, jerr.column, jerr.text);
		rc = resources_from_json_role(out, arr, def, e);
		json_decref(arr);
		return rc;
	}
	resources_init(&tmp);
	for (;;) {
		size_t semi = span_find(all, ';');
		struct span it = span_trim(span_sub(all, 0, semi));
		struct resource r = {0};

		item++;
		if (it.n && ++nitems > RES_MAX_ENTRIES) {
			rc = err_set(e, "at most %d items are supported",
			             RES_MAX_ENTRIES);
			goto out_release;
		}
		if (it.n) {
			if ((rc = resource_item_parse(&r, it, def, e))) {
				resource_release(&r);
				err_prefix(e, "item %d '%.*s'", item,
				           (int)MIN(it.n, QUOTE_MAX), it.p);
				goto out_release;
			}
			resources_add_take(&tmp, &r);
		}
		if (semi == all.n)
			break;
		all = span_sub(all, semi + 1, all.n);
	}
	resources_add_all_take(out, &tmp);
out_release:
	resources_release(&tmp);
	return rc;
}

void resources_format(struct buf *out, const struct resources *r)
{
	buf_grow(out, 0); /* "" rather than NULL for no resources */
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			buf_addc(out, ';');
		resource_format(out, &r->v[i]);
	}
}

/* ---- JSON form ----------------------------------------------------- */

/* Reads an optional string field; error when present but not a string. */
static int json_opt_str(const json_t *obj, const char *key, const char **out,
                        struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, "%s: must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Gives a reserved r without a stack its one STATIC level. */
static void resource_fill_static_stack(struct resource *r)
{
	if (r->nreservations || !resource_is_reserved(r))
		return;
	r->reservations = xcalloc(1, sizeof(*r->reservations));
	r->reservations[0].type = RESERVATION_STATIC;
	r->reservations[0].role = xstrdup(r->role);
	r->nreservations = 1;
}

/* Validates a Labels object ({"labels":[{"key","value"}]}) and returns
 * its canonical compact text (heap), or NULL with e set. */
static char *labels_from_json(const json_t *obj, struct err *e)
{
	const json_t *arr, *it;
	size_t i;

	if (!json_is_object(obj)) {
		err_set(e, "must be an object");
		return NULL;
	}
	arr = json_object_get(obj, "labels");
	if (arr && !json_is_array(arr)) {
		err_set(e, "labels: must be an array");
		return NULL;
	}
	json_array_foreach(arr, i, it)
	{
		const json_t *k = json_object_get(it, "key");
		const json_t *v = json_object_get(it, "value");
		if (!json_is_object(it) || !json_is_string(k) ||
		    (v && !json_is_string(v))) {
			err_set(e,
			        "labels[%zu]: must be an object with a string "
			        "'key' and an optional string 'value'",
			        i);
			return NULL;
		}
	}
	return json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Reads one ReservationInfo into *out (zeroed on entry). def_type is
 * the type when "type" is absent (legacy "reservation": DYNAMIC). */
static int reservation_from_json(struct reservation *out, const json_t *ri,
                                 enum reservation_type def_type, bool need_role,
                                 struct err *e)
{
	const char *type, *role, *principal;
	const json_t *labels;
	int rc;

	if (!json_is_object(ri))
		return err_set(e, "must be an object");
	if ((rc = json_opt_str(ri, "type", &type, e)) ||
	    (rc = json_opt_str(ri, "role", &role, e)) ||
	    (rc = json_opt_str(ri, "principal", &principal, e)))
		return rc;
	out->type = def_type;
	if (type && !strcmp(type, "DYNAMIC"))
		out->type = RESERVATION_DYNAMIC;
	else if (type && !strcmp(type, "STATIC"))
		out->type = RESERVATION_STATIC;
	else if (type)
		return err_set(e,
		               "type: unknown value '%.*s' (expected STATIC "
		               "or DYNAMIC)",
		               QUOTE_MAX, type);
	if (need_role && !role)
		return err_set(e, "role: required field missing");
	if (role) {
		if ((rc = role_validate(role, false, e)))
			return res_err_path(e, "role");
		out->role = xstrdup(role);
	}
	if (principal) {
		if (strlen(principal) > RES_ID_MAX)
			return err_set(e,
			               "principal: must be at most %d "
			               "characters",
			               RES_ID_MAX);
		out->principal = xstrdup(principal);
	}
	labels = json_object_get(ri, "labels");
	if (labels && !(out->labels_json = labels_from_json(labels, e)))
		return res_err_path(e, "labels");
	return 0;
}

/*
 * The role and reservation stack of a Resource: "reservations" (refined
 * format; a "role" next to it must equal the last level's), else "role"
 * with "reservation" (legacy DYNAMIC) or alone (STATIC), else def_role.
 */
static int resource_role_from_json(struct resource *r, const json_t *obj,
                                   const char *def_role, struct err *e)
{
	const json_t *res = json_object_get(obj, "reservations");
	const json_t *legacy = json_object_get(obj, "reservation");
	const char *role = NULL;
	size_t n;
	int rc;

	if ((rc = json_opt_str(obj, "role", &role, e)))
		return rc;
	if (role && (rc = role_validate(role, true, e)))
		return res_err_path(e, "role");
	if (res && !json_is_array(res))
		return err_set(e, "reservations: must be an array");
	n = res ? json_array_size(res) : 0;
	if (n > 0) {
		r->reservations = xcalloc(n, sizeof(*r->reservations));
		for (size_t k = 0; k < n; k++) {
			struct reservation *v = &r->reservations[k];
			rc = reservation_from_json(v, json_array_get(res, k),
			                           RESERVATION_STATIC, true, e);
			r->nreservations = k + 1;
			if (rc)
				return res_err_path(e, "reservations[%zu]", k);
			if (k > 0 &&
			    (streq(v->role, r->reservations[k - 1].role) ||
			     !role_is_self_or_ancestor(
				 r->reservations[k - 1].role, v->role)))
				return err_set(
				    e,
				    "reservations[%zu].role: '%.*s' must "
				    "refine (be a descendant of) '%.*s'",
				    k, QUOTE_MAX, v->role, QUOTE_MAX,
				    r->reservations[k - 1].role);
			if (k > 0 && v->type == RESERVATION_STATIC &&
			    r->reservations[k - 1].type ==
				RESERVATION_DYNAMIC)
				return err_set(e,
				               "reservations[%zu].type: a STATIC "
				               "reservation cannot refine a "
				               "DYNAMIC one",
				               k);
		}
		if (role && strcmp(role, "*") &&
		    strcmp(role, r->reservations[n - 1].role))
			return err_set(e,
			               "role: '%.*s' differs from the last "
			               "reservation's role '%.*s'",
			               QUOTE_MAX, role, QUOTE_MAX,
			               r->reservations[n - 1].role);
		r->role = xstrdup(r->reservations[n - 1].role);
		return 0;
	}
	if (legacy && role && strcmp(role, "*")) {
		/* pre-refinement dynamic reservation */
		r->reservations = xcalloc(1, sizeof(*r->reservations));
		r->nreservations = 1;
		rc = reservation_from_json(r->reservations, legacy,
		                           RESERVATION_DYNAMIC, false, e);
		if (rc)
			return res_err_path(e, "reservation");
		r->reservations[0].type = RESERVATION_DYNAMIC;
		free(r->reservations[0].role);
		r->reservations[0].role = xstrdup(role);
	} else if (legacy && !json_is_object(legacy)) {
		return err_set(e, "reservation: must be an object");
	} else if (legacy) {
		return err_set(e, "reservation: requires a 'role' other than "
		                  "'*'");
	}
	r->role = xstrdup(role ? role : def_role);
	resource_fill_static_stack(r);
	return 0;
}

/* A persistence id (Mesos's ID rules): printable ASCII without '/' or
 * '\\', not "." or "..", at most RES_ID_MAX bytes. */
static int persistence_id_check(const char *id, struct err *e)
{
	size_t n = strlen(id);

	if (n == 0)
		return err_set(e, "must not be empty");
	if (n > RES_ID_MAX)
		return err_set(e, "must be at most %d characters", RES_ID_MAX);
	if (!strcmp(id, ".") || !strcmp(id, ".."))
		return err_set(e, "'%s' is not allowed", id);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\')
			return err_set(e,
			               "'%.*s' must be printable ASCII without "
			               "spaces, '/' or '\\'",
			               QUOTE_MAX, id);
	}
	return 0;
}

/* A volume's container_path: relative, no "." or ".." component, no
 * empty component, at most RES_PATH_MAX bytes. */
static int container_path_check(const char *path, struct err *e)
{
	const char *c;

	if (!*path)
		return err_set(e, "must not be empty");
	if (strlen(path) > RES_PATH_MAX)
		return err_set(e, "must be at most %d characters",
		               RES_PATH_MAX);
	if (path[0] == '/')
		return err_set(e,
		               "'%.*s' must be relative to the sandbox "
		               "(Atoll has no container images)",
		               QUOTE_MAX, path);
	for (c = path; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return err_set(e, "must not contain control characters");
	for (c = path; c; c = strchr(c, '/')) {
		size_t len;
		if (*c == '/')
			c++;
		len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return err_set(e,
			               "'%.*s' must not have empty, '.' or "
			               "'..' components",
			               QUOTE_MAX, path);
	}
	return 0;
}

/* Reads "disk" (persistence and volume) into r. */
static int resource_disk_from_json(struct resource *r, const json_t *disk,
                                   struct err *e)
{
	const json_t *pers, *vol;
	const char *id, *principal, *path, *mode, *host;
	int rc;

	if (!json_is_object(disk))
		return err_set(e, "disk: must be an object");
	if (json_object_get(disk, "source"))
		return err_set(e, "disk.source: not supported by Atoll (only "
		                  "the agent's root disk)");
	pers = json_object_get(disk, "persistence");
	vol = json_object_get(disk, "volume");
	if (!pers && !vol)
		return 0;
	if (strcmp(r->name, "disk") || r->type != RESOURCE_SCALAR)
		return err_set(e, "disk: only a SCALAR 'disk' resource can be "
		                  "a persistent volume");
	if (!pers)
		return err_set(e, "disk.persistence: required with "
		                  "disk.volume");
	if (!json_is_object(pers))
		return err_set(e, "disk.persistence: must be an object");
	if ((rc = json_opt_str(pers, "id", &id, e)) ||
	    (rc = json_opt_str(pers, "principal", &principal, e)))
		return res_err_path(e, "disk.persistence");
	if (!id)
		return err_set(e, "disk.persistence.id: required field "
		                  "missing");
	if ((rc = persistence_id_check(id, e)))
		return res_err_path(e, "disk.persistence.id");
	if (principal && strlen(principal) > RES_ID_MAX)
		return err_set(e,
		               "disk.persistence.principal: must be at most "
		               "%d characters",
		               RES_ID_MAX);
	if (!vol)
		return err_set(e, "disk.volume: required for a persistent "
		                  "volume");
	if (!json_is_object(vol))
		return err_set(e, "disk.volume: must be an object");
	if ((rc = json_opt_str(vol, "container_path", &path, e)) ||
	    (rc = json_opt_str(vol, "mode", &mode, e)) ||
	    (rc = json_opt_str(vol, "host_path", &host, e)))
		return res_err_path(e, "disk.volume");
	if (host)
		return err_set(e, "disk.volume.host_path: not allowed for a "
		                  "persistent volume");
	if (!path)
		return err_set(e, "disk.volume.container_path: required "
		                  "field missing");
	if ((rc = container_path_check(path, e)))
		return res_err_path(e, "disk.volume.container_path");
	if (!mode)
		return err_set(e, "disk.volume.mode: required field missing");
	if (strcmp(mode, "RW") && strcmp(mode, "RO"))
		return err_set(e,
		               "disk.volume.mode: unknown value '%.*s' "
		               "(expected RW or RO)",
		               QUOTE_MAX, mode);
	r->persistence_id = xstrdup(id);
	r->persistence_principal = opt_strdup(principal);
	r->container_path = xstrdup(path);
	r->volume_ro = !strcmp(mode, "RO");
	return 0;
}

/* Parses one Resource object into r (zeroed on entry). */
static int resource_from_json(struct resource *r, const json_t *obj,
                              const char *def_role, struct err *e)
{
	const json_t *jt, *jv, *ai;
	const char *name, *type;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if (!json_object_get(obj, "name"))
		return err_set(e, "name: required field missing");
	if ((rc = json_opt_str(obj, "name", &name, e)))
		return rc;
	{
		struct span s = {name, strlen(name)};
		if ((rc = name_check(s, e)))
			return res_err_path(e, "name");
	}
	r->name = xstrdup(name);
	jt = json_object_get(obj, "type");
	if (!jt)
		return err_set(e, "type: required field missing");
	if (!json_is_string(jt))
		return err_set(e, "type: must be a string");
	type = json_string_value(jt);
	if (strcmp(type, "SCALAR") == 0) {
		double d;
		const char *text;
		r->type = RESOURCE_SCALAR;
		jv = json_object_get(obj, "scalar");
		if (!jv)
			return err_set(e, "scalar: required for type SCALAR");
		if (!json_is_object(jv))
			return err_set(e, "scalar: must be an object");
		jv = json_object_get(jv, "value");
		if (!jv)
			return err_set(e, "scalar.value: required field "
			                  "missing");
		if (!json_double(jv, &d, &text))
			return err_set(e, "scalar.value: must be a number");
		if ((rc = scalar_check(d, text, &r->scalar, e)))
			return res_err_path(e, "scalar.value");
	} else if (strcmp(type, "RANGES") == 0) {
		r->type = RESOURCE_RANGES;
		jv = json_object_get(obj, "ranges");
		if (!jv)
			return err_set(e, "ranges: required for type RANGES");
		if ((rc = ranges_from_json(jv, &r->ranges, &r->nranges, e)))
			return res_err_path(e, "ranges");
	} else if (strcmp(type, "SET") == 0) {
		r->type = RESOURCE_SET;
		jv = json_object_get(obj, "set");
		if (!jv)
			return err_set(e, "set: required for type SET");
		if ((rc = items_from_json(jv, &r->items, &r->nitems, e)))
			return res_err_path(e, "set");
	} else {
		return err_set(e,
		               "type: unknown value '%.*s' (expected "
		               "SCALAR, RANGES or SET)",
		               QUOTE_MAX, type);
	}
	if ((rc = resource_role_from_json(r, obj, def_role, e)))
		return rc;
	if (json_object_get(obj, "shared"))
		return err_set(e, "shared: shared resources are not supported "
		                  "by Atoll");
	jv = json_object_get(obj, "disk");
	if (jv && (rc = resource_disk_from_json(r, jv, e)))
		return rc;
	ai = json_object_get(obj, "allocation_info");
	if (ai) {
		const char *ar;
		if (!json_is_object(ai))
			return err_set(e, "allocation_info: must be an object");
		if ((rc = json_opt_str(ai, "role", &ar, e)))
			return res_err_path(e, "allocation_info");
		if (ar && (rc = role_validate(ar, true, e)))
			return res_err_path(e, "allocation_info.role");
		r->alloc_role = ar ? xstrdup(ar) : NULL;
	}
	return 0;
}

int resources_from_json(struct resources *out, const json_t *arr, struct err *e)
{
	return resources_from_json_role(out, arr, "*", e);
}

static int resources_from_json_role(struct resources *out, const json_t *arr,
                                    const char *def_role, struct err *e)
{
	struct resources tmp;
	const json_t *obj;
	size_t i;
	int rc = 0;

	if (!json_is_array(arr))
		return err_set(e, "resources: must be an array");
	if (json_array_size(arr) > RES_MAX_ENTRIES)
		return err_set(e,
		               "resources: at most %d entries are "
		               "supported, got %zu",
		               RES_MAX_ENTRIES, json_array_size(arr));
	resources_init(&tmp);
	json_array_foreach(arr, i, obj)
	{
		struct resource r = {0};
		if ((rc = resource_from_json(&r, obj, def_role, e))) {
			resource_release(&r);
			res_err_path(e, "resources[%zu]", i);
			goto out_release;
		}
		resources_add_take(&tmp, &r);
	}
	resources_add_all_take(out, &tmp);
out_release:
	resources_release(&tmp);
	return rc;
}

/* Writes milli-units as an exact JSON number. */
static void jsonw_milli(struct jsonw *w, int64_t milli)
{
	char num[32];
	jsonw_raw(w, num, milli_format(num, milli));
}

static void resource_write_json(struct jsonw *w, const struct resource *r)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", r->name);
	jsonw_kstr(w, "type", resource_type_names[r->type]);
	switch (r->type) {
	case RESOURCE_SCALAR:
		jsonw_key(w, "scalar");
		jsonw_obj_begin(w);
		jsonw_key(w, "value");
		jsonw_milli(w, r->scalar);
		jsonw_obj_end(w);
		break;
	case RESOURCE_RANGES:
		ranges_write_json(w, r->ranges, r->nranges);
		break;
	case RESOURCE_SET:
		items_write_json(w, r->items, r->nitems);
		break;
	}
	jsonw_kstr(w, "role", r->role ? r->role : "*");
	if (resv_count(r)) {
		jsonw_key(w, "reservations");
		jsonw_arr_begin(w);
		for (size_t i = 0; i < resv_count(r); i++) {
			struct reservation v = resv_get(r, i);
			jsonw_obj_begin(w);
			jsonw_kstr(w, "type",
			           v.type == RESERVATION_DYNAMIC ? "DYNAMIC"
			                                         : "STATIC");
			jsonw_kstr(w, "role", v.role);
			if (v.principal)
				jsonw_kstr(w, "principal", v.principal);
			if (v.labels_json) {
				jsonw_key(w, "labels");
				jsonw_raw(w, v.labels_json,
				          strlen(v.labels_json));
			}
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
	if (resource_is_persistent_volume(r)) {
		jsonw_key(w, "disk");
		jsonw_obj_begin(w);
		jsonw_key(w, "persistence");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "id", r->persistence_id);
		if (r->persistence_principal)
			jsonw_kstr(w, "principal", r->persistence_principal);
		jsonw_obj_end(w);
		jsonw_key(w, "volume");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "container_path", r->container_path);
		jsonw_kstr(w, "mode", r->volume_ro ? "RO" : "RW");
		jsonw_obj_end(w);
		jsonw_obj_end(w);
	}
	if (r->alloc_role) {
		jsonw_key(w, "allocation_info");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "role", r->alloc_role);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

void resources_write_json(struct jsonw *w, const struct resources *r)
{
	jsonw_arr_begin(w);
	for (size_t i = 0; i < r->n; i++)
		resource_write_json(w, &r->v[i]);
	jsonw_arr_end(w);
}

/* ---- attributes ---------------------------------------------------- */

static const char *const attribute_type_names[] = {"TEXT", "SCALAR", "RANGES",
                                                   "SET"};

static void attribute_release(struct attribute *a)
{
	free(a->name);
	free(a->text);
	free(a->ranges);
	items_free(a->items, a->nitems);
	memset(a, 0, sizeof(*a));
}

void attributes_init(struct attributes *a)
{
	a->v = NULL;
	a->n = 0;
	a->cap = 0;
}

void attributes_release(struct attributes *a)
{
	for (size_t i = 0; i < a->n; i++)
		attribute_release(&a->v[i]);
	free(a->v);
	attributes_init(a);
}

void attributes_copy(struct attributes *dst, const struct attributes *src)
{
	attributes_init(dst);
	if (!src->n)
		return;
	dst->v = xcalloc(src->n, sizeof(*dst->v));
	dst->cap = dst->n = src->n;
	for (size_t i = 0; i < src->n; i++) {
		const struct attribute *s = &src->v[i];
		struct attribute *d = &dst->v[i];
		*d = *s;
		d->name = xstrdup(s->name);
		d->text = s->text ? xstrdup(s->text) : NULL;
		d->ranges = NULL;
		d->items = NULL;
		if (s->nranges) {
			d->ranges = xmalloc(s->nranges * sizeof(*d->ranges));
			memcpy(d->ranges, s->ranges,
			       s->nranges * sizeof(*d->ranges));
		}
		if (s->nitems) {
			d->items = xmalloc(s->nitems * sizeof(*d->items));
			for (size_t k = 0; k < s->nitems; k++)
				d->items[k] = xstrdup(s->items[k]);
		}
	}
}

static void attributes_append_take(struct attributes *as, struct attribute *a)
{
	ALLOC_GROW(as->v, as->n + 1, as->cap);
	as->v[as->n++] = *a;
	memset(a, 0, sizeof(*a));
}

/* Attribute scalars may be negative; the magnitude is still bounded. */
static int attribute_scalar_check(double d, const char *text, int64_t *out,
                                  struct err *e)
{
	if (!isfinite(d) || fabs(d) > (double)(RES_SCALAR_MAX / RES_SCALE)) {
		if (text)
			return err_set(e,
			               "must be a finite number of at most "
			               "%lld in magnitude, got '%.*s'",
			               (long long)(RES_SCALAR_MAX / RES_SCALE),
			               QUOTE_MAX, text);
		return err_set(e,
		               "must be a finite number of at most %lld "
		               "in magnitude, got %g",
		               (long long)(RES_SCALAR_MAX / RES_SCALE), d);
	}
	*out = res_from_double(d);
	return 0;
}

static int attribute_item_parse(struct attribute *a, struct span item,
                                struct err *e)
{
	size_t colon = span_find(item, ':');
	struct span name, v;
	double d;
	int rc;

	if (colon == item.n)
		return err_set(e, "missing ':' between name and value");
	name = span_trim(span_sub(item, 0, colon));
	if ((rc = name_check(name, e)))
		return rc;
	a->name = xstrndup(name.p, name.n);
	v = span_trim(span_sub(item, colon + 1, item.n));
	if (v.n == 0)
		return err_set(e, "missing value after ':'");
	if (v.p[0] == '[') {
		a->type = ATTRIBUTE_RANGES;
		return ranges_parse_text(v, &a->ranges, &a->nranges, e);
	}
	if (v.p[0] == '{') {
		a->type = ATTRIBUTE_SET;
		return items_parse_text(v, &a->items, &a->nitems, e);
	}
	if (decimal_parse(v, &d)) {
		a->type = ATTRIBUTE_SCALAR;
		return attribute_scalar_check(d, NULL, &a->scalar, e);
	}
	a->type = ATTRIBUTE_TEXT;
	a->text = xstrndup(v.p, v.n);
	return 0;
}

int attributes_parse_text(struct attributes *out, const char *text,
                          struct err *e)
{
	struct attributes tmp;
	struct span all = {text, strlen(text)};
	int rc = 0, item = 0;

	if ((rc = utf8_check(text, e)))
		return rc;
	attributes_init(&tmp);
	while (all.n) {
		size_t semi = span_find(all, ';');
		struct span it = span_trim(span_sub(all, 0, semi));
		struct attribute a = {0};

		item++;
		if (it.n) {
			if ((rc = attribute_item_parse(&a, it, e))) {
				attribute_release(&a);
				err_prefix(e, "item %d '%.*s'", item,
				           (int)MIN(it.n, QUOTE_MAX), it.p);
				goto out_release;
			}
			attributes_append_take(&tmp, &a);
		}
		if (semi == all.n)
			break;
		all = span_sub(all, semi + 1, all.n);
	}
	for (size_t i = 0; i < tmp.n; i++)
		attributes_append_take(out, &tmp.v[i]);
out_release:
	attributes_release(&tmp);
	return rc;
}

static int attribute_from_json(struct attribute *a, const json_t *obj,
                               struct err *e)
{
	const json_t *jt, *jv;
	const char *name, *type;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if (!json_object_get(obj, "name"))
		return err_set(e, "name: required field missing");
	if ((rc = json_opt_str(obj, "name", &name, e)))
		return rc;
	if (!*name)
		return err_set(e, "name: must not be empty");
	a->name = xstrdup(name);
	jt = json_object_get(obj, "type");
	if (!jt)
		return err_set(e, "type: required field missing");
	if (!json_is_string(jt))
		return err_set(e, "type: must be a string");
	type = json_string_value(jt);
	if (strcmp(type, "TEXT") == 0) {
		a->type = ATTRIBUTE_TEXT;
		jv = json_object_get(json_object_get(obj, "text"), "value");
		if (!jv)
			return err_set(e, "text.value: required field missing");
		if (!json_is_string(jv))
			return err_set(e, "text.value: must be a string");
		a->text = xstrdup(json_string_value(jv));
	} else if (strcmp(type, "SCALAR") == 0) {
		double d;
		const char *t;
		a->type = ATTRIBUTE_SCALAR;
		jv = json_object_get(json_object_get(obj, "scalar"), "value");
		if (!jv)
			return err_set(e, "scalar.value: required field "
			                  "missing");
		if (!json_double(jv, &d, &t))
			return err_set(e, "scalar.value: must be a number");
		if ((rc = attribute_scalar_check(d, t, &a->scalar, e)))
			return res_err_path(e, "scalar.value");
	} else if (strcmp(type, "RANGES") == 0) {
		a->type = ATTRIBUTE_RANGES;
		jv = json_object_get(obj, "ranges");
		if (!jv)
			return err_set(e, "ranges: required for type RANGES");
		if ((rc = ranges_from_json(jv, &a->ranges, &a->nranges, e)))
			return res_err_path(e, "ranges");
	} else if (strcmp(type, "SET") == 0) {
		a->type = ATTRIBUTE_SET;
		jv = json_object_get(obj, "set");
		if (!jv)
			return err_set(e, "set: required for type SET");
		if ((rc = items_from_json(jv, &a->items, &a->nitems, e)))
			return res_err_path(e, "set");
	} else {
		return err_set(e,
		               "type: unknown value '%.*s' (expected "
		               "TEXT, SCALAR, RANGES or SET)",
		               QUOTE_MAX, type);
	}
	return 0;
}

int attributes_from_json(struct attributes *out, const json_t *arr,
                         struct err *e)
{
	struct attributes tmp;
	const json_t *obj;
	size_t i;
	int rc = 0;

	if (!json_is_array(arr))
		return err_set(e, "attributes: must be an array");
	attributes_init(&tmp);
	json_array_foreach(arr, i, obj)
	{
		struct attribute a = {0};
		if ((rc = attribute_from_json(&a, obj, e))) {
			attribute_release(&a);
			res_err_path(e, "attributes[%zu]", i);
			goto out_release;
		}
		attributes_append_take(&tmp, &a);
	}
	for (i = 0; i < tmp.n; i++)
		attributes_append_take(out, &tmp.v[i]);
out_release:
	attributes_release(&tmp);
	return rc;
}

void attributes_write_json(struct jsonw *w, const struct attributes *as)
{
	jsonw_arr_begin(w);
	for (size_t i = 0; i < as->n; i++) {
		const struct attribute *a = &as->v[i];
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", a->name);
		jsonw_kstr(w, "type", attribute_type_names[a->type]);
		switch (a->type) {
		case ATTRIBUTE_TEXT:
			jsonw_key(w, "text");
			jsonw_obj_begin(w);
			jsonw_kstr(w, "value", a->text);
			jsonw_obj_end(w);
			break;
		case ATTRIBUTE_SCALAR:
			jsonw_key(w, "scalar");
			jsonw_obj_begin(w);
			jsonw_key(w, "value");
			jsonw_milli(w, a->scalar);
			jsonw_obj_end(w);
			break;
		case ATTRIBUTE_RANGES:
			ranges_write_json(w, a->ranges, a->nranges);
			break;
		case ATTRIBUTE_SET:
			items_write_json(w, a->items, a->nitems);
			break;
		}
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

void attributes_format(struct buf *out, const struct attributes *as)
{
	buf_grow(out, 0);
	for (size_t i = 0; i < as->n; i++) {
		const struct attribute *a = &as->v[i];
		if (i)
			buf_addc(out, ';');
		buf_addf(out, "%s:", a->name);
		switch (a->type) {
		case ATTRIBUTE_TEXT:
			buf_adds(out, a->text);
			break;
		case ATTRIBUTE_SCALAR: {
			char num[32];
			buf_add(out, num, milli_format(num, a->scalar));
			break;
		}
		case ATTRIBUTE_RANGES:
			ranges_format(out, a->ranges, a->nranges);
			break;
		case ATTRIBUTE_SET:
			items_format(out, a->items, a->nitems);
			break;
		}
	}
}

const struct attribute *attributes_find(const struct attributes *a,
                                        const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, name) == 0)
			return &a->v[i];
	return NULL;
}

/* Index of name in resources_write_map's fixed names cpus, mem, disk,
 * gpus, or -1. */
static int map_base_index(const char *name)
{
	switch (name[0]) {
	case 'c':
		return strcmp(name, "cpus") ? -1 : 0;
	case 'm':
		return strcmp(name, "mem") ? -1 : 1;
	case 'd':
		return strcmp(name, "disk") ? -1 : 2;
	case 'g':
		return strcmp(name, "gpus") ? -1 : 3;
	default:
		return -1;
	}
}

/* Writes resources as the classic map: scalars summed by name, ranges as
 * "[a-b, c-d]" text, sets as "{a, b}" text. cpus/mem/disk/gpus always. */
void resources_write_map(struct jsonw *w, const struct resources *r)
{
	static const char *const base[] = {"cpus", "mem", "disk", "gpus"};
	int64_t sums[ARRAY_SIZE(base)] = {0};
	struct buf text = BUF_INIT;

	/* one pass for the four fixed names (summed as resources_scalar
	 * does, in entry order) */
	for (size_t i = 0; i < r->n; i++) {
		int b = map_base_index(r->v[i].name);
		if (b >= 0 && r->v[i].type == RESOURCE_SCALAR)
			sums[b] = sat_add(sums[b], r->v[i].scalar);
	}
	jsonw_obj_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(base); i++)
		jsonw_kdouble(w, base[i], res_to_double(sums[i]));
	for (size_t i = 0; i < r->n; i++) {
		const struct resource *x = &r->v[i];
		bool seen = map_base_index(x->name) >= 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(x->name, r->v[k].name);
		if (seen)
			continue;
		if (x->type == RESOURCE_SCALAR) {
			jsonw_kdouble(
			    w, x->name,
			    res_to_double(resources_scalar(r, x->name)));
			continue;
		}
		buf_reset(&text);
		buf_addc(&text, x->type == RESOURCE_RANGES ? '[' : '{');
		bool first = true;
		for (size_t k = i; k < r->n; k++) {
			const struct resource *y = &r->v[k];
			if (strcmp(y->name, x->name))
				continue;
			for (size_t j = 0; j < y->nranges; j++) {
				buf_addf(&text, "%s%llu-%llu",
				         first ? "" : ", ",
				         (unsigned long long)y->ranges[j].begin,
				         (unsigned long long)y->ranges[j].end);
				first = false;
			}
			for (size_t j = 0; j < y->nitems; j++) {
				buf_addf(&text, "%s%s", first ? "" : ", ",
				         y->items[j]);
				first = false;
			}
		}
		buf_addc(&text, x->type == RESOURCE_RANGES ? ']' : '}');
		jsonw_kstr(w, x->name, text.data);
	}
	jsonw_obj_end(w);
	buf_release(&text);
}

void attributes_write_map(struct jsonw *w, const struct attributes *a)
{
	struct buf text = BUF_INIT;
	jsonw_obj_begin(w);
	for (size_t i = 0; i < a->n; i++) {
		const struct attribute *x = &a->v[i];
		if (x->type == ATTRIBUTE_TEXT) {
			jsonw_kstr(w, x->name, x->text);
		} else if (x->type == ATTRIBUTE_SCALAR) {
			jsonw_kdouble(w, x->name, res_to_double(x->scalar));
		} else {
			struct attributes one = {(struct attribute *)x, 1, 1};
			buf_reset(&text);
			attributes_format(&text, &one);
			const char *colon = strchr(text.data, ':');
			jsonw_kstr(w, x->name, colon ? colon + 1 : text.data);
		}
	}
	jsonw_obj_end(w);
	buf_release(&text);
}

/* ---- taking pieces out of an offer ----------------------------------------
 */

static struct resource *res_piece_like(struct resources *take,
                                       const struct resource *r,
                                       enum resource_type type)
{
	struct resource *p;

	ALLOC_GROW(take->v, take->n + 1, take->cap);
	p = &take->v[take->n++];
	resource_copy_meta(p, r);
	p->type = type;
	return p;
}

/* Moves take (a subset of avail by construction) from avail to out. */
static void res_move(struct resources *avail, struct resources *take,
                     struct resources *out)
{
	BUG_ON(resources_subtract(avail, take));
	resources_add(out, take);
	resources_release(take);
}

int resources_take_scalar(struct resources *avail, const char *name,
                          int64_t amount, struct resources *out)
{
	struct resources take;
	int64_t left = amount;

	if (amount <= 0)
		return 0;
	resources_init(&take);
	for (size_t i = 0; i < avail->n && left > 0; i++) {
		const struct resource *r = &avail->v[i];
		int64_t t;

		if (r->type != RESOURCE_SCALAR || strcmp(r->name, name) ||
		    r->scalar <= 0 || resource_is_persistent_volume(r))
			continue; /* a volume is never split */
		t = MIN(left, r->scalar);
		res_piece_like(&take, r, RESOURCE_SCALAR)->scalar = t;
		left -= t;
	}
	if (left > 0) {
		resources_release(&take);
		return -ENOSPC;
	}
	res_move(avail, &take, out);
	return 0;
}

/* True when port p is in r's ranges and not yet in ports[0..n). */
static bool res_port_free(const struct resource *r, uint64_t p,
                          const int *ports, size_t n)
{
	bool in = false;

	for (size_t i = 0; i < r->nranges && !in; i++)
		in = p >= r->ranges[i].begin && p <= r->ranges[i].end;
	for (size_t i = 0; i < n && in; i++)
		in = (uint64_t)ports[i] != p;
	return in;
}

int resources_take_ports(struct resources *avail, size_t n, const int *wanted,
                         int *ports, struct resources *out)
{
	struct resources take;
	size_t got = 0;

	if (!n)
		return 0;
	resources_init(&take);
	/* Exact ports first, so "any" ports never steal a wanted one. */
	for (size_t k = 0; k < n; k++)
		ports[k] = 0;
	for (size_t k = 0; wanted && k < n; k++) {
		bool found = false;

		if (!wanted[k])
			continue;
		for (size_t i = 0; i < avail->n && !found; i++) {
			const struct resource *r = &avail->v[i];

			if (r->type != RESOURCE_RANGES ||
			    strcmp(r->name, "ports"))
				continue;
			if (res_port_free(r, (uint64_t)wanted[k], ports, n)) {
				struct resource *p =
				    res_piece_like(&take, r, RESOURCE_RANGES);

				p->ranges = xmalloc(sizeof(*p->ranges));
				p->ranges[0].begin = p->ranges[0].end =
				    (uint64_t)wanted[k];
				p->nranges = 1;
				ports[k] = wanted[k];
				found = true;
				got++;
			}
		}
		if (!found)
			goto out_none;
	}
	for (size_t k = 0; k < n; k++) {
		if (ports[k])
			continue;
		for (size_t i = 0; i < avail->n && !ports[k]; i++) {
			const struct resource *r = &avail->v[i];

			if (r->type != RESOURCE_RANGES ||
			    strcmp(r->name, "ports"))
				continue;
			for (size_t j = 0; j < r->nranges && !ports[k]; j++) {
				for (uint64_t p = r->ranges[j].begin;
				     p <= r->ranges[j].end && p <= 65535; p++) {
					struct resource *piece;

					if (!res_port_free(r, p, ports, n))
						continue;
					piece = res_piece_like(&take, r,
					                       RESOURCE_RANGES);
					piece->ranges =
					    xmalloc(sizeof(*piece->ranges));
					piece->ranges[0].begin =
					    piece->ranges[0].end = p;
					piece->nranges = 1;
					ports[k] = (int)p;
					got++;
					break;
				}
			}
		}
		if (!ports[k])
			goto out_none;
	}
	BUG_ON(got != n);
	res_move(avail, &take, out);
	return 0;
out_none:
	resources_release(&take);
	for (size_t k = 0; k < n; k++)
		ports[k] = 0;
	return -ENOSPC;
}

/* ---- reservations and persistent volumes ----------------------------- */

static const char *const resources_op_names[] = {"RESERVE", "UNRESERVE",
                                                 "CREATE", "DESTROY"};

const char *resources_op_name(enum resources_op op)
{
	return (size_t)op < ARRAY_SIZE(resources_op_names)
	           ? resources_op_names[op]
	           : "UNKNOWN";
}

/* The top level of r's stack is DYNAMIC. */
static bool resv_top_is_dynamic(const struct resource *r)
{
	size_t n = resv_count(r);
	return n && resv_get(r, n - 1).type == RESERVATION_DYNAMIC;
}

/* Removes the top level of r's stack (r must have one). */
static void resource_pop_reservation(struct resource *r)
{
	struct reservation *top;

	if (!r->nreservations) { /* implicit STATIC level */
		free(r->role);
		r->role = xstrdup("*");
		return;
	}
	top = &r->reservations[--r->nreservations];
	free(top->role);
	free(top->principal);
	free(top->labels_json);
	free(r->role);
	r->role = xstrdup(r->nreservations
	                      ? r->reservations[r->nreservations - 1].role
	                      : "*");
	if (!r->nreservations) {
		free(r->reservations);
		r->reservations = NULL;
	}
}

/* Appends to out what op consumes (produced = false) or produces. */
static void op_side(struct resources *out, enum resources_op op,
                    const struct resources *res, bool produced)
{
	bool as_is = (op == RES_OP_RESERVE || op == RES_OP_CREATE) == produced;

	for (size_t i = 0; i < res->n; i++) {
		struct resource x;

		resource_copy(&x, &res->v[i]);
		if (!as_is) {
			if (op == RES_OP_RESERVE || op == RES_OP_UNRESERVE)
				resource_pop_reservation(&x);
			else
				resource_disk_clear(&x);
		}
		resources_add_take(out, &x);
	}
}

void resources_op_sides(enum resources_op op, const struct resources *res,
                        struct resources *consumed, struct resources *produced)
{
	op_side(consumed, op, res, false);
	op_side(produced, op, res, true);
}

int resources_op_validate(enum resources_op op, const struct resources *res,
                          struct err *e)
{
	if ((size_t)op >= ARRAY_SIZE(resources_op_names))
		return err_set(e, "unknown operation %d", (int)op);
	if (resources_is_empty(res))
		return err_set(e, "resources: must not be empty");
	for (size_t i = 0; i < res->n; i++) {
		const struct resource *x = &res->v[i];
		bool vol = resource_is_persistent_volume(x);

		switch (op) {
		case RES_OP_RESERVE:
		case RES_OP_UNRESERVE:
			if (vol)
				return err_set(
				    e,
				    "resources[%zu]: a persistent volume "
				    "cannot be %s%s",
				    i,
				    op == RES_OP_RESERVE ? "reserved"
				                         : "unreserved",
				    op == RES_OP_RESERVE ? ""
				                         : "; DESTROY it first");
			if (!resv_top_is_dynamic(x))
				return err_set(
				    e,
				    "resources[%zu].reservations: the last "
				    "reservation must be of type DYNAMIC",
				    i);
			break;
		case RES_OP_CREATE:
			if (!vol)
				return err_set(
				    e,
				    "resources[%zu].disk: must be a persistent "
				    "volume (persistence and volume)",
				    i);
			if (!resource_is_reserved(x))
				return err_set(
				    e,
				    "resources[%zu]: persistent volumes need "
				    "reserved disk, got role '*'",
				    i);
			for (size_t k = 0; k < i; k++)
				if (streq(res->v[k].persistence_id,
				          x->persistence_id) &&
				    streq(res->v[k].role, x->role))
					return err_set(
					    e,
					    "resources[%zu].disk.persistence."
					    "id: '%s' appears twice for role "
					    "'%s'",
					    i, x->persistence_id, x->role);
			break;
		case RES_OP_DESTROY:
			if (!vol)
				return err_set(
				    e,
				    "resources[%zu].disk: must be a persistent "
				    "volume (persistence and volume)",
				    i);
			break;
		}
	}
	return 0;
}

int resources_apply_op(struct resources *total, enum resources_op op,
                       const struct resources *res, struct err *e)
{
	struct resources used, made;
	int rc;

	if ((rc = resources_op_validate(op, res, e)))
		return rc;
	if (op == RES_OP_CREATE) {
		for (size_t i = 0; i < res->n; i++) {
			const struct resource *x = &res->v[i];
			for (size_t k = 0; k < total->n; k++) {
				const struct resource *t = &total->v[k];
				if (streq(t->persistence_id,
				          x->persistence_id) &&
				    streq(t->role, x->role))
				{
					err_set(e,
					        "resources[%zu].disk.persistence."
					        "id: a volume '%s' of role '%s' "
					        "exists on the agent",
					        i, x->persistence_id, x->role);
					return -EEXIST;
				}
			}
		}
	}
	resources_init(&used);
	resources_init(&made);
	op_side(&used, op, res, false);
	op_side(&made, op, res, true);
	if (!resources_contains(total, &used)) {
		struct buf want = BUF_INIT;
		resources_format(&want, &used);
		rc = err_set(e, "resources: %s needs %s, which is not available",
		             resources_op_name(op), want.data);
		rc = -ENOENT;
		buf_release(&want);
		goto out;
	}
	BUG_ON(resources_subtract(total, &used));
	resources_add(total, &made);
out:
	resources_release(&used);
	resources_release(&made);
	return rc;
}

void resources_flatten_static(struct resources *out, const struct resources *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct resource x;

		resource_copy(&x, &r->v[i]);
		while (resv_top_is_dynamic(&x))
			resource_pop_reservation(&x);
		resource_disk_clear(&x);
		resources_add_take(out, &x);
	}
}

void resources_checkpointed(struct resources *out, const struct resources *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (resource_is_dynamically_reserved(&r->v[i]) ||
		    resource_is_persistent_volume(&r->v[i]))
			resources_add_one(out, &r->v[i]);
}

int resources_apply_checkpointed(struct resources *total,
                                 const struct resources *ckpt, struct err *e)
{
	struct resources flat, base;
	int rc = 0;

	resources_init(&flat);
	resources_init(&base);
	resources_flatten_static(&flat, total);
	resources_flatten_static(&base, ckpt);
	if (!resources_contains(&flat, &base)) {
		struct buf want = BUF_INIT, have = BUF_INIT;
		resources_format(&want, &base);
		resources_format(&have, &flat);
		err_set(e,
		        "checkpointed resources need %s, more than the "
		        "agent's resources %s",
		        want.data, have.data);
		rc = -ENOENT;
		buf_release(&want);
		buf_release(&have);
		goto out;
	}
	BUG_ON(resources_subtract(&flat, &base));
	resources_add(&flat, ckpt);
	resources_release(total);
	*total = flat;
	resources_init(&flat);
out:
	resources_release(&flat);
	resources_release(&base);
	return rc;
}

bool resources_equal(const struct resources *a, const struct resources *b)
{
	return resources_contains(a, b) && resources_contains(b, a);
}
