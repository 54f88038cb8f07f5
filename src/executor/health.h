/*
 * health.h: Mesos health checks (TaskInfo.health_check) for the command
 * executor. Three layers, each usable alone:
 *
 *   health_check_from_json()  the HealthCheck parser and validator (pure);
 *   health_state_record()     the grace / consecutive-failure state machine
 *                             (pure: the caller passes the time);
 *   health_checker_*()        the runner on a libuv loop: COMMAND checks as
 *                             child processes, TCP as a connect, HTTP as a
 *                             GET, each bounded by timeout_seconds, never
 *                             blocking the loop.
 *
 * Semantics are Mesos's (docs/health-checks.md): the first check starts
 * delay_seconds after the checker, the next interval_seconds after the
 * previous one ended; a check that times out failed; failures while
 * "initializing" (no success yet) and within grace_period_seconds of the
 * start are ignored; the first success, and the first success after a
 * failure, are reported healthy; every counted failure is reported
 * unhealthy, and once consecutive_failures of them follow each other the
 * task is to be killed.
 */
#ifndef ATOLL_HEALTH_H
#define ATOLL_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "model/mesos.h"

struct err;

/* ---- HealthCheck ---------------------------------------------------- */

enum health_type {
	HEALTH_UNSET,
	HEALTH_COMMAND,
	HEALTH_HTTP,
	HEALTH_TCP,
};

/* Mesos's defaults. */
#define HEALTH_DEFAULT_DELAY 15.0
#define HEALTH_DEFAULT_INTERVAL 10.0
#define HEALTH_DEFAULT_TIMEOUT 20.0
#define HEALTH_DEFAULT_CONSECUTIVE_FAILURES 3
#define HEALTH_DEFAULT_GRACE 10.0
/* Upper bound of every *_seconds field (about 31 years). */
#define HEALTH_MAX_SECONDS 1e9

struct health_check {
	enum health_type type;
	struct command_info command; /* COMMAND */
	int port;                    /* HTTP, TCP: 1..65535 */
	char *path;                  /* HTTP: starts with '/'; default "/" */
	bool ipv6; /* HTTP, TCP: protocol "IPv6" (::1), else 127.0.0.1 */
	double delay_seconds;          /* 15 */
	double interval_seconds;       /* 10 */
	double timeout_seconds;        /* 20; 0 = no timeout */
	uint32_t consecutive_failures; /* 3; 0 kills at the first counted
	                                  failure, as in Mesos */
	double grace_period_seconds;   /* 10 */
};

/* "COMMAND", "HTTP", "TCP" ("UNSET" for HEALTH_UNSET). */
const char *health_type_name(enum health_type t);

/* Zeroes hc and sets Mesos's defaults. */
void health_check_init(struct health_check *hc);
/* Frees and re-initializes (twice is harmless). */
void health_check_release(struct health_check *hc);

/*
 * Parses and validates a v1 HealthCheck object into hc (initialized by
 * the caller). type is required (COMMAND, HTTP or TCP) and exactly the
 * matching one of command / http / tcp must be set; command is a
 * CommandInfo (command_info_from_json's rules; uris and user are ignored);
 * http and tcp need port in 1..65535; http.path must start with '/';
 * http.scheme may only be "http" (HTTPS is not supported); protocol is
 * "IPv4" or "IPv6"; http.statuses, when present, must be an array of
 * integers (and is otherwise ignored, as Mesos does for built-in
 * executors). The *_seconds fields are finite numbers in [0,
 * HEALTH_MAX_SECONDS]; consecutive_failures an integer in [0, 2^32).
 * Unknown fields are ignored.
 *
 * Returns 0, or -EINVAL with e naming the field relative to the object
 * ("http.port: required field missing"); hc must be released either way.
 */
int health_check_from_json(struct health_check *hc, const json_t *obj,
                           struct err *e);

/* ---- the state machine ---------------------------------------------- */

/* What one check result asks of the executor. */
enum health_action {
	HEALTH_NOTHING,          /* success, health already reported */
	HEALTH_IGNORED,          /* failure within the grace period */
	HEALTH_REPORT_HEALTHY,   /* send TASK_RUNNING healthy=true */
	HEALTH_REPORT_UNHEALTHY, /* send TASK_RUNNING healthy=false */
	HEALTH_KILL,             /* send healthy=false, then kill the task */
};

const char *health_action_name(enum health_action a);

struct health_state {
	double start;      /* when checking began (caller's clock, seconds) */
	bool initializing; /* no success yet */
	uint32_t failures; /* consecutive counted failures */
};

/* Starts the machine at time now. */
void health_state_init(struct health_state *s, double now);

/*
 * Records one check result (ok) at time now and says what to do. A
 * failure is ignored while initializing and now - start <
 * grace_period_seconds; otherwise it is counted, and HEALTH_KILL comes
 * once s->failures >= consecutive_failures (and again for every later
 * failure: the caller stops checking when it kills). A success resets
 * the count and is reported when it is the first one or follows a
 * counted failure.
 */
enum health_action health_state_record(struct health_state *s,
                                       const struct health_check *hc, bool ok,
                                       double now);

/* ---- the runner ----------------------------------------------------- */

struct health_result {
	enum health_action action;
	bool ok;           /* this check passed */
	uint32_t failures; /* consecutive counted failures, after this one */
	const char
	    *cause; /* why it failed ("connection refused"); NULL if ok */
};

/*
 * Called from the loop with each check's result. It may call
 * health_checker_free() on its checker.
 */
typedef void health_result_fn(const struct health_result *r, void *arg);

/* How to run a COMMAND check (ignored for HTTP and TCP). */
struct health_command_opts {
	const char *file;        /* program to execute */
	const char *const *argv; /* NULL-terminated */
	const char *const *env;  /* NULL-terminated "NAME=value" */
	const char *cwd;         /* NULL = the executor's */
	bool set_user;           /* run as uid/gid (we are root) */
	uv_uid_t uid;
	uv_gid_t gid;
};

struct health_checker;

/*
 * Starts checking: the first check runs hc->delay_seconds from now. hc is
 * borrowed and must outlive the checker; cmd (its strings copied) is used
 * for COMMAND checks and may be NULL otherwise. A COMMAND check runs in
 * its own session (process group) with stdin and stdout on /dev/null and
 * stderr inherited; on timeout its whole group gets SIGKILL. HTTP checks
 * GET http://127.0.0.1:port/path (or [::1]) and pass on a status in
 * 200..399 (redirects are not followed); TCP checks pass when the
 * connection is established.
 */
struct health_checker *health_checker_new(uv_loop_t *loop,
                                          const struct health_check *hc,
                                          const struct health_command_opts *cmd,
                                          health_result_fn *cb, void *arg);

/*
 * Stops checking: no callback runs afterwards. A check in flight is
 * abandoned (a COMMAND check's process group is killed and reaped in the
 * background); memory is released through the loop's close callbacks, so
 * the loop must run on. NULL is a no-op; callable from the result
 * callback.
 */
void health_checker_free(struct health_checker *hcr);

#endif
