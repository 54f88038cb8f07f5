/*
 * hmap.h: an intrusive hash map keyed by strings. Objects embed a struct
 * hmap_node whose key points at the object's own id string (which must
 * stay unchanged while the node is in the map). Chained buckets; the table
 * doubles when the load passes 1, so lookups stay O(1) at 100k entries.
 * Iteration order is unspecified; removing the current node while
 * iterating with HMAP_FOR_EACH_SAFE is allowed.
 */
#ifndef ATOLL_HMAP_H
#define ATOLL_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_node {
	struct hmap_node *next;
	uint64_t hash;
	const char *key;
};

struct hmap {
	struct hmap_node **buckets;
	size_t nbuckets; /* power of two, or 0 */
	size_t count;
};

void hmap_init(struct hmap *m);
/* Frees the table only; the objects are the caller's. */
void hmap_release(struct hmap *m);
uint64_t hmap_hash(const char *key);
/* Inserts node with node->key already set. The key must not be present. */
void hmap_insert(struct hmap *m, struct hmap_node *node);
struct hmap_node *hmap_find(const struct hmap *m, const char *key);
/* Removes node (which must be in m). */
void hmap_remove(struct hmap *m, struct hmap_node *node);

#define hmap_entry(node, type, member)                                         \
	((node) ? container_of((node), type, member) : NULL)

/* Iterates nodes; n is a struct hmap_node *, tmp another and i a size_t. */
#define HMAP_FOR_EACH_SAFE(m, i, n, tmp)                                       \
	for ((i) = 0; (i) < (m)->nbuckets; (i)++)                              \
		for ((n) = (m)->buckets[i], (tmp) = (n) ? (n)->next : NULL;    \
		     (n); (n) = (tmp), (tmp) = (n) ? (n)->next : NULL)

#endif
