/*
 * svc_serverset.c: service discovery in ZooKeeper, Aurora's ServerSet
 * format, so that Finagle/Aurora-style clients find the healthy
 * instances of an app (with --zk zk://hosts/path).
 *
 * Every healthy instance with ports is announced by an ephemeral
 * sequential znode <path>/serversets<app id>/member_NNNNNNNNNN holding
 *
 *   {"serviceEndpoint": {"host": H, "port": P},
 *    "additionalEndpoints": {"<port name>": {"host": H, "port": p}, ...},
 *    "status": "ALIVE", "shard": N}
 *
 * where P is the port named "http" if there is one, else the first port,
 * and N is the lowest shard number not used by another announced instance
 * of the same app (stable while the instance lives). An instance that
 * stops being healthy, is being killed or is gone is withdrawn (its znode
 * deleted); ephemeral znodes also vanish with our session, so a crashed
 * `atoll services` never leaves stale members behind.
 *
 * Member life (svc_serverset_tick, every reconcile pass):
 *
 *   healthy, not announced --zk_create--> PENDING --ok--> ANNOUNCED
 *                                            | (withdrawn meanwhile: the
 *                                            |  znode is deleted on ok)
 *   ANNOUNCED --not healthy / gone--> zk_delete, forgotten
 *   session expired --> every member forgotten, a new session, and the
 *                       next passes announce again
 */
#include "lib/compat.h"
#include "services/services_int.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/zk.h"

struct svc_member {
	struct hmap_node node; /* key: task_id */
	struct svc_announcer *an;
	char *task_id;
	char *app_id;
	char *path; /* the created znode, NULL while pending */
	int shard;
	char *create_at; /* "<dir>/member_" while pending */
	char *data;      /* the member's JSON while pending */
	bool pending;    /* create sent, no answer yet */
	bool withdrawn;  /* delete once the create answers */
};

struct svc_announcer {
	struct services *sv;
	struct zk_url url;
	struct zk *zk;
	bool connected;
	struct hmap members; /* struct svc_member */
	double retry_at;     /* mono seconds: new session after a failure */
};

static void svc_member_free(struct svc_member *mb)
{
	free(mb->create_at);
	free(mb->data);
	free(mb->task_id);
	free(mb->app_id);
	free(mb->path);
	free(mb);
}

static void svc_members_clear(struct svc_announcer *an)
{
	struct hmap_node *n, *tmp;
	size_t i;

	HMAP_FOR_EACH_SAFE(&an->members, i, n, tmp)
	{
		hmap_remove(&an->members, n);
		svc_member_free(container_of(n, struct svc_member, node));
	}
}

static void svc_zk_session(struct zk *zk, enum zk_session_event ev, uint64_t at,
                           void *arg)
{
	struct svc_announcer *an = arg;

	(void)zk;
	(void)at;
	switch (ev) {
	case ZK_SESSION_CONNECTED:
		an->connected = true;
		svc_kick(an->sv);
		break;
	case ZK_SESSION_CONNECTING:
		an->connected = false;
		break;
	case ZK_SESSION_EXPIRED:
	case ZK_SESSION_AUTH_FAILED:
		log_warn(SVC_COMPONENT,
		         "zookeeper session lost: announcing again on a new "
		         "session");
		an->connected = false;
		/* Freeing from inside its callback is allowed (zk.h). */
		zk_free(an->zk);
		an->zk = NULL;
		svc_members_clear(an);
		an->retry_at = svc_now_mono() + 1;
		break;
	}
}

static void svc_member_deleted(struct zk *zk, int rc, void *arg)
{
	(void)zk;
	if (rc != ZK_RC_OK && rc != ZK_RC_NO_NODE)
		log_warn(SVC_COMPONENT, "cannot withdraw '%s': %s",
		         (const char *)arg, zk_strerror(rc));
	free(arg);
}

static void svc_member_delete(struct svc_announcer *an, const char *path)
{
	char *copy = xstrdup(path);

	if (zk_delete(an->zk, path, svc_member_deleted, copy))
		free(copy);
}

static void svc_member_created(struct zk *zk, int rc, const char *path,
                               void *arg)
{
	struct svc_member *mb = arg;
	struct svc_announcer *an = mb->an;

	(void)zk;
	mb->pending = false;
	if (rc != ZK_RC_OK) {
		log_warn(SVC_COMPONENT, "task=%s cannot announce: %s",
		         mb->task_id, zk_strerror(rc));
		hmap_remove(&an->members, &mb->node);
		svc_member_free(mb);
		return;
	}
	if (mb->withdrawn) {
		svc_member_delete(an, path);
		hmap_remove(&an->members, &mb->node);
		svc_member_free(mb);
		return;
	}
	mb->path = xstrdup(path);
	log_info(SVC_COMPONENT, "task=%s announced at %s", mb->task_id, path);
}

/* The app's directory exists: create the member. */
static void svc_parents_done(struct zk *zk, int rc, void *arg)
{
	struct svc_member *mb = arg;
	struct svc_announcer *an = mb->an;

	if (rc != ZK_RC_OK ||
	    zk_create(zk, mb->create_at, mb->data, strlen(mb->data),
	              ZK_EPHEMERAL | ZK_SEQUENCE, svc_member_created, mb)) {
		log_warn(SVC_COMPONENT,
		         "task=%s cannot announce under '%s': %s", mb->task_id,
		         mb->create_at, zk_strerror(rc));
		hmap_remove(&an->members, &mb->node);
		svc_member_free(mb);
	}
}

/* The lowest shard not used by another member of the app. */
static int svc_free_shard(struct svc_announcer *an, const char *app_id)
{
	for (int shard = 0;; shard++) {
		struct hmap_node *n, *tmp;
		bool used = false;
		size_t i;

		HMAP_FOR_EACH_SAFE(&an->members, i, n, tmp)
		{
			struct svc_member *mb =
			    container_of(n, struct svc_member, node);

			used = used || (!mb->withdrawn && mb->shard == shard &&
			                !strcmp(mb->app_id, app_id));
		}
		if (!used)
			return shard;
	}
}

static char *svc_member_json(const struct svc_app *a, const struct svc_task *t,
                             int shard)
{
	json_t *o = json_object(), *extra = json_object();
	size_t primary = 0;
	char *text;

	for (size_t i = 0; i < t->nports && i < a->app.nports; i++) {
		const char *name = a->app.ports[i].name;

		if (name && !strcmp(name, "http"))
			primary = i;
		if (name)
			json_object_set_new(extra, name,
			                    json_pack("{s:s,s:i}", "host",
			                              t->hostname, "port",
			                              t->ports[i]));
	}
	json_object_set_new(o, "serviceEndpoint",
	                    json_pack("{s:s,s:i}", "host", t->hostname, "port",
	                              t->ports[primary]));
	json_object_set_new(o, "additionalEndpoints", extra);
	json_object_set_new(o, "status", json_string("ALIVE"));
	json_object_set_new(o, "shard", json_integer(shard));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static void svc_announce(struct svc_announcer *an, const struct svc_app *a,
                         const struct svc_task *t)
{
	struct svc_member *mb = xcalloc(1, sizeof(*mb));
	char *dir = xasprintf("%s/serversets%s", an->url.path, a->app.id);

	mb->an = an;
	mb->task_id = xstrdup(t->id);
	mb->app_id = xstrdup(a->app.id);
	mb->shard = svc_free_shard(an, a->app.id);
	mb->pending = true;
	mb->create_at = xasprintf("%s/member_", dir);
	mb->data = svc_member_json(a, t, mb->shard);
	mb->node.key = mb->task_id;
	hmap_insert(&an->members, &mb->node);
	/* Pending callbacks own nothing but mb, which zk_free() makes safe
	 * to free: no callback runs after it. */
	if (zk_create_parents(an->zk, dir, svc_parents_done, mb)) {
		hmap_remove(&an->members, &mb->node);
		svc_member_free(mb);
	}
	free(dir);
}

/* Should task t of app a be announced? */
static bool svc_wants_member(struct services *sv, const struct svc_app *a,
                             const struct svc_task *t)
{
	return a && t && t->nports && !a->deleting && !t->killing &&
	       svc_task_is_alive(sv, a, t) && svc_task_is_healthy(a, t);
}

void svc_serverset_tick(struct services *sv)
{
	struct svc_announcer *an = sv->announcer;
	struct hmap_node *n, *tmp;
	size_t i;

	if (!an)
		return;
	if (!an->zk) {
		struct err e = {{0}};

		if (svc_now_mono() < an->retry_at)
			return;
		an->zk =
		    zk_new(sv->loop, an->url.hosts, 10, svc_zk_session, an, &e);
		if (!an->zk) {
			log_warn(SVC_COMPONENT, "zookeeper: %s", e.msg);
			an->retry_at = svc_now_mono() + 5;
		}
		return;
	}
	if (!an->connected)
		return;
	/* Withdraw what should no longer be announced. */
	HMAP_FOR_EACH_SAFE(&an->members, i, n, tmp)
	{
		struct svc_member *mb =
		    container_of(n, struct svc_member, node);
		struct svc_task *t = svc_task_find(sv, mb->task_id);
		struct svc_app *a = t ? svc_app_find(sv, t->app_id) : NULL;

		if (mb->withdrawn || svc_wants_member(sv, a, t))
			continue;
		if (mb->pending) {
			mb->withdrawn = true;
			continue;
		}
		log_info(SVC_COMPONENT, "task=%s withdrawn from %s",
		         mb->task_id, mb->path);
		svc_member_delete(an, mb->path);
		hmap_remove(&an->members, &mb->node);
		svc_member_free(mb);
	}
	/* Announce the healthy instances that are not yet. */
	HMAP_FOR_EACH_SAFE(&sv->tasks, i, n, tmp)
	{
		struct svc_task *t = container_of(n, struct svc_task, node);
		struct svc_app *a = svc_app_find(sv, t->app_id);

		if (svc_wants_member(sv, a, t) &&
		    !hmap_find(&an->members, t->id))
			svc_announce(an, a, t);
	}
}

int svc_serverset_init(struct services *sv, struct err *e)
{
	struct svc_announcer *an;
	int rc;

	if (!sv->cfg.zk)
		return 0;
	an = xcalloc(1, sizeof(*an));
	if ((rc = zk_url_parse(sv->cfg.zk, &an->url, e))) {
		err_prefix(e, "--zk");
		free(an);
		return rc;
	}
	an->sv = sv;
	hmap_init(&an->members);
	sv->announcer = an;
	svc_serverset_tick(sv); /* opens the session */
	return 0;
}

void svc_serverset_release(struct services *sv)
{
	struct svc_announcer *an = sv->announcer;

	if (!an)
		return;
	/* Closing the session removes our ephemeral members at once. */
	zk_free(an->zk);
	svc_members_clear(an);
	hmap_release(&an->members);
	zk_url_release(&an->url);
	free(an);
	sv->announcer = NULL;
}
