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

#endif
