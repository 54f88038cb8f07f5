/*
 * test_app.c: Marathon app and group definitions: defaults, every
 * validation rule (a table of bad definitions, each with the path and part
 * of the message its problem must have), write -> parse round trips, the
 * slides' example files, id resolution, groups with inherited
 * dependencies, scale-only detection, the 422 body and the Mesos health
 * check mapping.
 *
 * The example files are read from examples/services/ relative to the
 * working directory: make check runs the unit tests from the repository
 * root.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "services/app.h"

/* ---- helpers ------------------------------------------------------- */

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

	if (!j) {
		print_error("bad test JSON '%s': %s\n", text, je.text);
		fail();
	}
	return j;
}

static void print_problems(const struct app_problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		print_error("  %s: %s\n", p->v[i].path, p->v[i].message);
}

/* Parses text as an app under parent; it must have no problem. */
static void app_ok_in(struct app *a, const char *text, const char *parent)
{
	struct app_problems p;
	json_t *j = load(text);
	int rc;

	app_problems_init(&p);
	app_init(a);
	rc = app_from_json(a, j, parent, "", &p);
	if (rc || p.n) {
		print_error("unexpected problems for %s:\n", text);
		print_problems(&p);
		fail();
	}
	app_problems_release(&p);
	json_decref(j);
}

static void app_ok(struct app *a, const char *text)
{
	app_ok_in(a, text, "/");
}

/* The index of the problem at path whose message contains part, or -1. */
static int find_problem(const struct app_problems *p, const char *path,
                        const char *part)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].path, path) &&
		    strstr(p->v[i].message, part))
			return (int)i;
	return -1;
}

static void assert_problem(const struct app_problems *p, const char *what,
                           const char *path, const char *part)
{
	if (find_problem(p, path, part) < 0) {
		print_error("%s: no problem at %s containing '%s'; got:\n",
		            what, path, part);
		print_problems(p);
		fail();
	}
}

/* The app's written fields as a JSON object. */
static json_t *written(const struct app *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	app_write_fields(&w, a);
	jsonw_obj_end(&w);
	assert_int_equal(w.depth, 0);
	j = json_loads(b.data, 0, NULL);
	if (!j) {
		print_error("written form is not JSON: %s\n", b.data);
		fail();
	}
	buf_release(&b);
	return j;
}

static char *written_text(const struct app *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	app_write_fields(&w, a);
	jsonw_obj_end(&w);
	return buf_detach(&b, NULL);
}

static char *read_file(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f) {
		print_error("cannot open '%s' (run from the repository "
		            "root): %s\n",
		            path, strerror(errno));
		fail();
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

/* ---- defaults ------------------------------------------------------ */

static void test_defaults(void **state)
{
	struct app a;

	(void)state;
	app_ok(&a, "{\"id\":\"web\",\"cmd\":\"sleep 1\"}");
	assert_string_equal(a.id, "/web");
	assert_string_equal(a.cmd, "sleep 1");
	assert_null(a.args);
	assert_true(a.cpus == 1 && a.mem == 128 && a.disk == 0);
	assert_int_equal(a.gpus, 0);
	assert_int_equal(a.instances, 1);
	assert_int_equal(a.constraints.n, 0);
	/* Marathon's default: one dynamic port named "default" */
	assert_int_equal(a.nports, 1);
	assert_int_equal(a.ports[0].port, 0);
	assert_string_equal(a.ports[0].name, "default");
	assert_string_equal(a.ports[0].protocol, "tcp");
	assert_false(a.require_ports);
	assert_true(a.backoff_seconds == 1 && a.backoff_factor == 1.15 &&
	            a.max_launch_delay_seconds == 300);
	assert_true(a.minimum_health_capacity == 1 &&
	            a.maximum_over_capacity == 1 &&
	            a.progress_deadline_seconds == 600);
	assert_true(a.task_kill_grace_period_seconds < 0);
	assert_int_equal(a.kill_selection, APP_KILL_YOUNGEST_FIRST);
	assert_false(a.unreachable_disabled);
	assert_true(a.inactive_after_seconds == 0 &&
	            a.expunge_after_seconds == 0);
	assert_int_equal(a.nhealth_checks, 0);
	assert_int_equal(a.nvolumes, 0);
	assert_null(a.container_type);
	app_release(&a);
}

static void test_written_defaults(void **state)
{
	struct app a;
	json_t *j, *us, *pd;

	(void)state;
	app_ok(&a, "{\"id\":\"/web\",\"cmd\":\"x\"}");
	j = written(&a);
	assert_string_equal(json_string_value(json_object_get(j, "id")),
	                    "/web");
	assert_true(json_is_null(json_object_get(j, "args")));
	assert_true(json_number_value(json_object_get(j, "cpus")) == 1);
	assert_true(json_number_value(json_object_get(j, "mem")) == 128);
	assert_int_equal(json_integer_value(json_object_get(j, "instances")),
	                 1);
	assert_true(json_is_array(json_object_get(j, "constraints")));
	assert_int_equal(json_array_size(json_object_get(j, "constraints")), 0);
	assert_true(json_is_array(json_object_get(j, "acceptedResourceRoles")));
	pd = json_array_get(json_object_get(j, "portDefinitions"), 0);
	assert_int_equal(json_integer_value(json_object_get(pd, "port")), 0);
	assert_string_equal(json_string_value(json_object_get(pd, "protocol")),
	                    "tcp");
	assert_true(json_is_object(json_object_get(pd, "labels")));
	assert_true(json_is_false(json_object_get(j, "requirePorts")));
	assert_true(json_is_object(json_object_get(j, "env")));
	assert_true(json_is_object(json_object_get(j, "labels")));
	assert_true(json_is_array(json_object_get(j, "fetch")));
	assert_true(json_is_array(json_object_get(j, "healthChecks")));
	assert_true(json_is_array(json_object_get(j, "readinessChecks")));
	us = json_object_get(j, "upgradeStrategy");
	assert_true(json_number_value(
			json_object_get(us, "minimumHealthCapacity")) == 1);
	assert_true(json_number_value(
			json_object_get(us, "progressDeadlineSeconds")) == 600);
	assert_true(json_number_value(json_object_get(j, "backoffFactor")) ==
	            1.15);
	assert_true(json_number_value(
			json_object_get(j, "maxLaunchDelaySeconds")) == 300);
	assert_string_equal(
	    json_string_value(json_object_get(j, "killSelection")),
	    "YOUNGEST_FIRST");
	assert_true(json_is_object(json_object_get(j, "unreachableStrategy")));
	assert_true(json_is_array(json_object_get(j, "dependencies")));
	assert_null(json_object_get(j, "container"));
	assert_null(json_object_get(j, "version"));
	json_decref(j);

	a.version = xstrdup("2024-01-02T03:04:05.678Z");
	j = written(&a);
	assert_string_equal(json_string_value(json_object_get(j, "version")),
	                    "2024-01-02T03:04:05.678Z");
	json_decref(j);
	app_release(&a);
}

static void test_health_check_defaults(void **state)
{
	struct app a;
	const struct app_health_check *hc;
	json_t *j, *h;

	(void)state;
	app_ok(&a, "{\"id\":\"a\",\"cmd\":\"x\",\"healthChecks\":[{}]}");
	assert_int_equal(a.nhealth_checks, 1);
	hc = &a.health_checks[0];
	assert_int_equal(hc->protocol, APP_CHECK_HTTP);
	assert_string_equal(hc->protocol_name, "HTTP");
	assert_string_equal(hc->path, "/");
	assert_int_equal(hc->port_index, 0);
	assert_int_equal(hc->port, 0);
	assert_true(hc->grace_period_seconds == 300 &&
	            hc->interval_seconds == 60 && hc->timeout_seconds == 20 &&
	            hc->delay_seconds == 15);
	assert_int_equal(hc->max_consecutive_failures, 3);
	assert_false(hc->ignore_http_1xx);

	j = written(&a);
	h = json_array_get(json_object_get(j, "healthChecks"), 0);
	assert_string_equal(json_string_value(json_object_get(h, "protocol")),
	                    "HTTP");
	assert_string_equal(json_string_value(json_object_get(h, "path")), "/");
	assert_int_equal(json_integer_value(json_object_get(h, "portIndex")),
	                 0);
	assert_true(
	    json_number_value(json_object_get(h, "gracePeriodSeconds")) == 300);
	assert_true(json_number_value(json_object_get(h, "intervalSeconds")) ==
	            60);
	assert_true(json_number_value(json_object_get(h, "timeoutSeconds")) ==
	            20);
	assert_true(json_number_value(json_object_get(h, "delaySeconds")) ==
	            15);
	assert_int_equal(
	    json_integer_value(json_object_get(h, "maxConsecutiveFailures")),
	    3);
	assert_true(json_is_false(json_object_get(h, "ignoreHttp1xx")));
	json_decref(j);
	app_release(&a);

	app_ok(&a, "{\"id\":\"a\",\"cmd\":\"x\",\"portDefinitions\":[{\"name\":"
	           "\"http-api\"}],"
	           "\"readinessChecks\":[{}]}");
	assert_int_equal(a.nreadiness_checks, 1);
	assert_string_equal(a.readiness_checks[0].name, "readinessCheck");
	assert_string_equal(a.readiness_checks[0].protocol, "HTTP");
	assert_string_equal(a.readiness_checks[0].port_name, "http-api");
	assert_true(a.readiness_checks[0].interval_seconds == 30 &&
	            a.readiness_checks[0].timeout_seconds == 10);
	assert_int_equal(a.readiness_checks[0].nstatus_codes, 1);
	assert_int_equal(a.readiness_checks[0].status_codes[0], 200);
	app_release(&a);
}

static void test_old_forms(void **state)
{
	struct app a;

	(void)state;
	app_ok(&a, "{\"id\":\"a\",\"args\":[\"/bin/x\",\"-v\"],"
	           "\"ports\":[8080,0],\"uris\":[\"http://h/a.tgz\","
	           "\"http://h/b.sh\"]}");
	assert_null(a.cmd);
	assert_int_equal(a.nargs, 2);
	assert_string_equal(a.args[1], "-v");
	assert_int_equal(a.nports, 2);
	assert_int_equal(a.ports[0].port, 8080);
	assert_null(a.ports[0].name);
	assert_int_equal(a.nfetch, 2);
	assert_true(a.fetch[0].extract);
	assert_false(a.fetch[1].extract);
	app_release(&a);

	/* an explicitly empty port list means no ports */
	app_ok(&a, "{\"id\":\"a\",\"cmd\":\"x\",\"portDefinitions\":[]}");
	assert_int_equal(a.nports, 0);
	app_release(&a);

	/* null means "use the default", as in Marathon */
	app_ok(&a, "{\"id\":\"a\",\"cmd\":null,\"args\":[\"x\"],\"cpus\":null,"
	           "\"user\":null}");
	assert_null(a.cmd);
	assert_true(a.cpus == 1);
	app_release(&a);
}

static void test_persistent_defaults(void **state)
{
	struct app a;
	json_t *j;

	(void)state;
	app_ok(&a, "{\"id\":\"db\",\"cmd\":\"x\",\"container\":{\"volumes\":"
	           "[{\"containerPath\":\"data\",\"persistent\":{\"size\":"
	           "64}}]},\"upgradeStrategy\":{\"minimumHealthCapacity\":"
	           "0.2}}");
	assert_int_equal(a.nvolumes, 1);
	assert_true(a.volumes[0].persistent_size == 64);
	assert_string_equal(a.volumes[0].persistent_type, "root");
	assert_string_equal(a.volumes[0].mode, "RW");
	assert_string_equal(a.container_type, "MESOS");
	assert_true(a.minimum_health_capacity == 0.2);
	assert_true(a.maximum_over_capacity == 0);
	assert_true(a.unreachable_disabled);
	j = written(&a);
	assert_string_equal(
	    json_string_value(json_object_get(j, "unreachableStrategy")),
	    "disabled");
	assert_true(json_is_object(json_object_get(j, "container")));
	json_decref(j);
	app_release(&a);
}

/* ---- validation: one bad field per row ----------------------------- */

struct bad_case {
	const char *json;
	const char *path;
	const char *part;
};

#define APP(rest) "{\"id\":\"a\",\"cmd\":\"x\"," rest "}"
#define VOL(v) APP("\"container\":{\"volumes\":[" v "]}")

static const struct bad_case bad_cases[] = {
    {APP("\"gracefulShutdown\":{}"), "/gracefulShutdown/portName",
     "is required"},
    {APP("\"gracefulShutdown\":{\"portName\":\"nope\"}"),
     "/gracefulShutdown/portName", "'nope' names no port definition"},
    {APP("\"portDefinitions\":[{\"name\":\"h\"}],\"gracefulShutdown\":"
         "{\"portName\":\"h\",\"quitquitquitWaitSeconds\":-1}"),
     "/gracefulShutdown/quitquitquitWaitSeconds", "got -1"},
    {"{\"cmd\":\"x\"}", "/id", "is required"},
    {"{\"id\":5,\"cmd\":\"x\"}", "/id", "expected a string, got a number"},
    {"{\"id\":\"Web\",\"cmd\":\"x\"}", "/id", "invalid segment 'Web'"},
    {"{\"id\":\"/a/-b\",\"cmd\":\"x\"}", "/id", "invalid segment '-b'"},
    {"{\"id\":\"..\",\"cmd\":\"x\"}", "/id", "climbs above the root"},
    {"{\"id\":\"/\",\"cmd\":\"x\"}", "/id", "root group"},
    {"[1,2]", "/", "expected an object, got an array"},
    {"{\"id\":\"a\",\"cmd\":\"x\",\"args\":[\"y\"]}", "/cmd",
     "mutually exclusive"},
    {APP("\"cmd\":\"\""), "/cmd", "must not be empty"},
    {"{\"id\":\"a\",\"cmd\":7}", "/cmd", "expected a string"},
    {"{\"id\":\"a\",\"args\":[\"x\",1]}", "/args(1)",
     "expected a string, got a number"},
    {"{\"id\":\"a\",\"args\":\"x\"}", "/args", "expected an array"},
    {APP("\"cpus\":-1"), "/cpus", "must be >= 0, got -1"},
    {APP("\"cpus\":\"1\""), "/cpus", "expected a number, got a string"},
    {APP("\"mem\":-5"), "/mem", "must be >= 0, got -5"},
    {APP("\"mem\":true"), "/mem", "expected a number, got a boolean"},
    {APP("\"disk\":-0.5"), "/disk", "must be >= 0, got -0.5"},
    {APP("\"gpus\":1.5"), "/gpus", "must be an integer, got 1.5"},
    {APP("\"gpus\":-1"), "/gpus", "must be >= 0, got -1"},
    {APP("\"instances\":-1"), "/instances", "must be >= 0, got -1"},
    {APP("\"instances\":\"3\""), "/instances", "expected an integer"},
    {APP("\"instances\":3000000000"), "/instances",
     "must be <= 2147483647, got 3000000000"},
    {APP("\"constraints\":[[\"hostname\",\"BOGUS\"]]"), "/constraints(0)", ""},
    {APP("\"constraints\":[[\"hostname\",\"UNIQUE\"],7]"), "/constraints(1)",
     ""},
    {APP("\"acceptedResourceRoles\":\"x\""), "/acceptedResourceRoles",
     "expected an array"},
    {APP("\"acceptedResourceRoles\":[\"\"]"), "/acceptedResourceRoles",
     "must not be empty"},
    {APP("\"role\":[]"), "/role", "expected a string, got an array"},
    {APP("\"portDefinitions\":[{\"port\":70000}]"), "/portDefinitions(0)/port",
     "must be <= 65535, got 70000"},
    {APP("\"portDefinitions\":[{\"port\":-1}]"), "/portDefinitions(0)/port",
     "must be >= 0, got -1"},
    {APP("\"portDefinitions\":[{\"name\":\"Http\"}]"),
     "/portDefinitions(0)/name", "must match ^[a-z0-9-]+$, got 'Http'"},
    {APP("\"portDefinitions\":[{\"name\":\"a\"},{\"name\":\"a\"}]"),
     "/portDefinitions(1)/name", "duplicate port name 'a'"},
    {APP("\"portDefinitions\":[{\"port\":80},{\"port\":80}]"),
     "/portDefinitions(1)/port", "duplicate port 80"},
    {APP("\"portDefinitions\":[{\"protocol\":\"sctp\"}]"),
     "/portDefinitions(0)/protocol", "got 'sctp'"},
    {APP("\"portDefinitions\":[7]"), "/portDefinitions(0)",
     "expected an object, got a number"},
    {APP("\"portDefinitions\":[{\"labels\":{\"k\":1}}]"),
     "/portDefinitions(0)/labels/k", "expected a string"},
    {APP("\"portDefinitions\":{}"), "/portDefinitions", "expected an array"},
    {APP("\"ports\":[\"a\"]"), "/ports(0)", "expected a port number"},
    {APP("\"ports\":[65536]"), "/ports(0)", "got 65536"},
    {APP("\"ports\":[1],\"portDefinitions\":[]"), "/ports", "not both"},
    {APP("\"requirePorts\":true"), "/requirePorts", "port index 0 is 0"},
    {APP("\"requirePorts\":true,\"portDefinitions\":[{\"port\":80},{}]"),
     "/requirePorts", "port index 1"},
    {APP("\"requirePorts\":\"yes\""), "/requirePorts", "expected a boolean"},
    {APP("\"env\":{\"DB\":{\"secret\":\"pw\"}}"), "/env/DB",
     "secrets are not supported"},
    {APP("\"env\":{\"N\":1}"), "/env/N", "expected a string, got a number"},
    {APP("\"env\":[]"), "/env", "expected an object, got an array"},
    {APP("\"secrets\":{\"pw\":{\"source\":\"x\"}}"), "/secrets",
     "not supported"},
    {APP("\"labels\":{\"a\":true}"), "/labels/a", "expected a string"},
    {APP("\"fetch\":[{}]"), "/fetch(0)/uri", "is required"},
    {APP("\"fetch\":[{\"uri\":\"http://x\",\"extract\":1}]"),
     "/fetch(0)/extract", "expected a boolean"},
    {APP("\"fetch\":[\"http://x\"]"), "/fetch(0)", "expected an object"},
    {APP("\"uris\":[1]"), "/uris(0)", "expected a string, got a number"},
    {APP("\"uris\":[\"a\"],\"fetch\":[]"), "/uris", "not both"},
    {APP("\"user\":5"), "/user", "expected a string"},
    {APP("\"healthChecks\":[{\"protocol\":\"FOO\"}]"),
     "/healthChecks(0)/protocol", "unknown protocol 'FOO'"},
    {APP("\"healthChecks\":[{\"protocol\":\"COMMAND\"}]"),
     "/healthChecks(0)/command", "command.value"},
    {APP("\"healthChecks\":[{\"protocol\":\"COMMAND\",\"command\":\"ls\"}]"),
     "/healthChecks(0)/command", "expected an object"},
    {APP("\"healthChecks\":[{\"portIndex\":1}]"), "/healthChecks(0)/portIndex",
     "must be < 1 (the number of ports), got 1"},
    {APP("\"portDefinitions\":[],\"healthChecks\":[{\"protocol\":\"TCP\"}]"),
     "/healthChecks(0)/portIndex", "no port definitions"},
    {APP("\"healthChecks\":[{\"port\":80,\"portIndex\":0}]"),
     "/healthChecks(0)/port", "not both"},
    {APP("\"healthChecks\":[{\"port\":70000}]"), "/healthChecks(0)/port",
     "must be <= 65535"},
    {APP("\"healthChecks\":[{\"timeoutSeconds\":60}]"),
     "/healthChecks(0)/timeoutSeconds",
     "must be < intervalSeconds (60), got 60"},
    {APP("\"healthChecks\":[{\"gracePeriodSeconds\":-1}]"),
     "/healthChecks(0)/gracePeriodSeconds", "must be >= 0, got -1"},
    {APP("\"healthChecks\":[{\"intervalSeconds\":\"5\"}]"),
     "/healthChecks(0)/intervalSeconds", "expected a number"},
    {APP("\"healthChecks\":[{\"delaySeconds\":-3}]"),
     "/healthChecks(0)/delaySeconds", "got -3"},
    {APP("\"healthChecks\":[{\"maxConsecutiveFailures\":-1}]"),
     "/healthChecks(0)/maxConsecutiveFailures", "must be >= 0"},
    {APP("\"healthChecks\":[{\"path\":1}]"), "/healthChecks(0)/path",
     "expected a string"},
    {APP("\"healthChecks\":[{},{}]"), "/healthChecks", "at most one"},
    {APP("\"healthChecks\":[1]"), "/healthChecks(0)", "expected an object"},
    {APP("\"readinessChecks\":[{\"portName\":\"default\"},"
         "{\"portName\":\"default\"}]"),
     "/readinessChecks", "at most one"},
    {APP("\"readinessChecks\":[{}]"), "/readinessChecks(0)/portName",
     "no port definition is named 'http-api'"},
    {APP("\"readinessChecks\":[{\"portName\":\"default\","
         "\"timeoutSeconds\":40}]"),
     "/readinessChecks(0)/timeoutSeconds", "must be < intervalSeconds (30)"},
    {APP("\"readinessChecks\":[{\"portName\":\"default\","
         "\"protocol\":\"TCP\"}]"),
     "/readinessChecks(0)/protocol", "must be HTTP (HTTPS readiness"},
    {APP("\"readinessChecks\":[{\"portName\":\"default\","
         "\"protocol\":\"HTTPS\"}]"),
     "/readinessChecks(0)/protocol", "not supported yet"},
    {APP("\"healthChecks\":[{\"protocol\":\"MESOS_HTTPS\"}]"),
     "/healthChecks(0)/protocol",
     "'MESOS_HTTPS' health checks are not supported yet"},
    {APP("\"readinessChecks\":[{\"portName\":\"default\","
         "\"httpStatusCodesForReady\":[99]}]"),
     "/readinessChecks(0)/httpStatusCodesForReady(0)", "status code"},
    {APP("\"upgradeStrategy\":{\"minimumHealthCapacity\":1.5}"),
     "/upgradeStrategy/minimumHealthCapacity", "must be <= 1, got 1.5"},
    {APP("\"upgradeStrategy\":{\"maximumOverCapacity\":-0.1}"),
     "/upgradeStrategy/maximumOverCapacity", "must be >= 0, got -0.1"},
    {APP("\"upgradeStrategy\":{\"progressDeadlineSeconds\":-1}"),
     "/upgradeStrategy/progressDeadlineSeconds", "must be >= 0"},
    {APP("\"upgradeStrategy\":[]"), "/upgradeStrategy", "expected an object"},
    {APP("\"backoffSeconds\":-1"), "/backoffSeconds", "must be >= 0, got -1"},
    {APP("\"backoffFactor\":0.5"), "/backoffFactor", "must be >= 1, got 0.5"},
    {APP("\"maxLaunchDelaySeconds\":-2"), "/maxLaunchDelaySeconds",
     "must be >= 0, got -2"},
    {APP("\"taskKillGracePeriodSeconds\":-2"), "/taskKillGracePeriodSeconds",
     "must be >= 0"},
    {APP("\"killSelection\":\"RANDOM\""), "/killSelection",
     "YOUNGEST_FIRST or OLDEST_FIRST"},
    {APP("\"unreachableStrategy\":\"enabled\""), "/unreachableStrategy",
     "\"disabled\" or an object"},
    {APP("\"unreachableStrategy\":5"), "/unreachableStrategy", "got a number"},
    {APP("\"unreachableStrategy\":{\"inactiveAfterSeconds\":-1}"),
     "/unreachableStrategy/inactiveAfterSeconds", "must be >= 0"},
    {APP("\"unreachableStrategy\":{\"inactiveAfterSeconds\":10,"
         "\"expungeAfterSeconds\":5}"),
     "/unreachableStrategy/expungeAfterSeconds", "inactiveAfterSeconds (10)"},
    {APP("\"dependencies\":[\"Bad\"]"), "/dependencies(0)",
     "invalid segment 'Bad'"},
    {APP("\"dependencies\":[\"../..\"]"), "/dependencies(0)",
     "climbs above the root"},
    {APP("\"dependencies\":[3]"), "/dependencies(0)", "expected a string"},
    {APP("\"dependencies\":[\"b\",\"/b\"]"), "/dependencies(1)",
     "duplicate dependency '/b'"},
    {APP("\"dependencies\":[\"a\"]"), "/dependencies(0)", "itself"},
    {APP("\"container\":{\"type\":\"DOCKER\"}"), "/container/type",
     "docker containers are not supported"},
    {APP("\"container\":{\"type\":\"LXC\"}"), "/container/type",
     "unknown container type 'LXC'"},
    {APP("\"container\":\"MESOS\""), "/container", "expected an object"},
    {VOL("{\"containerPath\":\"d\",\"persistent\":{\"size\":0}}"),
     "/container/volumes(0)/persistent/size", "must be > 0, got 0"},
    {VOL("{\"containerPath\":\"d\",\"persistent\":{}}"),
     "/container/volumes(0)/persistent/size", "is required"},
    {VOL("{\"containerPath\":\"d\",\"persistent\":{\"size\":\"1\"}}"),
     "/container/volumes(0)/persistent/size", "expected a number"},
    {VOL("{\"containerPath\":\"a/b\",\"persistent\":{\"size\":1}}"),
     "/container/volumes(0)/containerPath",
     "one relative path segment (no '/' or '..') for a persistent volume, "
     "got 'a/b'"},
    {VOL("{\"containerPath\":\"..\",\"persistent\":{\"size\":1}}"),
     "/container/volumes(0)/containerPath", "got '..'"},
    {VOL("{\"persistent\":{\"size\":1}}"),
     "/container/volumes(0)/containerPath", "is required"},
    {VOL("{\"containerPath\":\"d\",\"mode\":\"RX\",\"hostPath\":\"/x\"}"),
     "/container/volumes(0)/mode", "must be RW or RO, got 'RX'"},
    {VOL("{\"containerPath\":\"d\",\"mode\":\"RO\",\"persistent\":{\"size\":"
         "1}}"),
     "/container/volumes(0)/mode", "persistent volumes must be RW"},
    {VOL("{\"containerPath\":\"d\",\"persistent\":{\"size\":1,\"type\":"
         "\"tmp\"}}"),
     "/container/volumes(0)/persistent/type", "got 'tmp'"},
    {VOL("{\"containerPath\":\"d\"}"), "/container/volumes(0)",
     "needs hostPath or persistent"},
    {VOL("{\"containerPath\":\"d\",\"hostPath\":\"/x\",\"persistent\":{"
         "\"size\":1}}"),
     "/container/volumes(0)/hostPath", "takes no hostPath"},
    /* a valid row, a control for the table (see test_bad_cases) */
    {VOL("{\"containerPath\":\"d\",\"persistent\":{\"size\":1}}"), NULL, NULL},
    {APP("\"container\":{\"volumes\":[{\"containerPath\":\"d\","
         "\"persistent\":{\"size\":1}}]},\"upgradeStrategy\":{"
         "\"maximumOverCapacity\":0.5}"),
     "/upgradeStrategy/maximumOverCapacity",
     "must be 0 for apps with persistent volumes, got 0.5"},
    {APP("\"container\":{\"volumes\":[{\"containerPath\":\"d\","
         "\"persistent\":{\"size\":1}}]},\"unreachableStrategy\":{}"),
     "/unreachableStrategy", "must be \"disabled\" for apps with persistent"},
    {"{\"id\":\"a\",\"cmd\":\"x\\u0000y\"}", "/cmd", "NUL"},
};

static void test_bad_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct app_problems p;
		struct app a;
		json_t *j = load(bc->json);
		int rc;

		app_problems_init(&p);
		app_init(&a);
		rc = app_from_json(&a, j, "/", "", &p);
		if (!bc->path) {
			/* the one valid row: a control for the table */
			if (rc || p.n) {
				print_problems(&p);
				fail_msg("row %zu should be valid", i);
			}
		} else {
			if (rc != -EINVAL)
				fail_msg("row %zu (%s) was accepted", i,
				         bc->json);
			assert_problem(&p, bc->json, bc->path, bc->part);
		}
		app_release(&a);
		app_problems_release(&p);
		json_decref(j);
	}
}

/* Every problem is reported, not just the first. */
static void test_collects_all(void **state)
{
	struct app_problems p;
	struct app a;
	json_t *j = load("{\"cpus\":-1,\"mem\":\"x\",\"instances\":-2,"
	                 "\"healthChecks\":[{\"protocol\":\"X\","
	                 "\"timeoutSeconds\":-1}]}");

	(void)state;
	app_problems_init(&p);
	app_init(&a);
	assert_int_equal(app_from_json(&a, j, "/", "/apps(1)", &p), -EINVAL);
	assert_problem(&p, "all", "/apps(1)/id", "is required");
	assert_problem(&p, "all", "/apps(1)/cpus", "got -1");
	assert_problem(&p, "all", "/apps(1)/mem", "expected a number");
	assert_problem(&p, "all", "/apps(1)/instances", "got -2");
	assert_problem(&p, "all", "/apps(1)/healthChecks(0)/protocol", "'X'");
	assert_problem(&p, "all", "/apps(1)/healthChecks(0)/timeoutSeconds",
	               "got -1");
	assert_problem(&p, "all", "/apps(1)/cmd", "give cmd or args");
	assert_int_equal(p.n, 7);
	app_release(&a);
	app_release(&a); /* a released app is empty: harmless */
	app_problems_release(&p);
	json_decref(j);
}

/* ---- the 422 body -------------------------------------------------- */

static void test_problems_json(void **state)
{
	struct app_problems p;
	struct buf b = BUF_INIT;
	struct jsonw w;

	(void)state;
	app_problems_init(&p);
	app_problems_add(&p, "/cpus", "must be >= %d, got %d", 0, -1);
	app_problems_add(&p, "/mem", "bad");
	app_problems_add(&p, "/cpus", "second");
	app_problems_add(&p, "", "whole \"object\"");
	jsonw_init(&w, &b);
	app_problems_write_json(&w, &p);
	assert_string_equal(
	    b.data, "{\"message\":\"Object is not valid\",\"details\":["
		    "{\"path\":\"/cpus\",\"errors\":[\"must be >= 0, got -1\","
		    "\"second\"]},{\"path\":\"/mem\",\"errors\":[\"bad\"]},"
		    "{\"path\":\"/\",\"errors\":[\"whole \\\"object\\\"\"]}]}");
	app_problems_release(&p);
	assert_int_equal(p.n, 0);

	buf_reset(&b);
	jsonw_init(&w, &b);
	app_problems_write_json(&w, &p);
	assert_string_equal(
	    b.data, "{\"message\":\"Object is not valid\",\"details\":[]}");
	buf_release(&b);
}

/* ---- round trips --------------------------------------------------- */

static const char *const round_trip_apps[] = {
    "{\"id\":\"a\",\"cmd\":\"x\"}",
    "{\"id\":\"/p/q/web\",\"args\":[\"/bin/web\",\"--port\",\"$PORT0\"],"
    "\"cpus\":0.25,\"mem\":300.5,\"disk\":10,\"gpus\":1,\"instances\":0,"
    "\"constraints\":[[\"hostname\",\"UNIQUE\"],[\"rack_id\",\"MAX_PER\","
    "\"3\"]],\"acceptedResourceRoles\":[\"slave_public\"],\"role\":\"web\","
    "\"portDefinitions\":[{\"port\":0,\"name\":\"http\",\"labels\":{"
    "\"VIP_0\":\"/web:80\"}},{\"port\":9000,\"protocol\":\"udp,tcp\"}],"
    "\"env\":{\"A\":\"1\",\"B\":\"\"},\"labels\":{\"HAPROXY_GROUP\":"
    "\"external\"},\"fetch\":[{\"uri\":\"http://h/x.tgz\",\"cache\":true,"
    "\"destPath\":\"x\"}],\"user\":\"nobody\",\"healthChecks\":[{"
    "\"protocol\":\"MESOS_HTTP\",\"path\":\"/health\",\"portIndex\":1,"
    "\"gracePeriodSeconds\":5,\"intervalSeconds\":2.5,\"timeoutSeconds\":"
    "1,\"delaySeconds\":0,\"maxConsecutiveFailures\":0,\"ignoreHttp1xx\":"
    "true}],\"readinessChecks\":[{\"name\":\"warm\",\"protocol\":\"HTTP\","
    "\"path\":\"/ready\",\"portName\":\"http\",\"intervalSeconds\":5,"
    "\"timeoutSeconds\":2,\"httpStatusCodesForReady\":[200,204],"
    "\"preserveLastResponse\":true}],\"upgradeStrategy\":{"
    "\"minimumHealthCapacity\":0.5,\"maximumOverCapacity\":0.2,"
    "\"progressDeadlineSeconds\":0},\"backoffSeconds\":3,\"backoffFactor\":"
    "2,\"maxLaunchDelaySeconds\":60,\"taskKillGracePeriodSeconds\":7,"
    "\"killSelection\":\"OLDEST_FIRST\",\"unreachableStrategy\":{"
    "\"inactiveAfterSeconds\":30,\"expungeAfterSeconds\":60},"
    "\"dependencies\":[\"../db\",\"/cache\"],\"version\":\"x\"}",
    "{\"id\":\"c\",\"cmd\":\"x\",\"healthChecks\":[{\"protocol\":"
    "\"COMMAND\",\"command\":{\"value\":\"curl -f localhost\"}}]}",
    "{\"id\":\"t\",\"cmd\":\"x\",\"portDefinitions\":[],\"healthChecks\":[{"
    "\"protocol\":\"TCP\",\"port\":8080}],\"unreachableStrategy\":"
    "\"disabled\"}",
    "{\"id\":\"v\",\"cmd\":\"x\",\"container\":{\"type\":\"MESOS\","
    "\"volumes\":[{\"containerPath\":\"data\",\"mode\":\"RW\","
    "\"persistent\":{\"type\":\"mount\",\"size\":1024}},{"
    "\"containerPath\":\"/etc/x\",\"hostPath\":\"/etc/x\",\"mode\":\"RO\"}"
    "]}}",
    "{\"id\":\"u\",\"cmd\":\"x\",\"ports\":[80,0],\"requirePorts\":false,"
    "\"uris\":[\"http://h/a.zip\",\"http://h/b\"]}",
    "{\"id\":\"g\",\"cmd\":\"x\",\"portDefinitions\":[{\"name\":\"h\"}],"
    "\"gracefulShutdown\":{\"portName\":\"h\",\"abortabortabortWaitSeconds\":"
    "2}}",
};

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(round_trip_apps); i++) {
		struct app a, b;
		char *t1, *t2;

		app_ok(&a, round_trip_apps[i]);
		t1 = written_text(&a);
		app_ok(&b, t1);
		t2 = written_text(&b);
		if (strcmp(t1, t2)) {
			print_error("round trip %zu differs:\n%s\n%s\n", i, t1,
			            t2);
			fail();
		}
		/* equal definitions apart from the instance count */
		assert_true(app_is_scale_only_change(&a, &b));
		free(t1);
		free(t2);
		app_release(&a);
		app_release(&b);
	}
}

/* Spot checks of the rich app: the values survive, ids are absolute. */
static void test_rich_app_values(void **state)
{
	struct app a;

	(void)state;
	app_ok(&a, round_trip_apps[1]);
	assert_string_equal(a.id, "/p/q/web");
	assert_int_equal(a.constraints.n, 2);
	assert_int_equal(a.nports, 2);
	assert_string_equal(a.ports[1].protocol, "udp,tcp");
	assert_int_equal(a.ports[0].nlabels, 1);
	assert_int_equal(a.health_checks[0].protocol, APP_CHECK_HTTP);
	assert_string_equal(a.health_checks[0].protocol_name, "MESOS_HTTP");
	assert_int_equal(a.health_checks[0].max_consecutive_failures, 0);
	assert_int_equal(a.readiness_checks[0].nstatus_codes, 2);
	assert_true(a.progress_deadline_seconds == 0);
	assert_int_equal(a.kill_selection, APP_KILL_OLDEST_FIRST);
	assert_true(a.inactive_after_seconds == 30);
	assert_int_equal(a.ndependencies, 2);
	assert_string_equal(a.dependencies[0], "/p/db");
	assert_string_equal(a.dependencies[1], "/cache");
	/* "version" is the caller's; the parser ignores the submitted one */
	assert_null(a.version);
	app_release(&a);
}

/* ---- the definition kept for PATCH --------------------------------- */

static void test_definition(void **state)
{
	struct app a;
	json_t *d, *deps;

	(void)state;
	app_ok_in(
	    &a,
	    "{\"id\":\"web\",\"cmd\":\"x\",\"version\":\"2020\","
	    "\"dependencies\":[\"db\",\"../x/y\"],\"executor\":\"//cmd\"}",
	    "/p");
	d = a.definition;
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "id")),
	                    "/p/web");
	assert_null(json_object_get(d, "version"));
	deps = json_object_get(d, "dependencies");
	assert_int_equal(json_array_size(deps), 2);
	assert_string_equal(json_string_value(json_array_get(deps, 0)),
	                    "/p/db");
	assert_string_equal(json_string_value(json_array_get(deps, 1)), "/x/y");
	assert_string_equal(json_string_value(json_object_get(d, "executor")),
	                    "//cmd");
	/* nothing else is added */
	assert_int_equal(json_object_size(d), 4);
	app_release(&a);
}

/* ---- the slides' examples ----------------------------------------- */

static const char *const example_apps[] = {
    "examples/services/marathon-http-discovery.json",
    "examples/services/marathon-persistent-volume.json",
    "examples/services/marathon-rails-constraints.json",
    "examples/services/marathon-rails-health.json",
};

static void test_examples(void **state)
{
	struct app a;
	char *text;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(example_apps); i++) {
		text = read_file(example_apps[i]);
		app_ok(&a, text);
		switch (i) {
		case 0:
			assert_string_equal(a.id, "/app");
			assert_string_equal(a.ports[0].name, "http");
			break;
		case 1:
			assert_true(a.volumes[0].persistent_size == 128);
			assert_true(a.maximum_over_capacity == 0);
			assert_true(a.unreachable_disabled);
			break;
		case 2:
			assert_string_equal(a.id, "/rails_app");
			assert_int_equal(a.instances, 10);
			assert_int_equal(a.constraints.n, 4);
			break;
		case 3:
			assert_int_equal(a.health_checks[0].protocol,
			                 APP_CHECK_TCP);
			break;
		}
		app_release(&a);
		free(text);
	}
}

static void test_example_group(void **state)
{
	struct app_problems p;
	struct group g;
	struct app *apps;
	size_t napps;
	char *text = read_file("examples/services/marathon-product-group.json");
	json_t *j = load(text);

	(void)state;
	app_problems_init(&p);
	group_init(&g);
	if (group_from_json(&g, j, "/", &p)) {
		print_problems(&p);
		fail();
	}
	assert_string_equal(g.id, "/product");
	assert_int_equal(g.ngroups, 2);
	assert_string_equal(g.groups[1].id, "/product/service");
	assert_string_equal(g.groups[1].dependencies[0], "/product/database");
	assert_string_equal(g.groups[0].apps[1].id, "/product/database/mysql");

	group_take_apps(&g, &apps, &napps);
	assert_int_equal(napps, 4);
	assert_int_equal(g.groups[0].napps, 0);
	assert_int_equal(g.ngroups, 2);
	for (size_t i = 0; i < napps; i++) {
		if (app_id_is_under(apps[i].id, "/product/service")) {
			assert_int_equal(apps[i].ndependencies, 1);
			assert_string_equal(apps[i].dependencies[0],
			                    "/product/database");
		} else {
			assert_int_equal(apps[i].ndependencies, 0);
		}
		app_release(&apps[i]);
	}
	free(apps);
	group_release(&g);
	app_problems_release(&p);
	json_decref(j);
	free(text);
}

/* ---- ids ----------------------------------------------------------- */

struct id_case {
	const char *parent, *id;
	const char *want; /* NULL: an error containing part */
	const char *part;
};

static const struct id_case id_cases[] = {
    {"/", "a", "/a", NULL},
    {"/", "/a/b/", "/a/b", NULL},
    {"/", "a//b", "/a/b", NULL},
    {"/product", "mysql", "/product/mysql", NULL},
    {"/product/database", "../service/rails", "/product/service/rails", NULL},
    {"/a/b", ".", "/a/b", NULL},
    {"/a/b", "./c", "/a/b/c", NULL},
    {"/a/b", "..", "/a", NULL},
    {"/a", "..", "/", NULL},
    {"/x", "/y", "/y", NULL},
    {"/x", "/y/../z", "/z", NULL},
    {"/", "/", "/", NULL},
    {"/", "rails_app", "/rails_app", NULL},
    {"/", "_a_", "/_a_", NULL},
    {"/", "a.b-c.d9", "/a.b-c.d9", NULL},
    {"/", "0", "/0", NULL},
    {NULL, "a", "/a", NULL},
    {"/a", "../..", NULL, "climbs above the root"},
    {"/", "..", NULL, "climbs above the root"},
    {"/", "", NULL, "empty"},
    {"/", NULL, NULL, "empty"},
    {"/", "-a", NULL, "invalid segment '-a'"},
    {"/", "a-", NULL, "invalid segment 'a-'"},
    {"/", "A", NULL, "invalid segment 'A'"},
    {"/", "a b", NULL, "invalid segment 'a b'"},
    {"/", "a..b", NULL, "invalid segment 'a..b'"},
    {"/", ".a", NULL, "invalid segment '.a'"},
    {"/", "a/b$/c", NULL, "invalid segment 'b$'"},
    {"/", "a.-b", NULL, "invalid segment"},
};

static void test_id_resolve(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(id_cases); i++) {
		const struct id_case *ic = &id_cases[i];
		struct err e = {{0}};
		char *got = app_id_resolve(ic->parent, ic->id, &e);

		if (ic->want) {
			if (!got)
				fail_msg("row %zu: '%s' in '%s': %s", i, ic->id,
				         ic->parent, e.msg);
			assert_string_equal(got, ic->want);
		} else {
			if (got)
				fail_msg("row %zu: '%s' resolved to '%s'", i,
				         ic->id ? ic->id : "(null)", got);
			if (!strstr(e.msg, ic->part))
				fail_msg("row %zu: message '%s' lacks '%s'", i,
				         e.msg, ic->part);
		}
		free(got);
	}
}

static void test_id_parent_and_under(void **state)
{
	static const struct {
		const char *id, *parent;
	} parents[] = {
	    {"/a/b", "/a"},  {"/a", "/"},        {"/", "/"},
	    {"/a/b/", "/a"}, {"/a/b/c", "/a/b"},
	};
	static const struct {
		const char *id, *prefix;
		bool under;
	} unders[] = {
	    {"/a/b", "/a", true}, {"/ab", "/a", false},  {"/a", "/a", true},
	    {"/x", "/", true},    {"/a", "/a/b", false}, {"/a/b", "/a/", true},
	    {"/", "/a", false},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parents); i++) {
		char *p = app_id_parent(parents[i].id);
		assert_string_equal(p, parents[i].parent);
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(unders); i++) {
		if (app_id_is_under(unders[i].id, unders[i].prefix) !=
		    unders[i].under)
			fail_msg("row %zu: '%s' under '%s'", i, unders[i].id,
			         unders[i].prefix);
	}
}

/* ---- groups -------------------------------------------------------- */

static void group_ok(struct group *g, const char *text, const char *parent)
{
	struct app_problems p;
	json_t *j = load(text);

	app_problems_init(&p);
	group_init(g);
	if (group_from_json(g, j, parent, &p) || p.n) {
		print_error("unexpected problems for %s:\n", text);
		print_problems(&p);
		fail();
	}
	app_problems_release(&p);
	json_decref(j);
}

static void test_group_relative_ids(void **state)
{
	struct group g;

	(void)state;
	group_ok(&g,
	         "{\"id\":\"p\",\"dependencies\":[\"/ext\"],\"apps\":[{\"id\":"
	         "\"web\",\"cmd\":\"x\",\"dependencies\":[\"db/mysql\"]}],"
	         "\"groups\":[{\"id\":\"db\",\"dependencies\":[\"../cache\"],"
	         "\"apps\":[{\"id\":\"mysql\",\"cmd\":\"x\"}]},{\"id\":"
	         "\"/p/cache\",\"groups\":[{\"id\":\"deep\"}]}]}",
	         "/");
	assert_string_equal(g.id, "/p");
	assert_string_equal(g.apps[0].id, "/p/web");
	assert_string_equal(g.apps[0].dependencies[0], "/p/db/mysql");
	assert_string_equal(g.groups[0].id, "/p/db");
	assert_string_equal(g.groups[0].dependencies[0], "/p/cache");
	assert_string_equal(g.groups[0].apps[0].id, "/p/db/mysql");
	assert_string_equal(g.groups[1].groups[0].id, "/p/cache/deep");
	group_release(&g);

	/* a top-level group without an id is the parent itself */
	group_ok(&g, "{\"apps\":[{\"id\":\"a\",\"cmd\":\"x\"}]}", "/q");
	assert_string_equal(g.id, "/q");
	assert_string_equal(g.apps[0].id, "/q/a");
	group_release(&g);

	group_ok(&g, "{\"apps\":[{\"id\":\"a\",\"cmd\":\"x\"}]}", "/");
	assert_string_equal(g.id, "/");
	assert_string_equal(g.apps[0].id, "/a");
	group_release(&g);
}

static const struct bad_case bad_groups[] = {
    {"{\"id\":\"/p\",\"apps\":[{\"id\":\"/q/web\",\"cmd\":\"x\"}]}",
     "/apps(0)/id", "must lie under the group '/p', got '/q/web'"},
    {"{\"id\":\"/p\",\"apps\":[{\"id\":\".\",\"cmd\":\"x\"}]}", "/apps(0)/id",
     "must lie under"},
    {"{\"id\":\"/p\",\"groups\":[{\"id\":\"/q\"}]}", "/groups(0)/id",
     "must lie under the group '/p'"},
    {"{\"id\":\"/p\",\"groups\":[{\"id\":\"..\"}]}", "/groups(0)/id",
     "must lie under"},
    {"{\"id\":\"/p\",\"apps\":[{\"id\":\"a\",\"cmd\":\"x\"},{\"id\":\"a\","
     "\"cmd\":\"y\"}]}",
     "/apps(1)/id", "duplicate id '/p/a' (also at /apps(0)/id)"},
    {"{\"id\":\"/p\",\"apps\":[{\"id\":\"a\",\"cmd\":\"x\"}],\"groups\":[{"
     "\"id\":\"a\"}]}",
     "/groups(0)/id", "duplicate id '/p/a'"},
    {"{\"id\":\"/p\",\"groups\":[{\"id\":\"g\",\"apps\":[{\"id\":\"a\","
     "\"cmd\":\"x\"}]},{\"id\":\"h\",\"apps\":[{\"id\":\"/p/g/a\",\"cmd\":"
     "\"x\"}]}]}",
     "/groups(1)/apps(0)/id", "must lie under the group '/p/h'"},
    {"{\"id\":\"/p\",\"groups\":[{\"id\":\"g\",\"apps\":[{\"id\":\"a\","
     "\"cmd\":\"x\"},{\"id\":\"b\",\"mem\":-1}]}]}",
     "/groups(0)/apps(1)/mem", "must be >= 0, got -1"},
    {"{\"id\":\"/p\",\"groups\":[{\"apps\":[]}]}", "/groups(0)/id",
     "is required"},
    {"{\"id\":\"/p\",\"groups\":[5]}", "/groups(0)", "expected an object"},
    {"{\"id\":\"/p\",\"apps\":{}}", "/apps", "expected an array"},
    {"{\"id\":\"/p\",\"apps\":[[]]}", "/apps(0)", "expected an object"},
    {"{\"id\":\"/p\",\"groups\":{}}", "/groups", "expected an array"},
    {"{\"id\":\"/p\",\"dependencies\":[\"X\"]}", "/dependencies(0)",
     "invalid segment 'X'"},
    {"{\"id\":\"P\"}", "/id", "invalid segment 'P'"},
    {"{\"id\":1}", "/id", "expected a string"},
    {"7", "/", "expected an object"},
};

static void test_bad_groups(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_groups); i++) {
		const struct bad_case *bc = &bad_groups[i];
		struct app_problems p;
		struct group g;
		json_t *j = load(bc->json);

		app_problems_init(&p);
		group_init(&g);
		if (group_from_json(&g, j, "/", &p) != -EINVAL)
			fail_msg("row %zu (%s) was accepted", i, bc->json);
		assert_problem(&p, bc->json, bc->path, bc->part);
		group_release(&g);
		app_problems_release(&p);
		json_decref(j);
	}
}

static void test_group_nesting_limit(void **state)
{
	struct buf b = BUF_INIT;
	struct app_problems p;
	struct group g;
	json_t *j;

	(void)state;
	buf_adds(&b, "{\"id\":\"/g\"");
	for (int i = 0; i < 40; i++)
		buf_adds(&b, ",\"groups\":[{\"id\":\"g\"");
	for (int i = 0; i < 40; i++)
		buf_adds(&b, "}]");
	buf_adds(&b, "}");
	j = load(b.data);
	app_problems_init(&p);
	group_init(&g);
	assert_int_equal(group_from_json(&g, j, "/", &p), -EINVAL);
	assert_true(p.n >= 1);
	assert_non_null(strstr(p.v[0].message, "nested more than"));
	group_release(&g);
	app_problems_release(&p);
	json_decref(j);
	buf_release(&b);
}

static void test_group_inherited_dependencies(void **state)
{
	struct group g;
	struct app *apps;
	size_t napps;

	(void)state;
	group_ok(
	    &g,
	    "{\"id\":\"/o\",\"dependencies\":[\"/ext\",\"/o/db\"],\"apps\":["
	    "{\"id\":\"top\",\"cmd\":\"x\"}],\"groups\":[{\"id\":\"db\","
	    "\"apps\":[{\"id\":\"pg\",\"cmd\":\"x\"}]},{\"id\":\"svc\","
	    "\"dependencies\":[\"/cache\"],\"apps\":[{\"id\":\"web\","
	    "\"cmd\":\"x\",\"dependencies\":[\"/ext\"]}]}]}",
	    "/");
	group_take_apps(&g, &apps, &napps);
	assert_int_equal(napps, 3);
	assert_int_equal(g.napps, 0);
	/* pre-order: the group's own apps, then its subgroups' */
	assert_string_equal(apps[0].id, "/o/top");
	assert_int_equal(apps[0].ndependencies, 2);
	assert_string_equal(apps[0].dependencies[0], "/ext");
	assert_string_equal(apps[0].dependencies[1], "/o/db");
	/* an app never inherits a dependency on its own enclosing group */
	assert_string_equal(apps[1].id, "/o/db/pg");
	assert_int_equal(apps[1].ndependencies, 1);
	assert_string_equal(apps[1].dependencies[0], "/ext");
	/* own dependencies first, inherited ones once */
	assert_string_equal(apps[2].id, "/o/svc/web");
	assert_int_equal(apps[2].ndependencies, 3);
	assert_string_equal(apps[2].dependencies[0], "/ext");
	assert_string_equal(apps[2].dependencies[1], "/o/db");
	assert_string_equal(apps[2].dependencies[2], "/cache");
	/* the definitions carry them too: parsing one again gives the same */
	for (size_t i = 0; i < napps; i++) {
		struct app_problems p;
		struct app again;
		char *t1 = written_text(&apps[i]), *t2;

		app_problems_init(&p);
		app_init(&again);
		assert_int_equal(
		    app_from_json(&again, apps[i].definition, "/", "", &p), 0);
		t2 = written_text(&again);
		assert_string_equal(t1, t2);
		free(t1);
		free(t2);
		app_release(&again);
		app_problems_release(&p);
	}
	assert_int_equal(json_array_size(json_object_get(apps[2].definition,
	                                                 "dependencies")),
	                 3);
	for (size_t i = 0; i < napps; i++)
		app_release(&apps[i]);
	free(apps);
	group_release(&g);

	/* a group without apps gives none */
	group_ok(&g, "{\"id\":\"/e\"}", "/");
	group_take_apps(&g, &apps, &napps);
	assert_int_equal(napps, 0);
	free(apps);
	group_release(&g);
}

/* ---- scale-only changes -------------------------------------------- */

struct scale_case {
	const char *old_json, *new_json;
	bool scale_only;
};

static const struct scale_case scale_cases[] = {
    {"{\"id\":\"a\",\"cmd\":\"x\"}",
     "{\"id\":\"a\",\"cmd\":\"x\","
     "\"instances\":5}",
     true},
    {"{\"id\":\"a\",\"cmd\":\"x\",\"instances\":3}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"instances\":0}", true},
    /* an explicit default is the same definition */
    {"{\"id\":\"a\",\"cmd\":\"x\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"cpus\":1,\"instances\":2}", true},
    {"{\"id\":\"a\",\"cmd\":\"x\",\"version\":\"1\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"version\":\"2\"}", true},
    {"{\"id\":\"a\",\"cmd\":\"x\"}", "{\"id\":\"a\",\"cmd\":\"y\"}", false},
    {"{\"id\":\"a\",\"cmd\":\"x\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"cpus\":2,\"instances\":2}", false},
    {"{\"id\":\"a\",\"cmd\":\"x\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"env\":{\"A\":\"1\"}}", false},
    {"{\"id\":\"a\",\"cmd\":\"x\"}", "{\"id\":\"b\",\"cmd\":\"x\"}", false},
    /* a field Atoll does not interpret still counts as a change */
    {"{\"id\":\"a\",\"cmd\":\"x\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"executor\":\"/e\"}", false},
    {"{\"id\":\"a\",\"cmd\":\"x\",\"executor\":\"/e\"}",
     "{\"id\":\"a\",\"cmd\":\"x\",\"executor\":\"/e\",\"instances\":4}", true},
};

static void test_scale_only(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(scale_cases); i++) {
		struct app a, b;
		app_ok(&a, scale_cases[i].old_json);
		app_ok(&b, scale_cases[i].new_json);
		if (app_is_scale_only_change(&a, &b) !=
		    scale_cases[i].scale_only)
			fail_msg("row %zu: expected %s", i,
			         scale_cases[i].scale_only ? "scale-only"
			                                   : "a restart");
		app_release(&a);
		app_release(&b);
	}
}

/* ---- Mesos health checks ------------------------------------------- */

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	return s;
}

static void test_health_check_to_mesos(void **state)
{
	static const int ports[] = {31000, 31001};
	struct app a;
	struct err e = {{0}};
	char *s;

	(void)state;
	app_ok(&a, "{\"id\":\"a\",\"cmd\":\"x\",\"portDefinitions\":[{},{}],"
	           "\"healthChecks\":[{\"protocol\":\"MESOS_HTTP\",\"path\":"
	           "\"/x\",\"portIndex\":1,\"delaySeconds\":1,"
	           "\"intervalSeconds\":10,\"timeoutSeconds\":2,"
	           "\"gracePeriodSeconds\":30,\"maxConsecutiveFailures\":4}]}");
	s = dump(app_health_check_to_mesos(&a.health_checks[0], ports, 2, &e));
	assert_string_equal(
	    s, "{\"consecutive_failures\":4,\"delay_seconds\":1.0,"
	       "\"grace_period_seconds\":30.0,\"http\":{\"path\":\"/x\","
	       "\"port\":31001,\"scheme\":\"http\"},\"interval_seconds\":10.0,"
	       "\"timeout_seconds\":2.0,\"type\":\"HTTP\"}");
	free(s);
	/* out of range for a task that got fewer ports */
	assert_null(
	    app_health_check_to_mesos(&a.health_checks[0], ports, 1, &e));
	assert_non_null(strstr(e.msg, "portIndex 1"));

	a.health_checks[0].protocol = APP_CHECK_HTTPS;
	s = dump(app_health_check_to_mesos(&a.health_checks[0], ports, 2, &e));
	assert_non_null(strstr(s, "\"scheme\":\"https\""));
	assert_non_null(strstr(s, "\"type\":\"HTTP\""));
	free(s);

	a.health_checks[0].protocol = APP_CHECK_TCP;
	a.health_checks[0].port = 8080;
	s = dump(app_health_check_to_mesos(&a.health_checks[0], NULL, 0, &e));
	assert_non_null(strstr(s, "\"tcp\":{\"port\":8080}"));
	assert_non_null(strstr(s, "\"type\":\"TCP\""));
	assert_null(strstr(s, "http"));
	free(s);
	app_release(&a);

	app_ok(&a, "{\"id\":\"a\",\"cmd\":\"x\",\"portDefinitions\":[],"
	           "\"healthChecks\":[{\"protocol\":\"COMMAND\",\"command\":"
	           "{\"value\":\"test -f ok\"}}]}");
	s = dump(app_health_check_to_mesos(&a.health_checks[0], NULL, 0, &e));
	assert_non_null(
	    strstr(s, "\"command\":{\"shell\":true,\"value\":\"test -f ok\"}"));
	assert_non_null(strstr(s, "\"type\":\"COMMAND\""));
	assert_non_null(strstr(s, "\"consecutive_failures\":3"));
	free(s);
	app_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_written_defaults),
	    cmocka_unit_test(test_health_check_defaults),
	    cmocka_unit_test(test_old_forms),
	    cmocka_unit_test(test_persistent_defaults),
	    cmocka_unit_test(test_bad_cases),
	    cmocka_unit_test(test_collects_all),
	    cmocka_unit_test(test_problems_json),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_rich_app_values),
	    cmocka_unit_test(test_definition),
	    cmocka_unit_test(test_examples),
	    cmocka_unit_test(test_example_group),
	    cmocka_unit_test(test_id_resolve),
	    cmocka_unit_test(test_id_parent_and_under),
	    cmocka_unit_test(test_group_relative_ids),
	    cmocka_unit_test(test_bad_groups),
	    cmocka_unit_test(test_group_nesting_limit),
	    cmocka_unit_test(test_group_inherited_dependencies),
	    cmocka_unit_test(test_scale_only),
	    cmocka_unit_test(test_health_check_to_mesos),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
