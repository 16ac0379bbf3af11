/*
 * Opening a Redis connection the way every Redis user in proxyauthd needs
 * it (the backend's pool and subscriber, proxyauth-passwd): TCP or unix
 * socket, connect and command timeouts, Redis 6 ACL AUTH, SELECT.  Every
 * command is sent argv-style; nothing here builds a command from text.
 */
#ifndef PA_REDISCONN_H
#define PA_REDISCONN_H

#include <hiredis/hiredis.h>

#include "error.h"

struct pa_redis_opts {
	const char *address;	/* "host:port", "[v6]:port" or "/path/to/socket" */
	const char *username;	/* "" or NULL: AUTH with the password only */
	const char *password;	/* "" or NULL: no AUTH */
	long db;
	long timeout_ms;	/* connect and every command */
};

/* 0 when address is usable ("host:port", "[v6]:port", "/socket"). */
int pa_redis_check_address(const char *address, struct pa_error *err);

/* Connects, authenticates and selects the database.  Returns the context
 * (free it with redisFree()), or NULL with err set. */
redisContext *pa_redis_connect(const struct pa_redis_opts *o, struct pa_error *err);

/* Runs one argv-style command; returns the reply (freeReplyObject() it) or
 * NULL with err set, also for an error reply.  *broken is set when the
 * connection can no longer be used: 1 when it timed out or failed
 * otherwise, 2 when the server had closed it (the one case worth a retry
 * on a fresh connection). */
redisReply *pa_redis_command(redisContext *c, int argc, const char **argv, struct pa_error *err,
			     int *broken);

/*
 * A pool of connections, each lent to one thread at a time (a hiredis
 * context is not thread-safe), made on first use.  pa_redis_pool_command()
 * retries once on a fresh connection when a kept one turns out broken
 * (the server restarted, or dropped an idle connection).
 */
struct pa_redis_pool;

/* A pool of size connections with o (copied; its strings must outlive the
 * pool).  NULL when out of memory. */
struct pa_redis_pool *pa_redis_pool_new(const struct pa_redis_opts *o, int size);
void pa_redis_pool_free(struct pa_redis_pool *p);	/* safe on NULL */

/* Runs one argv-style command, waiting up to timeout_ms for a free
 * connection.  Returns the reply (freeReplyObject() it) or NULL with err. */
redisReply *pa_redis_pool_command(struct pa_redis_pool *p, int argc, const char **argv,
				  struct pa_error *err);

#endif
