/*
 * fuzz_resources.c: libFuzzer target for the resource and attribute
 * parsers and the resource arithmetic.
 *
 * The input is split at its first newline into two texts A and B. Each is
 * parsed as the text form (or JSON when it starts with '['); when both
 * parse, the arithmetic invariants are checked:
 *   - A + B contains A and B;
 *   - (A + B) - B is contained in A, and equals A exactly (same text
 *     form) when A and B share no range value or set item (ranges and
 *     sets add as unions, as in Mesos);
 *   - ((A + B) - B) + B == A + B (in any order);
 *   - A - A is empty and A contains A;
 *   - the JSON written for A parses back to A;
 *   - the text form of a text-parsed A parses back to A;
 *   - what is allocatable to a role is contained in A;
 *   - every parsed set keeps the representation invariants (ranges sorted
 *     and coalesced, set items sorted and unique, no empty entry).
 * The whole input is also fed to the attribute text parser and, when it
 * is JSON, to the JSON parsers. Any violation aborts.
 */
#include "lib/compat.h"

#include <jansson.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
			        "fuzz_resources: %s failed (line "             \
			        "%d)\n",                                       \
			        #cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static char *text_of(const struct resources *r)
{
	struct buf b = BUF_INIT;
	resources_format(&b, r);
	return buf_detach(&b, NULL);
}

static bool same(const struct resources *a, const struct resources *b)
{
	char *x = text_of(a), *y = text_of(b);
	bool eq = strcmp(x, y) == 0;
	free(x);
	free(y);
	return eq && resources_contains(a, b) && resources_contains(b, a);
}

/* Equal as sets of entries, in any order. */
static bool equal(const struct resources *a, const struct resources *b)
{
	return a->n == b->n && resources_contains(a, b) &&
	       resources_contains(b, a);
}

static bool streq_null(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Entries that must have been merged: every field but the value. */
static bool same_identity(const struct resource *a, const struct resource *b)
{
	if (a->type != b->type || strcmp(a->name, b->name) ||
	    strcmp(a->role, b->role) || !streq_null(a->alloc_role, b->alloc_role) ||
	    a->nreservations != b->nreservations ||
	    !streq_null(a->persistence_id, b->persistence_id) ||
	    !streq_null(a->persistence_principal, b->persistence_principal) ||
	    !streq_null(a->container_path, b->container_path) ||
	    a->volume_ro != b->volume_ro)
		return false;
	for (size_t i = 0; i < a->nreservations; i++) {
		const struct reservation *x = &a->reservations[i];
		const struct reservation *y = &b->reservations[i];
		if (x->type != y->type || strcmp(x->role, y->role) ||
		    !streq_null(x->principal, y->principal) ||
		    !streq_null(x->labels_json, y->labels_json))
			return false;
	}
	return true;
}

static void check_invariants(const struct resources *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct resource *x = &r->v[i];
		CHECK(x->name && x->role);
		/* no two mergeable entries (volumes never merge) */
		for (size_t k = 0; k < i; k++)
			CHECK(resource_is_persistent_volume(x) ||
			      !same_identity(&r->v[k], x));
		switch (x->type) {
		case RESOURCE_SCALAR:
			CHECK(x->scalar > 0);
			break;
		case RESOURCE_RANGES:
			CHECK(x->nranges > 0);
			for (size_t k = 0; k < x->nranges; k++) {
				CHECK(x->ranges[k].begin <= x->ranges[k].end);
				CHECK(x->ranges[k].end <= RES_RANGE_MAX);
				if (k)
					CHECK(x->ranges[k - 1].end <
					          x->ranges[k].begin &&
					      x->ranges[k - 1].end + 1 <
					          x->ranges[k].begin);
			}
			break;
		case RESOURCE_SET:
			CHECK(x->nitems > 0);
			for (size_t k = 1; k < x->nitems; k++)
				CHECK(strcmp(x->items[k - 1], x->items[k]) < 0);
			break;
		}
	}
}

static void check_json_round_trip(const struct resources *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	struct resources back;
	struct err e;
	json_t *j;

	jsonw_init(&w, &b);
	resources_write_json(&w, a);
	j = json_loads(b.data, 0, NULL);
	CHECK(j);
	resources_init(&back);
	CHECK(resources_from_json(&back, j, &e) == 0);
	CHECK(same(a, &back));
	resources_release(&back);
	json_decref(j);
	buf_release(&b);
}

static void check_text_round_trip(const struct resources *a)
{
	struct resources back;
	struct err e;
	char *t = text_of(a);

	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].alloc_role) /* no text syntax for it */
			goto out;
	resources_init(&back);
	CHECK(resources_parse_text(&back, t, NULL, &e) == 0);
	CHECK(same(a, &back));
	resources_release(&back);
out:
	free(t);
}

/*
 * True when a matching ranges or set entry of a and b share a value:
 * ranges and sets add as unions, so only then does (a + b) - b lose part
 * of a.
 */
static bool overlap(const struct resources *a, const struct resources *b)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct resource *x = &a->v[i];
		for (size_t k = 0; k < b->n; k++) {
			const struct resource *y = &b->v[k];
			if (x->type != y->type || strcmp(x->name, y->name) ||
			    strcmp(x->role, y->role) ||
			    !(x->alloc_role == y->alloc_role ||
			      streq(x->alloc_role, y->alloc_role)))
				continue;
			for (size_t p = 0; p < x->nranges; p++)
				for (size_t q = 0; q < y->nranges; q++)
					if (x->ranges[p].begin <=
					        y->ranges[q].end &&
					    y->ranges[q].begin <=
					        x->ranges[p].end)
						return true;
			for (size_t p = 0; p < x->nitems; p++)
				for (size_t q = 0; q < y->nitems; q++)
					if (!strcmp(x->items[p], y->items[q]))
						return true;
		}
	}
	return false;
}

static void check_arithmetic(const struct resources *a,
                             const struct resources *b)
{
	struct resources sum, diff, part;

	resources_init(&sum);
	resources_add(&sum, a);
	resources_add(&sum, b);
	check_invariants(&sum);
	CHECK(resources_contains(&sum, a));
	CHECK(resources_contains(&sum, b));

	resources_copy(&diff, &sum);
	CHECK(resources_subtract(&diff, b) == 0);
	check_invariants(&diff);
	CHECK(resources_contains(a, &diff));
	if (!overlap(a, b))
		CHECK(same(&diff, a));
	resources_add(&diff, b);
	CHECK(equal(&diff, &sum)); /* the order of entries may differ */
	resources_release(&diff);

	resources_copy(&diff, a);
	CHECK(resources_contains(&diff, a));
	CHECK(resources_subtract(&diff, a) == 0);
	CHECK(resources_is_empty(&diff));
	CHECK(diff.n == 0);
	/* b - (a + b) succeeds only when a adds nothing */
	resources_copy(&part, b);
	if (resources_subtract(&part, &sum) == 0)
		CHECK(resources_contains(b, a));
	else
		CHECK(same(&part, b));
	resources_release(&part);
	resources_release(&diff);

	resources_init(&part);
	resources_allocatable_to(&part, &sum, "eng/web");
	CHECK(resources_contains(&sum, &part));
	resources_release(&part);
	resources_init(&part);
	resources_scalars_by_name(&part, &sum);
	for (size_t i = 0; i < part.n; i++)
		CHECK(resources_scalar(&part, part.v[i].name) ==
		      resources_scalar(&sum, part.v[i].name));
	resources_release(&part);
	resources_release(&sum);
}

/* Parses text; returns true on success. from_text says it was not JSON. */
static bool parse(struct resources *r, const char *text, bool *from_text)
{
	struct err e;
	const char *p = text;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	*from_text = *p != '[';
	resources_init(r);
	if (resources_parse_text(r, text, NULL, &e)) {
		CHECK(r->n == 0);
		CHECK(e.msg[0] != '\0');
		return false;
	}
	check_invariants(r);
	return true;
}

static void fuzz_attributes(const char *text, const uint8_t *data, size_t size)
{
	struct attributes a;
	struct err e;
	json_t *j;

	attributes_init(&a);
	if (attributes_parse_text(&a, text, &e) == 0) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		jsonw_init(&w, &b);
		attributes_write_json(&w, &a);
		j = json_loads(b.data, 0, NULL);
		CHECK(j);
		json_decref(j);
		attributes_format(&b, &a);
		buf_release(&b);
	}
	attributes_release(&a);

	j = json_loadb((const char *)data, size, 0, NULL);
	if (j) {
		struct resources r;
		resources_init(&r);
		if (resources_from_json(&r, j, &e) == 0) {
			check_invariants(&r);
			check_json_round_trip(&r);
		}
		resources_release(&r);
		if (attributes_from_json(&a, j, &e) == 0) {
			struct buf b = BUF_INIT;
			struct jsonw w;
			json_t *back;
			jsonw_init(&w, &b);
			attributes_write_json(&w, &a);
			back = json_loads(b.data, 0, NULL);
			CHECK(back);
			json_decref(back);
			buf_release(&b);
		}
		attributes_release(&a);
		json_decref(j);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *all = xstrndup((const char *)data, size);
	char *nl = strchr(all, '\n');
	const char *ta = all, *tb = "";
	struct resources a, b;
	bool a_ok, b_ok, a_text, b_text;

	if (nl) {
		*nl = '\0';
		tb = nl + 1;
	}
	a_ok = parse(&a, ta, &a_text);
	b_ok = parse(&b, tb, &b_text);
	if (a_ok) {
		check_json_round_trip(&a);
		if (a_text)
			check_text_round_trip(&a);
	}
	if (a_ok && b_ok) {
		check_arithmetic(&a, &b);
		check_arithmetic(&b, &a);
	}
	resources_release(&a);
	resources_release(&b);
	if (nl)
		*nl = '\n';
	fuzz_attributes(all, data, size);
	free(all);
	return 0;
}
