/*
 * alloc_sorter.c: the allocator's ordered sets of clients (see
 * alloc_int.h), a treap with parent pointers.
 *
 * Invariants: in-order traversal is ascending by alloc_sorter_cmp (share,
 * then name); every node's prio is >= its children's (a max-heap), which
 * keeps the expected depth O(log n). prio is a mixed hash of the name, so
 * the same clients always give the same shape: no randomness, reproducible
 * tests. Removal rotates the node down to a leaf and cuts it off; updates
 * are a removal and an insertion, so no operation needs more than O(depth)
 * steps and none allocates memory.
 */
#include "lib/compat.h"
#include "alloc/alloc_int.h"
#include "lib/hmap.h"

/* A 64-bit finaliser (splitmix64) over the FNV hash of the name, so that
 * names differing in one trailing digit get unrelated priorities. */
static uint64_t alloc_sorter_prio(const char *name)
{
	uint64_t z = hmap_hash(name) + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void alloc_sorter_init(struct alloc_sorter *s)
{
	s->root = NULL;
	s->count = 0;
}

void alloc_sorter_node_init(struct alloc_sorter_node *n, const char *name)
{
	n->left = n->right = n->parent = NULL;
	n->name = name;
	n->key = 0;
	n->prio = alloc_sorter_prio(name);
}

int alloc_sorter_cmp(const struct alloc_sorter_node *a,
                     const struct alloc_sorter_node *b)
{
	if (a->key < b->key)
		return -1;
	if (a->key > b->key)
		return 1;
	return strcmp(a->name, b->name);
}

/* Replaces old (a child of parent, or the root) by n in the tree. */
static void alloc_sorter_relink(struct alloc_sorter *s,
                                struct alloc_sorter_node *parent,
                                const struct alloc_sorter_node *old,
                                struct alloc_sorter_node *n)
{
	if (!parent)
		s->root = n;
	else if (parent->left == old)
		parent->left = n;
	else
		parent->right = n;
	if (n)
		n->parent = parent;
}

/* Rotates x above its parent, keeping the in-order sequence. */
static void alloc_sorter_rotate_up(struct alloc_sorter *s,
                                   struct alloc_sorter_node *x)
{
	struct alloc_sorter_node *p = x->parent, *g = p->parent;

	if (p->left == x) {
		p->left = x->right;
		if (x->right)
			x->right->parent = p;
		x->right = p;
	} else {
		p->right = x->left;
		if (x->left)
			x->left->parent = p;
		x->left = p;
	}
	p->parent = x;
	alloc_sorter_relink(s, g, p, x);
}

void alloc_sorter_insert(struct alloc_sorter *s, struct alloc_sorter_node *n)
{
	struct alloc_sorter_node **link = &s->root, *parent = NULL;

	while (*link) {
		parent = *link;
		link = alloc_sorter_cmp(n, parent) < 0 ? &parent->left
		                                       : &parent->right;
	}
	n->left = n->right = NULL;
	n->parent = parent;
	*link = n;
	while (n->parent && n->parent->prio < n->prio)
		alloc_sorter_rotate_up(s, n);
	s->count++;
}

void alloc_sorter_remove(struct alloc_sorter *s, struct alloc_sorter_node *n)
{
	while (n->left && n->right)
		alloc_sorter_rotate_up(
		    s, n->left->prio > n->right->prio ? n->left : n->right);
	/* At most one child left: splice n out. */
	alloc_sorter_relink(s, n->parent, n, n->left ? n->left : n->right);
	n->left = n->right = n->parent = NULL;
	s->count--;
}

void alloc_sorter_update(struct alloc_sorter *s, struct alloc_sorter_node *n,
                         double key)
{
	if (n->key == key)
		return;
	alloc_sorter_remove(s, n);
	n->key = key;
	alloc_sorter_insert(s, n);
}

struct alloc_sorter_node *alloc_sorter_first(const struct alloc_sorter *s)
{
	struct alloc_sorter_node *n = s->root;

	if (!n)
		return NULL;
	while (n->left)
		n = n->left;
	return n;
}

struct alloc_sorter_node *alloc_sorter_next(const struct alloc_sorter_node *n)
{
	if (n->right) {
		n = n->right;
		while (n->left)
			n = n->left;
		return (struct alloc_sorter_node *)n;
	}
	while (n->parent && n->parent->right == n)
		n = n->parent;
	return n->parent;
}
