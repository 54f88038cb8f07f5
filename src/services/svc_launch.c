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
	const json_t *json; /* the offer as received */
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
		const struct resource *r = &avail->v[i];

		if (!svc_role_accepted(sv, app, r->role))
			continue;
		/* Dynamic reservations and volumes belong to residents. */
		if (r->persistence_id ||
		    (r->nreservations &&
		     r->reservations[r->nreservations - 1].type ==
		         RESERVATION_DYNAMIC))
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

	placed = xcalloc(a->ntasks + sv->residents.count + 1, sizeof(*placed));
	if (svc_app_is_resident(&a->app)) {
		/* Residents hold their agents even between tasks. */
		struct hmap_node *rn, *rtmp;
		size_t i;

		HMAP_FOR_EACH_SAFE(&((struct services *)sv)->residents, i, rn,
		                   rtmp)
		{
			const struct svc_resident *r =
			    container_of(rn, struct svc_resident, node);

			if (strcmp(r->app_id, a->app.id))
				continue;
			placed[n].hostname = r->hostname;
			placed[n].attributes = &r->attributes;
			n++;
		}
	}
	for (pos = a->tasks.next;
	     !svc_app_is_resident(&a->app) && pos != &a->tasks;
	     pos = pos->next) {
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
		    app->fetch[i].extract && !app->fetch[i].executable,
		    "executable", app->fetch[i].executable, "cache",
		    app->fetch[i].cache);

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

/* The executor's graceful-shutdown labels (docs/executor.md). */
static void svc_shutdown_labels(const struct app *app, const struct svc_task *t,
                                json_t *labels)
{
	char num[32];

	for (size_t i = 0;
	     app->shutdown_port_name && i < app->nports && i < t->nports; i++) {
		if (!app->ports[i].name ||
		    strcmp(app->ports[i].name, app->shutdown_port_name))
			continue;
		snprintf(num, sizeof(num), "%d", t->ports[i]);
		json_array_append_new(labels, json_pack("{s:s,s:s}", "key",
		                                        "atoll.shutdown.port",
		                                        "value", num));
		snprintf(num, sizeof(num), "%g", app->shutdown_quit_wait);
		json_array_append_new(labels,
		                      json_pack("{s:s,s:s}", "key",
		                                "atoll.shutdown.quit_wait",
		                                "value", num));
		snprintf(num, sizeof(num), "%g", app->shutdown_abort_wait);
		json_array_append_new(labels,
		                      json_pack("{s:s,s:s}", "key",
		                                "atoll.shutdown.abort_wait",
		                                "value", num));
		return;
	}
}

/* Builds the TaskInfo; NULL with e set when the health check cannot be
 * built (a validation gap: logged, the task is not launched). */
static json_t *svc_resources_json(const struct resources *res)
{
	struct buf b;
	struct jsonw w;
	json_t *j;

	buf_init(&b);
	jsonw_init(&w, &b);
	resources_write_json(&w, res);
	j = json_loadb(b.data, b.len, 0, NULL);
	buf_release(&b);
	return j ? j : json_array();
}

/* resj: the task's resources as JSON (taken). */
static json_t *svc_task_info(const struct services *sv, const struct svc_app *a,
                             const struct svc_task *t, json_t *resj,
                             struct err *e)
{
	const struct app *app = &a->app;
	const char *last = strrchr(app->id, '/');
	json_t *ti;

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
	if (app->nlabels || app->shutdown_port_name) {
		json_t *labels = svc_labels(app->labels, app->nlabels);

		svc_shutdown_labels(app, t, json_object_get(labels, "labels"));
		json_object_set_new(ti, "labels", labels);
	}
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

/* Frees a task that was never attached. */
static void svc_task_drop(struct svc_task *t)
{
	free(t->id);
	free(t->app_id);
	free(t->config_version);
	free(t->agent_id);
	free(t->hostname);
	attributes_release(&t->attributes);
	free(t->ports);
	free(t->state);
	free(t->ip);
	free(t->resident_id);
	free(t);
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
		ti = svc_task_info(sv, a, t, svc_resources_json(&taken), &e);
		if (!ti || svc_task_persist(sv, t, &e)) {
			log_error(SVC_COMPONENT, "app=%s cannot launch: %s",
			          a->app.id, e.msg);
			resources_add(&o->avail, &taken);
			resources_release(&taken);
			json_decref(ti);
			svc_task_drop(t);
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

/* Persists t and attaches it; on failure frees it and returns false. */
static bool svc_task_commit(struct services *sv, struct svc_app *a,
                            struct svc_task *t, struct err *e)
{
	if (svc_task_persist(sv, t, e)) {
		log_error(SVC_COMPONENT, "app=%s cannot launch: %s", a->app.id,
		          e->msg);
		svc_task_drop(t);
		return false;
	}
	t->node.key = t->id;
	hmap_insert(&sv->tasks, &t->node);
	list_add_tail(&a->tasks, &t->app_link);
	a->ntasks++;
	sv->tasks_launched++;
	return true;
}

/* A reserved resource of a resident, in Mesos's refined JSON form. */
static json_t *svc_reserved(const struct services *sv, const char *name,
                            double value, const char *role, const char *id)
{
	return json_pack(
	    "{s:s,s:s,s:{s:f},s:[{s:s,s:s,s:s,s:{s:[{s:s,s:s}]}}],s:{s:s}}",
	    "name", name, "type", "SCALAR", "scalar", "value", value,
	    "reservations", "type", "DYNAMIC", "role", role, "principal",
	    sv->cfg.principal, "labels", "labels", "key", SVC_RESIDENT_LABEL,
	    "value", id, "allocation_info", "role", role);
}

/* The ports of a resident's task, from the offer's unreserved part. */
static bool svc_resident_ports(const struct services *sv, struct svc_app *a,
                               struct svc_offer *o, int *ports, json_t *res)
{
	int wanted[SVC_MAX_PORTS] = {0};
	struct resources usable, taken;
	json_t *pj;
	bool ok;

	svc_usable(sv, &a->app, &o->avail, &usable);
	for (size_t i = 0; i < a->app.nports && a->app.require_ports; i++)
		wanted[i] = a->app.ports[i].port;
	resources_init(&taken);
	ok = !resources_take_ports(&usable, a->app.nports, wanted, ports,
	                           &taken);
	resources_release(&usable);
	if (!ok) {
		a->declined_ports++;
		resources_release(&taken);
		return false;
	}
	BUG_ON(resources_subtract(&o->avail, &taken));
	pj = svc_resources_json(&taken);
	json_array_extend(res, pj);
	json_decref(pj);
	resources_release(&taken);
	return true;
}

/* Relaunches idle residents of a on this offer's agent. */
static int svc_relaunch_residents(struct services *sv, struct svc_app *a,
                                  struct svc_offer *o, int want, json_t *infos)
{
	struct hmap_node *n, *tmp;
	int placed = 0;
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->residents, i, n, tmp)
	{
		struct svc_resident *r =
		    container_of(n, struct svc_resident, node);
		int ports[SVC_MAX_PORTS];
		struct err e = {{0}};
		struct svc_task *t;
		json_t *res, *ti;

		if (placed >= want || strcmp(r->app_id, a->app.id) ||
		    strcmp(r->agent_id, o->agent_id) ||
		    svc_resident_task(sv, r))
			continue;
		res = svc_resident_offered(o->json, r->id);
		if (!json_array_size(res) ||
		    !svc_resident_ports(sv, a, o, ports, res)) {
			json_decref(res);
			continue;
		}
		t = svc_task_new(a, o, ports, a->app.nports);
		t->resident_id = xstrdup(r->id);
		ti = svc_task_info(sv, a, t, res, &e);
		if (!ti) {
			log_error(SVC_COMPONENT, "app=%s cannot launch: %s",
			          a->app.id, e.msg);
			svc_task_drop(t);
			break;
		}
		if (!svc_task_commit(sv, a, t, &e)) {
			json_decref(ti);
			break;
		}
		json_array_append_new(infos, ti);
		placed++;
		log_info(SVC_COMPONENT,
		         "app=%s task=%s resident=%s agent=%s relaunching on "
		         "its reservation",
		         a->app.id, t->id, r->id, t->hostname);
	}
	return placed;
}

/*
 * A new resident: RESERVE cpus, mem and disk (the app's disk plus its
 * volumes) from the offer's unreserved resources for our role, CREATE
 * the volumes, and LAUNCH the first task on them.
 */
static bool svc_new_resident(struct services *sv, struct svc_app *a,
                             struct svc_offer *o, json_t *pre, json_t *infos)
{
	const struct app *app = &a->app;
	struct resources usable, taken;
	int ports[SVC_MAX_PORTS];
	double disk = app->disk;
	struct svc_resident *r;
	struct err e = {{0}};
	struct svc_task *t;
	json_t *reserve, *volumes, *res, *ti;
	const char *role = NULL;
	char uuid[IDS_UUID_STRLEN];
	char *prefix;
	bool ok;

	for (size_t i = 0; i < app->nvolumes; i++)
		disk += app->volumes[i].persistent_size;
	/* Only unreserved resources can be reserved. */
	svc_usable(sv, app, &o->avail, &usable);
	for (size_t i = 0; i < usable.n; i++)
		if (strcmp(usable.v[i].role, "*") &&
		    usable.v[i].type == RESOURCE_SCALAR)
			usable.v[i].scalar = 0;
	resources_init(&taken);
	ok = !resources_take_scalar(&usable, "cpus", res_from_double(app->cpus),
	                            &taken) &&
	     !resources_take_scalar(&usable, "mem", res_from_double(app->mem),
	                            &taken) &&
	     !resources_take_scalar(&usable, "disk", res_from_double(disk),
	                            &taken);
	resources_release(&usable);
	for (size_t i = 0; ok && i < taken.n; i++)
		role = taken.v[i].alloc_role;
	if (!ok || !role || !strcmp(role, "*")) {
		if (ok)
			a->declined_role++;
		else
			svc_refuse_resource(a, &o->avail, &o->avail);
		resources_release(&taken);
		return false;
	}
	BUG_ON(resources_subtract(&o->avail, &taken));
	res = json_array();
	if (!svc_resident_ports(sv, a, o, ports, res)) {
		resources_add(&o->avail, &taken);
		resources_release(&taken);
		json_decref(res);
		return false;
	}
	ids_uuid_str(uuid);
	prefix = svc_task_prefix(app->id);
	r = xcalloc(1, sizeof(*r));
	r->id = xasprintf("%s.resident.%s", prefix, uuid);
	free(prefix);
	r->app_id = xstrdup(app->id);
	r->agent_id = xstrdup(o->agent_id);
	r->hostname = xstrdup(o->hostname);
	r->ip = o->ip ? xstrdup(o->ip) : NULL;
	attributes_copy(&r->attributes, &o->attributes);
	reserve = json_array();
	volumes = json_array();
	json_array_append_new(reserve,
	                      svc_reserved(sv, "cpus", app->cpus, role, r->id));
	json_array_append_new(reserve,
	                      svc_reserved(sv, "mem", app->mem, role, r->id));
	json_array_append_new(reserve,
	                      svc_reserved(sv, "disk", disk, role, r->id));
	json_array_append_new(res,
	                      svc_reserved(sv, "cpus", app->cpus, role, r->id));
	json_array_append_new(res,
	                      svc_reserved(sv, "mem", app->mem, role, r->id));
	if (app->disk > 0)
		json_array_append_new(
		    res, svc_reserved(sv, "disk", app->disk, role, r->id));
	for (size_t i = 0; i < app->nvolumes; i++) {
		const struct app_volume *v = &app->volumes[i];
		json_t *vol;
		char *pid;

		if (v->persistent_size <= 0)
			continue;
		pid = xasprintf("%s#%s", r->id, v->container_path);
		vol = svc_reserved(sv, "disk", v->persistent_size, role, r->id);
		json_object_set_new(
		    vol, "disk",
		    json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "persistence", "id",
		              pid, "principal", sv->cfg.principal, "volume",
		              "container_path", v->container_path, "mode",
		              v->mode ? v->mode : "RW"));
		json_array_append(volumes, vol);
		json_array_append_new(res, vol);
		free(pid);
	}
	resources_release(&taken);
	/* Persist, then reserve: a lost reservation is found again by its
	 * label; a lost record makes the reservation an orphan, released. */
	t = svc_task_new(a, o, ports, app->nports);
	if (svc_resident_add(sv, r, &e)) {
		log_error(SVC_COMPONENT, "app=%s cannot reserve: %s", app->id,
		          e.msg);
		svc_task_drop(t);
		json_decref(reserve);
		json_decref(volumes);
		json_decref(res);
		return false;
	}
	t->resident_id = xstrdup(r->id);
	ti = svc_task_info(sv, a, t, res, &e);
	if (!ti || !svc_task_commit(sv, a, t, &e)) {
		if (!ti)
			svc_task_drop(t);
		json_decref(ti);
		json_decref(reserve);
		json_decref(volumes);
		return false;
	}
	json_array_append_new(pre, json_pack("{s:s,s:{s:o}}", "type", "RESERVE",
	                                     "reserve", "resources", reserve));
	json_array_append_new(pre, json_pack("{s:s,s:{s:o}}", "type", "CREATE",
	                                     "create", "volumes", volumes));
	json_array_append_new(infos, ti);
	log_info(SVC_COMPONENT,
	         "app=%s task=%s resident=%s agent=%s reserving and creating "
	         "its volumes",
	         app->id, t->id, r->id, t->hostname);
	return true;
}

static int svc_place_resident(struct services *sv, struct svc_app *a,
                              struct svc_offer *o, int want, json_t *pre,
                              json_t *infos)
{
	int placed;

	a->offers_seen++;
	placed = svc_relaunch_residents(sv, a, o, want, infos);
	while (placed < want && a->app.nports <= SVC_MAX_PORTS &&
	       svc_resident_count(sv, a->app.id) < (size_t)a->app.instances &&
	       svc_constraints_pass(sv, a, o) &&
	       svc_new_resident(sv, a, o, pre, infos))
		placed++;
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
	json_t *infos = json_array(), *ops = json_array();
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
	o.json = offer;
	for (size_t i = 0; i < napps; i++) {
		if (want[i] <= 0)
			continue;
		if (svc_app_is_resident(&apps[i]->app))
			want[i] -= svc_place_resident(sv, apps[i], &o, want[i],
			                              ops, infos);
		else
			want[i] -=
			    svc_place_app(sv, apps[i], &o, want[i], infos);
	}
	if (json_array_size(infos))
		json_array_append_new(ops, json_pack("{s:s,s:{s:O}}", "type",
		                                     "LAUNCH", "launch",
		                                     "task_infos", infos));
	svc_resident_gc_ops(sv, offer, ops);
	if (json_array_size(ops)) {
		int rc = atoll_scheduler_accept(sv->sched, &o.id, 1, ops,
		                                SVC_DECLINE_SECONDS);

		ops = NULL;
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
	json_decref(ops);
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
