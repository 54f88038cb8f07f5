/*
 * up.c: `atoll up`, a supervisor that runs a local cluster.
 *
 * Each role runs as a child process of this same binary (/proc/self/exe
 * master ..., agent ...), so every component is the ordinary production
 * process with its ordinary flags. DESIGN.md allows hosting several roles
 * on one loop, but the master's and the agent's entry points own their
 * process (signals, loop, log level) today; separate processes are simpler
 * and isolate a crash to one component.
 *
 * Layout of --data-dir (default ./.atoll):
 *
 *   up.lock          flock()ed while an `atoll up` runs here (holds its pid)
 *   master.port      the master's port, written by the master when listening
 *   master/          the master's --work-dir (it keeps no state there yet)
 *   agentI/          agent I's --work-dir: sandboxes and checkpoints
 *   agentI.port      agent I's port
 *   services/        the services framework's --work-dir (services.db)
 *   services.port    its REST API's port (Marathon v2; --no-services: none)
 *   <name>.log       everything the component wrote to stdout/stderr
 *
 * A second `atoll up` on the same directory resumes: the agents recover
 * their checkpointed ids and executors from their work dirs and reregister.
 * The master gets a new id every time, since it keeps no state on disk yet.
 *
 * Life of the supervisor (up->phase):
 *
 *   STARTING --master.port written--> agents spawned (up_tick_cb)
 *      |   every port file written and every agent registered in /state
 *      |   (up_probe_cb) --> READY, summary printed (up_print_summary)
 *      |   a child exits --> STOPPING with exit code 1 (up_exit_cb)
 *      v
 *   READY  a child exits --> reported, the others keep running
 *      |   SIGINT/SIGTERM --> STOPPING with exit code 0 (up_signal_cb)
 *      v
 *   STOPPING  SIGTERM to every child; SIGKILL after UP_KILL_AFTER_MS
 *      |   (up_kill_cb) or on a signal UP_REPEAT_SIGNAL_MS or more after
 *      |   the first (up_signal_cb); when all have exited, a short drain
 *      |   of their pipes, then every handle is closed (up_close_all)
 *      v   and the loop ends
 *
 * Children are not restarted: a master restarted on a free port would not
 * be found by the agents, and a crash is worth a human look; `atoll up`
 * again resumes. Each child's stdout and stderr go to one pipe; the
 * supervisor splits it into lines (at most UP_MAX_LINE bytes each, longer
 * ones are cut) and prints "name | line" (coloured on a terminal).
 *
 * Executors run in their own sessions and outlive their agent by design
 * (agent recovery). After a clean stop, executors of checkpointing
 * frameworks wait for their agent to come back (the next `atoll up`);
 * the others exit when they lose their agent.
 */
#include "lib/compat.h"
#include "up/up.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/http.h"
#include "lib/log.h"

#define UP_MAX_AGENTS 32
#define UP_TICK_MS 50
#define UP_KILL_AFTER_MS 10000
#define UP_DRAIN_MS 150
#define UP_REPEAT_SIGNAL_MS 1000
#define UP_MAX_LINE 16384
#define UP_READ_BUF 65536
#define UP_PROBE_TIMEOUT_MS 2000
#define UP_NAME_WIDTH 7 /* "master", "agent12" */

struct up_config {
	char *data_dir;
	long agents;
	long master_port;
	char *agent_resources;
	char *log_level;
	double ready_timeout;
	bool services;
	long services_port;
};

static const struct flag_def up_flags[] = {
    FLAG_DEF(struct up_config, data_dir, "data-dir", FLAG_STRING, ".atoll", 0,
             0, "directory for the cluster's state, port files and logs"),
    FLAG_DEF(struct up_config, agents, "agents", FLAG_INT, "3", 0,
             UP_MAX_AGENTS, "number of agents (agent1..agentN)"),
    FLAG_DEF(struct up_config, master_port, "master-port", FLAG_INT, "5050", 0,
             65535,
             "the master's port (0 = a free port; it is printed and "
             "written to <data-dir>/master.port)"),
    FLAG_DEF(struct up_config, agent_resources, "agent-resources", FLAG_STRING,
             NULL, 0, 0,
             "every agent's --resources (default: a share of this "
             "machine's cpus and memory, disk:8192 and ports "
             "[31000-31999] for agent1, [32000-32999] for agent2, ...; "
             "that port range is added when the value has no ports)"),
    FLAG_DEF(struct up_config, log_level, "log-level", FLAG_STRING, "info", 0,
             0, "every component's log level: error, warn, info or debug"),
    FLAG_DEF(struct up_config, services, "services", FLAG_BOOL, "true", 0, 0,
             "also run `atoll services` (the Marathon v2 API); "
             "--no-services to leave it out"),
    FLAG_DEF(struct up_config, services_port, "services-port", FLAG_INT, "8080",
             0, 65535,
             "the services' REST API port (0 = a free port; written to "
             "<data-dir>/services.port)"),
    FLAG_DEF(struct up_config, ready_timeout, "ready-timeout", FLAG_DURATION,
             "30secs", 0.1, 3600,
             "how long start-up may take before a warning"),
};

enum up_phase { UP_STARTING, UP_READY, UP_STOPPING };

struct up;

struct up_child {
	struct up *up;
	char name[32];
	char **argv; /* NULL-terminated, owned */
	char *port_file;
	FILE *log;
	uv_process_t proc;
	uv_pipe_t out; /* read end of the child's stdout+stderr */
	bool spawned, running, out_open;
	int port;
	int color;
	struct buf line; /* bytes after the last newline */
};

struct up {
	uv_loop_t *loop;
	struct up_config cfg;
	char *dir; /* absolute data dir */
	char *exe;
	/* [0] master, [1..nagents] the agents, then the services if any */
	struct up_child *children;
	size_t nchildren;
	size_t nagents;
	struct up_child *services; /* NULL with --no-services */
	enum up_phase phase;
	int exit_code;
	bool tty;
	bool ready_warned;
	int lock_fd;
	uint64_t started_ms;
	uint64_t stop_ms; /* when STOPPING began */
	uv_signal_t sigint, sigterm;
	uv_timer_t tick, kill_timer;
	struct http_client *http;
	bool probe_inflight;
	char *resources_shared; /* computed default "cpus:..;mem:..;disk:.." */
	char read_buf[UP_READ_BUF];
};

static void up_stop(struct up *up, int exit_code);

/* ---- output ------------------------------------------------------------- */

/* Prints one line under a name prefix; colours on a terminal. */
static void up_emit(struct up *up, const char *name, int color,
                    const char *line, size_t len)
{
	if (up->tty && color)
		printf("\033[%dm%-*s |\033[0m %.*s\n", color, UP_NAME_WIDTH,
		       name, (int)len, line);
	else
		printf("%-*s | %.*s\n", UP_NAME_WIDTH, name, (int)len, line);
}

/* The supervisor's own messages, under the prefix "up". */
static void up_say(struct up *up, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void up_say(struct up *up, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	up_emit(up, "up", 1, b.data, b.len);
	fflush(stdout);
	buf_release(&b);
}

static void up_child_line(struct up_child *c, const char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	up_emit(c->up, c->name, c->color, line, len);
	if (c->log) {
		fwrite(line, 1, len, c->log);
		fputc('\n', c->log);
	}
}

/* Splits what arrived into lines; keeps the tail for the next read. */
static void up_child_feed(struct up_child *c, const char *data, size_t len)
{
	size_t start = 0;

	buf_add(&c->line, data, len);
	for (size_t i = 0; i < c->line.len; i++) {
		if (c->line.data[i] == '\n') {
			up_child_line(c, c->line.data + start, i - start);
			start = i + 1;
		} else if (i - start + 1 >= UP_MAX_LINE) {
			up_child_line(c, c->line.data + start, i - start + 1);
			start = i + 1;
		}
	}
	buf_consume(&c->line, start);
}

static void up_child_flush(struct up_child *c)
{
	if (c->line.len)
		up_child_line(c, c->line.data, c->line.len);
	buf_reset(&c->line);
	if (c->log)
		fflush(c->log);
	fflush(stdout);
}

/* ---- children ----------------------------------------------------------- */

static void up_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct up_child *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->up->read_buf, sizeof(c->up->read_buf));
}

static void up_close_out(struct up_child *c)
{
	if (!c->out_open)
		return;
	up_child_flush(c);
	c->out_open = false;
	uv_close((uv_handle_t *)&c->out, NULL);
}

static void up_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct up_child *c = s->data;

	if (nread > 0) {
		up_child_feed(c, b->base, (size_t)nread);
		if (c->log)
			fflush(c->log);
		fflush(stdout);
	} else if (nread < 0) {
		up_close_out(c);
	}
}

static size_t up_running_count(const struct up *up)
{
	size_t n = 0;

	for (size_t i = 0; i < up->nchildren; i++)
		n += up->children[i].running;
	return n;
}

static void up_close_all(struct up *up)
{
	for (size_t i = 0; i < up->nchildren; i++)
		up_close_out(&up->children[i]);
	uv_close((uv_handle_t *)&up->sigint, NULL);
	uv_close((uv_handle_t *)&up->sigterm, NULL);
	uv_close((uv_handle_t *)&up->tick, NULL);
	uv_close((uv_handle_t *)&up->kill_timer, NULL);
	http_client_free(up->http);
	up->http = NULL;
}

/* After the last exit: lets the pipes drain briefly, then closes all. */
static void up_drain_cb(uv_timer_t *t)
{
	up_close_all(t->data);
}

static void up_describe_exit(char *out, size_t len, int64_t status, int sig)
{
	if (sig)
		snprintf(out, len, "killed by signal %d (%s)", sig,
		         strsignal(sig));
	else
		snprintf(out, len, "exit status %lld", (long long)status);
}

static void up_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct up_child *c = p->data;
	struct up *up = c->up;
	char how[96];

	c->running = false;
	uv_close((uv_handle_t *)p, NULL);
	up_describe_exit(how, sizeof(how), status, sig);
	if (up->phase == UP_STOPPING) {
		up_say(up, "%s stopped (%s)", c->name, how);
	} else if (up->phase == UP_STARTING) {
		up_say(up, "%s exited during start-up (%s); see %s/%s.log",
		       c->name, how, up->dir, c->name);
		up_stop(up, 1);
	} else {
		up_say(up,
		       "%s exited unexpectedly (%s); the rest keep running "
		       "(see %s/%s.log; run `atoll up` again to restart)",
		       c->name, how, up->dir, c->name);
		if (!up_running_count(up)) {
			up_say(up, "every component has exited");
			up_stop(up, 1);
		}
	}
	if (up->phase == UP_STOPPING && !up_running_count(up)) {
		uv_timer_stop(&up->kill_timer);
		up->kill_timer.data = up;
		uv_timer_start(&up->kill_timer, up_drain_cb, UP_DRAIN_MS, 0);
	}
}

static int up_child_spawn(struct up *up, struct up_child *c, struct err *e)
{
	uv_process_options_t opts = {0};
	uv_stdio_container_t stdio[3];
	uv_file fds[2];
	int rc;

	if ((rc = uv_pipe(fds, UV_NONBLOCK_PIPE, 0)))
		return err_set(e, "cannot create a pipe for %s: %s", c->name,
		               uv_strerror(rc));
	uv_pipe_init(up->loop, &c->out, 0);
	c->out.data = c;
	if ((rc = uv_pipe_open(&c->out, fds[0]))) {
		close(fds[0]);
		close(fds[1]);
		uv_close((uv_handle_t *)&c->out, NULL);
		return err_set(e, "cannot open a pipe for %s: %s", c->name,
		               uv_strerror(rc));
	}
	c->out_open = true;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fds[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fds[1];
	opts.file = up->exe;
	opts.args = c->argv;
	opts.exit_cb = up_exit_cb;
	opts.stdio_count = 3;
	opts.stdio = stdio;
	c->proc.data = c;
	rc = uv_spawn(up->loop, &c->proc, &opts);
	close(fds[1]);
	if (rc) {
		uv_close((uv_handle_t *)&c->proc, NULL);
		up_close_out(c);
		return err_set(e, "cannot start %s: %s", c->name,
		               uv_strerror(rc));
	}
	c->spawned = c->running = true;
	uv_read_start((uv_stream_t *)&c->out, up_alloc_cb, up_read_cb);
	return 0;
}

/* Reads a port file written atomically by a child; 0 if not there yet. */
static int up_read_port(const char *path)
{
	char text[32] = {0};
	FILE *f = fopen(path, "re");
	char *end;
	long v;

	if (!f)
		return 0;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || v <= 0 || v > 65535)
		return 0;
	return (int)v;
}

/* ---- configuration of the children --------------------------------------- */

static char **up_argv_new(const char *const *args, size_t n)
{
	char **argv = xcalloc(n + 1, sizeof(*argv));

	for (size_t i = 0; i < n; i++)
		argv[i] = xstrdup(args[i]);
	return argv;
}

static void up_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static char *up_agent_resources(const struct up *up, long i)
{
	long lo = 31000 + (i - 1) * 1000;
	const char *base = up->cfg.agent_resources ? up->cfg.agent_resources
	                                           : up->resources_shared;

	if (strstr(base, "ports"))
		return xstrdup(base);
	return xasprintf("%s;ports:[%ld-%ld]", base, lo, lo + 999);
}

/* Agents share half the machine's memory and all its cpus, at least 1
 * cpu and 512 MB each: enough to try placement on one machine. */
static char *up_default_resources(long agents)
{
	double n = agents > 0 ? (double)agents : 1;
	double cpus = (double)uv_available_parallelism() / n;
	double mem = (double)(uv_get_total_memory() / (1024 * 1024)) / 2 / n;

	if (cpus < 1)
		cpus = 1;
	if (mem < 512)
		mem = 512;
	return xasprintf("cpus:%.0f;mem:%.0f;disk:8192", cpus, mem);
}

static void up_agent_init(struct up *up, struct up_child *c, long i)
{
	char *port_file = xasprintf("%s/agent%ld.port", up->dir, i);
	char *work = xasprintf("%s/agent%ld", up->dir, i);
	char *master = xasprintf("127.0.0.1:%d", up->children[0].port);
	char *host = xasprintf("agent%ld", i);
	char *attrs = xasprintf("rack:r%ld;zone:z%ld", i, i % 2 + 1);
	char *res = up_agent_resources(up, i);
	/* --allow-root-tasks: a development cluster runs its frameworks'
	 * tasks as the user who started it, root included. */
	/* clang-format off */
	const char *args[] = {
	    up->exe,       "agent", "--ip",         "127.0.0.1",
	    "--port",      "0",     "--port-file",  port_file,
	    "--master",    master,  "--work-dir",   work,
	    "--hostname",  host,    "--attributes", attrs,
	    "--resources", res,     "--log-level",  up->cfg.log_level,
	    "--allow-root-tasks",
	};
	/* clang-format on */

	c->argv = up_argv_new(args, ARRAY_SIZE(args));
	c->port_file = port_file;
	free(work);
	free(master);
	free(host);
	free(attrs);
	free(res);
}

static void up_services_init(struct up *up, struct up_child *c)
{
	char *port = xasprintf("%ld", up->cfg.services_port);
	char *port_file = xasprintf("%s/services.port", up->dir);
	char *work = xasprintf("%s/services", up->dir);
	char *master = xasprintf("127.0.0.1:%d", up->children[0].port);
	const char *args[] = {
	    up->exe,
	    "services",
	    "--ip",
	    "127.0.0.1",
	    "--port",
	    port,
	    "--port-file",
	    port_file,
	    "--master",
	    master,
	    "--work-dir",
	    work,
	    /* a role of its own: resident apps reserve resources for it */
	    "--mesos-role",
	    "services",
	    "--log-level",
	    up->cfg.log_level,
	};

	c->argv = up_argv_new(args, ARRAY_SIZE(args));
	c->port_file = port_file;
	free(port);
	free(work);
	free(master);
}

static void up_master_init(struct up *up, struct up_child *c)
{
	char *port = xasprintf("%ld", up->cfg.master_port);
	char *port_file = xasprintf("%s/master.port", up->dir);
	char *work = xasprintf("%s/master", up->dir);
	const char *args[] = {
	    up->exe,      "master", "--ip",        "127.0.0.1",
	    "--port",     port,     "--port-file", port_file,
	    "--work-dir", work,     "--log-level", up->cfg.log_level,
	};

	c->argv = up_argv_new(args, ARRAY_SIZE(args));
	c->port_file = port_file;
	free(port);
	free(work);
}

static int up_open_log(struct up *up, struct up_child *c, struct err *e)
{
	char *path = xasprintf("%s/%s.log", up->dir, c->name);
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	c->log = fopen(path, "ae");
	if (!c->log) {
		int rc =
		    err_set(e, "cannot open '%s': %s", path, strerror(errno));
		free(path);
		return rc;
	}
	free(path);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(c->log, "---- atoll up: %s started %s ----\n", c->name, stamp);
	fflush(c->log);
	return 0;
}

/* ---- start-up ------------------------------------------------------------ */

static void up_print_summary(struct up *up, json_t *state)
{
	int mport = up->children[0].port;
	json_t *slaves = state ? json_object_get(state, "slaves") : NULL;

	up_say(up, "cluster is up; state in %s", up->dir);
	up_say(up, "  master   http://127.0.0.1:%d   (log %s/master.log)",
	       mport, up->dir);
	for (size_t i = 1; i <= up->nagents; i++) {
		struct up_child *c = &up->children[i];
		const char *id = "(not registered)";
		size_t k;
		json_t *s;

		json_array_foreach(slaves, k, s)
		{
			const char *h =
			    json_string_value(json_object_get(s, "hostname"));
			if (h && !strcmp(h, c->name))
				id =
				    json_string_value(json_object_get(s, "id"));
		}
		up_say(up, "  %-8s http://127.0.0.1:%d   id %s", c->name,
		       c->port, id ? id : "?");
	}
	if (up->services)
		up_say(up,
		       "  services http://127.0.0.1:%d   (Marathon v2 API; "
		       "log %s/services.log)",
		       up->services->port, up->dir);
	up_say(up, "next:");
	up_say(up, "  atoll agents --master 127.0.0.1:%d", mport);
	if (up->services)
		up_say(up,
		       "  atoll app deploy examples/services/"
		       "marathon-product-group.json --services 127.0.0.1:%d",
		       up->services->port);
	up_say(up, "  atoll run --master 127.0.0.1:%d -- echo hi", mport);
	up_say(up, "  curl -s 127.0.0.1:%d/state", mport);
	up_say(up,
	       "Ctrl-C stops the cluster; `atoll up --data-dir %s` "
	       "resumes it",
	       up->cfg.data_dir);
}

/* Counts the agents of this cluster that /state lists as active. */
static size_t up_count_registered(const struct up *up, json_t *state)
{
	json_t *slaves = json_object_get(state, "slaves");
	size_t n = 0, k;
	json_t *s;

	json_array_foreach(slaves, k, s)
	{
		const char *h =
		    json_string_value(json_object_get(s, "hostname"));
		if (!h || !json_is_true(json_object_get(s, "active")))
			continue;
		for (size_t i = 1; i <= up->nagents; i++)
			if (!strcmp(h, up->children[i].name))
				n++;
	}
	return n;
}

static void up_probe_cb(struct http_response *resp, int err, void *arg)
{
	struct up *up = arg;
	json_t *state;

	up->probe_inflight = false;
	if (up->phase != UP_STARTING || err || resp->status != 200)
		return;
	state = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (state && up_count_registered(up, state) == up->nagents) {
		up->phase = UP_READY;
		uv_timer_stop(&up->tick);
		up_print_summary(up, state);
	}
	json_decref(state);
}

static void up_probe(struct up *up)
{
	struct http_client_req req = {
	    .method = "GET",
	    .path = "/state",
	    .timeout_ms = UP_PROBE_TIMEOUT_MS,
	};

	if (up->probe_inflight)
		return;
	if (!up->http)
		up->http = http_client_new(up->loop, "127.0.0.1",
		                           up->children[0].port);
	up->probe_inflight = true;
	http_client_request(up->http, &req, up_probe_cb, up);
}

/* Drives start-up: waits for port files, starts agents, probes /state. */
static void up_tick_cb(uv_timer_t *t)
{
	struct up *up = t->data;
	struct up_child *m = &up->children[0];
	struct err e = {{0}};
	bool all = true;

	if (up->phase != UP_STARTING)
		return;
	if (!m->port) {
		if (!(m->port = up_read_port(m->port_file)))
			goto check_time;
		up_say(up, "master listening on http://127.0.0.1:%d", m->port);
		for (size_t i = 1; i < up->nchildren; i++) {
			struct up_child *c = &up->children[i];
			if (c == up->services)
				up_services_init(up, c);
			else
				up_agent_init(up, c, (long)i);
			if (up_child_spawn(up, c, &e)) {
				up_say(up, "%s", e.msg);
				up_stop(up, 1);
				return;
			}
		}
	}
	for (size_t i = 1; i < up->nchildren; i++) {
		struct up_child *c = &up->children[i];
		if (!c->port && (c->port = up_read_port(c->port_file)))
			up_say(up, "%s listening on http://127.0.0.1:%d",
			       c->name, c->port);
		all = all && c->port;
	}
	if (all)
		up_probe(up);
check_time:
	if (!up->ready_warned && uv_now(up->loop) - up->started_ms >
	                             (uint64_t)(up->cfg.ready_timeout * 1000)) {
		up->ready_warned = true;
		up_say(up,
		       "warning: not every component is up after %gs; "
		       "still waiting (logs in %s)",
		       up->cfg.ready_timeout, up->dir);
	}
}

/* ---- stopping ------------------------------------------------------------ */

static void up_signal_all(struct up *up, int sig)
{
	for (size_t i = 0; i < up->nchildren; i++)
		if (up->children[i].running)
			uv_process_kill(&up->children[i].proc, sig);
}

static void up_kill_cb(uv_timer_t *t)
{
	struct up *up = t->data;

	up_say(up, "components still running after %ds: SIGKILL",
	       UP_KILL_AFTER_MS / 1000);
	up_signal_all(up, SIGKILL);
}

static void up_stop(struct up *up, int exit_code)
{
	if (up->phase == UP_STOPPING)
		return;
	up->phase = UP_STOPPING;
	up->exit_code = exit_code;
	up->stop_ms = uv_now(up->loop);
	uv_timer_stop(&up->tick);
	if (!up_running_count(up)) {
		up->kill_timer.data = up;
		uv_timer_start(&up->kill_timer, up_drain_cb, 0, 0);
		return;
	}
	up_say(up, "stopping");
	up_signal_all(up, SIGTERM);
	up->kill_timer.data = up;
	uv_timer_start(&up->kill_timer, up_kill_cb, UP_KILL_AFTER_MS, 0);
}

static void up_signal_cb(uv_signal_t *s, int signum)
{
	struct up *up = s->data;

	if (up->phase == UP_STOPPING) {
		/* A second Ctrl-C: do not wait any longer. One arriving
		 * at once is an echo (a terminal signals the whole process
		 * group, a script's trap signals again) and is ignored. */
		if (uv_now(up->loop) - up->stop_ms < UP_REPEAT_SIGNAL_MS)
			return;
		up_say(up, "signal %d again: SIGKILL", signum);
		up_signal_all(up, SIGKILL);
		return;
	}
	up_say(up, "signal %d", signum);
	up_stop(up, 0);
}

/* ---- data dir ------------------------------------------------------------ */

static int up_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			rc = -errno;
		*s = '/';
		if (rc)
			goto out;
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		rc = -errno;
out:
	free(p);
	return rc;
}

/* Creates the data dir, makes it absolute and locks it. */
static int up_prepare_dir(struct up *up, struct err *e)
{
	char real[PATH_MAX];
	char *lock;
	char pid[32];
	int rc, n;

	if ((rc = up_mkdirs(up->cfg.data_dir)))
		return err_set(e, "--data-dir: cannot create '%s': %s",
		               up->cfg.data_dir, strerror(-rc));
	if (!realpath(up->cfg.data_dir, real))
		return err_set(e, "--data-dir: cannot resolve '%s': %s",
		               up->cfg.data_dir, strerror(errno));
	up->dir = xstrdup(real);
	lock = xasprintf("%s/up.lock", up->dir);
	up->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (up->lock_fd < 0) {
		rc = err_set(e, "cannot open '%s': %s", lock, strerror(errno));
		goto out;
	}
	if (flock(up->lock_fd, LOCK_EX | LOCK_NB)) {
		rc = err_set(e,
		             "--data-dir: '%s' is in use by another "
		             "`atoll up` (pid in %s)",
		             up->dir, lock);
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(up->lock_fd, 0) ||
	    write(up->lock_fd, pid, (size_t)n) != n)
		rc = err_set(e, "cannot write '%s': %s", lock, strerror(errno));
out:
	free(lock);
	return rc;
}

/* Removes port files of an earlier run, so only fresh ones are read. */
static void up_remove_port_files(struct up *up)
{
	for (size_t i = 0; i < up->nchildren; i++) {
		char *p = !i ? xasprintf("%s/master.port", up->dir)
		          : &up->children[i] == up->services
		              ? xasprintf("%s/services.port", up->dir)
		              : xasprintf("%s/agent%zu.port", up->dir, i);
		if (unlink(p) && errno != ENOENT)
			up_say(up, "warning: cannot remove '%s': %s", p,
			       strerror(errno));
		free(p);
	}
}

/* ---- main ---------------------------------------------------------------- */

static int up_start(struct up *up, struct err *e)
{
	char exe[PATH_MAX];
	ssize_t n;
	int rc;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return err_set(e, "cannot find this program: %s",
		               strerror(errno));
	exe[n] = '\0';
	up->exe = xstrdup(exe);
	if ((rc = up_prepare_dir(up, e)))
		return rc;
	up->resources_shared = up_default_resources(up->cfg.agents);
	up->nagents = (size_t)up->cfg.agents;
	up->nchildren = 1 + up->nagents + (up->cfg.services ? 1 : 0);
	up->children = xcalloc(up->nchildren, sizeof(*up->children));
	if (up->cfg.services)
		up->services = &up->children[up->nchildren - 1];
	for (size_t i = 0; i < up->nchildren; i++) {
		struct up_child *c = &up->children[i];
		static const int colors[] = {36, 32, 33, 35, 34, 31};
		c->up = up;
		if (c == up->services)
			snprintf(c->name, sizeof(c->name), "services");
		else if (i)
			snprintf(c->name, sizeof(c->name), "agent%zu", i);
		else
			snprintf(c->name, sizeof(c->name), "master");
		c->color = colors[i % ARRAY_SIZE(colors)];
		buf_init(&c->line);
		if ((rc = up_open_log(up, c, e)))
			return rc;
	}
	up_remove_port_files(up);
	up_master_init(up, &up->children[0]);
	up_say(up, "starting a master, %ld agent%s%s in %s", up->cfg.agents,
	       up->cfg.agents == 1 ? "" : "s",
	       up->services ? " and the services framework" : "", up->dir);
	return up_child_spawn(up, &up->children[0], e);
}

static void up_release(struct up *up)
{
	for (size_t i = 0; i < up->nchildren; i++) {
		struct up_child *c = &up->children[i];
		up_argv_free(c->argv);
		free(c->port_file);
		if (c->log)
			fclose(c->log);
		buf_release(&c->line);
	}
	free(up->children);
	free(up->resources_shared);
	free(up->exe);
	free(up->dir);
	if (up->lock_fd >= 0)
		close(up->lock_fd);
	flags_release(up_flags, ARRAY_SIZE(up_flags), &up->cfg);
}

int up_main(int argc, char **argv)
{
	uv_loop_t loop;
	struct up *up = xcalloc(1, sizeof(*up));
	struct err e = {{0}};
	enum log_level lvl;
	int rc;

	up->lock_fd = -1;
	rc = flags_parse(up_flags, ARRAY_SIZE(up_flags), &up->cfg, argc, argv,
	                 NULL, &e);
	if (rc == 1) {
		flags_usage(stdout, "atoll up",
		            "Runs a local cluster for development and demos: a "
		            "master, N agents (hostnames agent1..agentN, "
		            "attributes rack:rI;zone:zK) and the services "
		            "framework (Marathon v2 API) as child processes, "
		            "their logs on stdout under a name prefix and in "
		            "<data-dir>/<name>.log. Ctrl-C or SIGTERM stops "
		            "everything; a second `atoll up` on the same "
		            "--data-dir resumes the same agents.",
		            up_flags, ARRAY_SIZE(up_flags));
		rc = 0;
		goto out_free;
	}
	if (rc || log_parse_level(up->cfg.log_level, &lvl)) {
		if (!rc)
			err_set(&e,
			        "--log-level: expected error, warn, info or "
			        "debug, got '%s'",
			        up->cfg.log_level);
		fprintf(stderr, "atoll up: %s\n", e.msg);
		rc = 2;
		goto out_free;
	}
	up->tty = isatty(STDOUT_FILENO);
	uv_loop_init(&loop);
	up->loop = &loop;
	uv_signal_init(&loop, &up->sigint);
	uv_signal_init(&loop, &up->sigterm);
	uv_timer_init(&loop, &up->tick);
	uv_timer_init(&loop, &up->kill_timer);
	up->sigint.data = up->sigterm.data = up->tick.data = up;
	up->kill_timer.data = up;
	uv_signal_start(&up->sigint, up_signal_cb, SIGINT);
	uv_signal_start(&up->sigterm, up_signal_cb, SIGTERM);
	up->started_ms = uv_now(&loop);
	if (up_start(up, &e)) {
		fprintf(stderr, "atoll up: %s\n", e.msg);
		up_stop(up, 1);
	} else {
		uv_timer_start(&up->tick, up_tick_cb, UP_TICK_MS, UP_TICK_MS);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = up->exit_code;
	if (rc == 0)
		up_say(up, "stopped");
	fflush(stdout);
	if (uv_loop_close(&loop))
		fprintf(stderr, "atoll up: event loop closed with open "
		                "handles\n");
out_free:
	up_release(up);
	free(up);
	return rc;
}
