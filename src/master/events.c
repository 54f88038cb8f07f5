/*
 * events.c: sending events on the master's subscriber streams (frameworks
 * and agents) and the small JSON pieces several modules write.
 *
 * Every event is one RecordIO record. A stream whose consumer does not
 * read has a bounded queue in the HTTP layer; when it is full the stream is
 * ended with an ERROR event and the subscriber counts as disconnected (its
 * close callback runs from the loop), so a slow consumer can never grow the
 * master's memory.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/recordio.h"
#include "lib/timeutil.h"
#include "lib/version.h"

#include <arpa/inet.h>

void master_stream_error(struct http_stream **stream, const char *message)
{
	struct buf ev = BUF_INIT, rec = BUF_INIT;
	struct jsonw w;

	if (!*stream)
		return;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "ERROR");
	jsonw_key(&w, "error");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "message", message);
	jsonw_obj_end(&w);
	/* Mesos's docs show a flat "message"; some clients read that. */
	jsonw_kstr(&w, "message", message);
	jsonw_obj_end(&w);
	recordio_frame(&rec, ev.data, ev.len);
	http_stream_end_with(*stream, rec.data, rec.len);
	*stream = NULL;
	buf_release(&ev);
	buf_release(&rec);
}

int master_stream_send(struct master *m, struct http_stream **stream,
                       const struct buf *event)
{
	struct buf rec = BUF_INIT;
	int rc;

	if (!*stream)
		return -EPIPE;
	recordio_frame(&rec, event->data, event->len);
	rc = http_stream_write(*stream, rec.data, rec.len);
	buf_release(&rec);
	if (rc == -ENOBUFS) {
		m->metrics.dropped_streams++;
		log_warn("master",
		         "subscriber too slow: queue of %zu bytes is "
		         "full; disconnecting it",
		         http_stream_queued(*stream));
		master_stream_error(stream,
		                    "subscriber too slow: its event queue is "
		                    "full; disconnected (resubscribe)");
		return -EPIPE;
	}
	return rc;
}

int master_framework_send(struct master_framework *fw, const struct buf *event)
{
	return master_stream_send(fw->master, &fw->stream, event);
}

int master_agent_send(struct master_agent *a, const struct buf *event)
{
	return master_stream_send(a->master, &a->stream, event);
}

void master_status_make(struct task_status *st, const char *task_id,
                        const char *agent_id, const char *executor_id,
                        enum task_state state, enum task_reason reason,
                        const char *message)
{
	task_status_init(st);
	st->task_id = xstrdup(task_id);
	st->agent_id = agent_id ? xstrdup(agent_id) : NULL;
	st->executor_id = executor_id ? xstrdup(executor_id) : NULL;
	st->state = state;
	st->source = SOURCE_MASTER;
	st->reason = reason;
	st->message = message ? xstrdup(message) : NULL;
	st->timestamp = timeutil_wall();
}

void master_send_update(struct master_framework *fw,
                        const struct task_status *st)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!fw->stream)
		return;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "UPDATE");
	jsonw_key(&w, "update");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "status");
	task_status_write_json(&w, st);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_framework_send(fw, &ev);
	buf_release(&ev);
}

void master_write_master_info(struct master *m, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "id", m->id);
	struct in_addr in;
	jsonw_kuint(w, "ip",
	            inet_pton(AF_INET, m->cfg.ip, &in) == 1 ? in.s_addr : 0);
	jsonw_kint(w, "port", m->port);
	jsonw_kstr(w, "pid", m->pid);
	jsonw_kstr(w, "hostname", m->cfg.hostname);
	jsonw_kstr(w, "version", ATOLL_VERSION);
	jsonw_key(w, "address");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "hostname", m->cfg.hostname);
	jsonw_kstr(w, "ip", m->cfg.ip);
	jsonw_kint(w, "port", m->port);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

void master_write_task_v1(struct jsonw *w, const struct master_task *t)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", t->name);
	jsonw_kid(w, "task_id", t->id);
	jsonw_kid(w, "framework_id", t->framework->id);
	if (t->custom_executor)
		jsonw_kid(w, "executor_id", t->executor_id);
	if (t->status.agent_id || t->agent)
		jsonw_kid(w, "agent_id",
		          t->agent ? t->agent->id : t->status.agent_id);
	jsonw_kstr(w, "state", task_state_name(t->state));
	jsonw_key(w, "resources");
	resources_write_json(w, &t->resources);
	if (t->has_status) {
		/* as Mesos, without the (possibly large) data field */
		struct task_status st = t->status;
		st.data = NULL;
		jsonw_key(w, "statuses");
		jsonw_arr_begin(w);
		task_status_write_json(w, &st);
		jsonw_arr_end(w);
		jsonw_kstr(w, "status_update_state",
		           task_state_name(t->status.state));
	}
	if (t->framework->info.nroles > 0 && t->resources.n > 0 &&
	    t->resources.v[0].alloc_role)
		jsonw_kstr(w, "role", t->resources.v[0].alloc_role);
	jsonw_obj_end(w);
}
