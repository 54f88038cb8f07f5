/* test_loop.c: heap timers and handle dropping (lib/loop). */
#include "lib/compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "lib/loop.h"
#include "lib/timeutil.h"

static int fired;
static uv_timer_t *held;

static void on_fire(uv_timer_t *t)
{
	fired++;
	assert_ptr_equal(t->data, &fired);
	/* dropping a timer from its own callback is allowed */
	loop_timer_drop(&held);
	assert_null(held);
}

static void test_timer_fires_once(void **state)
{
	uv_loop_t loop;
	uint64_t t0;

	(void)state;
	uv_loop_init(&loop);
	fired = 0;
	t0 = timeutil_mono_ms();
	held = loop_timer_start(&loop, &fired, on_fire, 0.05);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(fired, 1);
	assert_true(timeutil_mono_ms() - t0 >= 45);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void never(uv_timer_t *t)
{
	(void)t;
	fail_msg("a dropped timer fired");
}

static void test_drop_before_fire_and_null(void **state)
{
	uv_loop_t loop;
	uv_timer_t *t, *none = NULL;

	(void)state;
	uv_loop_init(&loop);
	t = loop_timer_start(&loop, NULL, never, 0.01);
	loop_timer_drop(&t);
	assert_null(t);
	loop_timer_drop(&none);
	/* negative and NaN delays fire at once instead of never */
	fired = 0;
	held = loop_timer_start(&loop, &fired, on_fire, -5);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(fired, 1);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timer_fires_once),
	    cmocka_unit_test(test_drop_before_fire_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
