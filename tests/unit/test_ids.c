/*
 * test_ids.c: random UUIDs (format, version and variant bits, uniqueness)
 * and base64 (RFC 4648 vectors, round trips at every short length, bad
 * input and short output buffers).
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "lib/ids.h"

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid_format(void **state)
{
	static const uint8_t fixed[IDS_UUID_LEN] = {
	    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77,
	    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	char s[IDS_UUID_STRLEN];

	(void)state;
	ids_uuid_format(fixed, s);
	assert_string_equal(s, "00112233-4455-4677-8899-aabbccddeeff");

	for (int k = 0; k < 200; k++) {
		ids_uuid_str(s);
		assert_int_equal(strlen(s), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(s[i], '-');
			else
				assert_true(is_lower_hex(s[i]));
		}
		assert_int_equal(s[14], '4');           /* version 4 */
		assert_non_null(strchr("89ab", s[19])); /* RFC 4122 variant */
	}
}

static void test_uuid_bits(void **state)
{
	uint8_t u[IDS_UUID_LEN];
	unsigned seen_or = 0, seen_and = 0xff;

	(void)state;
	for (int k = 0; k < 200; k++) {
		ids_uuid(u);
		assert_int_equal(u[6] & 0xf0, 0x40);
		assert_int_equal(u[8] & 0xc0, 0x80);
		seen_or |= u[0];
		seen_and &= u[0];
	}
	/* the random bytes do vary */
	assert_int_equal(seen_or, 0xff);
	assert_int_equal(seen_and, 0x00);
}

static int uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, IDS_UUID_LEN);
}

static void test_uuid_unique(void **state)
{
	enum { N = 10000 };
	uint8_t(*u)[IDS_UUID_LEN] = xmalloc(N * sizeof(*u));

	(void)state;
	for (int i = 0; i < N; i++)
		ids_uuid(u[i]);
	qsort(u, N, sizeof(*u), uuid_cmp);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(memcmp(u[i - 1], u[i], IDS_UUID_LEN), 0);
	free(u);
}

static void test_base64_vectors(void **state)
{
	static const char *const vec[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
		char out[16];
		uint8_t back[16];
		size_t n = strlen(vec[i][0]);
		int got;

		ids_base64_encode(vec[i][0], n, out);
		assert_string_equal(out, vec[i][1]);
		got = ids_base64_decode(out, strlen(out), back, sizeof(back));
		assert_int_equal(got, (int)n);
		assert_memory_equal(back, vec[i][0], n);
	}
	/* padding is optional on input */
	{
		uint8_t back[8];
		assert_int_equal(ids_base64_decode("Zg", 2, back, 8), 1);
		assert_int_equal(back[0], 'f');
		assert_int_equal(ids_base64_decode("Zm8", 3, back, 8), 2);
		assert_memory_equal(back, "fo", 2);
	}
	/* all 64 symbols */
	{
		uint8_t all[48], back[48];
		char out[IDS_BASE64_LEN(48)];
		for (int i = 0; i < 48; i++)
			all[i] = (uint8_t)(i * 5 + 1);
		ids_base64_encode(all, 48, out);
		assert_int_equal(strlen(out), 64);
		assert_int_equal(ids_base64_decode(out, 64, back, 48), 48);
		assert_memory_equal(back, all, 48);
	}
}

static void test_base64_round_trips(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 20; n++) {
		uint8_t data[20], back[20];
		char out[IDS_BASE64_LEN(20)];
		for (size_t k = 0; k < 3; k++) {
			for (size_t i = 0; i < n; i++)
				data[i] = (uint8_t)(k == 0   ? 0xff
				                    : k == 1 ? 0
				                             : i * 37 + n);
			memset(out, 'X', sizeof(out));
			ids_base64_encode(data, n, out);
			assert_int_equal(strlen(out), IDS_BASE64_LEN(n) - 1);
			assert_int_equal(strlen(out) % 4, 0);
			assert_int_equal(
			    ids_base64_decode(out, strlen(out), back, n),
			    (int)n);
			assert_memory_equal(back, data, n);
			/* one byte short of room */
			if (n > 0)
				assert_int_equal(ids_base64_decode(out,
				                                   strlen(out),
				                                   back, n - 1),
				                 -ENOBUFS);
		}
	}
}

static void test_base64_bad(void **state)
{
	static const char *const bad[] = {
	    "Z",     "Zm9vY",  "Zm9v!",
	    "Zm 9v", "Zm9v\n", "Zg==Zg==",
	    "Z===",  "====Zg", "\xc3\xa9\xc3\xa9",
	};
	uint8_t out[16];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc =
		    ids_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out));
		if (rc != -EINVAL)
			fail_msg("'%s' decoded to %d bytes", bad[i], rc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid_format),
	    cmocka_unit_test(test_uuid_bits),
	    cmocka_unit_test(test_uuid_unique),
	    cmocka_unit_test(test_base64_vectors),
	    cmocka_unit_test(test_base64_round_trips),
	    cmocka_unit_test(test_base64_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
