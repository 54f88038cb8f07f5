/*
 * flags.c: table-driven flag parsing. A flag table is the single source of
 * truth for a role's options: parsing, defaults, bounds, --help text and the
 * GET_FLAGS answer all read it.
 */
#include "lib/compat.h"
#include "lib/flags.h"
#include "lib/err.h"
#include "lib/jsonw.h"

#include <math.h>
#include <strings.h>

static void *flag_ptr(const struct flag_def *d, void *cfg)
{
	return (char *)cfg + d->offset;
}

int flags_parse_duration(const char *s, double *seconds)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
	    {"ns", 1e-9},     {"us", 1e-6},   {"ms", 1e-3}, {"secs", 1},
	    {"sec", 1},       {"s", 1},       {"mins", 60}, {"min", 60},
	    {"m", 60},        {"hrs", 3600},  {"hr", 3600}, {"h", 3600},
	    {"days", 86400},  {"day", 86400}, {"d", 86400}, {"weeks", 604800},
	    {"week", 604800}, {"w", 604800},
	};
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (*end == '\0') {
		*seconds = v;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double secs = v * units[i].mult;
			if (!isfinite(secs))
				return -EINVAL;
			*seconds = secs;
			return 0;
		}
	}
	return -EINVAL;
}

int flags_parse_bytes(const char *s, unsigned long long *bytes)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
	    {"B", 1},
	    {"KB", 1024.0},
	    {"KiB", 1024.0},
	    {"MB", 1048576.0},
	    {"MiB", 1048576.0},
	    {"GB", 1073741824.0},
	    {"GiB", 1073741824.0},
	    {"TB", 1099511627776.0},
	};
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (*end == '\0') {
		if (v > 1.8e19)
			return -EINVAL;
		*bytes = (unsigned long long)v;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			double b = v * units[i].mult;
			if (b > 1.8e19)
				return -EINVAL;
			*bytes = (unsigned long long)b;
			return 0;
		}
	}
	return -EINVAL;
}

static int flag_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static bool flag_has_bounds(const struct flag_def *d)
{
	return d->min != d->max;
}

static int flag_set(const struct flag_def *d, void *cfg, const char *val,
                    struct err *e)
{
	void *p = flag_ptr(d, cfg);
	char *end;
	double dv = 0;

	switch (d->type) {
	case FLAG_STRING:
		free(*(char **)p);
		*(char **)p = xstrdup(val);
		return 0;
	case FLAG_BOOL:
		if (flag_parse_bool(val, (bool *)p))
			return err_set(e,
			               "--%s: expected true or false, got '%s'",
			               d->name, val);
		return 0;
	case FLAG_INT: {
		long v;
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end)
			return err_set(e, "--%s: expected an integer, got '%s'",
			               d->name, val);
		dv = (double)v;
		*(long *)p = v;
		break;
	}
	case FLAG_DOUBLE:
		errno = 0;
		dv = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(dv))
			return err_set(e, "--%s: expected a number, got '%s'",
			               d->name, val);
		*(double *)p = dv;
		break;
	case FLAG_DURATION:
		if (flags_parse_duration(val, &dv))
			return err_set(
			    e,
			    "--%s: expected a duration such as 15secs, "
			    "500ms or 10mins, got '%s'",
			    d->name, val);
		*(double *)p = dv;
		break;
	case FLAG_BYTES: {
		unsigned long long b;
		if (flags_parse_bytes(val, &b))
			return err_set(e,
			               "--%s: expected a size such as 8MB, got "
			               "'%s'",
			               d->name, val);
		*(uint64_t *)p = b;
		dv = (double)b;
		break;
	}
	}
	if (flag_has_bounds(d) && (dv < d->min || dv > d->max))
		return err_set(e, "--%s: must be between %g and %g, got '%s'",
		               d->name, d->min, d->max, val);
	return 0;
}

/* Compares a user-typed flag name with a table name; '_' matches '-'. */
static bool flag_name_eq(const char *typed, size_t len, const char *name)
{
	size_t i;
	for (i = 0; i < len; i++) {
		char c = typed[i] == '_' ? '-' : typed[i];
		if (name[i] == '\0' || c != name[i])
			return false;
	}
	return name[i] == '\0';
}

static const struct flag_def *flag_find(const struct flag_def *defs, size_t n,
                                        const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (flag_name_eq(name, len, defs[i].name))
			return &defs[i];
	return NULL;
}

int flags_parse(const struct flag_def *defs, size_t n, void *cfg, int argc,
                char **argv, int *rest, struct err *e)
{
	int i, rc;

	for (size_t k = 0; k < n; k++) {
		if (defs[k].def &&
		    (rc = flag_set(&defs[k], cfg, defs[k].def, e)))
			return err_prefix(e, "default");
	}
	if (rest)
		*rest = argc;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		const struct flag_def *d;
		size_t len;
		bool negated = false;

		if (strcmp(a, "--") == 0) {
			if (!rest)
				return err_set(e, "unexpected '--'");
			*rest = i + 1;
			return 0;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		if (strncmp(a, "--", 2) != 0)
			return err_set(e,
			               "unexpected argument '%s' (flags "
			               "look like --name=value)",
			               a);
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		d = flag_find(defs, n, name, len);
		if (!d && len > 3 && strncmp(name, "no-", 3) == 0 && !eq) {
			d = flag_find(defs, n, name + 3, len - 3);
			if (d && d->type == FLAG_BOOL)
				negated = true;
			else
				d = NULL;
		}
		if (!d)
			return err_set(e, "unknown flag '--%.*s' (see --help)",
			               (int)len, name);
		if (eq) {
			val = eq + 1;
		} else if (d->type == FLAG_BOOL) {
			val = negated ? "false" : "true";
		} else {
			if (i + 1 >= argc)
				return err_set(e, "--%s: missing value",
				               d->name);
			val = argv[++i];
		}
		if ((rc = flag_set(d, cfg, val, e)))
			return rc;
	}
	return 0;
}

void flags_release(const struct flag_def *defs, size_t n, void *cfg)
{
	for (size_t i = 0; i < n; i++) {
		if (defs[i].type == FLAG_STRING) {
			char **p = flag_ptr(&defs[i], cfg);
			free(*p);
			*p = NULL;
		}
	}
}

static void flag_format(const struct flag_def *d, const void *cfg,
                        struct buf *out)
{
	const void *p = (const char *)cfg + d->offset;
	switch (d->type) {
	case FLAG_STRING:
		buf_adds(out, *(char *const *)p ? *(char *const *)p : "");
		break;
	case FLAG_BOOL:
		buf_adds(out, *(const bool *)p ? "true" : "false");
		break;
	case FLAG_INT:
		buf_addf(out, "%ld", *(const long *)p);
		break;
	case FLAG_DOUBLE:
		buf_addf(out, "%g", *(const double *)p);
		break;
	case FLAG_DURATION:
		buf_addf(out, "%gsecs", *(const double *)p);
		break;
	case FLAG_BYTES:
		buf_addf(out, "%lluB",
		         (unsigned long long)*(const uint64_t *)p);
		break;
	}
}

void flags_usage(FILE *out, const char *command, const char *summary,
                 const struct flag_def *defs, size_t n)
{
	fprintf(out, "usage: %s [flags]\n\n%s\n\nflags:\n", command, summary);
	for (size_t i = 0; i < n; i++) {
		const struct flag_def *d = &defs[i];
		static const char *const tn[] = {"STRING", "INT",      "NUMBER",
		                                 "BOOL",   "DURATION", "BYTES"};
		fprintf(out, "  --%s=%s\n      %s", d->name, tn[d->type],
		        d->help);
		if (d->def)
			fprintf(out, " (default: %s)", d->def);
		fputc('\n', out);
	}
}

void flags_write_list(struct jsonw *w, const struct flag_def *defs, size_t n,
                      const void *cfg)
{
	struct buf v = BUF_INIT;
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&v);
		flag_format(&defs[i], cfg, &v);
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", defs[i].name);
		jsonw_kstr(w, "value", v.data);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	buf_release(&v);
}

void flags_write_map(struct jsonw *w, const struct flag_def *defs, size_t n,
                     const void *cfg)
{
	struct buf v = BUF_INIT;
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&v);
		flag_format(&defs[i], cfg, &v);
		jsonw_kstr(w, defs[i].name, v.data);
	}
	jsonw_obj_end(w);
	buf_release(&v);
}
