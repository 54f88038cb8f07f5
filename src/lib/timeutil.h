/*
 * timeutil.h: clocks. Wall time for timestamps that leave the process
 * (TaskStatus.timestamp, registered_time); monotonic time for timers and
 * durations. Pure modules never call these: their callers pass `now`.
 */
#ifndef ATOLL_TIMEUTIL_H
#define ATOLL_TIMEUTIL_H

#include <stdint.h>

/* Seconds since the epoch, with sub-second precision. */
double timeutil_wall(void);
/* Monotonic milliseconds and nanoseconds. */
uint64_t timeutil_mono_ms(void);
uint64_t timeutil_mono_ns(void);

#endif
