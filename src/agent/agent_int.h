/*
 * agent_int.h: the agent's private state, shared by its modules:
 *   agent.c          lifecycle, main, the master connection and its events
 *   agent_config.c   the flag table, defaults, resource detection
 *   agent_exec.c     frameworks, executors and tasks: launch, kill,
 *                    shutdown, executor exit, registration timeouts
 *   agent_updates.c  routing of status updates: record, send the head,
 *                    retry with backoff, acknowledgements
 *   agent_http.c     /health /version /state /flags, POST /api/v1/executor
 *   agent_operator.c POST /api/v1 (operator), /files/..., /monitor/...
 *   launcher.c       sandboxes, spawning executors, signals, pid liveness,
 *                    the isolation choice (posix or cgroups)
 *   cgroups.c        control groups of containers (cgroups.h; pure parts)
 *   checkpoint.c     work-dir/meta: atomic files, journals, recovery
 *   update_stream.c  one task's update stream (pure; update_stream.h)
 *   disk.c           disk/du: sandbox usage against the disk limit
 *                    (disk.h; pure and blocking parts)
 *   gc.c             garbage collection of sandboxes (gc.h)
 *
 * Ownership: the agent owns frameworks; a framework owns its executors (a
 * live one in the executors map, a terminated one with unacknowledged
 * tasks in dead_executors) and its tasks (tasks map). A task also sits on
 * its executor's task list; a "phantom" task (an update for a task this
 * agent never ran, e.g. TASK_LOST for a kill of an unknown task) has no
 * executor. A task lives until its update stream is done (terminal update
 * acknowledged), then leaves a small record in agent->completed. An
 * executor is freed once it has terminated and has no tasks left; a
 * framework once it has neither executors nor tasks.
 *
 * libuv handles (timers, processes) are heap objects closed with
 * agent_handle_drop(), freed in their close callback. HTTP streams belong
 * to the HTTP layer; an executor only keeps the pointer while its stream is
 * open, and the stream's close callback finds the executor again by ids,
 * never by pointer.
 */
#ifndef ATOLL_AGENT_INT_H
#define ATOLL_AGENT_INT_H

#include "lib/compat.h"

#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/cgroups.h"
#include "agent/gc.h"
#include "agent/update_stream.h"
#include "lib/buf.h"
#include "lib/hmap.h"
#include "lib/http.h"
#include "lib/ids.h"
#include "lib/list.h"
#include "model/mesos.h"
#include "model/resources.h"

struct err;
struct jsonw;
struct subscriber;

#define AGENT_LOG "agent"
#define AGENT_EXECUTOR_API "/api/v1/executor"
#define AGENT_MASTER_API "/api/v1/agent"
/* HEARTBEAT events on executor streams. */
#define AGENT_EXECUTOR_HEARTBEAT_MS 30000
/* How often executors adopted after a restart are checked for liveness. */
#define AGENT_REAP_INTERVAL_MS 1000
/* Unacknowledged updates one task may pile up (master away, a chatty
 * executor); beyond it non-terminal updates are refused (503, retried). */
#define AGENT_MAX_PENDING_UPDATES 1000

/* ---- configuration (agent_config.c) ----------------------------------- */

struct agent_config {
	char *ip;
	long port;
	char *master;
	char *work_dir;
	char *resources;
	char *attributes;
	char *hostname;
	char *port_file;
	char *log_level;
	char *recover; /* "reconnect" or "cleanup" */
	bool strict;
	double executor_registration_timeout;
	double executor_reregistration_timeout;
	double executor_shutdown_grace_period;
	double recovery_timeout;
	double status_update_retry_interval;     /* first retry delay */
	double status_update_retry_interval_max; /* cap of the doubling */
	uint64_t max_body_bytes;
	double http_idle_timeout;
	long max_completed_tasks;
	char *isolation;    /* see agent_isolation_parse; NULL = automatic */
	char *cgroups_root; /* the containers' parent cgroup */
	bool cgroups_enable_cfs;
	long cgroups_pids_max;       /* pids.max of a container, 0 = none */
	bool allow_root_tasks;       /* tasks may run as uid 0 */
	char *fetcher_cache_dir;     /* NULL = <work dir>/fetcher-cache */
	uint64_t fetcher_cache_size; /* bytes */
	/* Sandbox garbage collection (gc.c), Mesos's flags. */
	double gc_delay;            /* a sandbox's age at the latest */
	double gc_disk_headroom;    /* 0..1, see gc_max_age */
	double disk_watch_interval; /* between collection passes */
	/* disk/du (disk.c). */
	double container_disk_watch_interval;
	bool enforce_container_disk_quota; /* false: usage reported only */
};

/* How containers are isolated, from --isolation. */
enum agent_cgroups_mode {
	AGENT_CGROUPS_AUTO, /* cgroups when usable and root, else posix */
	AGENT_CGROUPS_OFF,  /* posix: no cgroups */
	AGENT_CGROUPS_ON,   /* cgroups, or no task runs */
};

struct agent_isolation {
	enum agent_cgroups_mode cgroups;
	bool pid_ns;      /* namespaces/pid: the task is pid 1 of its own */
	bool private_tmp; /* filesystem/linux: mount namespace, /tmp private */
	bool disk;        /* disk/du: sandbox usage measured (disk.c) */
};

/*
 * Parses --isolation: NULL (automatic), "posix", "cgroups", or a comma
 * list of Mesos isolator names: cgroups/cpu, cgroups/mem, cgroups/pids,
 * cgroups/all (any of them turns on all of Atoll's controllers, which
 * are managed together), posix/cpu, posix/mem, posix/disk,
 * filesystem/posix (no cgroups), namespaces/pid, filesystem/linux; the
 * words posix and cgroups may be list items too. Without a cgroups or
 * posix item the cgroups choice stays automatic. disk/du (alias
 * posix/disk) measures sandboxes; it is on when text is NULL or names no
 * Mesos isolator (only the words posix and cgroups), else only when
 * listed. Returns 0, or -EINVAL
 * with e naming the flag and the item (unknown, empty, or posix and
 * cgroups together).
 */
int agent_isolation_parse(const char *text, struct agent_isolation *out,
                          struct err *e) MUST_CHECK;
/*
 * The value of ATOLL_TASK_ISOLATION given to command executors: the
 * isolators they implement ("namespaces/pid", "filesystem/linux"),
 * comma-separated, or "" for none. Returns a heap string.
 */
char *agent_isolation_executor_env(const struct agent_isolation *iso);

/* Facts about the machine used to fill in resources not given by flag. */
struct agent_machine {
	long cpus;           /* online cores */
	uint64_t mem_bytes;  /* total memory */
	uint64_t disk_bytes; /* free space of the work dir's filesystem */
};

/*
 * Parses argv into cfg with the agent's flag table (defaults applied
 * first). Returns 0, 1 when --help was printed, or -EINVAL with e naming
 * the flag. On success every value is validated (see agent_config_check).
 */
int agent_config_parse(struct agent_config *cfg, int argc, char **argv,
                       struct err *e) MUST_CHECK;
/* Checks values the table cannot: --master present and well formed,
 * --recover known, --port-file not empty. */
int agent_config_check(const struct agent_config *cfg,
                       struct err *e) MUST_CHECK;
void agent_config_release(struct agent_config *cfg);
void agent_config_usage(FILE *out);
/* Writes the flags as {"name": "value"} (as_list false) or GET_FLAGS'
 * [{"name", "value"}] (as_list true). */
void agent_config_write(const struct agent_config *cfg, struct jsonw *w,
                        bool as_list);

/*
 * The default work directory: /var/lib/atoll/agent for root, else
 * <home>/.atoll/agent, else ./.atoll/agent when home is NULL or empty.
 * Returns a heap string.
 */
char *agent_default_work_dir(uid_t euid, const char *home);

/*
 * Splits --master ("host:port", "http://host:port", comma-separated list)
 * into heap "host:port" strings. Returns 0 or -EINVAL with e set (empty
 * item, missing or bad port). A zk:// URL is validated and returned as
 * the only item (the subscriber follows the leader it names); inside a
 * list it is refused.
 */
int agent_parse_masters(const char *text, char ***out, size_t *n,
                        struct err *e) MUST_CHECK;
void agent_strv_free(char **v, size_t n);

/*
 * Builds the agent's resources: the --resources text (may be NULL or
 * empty), then for each of cpus, mem, disk and ports that the text does
 * not mention (under any role), the detected value, as Mesos does:
 * cpus = cores; mem = total - 1 GB (half when total < 2 GB); disk = free
 * space - 5 GB (half when < 10 GB); ports = [31000-32000]. mem and disk
 * are in MB. Returns 0 or -EINVAL with e naming the problem.
 */
int agent_resources_build(struct resources *out, const char *text,
                          const struct agent_machine *m,
                          struct err *e) MUST_CHECK;
/* Reads cores, memory and the free space of work_dir's filesystem. */
int agent_machine_detect(struct agent_machine *m, const char *work_dir,
                         struct err *e) MUST_CHECK;

/* ---- state ------------------------------------------------------------ */

enum agent_executor_state {
	EXECUTOR_LAUNCHING,   /* spawned, waiting for its first SUBSCRIBE */
	EXECUTOR_RUNNING,     /* subscribed (its stream may be down) */
	EXECUTOR_TERMINATING, /* shutdown or kill sent, waiting for exit */
	EXECUTOR_TERMINATED,  /* exited; kept while tasks are unacked */
};

struct agent;
struct agent_framework;
struct agent_executor;

struct agent_task {
	struct hmap_node node;     /* in framework->tasks, key = id */
	struct list executor_link; /* in executor->tasks (self if phantom) */
	struct agent_framework *fw;
	struct agent_executor *executor; /* NULL for a phantom task */
	char *id;
	char *name;
	char *info_json; /* TaskInfo as launched; NULL for phantoms */
	struct resources resources; /* TaskInfo.resources */
	bool launched;              /* the executor knows the task */
	bool kill_requested;
	bool kill_pending;      /* KILL to deliver when the executor is back */
	char *kill_policy_json; /* of the pending kill, or NULL */
	/* The latest state and TaskStatus are the stream's latest. */
	struct update_stream stream;
	uv_timer_t *retry_timer; /* waiting for the head's ack */
	bool checkpointed;       /* task.info and journal are on disk */
};

struct agent_executor {
	struct hmap_node node; /* in framework->executors while live */
	struct list dead_link; /* in framework->dead_executors */
	struct agent_framework *fw;
	char *id;
	char container_id[IDS_UUID_STRLEN];
	char *directory; /* the sandbox */
	/* The persistent volumes mounted into the sandbox at launch (its
	 * tasks may be gone by the time it exits). */
	struct resources volumes;
	char *info_json; /* ExecutorInfo, compact */
	bool is_command; /* generated for a command task */
	enum agent_executor_state state;
	bool recovered; /* adopted after an agent restart */
	bool checkpointed;
	pid_t pid;                    /* 0 before spawn */
	unsigned long long pid_start; /* /proc start time, 0 = unknown */
	uv_process_t *proc;           /* our child; NULL if adopted/exited */
	struct http_stream *stream;   /* open SUBSCRIBE stream or NULL */
	uint64_t stream_conn;         /* which stream is current */
	struct list tasks;            /* agent_task.executor_link */
	uv_timer_t *register_timer;   /* (re)registration deadline */
	uv_timer_t *kill_timer;       /* SIGKILL after the grace period */
	enum task_reason end_reason;  /* for tasks it leaves behind */
	/* The user its tasks run as (a custom executor runs as it too);
	 * NULL = the agent's own. Resolved and checked at RUN_TASK. */
	char *user;
	uid_t uid;
	gid_t gid;
	char *end_message;            /* idem, or NULL */
	bool isolated;                /* its container has a cgroup */
	struct cgroups_limits limits; /* set on that cgroup */
	/* disk/du (disk.c): the sandbox's last measured usage. */
	bool disk_measured;
	uint64_t disk_used_bytes;
	bool disk_limited; /* killed for exceeding its disk limit */
	bool disk_warned;  /* over it without enforcement: logged once */
};

struct agent_framework {
	struct hmap_node node; /* in agent->frameworks, key = id */
	struct agent *agent;
	char *id;
	struct framework_info info;
	char *info_json;            /* FrameworkInfo with its id, compact */
	struct hmap executors;      /* live executors by id */
	struct list dead_executors; /* terminated, tasks left */
	struct hmap tasks;          /* live tasks by id */
	bool shutting_down;
	bool checkpointed; /* framework.info is on disk */
	bool info_dirty;   /* info_json changed since it was written */
};

/* What /state shows of a task once its stream is done. */
struct agent_completed_task {
	struct list link;
	char *framework_id, *executor_id, *id, *name;
	char *container_id; /* of its executor's run; "" for a phantom */
	enum task_state state;
};

struct agent {
	uv_loop_t *loop;
	struct agent_config cfg;
	struct http_server *http;
	struct subscriber *sub;
	char **masters;
	size_t nmasters;
	struct agent_info info; /* id (once known), hostname, port, ... */
	char *ip;
	char *address;  /* "ip:port" the executors reach */
	char *pid;      /* "slave(1)@ip:port" */
	char *exe_path; /* this binary, for `atoll executor` */
	char *boot_id;  /* of the running kernel, "" if unknown */
	char *meta_dir; /* work-dir/meta */
	double start_time;
	bool connected; /* SUBSCRIBED on the current master stream */
	char *master_endpoint;
	struct hmap frameworks;
	struct list completed; /* agent_completed_task, oldest first */
	size_t ncompleted;
	uint64_t next_stream_conn;
	uv_timer_t heartbeat_timer; /* executor streams */
	uv_timer_t reap_timer;      /* liveness of adopted executors */
	uv_signal_t sigint, sigterm;
	bool stopping;
	int exit_code;              /* of agent_main once the loop stops */
	struct agent_isolation iso; /* from --isolation */
	/* The master refused us with 403 (marked gone): executors are
	 * being shut down, then the agent exits 1. */
	bool gone;
	double gone_since; /* wall time of the 403 */
	uv_timer_t *gone_timer;
	/* The isolation, chosen at the first need (agent_cgroups). */
	bool isolation_chosen;
	struct cgroups cgroups; /* version CGROUPS_NONE = posix */
	struct gc gc;           /* sandboxes scheduled for removal */
	uv_timer_t *gc_timer;   /* next collection pass (gc.c) */
	uv_timer_t *disk_timer; /* next sandbox measurement (disk.c) */
	struct {
		uint64_t tasks_launched, tasks_failed;
		uint64_t executors_launched, executors_exited;
		uint64_t updates_received, updates_sent, updates_acked;
		uint64_t updates_retried, invalid_executor_calls;
	} metrics;
};

/* The latest state of a task: its newest update's, STAGING before any. */
static inline enum task_state agent_task_state(const struct agent_task *t)
{
	return t->stream.has_latest ? t->stream.latest : TASK_STAGING;
}

/* ---- agent.c ------------------------------------------------------------ */

/* Starts a one-shot heap timer calling cb with t->data = data. */
uv_timer_t *agent_timer_start(struct agent *a, void *data, uv_timer_cb cb,
                              double seconds);
/* Stops and closes a heap handle (timer or process); *h becomes NULL. */
void agent_handle_drop(uv_handle_t **h);
#define agent_timer_drop(t) agent_handle_drop((uv_handle_t **)(t))
/*
 * Sends a call (JSON body) to the master on the current stream. Returns 0,
 * or -ENOTCONN when no stream is up (nothing sent).
 */
int agent_master_call(struct agent *a, const struct buf *body) MUST_CHECK;
/* The agent id, or "" before the first registration. */
const char *agent_id(const struct agent *a);

/* ---- agent_exec.c ------------------------------------------------------- */

struct agent_framework *agent_framework_find(struct agent *a, const char *id);
/*
 * Finds or creates the framework and updates its FrameworkInfo from info
 * when info is a valid one (its "id" is forced to id). Returns NULL with e
 * set when the framework is new and info is missing or invalid.
 */
struct agent_framework *agent_framework_ensure(struct agent *a, const char *id,
                                               const json_t *info,
                                               struct err *e);
/* Frees the framework when it has neither executors nor tasks. */
void agent_framework_maybe_remove(struct agent_framework *fw);
struct agent_executor *agent_executor_find(struct agent_framework *fw,
                                           const char *id);
struct agent_task *agent_task_find(struct agent_framework *fw, const char *id);
/* Creates a task record (state STAGING) owned by fw and, unless ex is
 * NULL, on ex's task list. info may be NULL (phantom). */
struct agent_task *agent_task_new(struct agent_framework *fw,
                                  struct agent_executor *ex, const char *id,
                                  const char *name, const json_t *info);
/* Creates an executor record (state LAUNCHING, fresh container id). */
struct agent_executor *agent_executor_new(struct agent_framework *fw,
                                          const char *id, const char *info_json,
                                          bool is_command);

/* Master events. Each validates its payload and never trusts it. */
void agent_on_run_task(struct agent *a, const json_t *payload);
void agent_on_kill_task(struct agent *a, const json_t *payload);
void agent_on_shutdown_framework(struct agent *a, const json_t *payload);
void agent_on_shutdown_executor(struct agent *a, const json_t *payload);
void agent_on_framework_message(struct agent *a, const json_t *payload);

/*
 * Resolves the user a task runs as (NULL = the agent's own) into uid and
 * gid, and checks it may run here. Returns 0, or -EINVAL with e saying
 * why: the user does not exist, or it is root while the agent runs as
 * root without --allow-root-tasks. Blocks on the user database.
 */
int agent_user_check(const struct agent *a, const char *user, uid_t *uid,
                     gid_t *gid, struct err *e) MUST_CHECK;
/* True when ex has a task whose latest state is not terminal. */
bool agent_executor_has_live_tasks(const struct agent_executor *ex);
/* Sends SHUTDOWN (or SIGTERM when not subscribed), SIGKILL after grace. */
void agent_executor_shutdown(struct agent_executor *ex, const char *why);
/*
 * The executor process is gone: its unfinished tasks get a terminal update
 * (TASK_KILLED when a kill was asked, else TASK_FAILED with end_reason),
 * the master hears EXECUTOR_EXITED for custom executors, and the executor
 * is freed or kept until its tasks' updates are acknowledged. status is a
 * wait status (exit code << 8 | signal), or -1 when unknown. ex may be
 * freed on return; the framework never is: the caller then calls
 * agent_framework_maybe_remove() when it is done with it.
 */
void agent_executor_exited(struct agent_executor *ex, int status,
                           const char *how);
/* Frames event (one JSON object) and writes it to the executor's stream;
 * returns -ENOTCONN without a stream. A stream that falls too far behind
 * is ended with an ERROR event. */
int agent_executor_send(struct agent_executor *ex, const struct buf *event);
/* Delivers LAUNCH for t (queued until the executor subscribes). */
void agent_task_deliver(struct agent_task *t);
/* Delivers KILL for t (remembered until the executor is back). */
void agent_task_deliver_kill(struct agent_task *t);
/* The task's stream is done: record it as completed and free it. */
void agent_task_complete(struct agent_task *t);
/* Frees a completed-task record (unlinked by the caller). */
void agent_completed_free(struct agent_completed_task *c);
/* Frees a task without any update (framework shutdown, teardown). */
void agent_task_free(struct agent_task *t);
/* Frees an executor with no tasks (closing its handles). */
void agent_executor_free(struct agent_executor *ex);
/* Called by the liveness timer for adopted executors. */
void agent_reap_adopted(struct agent *a);
/* Arms the registration (or reregistration) deadline of ex. */
void agent_executor_arm_registration(struct agent_executor *ex, double seconds);
/*
 * When the container of t's executor was killed for exceeding its disk
 * limit (disk.c), or hit its memory limit (its OOM kill count is not
 * zero), and status_json, a terminal update for t, does not say so yet:
 * returns a copy (heap; same uuid) turned into TASK_FAILED from
 * SOURCE_AGENT with REASON_CONTAINER_LIMITATION_DISK or _MEMORY and a
 * message, and sets *state. Else NULL.
 */
char *agent_task_limitation(struct agent_task *t, const char *status_json,
                            enum task_state *state);

/* ---- agent_updates.c ---------------------------------------------------- */

/*
 * Accepts an update for t: records it (journal + fsync when the task is
 * checkpointed), appends it to the stream, updates the latest state, and
 * sends it when it is the new head. Returns 0, -EEXIST for a duplicate
 * (already safe), -EALREADY after a terminal update (dropped), -ENOSPC for
 * a non-terminal update when AGENT_MAX_PENDING_UPDATES are pending, or a
 * negative errno when it could not be recorded (nothing changed). A
 * terminal update of a container that hit its memory limit is recorded
 * as that limitation (agent_task_limitation).
 */
int agent_update_accept(struct agent_task *t, const char *status_json,
                        const uint8_t uuid[IDS_UUID_LEN],
                        enum task_state state) MUST_CHECK;
/*
 * Generates an update from the agent (SOURCE_AGENT, fresh uuid) and
 * accepts it. Logs and drops it when it cannot be recorded.
 */
void agent_update_generate(struct agent_task *t, enum task_state state,
                           enum task_reason reason, const char *message);
/* Sends the head of t's stream to the master now (if connected). */
void agent_update_send_head(struct agent_task *t);
/* The master's ACKNOWLEDGE event. */
void agent_on_acknowledge(struct agent *a, const json_t *payload);
/* After (re)registration: send every stream's head afresh. */
void agent_updates_resend_all(struct agent *a);
/* The state to report for a task that lost its executor. */
enum task_state agent_lost_state(const struct agent_framework *fw);

/* ---- agent_http.c ------------------------------------------------------- */

void agent_http_handler(struct http_request *req, void *arg);
/* True for GET or HEAD; else responds 405 (Allow: GET) and is false. */
bool agent_http_is_get(struct http_request *req);

/* ---- agent_operator.c --------------------------------------------------- */

/* POST /api/v1: the v1 operator API of the agent; always responds. */
void agent_operator_api(struct agent *a, struct http_request *req);
/*
 * The classic operator endpoints: /files/browse, /files/read,
 * /files/download (?path= confined to sandboxes), /monitor/statistics,
 * /metrics/snapshot. Returns false, without responding, when req's path is
 * none of them.
 */
bool agent_operator_endpoint(struct agent *a, struct http_request *req);

/* ---- launcher.c --------------------------------------------------------- */

/* work-dir/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<cid> */
char *agent_sandbox_path(const struct agent *a, const char *fid,
                         const char *eid, const char *cid);
/*
 * Creates ex's sandbox (and the runs/latest symlink) and spawns the
 * executor: `<this binary> executor` for a command executor, else cmd (the
 * ExecutorInfo's command). Sets ex->pid and ex->proc. Returns 0 or a
 * negative errno with e set.
 */
int agent_launch_executor(struct agent_executor *ex,
                          const struct command_info *cmd,
                          struct err *e) MUST_CHECK;
/* SIGTERM to the executor process only (it shuts its task down). */
void agent_executor_signal_term(struct agent_executor *ex);
/* SIGKILL to every process of the executor's session (its container). */
void agent_executor_kill_all(struct agent_executor *ex);
/* Unmounts the persistent volumes of the executor's tasks from its
 * sandbox (once it has exited; before anything removes the sandbox). */
void agent_executor_unmount_volumes(struct agent_executor *ex);
/* The start time of pid from /proc (clock ticks since boot); 0 if gone. */
unsigned long long agent_pid_start_time(pid_t pid);
/* pid exists and, when start != 0, started at start (not reused). */
bool agent_pid_is_alive(pid_t pid, unsigned long long start);
/* Sends sig to every process whose session id is sid. Returns how many. */
int agent_signal_session(pid_t sid, int sig);
/*
 * The cgroups containers run in, or NULL with the posix isolation. The
 * first call chooses (--isolation; automatic: cgroups when usable and
 * root), logs the choice and removes container cgroups under the root
 * that no live executor owns.
 */
const struct cgroups *agent_cgroups(struct agent *a);
/* The cgroups of ex's container, or NULL when it has none (posix, or an
 * adopted executor started without one). */
const struct cgroups *agent_executor_cgroups(struct agent_executor *ex);
/* Kills what is left in ex's container and removes its cgroup. */
void agent_executor_cgroup_destroy(struct agent_executor *ex);

/* ---- disk.c ------------------------------------------------------------- */

/* Arms the periodic measurement of live sandboxes (every
 * --container-disk-watch-interval) when disk/du is on. */
void agent_disk_start(struct agent *a);
/* Stops it; a measurement in flight finishes and is dropped. */
void agent_disk_stop(struct agent *a);
/* The sandbox disk limit of ex in bytes (its live tasks' disk that is
 * not a persistent volume); 0 = none. */
uint64_t agent_executor_disk_limit(const struct agent_executor *ex);

/* ---- gc.c --------------------------------------------------------------- */

/* Lists the sandboxes left by earlier runs (off the loop), schedules the
 * ones no executor owns, then runs a collection pass every
 * --disk-watch-interval. Call after recovery. */
void agent_gc_start(struct agent *a);
/* Stops the passes; a job in flight finishes and is dropped. */
void agent_gc_stop(struct agent *a);
/* Schedules the sandbox of ex, a terminated executor being freed, for
 * removal after --gc-delay (sooner as the disk fills). */
void agent_gc_schedule(struct agent *a, const struct agent_executor *ex);

/* ---- checkpoint.c ------------------------------------------------------- */

/* Creates path and its parents (mode 0755). Returns 0 or -errno. */
int agent_mkdirs(const char *path) MUST_CHECK;
/* Writes data to path atomically: temp file, fsync, rename, fsync(dir). */
int agent_write_file_atomic(const char *path, const void *data, size_t len,
                            struct err *e) MUST_CHECK;
/* Reads a whole file into out. Returns 0 or -errno. */
int agent_read_file(const char *path, struct buf *out) MUST_CHECK;
/* Removes path recursively (no error when absent). */
void agent_remove_tree(const char *path);

/* Persists the agent id (work-dir/meta/agent_id) / loads it (NULL). */
int agent_ckpt_save_id(struct agent *a, struct err *e) MUST_CHECK;
char *agent_ckpt_load_id(struct agent *a);
/* meta/slaves/<agent>/frameworks/<fw>[/executors/<ex>[/runs/<cid>]] */
char *agent_ckpt_framework_dir(const struct agent *a, const char *fid);
char *agent_ckpt_run_dir(const struct agent_executor *ex);
/* Writes framework.info / executor.info (+ pid) / task.info. */
int agent_ckpt_framework(struct agent_framework *fw, struct err *e) MUST_CHECK;
int agent_ckpt_executor(struct agent_executor *ex, struct err *e) MUST_CHECK;
int agent_ckpt_task(struct agent_task *t, struct err *e) MUST_CHECK;
/* Appends text to t's journal and fsyncs it. */
int agent_ckpt_append(struct agent_task *t, const struct buf *text,
                      struct err *e) MUST_CHECK;
/* Removes the on-disk state of an executor run / a framework. */
void agent_ckpt_remove_run(struct agent_executor *ex);
void agent_ckpt_remove_framework(struct agent_framework *fw);
/*
 * Rebuilds frameworks, executors and tasks from work-dir/meta (checkpointed
 * frameworks only). Executors whose process is alive are adopted and wait
 * for their resubscription; the others are treated as exited. Returns 0,
 * or -EINVAL with e set for damaged state when --strict (without --strict
 * damaged items are logged and skipped).
 */
int agent_recover(struct agent *a, struct err *e) MUST_CHECK;

#endif
