/*
 * test_volumes.c: the agent's persistent volumes (src/agent/volumes.c):
 * host paths (roles escaped), directories created and destroyed, the
 * checkpoint written and read back (and refused when damaged), and bind
 * mounts into a sandbox (as root only: skipped otherwise), including a
 * symlink that tries to lead a mount out of the sandbox.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/volumes.h"
#include "lib/err.h"

/* A fresh temporary directory (heap). */
static char *tmpdir(void)
{
	char tmpl[] = "/tmp/atoll-volumes-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void parse_json_ok(struct resources *r, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	struct err e = {{0}};

	assert_non_null(j);
	resources_init(r);
	if (resources_from_json(r, j, &e))
		fail_msg("unexpected error for %s: %s", json, e.msg);
	json_decref(j);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

#define VOL(id, role, path, mode)                                              \
	"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10},"    \
	"\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"" role "\"}],"     \
	"\"disk\":{\"persistence\":{\"id\":\"" id "\"},\"volume\":{"          \
	"\"container_path\":\"" path "\",\"mode\":\"" mode "\"}}}"

static void test_paths(void **state)
{
	static const struct {
		const char *role, *id, *want;
	} cases[] = {
	    {"eng", "v1", "/w/volumes/roles/eng/v1"},
	    {"eng/web", "v1", "/w/volumes/roles/eng%2Fweb/v1"},
	    {"a%b", "x.y", "/w/volumes/roles/a%25b/x.y"},
	};
	struct resources r;
	char *p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		p = agent_volumes_path("/w", cases[i].role, cases[i].id);
		assert_string_equal(p, cases[i].want);
		free(p);
	}
	parse_json_ok(&r, "[" VOL("v9", "eng/web", "d", "RW") ","
	                  "{\"name\":\"cpus\",\"type\":\"SCALAR\","
	                  "\"scalar\":{\"value\":1}}]");
	p = agent_volumes_host_path("/w", &r.v[0]);
	assert_string_equal(p, "/w/volumes/roles/eng%2Fweb/v9");
	free(p);
	assert_null(agent_volumes_host_path("/w", &r.v[1]));
	resources_release(&r);
}

static void test_create_destroy(void **state)
{
	char *w = tmpdir(), *p, *f;
	struct resources r;
	struct err e = {{0}};
	FILE *fp;

	(void)state;
	parse_json_ok(&r, "[" VOL("v1", "eng", "d", "RW") "]");
	assert_int_equal(agent_volumes_create(w, &r, &e), 0);
	p = agent_volumes_path(w, "eng", "v1");
	assert_true(is_dir(p));
	/* creating again keeps the data */
	f = xasprintf("%s/data", p);
	fp = fopen(f, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(agent_volumes_create(w, &r, &e), 0);
	assert_int_equal(access(f, F_OK), 0);
	agent_volumes_destroy(w, &r);
	assert_false(is_dir(p));
	/* a work dir that cannot hold directories is reported */
	free(f);
	f = xasprintf("%s/file", w);
	fp = fopen(f, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(agent_volumes_create(f, &r, &e), -ENOTDIR);
	assert_non_null(strstr(e.msg, "cannot create volume directory"));
	free(p);
	free(f);
	resources_release(&r);
	rm_rf(w);
	free(w);
}

static void test_checkpoint(void **state)
{
	char *meta = tmpdir(), *f;
	struct resources total, back;
	struct err e = {{0}};
	FILE *fp;

	(void)state;
	resources_init(&back);
	resources_init(&total);
	assert_int_equal(agent_volumes_load(meta, &back, &e), -ENOENT);
	assert_int_equal(resources_parse_text(&total, "cpus:2;disk:100", NULL,
	                                      &e),
	                 0);
	{
		struct resources v;
		parse_json_ok(&v, "[" VOL("v1", "eng", "d", "RO") "]");
		resources_add(&total, &v);
		resources_release(&v);
	}
	assert_int_equal(agent_volumes_save(meta, &total, &e), 0);
	assert_int_equal(agent_volumes_load(meta, &back, &e), 0);
	/* only the checkpointed part is stored */
	assert_int_equal(back.n, 1);
	assert_string_equal(back.v[0].persistence_id, "v1");
	assert_true(back.v[0].volume_ro);
	resources_release(&back);

	f = xasprintf("%s/%s", meta, AGENT_VOLUMES_CKPT);
	fp = fopen(f, "w");
	assert_non_null(fp);
	fputs("[{\"name\":", fp);
	fclose(fp);
	assert_int_equal(agent_volumes_load(meta, &back, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "is damaged"));
	fp = fopen(f, "w");
	assert_non_null(fp);
	fputs("[{\"name\":\"cpus\",\"type\":\"SCALAR\"}]", fp);
	fclose(fp);
	assert_int_equal(agent_volumes_load(meta, &back, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "scalar: required"));
	assert_int_equal(back.n, 0);
	free(f);
	resources_release(&total);
	rm_rf(meta);
	free(meta);
}

static void test_mount(void **state)
{
	char *w = tmpdir(), *sandbox, *host, *inside, *outside, *link;
	struct resources r, bad;
	struct err e = {{0}};
	FILE *fp;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: bind mounts need root\n");
		free(w);
		return;
	}
	sandbox = xasprintf("%s/sandbox", w);
	assert_int_equal(mkdir(sandbox, 0755), 0);
	parse_json_ok(&r, "[" VOL("v1", "eng", "data", "RW") ","
	                  VOL("v2", "eng", "ro/x", "RO") "]");
	/* a missing volume directory is refused, nothing stays mounted */
	assert_int_equal(agent_volumes_mount(w, sandbox, &r, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no directory"));
	assert_int_equal(agent_volumes_create(w, &r, &e), 0);
	assert_int_equal(agent_volumes_mount(w, sandbox, &r, &e), 0);

	/* what the task writes lands in the volume */
	inside = xasprintf("%s/data/f", sandbox);
	fp = fopen(inside, "w");
	assert_non_null(fp);
	fclose(fp);
	host = agent_volumes_path(w, "eng", "v1");
	outside = xasprintf("%s/f", host);
	assert_int_equal(access(outside, F_OK), 0);
	/* the RO volume refuses writes */
	free(inside);
	inside = xasprintf("%s/ro/x/g", sandbox);
	assert_null(fopen(inside, "w"));
	assert_int_equal(errno, EROFS);

	agent_volumes_unmount(sandbox, &r);
	assert_int_equal(access(outside, F_OK), 0); /* data outlives it */
	free(inside);
	inside = xasprintf("%s/data/f", sandbox);
	assert_int_equal(access(inside, F_OK), -1);
	agent_volumes_unmount(sandbox, &r); /* twice is harmless */

	/* a symlink in the sandbox cannot lead a volume out of it */
	link = xasprintf("%s/esc", sandbox);
	assert_int_equal(symlink("/tmp", link), 0);
	parse_json_ok(&bad, "[" VOL("v1", "eng", "esc/v", "RW") "]");
	assert_int_equal(agent_volumes_mount(w, sandbox, &bad, &e), -EPERM);
	assert_non_null(strstr(e.msg, "leaves the sandbox"));

	resources_release(&r);
	resources_release(&bad);
	free(link);
	free(inside);
	free(outside);
	free(host);
	free(sandbox);
	rm_rf(w);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_create_destroy),
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
