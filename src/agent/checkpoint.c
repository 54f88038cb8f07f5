/*
 * checkpoint.c: what the agent keeps on disk so that a restarted agent
 * reconnects to the executors it launched (for frameworks that asked for
 * checkpointing), and the recovery that reads it back.
 *
 * Layout under --work-dir (Mesos's, simplified):
 *
 *   meta/agent_id                                   the agent's id
 *   meta/boot_id                                    kernel boot of the writer
 *   meta/slaves/<agent>/frameworks/<fw>/framework.info      FrameworkInfo
 *       executors/<ex>/executor.info     {"executor_info", "command"}
 *       executors/<ex>/runs/<cid>/run.info  {"pid", "pid_start", "directory"}
 *       executors/<ex>/runs/<cid>/tasks/<task>/task.info     TaskInfo
 *       executors/<ex>/runs/<cid>/tasks/<task>/updates       journal
 *
 * Every state file is written whole to a temp file, fsync()ed, renamed over
 * the old one and the directory fsync()ed, so a crash leaves the old or the
 * new file, never a torn one. The update journal is append-only; each
 * record is one line, fsync()ed before the executor hears that its update
 * is safe; a torn last line is cut off at recovery (update_stream_replay).
 *
 * Recovery (agent_recover) rebuilds frameworks, executor runs and tasks,
 * replays each task's journal into its update stream, and decides per run:
 * a live pid (same boot, same process start time) is adopted and must
 * resubscribe within --executor-reregistration-timeout; anything else is
 * an executor that exited while the agent was down.
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"

/* ---- files --------------------------------------------------------------- */

int agent_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd, rc = 0;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int agent_write_file_atomic(const char *path, const void *data, size_t len,
                            struct err *e)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, rc;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		err_set(e, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if ((rc = write_all(fd, data, len)) || (fsync(fd) && (rc = -errno))) {
		err_set(e, "cannot write '%s': %s", tmp, strerror(-rc));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		rc = -errno;
		err_set(e, "cannot rename '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if ((rc = fsync_dir_of(path)))
		err_set(e, "cannot sync the directory of '%s': %s", path,
		        strerror(-rc));
out:
	free(tmp);
	return rc;
}

int agent_read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		buf_add(out, chunk, (size_t)n);
	}
	close(fd);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void agent_remove_tree(const char *path)
{
	if (path && *path)
		nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- paths --------------------------------------------------------------- */

static char *id_path(const struct agent *a)
{
	return xasprintf("%s/agent_id", a->meta_dir);
}

char *agent_ckpt_framework_dir(const struct agent *a, const char *fid)
{
	return xasprintf("%s/slaves/%s/frameworks/%s", a->meta_dir, agent_id(a),
	                 fid);
}

static char *executor_dir(const struct agent_executor *ex)
{
	char *fdir = agent_ckpt_framework_dir(ex->fw->agent, ex->fw->id);
	char *d = xasprintf("%s/executors/%s", fdir, ex->id);
	free(fdir);
	return d;
}

char *agent_ckpt_run_dir(const struct agent_executor *ex)
{
	char *edir = executor_dir(ex);
	char *d = xasprintf("%s/runs/%s", edir, ex->container_id);
	free(edir);
	return d;
}

static char *task_dir(const struct agent_task *t)
{
	char *rdir = agent_ckpt_run_dir(t->executor);
	char *d = xasprintf("%s/tasks/%s", rdir, t->id);
	free(rdir);
	return d;
}

/* ---- agent id ------------------------------------------------------------ */

int agent_ckpt_save_id(struct agent *a, struct err *e)
{
	char *path = id_path(a), *bpath;
	int rc;

	if ((rc = agent_mkdirs(a->meta_dir))) {
		err_set(e, "cannot create '%s': %s", a->meta_dir,
		        strerror(-rc));
		goto out;
	}
	if ((rc = agent_write_file_atomic(path, a->info.id, strlen(a->info.id),
	                                  e)))
		goto out;
	bpath = xasprintf("%s/boot_id", a->meta_dir);
	rc = agent_write_file_atomic(bpath, a->boot_id, strlen(a->boot_id), e);
	free(bpath);
out:
	free(path);
	return rc;
}

/* Reads a one-line text file, trimmed; NULL when absent or empty. */
static char *read_line_file(const char *path)
{
	struct buf b = BUF_INIT;

	if (agent_read_file(path, &b) || b.len == 0) {
		buf_release(&b);
		return NULL;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.data[--b.len] = '\0';
	if (b.len == 0 || memchr(b.data, '\0', b.len)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

char *agent_ckpt_load_id(struct agent *a)
{
	char *path = id_path(a);
	char *id = read_line_file(path);
	struct err e = {{0}};

	if (id && mesos_id_validate(id, "agent_id", &e)) {
		log_warn(AGENT_LOG, "ignoring '%s': %s", path, e.msg);
		free(id);
		id = NULL;
	}
	free(path);
	return id;
}

/* ---- writing state ------------------------------------------------------- */

int agent_ckpt_framework(struct agent_framework *fw, struct err *e)
{
	char *dir = agent_ckpt_framework_dir(fw->agent, fw->id);
	char *path = xasprintf("%s/framework.info", dir);
	int rc;

	if ((rc = agent_mkdirs(dir))) {
		err_set(e, "cannot create '%s': %s", dir, strerror(-rc));
		goto out;
	}
	rc = agent_write_file_atomic(path, fw->info_json, strlen(fw->info_json),
	                             e);
	if (rc == 0) {
		fw->checkpointed = true;
		fw->info_dirty = false;
	}
out:
	free(path);
	free(dir);
	return rc;
}

int agent_ckpt_executor(struct agent_executor *ex, struct err *e)
{
	char *edir = executor_dir(ex), *rdir = agent_ckpt_run_dir(ex);
	char *epath = xasprintf("%s/executor.info", edir);
	char *rpath = xasprintf("%s/run.info", rdir);
	struct buf b = BUF_INIT;
	struct jsonw w;
	int rc;

	if ((rc = agent_mkdirs(rdir))) {
		err_set(e, "cannot create '%s': %s", rdir, strerror(-rc));
		goto out;
	}
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "executor_info");
	jsonw_raw(&w, ex->info_json, strlen(ex->info_json));
	jsonw_kbool(&w, "command", ex->is_command);
	jsonw_obj_end(&w);
	if ((rc = agent_write_file_atomic(epath, b.data, b.len, e)))
		goto out;
	buf_reset(&b);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "pid", ex->pid);
	jsonw_kuint(&w, "pid_start", ex->pid_start);
	jsonw_kstr(&w, "directory", ex->directory ? ex->directory : "");
	jsonw_obj_end(&w);
	rc = agent_write_file_atomic(rpath, b.data, b.len, e);
	if (rc == 0)
		ex->checkpointed = true;
out:
	buf_release(&b);
	free(rpath);
	free(epath);
	free(rdir);
	free(edir);
	return rc;
}

int agent_ckpt_task(struct agent_task *t, struct err *e)
{
	char *dir = task_dir(t);
	char *ipath = xasprintf("%s/task.info", dir);
	char *upath = xasprintf("%s/updates", dir);
	int rc;

	if ((rc = agent_mkdirs(dir))) {
		err_set(e, "cannot create '%s': %s", dir, strerror(-rc));
		goto out;
	}
	if ((rc = agent_write_file_atomic(ipath, t->info_json,
	                                  strlen(t->info_json), e)))
		goto out;
	/* An empty journal, created durably now so appends never create. */
	if ((rc = agent_write_file_atomic(upath, "", 0, e)))
		goto out;
	t->checkpointed = true;
out:
	free(upath);
	free(ipath);
	free(dir);
	return rc;
}

int agent_ckpt_append(struct agent_task *t, const struct buf *text,
                      struct err *e)
{
	char *dir = task_dir(t);
	char *path = xasprintf("%s/updates", dir);
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		err_set(e, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((rc = write_all(fd, text->data, text->len)) ||
	    (fsync(fd) && (rc = -errno)))
		err_set(e, "cannot append to '%s': %s", path, strerror(-rc));
	close(fd);
out:
	free(path);
	free(dir);
	return rc;
}

void agent_ckpt_remove_run(struct agent_executor *ex)
{
	char *rdir = agent_ckpt_run_dir(ex);
	agent_remove_tree(rdir);
	free(rdir);
}

void agent_ckpt_remove_framework(struct agent_framework *fw)
{
	char *dir = agent_ckpt_framework_dir(fw->agent, fw->id);
	agent_remove_tree(dir);
	free(dir);
}

/* ---- recovery ------------------------------------------------------------ */

struct recovery {
	struct agent *a;
	bool boot_changed;
	bool cleanup; /* --recover=cleanup: kill, do not adopt */
	int damaged;  /* items skipped */
	struct err *e;
};

/* Damaged state: fatal with --strict, else logged and skipped. */
static int damaged(struct recovery *r, const char *path, const char *what)
{
	r->damaged++;
	if (r->a->cfg.strict)
		return err_set(r->e,
		               "damaged checkpoint '%s': %s (start with "
		               "--no-strict to skip it)",
		               path, what);
	log_error(AGENT_LOG, "path='%s' damaged checkpoint skipped: %s", path,
	          what);
	return 0;
}

static json_t *load_json(const char *path, struct buf *scratch)
{
	json_error_t jerr;

	buf_reset(scratch);
	if (agent_read_file(path, scratch))
		return NULL;
	return json_loadb(scratch->data, scratch->len, 0, &jerr);
}

/* Lists the entries of dir that are valid ids (skipping ".", "..",
 * "latest" and temp files). Returns a heap array (n entries). */
static char **list_ids(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
	struct err e;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, "latest") ||
		    mesos_id_validate(de->d_name, "entry", &e))
			continue;
		ALLOC_GROW(v, *n + 1, cap);
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	return v;
}

static int recover_task(struct recovery *r, struct agent_executor *ex,
                        const char *tdir, const char *tid)
{
	char *ipath = xasprintf("%s/task.info", tdir);
	char *upath = xasprintf("%s/updates", tdir);
	struct buf scratch = BUF_INIT;
	struct agent_task *t;
	struct err e = {{0}};
	size_t good = 0;
	json_t *info;
	int rc = 0;

	info = load_json(ipath, &scratch);
	if (!json_is_object(info)) {
		rc = damaged(r, ipath, "not a JSON TaskInfo");
		goto out;
	}
	if (agent_task_find(ex->fw, tid)) {
		rc = damaged(r, tdir, "task recorded twice");
		goto out;
	}
	t = agent_task_new(ex->fw, ex, tid,
	                   json_string_value(json_object_get(info, "name")),
	                   info);
	t->checkpointed = true;
	t->launched = true;
	buf_reset(&scratch);
	if ((rc = agent_read_file(upath, &scratch)) && rc != -ENOENT) {
		rc = damaged(r, upath, strerror(-rc));
		goto out;
	}
	rc = 0;
	if (update_stream_replay(&t->stream, scratch.data ? scratch.data : "",
	                         scratch.len, &good, &e)) {
		rc = damaged(r, upath, e.msg);
		if (rc)
			goto out;
	}
	if (good < scratch.len) {
		log_warn(AGENT_LOG,
		         "task=%s journal '%s': cutting %zu bytes of "
		         "a torn or damaged tail",
		         tid, upath, scratch.len - good);
		if (truncate(upath, (off_t)good))
			log_error(AGENT_LOG, "cannot truncate '%s': %s", upath,
			          strerror(errno));
	}
	log_info(AGENT_LOG,
	         "framework=%s executor=%s task=%s state=%s "
	         "unacked=%zu recovered",
	         ex->fw->id, ex->id, tid, task_state_name(agent_task_state(t)),
	         t->stream.npending);
	if (update_stream_is_done(&t->stream))
		agent_task_complete(t);
out:
	json_decref(info);
	buf_release(&scratch);
	free(upath);
	free(ipath);
	return rc;
}

static int recover_run(struct recovery *r, struct agent_framework *fw,
                       const char *eid, const char *info_json, bool is_command,
                       const char *rdir, const char *cid)
{
	char *rpath = xasprintf("%s/run.info", rdir);
	char *tdir = xasprintf("%s/tasks", rdir);
	struct buf scratch = BUF_INIT;
	struct agent_executor *ex;
	json_t *run;
	char **tids = NULL;
	size_t ntids = 0;
	bool alive;
	int rc = 0;

	run = load_json(rpath, &scratch);
	if (agent_executor_find(fw, eid)) {
		/* A second run of a live executor id cannot be alive. */
		json_decref(run);
		run = NULL;
	}
	ex = agent_executor_new(fw, eid, info_json, is_command);
	snprintf(ex->container_id, sizeof(ex->container_id), "%s", cid);
	ex->checkpointed = true;
	ex->recovered = true;
	ex->state = EXECUTOR_RUNNING;
	if (json_is_object(run)) {
		json_int_t pid =
		    json_integer_value(json_object_get(run, "pid"));
		const char *dir =
		    json_string_value(json_object_get(run, "directory"));
		ex->pid = pid > 0 && pid < INT32_MAX ? (pid_t)pid : 0;
		ex->pid_start = (unsigned long long)json_integer_value(
		    json_object_get(run, "pid_start"));
		if (dir && *dir)
			ex->directory = xstrdup(dir);
	}
	if (!ex->directory)
		ex->directory = agent_sandbox_path(r->a, fw->id, eid, cid);

	tids = list_ids(tdir, &ntids);
	for (size_t i = 0; i < ntids && rc == 0; i++) {
		char *one = xasprintf("%s/%s", tdir, tids[i]);
		rc = recover_task(r, ex, one, tids[i]);
		free(one);
	}
	if (rc)
		goto out;

	alive = !r->boot_changed && ex->pid > 0 &&
	        agent_pid_is_alive(ex->pid, ex->pid_start);
	if (alive && r->cleanup) {
		log_info(AGENT_LOG,
		         "executor=%s pid=%d killed (--recover="
		         "cleanup)",
		         eid, (int)ex->pid);
		agent_executor_kill_all(ex);
		alive = false;
	}
	if (alive) {
		log_info(AGENT_LOG,
		         "framework=%s executor=%s pid=%d tasks=%zu "
		         "adopted; waiting for it to resubscribe",
		         fw->id, eid, (int)ex->pid, fw->tasks.count);
		agent_executor_arm_registration(
		    ex, r->a->cfg.executor_reregistration_timeout);
	} else {
		ex->end_reason = REASON_EXECUTOR_TERMINATED;
		agent_executor_exited(ex, -1,
		                      r->boot_changed
		                          ? "the machine rebooted"
		                          : "exited while the agent was "
		                            "down");
	}
out:
	agent_strv_free(tids, ntids);
	json_decref(run);
	buf_release(&scratch);
	free(tdir);
	free(rpath);
	return rc;
}

static int recover_executor(struct recovery *r, struct agent_framework *fw,
                            const char *edir, const char *eid)
{
	char *ipath = xasprintf("%s/executor.info", edir);
	char *runs = xasprintf("%s/runs", edir);
	struct buf scratch = BUF_INIT;
	char **cids = NULL, *info_json = NULL;
	size_t ncids = 0;
	json_t *rec = NULL, *info;
	int rc = 0;

	if (access(ipath, F_OK) && errno == ENOENT) {
		/* The agent died between writing executor.info.tmp and its
		 * rename: the checkpoint precedes the launch, so this
		 * executor never started. Nothing to recover (Mesos skips
		 * such an executor too). */
		char *tmp = xasprintf("%s.tmp", ipath);

		log_warn(AGENT_LOG,
		         "executor=%s skipped: '%s' was never completed (the "
		         "agent stopped before launching it)",
		         eid, ipath);
		unlink(tmp);
		free(tmp);
		goto out;
	}
	rec = load_json(ipath, &scratch);
	info = json_object_get(rec, "executor_info");
	if (!json_is_object(info)) {
		rc = damaged(r, ipath, "no executor_info object");
		goto out;
	}
	info_json = json_dumps(info, JSON_COMPACT);
	cids = list_ids(runs, &ncids);
	for (size_t i = 0; i < ncids && rc == 0; i++) {
		char *rdir = xasprintf("%s/%s", runs, cids[i]);
		rc = recover_run(r, fw, eid, info_json,
		                 json_is_true(json_object_get(rec, "command")),
		                 rdir, cids[i]);
		free(rdir);
	}
out:
	agent_strv_free(cids, ncids);
	free(info_json);
	json_decref(rec);
	buf_release(&scratch);
	free(runs);
	free(ipath);
	return rc;
}

static int recover_framework(struct recovery *r, const char *fdir,
                             const char *fid)
{
	char *ipath = xasprintf("%s/framework.info", fdir);
	char *edir = xasprintf("%s/executors", fdir);
	struct buf scratch = BUF_INIT;
	struct framework_info fi;
	struct agent_framework *fw;
	struct err e = {{0}};
	char **eids = NULL;
	size_t neids = 0;
	json_t *info;
	int rc = 0;

	framework_info_init(&fi);
	info = load_json(ipath, &scratch);
	if (!json_is_object(info) || framework_info_from_json(&fi, info, &e)) {
		rc = damaged(r, ipath, info ? e.msg : "not JSON");
		goto out;
	}
	fw = agent_framework_ensure(r->a, fid, info, &e);
	if (!fw) {
		rc = damaged(r, ipath, e.msg);
		goto out;
	}
	fw->checkpointed = true;
	fw->info_dirty = false; /* just read from disk */
	/* --recover=cleanup: executors are killed, tasks dropped silently. */
	fw->shutting_down = r->cleanup;
	eids = list_ids(edir, &neids);
	for (size_t i = 0; i < neids && rc == 0; i++) {
		char *one = xasprintf("%s/%s", edir, eids[i]);
		rc = recover_executor(r, fw, one, eids[i]);
		free(one);
	}
	if (rc == 0)
		agent_framework_maybe_remove(fw);
out:
	agent_strv_free(eids, neids);
	framework_info_release(&fi);
	json_decref(info);
	buf_release(&scratch);
	free(edir);
	free(ipath);
	return rc;
}

int agent_recover(struct agent *a, struct err *e)
{
	struct recovery r = {.a = a, .e = e};
	char *bpath, *old_boot, *fdir;
	char **fids = NULL;
	size_t nfids = 0;
	int rc = 0;

	free(a->info.id);
	a->info.id = agent_ckpt_load_id(a);
	if (!a->info.id) {
		log_info(AGENT_LOG,
		         "work_dir='%s' no checkpointed agent; "
		         "registering as a new agent",
		         a->cfg.work_dir);
		return 0;
	}
	bpath = xasprintf("%s/boot_id", a->meta_dir);
	old_boot = read_line_file(bpath);
	free(bpath);
	r.boot_changed =
	    old_boot && *a->boot_id && strcmp(old_boot, a->boot_id);
	r.cleanup = !strcmp(a->cfg.recover, "cleanup");
	free(old_boot);
	log_info(AGENT_LOG, "agent=%s boot_changed=%d recover=%s recovering",
	         a->info.id, r.boot_changed, a->cfg.recover);

	fdir = xasprintf("%s/slaves/%s/frameworks", a->meta_dir, a->info.id);
	fids = list_ids(fdir, &nfids);
	for (size_t i = 0; i < nfids && rc == 0; i++) {
		char *one = xasprintf("%s/%s", fdir, fids[i]);
		rc = recover_framework(&r, one, fids[i]);
		free(one);
	}
	agent_strv_free(fids, nfids);
	free(fdir);
	if (rc == 0 && r.cleanup) {
		/* Forget everything but the id: the master learns that the
		 * tasks are gone when the agent reregisters without them. */
		struct hmap_node *n, *tmp;
		size_t i;
		HMAP_FOR_EACH_SAFE(&a->frameworks, i, n, tmp)
		{
			struct agent_framework *fw =
			    container_of(n, struct agent_framework, node);
			fw->shutting_down = true;
			struct hmap_node *tn, *ttmp;
			size_t k;
			HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
			{
				agent_task_free(
				    container_of(tn, struct agent_task, node));
			}
			agent_framework_maybe_remove(fw);
		}
		fdir = xasprintf("%s/slaves", a->meta_dir);
		agent_remove_tree(fdir);
		free(fdir);
	}
	if (rc == 0 && r.damaged)
		log_warn(AGENT_LOG,
		         "skipped=%d recovery skipped damaged checkpoints",
		         r.damaged);
	return rc;
}
