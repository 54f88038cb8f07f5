/*
 * constraint.h: placement constraints of the services framework: pure
 * logic (no I/O, no clock), one internal model fed by two syntaxes.
 *
 *   Marathon: [field, OP] or [field, OP, value] with OP one of UNIQUE,
 *             CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE, IS.
 *   Aurora:   {field: expr} where expr is "limit:N" (at most N instances
 *             per value of field), "v" or "v1,v2" (field equals one of the
 *             values), "!v" or "!v1,v2" (equals none of them); and the
 *             field "dedicated" with value "role/name" (or "*\/name").
 *
 * field is "hostname" (or "@hostname", Aurora's "host") for the agent's
 * hostname, or the name of an agent attribute. Attribute values compare
 * as strings: text as is, scalars with at most 3 decimals ("0.8"), ranges
 * "[a-b,c-d]", sets "{a,b}" (sorted) -- Marathon's rules.
 *
 * A missing attribute: every operator rejects the agent except UNLIKE and
 * Aurora's "!v" (which accept it). Documented in docs/constraints.md.
 *
 * Dedicated hosts work both ways: an agent with a "dedicated" attribute
 * takes only apps whose DEDICATED constraint matches its value, and such
 * apps go only to agents with that attribute value.
 */
#ifndef ATOLL_SERVICES_CONSTRAINT_H
#define ATOLL_SERVICES_CONSTRAINT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct attributes;
struct err;
struct jsonw;

enum constraint_op {
	CONSTRAINT_UNIQUE,
	CONSTRAINT_CLUSTER,
	CONSTRAINT_GROUP_BY,
	CONSTRAINT_MAX_PER, /* also Aurora's limit:N */
	CONSTRAINT_LIKE,
	CONSTRAINT_UNLIKE,
	CONSTRAINT_IS,
	CONSTRAINT_IN,     /* Aurora "v1,v2": value in the list */
	CONSTRAINT_NOT_IN, /* Aurora "!v1,v2" */
	CONSTRAINT_DEDICATED,
};

struct constraint {
	char *field; /* "hostname" for the hostname forms */
	enum constraint_op op;
	char *value;   /* as given (NULL when absent) */
	long n;        /* MAX_PER / GROUP_BY count (0 = none) */
	char **values; /* IN / NOT_IN */
	size_t nvalues;
	regex_t re; /* LIKE / UNLIKE, anchored full match */
	bool has_re;
	bool aurora; /* came from the Aurora form (for writing) */
};

struct constraint_set {
	struct constraint *v;
	size_t n;
};

void constraint_set_init(struct constraint_set *cs);
void constraint_set_release(struct constraint_set *cs);
/* Deep copy (regexes recompiled); dst is released first. */
void constraint_set_copy(struct constraint_set *dst,
                         const struct constraint_set *src);

/*
 * Parses the "constraints" value of an app: a Marathon array of arrays or
 * an Aurora object of field: expr. Validation follows Marathon (UNIQUE
 * takes no value; MAX_PER needs an integer >= 1; GROUP_BY an optional
 * integer >= 1; LIKE/UNLIKE a valid regex; IS matches ^[a-zA-Z0-9_/.-]*$;
 * unknown operators are errors). On error *cs is unchanged, e names the
 * element ("constraints(2): MAX_PER needs a positive integer, got 'x'")
 * and *bad_index (when not NULL) is its index.
 */
int constraint_set_from_json(struct constraint_set *cs, const json_t *v,
                             size_t *bad_index, struct err *e)
    __attribute__((warn_unused_result));
/* Writes the constraints in the form they were given: the Marathon array
 * of arrays, or the Aurora object ({"rack_id":"limit:3"}). */
void constraint_set_write_json(struct jsonw *w,
                               const struct constraint_set *cs);

/* An agent as constraints see it. */
struct constraint_agent {
	const char *hostname;
	const struct attributes *attributes;
};

/*
 * The result of checking one agent: ok, or which constraint refused it.
 * failed is the index in the set, or CONSTRAINT_DEDICATED_HOST when the
 * agent is dedicated to other apps.
 */
#define CONSTRAINT_DEDICATED_HOST ((size_t)-1)
struct constraint_verdict {
	bool ok;
	size_t failed;
};

/*
 * Decides whether one more instance of an app with constraints cs and
 * `instances` desired instances may go on agent, given the agents its
 * current instances run on (placed[0..n_placed), one entry per instance,
 * including those launched earlier in the same offer round). Pure.
 */
struct constraint_verdict
constraint_set_check(const struct constraint_set *cs, long instances,
                     const struct constraint_agent *agent,
                     const struct constraint_agent *placed, size_t n_placed);

/* Human text of constraint i ("rack_id MAX_PER 3"), for /v2/queue and
 * messages; "dedicated host" for CONSTRAINT_DEDICATED_HOST. Heap string. */
char *constraint_describe(const struct constraint_set *cs, size_t i);

/*
 * The value of field for agent, in Marathon's string form, into a heap
 * string; NULL when the agent lacks the attribute.
 */
char *constraint_agent_value(const struct constraint_agent *agent,
                             const char *field);

/*
 * Chooses k instances to kill when scaling down: the victims are taken
 * from the most populated GROUP_BY value first (so the spread stays within
 * one of even), then by age: youngest first unless oldest_first. Instance
 * i runs on agents[i] and started at started[i] (any monotonic unit).
 * Writes k distinct indexes to victims. Pure.
 */
void constraint_pick_victims(const struct constraint_set *cs,
                             const struct constraint_agent *agents,
                             const double *started, size_t n, size_t k,
                             bool oldest_first, size_t *victims);

#endif
