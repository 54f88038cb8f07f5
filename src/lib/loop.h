/*
 * loop.h: small helpers for libuv handles owned through a pointer: a
 * one-shot heap timer, and closing a heap handle so that it is freed from
 * its close callback (libuv's rule) and the owner's pointer is cleared.
 */
#ifndef ATOLL_LOOP_H
#define ATOLL_LOOP_H

#include <uv.h>

/* A heap timer firing cb once after seconds (clamped to [0, ~285 years]);
 * t->data = data. Drop it with loop_timer_drop(). */
uv_timer_t *loop_timer_start(uv_loop_t *loop, void *data, uv_timer_cb cb,
                             double seconds);
/* Stops (for timers), clears data, closes and frees *h; *h becomes NULL.
 * NULL and already-closing handles are fine. */
void loop_handle_drop(uv_handle_t **h);
#define loop_timer_drop(t) loop_handle_drop((uv_handle_t **)(t))

#endif
