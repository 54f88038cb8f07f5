/*
 * gc.c: garbage collection of sandboxes (gc.h): the schedule, the
 * blocking removal, and the agent's periodic pass.
 *
 * The agent's pass (agent_gc_*), one job at a time, off the loop for
 * anything that touches the disk:
 *
 *   agent_gc_start --SCAN (thread: gc_scan)--> gc_scan_done: run
 *       directories no executor in memory owns are scheduled, their age
 *       counted from their mtime (left by a previous agent run)
 *   agent_gc_schedule (loop): a terminated executor was freed: its
 *       sandbox is scheduled (age from now; its mtime is set to now so
 *       that a restarted agent counts from there too)
 *   gc_tick, every --disk-watch-interval --USAGE (thread: statvfs of the
 *       work directory)--> gc_usage_done: max_age from the usage
 *       (gc_max_age); the due entries not owned by a live executor
 *       --REMOVE (thread: gc_remove_sandbox each)--> gc_remove_done:
 *       removed ones are logged, unscheduled, their empty parent
 *       directories and the completed-task records of their run dropped;
 *       refused ones stay scheduled (logged once) and are retried.
 *   the next tick is armed once a job chain ends.
 *
 * Safety: the collector removes only paths shaped like a run directory
 * of this work directory (gc_path_is_sandbox); never the sandbox of an
 * executor the agent still has (checked on the loop right before the
 * removal job, by container id); never a sandbox with a mount at or below
 * it (checked in the mount table, then again per directory during the
 * removal: a persistent volume that failed to unmount keeps its data),
 * nor one a process works in (the /proc scan covers executors the agent
 * does not know, e.g. a non-checkpointing one still exiting after a
 * restart). The work thread sees only its job (copied strings); when the
 * agent stops, a job in flight finishes and its result is dropped.
 */
#include "lib/compat.h"
#include "agent/gc.h"
#include "agent/agent_int.h"
#include "agent/disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* ---- the schedule (pure) ------------------------------------------------- */

void gc_init(struct gc *g)
{
	list_init(&g->entries);
	hmap_init(&g->by_path);
	g->n = 0;
}

static void entry_free(struct gc_entry *e)
{
	free(e->path);
	free(e->framework_id);
	free(e->executor_id);
	free(e->container_id);
	free(e);
}

void gc_release(struct gc *g)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &g->entries)
	{
		struct gc_entry *e = list_entry(pos, struct gc_entry, link);
		list_del(&e->link);
		entry_free(e);
	}
	hmap_release(&g->by_path);
	gc_init(g);
}

static double clamp01(double v)
{
	if (isnan(v) || v < 0)
		return 0;
	return v > 1 ? 1 : v;
}

double gc_max_age(double delay, double headroom, double usage)
{
	double left = 1.0 - clamp01(headroom) - clamp01(usage);

	if (isnan(delay) || delay <= 0)
		return 0;
	return left > 0 ? delay * left : 0;
}

double gc_fs_usage(uint64_t blocks, uint64_t bfree)
{
	if (blocks == 0)
		return 0;
	if (bfree >= blocks)
		return 0;
	return (double)(blocks - bfree) / (double)blocks;
}

bool gc_is_due(double since, double max_age, double now)
{
	return now - since >= max_age;
}

/* True when [s, s+n) is a valid path component (not ".", ".."). */
static bool is_component(const char *s, size_t n)
{
	if (n == 0 || memchr(s, '/', n))
		return false;
	return !(n == 1 && s[0] == '.') && !(n == 2 && !memcmp(s, "..", 2));
}

bool gc_path_is_sandbox(const char *path, const char *work_dir)
{
	static const char *const fixed[] = {"slaves", NULL,        "frameworks",
	                                    NULL,     "executors", NULL,
	                                    "runs",   NULL};
	size_t wlen = strlen(work_dir);
	const char *p;

	while (wlen > 1 && work_dir[wlen - 1] == '/')
		wlen--;
	if (wlen == 0 || strncmp(path, work_dir, wlen) ||
	    (wlen == 1 ? path[0] != '/' : path[wlen] != '/'))
		return false;
	p = path + (wlen == 1 ? 1 : wlen + 1);
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		bool last = i + 1 == ARRAY_SIZE(fixed);

		if (!is_component(p, n) ||
		    (fixed[i] &&
		     (strlen(fixed[i]) != n || memcmp(fixed[i], p, n))) ||
		    (last != !slash))
			return false;
		if (slash)
			p = slash + 1;
	}
	return true;
}

struct gc_entry *gc_find(const struct gc *g, const char *path)
{
	return hmap_entry(hmap_find(&g->by_path, path), struct gc_entry, node);
}

struct gc_entry *gc_add(struct gc *g, const char *path,
                        const char *framework_id, const char *executor_id,
                        const char *container_id, double since)
{
	struct gc_entry *e;

	if (gc_find(g, path))
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->path = xstrdup(path);
	e->framework_id = xstrdup(framework_id ? framework_id : "");
	e->executor_id = xstrdup(executor_id ? executor_id : "");
	e->container_id = xstrdup(container_id ? container_id : "");
	e->since = since;
	e->node.key = e->path;
	hmap_insert(&g->by_path, &e->node);
	list_add_tail(&g->entries, &e->link);
	g->n++;
	return e;
}

void gc_remove(struct gc *g, struct gc_entry *e)
{
	hmap_remove(&g->by_path, &e->node);
	list_del(&e->link);
	g->n--;
	entry_free(e);
}

size_t gc_collect_due(struct gc *g, double max_age, double now,
                      struct gc_entry **out, size_t max)
{
	struct list *pos, *tmp;
	size_t n = 0;

	LIST_FOR_EACH_SAFE(pos, tmp, &g->entries)
	{
		struct gc_entry *e = list_entry(pos, struct gc_entry, link);
		if (n >= max)
			break;
		if (e->busy || !gc_is_due(e->since, max_age, now))
			continue;
		e->busy = true;
		out[n++] = e;
	}
	return n;
}

/* ---- removal (blocking) -------------------------------------------------- */

static bool is_mount_root(const struct statx *sx, dev_t dev)
{
	if (makedev(sx->stx_dev_major, sx->stx_dev_minor) != dev)
		return true;
	return (sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Opens directory name below dfd without following a symlink; a
 * directory we may not read is opened up for us (we own it, or are
 * root) since it goes anyway. Returns the fd or -errno. */
static int open_subdir(int dfd, const char *name)
{
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dfd, name, flags);

	if (fd < 0 && errno == EACCES && !fchmodat(dfd, name, 0700, 0))
		fd = openat(dfd, name, flags);
	return fd < 0 ? -errno : fd;
}

/* Removes everything inside the directory open at fd (taken, closed). */
static int remove_contents(int fd, dev_t dev, int depth, struct buf *why)
{
	DIR *d = fdopendir(fd);
	int rc = 0;

	if (!d) {
		rc = -errno;
		close(fd);
		buf_addf(why, "cannot read a directory: %s", strerror(-rc));
		return rc;
	}
	/* Passes until one finds nothing: entries removed while reading
	 * may make readdir skip others. */
	for (int pass = 0; pass < 64; pass++) {
		struct dirent *de;
		size_t removed = 0;

		rewinddir(d);
		while ((de = readdir(d))) {
			const char *name = de->d_name;
			struct statx sx;
			int flags = 0;

			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			if (statx(dirfd(d), name,
			          AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
			          STATX_TYPE | STATX_INO, &sx))
				continue; /* vanished */
			if (is_mount_root(&sx, dev)) {
				buf_addf(why, "'%s' is a mount point", name);
				rc = -EBUSY;
				goto out;
			}
			if (S_ISDIR(sx.stx_mode)) {
				int cfd;

				if (depth + 1 >= DISK_MAX_DEPTH) {
					buf_addf(why, "deeper than %d levels",
					         DISK_MAX_DEPTH);
					rc = -ELOOP;
					goto out;
				}
				cfd = open_subdir(dirfd(d), name);
				if (cfd < 0) {
					rc = cfd;
					buf_addf(why, "cannot open '%s': %s",
					         name, strerror(-rc));
					goto out;
				}
				rc = remove_contents(cfd, dev, depth + 1, why);
				if (rc)
					goto out;
				flags = AT_REMOVEDIR;
			}
			if (unlinkat(dirfd(d), name, flags) &&
			    errno != ENOENT) {
				rc = -errno;
				buf_addf(why, "cannot remove '%s': %s", name,
				         strerror(errno));
				goto out;
			}
			removed++;
		}
		if (!removed)
			break;
	}
out:
	closedir(d);
	return rc;
}

pid_t gc_sandbox_user(const char *path)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char link[64], cwd[PATH_MAX];
		ssize_t n;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
		n = readlink(link, cwd, sizeof(cwd) - 1);
		if (n <= 0)
			continue;
		cwd[n] = '\0';
		if (disk_path_is_under(cwd, path))
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

int gc_remove_sandbox(const char *path, struct buf *why)
{
	struct disk_mounts m = {0};
	struct statx sx;
	pid_t user;
	int fd, rc;

	if ((rc = disk_mounts_read(path, &m))) {
		buf_addf(why, "cannot read the mount table: %s", strerror(-rc));
		goto out;
	}
	if (m.n) {
		buf_addf(why, "'%s' is still mounted%s", m.v[0],
		         m.n > 1 ? " (and more)" : "");
		rc = -EBUSY;
		goto out;
	}
	if ((user = gc_sandbox_user(path))) {
		buf_addf(why, "process %d works in it", (int)user);
		rc = -EBUSY;
		goto out;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		if (rc)
			buf_addf(why, "cannot open it: %s", strerror(errno));
		goto out;
	}
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, &sx)) {
		rc = -errno;
		buf_addf(why, "cannot stat it: %s", strerror(errno));
		close(fd);
		goto out;
	}
	if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		buf_adds(why, "it is a mount point");
		rc = -EBUSY;
		close(fd);
		goto out;
	}
	rc = remove_contents(fd, makedev(sx.stx_dev_major, sx.stx_dev_minor), 0,
	                     why);
	if (!rc && rmdir(path) && errno != ENOENT) {
		rc = -errno;
		buf_addf(why, "cannot remove it: %s", strerror(errno));
	}
out:
	disk_mounts_release(&m);
	return rc;
}

/* ---- scan (blocking) ----------------------------------------------------- */

/* Calls fn for each subdirectory (not a symlink, not dot-named) of dir. */
static int scan_subdirs(const char *dir,
                        void (*fn)(const char *path, const char *name,
                                   void *arg),
                        void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (!lstat(p, &st) && S_ISDIR(st.st_mode))
			fn(p, de->d_name, arg);
		free(p);
	}
	closedir(d);
	return 0;
}

struct scan {
	struct gc_found *v;
	size_t n, cap;
	const char *ids[3]; /* framework, executor (borrowed while walking) */
};

static void scan_run(const char *path, const char *name, void *arg)
{
	struct scan *s = arg;
	struct stat st;

	if (lstat(path, &st))
		return;
	ALLOC_GROW(s->v, s->n + 1, s->cap);
	s->v[s->n++] = (struct gc_found){
	    .path = xstrdup(path),
	    .framework_id = xstrdup(s->ids[0]),
	    .executor_id = xstrdup(s->ids[1]),
	    .container_id = xstrdup(name),
	    .mtime =
		(double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9,
	};
}

static void scan_executor(const char *path, const char *name, void *arg)
{
	struct scan *s = arg;
	char *runs = xasprintf("%s/runs", path);

	s->ids[1] = name;
	(void)scan_subdirs(runs, scan_run, s);
	free(runs);
}

static void scan_framework(const char *path, const char *name, void *arg)
{
	struct scan *s = arg;
	char *execs = xasprintf("%s/executors", path);

	s->ids[0] = name;
	(void)scan_subdirs(execs, scan_executor, s);
	free(execs);
}

static void scan_agent(const char *path, const char *name, void *arg)
{
	char *fws = xasprintf("%s/frameworks", path);

	(void)name;
	(void)scan_subdirs(fws, scan_framework, arg);
	free(fws);
}

int gc_scan(const char *work_dir, struct gc_found **out, size_t *n)
{
	struct scan s = {0};
	char *slaves = xasprintf("%s/slaves", work_dir);
	int rc = scan_subdirs(slaves, scan_agent, &s);

	free(slaves);
	if (rc == -ENOENT)
		rc = 0;
	if (rc) {
		gc_found_free(s.v, s.n);
		s.v = NULL;
		s.n = 0;
	}
	*out = s.v;
	*n = s.n;
	return rc;
}

void gc_found_free(struct gc_found *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].framework_id);
		free(v[i].executor_id);
		free(v[i].container_id);
	}
	free(v);
}

/* ---- the agent's pass ---------------------------------------------------- */

enum gc_job_kind { GC_JOB_SCAN, GC_JOB_USAGE, GC_JOB_REMOVE };

struct gc_job_item {
	char *path;
	int rc;
	struct buf why;
};

struct gc_job {
	uv_work_t req;
	struct agent *a;
	enum gc_job_kind kind;
	char *work_dir;
	/* SCAN */
	struct gc_found *found;
	size_t nfound;
	int rc;
	/* USAGE */
	double usage;
	/* REMOVE */
	struct gc_job_item *items;
	size_t nitems;
};

static void gc_job_free(struct gc_job *j)
{
	for (size_t i = 0; i < j->nitems; i++) {
		free(j->items[i].path);
		buf_release(&j->items[i].why);
	}
	free(j->items);
	gc_found_free(j->found, j->nfound);
	free(j->work_dir);
	free(j);
}

static void gc_work(uv_work_t *req)
{
	struct gc_job *j = container_of(req, struct gc_job, req);
	struct statvfs vfs;

	switch (j->kind) {
	case GC_JOB_SCAN:
		j->rc = gc_scan(j->work_dir, &j->found, &j->nfound);
		break;
	case GC_JOB_USAGE:
		if (statvfs(j->work_dir, &vfs)) {
			j->rc = -errno;
			break;
		}
		j->usage =
		    gc_fs_usage((uint64_t)vfs.f_blocks, (uint64_t)vfs.f_bfree);
		break;
	case GC_JOB_REMOVE:
		for (size_t i = 0; i < j->nitems; i++)
			j->items[i].rc = gc_remove_sandbox(j->items[i].path,
			                                   &j->items[i].why);
		break;
	}
}

static void gc_done(uv_work_t *req, int status);

static struct gc_job *gc_job_new(struct agent *a, enum gc_job_kind kind)
{
	struct gc_job *j = xcalloc(1, sizeof(*j));

	j->a = a;
	j->kind = kind;
	j->work_dir = xstrdup(a->cfg.work_dir);
	return j;
}

/* Queues j; false (j freed) when the thread pool refuses it. */
static bool gc_job_queue(struct gc_job *j)
{
	int rc = uv_queue_work(j->a->loop, &j->req, gc_work, gc_done);

	if (rc) {
		log_warn(AGENT_LOG, "cannot run the sandbox collector: %s",
		         uv_strerror(rc));
		gc_job_free(j);
		return false;
	}
	return true;
}

static void gc_tick(uv_timer_t *timer);

static void gc_arm(struct agent *a)
{
	if (a->stopping || a->gc_timer)
		return;
	a->gc_timer =
	    agent_timer_start(a, a, gc_tick, a->cfg.disk_watch_interval);
}

/* The executor of run (fid, eid, cid) the agent still has, or NULL. */
static struct agent_executor *gc_run_owner(struct agent *a, const char *fid,
                                           const char *eid, const char *cid)
{
	struct agent_framework *fw = agent_framework_find(a, fid);
	struct agent_executor *ex = agent_executor_find(fw, eid);
	struct list *pos;

	if (ex && !strcmp(ex->container_id, cid))
		return ex;
	if (!fw)
		return NULL;
	for (pos = fw->dead_executors.next; pos != &fw->dead_executors;
	     pos = pos->next) {
		ex = list_entry(pos, struct agent_executor, dead_link);
		if (!strcmp(ex->id, eid) && !strcmp(ex->container_id, cid))
			return ex;
	}
	return NULL;
}

static void gc_log_scheduled(struct agent *a, const struct gc_entry *e,
                             const char *why)
{
	log_info(AGENT_LOG,
	         "framework=%s executor=%s container=%s sandbox='%s' "
	         "delay=%gs sandbox scheduled for removal (%s; sooner when "
	         "the disk fills)",
	         e->framework_id, e->executor_id, e->container_id, e->path,
	         a->cfg.gc_delay, why);
}

static void gc_scan_done(struct agent *a, struct gc_job *j)
{
	size_t added = 0;

	if (j->rc) {
		log_warn(AGENT_LOG,
		         "cannot list old sandboxes under '%s/slaves': %s",
		         a->cfg.work_dir, strerror(-j->rc));
		return;
	}
	for (size_t i = 0; i < j->nfound; i++) {
		const struct gc_found *f = &j->found[i];
		struct gc_entry *e;

		if (!gc_path_is_sandbox(f->path, a->cfg.work_dir) ||
		    gc_run_owner(a, f->framework_id, f->executor_id,
		                 f->container_id))
			continue;
		e = gc_add(&a->gc, f->path, f->framework_id, f->executor_id,
		           f->container_id, f->mtime);
		if (!e)
			continue;
		gc_log_scheduled(a, e, "left by an earlier run of the agent");
		added++;
	}
	log_debug(AGENT_LOG, "runs=%zu scheduled=%zu old sandboxes listed",
	          j->nfound, added);
}

/* Removes the completed-task records of run (fid, eid, cid). */
static void gc_forget_completed(struct agent *a, const struct gc_entry *e)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &a->completed)
	{
		struct agent_completed_task *c =
		    list_entry(pos, struct agent_completed_task, link);
		if (strcmp(c->framework_id, e->framework_id) ||
		    strcmp(c->executor_id, e->executor_id) ||
		    !c->container_id ||
		    strcmp(c->container_id, e->container_id))
			continue;
		list_del(&c->link);
		a->ncompleted--;
		agent_completed_free(c);
	}
}

/* Drops the runs/latest link if it named the removed run, then the
 * parents left empty (up to the framework's directory). On the loop, so
 * that it cannot race a launch creating them again. */
static void gc_remove_parents(const struct gc_entry *e)
{
	char *dir = xstrdup(e->path);
	char target[256];
	char *slash, *latest;
	ssize_t n;

	slash = strrchr(dir, '/'); /* .../runs */
	*slash = '\0';
	latest = xasprintf("%s/latest", dir);
	n = readlink(latest, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (!strcmp(target, e->container_id))
			(void)unlink(latest);
	}
	free(latest);
	/* runs, <executor>, executors, <framework> */
	for (int i = 0; i < 4; i++) {
		if (rmdir(dir))
			break;
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	free(dir);
}

static void gc_remove_done(struct agent *a, struct gc_job *j)
{
	for (size_t i = 0; i < j->nitems; i++) {
		struct gc_job_item *it = &j->items[i];
		struct gc_entry *e = gc_find(&a->gc, it->path);

		if (!e)
			continue;
		e->busy = false;
		if (it->rc) {
			if (!e->refused)
				log_error(AGENT_LOG,
				          "framework=%s executor=%s "
				          "sandbox='%s' cannot remove the "
				          "sandbox: %s; retrying every %gs",
				          e->framework_id, e->executor_id,
				          e->path,
				          it->why.data ? it->why.data : "",
				          a->cfg.disk_watch_interval);
			e->refused = true;
			continue;
		}
		log_info(AGENT_LOG,
		         "framework=%s executor=%s container=%s sandbox='%s' "
		         "sandbox removed",
		         e->framework_id, e->executor_id, e->container_id,
		         e->path);
		gc_remove_parents(e);
		gc_forget_completed(a, e);
		gc_remove(&a->gc, e);
	}
}

/* The usage is known: queue the removal of what is due. Returns true when
 * a job was queued. */
static bool gc_usage_done(struct agent *a, struct gc_job *j)
{
	struct gc_entry *due[GC_BATCH_MAX];
	struct gc_job *rj;
	double max_age;
	size_t n, k = 0;

	if (j->rc) {
		log_warn(AGENT_LOG, "cannot stat the filesystem of '%s': %s",
		         a->cfg.work_dir, strerror(-j->rc));
		return false;
	}
	max_age =
	    gc_max_age(a->cfg.gc_delay, a->cfg.gc_disk_headroom, j->usage);
	log_debug(AGENT_LOG,
	          "usage=%.3f max_age=%gs scheduled=%zu sandbox collection",
	          j->usage, max_age, a->gc.n);
	n = gc_collect_due(&a->gc, max_age, timeutil_wall(), due,
	                   ARRAY_SIZE(due));
	if (!n)
		return false;
	rj = gc_job_new(a, GC_JOB_REMOVE);
	rj->items = xcalloc(n, sizeof(*rj->items));
	for (size_t i = 0; i < n; i++) {
		struct gc_entry *e = due[i];
		struct agent_executor *ex = gc_run_owner(
		    a, e->framework_id, e->executor_id, e->container_id);

		if (ex || !gc_path_is_sandbox(e->path, a->cfg.work_dir)) {
			/* Never the sandbox of an executor still here: it is
			 * scheduled again once it is gone. */
			log_warn(AGENT_LOG, "sandbox='%s' unscheduled: %s",
			         e->path,
			         ex ? "its executor is still known"
			            : "not a sandbox of this work directory");
			gc_remove(&a->gc, e);
			continue;
		}
		rj->items[k].path = xstrdup(e->path);
		buf_init(&rj->items[k].why);
		due[k++] = e; /* the ones still scheduled */
	}
	rj->nitems = k;
	if (!k) {
		gc_job_free(rj);
		return false;
	}
	if (!gc_job_queue(rj)) {
		for (size_t i = 0; i < k; i++)
			due[i]->busy = false;
		return false;
	}
	return true;
}

static void gc_done(uv_work_t *req, int status)
{
	struct gc_job *j = container_of(req, struct gc_job, req);
	struct agent *a = j->a;
	bool chained = false;

	if (a->stopping || status) {
		gc_job_free(j);
		return;
	}
	switch (j->kind) {
	case GC_JOB_SCAN:
		gc_scan_done(a, j);
		break;
	case GC_JOB_USAGE:
		chained = gc_usage_done(a, j);
		break;
	case GC_JOB_REMOVE:
		gc_remove_done(a, j);
		break;
	}
	gc_job_free(j);
	if (!chained)
		gc_arm(a);
}

static void gc_tick(uv_timer_t *timer)
{
	struct agent *a = timer->data;

	agent_timer_drop(&a->gc_timer);
	if (!a->gc.n) {
		gc_arm(a);
		return;
	}
	if (!gc_job_queue(gc_job_new(a, GC_JOB_USAGE)))
		gc_arm(a);
}

void agent_gc_start(struct agent *a)
{
	if (!gc_job_queue(gc_job_new(a, GC_JOB_SCAN)))
		gc_arm(a);
}

void agent_gc_stop(struct agent *a)
{
	agent_timer_drop(&a->gc_timer);
}

void agent_gc_schedule(struct agent *a, const struct agent_executor *ex)
{
	struct gc_entry *e;

	if (a->stopping || !ex->directory)
		return;
	if (!gc_path_is_sandbox(ex->directory, a->cfg.work_dir)) {
		log_warn(AGENT_LOG,
		         "executor=%s sandbox='%s' not collected: not a "
		         "sandbox of the work directory",
		         ex->id, ex->directory);
		return;
	}
	e = gc_add(&a->gc, ex->directory, ex->fw->id, ex->id, ex->container_id,
	           timeutil_wall());
	if (!e)
		return;
	/* A restarted agent counts the age from the mtime (gc_scan_done). */
	(void)utimensat(AT_FDCWD, ex->directory, NULL, AT_SYMLINK_NOFOLLOW);
	gc_log_scheduled(a, e, "its executor is gone");
}
