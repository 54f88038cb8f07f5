/*
 * agent_exec.c: frameworks, executors and tasks on this agent, and the
 * master events that drive them (RUN_TASK, KILL_TASK, SHUTDOWN_FRAMEWORK,
 * SHUTDOWN_EXECUTOR, MESSAGE).
 *
 * Executor life (function performing each transition):
 *
 *   RUN_TASK --agent_on_run_task--> LAUNCHING --SUBSCRIBE--> RUNNING
 *       (spawned; tasks queued)        |   (agent_http.c; queued tasks
 *                                      |    delivered as LAUNCH)
 *          registration timeout        |         | stream lost: must
 *          (registration_timeout_cb):  |         | resubscribe in time
 *          killed, tasks FAILED        v         v
 *                              TERMINATING <-- agent_executor_shutdown
 *                   (SHUTDOWN sent or SIGTERM; SIGKILL after the grace)
 *                                      |
 *   process exit (launcher.c) or pid gone (agent_reap_adopted)
 *                                      v
 *                              TERMINATED (agent_executor_exited): its
 *       unfinished tasks get TASK_FAILED / TASK_KILLED from the agent;
 *       its cgroup (if any) is removed; freed once every task's updates
 *       are acknowledged.
 *
 * Memory limit: when the container's cgroup counted an OOM kill, a task's
 * terminal update becomes TASK_FAILED with REASON_CONTAINER_LIMITATION_
 * MEMORY from the agent, whether it comes from the executor (rewritten by
 * agent_task_limitation as it is accepted, keeping its uuid so that the
 * executor's acknowledgement still matches) or from the agent when the
 * executor itself is gone (agent_executor_exited).
 *
 * Disk limit (disk.c): a container whose sandbox outgrew its tasks' disk
 * is killed when --enforce-container-disk-quota is on; its tasks end the
 * same way with REASON_CONTAINER_LIMITATION_DISK (which wins over a
 * memory limitation hit while dying).
 *
 * Sandboxes: when a terminated executor is freed (its tasks' updates all
 * acknowledged), its sandbox is handed to the garbage collector (gc.c);
 * the completed-task records of that run go when the sandbox goes.
 *
 * Task life on the agent: created at RUN_TASK (STAGING, queued), LAUNCH
 * delivered when the executor is subscribed, then whatever the updates say;
 * the task is freed when its update stream is done (agent_updates.c).
 *
 * Users (agent_user_check, at RUN_TASK): a task runs as its command's
 * user, else its custom executor command's, else FrameworkInfo.user. An
 * unknown user, or root (uid 0) when the agent runs as root without
 * --allow-root-tasks, is a TASK_ERROR naming it. The executor remembers
 * the user; the launcher gives it the sandbox.
 *
 * Nothing here trusts the master: every payload is checked, a task that
 * cannot be run is answered with a terminal update (TASK_ERROR for an
 * invalid task, TASK_FAILED when the executor cannot start) instead of
 * being dropped silently.
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/recordio.h"

/* ---- lookups and records ------------------------------------------------- */

struct agent_framework *agent_framework_find(struct agent *a, const char *id)
{
	if (!id)
		return NULL;
	return hmap_entry(hmap_find(&a->frameworks, id), struct agent_framework,
	                  node);
}

struct agent_executor *agent_executor_find(struct agent_framework *fw,
                                           const char *id)
{
	if (!fw || !id)
		return NULL;
	return hmap_entry(hmap_find(&fw->executors, id), struct agent_executor,
	                  node);
}

struct agent_task *agent_task_find(struct agent_framework *fw, const char *id)
{
	if (!fw || !id)
		return NULL;
	return hmap_entry(hmap_find(&fw->tasks, id), struct agent_task, node);
}

/* Sets fw's info from a validated FrameworkInfo object. */
static int framework_set_info(struct agent_framework *fw, const json_t *info,
                              struct err *e)
{
	struct framework_info fi;
	json_t *copy;
	char *text;

	if (!json_is_object(info))
		return err_set(e, "framework_info: missing");
	framework_info_init(&fi);
	if (framework_info_from_json(&fi, info, e)) {
		framework_info_release(&fi);
		return err_prefix(e, "framework_info");
	}
	copy = json_deep_copy(info);
	json_object_set_new(copy, "id", json_pack("{s:s}", "value", fw->id));
	text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (!text)
		text = xasprintf("{\"id\":{\"value\":\"%s\"}}", fw->id);
	if (!fw->info_json || strcmp(fw->info_json, text))
		fw->info_dirty = true;
	free(fw->info_json);
	fw->info_json = text;
	free(fi.id);
	fi.id = xstrdup(fw->id);
	framework_info_release(&fw->info);
	fw->info = fi;
	return 0;
}

struct agent_framework *agent_framework_ensure(struct agent *a, const char *id,
                                               const json_t *info,
                                               struct err *e)
{
	struct agent_framework *fw = agent_framework_find(a, id);
	struct err ignored;

	if (fw) {
		if (info && framework_set_info(fw, info, &ignored))
			log_warn(AGENT_LOG,
			         "framework=%s keeping the old "
			         "framework_info: %s",
			         id, ignored.msg);
		return fw;
	}
	fw = xcalloc(1, sizeof(*fw));
	fw->agent = a;
	fw->id = xstrdup(id);
	framework_info_init(&fw->info);
	hmap_init(&fw->executors);
	hmap_init(&fw->tasks);
	list_init(&fw->dead_executors);
	if (framework_set_info(fw, info, e)) {
		hmap_release(&fw->executors);
		hmap_release(&fw->tasks);
		framework_info_release(&fw->info);
		free(fw->info_json);
		free(fw->id);
		free(fw);
		return NULL;
	}
	fw->node.key = fw->id;
	hmap_insert(&a->frameworks, &fw->node);
	log_debug(AGENT_LOG, "framework=%s name='%s' checkpoint=%d added", id,
	          fw->info.name ? fw->info.name : "", fw->info.checkpoint);
	return fw;
}

void agent_framework_maybe_remove(struct agent_framework *fw)
{
	struct agent *a = fw->agent;

	if (fw->executors.count || !list_empty(&fw->dead_executors) ||
	    fw->tasks.count)
		return;
	if (fw->checkpointed && !a->stopping)
		agent_ckpt_remove_framework(fw);
	if (!a->stopping)
		log_info(AGENT_LOG, "framework=%s removed", fw->id);
	hmap_remove(&a->frameworks, &fw->node);
	hmap_release(&fw->executors);
	hmap_release(&fw->tasks);
	framework_info_release(&fw->info);
	free(fw->info_json);
	free(fw->id);
	free(fw);
}

struct agent_executor *agent_executor_new(struct agent_framework *fw,
                                          const char *id, const char *info_json,
                                          bool is_command)
{
	struct agent_executor *ex = xcalloc(1, sizeof(*ex));

	BUG_ON(agent_executor_find(fw, id));
	ex->fw = fw;
	ex->id = xstrdup(id);
	ex->info_json = xstrdup(info_json);
	ex->is_command = is_command;
	ex->state = EXECUTOR_LAUNCHING;
	ex->end_reason = REASON_EXECUTOR_TERMINATED;
	ids_uuid_str(ex->container_id);
	list_init(&ex->tasks);
	list_init(&ex->dead_link);
	ex->node.key = ex->id;
	hmap_insert(&fw->executors, &ex->node);
	return ex;
}

void agent_executor_free(struct agent_executor *ex)
{
	struct agent *a = ex->fw->agent;

	BUG_ON(!list_empty(&ex->tasks));
	resources_release(&ex->volumes);
	agent_timer_drop(&ex->register_timer);
	agent_timer_drop(&ex->kill_timer);
	if (ex->proc) {
		ex->proc->data = NULL;
		agent_handle_drop((uv_handle_t **)&ex->proc);
	}
	if (ex->stream) {
		http_stream_end(ex->stream);
		ex->stream = NULL;
	}
	/* An executor the next agent will not adopt must not outlive its
	 * container's cgroup. */
	if (a->stopping && !ex->checkpointed && list_empty(&ex->dead_link))
		agent_executor_cgroup_destroy(ex);
	if (!list_empty(&ex->dead_link)) { /* terminated */
		list_del(&ex->dead_link);
		if (ex->checkpointed && !a->stopping)
			agent_ckpt_remove_run(ex);
		agent_gc_schedule(a, ex);
	} else {
		hmap_remove(&ex->fw->executors, &ex->node);
	}
	free(ex->id);
	free(ex->user);
	free(ex->directory);
	free(ex->info_json);
	free(ex->end_message);
	free(ex);
}

struct agent_task *agent_task_new(struct agent_framework *fw,
                                  struct agent_executor *ex, const char *id,
                                  const char *name, const json_t *info)
{
	struct agent_task *t = xcalloc(1, sizeof(*t));
	json_t *res = json_object_get(info, "resources");
	struct err e;

	BUG_ON(agent_task_find(fw, id));
	t->fw = fw;
	t->executor = ex;
	t->id = xstrdup(id);
	t->name = xstrdup(name ? name : id);
	t->info_json = info ? json_dumps(info, JSON_COMPACT) : NULL;
	resources_init(&t->resources);
	if (json_is_array(res) && resources_from_json(&t->resources, res, &e)) {
		resources_release(&t->resources);
		resources_init(&t->resources);
	}
	update_stream_init(&t->stream);
	t->node.key = t->id;
	hmap_insert(&fw->tasks, &t->node);
	if (ex)
		list_add_tail(&ex->tasks, &t->executor_link);
	else
		list_init(&t->executor_link);
	return t;
}

void agent_task_free(struct agent_task *t)
{
	agent_timer_drop(&t->retry_timer);
	hmap_remove(&t->fw->tasks, &t->node);
	list_del(&t->executor_link);
	update_stream_release(&t->stream);
	resources_release(&t->resources);
	free(t->kill_policy_json);
	free(t->info_json);
	free(t->name);
	free(t->id);
	free(t);
}

void agent_completed_free(struct agent_completed_task *c)
{
	free(c->framework_id);
	free(c->executor_id);
	free(c->container_id);
	free(c->id);
	free(c->name);
	free(c);
}

void agent_task_complete(struct agent_task *t)
{
	struct agent_framework *fw = t->fw;
	struct agent_executor *ex = t->executor;
	struct agent *a = fw->agent;
	struct agent_completed_task *c;

	log_info(AGENT_LOG, "framework=%s task=%s state=%s task completed",
	         fw->id, t->id, task_state_name(agent_task_state(t)));
	if (a->cfg.max_completed_tasks > 0) {
		c = xcalloc(1, sizeof(*c));
		c->framework_id = xstrdup(fw->id);
		c->executor_id = xstrdup(ex ? ex->id : "");
		c->container_id = xstrdup(ex ? ex->container_id : "");
		c->id = xstrdup(t->id);
		c->name = xstrdup(t->name);
		c->state = agent_task_state(t);
		list_add_tail(&a->completed, &c->link);
		a->ncompleted++;
		while (a->ncompleted > (size_t)a->cfg.max_completed_tasks) {
			c = list_first(&a->completed,
			               struct agent_completed_task, link);
			list_del(&c->link);
			a->ncompleted--;
			agent_completed_free(c);
		}
	}
	if (t->checkpointed && ex && !a->stopping) {
		char *rdir = agent_ckpt_run_dir(ex);
		char *tdir = xasprintf("%s/tasks/%s", rdir, t->id);
		agent_remove_tree(tdir);
		free(tdir);
		free(rdir);
	}
	agent_task_free(t);
	if (ex && ex->state == EXECUTOR_TERMINATED && list_empty(&ex->tasks))
		agent_executor_free(ex);
}

/* ---- executor streams ---------------------------------------------------- */

int agent_executor_send(struct agent_executor *ex, const struct buf *event)
{
	struct buf framed = BUF_INIT;
	int rc;

	if (!ex->stream)
		return -ENOTCONN;
	recordio_frame(&framed, event->data, event->len);
	rc = http_stream_write(ex->stream, framed.data, framed.len);
	if (rc == -ENOBUFS) {
		static const char err[] =
		    "{\"type\":\"ERROR\",\"error\":{\"message\":"
		    "\"executor is not reading its event stream\"}}";
		buf_reset(&framed);
		recordio_frame(&framed, err, sizeof(err) - 1);
		log_warn(AGENT_LOG, "executor=%s stream queue full; closing it",
		         ex->id);
		http_stream_end_with(ex->stream, framed.data, framed.len);
		ex->stream = NULL;
	} else if (rc) {
		ex->stream = NULL;
	}
	buf_release(&framed);
	return rc;
}

/* {"type": TYPE} or {"type": TYPE, key: {...}} begins; caller closes. */
static void event_begin(struct jsonw *w, struct buf *b, const char *type,
                        const char *key)
{
	jsonw_init(w, b);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", type);
	if (key) {
		jsonw_key(w, key);
		jsonw_obj_begin(w);
	}
}

static void send_simple(struct agent_executor *ex, const char *type)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	event_begin(&w, &ev, type, NULL);
	jsonw_obj_end(&w);
	(void)agent_executor_send(ex, &ev);
	buf_release(&ev);
}

void agent_task_deliver(struct agent_task *t)
{
	struct agent_executor *ex = t->executor;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!ex || t->launched || !t->info_json ||
	    task_state_is_terminal(agent_task_state(t)) || !ex->stream ||
	    ex->state != EXECUTOR_RUNNING)
		return;
	event_begin(&w, &ev, "LAUNCH", "launch");
	jsonw_key(&w, "task");
	jsonw_raw(&w, t->info_json, strlen(t->info_json));
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (agent_executor_send(ex, &ev) == 0) {
		t->launched = true;
		log_info(AGENT_LOG,
		         "framework=%s executor=%s task=%s "
		         "delivered to the executor",
		         t->fw->id, ex->id, t->id);
	}
	buf_release(&ev);
}

void agent_task_deliver_kill(struct agent_task *t)
{
	struct agent_executor *ex = t->executor;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!ex || !ex->stream) {
		t->kill_pending = true;
		return;
	}
	event_begin(&w, &ev, "KILL", "kill");
	jsonw_kid(&w, "task_id", t->id);
	if (t->kill_policy_json) {
		jsonw_key(&w, "kill_policy");
		jsonw_raw(&w, t->kill_policy_json, strlen(t->kill_policy_json));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (agent_executor_send(ex, &ev) == 0) {
		t->kill_pending = false;
		log_info(AGENT_LOG,
		         "framework=%s executor=%s task=%s kill "
		         "sent to the executor",
		         t->fw->id, ex->id, t->id);
	} else {
		t->kill_pending = true;
	}
	buf_release(&ev);
}

/* ---- executor termination ------------------------------------------------ */

static void kill_timer_cb(uv_timer_t *timer)
{
	struct agent_executor *ex = timer->data;

	agent_timer_drop(&ex->kill_timer);
	log_warn(AGENT_LOG,
	         "framework=%s executor=%s pid=%d did not shut "
	         "down in time; killing it",
	         ex->fw->id, ex->id, (int)ex->pid);
	agent_executor_kill_all(ex);
}

void agent_executor_shutdown(struct agent_executor *ex, const char *why)
{
	struct agent *a = ex->fw->agent;

	if (ex->state == EXECUTOR_TERMINATED || ex->kill_timer)
		return;
	log_info(AGENT_LOG, "framework=%s executor=%s shutting down: %s",
	         ex->fw->id, ex->id, why);
	agent_timer_drop(&ex->register_timer);
	ex->state = EXECUTOR_TERMINATING;
	if (ex->stream)
		send_simple(ex, "SHUTDOWN");
	else
		agent_executor_signal_term(ex);
	ex->kill_timer = agent_timer_start(
	    a, ex, kill_timer_cb, a->cfg.executor_shutdown_grace_period);
}

static void registration_timeout_cb(uv_timer_t *timer)
{
	struct agent_executor *ex = timer->data;
	bool first = ex->state == EXECUTOR_LAUNCHING;
	const struct agent_config *cfg = &ex->fw->agent->cfg;
	double secs = first ? cfg->executor_registration_timeout
	                    : cfg->executor_reregistration_timeout;

	agent_timer_drop(&ex->register_timer);
	log_warn(AGENT_LOG,
	         "framework=%s executor=%s pid=%d did not "
	         "%ssubscribe within %gs; killing it",
	         ex->fw->id, ex->id, (int)ex->pid, first ? "" : "re", secs);
	ex->end_reason = first ? REASON_EXECUTOR_REGISTRATION_TIMEOUT
	                       : REASON_EXECUTOR_REREGISTRATION_TIMEOUT;
	free(ex->end_message);
	ex->end_message = xasprintf("Executor did not %sregister within %gs",
	                            first ? "" : "re", secs);
	ex->state = EXECUTOR_TERMINATING;
	agent_executor_kill_all(ex);
	/* The exit callback (our child) or the reaper (adopted) follows. */
}

void agent_executor_arm_registration(struct agent_executor *ex, double seconds)
{
	agent_timer_drop(&ex->register_timer);
	ex->register_timer = agent_timer_start(
	    ex->fw->agent, ex, registration_timeout_cb, seconds);
}

static void send_executor_exited(struct agent_executor *ex, int status)
{
	struct agent *a = ex->fw->agent;
	struct buf body = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "EXECUTOR_EXITED");
	jsonw_kid(&w, "agent_id", agent_id(a));
	jsonw_key(&w, "executor_exited");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", ex->fw->id);
	jsonw_kid(&w, "executor_id", ex->id);
	if (status >= 0)
		jsonw_kint(&w, "status", status);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (agent_master_call(a, &body))
		log_debug(AGENT_LOG,
		          "executor=%s EXECUTOR_EXITED not sent: "
		          "master not connected",
		          ex->id);
	buf_release(&body);
}

/* The message of a memory limitation, or NULL when ex's container has
 * not hit its limit (no cgroup, or no OOM kill counted). */
static char *memory_limitation_message(struct agent_executor *ex)
{
	const struct cgroups *cg = agent_executor_cgroups(ex);
	struct cgroups_stats st;
	uint64_t limit;

	if (!cg || cgroups_stats_read(cg, ex->container_id, &st) ||
	    st.oom_kills == 0)
		return NULL;
	limit = st.mem_limit_bytes != UINT64_MAX ? st.mem_limit_bytes
	                                         : ex->limits.mem_bytes;
	return xasprintf("Memory limit exceeded: Requested: %lluMB "
	                 "Maximum Used: %lluMB (the container's processes "
	                 "were killed %llu time(s) by the OOM killer)",
	                 (unsigned long long)(limit >> 20),
	                 (unsigned long long)((st.mem_max_usage_bytes
	                                           ? st.mem_max_usage_bytes
	                                           : st.mem_usage_bytes) >>
	                                      20),
	                 (unsigned long long)st.oom_kills);
}

/* Sets ex's end reason when its container hit its memory limit. */
static void memory_limitation(struct agent_executor *ex)
{
	char *msg;

	if (ex->disk_limited)
		return; /* killed for its disk: that is the reason */
	msg = memory_limitation_message(ex);
	if (!msg)
		return;
	log_warn(AGENT_LOG, "framework=%s executor=%s container=%s %s",
	         ex->fw->id, ex->id, ex->container_id, msg);
	ex->end_reason = REASON_CONTAINER_LIMITATION_MEMORY;
	free(ex->end_message);
	ex->end_message = msg;
}

char *agent_task_limitation(struct agent_task *t, const char *status_json,
                            enum task_state *state)
{
	struct agent_executor *ex = t->executor;
	enum task_reason why = REASON_CONTAINER_LIMITATION_MEMORY;
	json_t *st;
	const char *reason;
	char *msg = NULL, *out = NULL;

	if (!ex || !task_state_is_terminal(*state) || *state == TASK_KILLED)
		return NULL;
	if (ex->disk_limited)
		why = REASON_CONTAINER_LIMITATION_DISK;
	st = json_loads(status_json, 0, NULL);
	reason = json_string_value(json_object_get(st, "reason"));
	if (!json_is_object(st) ||
	    (reason && !strcmp(reason, task_reason_name(why)))) {
		json_decref(st);
		return NULL;
	}
	if (ex->disk_limited)
		msg = xstrdup(ex->end_message ? ex->end_message
		                              : "Disk limit exceeded");
	else
		msg = memory_limitation_message(ex);
	if (!msg) {
		json_decref(st);
		return NULL;
	}
	log_warn(AGENT_LOG, "framework=%s task=%s container=%s %s", t->fw->id,
	         t->id, t->executor->container_id, msg);
	json_object_set_new(st, "state", json_string("TASK_FAILED"));
	json_object_set_new(st, "source", json_string("SOURCE_AGENT"));
	json_object_set_new(st, "reason", json_string(task_reason_name(why)));
	json_object_set_new(st, "message", json_string(msg));
	out = json_dumps(st, JSON_COMPACT);
	if (out)
		*state = TASK_FAILED;
	free(msg);
	json_decref(st);
	return out;
}

void agent_executor_exited(struct agent_executor *ex, int status,
                           const char *how)
{
	struct agent_framework *fw = ex->fw;
	struct agent *a = fw->agent;
	struct list *pos, *tmp;

	if (ex->state == EXECUTOR_TERMINATED)
		return;
	agent_timer_drop(&ex->register_timer);
	agent_timer_drop(&ex->kill_timer);
	if (ex->stream) {
		http_stream_end(ex->stream);
		ex->stream = NULL;
	}
	/* Whatever is left of its session goes with it (unless the pid was
	 * reused meanwhile: then the session id may be someone else's). In a
	 * cgroup, the cgroup's removal below kills what is left, and the
	 * session scan (all of /proc, ~3.5 ms per executor with a few
	 * hundred processes: more than half the agent's CPU in the 1,000
	 * task benchmark, bench/PROFILE.md) is not needed. */
	if (ex->pid > 0 && !agent_executor_cgroups(ex) &&
	    (!agent_pid_is_alive(ex->pid, 0) ||
	     agent_pid_is_alive(ex->pid, ex->pid_start)))
		agent_signal_session(ex->pid, SIGKILL);
	memory_limitation(ex);
	agent_executor_unmount_volumes(ex);
	hmap_remove(&fw->executors, &ex->node);
	ex->state = EXECUTOR_TERMINATED;
	list_add_tail(&fw->dead_executors, &ex->dead_link);
	a->metrics.executors_exited++;
	log_info(AGENT_LOG, "framework=%s executor=%s pid=%d executor %s",
	         fw->id, ex->id, (int)ex->pid, how);

	LIST_FOR_EACH_SAFE(pos, tmp, &ex->tasks)
	{
		struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		char *msg;

		if (fw->shutting_down) {
			agent_task_free(t);
			continue;
		}
		if (task_state_is_terminal(agent_task_state(t)))
			continue;
		msg = ex->end_message ? xstrdup(ex->end_message)
		                      : xasprintf("Executor %s", how);
		if (t->kill_requested)
			agent_update_generate(t, TASK_KILLED,
			                      REASON_EXECUTOR_TERMINATED, msg);
		else
			agent_update_generate(t, TASK_FAILED, ex->end_reason,
			                      msg);
		a->metrics.tasks_failed += !t->kill_requested;
		free(msg);
	}
	if (!ex->is_command && !fw->shutting_down)
		send_executor_exited(ex, status);
	agent_executor_cgroup_destroy(ex);
	if (list_empty(&ex->tasks))
		agent_executor_free(ex);
}

void agent_reap_adopted(struct agent *a)
{
	struct hmap_node *fn, *ftmp, *en, *etmp;
	size_t i, k;

	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, k, en, etmp)
		{
			struct agent_executor *ex =
			    container_of(en, struct agent_executor, node);
			if (ex->proc || ex->pid <= 0 ||
			    agent_pid_is_alive(ex->pid, ex->pid_start))
				continue;
			agent_executor_exited(ex, -1,
			                      "exited (adopted after an agent "
			                      "restart; status unknown)");
		}
		agent_framework_maybe_remove(fw);
	}
}

/* ---- RUN_TASK ------------------------------------------------------------ */

/* Answers a task that will not run with a terminal update from the agent
 * (a task record without executor carries the update stream). */
static void reject_task(struct agent_framework *fw, const char *tid,
                        const char *name, enum task_state state,
                        enum task_reason reason, const char *message)
{
	struct agent_task *t = agent_task_new(fw, NULL, tid, name, NULL);

	log_warn(AGENT_LOG, "framework=%s task=%s state=%s task rejected: %s",
	         fw->id, tid, task_state_name(state), message);
	agent_update_generate(t, state, reason, message);
}

/* The ExecutorInfo of the command executor generated for task ti. */
static char *command_executor_info(const struct agent_framework *fw,
                                   const struct task_info *ti)
{
	const char *exe = fw->agent->exe_path;
	struct buf b = BUF_INIT;
	struct jsonw w;
	char *name =
	    xasprintf("Command Executor (Task: %s) (Command: %s)", ti->task_id,
	              ti->command.value ? ti->command.value : "");

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "executor_id", ti->task_id);
	jsonw_kid(&w, "framework_id", fw->id);
	jsonw_kstr(&w, "name", name);
	jsonw_kstr(&w, "source", ti->task_id);
	jsonw_key(&w, "command");
	jsonw_obj_begin(&w);
	jsonw_kbool(&w, "shell", false);
	jsonw_kstr(&w, "value", exe);
	jsonw_key(&w, "arguments");
	jsonw_arr_begin(&w);
	jsonw_str(&w, exe);
	jsonw_str(&w, "executor");
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	free(name);
	return buf_detach(&b, NULL);
}

/* The ExecutorInfo of a custom executor with its framework_id set. */
static char *custom_executor_info(const struct agent_framework *fw,
                                  const json_t *ej)
{
	json_t *copy = json_deep_copy(ej);
	char *s;

	json_object_set_new(copy, "framework_id",
	                    json_pack("{s:s}", "value", fw->id));
	s = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return s ? s : xstrdup("{}");
}

/* Writes what a checkpointing framework needs before the launch. */
static int checkpoint_launch(struct agent_task *t, bool new_executor,
                             struct err *e)
{
	struct agent_framework *fw = t->fw;
	int rc;

	if (!fw->info.checkpoint)
		return 0;
	if ((!fw->checkpointed || fw->info_dirty) &&
	    (rc = agent_ckpt_framework(fw, e)))
		return rc;
	if (new_executor && (rc = agent_ckpt_executor(t->executor, e)))
		return rc;
	return agent_ckpt_task(t, e);
}

/* Spawns a new executor for t; on failure its tasks fail. */
static void start_executor(struct agent_executor *ex,
                           const struct command_info *cmd)
{
	struct agent *a = ex->fw->agent;
	struct agent_framework *fw = ex->fw;
	struct err e = {{0}};

	if (agent_launch_executor(ex, ex->is_command ? NULL : cmd, &e)) {
		log_error(AGENT_LOG,
		          "framework=%s executor=%s cannot start: "
		          "%s",
		          fw->id, ex->id, e.msg);
		ex->end_reason = REASON_CONTAINER_LAUNCH_FAILED;
		free(ex->end_message);
		ex->end_message =
		    xasprintf("Failed to launch the executor: %s", e.msg);
		agent_executor_exited(ex, -1, "failed to start");
		return;
	}
	a->metrics.executors_launched++;
	if (ex->checkpointed && agent_ckpt_executor(ex, &e))
		log_error(AGENT_LOG, "executor=%s pid not checkpointed: %s",
		          ex->id, e.msg);
	agent_executor_arm_registration(ex,
	                                a->cfg.executor_registration_timeout);
}

/* Resolves (or creates) the executor for a valid task. Returns NULL after
 * rejecting the task. *created tells whether a new one must be started. */
static struct agent_executor *
task_executor(struct agent_framework *fw, const struct task_info *ti,
              const json_t *task, struct command_info *cmd, bool *created)
{
	struct agent_executor *ex;
	const json_t *ej;
	struct err e = {{0}};
	char *info;

	*created = false;
	if (ti->has_command) {
		if (agent_executor_find(fw, ti->task_id)) {
			reject_task(fw, ti->task_id, ti->name, TASK_ERROR,
			            REASON_TASK_INVALID,
			            "an executor with this task's id is "
			            "already running");
			return NULL;
		}
		info = command_executor_info(fw, ti);
		ex = agent_executor_new(fw, ti->task_id, info, true);
		free(info);
		*created = true;
		return ex;
	}
	ej = json_object_get(task, "executor");
	if (!ti->executor_id ||
	    mesos_id_validate(ti->executor_id, "executor.executor_id", &e)) {
		reject_task(
		    fw, ti->task_id, ti->name, TASK_ERROR, REASON_TASK_INVALID,
		    ti->executor_id ? e.msg : "executor.executor_id: missing");
		return NULL;
	}
	ex = agent_executor_find(fw, ti->executor_id);
	if (ex) {
		if (ex->is_command) {
			reject_task(
			    fw, ti->task_id, ti->name, TASK_ERROR,
			    REASON_TASK_INVALID,
			    "executor id is used by a command executor");
			return NULL;
		}
		if (ex->state == EXECUTOR_TERMINATING) {
			reject_task(fw, ti->task_id, ti->name,
			            agent_lost_state(fw),
			            REASON_EXECUTOR_TERMINATED,
			            "the executor is shutting down");
			return NULL;
		}
		return ex;
	}
	if (!json_is_object(json_object_get(ej, "command"))) {
		reject_task(fw, ti->task_id, ti->name, TASK_ERROR,
		            REASON_TASK_INVALID,
		            "executor.command: required (DEFAULT executors "
		            "are not supported yet)");
		return NULL;
	}
	if (command_info_from_json(cmd, json_object_get(ej, "command"), &e)) {
		err_prefix(&e, "executor.command");
		reject_task(fw, ti->task_id, ti->name, TASK_ERROR,
		            REASON_TASK_INVALID, e.msg);
		return NULL;
	}
	info = custom_executor_info(fw, ej);
	ex = agent_executor_new(fw, ti->executor_id, info, false);
	free(info);
	*created = true;
	return ex;
}

/* The user a task runs as: its command's user, else (a task of a custom
 * executor) the executor command's, else the framework's; NULL when
 * none is given (the agent's own user then). */
static const char *task_user(const struct agent_framework *fw,
                             const struct task_info *ti, const json_t *task)
{
	const json_t *ecmd =
	    json_object_get(json_object_get(task, "executor"), "command");
	const char *euser = json_string_value(json_object_get(ecmd, "user"));

	if (ti->has_command && ti->command.user)
		return ti->command.user;
	if (!ti->has_command && euser && *euser)
		return euser;
	return fw->info.user;
}

int agent_user_check(const struct agent *a, const char *user, uid_t *uid,
                     gid_t *gid, struct err *e)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	*uid = geteuid();
	*gid = getegid();
	if (user) {
		rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
		if (!res)
			return err_set(e, "user '%s' %s", user,
			               rc ? strerror(rc)
			                  : "does not exist on this agent");
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	/* Without root the task runs as the agent's user whatever it asks
	 * for: only a root agent can run a task as root. */
	if (geteuid() == 0 && *uid == 0 && !a->cfg.allow_root_tasks)
		return err_set(e,
		               "tasks may not run as root; start the agent "
		               "with --allow-root-tasks (user '%s')",
		               user ? user : "root");
	return 0;
}

void agent_on_run_task(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	const json_t *task = json_object_get(payload, "task");
	const char *tid = mesos_json_id(task, "task_id");
	const char *name = json_string_value(json_object_get(task, "name"));
	struct agent_framework *fw;
	struct agent_executor *ex;
	struct agent_task *t;
	struct task_info ti;
	struct command_info cmd;
	struct err e = {{0}};
	const char *user;
	uid_t uid = 0;
	gid_t gid = 0;
	bool created;

	task_info_init(&ti);
	command_info_init(&cmd);
	if (!fid || mesos_id_validate(fid, "framework_id", &e) ||
	    !json_is_object(task) || !tid ||
	    mesos_id_validate(tid, "task_id", &e)) {
		log_error(AGENT_LOG, "bad RUN_TASK ignored: %s",
		          e.msg[0] ? e.msg
		                   : "run_task.framework_id, run_task.task "
		                     "and task.task_id are required");
		goto out;
	}
	fw = agent_framework_ensure(
	    a, fid, json_object_get(payload, "framework_info"), &e);
	if (!fw) {
		log_error(AGENT_LOG,
		          "framework=%s task=%s bad RUN_TASK "
		          "ignored: %s",
		          fid, tid, e.msg);
		goto out;
	}
	if (agent_task_find(fw, tid)) {
		log_warn(AGENT_LOG,
		         "framework=%s task=%s RUN_TASK for a task "
		         "this agent already has; ignored",
		         fid, tid);
		goto out;
	}
	if (fw->shutting_down) {
		log_warn(AGENT_LOG,
		         "framework=%s task=%s RUN_TASK for a "
		         "framework being shut down; ignored",
		         fid, tid);
		goto out;
	}
	if (task_info_from_json(&ti, task, &e)) {
		reject_task(fw, tid, name, TASK_ERROR, REASON_TASK_INVALID,
		            e.msg);
		goto out;
	}
	if (!ti.agent_id || strcmp(ti.agent_id, agent_id(a))) {
		char *msg =
		    xasprintf("task is for agent '%s', this is agent "
		              "'%s'",
		              ti.agent_id ? ti.agent_id : "", agent_id(a));
		reject_task(fw, tid, ti.name, TASK_ERROR, REASON_TASK_INVALID,
		            msg);
		free(msg);
		goto out;
	}
	if (resources_is_empty(&ti.resources)) {
		reject_task(fw, tid, ti.name, TASK_ERROR, REASON_TASK_INVALID,
		            "Task uses no resources");
		goto out;
	}
	user = task_user(fw, &ti, task);
	if (agent_user_check(a, user, &uid, &gid, &e)) {
		reject_task(fw, tid, ti.name, TASK_ERROR, REASON_TASK_INVALID,
		            e.msg);
		goto out;
	}
	ex = task_executor(fw, &ti, task, &cmd, &created);
	if (!ex)
		goto out;
	if (created && user) {
		ex->user = xstrdup(user);
		ex->uid = uid;
		ex->gid = gid;
	}
	t = agent_task_new(fw, ex, tid, ti.name, task);
	a->metrics.tasks_launched++;
	log_info(AGENT_LOG,
	         "framework=%s executor=%s task=%s launching "
	         "task%s",
	         fid, ex->id, tid, created ? " in a new executor" : "");
	if (checkpoint_launch(t, created, &e)) {
		char *msg =
		    xasprintf("Failed to checkpoint the task: %s", e.msg);
		log_error(AGENT_LOG, "framework=%s task=%s %s", fid, tid, msg);
		t->checkpointed = false;
		agent_update_generate(t, TASK_FAILED,
		                      REASON_CONTAINER_LAUNCH_FAILED, msg);
		free(msg);
		if (created) {
			ex->checkpointed = false;
			agent_executor_exited(ex, -1, "never started");
		}
		goto out;
	}
	if (created)
		start_executor(ex, &cmd);
	else
		agent_task_deliver(t);
out:
	command_info_release(&cmd);
	task_info_release(&ti);
	if ((fw = agent_framework_find(a, fid)))
		agent_framework_maybe_remove(fw);
}

/* ---- KILL_TASK and shutdowns --------------------------------------------- */

bool agent_executor_has_live_tasks(const struct agent_executor *ex)
{
	const struct list *pos;

	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next) {
		const struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (!task_state_is_terminal(agent_task_state(t)))
			return true;
	}
	return false;
}

void agent_on_kill_task(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	const char *tid = mesos_json_id(payload, "task_id");
	const json_t *kp = json_object_get(payload, "kill_policy");
	struct agent_framework *fw = agent_framework_find(a, fid);
	struct agent_executor *ex;
	struct agent_task *t;
	struct err e = {{0}};

	if (!fid || !tid || mesos_id_validate(tid, "task_id", &e)) {
		log_error(AGENT_LOG, "bad KILL_TASK ignored: %s",
		          e.msg[0] ? e.msg
		                   : "kill_task.framework_id and task_id "
		                     "are required");
		return;
	}
	if (!fw) {
		log_warn(AGENT_LOG,
		         "framework=%s task=%s kill for an unknown "
		         "framework ignored",
		         fid, tid);
		return;
	}
	t = agent_task_find(fw, tid);
	if (!t) {
		/* Never launched here: say so reliably, as Mesos does. */
		reject_task(fw, tid, tid, agent_lost_state(fw),
		            REASON_EXECUTOR_TERMINATED,
		            "Cannot find the task on this agent");
		return;
	}
	ex = t->executor;
	if (task_state_is_terminal(agent_task_state(t)) || !ex) {
		log_debug(AGENT_LOG, "task=%s kill of a finished task ignored",
		          tid);
		return;
	}
	t->kill_requested = true;
	free(t->kill_policy_json);
	t->kill_policy_json =
	    json_is_object(kp) ? json_dumps(kp, JSON_COMPACT) : NULL;
	log_info(AGENT_LOG, "framework=%s executor=%s task=%s killing task",
	         fid, ex->id, tid);
	if (!t->launched) {
		agent_update_generate(
		    t, TASK_KILLED, REASON_TASK_KILLED_DURING_LAUNCH,
		    "Task killed before delivery to the executor");
		if (ex->state == EXECUTOR_LAUNCHING &&
		    !agent_executor_has_live_tasks(ex))
			agent_executor_shutdown(ex, "no tasks left to run");
		return;
	}
	if (ex->state == EXECUTOR_TERMINATING)
		return; /* the shutdown kills it anyway */
	agent_task_deliver_kill(t);
}

void agent_on_shutdown_framework(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	struct agent_framework *fw = agent_framework_find(a, fid);
	struct hmap_node *n, *tmp;
	struct list *pos, *ltmp;
	size_t i;

	if (!fw) {
		log_debug(AGENT_LOG,
		          "framework=%s shutdown of an unknown "
		          "framework ignored",
		          fid ? fid : "?");
		return;
	}
	log_info(AGENT_LOG,
	         "framework=%s executors=%zu shutting down the framework", fid,
	         fw->executors.count);
	fw->shutting_down = true;
	/* The framework is gone from the master: drop its update streams
	 * (tasks without a live executor go now, the others with it). */
	HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
	{
		struct agent_task *t = container_of(n, struct agent_task, node);
		agent_timer_drop(&t->retry_timer);
		if (!t->executor || t->executor->state == EXECUTOR_TERMINATED)
			agent_task_free(t);
	}
	LIST_FOR_EACH_SAFE(pos, ltmp, &fw->dead_executors)
	{
		agent_executor_free(
		    list_entry(pos, struct agent_executor, dead_link));
	}
	HMAP_FOR_EACH_SAFE(&fw->executors, i, n, tmp)
	{
		agent_executor_shutdown(
		    container_of(n, struct agent_executor, node),
		    "the framework is shutting down");
	}
	agent_framework_maybe_remove(fw);
}

void agent_on_shutdown_executor(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	const char *eid = mesos_json_id(payload, "executor_id");
	struct agent_executor *ex =
	    agent_executor_find(agent_framework_find(a, fid), eid);

	if (!ex) {
		log_warn(AGENT_LOG,
		         "framework=%s executor=%s shutdown of an "
		         "unknown executor ignored",
		         fid ? fid : "?", eid ? eid : "?");
		return;
	}
	agent_executor_shutdown(ex, "SHUTDOWN_EXECUTOR from the master");
}

void agent_on_framework_message(struct agent *a, const json_t *payload)
{
	const char *fid = mesos_json_id(payload, "framework_id");
	const char *eid = mesos_json_id(payload, "executor_id");
	const char *data = json_string_value(json_object_get(payload, "data"));
	struct agent_executor *ex =
	    agent_executor_find(agent_framework_find(a, fid), eid);
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!data) {
		log_error(AGENT_LOG, "bad MESSAGE ignored: message.data is "
		                     "required");
		return;
	}
	if (!ex || !ex->stream) {
		log_info(AGENT_LOG,
		         "framework=%s executor=%s message dropped: "
		         "executor not subscribed",
		         fid ? fid : "?", eid ? eid : "?");
		return;
	}
	event_begin(&w, &ev, "MESSAGE", "message");
	jsonw_kstr(&w, "data", data);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)agent_executor_send(ex, &ev);
	buf_release(&ev);
}
