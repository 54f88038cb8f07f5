/*
 * alloc.c: the hierarchical weighted DRF allocator (API in alloc.h).
 *
 * Model
 *   agent      total, available (= total minus everything held there; no
 *              allocation roles) and the holdings on it.
 *   holding    what one framework holds on one agent (offered or used),
 *              allocation roles set; found by (framework, agent). A holding
 *              of the agent's entire total for one role (the usual first
 *              offer of an agent) is kept as just that role ("whole") and
 *              spelled out only when something needs its parts: a full
 *              pass then copies no resources but the offer itself.
 *   role node  one per role path and per ancestor ("a" for "a/b"), under
 *              a root without a path. It sums the scalars allocated to the
 *              role itself (own) and to its whole subtree (subtree).
 *   fw_role    a framework's membership of one role and the scalars it
 *              holds in that role. One per subscribed role, plus one per
 *              other role it holds resources in (used_add of old tasks).
 *   filter     the refusals of one fw_role for one agent (see Filters).
 *
 * Order (the DRF part)
 *   node->children sorts the node's child roles by dominant share of their
 *   subtree / weight, together with a "self" entry (name ".") standing for
 *   the node's own frameworks, keyed by dominant share of own / weight
 *   (Mesos' virtual leaf for a role that is both a leaf and a parent).
 *   node->frameworks sorts its eligible fw_roles by dominant share in that
 *   role. Ties go by name. To allocate one agent, alloc_pick() walks the
 *   tree in this order, depth first, and takes the first framework that is
 *   not filtered for the agent in a role that can use enough of it; the
 *   agent's whole allocatable set for that role goes to it, the shares on
 *   the path change and the entries move in O(depth * log n).
 *
 * Invariants
 *   - fw_role in node->frameworks <=> its framework is active and not
 *     removed, it is subscribed and not suppressed          (in_sorter)
 *   - self entry in node->children <=> node->frameworks not empty
 *   - node in parent->children <=> node->children not empty   (in_parent)
 *     so the walk never enters a subtree without an eligible framework.
 *   - every sorter key equals the share computed from the quantities and
 *     the cluster total, except while totals_changed is set (an agent came
 *     or went): the next alloc_run re-keys and rebuilds everything first.
 *   - per agent: available + sum of its holdings (roles stripped) = total;
 *     so an agent without holdings has available = total, which is when
 *     alloc_give() records a whole holding.
 *   - agent->dirty != 0 <=> the agent is in dirtyv (at dirty - 1): its
 *     available grew, or it was added or activated, since the last pass.
 *
 * Filters (Mesos' RefusedOfferFilter)
 *   alloc_recover() with refuse_seconds > 0 records a refusal: the
 *   resources given back for the role (allocation roles stripped) and
 *   until_ms. While a refusal is live, the fw_role is not offered the
 *   agent if what it would get there (available, or the part of it the
 *   role may use on an agent with reservations) is contained in the
 *   refused resources; when the agent has more than was refused (a task
 *   ended and gave back its cpus), the offer goes out at once. A filter
 *   keeps up to ALLOC_FILTER_REFUSALS refusals, each checked on its own
 *   as Mesos keeps a set of filters: a new refusal is not stored when a
 *   live one covers it for at least as long, it drops the live ones it
 *   covers for at least as long, and when the slots are full the refusal
 *   expiring first gives way (so a filter never blocks more than one real
 *   refusal did). Only a candidate that has a filter for the agent costs
 *   more than one table lookup; expired refusals are dropped when met and
 *   on each full pass. Revive, deactivation, leaving a role and removal
 *   drop a framework's filters; removing an agent drops the agent's.
 *
 * Passes: a full pass visits every agent, starting one further along the
 * agent array each time (a deterministic rotation standing in for Mesos'
 * shuffle); an incremental one visits dirtyv in order. Each visit gives
 * the agent away, role by role, until nothing usable is left or nobody
 * wants it.
 *
 * Re-entry: a pass decides everything first (recording allocations in
 * pending) and calls the callbacks afterwards. A framework or agent removed
 * by a callback is unlinked at once but freed after the delivery (marked
 * removed, so its pending allocations are dropped); role nodes are freed
 * only at the start of a pass. Nothing here reads a clock or does I/O.
 */
#include "lib/compat.h"
#include "alloc/alloc.h"

#include <math.h>

#include "alloc/alloc_int.h"
#include "lib/hmap.h"
#include "lib/list.h"

#define ALLOC_MAX_REFUSE_S (365.0 * 24 * 3600)
/* Refusals kept per (framework, role, agent); see "Filters" above. */
#define ALLOC_FILTER_REFUSALS 4

/* Scalar quantities indexed by resource name (alloc->names). */
struct alloc_qty {
	int64_t *v;
	size_t n;
};

struct alloc_role {
	struct hmap_node node; /* in alloc->roles, key = path */
	char *path;            /* NULL for the root */
	struct alloc_role *parent;
	double weight;
	struct alloc_qty own, subtree;
	struct alloc_sorter_node snode; /* in parent->children */
	struct alloc_sorter_node self;  /* in children: own frameworks */
	struct alloc_sorter children;   /* child roles and self */
	struct alloc_sorter frameworks; /* eligible fw_roles */
	struct list members;            /* all fw_roles of the role */
	struct list kids;               /* all child roles */
	struct list kid_link;           /* in parent->kids */
	bool in_parent, self_in;
};

struct alloc_fw_role {
	struct alloc_framework *fw;
	struct alloc_role *role;
	struct alloc_qty held;
	struct alloc_sorter_node snode; /* in role->frameworks, name = id */
	struct list member_link;        /* in role->members */
	struct list filters;            /* alloc_filter.fr_link */
	bool subscribed, suppressed, in_sorter;
};

struct alloc_framework {
	struct hmap_node node;
	char *id;
	struct alloc_fw_role **roles;
	size_t nroles, roles_cap;
	struct alloc_role *first_role; /* for entries without a role */
	struct list holdings;          /* alloc_holding.fw_link */
	bool active, removed;
};

struct alloc_agent {
	struct hmap_node node;
	char *id;
	struct resources total, available;
	struct alloc_qty scalars; /* total's scalars by name */
	struct list holdings;     /* alloc_holding.agent_link */
	struct list filters;      /* alloc_filter.agent_link */
	size_t index;             /* in alloc->agentv */
	size_t dirty;             /* index in alloc->dirtyv + 1, or 0 */
	bool active, reserved, removed;
};

struct alloc_holding {
	struct alloc_framework *fw;
	struct alloc_agent *ag;
	struct resources res;     /* the contents, unless whole is set */
	struct alloc_role *whole; /* holds ag's total for this role */
	struct list fw_link, agent_link;
};

/* One refusal: refused (no allocation roles) until until_ms. */
struct alloc_refusal {
	uint64_t until_ms;
	struct resources refused;
};

/* The refusals of one (fw_role, agent), oldest first; n >= 1 while the
 * filter exists. What the expiry walk reads comes first (one cache line
 * for link, n and v[0].until_ms). */
struct alloc_filter {
	struct list link; /* in alloc->filter_list */
	size_t n;
	struct alloc_fw_role *fr;
	struct alloc_agent *ag;
	struct alloc_refusal v[ALLOC_FILTER_REFUSALS];
	struct list fr_link, agent_link;
};

/* An allocation decided by a pass, waiting for its callback. */
struct alloc_pending {
	struct alloc_framework *fw;
	struct alloc_agent *ag;
	struct alloc_role *role;
	struct resources res;
};

struct alloc {
	struct alloc_opts opts;
	struct hmap agents, frameworks, roles;
	struct alloc_role root;
	struct alloc_agent **agentv;
	size_t nagents, agents_cap;
	struct alloc_agent **dirtyv;
	size_t ndirty, dirty_cap;
	struct alloc_ptab holdings; /* (framework, agent) -> holding */
	struct alloc_ptab filters;  /* (fw_role, agent) -> filter */
	size_t nrefusals;           /* in all filters */
	struct list filter_list;
	char **names; /* scalar resource names seen, index = qty index */
	size_t nnames, names_cap;
	struct alloc_qty total; /* cluster total by name */
	struct alloc_pending *pending;
	size_t npending, pending_cap;
	struct alloc_framework **dead_fw; /* removed during delivery */
	size_t ndead_fw, dead_fw_cap;
	struct alloc_agent **dead_ag;
	size_t ndead_ag, dead_ag_cap;
	struct alloc_stats stats;
	uint64_t rotation;
	bool totals_changed, full_pending, gc_roles, running;
};

/* ---- quantities and shares -------------------------------------------- */

static int64_t alloc_sat_add(int64_t v, int64_t d)
{
	if (d > 0 && v > INT64_MAX - d)
		return INT64_MAX;
	if (d < 0 && v < INT64_MIN - d)
		return INT64_MIN;
	return v + d;
}

static void alloc_qty_add(struct alloc_qty *q, size_t i, int64_t d)
{
	if (i >= q->n) {
		q->v = xrealloc(q->v, (i + 1) * sizeof(*q->v));
		while (q->n <= i)
			q->v[q->n++] = 0;
	}
	q->v[i] = alloc_sat_add(q->v[i], d);
}

static void alloc_qty_release(struct alloc_qty *q)
{
	free(q->v);
	q->v = NULL;
	q->n = 0;
}

static size_t alloc_name_index(struct alloc *a, const char *name)
{
	for (size_t i = 0; i < a->nnames; i++)
		if (strcmp(a->names[i], name) == 0)
			return i;
	ALLOC_GROW(a->names, a->nnames + 1, a->names_cap);
	a->names[a->nnames] = xstrdup(name);
	return a->nnames++;
}

/* max over names of q / cluster total (names with no total are skipped) */
static double alloc_dominant(const struct alloc *a, const struct alloc_qty *q)
{
	size_t n = MIN(q->n, a->total.n);
	double best = 0;

	for (size_t i = 0; i < n; i++) {
		if (q->v[i] <= 0 || a->total.v[i] <= 0)
			continue;
		double s = (double)q->v[i] / (double)a->total.v[i];
		if (s > best)
			best = s;
	}
	return best;
}

static double alloc_subtree_key(const struct alloc *a,
                                const struct alloc_role *r)
{
	return alloc_dominant(a, &r->subtree) / r->weight;
}

static double alloc_self_key(const struct alloc *a, const struct alloc_role *r)
{
	return alloc_dominant(a, &r->own) / r->weight;
}

/* Sets n's key, moving it when it is in s. */
static void alloc_key_set(struct alloc_sorter *s, struct alloc_sorter_node *n,
                          bool in_sorter, double key)
{
	if (in_sorter)
		alloc_sorter_update(s, n, key);
	else
		n->key = key;
}

/* ---- resources helpers ------------------------------------------------- */

static bool alloc_resource_is_empty(const struct resource *x)
{
	switch (x->type) {
	case RESOURCE_SCALAR:
		return x->scalar <= 0;
	case RESOURCE_RANGES:
		return x->nranges == 0;
	case RESOURCE_SET:
		return x->nitems == 0;
	}
	return true;
}

static bool alloc_is_reserved(const struct resource *x)
{
	return x->role && strcmp(x->role, "*") != 0;
}

/* True when anc is role or one of its ancestors ("a" for "a/b"). */
static bool alloc_role_covers(const char *anc, const char *role)
{
	size_t n = strlen(anc);

	return strncmp(anc, role, n) == 0 &&
	       (role[n] == '\0' || role[n] == '/');
}

/* Whether role may be offered x: unreserved, or reserved to role or an
 * ancestor. */
static bool alloc_usable_by(const struct resource *x, const char *role)
{
	return !alloc_is_reserved(x) || alloc_role_covers(x->role, role);
}

/*
 * Copies res into out with every entry's allocation role set (fw's first
 * role, or "*", when missing). Returns -EINVAL (out left empty) when one is
 * not a valid role name.
 */
static int alloc_normalize(const struct alloc_framework *fw,
                           const struct resources *res, struct resources *out)
{
	const char *def = fw->first_role ? fw->first_role->path : "*";

	resources_copy(out, res);
	for (size_t i = 0; i < out->n; i++) {
		struct resource *x = &out->v[i];
		if (!x->alloc_role) {
			x->alloc_role = xstrdup(def);
		} else if (role_validate(x->alloc_role, true, NULL)) {
			resources_release(out);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- role tree ---------------------------------------------------------- */

static struct alloc_role *alloc_role_find(const struct alloc *a,
                                          const char *path)
{
	return hmap_entry(hmap_find(&a->roles, path), struct alloc_role, node);
}

static void alloc_role_init(struct alloc_role *r, struct alloc_role *parent)
{
	r->parent = parent;
	r->weight = 1.0;
	alloc_sorter_node_init(&r->self, ".");
	alloc_sorter_init(&r->children);
	alloc_sorter_init(&r->frameworks);
	list_init(&r->members);
	list_init(&r->kids);
	list_init(&r->kid_link);
}

/* Finds or creates the node of path (a valid role name) and its
 * ancestors. */
static struct alloc_role *alloc_role_get(struct alloc *a, const char *path)
{
	struct alloc_role *r = alloc_role_find(a, path), *parent = &a->root;
	const char *slash;

	if (r)
		return r;
	slash = strrchr(path, '/');
	if (slash) {
		char *pp = xstrndup(path, (size_t)(slash - path));
		parent = alloc_role_get(a, pp);
		free(pp);
	}
	r = xcalloc(1, sizeof(*r));
	alloc_role_init(r, parent);
	r->path = xstrdup(path);
	r->node.key = r->path;
	alloc_sorter_node_init(&r->snode,
	                       slash ? r->path + (slash - path) + 1 : r->path);
	r->snode.key = alloc_subtree_key(a, r);
	r->self.key = alloc_self_key(a, r);
	list_add_tail(&parent->kids, &r->kid_link);
	hmap_insert(&a->roles, &r->node);
	return r;
}

static void alloc_role_free(struct alloc_role *r)
{
	alloc_qty_release(&r->own);
	alloc_qty_release(&r->subtree);
	free(r->path);
	free(r);
}

static bool alloc_role_is_unused(const struct alloc_role *r)
{
	return list_empty(&r->members) && list_empty(&r->kids) &&
	       r->weight == 1.0;
}

/* Frees role nodes without members, children or a weight. */
static void alloc_roles_gc(struct alloc *a)
{
	struct alloc_role **v = NULL;
	struct hmap_node *n, *tmp;
	size_t i, nv = 0, cap = 0;

	HMAP_FOR_EACH_SAFE(&a->roles, i, n, tmp)
	{
		struct alloc_role *r = container_of(n, struct alloc_role, node);
		if (alloc_role_is_unused(r)) {
			ALLOC_GROW(v, nv + 1, cap);
			v[nv++] = r;
		}
	}
	/* A parent freed on the way up had a child when v was built, so it
	 * is not in v. */
	for (i = 0; i < nv; i++) {
		struct alloc_role *r = v[i];
		while (r != &a->root && alloc_role_is_unused(r)) {
			struct alloc_role *parent = r->parent;
			BUG_ON(r->in_parent || r->self_in);
			list_del(&r->kid_link);
			hmap_remove(&a->roles, &r->node);
			alloc_role_free(r);
			r = parent;
		}
	}
	free(v);
}

/* Keeps "node in parent->children <=> node->children not empty" from node
 * up to the root after node->children changed. */
static void alloc_role_propagate(struct alloc *a, struct alloc_role *r)
{
	while (r != &a->root) {
		bool want = r->children.count > 0;
		if (want == r->in_parent)
			return;
		r->in_parent = want;
		if (want)
			alloc_sorter_insert(&r->parent->children, &r->snode);
		else
			alloc_sorter_remove(&r->parent->children, &r->snode);
		r = r->parent;
	}
}

/* Recomputes every key under r and rebuilds its sorters (the cluster total
 * changed, so every share did). */
static void alloc_rekey(struct alloc *a, struct alloc_role *r)
{
	struct list *pos, *tmp;

	alloc_sorter_init(&r->frameworks);
	LIST_FOR_EACH_SAFE(pos, tmp, &r->members)
	{
		struct alloc_fw_role *fr =
		    list_entry(pos, struct alloc_fw_role, member_link);
		fr->snode.key = alloc_dominant(a, &fr->held);
		if (fr->in_sorter)
			alloc_sorter_insert(&r->frameworks, &fr->snode);
	}
	alloc_sorter_init(&r->children);
	r->self.key = alloc_self_key(a, r);
	if (r->self_in)
		alloc_sorter_insert(&r->children, &r->self);
	LIST_FOR_EACH_SAFE(pos, tmp, &r->kids)
	{
		struct alloc_role *kid =
		    list_entry(pos, struct alloc_role, kid_link);
		alloc_rekey(a, kid);
		kid->snode.key = alloc_subtree_key(a, kid);
		if (kid->in_parent)
			alloc_sorter_insert(&r->children, &kid->snode);
	}
}

/* ---- framework memberships --------------------------------------------- */

static struct alloc_fw_role *alloc_fr_find(const struct alloc_framework *fw,
                                           const struct alloc_role *r)
{
	for (size_t i = 0; i < fw->nroles; i++)
		if (fw->roles[i]->role == r)
			return fw->roles[i];
	return NULL;
}

/* Finds or creates fw's membership of path (a valid role name). */
static struct alloc_fw_role *
alloc_fr_get(struct alloc *a, struct alloc_framework *fw, const char *path)
{
	struct alloc_role *r = alloc_role_get(a, path);
	struct alloc_fw_role *fr = alloc_fr_find(fw, r);

	if (fr)
		return fr;
	fr = xcalloc(1, sizeof(*fr));
	fr->fw = fw;
	fr->role = r;
	alloc_sorter_node_init(&fr->snode, fw->id);
	list_init(&fr->filters);
	list_add_tail(&r->members, &fr->member_link);
	ALLOC_GROW(fw->roles, fw->nroles + 1, fw->roles_cap);
	fw->roles[fw->nroles++] = fr;
	return fr;
}

/* Puts fr into or takes it out of the sorters after its eligibility may
 * have changed. */
static void alloc_fr_refresh(struct alloc *a, struct alloc_fw_role *fr)
{
	struct alloc_role *r = fr->role;
	bool want = fr->fw->active && !fr->fw->removed && fr->subscribed &&
	            !fr->suppressed;

	if (want == fr->in_sorter)
		return;
	fr->in_sorter = want;
	if (want)
		alloc_sorter_insert(&r->frameworks, &fr->snode);
	else
		alloc_sorter_remove(&r->frameworks, &fr->snode);
	want = r->frameworks.count > 0;
	if (want == r->self_in)
		return;
	r->self_in = want;
	if (want)
		alloc_sorter_insert(&r->children, &r->self);
	else
		alloc_sorter_remove(&r->children, &r->self);
	alloc_role_propagate(a, r);
}

/*
 * Adds sign times the scalars of res to fr, its role and the role's
 * ancestors, and moves them in the sorters. Only entries allocated to fr's
 * role count, unless any_role (res has no allocation roles).
 */
static void alloc_charge(struct alloc *a, struct alloc_fw_role *fr,
                         const struct resources *res, int64_t sign,
                         bool any_role)
{
	struct alloc_role *r = fr->role, *n;
	bool changed = false;

	for (size_t i = 0; i < res->n; i++) {
		const struct resource *x = &res->v[i];
		size_t k;
		int64_t d;

		if (x->type != RESOURCE_SCALAR || x->scalar <= 0 ||
		    (!any_role && !streq(x->alloc_role, r->path)))
			continue;
		k = alloc_name_index(a, x->name);
		d = sign * x->scalar;
		alloc_qty_add(&fr->held, k, d);
		alloc_qty_add(&r->own, k, d);
		for (n = r; n != &a->root; n = n->parent)
			alloc_qty_add(&n->subtree, k, d);
		changed = true;
	}
	if (!changed)
		return;
	alloc_key_set(&r->frameworks, &fr->snode, fr->in_sorter,
	              alloc_dominant(a, &fr->held));
	alloc_key_set(&r->children, &r->self, r->self_in, alloc_self_key(a, r));
	for (n = r; n != &a->root; n = n->parent)
		alloc_key_set(&n->parent->children, &n->snode, n->in_parent,
		              alloc_subtree_key(a, n));
}

/* alloc_charge for every allocation role in res (normalized). */
static void alloc_charge_all(struct alloc *a, struct alloc_framework *fw,
                             const struct resources *res, int64_t sign)
{
	for (size_t i = 0; i < res->n; i++) {
		const char *role = res->v[i].alloc_role;
		bool seen = false;

		if (!role)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = streq(res->v[j].alloc_role, role);
		if (!seen)
			alloc_charge(a, alloc_fr_get(a, fw, role), res, sign,
			             false);
	}
}

/* ---- filters and holdings ---------------------------------------------- */

static void alloc_filter_free(struct alloc *a, struct alloc_filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		resources_release(&f->v[i].refused);
	a->nrefusals -= f->n;
	alloc_ptab_del(&a->filters, f->fr, f->ag);
	list_del(&f->fr_link);
	list_del(&f->agent_link);
	list_del(&f->link);
	free(f);
}

/* Drops refusal i of f, keeping the others in order. */
static void alloc_filter_drop(struct alloc *a, struct alloc_filter *f, size_t i)
{
	resources_release(&f->v[i].refused);
	memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof(f->v[0]));
	f->n--;
	a->nrefusals--;
}

/* Drops the refusals of f that have expired at now_ms, and f itself when
 * none is left. Returns false when f was freed. */
static bool alloc_filter_expire(struct alloc *a, struct alloc_filter *f,
                                uint64_t now_ms)
{
	size_t i = 0;

	while (i < f->n) {
		if (now_ms >= f->v[i].until_ms)
			alloc_filter_drop(a, f, i);
		else
			i++;
	}
	if (f->n)
		return true;
	alloc_filter_free(a, f);
	return false;
}

/*
 * Adds a refusal of refused (no allocation roles; its contents are taken,
 * refused is left empty) until until_ms to fr's filter for ag. A refusal
 * that a live one already covers for as long adds nothing; live ones that
 * the new one covers for as long are dropped; when all the slots are
 * taken, the refusal that expires first makes room (erring towards
 * offering, never towards filtering more than was refused).
 */
static void alloc_filter_add(struct alloc *a, struct alloc_fw_role *fr,
                             struct alloc_agent *ag, struct resources *refused,
                             uint64_t until_ms, uint64_t now_ms)
{
	struct alloc_filter *f = alloc_ptab_get(&a->filters, fr, ag);
	size_t i, soonest;

	if (f && !alloc_filter_expire(a, f, now_ms))
		f = NULL;
	if (!f) {
		f = xcalloc(1, sizeof(*f));
		f->fr = fr;
		f->ag = ag;
		alloc_ptab_put(&a->filters, fr, ag, f);
		list_add_tail(&fr->filters, &f->fr_link);
		list_add_tail(&ag->filters, &f->agent_link);
		list_add_tail(&a->filter_list, &f->link);
	}
	for (i = 0; i < f->n; i++) {
		if (f->v[i].until_ms >= until_ms &&
		    resources_contains(&f->v[i].refused, refused)) {
			resources_release(refused);
			return;
		}
	}
	i = 0;
	while (i < f->n) {
		if (until_ms >= f->v[i].until_ms &&
		    resources_contains(refused, &f->v[i].refused))
			alloc_filter_drop(a, f, i);
		else
			i++;
	}
	if (f->n == ALLOC_FILTER_REFUSALS) {
		soonest = 0;
		for (i = 1; i < f->n; i++)
			if (f->v[i].until_ms < f->v[soonest].until_ms)
				soonest = i;
		alloc_filter_drop(a, f, soonest);
	}
	f->v[f->n].until_ms = until_ms;
	f->v[f->n].refused = *refused; /* take */
	f->n++;
	a->nrefusals++;
	resources_init(refused);
}

static void alloc_fr_clear_filters(struct alloc *a, struct alloc_fw_role *fr)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &fr->filters)
	{
		alloc_filter_free(
		    a, list_entry(pos, struct alloc_filter, fr_link));
	}
}

/*
 * Whether filter f keeps its framework role from being offered offer (what
 * f's agent would give that role, no allocation roles) at now_ms: some live
 * refusal contains all of it. Drops expired refusals, and f when none is
 * left.
 */
static bool alloc_is_filtered(struct alloc *a, struct alloc_filter *f,
                              const struct resources *offer, uint64_t now_ms)
{
	if (!alloc_filter_expire(a, f, now_ms))
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (resources_contains(&f->v[i].refused, offer))
			return true;
	return false;
}

static void alloc_filters_expire(struct alloc *a, uint64_t now_ms)
{
	struct list *pos, *tmp;

	LIST_FOR_EACH_SAFE(pos, tmp, &a->filter_list)
	{
		alloc_filter_expire(
		    a, list_entry(pos, struct alloc_filter, link), now_ms);
	}
}

static struct alloc_holding *alloc_holding_get(struct alloc *a,
                                               struct alloc_framework *fw,
                                               struct alloc_agent *ag,
                                               bool create)
{
	struct alloc_holding *h = alloc_ptab_get(&a->holdings, fw, ag);

	if (h || !create)
		return h;
	h = xcalloc(1, sizeof(*h));
	h->fw = fw;
	h->ag = ag;
	resources_init(&h->res);
	alloc_ptab_put(&a->holdings, fw, ag, h);
	list_add_tail(&fw->holdings, &h->fw_link);
	list_add_tail(&ag->holdings, &h->agent_link);
	return h;
}

/* Spells out a whole holding as resources. */
static void alloc_holding_expand(struct alloc_holding *h)
{
	if (!h->whole)
		return;
	resources_release(&h->res);
	resources_copy(&h->res, &h->ag->total);
	resources_set_alloc_role(&h->res, h->whole->path);
	h->whole = NULL;
}

static bool alloc_holding_is_empty(const struct alloc_holding *h)
{
	return !h->whole && resources_is_empty(&h->res);
}

static void alloc_holding_free(struct alloc *a, struct alloc_holding *h)
{
	alloc_ptab_del(&a->holdings, h->fw, h->ag);
	list_del(&h->fw_link);
	list_del(&h->agent_link);
	resources_release(&h->res);
	free(h);
}

/* Adds res (no allocation roles) to ag's available, taking its contents
 * (res is left empty). */
static void alloc_available_add_take(struct alloc_agent *ag,
                                     struct resources *res)
{
	if (resources_is_empty(&ag->available)) {
		resources_release(&ag->available);
		ag->available = *res;
		resources_init(res);
	} else {
		resources_add(&ag->available, res);
		resources_release(res);
	}
}

/* ---- agents ------------------------------------------------------------- */

static struct alloc_agent *alloc_agent_find(const struct alloc *a,
                                            const char *id)
{
	return hmap_entry(hmap_find(&a->agents, id), struct alloc_agent, node);
}

static void alloc_mark_dirty(struct alloc *a, struct alloc_agent *ag)
{
	if (ag->dirty)
		return;
	ALLOC_GROW(a->dirtyv, a->ndirty + 1, a->dirty_cap);
	a->dirtyv[a->ndirty++] = ag;
	ag->dirty = a->ndirty;
}

static void alloc_unmark_dirty(struct alloc *a, struct alloc_agent *ag)
{
	struct alloc_agent *last;
	size_t i = ag->dirty;

	if (!i)
		return;
	last = a->dirtyv[--a->ndirty];
	a->dirtyv[i - 1] = last;
	last->dirty = i;
	ag->dirty = 0;
}

static void alloc_agent_free(struct alloc_agent *ag)
{
	resources_release(&ag->total);
	resources_release(&ag->available);
	alloc_qty_release(&ag->scalars);
	free(ag->id);
	free(ag);
}

void alloc_agent_add(struct alloc *a, const char *agent_id,
                     const struct resources *total)
{
	struct alloc_agent *ag;

	if (!agent_id || !total || alloc_agent_find(a, agent_id))
		return;
	ag = xcalloc(1, sizeof(*ag));
	ag->id = xstrdup(agent_id);
	ag->node.key = ag->id;
	resources_copy(&ag->total, total);
	resources_set_alloc_role(&ag->total, NULL);
	resources_copy(&ag->available, &ag->total);
	for (size_t i = 0; i < ag->total.n; i++) {
		const struct resource *x = &ag->total.v[i];
		if (alloc_is_reserved(x))
			ag->reserved = true;
		if (x->type == RESOURCE_SCALAR && x->scalar > 0) {
			size_t k = alloc_name_index(a, x->name);
			alloc_qty_add(&ag->scalars, k, x->scalar);
			alloc_qty_add(&a->total, k, x->scalar);
		}
	}
	list_init(&ag->holdings);
	list_init(&ag->filters);
	ag->active = true;
	ALLOC_GROW(a->agentv, a->nagents + 1, a->agents_cap);
	ag->index = a->nagents;
	a->agentv[a->nagents++] = ag;
	hmap_insert(&a->agents, &ag->node);
	alloc_mark_dirty(a, ag);
	a->totals_changed = true;
}

void alloc_agent_remove(struct alloc *a, const char *agent_id)
{
	struct alloc_agent *ag = alloc_agent_find(a, agent_id), *last;
	struct list *pos, *tmp;

	if (!ag)
		return;
	LIST_FOR_EACH_SAFE(pos, tmp, &ag->holdings)
	{
		struct alloc_holding *h =
		    list_entry(pos, struct alloc_holding, agent_link);
		alloc_holding_expand(h);
		alloc_charge_all(a, h->fw, &h->res, -1);
		alloc_holding_free(a, h);
	}
	LIST_FOR_EACH_SAFE(pos, tmp, &ag->filters)
	{
		alloc_filter_free(
		    a, list_entry(pos, struct alloc_filter, agent_link));
	}
	alloc_unmark_dirty(a, ag);
	last = a->agentv[--a->nagents];
	a->agentv[ag->index] = last;
	last->index = ag->index;
	hmap_remove(&a->agents, &ag->node);
	for (size_t k = 0; k < ag->scalars.n; k++)
		alloc_qty_add(&a->total, k, -ag->scalars.v[k]);
	a->totals_changed = true;
	ag->removed = true;
	if (a->running) {
		ALLOC_GROW(a->dead_ag, a->ndead_ag + 1, a->dead_ag_cap);
		a->dead_ag[a->ndead_ag++] = ag;
	} else {
		alloc_agent_free(ag);
	}
}

void alloc_agent_set_active(struct alloc *a, const char *agent_id, bool active)
{
	struct alloc_agent *ag = alloc_agent_find(a, agent_id);

	if (!ag)
		return;
	ag->active = active;
	if (active)
		alloc_mark_dirty(a, ag);
}

size_t alloc_agent_count(const struct alloc *a)
{
	return a->nagents;
}

/* ---- frameworks --------------------------------------------------------- */

static struct alloc_framework *alloc_framework_find(const struct alloc *a,
                                                    const char *id)
{
	return hmap_entry(hmap_find(&a->frameworks, id), struct alloc_framework,
	                  node);
}

static void alloc_framework_free(struct alloc_framework *fw)
{
	free(fw->roles);
	free(fw->id);
	free(fw);
}

void alloc_framework_add(struct alloc *a, const char *framework_id,
                         const char *const *roles, size_t nroles, bool active)
{
	struct alloc_framework *fw;
	size_t i;

	if (!framework_id)
		return;
	fw = alloc_framework_find(a, framework_id);
	if (!fw) {
		fw = xcalloc(1, sizeof(*fw));
		fw->id = xstrdup(framework_id);
		fw->node.key = fw->id;
		list_init(&fw->holdings);
		hmap_insert(&a->frameworks, &fw->node);
	}
	for (i = 0; i < fw->nroles; i++)
		fw->roles[i]->subscribed = false;
	fw->first_role = NULL;
	for (i = 0; roles && i < nroles; i++) {
		struct alloc_fw_role *fr;
		if (role_validate(roles[i], true, NULL))
			continue;
		fr = alloc_fr_get(a, fw, roles[i]);
		fr->subscribed = true;
		if (!fw->first_role)
			fw->first_role = fr->role;
	}
	fw->active = active;
	for (i = 0; i < fw->nroles; i++) {
		struct alloc_fw_role *fr = fw->roles[i];
		if (!fr->subscribed || !active)
			alloc_fr_clear_filters(a, fr);
		alloc_fr_refresh(a, fr);
	}
	a->full_pending = true;
}

void alloc_framework_remove(struct alloc *a, const char *framework_id)
{
	struct alloc_framework *fw = alloc_framework_find(a, framework_id);
	struct list *pos, *tmp;

	if (!fw)
		return;
	LIST_FOR_EACH_SAFE(pos, tmp, &fw->holdings)
	{
		struct alloc_holding *h =
		    list_entry(pos, struct alloc_holding, fw_link);
		struct alloc_agent *ag = h->ag;
		alloc_holding_expand(h);
		alloc_charge_all(a, fw, &h->res, -1);
		resources_set_alloc_role(&h->res, NULL);
		alloc_available_add_take(ag, &h->res);
		alloc_mark_dirty(a, ag);
		alloc_holding_free(a, h);
	}
	fw->removed = true;
	for (size_t i = 0; i < fw->nroles; i++) {
		struct alloc_fw_role *fr = fw->roles[i];
		alloc_fr_clear_filters(a, fr);
		alloc_fr_refresh(a, fr);
		list_del(&fr->member_link);
		alloc_qty_release(&fr->held);
		free(fr);
	}
	fw->nroles = 0;
	hmap_remove(&a->frameworks, &fw->node);
	a->gc_roles = true;
	if (a->running) {
		ALLOC_GROW(a->dead_fw, a->ndead_fw + 1, a->dead_fw_cap);
		a->dead_fw[a->ndead_fw++] = fw;
	} else {
		alloc_framework_free(fw);
	}
}

void alloc_framework_set_active(struct alloc *a, const char *framework_id,
                                bool active)
{
	struct alloc_framework *fw = alloc_framework_find(a, framework_id);

	if (!fw)
		return;
	fw->active = active;
	for (size_t i = 0; i < fw->nroles; i++) {
		if (!active)
			alloc_fr_clear_filters(a, fw->roles[i]);
		alloc_fr_refresh(a, fw->roles[i]);
	}
	if (active)
		a->full_pending = true;
}

static bool alloc_names_have(const char *const *names, size_t n,
                             const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], name))
			return true;
	return false;
}

static void alloc_set_suppressed(struct alloc *a, const char *framework_id,
                                 const char *const *roles, size_t nroles,
                                 bool suppressed)
{
	struct alloc_framework *fw = alloc_framework_find(a, framework_id);

	if (!fw)
		return;
	for (size_t i = 0; i < fw->nroles; i++) {
		struct alloc_fw_role *fr = fw->roles[i];
		if (!fr->subscribed ||
		    (nroles && roles &&
		     !alloc_names_have(roles, nroles, fr->role->path)))
			continue;
		fr->suppressed = suppressed;
		if (!suppressed)
			alloc_fr_clear_filters(a, fr);
		alloc_fr_refresh(a, fr);
	}
	if (!suppressed)
		a->full_pending = true;
}

void alloc_suppress(struct alloc *a, const char *framework_id,
                    const char *const *roles, size_t nroles)
{
	alloc_set_suppressed(a, framework_id, roles, nroles, true);
}

void alloc_revive(struct alloc *a, const char *framework_id,
                  const char *const *roles, size_t nroles)
{
	alloc_set_suppressed(a, framework_id, roles, nroles, false);
}

/* ---- allocations held --------------------------------------------------- */

int alloc_used_add(struct alloc *a, const char *agent_id,
                   const char *framework_id, const struct resources *res)
{
	struct alloc_agent *ag = alloc_agent_find(a, agent_id);
	struct alloc_framework *fw = alloc_framework_find(a, framework_id);
	struct alloc_holding *h;
	struct resources norm, bare;
	int rc;

	if (!ag || !fw || !res)
		return -EINVAL;
	if (resources_is_empty(res))
		return 0;
	if ((rc = alloc_normalize(fw, res, &norm)))
		return rc;
	resources_copy(&bare, &norm);
	resources_set_alloc_role(&bare, NULL);
	if ((rc = resources_subtract(&ag->available, &bare)))
		goto out_release;
	h = alloc_holding_get(a, fw, ag, true);
	alloc_holding_expand(h);
	resources_add(&h->res, &norm);
	alloc_charge_all(a, fw, &norm, 1);
out_release:
	resources_release(&bare);
	resources_release(&norm);
	return rc;
}

/* The scalars of x and y are equal, name by name. */
static bool alloc_same_quantities(const struct resources *x,
                                  const struct resources *y)
{
	struct resources qx, qy;
	bool same;

	resources_init(&qx);
	resources_init(&qy);
	resources_scalars_by_name(&qx, x);
	resources_scalars_by_name(&qy, y);
	same = resources_equal(&qx, &qy);
	resources_release(&qx);
	resources_release(&qy);
	return same;
}

int alloc_agent_convert(struct alloc *a, const char *agent_id,
                        const char *framework_id, const struct resources *from,
                        const struct resources *to)
{
	struct alloc_agent *ag = alloc_agent_find(a, agent_id);
	struct alloc_framework *fw = NULL;
	struct alloc_holding *h = NULL;
	struct resources bfrom, bto, nfrom, nto;
	struct list *pos, *tmp;
	int rc = -EINVAL;

	if (!ag || !from || !to || !alloc_same_quantities(from, to))
		return -EINVAL;
	if (framework_id && !(fw = alloc_framework_find(a, framework_id)))
		return -EINVAL;
	resources_init(&nfrom);
	resources_init(&nto);
	resources_copy(&bfrom, from);
	resources_set_alloc_role(&bfrom, NULL);
	resources_copy(&bto, to);
	resources_set_alloc_role(&bto, NULL);
	if (!resources_contains(&ag->total, &bfrom))
		goto out_release;
	/* The total changes: whole holdings must be spelled out first. */
	LIST_FOR_EACH_SAFE(pos, tmp, &ag->holdings)
	{
		alloc_holding_expand(
		    list_entry(pos, struct alloc_holding, agent_link));
	}
	if (fw) {
		resources_release(&nfrom);
		resources_release(&nto);
		if (alloc_normalize(fw, from, &nfrom) ||
		    alloc_normalize(fw, to, &nto))
			goto out_release;
		h = alloc_holding_get(a, fw, ag, false);
		if (!h || resources_subtract(&h->res, &nfrom))
			goto out_release;
		resources_add(&h->res, &nto);
		alloc_charge_all(a, fw, &nfrom, -1);
		alloc_charge_all(a, fw, &nto, 1);
	} else {
		if (resources_subtract(&ag->available, &bfrom))
			goto out_release;
		resources_add(&ag->available, &bto);
		alloc_mark_dirty(a, ag);
	}
	BUG_ON(resources_subtract(&ag->total, &bfrom));
	resources_add(&ag->total, &bto);
	ag->reserved = false;
	for (size_t i = 0; i < ag->total.n; i++)
		if (alloc_is_reserved(&ag->total.v[i]))
			ag->reserved = true;
	rc = 0;
out_release:
	resources_release(&bfrom);
	resources_release(&bto);
	resources_release(&nfrom);
	resources_release(&nto);
	return rc;
}

/*
 * Installs fr's refusal of ag for refuse_seconds (see alloc_recover): of
 * res, the entries allocated to fr's role, or all of it when res has no
 * allocation roles, are refused (roles stripped).
 */
static void alloc_refuse(struct alloc *a, struct alloc_fw_role *fr,
                         struct alloc_agent *ag, const struct resources *res,
                         double refuse_seconds, uint64_t now_ms)
{
	struct resources refused;
	double s;
	uint64_t ms;

	if (!(refuse_seconds > 0)) /* also NaN */
		return;
	resources_init(&refused);
	for (size_t i = 0; i < res->n; i++) {
		struct resources one = {&res->v[i], 1, 1};
		const char *role = res->v[i].alloc_role;
		if (!role || streq(role, fr->role->path))
			resources_add(&refused, &one);
	}
	resources_set_alloc_role(&refused, NULL);
	if (resources_is_empty(&refused)) { /* would block nothing */
		resources_release(&refused);
		return;
	}
	s = MIN(refuse_seconds, ALLOC_MAX_REFUSE_S);
	ms = (uint64_t)(s * 1000.0);
	alloc_filter_add(a, fr, ag, &refused,
	                 now_ms > UINT64_MAX - ms ? UINT64_MAX : now_ms + ms,
	                 now_ms);
}

static bool alloc_all_in_role(const struct resources *r, const char *role)
{
	for (size_t i = 0; i < r->n; i++)
		if (!streq(r->v[i].alloc_role, role))
			return false;
	return true;
}

void alloc_recover(struct alloc *a, const char *agent_id,
                   const char *framework_id, const struct resources *res,
                   double refuse_seconds, uint64_t now_ms)
{
	struct alloc_agent *ag = alloc_agent_find(a, agent_id);
	struct alloc_framework *fw = alloc_framework_find(a, framework_id);
	struct alloc_holding *h;
	struct resources norm;

	if (!ag || !fw || !res || resources_is_empty(res))
		return;
	if (alloc_normalize(fw, res, &norm))
		return;
	h = alloc_holding_get(a, fw, ag, false);
	if (!h)
		goto out_release;
	if (h->whole && alloc_all_in_role(&norm, h->whole->path)) {
		/* The common decline: all of a whole holding comes back. */
		struct alloc_fw_role *fr = alloc_fr_get(a, fw, h->whole->path);
		resources_set_alloc_role(&norm, NULL);
		if (resources_contains(&norm, &ag->total) &&
		    resources_contains(&ag->total, &norm)) {
			alloc_holding_free(a, h);
			alloc_charge(a, fr, &norm, -1, true);
			alloc_refuse(a, fr, ag, &norm, refuse_seconds, now_ms);
			goto out_give_back;
		}
		resources_set_alloc_role(&norm, fr->role->path);
	}
	alloc_holding_expand(h);
	if (resources_subtract(&h->res, &norm))
		goto out_release;
	alloc_charge_all(a, fw, &norm, -1);
	if (alloc_holding_is_empty(h))
		alloc_holding_free(a, h);
	for (size_t i = 0; i < norm.n; i++) {
		const char *role = norm.v[i].alloc_role;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = streq(norm.v[j].alloc_role, role);
		if (!seen)
			alloc_refuse(a, alloc_fr_get(a, fw, role), ag, &norm,
			             refuse_seconds, now_ms);
	}
	resources_set_alloc_role(&norm, NULL);
out_give_back:
	alloc_available_add_take(ag, &norm);
	alloc_mark_dirty(a, ag);
out_release:
	resources_release(&norm);
}

/* ---- weights ------------------------------------------------------------ */

void alloc_set_weight(struct alloc *a, const char *role, double weight)
{
	struct alloc_role *r;

	if (!(weight > 0) || !isfinite(weight) ||
	    role_validate(role, true, NULL))
		return;
	r = alloc_role_get(a, role);
	r->weight = weight;
	alloc_key_set(&r->children, &r->self, r->self_in, alloc_self_key(a, r));
	alloc_key_set(&r->parent->children, &r->snode, r->in_parent,
	              alloc_subtree_key(a, r));
	a->gc_roles = true;
}

double alloc_weight(const struct alloc *a, const char *role)
{
	const struct alloc_role *r = role ? alloc_role_find(a, role) : NULL;

	return r ? r->weight : 1.0;
}

/* ---- the pass ------------------------------------------------------------ */

/* Whether role r may be offered ag now: something usable by r left, and
 * enough cpus or mem of it (opts.min_cpus, opts.min_mem). r is not looked
 * at when ag has no reservations. */
static bool alloc_agent_fits(const struct alloc *a,
                             const struct alloc_agent *ag,
                             const struct alloc_role *r)
{
	int64_t cpus = 0, mem = 0;
	bool any = false;

	for (size_t i = 0; i < ag->available.n; i++) {
		const struct resource *x = &ag->available.v[i];
		if (alloc_resource_is_empty(x) ||
		    (ag->reserved && !alloc_usable_by(x, r->path)))
			continue;
		any = true;
		if (x->type != RESOURCE_SCALAR)
			continue;
		if (strcmp(x->name, "cpus") == 0)
			cpus = alloc_sat_add(cpus, x->scalar);
		else if (strcmp(x->name, "mem") == 0)
			mem = alloc_sat_add(mem, x->scalar);
	}
	return any && (cpus >= a->opts.min_cpus || mem >= a->opts.min_mem);
}

/* Whether some role in r's subtree could use part of ag's available (used
 * to prune the walk on agents with reservations). */
static bool alloc_agent_serves(const struct alloc_agent *ag,
                               const struct alloc_role *r)
{
	for (size_t i = 0; i < ag->available.n; i++) {
		const struct resource *x = &ag->available.v[i];
		if (alloc_resource_is_empty(x))
			continue;
		if (!alloc_is_reserved(x) ||
		    alloc_role_covers(x->role, r->path) ||
		    alloc_role_covers(r->path, x->role))
			return true;
	}
	return false;
}

/* What ag would give role r now (no allocation roles): all of available
 * without reservations, else its part usable by r, built in part. */
static const struct resources *alloc_offer_view(const struct alloc_agent *ag,
                                                const struct alloc_role *r,
                                                struct resources *part)
{
	if (!ag->reserved)
		return &ag->available;
	resources_allocatable_to(part, &ag->available, r->path);
	return part;
}

/* The first framework of role r in DRF order that ag can go to. Only a
 * candidate with a filter for ag costs more than a table lookup. */
static struct alloc_fw_role *alloc_pick_framework(struct alloc *a,
                                                  const struct alloc_role *r,
                                                  struct alloc_agent *ag,
                                                  uint64_t now_ms)
{
	struct alloc_sorter_node *sn;
	struct alloc_fw_role *picked = NULL;
	const struct resources *offer = NULL;
	struct resources part;

	if (!alloc_agent_fits(a, ag, r))
		return NULL;
	resources_init(&part);
	for (sn = alloc_sorter_first(&r->frameworks); sn;
	     sn = alloc_sorter_next(sn)) {
		struct alloc_fw_role *fr =
		    container_of(sn, struct alloc_fw_role, snode);
		struct alloc_filter *f;

		a->stats.candidates++;
		f = a->filters.count ? alloc_ptab_get(&a->filters, fr, ag)
		                     : NULL;
		if (f) {
			if (!offer)
				offer = alloc_offer_view(ag, r, &part);
			if (alloc_is_filtered(a, f, offer, now_ms))
				continue;
		}
		picked = fr;
		break;
	}
	resources_release(&part);
	return picked;
}

/* The first (role, framework) in DRF order under r that ag can go to. */
static struct alloc_fw_role *alloc_pick(struct alloc *a,
                                        const struct alloc_role *r,
                                        struct alloc_agent *ag, uint64_t now_ms)
{
	struct alloc_sorter_node *sn;
	struct alloc_fw_role *fr;

	for (sn = alloc_sorter_first(&r->children); sn;
	     sn = alloc_sorter_next(sn)) {
		if (sn == &r->self) {
			fr = alloc_pick_framework(a, r, ag, now_ms);
		} else {
			const struct alloc_role *kid =
			    container_of(sn, struct alloc_role, snode);
			if (ag->reserved && !alloc_agent_serves(ag, kid))
				continue;
			fr = alloc_pick(a, kid, ag, now_ms);
		}
		if (fr)
			return fr;
	}
	return NULL;
}

/* Gives fr everything of ag its role may use and records the allocation. */
static void alloc_give(struct alloc *a, struct alloc_agent *ag,
                       struct alloc_fw_role *fr)
{
	/* Nothing held on ag: available is its total. */
	bool whole = list_empty(&ag->holdings) && !ag->reserved;
	struct alloc_holding *h;
	struct alloc_pending *p;
	struct resources offer;

	if (!ag->reserved) {
		offer = ag->available; /* all of it: take it over */
		resources_init(&ag->available);
	} else {
		resources_init(&offer);
		resources_allocatable_to(&offer, &ag->available,
		                         fr->role->path);
		BUG_ON(resources_subtract(&ag->available, &offer) != 0);
	}
	/* alloc_agent_fits() said so: this is what makes a visit end. */
	BUG_ON(resources_is_empty(&offer));
	resources_set_alloc_role(&offer, fr->role->path);
	h = alloc_holding_get(a, fr->fw, ag, true);
	if (whole) {
		h->whole = fr->role;
	} else {
		alloc_holding_expand(h);
		resources_add(&h->res, &offer);
	}
	alloc_charge(a, fr, &offer, 1, false);
	ALLOC_GROW(a->pending, a->npending + 1, a->pending_cap);
	p = &a->pending[a->npending++];
	p->fw = fr->fw;
	p->ag = ag;
	p->role = fr->role;
	p->res = offer; /* take */
}

static void alloc_agent_visit(struct alloc *a, struct alloc_agent *ag,
                              uint64_t now_ms)
{
	struct alloc_fw_role *fr;

	if (!ag->active)
		return;
	/* Without reservations every role sees the same: leftovers below
	 * the minimum need not be shown to each role in turn. */
	if (!ag->reserved && !alloc_agent_fits(a, ag, &a->root))
		return;
	/* Each allocation takes a non-empty part of available: this ends. */
	while (!resources_is_empty(&ag->available) &&
	       (fr = alloc_pick(a, &a->root, ag, now_ms)))
		alloc_give(a, ag, fr);
}

/* Calls cb for each pending allocation whose parties still exist. */
static size_t alloc_deliver(struct alloc *a, alloc_offer_fn *cb, void *arg)
{
	size_t made = 0;

	for (size_t i = 0; i < a->npending; i++) {
		struct alloc_pending *p = &a->pending[i];
		if (p->fw->removed || p->ag->removed || !cb) {
			/* Already returned by the removal. */
			resources_release(&p->res);
			continue;
		}
		cb(p->fw->id, p->ag->id, p->role->path, &p->res, arg);
		resources_init(&p->res); /* the callee owns it now */
		made++;
	}
	a->npending = 0;
	for (size_t i = 0; i < a->ndead_fw; i++)
		alloc_framework_free(a->dead_fw[i]);
	for (size_t i = 0; i < a->ndead_ag; i++)
		alloc_agent_free(a->dead_ag[i]);
	a->ndead_fw = a->ndead_ag = 0;
	return made;
}

size_t alloc_run(struct alloc *a, uint64_t now_ms, bool full,
                 alloc_offer_fn *cb, void *arg)
{
	size_t i, n, made;

	BUG_ON(a->running);
	a->running = true;
	a->stats.runs++;
	if (a->gc_roles) {
		alloc_roles_gc(a);
		a->gc_roles = false;
	}
	if (a->totals_changed) {
		alloc_rekey(a, &a->root);
		a->totals_changed = false;
	}
	if (full || a->full_pending) {
		size_t start;
		a->full_pending = false;
		a->stats.full_runs++;
		alloc_filters_expire(a, now_ms);
		n = a->nagents;
		start = n ? (size_t)(a->rotation++ % n) : 0;
		for (i = 0; i < n; i++) {
			size_t k = start + i < n ? start + i : start + i - n;
			alloc_agent_visit(a, a->agentv[k], now_ms);
		}
	} else {
		n = a->ndirty;
		for (i = 0; i < n; i++)
			alloc_agent_visit(a, a->dirtyv[i], now_ms);
	}
	a->stats.agents_visited += n;
	for (i = 0; i < a->ndirty; i++)
		a->dirtyv[i]->dirty = 0;
	a->ndirty = 0;
	made = alloc_deliver(a, cb, arg);
	a->stats.allocations += made;
	a->running = false;
	return made;
}

/* ---- lifecycle and introspection ----------------------------------------- */

struct alloc *alloc_new(const struct alloc_opts *opts)
{
	struct alloc *a = xcalloc(1, sizeof(*a));

	a->opts.min_cpus =
	    opts && opts->min_cpus ? opts->min_cpus : ALLOC_DEFAULT_MIN_CPUS;
	a->opts.min_mem =
	    opts && opts->min_mem ? opts->min_mem : ALLOC_DEFAULT_MIN_MEM;
	hmap_init(&a->agents);
	hmap_init(&a->frameworks);
	hmap_init(&a->roles);
	alloc_role_init(&a->root, NULL);
	alloc_ptab_init(&a->holdings);
	alloc_ptab_init(&a->filters);
	list_init(&a->filter_list);
	return a;
}

void alloc_free(struct alloc *a)
{
	struct hmap_node *n, *tmp;
	struct list *lpos, *ltmp;
	size_t i;

	if (!a)
		return;
	BUG_ON(a->running);
	LIST_FOR_EACH_SAFE(lpos, ltmp, &a->filter_list)
	{
		alloc_filter_free(a,
		                  list_entry(lpos, struct alloc_filter, link));
	}
	HMAP_FOR_EACH_SAFE(&a->frameworks, i, n, tmp)
	{
		struct alloc_framework *fw =
		    container_of(n, struct alloc_framework, node);
		LIST_FOR_EACH_SAFE(lpos, ltmp, &fw->holdings)
		{
			alloc_holding_free(
			    a, list_entry(lpos, struct alloc_holding, fw_link));
		}
		for (size_t k = 0; k < fw->nroles; k++) {
			alloc_qty_release(&fw->roles[k]->held);
			free(fw->roles[k]);
		}
		alloc_framework_free(fw);
	}
	HMAP_FOR_EACH_SAFE(&a->agents, i, n, tmp)
	{
		alloc_agent_free(container_of(n, struct alloc_agent, node));
	}
	HMAP_FOR_EACH_SAFE(&a->roles, i, n, tmp)
	{
		alloc_role_free(container_of(n, struct alloc_role, node));
	}
	hmap_release(&a->agents);
	hmap_release(&a->frameworks);
	hmap_release(&a->roles);
	alloc_ptab_release(&a->holdings);
	alloc_ptab_release(&a->filters);
	for (i = 0; i < a->nnames; i++)
		free(a->names[i]);
	free(a->names);
	alloc_qty_release(&a->total);
	free(a->agentv);
	free(a->dirtyv);
	free(a->pending);
	free(a->dead_fw);
	free(a->dead_ag);
	free(a);
}

double alloc_role_share(const struct alloc *a, const char *role)
{
	const struct alloc_role *r = role ? alloc_role_find(a, role) : NULL;

	return r ? alloc_dominant(a, &r->subtree) : 0;
}

double alloc_framework_share(const struct alloc *a, const char *framework_id)
{
	const struct alloc_framework *fw =
	    alloc_framework_find(a, framework_id);
	struct alloc_qty sum = {NULL, 0};
	double share;

	if (!fw)
		return 0;
	for (size_t i = 0; i < fw->nroles; i++) {
		const struct alloc_qty *q = &fw->roles[i]->held;
		for (size_t k = 0; k < q->n; k++)
			alloc_qty_add(&sum, k, q->v[k]);
	}
	share = alloc_dominant(a, &sum);
	alloc_qty_release(&sum);
	return share;
}

void alloc_role_allocated(const struct alloc *a, const char *role,
                          struct resources *out)
{
	const struct alloc_role *r = role ? alloc_role_find(a, role) : NULL;
	const struct list *pos, *hpos;

	if (!r)
		return;
	for (pos = r->members.next; pos != &r->members; pos = pos->next) {
		const struct alloc_fw_role *fr =
		    list_entry(pos, struct alloc_fw_role, member_link);
		const struct list *hl = &fr->fw->holdings;
		for (hpos = hl->next; hpos != hl; hpos = hpos->next) {
			const struct alloc_holding *h =
			    list_entry(hpos, struct alloc_holding, fw_link);
			if (h->whole == r) {
				struct resources all;
				resources_copy(&all, &h->ag->total);
				resources_set_alloc_role(&all, role);
				resources_add(out, &all);
				resources_release(&all);
			}
			for (size_t i = 0; i < h->res.n; i++) {
				struct resources one = {&h->res.v[i], 1, 1};
				if (streq(h->res.v[i].alloc_role, role))
					resources_add(out, &one);
			}
		}
	}
}

void alloc_get_stats(const struct alloc *a, struct alloc_stats *out)
{
	*out = a->stats;
	out->filters = a->filters.count;
	out->refusals = a->nrefusals;
	out->dirty_agents = a->ndirty;
}
