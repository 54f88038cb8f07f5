/*
 * test_constraint.c: placement constraints. Tables of (constraints, agent,
 * placed instances) -> verdict for every operator and both syntaxes, the
 * missing-attribute rule, value formatting, GROUP_BY over sequences of
 * placements, the rails example of the slides placed greedily over
 * offers, dedicated hosts both ways, write/parse round trips, copies,
 * scale-down victims, and bad input with its messages.
 *
 * Agents are written "hostname attributes", e.g. "h1 rack:a;type:x"
 * (attributes in the agent --attributes text form; none after the host
 * means none at all).
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/resources.h"
#include "services/constraint.h"

/* ---- helpers ------------------------------------------------------- */

#define WORLD_MAX 64

/* Agents built from "host attrs" specs; the storage stays put. */
struct world {
	struct constraint_agent a[WORLD_MAX];
	struct attributes attrs[WORLD_MAX];
	char *hosts[WORLD_MAX];
	size_t n;
};

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
}

static void world_release(struct world *w)
{
	for (size_t i = 0; i < w->n; i++) {
		attributes_release(&w->attrs[i]);
		free(w->hosts[i]);
	}
	w->n = 0;
}

/* Adds the agent spec and returns its index. */
static size_t world_add(struct world *w, const char *spec)
{
	const char *sp = strchr(spec, ' ');
	struct err e = {{0}};
	size_t i = w->n++;

	assert_true(i < WORLD_MAX);
	w->hosts[i] = sp ? xstrndup(spec, (size_t)(sp - spec)) : xstrdup(spec);
	attributes_init(&w->attrs[i]);
	if (sp && attributes_parse_text(&w->attrs[i], sp + 1, &e)) {
		print_error("bad agent spec '%s': %s\n", spec, e.msg);
		fail();
	}
	w->a[i].hostname = w->hosts[i];
	w->a[i].attributes = &w->attrs[i];
	return i;
}

/* Parses JSON constraints that must be valid. */
static void parse_ok(struct constraint_set *cs, const char *json)
{
	json_error_t je;
	json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
	struct err e = {{0}};

	if (!v) {
		print_error("bad test JSON '%s': %s\n", json, je.text);
		fail();
	}
	constraint_set_init(cs);
	if (constraint_set_from_json(cs, v, NULL, &e)) {
		print_error("unexpected error for '%s': %s\n", json, e.msg);
		fail();
	}
	json_decref(v);
}

static char *write_json(const struct constraint_set *cs)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	constraint_set_write_json(&w, cs);
	return buf_detach(&b, NULL);
}

/* ---- value formatting ---------------------------------------------- */

struct value_case {
	const char *agent;
	const char *field;
	const char *want; /* NULL: missing */
};

static const struct value_case value_cases[] = {
    {"h1 rack:r1", "rack", "r1"},
    {"h1 rack:r1", "hostname", "h1"},
    {"h1 rack:r1", "@hostname", "h1"},
    {"h1", "hostname", "h1"},
    {"h1 rack:r1", "zone", NULL},
    {"h1", "rack", NULL},
    {"h1 w:2", "w", "2"},
    {"h1 w:0.8", "w", "0.8"},
    {"h1 w:0.80", "w", "0.8"},
    {"h1 w:0.8001", "w", "0.8"},
    {"h1 w:0.125", "w", "0.125"},
    {"h1 w:-1.25", "w", "-1.25"},
    {"h1 w:-0.5", "w", "-0.5"},
    {"h1 w:1000000", "w", "1000000"},
    {"h1 ports:[7-9,1-5]", "ports", "[1-5,7-9]"},
    {"h1 ports:[4-4]", "ports", "[4-4]"},
    {"h1 tags:{b,c,a}", "tags", "{a,b,c}"},
    {"h1 rack:a;rack:b", "rack", "a"},
};

static void test_agent_value_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(value_cases); i++) {
		const struct value_case *c = &value_cases[i];
		struct world w;
		char *got;

		world_init(&w);
		world_add(&w, c->agent);
		got = constraint_agent_value(&w.a[0], c->field);
		if (!c->want) {
			assert_null(got);
		} else {
			assert_non_null(got);
			if (strcmp(got, c->want))
				print_error("case %zu: got '%s' want '%s'\n", i,
				            got, c->want);
			assert_string_equal(got, c->want);
		}
		free(got);
		world_release(&w);
	}
}

/* A set attribute built by hand, unsorted, prints sorted; an agent
 * without any attribute table lacks every attribute. */
static void test_agent_value_unsorted_set(void **state)
{
	char zeta[] = "zeta", alpha[] = "alpha", mid[] = "mid", name[] = "tags";
	char *items[] = {zeta, alpha, mid};
	struct attribute at = {0};
	struct attributes as = {&at, 1, 1};
	struct constraint_agent a = {"h9", &as};
	struct constraint_agent bare = {"h8", NULL};
	char *got;

	(void)state;
	at.name = name;
	at.type = ATTRIBUTE_SET;
	at.items = items;
	at.nitems = ARRAY_SIZE(items);
	got = constraint_agent_value(&a, "tags");
	assert_string_equal(got, "{alpha,mid,zeta}");
	free(got);
	assert_string_equal(items[0], "zeta"); /* agent left untouched */
	assert_null(constraint_agent_value(&bare, "tags"));
	got = constraint_agent_value(&bare, "hostname");
	assert_string_equal(got, "h8");
	free(got);
}

/* ---- operator tables ----------------------------------------------- */

#define NO_FAIL ((size_t)-2)

struct check_case {
	const char *constraints;
	long instances;
	const char *agent;
	const char *placed[12]; /* NULL-terminated */
	bool ok;
	size_t failed; /* when !ok */
};

static const struct check_case check_cases[] = {
    /* no constraints */
    {"[]", 1, "h1 rack:a", {NULL}, true, 0},
    {"{}", 1, "h1", {"h1"}, true, 0},
    /* UNIQUE */
    {"[[\"hostname\",\"UNIQUE\"]]", 3, "h1", {"h2", "h3"}, true, 0},
    {"[[\"hostname\",\"UNIQUE\"]]", 3, "h1", {"h2", "h1"}, false, 0},
    {"[[\"@hostname\",\"UNIQUE\"]]", 3, "h1", {"h1"}, false, 0},
    {"[[\"rack\",\"UNIQUE\"]]", 3, "h1 rack:a", {"h2 rack:b"}, true, 0},
    {"[[\"rack\",\"UNIQUE\"]]", 3, "h1 rack:a", {"h2 rack:a"}, false, 0},
    {"[[\"rack\",\"UNIQUE\"]]", 3, "h1 rack:a", {"h2", "h3"}, true, 0},
    {"[[\"rack\",\"UNIQUE\"]]", 3, "h1", {NULL}, false, 0},
    {"[[\"w\",\"UNIQUE\"]]", 3, "h1 w:0.5", {"h2 w:0.50"}, false, 0},
    /* CLUSTER with a value */
    {"[[\"rack\",\"CLUSTER\",\"a\"]]", 3, "h1 rack:a", {NULL}, true, 0},
    {"[[\"rack\",\"CLUSTER\",\"a\"]]", 3, "h1 rack:b", {NULL}, false, 0},
    {"[[\"rack\",\"CLUSTER\",\"a\"]]", 3, "h1", {NULL}, false, 0},
    {"[[\"w\",\"CLUSTER\",\"0.80\"]]", 3, "h1 w:0.8", {NULL}, true, 0},
    {"[[\"hostname\",\"CLUSTER\",\"h2\"]]", 3, "h2", {NULL}, true, 0},
    {"[[\"hostname\",\"CLUSTER\",\"h2\"]]", 3, "h1", {NULL}, false, 0},
    /* CLUSTER without a value: follows the first placed instance */
    {"[[\"rack\",\"CLUSTER\"]]", 3, "h1 rack:b", {NULL}, true, 0},
    {"[[\"rack\",\"CLUSTER\"]]", 3, "h1", {NULL}, false, 0},
    {"[[\"rack\",\"CLUSTER\"]]", 3, "h1 rack:a", {"h2 rack:a"}, true, 0},
    {"[[\"rack\",\"CLUSTER\"]]", 3, "h1 rack:b", {"h2 rack:a"}, false, 0},
    {"[[\"rack\",\"CLUSTER\"]]", 3, "h1 rack:b", {"h2", "h3 rack:b"}, true, 0},
    {"[[\"rack\",\"CLUSTER\",\"\"]]", 3, "h1 rack:b", {"h2 rack:a"}, false, 0},
    /* GROUP_BY without a count: least loaded */
    {"[[\"rack\",\"GROUP_BY\"]]",
     9,
     "h1 rack:c",
     {"a rack:a", "b rack:a", "c rack:b"},
     true,
     0},
    {"[[\"rack\",\"GROUP_BY\"]]",
     9,
     "h1 rack:b",
     {"a rack:a", "b rack:a", "c rack:b"},
     true,
     0},
    {"[[\"rack\",\"GROUP_BY\"]]",
     9,
     "h1 rack:a",
     {"a rack:a", "b rack:a", "c rack:b"},
     false,
     0},
    {"[[\"rack\",\"GROUP_BY\"]]", 9, "h1 rack:a", {"a rack:a"}, true, 0},
    {"[[\"rack\",\"GROUP_BY\"]]", 9, "h1", {NULL}, false, 0},
    /* GROUP_BY 3 with 10 instances: quota 3, one value may take 4 */
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:a",
     {"1 rack:a", "2 rack:a", "3 rack:a"},
     true,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:a",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:a"},
     false,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:b",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:a", "5 rack:b", "6 rack:b",
      "7 rack:b"},
     false,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:c",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:a", "5 rack:b", "6 rack:b",
      "7 rack:b"},
     true,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:d",
     {"1 rack:a", "2 rack:b", "3 rack:c"},
     false,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     10,
     "h rack:d",
     {"1 rack:a", "2 rack:b"},
     true,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     2,
     "h rack:c",
     {"1 rack:a", "2 rack:b"},
     false,
     0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", 2, "h rack:a", {"1 rack:a"}, false, 0},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", 2, "h rack:b", {"1 rack:a"}, true, 0},
    {"[[\"rack\",\"GROUP_BY\",\"2\"]]", 4, "h", {NULL}, false, 0},
    /* MAX_PER */
    {"[[\"rack\",\"MAX_PER\",\"2\"]]", 9, "h rack:a", {"1 rack:a"}, true, 0},
    {"[[\"rack\",\"MAX_PER\",\"2\"]]",
     9,
     "h rack:a",
     {"1 rack:a", "2 rack:a"},
     false,
     0},
    {"[[\"rack\",\"MAX_PER\",\"2\"]]",
     9,
     "h rack:a",
     {"1 rack:a", "2 rack:b", "3 rack:b"},
     true,
     0},
    {"[[\"rack\",\"MAX_PER\",\"2\"]]", 9, "h", {NULL}, false, 0},
    {"[[\"hostname\",\"MAX_PER\",\"1\"]]", 9, "h", {"h"}, false, 0},
    /* LIKE / UNLIKE: full matches */
    {"[[\"rack\",\"LIKE\",\"r[0-9]+\"]]", 1, "h rack:r12", {NULL}, true, 0},
    {"[[\"rack\",\"LIKE\",\"r[0-9]+\"]]", 1, "h rack:r1x", {NULL}, false, 0},
    {"[[\"rack\",\"LIKE\",\"r[0-9]+\"]]", 1, "h rack:xr1", {NULL}, false, 0},
    {"[[\"rack\",\"LIKE\",\"r[0-9]+\"]]", 1, "h", {NULL}, false, 0},
    {"[[\"rack\",\"LIKE\",\"a)|(b\"]]", 1, "h rack:ax", {NULL}, false, 0},
    {"[[\"rack\",\"LIKE\",\"a)|(b\"]]", 1, "h rack:xb", {NULL}, false, 0},
    {"[[\"rack\",\"LIKE\",\"a)|(b\"]]", 1, "h rack:b", {NULL}, true, 0},
    {"[[\"rack\",\"LIKE\",\"a|b\"]]", 1, "h rack:a", {NULL}, true, 0},
    {"[[\"rack\",\"LIKE\",\"^a$\"]]", 1, "h rack:a", {NULL}, true, 0},
    {"[[\"hostname\",\"LIKE\",\"web-.*\"]]", 1, "web-3", {NULL}, true, 0},
    {"[[\"ports\",\"LIKE\",\"\\\\[1-5.*\"]]",
     1,
     "h ports:[1-5,8-9]",
     {NULL},
     true,
     0},
    {"[[\"tags\",\"LIKE\",\"\\\\{a,b\\\\}\"]]",
     1,
     "h tags:{b,a}",
     {NULL},
     true,
     0},
    {"[[\"w\",\"LIKE\",\"0\\\\.8\"]]", 1, "h w:0.80", {NULL}, true, 0},
    {"[[\"rack\",\"UNLIKE\",\"r[0-9]+\"]]", 1, "h rack:r12", {NULL}, false, 0},
    {"[[\"rack\",\"UNLIKE\",\"r[0-9]+\"]]", 1, "h rack:x", {NULL}, true, 0},
    {"[[\"rack\",\"UNLIKE\",\"r[0-9]+\"]]", 1, "h", {NULL}, true, 0},
    /* IS */
    {"[[\"rack\",\"IS\",\"a\"]]", 1, "h rack:a", {NULL}, true, 0},
    {"[[\"rack\",\"IS\",\"a\"]]", 1, "h rack:ab", {NULL}, false, 0},
    {"[[\"rack\",\"IS\",\"a\"]]", 1, "h", {NULL}, false, 0},
    {"[[\"w\",\"IS\",\"0.8\"]]", 1, "h w:0.80", {NULL}, true, 0},
    {"[[\"w\",\"IS\",\"0.80\"]]", 1, "h w:0.8", {NULL}, true, 0},
    {"[[\"w\",\"IS\",\"0.8001\"]]", 1, "h w:0.8", {NULL}, true, 0},
    {"[[\"w\",\"IS\",\"0.81\"]]", 1, "h w:0.8", {NULL}, false, 0},
    {"[[\"w\",\"IS\",\"2.0\"]]", 1, "h w:2", {NULL}, true, 0},
    {"[[\"w\",\"IS\",\"-0.5\"]]", 1, "h w:-0.5", {NULL}, true, 0},
    {"[[\"w\",\"IS\",\"0.8.1\"]]", 1, "h w:0.8", {NULL}, false, 0},
    {"[[\"hostname\",\"IS\",\"h1\"]]", 1, "h1", {NULL}, true, 0},
    {"[[\"zone\",\"IS\",\"eu/west-1\"]]",
     1,
     "h zone:eu/west-1",
     {NULL},
     true,
     0},
    /* several constraints: the first refusal is reported */
    {"[[\"hostname\",\"UNIQUE\"],[\"rack\",\"IS\",\"b\"]]",
     3,
     "h rack:a",
     {NULL},
     false,
     1},
    {"[[\"hostname\",\"UNIQUE\"],[\"rack\",\"IS\",\"b\"]]",
     3,
     "h rack:a",
     {"h rack:a"},
     false,
     0},
    {"[[\"hostname\",\"UNIQUE\"],[\"rack\",\"IS\",\"b\"]]",
     3,
     "h rack:b",
     {"g rack:b"},
     true,
     0},
    /* Aurora */
    {"{\"rack\":\"limit:2\"}", 9, "h rack:a", {"1 rack:a"}, true, 0},
    {"{\"rack\":\"limit:2\"}",
     9,
     "h rack:a",
     {"1 rack:a", "2 rack:a"},
     false,
     0},
    {"{\"rack\":\"limit:2\"}", 9, "h", {NULL}, false, 0},
    {"{\"host\":\"limit:1\"}", 9, "h1", {"h2"}, true, 0},
    {"{\"host\":\"limit:1\"}", 9, "h1", {"h1"}, false, 0},
    {"{\"zone\":\"a\"}", 1, "h zone:a", {NULL}, true, 0},
    {"{\"zone\":\"a\"}", 1, "h zone:b", {NULL}, false, 0},
    {"{\"zone\":\"a\"}", 1, "h", {NULL}, false, 0},
    {"{\"zone\":\"a,b\"}", 1, "h zone:b", {NULL}, true, 0},
    {"{\"zone\":\"a,b\"}", 1, "h zone:c", {NULL}, false, 0},
    {"{\"zone\":\"!a,b\"}", 1, "h zone:b", {NULL}, false, 0},
    {"{\"zone\":\"!a,b\"}", 1, "h zone:c", {NULL}, true, 0},
    {"{\"zone\":\"!a,b\"}", 1, "h", {NULL}, true, 0},
    {"{\"w\":\"1.50,3\"}", 1, "h w:1.5", {NULL}, true, 0},
    {"{\"rack\":\"limit:3\",\"host\":\"limit:1\"}",
     9,
     "h1 rack:a",
     {"h2 rack:a", "h3 rack:a"},
     true,
     0},
    {"{\"rack\":\"limit:3\",\"host\":\"limit:1\"}",
     9,
     "h1 rack:b",
     {"h1 rack:a"},
     false,
     1},
    /* dedicated hosts, both ways */
    {"[]", 1, "h dedicated:db/data", {NULL}, false, CONSTRAINT_DEDICATED_HOST},
    {"[[\"hostname\",\"UNIQUE\"]]",
     1,
     "h dedicated:db/data",
     {NULL},
     false,
     CONSTRAINT_DEDICATED_HOST},
    {"{\"dedicated\":\"db/data\"}", 1, "h dedicated:db/data", {NULL}, true, 0},
    {"{\"dedicated\":\"*/data\"}", 1, "h dedicated:db/data", {NULL}, true, 0},
    {"{\"dedicated\":\"*/other\"}", 1, "h dedicated:db/data", {NULL}, false, 0},
    {"{\"dedicated\":\"web/data\"}",
     1,
     "h dedicated:db/data",
     {NULL},
     false,
     0},
    {"{\"dedicated\":\"db/data\"}", 1, "h rack:a", {NULL}, false, 0},
    {"{\"rack\":\"a\",\"dedicated\":\"db/data\"}",
     1,
     "h rack:a;dedicated:db/x",
     {NULL},
     false,
     1},
    {"[[\"dedicated\",\"DEDICATED\",\"db/data\"]]",
     1,
     "h dedicated:db/data",
     {NULL},
     true,
     0},
    {"[[\"dedicated\",\"DEDICATED\",\"db/data\"]]", 1, "h", {NULL}, false, 0},
};

static void run_check_case(size_t i, const struct check_case *c)
{
	struct constraint_set cs;
	struct constraint_verdict v;
	struct world w;
	size_t agent, np = 0;

	world_init(&w);
	parse_ok(&cs, c->constraints);
	for (; c->placed[np]; np++)
		world_add(&w, c->placed[np]);
	agent = world_add(&w, c->agent);
	v = constraint_set_check(&cs, c->instances, &w.a[agent], w.a, np);
	if (v.ok != c->ok || (!c->ok && v.failed != c->failed)) {
		print_error("case %zu: %s on '%s' (%zu placed): got ok=%d "
		            "failed=%zu, want ok=%d failed=%zu\n",
		            i, c->constraints, c->agent, np, v.ok, v.failed,
		            c->ok, c->failed);
		fail();
	}
	constraint_set_release(&cs);
	world_release(&w);
}

static void test_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(check_cases); i++)
		run_check_case(i, &check_cases[i]);
}

/* ---- the missing-attribute rule ------------------------------------ */

struct missing_case {
	const char *constraints;
	bool accepts_missing;
};

/* Each operator on an attribute the agent lacks, and on the hostname,
 * which is never missing (each hostname form accepts host "h"). */
static const struct missing_case missing_cases[] = {
    {"[[\"f\",\"UNIQUE\"]]", false},
    {"[[\"f\",\"CLUSTER\"]]", false},
    {"[[\"f\",\"CLUSTER\",\"x\"]]", false},
    {"[[\"f\",\"GROUP_BY\"]]", false},
    {"[[\"f\",\"GROUP_BY\",\"2\"]]", false},
    {"[[\"f\",\"MAX_PER\",\"1\"]]", false},
    {"[[\"f\",\"LIKE\",\".*\"]]", false},
    {"[[\"f\",\"UNLIKE\",\".*\"]]", true},
    {"[[\"f\",\"IS\",\"x\"]]", false},
    {"{\"f\":\"limit:1\"}", false},
    {"{\"f\":\"x\"}", false},
    {"{\"f\":\"x,y\"}", false},
    {"{\"f\":\"!x\"}", true},
    {"{\"f\":\"!x,y\"}", true},
    {"{\"dedicated\":\"r/x\"}", false},
};

static const char *const hostname_forms[] = {
    "[[\"hostname\",\"UNIQUE\"]]",
    "[[\"hostname\",\"CLUSTER\"]]",
    "[[\"hostname\",\"CLUSTER\",\"h\"]]",
    "[[\"hostname\",\"GROUP_BY\"]]",
    "[[\"hostname\",\"GROUP_BY\",\"2\"]]",
    "[[\"hostname\",\"MAX_PER\",\"1\"]]",
    "[[\"hostname\",\"LIKE\",\".*\"]]",
    "[[\"hostname\",\"IS\",\"h\"]]",
    "[[\"@hostname\",\"IS\",\"h\"]]",
    "{\"host\":\"limit:1\"}",
    "{\"host\":\"h\"}",
    "{\"hostname\":\"h,i\"}",
    "{\"@hostname\":\"!x\"}",
};

static void test_missing_attribute(void **state)
{
	struct world w;
	size_t bare, other;

	(void)state;
	world_init(&w);
	bare = world_add(&w, "h rack:a");
	other = world_add(&w, "h");
	for (size_t i = 0; i < ARRAY_SIZE(missing_cases); i++) {
		const struct missing_case *c = &missing_cases[i];
		struct constraint_set cs;
		struct constraint_verdict v;

		parse_ok(&cs, c->constraints);
		v = constraint_set_check(&cs, 4, &w.a[bare], NULL, 0);
		if (v.ok != c->accepts_missing) {
			print_error("case %zu: %s: ok=%d\n", i, c->constraints,
			            v.ok);
			fail();
		}
		if (!v.ok)
			assert_int_equal(v.failed, 0);
		constraint_set_release(&cs);
	}
	for (size_t i = 0; i < ARRAY_SIZE(hostname_forms); i++) {
		struct constraint_set cs;
		struct constraint_verdict v;

		parse_ok(&cs, hostname_forms[i]);
		v = constraint_set_check(&cs, 4, &w.a[other], NULL, 0);
		if (!v.ok) {
			print_error("hostname case %zu: %s refused\n", i,
			            hostname_forms[i]);
			fail();
		}
		constraint_set_release(&cs);
	}
	world_release(&w);
}

/* ---- sequences of placements --------------------------------------- */

/*
 * Greedy placement: offers come in rounds, each round from the agents in
 * order[]; an offer takes instances while the constraints accept its agent
 * (at most per_offer of them), until `instances` are placed or a round
 * places nothing. Returns the number placed; placed[] receives agent
 * indexes.
 */
static size_t simulate(const struct constraint_set *cs, long instances,
                       const struct world *w, const size_t *order,
                       size_t norder, size_t per_offer, size_t *placed)
{
	struct constraint_agent pl[WORLD_MAX];
	size_t np = 0;
	bool progress = true;

	while (progress && np < (size_t)instances) {
		progress = false;
		for (size_t o = 0; o < norder && np < (size_t)instances; o++) {
			const struct constraint_agent *a = &w->a[order[o]];
			for (size_t k = 0; k < per_offer; k++) {
				struct constraint_verdict v;
				if (np == (size_t)instances)
					break;
				v = constraint_set_check(cs, instances, a, pl,
				                         np);
				if (!v.ok)
					break;
				pl[np] = *a;
				placed[np++] = order[o];
				progress = true;
			}
		}
	}
	return np;
}

/* Instances per rack value (racks "a", "b", "c", ...), by attribute. */
static void count_racks(const struct world *w, const size_t *placed, size_t np,
                        size_t *per_rack, size_t nracks)
{
	memset(per_rack, 0, nracks * sizeof(*per_rack));
	for (size_t i = 0; i < np; i++) {
		char *v = constraint_agent_value(&w->a[placed[i]], "rack");
		assert_non_null(v);
		assert_true(v[0] >= 'a' && (size_t)(v[0] - 'a') < nracks);
		per_rack[v[0] - 'a']++;
		free(v);
	}
}

struct spread_case {
	const char *constraints;
	const char *order; /* agents offered per round: rack letters */
	size_t per_offer;
	size_t want[3]; /* instances on racks a, b, c */
};

/* Two agents per rack; 10 instances. */
static const struct spread_case spread_cases[] = {
    /* with a count the quota holds whatever the arrival order */
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", "aabbcc", 10, {4, 3, 3}},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", "ccbbaa", 10, {3, 3, 4}},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", "abcabc", 1, {4, 3, 3}},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]", "aaaabc", 1, {4, 3, 3}},
    /* without a count: least loaded, one instance per offer */
    {"[[\"rack\",\"GROUP_BY\"]]", "abcabc", 1, {4, 3, 3}},
    {"[[\"rack\",\"GROUP_BY\"]]", "aabc", 1, {4, 3, 3}},
    {"[[\"rack\",\"GROUP_BY\"]]", "cba", 1, {3, 3, 4}},
    /* ... but an offer that may take many fills the only value seen,
     * which is why Marathon recommends a count */
    {"[[\"rack\",\"GROUP_BY\"]]", "abc", 10, {10, 0, 0}},
    /* with 2 values asked for, the third rack stays empty */
    {"[[\"rack\",\"GROUP_BY\",\"2\"]]", "abcabc", 1, {5, 5, 0}},
};

static void test_group_by_spread(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(spread_cases); i++) {
		const struct spread_case *c = &spread_cases[i];
		size_t rack_agent[3][2], seen[3] = {0}, order[16], norder = 0;
		size_t placed[WORLD_MAX], per_rack[3], np;
		struct constraint_set cs;
		struct world w;

		world_init(&w);
		for (size_t r = 0; r < 3; r++)
			for (size_t k = 0; k < 2; k++) {
				char spec[32];
				snprintf(spec, sizeof(spec), "%c%zu rack:%c",
				         (char)('a' + r), k, (char)('a' + r));
				rack_agent[r][k] = world_add(&w, spec);
			}
		for (const char *p = c->order; *p; p++) {
			size_t r = (size_t)(*p - 'a');
			order[norder++] = rack_agent[r][seen[r]++ % 2];
		}
		parse_ok(&cs, c->constraints);
		np = simulate(&cs, 10, &w, order, norder, c->per_offer, placed);
		assert_int_equal(np, 10);
		count_racks(&w, placed, np, per_rack, 3);
		if (memcmp(per_rack, c->want, sizeof(per_rack))) {
			print_error("case %zu: spread %zu/%zu/%zu, want "
			            "%zu/%zu/%zu\n",
			            i, per_rack[0], per_rack[1], per_rack[2],
			            c->want[0], c->want[1], c->want[2]);
			fail();
		}
		constraint_set_release(&cs);
		world_release(&w);
	}
}

/*
 * The slides' rails app: 10 instances, public nodes only, spread over
 * racks, at most 3 per rack, one per host; 12 public hosts in 4 racks
 * plus 2 private ones. Greedy placement over offers in several orders;
 * the result is checked independently of the constraint code.
 */
static void test_rails_example(void **state)
{
	static const char rails[] = "[[\"type\",\"CLUSTER\",\"public_node\"],"
				    "[\"rack_id\",\"GROUP_BY\"],"
				    "[\"rack_id\",\"MAX_PER\",\"3\"],"
				    "[\"hostname\",\"UNIQUE\"]]";
	const char *types[14], *racks[14];
	struct constraint_set cs;
	struct world w;

	(void)state;
	world_init(&w);
	for (size_t i = 0; i < 14; i++) {
		char spec[96];
		bool private = i >= 12;
		types[i] = private ? "private_node" : "public_node";
		racks[i] =
		    private ? "r1"
			    : (const char *[]){"r1", "r2", "r3", "r4"}[i / 3];
		snprintf(spec, sizeof(spec), "host%zu type:%s;rack_id:%s", i,
		         types[i], racks[i]);
		world_add(&w, spec);
	}
	parse_ok(&cs, rails);
	for (size_t rot = 0; rot < 14; rot++) {
		for (size_t per_offer = 1; per_offer <= 2; per_offer++) {
			size_t order[14], placed[WORLD_MAX], np;
			size_t per_rack[4] = {0}, per_host[14] = {0};

			/* rotate, and put the private hosts first */
			for (size_t i = 0; i < 14; i++)
				order[i] = (13 - i + rot) % 14;
			np =
			    simulate(&cs, 10, &w, order, 14, per_offer, placed);
			assert_int_equal(np, 10);
			for (size_t i = 0; i < np; i++) {
				size_t h = placed[i];
				assert_string_equal(types[h], "public_node");
				per_host[h]++;
				per_rack[racks[h][1] - '1']++;
			}
			for (size_t h = 0; h < 14; h++)
				assert_true(per_host[h] <= 1);
			for (size_t r = 0; r < 4; r++)
				assert_true(per_rack[r] <= 3);
		}
	}
	constraint_set_release(&cs);
	world_release(&w);
}

/* ---- parsing the Aurora form --------------------------------------- */

static void test_aurora_parse(void **state)
{
	struct constraint_set cs;
	const struct constraint *c;

	(void)state;
	parse_ok(&cs, "{\"rack_id\":\"limit:3\",\"host\":\"limit:1\","
	              "\"type\":\"public\",\"zone\":\"a,b\","
	              "\"os\":\"!win,mac\",\"dedicated\":\"db/data\"}");
	assert_int_equal(cs.n, 6);
	for (size_t i = 0; i < cs.n; i++)
		assert_true(cs.v[i].aurora);
	c = &cs.v[0];
	assert_string_equal(c->field, "rack_id");
	assert_int_equal(c->op, CONSTRAINT_MAX_PER);
	assert_int_equal(c->n, 3);
	c = &cs.v[1];
	assert_string_equal(c->field, "hostname");
	assert_int_equal(c->op, CONSTRAINT_MAX_PER);
	assert_int_equal(c->n, 1);
	c = &cs.v[2];
	assert_string_equal(c->field, "type");
	assert_int_equal(c->op, CONSTRAINT_IN);
	assert_int_equal(c->nvalues, 1);
	assert_string_equal(c->values[0], "public");
	c = &cs.v[3];
	assert_int_equal(c->op, CONSTRAINT_IN);
	assert_int_equal(c->nvalues, 2);
	assert_string_equal(c->values[0], "a");
	assert_string_equal(c->values[1], "b");
	c = &cs.v[4];
	assert_int_equal(c->op, CONSTRAINT_NOT_IN);
	assert_int_equal(c->nvalues, 2);
	assert_string_equal(c->values[0], "win");
	assert_string_equal(c->values[1], "mac");
	c = &cs.v[5];
	assert_string_equal(c->field, "dedicated");
	assert_int_equal(c->op, CONSTRAINT_DEDICATED);
	assert_string_equal(c->value, "db/data");
	constraint_set_release(&cs);

	/* the Marathon form: hostname spellings, values as given */
	parse_ok(&cs, "[[\"@hostname\",\"UNIQUE\"],"
	              "[\"rack\",\"GROUP_BY\",\"3\"],[\"rack\",\"GROUP_BY\"],"
	              "[\"rack\",\"CLUSTER\",\"\"]]");
	assert_int_equal(cs.n, 4);
	assert_false(cs.v[0].aurora);
	assert_string_equal(cs.v[0].field, "hostname");
	assert_null(cs.v[0].value);
	assert_int_equal(cs.v[1].n, 3);
	assert_string_equal(cs.v[1].value, "3");
	assert_int_equal(cs.v[2].n, 0);
	assert_null(cs.v[3].value);
	constraint_set_release(&cs);
}

/* ---- describe ------------------------------------------------------ */

static void test_describe(void **state)
{
	static const char *const want[] = {
	    "rack_id MAX_PER 3", "hostname UNIQUE",  "rack GROUP_BY",
	    "rack GROUP_BY 2",   "rack LIKE r[0-9]", "type CLUSTER pub",
	};
	struct constraint_set cs;
	char *s;

	(void)state;
	parse_ok(&cs, "[[\"rack_id\",\"MAX_PER\",\"3\"],"
	              "[\"hostname\",\"UNIQUE\"],[\"rack\",\"GROUP_BY\"],"
	              "[\"rack\",\"GROUP_BY\",\"2\"],"
	              "[\"rack\",\"LIKE\",\"r[0-9]\"],"
	              "[\"type\",\"CLUSTER\",\"pub\"]]");
	for (size_t i = 0; i < cs.n; i++) {
		s = constraint_describe(&cs, i);
		assert_string_equal(s, want[i]);
		free(s);
	}
	s = constraint_describe(&cs, CONSTRAINT_DEDICATED_HOST);
	assert_string_equal(s, "dedicated host");
	free(s);
	constraint_set_release(&cs);

	parse_ok(&cs, "{\"host\":\"limit:1\",\"zone\":\"!a,b\","
	              "\"dedicated\":\"*/x\"}");
	s = constraint_describe(&cs, 0);
	assert_string_equal(s, "hostname MAX_PER 1");
	free(s);
	s = constraint_describe(&cs, 1);
	assert_string_equal(s, "zone NOT_IN a,b");
	free(s);
	s = constraint_describe(&cs, 2);
	assert_string_equal(s, "dedicated DEDICATED */x");
	free(s);
	constraint_set_release(&cs);
}

/* ---- round trips ---------------------------------------------------- */

static void assert_sets_equal(const struct constraint_set *a,
                              const struct constraint_set *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct constraint *x = &a->v[i], *y = &b->v[i];
		assert_string_equal(x->field, y->field);
		assert_int_equal(x->op, y->op);
		if (x->value || y->value) {
			assert_non_null(x->value);
			assert_non_null(y->value);
			assert_string_equal(x->value, y->value);
		}
		assert_int_equal(x->n, y->n);
		assert_int_equal(x->nvalues, y->nvalues);
		for (size_t k = 0; k < x->nvalues; k++)
			assert_string_equal(x->values[k], y->values[k]);
		assert_int_equal(x->has_re, y->has_re);
		assert_int_equal(x->aurora, y->aurora);
	}
}

struct trip_case {
	const char *in;
	const char *out;
};

static const struct trip_case trip_cases[] = {
    {"[]", "[]"},
    {"{}", "[]"},
    {"[[\"hostname\",\"UNIQUE\"]]", "[[\"hostname\",\"UNIQUE\"]]"},
    {"[[\"@hostname\",\"UNIQUE\",\"\"]]", "[[\"hostname\",\"UNIQUE\"]]"},
    {"[[\"type\",\"CLUSTER\",\"public_node\"],[\"rack_id\",\"GROUP_BY\"],"
     "[\"rack_id\",\"MAX_PER\",\"3\"],[\"hostname\",\"UNIQUE\"]]",
     "[[\"type\",\"CLUSTER\",\"public_node\"],[\"rack_id\",\"GROUP_BY\"],"
     "[\"rack_id\",\"MAX_PER\",\"3\"],[\"hostname\",\"UNIQUE\"]]"},
    {"[[\"r\",\"GROUP_BY\",\"4\"],[\"r\",\"LIKE\",\"a\\\"b|c\"],"
     "[\"r\",\"UNLIKE\",\"x.*\"],[\"w\",\"IS\",\"0.80\"],"
     "[\"dedicated\",\"DEDICATED\",\"*/x\"]]",
     "[[\"r\",\"GROUP_BY\",\"4\"],[\"r\",\"LIKE\",\"a\\\"b|c\"],"
     "[\"r\",\"UNLIKE\",\"x.*\"],[\"w\",\"IS\",\"0.80\"],"
     "[\"dedicated\",\"DEDICATED\",\"*/x\"]]"},
    {"{\"rack_id\":\"limit:3\",\"host\":\"limit:1\",\"type\":\"public\","
     "\"dedicated\":\"db/data\"}",
     "{\"rack_id\":\"limit:3\",\"host\":\"limit:1\",\"type\":\"public\","
     "\"dedicated\":\"db/data\"}"},
    {"{\"@hostname\":\"!a,b\",\"zone\":\"x,y,z\"}",
     "{\"host\":\"!a,b\",\"zone\":\"x,y,z\"}"},
};

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(trip_cases); i++) {
		struct constraint_set a, b;
		char *out, *out2;

		parse_ok(&a, trip_cases[i].in);
		out = write_json(&a);
		assert_string_equal(out, trip_cases[i].out);
		parse_ok(&b, out);
		assert_sets_equal(&a, &b);
		out2 = write_json(&b);
		assert_string_equal(out, out2);
		free(out);
		free(out2);
		constraint_set_release(&a);
		constraint_set_release(&b);
	}
}

/* ---- copy / release ------------------------------------------------- */

static void test_copy_release(void **state)
{
	struct constraint_set a, b, empty;
	struct world w;
	size_t yes, no;

	(void)state;
	world_init(&w);
	yes = world_add(&w, "h rack:r7;zone:a");
	no = world_add(&w, "h rack:x7;zone:a");
	parse_ok(&a,
	         "[[\"rack\",\"LIKE\",\"r[0-9]\"],[\"hostname\",\"UNIQUE\"]]");
	/* dst holding a set is released first */
	parse_ok(&b, "{\"zone\":\"a,b\",\"rack\":\"limit:2\"}");
	constraint_set_copy(&b, &a);
	constraint_set_release(&a);
	assert_int_equal(b.n, 2);
	assert_false(b.v[0].aurora);
	assert_true(b.v[0].has_re);
	assert_true(constraint_set_check(&b, 1, &w.a[yes], NULL, 0).ok);
	assert_false(constraint_set_check(&b, 1, &w.a[no], NULL, 0).ok);
	/* copying onto itself changes nothing */
	constraint_set_copy(&b, &b);
	assert_int_equal(b.n, 2);
	assert_true(constraint_set_check(&b, 1, &w.a[yes], NULL, 0).ok);
	/* Aurora lists are deep copies */
	parse_ok(&a, "{\"zone\":\"a,b\"}");
	constraint_set_copy(&b, &a);
	assert_ptr_not_equal(a.v[0].values[0], b.v[0].values[0]);
	constraint_set_release(&a);
	assert_string_equal(b.v[0].values[1], "b");
	assert_true(constraint_set_check(&b, 1, &w.a[yes], NULL, 0).ok);
	/* copying an empty set empties dst; release twice is harmless */
	constraint_set_init(&empty);
	constraint_set_copy(&b, &empty);
	assert_int_equal(b.n, 0);
	assert_null(b.v);
	constraint_set_release(&b);
	constraint_set_release(&b);
	/* null and JSON null parse as an empty set */
	parse_ok(&a, "null");
	assert_int_equal(a.n, 0);
	constraint_set_release(&a);
	world_release(&w);
}

/* ---- scale-down victims --------------------------------------------- */

struct victim_case {
	const char *constraints;
	const char *agents[8]; /* NULL-terminated */
	double started[8];
	size_t k;
	bool oldest_first;
	size_t want[8];
};

static const struct victim_case victim_cases[] = {
    /* no GROUP_BY: by age */
    {"[]", {"a", "b", "c", "d"}, {1, 4, 2, 3}, 2, false, {1, 3}},
    {"[]", {"a", "b", "c", "d"}, {1, 4, 2, 3}, 2, true, {0, 2}},
    {"[[\"hostname\",\"UNIQUE\"]]",
     {"a", "b", "c"},
     {5, 5, 5},
     3,
     false,
     {0, 1, 2}},
    {"[]", {"a", "b"}, {1, 2}, 0, false, {0}},
    /* GROUP_BY: the fullest rack first, the youngest within it */
    {"[[\"rack\",\"GROUP_BY\"]]",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:b", "5 rack:c"},
     {1, 3, 2, 9, 8},
     2,
     false,
     {1, 2}},
    /* then the racks tie and age decides */
    {"[[\"rack\",\"GROUP_BY\"]]",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:b", "5 rack:c"},
     {1, 3, 2, 9, 8},
     4,
     false,
     {1, 2, 3, 4}},
    {"[[\"rack\",\"GROUP_BY\",\"3\"]]",
     {"1 rack:a", "2 rack:a", "3 rack:a", "4 rack:b", "5 rack:c"},
     {1, 3, 2, 9, 8},
     3,
     true,
     {0, 2, 1}},
    /* instances lacking the field form one group */
    {"[[\"rack\",\"GROUP_BY\"]]",
     {"1", "2", "3 rack:a", "4 rack:b"},
     {1, 2, 3, 4},
     1,
     false,
     {1}},
    /* two GROUP_BYs: the first decides, the second breaks its ties */
    {"[[\"rack\",\"GROUP_BY\"],[\"zone\",\"GROUP_BY\"]]",
     {"1 rack:a;zone:x", "2 rack:a;zone:y", "3 rack:b;zone:x",
      "4 rack:b;zone:x", "5 rack:c;zone:y"},
     {4, 5, 3, 2, 1},
     2,
     false,
     {0, 2}},
};

static void test_pick_victims(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(victim_cases); i++) {
		const struct victim_case *c = &victim_cases[i];
		struct constraint_set cs;
		size_t victims[8], n = 0;
		struct world w;

		world_init(&w);
		while (c->agents[n])
			world_add(&w, c->agents[n++]);
		parse_ok(&cs, c->constraints);
		memset(victims, 0xff, sizeof(victims));
		constraint_pick_victims(&cs, w.a, c->started, n, c->k,
		                        c->oldest_first, victims);
		for (size_t r = 0; r < c->k; r++) {
			if (victims[r] != c->want[r]) {
				print_error("case %zu: victim %zu is %zu, want "
				            "%zu\n",
				            i, r, victims[r], c->want[r]);
				fail();
			}
		}
		/* nothing written past k */
		assert_int_equal(victims[c->k], (size_t)-1);
		constraint_set_release(&cs);
		world_release(&w);
	}
}

/* Scaling 10 instances 4/3/3 over racks down to 6 stays within one of
 * even at every step. */
static void test_pick_victims_even(void **state)
{
	static const char *const racks[] = {"a", "a", "a", "a", "b",
	                                    "b", "b", "c", "c", "c"};
	struct constraint_set cs;
	struct world w;
	double started[10];
	size_t victims[10];

	(void)state;
	world_init(&w);
	for (size_t i = 0; i < ARRAY_SIZE(racks); i++) {
		char spec[32];
		snprintf(spec, sizeof(spec), "h%zu rack:%s", i, racks[i]);
		world_add(&w, spec);
		started[i] = (double)((i * 7) % 10);
	}
	parse_ok(&cs, "[[\"rack\",\"GROUP_BY\",\"3\"]]");
	for (size_t k = 1; k <= 9; k++) {
		size_t per[3] = {4, 3, 3}, hi = 0, lo = SIZE_MAX;
		bool seen[10] = {false};
		constraint_pick_victims(&cs, w.a, started, 10, k, false,
		                        victims);
		for (size_t r = 0; r < k; r++) {
			assert_true(victims[r] < 10);
			assert_false(seen[victims[r]]);
			seen[victims[r]] = true;
			per[racks[victims[r]][0] - 'a']--;
		}
		for (size_t r = 0; r < 3; r++) {
			hi = MAX(hi, per[r]);
			lo = MIN(lo, per[r]);
		}
		assert_true(hi - lo <= 1);
	}
	constraint_set_release(&cs);
	world_release(&w);
}

/* ---- bad input ------------------------------------------------------ */

struct bad_case {
	const char *json;
	size_t index;    /* (size_t)-1: not an element */
	const char *msg; /* exact, or a prefix when it ends in '*' */
};

static const struct bad_case bad_cases[] = {
    {"5", (size_t)-1,
     "constraints: must be an array of [field, operator, value] "
     "(Marathon) or an object of field: expression (Aurora)"},
    {"\"x\"", (size_t)-1, "constraints: must be an array*"},
    {"[1]", 0,
     "constraints(0): must be an array [field, operator] or [field, "
     "operator, value]"},
    {"[[\"a\"]]", 0, "constraints(0): must have 2 or 3 items, got 1"},
    {"[[]]", 0, "constraints(0): must have 2 or 3 items, got 0"},
    {"[[\"a\",\"IS\",\"b\",\"c\"]]", 0,
     "constraints(0): must have 2 or 3 items, got 4"},
    {"[[\"a\",1]]", 0, "constraints(0): item 1 must be a string"},
    {"[[\"a\",\"IS\",3]]", 0, "constraints(0): item 2 must be a string"},
    {"[[\"a\",\"IS\",null]]", 0, "constraints(0): item 2 must be a string"},
    {"[[\"\",\"UNIQUE\"]]", 0, "constraints(0): field must not be empty"},
    {"[[\"hostname\",\"UNIQUE\"],[\"a\",\"FOO\"]]", 1,
     "constraints(1): unknown operator 'FOO' (expected UNIQUE, CLUSTER, "
     "GROUP_BY, MAX_PER, LIKE, UNLIKE, IS or DEDICATED)"},
    {"[[\"a\",\"unique\"]]", 0, "constraints(0): unknown operator 'unique'*"},
    {"[[\"a\",\"IN\",\"x\"]]", 0, "constraints(0): unknown operator 'IN'*"},
    {"[[\"a\",\"UNIQUE\",\"x\"]]", 0,
     "constraints(0): UNIQUE takes no value, got 'x'"},
    {"[[\"a\",\"MAX_PER\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer value"},
    {"[[\"a\",\"IS\",\"b\"],[\"a\",\"IS\",\"b\"],[\"a\",\"MAX_PER\",\"x\"]]", 2,
     "constraints(2): MAX_PER needs a positive integer, got 'x'"},
    {"[[\"a\",\"MAX_PER\",\"0\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got '0'"},
    {"[[\"a\",\"MAX_PER\",\"-1\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got '-1'"},
    {"[[\"a\",\"MAX_PER\",\"1.5\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got '1.5'"},
    {"[[\"a\",\"MAX_PER\",\" 2\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got ' 2'"},
    {"[[\"a\",\"MAX_PER\",\"\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got ''"},
    {"[[\"a\",\"MAX_PER\",\"99999999999999999999\"]]", 0,
     "constraints(0): MAX_PER needs a positive integer, got "
     "'99999999999999999999'"},
    {"[[\"a\",\"GROUP_BY\",\"0\"]]", 0,
     "constraints(0): GROUP_BY takes an optional positive integer, got "
     "'0'"},
    {"[[\"a\",\"GROUP_BY\",\"x\"]]", 0,
     "constraints(0): GROUP_BY takes an optional positive integer, got "
     "'x'"},
    {"[[\"a\",\"LIKE\"]]", 0,
     "constraints(0): LIKE needs a regular expression"},
    {"[[\"a\",\"UNLIKE\",\"\"]]", 0,
     "constraints(0): UNLIKE needs a regular expression"},
    {"[[\"a\",\"LIKE\",\"(\"]]", 0,
     "constraints(0): LIKE: invalid regular expression '(': *"},
    {"[[\"a\",\"UNLIKE\",\"a[\"]]", 0,
     "constraints(0): UNLIKE: invalid regular expression 'a[': *"},
    {"[[\"a\",\"LIKE\",\"(a)\\\\1\"]]", 0,
     "constraints(0): LIKE: back-references are not supported in "
     "'(a)\\1'"},
    {"[[\"a\",\"LIKE\",\"((a{100}){100}){100}\"]]", 0,
     "constraints(0): LIKE: regular expression '((a{100}){100}){100}' is "
     "too complex (counted repetitions or groups nest too deep)"},
    {"[[\"a\",\"IS\"]]", 0, "constraints(0): IS needs a value"},
    {"[[\"a\",\"IS\",\"a b\"]]", 0,
     "constraints(0): IS value 'a b' may contain only letters, digits "
     "and _/.-"},
    {"[[\"a\",\"IS\",\"a|b\"]]", 0, "constraints(0): IS value 'a|b'*"},
    {"[[\"x\",\"DEDICATED\",\"db/data\"]]", 0,
     "constraints(0): DEDICATED applies to the field 'dedicated' only"},
    {"[[\"dedicated\",\"DEDICATED\"]]", 0,
     "constraints(0): dedicated must be 'role/name' or '*/name', got ''"},
    /* Aurora */
    {"{\"rack\":\"limit:0\"}", 0,
     "constraints.rack: limit needs a positive integer, got '0'"},
    {"{\"host\":\"limit:1\",\"rack\":\"limit:x\"}", 1,
     "constraints.rack: limit needs a positive integer, got 'x'"},
    {"{\"rack\":\"limit:\"}", 0,
     "constraints.rack: limit needs a positive integer, got ''"},
    {"{\"rack\":\"limit:-2\"}", 0,
     "constraints.rack: limit needs a positive integer, got '-2'"},
    {"{\"rack\":\"\"}", 0, "constraints.rack: must not be empty"},
    {"{\"rack\":\"a,,b\"}", 0, "constraints.rack: empty value in 'a,,b'"},
    {"{\"rack\":\"a,\"}", 0, "constraints.rack: empty value in 'a,'"},
    {"{\"rack\":\",a\"}", 0, "constraints.rack: empty value in ',a'"},
    {"{\"rack\":\"!\"}", 0, "constraints.rack: empty value in '!'"},
    {"{\"rack\":3}", 0, "constraints.rack: must be a string"},
    {"{\"rack\":[\"a\"]}", 0, "constraints.rack: must be a string"},
    {"{\"\":\"a\"}", 0, "constraints.: field must not be empty"},
    {"{\"dedicated\":\"db\"}", 0,
     "constraints.dedicated: dedicated must be 'role/name' or '*/name', "
     "got 'db'"},
    {"{\"dedicated\":\"/x\"}", 0,
     "constraints.dedicated: dedicated must be 'role/name' or '*/name', "
     "got '/x'"},
    {"{\"dedicated\":\"db/\"}", 0, "constraints.dedicated: dedicated must*"},
    {"{\"dedicated\":\"limit:2\"}", 0,
     "constraints.dedicated: dedicated must*"},
    {"{\"host\":\"limit:1\",\"hostname\":\"limit:2\"}", 1,
     "constraints.hostname: field 'hostname' given twice"},
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct constraint_set cs;
		struct err e = {{0}};
		size_t bad = (size_t)-1;
		size_t len = strlen(c->msg);
		json_error_t je;
		json_t *v = json_loads(c->json, JSON_DECODE_ANY, &je);
		bool match;

		assert_non_null(v);
		/* a set that must survive the failed parse */
		parse_ok(&cs, "[[\"hostname\",\"UNIQUE\"]]");
		assert_int_equal(constraint_set_from_json(&cs, v, &bad, &e),
		                 -EINVAL);
		if (c->msg[len - 1] == '*')
			match = !strncmp(e.msg, c->msg, len - 1);
		else
			match = !strcmp(e.msg, c->msg);
		if (!match || bad != c->index) {
			print_error("case %zu %s: got '%s' at %zu\n", i,
			            c->json, e.msg, bad);
			fail();
		}
		assert_int_equal(cs.n, 1);
		assert_string_equal(cs.v[0].field, "hostname");
		assert_int_equal(cs.v[0].op, CONSTRAINT_UNIQUE);
		/* bad_index may be NULL */
		assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e),
		                 -EINVAL);
		constraint_set_release(&cs);
		json_decref(v);
	}
}

/* Too many elements; and the regex message carries regerror's text. */
static void test_bad_input_limits(void **state)
{
	struct constraint_set cs;
	struct err e = {{0}};
	json_t *arr = json_array();
	json_t *v;

	(void)state;
	for (int i = 0; i < 129; i++)
		json_array_append_new(arr, json_pack("[ss]", "h", "UNIQUE"));
	constraint_set_init(&cs);
	assert_int_equal(constraint_set_from_json(&cs, arr, NULL, &e), -EINVAL);
	assert_string_equal(e.msg,
	                    "constraints: at most 128 constraints, got 129");
	json_array_remove(arr, 0);
	assert_int_equal(constraint_set_from_json(&cs, arr, NULL, &e), 0);
	assert_int_equal(cs.n, 128);
	constraint_set_release(&cs);
	json_decref(arr);

	v = json_pack("[[sss]]", "a", "LIKE", "(");
	assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e), -EINVAL);
	/* "...'(': " then glibc's message */
	assert_true(strlen(e.msg) > strlen("constraints(0): LIKE: invalid "
	                                   "regular expression '(': "));
	json_decref(v);
	/* long but simple patterns are fine; too long ones are not */
	{
		char pat[1100];
		memset(pat, 'a', sizeof(pat) - 1);
		pat[sizeof(pat) - 1] = '\0';
		v = json_pack("[[sss]]", "a", "LIKE", pat);
		assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e),
		                 -EINVAL);
		assert_string_equal(e.msg, "constraints(0): LIKE: regular "
		                           "expression longer than 1024 "
		                           "characters");
		json_decref(v);
		pat[1000] = '\0';
		v = json_pack("[[sss]]", "a", "LIKE", pat);
		assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e), 0);
		json_decref(v);
		constraint_set_release(&cs);
	}
	/* groups nested deeper than 32 */
	{
		char pat[80];
		size_t n = 0;
		for (int i = 0; i < 33; i++)
			pat[n++] = '(';
		pat[n++] = 'a';
		for (int i = 0; i < 33; i++)
			pat[n++] = ')';
		pat[n] = '\0';
		v = json_pack("[[sss]]", "a", "LIKE", pat);
		assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e),
		                 -EINVAL);
		assert_non_null(strstr(e.msg, "is too complex"));
		json_decref(v);
		pat[0] = 'x'; /* 32 deep */
		pat[n - 1] = '\0';
		v = json_pack("[[sss]]", "a", "LIKE", pat);
		assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e), 0);
		json_decref(v);
		constraint_set_release(&cs);
	}
	/* bounded repetition under the limit compiles and matches */
	v = json_pack("[[sss]]", "a", "LIKE", "(ab){2,3}[x-z]{1,100}");
	assert_int_equal(constraint_set_from_json(&cs, v, NULL, &e), 0);
	{
		struct world w;
		world_init(&w);
		world_add(&w, "h a:ababzz");
		world_add(&w, "h a:abz");
		assert_true(constraint_set_check(&cs, 1, &w.a[0], NULL, 0).ok);
		assert_false(constraint_set_check(&cs, 1, &w.a[1], NULL, 0).ok);
		world_release(&w);
	}
	json_decref(v);
	constraint_set_release(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_value_table),
	    cmocka_unit_test(test_agent_value_unsorted_set),
	    cmocka_unit_test(test_check_table),
	    cmocka_unit_test(test_missing_attribute),
	    cmocka_unit_test(test_group_by_spread),
	    cmocka_unit_test(test_rails_example),
	    cmocka_unit_test(test_aurora_parse),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_copy_release),
	    cmocka_unit_test(test_pick_victims),
	    cmocka_unit_test(test_pick_victims_even),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_bad_input_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
