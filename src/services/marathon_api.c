/*
 * marathon_api.c: the Marathon v2 REST API of `atoll services`.
 *
 * Routes (Marathon's paths, bodies and status codes; docs/services.md
 * lists what differs):
 *
 *   GET  /ping                         pong
 *   GET  /v2/info, /v2/leader
 *   GET  /v2/apps                      ?id= ?cmd= ?label=k==v ?embed=apps.tasks
 *   POST /v2/apps                      201 | 409 exists | 422 invalid
 *   PUT|PATCH /v2/apps                 bulk update, one deployment
 *   GET|PUT|PATCH|DELETE /v2/apps/ID   PUT body {"version": V} = rollback
 *   POST /v2/apps/ID/restart
 *   GET|DELETE /v2/apps/ID/tasks       ?scale=true ?host=
 *   DELETE /v2/apps/ID/tasks/TASK      ?scale=true
 *   GET  /v2/apps/ID/versions[/V]
 *   GET|POST|PUT|PATCH|DELETE /v2/groups[/ID]   ?dryRun=true ?force=true
 *   GET  /v2/deployments; DELETE /v2/deployments/ID (roll back; ?force)
 *   GET  /v2/tasks ?status=running|staging; POST /v2/tasks/delete ?scale
 *   GET  /v2/queue; DELETE /v2/queue/ID/delay
 *   GET  /v2/events                    SSE, resumable (svc_events.c)
 *   GET  /v2/endpoints                 Atoll: healthy host:ports per app
 *   GET  /metrics/snapshot, /metrics   Atoll: flat JSON and Prometheus text
 *
 * Every mutation is validated fully before anything changes (422 lists
 * every problem with its path), committed to the store, then answered;
 * locked apps answer 409 unless ?force=true.
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include <math.h>
#include <time.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/jsonw.h"
#include "lib/leader.h"
#include "lib/log.h"
#include "lib/prometheus.h"
#include "lib/store.h"
#include "lib/version.h"
#include "services/app.h"

#define JSON_TYPE "application/json"

/* ---- responses ---------------------------------------------------------- */

static void api_json(struct http_request *req, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	http_respond(req, status, JSON_TYPE, text, strlen(text));
	free(text);
	json_decref(j);
}

/* Marathon's error body: {"message": "..."}. */
static void api_message(struct http_request *req, int status, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
static void api_message(struct http_request *req, int status, const char *fmt,
                        ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_json(req, status, json_pack("{s:s}", "message", msg));
}

static void api_problems(struct http_request *req, const struct app_problems *p)
{
	struct buf b;
	struct jsonw w;

	buf_init(&b);
	jsonw_init(&w, &b);
	app_problems_write_json(&w, p);
	http_respond_buf(req, 422, JSON_TYPE, &b);
	buf_release(&b);
}

static void api_store_error(struct http_request *req, int rc,
                            const struct err *e)
{
	if (rc == -EBUSY && strstr(e->msg, "locked"))
		api_message(req, 409, "%s", e->msg);
	else if (rc == -ELOOP)
		api_message(req, 422, "%s", e->msg);
	else if (rc == -ENOSPC)
		api_message(req, 507, "%s", e->msg);
	else
		api_message(req, 503, "%s", e->msg);
}

static bool api_flag(const struct http_request *req, const char *name)
{
	char *v = http_request_query(req, name);
	bool on = v && (!strcmp(v, "true") || !strcmp(v, "1") || !*v);

	free(v);
	return on;
}

/* Parses the request body as a JSON object or answers 400. */
static json_t *api_body(struct http_request *req, bool want_array)
{
	json_error_t je;
	json_t *j;

	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		api_message(req, 400, "Invalid JSON: %s (line %d, column %d)",
		            je.text, je.line, je.column);
		return NULL;
	}
	if (want_array ? !json_is_array(j) : !json_is_object(j)) {
		api_message(req, 400, "Invalid JSON: expected an %s",
		            want_array ? "array" : "object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The answer to a change: {"version","deploymentId"} and the header. */
static void api_deployed(struct services *sv, struct http_request *req,
                         int status, const struct svc_deployment *d,
                         const char *version)
{
	json_t *j = json_object();

	if (d) {
		http_request_add_header(req, "Marathon-Deployment-Id", d->id);
		json_object_set_new(j, "deploymentId", json_string(d->id));
		json_object_set_new(j, "version", json_string(d->version));
	} else {
		char *v = svc_version_new(sv);

		json_object_set_new(j, "version",
		                    json_string(version ? version : v));
		free(v);
	}
	api_json(req, status, j);
}

/* Starts a response document {"<key>": [ ... */
static void api_list_begin(struct buf *b, struct jsonw *w, const char *key)
{
	buf_init(b);
	jsonw_init(w, b);
	jsonw_obj_begin(w);
	jsonw_key(w, key);
	jsonw_arr_begin(w);
}

/* ... ]} and sends it (200). */
static void api_list_end(struct http_request *req, struct buf *b,
                         struct jsonw *w)
{
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	http_respond_buf(req, 200, JSON_TYPE, b);
	buf_release(b);
}

/* ---- apps: writing --------------------------------------------------------
 */

static void api_write_app(struct jsonw *w, struct services *sv,
                          struct svc_app *a, bool tasks)
{
	struct svc_deployment *d = svc_deploy_of_app(sv, a->app.id);
	int staged = 0, running = 0, healthy = 0, unhealthy = 0;
	struct list *pos;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (!strcmp(t->state, "TASK_RUNNING")) {
			running++;
			if (t->checked) {
				healthy += t->healthy == 1;
				unhealthy += t->healthy == 0;
			}
		} else if (!strcmp(t->state, "TASK_STAGING") ||
		           !strcmp(t->state, "TASK_STARTING")) {
			staged++;
		}
	}
	jsonw_obj_begin(w);
	app_write_fields(w, &a->app);
	jsonw_key(w, "versionInfo");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "lastScalingAt", a->scaling_version);
	jsonw_kstr(w, "lastConfigChangeAt", a->config_version);
	jsonw_obj_end(w);
	jsonw_kint(w, "tasksStaged", staged);
	jsonw_kint(w, "tasksRunning", running);
	jsonw_kint(w, "tasksHealthy", healthy);
	jsonw_kint(w, "tasksUnhealthy", unhealthy);
	jsonw_key(w, "deployments");
	jsonw_arr_begin(w);
	if (d) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "id", d->id);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	if (a->last_failure) {
		jsonw_key(w, "lastTaskFailure");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "appId", a->app.id);
		jsonw_kstr(w, "message", a->last_failure);
		jsonw_kdouble(w, "timestamp", a->last_failure_at);
		jsonw_obj_end(w);
	}
	if (tasks) {
		jsonw_key(w, "tasks");
		jsonw_arr_begin(w);
		for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next)
			svc_task_write(
			    w, sv, a,
			    list_entry(pos, struct svc_task, app_link));
		jsonw_arr_end(w);
	}
	jsonw_obj_end(w);
}

static bool api_app_visible(const struct svc_app *a)
{
	return !a->deleting;
}

/* ?label=key or key==value or key!=value */
static bool api_label_match(const struct app *app, const char *sel)
{
	const char *eq = strstr(sel, "==");
	const char *ne = strstr(sel, "!=");
	const char *op = eq ? eq : ne;
	size_t klen = op ? (size_t)(op - sel) : strlen(sel);

	for (size_t i = 0; i < app->nlabels; i++) {
		if (strlen(app->labels[i].key) != klen ||
		    strncmp(app->labels[i].key, sel, klen))
			continue;
		if (!op)
			return true;
		return eq ? !strcmp(app->labels[i].value, op + 2)
		          : strcmp(app->labels[i].value, op + 2) != 0;
	}
	return ne != NULL;
}

static int api_app_cmp(const void *x, const void *y)
{
	return strcmp((*(struct svc_app *const *)x)->app.id,
	              (*(struct svc_app *const *)y)->app.id);
}

/* The visible apps sorted by id (caller frees the array). */
static struct svc_app **api_sorted_apps(struct services *sv, size_t *n)
{
	struct svc_app **v = xcalloc(sv->apps.count + 1, sizeof(*v));
	struct hmap_node *node, *tmp;
	size_t i;

	*n = 0;
	HMAP_FOR_EACH_SAFE(&sv->apps, i, node, tmp)
	{
		struct svc_app *a = container_of(node, struct svc_app, node);

		if (api_app_visible(a))
			v[(*n)++] = a;
	}
	qsort(v, *n, sizeof(*v), api_app_cmp);
	return v;
}

static void api_apps_get(struct services *sv, struct http_request *req)
{
	char *id = http_request_query(req, "id");
	char *cmd = http_request_query(req, "cmd");
	char *label = http_request_query(req, "label");
	char *embed = http_request_query(req, "embed");
	bool tasks = embed && strstr(embed, "tasks");
	struct svc_app **apps;
	struct buf b;
	struct jsonw w;
	size_t n;

	apps = api_sorted_apps(sv, &n);
	api_list_begin(&b, &w, "apps");
	for (size_t i = 0; i < n; i++) {
		struct app *app = &apps[i]->app;

		if (id && !strstr(app->id, id))
			continue;
		if (cmd && (!app->cmd || !strstr(app->cmd, cmd)))
			continue;
		if (label && !api_label_match(app, label))
			continue;
		api_write_app(&w, sv, apps[i], tasks);
	}
	api_list_end(req, &b, &w);
	free(apps);
	free(id);
	free(cmd);
	free(label);
	free(embed);
}

/* ---- apps: changing -------------------------------------------------------
 */

/*
 * Parses obj (taken) as app definition(s) into *out. Returns false after
 * answering 422.
 */
static bool api_parse_app(struct http_request *req, json_t *obj,
                          const char *path_prefix, struct app *out)
{
	struct app_problems probs;
	bool ok;

	app_problems_init(&probs);
	app_init(out);
	json_object_del(obj, "version"); /* read-only */
	ok = !app_from_json(out, obj, "/", path_prefix, &probs);
	if (!ok) {
		api_problems(req, &probs);
		app_release(out);
	}
	app_problems_release(&probs);
	return ok;
}

/* Merges patch into the current definition of id (PATCH semantics). */
static json_t *api_merge(struct services *sv, const char *id, json_t *patch)
{
	struct svc_app *a = svc_app_find(sv, id);
	json_t *merged;

	if (!a || a->deleting)
		return json_incref(patch);
	merged = json_deep_copy(a->app.definition);
	json_object_update(merged, patch);
	return merged;
}

static void api_apps_post(struct services *sv, struct http_request *req)
{
	json_t *body = api_body(req, false);
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	struct svc_app *a;
	struct app def;
	struct buf b;
	struct jsonw w;
	char *id;
	int rc;

	if (!body)
		return;
	if (!api_parse_app(req, body, "", &def)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	a = svc_app_find(sv, def.id);
	if (a && !a->deleting) {
		api_message(req, 409, "An app with id [%s] already exists.",
		            def.id);
		app_release(&def);
		return;
	}
	id = xstrdup(def.id);
	rc = svc_deploy_change(sv, &def, 1, NULL, 0, api_flag(req, "force"),
	                       false, false, &d, NULL, &e);
	app_release(&def);
	if (rc) {
		free(id);
		api_store_error(req, rc, &e);
		return;
	}
	a = svc_app_find(sv, id);
	free(id);
	if (d)
		http_request_add_header(req, "Marathon-Deployment-Id", d->id);
	if (!a) {
		api_deployed(sv, req, 201, d, NULL);
		return;
	}
	http_request_add_header(req, "Location", a->app.id);
	buf_init(&b);
	jsonw_init(&w, &b);
	api_write_app(&w, sv, a, false);
	http_respond_buf(req, 201, JSON_TYPE, &b);
	buf_release(&b);
}

/*
 * PUT/PATCH of one app. partial: merge into the existing definition.
 * A body {"version": V} alone rolls back to that stored version.
 */
static void api_app_put(struct services *sv, struct http_request *req,
                        const char *id, bool partial)
{
	json_t *body = api_body(req, false), *merged;
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	struct svc_app *a = svc_app_find(sv, id);
	bool exists = a && !a->deleting;
	struct app def;
	int rc;

	if (!body)
		return;
	if (json_object_size(body) == 1 &&
	    json_string_value(json_object_get(body, "version"))) {
		/* Rollback to a stored version. */
		char *ns = xasprintf("versions:%s", id);
		char *val = NULL;
		size_t len;

		rc = store_get(
		    sv->store, ns,
		    json_string_value(json_object_get(body, "version")), &val,
		    &len, &e);
		free(ns);
		json_decref(body);
		if (rc == -ENOENT) {
			api_message(req, 404, "App '%s' has no version '%s'",
			            id, "requested");
			return;
		}
		if (rc) {
			api_store_error(req, rc, &e);
			return;
		}
		body = json_loadb(val, len, 0, NULL);
		free(val);
		if (!body) {
			api_message(req, 500, "stored version unreadable");
			return;
		}
		partial = false;
	}
	json_object_set_new(body, "id", json_string(id));
	merged = partial ? api_merge(sv, id, body) : json_incref(body);
	json_decref(body);
	if (!api_parse_app(req, merged, "", &def)) {
		json_decref(merged);
		return;
	}
	json_decref(merged);
	rc = svc_deploy_change(sv, &def, 1, NULL, 0, api_flag(req, "force"),
	                       false, false, &d, NULL, &e);
	app_release(&def);
	if (rc) {
		api_store_error(req, rc, &e);
		return;
	}
	api_deployed(sv, req, exists ? 200 : 201, d, NULL);
}

/* PUT/PATCH /v2/apps: a list of apps in one deployment. */
static void api_apps_bulk(struct services *sv, struct http_request *req,
                          bool partial)
{
	json_t *body = api_body(req, true), *item;
	struct app_problems probs;
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	struct app *defs;
	size_t n, i;
	int rc;

	if (!body)
		return;
	n = json_array_size(body);
	defs = xcalloc(n + 1, sizeof(*defs));
	app_problems_init(&probs);
	json_array_foreach(body, i, item)
	{
		char prefix[32];
		json_t *obj;
		const char *id;

		snprintf(prefix, sizeof(prefix), "(%zu)", i);
		app_init(&defs[i]);
		if (!json_is_object(item)) {
			app_problems_add(&probs, prefix, "must be an object");
			continue;
		}
		id = json_string_value(json_object_get(item, "id"));
		obj =
		    partial && id ? api_merge(sv, id, item) : json_incref(item);
		json_object_del(obj, "version");
		if (app_from_json(&defs[i], obj, "/", prefix, &probs))
			log_debug(SVC_COMPONENT,
			          "bulk update: item %zu invalid", i);
		json_decref(obj);
	}
	json_decref(body);
	if (probs.n) {
		api_problems(req, &probs);
		rc = 0;
		goto out;
	}
	rc = svc_deploy_change(sv, defs, n, NULL, 0, api_flag(req, "force"),
	                       false, false, &d, NULL, &e);
	if (rc)
		api_store_error(req, rc, &e);
	else
		api_deployed(sv, req, 200, d, NULL);
out:
	for (i = 0; i < n; i++)
		app_release(&defs[i]);
	free(defs);
	app_problems_release(&probs);
}

static void api_app_delete(struct services *sv, struct http_request *req,
                           const char *id)
{
	struct svc_app *a = svc_app_find(sv, id);
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	const char *ids[1] = {id};
	int rc;

	if (!a || a->deleting) {
		api_message(req, 404, "App '%s' does not exist", id);
		return;
	}
	rc = svc_deploy_change(sv, NULL, 0, ids, 1, api_flag(req, "force"),
	                       false, false, &d, NULL, &e);
	if (rc)
		api_store_error(req, rc, &e);
	else
		api_deployed(sv, req, 200, d, NULL);
}

static void api_app_restart(struct services *sv, struct http_request *req,
                            const char *id)
{
	struct svc_app *a = svc_app_find(sv, id);
	struct svc_deployment *d = NULL;
	struct app_problems probs;
	struct err e = {{0}};
	struct app def;
	int rc;

	if (!a || a->deleting) {
		api_message(req, 404, "App '%s' does not exist", id);
		return;
	}
	app_init(&def);
	app_problems_init(&probs);
	rc = app_from_json(&def, a->app.definition, "/", "", &probs);
	app_problems_release(&probs);
	if (rc) {
		app_release(&def);
		api_message(req, 500, "stored definition of '%s' unreadable",
		            id);
		return;
	}
	rc = svc_deploy_change(sv, &def, 1, NULL, 0, api_flag(req, "force"),
	                       false, true, &d, NULL, &e);
	app_release(&def);
	if (rc)
		api_store_error(req, rc, &e);
	else
		api_deployed(sv, req, 200, d, NULL);
}

/* ---- tasks ----------------------------------------------------------------
 */

static bool api_status_filter(const char *status, const struct svc_task *t)
{
	if (!status)
		return true;
	if (!strcasecmp(status, "running"))
		return !strcmp(t->state, "TASK_RUNNING");
	if (!strcasecmp(status, "staging"))
		return !strcmp(t->state, "TASK_STAGING") ||
		       !strcmp(t->state, "TASK_STARTING");
	return true;
}

static void api_tasks_of(struct jsonw *w, struct services *sv,
                         struct svc_app *a, const char *status)
{
	struct list *pos;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (api_status_filter(status, t))
			svc_task_write(w, sv, a, t);
	}
}

static void api_tasks_get(struct services *sv, struct http_request *req,
                          struct svc_app *only)
{
	char *status = http_request_query(req, "status");
	struct svc_app **apps;
	struct buf b;
	struct jsonw w;
	size_t n;

	apps = api_sorted_apps(sv, &n);
	api_list_begin(&b, &w, "tasks");
	for (size_t i = 0; i < n; i++)
		if (!only || apps[i] == only)
			api_tasks_of(&w, sv, apps[i], status);
	api_list_end(req, &b, &w);
	free(apps);
	free(status);
}

/*
 * Kills tasks (ids, or all of app a on host). With scale, the apps'
 * instance counts shrink by the number killed (one deployment);
 * otherwise they are replaced as usual.
 */
static void api_tasks_kill(struct services *sv, struct http_request *req,
                           struct svc_task **victims, size_t n, bool scale,
                           bool single)
{
	struct buf b;
	struct jsonw w;

	if (scale) {
		struct app *defs = xcalloc(n + 1, sizeof(*defs));
		size_t ndefs = 0;
		struct svc_deployment *d = NULL;
		struct err e = {{0}};
		int rc = 0;

		/* New instance counts per app. */
		for (size_t i = 0; i < n; i++) {
			struct svc_app *a =
			    svc_app_find(sv, victims[i]->app_id);
			struct app_problems probs;
			size_t k;

			for (k = 0; k < ndefs; k++)
				if (!strcmp(defs[k].id, a->app.id))
					break;
			if (k == ndefs) {
				app_init(&defs[k]);
				app_problems_init(&probs);
				rc = app_from_json(&defs[k], a->app.definition,
				                   "/", "", &probs);
				app_problems_release(&probs);
				ndefs++;
				if (rc)
					break;
			}
			if (defs[k].instances > 0)
				defs[k].instances--;
			json_object_set_new(defs[k].definition, "instances",
			                    json_integer(defs[k].instances));
		}
		if (!rc)
			rc = svc_deploy_change(sv, defs, ndefs, NULL, 0, true,
			                       false, false, &d, NULL, &e);
		for (size_t k = 0; k < ndefs; k++)
			app_release(&defs[k]);
		free(defs);
		if (rc) {
			api_store_error(req, rc, &e);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			struct svc_task *t = svc_task_find(sv, victims[i]->id);

			if (t)
				svc_task_kill(sv, t);
		}
		api_deployed(sv, req, 200, d, NULL);
		return;
	}
	buf_init(&b);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_key(&w, single ? "task" : "tasks");
	if (!single)
		jsonw_arr_begin(&w);
	for (size_t i = 0; i < n; i++) {
		svc_task_kill(sv, victims[i]);
		svc_task_write(&w, sv, svc_app_find(sv, victims[i]->app_id),
		               victims[i]);
	}
	if (!single)
		jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, JSON_TYPE, &b);
	buf_release(&b);
}

/* ?wipe=true: the instances' reservations and volumes are released too
 * (a resident instance is otherwise relaunched on them). */
static void api_wipe(struct services *sv, struct svc_task **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct svc_resident *r =
		    v[i]->resident_id ? svc_resident_find(sv, v[i]->resident_id)
				      : NULL;

		if (r)
			svc_resident_forget(sv, r);
	}
}

static void api_app_tasks_delete(struct services *sv, struct http_request *req,
                                 struct svc_app *a, const char *task_id)
{
	char *host = http_request_query(req, "host");
	struct svc_task **v = xcalloc(a->ntasks + 1, sizeof(*v));
	struct list *pos;
	size_t n = 0;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (task_id && strcmp(t->id, task_id))
			continue;
		if (host && strcmp(t->hostname, host))
			continue;
		v[n++] = t;
	}
	if (task_id && !n) {
		api_message(req, 404, "Task '%s' does not exist", task_id);
	} else {
		if (api_flag(req, "wipe"))
			api_wipe(sv, v, n);
		api_tasks_kill(sv, req, v, n, api_flag(req, "scale"),
		               task_id != NULL);
	}
	free(v);
	free(host);
}

static void api_tasks_delete(struct services *sv, struct http_request *req)
{
	json_t *body = api_body(req, false), *ids, *id;
	struct svc_task **v;
	size_t n = 0, i;

	if (!body)
		return;
	ids = json_object_get(body, "ids");
	if (!json_is_array(ids)) {
		struct app_problems probs;

		app_problems_init(&probs);
		app_problems_add(&probs, "/ids",
		                 "must be an array of task ids");
		api_problems(req, &probs);
		app_problems_release(&probs);
		json_decref(body);
		return;
	}
	v = xcalloc(json_array_size(ids) + 1, sizeof(*v));
	json_array_foreach(ids, i, id)
	{
		struct svc_task *t =
		    json_is_string(id)
			? svc_task_find(sv, json_string_value(id))
			: NULL;
		bool dup = false;

		for (size_t k = 0; t && k < n; k++)
			dup = dup || v[k] == t;
		if (t && !dup)
			v[n++] = t;
	}
	if (api_flag(req, "wipe"))
		api_wipe(sv, v, n);
	api_tasks_kill(sv, req, v, n, api_flag(req, "scale"), false);
	free(v);
	json_decref(body);
}

/* ---- versions -------------------------------------------------------------
 */

struct api_versions {
	struct jsonw *w;
	const char *want;
	char *found;
	size_t len;
};

static int api_version_cb(const char *key, const char *val, size_t len,
                          void *arg)
{
	struct api_versions *av = arg;

	if (!av->want) {
		jsonw_str(av->w, key);
		return 0;
	}
	if (!strcmp(key, av->want)) {
		av->found = xstrndup(val, len);
		av->len = len;
		return 1;
	}
	return 0;
}

static void api_app_versions(struct services *sv, struct http_request *req,
                             struct svc_app *a, const char *version)
{
	char *ns = xasprintf("versions:%s", a->app.id);
	struct api_versions av = {0};
	struct err e = {{0}};
	struct buf b;
	struct jsonw w;
	int rc;

	buf_init(&b);
	jsonw_init(&w, &b);
	av.w = &w;
	av.want = version;
	if (!version) {
		jsonw_obj_begin(&w);
		jsonw_key(&w, "versions");
		jsonw_arr_begin(&w);
	}
	rc = store_scan(sv->store, ns, api_version_cb, &av, &e);
	free(ns);
	if (rc < 0) {
		buf_release(&b);
		api_store_error(req, rc, &e);
		return;
	}
	if (!version) {
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
		http_respond_buf(req, 200, JSON_TYPE, &b);
	} else if (!av.found) {
		api_message(req, 404, "App '%s' has no version '%s'", a->app.id,
		            version);
	} else {
		json_t *def = json_loadb(av.found, av.len, 0, NULL);
		struct app tmp;
		struct app_problems probs;

		app_init(&tmp);
		app_problems_init(&probs);
		if (def && !app_from_json(&tmp, def, "/", "", &probs)) {
			free(tmp.version);
			tmp.version = xstrdup(version);
			jsonw_obj_begin(&w);
			app_write_fields(&w, &tmp);
			jsonw_obj_end(&w);
			http_respond_buf(req, 200, JSON_TYPE, &b);
		} else {
			api_message(req, 500, "stored version unreadable");
		}
		app_release(&tmp);
		app_problems_release(&probs);
		json_decref(def);
	}
	free(av.found);
	buf_release(&b);
}

/* ---- /v2/apps/... routing -------------------------------------------------
 */

/* Splits "/product/db/tasks/x.y" into id "/product/db", suffix "tasks",
 * rest "x.y". */
static void api_split(const char *p, char **id, const char **suffix,
                      const char **rest)
{
	static const char *const sfx[] = {"/restart", "/tasks", "/versions"};

	*suffix = NULL;
	*rest = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		const char *hit = NULL, *s = p;
		size_t l = strlen(sfx[i]);

		while ((s = strstr(s, sfx[i])) != NULL) {
			if (s[l] == '\0' || s[l] == '/')
				hit = s;
			s += l;
		}
		if (hit && hit != p) {
			*id = xstrndup(p, (size_t)(hit - p));
			*suffix = sfx[i] + 1;
			*rest =
			    hit[l] == '/' && hit[l + 1] ? hit + l + 1 : NULL;
			return;
		}
	}
	*id = xstrdup(p);
}

static void api_app_route(struct services *sv, struct http_request *req,
                          const char *sub)
{
	const char *m = req->method, *suffix, *rest;
	struct err e = {{0}};
	struct svc_app *a;
	char *raw, *id;

	api_split(sub, &raw, &suffix, &rest);
	id = app_id_resolve("/", raw, &e);
	free(raw);
	if (!id) {
		struct app_problems probs;

		app_problems_init(&probs);
		app_problems_add(&probs, "/id", "%s", e.msg);
		api_problems(req, &probs);
		app_problems_release(&probs);
		return;
	}
	a = svc_app_find(sv, id);
	if (a && a->deleting)
		a = NULL;
	if (!suffix) {
		if (!strcmp(m, "GET")) {
			struct buf b;
			struct jsonw w;

			if (!a) {
				api_message(req, 404, "App '%s' does not exist",
				            id);
				goto out;
			}
			buf_init(&b);
			jsonw_init(&w, &b);
			jsonw_obj_begin(&w);
			jsonw_key(&w, "app");
			api_write_app(&w, sv, a, true);
			jsonw_obj_end(&w);
			http_respond_buf(req, 200, JSON_TYPE, &b);
			buf_release(&b);
		} else if (!strcmp(m, "PUT")) {
			char *p = http_request_query(req, "partialUpdate");

			api_app_put(sv, req, id, !p || strcmp(p, "false"));
			free(p);
		} else if (!strcmp(m, "PATCH")) {
			api_app_put(sv, req, id, true);
		} else if (!strcmp(m, "DELETE")) {
			api_app_delete(sv, req, id);
		} else {
			api_message(req, 405, "Method %s not allowed", m);
		}
		goto out;
	}
	if (!a) {
		api_message(req, 404, "App '%s' does not exist", id);
		goto out;
	}
	if (!strcmp(suffix, "restart") && !strcmp(m, "POST") && !rest)
		api_app_restart(sv, req, id);
	else if (!strcmp(suffix, "tasks") && !strcmp(m, "GET") && !rest)
		api_tasks_get(sv, req, a);
	else if (!strcmp(suffix, "tasks") && !strcmp(m, "DELETE"))
		api_app_tasks_delete(sv, req, a, rest);
	else if (!strcmp(suffix, "versions") && !strcmp(m, "GET"))
		api_app_versions(sv, req, a, rest);
	else
		api_message(req, 405, "Method %s not allowed on %s", m,
		            req->path);
out:
	free(id);
}

/* ---- groups ---------------------------------------------------------------
 */

/* Writes the group id with its apps and subgroups, derived from app ids. */
static void api_write_group(struct jsonw *w, struct services *sv,
                            const char *gid, struct svc_app **apps, size_t n)
{
	size_t glen = strlen(gid);
	char **subs = NULL;
	size_t nsubs = 0, cap = 0;

	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", gid);
	jsonw_key(w, "apps");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		char *parent = app_id_parent(apps[i]->app.id);

		if (!strcmp(parent, gid))
			api_write_app(w, sv, apps[i], false);
		else if (app_id_is_under(apps[i]->app.id, gid)) {
			/* The child group directly under gid. */
			const char *s = apps[i]->app.id + (glen > 1 ? glen : 0);
			const char *slash = strchr(s + 1, '/');
			char *child = xstrndup(
			    apps[i]->app.id, (size_t)(slash - apps[i]->app.id));
			bool seen = false;

			for (size_t k = 0; k < nsubs && !seen; k++)
				seen = !strcmp(subs[k], child);
			if (!seen) {
				ALLOC_GROW(subs, nsubs + 1, cap);
				subs[nsubs++] = child;
			} else {
				free(child);
			}
		}
		free(parent);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "groups");
	jsonw_arr_begin(w);
	for (size_t k = 0; k < nsubs; k++) {
		api_write_group(w, sv, subs[k], apps, n);
		free(subs[k]);
	}
	jsonw_arr_end(w);
	free(subs);
	jsonw_key(w, "dependencies");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void api_groups_get(struct services *sv, struct http_request *req,
                           const char *gid)
{
	struct svc_app **apps;
	bool any = !strcmp(gid, "/");
	struct buf b;
	struct jsonw w;
	size_t n;

	apps = api_sorted_apps(sv, &n);
	for (size_t i = 0; i < n && !any; i++)
		any = app_id_is_under(apps[i]->app.id, gid) &&
		      strcmp(apps[i]->app.id, gid);
	if (!any) {
		api_message(req, 404, "Group '%s' does not exist", gid);
		free(apps);
		return;
	}
	buf_init(&b);
	jsonw_init(&w, &b);
	api_write_group(&w, sv, gid, apps, n);
	http_respond_buf(req, 200, JSON_TYPE, &b);
	buf_release(&b);
	free(apps);
}

/* PUT /v2/groups/ID {"scaleBy": F}: every app under the group gets
 * ceil(instances * F) instances, in one deployment. */
static void api_groups_scale(struct services *sv, struct http_request *req,
                             const char *gid, const json_t *factor)
{
	struct svc_deployment *d = NULL;
	struct app_problems probs;
	struct err e = {{0}};
	struct svc_app **cur;
	struct app *defs;
	size_t ncur, n = 0;
	double f = json_number_value(factor);
	int rc = 0;

	app_problems_init(&probs);
	if (!json_is_number(factor) || !(f >= 0) || f > 1000) {
		app_problems_add(&probs, "/scaleBy",
		                 "must be a number between 0 and 1000");
		api_problems(req, &probs);
		app_problems_release(&probs);
		return;
	}
	cur = api_sorted_apps(sv, &ncur);
	defs = xcalloc(ncur + 1, sizeof(*defs));
	for (size_t i = 0; i < ncur && !rc; i++) {
		long inst;

		if (!app_id_is_under(cur[i]->app.id, gid))
			continue;
		app_init(&defs[n]);
		rc = app_from_json(&defs[n], cur[i]->app.definition, "/", "",
		                   &probs);
		inst = (long)ceil(cur[i]->app.instances * f);
		defs[n].instances = (int)inst;
		json_object_set_new(defs[n].definition, "instances",
		                    json_integer(inst));
		n++;
	}
	if (rc)
		api_message(req, 500, "a stored definition is unreadable");
	else if (!n && strcmp(gid, "/"))
		api_message(req, 404, "Group '%s' does not exist", gid);
	else if ((rc = svc_deploy_change(sv, defs, n, NULL, 0,
	                                 api_flag(req, "force"), false, false,
	                                 &d, NULL, &e)))
		api_store_error(req, rc, &e);
	else
		api_deployed(sv, req, 200, d, NULL);
	for (size_t i = 0; i < n; i++)
		app_release(&defs[i]);
	free(defs);
	free(cur);
	app_problems_release(&probs);
}

/*
 * POST/PUT of a group: the group's apps become exactly those given (apps
 * under the group that are not in the body are stopped, for PUT).
 */
static void api_groups_put(struct services *sv, struct http_request *req,
                           const char *gid, bool create)
{
	json_t *body = api_body(req, false), *plan = NULL;
	struct app_problems probs;
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	struct group g;
	struct app *apps = NULL;
	size_t napps = 0, nremoved = 0;
	const char **removed = NULL;
	struct svc_app **cur;
	size_t ncur;
	bool dry = api_flag(req, "dryRun");
	int rc;

	if (!body)
		return;
	if (!create && json_object_get(body, "scaleBy")) {
		api_groups_scale(sv, req, gid,
		                 json_object_get(body, "scaleBy"));
		json_decref(body);
		return;
	}
	if (!json_object_get(body, "id") && strcmp(gid, "/"))
		json_object_set_new(body, "id", json_string(gid));
	group_init(&g);
	app_problems_init(&probs);
	rc = group_from_json(&g, body, "/", &probs);
	json_decref(body);
	if (rc) {
		api_problems(req, &probs);
		goto out;
	}
	if (strcmp(gid, "/") && strcmp(g.id, gid)) {
		app_problems_add(
		    &probs, "/id",
		    "must be '%s' (the group of the URL), got '%s'", gid, g.id);
		api_problems(req, &probs);
		goto out;
	}
	group_take_apps(&g, &apps, &napps);
	cur = api_sorted_apps(sv, &ncur);
	if (create) {
		for (size_t i = 0; i < ncur; i++)
			if (app_id_is_under(cur[i]->app.id, g.id) &&
			    strcmp(g.id, "/")) {
				api_message(req, 409,
				            "Group '%s' already exists", g.id);
				free(cur);
				goto out;
			}
	} else {
		removed = xcalloc(ncur + 1, sizeof(*removed));
		for (size_t i = 0; i < ncur; i++) {
			bool kept = false;

			if (!app_id_is_under(cur[i]->app.id, g.id))
				continue;
			for (size_t k = 0; k < napps && !kept; k++)
				kept = !strcmp(apps[k].id, cur[i]->app.id);
			if (!kept)
				removed[nremoved++] = cur[i]->app.id;
		}
	}
	rc = svc_deploy_change(sv, apps, napps, removed, nremoved,
	                       api_flag(req, "force"), dry, false, &d, &plan,
	                       &e);
	free(cur);
	if (rc) {
		api_store_error(req, rc, &e);
		goto out;
	}
	if (dry) {
		api_json(req, 200, plan ? plan : json_object());
		plan = NULL;
		goto out;
	}
	api_deployed(sv, req, create ? 201 : 200, d, NULL);
out:
	json_decref(plan);
	for (size_t i = 0; i < napps; i++)
		app_release(&apps[i]);
	free(apps);
	free(removed);
	group_release(&g);
	app_problems_release(&probs);
}

static void api_groups_delete(struct services *sv, struct http_request *req,
                              const char *gid)
{
	struct svc_deployment *d = NULL;
	struct err e = {{0}};
	struct svc_app **cur;
	const char **ids;
	size_t ncur, n = 0;
	int rc;

	cur = api_sorted_apps(sv, &ncur);
	ids = xcalloc(ncur + 1, sizeof(*ids));
	for (size_t i = 0; i < ncur; i++)
		if (app_id_is_under(cur[i]->app.id, gid))
			ids[n++] = cur[i]->app.id;
	if (!n && strcmp(gid, "/")) {
		api_message(req, 404, "Group '%s' does not exist", gid);
	} else {
		rc = svc_deploy_change(sv, NULL, 0, ids, n,
		                       api_flag(req, "force"), false, false, &d,
		                       NULL, &e);
		if (rc)
			api_store_error(req, rc, &e);
		else
			api_deployed(sv, req, 200, d, NULL);
	}
	free(ids);
	free(cur);
}

static void api_groups_route(struct services *sv, struct http_request *req,
                             const char *sub)
{
	struct err e = {{0}};
	char *gid = app_id_resolve("/", *sub ? sub : "/", &e);
	const char *m = req->method;

	if (!gid) {
		api_message(req, 422, "group id: %s", e.msg);
		return;
	}
	if (!strcmp(m, "GET"))
		api_groups_get(sv, req, gid);
	else if (!strcmp(m, "POST"))
		api_groups_put(sv, req, gid, true);
	else if (!strcmp(m, "PUT") || !strcmp(m, "PATCH"))
		api_groups_put(sv, req, gid, false);
	else if (!strcmp(m, "DELETE"))
		api_groups_delete(sv, req, gid);
	else
		api_message(req, 405, "Method %s not allowed", m);
	free(gid);
}

/* ---- deployments, queue, info, endpoints ----------------------------------
 */

static void api_deployments(struct services *sv, struct http_request *req,
                            const char *id)
{
	struct list *pos;

	if (!strcmp(req->method, "GET") && !*id) {
		struct buf b;
		struct jsonw w;

		buf_init(&b);
		jsonw_init(&w, &b);
		jsonw_arr_begin(&w);
		for (pos = sv->deployments.next; pos != &sv->deployments;
		     pos = pos->next)
			svc_deploy_write(
			    &w, sv,
			    list_entry(pos, struct svc_deployment, link));
		jsonw_arr_end(&w);
		http_respond_buf(req, 200, JSON_TYPE, &b);
		buf_release(&b);
		return;
	}
	if (!strcmp(req->method, "DELETE") && *id) {
		struct svc_deployment *d = svc_deploy_find(sv, id), *rb = NULL;
		bool force = api_flag(req, "force");
		struct err e = {{0}};
		int rc;

		if (!d) {
			api_message(req, 404,
			            "DeploymentPlan %s does not exist", id);
			return;
		}
		rc = svc_deploy_cancel(sv, d, force, &rb, &e);
		if (rc)
			api_store_error(req, rc, &e);
		else if (force)
			http_respond(req, 202, JSON_TYPE, "{}", 2);
		else
			api_deployed(sv, req, 200, rb, NULL);
		return;
	}
	api_message(req, 405, "Method %s not allowed", req->method);
}

static void api_queue(struct services *sv, struct http_request *req)
{
	struct svc_app **apps;
	double now = svc_now_mono();
	struct buf b;
	struct jsonw w;
	size_t n;

	apps = api_sorted_apps(sv, &n);
	api_list_begin(&b, &w, "queue");
	for (size_t i = 0; i < n; i++) {
		struct svc_app *a = apps[i];
		int due = svc_launch_wanted(sv, a);
		double left = a->delay_until - now;
		const struct {
			const char *reason;
			uint64_t count;
		} why[] = {
		    {"UnfulfilledRole", a->declined_role},
		    {"InsufficientCpus", a->declined_cpus},
		    {"InsufficientMemory", a->declined_mem},
		    {"InsufficientDisk", a->declined_disk},
		    {"InsufficientPorts", a->declined_ports},
		    {"DedicatedHost", a->declined_dedicated},
		};
		uint64_t constraint_total = 0;

		/* Queued: launches due, or waiting out a backoff delay. */
		if (due <= 0 && left <= 0)
			continue;
		for (size_t k = 0; k < a->app.constraints.n; k++)
			constraint_total += a->declined_constraint[k];
		jsonw_obj_begin(&w);
		jsonw_key(&w, "app");
		api_write_app(&w, sv, a, false);
		jsonw_kint(&w, "count", due > 0 ? due : 0);
		jsonw_key(&w, "delay");
		jsonw_obj_begin(&w);
		jsonw_kdouble(&w, "timeLeftSeconds", left > 0 ? left : 0);
		jsonw_kbool(&w, "overdue", left <= 0);
		jsonw_obj_end(&w);
		jsonw_key(&w, "processedOffersSummary");
		jsonw_obj_begin(&w);
		jsonw_kuint(&w, "processedOffersCount", a->offers_seen);
		jsonw_kuint(&w, "unusedOffersCount",
		            a->offers_seen - a->offers_used);
		jsonw_key(&w, "rejectSummaryLastOffers");
		jsonw_arr_begin(&w);
		for (size_t k = 0; k < ARRAY_SIZE(why); k++) {
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "reason", why[k].reason);
			jsonw_kuint(&w, "declined", why[k].count);
			jsonw_kuint(&w, "processed", a->offers_seen);
			jsonw_obj_end(&w);
		}
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "reason", "UnfulfilledConstraint");
		jsonw_kuint(&w, "declined", constraint_total);
		jsonw_kuint(&w, "processed", a->offers_seen);
		jsonw_obj_end(&w);
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
		/* Atoll: which constraint refused how many offers. */
		jsonw_key(&w, "constraintRejections");
		jsonw_arr_begin(&w);
		for (size_t k = 0; k < a->app.constraints.n; k++) {
			char *text =
			    constraint_describe(&a->app.constraints, k);

			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "constraint", text);
			jsonw_kuint(&w, "declined", a->declined_constraint[k]);
			jsonw_obj_end(&w);
			free(text);
		}
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
	}
	api_list_end(req, &b, &w);
	free(apps);
}

static void api_queue_delay(struct services *sv, struct http_request *req,
                            const char *sub)
{
	size_t len = strlen(sub);
	struct err e = {{0}};
	struct svc_app *a;
	char *raw, *id;

	if (len < 6 || strcmp(sub + len - 6, "/delay") ||
	    strcmp(req->method, "DELETE")) {
		api_message(req, 404, "no such resource: %s", req->path);
		return;
	}
	raw = xstrndup(sub, len - 6);
	id = app_id_resolve("/", raw, &e);
	free(raw);
	a = id ? svc_app_find(sv, id) : NULL;
	if (!a) {
		api_message(req, 404, "App '%s' does not exist", id ? id : "?");
	} else {
		a->failures = 0;
		a->delay_until = 0;
		svc_kick(sv);
		http_respond(req, 204, NULL, NULL, 0);
	}
	free(id);
}

static void api_info(struct services *sv, struct http_request *req)
{
	char leader[300];
	struct buf b;
	struct jsonw w;

	snprintf(leader, sizeof(leader), "%s:%d",
	         sv->cfg.hostname ? sv->cfg.hostname : sv->cfg.ip,
	         sv->http ? http_server_port(sv->http) : 0);
	buf_init(&b);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	if (!strcmp(req->path, "/v2/leader")) {
		jsonw_kstr(&w, "leader", leader);
		jsonw_obj_end(&w);
		http_respond_buf(req, 200, JSON_TYPE, &b);
		buf_release(&b);
		return;
	}
	jsonw_kstr(&w, "name", "atoll-services");
	jsonw_kstr(&w, "version", ATOLL_VERSION);
	jsonw_kstr(&w, "buildref", "atoll");
	jsonw_kbool(&w, "elected", true);
	jsonw_kstr(&w, "leader", leader);
	if (sv->framework_id)
		jsonw_kstr(&w, "frameworkId", sv->framework_id);
	else {
		jsonw_key(&w, "frameworkId");
		jsonw_null(&w);
	}
	jsonw_key(&w, "marathon_config");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "master", sv->cfg.master);
	jsonw_kstr(&w, "framework_name", sv->cfg.framework_name);
	jsonw_kstr(&w, "mesos_role", sv->cfg.role);
	jsonw_kdouble(&w, "failover_timeout", sv->cfg.failover_timeout);
	jsonw_kbool(&w, "checkpoint", true);
	jsonw_kdouble(&w, "reconciliation_interval",
	              sv->cfg.reconcile_interval * 1000);
	jsonw_obj_end(&w);
	jsonw_key(&w, "http_config");
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "http_port", sv->http ? http_server_port(sv->http) : 0);
	jsonw_obj_end(&w);
	jsonw_key(&w, "event_subscriber");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "sse");
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, JSON_TYPE, &b);
	buf_release(&b);
}

/* GET /v2/endpoints: each app's healthy instances (service discovery). */
static void api_endpoints(struct services *sv, struct http_request *req)
{
	struct svc_app **apps;
	struct buf b;
	struct jsonw w;
	size_t n;

	apps = api_sorted_apps(sv, &n);
	api_list_begin(&b, &w, "apps");
	for (size_t i = 0; i < n; i++) {
		struct svc_app *a = apps[i];
		struct list *pos;

		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "id", a->app.id);
		jsonw_key(&w, "endpoints");
		jsonw_arr_begin(&w);
		for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
			struct svc_task *t =
			    list_entry(pos, struct svc_task, app_link);

			if (!svc_task_is_healthy(a, t) || t->killing)
				continue;
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "taskId", t->id);
			jsonw_kstr(&w, "host", t->hostname);
			jsonw_key(&w, "ports");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < t->nports; k++) {
				jsonw_obj_begin(&w);
				jsonw_kint(&w, "port", t->ports[k]);
				if (a->app.ports[k].name)
					jsonw_kstr(&w, "name",
					           a->app.ports[k].name);
				jsonw_obj_end(&w);
			}
			jsonw_arr_end(&w);
			jsonw_obj_end(&w);
		}
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
	}
	api_list_end(req, &b, &w);
	free(apps);
}

/* GET /metrics/snapshot (flat JSON, as the master's) and /metrics
 * (Prometheus text derived from it). */
static void api_metrics(struct services *sv, struct http_request *req)
{
	struct hmap_node *n, *tmp;
	long apps = 0, running = 0, staging = 0, unhealthy = 0, unreachable = 0,
	     killing = 0, queued = 0, deployments = 0, sse = 0;
	struct list *pos;
	struct buf b, prom;
	struct jsonw w;
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->apps, i, n, tmp)
	{
		struct svc_app *a = container_of(n, struct svc_app, node);
		struct list *tp;

		apps += !a->deleting;
		queued += svc_launch_wanted(sv, a) > 0;
		for (tp = a->tasks.next; tp != &a->tasks; tp = tp->next) {
			struct svc_task *t =
			    list_entry(tp, struct svc_task, app_link);

			running += !strcmp(t->state, "TASK_RUNNING");
			staging += !strcmp(t->state, "TASK_STAGING") ||
			           !strcmp(t->state, "TASK_STARTING");
			unhealthy += t->checked && t->healthy == 0;
			unreachable += t->unreachable_since > 0;
			killing += t->killing;
		}
	}
	for (pos = sv->deployments.next; pos != &sv->deployments;
	     pos = pos->next)
		deployments++;
	for (pos = sv->sse.next; pos != &sv->sse; pos = pos->next)
		sse++;
	buf_init(&b);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "services/apps", apps);
	jsonw_kint(&w, "services/apps_queued", queued);
	jsonw_kint(&w, "services/tasks_running", running);
	jsonw_kint(&w, "services/tasks_staging", staging);
	jsonw_kint(&w, "services/tasks_unhealthy", unhealthy);
	jsonw_kint(&w, "services/tasks_unreachable", unreachable);
	jsonw_kint(&w, "services/tasks_killing", killing);
	jsonw_kint(&w, "services/tasks_launched", (int64_t)sv->tasks_launched);
	jsonw_kint(&w, "services/offers_received", (int64_t)sv->offers_total);
	jsonw_kint(&w, "services/deployments_active", deployments);
	jsonw_kint(&w, "services/events_published",
	           (int64_t)(sv->ev_next ? sv->ev_next - 1 : 0));
	jsonw_kint(&w, "services/event_stream_clients", sse);
	jsonw_kint(&w, "services/subscribed",
	           sv->sched && atoll_scheduler_is_subscribed(sv->sched));
	jsonw_kdouble(&w, "services/uptime_secs",
	              svc_now_wall() - sv->started_wall);
	jsonw_obj_end(&w);
	if (!strcmp(req->path, "/metrics/snapshot")) {
		http_respond_buf(req, 200, JSON_TYPE, &b);
		buf_release(&b);
		return;
	}
	buf_init(&prom);
	prometheus_from_snapshot(&prom, b.data, b.len);
	http_respond_buf(req, 200, PROMETHEUS_CONTENT_TYPE, &prom);
	buf_release(&prom);
	buf_release(&b);
}

/* ---- dispatch -------------------------------------------------------------
 */

static bool api_prefix(const char *path, const char *prefix, const char **rest)
{
	size_t l = strlen(prefix);

	if (strncmp(path, prefix, l) || (path[l] && path[l] != '/'))
		return false;
	*rest = path + l;
	return true;
}

/*
 * A standby (HA mode, not elected): /ping answers, /v2/leader names the
 * leader, everything else is redirected to it with a 307 (Marathon
 * proxies instead; a redirect keeps standbys stateless), or 503 while no
 * leader is known.
 */
static void api_standby(struct services *sv, struct http_request *req)
{
	const struct leader_info *l =
	    sv->detector ? leader_detector_leader(sv->detector) : NULL;
	char *where;

	if (!strcmp(req->path, "/ping")) {
		http_respond(req, 200, "text/plain", "pong\n", 5);
		return;
	}
	if (!l) {
		api_message(req, 503, "no leader elected yet; retry later");
		return;
	}
	if (!strcmp(req->path, "/v2/leader")) {
		api_json(req, 200, json_pack("{s:s}", "leader", l->endpoint));
		return;
	}
	where = xasprintf("http://%s%s", l->endpoint, req->target);
	http_request_add_header(req, "Location", where);
	http_request_add_header(req, "X-Marathon-Leader", l->endpoint);
	api_message(req, 307, "not the leader: the leader is %s", l->endpoint);
	free(where);
}

void svc_api_handle(struct http_request *req, void *arg)
{
	struct services *sv = arg;
	const char *p = req->path, *m = req->method, *rest;

	if (sv->stopping) {
		api_message(req, 503, "shutting down");
		return;
	}
	if (!sv->leading) {
		api_standby(sv, req);
		return;
	}
	if (!strcmp(p, "/ping")) {
		http_respond(req, 200, "text/plain", "pong\n", 5);
	} else if (!strcmp(p, "/v2/info") || !strcmp(p, "/v2/leader")) {
		api_info(sv, req);
	} else if (!strcmp(p, "/v2/events")) {
		svc_events_serve(sv, req);
	} else if (!strcmp(p, "/v2/apps") || !strcmp(p, "/v2/apps/")) {
		if (!strcmp(m, "GET"))
			api_apps_get(sv, req);
		else if (!strcmp(m, "POST"))
			api_apps_post(sv, req);
		else if (!strcmp(m, "PUT") || !strcmp(m, "PATCH"))
			api_apps_bulk(sv, req,
			              strcmp(m, "PATCH") == 0 ||
			                  api_flag(req, "partialUpdate"));
		else
			api_message(req, 405, "Method %s not allowed", m);
	} else if (api_prefix(p, "/v2/apps", &rest)) {
		api_app_route(sv, req, rest);
	} else if (api_prefix(p, "/v2/groups", &rest)) {
		api_groups_route(sv, req, rest);
	} else if (api_prefix(p, "/v2/deployments", &rest)) {
		api_deployments(sv, req, *rest ? rest + 1 : rest);
	} else if (!strcmp(p, "/v2/tasks") && !strcmp(m, "GET")) {
		api_tasks_get(sv, req, NULL);
	} else if (!strcmp(p, "/v2/tasks/delete") && !strcmp(m, "POST")) {
		api_tasks_delete(sv, req);
	} else if (!strcmp(p, "/v2/queue") && !strcmp(m, "GET")) {
		api_queue(sv, req);
	} else if (api_prefix(p, "/v2/queue", &rest)) {
		api_queue_delay(sv, req, rest);
	} else if (!strcmp(p, "/v2/endpoints") && !strcmp(m, "GET")) {
		api_endpoints(sv, req);
	} else if ((!strcmp(p, "/metrics") ||
	            !strcmp(p, "/metrics/snapshot")) &&
	           !strcmp(m, "GET")) {
		api_metrics(sv, req);
	} else {
		api_message(req, 404, "no such resource: %s %s", m, p);
	}
}
