/*
 * disk.h: how much disk a sandbox uses, what it may use, and the mount
 * table that tells which parts of it are not sandbox disk (Mesos's
 * disk/du isolator; the agent's glue is agent_disk_* in agent_int.h).
 *
 * Usage is what `du -s` reports: allocated blocks (st_blocks * 512) of
 * every file and directory under the sandbox, each inode counted once
 * however many hard links it has. The walk never follows a symlink and
 * never enters a mount: a directory that is the root of a mount (a
 * persistent volume bind-mounted into the sandbox, a tmpfs) is neither
 * counted nor descended into. The measuring functions block; the agent
 * calls them from a work thread.
 */
#ifndef ATOLL_AGENT_DISK_H
#define ATOLL_AGENT_DISK_H

#include "lib/compat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct resources;

/* Deepest directory level the usage walk and the removal descend to;
 * a deeper tree is reported as truncated (usage) or refused (removal). */
#define DISK_MAX_DEPTH 256

/* Mount points (absolute paths, unescaped) at or below a directory. */
struct disk_mounts {
	char **v;
	size_t n, cap;
};

void disk_mounts_release(struct disk_mounts *m);

/*
 * Parses the text of /proc/<pid>/mountinfo (len bytes, need not end with
 * a newline) and appends to out the mount point of every line that is
 * dir itself or lies below it. Octal escapes (\040 for a space, \011,
 * \012, \134) are decoded. Returns 0, or -EINVAL for a line with fewer
 * than five fields, a mount point that is not absolute, or a bad escape
 * (out then holds what was found before it; callers that must be sure
 * treat the error as "cannot tell").
 */
int disk_mounts_parse(const char *text, size_t len, const char *dir,
                      struct disk_mounts *out) MUST_CHECK;
/*
 * Reads /proc/self/mountinfo and appends the mount points at or below
 * dir (blocking). Returns 0 or a negative errno (-EINVAL: unparsable).
 */
int disk_mounts_read(const char *dir, struct disk_mounts *out) MUST_CHECK;

/* True when path is dir or lies below it ("/a/b" is below "/a", "/ab"
 * is not). Both must be normalised (no trailing '/', no "..", "//"). */
bool disk_path_is_under(const char *path, const char *dir);

/* The result of measuring a sandbox. */
struct disk_usage {
	uint64_t bytes;   /* allocated bytes */
	uint64_t files;   /* inodes counted */
	uint64_t skipped; /* mounts not entered */
	bool truncated;   /* a level deeper than DISK_MAX_DEPTH was left out */
};

/*
 * Measures the disk used under dir (blocking; see the top comment):
 * symlinks are counted as themselves, mount roots (other devices, the
 * kernel's mount-root attribute, or a directory listed in mounts, which
 * may be NULL) are skipped. Entries that vanish meanwhile are ignored.
 * Returns 0, or a negative errno when dir itself cannot be opened (it
 * must be a directory, reached without a symlink as its last component).
 */
int disk_usage_measure(const char *dir, const struct disk_mounts *mounts,
                       struct disk_usage *out) MUST_CHECK;

/*
 * The sandbox disk limit of a container running res (its live tasks'
 * resources): the disk scalars that are not persistent volumes, in
 * bytes (disk is in MB). 0 means no limit (no such disk).
 */
uint64_t disk_limit_bytes(const struct resources *res);

/* True when a limit is set and used exceeds it. */
bool disk_is_over(uint64_t used, uint64_t limit);

/*
 * The message of a disk limitation (heap string), as Mesos words it:
 * "Disk usage (20.0MB) exceeds quota (10.0MB)", with the exact byte
 * counts in parentheses after it.
 */
char *disk_limitation_message(uint64_t used, uint64_t limit);

#endif
