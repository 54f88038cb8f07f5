/*
 * svc_launch.c: turning offers into tasks.
 *
 * For each offer, every app that wants tasks (svc_launch_wanted: below
 * its launch target and out of backoff) takes as many instances as fit,
 * longest-waiting app first. An instance fits when, in this order:
 *
 *   1. the agent passes the app's constraints given where its other
 *      instances run, including those placed a moment ago in this round
 *      (constraint_set_check; dedicated hosts both ways);
 *   2. the offer has cpus, mem and disk in a role the app accepts
 *      (acceptedResourceRoles, default: unreserved and our role);
 *   3. it has the ports: one per port definition, dynamic ones from the
 *      offer's ranges, fixed ones exactly with requirePorts.
 *
 * Every refusal is counted per app and reason; /v2/queue shows the counts
 * ("rack_id MAX_PER 3 refused 12 offers"), the placement explanation
 * Marathon users asked for.
 *
 * The task record is persisted before the LAUNCH goes out. Offers with
 * nothing to launch are declined at once (refuse_seconds 5), so they
 * return to the allocator for other frameworks.
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include <ctype.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "services/constraint.h"

#define SVC_DECLINE_SECONDS 5.0
#define SVC_MAX_PORTS 64

int svc_launch_wanted(const struct services *sv, const struct svc_app *a)
{
	const struct list *pos;
	int alive = 0;

	if (a->deleting || a->target <= 0)
		return 0;
	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		const struct svc_task *t =
		    list_entry(pos, struct svc_task, app_link);

		if (svc_task_is_current(a, t) && !t->killing &&
		    svc_task_is_alive(sv, a, t))
			alive++;
	}
	if (alive >= a->target)
		return 0;
	if (svc_now_mono() < a->delay_until)
		return 0;
	return a->target - alive;
}

/* An offer, parsed once. */
struct svc_offer {
	const char *id;
	const char *agent_id;
	const char *hostname;
	const char *ip;
	struct attributes attributes;
	struct resources avail;
};

static bool svc_role_accepted(const struct services *sv, const struct app *app,
                              const char *role)
{
	if (!app->naccepted_resource_roles)
		return !strcmp(role, "*") || !strcmp(role, sv->cfg.role);
	for (size_t i = 0; i < app->naccepted_resource_roles; i++)
		if (!strcmp(app->accepted_resource_roles[i], role))
			return true;
	return false;
}

/* The part of avail in roles the app accepts. */
static void svc_usable(const struct services *sv, const struct app *app,
                       const struct resources *avail, struct resources *out)
{
	struct resources one;

	resources_init(out);
	for (size_t i = 0; i < avail->n; i++) {
		if (!svc_role_accepted(sv, app, avail->v[i].role))
			continue;
		one.v = (struct resource *)&avail->v[i];
		one.n = one.cap = 1;
		resources_add(out, &one);
	}
}

/* Counts a refusal by the first missing resource. Returns false. */
static bool svc_refuse_resource(struct svc_app *a, const struct resources *all,
                                const struct resources *usable)
{
	const struct app *app = &a->app;
	struct {
		const char *name;
		double want;
		uint64_t *counter;
	} need[] = {
	    {"cpus", app->cpus, &a->declined_cpus},
	    {"mem", app->mem, &a->declined_mem},
	    {"disk", app->disk, &a->declined_disk},
	};

	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		int64_t want = res_from_double(need[i].want);

		if (resources_scalar(usable, need[i].name) >= want)
			continue;
		if (resources_scalar(all, need[i].name) >= want)
			a->declined_role++;
		else
			(*need[i].counter)++;
		return false;
	}
	a->declined_ports++;
	return false;
}

/*
 * Takes one instance's resources out of offer->avail into *taken, with the
 * chosen host ports in ports[]. Returns false (offer unchanged, the reason
 * counted) when it does not fit.
 */
static bool svc_fit(const struct services *sv, struct svc_app *a,
                    struct svc_offer *o, struct resources *taken, int *ports)
{
	const struct app *app = &a->app;
	struct resources usable;
	int wanted[SVC_MAX_PORTS] = {0};
	bool ok;

	svc_usable(sv, app, &o->avail, &usable);
	for (size_t i = 0; i < app->nports && app->require_ports; i++)
		wanted[i] = app->ports[i].port;
	resources_init(taken);
	ok = !resources_take_scalar(&usable, "cpus", res_from_double(app->cpus),
	                            taken) &&
	     !resources_take_scalar(&usable, "mem", res_from_double(app->mem),
	                            taken) &&
	     !resources_take_scalar(&usable, "disk", res_from_double(app->disk),
	                            taken) &&
	     !resources_take_scalar(&usable, "gpus", (int64_t)app->gpus * 1000,
	                            taken) &&
	     !resources_take_ports(&usable, app->nports, wanted, ports, taken);
	if (!ok) {
		resources_release(taken);
		svc_usable(sv, app, &o->avail, &usable);
		svc_refuse_resource(a, &o->avail, &usable);
		resources_release(&usable);
		return false;
	}
	resources_release(&usable);
	/* Every piece came out of the offer. */
	BUG_ON(resources_subtract(&o->avail, taken));
	return true;
}

/* Checks the constraints against where the app's instances run. */
static bool svc_constraints_pass(const struct services *sv, struct svc_app *a,
                                 const struct svc_offer *o)
{
	struct constraint_agent agent = {o->hostname, &o->attributes};
	struct constraint_agent *placed;
	struct constraint_verdict v;
	const struct list *pos;
	size_t n = 0;

	placed = xcalloc(a->ntasks + 1, sizeof(*placed));
	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		const struct svc_task *t =
		    list_entry(pos, struct svc_task, app_link);

		if (!svc_task_is_alive(sv, a, t) || t->killing)
			continue;
		placed[n].hostname = t->hostname;
		placed[n].attributes = &t->attributes;
		n++;
	}
	v = constraint_set_check(&a->app.constraints, a->app.instances, &agent,
	                         placed, n);
	free(placed);
	if (v.ok)
		return true;
	if (v.failed == CONSTRAINT_DEDICATED_HOST)
		a->declined_dedicated++;
	else if (v.failed < a->app.constraints.n)
		a->declined_constraint[v.failed]++;
	return false;
}

/* "/product/db/mysql" -> "product_db_mysql" (Marathon's task id prefix). */
static char *svc_task_prefix(const char *app_id)
{
	char *p = xstrdup(app_id[0] == '/' ? app_id + 1 : app_id);

	for (char *c = p; *c; c++)
		if (*c == '/')
			*c = '_';
	return p;
}

static void svc_env(json_t *vars, const char *name, const char *value)
{
	json_array_append_new(vars, json_pack("{s:s,s:s}", "name", name,
	                                      "value", value ? value : ""));
}

static void svc_env_num(json_t *vars, const char *name, double v)
{
	char num[64];

	snprintf(num, sizeof(num), "%g", v);
	svc_env(vars, name, num);
}

/* PORT_<NAME>: upper case, non-alphanumerics as '_'. */
static char *svc_port_env_name(const char *name)
{
	char *s = xasprintf("PORT_%s", name);

	for (char *c = s + 5; *c; c++)
		*c = isalnum((unsigned char)*c)
		         ? (char)toupper((unsigned char)*c)
		         : '_';
	return s;
}

static json_t *svc_environment(const struct svc_app *a,
                               const struct svc_task *t)
{
	const struct app *app = &a->app;
	json_t *vars = json_array();
	struct buf ports;
	char name[32];

	buf_init(&ports);
	for (size_t i = 0; i < t->nports; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%d", t->ports[i]);
		snprintf(name, sizeof(name), "PORT%zu", i);
		svc_env(vars, name, num);
		if (i == 0)
			svc_env(vars, "PORT", num);
		if (app->ports[i].name) {
			char *n = svc_port_env_name(app->ports[i].name);

			svc_env(vars, n, num);
			free(n);
		}
		buf_addf(&ports, "%s%d", i ? "," : "", t->ports[i]);
	}
	svc_env(vars, "PORTS", ports.len ? ports.data : "");
	buf_release(&ports);
	svc_env(vars, "HOST", t->hostname);
	svc_env(vars, "MARATHON_APP_ID", app->id);
	svc_env(vars, "MARATHON_APP_VERSION", a->config_version);
	svc_env(vars, "MESOS_TASK_ID", t->id);
	svc_env_num(vars, "MARATHON_APP_RESOURCE_CPUS", app->cpus);
	svc_env_num(vars, "MARATHON_APP_RESOURCE_MEM", app->mem);
	svc_env_num(vars, "MARATHON_APP_RESOURCE_DISK", app->disk);
	svc_env_num(vars, "MARATHON_APP_RESOURCE_GPUS", app->gpus);
	for (size_t i = 0; i < app->nenv; i++)
		svc_env(vars, app->env[i].key, app->env[i].value);
	return json_pack("{s:o}", "variables", vars);
}

static json_t *svc_labels(const struct app_kv *kv, size_t n)
{
	json_t *labels = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(labels,
		                      json_pack("{s:s,s:s}", "key", kv[i].key,
		                                "value", kv[i].value));
	return json_pack("{s:o}", "labels", labels);
}

static json_t *svc_command(const struct services *sv, const struct svc_app *a,
                           const struct svc_task *t)
{
	const struct app *app = &a->app;
	json_t *c = json_object();
	json_t *uris = json_array();

	if (app->cmd) {
		json_object_set_new(c, "shell", json_true());
		json_object_set_new(c, "value", json_string(app->cmd));
	} else if (app->nargs) {
		json_t *args = json_array();

		for (size_t i = 0; i < app->nargs; i++)
			json_array_append_new(args, json_string(app->args[i]));
		json_object_set_new(c, "shell", json_false());
		json_object_set_new(c, "value", json_string(app->args[0]));
		json_object_set_new(c, "arguments", args);
	}
	for (size_t i = 0; i < app->nfetch; i++) {
		json_t *u = json_pack(
		    "{s:s,s:b,s:b,s:b}", "value", app->fetch[i].uri, "extract",
		    app->fetch[i].extract, "executable",
		    app->fetch[i].executable, "cache", app->fetch[i].cache);

		if (app->fetch[i].dest_path)
			json_object_set_new(
			    u, "output_file",
			    json_string(app->fetch[i].dest_path));
		json_array_append_new(uris, u);
	}
	if (json_array_size(uris))
		json_object_set_new(c, "uris", uris);
	else
		json_decref(uris);
	json_object_set_new(c, "environment", svc_environment(a, t));
	if (app->user)
		json_object_set_new(c, "user", json_string(app->user));
	else if (sv->cfg.user)
		json_object_set_new(c, "user", json_string(sv->cfg.user));
	return c;
}

static json_t *svc_discovery(const struct svc_app *a, const struct svc_task *t)
{
	const struct app *app = &a->app;
	json_t *ports = json_array();
	char *name = svc_task_prefix(app->id);
	json_t *d;

	for (size_t i = 0; i < t->nports; i++) {
		json_t *p = json_pack(
		    "{s:i,s:s}", "number", t->ports[i], "protocol",
		    app->ports[i].protocol ? app->ports[i].protocol : "tcp");

		if (app->ports[i].name)
			json_object_set_new(p, "name",
			                    json_string(app->ports[i].name));
		json_array_append_new(ports, p);
	}
	d = json_pack("{s:s,s:s,s:{s:o}}", "visibility", "FRAMEWORK", "name",
	              name, "ports", "ports", ports);
	free(name);
	return d;
}

/* Builds the TaskInfo; NULL with e set when the health check cannot be
 * built (a validation gap: logged, the task is not launched). */
static json_t *svc_task_info(const struct services *sv, const struct svc_app *a,
                             const struct svc_task *t,
                             const struct resources *res, struct err *e)
{
	const struct app *app = &a->app;
	const char *last = strrchr(app->id, '/');
	json_t *ti, *resj;
	struct buf b;
	struct jsonw w;

	buf_init(&b);
	jsonw_init(&w, &b);
	resources_write_json(&w, res);
	resj = json_loadb(b.data, b.len, 0, NULL);
	buf_release(&b);
	ti = json_pack("{s:s,s:{s:s},s:{s:s},s:o}", "name",
	               last ? last + 1 : app->id, "task_id", "value", t->id,
	               "agent_id", "value", t->agent_id, "resources",
	               resj ? resj : json_array());
	json_object_set_new(ti, "command", svc_command(sv, a, t));
	if (app->nhealth_checks) {
		json_t *hc = app_health_check_to_mesos(&app->health_checks[0],
		                                       t->ports, t->nports, e);

		if (!hc) {
			json_decref(ti);
			return NULL;
		}
		json_object_set_new(ti, "health_check", hc);
	}
	if (app->task_kill_grace_period_seconds >= 0)
		json_object_set_new(
		    ti, "kill_policy",
		    json_pack("{s:{s:I}}", "grace_period", "nanoseconds",
		              (json_int_t)(app->task_kill_grace_period_seconds *
		                           1e9)));
	json_object_set_new(ti, "discovery", svc_discovery(a, t));
	if (app->nlabels)
		json_object_set_new(ti, "labels",
		                    svc_labels(app->labels, app->nlabels));
	return ti;
}

static struct svc_task *svc_task_new(struct svc_app *a,
                                     const struct svc_offer *o,
                                     const int *ports, size_t nports)
{
	struct svc_task *t = xcalloc(1, sizeof(*t));
	char uuid[IDS_UUID_STRLEN];
	char *prefix = svc_task_prefix(a->app.id);

	ids_uuid_str(uuid);
	t->id = xasprintf("%s.%s", prefix, uuid);
	free(prefix);
	t->app_id = xstrdup(a->app.id);
	t->config_version = xstrdup(a->config_version);
	t->agent_id = xstrdup(o->agent_id);
	t->hostname = xstrdup(o->hostname ? o->hostname : "");
	t->ip = o->ip ? xstrdup(o->ip) : NULL;
	attributes_copy(&t->attributes, &o->attributes);
	t->ports = xcalloc(nports + 1, sizeof(int));
	memcpy(t->ports, ports, nports * sizeof(int));
	t->nports = nports;
	t->state = xstrdup("TASK_STAGING");
	t->healthy = -1;
	t->checked = a->app.nhealth_checks > 0;
	t->staged_at = svc_now_wall();
	return t;
}

/* Launches as many instances of a as fit in o; appends TaskInfos. */
static int svc_place_app(struct services *sv, struct svc_app *a,
                         struct svc_offer *o, int want, json_t *infos)
{
	int placed = 0;

	a->offers_seen++;
	while (placed < want) {
		int ports[SVC_MAX_PORTS];
		struct resources taken;
		struct svc_task *t;
		struct err e = {{0}};
		json_t *ti;

		if (a->app.nports > SVC_MAX_PORTS)
			break;
		if (!svc_constraints_pass(sv, a, o))
			break;
		if (!svc_fit(sv, a, o, &taken, ports))
			break;
		t = svc_task_new(a, o, ports, a->app.nports);
		ti = svc_task_info(sv, a, t, &taken, &e);
		if (!ti || svc_task_persist(sv, t, &e)) {
			log_error(SVC_COMPONENT, "app=%s cannot launch: %s",
			          a->app.id, e.msg);
			resources_add(&o->avail, &taken);
			resources_release(&taken);
			json_decref(ti);
			free(t->id);
			t->id = NULL;
			/* t is not attached: free its fields by hand. */
			free(t->app_id);
			free(t->config_version);
			free(t->agent_id);
			free(t->hostname);
			attributes_release(&t->attributes);
			free(t->ports);
			free(t->state);
			free(t->ip);
			free(t);
			break;
		}
		resources_release(&taken);
		t->node.key = t->id;
		hmap_insert(&sv->tasks, &t->node);
		list_add_tail(&a->tasks, &t->app_link);
		a->ntasks++;
		json_array_append_new(infos, ti);
		placed++;
		sv->tasks_launched++;
		log_info(SVC_COMPONENT, "app=%s task=%s agent=%s launching",
		         a->app.id, t->id, t->hostname);
	}
	if (placed)
		a->offers_used++;
	return placed;
}

static int svc_app_cmp(const void *x, const void *y)
{
	const struct svc_app *a = *(struct svc_app *const *)x;
	const struct svc_app *b = *(struct svc_app *const *)y;

	if (a->queued_since != b->queued_since)
		return a->queued_since < b->queued_since ? -1 : 1;
	return strcmp(a->app.id, b->app.id);
}

static void svc_offer_one(struct services *sv, json_t *offer,
                          struct svc_app **apps, int *want, size_t napps)
{
	struct svc_offer o = {0};
	json_t *infos = json_array();
	struct err e = {{0}};

	o.id = json_string_value(
	    json_object_get(json_object_get(offer, "id"), "value"));
	o.agent_id = json_string_value(
	    json_object_get(json_object_get(offer, "agent_id"), "value"));
	o.hostname = json_string_value(json_object_get(offer, "hostname"));
	o.ip = json_string_value(json_object_get(
	    json_object_get(json_object_get(offer, "url"), "address"), "ip"));
	attributes_init(&o.attributes);
	resources_init(&o.avail);
	if (!o.id || !o.agent_id ||
	    resources_from_json(&o.avail, json_object_get(offer, "resources"),
	                        &e) ||
	    (json_object_get(offer, "attributes") &&
	     attributes_from_json(&o.attributes,
	                          json_object_get(offer, "attributes"), &e))) {
		log_warn(SVC_COMPONENT, "ignoring a malformed offer: %s",
		         e.msg[0] ? e.msg : "no id");
		if (o.id)
			(void)atoll_scheduler_decline(sv->sched, &o.id, 1,
			                              SVC_DECLINE_SECONDS);
		goto out;
	}
	if (!o.hostname)
		o.hostname = "";
	for (size_t i = 0; i < napps; i++) {
		if (want[i] <= 0)
			continue;
		want[i] -= svc_place_app(sv, apps[i], &o, want[i], infos);
	}
	if (json_array_size(infos)) {
		int rc = atoll_scheduler_launch(sv->sched, o.id, infos,
		                                SVC_DECLINE_SECONDS);

		infos = NULL;
		if (rc)
			log_warn(SVC_COMPONENT,
			         "offer=%s cannot send the launch: %s; "
			         "reconciliation will tell",
			         o.id, strerror(-rc));
	} else {
		(void)atoll_scheduler_decline(sv->sched, &o.id, 1,
		                              SVC_DECLINE_SECONDS);
	}
out:
	json_decref(infos);
	attributes_release(&o.attributes);
	resources_release(&o.avail);
}

void svc_launch_offers(struct services *sv, json_t *offers)
{
	struct svc_app **apps = xcalloc(sv->apps.count + 1, sizeof(*apps));
	int *want = xcalloc(sv->apps.count + 1, sizeof(*want));
	struct hmap_node *n, *tmp;
	size_t napps = 0, i;
	json_t *offer;

	sv->offers_total += json_array_size(offers);
	/* svc_tick_run sets queued_since; make sure it is fresh. */
	HMAP_FOR_EACH_SAFE(&sv->apps, i, n, tmp)
	{
		struct svc_app *a = container_of(n, struct svc_app, node);

		if (svc_launch_wanted(sv, a) > 0)
			apps[napps++] = a;
	}
	qsort(apps, napps, sizeof(*apps), svc_app_cmp);
	for (i = 0; i < napps; i++)
		want[i] = svc_launch_wanted(sv, apps[i]);
	json_array_foreach(offers, i, offer)
	    svc_offer_one(sv, offer, apps, want, napps);
	free(apps);
	free(want);
	if (napps)
		svc_kick(sv);
}
