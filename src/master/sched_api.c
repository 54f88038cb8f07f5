/*
 * sched_api.c: POST /api/v1/scheduler, the Mesos v1 scheduler API.
 *
 * Checks happen in Mesos's order (src/master/http.cpp): method (405),
 * Content-Type (400 missing, 415 other), Accept (406), body parses (400),
 * call type (400 missing, 501 unknown), then per call: SUBSCRIBE must not
 * carry Mesos-Stream-Id; every other call needs a known framework_id (400),
 * a subscribed framework (403) and the matching Mesos-Stream-Id (400).
 * Accepted calls answer 202 and report results as events; invalid tasks
 * become TASK_ERROR updates, never HTTP errors. Every error body says what
 * was wrong.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include <math.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/v1call.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define SCHED "master"

enum sched_call {
	CALL_SUBSCRIBE,
	CALL_TEARDOWN,
	CALL_ACCEPT,
	CALL_DECLINE,
	CALL_ACCEPT_INVERSE_OFFERS,
	CALL_DECLINE_INVERSE_OFFERS,
	CALL_REVIVE,
	CALL_KILL,
	CALL_SHUTDOWN,
	CALL_ACKNOWLEDGE,
	CALL_ACKNOWLEDGE_OPERATION_STATUS,
	CALL_RECONCILE,
	CALL_RECONCILE_OPERATIONS,
	CALL_MESSAGE,
	CALL_REQUEST,
	CALL_SUPPRESS,
	CALL_UPDATE_FRAMEWORK,
};

static const char *const sched_call_names[] = {
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "REVIVE",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "ACKNOWLEDGE_OPERATION_STATUS",
    "RECONCILE",
    "RECONCILE_OPERATIONS",
    "MESSAGE",
    "REQUEST",
    "SUPPRESS",
    "UPDATE_FRAMEWORK",
};

/* Largest refuse filter Mesos accepts: one year. */
#define MAX_REFUSE_SECONDS 31536000.0

/* ---- helpers ------------------------------------------------------------ */

/* The payload object call[key]; responds 400 and returns NULL if absent. */
static json_t *sched_payload(struct http_request *req, json_t *call,
                             const char *key)
{
	json_t *p = json_object_get(call, key);
	if (!json_is_object(p)) {
		http_respond_error(req, 400, "Expecting '%s' to be present%s",
		                   key, p ? " and an object" : "");
		return NULL;
	}
	return p;
}

/*
 * Collects a "roles" string array into roles (borrowed strings). Returns
 * 0, or -EINVAL after responding 400 (not strings, or not subscribed).
 */
static int sched_roles(struct http_request *req, struct master_framework *fw,
                       json_t *payload, const char *what, const char ***roles,
                       size_t *n)
{
	json_t *arr = payload ? json_object_get(payload, "roles") : NULL;
	size_t i;
	json_t *v;

	*roles = NULL;
	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		http_respond_error(req, 400, "%s.roles: expected an array",
		                   what);
		return -EINVAL;
	}
	*roles = xcalloc(json_array_size(arr) + 1, sizeof(**roles));
	json_array_foreach(arr, i, v)
	{
		const char *r = json_string_value(v);
		if (!r) {
			http_respond_error(req, 400,
			                   "%s.roles[%zu]: expected a string",
			                   what, i);
			goto fail;
		}
		if (!framework_info_has_role(&fw->info, r)) {
			http_respond_error(req, 400,
			                   "%s.roles[%zu]: framework is not "
			                   "subscribed to role '%s'",
			                   what, i, r);
			goto fail;
		}
		(*roles)[(*n)++] = r;
	}
	return 0;
fail:
	free(*roles);
	*roles = NULL;
	return -EINVAL;
}

/* UPDATE with a master-generated status (no uuid, never retried). */
static void sched_send_status(struct master_framework *fw, const char *task_id,
                              const char *agent_id, enum task_state state,
                              enum task_reason reason, const char *message)
{
	struct task_status st;
	master_status_make(&st, task_id, agent_id, NULL, state, reason,
	                   message);
	master_send_update(fw, &st);
	task_status_release(&st);
}

/* ---- SUBSCRIBE ----------------------------------------------------------- */

struct stream_ctx {
	struct master *m;
	char *framework_id;
	char stream_id[IDS_UUID_STRLEN];
};

static void sched_stream_closed(struct http_stream *s, void *arg)
{
	struct stream_ctx *ctx = arg;
	struct master_framework *fw =
	    master_framework_find(ctx->m, ctx->framework_id);

	/* Only the framework's current stream counts: an old one replaced
	 * by a failover has another stream id. */
	(void)s;
	if (fw && !strcmp(fw->stream_id, ctx->stream_id)) {
		fw->stream_id[0] = '\0';
		master_framework_disconnected(fw);
	}
	free(ctx->framework_id);
	free(ctx);
}

static void sched_subscribe(struct master *m, struct http_request *req,
                            json_t *call)
{
	struct framework_info fi;
	struct master_framework *fw;
	struct stream_ctx *ctx;
	struct http_stream *stream;
	struct err e = {{0}};
	json_t *sub, *fij, *supp;
	const char *top_id, *id;
	char sid[IDS_UUID_STRLEN];
	bool is_new = true;

	if (http_request_header(req, "Mesos-Stream-Id")) {
		http_respond_error(req, 400,
		                   "Subscribe calls should not include the "
		                   "'Mesos-Stream-Id' header");
		return;
	}
	if (!(sub = sched_payload(req, call, "subscribe")))
		return;
	fij = json_object_get(sub, "framework_info");
	if (!json_is_object(fij)) {
		http_respond_error(req, 400,
		                   "Expecting "
		                   "'subscribe.framework_info' to be "
		                   "present");
		return;
	}
	framework_info_init(&fi);
	if (framework_info_from_json(&fi, fij, &e)) {
		res_err_path(&e, "subscribe.framework_info");
		http_respond_error(req, 400, "%s", e.msg);
		goto out;
	}
	top_id = mesos_json_id(call, "framework_id");
	if (top_id && fi.id && strcmp(top_id, fi.id)) {
		http_respond_error(req, 400,
		                   "'framework_id' (%s) differs from "
		                   "'subscribe.framework_info.id' (%s)",
		                   top_id, fi.id);
		goto out;
	}
	id = fi.id ? fi.id : top_id;
	if (id && mesos_id_validate(id, "framework_id", &e)) {
		http_respond_error(req, 400, "%s", e.msg);
		goto out;
	}
	supp = json_object_get(sub, "suppressed_roles");
	if (supp && !json_is_array(supp)) {
		http_respond_error(req, 400,
		                   "subscribe.suppressed_roles: expected an "
		                   "array of role names");
		goto out;
	}

	ids_uuid_str(sid);
	http_request_add_header(req, "Mesos-Stream-Id", sid);
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->m = m;
	memcpy(ctx->stream_id, sid, sizeof(sid));

	if (id && master_framework_find_completed(m, id) &&
	    !master_framework_find(m, id)) {
		ctx->framework_id = xstrdup(id);
		stream = http_stream_begin(req, 200, "application/json",
		                           sched_stream_closed, ctx);
		master_stream_error(&stream, "Framework has been removed");
		goto out;
	}
	fw = id ? master_framework_find(m, id) : NULL;
	if (fw) {
		/* Failover: the new connection replaces the old one. */
		if (fw->stream) {
			log_info(SCHED,
			         "framework=%s failed over to a new "
			         "connection",
			         fw->id);
			master_stream_error(&fw->stream,
			                    "Framework failed over");
		}
		/* The new FrameworkInfo replaces the old one, except for what
		 * Mesos never lets change: user, principal, checkpoint. */
		free(fi.user);
		fi.user = xstrdup(fw->info.user);
		free(fi.principal);
		fi.principal =
		    fw->info.principal ? xstrdup(fw->info.principal) : NULL;
		fi.checkpoint = fw->info.checkpoint;
		free(fi.id);
		fi.id = xstrdup(fw->id);
		framework_info_release(&fw->info);
		framework_info_copy(&fw->info, &fi);
		/* updates its roles in the allocator (offers follow them) */
		alloc_framework_add(m->alloc, fw->id,
		                    (const char *const *)fw->info.roles,
		                    fw->info.nroles, false);
		is_new = false;
	} else {
		fw = master_framework_add(m, &fi, id);
	}
	ctx->framework_id = xstrdup(fw->id);
	memcpy(fw->stream_id, sid, sizeof(sid));
	stream = http_stream_begin(req, 200, "application/json",
	                           sched_stream_closed, ctx);
	master_framework_connected(fw, stream);
	if (is_new)
		master_op_framework_added(m, fw);
	else
		master_op_framework_updated(m, fw);

	if (supp && json_array_size(supp) > 0) {
		const char **roles =
		    xcalloc(json_array_size(supp), sizeof(*roles));
		size_t i, n = 0;
		json_t *v;
		json_array_foreach(supp, i, v)
		{
			const char *r = json_string_value(v);
			if (r && framework_info_has_role(&fw->info, r))
				roles[n++] = r;
		}
		if (n)
			alloc_suppress(m->alloc, fw->id, roles, n);
		free(roles);
	}

	struct buf ev = BUF_INIT;
	struct jsonw w;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "SUBSCRIBED");
	jsonw_key(&w, "subscribed");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->id);
	jsonw_kdouble(&w, "heartbeat_interval_seconds",
	              m->cfg.heartbeat_interval);
	jsonw_key(&w, "master_info");
	master_write_master_info(m, &w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_framework_send(fw, &ev);
	buf_release(&ev);
	log_info(SCHED, "framework=%s name='%s' subscribed", fw->id,
	         fw->info.name);
out:
	framework_info_release(&fi);
}

/* ---- ACCEPT / DECLINE ------------------------------------------------------
 */

static double sched_refuse_seconds(struct master *m, json_t *payload)
{
	json_t *f = json_object_get(payload, "filters");
	json_t *r = f ? json_object_get(f, "refuse_seconds") : NULL;
	double v;

	if (!json_is_number(r))
		return m->cfg.default_refuse_seconds;
	v = json_number_value(r);
	if (!isfinite(v) || v < 0)
		return m->cfg.default_refuse_seconds;
	return v > MAX_REFUSE_SECONDS ? MAX_REFUSE_SECONDS : v;
}

/* Answers every task of a LAUNCH / LAUNCH_GROUP operation with state. */
static void sched_fail_op_tasks(struct master_framework *fw, json_t *op,
                                enum task_state state, enum task_reason reason,
                                const char *message)
{
	json_t *tasks = NULL, *ti;
	size_t i;

	if (json_object_get(op, "launch"))
		tasks = json_object_get(json_object_get(op, "launch"),
		                        "task_infos");
	else if (json_object_get(op, "launch_group"))
		tasks = json_object_get(
		    json_object_get(json_object_get(op, "launch_group"),
		                    "task_group"),
		    "tasks");
	json_array_foreach(tasks, i, ti)
	{
		const char *tid = mesos_json_id(ti, "task_id");
		if (tid)
			sched_send_status(fw, tid,
			                  mesos_json_id(ti, "agent_id"), state,
			                  reason, message);
	}
}

static void sched_run_task(struct master_agent *a, struct master_framework *fw,
                           const struct master_task *t)
{
	struct buf ev = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "RUN_TASK");
	jsonw_key(&w, "run_task");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->id);
	jsonw_key(&w, "framework_info");
	framework_info_write_json(&w, &fw->info);
	jsonw_key(&w, "task");
	jsonw_raw(&w, t->info_json, strlen(t->info_json));
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_agent_send(a, &ev);
	buf_release(&ev);
}

/* Validates and launches one TaskInfo against the remaining resources. */
static void sched_launch_task(struct master *m, struct master_framework *fw,
                              struct master_agent *a, const char *role,
                              json_t *tij, size_t idx,
                              struct resources *remaining)
{
	struct task_info ti;
	struct err e = {{0}};
	const char *tid = mesos_json_id(tij, "task_id");
	struct master_task *t;
	struct buf msg = BUF_INIT;

	task_info_init(&ti);
	if (!json_is_object(tij)) {
		log_warn(SCHED, "framework=%s task_infos[%zu] is not an object",
		         fw->id, idx);
		goto out;
	}
	if (task_info_from_json(&ti, tij, &e)) {
		buf_addf(&msg, "Task validation failed: %s", e.msg);
		goto error;
	}
	if (strcmp(ti.agent_id, a->id)) {
		buf_addf(&msg,
		         "Task uses agent_id '%s' but the offer is for agent "
		         "'%s'",
		         ti.agent_id, a->id);
		goto error;
	}
	if (master_task_find(fw, ti.task_id)) {
		buf_addf(&msg, "Task has duplicate ID: '%s'", ti.task_id);
		goto error;
	}
	for (size_t i = 0; i < ti.resources.n; i++) {
		struct resource *r = &ti.resources.v[i];
		if (!r->alloc_role) {
			r->alloc_role = xstrdup(role);
		} else if (!framework_info_has_role(&fw->info, r->alloc_role)) {
			buf_addf(&msg,
			         "Task resource '%s' is allocated to role "
			         "'%s', which the framework is not subscribed "
			         "to",
			         r->name, r->alloc_role);
			goto error;
		}
	}
	if (resources_subtract(remaining, &ti.resources)) {
		struct buf want = BUF_INIT, have = BUF_INIT;
		resources_format(&want, &ti.resources);
		resources_format(&have, remaining);
		buf_addf(&msg,
		         "Task uses more resources (%s) than available in "
		         "the offers (%s)",
		         want.data ? want.data : "",
		         have.data ? have.data : "");
		buf_release(&want);
		buf_release(&have);
		goto error;
	}
	t = master_task_add(fw, a, &ti);
	master_op_task_added(m, t);
	log_debug(SCHED, "framework=%s task=%s agent=%s launching", fw->id,
	          t->id, a->id);
	sched_run_task(a, fw, t);
	goto out;
error:
	log_info(SCHED, "framework=%s task=%s TASK_ERROR: %s", fw->id,
	         tid ? tid : "?", msg.data);
	if (tid)
		sched_send_status(fw, tid, a->id, TASK_ERROR,
		                  REASON_TASK_INVALID, msg.data);
out:
	(void)m;
	buf_release(&msg);
	task_info_release(&ti);
}

/* UPDATE_OPERATION_STATUS for an operation that carried an id (Atoll
 * reports every such operation's outcome; Mesos does it for operations
 * on resource providers). */
static void sched_operation_status(struct master_framework *fw,
                                   struct master_agent *a, json_t *op,
                                   const char *message)
{
	const char *oid = mesos_json_id(op, "id");
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!oid)
		return;
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", "UPDATE_OPERATION_STATUS");
	jsonw_key(&w, "update_operation_status");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "status");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "operation_id", oid);
	jsonw_kstr(&w, "state",
	           message ? "OPERATION_ERROR" : "OPERATION_FINISHED");
	if (message)
		jsonw_kstr(&w, "message", message);
	jsonw_kid(&w, "agent_id", a->id);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_framework_send(fw, &ev);
	buf_release(&ev);
}

/* True when anc is role or one of its ancestors. */
static bool sched_role_covers(const char *anc, const char *role)
{
	size_t n = strlen(anc);
	return !strncmp(anc, role, n) && (role[n] == '\0' || role[n] == '/');
}

/*
 * The framework-side checks of one resource operation (Mesos's
 * validation of Offer.Operation): allocation roles are the framework's,
 * a reservation is to the allocation role and carries the framework's
 * principal, volumes belong to the allocation role (or an ancestor).
 */
static int sched_op_check(struct master_framework *fw, enum resources_op kind,
                          struct resources *res, const char *role,
                          struct err *e)
{
	const char *principal = fw->info.principal;

	for (size_t i = 0; i < res->n; i++) {
		struct resource *x = &res->v[i];
		const struct reservation *top =
		    x->nreservations ? &x->reservations[x->nreservations - 1]
		                     : NULL;

		if (!x->alloc_role)
			x->alloc_role = xstrdup(role);
		else if (!framework_info_has_role(&fw->info, x->alloc_role))
			return err_set(e,
			               "resources[%zu].allocation_info.role: "
			               "the framework is not subscribed to "
			               "role '%s'",
			               i, x->alloc_role);
		if ((kind == RES_OP_RESERVE || kind == RES_OP_UNRESERVE) &&
		    top && strcmp(top->role, x->alloc_role))
			return err_set(e,
			               "resources[%zu].reservations: role '%s' "
			               "is not the allocation role '%s'",
			               i, top->role, x->alloc_role);
		if (kind == RES_OP_RESERVE && top && principal &&
		    !streq(top->principal, principal))
			return err_set(e,
			               "resources[%zu].reservations: principal "
			               "must be the framework's principal '%s'",
			               i, principal);
		if ((kind == RES_OP_CREATE || kind == RES_OP_DESTROY) &&
		    !sched_role_covers(x->role, x->alloc_role))
			return err_set(e,
			               "resources[%zu]: reserved to '%s', not "
			               "to the allocation role '%s'",
			               i, x->role, x->alloc_role);
		if (kind == RES_OP_CREATE && principal &&
		    x->persistence_principal &&
		    strcmp(x->persistence_principal, principal))
			return err_set(e,
			               "resources[%zu].disk.persistence."
			               "principal: must be the framework's "
			               "principal '%s'",
			               i, principal);
	}
	return 0;
}

/*
 * RESERVE, UNRESERVE, CREATE, DESTROY in an ACCEPT: checked against the
 * framework and against what is left of the offers (remaining), then
 * applied to the agent. remaining then holds what the operation made, so
 * a later LAUNCH of the same ACCEPT can use it. A refused operation is
 * dropped (logged, and reported when it has an id); the others go on.
 */
static void sched_resource_op(struct master_framework *fw,
                              struct master_agent *a, const char *role,
                              json_t *op, size_t idx, enum resources_op kind,
                              struct resources *remaining)
{
	static const char *const keys[] = {"reserve", "unreserve", "create",
	                                   "destroy"};
	static const char *const fields[] = {"resources", "resources",
	                                     "volumes", "volumes"};
	const char *key = keys[kind], *field = fields[kind];
	json_t *p = json_object_get(op, key);
	struct resources res, left;
	struct err e = {{0}};
	int rc;

	resources_init(&res);
	resources_init(&left);
	if (!json_is_object(p) || !json_object_get(p, field)) {
		err_set(&e, "%s.%s: required field missing", key, field);
		goto refused;
	}
	if ((rc = resources_from_json(&res, json_object_get(p, field), &e))) {
		/* "resources[1].x: .." names the field: "create.volumes[1]" */
		const char *rest = e.msg + (strncmp(e.msg, "resources", 9)
		                                ? 0
		                                : 9);
		struct buf msg = BUF_INIT;
		buf_addf(&msg, "%s.%s%s%s", key, field,
		         *rest == '[' || *rest == ':' ? "" : ": ", rest);
		err_set(&e, "%s", msg.data);
		buf_release(&msg);
		goto refused;
	}
	if (resources_op_validate(kind, &res, &e) ||
	    sched_op_check(fw, kind, &res, role, &e)) {
		res_err_path(&e, "%s", key);
		goto refused;
	}
	resources_copy(&left, remaining);
	if ((rc = resources_apply_op(&left, kind, &res, &e))) {
		if (rc == -ENOENT) {
			struct buf have = BUF_INIT;
			resources_format(&have, remaining);
			err_set(&e,
			        "%s: the resources are not in the offers "
			        "(left: %s)",
			        key, have.data);
			buf_release(&have);
		} else {
			res_err_path(&e, "%s", key);
		}
		goto refused;
	}
	if (master_agent_apply_op(a, fw, kind, &res, &e)) {
		res_err_path(&e, "%s", key);
		goto refused;
	}
	resources_release(remaining);
	*remaining = left;
	resources_init(&left);
	sched_operation_status(fw, a, op, NULL);
	goto out;
refused:
	log_info(SCHED, "framework=%s agent=%s operations[%zu] %s refused: %s",
	         fw->id, a->id, idx, resources_op_name(kind), e.msg);
	sched_operation_status(fw, a, op, e.msg);
out:
	resources_release(&res);
	resources_release(&left);
}

static void sched_accept(struct master *m, struct master_framework *fw,
                         json_t *payload)
{
	json_t *ids = json_object_get(payload, "offer_ids");
	json_t *ops = json_object_get(payload, "operations");
	double refuse = sched_refuse_seconds(m, payload);
	struct master_offer **offers = NULL;
	struct master_agent *agent = NULL;
	struct resources remaining;
	struct buf invalid = BUF_INIT;
	char *role = NULL;
	size_t i, n = 0;
	json_t *v, *op;

	resources_init(&remaining);
	offers = xcalloc(json_array_size(ids) + 1, sizeof(*offers));
	json_array_foreach(ids, i, v)
	{
		const char *oid =
		    json_string_value(json_object_get(v, "value"));
		struct master_offer *o =
		    oid ? hmap_entry(hmap_find(&m->offers, oid),
		                     struct master_offer, node)
			: NULL;
		bool dup = false;
		for (size_t k = 0; o && k < n; k++)
			dup |= offers[k] == o;
		if (!o || o->framework != fw) {
			buf_addf(&invalid, "%sOffer '%s' is no longer valid",
			         invalid.len ? "; " : "", oid ? oid : "?");
		} else if (dup) {
			buf_addf(&invalid, "%sOffer '%s' appears twice",
			         invalid.len ? "; " : "", oid);
		} else if (agent && o->agent != agent) {
			buf_addf(&invalid,
			         "%sOffers are for different agents ('%s', "
			         "'%s')",
			         invalid.len ? "; " : "", agent->id,
			         o->agent->id);
		} else {
			agent = o->agent;
			offers[n++] = o;
		}
	}
	if (!invalid.len && n == 0)
		buf_adds(&invalid, "No offers given");
	if (invalid.len) {
		enum task_state st = master_framework_is_partition_aware(fw)
		                         ? TASK_DROPPED
		                         : TASK_LOST;
		log_info(SCHED, "framework=%s ACCEPT refused: %s", fw->id,
		         invalid.data);
		json_array_foreach(ops, i, op) sched_fail_op_tasks(
		    fw, op, st, REASON_INVALID_OFFERS, invalid.data);
		for (i = 0; i < n; i++)
			master_offer_remove(offers[i], true, 0);
		goto out;
	}
	role = xstrdup(offers[0]->role);
	for (i = 0; i < n; i++) {
		resources_add(&remaining, &offers[i]->resources);
		master_offer_remove(offers[i], false, 0);
	}
	json_array_foreach(ops, i, op)
	{
		const char *type =
		    json_string_value(json_object_get(op, "type"));
		if (type && !strcmp(type, "LAUNCH")) {
			json_t *tis = json_object_get(
			    json_object_get(op, "launch"), "task_infos");
			json_t *tij;
			size_t k;
			json_array_foreach(tis, k, tij) sched_launch_task(
			    m, fw, agent, role, tij, k, &remaining);
		} else if (type && !strcmp(type, "RESERVE")) {
			sched_resource_op(fw, agent, role, op, i,
			                  RES_OP_RESERVE, &remaining);
		} else if (type && !strcmp(type, "UNRESERVE")) {
			sched_resource_op(fw, agent, role, op, i,
			                  RES_OP_UNRESERVE, &remaining);
		} else if (type && !strcmp(type, "CREATE")) {
			sched_resource_op(fw, agent, role, op, i, RES_OP_CREATE,
			                  &remaining);
		} else if (type && !strcmp(type, "DESTROY")) {
			sched_resource_op(fw, agent, role, op, i,
			                  RES_OP_DESTROY, &remaining);
		} else if (type && !strcmp(type, "LAUNCH_GROUP")) {
			sched_fail_op_tasks(fw, op, TASK_ERROR,
			                    REASON_TASK_GROUP_INVALID,
			                    "LAUNCH_GROUP is not supported by "
			                    "Atoll yet");
		} else {
			log_warn(SCHED,
			         "framework=%s operation '%s' is not "
			         "supported yet; ignored",
			         fw->id, type ? type : "(none)");
		}
	}
	alloc_recover(m->alloc, agent->id, fw->id, &remaining, refuse,
	              master_now_ms(m));
	master_schedule_allocation(m);
out:
	free(role);
	free(offers);
	buf_release(&invalid);
	resources_release(&remaining);
}

static void sched_decline(struct master *m, struct master_framework *fw,
                          json_t *payload)
{
	json_t *ids = json_object_get(payload, "offer_ids");
	double refuse = sched_refuse_seconds(m, payload);
	size_t i;
	json_t *v;

	json_array_foreach(ids, i, v)
	{
		const char *oid =
		    json_string_value(json_object_get(v, "value"));
		struct master_offer *o =
		    oid ? hmap_entry(hmap_find(&m->offers, oid),
		                     struct master_offer, node)
			: NULL;
		if (!o || o->framework != fw) {
			log_debug(SCHED,
			          "framework=%s declined unknown offer "
			          "'%s'",
			          fw->id, oid ? oid : "?");
			continue;
		}
		m->metrics.offers_declined++;
		master_offer_remove(o, true, refuse);
	}
}

/* ---- KILL / RECONCILE / ACKNOWLEDGE ----------------------------------------
 */

/*
 * What the master says about a task it does not know, by what it knows of
 * the agent named with it (Mesos's explicit reconciliation cases):
 *   agent admitted before a master restart, not back yet: no answer
 *     (Mesos's no-op: TASK_LOST or TASK_UNREACHABLE would be a lie if the
 *     agent comes back with the task; the scheduler retries)
 *   agent unreachable: TASK_UNREACHABLE (TASK_LOST when not aware)
 *   agent gone: TASK_GONE_BY_OPERATOR (TASK_LOST)
 *   otherwise: TASK_UNKNOWN (TASK_LOST)
 */
static void sched_unknown_task(struct master *m, struct master_framework *fw,
                               const char *task_id, const char *agent_id)
{
	bool aware = master_framework_is_partition_aware(fw);
	enum task_state st = TASK_LOST;
	const char *why = "Reconciliation: task is unknown to the master";

	if (master_agent_is_recovered(m, agent_id)) {
		/* Mesos's no-op for a transitioning agent, for every
		 * framework: the agent is expected back within
		 * --agent-reregister-timeout (then its tasks are reported
		 * by the agent, or become unreachable when the window
		 * closes). Answering TASK_UNREACHABLE here made
		 * partition-aware frameworks replace every task at each
		 * master restart. */
		return;
	} else if (master_agent_is_unreachable(m, agent_id)) {
		st = aware ? TASK_UNREACHABLE : TASK_LOST;
		why = "Reconciliation: the task's agent is unreachable";
	} else if (master_agent_is_gone(m, agent_id)) {
		st = aware ? TASK_GONE_BY_OPERATOR : TASK_LOST;
		why = "Reconciliation: the task's agent was marked gone";
	} else if (aware) {
		st = TASK_UNKNOWN;
		if (agent_id && !master_agent_find(m, agent_id))
			why = "Reconciliation: task and agent are unknown";
	}
	sched_send_status(fw, task_id, agent_id, st, REASON_RECONCILIATION,
	                  why);
}

static void sched_kill(struct master *m, struct http_request *req,
                       struct master_framework *fw, json_t *payload)
{
	const char *tid = mesos_json_id(payload, "task_id");
	struct master_task *t;

	if (!tid) {
		http_respond_error(req, 400,
		                   "Expecting 'kill.task_id' to be present");
		return;
	}
	t = master_task_find(fw, tid);
	if (!t || task_state_is_terminal(t->state)) {
		if (t)
			master_send_update(fw, &t->status);
		else
			sched_unknown_task(m, fw, tid,
			                   mesos_json_id(payload, "agent_id"));
		goto done;
	}
	master_task_kill(t, json_object_get(payload, "kill_policy"));
done:
	http_respond(req, 202, NULL, NULL, 0);
}

static void sched_reconcile_task(struct master_framework *fw,
                                 struct master_task *t)
{
	struct task_status st;

	if (t->has_status) {
		task_status_init(&st);
		task_status_copy(&st, &t->status);
		st.has_uuid = false;
		free(st.data);
		st.data = NULL;
	} else {
		master_status_make(&st, t->id, t->agent ? t->agent->id : NULL,
		                   t->executor_id, t->state, REASON_UNSET,
		                   NULL);
	}
	st.state = t->state;
	st.reason = REASON_RECONCILIATION;
	st.source = SOURCE_MASTER;
	st.timestamp = timeutil_wall();
	master_send_update(fw, &st);
	task_status_release(&st);
}

/*
 * A completed (terminal and acknowledged) task. Mesos answers TASK_LOST
 * for these; Atoll answers the task's real terminal state while it is
 * still in the bounded completed list, which tells the framework the
 * truth instead of a loss that never happened.
 */
static struct master_task *sched_find_completed(struct master_framework *fw,
                                                const char *task_id)
{
	struct list *pos, *tmp;
	LIST_FOR_EACH_SAFE(pos, tmp, &fw->completed)
	{
		struct master_task *t =
		    list_entry(pos, struct master_task, completed_link);
		if (!strcmp(t->id, task_id))
			return t;
	}
	return NULL;
}

static void sched_reconcile(struct master *m, struct http_request *req,
                            struct master_framework *fw, json_t *payload)
{
	json_t *tasks = payload ? json_object_get(payload, "tasks") : NULL;
	size_t i;
	json_t *v;

	if (tasks && !json_is_array(tasks)) {
		http_respond_error(req, 400,
		                   "reconcile.tasks: expected an array");
		return;
	}
	json_array_foreach(tasks, i, v)
	{
		if (!mesos_json_id(v, "task_id")) {
			http_respond_error(req, 400,
			                   "reconcile.tasks[%zu].task_id: "
			                   "required field missing",
			                   i);
			return;
		}
	}
	http_respond(req, 202, NULL, NULL, 0);
	if (!tasks || json_array_size(tasks) == 0) {
		struct hmap_node *n, *tmp;
		HMAP_FOR_EACH_SAFE(&fw->tasks, i, n, tmp)
		{
			sched_reconcile_task(
			    fw, container_of(n, struct master_task, node));
		}
		return;
	}
	json_array_foreach(tasks, i, v)
	{
		const char *tid = mesos_json_id(v, "task_id");
		struct master_task *t = master_task_find(fw, tid);
		if (!t)
			t = sched_find_completed(fw, tid);
		if (t)
			sched_reconcile_task(fw, t);
		else
			sched_unknown_task(m, fw, tid,
			                   mesos_json_id(v, "agent_id"));
	}
}

static void sched_acknowledge(struct master *m, struct http_request *req,
                              struct master_framework *fw, json_t *payload)
{
	const char *aid = mesos_json_id(payload, "agent_id");
	const char *tid = mesos_json_id(payload, "task_id");
	const char *uuid = json_string_value(json_object_get(payload, "uuid"));
	uint8_t raw[IDS_UUID_LEN + 4];
	struct master_agent *a;
	struct master_task *t;
	int n;

	if (!aid || !tid || !uuid) {
		http_respond_error(req, 400,
		                   "Expecting 'acknowledge.%s' to be present",
		                   !aid   ? "agent_id"
		                   : !tid ? "task_id"
		                          : "uuid");
		return;
	}
	n = ids_base64_decode(uuid, strlen(uuid), raw, sizeof(raw));
	if (n != IDS_UUID_LEN) {
		http_respond_error(req, 400,
		                   "acknowledge.uuid: expected base64 of a "
		                   "16-byte UUID, got '%.64s'",
		                   uuid);
		return;
	}
	http_respond(req, 202, NULL, NULL, 0);
	t = master_task_find(fw, tid);
	a = master_agent_find(m, aid);
	if (a && a->stream) {
		struct buf ev = BUF_INIT;
		struct jsonw w;
		jsonw_init(&w, &ev);
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "type", "ACKNOWLEDGE");
		jsonw_key(&w, "acknowledge");
		jsonw_obj_begin(&w);
		jsonw_kid(&w, "framework_id", fw->id);
		jsonw_kid(&w, "task_id", tid);
		jsonw_kstr(&w, "uuid", uuid);
		jsonw_obj_end(&w);
		jsonw_obj_end(&w);
		(void)master_agent_send(a, &ev);
		buf_release(&ev);
	} else {
		log_info(SCHED,
		         "framework=%s task=%s acknowledgement for "
		         "unreachable agent '%s' dropped",
		         fw->id, tid, aid);
	}
	if (t && t->terminal_uuid_set &&
	    !memcmp(t->terminal_uuid, raw, IDS_UUID_LEN))
		master_task_complete(t);
}

/* ---- the rest
 * ---------------------------------------------------------------- */

static void sched_forward_to_agent(struct master *m, struct http_request *req,
                                   struct master_framework *fw, json_t *payload,
                                   const char *what)
{
	const char *aid = mesos_json_id(payload, "agent_id");
	const char *eid = mesos_json_id(payload, "executor_id");
	const char *data = json_string_value(json_object_get(payload, "data"));
	bool is_msg = !strcmp(what, "message");
	struct master_agent *a;
	struct buf ev = BUF_INIT;
	struct jsonw w;

	if (!aid || !eid || (is_msg && !data)) {
		http_respond_error(req, 400, "Expecting '%s.%s' to be present",
		                   what,
		                   !aid   ? "agent_id"
		                   : !eid ? "executor_id"
		                          : "data");
		return;
	}
	http_respond(req, 202, NULL, NULL, 0);
	a = master_agent_find(m, aid);
	if (!a || !a->stream) {
		log_info(SCHED,
		         "framework=%s %s to unknown or disconnected "
		         "agent '%s' dropped",
		         fw->id, what, aid);
		return;
	}
	jsonw_init(&w, &ev);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "type", is_msg ? "MESSAGE" : "SHUTDOWN_EXECUTOR");
	jsonw_key(&w, is_msg ? "message" : "shutdown_executor");
	jsonw_obj_begin(&w);
	jsonw_kid(&w, "framework_id", fw->id);
	jsonw_kid(&w, "executor_id", eid);
	if (is_msg)
		jsonw_kstr(&w, "data", data);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	(void)master_agent_send(a, &ev);
	buf_release(&ev);
}

static int sched_call_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(sched_call_names); i++)
		if (!strcmp(name, sched_call_names[i]))
			return (int)i;
	return -1;
}

void master_sched_api(struct master *m, struct http_request *req)
{
	struct master_framework *fw;
	const char *type, *fid, *sid;
	json_t *call, *payload = NULL;
	const char **roles;
	size_t nroles;
	int ct;

	if (!(call = v1call_parse(req)))
		return;
	type = json_string_value(json_object_get(call, "type"));
	if (!type) {
		http_respond_error(req, 400, "Expecting 'type' to be present");
		goto out;
	}
	ct = sched_call_type(type);
	if (ct < 0) {
		http_respond_error(req, 501, "Unknown call type '%s'", type);
		goto out;
	}
	if (ct < (int)ARRAY_SIZE(m->metrics.calls))
		m->metrics.calls[ct]++;
	if (ct == CALL_SUBSCRIBE) {
		sched_subscribe(m, req, call);
		goto out;
	}
	fid = mesos_json_id(call, "framework_id");
	if (!fid) {
		http_respond_error(req, 400,
		                   "Expecting 'framework_id' to be present");
		goto out;
	}
	fw = master_framework_find(m, fid);
	if (!fw) {
		http_respond_error(req, 400, "Framework '%s' cannot be found%s",
		                   fid,
		                   master_framework_find_completed(m, fid)
		                       ? " (it has been removed)"
		                       : "");
		goto out;
	}
	if (!fw->stream) {
		http_respond_error(req, 403, "Framework '%s' is not subscribed",
		                   fid);
		goto out;
	}
	sid = http_request_header(req, "Mesos-Stream-Id");
	if (!sid) {
		http_respond_error(req, 400,
		                   "All non-subscribe calls should include the "
		                   "'Mesos-Stream-Id' header");
		goto out;
	}
	if (strcmp(sid, fw->stream_id)) {
		http_respond_error(req, 400,
		                   "The stream ID '%.64s' included in this "
		                   "request didn't match the stream ID "
		                   "currently associated with framework ID %s",
		                   sid, fid);
		goto out;
	}

	switch ((enum sched_call)ct) {
	case CALL_SUBSCRIBE:
		break;
	case CALL_TEARDOWN:
		http_respond(req, 202, NULL, NULL, 0);
		log_info(SCHED, "framework=%s TEARDOWN", fw->id);
		master_framework_remove(fw, REASON_FRAMEWORK_REMOVED);
		break;
	case CALL_ACCEPT:
		if (!(payload = sched_payload(req, call, "accept")))
			break;
		http_respond(req, 202, NULL, NULL, 0);
		sched_accept(m, fw, payload);
		break;
	case CALL_DECLINE:
		if (!(payload = sched_payload(req, call, "decline")))
			break;
		http_respond(req, 202, NULL, NULL, 0);
		sched_decline(m, fw, payload);
		break;
	case CALL_REVIVE:
	case CALL_SUPPRESS: {
		const char *key = ct == CALL_REVIVE ? "revive" : "suppress";
		payload = json_object_get(call, key);
		if (sched_roles(req, fw, payload, key, &roles, &nroles))
			break;
		if (ct == CALL_REVIVE) {
			alloc_revive(m->alloc, fw->id, roles, nroles);
			master_schedule_allocation(m);
		} else {
			alloc_suppress(m->alloc, fw->id, roles, nroles);
		}
		free(roles);
		http_respond(req, 202, NULL, NULL, 0);
		break;
	}
	case CALL_KILL:
		if (!(payload = sched_payload(req, call, "kill")))
			break;
		sched_kill(m, req, fw, payload);
		break;
	case CALL_SHUTDOWN:
		if (!(payload = sched_payload(req, call, "shutdown")))
			break;
		sched_forward_to_agent(m, req, fw, payload, "shutdown");
		break;
	case CALL_ACKNOWLEDGE:
		if (!(payload = sched_payload(req, call, "acknowledge")))
			break;
		sched_acknowledge(m, req, fw, payload);
		break;
	case CALL_RECONCILE:
		sched_reconcile(m, req, fw, json_object_get(call, "reconcile"));
		break;
	case CALL_MESSAGE:
		if (!(payload = sched_payload(req, call, "message")))
			break;
		sched_forward_to_agent(m, req, fw, payload, "message");
		break;
	case CALL_REQUEST:
		/* Accepted and ignored, as Mesos's built-in allocator does. */
		http_respond(req, 202, NULL, NULL, 0);
		break;
	case CALL_ACCEPT_INVERSE_OFFERS:
	case CALL_DECLINE_INVERSE_OFFERS:
	case CALL_ACKNOWLEDGE_OPERATION_STATUS:
	case CALL_RECONCILE_OPERATIONS:
		/* No inverse offers or operation feedback exist yet, so there
		 * is nothing these could refer to. */
		http_respond(req, 202, NULL, NULL, 0);
		break;
	case CALL_UPDATE_FRAMEWORK:
		http_respond_error(req, 501,
		                   "UPDATE_FRAMEWORK is not implemented by "
		                   "Atoll yet");
		break;
	}
out:
	json_decref(call);
}
