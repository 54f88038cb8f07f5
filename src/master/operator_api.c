/*
 * operator_api.c: POST /api/v1 on the master, the Mesos v1 operator API,
 * and its event stream (SUBSCRIBE).
 *
 * Calls are table-driven (op_calls[]). Checks run in Mesos's order:
 * v1call_parse() (405 method, 400/415 Content-Type, 406 Accept, 400
 * body), then the type (400 missing, 501 unknown or not implemented yet),
 * then the call's own payload (400 naming the field). Reads answer 200
 * with {"type": "GET_X", "get_x": {...}} written in one pass by the
 * streaming JSON writer; actions answer 200 with an empty body once done.
 *
 * Event stream: SUBSCRIBE turns the connection into a RecordIO stream
 * (200, chunked, application/json). The first records are SUBSCRIBED
 * {get_state, heartbeat_interval_seconds} and a HEARTBEAT (as Mesos
 * does); then the master reports changes through the master_op_* hooks
 * (TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED,
 * FRAMEWORK_UPDATED, FRAMEWORK_REMOVED), and a HEARTBEAT goes out every
 * --heartbeat-interval. Each event is written once and queued on every
 * stream by master_stream_send(): a subscriber whose bounded queue is full
 * gets an ERROR event and is disconnected, never buffered without bound.
 *
 * Subscriber life:
 *
 *   SUBSCRIBE (op_subscribe) --> listed in op->subscribers, stream open
 *       |  slow consumer: master_stream_send() ends the stream with an
 *       |  ERROR event and clears sub->stream (still listed)
 *       v  peer gone, stream ended, or server closing
 *   op_stream_closed(): unlisted and freed
 *
 *   master_op_close_all() (master shutting down): every stream is ended,
 *   every subscriber is unlisted and marked detached, so that its close
 *   callback, which runs later from the loop, only frees it; then the
 *   timers are closed and struct master_op is freed (m->op = NULL).
 *
 * Invariants: op->nsubscribers is the length of op->subscribers and at
 * most OP_MAX_SUBSCRIBERS; the heartbeat timer runs iff nsubscribers > 0;
 * a detached subscriber is reachable only from its stream's close
 * callback. The hooks cost one pointer test and one list_empty() while
 * nobody subscribed. struct master_op is created on first use.
 *
 * Logging level: Mesos reports glog's verbosity (0 normal, higher is more
 * verbose). Atoll maps it onto its levels: GET_LOGGING_LEVEL answers 1
 * while logging at debug, else 0; SET_LOGGING_LEVEL with level > 0 logs
 * at debug, with level 0 at the configured --log-level (capped at info),
 * and after duration returns to the configured --log-level.
 *
 * Resource calls (RESERVE_RESOURCES ... DESTROY_VOLUMES) go through
 * master_agent_apply_op() like the framework's ACCEPT operations; see
 * op_resources() for their status codes.
 *
 * MARK_AGENT_GONE: the id is recorded gone in the registry (durable with
 * a --work-dir; bounded by --registry-max-agent-count/age), then the agent
 * is removed with REASON_AGENT_REMOVED_BY_OPERATOR; a repeated call
 * answers 200 as Mesos does, and the agent API refuses the id for good.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include <ctype.h>
#include <time.h>

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/v1call.h"
#include "lib/version.h"

#define OPAPI "master"

/* Most concurrent event-stream subscribers (Mesos's default of
 * --max_operator_event_stream_subscribers). */
#define OP_MAX_SUBSCRIBERS 1000

struct op_subscriber {
	struct list link; /* in op->subscribers; self-linked once detached */
	struct master *m;
	struct http_stream *stream; /* NULL once ended */
	bool detached;              /* master_op_close_all() let go of it */
};

struct master_op {
	struct list subscribers;
	size_t nsubscribers;
	uv_timer_t *heartbeat;  /* created with the first subscriber */
	uv_timer_t *log_revert; /* running while SET_LOGGING_LEVEL lasts */
};

/* Writes a read's payload: the object under "get_x". */
typedef void op_write_fn(struct master *m, struct jsonw *w);
/* Handles a call that is not a plain read; responds itself. */
typedef void op_call_fn(struct master *m, struct http_request *req,
                        json_t *call);

/* ---- state ----------------------------------------------------------- */

static struct master_op *op_get(struct master *m)
{
	struct master_op *op = m->op;

	if (op)
		return op;
	op = xcalloc(1, sizeof(*op));
	list_init(&op->subscribers);
	m->op = op;
	return op;
}

static bool op_has_subscribers(const struct master *m)
{
	return m->op && !list_empty(&m->op->subscribers);
}

static uv_timer_t *op_timer_new(struct master *m)
{
	uv_timer_t *t = xmalloc(sizeof(*t));

	uv_timer_init(m->loop, t);
	t->data = m;
	return t;
}

/* ---- small writers ---------------------------------------------------- */

/* Writes {"type": TYPE, "<type in lowercase>": and leaves the payload
 * to the caller, who closes the envelope with one jsonw_obj_end(). */
static void op_envelope_begin(struct jsonw *w, const char *type)
{
	char key[64];
	size_t i;

	for (i = 0; type[i] && i + 1 < sizeof(key); i++)
		key[i] = (char)tolower((unsigned char)type[i]);
	key[i] = '\0';
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", type);
	jsonw_key(w, key);
}

/* A TimeInfo: {"nanoseconds": N} from seconds since the epoch. */
static void op_write_time(struct jsonw *w, const char *key, double seconds)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	jsonw_kint(w, "nanoseconds", (int64_t)(seconds * 1e9));
	jsonw_obj_end(w);
}

/* A TaskStatus without its data field (as Mesos strips it: it may be
 * large and is the framework's business). */
static void op_write_status(struct jsonw *w, const struct master_task *t)
{
	struct task_status st;

	if (!t->has_status) {
		master_status_make(&st, t->id, t->agent ? t->agent->id : NULL,
		                   t->executor_id, t->state, REASON_UNSET,
		                   NULL);
		task_status_write_json(w, &st);
		task_status_release(&st);
		return;
	}
	st = t->status; /* shallow: nothing here is freed */
	st.data = NULL;
	task_status_write_json(w, &st);
}

/* GetAgents.Agent. */
static void op_write_agent(struct jsonw *w, const struct master_agent *a)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "agent_info");
	agent_info_write_json(w, &a->info);
	jsonw_kbool(w, "active", a->connected);
	jsonw_kbool(w, "deactivated", false);
	jsonw_kstr(w, "version", a->version ? a->version : ATOLL_VERSION);
	jsonw_kstr(w, "pid", a->pid);
	op_write_time(w, "registered_time", a->registered_time);
	if (a->reregistered_time > 0)
		op_write_time(w, "reregistered_time", a->reregistered_time);
	jsonw_key(w, "total_resources");
	resources_write_json(w, &a->info.resources);
	jsonw_key(w, "allocated_resources");
	resources_write_json(w, &a->used);
	jsonw_key(w, "offered_resources");
	resources_write_json(w, &a->offered);
	jsonw_obj_end(w);
}

/* A v1 Offer (GET_FRAMEWORKS lists each framework's outstanding ones). */
static void op_write_offer(struct jsonw *w, const struct master_offer *o)
{
	jsonw_obj_begin(w);
	jsonw_kid(w, "id", o->id);
	jsonw_kid(w, "framework_id", o->framework->id);
	jsonw_kid(w, "agent_id", o->agent->id);
	jsonw_kstr(w, "hostname", o->agent->info.hostname);
	jsonw_key(w, "allocation_info");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "role", o->role);
	jsonw_obj_end(w);
	jsonw_key(w, "resources");
	resources_write_json(w, &o->resources);
	jsonw_key(w, "attributes");
	attributes_write_json(w, &o->agent->info.attributes);
	jsonw_obj_end(w);
}

/*
 * GetFrameworks.Framework. with_offers adds offers and allocated/offered
 * resources (GET_FRAMEWORKS); events carry the rest only, as Mesos's
 * FRAMEWORK_ADDED / FRAMEWORK_UPDATED do.
 */
static void op_write_framework(struct jsonw *w,
                               const struct master_framework *fw,
                               bool with_offers)
{
	struct resources allocated, offered;
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	jsonw_obj_begin(w);
	jsonw_key(w, "framework_info");
	framework_info_write_json(w, &fw->info);
	jsonw_kbool(w, "active", fw->active);
	jsonw_kbool(w, "connected", fw->stream != NULL);
	jsonw_kbool(w, "recovered", fw->recovered);
	op_write_time(w, "registered_time", fw->registered_time);
	if (fw->reregistered_time > 0)
		op_write_time(w, "reregistered_time", fw->reregistered_time);
	if (!fw->active && fw->unregistered_time > 0)
		op_write_time(w, "unregistered_time", fw->unregistered_time);
	if (!with_offers) {
		jsonw_obj_end(w);
		return;
	}
	resources_init(&allocated);
	resources_init(&offered);
	jsonw_key(w, "offers");
	jsonw_arr_begin(w);
	LIST_FOR_EACH_SAFE(pos, ltmp, &fw->offers)
	{
		const struct master_offer *o =
		    list_entry(pos, struct master_offer, framework_link);
		op_write_offer(w, o);
		resources_add(&offered, &o->resources);
	}
	jsonw_arr_end(w);
	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
	{
		const struct master_task *t =
		    container_of(n, struct master_task, node);
		if (!t->resources_released)
			resources_add(&allocated, &t->resources);
	}
	jsonw_key(w, "allocated_resources");
	resources_write_json(w, &allocated);
	jsonw_key(w, "offered_resources");
	resources_write_json(w, &offered);
	jsonw_obj_end(w);
	resources_release(&allocated);
	resources_release(&offered);
}

/* ---- reads -------------------------------------------------------------- */

static void op_write_health(struct master *m, struct jsonw *w)
{
	(void)m;
	jsonw_obj_begin(w);
	jsonw_kbool(w, "healthy", true);
	jsonw_obj_end(w);
}

static void op_write_flags(struct master *m, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "flags");
	master_flags_write(m, w, true);
	jsonw_obj_end(w);
}

/* GET_VERSION: {"version_info": VersionInfo}. */
static void op_write_version(struct master *m, struct jsonw *w)
{
	(void)m;
	jsonw_obj_begin(w);
	jsonw_key(w, "version_info");
	version_write_info(w);
	jsonw_obj_end(w);
}

/* The /metrics/snapshot document turned into [{name, value}]. */
static void op_write_metrics(struct master *m, struct jsonw *w)
{
	struct buf snap = BUF_INIT;
	struct jsonw sw;
	const char *name;
	json_t *doc, *v;

	jsonw_init(&sw, &snap);
	master_write_metrics(m, &sw);
	doc = json_loadb(snap.data, snap.len, 0, NULL);
	if (!doc)
		log_error(OPAPI, "metrics snapshot is not valid JSON");
	jsonw_obj_begin(w);
	jsonw_key(w, "metrics");
	jsonw_arr_begin(w);
	json_object_foreach(doc, name, v)
	{
		if (!json_is_number(v))
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", name);
		jsonw_kdouble(w, "value", json_number_value(v));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	json_decref(doc);
	buf_release(&snap);
}

static void op_write_logging_level(struct master *m, struct jsonw *w)
{
	(void)m;
	jsonw_obj_begin(w);
	jsonw_kuint(w, "level", log_current_level >= LOG_DEBUG ? 1 : 0);
	jsonw_obj_end(w);
}

static void op_write_master(struct master *m, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "master_info");
	master_write_master_info(m, w);
	jsonw_kdouble(w, "start_time", m->start_time);
	/* Only the leader answers (a standby redirects the operator API),
	 * so it is elected; without --zk since it started. */
	jsonw_kdouble(w, "elected_time", m->elected_time);
	jsonw_obj_end(w);
}

static void op_write_agents(struct master *m, struct jsonw *w)
{
	struct hmap_node *n, *tmp;
	size_t i;

	jsonw_obj_begin(w);
	jsonw_key(w, "agents");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		op_write_agent(w, container_of(n, struct master_agent, node));
	}
	jsonw_arr_end(w);
	/* Agents known from the registry but not yet back: none until the
	 * master has a registry. */
	jsonw_key(w, "recovered_agents");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void op_write_frameworks(struct master *m, struct jsonw *w)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	jsonw_obj_begin(w);
	jsonw_key(w, "frameworks");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		op_write_framework(
		    w, container_of(n, struct master_framework, node), true);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "completed_frameworks");
	jsonw_arr_begin(w);
	LIST_FOR_EACH_SAFE(pos, ltmp, &m->completed_frameworks)
	{
		op_write_framework(
		    w, list_entry(pos, struct master_framework, completed_link),
		    true);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

struct op_seen_executor {
	struct hmap_node node;
	char *key; /* "agent\nframework\nexecutor" (ids have no '\n') */
};

/*
 * Writes one GetExecutors.Executor for t's executor unless seen holds it
 * already. Only tasks launched with an ExecutorInfo count: as in Mesos,
 * command tasks' executors are the agent's business and not listed.
 */
static void op_write_task_executor(struct jsonw *w, struct hmap *seen,
                                   const struct master_agent *a,
                                   const struct master_task *t)
{
	struct op_seen_executor *s;
	json_t *ti, *ex;
	char *key, *text;

	if (!t->info_json || !t->executor_id ||
	    !strstr(t->info_json, "\"executor\""))
		return;
	key = xasprintf("%s\n%s\n%s", a->id, t->framework->id, t->executor_id);
	if (hmap_find(seen, key)) {
		free(key);
		return;
	}
	ti = json_loads(t->info_json, 0, NULL);
	ex = json_object_get(ti, "executor");
	if (!json_is_object(ex)) {
		free(key);
		json_decref(ti);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->node.key = s->key;
	hmap_insert(seen, &s->node);
	if (!json_object_get(ex, "framework_id"))
		json_object_set_new(
		    ex, "framework_id",
		    json_pack("{s:s}", "value", t->framework->id));
	text = json_dumps(ex, JSON_COMPACT);
	jsonw_obj_begin(w);
	jsonw_key(w, "executor_info");
	jsonw_raw(w, text, strlen(text));
	jsonw_kid(w, "agent_id", a->id);
	jsonw_obj_end(w);
	free(text);
	json_decref(ti);
}

static void op_write_executors(struct master *m, struct jsonw *w)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	struct hmap seen;
	size_t i;

	hmap_init(&seen);
	jsonw_obj_begin(w);
	jsonw_key(w, "executors");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		const struct master_agent *a =
		    container_of(n, struct master_agent, node);
		LIST_FOR_EACH_SAFE(pos, ltmp, &a->tasks)
		{
			const struct master_task *t =
			    list_entry(pos, struct master_task, agent_link);
			if (!task_state_is_terminal(t->state))
				op_write_task_executor(w, &seen, a, t);
		}
	}
	jsonw_arr_end(w);
	jsonw_key(w, "orphan_executors"); /* deprecated; always empty */
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	HMAP_FOR_EACH_SAFE(&seen, i, n, tmp)
	{
		struct op_seen_executor *s =
		    container_of(n, struct op_seen_executor, node);
		hmap_remove(&seen, n);
		free(s->key);
		free(s);
	}
	hmap_release(&seen);
}

/* GetTasks splits the tasks the master knows into three lists. */
enum op_task_set {
	OP_TASKS_LIVE,        /* launched, not yet completed */
	OP_TASKS_UNREACHABLE, /* on an agent that went away */
	OP_TASKS_COMPLETED,   /* terminal and acknowledged (or evicted) */
};

static bool op_task_in_set(const struct master_task *t, bool completed,
                           enum op_task_set set)
{
	bool unreachable = t->state == TASK_UNREACHABLE;

	switch (set) {
	case OP_TASKS_LIVE:
		return !completed && !unreachable;
	case OP_TASKS_UNREACHABLE:
		return unreachable;
	case OP_TASKS_COMPLETED:
		return completed && !unreachable;
	}
	return false;
}

static void op_write_framework_tasks(struct jsonw *w,
                                     const struct master_framework *fw,
                                     enum op_task_set set)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
	{
		const struct master_task *t =
		    container_of(n, struct master_task, node);
		if (op_task_in_set(t, false, set))
			master_write_task_v1(w, t);
	}
	LIST_FOR_EACH_SAFE(pos, ltmp, &fw->completed)
	{
		const struct master_task *t =
		    list_entry(pos, struct master_task, completed_link);
		if (op_task_in_set(t, true, set))
			master_write_task_v1(w, t);
	}
}

static void op_write_task_set(struct master *m, struct jsonw *w,
                              const char *key, enum op_task_set set)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	jsonw_key(w, key);
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		op_write_framework_tasks(
		    w, container_of(n, struct master_framework, node), set);
	}
	LIST_FOR_EACH_SAFE(pos, ltmp, &m->completed_frameworks)
	{
		op_write_framework_tasks(
		    w, list_entry(pos, struct master_framework, completed_link),
		    set);
	}
	jsonw_arr_end(w);
}

static void op_write_tasks(struct master *m, struct jsonw *w)
{
	jsonw_obj_begin(w);
	op_write_task_set(m, w, "tasks", OP_TASKS_LIVE);
	op_write_task_set(m, w, "unreachable_tasks", OP_TASKS_UNREACHABLE);
	op_write_task_set(m, w, "completed_tasks", OP_TASKS_COMPLETED);
	jsonw_obj_end(w);
}

static void op_write_state(struct master *m, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "get_tasks");
	op_write_tasks(m, w);
	jsonw_key(w, "get_executors");
	op_write_executors(m, w);
	jsonw_key(w, "get_frameworks");
	op_write_frameworks(m, w);
	jsonw_key(w, "get_agents");
	op_write_agents(m, w);
	jsonw_obj_end(w);
}

static int op_strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names GET_ROLES lists: roles of the frameworks and roles holding
 * reservations on agents, sorted, without duplicates. The strings are
 * borrowed from the master's state; the array is the caller's. */
static const char **op_role_names(struct master *m, size_t *count)
{
	const char **names = NULL;
	size_t n = 0, cap = 0, k = 0;
	struct hmap_node *node, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&m->frameworks, i, node, tmp)
	{
		const struct master_framework *fw =
		    container_of(node, struct master_framework, node);
		for (size_t r = 0; r < fw->info.nroles; r++) {
			ALLOC_GROW(names, n + 1, cap);
			names[n++] = fw->info.roles[r];
		}
	}
	HMAP_FOR_EACH_SAFE(&m->agents, i, node, tmp)
	{
		const struct master_agent *a =
		    container_of(node, struct master_agent, node);
		for (size_t r = 0; r < a->info.resources.n; r++) {
			const char *role = a->info.resources.v[r].role;
			if (streq(role, "*"))
				continue;
			ALLOC_GROW(names, n + 1, cap);
			names[n++] = role;
		}
	}
	if (n)
		qsort(names, n, sizeof(*names), op_strcmp_ptr);
	for (i = 0; i < n; i++)
		if (k == 0 || strcmp(names[k - 1], names[i]))
			names[k++] = names[i];
	*count = k;
	return names;
}

/* Role.resources as Mesos writes it: the scalar quantities of cpus, mem,
 * disk and gpus allocated or offered to the role, without roles. */
static void op_write_quantities(struct jsonw *w, const struct resources *r)
{
	static const char *const names[] = {"cpus", "mem", "disk", "gpus"};

	jsonw_arr_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		int64_t v = resources_scalar(r, names[i]);
		if (v <= 0)
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", names[i]);
		jsonw_kstr(w, "type", "SCALAR");
		jsonw_key(w, "scalar");
		jsonw_obj_begin(w);
		jsonw_kdouble(w, "value", res_to_double(v));
		jsonw_obj_end(w);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

/*
 * One Role: Mesos's {name, weight, frameworks, resources}, plus Atoll's
 * allocated (held by tasks) and offered (in outstanding offers).
 */
static void op_write_role(struct master *m, struct jsonw *w, const char *role)
{
	struct resources total, allocated, offered;
	struct hmap_node *n, *tmp;
	size_t i;

	resources_init(&total);
	resources_init(&allocated);
	resources_init(&offered);
	HMAP_FOR_EACH_SAFE(&m->offers, i, n, tmp)
	{
		const struct master_offer *o =
		    container_of(n, struct master_offer, node);
		if (streq(o->role, role))
			resources_add(&offered, &o->resources);
	}
	alloc_role_allocated(m->alloc, role, &total);
	resources_copy(&allocated, &total);
	if (resources_subtract(&allocated, &offered))
		log_debug(OPAPI,
		          "role=%s offers not within the allocation; "
		          "reporting the whole allocation",
		          role);

	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", role);
	jsonw_kdouble(w, "weight", alloc_weight(m->alloc, role));
	jsonw_key(w, "frameworks");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		const struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		if (framework_info_has_role(&fw->info, role)) {
			jsonw_obj_begin(w);
			jsonw_kstr(w, "value", fw->id);
			jsonw_obj_end(w);
		}
	}
	jsonw_arr_end(w);
	jsonw_key(w, "resources");
	op_write_quantities(w, &total);
	jsonw_key(w, "allocated");
	resources_write_json(w, &allocated);
	jsonw_key(w, "offered");
	resources_write_json(w, &offered);
	jsonw_obj_end(w);
	resources_release(&total);
	resources_release(&allocated);
	resources_release(&offered);
}

static void op_write_roles(struct master *m, struct jsonw *w)
{
	size_t n;
	const char **names = op_role_names(m, &n);

	jsonw_obj_begin(w);
	jsonw_key(w, "roles");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		op_write_role(m, w, names[i]);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	free(names);
}

/* ---- SET_LOGGING_LEVEL --------------------------------------------------- */

/* The level --log-level asked for (info if it cannot be read). */
static enum log_level op_configured_level(const struct master *m)
{
	enum log_level lvl;

	if (!m->cfg.log_level || log_parse_level(m->cfg.log_level, &lvl))
		return LOG_INFO;
	return lvl;
}

static void op_log_revert_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	enum log_level lvl = op_configured_level(m);

	log_set_level(lvl);
	log_info(OPAPI, "logging level back to '%s' (--log-level)",
	         log_level_name(lvl));
	loop_timer_drop(&m->op->log_revert);
}

/*
 * Reads obj[key] as an integer in [0, max], given as a JSON integer or as
 * a decimal string (int64 fields often travel as strings). Returns 0, or
 * -EINVAL after responding 400 with what naming the field.
 */
static int op_get_uint(struct http_request *req, json_t *obj, const char *key,
                       const char *what, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	char *end;
	long long x;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if ((s = json_string_value(v)) && isdigit((unsigned char)*s)) {
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || *end) {
			http_respond_error(req, 400,
			                   "%s: expected an integer, got "
			                   "'%.32s'",
			                   what, s);
			return -EINVAL;
		}
		*out = x;
	} else {
		http_respond_error(req, 400, "%s: %s", what,
		                   v ? "expected a non-negative integer"
		                     : "required field missing");
		return -EINVAL;
	}
	if (*out < 0 || *out > max) {
		http_respond_error(req, 400,
		                   "%s: must be in [0, %lld], got %lld", what,
		                   (long long)max, (long long)*out);
		return -EINVAL;
	}
	return 0;
}

static void op_set_logging_level(struct master *m, struct http_request *req,
                                 json_t *call)
{
	json_t *p = json_object_get(call, "set_logging_level");
	json_t *d = json_object_get(p, "duration");
	enum log_level base = op_configured_level(m), lvl;
	struct master_op *op;
	int64_t level, ns;
	uint64_t ms;

	if (!json_is_object(p)) {
		http_respond_error(
		    req, 400, "Expecting 'set_logging_level' to be present");
		return;
	}
	if (op_get_uint(req, p, "level", "set_logging_level.level", UINT32_MAX,
	                &level))
		return;
	if (!json_is_object(d)) {
		http_respond_error(req, 400, "set_logging_level.duration: %s",
		                   d ? "expected an object"
		                     : "required field missing");
		return;
	}
	if (op_get_uint(req, d, "nanoseconds",
	                "set_logging_level.duration.nanoseconds", INT64_MAX,
	                &ns))
		return;
	lvl = level > 0 ? LOG_DEBUG : MIN(base, LOG_INFO);
	ms = (uint64_t)ns / 1000000 + ((uint64_t)ns % 1000000 != 0);
	op = op_get(m);
	loop_timer_drop(&op->log_revert);
	log_set_level(lvl);
	if (lvl != base) {
		op->log_revert = op_timer_new(m);
		uv_timer_start(op->log_revert, op_log_revert_cb, ms, 0);
	}
	log_info(OPAPI, "logging level '%s' (verbosity %lld) for %.3fs",
	         log_level_name(lvl), (long long)level, (double)ns / 1e9);
	http_respond(req, 200, NULL, NULL, 0);
}

/* ---- TEARDOWN / MARK_AGENT_GONE ------------------------------------------ */

static void op_teardown(struct master *m, struct http_request *req,
                        json_t *call)
{
	json_t *p = json_object_get(call, "teardown");
	const char *fid = mesos_json_id(p, "framework_id");
	struct master_framework *fw;

	if (!fid) {
		http_respond_error(
		    req, 400,
		    "Expecting 'teardown.framework_id' to be present");
		return;
	}
	fw = master_framework_find(m, fid);
	if (!fw) {
		http_respond_error(req, 400,
		                   "No framework found with ID '%s'%s", fid,
		                   master_framework_find_completed(m, fid)
		                       ? " (it has been removed already)"
		                       : "");
		return;
	}
	log_info(OPAPI, "framework=%s TEARDOWN by the operator", fid);
	/* fw may be freed by this (completed frameworks are bounded). */
	master_framework_remove(fw, REASON_FRAMEWORK_REMOVED);
	http_respond(req, 200, NULL, NULL, 0);
}

/* The agent API refuses such an id for good (Mesos shuts the agent down). */
bool master_op_agent_is_gone(struct master *m, const char *agent_id)
{
	return master_agent_is_gone(m, agent_id);
}

/*
 * KILL_TASK {task_id, framework_id (optional)}: an Atoll addition; Mesos's
 * operator API cannot kill one task, only tear down its whole framework.
 * The owning framework sees the usual TASK_KILLING/TASK_KILLED updates.
 * 202 when sent; 400 without task_id; 404 unknown; 409 when the id is in
 * several frameworks (name one) or the task has already ended. A kill for
 * a task whose agent is disconnected is sent when the agent reregisters.
 */
static void op_kill_task(struct master *m, struct http_request *req,
                         json_t *call)
{
	json_t *p = json_object_get(call, "kill_task");
	const char *tid = p ? mesos_json_id(p, "task_id") : NULL;
	const char *fid = p ? mesos_json_id(p, "framework_id") : NULL;
	struct master_task *t = NULL;
	struct hmap_node *n, *tmp;
	size_t i, found = 0;

	if (!tid) {
		http_respond_error(
		    req, 400, "Expecting 'kill_task.task_id' to be present");
		return;
	}
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		struct master_task *x;
		if (fid && strcmp(fid, fw->id))
			continue;
		if ((x = master_task_find(fw, tid))) {
			t = x;
			found++;
		}
	}
	if (!t) {
		http_respond_error(req, 404, "No task '%s'%s%s", tid,
		                   fid ? " in framework " : "", fid ? fid : "");
		return;
	}
	if (found > 1) {
		http_respond_error(
		    req, 409,
		    "Task id '%s' exists in %zu frameworks; name "
		    "one with 'kill_task.framework_id'",
		    tid, found);
		return;
	}
	if (task_state_is_terminal(t->state)) {
		http_respond_error(req, 409, "Task '%s' has already ended (%s)",
		                   tid, task_state_name(t->state));
		return;
	}
	/* sent now, or when a disconnected agent comes back */
	(void)master_task_kill(t, json_object_get(p, "kill_policy"));
	log_info(OPAPI, "framework=%s task=%s KILL_TASK by the operator",
	         t->framework->id, tid);
	http_respond(req, 202, NULL, NULL, 0);
}

/* Persist, then reply: the registry records the id gone before the
 * agent is removed and the operator hears 200 (503 when it cannot). */
static void op_mark_agent_gone(struct master *m, struct http_request *req,
                               json_t *call)
{
	json_t *p = json_object_get(call, "mark_agent_gone");
	const char *aid = mesos_json_id(p, "agent_id");
	struct err e = {{0}};
	int rc;

	if (!aid) {
		http_respond_error(req, 400,
		                   "Expecting 'mark_agent_gone.agent_id' to be "
		                   "present");
		return;
	}
	/* a repeated call answers 200 (Mesos does too) */
	if (!master_agent_is_gone(m, aid))
		log_info(OPAPI, "agent=%s marked gone by the operator", aid);
	rc = master_agent_mark_gone(m, aid, &e);
	if (rc == -ENOENT)
		http_respond_error(req, 404, "%s", e.msg);
	else if (rc)
		http_respond_error(req, 503, "Agent '%s' not marked gone: %s",
		                   aid, e.msg);
	else
		http_respond(req, 200, NULL, NULL, 0);
}

/*
 * RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES:
 * the resources must be available on the agent; when they are offered,
 * the agent's offers are rescinded and the operation is tried again, as
 * Mesos does. 202 once applied (the agent is sent CHECKPOINT_RESOURCES);
 * 400 for bad input naming the field (an unknown agent too, as in Mesos);
 * 409 when the resources are not available, a volume is in use by a task
 * or a persistence id is taken. RESERVE_RESOURCES' "source" is ignored.
 */
static void op_resources(struct master *m, struct http_request *req,
                         json_t *call, enum resources_op kind)
{
	static const char *const keys[] = {"reserve_resources",
	                                   "unreserve_resources",
	                                   "create_volumes", "destroy_volumes"};
	static const char *const fields[] = {"resources", "resources",
	                                     "volumes", "volumes"};
	const char *key = keys[kind], *field = fields[kind];
	json_t *p = json_object_get(call, key), *arr;
	const char *aid = p ? mesos_json_id(p, "agent_id") : NULL;
	struct master_agent *a;
	struct resources res;
	struct err e = {{0}};
	int rc;

	resources_init(&res);
	if (!json_is_object(p)) {
		http_respond_error(req, 400, "Expecting '%s' to be present",
		                   key);
		return;
	}
	if (!aid) {
		http_respond_error(req, 400,
		                   "Expecting '%s.agent_id' to be present", key);
		return;
	}
	if (!(a = master_agent_find(m, aid))) {
		http_respond_error(req, 400, "%s.agent_id: no agent '%s'", key,
		                   aid);
		return;
	}
	arr = json_object_get(p, field);
	if (!arr) {
		http_respond_error(req, 400,
		                   "Expecting '%s.%s' to be present", key,
		                   field);
		return;
	}
	if (resources_from_json(&res, arr, &e) ||
	    resources_op_validate(kind, &res, &e)) {
		const char *rest =
		    e.msg + (strncmp(e.msg, "resources", 9) ? 0 : 9);
		http_respond_error(req, 400, "%s.%s%s%s", key, field,
		                   *rest == '[' || *rest == ':' ? "" : ": ",
		                   rest);
		goto out;
	}
	resources_set_alloc_role(&res, NULL);
	rc = master_agent_apply_op(a, NULL, kind, &res, &e);
	if (rc == -ENOENT && !list_empty(&a->offers)) {
		struct list *pos, *tmp;
		LIST_FOR_EACH_SAFE(pos, tmp, &a->offers)
		{
			master_offer_rescind(
			    list_entry(pos, struct master_offer, agent_link));
		}
		rc = master_agent_apply_op(a, NULL, kind, &res, &e);
	}
	if (rc == -EINVAL) {
		http_respond_error(req, 400, "%s.%s", key, e.msg);
	} else if (rc) {
		http_respond_error(req, 409, "%s: %s", key, e.msg);
	} else {
		log_info(OPAPI, "agent=%s %s by the operator", a->id,
		         key);
		http_respond(req, 202, NULL, NULL, 0);
	}
out:
	resources_release(&res);
}

static void op_reserve(struct master *m, struct http_request *req,
                       json_t *call)
{
	op_resources(m, req, call, RES_OP_RESERVE);
}

static void op_unreserve(struct master *m, struct http_request *req,
                         json_t *call)
{
	op_resources(m, req, call, RES_OP_UNRESERVE);
}

static void op_create_volumes(struct master *m, struct http_request *req,
                              json_t *call)
{
	op_resources(m, req, call, RES_OP_CREATE);
}

static void op_destroy_volumes(struct master *m, struct http_request *req,
                               json_t *call)
{
	op_resources(m, req, call, RES_OP_DESTROY);
}

/* ---- event stream -------------------------------------------------------- */

/* Queues ev on every open stream; slow subscribers are dropped by
 * master_stream_send() (their close callbacks unlist them later). */
static void op_broadcast(struct master *m, const struct buf *ev)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &m->op->subscribers)
	{
		struct op_subscriber *sub =
		    list_entry(pos, struct op_subscriber, link);
		if (sub->stream)
			(void)master_stream_send(m, &sub->stream, ev);
	}
}

static void op_heartbeat_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	char hb[] = "{\"type\":\"HEARTBEAT\"}";
	struct buf ev = {hb, sizeof(hb) - 1, 0};

	op_broadcast(m, &ev);
}

static void op_stream_closed(struct http_stream *s, void *arg)
{
	struct op_subscriber *sub = arg;

	(void)s;
	if (!sub->detached) {
		struct master_op *op = sub->m->op;
		list_del(&sub->link);
		op->nsubscribers--;
		if (op->nsubscribers == 0)
			uv_timer_stop(op->heartbeat);
		log_debug(OPAPI, "operator subscriber gone (%zu left)",
		          op->nsubscribers);
	}
	free(sub);
}

static void op_subscribe(struct master *m, struct http_request *req,
                         json_t *call)
{
	struct master_op *op = op_get(m);
	struct op_subscriber *sub;
	struct http_stream *stream;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	(void)call;
	if (op->nsubscribers >= OP_MAX_SUBSCRIBERS) {
		http_respond_error(req, 503,
		                   "Too many operator event stream "
		                   "subscribers (at most %d); try again later",
		                   OP_MAX_SUBSCRIBERS);
		return;
	}
	sub = xcalloc(1, sizeof(*sub));
	sub->m = m;
	stream = http_stream_begin(req, 200, "application/json",
	                           op_stream_closed, sub);
	if (!stream) { /* the client left already; no callback will run */
		free(sub);
		return;
	}
	sub->stream = stream;
	list_add_tail(&op->subscribers, &sub->link);
	if (op->nsubscribers++ == 0) {
		if (!op->heartbeat)
			op->heartbeat = op_timer_new(m);
		uint64_t hb = (uint64_t)(m->cfg.heartbeat_interval * 1000);
		uv_timer_start(op->heartbeat, op_heartbeat_cb, hb, hb);
	}
	log_debug(OPAPI, "operator subscriber %s added (%zu)", req->peer,
	          op->nsubscribers);

	jsonw_init(&w, &ev);
	op_envelope_begin(&w, "SUBSCRIBED");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "get_state");
	op_write_state(m, &w);
	jsonw_kdouble(&w, "heartbeat_interval_seconds",
	              m->cfg.heartbeat_interval);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (master_stream_send(m, &sub->stream, &ev) == 0) {
		buf_reset(&ev);
		buf_adds(&ev, "{\"type\":\"HEARTBEAT\"}");
		(void)master_stream_send(m, &sub->stream, &ev);
	}
	buf_release(&ev);
}

/* Starts an event {"type": T, "t": {: the caller writes the fields and
 * finishes with op_event_send(). */
static void op_event_begin(struct jsonw *w, struct buf *ev, const char *type)
{
	jsonw_init(w, ev);
	op_envelope_begin(w, type);
	jsonw_obj_begin(w);
}

static void op_event_send(struct master *m, struct jsonw *w, struct buf *ev)
{
	jsonw_obj_end(w);
	jsonw_obj_end(w);
	op_broadcast(m, ev);
	buf_release(ev);
}

void master_op_task_added(struct master *m, const struct master_task *t)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!op_has_subscribers(m))
		return;
	op_event_begin(&w, &ev, "TASK_ADDED");
	jsonw_key(&w, "task");
	master_write_task_v1(&w, t);
	op_event_send(m, &w, &ev);
}

void master_op_task_updated(struct master *m, const struct master_task *t)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!op_has_subscribers(m))
		return;
	op_event_begin(&w, &ev, "TASK_UPDATED");
	jsonw_kid(&w, "framework_id", t->framework->id);
	jsonw_key(&w, "status");
	op_write_status(&w, t);
	jsonw_kstr(&w, "state", task_state_name(t->state));
	op_event_send(m, &w, &ev);
}

void master_op_agent_added(struct master *m, const struct master_agent *a)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!op_has_subscribers(m))
		return;
	op_event_begin(&w, &ev, "AGENT_ADDED");
	jsonw_key(&w, "agent");
	op_write_agent(&w, a);
	op_event_send(m, &w, &ev);
}

void master_op_agent_removed(struct master *m, const char *agent_id)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!op_has_subscribers(m))
		return;
	op_event_begin(&w, &ev, "AGENT_REMOVED");
	jsonw_kid(&w, "agent_id", agent_id);
	op_event_send(m, &w, &ev);
}

static void op_framework_event(struct master *m, const char *type,
                               const struct master_framework *fw)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	op_event_begin(&w, &ev, type);
	jsonw_key(&w, "framework");
	op_write_framework(&w, fw, false);
	op_event_send(m, &w, &ev);
}

void master_op_framework_added(struct master *m,
                               const struct master_framework *fw)
{
	if (op_has_subscribers(m))
		op_framework_event(m, "FRAMEWORK_ADDED", fw);
}

void master_op_framework_updated(struct master *m,
                                 const struct master_framework *fw)
{
	if (op_has_subscribers(m))
		op_framework_event(m, "FRAMEWORK_UPDATED", fw);
}

void master_op_framework_removed(struct master *m,
                                 const struct master_framework *fw)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!op_has_subscribers(m))
		return;
	op_event_begin(&w, &ev, "FRAMEWORK_REMOVED");
	jsonw_key(&w, "framework_info");
	framework_info_write_json(&w, &fw->info);
	op_event_send(m, &w, &ev);
}

void master_op_close_all(struct master *m)
{
	struct master_op *op = m->op;
	struct list *pos, *tmp;

	if (!op)
		return;
	LIST_FOR_EACH_SAFE(pos, tmp, &op->subscribers)
	{
		struct op_subscriber *sub =
		    list_entry(pos, struct op_subscriber, link);
		list_del(&sub->link);
		sub->detached = true;
		if (sub->stream)
			http_stream_end(sub->stream);
		sub->stream = NULL;
	}
	op->nsubscribers = 0;
	loop_timer_drop(&op->heartbeat);
	if (op->log_revert) {
		/* Leave the process logging as configured. */
		log_set_level(op_configured_level(m));
		loop_timer_drop(&op->log_revert);
	}
	free(op);
	m->op = NULL;
}

/* ---- dispatch ------------------------------------------------------------ */

/*
 * The master calls of master.proto. A read has write set; other calls
 * have call set; neither means Mesos has the call and Atoll does not
 * implement it yet (501 saying so).
 */
/*
 * The reads whose size grows with the cluster (every task) are written by
 * a forked snapshot, as /state is, so they never stall the master's loop.
 */
#define OP_SNAPSHOT_DOC(fn, TYPE, writer)                                      \
	static void fn(struct master *m, struct jsonw *w)                      \
	{                                                                      \
		op_envelope_begin(w, TYPE);                                    \
		writer(m, w);                                                  \
		jsonw_obj_end(w);                                              \
	}
OP_SNAPSHOT_DOC(op_doc_get_state, "GET_STATE", op_write_state)
OP_SNAPSHOT_DOC(op_doc_get_tasks, "GET_TASKS", op_write_tasks)
OP_SNAPSHOT_DOC(op_doc_get_frameworks, "GET_FRAMEWORKS", op_write_frameworks)

static void op_get_state(struct master *m, struct http_request *req,
                         json_t *call)
{
	(void)call;
	master_respond_snapshot(m, req, op_doc_get_state);
}

static void op_get_tasks(struct master *m, struct http_request *req,
                         json_t *call)
{
	(void)call;
	master_respond_snapshot(m, req, op_doc_get_tasks);
}

static void op_get_frameworks(struct master *m, struct http_request *req,
                              json_t *call)
{
	(void)call;
	master_respond_snapshot(m, req, op_doc_get_frameworks);
}

static const struct op_call {
	const char *type;
	op_write_fn *write;
	op_call_fn *call;
} op_calls[] = {
    {"GET_HEALTH", op_write_health, NULL},
    {"GET_FLAGS", op_write_flags, NULL},
    {"GET_VERSION", op_write_version, NULL},
    {"GET_METRICS", op_write_metrics, NULL},
    {"GET_LOGGING_LEVEL", op_write_logging_level, NULL},
    {"SET_LOGGING_LEVEL", NULL, op_set_logging_level},
    {"LIST_FILES", NULL, NULL},
    {"READ_FILE", NULL, NULL},
    {"GET_STATE", NULL, op_get_state},
    {"GET_AGENTS", op_write_agents, NULL},
    {"GET_FRAMEWORKS", NULL, op_get_frameworks},
    {"GET_EXECUTORS", op_write_executors, NULL},
    {"GET_OPERATIONS", NULL, NULL},
    {"GET_TASKS", NULL, op_get_tasks},
    {"GET_ROLES", op_write_roles, NULL},
    {"GET_WEIGHTS", NULL, NULL},
    {"UPDATE_WEIGHTS", NULL, NULL},
    {"GET_MASTER", op_write_master, NULL},
    {"SUBSCRIBE", NULL, op_subscribe},
    {"RESERVE_RESOURCES", NULL, op_reserve},
    {"UNRESERVE_RESOURCES", NULL, op_unreserve},
    {"CREATE_VOLUMES", NULL, op_create_volumes},
    {"DESTROY_VOLUMES", NULL, op_destroy_volumes},
    {"GROW_VOLUME", NULL, NULL},
    {"SHRINK_VOLUME", NULL, NULL},
    {"GET_MAINTENANCE_STATUS", NULL, NULL},
    {"GET_MAINTENANCE_SCHEDULE", NULL, NULL},
    {"UPDATE_MAINTENANCE_SCHEDULE", NULL, NULL},
    {"START_MAINTENANCE", NULL, NULL},
    {"STOP_MAINTENANCE", NULL, NULL},
    {"DRAIN_AGENT", NULL, NULL},
    {"DEACTIVATE_AGENT", NULL, NULL},
    {"REACTIVATE_AGENT", NULL, NULL},
    {"GET_QUOTA", NULL, NULL},
    {"UPDATE_QUOTA", NULL, NULL},
    {"SET_QUOTA", NULL, NULL},
    {"REMOVE_QUOTA", NULL, NULL},
    {"TEARDOWN", NULL, op_teardown},
    {"MARK_AGENT_GONE", NULL, op_mark_agent_gone},
    {"KILL_TASK", NULL, op_kill_task}, /* Atoll addition */
};

static const struct op_call *op_call_find(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_calls); i++)
		if (!strcmp(op_calls[i].type, type))
			return &op_calls[i];
	return NULL;
}

static void op_respond_read(struct master *m, struct http_request *req,
                            const struct op_call *c)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	op_envelope_begin(&w, c->type);
	c->write(m, &w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
	buf_release(&b);
}

void master_operator_api(struct master *m, struct http_request *req)
{
	const struct op_call *c;
	const char *type;
	json_t *call;

	if (!(call = v1call_parse(req)))
		return;
	if (m->stopping) {
		http_respond_error(req, 503, "The master is shutting down");
		goto out;
	}
	type = json_string_value(json_object_get(call, "type"));
	if (!type) {
		http_respond_error(
		    req, 400, "Expecting 'type' to be present%s",
		    json_object_get(call, "type") ? " and a string" : "");
		goto out;
	}
	c = op_call_find(type);
	if (!c) {
		http_respond_error(req, 501, "Unknown call type '%.64s'", type);
		goto out;
	}
	if (c->write)
		op_respond_read(m, req, c);
	else if (c->call)
		c->call(m, req, call);
	else
		http_respond_error(req, 501,
		                   "Call type '%s' is not implemented by "
		                   "Atoll yet",
		                   type);
out:
	json_decref(call);
}
