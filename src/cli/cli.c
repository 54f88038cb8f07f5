/*
 * cli.c: what every `atoll <verb>` shares: option parsing, the master's
 * address, blocking HTTP exchanges, operator calls, aligned tables, and
 * locating a task's sandbox.
 *
 * Blocking on libuv: cli_http() creates a loop, queues one request on an
 * http_client, runs the loop until the callback stored the answer, frees
 * the client and runs the loop once more so its handles are closed, then
 * closes the loop. Nothing outlives the call, so verbs can chain requests
 * like a script. The CLI is a short-lived process; these requests are
 * small, and each carries a timeout so no verb hangs on a stuck daemon.
 *
 * The master's address may be a zk:// URL (high availability): it is
 * resolved once, by cli_master_init(), to the leader a leader_detector
 * reads from ZooKeeper (the first reading, within CLI_ZK_TIMEOUT_SECS),
 * and the verb then talks to that leader like to any host:port.
 */
#include "lib/compat.h"
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>

#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/leader.h"
#include "lib/log.h"
#include "lib/zk.h"

#define CLI_DEFAULT_MASTER "127.0.0.1:5050"
#define CLI_HTTP_TIMEOUT_MS 15000
/* How long a zk:// master address waits for ZooKeeper's answer. */
#define CLI_ZK_TIMEOUT_SECS 10.0

/* ---- options ------------------------------------------------------------- */

static const struct cli_opt *cli_opt_find(const struct cli_opt *opts, size_t n,
                                          const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len &&
		    !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

/* Stores text into o's value. Returns 0 or -EINVAL (message printed). */
static int cli_opt_set(const char *verb, const struct cli_opt *o,
                       const char *text)
{
	char *end;

	switch (o->type) {
	case CLI_OPT_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "1"))
			*(bool *)o->value = true;
		else if (!strcmp(text, "false") || !strcmp(text, "0"))
			*(bool *)o->value = false;
		else
			goto bad;
		return 0;
	case CLI_OPT_STRING:
		*(const char **)o->value = text;
		return 0;
	case CLI_OPT_DOUBLE:
		errno = 0;
		*(double *)o->value = strtod(text, &end);
		if (errno || end == text || *end)
			goto bad;
		return 0;
	case CLI_OPT_INT:
		errno = 0;
		*(long *)o->value = strtol(text, &end, 10);
		if (errno || end == text || *end)
			goto bad;
		return 0;
	}
bad:
	fprintf(stderr, "atoll %s: --%s: cannot parse '%s'\n", verb, o->name,
	        text);
	return -EINVAL;
}

int cli_parse(const char *verb, const struct cli_opt *opts, size_t nopts,
              int argc, char **argv, const char **pos, size_t maxpos,
              size_t *npos, int *rest)
{
	*npos = 0;
	if (rest)
		*rest = argc;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct cli_opt *o = NULL;
		const char *eq, *name;
		size_t len;
		bool negated = false;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (!strcmp(a, "--")) {
			if (!rest) {
				fprintf(stderr, "atoll %s: unexpected '--'\n",
				        verb);
				return -EINVAL;
			}
			*rest = i + 1;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (*npos >= maxpos) {
				fprintf(stderr,
				        "atoll %s: unexpected argument '%s'\n",
				        verb, a);
				return -EINVAL;
			}
			pos[(*npos)++] = a;
			continue;
		}
		if (a[1] != '-') { /* -x: a short option */
			for (size_t k = 0; k < nopts && a[2] == '\0'; k++)
				if (opts[k].short_name == a[1])
					o = &opts[k];
			if (!o) {
				fprintf(stderr,
				        "atoll %s: unknown option '%s'\n", verb,
				        a);
				return -EINVAL;
			}
			if (o->type == CLI_OPT_BOOL) {
				*(bool *)o->value = true;
				continue;
			}
			if (i + 1 >= argc) {
				fprintf(stderr, "atoll %s: %s needs a value\n",
				        verb, a);
				return -EINVAL;
			}
			if (cli_opt_set(verb, o, argv[++i]))
				return -EINVAL;
			continue;
		}
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = cli_opt_find(opts, nopts, name, len);
		if (!o && !eq && !strncmp(name, "no-", 3)) {
			o = cli_opt_find(opts, nopts, name + 3, len - 3);
			negated = o && o->type == CLI_OPT_BOOL;
			if (!negated)
				o = NULL;
		}
		if (!o) {
			fprintf(stderr,
			        "atoll %s: unknown option '--%.*s' "
			        "(see atoll %s --help)\n",
			        verb, (int)len, name, verb);
			return -EINVAL;
		}
		if (o->type == CLI_OPT_BOOL && !eq) {
			*(bool *)o->value = !negated;
			continue;
		}
		if (eq) {
			if (cli_opt_set(verb, o, eq + 1))
				return -EINVAL;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "atoll %s: --%s needs a value\n", verb,
			        o->name);
			return -EINVAL;
		}
		if (cli_opt_set(verb, o, argv[++i]))
			return -EINVAL;
	}
	return 0;
}

void cli_usage(FILE *out, const char *synopsis, const char *summary,
               const struct cli_opt *opts, size_t nopts)
{
	fprintf(out, "usage: atoll %s\n\n%s\n", synopsis, summary);
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
	        "\nThe master is --master, else $ATOLL_MASTER, else "
	        "%s; zk://host:port[,...]/path finds the leader in "
	        "ZooKeeper.\n",
	        CLI_DEFAULT_MASTER);
}

/* ---- the master ------------------------------------------------------------
 */

/* The first reading of a leader detector, or the timeout. */
struct cli_zk_wait {
	bool done;
	bool timed_out;
	char *endpoint; /* the leader's "host:port", NULL when none */
};

static void cli_zk_on_leader(struct leader_detector *d,
                             const struct leader_info *leader, void *arg)
{
	struct cli_zk_wait *w = arg;

	(void)d;
	if (w->done)
		return;
	w->done = true;
	if (leader)
		w->endpoint = xstrdup(leader->endpoint);
}

static void cli_zk_on_timeout(uv_timer_t *t)
{
	struct cli_zk_wait *w = t->data;

	w->done = true;
	w->timed_out = true;
}

/*
 * Asks ZooKeeper (url, a zk:// URL) for the leading master on a private
 * loop. Returns its "host:port" (heap), or NULL after printing why: a bad
 * URL (*rc = -EINVAL), or no leader found (*rc = -EHOSTUNREACH).
 */
static char *cli_zk_leader(const char *url, int *rc)
{
	enum log_level saved = log_current_level;
	struct cli_zk_wait w = {0};
	struct leader_detector *d;
	struct err e = {{0}};
	uv_timer_t timer;
	uv_loop_t loop;

	uv_loop_init(&loop);
	/* The libraries' routine logs are not for the verb's reader. */
	log_set_level(LOG_ERROR);
	d = leader_detector_new(&loop, url, 0, cli_zk_on_leader, &w, &e);
	if (!d) {
		log_set_level(saved);
		(void)uv_loop_close(&loop);
		fprintf(stderr, "atoll: bad master address '%s': %s\n", url,
		        e.msg);
		*rc = -EINVAL;
		return NULL;
	}
	uv_timer_init(&loop, &timer);
	timer.data = &w;
	uv_timer_start(&timer, cli_zk_on_timeout,
	               (uint64_t)(CLI_ZK_TIMEOUT_SECS * 1000), 0);
	while (!w.done && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_close((uv_handle_t *)&timer, NULL);
	leader_detector_free(d);
	/* The ZooKeeper session closes off the loop: run until it ended. */
	uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	log_set_level(saved);
	if (!w.endpoint) {
		fprintf(stderr, "atoll: no leader found in %s: %s\n", url,
		        w.timed_out ? "ZooKeeper did not answer in time"
		                    : "no master is elected");
		*rc = -EHOSTUNREACH;
	}
	return w.endpoint;
}

int cli_master_init(struct cli_master *m, const char *flag)
{
	const char *addr = flag;
	char *leader = NULL;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!addr || !*addr)
		addr = getenv("ATOLL_MASTER");
	if (!addr || !*addr)
		addr = CLI_DEFAULT_MASTER;
	if (zk_url_is_zk(addr)) {
		if (!(leader = cli_zk_leader(addr, &rc)))
			return rc;
		addr = leader;
	}
	if (http_parse_hostport(addr, 5050, &m->host, &m->port)) {
		fprintf(stderr,
		        "atoll: bad master address '%s': expected host:port "
		        "or zk://host:port/path\n",
		        addr);
		free(leader);
		return -EINVAL;
	}
	m->address = strchr(m->host, ':')
	                 ? xasprintf("[%s]:%d", m->host, m->port)
	                 : xasprintf("%s:%d", m->host, m->port);
	free(leader);
	return 0;
}

void cli_master_release(struct cli_master *m)
{
	free(m->address);
	free(m->host);
	memset(m, 0, sizeof(*m));
}

/* ---- blocking HTTP
 * ----------------------------------------------------------- */

struct cli_exchange {
	struct cli_response *r;
	bool done;
};

static void cli_http_done(struct http_response *resp, int err, void *arg)
{
	struct cli_exchange *x = arg;

	x->done = true;
	x->r->err = err;
	if (!resp)
		return;
	x->r->status = resp->status;
	free(x->r->body);
	x->r->body = xmalloc(resp->body_len + 1);
	memcpy(x->r->body, resp->body, resp->body_len);
	x->r->body[resp->body_len] = '\0';
	x->r->len = resp->body_len;
}

int cli_http(const char *host, int port, const char *method, const char *path,
             const char *body, size_t body_len, uint64_t timeout_ms,
             struct cli_response *r)
{
	struct cli_exchange x = {r, false};
	struct http_client_req req = {0};
	struct http_client *c;
	uv_loop_t loop;

	memset(r, 0, sizeof(*r));
	uv_loop_init(&loop);
	c = http_client_new(&loop, host, port);
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body_len;
	req.timeout_ms = timeout_ms ? timeout_ms : CLI_HTTP_TIMEOUT_MS;
	if (body) {
		req.content_type = "application/json";
		req.accept = "application/json";
	}
	http_client_request(c, &req, cli_http_done, &x);
	while (!x.done && uv_run(&loop, UV_RUN_ONCE))
		;
	http_client_free(c);
	uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	if (!x.done)
		r->err = -EIO;
	if (!r->body)
		r->body = xstrdup("");
	return r->err;
}

void cli_response_release(struct cli_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void cli_print_unreachable(const char *what, const char *address, int err)
{
	char reason[128];

	if (err == -EHOSTUNREACH)
		snprintf(reason, sizeof(reason), "cannot resolve the name");
	else if (err == -ETIMEDOUT)
		snprintf(reason, sizeof(reason), "no answer in time");
	else
		snprintf(reason, sizeof(reason), "%s", strerror(-err));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	fprintf(stderr, "atoll: cannot reach %s at %s: %s\n", what, address,
	        reason);
}

/* Strips trailing white space from a server message for printing. */
static void cli_chomp(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Decodes a 2xx answer into *out; CLI_FAILED (printed) when it is not
 * JSON. */
static int cli_decode(const char *what, const struct cli_response *r,
                      json_t **out)
{
	json_error_t je;

	if (!out)
		return CLI_OK;
	*out = NULL;
	if (r->len == 0)
		return CLI_OK;
	*out = json_loadb(r->body, r->len, 0, &je);
	if (!*out) {
		fprintf(stderr, "atoll: %s answered with bad JSON: %s\n", what,
		        je.text);
		return CLI_FAILED;
	}
	return CLI_OK;
}

int cli_operator_call(const struct cli_master *m, const char *type,
                      json_t *payload, json_t **out)
{
	return cli_operator_call_raw(m, type, payload, out, NULL);
}

int cli_operator_call_raw(const struct cli_master *m, const char *type,
                          json_t *payload, json_t **out, char **raw)
{
	struct cli_response r;
	json_t *call = json_object();
	char key[64];
	char *text;
	size_t i;
	int rc;

	if (out)
		*out = NULL;
	for (i = 0; type[i] && i + 1 < sizeof(key); i++)
		key[i] = (char)tolower((unsigned char)type[i]);
	key[i] = '\0';
	json_object_set_new(call, "type", json_string(type));
	if (payload)
		json_object_set_new(call, key, payload);
	text = json_dumps(call, JSON_COMPACT);
	json_decref(call);
	if (cli_http(m->host, m->port, "POST", "/api/v1", text, strlen(text), 0,
	             &r)) {
		cli_print_unreachable("the master", m->address, r.err);
		rc = CLI_UNREACHABLE;
		goto out;
	}
	if (r.status < 200 || r.status > 299) {
		cli_chomp(r.body);
		fprintf(stderr, "atoll: the master refused %s (HTTP %d): %s\n",
		        type, r.status, r.body);
		rc = CLI_FAILED;
		goto out;
	}
	rc = cli_decode("the master", &r, out);
	if (rc == CLI_OK && raw) {
		*raw = r.body;
		r.body = NULL;
	}
out:
	cli_response_release(&r);
	free(text);
	return rc;
}

/* cli_get_json(), silent on failure when quiet. */
static int cli_get_json_q(const char *what, const char *host, int port,
                          const char *path, bool quiet, json_t **out)
{
	struct cli_response r;
	char addr[300];
	int rc;

	*out = NULL;
	snprintf(addr, sizeof(addr), "%s:%d", host, port);
	if (cli_http(host, port, "GET", path, NULL, 0, 0, &r)) {
		if (!quiet)
			cli_print_unreachable(what, addr, r.err);
		rc = CLI_UNREACHABLE;
		goto out;
	}
	if (r.status != 200) {
		cli_chomp(r.body);
		if (!quiet)
			fprintf(
			    stderr,
			    "atoll: %s at %s answered %s with HTTP %d: %s\n",
			    what, addr, path, r.status, r.body);
		rc = CLI_FAILED;
		goto out;
	}
	rc = cli_decode(what, &r, out);
out:
	cli_response_release(&r);
	return rc;
}

int cli_get_json(const char *what, const char *host, int port, const char *path,
                 json_t **out)
{
	return cli_get_json_q(what, host, port, path, false, out);
}

/* ---- tables
 * ------------------------------------------------------------------ */

void cli_table_init(struct cli_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

void cli_table_release(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
	size_t need = (t->nrows + 1) * t->ncols;

	ALLOC_GROW(t->cells, need, t->cap);
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] =
		    xstrdup(cells[c] ? cells[c] : "-");
	t->nrows++;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
	size_t *width = xcalloc(t->ncols ? t->ncols : 1, sizeof(*width));

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			width[c] =
			    MAX(width[c], strlen(t->cells[r * t->ncols + c]));
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[c], cell);
		}
	}
	free(width);
}

const char *cli_short_id(const char *id, size_t max, char *out, size_t outsz)
{
	size_t len = id ? strlen(id) : 0;
	size_t head, tail;

	if (!id)
		id = "-";
	if (len <= max || max < 8) {
		snprintf(out, outsz, "%s", id);
		return out;
	}
	/* head + ".." + tail == max; the tail is the longer part. */
	head = (max - 2) / 3;
	tail = max - 2 - head;
	snprintf(out, outsz, "%.*s..%s", (int)head, id, id + len - tail);
	return out;
}

const char *cli_fmt_scalar(double v, char *out, size_t outsz)
{
	snprintf(out, outsz, "%.3f", v);
	/* Trailing zeros and a bare point go: "0.100" -> "0.1". */
	if (strchr(out, '.')) {
		size_t n = strlen(out);
		while (n && out[n - 1] == '0')
			out[--n] = '\0';
		if (n && out[n - 1] == '.')
			out[--n] = '\0';
	}
	return out;
}

double cli_resources_scalar(const json_t *resources, const char *name)
{
	const json_t *r;
	double sum = 0;
	size_t i;

	json_array_foreach(resources, i, r)
	{
		const char *n = json_string_value(json_object_get(r, "name"));
		json_t *v = cli_json_path(r, "scalar.value");
		if (n && streq(n, name) && json_is_number(v))
			sum += json_number_value(v);
	}
	return sum;
}

const char *cli_json_id(const json_t *obj, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, key), "value"));
}

json_t *cli_json_path(const json_t *obj, const char *path)
{
	json_t *cur = (json_t *)obj;
	const char *p = path;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		char key[64];

		if (len >= sizeof(key))
			return NULL;
		memcpy(key, p, len);
		key[len] = '\0';
		cur = json_object_get(cur, key);
		p += len + (dot ? 1 : 0);
	}
	return cur;
}

/* ---- task exit codes and sandboxes
 * -------------------------------------------- */

int cli_task_exit_code(const char *state, const char *message)
{
	static const char exited[] = "Command exited with status ";
	static const char signalled[] = "Command terminated with signal ";
	const char *p;

	if (state && streq(state, "TASK_FINISHED"))
		return 0;
	if (!message)
		return 1;
	p = strstr(message, exited);
	if (p) {
		char *end;
		long v;

		p += sizeof(exited) - 1;
		errno = 0;
		v = strtol(p, &end, 10);
		if (!errno && end != p && v > 0 && v < 256)
			return (int)v;
		return 1;
	}
	p = strstr(message, signalled);
	if (p) {
		p += sizeof(signalled) - 1;
		for (int sig = 1; sig < NSIG; sig++) {
			const char *name = strsignal(sig);
			if (name && !strncmp(p, name, strlen(name)))
				return 128 + sig;
		}
	}
	return 1;
}

/* Does the agent /state executor ex run task_id (in any task list)? */
static bool cli_executor_has_task(const json_t *ex, const char *task_id)
{
	static const char *const lists[] = {"tasks", "queued_tasks",
	                                    "completed_tasks"};
	const char *eid = json_string_value(json_object_get(ex, "id"));

	if (eid && streq(eid, task_id))
		return true;
	for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
		const json_t *t;
		size_t i;
		json_array_foreach(json_object_get(ex, lists[l]), i, t)
		{
			const char *id =
			    json_string_value(json_object_get(t, "id"));
			if (id && streq(id, task_id))
				return true;
		}
	}
	return false;
}

/* The sandbox of task_id in an agent's /state, or NULL (borrowed). */
static const char *cli_agent_sandbox(const json_t *state, const char *task_id)
{
	static const char *const fws[] = {"frameworks", "completed_frameworks"};
	static const char *const exs[] = {"executors", "completed_executors"};

	for (size_t f = 0; f < ARRAY_SIZE(fws); f++) {
		const json_t *fw;
		size_t i;
		json_array_foreach(json_object_get(state, fws[f]), i, fw)
		{
			for (size_t e = 0; e < ARRAY_SIZE(exs); e++) {
				const json_t *ex;
				size_t k;
				json_array_foreach(json_object_get(fw, exs[e]),
				                   k, ex)
				{
					const char *dir = json_string_value(
					    json_object_get(ex, "directory"));
					if (dir && *dir &&
					    cli_executor_has_task(ex, task_id))
						return dir;
				}
			}
		}
	}
	return NULL;
}

/* Finds task_id in the master's /state: its agent id and state. */
static const json_t *cli_state_find_task(const json_t *state,
                                         const char *task_id)
{
	static const char *const fws[] = {"frameworks", "completed_frameworks"};
	static const char *const lists[] = {"tasks", "completed_tasks",
	                                    "unreachable_tasks"};

	for (size_t f = 0; f < ARRAY_SIZE(fws); f++) {
		const json_t *fw;
		size_t i;
		json_array_foreach(json_object_get(state, fws[f]), i, fw)
		{
			for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
				const json_t *t;
				size_t k;
				json_array_foreach(
				    json_object_get(fw, lists[l]), k, t)
				{
					const char *id = json_string_value(
					    json_object_get(t, "id"));
					if (id && streq(id, task_id))
						return t;
				}
			}
		}
	}
	return NULL;
}

/* The agent's "host:port" from the master's /state slaves[].pid. */
static int cli_state_agent_addr(const json_t *state, const char *agent_id,
                                char **host, int *port)
{
	static const char *const lists[] = {"slaves", "recovered_slaves"};

	for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
		const json_t *a;
		size_t i;
		json_array_foreach(json_object_get(state, lists[l]), i, a)
		{
			const char *id =
			    json_string_value(json_object_get(a, "id"));
			const char *pid =
			    json_string_value(json_object_get(a, "pid"));
			const char *at;

			if (!id || !streq(id, agent_id) || !pid)
				continue;
			at = strchr(pid, '@');
			if (http_parse_hostport(at ? at + 1 : pid, 5051, host,
			                        port))
				return -EINVAL;
			return 0;
		}
	}
	return -ENOENT;
}

int cli_task_sandbox(const struct cli_master *m, const char *task_id,
                     bool quiet, char **host, int *port, char **dir,
                     bool *terminal)
{
	json_t *mstate = NULL, *astate = NULL;
	const json_t *task;
	const char *agent_id, *state, *sandbox;
	char agent_addr[300];
	int rc;

	*host = NULL;
	*dir = NULL;
	rc = cli_get_json_q("the master", m->host, m->port, "/state", quiet,
	                    &mstate);
	if (rc)
		return rc;
	task = cli_state_find_task(mstate, task_id);
	if (!task) {
		if (!quiet)
			fprintf(stderr,
			        "atoll: no task '%s' known to the master\n",
			        task_id);
		rc = CLI_FAILED;
		goto out;
	}
	agent_id = json_string_value(json_object_get(task, "slave_id"));
	state = json_string_value(json_object_get(task, "state"));
	*terminal = state && !streq(state, "TASK_STAGING") &&
	            !streq(state, "TASK_STARTING") &&
	            !streq(state, "TASK_RUNNING") &&
	            !streq(state, "TASK_KILLING");
	if (!agent_id || cli_state_agent_addr(mstate, agent_id, host, port)) {
		if (!quiet)
			fprintf(stderr,
			        "atoll: the agent of task '%s' (%s) is not "
			        "known to "
			        "the master any more\n",
			        task_id, agent_id ? agent_id : "?");
		rc = CLI_FAILED;
		goto out;
	}
	snprintf(agent_addr, sizeof(agent_addr), "the agent %s", agent_id);
	rc = cli_get_json_q(agent_addr, *host, *port, "/state", quiet, &astate);
	if (rc)
		goto out;
	sandbox = cli_agent_sandbox(astate, task_id);
	if (!sandbox) {
		if (!quiet)
			fprintf(
			    stderr,
			    "atoll: the agent %s has no sandbox for task '%s' "
			    "(not started yet, or garbage-collected)\n",
			    agent_id, task_id);
		rc = CLI_FAILED;
		goto out;
	}
	*dir = xstrdup(sandbox);
	rc = CLI_OK;
out:
	if (rc) {
		free(*host);
		*host = NULL;
	}
	json_decref(mstate);
	json_decref(astate);
	return rc;
}
