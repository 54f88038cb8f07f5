/* loop.c: heap timers and handle closing shared by every role. */
#include "lib/compat.h"
#include "lib/loop.h"

static void loop_handle_free_cb(uv_handle_t *h)
{
	free(h);
}

void loop_handle_drop(uv_handle_t **h)
{
	if (!*h)
		return;
	if ((*h)->type == UV_TIMER)
		uv_timer_stop((uv_timer_t *)*h);
	(*h)->data = NULL;
	if (!uv_is_closing(*h))
		uv_close(*h, loop_handle_free_cb);
	*h = NULL;
}

uv_timer_t *loop_timer_start(uv_loop_t *loop, void *data, uv_timer_cb cb,
                             double seconds)
{
	uv_timer_t *t = xmalloc(sizeof(*t));
	double ms = seconds * 1000.0;

	uv_timer_init(loop, t);
	t->data = data;
	if (!(ms > 0))
		ms = 0;
	if (ms > 9e15)
		ms = 9e15;
	uv_timer_start(t, cb, (uint64_t)ms, 0);
	return t;
}
