/*
 * Opening a Redis connection the way every Redis user in proxyauthd needs
 * it (the backend's pool and subscriber, proxyauth-passwd): TCP or unix
 * socket, connect and command timeouts, Redis 6 ACL AUTH, SELECT.  Every
 * command is sent argv-style; nothing here builds a command from text.
 */
#ifndef PA_REDISCONN_H
#define PA_REDISCONN_H

#include <hiredis/hiredis.h>

#include "connpool.h"
#include "deadline.h"
#include "error.h"
#include "log.h"
#include "redisopts.h"

/* Connects, authenticates and selects the database, all before dl.
 * Returns the context (free it with redisFree()), or NULL with err set.
 * Each command on it should go through pa_redis_command_before(). */
redisContext *pa_redis_connect_before(const struct pa_redis_opts *o, const struct pa_deadline *dl,
				      struct pa_error *err);

/* The same with a deadline of timeout_ms for the connect, AUTH and SELECT,
 * and timeout_ms for each later pa_redis_command() (proxyauth-passwd). */
redisContext *pa_redis_connect(const struct pa_redis_opts *o, struct pa_error *err);

/* Runs one argv-style command, answered before dl (NULL: the context's
 * own timeout).  Returns the reply (freeReplyObject() it) or NULL with err
 * set and *st saying whether the connection is still good: PA_CONN_REFUSED
 * for an error reply (it is), PA_CONN_CLOSED_BY_SERVER when the server had
 * closed it (the one case worth a retry on a fresh connection),
 * PA_CONN_TIMEOUT or PA_CONN_BROKEN otherwise. */
redisReply *pa_redis_command_before(redisContext *c, const struct pa_deadline *dl, int argc,
				    const char **argv, struct pa_error *err,
				    enum pa_conn_status *st);
redisReply *pa_redis_command(redisContext *c, int argc, const char **argv, struct pa_error *err,
			     enum pa_conn_status *st);

/*
 * A pool of connections on lib/connpool.c, each lent to one thread at a
 * time (a hiredis context is not thread-safe), made on first use.
 * pa_redis_pool_command() retries once on a fresh connection when a kept
 * one had been closed by the server (it restarted, or dropped an idle
 * connection), and does all of it, the wait for a connection, connect,
 * AUTH, SELECT and the command, within one timeout_ms.
 */
struct pa_redis_pool;

/* A pool of size connections with o (copied; its strings must outlive the
 * pool); log (may be NULL) hears of retries.  NULL when out of memory. */
struct pa_redis_pool *pa_redis_pool_new(const struct pa_redis_opts *o, int size,
					const struct pa_log *log);
void pa_redis_pool_free(struct pa_redis_pool *p);	/* safe on NULL */

/* Runs one argv-style command within timeout_ms in all.  Returns the reply
 * (freeReplyObject() it) or NULL with err set, also for an error reply. */
redisReply *pa_redis_pool_command(struct pa_redis_pool *p, int argc, const char **argv,
				  struct pa_error *err);

#endif
