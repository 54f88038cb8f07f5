/*
 * launcher.c: the posix launcher. Creates an executor's sandbox, spawns the
 * executor in its own session (so it survives an agent restart and can be
 * found again by pid), and signals it.
 *
 * Sandbox: work-dir/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<cid>
 * with runs/latest pointing at the newest run, as in Mesos. The executor's
 * stdin is /dev/null, stdout and stderr are appended to the sandbox files
 * `stdout` and `stderr`, its working directory is the sandbox.
 *
 * Killing without cgroups: an executor and what it started form a process
 * tree whose members may start their own sessions (the command executor
 * puts its task in one). agent_executor_kill_all() therefore scans /proc
 * once, takes the executor, all its descendants and every member of a
 * session led by one of them, and SIGKILLs them all. A process that forks
 * between the scan and the kill can escape; cgroups close that gap.
 *
 * Isolation (agent_cgroups): --isolation (agent_isolation_parse) says
 * posix, cgroups, or automatic: cgroups when the machine has a usable
 * hierarchy (cgroups.h) and the agent runs as root, else posix; chosen
 * once, at the first need, and logged. With
 * cgroups, each container gets a cgroup named by its container id,
 * created with its limits (the tasks' cpus and mem plus Mesos's executor
 * overhead, --cgroups-pids-max) before the executor is spawned. The
 * executor's pid is moved into it right after uv_spawn returns, from the
 * agent: the executor forks its task only after it has subscribed and
 * received LAUNCH, which this loop sends later, so the task's first
 * instruction always runs inside the cgroup (a custom executor could fork
 * helpers in that short window; they are still killed by the session
 * scan). This keeps the executor ignorant of cgroups. When the move fails
 * the executor is killed and the launch fails. The cgroup is removed when
 * the executor has exited (agent_executor_cgroup_destroy, which first
 * kills what is left in it); an agent restart keeps the cgroups of the
 * executors it adopts and removes those of its other runs (never those of
 * another agent sharing the root).
 *
 * Namespaces (namespaces/pid, filesystem/linux) are the command
 * executor's job: it creates them for its task (executor.c), told by
 * ATOLL_TASK_ISOLATION. A custom executor runs in the agent's namespaces.
 *
 * Users: the sandbox (and its stdout and stderr) is chowned to the user
 * the agent resolved at RUN_TASK (ex->user). A command executor stays
 * root, to build the task's namespaces, and switches to the user for the
 * task (ATOLL_TASK_USER); a custom executor is spawned as the user
 * (setgid + setuid by libuv, which clears supplementary groups: it gets
 * the user's primary group only). The fetcher's cache is passed with
 * ATOLL_FETCHER_CACHE_DIR and ATOLL_FETCHER_CACHE_SIZE.
 */
#include "lib/compat.h"
#include "agent/agent_int.h"
#include "agent/volumes.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

/* Age after which an empty container cgroup is a leftover. */
#define AGENT_STALE_CGROUP_SECS 60

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

char *agent_sandbox_path(const struct agent *a, const char *fid,
                         const char *eid, const char *cid)
{
	return xasprintf("%s/slaves/%s/frameworks/%s/executors/%s/runs/%s",
	                 a->cfg.work_dir, agent_id(a), fid, eid, cid);
}

/* ---- /proc --------------------------------------------------------------- */

struct proc_stat {
	pid_t pid, ppid, sid;
	char state;
	unsigned long long start;
};

/* Parses /proc/<pid>/stat. Returns 0, or -1 when gone or unreadable. */
static int proc_stat_read(pid_t pid, struct proc_stat *ps)
{
	char path[64], text[1024], *p;
	unsigned long long field[20];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	/* The command name may hold anything, ')' included: skip to the
	 * last ')'. Fields from there: state(3) ppid(4) pgrp(5) session(6)
	 * ... starttime(22). */
	p = strrchr(text, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	ps->pid = pid;
	ps->state = p[2];
	p += 3;
	for (int i = 0; i < 19; i++) {
		char *end;
		while (*p == ' ')
			p++;
		errno = 0;
		field[i] = strtoull(p, &end, 10);
		if (end == p || errno)
			return -1;
		p = end;
	}
	/* field[0] = ppid (4), [1] = pgrp (5), [2] = session (6),
	 * [18] = starttime (22). */
	ps->ppid = (pid_t)field[0];
	ps->sid = (pid_t)field[2];
	ps->start = field[18];
	return 0;
}

unsigned long long agent_pid_start_time(pid_t pid)
{
	struct proc_stat ps;

	if (pid <= 0 || proc_stat_read(pid, &ps))
		return 0;
	return ps.start;
}

bool agent_pid_is_alive(pid_t pid, unsigned long long start)
{
	struct proc_stat ps;

	if (pid <= 0 || proc_stat_read(pid, &ps))
		return false;
	if (ps.state == 'Z' || ps.state == 'X')
		return false;
	return start == 0 || ps.start == start;
}

/* Every process of the machine (pid, ppid, session), or NULL. */
static struct proc_stat *proc_list(size_t *n)
{
	DIR *d = opendir("/proc");
	struct proc_stat *v = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		ALLOC_GROW(v, *n + 1, cap);
		if (proc_stat_read((pid_t)pid, &v[*n]) == 0)
			(*n)++;
	}
	closedir(d);
	return v;
}

int agent_signal_session(pid_t sid, int sig)
{
	struct proc_stat *v;
	size_t n;
	int count = 0;

	if (sid <= 1)
		return 0;
	v = proc_list(&n);
	for (size_t i = 0; i < n; i++)
		if (v[i].sid == sid && v[i].pid != getpid() &&
		    kill(v[i].pid, sig) == 0)
			count++;
	free(v);
	return count;
}

/* SIGKILLs root, its descendants and the sessions they lead. */
static int kill_tree(pid_t root)
{
	struct proc_stat *v;
	bool *mark, grew = true;
	size_t n;
	int count = 0;

	if (root <= 1)
		return 0;
	v = proc_list(&n);
	mark = xcalloc(n ? n : 1, sizeof(*mark));
	for (size_t i = 0; i < n; i++)
		mark[i] = v[i].pid == root || v[i].sid == root;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (mark[i])
				continue;
			for (size_t k = 0; k < n; k++) {
				if (!mark[k])
					continue;
				/* a child of a member, or in a session
				 * led by a member */
				if (v[i].ppid == v[k].pid ||
				    (v[k].sid == v[k].pid &&
				     v[i].sid == v[k].pid)) {
					mark[i] = true;
					grew = true;
					break;
				}
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (mark[i] && v[i].pid != getpid() &&
		    kill(v[i].pid, SIGKILL) == 0)
			count++;
	free(mark);
	free(v);
	return count;
}

void agent_executor_signal_term(struct agent_executor *ex)
{
	if (ex->pid > 0 && agent_pid_is_alive(ex->pid, ex->pid_start) &&
	    kill(ex->pid, SIGTERM) && errno != ESRCH)
		log_warn(AGENT_LOG,
		         "executor=%s pid=%d cannot send SIGTERM: "
		         "%s",
		         ex->id, (int)ex->pid, strerror(errno));
}

void agent_executor_kill_all(struct agent_executor *ex)
{
	int n;

	if (ex->pid <= 0)
		return;
	if (ex->pid_start && agent_pid_is_alive(ex->pid, 0) &&
	    !agent_pid_is_alive(ex->pid, ex->pid_start)) {
		/* The pid now belongs to someone else: only leftovers of
		 * the old session may still be ours. */
		n = agent_signal_session(ex->pid, SIGKILL);
	} else {
		n = kill_tree(ex->pid);
	}
	log_debug(AGENT_LOG, "executor=%s pid=%d processes=%d SIGKILL sent",
	          ex->id, (int)ex->pid, n);
}

/* ---- isolation ----------------------------------------------------------- */

/* True when cid is a run of this agent's work directory (so that agents
 * sharing --cgroups-root never remove each other's containers). */
static bool is_our_run(const struct agent *a, const char *cid)
{
	char *pattern;
	glob_t g;
	bool yes;

	for (const char *p = cid; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
	pattern = xasprintf("%s/slaves/*/frameworks/*/executors/*/runs/%s",
	                    a->cfg.work_dir, cid);
	yes = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
	globfree(&g);
	free(pattern);
	return yes;
}

/* Removes the container cgroups of this agent's runs that no live
 * executor owns (left by executors that died while it was away), and
 * empty ones older than AGENT_STALE_CGROUP_SECS whoever made them (left
 * by agents whose work directory is gone). */
static void remove_orphan_cgroups(struct agent *a)
{
	char **ids;
	size_t n;

	if (cgroups_list(&a->cgroups, &ids, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct hmap_node *fn, *ftmp, *en, *etmp;
		bool owned = false;
		size_t k, j;

		HMAP_FOR_EACH_SAFE(&a->frameworks, k, fn, ftmp)
		{
			struct agent_framework *fw =
			    container_of(fn, struct agent_framework, node);
			HMAP_FOR_EACH_SAFE(&fw->executors, j, en, etmp)
			{
				struct agent_executor *ex = container_of(
				    en, struct agent_executor, node);
				owned =
				    owned || !strcmp(ex->container_id, ids[i]);
			}
		}
		if (!owned && (is_our_run(a, ids[i]) ||
		               cgroups_is_stale(&a->cgroups, ids[i],
		                                AGENT_STALE_CGROUP_SECS))) {
			log_info(AGENT_LOG,
			         "container=%s removing the cgroup of an "
			         "unknown container",
			         ids[i]);
			if (cgroups_destroy(&a->cgroups, ids[i]))
				log_warn(AGENT_LOG,
				         "container=%s cannot remove its "
				         "cgroup: processes remain",
				         ids[i]);
		}
		free(ids[i]);
	}
	free(ids);
}

const struct cgroups *agent_cgroups(struct agent *a)
{
	enum agent_cgroups_mode want = a->iso.cgroups;
	struct err e = {{0}};

	if (a->isolation_chosen)
		return a->cgroups.version == CGROUPS_NONE ? NULL : &a->cgroups;
	a->isolation_chosen = true;
	memset(&a->cgroups, 0, sizeof(a->cgroups));
	if (want == AGENT_CGROUPS_OFF) {
		log_info(AGENT_LOG, "isolation=posix chosen by --isolation");
		return NULL;
	}
	if (want == AGENT_CGROUPS_AUTO && geteuid() != 0) {
		log_info(AGENT_LOG, "isolation=posix not root: cgroups not "
		                    "used");
		return NULL;
	}
	if (cgroups_detect(&a->cgroups, a->cfg.cgroups_root, &e) ||
	    a->cgroups.version == CGROUPS_NONE) {
		a->cgroups.version = CGROUPS_NONE;
		if (want == AGENT_CGROUPS_ON)
			log_error(AGENT_LOG,
			          "isolation=posix cgroups asked for but not "
			          "usable: %s",
			          e.msg);
		else
			log_info(AGENT_LOG,
			         "isolation=posix cgroups not "
			         "usable: %s",
			         e.msg);
		return NULL;
	}
	log_info(AGENT_LOG, "isolation=cgroups version=%s root='%s' cfs=%s",
	         cgroups_version_name(a->cgroups.version), a->cgroups.root,
	         a->cfg.cgroups_enable_cfs ? "true" : "false");
	remove_orphan_cgroups(a);
	return &a->cgroups;
}

const struct cgroups *agent_executor_cgroups(struct agent_executor *ex)
{
	const struct cgroups *cg = agent_cgroups(ex->fw->agent);

	if (!cg)
		return NULL;
	if (!ex->isolated && ex->recovered &&
	    cgroups_exists(cg, ex->container_id))
		ex->isolated = true;
	return ex->isolated ? cg : NULL;
}

/* A cgroup removal, run on the loop's thread pool: removing waits (up to
 * 1 s) for killed processes to leave, which must not stall the loop. */
struct cgroup_removal {
	uv_work_t work;
	struct cgroups cg; /* a copy: the agent may go first */
	char *container_id, *executor_id;
	int rc;
};

static void cgroup_removal_work(uv_work_t *w)
{
	struct cgroup_removal *r = container_of(w, struct cgroup_removal, work);
	r->rc = cgroups_destroy(&r->cg, r->container_id);
}

static void cgroup_removal_done(uv_work_t *w, int status)
{
	struct cgroup_removal *r = container_of(w, struct cgroup_removal, work);

	if (status == 0 && r->rc)
		log_warn(AGENT_LOG,
		         "executor=%s container=%s cannot remove its cgroup: "
		         "processes remain",
		         r->executor_id, r->container_id);
	else if (status == 0)
		log_debug(AGENT_LOG, "executor=%s container=%s cgroup removed",
		          r->executor_id, r->container_id);
	free(r->container_id);
	free(r->executor_id);
	free(r);
}

void agent_executor_cgroup_destroy(struct agent_executor *ex)
{
	const struct cgroups *cg = agent_executor_cgroups(ex);
	struct cgroup_removal *r;

	if (!cg)
		return;
	r = xcalloc(1, sizeof(*r));
	r->cg = *cg;
	r->container_id = xstrdup(ex->container_id);
	r->executor_id = xstrdup(ex->id);
	if (uv_queue_work(ex->fw->agent->loop, &r->work, cgroup_removal_work,
	                  cgroup_removal_done)) {
		cgroup_removal_work(&r->work);
		cgroup_removal_done(&r->work, 0);
	}
	ex->isolated = false;
}

/* Creates ex's cgroup with the limits of its tasks. Returns 0 (also with
 * posix isolation) or a negative errno with e set (also when cgroups were
 * asked for by flag and are not usable: no task runs unconfined then). */
static int create_cgroup(struct agent_executor *ex, struct err *e)
{
	struct agent *a = ex->fw->agent;
	const struct cgroups *cg = agent_cgroups(a);
	double cpus = 0, mem = 0;
	struct list *pos, *tmp;
	int rc;

	if (!cg && a->iso.cgroups == AGENT_CGROUPS_ON)
		return err_set(e,
		               "--isolation=%s: cgroups are not usable on "
		               "this machine (see the agent's log)",
		               a->cfg.isolation);
	if (!cg)
		return 0;
	LIST_FOR_EACH_SAFE(pos, tmp, &ex->tasks)
	{
		struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		cpus += res_to_double(resources_scalar(&t->resources, "cpus"));
		mem += res_to_double(resources_scalar(&t->resources, "mem"));
	}
	cgroups_limits_for(&ex->limits, cpus, mem, a->cfg.cgroups_enable_cfs,
	                   (uint64_t)a->cfg.cgroups_pids_max);
	if ((rc = cgroups_create(cg, ex->container_id, &ex->limits, e)))
		return rc;
	ex->isolated = true;
	log_info(AGENT_LOG,
	         "executor=%s container=%s cpus=%g mem_bytes=%llu "
	         "pids=%llu cgroup created",
	         ex->id, ex->container_id, ex->limits.cpus,
	         (unsigned long long)ex->limits.mem_bytes,
	         (unsigned long long)ex->limits.pids);
	return 0;
}

/* ---- spawning ------------------------------------------------------------ */

/* Points runs/latest at cid (symlink to a temp name, renamed over). */
static void update_latest_link(const char *sandbox, const char *cid)
{
	char *runs = xstrdup(sandbox);
	char *slash = strrchr(runs, '/');
	char *tmp, *latest;

	if (!slash) {
		free(runs);
		return;
	}
	*slash = '\0';
	tmp = xasprintf("%s/.latest.tmp", runs);
	latest = xasprintf("%s/latest", runs);
	unlink(tmp);
	if (symlink(cid, tmp) || rename(tmp, latest)) {
		log_warn(AGENT_LOG, "cannot update '%s': %s", latest,
		         strerror(errno));
		unlink(tmp);
	}
	free(latest);
	free(tmp);
	free(runs);
}

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_addf(struct strv *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void strv_addf(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	char *str;

	va_start(ap, fmt);
	if (vasprintf(&str, fmt, ap) < 0)
		abort();
	va_end(ap);
	ALLOC_GROW(s->v, s->n + 2, s->cap);
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* Replaces or adds NAME=value. */
static void env_set(struct strv *env, const char *name, const char *value)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < env->n; i++) {
		if (!strncmp(env->v[i], name, len) && env->v[i][len] == '=') {
			free(env->v[i]);
			env->v[i] = xasprintf("%s=%s", name, value);
			return;
		}
	}
	strv_addf(env, "%s=%s", name, value);
}

/* The executor's environment: a few basics inherited from the agent, the
 * MESOS_* variables, the ATOLL_* ones of a command executor (isolation,
 * user, fetcher cache), and the executor command's own variables.
 * user_env: the user a custom executor runs as (USER, LOGNAME, HOME), or
 * NULL. */
static void build_env(struct strv *env, const struct agent_executor *ex,
                      const struct command_info *cmd,
                      const struct passwd *user_env)
{
	static const char *const inherit[] = {
	    "HOME",         "USER",
	    "LOGNAME",      "LANG",
	    "LC_ALL",       "TZ",
	    "TMPDIR",       "LD_LIBRARY_PATH",
	    "ASAN_OPTIONS", "UBSAN_OPTIONS",
	    "LSAN_OPTIONS",
	};
	const struct agent *a = ex->fw->agent;
	const char *path = getenv("PATH");
	double backoff = a->cfg.executor_reregistration_timeout / 2;

	strv_addf(env, "PATH=%s", path && *path ? path : DEFAULT_PATH);
	for (size_t i = 0; i < ARRAY_SIZE(inherit); i++) {
		const char *v = getenv(inherit[i]);
		if (v)
			strv_addf(env, "%s=%s", inherit[i], v);
	}
	strv_addf(env, "MESOS_FRAMEWORK_ID=%s", ex->fw->id);
	strv_addf(env, "MESOS_EXECUTOR_ID=%s", ex->id);
	strv_addf(env, "MESOS_CONTAINER_ID=%s", ex->container_id);
	strv_addf(env, "MESOS_AGENT_ENDPOINT=%s", a->address);
	strv_addf(env, "MESOS_SLAVE_ID=%s", agent_id(a));
	strv_addf(env, "MESOS_AGENT_ID=%s", agent_id(a));
	strv_addf(env, "MESOS_SLAVE_PID=%s", a->pid);
	strv_addf(env, "MESOS_DIRECTORY=%s", ex->directory);
	strv_addf(env, "MESOS_SANDBOX=%s", ex->directory);
	strv_addf(env, "MESOS_CHECKPOINT=%d", ex->fw->info.checkpoint ? 1 : 0);
	strv_addf(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=%gsecs",
	          a->cfg.executor_shutdown_grace_period);
	if (ex->fw->info.checkpoint) {
		strv_addf(env, "MESOS_RECOVERY_TIMEOUT=%gsecs",
		          a->cfg.recovery_timeout);
		strv_addf(env, "MESOS_SUBSCRIPTION_BACKOFF_MAX=%gsecs",
		          backoff > 2 ? 2 : backoff);
	}
	if (ex->is_command) {
		char *iso = agent_isolation_executor_env(&a->iso);

		strv_addf(env, "MESOS_HTTP_COMMAND_EXECUTOR=1");
		strv_addf(env, "ATOLL_TASK_ISOLATION=%s", iso);
		if (ex->user)
			strv_addf(env, "ATOLL_TASK_USER=%s", ex->user);
		if (a->cfg.fetcher_cache_dir)
			strv_addf(env, "ATOLL_FETCHER_CACHE_DIR=%s",
			          a->cfg.fetcher_cache_dir);
		else
			strv_addf(env,
			          "ATOLL_FETCHER_CACHE_DIR=%s/fetcher-cache",
			          a->cfg.work_dir);
		strv_addf(env, "ATOLL_FETCHER_CACHE_SIZE=%llu",
		          (unsigned long long)a->cfg.fetcher_cache_size);
		free(iso);
	} else if (user_env) {
		/* The custom executor runs as its user: say so. */
		env_set(env, "USER", user_env->pw_name);
		env_set(env, "LOGNAME", user_env->pw_name);
		env_set(env, "HOME", user_env->pw_dir);
	}
	for (size_t i = 0; cmd && i < cmd->nenv; i++)
		env_set(env, cmd->env[i].name,
		        cmd->env[i].value ? cmd->env[i].value : "");
}

static void build_argv(struct strv *argv, const char **file,
                       const struct agent_executor *ex,
                       const struct command_info *cmd)
{
	if (!cmd) {
		*file = ex->fw->agent->exe_path;
		strv_addf(argv, "%s", *file);
		strv_addf(argv, "executor");
		return;
	}
	if (cmd->shell) {
		*file = "/bin/sh";
		strv_addf(argv, "sh");
		strv_addf(argv, "-c");
		strv_addf(argv, "%s", cmd->value);
		return;
	}
	*file = cmd->value;
	if (cmd->narguments == 0)
		strv_addf(argv, "%s", cmd->value);
	for (size_t i = 0; i < cmd->narguments; i++)
		strv_addf(argv, "%s", cmd->arguments[i]);
}

static void process_free_cb(uv_handle_t *h)
{
	free(h);
}

static void process_exit_cb(uv_process_t *proc, int64_t exit_status,
                            int term_signal)
{
	struct agent_executor *ex = proc->data;
	struct agent_framework *fw;
	char how[128];
	int status;

	if (term_signal) {
		const char *name = strsignal(term_signal);
		snprintf(how, sizeof(how), "terminated by signal %s",
		         name ? name : "?");
		status = term_signal & 0x7f;
	} else {
		snprintf(how, sizeof(how), "exited with status %lld",
		         (long long)exit_status);
		status = (int)((exit_status & 0xff) << 8);
	}
	uv_close((uv_handle_t *)proc, process_free_cb);
	if (!ex)
		return;
	ex->proc = NULL;
	fw = ex->fw;
	agent_executor_exited(ex, status, how);
	agent_framework_maybe_remove(fw);
}

static int open_sandbox_file(const char *dir, const char *name, struct err *e)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		err_set(e, "cannot open '%s': %s", path, strerror(errno));
	free(path);
	return fd < 0 ? -errno : fd;
}

/* Gives ex's sandbox and its stdout and stderr (fds[1], fds[2]) to the
 * user its tasks run as, when the agent can (root). */
static int give_sandbox(const struct agent_executor *ex, const int fds[3],
                        struct err *e)
{
	if (!ex->user || geteuid() != 0 || ex->uid == 0)
		return 0;
	if (chown(ex->directory, ex->uid, ex->gid) ||
	    fchown(fds[1], ex->uid, ex->gid) ||
	    fchown(fds[2], ex->uid, ex->gid))
		return err_set(e,
		               "cannot give the sandbox '%s' to user '%s': "
		               "%s",
		               ex->directory, ex->user, strerror(errno));
	return 0;
}

/* The resources of the executor's tasks (what its volumes come from). */
static void executor_task_resources(const struct agent_executor *ex,
                                    struct resources *out)
{
	const struct list *pos;

	resources_init(out);
	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next)
		resources_add(out, &list_entry(pos, struct agent_task,
		                               executor_link)
		                       ->resources);
}

/* Bind-mounts the persistent volumes of the executor's tasks into its
 * sandbox (volumes.c). */
static int mount_volumes(struct agent_executor *ex, struct err *e)
{
	struct resources res;
	int rc;

	executor_task_resources(ex, &res);
	rc = agent_volumes_mount(ex->fw->agent->cfg.work_dir, ex->directory,
	                         &res, e);
	if (!rc)
		resources_copy(&ex->volumes, &res);
	resources_release(&res);
	return rc;
}

void agent_executor_unmount_volumes(struct agent_executor *ex)
{
	struct resources res;

	if (!ex->directory)
		return;
	/* What was mounted, and (after a recovery, where the agent did not
	 * mount them itself) the volumes of the tasks it still has. */
	executor_task_resources(ex, &res);
	resources_add(&res, &ex->volumes);
	agent_volumes_unmount(ex->directory, &res);
	resources_release(&res);
	resources_release(&ex->volumes);
}

int agent_launch_executor(struct agent_executor *ex,
                          const struct command_info *cmd, struct err *e)
{
	struct agent *a = ex->fw->agent;
	struct strv argv = {0}, env = {0};
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	int fds[3] = {-1, -1, -1};
	const char *file = NULL;
	struct passwd pw, *pwres = NULL;
	const struct passwd *run_as = NULL;
	char pwbuf[4096];
	uv_process_t *proc;
	int rc;

	if (!ex->directory)
		ex->directory =
		    agent_sandbox_path(a, ex->fw->id, ex->id, ex->container_id);
	if ((rc = agent_mkdirs(ex->directory))) {
		err_set(e, "cannot create the sandbox '%s': %s", ex->directory,
		        strerror(-rc));
		return rc;
	}
	update_latest_link(ex->directory, ex->container_id);
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0) {
		rc = -errno;
		err_set(e, "cannot open /dev/null: %s", strerror(errno));
		goto out;
	}
	if ((fds[1] = open_sandbox_file(ex->directory, "stdout", e)) < 0 ||
	    (fds[2] = open_sandbox_file(ex->directory, "stderr", e)) < 0) {
		rc = fds[1] < 0 ? fds[1] : fds[2];
		goto out;
	}
	if ((rc = give_sandbox(ex, fds, e)))
		goto out;
	if ((rc = mount_volumes(ex, e)))
		goto out;
	if ((rc = create_cgroup(ex, e))) {
		agent_executor_unmount_volumes(ex);
		goto out;
	}
	if (!ex->is_command && ex->user && geteuid() == 0 &&
	    getpwnam_r(ex->user, &pw, pwbuf, sizeof(pwbuf), &pwres) == 0 &&
	    pwres)
		run_as = pwres;
	build_argv(&argv, &file, ex, cmd);
	build_env(&env, ex, cmd, run_as);
	memset(&opts, 0, sizeof(opts));
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = fds[i];
	}
	opts.file = file;
	opts.args = argv.v;
	opts.env = env.v;
	opts.cwd = ex->directory;
	opts.flags = UV_PROCESS_DETACHED;
	if (run_as && run_as->pw_uid != 0) {
		opts.uid = run_as->pw_uid;
		opts.gid = run_as->pw_gid;
		opts.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
	}
	opts.stdio_count = 3;
	opts.stdio = stdio;
	opts.exit_cb = process_exit_cb;
	proc = xcalloc(1, sizeof(*proc));
	proc->data = ex;
	rc = uv_spawn(a->loop, proc, &opts);
	if (rc) {
		err_set(e, "cannot start '%s': %s", file, uv_strerror(rc));
		/* A failed spawn still initialised the handle. */
		uv_close((uv_handle_t *)proc, process_free_cb);
		goto out;
	}
	ex->proc = proc;
	ex->pid = proc->pid;
	ex->pid_start = agent_pid_start_time(ex->pid);
	if (ex->isolated &&
	    (rc = cgroups_attach(&a->cgroups, ex->container_id, ex->pid, e))) {
		/* Never run a task outside its limits. The exit callback
		 * finds the executor terminated already. */
		err_prefix(e, "cannot move the executor into its cgroup");
		kill(ex->pid, SIGKILL);
		goto out;
	}
	log_info(AGENT_LOG,
	         "framework=%s executor=%s pid=%d sandbox='%s' "
	         "executor started",
	         ex->fw->id, ex->id, (int)ex->pid, ex->directory);
out:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	strv_free(&argv);
	strv_free(&env);
	return rc;
}
