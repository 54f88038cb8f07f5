/*
 * agent.c: the agent's life and its link to the master.
 *
 * main reads like a table of contents: parse and check flags, prepare the
 * work directory and the machine's resources, listen (so executors adopted
 * below can resubscribe at once), recover checkpointed state, subscribe to
 * the master, run the loop.
 *
 * Master link (docs/protocol.md), driven by the subscriber:
 *
 *   (re)connect --build_subscribe: agent_info (+ id once known), the
 *        frameworks and tasks this agent has--> SUBSCRIBED{agent_id}
 *        (on_event): id persisted, every update stream's head resent
 *   events: RUN_TASK KILL_TASK ACKNOWLEDGE SHUTDOWN_FRAMEWORK
 *        SHUTDOWN_EXECUTOR MESSAGE ERROR HEARTBEAT -> agent_exec.c,
 *        agent_updates.c
 *   stream lost (on_disconnected): nothing is sent until the next
 *        SUBSCRIBED; executors keep running; the subscriber reconnects
 *        with backoff.
 *   --master zk://...: the subscriber reads the leader from ZooKeeper;
 *        a new leader closes the stream and the agent reregisters with
 *        it at once (its id and tasks in the SUBSCRIBE, as above).
 *   403 on SUBSCRIBE (on_marked_gone): the master marked this agent gone;
 *        no more resubscribing, every executor is shut down, then the
 *        agent exits 1 ("this agent was marked gone by the master").
 *
 * Background passes, started once recovery has rebuilt the executors:
 * disk/du measures live sandboxes (disk.c) and the garbage collector
 * removes the sandboxes of executors long gone (gc.c); both do their disk
 * work off the loop.
 *
 * Stopping (SIGINT/SIGTERM) leaves executors running: checkpointing ones
 * wait for the agent to come back, the others notice and exit. A disk or
 * collection job in flight is finished by the final drain of the loop and
 * its result dropped.
 */
#include "lib/compat.h"
#include "agent/agent_int.h"
#include "agent/volumes.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/subscriber.h"
#include "lib/timeutil.h"
#include "lib/version.h"
#include "lib/zk.h"

/* ---- helpers shared by the agent's files --------------------------------- */

void agent_handle_drop(uv_handle_t **h)
{
	loop_handle_drop(h);
}

uv_timer_t *agent_timer_start(struct agent *a, void *data, uv_timer_cb cb,
                              double seconds)
{
	return loop_timer_start(a->loop, data, cb, seconds);
}

const char *agent_id(const struct agent *a)
{
	return a->info.id ? a->info.id : "";
}

static void master_call_cb(struct http_response *resp, int err, void *arg)
{
	(void)arg;
	if (err) {
		log_warn(AGENT_LOG, "call to the master failed: %s",
		         strerror(-err));
		return;
	}
	if (resp->status != 202 && resp->status != 200)
		log_warn(AGENT_LOG,
		         "status=%d call refused by the master: %.200s",
		         resp->status, resp->body);
}

int agent_master_call(struct agent *a, const struct buf *body)
{
	if (!a->sub || !a->connected)
		return -ENOTCONN;
	return subscriber_call(a->sub, body->data, body->len, master_call_cb,
	                       a);
}

/* ---- master subscription ------------------------------------------------- */

/* A task as reported in SUBSCRIBE.tasks. */
static void write_reported_task(struct jsonw *w, const struct agent_task *t)
{
	jsonw_obj_begin(w);
	jsonw_kid(w, "task_id", t->id);
	jsonw_kid(w, "framework_id", t->fw->id);
	jsonw_kid(w, "executor_id", t->executor->id);
	jsonw_kstr(w, "name", t->name);
	jsonw_kstr(w, "state", task_state_name(agent_task_state(t)));
	jsonw_key(w, "resources");
	resources_write_json(w, &t->resources);
	if (t->stream.latest_json) {
		jsonw_key(w, "status");
		jsonw_raw(w, t->stream.latest_json,
		          strlen(t->stream.latest_json));
	}
	/* Mesos's Task.status_update_state: the oldest update the framework
	 * has not acknowledged yet (the agent still delivers it, in order). */
	if (t->stream.npending) {
		const struct update_stream_entry *head = list_entry(
		    t->stream.pending.next, struct update_stream_entry, link);

		jsonw_kstr(w, "status_update_state",
		           task_state_name(head->state));
	}
	jsonw_obj_end(w);
}

static void build_subscribe(struct buf *body, void *arg)
{
	struct agent *a = arg;
	struct hmap_node *fn, *ftmp, *tn, *ttmp;
	struct jsonw w;
	size_t i, k, ntasks = 0;

	jsonw_init(&w, body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "SUBSCRIBE");
	jsonw_key(&w, "subscribe");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "agent_info");
	agent_info_write_json(&w, &a->info);
	jsonw_key(&w, "frameworks");
	jsonw_arr_begin(&w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		if (!fw->shutting_down && fw->tasks.count)
			jsonw_raw(&w, fw->info_json, strlen(fw->info_json));
	}
	jsonw_arr_end(&w);
	jsonw_key(&w, "tasks");
	jsonw_arr_begin(&w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		if (fw->shutting_down)
			continue;
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
		{
			struct agent_task *t =
			    container_of(tn, struct agent_task, node);
			if (!t->executor)
				continue; /* not a task that ran here */
			write_reported_task(&w, t);
			ntasks++;
		}
	}
	jsonw_arr_end(&w);
	jsonw_kstr(&w, "version", ATOLL_VERSION);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	log_info(AGENT_LOG, "agent=%s tasks=%zu subscribing to the master",
	         a->info.id ? a->info.id : "(new)", ntasks);
}

static void on_connected(const char *stream_id, void *arg)
{
	struct agent *a = arg;

	log_debug(AGENT_LOG, "stream=%s master=%s stream open",
	          stream_id ? stream_id : "-", subscriber_endpoint(a->sub));
}

static void on_subscribed(struct agent *a, const json_t *ev)
{
	const json_t *sub = json_object_get(ev, "subscribed");
	const char *id = mesos_json_id(sub, "agent_id");
	struct err e = {{0}};
	bool first = !a->info.id;

	if (!id || mesos_id_validate(id, "agent_id", &e)) {
		log_error(AGENT_LOG,
		          "bad SUBSCRIBED from the master ignored: "
		          "%s",
		          id ? e.msg : "subscribed.agent_id missing");
		return;
	}
	if (a->info.id && strcmp(a->info.id, id)) {
		if (a->frameworks.count) {
			log_error(AGENT_LOG,
			          "agent=%s the master assigned "
			          "another id '%s' while tasks run "
			          "under ours; stopping",
			          a->info.id, id);
			a->stopping = true;
			a->exit_code = 1;
			uv_stop(a->loop);
			return;
		}
		log_warn(AGENT_LOG,
		         "agent=%s the master assigned a new id "
		         "'%s'; adopting it",
		         a->info.id, id);
		free(a->info.id);
		a->info.id = NULL;
		first = true;
	}
	if (first) {
		a->info.id = xstrdup(id);
		if (agent_ckpt_save_id(a, &e))
			log_error(AGENT_LOG,
			          "agent=%s id not persisted (a "
			          "restart registers a new agent): "
			          "%s",
			          id, e.msg);
	}
	a->connected = true;
	free(a->master_endpoint);
	a->master_endpoint = xstrdup(
	    subscriber_endpoint(a->sub) ? subscriber_endpoint(a->sub) : "");
	log_info(AGENT_LOG, "agent=%s master=%s %s", id, a->master_endpoint,
	         first ? "registered" : "reregistered");
	agent_updates_resend_all(a);
}

/* Answers the master's PING (its health check of this agent). */
static void send_pong(struct agent *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	if (!agent_id(a))
		return;
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "PONG");
	jsonw_kid(&w, "agent_id", agent_id(a));
	jsonw_obj_end(&w);
	if (agent_master_call(a, &b))
		log_debug(AGENT_LOG, "cannot answer a ping: not connected");
	buf_release(&b);
}

static void on_event(json_t *ev, const char *type, void *arg)
{
	struct agent *a = arg;

	if (a->stopping)
		return;
	if (!strcmp(type, "SUBSCRIBED")) {
		on_subscribed(a, ev);
		return;
	}
	if (!strcmp(type, "HEARTBEAT"))
		return;
	if (!strcmp(type, "PING")) {
		send_pong(a);
		return;
	}
	if (!a->connected) {
		log_warn(AGENT_LOG, "type=%s event before SUBSCRIBED ignored",
		         type);
		return;
	}
	if (!strcmp(type, "RUN_TASK"))
		agent_on_run_task(a, json_object_get(ev, "run_task"));
	else if (!strcmp(type, "KILL_TASK"))
		agent_on_kill_task(a, json_object_get(ev, "kill_task"));
	else if (!strcmp(type, "ACKNOWLEDGE"))
		agent_on_acknowledge(a, json_object_get(ev, "acknowledge"));
	else if (!strcmp(type, "SHUTDOWN_FRAMEWORK"))
		agent_on_shutdown_framework(
		    a, json_object_get(ev, "shutdown_framework"));
	else if (!strcmp(type, "SHUTDOWN_EXECUTOR"))
		agent_on_shutdown_executor(
		    a, json_object_get(ev, "shutdown_executor"));
	else if (!strcmp(type, "MESSAGE"))
		agent_on_framework_message(a, json_object_get(ev, "message"));
	else if (!strcmp(type, "CHECKPOINT_RESOURCES"))
		agent_volumes_on_checkpoint(
		    a, json_object_get(ev, "checkpoint_resources"));
	else if (!strcmp(type, "ERROR")) {
		const char *msg = json_string_value(
		    json_object_get(json_object_get(ev, "error"), "message"));
		log_error(AGENT_LOG, "error from the master: %s",
		          msg ? msg : "(no message)");
	} else {
		log_warn(AGENT_LOG,
		         "type='%.64s' unknown event from the master ignored",
		         type);
	}
}

/* Polls, after a 403, until every executor is gone (or the grace period
 * and a little more passed), then stops the loop: agent_main exits 1. */
static void gone_timer_cb(uv_timer_t *timer)
{
	struct agent *a = timer->data;
	struct hmap_node *fn, *ftmp;
	size_t i, left = 0;
	double waited;

	agent_timer_drop(&a->gone_timer);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		left += container_of(fn, struct agent_framework, node)
		            ->executors.count;
	}
	waited = timeutil_wall() - a->gone_since;
	if (left && waited < a->cfg.executor_shutdown_grace_period + 2) {
		a->gone_timer = agent_timer_start(a, a, gone_timer_cb, 0.1);
		return;
	}
	log_error(AGENT_LOG,
	          "agent=%s executors_left=%zu this agent was marked gone by "
	          "the master; exiting (remove its work directory '%s' to "
	          "start it again as a new agent)",
	          agent_id(a), left, a->cfg.work_dir);
	a->stopping = true;
	a->exit_code = 1;
	uv_stop(a->loop);
}

/*
 * The master answered SUBSCRIBE with 403: this agent's id was marked gone
 * (MARK_AGENT_GONE) and may never come back. Stop resubscribing, shut
 * every executor down (their tasks are TASK_GONE_BY_OPERATOR on the
 * master already), and exit once they are gone.
 */
static void on_marked_gone(struct agent *a, const char *message)
{
	struct hmap_node *fn, *ftmp;
	size_t i;

	if (a->gone)
		return;
	a->gone = true;
	a->gone_since = timeutil_wall();
	log_error(AGENT_LOG,
	          "agent=%s this agent was marked gone by the master: %s; "
	          "shutting its executors down",
	          agent_id(a), message && *message ? message : "403");
	subscriber_stop(a->sub);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		struct hmap_node *en, *etmp;
		size_t k;

		fw->shutting_down = true;
		HMAP_FOR_EACH_SAFE(&fw->executors, k, en, etmp)
		{
			agent_executor_shutdown(
			    container_of(en, struct agent_executor, node),
			    "this agent was marked gone by the master");
		}
	}
	a->gone_timer = agent_timer_start(a, a, gone_timer_cb, 0.1);
}

static void on_disconnected(int err, int http_status, const char *message,
                            void *arg)
{
	struct agent *a = arg;

	if (http_status == 403) {
		a->connected = false;
		on_marked_gone(a, message);
		return;
	}
	if (a->connected || http_status)
		log_warn(
		    AGENT_LOG, "status=%d master stream lost: %s", http_status,
		    message && *message ? message
					: (err ? strerror(-err) : "closed"));
	a->connected = false;
}

/* ---- timers and signals -------------------------------------------------- */

static void heartbeat_cb(uv_timer_t *timer)
{
	struct agent *a = timer->data;
	static const char hb[] = "{\"type\":\"HEARTBEAT\"}";
	struct buf ev = BUF_INIT;
	struct hmap_node *fn, *ftmp, *en, *etmp;
	size_t i, k;

	buf_add(&ev, hb, sizeof(hb) - 1);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, k, en, etmp)
		{
			struct agent_executor *ex =
			    container_of(en, struct agent_executor, node);
			if (ex->stream)
				(void)agent_executor_send(ex, &ev);
		}
	}
	buf_release(&ev);
}

static void reap_cb(uv_timer_t *timer)
{
	agent_reap_adopted(timer->data);
}

static void stop_cb(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	log_info(AGENT_LOG, "signal %d: stopping (executors keep running)",
	         signum);
	a->stopping = true;
	uv_stop(a->loop);
}

/* ---- start-up ------------------------------------------------------------ */

/* Makes the work directory exist and absolute (executors get paths). */
static int prepare_work_dir(struct agent *a, struct err *e)
{
	char real[PATH_MAX];
	int rc;

	if (!a->cfg.work_dir)
		a->cfg.work_dir =
		    agent_default_work_dir(geteuid(), getenv("HOME"));
	if ((rc = agent_mkdirs(a->cfg.work_dir)))
		return err_set(e, "--work-dir: cannot create '%s': %s",
		               a->cfg.work_dir, strerror(-rc));
	if (!realpath(a->cfg.work_dir, real))
		return err_set(e, "--work-dir: cannot resolve '%s': %s",
		               a->cfg.work_dir, strerror(errno));
	free(a->cfg.work_dir);
	a->cfg.work_dir = xstrdup(real);
	a->meta_dir = xasprintf("%s/meta", real);
	return 0;
}

static void read_machine_ids(struct agent *a)
{
	char exe[PATH_MAX];
	struct buf b = BUF_INIT;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		a->exe_path = xstrdup(exe);
	} else {
		a->exe_path = xstrdup("/proc/self/exe");
	}
	if (agent_read_file("/proc/sys/kernel/random/boot_id", &b) == 0) {
		while (b.len && (b.data[b.len - 1] == '\n'))
			b.data[--b.len] = '\0';
		a->boot_id = buf_detach(&b, NULL);
	} else {
		a->boot_id = xstrdup("");
	}
	buf_release(&b);
}

static int prepare_info(struct agent *a, struct err *e)
{
	struct agent_machine mach;
	int rc;

	if (!a->cfg.hostname) {
		char host[256];
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		a->cfg.hostname = xstrdup(host);
	}
	a->info.hostname = xstrdup(a->cfg.hostname);
	if ((rc = agent_machine_detect(&mach, a->cfg.work_dir, e)))
		return rc;
	if ((rc = agent_resources_build(&a->info.resources, a->cfg.resources,
	                                &mach, e)))
		return rc;
	/* Reservations and volumes made by the master survive restarts. */
	if ((rc = agent_volumes_recover(a, e)))
		return rc;
	if (a->cfg.attributes && *a->cfg.attributes &&
	    attributes_parse_text(&a->info.attributes, a->cfg.attributes, e))
		return err_prefix(e, "--attributes");
	return agent_parse_masters(a->cfg.master, &a->masters, &a->nmasters, e);
}

static int start_http(struct agent *a, struct err *e)
{
	struct http_server_opts hopts = {
	    .ip = a->cfg.ip,
	    .port = (int)a->cfg.port,
	    .max_body_bytes = a->cfg.max_body_bytes,
	    .idle_timeout_ms = (uint64_t)(a->cfg.http_idle_timeout * 1000),
	};
	int rc;

	a->http = http_server_new(a->loop, &hopts, agent_http_handler, a);
	if ((rc = http_server_listen(a->http, e)))
		return rc;
	a->info.port = http_server_port(a->http);
	a->address = xasprintf("%s:%d", a->cfg.ip, a->info.port);
	a->pid = xasprintf("slave(1)@%s", a->address);
	return 0;
}

static void start_master_link(struct agent *a)
{
	struct subscriber_opts so = {
	    .endpoints = (const char *const *)a->masters,
	    .nendpoints = a->nmasters,
	    .path = AGENT_MASTER_API,
	    .build_subscribe = build_subscribe,
	    .on_connected = on_connected,
	    .on_event = on_event,
	    .on_disconnected = on_disconnected,
	    .backoff_min = 0.1,
	    .backoff_max = 5,
	};

	/* agent_parse_masters() gives a zk:// --master as its one item:
	 * the subscriber then follows the leader found in ZooKeeper, and
	 * reregisters with each new one. */
	if (a->nmasters == 1 && zk_url_is_zk(a->masters[0]))
		so.zk = a->masters[0];
	a->sub = subscriber_new(a->loop, &so, a);
	subscriber_start(a->sub);
}

static struct agent *agent_new(uv_loop_t *loop)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->start_time = timeutil_wall();
	agent_info_init(&a->info);
	hmap_init(&a->frameworks);
	list_init(&a->completed);
	gc_init(&a->gc);
	uv_timer_init(loop, &a->heartbeat_timer);
	a->heartbeat_timer.data = a;
	uv_timer_init(loop, &a->reap_timer);
	a->reap_timer.data = a;
	uv_signal_init(loop, &a->sigint);
	a->sigint.data = a;
	uv_signal_init(loop, &a->sigterm);
	a->sigterm.data = a;
	return a;
}

/* Closes every handle, drains the loop, then frees every object; on-disk
 * state is left alone (a->stopping). */
static void agent_free(struct agent *a)
{
	struct hmap_node *fn, *ftmp, *n, *tmp;
	struct list *pos, *ltmp;
	size_t i, k;

	a->stopping = true;
	/* Executor streams are abandoned to the server, which closes them. */
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, k, n, tmp)
		{
			container_of(n, struct agent_executor, node)->stream =
			    NULL;
		}
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, n, tmp)
		{
			agent_timer_drop(
			    &container_of(n, struct agent_task, node)
				 ->retry_timer);
		}
	}
	if (a->http)
		http_server_close(a->http);
	a->http = NULL;
	if (a->sub) {
		subscriber_stop(a->sub);
		subscriber_free(a->sub);
		a->sub = NULL;
	}
	agent_timer_drop(&a->gone_timer);
	agent_disk_stop(a);
	agent_gc_stop(a);
	uv_close((uv_handle_t *)&a->heartbeat_timer, NULL);
	uv_close((uv_handle_t *)&a->reap_timer, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_run(a->loop, UV_RUN_NOWAIT);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, n, tmp)
		{
			agent_task_free(
			    container_of(n, struct agent_task, node));
		}
		HMAP_FOR_EACH_SAFE(&fw->executors, k, n, tmp)
		{
			agent_executor_free(
			    container_of(n, struct agent_executor, node));
		}
		LIST_FOR_EACH_SAFE(pos, ltmp, &fw->dead_executors)
		{
			agent_executor_free(
			    list_entry(pos, struct agent_executor, dead_link));
		}
		agent_framework_maybe_remove(fw);
	}
	uv_run(a->loop, UV_RUN_DEFAULT);
	cgroups_remove_root(&a->cgroups);
	LIST_FOR_EACH_SAFE(pos, ltmp, &a->completed)
	{
		agent_completed_free(
		    list_entry(pos, struct agent_completed_task, link));
	}
	gc_release(&a->gc);
	hmap_release(&a->frameworks);
	agent_strv_free(a->masters, a->nmasters);
	agent_info_release(&a->info);
	agent_config_release(&a->cfg);
	free(a->address);
	free(a->pid);
	free(a->exe_path);
	free(a->boot_id);
	free(a->meta_dir);
	free(a->master_endpoint);
	free(a);
}

int agent_main(int argc, char **argv)
{
	uv_loop_t loop;
	struct agent *a;
	struct err e = {{0}};
	enum log_level lvl;
	int rc;

	uv_loop_init(&loop);
	a = agent_new(&loop);
	rc = agent_config_parse(&a->cfg, argc, argv, &e);
	if (rc == 1) {
		agent_config_usage(stdout);
		rc = 0;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "atoll agent: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (log_parse_level(a->cfg.log_level, &lvl)) {
		fprintf(stderr,
		        "atoll agent: --log-level: expected error, "
		        "warn, info or debug, got '%s'\n",
		        a->cfg.log_level);
		rc = 2;
		goto out;
	}
	log_set_level(lvl);
	if (agent_isolation_parse(a->cfg.isolation, &a->iso, &e) ||
	    ((a->iso.pid_ns || a->iso.private_tmp) && geteuid() != 0 &&
	     err_set(&e,
	             "--isolation=%s: namespaces need the agent to run "
	             "as root",
	             a->cfg.isolation))) {
		fprintf(stderr, "atoll agent: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	read_machine_ids(a);
	if (prepare_work_dir(a, &e) || prepare_info(a, &e)) {
		fprintf(stderr, "atoll agent: %s\n", e.msg);
		rc = 2;
		goto out;
	}
	if (start_http(a, &e) || agent_recover(a, &e)) {
		fprintf(stderr, "atoll agent: %s\n", e.msg);
		rc = 1;
		goto out;
	}
	start_master_link(a);
	agent_disk_start(a);
	agent_gc_start(a);
	uv_timer_start(&a->heartbeat_timer, heartbeat_cb,
	               AGENT_EXECUTOR_HEARTBEAT_MS,
	               AGENT_EXECUTOR_HEARTBEAT_MS);
	uv_timer_start(&a->reap_timer, reap_cb, AGENT_REAP_INTERVAL_MS,
	               AGENT_REAP_INTERVAL_MS);
	uv_signal_start(&a->sigint, stop_cb, SIGINT);
	uv_signal_start(&a->sigterm, stop_cb, SIGTERM);
	if (a->cfg.port_file &&
	    http_server_write_port_file(a->http, a->cfg.port_file, &e)) {
		fprintf(stderr, "atoll agent: --port-file: %s\n", e.msg);
		rc = 1;
		goto out;
	}
	log_info(AGENT_LOG,
	         "agent=%s listening on %s work_dir='%s' "
	         "master=%s",
	         a->info.id ? a->info.id : "(new)", a->address, a->cfg.work_dir,
	         a->cfg.master);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = a->exit_code;
out:
	agent_free(a);
	if (uv_loop_close(&loop))
		log_warn(AGENT_LOG, "event loop closed with open handles");
	return rc;
}
