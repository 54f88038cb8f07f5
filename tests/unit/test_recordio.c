/*
 * test_recordio.c: RecordIO framing and the incremental reader: round
 * trips, every chunking of a stream, and each kind of bad length line.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/recordio.h"

struct got {
	struct buf all; /* records joined with '|' */
	int n;
	int stop_after; /* stop (return 7) after this many; 0 = never */
};

static int collect(const char *data, size_t len, void *arg)
{
	struct got *g = arg;

	if (g->n)
		buf_addc(&g->all, '|');
	buf_add(&g->all, data, len);
	g->n++;
	return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

static void test_frame(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	recordio_frame(&b, "{}", 2);
	recordio_frame(&b, "hello world", 11);
	assert_int_equal(b.len, 2 + 2 + 3 + 11);
	assert_memory_equal(b.data, "2\n{}11\nhello world", b.len);
	buf_release(&b);
}

/* Every record survives a round trip under every chunk size. */
static void test_round_trip_any_chunking(void **state)
{
	static const char *const recs[] = {
	    "{\"type\":\"HEARTBEAT\"}", "x",      "0123456789",
	    "{\"a\":\"\\n\\n12\\n\"}",  "\n\n\n",
	};
	struct buf stream = BUF_INIT, want = BUF_INIT;
	struct err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
		recordio_frame(&stream, recs[i], strlen(recs[i]));
		if (i)
			buf_addc(&want, '|');
		buf_adds(&want, recs[i]);
	}
	for (size_t chunk = 1; chunk <= stream.len; chunk++) {
		struct recordio_reader r;
		struct got g = {BUF_INIT, 0, 0};

		recordio_reader_init(&r, 1024);
		for (size_t off = 0; off < stream.len; off += chunk) {
			size_t n = MIN(chunk, stream.len - off);
			assert_int_equal(
			    recordio_reader_feed(&r, stream.data + off, n,
			                         collect, &g, &e),
			    0);
		}
		assert_int_equal(g.n, (int)ARRAY_SIZE(recs));
		assert_string_equal(g.all.data, want.data);
		assert_int_equal(r.pending.len, 0);
		recordio_reader_release(&r);
		buf_release(&g.all);
	}
	buf_release(&stream);
	buf_release(&want);
}

static void test_bad_length_lines(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *msg;
		int records_before;
	} cases[] = {
	    {"0\n", -EINVAL, "must not be 0", 0},
	    {"\n", -EINVAL, "empty length line", 0},
	    {"1x\n", -EINVAL, "decimal digits", 0},
	    {" 1\na", -EINVAL, "decimal digits", 0},
	    {"-1\na", -EINVAL, "decimal digits", 0},
	    {"2\nok3\r\nabc", -EINVAL, "0x0d", 1},
	    {"000000000000000000001\na", -EINVAL, "more than 20", 0},
	    /* Caught before the newline arrives, too. */
	    {"123456789012345678901", -EINVAL, "more than 20", 0},
	    {"18446744073709551615\n", -E2BIG, "exceeds the limit", 0},
	    {"99999999999999999999\n", -EINVAL, "overflows", 0},
	    {"101\n", -E2BIG, "exceeds the limit", 0},
	    {"1\na100000\n", -E2BIG, "exceeds the limit", 1},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct recordio_reader r;
		struct got g = {BUF_INIT, 0, 0};
		struct err e = {{0}};
		int rc;

		recordio_reader_init(&r, 100);
		rc = recordio_reader_feed(&r, cases[i].in, strlen(cases[i].in),
		                          collect, &g, &e);
		if (rc != cases[i].rc || !strstr(e.msg, cases[i].msg))
			fail_msg("case %zu '%s': rc %d msg '%s'", i,
			         cases[i].in, rc, e.msg);
		assert_int_equal(g.n, cases[i].records_before);
		assert_true(r.failed);
		/* The reader stays failed. */
		assert_int_equal(
		    recordio_reader_feed(&r, "1\na", 3, collect, &g, &e),
		    -EINVAL);
		assert_int_equal(g.n, cases[i].records_before);
		recordio_reader_release(&r);
		buf_release(&g.all);
	}
}

static void test_limit_is_inclusive_and_partial_waits(void **state)
{
	struct recordio_reader r;
	struct got g = {BUF_INIT, 0, 0};
	struct err e;

	(void)state;
	recordio_reader_init(&r, 5);
	assert_int_equal(recordio_reader_feed(&r, "5\nabc", 5, collect, &g, &e),
	                 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(recordio_reader_feed(&r, "de", 2, collect, &g, &e), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.all.data, "abcde");
	/* A 20-digit prefix is still fine while incomplete. */
	assert_int_equal(recordio_reader_feed(&r, "0000000000000000000", 19,
	                                      collect, &g, &e),
	                 0);
	assert_int_equal(recordio_reader_feed(&r, "1\nz", 3, collect, &g, &e),
	                 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.all.data, "abcde|z");
	recordio_reader_release(&r);
	buf_release(&g.all);
}

static void test_callback_stops(void **state)
{
	struct recordio_reader r;
	struct got g = {BUF_INIT, 0, 2};
	struct err e;
	static const char in[] = "1\na1\nb1\nc";

	(void)state;
	recordio_reader_init(&r, 10);
	assert_int_equal(
	    recordio_reader_feed(&r, in, sizeof(in) - 1, collect, &g, &e), 7);
	assert_int_equal(g.n, 2);
	assert_false(r.failed);
	/* The rest stays pending and comes out on the next feed. */
	g.stop_after = 0;
	assert_int_equal(recordio_reader_feed(&r, "", 0, collect, &g, &e), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.all.data, "a|b|c");
	recordio_reader_release(&r);
	buf_release(&g.all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_round_trip_any_chunking),
	    cmocka_unit_test(test_bad_length_lines),
	    cmocka_unit_test(test_limit_is_inclusive_and_partial_waits),
	    cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
