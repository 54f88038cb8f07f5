/*
 * update_stream.h: one task's reliable status update stream, the heart of
 * the agent's status update manager, as pure logic (no I/O, no clock).
 *
 * Updates enter at the tail in the order the agent accepted them; only the
 * head is in flight to the master. The head leaves the stream when the
 * master relays the framework's acknowledgement of exactly its uuid; the
 * next update then becomes the head. A stream that accepted a terminal
 * update accepts nothing more and is *done* once everything, the terminal
 * update last, has been acknowledged.
 *
 * Duplicates: executors resend unacknowledged updates after a reconnect,
 * and the master may relay an acknowledgement twice. The stream remembers
 * the uuids it accepted (a bounded ring of the most recent ones) so a
 * duplicate update is recognised and not queued twice, and a duplicate or
 * stale acknowledgement is told apart from an unexpected one.
 *
 * The stream also keeps the retry delay of the head: it starts at the
 * minimum when a head is first sent and doubles on every resend up to the
 * maximum (10 s to 10 min in Mesos); the caller owns the timer.
 *
 * Journal (checkpointing): the caller appends one line per accepted update
 * and per acknowledgement to a file, fsync()ed before the executor is told
 * the update is safe. Replaying the file into a fresh stream rebuilds it:
 *   {"update":<TaskStatus>}\n      {"ack":"<base64 uuid>"}\n
 */
#ifndef ATOLL_UPDATE_STREAM_H
#define ATOLL_UPDATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/list.h"
#include "model/mesos.h"

struct buf;
struct err;

#define UPDATE_STREAM_UUID_LEN 16
/* How many accepted uuids a stream remembers for duplicate detection. */
#define UPDATE_STREAM_SEEN 128

struct update_stream_entry {
	struct list link; /* in update_stream.pending */
	uint8_t uuid[UPDATE_STREAM_UUID_LEN];
	enum task_state state;
	char *status_json; /* the TaskStatus, compact JSON (owned) */
};

struct update_stream {
	struct list pending; /* entries, head (oldest) first */
	size_t npending;
	bool has_latest;
	enum task_state latest; /* state of the newest accepted update */
	char *latest_json;      /* that update, compact (owned), or NULL */
	bool terminated;        /* a terminal update was accepted */
	/* ring of the most recently accepted uuids */
	uint8_t seen[UPDATE_STREAM_SEEN][UPDATE_STREAM_UUID_LEN];
	size_t nseen, seen_next;
	double backoff; /* retry delay of the head (s); 0 = not sent yet */
};

void update_stream_init(struct update_stream *s);
/* Frees the pending entries. */
void update_stream_release(struct update_stream *s);

/* True when uuid was accepted by this stream (and is still remembered). */
bool update_stream_has(const struct update_stream *s,
                       const uint8_t uuid[UPDATE_STREAM_UUID_LEN]);

/*
 * Appends an update (status_json is copied). Returns 0 when accepted,
 * -EEXIST for a duplicate uuid (nothing changes; the caller still tells the
 * executor it is safe), -EALREADY when a terminal update was accepted
 * before (the update is dropped).
 */
int update_stream_push(struct update_stream *s,
                       const uint8_t uuid[UPDATE_STREAM_UUID_LEN],
                       enum task_state state, const char *status_json)
    __attribute__((warn_unused_result));

/* The update in flight, or NULL when nothing is pending. */
const struct update_stream_entry *
update_stream_head(const struct update_stream *s);

/*
 * Applies the acknowledgement of uuid. Returns 0 when it acknowledged the
 * head (the head is freed, the next entry becomes the head and the retry
 * delay is reset), -EALREADY when uuid was accepted before and is no
 * longer pending (a duplicate or stale acknowledgement), -ESRCH when uuid
 * is unknown or not the head (unexpected; ignored).
 */
int update_stream_ack(struct update_stream *s,
                      const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
    __attribute__((warn_unused_result));

/* A terminal update was accepted and everything has been acknowledged. */
bool update_stream_is_done(const struct update_stream *s);

/*
 * The delay to wait for an acknowledgement after sending the head now:
 * min the first time after the head changed (or after a reset), then
 * doubling up to max.
 */
double update_stream_next_backoff(struct update_stream *s, double min,
                                  double max);
/* Makes the next send of the head count as a first send (reconnect). */
void update_stream_reset_backoff(struct update_stream *s);

/* Appends the journal line of an accepted update / an acknowledgement. */
void update_stream_journal_update(struct buf *out, const char *status_json);
void update_stream_journal_ack(struct buf *out,
                               const uint8_t uuid[UPDATE_STREAM_UUID_LEN]);

/*
 * Replays a journal (len bytes of text) into s, normally a fresh stream.
 * A last line without its newline is a write torn by a crash and is
 * ignored; *good_len receives the length of the complete, valid prefix, so
 * the caller can truncate the file before appending again. Returns 0, or
 * -EINVAL with e naming the line when a complete line is invalid (s then
 * holds the lines before it and *good_len ends before it).
 */
int update_stream_replay(struct update_stream *s, const char *journal,
                         size_t len, size_t *good_len, struct err *e)
    __attribute__((warn_unused_result));

/*
 * Extracts the uuid and state of a TaskStatus JSON object (as used by the
 * journal and by callers that already hold the object). Returns 0 or
 * -EINVAL with e set when uuid is missing or not base64 of 16 bytes, or
 * state is missing or unknown.
 */
int update_stream_status_key(const json_t *status,
                             uint8_t uuid[UPDATE_STREAM_UUID_LEN],
                             enum task_state *state, struct err *e)
    __attribute__((warn_unused_result));

#endif
