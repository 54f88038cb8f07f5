/*
 * agent_updates.c: the agent's status update manager. Every task has one
 * update stream (update_stream.h); this file connects those streams to the
 * disk, the master and the clock.
 *
 *   executor UPDATE / agent-generated update
 *        |  agent_update_accept: journal line + fsync (checkpointing
 *        v  frameworks), then appended to the stream
 *   [stream] --head--> UPDATE call to the master (agent_update_send_head),
 *        ^              retry timer: 10 s doubling to 10 min by default
 *        |
 *   ACKNOWLEDGE{task_id, uuid} from the master (agent_on_acknowledge):
 *        journal "ack" line, head removed, next head sent; when the
 *        terminal update is acknowledged the task is complete.
 *
 * While the master connection is down nothing is sent and no retry timer
 * runs; on every (re)registration each stream's head is sent afresh with
 * the minimum delay (agent_updates_resend_all). Updates of a framework
 * being shut down are never sent: the master has forgotten it.
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/timeutil.h"

enum task_state agent_lost_state(const struct agent_framework *fw)
{
	return fw->info.capabilities & FW_CAP_PARTITION_AWARE ? TASK_DROPPED
	                                                      : TASK_LOST;
}

static int update_accept(struct agent_task *t, const char *status_json,
                         const uint8_t uuid[IDS_UUID_LEN],
                         enum task_state state)
{
	struct agent *a = t->fw->agent;
	struct err e = {{0}};
	int rc;

	if (update_stream_has(&t->stream, uuid))
		return -EEXIST;
	if (t->stream.terminated)
		return -EALREADY;
	if (t->stream.npending >= AGENT_MAX_PENDING_UPDATES &&
	    !task_state_is_terminal(state))
		return -ENOSPC;
	if (t->checkpointed) {
		struct buf line = BUF_INIT;
		update_stream_journal_update(&line, status_json);
		rc = agent_ckpt_append(t, &line, &e);
		buf_release(&line);
		if (rc) {
			log_error(AGENT_LOG,
			          "framework=%s task=%s cannot record "
			          "the update: %s",
			          t->fw->id, t->id, e.msg);
			return rc;
		}
	}
	rc = update_stream_push(&t->stream, uuid, state, status_json);
	BUG_ON(rc); /* checked above */
	a->metrics.updates_received++;
	log_info(AGENT_LOG,
	         "framework=%s task=%s state=%s unacked=%zu "
	         "status update accepted",
	         t->fw->id, t->id, task_state_name(state), t->stream.npending);
	if (t->stream.npending == 1)
		agent_update_send_head(t);
	return 0;
}

int agent_update_accept(struct agent_task *t, const char *status_json,
                        const uint8_t uuid[IDS_UUID_LEN], enum task_state state)
{
	/* A container that hit its memory limit turns the terminal update
	 * into that limitation (agent_exec.c). */
	char *limited = agent_task_limitation(t, status_json, &state);
	int rc = update_accept(t, limited ? limited : status_json, uuid, state);

	free(limited);
	return rc;
}

void agent_update_generate(struct agent_task *t, enum task_state state,
                           enum task_reason reason, const char *message)
{
	struct agent *a = t->fw->agent;
	struct task_status st;
	struct buf json = BUF_INIT;
	struct jsonw w;
	int rc;

	task_status_init(&st);
	st.task_id = xstrdup(t->id);
	st.agent_id = a->info.id ? xstrdup(a->info.id) : NULL;
	st.executor_id = t->executor ? xstrdup(t->executor->id) : NULL;
	st.state = state;
	st.source = SOURCE_AGENT;
	st.reason = reason;
	st.message = message ? xstrdup(message) : NULL;
	st.timestamp = timeutil_wall();
	st.has_uuid = true;
	ids_uuid(st.uuid);
	jsonw_init(&w, &json);
	task_status_write_json(&w, &st);
	rc = agent_update_accept(t, json.data, st.uuid, state);
	if (rc)
		log_error(AGENT_LOG,
		          "framework=%s task=%s state=%s update "
		          "from the agent dropped: %s",
		          t->fw->id, t->id, task_state_name(state),
		          strerror(-rc));
	buf_release(&json);
	task_status_release(&st);
}

static void retry_timer_cb(uv_timer_t *timer)
{
	struct agent_task *t = timer->data;

	agent_timer_drop(&t->retry_timer);
	t->fw->agent->metrics.updates_retried++;
	log_info(AGENT_LOG,
	         "framework=%s task=%s unacknowledged for %gs; resending",
	         t->fw->id, t->id, t->stream.backoff);
	agent_update_send_head(t);
}

void agent_update_send_head(struct agent_task *t)
{
	const struct update_stream_entry *head = update_stream_head(&t->stream);
	struct agent *a = t->fw->agent;
	struct buf body = BUF_INIT;
	struct jsonw w;
	double delay;

	agent_timer_drop(&t->retry_timer);
	if (!head || t->fw->shutting_down || !a->connected)
		return;
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "UPDATE");
	jsonw_kid(&w, "agent_id", agent_id(a));
	jsonw_key(&w, "update");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", t->fw->id);
	jsonw_key(&w, "status");
	jsonw_raw(&w, head->status_json, strlen(head->status_json));
	jsonw_kstr(&w, "latest_state", task_state_name(t->stream.latest));
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (agent_master_call(a, &body)) {
		buf_release(&body);
		return; /* sent again on reregistration */
	}
	buf_release(&body);
	a->metrics.updates_sent++;
	delay = update_stream_next_backoff(
	    &t->stream, a->cfg.status_update_retry_interval,
	    a->cfg.status_update_retry_interval_max);
	log_debug(AGENT_LOG,
	          "framework=%s task=%s state=%s latest=%s "
	          "retry=%gs update sent",
	          t->fw->id, t->id, task_state_name(head->state),
	          task_state_name(t->stream.latest), delay);
	t->retry_timer = agent_timer_start(a, t, retry_timer_cb, delay);
}

void agent_on_acknowledge(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	const char *tid = mesos_json_id(payload, "task_id");
	const char *b64 = json_string_value(json_object_get(payload, "uuid"));
	uint8_t uuid[IDS_UUID_LEN + 4];
	struct agent_task *t;
	struct err e = {{0}};
	int rc;

	if (!fid || !tid || !b64 ||
	    ids_base64_decode(b64, strlen(b64), uuid, sizeof(uuid)) !=
	        IDS_UUID_LEN) {
		log_error(AGENT_LOG,
		          "bad ACKNOWLEDGE ignored: framework_id, "
		          "task_id and a base64 16-byte uuid are required");
		return;
	}
	t = agent_task_find(agent_framework_find(a, fid), tid);
	if (!t) {
		log_debug(AGENT_LOG,
		          "framework=%s task=%s acknowledgement "
		          "for an unknown task ignored",
		          fid, tid);
		return;
	}
	rc = update_stream_ack(&t->stream, uuid);
	if (rc == -EALREADY) {
		log_debug(AGENT_LOG,
		          "task=%s duplicate acknowledgement ignored", tid);
		return;
	}
	if (rc) {
		log_warn(AGENT_LOG,
		         "task=%s uuid=%s acknowledgement of an "
		         "update that is not in flight ignored",
		         tid, b64);
		return;
	}
	a->metrics.updates_acked++;
	agent_timer_drop(&t->retry_timer);
	if (t->checkpointed) {
		struct buf line = BUF_INIT;
		update_stream_journal_ack(&line, uuid);
		if (agent_ckpt_append(t, &line, &e))
			log_error(AGENT_LOG,
			          "task=%s acknowledgement not "
			          "recorded (the update may be "
			          "resent after a restart): %s",
			          tid, e.msg);
		buf_release(&line);
	}
	log_debug(AGENT_LOG, "framework=%s task=%s unacked=%zu acknowledged",
	          fid, tid, t->stream.npending);
	if (update_stream_is_done(&t->stream)) {
		struct agent_framework *fw = t->fw;
		agent_task_complete(t);
		agent_framework_maybe_remove(fw);
		return;
	}
	agent_update_send_head(t);
}

void agent_updates_resend_all(struct agent *a)
{
	struct hmap_node *fn, *ftmp, *tn, *ttmp;
	size_t i, k;

	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
		{
			struct agent_task *t =
			    container_of(tn, struct agent_task, node);
			update_stream_reset_backoff(&t->stream);
			agent_update_send_head(t);
		}
	}
}
