/*
 * plan.c: deployment planning for the services framework (pure logic, no
 * I/O, no clock). Three independent pieces; see plan.h for the contracts.
 *
 * Dependency layers (plan_layers)
 *   A dependency string d (trailing slashes ignored) stands for the node
 *   whose id is d and for every node under the group d, i.e. whose id
 *   starts with d followed by '/': "/a" covers "/a" and "/a/x", never
 *   "/ab". "/" covers every node. The ids are sorted once, so each
 *   dependency resolves with two binary searches plus a walk over the
 *   nodes it covers; the edges are stored in one flat array (CSR).
 *   The layer of a node is the length of the longest dependency chain
 *   starting at it, computed by an iterative depth-first search (an
 *   explicit stack of n frames: no recursion, so a 100,000-node chain is
 *   as safe as a 3-node one). A back edge to a node on the stack is a
 *   cycle; the stack between that node and the top is the cycle, reported
 *   in dependency order ("/a -> /b -> /a"). A node covered by its own
 *   dependency (itself or an enclosing group) is a cycle of length one.
 *
 * Rolling upgrade (plan_rolling_next)
 *   A stateless rule evaluated on every change; the caller applies the
 *   action and calls again when the counts change. With
 *   minH = ceil(n * m) and maxC = floor(n * (1 + o)) (computed with a tiny
 *   tolerance so that 10 * 0.7 is 7, not 8), and the invariants
 *       healthy (old healthy not being killed + new ready) >= minH
 *       alive (old + new, killing included)                <= maxC
 *   the rule is:
 *     - no old task alive: start what is missing up to n, nothing else;
 *     - kill old tasks, unhealthy ones first, while the healthy old tasks
 *       left (not killing) plus the new ready ones stay >= minH; when the
 *       app is already below minH, kill only old tasks that are surely
 *       unhealthy (they never count);
 *     - start new tasks while alive stays <= maxC and new alive <= n;
 *     - nothing moved, nothing in flight (no kill pending, every new task
 *       ready) and minH == maxC: the bounds leave no room, so start one
 *       task over capacity, or for a resident app kill one old task first
 *       (healthy dips to minH - 1 until its replacement is ready).
 *   When minH < maxC some move is always possible, so the escape is only
 *   ever taken at alive == maxC with every task healthy; alive therefore
 *   never exceeds maxC + 1 and healthy never drops below minH - 1, and
 *   both only for the escape.
 *   old_healthy may or may not count tasks being killed: healthy old
 *   tasks that will remain are taken as old_healthy - old_killing at
 *   least (all killing ones possibly healthy) and the surely unhealthy
 *   non-killing ones as (old_alive - old_killing) - old_healthy (all
 *   healthy ones possibly still running). Both bounds are exact once no
 *   kill is pending, so the caution only delays a step, never blocks.
 *   Inputs are clamped (negative counts to 0, ratios to [0, 1]) and the
 *   arithmetic is done in long long, so no input yields a negative or
 *   overflowing action.
 *
 * Backoff (plan_backoff_delay)
 *   backoff * factor^(failures - 1) capped at max, with pow() so that a
 *   huge failure count costs nothing: an infinite product is capped too.
 */
#include "lib/compat.h"

#include <math.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "services/plan.h"

/* ---- dependency order ---------------------------------------------------- */

struct plan_sorted {
	const char *id;
	size_t node;
};

/* One depth-first search frame: a node and the next edge to follow. */
struct plan_frame {
	size_t node;
	size_t next_edge;
};

enum plan_mark { PLAN_WHITE = 0, PLAN_ON_STACK, PLAN_DONE };

/* The dependency graph: edge[off[v] .. off[v + 1]) are the nodes v needs. */
struct plan_graph {
	size_t *off;
	size_t *edge;
	size_t nedge, cap;
};

static int plan_sorted_cmp(const void *a, const void *b)
{
	const struct plan_sorted *x = a, *y = b;

	return strcmp(x->id, y->id);
}

/*
 * Compares id with the first len bytes of key as if key ended there.
 * Returns <0, 0 or >0 like strcmp.
 */
static int plan_cmp_prefix(const char *id, const char *key, size_t len)
{
	int c = strncmp(id, key, len);

	if (c != 0)
		return c;
	return id[len] == '\0' ? 0 : 1;
}

/* The first sorted position whose id is >= key[0..len). */
static size_t plan_lower_bound(const struct plan_sorted *s, size_t n,
                               const char *key, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (plan_cmp_prefix(s[mid].id, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void plan_add_edge(struct plan_graph *g, size_t to)
{
	ALLOC_GROW(g->edge, g->nedge + 1, g->cap);
	g->edge[g->nedge++] = to;
}

/*
 * Appends an edge to every node the dependency dep covers: the node named
 * dep and the nodes under the group dep. group is scratch space.
 */
static void plan_resolve_dep(struct plan_graph *g, const struct plan_sorted *s,
                             size_t n, const char *dep, struct buf *group)
{
	size_t len = strlen(dep), i;

	if (len == 0)
		return;
	while (len > 0 && dep[len - 1] == '/')
		len--;
	/* The node named exactly dep ("/" names no node, only the root). */
	if (len > 0) {
		i = plan_lower_bound(s, n, dep, len);
		for (; i < n && plan_cmp_prefix(s[i].id, dep, len) == 0; i++)
			plan_add_edge(g, s[i].node);
	}
	/* The nodes under the group: ids starting with "dep/". */
	buf_reset(group);
	buf_add(group, dep, len);
	buf_addc(group, '/');
	i = plan_lower_bound(s, n, group->data, group->len);
	for (; i < n && strncmp(s[i].id, group->data, group->len) == 0; i++)
		plan_add_edge(g, s[i].node);
}

/* Builds the graph; returns -EINVAL with e set if a node has no id. */
static int plan_graph_build(struct plan_graph *g, const struct plan_node *nodes,
                            size_t n, struct err *e)
{
	struct plan_sorted *s;
	struct buf group = BUF_INIT;

	for (size_t v = 0; v < n; v++)
		if (!nodes[v].id)
			return err_set(e, "nodes[%zu].id: missing", v);

	s = xcalloc(n ? n : 1, sizeof(*s));
	for (size_t v = 0; v < n; v++) {
		s[v].id = nodes[v].id;
		s[v].node = v;
	}
	qsort(s, n, sizeof(*s), plan_sorted_cmp);

	g->off = xcalloc(n + 1, sizeof(*g->off));
	for (size_t v = 0; v < n; v++) {
		g->off[v] = g->nedge;
		for (size_t j = 0; nodes[v].deps && j < nodes[v].ndeps; j++) {
			const char *dep = nodes[v].deps[j];

			if (dep)
				plan_resolve_dep(g, s, n, dep, &group);
		}
	}
	g->off[n] = g->nedge;

	buf_release(&group);
	free(s);
	return 0;
}

static void plan_graph_release(struct plan_graph *g)
{
	free(g->off);
	free(g->edge);
}

/*
 * Writes "dependency cycle: a -> b -> ... -> a" for the cycle that starts
 * at stack[from] and closes back to it from the top of the stack.
 */
static int plan_cycle_error(const struct plan_node *nodes,
                            const struct plan_frame *stack, size_t from,
                            size_t depth, struct err *e)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "dependency cycle: ");
	for (size_t i = from; i < depth; i++)
		buf_addf(&b, "%s -> ", nodes[stack[i].node].id);
	buf_adds(&b, nodes[stack[from].node].id);
	err_set(e, "%s", b.data);
	buf_release(&b);
	return -ELOOP;
}

int plan_layers(const struct plan_node *nodes, size_t n, size_t *layer,
                size_t *nlayers, struct err *e)
{
	struct plan_graph g = {0};
	struct plan_frame *stack = NULL;
	unsigned char *mark = NULL;
	size_t *pos = NULL, depth = 0, top_layer = 0;
	int ret;

	*nlayers = 0;
	ret = plan_graph_build(&g, nodes, n, e);
	if (ret < 0)
		goto out_graph;

	stack = xcalloc(n ? n : 1, sizeof(*stack));
	mark = xcalloc(n ? n : 1, sizeof(*mark));
	pos = xcalloc(n ? n : 1, sizeof(*pos)); /* stack position if on it */

	for (size_t root = 0; root < n; root++) {
		if (mark[root] != PLAN_WHITE)
			continue;
		mark[root] = PLAN_ON_STACK;
		layer[root] = 0;
		pos[root] = 0;
		stack[0] = (struct plan_frame){root, g.off[root]};
		depth = 1;
		while (depth > 0) {
			struct plan_frame *f = &stack[depth - 1];
			size_t v = f->node, u;

			if (f->next_edge == g.off[v + 1]) {
				/* Every dependency of v is placed: so is v. */
				mark[v] = PLAN_DONE;
				if (layer[v] > top_layer)
					top_layer = layer[v];
				depth--;
				if (depth > 0) {
					size_t p = stack[depth - 1].node;

					if (layer[v] + 1 > layer[p])
						layer[p] = layer[v] + 1;
				}
				continue;
			}
			u = g.edge[f->next_edge++];
			if (mark[u] == PLAN_DONE) {
				if (layer[u] + 1 > layer[v])
					layer[v] = layer[u] + 1;
			} else if (mark[u] == PLAN_ON_STACK) {
				ret = plan_cycle_error(nodes, stack, pos[u],
				                       depth, e);
				goto out_search;
			} else {
				mark[u] = PLAN_ON_STACK;
				layer[u] = 0;
				pos[u] = depth;
				stack[depth++] =
				    (struct plan_frame){u, g.off[u]};
			}
		}
	}
	*nlayers = n ? top_layer + 1 : 0;
	ret = 0;

out_search:
	free(pos);
	free(mark);
	free(stack);
out_graph:
	plan_graph_release(&g);
	return ret;
}

/* ---- rolling upgrade ----------------------------------------------------- */

/* Tolerance for "x is really an integer", relative to its size. */
static double plan_tolerance(double x)
{
	return 1e-12 * fmax(1.0, fabs(x));
}

/* ceil(x), reading a product a rounding error above an integer as it. */
static long long plan_ceil(double x)
{
	double r = nearbyint(x);

	if (fabs(x - r) <= plan_tolerance(x))
		return (long long)r;
	return (long long)ceil(x);
}

/* floor(x), reading a product a rounding error below an integer as it. */
static long long plan_floor(double x)
{
	double r = nearbyint(x);

	if (fabs(x - r) <= plan_tolerance(x))
		return (long long)r;
	return (long long)floor(x);
}

/* Clamps a ratio into [0, 1]; NaN reads as 0. */
static double plan_ratio(double x)
{
	if (!(x > 0.0))
		return 0.0;
	return x > 1.0 ? 1.0 : x;
}

static long long plan_clamp(long long x, long long lo, long long hi)
{
	if (x < lo)
		return lo;
	return x > hi ? hi : x;
}

void plan_rolling_next(const struct plan_rolling_state *s,
                       struct plan_rolling_action *a)
{
	long long n = MAX(s->instances, 0);
	long long old_alive = MAX(s->old_alive, 0);
	long long old_healthy = plan_clamp(s->old_healthy, 0, old_alive);
	long long old_killing = plan_clamp(s->old_killing, 0, old_alive);
	long long new_alive = MAX(s->new_alive, 0);
	long long new_ready = plan_clamp(s->new_ready, 0, new_alive);
	double m = plan_ratio(s->min_health_capacity);
	double o = plan_ratio(s->max_over_capacity);
	long long min_healthy, max_alive, killable, keep_lo, keep_hi, need;
	long long start, kill;

	a->start_new = 0;
	a->kill_old = 0;
	a->done = false;

	if (old_alive == 0) {
		a->start_new = (int)MAX(n - new_alive, 0);
		a->done = new_ready >= n;
		return;
	}

	min_healthy = plan_ceil((double)n * m);
	max_alive = plan_floor((double)n * (1.0 + o));
	killable = old_alive - old_killing;
	keep_lo = MAX(old_healthy - old_killing, 0);
	keep_hi = MIN(old_healthy, killable);
	need = MAX(min_healthy - new_ready, 0);

	if (keep_lo >= need)
		kill = killable - need;
	else
		kill = killable - keep_hi; /* surely unhealthy ones only */

	start = MIN(n - new_alive, max_alive - (old_alive + new_alive));
	start = MAX(start, 0);

	if (start == 0 && kill == 0 && old_killing == 0 &&
	    new_alive == new_ready && new_alive < n &&
	    min_healthy == max_alive) {
		if (s->resident)
			kill = 1;
		else
			start = 1;
	}
	a->start_new = (int)start;
	a->kill_old = (int)kill;
}

/* ---- backoff ------------------------------------------------------------- */

/*
 * Marathon requires backoffFactor >= 1, so a smaller (or NaN) factor reads
 * as 1: the delay never shrinks with more failures. A non-positive or NaN
 * backoff or max gives 0.
 */
double plan_backoff_delay(double backoff, double factor, double max,
                          unsigned failures)
{
	double d;

	if (failures == 0 || !(backoff > 0.0) || !(max > 0.0))
		return 0.0;
	if (!(factor >= 1.0))
		factor = 1.0;
	d = backoff * pow(factor, (double)failures - 1.0);
	return d < max ? d : max;
}
