/*
 * agent_operator.c: the agent's operator surface.
 *
 *   POST /api/v1                     the Mesos v1 operator API (agent calls)
 *   GET  /files/browse?path=         [FileInfo] of a sandbox directory
 *   GET  /files/read?path=&offset=&length=   {"data": "...", "offset": N}
 *   GET  /files/download?path=       the file's bytes
 *   GET  /monitor/statistics         [{executor_id, framework_id, statistics}]
 *   GET  /metrics/snapshot           {"slave/tasks_running": N, ...}
 * (and the old ".json" aliases of the files and monitor endpoints).
 *
 * v1 calls are table-driven (op_calls[]) and checked in the master's
 * order: v1call_parse() (405, 400/415 Content-Type, 406 Accept, 400
 * body), then the type (400 missing, 501 unknown or not implemented), then
 * the payload (400 naming the field). Reads answer 200 with
 * {"type": "GET_X", "get_x": {...}}, written in one pass.
 *
 * File access is confined to sandboxes. A path is virtual, as in Mesos: it
 * starts with a sandbox as the agent reports it (an executor's `directory`,
 * or its runs/latest twin) or with the short alias
 * /frameworks/<fw>/executors/<ex>/runs/{latest,<container>}, followed by a
 * path inside it. Sandboxes are recognised by their layout under
 * <work-dir>/slaves, so a finished executor's stays readable until it is
 * removed. op_resolve() enforces, in order:
 *   - the path is absolute, has no ".." component (400);
 *   - it lies in a sandbox that exists (404 otherwise: nothing else, not
 *     even the agent's meta directory, is visible);
 *   - realpath() of the result stays inside realpath() of the sandbox, so
 *     a symlink planted by a task cannot lead out of it (403);
 * then op_open() opens the resolved path with O_PATH | O_NOFOLLOW and
 * checks, through /proc/self/fd, that what was opened is still inside the
 * sandbox: a component swapped for a symlink between the check and the
 * open is caught too. Contents are read through that descriptor only, and
 * only from regular files (a FIFO can never block the loop on open).
 *
 * Reads are capped at OP_MAX_READ bytes per call (a larger length is
 * clamped, as Mesos clamps its /files/read length); an offset at or beyond
 * the end returns empty data and the size; /files/read's offset -1 returns
 * the size only. Downloads are limited to OP_MAX_DOWNLOAD bytes (413 with
 * a hint to page through /files/read). The reads run on the loop: sandbox
 * logs are usually in the page cache and a read is bounded.
 *
 * Container statistics come from the container's cgroup when it has one
 * (cpu time, memory usage, CFS throttling, as Mesos's ResourceStatistics
 * fields), else from one /proc scan per request: the
 * executor (checked against its recorded start time) and all its
 * descendants, summing user/system time of the living and of the children
 * they reaped, and resident memory. Processes and threads always come
 * from the scan; cpus_limit and mem_limit_bytes are the live tasks'
 * resources (the cgroup's limits add the executor overhead).
 * disk_limit_bytes is the live tasks' disk that is not a persistent
 * volume (when there is any) and disk_used_bytes the sandbox's usage as
 * disk/du last measured it (disk.c; absent before the first measurement
 * or without disk/du).
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/prometheus.h"
#include "lib/v1call.h"
#include "lib/timeutil.h"
#include "lib/version.h"

/* Most bytes one READ_FILE or /files/read returns. */
#define OP_MAX_READ (16u << 20)
/* Largest file /files/download sends in one response. */
#define OP_MAX_DOWNLOAD (64u << 20)
/* Deepest process tree followed for container statistics. */
#define OP_MAX_TREE_DEPTH 64

/* Writes a read's payload: the object under "get_x". */
typedef void op_write_fn(struct agent *a, struct jsonw *w);
/* Handles a call that is not a plain read; responds itself. */
typedef void op_call_fn(struct agent *a, struct http_request *req,
                        json_t *call);

/* ---- small writers ------------------------------------------------------ */

/* Writes {"type": TYPE, "<type in lowercase>": and leaves the payload to
 * the caller, who closes the envelope with one jsonw_obj_end(). */
static void op_envelope_begin(struct jsonw *w, const char *type)
{
	char key[64];
	size_t i;

	for (i = 0; type[i] && i + 1 < sizeof(key); i++)
		key[i] = (char)tolower((unsigned char)type[i]);
	key[i] = '\0';
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", type);
	jsonw_key(w, key);
}

static void op_write_time_ns(struct jsonw *w, const char *key, int64_t ns)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	jsonw_kint(w, "nanoseconds", ns);
	jsonw_obj_end(w);
}

/*
 * Writes JSON text (an ExecutorInfo or TaskStatus the agent stored) with
 * "framework_id" added when absent (set_fid) and "data" removed (strip):
 * Mesos strips status data from operator answers.
 */
static void op_write_json_fixed(struct jsonw *w, const char *text,
                                const char *set_fid, bool strip_data)
{
	json_t *j = json_loads(text, 0, NULL);
	char *out;

	if (!json_is_object(j)) {
		json_decref(j);
		jsonw_obj_begin(w);
		jsonw_obj_end(w);
		return;
	}
	if (set_fid && !json_object_get(j, "framework_id"))
		json_object_set_new(j, "framework_id",
		                    json_pack("{s:s}", "value", set_fid));
	if (strip_data)
		json_object_del(j, "data");
	out = json_dumps(j, JSON_COMPACT);
	if (out)
		jsonw_raw(w, out, strlen(out));
	else
		jsonw_null(w);
	free(out);
	json_decref(j);
}

/* ---- introspection ------------------------------------------------------ */

static void op_write_health(struct agent *a, struct jsonw *w)
{
	(void)a;
	jsonw_obj_begin(w);
	jsonw_kbool(w, "healthy", true);
	jsonw_obj_end(w);
}

static void op_write_flags(struct agent *a, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "flags");
	agent_config_write(&a->cfg, w, true);
	jsonw_obj_end(w);
}

static void op_write_version(struct agent *a, struct jsonw *w)
{
	(void)a;
	jsonw_obj_begin(w);
	jsonw_key(w, "version_info");
	version_write_info(w);
	jsonw_obj_end(w);
}

static void op_write_logging_level(struct agent *a, struct jsonw *w)
{
	(void)a;
	jsonw_obj_begin(w);
	jsonw_kuint(w, "level", log_current_level >= LOG_DEBUG ? 1 : 0);
	jsonw_obj_end(w);
}

static void op_write_agent(struct agent *a, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "agent_info");
	agent_info_write_json(w, &a->info);
	jsonw_obj_end(w);
}

/* ---- metrics ------------------------------------------------------------ */

struct op_metric {
	const char *name;
	double value;
};

#define OP_MAX_METRICS 48

static void op_metric_add(struct op_metric *m, size_t *n, const char *name,
                          double value)
{
	BUG_ON(*n >= OP_MAX_METRICS);
	m[*n].name = name;
	m[*n].value = value;
	(*n)++;
}

/* Adds the scalar resources of the executor's non-terminal tasks. */
static void op_executor_used(const struct agent_executor *ex,
                             struct resources *used)
{
	const struct list *pos;

	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next) {
		const struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (!task_state_is_terminal(agent_task_state(t)))
			resources_add(used, &t->resources);
	}
}

/* Collects the agent's metrics under their Mesos names. */
static size_t op_metrics_collect(struct agent *a, struct op_metric *m)
{
	static const char *const res[][4] = {
	    {"cpus", "slave/cpus_total", "slave/cpus_used",
	     "slave/cpus_percent"},
	    {"mem", "slave/mem_total", "slave/mem_used", "slave/mem_percent"},
	    {"disk", "slave/disk_total", "slave/disk_used",
	     "slave/disk_percent"},
	    {"gpus", "slave/gpus_total", "slave/gpus_used",
	     "slave/gpus_percent"},
	};
	size_t ntasks[TASK_STATE_COUNT] = {0}, nexec[4] = {0}, n = 0;
	struct hmap_node *node, *tmp, *en, *etmp;
	struct resources used;
	struct sysinfo si;
	double load[3];
	size_t i, j;

	resources_init(&used);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		struct hmap_node *tn, *ttmp;
		HMAP_FOR_EACH_SAFE(&fw->tasks, j, tn, ttmp)
		{
			const struct agent_task *t =
			    container_of(tn, struct agent_task, node);
			enum task_state s = agent_task_state(t);
			if ((unsigned)s < TASK_STATE_COUNT)
				ntasks[s]++;
		}
		HMAP_FOR_EACH_SAFE(&fw->executors, j, en, etmp)
		{
			const struct agent_executor *ex =
			    container_of(en, struct agent_executor, node);
			if ((unsigned)ex->state < ARRAY_SIZE(nexec))
				nexec[ex->state]++;
			op_executor_used(ex, &used);
		}
	}
	op_metric_add(m, &n, "slave/uptime_secs",
	              timeutil_wall() - a->start_time);
	op_metric_add(m, &n, "slave/registered", a->connected ? 1 : 0);
	op_metric_add(m, &n, "slave/frameworks_active",
	              (double)a->frameworks.count);
	op_metric_add(m, &n, "slave/tasks_staging",
	              (double)ntasks[TASK_STAGING]);
	op_metric_add(m, &n, "slave/tasks_starting",
	              (double)ntasks[TASK_STARTING]);
	op_metric_add(m, &n, "slave/tasks_running",
	              (double)ntasks[TASK_RUNNING]);
	op_metric_add(m, &n, "slave/tasks_killing",
	              (double)ntasks[TASK_KILLING]);
	op_metric_add(m, &n, "slave/tasks_failed",
	              (double)a->metrics.tasks_failed);
	op_metric_add(m, &n, "slave/executors_registering",
	              (double)nexec[EXECUTOR_LAUNCHING]);
	op_metric_add(m, &n, "slave/executors_running",
	              (double)nexec[EXECUTOR_RUNNING]);
	op_metric_add(m, &n, "slave/executors_terminating",
	              (double)nexec[EXECUTOR_TERMINATING]);
	op_metric_add(m, &n, "slave/executors_terminated",
	              (double)a->metrics.executors_exited);
	op_metric_add(m, &n, "slave/valid_status_updates",
	              (double)a->metrics.updates_received);
	op_metric_add(m, &n, "slave/invalid_executor_calls",
	              (double)a->metrics.invalid_executor_calls);
	for (i = 0; i < ARRAY_SIZE(res); i++) {
		double total = res_to_double(
		    resources_scalar(&a->info.resources, res[i][0]));
		double u = res_to_double(resources_scalar(&used, res[i][0]));
		op_metric_add(m, &n, res[i][1], total);
		op_metric_add(m, &n, res[i][2], u);
		op_metric_add(m, &n, res[i][3], total > 0 ? u / total : 0);
	}
	op_metric_add(m, &n, "system/cpus_total",
	              (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (getloadavg(load, 3) == 3) {
		op_metric_add(m, &n, "system/load_1min", load[0]);
		op_metric_add(m, &n, "system/load_5min", load[1]);
		op_metric_add(m, &n, "system/load_15min", load[2]);
	}
	if (sysinfo(&si) == 0) {
		op_metric_add(m, &n, "system/mem_total_bytes",
		              (double)si.totalram * si.mem_unit);
		op_metric_add(m, &n, "system/mem_free_bytes",
		              (double)si.freeram * si.mem_unit);
	}
	resources_release(&used);
	return n;
}

static void op_write_metrics(struct agent *a, struct jsonw *w)
{
	struct op_metric m[OP_MAX_METRICS];
	size_t n = op_metrics_collect(a, m);

	jsonw_obj_begin(w);
	jsonw_key(w, "metrics");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", m[i].name);
		jsonw_kdouble(w, "value", m[i].value);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* The classic /metrics/snapshot: a flat {name: value} object. */
static void op_write_snapshot(struct agent *a, struct jsonw *w)
{
	struct op_metric m[OP_MAX_METRICS];
	size_t n = op_metrics_collect(a, m);

	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kdouble(w, m[i].name, m[i].value);
	jsonw_obj_end(w);
}

/* ---- state: tasks, executors, frameworks -------------------------------- */

/* A v1 Task. executor_id only for custom executors, as the master does. */
static void op_write_task(struct jsonw *w, const struct agent_task *t)
{
	const struct agent *a = t->fw->agent;

	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", t->name ? t->name : "");
	jsonw_kid(w, "task_id", t->id);
	jsonw_kid(w, "framework_id", t->fw->id);
	if (t->executor && !t->executor->is_command)
		jsonw_kid(w, "executor_id", t->executor->id);
	jsonw_kid(w, "agent_id", agent_id(a));
	jsonw_kstr(w, "state", task_state_name(agent_task_state(t)));
	jsonw_key(w, "resources");
	resources_write_json(w, &t->resources);
	jsonw_key(w, "statuses");
	jsonw_arr_begin(w);
	if (t->stream.latest_json)
		op_write_json_fixed(w, t->stream.latest_json, NULL, true);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* A v1 Task from the small record a finished task leaves behind. */
static void op_write_completed(struct jsonw *w, const struct agent *a,
                               const struct agent_completed_task *c)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", c->name ? c->name : "");
	jsonw_kid(w, "task_id", c->id);
	jsonw_kid(w, "framework_id", c->framework_id);
	/* A command executor carries its task's id. */
	if (strcmp(c->executor_id, c->id))
		jsonw_kid(w, "executor_id", c->executor_id);
	jsonw_kid(w, "agent_id", agent_id(a));
	jsonw_kstr(w, "state", task_state_name(c->state));
	jsonw_obj_end(w);
}

static struct agent_executor *op_live_executor(struct agent *a, const char *fid,
                                               const char *eid)
{
	return agent_executor_find(agent_framework_find(a, fid), eid);
}

enum op_task_set {
	OP_TASKS_QUEUED,     /* waiting for the executor to subscribe */
	OP_TASKS_LAUNCHED,   /* with the executor, not terminal */
	OP_TASKS_TERMINATED, /* terminal; the executor is still live */
	OP_TASKS_COMPLETED,  /* terminal; the executor is gone */
};

static enum op_task_set op_task_set_of(const struct agent_task *t)
{
	bool live_ex = t->executor && t->executor->state != EXECUTOR_TERMINATED;

	if (task_state_is_terminal(agent_task_state(t)))
		return live_ex ? OP_TASKS_TERMINATED : OP_TASKS_COMPLETED;
	if (t->executor && !t->launched)
		return OP_TASKS_QUEUED;
	return OP_TASKS_LAUNCHED;
}

static void op_write_task_set(struct agent *a, struct jsonw *w, const char *key,
                              enum op_task_set set)
{
	struct hmap_node *node, *tmp, *tn, *ttmp;
	const struct list *pos;
	size_t i, j;

	jsonw_key(w, key);
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->tasks, j, tn, ttmp)
		{
			const struct agent_task *t =
			    container_of(tn, struct agent_task, node);
			if (op_task_set_of(t) == set)
				op_write_task(w, t);
		}
	}
	if (set == OP_TASKS_TERMINATED || set == OP_TASKS_COMPLETED) {
		for (pos = a->completed.next; pos != &a->completed;
		     pos = pos->next) {
			const struct agent_completed_task *c =
			    list_entry(pos, struct agent_completed_task, link);
			const struct agent_executor *ex = op_live_executor(
			    a, c->framework_id, c->executor_id);
			bool live = ex && ex->state != EXECUTOR_TERMINATED;
			if (live == (set == OP_TASKS_TERMINATED))
				op_write_completed(w, a, c);
		}
	}
	jsonw_arr_end(w);
}

static void op_write_tasks(struct agent *a, struct jsonw *w)
{
	jsonw_obj_begin(w);
	/* Atoll has no fetch phase: nothing is ever pending. */
	jsonw_key(w, "pending_tasks");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	op_write_task_set(a, w, "queued_tasks", OP_TASKS_QUEUED);
	op_write_task_set(a, w, "launched_tasks", OP_TASKS_LAUNCHED);
	op_write_task_set(a, w, "terminated_tasks", OP_TASKS_TERMINATED);
	op_write_task_set(a, w, "completed_tasks", OP_TASKS_COMPLETED);
	jsonw_obj_end(w);
}

static void op_write_executor_entry(struct jsonw *w,
                                    const struct agent_executor *ex)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "executor_info");
	op_write_json_fixed(w, ex->info_json, ex->fw->id, false);
	jsonw_obj_end(w);
}

static void op_write_executors(struct agent *a, struct jsonw *w)
{
	struct hmap_node *node, *tmp, *en, *etmp;
	const struct list *pos;
	size_t i, j;

	jsonw_obj_begin(w);
	jsonw_key(w, "executors");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, j, en, etmp)
		{
			op_write_executor_entry(
			    w, container_of(en, struct agent_executor, node));
		}
	}
	jsonw_arr_end(w);
	jsonw_key(w, "completed_executors");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		for (pos = fw->dead_executors.next; pos != &fw->dead_executors;
		     pos = pos->next)
			op_write_executor_entry(
			    w,
			    list_entry(pos, struct agent_executor, dead_link));
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void op_write_frameworks(struct agent *a, struct jsonw *w)
{
	struct hmap_node *node, *tmp;
	size_t i;

	jsonw_obj_begin(w);
	jsonw_key(w, "frameworks");
	jsonw_arr_begin(w);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		const struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		jsonw_obj_begin(w);
		jsonw_key(w, "framework_info");
		jsonw_raw(w, fw->info_json, strlen(fw->info_json));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	/* A framework is forgotten once it has no executors or tasks. */
	jsonw_key(w, "completed_frameworks");
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void op_write_state(struct agent *a, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "get_tasks");
	op_write_tasks(a, w);
	jsonw_key(w, "get_executors");
	op_write_executors(a, w);
	jsonw_key(w, "get_frameworks");
	op_write_frameworks(a, w);
	jsonw_obj_end(w);
}

/* ---- container statistics ----------------------------------------------- */

struct op_proc {
	pid_t pid, ppid;
	uint64_t uticks, sticks;
	uint64_t rss_pages;
	uint64_t threads;
};

struct op_procs {
	struct op_proc *v;
	size_t n, cap;
};

/* Reads the fields of /proc/<pid>/stat statistics need. */
static int op_proc_read(pid_t pid, struct op_proc *p)
{
	char path[64], text[1024], *s, *end;
	unsigned long long f[22];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	text[len] = '\0';
	s = strrchr(text, ')');
	if (!s || s[1] != ' ')
		return -1;
	s += 3; /* ") S " : fields from ppid on */
	for (size_t i = 1; i < ARRAY_SIZE(f); i++) {
		errno = 0;
		f[i] = strtoull(s, &end, 10);
		if (end == s || errno)
			return -1;
		s = end;
	}
	/* f[k] is field k after the state: 1 ppid, 11 utime, 12 stime,
	 * 13 cutime, 14 cstime, 17 num_threads, 21 rss. */
	p->pid = pid;
	p->ppid = (pid_t)f[1];
	p->uticks = f[11] + f[13];
	p->sticks = f[12] + f[14];
	p->threads = f[17];
	p->rss_pages = f[21];
	return 0;
}

/* One pass over /proc; the table is sorted by pid (readdir order). */
static void op_procs_scan(struct op_procs *ps)
{
	struct dirent *d;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		ALLOC_GROW(ps->v, ps->n + 1, ps->cap);
		if (op_proc_read((pid_t)pid, &ps->v[ps->n]) == 0)
			ps->n++;
	}
	closedir(dir);
}

static const struct op_proc *op_procs_find(const struct op_procs *ps, pid_t pid)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].pid == pid)
			return &ps->v[i];
	return NULL;
}

/* True when p is root or one of its descendants. */
static bool op_proc_under(const struct op_procs *ps, const struct op_proc *p,
                          pid_t root)
{
	for (int depth = 0; p && depth < OP_MAX_TREE_DEPTH; depth++) {
		if (p->pid == root)
			return true;
		if (p->ppid <= 1)
			return false;
		p = op_procs_find(ps, p->ppid);
	}
	return false;
}

/* The limits an executor runs under: its live tasks' resources. */
static void op_executor_limits(const struct agent_executor *ex, double *cpus,
                               double *mem_bytes)
{
	struct resources used;

	resources_init(&used);
	op_executor_used(ex, &used);
	*cpus = res_to_double(resources_scalar(&used, "cpus"));
	*mem_bytes = res_to_double(resources_scalar(&used, "mem")) * 1048576.0;
	resources_release(&used);
}

/* Writes the cgroup's usage fields of a ResourceStatistics. Returns false
 * when the container has no readable cgroup. */
static bool op_write_cgroup_statistics(struct jsonw *w,
                                       const struct agent_executor *ex)
{
	/* Not const: it may note that an adopted executor has a cgroup. */
	struct agent_executor *mex = (struct agent_executor *)ex;
	const struct cgroups *cg = agent_executor_cgroups(mex);
	struct cgroups_stats st;

	if (!cg || cgroups_stats_read(cg, ex->container_id, &st))
		return false;
	jsonw_kdouble(w, "cpus_user_time_secs", (double)st.user_usec / 1e6);
	jsonw_kdouble(w, "cpus_system_time_secs", (double)st.system_usec / 1e6);
	if (ex->limits.cfs) {
		jsonw_kuint(w, "cpus_nr_periods", st.nr_periods);
		jsonw_kuint(w, "cpus_nr_throttled", st.nr_throttled);
		jsonw_kdouble(w, "cpus_throttled_time_secs",
		              (double)st.throttled_usec / 1e6);
	}
	jsonw_kuint(w, "mem_total_bytes", st.mem_usage_bytes);
	if (st.mem_max_usage_bytes)
		jsonw_kuint(w, "mem_max_bytes", st.mem_max_usage_bytes);
	jsonw_kuint(w, "mem_rss_bytes", st.mem_rss_bytes);
	jsonw_kuint(w, "mem_anon_bytes", st.mem_rss_bytes);
	jsonw_kuint(w, "mem_cache_bytes", st.mem_cache_bytes);
	return true;
}

/* A ResourceStatistics of ex's container. */
static void op_write_statistics(struct jsonw *w, const struct op_procs *ps,
                                const struct agent_executor *ex)
{
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t ut = 0, st = 0, rss = 0, threads = 0, nproc = 0, disk_limit;
	double cpus, mem;
	bool alive = ex->pid > 0 && agent_pid_is_alive(ex->pid, ex->pid_start);

	for (size_t i = 0; alive && i < ps->n; i++) {
		const struct op_proc *p = &ps->v[i];
		if (!op_proc_under(ps, p, ex->pid))
			continue;
		ut += p->uticks;
		st += p->sticks;
		rss += p->rss_pages;
		threads += p->threads;
		nproc++;
	}
	if (tck <= 0)
		tck = 100;
	op_executor_limits(ex, &cpus, &mem);
	jsonw_obj_begin(w);
	jsonw_kdouble(w, "timestamp", timeutil_wall());
	if (op_write_cgroup_statistics(w, ex)) {
		/* as Mesos: the cgroup's limits (the tasks' resources plus the
		 * executor overhead) */
		cpus = ex->limits.cpus;
		mem = (double)ex->limits.mem_bytes;
	} else {
		jsonw_kdouble(w, "cpus_user_time_secs",
		              (double)ut / (double)tck);
		jsonw_kdouble(w, "cpus_system_time_secs",
		              (double)st / (double)tck);
		jsonw_kuint(w, "mem_rss_bytes",
		            rss * (uint64_t)(page > 0 ? page : 0));
	}
	jsonw_kdouble(w, "cpus_limit", cpus);
	jsonw_kuint(w, "mem_limit_bytes", (uint64_t)mem);
	disk_limit = agent_executor_disk_limit(ex);
	if (disk_limit)
		jsonw_kuint(w, "disk_limit_bytes", disk_limit);
	if (ex->disk_measured)
		jsonw_kuint(w, "disk_used_bytes", ex->disk_used_bytes);
	jsonw_kuint(w, "processes", nproc);
	jsonw_kuint(w, "threads", threads);
	jsonw_obj_end(w);
}

static const char *op_executor_name(const struct agent_executor *ex,
                                    json_t **info)
{
	*info = json_loads(ex->info_json, 0, NULL);
	return json_string_value(json_object_get(*info, "name"));
}

typedef void op_executor_fn(struct jsonw *w, const struct op_procs *ps,
                            const struct agent_executor *ex);

/* Calls fn for each live executor that has a process. */
static void op_for_each_container(struct agent *a, struct jsonw *w,
                                  op_executor_fn *fn)
{
	struct hmap_node *node, *tmp, *en, *etmp;
	struct op_procs ps = {0};
	size_t i, j;

	op_procs_scan(&ps);
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, node, tmp)
	{
		struct agent_framework *fw =
		    container_of(node, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, j, en, etmp)
		{
			const struct agent_executor *ex =
			    container_of(en, struct agent_executor, node);
			if (ex->pid > 0 && ex->state != EXECUTOR_TERMINATED)
				fn(w, &ps, ex);
		}
	}
	free(ps.v);
}

static void op_write_container(struct jsonw *w, const struct op_procs *ps,
                               const struct agent_executor *ex)
{
	json_t *info;
	const char *name = op_executor_name(ex, &info);

	jsonw_obj_begin(w);
	jsonw_kid(w, "framework_id", ex->fw->id);
	jsonw_kid(w, "executor_id", ex->id);
	jsonw_kstr(w, "executor_name", name ? name : "");
	jsonw_kid(w, "container_id", ex->container_id);
	jsonw_key(w, "container_status");
	jsonw_obj_begin(w);
	jsonw_kid(w, "container_id", ex->container_id);
	jsonw_kuint(w, "executor_pid", (uint64_t)ex->pid);
	jsonw_obj_end(w);
	jsonw_key(w, "resource_statistics");
	op_write_statistics(w, ps, ex);
	jsonw_obj_end(w);
	json_decref(info);
}

static void op_write_containers(struct agent *a, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "containers");
	jsonw_arr_begin(w);
	op_for_each_container(a, w, op_write_container);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* One entry of /monitor/statistics. */
static void op_write_monitor_entry(struct jsonw *w, const struct op_procs *ps,
                                   const struct agent_executor *ex)
{
	json_t *info;
	const char *name = op_executor_name(ex, &info);
	const char *source = json_string_value(json_object_get(info, "source"));

	jsonw_obj_begin(w);
	jsonw_kstr(w, "executor_id", ex->id);
	jsonw_kstr(w, "executor_name", name ? name : "");
	jsonw_kstr(w, "framework_id", ex->fw->id);
	jsonw_kstr(w, "source", source ? source : "");
	jsonw_key(w, "statistics");
	op_write_statistics(w, ps, ex);
	jsonw_obj_end(w);
	json_decref(info);
}

/* ---- sandbox paths ------------------------------------------------------ */

/* A path resolved inside a sandbox and opened. */
struct op_file {
	char *virt;     /* normalised virtual path, e.g. /frameworks/.../x */
	char *real;     /* realpath() of it */
	char *sandbox;  /* realpath() of the sandbox */
	int fd;         /* O_PATH descriptor of real, or -1 */
	struct stat st; /* of fd */
};

static void op_file_release(struct op_file *f)
{
	free(f->virt);
	free(f->real);
	free(f->sandbox);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/*
 * Normalises an absolute virtual path: repeated '/' and "." components go,
 * ".." is refused. Returns a heap string ("/" for the root) or NULL with
 * msg set.
 */
static char *op_path_normalise(const char *path, struct buf *msg)
{
	struct buf out = BUF_INIT;
	const char *p = path;

	if (!path || !*path) {
		buf_adds(msg, "path: required");
		return NULL;
	}
	if (*path != '/') {
		buf_addf(msg, "path: '%.200s' must be absolute", path);
		return NULL;
	}
	if (strlen(path) >= PATH_MAX) {
		buf_addf(msg, "path: longer than %d bytes", PATH_MAX - 1);
		return NULL;
	}
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && !strncmp(p, "..", 2)) {
			buf_addf(msg,
			         "path: '%.200s' has a '..' component, which "
			         "is not allowed",
			         path);
			buf_release(&out);
			return NULL;
		}
		if (!(n == 1 && *p == '.')) {
			buf_addc(&out, '/');
			buf_add(&out, p, n);
		}
		p += n;
	}
	if (!out.len)
		buf_addc(&out, '/');
	return buf_detach(&out, NULL);
}

/* If path is root or below it, returns what follows root ("" or "/..."). */
static const char *op_path_below(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path + n;
}

/*
 * The sandbox directory (not resolved) that holds the normalised virtual
 * path virt, with *rest set to the part below it ("" or "/..."), or NULL.
 * Sandboxes are found by their layout, not by the executors in memory, so
 * the sandboxes of finished executors stay readable until they are removed:
 *   <work-dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<run>
 *   /frameworks/<fw>/executors/<ex>/runs/<run>   (this agent's id)
 * where <run> is a container id or "latest".
 */
static char *op_sandbox_root(struct agent *a, const char *virt,
                             const char **rest)
{
	static const char *const layout[] = {"frameworks", NULL,   "executors",
	                                     NULL,         "runs", NULL};
	const char *comp[ARRAY_SIZE(layout)], *p, *aid = agent_id(a);
	size_t len[ARRAY_SIZE(layout)], aid_len = strlen(aid);
	char *slaves = xasprintf("%s/slaves", a->cfg.work_dir);

	p = op_path_below(virt, slaves);
	free(slaves);
	if (p) { /* the real layout: /<agent> comes first */
		if (*p != '/')
			return NULL;
		aid = p + 1;
		aid_len = strcspn(aid, "/");
		p = aid + aid_len;
	} else {
		p = virt;
	}
	if (!aid_len)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(layout); i++) {
		if (*p != '/')
			return NULL;
		comp[i] = ++p;
		len[i] = strcspn(p, "/");
		if (!len[i] || (layout[i] && (len[i] != strlen(layout[i]) ||
		                              strncmp(p, layout[i], len[i]))))
			return NULL;
		p += len[i];
	}
	*rest = p;
	return xasprintf("%s/slaves/%.*s/frameworks/%.*s/executors/%.*s/runs/"
	                 "%.*s",
	                 a->cfg.work_dir, (int)aid_len, aid, (int)len[1],
	                 comp[1], (int)len[3], comp[3], (int)len[5], comp[5]);
}

static bool op_is_inside(const char *path, const char *dir)
{
	return op_path_below(path, dir) != NULL;
}

/*
 * Resolves the virtual path into f and opens it (O_PATH). Returns 0, or
 * an HTTP status (400, 403, 404) with msg set to what the user reads.
 */
static int op_resolve(struct agent *a, const char *path, struct op_file *f,
                      struct buf *msg)
{
	char real[PATH_MAX], link[PATH_MAX + 1], procfd[64];
	char *full = NULL, *root = NULL, *slaves = NULL;
	const char *rest = NULL;
	ssize_t n;
	int status = 0;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (!(f->virt = op_path_normalise(path, msg)))
		return 400;
	root = op_sandbox_root(a, f->virt, &rest);
	if (!root) {
		buf_addf(msg,
		         "path: '%.200s' is not in any sandbox on this agent",
		         f->virt);
		return 404;
	}
	slaves = xasprintf("%s/slaves", a->cfg.work_dir);
	if (!realpath(root, real) || !op_is_inside(real, slaves)) {
		buf_addf(msg, "path: no sandbox '%.200s' on this agent", root);
		status = 404;
		goto out;
	}
	f->sandbox = xstrdup(real);
	full = xasprintf("%s%s", f->sandbox, rest);
	if (!realpath(full, real)) {
		int err = errno;
		buf_addf(msg, "path: '%.200s': %s", f->virt,
		         err == ENOENT || err == ENOTDIR ? "no such file"
		                                         : strerror(err));
		status = err == ENOENT || err == ENOTDIR ? 404 : 403;
		goto out;
	}
	if (!op_is_inside(real, f->sandbox)) {
		buf_addf(msg,
		         "path: '%.200s' leads outside its sandbox (through "
		         "a symbolic link)",
		         f->virt);
		status = 403;
		goto out;
	}
	f->real = xstrdup(real);
	f->fd = open(f->real, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (f->fd < 0) {
		int err = errno;
		buf_addf(msg, "path: '%.200s': %s", f->virt,
		         err == ELOOP ? "changed into a symbolic link"
		                      : strerror(err));
		status = err == ENOENT ? 404 : 403;
		goto out;
	}
	/* A component may have been swapped for a symlink since realpath(). */
	snprintf(procfd, sizeof(procfd), "/proc/self/fd/%d", f->fd);
	n = readlink(procfd, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', !op_is_inside(link, f->sandbox))) {
		buf_addf(msg, "path: '%.200s' leads outside its sandbox",
		         f->virt);
		status = 403;
		goto out;
	}
	if (fstat(f->fd, &f->st)) {
		buf_addf(msg, "path: '%.200s': %s", f->virt, strerror(errno));
		status = 404;
	}
out:
	free(root);
	free(slaves);
	free(full);
	return status;
}

/* Opens f's file for reading through its O_PATH descriptor. Returns an
 * fd, or -1 with msg and *status set (a directory or not a file: 400). */
static int op_open_read(const struct op_file *f, struct buf *msg, int *status)
{
	char procfd[64];
	int fd;

	if (S_ISDIR(f->st.st_mode) || !S_ISREG(f->st.st_mode)) {
		buf_addf(msg, "path: '%.200s' is %s", f->virt,
		         S_ISDIR(f->st.st_mode) ? "a directory"
		                                : "not a regular file");
		*status = 400;
		return -1;
	}
	snprintf(procfd, sizeof(procfd), "/proc/self/fd/%d", f->fd);
	fd = open(procfd, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		buf_addf(msg, "path: '%.200s': %s", f->virt, strerror(errno));
		*status = 403;
	}
	return fd;
}

/*
 * Reads up to len bytes at off from fd into out (fewer at the end of the
 * file). Returns 0 or -errno.
 */
static int op_pread(int fd, uint64_t off, uint64_t len, struct buf *out)
{
	buf_grow(out, (size_t)len + 1);
	while (len > 0) {
		ssize_t n =
		    pread(fd, out->data + out->len, (size_t)len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		out->len += (size_t)n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	out->data[out->len] = '\0';
	return 0;
}

/* The user or group name, or the number as text. */
static void op_owner_name(char *out, size_t cap, uid_t uid, bool group)
{
	char scratch[4096];

	if (group) {
		struct group gr, *g = NULL;
		if (!getgrgid_r((gid_t)uid, &gr, scratch, sizeof(scratch),
		                &g) &&
		    g) {
			snprintf(out, cap, "%s", g->gr_name);
			return;
		}
	} else {
		struct passwd pw, *p = NULL;
		if (!getpwuid_r(uid, &pw, scratch, sizeof(scratch), &p) && p) {
			snprintf(out, cap, "%s", p->pw_name);
			return;
		}
	}
	snprintf(out, cap, "%u", (unsigned)uid);
}

/* "drwxr-xr-x", as ls and Mesos's /files/browse write modes. */
static void op_mode_string(mode_t m, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char type = '-';

	if (S_ISDIR(m))
		type = 'd';
	else if (S_ISLNK(m))
		type = 'l';
	else if (S_ISFIFO(m))
		type = 'p';
	else if (S_ISSOCK(m))
		type = 's';
	else if (S_ISCHR(m))
		type = 'c';
	else if (S_ISBLK(m))
		type = 'b';
	out[0] = type;
	for (int i = 0; i < 9; i++)
		out[i + 1] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

/*
 * Writes a FileInfo. v1: mtime {nanoseconds} and mode as a number; the
 * classic /files/browse: mtime in seconds and mode as "drwxr-xr-x".
 */
static void op_write_file_info(struct jsonw *w, const char *path,
                               const struct stat *st, bool v1)
{
	char uid[64], gid[64], mode[11];
	int64_t ns =
	    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;

	op_owner_name(uid, sizeof(uid), st->st_uid, false);
	op_owner_name(gid, sizeof(gid), (uid_t)st->st_gid, true);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "path", path);
	jsonw_kuint(w, "nlink", (uint64_t)st->st_nlink);
	jsonw_kuint(w, "size", (uint64_t)st->st_size);
	if (v1) {
		op_write_time_ns(w, "mtime", ns);
		jsonw_kuint(w, "mode", (uint64_t)st->st_mode);
	} else {
		op_mode_string(st->st_mode, mode);
		jsonw_kdouble(w, "mtime", (double)st->st_mtim.tv_sec);
		jsonw_kstr(w, "mode", mode);
	}
	jsonw_kstr(w, "uid", uid);
	jsonw_kstr(w, "gid", gid);
	jsonw_obj_end(w);
}

static int op_name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Writes the FileInfo array of f: its entries when a directory (sorted by
 * name, entries described with lstat, so links are shown, not followed),
 * else the file itself. Returns 0, or an HTTP status with msg set.
 */
static int op_write_listing(struct jsonw *w, const struct op_file *f, bool v1,
                            struct buf *msg)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;
	int dfd;

	if (!S_ISDIR(f->st.st_mode)) {
		jsonw_arr_begin(w);
		op_write_file_info(w, f->virt, &f->st, v1);
		jsonw_arr_end(w);
		return 0;
	}
	dfd = openat(f->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		buf_addf(msg, "path: '%.200s': %s", f->virt, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return 403;
	}
	while ((d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		ALLOC_GROW(names, n + 1, cap);
		names[n++] = xstrdup(d->d_name);
	}
	if (n)
		qsort(names, n, sizeof(*names), op_name_cmp);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *p;
		if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW))
			continue; /* gone meanwhile */
		p = xasprintf("%s/%s", strcmp(f->virt, "/") ? f->virt : "",
		              names[i]);
		op_write_file_info(w, p, &st, v1);
		free(p);
	}
	jsonw_arr_end(w);
	closedir(dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

/*
 * Reads [offset, offset + length) of f (length < 0: to the end), clamped
 * to OP_MAX_READ; an offset past the end reads nothing. Returns 0 with
 * *size set, or an HTTP status with msg set.
 */
static int op_read_range(const struct op_file *f, int64_t offset,
                         int64_t length, struct buf *out, uint64_t *size,
                         struct buf *msg)
{
	uint64_t want;
	int status = 0, fd, rc;

	if ((fd = op_open_read(f, msg, &status)) < 0)
		return status;
	*size = (uint64_t)f->st.st_size;
	if ((uint64_t)offset >= *size) {
		close(fd);
		return 0;
	}
	want = *size - (uint64_t)offset;
	if (length >= 0 && (uint64_t)length < want)
		want = (uint64_t)length;
	if (want > OP_MAX_READ)
		want = OP_MAX_READ;
	if ((rc = op_pread(fd, (uint64_t)offset, want, out))) {
		buf_addf(msg, "path: '%.200s': cannot read: %s", f->virt,
		         strerror(-rc));
		status = 500;
	}
	close(fd);
	return status;
}

/* ---- LIST_FILES / READ_FILE --------------------------------------------- */

/*
 * Reads obj[key] as an integer in [0, INT64_MAX], a JSON integer or a
 * decimal string (uint64 fields travel as either). Returns 0 (absent: *out
 * untouched), or 400 with msg naming the field.
 */
static int op_get_uint(const json_t *obj, const char *key, const char *what,
                       int64_t *out, struct buf *msg)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	char *end;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if ((s = json_string_value(v)) && isdigit((unsigned char)*s)) {
		errno = 0;
		*out = strtoll(s, &end, 10);
		if (errno || *end) {
			buf_addf(msg, "%s: expected an integer, got '%.32s'",
			         what, s);
			return 400;
		}
	} else {
		buf_addf(msg, "%s: expected a non-negative integer", what);
		return 400;
	}
	if (*out < 0) {
		buf_addf(msg, "%s: must be >= 0, got %lld", what,
		         (long long)*out);
		return 400;
	}
	return 0;
}

static void op_list_files(struct agent *a, struct http_request *req,
                          json_t *call)
{
	const json_t *p = json_object_get(call, "list_files");
	const char *path = json_string_value(json_object_get(p, "path"));
	struct buf msg = BUF_INIT, b = BUF_INIT;
	struct op_file f = {.fd = -1};
	struct jsonw w;
	int status;

	if (!path) {
		http_respond_error(req, 400,
		                   "Expecting 'list_files.path' to be present");
		goto out;
	}
	if ((status = op_resolve(a, path, &f, &msg)))
		goto fail;
	jsonw_init(&w, &b);
	op_envelope_begin(&w, "LIST_FILES");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "file_infos");
	if ((status = op_write_listing(&w, &f, true, &msg)))
		goto fail;
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
	goto out;
fail:
	http_respond_error(req, status, "list_files.%s", msg.data);
out:
	op_file_release(&f);
	buf_release(&msg);
	buf_release(&b);
}

static void op_read_file(struct agent *a, struct http_request *req,
                         json_t *call)
{
	const json_t *p = json_object_get(call, "read_file");
	const char *path = json_string_value(json_object_get(p, "path"));
	struct buf msg = BUF_INIT, data = BUF_INIT, b = BUF_INIT;
	struct op_file f = {.fd = -1};
	int64_t offset = -1, length = -1;
	uint64_t size = 0;
	char *b64 = NULL;
	struct jsonw w;
	int status;

	if (!path) {
		http_respond_error(req, 400,
		                   "Expecting 'read_file.path' to be present");
		goto out;
	}
	if ((status =
	         op_get_uint(p, "offset", "read_file.offset", &offset, &msg)) ||
	    (status =
	         op_get_uint(p, "length", "read_file.length", &length, &msg)))
		goto fail;
	if (offset < 0) {
		http_respond_error(
		    req, 400, "Expecting 'read_file.offset' to be present");
		goto out;
	}
	if ((status = op_resolve(a, path, &f, &msg)) ||
	    (status = op_read_range(&f, offset, length, &data, &size, &msg)))
		goto fail;
	b64 = xmalloc(IDS_BASE64_LEN(data.len));
	ids_base64_encode(data.data ? data.data : "", data.len, b64);
	jsonw_init(&w, &b);
	op_envelope_begin(&w, "READ_FILE");
	jsonw_obj_begin(&w);
	jsonw_kuint(&w, "size", size);
	jsonw_kstr(&w, "data", b64);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
	goto out;
fail:
	http_respond_error(req, status, "read_file.%s", msg.data);
out:
	free(b64);
	op_file_release(&f);
	buf_release(&msg);
	buf_release(&data);
	buf_release(&b);
}

/* ---- dispatch ----------------------------------------------------------- */

/*
 * The agent calls of agent.proto. A read has write set; other calls have
 * call set; neither means Mesos has the call and Atoll does not implement
 * it yet (501 saying so).
 */
static const struct op_call {
	const char *type;
	op_write_fn *write;
	op_call_fn *call;
} op_calls[] = {
    {"GET_HEALTH", op_write_health, NULL},
    {"GET_FLAGS", op_write_flags, NULL},
    {"GET_VERSION", op_write_version, NULL},
    {"GET_METRICS", op_write_metrics, NULL},
    {"GET_LOGGING_LEVEL", op_write_logging_level, NULL},
    {"SET_LOGGING_LEVEL", NULL, NULL},
    {"LIST_FILES", NULL, op_list_files},
    {"READ_FILE", NULL, op_read_file},
    {"GET_STATE", op_write_state, NULL},
    {"GET_CONTAINERS", op_write_containers, NULL},
    {"GET_FRAMEWORKS", op_write_frameworks, NULL},
    {"GET_EXECUTORS", op_write_executors, NULL},
    {"GET_OPERATIONS", NULL, NULL},
    {"GET_TASKS", op_write_tasks, NULL},
    {"GET_AGENT", op_write_agent, NULL},
    {"GET_RESOURCE_PROVIDERS", NULL, NULL},
    {"LAUNCH_NESTED_CONTAINER", NULL, NULL},
    {"WAIT_NESTED_CONTAINER", NULL, NULL},
    {"KILL_NESTED_CONTAINER", NULL, NULL},
    {"REMOVE_NESTED_CONTAINER", NULL, NULL},
    {"LAUNCH_NESTED_CONTAINER_SESSION", NULL, NULL},
    {"ATTACH_CONTAINER_INPUT", NULL, NULL},
    {"ATTACH_CONTAINER_OUTPUT", NULL, NULL},
    {"LAUNCH_CONTAINER", NULL, NULL},
    {"WAIT_CONTAINER", NULL, NULL},
    {"KILL_CONTAINER", NULL, NULL},
    {"REMOVE_CONTAINER", NULL, NULL},
    {"ADD_RESOURCE_PROVIDER_CONFIG", NULL, NULL},
    {"UPDATE_RESOURCE_PROVIDER_CONFIG", NULL, NULL},
    {"REMOVE_RESOURCE_PROVIDER_CONFIG", NULL, NULL},
    {"MARK_RESOURCE_PROVIDER_GONE", NULL, NULL},
    {"PRUNE_IMAGES", NULL, NULL},
};

static const struct op_call *op_call_find(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_calls); i++)
		if (!strcmp(op_calls[i].type, type))
			return &op_calls[i];
	return NULL;
}

static void op_respond_read(struct agent *a, struct http_request *req,
                            const struct op_call *c)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	op_envelope_begin(&w, c->type);
	c->write(a, &w);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
	buf_release(&b);
}

void agent_operator_api(struct agent *a, struct http_request *req)
{
	const struct op_call *c;
	const char *type;
	json_t *call;

	if (!(call = v1call_parse(req)))
		return;
	if (a->stopping) {
		http_respond_error(req, 503, "The agent is shutting down");
		goto out;
	}
	type = json_string_value(json_object_get(call, "type"));
	if (!type) {
		http_respond_error(
		    req, 400, "Expecting 'type' to be present%s",
		    json_object_get(call, "type") ? " and a string" : "");
		goto out;
	}
	c = op_call_find(type);
	if (!c) {
		http_respond_error(req, 501, "Unknown call type '%.64s'", type);
		goto out;
	}
	if (c->write)
		op_respond_read(a, req, c);
	else if (c->call)
		c->call(a, req, call);
	else
		http_respond_error(req, 501,
		                   "Call type '%s' is not implemented by "
		                   "Atoll yet",
		                   type);
out:
	json_decref(call);
}

/* ---- classic endpoints -------------------------------------------------- */

/*
 * Parses a query integer: absent leaves *out; "-1" is allowed only when
 * allow_minus_one. Returns 0 or -EINVAL after responding 400.
 */
static int op_query_int(struct http_request *req, const char *name,
                        bool allow_minus_one, int64_t *out)
{
	char *s = http_request_query(req, name), *end;
	long long v;
	int rc = 0;

	if (!s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || (v < 0 && !(allow_minus_one && v == -1))) {
		http_respond_error(req, 400,
		                   "Failed to parse '%s': expected a "
		                   "non-negative integer%s, got '%.32s'",
		                   name, allow_minus_one ? " or -1" : "", s);
		rc = -EINVAL;
	} else {
		*out = v;
	}
	free(s);
	return rc;
}

/* Resolves ?path= for a classic endpoint; responds on error. */
static int op_query_file(struct agent *a, struct http_request *req,
                         struct op_file *f)
{
	char *path = http_request_query(req, "path");
	struct buf msg = BUF_INIT;
	int status;

	f->fd = -1;
	if (!path) {
		http_respond_error(req, 400,
		                   "Expecting 'path' query parameter");
		return -EINVAL;
	}
	status = op_resolve(a, path, f, &msg);
	if (status)
		http_respond_error(req, status, "%s", msg.data);
	free(path);
	buf_release(&msg);
	return status ? -EINVAL : 0;
}

static void op_files_browse(struct agent *a, struct http_request *req)
{
	struct buf msg = BUF_INIT, b = BUF_INIT;
	struct op_file f = {.fd = -1};
	struct jsonw w;
	int status;

	if (op_query_file(a, req, &f))
		goto out;
	jsonw_init(&w, &b);
	if ((status = op_write_listing(&w, &f, false, &msg)))
		http_respond_error(req, status, "%s", msg.data);
	else
		http_respond_buf(req, 200, "application/json", &b);
out:
	op_file_release(&f);
	buf_release(&msg);
	buf_release(&b);
}

static void op_files_read(struct agent *a, struct http_request *req)
{
	struct buf msg = BUF_INIT, data = BUF_INIT, b = BUF_INIT;
	struct op_file f = {.fd = -1};
	int64_t offset = 0, length = -1;
	uint64_t size = 0;
	struct jsonw w;
	int status;

	if (op_query_int(req, "offset", true, &offset) ||
	    op_query_int(req, "length", false, &length) ||
	    op_query_file(a, req, &f))
		goto out;
	/* offset -1 asks for the size only; read nothing. */
	status = op_read_range(&f, offset < 0 ? INT64_MAX : offset, length,
	                       &data, &size, &msg);
	if (status) {
		http_respond_error(req, status, "%s", msg.data);
		goto out;
	}
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "data");
	jsonw_strn(&w, data.data ? data.data : "", data.len);
	jsonw_kuint(&w, "offset", offset < 0 ? size : (uint64_t)offset);
	jsonw_obj_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
out:
	op_file_release(&f);
	buf_release(&msg);
	buf_release(&data);
	buf_release(&b);
}

static void op_files_download(struct agent *a, struct http_request *req)
{
	struct buf msg = BUF_INIT, data = BUF_INIT;
	struct op_file f = {.fd = -1};
	const char *base;
	char *disp;
	int status = 0, fd = -1, rc;

	if (op_query_file(a, req, &f))
		goto out;
	if ((fd = op_open_read(&f, &msg, &status)) < 0) {
		http_respond_error(req, status, "%s", msg.data);
		goto out;
	}
	if ((uint64_t)f.st.st_size > OP_MAX_DOWNLOAD) {
		http_respond_error(req, 413,
		                   "'%s' is larger than %u bytes; read it in "
		                   "pieces with /files/read",
		                   f.virt, OP_MAX_DOWNLOAD);
		goto out;
	}
	if ((rc = op_pread(fd, 0, (uint64_t)f.st.st_size, &data))) {
		http_respond_error(req, 500, "cannot read '%s': %s", f.virt,
		                   strerror(-rc));
		goto out;
	}
	base = strrchr(f.virt, '/');
	base = base ? base + 1 : f.virt;
	disp = xasprintf("attachment; filename=\"%s\"", base);
	http_request_add_header(req, "Content-Disposition", disp);
	free(disp);
	http_respond_buf(req, 200, "application/octet-stream", &data);
out:
	if (fd >= 0)
		close(fd);
	op_file_release(&f);
	buf_release(&msg);
	buf_release(&data);
}

static void op_monitor_statistics(struct agent *a, struct http_request *req)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_arr_begin(&w);
	op_for_each_container(a, &w, op_write_monitor_entry);
	jsonw_arr_end(&w);
	http_respond_buf(req, 200, "application/json", &b);
	buf_release(&b);
}

static void op_metrics_snapshot(struct agent *a, struct http_request *req)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	op_write_snapshot(a, &w);
	http_respond_buf(req, 200, "application/json", &b);
	buf_release(&b);
}

/* /metrics: the same numbers in Prometheus's text format. */
static void op_metrics_prometheus(struct agent *a, struct http_request *req)
{
	struct buf snap = BUF_INIT, out = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &snap);
	op_write_snapshot(a, &w);
	prometheus_from_snapshot(&out, snap.data, snap.len);
	http_respond_buf(req, 200, PROMETHEUS_CONTENT_TYPE, &out);
	buf_release(&snap);
	buf_release(&out);
}

bool agent_operator_endpoint(struct agent *a, struct http_request *req)
{
	static const struct {
		const char *path;
		void (*fn)(struct agent *a, struct http_request *req);
	} routes[] = {
	    {"/files/browse", op_files_browse},
	    {"/files/browse.json", op_files_browse},
	    {"/files/read", op_files_read},
	    {"/files/read.json", op_files_read},
	    {"/files/download", op_files_download},
	    {"/files/download.json", op_files_download},
	    {"/monitor/statistics", op_monitor_statistics},
	    {"/monitor/statistics.json", op_monitor_statistics},
	    {"/metrics/snapshot", op_metrics_snapshot},
	    {"/metrics", op_metrics_prometheus},
	};

	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		if (strcmp(req->path, routes[i].path))
			continue;
		if (agent_http_is_get(req))
			routes[i].fn(a, req);
		return true;
	}
	return false;
}
