/*
 * test_jsonw.c: the streaming JSON writer: string escaping (including
 * invalid UTF-8), nesting and separators, numbers, and that everything it
 * writes is accepted by jansson.
 */
#include "lib/compat.h"

#include <math.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#include "lib/buf.h"
#include "lib/jsonw.h"

/* The escaped form of n bytes of s, as a heap string. */
static char *escape(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	jsonw_escape(&b, s, n);
	return buf_detach(&b, NULL);
}

/* Parses text with jansson (any value), failing the test if invalid. */
static json_t *must_parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!j)
		fail_msg("jansson rejects %s: %s", text, jerr.text);
	return j;
}

static void test_escape_table(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want;
	} cases[] = {
	    {"", 0, "\"\""},
	    {"plain", 5, "\"plain\""},
	    {"a\"b", 3, "\"a\\\"b\""},
	    {"a\\b", 3, "\"a\\\\b\""},
	    {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
	    {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
	    {"a\0b", 3, "\"a\\u0000b\""},
	    {"\x7f", 1, "\"\x7f\""},
	    {"/", 1, "\"/\""},
	    /* valid multibyte sequences are kept */
	    {"\xc3\xa9", 2, "\"\xc3\xa9\""},
	    {"\xe2\x82\xac", 3, "\"\xe2\x82\xac\""},
	    {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
	    {"\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""},
	    /* invalid UTF-8 becomes U+FFFD, one per bad byte */
	    {"\x80", 1, "\"\\ufffd\""},
	    {"\xff", 1, "\"\\ufffd\""},
	    {"a\xc3", 2, "\"a\\ufffd\""},
	    {"\xc3(", 2, "\"\\ufffd(\""},
	    {"\xc0\x80", 2, "\"\\ufffd\\ufffd\""},
	    {"\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\""},
	    {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
	    {"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	    {"\xe2\x82", 2, "\"\\ufffd\\ufffd\""},
	    {"ok\xfe\xc3\xa9", 5, "\"ok\\ufffd\xc3\xa9\""},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = escape(cases[i].in, cases[i].n);
		if (strcmp(got, cases[i].want))
			fail_msg("case %zu: got %s, want %s", i, got,
			         cases[i].want);
		json_decref(must_parse(got));
		free(got);
	}
}

/* Every single byte and every byte pair escapes to valid JSON. */
static void test_escape_all_bytes_parse(void **state)
{
	char s[2];

	(void)state;
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char *got;
			json_t *j;
			s[0] = (char)a;
			s[1] = (char)b;
			got = escape(s, 2);
			j = must_parse(got);
			assert_true(json_is_string(j));
			/* ASCII input decodes back to itself */
			if (a < 0x80 && b < 0x80) {
				assert_int_equal(json_string_length(j), 2);
				assert_memory_equal(json_string_value(j), s, 2);
			}
			json_decref(j);
			free(got);
		}
	}
}

static void test_nesting_and_commas(void **state)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	(void)state;
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "a", 1);
	jsonw_key(&w, "b");
	jsonw_arr_begin(&w);
	jsonw_int(&w, 1);
	jsonw_str(&w, "two");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "c");
	jsonw_null(&w);
	jsonw_obj_end(&w);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "d");
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_kbool(&w, "e", true);
	jsonw_kbool(&w, "f", false);
	jsonw_kstr(&w, "g", NULL);
	jsonw_kid(&w, "h", "x");
	jsonw_key(&w, "i");
	jsonw_raw(&w, "[1,{\"z\":2}]", 11);
	jsonw_kuint(&w, "j", UINT64_MAX);
	jsonw_kint(&w, "k", INT64_MIN);
	jsonw_obj_end(&w);
	assert_string_equal(b.data,
	                    "{\"a\":1,\"b\":[1,\"two\",{\"c\":null},[],{}],"
	                    "\"d\":{},\"e\":true,\"f\":false,\"g\":\"\","
	                    "\"h\":{\"value\":\"x\"},\"i\":[1,{\"z\":2}],"
	                    "\"j\":18446744073709551615,"
	                    "\"k\":-9223372036854775808}");
	assert_int_equal(w.depth, 0);

	/* jansson cannot hold UINT64_MAX; the rest must parse */
	buf_reset(&b);
	jsonw_init(&w, &b);
	jsonw_arr_begin(&w);
	for (int i = 0; i < 3; i++) {
		jsonw_arr_begin(&w);
		jsonw_int(&w, i);
		jsonw_int(&w, -i);
		jsonw_arr_end(&w);
	}
	jsonw_arr_end(&w);
	assert_string_equal(b.data, "[[0,0],[1,-1],[2,-2]]");
	j = must_parse(b.data);
	assert_int_equal(json_array_size(j), 3);
	json_decref(j);
	buf_release(&b);
}

static void test_deep_nesting(void **state)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;
	int depth = JSONW_MAX_DEPTH - 2;

	(void)state;
	jsonw_init(&w, &b);
	for (int i = 0; i < depth; i++) {
		jsonw_obj_begin(&w);
		jsonw_key(&w, "k");
	}
	jsonw_int(&w, 7);
	for (int i = 0; i < depth; i++)
		jsonw_obj_end(&w);
	j = must_parse(b.data);
	json_decref(j);
	buf_release(&b);
}

static void test_doubles(void **state)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {0, "0"},
	    {1, "1"},
	    {-3, "-3"},
	    {1024, "1024"},
	    {1700000000, "1700000000"},
	    {0.5, "0.5"},
	    {-0.25, "-0.25"},
	    {1e20, "1e+20"},
	};
	static const struct {
		double v;
		const char *want;
	} specials[] = {
	    {NAN, "\"NaN\""},
	    {INFINITY, "\"Infinity\""},
	    {-INFINITY, "\"-Infinity\""},
	};
	static const double round_trip[] = {
	    0.1, 1.0 / 3, 1e-300, 123.456, 1e15 + 0.5, 2.5e-5, -7.125};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		json_t *j;
		jsonw_init(&w, &b);
		jsonw_double(&w, cases[i].v);
		assert_string_equal(b.data, cases[i].want);
		j = must_parse(b.data);
		assert_true(json_number_value(j) == cases[i].v);
		json_decref(j);
		buf_release(&b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(specials); i++) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		jsonw_init(&w, &b);
		jsonw_double(&w, specials[i].v);
		assert_string_equal(b.data, specials[i].want);
		json_decref(must_parse(b.data));
		buf_release(&b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(round_trip); i++) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		json_t *j;
		jsonw_init(&w, &b);
		jsonw_double(&w, round_trip[i]);
		j = must_parse(b.data);
		if (json_number_value(j) != round_trip[i])
			fail_msg("%.17g written as %s", round_trip[i], b.data);
		json_decref(j);
		buf_release(&b);
	}
}

static void test_keys_are_escaped(void **state)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	(void)state;
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "a\"b\n", "v\xff");
	jsonw_key(&w, "n");
	jsonw_strn(&w, "xyz", 2);
	jsonw_obj_end(&w);
	assert_string_equal(b.data,
	                    "{\"a\\\"b\\n\":\"v\\ufffd\",\"n\":\"xy\"}");
	j = must_parse(b.data);
	assert_string_equal(json_string_value(json_object_get(j, "a\"b\n")),
	                    "v\xef\xbf\xbd");
	json_decref(j);
	buf_release(&b);
}

/* jsonw_str and jsonw_key (one pass over a C string) escape exactly as
 * jsonw_escape does, wherever the first byte needing work falls, and across
 * buffer growth. */
static void test_cstr_paths_match_escape(void **state)
{
	static const char *const cases[] = {
	    "",
	    "plain ascii id-123",
	    "\"lead",
	    "trail\\",
	    "mid\nline\ttab\rcr\bbs\fff",
	    "\x01\x1f\x7f ctl",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "bad \xff\xc3( \xed\xa0\x80",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789 long enough to grow the buffer \" twice over",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		char *want = escape(cases[i], strlen(cases[i]));
		char *pair = xasprintf("{%s:%s}", want, want);

		jsonw_init(&w, &b);
		jsonw_str(&w, cases[i]);
		if (strcmp(b.data, want))
			fail_msg("case %zu: got %s, want %s", i, b.data, want);
		buf_reset(&b);
		jsonw_init(&w, &b);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, cases[i], cases[i]);
		jsonw_obj_end(&w);
		if (strcmp(b.data, pair))
			fail_msg("case %zu: got %s, want %s", i, b.data, pair);
		json_decref(must_parse(b.data));
		free(pair);
		free(want);
		buf_release(&b);
	}
}

/* What jsonw_double must write for a finite v: printf's own formatting. */
static void printf_double(char *out, size_t n, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.17g", v);
}

static void check_double_matches_printf(double v)
{
	char want[64];
	struct buf b = BUF_INIT;
	struct jsonw w;

	if (!isfinite(v))
		return; /* covered by test_doubles */
	printf_double(want, sizeof(want), v);
	jsonw_init(&w, &b);
	jsonw_double(&w, v);
	if (strcmp(b.data, want))
		fail_msg("%a: got %s, want %s", v, b.data, want);
	buf_release(&b);
}

/* xorshift64: a fixed pseudo-random sequence for the table below. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The hand-made formatter agrees with printf byte for byte: edge values,
 * milli-unit values (resources), timestamps, and random bit patterns. */
static void test_doubles_match_printf(void **state)
{
	static const double edges[] = {
	    0.0,
	    -0.0,
	    0.1,
	    0.3,
	    -0.3,
	    0.01,
	    1e-3,
	    1e-4,
	    9.999e-4,
	    0.00123,
	    1e15,
	    -1e15,
	    1e15 - 0.5,
	    1e15 - 0.125,
	    999999999999999.9,
	    1e14 + 0.00001,
	    99999.999999999999,
	    9.9999999999999999,
	    9.999999999999999,
	    0.99999999999999999,
	    9007199254740992.0,
	    9007199254740993.0,
	    -9007199254740992.0,
	    4503599627370495.5,
	    1764075006.123456,
	    1e16,
	    1e17,
	    1e-5,
	    5e-324,
	    1.7976931348623157e308,
	    2.5,
	    0.5,
	    0.125,
	    1.0 / 3,
	    2.0 / 3,
	    123456.789,
	    0.1 + 0.2,
	};
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(edges); i++) {
		check_double_matches_printf(edges[i]);
		check_double_matches_printf(-edges[i]);
		check_double_matches_printf(nextafter(edges[i], 0));
		check_double_matches_printf(nextafter(edges[i], INFINITY));
	}
	for (int64_t milli = -20000; milli <= 20000; milli++)
		check_double_matches_printf((double)milli / 1000);
	for (int i = 0; i < 200000; i++) {
		uint64_t r = next_rand(&seed);
		double v;
		/* any finite bit pattern */
		memcpy(&v, &r, sizeof(v));
		if (isfinite(v))
			check_double_matches_printf(v);
		/* a mantissa at every exponent of the fast path's range */
		v = ldexp((double)(r >> 11), (int)(r % 64) - 63);
		check_double_matches_printf(v);
		check_double_matches_printf((double)(int64_t)(r >> 14) / 1000);
		check_double_matches_printf(1.7e9 +
		                            (double)(r % 1000000) / 1e6);
	}
	/* ties: exact binary fractions with an 18th digit of 5 */
	for (int k = 1; k < 64; k++) {
		check_double_matches_printf(ldexp(1, -k));
		check_double_matches_printf(1 + ldexp(1, -k));
		check_double_matches_printf(ldexp(3, -k) + 1000);
	}
}

struct flush_sink {
	struct buf all;
	int calls;
	size_t largest;
};

static void collect(struct buf *out, void *arg)
{
	struct flush_sink *k = arg;
	k->calls++;
	if (out->len > k->largest)
		k->largest = out->len;
	buf_add(&k->all, out->data, out->len);
	buf_reset(out);
}

/* A document written with a flush hook arrives whole, in pieces that
 * stay near the threshold, and equals the one written without it. */
static void write_doc(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "tasks");
	jsonw_arr_begin(w);
	for (int i = 0; i < 2000; i++) {
		jsonw_obj_begin(w);
		jsonw_kint(w, "n", i);
		jsonw_kstr(w, "name", "task with a \"quoted\" name");
		jsonw_kdouble(w, "cpus", 0.1 * i);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void test_flush_streams_pieces(void **state)
{
	struct buf whole = BUF_INIT, b = BUF_INIT;
	struct flush_sink k = {BUF_INIT, 0, 0};
	struct jsonw w;

	(void)state;
	jsonw_init(&w, &whole);
	write_doc(&w);
	jsonw_init(&w, &b);
	jsonw_set_flush(&w, collect, &k, 4096);
	write_doc(&w);
	buf_add(&k.all, b.data, b.len);
	assert_true(k.calls > 10);
	assert_true(k.largest < 4096 + 256);
	assert_int_equal(k.all.len, whole.len);
	assert_memory_equal(k.all.data, whole.data, whole.len);
	buf_release(&whole);
	buf_release(&b);
	buf_release(&k.all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_table),
	    cmocka_unit_test(test_escape_all_bytes_parse),
	    cmocka_unit_test(test_nesting_and_commas),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_keys_are_escaped),
	    cmocka_unit_test(test_doubles_match_printf),
	    cmocka_unit_test(test_cstr_paths_match_escape),
	    cmocka_unit_test(test_flush_streams_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
