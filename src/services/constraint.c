/*
 * constraint.c: placement constraints of the services framework.
 *
 * Pure logic: parsing (two syntaxes into one model), writing back in the
 * syntax given, checking one agent against an app's constraints and the
 * agents its instances already run on, and picking scale-down victims. No
 * I/O, no clock, no global state; docs/constraints.md is the operator
 * reference for users.
 *
 * Model. A struct constraint_set is one array, allocated once at its final
 * size and never grown, because a compiled regex_t is not moved after
 * regcomp (nothing in POSIX says a regex_t may be copied). Invariants of a
 * parsed set:
 *   - field is never NULL or empty; the hostname forms ("hostname",
 *     "@hostname", Aurora's "host") are stored as "hostname";
 *   - MAX_PER has n >= 1; GROUP_BY has n >= 1 or n == 0 (no count);
 *   - LIKE/UNLIKE have has_re, compiled from "^(value)$";
 *   - IN/NOT_IN have nvalues >= 1 non-empty values;
 *   - DEDICATED has field "dedicated" and a value "role/name";
 *   - every element of a set has the same aurora flag (one syntax per set).
 *
 * Values. An agent's value for a field is a string (Marathon's rules):
 * the hostname, a text attribute as is, a scalar with at most 3 decimals
 * ("0.8", from the exact milli-units), ranges "[1-5,7-9]", sets "{a,b}"
 * sorted. Operators compare these strings; IS, CLUSTER with a value, IN
 * and NOT_IN also count two decimal numbers equal when their 3-decimal
 * forms are ("0.80" == "0.8001" == "0.8").
 *
 * Missing attribute. Every operator refuses an agent that lacks the field
 * except UNLIKE and NOT_IN, which accept it; the hostname is never missing.
 *
 * Regexes. LIKE/UNLIKE are full matches: the pattern is compiled as
 * "^(pattern)$" and a match must also span the whole value, so a pattern
 * such as "a)|(b" cannot escape the anchors. Untrusted patterns are bounded
 * before regcomp: length, no back-references (which make glibc's matcher
 * backtrack), and an estimate of the automaton size so that nested
 * counted repetitions cannot make regcomp allocate without limit.
 *
 * Cost. A check is O(C * P) string formats for C constraints and P placed
 * instances, plus O(P log P) for GROUP_BY (the placed values are sorted to
 * count them).
 */
#include "lib/compat.h"
#include "services/constraint.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/resources.h"

/* Most constraints in one set: real apps have a handful. */
#define CONSTRAINT_SET_MAX 128
/* Longest LIKE/UNLIKE pattern accepted. */
#define PATTERN_LEN_MAX 1024
/* Largest estimated automaton size of a pattern (see pattern_check). */
#define PATTERN_COST_MAX 20000
#define PATTERN_DEPTH_MAX 32
/* Largest count of MAX_PER, GROUP_BY and limit:N. */
#define COUNT_MAX 1000000
/* Untrusted strings are quoted in messages up to this many bytes. */
#define QUOTE_LEN 64

static const char *const op_names[] = {
    [CONSTRAINT_UNIQUE] = "UNIQUE",
    [CONSTRAINT_CLUSTER] = "CLUSTER",
    [CONSTRAINT_GROUP_BY] = "GROUP_BY",
    [CONSTRAINT_MAX_PER] = "MAX_PER",
    [CONSTRAINT_LIKE] = "LIKE",
    [CONSTRAINT_UNLIKE] = "UNLIKE",
    [CONSTRAINT_IS] = "IS",
    [CONSTRAINT_IN] = "IN",
    [CONSTRAINT_NOT_IN] = "NOT_IN",
    [CONSTRAINT_DEDICATED] = "DEDICATED",
};

/* Operators of the Marathon array form (DEDICATED is Atoll's addition). */
static const enum constraint_op marathon_ops[] = {
    CONSTRAINT_UNIQUE,  CONSTRAINT_CLUSTER,   CONSTRAINT_GROUP_BY,
    CONSTRAINT_MAX_PER, CONSTRAINT_LIKE,      CONSTRAINT_UNLIKE,
    CONSTRAINT_IS,      CONSTRAINT_DEDICATED,
};

/* ---- lifecycle ------------------------------------------------------ */

static void constraint_release(struct constraint *c)
{
	free(c->field);
	free(c->value);
	for (size_t i = 0; i < c->nvalues; i++)
		free(c->values[i]);
	free(c->values);
	if (c->has_re)
		regfree(&c->re);
	memset(c, 0, sizeof(*c));
}

void constraint_set_init(struct constraint_set *cs)
{
	cs->v = NULL;
	cs->n = 0;
}

void constraint_set_release(struct constraint_set *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		constraint_release(&cs->v[i]);
	free(cs->v);
	constraint_set_init(cs);
}

/* Compiles value as an anchored extended regex into c->re. */
static int regex_compile(struct constraint *c, struct err *e)
{
	char *wrapped = xasprintf("^(%s)$", c->value);
	int rc = regcomp(&c->re, wrapped, REG_EXTENDED);

	free(wrapped);
	if (rc) {
		char msg[160];
		regerror(rc, &c->re, msg, sizeof(msg));
		return err_set(e, "%s: invalid regular expression '%.*s': %s",
		               op_names[c->op], QUOTE_LEN, c->value, msg);
	}
	c->has_re = true;
	return 0;
}

void constraint_set_copy(struct constraint_set *dst,
                         const struct constraint_set *src)
{
	if (dst == src)
		return;
	constraint_set_release(dst);
	if (!src->n)
		return;
	dst->v = xcalloc(src->n, sizeof(*dst->v));
	dst->n = src->n;
	for (size_t i = 0; i < src->n; i++) {
		const struct constraint *s = &src->v[i];
		struct constraint *d = &dst->v[i];
		struct err e;

		d->field = xstrdup(s->field);
		d->op = s->op;
		d->value = s->value ? xstrdup(s->value) : NULL;
		d->n = s->n;
		d->aurora = s->aurora;
		if (s->nvalues) {
			d->values = xcalloc(s->nvalues, sizeof(*d->values));
			for (size_t k = 0; k < s->nvalues; k++)
				d->values[k] = xstrdup(s->values[k]);
			d->nvalues = s->nvalues;
		}
		/* the pattern compiled once already: it compiles again */
		if (s->has_re)
			BUG_ON(regex_compile(d, &e));
	}
}

/* ---- values --------------------------------------------------------- */

static bool field_is_hostname(const char *field)
{
	return !strcmp(field, "hostname") || !strcmp(field, "@hostname");
}

/* Appends milli-units as Marathon's "0.###" ("2", "0.5", "-1.25"). */
static void milli_append(struct buf *out, int64_t milli)
{
	uint64_t u =
	    milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
	unsigned frac = (unsigned)(u % RES_SCALE);

	if (milli < 0)
		buf_addc(out, '-');
	buf_addf(out, "%" PRIu64, u / RES_SCALE);
	if (frac) {
		char digits[8];
		int len = snprintf(digits, sizeof(digits), "%03u", frac);
		while (len > 0 && digits[len - 1] == '0')
			len--;
		buf_addc(out, '.');
		buf_add(out, digits, (size_t)len);
	}
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the Marathon string form of an attribute's value. */
static void attribute_value_append(struct buf *out, const struct attribute *a)
{
	switch (a->type) {
	case ATTRIBUTE_TEXT:
		buf_adds(out, a->text ? a->text : "");
		break;
	case ATTRIBUTE_SCALAR:
		milli_append(out, a->scalar);
		break;
	case ATTRIBUTE_RANGES:
		buf_addc(out, '[');
		for (size_t i = 0; i < a->nranges; i++)
			buf_addf(out, "%s%" PRIu64 "-%" PRIu64, i ? "," : "",
			         a->ranges[i].begin, a->ranges[i].end);
		buf_addc(out, ']');
		break;
	case ATTRIBUTE_SET: {
		const char **items = NULL;
		if (a->nitems) {
			items = xmalloc(a->nitems * sizeof(*items));
			memcpy(items, a->items, a->nitems * sizeof(*items));
			qsort(items, a->nitems, sizeof(*items), str_cmp);
		}
		buf_addc(out, '{');
		for (size_t i = 0; i < a->nitems; i++)
			buf_addf(out, "%s%s", i ? "," : "", items[i]);
		buf_addc(out, '}');
		free(items);
		break;
	}
	}
}

/*
 * Puts agent's value of field into out (reset first); false when the
 * agent lacks the attribute. The hostname is never missing.
 */
static bool agent_value(struct buf *out, const struct constraint_agent *agent,
                        const char *field)
{
	const struct attribute *a;

	buf_reset(out);
	buf_grow(out, 0);
	if (field_is_hostname(field)) {
		buf_adds(out, agent->hostname ? agent->hostname : "");
		return true;
	}
	if (!agent->attributes)
		return false;
	a = attributes_find(agent->attributes, field);
	if (!a)
		return false;
	attribute_value_append(out, a);
	return true;
}

char *constraint_agent_value(const struct constraint_agent *agent,
                             const char *field)
{
	struct buf b = BUF_INIT;

	if (!agent_value(&b, agent, field)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/*
 * When s is a plain decimal number ("-0.80", "12", ".5") puts its
 * 3-decimal form into out ("-0.8", "12", "0.5") and returns true.
 * Exponents, signs other than a leading '-', inf and nan are not numbers.
 */
static bool number_normalize(const char *s, struct buf *out)
{
	bool digit = false;
	double d;
	char *end;

	for (const char *p = s; *p; p++) {
		if (isdigit((unsigned char)*p))
			digit = true;
		else if (!(*p == '.' || (*p == '-' && p == s)))
			return false;
	}
	if (!digit)
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (*end || errno || !isfinite(d))
		return false;
	buf_reset(out);
	buf_addf(out, "%.3f", d);
	while (out->len && out->data[out->len - 1] == '0')
		out->len--;
	if (out->len && out->data[out->len - 1] == '.')
		out->len--;
	out->data[out->len] = '\0';
	if (!strcmp(out->data, "-0")) {
		buf_reset(out);
		buf_addc(out, '0');
	}
	return true;
}

/* String equality, where two decimal numbers are equal when their
 * 3-decimal forms are. */
static bool value_equal(const char *a, const char *b)
{
	struct buf na = BUF_INIT, nb = BUF_INIT;
	bool eq;

	if (!strcmp(a, b))
		return true;
	eq = number_normalize(a, &na) && number_normalize(b, &nb) &&
	     !strcmp(na.data, nb.data);
	buf_release(&na);
	buf_release(&nb);
	return eq;
}

/* The full-match test of LIKE/UNLIKE. */
static bool regex_full_match(const regex_t *re, const char *s)
{
	regmatch_t m[1];

	if (regexec(re, s, 1, m, 0))
		return false;
	return m[0].rm_so == 0 && (size_t)m[0].rm_eo == strlen(s);
}

/* "role/name": splits at the first '/'; both parts non-empty. */
static bool dedicated_split(const char *v, size_t *role_len, const char **name)
{
	const char *slash = strchr(v, '/');

	if (!slash || slash == v || !slash[1])
		return false;
	*role_len = (size_t)(slash - v);
	*name = slash + 1;
	return true;
}

/* Whether an app's DEDICATED value want admits an agent dedicated to have:
 * equal, or want's role is "*" and the names are equal. */
static bool dedicated_match(const char *want, const char *have)
{
	size_t wrole, hrole;
	const char *wname, *hname;

	if (!strcmp(want, have))
		return true;
	if (!dedicated_split(want, &wrole, &wname) ||
	    !dedicated_split(have, &hrole, &hname))
		return false;
	return wrole == 1 && want[0] == '*' && !strcmp(wname, hname);
}

/* ---- parsing -------------------------------------------------------- */

/* A count: decimal digits only, 1..COUNT_MAX. */
static bool count_parse(const char *s, long *out)
{
	long v = 0;

	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (*p - '0');
		if (v > COUNT_MAX)
			return false;
	}
	if (v < 1)
		return false;
	*out = v;
	return true;
}

/* IS values match ^[a-zA-Z0-9_/.-]*$ (Marathon's validation). */
static bool is_value_ok(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_/.-", *p))
			return false;
	return true;
}

/* Skips a bracket expression starting at p[i] == '['; returns the index of
 * its closing ']' or of the terminating NUL. */
static size_t bracket_skip(const char *p, size_t i)
{
	size_t j = i + 1;

	if (p[j] == '^')
		j++;
	if (p[j] == ']')
		j++;
	while (p[j] && p[j] != ']') {
		if (p[j] == '[' && p[j + 1] && strchr(":.=", p[j + 1])) {
			char close = p[j + 1];
			j += 2;
			while (p[j] && !(p[j] == close && p[j + 1] == ']'))
				j++;
			if (p[j])
				j++;
		}
		if (p[j])
			j++;
	}
	return j;
}

/*
 * Bounds an untrusted ERE before regcomp: no back-references, and an
 * estimate of the automaton size (every atom 1, a group the sum of its
 * parts, a counted repetition multiplies by its largest bound) of at most
 * PATTERN_COST_MAX. The estimate only has to be an upper bound for
 * well-formed patterns; regcomp judges the syntax.
 */
static int pattern_check(const struct constraint *c, struct err *e)
{
	const char *p = c->value;
	unsigned long sum[PATTERN_DEPTH_MAX + 1] = {0};
	unsigned long last = 0;
	size_t depth = 0;

	if (strlen(p) > PATTERN_LEN_MAX)
		return err_set(e,
		               "%s: regular expression longer than %d "
		               "characters",
		               op_names[c->op], PATTERN_LEN_MAX);
	for (size_t i = 0; p[i]; i++) {
		switch (p[i]) {
		case '\\':
			if (p[i + 1] >= '1' && p[i + 1] <= '9')
				return err_set(e,
				               "%s: back-references are not "
				               "supported in '%.*s'",
				               op_names[c->op], QUOTE_LEN, p);
			if (p[i + 1])
				i++;
			last = 1;
			sum[depth] += 1;
			break;
		case '[':
			i = bracket_skip(p, i);
			last = 1;
			sum[depth] += 1;
			if (!p[i])
				i--;
			break;
		case '(':
			if (depth == PATTERN_DEPTH_MAX)
				goto too_complex;
			sum[++depth] = 0;
			last = 0;
			break;
		case ')':
			if (!depth) {
				last = 1;
				sum[depth] += 1;
				break;
			}
			last = sum[depth] + 1;
			sum[--depth] += last;
			break;
		case '{': {
			unsigned long lo = 0, hi = 0, bound;
			size_t j = i + 1;
			bool comma = false;
			while (isdigit((unsigned char)p[j]) && lo <= COUNT_MAX)
				lo = lo * 10 + (unsigned long)(p[j++] - '0');
			if (p[j] == ',') {
				comma = true;
				j++;
				while (isdigit((unsigned char)p[j]) &&
				       hi <= COUNT_MAX)
					hi = hi * 10 +
					     (unsigned long)(p[j++] - '0');
			}
			if (p[j] != '}') {
				/* not a bound: a literal '{' */
				last = 1;
				sum[depth] += 1;
				break;
			}
			bound = comma && hi > lo ? hi : lo;
			if (bound > COUNT_MAX)
				goto too_complex;
			if (bound > 1)
				sum[depth] += last * (bound - 1);
			last *= bound ? bound : 1;
			i = j;
			break;
		}
		case '*':
		case '+':
		case '?':
		case '|':
		case '^':
		case '$':
			break;
		default:
			last = 1;
			sum[depth] += 1;
			break;
		}
		if (sum[depth] > PATTERN_COST_MAX || last > PATTERN_COST_MAX)
			goto too_complex;
	}
	return 0;
too_complex:
	return err_set(e,
	               "%s: regular expression '%.*s' is too complex "
	               "(counted repetitions or groups nest too deep)",
	               op_names[c->op], QUOTE_LEN, p);
}

/* Validates c->value for c->op and fills n / re. The reason only; the
 * caller prefixes the element. */
static int constraint_validate(struct constraint *c, struct err *e)
{
	const char *v = c->value;
	size_t role_len;
	const char *name;
	int rc;

	switch (c->op) {
	case CONSTRAINT_UNIQUE:
		if (v)
			return err_set(e, "UNIQUE takes no value, got '%.*s'",
			               QUOTE_LEN, v);
		return 0;
	case CONSTRAINT_CLUSTER:
		return 0;
	case CONSTRAINT_GROUP_BY:
		if (v && !count_parse(v, &c->n))
			return err_set(e,
			               "GROUP_BY takes an optional positive "
			               "integer, got '%.*s'",
			               QUOTE_LEN, v);
		return 0;
	case CONSTRAINT_MAX_PER:
		if (!v)
			return err_set(e, "MAX_PER needs a positive integer "
			                  "value");
		if (!count_parse(v, &c->n))
			return err_set(e,
			               "MAX_PER needs a positive integer, got "
			               "'%.*s'",
			               QUOTE_LEN, v);
		return 0;
	case CONSTRAINT_LIKE:
	case CONSTRAINT_UNLIKE:
		if (!v || !*v)
			return err_set(e, "%s needs a regular expression",
			               op_names[c->op]);
		if ((rc = pattern_check(c, e)))
			return rc;
		return regex_compile(c, e);
	case CONSTRAINT_IS:
		if (!v)
			return err_set(e, "IS needs a value");
		if (!is_value_ok(v))
			return err_set(e,
			               "IS value '%.*s' may contain only "
			               "letters, digits and _/.-",
			               QUOTE_LEN, v);
		return 0;
	case CONSTRAINT_DEDICATED:
		if (strcmp(c->field, "dedicated"))
			return err_set(e, "DEDICATED applies to the field "
			                  "'dedicated' only");
		if (!v || !dedicated_split(v, &role_len, &name))
			return err_set(e,
			               "dedicated must be 'role/name' or "
			               "'*/name', got '%.*s'",
			               QUOTE_LEN, v ? v : "");
		return 0;
	case CONSTRAINT_IN:
	case CONSTRAINT_NOT_IN:
		return 0;
	}
	return 0;
}

/* One element of the Marathon array: [field, OP] or [field, OP, value]. */
static int marathon_parse(struct constraint *c, const json_t *el, struct err *e)
{
	const char *field, *op, *value = NULL;
	size_t len, k;

	if (!json_is_array(el))
		return err_set(e, "must be an array [field, operator] or "
		                  "[field, operator, value]");
	len = json_array_size(el);
	if (len < 2 || len > 3)
		return err_set(e, "must have 2 or 3 items, got %zu", len);
	for (k = 0; k < len; k++)
		if (!json_is_string(json_array_get(el, k)))
			return err_set(e, "item %zu must be a string", k);
	field = json_string_value(json_array_get(el, 0));
	op = json_string_value(json_array_get(el, 1));
	if (len == 3)
		value = json_string_value(json_array_get(el, 2));
	if (!*field)
		return err_set(e, "field must not be empty");
	for (k = 0; k < ARRAY_SIZE(marathon_ops); k++)
		if (!strcmp(op, op_names[marathon_ops[k]]))
			break;
	if (k == ARRAY_SIZE(marathon_ops))
		return err_set(e,
		               "unknown operator '%.*s' (expected UNIQUE, "
		               "CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE, IS "
		               "or DEDICATED)",
		               QUOTE_LEN, op);
	c->op = marathon_ops[k];
	c->field = xstrdup(field_is_hostname(field) ? "hostname" : field);
	/* an empty value of an optional-value operator means none, as
	 * Marathon's UI sends it */
	if (value && !*value &&
	    (c->op == CONSTRAINT_UNIQUE || c->op == CONSTRAINT_CLUSTER ||
	     c->op == CONSTRAINT_GROUP_BY))
		value = NULL;
	c->value = value ? xstrdup(value) : NULL;
	return constraint_validate(c, e);
}

/* Splits "a,b" into c->values; every item non-empty. */
static int values_split(struct constraint *c, const char *list, struct err *e)
{
	size_t n = 1;
	const char *p;

	for (p = list; *p; p++)
		n += *p == ',';
	c->values = xcalloc(n, sizeof(*c->values));
	for (p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (!len)
			return err_set(e, "empty value in '%.*s'", QUOTE_LEN,
			               c->value);
		c->values[c->nvalues++] = xstrndup(p, len);
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* One key of the Aurora object: field: "limit:N" | "v1,v2" | "!v1,v2",
 * or dedicated: "role/name". */
static int aurora_parse(struct constraint *c, const char *key, const json_t *v,
                        struct err *e)
{
	const char *expr;

	c->aurora = true;
	if (!*key)
		return err_set(e, "field must not be empty");
	if (!json_is_string(v))
		return err_set(e, "must be a string");
	expr = json_string_value(v);
	if (!*expr)
		return err_set(e, "must not be empty");
	c->field = xstrdup(
	    field_is_hostname(key) || !strcmp(key, "host") ? "hostname" : key);
	c->value = xstrdup(expr);
	if (!strcmp(c->field, "dedicated")) {
		c->op = CONSTRAINT_DEDICATED;
		return constraint_validate(c, e);
	}
	if (!strncmp(expr, "limit:", 6)) {
		c->op = CONSTRAINT_MAX_PER;
		if (!count_parse(expr + 6, &c->n))
			return err_set(e,
			               "limit needs a positive integer, got "
			               "'%.*s'",
			               QUOTE_LEN, expr + 6);
		return 0;
	}
	if (expr[0] == '!') {
		c->op = CONSTRAINT_NOT_IN;
		return values_split(c, expr + 1, e);
	}
	c->op = CONSTRAINT_IN;
	return values_split(c, expr, e);
}

static void set_discard(struct constraint *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		constraint_release(&v[i]);
	free(v);
}

int constraint_set_from_json(struct constraint_set *cs, const json_t *v,
                             size_t *bad_index, struct err *e)
{
	struct constraint *tmp = NULL;
	size_t n, i = 0;
	int rc = 0;

	if (!v || json_is_null(v)) {
		constraint_set_release(cs);
		return 0;
	}
	if (!json_is_array(v) && !json_is_object(v))
		return err_set(e, "constraints: must be an array of "
		                  "[field, operator, value] (Marathon) or an "
		                  "object of field: expression (Aurora)");
	n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
	if (n > CONSTRAINT_SET_MAX)
		return err_set(e,
		               "constraints: at most %d constraints, got %zu",
		               CONSTRAINT_SET_MAX, n);
	if (n)
		tmp = xcalloc(n, sizeof(*tmp));
	if (json_is_array(v)) {
		const json_t *el;
		json_array_foreach(v, i, el)
		{
			if ((rc = marathon_parse(&tmp[i], el, e))) {
				err_prefix(e, "constraints(%zu)", i);
				goto out_bad;
			}
		}
	} else {
		/* jansson keeps the keys in insertion order */
		json_t *obj = (json_t *)v, *val;
		const char *key;
		json_object_foreach(obj, key, val)
		{
			rc = aurora_parse(&tmp[i], key, val, e);
			for (size_t k = 0; k < i && !rc; k++)
				if (!strcmp(tmp[k].field, tmp[i].field))
					rc = err_set(e,
					             "field '%.*s' given twice",
					             QUOTE_LEN, tmp[i].field);
			if (rc) {
				err_prefix(e, "constraints.%.*s", QUOTE_LEN,
				           key);
				goto out_bad;
			}
			i++;
		}
	}
	constraint_set_release(cs);
	cs->v = tmp;
	cs->n = n;
	return 0;
out_bad:
	if (bad_index)
		*bad_index = i;
	set_discard(tmp, n);
	return rc;
}

/* ---- writing and describing ---------------------------------------- */

/* Appends the Aurora expression of c ("limit:3", "a,b", "!a"). */
static void aurora_expr_append(struct buf *out, const struct constraint *c)
{
	switch (c->op) {
	case CONSTRAINT_MAX_PER:
		buf_addf(out, "limit:%ld", c->n);
		return;
	case CONSTRAINT_IN:
	case CONSTRAINT_NOT_IN:
		if (c->op == CONSTRAINT_NOT_IN)
			buf_addc(out, '!');
		for (size_t k = 0; k < c->nvalues; k++)
			buf_addf(out, "%s%s", k ? "," : "", c->values[k]);
		return;
	default:
		buf_adds(out, c->value ? c->value : "");
		return;
	}
}

void constraint_set_write_json(struct jsonw *w, const struct constraint_set *cs)
{
	struct buf expr = BUF_INIT;

	if (!cs->n || !cs->v[0].aurora) {
		jsonw_arr_begin(w);
		for (size_t i = 0; i < cs->n; i++) {
			const struct constraint *c = &cs->v[i];
			jsonw_arr_begin(w);
			jsonw_str(w, c->field);
			jsonw_str(w, op_names[c->op]);
			if (c->value)
				jsonw_str(w, c->value);
			jsonw_arr_end(w);
		}
		jsonw_arr_end(w);
		return;
	}
	jsonw_obj_begin(w);
	for (size_t i = 0; i < cs->n; i++) {
		const struct constraint *c = &cs->v[i];
		buf_reset(&expr);
		buf_grow(&expr, 0);
		aurora_expr_append(&expr, c);
		jsonw_kstr(w, strcmp(c->field, "hostname") ? c->field : "host",
		           expr.data);
	}
	jsonw_obj_end(w);
	buf_release(&expr);
}

char *constraint_describe(const struct constraint_set *cs, size_t i)
{
	const struct constraint *c;
	struct buf b = BUF_INIT;

	if (i == CONSTRAINT_DEDICATED_HOST)
		return xstrdup("dedicated host");
	BUG_ON(i >= cs->n);
	c = &cs->v[i];
	buf_addf(&b, "%s %s", c->field, op_names[c->op]);
	switch (c->op) {
	case CONSTRAINT_MAX_PER:
		buf_addf(&b, " %ld", c->n);
		break;
	case CONSTRAINT_GROUP_BY:
		if (c->n)
			buf_addf(&b, " %ld", c->n);
		break;
	case CONSTRAINT_IN:
	case CONSTRAINT_NOT_IN:
		for (size_t k = 0; k < c->nvalues; k++)
			buf_addf(&b, "%c%s", k ? ',' : ' ', c->values[k]);
		break;
	default:
		if (c->value)
			buf_addf(&b, " %s", c->value);
		break;
	}
	return buf_detach(&b, NULL);
}

/* ---- checking ------------------------------------------------------- */

/* Scratch buffers of one check, reused across constraints. */
struct check_ctx {
	const struct constraint_agent *placed;
	size_t n_placed;
	struct buf value; /* the agent's value */
	struct buf other; /* a placed instance's value */
};

/* Placed instances whose value of field equals v (plain string). */
static size_t placed_count(struct check_ctx *x, const char *field,
                           const char *v)
{
	size_t count = 0;

	for (size_t i = 0; i < x->n_placed; i++)
		if (agent_value(&x->other, &x->placed[i], field) &&
		    !strcmp(x->other.data, v))
			count++;
	return count;
}

/* What GROUP_BY needs about the placed instances' values of a field. */
struct group_stats {
	size_t count;      /* instances on the agent's value */
	size_t used;       /* distinct values in use */
	size_t min;        /* smallest count of a used value */
	size_t over_quota; /* values holding more than quota */
};

static void group_stats(struct check_ctx *x, const char *field, const char *v,
                        size_t quota, struct group_stats *s)
{
	char **vals = xcalloc(x->n_placed ? x->n_placed : 1, sizeof(*vals));
	size_t m = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < x->n_placed; i++)
		if (agent_value(&x->other, &x->placed[i], field))
			vals[m++] = xstrdup(x->other.data);
	qsort(vals, m, sizeof(*vals), str_cmp);
	for (size_t i = 0; i < m;) {
		size_t j = i + 1;
		while (j < m && !strcmp(vals[i], vals[j]))
			j++;
		if (!s->used || j - i < s->min)
			s->min = j - i;
		s->used++;
		if (j - i > quota)
			s->over_quota++;
		if (!strcmp(vals[i], v))
			s->count = j - i;
		i = j;
	}
	for (size_t i = 0; i < m; i++)
		free(vals[i]);
	free(vals);
}

static bool group_by_ok(struct check_ctx *x, const struct constraint *c,
                        long instances)
{
	struct group_stats s;
	size_t quota, extra;

	if (!c->n) {
		/* least loaded: a new value (count 0) always qualifies */
		group_stats(x, c->field, x->value.data, SIZE_MAX, &s);
		return s.count == 0 || s.count <= s.min;
	}
	if (instances < 0)
		instances = 0;
	quota = (size_t)(instances / c->n);
	extra = (size_t)(instances % c->n);
	group_stats(x, c->field, x->value.data, quota, &s);
	if (s.count == 0 && s.used >= (size_t)c->n)
		return false;
	if (s.count + 1 <= quota)
		return true;
	return s.count == quota && s.over_quota < extra;
}

/* CLUSTER without a value: the value of the first placed instance that
 * has the field, if any. */
static bool cluster_ok(struct check_ctx *x, const struct constraint *c)
{
	if (c->value)
		return value_equal(x->value.data, c->value);
	for (size_t i = 0; i < x->n_placed; i++)
		if (agent_value(&x->other, &x->placed[i], c->field))
			return !strcmp(x->other.data, x->value.data);
	return true;
}

static bool any_value_equal(const struct constraint *c, const char *v)
{
	for (size_t k = 0; k < c->nvalues; k++)
		if (value_equal(v, c->values[k]))
			return true;
	return false;
}

static bool constraint_ok(struct check_ctx *x, const struct constraint *c,
                          long instances, const struct constraint_agent *agent)
{
	if (!agent_value(&x->value, agent, c->field))
		return c->op == CONSTRAINT_UNLIKE || c->op == CONSTRAINT_NOT_IN;
	switch (c->op) {
	case CONSTRAINT_UNIQUE:
		return placed_count(x, c->field, x->value.data) == 0;
	case CONSTRAINT_CLUSTER:
		return cluster_ok(x, c);
	case CONSTRAINT_GROUP_BY:
		return group_by_ok(x, c, instances);
	case CONSTRAINT_MAX_PER:
		return placed_count(x, c->field, x->value.data) < (size_t)c->n;
	case CONSTRAINT_LIKE:
		return regex_full_match(&c->re, x->value.data);
	case CONSTRAINT_UNLIKE:
		return !regex_full_match(&c->re, x->value.data);
	case CONSTRAINT_IS:
		return value_equal(x->value.data, c->value);
	case CONSTRAINT_IN:
		return any_value_equal(c, x->value.data);
	case CONSTRAINT_NOT_IN:
		return !any_value_equal(c, x->value.data);
	case CONSTRAINT_DEDICATED:
		return dedicated_match(c->value, x->value.data);
	}
	return false;
}

struct constraint_verdict
constraint_set_check(const struct constraint_set *cs, long instances,
                     const struct constraint_agent *agent,
                     const struct constraint_agent *placed, size_t n_placed)
{
	struct constraint_verdict r = {true, 0};
	struct check_ctx x = {placed, n_placed, BUF_INIT, BUF_INIT};
	bool wants_dedicated = false;

	for (size_t i = 0; i < cs->n; i++)
		wants_dedicated |= cs->v[i].op == CONSTRAINT_DEDICATED;
	/* a dedicated agent takes only the apps that ask for it */
	if (!wants_dedicated && agent_value(&x.value, agent, "dedicated")) {
		r.ok = false;
		r.failed = CONSTRAINT_DEDICATED_HOST;
		goto out;
	}
	for (size_t i = 0; i < cs->n; i++) {
		if (!constraint_ok(&x, &cs->v[i], instances, agent)) {
			r.ok = false;
			r.failed = i;
			break;
		}
	}
out:
	buf_release(&x.value);
	buf_release(&x.other);
	return r;
}

/* ---- scale-down ----------------------------------------------------- */

struct keyed {
	char *value; /* NULL = attribute missing */
	size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (!x->value || !y->value) {
		if (x->value != y->value)
			return x->value ? 1 : -1;
	} else {
		int c = strcmp(x->value, y->value);
		if (c)
			return c;
	}
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Numbers the distinct values of field over agents[0..n) into group[]
 * (instances lacking the field form one group) and counts each group. */
static void groups_assign(const char *field,
                          const struct constraint_agent *agents, size_t n,
                          size_t *group, size_t *count)
{
	struct keyed *k = xcalloc(n, sizeof(*k));
	struct buf b = BUF_INIT;
	size_t id = 0;

	for (size_t i = 0; i < n; i++) {
		k[i].index = i;
		k[i].value =
		    agent_value(&b, &agents[i], field) ? xstrdup(b.data) : NULL;
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && keyed_cmp(&(struct keyed){k[i - 1].value, 0},
		                   &(struct keyed){k[i].value, 0}))
			id++;
		group[k[i].index] = id;
		count[id]++;
	}
	for (size_t i = 0; i < n; i++)
		free(k[i].value);
	free(k);
	buf_release(&b);
}

void constraint_pick_victims(const struct constraint_set *cs,
                             const struct constraint_agent *agents,
                             const double *started, size_t n, size_t k,
                             bool oldest_first, size_t *victims)
{
	size_t ngb = 0, g = 0;
	size_t *group, *count;
	bool *taken;

	BUG_ON(k > n);
	if (!k)
		return;
	for (size_t i = 0; i < cs->n; i++)
		ngb += cs->v[i].op == CONSTRAINT_GROUP_BY;
	group = xcalloc(ngb * n + 1, sizeof(*group));
	count = xcalloc(ngb * n + 1, sizeof(*count));
	taken = xcalloc(n, sizeof(*taken));
	for (size_t i = 0; i < cs->n; i++)
		if (cs->v[i].op == CONSTRAINT_GROUP_BY) {
			groups_assign(cs->v[i].field, agents, n, group + g * n,
			              count + g * n);
			g++;
		}
	for (size_t r = 0; r < k; r++) {
		size_t best = n;
		for (size_t i = 0; i < n; i++) {
			if (taken[i])
				continue;
			if (best == n) {
				best = i;
				continue;
			}
			/* the fuller group first, GROUP_BYs in order */
			int cmp = 0;
			for (size_t j = 0; j < ngb && !cmp; j++) {
				size_t ci = count[j * n + group[j * n + i]];
				size_t cb = count[j * n + group[j * n + best]];
				cmp = ci > cb ? 1 : ci < cb ? -1 : 0;
			}
			if (!cmp && started[i] != started[best])
				cmp =
				    (oldest_first ? started[i] < started[best]
				                  : started[i] > started[best])
					? 1
					: -1;
			if (cmp > 0)
				best = i;
		}
		victims[r] = best;
		taken[best] = true;
		for (size_t j = 0; j < ngb; j++)
			count[j * n + group[j * n + best]]--;
	}
	free(taken);
	free(count);
	free(group);
}
