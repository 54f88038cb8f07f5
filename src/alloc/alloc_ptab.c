/*
 * alloc_ptab.c: hash table keyed by a pair of pointers (see alloc_int.h).
 *
 * Open addressing with linear probing; the table doubles before the load
 * passes 1/2. Deletion shifts later members of the probe run back into
 * the hole (no tombstones), so the invariant "every key sits between its
 * home slot and the first free slot after it" always holds and a lookup
 * stops at the first free slot.
 */
#include "lib/compat.h"
#include "alloc/alloc_int.h"

static size_t alloc_ptab_hash(const void *a, const void *b)
{
	uint64_t x = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ull;
	uint64_t y = (uint64_t)(uintptr_t)b * 0xc2b2ae3d27d4eb4full;
	uint64_t z = x ^ (y + (x >> 29));

	z ^= z >> 32;
	z *= 0xd6e8feb86659fd93ull;
	z ^= z >> 32;
	return (size_t)z;
}

void alloc_ptab_init(struct alloc_ptab *t)
{
	t->v = NULL;
	t->cap = 0;
	t->count = 0;
}

void alloc_ptab_release(struct alloc_ptab *t)
{
	free(t->v);
	alloc_ptab_init(t);
}

/* The slot holding (a, b), or the free slot where it would go. */
static size_t alloc_ptab_slot(const struct alloc_ptab *t, const void *a,
                              const void *b)
{
	size_t mask = t->cap - 1, i = alloc_ptab_hash(a, b) & mask;

	while (t->v[i].a && (t->v[i].a != a || t->v[i].b != b))
		i = (i + 1) & mask;
	return i;
}

static void alloc_ptab_resize(struct alloc_ptab *t, size_t cap)
{
	struct alloc_ptab_slot *old = t->v;
	size_t oldcap = t->cap;

	t->v = xcalloc(cap, sizeof(*t->v));
	t->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].a)
			t->v[alloc_ptab_slot(t, old[i].a, old[i].b)] = old[i];
	free(old);
}

void *alloc_ptab_get(const struct alloc_ptab *t, const void *a, const void *b)
{
	if (!t->count)
		return NULL;
	return t->v[alloc_ptab_slot(t, a, b)].value;
}

void alloc_ptab_put(struct alloc_ptab *t, const void *a, const void *b,
                    void *value)
{
	size_t i;

	BUG_ON(!a || !b);
	if ((t->count + 1) * 2 > t->cap)
		alloc_ptab_resize(t, t->cap ? t->cap * 2 : 16);
	i = alloc_ptab_slot(t, a, b);
	BUG_ON(t->v[i].a);
	t->v[i].a = a;
	t->v[i].b = b;
	t->v[i].value = value;
	t->count++;
}

void alloc_ptab_del(struct alloc_ptab *t, const void *a, const void *b)
{
	size_t mask, i, j;

	if (!t->count)
		return;
	mask = t->cap - 1;
	i = alloc_ptab_slot(t, a, b);
	if (!t->v[i].a)
		return;
	/* Walk the rest of the run; move back every member whose home is
	 * not strictly between the hole and its current slot. */
	for (j = (i + 1) & mask; t->v[j].a; j = (j + 1) & mask) {
		size_t home = alloc_ptab_hash(t->v[j].a, t->v[j].b) & mask;
		bool stays =
		    i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		t->v[i] = t->v[j];
		i = j;
	}
	t->v[i].a = t->v[i].b = NULL;
	t->v[i].value = NULL;
	t->count--;
}
