/*
 * test_store.c: the SQLite key-value store against real files in a fresh
 * temporary directory: round trips (binary and empty values), key order,
 * transactions, reopening, the exclusive lock against another process
 * (also one killed with SIGKILL), file modes and close-on-exec, garbage
 * and corrupted files, foreign and newer databases, bad arguments, and a
 * real full disk (a small tmpfs, when running as root).
 *
 * Every test runs in a fixture whose teardown closes the stores, unmounts
 * the tmpfs and removes the directory, even when an assertion fails.
 */
#include "lib/compat.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/store.h"

struct fixture {
	char dir[64];       /* the temporary directory */
	char db[PATH_MAX];  /* dir/store.db */
	char mnt[PATH_MAX]; /* dir/mnt, a tmpfs while mounted */
	bool mounted;
	struct store *s, *s2; /* closed by the teardown */
	pid_t child;          /* a holder process, killed by the teardown */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	snprintf(f->dir, sizeof(f->dir), "%s/atoll-store-XXXXXX",
	         tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
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
	int r = 0;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	store_close(f->s);
	store_close(f->s2);
	if (f->mounted && umount(f->mnt) < 0) {
		fprintf(stderr, "cannot unmount '%s': %s\n", f->mnt,
		        strerror(errno));
		r = -1;
	}
	if (r == 0 && nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		r = -1;
	free(f);
	return r;
}

static void put_ok(struct store *s, const char *ns, const char *key,
                   const char *val)
{
	struct err e = {""};

	assert_int_equal(store_put(s, ns, key, val, strlen(val), &e), 0);
}

/* Asserts that ns/key holds exactly want (len bytes). */
static void expect_val(struct store *s, const char *ns, const char *key,
                       const void *want, size_t len)
{
	struct err e = {""};
	char *val = NULL;
	size_t n = 99;

	assert_int_equal(store_get(s, ns, key, &val, &n, &e), 0);
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

static void test_round_trip(void **state)
{
	static const char bin[] = {'a', '\0', 'b', '\0', '\0', '\xff', 'c'};
	struct fixture *f = *state;
	struct err e = {""};

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	assert_string_equal(store_path(f->s), f->db);
	assert_int_equal(store_count(f->s, "apps", &e), 0);
	expect_missing(f->s, "apps", "nope");

	put_ok(f->s, "apps", "/web", "{\"id\":\"/web\"}");
	assert_int_equal(store_put(f->s, "apps", "bin", bin, sizeof(bin), &e),
	                 0);
	assert_int_equal(store_put(f->s, "apps", "empty", NULL, 0, &e), 0);
	assert_int_equal(store_put(f->s, "apps", "empty2", "zz", 0, &e), 0);
	put_ok(f->s, "tasks", "/web", "other namespace");
	expect_val(f->s, "apps", "/web", "{\"id\":\"/web\"}", 13);
	expect_val(f->s, "apps", "bin", bin, sizeof(bin));
	expect_val(f->s, "apps", "empty", "", 0);
	expect_val(f->s, "apps", "empty2", "", 0);
	expect_val(f->s, "tasks", "/web", "other namespace", 15);
	assert_int_equal(store_count(f->s, "apps", &e), 4);
	assert_int_equal(store_count(f->s, "tasks", &e), 1);

	/* Overwrite, longer then shorter. */
	put_ok(f->s, "apps", "/web", "a much longer replacement value");
	expect_val(f->s, "apps", "/web", "a much longer replacement value", 31);
	put_ok(f->s, "apps", "/web", "v2");
	expect_val(f->s, "apps", "/web", "v2", 2);
	assert_int_equal(store_count(f->s, "apps", &e), 4);

	/* Delete, and delete of a missing key. */
	assert_int_equal(store_delete(f->s, "apps", "/web", &e), 0);
	expect_missing(f->s, "apps", "/web");
	expect_val(f->s, "tasks", "/web", "other namespace", 15);
	assert_int_equal(store_delete(f->s, "apps", "/web", &e), 0);
	assert_int_equal(store_delete(f->s, "nons", "x", &e), 0);
	assert_int_equal(store_count(f->s, "apps", &e), 3);

	/* A large value. */
	size_t big_len = 3u << 20;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + (i >> 13));
	assert_int_equal(store_put(f->s, "blobs", "big", big, big_len, &e), 0);
	expect_val(f->s, "blobs", "big", big, big_len);
	free(big);
}

struct collected {
	struct buf keys; /* "key=val," for each row */
	int rows;
	int stop_at; /* return 42 on this row (1-based); 0 = never */
	struct store *s;
	int inner_r; /* result of the nested call, if any */
	enum { NESTED_NONE, NESTED_SCAN, NESTED_GET, NESTED_PUT } nested;
};

static int collect_inner(const char *key, const char *val, size_t len,
                         void *arg)
{
	struct buf *b = arg;

	(void)val, (void)len;
	buf_adds(b, key);
	return 0;
}

static int collect(const char *key, const char *val, size_t len, void *arg)
{
	struct collected *c = arg;
	struct err e = {""};

	assert_int_equal(strlen(val), strlen(val)); /* NUL-terminated */
	assert_int_equal(val[len], '\0');
	buf_addf(&c->keys, "%s=", key);
	buf_add(&c->keys, val, len);
	buf_addc(&c->keys, ',');
	c->rows++;
	if (c->nested == NESTED_SCAN && c->rows == 1) {
		struct buf inner = BUF_INIT;

		c->inner_r =
		    store_scan(c->s, "order", collect_inner, &inner, &e);
		assert_string_equal(inner.data, "BZaa\\xz\xc3\xa9");
		buf_release(&inner);
	} else if (c->nested == NESTED_GET && c->rows == 1) {
		char *v = NULL;
		size_t n;

		c->inner_r = store_get(c->s, "order", "z", &v, &n, &e);
		assert_string_equal(v, "5");
		free(v);
	} else if (c->nested == NESTED_PUT && c->rows == 1) {
		c->inner_r = store_put(c->s, "order", "new", "x", 1, &e);
		assert_non_null(strstr(e.msg, "scan"));
	}
	return c->stop_at && c->rows == c->stop_at ? 42 : 0;
}

static void test_scan(void **state)
{
	struct fixture *f = *state;
	struct collected c = {BUF_INIT, 0, 0, NULL, 0, NESTED_NONE};
	struct err e = {""};

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	c.s = f->s;
	/* Inserted out of order; bytewise order puts upper case first. */
	put_ok(f->s, "order", "z", "5");
	put_ok(f->s, "order", "\xc3\xa9", "4"); /* e-acute sorts after z */
	put_ok(f->s, "order", "a", "2");
	put_ok(f->s, "order", "B", "1");
	put_ok(f->s, "order", "Z", "1b");
	put_ok(f->s, "order", "a\\x", "3");
	put_ok(f->s, "other", "0", "not in the scan");

	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_string_equal(c.keys.data, "B=1,Z=1b,a=2,a\\x=3,z=5,\xc3\xa9=4,");
	assert_int_equal(c.rows, 6);

	/* The callback's value stops the scan and is returned. */
	buf_release(&c.keys);
	c.rows = 0, c.stop_at = 2;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 42);
	assert_int_equal(c.rows, 2);
	assert_string_equal(c.keys.data, "B=1,Z=1b,");

	/* The cached statement was reset: a new scan starts over. */
	buf_release(&c.keys);
	c.rows = 0, c.stop_at = 0;
	assert_int_equal(store_scan(f->s, "empty", collect, &c, &e), 0);
	assert_int_equal(c.rows, 0);

	/* Reads from a callback work; writes are refused. */
	c.nested = NESTED_SCAN;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, 0);
	assert_int_equal(c.rows, 6);
	c.rows = 0, c.nested = NESTED_GET;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, 0);
	c.rows = 0, c.nested = NESTED_PUT;
	assert_int_equal(store_scan(f->s, "order", collect, &c, &e), 0);
	assert_int_equal(c.inner_r, -EINVAL);
	assert_int_equal(c.rows, 6);
	expect_missing(f->s, "order", "new");
	put_ok(f->s, "order", "new", "after the scan");
	buf_release(&c.keys);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	put_ok(f->s, "t", "keep", "0");

	/* Commit makes all writes visible. */
	assert_false(store_in_transaction(f->s));
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_true(store_in_transaction(f->s));
	put_ok(f->s, "t", "a", "1");
	put_ok(f->s, "t", "b", "2");
	assert_int_equal(store_delete(f->s, "t", "keep", &e), 0);
	expect_val(f->s, "t", "a", "1", 1); /* own writes are visible */
	assert_int_equal(store_commit(f->s, &e), 0);
	assert_false(store_in_transaction(f->s));
	expect_val(f->s, "t", "a", "1", 1);
	expect_val(f->s, "t", "b", "2", 1);
	expect_missing(f->s, "t", "keep");

	/* Rollback undoes puts, overwrites and deletes. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "c", "3");
	put_ok(f->s, "t", "a", "changed");
	assert_int_equal(store_delete(f->s, "t", "b", &e), 0);
	store_rollback(f->s);
	assert_false(store_in_transaction(f->s));
	expect_missing(f->s, "t", "c");
	expect_val(f->s, "t", "a", "1", 1);
	expect_val(f->s, "t", "b", "2", 1);
	store_rollback(f->s); /* no transaction: a no-op */

	/* No nesting, no commit without begin. */
	assert_int_equal(store_commit(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "without a transaction"));
	assert_int_equal(store_begin(f->s, &e), 0);
	assert_int_equal(store_begin(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "already open"));
	assert_true(store_in_transaction(f->s));
	put_ok(f->s, "t", "d", "4");
	assert_int_equal(store_commit(f->s, &e), 0);
	expect_val(f->s, "t", "d", "4", 1);

	/*
	 * A failed write poisons the transaction: later writes and the
	 * commit are refused, and the commit rolls everything back.
	 */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "e", "5");
	assert_int_equal(store_put(f->s, "t", "", "x", 1, &e), -EINVAL);
	assert_int_equal(store_put(f->s, "t", "f", "6", 1, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "store_rollback"));
	assert_int_equal(store_delete(f->s, "t", "a", &e), -EINVAL);
	assert_int_equal(store_commit(f->s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "rolled back"));
	assert_false(store_in_transaction(f->s));
	store_rollback(f->s); /* what the caller does anyway: harmless */
	expect_missing(f->s, "t", "e");
	expect_missing(f->s, "t", "f");
	expect_val(f->s, "t", "a", "1", 1);

	/* Closing with an open transaction rolls it back. */
	assert_int_equal(store_begin(f->s, &e), 0);
	put_ok(f->s, "t", "g", "7");
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	expect_missing(f->s, "t", "g");
	expect_val(f->s, "t", "d", "4", 1);
	assert_int_equal(store_count(f->s, "t", &e), 3);
}

/* The mode bits of path, or -1. */
static int file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

/*
 * Checks that every fd of this process on a file under dir is close-on-exec
 * and returns how many there are.
 */
static int count_cloexec_fds(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char link[64], target[PATH_MAX];
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = (int)strtol(de->d_name, NULL, 10);
		if (fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0)
			continue;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d on '%s' is not close-on-exec", fd,
			         target);
		n++;
	}
	closedir(d);
	return n;
}

static void test_reopen_modes_cloexec(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 8];
	struct err e = {""};

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	assert_int_equal(store_begin(f->s, &e), 0);
	for (int i = 0; i < 100; i++) {
		char key[16], val[32];

		snprintf(key, sizeof(key), "k%03d", i);
		snprintf(val, sizeof(val), "value %d", i * i);
		put_ok(f->s, "many", key, val);
	}
	assert_int_equal(store_commit(f->s, &e), 0);
	put_ok(f->s, "one", "x", "outside a transaction");

	/* The database, its WAL and shm and the lock: all 0600, cloexec. */
	assert_int_equal(file_mode(f->db), 0600);
	snprintf(path, sizeof(path), "%s-wal", f->db);
	assert_int_equal(file_mode(path), 0600);
	snprintf(path, sizeof(path), "%s-shm", f->db);
	assert_int_equal(file_mode(path), 0600);
	snprintf(path, sizeof(path), "%s.lock", f->db);
	assert_int_equal(file_mode(path), 0600);
	assert_true(count_cloexec_fds(f->dir) >= 3);

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(count_cloexec_fds(f->dir), 0);
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	assert_int_equal(store_count(f->s, "many", &e), 100);
	expect_val(f->s, "many", "k007", "value 49", 8);
	expect_val(f->s, "many", "k099", "value 9801", 10);
	expect_val(f->s, "one", "x", "outside a transaction", 21);
}

/*
 * The other processes of test_lock() are this program re-executed with
 * "--child MODE PATH" (fresh processes: nothing of the parent's heap or
 * SQLite state is shared). Returns the exit status:
 *   busy  0 iff store_open() fails with -EBUSY naming the path
 *   put   0 iff the store opens, reads a/b and writes a/child
 *   hold  opens the store, writes one byte to stdout, waits for a signal
 */
static int child_main(const char *mode, const char *path)
{
	struct store *s = NULL;
	struct err e = {""};
	char *v = NULL;
	size_t n;
	int r = store_open(path, &s, &e);

	if (strcmp(mode, "busy") == 0) {
		if (r == -EBUSY && !s && strstr(e.msg, path))
			return 0;
	} else if (strcmp(mode, "put") == 0) {
		if (r == 0 && store_get(s, "a", "b", &v, &n, &e) == 0 &&
		    n == 1 && store_put(s, "a", "child", "1", 1, &e) == 0) {
			free(v);
			store_close(s);
			return 0;
		}
		free(v);
	} else if (strcmp(mode, "hold") == 0 && r == 0) {
		if (write(STDOUT_FILENO, "k", 1) != 1)
			return 1;
		for (;;)
			pause();
	}
	fprintf(stderr, "child %s: store_open: %d (%s)\n", mode, r, e.msg);
	store_close(s);
	return 1;
}

/* Starts this program as "--child mode path", stdout on out_fd if >= 0. */
static pid_t spawn_child(const char *mode, const char *path, int out_fd)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;

	assert_true(len > 0);
	self[len] = '\0';
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(126);
		execl(self, self, "--child", mode, path, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits for pid and returns its exit code, or 128 + signal. */
static int wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void test_lock(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	int fds[2];
	char byte;
	pid_t pid;

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	put_ok(f->s, "a", "b", "c");

	/* Another process cannot open it. */
	assert_int_equal(wait_child(spawn_child("busy", f->db, -1)), 0);

	/* Nor can this process, a second time. */
	assert_int_equal(store_open(f->db, &f->s2, &e), -EBUSY);
	assert_null(f->s2);
	assert_non_null(strstr(e.msg, f->db));
	assert_non_null(strstr(e.msg, "is busy"));
	expect_val(f->s, "a", "b", "c", 1); /* the first is unharmed */

	/* After close, another process can. */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(wait_child(spawn_child("put", f->db, -1)), 0);

	/* A holder killed with SIGKILL releases the store. */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = f->child = spawn_child("hold", f->db, fds[1]);
	close(fds[1]);
	assert_int_equal(read(fds[0], &byte, 1), 1);
	close(fds[0]);
	assert_int_equal(store_open(f->db, &f->s, &e), -EBUSY);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	f->child = 0;
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	expect_val(f->s, "a", "child", "1", 1);
}

/* Writes len bytes of a fixed pseudo-random pattern at off. */
static void write_garbage(const char *path, off_t off, size_t len)
{
	char *junk = xmalloc(len);
	uint32_t x = 2463534242u;
	int fd;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		junk[i] = (char)x;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, len, off), (ssize_t)len);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(junk);
}

static void test_garbage_file(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};
	struct stat st;

	write_garbage(f->db, 0, 8192);
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
	assert_null(f->s);
	assert_non_null(strstr(e.msg, f->db));
	assert_non_null(strstr(e.msg, "is corrupt: "));
	assert_non_null(strstr(e.msg, "not a database"));
	/* The file was not touched, and the lock was released. */
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
}

struct verify {
	int rows, wrong;
};

/* Counts rows whose value differs from what fill_store() wrote. */
static int verify_row(const char *key, const char *val, size_t len, void *arg)
{
	struct verify *v = arg;
	char want[300];

	snprintf(want, sizeof(want), "%s:%0250d", key, 7);
	v->rows++;
	if (len != strlen(want) || memcmp(val, want, len) != 0)
		v->wrong++;
	return 0;
}

static void fill_store(struct store *s, int n)
{
	struct err e = {""};

	assert_int_equal(store_begin(s, &e), 0);
	for (int i = 0; i < n; i++) {
		char key[16], val[300];

		snprintf(key, sizeof(key), "key%05d", i);
		snprintf(val, sizeof(val), "%s:%0250d", key, 7);
		put_ok(s, "data", key, val);
	}
	assert_int_equal(store_commit(s, &e), 0);
}

/*
 * Pages in the middle of a real store overwritten with garbage: the
 * integrity check refuses the file at open with a clear -EILSEQ. (Should
 * an open ever let it through, the test first asserts that reading did
 * not return wrong data, then fails.)
 */
static void test_corrupt_pages(void **state)
{
	struct fixture *f = *state;
	struct verify v = {0, 0};
	struct err e = {""};
	struct stat st;
	off_t pages;
	int r;

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	fill_store(f->s, 400);
	store_close(f->s); /* checkpoints the WAL into the file */
	f->s = NULL;
	assert_int_equal(stat(f->db, &st), 0);
	pages = st.st_size / 4096;
	assert_true(pages >= 20);
	write_garbage(f->db, pages / 2 * 4096, 3 * 4096);

	r = store_open(f->db, &f->s, &e);
	if (r == 0) {
		r = store_scan(f->s, "data", verify_row, &v, &e);
		assert_int_equal(v.wrong, 0);
		fail_msg("corruption not caught at open (scan: %d, %s)", r,
		         e.msg);
	}
	assert_int_equal(r, -EILSEQ);
	assert_null(f->s);
	assert_non_null(strstr(e.msg, "is corrupt: "));
	assert_non_null(strstr(e.msg, f->db));
}

/* Runs sql on the SQLite database at path directly. */
static void sqlite_run(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_foreign_and_newer_databases(void **state)
{
	struct fixture *f = *state;
	struct err e = {""};

	/* A SQLite database that is not a store is left alone. */
	sqlite_run(f->db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "not a store"));
	assert_int_equal(remove(f->db), 0);

	/* A store of a newer schema version is refused, naming both. */
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	put_ok(f->s, "a", "b", "c");
	store_close(f->s);
	f->s = NULL;
	sqlite_run(f->db, "UPDATE meta SET value = 99 "
	                  "WHERE name = 'schema_version'");
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "schema version 99"));
	assert_non_null(strstr(e.msg, "version 1 "));
	assert_non_null(strstr(e.msg, f->db));

	/* A store whose version is not an integer is corrupt. */
	sqlite_run(f->db, "UPDATE meta SET value = 'x' "
	                  "WHERE name = 'schema_version'");
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "schema_version"));

	/* Back at version 1, without its kv table. */
	sqlite_run(f->db, "UPDATE meta SET value = 1 "
	                  "WHERE name = 'schema_version'; DROP TABLE kv;");
	assert_int_equal(store_open(f->db, &f->s, &e), -EILSEQ);
	assert_non_null(strstr(e.msg, "kv"));
}

static void test_bad_arguments(void **state)
{
	static const char *const bad[] = {
	    NULL,
	    "",
	    "\x80",             /* lone continuation byte */
	    "ab\xc3",           /* truncated sequence */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xe0\x80\xaf",     /* overlong, three bytes */
	    "\xed\xa0\x80",     /* UTF-16 surrogate */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xf8\x88\x80\x80\x80",
	    "\xff",
	};
	static const char *const good[] = {
	    "a",
	    "/apps/web",
	    "\xc3\xa9t\xc3\xa9",
	    "\xe6\x97\xa5",
	    "\xf0\x9f\x98\x80",
	    "\xf4\x8f\xbf\xbf", /* U+10FFFF */
	    "a b\tc",
	};
	struct fixture *f = *state;
	struct store *s = (struct store *)1;
	struct err e = {""};
	char *v;
	size_t n;

	assert_int_equal(store_open(NULL, &s, &e), -EINVAL);
	assert_null(s);
	assert_int_equal(store_open("", &s, &e), -EINVAL);
	assert_int_equal(store_open(f->db, NULL, &e), -EINVAL);
	{
		char missing[PATH_MAX + 16];

		snprintf(missing, sizeof(missing), "%s/no/such/dir/db", f->dir);
		assert_int_equal(store_open(missing, &s, &e), -EIO);
		assert_non_null(strstr(e.msg, missing));
		assert_non_null(strstr(e.msg, "No such file"));
	}

	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	s = f->s;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t c;

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
		c = store_count(s, bad[i], &e);
		assert_int_equal(c, -EINVAL);
	}
	assert_int_equal(store_count(s, "ns", &e), 0);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		put_ok(s, good[i], good[i], good[i]);
		expect_val(s, good[i], good[i], good[i], strlen(good[i]));
	}
	assert_int_equal(store_put(s, "ns", "k", NULL, 3, &e), -EINVAL);
	assert_int_equal(store_get(s, "ns", "k", NULL, &n, &e), -EINVAL);
	assert_int_equal(store_get(s, "ns", "k", &v, NULL, &e), -EINVAL);
	assert_int_equal(store_scan(s, "ns", NULL, NULL, &e), -EINVAL);
	assert_int_equal(store_put(NULL, "ns", "k", "v", 1, &e), -EINVAL);
	assert_int_equal(store_begin(NULL, &e), -EINVAL);
	assert_int_equal(store_count(s, "ns", &e), 0);
	store_close(NULL);
	store_rollback(NULL);
	assert_false(store_in_transaction(NULL));
}

/* Asserts fill/k<i> holds what test_full_disk() wrote. */
static void expect_val_of_key(struct store *s, int i)
{
	char key[16], val[2000];

	memset(val, 'v', sizeof(val));
	snprintf(key, sizeof(key), "k%04d", i);
	memcpy(val, key, 5);
	expect_val(s, "fill", key, val, sizeof(val));
}

/* Deletes fill/k0000 .. k<n/2 - 1> in one transaction. */
static int delete_first_half(struct store *s, int n, struct err *e)
{
	int r = store_begin(s, e);

	for (int i = 0; r == 0 && i < n / 2; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%04d", i);
		r = store_delete(s, "fill", key, e);
	}
	if (r == 0)
		return store_commit(s, e);
	store_rollback(s);
	return r;
}

/*
 * A real full disk: a 512 KiB tmpfs. Writes fail with -ENOSPC and a clear
 * message; committed data reads back; a failed transaction leaves nothing;
 * once space is freed, deletes and writes work again; the data survives a
 * reopen.
 */
static void test_full_disk(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], ballast[PATH_MAX + 16], val[2000], key[16];
	struct err e = {""};
	int n = 0, r = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the full-disk test needs root "
		                "to mount a tmpfs\n");
		skip();
	}
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV,
	          "size=512k,mode=0700") < 0) {
		fprintf(stderr, "skipped: cannot mount a tmpfs on '%s': %s\n",
		        f->mnt, strerror(errno));
		skip();
	}
	f->mounted = true;
	/* Space an operator frees later: 128 KiB of another file. */
	snprintf(ballast, sizeof(ballast), "%s/ballast", f->mnt);
	write_garbage(ballast, 0, 128 << 10);
	snprintf(path, sizeof(path), "%s/store.db", f->mnt);
	assert_int_equal(store_open(path, &f->s, &e), 0);

	/* 20 keys in one transaction, then one by one until the disk fills. */
	memset(val, 'v', sizeof(val));
	assert_int_equal(store_begin(f->s, &e), 0);
	for (n = 0; n < 20; n++) {
		snprintf(key, sizeof(key), "k%04d", n);
		memcpy(val, key, 5);
		assert_int_equal(
		    store_put(f->s, "fill", key, val, sizeof(val), &e), 0);
	}
	assert_int_equal(store_commit(f->s, &e), 0);
	for (; n < 1000; n++) {
		snprintf(key, sizeof(key), "k%04d", n);
		memcpy(val, key, 5);
		r = store_put(f->s, "fill", key, val, sizeof(val), &e);
		if (r < 0)
			break;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(n > 20);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "is full: "));
	assert_non_null(strstr(e.msg, "cannot put 'fill/"));

	/* Everything committed before reads back; the failed key does not. */
	expect_missing(f->s, "fill", key);
	assert_int_equal(store_count(f->s, "fill", &e), n);
	for (int i = 0; i < n; i++)
		expect_val_of_key(f->s, i);

	/* A transaction that does not fit: -ENOSPC, nothing applied. */
	assert_int_equal(store_begin(f->s, &e), 0);
	r = 0;
	for (int i = 0; i < 50 && r == 0; i++) {
		snprintf(key, sizeof(key), "t%04d", i);
		r = store_put(f->s, "fill", key, val, sizeof(val), &e);
	}
	if (r == 0)
		r = store_commit(f->s, &e);
	else
		assert_int_equal(store_commit(f->s, &e), -ENOSPC);
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(e.msg, "is full"));
	store_rollback(f->s);
	assert_false(store_in_transaction(f->s));
	expect_missing(f->s, "fill", "t0000");
	assert_int_equal(store_count(f->s, "fill", &e), n);

	/*
	 * While the disk is full, deletes need room for their WAL frames
	 * too: deleting the first half may fail, but only cleanly.
	 */
	r = delete_first_half(f->s, n, &e);
	if (r < 0) {
		assert_int_equal(r, -ENOSPC);
		assert_non_null(strstr(e.msg, "is full"));
		assert_int_equal(store_count(f->s, "fill", &e), n);
		expect_val_of_key(f->s, 0);

		/* Once space is freed, the same store is not wedged. */
		assert_int_equal(unlink(ballast), 0);
		assert_int_equal(delete_first_half(f->s, n, &e), 0);
	}
	assert_int_equal(store_count(f->s, "fill", &e), n - n / 2);
	expect_missing(f->s, "fill", "k0000");

	/*
	 * New writes work again (in WAL mode they need new WAL frames, not
	 * only the freed pages, until a checkpoint: keep them small).
	 */
	put_ok(f->s, "fill", "after", "writes work again");
	expect_val(f->s, "fill", "after", "writes work again", 17);
	assert_int_equal(store_begin(f->s, &e), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		memcpy(val, key, 5);
		assert_int_equal(
		    store_put(f->s, "fill", key, val, sizeof(val), &e), 0);
	}
	assert_int_equal(store_commit(f->s, &e), 0);

	/* And all of it survives a reopen. */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(path, &f->s, &e), 0);
	assert_int_equal(store_count(f->s, "fill", &e), n - n / 2 + 1 + 3);
	for (int i = 0; i < n; i++) {
		if (i < 3 || i >= n / 2) {
			expect_val_of_key(f->s, i);
		} else {
			snprintf(key, sizeof(key), "k%04d", i);
			expect_missing(f->s, "fill", key);
		}
	}
	expect_val(f->s, "fill", "after", "writes work again", 17);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_modes_cloexec, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_pages, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_and_newer_databases,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
	};

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
