/*
 * gc.h: garbage collection of the sandboxes of terminated executors, as
 * Mesos's agent does it (--gc-delay, --gc-disk-headroom,
 * --disk-watch-interval). The agent's glue is agent_gc_* in agent_int.h.
 *
 * A sandbox is scheduled when its executor is gone (exited and every
 * task's updates acknowledged), with its age counted from then; after a
 * restart, from the run directory's modification time. Every disk watch
 * interval the work directory's filesystem usage u (0..1) sets the
 * largest age a sandbox may reach:
 *
 *     max_age = gc_delay * max(0, 1 - gc_disk_headroom - u)
 *
 * and every scheduled sandbox at least that old is removed: after
 * gc_delay on an empty disk, sooner as the disk fills, at once when
 * u >= 1 - gc_disk_headroom.
 *
 * This header has the pure schedule (no I/O, no clock: callers pass now)
 * and the blocking removal, run off the loop.
 */
#ifndef ATOLL_AGENT_GC_H
#define ATOLL_AGENT_GC_H

#include "lib/compat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/hmap.h"
#include "lib/list.h"

struct buf;

/* Most sandboxes removed by one pass (the rest wait for the next). */
#define GC_BATCH_MAX 256

struct gc_entry {
	struct list link;      /* in gc.entries */
	struct hmap_node node; /* in gc.by_path, key = path */
	char *path;            /* the sandbox: an executor run's directory */
	char *framework_id, *executor_id, *container_id;
	double since; /* wall time its age counts from */
	bool busy;    /* in the pass removing it right now */
	bool refused; /* a refusal (mounts, processes) was logged */
};

struct gc {
	struct list entries; /* gc_entry.link, in scheduling order */
	struct hmap by_path; /* gc_entry.node */
	size_t n;
};

void gc_init(struct gc *g);
/* Frees every entry. */
void gc_release(struct gc *g);

/*
 * The largest age a scheduled sandbox may reach when the filesystem is
 * usage full (0..1): delay * max(0, 1 - headroom - usage). A usage or
 * headroom outside 0..1 (or NaN) is clamped into it.
 */
double gc_max_age(double delay, double headroom, double usage);
/* The used fraction of a filesystem of blocks blocks with bfree free
 * ones (statvfs's f_blocks and f_bfree): 0 when blocks is 0. */
double gc_fs_usage(uint64_t blocks, uint64_t bfree);
/* True when a sandbox scheduled at since is due at now. */
bool gc_is_due(double since, double max_age, double now);

/*
 * True when path is an executor run directory of the agent whose work
 * directory is work_dir: <work_dir>/slaves/<a>/frameworks/<f>/executors/
 * <e>/runs/<c>, every component non-empty and none "." or "..". The
 * collector removes nothing else.
 */
bool gc_path_is_sandbox(const char *path, const char *work_dir);

/* The entry of path, or NULL. */
struct gc_entry *gc_find(const struct gc *g, const char *path);
/*
 * Schedules path (copied, with the ids of its run) with its age counted
 * from since. Returns the new entry, or NULL when path is scheduled
 * already (the earlier entry stays).
 */
struct gc_entry *gc_add(struct gc *g, const char *path,
                        const char *framework_id, const char *executor_id,
                        const char *container_id, double since);
/* Unschedules and frees e. */
void gc_remove(struct gc *g, struct gc_entry *e);
/*
 * Fills out (up to max) with the entries due at now that are not busy,
 * oldest first in scheduling order, and marks them busy. Returns how
 * many.
 */
size_t gc_collect_due(struct gc *g, double max_age, double now,
                      struct gc_entry **out, size_t max);

/* ---- blocking: run off the loop ------------------------------------------ */

/*
 * Removes the sandbox at path, refusing (-EBUSY, with why naming the
 * cause) when the mount table has anything mounted at or below it, or a
 * process has its working directory in it. The removal never follows a
 * symlink and never enters a mount; it stops with -EBUSY at a mount that
 * appears meanwhile and -ELOOP below DISK_MAX_DEPTH levels. An absent
 * path is success. Returns 0 or a negative errno, with why set.
 */
int gc_remove_sandbox(const char *path, struct buf *why) MUST_CHECK;
/* The pid of a process whose working directory is at or below path, or
 * 0 when there is none (a /proc scan). */
pid_t gc_sandbox_user(const char *path);

/* A run directory found on disk by gc_scan. */
struct gc_found {
	char *path, *framework_id, *executor_id, *container_id;
	double mtime;
};

/*
 * Lists every run directory under <work_dir>/slaves (all agent ids;
 * symlinks such as runs/latest and names starting with '.' skipped).
 * Returns 0 (also when there is no slaves directory) or a negative errno
 * when it cannot be read; *out (heap) then holds *n entries.
 */
int gc_scan(const char *work_dir, struct gc_found **out, size_t *n) MUST_CHECK;
void gc_found_free(struct gc_found *v, size_t n);

#endif
