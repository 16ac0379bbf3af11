/*
 * The answer cache (SPEC section 5).  Keys are HMAC-SHA256, under a random
 * key made at start, over "user NUL password": the plaintext is never
 * stored, and keys are compared in constant time.  Granted and denied
 * answers are kept, each with its own expiry; unavailable answers never.
 * Bounded (least recently used evicted) and sharded for many threads.
 * Time is passed in (now_ms, monotonic milliseconds): no hidden clock.
 */
#ifndef PA_CACHE_H
#define PA_CACHE_H

#include <stdint.h>

#include "backend.h"
#include "lru.h"

enum pa_cache_hit {
	PA_CACHE_MISS,
	PA_CACHE_FRESH,		/* within its TTL */
	PA_CACHE_STALE,		/* a grant past its TTL but within stale_grace */
};

struct pa_cache_view {
	enum pa_result result;		/* PA_GRANTED or PA_DENIED */
	struct pa_identity *who;	/* the caller's: filled by lookup, read by store */
	const char *backend;		/* static name, or NULL (not found everywhere) */
	/* Read by store: the monotonic instant after which the answer is
	 * never used, not even stale (the account's expiry); 0: none. */
	uint64_t not_after_ms;
};

struct pa_cache;

/* A cache of capacity entries (>= 1); hmac_key may be NULL (random). */
struct pa_cache *pa_cache_new(size_t capacity, const unsigned char *hmac_key);
void pa_cache_free(struct pa_cache *c);		/* safe on NULL */

void pa_cache_key(const struct pa_cache *c, const char *user, size_t user_len,
		  const char *password, size_t password_len, unsigned char out[PA_LRU_KEY]);

/* Looks key up at now_ms.  FRESH and STALE fill view (and *view->who,
 * which must point to the caller's storage).  An entry past any use is
 * dropped. */
enum pa_cache_hit pa_cache_lookup(struct pa_cache *c, const unsigned char key[PA_LRU_KEY],
				  uint64_t now_ms, uint64_t stale_grace_ms,
				  struct pa_cache_view *view);

/* The monotonic instant (milliseconds, as now_ms) of the wall-clock
 * instant expires_unix_ms, given the two clocks read at one moment:
 * now_unix_ms and now_ms.  At least 1, and at most now_ms when the instant
 * has passed. */
uint64_t pa_cache_not_after(int64_t expires_unix_ms, int64_t now_unix_ms, uint64_t now_ms);

/* The invalidation generation: it moves on with every invalidation. */
uint64_t pa_cache_generation(const struct pa_cache *c);

/* Stores an answer until expires_ms (cut to view->not_after_ms; an answer
 * already past it is not stored), replacing an older one, unless an
 * invalidation happened since generation was read (before the backend was
 * asked): an answer from before a change must not outlive it.  login is
 * the name the client sent (for invalidation).  Only PA_GRANTED and
 * PA_DENIED are stored. */
void pa_cache_store(struct pa_cache *c, const unsigned char key[PA_LRU_KEY], const char *login,
		    const struct pa_cache_view *view, uint64_t expires_ms, uint64_t generation);

/* Drops every answer for user: matched case-insensitively against the name
 * the client sent and the canonical name a backend returned, and, where
 * either is not plain ASCII, by the fold (fold.h): fullwidth or accented
 * upper-case spellings go too.  Returns the number dropped. */
size_t pa_cache_invalidate_user(struct pa_cache *c, const char *user);

/* Drops every answer a backend gave, and those of the backends after it
 * in the chain and every "not found anywhere" answer (they stand on its
 * "not found", and it may have missed notices).  Returns the number. */
size_t pa_cache_invalidate_backend(struct pa_cache *c, const char *backend);

/* Ends the TTL, at now_ms, of every answer a backend gave, of those of
 * the backends after it and of every "not found anywhere" answer, but
 * keeps them: for when notices about the
 * backend go unheard from now on.  None answers fresh again, so the
 * backend is asked first; a grant may still answer stale, within
 * stale_grace from now_ms, while the backend cannot answer (a denial
 * never does).  Returns the number of answers it cut. */
size_t pa_cache_expire_backend(struct pa_cache *c, const char *backend, uint64_t now_ms);

#define PA_CACHE_BACKENDS 8	/* PA_CHAIN_MAX */
#define PA_CACHE_NAME 32

/* Appends backend to the chain's order, which the calls below use: an
 * answer of a backend stands on every backend before it having said "not
 * found", so what drops or expires the answers of one also takes those
 * of the backends after it.  Before any other thread uses c.  0, or -1
 * when there is no room (the name then counts as unknown: only its own
 * answers are taken). */
int pa_cache_set_chain(struct pa_cache *c, const char *backend);

/* Marks backend deaf (its change notices go unheard: its watcher is not
 * subscribed) or hearing again.  Going deaf moves the generation on, so
 * an answer asked for before then is not stored (it may miss a change
 * made while deaf; the older entry for its key goes too).  A name that
 * does not fit makes every backend deaf, for good.  Thread-safe. */
void pa_cache_set_deaf(struct pa_cache *c, const char *backend, bool deaf);

/* Whether an answer of backend may only be stored already expired: the
 * backend or one before it in the chain is deaf or, for NULL ("not found
 * anywhere"), any backend is. */
bool pa_cache_deaf(struct pa_cache *c, const char *backend);

size_t pa_cache_entries(struct pa_cache *c);

#endif
