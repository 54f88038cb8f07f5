/*
 * master.c: the master's life and its state transitions.
 *
 * The master keeps the cluster in memory (frameworks, agents, tasks,
 * offers in hash maps), runs the allocator, and turns allocations into
 * offers. Nothing here blocks: every input arrives as an HTTP call or a
 * stream closing, every output leaves as an event on a stream.
 *
 * Framework life:
 *
 *   SUBSCRIBE --> connected --(stream closes)--> disconnected
 *       ^            |  master_framework_disconnected(): offers rescinded,
 *       |            |  failover timer started (failover_timeout)
 *       +--resubscribe (same id) within failover_timeout
 *                    |
 *   TEARDOWN or failover timer fires --> removed (master_framework_remove):
 *       tasks killed on agents, resources recovered, kept in completed
 *
 * Agent life (every arrow into or out of the registry is stored before
 * the master acts or replies; registry.c):
 *
 *   SUBSCRIBE without id, or with an id the registry does not know or has
 *     unreachable --registry_admit()--> connected (agent_api.c; a failed
 *     write answers 503 and the agent retries)
 *   connected: a PING event every --agent-ping-timeout, answered by a
 *       PONG call
 *       (master_agent_ping_tick); --max-agent-ping-timeouts misses in a
 *       row, or the stream closed (master_agent_disconnected) for as long
 *       (removal timer) --> master_agent_mark_unreachable()
 *       ^   |  waits for a --agent-removal-rate-limit slot, then
 *       |   v  registry_mark_unreachable() (retried if the write fails)
 *       |  unreachable (master_agent_remove(REASON_AGENT_REMOVED)): agent
 *       |    freed; tasks of partition-aware frameworks TASK_UNREACHABLE
 *       |    and kept (unreachable_agent), the others TASK_LOST
 *       +-- resubscribe with its id: admitted again; kept tasks reported
 *           again are reattached and their latest state sent; tasks of
 *           frameworks that are not partition-aware are killed; kept tasks
 *           not reported become TASK_GONE (agent_api.c)
 *   MARK_AGENT_GONE (master_agent_mark_gone): registry_mark_gone(), agent
 *       removed, tasks TASK_GONE_BY_OPERATOR (TASK_LOST); the id is
 *       refused for good (403)
 *
 * Master restart: the registry is loaded (a registry that cannot be read
 * stops the master); agents it lists as admitted are "recovered" until
 * they reregister; those still away after --agent-reregister-timeout are
 * marked unreachable at the rate limit (master_reregister_timeout_cb).
 * Unreachable and gone records are forgotten after
 * --registry-max-agent-age or beyond --registry-max-agent-count.
 *
 * Task life (master's view): STAGING at launch; then whatever the agent
 * reports as the latest state. Resources go back to the allocator when the
 * latest state is terminal; the task moves to "completed" when the
 * framework acknowledges the terminal update.
 *
 * High availability (--zk zk://hosts/path --quorum N; master_ha_start):
 *
 *   listening (master_start) --leader_contender_new--> STANDBY
 *   STANDBY: scheduler, agent and operator API calls get a 307 to the
 *     leader the detector reports (503 while none is known); /health,
 *     /state (without elected_time), /master/redirect are served
 *   STANDBY --LEADER_ELECTED (master_on_election)--> ELECTED: the registry
 *     is loaded from ZooKeeper (<path>/registry), the reregistration
 *     window starts, the APIs are served
 *   ELECTED --LEADER_LOST--> process exits at once, non-zero (Mesos's
 *     "commit suicide": a master that may have been replaced never acts
 *     again, so two leaders never accept writes)
 *   STANDBY --LEADER_LOST--> STANDBY with a new contender after a pause
 *     (master_recontend_cb), as Mesos's followers recontend
 *
 * Allocation: events (agent added, resources recovered, revive, framework
 * activated) call master_schedule_allocation(), which coalesces them into
 * one incremental pass on the next loop iteration; a periodic full pass
 * runs every --allocation-interval and also expires offers
 * (--offer-timeout).
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/jsonw.h"
#include "lib/leader.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/timeutil.h"
#include "lib/zk.h"
#include "master/registry.h"

#define MASTER_COMPONENT "master"
/* Mesos's --registry_gc_interval. */
#define MASTER_REGISTRY_GC_MS (15 * 60 * 1000)
/* Pause before a standby whose candidacy ended contends again. */
#define MASTER_RECONTEND_SECS 1.0

static const struct flag_def master_flags[] = {
    FLAG_DEF(struct master_config, ip, "ip", FLAG_STRING, "127.0.0.1", 0, 0,
             "IP address to listen on"),
    FLAG_DEF(struct master_config, port, "port", FLAG_INT, "5050", 0, 65535,
             "port to listen on (0 = pick a free port)"),
    FLAG_DEF(struct master_config, hostname, "hostname", FLAG_STRING, NULL, 0,
             0, "hostname to advertise (default: the machine's)"),
    FLAG_DEF(struct master_config, work_dir, "work-dir", FLAG_STRING, NULL, 0,
             0,
             "directory for the registry (registry.db); without it "
             "the registry is kept in memory"),
    FLAG_DEF(struct master_config, port_file, "port-file", FLAG_STRING, NULL, 0,
             0, "write the bound port to this file once listening"),
    FLAG_DEF(struct master_config, log_level, "log-level", FLAG_STRING, "info",
             0, 0, "error, warn, info or debug"),
    FLAG_DEF(struct master_config, allocation_interval, "allocation-interval",
             FLAG_DURATION, "1secs", 0.001, 3600,
             "period of the full allocation pass"),
    FLAG_DEF(struct master_config, offer_timeout, "offer-timeout",
             FLAG_DURATION, "0secs", 0, 31536000,
             "rescind offers held longer than this (0 = never)"),
    FLAG_DEF(struct master_config, heartbeat_interval, "heartbeat-interval",
             FLAG_DURATION, "15secs", 0.05, 3600,
             "interval of HEARTBEAT events on every stream"),
    FLAG_DEF(struct master_config, agent_ping_timeout, "agent-ping-timeout",
             FLAG_DURATION, "15secs", 0.05, 3600,
             "how long an agent may stay silent per ping"),
    FLAG_DEF(struct master_config, max_agent_ping_timeouts,
             "max-agent-ping-timeouts", FLAG_INT, "5", 1, 1000,
             "missed pings (or disconnected ping periods) before an agent "
             "is removed"),
    FLAG_DEF(struct master_config, max_body_bytes, "max-body-bytes", FLAG_BYTES,
             "8MB", 1024, 1073741824.0,
             "largest request body accepted (413 beyond)"),
    FLAG_DEF(struct master_config, max_stream_queue_bytes,
             "max-stream-queue-bytes", FLAG_BYTES, "16MB", 4096, 1073741824.0,
             "per-subscriber outbound queue; a subscriber that falls "
             "further behind is disconnected"),
    FLAG_DEF(struct master_config, idle_timeout, "http-idle-timeout",
             FLAG_DURATION, "75secs", 0.1, 86400,
             "close HTTP connections idle this long"),
    FLAG_DEF(struct master_config, max_connections, "max-connections", FLAG_INT,
             "10000", 1, 1000000, "most concurrent HTTP connections"),
    FLAG_DEF(struct master_config, max_completed_frameworks,
             "max-completed-frameworks", FLAG_INT, "50", 0, 1000000,
             "completed frameworks kept for /state"),
    FLAG_DEF(struct master_config, max_completed_tasks_per_framework,
             "max-completed-tasks-per-framework", FLAG_INT, "1000", 0,
             100000000, "completed tasks kept per framework"),
    FLAG_DEF(struct master_config, default_refuse_seconds,
             "default-refuse-seconds", FLAG_DURATION, "5secs", 0, 31536000,
             "refuse filter for declines without filters.refuse_seconds"),
    FLAG_DEF(struct master_config, registry, "registry", FLAG_STRING, "sqlite",
             0, 0,
             "where the registry of agents lives: sqlite (in --work-dir, "
             "survives restarts; with --zk in ZooKeeper instead) or "
             "in_memory"),
    FLAG_DEF(struct master_config, agent_reregister_timeout,
             "agent-reregister-timeout", FLAG_DURATION, "10mins", 0.05,
             31536000,
             "after a restart, agents of the registry that do not "
             "reregister within this are marked unreachable"),
    FLAG_DEF(struct master_config, agent_removal_rate_limit,
             "agent-removal-rate-limit", FLAG_STRING, NULL, 0, 0,
             "most agents marked unreachable per duration, as N/DURATION "
             "(e.g. 1/10mins; default: no limit)"),
    FLAG_DEF(struct master_config, registry_max_agent_age,
             "registry-max-agent-age", FLAG_DURATION, "2weeks", 1, 315360000,
             "unreachable and gone agents are forgotten after this"),
    FLAG_DEF(struct master_config, registry_max_agent_count,
             "registry-max-agent-count", FLAG_INT, "102400", 1, 100000000,
             "most unreachable and gone agents remembered"),
    FLAG_DEF(struct master_config, zk, "zk", FLAG_STRING, NULL, 0, 0,
             "high availability: zk://host:port[,host:port...]/path; the "
             "masters elect a leader there and keep the registry in "
             "<path>/registry (needs --quorum)"),
    FLAG_DEF(struct master_config, zk_session_timeout, "zk-session-timeout",
             FLAG_DURATION, "10secs", 0.1, 3600,
             "ZooKeeper session timeout (a leader that loses its session "
             "exits)"),
    FLAG_DEF(struct master_config, quorum, "quorum", FLAG_INT, "0", 0, 1000,
             "with --zk: the size of a majority of the masters (required, "
             ">= 1)"),
};

void master_flags_write(struct master *m, struct jsonw *w, bool as_list)
{
	if (as_list)
		flags_write_list(w, master_flags, ARRAY_SIZE(master_flags),
		                 &m->cfg);
	else
		flags_write_map(w, master_flags, ARRAY_SIZE(master_flags),
		                &m->cfg);
}

uint64_t master_now_ms(struct master *m)
{
	(void)m;
	return timeutil_mono_ms();
}

/* ---- lookups ----------------------------------------------------------- */

struct master_framework *master_framework_find(struct master *m, const char *id)
{
	return hmap_entry(hmap_find(&m->frameworks, id),
	                  struct master_framework, node);
}

struct master_framework *master_framework_find_completed(struct master *m,
                                                         const char *id)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &m->completed_frameworks)
	{
		struct master_framework *fw =
		    list_entry(pos, struct master_framework, completed_link);
		if (streq(fw->id, id))
			return fw;
	}
	return NULL;
}

struct master_agent *master_agent_find(struct master *m, const char *id)
{
	return hmap_entry(hmap_find(&m->agents, id), struct master_agent, node);
}

struct master_task *master_task_find(struct master_framework *fw,
                                     const char *task_id)
{
	return hmap_entry(hmap_find(&fw->tasks, task_id), struct master_task,
	                  node);
}

bool master_framework_is_partition_aware(const struct master_framework *fw)
{
	return fw->info.capabilities & FW_CAP_PARTITION_AWARE;
}

/* ---- offers ------------------------------------------------------------ */

static void master_offer_free(struct master_offer *o)
{
	free(o->id);
	free(o->role);
	resources_release(&o->resources);
	free(o);
}

void master_offer_remove(struct master_offer *o, bool recover,
                         double refuse_seconds)
{
	struct master *m = o->agent->master;

	hmap_remove(&m->offers, &o->node);
	list_del(&o->framework_link);
	list_del(&o->agent_link);
	if (resources_subtract(&o->agent->offered, &o->resources))
		log_error(MASTER_COMPONENT,
		          "agent=%s offered resources out "
		          "of sync",
		          o->agent->id);
	if (recover) {
		alloc_recover(m->alloc, o->agent->id, o->framework->id,
		              &o->resources, refuse_seconds, master_now_ms(m));
		master_schedule_allocation(m);
	}
	master_offer_free(o);
}

void master_offer_rescind(struct master_offer *o)
{
	struct master_framework *fw = o->framework;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "RESCIND");
	jsonw_key(&w, "rescind");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "offer_id", o->id);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (fw->stream)
		(void)master_framework_send(fw, &ev);
	buf_release(&ev);
	fw->master->metrics.offers_rescinded++;
	master_offer_remove(o, true, 0);
}

static void master_rescind_list(struct list *head, size_t link_offset)
{
	struct list *pos, *tmp;
	LIST_FOR_EACH_SAFE(pos, tmp, head)
	{
		struct master_offer *o =
		    (struct master_offer *)((char *)pos - link_offset);
		master_offer_rescind(o);
	}
}

static void master_write_offer(struct master *m, struct jsonw *w,
                               const struct master_offer *o)
{
	const struct master_agent *a = o->agent;

	jsonw_obj_begin(w);
	jsonw_kid(w, "id", o->id);
	jsonw_kid(w, "framework_id", o->framework->id);
	jsonw_kid(w, "agent_id", a->id);
	jsonw_kstr(w, "hostname", a->info.hostname);
	jsonw_key(w, "url");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "scheme", "http");
	jsonw_key(w, "address");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "hostname", a->info.hostname);
	jsonw_kstr(w, "ip", a->ip);
	jsonw_kint(w, "port", a->info.port);
	jsonw_obj_end(w);
	jsonw_kstr(w, "path", "/slave(1)");
	jsonw_obj_end(w);
	jsonw_key(w, "allocation_info");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "role", o->role);
	jsonw_obj_end(w);
	jsonw_key(w, "resources");
	resources_write_json(w, &o->resources);
	jsonw_key(w, "attributes");
	attributes_write_json(w, &a->info.attributes);
	jsonw_key(w, "executor_ids");
	jsonw_arr_begin(w);
	{
		/* executors of this framework running on the agent */
		struct list *pos, *tmp;
		LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
		{
			struct master_task *t =
			    list_entry(pos, struct master_task, agent_link);
			if (t->framework == o->framework && t->executor_id &&
			    !task_state_is_terminal(t->state)) {
				jsonw_obj_begin(w);
				jsonw_kstr(w, "value", t->executor_id);
				jsonw_obj_end(w);
			}
		}
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	(void)m;
}

/* ---- allocation -------------------------------------------------------- */

struct alloc_batch {
	struct master *m;
	struct master_framework **fws;
	struct buf *offers; /* per fws[i]: comma-joined offer objects */
	size_t n, cap;
};

static void master_on_allocation(const char *framework_id, const char *agent_id,
                                 const char *role, struct resources *res,
                                 void *arg)
{
	struct alloc_batch *b = arg;
	struct master *m = b->m;
	struct master_framework *fw = master_framework_find(m, framework_id);
	struct master_agent *a = master_agent_find(m, agent_id);
	struct master_offer *o;
	struct jsonw w;
	size_t i;

	if (!fw || !a || !fw->stream || !a->connected) {
		/* Should not happen: give the resources straight back. */
		log_warn(MASTER_COMPONENT,
		         "framework=%s agent=%s allocation to an inactive "
		         "party returned",
		         framework_id, agent_id);
		alloc_recover(m->alloc, agent_id, framework_id, res, 0,
		              master_now_ms(m));
		resources_release(res);
		master_schedule_allocation(m);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->id =
	    xasprintf("%s-O%llu", m->id, (unsigned long long)m->next_offer++);
	o->node.key = o->id;
	o->framework = fw;
	o->agent = a;
	o->role = xstrdup(role);
	o->resources = *res; /* take */
	resources_init(res);
	o->created_ms = master_now_ms(m);
	hmap_insert(&m->offers, &o->node);
	list_add_tail(&fw->offers, &o->framework_link);
	list_add_tail(&a->offers, &o->agent_link);
	resources_add(&a->offered, &o->resources);

	for (i = 0; i < b->n; i++)
		if (b->fws[i] == fw)
			break;
	if (i == b->n) {
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 8;
			b->fws = xrealloc(b->fws, b->cap * sizeof(*b->fws));
			b->offers =
			    xrealloc(b->offers, b->cap * sizeof(*b->offers));
		}
		b->fws[i] = fw;
		buf_init(&b->offers[i]);
		b->n++;
	}
	jsonw_init(&w, &b->offers[i]);
	if (b->offers[i].len)
		buf_addc(&b->offers[i], ',');
	master_write_offer(m, &w, o);
	m->metrics.offers_sent++;
}

static void master_check_fresh(struct master *m);

static void master_allocate(struct master *m, bool full)
{
	struct alloc_batch b = {.m = m};

	master_check_fresh(m); /* no offers from a deposed leader */
	m->alloc_pending = false;
	m->metrics.allocation_runs++;
	alloc_run(m->alloc, master_now_ms(m), full, master_on_allocation, &b);
	for (size_t i = 0; i < b.n; i++) {
		struct buf ev = BUF_INIT;
		buf_adds(&ev, "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[");
		buf_add(&ev, b.offers[i].data, b.offers[i].len);
		buf_adds(&ev, "]}}");
		(void)master_framework_send(b.fws[i], &ev);
		buf_release(&ev);
		buf_release(&b.offers[i]);
	}
	free(b.fws);
	free(b.offers);
}

static void master_alloc_soon_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	master_allocate(m, false);
}

void master_schedule_allocation(struct master *m)
{
	if (m->alloc_pending || m->stopping)
		return;
	m->alloc_pending = true;
	uv_timer_start(&m->alloc_soon, master_alloc_soon_cb, 0, 0);
}

static void master_expire_offers(struct master *m)
{
	struct hmap_node *n, *tmp;
	uint64_t now = master_now_ms(m);
	uint64_t limit = (uint64_t)(m->cfg.offer_timeout * 1000.0);
	size_t i;

	if (m->cfg.offer_timeout <= 0)
		return;
	HMAP_FOR_EACH_SAFE(&m->offers, i, n, tmp)
	{
		struct master_offer *o =
		    container_of(n, struct master_offer, node);
		if (now - o->created_ms >= limit) {
			log_info(MASTER_COMPONENT,
			         "offer=%s framework=%s rescinding offer held "
			         "past --offer-timeout",
			         o->id, o->framework->id);
			master_offer_rescind(o);
		}
	}
}

static void master_alloc_timer_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	master_expire_offers(m);
	master_allocate(m, true);
}

static void master_heartbeat_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	static const char hb[] = "{\"type\":\"HEARTBEAT\"}";
	struct buf ev = {(char *)hb, sizeof(hb) - 1, 0};
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		if (fw->stream)
			(void)master_framework_send(fw, &ev);
	}
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		struct master_agent *a =
		    container_of(n, struct master_agent, node);
		if (a->stream)
			(void)master_agent_send(a, &ev);
	}
}

/* ---- reservations and persistent volumes ------------------------------ */

void master_agent_send_checkpoint(struct master_agent *a)
{
	struct resources ckpt;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	resources_init(&ckpt);
	resources_checkpointed(&ckpt, &a->info.resources);
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "CHECKPOINT_RESOURCES");
	jsonw_key(&w, "checkpoint_resources");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "resources");
	resources_write_json(&w, &ckpt);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (a->stream)
		(void)master_agent_send(a, &ev);
	buf_release(&ev);
	resources_release(&ckpt);
}

/* The live task of a using the volume v, or NULL. */
static struct master_task *master_volume_user(struct master_agent *a,
                                              const struct resource *v)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
	{
		struct master_task *t =
		    list_entry(pos, struct master_task, agent_link);
		if (task_state_is_terminal(t->state))
			continue;
		for (size_t i = 0; i < t->resources.n; i++) {
			const struct resource *x = &t->resources.v[i];
			if (resource_is_persistent_volume(x) &&
			    !strcmp(x->persistence_id, v->persistence_id) &&
			    !strcmp(x->role, v->role))
				return t;
		}
	}
	return NULL;
}

int master_agent_apply_op(struct master_agent *a, struct master_framework *fw,
                          enum resources_op op, const struct resources *res,
                          struct err *e)
{
	struct master *m = a->master;
	struct resources bare, total, used, made;
	int rc;

	if ((rc = resources_op_validate(op, res, e)))
		return rc;
	for (size_t i = 0; op == RES_OP_DESTROY && i < res->n; i++) {
		struct master_task *t = master_volume_user(a, &res->v[i]);
		if (t) {
			err_set(e,
			        "resources[%zu]: volume '%s' is in use by "
			        "task '%s'",
			        i, res->v[i].persistence_id, t->id);
			return -EBUSY;
		}
	}
	resources_copy(&bare, res);
	resources_set_alloc_role(&bare, NULL);
	resources_copy(&total, &a->info.resources);
	resources_init(&used);
	resources_init(&made);
	if ((rc = resources_apply_op(&total, op, &bare, e)))
		goto out_release;
	resources_op_sides(op, fw ? res : &bare, &used, &made);
	if (alloc_agent_convert(m->alloc, a->id, fw ? fw->id : NULL, &used,
	                        &made)) {
		struct buf want = BUF_INIT;
		resources_format(&want, &used);
		err_set(e, "resources: %s needs %s, which is offered or in use",
		        resources_op_name(op), want.data);
		buf_release(&want);
		rc = -ENOENT;
		goto out_release;
	}
	resources_release(&a->info.resources);
	a->info.resources = total;
	resources_init(&total);
	{
		struct buf what = BUF_INIT;
		resources_format(&what, &bare);
		log_info(MASTER_COMPONENT, "agent=%s framework=%s %s %s", a->id,
		         fw ? fw->id : "(operator)", resources_op_name(op),
		         what.data);
		buf_release(&what);
	}
	master_agent_send_checkpoint(a);
	master_schedule_allocation(m);
out_release:
	resources_release(&bare);
	resources_release(&total);
	resources_release(&used);
	resources_release(&made);
	return rc;
}

/* ---- tasks ------------------------------------------------------------- */

static void master_task_free(struct master_task *t)
{
	free(t->id);
	free(t->name);
	free(t->executor_id);
	task_status_release(&t->status);
	resources_release(&t->resources);
	free(t->info_json);
	free(t->kill_policy_json);
	free(t->unreachable_agent);
	free(t);
}

struct master_task *master_task_add(struct master_framework *fw,
                                    struct master_agent *agent,
                                    struct task_info *ti)
{
	struct master_task *t = xcalloc(1, sizeof(*t));

	t->id = xstrdup(ti->task_id);
	t->node.key = t->id;
	t->name = xstrdup(ti->name);
	t->executor_id =
	    xstrdup(ti->executor_id ? ti->executor_id : ti->task_id);
	t->custom_executor =
	    ti->executor_id && strcmp(ti->executor_id, ti->task_id);
	t->framework = fw;
	t->agent = agent;
	t->state = TASK_STAGING;
	task_status_init(&t->status);
	resources_copy(&t->resources, &ti->resources);
	t->info_json = ti->json;
	ti->json = NULL;
	t->staged_time = timeutil_wall();
	list_init(&t->completed_link);
	hmap_insert(&fw->tasks, &t->node);
	if (agent) {
		list_add_tail(&agent->tasks, &t->agent_link);
		resources_add(&agent->used, &t->resources);
	} else {
		list_init(&t->agent_link);
	}
	fw->master->metrics.tasks_launched++;
	return t;
}

static void master_task_release_resources(struct master_task *t)
{
	struct master *m = t->framework->master;

	if (t->resources_released)
		return;
	t->resources_released = true;
	if (!t->agent)
		return;
	if (resources_subtract(&t->agent->used, &t->resources))
		log_error(MASTER_COMPONENT,
		          "task=%s agent=%s used resources "
		          "out of sync",
		          t->id, t->agent->id);
	alloc_recover(m->alloc, t->agent->id, t->framework->id, &t->resources,
	              0, master_now_ms(m));
	master_schedule_allocation(m);
}

void master_task_set_state(struct master_task *t, enum task_state state)
{
	if (t->state == state)
		return;
	if (task_state_is_terminal(t->state) &&
	    !task_state_is_terminal(state)) {
		/* A terminal state is final; never resurrect. */
		return;
	}
	t->state = state;
	if (task_state_is_terminal(state)) {
		t->framework->master->metrics.tasks_by_state_terminal[state]++;
		master_task_release_resources(t);
	}
}

/* Sends KILL_TASK for t with the policy given as compact JSON (or none). */
static void master_task_send_kill(struct master_task *t, const char *policy)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "KILL_TASK");
	jsonw_key(&w, "kill_task");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", t->framework->id);
	jsonw_kid(&w, "task_id", t->id);
	if (policy) {
		jsonw_key(&w, "kill_policy");
		jsonw_raw(&w, policy, strlen(policy));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_agent_send(t->agent, &ev);
	buf_release(&ev);
}

bool master_task_kill(struct master_task *t, const json_t *kill_policy)
{
	char *policy = json_is_object(kill_policy)
	                   ? json_dumps(kill_policy, JSON_COMPACT)
	                   : NULL;

	if (t->agent && t->agent->stream) {
		master_task_send_kill(t, policy);
		free(policy);
		return true;
	}
	log_info(MASTER_COMPONENT,
	         "framework=%s task=%s agent is disconnected; the kill will "
	         "be sent if it reregisters",
	         t->framework->id, t->id);
	t->kill_pending = true;
	free(t->kill_policy_json);
	t->kill_policy_json = policy;
	return false;
}

void master_agent_send_pending_kills(struct master_agent *a)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
	{
		struct master_task *t =
		    list_entry(pos, struct master_task, agent_link);
		if (!t->kill_pending || task_state_is_terminal(t->state))
			continue;
		t->kill_pending = false;
		master_task_send_kill(t, t->kill_policy_json);
		free(t->kill_policy_json);
		t->kill_policy_json = NULL;
	}
}

void master_task_complete(struct master_task *t)
{
	struct master_framework *fw = t->framework;

	master_task_release_resources(t);
	hmap_remove(&fw->tasks, &t->node);
	if (t->agent)
		list_del(&t->agent_link);
	t->agent = NULL;
	list_add_tail(&fw->completed, &t->completed_link);
	fw->ncompleted++;
	while (fw->ncompleted >
	       (size_t)fw->master->cfg.max_completed_tasks_per_framework) {
		struct master_task *old = list_first(
		    &fw->completed, struct master_task, completed_link);
		list_del(&old->completed_link);
		fw->ncompleted--;
		master_task_free(old);
	}
}

/* ---- frameworks -------------------------------------------------------- */

struct master_framework *master_framework_add(struct master *m,
                                              const struct framework_info *info,
                                              const char *id)
{
	struct master_framework *fw = xcalloc(1, sizeof(*fw));

	fw->master = m;
	if (id)
		fw->id = xstrdup(id);
	else
		fw->id = xasprintf("%s-%04llu", m->id,
		                   (unsigned long long)m->next_framework++);
	fw->node.key = fw->id;
	framework_info_copy(&fw->info, info);
	free(fw->info.id);
	fw->info.id = xstrdup(fw->id);
	hmap_init(&fw->tasks);
	list_init(&fw->completed);
	list_init(&fw->offers);
	list_init(&fw->completed_link);
	fw->registered_time = timeutil_wall();
	hmap_insert(&m->frameworks, &fw->node);
	alloc_framework_add(m->alloc, fw->id,
	                    (const char *const *)fw->info.roles,
	                    fw->info.nroles, false);
	log_info(MASTER_COMPONENT, "framework=%s name='%s' added", fw->id,
	         fw->info.name ? fw->info.name : "");
	return fw;
}

void master_framework_connected(struct master_framework *fw,
                                struct http_stream *stream)
{
	struct master *m = fw->master;

	loop_timer_drop(&fw->failover_timer);
	fw->stream = stream;
	fw->active = true;
	fw->recovered = false;
	fw->reregistered_time = timeutil_wall();
	alloc_framework_set_active(m->alloc, fw->id, true);
	master_schedule_allocation(m);
}

static void master_failover_cb(uv_timer_t *t)
{
	struct master_framework *fw = t->data;
	log_info(MASTER_COMPONENT,
	         "framework=%s failover_timeout of %gs expired; tearing down",
	         fw->id, fw->info.failover_timeout);
	master_framework_remove(fw, REASON_FRAMEWORK_REMOVED);
}

void master_framework_disconnected(struct master_framework *fw)
{
	struct master *m = fw->master;

	fw->stream = NULL;
	if (fw->removed || m->stopping)
		return;
	fw->active = false;
	fw->unregistered_time = timeutil_wall();
	master_op_framework_updated(m, fw);
	alloc_framework_set_active(m->alloc, fw->id, false);
	master_rescind_list(&fw->offers,
	                    offsetof(struct master_offer, framework_link));
	log_info(MASTER_COMPONENT, "framework=%s disconnected; failover in %gs",
	         fw->id, fw->info.failover_timeout);
	loop_timer_drop(&fw->failover_timer);
	fw->failover_timer = loop_timer_start(m->loop, fw, master_failover_cb,
	                                      fw->info.failover_timeout);
}

static void master_framework_free(struct master_framework *fw)
{
	struct list *pos, *tmp;
	struct hmap_node *n, *ntmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, ntmp)
	{
		struct master_task *t =
		    container_of(n, struct master_task, node);
		if (t->agent)
			list_del(&t->agent_link);
		master_task_free(t);
	}
	hmap_release(&fw->tasks);
	LIST_FOR_EACH_SAFE(pos, tmp, &fw->completed)
	{
		master_task_free(
		    list_entry(pos, struct master_task, completed_link));
	}
	loop_timer_drop(&fw->failover_timer);
	framework_info_release(&fw->info);
	free(fw->id);
	free(fw);
}

/* Sends a Atoll agent-protocol event with a framework id payload. */
static void master_agent_send_fw_event(struct master_agent *a, const char *type,
                                       const char *key,
                                       const char *framework_id)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", type);
	jsonw_key(&w, key);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", framework_id);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_agent_send(a, &ev);
	buf_release(&ev);
}

void master_framework_remove(struct master_framework *fw,
                             enum task_reason reason)
{
	struct master *m = fw->master;
	struct hmap_node *n, *tmp;
	size_t i;

	if (fw->removed)
		return;
	log_info(MASTER_COMPONENT, "framework=%s removing (%zu tasks)", fw->id,
	         fw->tasks.count);
	master_rescind_list(&fw->offers,
	                    offsetof(struct master_offer, framework_link));
	/* Tell every agent that runs its tasks to shut it down, once. */
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		struct master_agent *a =
		    container_of(n, struct master_agent, node);
		struct list *pos, *ltmp;
		LIST_FOR_EACH_SAFE(pos, ltmp, &a->tasks)
		{
			struct master_task *t =
			    list_entry(pos, struct master_task, agent_link);
			if (t->framework == fw) {
				master_agent_send_fw_event(
				    a, "SHUTDOWN_FRAMEWORK",
				    "shutdown_framework", fw->id);
				break;
			}
		}
	}
	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
	{
		struct master_task *t =
		    container_of(n, struct master_task, node);
		if (!task_state_is_terminal(t->state)) {
			task_status_release(&t->status);
			master_status_make(&t->status, t->id,
			                   t->agent ? t->agent->id : NULL,
			                   t->executor_id, TASK_KILLED, reason,
			                   "framework removed");
			t->has_status = true;
			master_task_set_state(t, TASK_KILLED);
			master_op_task_updated(m, t);
		}
		master_task_complete(t);
	}
	alloc_framework_remove(m->alloc, fw->id);
	loop_timer_drop(&fw->failover_timer);
	if (fw->stream)
		master_stream_error(&fw->stream, "framework removed");
	fw->active = false;
	fw->removed = true;
	fw->unregistered_time = timeutil_wall();
	hmap_remove(&m->frameworks, &fw->node);
	master_op_framework_removed(m, fw);
	list_add_tail(&m->completed_frameworks, &fw->completed_link);
	m->ncompleted_frameworks++;
	while (m->ncompleted_frameworks >
	       (size_t)m->cfg.max_completed_frameworks) {
		struct master_framework *old =
		    list_first(&m->completed_frameworks,
		               struct master_framework, completed_link);
		list_del(&old->completed_link);
		m->ncompleted_frameworks--;
		master_framework_free(old);
	}
	master_schedule_allocation(m);
}

/* ---- agents ------------------------------------------------------------ */

struct master_agent *master_agent_add(struct master *m, const char *id,
                                      struct agent_info *info, const char *ip)
{
	struct master_agent *a = xcalloc(1, sizeof(*a));

	a->master = m;
	a->id = id ? xstrdup(id)
	           : xasprintf("%s-S%llu", m->id,
	                       (unsigned long long)m->next_agent++);
	a->node.key = a->id;
	a->info = *info; /* take */
	agent_info_init(info);
	free(a->info.id);
	a->info.id = xstrdup(a->id);
	a->ip = xstrdup(ip ? ip : "127.0.0.1");
	a->pid = xasprintf("slave(1)@%s:%d", a->ip, a->info.port);
	resources_init(&a->used);
	resources_init(&a->offered);
	list_init(&a->tasks);
	list_init(&a->offers);
	a->registered_time = timeutil_wall();
	hmap_insert(&m->agents, &a->node);
	alloc_agent_add(m->alloc, a->id, &a->info.resources);
	alloc_agent_set_active(m->alloc, a->id, false);
	return a;
}

/* Stops the agent's health checks (pings). */
static void master_agent_stop_pings(struct master_agent *a)
{
	loop_timer_drop(&a->ping_timer);
	a->ping_misses = 0;
}

/*
 * Pings travel in band: a PING event on the agent's own stream, answered
 * by a PONG call (master_agent_pong). A stopped or cut-off agent cannot
 * answer, while its TCP stream may look open for a long time. This costs
 * no connection or descriptor per agent (an HTTP ping per agent did: a
 * client each, ~60 KiB and one fd per agent, which ran out of descriptors
 * at 10,000 agents).
 */
static void master_agent_send_ping(struct master_agent *a)
{
	static const char ping[] = "{\"type\":\"PING\"}";
	struct buf ev = BUF_INIT;

	a->ping_answered = false;
	buf_add(&ev, ping, sizeof(ping) - 1);
	(void)master_agent_send(a, &ev);
	buf_release(&ev);
}

void master_agent_pong(struct master_agent *a)
{
	a->ping_answered = true;
}

/*
 * Every --agent-ping-timeout: a ping not answered since the last tick is
 * a miss; --max-agent-ping-timeouts misses in a row make the agent
 * unreachable (Mesos's SlaveObserver). A stopped or partitioned agent
 * keeps its TCP stream open, so only pings can tell.
 */
static void master_agent_ping_tick(uv_timer_t *t)
{
	struct master_agent *a = t->data;
	struct master *m = a->master;

	if (a->ping_answered) {
		a->ping_misses = 0;
	} else {
		a->ping_misses++;
		log_debug(MASTER_COMPONENT, "agent=%s missed ping %ld of %ld",
		          a->id, a->ping_misses,
		          m->cfg.max_agent_ping_timeouts);
	}
	if (a->ping_misses >= m->cfg.max_agent_ping_timeouts) {
		log_warn(MASTER_COMPONENT,
		         "agent=%s did not answer %ld pings in a row "
		         "(--agent-ping-timeout %gs); marking it unreachable",
		         a->id, a->ping_misses, m->cfg.agent_ping_timeout);
		master_agent_stop_pings(a);
		master_agent_mark_unreachable(a);
		return;
	}
	master_agent_send_ping(a);
}

static void master_agent_start_pings(struct master_agent *a)
{
	struct master *m = a->master;
	uint64_t ms = (uint64_t)(m->cfg.agent_ping_timeout * 1000);

	master_agent_stop_pings(a);
	a->ping_timer = xmalloc(sizeof(*a->ping_timer));
	uv_timer_init(m->loop, a->ping_timer);
	a->ping_timer->data = a;
	uv_timer_start(a->ping_timer, master_agent_ping_tick, ms, ms);
	/* The first PING goes with the first tick: now would be before the
	 * SUBSCRIBED event, which an agent must see first. The subscription
	 * itself counts as the first answer. */
	a->ping_answered = true;
}

void master_agent_connected(struct master_agent *a, struct http_stream *stream)
{
	struct master *m = a->master;

	loop_timer_drop(&a->removal_timer);
	loop_timer_drop(&a->unreachable_timer);
	a->stream = stream;
	a->connected = true;
	master_agent_start_pings(a);
	alloc_agent_set_active(m->alloc, a->id, true);
	master_schedule_allocation(m);
}

static void master_agent_removal_cb(uv_timer_t *t)
{
	struct master_agent *a = t->data;
	log_warn(MASTER_COMPONENT,
	         "agent=%s did not come back within %gs; marking it "
	         "unreachable",
	         a->id,
	         a->master->cfg.agent_ping_timeout *
	             (double)a->master->cfg.max_agent_ping_timeouts);
	loop_timer_drop(&a->removal_timer);
	master_agent_mark_unreachable(a);
}

void master_agent_disconnected(struct master_agent *a)
{
	struct master *m = a->master;

	a->stream = NULL;
	a->connected = false;
	if (m->stopping)
		return;
	master_agent_stop_pings(a);
	alloc_agent_set_active(m->alloc, a->id, false);
	master_rescind_list(&a->offers,
	                    offsetof(struct master_offer, agent_link));
	log_info(MASTER_COMPONENT, "agent=%s disconnected", a->id);
	if (a->unreachable_timer)
		return; /* already on its way to unreachable */
	loop_timer_drop(&a->removal_timer);
	a->removal_timer = loop_timer_start(
	    m->loop, a, master_agent_removal_cb,
	    m->cfg.agent_ping_timeout * (double)m->cfg.max_agent_ping_timeouts);
}

/* A task whose agent left: st and reason reported to its framework. */
static void master_task_agent_left(struct master_task *t, enum task_state st,
                                   enum task_reason reason,
                                   const char *agent_id, const char *message)
{
	struct master_framework *fw = t->framework;

	task_status_release(&t->status);
	master_status_make(&t->status, t->id, agent_id, t->executor_id, st,
	                   reason, message);
	t->has_status = true;
	master_send_update(fw, &t->status);
	t->resources_released = true; /* the agent is gone */
	if (task_state_is_terminal(st)) {
		master_task_set_state(t, st);
	} else {
		/* TASK_UNREACHABLE is not terminal: set it directly */
		t->state = st;
	}
	master_op_task_updated(fw->master, t);
}

void master_agent_remove(struct master_agent *a, enum task_reason reason)
{
	struct master *m = a->master;
	bool by_operator = reason == REASON_AGENT_REMOVED_BY_OPERATOR;
	struct list *pos, *tmp;

	master_rescind_list(&a->offers,
	                    offsetof(struct master_offer, agent_link));
	LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
	{
		struct master_task *t =
		    list_entry(pos, struct master_task, agent_link);
		bool aware = master_framework_is_partition_aware(t->framework);
		bool keep =
		    aware && !by_operator && !task_state_is_terminal(t->state);

		if (!task_state_is_terminal(t->state))
			master_task_agent_left(
			    t,
			    !aware        ? TASK_LOST
			    : by_operator ? TASK_GONE_BY_OPERATOR
					  : TASK_UNREACHABLE,
			    reason, a->id,
			    by_operator ? "agent marked gone by the operator"
					: "agent is unreachable");
		t->resources_released = true;
		list_del(&t->agent_link);
		t->agent = NULL;
		if (keep) {
			/* kept for the agent's return */
			list_init(&t->agent_link);
			free(t->unreachable_agent);
			t->unreachable_agent = xstrdup(a->id);
		} else {
			master_task_complete(t);
		}
	}
	if (a->stream)
		master_stream_error(&a->stream,
		                    by_operator ? "agent marked gone"
		                                : "agent marked unreachable; "
		                                  "reregister");
	a->stream = NULL;
	loop_timer_drop(&a->removal_timer);
	loop_timer_drop(&a->unreachable_timer);
	master_agent_stop_pings(a);
	alloc_agent_remove(m->alloc, a->id);
	master_op_agent_removed(m, a->id);
	hmap_remove(&m->agents, &a->node);
	log_info(MASTER_COMPONENT, "agent=%s removed", a->id);
	agent_info_release(&a->info);
	resources_release(&a->used);
	resources_release(&a->offered);
	free(a->pid);
	free(a->ip);
	free(a->version);
	free(a->id);
	free(a);
}

/* ---- registry: unreachable, gone, recovery ------------------------------- */

void master_registry_note(struct master *m, const char *what,
                          const struct err *e)
{
	if (!e) {
		if (m->registry_failing)
			log_info(MASTER_COMPONENT,
			         "registry writes succeed again");
		m->registry_failing = false;
		return;
	}
	if (m->registry_failing)
		return;
	m->registry_failing = true;
	log_error(MASTER_COMPONENT,
	          "cannot %s: registry write failed: %s (the change is not "
	          "made until it is stored; retried)",
	          what, e->msg);
}

/*
 * Reserves the next slot of --agent-removal-rate-limit: returns the delay
 * in seconds before the caller may mark one agent unreachable (0 = now).
 */
static double master_removal_slot(struct master *m)
{
	uint64_t now = master_now_ms(m);
	uint64_t step = (uint64_t)(m->removal_interval * 1000);
	uint64_t at;

	if (step == 0)
		return 0;
	at = m->removal_next_ms > now ? m->removal_next_ms : now;
	m->removal_next_ms = at + step;
	return (double)(at - now) / 1000.0;
}

static void master_agent_unreachable_now(struct master_agent *a);

static void master_agent_unreachable_cb(uv_timer_t *t)
{
	struct master_agent *a = t->data;

	loop_timer_drop(&a->unreachable_timer);
	master_agent_unreachable_now(a);
}

/* Persists, then removes (the agent's turn of the rate limit has come). */
static void master_agent_unreachable_now(struct master_agent *a)
{
	struct master *m = a->master;
	struct err e = {{0}};

	if (registry_mark_unreachable(m->registry, a->id, timeutil_wall(),
	                              &e)) {
		master_registry_note(m, "mark an agent unreachable", &e);
		a->unreachable_timer =
		    loop_timer_start(m->loop, a, master_agent_unreachable_cb,
		                     m->cfg.agent_ping_timeout);
		return;
	}
	master_registry_note(m, NULL, NULL);
	log_warn(MASTER_COMPONENT, "agent=%s marked unreachable", a->id);
	master_agent_remove(a, REASON_AGENT_REMOVED);
}

void master_agent_mark_unreachable(struct master_agent *a)
{
	struct master *m = a->master;
	double wait;

	if (a->unreachable_timer)
		return;
	loop_timer_drop(&a->removal_timer);
	master_agent_stop_pings(a);
	alloc_agent_set_active(m->alloc, a->id, false);
	master_rescind_list(&a->offers,
	                    offsetof(struct master_offer, agent_link));
	wait = master_removal_slot(m);
	if (wait > 0) {
		log_info(MASTER_COMPONENT,
		         "agent=%s will be marked unreachable in %.3fs "
		         "(--agent-removal-rate-limit)",
		         a->id, wait);
		a->unreachable_timer = loop_timer_start(
		    m->loop, a, master_agent_unreachable_cb, wait);
		return;
	}
	master_agent_unreachable_now(a);
}

/* Calls fn for every task kept unreachable for agent id. */
static void master_unreachable_tasks(struct master *m, const char *id,
                                     void (*fn)(struct master_task *t))
{
	struct hmap_node *n, *tmp, *tn, *ttmp;
	size_t i, k;

	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
		{
			struct master_task *t =
			    container_of(tn, struct master_task, node);
			if (!t->agent && t->unreachable_agent &&
			    !strcmp(t->unreachable_agent, id))
				fn(t);
		}
	}
}

static void master_task_gone_by_operator(struct master_task *t)
{
	master_task_agent_left(
	    t, TASK_GONE_BY_OPERATOR, REASON_AGENT_REMOVED_BY_OPERATOR,
	    t->unreachable_agent, "agent marked gone by the operator");
	master_task_complete(t);
}

static void master_task_gone(struct master_task *t)
{
	master_task_agent_left(t, TASK_GONE, REASON_AGENT_REMOVED,
	                       t->unreachable_agent,
	                       "task not reported by its agent when it came "
	                       "back, or the agent was forgotten");
	master_task_complete(t);
}

void master_agent_drop_unreturned(struct master_agent *a)
{
	master_unreachable_tasks(a->master, a->id, master_task_gone);
}

int master_agent_mark_gone(struct master *m, const char *id, struct err *e)
{
	struct master_agent *a = master_agent_find(m, id);
	enum registry_state st = registry_state_of(m->registry, id);
	int rc;

	if (st == REGISTRY_GONE)
		return 0;
	if (!a && st == REGISTRY_UNKNOWN) {
		err_set(e, "Agent '%s' not found", id);
		return -ENOENT;
	}
	if ((rc = registry_mark_gone(m->registry, id, timeutil_wall(), e))) {
		master_registry_note(m, "mark an agent gone", e);
		return rc;
	}
	master_registry_note(m, NULL, NULL);
	if (a)
		master_agent_remove(a, REASON_AGENT_REMOVED_BY_OPERATOR);
	master_unreachable_tasks(m, id, master_task_gone_by_operator);
	return 0;
}

bool master_agent_is_gone(struct master *m, const char *id)
{
	return id && registry_state_of(m->registry, id) == REGISTRY_GONE;
}

bool master_agent_is_unreachable(struct master *m, const char *id)
{
	return id && registry_state_of(m->registry, id) == REGISTRY_UNREACHABLE;
}

bool master_agent_is_recovered(struct master *m, const char *id)
{
	return id && registry_state_of(m->registry, id) == REGISTRY_ADMITTED &&
	       !master_agent_find(m, id);
}

/*
 * After --agent-reregister-timeout: agents of the registry still away are
 * marked unreachable, one per slot of the rate limit. They had no tasks
 * in this master's memory, so there is nothing to report; frameworks
 * learn it by reconciling.
 */
static void master_unreturned_step(uv_timer_t *t)
{
	struct master *m = t->data;
	struct err e = {{0}};
	double wait;

	loop_timer_drop(&m->unreturned_timer);
	while (m->unreturned_pos < m->nunreturned) {
		const char *id = m->unreturned[m->unreturned_pos];
		if (!master_agent_is_recovered(m, id)) {
			m->unreturned_pos++; /* came back, or gone */
			continue;
		}
		if (registry_mark_unreachable(m->registry, id, timeutil_wall(),
		                              &e)) {
			master_registry_note(m, "mark an agent unreachable",
			                     &e);
			m->unreturned_timer =
			    loop_timer_start(m->loop, m, master_unreturned_step,
			                     m->cfg.agent_ping_timeout);
			return;
		}
		master_registry_note(m, NULL, NULL);
		log_warn(MASTER_COMPONENT,
		         "agent=%s did not reregister within "
		         "--agent-reregister-timeout (%gs); marked unreachable",
		         id, m->cfg.agent_reregister_timeout);
		m->unreturned_pos++;
		if (m->unreturned_pos < m->nunreturned &&
		    (wait = master_removal_slot(m)) > 0) {
			m->unreturned_timer = loop_timer_start(
			    m->loop, m, master_unreturned_step, wait);
			return;
		}
	}
	m->recovering = false;
}

static void master_collect_recovered(const struct registry_agent *ra, void *arg)
{
	struct master *m = arg;
	size_t alloc = m->nunreturned;

	if (!master_agent_is_recovered(m, ra->id))
		return;
	ALLOC_GROW(m->unreturned, m->nunreturned + 1, alloc);
	m->unreturned[m->nunreturned++] = xstrdup(ra->id);
}

static void master_reregister_timeout_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	double wait;

	loop_timer_drop(&m->reregister_timer);
	registry_foreach(m->registry, master_collect_recovered, m);
	if (!m->nunreturned) {
		m->recovering = false;
		log_info(MASTER_COMPONENT,
		         "every agent of the registry reregistered");
		return;
	}
	wait = master_removal_slot(m);
	m->unreturned_timer =
	    loop_timer_start(m->loop, m, master_unreturned_step, wait);
}

static void master_forgotten(const struct registry_agent *ra, void *arg)
{
	struct master *m = arg;

	log_info(MASTER_COMPONENT,
	         "agent=%s %s since %.0f forgotten by the registry "
	         "(--registry-max-agent-age/count)",
	         ra->id, registry_state_name(ra->state), ra->time);
	if (ra->state == REGISTRY_UNREACHABLE)
		master_unreachable_tasks(m, ra->id, master_task_gone);
}

static void master_registry_gc(struct master *m)
{
	struct err e = {{0}};
	int n = registry_prune(
	    m->registry, timeutil_wall(), m->cfg.registry_max_agent_age,
	    (size_t)m->cfg.registry_max_agent_count, master_forgotten, m, &e);

	if (n < 0)
		master_registry_note(m, "garbage-collect the registry", &e);
}

static void master_registry_gc_cb(uv_timer_t *t)
{
	master_registry_gc(t->data);
}

/*
 * Opens the registry (--registry, --work-dir) and starts the recovery
 * window when it names admitted agents. Errors name the flag or the file;
 * the master must then exit.
 */
static int master_registry_start(struct master *m, struct err *e)
{
	char *path = NULL;
	size_t admitted;
	int rc;

	if (m->cfg.agent_removal_rate_limit &&
	    (rc = registry_parse_rate(m->cfg.agent_removal_rate_limit,
	                              &m->removal_interval, e)))
		return err_prefix(e, "--agent-removal-rate-limit");
	if (!strcmp(m->cfg.registry, "sqlite") && m->cfg.zk) {
		struct zk_url url;
		if ((rc = zk_url_parse(m->cfg.zk, &url, e)))
			return err_prefix(e, "--zk");
		path = xasprintf("zk://%s%s/registry", url.hosts, url.path);
		zk_url_release(&url);
	} else if (!strcmp(m->cfg.registry, "sqlite")) {
		if (!m->cfg.work_dir) {
			log_warn(MASTER_COMPONENT,
			         "no --work-dir: the registry is kept in "
			         "memory (as --registry=in_memory); a "
			         "restarted master will not know its agents");
		} else {
			if (mkdir(m->cfg.work_dir, 0700) && errno != EEXIST)
				return err_set(e,
				               "--work-dir: cannot create "
				               "'%s': %s",
				               m->cfg.work_dir,
				               strerror(errno));
			path = xasprintf("%s/registry.db", m->cfg.work_dir);
		}
	} else if (strcmp(m->cfg.registry, "in_memory")) {
		return err_set(e,
		               "--registry: expected sqlite or in_memory, "
		               "got '%s'",
		               m->cfg.registry);
	}
	rc = registry_open(path, &m->registry, e);
	free(path);
	if (rc)
		return rc;
	master_registry_gc(m);
	admitted = registry_count(m->registry, REGISTRY_ADMITTED);
	log_info(MASTER_COMPONENT,
	         "registry=%s admitted=%zu unreachable=%zu gone=%zu "
	         "registry loaded",
	         registry_path(m->registry) ? registry_path(m->registry)
	                                    : "in_memory",
	         admitted, registry_count(m->registry, REGISTRY_UNREACHABLE),
	         registry_count(m->registry, REGISTRY_GONE));
	if (admitted) {
		m->recovering = true;
		m->reregister_timer =
		    loop_timer_start(m->loop, m, master_reregister_timeout_cb,
		                     m->cfg.agent_reregister_timeout);
		log_info(MASTER_COMPONENT,
		         "waiting %gs for %zu agents to reregister",
		         m->cfg.agent_reregister_timeout, admitted);
	}
	m->registry_gc_timer = xmalloc(sizeof(*m->registry_gc_timer));
	uv_timer_init(m->loop, m->registry_gc_timer);
	m->registry_gc_timer->data = m;
	uv_timer_start(m->registry_gc_timer, master_registry_gc_cb,
	               MASTER_REGISTRY_GC_MS, MASTER_REGISTRY_GC_MS);
	return 0;
}

/* ---- HTTP routing and life ---------------------------------------------- */

/* The APIs only the leader serves: a standby redirects them. */
static bool master_path_is_api(const char *path)
{
	return !strcmp(path, "/api/v1/scheduler") ||
	       !strcmp(path, "/api/v1/agent") || !strcmp(path, "/api/v1");
}

static void master_http_handler(struct http_request *req, void *arg)
{
	struct master *m = arg;

	master_check_fresh(m);
	if (!m->elected && master_path_is_api(req->path))
		master_respond_not_leader(m, req);
	else if (!strcmp(req->path, "/api/v1/scheduler"))
		master_sched_api(m, req);
	else if (!strcmp(req->path, "/api/v1/agent"))
		master_agent_api(m, req);
	else if (!strcmp(req->path, "/api/v1"))
		master_operator_api(m, req);
	else
		master_endpoints(m, req);
}

static void master_stop_cb(uv_signal_t *s, int signum)
{
	struct master *m = s->data;
	log_info(MASTER_COMPONENT, "signal %d: stopping", signum);
	m->stopping = true;
	uv_stop(m->loop);
}

static int master_start(struct master *m, struct err *e)
{
	struct http_server_opts hopts = {
	    .ip = m->cfg.ip,
	    .port = (int)m->cfg.port,
	    .max_body_bytes = m->cfg.max_body_bytes,
	    .idle_timeout_ms = (uint64_t)(m->cfg.idle_timeout * 1000),
	    .max_connections = (size_t)m->cfg.max_connections,
	    .stream_queue_bytes = m->cfg.max_stream_queue_bytes,
	};
	int rc;

	m->http = http_server_new(m->loop, &hopts, master_http_handler, m);
	if ((rc = http_server_listen(m->http, e)))
		return rc;
	m->port = http_server_port(m->http);
	m->address = xasprintf("%s:%d", m->cfg.ip, m->port);
	m->pid = xasprintf("master@%s", m->address);
	if (m->cfg.port_file &&
	    (rc = http_server_write_port_file(m->http, m->cfg.port_file, e)))
		return rc;
	uint64_t ai = (uint64_t)(m->cfg.allocation_interval * 1000);
	uv_timer_start(&m->alloc_timer, master_alloc_timer_cb, ai, ai);
	uint64_t hb = (uint64_t)(m->cfg.heartbeat_interval * 1000);
	uv_timer_start(&m->heartbeat_timer, master_heartbeat_cb, hb, hb);
	log_info(MASTER_COMPONENT, "master=%s listening on %s", m->id,
	         m->address);
	return 0;
}

/* ---- high availability --------------------------------------------------- */

const struct leader_info *master_leader(const struct master *m)
{
	return m->detector ? leader_detector_leader(m->detector) : NULL;
}

static void master_on_leader(struct leader_detector *d,
                             const struct leader_info *leader, void *arg)
{
	struct master *m = arg;

	(void)d;
	if (!leader)
		log_warn(MASTER_COMPONENT, "no leading master in '%s'",
		         m->cfg.zk);
	else
		log_info(MASTER_COMPONENT,
		         "leader=%s id=%s sequence=%lld leading master%s",
		         leader->endpoint, leader->id,
		         (long long)leader->sequence,
		         streq(leader->id, m->id) ? " (this one)" : "");
}

static int master_contend(struct master *m, struct err *e);
static void master_recontend_cb(uv_timer_t *t);

#define MASTER_BEAT_MS 50

/*
 * Exits at once when the leader's loop has not run for a third of the
 * ZooKeeper session timeout: the process was frozen (SIGSTOP, a VM pause)
 * or starved, its session may have expired and another master may lead.
 * The session-expired notice would come, but only after the callbacks
 * already queued (agent updates, launches) had run as if still leading:
 * the fault tests saw a thawed leader forward updates and accept launches
 * after its successor was elected. Called before serving any request and
 * on every pulse.
 */
static void master_check_fresh(struct master *m)
{
	uint64_t now = uv_hrtime();
	uint64_t limit = (uint64_t)(m->cfg.zk_session_timeout * 1e9 / 3);

	if (!m->elected || !m->beat_timer || now - m->beat_ns <= limit)
		return;
	log_error(MASTER_COMPONENT,
	          "lost leadership: this leader did not run for %.2f s (more "
	          "than a third of the %g s ZooKeeper session) and another "
	          "master may lead by now; exiting at once",
	          (double)(now - m->beat_ns) / 1e9, m->cfg.zk_session_timeout);
	fflush(stdout);
	fflush(stderr);
	_exit(EXIT_FAILURE);
}

static void master_beat_cb(uv_timer_t *t)
{
	struct master *m = t->data;

	master_check_fresh(m);
	m->beat_ns = uv_hrtime();
}

static void master_on_election(struct leader_contender *c, enum leader_event ev,
                               const char *why, void *arg)
{
	struct master *m = arg;
	struct err e = {{0}};

	(void)c;
	if (ev == LEADER_LOST && m->elected) {
		/* Mesos's "commit suicide": another master may lead by now,
		 * so not one more request is served; a supervisor restarts
		 * this one as a standby. */
		log_error(MASTER_COMPONENT,
		          "lost leadership: %s; exiting at once (another "
		          "master may be elected)",
		          why ? why : "candidacy ended");
		fflush(stdout);
		fflush(stderr);
		_exit(EXIT_FAILURE);
	}
	if (ev == LEADER_LOST) {
		log_warn(MASTER_COMPONENT,
		         "candidacy ended as a standby: %s; contending again "
		         "in %gs",
		         why ? why : "unknown", MASTER_RECONTEND_SECS);
		/* The contender is freed from the timer, outside its own
		 * callback chain. */
		if (!m->recontend_timer)
			m->recontend_timer =
			    loop_timer_start(m->loop, m, master_recontend_cb,
			                     MASTER_RECONTEND_SECS);
		return;
	}
	if (m->elected)
		return;
	log_info(MASTER_COMPONENT, "master=%s znode=%s elected leader", m->id,
	         leader_contender_znode(m->contender)
	             ? leader_contender_znode(m->contender)
	             : "?");
	if (master_registry_start(m, &e)) {
		/* Holding the leadership without a registry would lose
		 * agents: give it up (the znode goes with the session). */
		log_error(MASTER_COMPONENT,
		          "cannot lead: %s; exiting so that another master "
		          "leads",
		          e.msg);
		m->exit_code = 1;
		m->stopping = true;
		uv_stop(m->loop);
		return;
	}
	m->elected = true;
	m->elected_time = timeutil_wall();
	m->beat_ns = uv_hrtime();
	m->beat_timer = xmalloc(sizeof(*m->beat_timer));
	uv_timer_init(m->loop, m->beat_timer);
	m->beat_timer->data = m;
	uv_timer_start(m->beat_timer, master_beat_cb, MASTER_BEAT_MS,
	               MASTER_BEAT_MS);
}

/* Joins the election with this master's MasterInfo (after listening:
 * the port is in it). */
static int master_contend(struct master *m, struct err *e)
{
	struct leader_contender_opts copts = {0};
	struct buf info = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &info);
	master_write_master_info(m, &w);
	buf_add(&info, "", 1); /* NUL-terminate */
	copts.zk = m->cfg.zk;
	copts.master_info = info.data;
	copts.session_timeout = m->cfg.zk_session_timeout;
	m->contender =
	    leader_contender_new(m->loop, &copts, master_on_election, m, e);
	buf_release(&info);
	return m->contender ? 0 : -EINVAL;
}

static void master_recontend_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	struct err e = {{0}};

	loop_timer_drop(&m->recontend_timer);
	loop_timer_drop(&m->beat_timer);
	leader_contender_free(m->contender);
	m->contender = NULL;
	if (master_contend(m, &e)) {
		log_error(MASTER_COMPONENT, "cannot contend again: %s", e.msg);
		m->exit_code = 1;
		m->stopping = true;
		uv_stop(m->loop);
	}
}

/*
 * Checks the HA flags once at start-up (--zk parses, --quorum given with
 * it). Errors name the flag; the master exits 2.
 */
static int master_ha_check(struct master *m, struct err *e)
{
	struct zk_url url;
	int rc;

	if (!m->cfg.zk) {
		if (m->cfg.quorum)
			log_warn(MASTER_COMPONENT,
			         "--quorum=%ld is ignored without --zk",
			         m->cfg.quorum);
		return 0;
	}
	if ((rc = zk_url_parse(m->cfg.zk, &url, e)))
		return err_prefix(e, "--zk");
	zk_url_release(&url);
	if (m->cfg.quorum < 1)
		return err_set(e, "--quorum: required with --zk (the size "
		                  "of a majority of the masters, >= 1)");
	/* Checked again when elected; a bad value must stop the master
	 * now, not once it leads. */
	if (strcmp(m->cfg.registry, "sqlite") &&
	    strcmp(m->cfg.registry, "in_memory"))
		return err_set(e,
		               "--registry: expected sqlite or in_memory, "
		               "got '%s'",
		               m->cfg.registry);
	if (m->cfg.agent_removal_rate_limit &&
	    (rc = registry_parse_rate(m->cfg.agent_removal_rate_limit,
	                              &m->removal_interval, e)))
		return err_prefix(e, "--agent-removal-rate-limit");
	return 0;
}

/*
 * Without --zk: elected from the start (the registry is loaded before
 * listening). With it: a standby that watches the leader and contends;
 * the registry is loaded once elected.
 */
static int master_ha_start(struct master *m, struct err *e)
{
	int rc;

	if (!m->cfg.zk) {
		m->elected = true;
		m->elected_time = m->start_time;
		return 0;
	}
	m->detector =
	    leader_detector_new(m->loop, m->cfg.zk, m->cfg.zk_session_timeout,
	                        master_on_leader, m, e);
	if (!m->detector)
		return err_prefix(e, "--zk");
	if ((rc = master_contend(m, e)))
		return err_prefix(e, "--zk");
	log_info(MASTER_COMPONENT,
	         "zk=%s quorum=%ld session_timeout=%gs standby: contending "
	         "for leadership (the registry lives in ZooKeeper; --quorum "
	         "is not used by it)",
	         m->cfg.zk, m->cfg.quorum, m->cfg.zk_session_timeout);
	return 0;
}

static struct master *master_new(uv_loop_t *loop)
{
	struct master *m = xcalloc(1, sizeof(*m));
	m->loop = loop;
	ids_uuid_str(m->id);
	m->start_time = timeutil_wall();
	hmap_init(&m->frameworks);
	hmap_init(&m->agents);
	hmap_init(&m->offers);
	list_init(&m->completed_frameworks);
	m->alloc = alloc_new(NULL);
	uv_timer_init(loop, &m->alloc_timer);
	m->alloc_timer.data = m;
	uv_timer_init(loop, &m->alloc_soon);
	m->alloc_soon.data = m;
	uv_timer_init(loop, &m->heartbeat_timer);
	m->heartbeat_timer.data = m;
	return m;
}

/* Frees everything; runs the loop until every handle is closed. */
static void master_free(struct master *m)
{
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	m->stopping = true;
	/* Withdraw from the election first, so that a standby takes over
	 * without waiting for a session to expire. */
	loop_timer_drop(&m->recontend_timer);
	loop_timer_drop(&m->beat_timer);
	leader_contender_free(m->contender);
	m->contender = NULL;
	leader_detector_free(m->detector);
	m->detector = NULL;
	/* Close the HTTP side first: stream close callbacks still find the
	 * state they refer to, and see m->stopping. */
	master_op_close_all(m);
	if (m->http)
		http_server_close(m->http);
	m->http = NULL;
	uv_run(m->loop, UV_RUN_NOWAIT);
	HMAP_FOR_EACH_SAFE(&m->offers, i, n, tmp)
	{
		master_offer_remove(container_of(n, struct master_offer, node),
		                    false, 0);
	}
	HMAP_FOR_EACH_SAFE(&m->agents, i, n, tmp)
	{
		struct master_agent *a =
		    container_of(n, struct master_agent, node);
		LIST_FOR_EACH_SAFE(pos, ltmp, &a->tasks)
		{
			struct master_task *t =
			    list_entry(pos, struct master_task, agent_link);
			list_del(&t->agent_link);
			t->agent = NULL;
		}
		loop_timer_drop(&a->removal_timer);
		loop_timer_drop(&a->unreachable_timer);
		master_agent_stop_pings(a);
		hmap_remove(&m->agents, &a->node);
		agent_info_release(&a->info);
		resources_release(&a->used);
		resources_release(&a->offered);
		free(a->pid);
		free(a->ip);
		free(a->version);
		free(a->id);
		free(a);
	}
	HMAP_FOR_EACH_SAFE(&m->frameworks, i, n, tmp)
	{
		struct master_framework *fw =
		    container_of(n, struct master_framework, node);
		hmap_remove(&m->frameworks, &fw->node);
		master_framework_free(fw);
	}
	LIST_FOR_EACH_SAFE(pos, ltmp, &m->completed_frameworks)
	{
		master_framework_free(
		    list_entry(pos, struct master_framework, completed_link));
	}
	loop_timer_drop(&m->reregister_timer);
	loop_timer_drop(&m->unreturned_timer);
	loop_timer_drop(&m->registry_gc_timer);
	for (i = 0; i < m->nunreturned; i++)
		free(m->unreturned[i]);
	free(m->unreturned);
	uv_close((uv_handle_t *)&m->alloc_timer, NULL);
	uv_close((uv_handle_t *)&m->alloc_soon, NULL);
	uv_close((uv_handle_t *)&m->heartbeat_timer, NULL);
	uv_run(m->loop, UV_RUN_DEFAULT);
	hmap_release(&m->frameworks);
	hmap_release(&m->agents);
	hmap_release(&m->offers);
	alloc_free(m->alloc);
	registry_free(m->registry);
	flags_release(master_flags, ARRAY_SIZE(master_flags), &m->cfg);
	free(m->address);
	free(m->pid);
	free(m);
}

int master_main(int argc, char **argv)
{
	uv_loop_t loop;
	struct master *m;
	struct err e = {{0}};
	enum log_level lvl;
	char host[256];
	int rc;

	uv_loop_init(&loop);
	m = master_new(&loop);
	rc = flags_parse(master_flags, ARRAY_SIZE(master_flags), &m->cfg, argc,
	                 argv, NULL, &e);
	if (rc == 1) {
		flags_usage(stdout, "atoll master",
		            "Runs a master: holds the cluster state, offers "
		            "agents' resources to frameworks (weighted DRF), "
		            "serves the Mesos v1 scheduler API.",
		            master_flags, ARRAY_SIZE(master_flags));
		rc = 0;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "atoll master: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (log_parse_level(m->cfg.log_level, &lvl)) {
		fprintf(stderr,
		        "atoll master: --log-level: expected error, warn, "
		        "info or debug, got '%s'\n",
		        m->cfg.log_level);
		rc = 2;
		goto out;
	}
	log_set_level(lvl);
	if (!m->cfg.hostname) {
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		m->cfg.hostname = xstrdup(host);
	}
	if ((rc = master_ha_check(m, &e))) {
		fprintf(stderr, "atoll master: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (!m->cfg.zk && (rc = master_registry_start(m, &e))) {
		fprintf(stderr, "atoll master: %s\n", e.msg);
		log_error(MASTER_COMPONENT, "cannot start: %s", e.msg);
		rc = 1;
		goto out;
	}
	if ((rc = master_start(m, &e))) {
		fprintf(stderr, "atoll master: %s\n", e.msg);
		rc = 1;
		goto out;
	}
	if ((rc = master_ha_start(m, &e))) {
		fprintf(stderr, "atoll master: %s\n", e.msg);
		log_error(MASTER_COMPONENT, "cannot start: %s", e.msg);
		rc = 1;
		goto out;
	}
	uv_signal_init(&loop, &m->sigint);
	m->sigint.data = m;
	uv_signal_start(&m->sigint, master_stop_cb, SIGINT);
	uv_signal_init(&loop, &m->sigterm);
	m->sigterm.data = m;
	uv_signal_start(&m->sigterm, master_stop_cb, SIGTERM);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	rc = m->exit_code;
out:
	master_free(m);
	uv_loop_close(&loop);
	return rc;
}
