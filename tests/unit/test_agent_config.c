/*
 * test_agent_config.c: the agent's flags (defaults, validation, bad
 * values), the --master list, the default work directory and the
 * detection of resources left out of --resources.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "agent/agent_int.h"
#include "lib/err.h"
#include "lib/jsonw.h"

#define MiB (1024ULL * 1024ULL)
#define GiB (1024ULL * MiB)

/* ---- flags --------------------------------------------------------------- */

static int parse(struct agent_config *cfg, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	const char *s;

	va_start(ap, e);
	while ((s = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	memset(cfg, 0, sizeof(*cfg));
	return agent_config_parse(cfg, argc, argv, e);
}

static void test_flag_defaults(void **state)
{
	struct agent_config cfg;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(parse(&cfg, &e, "--master=127.0.0.1:5050", NULL), 0);
	assert_string_equal(cfg.ip, "127.0.0.1");
	assert_int_equal(cfg.port, 5051);
	assert_null(cfg.work_dir);
	assert_null(cfg.resources);
	assert_string_equal(cfg.recover, "reconnect");
	assert_true(cfg.strict);
	assert_true(cfg.executor_registration_timeout == 60);
	assert_true(cfg.executor_shutdown_grace_period == 5);
	assert_true(cfg.status_update_retry_interval == 10);
	assert_true(cfg.status_update_retry_interval_max == 600);
	assert_true(cfg.recovery_timeout == 900);
	assert_int_equal(cfg.max_body_bytes, 8 * MiB);
	agent_config_release(&cfg);
}

static void test_flag_values(void **state)
{
	struct agent_config cfg;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(
	    parse(&cfg, &e, "--master", "m:1", "--port", "0", "--work_dir=/w",
	          "--resources=cpus:2", "--executor_registration_timeout=2secs",
	          "--status-update-retry-interval=100ms", "--no-strict",
	          "--recover=cleanup", "--max-body-bytes=1MB", NULL),
	    0);
	assert_int_equal(cfg.port, 0);
	assert_string_equal(cfg.work_dir, "/w");
	assert_string_equal(cfg.resources, "cpus:2");
	assert_true(cfg.executor_registration_timeout == 2);
	assert_true(cfg.status_update_retry_interval == 0.1);
	assert_false(cfg.strict);
	assert_string_equal(cfg.recover, "cleanup");
	assert_int_equal(cfg.max_body_bytes, MiB);
	agent_config_release(&cfg);
}

static void test_flag_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *err; /* substring */
	} cases[] = {
	    {{NULL}, "--master: required"},
	    {{"--master="}, "--master: required"},
	    {{"--master=m"}, "--master: expected host:port, got 'm'"},
	    {{"--master=m:0"}, "--master: bad port"},
	    {{"--master=m:70000"}, "--master: bad port"},
	    {{"--master=m:12x"}, "--master: bad port"},
	    {{"--master=zk://z:2181/"}, "--master: "},
	    {{"--master=m:1,zk://z:2181/a"}, "must be the whole"},
	    {{"--master=m:1,"}, "--master: empty address"},
	    {{"--master=m:1", "--recover=maybe"},
	     "--recover: expected 'reconnect' or 'cleanup', got 'maybe'"},
	    {{"--master=m:1", "--port=65536"}, "--port: must be between"},
	    {{"--master=m:1", "--port=http"}, "--port: expected an integer"},
	    {{"--master=m:1", "--executor-shutdown-grace-period=soon"},
	     "--executor-shutdown-grace-period: expected a duration"},
	    {{"--master=m:1", "--strict=perhaps"},
	     "--strict: expected true or false"},
	    {{"--master=m:1", "--bogus=1"}, "unknown flag '--bogus'"},
	    {{"--master=m:1", "--port-file="},
	     "--port-file: must not be "
	     "empty"},
	    {{"--master=m:1", "--work-dir="}, "--work-dir: must not be empty"},
	    {{"--master=m:1", "--status-update-retry-interval=1mins",
	      "--status-update-retry-interval-max=10secs"},
	     "--status-update-retry-interval-max: must be >="},
	    {{"--master=m:1", "stray"}, "unexpected argument 'stray'"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct agent_config cfg;
		struct err e = {{0}};
		int rc = parse(&cfg, &e, cases[i].args[0], cases[i].args[1],
		               cases[i].args[2], cases[i].args[3], NULL);
		assert_int_equal(rc, -EINVAL);
		if (!strstr(e.msg, cases[i].err))
			fail_msg("case %zu: '%s' does not contain '%s'", i,
			         e.msg, cases[i].err);
		agent_config_release(&cfg);
	}
}

static void test_flags_written(void **state)
{
	struct agent_config cfg;
	struct err e = {{0}};
	struct buf b = BUF_INIT;
	struct jsonw w;

	(void)state;
	assert_int_equal(parse(&cfg, &e, "--master=m:1", "--port=7", NULL), 0);
	jsonw_init(&w, &b);
	agent_config_write(&cfg, &w, false);
	assert_non_null(strstr(b.data, "\"port\":\"7\""));
	assert_non_null(strstr(b.data, "\"master\":\"m:1\""));
	buf_reset(&b);
	jsonw_init(&w, &b);
	agent_config_write(&cfg, &w, true);
	assert_non_null(strstr(b.data, "{\"name\":\"port\",\"value\":\"7\"}"));
	buf_release(&b);
	agent_config_release(&cfg);
}

/* ---- --master ------------------------------------------------------------ */

static void test_masters(void **state)
{
	static const struct {
		const char *text;
		size_t n;
		const char *first, *second;
	} cases[] = {
	    {"127.0.0.1:5050", 1, "127.0.0.1:5050", NULL},
	    {"http://m1:5050", 1, "m1:5050", NULL},
	    {"http://m1:5050/master", 1, "m1:5050", NULL},
	    {"m1:5050, m2:5051", 2, "m1:5050", "m2:5051"},
	    {" m1:1 ,http://m2:2", 2, "m1:1", "m2:2"},
	    {"[::1]:5050", 1, "[::1]:5050", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err e = {{0}};
		char **v;
		size_t n;
		assert_int_equal(agent_parse_masters(cases[i].text, &v, &n, &e),
		                 0);
		assert_int_equal(n, cases[i].n);
		assert_string_equal(v[0], cases[i].first);
		if (cases[i].second)
			assert_string_equal(v[1], cases[i].second);
		agent_strv_free(v, n);
	}
}

static void test_default_work_dir(void **state)
{
	static const struct {
		uid_t uid;
		const char *home, *want;
	} cases[] = {
	    {0, "/root", "/var/lib/atoll/agent"},
	    {1000, "/home/u", "/home/u/.atoll/agent"},
	    {1000, "", "./.atoll/agent"},
	    {1000, NULL, "./.atoll/agent"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *d = agent_default_work_dir(cases[i].uid, cases[i].home);
		assert_string_equal(d, cases[i].want);
		free(d);
	}
}

/* ---- resources ----------------------------------------------------------- */

static double scalar(const struct resources *r, const char *name)
{
	return res_to_double(resources_scalar(r, name));
}

static void test_resources_detected(void **state)
{
	static const struct {
		const char *text;
		long cpus;
		uint64_t mem, disk;
		double want_cpus, want_mem, want_disk;
		uint64_t port_begin, port_end;
	} cases[] = {
	    /* everything detected: mem - 1 GB, disk - 5 GB */
	    {NULL, 8, 16 * GiB, 100 * GiB, 8, 15 * 1024, 95 * 1024, 31000,
	     32000},
	    {"", 2, 2 * GiB, 10 * GiB, 2, 1024, 5 * 1024, 31000, 32000},
	    /* small machines: half */
	    {NULL, 1, 1 * GiB, 4 * GiB, 1, 512, 2 * 1024, 31000, 32000},
	    /* just below the thresholds: half, whole MB (2047 / 2,
	     * 10239 / 2 rounded down) */
	    {NULL, 1, 2 * GiB - MiB, 10 * GiB - MiB, 1, 1023, 5119, 31000,
	     32000},
	    /* given values are kept; the rest detected */
	    {"cpus:3;mem:100", 8, 16 * GiB, 100 * GiB, 3, 100, 95 * 1024, 31000,
	     32000},
	    {"disk:7;ports:[1000-1001]", 4, 4 * GiB, 20 * GiB, 4, 3 * 1024, 7,
	     1000, 1001},
	    /* a reserved resource counts as given */
	    {"cpus(ads):2", 8, 4 * GiB, 20 * GiB, 2, 3 * 1024, 15 * 1024, 31000,
	     32000},
	    /* no cores detected: at least one */
	    {NULL, 0, 4 * GiB, 20 * GiB, 1, 3 * 1024, 15 * 1024, 31000, 32000},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct agent_machine m = {cases[i].cpus, cases[i].mem,
		                          cases[i].disk};
		struct resources r;
		struct err e = {{0}};
		const struct resource *ports = NULL;

		resources_init(&r);
		if (agent_resources_build(&r, cases[i].text, &m, &e))
			fail_msg("case %zu: %s", i, e.msg);
		if (scalar(&r, "cpus") != cases[i].want_cpus ||
		    scalar(&r, "mem") != cases[i].want_mem ||
		    scalar(&r, "disk") != cases[i].want_disk)
			fail_msg("case %zu: cpus %g mem %g disk %g", i,
			         scalar(&r, "cpus"), scalar(&r, "mem"),
			         scalar(&r, "disk"));
		for (size_t k = 0; k < r.n; k++)
			if (!strcmp(r.v[k].name, "ports"))
				ports = &r.v[k];
		assert_non_null(ports);
		assert_int_equal(ports->nranges, 1);
		assert_int_equal(ports->ranges[0].begin, cases[i].port_begin);
		assert_int_equal(ports->ranges[0].end, cases[i].port_end);
		resources_release(&r);
	}
}

static void test_resources_bad(void **state)
{
	static const char *const bad[] = {
	    "cpus:-1", "cpus:abc",  "cpus",        "ports:[5-1]",
	    ":1",      "cpus:1e99", "cpus(a b):1",
	};
	struct agent_machine m = {4, 4 * GiB, 20 * GiB};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct resources r;
		struct err e = {{0}};

		resources_init(&r);
		assert_int_equal(agent_resources_build(&r, bad[i], &m, &e),
		                 -EINVAL);
		if (strncmp(e.msg, "--resources", 11))
			fail_msg("case '%s': '%s' does not name the flag",
			         bad[i], e.msg);
		resources_release(&r);
	}
}

static void test_machine_detect(void **state)
{
	struct agent_machine m;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(agent_machine_detect(&m, ".", &e), 0);
	assert_true(m.cpus >= 1);
	assert_true(m.mem_bytes > 0);
	assert_int_equal(agent_machine_detect(&m, "/nonexistent/dir", &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "/nonexistent/dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flag_defaults),
	    cmocka_unit_test(test_flag_values),
	    cmocka_unit_test(test_flag_errors),
	    cmocka_unit_test(test_flags_written),
	    cmocka_unit_test(test_masters),
	    cmocka_unit_test(test_default_work_dir),
	    cmocka_unit_test(test_resources_detected),
	    cmocka_unit_test(test_resources_bad),
	    cmocka_unit_test(test_machine_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
