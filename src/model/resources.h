/*
 * resources.h: the Mesos resource model with exact arithmetic.
 *
 * Scalars are fixed point with three decimals (int64 milli-units), as Mesos
 * does to avoid float drift: 0.1 + 0.2 == 0.3 here. Ranges are kept sorted
 * and coalesced; sets sorted and unique. Two resources "match" (and merge
 * on add) when name, type, reservation role and allocation role are equal.
 *
 * Text form (agent --resources, static reservations):
 *   cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33100];gpus:1;
 *   cpus(ads):4;bugs(debug):{a,b,c}
 * or a JSON array of Resource objects (text starting with '[').
 *
 * JSON form: Mesos v1 Resource objects:
 *   {"name":"cpus","type":"SCALAR","scalar":{"value":0.5},"role":"*",
 *    "allocation_info":{"role":"dev"}}
 * also "ranges":{"range":[{"begin":1,"end":2}]} and "set":{"item":["a"]},
 * and "reservations":[{"type":"STATIC"|"DYNAMIC","role":"r"}] (the last
 * reservation's role is the resource's role).
 */
#ifndef ATOLL_RESOURCES_H
#define ATOLL_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct buf;
struct err;
struct jsonw;

#define RES_SCALE 1000 /* milli-units per unit */
/* Largest scalar accepted from outside: 1e12 units. */
#define RES_SCALAR_MAX ((int64_t)1000000000000 * RES_SCALE)

enum resource_type { RESOURCE_SCALAR, RESOURCE_RANGES, RESOURCE_SET };

struct value_range {
	uint64_t begin, end; /* inclusive */
};

struct resource {
	char *name;
	enum resource_type type;
	int64_t scalar; /* milli-units */
	struct value_range *ranges;
	size_t nranges;
	char **items;
	size_t nitems;
	char *role;	  /* reservation role, "*" = unreserved; never NULL */
	char *alloc_role; /* allocation_info.role, NULL = unallocated */
};

struct resources {
	struct resource *v;
	size_t n, cap;
};

void resources_init(struct resources *r);
void resources_release(struct resources *r);
void resources_copy(struct resources *dst, const struct resources *src);
bool resources_is_empty(const struct resources *r);

/* Converts between units and milli-units (round to nearest). */
int64_t res_from_double(double v);
double res_to_double(int64_t milli);

/*
 * Parses the text form (or a JSON array when text starts with '[') and adds
 * it to out. Resources without "(role)" get default_role (NULL = "*").
 * Returns 0 or -EINVAL with e naming the item and the problem.
 */
int resources_parse_text(struct resources *out, const char *text,
			 const char *default_role, struct err *e);
/* Adds a JSON array of Resource objects to out, validating each: name set,
 * known type, finite scalar in [0, RES_SCALAR_MAX], begin <= end, valid
 * role names. e names the element: "resources[2].scalar.value: ...". */
int resources_from_json(struct resources *out, const json_t *arr,
			struct err *e);
/* Writes the JSON array. */
void resources_write_json(struct jsonw *w, const struct resources *r);
/* Writes the text form into out (for logs and the CLI). */
void resources_format(struct buf *out, const struct resources *r);

/* dst += src (merging matching resources). */
void resources_add(struct resources *dst, const struct resources *src);
/* dst -= src. Returns -EINVAL and leaves dst unchanged if src is not
 * contained in dst. Entries that reach zero/empty are removed. */
int resources_subtract(struct resources *dst, const struct resources *src);
/* True when every resource of b is contained in a. */
bool resources_contains(const struct resources *a, const struct resources *b);
/* Sum in milli-units of scalar resources named name (any role). */
int64_t resources_scalar(const struct resources *r, const char *name);
/* Sets (role != NULL) or clears allocation_info.role on every resource. */
void resources_set_alloc_role(struct resources *r, const char *role);
/* Appends to out the resources of r usable by role: unreserved ("*") and
 * reserved to role or one of its ancestors ("a" for "a/b"). */
void resources_allocatable_to(struct resources *out,
			      const struct resources *r, const char *role);
/* Appends to out the scalar resources of r, summed per name regardless of
 * role (for DRF totals and metrics). */
void resources_scalars_by_name(struct resources *out,
			       const struct resources *r);

/*
 * Role names (Mesos rules): not empty, not "." or "..", no leading '-', no
 * whitespace or control characters, '/' only as a separator (no leading or
 * trailing slash, no "//"), no "." or ".." component; "*" is valid only
 * when allow_star. Returns 0 or -EINVAL with e set.
 */
int role_validate(const char *role, bool allow_star, struct err *e);

/* Agent attributes: "rack:r1;zone:2;ports:[1-5];tags:{a,b}". */
enum attribute_type {
	ATTRIBUTE_TEXT,
	ATTRIBUTE_SCALAR,
	ATTRIBUTE_RANGES,
	ATTRIBUTE_SET
};

struct attribute {
	char *name;
	enum attribute_type type;
	char *text;
	int64_t scalar; /* milli-units */
	struct value_range *ranges;
	size_t nranges;
	char **items;
	size_t nitems;
};

struct attributes {
	struct attribute *v;
	size_t n, cap;
};

void attributes_init(struct attributes *a);
void attributes_release(struct attributes *a);
void attributes_copy(struct attributes *dst, const struct attributes *src);
/* Text values that parse as a number become SCALAR, "[a-b,...]" RANGES,
 * "{x,y}" SET, anything else TEXT. */
int attributes_parse_text(struct attributes *out, const char *text,
			  struct err *e);
int attributes_from_json(struct attributes *out, const json_t *arr,
			 struct err *e);
void attributes_write_json(struct jsonw *w, const struct attributes *a);
void attributes_format(struct buf *out, const struct attributes *a);
const struct attribute *attributes_find(const struct attributes *a,
					const char *name);

#endif
