/*
 * executor.c: the command executor (`atoll executor`). The agent starts one
 * per command task, in the task's sandbox, with its stdout/stderr already
 * pointing at the sandbox files; this process subscribes to the agent's
 * /api/v1/executor, runs the one task it is given, reports its states and
 * exits once the terminal state is safely with the agent.
 *
 * Task life (function performing each transition):
 *
 *   (no task) --LAUNCH--> STARTING --uris--> fetching --spawn ok--> RUNNING
 *       |     exec_on_launch |   exec_start    exec_fetch_done |          |
 *       |                    |    fetch failed: FAILED         |          |
 *       |                    |    (REASON_FETCHER_FAILURE);    |          |
 *       |                    |    kill: KILLED                 |          |
 *       |                    +--spawn failed (exec_spawn)------+-> FAILED |
 *       |                                                                 v
 *       |                   exec_on_exit: FINISHED | FAILED | KILLED (asked)
 *       +--SHUTDOWN / give up--> exit                 |
 *                                           terminal update queued
 *                                                      | ACKNOWLEDGED
 *                                                      v (or give up)
 *                                                     exit
 *
 * Fetching: CommandInfo.uris are validated with the LAUNCH (a bad one is
 * TASK_FAILED, REASON_TASK_INVALID, naming command.uris[i].field), then
 * fetched by a child process as the task's user (exec_fetch_start) while
 * the loop keeps serving the agent; no URIs, no child.
 *
 * The task's process and its container (exec_spawn, "the task's
 * container" below): the task runs as its user (ATOLL_TASK_USER, chosen
 * and checked by the agent) with initgroups' groups, no capability unless
 * it is root (then Docker's default set), no_new_privs unless root, and,
 * as ATOLL_TASK_ISOLATION says, in its own pid namespace under a tiny
 * init that this executor forks (namespaces/pid) and a mount namespace
 * with a private /tmp (filesystem/linux). The executor itself stays in
 * the agent's namespaces, as root, and reaps its children itself
 * (exec_sigchld_cb).
 *
 * KILL (exec_kill): optional TASK_KILLING (only when the framework has the
 * TASK_KILLING_STATE capability, read from SUBSCRIBED.framework_info),
 * SIGTERM to the task's process group (with a pid namespace: to its init,
 * which forwards it to every process of the namespace), SIGKILL after the
 * grace period (with a pid namespace: of init, which ends the namespace;
 * during the fetch: of the fetcher, at once) (KILL
 * event's kill_policy, else TaskInfo.kill_policy, else 3 s). A later kill
 * with a shorter grace brings the SIGKILL forward. SHUTDOWN (and SIGTERM to
 * the executor) kill with MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD. When the
 * task's main process exits, whatever is left of its process group is
 * killed: the container ends with its task, as in Mesos.
 *
 * Graceful shutdown (Aurora's HTTP lifecycle, docs/executor.md): a task
 * whose TaskInfo.labels has "atoll.shutdown.port" (optional
 * "atoll.shutdown.quit_wait", "atoll.shutdown.abort_wait", seconds,
 * default 5; all checked at LAUNCH by graceful_parse, a bad one is
 * TASK_FAILED naming the label) is asked to stop over HTTP first. Every
 * kill of the running task (KILL, SHUTDOWN, health check, agent lost)
 * walks ex->kill_stage:
 *
 *   NONE --exec_kill: TASK_KILLING, POST /quitquitquit--> QUIT
 *   QUIT --exec_stage_timer_cb, quit_wait: POST /abortabortabort--> ABORT
 *   ABORT --exec_stage_timer_cb, abort_wait: SIGTERM--> SIGNALS
 *   SIGNALS --exec_kill_timer_cb, grace: SIGKILL
 *   any stage --task exits (exec_on_exit)--> TASK_KILLED
 *
 * A task without the label goes from NONE straight to SIGNALS. Each POST
 * goes to 127.0.0.1:<port> with an empty body on a client of its own,
 * bounded by EXEC_GRACEFUL_TIMEOUT_MS; its answer (or failure) is only
 * logged: the task's exit or the end of the wait decides. The client is
 * freed when the stage ends (never from its own callback). A later kill
 * during QUIT or ABORT (a framework retrying its kill) does not shorten
 * them; its grace, when shorter, is the one of the signals. Everything
 * runs on the loop.
 *
 * Status updates: each carries a fresh uuid and stays on ex->pending until
 * the agent's ACKNOWLEDGED{uuid}; unacknowledged updates (and the task,
 * until one of its updates is acknowledged) are resent inside the SUBSCRIBE
 * call of every resubscription, as the v1 executor API specifies. A failed
 * UPDATE call (no answer, 5xx) is retried after EXEC_RETRY_MS.
 *
 * When to exit (exec_maybe_exit): the task process is gone, and either the
 * terminal update and everything before it were acknowledged, or we gave
 * up. We give up (a) EXEC_ACK_WAIT_MS after the terminal update while
 * connected (or at any time after a SHUTDOWN) without an acknowledgement
 * (the agent will notice our exit; waiting longer only delays the
 * framework), or (b) when the agent stays
 * unreachable: with MESOS_CHECKPOINT=1 for MESOS_RECOVERY_TIMEOUT (the task
 * keeps running meanwhile, so an agent restart loses nothing), without
 * checkpointing for EXEC_NOCKPT_WAIT_MS; then the task is killed first.
 * With no task, SHUTDOWN or giving up exits at once.
 *
 * Health checks (TaskInfo.health_check, health.c): validated with the
 * LAUNCH (a bad one fails the launch with TASK_FAILED naming the field),
 * started once the task runs (exec_health_start), stopped when a kill
 * begins or the task exits (exec_health_stop: Mesos stops checking a task
 * it is killing). Each result goes through exec_on_health:
 *
 *   REPORT_HEALTHY    TASK_RUNNING healthy=true (first success, and the
 *                     first success after failures)
 *   REPORT_UNHEALTHY  TASK_RUNNING healthy=false, on every counted failure
 *                     (as Mesos: one update per failure, not per change)
 *   KILL              TASK_RUNNING healthy=false, then the normal kill
 *                     path with the task's kill policy; the terminal
 *                     update is TASK_KILLED, healthy=false, reason
 *                     REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, message
 *                     "task killed after N consecutive failed health
 *                     checks: <cause>"
 *
 * All of them carry reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED and go
 * through exec_status_health, the reliable (acknowledged, resent) update
 * path.
 * Mesos itself leaves the reason of that TASK_KILLED unset (a TODO in its
 * command executor); Atoll sets it so that a framework can tell a health
 * kill from a requested one without remembering the health updates.
 *
 * A bad event never stops the executor: it is logged at error level and
 * ignored, or answered with TASK_FAILED when it is a LAUNCH.
 */
#include "lib/compat.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "executor/executor.h"
#include "executor/fetcher.h"
#include "executor/health.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/http.h"
#include "lib/ids.h"
#include "lib/jsonw.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/subscriber.h"
#include "lib/timeutil.h"
#include "model/mesos.h"
#include "model/resources.h"

#define EXEC_LOG "executor"
#define EXEC_PATH "/api/v1/executor"
#define EXEC_DEFAULT_KILL_GRACE 3.0     /* seconds, Mesos's default */
#define EXEC_DEFAULT_SHUTDOWN_GRACE 5.0 /* seconds */
#define EXEC_DEFAULT_RECOVERY 900.0     /* seconds (15 mins) */
#define EXEC_DEFAULT_BACKOFF_MAX 2.0    /* seconds */
#define EXEC_ACK_WAIT_MS 10000          /* terminal update ack, connected */
#define EXEC_NOCKPT_WAIT_MS 5000        /* agent gone, no checkpointing */
#define EXEC_RETRY_MS 5000              /* failed UPDATE call */
#define EXEC_HEARTBEAT_TIMEOUT 3600.0   /* local agent: EOF tells us */
#define EXEC_CALL_TIMEOUT_MS 15000
#define EXEC_SHELL "/bin/sh"

/* The graceful shutdown (Aurora's HTTP lifecycle); see the file comment. */
#define EXEC_LABEL_PORT "atoll.shutdown.port"
#define EXEC_LABEL_QUIT_WAIT "atoll.shutdown.quit_wait"
#define EXEC_LABEL_ABORT_WAIT "atoll.shutdown.abort_wait"
#define EXEC_GRACEFUL_DEFAULT_WAIT 5.0 /* seconds, Aurora's default */
#define EXEC_GRACEFUL_MAX_WAIT 3600.0  /* seconds */
#define EXEC_GRACEFUL_HOST "127.0.0.1"
#define EXEC_GRACEFUL_TIMEOUT_MS 2000 /* connect + request + answer */
#define EXEC_GRACEFUL_MAX_BODY 4096   /* of an answer nobody reads */

/* ---- pure helpers -------------------------------------------------- */

static const char *env_lookup(const char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static int env_duration(const char *const *envp, const char *name, double def,
                        double *out, struct err *e)
{
	const char *v = env_lookup(envp, name);

	*out = def;
	if (!v || !*v)
		return 0;
	if (flags_parse_duration(v, out)) {
		*out = def;
		return err_set(e,
		               "%s: expected a duration such as '5secs', "
		               "got '%s'",
		               name, v);
	}
	return 0;
}

int executor_env_parse(struct executor_env *env, const char *const *envp,
                       struct err *e)
{
	static const char *const required[] = {
	    "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_AGENT_ENDPOINT"};
	char **dst[] = {&env->framework_id, &env->executor_id,
	                &env->agent_endpoint};
	const char *v;
	int rc = 0;

	memset(env, 0, sizeof(*env));
	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		v = env_lookup(envp, required[i]);
		if (v && *v)
			*dst[i] = xstrdup(v);
		else if (!rc)
			rc = err_set(e, "%s: required, not set", required[i]);
	}
	if ((v = env_lookup(envp, "MESOS_SANDBOX")) && *v)
		env->sandbox = xstrdup(v);
	else if ((v = env_lookup(envp, "MESOS_DIRECTORY")) && *v)
		env->sandbox = xstrdup(v);
	v = env_lookup(envp, "MESOS_CHECKPOINT");
	env->checkpoint = v && (!strcmp(v, "1") || !strcmp(v, "true"));
	if (!rc)
		rc = env_duration(envp, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
		                  EXEC_DEFAULT_SHUTDOWN_GRACE,
		                  &env->shutdown_grace, e);
	if (!rc)
		rc = env_duration(envp, "MESOS_RECOVERY_TIMEOUT",
		                  EXEC_DEFAULT_RECOVERY, &env->recovery_timeout,
		                  e);
	if (!rc)
		rc = env_duration(envp, "MESOS_SUBSCRIPTION_BACKOFF_MAX",
		                  EXEC_DEFAULT_BACKOFF_MAX, &env->backoff_max,
		                  e);
	return rc;
}

void executor_env_release(struct executor_env *env)
{
	free(env->framework_id);
	free(env->executor_id);
	free(env->agent_endpoint);
	free(env->sandbox);
	memset(env, 0, sizeof(*env));
}

const char **executor_task_argv(const struct command_info *cmd,
                                const char **file)
{
	const char **argv;
	size_t i;

	if (cmd->shell) {
		argv = xcalloc(4, sizeof(*argv));
		argv[0] = EXEC_SHELL;
		argv[1] = "-c";
		argv[2] = cmd->value;
		*file = EXEC_SHELL;
		return argv;
	}
	*file = cmd->value;
	if (cmd->narguments == 0) {
		argv = xcalloc(2, sizeof(*argv));
		argv[0] = cmd->value;
		return argv;
	}
	argv = xcalloc(cmd->narguments + 1, sizeof(*argv));
	for (i = 0; i < cmd->narguments; i++)
		argv[i] = cmd->arguments[i];
	return argv;
}

/* True when "NAME=..." entry names name. */
static bool env_entry_is(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(entry, name, n) && entry[n] == '=';
}

static bool cmd_sets(const struct command_info *cmd, const char *entry)
{
	for (size_t i = 0; i < cmd->nenv; i++)
		if (cmd->env[i].name && env_entry_is(entry, cmd->env[i].name))
			return true;
	return false;
}

char **executor_task_env(const char *const *base,
                         const struct command_info *cmd, const char *task_id)
{
	char **v = NULL;
	size_t n = 0, cap = 0, i;
	bool task_id_set = false;

	for (; base && *base; base++) {
		if (!strchr(*base, '=') || **base == '=')
			continue;
		if (cmd_sets(cmd, *base))
			continue;
		ALLOC_GROW(v, n + 2, cap);
		v[n++] = xstrdup(*base);
	}
	for (i = 0; i < cmd->nenv; i++) {
		const char *name = cmd->env[i].name;
		const char *val = cmd->env[i].value;
		bool dup = false;

		if (!name || !*name || strchr(name, '='))
			continue;
		/* The last definition of a name wins, as in a shell. */
		for (size_t j = i + 1; j < cmd->nenv; j++)
			if (streq(cmd->env[j].name, name))
				dup = true;
		if (dup)
			continue;
		if (!strcmp(name, "MESOS_TASK_ID"))
			task_id_set = true;
		ALLOC_GROW(v, n + 2, cap);
		v[n++] = xasprintf("%s=%s", name, val ? val : "");
	}
	if (task_id && !task_id_set) {
		/* An inherited MESOS_TASK_ID (a test harness) is replaced. */
		for (i = 0; i < n; i++) {
			if (env_entry_is(v[i], "MESOS_TASK_ID")) {
				free(v[i]);
				memmove(&v[i], &v[i + 1],
				        (n - i - 1) * sizeof(*v));
				n--;
				break;
			}
		}
		ALLOC_GROW(v, n + 2, cap);
		v[n++] = xasprintf("MESOS_TASK_ID=%s", task_id);
	}
	ALLOC_GROW(v, n + 1, cap);
	v[n] = NULL;
	return v;
}

void executor_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

enum task_state executor_exit_state(int64_t exit_status, int term_signal,
                                    bool kill_requested, char *msg,
                                    size_t msgsz)
{
	if (term_signal) {
		const char *name = strsignal(term_signal);
		snprintf(msg, msgsz, "Command terminated with signal %s",
		         name ? name : "unknown");
	} else {
		snprintf(msg, msgsz, "Command exited with status %lld",
		         (long long)exit_status);
	}
	if (kill_requested)
		return TASK_KILLED;
	if (!term_signal && exit_status == 0)
		return TASK_FINISHED;
	return TASK_FAILED;
}

/* Parses a non-negative int64 given as a JSON integer or decimal text. */
static bool json_nanoseconds(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return *out >= 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long long n;

		if (!*s || *s == '-' || *s == '+')
			return false;
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno || *end)
			return false;
		*out = n;
		return true;
	}
	return false;
}

double executor_kill_grace(const json_t *kill_policy, double task_grace,
                           double fallback)
{
	json_t *gp = json_object_get(kill_policy, "grace_period");
	int64_t ns;

	if (gp && json_nanoseconds(json_object_get(gp, "nanoseconds"), &ns))
		return (double)ns / 1e9;
	if (task_grace >= 0)
		return task_grace;
	return fallback;
}

/* Aurora's graceful shutdown of a task, from its labels. */
struct exec_graceful {
	int port;          /* 127.0.0.1:port answers HTTP; 0 = none */
	double quit_wait;  /* seconds after POST /quitquitquit */
	double abort_wait; /* seconds after POST /abortabortabort */
};

/* True when s is a plain unsigned decimal number: digits, an optional
 * fraction, an optional exponent (what printf's %g writes). */
static bool is_plain_number(const char *s)
{
	size_t digits = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static int graceful_parse_port(const char *v, int *port, struct err *e)
{
	size_t n = strlen(v);
	long p = 0;

	if (n == 0 || n > 5 || strspn(v, "0123456789") != n)
		goto bad;
	for (size_t i = 0; i < n; i++)
		p = p * 10 + (v[i] - '0');
	if (p < 1 || p > 65535)
		goto bad;
	*port = (int)p;
	return 0;
bad:
	return err_set(e,
	               "label '%s': must be a port number between 1 and "
	               "65535, got '%.64s'",
	               EXEC_LABEL_PORT, v);
}

static int graceful_parse_wait(const char *key, const char *v, double *out,
                               struct err *e)
{
	double d;
	char *end;

	if (!is_plain_number(v))
		goto bad;
	errno = 0;
	d = strtod(v, &end);
	if (errno || *end || !(d >= 0 && d <= EXEC_GRACEFUL_MAX_WAIT))
		goto bad;
	*out = d;
	return 0;
bad:
	return err_set(e,
	               "label '%s': must be a number of seconds between 0 "
	               "and %g, got '%.64s'",
	               key, EXEC_GRACEFUL_MAX_WAIT, v);
}

/*
 * Reads the graceful shutdown from labels, the TaskInfo's "labels" value
 * ({"labels": [{"key": k, "value": v}, ...]}; NULL or another shape has
 * no label of ours). Labels with other keys are ignored. Returns 0 with
 * g filled (port 0: none), or -EINVAL with e naming the label: a bad
 * value (a port outside 1-65535, a wait that is not a plain number of
 * seconds within 0-EXEC_GRACEFUL_MAX_WAIT), a value that is not a string,
 * a key given twice.
 */
static int graceful_parse(struct exec_graceful *g, const json_t *labels,
                          struct err *e)
{
	static const char *const keys[] = {
	    EXEC_LABEL_PORT, EXEC_LABEL_QUIT_WAIT, EXEC_LABEL_ABORT_WAIT};
	const json_t *list = json_object_get(labels, "labels");
	const json_t *l;
	bool seen[ARRAY_SIZE(keys)] = {false};
	size_t i, k;
	int rc = 0;

	g->port = 0;
	g->quit_wait = EXEC_GRACEFUL_DEFAULT_WAIT;
	g->abort_wait = EXEC_GRACEFUL_DEFAULT_WAIT;
	json_array_foreach(list, i, l)
	{
		const char *key = json_string_value(json_object_get(l, "key"));
		const char *v = json_string_value(json_object_get(l, "value"));

		for (k = 0; k < ARRAY_SIZE(keys); k++)
			if (streq(key, keys[k]))
				break;
		if (k == ARRAY_SIZE(keys))
			continue;
		if (seen[k])
			rc =
			    err_set(e, "label '%s': given more than once", key);
		else if (!v)
			rc = err_set(e, "label '%s': must have a string value",
			             key);
		else if (k == 0)
			rc = graceful_parse_port(v, &g->port, e);
		else
			rc = graceful_parse_wait(
			    key, v, k == 1 ? &g->quit_wait : &g->abort_wait, e);
		if (rc) {
			g->port = 0;
			return rc;
		}
		seen[k] = true;
	}
	return 0;
}

static void call_envelope_begin(struct jsonw *w, const char *type,
                                const char *framework_id,
                                const char *executor_id)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", type);
	jsonw_kid(w, "framework_id", framework_id);
	jsonw_kid(w, "executor_id", executor_id);
}

void executor_subscribe_body(struct buf *out, const char *framework_id,
                             const char *executor_id, const char *task_json,
                             const char *const *updates, size_t n)
{
	struct jsonw w;

	jsonw_init(&w, out);
	call_envelope_begin(&w, "SUBSCRIBE", framework_id, executor_id);
	jsonw_key(&w, "subscribe");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "unacknowledged_tasks");
	jsonw_arr_begin(&w);
	if (task_json)
		jsonw_raw(&w, task_json, strlen(task_json));
	jsonw_arr_end(&w);
	jsonw_key(&w, "unacknowledged_updates");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < n; i++) {
		jsonw_obj_begin(&w);
		jsonw_key(&w, "status");
		jsonw_raw(&w, updates[i], strlen(updates[i]));
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
}

void executor_update_body(struct buf *out, const char *framework_id,
                          const char *executor_id, const char *status_json)
{
	struct jsonw w;

	jsonw_init(&w, out);
	call_envelope_begin(&w, "UPDATE", framework_id, executor_id);
	jsonw_key(&w, "update");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "status");
	jsonw_raw(&w, status_json, strlen(status_json));
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
}

/* ---- the executor -------------------------------------------------- */

struct pending_update {
	struct list link;
	uint8_t uuid[IDS_UUID_LEN];
	char *task_id;
	enum task_state state;
	char *status_json; /* the TaskStatus, compact */
};

/* What the agent asked for (ATOLL_TASK_ISOLATION, ATOLL_FETCHER_*). */
struct exec_isolation {
	bool pid_ns;      /* namespaces/pid */
	bool private_tmp; /* filesystem/linux */
	char *cache_dir;  /* the fetcher's cache, NULL = none */
	uint64_t cache_bytes;
};

/* The user the task runs as, resolved before any fork. */
struct task_user {
	char *name;       /* NULL = the executor's own user */
	bool switch_user; /* we are root: setgroups, setgid, setuid */
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups (getgrouplist) */
	int ngroups;
	char *home;
};

/* Where a kill of the running task is (exec_kill); see the file comment. */
enum exec_kill_stage {
	KILL_STAGE_NONE,    /* no kill, or one during the fetch */
	KILL_STAGE_QUIT,    /* POST /quitquitquit sent, waiting quit_wait */
	KILL_STAGE_ABORT,   /* POST /abortabortabort sent, waiting abort_wait */
	KILL_STAGE_SIGNALS, /* SIGTERM sent, SIGKILL at kill_deadline */
};

struct exec {
	uv_loop_t *loop;
	struct executor_env env;
	struct subscriber *sub;
	bool connected;    /* SUBSCRIBED on the current stream */
	unsigned attempts; /* SUBSCRIBE attempts since the last SUBSCRIBED */
	unsigned fw_caps;  /* enum framework_capability */

	/* The task (one per command executor). */
	bool have_task;
	struct task_info task;
	char *task_json; /* sent as unacknowledged until an ack for it */
	bool task_acked;

	/* The task's process (exec_spawn): our child, reaped by
	 * exec_sigchld_cb. With a pid namespace it is the namespace's init,
	 * which runs the task and reports its wait status on status_fd. */
	bool proc_alive; /* spawned, not reaped yet */
	int pid;
	int status_fd; /* read end, or -1 */
	struct exec_isolation iso;
	struct task_user user;

	/* The fetcher's child process (exec_fetch_start), 0 when none. */
	pid_t fetch_pid;
	int fetch_fd;        /* read end of its report */
	json_t *uris;        /* CommandInfo.uris of the task, or NULL */
	char *fetch_sandbox; /* its sandbox, resolved */
	bool kill_requested, sigkill_sent;
	uint64_t kill_deadline; /* loop time (ms) of the SIGKILL */
	enum exec_kill_stage kill_stage;
	bool terminal_queued;

	/* The graceful shutdown (TaskInfo labels atoll.shutdown.*). */
	struct exec_graceful graceful;
	double kill_grace; /* of the signals, once the HTTP stages are over */
	struct http_client *graceful_http; /* the stage's POST, or NULL */
	uv_timer_t stage_timer;            /* ends the stage's wait */

	/* Health checking (TaskInfo.health_check). */
	bool has_health;
	struct health_check health;
	struct health_checker *checker; /* while checking */
	char *health_kill_msg;          /* set when a health check killed */

	bool shutdown_requested;
	bool give_up;
	bool exiting;
	int exit_code;

	struct list pending; /* struct pending_update, oldest first */
	uv_timer_t kill_timer, ack_timer, disconnect_timer, retry_timer;
	/* Runs the exit outside any subscriber callback (the subscriber
	 * cannot be freed from inside its own callback chain). */
	uv_timer_t exit_timer;
	uv_signal_t sigterm, sigint, sigchld;
};

static void exec_maybe_exit(struct exec *ex);
static void exec_ack_timer_cb(uv_timer_t *t);
static void exec_retry_cb(uv_timer_t *t);

static void pending_free(struct pending_update *p)
{
	free(p->task_id);
	free(p->status_json);
	free(p);
}

static void exec_update_done(struct http_response *resp, int err, void *arg)
{
	struct exec *ex = arg;
	int status = resp ? resp->status : 0;

	if (status >= 200 && status < 300)
		return;
	if (status >= 400 && status < 500) {
		/* The agent refused the update itself: resending the same
		 * bytes cannot help. The ack wait bounds our exit. */
		log_error(EXEC_LOG, "status=%d update refused by the agent: %s",
		          status, resp->body);
		return;
	}
	log_warn(EXEC_LOG,
	         "status=%d err=%d update call failed: %s; "
	         "retrying",
	         status, err, resp ? resp->body : strerror(err ? -err : EIO));
	if (!ex->exiting && !uv_is_active((uv_handle_t *)&ex->retry_timer))
		uv_timer_start(&ex->retry_timer, exec_retry_cb, EXEC_RETRY_MS,
		               0);
}

/* Sends one update call; a failure leaves it pending for resubscribe. */
static void exec_send_pending(struct exec *ex, struct pending_update *p)
{
	struct buf body = BUF_INIT;
	int rc;

	if (!ex->connected || ex->exiting)
		return;
	executor_update_body(&body, ex->env.framework_id, ex->env.executor_id,
	                     p->status_json);
	rc =
	    subscriber_call(ex->sub, body.data, body.len, exec_update_done, ex);
	if (rc)
		log_debug(EXEC_LOG, "rc=%d update kept for resubscription", rc);
	buf_release(&body);
}

static void exec_retry_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, retry_timer);
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &ex->pending)
	{
		exec_send_pending(ex,
		                  list_entry(pos, struct pending_update, link));
	}
}

/*
 * Queues and sends a status update for task_id. reason may be REASON_UNSET,
 * message NULL; healthy is -1 (unset), 0 or 1.
 */
static void exec_status_health(struct exec *ex, const char *task_id,
                               enum task_state state, enum task_reason reason,
                               const char *message, int healthy)
{
	struct pending_update *p = xcalloc(1, sizeof(*p));
	struct task_status st;
	struct buf out = BUF_INIT;
	struct jsonw w;
	char uuid[IDS_UUID_STRLEN];

	task_status_init(&st);
	st.task_id = xstrdup(task_id);
	st.executor_id = xstrdup(ex->env.executor_id);
	st.state = state;
	st.source = SOURCE_EXECUTOR;
	st.reason = reason;
	st.message = message ? xstrdup(message) : NULL;
	st.timestamp = timeutil_wall();
	st.healthy = healthy;
	st.has_uuid = true;
	ids_uuid(st.uuid);
	jsonw_init(&w, &out);
	task_status_write_json(&w, &st);

	memcpy(p->uuid, st.uuid, sizeof(p->uuid));
	p->task_id = xstrdup(task_id);
	p->state = state;
	p->status_json = buf_detach(&out, NULL);
	list_add_tail(&ex->pending, &p->link);
	ids_uuid_format(p->uuid, uuid);
	log_info(EXEC_LOG, "task_id=%s state=%s%s uuid=%s%s%s", task_id,
	         task_state_name(state),
	         healthy < 0 ? ""
	         : healthy   ? " healthy=1"
	                     : " healthy=0",
	         uuid, message ? " " : "", message ? message : "");
	task_status_release(&st);
	exec_send_pending(ex, p);
}

static void exec_status(struct exec *ex, const char *task_id,
                        enum task_state state, enum task_reason reason,
                        const char *message)
{
	exec_status_health(ex, task_id, state, reason, message, -1);
}

/* Stops health checking (no result arrives afterwards). */
static void exec_health_stop(struct exec *ex)
{
	health_checker_free(ex->checker);
	ex->checker = NULL;
}

/* ---- killing ------------------------------------------------------- */

/*
 * Signals the task. Without a pid namespace: its process group, whose id
 * is the task's pid (it called setsid() before exec); never the bare pid,
 * which may belong to someone else once the task has been reaped. With
 * one: its init, and only while it is unreaped (so the pid is still
 * ours); init forwards SIGTERM to every process of the namespace, and a
 * SIGKILL of init ends the whole namespace.
 */
static void exec_signal_group(struct exec *ex, int sig)
{
	pid_t target = -ex->pid;

	if (ex->pid <= 0)
		return;
	if (ex->iso.pid_ns) {
		if (!ex->proc_alive)
			return;
		target = ex->pid;
	}
	if (kill(target, sig) && errno != ESRCH)
		log_warn(EXEC_LOG,
		         "pid=%d signal=%d cannot signal the "
		         "task: %s",
		         (int)target, sig, strerror(errno));
}

static void exec_kill_timer_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, kill_timer);

	if (!ex->proc_alive)
		return;
	log_warn(EXEC_LOG,
	         "task_id=%s pid=%d grace period over; sending "
	         "SIGKILL",
	         ex->task.task_id, ex->pid);
	ex->sigkill_sent = true;
	exec_signal_group(ex, SIGKILL);
}

static uint64_t seconds_ms(double s)
{
	return s > 0 ? (uint64_t)(s * 1000.0 + 0.5) : 0;
}

/* The last stage: SIGTERM now, SIGKILL after grace seconds. */
static void exec_kill_signals(struct exec *ex, double grace)
{
	uint64_t ms = seconds_ms(grace);

	ex->kill_stage = KILL_STAGE_SIGNALS;
	exec_signal_group(ex, SIGTERM);
	ex->kill_deadline = uv_now(ex->loop) + ms;
	uv_timer_start(&ex->kill_timer, exec_kill_timer_cb, ms, 0);
}

static const char *graceful_path(enum exec_kill_stage stage)
{
	return stage == KILL_STAGE_QUIT ? "/quitquitquit" : "/abortabortabort";
}

/* Ends the stage's request, if any. Never called from the request's own
 * callback: only from timers, SIGCHLD and events. */
static void exec_graceful_drop(struct exec *ex)
{
	http_client_free(ex->graceful_http);
	ex->graceful_http = NULL;
}

/* The task's answer to a stage's POST: logged, nothing more (the task's
 * exit, or the stage's end, decides what comes next). */
static void exec_graceful_answer(struct http_response *resp, int err, void *arg)
{
	struct exec *ex = arg;
	const char *path = graceful_path(ex->kill_stage);

	if (err)
		log_info(EXEC_LOG, "task_id=%s port=%d POST %s failed: %s",
		         ex->task.task_id, ex->graceful.port, path,
		         err == -EMSGSIZE ? "answer too large"
		                          : strerror(-err));
	else
		log_info(EXEC_LOG,
		         "task_id=%s port=%d status=%d POST %s "
		         "answered",
		         ex->task.task_id, ex->graceful.port, resp->status,
		         path);
}

static void exec_stage_timer_cb(uv_timer_t *t);

/* Enters an HTTP stage: POST its path to the task, wait for its exit. */
static void exec_graceful_post(struct exec *ex, enum exec_kill_stage stage)
{
	static const char *const headers[] = {
	    "Connection: close", "User-Agent: atoll-executor", NULL};
	struct http_client_req req = {0};
	double wait = stage == KILL_STAGE_QUIT ? ex->graceful.quit_wait
	                                       : ex->graceful.abort_wait;

	exec_graceful_drop(ex);
	ex->kill_stage = stage;
	ex->graceful_http =
	    http_client_new(ex->loop, EXEC_GRACEFUL_HOST, ex->graceful.port);
	req.method = "POST";
	req.path = graceful_path(stage);
	req.headers = headers;
	req.timeout_ms = EXEC_GRACEFUL_TIMEOUT_MS;
	req.max_body_bytes = EXEC_GRACEFUL_MAX_BODY;
	log_info(EXEC_LOG, "task_id=%s port=%d wait=%gs POST %s",
	         ex->task.task_id, ex->graceful.port, wait, req.path);
	/* Never completes synchronously: even errors come from the loop. */
	http_client_request(ex->graceful_http, &req, exec_graceful_answer, ex);
	uv_timer_start(&ex->stage_timer, exec_stage_timer_cb, seconds_ms(wait),
	               0);
}

/* A stage's wait is over and the task still runs: on to the next. */
static void exec_stage_timer_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, stage_timer);

	if (!ex->proc_alive)
		return;
	if (ex->kill_stage == KILL_STAGE_QUIT) {
		log_info(EXEC_LOG,
		         "task_id=%s still running %gs after /quitquitquit",
		         ex->task.task_id, ex->graceful.quit_wait);
		exec_graceful_post(ex, KILL_STAGE_ABORT);
		return;
	}
	exec_graceful_drop(ex);
	log_info(EXEC_LOG,
	         "task_id=%s grace=%.3fs still running %gs after "
	         "/abortabortabort; sending SIGTERM",
	         ex->task.task_id, ex->kill_grace, ex->graceful.abort_wait);
	exec_kill_signals(ex, ex->kill_grace);
}

static void exec_kill(struct exec *ex, double grace, const char *why)
{
	uint64_t now = uv_now(ex->loop);
	uint64_t ms = seconds_ms(grace);

	if (ex->fetch_pid > 0 && !ex->kill_requested) {
		/* Nothing runs yet: end the fetch, the task never starts. */
		ex->kill_requested = true;
		log_info(EXEC_LOG,
		         "task_id=%s killing the task while its URIs are "
		         "fetched (%s)",
		         ex->task.task_id, why);
		if (ex->fw_caps & FW_CAP_TASK_KILLING_STATE)
			exec_status(ex, ex->task.task_id, TASK_KILLING,
			            REASON_UNSET, NULL);
		kill(ex->fetch_pid, SIGKILL);
		return;
	}
	if (!ex->proc_alive || ex->sigkill_sent)
		return;
	exec_health_stop(ex);
	if (!ex->kill_requested) {
		ex->kill_requested = true;
		log_info(EXEC_LOG,
		         "task_id=%s pid=%d grace=%.3fs graceful=%d killing "
		         "the task (%s)",
		         ex->task.task_id, ex->pid, grace,
		         ex->graceful.port > 0, why);
		if (ex->fw_caps & FW_CAP_TASK_KILLING_STATE)
			exec_status(ex, ex->task.task_id, TASK_KILLING,
			            REASON_UNSET, NULL);
		ex->kill_grace = grace;
		if (ex->graceful.port > 0)
			exec_graceful_post(ex, KILL_STAGE_QUIT);
		else
			exec_kill_signals(ex, grace);
		return;
	}
	if (ex->kill_stage == KILL_STAGE_QUIT ||
	    ex->kill_stage == KILL_STAGE_ABORT) {
		/* A framework's retry must not cut the task's own shutdown
		 * short; a shorter grace applies to the signals. */
		if (grace < ex->kill_grace)
			ex->kill_grace = grace;
		log_info(EXEC_LOG,
		         "task_id=%s grace=%.3fs graceful shutdown under "
		         "way; it goes on (%s)",
		         ex->task.task_id, ex->kill_grace, why);
		return;
	}
	if (now + ms >= ex->kill_deadline)
		return;
	log_info(EXEC_LOG, "task_id=%s grace=%.3fs kill brought forward (%s)",
	         ex->task.task_id, grace, why);
	ex->kill_deadline = now + ms;
	uv_timer_start(&ex->kill_timer, exec_kill_timer_cb, ms, 0);
}

/* ---- the task process ---------------------------------------------- */

static void exec_terminal_health(struct exec *ex, enum task_state state,
                                 enum task_reason reason, const char *message,
                                 int healthy)
{
	exec_status_health(ex, ex->task.task_id, state, reason, message,
	                   healthy);
	ex->terminal_queued = true;
	if (ex->connected || ex->shutdown_requested)
		uv_timer_start(&ex->ack_timer, exec_ack_timer_cb,
		               EXEC_ACK_WAIT_MS, 0);
}

static void exec_terminal(struct exec *ex, enum task_state state,
                          enum task_reason reason, const char *message)
{
	exec_terminal_health(ex, state, reason, message, -1);
}

static void exec_fetch_start(struct exec *ex);

/* The task's process was reaped with wait status st (of the task itself,
 * or of its init when that died without reporting one). */
static void exec_on_exit(struct exec *ex, int st)
{
	int64_t exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	int term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	char msg[256];
	enum task_state state;

	ex->proc_alive = false;
	exec_health_stop(ex);
	uv_timer_stop(&ex->kill_timer);
	uv_timer_stop(&ex->stage_timer);
	exec_graceful_drop(ex);
	if (ex->kill_stage == KILL_STAGE_QUIT ||
	    ex->kill_stage == KILL_STAGE_ABORT)
		log_info(EXEC_LOG, "task_id=%s exited after POST %s",
		         ex->task.task_id, graceful_path(ex->kill_stage));
	/* What the task left behind in its group goes with it (a pid
	 * namespace is gone with its init already). */
	exec_signal_group(ex, SIGKILL);
	state = executor_exit_state(exit_status, term_signal,
	                            ex->kill_requested, msg, sizeof(msg));
	log_info(EXEC_LOG, "task_id=%s pid=%d status=%lld signal=%d %s",
	         ex->task.task_id, ex->pid, (long long)exit_status, term_signal,
	         msg);
	if (ex->health_kill_msg)
		exec_terminal_health(ex, state,
		                     REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
		                     ex->health_kill_msg, 0);
	else
		exec_terminal(ex, state, REASON_UNSET, msg);
	exec_maybe_exit(ex);
}

/* Our init (pid namespace) exited with st: the task's status is what it
 * reported, else (killed before it could) init's own. */
static int exec_task_status(struct exec *ex, int st)
{
	int task_st;
	ssize_t n;

	if (ex->status_fd < 0)
		return st;
	do
		n = read(ex->status_fd, &task_st, sizeof(task_st));
	while (n < 0 && errno == EINTR);
	close(ex->status_fd);
	ex->status_fd = -1;
	return n == (ssize_t)sizeof(task_st) ? task_st : st;
}

static void exec_fetch_done(struct exec *ex, int st);

/* SIGCHLD: reaps our own children (the task, the fetcher) and only them;
 * health check processes belong to libuv. */
static void exec_sigchld_cb(uv_signal_t *h, int signum)
{
	struct exec *ex = h->data;
	int st;

	(void)signum;
	if (ex->fetch_pid > 0 && waitpid(ex->fetch_pid, &st, WNOHANG) > 0) {
		ex->fetch_pid = 0;
		exec_fetch_done(ex, st);
	}
	if (ex->proc_alive && waitpid(ex->pid, &st, WNOHANG) > 0)
		exec_on_exit(ex, exec_task_status(ex, st));
}

/* ---- the task's user ------------------------------------------------ */

static void task_user_release(struct task_user *u)
{
	free(u->name);
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

/*
 * Resolves the task's user: ATOLL_TASK_USER (the agent's choice:
 * CommandInfo.user, else FrameworkInfo.user), else CommandInfo.user.
 * Returns 0, or -ENOENT with msg set when the user does not exist.
 * Without root the task runs as we do (logged when that differs).
 */
static int exec_resolve_user(const char *user, struct task_user *u, char *msg,
                             size_t msgsz)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	int rc, n = 16;

	memset(u, 0, sizeof(*u));
	if (!user || !*user)
		return 0;
	rc = getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res);
	if (!res) {
		snprintf(msg, msgsz, "Failed to launch the task: user '%s' %s",
		         user,
		         rc ? strerror(rc) : "does not exist on this agent");
		return -ENOENT;
	}
	u->name = xstrdup(user);
	u->home = xstrdup(pw.pw_dir);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	if (geteuid() != 0) {
		if (pw.pw_uid != geteuid())
			log_warn(EXEC_LOG,
			         "user=%s not running as root: the task runs "
			         "as uid %d instead",
			         user, (int)geteuid());
		u->uid = geteuid();
		u->gid = getegid();
		return 0;
	}
	u->switch_user = true;
	for (;;) {
		int want = n;

		u->groups = xrealloc(u->groups, (size_t)n * sizeof(gid_t));
		if (getgrouplist(user, pw.pw_gid, u->groups, &n) >= 0)
			break;
		if (n <= want) /* no growth asked for: give up on extras */
			n = want * 2;
		if (n > 65536) {
			n = 1;
			u->groups[0] = pw.pw_gid;
			break;
		}
	}
	u->ngroups = n;
	return 0;
}

/*
 * The task's base environment: ours, with USER, LOGNAME and HOME of the
 * task's user when it is not ours (the command's own variables still
 * win, executor_task_env). Returns a NULL-terminated heap array of
 * borrowed and heap strings; heap holds the ones to free.
 */
static const char **exec_base_env(const struct task_user *u, char *heap[3])
{
	size_t n = 0, cap = 0;
	const char **v = NULL;

	heap[0] = heap[1] = heap[2] = NULL;
	for (char **e = environ; e && *e; e++) {
		if (u->switch_user &&
		    (env_entry_is(*e, "USER") || env_entry_is(*e, "LOGNAME") ||
		     env_entry_is(*e, "HOME")))
			continue;
		ALLOC_GROW(v, n + 4, cap);
		v[n++] = *e;
	}
	ALLOC_GROW(v, n + 4, cap);
	if (u->switch_user) {
		heap[0] = xasprintf("USER=%s", u->name);
		heap[1] = xasprintf("LOGNAME=%s", u->name);
		heap[2] = xasprintf("HOME=%s", u->home);
		for (int i = 0; i < 3; i++)
			v[n++] = heap[i];
	}
	v[n] = NULL;
	return v;
}

/* ---- the task's container ------------------------------------------- */

/*
 * Spawning (exec_spawn) forks with a raw clone(2): with namespaces the
 * child starts in new pid and mount namespaces; without, it is a plain
 * fork. The executor has threads (libuv's pool), so the child, until it
 * executes the task, makes only system calls on memory prepared here:
 * no allocation, no stdio, raw setresuid/setresgid/setgroups (glibc's
 * wrappers would try to reach threads that do not exist in the child).
 *
 *   executor --clone--> child: setsid, [mounts], then
 *     no pid namespace:  becomes the task (child_exec_task)
 *     pid namespace:     init, pid 1 (child_init): forks the task, reaps
 *                        every orphan of the namespace, forwards SIGTERM,
 *                        SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to all
 *                        of it (kill(-1)), and when the task ends writes
 *                        its wait status on status_fd and exits, which
 *                        kills whatever is left in the namespace.
 *
 * Mounts (new mount namespace only): everything is made private first
 * (nothing propagates back to the host); filesystem/linux binds
 * <sandbox>/tmp on /tmp, and when the sandbox itself lies under /tmp it
 * is bound again at its own path inside the new /tmp (the directories
 * leading to it are created in <sandbox>/tmp), so MESOS_SANDBOX keeps
 * working; namespaces/pid mounts a fresh /proc showing the namespace's
 * processes only. The namespaces and their mounts disappear with their
 * last process: nothing is left to clean up.
 *
 * The task (child_exec_task): stdin /dev/null; when we are root, the
 * capability bounding set is cut to root_caps for a root task and
 * emptied for any other, ambient and inheritable capabilities are
 * cleared, then setgroups (the user's groups, as initgroups would),
 * setgid, setuid, which leaves a non-root task no capability at all;
 * PR_SET_NO_NEW_PRIVS for non-root tasks (setuid binaries cannot give
 * privileges back); cwd the sandbox; exec. A failure before the exec
 * is written on err_fd (close-on-exec: EOF means the exec happened).
 */

/* Closes every fd above 2 but keep. */
static void close_fds_but(int keep)
{
	if (keep > 3)
		(void)syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
	(void)syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
}

/* Capabilities a root task keeps: Docker's default set. */
static const int root_caps[] = {
    CAP_CHOWN,       CAP_DAC_OVERRIDE, CAP_FOWNER,
    CAP_FSETID,      CAP_KILL,         CAP_SETGID,
    CAP_SETUID,      CAP_SETPCAP,      CAP_NET_BIND_SERVICE,
    CAP_NET_RAW,     CAP_SYS_CHROOT,   CAP_MKNOD,
    CAP_AUDIT_WRITE, CAP_SETFCAP,
};

/* Signals init forwards to the namespace. */
static const int init_forwarded[] = {SIGTERM, SIGINT,  SIGHUP,
                                     SIGQUIT, SIGUSR1, SIGUSR2};

struct spawn_spec {
	const char *file;
	char **argv;
	char **envp;
	const char *sandbox;     /* absolute, symlinks resolved */
	const char *sandbox_tmp; /* <sandbox>/tmp (private_tmp) */
	bool pid_ns, private_tmp, sandbox_under_tmp;
	const struct task_user *user;
	bool set_caps; /* we are root: bounding set, inheritable */
	uint64_t keep_caps;
	bool no_new_privs;
	int null_fd;   /* /dev/null, the task's stdin */
	int err_fd;    /* write end: why the task did not start */
	int status_fd; /* write end: the task's wait status (init) */
};

/* What a child writes on err_fd when it cannot go on. */
struct spawn_failure {
	int err;
	char what[200];
};

/* fork(2) as a raw system call, with namespace flags. */
static pid_t raw_clone(unsigned long flags)
{
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL,
	                      NULL);
}

static __attribute__((noreturn)) void child_fail(const struct spawn_spec *sp,
                                                 const char *what, int err)
{
	struct spawn_failure f;
	size_t n = strlen(what);

	memset(&f, 0, sizeof(f));
	f.err = err;
	memcpy(f.what, what, n < sizeof(f.what) ? n : sizeof(f.what) - 1);
	if (write(sp->err_fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

/* Default dispositions and an empty mask: what a new program expects. */
static void child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Creates path's directories (0755) in the current mount namespace. */
static int child_mkdirs(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			return 0;
	}
}

static void child_setup_mounts(const struct spawn_spec *sp)
{
	int rc;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		child_fail(sp, "cannot make the mounts private", errno);
	if (sp->private_tmp) {
		/* cwd keeps the sandbox reachable once /tmp is covered. */
		if (chdir(sp->sandbox))
			child_fail(sp, "cannot enter the sandbox", errno);
		if (mount(sp->sandbox_tmp, "/tmp", NULL, MS_BIND | MS_REC,
		          NULL))
			child_fail(sp, "cannot mount <sandbox>/tmp on /tmp",
			           errno);
		if (sp->sandbox_under_tmp) {
			if ((rc = child_mkdirs(sp->sandbox)))
				child_fail(sp,
				           "cannot create the sandbox's path "
				           "in the private /tmp",
				           -rc);
			if (mount(".", sp->sandbox, NULL, MS_BIND | MS_REC,
			          NULL))
				child_fail(sp,
				           "cannot mount the sandbox in the "
				           "private /tmp",
				           errno);
		}
	}
	if (sp->pid_ns && mount("proc", "/proc", "proc",
	                        MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		child_fail(sp, "cannot mount /proc", errno);
}

static void child_drop_caps(const struct spawn_spec *sp)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap < 64; cap++) {
		if (sp->keep_caps & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			child_fail(sp,
			           "cannot reduce the capability "
			           "bounding set",
			           errno);
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capget, &h, d))
		child_fail(sp, "cannot read the capabilities", errno);
	d[0].inheritable &= (uint32_t)sp->keep_caps;
	d[1].inheritable &= (uint32_t)(sp->keep_caps >> 32);
	if (syscall(SYS_capset, &h, d))
		child_fail(sp, "cannot set the inheritable capabilities",
		           errno);
}

static __attribute__((noreturn)) void
child_exec_task(const struct spawn_spec *sp)
{
	const struct task_user *u = sp->user;

	child_reset_signals();
	if (dup2(sp->null_fd, STDIN_FILENO) < 0)
		child_fail(sp, "cannot open /dev/null as stdin", errno);
	if (sp->set_caps)
		child_drop_caps(sp);
	if (u->switch_user) {
		if (syscall(SYS_setgroups, (size_t)u->ngroups, u->groups))
			child_fail(sp, "cannot set the user's groups", errno);
		if (syscall(SYS_setresgid, u->gid, u->gid, u->gid))
			child_fail(sp, "cannot set the user's group id", errno);
		if (syscall(SYS_setresuid, u->uid, u->uid, u->uid))
			child_fail(sp, "cannot set the user id", errno);
	}
	if (sp->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		child_fail(sp, "cannot set no_new_privs", errno);
	if (chdir(sp->sandbox))
		child_fail(sp, "cannot enter the sandbox", errno);
	environ = sp->envp;
	execvp(sp->file, sp->argv);
	child_fail(sp, "cannot execute", errno);
}

static void init_noop(int sig)
{
	(void)sig;
}

/* pid 1 of the task's namespace; see above. */
static __attribute__((noreturn)) void child_init(const struct spawn_spec *sp)
{
	struct sigaction sa;
	sigset_t set;
	pid_t task;

	/* The namespace dies with the executor. (Its pid is not visible
	 * from here, getppid() is 0: an executor dying during the clone
	 * leaves init to the agent's kill of the container.) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		child_fail(sp, "cannot set the parent death signal", errno);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = init_noop;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(init_forwarded); i++)
		sigaddset(&set, init_forwarded[i]);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig) == 1)
			(void)sigaction(sig, &sa, NULL);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	task = raw_clone(0);
	if (task < 0)
		child_fail(sp, "cannot fork the task", errno);
	if (task == 0)
		child_exec_task(sp);
	/* Keep none of the executor's descriptors (its sockets above all:
	 * the agent must see them close when the executor closes them). */
	close_fds_but(sp->status_fd);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si), st;
		pid_t pid;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			(void)kill(-1, sig);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != task)
				continue;
			if (write(sp->status_fd, &st, sizeof(st)) < 0)
				_exit(126);
			_exit(0);
		}
	}
}

/* True when path lies under dir (both absolute, resolved). */
static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, n) && path[n] == '/';
}

/*
 * Starts the task (see above). Returns 0 with ex->pid set and the task
 * running, or a negative errno with msg set.
 */
static int exec_clone_task(struct exec *ex, struct spawn_spec *sp, char *msg,
                           size_t msgsz)
{
	unsigned long flags = 0;
	int errp[2] = {-1, -1}, statp[2] = {-1, -1};
	struct spawn_failure f;
	pid_t pid;
	ssize_t n;
	int rc = 0, st;

	if (pipe2(errp, O_CLOEXEC) || (sp->pid_ns && pipe2(statp, O_CLOEXEC))) {
		rc = -errno;
		snprintf(msg, msgsz, "Failed to launch the task: pipe: %s",
		         strerror(errno));
		goto out;
	}
	sp->err_fd = errp[1];
	sp->status_fd = statp[1];
	if (sp->pid_ns)
		flags |= CLONE_NEWPID | CLONE_NEWNS;
	if (sp->private_tmp)
		flags |= CLONE_NEWNS;
	pid = raw_clone(flags);
	if (pid < 0) {
		rc = -errno;
		snprintf(msg, msgsz,
		         "Failed to launch the task: cannot create its "
		         "process%s: %s",
		         flags ? " and namespaces" : "", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		if (setsid() < 0)
			child_fail(sp, "setsid", errno);
		if (flags)
			child_setup_mounts(sp);
		if (sp->pid_ns)
			child_init(sp);
		child_exec_task(sp);
	}
	close(errp[1]);
	errp[1] = -1;
	close(statp[1]);
	statp[1] = -1;
	/* Blocks until the exec (or a failure): a few system calls. */
	do
		n = read(errp[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(f)) {
		f.what[sizeof(f.what) - 1] = '\0';
		rc = -f.err;
		if (!strcmp(f.what, "cannot execute"))
			snprintf(msg, msgsz,
			         "Failed to launch the task: cannot execute "
			         "'%s': %s",
			         sp->file, strerror(f.err));
		else
			snprintf(msg, msgsz,
			         "Failed to launch the task: %s: %s", f.what,
			         strerror(f.err));
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	ex->pid = pid;
	ex->proc_alive = true;
	ex->status_fd = statp[0];
	statp[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (statp[i] >= 0)
			close(statp[i]);
	}
	return rc;
}

/* Prepares what the namespaces need: the real sandbox path and its tmp
 * directory. Returns 0 or -errno with msg set. */
static int exec_prepare_sandbox(struct exec *ex, char **real, char **tmp,
                                bool *under_tmp, char *msg, size_t msgsz)
{
	const char *sandbox = ex->env.sandbox ? ex->env.sandbox : ".";
	char *tmp_real = NULL;

	*tmp = NULL;
	*under_tmp = false;
	*real = realpath(sandbox, NULL);
	if (!*real) {
		snprintf(msg, msgsz,
		         "Failed to launch the task: sandbox '%s': %s", sandbox,
		         strerror(errno));
		return -errno;
	}
	if (!ex->iso.private_tmp)
		return 0;
	*tmp = xasprintf("%s/tmp", *real);
	if ((mkdir(*tmp, 01777) && errno != EEXIST) || chmod(*tmp, 01777)) {
		snprintf(msg, msgsz,
		         "Failed to launch the task: cannot create "
		         "'%s': %s",
		         *tmp, strerror(errno));
		return -errno;
	}
	tmp_real = realpath("/tmp", NULL);
	*under_tmp = path_is_under(*real, tmp_real ? tmp_real : "/tmp");
	free(tmp_real);
	return 0;
}

/* One health check result (health.h); see the file comment. */
static void exec_on_health(const struct health_result *r, void *arg)
{
	struct exec *ex = arg;
	const char *tid = ex->task.task_id;
	char msg[512];
	double grace;

	/* A kill stops the checker; this is belt and braces. */
	if (!ex->proc_alive || ex->kill_requested || ex->exiting)
		return;
	switch (r->action) {
	case HEALTH_NOTHING:
		log_debug(EXEC_LOG, "task_id=%s health check passed", tid);
		return;
	case HEALTH_IGNORED:
		log_info(EXEC_LOG,
		         "task_id=%s health check failed in the grace "
		         "period; ignored: %s",
		         tid, r->cause);
		return;
	case HEALTH_REPORT_HEALTHY:
		exec_status_health(ex, tid, TASK_RUNNING,
		                   REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
		                   NULL, 1);
		return;
	case HEALTH_REPORT_UNHEALTHY:
	case HEALTH_KILL:
		break;
	}
	snprintf(msg, sizeof(msg),
	         "health check failed %" PRIu32 " consecutive time%s: %s",
	         r->failures, r->failures == 1 ? "" : "s", r->cause);
	exec_status_health(ex, tid, TASK_RUNNING,
	                   REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, msg, 0);
	if (r->action != HEALTH_KILL)
		return;
	free(ex->health_kill_msg);
	ex->health_kill_msg = xasprintf("task killed after %" PRIu32
	                                " consecutive failed health checks: "
	                                "%s",
	                                r->failures, r->cause);
	grace = executor_kill_grace(NULL, ex->task.kill_grace_period,
	                            EXEC_DEFAULT_KILL_GRACE);
	exec_kill(ex, grace, "health check failures");
}

/*
 * Starts health checking the task just spawned; task_env is what the
 * task got: a COMMAND check runs with the task's environment (plus its
 * own variables), sandbox and user, in the executor's namespaces (it
 * does not enter the task's).
 */
static void exec_health_start(struct exec *ex, const char *const *task_env)
{
	struct health_command_opts co = {0};
	const char **argv = NULL;
	char **envv = NULL;

	if (!ex->has_health)
		return;
	if (ex->health.type == HEALTH_COMMAND) {
		argv = executor_task_argv(&ex->health.command, &co.file);
		envv = executor_task_env(task_env, &ex->health.command, NULL);
		co.argv = argv;
		co.env = (const char *const *)envv;
		co.cwd = ex->env.sandbox;
		co.set_user = ex->user.switch_user;
		co.uid = ex->user.uid;
		co.gid = ex->user.gid;
	}
	log_info(EXEC_LOG,
	         "task_id=%s type=%s delay=%gs interval=%gs timeout=%gs "
	         "grace=%gs max_failures=%" PRIu32 " health checking",
	         ex->task.task_id, health_type_name(ex->health.type),
	         ex->health.delay_seconds, ex->health.interval_seconds,
	         ex->health.timeout_seconds, ex->health.grace_period_seconds,
	         ex->health.consecutive_failures);
	ex->checker =
	    health_checker_new(ex->loop, &ex->health, &co, exec_on_health, ex);
	free(argv);
	executor_strv_free(envv);
}

/* Starts the task's process (fetching done); on failure sends
 * TASK_FAILED. */
static void exec_spawn(struct exec *ex)
{
	const struct command_info *cmd = &ex->task.command;
	struct spawn_spec sp;
	const char **argv = NULL, **base = NULL;
	char **envv = NULL, *real = NULL, *tmp = NULL, *heap[3] = {0};
	bool under_tmp = false;
	char msg[512];

	memset(&sp, 0, sizeof(sp));
	sp.null_fd = -1;
	if (exec_prepare_sandbox(ex, &real, &tmp, &under_tmp, msg,
	                         sizeof(msg))) {
		exec_terminal(ex, TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
		              msg);
		goto out;
	}
	argv = executor_task_argv(cmd, &sp.file);
	base = exec_base_env(&ex->user, heap);
	envv = executor_task_env(base, cmd, ex->task.task_id);
	sp.argv = (char **)argv;
	sp.envp = envv;
	sp.sandbox = real;
	sp.sandbox_tmp = tmp;
	sp.pid_ns = ex->iso.pid_ns;
	sp.private_tmp = ex->iso.private_tmp;
	sp.sandbox_under_tmp = under_tmp;
	sp.user = &ex->user;
	sp.set_caps = geteuid() == 0;
	sp.no_new_privs =
	    ex->user.switch_user ? ex->user.uid != 0 : geteuid() != 0;
	if (sp.set_caps && (ex->user.switch_user ? ex->user.uid : 0) == 0)
		for (size_t i = 0; i < ARRAY_SIZE(root_caps); i++)
			sp.keep_caps |= 1ULL << root_caps[i];
	sp.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (sp.null_fd < 0) {
		snprintf(msg, sizeof(msg),
		         "Failed to launch the task: /dev/null: %s",
		         strerror(errno));
		exec_terminal(ex, TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
		              msg);
		goto out;
	}
	if (exec_clone_task(ex, &sp, msg, sizeof(msg))) {
		exec_terminal(ex, TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
		              msg);
		goto out;
	}
	log_info(EXEC_LOG,
	         "task_id=%s pid=%d shell=%d user=%s pid_ns=%d "
	         "private_tmp=%d started: %s",
	         ex->task.task_id, ex->pid, cmd->shell,
	         ex->user.name ? ex->user.name : "(executor's)", sp.pid_ns,
	         sp.private_tmp, cmd->value);
	exec_status(ex, ex->task.task_id, TASK_RUNNING, REASON_UNSET, NULL);
	exec_health_start(ex, (const char *const *)envv);
out:
	if (sp.null_fd >= 0)
		close(sp.null_fd);
	executor_strv_free(envv);
	for (int i = 0; i < 3; i++)
		free(heap[i]);
	free(base);
	free(argv);
	free(real);
	free(tmp);
}

/* ---- fetching -------------------------------------------------------- */

/*
 * CommandInfo.uris are fetched (fetcher.h) before the task starts, by a
 * forked child so the executor keeps answering the agent and a kill ends
 * the fetch at once. The child runs as the task's user (a task must not
 * get through the fetcher a file its user could not read) with a cache
 * of its own: <cache dir>/<user>, created here and given to the user.
 * It reports on a pipe: struct fetch_report.
 */
struct fetch_report {
	int rc;
	struct fetcher_stats stats;
	char msg[1024];
};

static __attribute__((noreturn)) void fetch_child(struct exec *ex, int fd,
                                                  const char *cache)
{
	struct fetcher_opts fo = {0};
	struct fetch_report r;
	const struct task_user *u = &ex->user;

	memset(&r, 0, sizeof(r));
	child_reset_signals();
	close_fds_but(fd);
	if (u->switch_user && (setgroups((size_t)u->ngroups, u->groups) ||
	                       setgid(u->gid) || setuid(u->uid))) {
		r.rc = -errno;
		snprintf(r.msg, sizeof(r.msg), "cannot become user '%s': %s",
		         u->name, strerror(errno));
	} else {
		fo.sandbox = ex->fetch_sandbox;
		fo.cache_dir = cache;
		fo.cache_max_bytes = ex->iso.cache_bytes;
		fo.uid = (uid_t)-1;
		fo.gid = (gid_t)-1;
		r.rc =
		    fetcher_run(ex->uris, &fo, &r.stats, r.msg, sizeof(r.msg));
	}
	r.msg[sizeof(r.msg) - 1] = '\0';
	if (write(fd, &r, sizeof(r)) < 0)
		_exit(2);
	_exit(r.rc ? 1 : 0);
}

/* <cache dir>/<user>, made and given to the user; NULL (no caching)
 * when it cannot be. */
static char *exec_fetch_cache(struct exec *ex)
{
	const struct task_user *u = &ex->user;
	char *dir;

	if (!ex->iso.cache_dir)
		return NULL;
	if (mkdir(ex->iso.cache_dir, 0755) && errno != EEXIST) {
		log_warn(EXEC_LOG,
		         "cannot create the fetcher cache '%s': %s; "
		         "fetching without it",
		         ex->iso.cache_dir, strerror(errno));
		return NULL;
	}
	dir = xasprintf("%s/%s", ex->iso.cache_dir,
	                u->name ? u->name : "_executor");
	if ((mkdir(dir, 0700) && errno != EEXIST) ||
	    (u->switch_user && chown(dir, u->uid, u->gid))) {
		log_warn(EXEC_LOG,
		         "cannot prepare the fetcher cache '%s': %s; "
		         "fetching without it",
		         dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

static void exec_fetch_start(struct exec *ex)
{
	char *cache = exec_fetch_cache(ex);
	int p[2];
	pid_t pid;

	free(ex->fetch_sandbox);
	ex->fetch_sandbox =
	    realpath(ex->env.sandbox ? ex->env.sandbox : ".", NULL);
	if (!ex->fetch_sandbox || pipe2(p, O_CLOEXEC)) {
		char msg[512];
		snprintf(msg, sizeof(msg), "Failed to fetch URIs: %s",
		         strerror(errno));
		exec_terminal(ex, TASK_FAILED, REASON_FETCHER_FAILURE, msg);
		free(cache);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		fetch_child(ex, p[1], cache);
	}
	close(p[1]);
	free(cache);
	if (pid < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "Failed to fetch URIs: fork: %s",
		         strerror(errno));
		close(p[0]);
		exec_terminal(ex, TASK_FAILED, REASON_FETCHER_FAILURE, msg);
		return;
	}
	ex->fetch_pid = pid;
	ex->fetch_fd = p[0];
	log_info(EXEC_LOG, "task_id=%s pid=%d uris=%zu fetching",
	         ex->task.task_id, (int)pid, json_array_size(ex->uris));
}

static void exec_fetch_done(struct exec *ex, int st)
{
	struct fetch_report r;
	char msg[1200];
	ssize_t n;

	memset(&r, 0, sizeof(r));
	do
		n = read(ex->fetch_fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(ex->fetch_fd);
	ex->fetch_fd = -1;
	r.msg[sizeof(r.msg) - 1] = '\0';
	if (ex->kill_requested) {
		exec_terminal(ex, TASK_KILLED, REASON_UNSET,
		              "Task killed while its URIs were fetched");
	} else if (n != (ssize_t)sizeof(r) || r.rc || !WIFEXITED(st) ||
	           WEXITSTATUS(st)) {
		if (n == (ssize_t)sizeof(r) && r.rc)
			snprintf(msg, sizeof(msg), "Failed to fetch URIs: %s",
			         r.msg);
		else if (WIFSIGNALED(st))
			snprintf(msg, sizeof(msg),
			         "Failed to fetch URIs: the fetcher was "
			         "terminated by signal %s",
			         strsignal(WTERMSIG(st)));
		else
			snprintf(msg, sizeof(msg),
			         "Failed to fetch URIs: the fetcher exited "
			         "with status %d",
			         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		exec_terminal(ex, TASK_FAILED, REASON_FETCHER_FAILURE, msg);
	} else {
		log_info(EXEC_LOG,
		         "task_id=%s fetched=%zu from_cache=%zu "
		         "extracted=%zu URIs fetched",
		         ex->task.task_id, r.stats.fetched, r.stats.from_cache,
		         r.stats.extracted);
		exec_spawn(ex);
	}
	exec_maybe_exit(ex);
}

/* The LAUNCH is accepted: resolve the user, fetch, start. */
static void exec_start(struct exec *ex)
{
	const char *user = getenv("ATOLL_TASK_USER");
	char msg[512];

	if (!user || !*user)
		user = ex->task.command.user;
	if (exec_resolve_user(user, &ex->user, msg, sizeof(msg))) {
		exec_terminal(ex, TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
		              msg);
		return;
	}
	if (json_array_size(ex->uris))
		exec_fetch_start(ex);
	else
		exec_spawn(ex);
}

/* ---- events -------------------------------------------------------- */

/* A LAUNCH we cannot run: answer TASK_FAILED when it names a task. */
static void exec_reject_launch(struct exec *ex, const json_t *task,
                               enum task_reason reason, const char *why)
{
	const char *tid = json_string_value(
	    json_object_get(json_object_get(task, "task_id"), "value"));
	struct err e;

	if (!tid || mesos_id_validate(tid, "task_id", &e)) {
		log_error(EXEC_LOG, "bad LAUNCH event ignored: %s", why);
		return;
	}
	log_error(EXEC_LOG, "task_id=%s launch refused: %s", tid, why);
	if (!ex->have_task) {
		/* This executor was started for that task: it ends here. */
		ex->have_task = true;
		ex->task.task_id = xstrdup(tid);
		exec_terminal(ex, TASK_FAILED, reason, why);
		exec_maybe_exit(ex);
	} else {
		exec_status(ex, tid, TASK_FAILED, reason, why);
	}
}

/*
 * Parses task.health_check into ex->health (has_health when present).
 * Returns 0, or -EINVAL with e naming the field ("health_check.tcp.port").
 */
static int exec_parse_health(struct exec *ex, const json_t *task, struct err *e)
{
	const json_t *hc = json_object_get(task, "health_check");

	if (!hc || json_is_null(hc))
		return 0;
	if (health_check_from_json(&ex->health, hc, e)) {
		health_check_release(&ex->health);
		return res_err_path(e, "health_check");
	}
	ex->has_health = true;
	return 0;
}

static void exec_on_launch(struct exec *ex, json_t *ev)
{
	json_t *task = json_object_get(json_object_get(ev, "launch"), "task");
	const json_t *uris;
	char why[512];
	struct task_info t;
	struct exec_graceful graceful;
	struct err e = {{0}};

	if (!json_is_object(task)) {
		log_error(EXEC_LOG, "bad LAUNCH event: launch.task missing; "
		                    "ignored");
		return;
	}
	if (ex->have_task &&
	    streq(json_string_value(json_object_get(
		      json_object_get(task, "task_id"), "value")),
	          ex->task.task_id)) {
		/* A LAUNCH resent for our task (after a resubscription):
		 * failing it would fail the task that is running. */
		log_warn(EXEC_LOG, "task_id=%s duplicate LAUNCH ignored",
		         ex->task.task_id);
		return;
	}
	if (ex->have_task || ex->shutdown_requested || ex->give_up) {
		exec_reject_launch(ex, task, REASON_TASK_INVALID,
		                   ex->have_task
		                       ? "the command executor runs one "
		                         "task and already has one"
		                       : "the executor is shutting down");
		return;
	}
	task_info_init(&t);
	if (task_info_from_json(&t, task, &e)) {
		task_info_release(&t);
		exec_reject_launch(ex, task, REASON_TASK_INVALID, e.msg);
		return;
	}
	if (!t.has_command) {
		task_info_release(&t);
		exec_reject_launch(ex, task, REASON_TASK_INVALID,
		                   "task: the command executor needs "
		                   "TaskInfo.command");
		return;
	}
	if (exec_parse_health(ex, task, &e) ||
	    graceful_parse(&graceful, json_object_get(task, "labels"), &e)) {
		task_info_release(&t);
		exec_reject_launch(ex, task, REASON_TASK_INVALID, e.msg);
		return;
	}
	uris = json_object_get(json_object_get(task, "command"), "uris");
	if (uris && fetcher_validate(uris, why, sizeof(why))) {
		char *msg = xasprintf("command.%s", why);
		task_info_release(&t);
		exec_reject_launch(ex, task, REASON_TASK_INVALID, msg);
		free(msg);
		return;
	}
	ex->task = t;
	ex->have_task = true;
	ex->graceful = graceful;
	if (graceful.port > 0)
		log_info(EXEC_LOG,
		         "task_id=%s port=%d quit_wait=%gs abort_wait=%gs "
		         "graceful shutdown over HTTP",
		         t.task_id, graceful.port, graceful.quit_wait,
		         graceful.abort_wait);
	ex->task_json =
	    t.json ? xstrdup(t.json) : json_dumps(task, JSON_COMPACT);
	ex->uris = json_is_array(uris) ? json_deep_copy(uris) : NULL;
	exec_status(ex, ex->task.task_id, TASK_STARTING, REASON_UNSET, NULL);
	exec_start(ex);
	exec_maybe_exit(ex);
}

static void exec_on_kill(struct exec *ex, json_t *ev)
{
	json_t *k = json_object_get(ev, "kill");
	const char *tid = json_string_value(
	    json_object_get(json_object_get(k, "task_id"), "value"));
	double grace;

	if (!tid) {
		log_error(EXEC_LOG, "bad KILL event: kill.task_id missing; "
		                    "ignored");
		return;
	}
	if (!ex->have_task || strcmp(tid, ex->task.task_id)) {
		log_warn(EXEC_LOG,
		         "task_id=%s kill for an unknown task; "
		         "ignored",
		         tid);
		return;
	}
	if (!ex->proc_alive && ex->fetch_pid <= 0) {
		log_info(EXEC_LOG, "task_id=%s kill: task not running", tid);
		return;
	}
	grace = executor_kill_grace(json_object_get(k, "kill_policy"),
	                            ex->task.kill_grace_period,
	                            EXEC_DEFAULT_KILL_GRACE);
	exec_kill(ex, grace, "KILL from the agent");
}

static void exec_on_acknowledged(struct exec *ex, json_t *ev)
{
	json_t *a = json_object_get(ev, "acknowledged");
	const char *b64 = json_string_value(json_object_get(a, "uuid"));
	uint8_t uuid[IDS_UUID_LEN + 4];
	struct list *pos, *tmp;

	if (!b64 || ids_base64_decode(b64, strlen(b64), uuid, sizeof(uuid)) !=
	                IDS_UUID_LEN) {
		log_error(EXEC_LOG, "bad ACKNOWLEDGED event: uuid is not "
		                    "base64 of 16 bytes; ignored");
		return;
	}
	LIST_FOR_EACH_SAFE(pos, tmp, &ex->pending)
	{
		struct pending_update *p =
		    list_entry(pos, struct pending_update, link);
		if (memcmp(p->uuid, uuid, IDS_UUID_LEN))
			continue;
		log_debug(EXEC_LOG, "task_id=%s state=%s acknowledged",
		          p->task_id, task_state_name(p->state));
		if (ex->have_task && !strcmp(p->task_id, ex->task.task_id))
			ex->task_acked = true;
		list_del(&p->link);
		pending_free(p);
		if (list_empty(&ex->pending))
			uv_timer_stop(&ex->retry_timer);
		exec_maybe_exit(ex);
		return;
	}
	log_debug(EXEC_LOG, "acknowledgement for an unknown update ignored");
}

static void exec_on_subscribed(struct exec *ex, json_t *ev)
{
	json_t *fi = json_object_get(json_object_get(ev, "subscribed"),
	                             "framework_info");
	json_t *caps = json_object_get(fi, "capabilities");
	json_t *c;
	size_t i;

	ex->fw_caps = 0;
	json_array_foreach(caps, i, c)
	{
		const char *type =
		    json_string_value(json_object_get(c, "type"));
		if (streq(type, "TASK_KILLING_STATE"))
			ex->fw_caps |= FW_CAP_TASK_KILLING_STATE;
	}
	ex->connected = true;
	ex->attempts = 0;
	uv_timer_stop(&ex->disconnect_timer);
	log_info(EXEC_LOG,
	         "executor_id=%s framework_id=%s agent=%s "
	         "subscribed",
	         ex->env.executor_id, ex->env.framework_id,
	         ex->env.agent_endpoint);
	if (ex->terminal_queued && !list_empty(&ex->pending))
		uv_timer_start(&ex->ack_timer, exec_ack_timer_cb,
		               EXEC_ACK_WAIT_MS, 0);
}

static void exec_shutdown(struct exec *ex, const char *why)
{
	if (ex->shutdown_requested)
		return;
	ex->shutdown_requested = true;
	log_info(EXEC_LOG, "grace=%.3fs shutting down (%s)",
	         ex->env.shutdown_grace, why);
	exec_kill(ex, ex->env.shutdown_grace, why);
	exec_maybe_exit(ex);
}

static void exec_on_event(json_t *ev, const char *type, void *arg)
{
	struct exec *ex = arg;

	if (ex->exiting)
		return;
	if (!strcmp(type, "SUBSCRIBED")) {
		exec_on_subscribed(ex, ev);
	} else if (!strcmp(type, "LAUNCH")) {
		exec_on_launch(ex, ev);
	} else if (!strcmp(type, "LAUNCH_GROUP")) {
		json_t *tasks = json_object_get(
		    json_object_get(json_object_get(ev, "launch_group"),
		                    "task_group"),
		    "tasks");
		json_t *t;
		size_t i;
		if (!json_array_size(tasks))
			log_error(EXEC_LOG, "bad LAUNCH_GROUP event ignored");
		json_array_foreach(tasks, i, t)
		{
			exec_reject_launch(ex, t, REASON_TASK_GROUP_INVALID,
			                   "the command executor does not "
			                   "run task groups");
		}
	} else if (!strcmp(type, "KILL")) {
		exec_on_kill(ex, ev);
	} else if (!strcmp(type, "ACKNOWLEDGED")) {
		exec_on_acknowledged(ex, ev);
	} else if (!strcmp(type, "SHUTDOWN")) {
		exec_shutdown(ex, "SHUTDOWN from the agent");
	} else if (!strcmp(type, "MESSAGE")) {
		const char *d = json_string_value(
		    json_object_get(json_object_get(ev, "message"), "data"));
		log_info(EXEC_LOG, "bytes=%zu framework message ignored",
		         d ? strlen(d) : 0);
	} else if (!strcmp(type, "ERROR")) {
		const char *m = json_string_value(
		    json_object_get(json_object_get(ev, "error"), "message"));
		log_error(EXEC_LOG, "error event from the agent: %s",
		          m ? m : "(no message)");
	} else if (!strcmp(type, "HEARTBEAT")) {
		/* any record resets the subscriber's watch */
	} else {
		log_error(EXEC_LOG, "type='%s' unknown event ignored", type);
	}
}

/* ---- connection ---------------------------------------------------- */

static void exec_build_subscribe(struct buf *body, void *arg)
{
	struct exec *ex = arg;
	const char **updates = NULL;
	size_t n = 0, cap = 0;
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &ex->pending)
	{
		ALLOC_GROW(updates, n + 1, cap);
		updates[n++] =
		    list_entry(pos, struct pending_update, link)->status_json;
	}
	executor_subscribe_body(body, ex->env.framework_id, ex->env.executor_id,
	                        ex->task_acked ? NULL : ex->task_json, updates,
	                        n);
	if (ex->attempts++ == 0)
		log_info(EXEC_LOG, "agent=%s unacked_updates=%zu subscribing",
		         ex->env.agent_endpoint, n);
	else
		log_debug(EXEC_LOG, "agent=%s attempt=%u subscribing again",
		          ex->env.agent_endpoint, ex->attempts);
	free(updates);
}

static void exec_disconnect_timer_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, disconnect_timer);

	log_error(EXEC_LOG,
	          "agent=%s checkpoint=%d agent unreachable for "
	          "too long; giving up",
	          ex->env.agent_endpoint, ex->env.checkpoint);
	ex->give_up = true;
	exec_kill(ex, ex->env.shutdown_grace, "agent unreachable");
	exec_maybe_exit(ex);
}

static void exec_on_disconnected(int err, int http_status, const char *message,
                                 void *arg)
{
	struct exec *ex = arg;
	uint64_t wait_ms;

	if (ex->exiting)
		return;
	if (ex->connected || http_status)
		log_warn(EXEC_LOG, "status=%d err=%d agent stream lost: %s",
		         http_status, err,
		         message ? message : (err ? strerror(-err) : "closed"));
	ex->connected = false;
	/* A shutdown keeps its bounded wait; otherwise the agent's absence
	 * is governed by the disconnect timer alone. */
	if (!ex->shutdown_requested)
		uv_timer_stop(&ex->ack_timer);
	uv_timer_stop(&ex->retry_timer);
	if (uv_is_active((uv_handle_t *)&ex->disconnect_timer))
		return;
	wait_ms = ex->env.checkpoint
	              ? (uint64_t)(ex->env.recovery_timeout * 1000.0)
	              : EXEC_NOCKPT_WAIT_MS;
	log_info(EXEC_LOG, "checkpoint=%d wait=%llums waiting for the agent",
	         ex->env.checkpoint, (unsigned long long)wait_ms);
	uv_timer_start(&ex->disconnect_timer, exec_disconnect_timer_cb, wait_ms,
	               0);
}

static void exec_ack_timer_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, ack_timer);

	log_warn(EXEC_LOG,
	         "task_id=%s no acknowledgement of the terminal "
	         "update in %dms; exiting",
	         ex->have_task ? ex->task.task_id : "?", EXEC_ACK_WAIT_MS);
	ex->give_up = true;
	exec_maybe_exit(ex);
}

static void exec_signal_cb(uv_signal_t *h, int signum)
{
	struct exec *ex = h->data;

	exec_shutdown(ex, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- exit ---------------------------------------------------------- */

static void exec_close_handles(struct exec *ex)
{
	exec_health_stop(ex);
	exec_graceful_drop(ex);
	uv_close((uv_handle_t *)&ex->exit_timer, NULL);
	uv_close((uv_handle_t *)&ex->kill_timer, NULL);
	uv_close((uv_handle_t *)&ex->stage_timer, NULL);
	uv_close((uv_handle_t *)&ex->ack_timer, NULL);
	uv_close((uv_handle_t *)&ex->disconnect_timer, NULL);
	uv_close((uv_handle_t *)&ex->retry_timer, NULL);
	uv_close((uv_handle_t *)&ex->sigterm, NULL);
	uv_close((uv_handle_t *)&ex->sigint, NULL);
	uv_close((uv_handle_t *)&ex->sigchld, NULL);
}

static void exec_exit_cb(uv_timer_t *t)
{
	struct exec *ex = container_of(t, struct exec, exit_timer);

	subscriber_free(ex->sub);
	ex->sub = NULL;
	exec_close_handles(ex);
}

static void exec_maybe_exit(struct exec *ex)
{
	bool drained = list_empty(&ex->pending);

	if (ex->exiting || ex->proc_alive || ex->fetch_pid > 0)
		return;
	if (ex->have_task) {
		if (!ex->terminal_queued || (!drained && !ex->give_up))
			return;
	} else if (!ex->shutdown_requested && !ex->give_up) {
		return;
	}
	ex->exiting = true;
	ex->exit_code = drained ? 0 : 1;
	log_info(EXEC_LOG, "executor_id=%s unacked=%s exiting",
	         ex->env.executor_id, drained ? "none" : "some");
	uv_timer_start(&ex->exit_timer, exec_exit_cb, 0, 0);
}

struct exec_config {
	char *log_level;
};

static const struct flag_def exec_flags[] = {
    FLAG_DEF(struct exec_config, log_level, "log-level", FLAG_STRING, "info", 0,
             0, "error, warn, info or debug"),
};

static int exec_parse_flags(int argc, char **argv)
{
	struct exec_config cfg = {0};
	struct err e = {{0}};
	enum log_level lvl;
	int rc;

	rc = flags_parse(exec_flags, ARRAY_SIZE(exec_flags), &cfg, argc, argv,
	                 NULL, &e);
	if (rc == 1) {
		flags_usage(stdout, "atoll executor",
		            "The command executor: started by the agent, one "
		            "per command task, configured through the "
		            "MESOS_* environment (MESOS_FRAMEWORK_ID, "
		            "MESOS_EXECUTOR_ID, MESOS_AGENT_ENDPOINT, "
		            "MESOS_SANDBOX, MESOS_CHECKPOINT, "
		            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, "
		            "MESOS_RECOVERY_TIMEOUT).",
		            exec_flags, ARRAY_SIZE(exec_flags));
		rc = 1;
	} else if (rc) {
		fprintf(stderr, "atoll executor: %s\n", e.msg);
		rc = -EINVAL;
	} else if (log_parse_level(cfg.log_level, &lvl)) {
		fprintf(stderr,
		        "atoll executor: --log-level: expected error, warn, "
		        "info or debug, got '%s'\n",
		        cfg.log_level);
		rc = -EINVAL;
	} else {
		log_set_level(lvl);
	}
	flags_release(exec_flags, ARRAY_SIZE(exec_flags), &cfg);
	return rc;
}

static void exec_init_handles(struct exec *ex)
{
	uv_timer_init(ex->loop, &ex->kill_timer);
	uv_timer_init(ex->loop, &ex->stage_timer);
	uv_timer_init(ex->loop, &ex->ack_timer);
	uv_timer_init(ex->loop, &ex->disconnect_timer);
	uv_timer_init(ex->loop, &ex->retry_timer);
	uv_timer_init(ex->loop, &ex->exit_timer);
	health_check_init(&ex->health);
	uv_signal_init(ex->loop, &ex->sigterm);
	uv_signal_init(ex->loop, &ex->sigint);
	ex->sigterm.data = ex;
	ex->sigint.data = ex;
	uv_signal_start(&ex->sigterm, exec_signal_cb, SIGTERM);
	uv_signal_start(&ex->sigint, exec_signal_cb, SIGINT);
	/* Before any child exists, so that no exit is missed. */
	uv_signal_init(ex->loop, &ex->sigchld);
	ex->sigchld.data = ex;
	uv_signal_start(&ex->sigchld, exec_sigchld_cb, SIGCHLD);
	ex->status_fd = -1;
	ex->fetch_fd = -1;
}

/*
 * Reads what the agent says about isolation and the fetcher:
 * ATOLL_TASK_ISOLATION (a comma list: namespaces/pid, filesystem/linux;
 * other items are logged and ignored), ATOLL_FETCHER_CACHE_DIR,
 * ATOLL_FETCHER_CACHE_SIZE (bytes; 0 or bad = the fetcher's default).
 */
static void exec_isolation_parse(struct exec_isolation *iso,
                                 const char *const *envp)
{
	const char *v = env_lookup(envp, "ATOLL_TASK_ISOLATION");
	const char *size = env_lookup(envp, "ATOLL_FETCHER_CACHE_SIZE");
	const char *dir = env_lookup(envp, "ATOLL_FETCHER_CACHE_DIR");

	memset(iso, 0, sizeof(*iso));
	while (v && *v) {
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);

		if (len == 14 && !strncmp(v, "namespaces/pid", len))
			iso->pid_ns = true;
		else if (len == 16 && !strncmp(v, "filesystem/linux", len))
			iso->private_tmp = true;
		else if (len)
			log_warn(EXEC_LOG,
			         "isolator='%.*s' unknown to the command "
			         "executor; ignored",
			         (int)len, v);
		v = comma ? comma + 1 : NULL;
	}
	if (dir && *dir)
		iso->cache_dir = xstrdup(dir);
	if (size && *size) {
		char *end;
		errno = 0;
		iso->cache_bytes = strtoull(size, &end, 10);
		if (errno || *end)
			iso->cache_bytes = 0;
	}
}

int executor_main(int argc, char **argv)
{
	struct subscriber_opts so = {0};
	struct exec ex = {0};
	struct err e = {{0}};
	const char *endpoints[1];
	uv_loop_t loop;
	int rc;

	rc = exec_parse_flags(argc, argv);
	if (rc)
		return rc == 1 ? 0 : 2;
	if (executor_env_parse(&ex.env, (const char *const *)environ, &e)) {
		fprintf(stderr, "atoll executor: %s\n", e.msg);
		executor_env_release(&ex.env);
		return 2;
	}
	uv_loop_init(&loop);
	ex.loop = &loop;
	list_init(&ex.pending);
	task_info_init(&ex.task);
	exec_init_handles(&ex);
	exec_isolation_parse(&ex.iso, (const char *const *)environ);

	endpoints[0] = ex.env.agent_endpoint;
	so.endpoints = endpoints;
	so.nendpoints = 1;
	so.path = EXEC_PATH;
	so.build_subscribe = exec_build_subscribe;
	so.on_event = exec_on_event;
	so.on_disconnected = exec_on_disconnected;
	so.heartbeat_timeout = EXEC_HEARTBEAT_TIMEOUT;
	so.backoff_max = ex.env.backoff_max > 0 ? ex.env.backoff_max : 0;
	so.call_timeout_ms = EXEC_CALL_TIMEOUT_MS;
	ex.sub = subscriber_new(&loop, &so, &ex);
	log_info(EXEC_LOG,
	         "executor_id=%s framework_id=%s agent=%s "
	         "checkpoint=%d sandbox=%s starting",
	         ex.env.executor_id, ex.env.framework_id, ex.env.agent_endpoint,
	         ex.env.checkpoint, ex.env.sandbox ? ex.env.sandbox : ".");
	subscriber_start(ex.sub);
	/* Returns once exec_exit_cb() freed the subscriber and closed every
	 * handle. */
	uv_run(&loop, UV_RUN_DEFAULT);
	BUG_ON(ex.sub);
	while (!list_empty(&ex.pending)) {
		struct pending_update *p =
		    list_first(&ex.pending, struct pending_update, link);
		list_del(&p->link);
		pending_free(p);
	}
	task_info_release(&ex.task);
	task_user_release(&ex.user);
	json_decref(ex.uris);
	free(ex.fetch_sandbox);
	free(ex.iso.cache_dir);
	health_check_release(&ex.health);
	free(ex.health_kill_msg);
	free(ex.task_json);
	if (uv_loop_close(&loop))
		log_warn(EXEC_LOG, "loop closed with handles still open");
	rc = ex.exit_code;
	executor_env_release(&ex.env);
	return rc;
}
