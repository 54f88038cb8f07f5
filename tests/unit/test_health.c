/*
 * test_health.c: the HealthCheck parser (defaults, every field, every bad
 * input with the field named) and the grace / consecutive-failure state
 * machine, both pure; then the runner on a real loop for the cases that
 * need no daemon: a passing and a failing COMMAND check, a COMMAND check
 * killed on timeout, TCP against a listening and a closed port, HTTP
 * against a tiny server on this loop.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>

#include "executor/health.h"
#include "lib/err.h"
#include "lib/http.h"

/* ---- parser --------------------------------------------------------- */

static int parse_text(const char *text, struct health_check *hc, struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	int rc;

	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	health_check_init(hc);
	rc = health_check_from_json(hc, j, e);
	json_decref(j);
	return rc;
}

static void test_parse_defaults(void **state)
{
	struct health_check hc;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(
	    parse_text("{\"type\":\"TCP\",\"tcp\":{\"port\":80}}", &hc, &e), 0);
	assert_int_equal(hc.type, HEALTH_TCP);
	assert_int_equal(hc.port, 80);
	assert_false(hc.ipv6);
	assert_true(hc.delay_seconds == 15.0);
	assert_true(hc.interval_seconds == 10.0);
	assert_true(hc.timeout_seconds == 20.0);
	assert_int_equal(hc.consecutive_failures, 3);
	assert_true(hc.grace_period_seconds == 10.0);
	health_check_release(&hc);
	health_check_release(&hc); /* twice is harmless */

	assert_int_equal(
	    parse_text("{\"type\":\"HTTP\",\"http\":{\"port\":8080}}", &hc, &e),
	    0);
	assert_int_equal(hc.type, HEALTH_HTTP);
	assert_string_equal(hc.path, "/");
	health_check_release(&hc);

	assert_int_equal(parse_text("{\"type\":\"COMMAND\",\"command\":"
	                            "{\"value\":\"true\"}}",
	                            &hc, &e),
	                 0);
	assert_int_equal(hc.type, HEALTH_COMMAND);
	assert_true(hc.command.shell);
	assert_string_equal(hc.command.value, "true");
	health_check_release(&hc);
}

static void test_parse_all_fields(void **state)
{
	struct health_check hc;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(
	    parse_text("{\"type\":\"HTTP\",\"http\":{\"port\":65535,"
	               "\"path\":\"/health?x=1\",\"scheme\":\"http\","
	               "\"protocol\":\"IPv6\",\"statuses\":[200,204]},"
	               "\"delay_seconds\":0,\"interval_seconds\":0.5,"
	               "\"timeout_seconds\":0,\"consecutive_failures\":1,"
	               "\"grace_period_seconds\":2.5,\"unknown\":{}}",
	               &hc, &e),
	    0);
	assert_int_equal(hc.port, 65535);
	assert_string_equal(hc.path, "/health?x=1");
	assert_true(hc.ipv6);
	assert_true(hc.delay_seconds == 0);
	assert_true(hc.interval_seconds == 0.5);
	assert_true(hc.timeout_seconds == 0);
	assert_int_equal(hc.consecutive_failures, 1);
	assert_true(hc.grace_period_seconds == 2.5);
	health_check_release(&hc);

	assert_int_equal(
	    parse_text("{\"type\":\"COMMAND\",\"command\":{\"shell\":false,"
	               "\"value\":\"/bin/test\",\"arguments\":[\"test\","
	               "\"-d\",\"/\"],\"environment\":{\"variables\":"
	               "[{\"name\":\"A\",\"value\":\"b\"}]}},"
	               "\"consecutive_failures\":0,\"http\":null}",
	               &hc, &e),
	    0);
	assert_false(hc.command.shell);
	assert_int_equal(hc.command.narguments, 3);
	assert_int_equal(hc.command.nenv, 1);
	assert_int_equal(hc.consecutive_failures, 0);
	health_check_release(&hc);

	assert_int_equal(
	    parse_text("{\"type\":\"TCP\",\"tcp\":{\"port\":1.0,"
	               "\"protocol\":\"IPv4\"},\"consecutive_failures\":"
	               "4294967295}",
	               &hc, &e),
	    0);
	assert_int_equal(hc.port, 1);
	assert_int_equal(hc.consecutive_failures, UINT32_MAX);
	health_check_release(&hc);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *json;
		const char *err; /* the whole message */
	} cases[] = {
	    /* clang-format off */
	{"[]", "must be an object"},
	{"{}", "type: required field missing (COMMAND, HTTP or TCP)"},
	{"{\"type\":3}", "type: must be a string"},
	{"{\"type\":\"UNKNOWN\"}",
	 "type: must be COMMAND, HTTP or TCP, got 'UNKNOWN'"},
	{"{\"type\":\"tcp\"}", "type: must be COMMAND, HTTP or TCP, got 'tcp'"},
	{"{\"type\":\"TCP\"}", "tcp: required for a TCP health check"},
	{"{\"type\":\"TCP\",\"tcp\":5}", "tcp: must be an object"},
	{"{\"type\":\"TCP\",\"tcp\":{}}", "tcp.port: required field missing"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":0}}",
	 "tcp.port: must be between 1 and 65535, got 0"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":-1}}",
	 "tcp.port: must be between 1 and 65535, got -1"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":65536}}",
	 "tcp.port: must be between 1 and 65535, got 65536"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":\"80\"}}",
	 "tcp.port: must be an integer"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":80.5}}",
	 "tcp.port: must be an integer"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":80,\"protocol\":\"IPX\"}}",
	 "tcp.protocol: must be IPv4 or IPv6, got 'IPX'"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":80},\"http\":{\"port\":80}}",
	 "http: must not be set for a TCP health check"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80},\"command\":{}}",
	 "command: must not be set for a HTTP health check"},
	{"{\"type\":\"HTTP\"}", "http: required for a HTTP health check"},
	{"{\"type\":\"HTTP\",\"http\":{\"path\":\"/\"}}",
	 "http.port: required field missing"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"x\"}}",
	 "http.path: must start with '/', got 'x'"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":\"/a b\"}}",
	 "http.path: must not contain spaces or control characters"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"path\":7}}",
	 "http.path: must be a string"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"scheme\":\"https\"}}",
	 "http.scheme: 'https' is not supported by the atoll executor; "
	 "use 'http'"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"scheme\":\"ftp\"}}",
	 "http.scheme: must be 'http', got 'ftp'"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"statuses\":200}}",
	 "http.statuses: must be an array"},
	{"{\"type\":\"HTTP\",\"http\":{\"port\":80,\"statuses\":[\"x\"]}}",
	 "http.statuses[0]: must be an integer"},
	{"{\"type\":\"COMMAND\"}",
	 "command: required for a COMMAND health check"},
	{"{\"type\":\"COMMAND\",\"command\":{}}",
	 "command.value: required field missing (the shell command)"},
	{"{\"type\":\"COMMAND\",\"command\":{\"value\":1}}",
	 NULL}, /* command_info's own wording; must name command.value */
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"delay_seconds\":-1}",
	 "delay_seconds: must be >= 0, got -1"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"interval_seconds\":-0.5}",
	 "interval_seconds: must be >= 0, got -0.5"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"timeout_seconds\":-2}",
	 "timeout_seconds: must be >= 0, got -2"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},"
	 "\"grace_period_seconds\":-3}",
	 "grace_period_seconds: must be >= 0, got -3"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"delay_seconds\":\"5\"}",
	 "delay_seconds: must be a number"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},\"timeout_seconds\":1e10}",
	 "timeout_seconds: must be at most 1e+09, got 1e+10"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},"
	 "\"consecutive_failures\":-1}",
	 "consecutive_failures: must be between 0 and 4294967295, got -1"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},"
	 "\"consecutive_failures\":4294967296}",
	 "consecutive_failures: must be between 0 and 4294967295, "
	 "got 4294967296"},
	{"{\"type\":\"TCP\",\"tcp\":{\"port\":1},"
	 "\"consecutive_failures\":1.5}",
	 "consecutive_failures: must be an integer"},
	    /* clang-format on */
	};
	struct health_check hc;
	struct err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&e, 0, sizeof(e));
		if (parse_text(cases[i].json, &hc, &e) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, cases[i].json);
		if (cases[i].err && strcmp(e.msg, cases[i].err))
			fail_msg("case %zu: got '%s', want '%s'", i, e.msg,
			         cases[i].err);
		if (!cases[i].err && strncmp(e.msg, "command.value: ", 15))
			fail_msg("case %zu: got '%s'", i, e.msg);
		health_check_release(&hc);
	}
}

/* ---- state machine -------------------------------------------------- */

static void test_state_machine(void **state)
{
	/* One result per step: the time, the outcome, the expected action
	 * and failure count. grace and max come from the case. */
	struct step {
		double t;
		bool ok;
		enum health_action want;
		uint32_t failures;
	};
	static const struct {
		double grace;
		uint32_t max;
		struct step steps[8];
		size_t n;
	} cases[] = {
	    /* clang-format off */
	/* first success reported once; later ones are silent */
	{10, 3, {{1, true, HEALTH_REPORT_HEALTHY, 0},
	         {2, true, HEALTH_NOTHING, 0},
	         {3, true, HEALTH_NOTHING, 0}}, 3},
	/* failures in grace ignored; after grace counted, kill at 3 */
	{5, 3, {{1, false, HEALTH_IGNORED, 0},
	        {4.9, false, HEALTH_IGNORED, 0},
	        {5, false, HEALTH_REPORT_UNHEALTHY, 1},
	        {6, false, HEALTH_REPORT_UNHEALTHY, 2},
	        {7, false, HEALTH_KILL, 3},
	        {8, false, HEALTH_KILL, 4}}, 6},
	/* grace ends at the first success */
	{100, 2, {{1, false, HEALTH_IGNORED, 0},
	          {2, true, HEALTH_REPORT_HEALTHY, 0},
	          {3, false, HEALTH_REPORT_UNHEALTHY, 1},
	          {4, true, HEALTH_REPORT_HEALTHY, 0},
	          {5, false, HEALTH_REPORT_UNHEALTHY, 1},
	          {6, false, HEALTH_KILL, 2}}, 6},
	/* grace 0: the first failure counts */
	{0, 2, {{0, false, HEALTH_REPORT_UNHEALTHY, 1},
	        {1, false, HEALTH_KILL, 2}}, 2},
	/* a success resets the count */
	{0, 3, {{1, false, HEALTH_REPORT_UNHEALTHY, 1},
	        {2, false, HEALTH_REPORT_UNHEALTHY, 2},
	        {3, true, HEALTH_REPORT_HEALTHY, 0},
	        {4, false, HEALTH_REPORT_UNHEALTHY, 1},
	        {5, false, HEALTH_REPORT_UNHEALTHY, 2},
	        {6, false, HEALTH_KILL, 3}}, 6},
	/* consecutive_failures 0 and 1 kill at the first counted failure */
	{0, 0, {{1, false, HEALTH_KILL, 1}}, 1},
	{1, 1, {{0.5, false, HEALTH_IGNORED, 0},
	        {2, false, HEALTH_KILL, 1}}, 2},
	    /* clang-format on */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct health_check hc;
		struct health_state s;

		health_check_init(&hc);
		hc.type = HEALTH_TCP;
		hc.grace_period_seconds = cases[i].grace;
		hc.consecutive_failures = cases[i].max;
		health_state_init(&s, 0);
		for (size_t k = 0; k < cases[i].n; k++) {
			const struct step *st = &cases[i].steps[k];
			enum health_action a =
			    health_state_record(&s, &hc, st->ok, st->t);
			if (a != st->want || s.failures != st->failures)
				fail_msg("case %zu step %zu: got %s/%u, "
				         "want %s/%u",
				         i, k, health_action_name(a),
				         (unsigned)s.failures,
				         health_action_name(st->want),
				         (unsigned)st->failures);
		}
		health_check_release(&hc);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(health_type_name(HEALTH_COMMAND), "COMMAND");
	assert_string_equal(health_type_name(HEALTH_HTTP), "HTTP");
	assert_string_equal(health_type_name(HEALTH_TCP), "TCP");
	assert_string_equal(health_type_name((enum health_type)99), "UNSET");
	assert_string_equal(health_action_name(HEALTH_KILL), "KILL");
	assert_string_equal(health_action_name((enum health_action)99), "?");
}

/* ---- the runner on a real loop -------------------------------------- */

/* Collects results; stops the checker after `want` of them. */
struct collect {
	uv_loop_t *loop;
	struct health_checker *hcr;
	size_t want, n;
	bool ok[8];
	enum health_action action[8];
	char cause[8][160];
	uv_timer_t guard; /* fails the test if results do not come */
};

static void collect_cb(const struct health_result *r, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < ARRAY_SIZE(c->ok));
	c->ok[c->n] = r->ok;
	c->action[c->n] = r->action;
	snprintf(c->cause[c->n], sizeof(c->cause[0]), "%s",
	         r->cause ? r->cause : "");
	if (++c->n == c->want) {
		/* freeing from inside the callback is allowed */
		health_checker_free(c->hcr);
		c->hcr = NULL;
		uv_close((uv_handle_t *)&c->guard, NULL);
	}
}

static void guard_cb(uv_timer_t *t)
{
	struct collect *c = container_of(t, struct collect, guard);

	fail_msg("only %zu of %zu results in time", c->n, c->want);
}

static void run_checker(struct collect *c, const struct health_check *hc,
                        const struct health_command_opts *co, size_t want)
{
	c->want = want;
	uv_timer_init(c->loop, &c->guard);
	uv_timer_start(&c->guard, guard_cb, 10000, 0);
	c->hcr = health_checker_new(c->loop, hc, co, collect_cb, c);
	uv_run(c->loop, UV_RUN_DEFAULT);
	assert_int_equal(c->n, want);
}

static void fast_check(struct health_check *hc, enum health_type type)
{
	health_check_init(hc);
	hc->type = type;
	hc->delay_seconds = 0;
	hc->interval_seconds = 0.01;
	hc->timeout_seconds = 2;
	hc->grace_period_seconds = 0;
	hc->consecutive_failures = 2;
}

static void command_opts(struct health_command_opts *co, const char **argv)
{
	static const char *const env[] = {"HC_VALUE=7", NULL};

	memset(co, 0, sizeof(*co));
	co->file = "/bin/sh";
	co->argv = argv;
	co->env = env;
}

static void test_runner_command(void **state)
{
	const char *pass[] = {"sh", "-c", "test \"$HC_VALUE\" = 7", NULL};
	const char *fail[] = {"sh", "-c", "exit 3", NULL};
	struct health_command_opts co;
	struct health_check hc;
	struct collect c = {0};
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	c.loop = &loop;
	fast_check(&hc, HEALTH_COMMAND);
	command_opts(&co, pass);
	run_checker(&c, &hc, &co, 2);
	assert_true(c.ok[0] && c.ok[1]);
	assert_int_equal(c.action[0], HEALTH_REPORT_HEALTHY);
	assert_int_equal(c.action[1], HEALTH_NOTHING);

	memset(&c, 0, sizeof(c));
	c.loop = &loop;
	command_opts(&co, fail);
	run_checker(&c, &hc, &co, 2);
	assert_false(c.ok[0] || c.ok[1]);
	assert_int_equal(c.action[0], HEALTH_REPORT_UNHEALTHY);
	assert_int_equal(c.action[1], HEALTH_KILL);
	assert_string_equal(c.cause[0], "command exited with status 3");
	assert_int_equal(uv_loop_close(&loop), 0);
	health_check_release(&hc);
}

/* True when pid exists and is not a zombie (its reaper may be slow). */
static bool process_is_alive(int pid)
{
	char path[64], line[256];
	const char *p;
	bool alive = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')))
		alive = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

static void test_runner_command_timeout(void **state)
{
	/* The check leaves a grandchild behind: the timeout must kill the
	 * whole group, so the pid file's process is gone afterwards. */
	char script[256], pidfile[64];
	const char *argv[] = {"sh", "-c", script, NULL};
	struct health_command_opts co;
	struct health_check hc;
	struct collect c = {0};
	uv_loop_t loop;
	FILE *f;
	int pid = 0;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "/tmp/test_health.%d",
	         (int)getpid());
	snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; wait",
	         pidfile);
	uv_loop_init(&loop);
	c.loop = &loop;
	fast_check(&hc, HEALTH_COMMAND);
	hc.timeout_seconds = 0.3;
	command_opts(&co, argv);
	run_checker(&c, &hc, &co, 1);
	assert_false(c.ok[0]);
	assert_string_equal(c.cause[0], "timed out after 0.3s");
	/* uv_run returned: the abandoned check was reaped too */
	assert_int_equal(uv_loop_close(&loop), 0);
	f = fopen(pidfile, "re");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	unlink(pidfile);
	assert_true(pid > 0);
	for (int i = 0; i < 100 && process_is_alive(pid); i++)
		usleep(10000);
	assert_false(process_is_alive(pid));
	health_check_release(&hc);
}

/* A listening socket on 127.0.0.1 (port in *port). */
static void listen_any(uv_loop_t *loop, uv_tcp_t *srv, int *port,
                       uv_connection_cb cb)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	uv_ip4_addr("127.0.0.1", 0, &sin);
	assert_int_equal(uv_tcp_init(loop, srv), 0);
	assert_int_equal(uv_tcp_bind(srv, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)srv, 16, cb), 0);
	assert_int_equal(uv_tcp_getsockname(srv, (struct sockaddr *)&ss, &len),
	                 0);
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void accept_and_close(uv_stream_t *srv, int status)
{
	uv_tcp_t *cl = malloc(sizeof(*cl));

	assert_int_equal(status, 0);
	uv_tcp_init(srv->loop, cl);
	assert_int_equal(uv_accept(srv, (uv_stream_t *)cl), 0);
	uv_close((uv_handle_t *)cl, (uv_close_cb)free);
}

static void test_runner_tcp(void **state)
{
	struct health_check hc;
	struct collect c = {0};
	uv_tcp_t srv;
	uv_loop_t loop;
	int port;

	(void)state;
	uv_loop_init(&loop);
	listen_any(&loop, &srv, &port, accept_and_close);
	c.loop = &loop;
	fast_check(&hc, HEALTH_TCP);
	hc.port = port;
	c.want = 2;
	uv_timer_init(&loop, &c.guard);
	uv_timer_start(&c.guard, guard_cb, 10000, 0);
	c.hcr = health_checker_new(&loop, &hc, NULL, collect_cb, &c);
	while (c.n < 2)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(c.ok[0] && c.ok[1]);
	assert_int_equal(c.action[0], HEALTH_REPORT_HEALTHY);

	/* closed port: refused */
	uv_close((uv_handle_t *)&srv, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	memset(&c, 0, sizeof(c));
	c.loop = &loop;
	run_checker(&c, &hc, NULL, 2);
	assert_false(c.ok[0] || c.ok[1]);
	assert_int_equal(c.action[1], HEALTH_KILL);
	assert_non_null(strstr(c.cause[0], "cannot connect to port"));
	assert_int_equal(uv_loop_close(&loop), 0);
	health_check_release(&hc);
}

/* HTTP: /ok answers 204, /moved 302, anything else 503. */
static void http_handler(struct http_request *req, void *arg)
{
	(void)arg;
	if (!strcmp(req->path, "/ok"))
		http_respond(req, 204, NULL, NULL, 0);
	else if (!strcmp(req->path, "/moved"))
		http_respond(req, 302, "text/plain", "x", 1);
	else
		http_respond(req, 503, "text/plain", "down", 4);
}

static void test_runner_http(void **state)
{
	static const struct {
		const char *path;
		bool ok;
		const char *cause;
	} cases[] = {
	    {"/ok", true, ""},
	    {"/moved", true, ""},
	    {"/bad", false, "GET /bad on port %d returned status 503"},
	};
	struct http_server_opts so = {0};
	struct http_server *srv;
	struct health_check hc;
	struct collect c;
	struct err e = {{0}};
	uv_loop_t loop;
	char want[160];
	int port;

	(void)state;
	uv_loop_init(&loop);
	so.port = 0;
	srv = http_server_new(&loop, &so, http_handler, NULL);
	assert_int_equal(http_server_listen(srv, &e), 0);
	port = http_server_port(srv);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		fast_check(&hc, HEALTH_HTTP);
		hc.port = port;
		hc.path = xstrdup(cases[i].path);
		memset(&c, 0, sizeof(c));
		c.loop = &loop;
		c.want = 2;
		uv_timer_init(&loop, &c.guard);
		uv_timer_start(&c.guard, guard_cb, 10000, 0);
		c.hcr = health_checker_new(&loop, &hc, NULL, collect_cb, &c);
		while (c.n < 2)
			uv_run(&loop, UV_RUN_ONCE);
		uv_run(&loop, UV_RUN_NOWAIT);
		assert_int_equal(c.ok[0], cases[i].ok);
		assert_int_equal(c.ok[1], cases[i].ok);
		snprintf(want, sizeof(want), cases[i].cause, port);
		assert_string_equal(c.cause[0], want);
		health_check_release(&hc);
	}
	http_server_close(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_defaults),
	    cmocka_unit_test(test_parse_all_fields),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_state_machine),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_runner_command),
	    cmocka_unit_test(test_runner_command_timeout),
	    cmocka_unit_test(test_runner_tcp),
	    cmocka_unit_test(test_runner_http),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
