/*
 * err.h: a human-readable error filled by parsers and validators. The text
 * names the field and the reason ("resources[2].scalar.value: must be >= 0,
 * got -1"); it is what a user sees in a 400 body or a TASK_ERROR message.
 */
#ifndef ATOLL_ERR_H
#define ATOLL_ERR_H

struct err {
	char msg[512];
};

/* Sets the message (printf-style) and returns -EINVAL for convenience. */
int err_set(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes the existing message with "prefix: ". */
int err_prefix(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
