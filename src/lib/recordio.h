/*
 * recordio.h: Mesos RecordIO framing, "<decimal length>\n<bytes>", used by
 * every event stream (scheduler, executor, operator and agent
 * subscriptions). The reader is incremental: feed it whatever the socket
 * delivered and it calls back once per complete record. Chunk boundaries do
 * not matter.
 */
#ifndef ATOLL_RECORDIO_H
#define ATOLL_RECORDIO_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct err;

/* Appends one framed record to out. len must be > 0. */
void recordio_frame(struct buf *out, const void *data, size_t len);

struct recordio_reader {
	struct buf pending; /* bytes of an incomplete record */
	size_t max_record;  /* bound on one record's length */
	bool failed;        /* a framing error happened; further feeds fail */
};

/* Called per record; return non-zero to stop feeding (returned by feed). */
typedef int recordio_record_fn(const char *data, size_t len, void *arg);

void recordio_reader_init(struct recordio_reader *r, size_t max_record);
void recordio_reader_release(struct recordio_reader *r);
/*
 * Consumes len bytes. Returns 0 when everything was consumed, the callback's
 * non-zero value if it stopped early, or -EINVAL / -E2BIG with e set for a
 * bad length line (empty, not decimal, zero, more than 20 digits) or a
 * record larger than max_record. After an error the reader stays failed.
 */
int recordio_reader_feed(struct recordio_reader *r, const char *data,
                         size_t len, recordio_record_fn *cb, void *arg,
                         struct err *e);

#endif
