/*
 * plan.h: deployment planning for the services framework. Pure logic: no
 * I/O, no clock (the caller passes now). The services framework turns a
 * change of its desired state into a plan with these functions, then
 * drives each step with real tasks.
 *
 *   plan_layers()        dependency order of the apps a change touches
 *                        (Marathon's layered topological sort); cycles are
 *                        refused with the cycle named.
 *   plan_rolling_next()  one decision of a rolling upgrade/restart: how many
 *                        new-version tasks to start and old ones to kill now
 *                        without going below minimumHealthCapacity healthy
 *                        or above maximumOverCapacity extra.
 *   plan_backoff_delay() crash-loop backoff.
 */
#ifndef ATOLL_SERVICES_PLAN_H
#define ATOLL_SERVICES_PLAN_H

#include <stdbool.h>
#include <stddef.h>

struct err;

/* ---- dependency order ---------------------------------------------------- */

struct plan_node {
	const char *id;          /* absolute app id */
	const char *const *deps; /* absolute app or group ids */
	size_t ndeps;
};

/*
 * Assigns each node a layer: layer 0 holds the nodes with no dependency
 * among the nodes, layer k those whose longest dependency chain (within
 * nodes) has length k; a step deploys one layer, lower layers first. A
 * dependency naming a group (a prefix path) stands for every node under
 * it; dependencies on ids outside the nodes are ignored (already
 * deployed). Writes layer[i] for each node and the number of layers to
 * *nlayers. On a cycle returns -ELOOP with e naming it
 * ("dependency cycle: /a -> /b -> /a").
 */
int plan_layers(const struct plan_node *nodes, size_t n, size_t *layer,
                size_t *nlayers, struct err *e)
    __attribute__((warn_unused_result));

/* ---- rolling upgrade ----------------------------------------------------- */

struct plan_rolling_state {
	int instances;              /* target count of the new version */
	double min_health_capacity; /* [0, 1] */
	double max_over_capacity;   /* [0, 1] */
	bool resident;   /* persistent volumes: never over capacity */
	int old_alive;   /* old-version tasks not yet terminal */
	int old_healthy; /* of those, running and healthy */
	int old_killing; /* of those, already being killed */
	int new_alive;   /* new-version tasks not yet terminal */
	int new_ready;   /* of those, running, healthy and ready */
};

struct plan_rolling_action {
	int start_new; /* launch this many new-version tasks now */
	int kill_old;  /* kill this many old-version tasks now (not counting
	                  those already killing; unhealthy ones first) */
	bool done;     /* no old task alive and new_ready == instances */
};

/*
 * The next decision, Marathon's rules: keep at least
 * ceil(instances * min_health_capacity) healthy tasks (old healthy + new
 * ready) and never more than floor(instances * (1 + max_over_capacity))
 * alive (old + new, killing ones included); when both bounds are equal and
 * no move is possible, exceed the capacity by one task (or, for resident
 * apps, kill one first) so the upgrade cannot deadlock. Idempotent for a
 * given state. Pure.
 */
void plan_rolling_next(const struct plan_rolling_state *s,
                       struct plan_rolling_action *a);

/* ---- backoff ------------------------------------------------------------- */

/*
 * The delay before relaunching after `failures` consecutive failures
 * (0 -> 0): backoff * factor^(failures-1), capped at max. Seconds.
 */
double plan_backoff_delay(double backoff, double factor, double max,
                          unsigned failures);

#endif
