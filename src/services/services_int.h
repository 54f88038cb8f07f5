/*
 * services_int.h: the insides of `atoll services`, shared by its files:
 *
 *   services.c      life, flags, the store, the scheduler callbacks, the
 *                   reconcile tick (desired vs actual), task tracking
 *   svc_launch.c    offers -> tasks: resources, ports, constraints,
 *                   TaskInfo (environment, health check, discovery)
 *   svc_deploy.c    deployments: plans from changes, driving the steps,
 *                   rollback, the progress deadline
 *   svc_events.c    the event log (increasing ids, bounded replay) and SSE
 *   marathon_api.c  the Marathon v2 REST API
 *
 * Everything runs on one libuv loop; nothing blocks except store commits
 * (one fsync each; "persist, then act and reply").
 */
#ifndef ATOLL_SERVICES_INT_H
#define ATOLL_SERVICES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lib/hmap.h"
#include "lib/list.h"
#include "lib/zk.h"
#include "model/resources.h"
#include "services/app.h"

struct atoll_scheduler;
struct buf;
struct err;
struct http_server;
struct http_stream;
struct jsonw;
struct store;

#define SVC_COMPONENT "services"

struct services_config {
	char *master;
	char *ip;
	long port;
	char *port_file;
	char *work_dir;
	char *framework_name;
	char *role;
	char *principal;
	char *user;
	double failover_timeout;
	double reconcile_interval;
	double kill_retry;
	long max_versions;
	long event_buffer;
	char *log_level;
	char *hostname;
	char *zk; /* zk://hosts/path: HA (election, state), ServerSets */
	double zk_session_timeout;
};

/* A task as the framework tracks it. */
struct svc_task {
	struct hmap_node node; /* key: id */
	struct list app_link;
	char *id;
	char *app_id;
	char *config_version; /* the app's lastConfigChangeAt it ran */
	char *agent_id;
	char *hostname;
	struct attributes attributes;
	int *ports;
	size_t nports;
	char *state;              /* "TASK_STAGING", ...; latest known */
	int healthy;              /* -1 unknown, 0, 1 */
	bool checked;             /* launched with a health check: healthy only
	                             when the check says so */
	bool killing;             /* a kill was sent */
	double staged_at;         /* wall seconds */
	double started_at;        /* first TASK_RUNNING, 0 before */
	double killed_at;         /* last kill sent (mono seconds) */
	double unreachable_since; /* wall seconds, 0 = reachable */
	char *message;            /* last status message */
	char *ip;                 /* the agent's IP (from the offer), or NULL */
	char *resident_id;        /* the reservation it runs on, or NULL */
	/* Readiness (svc_ready.c): checked during deployments only. */
	bool ready;        /* a readiness check passed (stays true) */
	bool probing;      /* a readiness probe is in flight */
	double ready_next; /* mono seconds of the next probe */
	int ready_status;  /* last HTTP status (0 = none / no answer) */
};

/*
 * A resident instance (svc_resident.c): resources dynamically reserved
 * for one instance of an app with persistent volumes, on one agent,
 * labelled with the resident id. Its tasks come and go; the reservation
 * and the volumes stay until the app is deleted or the instance wiped.
 */
struct svc_resident {
	struct hmap_node node; /* key: id */
	char *id;
	char *app_id;
	char *agent_id;
	char *hostname;
	char *ip;
	struct attributes attributes;
};

/* An app as the framework tracks it. */
struct svc_app {
	struct hmap_node node; /* key: app.id */
	struct app app;
	char *config_version;  /* versionInfo.lastConfigChangeAt */
	char *scaling_version; /* versionInfo.lastScalingAt */
	struct list tasks;
	size_t ntasks;
	/* Launch target: how many current-config tasks should be alive.
	 * Without a deployment it is app.instances. */
	int target;
	bool deleting;      /* stopping for good */
	unsigned failures;  /* consecutive, for backoff */
	double delay_until; /* mono seconds */
	char *last_failure; /* message of the last failed task */
	double last_failure_at;
	/* Why offers were not used (for /v2/queue). Reset on every change. */
	uint64_t offers_seen, offers_used;
	uint64_t declined_role, declined_cpus, declined_mem, declined_disk,
	    declined_ports, declined_dedicated;
	uint64_t *declined_constraint; /* per constraint */
	double queued_since;           /* wall seconds a launch became due */
};

enum svc_action_kind {
	SVC_START,   /* StartApplication: new app, scaled from 0 */
	SVC_SCALE,   /* ScaleApplication */
	SVC_RESTART, /* RestartApplication: rolling replace */
	SVC_STOP,    /* StopApplication */
};

struct svc_action {
	enum svc_action_kind kind;
	char *app_id;
	bool done;
};

struct svc_step {
	struct svc_action *actions;
	size_t nactions;
};

struct svc_deployment {
	struct list link;
	char *id;
	char *version; /* of the change */
	struct svc_step *steps;
	size_t nsteps;
	size_t current; /* index of the running step */
	/* What to restore on rollback: app id -> stored app record, or
	 * JSON null for apps that did not exist before. Owned. */
	json_t *revert;
	bool is_rollback; /* this deployment reverts another */
	double started_wall;
	double progress_mono; /* last time a task became ready or went */
	double deadline;      /* seconds without progress; 0 = none */
	long best_metric;     /* progress measure of the current step */
};

struct svc_sse; /* an /v2/events client */

struct svc_event {
	uint64_t id;
	char *type;
	char *json; /* the whole event object */
	size_t len;
};

struct services {
	uv_loop_t *loop;
	struct services_config cfg;
	struct store *store;
	struct atoll_scheduler *sched;
	struct http_server *http;
	char *framework_id;
	struct hmap apps;      /* struct svc_app */
	struct hmap tasks;     /* struct svc_task */
	struct hmap residents; /* struct svc_resident */
	/* Forgotten residents whose reservations wait for an offer to be
	 * released (svc_resident.c); while any, offers are not suppressed. */
	struct hmap releases;
	struct list deployments;
	uv_timer_t tick;
	uv_idle_t kick; /* coalesces reconcile requests into one pass */
	bool kick_pending;
	bool suppressed;
	bool stopping;
	double started_wall;
	/* events */
	struct svc_event *events; /* ring of cfg.event_buffer */
	size_t ev_head, ev_count;
	uint64_t ev_next;         /* id of the next event */
	uint64_t ev_reserved;     /* ids up to here are persisted as used */
	struct list sse;          /* struct svc_sse */
	uv_timer_t *ev_heartbeat; /* heap; started with the first client */
	struct list probes;       /* readiness probes in flight */
	struct list probes_done;  /* finished readiness probes to free */
	struct svc_announcer *announcer; /* NULL without --zk */
	/* High availability (--zk): */
	struct zk_url zk; /* parsed --zk (hosts NULL without) */
	struct leader_contender *contender;
	struct leader_detector *detector;
	bool leading;          /* elected (always, without --zk) */
	double last_version;   /* wall seconds of the newest version made */
	double last_reconcile; /* mono seconds of the last implicit one */
	uv_signal_t sigint, sigterm;
	uint64_t offers_total;
	uint64_t tasks_launched;
};

/* ---- services.c -------------------------------------------------------- */

struct svc_app *svc_app_find(struct services *sv, const char *id);
struct svc_task *svc_task_find(struct services *sv, const char *id);
/* Asks for a reconcile pass on the next loop iteration. */
void svc_kick(struct services *sv);
/* Current wall time and monotonic seconds. */
double svc_now_wall(void);
double svc_now_mono(void);
/* A fresh Marathon version string (ISO-8601 UTC with ms), unique and
 * increasing within the process. Heap. */
char *svc_version_new(struct services *sv);
/* Tasks counted as alive for launching: not terminal, not inactive
 * unreachable. */
bool svc_task_is_alive(const struct services *sv, const struct svc_app *a,
                       const struct svc_task *t);
/* Running, and healthy when it was launched with a health check. */
bool svc_task_is_healthy(const struct svc_app *a, const struct svc_task *t);
bool svc_task_is_current(const struct svc_app *a, const struct svc_task *t);
/* Sends a kill (again after cfg.kill_retry). */
void svc_task_kill(struct services *sv, struct svc_task *t);
/* The stored record of an app: {"app": definition, "version": v,
 * "configVersion": c, "scalingVersion": s}. New reference. */
json_t *svc_app_record(const struct svc_app *a);
/*
 * Changing an app happens in three steps so that the store is written
 * before memory changes ("persist, then act"):
 *   svc_app_prepare()  builds the new app object from def (taken), not yet
 *                      visible; its config version is config_version when
 *                      given (a rollback restores the old one), else the
 *                      old one for a scale-only change, else a new one;
 *   svc_app_store()    writes its record and a version history entry (in
 *                      the caller's transaction, if one is open);
 *   svc_app_swap()     makes it the app, moving the old one's tasks over.
 * svc_app_discard() frees a prepared app that was not swapped in.
 */
struct svc_app *svc_app_prepare(struct services *sv, struct app *def,
                                const char *config_version);
int svc_app_store(struct services *sv, const struct svc_app *n, struct err *e);
void svc_app_swap(struct services *sv, struct svc_app *n);
void svc_app_discard(struct svc_app *n);
/* Forgets an app with no tasks left: memory and store. */
int svc_app_remove(struct services *sv, struct svc_app *a, struct err *e);
/* Persists a task record (at launch) / removes it. */
int svc_task_persist(struct services *sv, struct svc_task *t, struct err *e);
void svc_task_forget(struct services *sv, struct svc_task *t);
/* Writes a task in Marathon's /v2/tasks shape. */
void svc_task_write(struct jsonw *w, const struct services *sv,
                    const struct svc_app *a, const struct svc_task *t);

/* Ready for a deployment: the app has no readiness check, or it passed. */
bool svc_task_is_ready(const struct svc_app *a, const struct svc_task *t);

/* ---- svc_ready.c ------------------------------------------------------- */

/* Probes the readiness of new tasks of apps in a running deployment step
 * and frees finished probes. Called from every reconcile pass. */
void svc_ready_tick(struct services *sv);
/* Frees every probe (at shutdown). */
void svc_ready_release(struct services *sv);

/* ---- svc_resident.c ---------------------------------------------------- */

#define SVC_RESIDENT_LABEL "atoll_resident"

/* True for apps with persistent volumes (resident instances). */
bool svc_app_is_resident(const struct app *app);
struct svc_resident *svc_resident_find(struct services *sv, const char *id);
/* Persists and adds a resident (taken). */
int svc_resident_add(struct services *sv, struct svc_resident *r,
                     struct err *e);
/* Forgets a resident: its reservation and volumes are destroyed at the
 * next offer from its agent (svc_resident_gc_ops). */
void svc_resident_forget(struct services *sv, struct svc_resident *r);
void svc_resident_free(struct svc_resident *r);
/* The live (alive, not killing) task on r, or NULL. */
struct svc_task *svc_resident_task(struct services *sv,
                                   const struct svc_resident *r);
/* Number of residents of app_id. */
size_t svc_resident_count(struct services *sv, const char *app_id);
int svc_resident_load(struct services *sv, struct err *e);
/* Expires old pending releases; true while some are pending. */
bool svc_resident_releases_pending(struct services *sv);
void svc_resident_release_all(struct services *sv);
/* The offer's resources reserved with our label for resident id (a new
 * array; empty when none). */
json_t *svc_resident_offered(const json_t *offer, const char *id);
/* Appends DESTROY and UNRESERVE operations for every resource of the
 * offer labelled for a resident we no longer have. */
void svc_resident_gc_ops(struct services *sv, const json_t *offer, json_t *ops);

/* ---- svc_serverset.c -------------------------------------------------- */

/* With --zk: opens the ZooKeeper session (errors name the flag). */
int svc_serverset_init(struct services *sv, struct err *e);
/* Announces healthy instances and withdraws the others. */
void svc_serverset_tick(struct services *sv);
/* Closes the session: our ephemeral members vanish. */
void svc_serverset_release(struct services *sv);

/* ---- svc_launch.c ------------------------------------------------------ */

/* Handles one OFFERS event: launches what is due, declines the rest. */
void svc_launch_offers(struct services *sv, json_t *offers);
/* How many tasks app a should launch now (0 in backoff). */
int svc_launch_wanted(const struct services *sv, const struct svc_app *a);

/* ---- svc_deploy.c ------------------------------------------------------ */

/*
 * Applies a change: new_apps (taken: moved into the services state) with
 * removed_ids to stop; builds the plan, persists everything, starts the
 * deployment. With force, deployments holding the apps are cancelled;
 * without, a locked app fails with -EBUSY and e naming the deployment.
 * dry_run computes the plan only. On success *out_dep (may be NULL) is the
 * new deployment (NULL when nothing changed) and plan (when not NULL) gets
 * the plan's JSON.
 */
int svc_deploy_change(struct services *sv, struct app *new_apps, size_t napps,
                      const char *const *removed_ids, size_t nremoved,
                      bool force, bool dry_run, bool restart,
                      struct svc_deployment **out_dep, json_t **plan,
                      struct err *e);
/* Drives every deployment one tick; sets each app's target. */
void svc_deploy_tick(struct services *sv);
struct svc_deployment *svc_deploy_find(struct services *sv, const char *id);
/* The deployment holding app id, or NULL. */
struct svc_deployment *svc_deploy_of_app(struct services *sv,
                                         const char *app_id);
/* Rolls back (a new deployment restoring the previous definitions; its
 * id in *out) or, with force, just stops the deployment. */
int svc_deploy_cancel(struct services *sv, struct svc_deployment *d, bool force,
                      struct svc_deployment **out, struct err *e);
void svc_deploy_write(struct jsonw *w, const struct services *sv,
                      const struct svc_deployment *d);
/* Reloads deployments from the store at start. */
int svc_deploy_load(struct services *sv, struct err *e);
void svc_deploy_free_all(struct services *sv);

/* ---- svc_events.c ------------------------------------------------------ */

/* Publishes an event: obj (taken) gets "eventType" and "timestamp". */
void svc_event(struct services *sv, const char *type, json_t *obj);
int svc_events_init(struct services *sv, struct err *e);
void svc_events_release(struct services *sv);
/* GET /v2/events: a Server-Sent Events stream, resuming after the
 * Last-Event-ID header (or ?lastEventId=) when given. */
struct http_request;
void svc_events_serve(struct services *sv, struct http_request *req);

/* ---- marathon_api.c ---------------------------------------------------- */

void svc_api_handle(struct http_request *req, void *arg);

#endif
