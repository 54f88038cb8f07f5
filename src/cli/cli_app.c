/*
 * cli_app.c: `atoll app ...` and `atoll deployment ...`, the verbs of the
 * services framework. They speak the Marathon v2 REST API of `atoll
 * services` (src/services/marathon_api.c), found at --services, else
 * $ATOLL_SERVICES, else 127.0.0.1:8080.
 *
 *   app deploy FILE      a JSON array of apps     PUT /v2/apps
 *                        a group ("apps"/"groups" and no "cmd"/"args")
 *                                                 PUT /v2/groups/ID, or
 *                                                 POST /v2/groups when
 *                                                 GET says 404
 *                        an app                   PUT /v2/apps/ID
 *                                                 ?partialUpdate=false
 *   app ls | show ID     GET /v2/apps[/ID]
 *   app scale ID N       PUT /v2/apps/ID {"instances": N} (a merge)
 *   app restart ID       POST /v2/apps/ID/restart
 *   app rm ID            DELETE /v2/apps/ID
 *   deployment ls        GET /v2/deployments
 *   deployment rollback  DELETE /v2/deployments/ID[?force=true]
 *
 * PUT creates or replaces, so `deploy` is declarative: the file is what
 * the app (or the whole group: apps under it missing from the file are
 * stopped) becomes. Refusals are printed from Marathon's bodies: a 422
 * lists "path: error" lines, a 409 (the app is locked by a deployment)
 * says how to proceed; exit codes are those of cli.h.
 *
 * Waiting (--wait) polls GET /v2/deployments and GET /v2/apps every
 * 300 ms and prints a progress line whenever it changes (rewritten in
 * place on a terminal):
 *
 *   watching --ours gone, no other deployment on the apps--> settling
 *      |  |                      --every app as wanted--> done, exit 0
 *      |  +--another deployment on the apps (a rollback: the progress
 *      |     deadline passed or someone cancelled; else a forced change
 *      |     replaced ours)--> exit 1 with the reason
 *      +--timeout--> exit 1
 *   settling --an app's version changed (rolled back, replaced)--> exit 1
 *            --apps not as wanted for CLI_APP_SETTLE_MS--> exit 1
 *
 * "As wanted" per app: present with tasksHealthy (tasksRunning when it
 * has no health checks) == instances; or absent (after `rm`); or either
 * (after a rollback, which may remove an app it had created). Another
 * deployment on the apps that already ran at the first poll (on an app
 * of a group file that ours left unchanged) is waited for, not taken
 * for a rollback of ours. `app scale` checks that the app exists first:
 * PUT would create it.
 */
#include "lib/compat.h"
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/http.h"
#include "lib/timeutil.h"

#define CLI_SVC_DEFAULT "127.0.0.1:8080"
#define CLI_SVC_DEFAULT_PORT 8080
#define CLI_APP_POLL_MS 300
#define CLI_APP_TIMEOUT_S 600.0
/* After the deployment ended, how long counts may take to agree. */
#define CLI_APP_SETTLE_MS 5000
/* How long polls may fail before the services count as unreachable. */
#define CLI_APP_UNREACHABLE_MS 10000
#define CLI_APP_CMD_WIDTH 40
#define CLI_APP_MAX_DEPTH 32
#define CLI_APP_MAX_FILE (16u << 20)

/* ---- the services' address and options --------------------------------- */

struct cli_services {
	char *address; /* "host:port" */
	char *host;
	int port;
};

/* Resolves flag, then $ATOLL_SERVICES, then the default. Returns 0 or
 * -EINVAL (message printed). */
static int cli_services_init(struct cli_services *s, const char *flag)
{
	const char *addr = flag;

	memset(s, 0, sizeof(*s));
	if (!addr || !*addr)
		addr = getenv("ATOLL_SERVICES");
	if (!addr || !*addr)
		addr = CLI_SVC_DEFAULT;
	if (http_parse_hostport(addr, CLI_SVC_DEFAULT_PORT, &s->host,
	                        &s->port)) {
		fprintf(stderr,
		        "atoll: bad services address '%s': expected "
		        "host:port\n",
		        addr);
		return -EINVAL;
	}
	s->address = xasprintf("%s:%d", s->host, s->port);
	return 0;
}

static void cli_services_release(struct cli_services *s)
{
	free(s->address);
	free(s->host);
	memset(s, 0, sizeof(*s));
}

/* Every option any verb of this file takes; each verb lists its own. */
struct cli_app_cfg {
	const char *services;
	bool json;
	bool wait;
	bool force;
	double timeout;
};

#define CLI_OPT_SERVICES(c)                                                    \
	{                                                                      \
		"services", 0, CLI_OPT_STRING, &(c).services,                  \
		    "services host:port"                                       \
	}
#define CLI_OPT_JSON(c)                                                        \
	{                                                                      \
		"json", 0, CLI_OPT_BOOL, &(c).json,                            \
		    "print the services' JSON answer as it came"               \
	}
#define CLI_OPT_WAIT(c)                                                        \
	{                                                                      \
		"wait", 'w', CLI_OPT_BOOL, &(c).wait,                          \
		    "show progress; return when the deployment is done"        \
	}
#define CLI_OPT_TIMEOUT(c)                                                     \
	{                                                                      \
		"timeout", 0, CLI_OPT_DOUBLE, &(c).timeout,                    \
		    "seconds --wait waits at most (default 600)"               \
	}
#define CLI_OPT_FORCE(c)                                                       \
	{                                                                      \
		"force", 'f', CLI_OPT_BOOL, &(c).force,                        \
		    "replace a deployment in progress on the same apps"        \
	}

struct cli_app_verb {
	const char *verb;     /* "app deploy", for messages */
	const char *synopsis; /* after "atoll " */
	const char *summary;
};

static void cli_app_usage(FILE *out, const struct cli_app_verb *v,
                          const struct cli_opt *opts, size_t nopts)
{
	fprintf(out, "usage: atoll %s\n\n%s\n", v->synopsis, v->summary);
	if (nopts)
		fprintf(out, "\noptions:\n");
	for (size_t i = 0; i < nopts; i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s%c%s--%s%s",
		         opts[i].short_name ? "-" : "",
		         opts[i].short_name ? opts[i].short_name : ' ',
		         opts[i].short_name ? ", " : "", opts[i].name,
		         opts[i].type == CLI_OPT_BOOL ? "" : " VALUE");
		fprintf(out, "  %-24s %s\n", head[0] == ' ' ? head + 1 : head,
		        opts[i].help);
	}
	fprintf(out,
	        "\nThe services are --services, else $ATOLL_SERVICES, else "
	        "%s.\n",
	        CLI_SVC_DEFAULT);
}

/*
 * Parses argv (after the verb words) for exactly want positional words
 * into pos, checks --timeout and resolves the services' address into s.
 * Returns -1 to go on (then release s), or the exit code to return now.
 */
static int cli_app_parse(const struct cli_app_verb *v,
                         const struct cli_opt *opts, size_t nopts,
                         struct cli_app_cfg *cfg, int argc, char **argv,
                         const char **pos, size_t want, struct cli_services *s)
{
	size_t npos;
	int rc;

	cfg->timeout = CLI_APP_TIMEOUT_S;
	rc =
	    cli_parse(v->verb, opts, nopts, argc, argv, pos, want, &npos, NULL);
	if (rc == 1) {
		cli_app_usage(stdout, v, opts, nopts);
		return CLI_OK;
	}
	if (rc)
		return CLI_USAGE;
	if (npos != want) {
		fprintf(stderr, "usage: atoll %s\n", v->synopsis);
		return CLI_USAGE;
	}
	if (!(cfg->timeout > 0)) {
		fprintf(stderr, "atoll %s: --timeout: must be > 0, got %g\n",
		        v->verb, cfg->timeout);
		return CLI_USAGE;
	}
	if (cli_services_init(s, cfg->services))
		return CLI_USAGE;
	return -1;
}

/* ---- ids and paths -------------------------------------------------------
 */

/*
 * Resolves id against the group parent the way the services do: a
 * relative id is joined to parent; empty and "." segments go, ".." pops.
 * Returns a heap string starting with '/'.
 */
static char *cli_app_id_resolve(const char *parent, const char *id)
{
	struct buf out = BUF_INIT;
	size_t *starts = NULL, n = 0, cap = 0;
	const char *srcs[2];
	size_t nsrcs = 0;

	if (id[0] != '/')
		srcs[nsrcs++] = parent;
	srcs[nsrcs++] = id;
	for (size_t k = 0; k < nsrcs; k++) {
		const char *p = srcs[k];

		while (*p) {
			size_t len = strcspn(p, "/");

			if (len == 2 && !strncmp(p, "..", 2)) {
				if (n)
					out.len = starts[--n];
			} else if (len && !(len == 1 && *p == '.')) {
				ALLOC_GROW(starts, n + 1, cap);
				starts[n++] = out.len;
				buf_addc(&out, '/');
				buf_add(&out, p, len);
			}
			p += len;
			p += *p == '/';
		}
	}
	free(starts);
	if (!out.len)
		buf_addc(&out, '/');
	out.data[out.len] = '\0';
	return buf_detach(&out, NULL);
}

/* Appends id to b percent-encoded (except '/'), as an absolute path. */
static void cli_app_add_id(struct buf *b, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";

	if (id[0] != '/')
		buf_addc(b, '/');
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if (isalnum(*p) || strchr("-._~/", *p)) {
			buf_addc(b, (char)*p);
		} else {
			buf_addc(b, '%');
			buf_addc(b, hex[*p >> 4]);
			buf_addc(b, hex[*p & 15]);
		}
	}
}

/* prefix + encoded id + suffix (may be NULL); heap. */
static char *cli_app_path(const char *prefix, const char *id,
                          const char *suffix)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, prefix);
	cli_app_add_id(&b, id);
	if (suffix)
		buf_adds(&b, suffix);
	return buf_detach(&b, NULL);
}

/* ---- talking to the services --------------------------------------------
 */

static void cli_chomp(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/*
 * Prints why the services refused to do what: Marathon's "message", each
 * problem of a 422 as "path: error" on its own line, and for a 409 (the
 * app is locked by a deployment) what to do, mentioning --force when the
 * verb has it.
 */
static void cli_app_refused(const char *what, struct cli_response *r,
                            bool has_force)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "message"));
	json_t *d;
	size_t i;

	cli_chomp(r->body);
	fprintf(stderr, "atoll: cannot %s: %s (HTTP %d)\n", what,
	        msg        ? msg
	        : *r->body ? r->body
	                   : "no reason given",
	        r->status);
	json_array_foreach(json_object_get(j, "details"), i, d)
	{
		const char *path =
		    json_string_value(json_object_get(d, "path"));
		json_t *e;
		size_t k;

		if (!path || !*path)
			path = "/";
		json_array_foreach(json_object_get(d, "errors"), k, e)
		    fprintf(stderr, "%s: %s\n", path,
		            json_string_value(e) ? json_string_value(e) : "?");
	}
	if (r->status == 409)
		fprintf(stderr,
		        "atoll: a deployment in progress holds it: wait for "
		        "it, roll it back (atoll deployment rollback ID)%s\n",
		        has_force ? ", or pass --force to replace it" : "");
	json_decref(j);
}

/*
 * One exchange; body NULL sends none. On a 2xx answer returns CLI_OK with
 * *out the decoded body (NULL when empty or out is NULL) and *status
 * (when not NULL). Otherwise prints why (what names the action) and
 * returns CLI_UNREACHABLE or CLI_FAILED.
 */
static int cli_app_call(const struct cli_services *s, const char *method,
                        const char *path, const char *body, const char *what,
                        bool has_force, int *status, json_t **out)
{
	struct cli_response r;
	json_error_t je;
	int rc = CLI_OK;

	if (out)
		*out = NULL;
	if (cli_http(s->host, s->port, method, path, body,
	             body ? strlen(body) : 0, 0, &r)) {
		cli_print_unreachable("the services", s->address, r.err);
		rc = CLI_UNREACHABLE;
		goto out;
	}
	if (status)
		*status = r.status;
	if (r.status < 200 || r.status > 299) {
		cli_app_refused(what, &r, has_force);
		rc = CLI_FAILED;
		goto out;
	}
	if (out && r.len) {
		*out = json_loadb(r.body, r.len, 0, &je);
		if (!*out) {
			fprintf(stderr,
			        "atoll: the services answered %s %s with bad "
			        "JSON: %s\n",
			        method, path, je.text);
			rc = CLI_FAILED;
		}
	}
out:
	cli_response_release(&r);
	return rc;
}

/* Does prefix/id exist (GET answers 200, not 404)? Returns CLI_OK with
 * *exists set, or prints why it cannot tell and returns the exit code. */
static int cli_app_exists(const struct cli_services *s, const char *prefix,
                          const char *id, bool *exists)
{
	struct cli_response r;
	char *path = cli_app_path(prefix, id, NULL);
	int rc = CLI_OK;

	*exists = false;
	if (cli_http(s->host, s->port, "GET", path, NULL, 0, 0, &r)) {
		cli_print_unreachable("the services", s->address, r.err);
		rc = CLI_UNREACHABLE;
	} else if (r.status == 200) {
		*exists = true;
	} else if (r.status != 404) {
		cli_app_refused("look the group up", &r, false);
		rc = CLI_FAILED;
	}
	cli_response_release(&r);
	free(path);
	return rc;
}

/* GETs path for a listing; with json prints the answer as it came and
 * sets *out NULL. */
static int cli_app_get_listing(const struct cli_services *s, const char *path,
                               const char *what, bool json, json_t **out)
{
	struct cli_response r;
	int rc;

	*out = NULL;
	if (!json)
		return cli_app_call(s, "GET", path, NULL, what, false, NULL,
		                    out);
	if (cli_http(s->host, s->port, "GET", path, NULL, 0, 0, &r)) {
		cli_print_unreachable("the services", s->address, r.err);
		rc = CLI_UNREACHABLE;
	} else if (r.status != 200) {
		cli_app_refused(what, &r, false);
		rc = CLI_FAILED;
	} else {
		printf("%s%s", r.body,
		       r.len && r.body[r.len - 1] == '\n' ? "" : "\n");
		rc = CLI_OK;
	}
	cli_response_release(&r);
	return rc;
}

static long cli_json_long(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? (long)json_number_value(v) : 0;
}

static const char *cli_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool cli_app_has_health_checks(const json_t *app)
{
	return json_array_size(json_object_get(app, "healthChecks")) > 0;
}

/* Healthy instances as the CLI counts them: tasksHealthy, or tasksRunning
 * for an app without health checks. */
static long cli_app_healthy(const json_t *app)
{
	return cli_json_long(app, cli_app_has_health_checks(app)
	                              ? "tasksHealthy"
	                              : "tasksRunning");
}

/* ---- waiting for a deployment --------------------------------------------
 */

enum cli_want {
	CLI_WANT_UP,   /* present, healthy == instances */
	CLI_WANT_GONE, /* absent */
	CLI_WANT_ANY,  /* absent, or as CLI_WANT_UP */
};

struct cli_watch_app {
	char *id;
	enum cli_want want;
	char *version; /* at the first poll; NULL while unknown or absent */
	/* Last seen. */
	bool present;
	bool checked; /* has health checks */
	long instances, healthy;
	char *failure; /* lastTaskFailure.message */
};

struct cli_watch {
	const struct cli_services *s;
	const char *deployment_id; /* NULL: no deployment to wait for */
	struct cli_watch_app *apps;
	size_t napps, cap;
	bool polled;    /* versions recorded */
	json_t *before; /* ids of other deployments on the apps at first */
	int last_err;   /* of the last poll that got no answer */
	bool tty;
	/* Our deployment, last seen. */
	bool dep_seen;
	double deadline, since_progress;
	struct buf line; /* the progress line last printed */
};

static void cli_watch_init(struct cli_watch *w, const struct cli_services *s,
                           const char *deployment_id)
{
	memset(w, 0, sizeof(*w));
	w->before = json_array();
	w->s = s;
	w->deployment_id = deployment_id;
	w->tty = isatty(STDOUT_FILENO);
}

static void cli_watch_add(struct cli_watch *w, const char *id,
                          enum cli_want want)
{
	for (size_t i = 0; i < w->napps; i++)
		if (streq(w->apps[i].id, id))
			return;
	ALLOC_GROW(w->apps, w->napps + 1, w->cap);
	memset(&w->apps[w->napps], 0, sizeof(w->apps[0]));
	w->apps[w->napps].id = xstrdup(id);
	w->apps[w->napps].want = want;
	w->napps++;
}

static void cli_watch_release(struct cli_watch *w)
{
	for (size_t i = 0; i < w->napps; i++) {
		free(w->apps[i].id);
		free(w->apps[i].version);
		free(w->apps[i].failure);
	}
	free(w->apps);
	json_decref(w->before);
	buf_release(&w->line);
}

static struct cli_watch_app *cli_watch_find(struct cli_watch *w, const char *id)
{
	for (size_t i = 0; id && i < w->napps; i++)
		if (streq(w->apps[i].id, id))
			return &w->apps[i];
	return NULL;
}

/* Does deployment d (GET /v2/deployments entry) touch a watched app? */
static bool cli_watch_touches(struct cli_watch *w, const json_t *d)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(d, "affectedApps"), i, a)
	{
		if (cli_watch_find(w, json_string_value(a)))
			return true;
	}
	return false;
}

static bool cli_watch_app_ok(const struct cli_watch_app *a)
{
	switch (a->want) {
	case CLI_WANT_GONE:
		return !a->present;
	case CLI_WANT_ANY:
		return !a->present || a->healthy == a->instances;
	case CLI_WANT_UP:
		return a->present && a->healthy == a->instances;
	}
	return false;
}

/* Records what GET /v2/apps says about the watched apps. Returns the
 * first app whose version changed since the first poll, or that went
 * away unasked (a rollback stopped it), or NULL. */
static struct cli_watch_app *cli_watch_update_apps(struct cli_watch *w,
                                                   const json_t *list)
{
	struct cli_watch_app *changed = NULL;
	json_t *app;
	size_t i;

	for (i = 0; i < w->napps; i++)
		w->apps[i].present = false;
	json_array_foreach(json_object_get(list, "apps"), i, app)
	{
		struct cli_watch_app *a =
		    cli_watch_find(w, cli_json_str(app, "id"));
		const char *version = cli_json_str(app, "version");
		const char *failure = json_string_value(
		    cli_json_path(app, "lastTaskFailure.message"));

		if (!a)
			continue;
		a->present = true;
		a->checked = cli_app_has_health_checks(app);
		a->instances = cli_json_long(app, "instances");
		a->healthy = cli_app_healthy(app);
		free(a->failure);
		a->failure = failure ? xstrdup(failure) : NULL;
		if (!w->polled && version)
			a->version = xstrdup(version);
		else if (a->version && version && !streq(a->version, version) &&
		         !changed)
			changed = a;
	}
	for (i = 0; i < w->napps && !changed; i++)
		if (w->apps[i].version && !w->apps[i].present &&
		    w->apps[i].want != CLI_WANT_GONE)
			changed = &w->apps[i];
	w->polled = true;
	return changed;
}

/* "/a 2/3 healthy" for a watched app. */
static void cli_watch_add_counts(struct buf *b, const struct cli_watch_app *a)
{
	if (!a->present)
		buf_addf(b, "%s %s", a->id,
		         a->want == CLI_WANT_UP ? "not there yet" : "removed");
	else
		buf_addf(b, "%s %ld/%ld %s", a->id, a->healthy, a->instances,
		         a->checked ? "healthy" : "running");
}

/* Prints line when it differs from the last one printed. */
static void cli_watch_show(struct cli_watch *w, const struct buf *line)
{
	if (w->line.len == line->len &&
	    (!line->len || !memcmp(w->line.data, line->data, line->len)))
		return;
	buf_reset(&w->line);
	buf_add(&w->line, line->data, line->len);
	if (w->tty)
		printf("\r%s\033[K", line->data);
	else
		printf("%s\n", line->data);
	fflush(stdout);
}

/* Ends an in-place line before other output. */
static void cli_watch_end_line(struct cli_watch *w)
{
	if (w->tty && w->line.len)
		printf("\n");
	fflush(stdout);
	buf_reset(&w->line);
}

/* The progress line: our deployment's step and its current apps, or the
 * state of every watched app. */
static void cli_watch_line(struct cli_watch *w, const json_t *dep,
                           const char *state, struct buf *line)
{
	const char *id = w->deployment_id;
	bool any = false;
	json_t *act;
	size_t i;

	buf_reset(line);
	if (id)
		buf_addf(line, "deployment %.8s%s: ", id,
		         strlen(id) > 8 ? "..." : "");
	if (dep) {
		buf_addf(line, "step %ld of %ld (",
		         cli_json_long(dep, "currentStep"),
		         cli_json_long(dep, "totalSteps"));
		json_array_foreach(json_object_get(dep, "currentActions"), i,
		                   act)
		{
			buf_addf(line, "%s%s %s", i ? ", " : "",
			         cli_json_str(act, "action")
			             ? cli_json_str(act, "action")
			             : "?",
			         cli_json_str(act, "app")
			             ? cli_json_str(act, "app")
			             : "?");
		}
		buf_adds(line, ")");
		json_array_foreach(json_object_get(dep, "currentActions"), i,
		                   act)
		{
			struct cli_watch_app *a =
			    cli_watch_find(w, cli_json_str(act, "app"));

			if (!a)
				continue;
			buf_adds(line, any ? ", " : "; ");
			cli_watch_add_counts(line, a);
			any = true;
		}
		return;
	}
	buf_adds(line, state);
	for (i = 0; i < w->napps; i++) {
		buf_adds(line, any ? ", " : "; ");
		cli_watch_add_counts(line, &w->apps[i]);
		any = true;
	}
}

/* Prints how each app that is not as wanted ended. */
static void cli_watch_explain_apps(const struct cli_watch *w)
{
	for (size_t i = 0; i < w->napps; i++) {
		const struct cli_watch_app *a = &w->apps[i];

		if (cli_watch_app_ok(a) && !a->failure)
			continue;
		if (!a->present)
			fprintf(stderr, "atoll: %s: %s\n", a->id,
			        a->want == CLI_WANT_GONE ? "still there"
			                                 : "does not exist");
		else
			fprintf(stderr,
			        "atoll: %s: %ld of %ld instances %s%s%s\n",
			        a->id, a->healthy, a->instances,
			        a->checked ? "healthy" : "running",
			        a->failure ? "; last task failure: " : "",
			        a->failure ? a->failure : "");
	}
}

/* Why our deployment went away without finishing. */
static void cli_watch_explain_end(const struct cli_watch *w,
                                  const json_t *other)
{
	const char *id = w->deployment_id ? w->deployment_id : "?";
	bool deadline = w->dep_seen && w->deadline > 0 &&
	                w->since_progress + 1.0 >= w->deadline;

	if (other && !json_is_true(json_object_get(other, "rollback"))) {
		fprintf(stderr,
		        "atoll: deployment %s was replaced by deployment %s "
		        "(a forced change)\n",
		        id, cli_json_str(other, "id"));
	} else if (deadline) {
		fprintf(stderr,
		        "atoll: deployment %s failed: no progress for %g s "
		        "(upgradeStrategy.progressDeadlineSeconds); rolled "
		        "back%s%s\n",
		        id, w->deadline, other ? " by deployment " : "",
		        other ? cli_json_str(other, "id") : "");
	} else {
		fprintf(stderr,
		        "atoll: deployment %s did not finish: rolled back%s%s "
		        "(cancelled) or replaced\n",
		        id, other ? " by deployment " : "",
		        other ? cli_json_str(other, "id") : "");
	}
}

static void cli_sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* GETs path quietly for a poll: CLI_OK, CLI_UNREACHABLE (retry) or
 * CLI_FAILED (printed). */
static int cli_watch_get(struct cli_watch *w, const char *path, json_t **out)
{
	struct cli_response r;
	int rc = CLI_OK;

	*out = NULL;
	if (cli_http(w->s->host, w->s->port, "GET", path, NULL, 0, 0, &r)) {
		w->last_err = r.err;
		rc = CLI_UNREACHABLE;
	} else if (r.status != 200) {
		cli_watch_end_line(w);
		cli_app_refused("follow the deployment", &r, false);
		rc = CLI_FAILED;
	} else if (!(*out = json_loadb(r.body, r.len, 0, NULL))) {
		cli_watch_end_line(w);
		fprintf(stderr,
		        "atoll: the services answered %s with bad "
		        "JSON\n",
		        path);
		rc = CLI_FAILED;
	}
	cli_response_release(&r);
	return rc;
}

/* Ends the wait with a failure: the last line, why, and the apps. */
static int cli_watch_fail(struct cli_watch *w, struct buf *line,
                          const json_t *other, bool ended)
{
	cli_watch_line(w, NULL, "ended", line);
	cli_watch_show(w, line);
	cli_watch_end_line(w);
	if (ended)
		cli_watch_explain_end(w, other);
	return CLI_FAILED;
}

/*
 * One poll: reads the deployments and the apps and decides. Returns -1 to
 * poll again, CLI_UNREACHABLE when the services did not answer (the caller
 * retries for a while), or the exit code. *settle is when the apps began
 * to settle (0 while a deployment runs).
 */
static int cli_watch_poll(struct cli_watch *w, uint64_t now, uint64_t *settle,
                          struct buf *line)
{
	json_t *deps = NULL, *apps = NULL, *d, *ours = NULL, *other = NULL;
	struct cli_watch_app *changed;
	bool all_ok = true, other_is_new = false;
	size_t i;
	int rc;

	rc = cli_watch_get(w, "/v2/deployments", &deps);
	if (rc == CLI_OK)
		rc = cli_watch_get(w, "/v2/apps", &apps);
	if (rc)
		goto out;
	json_array_foreach(deps, i, d)
	{
		const char *id = cli_json_str(d, "id");

		if (w->deployment_id && id && streq(id, w->deployment_id)) {
			ours = d;
		} else if (id && cli_watch_touches(w, d)) {
			bool seen = false;
			json_t *b;
			size_t k;

			/* One that ran before ours began on apps ours
			 * left alone, or one that took them over. */
			if (!w->polled)
				json_array_append_new(w->before,
				                      json_string(id));
			json_array_foreach(w->before, k, b)
			{
				seen = seen || streq(json_string_value(b), id);
			}
			if (!other || (!seen && !other_is_new)) {
				other = d;
				other_is_new = !seen;
			}
		}
	}
	changed = cli_watch_update_apps(w, apps);
	rc = -1;
	if (ours) {
		w->dep_seen = true;
		w->deadline = json_number_value(
		    json_object_get(ours, "progressDeadlineSeconds"));
		w->since_progress = json_number_value(
		    json_object_get(ours, "secondsSinceProgress"));
		cli_watch_line(w, ours, NULL, line);
		cli_watch_show(w, line);
		*settle = 0;
		goto out;
	}
	if (other && other_is_new && w->deployment_id) {
		/* Ours is gone and another one took the apps over. */
		rc = cli_watch_fail(w, line, other, true);
		cli_watch_explain_apps(w);
		goto out;
	}
	if (other) {
		/* Nothing of ours left to follow: wait for that one. */
		cli_watch_line(w, other, NULL, line);
		cli_watch_show(w, line);
		*settle = 0;
		goto out;
	}
	if (changed && w->deployment_id) {
		rc = cli_watch_fail(w, line, NULL, true);
		if (changed->present)
			fprintf(stderr,
			        "atoll: %s has changed since (its version is "
			        "no longer %s)\n",
			        changed->id, changed->version);
		else
			fprintf(stderr, "atoll: %s was removed\n", changed->id);
		cli_watch_explain_apps(w);
		goto out;
	}
	for (i = 0; i < w->napps; i++)
		all_ok = all_ok && cli_watch_app_ok(&w->apps[i]);
	cli_watch_line(w, NULL, all_ok ? "done" : "settling", line);
	cli_watch_show(w, line);
	if (all_ok) {
		cli_watch_end_line(w);
		rc = CLI_OK;
		goto out;
	}
	if (!*settle)
		*settle = now;
	if (now - *settle >= CLI_APP_SETTLE_MS) {
		rc = cli_watch_fail(w, line, NULL, false);
		fprintf(stderr,
		        "atoll: %s ended, but not every app is as wanted:\n",
		        w->deployment_id ? "the deployment" : "the change");
		cli_watch_explain_apps(w);
	}
out:
	json_decref(deps);
	json_decref(apps);
	return rc;
}

/*
 * Follows the deployment (w->deployment_id, or none) until every watched
 * app is as wanted (CLI_OK), the deployment failed or the timeout passed
 * (CLI_FAILED, reason on stderr), or the services stayed unreachable
 * (CLI_UNREACHABLE).
 */
static int cli_watch_run(struct cli_watch *w, double timeout_s)
{
	uint64_t start = timeutil_mono_ms(), settle = 0, lost = 0, now;
	uint64_t limit = (uint64_t)(timeout_s * 1000.0);
	struct buf line = BUF_INIT;
	int rc;

	for (;;) {
		now = timeutil_mono_ms();
		rc = cli_watch_poll(w, now, &settle, &line);
		if (rc == CLI_UNREACHABLE) {
			if (!lost)
				lost = now;
			if (now - lost >= CLI_APP_UNREACHABLE_MS) {
				cli_watch_end_line(w);
				cli_print_unreachable(
				    "the services", w->s->address, w->last_err);
				break;
			}
		} else if (rc >= 0) {
			break;
		} else {
			lost = 0;
		}
		if (timeutil_mono_ms() - start >= limit) {
			cli_watch_end_line(w);
			fprintf(
			    stderr,
			    "atoll: timed out after %g s waiting for %s%s\n",
			    timeout_s,
			    w->deployment_id ? "deployment " : "the apps",
			    w->deployment_id ? w->deployment_id : "");
			cli_watch_explain_apps(w);
			rc = CLI_FAILED;
			break;
		}
		cli_sleep_ms(CLI_APP_POLL_MS);
	}
	buf_release(&line);
	return rc;
}

/* Prints the outcome of a change and, with wait, follows it. answer is
 * {"deploymentId","version"} or an app (POST). */
static int cli_app_follow(const struct cli_services *s, const char *subject,
                          const char *doing, const json_t *answer,
                          struct cli_watch *w, bool wait, double timeout)
{
	const char *dep = cli_json_str(answer, "deploymentId");

	if (!dep)
		dep = cli_json_str(
		    json_array_get(json_object_get(answer, "deployments"), 0),
		    "id");
	if (dep)
		printf("%s: %s, deployment %s\n", subject, doing, dep);
	else
		printf("%s: no change\n", subject);
	fflush(stdout);
	if (!wait)
		return CLI_OK;
	w->s = s;
	w->deployment_id = dep;
	return cli_watch_run(w, timeout);
}

/* ---- app deploy ----------------------------------------------------------
 */

/* Reads path ("-" = stdin) into a JSON value; NULL after a message. */
static json_t *cli_app_load(const char *path)
{
	struct buf b = BUF_INIT;
	json_error_t je;
	json_t *j = NULL;
	int fd = 0;
	ssize_t n;

	if (strcmp(path, "-")) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "atoll: cannot open '%s': %s\n", path,
			        strerror(errno));
			return NULL;
		}
	}
	for (;;) {
		buf_grow(&b, 65536);
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "atoll: cannot read '%s': %s\n", path,
			        strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > CLI_APP_MAX_FILE) {
			fprintf(stderr, "atoll: '%s' is larger than %u MiB\n",
			        path, CLI_APP_MAX_FILE >> 20);
			goto out;
		}
	}
	j = json_loadb(b.data ? b.data : "", b.len,
	               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		fprintf(stderr,
		        "atoll: '%s' is not JSON: %s (line %d, "
		        "column %d)\n",
		        path, je.text, je.line, je.column);
out:
	if (fd > 0)
		close(fd);
	buf_release(&b);
	return j;
}

/* Adds the apps of group g (ids resolved under parent) to w. Returns
 * false after a message when the file nests too deeply. */
static bool cli_app_group_apps(struct cli_watch *w, const json_t *g,
                               const char *parent, int depth)
{
	const char *gid = cli_json_str(g, "id");
	char *id = cli_app_id_resolve(parent, gid ? gid : "");
	bool ok = true;
	json_t *x;
	size_t i;

	if (depth > CLI_APP_MAX_DEPTH) {
		fprintf(stderr, "atoll: groups nest deeper than %d levels\n",
		        CLI_APP_MAX_DEPTH);
		free(id);
		return false;
	}
	json_array_foreach(json_object_get(g, "apps"), i, x)
	{
		const char *aid = cli_json_str(x, "id");
		char *full;

		if (!aid)
			continue; /* the services name it in their 422 */
		full = cli_app_id_resolve(id, aid);
		cli_watch_add(w, full, CLI_WANT_UP);
		free(full);
	}
	json_array_foreach(json_object_get(g, "groups"), i, x)
	{
		if (ok && json_is_object(x))
			ok = cli_app_group_apps(w, x, id, depth + 1);
	}
	free(id);
	return ok;
}

static bool cli_app_is_group(const json_t *j)
{
	return (json_object_get(j, "apps") || json_object_get(j, "groups")) &&
	       !json_object_get(j, "cmd") && !json_object_get(j, "args");
}

static int cli_app_deploy(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app deploy",
	    "app deploy FILE.json [--wait] [--force] [--timeout S]",
	    "Creates or replaces what FILE.json describes (\"-\" reads "
	    "stdin): an app,\n"
	    "a JSON array of apps, or a group (an object with \"apps\" or "
	    "\"groups\";\n"
	    "apps under the group that the file does not list are "
	    "stopped).\n"
	    "With --wait, shows the deployment's progress and returns when "
	    "every\n"
	    "app runs its instances healthy; exits 1 if the deployment "
	    "failed\n"
	    "(rolled back at its progress deadline) or timed out."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg), CLI_OPT_WAIT(cfg),
	                               CLI_OPT_FORCE(cfg),
	                               CLI_OPT_TIMEOUT(cfg)};
	struct cli_services s;
	struct cli_watch w;
	const char *pos[1];
	json_t *file = NULL, *ans = NULL;
	char *path = NULL, *body = NULL, *subject = NULL, *what = NULL;
	const char *q, *method = "PUT";
	bool exists = false;
	int rc, status = 0;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 1,
	                   &s);
	if (rc >= 0)
		return rc;
	cli_watch_init(&w, &s, NULL);
	rc = CLI_FAILED;
	file = cli_app_load(pos[0]);
	if (!file)
		goto out;
	q = cfg.force ? "?force=true" : "";
	if (json_is_array(file)) {
		json_t *x;
		size_t i;

		json_array_foreach(file, i, x)
		{
			const char *id = cli_json_str(x, "id");
			char *full;

			if (!id)
				continue; /* the services name it */
			full = cli_app_id_resolve("/", id);
			cli_watch_add(&w, full, CLI_WANT_UP);
			free(full);
		}
		path = xasprintf("/v2/apps%s", q);
		subject = xasprintf("%zu apps", json_array_size(file));
	} else if (!json_is_object(file)) {
		fprintf(stderr,
		        "atoll: '%s': expected an app, a group or an array of "
		        "apps\n",
		        pos[0]);
		goto out;
	} else if (!json_is_string(json_object_get(file, "id"))) {
		fprintf(stderr,
		        "atoll: '%s': the %s has no \"id\" (a string)\n",
		        pos[0], cli_app_is_group(file) ? "group" : "app");
		goto out;
	} else if (cli_app_is_group(file)) {
		char *gid = cli_app_id_resolve("/", cli_json_str(file, "id"));

		if (streq(gid, "/")) {
			fprintf(stderr,
			        "atoll: '%s': deploying the root group \"/\" "
			        "would stop every app not in the file; use a "
			        "group id\n",
			        pos[0]);
			free(gid);
			goto out;
		}
		if (!cli_app_group_apps(&w, file, "/", 0)) {
			free(gid);
			goto out;
		}
		rc = cli_app_exists(&s, "/v2/groups", gid, &exists);
		if (rc) {
			free(gid);
			goto out;
		}
		rc = CLI_FAILED;
		/* PUT creates too, but answers 200: POST says "created". */
		path = exists ? cli_app_path("/v2/groups", gid, q)
		              : xasprintf("/v2/groups%s", q);
		method = exists ? "PUT" : "POST";
		subject = xasprintf("group %s", gid);
		free(gid);
	} else {
		char *id = cli_app_id_resolve("/", cli_json_str(file, "id"));

		cli_watch_add(&w, id, CLI_WANT_UP);
		path =
		    cli_app_path("/v2/apps", id,
		                 cfg.force ? "?partialUpdate=false&force=true"
		                           : "?partialUpdate=false");
		subject = xasprintf("app %s", id);
		free(id);
	}
	body = json_dumps(file, JSON_COMPACT);
	what = xasprintf("deploy %s", subject);
	rc = cli_app_call(&s, method, path, body, what, true, &status, &ans);
	if (rc)
		goto out;
	rc = cli_app_follow(&s, subject,
	                    json_is_array(file) ? "deploying"
	                    : status == 201     ? "created"
	                                        : "updated",
	                    ans, &w, cfg.wait, cfg.timeout);
out:
	json_decref(ans);
	json_decref(file);
	free(body);
	free(path);
	free(subject);
	free(what);
	cli_watch_release(&w);
	cli_services_release(&s);
	return rc;
}

/* ---- app ls / show -------------------------------------------------------
 */

/* The app's command for a table: cmd, or args joined, shortened. */
static void cli_app_cmd(const json_t *app, size_t width, struct buf *out)
{
	const char *cmd = cli_json_str(app, "cmd");
	json_t *arg;
	size_t i;

	buf_reset(out);
	if (cmd) {
		buf_adds(out, cmd);
	} else {
		json_array_foreach(json_object_get(app, "args"), i, arg)
		{
			if (i)
				buf_addc(out, ' ');
			buf_adds(out, json_string_value(arg)
			                  ? json_string_value(arg)
			                  : "?");
		}
	}
	for (i = 0; i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\t')
			out->data[i] = ' ';
	if (width && out->len > width) {
		out->len = width - 2;
		buf_adds(out, "..");
	}
	if (!out->len)
		buf_addc(out, '-');
}

static int cli_app_ls(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app ls", "app ls [--json]",
	    "Lists the apps: instances running/wanted, healthy instances "
	    "(\"-\" without\n"
	    "health checks), resources per instance, whether a deployment "
	    "is under way."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg),
	                               CLI_OPT_JSON(cfg)};
	struct cli_services s;
	struct cli_table t;
	struct buf cmd = BUF_INIT;
	json_t *ans, *app;
	size_t i;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, NULL,
	                   0, &s);
	if (rc >= 0)
		return rc;
	rc = cli_app_get_listing(&s, "/v2/apps", "list the apps", cfg.json,
	                         &ans);
	cli_services_release(&s);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 7);
	cli_table_row(&t,
	              (const char *const[]){"ID", "INSTANCES", "HEALTHY",
	                                    "CPUS", "MEM", "DEPLOYING", "CMD"});
	json_array_foreach(json_object_get(ans, "apps"), i, app)
	{
		char inst[64], healthy[32], cpus[32], mem[32];

		snprintf(inst, sizeof(inst), "%ld/%ld",
		         cli_json_long(app, "tasksRunning"),
		         cli_json_long(app, "instances"));
		if (cli_app_has_health_checks(app))
			snprintf(healthy, sizeof(healthy), "%ld",
			         cli_json_long(app, "tasksHealthy"));
		else
			snprintf(healthy, sizeof(healthy), "-");
		cli_app_cmd(app, CLI_APP_CMD_WIDTH, &cmd);
		cli_table_row(
		    &t, (const char *const[]){
			    cli_json_str(app, "id"), inst, healthy,
			    cli_fmt_scalar(
				json_number_value(json_object_get(app, "cpus")),
				cpus, sizeof(cpus)),
			    cli_fmt_scalar(
				json_number_value(json_object_get(app, "mem")),
				mem, sizeof(mem)),
			    json_array_size(json_object_get(app, "deployments"))
				? "yes"
				: "no",
			    cmd.data});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	buf_release(&cmd);
	json_decref(ans);
	return CLI_OK;
}

/* One health check, readably: "HTTP /health port 0, every 10s, ...". */
static void cli_app_health_check(const json_t *hc, struct buf *out)
{
	const char *proto = cli_json_str(hc, "protocol");
	const char *cmd = json_string_value(cli_json_path(hc, "command.value"));
	const char *path = cli_json_str(hc, "path");

	buf_adds(out, proto ? proto : "?");
	if (cmd)
		buf_addf(out, " `%s`", cmd);
	if (path)
		buf_addf(out, " %s", path);
	if (json_object_get(hc, "portIndex"))
		buf_addf(out, " port #%ld", cli_json_long(hc, "portIndex"));
	buf_addf(out,
	         ", every %gs, timeout %gs, grace %gs, kill after %ld "
	         "failures",
	         json_number_value(json_object_get(hc, "intervalSeconds")),
	         json_number_value(json_object_get(hc, "timeoutSeconds")),
	         json_number_value(json_object_get(hc, "gracePeriodSeconds")),
	         cli_json_long(hc, "maxConsecutiveFailures"));
}

/* "field: value" for a nested value, as compact JSON. */
static void cli_app_print_json(const char *label, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	printf("%-14s %s\n", label, text ? text : "?");
	free(text);
}

static void cli_app_print_tasks(const json_t *app)
{
	bool checked = cli_app_has_health_checks(app);
	struct cli_table t;
	struct buf ports = BUF_INIT;
	json_t *task, *p;
	size_t i, k;

	cli_table_init(&t, 5);
	cli_table_row(&t, (const char *const[]){"ID", "HOST", "PORTS", "STATE",
	                                        "HEALTHY"});
	json_array_foreach(json_object_get(app, "tasks"), i, task)
	{
		buf_reset(&ports);
		json_array_foreach(json_object_get(task, "ports"), k, p)
		    buf_addf(&ports, "%s%lld", k ? "," : "",
		             (long long)json_integer_value(p));
		cli_table_row(
		    &t,
		    (const char *const[]){
			cli_json_str(task, "id"), cli_json_str(task, "host"),
			ports.len ? ports.data : "-",
			cli_json_str(task, "state"),
			!checked ? "-"
			: json_is_true(json_object_get(task, "healthy"))
			    ? "yes"
			    : "no"});
	}
	printf("\n");
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no tasks\n");
	cli_table_release(&t);
	buf_release(&ports);
}

static int cli_app_show(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app show", "app show ID [--json]",
	    "Shows an app's definition (the fields that matter), its "
	    "state and its tasks."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg),
	                               CLI_OPT_JSON(cfg)};
	struct cli_services s;
	struct buf b = BUF_INIT;
	const char *pos[1];
	json_t *ans, *app, *x;
	char *path, *what, num[32];
	size_t i;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 1,
	                   &s);
	if (rc >= 0)
		return rc;
	path = cli_app_path("/v2/apps", pos[0], NULL);
	what = xasprintf("show app %s", pos[0]);
	rc = cli_app_get_listing(&s, path, what, cfg.json, &ans);
	free(path);
	free(what);
	cli_services_release(&s);
	if (rc || !ans)
		return rc;
	app = json_object_get(ans, "app");
	printf("%-14s %s\n", "id:", cli_json_str(app, "id"));
	cli_app_cmd(app, 0, &b);
	printf("%-14s %s\n",
	       cli_json_str(app, "cmd") ? "cmd:" : "args:", b.data);
	printf("%-14s %ld wanted, %ld running, %ld staged",
	       "instances:", cli_json_long(app, "instances"),
	       cli_json_long(app, "tasksRunning"),
	       cli_json_long(app, "tasksStaged"));
	if (cli_app_has_health_checks(app))
		printf(", %ld healthy, %ld unhealthy",
		       cli_json_long(app, "tasksHealthy"),
		       cli_json_long(app, "tasksUnhealthy"));
	printf("\n");
	buf_reset(&b);
	buf_addf(&b, "cpus %s",
	         cli_fmt_scalar(json_number_value(json_object_get(app, "cpus")),
	                        num, sizeof(num)));
	buf_addf(&b, ", mem %s",
	         cli_fmt_scalar(json_number_value(json_object_get(app, "mem")),
	                        num, sizeof(num)));
	buf_addf(&b, ", disk %s",
	         cli_fmt_scalar(json_number_value(json_object_get(app, "disk")),
	                        num, sizeof(num)));
	if (json_number_value(json_object_get(app, "gpus")) > 0)
		buf_addf(&b, ", gpus %s",
		         cli_fmt_scalar(
			     json_number_value(json_object_get(app, "gpus")),
			     num, sizeof(num)));
	printf("%-14s %s\n", "resources:", b.data);
	if (json_array_size(json_object_get(app, "constraints")))
		cli_app_print_json("constraints:",
		                   json_object_get(app, "constraints"));
	buf_reset(&b);
	json_array_foreach(json_object_get(app, "portDefinitions"), i, x)
	{
		buf_addf(
		    &b, "%s%ld/%s", i ? ", " : "", cli_json_long(x, "port"),
		    cli_json_str(x, "protocol") ? cli_json_str(x, "protocol")
						: "tcp");
		if (cli_json_str(x, "name"))
			buf_addf(&b, " (%s)", cli_json_str(x, "name"));
	}
	if (b.len)
		printf("%-14s %s\n", "ports:", b.data);
	json_array_foreach(json_object_get(app, "healthChecks"), i, x)
	{
		buf_reset(&b);
		cli_app_health_check(x, &b);
		printf("%-14s %s\n", i ? "" : "health checks:", b.data);
	}
	if (json_object_size(json_object_get(app, "env")))
		cli_app_print_json("env:", json_object_get(app, "env"));
	if (json_object_size(json_object_get(app, "labels")))
		cli_app_print_json("labels:", json_object_get(app, "labels"));
	if (json_array_size(json_object_get(app, "dependencies")))
		cli_app_print_json("dependencies:",
		                   json_object_get(app, "dependencies"));
	if (json_object_get(app, "upgradeStrategy"))
		cli_app_print_json("upgrade:",
		                   json_object_get(app, "upgradeStrategy"));
	printf("%-14s %s\n", "version:",
	       cli_json_str(app, "version") ? cli_json_str(app, "version")
	                                    : "-");
	buf_reset(&b);
	json_array_foreach(json_object_get(app, "deployments"), i, x)
	    buf_addf(&b, "%s%s", i ? ", " : "",
	             cli_json_str(x, "id") ? cli_json_str(x, "id") : "?");
	printf("%-14s %s\n", "deployment:", b.len ? b.data : "none");
	x = json_object_get(app, "lastTaskFailure");
	if (cli_json_str(x, "message"))
		printf("%-14s %s\n",
		       "last failure:", cli_json_str(x, "message"));
	cli_app_print_tasks(app);
	buf_release(&b);
	json_decref(ans);
	return CLI_OK;
}

/* ---- app scale / restart / rm --------------------------------------------
 */

/* The changes of one app: method on path (with ?force), then follow. */
static int cli_app_change(const struct cli_app_cfg *cfg,
                          const struct cli_services *s, const char *id,
                          const char *method, const char *suffix,
                          const char *body, const char *what, const char *doing,
                          enum cli_want want)
{
	struct cli_watch w;
	json_t *ans = NULL;
	char *path, *full, *subject;
	int rc;

	full = cli_app_id_resolve("/", id);
	path = cli_app_path("/v2/apps", full, suffix);
	if (cfg->force) {
		char *p = xasprintf("%s?force=true", path);

		free(path);
		path = p;
	}
	cli_watch_init(&w, s, NULL);
	cli_watch_add(&w, full, want);
	subject = xasprintf("app %s", full);
	rc = cli_app_call(s, method, path, body, what, true, NULL, &ans);
	if (!rc)
		rc = cli_app_follow(s, subject, doing, ans, &w, cfg->wait,
		                    cfg->timeout);
	json_decref(ans);
	cli_watch_release(&w);
	free(subject);
	free(path);
	free(full);
	return rc;
}

static int cli_app_scale(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app scale", "app scale ID N [--wait] [--force] [--timeout S]",
	    "Sets the app's number of instances to N (extra instances are "
	    "killed by\n"
	    "its killSelection). With --wait, follows the deployment."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg), CLI_OPT_WAIT(cfg),
	                               CLI_OPT_FORCE(cfg),
	                               CLI_OPT_TIMEOUT(cfg)};
	struct cli_services s;
	const char *pos[2];
	char *body, *what, *doing, *end, *path;
	long n;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 2,
	                   &s);
	if (rc >= 0)
		return rc;
	errno = 0;
	n = strtol(pos[1], &end, 10);
	if (errno || end == pos[1] || *end || n < 0 || n > INT32_MAX) {
		fprintf(stderr,
		        "atoll app scale: N: expected a number of instances "
		        ">= 0, got '%s'\n",
		        pos[1]);
		cli_services_release(&s);
		return CLI_USAGE;
	}
	what = xasprintf("scale %s", pos[0]);
	/* PUT would create a missing app: make sure it exists. */
	path = cli_app_path("/v2/apps", pos[0], NULL);
	rc = cli_app_call(&s, "GET", path, NULL, what, false, NULL, NULL);
	free(path);
	if (rc) {
		free(what);
		cli_services_release(&s);
		return rc;
	}
	body = xasprintf("{\"instances\":%ld}", n);
	doing = xasprintf("scaling to %ld", n);
	rc = cli_app_change(&cfg, &s, pos[0], "PUT", NULL, body, what, doing,
	                    CLI_WANT_UP);
	free(body);
	free(what);
	free(doing);
	cli_services_release(&s);
	return rc;
}

static int cli_app_restart(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app restart", "app restart ID [--wait] [--force] [--timeout S]",
	    "Replaces every instance of the app by a rolling upgrade within "
	    "its\n"
	    "upgradeStrategy. With --wait, follows the deployment."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg), CLI_OPT_WAIT(cfg),
	                               CLI_OPT_FORCE(cfg),
	                               CLI_OPT_TIMEOUT(cfg)};
	struct cli_services s;
	const char *pos[1];
	char *what;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 1,
	                   &s);
	if (rc >= 0)
		return rc;
	what = xasprintf("restart %s", pos[0]);
	rc = cli_app_change(&cfg, &s, pos[0], "POST", "/restart", NULL, what,
	                    "restarting", CLI_WANT_UP);
	free(what);
	cli_services_release(&s);
	return rc;
}

static int cli_app_rm(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "app rm", "app rm ID [--wait] [--force] [--timeout S]",
	    "Stops the app and removes it. With --wait, returns when it is "
	    "gone."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg), CLI_OPT_WAIT(cfg),
	                               CLI_OPT_FORCE(cfg),
	                               CLI_OPT_TIMEOUT(cfg)};
	struct cli_services s;
	const char *pos[1];
	char *what;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 1,
	                   &s);
	if (rc >= 0)
		return rc;
	what = xasprintf("remove %s", pos[0]);
	rc = cli_app_change(&cfg, &s, pos[0], "DELETE", NULL, NULL, what,
	                    "removing", CLI_WANT_GONE);
	free(what);
	cli_services_release(&s);
	return rc;
}

/* ---- deployments ---------------------------------------------------------
 */

/* Joins the strings of arr (or arr[i][key]) with ','. */
static void cli_join(const json_t *arr, const char *key, const char *key2,
                     struct buf *out)
{
	json_t *x;
	size_t i;

	buf_reset(out);
	json_array_foreach(arr, i, x)
	{
		const char *a =
		    key ? cli_json_str(x, key) : json_string_value(x);
		const char *b = key2 ? cli_json_str(x, key2) : NULL;

		if (out->len)
			buf_addc(out, ',');
		buf_adds(out, a ? a : "?");
		if (key2)
			buf_addf(out, ":%s", b ? b : "?");
	}
	if (!out->len)
		buf_addc(out, '-');
}

static int cli_deployment_ls(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "deployment ls", "deployment ls [--json]",
	    "Lists the deployments under way: the apps they change, the "
	    "current step\n"
	    "and its actions (ACTION:APP)."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {CLI_OPT_SERVICES(cfg),
	                               CLI_OPT_JSON(cfg)};
	struct cli_services s;
	struct cli_table t;
	struct buf apps = BUF_INIT, acts = BUF_INIT;
	json_t *ans, *d;
	size_t i;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, NULL,
	                   0, &s);
	if (rc >= 0)
		return rc;
	rc = cli_app_get_listing(&s, "/v2/deployments", "list the deployments",
	                         cfg.json, &ans);
	cli_services_release(&s);
	if (rc || !ans)
		return rc;
	cli_table_init(&t, 4);
	cli_table_row(&t,
	              (const char *const[]){"ID", "APPS", "STEP", "ACTIONS"});
	json_array_foreach(ans, i, d)
	{
		char step[64];

		snprintf(step, sizeof(step), "%ld/%ld",
		         cli_json_long(d, "currentStep"),
		         cli_json_long(d, "totalSteps"));
		cli_join(json_object_get(d, "affectedApps"), NULL, NULL, &apps);
		cli_join(json_object_get(d, "currentActions"), "action", "app",
		         &acts);
		if (json_is_true(json_object_get(d, "rollback")))
			buf_adds(&acts, ",(rollback)");
		cli_table_row(&t, (const char *const[]){cli_json_str(d, "id"),
		                                        apps.data, step,
		                                        acts.data});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	buf_release(&apps);
	buf_release(&acts);
	json_decref(ans);
	return CLI_OK;
}

static int cli_deployment_rollback(int argc, char **argv)
{
	static const struct cli_app_verb v = {
	    "deployment rollback",
	    "deployment rollback ID [--force] [--wait] [--timeout S]",
	    "Cancels the deployment and rolls its apps back to their "
	    "previous\n"
	    "definitions (a new deployment). With --force, only stops it "
	    "and leaves\n"
	    "the apps as they are. With --wait, follows the rollback."};
	struct cli_app_cfg cfg = {0};
	const struct cli_opt opts[] = {
	    CLI_OPT_SERVICES(cfg),
	    CLI_OPT_WAIT(cfg),
	    {"force", 'f', CLI_OPT_BOOL, &cfg.force,
	     "stop the deployment without rolling back"},
	    CLI_OPT_TIMEOUT(cfg)};
	struct cli_services s;
	struct cli_watch w;
	const char *pos[1];
	json_t *deps = NULL, *ans = NULL, *d, *a;
	char *path, *what, *subject;
	size_t i, k;
	int rc;

	rc = cli_app_parse(&v, opts, ARRAY_SIZE(opts), &cfg, argc, argv, pos, 1,
	                   &s);
	if (rc >= 0)
		return rc;
	cli_watch_init(&w, &s, NULL);
	path = cli_app_path("/v2/deployments", pos[0],
	                    cfg.force ? "?force=true" : NULL);
	what = xasprintf("roll back deployment %s", pos[0]);
	subject = xasprintf("deployment %s", pos[0]);
	if (cfg.wait && !cfg.force) {
		/* The apps it changes, to follow them afterwards. */
		rc = cli_app_call(&s, "GET", "/v2/deployments", NULL,
		                  "list the deployments", false, NULL, &deps);
		if (rc)
			goto out;
		json_array_foreach(deps, i, d)
		{
			if (!cli_json_str(d, "id") ||
			    !streq(cli_json_str(d, "id"), pos[0]))
				continue;
			json_array_foreach(json_object_get(d, "affectedApps"),
			                   k, a)
			{
				if (json_string_value(a))
					cli_watch_add(&w, json_string_value(a),
					              CLI_WANT_ANY);
			}
		}
	}
	rc = cli_app_call(&s, "DELETE", path, NULL, what, false, NULL, &ans);
	if (rc)
		goto out;
	if (cfg.force) {
		printf("%s: stopped; its apps stay as they are\n", subject);
		goto out;
	}
	rc = cli_app_follow(&s, subject, "rolling back", ans, &w, cfg.wait,
	                    cfg.timeout);
out:
	json_decref(deps);
	json_decref(ans);
	cli_watch_release(&w);
	free(path);
	free(what);
	free(subject);
	cli_services_release(&s);
	return rc;
}

/* ---- dispatch ------------------------------------------------------------
 */

struct cli_subverb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static int cli_dispatch(const char *noun, const struct cli_subverb *v, size_t n,
                        int argc, char **argv)
{
	FILE *out = stderr;

	if (argc >= 1) {
		for (size_t i = 0; i < n; i++)
			if (streq(argv[0], v[i].name))
				return v[i].run(argc - 1, argv + 1);
		if (streq(argv[0], "--help") || streq(argv[0], "-h") ||
		    streq(argv[0], "help"))
			out = stdout;
		else
			fprintf(stderr, "atoll %s: unknown command '%s'\n\n",
			        noun, argv[0]);
	}
	fprintf(out,
	        "usage: atoll %s <command> [flags]   (atoll %s "
	        "<command> --help for its flags)\n\ncommands:\n",
	        noun, noun);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-9s %s\n", v[i].name, v[i].help);
	return out == stdout ? CLI_OK : CLI_USAGE;
}

int cli_app_main(int argc, char **argv)
{
	static const struct cli_subverb verbs[] = {
	    {"deploy", cli_app_deploy,
	     "deploy FILE.json: create or replace apps or a group"},
	    {"ls", cli_app_ls, "list the apps"},
	    {"show", cli_app_show, "show ID: an app and its tasks"},
	    {"scale", cli_app_scale, "scale ID N: set the instances"},
	    {"restart", cli_app_restart, "restart ID: replace every instance"},
	    {"rm", cli_app_rm, "rm ID: stop and remove an app"},
	};

	return cli_dispatch("app", verbs, ARRAY_SIZE(verbs), argc, argv);
}

int cli_deployment_main(int argc, char **argv)
{
	static const struct cli_subverb verbs[] = {
	    {"ls", cli_deployment_ls, "list the deployments under way"},
	    {"rollback", cli_deployment_rollback,
	     "rollback ID: cancel a deployment and roll back"},
	};

	return cli_dispatch("deployment", verbs, ARRAY_SIZE(verbs), argc, argv);
}
