/*
 * fetcher.c: the Mesos fetcher (fetcher.h): puts each CommandInfo.URI
 * into the task's sandbox, unpacking archives, through an optional cache.
 *
 * One URI, in fetch_one():
 *
 *   source ----------------------------------+
 *     local path: opened                      |
 *     http(s), no cache: downloaded ----------+--> <dir>/.atoll-fetch-XXX
 *     http(s), cache: cache hit, or download       (copied or written)
 *       into <cache>/.atoll-fetch-XXX, then            |
 *       renamed to <cache>/<sha256(uri)>              | chmod, chown,
 *                                                     v renameat
 *                                              <sandbox>/<output path>
 *                                                     |
 *     extract and an archive (by name, or a tar by    v
 *     content): extract_archive() -----> <sandbox>/.atoll-fetch-XXX/
 *       every entry checked, then written       (staging directory)
 *       by libarchive's disk writer                   |
 *     the whole archive passed: chown, conflicts      v
 *       checked, then entries renamed into <sandbox>/, staging removed
 *
 * Invariants:
 *   - Nothing is ever written through a symbolic link that the fetcher
 *     did not itself resolve: directories are opened one component at a
 *     time with O_NOFOLLOW from the sandbox's fd, files are created in a
 *     directory fd and renamed into place (a rename replaces a link, it
 *     never follows it).
 *   - A file appears under its final name only complete (temp + rename);
 *     a failed URI leaves no temp file behind.
 *   - An archive is extracted only into a fresh staging directory. Each
 *     entry's name is normalised and refused when absolute, with a ".."
 *     component, passing through a symlink or file of the same archive,
 *     deeper than FETCH_MAX_DEPTH, or starting with FETCH_TMP_PREFIX
 *     (reserved for the fetcher's temp names); a hardlink must point to
 *     a regular file extracted before it from the same archive; devices,
 *     fifos and sockets are refused. libarchive's own ARCHIVE_EXTRACT_SECURE_*
 *     checks stay on as a second line of defence. The staging tree is
 *     compared with the sandbox before anything moves (a directory that
 *     would be merged into a symlink or a file refuses the archive), so a
 *     refused archive leaves nothing but the archive file itself.
 *   - Extraction is bounded: FETCH_EXTRACT_MAX_BYTES bytes written (the
 *     extent of each file, holes included) and FETCH_EXTRACT_MAX_ENTRIES
 *     entries; the message names the limit.
 *
 * libarchive's disk writer resolves names against the working directory
 * and has no directory-fd API. So the entries are written by a short-
 * lived thread that first gives itself a private working directory
 * (unshare(CLONE_FS)) and enters the staging directory: the caller's
 * working directory, and every other thread's, stay untouched. Where a
 * seccomp policy refuses unshare, a single-threaded process (the
 * executor's fetch child) changes directory and changes back; a threaded
 * one gets an error.
 *
 * Cache (cache_dir set and the URI's cache true; http(s) only, a local
 * file is read where it is): an entry is the file <cache_dir>/<key>, key
 * = the sha256 of the URI in hex. libcrypto is not linked, so a compact
 * FIPS 180-4 sha256 lives below (tested against sha256sum); a collision
 * is as unlikely as anywhere sha256 is trusted, so no collision check is
 * kept. Recency is the entry's mtime, set on every hit. Every cache
 * operation holds flock(LOCK_EX) on <cache_dir>/.lock, which serialises
 * executors sharing the directory; the lock is not held while
 * downloading. An insert downloads into a temp file, fsyncs it, evicts
 * the least recently used entries until the new one fits in
 * cache_max_bytes, then renames it into place (atomic: a reader sees the
 * old entry, none, or the whole new one). A file larger than the whole
 * cache is used once and not kept. An open fd keeps serving an entry
 * another executor evicts meanwhile. Temp files older than an hour (a
 * crashed executor's) are removed during eviction.
 */
#include "lib/compat.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor/fetcher.h"
#include "lib/hmap.h"

#define FETCH_MAX_REDIRS 10L
#define FETCH_CONNECT_TIMEOUT 30L /* seconds */
#define FETCH_STALL_SECONDS 60L   /* below 1 byte/s for this long: fail */
#define FETCH_CACHE_DEFAULT_BYTES (2ULL << 30)
#define FETCH_EXTRACT_MAX_BYTES (10ULL << 30)
#define FETCH_EXTRACT_MAX_ENTRIES 1000000ULL
#define FETCH_MAX_DEPTH 128 /* components of a path */
#define FETCH_MAX_PATH 4000 /* bytes of a normalised path */
#define FETCH_STALE_TMP_SECONDS 3600
#define FETCH_COPY_CHUNK (128u << 10)
#define FETCH_TMP_PREFIX ".atoll-fetch-"
#define FETCH_TMP_NAME_MAX 32
#define FETCH_LOCK_NAME ".lock"
#define FETCH_KEY_LEN 64 /* hex digits of a sha256 */

/* ---- sha256 (FIPS 180-4) -------------------------------------------- */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
		              (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
		              (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 =
		    ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + sha256_k[i] + w[i];
		uint32_t s0 =
		    ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + s0 + maj;
	}
	for (int i = 0; i < 8; i++)
		h[i] += v[i];
}

/* Writes the sha256 of data as 64 lowercase hex digits and a NUL. */
static void sha256_hex(const void *data, size_t len,
                       char out[FETCH_KEY_LEN + 1])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	uint8_t tail[128] = {0};
	size_t rest = len % 64, tail_len = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t off = 0; off + 64 <= len; off += 64)
		sha256_block(h, p + off);
	memcpy(tail, p + (len - rest), rest);
	tail[rest] = 0x80;
	for (int i = 0; i < 8; i++)
		tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t off = 0; off < tail_len; off += 64)
		sha256_block(h, tail + off);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x",
		         (unsigned)(h[i / 4] >> (24 - 8 * (i % 4))) & 0xff);
}

/* ---- messages and paths --------------------------------------------- */

struct fetch_limits {
	uint64_t extract_bytes;
	uint64_t extract_entries;
	long stall_seconds;
};

struct fetch_cache {
	int dir_fd; /* -1 until opened */
	int lock_fd;
	uint64_t max_bytes;
};

/* One fetcher_run(). */
struct fetch_run {
	const struct fetcher_opts *opts;
	const struct fetch_limits *lim;
	struct fetcher_stats *stats;
	int sandbox_fd;
	bool chown;
	struct fetch_cache cache;
};

/* One URI. */
struct fetch_job {
	struct fetch_run *run;
	const char *value;
	bool executable, extract, cache;
	char out[FETCH_MAX_PATH + 1]; /* output path, normalised */
	char msg[1024];               /* the cause of a failure */
};

static void msg_vset(char *msg, size_t len, const char *fmt, va_list ap)
{
	if (msg && len)
		vsnprintf(msg, len, fmt, ap);
}

static int msg_set(char *msg, size_t len, int rc, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int msg_set(char *msg, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vset(msg, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* Sets the job's failure cause and returns rc (a negative errno). */
static int job_fail(struct fetch_job *j, int rc, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static int job_fail(struct fetch_job *j, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vset(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : -EIO;
}

/*
 * Normalises the relative path in into out: empty and "." components
 * dropped, one '/' between components. Returns NULL, or why the path is
 * refused (absolute, "..", too deep, too long). out may come out empty:
 * in named the directory itself.
 */
static const char *path_normalize(const char *in, char *out, size_t size)
{
	size_t o = 0;
	unsigned depth = 0;
	const char *p = in;

	if (in[0] == '/')
		return "is absolute";
	while (*p) {
		const char *s = p;
		size_t len;

		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (*p == '/')
			p++;
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return "contains '..'";
		if (++depth > FETCH_MAX_DEPTH)
			return "is too deep";
		if (len > NAME_MAX || o + len + 2 > size)
			return "is too long";
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, len);
		o += len;
	}
	out[o] = '\0';
	return NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* ---- validation ----------------------------------------------------- */

static int validate_uri(const json_t *u, size_t i, char *msg, size_t len)
{
	static const char *const bools[] = {"executable", "extract", "cache"};
	const json_t *v, *out;
	char norm[FETCH_MAX_PATH + 1];
	const char *s, *why;

	if (!json_is_object(u))
		return msg_set(msg, len, -EINVAL,
		               "uris[%zu]: must be an object", i);
	v = json_object_get(u, "value");
	if (!v)
		return msg_set(msg, len, -EINVAL,
		               "uris[%zu].value: is required", i);
	if (!json_is_string(v))
		return msg_set(msg, len, -EINVAL,
		               "uris[%zu].value: must be a string", i);
	s = json_string_value(v);
	if (!s[0])
		return msg_set(msg, len, -EINVAL,
		               "uris[%zu].value: must not be empty", i);
	if (strlen(s) != json_string_length(v))
		return msg_set(msg, len, -EINVAL,
		               "uris[%zu].value: must not contain NUL", i);
	for (size_t b = 0; b < ARRAY_SIZE(bools); b++) {
		v = json_object_get(u, bools[b]);
		if (v && !json_is_boolean(v))
			return msg_set(msg, len, -EINVAL,
			               "uris[%zu].%s: must be a boolean", i,
			               bools[b]);
	}
	out = json_object_get(u, "output_file");
	if (out) {
		if (!json_is_string(out))
			return msg_set(
			    msg, len, -EINVAL,
			    "uris[%zu].output_file: must be a string", i);
		s = json_string_value(out);
		if (strlen(s) != json_string_length(out))
			return msg_set(
			    msg, len, -EINVAL,
			    "uris[%zu].output_file: must not contain "
			    "NUL",
			    i);
		why = path_normalize(s, norm, sizeof(norm));
		if (why)
			return msg_set(msg, len, -EINVAL,
			               "uris[%zu].output_file: '%s' %s", i, s,
			               why);
		if (!norm[0] || s[strlen(s) - 1] == '/')
			return msg_set(msg, len, -EINVAL,
			               "uris[%zu].output_file: '%s' does not "
			               "name a file",
			               i, s);
	}
	if (json_is_true(json_object_get(u, "executable")) &&
	    json_is_true(json_object_get(u, "extract")))
		return msg_set(
		    msg, len, -EINVAL,
		    "uris[%zu]: extract and executable are exclusive", i);
	return 0;
}

int fetcher_validate(const json_t *uris, char *msg, size_t msg_len)
{
	const json_t *u;
	size_t i;

	if (!uris)
		return 0;
	if (!json_is_array(uris))
		return msg_set(msg, msg_len, -EINVAL, "uris: must be an array");
	json_array_foreach(uris, i, u)
	{
		int rc = validate_uri(u, i, msg, msg_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- files ---------------------------------------------------------- */

/* A fresh name FETCH_TMP_PREFIX + 12 hex digits. */
static void tmp_name(char name[FETCH_TMP_NAME_MAX])
{
	uint8_t r[6];
	struct timespec ts;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)((uint64_t)ts.tv_nsec >> (i * 5)) ^
			       (uint8_t)(getpid() >> i);
	}
	snprintf(name, FETCH_TMP_NAME_MAX,
	         FETCH_TMP_PREFIX "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
	         r[3], r[4], r[5]);
}

/* Creates a temp file (dir = false) or directory in at; returns the
 * file's fd, 0 for a directory, or a negative errno. */
static int tmp_create(int at, bool dir, char name[FETCH_TMP_NAME_MAX])
{
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		tmp_name(name);
		if (dir)
			fd = mkdirat(at, name, 0700);
		else
			fd = openat(at, name,
			            O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
			                O_CLOEXEC,
			            0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies in (from its start) to out; 0 or a negative errno. */
static int fd_copy(int in, int out)
{
	char *chunk = xmalloc(FETCH_COPY_CHUNK);
	int rc = 0;

	if (lseek(in, 0, SEEK_SET) < 0) {
		rc = -errno;
		goto out_free;
	}
	for (;;) {
		ssize_t n = read(in, chunk, FETCH_COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = fd_write_all(out, chunk, (size_t)n);
		if (rc)
			break;
	}
out_free:
	free(chunk);
	return rc;
}

/*
 * Removes name in at and everything under it, never following a
 * symlink; directories are made writable first (an archive may carry
 * read-only ones). Best effort: what cannot be removed stays.
 */
static void tree_remove(int at, const char *name, unsigned depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW))
		return;
	if (!S_ISDIR(st.st_mode) || depth > FETCH_MAX_DEPTH + 2) {
		(void)unlinkat(at, name, 0);
		return;
	}
	(void)fchmodat(at, name, 0700, 0);
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		tree_remove(dirfd(d), de->d_name, depth + 1);
	}
	closedir(d);
	(void)unlinkat(at, name, AT_REMOVEDIR);
}

/* Gives name in at, and all under it, to uid:gid (links themselves). */
static int tree_chown(int at, const char *name, uid_t uid, gid_t gid,
                      unsigned depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (fchownat(at, name, uid, gid, AT_SYMLINK_NOFOLLOW) ||
	    fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth > FETCH_MAX_DEPTH + 2)
		return -ELOOP;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		rc = tree_chown(dirfd(d), de->d_name, uid, gid, depth + 1);
	}
	closedir(d);
	return rc;
}

/*
 * Opens the directory that will hold the job's output path, creating
 * missing directories (0755, owned as opts says) and never following a
 * symlink. Returns its fd, *leaf pointing at the last component of
 * j->out, or a negative errno with the cause set.
 */
static int dest_dir_open(struct fetch_job *j, const char **leaf)
{
	const struct fetcher_opts *o = j->run->opts;
	const char *p = j->out, *slash;
	char comp[NAME_MAX + 1];
	int dfd = fcntl(j->run->sandbox_fd, F_DUPFD_CLOEXEC, 0);

	if (dfd < 0)
		return job_fail(j, -errno, "cannot open the sandbox: %s",
		                strerror(errno));
	while ((slash = strchr(p, '/'))) {
		size_t len = (size_t)(slash - p);
		int prefix = (int)(slash - j->out), nfd, err;

		memcpy(comp, p, len); /* len <= NAME_MAX: path_normalize */
		comp[len] = '\0';
		if (!mkdirat(dfd, comp, 0755)) {
			if (j->run->chown && fchownat(dfd, comp, o->uid, o->gid,
			                              AT_SYMLINK_NOFOLLOW)) {
				err = errno;
				close(dfd);
				return job_fail(j, -err,
				                "cannot chown '%.*s': %s",
				                prefix, j->out, strerror(err));
			}
		} else if (errno != EEXIST) {
			err = errno;
			close(dfd);
			return job_fail(j, -err, "cannot create '%.*s': %s",
			                prefix, j->out, strerror(err));
		}
		nfd = openat(dfd, comp,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = errno;
		close(dfd);
		if (nfd < 0 && (err == ELOOP || err == ENOTDIR))
			return job_fail(j, -ENOTDIR,
			                "'%.*s' is a symlink or not a "
			                "directory",
			                prefix, j->out);
		if (nfd < 0)
			return job_fail(j, -err, "cannot open '%.*s': %s",
			                prefix, j->out, strerror(err));
		dfd = nfd;
		p = slash + 1;
	}
	*leaf = p;
	return dfd;
}

/* ---- downloads ------------------------------------------------------ */

struct download {
	int fd;
	int write_errno;
	char status[128]; /* the last status line */
};

static size_t download_write(char *data, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	int rc = fd_write_all(d->fd, data, size * n);

	if (rc) {
		d->write_errno = -rc;
		return 0;
	}
	return size * n;
}

static size_t download_header(char *data, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;

	if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
		while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
			len--;
		len = MIN(len, sizeof(d->status) - 1);
		memcpy(d->status, data, len);
		d->status[len] = '\0';
	}
	return size * n;
}

/* Sockets close-on-exec, as every fd of Atoll. */
static curl_socket_t download_socket(void *arg, curlsocktype purpose,
                                     struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Downloads j->value into fd. */
static int download(struct fetch_job *j, int fd)
{
	struct download d = {.fd = fd};
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *status;
	CURLcode res;
	long code = 0;
	CURL *c = curl_easy_init();

	if (!c)
		return job_fail(j, -ENOMEM, "cannot start libcurl");
	curl_easy_setopt(c, CURLOPT_URL, j->value);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, j->run->lim->stall_seconds);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atoll-fetcher");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, download_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, download_socket);
	res = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (res == CURLE_OK)
		return 0;
	if (res == CURLE_HTTP_RETURNED_ERROR) {
		/* "HTTP/1.1 404 Not Found" -> "404 Not Found" */
		status = strchr(d.status, ' ');
		if (status)
			return job_fail(j, -EIO, "HTTP status %s", status + 1);
		return job_fail(j, -EIO, "HTTP status %ld", code);
	}
	if (res == CURLE_WRITE_ERROR && d.write_errno)
		return job_fail(j, -d.write_errno, "cannot write: %s",
		                strerror(d.write_errno));
	return job_fail(j, res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
	                "download failed: %s",
	                errbuf[0] ? errbuf : curl_easy_strerror(res));
}

/* ---- cache ---------------------------------------------------------- */

struct cache_item {
	char name[FETCH_KEY_LEN + 1];
	uint64_t size;
	struct timespec used;
};

static bool cache_is_key(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return i == FETCH_KEY_LEN;
}

static int cache_item_cmp(const void *a, const void *b)
{
	const struct cache_item *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cache_open(struct fetch_job *j)
{
	struct fetch_cache *c = &j->run->cache;
	const char *dir = j->run->opts->cache_dir;
	int err;

	if (c->dir_fd >= 0)
		return 0;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return job_fail(j, -errno, "cannot create the cache '%s': %s",
		                dir, strerror(errno));
	c->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0)
		return job_fail(j, -errno, "cannot open the cache '%s': %s",
		                dir, strerror(errno));
	c->lock_fd = openat(c->dir_fd, FETCH_LOCK_NAME,
	                    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->lock_fd < 0) {
		err = errno;
		close(c->dir_fd);
		c->dir_fd = -1;
		return job_fail(j, -err,
		                "cannot open '%s/" FETCH_LOCK_NAME "': %s", dir,
		                strerror(err));
	}
	return 0;
}

static void cache_close(struct fetch_cache *c)
{
	if (c->dir_fd < 0)
		return;
	close(c->lock_fd);
	close(c->dir_fd);
	c->dir_fd = c->lock_fd = -1;
}

static int cache_lock(struct fetch_job *j, int op)
{
	while (flock(j->run->cache.lock_fd, op)) {
		if (errno != EINTR)
			return job_fail(j, -errno, "cannot lock the cache: %s",
			                strerror(errno));
	}
	return 0;
}

/*
 * Evicts least recently used entries (never keep) until incoming more
 * bytes fit; removes stale temp files. Called with the lock held.
 */
static void cache_evict(struct fetch_cache *c, uint64_t incoming,
                        const char *keep)
{
	struct cache_item *items = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct timespec now;
	struct dirent *de;
	struct stat st;
	int fd = fcntl(c->dir_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d); /* the dup shares the offset of an earlier scan */
	clock_gettime(CLOCK_REALTIME, &now);
	while ((de = readdir(d))) {
		if (fstatat(c->dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!strncmp(de->d_name, FETCH_TMP_PREFIX,
		             strlen(FETCH_TMP_PREFIX))) {
			if (now.tv_sec - st.st_mtim.tv_sec >
			    FETCH_STALE_TMP_SECONDS)
				(void)unlinkat(c->dir_fd, de->d_name, 0);
			continue;
		}
		if (!cache_is_key(de->d_name) || streq(de->d_name, keep))
			continue;
		ALLOC_GROW(items, n + 1, cap);
		memcpy(items[n].name, de->d_name, FETCH_KEY_LEN + 1);
		items[n].size = (uint64_t)st.st_size;
		items[n].used = st.st_mtim;
		total += items[n].size;
		n++;
	}
	closedir(d);
	if (n)
		qsort(items, n, sizeof(*items), cache_item_cmp);
	for (size_t i = 0; i < n && total + incoming > c->max_bytes; i++) {
		if (!unlinkat(c->dir_fd, items[i].name, 0))
			total -= items[i].size;
	}
	free(items);
}

/*
 * Gets j->value through the cache: returns an fd (at offset 0) of the
 * cached entry, or of the fresh download, or a negative errno. *hit
 * tells which.
 */
static int cache_fetch(struct fetch_job *j, bool *hit)
{
	struct fetch_cache *c = &j->run->cache;
	char key[FETCH_KEY_LEN + 1], tmp[FETCH_TMP_NAME_MAX];
	struct stat st;
	int fd, rc;

	*hit = false;
	rc = cache_open(j);
	if (rc)
		return rc;
	sha256_hex(j->value, strlen(j->value), key);

	rc = cache_lock(j, LOCK_EX);
	if (rc)
		return rc;
	fd = openat(c->dir_fd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		(void)futimens(fd, NULL); /* the LRU clock */
	rc = fd < 0 && errno != ENOENT ? -errno : 0;
	(void)cache_lock(j, LOCK_UN);
	if (fd >= 0) {
		*hit = true;
		return fd;
	}
	if (rc)
		return job_fail(j, rc, "cannot read the cache entry '%s': %s",
		                key, strerror(-rc));

	fd = tmp_create(c->dir_fd, false, tmp);
	if (fd < 0)
		return job_fail(j, fd, "cannot create a file in the cache: %s",
		                strerror(-fd));
	rc = download(j, fd);
	if (rc)
		goto out_unlink;
	if (fsync(fd) || fstat(fd, &st)) {
		rc = job_fail(j, -errno, "cannot write the cache: %s",
		              strerror(errno));
		goto out_unlink;
	}
	rc = cache_lock(j, LOCK_EX);
	if (rc)
		goto out_unlink;
	if ((uint64_t)st.st_size <= c->max_bytes) {
		cache_evict(c, (uint64_t)st.st_size, key);
		if (renameat(c->dir_fd, tmp, c->dir_fd, key))
			(void)unlinkat(c->dir_fd, tmp, 0); /* used uncached */
	} else {
		(void)unlinkat(c->dir_fd, tmp, 0); /* larger than the cache */
	}
	(void)cache_lock(j, LOCK_UN);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		rc = job_fail(j, -errno, "cannot rewind: %s", strerror(errno));
		close(fd);
		return rc;
	}
	return fd;

out_unlink:
	(void)unlinkat(c->dir_fd, tmp, 0);
	close(fd);
	return rc;
}

/* ---- archives ------------------------------------------------------- */

static const char *const fetch_archive_suffixes[] = {
    ".tar",     ".tar.gz", ".tgz", ".tar.xz", ".txz",
    ".tar.bz2", ".tbz2",   ".tbz", ".zip",
};

/*
 * Whether the file should be unpacked: its name says archive, or its
 * content is a tar (possibly compressed). A zip is recognised by name
 * only: .jar, .war and friends are zips meant to stay whole.
 */
static bool archive_is_wanted(const char *name, int fd)
{
	struct archive *a;
	struct archive_entry *e;
	bool tar = false;

	for (size_t i = 0; i < ARRAY_SIZE(fetch_archive_suffixes); i++)
		if (has_suffix(name, fetch_archive_suffixes[i]))
			return true;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return false;
	a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 64 << 10) == ARCHIVE_OK) {
		int r = archive_read_next_header(a, &e);
		tar = r == ARCHIVE_OK || r == ARCHIVE_WARN;
	}
	archive_read_free(a);
	return tar;
}

enum seen_kind { SEEN_FILE, SEEN_DIR, SEEN_SYMLINK };

/* A path extracted earlier from the same archive. */
struct seen_path {
	struct hmap_node node;
	enum seen_kind kind;
	char path[];
};

struct extract {
	struct fetch_job *j;
	int archive_fd;
	int stage_fd; /* the staging directory */
	char stage[FETCH_TMP_NAME_MAX];
	struct hmap seen;
	uint64_t bytes;
	uint64_t entries;
	int unshare_errno; /* the thread could not unshare its cwd */
	int rc;
};

static struct seen_path *seen_find(struct extract *x, const char *path)
{
	return hmap_entry(hmap_find(&x->seen, path), struct seen_path, node);
}

static void seen_add(struct extract *x, const char *path, enum seen_kind k)
{
	struct seen_path *s = seen_find(x, path);
	size_t len = strlen(path);

	if (s) {
		if (s->kind != SEEN_SYMLINK) /* a link once, refused under */
			s->kind = k;
		return;
	}
	s = xmalloc(sizeof(*s) + len + 1);
	memcpy(s->path, path, len + 1);
	s->kind = k;
	s->node.key = s->path;
	hmap_insert(&x->seen, &s->node);
}

static void seen_release(struct extract *x)
{
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&x->seen, i, n, tmp)
	free(container_of(n, struct seen_path, node));
	hmap_release(&x->seen);
}

static int extract_fail_limit_bytes(struct extract *x)
{
	return job_fail(x->j, -EFBIG,
	                "archive refused: more than the limit of %llu bytes "
	                "extracted",
	                (unsigned long long)x->j->run->lim->extract_bytes);
}

/*
 * Checks one entry and rewrites its names normalised. Returns 0 to
 * write it, 1 to skip it (the archive's root directory), or a negative
 * errno with the cause naming the entry.
 */
static int extract_check_entry(struct extract *x, struct archive_entry *e,
                               char *norm, size_t size)
{
	struct fetch_job *j = x->j;
	const char *name = archive_entry_pathname(e), *link, *why;
	char target[FETCH_MAX_PATH + 1];
	mode_t type = archive_entry_filetype(e);
	struct seen_path *s;

	if (!name)
		return job_fail(
		    j, -EINVAL,
		    "archive refused: entry %llu has no usable name",
		    (unsigned long long)x->entries);
	why = path_normalize(name, norm, size);
	if (why)
		return job_fail(j, -EPERM, "archive refused: entry '%s' %s",
		                name, why);
	if (!norm[0]) {
		if (type == AE_IFDIR && !archive_entry_hardlink(e))
			return 1;
		return job_fail(j, -EPERM,
		                "archive refused: entry '%s' names the "
		                "sandbox itself",
		                name);
	}
	/* The prefix of staging directories and temp files is ours. */
	if (!strncmp(norm, FETCH_TMP_PREFIX, strlen(FETCH_TMP_PREFIX)))
		return job_fail(j, -EPERM,
		                "archive refused: entry '%s' uses a reserved "
		                "name",
		                name);
	for (char *p = strchr(norm, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0'; /* norm is now the prefix */
		s = seen_find(x, norm);
		if (s && s->kind != SEEN_DIR)
			return job_fail(
			    j, -EPERM,
			    "archive refused: entry '%s' passes "
			    "through the %s '%s' of the archive",
			    name, s->kind == SEEN_SYMLINK ? "symlink" : "file",
			    norm);
		*p = '/';
	}

	link = archive_entry_hardlink(e);
	if (link) {
		why = path_normalize(link, target, sizeof(target));
		if (why)
			return job_fail(j, -EPERM,
			                "archive refused: entry '%s' is a "
			                "hardlink to '%s', which %s",
			                name, link, why);
		s = seen_find(x, target);
		if (!s || s->kind != SEEN_FILE)
			return job_fail(
			    j, -EPERM,
			    "archive refused: entry '%s' is a "
			    "hardlink to '%s', not a file extracted "
			    "before it",
			    name, link);
		archive_entry_set_hardlink(e, target);
		archive_entry_set_pathname(e, norm);
		seen_add(x, norm, SEEN_FILE);
		return 0;
	}
	switch (type) {
	case AE_IFREG:
		if (archive_entry_size_is_set(e) &&
		    (uint64_t)archive_entry_size(e) >
		        j->run->lim->extract_bytes - x->bytes)
			return extract_fail_limit_bytes(x);
		seen_add(x, norm, SEEN_FILE);
		break;
	case AE_IFDIR:
		seen_add(x, norm, SEEN_DIR);
		break;
	case AE_IFLNK:
		if (!archive_entry_symlink(e))
			return job_fail(j, -EINVAL,
			                "archive refused: symlink '%s' has no "
			                "target",
			                name);
		seen_add(x, norm, SEEN_SYMLINK);
		break;
	default:
		return job_fail(j, -EPERM,
		                "archive refused: entry '%s' is a device, fifo "
		                "or socket",
		                name);
	}
	archive_entry_set_pathname(e, norm);
	return 0;
}

/* Copies the current entry's data, bounding the bytes written. */
static int extract_copy_data(struct extract *x, struct archive *a,
                             struct archive *w, const char *name)
{
	uint64_t extent = 0;
	const void *buf;
	size_t len;
	la_int64_t off;

	for (;;) {
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return job_fail(x->j, -EIO,
			                "archive refused: entry '%s': %s", name,
			                archive_error_string(a));
		if (off < 0 || len > UINT64_MAX - (uint64_t)off)
			return job_fail(x->j, -EINVAL,
			                "archive refused: entry '%s': bad data "
			                "offset",
			                name);
		extent = MAX(extent, (uint64_t)off + len);
		if (extent > x->j->run->lim->extract_bytes - x->bytes)
			return extract_fail_limit_bytes(x);
		if (archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN)
			return job_fail(x->j, -EIO, "cannot extract '%s': %s",
			                name, archive_error_string(w));
	}
	x->bytes += extent;
	return 0;
}

/*
 * Reads the archive and writes its entries relative to the working
 * directory, which is the staging directory. Returns 0 or a negative
 * errno with the cause set.
 */
static int extract_entries(struct extract *x)
{
	const int flags = ARCHIVE_EXTRACT_TIME |
	                  ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	                  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	struct fetch_job *j = x->j;
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	struct archive_entry *e;
	char *norm = xmalloc(FETCH_MAX_PATH + 1);
	int rc = 0;

	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	archive_write_disk_set_options(w, flags);
	if (lseek(x->archive_fd, 0, SEEK_SET) < 0 ||
	    archive_read_open_fd(a, x->archive_fd, 64 << 10) != ARCHIVE_OK) {
		rc = job_fail(j, -EINVAL, "not a readable archive: %s",
		              archive_error_string(a) ? archive_error_string(a)
		                                      : strerror(errno));
		goto out_free;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = job_fail(j, -EINVAL, "not a readable archive: %s",
			              archive_error_string(a));
			goto out_free;
		}
		if (++x->entries > j->run->lim->extract_entries) {
			rc = job_fail(
			    j, -EFBIG,
			    "archive refused: more than the limit of "
			    "%llu entries",
			    (unsigned long long)j->run->lim->extract_entries);
			goto out_free;
		}
		rc = extract_check_entry(x, e, norm, FETCH_MAX_PATH + 1);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc)
			goto out_free;
		if (archive_write_header(w, e) < ARCHIVE_WARN) {
			rc = job_fail(j, -EIO, "cannot extract '%s': %s", norm,
			              archive_error_string(w));
			goto out_free;
		}
		rc = extract_copy_data(x, a, w, norm);
		if (rc)
			goto out_free;
		if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
			rc = job_fail(j, -EIO, "cannot extract '%s': %s", norm,
			              archive_error_string(w));
			goto out_free;
		}
	}
	if (archive_write_close(w) < ARCHIVE_WARN)
		rc = job_fail(j, -EIO, "cannot extract: %s",
		              archive_error_string(w));
out_free:
	free(norm);
	archive_write_free(w);
	archive_read_free(a);
	return rc;
}

static void *extract_thread(void *arg)
{
	struct extract *x = arg;

	if (unshare(CLONE_FS)) {
		x->unshare_errno = errno;
		return NULL;
	}
	if (fchdir(x->stage_fd)) {
		x->rc = job_fail(x->j, -errno, "cannot enter '%s': %s",
		                 x->stage, strerror(errno));
		return NULL;
	}
	x->rc = extract_entries(x);
	return NULL;
}

static bool process_is_single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n == 1;
}

/* Runs extract_entries() with the staging directory as working directory
 * (see the file comment). */
static int extract_in_stage(struct extract *x)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, extract_thread, x), cwd, rc;

	if (err)
		return job_fail(x->j, -err, "cannot start a thread: %s",
		                strerror(err));
	pthread_join(t, NULL);
	if (!x->unshare_errno)
		return x->rc;
	if (!process_is_single_threaded())
		return job_fail(x->j, -x->unshare_errno,
		                "cannot extract: unshare(CLONE_FS): %s",
		                strerror(x->unshare_errno));
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return job_fail(x->j, -errno, "cannot extract: cwd: %s",
		                strerror(errno));
	if (fchdir(x->stage_fd)) {
		rc = job_fail(x->j, -errno, "cannot enter '%s': %s", x->stage,
		              strerror(errno));
	} else {
		rc = extract_entries(x);
		BUG_ON(fchdir(cwd)); /* a directory we were in a moment ago */
	}
	close(cwd);
	return rc;
}

/*
 * Compares (move = false) or merges (move = true) the staged directory
 * src into dst: what dst lacks is renamed over, directories present in
 * both are merged, files replace files. A staged directory meeting a
 * symlink or a file, or a staged file meeting a directory, refuses the
 * archive; the comparison runs first, so the merge finds no conflict
 * unless the sandbox changed meanwhile (and even then it never follows a
 * link). rel is the path so far, for messages.
 */
static int extract_merge(struct extract *x, int src, int dst, char *rel,
                         size_t rel_len, bool move, unsigned depth)
{
	struct fetch_job *j = x->j;
	int fd = fcntl(src, F_DUPFD_CLOEXEC, 0), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		rc = job_fail(j, -errno, "cannot read the staged archive: %s",
		              strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rewinddir(d); /* the dup shares the offset of the first pass */
	while (!rc && (de = readdir(d))) {
		struct stat ss, ds;
		size_t n = strlen(de->d_name);
		int s2, d2;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (rel_len + n + 2 > FETCH_MAX_PATH + 1 ||
		    depth > FETCH_MAX_DEPTH) {
			rc = job_fail(j, -ENAMETOOLONG, "path too deep");
			break;
		}
		snprintf(rel + rel_len, FETCH_MAX_PATH + 1 - rel_len, "%s%s",
		         rel_len ? "/" : "", de->d_name);
		if (fstatat(src, de->d_name, &ss, AT_SYMLINK_NOFOLLOW)) {
			rc = job_fail(j, -errno, "cannot stat '%s': %s", rel,
			              strerror(errno));
			break;
		}
		if (fstatat(dst, de->d_name, &ds, AT_SYMLINK_NOFOLLOW)) {
			if (errno != ENOENT)
				rc = job_fail(j, -errno, "cannot stat '%s': %s",
				              rel, strerror(errno));
			else if (move &&
			         renameat(src, de->d_name, dst, de->d_name))
				rc = job_fail(j, -errno,
				              "cannot move '%s' into place: %s",
				              rel, strerror(errno));
			continue;
		}
		if (S_ISDIR(ss.st_mode) && S_ISLNK(ds.st_mode)) {
			rc = job_fail(j, -EPERM,
			              "archive refused: '%s' would be written "
			              "through the symlink '%s' in the sandbox",
			              rel, rel);
			break;
		}
		if (S_ISDIR(ss.st_mode) != S_ISDIR(ds.st_mode)) {
			rc = job_fail(
			    j, -EEXIST,
			    "archive refused: '%s' conflicts with the "
			    "%s '%s' in the sandbox",
			    rel, S_ISDIR(ds.st_mode) ? "directory" : "file",
			    rel);
			break;
		}
		if (!S_ISDIR(ss.st_mode)) {
			if (move && renameat(src, de->d_name, dst, de->d_name))
				rc = job_fail(j, -errno,
				              "cannot move '%s' into place: %s",
				              rel, strerror(errno));
			continue;
		}
		s2 = openat(src, de->d_name,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d2 = openat(dst, de->d_name,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s2 < 0 || d2 < 0)
			rc = job_fail(j, -errno, "cannot open '%s': %s", rel,
			              strerror(errno));
		else
			rc = extract_merge(x, s2, d2, rel, strlen(rel), move,
			                   depth + 1);
		if (s2 >= 0)
			close(s2);
		if (d2 >= 0)
			close(d2);
	}
	closedir(d);
	rel[rel_len] = '\0';
	return rc;
}

/* Unpacks the archive open as fd into the sandbox (see the file
 * comment); nothing of it stays in the sandbox when it is refused. */
static int extract_archive(struct fetch_job *j, int fd)
{
	struct fetch_run *r = j->run;
	struct extract x = {.j = j, .archive_fd = fd, .stage_fd = -1};
	char *rel = xmalloc(FETCH_MAX_PATH + 1);
	int rc;

	hmap_init(&x.seen);
	rel[0] = '\0';
	rc = tmp_create(r->sandbox_fd, true, x.stage);
	if (rc < 0) {
		rc = job_fail(j, rc, "cannot create a staging directory: %s",
		              strerror(-rc));
		goto out_free;
	}
	x.stage_fd = openat(r->sandbox_fd, x.stage,
	                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x.stage_fd < 0) {
		rc = job_fail(j, -errno, "cannot open '%s': %s", x.stage,
		              strerror(errno));
		goto out_remove;
	}
	rc = extract_in_stage(&x);
	if (rc)
		goto out_remove;
	if (r->chown) {
		rc = tree_chown(r->sandbox_fd, x.stage, r->opts->uid,
		                r->opts->gid, 0);
		if (rc) {
			rc = job_fail(j, rc,
			              "cannot chown the extracted "
			              "files: %s",
			              strerror(-rc));
			goto out_remove;
		}
	}
	rc = extract_merge(&x, x.stage_fd, r->sandbox_fd, rel, 0, false, 0);
	if (!rc)
		rc = extract_merge(&x, x.stage_fd, r->sandbox_fd, rel, 0, true,
		                   0);
out_remove:
	if (x.stage_fd >= 0)
		close(x.stage_fd);
	tree_remove(r->sandbox_fd, x.stage, 0);
out_free:
	seen_release(&x);
	free(rel);
	return rc;
}

/* ---- one URI -------------------------------------------------------- */

/* Where a URI's content comes from. */
enum fetch_source { FETCH_LOCAL, FETCH_HTTP };

/* Classifies j->value; *path is the local path for FETCH_LOCAL. */
static int uri_source(struct fetch_job *j, enum fetch_source *src,
                      const char **path)
{
	const char *v = j->value, *scheme_end;

	if (v[0] == '/') {
		*src = FETCH_LOCAL;
		*path = v;
		return 0;
	}
	if (!strncasecmp(v, "file://", 7)) {
		v += 7;
		if (!strncasecmp(v, "localhost/", 10))
			v += 9;
		if (v[0] != '/')
			return job_fail(
			    j, -EINVAL,
			    "a file URI must name an absolute path");
		*src = FETCH_LOCAL;
		*path = v;
		return 0;
	}
	if (!strncasecmp(v, "http://", 7) || !strncasecmp(v, "https://", 8)) {
		*src = FETCH_HTTP;
		*path = NULL;
		return 0;
	}
	scheme_end = strstr(v, "://");
	if (scheme_end)
		return job_fail(j, -EPROTONOSUPPORT,
		                "unsupported scheme '%.*s'",
		                (int)(scheme_end - v), v);
	return job_fail(j, -EINVAL, "must be an absolute path or a URL");
}

/* Sets j->out: output_file, or the URI's last path segment. */
static int uri_output(struct fetch_job *j, const json_t *u,
                      enum fetch_source src, const char *path)
{
	const json_t *out = json_object_get(u, "output_file");
	const char *start, *end, *slash, *why;
	char name[NAME_MAX + 1];
	size_t len;

	if (out) { /* fetcher_validate: relative, no "..", names a file */
		why = path_normalize(json_string_value(out), j->out,
		                     sizeof(j->out));
		BUG_ON(why);
		return 0;
	}
	if (src == FETCH_LOCAL) {
		start = path;
	} else {
		start = strstr(j->value, "://") + 3;
		start += strcspn(start, "/?#");
	}
	end = start + strcspn(start, src == FETCH_LOCAL ? "" : "?#");
	slash = start;
	for (const char *p = start; p < end; p++)
		if (*p == '/')
			slash = p + 1;
	len = (size_t)(end - slash);
	if (len == 0 || len > NAME_MAX)
		return job_fail(j, -EINVAL,
		                "cannot name the file after the URI; set "
		                "output_file");
	memcpy(name, slash, len);
	name[len] = '\0';
	if (streq(name, ".") || streq(name, ".."))
		return job_fail(j, -EINVAL,
		                "cannot name the file after the URI; set "
		                "output_file");
	memcpy(j->out, name, len + 1);
	return 0;
}

/* Opens a local source: a regular file. */
static int local_open(struct fetch_job *j, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return job_fail(j, -errno, "cannot open '%s': %s", path,
		                strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = S_ISREG(st.st_mode) ? errno : EISDIR;
		close(fd);
		return job_fail(j, -err, "'%s' is not a regular file", path);
	}
	return fd;
}

static int fetch_one(struct fetch_job *j, const json_t *u)
{
	struct fetch_run *r = j->run;
	enum fetch_source source = FETCH_LOCAL;
	const char *path = NULL, *leaf = NULL;
	char tmp[FETCH_TMP_NAME_MAX];
	int dir_fd, src_fd = -1, fd, rc;
	bool hit = false, direct = false;

	rc = uri_source(j, &source, &path);
	if (!rc)
		rc = uri_output(j, u, source, path);
	if (rc)
		return rc;
	dir_fd = dest_dir_open(j, &leaf);
	if (dir_fd < 0)
		return dir_fd;

	if (source == FETCH_LOCAL)
		src_fd = local_open(j, path);
	else if (j->cache && r->opts->cache_dir)
		src_fd = cache_fetch(j, &hit);
	else
		direct = true; /* downloaded straight into the sandbox */
	if (src_fd < 0 && !direct) {
		rc = src_fd;
		goto out_close_dir;
	}

	fd = tmp_create(dir_fd, false, tmp);
	if (fd < 0) {
		rc = job_fail(j, fd, "cannot create a file in the sandbox: %s",
		              strerror(-fd));
		goto out_close_src;
	}
	if (src_fd >= 0) {
		rc = fd_copy(src_fd, fd);
		if (rc)
			job_fail(j, rc, "cannot copy into the sandbox: %s",
			         strerror(-rc));
	} else {
		rc = download(j, fd);
	}
	if (rc)
		goto out_unlink;
	if (fchmod(fd, j->executable ? 0755 : 0644) ||
	    (r->chown && fchown(fd, r->opts->uid, r->opts->gid))) {
		rc = job_fail(j, -errno,
		              "cannot set the mode or owner of "
		              "'%s': %s",
		              j->out, strerror(errno));
		goto out_unlink;
	}
	if (renameat(dir_fd, tmp, dir_fd, leaf)) {
		rc = job_fail(j, -errno, "cannot write '%s': %s", j->out,
		              strerror(errno));
		goto out_unlink;
	}
	if (hit)
		r->stats->from_cache++;
	else
		r->stats->fetched++;
	if (!j->executable && j->extract && archive_is_wanted(leaf, fd)) {
		rc = extract_archive(j, fd);
		if (!rc)
			r->stats->extracted++;
	}
	close(fd);
	goto out_close_src;

out_unlink:
	(void)unlinkat(dir_fd, tmp, 0);
	close(fd);
out_close_src:
	if (src_fd >= 0)
		close(src_fd);
out_close_dir:
	close(dir_fd);
	return rc;
}

/* ---- entry points --------------------------------------------------- */

/*
 * fetcher_run() with explicit limits: extracted bytes and entries per
 * archive, and the stall timeout in seconds. For tests (which cannot
 * wait 60 s or write 10 GiB); declared here rather than in fetcher.h.
 */
int fetcher_run_limited(const json_t *uris, const struct fetcher_opts *opts,
                        uint64_t extract_bytes, uint64_t extract_entries,
                        long stall_seconds, struct fetcher_stats *stats,
                        char *msg, size_t msg_len);

int fetcher_run_limited(const json_t *uris, const struct fetcher_opts *opts,
                        uint64_t extract_bytes, uint64_t extract_entries,
                        long stall_seconds, struct fetcher_stats *stats,
                        char *msg, size_t msg_len)
{
	struct fetch_limits lim = {extract_bytes, extract_entries,
	                           stall_seconds};
	struct fetcher_stats scratch;
	struct fetch_run r = {.opts = opts, .lim = &lim};
	struct fetch_job *j;
	const json_t *u;
	size_t i;
	int rc;

	r.stats = stats ? stats : &scratch;
	memset(r.stats, 0, sizeof(*r.stats));
	if (msg && msg_len)
		msg[0] = '\0';
	rc = fetcher_validate(uris, msg, msg_len);
	if (rc || !uris || !json_array_size(uris))
		return rc;
	if (!opts || !opts->sandbox || opts->sandbox[0] != '/')
		return msg_set(msg, msg_len, -EINVAL,
		               "sandbox: must be an absolute path");
	r.sandbox_fd = open(opts->sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.sandbox_fd < 0)
		return msg_set(msg, msg_len, -errno, "sandbox '%s': %s",
		               opts->sandbox, strerror(errno));
	r.chown = opts->uid != (uid_t)-1 || opts->gid != (gid_t)-1;
	r.cache.dir_fd = r.cache.lock_fd = -1;
	r.cache.max_bytes = opts->cache_max_bytes ? opts->cache_max_bytes
	                                          : FETCH_CACHE_DEFAULT_BYTES;

	j = xcalloc(1, sizeof(*j));
	json_array_foreach(uris, i, u)
	{
		const json_t *extract = json_object_get(u, "extract");

		memset(j, 0, sizeof(*j));
		j->run = &r;
		j->value = json_string_value(json_object_get(u, "value"));
		j->executable = json_is_true(json_object_get(u, "executable"));
		j->extract = !extract || json_is_true(extract);
		j->cache = json_is_true(json_object_get(u, "cache"));
		rc = fetch_one(j, u);
		if (rc) {
			msg_set(msg, msg_len, rc, "%s: %s", j->value, j->msg);
			break;
		}
	}
	free(j);
	cache_close(&r.cache);
	close(r.sandbox_fd);
	return rc;
}

int fetcher_run(const json_t *uris, const struct fetcher_opts *opts,
                struct fetcher_stats *stats, char *msg, size_t msg_len)
{
	return fetcher_run_limited(uris, opts, FETCH_EXTRACT_MAX_BYTES,
	                           FETCH_EXTRACT_MAX_ENTRIES,
	                           FETCH_STALL_SECONDS, stats, msg, msg_len);
}
