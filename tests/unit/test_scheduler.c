/*
 * test_scheduler.c: the C scheduler library without a master: the calls it
 * builds, option validation, and the event dispatcher fed with events as
 * they come off the wire (good and bad). Also the offer packing of
 * examples/hello_framework.c, compiled in without its main().
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "atoll/scheduler.h"
#include "lib/err.h"
#include "model/resources.h"

#define HELLO_NO_MAIN
#include "../../examples/hello_framework.c"

static void expect_json(const char *got, const char *want_text)
{
	json_t *g = json_loads(got, 0, NULL);
	json_t *w = json_loads(want_text, 0, NULL);

	assert_non_null(w);
	if (!g || !json_equal(g, w))
		fail_msg("got  %s\nwant %s", got, want_text);
	json_decref(g);
	json_decref(w);
}

/* ---- call building ------------------------------------------------- */

static void test_call_build(void **state)
{
	static const struct {
		const char *fid, *type, *payload, *want;
	} cases[] = {
	    {"f1", "DECLINE", "{\"offer_ids\":[{\"value\":\"o1\"}]}",
	     "{\"framework_id\":{\"value\":\"f1\"},\"type\":\"DECLINE\","
	     "\"decline\":{\"offer_ids\":[{\"value\":\"o1\"}]}}"},
	    {"f1", "TEARDOWN", NULL,
	     "{\"framework_id\":{\"value\":\"f1\"},\"type\":\"TEARDOWN\"}"},
	    {NULL, "REVIVE", "{\"roles\":[]}",
	     "{\"type\":\"REVIVE\",\"revive\":{\"roles\":[]}}"},
	    {"f", "ACKNOWLEDGE_OPERATION_STATUS", "{}",
	     "{\"framework_id\":{\"value\":\"f\"},"
	     "\"type\":\"ACKNOWLEDGE_OPERATION_STATUS\","
	     "\"acknowledge_operation_status\":{}}"},
	    {"a\"b", "KILL", "{\"task_id\":{\"value\":\"t\"}}",
	     "{\"framework_id\":{\"value\":\"a\\\"b\"},\"type\":\"KILL\","
	     "\"kill\":{\"task_id\":{\"value\":\"t\"}}}"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *p = cases[i].payload
		                ? json_loads(cases[i].payload, 0, NULL)
		                : NULL;
		size_t len = 0;
		char *text =
		    atoll_call_build(cases[i].fid, cases[i].type, p, &len);
		assert_non_null(text);
		assert_int_equal(len, strlen(text));
		expect_json(text, cases[i].want);
		free(text);
	}
}

static void test_call_build_bad_type(void **state)
{
	static const char *const bad[] = {
	    "",
	    "accept",
	    "ACCEPT ",
	    "A-B",
	    "ACCEPT\n",
	    "\"X\"",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAA",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		/* the payload is taken even on failure (ASan checks) */
		json_t *p = json_object();
		assert_null(atoll_call_build("f", bad[i], p, NULL));
	}
	assert_null(atoll_call_build("f", NULL, NULL, NULL));
}

static void test_subscribe_build(void **state)
{
	json_t *fi = json_loads("{\"user\":\"u\",\"name\":\"n\","
	                        "\"roles\":[\"r\"]}",
	                        0, NULL);
	json_t *copy = json_deep_copy(fi);
	char *text;

	(void)state;
	text = atoll_subscribe_build(fi, NULL, NULL);
	expect_json(text, "{\"type\":\"SUBSCRIBE\",\"subscribe\":"
	                  "{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
	                  "\"roles\":[\"r\"]}}}");
	free(text);
	/* a resubscription sets both ids */
	text = atoll_subscribe_build(fi, "fw-9", NULL);
	expect_json(text, "{\"framework_id\":{\"value\":\"fw-9\"},"
	                  "\"type\":\"SUBSCRIBE\",\"subscribe\":"
	                  "{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
	                  "\"roles\":[\"r\"],\"id\":{\"value\":\"fw-9\"}}}}");
	free(text);
	/* the caller's object is untouched */
	assert_true(json_equal(fi, copy));
	json_decref(copy);
	json_decref(fi);

	fi = json_array();
	assert_null(atoll_subscribe_build(fi, "x", NULL));
	assert_null(atoll_subscribe_build(NULL, NULL, NULL));
	json_decref(fi);
}

/* ---- options ------------------------------------------------------- */

static void test_new_validation(void **state)
{
	static const struct {
		const char *master, *fi, *why; /* why: substring, NULL = ok */
	} cases[] = {
	    {"127.0.0.1:5050", "{\"user\":\"u\",\"name\":\"n\"}", NULL},
	    {" 127.0.0.1:5050 , http://10.0.0.2:5051/ ",
	     "{\"user\":\"u\",\"name\":\"n\"}", NULL},
	    {"localhost", "{\"user\":\"u\",\"name\":\"n\"}", NULL},
	    {"", "{}", "master"},
	    {NULL, "{}", "master"},
	    {" , ", "{}", "master"},
	    {"zk://h:2181/", "{}", "zk://"},
	    {"zk://h1:2181,h2:2181/mesos", "{\"user\":\"u\",\"name\":\"n\"}",
	     NULL},
	    {"h:1", NULL, "framework_info"},
	    {"h:1", "not json", "framework_info"},
	    {"h:1", "[1]", "framework_info"},
	    {"h:1", "{\"id\":\"plain\"}", "framework_info.id"},
	    {"h:1", "{\"id\":{\"value\":\"\"}}", "framework_info.id"},
	};
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct atoll_scheduler_opts o = {
		    .master = cases[i].master,
		    .framework_info = cases[i].fi,
		};
		const char *why = NULL;
		struct atoll_scheduler *s =
		    atoll_scheduler_new(&loop, &o, NULL, NULL, &why);
		if (!cases[i].why) {
			if (!s)
				fail_msg("case %zu refused: %s", i, why);
			assert_null(atoll_scheduler_framework_id(s));
			assert_false(atoll_scheduler_is_subscribed(s));
			atoll_scheduler_free(s);
		} else {
			assert_null(s);
			assert_non_null(why);
			if (!strstr(why, cases[i].why))
				fail_msg("case %zu: '%s' lacks '%s'", i, why,
				         cases[i].why);
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- event dispatch ------------------------------------------------ */

struct rec {
	int subscribed, offers, rescind, update, message, failure, error,
	    heartbeat;
	char last[256];
	size_t noffers;
	int failure_status;
	double heartbeat_interval;
};

static void on_subscribed(struct atoll_scheduler *s, const char *fid, double hb,
                          void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->subscribed++;
	r->heartbeat_interval = hb;
	snprintf(r->last, sizeof(r->last), "%s", fid);
}

static void on_offers(struct atoll_scheduler *s, json_t *offers, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->offers++;
	r->noffers = json_array_size(offers);
}

static void on_rescind(struct atoll_scheduler *s, const char *oid, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->rescind++;
	snprintf(r->last, sizeof(r->last), "%s", oid);
}

static void on_update(struct atoll_scheduler *s, json_t *status, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->update++;
	snprintf(r->last, sizeof(r->last), "%s",
	         json_string_value(json_object_get(status, "state")));
}

static void on_message(struct atoll_scheduler *s, const char *agent,
                       const char *exec, const char *data, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->message++;
	snprintf(r->last, sizeof(r->last), "%s/%s/%s", agent, exec, data);
}

static void on_failure(struct atoll_scheduler *s, const char *agent,
                       const char *exec, int status, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->failure++;
	r->failure_status = status;
	snprintf(r->last, sizeof(r->last), "%s/%s", agent ? agent : "-",
	         exec ? exec : "-");
}

static void on_error(struct atoll_scheduler *s, const char *msg, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->error++;
	snprintf(r->last, sizeof(r->last), "%s", msg);
}

static void on_heartbeat(struct atoll_scheduler *s, void *arg)
{
	struct rec *r = arg;
	(void)s;
	r->heartbeat++;
}

static const struct atoll_scheduler_callbacks rec_cb = {
    .subscribed = on_subscribed,
    .offers = on_offers,
    .rescind = on_rescind,
    .update = on_update,
    .message = on_message,
    .failure = on_failure,
    .error = on_error,
    .heartbeat = on_heartbeat,
};

static void feed(struct atoll_scheduler *s, const char *text)
{
	json_t *ev = json_loads(text, 0, NULL);

	if (!ev)
		fail_msg("test event is not JSON: %s", text);
	atoll_scheduler_handle_event(s, ev);
	json_decref(ev);
}

static void test_dispatch(void **state)
{
	struct atoll_scheduler_opts o = {
	    .master = "127.0.0.1:1",
	    .framework_info = "{\"user\":\"u\",\"name\":\"n\","
			      "\"id\":{\"value\":\"old\"}}",
	    .auto_acknowledge = true,
	};
	struct rec r = {0};
	struct atoll_scheduler *s;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	s = atoll_scheduler_new(&loop, &o, &rec_cb, &r, NULL);
	assert_non_null(s);
	/* framework_info.id is the id to resubscribe with */
	assert_string_equal(atoll_scheduler_framework_id(s), "old");
	assert_false(atoll_scheduler_is_subscribed(s));
	/* calls need a subscription */
	assert_int_equal(atoll_scheduler_teardown(s), -ENOTCONN);
	assert_int_equal(atoll_scheduler_reconcile(s, NULL), -ENOTCONN);

	/* bad SUBSCRIBED: ignored */
	feed(s, "{\"type\":\"SUBSCRIBED\",\"subscribed\":{}}");
	assert_int_equal(r.subscribed, 0);
	assert_false(atoll_scheduler_is_subscribed(s));
	feed(s, "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
	        "{\"value\":\"fw-1\"},\"heartbeat_interval_seconds\":15}}");
	assert_int_equal(r.subscribed, 1);
	assert_string_equal(r.last, "fw-1");
	assert_true(r.heartbeat_interval == 15);
	assert_string_equal(atoll_scheduler_framework_id(s), "fw-1");
	assert_true(atoll_scheduler_is_subscribed(s));

	feed(s, "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{},{},{}]}}");
	assert_int_equal(r.offers, 1);
	assert_int_equal(r.noffers, 3);
	/* the flat form from the docs is not what masters send: ignored */
	feed(s, "{\"type\":\"OFFERS\",\"offers\":[{}]}");
	feed(s, "{\"type\":\"OFFERS\"}");
	assert_int_equal(r.offers, 1);

	feed(s, "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":"
	        "{\"value\":\"o-7\"}}}");
	assert_int_equal(r.rescind, 1);
	assert_string_equal(r.last, "o-7");
	feed(s, "{\"type\":\"RESCIND\",\"rescind\":{\"offer_id\":\"o\"}}");
	assert_int_equal(r.rescind, 1);

	/* an update with a uuid is acknowledged after the callback; without
	 * a stream the acknowledgement fails quietly */
	feed(s, "{\"type\":\"UPDATE\",\"update\":{\"status\":{"
	        "\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"a\"},"
	        "\"state\":\"TASK_RUNNING\","
	        "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}");
	assert_int_equal(r.update, 1);
	assert_string_equal(r.last, "TASK_RUNNING");
	feed(s, "{\"type\":\"UPDATE\",\"update\":{\"status\":{"
	        "\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_LOST\"}}}");
	assert_int_equal(r.update, 2);
	assert_string_equal(r.last, "TASK_LOST");
	feed(s, "{\"type\":\"UPDATE\",\"update\":{\"status\":7}}");
	feed(s, "{\"type\":\"UPDATE\"}");
	assert_int_equal(r.update, 2);

	feed(s, "{\"type\":\"MESSAGE\",\"message\":{\"agent_id\":{\"value\":"
	        "\"a\"},\"executor_id\":{\"value\":\"e\"},\"data\":\"aGk=\"}}");
	assert_int_equal(r.message, 1);
	assert_string_equal(r.last, "a/e/aGk=");

	feed(s, "{\"type\":\"FAILURE\",\"failure\":{\"agent_id\":{\"value\":"
	        "\"a\"},\"executor_id\":{\"value\":\"e\"},\"status\":9}}");
	assert_int_equal(r.failure, 1);
	assert_int_equal(r.failure_status, 9);
	assert_string_equal(r.last, "a/e");
	feed(s, "{\"type\":\"FAILURE\",\"failure\":{\"agent_id\":{\"value\":"
	        "\"a\"}}}");
	assert_int_equal(r.failure, 2);
	assert_int_equal(r.failure_status, -1);
	assert_string_equal(r.last, "a/-");

	feed(s, "{\"type\":\"ERROR\",\"error\":{\"message\":\"nested\"}}");
	assert_int_equal(r.error, 1);
	assert_string_equal(r.last, "nested");
	feed(s, "{\"type\":\"ERROR\",\"message\":\"flat\"}");
	assert_int_equal(r.error, 2);
	assert_string_equal(r.last, "flat");
	feed(s, "{\"type\":\"ERROR\"}");
	assert_int_equal(r.error, 3);
	assert_string_equal(r.last, "");

	feed(s, "{\"type\":\"HEARTBEAT\"}");
	assert_int_equal(r.heartbeat, 1);
	/* unknown or missing types change nothing */
	feed(s, "{\"type\":\"INVERSE_OFFERS\"}");
	feed(s, "{\"type\":7}");
	feed(s, "[]");
	assert_int_equal(r.subscribed + r.offers + r.rescind + r.update +
	                     r.message + r.failure + r.error + r.heartbeat,
	                 1 + 1 + 1 + 2 + 1 + 2 + 3 + 1);

	atoll_scheduler_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- hello_framework's offer packing ------------------------------- */

static void parse_res(struct resources *r, const char *text)
{
	struct err e = {{0}};

	resources_init(r);
	if (resources_parse_text(r, text, NULL, &e))
		fail_msg("'%s': %s", text, e.msg);
}

static void test_pack(void **state)
{
	static const struct {
		const char *offer;
		double cpus, mem;
		size_t want, fit;
	} cases[] = {
	    {"cpus:1;mem:128", 0.1, 32, 10, 4},    /* mem bound */
	    {"cpus:0.3;mem:1000", 0.1, 32, 10, 3}, /* exact: 3 x 0.1 */
	    {"cpus:0.29;mem:1000", 0.1, 32, 10, 2},
	    {"cpus:4;mem:4096", 0.1, 32, 5, 5}, /* want bound */
	    {"cpus:4", 0.1, 32, 5, 0},          /* no mem */
	    {"mem:4096", 0.1, 32, 5, 0},        /* no cpus */
	    {"cpus:0.05;mem:32", 0.1, 32, 5, 0},
	    /* reserved and unreserved pieces add up */
	    {"cpus(r):0.15;cpus:0.1;mem:100", 0.1, 32, 5, 2},
	    {"cpus:1;mem:64;disk:100;ports:[1-2]", 0.5, 32, 5, 2},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources offer, used, tasks[16];
		size_t n;

		parse_res(&offer, cases[i].offer);
		for (size_t k = 0; k < ARRAY_SIZE(tasks); k++)
			resources_init(&tasks[k]);
		n = hello_pack(&offer, res_from_double(cases[i].cpus),
		               res_from_double(cases[i].mem), cases[i].want,
		               tasks);
		if (n != cases[i].fit)
			fail_msg("case %zu (%s): %zu tasks fit, want %zu", i,
			         cases[i].offer, n, cases[i].fit);
		/* each task has exactly its share; all of them together are
		 * a part of the offer */
		resources_init(&used);
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(resources_scalar(&tasks[k], "cpus"),
			                 res_from_double(cases[i].cpus));
			assert_int_equal(resources_scalar(&tasks[k], "mem"),
			                 res_from_double(cases[i].mem));
			assert_int_equal(resources_scalar(&tasks[k], "disk"),
			                 0);
			resources_add(&used, &tasks[k]);
		}
		assert_true(resources_contains(&offer, &used));
		for (size_t k = n; k < ARRAY_SIZE(tasks); k++)
			assert_true(resources_is_empty(&tasks[k]));
		for (size_t k = 0; k < ARRAY_SIZE(tasks); k++)
			resources_release(&tasks[k]);
		resources_release(&used);
		resources_release(&offer);
	}
}

static void test_take_keeps_roles(void **state)
{
	struct resources avail, out;
	struct err e = {{0}};

	(void)state;
	parse_res(&avail, "cpus(r):0.15;cpus:0.1;mem:100");
	resources_set_alloc_role(&avail, "r");
	resources_init(&out);
	assert_int_equal(hello_take_scalar(&avail, "cpus", 200, &out), 0);
	assert_int_equal(resources_scalar(&out, "cpus"), 200);
	assert_int_equal(resources_scalar(&avail, "cpus"), 50);
	for (size_t i = 0; i < out.n; i++)
		assert_string_equal(out.v[i].alloc_role, "r");
	/* too much: nothing moves */
	assert_int_equal(hello_take_scalar(&avail, "cpus", 51, &out), -ENOSPC);
	assert_int_equal(resources_scalar(&avail, "cpus"), 50);
	assert_int_equal(resources_scalar(&out, "cpus"), 200);
	assert_int_equal(hello_take_scalar(&avail, "gpus", 1, &out), -ENOSPC);
	assert_int_equal(hello_take_scalar(&avail, "gpus", 0, &out), 0);
	(void)e;
	resources_release(&avail);
	resources_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_build),
	    cmocka_unit_test(test_call_build_bad_type),
	    cmocka_unit_test(test_subscribe_build),
	    cmocka_unit_test(test_new_validation),
	    cmocka_unit_test(test_dispatch),
	    cmocka_unit_test(test_pack),
	    cmocka_unit_test(test_take_keeps_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
