/*
 * test_resources.c: the resource model: exact scalar arithmetic, range
 * merging and splitting, sets, role matching, text and JSON parsing with
 * their error messages, round trips, hierarchical role allocation and
 * attributes. Most tests are tables of text-form inputs and outputs.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/resources.h"

/* ---- helpers ------------------------------------------------------- */

/* Parses text that must be valid, failing the test otherwise. */
static void parse_ok(struct resources *r, const char *text)
{
	struct err e = {{0}};
	resources_init(r);
	if (resources_parse_text(r, text, NULL, &e)) {
		print_error("unexpected error for '%s': %s\n", text, e.msg);
		fail();
	}
}

/* The text form of r as a heap string. */
static char *fmt(const struct resources *r)
{
	struct buf b = BUF_INIT;
	resources_format(&b, r);
	return buf_detach(&b, NULL);
}

static void assert_fmt(const struct resources *r, const char *want)
{
	char *got = fmt(r);
	assert_string_equal(got, want);
	free(got);
}

static char *to_json(const struct resources *r)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	jsonw_init(&w, &b);
	resources_write_json(&w, r);
	return buf_detach(&b, NULL);
}

/* ---- scalars ------------------------------------------------------- */

static void test_scalar_fixed_point(void **state)
{
	struct resources a, b;

	(void)state;
	assert_int_equal(res_from_double(0.1) + res_from_double(0.2),
	                 res_from_double(0.3));
	assert_int_equal(res_from_double(0.0004), 0);
	assert_int_equal(res_from_double(0.0006), 1);
	assert_int_equal(res_from_double(2.5), 2500);
	assert_true(res_to_double(300) == 0.3);

	parse_ok(&a, "cpus:0.1");
	parse_ok(&b, "cpus:0.2");
	resources_add(&a, &b);
	assert_int_equal(resources_scalar(&a, "cpus"), 300);
	assert_fmt(&a, "cpus:0.3");
	resources_release(&b);
	parse_ok(&b, "cpus:0.3");
	assert_true(resources_contains(&a, &b));
	assert_int_equal(resources_subtract(&a, &b), 0);
	assert_true(resources_is_empty(&a));
	assert_int_equal(a.n, 0);
	resources_release(&a);
	resources_release(&b);
}

/* ---- arithmetic tables --------------------------------------------- */

struct arith_case {
	const char *a, *b;
	const char *want; /* NULL: subtract fails / not contained */
};

static const struct arith_case add_cases[] = {
    {"cpus:1;mem:10", "cpus:0.5", "cpus:1.5;mem:10"},
    {"", "cpus:2", "cpus:2"},
    {"cpus:2", "", "cpus:2"},
    {"", "cpus:0", ""},
    {"ports:[1-3]", "ports:[4-5]", "ports:[1-5]"},
    {"ports:[1-3,10-12]", "ports:[5-6]", "ports:[1-3,5-6,10-12]"},
    {"ports:[1-3,10-12]", "ports:[2-11]", "ports:[1-12]"},
    {"ports:[10-12]", "ports:[1-2,20-30]", "ports:[1-2,10-12,20-30]"},
    {"ports:[1-1]", "ports:[1-1]", "ports:[1-1]"},
    {"ports:[9223372036854775806-9223372036854775807]",
     "ports:[5-9223372036854775805]", "ports:[5-9223372036854775807]"},
    {"bugs:{a,c}", "bugs:{b,a}", "bugs:{a,b,c}"},
    {"cpus:1", "cpus(ads):2", "cpus:1;cpus(ads):2"},
    {"cpus(ads):1", "cpus(ads):2", "cpus(ads):3"},
    {"cpus(a):1", "cpus(a/b):2", "cpus(a):1;cpus(a/b):2"},
    {"cpus:1", "ports:[1-2]", "cpus:1;ports:[1-2]"},
    {"disk:0.001", "disk:0.002", "disk:0.003"},
    {"mem:1024;mem:1024", "mem:1", "mem:2049"},
};

static void test_add_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(add_cases); i++) {
		const struct arith_case *c = &add_cases[i];
		struct resources a, b;
		char *got;

		parse_ok(&a, c->a);
		parse_ok(&b, c->b);
		resources_add(&a, &b);
		got = fmt(&a);
		if (strcmp(got, c->want))
			fail_msg("case %zu: '%s' + '%s' = '%s', want '%s'", i,
			         c->a, c->b, got, c->want);
		free(got);
		/* a + b contains b, and subtracting b again succeeds */
		assert_true(resources_contains(&a, &b));
		resources_release(&a);
		resources_release(&b);
	}
}

static const struct arith_case sub_cases[] = {
    {"cpus:2;mem:100", "cpus:0.5", "cpus:1.5;mem:100"},
    {"cpus:2", "cpus:2", ""},
    {"cpus:2", "", "cpus:2"},
    {"ports:[1-10]", "ports:[4-6]", "ports:[1-3,7-10]"},
    {"ports:[1-10]", "ports:[1-10]", ""},
    {"ports:[1-10]", "ports:[1-1,10-10]", "ports:[2-9]"},
    {"ports:[1-10]", "ports:[1-3]", "ports:[4-10]"},
    {"ports:[1-10]", "ports:[8-10]", "ports:[1-7]"},
    {"ports:[1-5,8-10]", "ports:[2-3,9-9]", "ports:[1-1,4-5,8-8,10-10]"},
    {"ports:[1-5,8-10]", "ports:[1-5,8-10]", ""},
    {"ports:[0-9223372036854775807]",
     "ports:[0-0,9223372036854775807-9223372036854775807]",
     "ports:[1-9223372036854775806]"},
    {"ports:[1-5,8-10]", "ports:[5-8]", NULL},
    {"ports:[1-5]", "ports:[0-1]", NULL},
    {"ports:[1-5]", "ports:[5-6]", NULL},
    {"cpus:1", "cpus:1.001", NULL},
    {"cpus:1", "cpus(ads):1", NULL},
    {"cpus(ads):1", "cpus:1", NULL},
    {"cpus(a):1", "cpus(a/b):1", NULL},
    {"cpus:1", "mem:1", NULL},
    {"bugs:{a,b,c}", "bugs:{b}", "bugs:{a,c}"},
    {"bugs:{a,b,c}", "bugs:{a,b,c}", ""},
    {"bugs:{a}", "bugs:{z}", NULL},
    {"bugs:{a}", "bugs:{a,z}", NULL},
    {"cpus:1;mem:5", "cpus:1;mem:6", NULL},
    {"cpus:0.3", "cpus:0.1;cpus:0.2", ""},
    {"ports:[1-5];cpus:4", "cpus:1;ports:[3-3]", "ports:[1-2,4-5];cpus:3"},
    {"", "cpus:0.001", NULL},
};

static void test_subtract_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sub_cases); i++) {
		const struct arith_case *c = &sub_cases[i];
		struct resources a, b;
		char *before, *got;
		int rc;

		parse_ok(&a, c->a);
		parse_ok(&b, c->b);
		before = fmt(&a);
		assert_int_equal(resources_contains(&a, &b), c->want != NULL);
		rc = resources_subtract(&a, &b);
		got = fmt(&a);
		if (c->want) {
			if (rc || strcmp(got, c->want))
				fail_msg("case %zu: '%s' - '%s' = '%s' (rc "
				         "%d), want '%s'",
				         i, c->a, c->b, got, rc, c->want);
			/* (a - b) + b == a */
			resources_add(&a, &b);
			assert_true(resources_contains(&a, &b));
		} else {
			assert_int_equal(rc, -EINVAL);
			/* all-or-nothing: dst is unchanged */
			assert_string_equal(got, before);
		}
		free(before);
		free(got);
		resources_release(&a);
		resources_release(&b);
	}
}

static void test_subtract_self_and_empty_entries(void **state)
{
	struct resources a;

	(void)state;
	parse_ok(&a, "cpus:1;ports:[1-3]");
	assert_int_equal(resources_subtract(&a, &a), 0);
	assert_true(resources_is_empty(&a));
	resources_release(&a);

	parse_ok(&a, "cpus:1;ports:[1-3]");
	resources_add(&a, &a);
	assert_fmt(&a, "cpus:2;ports:[1-3]");
	resources_release(&a);
	resources_release(&a); /* release twice is harmless */
}

/* Allocation roles come from JSON (the text form has no syntax for it). */
static void parse_json_ok(struct resources *r, const char *json)
{
	json_error_t jerr;
	json_t *j = json_loads(json, 0, &jerr);
	struct err e = {{0}};

	assert_non_null(j);
	resources_init(r);
	if (resources_from_json(r, j, &e))
		fail_msg("unexpected error for %s: %s", json, e.msg);
	json_decref(j);
}

static void test_alloc_roles_do_not_mix(void **state)
{
	struct resources dev, ops, none, sum;

	(void)state;
	parse_json_ok(&dev, "[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	                    "\"scalar\":{\"value\":2},"
	                    "\"allocation_info\":{\"role\":\"dev\"}}]");
	parse_json_ok(&ops, "[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	                    "\"scalar\":{\"value\":1},"
	                    "\"allocation_info\":{\"role\":\"ops\"}}]");
	parse_ok(&none, "cpus:1");
	assert_false(resources_contains(&dev, &ops));
	assert_false(resources_contains(&dev, &none));
	assert_false(resources_contains(&none, &dev));
	assert_int_equal(resources_subtract(&dev, &none), -EINVAL);
	assert_fmt(&dev, "cpus(allocated: dev):2");

	resources_init(&sum);
	resources_add(&sum, &dev);
	resources_add(&sum, &ops);
	resources_add(&sum, &none);
	assert_int_equal(sum.n, 3);
	assert_int_equal(resources_scalar(&sum, "cpus"), 4000);

	/* clearing the allocation role merges the three entries */
	resources_set_alloc_role(&sum, NULL);
	assert_int_equal(sum.n, 1);
	assert_fmt(&sum, "cpus:4");
	resources_set_alloc_role(&sum, "dev");
	assert_true(resources_contains(&sum, &dev));
	assert_int_equal(resources_subtract(&sum, &dev), 0);
	assert_fmt(&sum, "cpus(allocated: dev):2");

	resources_release(&dev);
	resources_release(&ops);
	resources_release(&none);
	resources_release(&sum);
}

/*
 * The master sets alloc_role on task resources in place, which can leave
 * two matching entries; the arithmetic must treat them together.
 */
static void test_unmerged_entries(void **state)
{
	struct resources offer, task;

	(void)state;
	parse_ok(&offer, "cpus:1;ports:[1-10]");
	resources_set_alloc_role(&offer, "dev");
	parse_json_ok(&task,
	              "[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	              "\"scalar\":{\"value\":0.5},"
	              "\"allocation_info\":{\"role\":\"dev\"}},"
	              "{\"name\":\"cpus\",\"type\":\"SCALAR\","
	              "\"scalar\":{\"value\":0.5}},"
	              "{\"name\":\"ports\",\"type\":\"RANGES\","
	              "\"ranges\":{\"range\":[{\"begin\":2,\"end\":3}]},"
	              "\"allocation_info\":{\"role\":\"dev\"}},"
	              "{\"name\":\"ports\",\"type\":\"RANGES\","
	              "\"ranges\":{\"range\":[{\"begin\":5,\"end\":5}]}}]");
	assert_int_equal(task.n, 4);
	for (size_t i = 0; i < task.n; i++)
		if (!task.v[i].alloc_role)
			task.v[i].alloc_role = xstrdup("dev");
	assert_true(resources_contains(&offer, &task));
	assert_int_equal(resources_subtract(&offer, &task), 0);
	assert_fmt(&offer, "ports(allocated: dev):[1-1,4-4,6-10]");
	/* now 0.5 + 0.5 cpus is more than what is left */
	assert_false(resources_contains(&offer, &task));
	resources_add(&offer, &task);
	assert_fmt(&offer, "ports(allocated: dev):[1-10];"
	                   "cpus(allocated: dev):1");
	resources_release(&offer);
	resources_release(&task);
}

static void test_contains_table(void **state)
{
	static const struct {
		const char *a, *b;
		bool want;
	} cases[] = {
	    {"cpus:2;mem:10", "cpus:2", true},
	    {"cpus:2;mem:10", "", true},
	    {"", "", true},
	    {"", "cpus:1", false},
	    {"cpus:2", "cpus:2.001", false},
	    {"ports:[1-10,20-30]", "ports:[5-10,20-20]", true},
	    {"ports:[1-10,20-30]", "ports:[10-20]", false},
	    {"ports:[1-10,11-30]", "ports:[10-20]", true},
	    {"bugs:{a,b}", "bugs:{a}", true},
	    {"bugs:{a,b}", "bugs:{c}", false},
	    {"cpus(ads):2", "cpus:1", false},
	    {"cpus:1;cpus(ads):2", "cpus(ads):2;cpus:1", true},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources a, b;
		parse_ok(&a, cases[i].a);
		parse_ok(&b, cases[i].b);
		if (resources_contains(&a, &b) != cases[i].want)
			fail_msg("case %zu: contains('%s', '%s') != %d", i,
			         cases[i].a, cases[i].b, cases[i].want);
		resources_release(&a);
		resources_release(&b);
	}
}

/* ---- text form ----------------------------------------------------- */

static void test_parse_text_good(void **state)
{
	static const struct {
		const char *text, *def, *want;
	} cases[] = {
	    {"cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33100];"
	     "gpus:1;cpus(ads):4;bugs(debug):{a,b,c}",
	     NULL,
	     "cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33100];"
	     "gpus:1;cpus(ads):4;bugs(debug):{a,b,c}"},
	    {" cpus : 2 ; mem:1024 ;", NULL, "cpus:2;mem:1024"},
	    {"cpus:2", "ads", "cpus(ads):2"},
	    {"cpus(*):2", "ads", "cpus:2"},
	    {"cpus(eng/web):2", NULL, "cpus(eng/web):2"},
	    {"ports:[5-6, 1-2 ,3-4]", NULL, "ports:[1-6]"},
	    {"ports:[]", NULL, ""},
	    {"bugs:{}", NULL, ""},
	    {"bugs:{ b , a ,b}", NULL, "bugs:{a,b}"},
	    {"caf\xc3\xa9:1;t:{\xe2\x82\xac}", NULL,
	     "caf\xc3\xa9:1;t:{\xe2\x82\xac}"},
	    {"mem:0.0005", NULL, "mem:0.001"},
	    {"mem:1e3", NULL, "mem:1000"},
	    {"cpus:1;cpus:2", NULL, "cpus:3"},
	    {"", NULL, ""},
	    {";;", NULL, ""},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1.5}}]",
	     NULL, "cpus:1.5"},
	    {" [{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1.5}}]",
	     "ads", "cpus(ads):1.5"},
	    {"[]", NULL, ""},
	    {"cpus:1000000000000", NULL, "cpus:1000000000000"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources r;
		struct err e = {{0}};
		char *got;

		resources_init(&r);
		if (resources_parse_text(&r, cases[i].text, cases[i].def, &e))
			fail_msg("case %zu '%s': %s", i, cases[i].text, e.msg);
		got = fmt(&r);
		if (strcmp(got, cases[i].want))
			fail_msg("case %zu '%s': got '%s', want '%s'", i,
			         cases[i].text, got, cases[i].want);
		free(got);
		resources_release(&r);
	}
}

static void test_parse_text_bad(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"cpus:2;mem:1024;ports:[5-1]",
	     "item 3 'ports:[5-1]': range begin 5 > end 1"},
	    {"cpus:-1", "item 1 'cpus:-1': must be a finite number >= 0, "
	                "got -1"},
	    {"cpus", "item 1 'cpus': missing ':'"},
	    {"cpus:", "missing value"},
	    {":2", "name must not be empty"},
	    {"cpus:abc", "expected a number"},
	    {"cpus:nan", "expected a number"},
	    {"cpus:inf", "expected a number"},
	    {"cpus:0x10", "expected a number"},
	    {"cpus:1e400", "must be a finite number"},
	    {"cpus:1000000000001", "must be at most 1000000000000"},
	    {"ports:[1-2", "missing ']'"},
	    {"ports:[1-2,]", "empty range"},
	    {"ports:[1]", "expected a range 'begin-end', got '1'"},
	    {"ports:[a-b]",
	     "expected integers between 0 and 9223372036854775807"},
	    {"ports:[-1-5]",
	     "expected integers between 0 and 9223372036854775807"},
	    {"ports:[1-99999999999999999999]",
	     "expected integers between 0 and 9223372036854775807"},
	    {"ports:[1-9223372036854775808]",
	     "expected integers between 0 and 9223372036854775807"},
	    {"bugs:{a,b", "missing '}'"},
	    {"bugs:{a,,b}", "empty item in set"},
	    {"bugs:{a,{b}}", "invalid set item"},
	    {"cpus(ads:2", "missing ')'"},
	    {"cpus()2", "role must not be empty"},
	    {"cpus(a b):2", "must not contain whitespace"},
	    {"cpus(/a):2", "must not start or end with '/'"},
	    {"cpus(ads)x:2", "expected ':' after the role"},
	    {"cp us:2", "invalid character ' ' in name"},
	    {"cpus:2;;mem:x", "item 3 'mem:x'"},
	    {"cpus:1;po\x92rts:[1-2]", "invalid UTF-8 at byte 10"},
	    {"bugs:{\xc3\xa9,\xed\xa0\x80}", "invalid UTF-8 at byte 10"},
	    {"[{\"name\":\"cpus\"", "invalid JSON at line 1"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":-2}}]",
	     "resources[0].scalar.value: must be a finite number >= 0, "
	     "got -2"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources r;
		struct err e = {{0}};

		parse_ok(&r, "cpus:7");
		if (resources_parse_text(&r, cases[i].text, NULL, &e) !=
		    -EINVAL)
			fail_msg("case %zu '%s': accepted", i, cases[i].text);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu '%s': message '%s' lacks '%s'", i,
			         cases[i].text, e.msg, cases[i].want);
		/* a failed parse leaves the output unchanged */
		assert_fmt(&r, "cpus:7");
		resources_release(&r);
	}
}

static void test_entry_limit(void **state)
{
	struct buf text = BUF_INIT;
	struct resources r;
	struct err e = {{0}};
	json_t *arr = json_array();

	(void)state;
	for (int i = 0; i < RES_MAX_ENTRIES; i++) {
		buf_addf(&text, "r%d:1;", i);
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:{s:I}}", "name", "cpus", "type",
		                   "SCALAR", "scalar", "value",
		                   (json_int_t)1000000000000));
	}
	parse_ok(&r, text.data);
	assert_int_equal(r.n, RES_MAX_ENTRIES);
	resources_release(&r);
	assert_int_equal(resources_from_json(&r, arr, &e), 0);
	/* the largest sum of parsed scalars still fits */
	assert_int_equal(resources_scalar(&r, "cpus"),
	                 RES_SCALAR_MAX * RES_MAX_ENTRIES);
	resources_release(&r);

	buf_adds(&text, "x:1");
	assert_int_equal(resources_parse_text(&r, text.data, NULL, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "at most 1024 items"));
	json_array_append_new(arr, json_object());
	assert_int_equal(resources_from_json(&r, arr, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "resources: at most 1024 entries"));
	assert_int_equal(r.n, 0);
	json_decref(arr);
	buf_release(&text);
}

static void test_parse_text_bad_default_role(void **state)
{
	struct resources r;
	struct err e = {{0}};

	(void)state;
	resources_init(&r);
	assert_int_equal(resources_parse_text(&r, "cpus:1", "a//b", &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "default role"));
	assert_int_equal(r.n, 0);
}

/* ---- JSON form ----------------------------------------------------- */

static void test_json_bad(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"{}", "resources: must be an array"},
	    {"[1]", "resources[0]: must be an object"},
	    {"[{\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
	     "resources[0].name: required field missing"},
	    {"[{\"name\":\"\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
	     "resources[0].name: name must not be empty"},
	    {"[{\"name\":7,\"type\":\"SCALAR\"}]",
	     "resources[0].name: must be a string"},
	    {"[{\"name\":\"cpus\",\"scalar\":{\"value\":1}}]",
	     "resources[0].type: required field missing"},
	    {"[{\"name\":\"cpus\",\"type\":\"TEXT\"}]",
	     "resources[0].type: unknown value 'TEXT'"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]",
	     "resources[0].scalar: required for type SCALAR"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{}}]",
	     "resources[0].scalar.value: required field missing"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":\"NaN\"}}]",
	     "resources[0].scalar.value: must be a finite number >= 0, "
	     "got 'NaN'"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":\"Infinity\"}}]",
	     "must be a finite number >= 0, got 'Infinity'"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":\"x\"}}]",
	     "scalar.value: must be a number"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1}},"
	     "{\"name\":\"mem\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":-1}}]",
	     "resources[1].scalar.value: must be a finite number >= 0, "
	     "got -1"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1e13}}]",
	     "resources[0].scalar.value: must be at most 1000000000000"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\","
	     "\"ranges\":{\"range\":[{\"begin\":5,\"end\":1}]}}]",
	     "resources[0].ranges.range[0]: range begin 5 > end 1"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\","
	     "\"ranges\":{\"range\":[{\"begin\":-5,\"end\":1}]}}]",
	     "ranges.range[0]: begin and end must be integers >= 0"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\","
	     "\"ranges\":{\"range\":[{\"begin\":1.5,\"end\":3}]}}]",
	     "begin and end must be integers"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\","
	     "\"ranges\":{\"range\":[{\"begin\":1,\"end\":1e19}]}}]",
	     "begin and end must be integers >= 0"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\","
	     "\"ranges\":{\"range\":[{\"begin\":1}]}}]",
	     "ranges.range[0].end: required field missing"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\"}]",
	     "ranges: required for type RANGES"},
	    {"[{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":[]}]",
	     "resources[0].ranges: must be an object"},
	    {"[{\"name\":\"b\",\"type\":\"SET\",\"set\":{\"item\":[1]}}]",
	     "resources[0].set.item[0]: must be a non-empty string"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1},\"role\":\"a//b\"}]",
	     "resources[0].role: invalid role 'a//b'"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1},"
	     "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"*\"}]}]",
	     "resources[0].reservations[0].role: role '*' is not allowed"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1},"
	     "\"reservations\":[{\"type\":\"STATIC\"}]}]",
	     "resources[0].reservations[0].role: required field missing"},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	     "\"scalar\":{\"value\":1},"
	     "\"allocation_info\":{\"role\":\"-x\"}}]",
	     "resources[0].allocation_info.role: invalid role '-x'"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_error_t jerr;
		json_t *j = json_loads(cases[i].json, 0, &jerr);
		struct resources r;
		struct err e = {{0}};

		if (!j)
			fail_msg("case %zu: test JSON does not parse: %s", i,
			         jerr.text);
		resources_init(&r);
		if (resources_from_json(&r, j, &e) != -EINVAL)
			fail_msg("case %zu %s: accepted", i, cases[i].json);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu: message '%s' lacks '%s'", i, e.msg,
			         cases[i].want);
		assert_int_equal(r.n, 0);
		json_decref(j);
	}
}

static void test_json_legacy_role_and_reservations(void **state)
{
	struct resources r;

	(void)state;
	parse_json_ok(&r, "[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	                  "\"scalar\":{\"value\":\"1.5\"},\"role\":\"ads\"},"
	                  "{\"name\":\"mem\",\"type\":\"SCALAR\","
	                  "\"scalar\":{\"value\":64},\"role\":\"*\","
	                  "\"reservations\":[{\"type\":\"STATIC\",\"role\":"
	                  "\"eng\"},{\"type\":\"DYNAMIC\",\"role\":"
	                  "\"eng/web\"}]},"
	                  "{\"name\":\"disk\",\"type\":\"SCALAR\","
	                  "\"scalar\":{\"value\":0.25},\"reservations\":[],"
	                  "\"unknown_field\":{\"x\":1}}]");
	assert_fmt(&r, "cpus(ads):1.5;mem(reservations: [(STATIC,eng),"
	               "(DYNAMIC,eng/web)]):64;disk:0.25");
	resources_release(&r);
}

static void test_json_write_shape(void **state)
{
	struct resources r;
	char *got;

	(void)state;
	parse_ok(&r, "cpus:0.1;ports:[1-2];bugs(ops):{a}");
	resources_set_alloc_role(&r, "dev");
	got = to_json(&r);
	assert_string_equal(
	    got,
	    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
	    "0.1},\"role\":\"*\",\"allocation_info\":{\"role\":\"dev\"}},"
	    "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
	    "[{\"begin\":1,\"end\":2}]},\"role\":\"*\",\"allocation_info\":"
	    "{\"role\":\"dev\"}},"
	    "{\"name\":\"bugs\",\"type\":\"SET\",\"set\":{\"item\":[\"a\"]},"
	    "\"role\":\"ops\",\"reservations\":[{\"type\":\"STATIC\","
	    "\"role\":\"ops\"}],\"allocation_info\":{\"role\":\"dev\"}}]");
	free(got);
	resources_release(&r);
}

static void test_json_round_trip(void **state)
{
	static const char *const texts[] = {
	    "cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33100];"
	    "gpus:1;cpus(ads):4;bugs(debug):{a,b,c}",
	    "cpus:0.001;mem:123456.789;cpus(eng/web/x):1000000000000",
	    "ports:[0-0,9223372036854775807-9223372036854775807]",
	    "",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct resources a, b;
		char *json;
		for (int alloc = 0; alloc < 2; alloc++) {
			parse_ok(&a, texts[i]);
			if (alloc)
				resources_set_alloc_role(&a, "r/s");
			json = to_json(&a);
			parse_json_ok(&b, json);
			assert_true(resources_contains(&a, &b));
			assert_true(resources_contains(&b, &a));
			char *fa = fmt(&a), *fb = fmt(&b);
			assert_string_equal(fa, fb);
			free(fa);
			free(fb);
			free(json);
			resources_release(&a);
			resources_release(&b);
		}
	}
}


/* ---- reservations and persistent volumes --------------------------- */

#define DYN(role) "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"" role "\",\"principal\":\"p\"}]"
#define SC(name, v) "{\"name\":\"" name "\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #v "}"
#define VOL(id, v) SC("disk", v) "," DYN("eng") ",\"disk\":{\"persistence\":{\"id\":\"" id "\"},\"volume\":{\"container_path\":\"data\",\"mode\":\"RW\"}}}"

static void test_dynamic_reservation_identity(void **state)
{
	struct resources a, b;
	char *json;

	(void)state;
	parse_json_ok(&a, "[" SC("cpus", 1) "," DYN("eng") "}," SC("cpus", 1)
	                  ",\"role\":\"eng\"}," SC("cpus", 2) "}]");
	/* dynamic, static and unreserved cpus are three entries */
	assert_int_equal(a.n, 3);
	assert_true(resource_is_dynamically_reserved(&a.v[0]));
	assert_false(resource_is_dynamically_reserved(&a.v[1]));
	assert_fmt(&a, "cpus(reservations: [(DYNAMIC,eng,p)]):1;cpus(eng):1;"
	               "cpus:2");
	parse_ok(&b, "cpus(eng):2");
	assert_false(resources_contains(&a, &b));
	resources_release(&b);
	/* the legacy form (role + reservation) is the same reservation */
	parse_json_ok(&b, "[" SC("cpus", 1) ",\"role\":\"eng\","
	                  "\"reservation\":{\"principal\":\"p\"}}]");
	assert_true(resources_contains(&a, &b));
	resources_release(&b);
	/* another principal or labels make another reservation */
	parse_json_ok(&b, "[" SC("cpus", 1) ",\"reservations\":[{\"type\":"
	                  "\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"q\"}]}]");
	assert_false(resources_contains(&a, &b));
	resources_release(&b);
	json = to_json(&a);
	assert_non_null(strstr(json, "\"reservations\":[{\"type\":\"DYNAMIC\","
	                             "\"role\":\"eng\",\"principal\":\"p\"}]"));
	parse_json_ok(&b, json);
	assert_true(resources_equal(&a, &b));
	free(json);
	resources_release(&a);
	resources_release(&b);
}

static void test_volumes_are_indivisible(void **state)
{
	struct resources a, b, half;
	char *json;

	(void)state;
	parse_json_ok(&a, "[" VOL("v1", 50) "," VOL("v1", 50) "]");
	assert_int_equal(a.n, 2); /* never merged */
	parse_json_ok(&b, "[" VOL("v1", 50) "]");
	parse_json_ok(&half, "[" VOL("v1", 25) "]");
	assert_true(resources_contains(&a, &b));
	assert_false(resources_contains(&a, &half));
	assert_int_equal(resources_subtract(&a, &half), -EINVAL);
	assert_int_equal(resources_subtract(&a, &b), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(resources_subtract(&a, &b), 0);
	assert_true(resources_is_empty(&a));
	json = to_json(&b);
	assert_non_null(strstr(json, "\"disk\":{\"persistence\":{\"id\":"
	                             "\"v1\"},\"volume\":{\"container_path\":"
	                             "\"data\",\"mode\":\"RW\"}}"));
	free(json);
	assert_fmt(&b, "disk(reservations: [(DYNAMIC,eng,p)])[v1:data]:50");
	/* a volume is not plain reserved disk */
	resources_release(&a);
	parse_json_ok(&a, "[" SC("disk", 50) "," DYN("eng") "}]");
	assert_false(resources_contains(&a, &b));
	assert_false(resources_contains(&b, &a));
	resources_release(&a);
	resources_release(&b);
	resources_release(&half);
}

static void test_reservation_json_bad(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"X\",\"role\":\"a\"}]}]",
	     "resources[0].reservations[0].type: unknown value 'X'"},
	    {"[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"DYNAMIC\"}]}]",
	     "resources[0].reservations[0].role: required field missing"},
	    {"[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"a\"},{\"type\":\"DYNAMIC\",\"role\":\"b\"}]}]",
	     "reservations[1].role: 'b' must refine"},
	    {"[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"a\"},{\"type\":\"STATIC\",\"role\":\"a/b\"}]}]",
	     "cannot refine a DYNAMIC"},
	    {"[" SC("cpus", 1) ",\"role\":\"x\",\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"a\"}]}]",
	     "resources[0].role: 'x' differs"},
	    {"[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"a\",\"labels\":{\"labels\":[{\"value\":\"v\"}]}}]}]",
	     "reservations[0].labels.labels[0]: must be an object"},
	    {"[" SC("cpus", 1) ",\"reservation\":{\"principal\":\"p\"}}]",
	     "resources[0].reservation: requires a 'role'"},
	    {"[" SC("cpus", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"}}}]",
	     "only a SCALAR 'disk'"},
	    {"[" SC("disk", 1) ",\"disk\":{\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"}}}]",
	     "disk.persistence: required"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a/b\"},\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"}}}]",
	     "disk.persistence.id: 'a/b' must be printable"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"..\"},\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"}}}]",
	     "disk.persistence.id: '..' is not allowed"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"}}}]",
	     "disk.volume: required"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"../x\",\"mode\":\"RW\"}}}]",
	     "disk.volume.container_path: '../x' must not have"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"/x\",\"mode\":\"RW\"}}}]",
	     "must be relative"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"x\"}}}]",
	     "disk.volume.mode: required"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"x\",\"mode\":\"RX\"}}}]",
	     "disk.volume.mode: unknown value 'RX'"},
	    {"[" SC("disk", 1) ",\"disk\":{\"persistence\":{\"id\":\"a\"},\"volume\":{\"container_path\":\"x\",\"mode\":\"RW\",\"host_path\":\"/\"}}}]",
	     "host_path: not allowed"},
	    {"[" SC("disk", 1) ",\"disk\":{\"source\":{\"type\":\"PATH\"}}}]",
	     "disk.source: not supported"},
	    {"[" SC("disk", 1) ",\"shared\":{}}]", "shared: shared resources"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources r;
		struct err e = {{0}};
		json_t *j = json_loads(cases[i].json, 0, NULL);
		assert_non_null(j);
		resources_init(&r);
		if (resources_from_json(&r, j, &e) != -EINVAL)
			fail_msg("case %zu accepted", i);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         cases[i].want);
		assert_int_equal(r.n, 0);
		json_decref(j);
	}
}

/* Applies op (JSON res) to total (text) and checks the result. */
static void test_apply_op_table(void **state)
{
	static const struct {
		const char *total;
		enum resources_op op;
		const char *res;
		int rc;
		const char *want; /* formatted total, or a message part */
	} cases[] = {
	    {"cpus:4;disk:100", RES_OP_RESERVE, "[" SC("cpus", 1) "," DYN("eng") "}]", 0,
	     "cpus:3;disk:100;cpus(reservations: [(DYNAMIC,eng,p)]):1"},
	    {"cpus:4", RES_OP_RESERVE, "[" SC("cpus", 5) "," DYN("eng") "}]", -ENOENT,
	     "RESERVE needs cpus:5"},
	    {"cpus(eng):4", RES_OP_RESERVE, "[" SC("cpus", 1) ",\"reservations\":[{\"type\":\"STATIC\",\"role\":\"eng\"},{\"type\":\"DYNAMIC\",\"role\":\"eng/a\"}]}]",
	     0, "cpus(eng):3;cpus(reservations: [(STATIC,eng),(DYNAMIC,eng/a)]):1"},
	    {"cpus:4", RES_OP_RESERVE, "[" SC("cpus", 1) ",\"role\":\"eng\"}]", -EINVAL,
	     "resources[0].reservations: the last reservation must be of type DYNAMIC"},
	    {"cpus:4", RES_OP_RESERVE, "[]", -EINVAL, "must not be empty"},
	    {"cpus:4", RES_OP_UNRESERVE, "[" SC("cpus", 1) "," DYN("eng") "}]", -ENOENT,
	     "UNRESERVE needs"},
	    {"disk:100", RES_OP_CREATE, "[" VOL("v1", 10) "]", -ENOENT, "CREATE needs"},
	    {"disk:100", RES_OP_CREATE, "[" SC("disk", 10) ",\"disk\":{\"persistence\":{\"id\":\"v\"},\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"}}}]",
	     -EINVAL, "persistent volumes need reserved disk"},
	    {"cpus:1", RES_OP_CREATE, "[" VOL("v1", 1) "," VOL("v1", 1) "]", -EINVAL,
	     "resources[1].disk.persistence.id: 'v1' appears twice"},
	    {"cpus:1", RES_OP_DESTROY, "[" SC("disk", 1) "," DYN("eng") "}]", -EINVAL,
	     "must be a persistent volume"},
	    {"cpus:1", RES_OP_UNRESERVE, "[" VOL("v1", 1) "]", -EINVAL, "DESTROY it first"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources total, res;
		struct err e = {{0}};
		char *before;
		int rc;

		parse_ok(&total, cases[i].total);
		parse_json_ok(&res, cases[i].res);
		before = fmt(&total);
		rc = resources_apply_op(&total, cases[i].op, &res, &e);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc,
			         cases[i].rc, e.msg);
		if (rc == 0) {
			char *got = fmt(&total);
			if (strcmp(got, cases[i].want))
				fail_msg("case %zu: got '%s'", i, got);
			free(got);
		} else {
			char *after = fmt(&total);
			assert_string_equal(before, after); /* unchanged */
			free(after);
			if (!strstr(e.msg, cases[i].want))
				fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
				         cases[i].want);
		}
		free(before);
		resources_release(&total);
		resources_release(&res);
	}
}

/* RESERVE, CREATE, DESTROY, UNRESERVE come back to the start; a
 * persistence id is unique per role; checkpoints rebuild the total. */
static void test_op_round_trip_and_checkpoint(void **state)
{
	struct resources total, start, r, v, ckpt, rebuilt;
	struct err e = {{0}};

	(void)state;
	parse_ok(&total, "cpus:4;mem:1024;disk:100;ports:[1-5]");
	resources_copy(&start, &total);
	parse_json_ok(&r, "[" SC("disk", 60) "," DYN("eng") "}," SC("cpus", 1)
	                  "," DYN("eng") "}]");
	parse_json_ok(&v, "[" VOL("v1", 40) "]");
	assert_int_equal(resources_apply_op(&total, RES_OP_RESERVE, &r, &e), 0);
	assert_int_equal(resources_apply_op(&total, RES_OP_CREATE, &v, &e), 0);
	assert_int_equal(resources_apply_op(&total, RES_OP_CREATE, &v, &e),
	                 -EEXIST);
	assert_non_null(strstr(e.msg, "exists on the agent"));
	assert_int_equal(resources_scalar(&total, "disk"), 100000);

	resources_init(&ckpt);
	resources_checkpointed(&ckpt, &total);
	assert_fmt(&ckpt, "disk(reservations: [(DYNAMIC,eng,p)]):20;"
	                  "cpus(reservations: [(DYNAMIC,eng,p)]):1;"
	                  "disk(reservations: [(DYNAMIC,eng,p)])[v1:data]:40");
	resources_copy(&rebuilt, &start);
	assert_int_equal(resources_apply_checkpointed(&rebuilt, &ckpt, &e), 0);
	assert_true(resources_equal(&rebuilt, &total));
	resources_release(&rebuilt);
	/* flattening a total gives the static resources back */
	resources_init(&rebuilt);
	resources_flatten_static(&rebuilt, &total);
	assert_true(resources_equal(&rebuilt, &start));
	resources_release(&rebuilt);
	/* a checkpoint that does not fit smaller --resources is refused */
	parse_ok(&rebuilt, "cpus:4;mem:1024;disk:50");
	assert_int_equal(resources_apply_checkpointed(&rebuilt, &ckpt, &e),
	                 -ENOENT);
	assert_fmt(&rebuilt, "cpus:4;mem:1024;disk:50");
	resources_release(&rebuilt);

	assert_int_equal(resources_apply_op(&total, RES_OP_UNRESERVE, &r, &e),
	                 -ENOENT); /* 40 of the disk is a volume */
	assert_int_equal(resources_apply_op(&total, RES_OP_DESTROY, &v, &e), 0);
	assert_int_equal(resources_apply_op(&total, RES_OP_UNRESERVE, &r, &e),
	                 0);
	assert_true(resources_equal(&total, &start));
	resources_release(&total);
	resources_release(&start);
	resources_release(&r);
	resources_release(&v);
	resources_release(&ckpt);
}

/* ---- roles --------------------------------------------------------- */

static void test_role_validate(void **state)
{
	static const struct {
		const char *role;
		bool star, ok;
	} cases[] = {
	    {"ads", false, true},   {"eng/web", false, true},
	    {"a.b", false, true},   {"a-b", false, true},
	    {"...", false, true},   {"*", true, true},
	    {"*", false, false},    {"", true, false},
	    {".", true, false},     {"..", true, false},
	    {"a/./b", true, false}, {"a/..", true, false},
	    {"-a", true, false},    {"a/-b", true, false},
	    {"a b", true, false},   {"a\tb", true, false},
	    {"a\x7f", true, false}, {"a\nb", true, false},
	    {"/a", true, false},    {"a/", true, false},
	    {"a//b", true, false},  {"a/*", true, false},
	    {"*/a", true, false},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err e = {{0}};
		int rc = role_validate(cases[i].role, cases[i].star, &e);
		if ((rc == 0) != cases[i].ok)
			fail_msg("case %zu '%s': rc %d (%s)", i, cases[i].role,
			         rc, e.msg);
		if (rc)
			assert_true(e.msg[0] != '\0');
	}
	{
		struct err e = {{0}};
		assert_int_equal(role_validate(NULL, true, &e), -EINVAL);
	}
}

static void test_allocatable_to(void **state)
{
	static const struct {
		const char *role, *want;
	} cases[] = {
	    {"*", "cpus:1"},
	    {"eng", "cpus:1;cpus(eng):2"},
	    {"eng/web", "cpus:1;cpus(eng):2;cpus(eng/web):4"},
	    {"eng/web/x", "cpus:1;cpus(eng):2;cpus(eng/web):4"},
	    {"engineering", "cpus:1;cpus(engineering):16"},
	    {"eng/db", "cpus:1;cpus(eng):2"},
	    {"ops", "cpus:1;mem(ops):8"},
	};
	struct resources all;

	(void)state;
	parse_ok(&all, "cpus:1;cpus(eng):2;cpus(eng/web):4;"
	               "cpus(engineering):16;mem(ops):8");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources out;
		char *got;
		resources_init(&out);
		resources_allocatable_to(&out, &all, cases[i].role);
		got = fmt(&out);
		if (strcmp(got, cases[i].want))
			fail_msg("role %s: got '%s', want '%s'", cases[i].role,
			         got, cases[i].want);
		free(got);
		resources_release(&out);
	}
	resources_release(&all);
}

static void test_scalars_by_name(void **state)
{
	struct resources r, out;

	(void)state;
	parse_ok(&r, "cpus:1;cpus(a):2;mem:3;ports:[1-5];mem(b):0.5");
	resources_set_alloc_role(&r, "x");
	resources_init(&out);
	resources_scalars_by_name(&out, &r);
	assert_fmt(&out, "cpus:3;mem:3.5");
	assert_int_equal(resources_scalar(&r, "cpus"), 3000);
	assert_int_equal(resources_scalar(&r, "ports"), 0);
	assert_int_equal(resources_scalar(&r, "gpus"), 0);
	resources_release(&r);
	resources_release(&out);
}

static void test_copy_is_deep(void **state)
{
	struct resources a, b;

	(void)state;
	parse_ok(&a, "cpus:1;ports:[1-5];bugs:{x,y}");
	resources_copy(&b, &a);
	resources_release(&a);
	assert_fmt(&b, "cpus:1;ports:[1-5];bugs:{x,y}");
	resources_release(&b);
	resources_init(&a);
	resources_copy(&b, &a);
	assert_true(resources_is_empty(&b));
	resources_release(&b);
}

/* ---- attributes ---------------------------------------------------- */

static void test_attributes_text(void **state)
{
	struct attributes a, c;
	struct err e = {{0}};
	const struct attribute *x;
	struct buf b = BUF_INIT;

	(void)state;
	attributes_init(&a);
	assert_int_equal(attributes_parse_text(&a,
	                                       "rack:r1; zone:2 ;"
	                                       "ports:[3-5,1-2];tags:{b,a};"
	                                       "temp:-1.5;host:a:b",
	                                       &e),
	                 0);
	assert_int_equal(a.n, 6);
	x = attributes_find(&a, "rack");
	assert_non_null(x);
	assert_int_equal(x->type, ATTRIBUTE_TEXT);
	assert_string_equal(x->text, "r1");
	x = attributes_find(&a, "zone");
	assert_int_equal(x->type, ATTRIBUTE_SCALAR);
	assert_int_equal(x->scalar, 2000);
	x = attributes_find(&a, "ports");
	assert_int_equal(x->type, ATTRIBUTE_RANGES);
	assert_int_equal(x->nranges, 1);
	assert_int_equal(x->ranges[0].end, 5);
	x = attributes_find(&a, "temp");
	assert_int_equal(x->scalar, -1500);
	assert_string_equal(attributes_find(&a, "host")->text, "a:b");
	assert_null(attributes_find(&a, "nope"));
	attributes_format(&b, &a);
	assert_string_equal(b.data, "rack:r1;zone:2;ports:[1-5];tags:{a,b};"
	                            "temp:-1.5;host:a:b");
	attributes_copy(&c, &a);
	attributes_release(&a);
	assert_string_equal(attributes_find(&c, "tags")->items[1], "b");
	attributes_release(&c);
	buf_release(&b);
}

static void test_attributes_text_bad(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"rack", "item 1 'rack': missing ':'"},
	    {"rack:", "missing value"},
	    {"a:1;:x", "item 2 ':x': name must not be empty"},
	    {"p:[2-1]", "range begin 2 > end 1"},
	    {"s:{a,", "missing '}'"},
	    {"n:1e300", "must be a finite number of at most"},
	    {"rack:r\xff", "invalid UTF-8 at byte 7"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct attributes a;
		struct err e = {{0}};
		attributes_init(&a);
		assert_int_equal(attributes_parse_text(&a, cases[i].text, &e),
		                 -EINVAL);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         cases[i].want);
		assert_int_equal(a.n, 0);
	}
}

static void test_attributes_json(void **state)
{
	static const char *const bad[][2] = {
	    {"{}", "attributes: must be an array"},
	    {"[{\"type\":\"TEXT\"}]", "attributes[0].name: required"},
	    {"[{\"name\":\"a\",\"type\":\"TEXT\"}]",
	     "attributes[0].text.value: required field missing"},
	    {"[{\"name\":\"a\",\"type\":\"BLOB\"}]",
	     "attributes[0].type: unknown value 'BLOB'"},
	    {"[{\"name\":\"a\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
	     "\"NaN\"}}]",
	     "attributes[0].scalar.value: must be a finite number"},
	    {"[{\"name\":\"a\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
	     "[{\"begin\":3,\"end\":2}]}}]",
	     "attributes[0].ranges.range[0]: range begin 3 > end 2"},
	};
	const char *good = "[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":"
			   "{\"value\":\"r1\"}},{\"name\":\"zone\",\"type\":"
			   "\"SCALAR\",\"scalar\":{\"value\":2.5}},{\"name\":"
			   "\"p\",\"type\":\"RANGES\",\"ranges\":{\"range\":"
			   "[{\"begin\":1,\"end\":2}]}},{\"name\":\"s\","
			   "\"type\":\"SET\",\"set\":{\"item\":[\"x\"]}}]";
	struct attributes a;
	struct err e = {{0}};
	json_t *j;
	struct buf b = BUF_INIT;
	struct jsonw w;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = json_loads(bad[i][0], 0, NULL);
		assert_non_null(j);
		attributes_init(&a);
		assert_int_equal(attributes_from_json(&a, j, &e), -EINVAL);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         bad[i][1]);
		assert_int_equal(a.n, 0);
		json_decref(j);
	}
	j = json_loads(good, 0, NULL);
	attributes_init(&a);
	assert_int_equal(attributes_from_json(&a, j, &e), 0);
	json_decref(j);
	jsonw_init(&w, &b);
	attributes_write_json(&w, &a);
	assert_string_equal(b.data, good);
	attributes_release(&a);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalar_fixed_point),
	    cmocka_unit_test(test_add_table),
	    cmocka_unit_test(test_subtract_table),
	    cmocka_unit_test(test_subtract_self_and_empty_entries),
	    cmocka_unit_test(test_alloc_roles_do_not_mix),
	    cmocka_unit_test(test_unmerged_entries),
	    cmocka_unit_test(test_contains_table),
	    cmocka_unit_test(test_parse_text_good),
	    cmocka_unit_test(test_parse_text_bad),
	    cmocka_unit_test(test_parse_text_bad_default_role),
	    cmocka_unit_test(test_entry_limit),
	    cmocka_unit_test(test_json_bad),
	    cmocka_unit_test(test_json_legacy_role_and_reservations),
	    cmocka_unit_test(test_json_write_shape),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_dynamic_reservation_identity),
	    cmocka_unit_test(test_volumes_are_indivisible),
	    cmocka_unit_test(test_reservation_json_bad),
	    cmocka_unit_test(test_apply_op_table),
	    cmocka_unit_test(test_op_round_trip_and_checkpoint),
	    cmocka_unit_test(test_role_validate),
	    cmocka_unit_test(test_allocatable_to),
	    cmocka_unit_test(test_scalars_by_name),
	    cmocka_unit_test(test_copy_is_deep),
	    cmocka_unit_test(test_attributes_text),
	    cmocka_unit_test(test_attributes_text_bad),
	    cmocka_unit_test(test_attributes_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
