/*
 * test_gc.c: sandbox garbage collection (src/agent/gc.c) and disk usage
 * (src/agent/disk.c). The pure parts are table-driven: the scheduling
 * arithmetic (max age from gc_delay, headroom and disk usage; due
 * entries), the run-directory shape the collector accepts, the
 * mountinfo parser (good and bad lines), the disk limit of a task's
 * resources. The blocking parts run on a temporary directory: usage
 * counts blocks once per inode and never follows a symlink; removal does
 * not follow a symlink out of the sandbox, clears unreadable
 * directories, and (as root) refuses a sandbox with a mount inside.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/disk.h"
#include "agent/gc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "model/resources.h"

/* ---- helpers ------------------------------------------------------------- */

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/atoll-gc-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void rm_rf(const char *dir)
{
	char *cmd =
	    xasprintf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void write_bytes(const char *path, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char block[4096];

	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	while (n) {
		size_t k = n < sizeof(block) ? n : sizeof(block);
		assert_int_equal(write(fd, block, k), (ssize_t)k);
		n -= k;
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static char *path_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- scheduling arithmetic ----------------------------------------------- */

static void test_max_age(void **state)
{
	static const struct {
		double delay, headroom, usage, want;
	} cases[] = {
	    /* Mesos's defaults: a week, 10% headroom */
	    {604800, 0.1, 0.0, 604800 * 0.9},
	    {604800, 0.1, 0.5, 604800 * 0.4},
	    {604800, 0.1, 0.9, 0},  /* at the headroom: at once */
	    {604800, 0.1, 0.95, 0}, /* beyond: never negative */
	    {604800, 0.0, 0.0, 604800},
	    {604800, 1.0, 0.0, 0},
	    {100, 0.25, 0.25, 50},
	    {0, 0.1, 0.0, 0}, /* --gc-delay=0: remove at once */
	    /* out-of-range inputs are clamped, never propagated */
	    {100, -1, 0, 100},
	    {100, 0, -0.5, 100},
	    {100, 0, 2, 0},
	    {100, NAN, 0, 100},
	    {100, 0, NAN, 100},
	    {NAN, 0, 0, 0},
	    {-5, 0, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		double got = gc_max_age(cases[i].delay, cases[i].headroom,
		                        cases[i].usage);
		if (fabs(got - cases[i].want) > 1e-6)
			fail_msg("case %zu: gc_max_age(%g, %g, %g) = %g, want "
			         "%g",
			         i, cases[i].delay, cases[i].headroom,
			         cases[i].usage, got, cases[i].want);
	}
}

static void test_fs_usage_and_due(void **state)
{
	static const struct {
		uint64_t blocks, bfree;
		double want;
	} usage[] = {
	    {100, 100, 0}, {100, 0, 1},   {100, 25, 0.75},
	    {0, 0, 0},     {100, 200, 0}, /* nonsense from the kernel */
	};
	static const struct {
		double since, max_age, now;
		bool want;
	} due[] = {
	    {1000, 10, 1010, true}, {1000, 10, 1009.9, false},
	    {1000, 0, 1000, true},  {1000, 0, 999, false}, /* clock back */
	    {1000, 10, 5000, true},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(usage); i++)
		assert_true(fabs(gc_fs_usage(usage[i].blocks, usage[i].bfree) -
		                 usage[i].want) < 1e-9);
	for (size_t i = 0; i < ARRAY_SIZE(due); i++)
		if (gc_is_due(due[i].since, due[i].max_age, due[i].now) !=
		    due[i].want)
			fail_msg("due case %zu", i);
}

static void test_path_is_sandbox(void **state)
{
	static const struct {
		const char *path, *work;
		bool want;
	} cases[] = {
	    {"/w/slaves/a/frameworks/f/executors/e/runs/c", "/w", true},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/c", "/w/", true},
	    {"/slaves/a/frameworks/f/executors/e/runs/c", "/", true},
	    {"/w/x/slaves/a/frameworks/f/executors/e/runs/c", "/w/x", true},
	    /* a run directory of another work directory */
	    {"/v/slaves/a/frameworks/f/executors/e/runs/c", "/w", false},
	    {"/ww/slaves/a/frameworks/f/executors/e/runs/c", "/w", false},
	    /* shorter or longer */
	    {"/w/slaves/a/frameworks/f/executors/e/runs", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/c/x", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e", "/w", false},
	    {"/w", "/w", false},
	    {"", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/c", "", false},
	    /* wrong fixed names, dots, empty components */
	    {"/w/slave/a/frameworks/f/executors/e/runs/c", "/w", false},
	    {"/w/slaves/a/framework/f/executors/e/runs/c", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/run/c", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/..", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/.", "/w", false},
	    {"/w/slaves/../frameworks/f/executors/e/runs/c", "/w", false},
	    {"/w/slaves/a/frameworks//executors/e/runs/c", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/../runs/c", "/w", false},
	    {"/w/slaves/a/frameworks/f/executors/e/runs/latest", "/w", true},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (gc_path_is_sandbox(cases[i].path, cases[i].work) !=
		    cases[i].want)
			fail_msg("case %zu: '%s' in '%s': want %d", i,
			         cases[i].path, cases[i].work, cases[i].want);
}

static void test_schedule(void **state)
{
	struct gc g;
	struct gc_entry *due[8], *e;
	size_t n;

	(void)state;
	gc_init(&g);
	assert_non_null(gc_add(&g, "/s/1", "f", "e1", "c1", 100));
	assert_non_null(gc_add(&g, "/s/2", "f", "e2", "c2", 200));
	assert_non_null(gc_add(&g, "/s/3", "f", "e3", "c3", 300));
	/* scheduled twice: the first entry (and its age) stays */
	assert_null(gc_add(&g, "/s/2", "f", "e2", "c2", 50));
	assert_int_equal(g.n, 3);
	e = gc_find(&g, "/s/2");
	assert_non_null(e);
	assert_true(e->since == 200);
	assert_string_equal(e->container_id, "c2");
	assert_null(gc_find(&g, "/s/4"));

	/* max age 100 at 250: only the first is due */
	n = gc_collect_due(&g, 100, 250, due, ARRAY_SIZE(due));
	assert_int_equal(n, 1);
	assert_string_equal(due[0]->path, "/s/1");
	assert_true(due[0]->busy);
	/* busy entries are not handed out twice */
	n = gc_collect_due(&g, 0, 1000, due, ARRAY_SIZE(due));
	assert_int_equal(n, 2);
	assert_string_equal(due[0]->path, "/s/2");
	assert_string_equal(due[1]->path, "/s/3");
	/* the bound of a batch */
	due[0]->busy = due[1]->busy = false;
	gc_find(&g, "/s/1")->busy = false;
	n = gc_collect_due(&g, 0, 1000, due, 2);
	assert_int_equal(n, 2);
	assert_string_equal(due[0]->path, "/s/1");

	gc_remove(&g, gc_find(&g, "/s/1"));
	assert_null(gc_find(&g, "/s/1"));
	assert_int_equal(g.n, 2);
	/* after removal the path can be scheduled again */
	assert_non_null(gc_add(&g, "/s/1", NULL, NULL, NULL, 5));
	assert_string_equal(gc_find(&g, "/s/1")->framework_id, "");
	gc_release(&g);
	assert_int_equal(g.n, 0);
	gc_release(&g); /* twice is harmless */
}

/* ---- mountinfo ----------------------------------------------------------- */

static void test_mounts_parse(void **state)
{
	static const char table[] =
	    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	    "30 22 0:5 / /proc rw - proc proc rw\n"
	    "40 22 8:1 /vol/v1 /w/sb/data rw - ext4 /dev/sda1 rw\n"
	    "41 22 0:40 / /w/sb/with\\040space rw - tmpfs tmpfs rw\n"
	    "42 22 0:41 / /w/sbx rw - tmpfs tmpfs rw\n"
	    "43 22 0:42 / /w/sb rw - tmpfs tmpfs rw"; /* no final newline */
	struct disk_mounts m = {0};

	(void)state;
	assert_int_equal(disk_mounts_parse(table, strlen(table), "/w/sb", &m),
	                 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0], "/w/sb/data");
	assert_string_equal(m.v[1], "/w/sb/with space");
	assert_string_equal(m.v[2], "/w/sb");
	disk_mounts_release(&m);

	/* "/" holds everything; an empty table nothing */
	assert_int_equal(disk_mounts_parse(table, strlen(table), "/", &m), 0);
	assert_int_equal(m.n, 6);
	disk_mounts_release(&m);
	assert_int_equal(disk_mounts_parse("", 0, "/", &m), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(disk_mounts_parse("\n\n", 2, "/", &m), 0);
	assert_int_equal(m.n, 0);
}

static void test_mounts_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "22 1 8:1 /\n",                         /* too few fields */
	    "22 1 8:1 / relative rw - ext4 x rw\n", /* not absolute */
	    "22 1 8:1 / /a\\04 rw - ext4 x rw\n",   /* short escape */
	    "22 1 8:1 / /a\\08x rw - ext4 x rw\n",  /* not octal */
	    "22 1 8:1 / /a\\000 rw - ext4 x rw\n",  /* NUL */
	    "22 1 8:1 / /a\\777 rw - ext4 x rw\n",  /* beyond a byte */
	    "22 1 8:1 / /a\\ rw - ext4 x rw\n",     /* lone backslash */
	    "    \n",                               /* blanks only */
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct disk_mounts m = {0};
		if (disk_mounts_parse(bad[i], strlen(bad[i]), "/", &m) !=
		    -EINVAL)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		disk_mounts_release(&m);
	}
}

static void test_path_is_under(void **state)
{
	static const struct {
		const char *path, *dir;
		bool want;
	} cases[] = {
	    {"/a/b", "/a", true},     {"/a", "/a", true}, {"/ab", "/a", false},
	    {"/a", "/a/b", false},    {"/x", "/", true},  {"/", "/", true},
	    {"relative", "/", false},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(
		    disk_path_is_under(cases[i].path, cases[i].dir),
		    cases[i].want);
}

/* ---- the disk limit ------------------------------------------------------ */

static void test_disk_limit(void **state)
{
	static const struct {
		const char *json;
		uint64_t want;
	} cases[] = {
	    {"[]", 0},
	    {"[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}"
	     "]",
	     0},
	    {"[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10}"
	     "}]",
	     10u << 20},
	    {"[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0."
	     "5}}"
	     ",{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2},"
	     "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"r\"}]}]",
	     (5u << 20) / 2},
	    /* a persistent volume is not sandbox disk */
	    {"[{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10}"
	     "},"
	     "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":50},"
	     "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"r\"}],"
	     "\"disk\":{\"persistence\":{\"id\":\"v\"},\"volume\":{"
	     "\"container_path\":\"data\",\"mode\":\"RW\"}}}]",
	     10u << 20},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct resources r;
		struct err e = {{0}};
		json_t *j = json_loads(cases[i].json, 0, NULL);

		assert_non_null(j);
		resources_init(&r);
		if (resources_from_json(&r, j, &e))
			fail_msg("case %zu: %s", i, e.msg);
		if (disk_limit_bytes(&r) != cases[i].want)
			fail_msg("case %zu: limit %llu, want %llu", i,
			         (unsigned long long)disk_limit_bytes(&r),
			         (unsigned long long)cases[i].want);
		resources_release(&r);
		json_decref(j);
	}
	assert_false(disk_is_over(100, 0)); /* no limit */
	assert_false(disk_is_over(100, 100));
	assert_true(disk_is_over(101, 100));
}

/* disk/du follows --isolation as the agent's flag documents it. */
static void test_isolation_disk(void **state)
{
	static const struct {
		const char *text;
		bool disk;
	} cases[] = {
	    {NULL, true},
	    {"posix", true},
	    {"cgroups", true},
	    {"disk/du", true},
	    {"posix/disk", true},
	    {"cgroups/cpu,cgroups/mem", false},
	    {"posix/cpu,posix/mem", false},
	    {"cgroups/all,disk/du", true},
	    {"posix/cpu,posix/disk", true},
	    {"namespaces/pid", false},
	    {"cgroups,namespaces/pid", false},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct agent_isolation iso;
		struct err e = {{0}};

		if (agent_isolation_parse(cases[i].text, &iso, &e))
			fail_msg("case %zu: %s", i, e.msg);
		if (iso.disk != cases[i].disk)
			fail_msg("case %zu '%s': disk %d", i,
			         cases[i].text ? cases[i].text : "(unset)",
			         iso.disk);
	}
	{
		struct agent_isolation iso;
		struct err e = {{0}};
		assert_int_equal(agent_isolation_parse("disk/xfs", &iso, &e),
		                 -EINVAL);
		assert_non_null(strstr(e.msg, "disk/xfs"));
	}
}

static void test_limitation_message(void **state)
{
	char *m = disk_limitation_message(20u << 20, 10u << 20);

	(void)state;
	assert_non_null(strstr(m, "Disk usage (20.0MB) exceeds quota "
	                          "(10.0MB)"));
	assert_non_null(strstr(m, "20971520 bytes used"));
	assert_non_null(strstr(m, "10485760 bytes allowed"));
	free(m);
}

/* ---- usage (blocking) ---------------------------------------------------- */

static void test_usage(void **state)
{
	char *dir = tmpdir(), *outside = tmpdir();
	char *big = path_in(outside, "big"), *sub = path_in(dir, "sub");
	char *f = path_in(dir, "sub/f"), *l1 = path_in(dir, "link1");
	char *l2 = path_in(dir, "sub/link2"), *sym = path_in(dir, "sym");
	char *symdir = path_in(dir, "symdir");
	struct disk_usage u1, u2;

	(void)state;
	assert_int_equal(disk_usage_measure(dir, NULL, &u1), 0);
	assert_true(u1.bytes < (64u << 10));
	assert_int_equal(u1.files, 1);

	assert_int_equal(mkdir(sub, 0755), 0);
	write_bytes(f, 1u << 20);
	write_bytes(big, 4u << 20);
	/* symlinks to a big file and to a directory outside count as
	 * links, not as what they point at */
	assert_int_equal(symlink(big, sym), 0);
	assert_int_equal(symlink(outside, symdir), 0);
	assert_int_equal(disk_usage_measure(dir, NULL, &u1), 0);
	assert_true(u1.bytes >= (1u << 20));
	assert_true(u1.bytes < (1u << 20) + (64u << 10));
	assert_false(u1.truncated);

	/* hard links count once */
	assert_int_equal(link(f, l1), 0);
	assert_int_equal(link(f, l2), 0);
	assert_int_equal(disk_usage_measure(dir, NULL, &u2), 0);
	assert_int_equal(u2.bytes, u1.bytes);

	/* the root must be a real directory, not a symlink to one (Linux
	 * says ENOTDIR or ELOOP) */
	{
		int rc = disk_usage_measure(symdir, NULL, &u2);
		assert_true(rc == -ENOTDIR || rc == -ELOOP);
	}
	assert_int_equal(disk_usage_measure(f, NULL, &u2), -ENOTDIR);
	assert_int_equal(disk_usage_measure(big, NULL, &u2), -ENOTDIR);

	rm_rf(dir);
	rm_rf(outside);
	free(dir);
	free(outside);
	free(big);
	free(sub);
	free(f);
	free(l1);
	free(l2);
	free(sym);
	free(symdir);
}

/* As root: a tmpfs and a bind mount inside the sandbox are neither
 * counted (usage) nor removed (gc). */
static void test_mounts_inside(void **state)
{
	char *sb = tmpdir(), *vol = tmpdir();
	char *mnt = path_in(sb, "tmp"), *data = path_in(sb, "data");
	char *kept = path_in(vol, "kept"), *own = path_in(sb, "own");
	struct disk_mounts m = {0};
	struct disk_usage u;
	struct buf why = BUF_INIT;

	(void)state;
	if (geteuid() != 0) {
		printf("skipped: needs root to mount\n");
		goto out;
	}
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_int_equal(mkdir(data, 0755), 0);
	write_bytes(own, 1u << 20);
	write_bytes(kept, 3u << 20);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m")) {
		printf("skipped: cannot mount a tmpfs: %s\n", strerror(errno));
		goto out;
	}
	assert_int_equal(mount(vol, data, NULL, MS_BIND, NULL), 0);
	{
		char *f = path_in(mnt, "f");
		write_bytes(f, 2u << 20);
		free(f);
	}
	assert_int_equal(disk_mounts_read(sb, &m), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(disk_usage_measure(sb, &m, &u), 0);
	assert_true(u.bytes >= (1u << 20) && u.bytes < (2u << 20));
	assert_int_equal(u.skipped, 2);
	/* without the table: the kernel's mount-root attribute or the
	 * device still tells */
	assert_int_equal(disk_usage_measure(sb, NULL, &u), 0);
	assert_true(u.bytes < (2u << 20));

	assert_int_equal(gc_remove_sandbox(sb, &why), -EBUSY);
	assert_non_null(strstr(why.data, "is still mounted"));
	assert_true(exists(kept));
	assert_true(exists(own));

	assert_int_equal(umount2(data, MNT_DETACH), 0);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	buf_reset(&why);
	assert_int_equal(gc_remove_sandbox(sb, &why), 0);
	assert_false(exists(sb));
	assert_true(exists(kept)); /* the volume's data stayed */
out:
	disk_mounts_release(&m);
	buf_release(&why);
	if (exists(data))
		(void)umount2(data, MNT_DETACH);
	if (exists(mnt))
		(void)umount2(mnt, MNT_DETACH);
	if (exists(sb))
		rm_rf(sb);
	rm_rf(vol);
	free(sb);
	free(vol);
	free(mnt);
	free(data);
	free(kept);
	free(own);
}

/* ---- removal and scan (blocking) ----------------------------------------- */

static void test_remove(void **state)
{
	char *sb = tmpdir(), *outside = tmpdir();
	char *victim = path_in(outside, "victim");
	char *deep = path_in(sb, "a/b/c/d"), *locked = path_in(sb, "locked");
	char *lockedf = path_in(sb, "locked/f");
	char *cmd = xasprintf("mkdir -p '%s'", deep);
	struct buf why = BUF_INIT;

	(void)state;
	assert_int_equal(system(cmd), 0);
	write_bytes(victim, 100);
	{
		char *f = path_in(deep, "f");
		char *l = path_in(sb, "a/escape");
		char *fl = path_in(sb, "a/b/victim-link");
		write_bytes(f, 10000);
		/* a symlink to a directory and one to a file outside: the
		 * links go, their targets stay */
		assert_int_equal(symlink(outside, l), 0);
		assert_int_equal(symlink(victim, fl), 0);
		free(f);
		free(l);
		free(fl);
	}
	assert_int_equal(mkdir(locked, 0755), 0);
	write_bytes(lockedf, 10);
	assert_int_equal(chmod(locked, 0), 0);

	assert_int_equal(gc_remove_sandbox(sb, &why), 0);
	assert_false(exists(sb));
	assert_true(exists(victim));
	assert_true(exists(outside));
	/* an absent sandbox is already removed */
	assert_int_equal(gc_remove_sandbox(sb, &why), 0);

	/* a symlink as the sandbox itself is refused, the target kept */
	{
		char *l = path_in(outside, "sbl");
		assert_int_equal(symlink(outside, l), 0);
		buf_reset(&why);
		int rc = gc_remove_sandbox(l, &why);
		assert_true(rc == -ENOTDIR || rc == -ELOOP);
		assert_true(exists(victim));
		free(l);
	}
	/* a process working in the sandbox keeps it */
	{
		char *cwd = get_current_dir_name();
		assert_int_equal(mkdir(sb, 0755), 0);
		assert_int_equal(chdir(sb), 0);
		buf_reset(&why);
		assert_int_equal(gc_remove_sandbox(sb, &why), -EBUSY);
		assert_non_null(strstr(why.data, "works in it"));
		assert_int_equal(gc_sandbox_user(sb), getpid());
		assert_int_equal(chdir(cwd), 0);
		assert_int_equal(gc_sandbox_user(sb), 0);
		free(cwd);
		assert_int_equal(gc_remove_sandbox(sb, &why), 0);
	}
	buf_release(&why);
	rm_rf(outside);
	free(cmd);
	free(sb);
	free(outside);
	free(victim);
	free(deep);
	free(locked);
	free(lockedf);
}

static int found_cmp(const void *x, const void *y)
{
	return strcmp(((const struct gc_found *)x)->path,
	              ((const struct gc_found *)y)->path);
}

static void test_scan(void **state)
{
	char *w = tmpdir();
	char *r1 = path_in(w, "slaves/A/frameworks/F/executors/E/runs/C1");
	char *r2 = path_in(w, "slaves/B/frameworks/G/executors/X/runs/C2");
	char *runs = path_in(w, "slaves/A/frameworks/F/executors/E/runs");
	char *latest = path_in(runs, "latest"), *dot = path_in(runs, ".tmp");
	char *file = path_in(runs, "notadir");
	char *cmd = xasprintf("mkdir -p '%s' '%s' '%s'", r1, r2, dot);
	struct gc_found *v;
	size_t n;

	(void)state;
	assert_int_equal(gc_scan(w, &v, &n), 0); /* no slaves yet */
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(symlink("C1", latest), 0);
	write_bytes(file, 1);
	assert_int_equal(gc_scan(w, &v, &n), 0);
	assert_int_equal(n, 2);
	qsort(v, n, sizeof(*v), found_cmp);
	assert_string_equal(v[0].path, r1);
	assert_string_equal(v[0].framework_id, "F");
	assert_string_equal(v[0].executor_id, "E");
	assert_string_equal(v[0].container_id, "C1");
	assert_true(v[0].mtime > 1e9);
	assert_string_equal(v[1].container_id, "C2");
	assert_true(gc_path_is_sandbox(v[0].path, w));
	assert_true(gc_path_is_sandbox(v[1].path, w));
	gc_found_free(v, n);
	rm_rf(w);
	free(w);
	free(r1);
	free(r2);
	free(runs);
	free(latest);
	free(dot);
	free(file);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_max_age),
	    cmocka_unit_test(test_fs_usage_and_due),
	    cmocka_unit_test(test_path_is_sandbox),
	    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_mounts_parse),
	    cmocka_unit_test(test_mounts_parse_bad),
	    cmocka_unit_test(test_path_is_under),
	    cmocka_unit_test(test_disk_limit),
	    cmocka_unit_test(test_isolation_disk),
	    cmocka_unit_test(test_limitation_message),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_mounts_inside),
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
