/*
 * Lockout counters shared by every replica through Redis (lockout_store =
 * redis, SPEC section 5): INCR of <prefix>fail:<kind>:<name> with the
 * window as expiry, and <prefix>lock:<kind>:<name> set for the lockout
 * time once max_failures is reached.  Ten replicas then give an attacker
 * the attempts of one.  Every call is a network round trip, so the
 * pipeline makes them on worker threads only, next to the backend lookup
 * they guard; the in-memory counters keep working beside them, and are
 * all there is while Redis cannot be reached.
 */
#ifndef PA_LOCKOUT_REDIS_H
#define PA_LOCKOUT_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "redisconn.h"

struct pa_shared_lockout;

/* opts' strings must outlive the store.  NULL when out of memory. */
struct pa_shared_lockout *pa_shared_lockout_new(const struct pa_redis_opts *opts,
						const char *prefix, long max_failures,
						uint64_t window_ms, uint64_t lockout_ms);
void pa_shared_lockout_free(struct pa_shared_lockout *s);	/* safe on NULL */

/* Whether user or addr (NULL: not counted) is locked: *user_locked and
 * *addr_locked.  0, or -1 with err when Redis could not answer (the caller
 * then relies on memory). */
int pa_shared_lockout_locked(struct pa_shared_lockout *s, const char *user, const char *addr,
			     bool *user_locked, bool *addr_locked, struct pa_error *err);

/* Counts a failure of name ('u' user, 'a' address); *started tells whether
 * it began a lockout.  0 or -1 with err. */
int pa_shared_lockout_failure(struct pa_shared_lockout *s, char kind, const char *name,
			      bool *started, struct pa_error *err);

/* Forgets a user's failures after a success.  0 or -1 with err. */
int pa_shared_lockout_success(struct pa_shared_lockout *s, const char *user,
			      struct pa_error *err);

#endif
