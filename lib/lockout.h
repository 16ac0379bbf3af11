/*
 * Brute-force protection counters (SPEC section 5): max_failures failed
 * attempts within window_ms lock a name for lockout_ms.  One instance
 * counts user names (the caller folds case), another client addresses.
 * Memory is bounded: the least recently touched counters go first.
 * Time is passed in.
 */
#ifndef PA_LOCKOUT_H
#define PA_LOCKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pa_lockout;

/* max_failures 0 disables counting (every call then says "not locked"). */
struct pa_lockout *pa_lockout_new(long max_failures, uint64_t window_ms, uint64_t lockout_ms,
				  size_t capacity);
void pa_lockout_free(struct pa_lockout *l);	/* safe on NULL */

/* True while name is locked. */
bool pa_lockout_locked(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms);

/* Counts a failure.  True when this failure starts a lockout. */
bool pa_lockout_failure(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms);

/* Locks name until now_ms + the lockout time, whatever its count (a lock
 * learnt from the shared store, so cached answers honour it too). */
void pa_lockout_lock(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms);

/* Forgets name's failures (after a success). */
void pa_lockout_success(struct pa_lockout *l, const char *name, size_t len);

/* Drops counters that can no longer change an answer (lock over, window
 * passed).  Returns how many.  Called periodically. */
size_t pa_lockout_sweep(struct pa_lockout *l, uint64_t now_ms);

#endif
