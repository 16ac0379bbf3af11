/*
 * The one clock: monotonic time, for latencies, TTLs and windows.  Modules
 * that keep time-dependent state take "now" as an argument instead of
 * reading this themselves, so tests can drive them with any clock.
 */
#ifndef PA_CLOCK_H
#define PA_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
pa_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The CLOCK_MONOTONIC moment ms from now, for pthread_cond_timedwait()
 * on a condvar made by pa_cond_init_monotonic() (deadline.h): a jump of
 * the wall clock never stretches or cuts the wait. */
static inline struct timespec
pa_deadline_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
