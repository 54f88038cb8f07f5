/*
 * hello_framework.c: a complete small framework on Atoll's C scheduler
 * library (include/atoll/scheduler.h). It runs --tasks N copies of --cmd,
 * each with --cpus and --mem, packing as many tasks into each offer as fit,
 * prints every status update on one line, tears itself down and exits 0
 * once every task has FINISHED (non-zero if any failed, on an error, or
 * after --timeout).
 *
 *   hello_framework --master 127.0.0.1:5050 --tasks 5 --cmd 'echo hi'
 *
 * Test switches: --kill-after-running kills each task once it is RUNNING
 * and then expects TASK_KILLED for all; --reconcile asks the master for the
 * state of every task once all are launched and prints the answers.
 *
 * Robustness: offers are used or declined at once (so a RESCIND never
 * leaves anything to undo); a task lost because its offer went away
 * (REASON_INVALID_OFFERS) is launched again, with a REVIVE since unused
 * offers were declined; after a resubscription the tasks still running are
 * reconciled; a duplicate update never moves a task backwards, and a task's
 * first terminal state is final.
 *
 * Resource arithmetic is exact (milli-units, model/resources.h): each task
 * takes its cpus and mem out of the offer's own resource entries, keeping
 * their reservation and allocation roles, so the task resources are always
 * a subset of the offer.
 *
 * Exit codes: 0 all tasks as expected, 1 some task ended otherwise, 2 bad
 * flags, 3 timeout or an error from the master.
 */
#include "lib/compat.h"

#include "model/resources.h"

/* ---- offer packing (pure; unit-tested in tests/unit) ---------------- */

/*
 * Moves amount milli-units of the scalar resource name from avail into
 * out, taking it from avail's entries in order and keeping each piece's
 * role and allocation role. Returns 0, or -ENOSPC (nothing moved) when
 * avail holds less than amount.
 */
static int hello_take_scalar(struct resources *avail, const char *name,
                             int64_t amount, struct resources *out)
{
	struct resources take;
	int64_t left = amount;

	if (amount <= 0)
		return 0;
	resources_init(&take);
	for (size_t i = 0; i < avail->n && left > 0; i++) {
		const struct resource *r = &avail->v[i];
		struct resource *p;
		int64_t t;

		if (r->type != RESOURCE_SCALAR || strcmp(r->name, name) ||
		    r->scalar <= 0)
			continue;
		t = MIN(left, r->scalar);
		ALLOC_GROW(take.v, take.n + 1, take.cap);
		p = &take.v[take.n++];
		memset(p, 0, sizeof(*p));
		p->name = xstrdup(r->name);
		p->type = RESOURCE_SCALAR;
		p->scalar = t;
		p->role = xstrdup(r->role);
		p->alloc_role = r->alloc_role ? xstrdup(r->alloc_role) : NULL;
		left -= t;
	}
	if (left > 0) {
		resources_release(&take);
		return -ENOSPC;
	}
	/* Every piece came out of avail: the subtraction cannot fail. */
	BUG_ON(resources_subtract(avail, &take));
	resources_add(out, &take);
	resources_release(&take);
	return 0;
}

/*
 * Carves up to want tasks of cpus and mem (milli-units) out of offer.
 * tasks[0..want) must be initialised and empty; tasks[i] receives the
 * resources of task i. Returns the number of tasks that fit.
 */
static size_t hello_pack(const struct resources *offer, int64_t cpus,
                         int64_t mem, size_t want, struct resources *tasks)
{
	struct resources avail;
	size_t n = 0;

	resources_copy(&avail, offer);
	while (n < want) {
		struct resources t;

		resources_init(&t);
		if (hello_take_scalar(&avail, "cpus", cpus, &t) ||
		    hello_take_scalar(&avail, "mem", mem, &t) ||
		    resources_is_empty(&t)) {
			resources_release(&t);
			break;
		}
		tasks[n++] = t;
	}
	resources_release(&avail);
	return n;
}

#ifndef HELLO_NO_MAIN

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <uv.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "model/mesos.h"

#define HELLO_LONG_REFUSE 3600.0 /* nothing left to launch */
#define HELLO_SHORT_REFUSE 5.0   /* still looking for room */
#define HELLO_MAX_RELAUNCH 3     /* per task, after lost offers */
#define HELLO_TEARDOWN_WAIT_MS 10000

enum hello_exit {
	HELLO_OK = 0,
	HELLO_TASKS_FAILED = 1,
	HELLO_USAGE = 2,
	HELLO_ERROR = 3,
};

struct hello_config {
	char *master;
	long tasks;
	char *cmd;
	double cpus;
	double mem;
	char *name;
	char *role;
	char *user;
	double timeout;
	double failover_timeout;
	bool kill_after_running;
	bool reconcile;
	bool checkpoint;
	char *log_level;
};

static const struct flag_def hello_flags[] = {
    FLAG_DEF(struct hello_config, master, "master", FLAG_STRING,
             "127.0.0.1:5050", 0, 0, "master host:port (several: a,b)"),
    FLAG_DEF(struct hello_config, tasks, "tasks", FLAG_INT, "5", 1, 100000,
             "number of tasks to run"),
    FLAG_DEF(struct hello_config, cmd, "cmd", FLAG_STRING,
             "echo hello from $MESOS_TASK_ID", 0, 0,
             "shell command of each task"),
    FLAG_DEF(struct hello_config, cpus, "cpus", FLAG_DOUBLE, "0.1", 0.001, 1e6,
             "cpus per task"),
    FLAG_DEF(struct hello_config, mem, "mem", FLAG_DOUBLE, "32", 1, 1e9,
             "memory per task (MB)"),
    FLAG_DEF(struct hello_config, name, "name", FLAG_STRING, "hello-framework",
             0, 0, "framework name"),
    FLAG_DEF(struct hello_config, role, "role", FLAG_STRING, "*", 0, 0,
             "role to subscribe with"),
    FLAG_DEF(struct hello_config, user, "user", FLAG_STRING, NULL, 0, 0,
             "user the tasks run as (default: the current user)"),
    FLAG_DEF(struct hello_config, timeout, "timeout", FLAG_DURATION, "120secs",
             0, 0, "give up after this long (0 = never)"),
    FLAG_DEF(struct hello_config, failover_timeout, "failover-timeout",
             FLAG_DURATION, "60secs", 0, 0,
             "how long the master keeps the tasks while we reconnect"),
    FLAG_DEF(struct hello_config, kill_after_running, "kill-after-running",
             FLAG_BOOL, "false", 0, 0,
             "kill each task once RUNNING and expect TASK_KILLED"),
    FLAG_DEF(struct hello_config, reconcile, "reconcile", FLAG_BOOL, "false", 0,
             0, "reconcile explicitly once all tasks are launched"),
    FLAG_DEF(struct hello_config, checkpoint, "checkpoint", FLAG_BOOL, "false",
             0, 0, "FrameworkInfo.checkpoint: tasks survive an agent restart"),
    FLAG_DEF(struct hello_config, log_level, "log-level", FLAG_STRING, "warn",
             0, 0, "library log level: error, warn, info, debug"),
};

struct hello_task {
	char id[32];
	char *agent_id;
	char *hostname;
	bool launched; /* sent in an ACCEPT */
	bool has_state;
	enum task_state state;
	bool terminal;
	bool seen_running;
	bool kill_sent;
	int relaunches;
};

struct hello {
	uv_loop_t *loop;
	struct hello_config cfg;
	struct atoll_scheduler *sched;
	struct hello_task *tasks;
	size_t ntasks;
	size_t unlaunched;
	size_t nterminal;
	bool reconciled;
	bool finishing;
	int exit_code;
	uv_timer_t timeout_timer, quit_timer, teardown_timer;
	uv_signal_t sigint, sigterm;
};

static void hello_finish(struct hello *h, int code, const char *why);

static struct hello_task *hello_task_find(struct hello *h, const char *id)
{
	for (size_t i = 0; i < h->ntasks; i++)
		if (!strcmp(h->tasks[i].id, id))
			return &h->tasks[i];
	return NULL;
}

/* ---- launching ----------------------------------------------------- */

static json_t *hello_task_info(struct hello *h, const struct hello_task *t,
                               const char *agent_id,
                               const struct resources *res)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *ti;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "name", t->id);
	jsonw_kid(&w, "task_id", t->id);
	jsonw_kid(&w, "agent_id", agent_id);
	jsonw_key(&w, "resources");
	resources_write_json(&w, res);
	jsonw_key(&w, "command");
	jsonw_obj_begin(&w);
	jsonw_kbool(&w, "shell", true);
	jsonw_kstr(&w, "value", h->cfg.cmd);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	ti = json_loadb(b.data, b.len, 0, NULL);
	BUG_ON(!ti);
	buf_release(&b);
	return ti;
}

static void hello_decline(struct hello *h, const char *offer_id, double refuse)
{
	if (atoll_scheduler_decline(h->sched, &offer_id, 1, refuse))
		printf("cannot decline offer %s: not subscribed\n", offer_id);
}

static void hello_reconcile(struct hello *h, bool only_running)
{
	json_t *tasks = json_array();

	for (size_t i = 0; i < h->ntasks; i++) {
		const struct hello_task *t = &h->tasks[i];
		json_t *o;

		if (!t->launched || (only_running && t->terminal))
			continue;
		o = json_pack("{s:{s:s}}", "task_id", "value", t->id);
		if (t->agent_id)
			json_object_set_new(
			    o, "agent_id",
			    json_pack("{s:s}", "value", t->agent_id));
		json_array_append_new(tasks, o);
	}
	if (json_array_size(tasks) == 0) {
		json_decref(tasks);
		return;
	}
	printf("reconciling %zu tasks\n", json_array_size(tasks));
	if (atoll_scheduler_reconcile(h->sched, tasks))
		printf("cannot reconcile: not subscribed\n");
}

/* Launches what fits of the unlaunched tasks on one offer. */
static void hello_use_offer(struct hello *h, json_t *offer)
{
	const char *oid = json_string_value(
	    json_object_get(json_object_get(offer, "id"), "value"));
	const char *aid = json_string_value(
	    json_object_get(json_object_get(offer, "agent_id"), "value"));
	const char *host =
	    json_string_value(json_object_get(offer, "hostname"));
	struct resources res, *per = NULL;
	struct err e = {{0}};
	json_t *infos;
	size_t n, k = 0, nper = 0;

	if (!oid || !aid) {
		printf("offer without id or agent_id ignored\n");
		return;
	}
	if (h->finishing || h->unlaunched == 0) {
		hello_decline(h, oid, HELLO_LONG_REFUSE);
		return;
	}
	resources_init(&res);
	if (resources_from_json(&res, json_object_get(offer, "resources"),
	                        &e)) {
		printf("offer %s: bad resources (%s); declined\n", oid, e.msg);
		hello_decline(h, oid, HELLO_SHORT_REFUSE);
		goto out;
	}
	nper = h->unlaunched;
	per = xcalloc(nper, sizeof(*per));
	for (size_t i = 0; i < nper; i++)
		resources_init(&per[i]);
	n = hello_pack(&res, res_from_double(h->cfg.cpus),
	               res_from_double(h->cfg.mem), nper, per);
	if (n == 0) {
		hello_decline(h, oid, HELLO_SHORT_REFUSE);
		goto out;
	}
	infos = json_array();
	for (size_t i = 0; i < h->ntasks && k < n; i++) {
		struct hello_task *t = &h->tasks[i];
		if (t->launched)
			continue;
		json_array_append_new(infos,
		                      hello_task_info(h, t, aid, &per[k++]));
		t->launched = true;
		t->has_state = false;
		free(t->agent_id);
		free(t->hostname);
		t->agent_id = xstrdup(aid);
		t->hostname = xstrdup(host ? host : "?");
		h->unlaunched--;
	}
	printf("offer %s on %s: launching %zu task(s)\n", oid,
	       host ? host : aid, n);
	if (atoll_scheduler_launch(h->sched, oid, infos,
	                           h->unlaunched ? HELLO_SHORT_REFUSE
	                                         : HELLO_LONG_REFUSE)) {
		printf("cannot launch: not subscribed\n");
		for (size_t i = 0; i < h->ntasks; i++) {
			struct hello_task *t = &h->tasks[i];
			if (t->launched && !t->has_state &&
			    streq(t->agent_id, aid)) {
				t->launched = false;
				h->unlaunched++;
			}
		}
		goto out;
	}
	if (h->cfg.reconcile && h->unlaunched == 0 && !h->reconciled) {
		h->reconciled = true;
		hello_reconcile(h, false);
	}
out:
	for (size_t i = 0; i < nper; i++)
		resources_release(&per[i]);
	free(per);
	resources_release(&res);
}

/* ---- scheduler callbacks ------------------------------------------- */

static void hello_subscribed(struct atoll_scheduler *s, const char *fid,
                             double heartbeat, void *arg)
{
	struct hello *h = arg;
	bool again = false;

	(void)s;
	(void)heartbeat;
	for (size_t i = 0; i < h->ntasks; i++)
		if (h->tasks[i].launched)
			again = true;
	printf("subscribed as framework %s\n", fid);
	if (!again)
		return;
	/* A resubscription: offers were rescinded, updates may have been
	 * missed. Ask for the tasks we still wait for, and for offers if
	 * some task still needs one. */
	hello_reconcile(h, true);
	if (h->unlaunched && atoll_scheduler_revive(h->sched, NULL, 0))
		printf("cannot revive: not subscribed\n");
}

static void hello_offers(struct atoll_scheduler *s, json_t *offers, void *arg)
{
	struct hello *h = arg;
	json_t *offer;
	size_t i;

	(void)s;
	json_array_foreach(offers, i, offer)
	{
		hello_use_offer(h, offer);
	}
}

static void hello_rescind(struct atoll_scheduler *s, const char *offer_id,
                          void *arg)
{
	(void)s;
	(void)arg;
	/* Offers are used or declined as they arrive: nothing is held. */
	printf("offer %s rescinded\n", offer_id);
}

/* Prints one update line, e.g. "task hello-3 TASK_RUNNING on agent a1
 * (host1)", with the reason, the message and note appended. */
static void hello_print_update(const struct task_status *st,
                               const struct hello_task *t, const char *note)
{
	const char *reason = task_reason_name(st->reason);

	printf("task %s %s on agent %s (%s)%s%s%s%s%s\n", st->task_id,
	       task_state_name(st->state), st->agent_id ? st->agent_id : "?",
	       t && t->hostname ? t->hostname : "?", reason ? " " : "",
	       reason ? reason : "", st->message ? ": " : "",
	       st->message ? st->message : "", note);
}

static bool hello_expected(const struct hello *h, enum task_state st)
{
	return st == (h->cfg.kill_after_running ? TASK_KILLED : TASK_FINISHED);
}

static void hello_check_done(struct hello *h)
{
	size_t good = 0;

	if (h->nterminal < h->ntasks)
		return;
	for (size_t i = 0; i < h->ntasks; i++)
		if (hello_expected(h, h->tasks[i].state))
			good++;
	hello_finish(h, good == h->ntasks ? HELLO_OK : HELLO_TASKS_FAILED,
	             "all tasks ended");
}

static void hello_update(struct atoll_scheduler *s, json_t *status, void *arg)
{
	struct hello *h = arg;
	struct task_status st;
	struct err e = {{0}};
	struct hello_task *t;
	const char *note = "";

	(void)s;
	task_status_init(&st);
	if (task_status_from_json(&st, status, &e)) {
		printf("bad update ignored: %s\n", e.msg);
		goto out;
	}
	t = hello_task_find(h, st.task_id);
	if (!t) {
		hello_print_update(&st, NULL, " (not our task; ignored)");
		goto out;
	}
	if (!t->launched) {
		/* Waiting to be launched again: this is about the attempt
		 * that was lost (e.g. a reconciliation answer). */
		hello_print_update(&st, t,
		                   " (stale: task not launched; "
		                   "ignored)");
		goto out;
	}
	if (st.reason == REASON_RECONCILIATION)
		note = " (reconciliation)";
	else if (t->has_state && t->state == st.state)
		note = " (duplicate)";
	if (t->terminal) {
		hello_print_update(&st, t,
		                   t->state == st.state
		                       ? " (duplicate)"
		                       : " (task already ended; ignored)");
		goto out;
	}
	if ((st.state == TASK_LOST || st.state == TASK_DROPPED) &&
	    st.reason == REASON_INVALID_OFFERS && !t->seen_running &&
	    t->relaunches < HELLO_MAX_RELAUNCH) {
		/* The offer went away under us: the task never started. */
		hello_print_update(&st, t, " (offer gone; launching again)");
		t->relaunches++;
		t->launched = false;
		t->has_state = false;
		h->unlaunched++;
		if (atoll_scheduler_revive(h->sched, NULL, 0))
			printf("cannot revive: not subscribed\n");
		goto out;
	}
	hello_print_update(&st, t, note);
	t->has_state = true;
	t->state = st.state;
	if (st.agent_id && !streq(st.agent_id, t->agent_id)) {
		free(t->agent_id);
		t->agent_id = xstrdup(st.agent_id);
	}
	if (st.state == TASK_RUNNING) {
		t->seen_running = true;
		if (h->cfg.kill_after_running && !t->kill_sent) {
			t->kill_sent = true;
			printf("killing task %s\n", t->id);
			if (atoll_scheduler_kill(h->sched, t->id, t->agent_id))
				printf("cannot kill: not subscribed\n");
		}
	}
	if (task_state_is_terminal(st.state)) {
		t->terminal = true;
		h->nterminal++;
		hello_check_done(h);
	}
out:
	task_status_release(&st);
}

static void hello_failure(struct atoll_scheduler *s, const char *agent_id,
                          const char *executor_id, int status, void *arg)
{
	(void)s;
	(void)arg;
	if (executor_id)
		printf("executor %s on agent %s exited (status %d)\n",
		       executor_id, agent_id ? agent_id : "?", status);
	else
		printf("agent %s lost\n", agent_id ? agent_id : "?");
}

static void hello_error(struct atoll_scheduler *s, const char *message,
                        void *arg)
{
	struct hello *h = arg;

	(void)s;
	if (h->finishing)
		return; /* e.g. "framework removed" after our TEARDOWN */
	printf("error from the master: %s\n", message);
	hello_finish(h, HELLO_ERROR, "error");
}

static void hello_disconnected(struct atoll_scheduler *s, void *arg)
{
	(void)s;
	(void)arg;
	printf("disconnected from the master; reconnecting\n");
}

/* ---- ending -------------------------------------------------------- */

static void hello_quit_cb(uv_timer_t *timer)
{
	struct hello *h = container_of(timer, struct hello, quit_timer);

	/* Not inside a library callback here, so the scheduler may go: free
	 * (not just stop) also closes its call connection, and the loop can
	 * end. */
	atoll_scheduler_free(h->sched);
	h->sched = NULL;
	uv_close((uv_handle_t *)&h->timeout_timer, NULL);
	uv_close((uv_handle_t *)&h->quit_timer, NULL);
	uv_close((uv_handle_t *)&h->teardown_timer, NULL);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
}

/* Leaves the loop soon, outside of any library callback. */
static void hello_quit(struct hello *h)
{
	uv_timer_stop(&h->teardown_timer);
	if (!uv_is_closing((uv_handle_t *)&h->quit_timer))
		uv_timer_start(&h->quit_timer, hello_quit_cb, 0, 0);
}

static void hello_teardown_done(int status, const char *body, void *arg)
{
	struct hello *h = arg;

	if (status >= 200 && status < 300)
		printf("framework torn down\n");
	else
		printf("teardown failed (HTTP %d): %s\n", status, body);
	hello_quit(h);
}

static void hello_teardown_timer_cb(uv_timer_t *timer)
{
	struct hello *h = container_of(timer, struct hello, teardown_timer);

	printf("no answer to TEARDOWN; exiting\n");
	hello_quit(h);
}

static void hello_summary(const struct hello *h)
{
	size_t count[TASK_STATE_COUNT] = {0};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < h->ntasks; i++)
		if (h->tasks[i].has_state)
			count[h->tasks[i].state]++;
	for (int st = 0; st < TASK_STATE_COUNT; st++)
		if (count[st])
			buf_addf(&b, " %s=%zu",
			         task_state_name((enum task_state)st),
			         count[st]);
	printf("summary: %zu of %zu tasks ended;%s%s\n", h->nterminal,
	       h->ntasks, b.len ? b.data : " no updates",
	       h->unlaunched ? " (some never launched)" : "");
	buf_release(&b);
}

static void hello_finish(struct hello *h, int code, const char *why)
{
	if (h->finishing)
		return;
	h->finishing = true;
	h->exit_code = code;
	printf("finishing: %s\n", why);
	hello_summary(h);
	if (code == HELLO_ERROR && !atoll_scheduler_is_subscribed(h->sched)) {
		hello_quit(h);
		return;
	}
	if (atoll_scheduler_call(h->sched, "TEARDOWN", NULL,
	                         hello_teardown_done, h)) {
		printf("not subscribed: cannot tear down\n");
		hello_quit(h);
		return;
	}
	uv_timer_start(&h->teardown_timer, hello_teardown_timer_cb,
	               HELLO_TEARDOWN_WAIT_MS, 0);
}

static void hello_timeout_cb(uv_timer_t *timer)
{
	struct hello *h = container_of(timer, struct hello, timeout_timer);
	char why[64];

	snprintf(why, sizeof(why), "timed out after %gs", h->cfg.timeout);
	hello_finish(h, HELLO_ERROR, why);
}

static void hello_signal_cb(uv_signal_t *sig, int signum)
{
	struct hello *h = sig->data;

	hello_finish(h, HELLO_ERROR,
	             signum == SIGINT ? "interrupted" : "terminated");
}

/* ---- setup --------------------------------------------------------- */

static char *hello_framework_info(const struct hello_config *cfg)
{
	const char *user = cfg->user;
	struct passwd *pw;
	json_t *fi;
	char *text;

	if (!user) {
		pw = getpwuid(geteuid());
		user = pw ? pw->pw_name : getenv("USER");
	}
	fi = json_pack("{s:s,s:s,s:[s],s:f,s:b,s:[{s:s},{s:s}]}", "user",
	               user ? user : "nobody", "name", cfg->name, "roles",
	               cfg->role, "failover_timeout", cfg->failover_timeout,
	               "checkpoint", cfg->checkpoint, "capabilities", "type",
	               "MULTI_ROLE", "type", "TASK_KILLING_STATE");
	BUG_ON(!fi);
	text = json_dumps(fi, JSON_COMPACT);
	json_decref(fi);
	return text;
}

static int hello_parse_flags(struct hello_config *cfg, int argc, char **argv)
{
	struct err e = {{0}};
	enum log_level lvl;
	int rc;

	rc = flags_parse(hello_flags, ARRAY_SIZE(hello_flags), cfg, argc - 1,
	                 argv + 1, NULL, &e);
	if (rc == 1) {
		flags_usage(stdout, "hello_framework",
		            "Runs --tasks copies of --cmd on an Atoll (or "
		            "Mesos) cluster through the C scheduler library.",
		            hello_flags, ARRAY_SIZE(hello_flags));
		return 1;
	}
	if (rc) {
		fprintf(stderr, "hello_framework: %s\n", e.msg);
		return -EINVAL;
	}
	if (log_parse_level(cfg->log_level, &lvl)) {
		fprintf(stderr,
		        "hello_framework: --log-level: expected "
		        "error, warn, info or debug, got '%s'\n",
		        cfg->log_level);
		return -EINVAL;
	}
	log_set_level(lvl);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct atoll_scheduler_callbacks cb = {
	    .subscribed = hello_subscribed,
	    .offers = hello_offers,
	    .rescind = hello_rescind,
	    .update = hello_update,
	    .failure = hello_failure,
	    .error = hello_error,
	    .disconnected = hello_disconnected,
	};
	struct atoll_scheduler_opts opts = {0};
	struct hello h = {0};
	uv_loop_t loop;
	const char *why = NULL;
	char *fi = NULL;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	rc = hello_parse_flags(&h.cfg, argc, argv);
	if (rc) {
		flags_release(hello_flags, ARRAY_SIZE(hello_flags), &h.cfg);
		return rc == 1 ? HELLO_OK : HELLO_USAGE;
	}
	uv_loop_init(&loop);
	h.loop = &loop;
	h.ntasks = (size_t)h.cfg.tasks;
	h.unlaunched = h.ntasks;
	h.tasks = xcalloc(h.ntasks, sizeof(*h.tasks));
	for (size_t i = 0; i < h.ntasks; i++)
		snprintf(h.tasks[i].id, sizeof(h.tasks[i].id), "hello-%zu",
		         i + 1);

	fi = hello_framework_info(&h.cfg);
	opts.master = h.cfg.master;
	opts.framework_info = fi;
	opts.auto_acknowledge = true;
	opts.stop_on_refusal = true;
	h.sched = atoll_scheduler_new(&loop, &opts, &cb, &h, &why);
	if (!h.sched) {
		fprintf(stderr, "hello_framework: %s\n", why);
		rc = HELLO_USAGE;
		goto out;
	}
	/* From here on the loop runs until hello_quit_cb() freed the
	 * scheduler and closed every handle. */
	uv_timer_init(&loop, &h.timeout_timer);
	uv_timer_init(&loop, &h.quit_timer);
	uv_timer_init(&loop, &h.teardown_timer);
	uv_signal_init(&loop, &h.sigint);
	uv_signal_init(&loop, &h.sigterm);
	h.sigint.data = &h;
	h.sigterm.data = &h;
	uv_signal_start(&h.sigint, hello_signal_cb, SIGINT);
	uv_signal_start(&h.sigterm, hello_signal_cb, SIGTERM);
	if (h.cfg.timeout > 0)
		uv_timer_start(&h.timeout_timer, hello_timeout_cb,
		               (uint64_t)(h.cfg.timeout * 1000.0), 0);

	printf("hello_framework: %zu task(s) of '%s' (cpus %g, mem %g) via "
	       "%s\n",
	       h.ntasks, h.cfg.cmd, h.cfg.cpus, h.cfg.mem, h.cfg.master);
	atoll_scheduler_start(h.sched);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = h.exit_code;
	printf("exit %d\n", rc);
out:
	for (size_t i = 0; i < h.ntasks; i++) {
		free(h.tasks[i].agent_id);
		free(h.tasks[i].hostname);
	}
	free(h.tasks);
	free(fi);
	(void)uv_loop_close(&loop);
	flags_release(hello_flags, ARRAY_SIZE(hello_flags), &h.cfg);
	return rc;
}

#endif /* HELLO_NO_MAIN */
