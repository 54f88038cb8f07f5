/* timeutil.c: wall and monotonic clocks. */
#include "lib/compat.h"
#include "lib/timeutil.h"

#include <time.h>

double timeutil_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t timeutil_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t timeutil_mono_ms(void)
{
	return timeutil_mono_ns() / 1000000ull;
}
