/*
 * recordio.c: RecordIO framing and an incremental reader.
 *
 * Reader invariant: pending holds the unconsumed tail of the stream, which
 * is either a partial length line (digits only, at most 20) or a complete
 * length line followed by a partial record. Each feed appends, then carves
 * as many complete records as it can and keeps the rest.
 */
#include "lib/compat.h"
#include "lib/recordio.h"
#include "lib/err.h"

#define RECORDIO_MAX_DIGITS 20

void recordio_frame(struct buf *out, const void *data, size_t len)
{
	BUG_ON(len == 0);
	buf_addf(out, "%zu\n", len);
	buf_add(out, data, len);
}

void recordio_reader_init(struct recordio_reader *r, size_t max_record)
{
	buf_init(&r->pending);
	r->max_record = max_record;
	r->failed = false;
}

void recordio_reader_release(struct recordio_reader *r)
{
	buf_release(&r->pending);
}

/*
 * Parses the length line at p[0..n). Returns the header size (digits plus
 * '\n') with *len set, 0 when more bytes are needed, or a negative error.
 */
static int recordio_parse_len(const struct recordio_reader *r, const char *p,
                              size_t n, size_t *len, struct err *e)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < n && p[i] != '\n'; i++) {
		if (p[i] < '0' || p[i] > '9')
			return err_set(e,
			               "recordio: length must be decimal "
			               "digits, got byte 0x%02x",
			               (unsigned char)p[i]);
		if (i >= RECORDIO_MAX_DIGITS)
			return err_set(e,
			               "recordio: length has more than %d "
			               "digits",
			               RECORDIO_MAX_DIGITS);
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (~0ull - d) / 10)
			return err_set(e, "recordio: length overflows");
		v = v * 10 + d;
	}
	if (i == n) {
		if (i > RECORDIO_MAX_DIGITS)
			return err_set(e,
			               "recordio: length has more than %d "
			               "digits",
			               RECORDIO_MAX_DIGITS);
		return 0;
	}
	if (i == 0)
		return err_set(e, "recordio: empty length line");
	if (v == 0)
		return err_set(e, "recordio: record length must not be 0");
	if (v > r->max_record) {
		err_set(e,
		        "recordio: record of %llu bytes exceeds the limit "
		        "of %zu",
		        v, r->max_record);
		return -E2BIG;
	}
	*len = (size_t)v;
	return (int)(i + 1);
}

int recordio_reader_feed(struct recordio_reader *r, const char *data,
                         size_t len, recordio_record_fn *cb, void *arg,
                         struct err *e)
{
	const char *p;
	size_t n, off = 0;
	int rc = 0;

	if (r->failed)
		return err_set(e, "recordio: stream already failed");
	buf_add(&r->pending, data, len);
	p = r->pending.data;
	n = r->pending.len;
	while (off < n) {
		size_t rec = 0;
		int h = recordio_parse_len(r, p + off, n - off, &rec, e);
		if (h < 0) {
			r->failed = true;
			rc = h;
			break;
		}
		if (h == 0 || n - off - (size_t)h < rec)
			break;
		off += (size_t)h;
		rc = cb(p + off, rec, arg);
		off += rec;
		if (rc)
			break;
	}
	if (r->failed)
		buf_reset(&r->pending);
	else
		buf_consume(&r->pending, off);
	return rc;
}
