/*
 * atoll/scheduler.h: the C scheduler library. A framework written with it
 * speaks the Mesos v1 scheduler HTTP API (JSON) to an Atoll or Mesos master.
 *
 * The library subscribes, dispatches events to typed callbacks, reconnects
 * with backoff (resubscribing with the framework id it was given, so tasks
 * survive within failover_timeout), follows the leader (307 redirects, or
 * ZooKeeper with a zk:// master address), and can acknowledge
 * status updates automatically. It runs on the caller's libuv loop; every
 * callback runs on that loop. Wire objects (offers, statuses, task infos)
 * are jansson values in the Mesos JSON mapping.
 *
 * Ownership: functions taking json_t * with "_take" semantics (documented
 * per call) steal the reference; event arguments are borrowed for the
 * duration of the callback.
 *
 * Threads: none. Every function must be called on the loop's thread, and
 * the object must not be freed from inside one of its own callbacks (stop
 * it there, free it after the callback returned, e.g. from a timer or once
 * uv_run() returns). atoll_scheduler_free() closes libuv handles: run the
 * loop once more afterwards so their memory is released.
 *
 * Reconnection: after any stream failure the library resubscribes with
 * the framework id it holds (from the last SUBSCRIBED, or framework_info
 * "id"), so a framework with a failover_timeout keeps its tasks. After
 * TEARDOWN has been sent it never reconnects.
 */
#ifndef ATOLL_SCHEDULER_H
#define ATOLL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

struct atoll_scheduler;

struct atoll_scheduler_callbacks {
	/* SUBSCRIBED: the framework id (new or the resubscribed one). */
	void (*subscribed)(struct atoll_scheduler *s, const char *framework_id,
	                   double heartbeat_interval_seconds, void *arg);
	/* OFFERS: offers is the array event.offers.offers. */
	void (*offers)(struct atoll_scheduler *s, json_t *offers, void *arg);
	void (*rescind)(struct atoll_scheduler *s, const char *offer_id,
	                void *arg);
	/* UPDATE: status is event.update.status. With auto_acknowledge the
	 * library acknowledges after this returns (when a uuid is present). */
	void (*update)(struct atoll_scheduler *s, json_t *status, void *arg);
	void (*message)(struct atoll_scheduler *s, const char *agent_id,
	                const char *executor_id, const char *data_base64,
	                void *arg);
	/* FAILURE: executor_id NULL for an agent failure; status -1 unset. */
	void (*failure)(struct atoll_scheduler *s, const char *agent_id,
	                const char *executor_id, int status, void *arg);
	/* ERROR event, or a refused SUBSCRIBE (message says why). */
	void (*error)(struct atoll_scheduler *s, const char *message,
	              void *arg);
	/* The stream broke; the library is reconnecting. */
	void (*disconnected)(struct atoll_scheduler *s, void *arg);
	void (*heartbeat)(struct atoll_scheduler *s, void *arg);
};

struct atoll_scheduler_opts {
	/*
	 * "host:port", several comma-separated, "http://host:port", or
	 * "zk://host:port[,host:port...]/path": the leading master is read
	 * from ZooKeeper (Mesos's json.info_ znodes) and followed when a new
	 * one is elected.
	 */
	const char *master;
	/* FrameworkInfo as JSON text; "id" set = resubscribe (failover). */
	const char *framework_info;
	bool auto_acknowledge;
	/* Stop retrying after the master refused SUBSCRIBE with a 4xx. */
	bool stop_on_refusal;
};

/* Returns NULL with *why set (static text) on bad options. */
struct atoll_scheduler *
atoll_scheduler_new(uv_loop_t *loop, const struct atoll_scheduler_opts *opts,
                    const struct atoll_scheduler_callbacks *cb, void *arg,
                    const char **why);
void atoll_scheduler_start(struct atoll_scheduler *s);
/*
 * Closes the stream without TEARDOWN (the framework fails over); start()
 * resubscribes. The keep-alive connection used for calls stays open, so
 * the loop stays alive until free().
 */
void atoll_scheduler_stop(struct atoll_scheduler *s);
/* Stops and releases everything; pending calls' done callbacks never run.
 * Not from inside one of s's callbacks; run the loop afterwards so the
 * handles' memory is released. */
void atoll_scheduler_free(struct atoll_scheduler *s);
/* NULL before the first SUBSCRIBED. */
const char *atoll_scheduler_framework_id(const struct atoll_scheduler *s);
bool atoll_scheduler_is_subscribed(const struct atoll_scheduler *s);

/*
 * Completion of a call: the HTTP status (202/200 on success, 0 when no
 * answer came) and the body (error text for 4xx/5xx).
 */
typedef void atoll_call_done_fn(int http_status, const char *body, void *arg);

/*
 * Sends {"framework_id":..., "type": type, "<type lowercased>": payload}.
 * payload is taken (may be NULL). done may be NULL. Returns 0, or -ENOTCONN
 * when not subscribed (nothing sent).
 */
int atoll_scheduler_call(struct atoll_scheduler *s, const char *type,
                         json_t *payload, atoll_call_done_fn *done, void *arg);

/*
 * Conveniences over atoll_scheduler_call(); json arguments are taken (also
 * on error). A refuse_seconds < 0 leaves filters unset (the master's
 * default, 5 s in Mesos).
 */
int atoll_scheduler_accept(struct atoll_scheduler *s,
                           const char *const *offer_ids, size_t n,
                           json_t *operations, double refuse_seconds);
/* ACCEPT of one offer with one LAUNCH of task_infos (an array). */
int atoll_scheduler_launch(struct atoll_scheduler *s, const char *offer_id,
                           json_t *task_infos, double refuse_seconds);
int atoll_scheduler_decline(struct atoll_scheduler *s,
                            const char *const *offer_ids, size_t n,
                            double refuse_seconds);
int atoll_scheduler_acknowledge(struct atoll_scheduler *s, const char *agent_id,
                                const char *task_id, const char *uuid_base64);
/* agent_id may be NULL. */
int atoll_scheduler_kill(struct atoll_scheduler *s, const char *task_id,
                         const char *agent_id);
/* tasks: array of {"task_id":{..},"agent_id":{..}}; NULL = implicit. */
int atoll_scheduler_reconcile(struct atoll_scheduler *s, json_t *tasks);
/* roles may be NULL with n == 0: every role of the framework. */
int atoll_scheduler_revive(struct atoll_scheduler *s, const char *const *roles,
                           size_t n);
int atoll_scheduler_suppress(struct atoll_scheduler *s,
                             const char *const *roles, size_t n);
/* TEARDOWN; afterwards the library stops reconnecting. Same as
 * atoll_scheduler_call(s, "TEARDOWN", NULL, NULL, NULL). */
int atoll_scheduler_teardown(struct atoll_scheduler *s);

/*
 * Feeds one event (a decoded Event object) through the dispatcher as if it
 * had arrived on the stream: for tests, and for replaying recorded events.
 * The event is borrowed.
 */
void atoll_scheduler_handle_event(struct atoll_scheduler *s, json_t *event);

/* ---- pure helpers (no I/O), exposed for tests and custom clients ---- */

/*
 * Builds the text of a call: {"framework_id":{"value":framework_id},
 * "type":type,"<type lowercased>":payload}. framework_id may be NULL
 * (omitted), payload may be NULL (omitted) and is taken in every case.
 * type must be non-empty [A-Z0-9_]. Returns a heap string (caller frees)
 * with its length in *len, or NULL for a bad type.
 */
char *atoll_call_build(const char *framework_id, const char *type,
                       json_t *payload, size_t *len);
/*
 * Builds the SUBSCRIBE call for framework_info (a JSON object, borrowed).
 * With framework_id (a resubscription) both the top-level framework_id and
 * framework_info.id are set to it. Returns a heap string (caller frees)
 * with its length in *len, or NULL when framework_info is not an object.
 */
char *atoll_subscribe_build(const json_t *framework_info,
                            const char *framework_id, size_t *len);

#endif
