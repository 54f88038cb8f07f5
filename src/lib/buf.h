/*
 * buf.h: a growable byte buffer (git's strbuf, smaller). data is always
 * NUL-terminated after the len bytes, so a buf holding text is a C string.
 * An embedded struct buf starts zeroed or with buf_init().
 */
#ifndef ATOLL_BUF_H
#define ATOLL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void buf_init(struct buf *b);
void buf_release(struct buf *b);
/* Makes room for n more bytes without changing len. */
void buf_grow(struct buf *b, size_t n);
void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Returns the heap string and leaves b empty; the caller frees it. */
char *buf_detach(struct buf *b, size_t *len);

#endif
