/*
 * test_executor.c: the command executor's pure helpers: environment
 * parsing, argv and environment of the task, exit classification, kill
 * grace periods and the calls it sends.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <signal.h>
#include <cmocka.h>

#include "executor/executor.h"
#include "lib/buf.h"
#include "lib/err.h"

/* ---- executor_env_parse -------------------------------------------- */

#define FULL_ENV                                                               \
	"MESOS_FRAMEWORK_ID=fw-1", "MESOS_EXECUTOR_ID=ex-1",                   \
	    "MESOS_AGENT_ENDPOINT=127.0.0.1:5051"

static void test_env_defaults(void **state)
{
	const char *envp[] = {FULL_ENV, "PATH=/usr/bin", NULL};
	struct executor_env env;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(executor_env_parse(&env, envp, &e), 0);
	assert_string_equal(env.framework_id, "fw-1");
	assert_string_equal(env.executor_id, "ex-1");
	assert_string_equal(env.agent_endpoint, "127.0.0.1:5051");
	assert_null(env.sandbox);
	assert_false(env.checkpoint);
	assert_true(env.shutdown_grace == 5.0);
	assert_true(env.recovery_timeout == 900.0);
	assert_true(env.backoff_max == 2.0);
	executor_env_release(&env);
}

static void test_env_values(void)
{
	static const struct {
		const char *envp[10];
		int rc;
		const char *sandbox;
		bool checkpoint;
		double grace, recovery;
		const char *err; /* substring of the error */
	} cases[] = {
	    /* clang-format off */
	{{FULL_ENV, "MESOS_SANDBOX=/s", "MESOS_DIRECTORY=/d", NULL},
	 0, "/s", false, 5, 900, NULL},
	{{FULL_ENV, "MESOS_DIRECTORY=/d", NULL}, 0, "/d", false, 5, 900, NULL},
	{{FULL_ENV, "MESOS_SANDBOX=", "MESOS_DIRECTORY=/d", NULL},
	 0, "/d", false, 5, 900, NULL},
	{{FULL_ENV, "MESOS_CHECKPOINT=1", NULL}, 0, NULL, true, 5, 900, NULL},
	{{FULL_ENV, "MESOS_CHECKPOINT=true", NULL},
	 0, NULL, true, 5, 900, NULL},
	{{FULL_ENV, "MESOS_CHECKPOINT=0", NULL}, 0, NULL, false, 5, 900, NULL},
	{{FULL_ENV, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=7secs",
	  "MESOS_RECOVERY_TIMEOUT=2mins", NULL},
	 0, NULL, false, 7, 120, NULL},
	{{FULL_ENV, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=500ms", NULL},
	 0, NULL, false, 0.5, 900, NULL},
	{{FULL_ENV, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=soon", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"},
	{{FULL_ENV, "MESOS_RECOVERY_TIMEOUT=-3secs", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_RECOVERY_TIMEOUT"},
	{{"MESOS_EXECUTOR_ID=e", "MESOS_AGENT_ENDPOINT=a:1", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_FRAMEWORK_ID"},
	{{"MESOS_FRAMEWORK_ID=f", "MESOS_AGENT_ENDPOINT=a:1", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_EXECUTOR_ID"},
	{{"MESOS_FRAMEWORK_ID=f", "MESOS_EXECUTOR_ID=e",
	  "MESOS_AGENT_ENDPOINT=", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_AGENT_ENDPOINT"},
	/* a prefix of a name is not the name */
	{{"MESOS_FRAMEWORK_ID_X=f", "MESOS_EXECUTOR_ID=e",
	  "MESOS_AGENT_ENDPOINT=a:1", NULL},
	 -EINVAL, NULL, false, 5, 900, "MESOS_FRAMEWORK_ID"},
	{{NULL}, -EINVAL, NULL, false, 5, 900, "required"},
	    /* clang-format on */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct executor_env env;
		struct err e = {{0}};
		int rc = executor_env_parse(&env, cases[i].envp, &e);

		assert_int_equal(rc, cases[i].rc);
		if (rc) {
			assert_non_null(strstr(e.msg, cases[i].err));
		} else {
			if (cases[i].sandbox)
				assert_string_equal(env.sandbox,
				                    cases[i].sandbox);
			else
				assert_null(env.sandbox);
			assert_int_equal(env.checkpoint, cases[i].checkpoint);
			assert_true(env.shutdown_grace == cases[i].grace);
			assert_true(env.recovery_timeout == cases[i].recovery);
		}
		executor_env_release(&env);
	}
}

static void test_env_table(void **state)
{
	(void)state;
	test_env_values();
}

/* ---- argv and environment of the task ------------------------------ */

static void test_argv_shell(void **state)
{
	char value[] = "echo hi && exit 3";
	struct command_info c;
	const char **argv;
	const char *file = NULL;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.shell = true;
	c.value = value;
	argv = executor_task_argv(&c, &file);
	assert_string_equal(file, "/bin/sh");
	assert_string_equal(argv[0], "/bin/sh");
	assert_string_equal(argv[1], "-c");
	assert_string_equal(argv[2], value);
	assert_null(argv[3]);
	free(argv);
}

static void test_argv_exec(void **state)
{
	char prog[] = "/usr/bin/env", a0[] = "myenv", a1[] = "-i";
	char *args[] = {a0, a1};
	struct command_info c;
	const char **argv;
	const char *file = NULL;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.shell = false;
	c.value = prog;
	/* without arguments argv is just the program */
	argv = executor_task_argv(&c, &file);
	assert_string_equal(file, prog);
	assert_string_equal(argv[0], prog);
	assert_null(argv[1]);
	free(argv);
	/* with arguments, argv[0] is arguments[0], as Mesos does */
	c.arguments = args;
	c.narguments = 2;
	argv = executor_task_argv(&c, &file);
	assert_string_equal(file, prog);
	assert_string_equal(argv[0], "myenv");
	assert_string_equal(argv[1], "-i");
	assert_null(argv[2]);
	free(argv);
}

static size_t strv_len(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

static const char *strv_get(char **v, const char *name)
{
	size_t n = strlen(name);
	for (; *v; v++)
		if (!strncmp(*v, name, n) && (*v)[n] == '=')
			return *v + n + 1;
	return NULL;
}

static void test_task_env(void **state)
{
	const char *base[] = {"PATH=/bin", "HOME=/root",          "GARBAGE",
	                      "=noname",   "MESOS_TASK_ID=stale", NULL};
	char n1[] = "HOME", v1[] = "/sandbox", n2[] = "FOO", v2[] = "one",
	     n3[] = "FOO", v3[] = "two", n4[] = "BAD=NAME", v4[] = "x";
	struct env_var vars[] = {{n1, v1}, {n2, v2}, {n3, v3}, {n4, v4}};
	struct command_info c;
	char **env;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.env = vars;
	c.nenv = ARRAY_SIZE(vars);
	env = executor_task_env(base, &c, "t-1");
	assert_string_equal(strv_get(env, "PATH"), "/bin");
	assert_string_equal(strv_get(env, "HOME"), "/sandbox");
	assert_string_equal(strv_get(env, "FOO"), "two");
	assert_string_equal(strv_get(env, "MESOS_TASK_ID"), "t-1");
	assert_null(strv_get(env, "GARBAGE"));
	assert_null(strv_get(env, "BAD"));
	/* PATH HOME FOO MESOS_TASK_ID, each once */
	assert_int_equal(strv_len(env), 4);
	executor_strv_free(env);

	/* the command's own MESOS_TASK_ID wins */
	{
		char n[] = "MESOS_TASK_ID", v[] = "mine";
		struct env_var one[] = {{n, v}};
		c.env = one;
		c.nenv = 1;
		env = executor_task_env(base, &c, "t-1");
		assert_string_equal(strv_get(env, "MESOS_TASK_ID"), "mine");
		assert_int_equal(strv_len(env), 3);
		executor_strv_free(env);
	}
	/* no base, no command variables */
	c.nenv = 0;
	env = executor_task_env(NULL, &c, "t-2");
	assert_int_equal(strv_len(env), 1);
	assert_string_equal(env[0], "MESOS_TASK_ID=t-2");
	executor_strv_free(env);
	executor_strv_free(NULL);
}

/* ---- exit classification and kill grace ---------------------------- */

static void test_exit_state(void **state)
{
	static const struct {
		int64_t status;
		int sig;
		bool killed;
		enum task_state want;
		const char *msg;
	} cases[] = {
	    {0, 0, false, TASK_FINISHED, "Command exited with status 0"},
	    {1, 0, false, TASK_FAILED, "Command exited with status 1"},
	    {127, 0, false, TASK_FAILED, "Command exited with status 127"},
	    {0, SIGKILL, false, TASK_FAILED,
	     "Command terminated with signal Killed"},
	    {0, SIGTERM, true, TASK_KILLED,
	     "Command terminated with signal Terminated"},
	    {0, 0, true, TASK_KILLED, "Command exited with status 0"},
	    {143, 0, true, TASK_KILLED, "Command exited with status 143"},
	};
	char msg[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum task_state st =
		    executor_exit_state(cases[i].status, cases[i].sig,
		                        cases[i].killed, msg, sizeof(msg));
		assert_int_equal(st, cases[i].want);
		assert_string_equal(msg, cases[i].msg);
	}
}

static void test_kill_grace(void **state)
{
	static const struct {
		const char *policy; /* JSON or NULL */
		double task, want;
	} cases[] = {
	    {"{\"grace_period\":{\"nanoseconds\":2500000000}}", -1, 2.5},
	    {"{\"grace_period\":{\"nanoseconds\":\"1000000000\"}}", 9, 1},
	    {"{\"grace_period\":{\"nanoseconds\":0}}", 9, 0},
	    {"{\"grace_period\":{\"nanoseconds\":-5}}", 9, 9},
	    {"{\"grace_period\":{\"nanoseconds\":\"-5\"}}", -1, 3},
	    {"{\"grace_period\":{\"nanoseconds\":\"12x\"}}", -1, 3},
	    {"{\"grace_period\":{\"nanoseconds\":\"\"}}", -1, 3},
	    {"{\"grace_period\":{\"nanoseconds\":1.5}}", 7, 7},
	    {"{\"grace_period\":{}}", 7, 7},
	    {"{\"grace_period\":\"5s\"}", 7, 7},
	    {"{}", -1, 3},
	    {"[]", 4, 4},
	    {NULL, 4, 4},
	    {NULL, -1, 3},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *p = cases[i].policy
		                ? json_loads(cases[i].policy, 0, NULL)
		                : NULL;
		double got = executor_kill_grace(p, cases[i].task, 3.0);
		if (got != cases[i].want)
			fail_msg("case %zu: got %g want %g", i, got,
			         cases[i].want);
		json_decref(p);
	}
}

/* ---- calls --------------------------------------------------------- */

static json_t *parse(const struct buf *b)
{
	json_error_t je;
	json_t *v = json_loadb(b->data, b->len, 0, &je);
	if (!v)
		fail_msg("not JSON (%s): %s", je.text, b->data);
	return v;
}

static void expect_json(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	char *g;

	assert_non_null(want);
	if (!json_equal(got, want)) {
		g = json_dumps(got, JSON_COMPACT);
		fail_msg("got %s\nwant %s", g, want_text);
	}
	json_decref(want);
}

static void test_subscribe_body(void **state)
{
	const char *updates[] = {"{\"task_id\":{\"value\":\"t\"},"
	                         "\"state\":\"TASK_RUNNING\"}",
	                         "{\"task_id\":{\"value\":\"t\"},"
	                         "\"state\":\"TASK_FINISHED\"}"};
	struct buf b = BUF_INIT;
	json_t *v;

	(void)state;
	executor_subscribe_body(&b, "fw", "ex", NULL, NULL, 0);
	v = parse(&b);
	expect_json(v, "{\"type\":\"SUBSCRIBE\","
	               "\"framework_id\":{\"value\":\"fw\"},"
	               "\"executor_id\":{\"value\":\"ex\"},"
	               "\"subscribe\":{\"unacknowledged_tasks\":[],"
	               "\"unacknowledged_updates\":[]}}");
	json_decref(v);

	buf_reset(&b);
	executor_subscribe_body(&b, "fw", "ex",
	                        "{\"name\":\"t\",\"task_id\":{\"value\":"
	                        "\"t\"}}",
	                        updates, 2);
	v = parse(&b);
	expect_json(v,
	            "{\"type\":\"SUBSCRIBE\","
	            "\"framework_id\":{\"value\":\"fw\"},"
	            "\"executor_id\":{\"value\":\"ex\"},"
	            "\"subscribe\":{\"unacknowledged_tasks\":[{\"name\":\"t\","
	            "\"task_id\":{\"value\":\"t\"}}],"
	            "\"unacknowledged_updates\":["
	            "{\"status\":{\"task_id\":{\"value\":\"t\"},"
	            "\"state\":\"TASK_RUNNING\"}},"
	            "{\"status\":{\"task_id\":{\"value\":\"t\"},"
	            "\"state\":\"TASK_FINISHED\"}}]}}");
	json_decref(v);
	buf_release(&b);
}

static void test_update_body(void **state)
{
	struct buf b = BUF_INIT;
	json_t *v;

	(void)state;
	executor_update_body(&b, "f\"1", "e1",
	                     "{\"task_id\":{\"value\":\"t\"},"
	                     "\"state\":\"TASK_STARTING\","
	                     "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}");
	v = parse(&b);
	expect_json(v, "{\"type\":\"UPDATE\","
	               "\"framework_id\":{\"value\":\"f\\\"1\"},"
	               "\"executor_id\":{\"value\":\"e1\"},"
	               "\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},"
	               "\"state\":\"TASK_STARTING\","
	               "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}");
	json_decref(v);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_defaults),
	    cmocka_unit_test(test_env_table),
	    cmocka_unit_test(test_argv_shell),
	    cmocka_unit_test(test_argv_exec),
	    cmocka_unit_test(test_task_env),
	    cmocka_unit_test(test_exit_state),
	    cmocka_unit_test(test_kill_grace),
	    cmocka_unit_test(test_subscribe_body),
	    cmocka_unit_test(test_update_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
