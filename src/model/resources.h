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
/*
 * Most resource entries (text items or JSON array elements) accepted in
 * one parse. Matching entries is quadratic, so untrusted input is bounded;
 * real agents and tasks have a handful. With it, sums of parsed scalars
 * cannot overflow int64.
 */
#define RES_MAX_ENTRIES 1024
/*
 * Largest range bound accepted (text and JSON): INT64_MAX, since JSON
 * readers such as jansson hold integers as int64, and whatever is accepted
 * must survive being written and read back.
 */
#define RES_RANGE_MAX ((uint64_t)INT64_MAX)

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
	char *role;       /* reservation role, "*" = unreserved; never NULL */
	char *alloc_role; /* allocation_info.role, NULL = unallocated */
};

struct resources {
	struct resource *v;
	size_t n, cap;
};

void resources_init(struct resources *r);
/* Frees everything and re-initializes r (releasing twice is harmless). */
void resources_release(struct resources *r);
/* Deep copy. dst is overwritten, not freed: pass it initialized-and-empty,
 * released, or uninitialized. */
void resources_copy(struct resources *dst, const struct resources *src);
/* True when r holds nothing (no entry, or only zero/empty entries). */
bool resources_is_empty(const struct resources *r);

/* Converts between units and milli-units (round to nearest). */
int64_t res_from_double(double v);
double res_to_double(int64_t milli);

/*
 * Parses the text form (or a JSON array when text starts with '[') and adds
 * it to out. Resources without "(role)" (JSON: without "role" or
 * "reservations") get default_role (NULL = "*"). Items are numbered from 1
 * in errors, and the caller prefixes the flag name:
 *   "item 3 'ports:[5-1]': range begin 5 > end 1".
 * Returns 0 or -EINVAL with e set; on error out is unchanged.
 */
int resources_parse_text(struct resources *out, const char *text,
                         const char *default_role, struct err *e);
/* Adds a JSON array of Resource objects to out, validating each: name set,
 * known type, finite scalar in [0, RES_SCALAR_MAX], integral range bounds
 * in [0, 2^63) with begin <= end, valid role names; at most
 * RES_MAX_ENTRIES elements. Unknown fields are ignored. e names the
 * element: "resources[2].scalar.value: ...". All-or-nothing: on error out
 * is unchanged. */
int resources_from_json(struct resources *out, const json_t *arr,
                        struct err *e);
/* Writes the JSON array: "role" always ("*" when unreserved), plus
 * "reservations":[{"type":"STATIC","role":R}] when reserved and
 * "allocation_info" when allocated. Scalars are written exactly
 * (0.1, not 0.10000000000000001). */
void resources_write_json(struct jsonw *w, const struct resources *r);
/* Appends the text form to out (for logs and the CLI), "" when empty.
 * An allocation role shows as "cpus(allocated: dev):1", which the parser
 * does not read back; without one the text parses back to r. */
void resources_format(struct buf *out, const struct resources *r);
/* Writes the classic (v0 /state) map: scalars summed by name (cpus, mem,
 * disk, gpus always present), ranges as "[a-b, c-d]", sets as "{x, y}". */
void resources_write_map(struct jsonw *w, const struct resources *r);

/* dst += src (merging matching resources; ranges and sets are united,
 * so adding an overlapping range adds nothing twice). */
void resources_add(struct resources *dst, const struct resources *src);
/* dst -= src. Returns -EINVAL and leaves dst unchanged if src is not
 * contained in dst. Entries that reach zero/empty are removed. */
int resources_subtract(struct resources *dst, const struct resources *src);
/* True when every resource of b is contained in a. */
bool resources_contains(const struct resources *a, const struct resources *b);
/*
 * Moves amount milli-units of the scalar resource name from avail into
 * out, taking them from avail's entries in order and keeping each piece's
 * reservation and allocation roles (so out stays a subset of what was
 * offered). Returns 0, or -ENOSPC with nothing moved when avail holds
 * less. amount <= 0 moves nothing.
 */
int resources_take_scalar(struct resources *avail, const char *name,
                          int64_t amount, struct resources *out);
/*
 * Moves n ports from avail's "ports" ranges into out, lowest first; with
 * wanted (n entries, non-zero = that exact port) the given ports are taken
 * instead of any (0 entries take any free one). The chosen ports are
 * written to ports[0..n). Returns 0, or -ENOSPC with nothing moved.
 */
int resources_take_ports(struct resources *avail, size_t n, const int *wanted,
                         int *ports, struct resources *out);
/* Sum in milli-units of scalar resources named name (any role). */
int64_t resources_scalar(const struct resources *r, const char *name);
/* Sets (role != NULL) or clears allocation_info.role on every resource. */
void resources_set_alloc_role(struct resources *r, const char *role);
/* Appends to out the resources of r usable by role: unreserved ("*") and
 * reserved to role or one of its ancestors ("a" for "a/b"). */
void resources_allocatable_to(struct resources *out, const struct resources *r,
                              const char *role);
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

/*
 * Prefixes e's message with a JSON field path, for the model's parsers
 * (resources.c, mesos.c): "name: required field missing" under
 * "resources[2]" becomes "resources[2].name: required field missing",
 * while a bare reason ("must be an object") becomes "resources[2]: must be
 * an object". Returns -EINVAL.
 */
int res_err_path(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
/* Frees everything and re-initializes a. */
void attributes_release(struct attributes *a);
/* Deep copy; dst is overwritten as for resources_copy. */
void attributes_copy(struct attributes *dst, const struct attributes *src);
/* Text values that parse as a number become SCALAR (may be negative),
 * "[a-b,...]" RANGES, "{x,y}" SET, anything else TEXT. Appends to out in
 * order (repeated names are kept). Text must be UTF-8. Errors name the
 * item as resources_parse_text does; on error out is unchanged. */
int attributes_parse_text(struct attributes *out, const char *text,
                          struct err *e);
/* Appends a JSON array of Mesos Attribute objects ({"name","type":"TEXT",
 * "text":{"value"}}, SCALAR, RANGES, SET); errors name the element
 * ("attributes[1].text.value: ..."); on error out is unchanged. */
int attributes_from_json(struct attributes *out, const json_t *arr,
                         struct err *e);
void attributes_write_json(struct jsonw *w, const struct attributes *a);
/* Appends "rack:r1;zone:2;..." to out ("" when empty). */
void attributes_format(struct buf *out, const struct attributes *a);
/* Writes the classic (v0 /state) map: text and scalar values as themselves,
 * ranges and sets in their text form ("[1-2]", "{a,b}"). */
void attributes_write_map(struct jsonw *w, const struct attributes *a);
/* The first attribute named name, or NULL. */
const struct attribute *attributes_find(const struct attributes *a,
                                        const char *name);

#endif
