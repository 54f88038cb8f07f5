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

struct alloc_opts {
	int64_t min_cpus; /* milli; default 10 (0.01 cpus) */
	int64_t min_mem;  /* milli-MB; default 32000 (32 MB) */
};

/*
 * An allocation: res (ownership passes to the callee; allocation_info.role
 * already set to role) is now held by framework_id on agent_id.
 */
typedef void alloc_offer_fn(const char *framework_id, const char *agent_id,
			    const char *role, struct resources *res,
			    void *arg);

struct alloc *alloc_new(const struct alloc_opts *opts); /* opts may be NULL */
void alloc_free(struct alloc *a);

/* Agents. total is copied. A deactivated agent is never offered. */
void alloc_agent_add(struct alloc *a, const char *agent_id,
		     const struct resources *total);
void alloc_agent_remove(struct alloc *a, const char *agent_id);
void alloc_agent_set_active(struct alloc *a, const char *agent_id,
			    bool active);

/* Frameworks. An inactive (disconnected) framework is never offered. */
void alloc_framework_add(struct alloc *a, const char *framework_id,
			 const char *const *roles, size_t nroles, bool active);
/* Forgets the framework; whatever it still held returns to its agents. */
void alloc_framework_remove(struct alloc *a, const char *framework_id);
void alloc_framework_set_active(struct alloc *a, const char *framework_id,
				bool active);

/*
 * Marks res (allocation_info.role set) as held by framework on agent, e.g.
 * tasks an agent reports when it reregisters. The resources must be
 * available on the agent; returns -EINVAL otherwise (nothing changes).
 */
int alloc_used_add(struct alloc *a, const char *agent_id,
		   const char *framework_id, const struct resources *res);

/*
 * Gives res back from framework on agent (declined or unused offer parts,
 * finished tasks). When refuse_seconds > 0 the framework is not offered
 * this agent's resources again before now_ms + refuse_seconds (capped at
 * 365 days). Unknown agents or frameworks are ignored.
 */
void alloc_recover(struct alloc *a, const char *agent_id,
		   const char *framework_id, const struct resources *res,
		   double refuse_seconds, uint64_t now_ms);

/* Stops (suppress) or resumes offers to the framework for roles (nroles ==
 * 0: all its roles). Revive also drops the framework's refuse filters. */
void alloc_suppress(struct alloc *a, const char *framework_id,
		    const char *const *roles, size_t nroles);
void alloc_revive(struct alloc *a, const char *framework_id,
		  const char *const *roles, size_t nroles);

/* Role weights (default 1.0; must be > 0). */
void alloc_set_weight(struct alloc *a, const char *role, double weight);
double alloc_weight(const struct alloc *a, const char *role);

/*
 * Runs one allocation pass at now_ms. full = false visits only agents whose
 * available resources changed since the last pass; full = true visits every
 * agent (the periodic pass, which also lets expired filters through).
 * Calls cb once per allocation made. Returns the number of allocations.
 */
size_t alloc_run(struct alloc *a, uint64_t now_ms, bool full,
		 alloc_offer_fn *cb, void *arg);

/* Introspection for GET_ROLES, metrics and tests. */
double alloc_role_share(const struct alloc *a, const char *role);
double alloc_framework_share(const struct alloc *a, const char *framework_id);
/* Resources allocated to role (all frameworks, offered or used). */
void alloc_role_allocated(const struct alloc *a, const char *role,
			  struct resources *out);
size_t alloc_agent_count(const struct alloc *a);

#endif
