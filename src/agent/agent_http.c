/*
 * agent_http.c: the agent's HTTP endpoints.
 *
 *   GET  /health, /slave(1)/health            200, empty body
 *   GET  /version                             build and version JSON
 *   GET  /state, /state.json, /slave(1)/state[.json]   the agent's state in
 *        Mesos's classic shape (resources as {"cpus": 4, "ports": "[..]"})
 *   GET  /flags, /slave(1)/flags              {"flags": {...}}
 *   POST /api/v1/executor                     the Mesos v1 executor API
 *   POST /api/v1, /files/..., /monitor/statistics, /metrics/snapshot:
 *        the operator surface, in agent_operator.c
 *
 * Executor API (calls carry framework_id and executor_id):
 *   SUBSCRIBE  200, RecordIO event stream: SUBSCRIBED first, then the
 *              ACKNOWLEDGED events of the updates it resent, then LAUNCH
 *              for queued tasks and KILL for kills that waited for it
 *   UPDATE     202 after the update is recorded (journaled and fsynced for
 *              checkpointing frameworks); ACKNOWLEDGED{task_id, uuid} goes
 *              out on the executor's stream at the same time
 *   MESSAGE    202; relayed to the master (unreliable, as in Mesos)
 *   HEARTBEAT  202
 * Errors are text/plain: 400 bad call, 403 executor not subscribed yet,
 * 405 not POST, 406 Accept without JSON, 415 not JSON, 503 the update
 * could not be recorded (the executor retries).
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include <strings.h>

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/v1call.h"
#include "lib/recordio.h"
#include "lib/version.h"

/* ---- request helpers ----------------------------------------------------- */

/* ---- executor API -------------------------------------------------------- */

struct exec_stream_ctx {
	struct agent *a;
	char *framework_id;
	char *executor_id;
	uint64_t conn;
};

static void exec_stream_closed(struct http_stream *s, void *arg)
{
	struct exec_stream_ctx *ctx = arg;
	struct agent *a = ctx->a;
	struct agent_executor *ex;

	(void)s;
	if (a->stopping)
		goto out;
	ex = agent_executor_find(agent_framework_find(a, ctx->framework_id),
	                         ctx->executor_id);
	if (!ex || ex->stream_conn != ctx->conn)
		goto out;
	ex->stream = NULL;
	if (ex->state == EXECUTOR_RUNNING) {
		log_warn(AGENT_LOG,
		         "framework=%s executor=%s stream closed; "
		         "waiting %gs for it to resubscribe",
		         ex->fw->id, ex->id,
		         a->cfg.executor_reregistration_timeout);
		agent_executor_arm_registration(
		    ex, a->cfg.executor_reregistration_timeout);
	}
out:
	free(ctx->framework_id);
	free(ctx->executor_id);
	free(ctx);
}

static void send_acknowledged(struct agent_executor *ex, const char *tid,
                              const uint8_t uuid[IDS_UUID_LEN])
{
	char b64[IDS_BASE64_LEN(IDS_UUID_LEN)];
	struct buf ev = BUF_INIT;
	struct jsonw w;

	ids_base64_encode(uuid, IDS_UUID_LEN, b64);
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "ACKNOWLEDGED");
	jsonw_key(&w, "acknowledged");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "task_id", tid);
	jsonw_kstr(&w, "uuid", b64);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)agent_executor_send(ex, &ev);
	buf_release(&ev);
}

/* True when a completed task of fw with this id is remembered. */
static bool completed_has(const struct agent *a, const char *fid,
                          const char *tid)
{
	const struct list *pos;

	for (pos = a->completed.next; pos != &a->completed; pos = pos->next) {
		const struct agent_completed_task *c =
		    list_entry(pos, struct agent_completed_task, link);
		if (!strcmp(c->id, tid) && !strcmp(c->framework_id, fid))
			return true;
	}
	return false;
}

/* A validated executor update, ready to accept. */
struct exec_update {
	struct agent_task *task; /* NULL: a finished task (ack only) */
	char *task_id;
	char *status_json;
	uint8_t uuid[IDS_UUID_LEN];
	enum task_state state;
};

/*
 * Validates the TaskStatus an executor sent (in UPDATE or in SUBSCRIBE's
 * unacknowledged_updates). Returns 0 with u filled, or an HTTP status with
 * msg set.
 */
static int exec_check_update(struct agent_executor *ex, const json_t *sj,
                             struct exec_update *u, struct buf *msg)
{
	struct agent_framework *fw = ex->fw;
	struct task_status st;
	struct err e = {{0}};
	json_t *copy;
	int status = 0;

	memset(u, 0, sizeof(*u));
	task_status_init(&st);
	if (!json_is_object(sj)) {
		buf_adds(msg, "Expecting 'status' to be present");
		status = 400;
		goto out;
	}
	if (task_status_from_json(&st, sj, &e)) {
		buf_addf(msg, "status: %s", e.msg);
		status = 400;
		goto out;
	}
	if (!st.has_uuid) {
		buf_adds(msg, "status.uuid: required (a fresh uuid per "
		              "update)");
		status = 400;
		goto out;
	}
	if (st.source != SOURCE_EXECUTOR) {
		buf_adds(msg, "status.source: must be SOURCE_EXECUTOR");
		status = 400;
		goto out;
	}
	if (st.state == TASK_STAGING) {
		buf_adds(msg, "status.state: executors must not send "
		              "TASK_STAGING");
		status = 400;
		goto out;
	}
	if (st.executor_id && strcmp(st.executor_id, ex->id)) {
		buf_addf(msg,
		         "status.executor_id: '%.255s' is not the "
		         "calling executor '%s'",
		         st.executor_id, ex->id);
		status = 400;
		goto out;
	}
	u->task = agent_task_find(fw, st.task_id);
	if (u->task && u->task->executor != ex) {
		buf_addf(msg, "Task '%.255s' does not belong to executor '%s'",
		         st.task_id, ex->id);
		status = 400;
		goto out;
	}
	if (!u->task && !completed_has(fw->agent, fw->id, st.task_id)) {
		buf_addf(msg, "Task '%.255s' is not known to executor '%s'",
		         st.task_id, ex->id);
		status = 400;
		goto out;
	}
	copy = json_deep_copy(sj);
	if (!st.agent_id && fw->agent->info.id)
		json_object_set_new(
		    copy, "agent_id",
		    json_pack("{s:s}", "value", fw->agent->info.id));
	if (!st.executor_id)
		json_object_set_new(copy, "executor_id",
		                    json_pack("{s:s}", "value", ex->id));
	u->status_json = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (!u->status_json) {
		buf_adds(msg, "status: cannot serialise");
		status = 400;
		goto out;
	}
	u->task_id = xstrdup(st.task_id);
	memcpy(u->uuid, st.uuid, IDS_UUID_LEN);
	u->state = st.state;
out:
	task_status_release(&st);
	return status;
}

static void exec_update_release(struct exec_update *u)
{
	free(u->task_id);
	free(u->status_json);
}

/*
 * Accepts a checked update. Returns 0 when it is safe with the agent (the
 * caller acknowledges it to the executor), else a negative errno.
 */
static int exec_accept_update(struct exec_update *u)
{
	int rc;

	if (!u->task)
		return 0; /* finished and acknowledged long ago */
	u->task->launched = true;
	rc = agent_update_accept(u->task, u->status_json, u->uuid, u->state);
	if (rc == -EEXIST) {
		log_debug(AGENT_LOG,
		          "task=%s duplicate update acknowledged again",
		          u->task_id);
		return 0;
	}
	if (rc == -EALREADY) {
		log_warn(AGENT_LOG,
		         "task=%s state=%s update after a terminal one dropped",
		         u->task_id, task_state_name(u->state));
		return 0;
	}
	return rc;
}

static void exec_update(struct http_request *req, struct agent_executor *ex,
                        const json_t *call)
{
	const json_t *up = json_object_get(call, "update");
	struct buf msg = BUF_INIT;
	struct exec_update u;
	int status, rc;

	status = exec_check_update(ex, json_object_get(up, "status"), &u, &msg);
	if (status) {
		ex->fw->agent->metrics.invalid_executor_calls++;
		http_respond_error(req, status, "update.%s", msg.data);
		goto out;
	}
	if ((rc = exec_accept_update(&u))) {
		http_respond_error(
		    req, 503, "%s",
		    rc == -ENOSPC ? "Too many unacknowledged status updates "
				    "for this task; retry later"
				  : "Failed to record the status update");
		goto out;
	}
	send_acknowledged(ex, u.task_id, u.uuid);
	http_respond(req, 202, NULL, NULL, 0);
out:
	exec_update_release(&u);
	buf_release(&msg);
}

/* Adopts a task the executor knows but this agent does not (e.g. it was
 * launched while the agent's checkpoint was being written). */
static void exec_adopt_task(struct agent_executor *ex, const json_t *tj)
{
	struct agent_framework *fw = ex->fw;
	const char *tid = mesos_json_id(tj, "task_id");
	struct agent_task *t;
	struct task_info ti;
	struct err e = {{0}};

	if (!tid)
		return;
	t = agent_task_find(fw, tid);
	if (t) {
		if (t->executor == ex)
			t->launched = true;
		else
			log_warn(AGENT_LOG,
			         "executor=%s reports task %s of "
			         "another executor; ignored",
			         ex->id, tid);
		return;
	}
	if (completed_has(fw->agent, fw->id, tid))
		return;
	task_info_init(&ti);
	if (task_info_from_json(&ti, tj, &e)) {
		log_warn(AGENT_LOG, "executor=%s reports an invalid task: %s",
		         ex->id, e.msg);
		task_info_release(&ti);
		return;
	}
	t = agent_task_new(fw, ex, tid, ti.name, tj);
	t->launched = true;
	if (fw->info.checkpoint && ex->checkpointed && agent_ckpt_task(t, &e))
		log_error(AGENT_LOG, "task=%s not checkpointed: %s", tid,
		          e.msg);
	log_info(AGENT_LOG,
	         "framework=%s executor=%s task=%s adopted from the executor",
	         fw->id, ex->id, tid);
	task_info_release(&ti);
}

/* True when the executor listed tid in unacknowledged_tasks. */
static bool listed(const json_t *tasks, const char *tid)
{
	size_t i;
	json_t *v;

	json_array_foreach(tasks, i, v)
	{
		const char *id = mesos_json_id(v, "task_id");
		if (id && !strcmp(id, tid))
			return true;
	}
	return false;
}

static void write_subscribed(struct agent_executor *ex, struct buf *ev)
{
	struct agent *a = ex->fw->agent;
	struct jsonw w;

	jsonw_init(&w, ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "SUBSCRIBED");
	jsonw_key(&w, "subscribed");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "executor_info");
	jsonw_raw(&w, ex->info_json, strlen(ex->info_json));
	jsonw_key(&w, "framework_info");
	jsonw_raw(&w, ex->fw->info_json, strlen(ex->fw->info_json));
	jsonw_key(&w, "agent_info");
	agent_info_write_json(&w, &a->info);
	jsonw_key(&w, "container_id");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "value", ex->container_id);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
}

static void exec_subscribe(struct http_request *req, struct agent_executor *ex,
                           const json_t *call)
{
	struct agent *a = ex->fw->agent;
	const json_t *sub = json_object_get(call, "subscribe");
	const json_t *tasks = json_object_get(sub, "unacknowledged_tasks");
	const json_t *updates = json_object_get(sub, "unacknowledged_updates");
	struct exec_update *ups = NULL;
	bool *safe = NULL;
	struct exec_stream_ctx *ctx;
	struct buf msg = BUF_INIT, ev = BUF_INIT;
	struct list *pos, *tmp;
	size_t i, n = 0;
	json_t *v;

	if ((sub && !json_is_object(sub)) || (tasks && !json_is_array(tasks)) ||
	    (updates && !json_is_array(updates))) {
		http_respond_error(
		    req, 400,
		    "subscribe.unacknowledged_tasks and "
		    "subscribe.unacknowledged_updates must be arrays");
		return;
	}
	/* Adopt the tasks first: resent updates may be about them. */
	json_array_foreach(tasks, i, v)
	{
		if (json_is_object(v))
			exec_adopt_task(ex, v);
	}
	/* Check every resent update before changing anything. */
	n = json_array_size(updates);
	ups = xcalloc(n ? n : 1, sizeof(*ups));
	safe = xcalloc(n ? n : 1, sizeof(*safe));
	json_array_foreach(updates, i, v)
	{
		int status = exec_check_update(ex, json_object_get(v, "status"),
		                               &ups[i], &msg);
		if (status) {
			http_respond_error(req, status,
			                   "subscribe.unacknowledged_updates"
			                   "[%zu].%s",
			                   i, msg.data);
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		safe[i] = exec_accept_update(&ups[i]) == 0;

	if (ex->stream) {
		log_info(AGENT_LOG,
		         "executor=%s resubscribed; closing its "
		         "previous stream",
		         ex->id);
		http_stream_end(ex->stream);
		ex->stream = NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->a = a;
	ctx->framework_id = xstrdup(ex->fw->id);
	ctx->executor_id = xstrdup(ex->id);
	ctx->conn = ++a->next_stream_conn;
	ex->stream_conn = ctx->conn;
	ex->stream = http_stream_begin(req, 200, "application/json",
	                               exec_stream_closed, ctx);
	agent_timer_drop(&ex->register_timer);
	if (ex->state == EXECUTOR_LAUNCHING)
		ex->state = EXECUTOR_RUNNING;
	log_info(AGENT_LOG,
	         "framework=%s executor=%s pid=%d resent=%zu "
	         "executor subscribed",
	         ex->fw->id, ex->id, (int)ex->pid, n);
	write_subscribed(ex, &ev);
	(void)agent_executor_send(ex, &ev);
	for (i = 0; i < n; i++)
		if (safe[i])
			send_acknowledged(ex, ups[i].task_id, ups[i].uuid);
	if (ex->state == EXECUTOR_TERMINATING) {
		buf_reset(&ev);
		buf_adds(&ev, "{\"type\":\"SHUTDOWN\"}");
		(void)agent_executor_send(ex, &ev);
		goto out;
	}
	LIST_FOR_EACH_SAFE(pos, tmp, &ex->tasks)
	{
		struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (task_state_is_terminal(agent_task_state(t)))
			continue;
		if (ex->recovered && agent_task_state(t) == TASK_STAGING &&
		    !listed(tasks, t->id)) {
			/* Checkpointed, but the executor never got it. */
			agent_update_generate(
			    t, agent_lost_state(t->fw), REASON_AGENT_RESTARTED,
			    "Task launched during an agent restart");
			continue;
		}
		if (!t->launched)
			agent_task_deliver(t);
		else if (t->kill_pending)
			agent_task_deliver_kill(t);
	}
	ex->recovered = false;
	/* A command executor exists for its one task only. */
	if (ex->is_command && !agent_executor_has_live_tasks(ex))
		agent_executor_shutdown(ex, "its task is gone");
out:
	for (i = 0; i < n; i++)
		exec_update_release(&ups[i]);
	free(ups);
	free(safe);
	buf_release(&ev);
	buf_release(&msg);
}

static void exec_message(struct http_request *req, struct agent_executor *ex,
                         const json_t *call)
{
	struct agent *a = ex->fw->agent;
	const char *data = json_string_value(
	    json_object_get(json_object_get(call, "message"), "data"));
	struct buf body = BUF_INIT;
	struct jsonw w;

	if (!data) {
		http_respond_error(req, 400,
		                   "Expecting 'message.data' to be present");
		return;
	}
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "MESSAGE");
	jsonw_kid(&w, "agent_id", agent_id(a));
	jsonw_key(&w, "message");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", ex->fw->id);
	jsonw_kid(&w, "executor_id", ex->id);
	jsonw_kstr(&w, "data", data);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (agent_master_call(a, &body))
		log_info(AGENT_LOG,
		         "executor=%s message dropped: master not connected",
		         ex->id);
	buf_release(&body);
	http_respond(req, 202, NULL, NULL, 0);
}

/*
 * An executor this agent does not know subscribes (its framework is gone,
 * or its checkpoint was lost): as Mesos does, it gets a stream carrying
 * only SHUTDOWN, so that it stops its tasks and exits instead of retrying.
 */
static void refused_stream_closed(struct http_stream *s, void *arg)
{
	(void)s;
	(void)arg;
}

static void exec_refuse_unknown(struct http_request *req, const char *fid,
                                const char *eid)
{
	static const char shutdown[] = "{\"type\":\"SHUTDOWN\"}";
	struct http_stream *s;
	struct buf framed = BUF_INIT;
	struct err e = {{0}};

	if (mesos_id_validate(fid, "framework_id", &e) ||
	    mesos_id_validate(eid, "executor_id", &e)) {
		http_respond_error(req, 400, "%s", e.msg);
		return;
	}
	log_warn(AGENT_LOG,
	         "framework=%s executor=%s unknown executor subscribed; "
	         "telling it to shut down",
	         fid, eid);
	s = http_stream_begin(req, 200, "application/json",
	                      refused_stream_closed, NULL);
	recordio_frame(&framed, shutdown, sizeof(shutdown) - 1);
	http_stream_end_with(s, framed.data, framed.len);
	buf_release(&framed);
}

static void executor_api(struct agent *a, struct http_request *req)
{
	static const char *const types[] = {"SUBSCRIBE", "UPDATE", "MESSAGE",
	                                    "HEARTBEAT"};
	struct agent_framework *fw;
	struct agent_executor *ex;
	const char *type, *fid, *eid;
	bool known = false;
	json_t *call;

	if (!(call = v1call_parse(req)))
		goto bad;
	type = json_string_value(json_object_get(call, "type"));
	fid = mesos_json_id(call, "framework_id");
	eid = mesos_json_id(call, "executor_id");
	if (!type) {
		http_respond_error(req, 400, "Expecting 'type' to be present");
		goto bad;
	}
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		known |= !strcmp(type, types[i]);
	if (!known) {
		http_respond_error(req, 400, "Unknown call type '%.64s'", type);
		goto bad;
	}
	if (!fid || !eid) {
		http_respond_error(req, 400, "Expecting '%s' to be present",
		                   !fid ? "framework_id" : "executor_id");
		goto bad;
	}
	fw = agent_framework_find(a, fid);
	ex = agent_executor_find(fw, eid);
	if (!ex && !strcmp(type, "SUBSCRIBE")) {
		exec_refuse_unknown(req, fid, eid);
		goto bad;
	}
	if (!fw) {
		http_respond_error(req, 400,
		                   "Framework '%.255s' cannot be found", fid);
		goto bad;
	}
	if (!ex) {
		http_respond_error(req, 400,
		                   "Executor '%.255s' of framework '%s' "
		                   "cannot be found",
		                   eid, fid);
		goto bad;
	}
	if (!strcmp(type, "SUBSCRIBE")) {
		exec_subscribe(req, ex, call);
	} else if (ex->state == EXECUTOR_LAUNCHING) {
		http_respond_error(req, 403, "Executor '%s' is not subscribed",
		                   eid);
	} else if (!strcmp(type, "UPDATE")) {
		exec_update(req, ex, call);
	} else if (!strcmp(type, "MESSAGE")) {
		exec_message(req, ex, call);
	} else {
		http_respond(req, 202, NULL, NULL, 0);
	}
	json_decref(call);
	return;
bad:
	a->metrics.invalid_executor_calls++;
	json_decref(call);
}

/* ---- classic endpoints --------------------------------------------------- */

static void write_task(struct jsonw *w, const struct agent_task *t)
{
	const struct agent *a = t->fw->agent;

	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", t->id);
	jsonw_kstr(w, "name", t->name);
	jsonw_kstr(w, "framework_id", t->fw->id);
	jsonw_kstr(w, "executor_id", t->executor ? t->executor->id : "");
	jsonw_kstr(w, "slave_id", agent_id(a));
	jsonw_kstr(w, "state", task_state_name(agent_task_state(t)));
	jsonw_key(w, "resources");
	resources_write_map(w, &t->resources);
	jsonw_key(w, "statuses");
	jsonw_arr_begin(w);
	if (t->stream.latest_json)
		jsonw_raw(w, t->stream.latest_json,
		          strlen(t->stream.latest_json));
	jsonw_arr_end(w);
	jsonw_kuint(w, "unacknowledged_updates", t->stream.npending);
	jsonw_obj_end(w);
}

static void write_completed(struct jsonw *w, const struct agent *a,
                            const char *fid, const char *eid)
{
	const struct list *pos;

	jsonw_arr_begin(w);
	for (pos = a->completed.next; pos != &a->completed; pos = pos->next) {
		const struct agent_completed_task *c =
		    list_entry(pos, struct agent_completed_task, link);
		if (strcmp(c->framework_id, fid) ||
		    (eid && strcmp(c->executor_id, eid)))
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "id", c->id);
		jsonw_kstr(w, "name", c->name);
		jsonw_kstr(w, "framework_id", c->framework_id);
		jsonw_kstr(w, "executor_id", c->executor_id);
		jsonw_kstr(w, "slave_id", agent_id(a));
		jsonw_kstr(w, "state", task_state_name(c->state));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static const char *executor_state_name(enum agent_executor_state s)
{
	static const char *const names[] = {"LAUNCHING", "RUNNING",
	                                    "TERMINATING", "TERMINATED"};
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static void write_executor(struct jsonw *w, const struct agent_executor *ex)
{
	const struct list *pos;
	json_t *info = json_loads(ex->info_json, 0, NULL);
	const char *name = json_string_value(json_object_get(info, "name"));
	const char *source = json_string_value(json_object_get(info, "source"));

	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", ex->id);
	jsonw_kstr(w, "name", name ? name : "");
	jsonw_kstr(w, "source", source ? source : "");
	jsonw_kstr(w, "container", ex->container_id);
	jsonw_kstr(w, "directory", ex->directory ? ex->directory : "");
	jsonw_kstr(w, "state", executor_state_name(ex->state));
	jsonw_kint(w, "pid", ex->pid);
	jsonw_kbool(w, "subscribed", ex->stream != NULL);
	jsonw_key(w, "tasks");
	jsonw_arr_begin(w);
	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next) {
		const struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (t->launched)
			write_task(w, t);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "queued_tasks");
	jsonw_arr_begin(w);
	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next) {
		const struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (!t->launched)
			write_task(w, t);
	}
	jsonw_arr_end(w);
	jsonw_key(w, "completed_tasks");
	write_completed(w, ex->fw->agent, ex->fw->id, ex->id);
	jsonw_obj_end(w);
	json_decref(info);
}

static void write_framework(struct jsonw *w, const struct agent_framework *fw)
{
	const struct list *pos;
	struct hmap_node *n, *tmp;
	size_t i;

	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", fw->id);
	jsonw_kstr(w, "name", fw->info.name ? fw->info.name : "");
	jsonw_kstr(w, "user", fw->info.user ? fw->info.user : "");
	jsonw_kbool(w, "checkpoint", fw->info.checkpoint);
	jsonw_kbool(w, "shutting_down", fw->shutting_down);
	jsonw_key(w, "roles");
	jsonw_arr_begin(w);
	for (size_t k = 0; k < fw->info.nroles; k++)
		jsonw_str(w, fw->info.roles[k]);
	jsonw_arr_end(w);
	if (fw->info.nroles)
		jsonw_kstr(w, "role", fw->info.roles[0]);
	jsonw_key(w, "executors");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&fw->executors, i, n, tmp)
	{
		write_executor(w, container_of(n, struct agent_executor, node));
	}
	jsonw_arr_end(w);
	jsonw_key(w, "completed_executors");
	jsonw_arr_begin(w);
	for (pos = fw->dead_executors.next; pos != &fw->dead_executors;
	     pos = pos->next)
		write_executor(
		    w, list_entry(pos, struct agent_executor, dead_link));
	jsonw_arr_end(w);
	jsonw_key(w, "pending_tasks"); /* updates for tasks that never ran */
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
	{
		const struct agent_task *t =
		    container_of(n, struct agent_task, node);
		if (!t->executor)
			write_task(w, t);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void write_state(struct agent *a, struct buf *out)
{
	struct hmap_node *n, *tmp;
	struct jsonw w;
	size_t i;

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "version", ATOLL_VERSION);
	jsonw_kstr(&w, "mesos_api_version", ATOLL_MESOS_API_VERSION);
	jsonw_kstr(&w, "id", agent_id(a));
	jsonw_kstr(&w, "pid", a->pid ? a->pid : "");
	jsonw_kstr(&w, "hostname", a->info.hostname ? a->info.hostname : "");
	jsonw_kint(&w, "port", a->info.port);
	jsonw_kdouble(&w, "start_time", a->start_time);
	jsonw_kbool(&w, "registered", a->connected);
	jsonw_kstr(&w, "master_hostname",
	           a->master_endpoint ? a->master_endpoint : "");
	jsonw_key(&w, "resources");
	resources_write_map(&w, &a->info.resources);
	jsonw_key(&w, "attributes");
	attributes_write_map(&w, &a->info.attributes);
	jsonw_key(&w, "flags");
	agent_config_write(&a->cfg, &w, false);
	jsonw_key(&w, "frameworks");
	jsonw_arr_begin(&w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, n, tmp)
	{
		write_framework(&w,
		                container_of(n, struct agent_framework, node));
	}
	jsonw_arr_end(&w);
	jsonw_key(&w, "metrics");
	jsonw_obj_begin(&w);
	jsonw_kuint(&w, "tasks_launched", a->metrics.tasks_launched);
	jsonw_kuint(&w, "tasks_failed", a->metrics.tasks_failed);
	jsonw_kuint(&w, "executors_launched", a->metrics.executors_launched);
	jsonw_kuint(&w, "executors_exited", a->metrics.executors_exited);
	jsonw_kuint(&w, "updates_received", a->metrics.updates_received);
	jsonw_kuint(&w, "updates_sent", a->metrics.updates_sent);
	jsonw_kuint(&w, "updates_acked", a->metrics.updates_acked);
	jsonw_kuint(&w, "updates_retried", a->metrics.updates_retried);
	jsonw_kuint(&w, "invalid_executor_calls",
	            a->metrics.invalid_executor_calls);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
}

bool agent_http_is_get(struct http_request *req)
{
	if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
		return true;
	http_request_add_header(req, "Allow", "GET");
	http_respond_error(req, 405,
	                   "Expecting a 'GET' request, received "
	                   "'%s'",
	                   req->method);
	return false;
}

static bool path_is(const char *path, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(path, names[i]))
			return true;
	return false;
}

void agent_http_handler(struct http_request *req, void *arg)
{
	static const char *const health[] = {"/health", "/slave(1)/health"};
	static const char *const state[] = {
	    "/state", "/state.json", "/slave(1)/state", "/slave(1)/state.json"};
	static const char *const flags[] = {"/flags", "/slave(1)/flags"};
	struct agent *a = arg;
	const char *p = req->path;
	struct buf b = BUF_INIT;
	struct jsonw w;

	if (!strcmp(p, AGENT_EXECUTOR_API)) {
		executor_api(a, req);
		return;
	}
	if (path_is(p, health, ARRAY_SIZE(health))) {
		if (agent_http_is_get(req))
			http_respond(req, 200, NULL, NULL, 0);
		return;
	}
	if (!strcmp(p, "/version")) {
		if (!agent_http_is_get(req))
			return;
		jsonw_init(&w, &b);
		version_write_info(&w);
		http_respond_buf(req, 200, "application/json", &b);
		return;
	}
	if (path_is(p, state, ARRAY_SIZE(state))) {
		if (!agent_http_is_get(req))
			return;
		write_state(a, &b);
		http_respond_buf(req, 200, "application/json", &b);
		return;
	}
	if (path_is(p, flags, ARRAY_SIZE(flags))) {
		if (!agent_http_is_get(req))
			return;
		jsonw_init(&w, &b);
		jsonw_obj_begin(&w);
		jsonw_key(&w, "flags");
		agent_config_write(&a->cfg, &w, false);
		jsonw_obj_end(&w);
		http_respond_buf(req, 200, "application/json", &b);
		return;
	}
	if (!strcmp(p, "/api/v1")) {
		agent_operator_api(a, req);
		return;
	}
	if (agent_operator_endpoint(a, req))
		return;
	http_respond_error(req, 404, "No endpoint '%.200s' on this agent", p);
}
