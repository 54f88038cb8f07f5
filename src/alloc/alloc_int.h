/*
 * alloc_int.h: private building blocks of the allocator (not for other
 * modules; the unit tests use them directly).
 *
 * alloc_sorter: an intrusive ordered set (a treap) of clients keyed by
 * (share, name). The allocator keeps one per role for its frameworks and
 * one per role-tree node for its children, and moves one client in
 * O(log n) when its share changes. Iteration in order is first/next.
 * Treap priorities come from a hash of the name, so the shape (and thus
 * everything built on it) is deterministic.
 *
 * alloc_ptab: an open-addressing hash table keyed by a pair of pointers
 * (framework x agent, role membership x agent), linear probing with
 * backward-shift deletion so lookups never walk tombstones.
 */
#ifndef ATOLL_ALLOC_INT_H
#define ATOLL_ALLOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alloc_sorter_node {
	struct alloc_sorter_node *left, *right, *parent;
	uint64_t prio;    /* heap order: a parent's prio >= its children's */
	double key;       /* the client's (weighted) share */
	const char *name; /* tie breaker; unique in one sorter, borrowed */
};

struct alloc_sorter {
	struct alloc_sorter_node *root;
	size_t count;
};

void alloc_sorter_init(struct alloc_sorter *s);
/* Prepares n for insertion: name (borrowed, must outlive n), key 0. */
void alloc_sorter_node_init(struct alloc_sorter_node *n, const char *name);
/* Inserts n (not in any sorter) at the place of (n->key, n->name). */
void alloc_sorter_insert(struct alloc_sorter *s, struct alloc_sorter_node *n);
/* Removes n, which must be in s. */
void alloc_sorter_remove(struct alloc_sorter *s, struct alloc_sorter_node *n);
/* Gives n (which must be in s) a new key and moves it to its place. */
void alloc_sorter_update(struct alloc_sorter *s, struct alloc_sorter_node *n,
                         double key);
/* The smallest client, or NULL when s is empty. */
struct alloc_sorter_node *alloc_sorter_first(const struct alloc_sorter *s);
/* The client after n in order, or NULL. */
struct alloc_sorter_node *alloc_sorter_next(const struct alloc_sorter_node *n);
/* Orders by key, then by name (strcmp). */
int alloc_sorter_cmp(const struct alloc_sorter_node *a,
                     const struct alloc_sorter_node *b);

struct alloc_ptab_slot {
	const void *a, *b; /* a == NULL: free slot */
	void *value;
};

struct alloc_ptab {
	struct alloc_ptab_slot *v;
	size_t cap; /* power of two or 0; load kept <= 1/2 */
	size_t count;
};

void alloc_ptab_init(struct alloc_ptab *t);
void alloc_ptab_release(struct alloc_ptab *t);
/* The value stored for (a, b), or NULL. a and b must not be NULL. */
void *alloc_ptab_get(const struct alloc_ptab *t, const void *a, const void *b);
/* Stores value for (a, b), which must not be present yet. */
void alloc_ptab_put(struct alloc_ptab *t, const void *a, const void *b,
                    void *value);
/* Removes (a, b) if present. */
void alloc_ptab_del(struct alloc_ptab *t, const void *a, const void *b);

#endif
