/*
 * test_alloc.c: the DRF allocator. Scenarios drive the public API with a
 * recording callback and check who was offered what; tables cover the
 * fair splits, reservations, minimum allocatable, refuse filter scripts
 * and used_add checks. The private treap and pointer table are checked
 * against naive references.
 */
#include "lib/compat.h"

#include <math.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc/alloc.h"
#include "alloc/alloc_int.h"
#include "lib/err.h"
#include "model/resources.h"

#define AGENT_RES "cpus:2;mem:1024;disk:4096;ports:[31000-32000]"

/* ---- helpers ----------------------------------------------------------- */

struct offer_rec {
	char *fw, *agent, *role;
	struct resources res;
};

struct recorder {
	struct offer_rec *v;
	size_t n, cap;
};

static void rec_cb(const char *fw, const char *agent, const char *role,
                   struct resources *res, void *arg)
{
	struct recorder *r = arg;
	struct offer_rec *o;

	ALLOC_GROW(r->v, r->n + 1, r->cap);
	o = &r->v[r->n++];
	o->fw = xstrdup(fw);
	o->agent = xstrdup(agent);
	o->role = xstrdup(role);
	o->res = *res; /* take */
	resources_init(res);
}

static void rec_reset(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].fw);
		free(r->v[i].agent);
		free(r->v[i].role);
		resources_release(&r->v[i].res);
	}
	r->n = 0;
}

static void rec_release(struct recorder *r)
{
	rec_reset(r);
	free(r->v);
	r->v = NULL;
	r->cap = 0;
}

static size_t rec_count(const struct recorder *r, const char *fw,
                        const char *role)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (streq(r->v[i].fw, fw) &&
		    (!role || streq(r->v[i].role, role)))
			n++;
	return n;
}

static struct resources res_parse(const char *text)
{
	struct resources r;
	struct err e;

	resources_init(&r);
	if (resources_parse_text(&r, text, NULL, &e))
		fail_msg("bad test resources '%s': %s", text, e.msg);
	return r;
}

static void agent_add_text(struct alloc *a, const char *id, const char *text)
{
	struct resources r = res_parse(text);

	alloc_agent_add(a, id, &r);
	resources_release(&r);
}

static void agents_add(struct alloc *a, size_t n, const char *text)
{
	struct resources r = res_parse(text);
	char id[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "agent-%03zu", i);
		alloc_agent_add(a, id, &r);
	}
	resources_release(&r);
}

static void fw_add1(struct alloc *a, const char *id, const char *role)
{
	const char *roles[] = {role};

	alloc_framework_add(a, id, roles, 1, true);
}

/* Recovers (declines) offer o back to the allocator. */
static void rec_decline(struct alloc *a, const struct offer_rec *o,
                        double refuse, uint64_t now)
{
	alloc_recover(a, o->agent, o->fw, &o->res, refuse, now);
}

static void assert_alloc_role(const struct resources *r, const char *role)
{
	assert_true(r->n > 0);
	for (size_t i = 0; i < r->n; i++)
		assert_string_equal(r->v[i].alloc_role, role);
}

/* ---- fair splits (table) ------------------------------------------------ */

struct split_case {
	const char *name;
	size_t nagents;
	struct {
		const char *id;
		const char *roles[3];
	} fws[4];
	struct {
		const char *role;
		double weight;
	} weights[3];
	struct {
		const char *fw, *role; /* role NULL: any */
		size_t offers;
	} expect[5];
};

static const struct split_case split_cases[] = {
    {"single framework gets every agent",
     10,
     {{"A", {"r"}}},
     {{0}},
     {{"A", NULL, 10}}},
    {"two frameworks in one role split evenly",
     10,
     {{"A", {"r"}}, {"B", {"r"}}},
     {{0}},
     {{"A", NULL, 5}, {"B", NULL, 5}}},
    {"three frameworks in one role",
     9,
     {{"A", {"r"}}, {"B", {"r"}}, {"C", {"r"}}},
     {{0}},
     {{"A", NULL, 3}, {"B", NULL, 3}, {"C", NULL, 3}}},
    {"two roles split evenly",
     10,
     {{"A", {"a"}}, {"B", {"b"}}},
     {{0}},
     {{"A", NULL, 5}, {"B", NULL, 5}}},
    {"weight 2 gets twice the share",
     9,
     {{"A", {"a"}}, {"B", {"b"}}},
     {{"a", 2.0}},
     {{"A", NULL, 6}, {"B", NULL, 3}}},
    {"weight 3 to 1",
     8,
     {{"A", {"a"}}, {"B", {"b"}}},
     {{"a", 3.0}},
     {{"A", NULL, 6}, {"B", NULL, 2}}},
    {"hierarchy: a and b halve, a/x and a/y halve a",
     8,
     {{"X", {"a/x"}}, {"Y", {"a/y"}}, {"Z", {"b"}}},
     {{0}},
     {{"X", "a/x", 2}, {"Y", "a/y", 2}, {"Z", "b", 4}}},
    {"hierarchy with a weighted parent",
     8,
     {{"X", {"a/x"}}, {"Y", {"a/y"}}, {"Z", {"b"}}},
     {{"a", 3.0}},
     {{"X", NULL, 3}, {"Y", NULL, 3}, {"Z", NULL, 2}}},
    {"weights inside a subtree",
     8,
     {{"X", {"a/x"}}, {"Y", {"a/y"}}, {"Z", {"b"}}},
     {{"a/x", 3.0}},
     {{"X", NULL, 3}, {"Y", NULL, 1}, {"Z", NULL, 4}}},
    {"a role that is both leaf and parent",
     8,
     {{"P", {"a"}}, {"C", {"a/c"}}, {"B", {"b"}}},
     {{0}},
     {{"P", "a", 2}, {"C", "a/c", 2}, {"B", "b", 4}}},
    {"multi-role framework: roles are fair first",
     8,
     {{"M", {"x", "y"}}, {"X", {"x"}}},
     {{0}},
     {{"M", "x", 2}, {"M", "y", 4}, {"X", "x", 2}}},
    {"the '*' role",
     4,
     {{"A", {"*"}}, {"B", {"b"}}},
     {{0}},
     {{"A", "*", 2}, {"B", "b", 2}}},
};

static void test_fair_splits(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(split_cases); c++) {
		const struct split_case *sc = &split_cases[c];
		struct alloc *a = alloc_new(NULL);
		struct recorder rec = {0};
		size_t total = 0;

		print_message("case: %s\n", sc->name);
		agents_add(a, sc->nagents, AGENT_RES);
		for (size_t i = 0; i < ARRAY_SIZE(sc->weights); i++)
			if (sc->weights[i].role)
				alloc_set_weight(a, sc->weights[i].role,
				                 sc->weights[i].weight);
		for (size_t i = 0; i < ARRAY_SIZE(sc->fws) && sc->fws[i].id;
		     i++) {
			size_t n = 0;
			while (n < 3 && sc->fws[i].roles[n])
				n++;
			alloc_framework_add(a, sc->fws[i].id, sc->fws[i].roles,
			                    n, true);
		}
		assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec),
		                 sc->nagents);
		assert_int_equal(rec.n, sc->nagents);
		for (size_t i = 0; i < ARRAY_SIZE(sc->expect); i++) {
			if (!sc->expect[i].fw)
				continue;
			assert_int_equal(rec_count(&rec, sc->expect[i].fw,
			                           sc->expect[i].role),
			                 sc->expect[i].offers);
		}
		for (size_t i = 0; i < rec.n; i++) {
			struct resources want = res_parse(AGENT_RES);
			assert_alloc_role(&rec.v[i].res, rec.v[i].role);
			resources_set_alloc_role(&want, rec.v[i].role);
			assert_true(resources_contains(&rec.v[i].res, &want));
			assert_true(resources_contains(&want, &rec.v[i].res));
			resources_release(&want);
			total++;
		}
		assert_int_equal(total, sc->nagents);
		/* Everything is held now: another pass offers nothing. */
		rec_reset(&rec);
		assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 0);
		rec_release(&rec);
		alloc_free(a);
	}
}

static void test_weights_and_shares(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};

	(void)state;
	assert_true(alloc_weight(a, "a") == 1.0);
	alloc_set_weight(a, "a", 2.0);
	assert_true(alloc_weight(a, "a") == 2.0);
	alloc_set_weight(a, "a", 0);
	alloc_set_weight(a, "a", -1);
	alloc_set_weight(a, "a", NAN);
	alloc_set_weight(a, "a", INFINITY);
	alloc_set_weight(a, "bad//role", 3.0);
	alloc_set_weight(a, NULL, 3.0);
	assert_true(alloc_weight(a, "a") == 2.0);
	assert_true(alloc_weight(a, "bad//role") == 1.0);
	assert_true(alloc_weight(a, NULL) == 1.0);

	agents_add(a, 12, AGENT_RES);
	fw_add1(a, "A", "a");
	fw_add1(a, "B", "b/c");
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 12);
	/* a has weight 2: twice b's share. */
	assert_true(alloc_role_share(a, "a") == 8.0 / 12.0);
	assert_true(alloc_role_share(a, "b") == 4.0 / 12.0);
	assert_true(alloc_role_share(a, "b/c") == 4.0 / 12.0);
	assert_true(alloc_framework_share(a, "A") == 8.0 / 12.0);
	assert_true(alloc_role_share(a, "nope") == 0);
	assert_true(alloc_framework_share(a, "nope") == 0);

	struct resources got,
	    want = res_parse("cpus:8;mem:4096;disk:16384;ports:[31000-32000]");
	resources_init(&got);
	alloc_role_allocated(a, "b/c", &got);
	resources_set_alloc_role(&want, "b/c");
	/* four agents' worth (the port ranges overlap and merge) */
	assert_int_equal(resources_scalar(&got, "cpus"), 8000);
	assert_int_equal(resources_scalar(&got, "mem"), 4096000);
	assert_true(resources_contains(&got, &want));
	resources_release(&got);
	resources_init(&got);
	alloc_role_allocated(a, "b", &got); /* exactly b: nothing */
	assert_true(resources_is_empty(&got));
	resources_release(&got);
	resources_release(&want);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- DRF: the example of the DRF paper ----------------------------------- */

/*
 * 9 CPUs and 18 GB; user A runs tasks of <1 CPU, 4 GB>, user B tasks of
 * <3 CPU, 1 GB>. Each offer launches one task (the rest is declined without
 * a filter), until a framework cannot fit a task: it then declines with a
 * filter. DRF ends with A: 3 tasks, B: 2 tasks, both at a share of 2/3.
 */
static void test_drf_paper_example(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources task_a = res_parse("cpus:1;mem:4096");
	struct resources task_b = res_parse("cpus:3;mem:1024");
	size_t tasks_a = 0, tasks_b = 0, rounds = 0;

	(void)state;
	agent_add_text(a, "S1", "cpus:9;mem:18432");
	fw_add1(a, "A", "r");
	fw_add1(a, "B", "r");
	resources_set_alloc_role(&task_a, "r");
	resources_set_alloc_role(&task_b, "r");
	alloc_run(a, 0, true, rec_cb, &rec);
	while (rec.n > 0) {
		struct offer_rec *o = &rec.v[0];
		bool is_a = streq(o->fw, "A");
		const struct resources *task = is_a ? &task_a : &task_b;

		assert_int_equal(rec.n, 1);
		assert_true(++rounds < 20);
		if (resources_contains(&o->res, task)) {
			assert_int_equal(resources_subtract(&o->res, task), 0);
			rec_decline(a, o, 0, 0);
			*(is_a ? &tasks_a : &tasks_b) += 1;
		} else {
			rec_decline(a, o, 60, 0);
		}
		rec_reset(&rec);
		alloc_run(a, 0, false, rec_cb, &rec);
	}
	assert_int_equal(tasks_a, 3);
	assert_int_equal(tasks_b, 2);
	assert_true(alloc_framework_share(a, "A") == 2.0 / 3.0);
	assert_true(alloc_framework_share(a, "B") == 2.0 / 3.0);
	resources_release(&task_a);
	resources_release(&task_b);
	rec_release(&rec);
	alloc_free(a);
}

/* A framework heavy in memory and one heavy in cpus: the dominant resource
 * decides, not the sum. */
static void test_dominant_resource(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources m = res_parse("cpus:1;mem:6000");
	struct resources c = res_parse("cpus:4;mem:1000");

	(void)state;
	agent_add_text(a, "S1", "cpus:10;mem:10000");
	agent_add_text(a, "S2", "cpus:10;mem:10000");
	fw_add1(a, "MEM", "r");
	fw_add1(a, "CPU", "r");
	/* MEM holds 30% of mem (share .3), CPU 20% of cpus (share .2) */
	assert_int_equal(alloc_used_add(a, "S1", "MEM", &m), 0);
	assert_int_equal(alloc_used_add(a, "S2", "CPU", &c), 0);
	assert_true(alloc_framework_share(a, "MEM") == 0.3);
	assert_true(alloc_framework_share(a, "CPU") == 0.2);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 2);
	/* CPU is behind: it gets the first agent visited; MEM the other. */
	assert_string_equal(rec.v[0].fw, "CPU");
	assert_string_equal(rec.v[1].fw, "MEM");
	resources_release(&m);
	resources_release(&c);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- reservations ------------------------------------------------------- */

static const struct {
	const char *agent, *role;
	bool offered;
} reservation_cases[] = {
    {"cpus(r):1;mem(r):64", "r", true},
    {"cpus(r):1;mem(r):64", "q", false},
    {"cpus(r):1;mem(r):64", "r/s", true},
    {"cpus(r/s):1;mem(r/s):64", "r", false},
    {"cpus(r/s):1;mem(r/s):64", "r/s/t", true},
    {"cpus(rr):1;mem(rr):64", "r", false},
    {"cpus(r):1;mem(r):64", "rr", false},
    {"cpus:1;mem:64", "*", true},
    {"cpus(r):1;mem(r):64", "*", false},
    {"cpus(r):1;mem(r):64;disk:100", "q", false}, /* disk alone: < min */
    {"cpus(r):1;mem(r):64;cpus:0.5", "q", true},
};

static void test_reservations_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(reservation_cases); c++) {
		struct alloc *a = alloc_new(NULL);
		struct recorder rec = {0};

		print_message("case: %s to %s\n", reservation_cases[c].agent,
		              reservation_cases[c].role);
		agent_add_text(a, "S1", reservation_cases[c].agent);
		fw_add1(a, "F", reservation_cases[c].role);
		alloc_run(a, 0, true, rec_cb, &rec);
		assert_int_equal(rec.n, reservation_cases[c].offered ? 1 : 0);
		for (size_t i = 0; i < rec.n; i++) {
			const struct resources *r = &rec.v[i].res;
			assert_alloc_role(r, reservation_cases[c].role);
			for (size_t k = 0; k < r->n; k++)
				if (strcmp(r->v[k].role, "*") != 0)
					assert_true(
					    strncmp(reservation_cases[c].role,
					            r->v[k].role,
					            strlen(r->v[k].role)) == 0);
		}
		rec_release(&rec);
		alloc_free(a);
	}
}

/* An agent with unreserved and reserved parts makes two offers in one
 * pass: the unreserved part to the role first in order, the reserved part
 * to the role it is reserved to. */
static void test_reserved_split_offer(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources want;

	(void)state;
	agent_add_text(a, "S1", "cpus(zz):2;mem(zz):512;cpus:2;mem:512");
	fw_add1(a, "F2", "aa");
	fw_add1(a, "F1", "zz");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 2);
	assert_string_equal(rec.v[0].fw, "F2");
	assert_string_equal(rec.v[0].role, "aa");
	want = res_parse("cpus:2;mem:512");
	resources_set_alloc_role(&want, "aa");
	assert_true(resources_contains(&rec.v[0].res, &want));
	assert_true(resources_contains(&want, &rec.v[0].res));
	resources_release(&want);
	assert_string_equal(rec.v[1].fw, "F1");
	want = res_parse("cpus(zz):2;mem(zz):512");
	resources_set_alloc_role(&want, "zz");
	assert_true(resources_contains(&rec.v[1].res, &want));
	assert_true(resources_contains(&want, &rec.v[1].res));
	resources_release(&want);
	rec_release(&rec);
	alloc_free(a);
}

/* Reserved resources wait for their role even when others are hungry. */
static void test_reserved_waits_for_role(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};

	(void)state;
	agent_add_text(a, "R", "cpus(r1):4;mem(r1):1024");
	agent_add_text(a, "U", "cpus:4;mem:1024");
	fw_add1(a, "F2", "r2");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].agent, "U");
	rec_reset(&rec);
	fw_add1(a, "F1", "r1");
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].fw, "F1");
	assert_string_equal(rec.v[0].agent, "R");
	rec_release(&rec);
	alloc_free(a);
}

/* ---- minimum allocatable ------------------------------------------------- */

static const struct {
	struct alloc_opts opts; /* a zero field: its default */
	const char *agent;
	bool offered;
} min_cases[] = {
    {{0, 0}, "cpus:0.005;mem:16", false},
    {{0, 0}, "cpus:0.01", true},
    {{0, 0}, "mem:32", true},
    {{0, 0}, "mem:31", false},
    {{0, 0}, "disk:1000", false},
    {{0, 0}, "cpus:0.009;mem:31;disk:100;ports:[1-9]", false},
    {{0, 0}, "cpus:0.01;disk:10", true},
    {{0, 0}, "cpus(x):4;mem(x):4096;cpus:0.001", false},
    {{1000, INT64_MAX}, "cpus:0.999;mem:100000", false},
    {{1000, INT64_MAX}, "cpus:1", true},
    {{1000, 64000}, "cpus:0.5;mem:64", true},
    /* a zero field takes its default, the other one stays */
    {{0, 64000}, "cpus:0.01", true},
    {{0, 64000}, "cpus:0.009;mem:63", false},
    {{1000, 0}, "mem:32", true},
    {{1000, 0}, "cpus:0.999;mem:31", false},
    /* a negative minimum is always met */
    {{-1, 0}, "disk:1", true},
    {{-1, -1}, "ports:[1-1]", true},
    {{-1, -1}, "disk:0", false}, /* nothing to offer */
};

static void test_min_allocatable(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(min_cases); c++) {
		const struct alloc_opts *o = &min_cases[c].opts;
		bool zero = !o->min_cpus && !o->min_mem;

		print_message("case: %s\n", min_cases[c].agent);
		/* all-zero opts: the same as NULL */
		for (int k = 0; k < (zero ? 2 : 1); k++) {
			struct alloc *a = alloc_new(k ? NULL : o);
			struct recorder rec = {0};
			agent_add_text(a, "S1", min_cases[c].agent);
			fw_add1(a, "F", "y");
			assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec),
			                 min_cases[c].offered ? 1 : 0);
			rec_release(&rec);
			alloc_free(a);
		}
	}
}

/* ---- filters ------------------------------------------------------------ */

static void test_filters(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct alloc_stats st;

	(void)state;
	agent_add_text(a, "S1", AGENT_RES);
	fw_add1(a, "A", "r");
	fw_add1(a, "B", "r");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].fw, "A");
	/* A declines for 10 s: the agent goes to B meanwhile. */
	rec_decline(a, &rec.v[0], 10, 1000);
	alloc_get_stats(a, &st);
	assert_int_equal(st.filters, 1);
	rec_reset(&rec);
	alloc_run(a, 1000, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].fw, "B");
	/* B declines without a filter: B again (A still filtered). */
	rec_decline(a, &rec.v[0], 0, 2000);
	rec_reset(&rec);
	alloc_run(a, 2000, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].fw, "B");
	/* B declines for 100 s: nobody until A's filter expires. */
	rec_decline(a, &rec.v[0], 100, 3000);
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 3000, false, rec_cb, &rec), 0);
	assert_int_equal(alloc_run(a, 10999, true, rec_cb, &rec), 0);
	assert_int_equal(alloc_run(a, 11000, true, rec_cb, &rec), 1);
	assert_string_equal(rec.v[0].fw, "A");
	alloc_get_stats(a, &st);
	assert_int_equal(st.filters, 1); /* B's */
	rec_release(&rec);
	alloc_free(a);
}

static const struct {
	double refuse;
	uint64_t free_at; /* first time offered again (0: at once) */
} refuse_cases[] = {
    {0, 0},
    {-5, 0},
    {NAN, 0},
    {0.5, 500},
    {5, 5000},
    {1e12, (uint64_t)365 * 24 * 3600 * 1000},
    {INFINITY, (uint64_t)365 * 24 * 3600 * 1000},
};

static void test_refuse_seconds(void **state)
{
	const uint64_t t0 = 1000000;

	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(refuse_cases); c++) {
		struct alloc *a = alloc_new(NULL);
		struct recorder rec = {0};
		uint64_t at = refuse_cases[c].free_at;

		print_message("case: refuse %g\n", refuse_cases[c].refuse);
		agent_add_text(a, "S1", AGENT_RES);
		fw_add1(a, "A", "r");
		alloc_run(a, t0, true, rec_cb, &rec);
		assert_int_equal(rec.n, 1);
		rec_decline(a, &rec.v[0], refuse_cases[c].refuse, t0);
		rec_reset(&rec);
		if (at) {
			assert_int_equal(
			    alloc_run(a, t0 + at - 1, true, rec_cb, &rec), 0);
		}
		assert_int_equal(alloc_run(a, t0 + at, true, rec_cb, &rec), 1);
		rec_release(&rec);
		alloc_free(a);
	}
}

/* Filters are per role: a multi-role framework declining for x still gets
 * the agent for y. */
static void test_filter_per_role(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	const char *roles[] = {"x", "y"};

	(void)state;
	agent_add_text(a, "S1", AGENT_RES);
	alloc_framework_add(a, "M", roles, 2, true);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].role, "x");
	rec_decline(a, &rec.v[0], 60, 0);
	rec_reset(&rec);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_string_equal(rec.v[0].role, "y");
	assert_alloc_role(&rec.v[0].res, "y");
	rec_release(&rec);
	alloc_free(a);
}

/*
 * Refuse filters as Mesos' RefusedOfferFilter: a refusal blocks an offer
 * only while the offer would hold no more than was refused. Each case is a
 * script on one agent "S1"; every pass must make at most one offer.
 */
enum fop {
	FOP_END,
	FOP_RUN,    /* incremental pass at t: expect an offer of res to
	               (fw, role), or none when fw is NULL */
	FOP_FULL,   /* the same with a full pass */
	FOP_BACK,   /* fw gives back res (NULL: its last offer) allocated
	               to role at t, with refuse seconds */
	FOP_USED,   /* alloc_used_add of res to role for fw */
	FOP_REVIVE, /* revive fw for role (NULL: all its roles) */
	FOP_COUNT,  /* expect filters and refusals in the stats */
};

struct fstep {
	enum fop op;
	uint64_t t;
	const char *fw, *role, *res;
	double refuse;
	size_t filters, refusals;
};

/* One line per step kind reads better than clang-format's layout. */
/* clang-format off */
#define RUN(t_, fw_, role_, res_) {FOP_RUN, t_, fw_, role_, res_, 0, 0, 0}
#define FULL(t_, fw_, role_, res_) {FOP_FULL, t_, fw_, role_, res_, 0, 0, 0}
#define NONE(t_) {FOP_RUN, t_, NULL, NULL, NULL, 0, 0, 0}
#define NONE_FULL(t_) {FOP_FULL, t_, NULL, NULL, NULL, 0, 0, 0}
#define BACK(t_, fw_, role_, res_, refuse_) \
	{FOP_BACK, t_, fw_, role_, res_, refuse_, 0, 0}
#define USED(fw_, role_, res_) {FOP_USED, 0, fw_, role_, res_, 0, 0, 0}
#define REVIVE(fw_, role_) {FOP_REVIVE, 0, fw_, role_, NULL, 0, 0, 0}
#define COUNT(f_, r_) {FOP_COUNT, 0, NULL, NULL, NULL, 0, f_, r_}
/* clang-format on */

#define REST "mem:1024;disk:4096;ports:[31000-32000]" /* AGENT_RES - cpus */

static const struct filter_case {
	const char *name, *agent;
	struct {
		const char *id, *roles[2];
	} fws[2];
	struct fstep steps[16];
} filter_cases[] = {
    {"declined offer is not offered again before the filter expires",
     AGENT_RES,
     {{"A", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(1000, "A", "r", NULL, 5), COUNT(1, 1),
      NONE(1000), NONE_FULL(5999), FULL(6000, "A", "r", AGENT_RES),
      COUNT(0, 0)}},
    {"all cpus used: the remainder is filtered, freed cpus go out at once",
     AGENT_RES,
     {{"A", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(1000, "A", "r", REST, 5), NONE(1000),
      NONE_FULL(2000), BACK(3000, "A", "r", "cpus:2", 0),
      RUN(3000, "A", "r", AGENT_RES)}},
    {"some cpus used: a finished task frees more than was refused",
     AGENT_RES,
     {{"A", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES),
      BACK(1000, "A", "r", "cpus:1.5;mem:896;disk:4096;ports:[31000-32000]", 5),
      NONE(1000), BACK(2000, "A", "r", "cpus:0.5;mem:128", 0),
      RUN(2000, "A", "r", AGENT_RES)}},
    {"the refused remainder goes to the next framework meanwhile",
     AGENT_RES,
     {{"A", {"r"}}, {"B", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(1000, "A", "r", REST, 5),
      RUN(1000, "B", "r", REST), BACK(1500, "B", "r", NULL, 0),
      BACK(2000, "A", "r", "cpus:2", 0), RUN(2000, "A", "r", AGENT_RES)}},
    {"less than was refused stays filtered",
     AGENT_RES,
     {{"A", {"r"}}, {"B", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(0, "A", "r", NULL, 60),
      RUN(0, "B", "r", AGENT_RES),
      BACK(1000, "B", "r", "cpus:1;mem:512;disk:4096;ports:[31000-32000]", 0),
      RUN(1000, "B", "r", "cpus:1;mem:512;disk:4096;ports:[31000-32000]"),
      BACK(2000, "B", "r", NULL, 0), BACK(2000, "B", "r", "cpus:1;mem:512", 0),
      RUN(2000, "B", "r", AGENT_RES)}},
    {"a filter for role x does not block role y",
     AGENT_RES,
     {{"M", {"x", "y"}}},
     {FULL(0, "M", "x", AGENT_RES), BACK(0, "M", "x", NULL, 60),
      RUN(0, "M", "y", AGENT_RES), BACK(0, "M", "y", NULL, 30), COUNT(2, 2),
      NONE(0), NONE_FULL(29999), FULL(30000, "M", "y", AGENT_RES),
      COUNT(1, 1)}},
    {"revive clears the filters",
     AGENT_RES,
     {{"A", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(0, "A", "r", NULL, 60), NONE(0),
      REVIVE("A", NULL), COUNT(0, 0), RUN(0, "A", "r", AGENT_RES)}},
    {"revive of one role keeps the other role's filter",
     AGENT_RES,
     {{"M", {"x", "y"}}},
     {FULL(0, "M", "x", AGENT_RES), BACK(0, "M", "x", NULL, 60),
      RUN(0, "M", "y", AGENT_RES), BACK(0, "M", "y", NULL, 60),
      REVIVE("M", "y"), COUNT(1, 1), RUN(0, "M", "y", AGENT_RES)}},
    {"refusals block one by one, not as their union",
     "cpus:2;mem:1024",
     {{"A", {"r"}}},
     {FULL(0, "A", "r", "cpus:2;mem:1024"), BACK(0, "A", "r", "cpus:1", 60),
      NONE(0), BACK(0, "A", "r", "mem:1024", 60), COUNT(1, 2),
      RUN(0, "A", "r", "cpus:1;mem:1024")}},
    {"a covered refusal adds nothing, a covering one replaces",
     "cpus:2;mem:1024",
     {{"A", {"r"}}},
     {FULL(0, "A", "r", "cpus:2;mem:1024"), BACK(0, "A", "r", "cpus:1", 60),
      USED("A", "r", "cpus:1"), BACK(0, "A", "r", "cpus:0.5", 30), COUNT(1, 1),
      BACK(0, "A", "r", "cpus:0.5", 90), COUNT(1, 2), USED("A", "r", "cpus:1"),
      BACK(0, "A", "r", "cpus:1", 120), COUNT(1, 1), NONE_FULL(119999),
      FULL(120000, "A", "r", "cpus:1")}},
    {"past the bound, the refusal expiring first gives way",
     "cpus:4;mem:4096;disk:4096;gpus:4",
     {{"A", {"r"}}},
     {FULL(0, "A", "r", "cpus:4;mem:4096;disk:4096;gpus:4"),
      BACK(0, "A", "r", "cpus:1", 100), USED("A", "r", "cpus:1"),
      BACK(0, "A", "r", "cpus:4;mem:4096;disk:4096;gpus:4", 10),
      USED("A", "r", "mem:1"), BACK(0, "A", "r", "mem:1", 100),
      USED("A", "r", "disk:1"), BACK(0, "A", "r", "disk:1", 100), COUNT(1, 4),
      NONE(0), USED("A", "r", "gpus:1"), BACK(0, "A", "r", "gpus:1", 100),
      COUNT(1, 4), RUN(0, "A", "r", "cpus:4;mem:4096;disk:4096;gpus:4")}},
    {"reserved agent: the role's part is what is compared",
     "cpus(r):1;mem(r):512;cpus:1;mem:512",
     {{"A", {"r"}}},
     {FULL(0, "A", "r", "cpus(r):1;mem(r):512;cpus:1;mem:512"),
      BACK(0, "A", "r", "cpus:1;mem:512", 60), NONE(0),
      BACK(1000, "A", "r", "cpus(r):1", 0),
      RUN(1000, "A", "r", "cpus(r):1;cpus:1;mem:512")}},
    {"resources reserved to another role do not lift the filter",
     "cpus(q):1;mem(q):512;cpus:1;mem:512",
     {{"A", {"r"}}},
     {FULL(0, "A", "r", "cpus:1;mem:512"), BACK(0, "A", "r", NULL, 60), NONE(0),
      NONE_FULL(59999), FULL(60000, "A", "r", "cpus:1;mem:512")}},
    {"an empty give-back installs no filter",
     AGENT_RES,
     {{"A", {"r"}}},
     {FULL(0, "A", "r", AGENT_RES), BACK(0, "A", "r", "cpus:0", 60),
      COUNT(0, 0)}},
};

/* The last offer made to fw, which must exist. */
static const struct offer_rec *rec_last(const struct recorder *r,
                                        const char *fw)
{
	for (size_t i = r->n; i-- > 0;)
		if (streq(r->v[i].fw, fw))
			return &r->v[i];
	fail_msg("no offer to '%s' yet", fw);
	return NULL;
}

/* res equals the text want with allocation role role. */
static void assert_res_equal(const struct resources *res, const char *want,
                             const char *role)
{
	struct resources w = res_parse(want);

	resources_set_alloc_role(&w, role);
	assert_true(resources_contains(res, &w));
	assert_true(resources_contains(&w, res));
	resources_release(&w);
}

static void filter_step(struct alloc *a, struct recorder *rec,
                        const struct fstep *st)
{
	struct alloc_stats stats;
	struct resources r;
	size_t before = rec->n;

	switch (st->op) {
	case FOP_RUN:
	case FOP_FULL:
		alloc_run(a, st->t, st->op == FOP_FULL, rec_cb, rec);
		assert_int_equal(rec->n - before, st->fw ? 1 : 0);
		if (!st->fw)
			break;
		assert_string_equal(rec->v[before].fw, st->fw);
		assert_string_equal(rec->v[before].role, st->role);
		assert_res_equal(&rec->v[before].res, st->res, st->role);
		break;
	case FOP_BACK:
		if (!st->res) {
			const struct offer_rec *o = rec_last(rec, st->fw);
			assert_string_equal(o->role, st->role);
			alloc_recover(a, "S1", st->fw, &o->res, st->refuse,
			              st->t);
			break;
		}
		r = res_parse(st->res);
		resources_set_alloc_role(&r, st->role);
		alloc_recover(a, "S1", st->fw, &r, st->refuse, st->t);
		resources_release(&r);
		break;
	case FOP_USED:
		r = res_parse(st->res);
		resources_set_alloc_role(&r, st->role);
		assert_int_equal(alloc_used_add(a, "S1", st->fw, &r), 0);
		resources_release(&r);
		break;
	case FOP_REVIVE:
		alloc_revive(a, st->fw, &st->role, st->role ? 1 : 0);
		break;
	case FOP_COUNT:
		alloc_get_stats(a, &stats);
		assert_int_equal(stats.filters, st->filters);
		assert_int_equal(stats.refusals, st->refusals);
		break;
	case FOP_END:
		break;
	}
}

static void test_filter_scenarios(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(filter_cases); c++) {
		const struct filter_case *fc = &filter_cases[c];
		struct alloc *a = alloc_new(NULL);
		struct recorder rec = {0};

		print_message("case: %s\n", fc->name);
		agent_add_text(a, "S1", fc->agent);
		for (size_t i = 0; i < ARRAY_SIZE(fc->fws) && fc->fws[i].id;
		     i++) {
			size_t n = fc->fws[i].roles[1] ? 2 : 1;
			alloc_framework_add(a, fc->fws[i].id, fc->fws[i].roles,
			                    n, true);
		}
		for (size_t i = 0;
		     i < ARRAY_SIZE(fc->steps) && fc->steps[i].op != FOP_END;
		     i++) {
			print_message("  step %zu\n", i);
			filter_step(a, &rec, &fc->steps[i]);
		}
		rec_release(&rec);
		alloc_free(a);
	}
}

/* ---- suppress / revive -----------------------------------------------------
 */

static void test_suppress_revive(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct alloc_stats st;

	(void)state;
	agents_add(a, 4, AGENT_RES);
	fw_add1(a, "A", "r");
	fw_add1(a, "B", "r");
	alloc_suppress(a, "A", NULL, 0);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "B", NULL), 4);
	/* B declines two agents for a minute: A is suppressed, nobody. */
	rec_decline(a, &rec.v[0], 60, 0);
	rec_decline(a, &rec.v[1], 60, 0);
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 0);
	/* Revive makes the next pass full: A gets both. */
	alloc_revive(a, "A", NULL, 0);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 2);
	assert_int_equal(rec_count(&rec, "A", NULL), 2);
	/* Revive drops the reviving framework's filters. */
	rec_decline(a, &rec.v[0], 60, 0);
	rec_decline(a, &rec.v[1], 60, 0);
	alloc_get_stats(a, &st);
	assert_int_equal(st.filters, 4);
	alloc_revive(a, "A", NULL, 0);
	alloc_get_stats(a, &st);
	assert_int_equal(st.filters, 2);
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 2);
	assert_int_equal(rec_count(&rec, "A", NULL), 2);
	/* Unknown frameworks and roles are ignored. */
	alloc_suppress(a, "nope", NULL, 0);
	alloc_revive(a, "nope", NULL, 0);
	rec_release(&rec);
	alloc_free(a);
}

static void test_suppress_one_role(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	const char *roles[] = {"x", "y"};
	const char *sx[] = {"x", "not-mine"};

	(void)state;
	agents_add(a, 4, AGENT_RES);
	alloc_framework_add(a, "M", roles, 2, true);
	alloc_suppress(a, "M", sx, 2);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "M", "y"), 4);
	for (size_t i = 0; i < rec.n; i++)
		rec_decline(a, &rec.v[i], 0, 0);
	rec_reset(&rec);
	alloc_revive(a, "M", sx, 1);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "M", "x"), 2);
	assert_int_equal(rec_count(&rec, "M", "y"), 2);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- inactive parties ------------------------------------------------------
 */

static void test_inactive_framework(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	const char *r[] = {"r"};

	(void)state;
	agents_add(a, 4, AGENT_RES);
	alloc_framework_add(a, "A", r, 1, false);
	fw_add1(a, "B", "r");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "B", NULL), 4);
	/* B gives two back; A, now active, gets them. */
	rec_decline(a, &rec.v[0], 0, 0);
	rec_decline(a, &rec.v[1], 0, 0);
	alloc_framework_set_active(a, "A", true);
	rec_reset(&rec);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "A", NULL), 2);
	/* Deactivating drops A's filters. */
	rec_decline(a, &rec.v[0], 60, 0);
	alloc_framework_set_active(a, "A", false);
	struct alloc_stats st;
	alloc_get_stats(a, &st);
	assert_int_equal(st.filters, 0);
	rec_reset(&rec);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "B", NULL), 1);
	alloc_framework_set_active(a, "nope", true);
	rec_release(&rec);
	alloc_free(a);
}

static void test_inactive_agent(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};

	(void)state;
	agent_add_text(a, "S1", AGENT_RES);
	alloc_agent_set_active(a, "S1", false);
	fw_add1(a, "A", "r");
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 0);
	alloc_agent_set_active(a, "S1", true);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 1);
	alloc_agent_set_active(a, "nope", true);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- incremental passes ----------------------------------------------------
 */

static void test_incremental_visits_dirty_only(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct alloc_stats s0, s1;
	size_t i;

	(void)state;
	agents_add(a, 100, AGENT_RES);
	for (i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof(id), "F%02zu", i);
		fw_add1(a, id, i % 2 ? "odd" : "even");
	}
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 100);
	for (i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof(id), "F%02zu", i);
		assert_int_equal(rec_count(&rec, id, NULL), 5);
	}
	alloc_get_stats(a, &s0);
	assert_int_equal(s0.agents_visited, 100);
	assert_int_equal(s0.dirty_agents, 0);
	/* Nothing changed: an incremental pass looks at nothing. */
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 0);
	alloc_get_stats(a, &s1);
	assert_int_equal(s1.agents_visited, s0.agents_visited);
	/* One agent freed: one agent visited, one framework considered. */
	rec_decline(a, &rec.v[17], 0, 0);
	alloc_get_stats(a, &s0);
	assert_int_equal(s0.dirty_agents, 1);
	size_t before = rec.n;
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 1);
	alloc_get_stats(a, &s1);
	assert_int_equal(s1.agents_visited - s0.agents_visited, 1);
	assert_int_equal(s1.candidates - s0.candidates, 1);
	assert_int_equal(s1.full_runs, s0.full_runs);
	assert_string_equal(rec.v[before].agent, rec.v[17].agent);
	/* A full pass visits all agents again. */
	alloc_run(a, 0, true, rec_cb, &rec);
	alloc_get_stats(a, &s0);
	assert_int_equal(s0.agents_visited - s1.agents_visited, 100);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- removal ---------------------------------------------------------------
 */

static void test_framework_remove_returns(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources used = res_parse("cpus:1;mem:512");

	(void)state;
	agents_add(a, 4, AGENT_RES);
	fw_add1(a, "A", "r");
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 4);
	fw_add1(a, "B", "r");
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 0);
	alloc_framework_remove(a, "A");
	alloc_framework_remove(a, "A"); /* twice: ignored */
	assert_true(alloc_framework_share(a, "A") == 0);
	assert_true(alloc_role_share(a, "r") == 0);
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 4);
	assert_int_equal(rec_count(&rec, "B", NULL), 4);
	assert_true(alloc_framework_share(a, "B") == 1.0);
	/* Used resources come back too. */
	for (size_t i = 0; i < rec.n; i++)
		rec_decline(a, &rec.v[i], 0, 0);
	assert_int_equal(alloc_used_add(a, "agent-000", "B", &used), 0);
	alloc_framework_remove(a, "B");
	fw_add1(a, "C", "r");
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 4);
	for (size_t i = 0; i < rec.n; i++)
		assert_int_equal(resources_scalar(&rec.v[i].res, "cpus"), 2000);
	resources_release(&used);
	rec_release(&rec);
	alloc_free(a);
}

static void test_agent_remove(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources all = res_parse(AGENT_RES);

	(void)state;
	agents_add(a, 2, AGENT_RES);
	fw_add1(a, "A", "r");
	assert_int_equal(alloc_used_add(a, "agent-000", "A", &all), 0);
	assert_true(alloc_framework_share(a, "A") == 0.5);
	alloc_agent_remove(a, "agent-001");
	assert_int_equal(alloc_agent_count(a), 1);
	/* The cluster shrank: A now holds everything. */
	assert_true(alloc_framework_share(a, "A") == 1.0);
	alloc_agent_remove(a, "agent-000");
	alloc_agent_remove(a, "agent-000");
	assert_int_equal(alloc_agent_count(a), 0);
	assert_true(alloc_framework_share(a, "A") == 0);
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 0);
	/* A removed agent's id can come back, empty. */
	agents_add(a, 1, AGENT_RES);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 1);
	assert_true(alloc_framework_share(a, "A") == 1.0);
	/* Removing it drops what A was offered there. */
	alloc_agent_remove(a, "agent-000");
	agents_add(a, 2, AGENT_RES);
	assert_true(alloc_framework_share(a, "A") == 0);
	resources_release(&all);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- used_add
 * ---------------------------------------------------------------- */

static const struct {
	const char *agent, *fw, *res;
	const char *alloc_role; /* NULL: leave unset */
	int rc;
} used_cases[] = {
    {"S1", "F", "cpus:1", NULL, 0},
    {"S1", "F", "cpus:4;mem:1024", "r", 0},
    {"S1", "F", "cpus:4.001", "r", -EINVAL},
    {"S1", "F", "mem:1025", "r", -EINVAL},
    {"S1", "F", "gpus:1", "r", -EINVAL},
    {"S1", "F", "cpus(r):1", "r", -EINVAL},
    {"S1", "F", "ports:[31000-31005,31990-32000]", "r", 0},
    {"S1", "F", "ports:[30999-31000]", "r", -EINVAL},
    {"S1", "F", "cpus:1", "bad//role", -EINVAL},
    {"S1", "F", "cpus:1", "other", 0},
    {"nope", "F", "cpus:1", "r", -EINVAL},
    {"S1", "nope", "cpus:1", "r", -EINVAL},
};

static void test_used_add_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(used_cases); c++) {
		struct alloc *a = alloc_new(NULL);
		struct recorder rec = {0};
		struct resources r = res_parse(used_cases[c].res);
		const char *role = used_cases[c].alloc_role;
		int rc;

		print_message("case: %s\n", used_cases[c].res);
		agent_add_text(a, "S1", "cpus:4;mem:1024;ports:[31000-32000]");
		fw_add1(a, "F", "r");
		if (role)
			resources_set_alloc_role(&r, role);
		rc = alloc_used_add(a, used_cases[c].agent, used_cases[c].fw,
		                    &r);
		assert_int_equal(rc, used_cases[c].rc);
		if (rc) {
			/* nothing changed: the whole agent is offered */
			assert_true(alloc_framework_share(a, "F") == 0);
			alloc_run(a, 0, true, rec_cb, &rec);
			assert_int_equal(rec.n, 1);
			assert_int_equal(
			    resources_scalar(&rec.v[0].res, "cpus"), 4000);
		} else {
			const char *held = role ? role : "r";
			struct resources got;
			resources_init(&got);
			alloc_role_allocated(a, held, &got);
			resources_set_alloc_role(&r, held);
			assert_true(resources_contains(&got, &r));
			assert_true(resources_contains(&r, &got));
			resources_release(&got);
			/* ranges alone are not part of shares */
			assert_true((alloc_role_share(a, held) > 0) ==
			            (resources_scalar(&r, "cpus") +
			                 resources_scalar(&r, "mem") >
			             0));
		}
		resources_release(&r);
		rec_release(&rec);
		alloc_free(a);
	}
}

/* Used resources are not offered; the rest is. */
static void test_used_add_reduces_offer(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources used = res_parse("cpus:1;mem:256;ports:[31000-31009]");
	struct resources want = res_parse("cpus:3;mem:768;ports:[31010-32000]");

	(void)state;
	agent_add_text(a, "S1", "cpus:4;mem:1024;ports:[31000-32000]");
	fw_add1(a, "F", "r");
	assert_int_equal(alloc_used_add(a, "S1", "F", &used), 0);
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	resources_set_alloc_role(&want, "r");
	assert_true(resources_contains(&rec.v[0].res, &want));
	assert_true(resources_contains(&want, &rec.v[0].res));
	/* Giving back what is not held is ignored. */
	alloc_recover(a, "S1", "F", &want, 0, 0);
	alloc_recover(a, "S1", "F", &want, 0, 0);
	alloc_recover(a, "S1", "nope", &want, 0, 0);
	alloc_recover(a, "nope", "F", &want, 0, 0);
	rec_reset(&rec);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_int_equal(resources_scalar(&rec.v[0].res, "cpus"), 3000);
	resources_release(&used);
	resources_release(&want);
	rec_release(&rec);
	alloc_free(a);
}

/* Giving back an offer under the wrong role, or more than it, changes
 * nothing; a part of it comes back exactly. */
static void test_recover_mismatch(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources wrong, more = res_parse(AGENT_RES ";gpus:1");
	struct resources part = res_parse("cpus:0.5;ports:[31000-31000]");

	(void)state;
	agent_add_text(a, "S1", AGENT_RES);
	fw_add1(a, "F", "r");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	resources_copy(&wrong, &rec.v[0].res);
	resources_set_alloc_role(&wrong, "q");
	resources_set_alloc_role(&more, "r");
	alloc_recover(a, "S1", "F", &wrong, 0, 0);
	alloc_recover(a, "S1", "F", &more, 0, 0);
	assert_true(alloc_framework_share(a, "F") == 1.0);
	assert_int_equal(alloc_run(a, 0, true, rec_cb, &rec), 0);
	alloc_recover(a, "S1", "F", &part, 0, 0);
	/* still all the memory: the dominant share does not move */
	assert_true(alloc_framework_share(a, "F") == 1.0);
	resources_release(&wrong);
	resources_init(&wrong);
	alloc_role_allocated(a, "r", &wrong);
	assert_int_equal(resources_scalar(&wrong, "cpus"), 1500);
	assert_int_equal(resources_scalar(&wrong, "mem"), 1024000);
	rec_reset(&rec);
	assert_int_equal(alloc_run(a, 0, false, rec_cb, &rec), 1);
	resources_set_alloc_role(&part, "r");
	assert_true(resources_contains(&rec.v[0].res, &part));
	assert_true(resources_contains(&part, &rec.v[0].res));
	resources_release(&wrong);
	resources_release(&more);
	resources_release(&part);
	rec_release(&rec);
	alloc_free(a);
}

/* 0.1 cpus ten times fills exactly 1 cpu: no float drift. */
static void test_exact_arithmetic(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	struct resources tenth = res_parse("cpus:0.1");
	int i;

	(void)state;
	agent_add_text(a, "S1", "cpus:1;mem:1000");
	fw_add1(a, "F", "r");
	for (i = 0; i < 10; i++)
		assert_int_equal(alloc_used_add(a, "S1", "F", &tenth), 0);
	assert_int_equal(alloc_used_add(a, "S1", "F", &tenth), -EINVAL);
	assert_true(alloc_framework_share(a, "F") == 1.0);
	for (i = 0; i < 10; i++)
		alloc_recover(a, "S1", "F", &tenth, 0, 0);
	assert_true(alloc_framework_share(a, "F") == 0);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec.n, 1);
	assert_int_equal(resources_scalar(&rec.v[0].res, "cpus"), 1000);
	assert_int_equal(resources_scalar(&rec.v[0].res, "mem"), 1000000);
	resources_release(&tenth);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- callbacks that re-enter ------------------------------------------------
 */

struct reenter {
	struct alloc *a;
	struct recorder rec;
	size_t calls;
};

/* Removes framework B at the first callback and gives back A's offers at
 * once (as the master does for a party that went away). */
static void reenter_cb(const char *fw, const char *agent, const char *role,
                       struct resources *res, void *arg)
{
	struct reenter *r = arg;

	if (r->calls++ == 0)
		alloc_framework_remove(r->a, "B");
	assert_string_not_equal(fw, "B");
	alloc_recover(r->a, agent, fw, res, 0, 0);
	rec_cb(fw, agent, role, res, &r->rec);
}

static void test_reentrant_callbacks(void **state)
{
	struct reenter r = {alloc_new(NULL), {0}, 0};

	(void)state;
	agents_add(r.a, 4, AGENT_RES);
	fw_add1(r.a, "A", "r");
	fw_add1(r.a, "B", "r");
	/* A and B get two each; B's are dropped after it is removed. */
	assert_int_equal(alloc_run(r.a, 0, true, reenter_cb, &r), 2);
	assert_int_equal(rec_count(&r.rec, "A", NULL), 2);
	rec_reset(&r.rec);
	/* All four agents are free again and go to A. */
	assert_int_equal(alloc_run(r.a, 0, false, rec_cb, &r.rec), 4);
	rec_release(&r.rec);
	alloc_free(r.a);
}

/* Same input, same output: the pass is deterministic. */
static void test_deterministic(void **state)
{
	struct recorder rec[2] = {{0}, {0}};

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct alloc *a = alloc_new(NULL);
		agents_add(a, 50, AGENT_RES);
		fw_add1(a, "A", "x/a");
		fw_add1(a, "B", "x/b");
		fw_add1(a, "C", "y");
		alloc_set_weight(a, "y", 1.5);
		alloc_run(a, 0, true, rec_cb, &rec[k]);
		for (size_t i = 0; i < rec[k].n; i += 3)
			rec_decline(a, &rec[k].v[i], 1, 0);
		alloc_run(a, 0, true, rec_cb, &rec[k]);
		alloc_free(a);
	}
	assert_int_equal(rec[0].n, rec[1].n);
	for (size_t i = 0; i < rec[0].n; i++) {
		assert_string_equal(rec[0].v[i].fw, rec[1].v[i].fw);
		assert_string_equal(rec[0].v[i].agent, rec[1].v[i].agent);
	}
	rec_release(&rec[0]);
	rec_release(&rec[1]);
}

/* Re-adding a framework updates its roles. */
static void test_framework_update_roles(void **state)
{
	struct alloc *a = alloc_new(NULL);
	struct recorder rec = {0};
	const char *bad[] = {"", "a//b", "/x", NULL, "ok"};

	(void)state;
	agents_add(a, 2, AGENT_RES);
	fw_add1(a, "A", "old");
	fw_add1(a, "A", "new");
	alloc_run(a, 0, true, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "A", "new"), 2);
	/* invalid names are skipped */
	alloc_framework_add(a, "B", bad, ARRAY_SIZE(bad), true);
	for (size_t i = 0; i < rec.n; i++)
		rec_decline(a, &rec.v[i], 0, 0);
	rec_reset(&rec);
	alloc_run(a, 0, false, rec_cb, &rec);
	assert_int_equal(rec_count(&rec, "B", "ok"), 1);
	assert_int_equal(rec_count(&rec, "A", "new"), 1);
	rec_release(&rec);
	alloc_free(a);
}

/* ---- the treap -------------------------------------------------------------
 */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* In order, heap ordered, parents consistent; returns the count. */
static size_t sorter_check(const struct alloc_sorter_node *n,
                           const struct alloc_sorter_node *parent)
{
	if (!n)
		return 0;
	assert_ptr_equal(n->parent, parent);
	if (parent)
		assert_true(parent->prio >= n->prio);
	if (n->left)
		assert_true(alloc_sorter_cmp(n->left, n) < 0);
	if (n->right)
		assert_true(alloc_sorter_cmp(n, n->right) < 0);
	return 1 + sorter_check(n->left, n) + sorter_check(n->right, n);
}

static int node_ptr_cmp(const void *x, const void *y)
{
	return alloc_sorter_cmp(*(struct alloc_sorter_node *const *)x,
	                        *(struct alloc_sorter_node *const *)y);
}

static void test_sorter_random(void **state)
{
	enum { N = 300, OPS = 20000 };
	struct alloc_sorter_node nodes[N], *ref[N];
	char names[N][8];
	bool in[N] = {false};
	struct alloc_sorter s;
	uint64_t rng = 88172645463325252ull;

	(void)state;
	alloc_sorter_init(&s);
	assert_null(alloc_sorter_first(&s));
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%zu", i);
		alloc_sorter_node_init(&nodes[i], names[i]);
	}
	for (size_t op = 0; op < OPS; op++) {
		size_t i = rng_next(&rng) % N;
		double key = (double)(rng_next(&rng) % 16) / 8.0;
		if (!in[i]) {
			nodes[i].key = key;
			alloc_sorter_insert(&s, &nodes[i]);
			in[i] = true;
		} else if (rng_next(&rng) % 3 == 0) {
			alloc_sorter_remove(&s, &nodes[i]);
			in[i] = false;
		} else {
			alloc_sorter_update(&s, &nodes[i], key);
		}
		if (op % 97 != 0 && op != OPS - 1)
			continue;
		size_t n = 0;
		for (size_t k = 0; k < N; k++)
			if (in[k])
				ref[n++] = &nodes[k];
		qsort(ref, n, sizeof(ref[0]), node_ptr_cmp);
		assert_int_equal(sorter_check(s.root, NULL), n);
		assert_int_equal(s.count, n);
		size_t k = 0;
		for (struct alloc_sorter_node *p = alloc_sorter_first(&s); p;
		     p = alloc_sorter_next(p))
			assert_ptr_equal(p, ref[k++]);
		assert_int_equal(k, n);
	}
}

/* Expected depth stays logarithmic with names like the allocator's. */
static void test_sorter_depth(void **state)
{
	enum { N = 4096 };
	struct alloc_sorter_node *nodes = xcalloc(N, sizeof(*nodes));
	char(*names)[16] = xcalloc(N, sizeof(*names));
	struct alloc_sorter s;
	size_t maxd = 0;

	(void)state;
	alloc_sorter_init(&s);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "fw-%04zu", i);
		alloc_sorter_node_init(&nodes[i], names[i]);
		alloc_sorter_insert(&s, &nodes[i]); /* all keys equal */
	}
	for (size_t i = 0; i < N; i++) {
		size_t d = 0;
		for (struct alloc_sorter_node *p = &nodes[i]; p; p = p->parent)
			d++;
		maxd = MAX(maxd, d);
	}
	assert_true(maxd < 40); /* ~ 3 log2(N) */
	free(nodes);
	free(names);
}

/* ---- the pointer table
 * --------------------------------------------------------- */

static void test_ptab_random(void **state)
{
	enum { N = 2000, OPS = 50000 };
	static char objs[N];
	static void *ref[64][N / 64 + 1];
	struct alloc_ptab t;
	uint64_t rng = 0x2545f4914f6cdd1dull;
	size_t count = 0;

	(void)state;
	alloc_ptab_init(&t);
	assert_null(alloc_ptab_get(&t, &objs[0], &objs[1]));
	alloc_ptab_del(&t, &objs[0], &objs[1]);
	memset(ref, 0, sizeof(ref));
	for (size_t op = 0; op < OPS; op++) {
		size_t x = rng_next(&rng) % 64, y = rng_next(&rng) % (N / 64);
		const void *ka = &objs[x], *kb = &objs[64 + y];
		if (ref[x][y]) {
			assert_ptr_equal(alloc_ptab_get(&t, ka, kb), ref[x][y]);
			alloc_ptab_del(&t, ka, kb);
			ref[x][y] = NULL;
			count--;
		} else {
			assert_null(alloc_ptab_get(&t, ka, kb));
			ref[x][y] = &objs[op % N];
			alloc_ptab_put(&t, ka, kb, ref[x][y]);
			count++;
		}
		assert_int_equal(t.count, count);
	}
	for (size_t x = 0; x < 64; x++)
		for (size_t y = 0; y < N / 64; y++)
			assert_ptr_equal(
			    alloc_ptab_get(&t, &objs[x], &objs[64 + y]),
			    ref[x][y]);
	alloc_ptab_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fair_splits),
	    cmocka_unit_test(test_weights_and_shares),
	    cmocka_unit_test(test_drf_paper_example),
	    cmocka_unit_test(test_dominant_resource),
	    cmocka_unit_test(test_reservations_table),
	    cmocka_unit_test(test_reserved_split_offer),
	    cmocka_unit_test(test_reserved_waits_for_role),
	    cmocka_unit_test(test_min_allocatable),
	    cmocka_unit_test(test_filters),
	    cmocka_unit_test(test_refuse_seconds),
	    cmocka_unit_test(test_filter_per_role),
	    cmocka_unit_test(test_filter_scenarios),
	    cmocka_unit_test(test_suppress_revive),
	    cmocka_unit_test(test_suppress_one_role),
	    cmocka_unit_test(test_inactive_framework),
	    cmocka_unit_test(test_inactive_agent),
	    cmocka_unit_test(test_incremental_visits_dirty_only),
	    cmocka_unit_test(test_framework_remove_returns),
	    cmocka_unit_test(test_agent_remove),
	    cmocka_unit_test(test_used_add_table),
	    cmocka_unit_test(test_used_add_reduces_offer),
	    cmocka_unit_test(test_recover_mismatch),
	    cmocka_unit_test(test_exact_arithmetic),
	    cmocka_unit_test(test_reentrant_callbacks),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_framework_update_roles),
	    cmocka_unit_test(test_sorter_random),
	    cmocka_unit_test(test_sorter_depth),
	    cmocka_unit_test(test_ptab_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
