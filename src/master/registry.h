/*
 * registry.h: the master's durable record of which agents exist (Mesos's
 * registry, src/master/registry.proto, without maintenance and quota yet).
 *
 * Every agent id the master ever admitted is in exactly one state:
 *
 *   admitted     registered (or reregistered); its AgentInfo is kept
 *   unreachable  silent past the ping timeouts, or not back within
 *                --agent-reregister-timeout after a master restart; the
 *                time it became unreachable is kept (for GC)
 *   gone         MARK_AGENT_GONE: the id may never come back
 *
 * Frameworks, tasks and offers are not recorded: a restarted master
 * rebuilds them from reregistering agents and resubscribing frameworks.
 *
 * Durability: with a store (the SQLite backend) every change is written
 * with one store_put() (one key per agent, so each transition is atomic)
 * BEFORE the in-memory view changes and before the caller acts or replies
 * ("persist, then reply"). A failed write leaves the view as it was and
 * returns the store's error (-ENOSPC for a full disk), so the caller can
 * refuse the operation and the registry never claims what the disk does
 * not hold. Without a store (in_memory) the same calls only change memory.
 *
 * Storage layout: namespace "agents", key = agent id, value = JSON
 * {"state": "admitted"|"unreachable"|"gone", "time": <wall seconds>,
 *  "info": AgentInfo (admitted only)}; namespace "meta", key "version"
 * holds the layout version ("1").
 */
#ifndef ATOLL_REGISTRY_H
#define ATOLL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct err;
struct registry;

enum registry_state {
	REGISTRY_UNKNOWN = 0, /* never admitted, or garbage-collected */
	REGISTRY_ADMITTED,
	REGISTRY_UNREACHABLE,
	REGISTRY_GONE,
};

/* One agent's record, borrowed from the registry (valid until the next
 * change of that agent or registry_free()). */
struct registry_agent {
	const char *id;
	enum registry_state state;
	double time;           /* admitted, became unreachable, marked gone */
	const char *info_json; /* AgentInfo (compact JSON); admitted only */
};

/*
 * Opens the registry. path NULL keeps it in memory only (--registry=
 * in_memory); otherwise the SQLite store at path is opened (created when
 * missing) and every record loaded. Errors (e names the file):
 *   -EILSEQ  the file is corrupt, not a store, of an unknown layout
 *            version, or holds a record that does not parse
 *   -EBUSY   another process holds the file
 *   -ENOSPC, -EIO  from the store
 * The master must not start on any of these (never with an empty state in
 * place of a registry it could not read). On success *out owns it.
 */
int registry_open(const char *path, struct registry **out, struct err *e)
    __attribute__((warn_unused_result));
/* Closes the store and frees everything; NULL is a no-op. */
void registry_free(struct registry *r);
/* True when backed by a store (changes survive a restart). */
bool registry_is_durable(const struct registry *r);
/* The store's file, or NULL in memory. */
const char *registry_path(const struct registry *r);

/* The agent's record, or NULL when the id is unknown. */
const struct registry_agent *registry_find(const struct registry *r,
                                           const char *id);
/* State of id (REGISTRY_UNKNOWN when absent). */
enum registry_state registry_state_of(const struct registry *r, const char *id);
/* Number of agents in state st. */
size_t registry_count(const struct registry *r, enum registry_state st);

/* Calls fn for every record (unspecified order); fn must not change the
 * registry. */
typedef void registry_agent_fn(const struct registry_agent *ra, void *arg);
void registry_foreach(const struct registry *r, registry_agent_fn *fn,
                      void *arg);

/*
 * Records id as admitted with info_json (AgentInfo, copied) at time now:
 * a new agent, a reregistration (an unreachable agent coming back moves
 * back here), or an admitted agent whose info changed. Refuses a gone id
 * (-EPERM). Store errors as registry_open() describes; the record is then
 * unchanged.
 */
int registry_admit(struct registry *r, const char *id, const char *info_json,
                   double now, struct err *e)
    __attribute__((warn_unused_result));
/* Moves id (admitted or unknown) to unreachable since now. An id already
 * unreachable keeps its time; a gone id is refused (-EPERM). */
int registry_mark_unreachable(struct registry *r, const char *id, double now,
                              struct err *e)
    __attribute__((warn_unused_result));
/* Marks id gone at now (any earlier state, or unknown). Idempotent. */
int registry_mark_gone(struct registry *r, const char *id, double now,
                       struct err *e) __attribute__((warn_unused_result));

/*
 * Garbage-collects unreachable and gone records (Mesos's
 * --registry_max_agent_age and --registry_max_agent_count): removes those
 * older than max_age seconds at now, then the oldest until at most
 * max_count remain. Admitted agents are never collected. Ids removed are
 * passed to fn (may be NULL) after they left the store. Returns the number
 * removed (>= 0) or a negative errno (what was removed before the error
 * stays removed).
 */
int registry_prune(struct registry *r, double now, double max_age,
                   size_t max_count, registry_agent_fn *fn, void *arg,
                   struct err *e);

/*
 * Parses an agent removal rate in Mesos's format "N/DURATION" ("1/10mins",
 * "100/1hrs"; N >= 1) into the spacing between two removals in seconds
 * (DURATION / N). Returns 0 or -EINVAL with e naming the problem.
 */
int registry_parse_rate(const char *s, double *interval, struct err *e)
    __attribute__((warn_unused_result));

/* "admitted", "unreachable", "gone" or "unknown". */
const char *registry_state_name(enum registry_state st);

#endif
