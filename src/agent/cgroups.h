/*
 * cgroups.h: control groups for the agent's containers. One container =
 * one cgroup named by its container id under a root (--cgroups-root,
 * "atoll" by default): <mount>/<root>/<container id> for each of the v1
 * controllers cpu, cpuacct, memory and pids, or one directory under the
 * cgroup2 mount when the unified hierarchy has those controllers.
 *
 * The parsers (mountinfo, /proc/<pid>/cgroup, "key value" files such as
 * memory.stat, cpu.stat, memory.events, memory.oom_control) are pure and
 * never trust their input. Everything else works on paths derived from a
 * struct cgroups, so a test can point one at a temporary directory.
 */
#ifndef ATOLL_CGROUPS_H
#define ATOLL_CGROUPS_H

#include "lib/compat.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* Mesos's executor overhead, added to a container's limits. */
#define CGROUPS_EXECUTOR_MEM_BYTES (32ull << 20)
#define CGROUPS_EXECUTOR_CPUS 0.1
/* CFS period used with --cgroups-enable-cfs, in microseconds. */
#define CGROUPS_CFS_PERIOD_US 100000
/* Smallest CFS quota the kernel accepts, in microseconds. */
#define CGROUPS_CFS_QUOTA_MIN_US 1000
/* Smallest hard memory limit (the kernel refuses tiny ones). */
#define CGROUPS_MEM_MIN_BYTES (32ull << 20)

enum cgroups_version {
	CGROUPS_NONE, /* not usable: the posix launcher is used */
	CGROUPS_V1,
	CGROUPS_V2,
};

/* The v1 controllers used; on v2 only the directory of CG_CPU is used. */
enum cgroups_controller {
	CG_CPU,
	CG_CPUACCT,
	CG_MEMORY,
	CG_PIDS,
	CG_NCONTROLLERS,
};

/* The machine's hierarchy, as detected. Plain data, no heap. */
struct cgroups {
	enum cgroups_version version;
	char root[NAME_MAX + 1]; /* the containers' parent, e.g. "atoll" */
	/* v1: the mount point of each controller; v2: mount[CG_CPU] is the
	 * cgroup2 mount point, the others are empty. */
	char mount[CG_NCONTROLLERS][PATH_MAX];
};

/* Limits of one container (already including the executor overhead). */
struct cgroups_limits {
	double cpus;        /* shares / weight, and the CFS quota */
	bool cfs;           /* set a hard CFS quota too */
	uint64_t mem_bytes; /* hard memory limit; 0 = none */
	uint64_t pids;      /* most processes; 0 = none */
};

/* Usage of one container (Mesos ResourceStatistics' sources). */
struct cgroups_stats {
	uint64_t user_usec, system_usec; /* cpu time */
	uint64_t nr_periods, nr_throttled, throttled_usec;
	uint64_t mem_usage_bytes;     /* current charge */
	uint64_t mem_max_usage_bytes; /* high-water mark, 0 if unknown */
	uint64_t mem_rss_bytes, mem_cache_bytes;
	uint64_t mem_limit_bytes; /* UINT64_MAX = none */
	uint64_t oom_kills;       /* kills by the memory limit so far */
	uint64_t pids_current;
};

/* ---- pure parsers ---------------------------------------------------------
 * Each returns 0, -ENOENT when the wanted item is absent, or -EINVAL when
 * the text is malformed (never aborts on bad input). */

/*
 * Finds in the text of /proc/self/mountinfo the mount points the agent
 * needs and fills cg->mount (cg->version stays untouched): v1 mounts of
 * cpu, cpuacct, memory, pids (comounted ones such as "cpu,cpuacct"
 * included) and the cgroup2 mount, whose point is returned in v2_mount
 * (size PATH_MAX, "" when absent). Malformed lines are skipped; returns
 * -EINVAL only when no line parses at all.
 */
int cgroups_parse_mountinfo(const char *text, struct cgroups *cg,
                            char *v2_mount) MUST_CHECK;
/*
 * Finds controller (e.g. "memory"; "" for the v2 line "0::/path") in the
 * text of /proc/<pid>/cgroup and returns its path (heap) in *path.
 */
int cgroups_parse_proc_cgroup(const char *text, const char *controller,
                              char **path) MUST_CHECK;
/* Finds "key <u64>" lines (memory.stat, cpu.stat, memory.events,
 * memory.oom_control, cpuacct.stat) and stores the value. */
int cgroups_parse_key(const char *text, const char *key,
                      uint64_t *value) MUST_CHECK;
/* Parses a single value file ("123\n"); "max" is UINT64_MAX. */
int cgroups_parse_value(const char *text, uint64_t *value) MUST_CHECK;
/* True when the space-separated list (cgroup.controllers) has name. */
bool cgroups_list_has(const char *list, const char *name);

/*
 * Chooses the version: v2 when v2_mount is set and its controllers list
 * has cpu, memory and pids; else v1 when the four v1 controllers are
 * mounted; else CGROUPS_NONE. Sets cg->version (and moves v2_mount into
 * cg->mount[CG_CPU] for v2).
 */
void cgroups_choose(struct cgroups *cg, const char *v2_mount,
                    const char *v2_controllers);

/* ---- the machine ----------------------------------------------------------
 */

/*
 * Detects the hierarchy from /proc/self/mountinfo and checks it is usable
 * (the root can be created). root is --cgroups-root: one path component.
 * Returns 0 (cg->version may be CGROUPS_NONE: then e says why) or
 * -EINVAL for a bad root.
 */
int cgroups_detect(struct cgroups *cg, const char *root,
                   struct err *e) MUST_CHECK;
/* The container's directory for controller (heap). */
char *cgroups_path(const struct cgroups *cg, enum cgroups_controller c,
                   const char *cid);
/*
 * Creates the container's cgroup(s) (and the root when missing) and
 * writes the limits. Returns 0 or a negative errno with e set; on failure
 * what was created is removed again.
 */
int cgroups_create(const struct cgroups *cg, const char *cid,
                   const struct cgroups_limits *lim, struct err *e) MUST_CHECK;
/* Moves pid into the container (every hierarchy). Returns 0 or -errno. */
int cgroups_attach(const struct cgroups *cg, const char *cid, pid_t pid,
                   struct err *e) MUST_CHECK;
/* True when the container's cgroup exists. */
bool cgroups_exists(const struct cgroups *cg, const char *cid);
/*
 * SIGKILLs every process left in the container and removes its cgroup(s),
 * waiting a little (at most 1 s, blocking) for the processes to go.
 * Returns 0 (also when it did not exist), -EBUSY when processes would not
 * leave, or another negative errno.
 */
int cgroups_destroy(const struct cgroups *cg, const char *cid);
/* Removes the containers' parent cgroup in every hierarchy when it is
 * empty (agent shutdown); a root still holding containers stays. */
void cgroups_remove_root(const struct cgroups *cg);
/* True when the container's cgroup has no process and was created more
 * than min_age seconds ago (a leftover nobody will clean up). */
bool cgroups_is_stale(const struct cgroups *cg, const char *cid,
                      double min_age);
/* Reads the container's usage. Returns 0 or -errno (gone). */
int cgroups_stats_read(const struct cgroups *cg, const char *cid,
                       struct cgroups_stats *st) MUST_CHECK;
/*
 * The container ids under the root (heap array of heap strings, *n of
 * them). Returns 0 or -errno.
 */
int cgroups_list(const struct cgroups *cg, char ***ids, size_t *n) MUST_CHECK;
/* The limits for a task set using cpus and mem_mb, with the overhead. */
void cgroups_limits_for(struct cgroups_limits *lim, double cpus, double mem_mb,
                        bool cfs, uint64_t pids);
const char *cgroups_version_name(enum cgroups_version v);

#endif
