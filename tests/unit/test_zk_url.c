/*
 * test_zk_url.c: zk:// URL parsing (lib/zk.h), table-driven: the hosts
 * connect string and path it yields, and the message of every refusal
 * naming the part at fault.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/zk.h"

struct good_case {
	const char *in;
	const char *hosts;
	const char *path;
};

static const struct good_case good[] = {
    {"zk://127.0.0.1:2181/atoll", "127.0.0.1:2181", "/atoll"},
    {"zk://h1:2181,h2:2182/mesos", "h1:2181,h2:2182", "/mesos"},
    {"zk://h1,h2:2888/a/b/c", "h1:2181,h2:2888", "/a/b/c"},
    {"ZK://zk.example.com/x", "zk.example.com:2181", "/x"},
    {"zk://[::1]:2181/atoll", "[::1]:2181", "/atoll"},
    {"zk://[fe80::1]/atoll", "[fe80::1]:2181", "/atoll"},
    {"zk://a-b_c.d:65535/p.q-r_s", "a-b_c.d:65535", "/p.q-r_s"},
    {"zk://h:1/..a/b..", "h:1", "/..a/b.."},
};

struct bad_case {
	const char *in;
	const char *msg; /* a part of the expected message */
};

static const struct bad_case bad[] = {
    {"", "empty"},
    {"http://h:2181/atoll", "must start with zk://"},
    {"zk:/h:2181/atoll", "must start with zk://"},
    {"zk://user:pass@h:2181/atoll", "credentials"},
    {"zk://user@h:2181/atoll", "credentials"},
    {"zk://h:2181", "a path is required"},
    {"zk:///atoll", "no host"},
    {"zk://h:2181/", "'/' is not supported"},
    {"zk://h:2181/atoll/", "must not end with '/'"},
    {"zk://h:2181//atoll", "empty segment"},
    {"zk://h:2181/a//b", "empty segment"},
    {"zk://h:2181/a/./b", "'.' and '..'"},
    {"zk://h:2181/a/..", "'.' and '..'"},
    {"zk://h:2181/a?x=1", "no query"},
    {"zk://h:2181/a#f", "no query"},
    {"zk://h:2181/a\tb", "control character"},
    {"zk://h:0/atoll", "host 1: port must be in [1, 65535], got 0"},
    {"zk://h:65536/atoll", "got 65536"},
    {"zk://h:123456/atoll", "host 1: bad port"},
    {"zk://h:/atoll", "host 1: bad port"},
    {"zk://h:2x/atoll", "host 1: port must be a number"},
    {"zk://h:-1/atoll", "port must be a number"},
    {"zk://h1:2181,,h2:2181/atoll", "host 2: empty"},
    {"zk://h1:2181,/atoll", "host 2: empty"},
    {"zk://,h1:2181/atoll", "host 1: empty"},
    {"zk://:2181/atoll", "host 1: empty host name"},
    {"zk://h1,h 2/atoll", "host 2: invalid character ' '"},
    {"zk://::1:2181/atoll", "IPv6 addresses go in brackets"},
    {"zk://[::1/atoll", "bad IPv6 address"},
    {"zk://[]:2181/atoll", "bad IPv6 address"},
    {"zk://[::1]x/atoll", "expected ':' after ']'"},
};

static void test_good_urls(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct zk_url u;
		struct err e = {{0}};
		int rc = zk_url_parse(good[i].in, &u, &e);

		if (rc)
			fail_msg("'%s': unexpected error: %s", good[i].in,
			         e.msg);
		assert_string_equal(u.hosts, good[i].hosts);
		assert_string_equal(u.path, good[i].path);
		assert_true(zk_url_is_zk(good[i].in));
		zk_url_release(&u);
		assert_null(u.hosts);
	}
}

static void test_bad_urls(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct zk_url u = {(char *)1, (char *)1};
		struct err e = {{0}};
		int rc = zk_url_parse(bad[i].in, &u, &e);

		if (rc != -EINVAL)
			fail_msg("'%s': accepted (rc %d)", bad[i].in, rc);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].in,
			         e.msg, bad[i].msg);
		assert_true(strncmp(e.msg, "zk url: ", 8) == 0);
		/* Nothing to release after a refusal. */
		assert_null(u.hosts);
		assert_null(u.path);
	}
}

static void test_null_and_prefix(void **state)
{
	struct zk_url u;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(zk_url_parse(NULL, &u, &e), -EINVAL);
	assert_false(zk_url_is_zk(NULL));
	assert_false(zk_url_is_zk("127.0.0.1:5050"));
	assert_false(zk_url_is_zk("zk:/x"));
	assert_true(zk_url_is_zk("zk://"));
	zk_url_release(NULL);
}

/* Every prefix of a good URL either parses or is refused cleanly. */
static void test_truncations(void **state)
{
	const char *full = "zk://[::1]:2181,h2:2182/a/b";
	char buf[64];

	(void)state;
	for (size_t n = 0; n <= strlen(full); n++) {
		struct zk_url u;
		struct err e = {{0}};
		int rc;

		memcpy(buf, full, n);
		buf[n] = '\0';
		rc = zk_url_parse(buf, &u, &e);
		if (rc == 0)
			zk_url_release(&u);
		else
			assert_true(e.msg[0] != '\0');
		assert_int_equal(rc == 0, n == strlen(full) || n == 25);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_urls),
	    cmocka_unit_test(test_bad_urls),
	    cmocka_unit_test(test_null_and_prefix),
	    cmocka_unit_test(test_truncations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
