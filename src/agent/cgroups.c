/*
 * cgroups.c: control groups for containers (cgroups.h).
 *
 * Layout: <mount of controller>/<root>/<container id>, one directory per
 * v1 controller (cpu, cpuacct, memory, pids), or one directory under the
 * cgroup2 mount. Naming by container id lets a restarted agent find the
 * cgroup of an executor it adopts, and remove the ones nobody owns.
 *
 * Limits: cpu.shares = 1024 * cpus (v2 cpu.weight = 100 * cpus), a CFS
 * quota of cpus * period when asked, memory.limit_in_bytes (and
 * memory.memsw.limit_in_bytes when present, so swap cannot hide an
 * overrun) / memory.max, pids.max. The caller adds the executor overhead
 * (cgroups_limits_for).
 *
 * OOM: v1 memory.oom_control and v2 memory.events count "oom_kill"; a
 * container is fresh, so any kill counted belongs to it.
 *
 * Nothing read from cgroupfs is trusted: values are parsed strictly and
 * a missing file means "unknown", never a crash.
 */
#include "lib/compat.h"
#include "agent/cgroups.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"

static const char *const cg_names[CG_NCONTROLLERS] = {
    [CG_CPU] = "cpu",
    [CG_CPUACCT] = "cpuacct",
    [CG_MEMORY] = "memory",
    [CG_PIDS] = "pids",
};

const char *cgroups_version_name(enum cgroups_version v)
{
	switch (v) {
	case CGROUPS_V1:
		return "cgroups v1";
	case CGROUPS_V2:
		return "cgroups v2";
	case CGROUPS_NONE:
		break;
	}
	return "none";
}

/* ---- parsers ------------------------------------------------------------- */

/* True when the comma-separated list has name. */
static bool csv_has(const char *list, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
		if (n == nlen && !memcmp(p, name, n))
			return true;
		p += n + 1;
	}
	return false;
}

bool cgroups_list_has(const char *list, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = list;

	while (p && *p) {
		size_t n;
		while (isspace((unsigned char)*p))
			p++;
		n = 0;
		while (p[n] && !isspace((unsigned char)p[n]))
			n++;
		if (n && n == nlen && !memcmp(p, name, n))
			return true;
		p += n;
	}
	return false;
}

/* Copies the n bytes at s into out (size PATH_MAX), undoing mountinfo's
 * octal escapes (\040 for a space). Returns 0 or -EINVAL. */
static int unescape_path(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\') {
			if (i + 3 >= n)
				return -EINVAL;
			for (size_t k = 1; k <= 3; k++)
				if (s[i + k] < '0' || s[i + k] > '7')
					return -EINVAL;
			c = (char)((s[i + 1] - '0') * 64 +
			           (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= PATH_MAX)
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return o ? 0 : -EINVAL;
}

/* Splits the line [s, end) into at most max space-separated fields. */
static size_t split_fields(const char *s, const char *end, const char **f,
                           size_t *flen, size_t max)
{
	size_t n = 0;

	while (s < end && n < max) {
		while (s < end && *s == ' ')
			s++;
		if (s >= end)
			break;
		f[n] = s;
		while (s < end && *s != ' ')
			s++;
		flen[n] = (size_t)(s - f[n]);
		n++;
	}
	return n;
}

/*
 * One mountinfo line: "id parent major:minor root mount-point options
 * [optional...] - fstype source super-options". Returns 0 when it parsed
 * (whether or not it is a cgroup mount).
 */
static int mountinfo_line(const char *s, const char *end, struct cgroups *cg,
                          char *v2_mount)
{
	const char *f[64];
	size_t flen[64], n, dash;
	char point[PATH_MAX];

	n = split_fields(s, end, f, flen, ARRAY_SIZE(f));
	for (dash = 6; dash < n; dash++)
		if (flen[dash] == 1 && f[dash][0] == '-')
			break;
	if (n < 7 || dash + 3 > n)
		return -EINVAL;
	if (unescape_path(f[4], flen[4], point) || point[0] != '/')
		return -EINVAL;
	if (flen[dash + 1] == 7 && !memcmp(f[dash + 1], "cgroup2", 7)) {
		snprintf(v2_mount, PATH_MAX, "%s", point);
		return 0;
	}
	if (flen[dash + 1] != 6 || memcmp(f[dash + 1], "cgroup", 6))
		return 0;
	for (int c = 0; c < CG_NCONTROLLERS; c++)
		if (!cg->mount[c][0] &&
		    csv_has(f[dash + 3], flen[dash + 3], cg_names[c]))
			snprintf(cg->mount[c], PATH_MAX, "%s", point);
	return 0;
}

int cgroups_parse_mountinfo(const char *text, struct cgroups *cg,
                            char *v2_mount)
{
	const char *s = text;
	size_t good = 0;

	v2_mount[0] = '\0';
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		const char *end = nl ? nl : s + strlen(s);
		if (end > s && mountinfo_line(s, end, cg, v2_mount) == 0)
			good++;
		s = nl ? nl + 1 : end;
	}
	return good ? 0 : -EINVAL;
}

int cgroups_parse_proc_cgroup(const char *text, const char *controller,
                              char **path)
{
	const char *s = text;

	*path = NULL;
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		const char *end = nl ? nl : s + strlen(s);
		const char *c1 = memchr(s, ':', (size_t)(end - s));
		const char *c2 =
		    c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		bool match;

		if (!c1 || !c2 || c2 + 1 >= end || c2[1] != '/')
			return -EINVAL;
		if (!*controller)
			match = c2 == c1 + 1;
		else
			match =
			    csv_has(c1 + 1, (size_t)(c2 - c1 - 1), controller);
		if (match) {
			*path = xstrndup(c2 + 1, (size_t)(end - c2 - 1));
			return 0;
		}
		s = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

/* Parses a decimal u64 at s; *end past it. */
static int parse_u64(const char *s, const char **end, uint64_t *v)
{
	char *e;
	unsigned long long x;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &e, 10);
	if (errno)
		return -EINVAL;
	*v = x;
	*end = e;
	return 0;
}

int cgroups_parse_key(const char *text, const char *key, uint64_t *value)
{
	size_t klen = strlen(key);
	const char *s = text;

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		const char *end = nl ? nl : s + strlen(s);

		if ((size_t)(end - s) > klen && !memcmp(s, key, klen) &&
		    s[klen] == ' ') {
			const char *p = s + klen + 1, *after;
			uint64_t v;
			if (parse_u64(p, &after, &v) || after != end)
				return -EINVAL;
			*value = v;
			return 0;
		}
		s = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

int cgroups_parse_value(const char *text, uint64_t *value)
{
	const char *end;
	uint64_t v;

	if (!strcmp(text, "max") || !strcmp(text, "max\n")) {
		*value = UINT64_MAX;
		return 0;
	}
	if (parse_u64(text, &end, &v) || (*end && strcmp(end, "\n")))
		return -EINVAL;
	*value = v;
	return 0;
}

void cgroups_choose(struct cgroups *cg, const char *v2_mount,
                    const char *v2_controllers)
{
	bool v1 = true;

	if (v2_mount && *v2_mount && v2_controllers &&
	    cgroups_list_has(v2_controllers, "cpu") &&
	    cgroups_list_has(v2_controllers, "memory") &&
	    cgroups_list_has(v2_controllers, "pids")) {
		for (int c = 0; c < CG_NCONTROLLERS; c++)
			cg->mount[c][0] = '\0';
		snprintf(cg->mount[CG_CPU], PATH_MAX, "%s", v2_mount);
		cg->version = CGROUPS_V2;
		return;
	}
	for (int c = 0; c < CG_NCONTROLLERS; c++)
		v1 = v1 && cg->mount[c][0];
	cg->version = v1 ? CGROUPS_V1 : CGROUPS_NONE;
}

void cgroups_limits_for(struct cgroups_limits *lim, double cpus, double mem_mb,
                        bool cfs, uint64_t pids)
{
	double mem = mem_mb > 0 ? mem_mb * 1048576.0 : 0;

	lim->cpus = (cpus > 0 ? cpus : 0) + CGROUPS_EXECUTOR_CPUS;
	lim->cfs = cfs;
	lim->mem_bytes = (uint64_t)mem + CGROUPS_EXECUTOR_MEM_BYTES;
	if (lim->mem_bytes < CGROUPS_MEM_MIN_BYTES)
		lim->mem_bytes = CGROUPS_MEM_MIN_BYTES;
	lim->pids = pids;
}

/* ---- files --------------------------------------------------------------- */

static int read_text(const char *path, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf_reset(out);
	buf_adds(out, "");
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			buf_add(out, chunk, (size_t)n);
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Writes text to dir/name (created when missing: a fake root in tests;
 * cgroupfs files always exist). */
static int write_text(const char *dir, const char *name, const char *text,
                      struct err *e)
{
	char *path = xasprintf("%s/%s", dir, name);
	size_t len = strlen(text);
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		rc = -errno;
		if (e)
			err_set(e, "cannot write '%s' to '%s': %s", text, path,
			        strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int read_u64(const char *dir, const char *name, uint64_t *v)
{
	struct buf b = BUF_INIT;
	char *path = xasprintf("%s/%s", dir, name);
	int rc = read_text(path, &b);

	if (!rc)
		rc = cgroups_parse_value(b.data, v);
	buf_release(&b);
	free(path);
	return rc;
}

static int read_key(const char *dir, const char *name, const char *key,
                    uint64_t *v)
{
	struct buf b = BUF_INIT;
	char *path = xasprintf("%s/%s", dir, name);
	int rc = read_text(path, &b);

	if (!rc)
		rc = cgroups_parse_key(b.data, key, v);
	buf_release(&b);
	free(path);
	return rc;
}

/* ---- the machine --------------------------------------------------------- */

/* The controllers whose directories a container has. */
static int ncontrollers(const struct cgroups *cg)
{
	return cg->version == CGROUPS_V2 ? 1 : CG_NCONTROLLERS;
}

char *cgroups_path(const struct cgroups *cg, enum cgroups_controller c,
                   const char *cid)
{
	if (cg->version == CGROUPS_V2)
		c = CG_CPU;
	return xasprintf("%s/%s/%s", cg->mount[c], cg->root, cid);
}

/* Creates <mount>/<root> for each hierarchy (v2: with the controllers
 * enabled for its children). */
static int make_roots(const struct cgroups *cg, struct err *e)
{
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = xasprintf("%s/%s", cg->mount[c], cg->root);
		int rc = 0;

		if (mkdir(dir, 0755) && errno != EEXIST) {
			rc = -errno;
			err_set(e, "cannot create '%s': %s", dir,
			        strerror(errno));
		}
		if (!rc && cg->version == CGROUPS_V2) {
			rc = write_text(cg->mount[c], "cgroup.subtree_control",
			                "+cpu +memory +pids", e);
			if (!rc)
				rc = write_text(dir, "cgroup.subtree_control",
				                "+cpu +memory +pids", e);
		}
		free(dir);
		if (rc)
			return rc;
	}
	return 0;
}

int cgroups_detect(struct cgroups *cg, const char *root, struct err *e)
{
	char v2_mount[PATH_MAX];
	struct buf text = BUF_INIT, ctl = BUF_INIT;
	int rc;

	memset(cg, 0, sizeof(*cg));
	if (!root || !*root || strchr(root, '/') || !strcmp(root, ".") ||
	    !strcmp(root, "..") || strlen(root) > NAME_MAX)
		return err_set(e,
		               "--cgroups-root: must be one path "
		               "component, got '%s'",
		               root ? root : "");
	snprintf(cg->root, sizeof(cg->root), "%s", root);
	if ((rc = read_text("/proc/self/mountinfo", &text)) ||
	    cgroups_parse_mountinfo(text.data, cg, v2_mount)) {
		err_set(e, "cannot read /proc/self/mountinfo");
		goto out;
	}
	if (*v2_mount) {
		char *p = xasprintf("%s/cgroup.controllers", v2_mount);
		if (read_text(p, &ctl))
			buf_reset(&ctl);
		free(p);
	}
	cgroups_choose(cg, v2_mount, ctl.data);
	if (cg->version == CGROUPS_NONE) {
		err_set(e, "neither a cgroup2 hierarchy with cpu, memory and "
		           "pids nor v1 cpu, cpuacct, memory and pids mounts");
		goto out;
	}
	if (make_roots(cg, e))
		cg->version = CGROUPS_NONE;
out:
	buf_release(&text);
	buf_release(&ctl);
	return 0;
}

bool cgroups_exists(const struct cgroups *cg, const char *cid)
{
	char *dir = cgroups_path(cg, CG_MEMORY, cid);
	struct stat st;
	bool yes = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);

	free(dir);
	return yes;
}

bool cgroups_is_stale(const struct cgroups *cg, const char *cid, double min_age)
{
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = cgroups_path(cg, (enum cgroups_controller)c, cid);
		char *procs = xasprintf("%s/cgroup.procs", dir);
		struct buf b = BUF_INIT;
		struct stat st;
		bool busy = stat(dir, &st) == 0 &&
		            ((double)(time(NULL) - st.st_mtime) < min_age ||
		             read_text(procs, &b) || b.len > 0);

		buf_release(&b);
		free(procs);
		free(dir);
		if (busy)
			return false;
	}
	return true;
}

static int write_limits(const struct cgroups *cg, const char *cid,
                        const struct cgroups_limits *lim, struct err *e)
{
	char *dir = NULL, val[64];
	uint64_t quota = (uint64_t)(lim->cpus * CGROUPS_CFS_PERIOD_US);
	int rc = 0;

	if (quota < CGROUPS_CFS_QUOTA_MIN_US)
		quota = CGROUPS_CFS_QUOTA_MIN_US;
	if (cg->version == CGROUPS_V2) {
		uint64_t weight = (uint64_t)(lim->cpus * 100);
		dir = cgroups_path(cg, CG_CPU, cid);
		snprintf(val, sizeof(val), "%llu",
		         (unsigned long long)(weight < 1       ? 1
		                              : weight > 10000 ? 10000
		                                               : weight));
		if ((rc = write_text(dir, "cpu.weight", val, e)))
			goto out;
		if (lim->cfs) {
			snprintf(val, sizeof(val), "%llu %d",
			         (unsigned long long)quota,
			         CGROUPS_CFS_PERIOD_US);
			if ((rc = write_text(dir, "cpu.max", val, e)))
				goto out;
		}
		if (lim->mem_bytes) {
			snprintf(val, sizeof(val), "%llu",
			         (unsigned long long)lim->mem_bytes);
			if ((rc = write_text(dir, "memory.max", val, e)))
				goto out;
			(void)write_text(dir, "memory.swap.max", "0", NULL);
		}
		if (lim->pids) {
			snprintf(val, sizeof(val), "%llu",
			         (unsigned long long)lim->pids);
			rc = write_text(dir, "pids.max", val, e);
		}
		goto out;
	}
	dir = cgroups_path(cg, CG_CPU, cid);
	snprintf(val, sizeof(val), "%llu",
	         (unsigned long long)(lim->cpus * 1024 < 2
	                                  ? 2
	                                  : (uint64_t)(lim->cpus * 1024)));
	if ((rc = write_text(dir, "cpu.shares", val, e)))
		goto out;
	if (lim->cfs) {
		snprintf(val, sizeof(val), "%d", CGROUPS_CFS_PERIOD_US);
		if ((rc = write_text(dir, "cpu.cfs_period_us", val, e)))
			goto out;
		snprintf(val, sizeof(val), "%llu", (unsigned long long)quota);
		if ((rc = write_text(dir, "cpu.cfs_quota_us", val, e)))
			goto out;
	}
	free(dir);
	dir = cgroups_path(cg, CG_MEMORY, cid);
	if (lim->mem_bytes) {
		snprintf(val, sizeof(val), "%llu",
		         (unsigned long long)lim->mem_bytes);
		if ((rc = write_text(dir, "memory.limit_in_bytes", val, e)))
			goto out;
		/* Only when swap accounting exists; memsw >= limit. */
		(void)write_text(dir, "memory.memsw.limit_in_bytes", val, NULL);
	}
	free(dir);
	dir = cgroups_path(cg, CG_PIDS, cid);
	if (lim->pids) {
		snprintf(val, sizeof(val), "%llu",
		         (unsigned long long)lim->pids);
		rc = write_text(dir, "pids.max", val, e);
	}
out:
	free(dir);
	return rc;
}

int cgroups_create(const struct cgroups *cg, const char *cid,
                   const struct cgroups_limits *lim, struct err *e)
{
	int rc;

	if (cg->version == CGROUPS_NONE)
		return err_set(e, "cgroups are not usable");
	if ((rc = make_roots(cg, e)))
		return rc;
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = cgroups_path(cg, (enum cgroups_controller)c, cid);
		if (mkdir(dir, 0755) && errno != EEXIST) {
			rc = -errno;
			err_set(e, "cannot create '%s': %s", dir,
			        strerror(errno));
		}
		free(dir);
		if (rc)
			goto fail;
	}
	if ((rc = write_limits(cg, cid, lim, e)))
		goto fail;
	return 0;
fail:
	(void)cgroups_destroy(cg, cid);
	return rc;
}

int cgroups_attach(const struct cgroups *cg, const char *cid, pid_t pid,
                   struct err *e)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)pid);
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = cgroups_path(cg, (enum cgroups_controller)c, cid);
		int rc = write_text(dir, "cgroup.procs", val, e);
		free(dir);
		if (rc)
			return rc;
	}
	return 0;
}

/* SIGKILLs the pids listed in dir/cgroup.procs. Returns how many. */
static int kill_procs(const char *dir)
{
	struct buf b = BUF_INIT;
	char *path = xasprintf("%s/cgroup.procs", dir);
	const char *s;
	int n = 0;

	if (read_text(path, &b) == 0) {
		for (s = b.data; *s;) {
			const char *end;
			uint64_t pid;
			if (parse_u64(s, &end, &pid))
				break;
			if (pid > 1 && pid != (uint64_t)getpid() &&
			    kill((pid_t)pid, SIGKILL) == 0)
				n++;
			s = *end ? end + 1 : end;
		}
	}
	buf_release(&b);
	free(path);
	return n;
}

void cgroups_remove_root(const struct cgroups *cg)
{
	if (cg->version == CGROUPS_NONE)
		return;
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = xasprintf("%s/%s", cg->mount[c], cg->root);
		/* EBUSY while containers (of this or another agent) remain */
		(void)rmdir(dir);
		free(dir);
	}
}

int cgroups_destroy(const struct cgroups *cg, const char *cid)
{
	int rc = 0;

	if (cg->version == CGROUPS_NONE)
		return 0;
	for (int c = 0; c < ncontrollers(cg); c++) {
		char *dir = cgroups_path(cg, (enum cgroups_controller)c, cid);
		/* Killed processes leave their cgroup when they exit; give
		 * them up to 1 s. */
		for (int tries = 0; tries < 100; tries++) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			kill_procs(dir);
			if (rmdir(dir) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY) {
				/* A fake root: plain files inside. */
				DIR *d = opendir(dir);
				struct dirent *de;
				while (d && (de = readdir(d)))
					if (de->d_name[0] != '.') {
						char *p = xasprintf(
						    "%s/%s", dir, de->d_name);
						unlink(p);
						free(p);
					}
				if (d)
					closedir(d);
				if (rmdir(dir) == 0)
					break;
				if (errno != EBUSY) {
					rc = -errno;
					break;
				}
			}
			if (tries == 99)
				rc = -EBUSY;
			nanosleep(&ts, NULL);
		}
		free(dir);
	}
	return rc;
}

int cgroups_stats_read(const struct cgroups *cg, const char *cid,
                       struct cgroups_stats *st)
{
	char *dir;
	uint64_t v;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->mem_limit_bytes = UINT64_MAX;
	if (cg->version == CGROUPS_NONE)
		return -ENOENT;
	if (cg->version == CGROUPS_V2) {
		dir = cgroups_path(cg, CG_CPU, cid);
		if (read_key(dir, "cpu.stat", "usage_usec", &v)) {
			rc = -ENOENT;
			goto out;
		}
		(void)read_key(dir, "cpu.stat", "user_usec", &st->user_usec);
		(void)read_key(dir, "cpu.stat", "system_usec",
		               &st->system_usec);
		(void)read_key(dir, "cpu.stat", "nr_periods", &st->nr_periods);
		(void)read_key(dir, "cpu.stat", "nr_throttled",
		               &st->nr_throttled);
		(void)read_key(dir, "cpu.stat", "throttled_usec",
		               &st->throttled_usec);
		(void)read_u64(dir, "memory.current", &st->mem_usage_bytes);
		(void)read_u64(dir, "memory.peak", &st->mem_max_usage_bytes);
		(void)read_u64(dir, "memory.max", &st->mem_limit_bytes);
		(void)read_key(dir, "memory.stat", "anon", &st->mem_rss_bytes);
		(void)read_key(dir, "memory.stat", "file",
		               &st->mem_cache_bytes);
		(void)read_key(dir, "memory.events", "oom_kill",
		               &st->oom_kills);
		(void)read_u64(dir, "pids.current", &st->pids_current);
		goto out;
	}
	dir = cgroups_path(cg, CG_CPUACCT, cid);
	if (read_u64(dir, "cpuacct.usage_user", &v) == 0) {
		st->user_usec = v / 1000;
		if (read_u64(dir, "cpuacct.usage_sys", &v) == 0)
			st->system_usec = v / 1000;
	} else if (read_u64(dir, "cpuacct.usage", &v) == 0) {
		st->user_usec = v / 1000;
	} else {
		rc = -ENOENT;
		goto out;
	}
	free(dir);
	dir = cgroups_path(cg, CG_CPU, cid);
	(void)read_key(dir, "cpu.stat", "nr_periods", &st->nr_periods);
	(void)read_key(dir, "cpu.stat", "nr_throttled", &st->nr_throttled);
	if (read_key(dir, "cpu.stat", "throttled_time", &v) == 0)
		st->throttled_usec = v / 1000;
	free(dir);
	dir = cgroups_path(cg, CG_MEMORY, cid);
	(void)read_u64(dir, "memory.usage_in_bytes", &st->mem_usage_bytes);
	(void)read_u64(dir, "memory.max_usage_in_bytes",
	               &st->mem_max_usage_bytes);
	(void)read_u64(dir, "memory.limit_in_bytes", &st->mem_limit_bytes);
	(void)read_key(dir, "memory.stat", "total_rss", &st->mem_rss_bytes);
	(void)read_key(dir, "memory.stat", "total_cache", &st->mem_cache_bytes);
	(void)read_key(dir, "memory.oom_control", "oom_kill", &st->oom_kills);
	free(dir);
	dir = cgroups_path(cg, CG_PIDS, cid);
	(void)read_u64(dir, "pids.current", &st->pids_current);
out:
	free(dir);
	return rc;
}

int cgroups_list(const struct cgroups *cg, char ***ids, size_t *n)
{
	char *root;
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	if (cg->version == CGROUPS_NONE)
		return 0;
	root = xasprintf("%s/%s",
	                 cg->mount[CG_MEMORY][0] ? cg->mount[CG_MEMORY]
	                                         : cg->mount[CG_CPU],
	                 cg->root);
	d = opendir(root);
	free(root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		ALLOC_GROW(*ids, *n + 1, cap);
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	return 0;
}
