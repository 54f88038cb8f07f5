/*
 * svc_resident.c: resident instances, Marathon's stateful apps. An app
 * with persistent volumes (container.volumes[].persistent) does not take
 * resources offer by offer: each instance first dynamically reserves its
 * cpus, mem and disk on one agent and creates its volumes there, and every
 * later task of that instance relaunches on the same agent, on the same
 * reservation, with the same volumes (svc_launch.c builds the operations).
 *
 * A reservation is labelled {SVC_RESIDENT_LABEL: <resident id>} so the
 * framework recognises its resources in offers. The resident record
 * (store namespace "residents") is persisted before the RESERVE is sent;
 * if the reservation never happens the record waits for an offer that
 * never comes, and if the record is lost (wiped, app deleted) the
 * labelled resources are orphans: svc_resident_gc_ops() destroys their
 * volumes and unreserves them at the next offer. That one rule also
 * cleans up after a crash between the store and the master.
 *
 *   (none) --first launch: RESERVE + CREATE + LAUNCH--> resident
 *   resident --task ends--> idle --offer from its agent--> LAUNCH again
 *   resident --app deleted / task wiped--> forgotten --next offer-->
 *       DESTROY + UNRESERVE (svc_resident_gc_ops)
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/store.h"

#define SVC_RELEASE_WAIT 600.0 /* seconds an orphan release is pursued */

/* A reservation to release: offers are kept coming until it is seen. */
struct svc_release {
	struct hmap_node node; /* key: id */
	char *id;
	double since; /* mono seconds */
};

static void svc_release_add(struct services *sv, const char *id)
{
	struct svc_release *rl;

	if (hmap_find(&sv->releases, id))
		return;
	rl = xcalloc(1, sizeof(*rl));
	rl->id = xstrdup(id);
	rl->since = svc_now_mono();
	rl->node.key = rl->id;
	hmap_insert(&sv->releases, &rl->node);
}

static void svc_release_drop(struct services *sv, struct svc_release *rl)
{
	hmap_remove(&sv->releases, &rl->node);
	free(rl->id);
	free(rl);
}

bool svc_resident_releases_pending(struct services *sv)
{
	struct hmap_node *n, *tmp;
	double now = svc_now_mono();
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->releases, i, n, tmp)
	{
		struct svc_release *rl =
		    container_of(n, struct svc_release, node);

		if (now - rl->since > SVC_RELEASE_WAIT) {
			log_warn(
			    SVC_COMPONENT,
			    "resident=%s no offer showed its reservation "
			    "for %.0f s; it will be released when one does",
			    rl->id, SVC_RELEASE_WAIT);
			svc_release_drop(sv, rl);
		}
	}
	return sv->releases.count > 0;
}

void svc_resident_release_all(struct services *sv)
{
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&sv->releases, i, n, tmp)
	svc_release_drop(sv, container_of(n, struct svc_release, node));
	hmap_release(&sv->releases);
}

bool svc_app_is_resident(const struct app *app)
{
	for (size_t i = 0; i < app->nvolumes; i++)
		if (app->volumes[i].persistent_size > 0)
			return true;
	return false;
}

struct svc_resident *svc_resident_find(struct services *sv, const char *id)
{
	return hmap_entry(hmap_find(&sv->residents, id), struct svc_resident,
	                  node);
}

void svc_resident_free(struct svc_resident *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->app_id);
	free(r->agent_id);
	free(r->hostname);
	free(r->ip);
	attributes_release(&r->attributes);
	free(r);
}

static json_t *svc_resident_record(const struct svc_resident *r)
{
	json_t *rec = json_object();
	json_t *attrs;
	struct buf b;
	struct jsonw w;

	buf_init(&b);
	jsonw_init(&w, &b);
	attributes_write_json(&w, &r->attributes);
	attrs = json_loadb(b.data, b.len, 0, NULL);
	buf_release(&b);
	json_object_set_new(rec, "appId", json_string(r->app_id));
	json_object_set_new(rec, "agentId", json_string(r->agent_id));
	json_object_set_new(rec, "host", json_string(r->hostname));
	if (r->ip)
		json_object_set_new(rec, "ip", json_string(r->ip));
	json_object_set_new(rec, "attributes", attrs ? attrs : json_array());
	return rec;
}

int svc_resident_add(struct services *sv, struct svc_resident *r, struct err *e)
{
	json_t *rec = svc_resident_record(r);
	char *text = json_dumps(rec, JSON_COMPACT);
	int rc;

	json_decref(rec);
	rc = store_put(sv->store, "residents", r->id, text, strlen(text), e);
	free(text);
	if (rc) {
		svc_resident_free(r);
		return rc;
	}
	r->node.key = r->id;
	hmap_insert(&sv->residents, &r->node);
	return 0;
}

void svc_resident_forget(struct services *sv, struct svc_resident *r)
{
	struct err e = {{0}};

	log_info(SVC_COMPONENT,
	         "app=%s resident=%s forgotten: its reservation and volumes "
	         "go at the next offer from its agent",
	         r->app_id, r->id);
	if (store_delete(sv->store, "residents", r->id, &e))
		log_error(SVC_COMPONENT, "resident=%s %s", r->id, e.msg);
	svc_release_add(sv, r->id);
	svc_kick(sv);
	hmap_remove(&sv->residents, &r->node);
	svc_resident_free(r);
}

struct svc_task *svc_resident_task(struct services *sv,
                                   const struct svc_resident *r)
{
	struct svc_app *a = svc_app_find(sv, r->app_id);
	struct list *pos;

	if (!a)
		return NULL;
	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (t->resident_id && !strcmp(t->resident_id, r->id) &&
		    !t->killing && svc_task_is_alive(sv, a, t))
			return t;
	}
	return NULL;
}

size_t svc_resident_count(struct services *sv, const char *app_id)
{
	struct hmap_node *n, *tmp;
	size_t i, count = 0;

	HMAP_FOR_EACH_SAFE(&sv->residents, i, n, tmp)
	{
		struct svc_resident *r =
		    container_of(n, struct svc_resident, node);

		count += !strcmp(r->app_id, app_id);
	}
	return count;
}

static int svc_resident_load_one(const char *key, const char *val, size_t len,
                                 void *arg)
{
	struct services *sv = arg;
	json_t *rec = json_loadb(val, len, 0, NULL);
	struct svc_resident *r;
	struct err e = {{0}};
	const char *app = json_string_value(json_object_get(rec, "appId"));
	const char *agent = json_string_value(json_object_get(rec, "agentId"));

	if (!app || !agent) {
		log_error(SVC_COMPONENT,
		          "resident=%s ignoring an unreadable record", key);
		json_decref(rec);
		return 0;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = xstrdup(key);
	r->app_id = xstrdup(app);
	r->agent_id = xstrdup(agent);
	r->hostname =
	    xstrdup(json_string_value(json_object_get(rec, "host")) ?: "");
	if (json_string_value(json_object_get(rec, "ip")))
		r->ip = xstrdup(json_string_value(json_object_get(rec, "ip")));
	attributes_init(&r->attributes);
	if (attributes_from_json(&r->attributes,
	                         json_object_get(rec, "attributes"), &e))
		log_warn(SVC_COMPONENT, "resident=%s bad attributes: %s", key,
		         e.msg);
	r->node.key = r->id;
	hmap_insert(&sv->residents, &r->node);
	json_decref(rec);
	return 0;
}

int svc_resident_load(struct services *sv, struct err *e)
{
	return store_scan(sv->store, "residents", svc_resident_load_one, sv, e);
}

/* The resident id a resource is labelled with, or NULL. */
static const char *svc_resource_label(const json_t *r)
{
	json_t *resv = json_object_get(r, "reservations");
	json_t *top = json_array_get(resv, json_array_size(resv) - 1);
	json_t *labels =
	    json_object_get(json_object_get(top, "labels"), "labels");
	json_t *l;
	size_t i;

	json_array_foreach(labels, i, l)
	{
		const char *k = json_string_value(json_object_get(l, "key"));

		if (k && !strcmp(k, SVC_RESIDENT_LABEL))
			return json_string_value(json_object_get(l, "value"));
	}
	return NULL;
}

json_t *svc_resident_offered(const json_t *offer, const char *id)
{
	json_t *out = json_array();
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(offer, "resources"), i, r)
	{
		const char *label = svc_resource_label(r);

		if (label && !strcmp(label, id))
			json_array_append(out, r);
	}
	return out;
}

void svc_resident_gc_ops(struct services *sv, const json_t *offer, json_t *ops)
{
	json_t *destroy = json_array(), *unreserve = json_array();
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(offer, "resources"), i, r)
	{
		const char *label = svc_resource_label(r);
		struct svc_release *rl;
		json_t *plain;

		if (!label || svc_resident_find(sv, label))
			continue;
		rl = hmap_entry(hmap_find(&sv->releases, label),
		                struct svc_release, node);
		if (rl)
			svc_release_drop(sv, rl);
		plain = json_deep_copy(r);
		if (json_object_get(r, "disk")) {
			json_array_append(destroy, r);
			/* After DESTROY the volume is plain reserved disk. */
			json_object_del(plain, "disk");
		}
		json_array_append_new(unreserve, plain);
		log_info(SVC_COMPONENT, "resident=%s releasing its orphaned %s",
		         label, json_string_value(json_object_get(r, "name")));
	}
	if (json_array_size(destroy))
		json_array_append_new(ops, json_pack("{s:s,s:{s:O}}", "type",
		                                     "DESTROY", "destroy",
		                                     "volumes", destroy));
	if (json_array_size(unreserve))
		json_array_append_new(ops, json_pack("{s:s,s:{s:O}}", "type",
		                                     "UNRESERVE", "unreserve",
		                                     "resources", unreserve));
	json_decref(destroy);
	json_decref(unreserve);
}
