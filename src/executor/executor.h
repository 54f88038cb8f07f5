/*
 * executor.h: the command executor, `atoll executor`, started by the agent
 * once per command task. It speaks the Mesos v1 executor API to the agent
 * (MESOS_AGENT_ENDPOINT) and supervises one task.
 *
 * Below executor_main() are the executor's pure helpers (no I/O, no clock),
 * exposed for unit tests.
 */
#ifndef ATOLL_EXECUTOR_H
#define ATOLL_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model/mesos.h"

struct buf;
struct err;

int executor_main(int argc, char **argv);

/* What the agent tells the executor through its environment. */
struct executor_env {
	char *framework_id;   /* MESOS_FRAMEWORK_ID (required) */
	char *executor_id;    /* MESOS_EXECUTOR_ID (required) */
	char *agent_endpoint; /* MESOS_AGENT_ENDPOINT, "ip:port" (required) */
	char *sandbox;   /* MESOS_SANDBOX, else MESOS_DIRECTORY; NULL = cwd */
	bool checkpoint; /* MESOS_CHECKPOINT "1"/"true" */
	double shutdown_grace;   /* MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, 5 s */
	double recovery_timeout; /* MESOS_RECOVERY_TIMEOUT, 15 mins */
	double backoff_max;      /* MESOS_SUBSCRIPTION_BACKOFF_MAX, 2 s */
};

/*
 * Reads the executor's settings from envp (a NULL-terminated "NAME=value"
 * array, e.g. environ). Durations take Mesos's units ("5secs", "15mins").
 * Returns 0, or -EINVAL with e naming the variable and the problem; env is
 * filled either way and must be released.
 */
int executor_env_parse(struct executor_env *env, const char *const *envp,
                       struct err *e);
void executor_env_release(struct executor_env *env);

/*
 * The program and argv for a command: shell=true gives /bin/sh -c value;
 * shell=false runs value with arguments as argv (argv[0] = arguments[0],
 * as Mesos does), or with argv = {value} when there are no arguments.
 * Returns a NULL-terminated heap array of borrowed strings (free() it);
 * *file is the program to execute.
 */
const char **executor_task_argv(const struct command_info *cmd,
                                const char **file);

/*
 * The task's environment: base (the executor's own, NULL-terminated) with
 * the CommandInfo.environment variables added, replacing same-named ones,
 * and MESOS_TASK_ID=task_id unless the command sets it. Entries of base
 * without '=' are dropped. Returns a NULL-terminated heap array of heap
 * strings; free it with executor_strv_free().
 */
char **executor_task_env(const char *const *base,
                         const struct command_info *cmd, const char *task_id);
void executor_strv_free(char **v);

/*
 * The terminal state for a task process that ended with exit_status or,
 * when term_signal != 0, by that signal: FINISHED for status 0, FAILED
 * otherwise, KILLED whenever a kill was requested. msg receives the human
 * text ("Command exited with status 3", "Command terminated with signal
 * Killed").
 */
enum task_state executor_exit_state(int64_t exit_status, int term_signal,
                                    bool kill_requested, char *msg,
                                    size_t msgsz);

/*
 * Grace period in seconds before SIGKILL: kill_policy.grace_period.
 * nanoseconds from a KILL event when present and valid (an integer or a
 * decimal string, >= 0), else task_grace when >= 0 (TaskInfo.kill_policy),
 * else fallback. kill_policy may be NULL.
 */
double executor_kill_grace(const json_t *kill_policy, double task_grace,
                           double fallback);

/*
 * Appends the SUBSCRIBE call: task_json (compact TaskInfo, or NULL) goes
 * into unacknowledged_tasks, each of the n TaskStatus texts in updates
 * into unacknowledged_updates as {"status": ...}.
 */
void executor_subscribe_body(struct buf *out, const char *framework_id,
                             const char *executor_id, const char *task_json,
                             const char *const *updates, size_t n);
/* Appends the UPDATE call carrying status_json (a TaskStatus text). */
void executor_update_body(struct buf *out, const char *framework_id,
                          const char *executor_id, const char *status_json);

#endif
