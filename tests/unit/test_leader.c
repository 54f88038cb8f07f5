/*
 * test_leader.c: leader election and detection (lib/leader.h).
 *
 * Always: the pure parts, table-driven (MasterInfo JSON as Mesos writes
 * it, child names "json.info_<seq>", option checks).
 *
 * With ATOLL_ZK=host:port (a real ZooKeeper server; the integration test
 * tests/integration/test_zk_leader.py starts one and runs this binary):
 *   - two contenders: the first is elected, the second is not; the
 *     znodes are "json.info_" + 10 digits holding the MasterInfo as
 *     given; the detector reports the first; closing the first's session
 *     elects the second and the detector follows;
 *   - a leader in a child process is paused (SIGSTOP) past its session
 *     timeout: the server expires its session, the standby is elected,
 *     the detector follows, and once resumed the old leader reports
 *     LEADER_LOST.
 * Without ATOLL_ZK those tests are skipped.
 */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/leader.h"
#include "lib/subscriber.h"
#include "lib/zk.h"

#define INFO1                                                                  \
	"{\"id\":\"master-1\",\"ip\":16777343,\"port\":5051,"                  \
	"\"pid\":\"master@127.0.0.1:5051\",\"hostname\":\"m1\","               \
	"\"version\":\"1.11.0\",\"address\":{\"hostname\":\"m1\","             \
	"\"ip\":\"127.0.0.1\",\"port\":5051}}"
#define INFO2                                                                  \
	"{\"id\":\"master-2\",\"ip\":16777343,\"port\":5052,"                  \
	"\"pid\":\"master@127.0.0.1:5052\",\"hostname\":\"m2\","               \
	"\"version\":\"1.11.0\",\"address\":{\"hostname\":\"m2\","             \
	"\"ip\":\"127.0.0.1\",\"port\":5052}}"
#define INFO_CHILD                                                             \
	"{\"id\":\"child\",\"ip\":16777343,\"port\":5053,"                     \
	"\"pid\":\"master@127.0.0.1:5053\",\"hostname\":\"c\","                \
	"\"address\":{\"hostname\":\"c\",\"ip\":\"127.0.0.1\",\"port\":5053}}"

/* ---- pure parts --------------------------------------------------------- */

static void test_znode_sequence(void **state)
{
	static const struct {
		const char *name;
		int64_t seq;
	} cases[] = {
	    {"json.info_0000000000", 0},
	    {"json.info_0000000007", 7},
	    {"json.info_2147483647", 2147483647},
	    {"json.info_12", 12},
	    {"json.info_2147483648", -1},
	    {"json.info_00000000001", -1},
	    {"json.info_", -1},
	    {"json.info_12a", -1},
	    {"json.info_-1", -1},
	    {"info_0000000001", -1},
	    {"log_replicas", -1},
	    {"json.info", -1},
	    {"xjson.info_0000000001", -1},
	    {"", -1},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (leader_znode_sequence(cases[i].name) != cases[i].seq)
			fail_msg("'%s': got %lld, want %lld", cases[i].name,
			         (long long)leader_znode_sequence(
			             cases[i].name),
			         (long long)cases[i].seq);
	assert_int_equal(leader_znode_sequence(NULL), -1);
}

static void test_info_parse_mesos(void **state)
{
	struct leader_info li;
	struct err e = {{0}};

	(void)state;
	assert_int_equal(leader_info_parse(INFO1, strlen(INFO1), &li, &e), 0);
	assert_string_equal(li.id, "master-1");
	/* 16777343 = 0x0100007f: the bytes 7f 00 00 01 in memory. */
	assert_string_equal(li.ip, "127.0.0.1");
	assert_int_equal(li.port, 5051);
	assert_string_equal(li.pid, "master@127.0.0.1:5051");
	assert_string_equal(li.hostname, "m1");
	assert_string_equal(li.version, "1.11.0");
	assert_string_equal(li.endpoint, "127.0.0.1:5051");
	assert_string_equal(li.json, INFO1);
	assert_int_equal(li.sequence, -1);
	leader_info_release(&li);
	assert_null(li.id);
}

/* Where clients connect, by what the MasterInfo carries. */
static void test_info_endpoint(void **state)
{
	static const struct {
		const char *json;
		const char *endpoint;
	} cases[] = {
	    /* address.ip wins */
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"pid\":\"master@9.9.9.9:9\","
	     "\"address\":{\"ip\":\"10.0.0.2\",\"hostname\":\"h\","
	     "\"port\":5050}}",
	     "10.0.0.2:5050"},
	    /* then address.hostname */
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,"
	     "\"address\":{\"hostname\":\"m.example\",\"port\":5050}}",
	     "m.example:5050"},
	    /* then the pid */
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,"
	     "\"pid\":\"master@10.1.2.3:5055\"}",
	     "10.1.2.3:5055"},
	    /* then ip (network order) and port: 10.0.0.1 */
	    {"{\"id\":\"a\",\"ip\":16777226,\"port\":5050}", "10.0.0.1:5050"},
	    /* address without a port does not count */
	    {"{\"id\":\"a\",\"ip\":16777343,\"port\":7,"
	     "\"address\":{\"ip\":\"10.0.0.2\"}}",
	     "127.0.0.1:7"},
	    /* IPv6 in address.ip is bracketed */
	    {"{\"id\":\"a\",\"ip\":0,\"port\":1,"
	     "\"address\":{\"ip\":\"::1\",\"port\":5050}}",
	     "[::1]:5050"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct leader_info li;
		struct err e = {{0}};

		if (leader_info_parse(cases[i].json, strlen(cases[i].json),
		                      &li, &e))
			fail_msg("case %zu: %s", i, e.msg);
		assert_string_equal(li.endpoint, cases[i].endpoint);
		leader_info_release(&li);
	}
}

static void test_info_parse_bad(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
	    {"", "not JSON"},
	    {"{", "not JSON"},
	    {"[]", "must be a JSON object"},
	    {"{\"ip\":1,\"port\":1}", "id: required"},
	    {"{\"id\":\"\",\"ip\":1,\"port\":1}", "id: required"},
	    {"{\"id\":7,\"ip\":1,\"port\":1}", "id: required"},
	    {"{\"id\":\"a\",\"port\":1}", "ip: required"},
	    {"{\"id\":\"a\",\"ip\":-1,\"port\":1}", "ip: required"},
	    {"{\"id\":\"a\",\"ip\":4294967296,\"port\":1}", "ip: required"},
	    {"{\"id\":\"a\",\"ip\":\"127.0.0.1\",\"port\":1}", "ip: required"},
	    {"{\"id\":\"a\",\"ip\":1}", "port: must be an integer"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":0}", "port: must be in"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":65536}", "port: must be in"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"pid\":3}",
	     "pid: must be a string"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"hostname\":[]}",
	     "hostname: must be a string"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"address\":1}",
	     "address: must be an object"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"address\":{\"port\":0}}",
	     "address.port: must be in"},
	    {"{\"id\":\"a\",\"ip\":1,\"port\":1,\"address\":{\"ip\":1}}",
	     "address.ip: must be a string"},
	    {"{\"id\":\"a\",\"id\":\"b\",\"ip\":1,\"port\":1}", "not JSON"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct leader_info li;
		struct err e = {{0}};
		int rc = leader_info_parse(cases[i].json, strlen(cases[i].json),
		                           &li, &e);

		if (rc != -EINVAL)
			fail_msg("case %zu '%s': accepted", i, cases[i].json);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			         cases[i].msg);
		assert_null(li.id);
		leader_info_release(&li);
	}
}

static void test_contender_bad_options(void **state)
{
	uv_loop_t loop;
	struct err e = {{0}};
	struct leader_contender_opts o = {
	    .zk = "zk://127.0.0.1:1/atoll",
	    .master_info = INFO1,
	    .disconnect_fraction = 0.5,
	};

	(void)state;
	uv_loop_init(&loop);
	assert_null(leader_contender_new(&loop, &o, NULL, NULL, &e));
	assert_non_null(strstr(e.msg, "disconnect_fraction"));
	o.disconnect_fraction = 0;
	o.master_info = "not json";
	assert_null(leader_contender_new(&loop, &o, NULL, NULL, &e));
	assert_non_null(strstr(e.msg, "master info"));
	o.master_info = INFO1;
	o.zk = "zk://127.0.0.1:1/";
	assert_null(leader_contender_new(&loop, &o, NULL, NULL, &e));
	assert_non_null(strstr(e.msg, "zk url"));
	assert_null(leader_detector_new(&loop, "127.0.0.1:2181", 0, NULL, NULL,
	                                &e));
	assert_non_null(strstr(e.msg, "zk://"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- with a ZooKeeper server ----------------------------------------------- */

struct side {
	struct leader_contender *c;
	int elected;
	int lost;
	char why[256];
};

struct world {
	uv_loop_t loop;
	uv_timer_t tick;
	char url[256];
	struct side a, b;
	struct leader_detector *d;
	int changes;
	char leader_id[64];
	int64_t leader_seq;
	int leader_none;
	/* raw reads through lib/zk */
	struct zk *zk;
	int zk_up;
	int nchildren;
	char child[4][64];
	int children_done;
	char data[1024];
	int data_done;
};

static void on_contender(struct leader_contender *c, enum leader_event ev,
                         const char *why, void *arg)
{
	struct side *s = arg;

	(void)c;
	if (ev == LEADER_ELECTED)
		s->elected++;
	else {
		s->lost++;
		snprintf(s->why, sizeof(s->why), "%s", why ? why : "");
	}
}

static void on_detect(struct leader_detector *d, const struct leader_info *li,
                      void *arg)
{
	struct world *w = arg;

	(void)d;
	w->changes++;
	w->leader_none = li == NULL;
	snprintf(w->leader_id, sizeof(w->leader_id), "%s", li ? li->id : "");
	w->leader_seq = li ? li->sequence : -1;
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until *flag is non-zero or seconds pass; returns whether
 * it became non-zero. */
static bool run_until(struct world *w, const volatile int *flag, double secs)
{
	uint64_t end = uv_hrtime() + (uint64_t)(secs * 1e9);

	while (!*flag && uv_hrtime() < end)
		uv_run(&w->loop, UV_RUN_ONCE);
	return *flag != 0;
}

static bool run_until_id(struct world *w, const char *id, double secs)
{
	uint64_t end = uv_hrtime() + (uint64_t)(secs * 1e9);

	while (strcmp(w->leader_id, id) && uv_hrtime() < end)
		uv_run(&w->loop, UV_RUN_ONCE);
	return !strcmp(w->leader_id, id);
}

static void run_for(struct world *w, double secs)
{
	uint64_t end = uv_hrtime() + (uint64_t)(secs * 1e9);

	while (uv_hrtime() < end)
		uv_run(&w->loop, UV_RUN_ONCE);
}

static const char *zk_server(void)
{
	const char *s = getenv("ATOLL_ZK");

	return s && *s ? s : NULL;
}

static void world_init(struct world *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	uv_loop_init(&w->loop);
	uv_timer_init(&w->loop, &w->tick);
	uv_timer_start(&w->tick, on_tick, 20, 20);
	snprintf(w->url, sizeof(w->url), "zk://%s%s", zk_server(), path);
	w->leader_seq = -1;
}

/* Frees what is left and checks that every handle was closed. */
static void world_end(struct world *w)
{
	uint64_t end;

	leader_contender_free(w->a.c);
	leader_contender_free(w->b.c);
	leader_detector_free(w->d);
	zk_free(w->zk);
	uv_close((uv_handle_t *)&w->tick, NULL);
	end = uv_hrtime() + 20 * (uint64_t)1e9;
	while (uv_loop_alive(&w->loop) && uv_hrtime() < end)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

static struct leader_contender *contend(struct world *w, struct side *s,
                                        const char *info, double timeout)
{
	struct err e = {{0}};
	struct leader_contender_opts o = {
	    .zk = w->url,
	    .master_info = info,
	    .session_timeout = timeout,
	};
	struct leader_contender *c =
	    leader_contender_new(&w->loop, &o, on_contender, s, &e);

	if (!c)
		fail_msg("contender: %s", e.msg);
	s->c = c;
	return c;
}

static void on_raw_session(struct zk *zk, enum zk_session_event ev,
                           uint64_t at, void *arg)
{
	struct world *w = arg;

	(void)zk;
	(void)at;
	if (ev == ZK_SESSION_CONNECTED)
		w->zk_up = 1;
}

static void on_raw_children(struct zk *zk, int rc, char *const *names,
                            size_t n, void *arg)
{
	struct world *w = arg;

	(void)zk;
	assert_int_equal(rc, ZK_RC_OK);
	w->nchildren = (int)n;
	for (size_t i = 0; i < n && i < ARRAY_SIZE(w->child); i++)
		snprintf(w->child[i], sizeof(w->child[i]), "%s", names[i]);
	w->children_done = 1;
}

static void on_raw_data(struct zk *zk, int rc, const char *data, size_t len,
                        void *arg)
{
	struct world *w = arg;

	(void)zk;
	assert_int_equal(rc, ZK_RC_OK);
	assert_true(len < sizeof(w->data));
	memcpy(w->data, data, len);
	w->data[len] = '\0';
	w->data_done = 1;
}

/* Reads the group through a plain session, as a Mesos tool would. */
static void check_znodes(struct world *w, const char *path,
                         const char *leader_znode, const char *want_data)
{
	struct err e = {{0}};
	char full[512];
	const char *base = strrchr(leader_znode, '/') + 1;
	bool seen = false;

	w->zk = zk_new(&w->loop, zk_server(), 5, on_raw_session, w, &e);
	assert_non_null(w->zk);
	assert_true(run_until(w, &w->zk_up, 10));
	assert_int_equal(
	    zk_get_children(w->zk, path, NULL, on_raw_children, w), 0);
	assert_true(run_until(w, &w->children_done, 10));
	assert_int_equal(w->nchildren, 2);
	for (int i = 0; i < w->nchildren; i++) {
		/* "json.info_" and exactly 10 digits, as Mesos names them. */
		assert_int_equal(strlen(w->child[i]), 20);
		assert_int_equal(strncmp(w->child[i], "json.info_", 10), 0);
		assert_true(leader_znode_sequence(w->child[i]) >= 0);
		seen = seen || !strcmp(w->child[i], base);
	}
	assert_true(seen);
	snprintf(full, sizeof(full), "%s/%s", path, base);
	assert_string_equal(full, leader_znode);
	assert_int_equal(zk_get(w->zk, full, NULL, on_raw_data, w), 0);
	assert_true(run_until(w, &w->data_done, 10));
	assert_string_equal(w->data, want_data);
	zk_free(w->zk);
	w->zk = NULL;
}

/* Every descriptor above stderr is close-on-exec, the library's too. */
static void check_all_cloexec(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		int flags = fcntl(fd, F_GETFD);
		if (flags >= 0 && !(flags & FD_CLOEXEC))
			fail_msg("fd %d is not close-on-exec", fd);
	}
}

static void test_zk_two_contenders(void **state)
{
	struct world w;
	struct err e = {{0}};
	char path[64];
	int64_t seq1;

	(void)state;
	if (!zk_server())
		skip();
	/* A fresh group per run: nested parents get created. */
	snprintf(path, sizeof(path), "/atoll-test/%d/two", (int)getpid());
	world_init(&w, path);
	contend(&w, &w.a, INFO1, 4);
	assert_true(run_until(&w, &w.a.elected, 15));
	assert_true(leader_contender_is_leader(w.a.c));
	seq1 = leader_znode_sequence(
	    strrchr(leader_contender_znode(w.a.c), '/') + 1);
	assert_true(seq1 >= 0);

	contend(&w, &w.b, INFO2, 4);
	w.d = leader_detector_new(&w.loop, w.url, 4, on_detect, &w, &e);
	assert_non_null(w.d);
	assert_true(run_until_id(&w, "master-1", 15));
	assert_int_equal(w.leader_seq, seq1);
	assert_string_equal(leader_detector_leader(w.d)->endpoint,
	                    "127.0.0.1:5051");
	/* The second one has joined, behind the first. */
	{
		uint64_t end = uv_hrtime() + 15 * (uint64_t)1e9;
		while (!leader_contender_znode(w.b.c) && uv_hrtime() < end)
			uv_run(&w.loop, UV_RUN_ONCE);
	}
	assert_non_null(leader_contender_znode(w.b.c));
	run_for(&w, 0.5);
	check_all_cloexec();
	assert_int_equal(w.b.elected, 0);
	assert_false(leader_contender_is_leader(w.b.c));
	check_znodes(&w, path, leader_contender_znode(w.a.c), INFO1);

	/* Closing the leader's session hands over at once. */
	leader_contender_free(w.a.c);
	w.a.c = NULL;
	assert_true(run_until(&w, &w.b.elected, 10));
	assert_true(leader_contender_is_leader(w.b.c));
	assert_true(run_until_id(&w, "master-2", 10));
	assert_true(w.leader_seq > seq1);
	assert_int_equal(w.b.lost, 0);
	assert_int_equal(w.b.elected, 1);

	/* The last one leaves: no leader. */
	leader_contender_free(w.b.c);
	w.b.c = NULL;
	assert_true(run_until(&w, &w.leader_none, 10));
	assert_int_equal(w.a.lost, 0); /* freed, never reported */
	world_end(&w);
}

static void on_sub_disconnected(int err, int status, const char *msg,
                                void *arg)
{
	struct world *w = arg;

	(void)err;
	(void)status;
	(void)msg;
	w->changes++;
}

/* Runs the loop until the subscriber's endpoint is want. */
static bool run_until_endpoint(struct world *w, struct subscriber *sub,
                               const char *want, double secs)
{
	uint64_t end = uv_hrtime() + (uint64_t)(secs * 1e9);

	while (!streq(subscriber_endpoint(sub), want) && uv_hrtime() < end)
		uv_run(&w->loop, UV_RUN_ONCE);
	return streq(subscriber_endpoint(sub), want);
}

/*
 * A zk:// subscriber aims at the leader and moves when it changes. The
 * masters' ports are closed: attempts fail and are retried, which is
 * enough to see where they go.
 */
static void test_zk_subscriber_follows_leader(void **state)
{
	struct world w;
	char path[64];
	struct subscriber *sub;
	struct subscriber_opts so = {
	    .path = "/api/v1/scheduler",
	    .on_disconnected = on_sub_disconnected,
	    .zk_session_timeout = 4,
	    .backoff_min = 0.05,
	    .backoff_max = 0.2,
	};

	(void)state;
	if (!zk_server())
		skip();
	snprintf(path, sizeof(path), "/atoll-test/%d/sub", (int)getpid());
	world_init(&w, path);
	so.zk = w.url;
	sub = subscriber_new(&w.loop, &so, &w);
	subscriber_start(sub);
	run_for(&w, 0.3);
	assert_null(subscriber_endpoint(sub)); /* no master yet */
	assert_int_equal(w.changes, 0);        /* nothing attempted */
	contend(&w, &w.a, INFO1, 4);
	assert_true(run_until(&w, &w.a.elected, 15));
	assert_true(run_until_endpoint(&w, sub, "127.0.0.1:5051", 15));
	contend(&w, &w.b, INFO2, 4);
	{
		uint64_t end = uv_hrtime() + 15 * (uint64_t)1e9;
		while (!leader_contender_znode(w.b.c) && uv_hrtime() < end)
			uv_run(&w.loop, UV_RUN_ONCE);
	}
	run_for(&w, 0.3);
	assert_string_equal(subscriber_endpoint(sub), "127.0.0.1:5051");
	assert_true(w.changes > 0); /* it did try the closed port */
	leader_contender_free(w.a.c);
	w.a.c = NULL;
	assert_true(run_until_endpoint(&w, sub, "127.0.0.1:5052", 15));
	/* Refused attempts rotate, but only ever to the leader. */
	run_for(&w, 0.5);
	assert_string_equal(subscriber_endpoint(sub), "127.0.0.1:5052");
	subscriber_free(sub);
	world_end(&w);
}

/* The paused leader: runs in a child, reports on fd. */
static void child_leader(int fd, const char *url)
{
	struct world w;
	char msg[300];
	ssize_t n;

	memset(&w, 0, sizeof(w));
	uv_loop_init(&w.loop);
	uv_timer_init(&w.loop, &w.tick);
	uv_timer_start(&w.tick, on_tick, 20, 20);
	snprintf(w.url, sizeof(w.url), "%s", url);
	contend(&w, &w.a, INFO_CHILD, 2);
	if (!run_until(&w, &w.a.elected, 20))
		_exit(2);
	n = write(fd, "E", 1);
	if (!run_until(&w, &w.a.lost, 60))
		_exit(3);
	snprintf(msg, sizeof(msg), "L%s", w.a.why);
	n = write(fd, msg, strlen(msg));
	(void)n;
	leader_contender_free(w.a.c);
	_exit(0);
}

/* Reads what the child wrote, waiting up to secs. */
static ssize_t read_child(int fd, char *buf, size_t cap, double secs)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, (int)(secs * 1000)) <= 0)
		return -1;
	n = read(fd, buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void test_zk_paused_leader_expires(void **state)
{
	struct world w;
	struct err e = {{0}};
	char path[64], buf[512];
	int fds[2], status;
	pid_t pid;
	uint64_t t0;

	(void)state;
	if (!zk_server())
		skip();
	snprintf(path, sizeof(path), "/atoll-test/%d/paused", (int)getpid());
	world_init(&w, path);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_leader(fds[1], w.url);
	}
	close(fds[1]);
	assert_int_equal(read_child(fds[0], buf, sizeof(buf), 20), 1);
	assert_string_equal(buf, "E");

	contend(&w, &w.b, INFO2, 4);
	w.d = leader_detector_new(&w.loop, w.url, 4, on_detect, &w, &e);
	assert_non_null(w.d);
	assert_true(run_until_id(&w, "child", 15));
	run_for(&w, 0.5);
	assert_int_equal(w.b.elected, 0);

	/* Pause the leader past its 2 s session timeout. */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = uv_hrtime();
	assert_true(run_until(&w, &w.b.elected, 20));
	print_message("standby elected %.1f s after the leader was paused\n",
	              (double)(uv_hrtime() - t0) / 1e9);
	assert_true(run_until_id(&w, "master-2", 10));

	/* Resumed, the old leader learns it lost, and says so. */
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_true(read_child(fds[0], buf, sizeof(buf), 20) > 1);
	print_message("old leader: %s\n", buf + 1);
	assert_int_equal(buf[0], 'L');
	/* Which comes first depends on what the client reads first after
	 * the pause: the expiry, the lost connection, or the deletion of
	 * its znode that the server sent just before closing it. */
	assert_true(strstr(buf, "expired") || strstr(buf, "disconnected") ||
	            strstr(buf, "deleted"));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fds[0]);
	assert_int_equal(w.b.lost, 0);
	world_end(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_znode_sequence),
	    cmocka_unit_test(test_info_parse_mesos),
	    cmocka_unit_test(test_info_endpoint),
	    cmocka_unit_test(test_info_parse_bad),
	    cmocka_unit_test(test_contender_bad_options),
	    /* The fork comes first, while this process has no ZooKeeper
	     * threads. */
	    cmocka_unit_test(test_zk_paused_leader_expires),
	    cmocka_unit_test(test_zk_two_contenders),
	    cmocka_unit_test(test_zk_subscriber_follows_leader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
