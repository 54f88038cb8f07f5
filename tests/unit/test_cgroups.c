/*
 * test_cgroups.c: the pure parsers of cgroups.c (mountinfo, /proc/<pid>/
 * cgroup, "key value" files, single values), the version choice, the
 * limits with overhead, and create / limits / stats / list / destroy
 * against a fake hierarchy in a temporary directory.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cgroups.h"
#include "lib/err.h"

static const char MOUNTINFO_V1[] =
    "22 1 8:1 / / rw,relatime - ext4 /dev/root rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup "
    "rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_mountinfo_v1(void **state)
{
	struct cgroups cg = {0};
	char v2[PATH_MAX];

	(void)state;
	assert_int_equal(cgroups_parse_mountinfo(MOUNTINFO_V1, &cg, v2), 0);
	assert_string_equal(cg.mount[CG_CPU], "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(cg.mount[CG_CPUACCT], "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(cg.mount[CG_MEMORY], "/sys/fs/cgroup/memory");
	assert_string_equal(cg.mount[CG_PIDS], "/sys/fs/cgroup/pids");
	assert_string_equal(v2, "/sys/fs/cgroup/unified");
	/* The v2 mount has only hugetlb: v1 is chosen. */
	cgroups_choose(&cg, v2, "hugetlb\n");
	assert_int_equal(cg.version, CGROUPS_V1);
}

static void test_mountinfo_v2_and_escapes(void **state)
{
	static const char text[] =
	    "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 "
	    "rw,nsdelegate\n"
	    "31 1 0:27 / /mnt/with\\040space rw - cgroup cgroup rw,pids\n";
	struct cgroups cg = {0};
	char v2[PATH_MAX];

	(void)state;
	assert_int_equal(cgroups_parse_mountinfo(text, &cg, v2), 0);
	assert_string_equal(v2, "/sys/fs/cgroup");
	assert_string_equal(cg.mount[CG_PIDS], "/mnt/with space");
	cgroups_choose(&cg, v2, "cpuset cpu io memory hugetlb pids rdma\n");
	assert_int_equal(cg.version, CGROUPS_V2);
	assert_string_equal(cg.mount[CG_CPU], "/sys/fs/cgroup");
	assert_string_equal(cg.mount[CG_PIDS], "");
}

static void test_mountinfo_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "garbage\n",
	    "1 2 3 4 5 6 7\n",                           /* no " - " */
	    "1 2 0:1 / relative rw - cgroup c rw,cpu\n", /* not absolute */
	    "1 2 0:1 / /a\\09 rw - cgroup c rw,cpu\n",   /* bad escape */
	    "1 2 0:1 / /a\\0 rw - cgroup c rw,cpu\n",    /* short escape */
	    "1 2 0:1 / /a rw -\n",                       /* nothing after - */
	};
	struct cgroups cg;
	char v2[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&cg, 0, sizeof(cg));
		assert_int_equal(cgroups_parse_mountinfo(bad[i], &cg, v2),
		                 -EINVAL);
		assert_string_equal(cg.mount[CG_CPU], "");
	}
	/* Bad lines among good ones are skipped. */
	memset(&cg, 0, sizeof(cg));
	assert_int_equal(
	    cgroups_parse_mountinfo("junk\n1 2 0:1 / /m rw - cgroup c "
	                            "rw,memory\n",
	                            &cg, v2),
	    0);
	assert_string_equal(cg.mount[CG_MEMORY], "/m");
	/* Missing controllers: not usable. */
	cgroups_choose(&cg, "", NULL);
	assert_int_equal(cg.version, CGROUPS_NONE);
}

static void test_proc_cgroup(void **state)
{
	static const char text[] = "9:name=systemd:/\n"
				   "4:memory:/process_api/9a85\n"
				   "2:cpu,cpuacct:/a/b\n"
				   "0::/user.slice/x\n";
	static const struct {
		const char *controller, *path;
		int rc;
	} cases[] = {
	    {"memory", "/process_api/9a85", 0},
	    {"cpu", "/a/b", 0},
	    {"cpuacct", "/a/b", 0},
	    {"", "/user.slice/x", 0},
	    {"pids", NULL, -ENOENT},
	    {"name=systemd", "/", 0},
	};
	char *path;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(
		    cgroups_parse_proc_cgroup(text, cases[i].controller, &path),
		    cases[i].rc);
		if (cases[i].path)
			assert_string_equal(path, cases[i].path);
		else
			assert_null(path);
		free(path);
	}
	static const char *const bad[] = {"4:memory\n", "x\n",
	                                  "4:memory:relative\n", "4:memory:\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(
		    cgroups_parse_proc_cgroup(bad[i], "memory", &path),
		    -EINVAL);
		assert_null(path);
	}
}

static void test_parse_key(void **state)
{
	static const char oom_control[] = "oom_kill_disable 0\n"
					  "under_oom 0\n"
					  "oom_kill 3\n";
	static const char events[] = "low 0\nhigh 0\nmax 12\noom 2\n"
				     "oom_kill 1\noom_group_kill 0\n";
	static const char cpu_stat[] = "nr_periods 40\nnr_throttled 39\n"
				       "throttled_time 2718281828\n";
	static const char memory_stat[] = "cache 4096\nrss 8192\n"
					  "total_cache 40960\n"
					  "total_rss 81920\n";
	static const struct {
		const char *text, *key;
		int rc;
		uint64_t value;
	} cases[] = {
	    {oom_control, "oom_kill", 0, 3},
	    {oom_control, "under_oom", 0, 0},
	    {oom_control, "oom", -ENOENT, 0},
	    {events, "oom_kill", 0, 1},
	    {events, "oom", 0, 2},
	    {events, "max", 0, 12},
	    {cpu_stat, "throttled_time", 0, 2718281828ull},
	    {cpu_stat, "nr_throttled", 0, 39},
	    {memory_stat, "rss", 0, 8192},
	    {memory_stat, "total_rss", 0, 81920},
	    {"", "rss", -ENOENT, 0},
	    {"rss\n", "rss", -ENOENT, 0},
	    {"rss x\n", "rss", -EINVAL, 0},
	    {"rss -1\n", "rss", -EINVAL, 0},
	    {"rss 12 13\n", "rss", -EINVAL, 0},
	    {"rss 99999999999999999999999\n", "rss", -EINVAL, 0},
	    {"rss 5", "rss", 0, 5},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 777;
		assert_int_equal(
		    cgroups_parse_key(cases[i].text, cases[i].key, &v),
		    cases[i].rc);
		assert_int_equal(v, cases[i].rc ? 777 : cases[i].value);
	}
}

static void test_parse_value(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t value;
	} cases[] = {
	    {"100663296\n", 0, 100663296},
	    {"0", 0, 0},
	    {"max\n", 0, UINT64_MAX},
	    {"max", 0, UINT64_MAX},
	    {"", -EINVAL, 0},
	    {"-1\n", -EINVAL, 0},
	    {"12x\n", -EINVAL, 0},
	    {"12\n\n", -EINVAL, 0},
	    {"maximum", -EINVAL, 0},
	    {" 12", -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 5;
		assert_int_equal(cgroups_parse_value(cases[i].text, &v),
		                 cases[i].rc);
		assert_int_equal(v, cases[i].rc ? 5 : cases[i].value);
	}
	assert_true(cgroups_list_has("cpu memory pids", "pids"));
	assert_false(cgroups_list_has("cpuset memory", "cpu"));
	assert_false(cgroups_list_has("", "cpu"));
}

static void test_limits_for(void **state)
{
	struct cgroups_limits l;

	(void)state;
	cgroups_limits_for(&l, 0.5, 64, true, 100);
	assert_true(l.cfs);
	assert_true(l.cpus > 0.59 && l.cpus < 0.61);
	assert_int_equal(l.mem_bytes, (64ull << 20) + (32ull << 20));
	assert_int_equal(l.pids, 100);
	cgroups_limits_for(&l, 0, 0, false, 0);
	assert_int_equal(l.mem_bytes, CGROUPS_MEM_MIN_BYTES);
	assert_true(l.cpus > 0.09 && l.cpus < 0.11);
}

/* ---- a fake hierarchy ------------------------------------------------------
 */

struct fake {
	char dir[64];
	struct cgroups cg;
};

static void put(const char *dir, const char *cid, const char *name,
                const char *text)
{
	char *p = xasprintf("%s/%s/%s", dir, cid, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static char *get(const char *dir, const char *cid, const char *name)
{
	char *p = xasprintf("%s/%s/%s", dir, cid, name);
	char text[256] = "";
	FILE *f = fopen(p, "r");
	size_t n;

	free(p);
	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return xstrdup(text);
}

static void fake_v1(struct fake *fk)
{
	static const char *const names[] = {"cpu", "cpuacct", "memory", "pids"};

	snprintf(fk->dir, sizeof(fk->dir), "/tmp/atoll-cg-XXXXXX");
	assert_non_null(mkdtemp(fk->dir));
	memset(&fk->cg, 0, sizeof(fk->cg));
	fk->cg.version = CGROUPS_V1;
	snprintf(fk->cg.root, sizeof(fk->cg.root), "atoll");
	for (int c = 0; c < CG_NCONTROLLERS; c++) {
		snprintf(fk->cg.mount[c], PATH_MAX, "%s/%s", fk->dir, names[c]);
		assert_int_equal(mkdir(fk->cg.mount[c], 0755), 0);
	}
}

static void fake_remove(struct fake *fk)
{
	for (int c = 0; c < CG_NCONTROLLERS; c++) {
		char *root = xasprintf("%s/atoll", fk->cg.mount[c]);
		assert_int_equal(rmdir(root), 0); /* empty: all removed */
		free(root);
		assert_int_equal(rmdir(fk->cg.mount[c]), 0);
	}
	assert_int_equal(rmdir(fk->dir), 0);
}

static void assert_file(const struct cgroups *cg, enum cgroups_controller c,
                        const char *name, const char *want)
{
	char *dir = xasprintf("%s/atoll", cg->mount[c]);
	char *text = get(dir, "c1", name);

	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	free(dir);
}

static void test_fake_v1_lifecycle(void **state)
{
	struct fake fk;
	struct cgroups_limits lim;
	struct cgroups_stats st;
	struct err e = {{0}};
	char **ids;
	size_t n;
	char *mem, *acct, *cpu;

	(void)state;
	fake_v1(&fk);
	assert_false(cgroups_exists(&fk.cg, "c1"));
	cgroups_limits_for(&lim, 0.2, 64, true, 50);
	assert_int_equal(cgroups_create(&fk.cg, "c1", &lim, &e), 0);
	assert_true(cgroups_exists(&fk.cg, "c1"));
	assert_file(&fk.cg, CG_CPU, "cpu.shares", "307");
	assert_file(&fk.cg, CG_CPU, "cpu.cfs_period_us", "100000");
	assert_file(&fk.cg, CG_CPU, "cpu.cfs_quota_us", "30000");
	assert_file(&fk.cg, CG_MEMORY, "memory.limit_in_bytes", "100663296");
	assert_file(&fk.cg, CG_PIDS, "pids.max", "50");
	assert_int_equal(cgroups_attach(&fk.cg, "c1", 4242, &e), 0);
	assert_file(&fk.cg, CG_PIDS, "cgroup.procs", "4242");

	/* What the kernel would show. */
	mem = xasprintf("%s/atoll", fk.cg.mount[CG_MEMORY]);
	acct = xasprintf("%s/atoll", fk.cg.mount[CG_CPUACCT]);
	cpu = xasprintf("%s/atoll", fk.cg.mount[CG_CPU]);
	put(mem, "c1", "memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	put(mem, "c1", "memory.usage_in_bytes", "1000\n");
	put(mem, "c1", "memory.max_usage_in_bytes", "100663296\n");
	put(mem, "c1", "memory.stat", "rss 1\ntotal_rss 700\ntotal_cache 9\n");
	put(acct, "c1", "cpuacct.usage_user", "3000000000\n");
	put(acct, "c1", "cpuacct.usage_sys", "500000\n");
	put(cpu, "c1", "cpu.stat",
	    "nr_periods 10\nnr_throttled 4\nthrottled_time 2000\n");
	assert_int_equal(cgroups_stats_read(&fk.cg, "c1", &st), 0);
	assert_int_equal(st.user_usec, 3000000);
	assert_int_equal(st.system_usec, 500);
	assert_int_equal(st.nr_throttled, 4);
	assert_int_equal(st.throttled_usec, 2);
	assert_int_equal(st.mem_usage_bytes, 1000);
	assert_int_equal(st.mem_max_usage_bytes, 100663296);
	assert_int_equal(st.mem_rss_bytes, 700);
	assert_int_equal(st.mem_cache_bytes, 9);
	assert_int_equal(st.mem_limit_bytes, 100663296);
	assert_int_equal(st.oom_kills, 2);

	/* A garbled file reads as unknown, never as a crash. */
	put(mem, "c1", "memory.oom_control", "oom_kill lots\n");
	put(mem, "c1", "memory.limit_in_bytes", "-3\n");
	assert_int_equal(cgroups_stats_read(&fk.cg, "c1", &st), 0);
	assert_int_equal(st.oom_kills, 0);
	assert_int_equal(st.mem_limit_bytes, UINT64_MAX);

	assert_int_equal(cgroups_list(&fk.cg, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "c1");
	free(ids[0]);
	free(ids);

	/* destroy SIGKILLs the pids in cgroup.procs: empty the fake ones
	 * (4242 is a stranger's pid on this machine). */
	put(mem, "c1", "cgroup.procs", "");
	put(cpu, "c1", "cgroup.procs", "");
	put(acct, "c1", "cgroup.procs", "");
	{
		char *pids = xasprintf("%s/atoll", fk.cg.mount[CG_PIDS]);
		put(pids, "c1", "cgroup.procs", "");
		free(pids);
	}
	assert_true(cgroups_is_stale(&fk.cg, "c1", 0));
	assert_false(cgroups_is_stale(&fk.cg, "c1", 3600)); /* too young */
	put(mem, "c1", "cgroup.procs", "77\n");
	assert_false(cgroups_is_stale(&fk.cg, "c1", 0)); /* busy */
	put(mem, "c1", "cgroup.procs", "");
	assert_int_equal(cgroups_destroy(&fk.cg, "c1"), 0);
	assert_false(cgroups_exists(&fk.cg, "c1"));
	assert_int_equal(cgroups_stats_read(&fk.cg, "c1", &st), -ENOENT);
	assert_int_equal(cgroups_destroy(&fk.cg, "c1"), 0); /* absent */
	assert_int_equal(cgroups_list(&fk.cg, &ids, &n), 0);
	assert_int_equal(n, 0);
	free(ids);
	free(mem);
	free(acct);
	free(cpu);
	fake_remove(&fk);
}

static void test_fake_v2_limits(void **state)
{
	struct fake fk;
	struct cgroups_limits lim;
	struct err e = {{0}};
	char *dir;

	(void)state;
	snprintf(fk.dir, sizeof(fk.dir), "/tmp/atoll-cg-XXXXXX");
	assert_non_null(mkdtemp(fk.dir));
	memset(&fk.cg, 0, sizeof(fk.cg));
	fk.cg.version = CGROUPS_V2;
	snprintf(fk.cg.root, sizeof(fk.cg.root), "atoll");
	snprintf(fk.cg.mount[CG_CPU], PATH_MAX, "%s", fk.dir);
	cgroups_limits_for(&lim, 1.9, 128, true, 10);
	assert_int_equal(cgroups_create(&fk.cg, "c1", &lim, &e), 0);
	dir = xasprintf("%s/atoll", fk.dir);
	{
		char *w = get(dir, "c1", "cpu.weight");
		char *m = get(dir, "c1", "cpu.max");
		char *x = get(dir, "c1", "memory.max");
		char *p = get(dir, "c1", "pids.max");
		char *sub = get(fk.dir, "atoll", "cgroup.subtree_control");
		assert_string_equal(w, "200");
		assert_string_equal(m, "200000 100000");
		assert_string_equal(x, "167772160");
		assert_string_equal(p, "10");
		assert_string_equal(sub, "+cpu +memory +pids");
		free(w);
		free(m);
		free(x);
		free(p);
		free(sub);
	}
	put(dir, "c1", "memory.events", "low 0\nmax 3\noom 1\noom_kill 1\n");
	put(dir, "c1", "cpu.stat",
	    "usage_usec 10\nuser_usec 7\n"
	    "system_usec 3\n");
	{
		struct cgroups_stats st;
		assert_int_equal(cgroups_stats_read(&fk.cg, "c1", &st), 0);
		assert_int_equal(st.oom_kills, 1);
		assert_int_equal(st.user_usec, 7);
		assert_int_equal(st.system_usec, 3);
		assert_int_equal(st.mem_limit_bytes, 167772160);
	}
	put(dir, "c1", "cgroup.procs", "");
	assert_int_equal(cgroups_destroy(&fk.cg, "c1"), 0);
	{
		char *p = xasprintf("%s/cgroup.subtree_control", dir);
		assert_int_equal(unlink(p), 0);
		free(p);
		p = xasprintf("%s/cgroup.subtree_control", fk.dir);
		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rmdir(fk.dir), 0);
	free(dir);
}

static void test_create_errors(void **state)
{
	struct cgroups cg = {0};
	struct cgroups_limits lim;
	struct err e = {{0}};

	(void)state;
	cgroups_limits_for(&lim, 1, 32, false, 0);
	assert_int_equal(cgroups_create(&cg, "c1", &lim, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not usable"));
	cg.version = CGROUPS_V1;
	snprintf(cg.root, sizeof(cg.root), "atoll");
	for (int c = 0; c < CG_NCONTROLLERS; c++)
		snprintf(cg.mount[c], PATH_MAX, "/nonexistent-atoll/x");
	assert_true(cgroups_create(&cg, "c1", &lim, &e) < 0);
	assert_non_null(strstr(e.msg, "cannot create"));
	/* Bad roots are refused by detection. */
	assert_int_equal(cgroups_detect(&cg, "a/b", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--cgroups-root"));
	assert_int_equal(cgroups_detect(&cg, "..", &e), -EINVAL);
	assert_int_equal(cgroups_detect(&cg, "", &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mountinfo_v1),
	    cmocka_unit_test(test_mountinfo_v2_and_escapes),
	    cmocka_unit_test(test_mountinfo_bad),
	    cmocka_unit_test(test_proc_cgroup),
	    cmocka_unit_test(test_parse_key),
	    cmocka_unit_test(test_parse_value),
	    cmocka_unit_test(test_limits_for),
	    cmocka_unit_test(test_fake_v1_lifecycle),
	    cmocka_unit_test(test_fake_v2_limits),
	    cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
