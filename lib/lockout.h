/*
 * Brute-force protection (SPEC section 5), the whole policy in one place
 * behind two calls: pa_lockout_check() before a lookup ("may this attempt
 * go on?") and pa_lockout_record() after it ("this is how it ended").
 *
 * The model.  A user's failures are counted under its folded name (fold.h),
 * a client under its address key (IPv4 address, IPv6 masked to
 * ipv6_prefix bits, anything else as its text).  A failure counts only
 * when its (user, password) pair has not already failed within the
 * window, so a phone retrying one stale password counts once; the pair is
 * kept as an HMAC-SHA256 under a per-process random key, never the
 * password.  A user's failures are kept per (address, exact typed name):
 * max_failures of them within window_ms, from any addresses under any
 * variants of the name, lock the folded user for lockout_ms.  What a
 * success grants is keyed by the exact names, never the fold, because a
 * backend may keep "Alice" and "alice" as two accounts: a success from an
 * address clears only that address's failures under the exact typed name
 * and the exact canonical name, so neither a namesake's successes nor the
 * owner's dilute guessing spread over many addresses.  An address is
 * locked the same way by its own failures (for any users); a success does
 * not clear those.  A (exact name, address) pair that succeeded within
 * known_ms is "known good" (a grant makes the typed and the canonical name
 * known good): a lock of the user caused by others does not apply to it,
 * unless that address itself failed max_failures times in the window at
 * this folded user, under any of its names.  So an owner who types a
 * variant it has not used from that address is locked like anyone else.
 *
 * State lives in stores behind one small interface of keyed counters
 * (struct pa_lockout_store): always a memory store, cheap enough for the
 * event-loop thread (a check costs one atomic load while no lock exists),
 * and optionally a shared one (Redis, lockout_redis.h) asked only where
 * the caller allows network calls.  A lock learnt from the shared store is
 * copied into memory so that cached answers honour it.  When the shared
 * store fails, the memory store is all there is (it keeps counting in any
 * case); the store is then left alone for two seconds and the failure is
 * reported through the event hook.  Time is passed in.
 */
#ifndef PA_LOCKOUT_H
#define PA_LOCKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "fold.h"

#define PA_LOCKOUT_ADDR_MAX 64
/* An exact name is kept as it is up to this many bytes (the credentials
 * parser's own limit), else as "#" and the hex SHA-256 of it. */
#define PA_LOCKOUT_NAME_MAX 256

/* Keyed counters with expiry.  Keys and fields are NUL-terminated text
 * made by the policy.  Every call returns -1 with err when the store could
 * not answer.  now_ms is for stores that keep time themselves. */
struct pa_lockout_store_ops {
	/* Sets key for ttl_ms.  With only_new an existing key keeps its value
	 * and expiry.  1 when the key was not there, else 0. */
	int (*put)(void *ctx, const char *key, uint64_t ttl_ms, bool only_new, uint64_t now_ms,
		   struct pa_error *err);
	/* 1 when key is there, else 0. */
	int (*exists)(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err);
	/* Adds 1 to field of the counter set key, which expires ttl_ms after
	 * its first count.  Returns the sum over all its fields (>= 1). */
	long long (*incr)(void *ctx, const char *key, const char *field, uint64_t ttl_ms,
			  uint64_t now_ms, struct pa_error *err);
	/* The count of field in key, 0 when none. */
	long long (*get)(void *ctx, const char *key, const char *field, uint64_t now_ms,
			 struct pa_error *err);
	/* Drops field from key.  0. */
	int (*drop)(void *ctx, const char *key, const char *field, uint64_t now_ms,
		    struct pa_error *err);
	void (*close)(void *ctx);	/* may be NULL */
	/* Milliseconds left before key expires, 0 when it is not there, -1
	 * when that cannot be told (no expiry, or an error).  May be NULL (a
	 * lock copied from the store then runs a whole lockout from when it
	 * was learnt). */
	long long (*ttl)(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err);
	/* The sum over all fields of the counter set key, 0 when none. */
	long long (*sum)(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err);
};

struct pa_lockout_store {
	const struct pa_lockout_store_ops *ops;
	void *ctx;
};

struct pa_lockout_opts {
	long max_failures;		/* 0 disables everything */
	uint64_t window_ms, lockout_ms, known_ms;
	int ipv6_prefix;		/* 32..128 */
	size_t capacity;		/* memory entries per kind */
};

enum pa_lockout_event {
	PA_LOCKOUT_EV_USER_LOCKED,	/* what: the folded user */
	PA_LOCKOUT_EV_ADDRESS_LOCKED,	/* what: the address key */
	PA_LOCKOUT_EV_STORE_ERROR,	/* what: the error; every failed call */
	PA_LOCKOUT_EV_STORE_DOWN,	/* what: the error; once, when it starts */
	PA_LOCKOUT_EV_STORE_UP,		/* the shared store answers again */
};

/* Called from any thread; shared tells whether the event came through the
 * shared store (a lock then holds on every replica). */
typedef void pa_lockout_event_fn(void *arg, enum pa_lockout_event ev, const char *what,
				 bool shared);

struct pa_lockout;

/* A policy with its memory store, and shared (may be NULL; closed by
 * pa_lockout_free) as the store shared between replicas.  event may be
 * NULL.  NULL when out of memory (shared is then closed too). */
struct pa_lockout *pa_lockout_new(const struct pa_lockout_opts *o,
				  const struct pa_lockout_store *shared, pa_lockout_event_fn *event,
				  void *event_arg);
void pa_lockout_free(struct pa_lockout *l);	/* safe on NULL */

/* Who an attempt is counted as: made once per request, before the check. */
struct pa_lockout_subject {
	char user[PA_FOLD_MAX];		/* the folded typed name */
	char exact[PA_LOCKOUT_NAME_MAX + 1];	/* the typed name */
	char addr[PA_LOCKOUT_ADDR_MAX];	/* the address key; "" when not counted */
};

/* Fills s from the typed name and the client address (NULL when the
 * address must not be counted: a label, or a trusted proxy's own). */
void pa_lockout_subject(const struct pa_lockout *l, const char *user, size_t user_len,
			const char *client, struct pa_lockout_subject *s);

enum pa_lockout_verdict {
	PA_LOCKOUT_GO,
	PA_LOCKOUT_USER,		/* the user is locked */
	PA_LOCKOUT_ADDRESS,		/* the address is locked */
	/* Asked of memory only: the user is locked here, but the shared
	 * store may know this client as known good.  Ask again where the
	 * shared store may be asked, and use no cached answer before. */
	PA_LOCKOUT_ASK_SHARED,
};

/* Where a call may look: the memory store (any thread, cheap) and/or the
 * shared store (network: worker threads only). */
#define PA_LOCKOUT_MEMORY 1
#define PA_LOCKOUT_SHARED 2

/* May the attempt go on?  *why (may be NULL) gets a static reason for the
 * log when it may not. */
enum pa_lockout_verdict pa_lockout_check(struct pa_lockout *l,
					 const struct pa_lockout_subject *s, int where,
					 uint64_t now_ms, const char **why);

/* Records an outcome: granted (canonical: the backend's name for the
 * user, may be NULL) or not (wrong password or unknown user; password is
 * only hashed).  Unavailable answers are not recorded. */
void pa_lockout_record(struct pa_lockout *l, const struct pa_lockout_subject *s, bool granted,
		       const char *canonical, const char *password, size_t password_len,
		       int where, uint64_t now_ms);

/* Drops memory entries that can no longer change an answer.  Returns how
 * many.  Called periodically. */
size_t pa_lockout_sweep(struct pa_lockout *l, uint64_t now_ms);

/* Memory entries held now, over every kind. */
size_t pa_lockout_entries(struct pa_lockout *l);

/* The memory store alone (lockout_mem.c), for tests that want a shared
 * store without a server: capacity entries per kind.  NULL when out of
 * memory. */
int pa_lockout_mem_new(size_t capacity, struct pa_lockout_store *out);
bool pa_lockout_mem_any_lock(void *ctx);
size_t pa_lockout_mem_sweep(void *ctx, uint64_t now_ms);
size_t pa_lockout_mem_count(void *ctx);

#endif
