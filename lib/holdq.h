/*
 * A hold queue: items handed back to a callback at their due time, by one
 * thread, earliest first.  It holds locked answers back for about the time
 * a verification takes (SPEC section 5: a locked answer must look like a
 * wrong password) without spending that time's CPU: the HTTP front keeps
 * the connection suspended and the Squid helper keeps the request, and
 * this thread lets them go.  Bounded only by what callers hand in (one
 * item per request in flight); time is the monotonic clock of clock.h.
 */
#ifndef PA_HOLDQ_H
#define PA_HOLDQ_H

#include <stdbool.h>
#include <stdint.h>

struct pa_holdq;

typedef void pa_holdq_fn(void *item);

/* Starts the thread.  fire is called from it, without any lock held.
 * NULL when out of memory or threads. */
struct pa_holdq *pa_holdq_start(pa_holdq_fn *fire);

/* Queues item for fire at now + delay_us.  False when the queue is
 * stopping or out of memory: the caller then lets the item go itself. */
bool pa_holdq_add(struct pa_holdq *q, void *item, uint64_t delay_us);

/* Fires every item still held at once and stops the thread; later adds
 * return false.  Safe on NULL and twice. */
void pa_holdq_stop(struct pa_holdq *q);

/* Stops q if need be and frees it, once nobody can add any more.  Safe
 * on NULL. */
void pa_holdq_free(struct pa_holdq *q);

#endif
