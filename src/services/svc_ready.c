/*
 * svc_ready.c: Marathon's readiness checks. A deployment counts a new
 * task as done only when it is running, healthy and ready; ready means an
 * HTTP GET of the app's readiness check (path on the port named
 * portName) answered one of httpStatusCodesForReady. Checks run only for
 * tasks of apps in the running step of a deployment, every
 * intervalSeconds, each bounded by timeoutSeconds, and stop once a task is
 * ready (it stays ready). They go to the agent's IP from the offer.
 *
 * Unlike health checks (which run on the agent, next to the task),
 * readiness is a deployment gate, evaluated where the deployment runs, as
 * in Marathon; a probe that cannot connect simply counts as "not ready".
 *
 * Probe life: svc_ready_start() opens an http_client and sends the GET;
 * in flight it is on sv->probes; the answer (svc_ready_done) records the result
 * on the task if it still exists (looked up by id: the task may be gone
 * meanwhile) and moves the probe to sv->probes_done; the next pass frees it (a
 * client is never freed from inside its own callback).
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include "lib/http.h"
#include "lib/log.h"

struct svc_probe {
	struct list link;
	struct services *sv;
	struct http_client *client;
	char *task_id;
	bool done;
};

static void svc_probe_free(struct svc_probe *p)
{
	http_client_free(p->client);
	free(p->task_id);
	free(p);
}

static void svc_ready_done(struct http_response *resp, int err, void *arg)
{
	struct svc_probe *p = arg;
	struct services *sv = p->sv;
	struct svc_task *t = svc_task_find(sv, p->task_id);
	struct svc_app *a = t ? svc_app_find(sv, t->app_id) : NULL;

	p->done = true;
	list_del(&p->link);
	list_add_tail(&sv->probes_done, &p->link);
	if (!t || !a || !a->app.nreadiness_checks)
		return;
	t->probing = false;
	t->ready_status = err ? 0 : resp->status;
	t->ready_next =
	    svc_now_mono() + a->app.readiness_checks[0].interval_seconds;
	for (size_t i = 0; !err && i < a->app.readiness_checks[0].nstatus_codes;
	     i++)
		if (resp->status == a->app.readiness_checks[0].status_codes[i])
			t->ready = true;
	if (t->ready) {
		log_info(SVC_COMPONENT, "task=%s ready", t->id);
		svc_kick(sv);
	}
}

/* The task's host port for the readiness check's portName, or 0. */
static int svc_ready_port(const struct svc_app *a, const struct svc_task *t)
{
	const char *name = a->app.readiness_checks[0].port_name;

	for (size_t i = 0; i < a->app.nports && i < t->nports; i++)
		if (name && a->app.ports[i].name &&
		    !strcmp(a->app.ports[i].name, name))
			return t->ports[i];
	return 0;
}

static void svc_ready_start(struct services *sv, struct svc_app *a,
                            struct svc_task *t)
{
	const struct app_readiness_check *rc = &a->app.readiness_checks[0];
	struct http_client_req req = {0};
	struct svc_probe *p;
	int port = svc_ready_port(a, t);

	if (!port) {
		/* Validation ties portName to a port definition; a task
		 * without that port can never become ready. */
		t->ready_next = svc_now_mono() + rc->interval_seconds;
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->sv = sv;
	p->task_id = xstrdup(t->id);
	p->client =
	    http_client_new(sv->loop, t->ip ? t->ip : t->hostname, port);
	req.method = "GET";
	req.path = rc->path;
	req.timeout_ms = (uint64_t)(rc->timeout_seconds * 1000);
	req.max_body_bytes = 1 << 20;
	t->probing = true;
	list_add_tail(&sv->probes, &p->link);
	http_client_request(p->client, &req, svc_ready_done, p);
}

static void svc_ready_app(struct services *sv, struct svc_app *a, double now)
{
	struct list *pos;

	for (pos = a->tasks.next; pos != &a->tasks; pos = pos->next) {
		struct svc_task *t = list_entry(pos, struct svc_task, app_link);

		if (t->ready || t->probing || t->killing ||
		    !svc_task_is_current(a, t) || !svc_task_is_healthy(a, t) ||
		    now < t->ready_next)
			continue;
		svc_ready_start(sv, a, t);
	}
}

void svc_ready_tick(struct services *sv)
{
	struct list *pos, *tmp;
	double now = svc_now_mono();

	LIST_FOR_EACH_SAFE(pos, tmp, &sv->probes_done)
	{
		list_del(pos);
		svc_probe_free(list_entry(pos, struct svc_probe, link));
	}
	for (pos = sv->deployments.next; pos != &sv->deployments;
	     pos = pos->next) {
		struct svc_deployment *d =
		    list_entry(pos, struct svc_deployment, link);
		struct svc_step *st = &d->steps[d->current];

		for (size_t j = 0; j < st->nactions; j++) {
			struct svc_app *a =
			    svc_app_find(sv, st->actions[j].app_id);

			if (a && a->app.nreadiness_checks &&
			    st->actions[j].kind != SVC_STOP)
				svc_ready_app(sv, a, now);
		}
	}
}

void svc_ready_release(struct services *sv)
{
	struct list *pos, *tmp;

	/* Freeing a client drops its pending callback. */
	LIST_FOR_EACH_SAFE(pos, tmp, &sv->probes)
	{
		list_del(pos);
		svc_probe_free(list_entry(pos, struct svc_probe, link));
	}
	LIST_FOR_EACH_SAFE(pos, tmp, &sv->probes_done)
	{
		list_del(pos);
		svc_probe_free(list_entry(pos, struct svc_probe, link));
	}
}
