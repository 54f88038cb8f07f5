/*
 * alloc.h: the allocator. Pure logic: no I/O, no clock reads (callers pass
 * now_ms), no knowledge of HTTP or offers' ids.
 *
 * Hierarchical weighted DRF: roles (a tree: "eng/web" is a child of "eng")
 * are ordered by weighted dominant share, then frameworks within a role by
 * their dominant share in that role. Offered resources count as allocated
 * until the master gives them back with alloc_recover().
 *
 * Each allocation hands one agent's whole allocatable resources for one
 * role to one framework (as Mesos does); resources reserved to a role are
 * offered only to frameworks in that role (or its descendants).
 *
 * Incremental: the allocator keeps frameworks and roles ordered as shares
 * change; alloc_run(.., full=false) visits only agents whose available
 * resources grew since the last run, so one agent's freed resources are
 * offered in O(log n) without re-sorting the world.
 */
#ifndef ATOLL_ALLOC_H
#define ATOLL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/resources.h"

struct alloc;

/*
 * A role is offered an agent only when what it may use there includes at
 * least min_cpus of cpus or min_mem of mem (Mesos' MIN_CPUS / MIN_MEM).
 * alloc_new(NULL) takes the defaults, and so does a zero field of a given
 * opts (so a zero-initialized struct with one field set changes just that
 * one). A negative field is a minimum always met: any non-empty set of
 * resources is offered.
 */
#define ALLOC_DEFAULT_MIN_CPUS 10   /* milli-cpus: 0.01 cpus */
#define ALLOC_DEFAULT_MIN_MEM 32000 /* milli-MB: 32 MB */

struct alloc_opts {
	int64_t min_cpus; /* milli; 0: ALLOC_DEFAULT_MIN_CPUS */
	int64_t min_mem;  /* milli-MB; 0: ALLOC_DEFAULT_MIN_MEM */
};

/*
 * An allocation: res (ownership passes to the callee; allocation_info.role
 * already set to role) is now held by framework_id on agent_id.
 */
typedef void alloc_offer_fn(const char *framework_id, const char *agent_id,
                            const char *role, struct resources *res, void *arg);

struct alloc *alloc_new(const struct alloc_opts *opts); /* opts may be NULL */
void alloc_free(struct alloc *a);

/* Agents. total is copied (allocation roles in it are ignored); a new
 * agent is active. Adding an id that exists changes nothing. A deactivated
 * agent is never offered; removing an agent forgets what frameworks held
 * there. Agents' totals make the cluster total that shares divide by. */
void alloc_agent_add(struct alloc *a, const char *agent_id,
                     const struct resources *total);
void alloc_agent_remove(struct alloc *a, const char *agent_id);
void alloc_agent_set_active(struct alloc *a, const char *agent_id, bool active);

/*
 * Frameworks. An inactive (disconnected) framework is never offered, and
 * deactivating one drops its refuse filters (as Mesos does). Invalid role
 * names are skipped. Adding an id that exists updates its roles and active
 * flag (roles it leaves keep their allocations but get no more offers).
 */
void alloc_framework_add(struct alloc *a, const char *framework_id,
                         const char *const *roles, size_t nroles, bool active);
/* Forgets the framework; whatever it still held returns to its agents. */
void alloc_framework_remove(struct alloc *a, const char *framework_id);
void alloc_framework_set_active(struct alloc *a, const char *framework_id,
                                bool active);

/*
 * Marks res (allocation_info.role set) as held by framework on agent, e.g.
 * tasks an agent reports when it reregisters. The resources must be
 * available on the agent; returns -EINVAL otherwise (nothing changes), and
 * for an unknown agent or framework or an invalid allocation role. Entries
 * without allocation_info.role count for the framework's first role.
 */
int alloc_used_add(struct alloc *a, const char *agent_id,
                   const char *framework_id, const struct resources *res);

/*
 * Converts from into to on agent_id: the effect of an offer operation
 * (RESERVE, UNRESERVE, CREATE, DESTROY; see resources_apply_op). With a
 * framework_id, from must be held by that framework there (allocation
 * roles as in its offer; entries without one count for its first role)
 * and its holding gets to instead; with framework_id NULL (operator
 * calls), from must be available (not held; allocation roles ignored).
 * The agent's total changes likewise, so what to holds is offered again
 * once given back. from and to must hold the same scalar quantities by
 * name. Returns 0, or -EINVAL when something does not hold (nothing
 * changes then).
 */
int alloc_agent_convert(struct alloc *a, const char *agent_id,
                        const char *framework_id, const struct resources *from,
                        const struct resources *to);

/*
 * Gives res back from framework on agent (declined or unused offer parts,
 * finished tasks). Unknown agents or frameworks are ignored, and so is res
 * when the framework does not hold all of it there. Entries without
 * allocation_info.role are taken as the framework's first role.
 *
 * When refuse_seconds > 0 (capped at 365 days), a refuse filter is
 * installed for each role res was allocated to, as Mesos'
 * RefusedOfferFilter: until now_ms + refuse_seconds, the framework is not
 * offered this agent for that role when what the offer would hold is
 * contained in what res gave back for the role (allocation roles aside).
 * An agent with more than that, say cpus freed by a finished task, is
 * offered to the framework at once. Refusals of the same (framework, role,
 * agent) accumulate, each blocking on its own, up to a small bound (4);
 * one covered by another for no longer is dropped, and past the bound the
 * one expiring first is. A filter that would block nothing (the role's
 * part of res is empty) is not installed.
 */
void alloc_recover(struct alloc *a, const char *agent_id,
                   const char *framework_id, const struct resources *res,
                   double refuse_seconds, uint64_t now_ms);

/* Stops (suppress) or resumes offers to the framework for roles (nroles ==
 * 0: all its roles; roles it is not subscribed to are ignored). Revive also
 * drops the framework's refuse filters for those roles. */
void alloc_suppress(struct alloc *a, const char *framework_id,
                    const char *const *roles, size_t nroles);
void alloc_revive(struct alloc *a, const char *framework_id,
                  const char *const *roles, size_t nroles);

/* Role weights (default 1.0; must be > 0 and finite, others are ignored).
 * A weight applies to the role's node in the role tree. */
void alloc_set_weight(struct alloc *a, const char *role, double weight);
double alloc_weight(const struct alloc *a, const char *role);

/*
 * Runs one allocation pass at now_ms. full = false visits only agents whose
 * available resources changed since the last pass; full = true visits every
 * agent (the periodic pass, which also lets expired filters through).
 * Calls cb once per allocation made. Returns the number of allocations.
 *
 * A full pass starts one agent further on each time (rotating, not
 * shuffled as in Mesos, so that results are reproducible); an incremental
 * pass visits the changed agents in the order they changed. Adding or
 * activating a framework and reviving make the next pass a full one.
 * The callbacks run after the pass has decided everything: cb may call
 * any alloc_* function except alloc_run and alloc_free (an allocation to a
 * framework or agent removed by an earlier callback is dropped silently).
 */
size_t alloc_run(struct alloc *a, uint64_t now_ms, bool full,
                 alloc_offer_fn *cb, void *arg);

/*
 * Introspection for GET_ROLES, metrics and tests. Shares are dominant
 * shares (max over scalar names of allocated / cluster total), unweighted:
 * a role's covers its whole subtree, a framework's all its roles. Unknown
 * names give 0.
 */
double alloc_role_share(const struct alloc *a, const char *role);
double alloc_framework_share(const struct alloc *a, const char *framework_id);
/* Adds to out the resources allocated to exactly role (all frameworks,
 * offered or used; allocation_info.role set). */
void alloc_role_allocated(const struct alloc *a, const char *role,
                          struct resources *out);
size_t alloc_agent_count(const struct alloc *a);

/* Counters since alloc_new, for metrics, benchmarks and tests. */
struct alloc_stats {
	uint64_t runs;           /* alloc_run calls */
	uint64_t full_runs;      /* of which visited every agent */
	uint64_t agents_visited; /* agents looked at by all runs */
	uint64_t candidates;     /* (framework, role) pairs considered */
	uint64_t allocations;    /* allocations handed to callbacks */
	size_t filters;          /* (framework, role, agent) with filters */
	size_t refusals;         /* refusals those filters hold */
	size_t dirty_agents;     /* agents the next incremental run sees */
};

void alloc_get_stats(const struct alloc *a, struct alloc_stats *out);

#endif
