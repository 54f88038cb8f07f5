/*
 * test_update_stream.c: the agent's per-task status update stream: order,
 * only the head in flight, acknowledgement of the head advances it,
 * duplicate and stale acknowledgements and updates are recognised,
 * terminal completion, retry backoff, and the journal (replay, torn tails,
 * damaged lines).
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "agent/update_stream.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/ids.h"

/* A deterministic uuid per small number. */
static void uuid_n(uint8_t out[16], unsigned n)
{
	memset(out, 0, 16);
	out[0] = 0xa5;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
}

/* The TaskStatus JSON of update n in state st. */
static char *status_n(unsigned n, enum task_state st)
{
	uint8_t u[16];
	char b64[IDS_BASE64_LEN(16)];

	uuid_n(u, n);
	ids_base64_encode(u, 16, b64);
	return xasprintf("{\"task_id\":{\"value\":\"t\"},\"state\":\"%s\","
	                 "\"uuid\":\"%s\",\"source\":\"SOURCE_EXECUTOR\"}",
	                 task_state_name(st), b64);
}

static int push_n(struct update_stream *s, unsigned n, enum task_state st)
{
	uint8_t u[16];
	char *json = status_n(n, st);
	int rc;

	uuid_n(u, n);
	rc = update_stream_push(s, u, st, json);
	free(json);
	return rc;
}

static int ack_n(struct update_stream *s, unsigned n)
{
	uint8_t u[16];

	uuid_n(u, n);
	return update_stream_ack(s, u);
}

static bool head_is(const struct update_stream *s, unsigned n)
{
	const struct update_stream_entry *h = update_stream_head(s);
	uint8_t u[16];

	uuid_n(u, n);
	return h && !memcmp(h->uuid, u, 16);
}

static void test_order_and_head_only(void **state)
{
	struct update_stream s;

	(void)state;
	update_stream_init(&s);
	assert_null(update_stream_head(&s));
	assert_false(s.has_latest);
	assert_int_equal(push_n(&s, 1, TASK_STARTING), 0);
	assert_int_equal(push_n(&s, 2, TASK_RUNNING), 0);
	assert_int_equal(push_n(&s, 3, TASK_FINISHED), 0);
	assert_int_equal(s.npending, 3);
	/* the head is the oldest; the latest state is the newest */
	assert_true(head_is(&s, 1));
	assert_int_equal(update_stream_head(&s)->state, TASK_STARTING);
	assert_int_equal(s.latest, TASK_FINISHED);
	assert_non_null(strstr(s.latest_json, "TASK_FINISHED"));
	/* acknowledging a later update does not skip the head */
	assert_int_equal(ack_n(&s, 2), -ESRCH);
	assert_int_equal(ack_n(&s, 3), -ESRCH);
	assert_true(head_is(&s, 1));
	assert_int_equal(s.npending, 3);
	/* each ack of the head advances by exactly one */
	assert_int_equal(ack_n(&s, 1), 0);
	assert_true(head_is(&s, 2));
	assert_int_equal(ack_n(&s, 2), 0);
	assert_true(head_is(&s, 3));
	assert_false(update_stream_is_done(&s));
	assert_int_equal(ack_n(&s, 3), 0);
	assert_null(update_stream_head(&s));
	assert_true(update_stream_is_done(&s));
	/* the latest state survives the acknowledgements */
	assert_int_equal(s.latest, TASK_FINISHED);
	update_stream_release(&s);
}

static void test_duplicates(void **state)
{
	struct update_stream s;

	(void)state;
	update_stream_init(&s);
	assert_int_equal(push_n(&s, 1, TASK_RUNNING), 0);
	/* a resent update (pending) is a duplicate, not queued twice */
	assert_int_equal(push_n(&s, 1, TASK_RUNNING), -EEXIST);
	assert_int_equal(s.npending, 1);
	assert_int_equal(ack_n(&s, 1), 0);
	/* resent after its acknowledgement: still a duplicate */
	assert_int_equal(push_n(&s, 1, TASK_RUNNING), -EEXIST);
	assert_int_equal(s.npending, 0);
	/* duplicate ack of an acknowledged update; unknown ack */
	assert_int_equal(ack_n(&s, 1), -EALREADY);
	assert_int_equal(ack_n(&s, 99), -ESRCH);
	assert_int_equal(push_n(&s, 2, TASK_RUNNING), 0);
	assert_int_equal(ack_n(&s, 1), -EALREADY);
	assert_true(head_is(&s, 2));
	assert_true(update_stream_has(&s, (uint8_t[16]){0xa5, [15] = 2}));
	assert_false(update_stream_has(&s, (uint8_t[16]){0xa5, [15] = 3}));
	update_stream_release(&s);
}

static void test_ack_on_empty_stream(void **state)
{
	struct update_stream s;

	(void)state;
	update_stream_init(&s);
	assert_int_equal(ack_n(&s, 1), -ESRCH);
	assert_false(update_stream_is_done(&s));
	update_stream_release(&s);
}

static void test_terminal(void **state)
{
	static const struct {
		enum task_state st;
		bool terminal;
	} cases[] = {
	    {TASK_STARTING, false}, {TASK_RUNNING, false},
	    {TASK_KILLING, false},  {TASK_UNREACHABLE, false},
	    {TASK_FINISHED, true},  {TASK_FAILED, true},
	    {TASK_KILLED, true},    {TASK_ERROR, true},
	    {TASK_LOST, true},      {TASK_DROPPED, true},
	    {TASK_GONE, true},      {TASK_GONE_BY_OPERATOR, true},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct update_stream s;
		update_stream_init(&s);
		assert_int_equal(push_n(&s, 1, cases[i].st), 0);
		assert_int_equal(s.terminated, cases[i].terminal);
		/* after a terminal update nothing more is accepted */
		assert_int_equal(push_n(&s, 2, TASK_RUNNING),
		                 cases[i].terminal ? -EALREADY : 0);
		assert_int_equal(s.npending, cases[i].terminal ? 1 : 2);
		assert_int_equal(ack_n(&s, 1), 0);
		assert_int_equal(update_stream_is_done(&s), cases[i].terminal);
		update_stream_release(&s);
	}
}

static void test_backoff(void **state)
{
	static const double expect[] = {10, 20, 40, 80, 160, 320, 600, 600};
	struct update_stream s;

	(void)state;
	update_stream_init(&s);
	assert_int_equal(push_n(&s, 1, TASK_RUNNING), 0);
	assert_int_equal(push_n(&s, 2, TASK_RUNNING), 0);
	for (size_t i = 0; i < ARRAY_SIZE(expect); i++)
		assert_true(update_stream_next_backoff(&s, 10, 600) ==
		            expect[i]);
	/* a new head starts again at the minimum */
	assert_int_equal(ack_n(&s, 1), 0);
	assert_true(update_stream_next_backoff(&s, 10, 600) == 10);
	assert_true(update_stream_next_backoff(&s, 10, 600) == 20);
	/* so does a reconnect */
	update_stream_reset_backoff(&s);
	assert_true(update_stream_next_backoff(&s, 10, 600) == 10);
	/* max below twice min caps at once */
	update_stream_reset_backoff(&s);
	assert_true(update_stream_next_backoff(&s, 0.5, 0.7) == 0.5);
	assert_true(update_stream_next_backoff(&s, 0.5, 0.7) == 0.7);
	update_stream_release(&s);
}

static void test_long_backlog(void **state)
{
	struct update_stream s;
	const unsigned n = UPDATE_STREAM_SEEN + 50;

	(void)state;
	update_stream_init(&s);
	for (unsigned i = 1; i <= n; i++)
		assert_int_equal(push_n(&s, i, TASK_RUNNING), 0);
	/* the oldest pending uuids fell out of the ring but are still
	 * recognised as duplicates */
	for (unsigned i = 1; i <= n; i++)
		assert_int_equal(push_n(&s, i, TASK_RUNNING), -EEXIST);
	assert_int_equal(s.npending, n);
	for (unsigned i = 1; i <= n; i++) {
		assert_true(head_is(&s, i));
		assert_int_equal(ack_n(&s, i), 0);
	}
	assert_int_equal(s.npending, 0);
	update_stream_release(&s);
}

/* ---- journal ------------------------------------------------------------- */

static void journal_update(struct buf *j, unsigned n, enum task_state st)
{
	char *json = status_n(n, st);
	update_stream_journal_update(j, json);
	free(json);
}

static void journal_ack(struct buf *j, unsigned n)
{
	uint8_t u[16];
	uuid_n(u, n);
	update_stream_journal_ack(j, u);
}

static void test_replay(void **state)
{
	struct buf j = BUF_INIT;
	struct update_stream s;
	struct err e = {{0}};
	size_t good = 0;

	(void)state;
	journal_update(&j, 1, TASK_STARTING);
	journal_update(&j, 2, TASK_RUNNING);
	journal_ack(&j, 1);
	journal_update(&j, 3, TASK_FINISHED);
	update_stream_init(&s);
	assert_int_equal(update_stream_replay(&s, j.data, j.len, &good, &e), 0);
	assert_int_equal(good, j.len);
	assert_int_equal(s.npending, 2);
	assert_true(head_is(&s, 2));
	assert_int_equal(s.latest, TASK_FINISHED);
	assert_true(s.terminated);
	/* replayed uuids are duplicates for a resending executor */
	assert_int_equal(push_n(&s, 1, TASK_STARTING), -EEXIST);
	assert_int_equal(push_n(&s, 3, TASK_FINISHED), -EEXIST);
	update_stream_release(&s);

	/* fully acknowledged journal: the stream is done */
	journal_ack(&j, 2);
	journal_ack(&j, 3);
	update_stream_init(&s);
	assert_int_equal(update_stream_replay(&s, j.data, j.len, &good, &e), 0);
	assert_true(update_stream_is_done(&s));
	update_stream_release(&s);
	buf_release(&j);
}

static void test_replay_torn_tail(void **state)
{
	struct buf j = BUF_INIT;
	struct update_stream s;
	struct err e = {{0}};
	size_t good = 0, complete;

	(void)state;
	journal_update(&j, 1, TASK_RUNNING);
	complete = j.len;
	journal_update(&j, 2, TASK_FINISHED);
	/* cut the last record at every length short of its newline */
	for (size_t cut = complete; cut < j.len; cut++) {
		update_stream_init(&s);
		assert_int_equal(
		    update_stream_replay(&s, j.data, cut, &good, &e), 0);
		assert_int_equal(good, complete);
		assert_int_equal(s.npending, 1);
		assert_int_equal(s.latest, TASK_RUNNING);
		update_stream_release(&s);
	}
	/* an empty journal and blank lines are fine */
	update_stream_init(&s);
	assert_int_equal(update_stream_replay(&s, "", 0, &good, &e), 0);
	assert_int_equal(good, 0);
	assert_int_equal(update_stream_replay(&s, "\n\n", 2, &good, &e), 0);
	assert_int_equal(good, 2);
	update_stream_release(&s);
	buf_release(&j);
}

static void test_replay_bad_lines(void **state)
{
	static const struct {
		const char *line;
		const char *err; /* substring */
	} cases[] = {
	    {"garbage", "line 2: not a JSON object"},
	    {"[1,2]", "line 2: not a JSON object"},
	    {"{}", "line 2: expected an \"update\" or \"ack\""},
	    {"{\"ack\":\"bad!\"}", "line 2: ack: expected base64"},
	    {"{\"ack\":\"AAAA\"}", "line 2: ack: expected base64"},
	    {"{\"ack\":7}", "line 2: ack"},
	    {"{\"update\":{\"state\":\"TASK_RUNNING\"}}",
	     "line 2: status.uuid: missing"},
	    {"{\"update\":{\"state\":\"TASK_RUNNING\",\"uuid\":\"xx\"}}",
	     "line 2: status.uuid: expected base64"},
	    {"{\"update\":{\"uuid\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}",
	     "line 2: status.state: missing"},
	    {"{\"update\":{\"state\":\"TASK_NOPE\",\"uuid\":"
	     "\"AAAAAAAAAAAAAAAAAAAAAA==\"}}",
	     "line 2: status.state: unknown state 'TASK_NOPE'"},
	    {"{\"update\":[]}", "line 2: status: expected an object"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf j = BUF_INIT;
		struct update_stream s;
		struct err e = {{0}};
		size_t good = 99, first;

		journal_update(&j, 1, TASK_RUNNING);
		first = j.len;
		buf_adds(&j, cases[i].line);
		buf_addc(&j, '\n');
		journal_update(&j, 2, TASK_FINISHED);
		update_stream_init(&s);
		assert_int_equal(
		    update_stream_replay(&s, j.data, j.len, &good, &e),
		    -EINVAL);
		if (!strstr(e.msg, cases[i].err))
			fail_msg("case %zu: '%s' does not contain '%s'", i,
			         e.msg, cases[i].err);
		/* the lines before the damage are kept */
		assert_int_equal(good, first);
		assert_int_equal(s.npending, 1);
		assert_true(head_is(&s, 1));
		update_stream_release(&s);
		buf_release(&j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_head_only),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_ack_on_empty_stream),
	    cmocka_unit_test(test_terminal),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_long_backlog),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_replay_torn_tail),
	    cmocka_unit_test(test_replay_bad_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
