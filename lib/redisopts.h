/*
 * Where and how to reach a Redis server: what the Redis code (redisconn.h)
 * takes, and what the programs fill from [redis] or the command line.
 * Plain C, no hiredis: a build without Redis (PA_WITH_REDIS=OFF) includes
 * it too, and its entry points then refuse (redis_absent.c).
 */
#ifndef PA_REDISOPTS_H
#define PA_REDISOPTS_H

#include "error.h"

struct pa_redis_opts {
	const char *address;	/* "host:port", "[v6]:port" or "/path/to/socket" */
	const char *username;	/* "" or NULL: AUTH with the password only */
	const char *password;	/* "" or NULL: no AUTH */
	long db;
	long timeout_ms;	/* a whole pooled command; see redisconn.h */
};

/* 0 when address is usable ("host:port", "[v6]:port", "/socket"), else
 * -1 with err set (without Redis in the build: always, saying so). */
int pa_redis_check_address(const char *address, struct pa_error *err);

#endif
