/* ids.c: random UUIDs and base64. */
#include "lib/compat.h"
#include "lib/ids.h"

#include <sys/random.h>

void ids_uuid(uint8_t out[IDS_UUID_LEN])
{
	size_t got = 0;
	while (got < IDS_UUID_LEN) {
		ssize_t n = getrandom(out + got, IDS_UUID_LEN - got, 0);
		if (n < 0) {
			BUG_ON(errno != EINTR);
			continue;
		}
		got += (size_t)n;
	}
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

void ids_uuid_format(const uint8_t u[IDS_UUID_LEN], char out[IDS_UUID_STRLEN])
{
	snprintf(out, IDS_UUID_STRLEN,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
	         u[10], u[11], u[12], u[13], u[14], u[15]);
}

void ids_uuid_str(char out[IDS_UUID_STRLEN])
{
	uint8_t u[IDS_UUID_LEN];
	ids_uuid(u);
	ids_uuid_format(u, out);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ids_base64_encode(const void *data, size_t n, char *out)
{
	const uint8_t *p = data;
	size_t i, o = 0;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int ids_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (len > 0 && text[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(text[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -ENOBUFS;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (int)o;
}
