/*
 * test_registry.c: the master's agent registry on the real SQLite store
 * (in a temporary directory) and in memory: transitions, durability
 * across reopen, refusal of gone ids, garbage collection, and the bad
 * inputs a registry file can hold (corrupt file, bad records, unknown
 * layout version); the rate-limit parser is table-driven.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/store.h"
#include "master/registry.h"

#define INFO_A "{\"hostname\":\"a\",\"id\":{\"value\":\"A\"},\"port\":5051}"
#define INFO_B "{\"hostname\":\"b\",\"id\":{\"value\":\"B\"},\"port\":5052}"

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	const char *tmp = getenv("TMPDIR");

	snprintf(f->dir, sizeof(f->dir), "%s/test_registry.XXXXXX",
	         tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
	const char *sfx[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct registry *open_ok(const char *path)
{
	struct registry *r = NULL;
	struct err e = {{0}};
	int rc = registry_open(path, &r, &e);

	if (rc)
		fail_msg("registry_open: %d %s", rc, e.msg);
	return r;
}

static void test_transitions_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct registry *r = open_ok(f->path);
	const struct registry_agent *ra;
	struct err e = {{0}};

	assert_true(registry_is_durable(r));
	assert_string_equal(registry_path(r), f->path);
	assert_int_equal(registry_admit(r, "A", INFO_A, 100, &e), 0);
	assert_int_equal(registry_admit(r, "B", INFO_B, 101, &e), 0);
	assert_int_equal(registry_mark_unreachable(r, "B", 200, &e), 0);
	/* already unreachable: keeps the first time */
	assert_int_equal(registry_mark_unreachable(r, "B", 300, &e), 0);
	assert_int_equal(registry_mark_gone(r, "C", 400, &e), 0);
	registry_free(r);

	r = open_ok(f->path);
	assert_int_equal(registry_count(r, REGISTRY_ADMITTED), 1);
	assert_int_equal(registry_count(r, REGISTRY_UNREACHABLE), 1);
	assert_int_equal(registry_count(r, REGISTRY_GONE), 1);
	ra = registry_find(r, "A");
	assert_non_null(ra);
	assert_int_equal(ra->state, REGISTRY_ADMITTED);
	assert_true(ra->time == 100);
	assert_string_equal(ra->info_json, INFO_A);
	ra = registry_find(r, "B");
	assert_int_equal(ra->state, REGISTRY_UNREACHABLE);
	assert_true(ra->time == 200);
	assert_null(ra->info_json);
	assert_int_equal(registry_state_of(r, "C"), REGISTRY_GONE);
	assert_int_equal(registry_state_of(r, "D"), REGISTRY_UNKNOWN);
	assert_null(registry_find(r, "D"));

	/* an unreachable agent comes back: admitted again, durably */
	assert_int_equal(registry_admit(r, "B", INFO_B, 500, &e), 0);
	registry_free(r);
	r = open_ok(f->path);
	assert_int_equal(registry_state_of(r, "B"), REGISTRY_ADMITTED);
	assert_int_equal(registry_count(r, REGISTRY_UNREACHABLE), 0);
	assert_int_equal(registry_count(r, REGISTRY_ADMITTED), 2);
	registry_free(r);
}

static void test_gone_is_final(void **state)
{
	struct fixture *f = *state;
	struct registry *r = open_ok(f->path);
	struct err e = {{0}};

	assert_int_equal(registry_admit(r, "A", INFO_A, 1, &e), 0);
	assert_int_equal(registry_mark_gone(r, "A", 2, &e), 0);
	assert_int_equal(registry_mark_gone(r, "A", 3, &e), 0); /* again */
	assert_int_equal(registry_admit(r, "A", INFO_A, 4, &e), -EPERM);
	assert_non_null(strstr(e.msg, "gone"));
	assert_int_equal(registry_mark_unreachable(r, "A", 5, &e), -EPERM);
	assert_true(registry_find(r, "A")->time == 2);
	registry_free(r);
	r = open_ok(f->path);
	assert_int_equal(registry_state_of(r, "A"), REGISTRY_GONE);
	assert_int_equal(registry_admit(r, "A", INFO_A, 6, &e), -EPERM);
	registry_free(r);
}

static void test_bad_arguments(void **state)
{
	struct registry *r = open_ok(NULL);
	struct err e = {{0}};

	(void)state;
	assert_false(registry_is_durable(r));
	assert_null(registry_path(r));
	assert_int_equal(registry_admit(r, "", INFO_A, 1, &e), -EINVAL);
	assert_int_equal(registry_admit(r, NULL, INFO_A, 1, &e), -EINVAL);
	assert_int_equal(registry_admit(r, "A", NULL, 1, &e), -EINVAL);
	assert_int_equal(registry_mark_gone(r, "", 1, &e), -EINVAL);
	assert_int_equal(registry_mark_unreachable(r, NULL, 1, &e), -EINVAL);
	assert_int_equal(registry_count(r, REGISTRY_ADMITTED), 0);
	assert_int_equal(registry_count(r, REGISTRY_UNKNOWN), 0);
	assert_null(registry_find(r, NULL));
	registry_free(r);
	registry_free(NULL);
}

static void test_in_memory_forgets(void **state)
{
	struct fixture *f = *state;
	struct registry *r = open_ok(NULL);
	struct err e = {{0}};

	assert_int_equal(registry_admit(r, "A", INFO_A, 1, &e), 0);
	assert_int_equal(registry_state_of(r, "A"), REGISTRY_ADMITTED);
	registry_free(r);
	r = open_ok(NULL);
	assert_int_equal(registry_state_of(r, "A"), REGISTRY_UNKNOWN);
	registry_free(r);
	/* and it wrote nothing */
	assert_int_equal(access(f->path, F_OK), -1);
}

struct seen {
	char ids[8][8];
	size_t n;
};

static void note_pruned(const struct registry_agent *ra, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < ARRAY_SIZE(s->ids));
	snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", ra->id);
}

static void test_prune_by_age_and_count(void **state)
{
	struct fixture *f = *state;
	struct registry *r = open_ok(f->path);
	struct seen seen = {0};
	struct err e = {{0}};

	assert_int_equal(registry_admit(r, "old-admitted", INFO_A, 1, &e), 0);
	assert_int_equal(registry_mark_unreachable(r, "u1", 10, &e), 0);
	assert_int_equal(registry_mark_unreachable(r, "u2", 20, &e), 0);
	assert_int_equal(registry_mark_gone(r, "g3", 30, &e), 0);
	assert_int_equal(registry_mark_gone(r, "g4", 40, &e), 0);
	/* nothing old, count fits */
	assert_int_equal(registry_prune(r, 50, 100, 10, note_pruned, &seen, &e),
	                 0);
	/* age: older than 25 s at 50 -> u1 (10), u2 (20) */
	assert_int_equal(registry_prune(r, 50, 25, 10, note_pruned, &seen, &e),
	                 2);
	assert_string_equal(seen.ids[0], "u1");
	assert_string_equal(seen.ids[1], "u2");
	/* count: at most 1 left -> the oldest (g3) goes */
	assert_int_equal(registry_prune(r, 50, 1000, 1, note_pruned, &seen, &e),
	                 1);
	assert_string_equal(seen.ids[2], "g3");
	registry_free(r);
	r = open_ok(f->path);
	assert_int_equal(registry_state_of(r, "u1"), REGISTRY_UNKNOWN);
	assert_int_equal(registry_state_of(r, "g3"), REGISTRY_UNKNOWN);
	assert_int_equal(registry_state_of(r, "g4"), REGISTRY_GONE);
	/* admitted agents are never collected, however old */
	assert_int_equal(registry_prune(r, 1e9, 1, 0, NULL, NULL, &e), 1);
	assert_int_equal(registry_state_of(r, "old-admitted"),
	                 REGISTRY_ADMITTED);
	registry_free(r);
}

static void test_corrupt_file_is_refused(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct err e = {{0}};
	FILE *fp = fopen(f->path, "we");
	int rc;

	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not a database ", fp);
	fclose(fp);
	rc = registry_open(f->path, &r, &e);
	assert_int_equal(rc, -EILSEQ);
	assert_null(r);
	assert_non_null(strstr(e.msg, f->path));
}

/* Writes ns/key = val straight into the store, behind the registry. */
static void plant(const char *path, const char *ns, const char *key,
                  const char *val)
{
	struct store *s = NULL;
	struct err e = {{0}};

	assert_int_equal(store_open(path, &s, &e), 0);
	assert_int_equal(store_put(s, ns, key, val, strlen(val), &e), 0);
	store_close(s);
}

static void test_bad_records_are_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *val;
		const char *msg; /* expected in the error */
	} cases[] = {
	    {"not json", "agents/X: not a JSON object"},
	    {"[1]", "agents/X: not a JSON object"},
	    {"{\"state\":\"lost\",\"time\":1}", "agents/X.state"},
	    {"{\"time\":1}", "agents/X.state"},
	    {"{\"state\":\"gone\"}", "agents/X.time"},
	    {"{\"state\":\"gone\",\"time\":\"1\"}", "agents/X.time"},
	    {"{\"state\":\"admitted\",\"time\":1}", "agents/X.info"},
	    {"{\"state\":\"admitted\",\"time\":1,\"info\":3}", "agents/X.info"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct registry *r = NULL;
		struct err e = {{0}};

		plant(f->path, "agents", "X", cases[i].val);
		assert_int_equal(registry_open(f->path, &r, &e), -EILSEQ);
		assert_null(r);
		if (!strstr(e.msg, cases[i].msg) || !strstr(e.msg, f->path))
			fail_msg("case %zu: '%s' lacks '%s' or the path", i,
			         e.msg, cases[i].msg);
	}
	/* a good record in its place: opens */
	plant(f->path, "agents", "X", "{\"state\":\"gone\",\"time\":7}");
	struct registry *r = open_ok(f->path);
	assert_int_equal(registry_state_of(r, "X"), REGISTRY_GONE);
	registry_free(r);
}

static void test_unknown_version_is_refused(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct err e = {{0}};

	plant(f->path, "meta", "version", "2");
	assert_int_equal(registry_open(f->path, &r, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "meta/version"));
	assert_non_null(strstr(e.msg, f->path));
}

static void test_parse_rate(void **state)
{
	static const struct {
		const char *in;
		int rc;
		double interval;
	} cases[] = {
	    {"1/10mins", 0, 600},
	    {"2/1mins", 0, 30},
	    {"100/1hrs", 0, 36},
	    {"1/1secs", 0, 1},
	    {"3/3", 0, 1},
	    {"", -EINVAL, 0},
	    {"10mins", -EINVAL, 0},
	    {"0/10mins", -EINVAL, 0},
	    {"-1/10mins", -EINVAL, 0},
	    {"/10mins", -EINVAL, 0},
	    {"1/", -EINVAL, 0},
	    {"1/0secs", -EINVAL, 0},
	    {"1x/10mins", -EINVAL, 0},
	    {"1/10 fortnights", -EINVAL, 0},
	    {"99999999999999999999/1secs", -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err e = {{0}};
		double v = -1;
		int rc = registry_parse_rate(cases[i].in, &v, &e);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", cases[i].in, rc,
			         cases[i].rc);
		if (!rc && v != cases[i].interval)
			fail_msg("'%s': %g, expected %g", cases[i].in, v,
			         cases[i].interval);
		if (rc && !e.msg[0])
			fail_msg("'%s': no message", cases[i].in);
	}
	{
		struct err e = {{0}};
		double v;
		assert_int_equal(registry_parse_rate(NULL, &v, &e), -EINVAL);
	}
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(registry_state_name(REGISTRY_ADMITTED), "admitted");
	assert_string_equal(registry_state_name(REGISTRY_UNREACHABLE),
	                    "unreachable");
	assert_string_equal(registry_state_name(REGISTRY_GONE), "gone");
	assert_string_equal(registry_state_name(REGISTRY_UNKNOWN), "unknown");
	assert_string_equal(registry_state_name((enum registry_state)99),
	                    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_transitions_survive_reopen,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_is_final, setup,
	                                    teardown),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test_setup_teardown(test_in_memory_forgets, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_prune_by_age_and_count, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_file_is_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_records_are_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_version_is_refused,
	                                    setup, teardown),
	    cmocka_unit_test(test_parse_rate),
	    cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
