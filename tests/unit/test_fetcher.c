/*
 * test_fetcher.c: the fetcher against a tiny HTTP server of its own (a
 * thread on 127.0.0.1:0 serving files, a 302, a redirect loop, a 404, a
 * stalled and a slow response) and archives written at test time with
 * libarchive's writer: validation (table), downloads, errors naming the
 * status, output_file and executable, local copies, extraction of
 * tar.gz / tar.xz / zip and by content, malicious archives (each must
 * leave nothing behind), the extraction limits, the cache (hit, LRU
 * eviction, sha256 key) and ownership when running as root.
 */
#include "lib/compat.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "executor/fetcher.h"

/* The test hook of fetcher.c (not in fetcher.h). */
int fetcher_run_limited(const json_t *uris, const struct fetcher_opts *opts,
                        uint64_t extract_bytes, uint64_t extract_entries,
                        long stall_seconds, struct fetcher_stats *stats,
                        char *msg, size_t msg_len);

/* ---- a tiny HTTP server ---------------------------------------------- */

#define SRV_MAX 32

struct srv_file {
	char path[128];
	char *body;
	size_t len;
};

struct srv_hit {
	char path[128];
	int count;
};

struct server {
	int listen_fd;
	int stop[2];
	int port;
	pthread_t thread;
	pthread_mutex_t mu;
	struct srv_file files[SRV_MAX];
	size_t nfiles;
	struct srv_hit hits[SRV_MAX];
	size_t nhits;
};

static void srv_send(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void srv_sendf(int fd, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void srv_sendf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	srv_send(fd, buf, (size_t)n);
}

/* Waits up to ms for the client to go away or the server to stop. */
static void srv_wait(struct server *s, int fd, int ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
	                      {.fd = s->stop[0], .events = POLLIN}};
	char b[256];

	while (poll(p, 2, ms) > 0) {
		if (p[1].revents || recv(fd, b, sizeof(b), 0) <= 0)
			return;
	}
}

static void srv_handle(struct server *s, int fd)
{
	char req[2048], path[128] = "";
	size_t len = 0;
	struct srv_file *f = NULL;

	while (len < sizeof(req) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return;
		n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET %127s ", path) != 1)
		return;
	path[strcspn(path, "?")] = '\0';
	pthread_mutex_lock(&s->mu);
	size_t i;
	for (i = 0; i < s->nhits; i++)
		if (streq(s->hits[i].path, path))
			break;
	if (i == s->nhits && s->nhits < SRV_MAX) {
		snprintf(s->hits[i].path, sizeof(s->hits[i].path), "%s", path);
		s->nhits++;
	}
	if (i < SRV_MAX)
		s->hits[i].count++;
	for (i = 0; i < s->nfiles; i++)
		if (streq(s->files[i].path, path))
			f = &s->files[i];
	pthread_mutex_unlock(&s->mu);

	if (!strncmp(path, "/redirect/", 10)) {
		srv_sendf(fd,
		          "HTTP/1.1 302 Found\r\nLocation: /files/%s\r\n"
		          "Content-Length: 0\r\nConnection: close\r\n\r\n",
		          path + 10);
	} else if (streq(path, "/loop")) {
		srv_sendf(fd, "HTTP/1.1 302 Found\r\nLocation: /loop\r\n"
		              "Content-Length: 0\r\nConnection: close\r\n\r\n");
	} else if (streq(path, "/stall")) {
		srv_sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
		              "Connection: close\r\n\r\n0123456789");
		srv_wait(s, fd, 15000);
	} else if (streq(path, "/slow")) {
		srv_sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		              "Connection: close\r\n\r\n");
		for (int k = 0; k < 5; k++) {
			struct timespec ts = {0, 150 * 1000 * 1000};
			nanosleep(&ts, NULL);
			srv_send(fd, "abcde" + k, 1);
		}
	} else if (f) {
		srv_sendf(fd,
		          "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		          "Connection: close\r\n\r\n",
		          f->len);
		srv_send(fd, f->body, f->len);
	} else {
		srv_sendf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
		              "Connection: close\r\n\r\nnot found");
	}
}

static void *srv_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->listen_fd, .events = POLLIN},
		                      {.fd = s->stop[0], .events = POLLIN}};
		int fd;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		srv_handle(s, fd);
		close(fd);
	}
}

static struct server *srv_start(void)
{
	struct server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->listen_fd >= 0);
	assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)),
	                 0);
	assert_int_equal(listen(s->listen_fd, 16), 0);
	assert_int_equal(
	    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct server *s)
{
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->stop[0]);
	close(s->stop[1]);
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].body);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void srv_add(struct server *s, const char *path, const void *body,
                    size_t len)
{
	pthread_mutex_lock(&s->mu);
	BUG_ON(s->nfiles == SRV_MAX);
	snprintf(s->files[s->nfiles].path, sizeof(s->files[0].path), "%s",
	         path);
	s->files[s->nfiles].body = xmalloc(len + 1);
	memcpy(s->files[s->nfiles].body, body, len);
	s->files[s->nfiles].len = len;
	s->nfiles++;
	pthread_mutex_unlock(&s->mu);
}

static int srv_hits(struct server *s, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nhits; i++)
		if (streq(s->hits[i].path, path))
			n = s->hits[i].count;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static char *srv_url(struct server *s, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", s->port, path);
}

/* ---- files ------------------------------------------------------------ */

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static void rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under TMPDIR; the caller frees and removes it. */
static char *tmp_dir(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/fetcher-test-XXXXXX", base ? base : "/tmp");

	assert_non_null(mkdtemp(t));
	return t;
}

static char *path_join(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

static char *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		ALLOC_GROW(data, n + 4097, cap);
		r = fread(data + n, 1, 4096, f);
		n += r;
	} while (r > 0);
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

static void file_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void assert_file(const char *dir, const char *name, const char *want)
{
	char *p = path_join(dir, name);
	char *got = file_read(p, NULL);

	if (!got)
		fail_msg("missing file '%s'", p);
	assert_string_equal(got, want);
	free(got);
	free(p);
}

static bool exists(const char *dir, const char *name)
{
	struct stat st;
	char *p = path_join(dir, name);
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

static mode_t mode_of(const char *dir, const char *name)
{
	struct stat st;
	char *p = path_join(dir, name);

	if (lstat(p, &st))
		fail_msg("missing '%s'", p);
	free(p);
	return st.st_mode;
}

/* Number of entries in dir, without "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- archives --------------------------------------------------------- */

enum ent_type { ENT_FILE, ENT_DIR, ENT_SYMLINK, ENT_HARDLINK, ENT_FIFO };

struct ent {
	enum ent_type type;
	const char *name;
	const char *data; /* content, or the link's target */
	mode_t mode;      /* 0 = 0644 / 0755 */
};

enum fmt { FMT_TAR, FMT_TGZ, FMT_TXZ, FMT_ZIP };

/* Writes an archive of ents to path with libarchive's writer. */
static void make_archive(const char *path, enum fmt fmt, const struct ent *ents,
                         size_t n)
{
	struct archive *a = archive_write_new();

	if (fmt == FMT_ZIP)
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_set_format_pax_restricted(a),
		                 ARCHIVE_OK);
	if (fmt == FMT_TGZ)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	if (fmt == FMT_TXZ)
		assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = 0;

		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (ents[i].type) {
		case ENT_FILE:
			len = strlen(ents[i].data);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, ents[i].mode ? ents[i].mode
			                                       : 0644);
			archive_entry_set_size(e, (la_int64_t)len);
			break;
		case ENT_DIR:
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
			break;
		case ENT_SYMLINK:
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, ents[i].data);
			break;
		case ENT_HARDLINK:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, ents[i].data);
			archive_entry_set_size(e, 0);
			break;
		case ENT_FIFO:
			archive_entry_set_filetype(e, AE_IFIFO);
			archive_entry_set_perm(e, 0644);
			break;
		}
		assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (len)
			assert_int_equal(
			    archive_write_data(a, ents[i].data, len),
			    (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* ---- fetching helpers ------------------------------------------------- */

struct fx {
	struct server *srv;
	char *root;    /* everything of the test lives here */
	char *sandbox; /* root/sandbox */
	char *outside; /* root/outside: must stay empty */
	char *cache;   /* root/cache (not created) */
	struct fetcher_opts opts;
	struct fetcher_stats stats;
	char msg[1024];
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->srv = srv_start();
	f->root = tmp_dir();
	f->sandbox = path_join(f->root, "sandbox");
	f->outside = path_join(f->root, "outside");
	f->cache = path_join(f->root, "cache");
	assert_int_equal(mkdir(f->sandbox, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	f->opts.sandbox = f->sandbox;
	f->opts.uid = (uid_t)-1;
	f->opts.gid = (gid_t)-1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	srv_stop(f->srv);
	rm_tree(f->root);
	free(f->root);
	free(f->sandbox);
	free(f->outside);
	free(f->cache);
	free(f);
	return 0;
}

/* Empties the sandbox between cases. */
static void fx_clear(struct fx *f)
{
	rm_tree(f->sandbox);
	assert_int_equal(mkdir(f->sandbox, 0755), 0);
}

/* Fetches one URI given as JSON (printf-style) with the defaults. */
static int fx_fetch(struct fx *f, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int fx_fetch(struct fx *f, const char *fmt, ...)
{
	json_error_t je;
	va_list ap;
	char *text;
	json_t *uris;
	int rc;

	va_start(ap, fmt);
	assert_true(vasprintf(&text, fmt, ap) >= 0);
	va_end(ap);
	uris = json_loads(text, 0, &je);
	if (!uris)
		fail_msg("bad test JSON %s: %s", text, je.text);
	rc = fetcher_run(uris, &f->opts, &f->stats, f->msg, sizeof(f->msg));
	json_decref(uris);
	free(text);
	return rc;
}

static void assert_msg_has(const struct fx *f, const char *part)
{
	if (!strstr(f->msg, part))
		fail_msg("message '%s' lacks '%s'", f->msg, part);
}

/* ---- validation ------------------------------------------------------- */

static void test_validate(void **state)
{
	static const struct {
		const char *json;
		const char *msg; /* NULL = valid */
	} cases[] = {
	    {"[]", NULL},
	    {"[{\"value\":\"http://h/a.tgz\"}]", NULL},
	    {"[{\"value\":\"/x\",\"output_file\":\"a/./b/c\",\"cache\":true,"
	     "\"extract\":false,\"executable\":true}]",
	     NULL},
	    {"[{\"value\":\"/x\",\"executable\":true,\"extract\":false}]",
	     NULL},
	    {"{}", "uris: must be an array"},
	    {"[1]", "uris[0]: must be an object"},
	    {"[{\"value\":\"/a\"},{}]", "uris[1].value: is required"},
	    {"[{\"value\":3}]", "uris[0].value: must be a string"},
	    {"[{\"value\":\"\"}]", "uris[0].value: must not be empty"},
	    {"[{\"value\":\"/a\\u0000b\"}]",
	     "uris[0].value: must not contain NUL"},
	    {"[{\"value\":\"/a\",\"extract\":\"yes\"}]",
	     "uris[0].extract: must be a boolean"},
	    {"[{\"value\":\"/a\",\"cache\":1}]",
	     "uris[0].cache: must be a boolean"},
	    {"[{\"value\":\"/a\",\"executable\":null}]",
	     "uris[0].executable: must be a boolean"},
	    {"[{\"value\":\"/a\",\"output_file\":7}]",
	     "uris[0].output_file: must be a string"},
	    {"[{\"value\":\"/a\",\"output_file\":\"/etc/x\"}]",
	     "uris[0].output_file: '/etc/x' is absolute"},
	    {"[{\"value\":\"/a\",\"output_file\":\"a/../../x\"}]",
	     "uris[0].output_file: 'a/../../x' contains '..'"},
	    {"[{\"value\":\"/a\",\"output_file\":\"..\"}]",
	     "uris[0].output_file: '..' contains '..'"},
	    {"[{\"value\":\"/a\",\"output_file\":\"\"}]",
	     "uris[0].output_file: '' does not name a file"},
	    {"[{\"value\":\"/a\",\"output_file\":\"./\"}]",
	     "uris[0].output_file: './' does not name a file"},
	    {"[{\"value\":\"/a\",\"output_file\":\"dir/\"}]",
	     "uris[0].output_file: 'dir/' does not name a file"},
	    {"[{\"value\":\"/a\",\"output_file\":\"a\\u0000b\"}]",
	     "uris[0].output_file: must not contain NUL"},
	    {"[{\"value\":\"/a\",\"executable\":true,\"extract\":true}]",
	     "uris[0]: extract and executable are exclusive"},
	};
	char msg[1024];

	(void)state;
	assert_int_equal(fetcher_validate(NULL, msg, sizeof(msg)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_error_t je;
		json_t *j = json_loads(cases[i].json,
		                       JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		int rc;

		if (!j)
			fail_msg("bad test JSON %s: %s", cases[i].json,
			         je.text);
		msg[0] = '\0';
		rc = fetcher_validate(j, msg, sizeof(msg));
		if (!cases[i].msg) {
			if (rc)
				fail_msg("%s: unexpected '%s'", cases[i].json,
				         msg);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(msg, cases[i].msg);
		}
		json_decref(j);
	}
	/* A deep output_file is refused, a long name too. */
	{
		char deep[600] = "";
		json_t *j;

		for (int i = 0; i < 200; i++)
			memcpy(deep + 2 * i, "d/", 2);
		deep[399] = '\0';
		j = json_pack("[{s:s, s:s}]", "value", "/a", "output_file",
		              deep);
		assert_int_equal(fetcher_validate(j, msg, sizeof(msg)),
		                 -EINVAL);
		assert_non_null(strstr(msg, "is too deep"));
		json_decref(j);
	}
}

static void test_run_bad_opts(void **state)
{
	struct fx *f = *state;
	json_t *empty = json_array();

	f->stats.fetched = 7;
	assert_int_equal(
	    fetcher_run(NULL, &f->opts, &f->stats, f->msg, sizeof(f->msg)), 0);
	assert_int_equal(f->stats.fetched, 0);
	assert_int_equal(fetcher_run(empty, NULL, NULL, NULL, 0), 0);
	json_decref(empty);

	f->opts.sandbox = "relative/dir";
	assert_int_equal(fx_fetch(f, "[{\"value\":\"/etc/hostname\"}]"),
	                 -EINVAL);
	assert_string_equal(f->msg, "sandbox: must be an absolute path");
	f->opts.sandbox = f->outside;
	char *missing = path_join(f->root, "missing");
	f->opts.sandbox = missing;
	assert_int_equal(fx_fetch(f, "[{\"value\":\"/etc/hostname\"}]"),
	                 -ENOENT);
	assert_msg_has(f, "sandbox '");
	free(missing);
	f->opts.sandbox = f->sandbox;
	/* Validation runs first and names the element. */
	assert_int_equal(fx_fetch(f, "[{\"value\":\"/a\",\"cache\":\"no\"}]"),
	                 -EINVAL);
	assert_string_equal(f->msg, "uris[0].cache: must be a boolean");
	assert_int_equal(count_entries(f->sandbox), 0);
}

/* ---- downloads -------------------------------------------------------- */

static void test_download(void **state)
{
	struct fx *f = *state;
	char *url;

	srv_add(f->srv, "/files/hello.txt", "hello world\n", 12);
	url = srv_url(f->srv, "/files/hello.txt?x=1#frag");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", url), 0);
	assert_file(f->sandbox, "hello.txt", "hello world\n");
	assert_int_equal(mode_of(f->sandbox, "hello.txt") & 07777, 0644);
	assert_int_equal(f->stats.fetched, 1);
	assert_int_equal(f->stats.from_cache, 0);
	assert_int_equal(f->stats.extracted, 0);
	assert_int_equal(count_entries(f->sandbox), 1); /* no temp file */
	free(url);

	/* Redirected: named after the URI asked for. */
	url = srv_url(f->srv, "/redirect/hello.txt");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", url), 0);
	assert_file(f->sandbox, "hello.txt", "hello world\n");
	assert_int_equal(srv_hits(f->srv, "/redirect/hello.txt"), 1);
	free(url);

	/* output_file into new directories, executable. */
	url = srv_url(f->srv, "/files/hello.txt");
	assert_int_equal(
	    fx_fetch(f,
	             "[{\"value\":\"%s\",\"output_file\":\"bin/x/tool\","
	             "\"executable\":true}]",
	             url),
	    0);
	assert_file(f->sandbox, "bin/x/tool", "hello world\n");
	assert_int_equal(mode_of(f->sandbox, "bin/x/tool") & 07777, 0755);
	assert_true(S_ISDIR(mode_of(f->sandbox, "bin/x")));
	free(url);
	fx_clear(f);
}

static void test_download_errors(void **state)
{
	struct fx *f = *state;
	char *url, *want;
	int fd, port;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	url = srv_url(f->srv, "/files/nope.tgz");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", url), -EIO);
	want = xasprintf("%s: HTTP status 404 Not Found", url);
	assert_string_equal(f->msg, want);
	assert_int_equal(count_entries(f->sandbox), 0);
	free(want);
	free(url);

	url = srv_url(f->srv, "/loop");
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"l\"}]",
	                          url),
	                 -EIO);
	assert_msg_has(f, "redirect");
	assert_int_equal(srv_hits(f->srv, "/loop"), 11);
	free(url);

	/* A port nobody listens on. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	close(fd);
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"http://127.0.0.1:%d/f\"}]", port), -EIO);
	assert_msg_has(f, "download failed: ");

	/* No name to take from the URI. */
	url = srv_url(f->srv, "/");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", url), -EINVAL);
	assert_msg_has(f, "set output_file");
	free(url);

	assert_int_equal(fx_fetch(f, "[{\"value\":\"ftp://h/x\"}]"),
	                 -EPROTONOSUPPORT);
	assert_string_equal(f->msg, "ftp://h/x: unsupported scheme 'ftp'");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"x.tgz\"}]"), -EINVAL);
	assert_string_equal(f->msg, "x.tgz: must be an absolute path or a URL");
	assert_int_equal(count_entries(f->sandbox), 0);
}

static void test_stall_and_slow(void **state)
{
	struct fx *f = *state;
	char *url = srv_url(f->srv, "/stall");
	json_t *uris = json_pack("[{s:s}]", "value", url);
	time_t t0 = time(NULL);

	assert_int_equal(fetcher_run_limited(uris, &f->opts, 1 << 20, 100, 1,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 -ETIMEDOUT);
	assert_true(time(NULL) - t0 < 10);
	assert_msg_has(f, "download failed: ");
	assert_int_equal(count_entries(f->sandbox), 0);
	json_decref(uris);
	free(url);

	/* Slow but moving: fine with the same stall limit. */
	url = srv_url(f->srv, "/slow");
	uris = json_pack("[{s:s}]", "value", url);
	assert_int_equal(fetcher_run_limited(uris, &f->opts, 1 << 20, 100, 1,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 0);
	assert_file(f->sandbox, "slow", "abcde");
	json_decref(uris);
	free(url);
	fx_clear(f);
}

static void test_local(void **state)
{
	struct fx *f = *state;
	char *src = path_join(f->outside, "local.txt");
	char *dir = path_join(f->outside, "adir");

	file_write(src, "local\n", 6);
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", src), 0);
	assert_file(f->sandbox, "local.txt", "local\n");
	assert_int_equal(
	    fx_fetch(f,
	             "[{\"value\":\"file://%s\",\"output_file\":\"b\"},"
	             "{\"value\":\"file://localhost%s\","
	             "\"output_file\":\"c\"}]",
	             src, src),
	    0);
	assert_file(f->sandbox, "b", "local\n");
	assert_file(f->sandbox, "c", "local\n");
	assert_int_equal(f->stats.fetched, 2);

	/* The second URI fails; the first stays. */
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":\"d\"},"
	                          "{\"value\":\"%s.missing\"}]",
	                          src, src),
	                 -ENOENT);
	assert_file(f->sandbox, "d", "local\n");
	assert_msg_has(f, ".missing: cannot open '");
	assert_int_equal(fx_fetch(f, "[{\"value\":\"file://rel/x\"}]"),
	                 -EINVAL);
	assert_msg_has(f, "a file URI must name an absolute path");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", dir), -EISDIR);
	assert_msg_has(f, "is not a regular file");
	rmdir(dir);

	/* A symlink in the sandbox is never written through. */
	char *link = path_join(f->sandbox, "link");
	assert_int_equal(symlink(f->outside, link), 0);
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"link/x\"}]",
	                          src),
	                 -ENOTDIR);
	assert_msg_has(f, "'link' is a symlink or not a directory");
	assert_false(exists(f->outside, "x"));
	/* ... but an output file replaces a link rather than following it. */
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"link\"}]",
	                          src),
	                 0);
	assert_true(S_ISREG(mode_of(f->sandbox, "link")));
	assert_int_equal(count_entries(f->outside), 1);
	free(link);
	free(src);
	free(dir);
	fx_clear(f);
}

/* ---- extraction ------------------------------------------------------- */

static const struct ent good_ents[] = {
    {ENT_DIR, "app", NULL, 0},
    {ENT_FILE, "app/run.sh", "#!/bin/sh\necho hi\n", 0755},
    {ENT_FILE, "app/conf/app.conf", "port=1\n", 0},
    {ENT_SYMLINK, "app/current", "run.sh", 0},
    {ENT_FILE, "./top.txt", "top\n", 0},
    {ENT_HARDLINK, "app/run2.sh", "app/run.sh", 0}, /* last: not in zip */
};

static void assert_good_tree(const char *sandbox)
{
	char *p = path_join(sandbox, "app/current"), target[64];
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	struct stat a, b;
	char *p1 = path_join(sandbox, "app/run.sh");
	char *p2 = path_join(sandbox, "app/run2.sh");

	assert_file(sandbox, "app/run.sh", "#!/bin/sh\necho hi\n");
	assert_int_equal(mode_of(sandbox, "app/run.sh") & 0111, 0111);
	assert_file(sandbox, "app/conf/app.conf", "port=1\n");
	assert_file(sandbox, "top.txt", "top\n");
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "run.sh");
	assert_int_equal(stat(p1, &a), 0);
	assert_int_equal(stat(p2, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	free(p);
	free(p1);
	free(p2);
}

static void test_extract_formats(void **state)
{
	static const struct {
		enum fmt fmt;
		const char *name;
		bool hardlinks;
	} cases[] = {
	    {FMT_TGZ, "a.tar.gz", true}, {FMT_TGZ, "b.tgz", true},
	    {FMT_TXZ, "c.tar.xz", true}, {FMT_TAR, "d.tar", true},
	    {FMT_ZIP, "e.zip", false},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *local = path_join(f->outside, cases[i].name);
		char *path = xasprintf("/files/%s", cases[i].name);
		char *url = srv_url(f->srv, path);
		size_t len;
		char *data;

		make_archive(local, cases[i].fmt, good_ents,
		             ARRAY_SIZE(good_ents) - !cases[i].hardlinks);
		data = file_read(local, &len);
		srv_add(f->srv, path, data, len);
		if (fx_fetch(f, "[{\"value\":\"%s\"}]", url))
			fail_msg("%s: %s", cases[i].name, f->msg);
		assert_int_equal(f->stats.extracted, 1);
		assert_true(exists(f->sandbox, cases[i].name));
		assert_file(f->sandbox, "app/conf/app.conf", "port=1\n");
		assert_file(f->sandbox, "top.txt", "top\n");
		assert_file(f->sandbox, "app/run.sh", "#!/bin/sh\necho hi\n");
		if (cases[i].hardlinks)
			assert_good_tree(f->sandbox);
		/* archive, app, top.txt: no staging directory left */
		assert_int_equal(count_entries(f->sandbox), 3);
		fx_clear(f);
		unlink(local);
		free(data);
		free(url);
		free(path);
		free(local);
	}
}

static void test_extract_choice(void **state)
{
	struct fx *f = *state;
	char *tgz = path_join(f->outside, "x.tgz");
	char *zip = path_join(f->outside, "x.zip");
	static const struct ent one[] = {{ENT_FILE, "inner.txt", "in\n", 0}};

	make_archive(tgz, FMT_TGZ, one, 1);
	make_archive(zip, FMT_ZIP, one, 1);

	/* A tar by content, whatever its name. */
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"bundle\"}]",
	                          tgz),
	                 0);
	assert_int_equal(f->stats.extracted, 1);
	assert_file(f->sandbox, "inner.txt", "in\n");
	fx_clear(f);
	/* A zip by name only: a .jar stays whole. */
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"app.jar\"}]",
	                          zip),
	                 0);
	assert_int_equal(f->stats.extracted, 0);
	assert_int_equal(count_entries(f->sandbox), 1);
	/* extract false, and executable, keep the archive as is. */
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"%s\",\"extract\":false}]", tgz), 0);
	assert_int_equal(f->stats.extracted, 0);
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"executable\":true,"
	                          "\"output_file\":\"y.tgz\"}]",
	                          tgz),
	                 0);
	assert_int_equal(f->stats.extracted, 0);
	assert_int_equal(mode_of(f->sandbox, "y.tgz") & 07777, 0755);
	assert_false(exists(f->sandbox, "inner.txt"));
	/* Not an archive though named one. */
	char *bad = path_join(f->outside, "bad.tar.gz");
	file_write(bad, "this is not gzip at all", 23);
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", bad), -EINVAL);
	assert_msg_has(f, "not a readable archive");
	/* A plain file is not extracted and not an error. */
	char *plain = path_join(f->outside, "notes");
	file_write(plain, "plain text\n", 11);
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", plain), 0);
	assert_int_equal(f->stats.extracted, 0);
	assert_file(f->sandbox, "notes", "plain text\n");
	free(plain);
	free(bad);
	free(tgz);
	free(zip);
	fx_clear(f);
}

static void test_extract_malicious(void **state)
{
	struct fx *f = *state;
	char evil_abs[160], evil_tmp[64], evil_link[80], tmp_base[96];
	const char *t = getenv("TMPDIR");

	snprintf(tmp_base, sizeof(tmp_base), "%s", t ? t : "/tmp");
	snprintf(evil_abs, sizeof(evil_abs), "%s/fetcher-evil-abs-%d", tmp_base,
	         (int)getpid());
	snprintf(evil_tmp, sizeof(evil_tmp), "fetcher-evil-%d", (int)getpid());
	snprintf(evil_link, sizeof(evil_link), "link/%s", evil_tmp);
	const struct {
		struct ent ents[3];
		size_t n;
		const char *want;
	} cases[] = {
	    {{{ENT_FILE, "../evil", "x", 0}},
	     1,
	     "archive refused: entry '../evil' contains '..'"},
	    {{{ENT_FILE, "ok/../../evil", "x", 0}},
	     1,
	     "archive refused: entry 'ok/../../evil' contains '..'"},
	    {{{ENT_FILE, evil_abs, "x", 0}}, 1, "is absolute"},
	    {{{ENT_SYMLINK, "link", tmp_base, 0},
	      {ENT_FILE, evil_link, "x", 0}},
	     2,
	     "passes through the symlink 'link' of the archive"},
	    {{{ENT_SYMLINK, "link", tmp_base, 0},
	      {ENT_DIR, "link/sub", NULL, 0}},
	     2,
	     "passes through the symlink 'link' of the archive"},
	    {{{ENT_HARDLINK, "passwd", "/etc/passwd", 0}},
	     1,
	     "entry 'passwd' is a hardlink to '/etc/passwd', which is "
	     "absolute"},
	    {{{ENT_HARDLINK, "h", "../../x", 0}},
	     1,
	     "is a hardlink to '../../x', which contains '..'"},
	    {{{ENT_HARDLINK, "h", "later", 0}, {ENT_FILE, "later", "x", 0}},
	     2,
	     "is a hardlink to 'later', not a file extracted before it"},
	    {{{ENT_SYMLINK, "l", "/etc/passwd", 0},
	      {ENT_HARDLINK, "h", "l", 0}},
	     2,
	     "is a hardlink to 'l', not a file extracted before it"},
	    {{{ENT_FILE, "f", "x", 0}, {ENT_FILE, "f/g", "y", 0}},
	     2,
	     "passes through the file 'f' of the archive"},
	    {{{ENT_FILE, "good", "x", 0}, {ENT_FIFO, "fifo", NULL, 0}},
	     2,
	     "entry 'fifo' is a device, fifo or socket"},
	    {{{ENT_FILE, ".", "x", 0}}, 1, "names the sandbox itself"},
	    {{{ENT_DIR, ".atoll-fetch-0123", NULL, 0}}, 1, "reserved name"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *arch = path_join(f->outside, "m.tar");
		char *evil = path_join(tmp_base, evil_tmp);

		make_archive(arch, FMT_TAR, cases[i].ents, cases[i].n);
		assert_true(fx_fetch(f, "[{\"value\":\"%s\"}]", arch) < 0);
		if (!strstr(f->msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, f->msg,
			         cases[i].want);
		/* Nothing but the archive itself. */
		assert_int_equal(count_entries(f->sandbox), 1);
		assert_true(exists(f->sandbox, "m.tar"));
		assert_int_equal(count_entries(f->outside), 1);
		assert_int_equal(access(evil, F_OK), -1);
		assert_int_equal(access(evil_abs, F_OK), -1);
		assert_int_equal(f->stats.extracted, 0);
		unlink(arch);
		free(arch);
		free(evil);
		fx_clear(f);
	}
}

static void test_extract_sandbox_links(void **state)
{
	struct fx *f = *state;
	char *arch = path_join(f->outside, "s.tar");
	char *link = path_join(f->sandbox, "pre");
	char *dir = path_join(f->sandbox, "conf");
	char *file = path_join(f->sandbox, "conf/old");
	static const struct ent through[] = {
	    {ENT_FILE, "ok.txt", "ok", 0},
	    {ENT_FILE, "pre/x", "x", 0},
	};
	static const struct ent merge[] = {
	    {ENT_FILE, "conf/new", "new", 0},
	    {ENT_FILE, "conf/old", "replaced", 0},
	    {ENT_SYMLINK, "pre", "conf", 0},
	};
	static const struct ent conflict[] = {
	    {ENT_FILE, "z/ok", "ok", 0},
	    {ENT_DIR, "conf/old", NULL, 0},
	};

	/* A symlink already in the sandbox is not a way out. */
	assert_int_equal(symlink(f->outside, link), 0);
	make_archive(arch, FMT_TAR, through, ARRAY_SIZE(through));
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", arch), -EPERM);
	assert_msg_has(f, "'pre' would be written through the symlink 'pre' "
	                  "in the sandbox");
	assert_int_equal(count_entries(f->outside), 1);
	assert_false(exists(f->sandbox, "ok.txt"));
	assert_int_equal(count_entries(f->sandbox), 2); /* pre, s.tar */

	/* Merged into existing directories; files and links replaced. */
	assert_int_equal(mkdir(dir, 0755), 0);
	file_write(file, "old", 3);
	make_archive(arch, FMT_TAR, merge, ARRAY_SIZE(merge));
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", arch), 0);
	assert_file(f->sandbox, "conf/new", "new");
	assert_file(f->sandbox, "conf/old", "replaced");
	assert_true(S_ISLNK(mode_of(f->sandbox, "pre")));
	assert_file(f->sandbox, "pre/new", "new");

	/* A directory over a file: refused, nothing moved. */
	make_archive(arch, FMT_TAR, conflict, ARRAY_SIZE(conflict));
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", arch), -EEXIST);
	assert_msg_has(f, "'conf/old' conflicts with the file 'conf/old'");
	assert_false(exists(f->sandbox, "z"));
	assert_file(f->sandbox, "conf/old", "replaced");
	free(arch);
	free(link);
	free(dir);
	free(file);
	fx_clear(f);
}

static void test_extract_limits(void **state)
{
	struct fx *f = *state;
	char *arch = path_join(f->outside, "big.tar.gz");
	char big[1001];
	const struct ent many[] = {
	    {ENT_FILE, "1", "a", 0}, {ENT_FILE, "2", "b", 0},
	    {ENT_FILE, "3", "c", 0}, {ENT_FILE, "4", "d", 0},
	    {ENT_FILE, "5", "e", 0},
	};
	const struct ent large[] = {{ENT_FILE, "large", big, 0}};
	json_t *uris = json_pack("[{s:s}]", "value", arch);

	memset(big, 'x', 1000);
	big[1000] = '\0';
	make_archive(arch, FMT_TGZ, many, ARRAY_SIZE(many));
	assert_int_equal(fetcher_run_limited(uris, &f->opts, 1 << 20, 3, 60,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 -EFBIG);
	assert_msg_has(f, "archive refused: more than the limit of 3 entries");
	assert_int_equal(count_entries(f->sandbox), 1);
	/* Exactly at the limit passes. */
	assert_int_equal(fetcher_run_limited(uris, &f->opts, 1 << 20, 5, 60,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 0);
	assert_int_equal(count_entries(f->sandbox), 6);
	fx_clear(f);

	make_archive(arch, FMT_TGZ, large, 1);
	assert_int_equal(fetcher_run_limited(uris, &f->opts, 999, 10, 60,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 -EFBIG);
	assert_msg_has(f, "archive refused: more than the limit of 999 bytes "
	                  "extracted");
	assert_int_equal(count_entries(f->sandbox), 1);
	assert_int_equal(fetcher_run_limited(uris, &f->opts, 1000, 10, 60,
	                                     &f->stats, f->msg, sizeof(f->msg)),
	                 0);
	assert_int_equal(count_entries(f->sandbox), 2);
	json_decref(uris);
	free(arch);
	fx_clear(f);
}

/* ---- cache ------------------------------------------------------------ */

/* The sha256 of s in hex, by sha256sum (an independent checker). */
static void sha256sum(const char *s, char out[65])
{
	char *cmd = xasprintf("printf '%%s' '%s' | sha256sum", s);
	FILE *p = popen(cmd, "r");

	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	pclose(p);
	free(cmd);
}

static void test_cache_hit(void **state)
{
	struct fx *f = *state;
	char *url = srv_url(f->srv, "/files/cached.txt");
	char key[65];

	srv_add(f->srv, "/files/cached.txt", "cached\n", 7);
	f->opts.cache_dir = f->cache;
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", url), 0);
	assert_int_equal(f->stats.fetched, 1);
	assert_int_equal(f->stats.from_cache, 0);
	fx_clear(f);
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", url), 0);
	assert_int_equal(f->stats.fetched, 0);
	assert_int_equal(f->stats.from_cache, 1);
	assert_int_equal(srv_hits(f->srv, "/files/cached.txt"), 1);
	assert_file(f->sandbox, "cached.txt", "cached\n");

	/* Keyed by the sha256 of the URI; a lock file beside. */
	sha256sum(url, key);
	assert_file(f->cache, key, "cached\n");
	assert_true(exists(f->cache, ".lock"));
	assert_int_equal(count_entries(f->cache), 2);

	/* cache false bypasses it. */
	assert_int_equal(fx_fetch(f, "[{\"value\":\"%s\"}]", url), 0);
	assert_int_equal(f->stats.fetched, 1);
	assert_int_equal(srv_hits(f->srv, "/files/cached.txt"), 2);
	f->opts.cache_dir = NULL;
	free(url);
	rm_tree(f->cache);
	fx_clear(f);
}

static void test_cache_lru(void **state)
{
	struct fx *f = *state;
	char body[1001], big[3001];
	const char *names[] = {"A", "B", "C"};
	char *urls[3], keys[3][65];
	char *bigurl = srv_url(f->srv, "/files/big");

	memset(body, 'b', 1000);
	body[1000] = '\0';
	memset(big, 'g', 3000);
	for (int i = 0; i < 3; i++) {
		char *p = xasprintf("/files/%s", names[i]);
		srv_add(f->srv, p, body, 1000);
		urls[i] = srv_url(f->srv, p);
		sha256sum(urls[i], keys[i]);
		free(p);
	}
	srv_add(f->srv, "/files/big", big, 3000);
	f->opts.cache_dir = f->cache;
	f->opts.cache_max_bytes = 2500;
	/* A, B, A again (now the most recent), then C evicts B. */
	for (int i = 0; i < 4; i++) {
		int k = (int[]){0, 1, 0, 2}[i];
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
		assert_int_equal(
		    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", urls[k]),
		    0);
		assert_int_equal(f->stats.from_cache, i == 2);
	}
	assert_true(exists(f->cache, keys[0]));
	assert_false(exists(f->cache, keys[1]));
	assert_true(exists(f->cache, keys[2]));
	assert_int_equal(srv_hits(f->srv, "/files/A"), 1);
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", urls[1]), 0);
	assert_int_equal(srv_hits(f->srv, "/files/B"), 2);
	assert_int_equal(f->stats.fetched, 1);

	/* Larger than the whole cache: fetched, not kept, nothing evicted. */
	assert_int_equal(
	    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", bigurl), 0);
	assert_int_equal(f->stats.fetched, 1);
	assert_int_equal(count_entries(f->cache), 3); /* 2 entries + lock */
	assert_true(exists(f->sandbox, "big"));

	/* Cache hit and extract. */
	char *arch = path_join(f->outside, "c.tgz");
	static const struct ent one[] = {{ENT_FILE, "in", "in", 0}};
	size_t len;
	char *data;

	make_archive(arch, FMT_TGZ, one, 1);
	data = file_read(arch, &len);
	srv_add(f->srv, "/files/c.tgz", data, len);
	free(data);
	free(arch);
	arch = srv_url(f->srv, "/files/c.tgz");
	for (int i = 0; i < 2; i++) {
		fx_clear(f);
		assert_int_equal(
		    fx_fetch(f, "[{\"value\":\"%s\",\"cache\":true}]", arch),
		    0);
		assert_int_equal(f->stats.from_cache, i);
		assert_int_equal(f->stats.extracted, 1);
		assert_file(f->sandbox, "in", "in");
	}
	free(arch);
	for (int i = 0; i < 3; i++)
		free(urls[i]);
	free(bigurl);
	f->opts.cache_dir = NULL;
	f->opts.cache_max_bytes = 0;
	rm_tree(f->cache);
	fx_clear(f);
}

/* ---- ownership -------------------------------------------------------- */

static void test_ownership(void **state)
{
	struct fx *f = *state;
	char *arch = path_join(f->outside, "o.tar");
	static const struct ent ents[] = {
	    {ENT_DIR, "d", NULL, 0},
	    {ENT_FILE, "d/f", "f", 0},
	    {ENT_SYMLINK, "d/l", "f", 0},
	};
	const char *paths[] = {"sub", "sub/o.tar", "d", "d/f", "d/l"};

	if (geteuid() != 0)
		skip();
	make_archive(arch, FMT_TAR, ents, ARRAY_SIZE(ents));
	f->opts.uid = 65534;
	f->opts.gid = 65533;
	assert_int_equal(fx_fetch(f,
	                          "[{\"value\":\"%s\",\"output_file\":"
	                          "\"sub/o.tar\"}]",
	                          arch),
	                 0);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		struct stat st;
		char *p = path_join(f->sandbox, paths[i]);

		assert_int_equal(lstat(p, &st), 0);
		if (st.st_uid != 65534 || st.st_gid != 65533)
			fail_msg("%s owned by %d:%d", paths[i], (int)st.st_uid,
			         (int)st.st_gid);
		free(p);
	}
	f->opts.uid = (uid_t)-1;
	f->opts.gid = (gid_t)-1;
	free(arch);
	fx_clear(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test_setup_teardown(test_run_bad_opts, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_download, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_download_errors, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_stall_and_slow, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_local, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_extract_formats, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_extract_choice, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_extract_malicious, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_extract_sandbox_links,
	                                    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_extract_limits, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_hit, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_lru, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_ownership, fx_setup,
	                                    fx_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
