/*
 * hmap.c: intrusive string-keyed hash map (FNV-1a, chained, power-of-two
 * table that doubles at load factor 1).
 */
#include "lib/compat.h"
#include "lib/hmap.h"

void hmap_init(struct hmap *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void hmap_release(struct hmap *m)
{
	free(m->buckets);
	hmap_init(m);
}

uint64_t hmap_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h;
}

static void hmap_resize(struct hmap *m, size_t n)
{
	struct hmap_node **nb = xcalloc(n, sizeof(*nb));
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *node = m->buckets[i], *next;
		for (; node; node = next) {
			next = node->next;
			size_t b = node->hash & (n - 1);
			node->next = nb[b];
			nb[b] = node;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

void hmap_insert(struct hmap *m, struct hmap_node *node)
{
	if (m->count + 1 > m->nbuckets)
		hmap_resize(m, m->nbuckets ? m->nbuckets * 2 : 16);
	node->hash = hmap_hash(node->key);
	size_t b = node->hash & (m->nbuckets - 1);
	node->next = m->buckets[b];
	m->buckets[b] = node;
	m->count++;
}

struct hmap_node *hmap_find(const struct hmap *m, const char *key)
{
	if (!m->nbuckets || !key)
		return NULL;
	uint64_t h = hmap_hash(key);
	for (struct hmap_node *n = m->buckets[h & (m->nbuckets - 1)]; n;
	     n = n->next)
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

void hmap_remove(struct hmap *m, struct hmap_node *node)
{
	size_t b = node->hash & (m->nbuckets - 1);
	struct hmap_node **pp = &m->buckets[b];
	while (*pp && *pp != node)
		pp = &(*pp)->next;
	BUG_ON(!*pp);
	*pp = node->next;
	node->next = NULL;
	m->count--;
}
