/*
 * disk.c: sandbox disk usage and its limit (disk.h), and the agent's
 * periodic check of its containers (Mesos's disk/du isolator).
 *
 * The check (agent_disk_start; on with disk/du, see agent_isolation_parse)
 * runs every --container-disk-watch-interval:
 *
 *   disk_tick (loop): copies the ids and sandbox of every live executor
 *       into a batch; uv_queue_work
 *   disk_work (thread): reads the mount table once, measures each
 *       sandbox (disk_usage_measure: no symlink followed, no mount
 *       entered, so a persistent volume is not sandbox disk)
 *   disk_done (loop): finds each executor again by ids and container id
 *       (it may be gone or replaced), records the usage for
 *       /monitor/statistics and GET_CONTAINERS, and compares it with the
 *       limit (disk_limit_bytes of its live tasks, computed now): over
 *       it, with --enforce-container-disk-quota the container is killed
 *       and its tasks end TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK
 *       (agent_executor_exited, agent_task_limitation); without, the
 *       overrun is logged once and only reported. Then the next tick is
 *       armed, so two measurements never overlap.
 *
 * Invariants: the work thread sees only its batch (copied strings), never
 * the agent; one batch at most is in flight; when the agent stops, a batch
 * in flight finishes and is dropped (the agent drains the loop before it
 * frees itself).
 */
#include "lib/compat.h"
#include "agent/disk.h"
#include "agent/agent_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "model/resources.h"

/* Most bytes of /proc/self/mountinfo read (thousands of mounts). */
#define DISK_MOUNTINFO_MAX (8u << 20)

/* ---- the mount table ----------------------------------------------------- */

void disk_mounts_release(struct disk_mounts *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

bool disk_path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* Decodes mountinfo's octal escapes of field [s, s+len) into a heap
 * string. Returns NULL for a bad escape. */
static char *mounts_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned v = 0;

		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		if (len - i < 4) { /* fewer than three digits follow */
			free(out);
			return NULL;
		}
		for (size_t k = 1; k <= 3; k++) {
			char c = s[i + k];
			if (c < '0' || c > '7') {
				free(out);
				return NULL;
			}
			v = v * 8 + (unsigned)(c - '0');
		}
		if (v == 0 || v > 255) {
			free(out);
			return NULL;
		}
		*o++ = (char)v;
		i += 3;
	}
	*o = '\0';
	return out;
}

/* Field k (0-based, space-separated) of line [s, end): sets *f, *flen. */
static bool mounts_field(const char *s, const char *end, int k, const char **f,
                         size_t *flen)
{
	for (int i = 0;; i++) {
		const char *sp;

		while (s < end && *s == ' ')
			s++;
		if (s >= end)
			return false;
		sp = memchr(s, ' ', (size_t)(end - s));
		if (!sp)
			sp = end;
		if (i == k) {
			*f = s;
			*flen = (size_t)(sp - s);
			return true;
		}
		s = sp;
	}
}

int disk_mounts_parse(const char *text, size_t len, const char *dir,
                      struct disk_mounts *out)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *f;
		size_t flen;
		char *point;

		if (eol == p) { /* empty line */
			p = eol + 1;
			continue;
		}
		/* id parent major:minor root mount-point options ... */
		if (!mounts_field(p, eol, 4, &f, &flen) || flen == 0 ||
		    f[0] != '/')
			return -EINVAL;
		point = mounts_unescape(f, flen);
		if (!point)
			return -EINVAL;
		if (disk_path_is_under(point, dir)) {
			ALLOC_GROW(out->v, out->n + 1, out->cap);
			out->v[out->n++] = point;
		} else {
			free(point);
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Reads a small file whole into out (blocking). */
static int read_text(const char *path, struct buf *out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		buf_grow(out, 65536);
		n = read(fd, out->data + out->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > max) {
			rc = -EFBIG;
			break;
		}
	}
	close(fd);
	return rc;
}

int disk_mounts_read(const char *dir, struct disk_mounts *out)
{
	struct buf b = BUF_INIT;
	int rc = read_text("/proc/self/mountinfo", &b, DISK_MOUNTINFO_MAX);

	if (!rc)
		rc = disk_mounts_parse(b.data ? b.data : "", b.len, dir, out);
	buf_release(&b);
	return rc;
}

/* ---- usage --------------------------------------------------------------- */

struct disk_inode {
	dev_t dev;
	ino_t ino;
	uint64_t bytes;
};

/* The state of one measurement. */
struct disk_walk {
	dev_t dev;                 /* of the sandbox */
	struct disk_inode *mounts; /* mount roots listed in the table */
	size_t nmounts;
	struct disk_inode *links; /* files with more than one link */
	size_t nlinks, cap;
	struct disk_usage *out;
};

static bool walk_is_listed_mount(const struct disk_walk *w, dev_t dev,
                                 ino_t ino)
{
	for (size_t i = 0; i < w->nmounts; i++)
		if (w->mounts[i].dev == dev && w->mounts[i].ino == ino)
			return true;
	return false;
}

static bool walk_is_mount(const struct disk_walk *w, const struct statx *sx)
{
	dev_t dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);

	if (dev != w->dev)
		return true;
	if ((sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return true;
	return walk_is_listed_mount(w, dev, sx->stx_ino);
}

/* Adds the entries of the directory open at fd (taken and closed). */
static void walk_dir(struct disk_walk *w, int fd, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct statx sx;
		uint64_t bytes;
		int cfd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (statx(dirfd(d), de->d_name,
		          AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		          STATX_TYPE | STATX_INO | STATX_NLINK | STATX_BLOCKS,
		          &sx))
			continue; /* vanished */
		if (walk_is_mount(w, &sx)) {
			w->out->skipped++;
			continue;
		}
		bytes = sx.stx_blocks * 512;
		if (!S_ISDIR(sx.stx_mode) && sx.stx_nlink > 1) {
			ALLOC_GROW(w->links, w->nlinks + 1, w->cap);
			w->links[w->nlinks++] = (struct disk_inode){
			    makedev(sx.stx_dev_major, sx.stx_dev_minor),
			    sx.stx_ino, bytes};
			continue;
		}
		w->out->bytes += bytes;
		w->out->files++;
		if (!S_ISDIR(sx.stx_mode))
			continue;
		if (depth + 1 >= DISK_MAX_DEPTH) {
			w->out->truncated = true;
			continue;
		}
		cfd = openat(dirfd(d), de->d_name,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue; /* swapped for a symlink, or vanished */
		walk_dir(w, cfd, depth + 1);
	}
	closedir(d);
}

static int inode_cmp(const void *x, const void *y)
{
	const struct disk_inode *a = x, *b = y;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return 0;
}

/* Stats each listed mount point below the sandbox: its root's inode. */
static void walk_note_mounts(struct disk_walk *w, const struct disk_mounts *m)
{
	if (!m || !m->n)
		return;
	w->mounts = xcalloc(m->n, sizeof(*w->mounts));
	for (size_t i = 0; i < m->n; i++) {
		struct stat st;
		if (lstat(m->v[i], &st))
			continue;
		w->mounts[w->nmounts++] =
		    (struct disk_inode){st.st_dev, st.st_ino, 0};
	}
}

int disk_usage_measure(const char *dir, const struct disk_mounts *mounts,
                       struct disk_usage *out)
{
	struct disk_walk w = {.out = out};
	struct statx sx;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BLOCKS, &sx)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	w.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	out->bytes = sx.stx_blocks * 512;
	out->files = 1;
	walk_note_mounts(&w, mounts);
	walk_dir(&w, fd, 0);
	/* A file with several links counts once, like du. */
	if (w.nlinks)
		qsort(w.links, w.nlinks, sizeof(*w.links), inode_cmp);
	for (size_t i = 0; i < w.nlinks; i++) {
		if (i && !inode_cmp(&w.links[i - 1], &w.links[i]))
			continue;
		out->bytes += w.links[i].bytes;
		out->files++;
	}
	free(w.links);
	free(w.mounts);
	return 0;
}

/* ---- the limit ----------------------------------------------------------- */

uint64_t disk_limit_bytes(const struct resources *res)
{
	int64_t milli = 0;
	double bytes;

	for (size_t i = 0; i < res->n; i++) {
		const struct resource *r = &res->v[i];
		if (r->type != RESOURCE_SCALAR || strcmp(r->name, "disk") ||
		    resource_is_persistent_volume(r) || r->scalar <= 0)
			continue;
		if (milli > INT64_MAX - r->scalar)
			return UINT64_MAX;
		milli += r->scalar;
	}
	bytes = (double)milli / 1000.0 * 1048576.0;
	if (bytes >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)bytes;
}

bool disk_is_over(uint64_t used, uint64_t limit)
{
	return limit > 0 && used > limit;
}

char *disk_limitation_message(uint64_t used, uint64_t limit)
{
	return xasprintf("Disk usage (%.1fMB) exceeds quota (%.1fMB) (%llu "
	                 "bytes used, %llu bytes allowed)",
	                 (double)used / 1048576.0, (double)limit / 1048576.0,
	                 (unsigned long long)used, (unsigned long long)limit);
}

/* ---- the agent's check --------------------------------------------------- */

struct disk_item {
	char *framework_id, *executor_id, *container_id, *directory;
	struct disk_usage usage;
	int rc;
};

struct disk_batch {
	uv_work_t req;
	struct agent *a;
	struct disk_item *v;
	size_t n, cap;
};

static void disk_batch_free(struct disk_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].framework_id);
		free(b->v[i].executor_id);
		free(b->v[i].container_id);
		free(b->v[i].directory);
	}
	free(b->v);
	free(b);
}

uint64_t agent_executor_disk_limit(const struct agent_executor *ex)
{
	struct resources used;
	const struct list *pos;
	uint64_t limit;

	resources_init(&used);
	for (pos = ex->tasks.next; pos != &ex->tasks; pos = pos->next) {
		const struct agent_task *t =
		    list_entry(pos, struct agent_task, executor_link);
		if (!task_state_is_terminal(agent_task_state(t)))
			resources_add(&used, &t->resources);
	}
	limit = disk_limit_bytes(&used);
	resources_release(&used);
	return limit;
}

static void disk_work(uv_work_t *req)
{
	struct disk_batch *b = container_of(req, struct disk_batch, req);
	struct buf table = BUF_INIT;
	bool have_table =
	    read_text("/proc/self/mountinfo", &table, DISK_MOUNTINFO_MAX) == 0;

	for (size_t i = 0; i < b->n; i++) {
		struct disk_item *it = &b->v[i];
		struct disk_mounts m = {0};

		/* Without a readable table the kernel's mount-root
		 * attribute and the device check still apply. */
		if (have_table &&
		    disk_mounts_parse(table.data ? table.data : "", table.len,
		                      it->directory, &m))
			disk_mounts_release(&m);
		it->rc = disk_usage_measure(it->directory, &m, &it->usage);
		disk_mounts_release(&m);
	}
	buf_release(&table);
}

/* Kills ex's container for exceeding its disk limit. */
static void disk_limitation(struct agent_executor *ex, uint64_t used,
                            uint64_t limit)
{
	char *msg = disk_limitation_message(used, limit);

	log_warn(AGENT_LOG,
	         "framework=%s executor=%s container=%s sandbox='%s' %s; "
	         "killing the container",
	         ex->fw->id, ex->id, ex->container_id, ex->directory, msg);
	ex->disk_limited = true;
	ex->end_reason = REASON_CONTAINER_LIMITATION_DISK;
	free(ex->end_message);
	ex->end_message = msg;
	agent_timer_drop(&ex->register_timer);
	ex->state = EXECUTOR_TERMINATING;
	agent_executor_kill_all(ex);
	/* The exit callback (our child) or the reaper (adopted) follows. */
}

/* Records one measurement and enforces the limit. */
static void disk_apply(struct agent *a, const struct disk_item *it)
{
	struct agent_executor *ex = agent_executor_find(
	    agent_framework_find(a, it->framework_id), it->executor_id);
	uint64_t limit;

	if (!ex || strcmp(ex->container_id, it->container_id) ||
	    ex->state == EXECUTOR_TERMINATED)
		return; /* gone, or another run meanwhile */
	if (it->rc) {
		log_debug(AGENT_LOG,
		          "executor=%s sandbox='%s' cannot measure the "
		          "sandbox: %s",
		          ex->id, it->directory, strerror(-it->rc));
		return;
	}
	ex->disk_measured = true;
	ex->disk_used_bytes = it->usage.bytes;
	if (it->usage.truncated)
		log_debug(AGENT_LOG,
		          "executor=%s sandbox='%s' deeper than %d levels: "
		          "the rest is not counted",
		          ex->id, it->directory, DISK_MAX_DEPTH);
	limit = agent_executor_disk_limit(ex);
	if (!disk_is_over(it->usage.bytes, limit) || ex->disk_limited)
		return;
	if (a->cfg.enforce_container_disk_quota) {
		disk_limitation(ex, it->usage.bytes, limit);
		return;
	}
	if (!ex->disk_warned) {
		char *msg = disk_limitation_message(it->usage.bytes, limit);
		log_warn(AGENT_LOG,
		         "framework=%s executor=%s container=%s %s (not "
		         "enforced: --enforce-container-disk-quota is off)",
		         ex->fw->id, ex->id, ex->container_id, msg);
		free(msg);
		ex->disk_warned = true;
	}
}

static void disk_arm(struct agent *a);

static void disk_done(uv_work_t *req, int status)
{
	struct disk_batch *b = container_of(req, struct disk_batch, req);
	struct agent *a = b->a;

	if (!a->stopping && status == 0) {
		for (size_t i = 0; i < b->n; i++)
			disk_apply(a, &b->v[i]);
	}
	disk_batch_free(b);
	if (!a->stopping)
		disk_arm(a);
}

static void disk_tick(uv_timer_t *timer)
{
	struct agent *a = timer->data;
	struct disk_batch *b = xcalloc(1, sizeof(*b));
	struct hmap_node *fn, *ftmp, *en, *etmp;
	size_t i, k;
	int rc;

	agent_timer_drop(&a->disk_timer);
	b->a = a;
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->executors, k, en, etmp)
		{
			struct agent_executor *ex =
			    container_of(en, struct agent_executor, node);
			if (!ex->directory || ex->pid <= 0 ||
			    ex->state == EXECUTOR_TERMINATED)
				continue;
			ALLOC_GROW(b->v, b->n + 1, b->cap);
			b->v[b->n++] = (struct disk_item){
			    .framework_id = xstrdup(fw->id),
			    .executor_id = xstrdup(ex->id),
			    .container_id = xstrdup(ex->container_id),
			    .directory = xstrdup(ex->directory),
			};
		}
	}
	if (!b->n) {
		disk_batch_free(b);
		disk_arm(a);
		return;
	}
	rc = uv_queue_work(a->loop, &b->req, disk_work, disk_done);
	if (rc) {
		log_warn(AGENT_LOG, "cannot measure sandboxes: %s",
		         uv_strerror(rc));
		disk_batch_free(b);
		disk_arm(a);
	}
}

static void disk_arm(struct agent *a)
{
	if (a->stopping || a->disk_timer)
		return;
	a->disk_timer = agent_timer_start(a, a, disk_tick,
	                                  a->cfg.container_disk_watch_interval);
}

void agent_disk_start(struct agent *a)
{
	if (!a->iso.disk)
		return;
	log_info(AGENT_LOG,
	         "interval=%gs enforce=%s disk/du: measuring sandboxes",
	         a->cfg.container_disk_watch_interval,
	         a->cfg.enforce_container_disk_quota ? "true" : "false");
	disk_arm(a);
}

void agent_disk_stop(struct agent *a)
{
	agent_timer_drop(&a->disk_timer);
}
