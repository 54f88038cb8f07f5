/*
 * compat.h: included first by every .c file of Atoll.
 *
 * Common includes, the few macros every module uses, allocation helpers that
 * abort on out-of-memory (so no other allocation NULL checks are needed), and
 * banned.h, which turns unsafe libc calls into compile errors.
 */
#ifndef ATOLL_COMPAT_H
#define ATOLL_COMPAT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* BUG_ON is for broken internal invariants only, never for input. */
#define BUG_ON(cond)                                                           \
	do {                                                                   \
		if (cond)                                                      \
			compat_bug(__FILE__, __LINE__, #cond);                 \
	} while (0)

void compat_bug(const char *file, int line, const char *what)
    __attribute__((noreturn));

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Heap-allocated printf; aborts on out-of-memory. */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Grows an array of elements of size elem so that it holds at least need. */
#define ALLOC_GROW(ptr, need, cap)                                             \
	do {                                                                   \
		if ((need) > (cap)) {                                          \
			size_t nc_ = (cap) ? (cap)*2 : 8;                      \
			while (nc_ < (need))                                   \
				nc_ *= 2;                                      \
			(ptr) = xrealloc((ptr), nc_ * sizeof(*(ptr)));         \
			(cap) = nc_;                                           \
		}                                                              \
	} while (0)

static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

#include "lib/banned.h"

#endif
