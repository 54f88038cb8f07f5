/*
 * cli_verbs.c: the operator verbs of `atoll`: listings (agents,
 * frameworks, tasks, roles), actions (framework teardown, agent gone),
 * task logs and the event stream.
 *
 * Listings make one operator call and either print the answer as it came
 * (--json, for scripts: the master's own v1 JSON, one document) or turn it
 * into an aligned table. Long ids are shortened in tables only.
 *
 * `atoll task kill`: Mesos's operator API has no call that kills a single
 * task; Atoll's master adds one (KILL_TASK, an addition to the operator
 * API), so the owning framework sees the usual TASK_KILLED update.
 *
 * `atoll task logs` reads the task's sandbox through the agent's
 * /files/read (Mesos's {"data","offset"} shape); -f polls every 0.5 s
 * until the task is terminal and everything was printed.
 */
#include "lib/compat.h"
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/subscriber.h"

#define CLI_ID_WIDTH 24
#define CLI_LOG_CHUNK 65536
#define CLI_LOG_POLL_MS 500
#define CLI_LOG_STATE_EVERY 4 /* polls between task state checks */

/*
 * The exit code for a failed cli_master_init(): a bad address is a usage
 * error, a zk:// address without a leader found means the master could
 * not be reached.
 */
static int verbs_master_exit(int rc)
{
	return rc == -EINVAL ? CLI_USAGE : CLI_UNREACHABLE;
}

/* Options every listing takes. */
struct cli_listing {
	const char *master;
	bool json;
	bool all;
	bool wide;
	const char *framework;
};

#define CLI_MASTER_OPT(cfg)                                                    \
	{                                                                      \
		"master", 0, CLI_OPT_STRING, &(cfg).master, "master host:port" \
	}
#define CLI_JSON_OPT(cfg)                                                      \
	{                                                                      \
		"json", 0, CLI_OPT_BOOL, &(cfg).json,                          \
		    "print the master's JSON answer as it came"                \
	}
#define CLI_WIDE_OPT(cfg)                                                      \
	{                                                                      \
		"wide", 'w', CLI_OPT_BOOL, &(cfg).wide, "print ids in full"    \
	}

/* Parses a listing's options; returns CLI_OK, or the exit code to return
 * right away (with *done set). */
static int cli_listing_parse(const char *verb, const char *synopsis,
                             const char *summary, const struct cli_opt *opts,
                             size_t n, int argc, char **argv, bool *done)
{
	const char *pos[1];
	size_t npos;
	int rc;

	*done = true;
	rc = cli_parse(verb, opts, n, argc, argv, pos, 0, &npos, NULL);
	if (rc == 1) {
		cli_usage(stdout, synopsis, summary, opts, n);
		return CLI_OK;
	}
	if (rc)
		return CLI_USAGE;
	*done = false;
	return CLI_OK;
}

/* Calls type; prints the raw JSON when json is set (then *out is NULL). */
static int cli_listing_call(const struct cli_listing *cfg, const char *type,
                            json_t **out)
{
	struct cli_master m;
	char *raw = NULL;
	int rc;

	*out = NULL;
	if ((rc = cli_master_init(&m, cfg->master)))
		return verbs_master_exit(rc);
	rc = cli_operator_call_raw(&m, type, NULL, out, &raw);
	cli_master_release(&m);
	if (rc == CLI_OK && !*out) {
		fprintf(stderr,
		        "atoll: the master sent an empty answer to %s\n", type);
		rc = CLI_FAILED;
	}
	if (rc == CLI_OK && cfg->json) {
		/* The answer as it came, for scripts. */
		printf("%s%s", raw,
		       raw[0] && raw[strlen(raw) - 1] == '\n' ? "" : "\n");
		json_decref(*out);
		*out = NULL;
	}
	free(raw);
	return rc;
}

static const char *cli_id(const struct cli_listing *cfg, const char *id,
                          char *out, size_t outsz)
{
	return cli_short_id(id, cfg->wide ? (size_t)-1 : CLI_ID_WIDTH, out,
	                    outsz);
}

/* "used/total" of scalar name. */
static const char *cli_used_total(const json_t *used, const json_t *total,
                                  const char *name, char *out, size_t outsz)
{
	char a[32], b[32];

	snprintf(
	    out, outsz, "%s/%s",
	    cli_fmt_scalar(cli_resources_scalar(used, name), a, sizeof(a)),
	    cli_fmt_scalar(cli_resources_scalar(total, name), b, sizeof(b)));
	return out;
}

/* ---- agents ---------------------------------------------------------------
 */

int cli_agents_main(int argc, char **argv)
{
	struct cli_listing cfg = {0};
	const struct cli_opt opts[] = {CLI_MASTER_OPT(cfg), CLI_JSON_OPT(cfg),
	                               CLI_WIDE_OPT(cfg)};
	struct cli_table t;
	json_t *ans, *a;
	size_t i;
	bool done;
	int rc;

	rc = cli_listing_parse("agents", "agents [--json] [--wide]",
	                       "Lists the agents registered with the master: "
	                       "resources used/total (allocated to tasks),\n"
	                       "and whether each is connected (ACTIVE).",
	                       opts, ARRAY_SIZE(opts), argc, argv, &done);
	if (done)
		return rc;
	rc = cli_listing_call(&cfg, "GET_AGENTS", &ans);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 7);
	cli_table_row(&t,
	              (const char *const[]){"ID", "HOSTNAME", "ADDRESS",
	                                    "ACTIVE", "CPUS", "MEM", "DISK"});
	json_array_foreach(cli_json_path(ans, "get_agents.agents"), i, a)
	{
		char id[128], cpus[64], mem[64], disk[64], addr[300];
		const json_t *used = json_object_get(a, "allocated_resources");
		const json_t *total = json_object_get(a, "total_resources");
		const char *pid = json_string_value(json_object_get(a, "pid"));
		const char *at = pid ? strchr(pid, '@') : NULL;

		snprintf(addr, sizeof(addr), "%s", at ? at + 1 : "-");
		cli_table_row(
		    &t,
		    (const char *const[]){
			cli_id(
			    &cfg,
			    cli_json_id(json_object_get(a, "agent_info"), "id"),
			    id, sizeof(id)),
			json_string_value(
			    cli_json_path(a, "agent_info.hostname")),
			addr,
			json_is_true(json_object_get(a, "active")) ? "yes"
								   : "no",
			cli_used_total(used, total, "cpus", cpus, sizeof(cpus)),
			cli_used_total(used, total, "mem", mem, sizeof(mem)),
			cli_used_total(used, total, "disk", disk,
		                       sizeof(disk))});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(ans);
	return CLI_OK;
}

/* ---- frameworks -----------------------------------------------------------
 */

static void cli_framework_row(const struct cli_listing *cfg,
                              struct cli_table *t, const json_t *f,
                              bool completed)
{
	const json_t *fi = json_object_get(f, "framework_info");
	const json_t *alloc = json_object_get(f, "allocated_resources");
	char id[128], cpus[32], mem[32], offers[16];
	struct buf roles = BUF_INIT;
	const json_t *r;
	const char *state;
	size_t i;

	json_array_foreach(json_object_get(fi, "roles"), i, r)
	{
		if (roles.len)
			buf_addc(&roles, ',');
		buf_adds(&roles,
		         json_string_value(r) ? json_string_value(r) : "?");
	}
	if (!roles.len)
		buf_adds(&roles,
		         json_string_value(json_object_get(fi, "role"))
		             ? json_string_value(json_object_get(fi, "role"))
		             : "*");
	if (completed)
		state = "removed";
	else if (!json_is_true(json_object_get(f, "active")))
		state = "inactive";
	else if (json_is_true(json_object_get(f, "connected")))
		state = "active";
	else
		state = "disconnected";
	snprintf(offers, sizeof(offers), "%zu",
	         json_array_size(json_object_get(f, "offers")));
	cli_table_row(t, (const char *const[]){
			     cli_id(cfg, cli_json_id(fi, "id"), id, sizeof(id)),
			     json_string_value(json_object_get(fi, "name")),
			     json_string_value(json_object_get(fi, "user")),
			     roles.data, state,
			     cli_fmt_scalar(cli_resources_scalar(alloc, "cpus"),
	                                    cpus, sizeof(cpus)),
			     cli_fmt_scalar(cli_resources_scalar(alloc, "mem"),
	                                    mem, sizeof(mem)),
			     offers});
	buf_release(&roles);
}

int cli_frameworks_main(int argc, char **argv)
{
	struct cli_listing cfg = {0};
	const struct cli_opt opts[] = {
	    CLI_MASTER_OPT(cfg),
	    CLI_JSON_OPT(cfg),
	    CLI_WIDE_OPT(cfg),
	    {"all", 'a', CLI_OPT_BOOL, &cfg.all,
	     "include frameworks that were removed"}};
	struct cli_table t;
	json_t *ans, *f;
	size_t i;
	bool done;
	int rc;

	rc = cli_listing_parse("frameworks", "frameworks [--all] [--json]",
	                       "Lists the frameworks: roles, state, the "
	                       "resources their tasks hold, their offers.",
	                       opts, ARRAY_SIZE(opts), argc, argv, &done);
	if (done)
		return rc;
	rc = cli_listing_call(&cfg, "GET_FRAMEWORKS", &ans);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 8);
	cli_table_row(&t,
	              (const char *const[]){"ID", "NAME", "USER", "ROLES",
	                                    "STATE", "CPUS", "MEM", "OFFERS"});
	json_array_foreach(cli_json_path(ans, "get_frameworks.frameworks"), i,
	                   f)
	{
		cli_framework_row(&cfg, &t, f, false);
	}
	if (cfg.all)
		json_array_foreach(
		    cli_json_path(ans, "get_frameworks.completed_frameworks"),
		    i, f)
		{
			cli_framework_row(&cfg, &t, f, true);
		}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(ans);
	return CLI_OK;
}

/* ---- tasks ----------------------------------------------------------------
 */

/* Does id match the --framework filter (the full id or a prefix)? */
static bool cli_framework_matches(const char *filter, const char *id)
{
	if (!filter)
		return true;
	return id && !strncmp(id, filter, strlen(filter));
}

static void cli_task_rows(const struct cli_listing *cfg, struct cli_table *t,
                          const json_t *tasks)
{
	const json_t *task;
	size_t i;

	json_array_foreach(tasks, i, task)
	{
		const json_t *res = json_object_get(task, "resources");
		const char *fid = cli_json_id(task, "framework_id");
		char id[128], fw[128], agent[128], cpus[32], mem[32];

		if (!cli_framework_matches(cfg->framework, fid))
			continue;
		cli_table_row(
		    t, (const char *const[]){
			   cli_id(cfg, cli_json_id(task, "task_id"), id,
		                  sizeof(id)),
			   json_string_value(json_object_get(task, "name")),
			   json_string_value(json_object_get(task, "state")),
			   cli_id(cfg, fid, fw, sizeof(fw)),
			   cli_id(cfg, cli_json_id(task, "agent_id"), agent,
		                  sizeof(agent)),
			   cli_fmt_scalar(cli_resources_scalar(res, "cpus"),
		                          cpus, sizeof(cpus)),
			   cli_fmt_scalar(cli_resources_scalar(res, "mem"), mem,
		                          sizeof(mem))});
	}
}

int cli_tasks_main(int argc, char **argv)
{
	struct cli_listing cfg = {0};
	const struct cli_opt opts[] = {
	    CLI_MASTER_OPT(cfg),
	    CLI_JSON_OPT(cfg),
	    CLI_WIDE_OPT(cfg),
	    {"all", 'a', CLI_OPT_BOOL, &cfg.all, "include completed tasks"},
	    {"framework", 0, CLI_OPT_STRING, &cfg.framework,
	     "only the tasks of this framework (id or id prefix)"}};
	struct cli_table t;
	json_t *ans;
	bool done;
	int rc;

	rc = cli_listing_parse(
	    "tasks", "tasks [--all] [--framework ID] [--json]",
	    "Lists the tasks the master knows: live and unreachable ones,\n"
	    "with --all the completed ones too. --json prints GET_TASKS as it "
	    "came\n(unfiltered).",
	    opts, ARRAY_SIZE(opts), argc, argv, &done);
	if (done)
		return rc;
	rc = cli_listing_call(&cfg, "GET_TASKS", &ans);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 7);
	cli_table_row(&t,
	              (const char *const[]){"ID", "NAME", "STATE", "FRAMEWORK",
	                                    "AGENT", "CPUS", "MEM"});
	cli_task_rows(&cfg, &t, cli_json_path(ans, "get_tasks.tasks"));
	cli_task_rows(&cfg, &t,
	              cli_json_path(ans, "get_tasks.unreachable_tasks"));
	if (cfg.all)
		cli_task_rows(&cfg, &t,
		              cli_json_path(ans, "get_tasks.completed_tasks"));
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(ans);
	return CLI_OK;
}

/* ---- roles ----------------------------------------------------------------
 */

int cli_roles_main(int argc, char **argv)
{
	struct cli_listing cfg = {0};
	const struct cli_opt opts[] = {CLI_MASTER_OPT(cfg), CLI_JSON_OPT(cfg)};
	struct cli_table t;
	json_t *ans, *r;
	size_t i;
	bool done;
	int rc;

	rc = cli_listing_parse("roles", "roles [--json]",
	                       "Lists the roles: weight, frameworks, and the "
	                       "resources allocated to each (held by\ntasks "
	                       "or offered).",
	                       opts, ARRAY_SIZE(opts), argc, argv, &done);
	if (done)
		return rc;
	rc = cli_listing_call(&cfg, "GET_ROLES", &ans);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 5);
	cli_table_row(&t, (const char *const[]){"NAME", "WEIGHT", "FRAMEWORKS",
	                                        "CPUS", "MEM"});
	json_array_foreach(cli_json_path(ans, "get_roles.roles"), i, r)
	{
		const json_t *res = json_object_get(r, "resources");
		char weight[32], nfw[16], cpus[32], mem[32];

		cli_fmt_scalar(json_number_value(json_object_get(r, "weight")),
		               weight, sizeof(weight));
		snprintf(nfw, sizeof(nfw), "%zu",
		         json_array_size(json_object_get(r, "frameworks")));
		cli_table_row(
		    &t, (const char *const[]){
			    json_string_value(json_object_get(r, "name")),
			    weight, nfw,
			    cli_fmt_scalar(cli_resources_scalar(res, "cpus"),
		                           cpus, sizeof(cpus)),
			    cli_fmt_scalar(cli_resources_scalar(res, "mem"),
		                           mem, sizeof(mem))});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(ans);
	return CLI_OK;
}

/* ---- actions --------------------------------------------------------------
 */

/*
 * `atoll <noun> <action> ID`: parses --master and one id, then posts
 * type with {"<id_key>": {"value": ID}}.
 */
static int cli_id_action(const char *verb, const char *synopsis,
                         const char *summary, const char *type,
                         const char *id_key, const char *done_fmt, int argc,
                         char **argv)
{
	const char *master = NULL;
	const struct cli_opt opts[] = {
	    {"master", 0, CLI_OPT_STRING, &master, "master host:port"}};
	struct cli_master m;
	const char *pos[1];
	size_t npos;
	int rc;

	rc = cli_parse(verb, opts, ARRAY_SIZE(opts), argc, argv, pos, 1, &npos,
	               NULL);
	if (rc == 1) {
		cli_usage(stdout, synopsis, summary, opts, ARRAY_SIZE(opts));
		return CLI_OK;
	}
	if (rc)
		return CLI_USAGE;
	if (npos != 1) {
		fprintf(stderr, "usage: atoll %s\n", synopsis);
		return CLI_USAGE;
	}
	if ((rc = cli_master_init(&m, master)))
		return verbs_master_exit(rc);
	rc = cli_operator_call(
	    &m, type, json_pack("{s:{s:s}}", id_key, "value", pos[0]), NULL);
	if (rc == CLI_OK) {
		printf(done_fmt, pos[0]);
		printf("\n");
	}
	cli_master_release(&m);
	return rc;
}

int cli_framework_main(int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		printf("usage: atoll framework teardown ID [--master "
		       "HOST:PORT]\n");
		return argc < 1 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[0], "teardown")) {
		fprintf(stderr,
		        "atoll framework: unknown action '%s' (expected "
		        "'teardown')\n",
		        argv[0]);
		return CLI_USAGE;
	}
	return cli_id_action(
	    "framework teardown", "framework teardown ID",
	    "Removes the framework ID: its tasks are killed, its offers\n"
	    "rescinded, and it cannot subscribe again (operator TEARDOWN).",
	    "TEARDOWN", "framework_id", "framework %s torn down", argc - 1,
	    argv + 1);
}

int cli_agent_main(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "gone")) {
		fprintf(stderr, "usage: atoll agent gone ID [--master "
		                "HOST:PORT]\n");
		return CLI_USAGE;
	}
	return cli_id_action(
	    "agent gone", "agent gone ID",
	    "Tells the master that agent ID is gone for good (operator\n"
	    "MARK_AGENT_GONE): its tasks become TASK_GONE_BY_OPERATOR and\n"
	    "the id can never register again.",
	    "MARK_AGENT_GONE", "agent_id", "agent %s marked gone", argc - 1,
	    argv + 1);
}

/* ---- task logs / kill -------------------------------------------------------
 */

/* Appends s to b percent-encoded for a query value. */
static void cli_query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.~/", c)) {
			buf_addc(b, (char)c);
		} else {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		}
	}
}

/*
 * Reads the file from *offset on and prints it, advancing *offset.
 * Returns CLI_OK (nothing more for now when *got is 0), or another exit
 * code (message printed).
 */
static int cli_log_read(const char *host, int port, const char *file,
                        long long *offset, size_t *got)
{
	struct cli_response r;
	struct buf path = BUF_INIT;
	char addr[300];
	json_t *ans = NULL, *data;
	int rc;

	*got = 0;
	snprintf(addr, sizeof(addr), "%s:%d", host, port);
	buf_adds(&path, "/files/read?path=");
	cli_query_escape(&path, file);
	buf_addf(&path, "&offset=%lld&length=%d", *offset, CLI_LOG_CHUNK);
	if (cli_http(host, port, "GET", path.data, NULL, 0, 0, &r)) {
		cli_print_unreachable("the agent", addr, r.err);
		rc = CLI_UNREACHABLE;
		goto out;
	}
	if (r.status == 404 && strstr(r.body, "No endpoint")) {
		fprintf(stderr,
		        "atoll: the agent at %s has no files API "
		        "(/files/read)\n",
		        addr);
		rc = CLI_FAILED;
		goto out;
	}
	if (r.status == 404) {
		/* Not created yet (the task has not started writing). */
		rc = CLI_OK;
		goto out;
	}
	if (r.status != 200 || !(ans = json_loadb(r.body, r.len, 0, NULL)) ||
	    !json_is_string(data = json_object_get(ans, "data"))) {
		fprintf(stderr,
		        "atoll: the agent at %s answered /files/read with "
		        "HTTP %d: %.200s\n",
		        addr, r.status, r.body);
		rc = CLI_FAILED;
		goto out;
	}
	*got = json_string_length(data);
	fwrite(json_string_value(data), 1, *got, stdout);
	fflush(stdout);
	*offset += (long long)*got;
	rc = CLI_OK;
out:
	json_decref(ans);
	cli_response_release(&r);
	buf_release(&path);
	return rc;
}

static int cli_task_logs(int argc, char **argv)
{
	const char *master = NULL;
	bool err_file = false, follow = false;
	const struct cli_opt opts[] = {
	    {"master", 0, CLI_OPT_STRING, &master, "master host:port"},
	    {"stderr", 0, CLI_OPT_BOOL, &err_file,
	     "print the task's stderr instead of its stdout"},
	    {"follow", 'f', CLI_OPT_BOOL, &follow,
	     "keep printing new output until the task has ended"}};
	const char *synopsis = "task logs TASK [--stderr] [-f]";
	struct cli_master m;
	char *host = NULL, *dir = NULL, *file = NULL;
	long long offset = 0;
	const char *pos[1];
	size_t npos, got;
	bool terminal = false;
	int port = 0, rc, polls = 0;

	rc = cli_parse("task logs", opts, ARRAY_SIZE(opts), argc, argv, pos, 1,
	               &npos, NULL);
	if (rc == 1) {
		cli_usage(stdout, synopsis,
		          "Prints the task's stdout (or stderr) from its "
		          "sandbox on its agent.",
		          opts, ARRAY_SIZE(opts));
		return CLI_OK;
	}
	if (rc || npos != 1) {
		if (!rc)
			fprintf(stderr, "usage: atoll %s\n", synopsis);
		return CLI_USAGE;
	}
	if ((rc = cli_master_init(&m, master)))
		return verbs_master_exit(rc);
	rc = cli_task_sandbox(&m, pos[0], false, &host, &port, &dir, &terminal);
	if (rc)
		goto out;
	file = xasprintf("%s/%s", dir, err_file ? "stderr" : "stdout");
	for (;;) {
		rc = cli_log_read(host, port, file, &offset, &got);
		if (rc)
			break;
		if (got > 0)
			continue;
		/* Nothing new: done, unless following a live task (once it
		 * ended, the loop reads one last time before stopping). */
		if (!follow || terminal)
			break;
		usleep(CLI_LOG_POLL_MS * 1000);
		if (++polls % CLI_LOG_STATE_EVERY == 0) {
			char *h2 = NULL, *d2 = NULL;
			int p2;

			if (cli_task_sandbox(&m, pos[0], true, &h2, &p2, &d2,
			                     &terminal) != CLI_OK)
				terminal = true;
			free(h2);
			free(d2);
		}
	}
out:
	free(file);
	free(dir);
	free(host);
	cli_master_release(&m);
	return rc;
}

/* `atoll task kill TASK [--framework ID]`: operator KILL_TASK. */
static int cli_task_kill(int argc, char **argv)
{
	const char *master = NULL, *framework = NULL;
	const struct cli_opt opts[] = {
	    {"master", 0, CLI_OPT_STRING, &master, "master host:port"},
	    {"framework", 0, CLI_OPT_STRING, &framework,
	     "the task's framework, when several use the same task id"}};
	struct cli_master m;
	const char *pos[1];
	size_t npos;
	json_t *payload;
	int rc;

	rc = cli_parse("task kill", opts, ARRAY_SIZE(opts), argc, argv, pos, 1,
	               &npos, NULL);
	if (rc == 1) {
		cli_usage(stdout, "task kill TASK [--framework ID]",
		          "Kills one task (operator KILL_TASK, an Atoll "
		          "addition):\nthe agent kills it with its kill policy "
		          "and its framework\ngets TASK_KILLED as usual.",
		          opts, ARRAY_SIZE(opts));
		return CLI_OK;
	}
	if (rc)
		return CLI_USAGE;
	if (npos != 1) {
		fprintf(stderr,
		        "usage: atoll task kill TASK [--framework ID]\n");
		return CLI_USAGE;
	}
	if ((rc = cli_master_init(&m, master)))
		return verbs_master_exit(rc);
	payload = json_pack("{s:{s:s}}", "task_id", "value", pos[0]);
	if (framework)
		json_object_set_new(payload, "framework_id",
		                    json_pack("{s:s}", "value", framework));
	rc = cli_operator_call(&m, "KILL_TASK", payload, NULL);
	if (rc == CLI_OK)
		printf("kill of task %s sent\n", pos[0]);
	cli_master_release(&m);
	return rc;
}

int cli_task_main(int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		printf("usage: atoll task logs TASK [--stderr] [-f]\n"
		       "       atoll task kill TASK\n");
		return argc < 1 ? CLI_USAGE : CLI_OK;
	}
	if (!strcmp(argv[0], "logs"))
		return cli_task_logs(argc - 1, argv + 1);
	if (!strcmp(argv[0], "kill"))
		return cli_task_kill(argc - 1, argv + 1);
	fprintf(stderr,
	        "atoll task: unknown action '%s' (expected 'logs' or "
	        "'kill')\n",
	        argv[0]);
	return CLI_USAGE;
}

/* ---- events ----------------------------------------------------------------
 */

struct cli_events {
	uv_loop_t *loop;
	struct subscriber *sub;
	struct cli_master m;
	bool json;
	bool heartbeats;
	bool connected;
	int exit_code;
	uv_signal_t sigint, sigterm;
	uv_timer_t stop_timer;
};

static void cli_events_build(struct buf *body, void *arg)
{
	(void)arg;
	buf_adds(body, "{\"type\":\"SUBSCRIBE\"}");
}

static void cli_events_connected(const char *stream_id, void *arg)
{
	struct cli_events *ev = arg;

	(void)stream_id;
	ev->connected = true;
}

/* "2026-11-25T12:00:00.123Z" for now. */
static void cli_now(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outsz, "%s.%03dZ", base,
	         (int)((unsigned long)ts.tv_nsec / 1000000 % 1000));
}

/* Appends " key=value" when value is set. */
static void cli_kv(struct buf *b, const char *key, const char *value)
{
	if (value)
		buf_addf(b, " %s=%s", key, value);
}

/* The human line of one operator event (without time and type). */
static void cli_event_describe(struct buf *b, json_t *e, const char *type)
{
	if (streq(type, "SUBSCRIBED")) {
		const json_t *st = cli_json_path(e, "subscribed.get_state");
		buf_addf(
		    b, " agents=%zu frameworks=%zu tasks=%zu",
		    json_array_size(cli_json_path(st, "get_agents.agents")),
		    json_array_size(
			cli_json_path(st, "get_frameworks.frameworks")),
		    json_array_size(cli_json_path(st, "get_tasks.tasks")));
	} else if (streq(type, "TASK_ADDED")) {
		const json_t *t = cli_json_path(e, "task_added.task");
		cli_kv(b, "task", cli_json_id(t, "task_id"));
		cli_kv(b, "framework", cli_json_id(t, "framework_id"));
		cli_kv(b, "agent", cli_json_id(t, "agent_id"));
		cli_kv(b, "state",
		       json_string_value(json_object_get(t, "state")));
	} else if (streq(type, "TASK_UPDATED")) {
		const json_t *u = json_object_get(e, "task_updated");
		const json_t *st = json_object_get(u, "status");
		const char *msg =
		    json_string_value(json_object_get(st, "message"));
		cli_kv(b, "task", cli_json_id(st, "task_id"));
		cli_kv(b, "framework", cli_json_id(u, "framework_id"));
		cli_kv(b, "agent", cli_json_id(st, "agent_id"));
		cli_kv(b, "state",
		       json_string_value(json_object_get(u, "state")));
		cli_kv(b, "reason",
		       json_string_value(json_object_get(st, "reason")));
		if (msg)
			buf_addf(b, " message=\"%s\"", msg);
	} else if (streq(type, "AGENT_ADDED")) {
		const json_t *ai =
		    cli_json_path(e, "agent_added.agent.agent_info");
		cli_kv(b, "agent", cli_json_id(ai, "id"));
		cli_kv(b, "hostname",
		       json_string_value(json_object_get(ai, "hostname")));
	} else if (streq(type, "AGENT_REMOVED")) {
		cli_kv(b, "agent",
		       cli_json_id(json_object_get(e, "agent_removed"),
		                   "agent_id"));
	} else if (streq(type, "FRAMEWORK_ADDED") ||
	           streq(type, "FRAMEWORK_UPDATED")) {
		const json_t *fi = cli_json_path(
		    json_object_get(e, streq(type, "FRAMEWORK_ADDED")
		                           ? "framework_added"
		                           : "framework_updated"),
		    "framework.framework_info");
		cli_kv(b, "framework", cli_json_id(fi, "id"));
		cli_kv(b, "name",
		       json_string_value(json_object_get(fi, "name")));
	} else if (streq(type, "FRAMEWORK_REMOVED")) {
		const json_t *fi =
		    cli_json_path(e, "framework_removed.framework_info");
		cli_kv(b, "framework", cli_json_id(fi, "id"));
		cli_kv(b, "name",
		       json_string_value(json_object_get(fi, "name")));
	} else if (streq(type, "ERROR")) {
		cli_kv(b, "message",
		       json_string_value(cli_json_path(e, "error.message")));
	}
}

static void cli_events_event(json_t *e, const char *type, void *arg)
{
	struct cli_events *ev = arg;
	struct buf line = BUF_INIT;
	char now[64];

	if (ev->json) {
		/* 15 digits: 0.1 prints as 0.1, as the master wrote it. */
		char *text =
		    json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(15));
		printf("%s\n", text);
		free(text);
		fflush(stdout);
		return;
	}
	if (streq(type, "HEARTBEAT") && !ev->heartbeats)
		return;
	cli_now(now, sizeof(now));
	buf_addf(&line, "%s %s", now, *type ? type : "?");
	cli_event_describe(&line, e, type);
	printf("%s\n", line.data);
	fflush(stdout);
	buf_release(&line);
}

static void cli_events_stop_cb(uv_timer_t *t)
{
	struct cli_events *ev = container_of(t, struct cli_events, stop_timer);

	subscriber_stop(ev->sub);
	uv_close((uv_handle_t *)&ev->sigint, NULL);
	uv_close((uv_handle_t *)&ev->sigterm, NULL);
	uv_close((uv_handle_t *)&ev->stop_timer, NULL);
}

/* Ends the loop soon (outside of the subscriber's callbacks). */
static void cli_events_finish(struct cli_events *ev, int code)
{
	ev->exit_code = code;
	if (!uv_is_active((uv_handle_t *)&ev->stop_timer) &&
	    !uv_is_closing((uv_handle_t *)&ev->stop_timer))
		uv_timer_start(&ev->stop_timer, cli_events_stop_cb, 0, 0);
}

static void cli_events_disconnected(int err, int status, const char *message,
                                    void *arg)
{
	struct cli_events *ev = arg;

	if (status) {
		fprintf(stderr,
		        "atoll: the master refused SUBSCRIBE (HTTP "
		        "%d): %s\n",
		        status, message ? message : "");
		cli_events_finish(ev, CLI_FAILED);
	} else if (!ev->connected) {
		cli_print_unreachable("the master", ev->m.address, err);
		cli_events_finish(ev, CLI_UNREACHABLE);
	} else {
		fprintf(stderr, "atoll: the event stream from %s ended\n",
		        ev->m.address);
		cli_events_finish(ev, CLI_FAILED);
	}
	subscriber_stop(ev->sub);
}

static void cli_events_signal(uv_signal_t *s, int signum)
{
	(void)signum;
	cli_events_finish(s->data, CLI_OK);
}

int cli_events_main(int argc, char **argv)
{
	struct cli_events ev = {0};
	const char *master = NULL;
	const struct cli_opt opts[] = {
	    {"master", 0, CLI_OPT_STRING, &master, "master host:port"},
	    {"json", 0, CLI_OPT_BOOL, &ev.json,
	     "print each event as the master sent it (one JSON per line)"},
	    {"heartbeats", 0, CLI_OPT_BOOL, &ev.heartbeats,
	     "print HEARTBEAT events too"}};
	struct subscriber_opts so = {0};
	const char *endpoints[1];
	const char *pos[1];
	uv_loop_t loop;
	size_t npos;
	int rc;

	rc = cli_parse("events", opts, ARRAY_SIZE(opts), argc, argv, pos, 0,
	               &npos, NULL);
	if (rc == 1) {
		cli_usage(stdout, "events [--json] [--heartbeats]",
		          "Follows the master's operator event stream, one "
		          "line per event: time, type,\nand the ids and states "
		          "it is about. Ends on Ctrl-C, or when the stream\n"
		          "ends (exit 1).",
		          opts, ARRAY_SIZE(opts));
		return CLI_OK;
	}
	if (rc)
		return CLI_USAGE;
	if ((rc = cli_master_init(&ev.m, master)))
		return verbs_master_exit(rc);
	/* The libraries' routine logs would drown what the verb prints. */
	log_set_level(LOG_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	uv_loop_init(&loop);
	ev.loop = &loop;
	endpoints[0] = ev.m.address;
	so.endpoints = endpoints;
	so.nendpoints = 1;
	so.path = "/api/v1";
	so.build_subscribe = cli_events_build;
	so.on_connected = cli_events_connected;
	so.on_event = cli_events_event;
	so.on_disconnected = cli_events_disconnected;
	ev.sub = subscriber_new(&loop, &so, &ev);
	uv_timer_init(&loop, &ev.stop_timer);
	uv_signal_init(&loop, &ev.sigint);
	uv_signal_init(&loop, &ev.sigterm);
	ev.sigint.data = &ev;
	ev.sigterm.data = &ev;
	uv_signal_start(&ev.sigint, cli_events_signal, SIGINT);
	uv_signal_start(&ev.sigterm, cli_events_signal, SIGTERM);
	subscriber_start(ev.sub);
	uv_run(&loop, UV_RUN_DEFAULT);
	subscriber_free(ev.sub);
	uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	cli_master_release(&ev.m);
	return ev.exit_code;
}
