/*
 * store.c: the store API of store.h, dispatched to a backend by the path
 * given to store_open(): "zk://hosts/path" -> ZooKeeper (store_zk.c),
 * anything else -> a SQLite file (store_sqlite.c). Also the argument
 * checks both backends share (store_int.h).
 *
 * Invariant: a struct store is always a backend's (its ops are set before
 * the open returns it); this file never looks inside a backend. The only
 * check made here is the NULL store, with the same message everywhere.
 */
#include "lib/compat.h"
#include "lib/store.h"

#include "lib/err.h"
#include "lib/store_int.h"
#include "lib/zk.h"

bool store_is_utf8(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	while (*u) {
		unsigned c = *u, cp, min;
		size_t n;

		if (c < 0x80) {
			u++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		/* A NUL fails the continuation test: no read past the end. */
		for (size_t i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		u += n + 1;
	}
	return true;
}

int store_check_name(const struct store *s, const char *field, const char *v,
                     struct err *e)
{
	if (!v || !*v)
		return err_set(e, "store '%s': %s: must not be empty", s->path,
		               field);
	if (!store_is_utf8(v))
		return err_set(e, "store '%s': %s: must be valid UTF-8",
		               s->path, field);
	return 0;
}

int store_open_opts(const char *path, const struct store_opts *opts,
                    struct store **out, struct err *e)
{
	if (!out)
		return err_set(e, "store: out must not be NULL");
	*out = NULL;
	if (!path || !*path)
		return err_set(e, "store: path must not be empty");
	if (zk_url_is_zk(path))
		return store_zk_open(path, opts, out, e);
	return store_sqlite_open(path, out, e);
}

int store_open(const char *path, struct store **out, struct err *e)
{
	return store_open_opts(path, NULL, out, e);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_put(struct store *s, const char *ns, const char *key, const void *val,
              size_t len, struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->put(s, ns, key, val, len, e);
}

int store_get(struct store *s, const char *ns, const char *key, char **val,
              size_t *len, struct err *e)
{
	if (val)
		*val = NULL;
	if (len)
		*len = 0;
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->get(s, ns, key, val, len, e);
}

int store_delete(struct store *s, const char *ns, const char *key,
                 struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->del(s, ns, key, e);
}

int store_scan(struct store *s, const char *ns, store_scan_fn *fn, void *arg,
               struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->scan(s, ns, fn, arg, e);
}

int64_t store_count(struct store *s, const char *ns, struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->count(s, ns, e);
}

int store_begin(struct store *s, struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->begin(s, e);
}

int store_commit(struct store *s, struct err *e)
{
	if (!s)
		return err_set(e, "store: NULL store");
	return s->ops->commit(s, e);
}

void store_rollback(struct store *s)
{
	if (s)
		s->ops->rollback(s);
}

bool store_in_transaction(const struct store *s)
{
	return s && s->ops->in_transaction(s);
}

const char *store_path(const struct store *s)
{
	return s ? s->path : NULL;
}
