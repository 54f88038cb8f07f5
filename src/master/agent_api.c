/*
 * agent_api.c: POST /api/v1/agent, the master's side of Atoll's agent
 * protocol (docs/protocol.md): agents subscribe (register or reregister)
 * and receive RUN_TASK / KILL_TASK / ACKNOWLEDGE / SHUTDOWN_* events; they
 * call UPDATE (status updates, forwarded to frameworks), MESSAGE and
 * EXECUTOR_EXITED.
 *
 * Reregistration is how the master rebuilds its view after it or the
 * agent restarted: tasks the agent reports are adopted (their frameworks
 * are created as "recovered" until the scheduler resubscribes), tasks the
 * master expected but the agent does not report are gone and answered as
 * TASK_LOST (TASK_DROPPED for partition-aware frameworks).
 *
 * Reservations and volumes: agent_info.resources is the agent's total
 * with its checkpointed operations applied. A master that does not know
 * the agent (it restarted) takes that total as it is; a master that knows
 * it keeps its own and, when they differ, sends CHECKPOINT_RESOURCES
 * right after SUBSCRIBED so that the agent catches up with operations
 * made while it was away.
 *
 * Registry (persist, then reply): a new agent, an agent the registry does
 * not know, and an unreachable agent coming back are admitted in the
 * registry before the SUBSCRIBED event goes out; a failed write answers
 * 503 with the reason and the agent retries. An id marked gone is refused
 * with 403 (the agent must shut down). When an unreachable agent returns,
 * the tasks of partition-aware frameworks are reported again with their
 * latest state (REASON_AGENT_REREGISTERED), those of other frameworks
 * (told TASK_LOST) are killed.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/v1call.h"
#include "lib/timeutil.h"
#include "master/registry.h"

#define AGENTAPI "master"

struct agent_stream_ctx {
	struct master *m;
	char *agent_id;
	char stream_id[IDS_UUID_STRLEN];
};

static void agent_stream_closed(struct http_stream *s, void *arg)
{
	struct agent_stream_ctx *ctx = arg;
	struct master_agent *a = master_agent_find(ctx->m, ctx->agent_id);

	(void)s;
	if (a && !strcmp(a->stream_id, ctx->stream_id)) {
		a->stream_id[0] = '\0';
		master_agent_disconnected(a);
	}
	free(ctx->agent_id);
	free(ctx);
}

/* The framework a reregistering agent reports, created if unknown. */
static struct master_framework *
agent_adopt_framework(struct master *m, json_t *frameworks, const char *fid)
{
	struct master_framework *fw = master_framework_find(m, fid);
	struct framework_info fi;
	struct err e = {{0}};
	size_t i;
	json_t *v;

	if (fw)
		return fw;
	json_array_foreach(frameworks, i, v)
	{
		const char *id = mesos_json_id(v, "id");
		if (!id || strcmp(id, fid))
			continue;
		framework_info_init(&fi);
		if (framework_info_from_json(&fi, v, &e) == 0) {
			fw = master_framework_add(m, &fi, fid);
			fw->recovered = true;
			fw->unregistered_time = timeutil_wall();
			master_op_framework_added(m, fw);
		} else {
			log_warn(AGENTAPI,
			         "framework=%s reported with an "
			         "invalid framework_info: %s",
			         fid, e.msg);
		}
		framework_info_release(&fi);
		return fw;
	}
	return NULL;
}

/* Sends the latest state of a task whose agent came back from being
 * unreachable (no uuid: a master report, not to be acknowledged). */
static void agent_report_returned(struct master_task *t)
{
	struct task_status up;

	log_info(AGENTAPI, "agent=%s task=%s back from unreachable as %s",
	         t->agent->id, t->id, task_state_name(t->state));
	task_status_init(&up);
	task_status_copy(&up, &t->status);
	up.has_uuid = false;
	up.state = t->state;
	up.reason = REASON_AGENT_REREGISTERED;
	up.source = SOURCE_MASTER;
	up.timestamp = timeutil_wall();
	master_send_update(t->framework, &up);
	task_status_release(&up);
}

/*
 * A partition-aware framework's task kept TASK_UNREACHABLE while its
 * agent was away, reported again by that agent: reattached, its resources
 * counted again, and its latest state sent to the framework.
 */
static void agent_task_returned(struct master *m, struct master_agent *a,
                                struct master_task *t, json_t *tj,
                                enum task_state st)
{
	struct task_status reported;
	struct err e = {{0}};
	json_t *sj = json_object_get(tj, "status");
	const char *pending;

	t->agent = a;
	list_add_tail(&a->tasks, &t->agent_link);
	free(t->unreachable_agent);
	t->unreachable_agent = NULL;
	task_status_init(&reported);
	if (json_is_object(sj) &&
	    task_status_from_json(&reported, sj, &e) == 0) {
		task_status_release(&t->status);
		t->status = reported;
	} else {
		task_status_release(&reported);
		task_status_release(&t->status);
		master_status_make(&t->status, t->id, a->id, t->executor_id, st,
		                   REASON_AGENT_REREGISTERED, NULL);
	}
	t->has_status = true;
	t->state = st;
	pending = json_string_value(json_object_get(tj, "status_update_state"));
	if (task_state_is_terminal(st)) {
		t->resources_released = true;
	} else {
		t->resources_released = false;
		resources_add(&a->used, &t->resources);
		if (alloc_used_add(m->alloc, a->id, t->framework->id,
		                   &t->resources))
			log_warn(AGENTAPI,
			         "agent=%s task=%s resources exceed the "
			         "agent's; accounting may be off",
			         a->id, t->id);
	}
	/* With updates still on their way from the agent (the framework has
	 * not acknowledged them), the agent's own stream tells the framework,
	 * in order; a state from the master now would overtake them. */
	if (!pending)
		agent_report_returned(t);
	else
		log_info(AGENTAPI,
		         "agent=%s task=%s back from unreachable; its updates "
		         "from %s on follow from the agent",
		         a->id, t->id, pending);
	master_op_task_updated(m, t);
}

/* Adopts one task reported by a (re)registering agent. */
static void agent_adopt_task(struct master *m, struct master_agent *a,
                             json_t *frameworks, json_t *tj, size_t idx,
                             bool was_unreachable)
{
	const char *fid = mesos_json_id(tj, "framework_id");
	const char *tid = mesos_json_id(tj, "task_id");
	const char *state = json_string_value(json_object_get(tj, "state"));
	struct master_framework *fw;
	struct master_task *t;
	struct task_info ti;
	struct err e = {{0}};
	enum task_state st = TASK_STAGING;

	if (!fid || !tid || (state && task_state_parse(state, &st))) {
		log_warn(AGENTAPI,
		         "agent=%s tasks[%zu]: missing framework_id "
		         "or task_id, or bad state; ignored",
		         a->id, idx);
		return;
	}
	fw = agent_adopt_framework(m, frameworks, fid);
	if (!fw) {
		log_warn(AGENTAPI,
		         "agent=%s task=%s of unknown framework %s "
		         "without framework_info; ignored",
		         a->id, tid, fid);
		return;
	}
	t = master_task_find(fw, tid);
	if (t && !t->agent && t->unreachable_agent &&
	    !strcmp(t->unreachable_agent, a->id)) {
		agent_task_returned(m, a, t, tj, st);
		return;
	}
	if (t) {
		if (t->agent != a) {
			log_warn(AGENTAPI,
			         "task=%s reported by agent %s but "
			         "known on another agent",
			         tid, a->id);
			return;
		}
		t->state = st; /* the agent knows best */
		return;
	}
	task_info_init(&ti);
	ti.task_id = xstrdup(tid);
	ti.name = xstrdup(json_string_value(json_object_get(tj, "name"))
	                      ? json_string_value(json_object_get(tj, "name"))
	                      : tid);
	ti.agent_id = xstrdup(a->id);
	const char *eid = mesos_json_id(tj, "executor_id");
	ti.executor_id = eid ? xstrdup(eid) : NULL;
	json_t *res = json_object_get(tj, "resources");
	if (res && resources_from_json(&ti.resources, res, &e)) {
		log_warn(AGENTAPI,
		         "agent=%s task=%s bad resources (%s); "
		         "ignored",
		         a->id, tid, e.msg);
		task_info_release(&ti);
		return;
	}
	ti.json = json_dumps(tj, JSON_COMPACT);
	t = master_task_add(fw, a, &ti);
	t->state = st;
	json_t *sj = json_object_get(tj, "status");
	if (json_is_object(sj) &&
	    task_status_from_json(&t->status, sj, &e) == 0)
		t->has_status = true;
	master_op_task_added(m, t);
	if (task_state_is_terminal(st)) {
		t->resources_released = true;
		resources_subtract(&a->used, &t->resources);
	} else if (alloc_used_add(m->alloc, a->id, fw->id, &t->resources)) {
		log_warn(AGENTAPI,
		         "agent=%s task=%s resources exceed the "
		         "agent's; accounting may be off",
		         a->id, tid);
	}
	task_info_release(&ti);
	if (was_unreachable && master_framework_is_partition_aware(fw) &&
	    t->has_status) {
		/* the framework heard TASK_UNREACHABLE (from the master
		 * before a restart, or from reconciliation): tell it the
		 * task is back */
		agent_report_returned(t);
	} else if (was_unreachable && !task_state_is_terminal(st)) {
		/* reported TASK_LOST when the agent became unreachable: a
		 * framework that is not partition-aware has given it up */
		log_info(AGENTAPI,
		         "agent=%s task=%s of framework %s (not partition-"
		         "aware) was reported lost; killing it",
		         a->id, tid, fid);
		(void)master_task_kill(t, NULL);
	}
}

/* Tasks the master expected on a but the agent no longer has. */
static void agent_lost_unreported(struct master_agent *a, json_t *tasks)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &a->tasks)
	{
		struct master_task *t =
		    list_entry(pos, struct master_task, agent_link);
		bool found = false;
		size_t i;
		json_t *v;
		json_array_foreach(tasks, i, v)
		{
			const char *tid = mesos_json_id(v, "task_id");
			const char *fid = mesos_json_id(v, "framework_id");
			if (tid && fid && !strcmp(tid, t->id) &&
			    !strcmp(fid, t->framework->id))
				found = true;
		}
		if (found || task_state_is_terminal(t->state))
			continue;
		enum task_state st =
		    master_framework_is_partition_aware(t->framework)
			? TASK_DROPPED
			: TASK_LOST;
		task_status_release(&t->status);
		master_status_make(&t->status, t->id, a->id, t->executor_id, st,
		                   REASON_AGENT_RESTARTED,
		                   "task not reported by the reregistering "
		                   "agent");
		t->has_status = true;
		master_task_set_state(t, st);
		master_op_task_updated(a->master, t);
		master_send_update(t->framework, &t->status);
		master_task_complete(t);
	}
}

/*
 * Records agent id as admitted in the registry with the AgentInfo it sent
 * (its id set). On a failed write responds 503 with the reason (the agent
 * retries) and returns non-zero.
 */
static int agent_admit(struct master *m, struct http_request *req,
                       const char *id, json_t *aij)
{
	const struct registry_agent *ra = registry_find(m->registry, id);
	json_t *info = json_deep_copy(aij);
	struct err e = {{0}};
	char *text;
	int rc = 0;

	json_object_set_new(info, "id", json_pack("{ss}", "value", id));
	text = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(info);
	if (ra && ra->state == REGISTRY_ADMITTED && ra->info_json &&
	    !strcmp(ra->info_json, text))
		goto out; /* recovered after a master restart, unchanged */
	rc = registry_admit(m->registry, id, text, timeutil_wall(), &e);
	if (rc) {
		master_registry_note(m, "admit an agent", &e);
		http_respond_error(req, 503,
		                   "Agent '%s' cannot be admitted: %s; retry "
		                   "later",
		                   id, e.msg);
		goto out;
	}
	master_registry_note(m, NULL, NULL);
out:
	free(text);
	return rc;
}

static void agent_subscribe(struct master *m, struct http_request *req,
                            json_t *call)
{
	json_t *sub = json_object_get(call, "subscribe");
	json_t *aij, *tasks, *frameworks;
	struct agent_info info;
	struct master_agent *a;
	struct agent_stream_ctx *ctx;
	struct http_stream *stream;
	struct err e = {{0}};
	char ip[64], sid[IDS_UUID_STRLEN];
	char *new_id = NULL;
	bool added = false, was_unreachable, resync = false;
	size_t i;
	json_t *v;

	if (!json_is_object(sub) ||
	    !json_is_object(aij = json_object_get(sub, "agent_info"))) {
		http_respond_error(req, 400,
		                   "Expecting "
		                   "'subscribe.agent_info' to be "
		                   "present");
		return;
	}
	tasks = json_object_get(sub, "tasks");
	frameworks = json_object_get(sub, "frameworks");
	if ((tasks && !json_is_array(tasks)) ||
	    (frameworks && !json_is_array(frameworks))) {
		http_respond_error(req, 400,
		                   "subscribe.tasks and "
		                   "subscribe.frameworks must be "
		                   "arrays");
		return;
	}
	agent_info_init(&info);
	if (agent_info_from_json(&info, aij, &e)) {
		res_err_path(&e, "subscribe.agent_info");
		http_respond_error(req, 400, "%s", e.msg);
		agent_info_release(&info);
		return;
	}
	if (info.id && mesos_id_validate(info.id, "agent_info.id", &e)) {
		http_respond_error(req, 400, "subscribe.%s", e.msg);
		agent_info_release(&info);
		return;
	}
	if (info.id && master_agent_is_gone(m, info.id)) {
		/* Mesos tells such an agent to shut down: it may never
		 * come back under this id */
		log_info(AGENTAPI,
		         "agent=%s marked gone tried to reregister; refused",
		         info.id);
		http_respond_error(req, 403,
		                   "Agent '%s' has been marked gone; shut it "
		                   "down (it may not reregister)",
		                   info.id);
		agent_info_release(&info);
		return;
	}
	snprintf(ip, sizeof(ip), "%s", req->peer);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = '\0';

	a = info.id ? master_agent_find(m, info.id) : NULL;
	was_unreachable = !a && master_agent_is_unreachable(m, info.id);
	if (!a) {
		/* persist, then reply: the admission (or the return of an
		 * unreachable agent) is stored before the agent hears of it */
		new_id = info.id
		             ? xstrdup(info.id)
		             : xasprintf("%s-S%llu", m->id,
		                         (unsigned long long)m->next_agent++);
		if (agent_admit(m, req, new_id, aij)) {
			free(new_id);
			agent_info_release(&info);
			return;
		}
	}
	if (a) {
		if (a->stream)
			master_stream_error(&a->stream,
			                    "agent reregistered on a new "
			                    "connection");
		a->reregistered_time = timeutil_wall();
		log_info(AGENTAPI, "agent=%s reregistered", a->id);
		/* the master's view of its reservations and volumes wins
		 * (operations may have happened while it was away) */
		resync = !resources_equal(&info.resources, &a->info.resources);
		agent_lost_unreported(a, tasks);
		agent_info_release(&info);
	} else {
		a = master_agent_add(m, new_id, &info, ip);
		free(new_id);
		added = true;
		log_info(AGENTAPI, "agent=%s hostname=%s %s", a->id,
		         a->info.hostname,
		         was_unreachable ? "reregistered after being "
		                           "unreachable"
		                         : "registered");
	}
	json_array_foreach(tasks, i, v)
	    agent_adopt_task(m, a, frameworks, v, i, was_unreachable);
	if (was_unreachable)
		master_agent_drop_unreturned(a);
	free(a->version);
	a->version =
	    json_string_value(json_object_get(sub, "version"))
		? xstrdup(json_string_value(json_object_get(sub, "version")))
		: NULL;

	ids_uuid_str(sid);
	memcpy(a->stream_id, sid, sizeof(sid));
	http_request_add_header(req, "Mesos-Stream-Id", sid);
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->m = m;
	ctx->agent_id = xstrdup(a->id);
	memcpy(ctx->stream_id, sid, sizeof(sid));
	stream = http_stream_begin(req, 200, "application/json",
	                           agent_stream_closed, ctx);
	master_agent_connected(a, stream);
	if (added)
		master_op_agent_added(m, a);

	struct buf ev = BUF_INIT;
	struct jsonw w;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "SUBSCRIBED");
	jsonw_key(&w, "subscribed");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "agent_id", a->id);
	jsonw_kdouble(&w, "heartbeat_interval_seconds",
	              m->cfg.heartbeat_interval);
	jsonw_key(&w, "master_info");
	master_write_master_info(m, &w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_agent_send(a, &ev);
	buf_release(&ev);
	if (resync)
		master_agent_send_checkpoint(a);
	master_agent_send_pending_kills(a);
}

static void agent_update(struct master *m, struct http_request *req,
                         struct master_agent *a, json_t *call)
{
	json_t *up = json_object_get(call, "update");
	json_t *sj = up ? json_object_get(up, "status") : NULL;
	const char *fid = up ? mesos_json_id(up, "framework_id") : NULL;
	const char *latest =
	    up ? json_string_value(json_object_get(up, "latest_state")) : NULL;
	struct master_framework *fw;
	struct master_task *t;
	struct task_status st;
	struct err e = {{0}};
	enum task_state latest_state;

	if (!fid || !json_is_object(sj)) {
		m->metrics.invalid_status_updates++;
		http_respond_error(req, 400,
		                   "Expecting 'update.framework_id' and "
		                   "'update.status' to be present");
		return;
	}
	task_status_init(&st);
	if (task_status_from_json(&st, sj, &e)) {
		m->metrics.invalid_status_updates++;
		http_respond_error(req, 400, "update.status: %s", e.msg);
		goto out;
	}
	latest_state = st.state;
	if (latest && task_state_parse(latest, &latest_state)) {
		m->metrics.invalid_status_updates++;
		http_respond_error(req, 400,
		                   "update.latest_state: unknown state '%s'",
		                   latest);
		goto out;
	}
	if (!st.agent_id)
		st.agent_id = xstrdup(a->id);
	http_respond(req, 202, NULL, NULL, 0);
	m->metrics.valid_status_updates++;
	fw = master_framework_find(m, fid);
	if (!fw) {
		if (master_framework_find_completed(m, fid)) {
			struct buf ev = BUF_INIT;
			struct jsonw w;
			jsonw_init(&w, &ev);
			jsonw_obj_begin(&w);
			jsonw_kstr(&w, "type", "SHUTDOWN_FRAMEWORK");
			jsonw_key(&w, "shutdown_framework");
			jsonw_obj_begin(&w);
			jsonw_kid(&w, "framework_id", fid);
			jsonw_obj_end(&w);
			jsonw_obj_end(&w);
			(void)master_agent_send(a, &ev);
			buf_release(&ev);
		}
		log_info(AGENTAPI,
		         "agent=%s update for unknown framework %s "
		         "dropped",
		         a->id, fid);
		goto out;
	}
	t = master_task_find(fw, st.task_id);
	if (t) {
		bool news = !t->has_status || t->status.state != st.state;
		task_status_release(&t->status);
		task_status_copy(&t->status, &st);
		t->has_status = true;
		if (task_state_is_terminal(st.state) && st.has_uuid) {
			t->terminal_uuid_set = true;
			memcpy(t->terminal_uuid, st.uuid, IDS_UUID_LEN);
		}
		enum task_state before = t->state;
		master_task_set_state(t, latest_state);
		if (news || t->state != before)
			master_op_task_updated(m, t);
	}
	log_debug(AGENTAPI, "framework=%s task=%s %s forwarded", fid,
	          st.task_id, task_state_name(st.state));
	master_send_update(fw, &st);
out:
	task_status_release(&st);
}

static void agent_relay(struct master *m, struct http_request *req,
                        struct master_agent *a, json_t *call, bool is_message)
{
	const char *key = is_message ? "message" : "executor_exited";
	json_t *p = json_object_get(call, key);
	const char *fid = p ? mesos_json_id(p, "framework_id") : NULL;
	const char *eid = p ? mesos_json_id(p, "executor_id") : NULL;
	const char *data =
	    p ? json_string_value(json_object_get(p, "data")) : NULL;
	struct master_framework *fw;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!fid || !eid || (is_message && !data)) {
		http_respond_error(req, 400,
		                   "Expecting '%s.framework_id', "
		                   "'%s.executor_id'%s to be present",
		                   key, key, is_message ? " and data" : "");
		return;
	}
	http_respond(req, 202, NULL, NULL, 0);
	fw = master_framework_find(m, fid);
	if (!fw || !fw->stream)
		return;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", is_message ? "MESSAGE" : "FAILURE");
	jsonw_key(&w, is_message ? "message" : "failure");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "agent_id", a->id);
	jsonw_kid(&w, "executor_id", eid);
	if (is_message) {
		jsonw_kstr(&w, "data", data);
	} else {
		json_t *status = json_object_get(p, "status");
		if (json_is_integer(status))
			jsonw_kint(&w, "status", json_integer_value(status));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_framework_send(fw, &ev);
	buf_release(&ev);
}

void master_agent_api(struct master *m, struct http_request *req)
{
	struct master_agent *a;
	const char *type, *aid, *sid;
	json_t *call;

	if (!(call = v1call_parse(req)))
		return;
	type = json_string_value(json_object_get(call, "type"));
	if (!type) {
		http_respond_error(req, 400, "Expecting 'type' to be present");
		goto out;
	}
	if (!strcmp(type, "SUBSCRIBE")) {
		agent_subscribe(m, req, call);
		goto out;
	}
	if (strcmp(type, "UPDATE") && strcmp(type, "MESSAGE") &&
	    strcmp(type, "EXECUTOR_EXITED") && strcmp(type, "PONG")) {
		http_respond_error(req, 501, "Unknown call type '%s'", type);
		goto out;
	}
	aid = mesos_json_id(call, "agent_id");
	if (!aid) {
		http_respond_error(req, 400,
		                   "Expecting 'agent_id' to be present");
		goto out;
	}
	a = master_agent_find(m, aid);
	if (!a || !a->stream) {
		http_respond_error(req, 403, "Agent '%s' is not registered",
		                   aid);
		goto out;
	}
	sid = http_request_header(req, "Mesos-Stream-Id");
	if (!sid || strcmp(sid, a->stream_id)) {
		http_respond_error(req, 400,
		                   "Missing or stale 'Mesos-Stream-Id' for "
		                   "agent %s",
		                   aid);
		goto out;
	}
	if (!strcmp(type, "PONG")) {
		master_agent_pong(a);
		http_respond(req, 202, NULL, NULL, 0);
	} else if (!strcmp(type, "UPDATE"))
		agent_update(m, req, a, call);
	else
		agent_relay(m, req, a, call, !strcmp(type, "MESSAGE"));
out:
	json_decref(call);
}
