/*
 * list.h: intrusive circular doubly-linked list (the kernel's list_head).
 * Header-only; an empty list points at itself.
 */
#ifndef ATOLL_LIST_H
#define ATOLL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *prev, *next;
};

static inline void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first(head, type, member)                                         \
	(list_empty(head) ? NULL : list_entry((head)->next, type, member))
#define LIST_FOR_EACH_SAFE(pos, tmp, head)                                     \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);       \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
