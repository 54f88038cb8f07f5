/*
 * test_store_zk.c: the ZooKeeper backend of the store (store_zk.c).
 *
 * Always (no server needed): the escaping of keys into znode names
 * (table-driven, with bad znode names), bad zk:// URLs and options, and
 * an unreachable server (a port that refuses, a listener that never
 * answers): store_open() fails with -EIO naming the server within its
 * bound, leaking no descriptor.
 *
 * With ATOLL_ZK=host:port (a real ZooKeeper; the integration test
 * tests/integration/test_store_zk.py starts one and runs this binary) the
 * behavioural checks of test_store.c run against ZooKeeper: round trips
 * (binary and empty values, keys with '/', '%', "." and ".."), the znode
 * layout read back with ZooKeeper's own client, scan order equal to the
 * SQLite backend's for the same keys (both backends compared in the
 * test), reads and writes from scan callbacks, transactions (own writes
 * visible, rollback, poisoning, a multi with a failing operation that
 * applies nothing), -EFBIG for values and transactions too large for
 * ZooKeeper, count, reopen and a second opener (no lock), the schema
 * version, foreign data, bad arguments, close-on-exec, and a session
 * that expires while its process is stopped. Without ATOLL_ZK those
 * tests are skipped with a message.
 *
 * Each ZooKeeper test uses a fresh root znode, removed by the teardown
 * even when an assertion fails.
 */
#include "lib/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/store.h"
#include "lib/store_int.h"

/* ---- helpers ---- */

static const char *zk_server(void)
{
	const char *s = getenv("ATOLL_ZK");

	return s && *s ? s : NULL;
}

#define NEED_ZK()                                                              \
	do {                                                                   \
		if (!zk_server()) {                                            \
			fprintf(stderr, "skipped: set ATOLL_ZK=host:port to "  \
			                "run the ZooKeeper tests\n");          \
			skip();                                                \
		}                                                              \
	} while (0)

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct fixture {
	char root[128]; /* the store's znode */
	char url[256];  /* zk://ATOLL_ZK<root> */
	char dir[64];   /* a temporary directory for SQLite */
	zhandle_t *raw; /* ZooKeeper's own client: the checker */
	struct store *s, *s2, *sql;
	pid_t child;
};

static void raw_watcher(zhandle_t *zh, int type, int state, const char *path,
                        void *ctx)
{
	(void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

/* A connected handle of ZooKeeper's client, independent of the store. */
static zhandle_t *raw_connect(const char *hosts)
{
	zhandle_t *zh =
	    zookeeper_init(hosts, raw_watcher, 10000, NULL, NULL, 0);
	double until = now_s() + 15;

	assert_non_null(zh);
	while (zoo_state(zh) != ZOO_CONNECTED_STATE && now_s() < until)
		usleep(10000);
	assert_int_equal(zoo_state(zh), ZOO_CONNECTED_STATE);
	return zh;
}

/* Deletes path and everything under it. */
static void raw_rm_r(zhandle_t *zh, const char *path)
{
	struct String_vector kids = {0, NULL};

	if (zoo_get_children(zh, path, 0, &kids) != ZOK)
		return;
	for (int32_t i = 0; i < kids.count; i++) {
		char *sub = xasprintf("%s/%s", path, kids.data[i]);

		raw_rm_r(zh, sub);
		free(sub);
	}
	deallocate_String_vector(&kids);
	zoo_delete(zh, path, -1);
}

/* The data of path read with the raw client, or NULL when missing. */
static char *raw_get(zhandle_t *zh, const char *path, int *len)
{
	static const int cap = 2 << 20;
	char *data = xmalloc((size_t)cap);
	int n = cap;
	int rc = zoo_get(zh, path, 0, data, &n, NULL);

	if (rc == ZNONODE) {
		free(data);
		return NULL;
	}
	assert_int_equal(rc, ZOK);
	*len = n < 0 ? 0 : n;
	return data;
}

/* Asserts the znode root + rel holds exactly want (len bytes). */
static void raw_expect(const struct fixture *f, const char *rel,
                       const void *want, size_t len)
{
	char *path = xasprintf("%s/%s", f->root, rel);
	int n = -1;
	char *data = raw_get(f->raw, path, &n);

	if (!data)
		fail_msg("znode '%s' is missing", path);
	assert_int_equal(n, (int)len);
	if (len)
		assert_memory_equal(data, want, len);
	free(data);
	free(path);
}

static void raw_expect_missing(const struct fixture *f, const char *rel)
{
	char *path = xasprintf("%s/%s", f->root, rel);

	assert_int_equal(zoo_exists(f->raw, path, 0, NULL), ZNONODE);
	free(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(f->root, sizeof(f->root), "/atoll-test-store/%d-%ld%09ld",
	         (int)getpid(), (long)t.tv_sec, t.tv_nsec);
	snprintf(f->dir, sizeof(f->dir), "%s/atoll-storezk-XXXXXX",
	         tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	if (zk_server()) {
		snprintf(f->url, sizeof(f->url), "zk://%s%s", zk_server(),
		         f->root);
		f->raw = raw_connect(zk_server());
	}
	*state = f;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	store_close(f->s);
	store_close(f->s2);
	store_close(f->sql);
	if (f->raw) {
		raw_rm_r(f->raw, f->root);
		zookeeper_close(f->raw);
	}
	nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void put_ok(struct store *s, const char *ns, const char *key,
                   const char *val)
{
	struct err e = {""};
	int r = store_put(s, ns, key, val, strlen(val), &e);

	if (r != 0)
		fail_msg("put '%s/%s': %d %s", ns, key, r, e.msg);
}

static void expect_val(struct store *s, const char *ns, const char *key,
                       const void *want, size_t len)
{
	struct err e = {""};
	char *val = NULL;
	size_t n = 99;
	int r = store_get(s, ns, key, &val, &n, &e);

	if (r != 0)
		fail_msg("get '%s/%s': %d %s", ns, key, r, e.msg);
	assert_int_equal(n, len);
	if (len)
		assert_memory_equal(val, want, len);
	assert_int_equal(val[n], '\0');
	free(val);
}

static void expect_missing(struct store *s, const char *ns, const char *key)
{
	struct err e = {""};
	char *val = (char *)"x";
	size_t n = 99;

	assert_int_equal(store_get(s, ns, key, &val, &n, &e), -ENOENT);
	assert_null(val);
	assert_int_equal(n, 0);
	assert_non_null(strstr(e.msg, key));
}

/* Opens f->s on f->url with a short session timeout. */
static void open_zk(struct fixture *f, struct store **s)
{
	struct store_opts o = {.zk_connect_timeout = 10,
	                       .zk_session_timeout = 4};
	struct err e = {""};
	int r = store_open_opts(f->url, &o, s, &e);

	if (r != 0)
		fail_msg("store_open_opts('%s'): %d %s", f->url, r, e.msg);
}

/* Non-close-on-exec descriptors >= 3 of this process. */
static int count_inheritable_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		int fd = (int)strtol(de->d_name, NULL, 10);

		if (de->d_name[0] == '.' || fd < 3 || fd == dirfd(d))
			continue;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			n++;
	}
	closedir(d);
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- without a server ---- */

static void test_escape_table(void **state)
{
	static const struct {
		const char *name, *znode;
	} table[] = {
	    {"a", "a"},
	    {"web-1.prod_x", "web-1.prod_x"},
	    {"/product/db", "%2Fproduct%2Fdb"},
	    {"%", "%25"},
	    {"%2F", "%252F"},
	    {"a b", "a%20b"},
	    {".", "%2E"},
	    {"..", "%2E%2E"},
	    {"...", "..."},
	    {"./", ".%2F"},
	    {"~:@", "%7E%3A%40"},
	    {"\xc3\xa9", "%C3%A9"},
	    {"\x7f\x01", "%7F%01"},
	    {"zookeeper", "zookeeper"},
	};
	static const char *const bad[] = {
	    "",                      /* empty */
	    "%",                     /* truncated */
	    "%2",                    /* truncated */
	    "%zz",                   /* not hex */
	    "%2f",                   /* lower-case hex: not canonical */
	    "%41",                   /* 'A' needs no escape: not canonical */
	    "%2E%2E%2E",             /* "..." needs no escape */
	    "%2E.",                  /* ".." must be written %2E%2E */
	    "a b",                   /* a byte that must be escaped */
	    "a/b",                   /* idem */
	    "%00",                   /* NUL */
	    "%C3",                   /* invalid UTF-8 once decoded */
	    "%C0%AF",                /* overlong */
	    ".",                     /* ZooKeeper refuses these names anyway */
	    "..",        "\xc3\xa9", /* raw non-ASCII */
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		struct buf b = BUF_INIT;
		char *back = NULL;

		store_zk_escape(&b, table[i].name);
		assert_string_equal(b.data, table[i].znode);
		assert_int_equal(store_zk_unescape(b.data, &back), 0);
		assert_string_equal(back, table[i].name);
		free(back);
		buf_release(&b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *out = (char *)"x";

		if (store_zk_unescape(bad[i], &out) != -EILSEQ)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(out);
	}
}

static void test_bad_urls_and_options(void **state)
{
	static const char *const bad[] = {
	    "zk://",
	    "zk://127.0.0.1:2181",
	    "zk://127.0.0.1:2181/",
	    "zk://127.0.0.1:99999/atoll",
	    "zk:///atoll",
	    "ZK://127.0.0.1:2181/a/../b",
	    "zk://u:p@127.0.0.1:2181/atoll",
	};
	struct store_opts o = {.zk_connect_timeout = -1};
	struct store *s = (struct store *)1;
	struct err e = {""};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(store_open(bad[i], &s, &e), -EINVAL);
		assert_null(s);
		assert_non_null(strstr(e.msg, bad[i]));
		assert_non_null(strstr(e.msg, "zk url"));
	}
	assert_int_equal(store_open_opts("zk://127.0.0.1:1/atoll", &o, &s, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "zk_connect_timeout"));
	o.zk_connect_timeout = 0;
	o.zk_session_timeout = 1e9;
	assert_int_equal(store_open_opts("zk://127.0.0.1:1/atoll", &o, &s, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "zk_session_timeout"));
	assert_null(s);
}

/* Opens a store on a server at port that never answers; checks the
 * bound. */
static void expect_unreachable(int port, double bound)
{
	struct store_opts o = {.zk_connect_timeout = bound};
	struct store *s = (struct store *)1;
	struct err e = {""};
	char url[64], host[32];
	int fds = count_fds();
	double t0 = now_s(), took;

	snprintf(url, sizeof(url), "zk://127.0.0.1:%d/atoll/registry", port);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	assert_int_equal(store_open_opts(url, &o, &s, &e), -EIO);
	took = now_s() - t0;
	assert_null(s);
	if (took < bound - 0.1 || took > bound + 3)
		fail_msg("gave up after %.2f s, bound %.1f s", took, bound);
	assert_non_null(strstr(e.msg, host));
	assert_non_null(strstr(e.msg, "cannot connect"));
	assert_non_null(strstr(e.msg, url));
	assert_int_equal(count_fds(), fds); /* nothing leaked */
}

static void test_unreachable(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int lfd;

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A listener that accepts connections (the kernel does) and never
	 * answers the session request. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	expect_unreachable(ntohs(a.sin_port), 1.5);
	close(lfd);
	/* The same port, now closed: connections are refused. */
	expect_unreachable(ntohs(a.sin_port), 1.0);
}

/* ---- with a server ---- */

static void test_zk_round_trip(void **state)
{
	static const char bin[] = {'a', '\0', 'b', '\0', '\0', '\xff', 'c'};
	struct fixture *f = *state;
	struct err e = {""};
	size_t big_len = STORE_ZK_MAX_VALUE;
	int inheritable;
	char *big;

	NEED_ZK();
	open_zk(f, &f->s);
	assert_string_equal(store_path(f->s), f->url);
	assert_false(store_in_transaction(f->s));
	raw_expect(f, "meta", "1", 1);
	assert_int_equal(store_count(f->s, "apps", &e), 0);
	expect_missing(f->s, "apps", "nope");

	put_ok(f->s, "apps", "/web", "{\"id\":\"/web\"}");
	put_ok(f->s, "apps", "/product/db", "db");
	assert_int_equal(store_put(f->s, "apps", "bin", bin, sizeof(bin), &e),
	                 0);
	assert_int_equal(store_put(f->s, "apps", "empty", NULL, 0, &e), 0);
	assert_int_equal(store_put(f->s, "apps", "empty2", "zz", 0, &e), 0);
	put_ok(f->s, "apps", ".", "dot");
	put_ok(f->s, "apps", "..", "dotdot");
	put_ok(f->s, "apps", "100%", "percent");
	put_ok(f->s, "tasks", "/web", "other namespace");
	expect_val(f->s, "apps", "/web", "{\"id\":\"/web\"}", 13);
	expect_val(f->s, "apps", "/product/db", "db", 2);
	expect_val(f->s, "apps", "bin", bin, sizeof(bin));
	expect_val(f->s, "apps", "empty", "", 0);
	expect_val(f->s, "apps", "empty2", "", 0);
	expect_val(f->s, "apps", ".", "dot", 3);
	expect_val(f->s, "apps", "..", "dotdot", 6);
	expect_val(f->s, "apps", "100%", "percent", 7);
	expect_val(f->s, "tasks", "/web", "other namespace", 15);
	assert_int_equal(store_count(f->s, "apps", &e), 8);
	assert_int_equal(store_count(f->s, "tasks", &e), 1);

	/* The layout, read with ZooKeeper's own client: one znode a key. */
	raw_expect(f, "apps/%2Fproduct%2Fdb", "db", 2);
	raw_expect(f, "apps/bin", bin, sizeof(bin));
	raw_expect(f, "apps/%2E%2E", "dotdot", 6);
	raw_expect(f, "apps/100%25", "percent", 7);
	raw_expect(f, "tasks/%2Fweb", "other namespace", 15);
	raw_expect_missing(f, "apps/%2Fproduct");

	/* Overwrite, longer then shorter. */
	put_ok(f->s, "apps", "/web", "a much longer replacement value");
	expect_val(f->s, "apps", "/web", "a much longer replacement value", 31);
	put_ok(f->s, "apps", "/web", "v2");
	expect_val(f->s, "apps", "/web", "v2", 2);
	raw_expect(f, "apps/%2Fweb", "v2", 2);
	assert_int_equal(store_count(f->s, "apps", &e), 8);

	/* Delete, and delete of a missing key (and namespace). */
	assert_int_equal(store_delete(f->s, "apps", "/web", &e), 0);
	expect_missing(f->s, "apps", "/web");
	raw_expect_missing(f, "apps/%2Fweb");
	expect_val(f->s, "tasks", "/web", "other namespace", 15);
	assert_int_equal(store_delete(f->s, "apps", "/web", &e), 0);
	assert_int_equal(store_delete(f->s, "nons", "x", &e), 0);
	assert_int_equal(store_count(f->s, "apps", &e), 7);
	assert_int_equal(store_count(f->s, "nons", &e), 0);

	/* The largest value ZooKeeper takes. */
	big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + (i >> 13));
	assert_int_equal(store_put(f->s, "blobs", "big", big, big_len, &e), 0);
	expect_val(f->s, "blobs", "big", big, big_len);
	raw_expect(f, "blobs/big", big, big_len);
	free(big);

	/* A namespace called "meta" does not touch the meta znode. */
	put_ok(f->s, "meta", "schema_version", "not the store's");
	expect_val(f->s, "meta", "schema_version", "not the store's", 15);
	raw_expect(f, "meta", "1", 1);
	raw_expect(f, "%6Deta/schema_version", "not the store's", 15);

	/* Every descriptor of the store's client is close-on-exec (those of
	 * the checker's are not: they were open before). */
	store_close(f->s);
	f->s = NULL;
	inheritable = count_inheritable_fds();
	open_zk(f, &f->s);
	put_ok(f->s, "apps", "after reopen", "x");
	assert_int_equal(count_inheritable_fds(), inheritable);
}

static void test_zk_too_big(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	size_t len = STORE_ZK_MAX_VALUE + 1;
	char *big = xcalloc(3u << 20, 1), size[32];

	NEED_ZK();
	open_zk(f, &f->s);
	snprintf(size, sizeof(size), "%zu bytes", len);
	assert_int_equal(store_put(f->s, "blobs", "huge", big, len, &e),
	                 -EFBIG);
	assert_non_null(strstr(e.msg, "'blobs/huge'"));
	assert_non_null(strstr(e.msg, size));
	assert_non_null(strstr(e.msg, f->url));
	assert_int_equal(store_put(f->s, "blobs", "huge", big, 3u << 20, &e),
	                 -EFBIG);
	expect_missing(f->s, "blobs", "huge");
	raw_expect_missing(f, "blobs/huge");
	raw_expect_missing(f, "blobs");
	put_ok(f->s, "blobs", "small", "still works");

	/* In a transaction: the put fails and poisons it. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "blobs", "a", "1");
	assert_int_equal(store_put(f->s, "blobs", "huge", big, len, &e),
	                 -EFBIG);
	assert_int_equal(store_commit(f->s, &e), -EFBIG);
	assert_false(store_in_transaction(f->s));
	expect_missing(f->s, "blobs", "a");

	/* Values that fit one by one but not together in one multi. */
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_int_equal(store_put(f->s, "blobs", "p1", big, 600 << 10, &e), 0);
	assert_int_equal(store_put(f->s, "blobs", "p2", big, 600 << 10, &e),
	                 -EFBIG);
	assert_non_null(strstr(e.msg, "transaction"));
	assert_non_null(strstr(e.msg, "'blobs/p2'"));
	store_rollback(f->s);
	/* Replacing a key's write does not count it twice. */
	assert_int_equal(store_begin(f->s, &e), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    store_put(f->s, "blobs", "p1", big, 600 << 10, &e), 0);
	assert_int_equal(store_commit(f->s, &e), 0);
	raw_expect(f, "blobs/p1", big, 600 << 10);
	raw_expect_missing(f, "blobs/a");
	raw_expect_missing(f, "blobs/p2");
	assert_int_equal(store_count(f->s, "blobs", &e), 2);
	free(big);
}

struct collected {
	struct buf keys; /* "key=val," for each row */
	int rows;
	int stop_at; /* return 42 on this row (1-based); 0 = never */
	struct store *s;
	int inner_r;
	enum { NESTED_NONE, NESTED_SCAN, NESTED_GET, NESTED_PUT } nested;
};

static int collect_inner(const char *key, const char *val, size_t len,
                         void *arg)
{
	struct buf *b = arg;

	(void)val, (void)len;
	buf_adds(b, key);
	buf_addc(b, ',');
	return 0;
}

static int collect(const char *key, const char *val, size_t len, void *arg)
{
	struct collected *c = arg;
	struct err e = {""};

	assert_int_equal(val[len], '\0');
	buf_addf(&c->keys, "%s=", key);
	buf_add(&c->keys, val, len);
	buf_addc(&c->keys, ',');
	c->rows++;
	if (c->nested == NESTED_SCAN && c->rows == 1) {
		struct buf inner = BUF_INIT;

		c->inner_r =
		    store_scan(c->s, "order", collect_inner, &inner, &e);
		assert_non_null(strstr(inner.data, "Z,a,"));
		buf_release(&inner);
	} else if (c->nested == NESTED_GET && c->rows == 1) {
		char *v = NULL;
		size_t n;

		c->inner_r = store_get(c->s, "order", "z", &v, &n, &e);
		assert_string_equal(v, "z!");
		free(v);
	} else if (c->nested == NESTED_PUT && c->rows == 1) {
		c->inner_r = store_put(c->s, "order", "new", "x", 1, &e);
		assert_non_null(strstr(e.msg, "scan"));
	}
	return c->stop_at && c->rows == c->stop_at ? 42 : 0;
}

/* Scans ns of s into a fresh "key=val," string. */
static char *scan_all(struct store *s, const char *ns)
{
	struct collected c = {BUF_INIT, 0, 0, s, 0, NESTED_NONE};
	struct err e = {""};
	int r = store_scan(s, ns, collect, &c, &e);

	if (r != 0)
		fail_msg("scan '%s': %d %s", ns, r, e.msg);
	if (!c.keys.data)
		buf_adds(&c.keys, "");
	return buf_detach(&c.keys, NULL);
}

static void test_zk_scan_order_matches_sqlite(void **state)
{
	static const char *const keys[] = {
	    "z",
	    "\xc3\xa9",
	    "a",
	    "B",
	    "Z",
	    "a\\x",
	    "/product/db",
	    "/product",
	    "/product/db/x",
	    "/productdb",
	    "%",
	    "%2F",
	    "%25",
	    "a b",
	    "a.b",
	    "a-b",
	    "a_b",
	    "a%b",
	    "~",
	    "..",
	    ".",
	    "...",
	    "-",
	    "0",
	    "9",
	    "A",
	    "\x7f",
	    "\x01",
	    "\xe6\x97\xa5\xe6\x9c\xac",
	    "\xf0\x9f\x98\x80",
	    "\xef\xbf\xbd",
	    "a%20b",
	    "product",
	    "zz",
	    "z/",
	};
	struct fixture *f = *state;
	struct collected c = {BUF_INIT, 0, 0, NULL, 0, NESTED_NONE};
	struct err e = {""};
	char db[PATH_MAX], *zk_scan, *sql_scan;

	NEED_ZK();
	open_zk(f, &f->s);
	snprintf(db, sizeof(db), "%s/store.db", f->dir);
	assert_int_equal(store_open(db, &f->sql, &e), 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char val[64];

		snprintf(val, sizeof(val), "%s!", keys[i]);
		put_ok(f->s, "order", keys[i], val);
		put_ok(f->sql, "order", keys[i], val);
	}
	put_ok(f->s, "other", "0", "not in the scan");
	zk_scan = scan_all(f->s, "order");
	sql_scan = scan_all(f->sql, "order");
	assert_string_equal(zk_scan, sql_scan);
	/* Bytewise: upper case first, '%' before '/', e-acute after z. */
	assert_non_null(strstr(zk_scan, "%=%!,%25=%25!,%2F=%2F!,"));
	assert_non_null(
	    strstr(zk_scan, "z/=z/!,zz=zz!,~=~!,\x7f=\x7f!,\xc3\xa9="));
	assert_int_equal(store_count(f->s, "order", &e),
	                 (int64_t)ARRAY_SIZE(keys));
	free(zk_scan);
	free(sql_scan);

	/* The callback's value stops the scan and is returned. */
	c.s = f->s;
	c.stop_at = 2;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 42);
	assert_int_equal(c.rows, 2);
	assert_string_equal(c.keys.data, "\x01=\x01!,%=%!,");
	buf_release(&c.keys);
	c.rows = 0, c.stop_at = 0;
	assert_int_equal(store_scan(f->s, "empty", collect, &c, &e), 0);
	assert_int_equal(c.rows, 0);

	/* Reads from a callback work; writes are refused. */
	c.nested = NESTED_SCAN;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, 0);
	assert_int_equal(c.rows, (int)ARRAY_SIZE(keys));
	c.rows = 0, c.nested = NESTED_GET;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, 0);
	c.rows = 0, c.nested = NESTED_PUT;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, -EINVAL);
	expect_missing(f->s, "order", "new");
	put_ok(f->s, "order", "new", "after the scan");
	buf_release(&c.keys);

	/* A znode that is not an escaped key is refused, not skipped. */
	{
		char *path = xasprintf("%s/order/not a key", f->root);

		assert_int_equal(zoo_create(f->raw, path, "x", 1,
		                            &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
		                 ZOK);
		assert_int_equal(store_scan(f->s, "order", collect, &c, &e),
		                 -EILSEQ);
		assert_non_null(strstr(e.msg, "not a key"));
		assert_non_null(strstr(e.msg, "is corrupt"));
		buf_release(&c.keys);
		free(path);
	}
}

static void test_zk_transactions(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	char *scan;

	NEED_ZK();
	open_zk(f, &f->s);
	put_ok(f->s, "t", "keep", "0");
	put_ok(f->s, "t", "b", "old");

	/* Commit makes all writes visible; own writes are visible before. */
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_true(store_in_transaction(f->s));
	put_ok(f->s, "t", "a", "1");
	put_ok(f->s, "t", "b", "2");
	put_ok(f->s, "t2", "x", "new namespace");
	assert_int_equal(store_delete(f->s, "t", "keep", &e), 0);
	assert_int_equal(store_delete(f->s, "t", "never", &e), 0);
	expect_val(f->s, "t", "a", "1", 1);
	expect_val(f->s, "t", "b", "2", 1);
	expect_missing(f->s, "t", "keep");
	scan = scan_all(f->s, "t");
	assert_string_equal(scan, "a=1,b=2,");
	free(scan);
	assert_int_equal(store_count(f->s, "t", &e), 2);
	assert_int_equal(store_count(f->s, "t2", &e), 1);
	/* Nothing reached ZooKeeper yet. */
	raw_expect_missing(f, "t/a");
	raw_expect(f, "t/keep", "0", 1);
	raw_expect_missing(f, "t2");
	assert_int_equal(store_commit(f->s, &e), 0);
	assert_false(store_in_transaction(f->s));
	expect_val(f->s, "t", "a", "1", 1);
	expect_val(f->s, "t", "b", "2", 1);
	expect_missing(f->s, "t", "keep");
	raw_expect(f, "t/a", "1", 1);
	raw_expect(f, "t/b", "2", 1);
	raw_expect(f, "t2/x", "new namespace", 13);
	raw_expect_missing(f, "t/keep");

	/* Rollback undoes puts, overwrites and deletes. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "c", "3");
	put_ok(f->s, "t", "a", "changed");
	assert_int_equal(store_delete(f->s, "t", "b", &e), 0);
	put_ok(f->s, "t", "b", "deleted then put");
	assert_int_equal(store_delete(f->s, "t", "b", &e), 0);
	expect_missing(f->s, "t", "b");
	store_rollback(f->s);
	assert_false(store_in_transaction(f->s));
	expect_missing(f->s, "t", "c");
	expect_val(f->s, "t", "a", "1", 1);
	expect_val(f->s, "t", "b", "2", 1);
	store_rollback(f->s);

	/* No nesting, no commit without begin; an empty commit. */
	assert_int_equal(store_commit(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "without a transaction"));
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_int_equal(store_begin(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "already open"));
	assert_int_equal(store_commit(f->s, &e), 0);
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_int_equal(store_delete(f->s, "t", "missing", &e), 0);
	assert_int_equal(store_commit(f->s, &e), 0);

	/* A failed write poisons the transaction. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "e", "5");
	assert_int_equal(store_put(f->s, "t", "", "x", 1, &e), -EINVAL);
	assert_int_equal(store_put(f->s, "t", "f", "6", 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "store_rollback"));
	assert_int_equal(store_delete(f->s, "t", "a", &e), -EINVAL);
	assert_int_equal(store_commit(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "rolled back"));
	assert_false(store_in_transaction(f->s));
	expect_missing(f->s, "t", "e");
	expect_val(f->s, "t", "a", "1", 1);

	/* Closing with an open transaction drops it. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "g", "7");
	store_close(f->s);
	f->s = NULL;
	raw_expect_missing(f, "t/g");
	open_zk(f, &f->s);
	expect_missing(f->s, "t", "g");
	assert_int_equal(store_count(f->s, "t", &e), 2);
}

/*
 * A multi whose last operation fails on the server (deleting a key whose
 * znode somebody gave a child): nothing of the transaction is applied.
 */
static void test_zk_multi_atomic(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	char *child;

	NEED_ZK();
	open_zk(f, &f->s);
	put_ok(f->s, "t", "victim", "v");
	put_ok(f->s, "t", "a", "old");
	child = xasprintf("%s/t/victim/child", f->root);
	assert_int_equal(
	    zoo_create(f->raw, child, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	    ZOK);

	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "a", "new");
	put_ok(f->s, "t", "b", "2");
	put_ok(f->s, "n", "c", "new namespace");
	assert_int_equal(store_delete(f->s, "t", "victim", &e), 0);
	assert_int_equal(store_commit(f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "'t/victim'"));
	assert_non_null(strstr(e.msg, "has children"));
	assert_false(store_in_transaction(f->s));
	raw_expect(f, "t/a", "old", 3);
	raw_expect_missing(f, "t/b");
	raw_expect_missing(f, "n");
	raw_expect(f, "t/victim", "v", 1);
	expect_val(f->s, "t", "a", "old", 3);

	/* Outside a transaction the same delete fails the same way. */
	assert_int_equal(store_delete(f->s, "t", "victim", &e), -EILSEQ);
	/* And the store is not wedged. */
	assert_int_equal(zoo_delete(f->raw, child, -1), ZOK);
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "b", "2");
	assert_int_equal(store_delete(f->s, "t", "victim", &e), 0);
	assert_int_equal(store_commit(f->s, &e), 0);
	raw_expect(f, "t/b", "2", 1);
	raw_expect_missing(f, "t/victim");
	free(child);
}

static void test_zk_reopen_and_share(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};

	NEED_ZK();
	open_zk(f, &f->s);
	assert_int_equal(store_begin(f->s, &e), 0);
	for (int i = 0; i < 150; i++) {
		char key[16], val[32];

		snprintf(key, sizeof(key), "k%03d", i);
		snprintf(val, sizeof(val), "value %d", i * i);
		put_ok(f->s, "many", key, val);
	}
	assert_int_equal(store_commit(f->s, &e), 0);
	put_ok(f->s, "one", "x", "outside a transaction");

	/* No lock: a second opener (another master) shares the store. */
	open_zk(f, &f->s2);
	assert_int_equal(store_count(f->s2, "many", &e), 150);
	put_ok(f->s2, "one", "y", "from the second");
	expect_val(f->s, "one", "y", "from the second", 15);
	store_close(f->s2);
	f->s2 = NULL;

	store_close(f->s);
	f->s = NULL;
	open_zk(f, &f->s);
	assert_int_equal(store_count(f->s, "many", &e), 150);
	expect_val(f->s, "many", "k007", "value 49", 8);
	expect_val(f->s, "many", "k149", "value 22201", 11);
	expect_val(f->s, "one", "x", "outside a transaction", 21);
	{
		char *all = scan_all(f->s, "many");

		/* 150 values: more than one pipelined batch, in order. */
		assert_true(strncmp(all, "k000=value 0,k001=value 1,", 26) ==
		            0);
		assert_non_null(strstr(all, "k148=value 21904,k149=value "
		                            "22201,"));
		free(all);
	}
}

static void test_zk_meta_and_foreign(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	char *meta = xasprintf("%s/meta", f->root), *other, *url2;

	NEED_ZK();
	open_zk(f, &f->s);
	put_ok(f->s, "a", "b", "c");
	store_close(f->s);
	f->s = NULL;

	/* A newer schema version is refused, naming both. */
	assert_int_equal(zoo_set(f->raw, meta, "99", 2, -1), ZOK);
	assert_int_equal(store_open(f->url, &f->s, &e), -EILSEQ);
	assert_null(f->s);
	assert_non_null(strstr(e.msg, "schema version 99"));
	assert_non_null(strstr(e.msg, "version 1 "));
	assert_non_null(strstr(e.msg, f->url));
	/* A version that is not a positive integer is corrupt. */
	assert_int_equal(zoo_set(f->raw, meta, "x", 1, -1), ZOK);
	assert_int_equal(store_open(f->url, &f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "schema_version"));
	assert_int_equal(zoo_set(f->raw, meta, "0", 1, -1), ZOK);
	assert_int_equal(store_open(f->url, &f->s, &e), -EILSEQ);
	/* Nothing was rewritten. */
	raw_expect(f, "meta", "0", 1);
	raw_expect(f, "a/b", "c", 1);
	assert_int_equal(zoo_set(f->raw, meta, "1", 1, -1), ZOK);
	open_zk(f, &f->s);
	expect_val(f->s, "a", "b", "c", 1);

	/* A znode with children but no meta is somebody else's. */
	other = xasprintf("%s/foreign", f->root);
	assert_int_equal(
	    zoo_create(f->raw, other, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	    ZOK);
	free(other);
	other = xasprintf("%s/foreign/json.info_0000000001", f->root);
	assert_int_equal(zoo_create(f->raw, other, "{}", 2,
	                            &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	                 ZOK);
	url2 = xasprintf("%s/foreign", f->url);
	assert_int_equal(store_open(url2, &f->s2, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "not a store"));
	raw_expect_missing(f, "foreign/meta");
	free(url2);
	free(other);

	/* A fresh, deeper path is created with its parents. */
	url2 = xasprintf("%s/deep/er/store", f->url);
	assert_int_equal(store_open(url2, &f->s2, &e), 0);
	raw_expect(f, "deep/er/store/meta", "1", 1);
	free(url2);
	free(meta);
}

static void test_zk_bad_arguments(void **state)
{
	static const char *const bad[] = {
	    NULL, "", "\x80", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff",
	};
	static const char *const good[] = {
	    "a",      "/apps/web", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80",
	    "a b\tc", "meta",      "zookeeper",
	};
	struct fixture *f = *state;
	struct err e = {""};
	struct store *s;
	char *v;
	size_t n;

	NEED_ZK();
	open_zk(f, &f->s);
	s = f->s;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(store_put(s, bad[i], "k", "v", 1, &e),
		                 -EINVAL);
		assert_non_null(strstr(e.msg, "namespace"));
		assert_int_equal(store_put(s, "ns", bad[i], "v", 1, &e),
		                 -EINVAL);
		assert_non_null(strstr(e.msg, "key"));
		assert_int_equal(store_get(s, bad[i], "k", &v, &n, &e),
		                 -EINVAL);
		assert_int_equal(store_get(s, "ns", bad[i], &v, &n, &e),
		                 -EINVAL);
		assert_int_equal(store_delete(s, bad[i], "k", &e), -EINVAL);
		assert_int_equal(store_delete(s, "ns", bad[i], &e), -EINVAL);
		assert_int_equal(store_scan(s, bad[i], collect_inner, NULL, &e),
		                 -EINVAL);
		assert_int_equal(store_count(s, bad[i], &e), -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		put_ok(s, good[i], good[i], good[i]);
		expect_val(s, good[i], good[i], good[i], strlen(good[i]));
	}
	assert_int_equal(store_put(s, "ns", "k", NULL, 3, &e), -EINVAL);
	assert_int_equal(store_get(s, "ns", "k", NULL, &n, &e), -EINVAL);
	assert_int_equal(store_get(s, "ns", "k", &v, NULL, &e), -EINVAL);
	assert_int_equal(store_scan(s, "ns", NULL, NULL, &e), -EINVAL);
	assert_int_equal(store_count(s, "ns", &e), 0);
}

/*
 * The process holding the store is stopped (SIGSTOP) past its session
 * timeout, so ZooKeeper expires the session. Once resumed, the first
 * write either meets the expiry and fails with -EIO naming ZooKeeper
 * (nothing written), or comes after the library noticed it and runs on a
 * new session (written); never a success that wrote nothing. A later
 * write succeeds either way. The child reports by its exit status:
 *   "--expire URL": opens, writes a/before, writes one byte to stdout,
 *   reads one byte from stdin (sent before SIGCONT), writes a/lost, then
 *   a/after (retrying for 15 s); exits 0 when a/lost failed with -EIO,
 *   3 when it succeeded, 1 or 2 on anything else.
 */
static int child_expire(const char *url)
{
	struct store_opts o = {.zk_session_timeout = 2};
	struct store *s = NULL;
	struct err e = {""};
	double until;
	char byte;
	int r, lost;

	if (store_open_opts(url, &o, &s, &e) != 0 ||
	    store_put(s, "a", "before", "1", 1, &e) != 0)
		goto out_fail;
	if (write(STDOUT_FILENO, "k", 1) != 1 ||
	    read(STDIN_FILENO, &byte, 1) != 1)
		goto out_fail;
	lost = store_put(s, "a", "lost", "x", 1, &e);
	if (lost && (lost != -EIO || !strstr(e.msg, "ZooKeeper"))) {
		fprintf(stderr, "child: first put after expiry: %d %s\n", lost,
		        e.msg);
		store_close(s);
		return 2;
	}
	fprintf(stderr, "child: first put after expiry: %s\n",
	        lost ? e.msg : "ok (on a new session)");
	until = now_s() + 15;
	do {
		r = store_put(s, "a", "after", "2", 1, &e);
		if (r)
			usleep(100000);
	} while (r && now_s() < until);
	if (r)
		goto out_fail;
	store_close(s);
	return lost ? 0 : 3;

out_fail:
	fprintf(stderr, "child: %s\n", e.msg);
	store_close(s);
	return 1;
}

static void test_zk_session_expiry(void **state)
{
	struct fixture *f = *state;
	char self[PATH_MAX], byte;
	int to_child[2], from_child[2], status;
	ssize_t len;
	pid_t pid;

	NEED_ZK();
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = '\0';
	assert_int_equal(pipe2(to_child, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from_child, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(to_child[0], STDIN_FILENO) < 0 ||
		    dup2(from_child[1], STDOUT_FILENO) < 0)
			_exit(126);
		execl(self, self, "--expire", f->url, (char *)NULL);
		_exit(127);
	}
	f->child = pid;
	close(to_child[0]);
	close(from_child[1]);
	assert_int_equal(read(from_child[0], &byte, 1), 1);
	raw_expect(f, "a/before", "1", 1);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	sleep(6); /* three session timeouts */
	assert_int_equal(write(to_child[1], "g", 1), 1);
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = 0;
	close(to_child[1]);
	close(from_child[0]);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 0)
		raw_expect_missing(f, "a/lost");
	else if (WEXITSTATUS(status) == 3)
		raw_expect(f, "a/lost", "x", 1);
	else
		fail_msg("child exited with %d", WEXITSTATUS(status));
	raw_expect(f, "a/after", "2", 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_table),
	    cmocka_unit_test(test_bad_urls_and_options),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test_setup_teardown(test_zk_round_trip, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zk_scan_order_matches_sqlite,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zk_transactions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_multi_atomic, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_reopen_and_share, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_meta_and_foreign, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_bad_arguments, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_zk_session_expiry, setup,
	                                    teardown),
	};

	/* ZooKeeper's own client (the checker) logs to stderr: only errors. */
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	if (argc == 3 && strcmp(argv[1], "--expire") == 0)
		return child_expire(argv[2]);
	if (!zk_server())
		fprintf(stderr, "ATOLL_ZK is not set: the ZooKeeper tests "
		                "are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
