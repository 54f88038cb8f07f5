/*
 * test_mesos.c: the Mesos v1 data model: enum wire names, id validation,
 * and the validating JSON parsers and writers of TaskStatus,
 * FrameworkInfo, CommandInfo, TaskInfo and AgentInfo. Bad inputs are
 * tables of JSON text and the message substring the user should see.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/mesos.h"

/* ---- helpers ------------------------------------------------------- */

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
	return j;
}

struct bad_case {
	const char *json, *want;
};

typedef int parse_fn(void *obj, const json_t *j, struct err *e);

static int parse_status(void *o, const json_t *j, struct err *e)
{
	return task_status_from_json(o, j, e);
}

static int parse_framework(void *o, const json_t *j, struct err *e)
{
	return framework_info_from_json(o, j, e);
}

static int parse_command(void *o, const json_t *j, struct err *e)
{
	return command_info_from_json(o, j, e);
}

static int parse_task(void *o, const json_t *j, struct err *e)
{
	return task_info_from_json(o, j, e);
}

static int parse_agent(void *o, const json_t *j, struct err *e)
{
	return agent_info_from_json(o, j, e);
}

/* Runs a table of inputs that must fail with the given message part. */
static void check_bad(const struct bad_case *c, size_t n, parse_fn *parse,
                      void (*init)(void *), void (*release)(void *))
{
	union {
		struct task_status st;
		struct framework_info fi;
		struct command_info ci;
		struct task_info ti;
		struct agent_info ai;
	} obj;

	for (size_t i = 0; i < n; i++) {
		struct err e = {{0}};
		json_t *j = load(c[i].json);
		init(&obj);
		if (parse(&obj, j, &e) != -EINVAL)
			fail_msg("case %zu %s: accepted", i, c[i].json);
		if (!strstr(e.msg, c[i].want))
			fail_msg("case %zu %s: message '%s' lacks '%s'", i,
			         c[i].json, e.msg, c[i].want);
		release(&obj);
		json_decref(j);
	}
}

static void status_init(void *o)
{
	task_status_init(o);
}
static void status_release(void *o)
{
	task_status_release(o);
}
static void framework_init(void *o)
{
	framework_info_init(o);
}
static void framework_release(void *o)
{
	framework_info_release(o);
}
static void command_init(void *o)
{
	command_info_init(o);
}
static void command_release(void *o)
{
	command_info_release(o);
}
static void task_init(void *o)
{
	task_info_init(o);
}
static void task_release(void *o)
{
	task_info_release(o);
}
static void agent_init(void *o)
{
	agent_info_init(o);
}
static void agent_release(void *o)
{
	agent_info_release(o);
}

/* ---- enums --------------------------------------------------------- */

static void test_enum_round_trips(void **state)
{
	enum task_state s;
	enum task_source src;
	enum task_reason r;

	(void)state;
	for (int i = 0; i < TASK_STATE_COUNT; i++) {
		const char *name = task_state_name((enum task_state)i);
		assert_non_null(name);
		assert_int_equal(strncmp(name, "TASK_", 5), 0);
		assert_int_equal(task_state_parse(name, &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(task_state_name(TASK_RUNNING), "TASK_RUNNING");
	assert_string_equal(task_state_name(TASK_GONE_BY_OPERATOR),
	                    "TASK_GONE_BY_OPERATOR");
	assert_int_equal(task_state_parse("TASK_BOGUS", &s), -EINVAL);
	assert_int_equal(task_state_parse("task_running", &s), -EINVAL);
	assert_int_equal(task_state_parse(NULL, &s), -EINVAL);

	assert_null(task_source_name(SOURCE_UNSET));
	for (int i = SOURCE_MASTER; i < SOURCE_COUNT; i++) {
		const char *name = task_source_name((enum task_source)i);
		assert_non_null(name);
		assert_int_equal(task_source_parse(name, &src), 0);
		assert_int_equal(src, i);
	}
	assert_string_equal(task_source_name(SOURCE_EXECUTOR),
	                    "SOURCE_EXECUTOR");
	assert_int_equal(task_source_parse("SOURCE_NOPE", &src), -EINVAL);

	assert_null(task_reason_name(REASON_UNSET));
	for (int i = REASON_UNSET + 1; i < REASON_COUNT; i++) {
		const char *name = task_reason_name((enum task_reason)i);
		assert_non_null(name);
		assert_int_equal(strncmp(name, "REASON_", 7), 0);
		assert_int_equal(task_reason_parse(name, &r), 0);
		assert_int_equal(r, i);
	}
	assert_string_equal(task_reason_name(REASON_TASK_INVALID),
	                    "REASON_TASK_INVALID");
	assert_int_equal(task_reason_parse("REASON_TASK_INVALID", &r), 0);
	assert_int_equal(r, REASON_TASK_INVALID);
	assert_int_equal(task_reason_parse("REASON_X", &r), -EINVAL);
}

static void test_terminal_states(void **state)
{
	static const enum task_state terminal[] = {
	    TASK_FINISHED, TASK_FAILED,  TASK_KILLED, TASK_ERROR,
	    TASK_LOST,     TASK_DROPPED, TASK_GONE,   TASK_GONE_BY_OPERATOR,
	};
	int nterm = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(terminal); i++)
		assert_true(task_state_is_terminal(terminal[i]));
	for (int i = 0; i < TASK_STATE_COUNT; i++)
		nterm += task_state_is_terminal((enum task_state)i);
	assert_int_equal(nterm, ARRAY_SIZE(terminal));
	assert_false(task_state_is_terminal(TASK_RUNNING));
	assert_false(task_state_is_terminal(TASK_UNREACHABLE));
}

/* ---- ids ----------------------------------------------------------- */

static void test_id_validate(void **state)
{
	static const struct {
		const char *id;
		const char *want; /* NULL = valid */
	} cases[] = {
	    {"t1", NULL},
	    {"my-task.1_2:x@y", NULL},
	    {"..a", NULL},
	    {"\xc3\xa9t\xc3\xa9", NULL},
	    {"", "task_id: must not be empty"},
	    {".", "must not be '.' or '..'"},
	    {"..", "must not be '.' or '..'"},
	    {"a/b", "task_id: must not contain '/', got 'a/b'"},
	    {"/", "must not contain '/'"},
	    {"a b", "whitespace or control"},
	    {"a\tb", "whitespace or control"},
	    {"a\nb", "whitespace or control"},
	    {"a\x7f", "whitespace or control"},
	    {NULL, "task_id: required field missing"},
	};
	char long_id[300];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct err e = {{0}};
		int rc = mesos_id_validate(cases[i].id, "task_id", &e);
		if (!cases[i].want) {
			if (rc)
				fail_msg("case %zu: %s", i, e.msg);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         cases[i].want);
	}
	memset(long_id, 'x', sizeof(long_id));
	long_id[255] = '\0';
	{
		struct err e = {{0}};
		assert_int_equal(mesos_id_validate(long_id, "id", &e), 0);
		long_id[255] = 'x';
		long_id[256] = '\0';
		assert_int_equal(mesos_id_validate(long_id, "id", &e), -EINVAL);
		assert_non_null(strstr(e.msg, "at most 255 bytes"));
	}
}

static void test_json_id(void **state)
{
	json_t *j = load("{\"a\":{\"value\":\"x\"},\"b\":{\"value\":1},"
	                 "\"c\":\"x\",\"d\":{}}");

	(void)state;
	assert_string_equal(mesos_json_id(j, "a"), "x");
	assert_null(mesos_json_id(j, "b"));
	assert_null(mesos_json_id(j, "c"));
	assert_null(mesos_json_id(j, "d"));
	assert_null(mesos_json_id(j, "e"));
	assert_null(mesos_json_id(NULL, "a"));
	json_decref(j);
}

/* ---- TaskStatus ---------------------------------------------------- */

static char *write_status(const struct task_status *st)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	jsonw_init(&w, &b);
	task_status_write_json(&w, st);
	return buf_detach(&b, NULL);
}

static void test_task_status_round_trip(void **state)
{
	struct task_status st, back, cp;
	struct err e = {{0}};
	char *text;
	json_t *j;

	(void)state;
	task_status_init(&st);
	st.task_id = xstrdup("t1");
	st.agent_id = xstrdup("a1");
	st.executor_id = xstrdup("e1");
	st.state = TASK_RUNNING;
	st.source = SOURCE_EXECUTOR;
	st.reason = REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
	st.message = xstrdup("all \"good\"\n");
	st.timestamp = 1700000000.25;
	st.has_uuid = true;
	for (int i = 0; i < 16; i++)
		st.uuid[i] = (uint8_t)(i * 17 + 3);
	st.healthy = 0;
	st.data = xstrdup("aGVsbG8=");

	text = write_status(&st);
	j = load(text);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	                    "TASK_RUNNING");
	assert_string_equal(json_string_value(json_object_get(j, "source")),
	                    "SOURCE_EXECUTOR");
	assert_true(json_is_false(json_object_get(j, "healthy")));
	assert_string_equal(mesos_json_id(j, "task_id"), "t1");
	task_status_init(&back);
	assert_int_equal(task_status_from_json(&back, j, &e), 0);
	assert_string_equal(back.task_id, "t1");
	assert_string_equal(back.agent_id, "a1");
	assert_string_equal(back.executor_id, "e1");
	assert_int_equal(back.state, TASK_RUNNING);
	assert_int_equal(back.source, SOURCE_EXECUTOR);
	assert_int_equal(back.reason, REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
	assert_string_equal(back.message, "all \"good\"\n");
	assert_true(back.timestamp == 1700000000.25);
	assert_true(back.has_uuid);
	assert_memory_equal(back.uuid, st.uuid, 16);
	assert_int_equal(back.healthy, 0);
	assert_string_equal(back.data, "aGVsbG8=");
	json_decref(j);

	task_status_copy(&cp, &back);
	task_status_release(&back);
	free(text);
	text = write_status(&cp);
	{
		char *orig = write_status(&st);
		assert_string_equal(text, orig);
		free(orig);
	}
	free(text);
	task_status_release(&cp);
	task_status_release(&st);
	task_status_release(&st); /* twice is harmless */
}

static void test_task_status_minimal(void **state)
{
	struct task_status st;
	struct err e = {{0}};
	json_t *j = load("{\"task_id\":{\"value\":\"t\"},\"state\":"
	                 "\"TASK_LOST\",\"source\":\"SOURCE_FUTURE\","
	                 "\"reason\":\"REASON_FUTURE\",\"healthy\":null,"
	                 "\"extra\":[1,2]}");
	char *text;

	(void)state;
	task_status_init(&st);
	assert_int_equal(task_status_from_json(&st, j, &e), 0);
	assert_int_equal(st.state, TASK_LOST);
	assert_int_equal(st.source, SOURCE_UNSET);
	assert_int_equal(st.reason, REASON_UNSET);
	assert_int_equal(st.healthy, -1);
	assert_false(st.has_uuid);
	text = write_status(&st);
	assert_string_equal(text, "{\"task_id\":{\"value\":\"t\"},"
	                          "\"state\":\"TASK_LOST\"}");
	free(text);
	task_status_release(&st);
	json_decref(j);
}

static void test_task_status_bad(void **state)
{
	static const struct bad_case cases[] = {
	    {"[]", "must be an object"},
	    {"{\"state\":\"TASK_RUNNING\"}", "task_id: required field missing"},
	    {"{\"task_id\":\"t\",\"state\":\"TASK_RUNNING\"}",
	     "task_id: must be an object"},
	    {"{\"task_id\":{\"value\":7},\"state\":\"TASK_RUNNING\"}",
	     "task_id.value: must be a string"},
	    {"{\"task_id\":{\"value\":\"a/b\"},\"state\":\"TASK_RUNNING\"}",
	     "task_id: must not contain '/'"},
	    {"{\"task_id\":{\"value\":\"t\"}}",
	     "state: required field missing"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_NOPE\"}",
	     "state: unknown value 'TASK_NOPE'"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":1}",
	     "state: must be a string"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"uuid\":\"!!!\"}",
	     "uuid: must be the base64 of 16 bytes"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"uuid\":\"AAAAAAAAAAAAAAAAAAAA\"}",
	     "uuid: must be the base64 of 16 bytes"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"uuid\":\"AAAAAAAAAAAAAAAAAAAAAAAAAA==\"}",
	     "uuid: must be the base64 of 16 bytes"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"timestamp\":\"NaN\"}",
	     "timestamp: must be a finite number"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"timestamp\":\"soon\"}",
	     "timestamp: must be a number"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"healthy\":\"yes\"}",
	     "healthy: must be true or false"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"message\":5}",
	     "message: must be a string"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"agent_id\":{\"value\":\"\"}}",
	     "agent_id: must not be empty"},
	    {"{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\","
	     "\"source\":3}",
	     "source: must be a string"},
	};
	(void)state;
	check_bad(cases, ARRAY_SIZE(cases), parse_status, status_init,
	          status_release);
}

static void test_task_status_uuid_base64(void **state)
{
	/* 16 bytes: 00 01 .. 0f */
	json_t *j = load("{\"task_id\":{\"value\":\"t\"},\"state\":"
	                 "\"TASK_RUNNING\",\"uuid\":"
	                 "\"AAECAwQFBgcICQoLDA0ODw==\"}");
	struct task_status st;
	struct err e = {{0}};

	(void)state;
	task_status_init(&st);
	assert_int_equal(task_status_from_json(&st, j, &e), 0);
	assert_true(st.has_uuid);
	for (int i = 0; i < 16; i++)
		assert_int_equal(st.uuid[i], i);
	task_status_release(&st);
	json_decref(j);
}

/* ---- FrameworkInfo ------------------------------------------------- */

static void test_framework_info_good(void **state)
{
	static const struct {
		const char *json;
		const char *roles; /* comma-separated */
		unsigned caps;
	} cases[] = {
	    {"{\"user\":\"alice\",\"name\":\"demo\"}", "*", 0},
	    {"{\"user\":\"\",\"name\":\"demo\",\"role\":\"dev\"}", "dev", 0},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[]}", "*", 0},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",\"b/c\"],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"},"
	     "{\"type\":\"FUTURE_THING\"},{\"type\":\"PARTITION_AWARE\"},"
	     "{}]}",
	     "a,b/c", FW_CAP_MULTI_ROLE | FW_CAP_PARTITION_AWARE},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "", FW_CAP_MULTI_ROLE},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"*\"],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "*", FW_CAP_MULTI_ROLE},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct framework_info fi;
		struct err e = {{0}};
		json_t *j = load(cases[i].json);
		struct buf got = BUF_INIT;

		framework_info_init(&fi);
		if (framework_info_from_json(&fi, j, &e))
			fail_msg("case %zu: %s", i, e.msg);
		buf_grow(&got, 0);
		for (size_t k = 0; k < fi.nroles; k++)
			buf_addf(&got, "%s%s", k ? "," : "", fi.roles[k]);
		assert_string_equal(got.data, cases[i].roles);
		assert_int_equal(fi.capabilities, cases[i].caps);
		buf_release(&got);
		framework_info_release(&fi);
		json_decref(j);
	}
}

static void test_framework_info_bad(void **state)
{
	static const struct bad_case cases[] = {
	    {"\"x\"", "must be an object"},
	    {"{\"name\":\"n\"}", "user: required field missing"},
	    {"{\"user\":\"u\"}", "name: required field missing"},
	    {"{\"user\":5,\"name\":\"n\"}", "user: must be a string"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"a\","
	     "\"roles\":[\"a\"]}",
	     "roles: requires the MULTI_ROLE capability"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"a\","
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "role: must not be set with the MULTI_ROLE capability"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",\"a\"],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "roles[1]: duplicate role 'a'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",\"b//c\"],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "roles[1]: invalid role 'b//c'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\",3],"
	     "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}",
	     "roles[1]: must be a string"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"..\"}",
	     "role: invalid role '..'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"\"}",
	     "role: role must not be empty"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"-x\"}",
	     "role: invalid role '-x'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"role\":\"a b\"}",
	     "role: invalid role 'a b'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":-1}",
	     "failover_timeout: must be a finite number >= 0, got -1"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":"
	     "\"Infinity\"}",
	     "failover_timeout: must be a finite number"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":true}",
	     "failover_timeout: must be a number"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"checkpoint\":\"yes\"}",
	     "checkpoint: must be true or false"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"id\":{\"value\":\"a/b\"}}",
	     "id: must not contain '/'"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"capabilities\":{}}",
	     "capabilities: must be an array"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"capabilities\":[1]}",
	     "capabilities[0]: must be an object"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"capabilities\":"
	     "[{\"type\":1}]}",
	     "capabilities[0].type: must be a string"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"labels\":[]}",
	     "labels: must be an object"},
	    {"{\"user\":\"u\",\"name\":\"n\",\"roles\":\"a\"}",
	     "roles: must be an array"},
	};
	(void)state;
	check_bad(cases, ARRAY_SIZE(cases), parse_framework, framework_init,
	          framework_release);
}

static void test_framework_info_round_trip(void **state)
{
	static const char *const inputs[] = {
	    "{\"id\":{\"value\":\"fw-1\"},\"user\":\"alice\",\"name\":"
	    "\"demo\",\"failover_timeout\":604800,\"checkpoint\":true,"
	    "\"roles\":[\"dev\",\"ops/x\"],\"hostname\":\"h\","
	    "\"principal\":\"p\",\"webui_url\":\"http://h:1/\","
	    "\"capabilities\":[{\"type\":\"REVOCABLE_RESOURCES\"},"
	    "{\"type\":\"MULTI_ROLE\"},{\"type\":\"REGION_AWARE\"}],"
	    "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]}}",
	    "{\"user\":\"bob\",\"name\":\"legacy\",\"role\":\"web\","
	    "\"failover_timeout\":0.5}",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		struct framework_info fi, back, cp;
		struct err e = {{0}};
		struct buf b1 = BUF_INIT, b2 = BUF_INIT;
		struct jsonw w;
		json_t *j = load(inputs[i]);

		framework_info_init(&fi);
		if (framework_info_from_json(&fi, j, &e))
			fail_msg("case %zu: %s", i, e.msg);
		json_decref(j);
		jsonw_init(&w, &b1);
		framework_info_write_json(&w, &fi);
		j = load(b1.data);
		framework_info_init(&back);
		if (framework_info_from_json(&back, j, &e))
			fail_msg("case %zu: written form rejected: %s (%s)", i,
			         e.msg, b1.data);
		json_decref(j);
		framework_info_copy(&cp, &back);
		framework_info_release(&back);
		jsonw_init(&w, &b2);
		framework_info_write_json(&w, &cp);
		assert_string_equal(b1.data, b2.data);
		assert_int_equal(cp.capabilities, fi.capabilities);
		assert_true(cp.failover_timeout == fi.failover_timeout);
		framework_info_release(&fi);
		framework_info_release(&cp);
		buf_release(&b1);
		buf_release(&b2);
	}
}

static void test_framework_info_has_role(void **state)
{
	struct framework_info fi;
	struct err e = {{0}};
	json_t *j = load("{\"user\":\"u\",\"name\":\"n\",\"roles\":[\"a\","
	                 "\"b/c\"],\"capabilities\":[{\"type\":"
	                 "\"MULTI_ROLE\"}]}");

	(void)state;
	framework_info_init(&fi);
	assert_int_equal(framework_info_from_json(&fi, j, &e), 0);
	assert_true(framework_info_has_role(&fi, "a"));
	assert_true(framework_info_has_role(&fi, "b/c"));
	assert_false(framework_info_has_role(&fi, "b"));
	assert_false(framework_info_has_role(&fi, "*"));
	assert_false(framework_info_has_role(&fi, NULL));
	framework_info_release(&fi);
	json_decref(j);
}

/* ---- CommandInfo --------------------------------------------------- */

static void test_command_info_good(void **state)
{
	struct command_info c;
	struct err e = {{0}};
	json_t *j =
	    load("{\"value\":\"/bin/echo\",\"shell\":false,\"arguments\":"
	         "[\"echo\",\"hi\"],\"user\":\"nobody\",\"environment\":"
	         "{\"variables\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":"
	         "\"B\",\"type\":\"VALUE\",\"value\":\"\"}]},\"uris\":"
	         "[{\"value\":\"http://x/a.tgz\"},{\"value\":\"/tmp/b\","
	         "\"executable\":true,\"extract\":false,\"cache\":true,"
	         "\"output_file\":\"bin/b\"}]}");
	struct buf b = BUF_INIT;
	struct jsonw w;

	(void)state;
	command_info_init(&c);
	assert_true(c.shell);
	assert_int_equal(command_info_from_json(&c, j, &e), 0);
	json_decref(j);
	assert_false(c.shell);
	assert_string_equal(c.value, "/bin/echo");
	assert_int_equal(c.narguments, 2);
	assert_string_equal(c.arguments[1], "hi");
	assert_string_equal(c.user, "nobody");
	assert_int_equal(c.nenv, 2);
	assert_string_equal(c.env[0].name, "A");
	assert_string_equal(c.env[1].value, "");
	assert_int_equal(c.nuris, 2);
	assert_true(c.uris[0].extract);
	assert_false(c.uris[0].executable);
	assert_false(c.uris[0].cache);
	assert_null(c.uris[0].output_file);
	assert_true(c.uris[1].executable);
	assert_false(c.uris[1].extract);
	assert_true(c.uris[1].cache);
	assert_string_equal(c.uris[1].output_file, "bin/b");

	/* write and parse again: same structure */
	jsonw_init(&w, &b);
	command_info_write_json(&w, &c);
	command_info_release(&c);
	j = load(b.data);
	command_info_init(&c);
	assert_int_equal(command_info_from_json(&c, j, &e), 0);
	assert_false(c.shell);
	assert_int_equal(c.nenv, 2);
	assert_int_equal(c.nuris, 2);
	assert_string_equal(c.uris[1].output_file, "bin/b");
	assert_false(c.uris[1].extract);
	command_info_release(&c);
	json_decref(j);
	buf_release(&b);

	/* shell defaults to true */
	j = load("{\"value\":\"sleep 1\"}");
	command_info_init(&c);
	assert_int_equal(command_info_from_json(&c, j, &e), 0);
	assert_true(c.shell);
	command_info_release(&c);
	json_decref(j);
}

static void test_command_info_bad(void **state)
{
	static const struct bad_case cases[] = {
	    {"[]", "must be an object"},
	    {"{}", "value: required field missing"},
	    {"{\"shell\":false}", "value: required field missing"},
	    {"{\"shell\":false,\"value\":\"\"}",
	     "value: must name the program"},
	    {"{\"value\":3}", "value: must be a string"},
	    {"{\"value\":\"x\",\"shell\":1}", "shell: must be true or false"},
	    {"{\"value\":\"x\",\"arguments\":[\"a\",1]}",
	     "arguments[1]: must be a string"},
	    {"{\"value\":\"x\",\"environment\":[]}",
	     "environment: must be an object"},
	    {"{\"value\":\"x\",\"environment\":{\"variables\":{}}}",
	     "environment.variables: must be an array"},
	    {"{\"value\":\"x\",\"environment\":{\"variables\":"
	     "[{\"name\":\"A\",\"type\":\"SECRET\",\"secret\":{}}]}}",
	     "environment.variables[0].type: SECRET variables are not "
	     "supported"},
	    {"{\"value\":\"x\",\"environment\":{\"variables\":"
	     "[{\"value\":\"1\"}]}}",
	     "environment.variables[0].name: required field missing"},
	    {"{\"value\":\"x\",\"environment\":{\"variables\":"
	     "[{\"name\":\"A=B\",\"value\":\"1\"}]}}",
	     "environment.variables[0].name: must be non-empty"},
	    {"{\"value\":\"x\",\"environment\":{\"variables\":"
	     "[{\"name\":\"A\"}]}}",
	     "environment.variables[0].value: required field missing"},
	    {"{\"value\":\"x\",\"uris\":[{}]}",
	     "uris[0].value: required field missing"},
	    {"{\"value\":\"x\",\"uris\":[{\"value\":\"\"}]}",
	     "uris[0].value: must not be empty"},
	    {"{\"value\":\"x\",\"uris\":[{\"value\":\"a\",\"extract\":"
	     "\"no\"}]}",
	     "uris[0].extract: must be true or false"},
	    {"{\"value\":\"x\",\"uris\":[5]}", "uris[0]: must be an object"},
	    {"{\"value\":\"x\",\"uris\":{}}", "uris: must be an array"},
	};
	(void)state;
	check_bad(cases, ARRAY_SIZE(cases), parse_command, command_init,
	          command_release);
}

/* ---- TaskInfo ------------------------------------------------------ */

static void test_task_info_good(void **state)
{
	struct task_info t;
	struct err e = {{0}};
	json_t *j =
	    load("{\"name\":\"t1\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":"
	         "{\"value\":\"a1\"},\"command\":{\"value\":\"sleep 30\"},"
	         "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	         "\"scalar\":{\"value\":0.5},\"role\":\"*\","
	         "\"allocation_info\":{\"role\":\"dev\"}}],"
	         "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":"
	         "2500000000}},\"labels\":{\"labels\":[]},\"data\":\"eA==\"}");

	(void)state;
	task_info_init(&t);
	assert_true(t.kill_grace_period < 0);
	assert_int_equal(task_info_from_json(&t, j, &e), 0);
	assert_string_equal(t.name, "t1");
	assert_string_equal(t.task_id, "t1");
	assert_string_equal(t.agent_id, "a1");
	assert_true(t.has_command);
	assert_string_equal(t.command.value, "sleep 30");
	assert_null(t.executor_id);
	assert_int_equal(t.resources.n, 1);
	assert_int_equal(resources_scalar(&t.resources, "cpus"), 500);
	assert_string_equal(t.resources.v[0].alloc_role, "dev");
	assert_true(t.kill_grace_period == 2.5);
	assert_non_null(t.json);
	assert_null(strstr(t.json, "\": "));
	assert_null(strstr(t.json, ", "));
	assert_non_null(strstr(t.json, "\"labels\":{\"labels\":[]}"));
	assert_non_null(strstr(t.json, "\"data\":\"eA==\""));
	task_info_release(&t);
	json_decref(j);

	/* an executor task with no resources */
	j = load("{\"name\":\"\",\"task_id\":{\"value\":\"t2\"},"
	         "\"agent_id\":{\"value\":\"a1\"},\"executor\":"
	         "{\"executor_id\":{\"value\":\"ex\"},\"command\":"
	         "{\"value\":\"./run\"}}}");
	task_info_init(&t);
	assert_int_equal(task_info_from_json(&t, j, &e), 0);
	assert_false(t.has_command);
	assert_string_equal(t.executor_id, "ex");
	assert_int_equal(t.resources.n, 0);
	assert_true(t.kill_grace_period < 0);
	task_info_release(&t);
	task_info_release(&t);
	json_decref(j);
}

#define TASK_HEAD                                                              \
	"\"name\":\"t\",\"task_id\":{\"value\":\"t1\"},\"agent_id\":"          \
	"{\"value\":\"a1\"}"
#define TASK_CMD "\"command\":{\"value\":\"true\"}"

static void test_task_info_bad(void **state)
{
	static const struct bad_case cases[] = {
	    {"1", "must be an object"},
	    {"{\"task_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":"
	     "\"a\"}," TASK_CMD "}",
	     "name: required field missing"},
	    {"{\"name\":\"t\",\"agent_id\":{\"value\":\"a\"}," TASK_CMD "}",
	     "task_id: required field missing"},
	    {"{\"name\":\"t\",\"task_id\":{\"value\":\"a/b\"},"
	     "\"agent_id\":{\"value\":\"a\"}," TASK_CMD "}",
	     "task_id: must not contain '/'"},
	    {"{\"name\":\"t\",\"task_id\":{\"value\":\"\"},"
	     "\"agent_id\":{\"value\":\"a\"}," TASK_CMD "}",
	     "task_id: must not be empty"},
	    {"{\"name\":\"t\",\"task_id\":{\"value\":\"t1\"}," TASK_CMD "}",
	     "agent_id: required field missing"},
	    {"{" TASK_HEAD "}",
	     "exactly one of 'command' or 'executor' must be set, got "
	     "neither"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"executor\":{\"executor_id\":"
	     "{\"value\":\"e\"}}}",
	     "exactly one of 'command' or 'executor' must be set, got "
	     "both"},
	    {"{" TASK_HEAD ",\"executor\":{\"command\":{\"value\":\"x\"}}}",
	     "executor.executor_id: required field missing"},
	    {"{" TASK_HEAD ",\"executor\":{\"executor_id\":{\"value\":"
	     "\"a b\"}}}",
	     "executor.executor_id: must not contain whitespace"},
	    {"{" TASK_HEAD ",\"executor\":[]}", "executor: must be an object"},
	    {"{" TASK_HEAD ",\"command\":{}}",
	     "command.value: required field missing"},
	    {"{" TASK_HEAD ",\"command\":{\"value\":\"x\",\"uris\":"
	     "[{\"value\":1}]}}",
	     "command.uris[0].value: must be a string"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"resources\":[{\"name\":"
	     "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]}",
	     "resources[0].scalar.value: must be a finite number >= 0"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"resources\":{}}",
	     "resources: must be an array"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"kill_policy\":{\"grace_period\":"
	     "{\"nanoseconds\":-5}}}",
	     "kill_policy.grace_period.nanoseconds: must be >= 0"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"kill_policy\":{\"grace_period\":"
	     "{\"nanoseconds\":\"5\"}}}",
	     "kill_policy.grace_period.nanoseconds: must be an integer"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"kill_policy\":{\"grace_period\":"
	     "{}}}",
	     "kill_policy.grace_period.nanoseconds: required field"},
	    {"{" TASK_HEAD "," TASK_CMD ",\"kill_policy\":5}",
	     "kill_policy: must be an object"},
	};
	(void)state;
	check_bad(cases, ARRAY_SIZE(cases), parse_task, task_init,
	          task_release);
}

/* ---- AgentInfo ----------------------------------------------------- */

static void test_agent_info(void **state)
{
	static const struct bad_case cases[] = {
	    {"[]", "must be an object"},
	    {"{}", "hostname: required field missing"},
	    {"{\"hostname\":\"\"}", "hostname: must not be empty"},
	    {"{\"hostname\":\"h\",\"port\":70000}",
	     "port: must be between 0 and 65535, got 70000"},
	    {"{\"hostname\":\"h\",\"port\":\"x\"}", "port: must be an integer"},
	    {"{\"hostname\":\"h\",\"id\":{\"value\":\"..\"}}",
	     "id: must not be '.' or '..'"},
	    {"{\"hostname\":\"h\",\"resources\":[{\"name\":\"cpus\"}]}",
	     "resources[0].type: required field missing"},
	    {"{\"hostname\":\"h\",\"attributes\":[{\"name\":\"r\","
	     "\"type\":\"TEXT\"}]}",
	     "attributes[0].text.value: required field missing"},
	};
	const char *good = "{\"id\":{\"value\":\"ag-1\"},\"hostname\":"
			   "\"node1\",\"port\":5052,\"resources\":[{\"name\":"
			   "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
			   "4},\"role\":\"*\"}],\"attributes\":[{\"name\":"
			   "\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":"
			   "\"r1\"}}]}";
	struct agent_info a;
	struct err e = {{0}};
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	(void)state;
	check_bad(cases, ARRAY_SIZE(cases), parse_agent, agent_init,
	          agent_release);
	j = load(good);
	agent_info_init(&a);
	assert_int_equal(agent_info_from_json(&a, j, &e), 0);
	assert_string_equal(a.id, "ag-1");
	assert_int_equal(a.port, 5052);
	assert_int_equal(resources_scalar(&a.resources, "cpus"), 4000);
	assert_string_equal(attributes_find(&a.attributes, "rack")->text, "r1");
	jsonw_init(&w, &b);
	agent_info_write_json(&w, &a);
	assert_string_equal(b.data, good);
	agent_info_release(&a);
	json_decref(j);
	buf_release(&b);

	/* defaults: no id, port 5051, empty lists */
	j = load("{\"hostname\":\"h\"}");
	agent_info_init(&a);
	assert_int_equal(agent_info_from_json(&a, j, &e), 0);
	assert_null(a.id);
	assert_int_equal(a.port, 5051);
	assert_int_equal(a.resources.n, 0);
	agent_info_release(&a);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enum_round_trips),
	    cmocka_unit_test(test_terminal_states),
	    cmocka_unit_test(test_id_validate),
	    cmocka_unit_test(test_json_id),
	    cmocka_unit_test(test_task_status_round_trip),
	    cmocka_unit_test(test_task_status_minimal),
	    cmocka_unit_test(test_task_status_bad),
	    cmocka_unit_test(test_task_status_uuid_base64),
	    cmocka_unit_test(test_framework_info_good),
	    cmocka_unit_test(test_framework_info_bad),
	    cmocka_unit_test(test_framework_info_round_trip),
	    cmocka_unit_test(test_framework_info_has_role),
	    cmocka_unit_test(test_command_info_good),
	    cmocka_unit_test(test_command_info_bad),
	    cmocka_unit_test(test_task_info_good),
	    cmocka_unit_test(test_task_info_bad),
	    cmocka_unit_test(test_agent_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
