/*
 * fuzz_http.c: libFuzzer target for the server's request path. The first
 * byte picks how the rest is cut into reads (0: one read, else pieces of
 * 1..15 bytes); the output must not depend on the cut, since llhttp and
 * the limits are incremental. The input, as a string, also goes through
 * http_parse_hostport() and http_path_decode().
 */
#include "lib/compat.h"

#include <stdint.h>

#include "lib/http.h"
#include "lib/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, cut = BUF_INIT;
	const char *in = (const char *)data + 1;
	size_t len, split;
	char *s, *host = NULL, *path = NULL;
	int port = 0;

	if (size < 1)
		return 0;
	len = size - 1;
	split = data[0] % 16;
	http_fuzz_server_input(in, len, 0, &whole);
	if (split) {
		http_fuzz_server_input(in, len, split, &cut);
		/* The output must not depend on how the input is cut. */
		BUG_ON(whole.len != cut.len ||
		       (whole.len && memcmp(whole.data, cut.data, whole.len)));
	}
	buf_release(&whole);
	buf_release(&cut);

	s = xstrndup(in, len);
	if (http_parse_hostport(s, 5050, &host, &port) == 0)
		BUG_ON(!host || !*host || port < 1 || port > 65535);
	else
		BUG_ON(host);
	free(host);
	if (http_path_decode(in, len, &path) == 0)
		BUG_ON(strlen(path) > len);
	free(path);
	free(s);
	return 0;
}
