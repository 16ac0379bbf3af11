/*
 * Shared lockout counters in Redis.  All commands are argv-style; names
 * are only ever parts of keys.
 */
#include "lockout_redis.h"
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pa_shared_lockout {
	struct pa_redis_pool *pool;
	char *prefix;
	long max_failures;
	uint64_t window_ms, lockout_ms;
};

struct pa_shared_lockout *
pa_shared_lockout_new(const struct pa_redis_opts *opts, const char *prefix, long max_failures,
		      uint64_t window_ms, uint64_t lockout_ms)
{
	struct pa_shared_lockout *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->max_failures = max_failures;
	s->window_ms = window_ms;
	s->lockout_ms = lockout_ms;
	if ((s->prefix = strdup(prefix)) == NULL || (s->pool = pa_redis_pool_new(opts, 8)) == NULL) {
		pa_shared_lockout_free(s);
		return NULL;
	}
	return s;
}

void
pa_shared_lockout_free(struct pa_shared_lockout *s)
{
	if (s == NULL)
		return;
	pa_redis_pool_free(s->pool);
	free(s->prefix);
	free(s);
}

static int
key(char *buf, size_t len, const char *prefix, const char *what, char kind, const char *name)
{
	return (size_t)snprintf(buf, len, "%s%s:%c:%s", prefix, what, kind, name) < len ? 0 : -1;
}

/* The integer reply of a one-key command, or -1 with err. */
static long long
int_command(struct pa_shared_lockout *s, int argc, const char **argv, struct pa_error *err)
{
	redisReply *r = pa_redis_pool_command(s->pool, argc, argv, err);
	long long n;

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(r);
		pa_error_set(err, "unexpected reply to %s", argv[0]);
		return -1;
	}
	n = r->integer;
	freeReplyObject(r);
	return n;
}

int
pa_shared_lockout_locked(struct pa_shared_lockout *s, const char *user, const char *addr,
			 bool *user_locked, bool *addr_locked, struct pa_error *err)
{
	char ku[PA_USER_MAX + 256], ka[128 + 256];
	const char *eu[2] = { "EXISTS", ku };
	const char *ea[2] = { "EXISTS", ka };
	long long n;

	*user_locked = *addr_locked = false;
	if (key(ku, sizeof(ku), s->prefix, "lock", 'u', user) != 0 ||
	    (addr != NULL && key(ka, sizeof(ka), s->prefix, "lock", 'a', addr) != 0)) {
		pa_error_set(err, "lockout key too long");
		return -1;
	}
	if ((n = int_command(s, 2, eu, err)) < 0)
		return -1;
	*user_locked = n > 0;
	if (addr != NULL && !*user_locked) {
		if ((n = int_command(s, 2, ea, err)) < 0)
			return -1;
		*addr_locked = n > 0;
	}
	return 0;
}

int
pa_shared_lockout_failure(struct pa_shared_lockout *s, char kind, const char *name,
			  bool *started, struct pa_error *err)
{
	char kf[PA_USER_MAX + 256], kl[PA_USER_MAX + 256], window[24], lockout[24];
	const char *incr[2] = { "INCR", kf };
	const char *expire[3] = { "PEXPIRE", kf, window };
	const char *lock[5] = { "SET", kl, "1", "PX", lockout };
	const char *del[2] = { "DEL", kf };
	redisReply *r;
	long long n;

	*started = false;
	if (key(kf, sizeof(kf), s->prefix, "fail", kind, name) != 0 ||
	    key(kl, sizeof(kl), s->prefix, "lock", kind, name) != 0) {
		pa_error_set(err, "lockout key too long");
		return -1;
	}
	snprintf(window, sizeof(window), "%llu", (unsigned long long)s->window_ms);
	snprintf(lockout, sizeof(lockout), "%llu", (unsigned long long)s->lockout_ms);
	const char *pttl[2] = { "PTTL", kf };

	if ((n = int_command(s, 2, incr, err)) < 0)
		return -1;
	/* The first failure opens the window: the counter expires with it.
	 * A counter left without an expiry (the PEXPIRE after an earlier
	 * first failure was lost) gets one now, so failures never add up
	 * past the window. */
	if (n == 1 || int_command(s, 2, pttl, err) == -1) {
		if (int_command(s, 3, expire, err) < 0)
			return -1;
	}
	if (n < s->max_failures)
		return 0;
	if ((r = pa_redis_pool_command(s->pool, 5, lock, err)) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = pa_redis_pool_command(s->pool, 2, del, err)) == NULL)
		return -1;
	freeReplyObject(r);
	*started = true;
	return 0;
}

int
pa_shared_lockout_success(struct pa_shared_lockout *s, const char *user, struct pa_error *err)
{
	char kf[PA_USER_MAX + 256];
	const char *del[2] = { "DEL", kf };
	redisReply *r;

	if (key(kf, sizeof(kf), s->prefix, "fail", 'u', user) != 0) {
		pa_error_set(err, "lockout key too long");
		return -1;
	}
	if ((r = pa_redis_pool_command(s->pool, 2, del, err)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}
