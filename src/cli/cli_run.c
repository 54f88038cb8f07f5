/*
 * cli_run.c: `atoll run [--cpus --mem --instances --name] -- CMD...`, a
 * one-off framework on the C scheduler library (include/atoll/scheduler.h).
 *
 * It subscribes as a framework without failover (the master removes it,
 * and so its tasks, if the CLI dies), launches --instances copies of CMD
 * through the shell as offers come (packing what fits in each offer and
 * declining the rest), and ends once every instance is terminal: it tears
 * the framework down and exits with the tasks' exit status
 * (cli_task_exit_code(); the first failing instance wins). Ctrl-C or
 * SIGTERM kills the tasks and tears down (exit 130 / 143).
 *
 * Output: stdout carries the tasks' stdout and stderr their stderr, read
 * from the sandboxes through the agents' /files/read every 0.5 s while
 * the tasks run and once more when they end; status lines ("[task]
 * TASK_RUNNING on agent0") go to stderr, unless --quiet. When the agent
 * has no files API, output is skipped with one note.
 *
 * The output poll does small blocking HTTP requests (each with a
 * timeout, on a private loop, cli_http()) from a timer of the main loop:
 * the CLI is a short-lived single-user process, and a poll that holds
 * scheduler events back for a few milliseconds costs nothing here.
 *
 * Task life (per instance):
 *   unlaunched --(offer fits: run_use_offer)--> launched
 *   launched --(update, terminal: run_update)--> terminal (final)
 *   launched --(LOST/DROPPED with REASON_INVALID_OFFERS)--> unlaunched
 */
#include "lib/compat.h"
#include "cli/cli.h"

#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <uv.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/ids.h"

#define RUN_EXIT_ERROR 125
#define RUN_POLL_MS 500
#define RUN_TEARDOWN_WAIT_MS 10000
#define RUN_LONG_REFUSE 3600.0
#define RUN_SHORT_REFUSE 1.0
#define RUN_MAX_RELAUNCH 3
#define RUN_LOG_CHUNK 65536

struct run_output {
	long long offset;
	bool missing_api; /* the agent has no /files/read */
};

struct run_task {
	char *id;
	char *agent_id;
	bool launched, terminal, seen_running;
	int relaunches;
	char *state;
	int exit_code;
	/* sandbox, once found */
	char *host, *dir;
	int port;
	struct run_output out[2]; /* stdout, stderr */
};

struct run {
	uv_loop_t *loop;
	struct cli_master m;
	struct atoll_scheduler *sched;
	char *cmd;
	double cpus, mem;
	long instances;
	const char *name, *role;
	bool quiet, no_output;
	struct run_task *tasks;
	size_t ntasks, unlaunched, nterminal;
	bool finishing, subscribed_once, api_note;
	int exit_code;
	uv_timer_t poll_timer, quit_timer, teardown_timer;
	uv_signal_t sigint, sigterm;
};

static void run_finish(struct run *r, int code, const char *why);

static void run_say(const struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void run_say(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- command line ----------------------------------------------------------
 */

/* CMD from argv: one word is a shell command as it is; several words are
 * quoted each, so `-- sh -c 'exit 3'` runs exactly that argv. */
static char *run_command(int argc, char **argv)
{
	struct buf b = BUF_INIT;

	if (argc == 1)
		return xstrdup(argv[0]);
	for (int i = 0; i < argc; i++) {
		if (i)
			buf_addc(&b, ' ');
		buf_addc(&b, '\'');
		for (const char *p = argv[i]; *p; p++) {
			if (*p == '\'')
				buf_adds(&b, "'\\''");
			else
				buf_addc(&b, *p);
		}
		buf_addc(&b, '\'');
	}
	return buf_detach(&b, NULL);
}

/* ---- offers
 * ------------------------------------------------------------------ */

static int64_t run_milli(double v)
{
	return (int64_t)llround(v * 1000.0);
}

/*
 * Moves amount (milli-units) of scalar name from the offer's remaining
 * entries (avail, parallel to offer resources: milli-units left) into
 * out, as copies of the offer entries (keeping roles and reservations).
 * Returns false (nothing moved) when not enough is left.
 */
static bool run_take(const json_t *res, int64_t *avail, const char *name,
                     int64_t amount, json_t *out)
{
	int64_t left = amount, have = 0;
	const json_t *e;
	size_t i;

	json_array_foreach(res, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n && streq(n, name))
			have += avail[i];
	}
	if (have < amount)
		return false;
	json_array_foreach(res, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		json_t *piece;
		int64_t t;

		if (left == 0)
			break;
		if (!n || !streq(n, name) || avail[i] <= 0)
			continue;
		t = MIN(left, avail[i]);
		piece = json_deep_copy(e);
		json_object_set_new(piece, "scalar",
		                    json_pack("{s:f}", "value", t / 1000.0));
		json_array_append_new(out, piece);
		avail[i] -= t;
		left -= t;
	}
	return true;
}

static json_t *run_task_info(const struct run *r, const struct run_task *t,
                             const char *agent_id, json_t *resources)
{
	return json_pack("{s:s,s:{s:s},s:{s:s},s:o,s:{s:b,s:s}}", "name", t->id,
	                 "task_id", "value", t->id, "agent_id", "value",
	                 agent_id, "resources", resources, "command", "shell",
	                 1, "value", r->cmd);
}

static void run_decline(struct run *r, const char *oid, double refuse)
{
	if (atoll_scheduler_decline(r->sched, &oid, 1, refuse))
		run_say(r, "atoll run: cannot decline: not subscribed");
}

static void run_use_offer(struct run *r, json_t *offer)
{
	const char *oid = cli_json_id(offer, "id");
	const char *aid = cli_json_id(offer, "agent_id");
	const char *host =
	    json_string_value(json_object_get(offer, "hostname"));
	const json_t *res = json_object_get(offer, "resources");
	json_t *infos;
	int64_t *avail;
	const json_t *e;
	size_t i, n = 0;

	if (!oid || !aid)
		return;
	if (r->finishing || r->unlaunched == 0) {
		run_decline(r, oid, RUN_LONG_REFUSE);
		return;
	}
	avail = xcalloc(json_array_size(res) + 1, sizeof(*avail));
	json_array_foreach(res, i, e)
	{
		json_t *v = cli_json_path(e, "scalar.value");
		avail[i] =
		    json_is_number(v) ? run_milli(json_number_value(v)) : 0;
	}
	infos = json_array();
	for (i = 0; i < r->ntasks && r->unlaunched > 0; i++) {
		struct run_task *t = &r->tasks[i];
		json_t *tres;

		if (t->launched)
			continue;
		tres = json_array();
		if (!run_take(res, avail, "cpus", run_milli(r->cpus), tres) ||
		    !run_take(res, avail, "mem", run_milli(r->mem), tres)) {
			json_decref(tres);
			break;
		}
		json_array_append_new(infos, run_task_info(r, t, aid, tres));
		t->launched = true;
		free(t->agent_id);
		t->agent_id = xstrdup(aid);
		r->unlaunched--;
		n++;
	}
	free(avail);
	if (n == 0) {
		json_decref(infos);
		run_decline(r, oid, RUN_SHORT_REFUSE);
		return;
	}
	run_say(r, "atoll run: launching %zu task(s) on %s", n,
	        host ? host : aid);
	if (atoll_scheduler_launch(r->sched, oid, infos,
	                           r->unlaunched ? RUN_SHORT_REFUSE
	                                         : RUN_LONG_REFUSE)) {
		for (i = 0; i < r->ntasks; i++)
			if (r->tasks[i].launched && !r->tasks[i].state &&
			    streq(r->tasks[i].agent_id, aid)) {
				r->tasks[i].launched = false;
				r->unlaunched++;
			}
	}
}

/* ---- output ----------------------------------------------------------------
 */

/* Copies new output of one file of t to out. Returns bytes copied. */
static size_t run_pump(struct run *r, struct run_task *t, int which)
{
	struct run_output *o = &t->out[which];
	struct cli_response resp;
	struct buf path = BUF_INIT;
	json_t *ans = NULL, *data;
	size_t got = 0;

	if (o->missing_api)
		return 0;
	buf_addf(&path, "/files/read?path=");
	for (const char *p = t->dir; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c == '-' || c == '_' || c == '.' ||
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			buf_addc(&path, (char)c);
		else
			buf_addf(&path, "%%%02X", c);
	}
	buf_addf(&path, "/%s&offset=%lld&length=%d",
	         which ? "stderr" : "stdout", o->offset, RUN_LOG_CHUNK);
	if (cli_http(t->host, t->port, "GET", path.data, NULL, 0, 5000, &resp))
		goto out;
	if (resp.status == 404 && strstr(resp.body, "No endpoint")) {
		o->missing_api = true;
		if (!r->api_note)
			run_say(r, "atoll run: the agent has no files API; "
			           "task output is not shown");
		r->api_note = true;
		goto out;
	}
	if (resp.status != 200 ||
	    !(ans = json_loadb(resp.body, resp.len, 0, NULL)) ||
	    !json_is_string(data = json_object_get(ans, "data")))
		goto out;
	got = json_string_length(data);
	fwrite(json_string_value(data), 1, got, which ? stderr : stdout);
	fflush(which ? stderr : stdout);
	o->offset += (long long)got;
out:
	json_decref(ans);
	cli_response_release(&resp);
	buf_release(&path);
	return got;
}

/* Copies what is new in t's sandbox files; drain reads until nothing
 * more comes (used once the task ended). */
static void run_pump_task(struct run *r, struct run_task *t, bool drain)
{
	if (r->no_output || !t->launched || !t->seen_running)
		return;
	if (!t->dir) {
		bool terminal;

		if (cli_task_sandbox(&r->m, t->id, true, &t->host, &t->port,
		                     &t->dir, &terminal))
			return;
	}
	for (int which = 0; which < 2; which++)
		while (run_pump(r, t, which) > 0 && drain)
			;
}

static void run_poll_cb(uv_timer_t *timer)
{
	struct run *r = container_of(timer, struct run, poll_timer);

	for (size_t i = 0; i < r->ntasks; i++)
		if (!r->tasks[i].terminal)
			run_pump_task(r, &r->tasks[i], false);
}

/* ---- scheduler callbacks
 * ----------------------------------------------------- */

static void run_subscribed(struct atoll_scheduler *s, const char *fid,
                           double heartbeat, void *arg)
{
	struct run *r = arg;

	(void)s;
	(void)heartbeat;
	run_say(r, "atoll run: framework %s", fid);
	if (r->subscribed_once && r->unlaunched &&
	    atoll_scheduler_revive(r->sched, NULL, 0))
		run_say(r, "atoll run: cannot revive: not subscribed");
	r->subscribed_once = true;
}

static void run_offers(struct atoll_scheduler *s, json_t *offers, void *arg)
{
	json_t *offer;
	size_t i;

	(void)s;
	json_array_foreach(offers, i, offer)
	{
		run_use_offer(arg, offer);
	}
}

static struct run_task *run_task_find(struct run *r, const char *id)
{
	for (size_t i = 0; id && i < r->ntasks; i++)
		if (streq(r->tasks[i].id, id))
			return &r->tasks[i];
	return NULL;
}

static bool run_state_is_terminal(const char *st)
{
	static const char *const live[] = {"TASK_STAGING", "TASK_STARTING",
	                                   "TASK_RUNNING", "TASK_KILLING",
	                                   "TASK_UNREACHABLE"};

	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		if (streq(st, live[i]))
			return false;
	return true;
}

static void run_check_done(struct run *r)
{
	if (r->nterminal < r->ntasks)
		return;
	for (size_t i = 0; i < r->ntasks; i++)
		if (r->tasks[i].exit_code) {
			run_finish(r, r->tasks[i].exit_code, NULL);
			return;
		}
	run_finish(r, 0, NULL);
}

static void run_update(struct atoll_scheduler *s, json_t *status, void *arg)
{
	struct run *r = arg;
	const char *tid = cli_json_id(status, "task_id");
	const char *state = json_string_value(json_object_get(status, "state"));
	const char *msg = json_string_value(json_object_get(status, "message"));
	const char *reason =
	    json_string_value(json_object_get(status, "reason"));
	struct run_task *t = run_task_find(r, tid);

	(void)s;
	if (!t || !state || t->terminal || !t->launched)
		return;
	if ((streq(state, "TASK_LOST") || streq(state, "TASK_DROPPED")) &&
	    reason && streq(reason, "REASON_INVALID_OFFERS") &&
	    !t->seen_running && t->relaunches < RUN_MAX_RELAUNCH) {
		run_say(r, "[%s] %s (offer gone; launching again)", t->id,
		        state);
		t->relaunches++;
		t->launched = false;
		r->unlaunched++;
		if (atoll_scheduler_revive(r->sched, NULL, 0))
			run_say(r, "atoll run: cannot revive");
		return;
	}
	if (t->state && streq(t->state, state))
		return; /* a duplicate */
	free(t->state);
	t->state = xstrdup(state);
	run_say(r, "[%s] %s%s%s", t->id, state, msg ? ": " : "",
	        msg ? msg : "");
	if (streq(state, "TASK_RUNNING") || run_state_is_terminal(state))
		t->seen_running = true;
	if (!run_state_is_terminal(state))
		return;
	t->terminal = true;
	t->exit_code = cli_task_exit_code(state, msg);
	run_pump_task(r, t, true);
	r->nterminal++;
	run_check_done(r);
}

static void run_error(struct atoll_scheduler *s, const char *message, void *arg)
{
	struct run *r = arg;

	(void)s;
	if (r->finishing)
		return;
	fprintf(stderr, "atoll run: error from the master: %s\n", message);
	run_finish(r, RUN_EXIT_ERROR, NULL);
}

static void run_disconnected(struct atoll_scheduler *s, void *arg)
{
	struct run *r = arg;

	(void)s;
	if (!r->subscribed_once) {
		fprintf(stderr, "atoll: cannot reach the master at %s\n",
		        r->m.address);
		run_finish(r, RUN_EXIT_ERROR, NULL);
		return;
	}
	run_say(r, "atoll run: disconnected from the master; reconnecting");
}

/* ---- ending -----------------------------------------------------------------
 */

static void run_quit_cb(uv_timer_t *timer)
{
	struct run *r = container_of(timer, struct run, quit_timer);

	atoll_scheduler_free(r->sched);
	r->sched = NULL;
	uv_close((uv_handle_t *)&r->poll_timer, NULL);
	uv_close((uv_handle_t *)&r->quit_timer, NULL);
	uv_close((uv_handle_t *)&r->teardown_timer, NULL);
	uv_close((uv_handle_t *)&r->sigint, NULL);
	uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void run_quit(struct run *r)
{
	uv_timer_stop(&r->teardown_timer);
	uv_timer_stop(&r->poll_timer);
	if (!uv_is_active((uv_handle_t *)&r->quit_timer))
		uv_timer_start(&r->quit_timer, run_quit_cb, 0, 0);
}

static void run_teardown_done(int status, const char *body, void *arg)
{
	struct run *r = arg;

	if (status < 200 || status > 299)
		fprintf(stderr, "atoll run: teardown failed (HTTP %d): %s\n",
		        status, body ? body : "");
	run_quit(r);
}

static void run_teardown_timeout(uv_timer_t *timer)
{
	struct run *r = container_of(timer, struct run, teardown_timer);

	fprintf(stderr, "atoll run: no answer to TEARDOWN; exiting\n");
	run_quit(r);
}

static void run_finish(struct run *r, int code, const char *why)
{
	if (r->finishing)
		return;
	r->finishing = true;
	r->exit_code = code;
	if (why)
		run_say(r, "atoll run: %s", why);
	if (!atoll_scheduler_is_subscribed(r->sched)) {
		run_quit(r);
		return;
	}
	/* TEARDOWN kills whatever still runs (after Ctrl-C); the explicit
	 * kills first make that visible in each task's last status. */
	for (size_t i = 0; i < r->ntasks; i++)
		if (r->tasks[i].launched && !r->tasks[i].terminal)
			(void)atoll_scheduler_kill(r->sched, r->tasks[i].id,
			                           r->tasks[i].agent_id);
	if (atoll_scheduler_call(r->sched, "TEARDOWN", NULL, run_teardown_done,
	                         r)) {
		run_quit(r);
		return;
	}
	uv_timer_start(&r->teardown_timer, run_teardown_timeout,
	               RUN_TEARDOWN_WAIT_MS, 0);
}

static void run_signal_cb(uv_signal_t *sig, int signum)
{
	run_finish(sig->data, 128 + signum,
	           signum == SIGINT ? "interrupted; killing the tasks"
	                            : "terminated; killing the tasks");
}

/* ---- setup ----------------------------------------------------------------
 */

/* Returns 0 when the master answers /health, else -1 (printed). */
static int run_probe(const struct cli_master *m)
{
	struct cli_response resp;
	int rc = 0;

	if (cli_http(m->host, m->port, "GET", "/health", NULL, 0, 0, &resp)) {
		cli_print_unreachable("the master", m->address, resp.err);
		rc = -1;
	}
	cli_response_release(&resp);
	return rc;
}

static char *run_framework_info(const struct run *r)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *user = pw ? pw->pw_name : getenv("USER");
	json_t *fi;
	char *text;

	fi = json_pack("{s:s,s:s,s:[s],s:f,s:[{s:s}]}", "user",
	               user ? user : "nobody", "name", r->name, "roles",
	               r->role, "failover_timeout", 0.0, "capabilities", "type",
	               "MULTI_ROLE");
	BUG_ON(!fi);
	text = json_dumps(fi, JSON_COMPACT);
	json_decref(fi);
	return text;
}

static void run_tasks_init(struct run *r)
{
	char uuid[IDS_UUID_STRLEN];

	ids_uuid_str(uuid);
	r->ntasks = (size_t)r->instances;
	r->unlaunched = r->ntasks;
	r->tasks = xcalloc(r->ntasks, sizeof(*r->tasks));
	/* Unique across frameworks, so `atoll task logs ID` finds it. */
	for (size_t i = 0; i < r->ntasks; i++)
		r->tasks[i].id = xasprintf("%s.%.8s.%zu", r->name, uuid, i + 1);
}

static void run_release(struct run *r)
{
	for (size_t i = 0; i < r->ntasks; i++) {
		struct run_task *t = &r->tasks[i];
		free(t->id);
		free(t->agent_id);
		free(t->state);
		free(t->host);
		free(t->dir);
	}
	free(r->tasks);
	free(r->cmd);
	cli_master_release(&r->m);
}

int cli_run_main(int argc, char **argv)
{
	static const struct atoll_scheduler_callbacks cb = {
	    .subscribed = run_subscribed,
	    .offers = run_offers,
	    .update = run_update,
	    .error = run_error,
	    .disconnected = run_disconnected,
	};
	struct run r = {0};
	const char *master = NULL;
	const struct cli_opt opts[] = {
	    {"master", 0, CLI_OPT_STRING, &master, "master host:port"},
	    {"cpus", 0, CLI_OPT_DOUBLE, &r.cpus, "cpus per task (0.1)"},
	    {"mem", 0, CLI_OPT_DOUBLE, &r.mem, "memory per task, MB (32)"},
	    {"instances", 'n', CLI_OPT_INT, &r.instances,
	     "number of copies to run (1)"},
	    {"name", 0, CLI_OPT_STRING, &r.name,
	     "framework name and task id prefix (atoll-run)"},
	    {"role", 0, CLI_OPT_STRING, &r.role, "role to run as (*)"},
	    {"quiet", 'q', CLI_OPT_BOOL, &r.quiet,
	     "no status lines, only the tasks' output"},
	    {"no-output", 0, CLI_OPT_BOOL, &r.no_output,
	     "do not copy the tasks' output"}};
	const char *synopsis = "run [--cpus C] [--mem MB] [--instances N] "
			       "[--name NAME] -- CMD...";
	struct atoll_scheduler_opts so = {0};
	const char *pos[1], *why = NULL;
	char *fi = NULL;
	uv_loop_t loop;
	size_t npos;
	int rest, rc;

	r.cpus = 0.1;
	r.mem = 32;
	r.instances = 1;
	r.name = "atoll-run";
	r.role = "*";
	rc = cli_parse("run", opts, ARRAY_SIZE(opts), argc, argv, pos, 0, &npos,
	               &rest);
	if (rc == 1) {
		cli_usage(stdout, synopsis,
		          "Runs CMD (through the shell) on the cluster as a "
		          "one-off framework, shows each\ntask's states (on "
		          "stderr) and output, tears the framework down, "
		          "and\nexits with the task's exit status (the first "
		          "failing instance's; 125 when\nrun itself fails). "
		          "Ctrl-C kills the tasks.",
		          opts, ARRAY_SIZE(opts));
		return 0;
	}
	if (rc)
		return RUN_EXIT_ERROR;
	if (rest >= argc) {
		fprintf(stderr, "usage: atoll %s\n", synopsis);
		return RUN_EXIT_ERROR;
	}
	if (r.cpus <= 0 || r.mem <= 0 || r.instances < 1 ||
	    r.instances > 10000 || !*r.name) {
		fprintf(stderr, "atoll run: --cpus and --mem must be > 0, "
		                "--instances in [1, 10000], --name not "
		                "empty\n");
		return RUN_EXIT_ERROR;
	}
	if (cli_master_init(&r.m, master))
		return RUN_EXIT_ERROR;
	/* The libraries' routine logs would drown what the verb prints. */
	log_set_level(LOG_WARN);
	/* The library retries an unreachable master forever: ask once
	 * first, so a wrong address is a clear error at once. */
	if (run_probe(&r.m)) {
		cli_master_release(&r.m);
		return RUN_EXIT_ERROR;
	}
	r.cmd = run_command(argc - rest, argv + rest);
	run_tasks_init(&r);
	setvbuf(stderr, NULL, _IOLBF, 0);

	uv_loop_init(&loop);
	r.loop = &loop;
	fi = run_framework_info(&r);
	so.master = r.m.address;
	so.framework_info = fi;
	so.auto_acknowledge = true;
	so.stop_on_refusal = true;
	r.sched = atoll_scheduler_new(&loop, &so, &cb, &r, &why);
	if (!r.sched) {
		fprintf(stderr, "atoll run: %s\n", why);
		rc = RUN_EXIT_ERROR;
		goto out;
	}
	uv_timer_init(&loop, &r.poll_timer);
	uv_timer_init(&loop, &r.quit_timer);
	uv_timer_init(&loop, &r.teardown_timer);
	uv_signal_init(&loop, &r.sigint);
	uv_signal_init(&loop, &r.sigterm);
	r.sigint.data = &r;
	r.sigterm.data = &r;
	uv_signal_start(&r.sigint, run_signal_cb, SIGINT);
	uv_signal_start(&r.sigterm, run_signal_cb, SIGTERM);
	uv_timer_start(&r.poll_timer, run_poll_cb, RUN_POLL_MS, RUN_POLL_MS);
	atoll_scheduler_start(r.sched);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = r.exit_code;
out:
	(void)uv_loop_close(&loop);
	free(fi);
	run_release(&r);
	return rc;
}
