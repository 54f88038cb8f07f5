/*
 * endpoints.c: the master's classic HTTP endpoints, in the shapes Mesos
 * tools read: /health, /version, /master/redirect, /state (aliases
 * /master/state, /master/state.json, /state.json), /metrics/snapshot,
 * /flags (/master/flags).
 *
 * On a standby (--zk, not elected) these are answered too, as Mesos does:
 * /health 200 (the process is alive), /state without "elected_time" and
 * with "leader"/"leader_info" naming the leader when one is known,
 * master/elected 0, and /master/redirect a 307 to the leader (503 while
 * none is known). master_respond_not_leader() is the one place that
 * writes those redirects, also for the APIs a standby does not serve.
 *
 * /state is written by the streaming JSON writer in one pass over the
 * in-memory maps, straight into the response buffer: no DOM is built.
 * At 100,000 tasks that pass is bound by cache misses, not formatting, so
 * the task and agent loops first gather the map's nodes into an array (in
 * the map's iteration order, so the output is unchanged) and prefetch the
 * entries a few places ahead while writing the current one.
 * Classic endpoints render resources as a map ("cpus": 0.5, "ports":
 * "[31000-32000]"), as Mesos's v0 JSON does.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include "lib/jsonw.h"
#include "lib/leader.h"
#include "lib/log.h"
#include "lib/prometheus.h"
#include "lib/timeutil.h"
#include "lib/version.h"

static void write_state_task(struct jsonw *w, const struct master_task *t)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", t->id);
	jsonw_kstr(w, "name", t->name);
	jsonw_kstr(w, "framework_id", t->framework->id);
	jsonw_kstr(w, "executor_id", t->executor_id ? t->executor_id : "");
	jsonw_kstr(w, "slave_id",
	           t->agent ? t->agent->id
	                    : (t->status.agent_id ? t->status.agent_id : ""));
	jsonw_kstr(w, "state", task_state_name(t->state));
	jsonw_key(w, "resources");
	resources_write_map(w, &t->resources);
	if (t->resources.n && t->resources.v[0].alloc_role)
		jsonw_kstr(w, "role", t->resources.v[0].alloc_role);
	jsonw_key(w, "statuses");
	jsonw_arr_begin(w);
	if (t->has_status) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "state", task_state_name(t->status.state));
		jsonw_kdouble(w, "timestamp", t->status.timestamp);
		if (t->status.healthy >= 0)
			jsonw_kbool(w, "healthy", t->status.healthy == 1);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	/* Pass labels and discovery through for Mesos-DNS style tools. */
	if (t->info_json && (strstr(t->info_json, "\"labels\"") ||
	                     strstr(t->info_json, "\"discovery\"") ||
	                     strstr(t->info_json, "\"health_check\""))) {
		json_t *ti = json_loads(t->info_json, 0, NULL);
		const char *keys[] = {"labels", "discovery", "health_check"};
		for (size_t i = 0; ti && i < ARRAY_SIZE(keys); i++) {
			json_t *v = json_object_get(ti, keys[i]);
			if (!v)
				continue;
			char *s = json_dumps(v, JSON_COMPACT);
			jsonw_key(w, keys[i]);
			jsonw_raw(w, s, strlen(s));
			free(s);
		}
		json_decref(ti);
	}
	jsonw_obj_end(w);
}

/*
 * Prefetch distances, in tasks, for the /state task loop. The writer is
 * bound by cache misses (tasks, their strings and resources are scattered
 * over the heap), so while task i is written the loads of the tasks
 * ahead are started in three stages: the task itself, then what it
 * points to, then what those point to (resource names, the agent's id).
 */
#define STATE_PREFETCH_TASK 12
#define STATE_PREFETCH_FIELDS 8
#define STATE_PREFETCH_DEEP 4

/* Prefetches never fault, so NULL pointers need no check. Always inlined:
 * GCC deems a function that only prefetches pure and drops its calls. */
static inline __attribute__((always_inline)) void
prefetch_tasks(struct hmap_node *const *v, size_t n, size_t i)
{
	const struct master_task *t;

	if (i + STATE_PREFETCH_TASK < n) {
		t = container_of(v[i + STATE_PREFETCH_TASK], struct master_task,
		                 node);
		__builtin_prefetch(&t->id);
		__builtin_prefetch(&t->status);
		__builtin_prefetch(&t->resources);
		__builtin_prefetch(&t->info_json);
	}
	if (i + STATE_PREFETCH_FIELDS < n) {
		t = container_of(v[i + STATE_PREFETCH_FIELDS],
		                 struct master_task, node);
		__builtin_prefetch(t->id);
		__builtin_prefetch(t->name);
		__builtin_prefetch(t->executor_id);
		/* the first lines of the TaskInfo, scanned for labels;
		 * integer arithmetic, as they may lie past its end */
		for (uintptr_t k = 0; k < 4; k++)
			__builtin_prefetch(
			    (const void *)((uintptr_t)t->info_json + 64 * k));
		__builtin_prefetch(t->resources.v);
		__builtin_prefetch(t->agent);
	}
	if (i + STATE_PREFETCH_DEEP < n) {
		t = container_of(v[i + STATE_PREFETCH_DEEP], struct master_task,
		                 node);
		for (size_t k = 0; k < t->resources.n && k < 4; k++)
			__builtin_prefetch(t->resources.v[k].name);
		if (t->agent)
			__builtin_prefetch(t->agent->id);
	}
}

/* The nodes of map in iteration order, as a heap array of *n entries. */
static struct hmap_node **collect_nodes(const struct hmap *map, size_t *n)
{
	struct hmap_node **v;
	size_t k = 0;

	v = xmalloc((map->count + 1) * sizeof(*v));
	for (size_t i = 0; i < map->nbuckets; i++) {
		if (i + STATE_PREFETCH_TASK < map->nbuckets)
			__builtin_prefetch(
			    map->buckets[i + STATE_PREFETCH_TASK]);
		for (struct hmap_node *x = map->buckets[i]; x; x = x->next)
			v[k++] = x;
	}
	*n = k;
	return v;
}

static void write_state_framework(struct master *m, struct jsonw *w,
                                  const struct master_framework *fw)
{
	struct resources used, offered;
	struct list *pos, *ltmp;
	struct hmap_node **tasks;
	size_t i, ntasks;

	resources_init(&used);
	resources_init(&offered);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", fw->id);
	jsonw_kstr(w, "name", fw->info.name);
	jsonw_kstr(w, "user", fw->info.user);
	jsonw_kstr(w, "hostname", fw->info.hostname ? fw->info.hostname : "");
	jsonw_kstr(w, "webui_url",
	           fw->info.webui_url ? fw->info.webui_url : "");
	if (fw->info.principal)
		jsonw_kstr(w, "principal", fw->info.principal);
	jsonw_kstr(w, "role", fw->info.nroles ? fw->info.roles[0] : "*");
	jsonw_key(w, "roles");
	jsonw_arr_begin(w);
	for (i = 0; i < fw->info.nroles; i++)
		jsonw_str(w, fw->info.roles[i]);
	jsonw_arr_end(w);
	jsonw_kdouble(w, "failover_timeout", fw->info.failover_timeout);
	jsonw_kbool(w, "checkpoint", fw->info.checkpoint);
	jsonw_kdouble(w, "registered_time", fw->registered_time);
	jsonw_kdouble(w, "unregistered_time",
	              fw->active ? 0 : fw->unregistered_time);
	jsonw_kbool(w, "active", fw->active);
	jsonw_kbool(w, "connected", fw->stream != NULL);
	jsonw_kbool(w, "recovered", fw->recovered);
	jsonw_key(w, "tasks");
	jsonw_arr_begin(w);
	tasks = collect_nodes(&fw->tasks, &ntasks);
	for (i = 0; i < ntasks; i++) {
		const struct master_task *t =
		    container_of(tasks[i], struct master_task, node);
		prefetch_tasks(tasks, ntasks, i);
		write_state_task(w, t);
		if (!t->resources_released)
			resources_add(&used, &t->resources);
	}
	free(tasks);
	jsonw_arr_end(w);
	jsonw_key(w, "completed_tasks");
	jsonw_arr_begin(w);
	LIST_FOR_EACH_SAFE(pos, ltmp, &fw->completed)
	{
		write_state_task(
		    w, list_entry(pos, struct master_task, completed_link));
	}
	jsonw_arr_end(w);
	jsonw_key(w, "offers");
	jsonw_arr_begin(w);
	LIST_FOR_EACH_SAFE(pos, ltmp, &fw->offers)
	{
		const struct master_offer *o =
		    list_entry(pos, struct master_offer, framework_link);
		resources_add(&offered, &o->resources);
		jsonw_obj_begin(w);
		jsonw_kstr(w, "id", o->id);
		jsonw_kstr(w, "framework_id", fw->id);
		jsonw_kstr(w, "slave_id", o->agent->id);
		jsonw_key(w, "resources");
		resources_write_map(w, &o->resources);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "executors");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_key(w, "used_resources");
	resources_write_map(w, &used);
	jsonw_key(w, "offered_resources");
	resources_write_map(w, &offered);
	resources_add(&used, &offered);
	jsonw_key(w, "resources");
	resources_write_map(w, &used);
	jsonw_obj_end(w);
	resources_release(&used);
	resources_release(&offered);
	(void)m;
}

static void write_state_agent(struct jsonw *w, const struct master_agent *a)
{
	struct resources unreserved;

	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", a->id);
	jsonw_kstr(w, "pid", a->pid);
	jsonw_kstr(w, "hostname", a->info.hostname);
	jsonw_kint(w, "port", a->info.port);
	jsonw_kdouble(w, "registered_time", a->registered_time);
	if (a->reregistered_time)
		jsonw_kdouble(w, "reregistered_time", a->reregistered_time);
	jsonw_key(w, "resources");
	resources_write_map(w, &a->info.resources);
	jsonw_key(w, "used_resources");
	resources_write_map(w, &a->used);
	jsonw_key(w, "offered_resources");
	resources_write_map(w, &a->offered);
	resources_init(&unreserved);
	resources_allocatable_to(&unreserved, &a->info.resources, "*");
	jsonw_key(w, "unreserved_resources");
	resources_write_map(w, &unreserved);
	resources_release(&unreserved);
	jsonw_key(w, "attributes");
	attributes_write_map(w, &a->info.attributes);
	jsonw_kbool(w, "active", a->connected);
	jsonw_kbool(w, "deactivated", false);
	jsonw_kstr(w, "version", a->version ? a->version : ATOLL_VERSION);
	jsonw_obj_end(w);
}

/* As prefetch_tasks, for the agent loop of /state. */
static inline __attribute__((always_inline)) void
prefetch_agents(struct hmap_node *const *v, size_t n, size_t i)
{
	const struct master_agent *a;

	if (i + STATE_PREFETCH_TASK < n) {
		a = container_of(v[i + STATE_PREFETCH_TASK],
		                 struct master_agent, node);
		__builtin_prefetch(&a->id);
		__builtin_prefetch(&a->info.resources);
		__builtin_prefetch(&a->registered_time);
		__builtin_prefetch(&a->used);
		__builtin_prefetch(&a->offered);
	}
	if (i + STATE_PREFETCH_FIELDS < n) {
		a = container_of(v[i + STATE_PREFETCH_FIELDS],
		                 struct master_agent, node);
		__builtin_prefetch(a->id);
		__builtin_prefetch(a->pid);
		__builtin_prefetch(a->info.hostname);
		__builtin_prefetch(a->info.resources.v);
		__builtin_prefetch(a->info.attributes.v);
		__builtin_prefetch(a->used.v);
		__builtin_prefetch(a->offered.v);
	}
	if (i + STATE_PREFETCH_DEEP < n) {
		a = container_of(v[i + STATE_PREFETCH_DEEP],
		                 struct master_agent, node);
		for (size_t k = 0; k < a->info.resources.n && k < 4; k++)
			__builtin_prefetch(a->info.resources.v[k].name);
		for (size_t k = 0; k < a->used.n && k < 4; k++)
			__builtin_prefetch(a->used.v[k].name);
	}
}

/* "leader" and "leader_info": this master when elected, else the leader
 * the detector knows (its znode's MasterInfo as read), else nothing. */
static void write_state_leader(struct master *m, struct jsonw *w)
{
	const struct leader_info *li;
	char *pid;

	if (m->elected) {
		jsonw_kstr(w, "leader", m->pid);
		jsonw_key(w, "leader_info");
		master_write_master_info(m, w);
		return;
	}
	if (!(li = master_leader(m)))
		return;
	pid = li->pid ? xstrdup(li->pid) : xasprintf("master@%s", li->endpoint);
	jsonw_kstr(w, "leader", pid);
	free(pid);
	jsonw_key(w, "leader_info");
	jsonw_raw(w, li->json, strlen(li->json));
}

void master_write_state(struct master *m, struct jsonw *w)
{
	struct hmap_node *n, *tmp, **agents;
	struct list *pos, *ltmp;
	size_t i, nagents, active = 0, inactive = 0;

	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		if (container_of(n, struct master_agent, node)->connected)
			active++;
		else
			inactive++;
	}
	jsonw_obj_begin(w);
	jsonw_kstr(w, "version", ATOLL_VERSION);
	jsonw_kstr(w, "atoll_version", ATOLL_VERSION);
	jsonw_kstr(w, "build_date", __DATE__);
	jsonw_kdouble(w, "start_time", m->start_time);
	if (m->elected)
		jsonw_kdouble(w, "elected_time", m->elected_time);
	jsonw_kstr(w, "id", m->id);
	jsonw_kstr(w, "pid", m->pid);
	jsonw_kstr(w, "hostname", m->cfg.hostname);
	jsonw_kuint(w, "activated_slaves", active);
	jsonw_kuint(w, "deactivated_slaves", inactive);
	jsonw_kuint(w, "unreachable_slaves", 0);
	write_state_leader(m, w);
	jsonw_key(w, "flags");
	master_flags_write(m, w, false);
	jsonw_key(w, "slaves");
	jsonw_arr_begin(w);
	agents = collect_nodes(&m->agents, &nagents);
	for (i = 0; i < nagents; i++) {
		prefetch_agents(agents, nagents, i);
		write_state_agent(
		    w, container_of(agents[i], struct master_agent, node));
	}
	free(agents);
	jsonw_arr_end(w);
	jsonw_key(w, "frameworks");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		write_state_framework(
		    m, w, container_of(n, struct master_framework, node));
	}
	jsonw_arr_end(w);
	jsonw_key(w, "completed_frameworks");
	jsonw_arr_begin(w);
	LIST_FOR_EACH_SAFE(pos, ltmp, &m->completed_frameworks)
	{
		write_state_framework(
		    m, w,
		    list_entry(pos, struct master_framework, completed_link));
	}
	jsonw_arr_end(w);
	jsonw_key(w, "orphan_tasks");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_key(w, "unregistered_frameworks");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

void master_write_metrics(struct master *m, struct jsonw *w)
{
	static const char *const scalars[] = {"cpus", "mem", "disk", "gpus"};
	uint64_t by_state[TASK_STATE_COUNT] = {0};
	struct resources total, used;
	struct hmap_node *n, *tmp;
	size_t i, fw_active = 0, fw_conn = 0, ag_active = 0;
	char key[128];

	resources_init(&total);
	resources_init(&used);
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		struct master_agent *a =
		    container_of(n, struct master_agent, node);
		resources_add(&total, &a->info.resources);
		resources_add(&used, &a->used);
		ag_active += a->connected;
	}
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		struct hmap_node *tn, *ttmp;
		size_t k;
		fw_active += fw->active;
		fw_conn += fw->stream != NULL;
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
		{
			struct master_task *t =
			    container_of(tn, struct master_task, node);
			if (!task_state_is_terminal(t->state))
				by_state[t->state]++;
		}
	}
	jsonw_obj_begin(w);
	jsonw_kint(w, "master/elected", m->elected ? 1 : 0);
	jsonw_kdouble(w, "master/uptime_secs", timeutil_wall() - m->start_time);
	for (i = 0; i < ARRAY_SIZE(scalars); i++) {
		double t = res_to_double(resources_scalar(&total, scalars[i]));
		double u = res_to_double(resources_scalar(&used, scalars[i]));
		snprintf(key, sizeof(key), "master/%s_total", scalars[i]);
		jsonw_kdouble(w, key, t);
		snprintf(key, sizeof(key), "master/%s_used", scalars[i]);
		jsonw_kdouble(w, key, u);
		snprintf(key, sizeof(key), "master/%s_percent", scalars[i]);
		jsonw_kdouble(w, key, t > 0 ? u / t : 0);
	}
	jsonw_kuint(w, "master/slaves_active", ag_active);
	jsonw_kuint(w, "master/slaves_connected", ag_active);
	jsonw_kuint(w, "master/slaves_disconnected",
	            m->agents.count - ag_active);
	jsonw_kuint(w, "master/slaves_inactive", m->agents.count - ag_active);
	jsonw_kuint(w, "master/frameworks_active", fw_active);
	jsonw_kuint(w, "master/frameworks_inactive",
	            m->frameworks.count - fw_active);
	jsonw_kuint(w, "master/frameworks_connected", fw_conn);
	jsonw_kuint(w, "master/frameworks_disconnected",
	            m->frameworks.count - fw_conn);
	for (i = 0; i < TASK_STATE_COUNT; i++) {
		/* "TASK_RUNNING" -> "master/tasks_running" */
		const char *name = task_state_name((enum task_state)i) + 5;
		size_t k = (size_t)snprintf(key, sizeof(key), "master/tasks_");
		for (; *name && k + 1 < sizeof(key); name++)
			key[k++] = (char)(*name >= 'A' && *name <= 'Z'
			                      ? *name - 'A' + 'a'
			                      : *name);
		key[k] = '\0';
		jsonw_kuint(w, key,
		            task_state_is_terminal((enum task_state)i)
		                ? m->metrics.tasks_by_state_terminal[i]
		                : by_state[i]);
	}
	jsonw_kuint(w, "master/outstanding_offers", m->offers.count);
	jsonw_kuint(w, "master/valid_status_updates",
	            m->metrics.valid_status_updates);
	jsonw_kuint(w, "master/invalid_status_updates",
	            m->metrics.invalid_status_updates);
	jsonw_kuint(w, "master/tasks_launched", m->metrics.tasks_launched);
	jsonw_kuint(w, "master/offers_sent", m->metrics.offers_sent);
	jsonw_kuint(w, "master/offers_declined", m->metrics.offers_declined);
	jsonw_kuint(w, "master/offers_rescinded", m->metrics.offers_rescinded);
	jsonw_kuint(w, "master/slow_subscribers_disconnected",
	            m->metrics.dropped_streams);
	jsonw_kuint(w, "master/http_connections",
	            http_server_connections(m->http));
	jsonw_kuint(w, "allocator/mesos/allocation_runs",
	            m->metrics.allocation_runs);
	jsonw_obj_end(w);
	resources_release(&total);
	resources_release(&used);
}

/* /metrics: the /metrics/snapshot values in Prometheus's text format. */
static void write_prometheus(struct master *m, struct buf *out)
{
	struct buf snap = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &snap);
	master_write_metrics(m, &w);
	prometheus_from_snapshot(out, snap.data, snap.len);
	buf_release(&snap);
}

static void respond_json(struct http_request *req, struct buf *b)
{
	http_respond_buf(req, 200, "application/json", b);
}

void master_respond_not_leader(struct master *m, struct http_request *req)
{
	const struct leader_info *li = master_leader(m);
	const char *p = req->path;
	char *loc;

	/* The detector may name this master before its contender reports
	 * the election (or while the registry loads): never redirect to
	 * ourselves. */
	if (!li || streq(li->id, m->id)) {
		http_respond_error(req, 503, "no leader elected yet");
		return;
	}
	/* /master/redirect itself points at the leader's root, as Mesos. */
	if (!strcmp(p, "/master/redirect") || !strcmp(p, "/redirect"))
		p = "";
	loc = xasprintf("//%s%s%s%s", li->endpoint, p, req->query ? "?" : "",
	                req->query ? req->query : "");
	http_request_add_header(req, "Location", loc);
	free(loc);
	http_respond(req, 307, NULL, NULL, 0);
}

void master_endpoints(struct master *m, struct http_request *req)
{
	const char *p = req->path;
	struct buf b = BUF_INIT;
	struct jsonw w;

	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD") &&
	    strcmp(req->method, "POST")) {
		http_respond_error(req, 405, "Method '%s' not allowed on %s",
		                   req->method, p);
		return;
	}
	jsonw_init(&w, &b);
	if (!strcmp(p, "/health") || !strcmp(p, "/master/health")) {
		http_respond(req, 200, NULL, NULL, 0);
	} else if (!strcmp(p, "/version")) {
		version_write_info(&w);
		respond_json(req, &b);
	} else if (!strcmp(p, "/master/redirect") || !strcmp(p, "/redirect")) {
		char loc[256];
		if (!m->elected) {
			master_respond_not_leader(m, req);
		} else {
			snprintf(loc, sizeof(loc), "//%s", m->address);
			http_request_add_header(req, "Location", loc);
			http_respond(req, 307, NULL, NULL, 0);
		}
	} else if (!strcmp(p, "/state") || !strcmp(p, "/master/state") ||
	           !strcmp(p, "/master/state.json") ||
	           !strcmp(p, "/state.json")) {
		master_respond_snapshot(m, req, master_write_state);
	} else if (!strcmp(p, "/metrics")) {
		write_prometheus(m, &b);
		http_respond_buf(req, 200, PROMETHEUS_CONTENT_TYPE, &b);
	} else if (!strcmp(p, "/metrics/snapshot")) {
		master_write_metrics(m, &w);
		respond_json(req, &b);
	} else if (!strcmp(p, "/flags") || !strcmp(p, "/master/flags")) {
		jsonw_obj_begin(&w);
		jsonw_key(&w, "flags");
		master_flags_write(m, &w, false);
		jsonw_obj_end(&w);
		respond_json(req, &b);
	} else {
		http_respond_error(req, 404, "No endpoint '%s'", p);
	}
	buf_release(&b);
}
