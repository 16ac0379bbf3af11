/*
 * Deadlines on the monotonic clock (see deadline.h).  Nothing here reads
 * a clock except where a caller passes it in.
 */
#include "deadline.h"

struct pa_deadline
pa_deadline_in(long ms, uint64_t now_us)
{
	struct pa_deadline dl = { now_us + (uint64_t)(ms > 0 ? ms : 0) * 1000u };

	return dl;
}

uint64_t
pa_deadline_left_us(const struct pa_deadline *dl, uint64_t now_us)
{
	return now_us >= dl->at_us ? 0 : dl->at_us - now_us;
}

int
pa_deadline_left_ms(const struct pa_deadline *dl, uint64_t now_us)
{
	uint64_t us = pa_deadline_left_us(dl, now_us), ms = (us + 999) / 1000;

	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

bool
pa_deadline_left_tv(const struct pa_deadline *dl, uint64_t now_us, struct timeval *tv)
{
	uint64_t us = pa_deadline_left_us(dl, now_us);

	tv->tv_sec = (time_t)(us / 1000000u);
	tv->tv_usec = (suseconds_t)(us % 1000000u);
	return us > 0;
}

struct timespec
pa_deadline_timespec(const struct pa_deadline *dl)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(dl->at_us / 1000000u);
	ts.tv_nsec = (long)(dl->at_us % 1000000u) * 1000L;
	return ts;
}

int
pa_cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc;

	if ((rc = pthread_condattr_init(&a)) != 0)
		return rc;
	if ((rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC)) == 0)
		rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return rc;
}
