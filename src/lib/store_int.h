/*
 * store_int.h: private interface between the store dispatcher (store.c)
 * and its backends (store_sqlite.c, store_zk.c). Nothing outside
 * src/lib/store*.c and the store's unit tests includes it.
 *
 * A backend embeds struct store as the first member of its own struct,
 * fills in base.ops and base.path, and reaches its struct again with
 * container_of(). The dispatcher handles NULL stores and otherwise calls
 * the backend; every other check (arguments, transaction state, scans in
 * progress) is the backend's, so each backend keeps the exact semantics
 * store.h documents.
 */
#ifndef ATOLL_STORE_INT_H
#define ATOLL_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/store.h"

struct buf;
struct err;

/* The operations of one backend; each has the semantics of the store_*
 * function of the same name, with s never NULL. */
struct store_ops {
	const char *name; /* "sqlite", "zookeeper" */
	/* Releases everything, the struct store included. */
	void (*close)(struct store *s);
	int (*put)(struct store *s, const char *ns, const char *key,
	           const void *val, size_t len, struct err *e);
	int (*get)(struct store *s, const char *ns, const char *key, char **val,
	           size_t *len, struct err *e);
	int (*del)(struct store *s, const char *ns, const char *key,
	           struct err *e);
	int (*scan)(struct store *s, const char *ns, store_scan_fn *fn,
	            void *arg, struct err *e);
	int64_t (*count)(struct store *s, const char *ns, struct err *e);
	int (*begin)(struct store *s, struct err *e);
	int (*commit)(struct store *s, struct err *e);
	void (*rollback)(struct store *s);
	bool (*in_transaction)(const struct store *s);
};

struct store {
	const struct store_ops *ops;
	char *path; /* as given to store_open(); owned by the backend */
};

/* ---- helpers shared by the backends (store.c) ---- */

/* Whether p is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool store_is_utf8(const char *p);
/*
 * Validates a namespace or key argument named field ("namespace", "key"):
 * non-NULL, non-empty, valid UTF-8. -EINVAL with e naming the store's path
 * and the field otherwise.
 */
int store_check_name(const struct store *s, const char *field, const char *v,
                     struct err *e) __attribute__((warn_unused_result));

/* ---- backends ---- */

/* Opens the SQLite store at path (a file name); see store.h. */
int store_sqlite_open(const char *path, struct store **out, struct err *e)
    __attribute__((warn_unused_result));
/*
 * Opens the ZooKeeper store at url ("zk://hosts/path"); opts may be NULL
 * (defaults). See store.h and the top of store_zk.c.
 */
int store_zk_open(const char *url, const struct store_opts *opts,
                  struct store **out, struct err *e)
    __attribute__((warn_unused_result));

/*
 * The znode name of a namespace or key (exported for the unit tests):
 * bytes in [A-Za-z0-9._-] stand for themselves, every other byte is %XX
 * (upper-case hex), and the names "." and ".." (which ZooKeeper refuses)
 * are written "%2E" and "%2E%2E". Appends to out.
 */
void store_zk_escape(struct buf *out, const char *name);
/*
 * The inverse of store_zk_escape(): decodes znode into a fresh heap
 * string *out (the caller frees it). Only the canonical form is accepted:
 * a znode name that store_zk_escape() would not have produced (bad or
 * lower-case hex, a byte that should have been escaped, an escaped byte
 * that should not, %00, invalid UTF-8 once decoded, empty) is -EILSEQ and
 * *out is NULL.
 */
int store_zk_unescape(const char *znode, char **out)
    __attribute__((warn_unused_result));

#endif
