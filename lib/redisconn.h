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
 * connection can no longer be used (I/O error, timeout, protocol). */
redisReply *pa_redis_command(redisContext *c, int argc, const char **argv, struct pa_error *err,
			     int *broken);

#endif
