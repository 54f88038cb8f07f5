/*
 * registry.c: the master's agent registry (see registry.h for the model).
 *
 * State per agent id (every arrow is one store_put of the agent's key,
 * made before the in-memory record changes):
 *
 *                 registry_admit()
 *   (unknown) ---------------------------> admitted <----+
 *       |                                     |          | registry_admit()
 *       |  registry_mark_unreachable()        v          | (agent is back)
 *       +------------------------------> unreachable ----+
 *       |                                     |
 *       |  registry_mark_gone() from any state v
 *       +---------------------------------> gone (final)
 *
 *   registry_prune(): unreachable/gone --> (unknown), by age and count.
 *
 * Invariants: r->agents holds one struct registry_record per known id;
 * with a store, every record equals what the store holds for its key (a
 * failed write changes neither); r->counts[st] is the number of records
 * in state st.
 */
#include "lib/compat.h"
#include "master/registry.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/hmap.h"
#include "lib/store.h"

#define REGISTRY_NS_AGENTS "agents"
#define REGISTRY_NS_META "meta"
#define REGISTRY_VERSION "1"

struct registry_record {
	struct hmap_node node; /* in r->agents, key = ra.id */
	struct registry_agent ra;
	char *id;
	char *info_json;
};

struct registry {
	struct store *store; /* NULL in memory */
	struct hmap agents;
	size_t counts[REGISTRY_GONE + 1];
};

static const char *const registry_state_names[] = {
    [REGISTRY_UNKNOWN] = "unknown",
    [REGISTRY_ADMITTED] = "admitted",
    [REGISTRY_UNREACHABLE] = "unreachable",
    [REGISTRY_GONE] = "gone",
};

const char *registry_state_name(enum registry_state st)
{
	if ((size_t)st >= ARRAY_SIZE(registry_state_names))
		return "unknown";
	return registry_state_names[st];
}

static int registry_state_parse(const char *s, enum registry_state *st)
{
	for (size_t i = REGISTRY_ADMITTED; i < ARRAY_SIZE(registry_state_names);
	     i++) {
		if (s && !strcmp(s, registry_state_names[i])) {
			*st = (enum registry_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- records ------------------------------------------------------------ */

static struct registry_record *registry_lookup(const struct registry *r,
                                               const char *id)
{
	return hmap_entry(hmap_find(&r->agents, id), struct registry_record,
	                  node);
}

static void registry_record_free(struct registry_record *rec)
{
	if (!rec)
		return;
	free(rec->id);
	free(rec->info_json);
	free(rec);
}

/* Inserts or updates id's record in memory (info_json is taken). */
static void registry_set(struct registry *r, const char *id,
                         enum registry_state st, double time, char *info_json)
{
	struct registry_record *rec = registry_lookup(r, id);

	if (!rec) {
		rec = xcalloc(1, sizeof(*rec));
		rec->id = xstrdup(id);
		rec->node.key = rec->id;
		rec->ra.id = rec->id;
		hmap_insert(&r->agents, &rec->node);
	} else {
		r->counts[rec->ra.state]--;
	}
	free(rec->info_json);
	rec->info_json = info_json;
	rec->ra.info_json = info_json;
	rec->ra.state = st;
	rec->ra.time = time;
	r->counts[st]++;
}

static void registry_unset(struct registry *r, struct registry_record *rec)
{
	r->counts[rec->ra.state]--;
	hmap_remove(&r->agents, &rec->node);
	registry_record_free(rec);
}

/* Serialises one record as the store's value (heap, caller frees). */
static char *registry_encode(enum registry_state st, double time,
                             const char *info_json)
{
	json_t *o = json_object();
	json_t *info = NULL;
	char *out;

	json_object_set_new(o, "state", json_string(registry_state_name(st)));
	json_object_set_new(o, "time", json_real(time));
	if (info_json)
		info = json_loads(info_json, 0, NULL);
	if (info)
		json_object_set_new(o, "info", info);
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!out)
		abort(); /* jansson fails only on out-of-memory here */
	return out;
}

/*
 * Writes id's new record to the store (nothing in memory), then applies
 * it to memory. info_json is copied.
 */
static int registry_write(struct registry *r, const char *id,
                          enum registry_state st, double time,
                          const char *info_json, struct err *e)
{
	int rc;

	if (r->store) {
		char *val = registry_encode(st, time, info_json);
		rc = store_put(r->store, REGISTRY_NS_AGENTS, id, val,
		               strlen(val), e);
		free(val);
		if (rc)
			return rc;
	}
	registry_set(r, id, st, time, info_json ? xstrdup(info_json) : NULL);
	return 0;
}

/* ---- loading ------------------------------------------------------------ */

struct registry_load {
	struct registry *r;
	struct err *e;
};

/* Parses one stored record; a bad one fails the whole load (-EILSEQ). */
static int registry_load_one(const char *key, const char *val, size_t len,
                             void *arg)
{
	struct registry_load *ld = arg;
	json_error_t jerr;
	json_t *o = json_loadb(val, len, 0, &jerr);
	json_t *t, *info;
	enum registry_state st;
	char *info_json = NULL;
	int rc = -EILSEQ;

	if (!json_is_object(o)) {
		err_set(ld->e, "agents/%s: not a JSON object", key);
		goto out;
	}
	if (registry_state_parse(json_string_value(json_object_get(o, "state")),
	                         &st)) {
		err_set(ld->e,
		        "agents/%s.state: expected admitted, "
		        "unreachable or gone",
		        key);
		goto out;
	}
	t = json_object_get(o, "time");
	if (!json_is_number(t) || !isfinite(json_number_value(t))) {
		err_set(ld->e, "agents/%s.time: expected a number", key);
		goto out;
	}
	info = json_object_get(o, "info");
	if (st == REGISTRY_ADMITTED) {
		if (!json_is_object(info)) {
			err_set(ld->e, "agents/%s.info: expected an object",
			        key);
			goto out;
		}
		info_json = json_dumps(info, JSON_COMPACT);
	}
	registry_set(ld->r, key, st, json_number_value(t), info_json);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int registry_check_version(struct registry *r, struct err *e)
{
	char *val = NULL;
	size_t len = 0;
	int rc;

	rc = store_get(r->store, REGISTRY_NS_META, "version", &val, &len, e);
	if (rc == -ENOENT)
		return store_put(r->store, REGISTRY_NS_META, "version",
		                 REGISTRY_VERSION, strlen(REGISTRY_VERSION), e);
	if (rc)
		return rc;
	if (len != strlen(REGISTRY_VERSION) ||
	    memcmp(val, REGISTRY_VERSION, len)) {
		err_set(e,
		        "meta/version: unsupported registry layout '%.32s' "
		        "(this master reads '" REGISTRY_VERSION "')",
		        val);
		rc = -EILSEQ;
	}
	free(val);
	return rc;
}

int registry_open(const char *path, struct registry **out, struct err *e)
{
	struct registry *r = xcalloc(1, sizeof(*r));
	struct registry_load ld = {r, e};
	int rc;

	hmap_init(&r->agents);
	*out = NULL;
	if (path) {
		if ((rc = store_open(path, &r->store, e)))
			goto out_free;
		if ((rc = registry_check_version(r, e)))
			goto out_prefix;
		rc = store_scan(r->store, REGISTRY_NS_AGENTS, registry_load_one,
		                &ld, e);
		if (rc)
			goto out_prefix;
	}
	*out = r;
	return 0;
out_prefix:
	/* store errors name the file already; record errors do not */
	if (!strstr(e->msg, path))
		err_prefix(e, "registry '%s'", path);
out_free:
	registry_free(r);
	return rc;
}

void registry_free(struct registry *r)
{
	struct hmap_node *n, *tmp;
	size_t i;

	if (!r)
		return;
	HMAP_FOR_EACH_SAFE(&r->agents, i, n, tmp)
	{
		registry_record_free(
		    container_of(n, struct registry_record, node));
	}
	hmap_release(&r->agents);
	store_close(r->store);
	free(r);
}

bool registry_is_durable(const struct registry *r)
{
	return r->store != NULL;
}

const char *registry_path(const struct registry *r)
{
	return r->store ? store_path(r->store) : NULL;
}

/* ---- queries --------------------------------------------------------------
 */

const struct registry_agent *registry_find(const struct registry *r,
                                           const char *id)
{
	struct registry_record *rec = id ? registry_lookup(r, id) : NULL;

	return rec ? &rec->ra : NULL;
}

enum registry_state registry_state_of(const struct registry *r, const char *id)
{
	const struct registry_agent *ra = registry_find(r, id);

	return ra ? ra->state : REGISTRY_UNKNOWN;
}

size_t registry_count(const struct registry *r, enum registry_state st)
{
	if ((size_t)st >= ARRAY_SIZE(r->counts) || st == REGISTRY_UNKNOWN)
		return 0;
	return r->counts[st];
}

void registry_foreach(const struct registry *r, registry_agent_fn *fn,
                      void *arg)
{
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&r->agents, i, n, tmp)
	{
		fn(&container_of(n, struct registry_record, node)->ra, arg);
	}
}

/* ---- transitions ----------------------------------------------------------
 */

static int registry_check_id(const char *id, struct err *e)
{
	if (!id || !*id)
		return err_set(e, "agent id: must not be empty");
	return 0;
}

int registry_admit(struct registry *r, const char *id, const char *info_json,
                   double now, struct err *e)
{
	int rc;

	if ((rc = registry_check_id(id, e)))
		return rc;
	if (!info_json)
		return err_set(e, "agent %s: AgentInfo missing", id);
	if (registry_state_of(r, id) == REGISTRY_GONE) {
		err_set(e, "agent %s has been marked gone", id);
		return -EPERM;
	}
	return registry_write(r, id, REGISTRY_ADMITTED, now, info_json, e);
}

int registry_mark_unreachable(struct registry *r, const char *id, double now,
                              struct err *e)
{
	enum registry_state st;
	int rc;

	if ((rc = registry_check_id(id, e)))
		return rc;
	st = registry_state_of(r, id);
	if (st == REGISTRY_GONE) {
		err_set(e, "agent %s has been marked gone", id);
		return -EPERM;
	}
	if (st == REGISTRY_UNREACHABLE)
		return 0;
	return registry_write(r, id, REGISTRY_UNREACHABLE, now, NULL, e);
}

int registry_mark_gone(struct registry *r, const char *id, double now,
                       struct err *e)
{
	int rc;

	if ((rc = registry_check_id(id, e)))
		return rc;
	if (registry_state_of(r, id) == REGISTRY_GONE)
		return 0;
	return registry_write(r, id, REGISTRY_GONE, now, NULL, e);
}

/* Oldest first; ties by id so the order is total. */
static int registry_cmp_age(const void *pa, const void *pb)
{
	const struct registry_record *a = *(struct registry_record *const *)pa;
	const struct registry_record *b = *(struct registry_record *const *)pb;

	if (a->ra.time != b->ra.time)
		return a->ra.time < b->ra.time ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Deletes rec from the store, then memory, reporting it to fn. */
static int registry_drop(struct registry *r, struct registry_record *rec,
                         registry_agent_fn *fn, void *arg, struct err *e)
{
	int rc;

	if (r->store &&
	    (rc = store_delete(r->store, REGISTRY_NS_AGENTS, rec->id, e)))
		return rc;
	if (fn)
		fn(&rec->ra, arg);
	registry_unset(r, rec);
	return 0;
}

int registry_prune(struct registry *r, double now, double max_age,
                   size_t max_count, registry_agent_fn *fn, void *arg,
                   struct err *e)
{
	struct registry_record **old = NULL;
	struct hmap_node *n, *tmp;
	size_t i, nold = 0, alloc = 0, keep;
	int removed = 0, rc = 0;

	HMAP_FOR_EACH_SAFE(&r->agents, i, n, tmp)
	{
		struct registry_record *rec =
		    container_of(n, struct registry_record, node);
		if (rec->ra.state == REGISTRY_ADMITTED)
			continue;
		ALLOC_GROW(old, nold + 1, alloc);
		old[nold++] = rec;
	}
	if (nold)
		qsort(old, nold, sizeof(*old), registry_cmp_age);
	keep = nold;
	for (i = 0; i < nold; i++) {
		bool too_old = now - old[i]->ra.time > max_age;
		if (!too_old && keep <= max_count)
			break;
		if ((rc = registry_drop(r, old[i], fn, arg, e)))
			break;
		keep--;
		removed++;
	}
	free(old);
	return rc ? rc : removed;
}

/* ---- flags ----------------------------------------------------------------
 */

int registry_parse_rate(const char *s, double *interval, struct err *e)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end = NULL;
	double duration;
	long permits;

	if (!slash)
		return err_set(e,
		               "expected N/DURATION (e.g. 1/10mins), got "
		               "'%.64s'",
		               s ? s : "");
	errno = 0;
	permits = strtol(s, &end, 10);
	if (end != slash || end == s || errno || permits < 1)
		return err_set(e,
		               "'%.64s': the number of removals before '/' "
		               "must be an integer >= 1",
		               s);
	if (flags_parse_duration(slash + 1, &duration) || !(duration > 0))
		return err_set(e,
		               "'%.64s': expected a duration after '/' "
		               "(e.g. 10mins), > 0",
		               s);
	*interval = duration / (double)permits;
	return 0;
}
