/*
 * svc_deploy.c: deployments, the plans that move apps from their current
 * to their desired state (Marathon's deployment plans, with Nomad's
 * progress deadline).
 *
 * A change (POST/PUT/PATCH/DELETE of apps or groups, a restart) becomes a
 * plan of steps (svc_deploy_change):
 *
 *   step 1            StopApplication for every app removed
 *   steps 2..         one per dependency layer (plan_layers): an app that
 *                     depends on another deploys in a later step;
 *                     StartApplication (new app), ScaleApplication (only
 *                     instances changed) or RestartApplication (the
 *                     configuration changed, or POST .../restart)
 *
 * The plan, the new definitions and what to restore on rollback are
 * committed to the store in one transaction before anything changes in
 * memory or on the cluster; then the API replies.
 *
 * Each tick (svc_deploy_tick) sets every app's launch target and drives
 * the current step of each deployment:
 *
 *   Start/Scale  target = instances; extra instances are killed (GROUP_BY
 *                balance first, then killSelection); done when exactly
 *                `instances` current tasks run healthy
 *   Restart      plan_rolling_next() decides how many new tasks to start
 *                and old ones to kill, within minimumHealthCapacity and
 *                maximumOverCapacity; done when no old task is left and
 *                every new one is healthy
 *   Stop         every task killed; done when none is left
 *
 *   running --all actions done--> next step --last step--> success
 *      |  (deployment_step_success)                (deployment_success)
 *      +--DELETE /v2/deployments/ID--> rollback deployment (new id)
 *      +--DELETE ...?force=true------> dropped, apps left as they are
 *      +--no progress for progressDeadlineSeconds--> deployment_failed,
 *         automatic rollback (svc_deploy_cancel)
 *
 * Progress is a number per step that grows when a new task becomes
 * healthy or an old one goes; the deadline measures time since it last
 * grew. A rollback restores the previous definitions with their old
 * configuration version, so old tasks that still run count as current
 * again and only the new ones are replaced.
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/store.h"
#include "services/plan.h"

static const char *const svc_action_names[] = {
    [SVC_START] = "StartApplication",
    [SVC_SCALE] = "ScaleApplication",
    [SVC_RESTART] = "RestartApplication",
    [SVC_STOP] = "StopApplication",
};

static int svc_action_parse(const char *s, enum svc_action_kind *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(svc_action_names); i++)
		if (s && !strcmp(s, svc_action_names[i])) {
			*out = (enum svc_action_kind)i;
			return 0;
		}
	return -EINVAL;
}

static void svc_deployment_free(struct svc_deployment *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nsteps; i++) {
		for (size_t j = 0; j < d->steps[i].nactions; j++)
			free(d->steps[i].actions[j].app_id);
		free(d->steps[i].actions);
	}
	free(d->steps);
	json_decref(d->revert);
	free(d->id);
	free(d->version);
	free(d);
}

void svc_deploy_free_all(struct services *sv)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &sv->deployments)
	{
		list_del(pos);
		svc_deployment_free(
		    list_entry(pos, struct svc_deployment, link));
	}
}

struct svc_deployment *svc_deploy_find(struct services *sv, const char *id)
{
	struct list *pos;

	for (pos = sv->deployments.next; pos != &sv->deployments;
	     pos = pos->next) {
		struct svc_deployment *d =
		    list_entry(pos, struct svc_deployment, link);

		if (!strcmp(d->id, id))
			return d;
	}
	return NULL;
}

static bool svc_deploy_has_app(const struct svc_deployment *d,
                               const char *app_id)
{
	for (size_t i = 0; i < d->nsteps; i++)
		for (size_t j = 0; j < d->steps[i].nactions; j++)
			if (!strcmp(d->steps[i].actions[j].app_id, app_id))
				return true;
	return false;
}

struct svc_deployment *svc_deploy_of_app(struct services *sv,
                                         const char *app_id)
{
	struct list *pos;

	for (pos = sv->deployments.next; pos != &sv->deployments;
	     pos = pos->next) {
		struct svc_deployment *d =
		    list_entry(pos, struct svc_deployment, link);

		if (svc_deploy_has_app(d, app_id))
			return d;
	}
	return NULL;
}

/* ---- JSON -----------------------------------------------------------------
 */

static void svc_write_action(struct jsonw *w, const struct svc_action *a)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "action", svc_action_names[a->kind]);
	jsonw_kstr(w, "app", a->app_id);
	jsonw_obj_end(w);
}

static void svc_write_steps(struct jsonw *w, const struct svc_deployment *d)
{
	jsonw_key(w, "steps");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < d->nsteps; i++) {
		jsonw_obj_begin(w);
		jsonw_key(w, "actions");
		jsonw_arr_begin(w);
		for (size_t j = 0; j < d->steps[i].nactions; j++)
			svc_write_action(w, &d->steps[i].actions[j]);
		jsonw_arr_end(w);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

/* Marathon's readinessCheckResults of the app's current tasks. */
static void svc_write_readiness(struct jsonw *w, struct services *sv,
                                const char *app_id)
{
	struct svc_app *a = svc_app_find(sv, app_id);
	const struct list *pos;

	jsonw_arr_begin(w);
	for (pos = a ? a->tasks.next : NULL;
	     a && a->app.nreadiness_checks && pos != &a->tasks;
	     pos = pos->next) {
		const struct svc_task *t =
		    list_entry(pos, struct svc_task, app_link);

		if (!svc_task_is_current(a, t))
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", a->app.readiness_checks[0].name);
		jsonw_kstr(w, "taskId", t->id);
		jsonw_kbool(w, "ready", t->ready);
		jsonw_key(w, "lastResponse");
		if (t->ready_status) {
			jsonw_obj_begin(w);
			jsonw_kint(w, "status", t->ready_status);
			jsonw_obj_end(w);
		} else {
			jsonw_null(w);
		}
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

void svc_deploy_write(struct jsonw *w, const struct services *sv,
                      const struct svc_deployment *d)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", d->id);
	jsonw_kstr(w, "version", d->version);
	jsonw_key(w, "affectedApps");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < d->nsteps; i++)
		for (size_t j = 0; j < d->steps[i].nactions; j++)
			jsonw_str(w, d->steps[i].actions[j].app_id);
	jsonw_arr_end(w);
	jsonw_key(w, "affectedPods");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	svc_write_steps(w, d);
	jsonw_key(w, "currentActions");
	jsonw_arr_begin(w);
	if (d->current < d->nsteps)
		for (size_t j = 0; j < d->steps[d->current].nactions; j++) {
			const struct svc_action *a =
			    &d->steps[d->current].actions[j];

			jsonw_obj_begin(w);
			jsonw_kstr(w, "action", svc_action_names[a->kind]);
			jsonw_kstr(w, "app", a->app_id);
			jsonw_key(w, "readinessCheckResults");
			svc_write_readiness(w, (struct services *)sv,
			                    a->app_id);
			jsonw_obj_end(w);
		}
	jsonw_arr_end(w);
	jsonw_kint(w, "currentStep", (int64_t)d->current + 1);
	jsonw_kint(w, "totalSteps", (int64_t)d->nsteps);
	/* Atoll additions. */
	jsonw_kbool(w, "rollback", d->is_rollback);
	jsonw_kdouble(w, "progressDeadlineSeconds", d->deadline);
	jsonw_kdouble(w, "secondsSinceProgress",
	              svc_now_mono() - d->progress_mono);
	jsonw_obj_end(w);
}

/* The deployment as a JSON document (what GET /v2/deployments shows). */
static json_t *svc_plan_json(const struct services *sv,
                             const struct svc_deployment *d)
{
	struct buf b;
	struct jsonw w;
	json_t *j;

	buf_init(&b);
	jsonw_init(&w, &b);
	svc_deploy_write(&w, sv, d);
	j = json_loadb(b.data, b.len, 0, NULL);
	buf_release(&b);
	BUG_ON(!j); /* our own writer's output */
	return j;
}

static json_t *svc_deploy_record(const struct services *sv,
                                 const struct svc_deployment *d)
{
	json_t *rec = svc_plan_json(sv, d);

	json_object_set(rec, "revert", d->revert);
	json_object_set_new(rec, "startedWall", json_real(d->started_wall));
	return rec;
}

static int svc_deploy_persist(struct services *sv,
                              const struct svc_deployment *d, struct err *e)
{
	json_t *rec = svc_deploy_record(sv, d);
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	rc = store_put(sv->store, "deployments", d->id, text, strlen(text), e);
	free(text);
	json_decref(rec);
	return rc;
}

static int svc_deploy_load_one(const char *key, const char *val, size_t len,
                               void *arg)
{
	struct services *sv = arg;
	json_t *rec = json_loadb(val, len, 0, NULL);
	struct svc_deployment *d = xcalloc(1, sizeof(*d));
	json_t *steps = json_object_get(rec, "steps");
	json_t *step;
	size_t i;

	if (!rec || !json_is_array(steps) ||
	    !json_string_value(json_object_get(rec, "version")))
		goto bad;
	d->id = xstrdup(key);
	d->version =
	    xstrdup(json_string_value(json_object_get(rec, "version")));
	d->nsteps = json_array_size(steps);
	d->steps = xcalloc(d->nsteps + 1, sizeof(*d->steps));
	json_array_foreach(steps, i, step)
	{
		json_t *actions = json_object_get(step, "actions");
		json_t *act;
		size_t j;

		d->steps[i].nactions = json_array_size(actions);
		d->steps[i].actions = xcalloc(d->steps[i].nactions + 1,
		                              sizeof(struct svc_action));
		json_array_foreach(actions, j, act)
		{
			struct svc_action *a = &d->steps[i].actions[j];
			const char *app =
			    json_string_value(json_object_get(act, "app"));

			if (!app ||
			    svc_action_parse(json_string_value(json_object_get(
						 act, "action")),
			                     &a->kind))
				goto bad;
			a->app_id = xstrdup(app);
		}
	}
	d->current =
	    (size_t)json_integer_value(json_object_get(rec, "currentStep")) - 1;
	if (d->current >= d->nsteps)
		goto bad;
	d->revert = json_incref(json_object_get(rec, "revert"));
	if (!d->revert)
		d->revert = json_object();
	d->is_rollback = json_is_true(json_object_get(rec, "rollback"));
	d->deadline =
	    json_number_value(json_object_get(rec, "progressDeadlineSeconds"));
	d->started_wall =
	    json_number_value(json_object_get(rec, "startedWall"));
	d->progress_mono = svc_now_mono();
	d->best_metric = LONG_MIN;
	list_add_tail(&sv->deployments, &d->link);
	json_decref(rec);
	return 0;
bad:
	log_error(SVC_COMPONENT, "deployment=%s ignoring an unreadable record",
	          key);
	json_decref(rec);
	svc_deployment_free(d);
	return 0;
}

int svc_deploy_load(struct services *sv, struct err *e)
{
	return store_scan(sv->store, "deployments", svc_deploy_load_one, sv, e);
}

/* ---- building a plan ------------------------------------------------------
 */

struct svc_change {
	struct svc_app *prepared; /* NULL for a stop */
	const char *id;
	enum svc_action_kind kind;
	bool skip; /* nothing to do */
};

static void svc_step_add(struct svc_step *st, enum svc_action_kind kind,
                         const char *app_id)
{
	st->actions =
	    xrealloc(st->actions, (st->nactions + 1) * sizeof(*st->actions));
	st->actions[st->nactions].kind = kind;
	st->actions[st->nactions].app_id = xstrdup(app_id);
	st->actions[st->nactions].done = false;
	st->nactions++;
}

/* Builds the steps of changes[0..n): stops first, then dependency layers. */
static int svc_plan_steps(struct svc_deployment *d, struct svc_change *ch,
                          size_t n, struct err *e)
{
	struct plan_node *nodes = xcalloc(n + 1, sizeof(*nodes));
	size_t *idx = xcalloc(n + 1, sizeof(*idx));
	size_t *layer = xcalloc(n + 1, sizeof(*layer));
	size_t nn = 0, nlayers = 0, base;
	bool stops = false;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (ch[i].skip)
			continue;
		if (ch[i].kind == SVC_STOP) {
			stops = true;
			continue;
		}
		nodes[nn].id = ch[i].id;
		nodes[nn].deps =
		    (const char *const *)ch[i].prepared->app.dependencies;
		nodes[nn].ndeps = ch[i].prepared->app.ndependencies;
		idx[nn++] = i;
	}
	rc = plan_layers(nodes, nn, layer, &nlayers, e);
	if (rc)
		goto out;
	base = stops ? 1 : 0;
	d->nsteps = base + nlayers;
	d->steps = xcalloc(d->nsteps + 1, sizeof(*d->steps));
	for (size_t i = 0; i < n; i++)
		if (!ch[i].skip && ch[i].kind == SVC_STOP)
			svc_step_add(&d->steps[0], SVC_STOP, ch[i].id);
	for (size_t k = 0; k < nn; k++)
		svc_step_add(&d->steps[base + layer[k]], ch[idx[k]].kind,
		             ch[idx[k]].id);
out:
	free(nodes);
	free(idx);
	free(layer);
	return rc;
}

static double svc_deadline_of(const struct svc_change *ch, size_t n)
{
	double deadline = 0;

	for (size_t i = 0; i < n; i++)
		if (!ch[i].skip && ch[i].prepared &&
		    ch[i].prepared->app.progress_deadline_seconds > deadline)
			deadline =
			    ch[i].prepared->app.progress_deadline_seconds;
	return deadline;
}

/* Cancels without rollback (force): the deployment just stops. */
static void svc_deploy_drop(struct services *sv, struct svc_deployment *d)
{
	struct err e = {{0}};

	if (store_delete(sv->store, "deployments", d->id, &e))
		log_error(SVC_COMPONENT, "deployment=%s %s", d->id, e.msg);
	list_del(&d->link);
	svc_deployment_free(d);
}

/*
 * The common tail of a change and a rollback: persists apps, removals and
 * the deployment in one transaction, then swaps the apps in.
 */
static int svc_deploy_commit(struct services *sv, struct svc_deployment *d,
                             struct svc_change *ch, size_t n,
                             struct svc_deployment **superseded,
                             size_t nsuperseded, struct err *e)
{
	int rc = store_begin(sv->store, e);

	for (size_t i = 0; !rc && i < n; i++) {
		if (ch[i].skip)
			continue;
		if (ch[i].kind == SVC_STOP)
			rc = store_delete(sv->store, "apps", ch[i].id, e);
		else
			rc = svc_app_store(sv, ch[i].prepared, e);
	}
	for (size_t i = 0; !rc && i < nsuperseded; i++)
		rc = store_delete(sv->store, "deployments", superseded[i]->id,
		                  e);
	if (!rc && d)
		rc = svc_deploy_persist(sv, d, e);
	if (!rc)
		rc = store_commit(sv->store, e);
	if (rc) {
		if (store_in_transaction(sv->store))
			store_rollback(sv->store);
		return rc;
	}
	/* Durable: now act. */
	for (size_t i = 0; i < nsuperseded; i++) {
		list_del(&superseded[i]->link);
		svc_deployment_free(superseded[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (ch[i].skip)
			continue;
		if (ch[i].kind == SVC_STOP) {
			struct svc_app *a = svc_app_find(sv, ch[i].id);

			if (a) {
				a->deleting = true;
				a->target = 0;
			}
			continue;
		}
		svc_app_swap(sv, ch[i].prepared);
		ch[i].prepared = NULL;
	}
	if (d) {
		list_add_tail(&sv->deployments, &d->link);
		svc_event(sv, "deployment_info",
		          json_pack("{s:o,s:s}", "plan", svc_plan_json(sv, d),
		                    "id", d->id));
	}
	svc_kick(sv);
	return 0;
}

static struct svc_deployment *svc_deployment_new(struct services *sv)
{
	struct svc_deployment *d = xcalloc(1, sizeof(*d));
	char uuid[IDS_UUID_STRLEN];

	ids_uuid_str(uuid);
	d->id = xstrdup(uuid);
	d->version = svc_version_new(sv);
	d->revert = json_object();
	d->started_wall = svc_now_wall();
	d->progress_mono = svc_now_mono();
	d->best_metric = LONG_MIN;
	list_init(&d->link);
	return d;
}

int svc_deploy_change(struct services *sv, struct app *new_apps, size_t napps,
                      const char *const *removed_ids, size_t nremoved,
                      bool force, bool dry_run, bool restart,
                      struct svc_deployment **out_dep, json_t **plan,
                      struct err *e)
{
	size_t n = napps + nremoved, nsup = 0, active = 0;
	struct svc_change *ch = xcalloc(n + 1, sizeof(*ch));
	struct svc_deployment **sup = xcalloc(n + 1, sizeof(*sup));
	struct svc_deployment *d = svc_deployment_new(sv);
	int rc = 0;

	if (out_dep)
		*out_dep = NULL;
	if (plan)
		*plan = NULL;
	for (size_t i = 0; i < napps; i++) {
		struct svc_app *old = svc_app_find(sv, new_apps[i].id);

		if (old && old->deleting)
			old = NULL;
		/* A restart is a new configuration version with the same
		 * definition: every task is replaced. */
		if (restart && !new_apps[i].version)
			new_apps[i].version = svc_version_new(sv);
		ch[i].prepared = svc_app_prepare(
		    sv, &new_apps[i], restart ? new_apps[i].version : NULL);
		ch[i].id = ch[i].prepared->app.id;
		if (!old) {
			ch[i].kind = SVC_START;
		} else if (restart || strcmp(old->config_version,
		                             ch[i].prepared->config_version)) {
			ch[i].kind = SVC_RESTART;
		} else if (json_equal(old->app.definition,
		                      ch[i].prepared->app.definition)) {
			ch[i].skip = true;
		} else {
			ch[i].kind = SVC_SCALE;
		}
		json_object_set_new(d->revert, ch[i].id,
		                    old ? svc_app_record(old) : json_null());
	}
	for (size_t k = 0; k < nremoved; k++) {
		struct svc_change *c = &ch[napps + k];
		struct svc_app *old = svc_app_find(sv, removed_ids[k]);

		c->id = removed_ids[k];
		c->kind = SVC_STOP;
		c->skip = !old || old->deleting;
		if (old && !c->skip)
			json_object_set_new(d->revert, c->id,
			                    svc_app_record(old));
	}
	/* One deployment per app. */
	for (size_t i = 0; i < n; i++) {
		struct svc_deployment *holder;

		if (ch[i].skip)
			continue;
		active++;
		holder = svc_deploy_of_app(sv, ch[i].id);
		if (!holder)
			continue;
		if (!force) {
			rc =
			    err_set(e,
			            "App is locked by one or more deployments: "
			            "%s (deployment %s); use force=true to "
			            "override",
			            ch[i].id, holder->id);
			rc = -EBUSY;
			goto out;
		}
		bool seen = false;

		for (size_t k = 0; k < nsup; k++)
			seen = seen || sup[k] == holder;
		if (!seen)
			sup[nsup++] = holder;
	}
	if ((rc = svc_plan_steps(d, ch, n, e)))
		goto out;
	d->deadline = svc_deadline_of(ch, n);
	if (plan)
		*plan = svc_plan_json(sv, d);
	if (dry_run)
		goto out;
	if (!active) {
		/* Nothing changed: no deployment, nothing written. */
		goto out;
	}
	rc = svc_deploy_commit(sv, d, ch, n, sup, nsup, e);
	if (!rc) {
		if (out_dep)
			*out_dep = d;
		d = NULL;
	}
out:
	for (size_t i = 0; i < n; i++)
		if (ch[i].prepared)
			svc_app_discard(ch[i].prepared);
	free(ch);
	free(sup);
	svc_deployment_free(d);
	return rc;
}

int svc_deploy_cancel(struct services *sv, struct svc_deployment *d, bool force,
                      struct svc_deployment **out, struct err *e)
{
	struct svc_deployment *rb;
	struct svc_change *ch;
	const char *id;
	json_t *rec;
	size_t n = 0, i = 0;
	int rc = 0;

	if (out)
		*out = NULL;
	if (force) {
		svc_deploy_drop(sv, d);
		return 0;
	}
	rb = svc_deployment_new(sv);
	rb->is_rollback = true;
	ch = xcalloc(json_object_size(d->revert) + 1, sizeof(*ch));
	json_object_foreach(d->revert, id, rec)
	{
		struct svc_change *c = &ch[n++];
		struct svc_app *cur = svc_app_find(sv, id);

		c->id = id;
		if (json_is_null(rec)) {
			/* It did not exist: stop it. */
			c->kind = SVC_STOP;
			c->skip = !cur;
			if (cur)
				json_object_set_new(rb->revert, id,
				                    svc_app_record(cur));
			continue;
		}
		struct app def;
		struct app_problems probs;
		const char *cv =
		    json_string_value(json_object_get(rec, "configVersion"));

		app_init(&def);
		app_problems_init(&probs);
		if (app_from_json(&def, json_object_get(rec, "app"), "/", "",
		                  &probs)) {
			rc = err_set(e,
			             "cannot roll back %s: its previous "
			             "definition no longer parses (%s)",
			             id, probs.n ? probs.v[0].message : "?");
			app_problems_release(&probs);
			app_release(&def);
			goto out;
		}
		app_problems_release(&probs);
		c->prepared = svc_app_prepare(sv, &def, cv);
		c->id = c->prepared->app.id;
		app_release(&def);
		if (!cur || cur->deleting)
			c->kind = SVC_START;
		else if (strcmp(cur->config_version,
		                c->prepared->config_version))
			c->kind = SVC_RESTART;
		else
			c->kind = SVC_SCALE;
		json_object_set_new(rb->revert, c->id,
		                    cur ? svc_app_record(cur) : json_null());
	}
	(void)i;
	if ((rc = svc_plan_steps(rb, ch, n, e)))
		goto out;
	rb->deadline = 0; /* a rollback is not rolled back */
	rc = svc_deploy_commit(sv, rb, ch, n, &d, 1, e);
	if (!rc) {
		svc_event(sv, "deployment_failed",
		          json_pack("{s:s,s:s}", "id", rb->id, "reason",
		                    "cancelled: rolled back"));
		if (out)
			*out = rb;
		rb = NULL;
	}
out:
	for (size_t k = 0; k < n; k++)
		if (ch[k].prepared)
			svc_app_discard(ch[k].prepared);
	free(ch);
	svc_deployment_free(rb);
	return rc;
}

/* ---- driving --------------------------------------------------------------
 */

struct svc_counts {
	int cur_alive, cur_healthy, old_alive, old_healthy, old_killing,
	    killing_alive;
};

static void svc_count(const struct services *sv, const struct svc_app *a,
                      struct svc_counts *c)
{
	const struct list *pos;

	memset(c, 0, sizeof(*c));
	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		const struct svc_task *t =
		    list_entry(pos, struct svc_task, app_link);

		if (!svc_task_is_alive(sv, a, t))
			continue;
		if (t->killing) {
			c->killing_alive++;
			if (!svc_task_is_current(a, t))
				c->old_killing++;
			continue;
		}
		if (svc_task_is_current(a, t)) {
			c->cur_alive++;
			c->cur_healthy += svc_task_is_healthy(a, t) &&
			                  svc_task_is_ready(a, t);
		} else {
			c->old_alive++;
			c->old_healthy += svc_task_is_healthy(a, t);
		}
	}
}

/* Kills k current tasks chosen as Marathon does on scale-down. */
static void svc_scale_down(struct services *sv, struct svc_app *a, int k)
{
	size_t n = 0, cap = a->ntasks + 1;
	struct constraint_agent *agents = xcalloc(cap, sizeof(*agents));
	struct svc_task **tasks = xcalloc(cap, sizeof(*tasks));
	double *started = xcalloc(cap, sizeof(*started));
	size_t *victims = xcalloc(cap, sizeof(*victims));
	struct list *pos;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (!svc_task_is_alive(sv, a, t) || t->killing ||
		    !svc_task_is_current(a, t))
			continue;
		agents[n].hostname = t->hostname;
		agents[n].attributes = &t->attributes;
		/* Not yet running counts as youngest. */
		started[n] = t->started_at > 0 ? t->started_at : 1e18;
		tasks[n++] = t;
	}
	if ((size_t)k > n)
		k = (int)n;
	constraint_pick_victims(
	    &a->app.constraints, agents, started, n, (size_t)k,
	    a->app.kill_selection == APP_KILL_OLDEST_FIRST, victims);
	for (int i = 0; i < k; i++)
		svc_task_kill(sv, tasks[victims[i]]);
	free(agents);
	free(tasks);
	free(started);
	free(victims);
}

/* Kills k old tasks, unhealthy ones first, then the oldest. */
static void svc_kill_old(struct services *sv, struct svc_app *a, int k)
{
	for (int pass = 0; pass < 2 && k > 0; pass++) {
		struct list *pos;

		for (pos = a->tasks.next; pos != &a->tasks && k > 0;
		     pos = pos->next) {
			struct svc_task *t =
			    list_entry(pos, struct svc_task, app_link);

			if (!svc_task_is_alive(sv, a, t) || t->killing ||
			    svc_task_is_current(a, t))
				continue;
			if (pass == 0 && svc_task_is_healthy(a, t))
				continue;
			svc_task_kill(sv, t);
			k--;
		}
	}
}

static void svc_kill_all(struct services *sv, struct svc_app *a)
{
	struct list *pos;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (!t->killing)
			svc_task_kill(sv, t);
	}
}

/* Drives one action; returns true when it is done; adds its progress. */
static bool svc_action_drive(struct services *sv, struct svc_action *act,
                             long *metric)
{
	struct svc_app *a = svc_app_find(sv, act->app_id);
	struct plan_rolling_state st;
	struct plan_rolling_action ra;
	struct svc_counts c;

	if (act->kind == SVC_STOP) {
		if (!a || !a->ntasks)
			return true;
		a->deleting = true;
		a->target = 0;
		svc_kill_all(sv, a);
		*metric -= (long)a->ntasks;
		return false;
	}
	if (!a)
		return true; /* removed meanwhile (forced) */
	svc_count(sv, a, &c);
	if (act->kind != SVC_RESTART ||
	    (c.old_alive == 0 && c.old_killing == 0)) {
		a->target = a->app.instances;
		if (c.cur_alive > a->app.instances)
			svc_scale_down(sv, a, c.cur_alive - a->app.instances);
		*metric += c.cur_healthy - c.old_alive - c.killing_alive;
		if (c.old_alive)
			svc_kill_old(sv, a, c.old_alive);
		return c.cur_alive == a->app.instances &&
		       c.cur_healthy == a->app.instances && !c.old_alive &&
		       !c.killing_alive;
	}
	memset(&st, 0, sizeof(st));
	st.instances = a->app.instances;
	st.min_health_capacity = a->app.minimum_health_capacity;
	st.max_over_capacity = a->app.maximum_over_capacity;
	for (size_t i = 0; i < a->app.nvolumes; i++)
		st.resident |= a->app.volumes[i].persistent_size > 0;
	st.old_alive = c.old_alive + c.old_killing;
	st.old_healthy = c.old_healthy;
	st.old_killing = c.old_killing;
	st.new_alive = c.cur_alive;
	st.new_ready = c.cur_healthy;
	plan_rolling_next(&st, &ra);
	a->target = c.cur_alive + ra.start_new;
	if (a->target > a->app.instances)
		a->target = a->app.instances;
	if (ra.kill_old > 0)
		svc_kill_old(sv, a, ra.kill_old);
	*metric += c.cur_healthy - st.old_alive;
	return ra.done;
}

static void svc_deploy_finish_step(struct services *sv,
                                   struct svc_deployment *d)
{
	struct err e = {{0}};

	svc_event(sv, "deployment_step_success",
	          json_pack("{s:s,s:i}", "id", d->id, "currentStep",
	                    (int)d->current + 1));
	d->current++;
	d->best_metric = LONG_MIN;
	d->progress_mono = svc_now_mono();
	if (d->current >= d->nsteps) {
		log_info(SVC_COMPONENT, "deployment=%s finished", d->id);
		svc_event(sv, "deployment_success",
		          json_pack("{s:s}", "id", d->id));
		svc_deploy_drop(sv, d);
		return;
	}
	if (svc_deploy_persist(sv, d, &e))
		log_error(SVC_COMPONENT, "deployment=%s %s", d->id, e.msg);
}

void svc_deploy_tick(struct services *sv)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ptmp;
	double now = svc_now_mono();
	size_t i;

	/* Apps outside deployments keep their instance count: a surplus
	 * (an unreachable task that came back after its replacement was
	 * launched) is killed as on a scale-down. */
	HMAP_FOR_EACH_SAFE(&sv->apps, i, n, tmp)
	{
		struct svc_app *a = container_of(n, struct svc_app, node);
		struct svc_counts c;

		a->target = a->deleting ? 0 : a->app.instances;
		if (a->deleting || svc_deploy_of_app(sv, a->app.id))
			continue;
		svc_count(sv, a, &c);
		if (c.cur_alive > a->app.instances) {
			log_info(SVC_COMPONENT,
			         "app=%s %d instances running, %d wanted: "
			         "killing the surplus",
			         a->app.id, c.cur_alive, a->app.instances);
			svc_scale_down(sv, a, c.cur_alive - a->app.instances);
		}
	}
	LIST_FOR_EACH_SAFE(pos, ptmp, &sv->deployments)
	{
		struct svc_deployment *d =
		    list_entry(pos, struct svc_deployment, link);
		struct svc_step *st;
		bool all = true;
		long metric = 0;

		/* Apps of later steps wait: hold them at their current
		 * count, or at 0 when they are new. */
		for (size_t s = d->current + 1; s < d->nsteps; s++)
			for (size_t j = 0; j < d->steps[s].nactions; j++) {
				struct svc_app *a = svc_app_find(
				    sv, d->steps[s].actions[j].app_id);
				struct svc_counts c;

				if (!a)
					continue;
				svc_count(sv, a, &c);
				a->target = c.cur_alive;
			}
		st = &d->steps[d->current];
		for (size_t j = 0; j < st->nactions; j++) {
			st->actions[j].done =
			    svc_action_drive(sv, &st->actions[j], &metric);
			all = all && st->actions[j].done;
		}
		if (metric > d->best_metric) {
			d->best_metric = metric;
			d->progress_mono = now;
		}
		if (all) {
			svc_deploy_finish_step(sv, d);
			continue;
		}
		if (d->deadline > 0 && !d->is_rollback &&
		    now - d->progress_mono > d->deadline) {
			struct svc_deployment *rb = NULL;
			struct err e = {{0}};
			char *id = xstrdup(d->id);

			log_warn(SVC_COMPONENT,
			         "deployment=%s no progress for %.0f s: "
			         "rolling back",
			         id, d->deadline);
			svc_event(sv, "deployment_failed",
			          json_pack("{s:s,s:s}", "id", id, "reason",
			                    "progress deadline exceeded"));
			if (svc_deploy_cancel(sv, d, false, &rb, &e))
				log_error(SVC_COMPONENT,
				          "deployment=%s cannot roll back: %s",
				          id, e.msg);
			free(id);
			/* The list changed: finish this tick. */
			svc_kick(sv);
			return;
		}
	}
}
