/*
 * fuzz_recordio.c: libFuzzer target for the RecordIO reader. The first
 * byte picks a read size (0: all at once, else 1..31 bytes); whatever the
 * cut, the records delivered and the final result must be the same, and
 * no record may exceed the limit.
 */
#include "lib/compat.h"

#include <stdint.h>

#include "lib/err.h"
#include "lib/recordio.h"

#define FUZZ_MAX_RECORD 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_out {
	struct buf recs;
	int n;
};

static int fuzz_collect(const char *data, size_t len, void *arg)
{
	struct fuzz_out *o = arg;

	BUG_ON(len == 0 || len > FUZZ_MAX_RECORD);
	buf_addf(&o->recs, "%zu:", len);
	buf_add(&o->recs, data, len);
	o->n++;
	/* Stop now and then to exercise the early return. */
	return (len == 13) ? 1 : 0;
}

/* Feeds in pieces; returns the first non-zero result (or 0). */
static int fuzz_run(const char *in, size_t len, size_t split,
                    struct fuzz_out *o)
{
	struct recordio_reader r;
	struct err e;
	int rc = 0;

	recordio_reader_init(&r, FUZZ_MAX_RECORD);
	for (size_t off = 0;;) {
		size_t n = off < len ? MIN(split, len - off) : 0;
		/* Past the end, empty feeds drain what a stop left pending. */
		rc = recordio_reader_feed(&r, in + off, n, fuzz_collect, o, &e);
		off += n;
		if (rc < 0 || (off >= len && rc == 0))
			break;
	}
	recordio_reader_release(&r);
	return rc < 0 ? rc : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out whole = {BUF_INIT, 0}, cut = {BUF_INIT, 0};
	const char *in = (const char *)data + 1;
	size_t len, split;
	int a, b;

	if (size < 1)
		return 0;
	len = size - 1;
	split = data[0] % 32;
	a = fuzz_run(in, len, len ? len : 1, &whole);
	if (split) {
		b = fuzz_run(in, len, split, &cut);
		BUG_ON(a != b);
		BUG_ON(whole.n != cut.n);
		BUG_ON(whole.recs.len != cut.recs.len ||
		       (whole.recs.len && memcmp(whole.recs.data, cut.recs.data,
		                                 whole.recs.len)));
	}
	buf_release(&whole.recs);
	buf_release(&cut.recs);
	return 0;
}
