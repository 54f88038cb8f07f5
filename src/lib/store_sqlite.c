/*
 * store_sqlite.c: the SQLite backend of the store (store.h): the durable
 * key-value store on an embedded SQLite database, for every path that is
 * not a zk:// URL (store.c dispatches; store_int.h is the interface).
 *
 * Schema (version STORE_SCHEMA_VERSION):
 *   meta(name TEXT PRIMARY KEY, value)              WITHOUT ROWID
 *        one row name='schema_version', value=<integer>
 *   kv(ns TEXT, key TEXT, val BLOB, PRIMARY KEY(ns, key)) WITHOUT ROWID
 * The primary key orders keys bytewise (BINARY collation), which is the
 * order store_scan() promises. A database with tables but no meta table is
 * somebody else's database and is refused (-EILSEQ), as is a schema version
 * newer than this code knows: we never write to what we do not understand.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so a commit that
 * returned fsync()ed its WAL frames. busy_timeout is short because nobody
 * else should ever hold a SQLite lock on our file (see ownership).
 *
 * Ownership: store_open() takes flock(LOCK_EX|LOCK_NB) on the sidecar
 * "<path>.lock" and keeps that fd until store_close(). The kernel drops the
 * lock when the process dies, however it dies, so a crashed daemon never
 * blocks its successor, and two daemons (or two opens in one process) never
 * share a database. The lock file is never unlinked (unlinking lock files
 * races with a concurrent opener).
 *
 * Files: the database is created by us with mode 0600 before SQLite opens
 * it; SQLite gives its -wal and -shm files the mode of the database. Every
 * fd is close-on-exec: ours by O_CLOEXEC, SQLite's because its unix VFS
 * opens with O_CLOEXEC (test_store.c checks /proc/self/fd).
 *
 * Statements are prepared once at open (SQLITE_PREPARE_PERSISTENT) and
 * reset after each use, so no statement holds a read transaction between
 * calls. Parameters are bound SQLITE_STATIC and cleared after the step.
 *
 * Transactions:
 *
 *             store_begin()                 write fails
 *   IDLE  ------------------->  IN_TX  ------------------->  IN_TX, failed
 *     ^                          |                            |
 *     |   store_commit() (ok     |                            |
 *     |   or failed: rolled back)|                            |
 *     +--------------------------+                            |
 *     |   store_rollback()                                    |
 *     +-------------------------------------------------------+
 *         store_rollback(), or store_commit() (rolls back and
 *         returns the first error)
 *
 * In the failed state further writes are refused, so a caller that ignores
 * one error can never commit half of a logical change. SQLite may itself
 * roll a transaction back on SQLITE_FULL or an I/O error; we notice that
 * (sqlite3_get_autocommit()) and never let later writes of the
 * transaction silently autocommit one by one. Outside a transaction a
 * failed write is undone by SQLite's statement rollback, and we make sure
 * no implicit transaction stays open.
 */
#include "lib/compat.h"
#include "lib/store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/store_int.h"

/* The newest schema this code reads and writes. */
#define STORE_SCHEMA_VERSION 1
/* Milliseconds SQLite waits for a lock held by another connection. */
#define STORE_BUSY_TIMEOUT_MS 100

enum store_stmt {
	STORE_PUT,
	STORE_GET,
	STORE_DELETE,
	STORE_SCAN,
	STORE_COUNT,
	STORE_BEGIN,
	STORE_COMMIT,
	STORE_ROLLBACK,
	STORE_NSTMT
};

static const char *const store_sqlite_sql[STORE_NSTMT] = {
    [STORE_PUT] = "INSERT OR REPLACE INTO kv(ns, key, val) VALUES(?1, ?2, ?3)",
    [STORE_GET] = "SELECT val FROM kv WHERE ns = ?1 AND key = ?2",
    [STORE_DELETE] = "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
    [STORE_SCAN] = "SELECT key, val FROM kv WHERE ns = ?1 ORDER BY key",
    [STORE_COUNT] = "SELECT count(*) FROM kv WHERE ns = ?1",
    [STORE_BEGIN] = "BEGIN IMMEDIATE",
    [STORE_COMMIT] = "COMMIT",
    [STORE_ROLLBACK] = "ROLLBACK",
};

struct store_sqlite {
	struct store base;
	sqlite3 *db;
	int lock_fd;       /* holds the flock; -1 before it is taken */
	bool in_tx;        /* between store_begin() and commit/rollback */
	int tx_errno;      /* first failure inside the transaction, or 0 */
	unsigned scanning; /* depth of store_scan() callbacks running */
	sqlite3_stmt *stmt[STORE_NSTMT];
};

/* Maps a SQLite result code (and the OS errno behind it) to our errno. */
static int store_sqlite_errno(int rc, int sys_errno)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EILSEQ;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_TOOBIG:
		return -EINVAL;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		if (sys_errno == ENOSPC || sys_errno == EDQUOT)
			return -ENOSPC;
		return -EIO;
	default:
		return -EIO;
	}
}

/*
 * Turns the SQLite failure rc of the operation described by what (may be
 * NULL) into a negative errno and a message naming the store's file. Call
 * it before resetting the failed statement: it reads sqlite3_errmsg().
 */
static int store_sqlite_fail(const struct store_sqlite *s, int rc,
                             const char *what, struct err *e)
{
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;
	int r = store_sqlite_errno(rc, sys);
	const char *reason = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	const char *state = "";
	char detail[96] = "";

	switch (r) {
	case -ENOSPC:
		state = " is full";
		break;
	case -EILSEQ:
		state = " is corrupt";
		break;
	case -EBUSY:
		state = " is busy";
		break;
	default:
		break;
	}
	/* SQLite records the OS errno for these two only. */
	if (sys &&
	    ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN))
		snprintf(detail, sizeof(detail), " (%s)", strerror(sys));
	err_set(e, "store '%s'%s: %s%s%s%s", s->base.path, state,
	        what ? what : "", what ? ": " : "", reason, detail);
	return r;
}

/* store_sqlite_fail() for an operation on one key: "cannot put 'ns/key'". */
static int store_sqlite_key_fail(const struct store_sqlite *s, int rc,
                                 const char *op, const char *ns,
                                 const char *key, struct err *e)
{
	char what[256];

	snprintf(what, sizeof(what), "cannot %s '%s/%s'", op, ns, key);
	return store_sqlite_fail(s, rc, what, e);
}

/* Common checks of the operations that write. */
static int store_sqlite_check_write(const struct store_sqlite *s, struct err *e)
{
	if (s->scanning)
		return err_set(e,
		               "store '%s': cannot write from a scan callback",
		               s->base.path);
	if (s->in_tx && s->tx_errno)
		return err_set(e,
		               "store '%s': an earlier write of this "
		               "transaction failed (%s); call store_rollback()",
		               s->base.path, strerror(-s->tx_errno));
	if (s->in_tx && sqlite3_get_autocommit(s->db))
		return err_set(e,
		               "store '%s': the transaction was rolled back "
		               "after an error; call store_rollback()",
		               s->base.path);
	return 0;
}

/* Resets a cached statement after use so it holds no lock. */
static void store_sqlite_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * After a write failed (bad argument included): inside a transaction,
 * remember the first error (the caller must roll back; the logical change
 * is incomplete); outside, make sure SQLite left no implicit transaction
 * open, so nothing of the write remains.
 */
static void store_sqlite_write_failed(struct store_sqlite *s, int r)
{
	if (s->in_tx) {
		if (!s->tx_errno)
			s->tx_errno = r;
		return;
	}
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Runs a one-row query (a PRAGMA) and copies the first column of the first
 * row into out (empty when there is no row). what names the step in a
 * failure's message.
 */
static int store_sqlite_pragma(struct store_sqlite *s, const char *sql,
                               const char *what, char *out, size_t outlen,
                               struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	out[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	} else if (rc != SQLITE_DONE) {
		r = store_sqlite_fail(s, rc, what, e);
	}
	sqlite3_finalize(st);
	return r;
}

/* Takes the exclusive flock on "<path>.lock". */
static int store_sqlite_lock(struct store_sqlite *s, struct err *e)
{
	char *lock_path = xasprintf("%s.lock", s->base.path);
	int r = 0;

	s->lock_fd =
	    open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (s->lock_fd < 0) {
		r = errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;
		err_set(e, "store '%s': cannot open lock file '%s': %s",
		        s->base.path, lock_path, strerror(errno));
		goto out_free;
	}
	while (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			r = -EBUSY;
			err_set(e,
			        "store '%s' is busy: another process (or "
			        "another open in this one) holds its lock '%s'",
			        s->base.path, lock_path);
		} else {
			r = -EIO;
			err_set(e, "store '%s': cannot lock '%s': %s",
			        s->base.path, lock_path, strerror(errno));
		}
		goto out_free;
	}
out_free:
	free(lock_path);
	return r;
}

/*
 * Creates the database file with mode 0600 if it is missing (an existing
 * file is left untouched), so SQLite and its -wal/-shm never widen it.
 */
static int store_sqlite_create_file(struct store_sqlite *s, struct err *e)
{
	int fd =
	    open(s->base.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0) {
		int r = errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;

		err_set(e, "store '%s': cannot create: %s", s->base.path,
		        strerror(errno));
		return r;
	}
	close(fd);
	return 0;
}

/*
 * The integrity check: PRAGMA quick_check must say exactly "ok". Its
 * findings (without the "*** in database main ***" header, lines joined
 * with "; ") go into the message.
 */
static int store_sqlite_check_integrity(struct store_sqlite *s, struct err *e)
{
	static const char header[] = "*** in database main ***";
	char res[384], why[512], *p = res;
	size_t n = 0;
	int r = store_sqlite_pragma(s, "PRAGMA quick_check", "integrity check",
	                            res, sizeof(res), e);

	if (r < 0)
		return r;
	if (strcmp(res, "ok") == 0)
		return 0;
	if (strncmp(p, header, sizeof(header) - 1) == 0)
		p += sizeof(header) - 1;
	p += strspn(p, "\n ");
	for (; *p && n + 3 < sizeof(why); p++) {
		if (*p == '\n')
			why[n++] = ';', why[n++] = ' ';
		else
			why[n++] = *p;
	}
	why[n] = '\0';
	err_set(e, "store '%s' is corrupt: integrity check: %s", s->base.path,
	        n ? why : res);
	return -EILSEQ;
}

/*
 * Runs a query whose one row has one integer column into *out (0 when
 * there is no row or the value is not an integer); ?1 is bound to arg when
 * arg is not NULL.
 */
static int store_sqlite_query_int(struct store_sqlite *s, const char *sql,
                                  const char *arg, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	*out = 0;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && arg)
		rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_INTEGER)
			*out = sqlite3_column_int64(st, 0);
	} else if (rc != SQLITE_DONE) {
		r = store_sqlite_fail(s, rc, "cannot read the schema", e);
	}
	sqlite3_finalize(st);
	return r;
}

/*
 * Creates the schema of an empty database, or checks the version of an
 * existing store, in one write transaction.
 */
static int store_sqlite_init_schema(struct store_sqlite *s, struct err *e)
{
	static const char create_sql[] =
	    "CREATE TABLE meta(name TEXT PRIMARY KEY NOT NULL, value) "
	    "WITHOUT ROWID;"
	    "CREATE TABLE kv(ns TEXT NOT NULL, key TEXT NOT NULL, "
	    "val BLOB NOT NULL, PRIMARY KEY(ns, key)) WITHOUT ROWID;";
	char sql[128];
	int64_t has_meta, n_objects, version;
	int rc, r;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_sqlite_fail(s, rc, "cannot begin", e);
	r = store_sqlite_query_int(s,
	                           "SELECT count(*) FROM sqlite_master "
	                           "WHERE type = 'table' AND name = ?1",
	                           "meta", &has_meta, e);
	if (r < 0)
		goto out_rollback;
	r = store_sqlite_query_int(s, "SELECT count(*) FROM sqlite_master",
	                           NULL, &n_objects, e);
	if (r < 0)
		goto out_rollback;
	if (!has_meta && n_objects) {
		r = -EILSEQ;
		err_set(
		    e,
		    "store '%s' is corrupt: it is a SQLite database but not "
		    "a store (no meta table)",
		    s->base.path);
		goto out_rollback;
	}
	if (!has_meta) {
		snprintf(sql, sizeof(sql),
		         "INSERT INTO meta(name, value) "
		         "VALUES('schema_version', %d)",
		         STORE_SCHEMA_VERSION);
		rc = sqlite3_exec(s->db, create_sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = store_sqlite_fail(s, rc, "cannot create the schema",
			                      e);
			goto out_rollback;
		}
	} else {
		r = store_sqlite_query_int(s,
		                           "SELECT value FROM meta "
		                           "WHERE name = 'schema_version'",
		                           NULL, &version, e);
		if (r < 0)
			goto out_rollback;
		if (version > STORE_SCHEMA_VERSION) {
			r = -EILSEQ;
			err_set(e,
			        "store '%s' has schema version %" PRId64
			        ", newer than version %d of this program",
			        s->base.path, version, STORE_SCHEMA_VERSION);
			goto out_rollback;
		}
		if (version < 1) {
			r = -EILSEQ;
			err_set(e,
			        "store '%s' is corrupt: meta.schema_version is "
			        "missing or not a positive integer",
			        s->base.path);
			goto out_rollback;
		}
		/* Migrations from older versions go here. */
	}
	rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = store_sqlite_fail(s, rc, "cannot commit the schema", e);
		goto out_rollback;
	}
	return 0;

out_rollback:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Prepares the cached statements. */
static int store_sqlite_prepare(struct store_sqlite *s, struct err *e)
{
	for (size_t i = 0; i < STORE_NSTMT; i++) {
		int rc = sqlite3_prepare_v3(s->db, store_sqlite_sql[i], -1,
		                            SQLITE_PREPARE_PERSISTENT,
		                            &s->stmt[i], NULL);

		if (rc == SQLITE_ERROR) {
			/* A store of our version whose kv table is gone. */
			err_set(e, "store '%s' is corrupt: %s", s->base.path,
			        sqlite3_errmsg(s->db));
			return -EILSEQ;
		}
		if (rc != SQLITE_OK)
			return store_sqlite_fail(
			    s, rc, "cannot prepare statements", e);
	}
	return 0;
}

static const struct store_ops store_sqlite_ops;

/* The backend's struct of the store base. */
static struct store_sqlite *store_sqlite_of(struct store *base)
{
	return container_of(base, struct store_sqlite, base);
}

static void store_sqlite_close(struct store *base);
static void store_sqlite_rollback(struct store *base);

int store_sqlite_open(const char *path, struct store **out, struct err *e)
{
	int flags =
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	struct store_sqlite *s;
	char mode[32];
	int rc, r;

	if (!out)
		return err_set(e, "store: out must not be NULL");
	*out = NULL;
	if (!path || !*path)
		return err_set(e, "store: path must not be empty");
#ifdef SQLITE_OPEN_EXRESCODE
	flags |= SQLITE_OPEN_EXRESCODE;
#endif

	s = xcalloc(1, sizeof(*s));
	s->base.ops = &store_sqlite_ops;
	s->base.path = xstrdup(path);
	s->lock_fd = -1;
	r = store_sqlite_lock(s, e);
	if (r < 0)
		goto out_close;
	r = store_sqlite_create_file(s, e);
	if (r < 0)
		goto out_close;
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		r = store_sqlite_fail(s, rc, "cannot open", e);
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

	r = store_sqlite_check_integrity(s, e);
	if (r < 0)
		goto out_close;
	r = store_sqlite_pragma(s, "PRAGMA journal_mode=WAL",
	                        "cannot enable WAL", mode, sizeof(mode), e);
	if (r < 0)
		goto out_close;
	if (strcmp(mode, "wal") != 0) {
		r = -EIO;
		err_set(e, "store '%s': cannot use WAL: journal mode is '%s'",
		        path, mode);
		goto out_close;
	}
	r = store_sqlite_pragma(s, "PRAGMA synchronous=FULL",
	                        "cannot set synchronous=FULL", mode,
	                        sizeof(mode), e);
	if (r < 0)
		goto out_close;
	/* Extra cell checks: corruption is an error, never wrong data. */
	r = store_sqlite_pragma(s, "PRAGMA cell_size_check=ON",
	                        "cannot set cell_size_check", mode,
	                        sizeof(mode), e);
	if (r < 0)
		goto out_close;
	r = store_sqlite_init_schema(s, e);
	if (r < 0)
		goto out_close;
	r = store_sqlite_prepare(s, e);
	if (r < 0)
		goto out_close;
	*out = &s->base;
	return 0;

out_close:
	store_sqlite_close(&s->base);
	return r;
}

static void store_sqlite_close(struct store *base)
{
	struct store_sqlite *s = store_sqlite_of(base);

	BUG_ON(s->scanning);
	if (s->db) {
		store_sqlite_rollback(base);
		for (size_t i = 0; i < STORE_NSTMT; i++)
			sqlite3_finalize(s->stmt[i]);
		/* All statements are finalized, so this cannot be BUSY. */
		if (sqlite3_close(s->db) != SQLITE_OK)
			log_error("store", "path='%s' cannot close: %s",
			          s->base.path, sqlite3_errmsg(s->db));
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	free(s->base.path);
	free(s);
}

static int store_sqlite_put(struct store *base, const char *ns, const char *key,
                            const void *val, size_t len, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		goto out_failed;
	if (!val && len) {
		r = err_set(e, "store '%s': value: NULL with length %zu",
		            s->base.path, len);
		goto out_failed;
	}
	if ((r = store_sqlite_check_write(s, e)) < 0)
		goto out_failed;
	st = s->stmt[STORE_PUT];
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	/* A NULL pointer would bind SQL NULL: "" binds an empty blob. */
	rc = sqlite3_bind_blob64(st, 3, len ? val : "", len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		r = store_sqlite_key_fail(s, rc, "put", ns, key, e);
	store_sqlite_stmt_done(st);
	if (r < 0)
		goto out_failed;
	return 0;

out_failed:
	store_sqlite_write_failed(s, r);
	return r;
}

static int store_sqlite_get(struct store *base, const char *ns, const char *key,
                            char **val, size_t *len, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc, r;

	/* store_get() cleared *val and *len. */
	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		return r;
	if (!val || !len)
		return err_set(e, "store '%s': val and len must not be NULL",
		               s->base.path);
	st = s->stmt[STORE_GET];
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* column_text NUL-terminates the blob; bytes keeps NULs. */
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		*val = xmalloc(n + 1);
		if (n)
			memcpy(*val, v, n);
		(*val)[n] = '\0';
		*len = n;
		r = 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
		err_set(e, "store '%s': no key '%s/%s'", s->base.path, ns, key);
	} else {
		r = store_sqlite_key_fail(s, rc, "get", ns, key, e);
	}
	store_sqlite_stmt_done(st);
	return r;
}

static int store_sqlite_delete(struct store *base, const char *ns,
                               const char *key, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0 ||
	    (r = store_check_name(base, "key", key, e)) < 0)
		goto out_failed;
	if ((r = store_sqlite_check_write(s, e)) < 0)
		goto out_failed;
	st = s->stmt[STORE_DELETE];
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		r = store_sqlite_key_fail(s, rc, "delete", ns, key, e);
	store_sqlite_stmt_done(st);
	if (r < 0)
		goto out_failed;
	return 0;

out_failed:
	store_sqlite_write_failed(s, r);
	return r;
}

static int store_sqlite_scan(struct store *base, const char *ns,
                             store_scan_fn *fn, void *arg, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st, *own = NULL;
	char what[160];
	int rc, r = 0;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0)
		return r;
	if (!fn)
		return err_set(e, "store '%s': scan callback must not be NULL",
		               s->base.path);
	st = s->stmt[STORE_SCAN];
	if (sqlite3_stmt_busy(st)) {
		/* A scan from a scan callback: it needs its own cursor. */
		rc = sqlite3_prepare_v2(s->db, store_sqlite_sql[STORE_SCAN], -1,
		                        &own, NULL);
		if (rc != SQLITE_OK) {
			snprintf(what, sizeof(what), "cannot scan '%s'", ns);
			return store_sqlite_fail(s, rc, what, e);
		}
		st = own;
	}
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	s->scanning++;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);

		r = fn(key ? key : "", val ? val : "", n, arg);
		if (r)
			break;
	}
	s->scanning--;
	if (!r && rc != SQLITE_DONE) {
		snprintf(what, sizeof(what), "cannot scan '%s'", ns);
		r = store_sqlite_fail(s, rc, what, e);
	}
	if (own)
		sqlite3_finalize(own);
	else
		store_sqlite_stmt_done(st);
	return r;
}

static int64_t store_sqlite_count(struct store *base, const char *ns,
                                  struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int64_t n;
	int rc, r;

	if ((r = store_check_name(base, "namespace", ns, e)) < 0)
		return r;
	st = s->stmt[STORE_COUNT];
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
	} else {
		char what[160];

		snprintf(what, sizeof(what), "cannot count '%s'", ns);
		n = store_sqlite_fail(s, rc, what, e);
	}
	store_sqlite_stmt_done(st);
	return n;
}

static int store_sqlite_begin(struct store *base, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc, r;

	if (s->in_tx)
		return err_set(e, "store '%s': a transaction is already open",
		               s->base.path);
	if ((r = store_sqlite_check_write(s, e)) < 0)
		return r;
	st = s->stmt[STORE_BEGIN];
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		r = store_sqlite_fail(s, rc, "cannot begin a transaction", e);
		store_sqlite_stmt_done(st);
		return r;
	}
	store_sqlite_stmt_done(st);
	s->in_tx = true;
	s->tx_errno = 0;
	return 0;
}

static int store_sqlite_commit(struct store *base, struct err *e)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc, r;

	if (!s->in_tx)
		return err_set(e, "store '%s': commit without a transaction",
		               s->base.path);
	if (s->scanning)
		return err_set(e,
		               "store '%s': cannot commit from a scan callback",
		               s->base.path);
	if (s->tx_errno) {
		r = s->tx_errno;
		err_set(e,
		        "store '%s': transaction rolled back: an earlier write "
		        "failed (%s)",
		        s->base.path, strerror(-r));
		store_sqlite_rollback(base);
		return r;
	}
	if (sqlite3_get_autocommit(s->db)) {
		err_set(e,
		        "store '%s': transaction was rolled back by an earlier "
		        "error",
		        s->base.path);
		store_sqlite_rollback(base);
		return -EIO;
	}
	st = s->stmt[STORE_COMMIT];
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		r = store_sqlite_fail(s, rc, "cannot commit", e);
		store_sqlite_stmt_done(st);
		store_sqlite_rollback(base);
		return r;
	}
	store_sqlite_stmt_done(st);
	s->in_tx = false;
	return 0;
}

static void store_sqlite_rollback(struct store *base)
{
	struct store_sqlite *s = store_sqlite_of(base);
	sqlite3_stmt *st;
	int rc;

	if (!s->in_tx)
		return;
	/* Rolling back under a running scan would pull the rows away. */
	BUG_ON(s->scanning);
	s->in_tx = false;
	s->tx_errno = 0;
	if (sqlite3_get_autocommit(s->db))
		return; /* SQLite already rolled it back */
	st = s->stmt[STORE_ROLLBACK];
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		log_error("store", "path='%s' cannot roll back: %s",
		          s->base.path, sqlite3_errmsg(s->db));
	store_sqlite_stmt_done(st);
}

static bool store_sqlite_in_transaction(const struct store *base)
{
	return container_of(base, const struct store_sqlite, base)->in_tx;
}

static const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .close = store_sqlite_close,
    .put = store_sqlite_put,
    .get = store_sqlite_get,
    .del = store_sqlite_delete,
    .scan = store_sqlite_scan,
    .count = store_sqlite_count,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .in_transaction = store_sqlite_in_transaction,
};
