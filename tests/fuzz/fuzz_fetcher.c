/*
 * fuzz_fetcher.c: libFuzzer target for the fetcher's archive extraction.
 *
 * The input is written as <root>/in.tar (the name only forces the
 * extraction path: libarchive recognises the format and compression by
 * content, so tar, zip, cpio, 7z, gzip, xz... are all reached) and
 * fetched with extract into the sandbox <root>/sb, beside an empty
 * <root>/out. Whatever the bytes, afterwards:
 *   - <root> holds exactly in.tar, sb and out, and out is still empty
 *     (nothing was written outside the sandbox);
 *   - no staging directory is left in the sandbox;
 *   - a refused archive left nothing in the sandbox but in.tar, and came
 *     with a message;
 *   - the canary path the checked-in corpus aims at does not exist.
 * Limits are small (64 MiB, 10,000 entries) so that one input stays fast.
 * Any violation aborts.
 */
#include "lib/compat.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "executor/fetcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fetcher_run_limited(const json_t *uris, const struct fetcher_opts *opts,
                        uint64_t extract_bytes, uint64_t extract_entries,
                        long stall_seconds, struct fetcher_stats *stats,
                        char *msg, size_t msg_len);

#define CANARY "/tmp/atoll-fuzz-evil"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_fetcher: %s failed (line %d)\n", \
			        #cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* Makes every directory searchable so the tree can be removed. */
static int open_up(const char *p, const struct stat *st, int flag,
                   struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		(void)chmod(p, 0700);
	(void)st;
	return 0;
}

static int remove_one(const char *p, const struct stat *st, int flag,
                      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(p);
	else
		(void)unlink(p);
	return 0;
}

/* Names in dir (without "." and ".."), each followed by '/', sorted. */
static void list_dir(const char *dir, char *out, size_t len, int *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t o = 0;

	CHECK(n >= 0);
	*count = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *s = names[i]->d_name;
		if (!streq(s, ".") && !streq(s, "..")) {
			o += (size_t)snprintf(out + o, o < len ? len - o : 0,
			                      "%s/", s);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *base = getenv("TMPDIR");
	char *root = xasprintf("%s/fuzz-fetcher-XXXXXX", base ? base : "/tmp");
	char *sb, *out, *in, list[512], msg[1024] = "";
	struct fetcher_opts opts = {.uid = (uid_t)-1, .gid = (gid_t)-1};
	struct fetcher_stats stats;
	json_t *uris;
	FILE *f;
	int rc, n;

	CHECK(mkdtemp(root));
	sb = xasprintf("%s/sb", root);
	out = xasprintf("%s/out", root);
	in = xasprintf("%s/in.tar", root);
	CHECK(mkdir(sb, 0755) == 0 && mkdir(out, 0755) == 0);
	f = fopen(in, "wb");
	CHECK(f);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	opts.sandbox = sb;
	uris = json_pack("[{s:s, s:s}]", "value", in, "output_file", "in.tar");
	rc = fetcher_run_limited(uris, &opts, 64 << 20, 10000, 60, &stats, msg,
	                         sizeof(msg));
	json_decref(uris);

	list_dir(root, list, sizeof(list), &n);
	CHECK(n == 3 && streq(list, "in.tar/out/sb/"));
	list_dir(out, list, sizeof(list), &n);
	CHECK(n == 0);
	list_dir(sb, list, sizeof(list), &n);
	CHECK(strncmp(list, ".atoll-fetch-", 13) &&
	      !strstr(list, "/.atoll-fetch-"));
	if (rc) {
		CHECK(rc < 0 && msg[0]);
		CHECK(n == 1 && streq(list, "in.tar/"));
		CHECK(stats.extracted == 0);
	} else {
		CHECK(stats.fetched == 1);
	}
	CHECK(access(CANARY, F_OK) != 0);

	(void)nftw(root, open_up, 16, FTW_PHYS);
	(void)nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(in);
	free(out);
	free(sb);
	free(root);
	return 0;
}
