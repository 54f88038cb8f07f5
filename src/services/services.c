/*
 * services.c: `atoll services`, the built-in meta-framework for
 * long-running services (Marathon's REST API, Aurora's constraints). An
 * ordinary v1 framework on Atoll's public C scheduler library.
 *
 * The framework is a reconciler of desired against actual state:
 *
 *   desired: apps (definitions, instance counts) and deployments, in the
 *            store (SQLite), changed only through the REST API
 *   actual:  tasks, learned from status updates; the task records in the
 *            store say which app and version each task id belongs to
 *
 * One pass (svc_tick_run), on a 1 s timer and whenever something changed
 * (svc_kick, coalesced on an idle handle): deployments advance and set each
 * app's launch target (svc_deploy_tick); kills are retried; unreachable
 * tasks past expungeAfterSeconds are forgotten; offers are revived when an
 * app needs to launch and suppressed when none does. Launching happens when
 * offers arrive (svc_launch.c).
 *
 * Persist, then act: a task record is committed before its LAUNCH is sent
 * (a crash between the two leaves a record whose task never existed: the
 * master answers TASK_LOST/UNKNOWN to its reconciliation and the record
 * goes), and an app change is committed before the API replies.
 *
 * Restart: the framework id is in the store, so the new process
 * resubscribes as the same framework (within failover_timeout, a week by
 * default) and keeps its tasks; it reconciles explicitly every task it has
 * a record of, then implicitly, and kills any task of its framework it has
 * no record of. It never launches a duplicate: launches are driven by the
 * records, which survive.
 *
 * Task life (this framework's view):
 *
 *   record persisted --LAUNCH--> STAGING --> STARTING --> RUNNING
 *        (svc_launch.c)            |  svc_on_update()      | healthy?
 *                                  v                       v
 *                 terminal (FINISHED FAILED KILLED ERROR LOST DROPPED GONE
 *                 GONE_BY_OPERATOR UNKNOWN): record removed, the app's
 *                 backoff grows on failures, the reconcile pass relaunches
 *                 UNREACHABLE: kept; after inactiveAfterSeconds it no longer
 *                 counts (a replacement launches); after
 *                 expungeAfterSeconds it is forgotten and killed if seen
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/http.h"
#include "lib/ids.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/store.h"
#include "lib/leader.h"
#include "lib/timeutil.h"
#include "lib/version.h"
#include "lib/zk.h"
#include "model/mesos.h"
#include "services/plan.h"
#include "services/services.h"

#define SVC_TICK_MS 1000
#define SVC_BACKOFF_RESET 300.0 /* a task that ran this long resets it */

static const struct flag_def svc_flags[] = {
    FLAG_DEF(struct services_config, master, "master", FLAG_STRING,
             "127.0.0.1:5050", 0, 0, "the master: host:port or a list"),
    FLAG_DEF(struct services_config, ip, "ip", FLAG_STRING, "127.0.0.1", 0, 0,
             "IP address of the REST API"),
    FLAG_DEF(struct services_config, port, "port", FLAG_INT, "8080", 0, 65535,
             "port of the REST API (0 = pick a free port)"),
    FLAG_DEF(struct services_config, port_file, "port-file", FLAG_STRING, NULL,
             0, 0, "write the bound port to this file"),
    FLAG_DEF(struct services_config, work_dir, "work-dir", FLAG_STRING, NULL, 0,
             0, "directory of the store (services.db); required"),
    FLAG_DEF(struct services_config, framework_name, "framework-name",
             FLAG_STRING, "atoll-services", 0, 0,
             "the framework's name at the master"),
    FLAG_DEF(struct services_config, role, "mesos-role", FLAG_STRING, "*", 0, 0,
             "the framework's role"),
    FLAG_DEF(struct services_config, principal,
             "mesos-authentication-principal", FLAG_STRING, "atoll-services", 0,
             0,
             "the framework's principal (owner of its reservations and "
             "volumes)"),
    FLAG_DEF(struct services_config, user, "mesos-user", FLAG_STRING, NULL, 0,
             0, "default user of tasks (default: the user running this)"),
    FLAG_DEF(struct services_config, failover_timeout, "failover-timeout",
             FLAG_DURATION, "1weeks", 0, 0,
             "how long the master keeps our tasks while we are away"),
    FLAG_DEF(struct services_config, reconcile_interval,
             "reconciliation-interval", FLAG_DURATION, "10mins", 1, 86400,
             "period of the implicit reconciliation with the master"),
    FLAG_DEF(struct services_config, kill_retry, "kill-retry-timeout",
             FLAG_DURATION, "10secs", 1, 3600,
             "resend a kill after this long without a terminal state"),
    FLAG_DEF(struct services_config, max_versions, "max-versions", FLAG_INT,
             "50", 1, 10000, "app versions kept per app"),
    FLAG_DEF(struct services_config, event_buffer, "event-buffer", FLAG_INT,
             "10000", 16, 10000000,
             "events kept for /v2/events clients that resume"),
    FLAG_DEF(struct services_config, log_level, "log-level", FLAG_STRING,
             "info", 0, 0, "error, warn, info or debug"),
    FLAG_DEF(struct services_config, zk, "zk", FLAG_STRING, NULL, 0, 0,
             "zk://host:port,.../path: announce healthy instances as "
             "ServerSets (Aurora's format) under <path>/serversets/<app>"),
    FLAG_DEF(struct services_config, zk_session_timeout, "zk-session-timeout",
             FLAG_DURATION, "10secs", 1, 600,
             "ZooKeeper session timeout (a dead leader is replaced after "
             "about this long)"),
    FLAG_DEF(struct services_config, hostname, "hostname", FLAG_STRING, NULL, 0,
             0, "hostname advertised in /v2/info and /v2/leader"),
};

/* ---- small helpers --------------------------------------------------------
 */

double svc_now_wall(void)
{
	return timeutil_wall();
}

double svc_now_mono(void)
{
	return (double)timeutil_mono_ns() / 1e9;
}

char *svc_version_new(struct services *sv)
{
	struct timespec ts;
	struct tm tm;
	double now = svc_now_wall();
	time_t sec;
	long ms;

	/* Versions are compared as text: keep them strictly increasing. */
	if (now <= sv->last_version)
		now = sv->last_version + 0.001;
	sv->last_version = now;
	sec = (time_t)now;
	ms = (long)((now - (double)sec) * 1000.0);
	if (ms > 999)
		ms = 999;
	ts.tv_sec = sec;
	gmtime_r(&ts.tv_sec, &tm);
	return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static bool svc_state_is_terminal(const char *state)
{
	enum task_state s;

	if (task_state_parse(state, &s))
		return false;
	return task_state_is_terminal(s);
}

struct svc_app *svc_app_find(struct services *sv, const char *id)
{
	return hmap_entry(hmap_find(&sv->apps, id), struct svc_app, node);
}

struct svc_task *svc_task_find(struct services *sv, const char *id)
{
	return hmap_entry(hmap_find(&sv->tasks, id), struct svc_task, node);
}

bool svc_task_is_alive(const struct services *sv, const struct svc_app *a,
                       const struct svc_task *t)
{
	(void)sv;
	if (svc_state_is_terminal(t->state))
		return false;
	if (t->unreachable_since > 0 && !a->app.unreachable_disabled &&
	    svc_now_wall() - t->unreachable_since >=
	        a->app.inactive_after_seconds)
		return false;
	return true;
}

bool svc_task_is_healthy(const struct svc_app *a, const struct svc_task *t)
{
	if (strcmp(t->state, "TASK_RUNNING") || t->unreachable_since > 0)
		return false;
	(void)a;
	return !t->checked || t->healthy == 1;
}

bool svc_task_is_ready(const struct svc_app *a, const struct svc_task *t)
{
	return !a->app.nreadiness_checks || t->ready;
}

bool svc_task_is_current(const struct svc_app *a, const struct svc_task *t)
{
	return !strcmp(t->config_version, a->config_version);
}

static void svc_kick_cb(uv_idle_t *h);

void svc_kick(struct services *sv)
{
	if (sv->kick_pending || sv->stopping)
		return;
	sv->kick_pending = true;
	uv_idle_start(&sv->kick, svc_kick_cb);
}

/* ---- tasks ----------------------------------------------------------------
 */

static void svc_task_free(struct svc_task *t)
{
	if (!t)
		return;
	free(t->id);
	free(t->app_id);
	free(t->config_version);
	free(t->agent_id);
	free(t->hostname);
	attributes_release(&t->attributes);
	free(t->ports);
	free(t->state);
	free(t->message);
	free(t->ip);
	free(t->resident_id);
	free(t);
}

static json_t *svc_task_record(const struct svc_task *t)
{
	json_t *rec = json_object();
	json_t *ports = json_array();
	json_t *attrs;
	struct buf b;
	struct jsonw w;

	for (size_t i = 0; i < t->nports; i++)
		json_array_append_new(ports, json_integer(t->ports[i]));
	buf_init(&b);
	jsonw_init(&w, &b);
	attributes_write_json(&w, &t->attributes);
	attrs = json_loadb(b.data, b.len, 0, NULL);
	buf_release(&b);
	json_object_set_new(rec, "appId", json_string(t->app_id));
	json_object_set_new(rec, "configVersion",
	                    json_string(t->config_version));
	json_object_set_new(rec, "agentId", json_string(t->agent_id));
	json_object_set_new(rec, "host", json_string(t->hostname));
	if (t->ip)
		json_object_set_new(rec, "ip", json_string(t->ip));
	if (t->resident_id)
		json_object_set_new(rec, "residentId",
		                    json_string(t->resident_id));
	json_object_set_new(rec, "attributes", attrs ? attrs : json_array());
	json_object_set_new(rec, "ports", ports);
	json_object_set_new(rec, "stagedAt", json_real(t->staged_at));
	json_object_set_new(rec, "healthChecked", json_boolean(t->checked));
	return rec;
}

int svc_task_persist(struct services *sv, struct svc_task *t, struct err *e)
{
	json_t *rec = svc_task_record(t);
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	rc = store_put(sv->store, "tasks", t->id, text, strlen(text), e);
	free(text);
	json_decref(rec);
	return rc;
}

/* Links a task into the maps (the app must exist). */
static void svc_task_attach(struct services *sv, struct svc_app *a,
                            struct svc_task *t)
{
	t->node.key = t->id;
	hmap_insert(&sv->tasks, &t->node);
	list_add_tail(&a->tasks, &t->app_link);
	a->ntasks++;
}

void svc_task_forget(struct services *sv, struct svc_task *t)
{
	struct svc_app *a = svc_app_find(sv, t->app_id);
	struct err e = {{0}};

	if (store_delete(sv->store, "tasks", t->id, &e))
		log_error(SVC_COMPONENT, "task=%s cannot forget task: %s",
		          t->id, e.msg);
	hmap_remove(&sv->tasks, &t->node);
	list_del(&t->app_link);
	if (a)
		a->ntasks--;
	svc_task_free(t);
}

void svc_task_kill(struct services *sv, struct svc_task *t)
{
	int rc;

	t->killing = true;
	t->killed_at = svc_now_mono();
	rc = atoll_scheduler_kill(sv->sched, t->id, t->agent_id);
	if (rc)
		log_warn(SVC_COMPONENT, "task=%s cannot send kill yet: %s",
		         t->id, strerror(-rc));
}

void svc_task_write(struct jsonw *w, const struct services *sv,
                    const struct svc_app *a, const struct svc_task *t)
{
	char *staged = NULL, *started = NULL;
	struct tm tm;
	time_t sec;

	(void)sv;
	sec = (time_t)t->staged_at;
	gmtime_r(&sec, &tm);
	staged = xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.000Z",
	                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                   tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (t->started_at > 0) {
		sec = (time_t)t->started_at;
		gmtime_r(&sec, &tm);
		started =
		    xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.000Z",
		              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		              tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", t->id);
	jsonw_kstr(w, "appId", t->app_id);
	jsonw_kstr(w, "host", t->hostname);
	jsonw_kstr(w, "slaveId", t->agent_id);
	jsonw_kstr(w, "agentId", t->agent_id);
	jsonw_key(w, "ports");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < t->nports; i++)
		jsonw_int(w, t->ports[i]);
	jsonw_arr_end(w);
	jsonw_key(w, "servicePorts");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_kstr(w, "stagedAt", staged);
	if (started)
		jsonw_kstr(w, "startedAt", started);
	else {
		jsonw_key(w, "startedAt");
		jsonw_null(w);
	}
	jsonw_kstr(w, "version", t->config_version);
	jsonw_kstr(w, "state", t->state);
	jsonw_kstr(w, "status", t->state); /* Atoll: same value */
	if (t->checked) {
		jsonw_key(w, "healthCheckResults");
		jsonw_arr_begin(w);
		if (t->healthy >= 0) {
			jsonw_obj_begin(w);
			jsonw_kint(w, "firstSuccess", 0);
			jsonw_kbool(w, "alive", t->healthy == 1);
			jsonw_kstr(w, "taskId", t->id);
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
	jsonw_kbool(w, "healthy", a ? svc_task_is_healthy(a, t) : false);
	if (t->unreachable_since > 0)
		jsonw_kdouble(w, "unreachableSince", t->unreachable_since);
	jsonw_obj_end(w);
	free(staged);
	free(started);
}

/* ---- apps -----------------------------------------------------------------
 */

json_t *svc_app_record(const struct svc_app *a)
{
	json_t *rec = json_object();

	json_object_set(rec, "app", a->app.definition);
	json_object_set_new(rec, "version", json_string(a->app.version));
	json_object_set_new(rec, "configVersion",
	                    json_string(a->config_version));
	json_object_set_new(rec, "scalingVersion",
	                    json_string(a->scaling_version));
	return rec;
}

static void svc_app_free(struct svc_app *a)
{
	if (!a)
		return;
	app_release(&a->app);
	free(a->config_version);
	free(a->scaling_version);
	free(a->last_failure);
	free(a->declined_constraint);
	free(a);
}

/* Keeps at most cfg.max_versions history entries of app id. */
struct svc_trim {
	char **keys;
	size_t n, cap;
};

static int svc_trim_collect(const char *key, const char *val, size_t len,
                            void *arg)
{
	struct svc_trim *tr = arg;

	(void)val;
	(void)len;
	ALLOC_GROW(tr->keys, tr->n + 1, tr->cap);
	tr->keys[tr->n++] = xstrdup(key);
	return 0;
}

static int svc_versions_put(struct services *sv, const struct svc_app *a,
                            struct err *e)
{
	char *ns = xasprintf("versions:%s", a->app.id);
	char *text = json_dumps(a->app.definition, JSON_COMPACT);
	struct svc_trim tr = {0};
	int rc;

	rc = store_put(sv->store, ns, a->app.version, text, strlen(text), e);
	if (!rc)
		rc = store_scan(sv->store, ns, svc_trim_collect, &tr, e);
	/* Keys are versions, which sort by time: drop the oldest. */
	for (size_t i = 0; !rc && tr.n > (size_t)sv->cfg.max_versions &&
	                   i < tr.n - (size_t)sv->cfg.max_versions;
	     i++)
		rc = store_delete(sv->store, ns, tr.keys[i], e);
	for (size_t i = 0; i < tr.n; i++)
		free(tr.keys[i]);
	free(tr.keys);
	free(text);
	free(ns);
	return rc;
}

static void svc_app_declines_reset(struct svc_app *a)
{
	a->offers_seen = a->offers_used = 0;
	a->declined_role = a->declined_cpus = a->declined_mem = 0;
	a->declined_disk = a->declined_ports = a->declined_dedicated = 0;
	free(a->declined_constraint);
	a->declined_constraint =
	    xcalloc(a->app.constraints.n + 1, sizeof(uint64_t));
}

struct svc_app *svc_app_prepare(struct services *sv, struct app *def,
                                const char *config_version)
{
	struct svc_app *a = svc_app_find(sv, def->id);
	struct svc_app *n = xcalloc(1, sizeof(*n));
	bool changed;

	n->app = *def;
	app_init(def);
	if (!n->app.version)
		n->app.version = svc_version_new(sv);
	changed = !a || !app_is_scale_only_change(&a->app, &n->app);
	if (config_version)
		n->config_version = xstrdup(config_version);
	else if (!changed)
		n->config_version = xstrdup(a->config_version);
	else
		n->config_version = xstrdup(n->app.version);
	n->scaling_version = xstrdup(n->app.version);
	n->target = a ? a->target : 0;
	list_init(&n->tasks);
	svc_app_declines_reset(n);
	return n;
}

int svc_app_store(struct services *sv, const struct svc_app *n, struct err *e)
{
	json_t *rec = svc_app_record(n);
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	json_decref(rec);
	rc = store_put(sv->store, "apps", n->app.id, text, strlen(text), e);
	if (!rc)
		rc = svc_versions_put(sv, n, e);
	free(text);
	return rc;
}

void svc_app_swap(struct services *sv, struct svc_app *n)
{
	struct svc_app *a = svc_app_find(sv, n->app.id);

	n->node.key = n->app.id;
	if (a) {
		/* Move the tasks and the runtime state over. */
		struct list *pos, *tmp;
		bool same_config =
		    !strcmp(a->config_version, n->config_version);

		LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
		{
			list_del(pos);
			list_add_tail(&n->tasks, pos);
		}
		n->ntasks = a->ntasks;
		if (same_config) {
			n->failures = a->failures;
			n->delay_until = a->delay_until;
		}
		n->last_failure = a->last_failure;
		a->last_failure = NULL;
		n->last_failure_at = a->last_failure_at;
		n->queued_since = a->queued_since;
		hmap_remove(&sv->apps, &a->node);
		svc_app_free(a);
	}
	hmap_insert(&sv->apps, &n->node);
}

void svc_app_discard(struct svc_app *n)
{
	svc_app_free(n);
}

int svc_app_remove(struct services *sv, struct svc_app *a, struct err *e)
{
	char *ns = xasprintf("versions:%s", a->app.id);
	struct svc_trim tr = {0};
	int rc;

	BUG_ON(a->ntasks);
	rc = store_begin(sv->store, e);
	if (!rc)
		rc = store_delete(sv->store, "apps", a->app.id, e);
	if (!rc)
		rc = store_scan(sv->store, ns, svc_trim_collect, &tr, e);
	for (size_t i = 0; !rc && i < tr.n; i++)
		rc = store_delete(sv->store, ns, tr.keys[i], e);
	if (!rc)
		rc = store_commit(sv->store, e);
	else if (store_in_transaction(sv->store))
		store_rollback(sv->store);
	for (size_t i = 0; i < tr.n; i++)
		free(tr.keys[i]);
	free(tr.keys);
	free(ns);
	if (rc)
		return rc;
	/* Its reservations and volumes go at the next offers. */
	{
		struct hmap_node *n, *tmp;
		size_t i;

		HMAP_FOR_EACH_SAFE(&sv->residents, i, n, tmp)
		{
			struct svc_resident *r =
			    container_of(n, struct svc_resident, node);

			if (!strcmp(r->app_id, a->app.id))
				svc_resident_forget(sv, r);
		}
	}
	hmap_remove(&sv->apps, &a->node);
	svc_app_free(a);
	return 0;
}

/* ---- loading the store ----------------------------------------------------
 */

static int svc_load_app(const char *key, const char *val, size_t len, void *arg)
{
	struct services *sv = arg;
	struct app_problems probs;
	json_t *rec = json_loadb(val, len, 0, NULL);
	struct svc_app *a;
	const char *cv, *scv, *v;

	app_problems_init(&probs);
	a = xcalloc(1, sizeof(*a));
	app_init(&a->app);
	list_init(&a->tasks);
	v = json_string_value(json_object_get(rec, "version"));
	cv = json_string_value(json_object_get(rec, "configVersion"));
	scv = json_string_value(json_object_get(rec, "scalingVersion"));
	if (!rec || !v || !cv ||
	    app_from_json(&a->app, json_object_get(rec, "app"), "/", "",
	                  &probs)) {
		log_error(SVC_COMPONENT,
		          "app=%s ignoring an unreadable app record in the "
		          "store%s%s",
		          key, probs.n ? ": " : "",
		          probs.n ? probs.v[0].message : "");
		app_problems_release(&probs);
		json_decref(rec);
		svc_app_free(a);
		return 0;
	}
	app_problems_release(&probs);
	free(a->app.version);
	a->app.version = xstrdup(v);
	a->config_version = xstrdup(cv);
	a->scaling_version = xstrdup(scv ? scv : v);
	a->target = a->app.instances;
	svc_app_declines_reset(a);
	a->node.key = a->app.id;
	if (svc_app_find(sv, a->app.id)) {
		svc_app_free(a);
	} else {
		hmap_insert(&sv->apps, &a->node);
	}
	json_decref(rec);
	return 0;
}

static int svc_load_task(const char *key, const char *val, size_t len,
                         void *arg)
{
	struct services *sv = arg;
	json_t *rec = json_loadb(val, len, 0, NULL);
	const char *app_id = json_string_value(json_object_get(rec, "appId"));
	struct svc_app *a = app_id ? svc_app_find(sv, app_id) : NULL;
	struct svc_task *t;
	json_t *ports, *p;
	struct err e = {{0}};
	size_t i;

	if (!rec || !a) {
		/* A task of an app that is gone: reconciliation will report
		 * it and the unknown-task rule kills it. */
		log_warn(SVC_COMPONENT,
		         "task=%s dropping the record of a task "
		         "whose app is gone",
		         key);
		json_decref(rec);
		if (store_delete(sv->store, "tasks", key, &e))
			log_error(SVC_COMPONENT, "task=%s %s", key, e.msg);
		return 0;
	}
	t = xcalloc(1, sizeof(*t));
	t->id = xstrdup(key);
	t->app_id = xstrdup(app_id);
	t->config_version =
	    xstrdup(json_string_value(json_object_get(rec, "configVersion"))
	                ?: a->config_version);
	t->agent_id =
	    xstrdup(json_string_value(json_object_get(rec, "agentId")) ?: "");
	t->hostname =
	    xstrdup(json_string_value(json_object_get(rec, "host")) ?: "");
	attributes_init(&t->attributes);
	if (attributes_from_json(&t->attributes,
	                         json_object_get(rec, "attributes"), &e))
		log_warn(SVC_COMPONENT, "task=%s bad attributes: %s", key,
		         e.msg);
	ports = json_object_get(rec, "ports");
	t->nports = json_array_size(ports);
	t->ports = xcalloc(t->nports + 1, sizeof(int));
	json_array_foreach(ports, i, p) t->ports[i] =
	    (int)json_integer_value(p);
	t->staged_at = json_number_value(json_object_get(rec, "stagedAt"));
	t->checked = json_is_true(json_object_get(rec, "healthChecked"));
	if (json_string_value(json_object_get(rec, "ip")))
		t->ip = xstrdup(json_string_value(json_object_get(rec, "ip")));
	if (json_string_value(json_object_get(rec, "residentId")))
		t->resident_id = xstrdup(
		    json_string_value(json_object_get(rec, "residentId")));
	/* Until reconciliation answers we assume the launch went out. */
	t->state = xstrdup("TASK_STAGING");
	t->healthy = -1;
	svc_task_attach(sv, a, t);
	json_decref(rec);
	return 0;
}

static int svc_load(struct services *sv, struct err *e)
{
	char *val = NULL;
	size_t len;
	int rc;

	rc = store_get(sv->store, "meta", "framework_id", &val, &len, e);
	if (!rc)
		sv->framework_id = val;
	else if (rc != -ENOENT)
		return rc;
	rc = store_scan(sv->store, "apps", svc_load_app, sv, e);
	if (!rc)
		rc = svc_resident_load(sv, e);
	if (!rc)
		rc = store_scan(sv->store, "tasks", svc_load_task, sv, e);
	if (!rc)
		rc = svc_deploy_load(sv, e);
	return rc;
}

/* ---- scheduler callbacks --------------------------------------------------
 */

static void svc_reconcile_all(struct services *sv)
{
	json_t *tasks = json_array();
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->tasks, i, n, tmp)
	{
		struct svc_task *t = container_of(n, struct svc_task, node);
		json_t *o = json_object();

		json_object_set_new(o, "task_id",
		                    json_pack("{s:s}", "value", t->id));
		if (t->agent_id && *t->agent_id)
			json_object_set_new(
			    o, "agent_id",
			    json_pack("{s:s}", "value", t->agent_id));
		json_array_append_new(tasks, o);
	}
	if (json_array_size(tasks))
		(void)atoll_scheduler_reconcile(sv->sched, tasks);
	else
		json_decref(tasks);
	/* Implicit: the master reports every task of ours it knows, which
	 * finds tasks we have no record of. */
	(void)atoll_scheduler_reconcile(sv->sched, NULL);
}

static void svc_on_subscribed(struct atoll_scheduler *s, const char *fw_id,
                              double hb, void *arg)
{
	struct services *sv = arg;
	struct err e = {{0}};

	(void)s;
	(void)hb;
	log_info(SVC_COMPONENT, "framework=%s subscribed", fw_id);
	if (!sv->framework_id || strcmp(sv->framework_id, fw_id)) {
		if (store_put(sv->store, "meta", "framework_id", fw_id,
		              strlen(fw_id), &e))
			log_error(SVC_COMPONENT,
			          "cannot persist the framework id: %s", e.msg);
		free(sv->framework_id);
		sv->framework_id = xstrdup(fw_id);
	}
	sv->suppressed = false;
	svc_reconcile_all(sv);
	svc_event(sv, "framework_message_event",
	          json_pack("{s:s}", "message", "subscribed"));
	svc_kick(sv);
}

static void svc_on_offers(struct atoll_scheduler *s, json_t *offers, void *arg)
{
	(void)s;
	svc_launch_offers(arg, offers);
}

static const char *svc_status_str(const json_t *status, const char *key)
{
	return json_string_value(json_object_get(status, key));
}

static const char *svc_status_id(const json_t *status, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(status, key), "value"));
}

/* Failures that count for backoff (Marathon: FAILED and FINISHED etc.,
 * never a kill we asked for). */
static bool svc_state_is_failure(const char *state)
{
	return strcmp(state, "TASK_KILLED") && strcmp(state, "TASK_KILLING") &&
	       strcmp(state, "TASK_GONE_BY_OPERATOR");
}

static void svc_task_terminal(struct services *sv, struct svc_app *a,
                              struct svc_task *t, const char *state,
                              const char *message)
{
	if (!t->killing && svc_state_is_failure(state)) {
		double ran =
		    t->started_at > 0 ? svc_now_wall() - t->started_at : 0;

		if (ran >= SVC_BACKOFF_RESET)
			a->failures = 0;
		a->failures++;
		a->delay_until =
		    svc_now_mono() +
		    plan_backoff_delay(
			a->app.backoff_seconds, a->app.backoff_factor,
			a->app.max_launch_delay_seconds, a->failures);
		free(a->last_failure);
		a->last_failure = xstrdup(message ? message : state);
		a->last_failure_at = svc_now_wall();
	}
	if (t->healthy == 0 && !strcmp(state, "TASK_KILLED") && !t->killing)
		svc_event(sv, "unhealthy_instance_kill_event",
		          json_pack("{s:s,s:s,s:s,s:s}", "appId", a->app.id,
		                    "taskId", t->id, "version",
		                    t->config_version, "reason",
		                    message ? message : "health check failed"));
	svc_task_forget(sv, t);
}

static void svc_on_update(struct atoll_scheduler *s, json_t *status, void *arg)
{
	struct services *sv = arg;
	const char *task_id = svc_status_id(status, "task_id");
	const char *agent_id = svc_status_id(status, "agent_id");
	const char *state = svc_status_str(status, "state");
	const char *message = svc_status_str(status, "message");
	json_t *healthy = json_object_get(status, "healthy");
	struct svc_task *t;
	struct svc_app *a;
	bool changed;
	int was_healthy;

	(void)s;
	if (!task_id || !state)
		return;
	t = svc_task_find(sv, task_id);
	if (!t) {
		/* Not ours (anymore): make sure it does not run. */
		if (!svc_state_is_terminal(state) &&
		    strcmp(state, "TASK_UNREACHABLE")) {
			log_info(SVC_COMPONENT,
			         "task=%s killing a task we have no record of",
			         task_id);
			(void)atoll_scheduler_kill(sv->sched, task_id,
			                           agent_id);
		}
		return;
	}
	a = svc_app_find(sv, t->app_id);
	BUG_ON(!a);
	changed = strcmp(t->state, state) != 0;
	was_healthy = t->healthy;
	if (changed) {
		free(t->state);
		t->state = xstrdup(state);
	}
	if (message) {
		free(t->message);
		t->message = xstrdup(message);
	}
	if (agent_id && (!t->agent_id || strcmp(t->agent_id, agent_id))) {
		free(t->agent_id);
		t->agent_id = xstrdup(agent_id);
	}
	if (json_is_boolean(healthy))
		t->healthy = json_is_true(healthy);
	if (!strcmp(state, "TASK_UNREACHABLE")) {
		if (t->unreachable_since <= 0)
			t->unreachable_since = svc_now_wall();
	} else {
		t->unreachable_since = 0;
	}
	if (!strcmp(state, "TASK_RUNNING") && t->started_at <= 0)
		t->started_at = svc_now_wall();
	if (changed || svc_state_is_terminal(state))
		svc_event(sv, "status_update_event",
		          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "slaveId",
		                    t->agent_id ? t->agent_id : "", "taskId",
		                    t->id, "taskStatus", state, "message",
		                    message ? message : "", "appId", t->app_id,
		                    "host", t->hostname, "version",
		                    t->config_version));
	if (t->healthy != was_healthy && t->healthy >= 0)
		svc_event(sv, "health_status_changed_event",
		          json_pack("{s:s,s:s,s:s,s:b}", "appId", t->app_id,
		                    "instanceId", t->id, "version",
		                    t->config_version, "alive",
		                    t->healthy == 1));
	if (svc_state_is_terminal(state))
		svc_task_terminal(sv, a, t, state, message);
	svc_kick(sv);
}

static void svc_on_error(struct atoll_scheduler *s, const char *message,
                         void *arg)
{
	struct services *sv = arg;

	(void)s;
	log_error(SVC_COMPONENT, "the master refused us: %s", message);
	/* A framework id the master no longer knows (torn down, or failed
	 * over too long ago): start afresh as a new framework. Our task
	 * records then describe tasks the master killed: reconciliation
	 * reports them and they are relaunched. */
	if (sv->framework_id && strstr(message, "removed")) {
		struct err e = {{0}};

		if (store_delete(sv->store, "meta", "framework_id", &e))
			log_error(SVC_COMPONENT, "%s", e.msg);
	}
}

static void svc_on_failure(struct atoll_scheduler *s, const char *agent_id,
                           const char *executor_id, int status, void *arg)
{
	(void)s;
	(void)executor_id;
	(void)status;
	if (!executor_id)
		log_warn(SVC_COMPONENT, "agent=%s lost", agent_id);
	svc_kick(arg);
}

static void svc_on_disconnected(struct atoll_scheduler *s, void *arg)
{
	(void)s;
	(void)arg;
	log_warn(SVC_COMPONENT, "lost the master; reconnecting");
}

/* ---- the reconcile pass ---------------------------------------------------
 */

static void svc_tick_run(struct services *sv)
{
	struct hmap_node *n, *tmp;
	double now_mono = svc_now_mono(), now = svc_now_wall();
	bool want_offers = false;
	size_t i;

	if (sv->stopping)
		return;
	svc_deploy_tick(sv);
	svc_ready_tick(sv);
	svc_serverset_tick(sv);
	HMAP_FOR_EACH_SAFE(&sv->apps, i, n, tmp)
	{
		struct svc_app *a = container_of(n, struct svc_app, node);
		struct list *pos, *ptmp;

		LIST_FOR_EACH_SAFE(pos, ptmp, &a->tasks)
		{
			struct svc_task *t =
			    list_entry(pos, struct svc_task, app_link);

			if (t->killing &&
			    now_mono - t->killed_at >= sv->cfg.kill_retry)
				svc_task_kill(sv, t);
			if (t->unreachable_since > 0 &&
			    !a->app.unreachable_disabled &&
			    now - t->unreachable_since >=
			        a->app.expunge_after_seconds &&
			    now - t->unreachable_since >=
			        a->app.inactive_after_seconds) {
				/* Expunged: kill it should it come back. */
				log_info(SVC_COMPONENT,
				         "task=%s expunging an unreachable "
				         "task",
				         t->id);
				(void)atoll_scheduler_kill(sv->sched, t->id,
				                           t->agent_id);
				svc_task_forget(sv, t);
			}
		}
		if (svc_launch_wanted(sv, a) > 0) {
			want_offers = true;
			if (a->queued_since <= 0)
				a->queued_since = now;
		} else {
			a->queued_since = 0;
		}
		if (a->deleting && !a->ntasks) {
			struct err e = {{0}};

			if (svc_app_remove(sv, a, &e))
				log_error(SVC_COMPONENT,
				          "cannot remove a deleted app: %s",
				          e.msg);
		}
	}
	if (!atoll_scheduler_is_subscribed(sv->sched))
		return;
	want_offers = svc_resident_releases_pending(sv) || want_offers;
	if (want_offers && sv->suppressed) {
		if (!atoll_scheduler_revive(sv->sched, NULL, 0))
			sv->suppressed = false;
	} else if (!want_offers && !sv->suppressed) {
		if (!atoll_scheduler_suppress(sv->sched, NULL, 0))
			sv->suppressed = true;
	}
}

static void svc_kick_cb(uv_idle_t *h)
{
	struct services *sv = h->data;

	uv_idle_stop(h);
	sv->kick_pending = false;
	svc_tick_run(sv);
}

static void svc_tick_cb(uv_timer_t *h)
{
	struct services *sv = h->data;
	double now = svc_now_mono();

	svc_tick_run(sv);
	/* Periodic implicit reconciliation. */
	if (!atoll_scheduler_is_subscribed(sv->sched))
		return;
	if (!sv->last_reconcile)
		sv->last_reconcile = now;
	if (now - sv->last_reconcile >= sv->cfg.reconcile_interval) {
		sv->last_reconcile = now;
		(void)atoll_scheduler_reconcile(sv->sched, NULL);
	}
}

/* ---- life -----------------------------------------------------------------
 */

static char *svc_framework_info(struct services *sv)
{
	json_t *fi = json_object();
	json_t *caps = json_array();
	const char *cap_names[] = {"PARTITION_AWARE", "TASK_KILLING_STATE"};
	char host[256];
	char *text;

	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		json_array_append_new(caps,
		                      json_pack("{s:s}", "type", cap_names[i]));
	if (gethostname(host, sizeof(host)))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	json_object_set_new(fi, "user",
	                    json_string(sv->cfg.user ? sv->cfg.user : "root"));
	json_object_set_new(fi, "name", json_string(sv->cfg.framework_name));
	json_object_set_new(fi, "role", json_string(sv->cfg.role));
	json_object_set_new(fi, "principal", json_string(sv->cfg.principal));
	json_object_set_new(fi, "failover_timeout",
	                    json_real(sv->cfg.failover_timeout));
	json_object_set_new(fi, "checkpoint", json_true());
	json_object_set_new(
	    fi, "hostname",
	    json_string(sv->cfg.hostname ? sv->cfg.hostname : host));
	json_object_set_new(fi, "capabilities", caps);
	if (sv->framework_id)
		json_object_set_new(
		    fi, "id", json_pack("{s:s}", "value", sv->framework_id));
	text = json_dumps(fi, JSON_COMPACT);
	json_decref(fi);
	return text;
}

static void svc_stop_cb(uv_signal_t *h, int signum)
{
	struct services *sv = h->data;

	(void)signum;
	if (sv->stopping)
		return;
	log_info(SVC_COMPONENT, "stopping (our tasks keep running)");
	sv->stopping = true;
	leader_contender_free(sv->contender);
	sv->contender = NULL;
	leader_detector_free(sv->detector);
	sv->detector = NULL;
	if (sv->leading) {
		uv_timer_stop(&sv->tick);
		uv_idle_stop(&sv->kick);
		uv_close((uv_handle_t *)&sv->tick, NULL);
		uv_close((uv_handle_t *)&sv->kick, NULL);
	}
	svc_events_release(sv);
	svc_ready_release(sv);
	svc_serverset_release(sv);
	if (sv->sched)
		atoll_scheduler_stop(sv->sched);
	http_server_close(sv->http);
	sv->http = NULL;
	atoll_scheduler_free(sv->sched);
	sv->sched = NULL;
	uv_close((uv_handle_t *)&sv->sigint, NULL);
	uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

/*
 * Becomes the acting framework: opens the store (SQLite in --work-dir, or
 * ZooKeeper under <zk path>/state in HA mode), loads the state, subscribes
 * to the master and starts the reconcile pass.
 */
static int svc_lead(struct services *sv, struct err *e)
{
	static const struct atoll_scheduler_callbacks cb = {
	    .subscribed = svc_on_subscribed,
	    .offers = svc_on_offers,
	    .update = svc_on_update,
	    .failure = svc_on_failure,
	    .error = svc_on_error,
	    .disconnected = svc_on_disconnected,
	};
	struct atoll_scheduler_opts opts = {0};
	const char *why = NULL;
	char *path, *fi;
	int rc;

	if (sv->zk.hosts) {
		path = xasprintf("zk://%s%s/state", sv->zk.hosts, sv->zk.path);
	} else {
		if (mkdir(sv->cfg.work_dir, 0750) && errno != EEXIST)
			return err_set(e, "--work-dir: cannot create '%s': %s",
			               sv->cfg.work_dir, strerror(errno));
		path = xasprintf("%s/services.db", sv->cfg.work_dir);
	}
	rc = store_open(path, &sv->store, e);
	free(path);
	if (rc)
		return rc;
	if ((rc = svc_load(sv, e)))
		return rc;
	if ((rc = svc_events_init(sv, e)))
		return rc;
	if ((rc = svc_serverset_init(sv, e)))
		return rc;
	log_info(SVC_COMPONENT, "loaded apps=%zu tasks=%zu framework=%s",
	         sv->apps.count, sv->tasks.count,
	         sv->framework_id ? sv->framework_id : "(new)");
	fi = svc_framework_info(sv);
	opts.master = sv->cfg.master;
	opts.framework_info = fi;
	opts.auto_acknowledge = true;
	sv->sched = atoll_scheduler_new(sv->loop, &opts, &cb, sv, &why);
	free(fi);
	if (!sv->sched)
		return err_set(e, "--master: %s", why);
	atoll_scheduler_start(sv->sched);
	uv_timer_init(sv->loop, &sv->tick);
	sv->tick.data = sv;
	uv_timer_start(&sv->tick, svc_tick_cb, SVC_TICK_MS, SVC_TICK_MS);
	uv_idle_init(sv->loop, &sv->kick);
	sv->kick.data = sv;
	sv->leading = true;
	log_info(SVC_COMPONENT, "leading: port=%d master=%s",
	         http_server_port(sv->http), sv->cfg.master);
	return 0;
}

/* Our "MasterInfo" for the election znode, so that the detector (and any
 * Mesos-aware tool) finds where the leading services framework listens. */
static char *svc_leader_info(struct services *sv)
{
	int port = http_server_port(sv->http);
	char host[256], uuid[IDS_UUID_STRLEN];
	struct in_addr in = {0};
	json_t *info;
	char *text;

	if (gethostname(host, sizeof(host)))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (inet_pton(AF_INET, sv->cfg.ip, &in) != 1)
		in.s_addr = htonl(INADDR_LOOPBACK);
	ids_uuid_str(uuid);
	info = json_pack("{s:s,s:I,s:i,s:s,s:s,s:s,s:{s:s,s:s,s:i}}", "id",
	                 uuid, "ip", (json_int_t)in.s_addr, "port", port,
	                 "hostname", sv->cfg.hostname ? sv->cfg.hostname : host,
	                 "version", ATOLL_VERSION, "pid", "services", "address",
	                 "hostname", sv->cfg.hostname ? sv->cfg.hostname : host,
	                 "ip", sv->cfg.ip, "port", port);
	text = json_dumps(info, JSON_COMPACT);
	json_decref(info);
	return text;
}

static void svc_on_election(struct leader_contender *c, enum leader_event ev,
                            const char *why, void *arg)
{
	struct services *sv = arg;
	struct err e = {{0}};

	(void)c;
	if (ev == LEADER_LOST) {
		/* Crash-only, as Marathon and Mesos: a leader that may have
		 * been replaced must stop acting at once; the supervisor
		 * restarts us as a standby. */
		log_error(SVC_COMPONENT, "leadership lost (%s): exiting", why);
		fflush(stderr);
		_exit(1);
	}
	log_info(SVC_COMPONENT, "elected leader");
	if (svc_lead(sv, &e)) {
		log_error(SVC_COMPONENT, "cannot lead: %s", e.msg);
		fflush(stderr);
		_exit(1);
	}
}

static void svc_on_leader(struct leader_detector *d,
                          const struct leader_info *leader, void *arg)
{
	(void)d;
	(void)arg;
	log_info(SVC_COMPONENT, "leader is %s",
	         leader ? leader->endpoint : "(none)");
}

static int svc_start(struct services *sv, struct err *e)
{
	struct leader_contender_opts copts = {0};
	struct http_server_opts hopts = {0};
	char *election, *info;
	int rc;

	if (sv->cfg.zk) {
		if ((rc = zk_url_parse(sv->cfg.zk, &sv->zk, e)))
			return err_prefix(e, "--zk");
	} else if (!sv->cfg.work_dir) {
		return err_set(e, "--work-dir is required (it holds the "
		                  "store, services.db), or --zk for high "
		                  "availability");
	}
	hopts.ip = sv->cfg.ip;
	hopts.port = (int)sv->cfg.port;
	sv->http = http_server_new(sv->loop, &hopts, svc_api_handle, sv);
	if ((rc = http_server_listen(sv->http, e)))
		return rc;
	if (sv->cfg.port_file &&
	    (rc = http_server_write_port_file(sv->http, sv->cfg.port_file, e)))
		return rc;
	if (!sv->zk.hosts)
		return svc_lead(sv, e);
	/* High availability: lead only once elected; meanwhile answer the
	 * API with redirects to the leader. */
	election = xasprintf("zk://%s%s/leader", sv->zk.hosts, sv->zk.path);
	info = svc_leader_info(sv);
	copts.zk = election;
	copts.master_info = info;
	copts.session_timeout = sv->cfg.zk_session_timeout;
	sv->contender =
	    leader_contender_new(sv->loop, &copts, svc_on_election, sv, e);
	if (sv->contender)
		sv->detector = leader_detector_new(sv->loop, election,
		                                   sv->cfg.zk_session_timeout,
		                                   svc_on_leader, sv, e);
	free(election);
	free(info);
	if (!sv->contender || !sv->detector)
		return -EINVAL;
	log_info(SVC_COMPONENT, "standby: port=%d, contending under %s",
	         http_server_port(sv->http), sv->cfg.zk);
	return 0;
}

static void svc_free(struct services *sv)
{
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->tasks, i, n, tmp)
	svc_task_free(container_of(n, struct svc_task, node));
	HMAP_FOR_EACH_SAFE(&sv->apps, i, n, tmp)
	svc_app_free(container_of(n, struct svc_app, node));
	HMAP_FOR_EACH_SAFE(&sv->residents, i, n, tmp)
	svc_resident_free(container_of(n, struct svc_resident, node));
	hmap_release(&sv->residents);
	svc_resident_release_all(sv);
	hmap_release(&sv->tasks);
	hmap_release(&sv->apps);
	svc_deploy_free_all(sv);
	svc_events_release(sv);
	svc_ready_release(sv);
	svc_serverset_release(sv);
	leader_contender_free(sv->contender);
	leader_detector_free(sv->detector);
	zk_url_release(&sv->zk);
	store_close(sv->store);
	free(sv->framework_id);
	flags_release(svc_flags, ARRAY_SIZE(svc_flags), &sv->cfg);
}

int services_main(int argc, char **argv)
{
	struct services sv = {0};
	struct err e = {{0}};
	enum log_level lvl;
	uv_loop_t loop;
	int rc;

	uv_loop_init(&loop);
	sv.loop = &loop;
	hmap_init(&sv.apps);
	hmap_init(&sv.tasks);
	hmap_init(&sv.residents);
	hmap_init(&sv.releases);
	list_init(&sv.deployments);
	list_init(&sv.sse);
	list_init(&sv.probes);
	list_init(&sv.probes_done);
	sv.started_wall = svc_now_wall();
	rc = flags_parse(svc_flags, ARRAY_SIZE(svc_flags), &sv.cfg, argc, argv,
	                 NULL, &e);
	if (rc == 1) {
		flags_usage(stdout, "atoll services",
		            "Runs the services framework: keeps apps running "
		            "and healthy, deploys them, serves the Marathon v2 "
		            "REST API.",
		            svc_flags, ARRAY_SIZE(svc_flags));
		rc = 0;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "atoll services: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (log_parse_level(sv.cfg.log_level, &lvl)) {
		fprintf(stderr,
		        "atoll services: --log-level: expected error, warn, "
		        "info or debug, got '%s'\n",
		        sv.cfg.log_level);
		rc = 2;
		goto out;
	}
	log_set_level(lvl);
	if ((rc = svc_start(&sv, &e))) {
		fprintf(stderr, "atoll services: %s\n", e.msg);
		rc = 1;
		goto out_close;
	}
	uv_signal_init(&loop, &sv.sigint);
	sv.sigint.data = &sv;
	uv_signal_start(&sv.sigint, svc_stop_cb, SIGINT);
	uv_signal_init(&loop, &sv.sigterm);
	sv.sigterm.data = &sv;
	uv_signal_start(&sv.sigterm, svc_stop_cb, SIGTERM);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
	goto out;
out_close:
	/* Partially started: close what exists and drain the loop. */
	leader_contender_free(sv.contender);
	sv.contender = NULL;
	leader_detector_free(sv.detector);
	sv.detector = NULL;
	if (sv.http)
		http_server_close(sv.http);
	sv.http = NULL;
	if (sv.sched)
		atoll_scheduler_free(sv.sched);
	sv.sched = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
out:
	svc_free(&sv);
	uv_loop_close(&loop);
	return rc;
}
