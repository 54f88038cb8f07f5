/*
 * update_stream.c: one task's ordered, at-least-once status update stream
 * (see update_stream.h for the contract).
 *
 * Invariants:
 *   - pending holds the accepted, unacknowledged updates in arrival order;
 *     the head (first entry) is the only one the agent sends;
 *   - at most one terminal update is ever accepted, and it is the last;
 *   - every pending uuid is in the seen ring (the ring is far larger than
 *     any realistic backlog; when a backlog exceeds it, the oldest pending
 *     uuids are also checked in the pending list itself);
 *   - backoff is 0 until the current head is sent, then the last delay.
 *
 *   push (update_stream_push)        ack of head (update_stream_ack)
 *   -------------------------> [u1 u2 ... un] -----------------------> done
 *                               ^head                when terminated and
 *                                                    nothing is pending
 */
#include "lib/compat.h"
#include "agent/update_stream.h"

#include <jansson.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/jsonw.h"

void update_stream_init(struct update_stream *s)
{
	memset(s, 0, sizeof(*s));
	list_init(&s->pending);
}

static void entry_free(struct update_stream_entry *u)
{
	free(u->status_json);
	free(u);
}

void update_stream_release(struct update_stream *s)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &s->pending)
	{
		list_del(pos);
		entry_free(list_entry(pos, struct update_stream_entry, link));
	}
	s->npending = 0;
	free(s->latest_json);
	s->latest_json = NULL;
}

static bool pending_has(const struct update_stream *s,
                        const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	const struct list *pos;

	for (pos = s->pending.next; pos != &s->pending; pos = pos->next) {
		const struct update_stream_entry *u =
		    list_entry(pos, struct update_stream_entry, link);
		if (!memcmp(u->uuid, uuid, UPDATE_STREAM_UUID_LEN))
			return true;
	}
	return false;
}

bool update_stream_has(const struct update_stream *s,
                       const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	for (size_t i = 0; i < s->nseen; i++)
		if (!memcmp(s->seen[i], uuid, UPDATE_STREAM_UUID_LEN))
			return true;
	/* Only needed when the backlog outgrew the ring. */
	return s->npending > UPDATE_STREAM_SEEN && pending_has(s, uuid);
}

static void seen_add(struct update_stream *s,
                     const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	memcpy(s->seen[s->seen_next], uuid, UPDATE_STREAM_UUID_LEN);
	s->seen_next = (s->seen_next + 1) % UPDATE_STREAM_SEEN;
	if (s->nseen < UPDATE_STREAM_SEEN)
		s->nseen++;
}

int update_stream_push(struct update_stream *s,
                       const uint8_t uuid[UPDATE_STREAM_UUID_LEN],
                       enum task_state state, const char *status_json)
{
	struct update_stream_entry *u;

	if (update_stream_has(s, uuid))
		return -EEXIST;
	if (s->terminated)
		return -EALREADY;
	u = xcalloc(1, sizeof(*u));
	memcpy(u->uuid, uuid, UPDATE_STREAM_UUID_LEN);
	u->state = state;
	u->status_json = xstrdup(status_json);
	list_add_tail(&s->pending, &u->link);
	s->npending++;
	seen_add(s, uuid);
	s->has_latest = true;
	s->latest = state;
	free(s->latest_json);
	s->latest_json = xstrdup(status_json);
	if (task_state_is_terminal(state))
		s->terminated = true;
	return 0;
}

const struct update_stream_entry *
update_stream_head(const struct update_stream *s)
{
	return list_first(&s->pending, struct update_stream_entry, link);
}

int update_stream_ack(struct update_stream *s,
                      const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	struct update_stream_entry *head =
	    list_first(&s->pending, struct update_stream_entry, link);

	if (head && !memcmp(head->uuid, uuid, UPDATE_STREAM_UUID_LEN)) {
		list_del(&head->link);
		entry_free(head);
		s->npending--;
		s->backoff = 0;
		return 0;
	}
	if (update_stream_has(s, uuid) && !pending_has(s, uuid))
		return -EALREADY;
	return -ESRCH;
}

bool update_stream_is_done(const struct update_stream *s)
{
	return s->terminated && s->npending == 0;
}

double update_stream_next_backoff(struct update_stream *s, double min,
                                  double max)
{
	if (s->backoff <= 0)
		s->backoff = min;
	else
		s->backoff = s->backoff * 2 > max ? max : s->backoff * 2;
	if (s->backoff > max)
		s->backoff = max;
	return s->backoff;
}

void update_stream_reset_backoff(struct update_stream *s)
{
	s->backoff = 0;
}

void update_stream_journal_update(struct buf *out, const char *status_json)
{
	buf_adds(out, "{\"update\":");
	buf_adds(out, status_json);
	buf_adds(out, "}\n");
}

void update_stream_journal_ack(struct buf *out,
                               const uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	char b64[IDS_BASE64_LEN(UPDATE_STREAM_UUID_LEN)];

	ids_base64_encode(uuid, UPDATE_STREAM_UUID_LEN, b64);
	buf_addf(out, "{\"ack\":\"%s\"}\n", b64);
}

static int decode_uuid(const char *b64, uint8_t uuid[UPDATE_STREAM_UUID_LEN])
{
	uint8_t raw[UPDATE_STREAM_UUID_LEN + 4];
	int n;

	if (!b64)
		return -EINVAL;
	n = ids_base64_decode(b64, strlen(b64), raw, sizeof(raw));
	if (n != UPDATE_STREAM_UUID_LEN)
		return -EINVAL;
	memcpy(uuid, raw, UPDATE_STREAM_UUID_LEN);
	return 0;
}

int update_stream_status_key(const json_t *status,
                             uint8_t uuid[UPDATE_STREAM_UUID_LEN],
                             enum task_state *state, struct err *e)
{
	const char *b64, *st;

	if (!json_is_object(status))
		return err_set(e, "status: expected an object");
	b64 = json_string_value(json_object_get(status, "uuid"));
	if (!b64)
		return err_set(e, "status.uuid: missing");
	if (decode_uuid(b64, uuid))
		return err_set(e,
		               "status.uuid: expected base64 of 16 bytes, "
		               "got '%.64s'",
		               b64);
	st = json_string_value(json_object_get(status, "state"));
	if (!st)
		return err_set(e, "status.state: missing");
	if (task_state_parse(st, state))
		return err_set(e, "status.state: unknown state '%.64s'", st);
	return 0;
}

/* Applies one complete journal line. */
static int replay_line(struct update_stream *s, const char *line, size_t n,
                       struct err *e)
{
	uint8_t uuid[UPDATE_STREAM_UUID_LEN] = {0};
	enum task_state state = TASK_STAGING;
	json_error_t jerr;
	json_t *rec, *v;
	int rc = 0;

	rec = json_loadb(line, n, 0, &jerr);
	if (!json_is_object(rec)) {
		rc = err_set(e, "not a JSON object (%s)",
		             rec ? "wrong type" : jerr.text);
		goto out;
	}
	if ((v = json_object_get(rec, "update"))) {
		char *text;
		if ((rc = update_stream_status_key(v, uuid, &state, e)))
			goto out;
		text = json_dumps(v, JSON_COMPACT);
		if (!text) {
			rc = err_set(e, "cannot serialise the update");
			goto out;
		}
		/* A correct writer never journals a duplicate or an update
		 * after a terminal one; tolerate them (dropped). */
		if (update_stream_push(s, uuid, state, text))
			rc = 0;
		free(text);
	} else if ((v = json_object_get(rec, "ack"))) {
		if (decode_uuid(json_string_value(v), uuid)) {
			rc = err_set(e, "ack: expected base64 of 16 bytes");
			goto out;
		}
		/* Acks in a journal always matched the head; a stray one
		 * (damaged journal) changes nothing. */
		if (update_stream_ack(s, uuid))
			rc = 0;
	} else {
		rc = err_set(e, "expected an \"update\" or \"ack\" record");
	}
out:
	json_decref(rec);
	return rc;
}

int update_stream_replay(struct update_stream *s, const char *journal,
                         size_t len, size_t *good_len, struct err *e)
{
	size_t off = 0, lineno = 1;

	*good_len = 0;
	while (off < len) {
		const char *nl = memchr(journal + off, '\n', len - off);
		size_t n;

		if (!nl)
			break; /* torn tail: ignored */
		n = (size_t)(nl - (journal + off));
		if (n > 0 && replay_line(s, journal + off, n, e))
			return err_prefix(e, "line %zu", lineno);
		off += n + 1;
		*good_len = off;
		lineno++;
	}
	return 0;
}
