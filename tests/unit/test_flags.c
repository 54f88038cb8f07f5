/*
 * test_flags.c: table-driven flags: every type, both spellings of a value
 * (--name=value, --name value), underscores, --no-bool, bounds, unknown
 * flags, "--", defaults, the duration and byte-size parsers, and the JSON
 * listings.
 */
#include "lib/compat.h"

#include <math.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/jsonw.h"

struct test_cfg {
	char *work_dir;
	long count;
	double ratio;
	bool verbose;
	double timeout;
	uint64_t size;
};

static const struct flag_def defs[] = {
    FLAG_DEF(struct test_cfg, work_dir, "work-dir", FLAG_STRING, "/var/x", 0, 0,
             "where state lives"),
    FLAG_DEF(struct test_cfg, count, "count", FLAG_INT, "3", 0, 100,
             "how many"),
    FLAG_DEF(struct test_cfg, ratio, "ratio", FLAG_DOUBLE, "0.5", 0, 0,
             "a ratio"),
    FLAG_DEF(struct test_cfg, verbose, "verbose", FLAG_BOOL, "false", 0, 0,
             "talk more"),
    FLAG_DEF(struct test_cfg, timeout, "timeout", FLAG_DURATION, "15secs",
             0.001, 3600, "how long"),
    FLAG_DEF(struct test_cfg, size, "cache-size", FLAG_BYTES, "8MB", 0, 0,
             "how big"),
};

/* Parses a NULL-terminated argument list into cfg. */
static int parse(struct test_cfg *cfg, const char *const *args, int *rest,
                 struct err *e)
{
	char *argv[16];
	int argc = 0;

	memset(cfg, 0, sizeof(*cfg));
	while (args[argc]) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	return flags_parse(defs, ARRAY_SIZE(defs), cfg, argc, argv, rest, e);
}

static void test_defaults(void **state)
{
	static const char *const args[] = {NULL};
	struct test_cfg cfg;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(parse(&cfg, args, NULL, &e), 0);
	assert_string_equal(cfg.work_dir, "/var/x");
	assert_int_equal(cfg.count, 3);
	assert_true(cfg.ratio == 0.5);
	assert_false(cfg.verbose);
	assert_true(cfg.timeout == 15);
	assert_int_equal(cfg.size, 8 * 1024 * 1024);
	flags_release(defs, ARRAY_SIZE(defs), &cfg);
	assert_null(cfg.work_dir);
}

static void test_good_table(void **state)
{
	static const struct {
		const char *args[6];
		const char *work_dir;
		long count;
		bool verbose;
		double timeout;
		uint64_t size;
	} cases[] = {
	    {{"--count=7"}, "/var/x", 7, false, 15, 8388608},
	    {{"--count", "8"}, "/var/x", 8, false, 15, 8388608},
	    {{"--work-dir=/a"}, "/a", 3, false, 15, 8388608},
	    {{"--work_dir", "/b"}, "/b", 3, false, 15, 8388608},
	    {{"--work_dir=/c", "--work-dir=/d"}, "/d", 3, false, 15, 8388608},
	    {{"--verbose"}, "/var/x", 3, true, 15, 8388608},
	    {{"--verbose=true", "--no-verbose"},
	     "/var/x",
	     3,
	     false,
	     15,
	     8388608},
	    {{"--verbose=yes"}, "/var/x", 3, true, 15, 8388608},
	    {{"--timeout=500ms"}, "/var/x", 3, false, 0.5, 8388608},
	    {{"--timeout", "10mins"}, "/var/x", 3, false, 600, 8388608},
	    {{"--cache_size=1GiB"}, "/var/x", 3, false, 15, 1073741824},
	    {{"--cache-size=512"}, "/var/x", 3, false, 15, 512},
	    {{"--count=0"}, "/var/x", 0, false, 15, 8388608},
	    {{"--count=100"}, "/var/x", 100, false, 15, 8388608},
	    {{"--timeout=1hrs"}, "/var/x", 3, false, 3600, 8388608},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct test_cfg cfg;
		struct err e = {{0}};
		if (parse(&cfg, cases[i].args, NULL, &e))
			fail_msg("case %zu (%s): %s", i, cases[i].args[0],
			         e.msg);
		assert_string_equal(cfg.work_dir, cases[i].work_dir);
		assert_int_equal(cfg.count, cases[i].count);
		assert_int_equal(cfg.verbose, cases[i].verbose);
		if (cfg.timeout != cases[i].timeout)
			fail_msg("case %zu: timeout %g", i, cfg.timeout);
		assert_int_equal(cfg.size, cases[i].size);
		flags_release(defs, ARRAY_SIZE(defs), &cfg);
	}
}

static void test_bad_table(void **state)
{
	static const struct {
		const char *args[4];
		const char *want;
	} cases[] = {
	    {{"--bogus=1"}, "unknown flag '--bogus'"},
	    {{"--bogus"}, "unknown flag '--bogus'"},
	    {{"--no-count"}, "unknown flag '--no-count'"},
	    {{"--count=101"}, "--count: must be between 0 and 100"},
	    {{"--count=-1"}, "--count: must be between 0 and 100"},
	    {{"--count=abc"}, "--count: expected an integer, got 'abc'"},
	    {{"--count=5x"}, "--count: expected an integer"},
	    {{"--count"}, "--count: missing value"},
	    {{"--ratio=fast"}, "--ratio: expected a number"},
	    {{"--ratio=inf"}, "--ratio: expected a number"},
	    {{"--verbose=maybe"}, "--verbose: expected true or false"},
	    {{"--timeout=10 parsecs"}, "--timeout: expected a duration"},
	    {{"--timeout=2days"}, "--timeout: must be between"},
	    {{"--timeout=0secs"}, "--timeout: must be between"},
	    {{"--cache-size=8XB"}, "--cache-size: expected a size"},
	    {{"--cache-size=-1MB"}, "--cache-size: expected a size"},
	    {{"positional"}, "unexpected argument 'positional'"},
	    {{"-v"}, "unexpected argument '-v'"},
	    {{"--"}, "unexpected '--'"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct test_cfg cfg;
		struct err e = {{0}};
		int rc = parse(&cfg, cases[i].args, NULL, &e);
		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d", i, cases[i].args[0],
			         rc);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         cases[i].want);
		flags_release(defs, ARRAY_SIZE(defs), &cfg);
	}
}

static void test_rest_after_dashes(void **state)
{
	static const char *const args[] = {"--count=1", "--", "prog", "--x",
	                                   NULL};
	struct test_cfg cfg;
	struct err e = {{0}};
	int rest = -1;

	(void)state;
	assert_int_equal(parse(&cfg, args, &rest, &e), 0);
	assert_int_equal(rest, 2);
	assert_int_equal(cfg.count, 1);
	flags_release(defs, ARRAY_SIZE(defs), &cfg);
}

static void test_help(void **state)
{
	static const char *const args[] = {"--count=1", "--help", NULL};
	struct test_cfg cfg;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(parse(&cfg, args, NULL, &e), 1);
	flags_release(defs, ARRAY_SIZE(defs), &cfg);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		double want; /* < 0: invalid */
	} cases[] = {
	    {"15secs", 15},    {"15", 15},        {"500ms", 0.5},
	    {"10mins", 600},   {"2days", 172800}, {"1weeks", 604800},
	    {"3h", 10800},     {"1.5hrs", 5400},  {"250us", 250e-6},
	    {"10ns", 10e-9},   {"0", 0},          {"10 parsecs", -1},
	    {"10parsecs", -1}, {"", -1},          {"secs", -1},
	    {"-1secs", -1},    {"nan", -1},       {"inf", -1},
	    {"10 secs", -1},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		double got = -42;
		int rc = flags_parse_duration(cases[i].text, &got);
		if (cases[i].want < 0) {
			if (rc != -EINVAL)
				fail_msg("'%s' accepted as %g", cases[i].text,
				         got);
			continue;
		}
		if (rc || fabs(got - cases[i].want) > 1e-12)
			fail_msg("'%s': rc %d, got %g, want %g", cases[i].text,
			         rc, got, cases[i].want);
	}
	assert_int_equal(flags_parse_duration(NULL, &(double){0}), -EINVAL);
}

static void test_bytes(void **state)
{
	static const struct {
		const char *text;
		unsigned long long want;
		bool ok;
	} cases[] = {
	    {"8MB", 8388608ULL, true},
	    {"1GiB", 1073741824ULL, true},
	    {"1GB", 1073741824ULL, true},
	    {"2gb", 2147483648ULL, true},
	    {"512", 512, true},
	    {"512B", 512, true},
	    {"1.5KB", 1536, true},
	    {"1KiB", 1024, true},
	    {"3MiB", 3145728ULL, true},
	    {"1TB", 1099511627776ULL, true},
	    {"8XB", 0, false},
	    {"-1MB", 0, false},
	    {"", 0, false},
	    {"MB", 0, false},
	    {"8 MB", 0, false},
	    {"1e30TB", 0, false},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned long long got = 0;
		int rc = flags_parse_bytes(cases[i].text, &got);
		if (cases[i].ok) {
			if (rc || got != cases[i].want)
				fail_msg("'%s': rc %d got %llu", cases[i].text,
				         rc, got);
		} else if (rc != -EINVAL) {
			fail_msg("'%s' accepted as %llu", cases[i].text, got);
		}
	}
}

static void test_write_json(void **state)
{
	static const char *const args[] = {"--count=9", "--work-dir=/q\"",
	                                   NULL};
	struct test_cfg cfg;
	struct err e = {{0}};
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j, *it;
	size_t i;

	(void)state;
	assert_int_equal(parse(&cfg, args, NULL, &e), 0);
	jsonw_init(&w, &b);
	flags_write_map(&w, defs, ARRAY_SIZE(defs), &cfg);
	j = json_loads(b.data, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "count")),
	                    "9");
	assert_string_equal(json_string_value(json_object_get(j, "work-dir")),
	                    "/q\"");
	assert_string_equal(json_string_value(json_object_get(j, "timeout")),
	                    "15secs");
	assert_string_equal(json_string_value(json_object_get(j, "cache-size")),
	                    "8388608B");
	json_decref(j);

	buf_reset(&b);
	jsonw_init(&w, &b);
	flags_write_list(&w, defs, ARRAY_SIZE(defs), &cfg);
	j = json_loads(b.data, 0, NULL);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), ARRAY_SIZE(defs));
	json_array_foreach(j, i, it)
	{
		assert_string_equal(
		    json_string_value(json_object_get(it, "name")),
		    defs[i].name);
		assert_true(json_is_string(json_object_get(it, "value")));
	}
	json_decref(j);
	buf_release(&b);
	flags_release(defs, ARRAY_SIZE(defs), &cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_good_table),
	    cmocka_unit_test(test_bad_table),
	    cmocka_unit_test(test_rest_after_dashes),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_bytes),
	    cmocka_unit_test(test_write_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
