/*
 * One deadline type for everything that waits on a server: a moment on
 * CLOCK_MONOTONIC, so a jump of the wall clock never moves it.  A lookup
 * makes one deadline from its timeout and hands it down to the pool wait,
 * the connect and every command, which all stop when it has passed.
 * Condition variables waited on with a deadline are made on the same
 * clock by pa_cond_init_monotonic().
 */
#ifndef PA_DEADLINE_H
#define PA_DEADLINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

struct pa_deadline {
	uint64_t at_us;		/* pa_now_us() units (CLOCK_MONOTONIC) */
};

/* The deadline ms milliseconds after now_us. */
struct pa_deadline pa_deadline_in(long ms, uint64_t now_us);

/* Microseconds left at now_us; 0 once it has passed. */
uint64_t pa_deadline_left_us(const struct pa_deadline *dl, uint64_t now_us);

/* Milliseconds left at now_us, rounded up, so a wait of that many
 * milliseconds never ends before the deadline; 0 once it has passed. */
int pa_deadline_left_ms(const struct pa_deadline *dl, uint64_t now_us);

/* What is left at now_us as a timeval (for libraries that want one);
 * false, with *tv zero, once it has passed. */
bool pa_deadline_left_tv(const struct pa_deadline *dl, uint64_t now_us, struct timeval *tv);

/* The deadline as an absolute CLOCK_MONOTONIC time, for
 * pthread_cond_timedwait() on a condvar made by pa_cond_init_monotonic(). */
struct timespec pa_deadline_timespec(const struct pa_deadline *dl);

/* Initialises c to time its waits on CLOCK_MONOTONIC.  0, or an errno. */
int pa_cond_init_monotonic(pthread_cond_t *c);

#endif
