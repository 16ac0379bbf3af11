/*
 * What the files of the Redis backend share (backends/redis/): the
 * backend's state and the calls one file makes into another.  Nothing
 * here is used outside backends/redis/; the backend itself is
 * pa_redis_ops (backend.h), defined in config.c.  The connections are
 * lib/redisconn.c's, shared with the Redis lockout store and
 * proxyauth-passwd --redis.
 *
 *   lookup.c      verify and probe: the HMGET, the policy on its fields
 *   subscriber.c  SUBSCRIBE <prefix>invalidate, the cache invalidation
 *   config.c      the [redis] keys, open, close
 */
#ifndef PA_REDISB_H
#define PA_REDISB_H

#include "backend.h"
#include "hash.h"
#include "redisconn.h"
#include "watcher.h"

struct redis {
	struct pa_redis_opts opts;
	char *address, *username, *prefix, *channel;
	char password[1024];
	const struct pa_backend_env *env;
	struct pa_redis_pool *pool;
	char sub_up[320], sub_down[320];	/* for the watcher's logs */
	struct pa_watcher *watcher;
	/* The last stored hash seen, for the dummy verification of unknown
	 * or disabled users: it costs what the users here cost. */
	struct pa_hash_reference reference;
};

/* lookup.c: the backend's verify and probe (pa_backend_ops). */
enum pa_result redisb_verify(void *ctx, const struct pa_credentials *cred,
			     struct pa_identity *who, struct pa_error *err);
int redisb_probe(void *ctx, struct pa_error *err);

/* subscriber.c: the subscriber, a source for lib/watcher.c. */
extern const struct pa_watch_source redisb_subscriber;

#endif
