/*
 * fetcher.h: the Mesos fetcher for CommandInfo.uris, run by the command
 * executor in the task's sandbox before the task starts (so a slow
 * download never blocks the agent's loop, and its failure is the task's:
 * TASK_FAILED with REASON_FETCHER_FAILURE and fetcher_result.message).
 *
 * Each URI (Mesos CommandInfo.URI fields: value, executable, extract,
 * cache, output_file) is one of:
 *   - an absolute local path or file:// URL: copied;
 *   - http:// or https://: downloaded with libcurl (redirects followed up
 *     to 10, connect timeout 30 s, a transfer that stalls below 1 byte/s
 *     for 60 s fails, HTTP status >= 400 fails naming the status).
 * output_file (relative to the sandbox, no "..", not absolute) names the
 * result; default: the last path segment of the URI.
 * extract: archives (.tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2, .zip;
 * recognised by content, not only by name) are unpacked into the sandbox
 * with libarchive; an entry that is absolute, contains "..", or would be
 * written through a symlink or outside the sandbox refuses the whole
 * archive (nothing half-extracted is left behind) with a message naming
 * the entry. executable: chmod 0755 (extract and executable are exclusive,
 * as in Mesos).
 * cache: the download is kept in cache_dir keyed by the URI (sha256 of
 * it) and reused by the next fetch of the same URI; the cache is bounded
 * by cache_max_bytes, evicting least recently used entries; concurrent
 * executors coordinate with flock on the cache directory.
 *
 * Blocking: fetcher_run() blocks; call it where blocking is fine (the
 * executor before it starts the task, or a worker thread).
 */
#ifndef ATOLL_FETCHER_H
#define ATOLL_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct fetcher_opts {
	const char *sandbox;      /* absolute; must exist */
	const char *cache_dir;    /* NULL = no caching (cache ignored) */
	uint64_t cache_max_bytes; /* 0 = 2 GiB */
	/* Owner of what is written into the sandbox (the task's user);
	 * uid (uid_t)-1 = leave as is. */
	uid_t uid;
	gid_t gid;
};

struct fetcher_stats {
	size_t fetched;    /* URIs fetched from their source */
	size_t from_cache; /* URIs served from the cache */
	size_t extracted;  /* archives unpacked */
};

/*
 * Fetches every URI of uris (a JSON array of Mesos CommandInfo.URI
 * objects; NULL or empty = nothing). Returns 0, or a negative errno with
 * msg (msg_len bytes) set to "<uri>: <cause>" for the first URI that
 * failed; what was fetched before stays. stats may be NULL.
 */
int fetcher_run(const json_t *uris, const struct fetcher_opts *opts,
                struct fetcher_stats *stats, char *msg, size_t msg_len);

/*
 * Validates uris without fetching (types, required value, output_file
 * relative and without "..", extract and executable not both). Returns 0
 * or -EINVAL with msg naming the element ("uris[1].output_file: ...").
 */
int fetcher_validate(const json_t *uris, char *msg, size_t msg_len);

#endif
