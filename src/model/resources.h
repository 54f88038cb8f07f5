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
 * and the reservation stack of Mesos's "refined" format:
 *   "reservations":[{"type":"STATIC"|"DYNAMIC","role":"r",
 *                    "principal":"p","labels":{"labels":[{"key":..}]}}]
 * (bottom first; the last reservation's role is the resource's role). The
 * pre-refinement form is read too: "role":"r" alone is a STATIC
 * reservation, "role":"r" with "reservation":{"principal","labels"} a
 * DYNAMIC one. Persistent volumes are disk resources with
 *   "disk":{"persistence":{"id":"v1","principal":"p"},
 *           "volume":{"container_path":"data","mode":"RW"|"RO"}}
 *
 * Identity. Two resources match (and merge on add) when name, type,
 * reservation stack (type, role, principal, labels of every level),
 * allocation role and disk info are equal. A persistent volume never
 * merges: it is indivisible, so add keeps one entry per volume, contains
 * needs an equal entry for each volume asked, and subtract removes whole
 * equal entries only (Mesos's non-shared volumes).
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
/* Longest persistence id, principal or container path accepted. */
#define RES_ID_MAX 255
#define RES_PATH_MAX 1024

#define RES_MUST_CHECK __attribute__((warn_unused_result))

enum resource_type { RESOURCE_SCALAR, RESOURCE_RANGES, RESOURCE_SET };

struct value_range {
	uint64_t begin, end; /* inclusive */
};

enum reservation_type { RESERVATION_STATIC, RESERVATION_DYNAMIC };

/* One level of a reservation stack (Mesos's ReservationInfo). */
struct reservation {
	enum reservation_type type;
	char *role;        /* never NULL, never "*" */
	char *principal;   /* NULL = none */
	char *labels_json; /* compact {"labels":[...]} (sorted keys), or NULL */
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
	/*
	 * The reservation stack, bottom first; its last role equals role.
	 * Parsers always fill it; an entry built by hand with a role and no
	 * stack counts as one STATIC reservation to role.
	 */
	struct reservation *reservations;
	size_t nreservations;
	/* Persistent volume (disk only): both set or both NULL. */
	char *persistence_id;
	char *persistence_principal; /* NULL = none */
	char *container_path;        /* volume.container_path, relative */
	bool volume_ro;              /* volume.mode RO (else RW) */
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
 * "reservations" (the whole stack: type, role, principal, labels) when
 * reserved, "allocation_info" when allocated and "disk" for persistent
 * volumes. Scalars are written exactly (0.1, not 0.10000000000000001). */
void resources_write_json(struct jsonw *w, const struct resources *r);
/* Appends the text form to out (for logs and the CLI), "" when empty.
 * An allocation role shows as "cpus(allocated: dev):1", a stack other
 * than one STATIC reservation as "cpus(reservations: [(STATIC,a),
 * (DYNAMIC,a/b,principal)]):1" and a volume as "disk(r)[id:path]:10";
 * the parser reads none of these back. Other text parses back to r. */
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

/* ---- reservations and persistent volumes ---------------------------- */

/* A disk resource with a persistence id. */
bool resource_is_persistent_volume(const struct resource *r);
/* Some level of r's reservation stack is DYNAMIC. */
bool resource_is_dynamically_reserved(const struct resource *r);

/*
 * Offer operations on resources (Mesos's Offer.Operation types that change
 * resources, and the operator's RESERVE_RESOURCES ... DESTROY_VOLUMES).
 * Each converts part of a set into something else of the same quantity:
 *   RESERVE    consumes res without their top (DYNAMIC) reservation,
 *              produces res;
 *   UNRESERVE  consumes res (top reservation DYNAMIC, not a volume),
 *              produces them without that reservation;
 *   CREATE     consumes res without persistence and volume (reserved
 *              disk), produces the volumes res;
 *   DESTROY    consumes the volumes res, produces the plain disk.
 */
enum resources_op { RES_OP_RESERVE, RES_OP_UNRESERVE, RES_OP_CREATE,
                    RES_OP_DESTROY };

/* "RESERVE", "UNRESERVE", "CREATE", "DESTROY". */
const char *resources_op_name(enum resources_op op);

/*
 * Checks that res is well formed for op, without looking at any total:
 * RESERVE and UNRESERVE need a DYNAMIC top reservation and no volume (a
 * refined reservation's role must be a descendant of the one below);
 * CREATE needs reserved disk scalars with a persistence id and a volume,
 * ids unique within res per role; DESTROY needs volumes. res must not be
 * empty. Messages name the entry: "resources[1]: ...". Returns 0 or
 * -EINVAL with e set.
 */
int resources_op_validate(enum resources_op op, const struct resources *res,
                          struct err *e) RES_MUST_CHECK;

/*
 * Applies op to total: total -= consumed, total += produced (see above),
 * after resources_op_validate(). CREATE also refuses a persistence id that
 * total already holds for the same role. Allocation roles are compared as
 * they are (pass res with the allocation roles of total's entries, or
 * none for an agent's total). Returns 0, or -EINVAL (bad shape, e names
 * the entry), -EEXIST (CREATE of a persistence id total holds for the
 * role) or -ENOENT (total does not hold what op consumes, e says what is
 * missing); total is unchanged on error.
 */
int resources_apply_op(struct resources *total, enum resources_op op,
                       const struct resources *res,
                       struct err *e) RES_MUST_CHECK;

/* Appends to consumed and produced what op takes and makes of res (see
 * above; res as given, allocation roles kept). */
void resources_op_sides(enum resources_op op, const struct resources *res,
                        struct resources *consumed,
                        struct resources *produced);

/*
 * The static form of r appended to out: every DYNAMIC reservation popped
 * and persistence and volume dropped (what an agent's --resources gave
 * before any operation).
 */
void resources_flatten_static(struct resources *out,
                              const struct resources *r);
/* Appends to out the entries of r an agent checkpoints: those with a
 * DYNAMIC reservation or a persistent volume. */
void resources_checkpointed(struct resources *out, const struct resources *r);
/*
 * Rebuilds a total from static resources and a checkpointed set:
 * total := flatten_static(total), then each checkpointed entry replaces
 * its static form. Returns 0, or -ENOENT with e set (and total unchanged)
 * when the checkpointed resources do not fit in the static ones (the
 * agent's --resources shrank).
 */
int resources_apply_checkpointed(struct resources *total,
                                 const struct resources *ckpt,
                                 struct err *e) RES_MUST_CHECK;
/* True when a and b hold the same entries (order aside). */
bool resources_equal(const struct resources *a, const struct resources *b);

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
