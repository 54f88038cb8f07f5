/* err.c: the error message carried from parsers up to a response. */
#include "lib/compat.h"
#include "lib/err.h"
#include "lib/buf.h"

int err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char pre[256], old[sizeof(e->msg)];
	va_list ap;
	if (!e)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s: %s", pre, old);
	if (b.len >= sizeof(e->msg))
		b.len = sizeof(e->msg) - 1;
	memcpy(e->msg, b.data, b.len);
	e->msg[b.len] = '\0';
	buf_release(&b);
	return -EINVAL;
}
