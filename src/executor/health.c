/*
 * health.c: Mesos health checks for the command executor: the HealthCheck
 * parser, the grace / consecutive-failure state machine, and the runner
 * that performs checks on the executor's loop.
 *
 * The state machine (health_state_record), per check result:
 *
 *   INITIALIZING --success--> HEALTHY (report healthy)
 *     |  failure, now - start < grace: ignored
 *     |  failure after grace: counted (report unhealthy)
 *     v
 *   HEALTHY --failure--> UNHEALTHY(n=1) --failure--> ... n >= max: KILL
 *     ^  success: nothing      |  success: report healthy, n = 0
 *     +------------------------+
 *
 * The grace period only applies until the first success: a task that was
 * healthy once is judged strictly from then on (Mesos's rule).
 *
 * The runner (struct health_checker) owns two timers: `timer` starts the
 * next check (delay_seconds first, then interval_seconds after each
 * result) and `timeout` bounds the check in flight. A check in flight is a
 * struct health_attempt, allocated per check; it may outlive its checker:
 * when the checker is freed or the check times out, the attempt is
 * abandoned (owner = NULL): its TCP handle is closed, its HTTP client
 * freed, its COMMAND process group SIGKILLed and reaped later, and the
 * attempt frees itself from its own close callback. Invariants:
 *
 *   - hcr->attempt != NULL  <=>  a check is in flight for this checker;
 *   - at most one of `timer` / an attempt is active at any time;
 *   - the result callback runs with hcr->attempt == NULL, and after it
 *     returns nothing touches the checker if it was freed meanwhile (its
 *     memory goes in the timers' close callbacks, later in the loop);
 *   - an HTTP client is never freed from inside its own callback: the
 *     finished one is parked in hcr->spent_http and freed when the next
 *     check starts or the checker's handles are closed.
 */
#include "lib/compat.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "executor/health.h"
#include "lib/err.h"
#include "lib/http.h"
#include "model/resources.h"

#define HEALTH_HTTP_MAX_BODY (4u << 20) /* bytes of a check's response */
#define HEALTH_HOST_V4 "127.0.0.1"
#define HEALTH_HOST_V6 "::1"

/* ---- HealthCheck ---------------------------------------------------- */

static const char *const health_type_names[] = {
    [HEALTH_UNSET] = "UNSET",
    [HEALTH_COMMAND] = "COMMAND",
    [HEALTH_HTTP] = "HTTP",
    [HEALTH_TCP] = "TCP",
};

/* The JSON member carrying each type's parameters. */
static const char *const health_type_members[] = {
    [HEALTH_UNSET] = NULL,
    [HEALTH_COMMAND] = "command",
    [HEALTH_HTTP] = "http",
    [HEALTH_TCP] = "tcp",
};

const char *health_type_name(enum health_type t)
{
	if ((size_t)t >= ARRAY_SIZE(health_type_names))
		return "UNSET";
	return health_type_names[t];
}

void health_check_init(struct health_check *hc)
{
	memset(hc, 0, sizeof(*hc));
	command_info_init(&hc->command);
	hc->delay_seconds = HEALTH_DEFAULT_DELAY;
	hc->interval_seconds = HEALTH_DEFAULT_INTERVAL;
	hc->timeout_seconds = HEALTH_DEFAULT_TIMEOUT;
	hc->consecutive_failures = HEALTH_DEFAULT_CONSECUTIVE_FAILURES;
	hc->grace_period_seconds = HEALTH_DEFAULT_GRACE;
}

void health_check_release(struct health_check *hc)
{
	command_info_release(&hc->command);
	free(hc->path);
	health_check_init(hc);
}

static bool json_present(const json_t *v)
{
	return v && !json_is_null(v);
}

/* obj[key] as seconds in [0, HEALTH_MAX_SECONDS]; absent keeps *out. */
static int parse_seconds(const json_t *obj, const char *key, double *out,
                         struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	double d;

	if (!json_present(v))
		return 0;
	if (!json_is_number(v))
		return err_set(e, "%s: must be a number", key);
	d = json_number_value(v);
	if (!isfinite(d))
		return err_set(e, "%s: must be a finite number", key);
	if (d < 0)
		return err_set(e, "%s: must be >= 0, got %g", key, d);
	if (d > HEALTH_MAX_SECONDS)
		return err_set(e, "%s: must be at most %g, got %g", key,
		               HEALTH_MAX_SECONDS, d);
	*out = d;
	return 0;
}

/* obj[key] as an integer (a JSON integer or an integral real). */
static int parse_integer(const json_t *obj, const char *key, bool *present,
                         int64_t *out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	double d;

	*present = json_present(v);
	if (!*present)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (isfinite(d) && d == floor(d) && fabs(d) < 9e18) {
			*out = (int64_t)d;
			return 0;
		}
	}
	return err_set(e, "%s: must be an integer", key);
}

static int parse_consecutive_failures(struct health_check *hc,
                                      const json_t *obj, struct err *e)
{
	bool present;
	int64_t n;
	int rc;

	rc = parse_integer(obj, "consecutive_failures", &present, &n, e);
	if (rc || !present)
		return rc;
	if (n < 0 || n > (int64_t)UINT32_MAX)
		return err_set(e,
		               "consecutive_failures: must be between 0 and "
		               "%" PRIu32 ", got %" PRId64,
		               UINT32_MAX, n);
	hc->consecutive_failures = (uint32_t)n;
	return 0;
}

/* A port of an HTTP or TCP check: required, 1..65535. */
static int parse_port(const json_t *obj, int *port, struct err *e)
{
	bool present;
	int64_t n;
	int rc;

	if ((rc = parse_integer(obj, "port", &present, &n, e)))
		return rc;
	if (!present)
		return err_set(e, "port: required field missing");
	if (n < 1 || n > 65535)
		return err_set(
		    e, "port: must be between 1 and 65535, got %" PRId64, n);
	*port = (int)n;
	return 0;
}

/* NetworkInfo.Protocol: "IPv4" (default) or "IPv6". */
static int parse_protocol(const json_t *obj, bool *ipv6, struct err *e)
{
	const json_t *v = json_object_get(obj, "protocol");
	const char *s;

	if (!json_present(v))
		return 0;
	s = json_string_value(v);
	if (!s)
		return err_set(e, "protocol: must be a string");
	if (!strcmp(s, "IPv4"))
		*ipv6 = false;
	else if (!strcmp(s, "IPv6"))
		*ipv6 = true;
	else
		return err_set(e, "protocol: must be IPv4 or IPv6, got '%s'",
		               s);
	return 0;
}

static int parse_http(struct health_check *hc, const json_t *obj, struct err *e)
{
	const json_t *v;
	const char *s;
	size_t i;
	int rc;

	if ((rc = parse_port(obj, &hc->port, e)) ||
	    (rc = parse_protocol(obj, &hc->ipv6, e)))
		return rc;
	v = json_object_get(obj, "scheme");
	if (json_present(v)) {
		s = json_string_value(v);
		if (!s)
			return err_set(e, "scheme: must be a string");
		if (!strcmp(s, "https"))
			return err_set(e, "scheme: 'https' is not supported "
			                  "by the atoll executor; use 'http'");
		if (strcmp(s, "http"))
			return err_set(e, "scheme: must be 'http', got '%s'",
			               s);
	}
	v = json_object_get(obj, "path");
	if (json_present(v)) {
		s = json_string_value(v);
		if (!s)
			return err_set(e, "path: must be a string");
		if (s[0] != '/')
			return err_set(e, "path: must start with '/', got '%s'",
			               s);
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return err_set(e, "path: must not contain "
				                  "spaces or control "
				                  "characters");
		hc->path = xstrdup(s);
	} else {
		hc->path = xstrdup("/");
	}
	v = json_object_get(obj, "statuses");
	if (json_present(v)) {
		const json_t *st;
		if (!json_is_array(v))
			return err_set(e, "statuses: must be an array");
		json_array_foreach(v, i, st)
		{
			if (!json_is_integer(st))
				return err_set(e,
				               "statuses[%zu]: must be an "
				               "integer",
				               i);
		}
	}
	return 0;
}

static int parse_type(const json_t *obj, enum health_type *type, struct err *e)
{
	const json_t *v = json_object_get(obj, "type");
	const char *s;

	if (!json_present(v))
		return err_set(e, "type: required field missing (COMMAND, "
		                  "HTTP or TCP)");
	s = json_string_value(v);
	if (!s)
		return err_set(e, "type: must be a string");
	for (size_t t = HEALTH_COMMAND; t < ARRAY_SIZE(health_type_names);
	     t++) {
		if (!strcmp(s, health_type_names[t])) {
			*type = (enum health_type)t;
			return 0;
		}
	}
	return err_set(e, "type: must be COMMAND, HTTP or TCP, got '%s'", s);
}

int health_check_from_json(struct health_check *hc, const json_t *obj,
                           struct err *e)
{
	const char *member;
	const json_t *params;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = parse_type(obj, &hc->type, e)))
		return rc;
	/* Exactly the member of the type: another one is a mistake. */
	for (size_t t = HEALTH_COMMAND; t < ARRAY_SIZE(health_type_members);
	     t++) {
		member = health_type_members[t];
		if (t != hc->type && json_present(json_object_get(obj, member)))
			return err_set(e,
			               "%s: must not be set for a %s health "
			               "check",
			               member, health_type_name(hc->type));
	}
	member = health_type_members[hc->type];
	params = json_object_get(obj, member);
	if (!json_present(params))
		return err_set(e, "%s: required for a %s health check", member,
		               health_type_name(hc->type));
	if (!json_is_object(params))
		return err_set(e, "%s: must be an object", member);
	switch (hc->type) {
	case HEALTH_COMMAND:
		rc = command_info_from_json(&hc->command, params, e);
		break;
	case HEALTH_HTTP:
		rc = parse_http(hc, params, e);
		break;
	case HEALTH_TCP:
		if (!(rc = parse_port(params, &hc->port, e)))
			rc = parse_protocol(params, &hc->ipv6, e);
		break;
	case HEALTH_UNSET:
		BUG_ON(1);
	}
	if (rc)
		return res_err_path(e, "%s", member);
	if ((rc = parse_seconds(obj, "delay_seconds", &hc->delay_seconds, e)) ||
	    (rc = parse_seconds(obj, "interval_seconds", &hc->interval_seconds,
	                        e)) ||
	    (rc = parse_seconds(obj, "timeout_seconds", &hc->timeout_seconds,
	                        e)) ||
	    (rc = parse_seconds(obj, "grace_period_seconds",
	                        &hc->grace_period_seconds, e)) ||
	    (rc = parse_consecutive_failures(hc, obj, e)))
		return rc;
	return 0;
}

/* ---- the state machine ---------------------------------------------- */

const char *health_action_name(enum health_action a)
{
	static const char *const names[] = {
	    [HEALTH_NOTHING] = "NOTHING",
	    [HEALTH_IGNORED] = "IGNORED",
	    [HEALTH_REPORT_HEALTHY] = "REPORT_HEALTHY",
	    [HEALTH_REPORT_UNHEALTHY] = "REPORT_UNHEALTHY",
	    [HEALTH_KILL] = "KILL",
	};

	if ((size_t)a >= ARRAY_SIZE(names))
		return "?";
	return names[a];
}

void health_state_init(struct health_state *s, double now)
{
	s->start = now;
	s->initializing = true;
	s->failures = 0;
}

enum health_action health_state_record(struct health_state *s,
                                       const struct health_check *hc, bool ok,
                                       double now)
{
	if (ok) {
		bool report = s->initializing || s->failures > 0;

		s->initializing = false;
		s->failures = 0;
		return report ? HEALTH_REPORT_HEALTHY : HEALTH_NOTHING;
	}
	if (s->initializing && now - s->start < hc->grace_period_seconds)
		return HEALTH_IGNORED;
	if (s->failures < UINT32_MAX)
		s->failures++;
	if (s->failures >= hc->consecutive_failures)
		return HEALTH_KILL;
	return HEALTH_REPORT_UNHEALTHY;
}

/* ---- the runner ----------------------------------------------------- */

struct health_checker {
	uv_loop_t *loop;
	const struct health_check *hc; /* borrowed */
	health_result_fn *cb;
	void *arg;
	struct health_state state;

	/* COMMAND: copies of health_command_opts. */
	char *file, *cwd;
	char **argv, **env;
	bool set_user;
	uv_uid_t uid;
	uv_gid_t gid;

	uv_timer_t timer;               /* starts the next check */
	uv_timer_t timeout;             /* bounds the check in flight */
	struct health_attempt *attempt; /* in flight, else NULL */
	struct http_client *spent_http; /* finished; freed later */
	bool freed;
	int open_handles; /* timers not yet closed */
};

/* One check; may outlive its checker (see the file comment). */
struct health_attempt {
	struct health_checker *owner; /* NULL once abandoned */
	enum health_type type;
	bool closing;      /* uv_close called on its handle */
	uv_process_t proc; /* COMMAND */
	int pid;           /* COMMAND, 0 when it did not start */
	bool exited;       /* COMMAND: exit seen */
	uv_tcp_t tcp;      /* TCP */
	uv_connect_t connect;
	struct http_client *http; /* HTTP */
};

static void health_timer_cb(uv_timer_t *t);

static uint64_t seconds_ms(double s)
{
	return (uint64_t)(s * 1000.0 + 0.5);
}

static double loop_seconds(uv_loop_t *loop)
{
	return (double)uv_now(loop) / 1000.0;
}

static char **strv_dup(const char *const *v)
{
	size_t n = 0;
	char **out;

	while (v && v[n])
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void attempt_handle_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Closes the attempt's libuv handle; the attempt is freed afterwards. */
static void attempt_close(struct health_attempt *a, uv_handle_t *h)
{
	if (a->closing)
		return;
	a->closing = true;
	h->data = a;
	uv_close(h, attempt_handle_closed);
}

/*
 * Ends the check in flight with its result: asks the state machine, tells
 * the callback, and schedules the next check unless the callback freed
 * the checker.
 */
static void health_finish(struct health_checker *hcr, bool ok,
                          const char *cause)
{
	struct health_result r = {0};

	hcr->attempt = NULL;
	uv_timer_stop(&hcr->timeout);
	r.action = health_state_record(&hcr->state, hcr->hc, ok,
	                               loop_seconds(hcr->loop));
	r.ok = ok;
	r.failures = hcr->state.failures;
	r.cause = ok ? NULL : cause;
	hcr->cb(&r, hcr->arg);
	if (hcr->freed)
		return;
	uv_timer_start(&hcr->timer, health_timer_cb,
	               seconds_ms(hcr->hc->interval_seconds), 0);
}

/* Detaches the check in flight from its checker and cancels it. */
static void attempt_abandon(struct health_attempt *a)
{
	a->owner = NULL;
	switch (a->type) {
	case HEALTH_COMMAND:
		/* Reaped (and freed) by attempt_on_exit. */
		if (a->pid > 0 && !a->exited)
			kill(-a->pid, SIGKILL);
		break;
	case HEALTH_TCP:
		attempt_close(a, (uv_handle_t *)&a->tcp);
		break;
	case HEALTH_HTTP:
		http_client_free(a->http);
		free(a);
		break;
	case HEALTH_UNSET:
		BUG_ON(1);
	}
}

/* -- COMMAND -- */

static void attempt_on_exit(uv_process_t *proc, int64_t exit_status,
                            int term_signal)
{
	struct health_attempt *a =
	    container_of(proc, struct health_attempt, proc);
	struct health_checker *hcr = a->owner;
	char cause[128];

	a->exited = true;
	/* Whatever the check left behind in its group goes with it. */
	kill(-a->pid, SIGKILL);
	attempt_close(a, (uv_handle_t *)proc);
	if (!hcr)
		return;
	if (term_signal)
		snprintf(cause, sizeof(cause),
		         "command terminated with signal %s",
		         strsignal(term_signal));
	else
		snprintf(cause, sizeof(cause),
		         "command exited with status %lld",
		         (long long)exit_status);
	health_finish(hcr, !term_signal && exit_status == 0, cause);
}

static void attempt_start_command(struct health_checker *hcr,
                                  struct health_attempt *a)
{
	uv_process_options_t opts = {0};
	uv_stdio_container_t stdio[3];
	char cause[256];
	int rc;

	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = STDERR_FILENO;
	opts.exit_cb = attempt_on_exit;
	opts.file = hcr->file;
	opts.args = hcr->argv;
	opts.env = hcr->env;
	opts.cwd = hcr->cwd;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	/* Its own session: a timeout kills everything it started. */
	opts.flags = UV_PROCESS_DETACHED;
	if (hcr->set_user) {
		opts.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
		opts.uid = hcr->uid;
		opts.gid = hcr->gid;
	}
	rc = uv_spawn(hcr->loop, &a->proc, &opts);
	if (rc) {
		a->exited = true;
		a->owner = NULL;
		attempt_close(a, (uv_handle_t *)&a->proc);
		snprintf(cause, sizeof(cause), "cannot execute '%s': %s",
		         hcr->file, uv_strerror(rc));
		health_finish(hcr, false, cause);
		return;
	}
	a->pid = a->proc.pid;
}

/* -- TCP -- */

static void attempt_on_connect(uv_connect_t *req, int status)
{
	struct health_attempt *a = req->data;
	struct health_checker *hcr = a->owner;
	char cause[128];

	attempt_close(a, (uv_handle_t *)&a->tcp);
	if (!hcr)
		return; /* abandoned: status is UV_ECANCELED */
	a->owner = NULL;
	snprintf(cause, sizeof(cause), "cannot connect to port %d: %s",
	         hcr->hc->port, status ? uv_strerror(status) : "");
	health_finish(hcr, status == 0, cause);
}

static void attempt_start_tcp(struct health_checker *hcr,
                              struct health_attempt *a)
{
	struct sockaddr_storage ss;
	char cause[128];
	int rc;

	if (hcr->hc->ipv6)
		rc = uv_ip6_addr(HEALTH_HOST_V6, hcr->hc->port,
		                 (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(HEALTH_HOST_V4, hcr->hc->port,
		                 (struct sockaddr_in *)&ss);
	BUG_ON(rc);
	uv_tcp_init(hcr->loop, &a->tcp);
	a->connect.data = a;
	rc = uv_tcp_connect(&a->connect, &a->tcp, (struct sockaddr *)&ss,
	                    attempt_on_connect);
	if (rc) {
		a->owner = NULL;
		attempt_close(a, (uv_handle_t *)&a->tcp);
		snprintf(cause, sizeof(cause), "cannot connect to port %d: %s",
		         hcr->hc->port, uv_strerror(rc));
		health_finish(hcr, false, cause);
	}
}

/* -- HTTP -- */

static void attempt_on_response(struct http_response *resp, int err, void *arg)
{
	struct health_attempt *a = arg;
	struct health_checker *hcr = a->owner;
	char cause[160];
	bool ok = false;

	/* Only a live attempt gets here: abandoning frees the client. */
	BUG_ON(!hcr);
	http_client_free(hcr->spent_http);
	hcr->spent_http = a->http;
	free(a);
	if (err) {
		snprintf(cause, sizeof(cause), "GET %s on port %d failed: %s",
		         hcr->hc->path, hcr->hc->port,
		         err == -EMSGSIZE ? "response too large"
		                          : strerror(-err));
	} else {
		ok = resp->status >= 200 && resp->status <= 399;
		snprintf(cause, sizeof(cause),
		         "GET %s on port %d returned status %d", hcr->hc->path,
		         hcr->hc->port, resp->status);
	}
	health_finish(hcr, ok, cause);
}

static void attempt_start_http(struct health_checker *hcr,
                               struct health_attempt *a)
{
	static const char *const headers[] = {
	    "Connection: close", "User-Agent: atoll-health-check", NULL};
	struct http_client_req req = {0};

	a->http = http_client_new(
	    hcr->loop, hcr->hc->ipv6 ? HEALTH_HOST_V6 : HEALTH_HOST_V4,
	    hcr->hc->port);
	req.method = "GET";
	req.path = hcr->hc->path ? hcr->hc->path : "/";
	req.headers = headers;
	req.max_body_bytes = HEALTH_HTTP_MAX_BODY;
	/* Never completes synchronously: errors come from the loop. */
	http_client_request(a->http, &req, attempt_on_response, a);
}

/* -- scheduling -- */

static void health_timeout_cb(uv_timer_t *t)
{
	struct health_checker *hcr =
	    container_of(t, struct health_checker, timeout);
	char cause[96];

	if (!hcr->attempt)
		return;
	attempt_abandon(hcr->attempt);
	hcr->attempt = NULL;
	snprintf(cause, sizeof(cause), "timed out after %gs",
	         hcr->hc->timeout_seconds);
	health_finish(hcr, false, cause);
}

static void health_timer_cb(uv_timer_t *t)
{
	struct health_checker *hcr =
	    container_of(t, struct health_checker, timer);
	struct health_attempt *a;

	BUG_ON(hcr->attempt);
	http_client_free(hcr->spent_http);
	hcr->spent_http = NULL;
	a = xcalloc(1, sizeof(*a));
	a->owner = hcr;
	a->type = hcr->hc->type;
	hcr->attempt = a;
	if (hcr->hc->timeout_seconds > 0)
		uv_timer_start(&hcr->timeout, health_timeout_cb,
		               seconds_ms(hcr->hc->timeout_seconds), 0);
	switch (a->type) {
	case HEALTH_COMMAND:
		attempt_start_command(hcr, a);
		break;
	case HEALTH_TCP:
		attempt_start_tcp(hcr, a);
		break;
	case HEALTH_HTTP:
		attempt_start_http(hcr, a);
		break;
	case HEALTH_UNSET:
		BUG_ON(1);
	}
}

struct health_checker *health_checker_new(uv_loop_t *loop,
                                          const struct health_check *hc,
                                          const struct health_command_opts *cmd,
                                          health_result_fn *cb, void *arg)
{
	struct health_checker *hcr = xcalloc(1, sizeof(*hcr));

	BUG_ON(hc->type == HEALTH_UNSET);
	BUG_ON(hc->type == HEALTH_COMMAND && (!cmd || !cmd->file));
	hcr->loop = loop;
	hcr->hc = hc;
	hcr->cb = cb;
	hcr->arg = arg;
	if (hc->type == HEALTH_COMMAND) {
		hcr->file = xstrdup(cmd->file);
		hcr->cwd = cmd->cwd ? xstrdup(cmd->cwd) : NULL;
		hcr->argv = strv_dup(cmd->argv);
		hcr->env = strv_dup(cmd->env);
		hcr->set_user = cmd->set_user;
		hcr->uid = cmd->uid;
		hcr->gid = cmd->gid;
	}
	health_state_init(&hcr->state, loop_seconds(loop));
	uv_timer_init(loop, &hcr->timer);
	uv_timer_init(loop, &hcr->timeout);
	hcr->open_handles = 2;
	uv_timer_start(&hcr->timer, health_timer_cb,
	               seconds_ms(hc->delay_seconds), 0);
	return hcr;
}

static void health_checker_closed(uv_handle_t *h)
{
	struct health_checker *hcr = h->data;

	if (--hcr->open_handles > 0)
		return;
	http_client_free(hcr->spent_http);
	free(hcr->file);
	free(hcr->cwd);
	strv_free(hcr->argv);
	strv_free(hcr->env);
	free(hcr);
}

void health_checker_free(struct health_checker *hcr)
{
	if (!hcr || hcr->freed)
		return;
	hcr->freed = true;
	if (hcr->attempt) {
		attempt_abandon(hcr->attempt);
		hcr->attempt = NULL;
	}
	hcr->timer.data = hcr;
	hcr->timeout.data = hcr;
	uv_close((uv_handle_t *)&hcr->timer, health_checker_closed);
	uv_close((uv_handle_t *)&hcr->timeout, health_checker_closed);
}
