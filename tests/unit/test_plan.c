/*
 * test_plan.c: deployment planning. Tables for the dependency layers
 * (groups, prefixes, cycles with their messages), exact rolling-upgrade
 * decisions and the backoff curve; a simulation drives whole rolling
 * upgrades over many strategies and checks the capacity and health bounds
 * at every tick against limits computed here in integer arithmetic.
 */
#include "lib/compat.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "lib/err.h"
#include "services/plan.h"

/* ---- plan_layers: table ------------------------------------------------ */

#define MAX_NODES 8
#define MAX_DEPS 4

/*
 * A node is written "id dep dep ...", separated by single spaces. want[i]
 * is the layer of node i; want_err, when set, is the exact error text and
 * the result must be -ELOOP.
 */
struct layer_case {
	const char *name;
	const char *spec[MAX_NODES];
	size_t want[MAX_NODES];
	size_t want_nlayers;
	const char *want_err;
};

static const struct layer_case layer_cases[] = {
    {"empty", {NULL}, {0}, 0, NULL},
    {"slide_product",
     {"/product/database/mongo", "/product/database/mysql",
      "/product/service/rails /product/database",
      "/product/service/play /product/database"},
     {0, 0, 1, 1},
     2,
     NULL},
    {"chain", {"/c /b", "/b /a", "/a"}, {2, 1, 0}, 3, NULL},
    {"diamond", {"/d /b /c", "/b /a", "/c /a", "/a"}, {2, 1, 1, 0}, 3, NULL},
    {"longest_path_wins", {"/d /a /b", "/b /a", "/a"}, {2, 1, 0}, 3, NULL},
    {"independent", {"/x", "/y", "/z"}, {0, 0, 0}, 1, NULL},
    {"outside_deps_ignored",
     {"/x /gone /also/gone", "/y /x /gone"},
     {0, 1},
     2,
     NULL},
    {"group_prefix_not_sibling",
     {"/a/db", "/a-b/web /ab/svc", "/ab/svc /a/db", "/a.c", "/x /a"},
     {0, 2, 1, 0, 1},
     3,
     NULL},
    {"group_and_exact_id",
     {"/a", "/a/b /c", "/c", "/z /a/"},
     {0, 1, 0, 2},
     3,
     NULL},
    {"duplicate_deps", {"/b /a /a /a/", "/a"}, {1, 0}, 2, NULL},
    {"self", {"/a /a"}, {0}, 0, "dependency cycle: /a -> /a"},
    {"self_through_group",
     {"/g/a /g", "/g/b"},
     {0},
     0,
     "dependency cycle: /g/a -> /g/a"},
    {"root_covers_self", {"/x /"}, {0}, 0, "dependency cycle: /x -> /x"},
    {"two", {"/a /b", "/b /a"}, {0}, 0, "dependency cycle: /a -> /b -> /a"},
    {"three",
     {"/a /b", "/b /c", "/c /a"},
     {0},
     0,
     "dependency cycle: /a -> /b -> /c -> /a"},
    {"cycle_below_acyclic_start",
     {"/start /b", "/a", "/b /c", "/c /a /b"},
     {0},
     0,
     "dependency cycle: /b -> /c -> /b"},
    {"cycle_through_groups",
     {"/db/m /svc", "/svc/a /db", "/svc/b"},
     {0},
     0,
     "dependency cycle: /db/m -> /svc/a -> /db/m"},
};

/* The nodes of a spec; all strings owned here. */
struct layer_input {
	struct plan_node nodes[MAX_NODES];
	char *id[MAX_NODES];
	char *dep[MAX_NODES][MAX_DEPS];
	const char *dep_ptr[MAX_NODES][MAX_DEPS];
	size_t n;
};

static void layer_input_parse(struct layer_input *in, const char *const *spec)
{
	memset(in, 0, sizeof(*in));
	for (; in->n < MAX_NODES && spec[in->n]; in->n++) {
		size_t i = in->n, nd = 0;
		const char *p = spec[i], *sp = strchr(p, ' ');

		in->id[i] = sp ? xstrndup(p, (size_t)(sp - p)) : xstrdup(p);
		while (sp) {
			p = sp + 1;
			sp = strchr(p, ' ');
			assert_true(nd < MAX_DEPS);
			in->dep[i][nd] =
			    sp ? xstrndup(p, (size_t)(sp - p)) : xstrdup(p);
			in->dep_ptr[i][nd] = in->dep[i][nd];
			nd++;
		}
		in->nodes[i].id = in->id[i];
		in->nodes[i].deps = in->dep_ptr[i];
		in->nodes[i].ndeps = nd;
	}
}

static void layer_input_release(struct layer_input *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->id[i]);
		for (size_t j = 0; j < MAX_DEPS; j++)
			free(in->dep[i][j]);
	}
}

static void test_layers_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(layer_cases); c++) {
		const struct layer_case *tc = &layer_cases[c];
		struct layer_input in;
		size_t layer[MAX_NODES], nlayers = 99;
		struct err e = {{0}};
		int rc;

		layer_input_parse(&in, tc->spec);
		rc = plan_layers(in.nodes, in.n, layer, &nlayers, &e);
		if (tc->want_err) {
			if (rc != -ELOOP || strcmp(e.msg, tc->want_err) != 0)
				fail_msg("%s: rc %d msg '%s'", tc->name, rc,
				         e.msg);
		} else {
			if (rc != 0)
				fail_msg("%s: rc %d msg '%s'", tc->name, rc,
				         e.msg);
			if (nlayers != tc->want_nlayers)
				fail_msg("%s: nlayers %zu, want %zu", tc->name,
				         nlayers, tc->want_nlayers);
			for (size_t i = 0; i < in.n; i++)
				if (layer[i] != tc->want[i])
					fail_msg("%s: %s layer %zu, want %zu",
					         tc->name, in.id[i], layer[i],
					         tc->want[i]);
		}
		layer_input_release(&in);
	}
}

static void test_layers_missing_id(void **state)
{
	const char *deps[] = {"/a"};
	struct plan_node nodes[] = {{"/a", NULL, 0}, {NULL, deps, 1}};
	size_t layer[2], nlayers = 7;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(plan_layers(nodes, 2, layer, &nlayers, &e), -EINVAL);
	assert_string_equal(e.msg, "nodes[1].id: missing");
	assert_int_equal(nlayers, 0);
}

/* A chain of n nodes; node i needs node i + 1 (the last needs nothing). */
struct chain {
	struct plan_node *nodes;
	char **id;
	const char **dep;
	size_t *layer;
	size_t n;
};

static void chain_init(struct chain *ch, size_t n, bool closed)
{
	ch->n = n;
	ch->nodes = xcalloc(n, sizeof(*ch->nodes));
	ch->id = xcalloc(n, sizeof(*ch->id));
	ch->dep = xcalloc(n, sizeof(*ch->dep));
	ch->layer = xcalloc(n, sizeof(*ch->layer));
	for (size_t i = 0; i < n; i++)
		ch->id[i] = xasprintf("/chain/n%06zu", i);
	for (size_t i = 0; i < n; i++) {
		ch->nodes[i].id = ch->id[i];
		if (i + 1 < n || closed) {
			ch->dep[i] = ch->id[(i + 1) % n];
			ch->nodes[i].deps = &ch->dep[i];
			ch->nodes[i].ndeps = 1;
		}
	}
}

static void chain_release(struct chain *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		free(ch->id[i]);
	free(ch->id);
	free(ch->dep);
	free(ch->nodes);
	free(ch->layer);
}

static void test_layers_long_chain(void **state)
{
	static const size_t sizes[] = {1000, 100000};
	struct err e = {{0}};

	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		struct chain ch;
		size_t nlayers = 0;

		chain_init(&ch, sizes[s], false);
		assert_int_equal(
		    plan_layers(ch.nodes, ch.n, ch.layer, &nlayers, &e), 0);
		assert_int_equal(nlayers, ch.n);
		for (size_t i = 0; i < ch.n; i++)
			if (ch.layer[i] != ch.n - 1 - i)
				fail_msg("chain %zu: node %zu layer %zu", ch.n,
				         i, ch.layer[i]);
		chain_release(&ch);
	}
}

static void test_layers_long_cycle(void **state)
{
	struct chain ch;
	struct err e = {{0}};
	size_t nlayers = 5;

	(void)state;
	chain_init(&ch, 1000, true);
	assert_int_equal(plan_layers(ch.nodes, ch.n, ch.layer, &nlayers, &e),
	                 -ELOOP);
	/* The message is cut to the err buffer but starts in cycle order. */
	assert_ptr_equal(strstr(e.msg, "dependency cycle: /chain/n000000 -> "
	                               "/chain/n000001 -> /chain/n000002"),
	                 e.msg);
	assert_true(strlen(e.msg) < sizeof(e.msg));
	chain_release(&ch);
}

/* ---- plan_rolling_next: exact rows ------------------------------------- */

struct rolling_case {
	const char *name;
	struct plan_rolling_state s;
	struct plan_rolling_action want;
};

/* instances, m, o, resident, old alive/healthy/killing, new alive/ready */
static const struct rolling_case rolling_cases[] = {
    {"m1_o1_start_all_new", {3, 1, 1, false, 3, 3, 0, 0, 0}, {3, 0, false}},
    {"m1_o1_wait_ready", {3, 1, 1, false, 3, 3, 0, 3, 0}, {0, 0, false}},
    {"m1_o1_kill_per_ready", {3, 1, 1, false, 3, 3, 0, 3, 2}, {0, 2, false}},
    {"m1_o1_kill_after_ready", {3, 1, 1, false, 3, 3, 0, 3, 3}, {0, 3, false}},
    {"m1_o1_killing_pending", {3, 1, 1, false, 3, 3, 3, 3, 3}, {0, 0, false}},
    {"m0_o0_kill_all_old", {3, 0, 0, false, 3, 3, 0, 0, 0}, {0, 3, false}},
    {"m0_o1_kill_and_start", {3, 0, 1, false, 3, 3, 0, 0, 0}, {3, 3, false}},
    {"half_half", {4, 0.5, 0.5, false, 4, 4, 0, 0, 0}, {2, 2, false}},
    {"half_half_next", {4, 0.5, 0.5, false, 4, 4, 2, 2, 2}, {0, 2, false}},
    {"half_half_new_not_ready",
     {4, 0.5, 0.5, false, 4, 4, 2, 2, 0},
     {0, 0, false}},
    {"half_half_after_kill",
     {4, 0.5, 0.5, false, 2, 2, 0, 2, 2},
     {2, 2, false}},
    {"escape_over_capacity", {3, 1, 0, false, 3, 3, 0, 0, 0}, {1, 0, false}},
    {"escape_resident_kills", {3, 1, 0, true, 3, 3, 0, 0, 0}, {0, 1, false}},
    {"escape_waits_for_ready", {3, 1, 0, false, 3, 3, 0, 1, 0}, {0, 0, false}},
    {"escape_then_kill", {3, 1, 0, false, 3, 3, 0, 1, 1}, {0, 1, false}},
    {"escape_waits_for_kill", {3, 1, 0, false, 3, 3, 1, 1, 1}, {0, 0, false}},
    /* The killing task may be the unhealthy one: keep both others. */
    {"killing_task_maybe_unhealthy",
     {3, 1, 0, false, 3, 2, 1, 0, 0},
     {0, 0, false}},
    {"resident_refills", {3, 1, 0, true, 2, 2, 0, 0, 0}, {1, 0, false}},
    {"escape_when_bounds_round_equal",
     {1, 0.5, 0.2, false, 1, 1, 0, 0, 0},
     {1, 0, false}},
    {"unhealthy_old_always_killed",
     {3, 1, 0, false, 3, 1, 0, 0, 0},
     {0, 2, false}},
    {"unhealthy_old_killed_below_min",
     {4, 1, 1, false, 3, 1, 0, 0, 0},
     {4, 2, false}},
    /* 10 * 0.7 is 7.000000000000001 in doubles: still 7 healthy. */
    {"ratio_rounding", {10, 0.7, 0, false, 10, 10, 0, 0, 0}, {0, 3, false}},
    {"scale_up", {5, 1, 0.2, false, 2, 2, 0, 0, 0}, {4, 0, false}},
    {"scale_down_kills_extra", {2, 1, 0, false, 6, 6, 0, 0, 0}, {0, 4, false}},
    {"scale_to_zero", {0, 1, 1, false, 4, 4, 0, 0, 0}, {0, 4, false}},
    {"no_old_start_missing", {3, 1, 0, false, 0, 0, 0, 1, 0}, {2, 0, false}},
    {"no_old_ignores_capacity", {5, 1, 0, true, 0, 0, 0, 0, 0}, {5, 0, false}},
    {"no_old_waits_ready", {3, 1, 0, false, 0, 0, 0, 3, 2}, {0, 0, false}},
    {"done", {3, 1, 0, false, 0, 0, 0, 3, 3}, {0, 0, true}},
    {"done_with_extra_new", {3, 1, 0, false, 0, 0, 0, 4, 4}, {0, 0, true}},
    {"done_zero", {0, 1, 0, false, 0, 0, 0, 0, 0}, {0, 0, true}},
    {"new_enough_kill_rest", {3, 1, 0, false, 1, 1, 0, 3, 3}, {0, 1, false}},
    {"negative_counts", {-2, 1, 1, false, -5, -5, -1, -3, -9}, {0, 0, true}},
    {"inconsistent_counts", {3, 1, 1, false, 2, 9, 7, 1, 4}, {2, 0, false}},
    {"bad_ratios_clamped", {4, 7, -3, false, 4, 4, 0, 0, 0}, {1, 0, false}},
    {"nan_ratios_read_zero",
     {2, NAN, NAN, false, 2, 2, 0, 0, 0},
     {0, 2, false}},
    {"huge_counts",
     {INT_MAX, 1, 1, false, INT_MAX, INT_MAX, 0, 0, 0},
     {INT_MAX, 0, false}},
};

static void test_rolling_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(rolling_cases); c++) {
		const struct rolling_case *tc = &rolling_cases[c];
		struct plan_rolling_action a, b;

		memset(&a, 0x55, sizeof(a));
		plan_rolling_next(&tc->s, &a);
		if (a.start_new != tc->want.start_new ||
		    a.kill_old != tc->want.kill_old || a.done != tc->want.done)
			fail_msg("%s: got start %d kill %d done %d, want "
			         "start %d kill %d done %d",
			         tc->name, a.start_new, a.kill_old, a.done,
			         tc->want.start_new, tc->want.kill_old,
			         tc->want.done);
		plan_rolling_next(&tc->s, &b); /* same state, same answer */
		assert_int_equal(a.start_new, b.start_new);
		assert_int_equal(a.kill_old, b.kill_old);
	}
}

/* ---- plan_rolling_next: simulation ------------------------------------- */

#define SIM_TASKS 64

/*
 * A cluster of one app under upgrade. Old tasks may start unhealthy and
 * stay so; a killed task disappears kill_delay ticks later; a new task is
 * ready ready_delay ticks after its start. Ratios are percents so the
 * bounds here are computed without floating point.
 */
struct sim {
	int n, m_pct, o_pct;
	bool resident;
	int ready_delay, kill_delay;
	int nold;
	struct {
		bool healthy, gone;
		int killed_at; /* -1: not being killed */
	} old[SIM_TASKS];
	int nnew;
	int started_at[SIM_TASKS];
};

struct sim_count {
	int old_alive, old_healthy, old_killing, new_alive, new_ready;
	int healthy; /* old healthy not being killed + new ready */
	int alive;
};

static void sim_count(const struct sim *sim, int now, struct sim_count *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < sim->nold; i++) {
		if (sim->old[i].gone)
			continue;
		c->old_alive++;
		if (sim->old[i].healthy)
			c->old_healthy++;
		if (sim->old[i].killed_at >= 0)
			c->old_killing++;
		else if (sim->old[i].healthy)
			c->healthy++;
	}
	c->new_alive = sim->nnew;
	for (int i = 0; i < sim->nnew; i++)
		if (now - sim->started_at[i] >= sim->ready_delay)
			c->new_ready++;
	c->healthy += c->new_ready;
	c->alive = c->old_alive + c->new_alive;
}

/* Kills k old tasks not yet being killed, unhealthy ones first. */
static void sim_kill(struct sim *sim, int now, int k)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < sim->nold && k > 0; i++)
			if (!sim->old[i].gone && sim->old[i].killed_at < 0 &&
			    sim->old[i].healthy == (pass == 1)) {
				sim->old[i].killed_at = now;
				k--;
			}
	assert_int_equal(k, 0);
}

#define SIM_FAIL(sim, now, ...)                                                \
	do {                                                                   \
		print_error("sim n=%d m=%d%% o=%d%% resident=%d old=%d "       \
		            "delays=%d/%d tick %d: ",                          \
		            (sim)->n, (sim)->m_pct, (sim)->o_pct,              \
		            (sim)->resident, (sim)->nold, (sim)->ready_delay,  \
		            (sim)->kill_delay, (now));                         \
		fail_msg(__VA_ARGS__);                                         \
	} while (0)

/* Runs one upgrade to the end; returns the number of ticks it took. */
static int sim_run(struct sim *sim)
{
	int min_healthy = (sim->n * sim->m_pct + 99) / 100;
	int max_alive = sim->n * (100 + sim->o_pct) / 100;
	bool tight = min_healthy == max_alive;
	int over = tight && !sim->resident ? 1 : 0;
	int under = tight && sim->resident ? 1 : 0;
	int limit =
	    (sim->nold + sim->n + 2) * (sim->ready_delay + sim->kill_delay + 2);
	struct plan_rolling_state s = {
	    .instances = sim->n,
	    .min_health_capacity = sim->m_pct / 100.0,
	    .max_over_capacity = sim->o_pct / 100.0,
	    .resident = sim->resident,
	};

	for (int now = 0; now <= limit; now++) {
		struct plan_rolling_action a;
		struct sim_count before, after;
		bool settled;

		for (int i = 0; i < sim->nold; i++)
			if (sim->old[i].killed_at >= 0 &&
			    now - sim->old[i].killed_at >= sim->kill_delay)
				sim->old[i].gone = true;
		sim_count(sim, now, &before);
		s.old_alive = before.old_alive;
		s.old_healthy = before.old_healthy;
		s.old_killing = before.old_killing;
		s.new_alive = before.new_alive;
		s.new_ready = before.new_ready;
		plan_rolling_next(&s, &a);

		if (a.start_new < 0 || a.kill_old < 0 ||
		    a.kill_old > before.old_alive - before.old_killing)
			SIM_FAIL(sim, now, "bad action start %d kill %d",
			         a.start_new, a.kill_old);
		if (before.new_alive + a.start_new > sim->n)
			SIM_FAIL(sim, now, "starts %d beyond %d new",
			         a.start_new, sim->n);
		if (a.done !=
		    (before.old_alive == 0 && before.new_ready >= sim->n))
			SIM_FAIL(sim, now, "done %d wrong", a.done);
		if (a.done) {
			if (a.start_new || a.kill_old)
				SIM_FAIL(sim, now, "acts when done");
			return now;
		}
		settled = before.old_killing == 0 &&
		          before.new_ready == before.new_alive;
		if (settled && a.start_new == 0 && a.kill_old == 0)
			SIM_FAIL(sim, now, "deadlock");

		sim_kill(sim, now, a.kill_old);
		for (int i = 0; i < a.start_new; i++) {
			assert_true(sim->nnew < SIM_TASKS);
			sim->started_at[sim->nnew++] = now;
		}
		sim_count(sim, now, &after);
		if (after.alive > MAX(before.alive, max_alive + over))
			SIM_FAIL(sim, now, "alive %d > %d + %d", after.alive,
			         max_alive, over);
		if (after.healthy < MIN(before.healthy, min_healthy - under))
			SIM_FAIL(sim, now, "healthy %d < %d - %d (was %d)",
			         after.healthy, min_healthy, under,
			         before.healthy);
	}
	SIM_FAIL(sim, limit, "not done within %d ticks", limit);
	return -1;
}

/* Takes the next digit of a mixed-radix combination number. */
static int sim_digit(int *combo, int radix)
{
	int d = *combo % radix;

	*combo /= radix;
	return d;
}

/*
 * Every combination of instances, m, o, resident, old task count (none,
 * one, as many as new, more than twice as many), old health (all healthy,
 * the first sick, all sick) and delays (1 or 2 ticks to be ready, 1 or 2
 * to disappear once killed).
 */
static void test_rolling_simulation(void **state)
{
	static const int ns[] = {1, 2, 3, 5, 10};
	static const int ms[] = {0, 50, 80, 100};
	static const int os[] = {0, 20, 50, 100};
	static const int old_mul[] = {0, 0, 1, 2}, old_add[] = {0, 1, 0, 1};
	int ncombo = 5 * 4 * 4 * 2 * 4 * 3 * 2 * 2, tight = 0;

	(void)state;
	for (int c = 0; c < ncombo; c++) {
		struct sim sim;
		int combo = c, oldk, sick;

		memset(&sim, 0, sizeof(sim));
		sim.n = ns[sim_digit(&combo, ARRAY_SIZE(ns))];
		sim.m_pct = ms[sim_digit(&combo, ARRAY_SIZE(ms))];
		sim.o_pct = os[sim_digit(&combo, ARRAY_SIZE(os))];
		sim.resident = sim_digit(&combo, 2);
		oldk = sim_digit(&combo, 4);
		sick = sim_digit(&combo, 3);
		sim.ready_delay = 1 + sim_digit(&combo, 2);
		sim.kill_delay = 1 + sim_digit(&combo, 2);
		assert_int_equal(combo, 0);

		sim.nold = old_mul[oldk] * sim.n + old_add[oldk];
		for (int i = 0; i < sim.nold; i++) {
			sim.old[i].healthy = sick == 0 || (sick == 1 && i > 0);
			sim.old[i].killed_at = -1;
		}
		assert_true(sim_run(&sim) >= 0);
		if ((sim.n * sim.m_pct + 99) / 100 ==
		    sim.n * (100 + sim.o_pct) / 100)
			tight++;
	}
	assert_true(tight > 0); /* the escape path was exercised */
}

/* m=1, o=1, 3 instances: the whole timeline, tick by tick. */
static void test_rolling_side_by_side_timeline(void **state)
{
	struct sim sim = {.n = 3,
	                  .m_pct = 100,
	                  .o_pct = 100,
	                  .ready_delay = 1,
	                  .kill_delay = 1,
	                  .nold = 3};

	(void)state;
	for (int i = 0; i < 3; i++) {
		sim.old[i].healthy = true;
		sim.old[i].killed_at = -1;
	}
	/* t0 start 3, t1 kill 3, t2 done. */
	assert_int_equal(sim_run(&sim), 2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sim.started_at[i], 0);
		assert_int_equal(sim.old[i].killed_at, 1);
	}
}

/* ---- plan_backoff_delay ------------------------------------------------ */

struct backoff_case {
	double backoff, factor, max;
	unsigned failures;
	double want;
};

static const struct backoff_case backoff_cases[] = {
    {1, 2, 3600, 0, 0},
    {1, 2, 3600, 1, 1},
    {1, 2, 3600, 2, 2},
    {1, 2, 3600, 3, 4},
    {1, 2, 3600, 10, 512},
    {1, 2, 3600, 12, 2048},
    {1, 2, 3600, 13, 3600},
    {1, 2, 3600, UINT_MAX, 3600},
    {1, 1.15, 3600, 2, 1.15},
    {1, 1.15, 3600, 3, 1.3225},
    {5, 1, 3600, 1000, 5},
    {5, 3, 100, 1, 5},
    {5, 3, 100, 3, 45},
    {5, 3, 100, 4, 100},
    {10, 2, 4, 1, 4},
    {0, 2, 3600, 5, 0},
    {1, 0.5, 3600, 5, 1},
    {1, NAN, 3600, 5, 1},
    {NAN, 2, 3600, 5, 0},
    {1, 2, -1, 5, 0},
    {1, INFINITY, 3600, 2, 3600},
};

static void test_backoff_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(backoff_cases); c++) {
		const struct backoff_case *tc = &backoff_cases[c];
		double got = plan_backoff_delay(tc->backoff, tc->factor,
		                                tc->max, tc->failures);

		if (!(fabs(got - tc->want) <= 1e-9 * fmax(1, tc->want)))
			fail_msg("row %zu: got %g, want %g", c, got, tc->want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layers_table),
	    cmocka_unit_test(test_layers_missing_id),
	    cmocka_unit_test(test_layers_long_chain),
	    cmocka_unit_test(test_layers_long_cycle),
	    cmocka_unit_test(test_rolling_table),
	    cmocka_unit_test(test_rolling_simulation),
	    cmocka_unit_test(test_rolling_side_by_side_timeline),
	    cmocka_unit_test(test_backoff_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
