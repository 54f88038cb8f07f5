/*
 * flags.h: each role's flags live in one table that drives parsing, --help
 * and GET_FLAGS. Flags keep Mesos's names with dashes and accept the
 * underscore spelling too (--work_dir), as --name=value or --name value;
 * booleans also take --name, --no-name, --name=true|false. Values are
 * validated once (type and bounds) and a bad flag yields an error that names
 * it. Durations accept Mesos's units (ns us ms secs s mins m hrs h days d
 * weeks; a bare number is seconds); byte sizes accept B KB MB GB (1024-based,
 * KiB MiB GiB too; a bare number is bytes).
 */
#ifndef ATOLL_FLAGS_H
#define ATOLL_FLAGS_H

#include <stddef.h>
#include <stdio.h>

struct err;
struct jsonw;

enum flag_type {
	FLAG_STRING,   /* char * (heap; freed by flags_release) */
	FLAG_INT,      /* long */
	FLAG_DOUBLE,   /* double */
	FLAG_BOOL,     /* bool */
	FLAG_DURATION, /* double, seconds */
	FLAG_BYTES,    /* uint64_t */
};

struct flag_def {
	const char *name; /* with dashes, without the leading "--" */
	enum flag_type type;
	size_t offset;   /* of the field inside the role's config struct */
	const char *def; /* default as text, NULL = unset (strings only) */
	double min, max; /* inclusive bounds for numbers; min == max = none */
	const char *help;
};

#define FLAG_DEF(cfgtype, field, nm, ty, dflt, lo, hi, hlp)                    \
	{                                                                      \
		.name = (nm), .type = (ty),                                    \
		.offset = offsetof(cfgtype, field), .def = (dflt),             \
		.min = (lo), .max = (hi), .help = (hlp)                        \
	}

/*
 * Applies the defaults, then parses argv[0..argc). Non-flag arguments are
 * not allowed except after "--", whose position is stored in *rest (argc if
 * none; rest may be NULL and then "--" is an error). Returns 0, 1 when
 * --help was given (the caller prints flags_usage()), or -EINVAL with e set.
 */
int flags_parse(const struct flag_def *defs, size_t n, void *cfg, int argc,
                char **argv, int *rest, struct err *e);
/* Frees string values. */
void flags_release(const struct flag_def *defs, size_t n, void *cfg);
void flags_usage(FILE *out, const char *command, const char *summary,
                 const struct flag_def *defs, size_t n);
/* Writes the current values as [{"name":..,"value":..}] (GET_FLAGS shape). */
void flags_write_list(struct jsonw *w, const struct flag_def *defs, size_t n,
                      const void *cfg);
/* Writes {"name": "value", ...} (the classic /flags shape's "flags"). */
void flags_write_map(struct jsonw *w, const struct flag_def *defs, size_t n,
                     const void *cfg);

/* Value parsers, exposed for tests and for parsing JSON fields. */
int flags_parse_duration(const char *s, double *seconds);
int flags_parse_bytes(const char *s, unsigned long long *bytes);

#endif
