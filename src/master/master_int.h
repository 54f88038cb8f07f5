/*
 * master_int.h: the master's private state, shared by its modules:
 *   master.c     lifecycle, flags, timers, allocation glue, offers,
 *                frameworks and agents coming and going
 *   sched_api.c  POST /api/v1/scheduler (the Mesos v1 scheduler API)
 *   agent_api.c  POST /api/v1/agent (Atoll's agent protocol)
 *   endpoints.c  /health /version /state /metrics/snapshot /flags ...
 *   events.c     building and sending events on subscriber streams
 *
 * Ownership: the master owns frameworks, agents, tasks and offers. A task
 * is reachable from its framework (tasks map, by task id) and its agent
 * (tasks list). An offer is reachable from the offers map and from both its
 * framework's and its agent's offer lists. Streams belong to the HTTP layer;
 * the master only keeps a pointer while the stream is open and drops it in
 * the stream's close callback.
 */
#ifndef ATOLL_MASTER_INT_H
#define ATOLL_MASTER_INT_H

#include "lib/compat.h"

#include <jansson.h>
#include <uv.h>

#include "alloc/alloc.h"
#include "lib/buf.h"
#include "lib/hmap.h"
#include "lib/http.h"
#include "lib/ids.h"
#include "lib/list.h"
#include "master/master.h"
#include "model/mesos.h"
#include "model/resources.h"

struct jsonw;
struct leader_contender;
struct leader_detector;
struct leader_info;

struct master_config {
	char *ip;
	long port;
	char *hostname;
	char *work_dir;
	char *port_file;
	char *log_level;
	double allocation_interval;
	double offer_timeout; /* 0 = offers never expire */
	double heartbeat_interval;
	double agent_ping_timeout;
	long max_agent_ping_timeouts;
	uint64_t max_body_bytes;
	uint64_t max_stream_queue_bytes;
	double idle_timeout;
	long max_connections;
	long max_completed_frameworks;
	long max_completed_tasks_per_framework;
	double default_refuse_seconds;
	char *registry; /* "sqlite" (needs --work-dir) or "in_memory" */
	double agent_reregister_timeout;
	char *agent_removal_rate_limit; /* "N/DURATION", NULL = none */
	double registry_max_agent_age;
	long registry_max_agent_count;
	/* high availability: "zk://hosts/path" (NULL = a single master),
	 * the ZooKeeper session timeout, and Mesos's --quorum (validated
	 * and reported; the registry lives in ZooKeeper, not in a
	 * replicated log) */
	char *zk;
	double zk_session_timeout;
	long quorum;
};

struct master_framework;
struct master_agent;

struct master_task {
	struct hmap_node node;      /* in framework->tasks, key = id */
	struct list agent_link;     /* in agent->tasks */
	struct list completed_link; /* in framework->completed */
	char *id;
	char *name;
	char *executor_id;    /* the command executor's is the task id */
	bool custom_executor; /* launched with TaskInfo.executor */
	struct master_framework *framework;
	struct master_agent *agent; /* NULL once the agent is removed */
	enum task_state state;      /* latest state known to the master */
	struct task_status status;  /* the latest status seen */
	bool has_status;
	struct resources resources;
	bool resources_released; /* given back to the allocator */
	char *info_json;         /* TaskInfo as launched (compact) */
	double staged_time;
	/* uuid of the terminal update forwarded to the framework, acked to
	 * complete the task */
	bool terminal_uuid_set;
	uint8_t terminal_uuid[IDS_UUID_LEN];
	/* a kill asked while the agent was away, sent when it comes back */
	bool kill_pending;
	char *kill_policy_json; /* NULL = the task's own policy */
	/* TASK_UNREACHABLE of a partition-aware framework: the id of the
	 * unreachable agent it ran on (agent is NULL meanwhile); the task is
	 * reattached if that agent comes back reporting it */
	char *unreachable_agent;
};

struct master_offer {
	struct hmap_node node; /* in master->offers */
	struct list framework_link;
	struct list agent_link;
	char *id;
	struct master_framework *framework;
	struct master_agent *agent;
	char *role;
	struct resources resources;
	uint64_t created_ms;
};

struct master_framework {
	struct hmap_node node; /* in master->frameworks or ->completed */
	struct master *master;
	char *id;
	struct framework_info info;
	struct http_stream *stream; /* NULL when disconnected */
	char stream_id[IDS_UUID_STRLEN];
	bool active;    /* connected and not torn down */
	bool recovered; /* known from an agent, not yet resubscribed */
	bool removed;   /* torn down; in the completed list */
	double registered_time, reregistered_time, unregistered_time;
	struct hmap tasks;     /* id -> master_task, live or terminal-unacked */
	struct list completed; /* master_task, bounded */
	size_t ncompleted;
	struct list offers;
	uv_timer_t *failover_timer; /* running while disconnected */
	struct list completed_link; /* in master->completed_frameworks */
};

struct master_agent {
	struct hmap_node node; /* in master->agents, key = id */
	struct master *master;
	char *id;
	/* info.resources is the agent's total: its --resources with the
	 * dynamic reservations and persistent volumes of every operation
	 * applied (what the allocator has as the agent's total) */
	struct agent_info info;
	char *pid; /* "slave(1)@ip:port" */
	char *ip;
	struct http_stream *stream;
	char stream_id[IDS_UUID_STRLEN];
	bool connected;
	double registered_time, reregistered_time;
	char *version;
	struct resources used;    /* held by tasks */
	struct resources offered; /* held by outstanding offers */
	struct list tasks;
	struct list offers;
	uv_timer_t *removal_timer; /* running while disconnected */
	/* health: a PING event every --agent-ping-timeout, a PONG call back */
	uv_timer_t *ping_timer;
	bool ping_answered; /* a PONG came since the last PING */
	long ping_misses;
	/* waiting for a slot of --agent-removal-rate-limit, or for a
	 * registry write that failed to be retried */
	uv_timer_t *unreachable_timer;
	bool registry_error_logged;
};

struct master {
	uv_loop_t *loop;
	struct master_config cfg;
	struct http_server *http;
	struct alloc *alloc;
	char id[IDS_UUID_STRLEN];
	char *pid;     /* "master@ip:port" */
	char *address; /* "ip:port" */
	int port;
	double start_time;
	struct hmap frameworks;
	struct list completed_frameworks;
	size_t ncompleted_frameworks;
	struct hmap agents;
	struct hmap offers;
	uint64_t next_framework, next_agent, next_offer;
	uv_timer_t alloc_timer; /* periodic full allocation pass */
	uv_timer_t alloc_soon;  /* coalesced event-driven pass */
	bool alloc_pending;
	uv_timer_t heartbeat_timer;
	uv_signal_t sigint, sigterm;
	/* offers made during the current allocation pass, per framework */
	json_t *pending_offers; /* framework id -> array of offer JSON text */
	struct {
		uint64_t allocation_runs;
		uint64_t offers_sent, offers_declined, offers_rescinded;
		uint64_t tasks_launched, valid_status_updates,
		    invalid_status_updates;
		uint64_t calls[32];
		uint64_t dropped_streams;
		uint64_t tasks_by_state_terminal[TASK_STATE_COUNT];
	} metrics;
	bool stopping;
	/* operator API state (event subscribers), owned by operator_api.c;
	 * NULL until first used */
	struct master_op *op;
	size_t snapshot_jobs; /* forked /state writers running */
	/* registry.c: admitted/unreachable/gone agents, durable with a
	 * --work-dir */
	struct registry *registry;
	/* after a restart: agents admitted in the registry that have not
	 * reregistered yet, until --agent-reregister-timeout */
	bool recovering;
	uv_timer_t *reregister_timer;
	double removal_interval;  /* seconds between two unreachable marks */
	uint64_t removal_next_ms; /* earliest free slot of the rate limit */
	uv_timer_t *registry_gc_timer;
	/* ids to mark unreachable once the reregistration window closed,
	 * worked through at the rate limit */
	char **unreturned;
	size_t nunreturned, unreturned_pos;
	uv_timer_t *unreturned_timer;
	bool registry_failing; /* a write failed; logged once until one
	                        * succeeds again */
	/* High availability (--zk). Without --zk the master is elected
	 * from the start. With it, it is a standby until its contender
	 * reports LEADER_ELECTED: it then loads the registry and serves;
	 * meanwhile the detector tells where the leader is, for redirects.
	 * A leader that loses its candidacy exits at once. */
	struct leader_contender *contender;
	struct leader_detector *detector;
	uv_timer_t *recontend_timer; /* a standby whose candidacy ended */
	bool elected;
	double elected_time;
	/* A leader's pulse (master_beat_cb, every MASTER_BEAT_MS): a gap far
	 * longer means the process was frozen or starved, and its ZooKeeper
	 * session may have expired meanwhile (master_check_fresh). */
	uv_timer_t *beat_timer;
	uint64_t beat_ns;
	int exit_code; /* of master_main once the loop stops */
};

/* master.c */
/* The master's clock for the allocator (monotonic ms). */
uint64_t master_now_ms(struct master *m);
void master_schedule_allocation(struct master *m);
struct master_framework *master_framework_find(struct master *m,
                                               const char *id);
/* A removed framework still in the bounded completed list, or NULL. */
struct master_framework *master_framework_find_completed(struct master *m,
                                                         const char *id);
struct master_agent *master_agent_find(struct master *m, const char *id);
struct master_task *master_task_find(struct master_framework *fw,
                                     const char *task_id);
/* Subscribe a (new or failing-over) framework on stream. */
struct master_framework *master_framework_add(struct master *m,
                                              const struct framework_info *info,
                                              const char *id);
void master_framework_connected(struct master_framework *fw,
                                struct http_stream *stream);
void master_framework_disconnected(struct master_framework *fw);
/* TEARDOWN: kill everything, move to completed. */
void master_framework_remove(struct master_framework *fw,
                             enum task_reason reason);
void master_offer_remove(struct master_offer *o, bool recover,
                         double refuse_seconds);
void master_offer_rescind(struct master_offer *o);
struct master_task *master_task_add(struct master_framework *fw,
                                    struct master_agent *agent,
                                    struct task_info *ti);
/* Applies a new latest state; frees resources on terminal states. */
void master_task_set_state(struct master_task *t, enum task_state state);
/* Asks the task's agent to kill it (kill_policy may be NULL). Returns
 * false when its agent is not connected: the kill is then kept and sent
 * when the agent reregisters (as Mesos retries it). */
bool master_task_kill(struct master_task *t, const json_t *kill_policy);
/* Sends the kills kept for a's tasks while it was away. */
void master_agent_send_pending_kills(struct master_agent *a);
/* Moves a terminal task to the framework's completed list. */
void master_task_complete(struct master_task *t);
struct master_agent *master_agent_add(struct master *m, const char *id,
                                      struct agent_info *info, const char *ip);
void master_agent_connected(struct master_agent *a, struct http_stream *stream);
void master_agent_disconnected(struct master_agent *a);
void master_agent_remove(struct master_agent *a, enum task_reason reason);
/*
 * Marks a unreachable (silent past the ping timeouts, or disconnected for
 * as long): waits for a --agent-removal-rate-limit slot, records it in the
 * registry, then reports its tasks TASK_UNREACHABLE (partition-aware
 * frameworks; the tasks are kept and come back if the agent does) or
 * TASK_LOST and frees the agent. A failed registry write is logged and
 * retried after --agent-ping-timeout.
 */
void master_agent_mark_unreachable(struct master_agent *a);
/*
 * MARK_AGENT_GONE: records id gone in the registry first (an error there
 * is returned with e set and nothing changed), then removes the agent if
 * registered and turns its tasks (also those kept unreachable) into
 * TASK_GONE_BY_OPERATOR / TASK_LOST. -ENOENT when the id is unknown.
 */
int master_agent_mark_gone(struct master *m, const char *id, struct err *e);
/*
 * Reports the outcome of a registry write: e NULL after a success, else
 * the failure (what = the operation that needed it). A failure is logged
 * once until a write succeeds again, so a full disk does not flood the
 * log while agents retry.
 */
void master_registry_note(struct master *m, const char *what,
                          const struct err *e);
/* The registry's view of id. */
bool master_agent_is_gone(struct master *m, const char *id);
bool master_agent_is_unreachable(struct master *m, const char *id);
/* Admitted in the registry before a restart and not reregistered yet. */
bool master_agent_is_recovered(struct master *m, const char *id);
/* Called by the agent API once a (re)registered agent's tasks are
 * adopted: the partition-aware tasks kept for it while it was unreachable
 * and not reported again become TASK_GONE. */
void master_agent_drop_unreturned(struct master_agent *a);
bool master_framework_is_partition_aware(const struct master_framework *fw);

/*
 * Reservations and persistent volumes (master.c). Applies op to agent a:
 * res carries the allocation roles of the offer it comes from (fw set),
 * or none for an operator call (fw NULL: res must be available, neither
 * offered nor used). Checks the shape, that a DESTROY names no volume a
 * live task uses, converts the resources in the allocator, updates the
 * agent's total and sends it CHECKPOINT_RESOURCES. Returns 0, -EINVAL
 * (bad shape), -EBUSY (volume in use), -EEXIST (persistence id taken) or
 * -ENOENT (not available); e says why. Nothing changes on error.
 */
int master_agent_apply_op(struct master_agent *a, struct master_framework *fw,
                          enum resources_op op, const struct resources *res,
                          struct err *e) MUST_CHECK;
/* Sends CHECKPOINT_RESOURCES{resources: a's checkpointed resources}. */
void master_agent_send_checkpoint(struct master_agent *a);

/* events.c: framing and sending */
/* Sends one JSON event (text in b) as a RecordIO record on the stream;
 * a full queue ends the stream with an ERROR event. Returns 0 or -EPIPE. */
int master_stream_send(struct master *m, struct http_stream **stream,
                       const struct buf *event);
/* Sends {"type":"ERROR","error":{"message":..}} and ends the stream. */
void master_stream_error(struct http_stream **stream, const char *message);
int master_framework_send(struct master_framework *fw, const struct buf *event);
int master_agent_send(struct master_agent *a, const struct buf *event);
/* The agent answered a PING (its PONG call). */
void master_agent_pong(struct master_agent *a);
/* UPDATE event for status to the framework (no-op if disconnected). */
void master_send_update(struct master_framework *fw,
                        const struct task_status *st);
/* A master-generated status (no uuid) for a task. */
void master_status_make(struct task_status *st, const char *task_id,
                        const char *agent_id, const char *executor_id,
                        enum task_state state, enum task_reason reason,
                        const char *message);
void master_write_master_info(struct master *m, struct jsonw *w);
/* Writes a Mesos v1 Task object (operator API / reregistration). */
void master_write_task_v1(struct jsonw *w, const struct master_task *t);

/*
 * The leading master as the detector last saw it (--zk), or NULL when
 * none is known or without --zk. Borrowed until the next loop turn.
 */
const struct leader_info *master_leader(const struct master *m);

/* sched_api.c / agent_api.c / endpoints.c */
/*
 * endpoints.c: answers a request that only the leader serves, on a
 * standby: 307 with Location "//<leader host:port><same path>" when
 * another master leads, else 503 "no leader elected yet".
 */
void master_respond_not_leader(struct master *m, struct http_request *req);
void master_sched_api(struct master *m, struct http_request *req);
void master_agent_api(struct master *m, struct http_request *req);
void master_endpoints(struct master *m, struct http_request *req);
void master_flags_write(struct master *m, struct jsonw *w, bool as_list);
/* Writes one whole JSON document. */
typedef void master_doc_fn(struct master *m, struct jsonw *w);
/*
 * snapshot.c: responds 200 with the document write_doc produces, written
 * by a forked child from a copy-on-write snapshot so the loop never stalls
 * on it (inline when too many are running).
 */
void master_respond_snapshot(struct master *m, struct http_request *req,
                             master_doc_fn *write_doc);
/* The classic /state and /metrics/snapshot documents. */
void master_write_state(struct master *m, struct jsonw *w);
void master_write_metrics(struct master *m, struct jsonw *w);

/*
 * operator_api.c: POST /api/v1 (the Mesos v1 operator API) and its event
 * stream. The hooks below are called by the master on every change the
 * operator stream reports; they are cheap when nobody subscribed.
 */
void master_operator_api(struct master *m, struct http_request *req);
void master_op_task_added(struct master *m, const struct master_task *t);
void master_op_task_updated(struct master *m, const struct master_task *t);
void master_op_agent_added(struct master *m, const struct master_agent *a);
void master_op_agent_removed(struct master *m, const char *agent_id);
void master_op_framework_added(struct master *m,
                               const struct master_framework *fw);
void master_op_framework_updated(struct master *m,
                                 const struct master_framework *fw);
void master_op_framework_removed(struct master *m,
                                 const struct master_framework *fw);
/* True when MARK_AGENT_GONE named this agent id (it may never return). */
bool master_op_agent_is_gone(struct master *m, const char *agent_id);
/* Closes every operator stream (master shutting down). */
void master_op_close_all(struct master *m);

#endif
