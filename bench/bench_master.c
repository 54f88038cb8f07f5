/*
 * bench_master.c: the master at scale under a real load, over real HTTP.
 *
 * One run starts a fresh `atoll master` on loopback and two load
 * processes (forked, each with its own libuv loop, so the load uses the
 * second core and the master has the first to itself):
 *
 *   simulated agents (child)  N agents, each on its own subscription
 *       (POST /api/v1/agent, docs/protocol.md), advertising one shared
 *       HTTP listener that answers the master's GET /health pings. A
 *       RUN_TASK is answered at once with an UPDATE TASK_RUNNING; in
 *       --short mode the ACKNOWLEDGE of that update is answered with an
 *       UPDATE TASK_FINISHED (as a real agent does: one unacknowledged
 *       update per task at a time). Calls go through a pool of keep-alive
 *       connections shared by all agents: the protocol binds a call to
 *       its agent by agent_id plus Mesos-Stream-Id, not by connection, so
 *       N agents need N stream connections, not 2N.
 *   load framework (parent)   the raw v1 scheduler API: a subscription
 *       (lib/subscriber.h) and a pool of call connections. Every offer is
 *       accepted at once with one LAUNCH of as many tasks as fit (cpus 1,
 *       mem 32 each), until --tasks are launched; every update carrying
 *       a uuid is acknowledged. (The C scheduler library sends every call
 *       on one connection, one at a time; at 10k+ calls per second that
 *       connection, not the master, would be measured.)
 *
 * Figures (one key=value line on stdout):
 *   register_s            first SUBSCRIBE to all N agents SUBSCRIBED
 *   rss_*_mb              master VmRSS: idle, with N agents, with the
 *                         tasks placed (and acknowledged); kib_per_agent
 *                         and kib_per_task are the differences divided
 *   place_s, placements_per_s
 *                         the framework's first OFFERS event to the last
 *                         of --tasks TASK_RUNNING updates arriving at it
 *   offer_accept_ms       per offer: the OFFERS event arriving at the
 *                         framework to the 202 of its ACCEPT (the master
 *                         has validated the LAUNCH, taken the resources
 *                         and queued the RUN_TASKs)
 *   offer_running_ms      per task: the OFFERS event arriving at the
 *                         framework to that task's TASK_RUNNING update
 *                         arriving at the framework (the master's
 *                         RUN_TASK, the agent's UPDATE, the forward)
 *   update_ack_ms, updates_per_s
 *                         per status update, at the agent: the UPDATE call
 *                         sent to the ACKNOWLEDGE event for its uuid
 *                         received (agent -> master -> framework -> ACK ->
 *                         master -> agent); the rate is acknowledged
 *                         updates over first update sent to last ack
 * Latencies are p50 and p99 over every sample. The update's uuid carries
 * its send time and state (bytes 0-7 and 8), so the agents keep no table.
 *
 *   accept_202_ms, accept_running_ms
 *                         the same two measured from the ACCEPT being sent
 *                         (without the time an offer waited in the
 *                         framework: with --window W the framework keeps
 *                         at most W tasks launched and not yet RUNNING and
 *                         holds the other offers, so these are the
 *                         master's latencies under light load)
 *
 * Usage: bench_master --atoll PATH [--agents N] [--tasks T] [--short]
 *                     [--window W] [--pool P] [--timeout S]
 *                     [--allocation-interval D]
 * Exit status 1 when the run did not complete within --timeout.
 */
#include "lib/compat.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/select.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "atoll/scheduler.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/http.h"
#include "lib/ids.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/subscriber.h"
#include "lib/timeutil.h"
#include "model/mesos.h"

#define TASK_CPUS 1.0
#define TASK_MEM 32.0
#define SUB_WINDOW 256 /* subscriptions in flight while registering */
#define UUID_RUNNING 1
#define UUID_FINISHED 2

struct bench_opts {
	const char *atoll;
	long agents;
	long tasks;
	bool short_tasks;
	long pool;
	double timeout_s;
	const char *alloc_interval;
	bool pings;  /* the master pings the agents' shared listener */
	long window; /* most tasks launched and not yet RUNNING; 0 = any */
};

/* ---- latency samples ---------------------------------------------------- */

struct bench_samples {
	float *v;
	size_t n, cap;
};

static void samples_add(struct bench_samples *s, double ms)
{
	ALLOC_GROW(s->v, s->n + 1, s->cap);
	s->v[s->n++] = (float)ms;
}

static int samples_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (0-100); sorts the samples. 0 when empty. */
static double samples_pct(struct bench_samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), samples_cmp);
	i = (size_t)(p / 100.0 * (double)s->n);
	return s->v[i < s->n ? i : s->n - 1];
}

static double now_ms(void)
{
	return (double)timeutil_mono_ns() / 1e6;
}

/* ---- call pool: keep-alive connections used round-robin ----------------- */

struct call_pool {
	struct http_client **c;
	size_t n, next;
	size_t inflight;
	size_t failed;
};

static void call_pool_init(struct call_pool *p, uv_loop_t *loop, int port,
                           size_t n)
{
	size_t i;

	p->c = xcalloc(n, sizeof(*p->c));
	p->n = n;
	for (i = 0; i < n; i++)
		p->c[i] = http_client_new(loop, "127.0.0.1", port);
}

struct pool_call {
	struct call_pool *p;
	http_response_fn *cb;
	void *arg;
};

static void pool_call_done(struct http_response *resp, int err, void *arg)
{
	struct pool_call *pc = arg;

	pc->p->inflight--;
	if (err || resp->status != 202) {
		pc->p->failed++;
		if (pc->p->failed <= 5)
			fprintf(
			    stderr,
			    "bench_master: call failed (pid %d): %s %.200s\n",
			    (int)getpid(), err ? strerror(-err) : "status",
			    resp ? resp->body : "");
	}
	if (pc->cb)
		pc->cb(resp, err, pc->arg);
	free(pc);
}

/* POSTs body (taken from b) to path with the stream id header. */
static void call_pool_post(struct call_pool *p, const char *path,
                           const char *stream_id, struct buf *b,
                           http_response_fn *cb, void *arg)
{
	char hdr[128];
	const char *headers[2] = {hdr, NULL};
	struct pool_call *pc = xcalloc(1, sizeof(*pc));
	struct http_client_req req = {
	    .method = "POST",
	    .path = path,
	    .content_type = "application/json",
	    .headers = headers,
	    .body = b->data,
	    .body_len = b->len,
	};

	snprintf(hdr, sizeof(hdr), "Mesos-Stream-Id: %s", stream_id);
	pc->p = p;
	pc->cb = cb;
	pc->arg = arg;
	p->inflight++;
	http_client_request(p->c[p->next++ % p->n], &req, pool_call_done, pc);
	buf_reset(b);
}

/* ---- simulated agents (child process) ----------------------------------- */

struct sim_cluster;

struct sim_agent {
	struct sim_cluster *c;
	long idx;
	struct subscriber *sub;
	char id[128];
	char stream_id[64];
	bool subscribed;
};

struct sim_cluster {
	uv_loop_t *loop;
	const struct bench_opts *o;
	int master_port;
	struct http_server *health;
	int health_port;
	struct sim_agent *agents;
	long started, subscribed;
	double cpus, mem; /* per agent */
	char fid[128];    /* the load framework (one) */
	struct call_pool pool;
	struct buf body;
	struct bench_samples ack_ms;
	uint64_t counter;
	double first_update, last_ack;
	size_t updates_sent, acks, disconnects, pings;
	int report_fd;
	uv_timer_t start_timer;
	uv_signal_t sig_report, sig_stop;
};

static void health_handler(struct http_request *req, void *arg)
{
	struct sim_cluster *c = arg;

	c->pings++;
	http_respond(req, 200, "text/plain", "OK\n", 3);
}

static void sim_build_subscribe(struct buf *body, void *arg)
{
	struct sim_agent *a = arg;
	struct jsonw w;
	char host[32];

	snprintf(host, sizeof(host), "sim%ld", a->idx);
	jsonw_init(&w, body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "SUBSCRIBE");
	jsonw_key(&w, "subscribe");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "agent_info");
	jsonw_obj_begin(&w);
	if (a->id[0])
		jsonw_kid(&w, "id", a->id);
	jsonw_kstr(&w, "hostname", host);
	jsonw_kint(&w, "port", a->c->health_port);
	jsonw_key(&w, "resources");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "name", "cpus");
	jsonw_kstr(&w, "type", "SCALAR");
	jsonw_key(&w, "scalar");
	jsonw_obj_begin(&w);
	jsonw_kdouble(&w, "value", a->c->cpus);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "name", "mem");
	jsonw_kstr(&w, "type", "SCALAR");
	jsonw_key(&w, "scalar");
	jsonw_obj_begin(&w);
	jsonw_kdouble(&w, "value", a->c->mem);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "version", "0.1.0");
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
}

static void sim_on_connected(const char *stream_id, void *arg)
{
	struct sim_agent *a = arg;

	snprintf(a->stream_id, sizeof(a->stream_id), "%s",
	         stream_id ? stream_id : "");
}

static void sim_on_disconnected(int err, int status, const char *message,
                                void *arg)
{
	struct sim_agent *a = arg;

	a->c->disconnects++;
	if (a->c->disconnects <= 5)
		fprintf(stderr,
		        "bench_master: agent %ld disconnected: %s %d %s\n",
		        a->idx, strerror(-err), status, message ? message : "");
}

/* Sends UPDATE state for task tid of this agent, the uuid carrying the
 * send time and the state. */
static void sim_send_update(struct sim_agent *a, const char *tid, int kind)
{
	struct sim_cluster *c = a->c;
	const char *state =
	    kind == UUID_RUNNING ? "TASK_RUNNING" : "TASK_FINISHED";
	uint8_t uuid[IDS_UUID_LEN] = {0};
	char b64[IDS_BASE64_LEN(IDS_UUID_LEN)];
	uint64_t ns = timeutil_mono_ns();
	struct jsonw w;

	memcpy(uuid, &ns, sizeof(ns));
	uuid[8] = (uint8_t)kind;
	c->counter++;
	memcpy(uuid + 9, &c->counter, 7);
	ids_base64_encode(uuid, sizeof(uuid), b64);
	jsonw_init(&w, &c->body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "UPDATE");
	jsonw_kid(&w, "agent_id", a->id);
	jsonw_key(&w, "update");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", c->fid);
	jsonw_key(&w, "status");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "task_id", tid);
	jsonw_kstr(&w, "state", state);
	jsonw_kstr(&w, "source", "SOURCE_EXECUTOR");
	jsonw_kid(&w, "agent_id", a->id);
	jsonw_kstr(&w, "uuid", b64);
	jsonw_kdouble(&w, "timestamp", timeutil_wall());
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "latest_state", state);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (!c->updates_sent)
		c->first_update = (double)ns / 1e6;
	c->updates_sent++;
	call_pool_post(&c->pool, "/api/v1/agent", a->stream_id, &c->body, NULL,
	               NULL);
}

static void sim_on_run_task(struct sim_agent *a, json_t *ev)
{
	json_t *rt = json_object_get(ev, "run_task");
	const char *fid = mesos_json_id(rt, "framework_id");
	const char *tid = mesos_json_id(json_object_get(rt, "task"), "task_id");

	if (!fid || !tid)
		return;
	if (!a->c->fid[0])
		snprintf(a->c->fid, sizeof(a->c->fid), "%s", fid);
	sim_send_update(a, tid, UUID_RUNNING);
}

static void sim_on_acknowledge(struct sim_agent *a, json_t *ev)
{
	struct sim_cluster *c = a->c;
	json_t *ack = json_object_get(ev, "acknowledge");
	const char *tid = mesos_json_id(ack, "task_id");
	const char *b64 = json_string_value(json_object_get(ack, "uuid"));
	uint8_t uuid[IDS_UUID_LEN + 4];
	uint64_t ns;

	if (!tid || !b64 ||
	    ids_base64_decode(b64, strlen(b64), uuid, sizeof(uuid)) !=
	        IDS_UUID_LEN)
		return;
	memcpy(&ns, uuid, sizeof(ns));
	c->last_ack = now_ms();
	samples_add(&c->ack_ms, c->last_ack - (double)ns / 1e6);
	c->acks++;
	if (uuid[8] == UUID_RUNNING && c->o->short_tasks)
		sim_send_update(a, tid, UUID_FINISHED);
}

static void sim_report(struct sim_cluster *c)
{
	char line[512];
	double secs = (c->last_ack - c->first_update) / 1000.0;
	int n;

	n = snprintf(line, sizeof(line),
	             "updates=%zu acks=%zu updates_per_s=%.0f "
	             "update_ack_ms_p50=%.2f update_ack_ms_p99=%.2f "
	             "agent_disconnects=%zu pings_answered=%zu "
	             "agent_call_failures=%zu\n",
	             c->updates_sent, c->acks,
	             secs > 0 ? (double)c->acks / secs : 0,
	             samples_pct(&c->ack_ms, 50), samples_pct(&c->ack_ms, 99),
	             c->disconnects, c->pings, c->pool.failed);
	if (write(c->report_fd, line, (size_t)n) != n)
		_exit(1);
}

static void sim_on_event(json_t *ev, const char *type, void *arg)
{
	struct sim_agent *a = arg;
	struct sim_cluster *c = a->c;

	if (!strcmp(type, "RUN_TASK")) {
		sim_on_run_task(a, ev);
	} else if (!strcmp(type, "PING")) {
		/* The master's in-band health check: answer with a PONG. */
		struct jsonw w;

		jsonw_init(&w, &c->body);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "type", "PONG");
		jsonw_kid(&w, "agent_id", a->id);
		jsonw_obj_end(&w);
		c->pings++;
		call_pool_post(&c->pool, "/api/v1/agent", a->stream_id,
		               &c->body, NULL, NULL);
	} else if (!strcmp(type, "ACKNOWLEDGE")) {
		sim_on_acknowledge(a, ev);
	} else if (!strcmp(type, "SUBSCRIBED")) {
		const char *id = mesos_json_id(
		    json_object_get(ev, "subscribed"), "agent_id");
		snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
		if (!a->subscribed) {
			a->subscribed = true;
			if (++c->subscribed == c->o->agents &&
			    write(c->report_fd, "ready\n", 6) != 6)
				_exit(1);
		}
	}
}

/* Starts subscriptions in batches, at most SUB_WINDOW not yet answered,
 * so that the master's listen backlog never overflows. */
static void sim_start_more(uv_timer_t *t)
{
	struct sim_cluster *c = t->data;
	const char *ep[1];
	char endpoint[32];

	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", c->master_port);
	ep[0] = endpoint;
	while (c->started < c->o->agents &&
	       c->started - c->subscribed < SUB_WINDOW) {
		struct sim_agent *a = &c->agents[c->started];
		struct subscriber_opts so = {
		    .endpoints = ep,
		    .nendpoints = 1,
		    .path = "/api/v1/agent",
		    .build_subscribe = sim_build_subscribe,
		    .on_connected = sim_on_connected,
		    .on_event = sim_on_event,
		    .on_disconnected = sim_on_disconnected,
		    .heartbeat_timeout = 600,
		};
		a->c = c;
		a->idx = c->started++;
		a->sub = subscriber_new(c->loop, &so, a);
		subscriber_start(a->sub);
	}
	if (c->started == c->o->agents)
		uv_timer_stop(t);
}

static void sim_on_signal(uv_signal_t *h, int signum)
{
	struct sim_cluster *c = h->data;

	if (signum == SIGUSR1)
		sim_report(c);
	else
		uv_stop(c->loop);
}

/*
 * A port on which connections are refused at once: bound, never listening,
 * held until exit (so no one else gets it). Without pings the agents
 * advertise it, so the master's one ping at subscription costs it no
 * lasting connection (it holds a keep-alive ping connection per agent).
 */
static int refused_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		fprintf(stderr, "bench_master: cannot bind: %s\n",
		        strerror(errno));
		return -1;
	}
	return ntohs(sa.sin_port);
}

/* The child: runs the simulated agents until SIGTERM. */
static int sim_main(const struct bench_opts *o, int master_port, int report_fd)
{
	struct sim_cluster c = {0};
	struct http_server_opts ho = {
	    .port = 0,
	    .max_connections = (size_t)o->agents * 2 + 1000,
	    .idle_timeout_ms = 3600 * 1000,
	};
	struct err e = {{0}};
	long per = (o->tasks + o->agents - 1) / o->agents;
	long i;

	if (o->short_tasks && per > 4)
		per = 4;
	c.loop = uv_default_loop();
	c.o = o;
	c.master_port = master_port;
	c.report_fd = report_fd;
	c.cpus = (double)per * TASK_CPUS;
	c.mem = (double)per * TASK_MEM;
	c.agents = xcalloc((size_t)o->agents, sizeof(*c.agents));
	if (o->pings) {
		c.health = http_server_new(c.loop, &ho, health_handler, &c);
		if (http_server_listen(c.health, &e)) {
			fprintf(stderr, "bench_master: health listener: %s\n",
			        e.msg);
			return 1;
		}
		c.health_port = http_server_port(c.health);
	} else {
		c.health_port = refused_port();
		if (c.health_port < 0)
			return 1;
	}
	call_pool_init(&c.pool, c.loop, master_port, (size_t)o->pool);
	uv_signal_init(c.loop, &c.sig_report);
	uv_signal_init(c.loop, &c.sig_stop);
	c.sig_report.data = c.sig_stop.data = &c;
	uv_signal_start(&c.sig_report, sim_on_signal, SIGUSR1);
	uv_signal_start(&c.sig_stop, sim_on_signal, SIGTERM);
	uv_timer_init(c.loop, &c.start_timer);
	c.start_timer.data = &c;
	uv_timer_start(&c.start_timer, sim_start_more, 0, 1);
	uv_run(c.loop, UV_RUN_DEFAULT);
	/* exiting: the kernel closes every connection at once */
	for (i = 0; i < c.started; i++)
		subscriber_stop(c.agents[i].sub);
	return 0;
}

/* ---- the load framework (parent process) -------------------------------- */

struct load_fw {
	uv_loop_t *loop;
	const struct bench_opts *o;
	int master_port;
	pid_t master_pid;
	struct subscriber *sub;
	char fid[128];
	char stream_id[64];
	struct call_pool pool;
	struct buf body;
	float *offer_at;  /* per task index: ms of its OFFERS event */
	float *accept_at; /* per task index: ms its ACCEPT was sent */
	long launched, running, finished;
	size_t offers, accepts, declines;
	double first_offer, last_running, done_at;
	bool done, suppressed;
	struct bench_samples accept_ms, run_ms, sent_accept_ms, sent_run_ms;
	json_t *held;    /* offers waiting for room in --window */
	double *held_at; /* their OFFERS event times */
	size_t held_cap;
	uv_timer_t deadline, settle;
	bool timed_out;
};

struct accept_ctx {
	struct load_fw *fw;
	double t0;   /* OFFERS event */
	double sent; /* ACCEPT sent */
};

static void fw_build_subscribe(struct buf *body, void *arg)
{
	struct load_fw *fw = arg;
	json_t *fi = json_pack("{s:s, s:s, s:b, s:s}", "user", "root", "name",
	                       "bench-master", "checkpoint", 0, "role", "*");
	size_t len;
	char *s = atoll_subscribe_build(fi, fw->fid[0] ? fw->fid : NULL, &len);

	buf_add(body, s, len);
	free(s);
	json_decref(fi);
}

static void fw_on_connected(const char *stream_id, void *arg)
{
	struct load_fw *fw = arg;

	snprintf(fw->stream_id, sizeof(fw->stream_id), "%s",
	         stream_id ? stream_id : "");
}

static void fw_on_disconnected(int err, int status, const char *message,
                               void *arg)
{
	struct load_fw *fw = arg;

	fprintf(stderr, "bench_master: framework disconnected: %s %d %s\n",
	        strerror(-err), status, message ? message : "");
	if (status >= 400 && status < 500) {
		subscriber_stop(fw->sub);
		fw->timed_out = true;
		uv_stop(fw->loop);
	}
}

static void fw_accept_done(struct http_response *resp, int err, void *arg)
{
	struct accept_ctx *ctx = arg;

	double now = now_ms();

	(void)resp;
	if (!err) {
		samples_add(&ctx->fw->accept_ms, now - ctx->t0);
		samples_add(&ctx->fw->sent_accept_ms, now - ctx->sent);
	}
	free(ctx);
}

static double offer_scalar(json_t *offer, const char *name)
{
	json_t *res = json_object_get(offer, "resources"), *r;
	double v = 0;
	size_t i;

	json_array_foreach(res, i, r)
	{
		const char *n = json_string_value(json_object_get(r, "name"));
		if (n && !strcmp(n, name))
			v += json_number_value(json_object_get(
			    json_object_get(r, "scalar"), "value"));
	}
	return v;
}

static void fw_write_resource(struct jsonw *w, const char *name, double v)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", name);
	jsonw_kstr(w, "type", "SCALAR");
	jsonw_key(w, "scalar");
	jsonw_obj_begin(w);
	jsonw_kdouble(w, "value", v);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

/* A call without payload (SUPPRESS). */
static void fw_call_simple(struct load_fw *fw, const char *type)
{
	struct jsonw w;

	jsonw_init(&w, &fw->body);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->fid);
	jsonw_kstr(&w, "type", type);
	jsonw_obj_end(&w);
	call_pool_post(&fw->pool, "/api/v1/scheduler", fw->stream_id, &fw->body,
	               NULL, NULL);
}

static void fw_decline(struct load_fw *fw, const char *oid, double refuse)
{
	struct jsonw w;

	jsonw_init(&w, &fw->body);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->fid);
	jsonw_kstr(&w, "type", "DECLINE");
	jsonw_key(&w, "decline");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "offer_ids");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "value", oid);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "filters");
	jsonw_obj_begin(&w);
	jsonw_kdouble(&w, "refuse_seconds", refuse);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	fw->declines++;
	call_pool_post(&fw->pool, "/api/v1/scheduler", fw->stream_id, &fw->body,
	               NULL, NULL);
}

/* Accepts one offer with as many tasks as fit, or declines it. */
static void fw_on_offer(struct load_fw *fw, json_t *offer, double t0)
{
	const char *oid = mesos_json_id(offer, "id");
	const char *aid = mesos_json_id(offer, "agent_id");
	long k = (long)(offer_scalar(offer, "cpus") / TASK_CPUS + 1e-9);
	long km = (long)(offer_scalar(offer, "mem") / TASK_MEM + 1e-9);
	struct accept_ctx *ctx;
	struct jsonw w;
	long i;

	if (!oid || !aid)
		return;
	fw->offers++;
	if (km < k)
		k = km;
	if (k > fw->o->tasks - fw->launched)
		k = fw->o->tasks - fw->launched;
	if (k <= 0) {
		fw_decline(fw, oid, fw->launched == fw->o->tasks ? 3600 : 1);
		if (fw->launched == fw->o->tasks && !fw->suppressed) {
			fw->suppressed = true;
			fw_call_simple(fw, "SUPPRESS");
		}
		return;
	}
	jsonw_init(&w, &fw->body);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->fid);
	jsonw_kstr(&w, "type", "ACCEPT");
	jsonw_key(&w, "accept");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "offer_ids");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "value", oid);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "operations");
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "LAUNCH");
	jsonw_key(&w, "launch");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "task_infos");
	jsonw_arr_begin(&w);
	for (i = 0; i < k; i++) {
		char tid[32];
		long idx = fw->launched++;

		fw->offer_at[idx] = (float)(t0 - fw->first_offer);
		fw->accept_at[idx] = (float)(now_ms() - fw->first_offer);
		snprintf(tid, sizeof(tid), "t%ld", idx);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "name", tid);
		jsonw_kid(&w, "task_id", tid);
		jsonw_kid(&w, "agent_id", aid);
		jsonw_key(&w, "resources");
		jsonw_arr_begin(&w);
		fw_write_resource(&w, "cpus", TASK_CPUS);
		fw_write_resource(&w, "mem", TASK_MEM);
		jsonw_arr_end(&w);
		jsonw_key(&w, "command");
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "value", "true");
		jsonw_obj_end(&w);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "filters");
	jsonw_obj_begin(&w);
	jsonw_kdouble(&w, "refuse_seconds", 0);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->fw = fw;
	ctx->t0 = t0;
	ctx->sent = now_ms();
	fw->accepts++;
	call_pool_post(&fw->pool, "/api/v1/scheduler", fw->stream_id, &fw->body,
	               fw_accept_done, ctx);
}

static void fw_acknowledge(struct load_fw *fw, const char *aid, const char *tid,
                           const char *uuid)
{
	struct jsonw w;

	jsonw_init(&w, &fw->body);
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->fid);
	jsonw_kstr(&w, "type", "ACKNOWLEDGE");
	jsonw_key(&w, "acknowledge");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "agent_id", aid);
	jsonw_kid(&w, "task_id", tid);
	jsonw_kstr(&w, "uuid", uuid);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	call_pool_post(&fw->pool, "/api/v1/scheduler", fw->stream_id, &fw->body,
	               NULL, NULL);
}

/* --window: true when no task may be launched now. */
static bool fw_window_full(const struct load_fw *fw)
{
	return fw->o->window > 0 &&
	       fw->launched - fw->running >= fw->o->window &&
	       fw->launched < fw->o->tasks;
}

static void fw_hold(struct load_fw *fw, json_t *offer, double t0)
{
	size_t n = json_array_size(fw->held);

	ALLOC_GROW(fw->held_at, n + 1, fw->held_cap);
	fw->held_at[n] = t0;
	json_array_append(fw->held, offer);
}

/* Launches on held offers while the window has room (newest first). */
static void fw_release_held(struct load_fw *fw)
{
	size_t n;

	while ((n = json_array_size(fw->held)) && !fw_window_full(fw) &&
	       fw->launched < fw->o->tasks) {
		json_t *o = json_incref(json_array_get(fw->held, n - 1));
		json_array_remove(fw->held, n - 1);
		fw_on_offer(fw, o, fw->held_at[n - 1]);
		json_decref(o);
	}
}

static void fw_finish(struct load_fw *fw)
{
	if (fw->done)
		return;
	fw->done = true;
	fw->done_at = now_ms();
}

static void fw_on_update(struct load_fw *fw, json_t *ev)
{
	json_t *st = json_object_get(json_object_get(ev, "update"), "status");
	const char *tid = mesos_json_id(st, "task_id");
	const char *aid = mesos_json_id(st, "agent_id");
	const char *state = json_string_value(json_object_get(st, "state"));
	const char *uuid = json_string_value(json_object_get(st, "uuid"));
	char *end;
	long idx;

	if (!tid || !state || tid[0] != 't')
		return;
	idx = strtol(tid + 1, &end, 10);
	if (*end || idx < 0 || idx >= fw->launched)
		return;
	if (!strcmp(state, "TASK_RUNNING")) {
		fw->last_running = now_ms();
		samples_add(&fw->run_ms, fw->last_running - fw->first_offer -
		                             fw->offer_at[idx]);
		samples_add(&fw->sent_run_ms, fw->last_running -
		                                  fw->first_offer -
		                                  fw->accept_at[idx]);
		if (++fw->running == fw->o->tasks && !fw->o->short_tasks)
			fw_finish(fw);
	} else if (!strcmp(state, "TASK_FINISHED")) {
		if (++fw->finished == fw->o->tasks)
			fw_finish(fw);
	} else {
		fprintf(stderr, "bench_master: task %s %s\n", tid, state);
	}
	if (uuid && aid)
		fw_acknowledge(fw, aid, tid, uuid);
	fw_release_held(fw);
}

static void fw_on_event(json_t *ev, const char *type, void *arg)
{
	struct load_fw *fw = arg;

	if (!strcmp(type, "OFFERS")) {
		json_t *offers =
		    json_object_get(json_object_get(ev, "offers"), "offers");
		double t0 = now_ms();
		json_t *o;
		size_t i;

		if (!fw->first_offer)
			fw->first_offer = t0;
		json_array_foreach(offers, i, o)
		{
			if (fw_window_full(fw))
				fw_hold(fw, o, t0);
			else
				fw_on_offer(fw, o, t0);
		}
	} else if (!strcmp(type, "UPDATE")) {
		fw_on_update(fw, ev);
	} else if (!strcmp(type, "SUBSCRIBED")) {
		const char *id = mesos_json_id(
		    json_object_get(ev, "subscribed"), "framework_id");
		snprintf(fw->fid, sizeof(fw->fid), "%s", id ? id : "");
	} else if (!strcmp(type, "ERROR")) {
		fprintf(stderr, "bench_master: ERROR event: %s\n",
		        json_string_value(json_object_get(
			    json_object_get(ev, "error"), "message")));
	}
}

/* Once done: waits for the last calls to be answered, then stops. */
static void fw_on_settle(uv_timer_t *t)
{
	struct load_fw *fw = t->data;

	if (!fw->done || fw->pool.inflight)
		return;
	uv_stop(fw->loop);
}

static void fw_on_deadline(uv_timer_t *t)
{
	struct load_fw *fw = t->data;

	fw->timed_out = true;
	uv_stop(fw->loop);
}

/* ---- orchestration ------------------------------------------------------ */

static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static pid_t start_master(const struct bench_opts *o, const char *dir,
                          int *port)
{
	char pf[1100], logf[1100], maxc[32];
	char buf[32] = "";
	double t0 = now_ms();
	pid_t pid;

	snprintf(pf, sizeof(pf), "%s/port", dir);
	snprintf(logf, sizeof(logf), "%s/master.log", dir);
	snprintf(maxc, sizeof(maxc), "%ld", o->agents + 1000);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd =
		    open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(o->atoll, o->atoll, "master", "--port", "0",
		      "--port-file", pf, "--log-level", "warn",
		      "--max-connections", maxc, "--allocation-interval",
		      o->alloc_interval, "--registry", "in_memory",
		      "--agent-ping-timeout", o->pings ? "15secs" : "1hrs",
		      (char *)NULL);
		_exit(127);
	}
	while (now_ms() - t0 < 10000) {
		FILE *f = fopen(pf, "re");
		if (f) {
			bool ok = fgets(buf, sizeof(buf), f) && buf[0] != '\n';
			fclose(f);
			if (ok) {
				*port = (int)strtol(buf, NULL, 10);
				return pid;
			}
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Reads one line from fd into line (blocking); false on EOF/timeout. */
static bool read_line(int fd, char *line, size_t cap, double timeout_s)
{
	size_t n = 0;
	double t0 = now_ms();

	while (n + 1 < cap) {
		struct timeval tv = {0, 100000};
		fd_set rd;
		ssize_t r;

		if (now_ms() - t0 > timeout_s * 1000)
			return false;
		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		if (select(fd + 1, &rd, NULL, NULL, &tv) <= 0)
			continue;
		r = read(fd, line + n, 1);
		if (r <= 0)
			return false;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return true;
}

/* Raises the soft fd limit to the hard one; returns the limit. */
static long raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	return rl.rlim_cur > 1L << 30 ? 1L << 30 : (long)rl.rlim_cur;
}

static int run_framework(const struct bench_opts *o, struct load_fw *fw)
{
	char endpoint[32];
	const char *ep[1] = {endpoint};
	struct subscriber_opts so = {
	    .endpoints = ep,
	    .nendpoints = 1,
	    .path = "/api/v1/scheduler",
	    .build_subscribe = fw_build_subscribe,
	    .on_connected = fw_on_connected,
	    .on_event = fw_on_event,
	    .on_disconnected = fw_on_disconnected,
	    .heartbeat_timeout = 600,
	    .max_event_bytes = (size_t)1 << 30,
	};

	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", fw->master_port);
	fw->loop = uv_default_loop();
	fw->o = o;
	fw->offer_at = xcalloc((size_t)o->tasks, sizeof(*fw->offer_at));
	fw->accept_at = xcalloc((size_t)o->tasks, sizeof(*fw->accept_at));
	fw->held = json_array();
	call_pool_init(&fw->pool, fw->loop, fw->master_port, (size_t)o->pool);
	fw->sub = subscriber_new(fw->loop, &so, fw);
	uv_timer_init(fw->loop, &fw->deadline);
	uv_timer_init(fw->loop, &fw->settle);
	fw->deadline.data = fw->settle.data = fw;
	uv_timer_start(&fw->deadline, fw_on_deadline,
	               (uint64_t)(o->timeout_s * 1000), 0);
	uv_timer_start(&fw->settle, fw_on_settle, 20, 20);
	subscriber_start(fw->sub);
	uv_run(fw->loop, UV_RUN_DEFAULT);
	return fw->timed_out ? -ETIMEDOUT : 0;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--short")) {
			o->short_tasks = true;
			continue;
		}
		if (!v)
			return -EINVAL;
		i++;
		if (!strcmp(a, "--atoll"))
			o->atoll = v;
		else if (!strcmp(a, "--agents"))
			o->agents = strtol(v, NULL, 10);
		else if (!strcmp(a, "--tasks"))
			o->tasks = strtol(v, NULL, 10);
		else if (!strcmp(a, "--pool"))
			o->pool = strtol(v, NULL, 10);
		else if (!strcmp(a, "--timeout"))
			o->timeout_s = strtod(v, NULL);
		else if (!strcmp(a, "--allocation-interval"))
			o->alloc_interval = v;
		else if (!strcmp(a, "--window"))
			o->window = strtol(v, NULL, 10);
		else
			return -EINVAL;
	}
	if (!o->atoll || o->agents < 1 || o->tasks < 1 || o->pool < 1 ||
	    o->timeout_s <= 0 || o->window < 0)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
	    .agents = 100,
	    .tasks = 1000,
	    .pool = 16,
	    .timeout_s = 600,
	    .alloc_interval = "1secs",
	};
	struct load_fw fw = {0};
	const char *tmpdir = getenv("TMPDIR");
	char dir[1024], path[1100];
	char line[512], agents_line[512] = "";
	int pipefd[2], rc = 1;
	long rss_base, rss_agents, rss_tasks;
	double t_reg0, register_s, place_s;
	pid_t master, sim;

	if (parse_args(argc, argv, &o)) {
		fprintf(stderr,
		        "usage: bench_master --atoll PATH [--agents N] "
		        "[--tasks T] [--short] [--pool P] [--timeout S] "
		        "[--allocation-interval D]\n");
		return 2;
	}
	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The master holds a stream and a keep-alive ping connection per
	 * agent (and the agents' process the other ends): when 2N does not
	 * fit in the fd limit (hard limit 20000 here), the master runs with
	 * --agent-ping-timeout 1hrs and the agents advertise a refusing
	 * port, so that its one ping at subscription fails at once and no
	 * other is due during the run.
	 */
	o.pings = raise_fd_limit() >= o.agents * 2 + 2048;
	snprintf(dir, sizeof(dir), "%s/atoll-bench-master-XXXXXX",
	         tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	master = start_master(&o, dir, &fw.master_port);
	if (master < 0) {
		fprintf(stderr, "bench_master: master did not start\n");
		return 1;
	}
	fw.master_pid = master;
	usleep(200000);
	rss_base = proc_rss_kib(master);
	if (pipe2(pipefd, O_CLOEXEC))
		goto out_master;
	t_reg0 = now_ms();
	sim = fork();
	if (sim == 0) {
		close(pipefd[0]);
		_exit(sim_main(&o, fw.master_port, pipefd[1]));
	}
	close(pipefd[1]);
	if (sim < 0 || !read_line(pipefd[0], line, sizeof(line), o.timeout_s) ||
	    strcmp(line, "ready")) {
		fprintf(stderr, "bench_master: agents did not register\n");
		goto out_sim;
	}
	register_s = (now_ms() - t_reg0) / 1000.0;
	usleep(300000); /* let the master settle (offers are on hold) */
	rss_agents = proc_rss_kib(master);

	if (run_framework(&o, &fw)) {
		fprintf(stderr,
		        "bench_master: timed out: launched=%ld running=%ld "
		        "finished=%ld offers=%zu\n",
		        fw.launched, fw.running, fw.finished, fw.offers);
		goto out_sim;
	}
	rss_tasks = proc_rss_kib(master);
	place_s = (fw.last_running - fw.first_offer) / 1000.0;
	/* the agents' last ACKNOWLEDGE events are on their way */
	usleep(300000);
	kill(sim, SIGUSR1);
	if (!read_line(pipefd[0], agents_line, sizeof(agents_line), 30))
		goto out_sim;
	printf("master agents=%ld tasks=%ld mode=%s window=%ld pings=%s "
	       "register_s=%.2f "
	       "rss_base_mb=%.1f rss_agents_mb=%.1f rss_tasks_mb=%.1f "
	       "kib_per_agent=%.2f kib_per_task=%.3f place_s=%.2f "
	       "placements_per_s=%.0f offer_accept_ms_p50=%.2f "
	       "offer_accept_ms_p99=%.2f offer_running_ms_p50=%.2f "
	       "offer_running_ms_p99=%.2f accept_202_ms_p50=%.2f "
	       "accept_202_ms_p99=%.2f accept_running_ms_p50=%.2f "
	       "accept_running_ms_p99=%.2f total_s=%.2f offers=%zu "
	       "accepts=%zu declines=%zu fw_call_failures=%zu %s\n",
	       o.agents, o.tasks, o.short_tasks ? "short" : "long", o.window,
	       o.pings ? "real" : "off", register_s, rss_base / 1024.0,
	       rss_agents / 1024.0, rss_tasks / 1024.0,
	       (double)(rss_agents - rss_base) / (double)o.agents,
	       (double)(rss_tasks - rss_agents) / (double)o.tasks, place_s,
	       place_s > 0 ? (double)o.tasks / place_s : 0,
	       samples_pct(&fw.accept_ms, 50), samples_pct(&fw.accept_ms, 99),
	       samples_pct(&fw.run_ms, 50), samples_pct(&fw.run_ms, 99),
	       samples_pct(&fw.sent_accept_ms, 50),
	       samples_pct(&fw.sent_accept_ms, 99),
	       samples_pct(&fw.sent_run_ms, 50),
	       samples_pct(&fw.sent_run_ms, 99),
	       (fw.done_at - fw.first_offer) / 1000.0, fw.offers, fw.accepts,
	       fw.declines, fw.pool.failed, agents_line);
	fflush(stdout);
	rc = fw.pool.failed ? 1 : 0;
out_sim:
	if (sim > 0) {
		kill(sim, SIGTERM);
		waitpid(sim, NULL, 0);
	}
	close(pipefd[0]);
out_master:
	kill(master, SIGTERM);
	waitpid(master, NULL, 0);
	snprintf(path, sizeof(path), "%s/master.log", dir);
	if (rc) {
		fprintf(stderr, "bench_master: master log in %s\n", path);
	} else {
		unlink(path);
		snprintf(path, sizeof(path), "%s/port", dir);
		unlink(path);
		rmdir(dir);
	}
	return rc;
}
