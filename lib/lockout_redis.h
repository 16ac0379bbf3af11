/*
 * The lockout store shared by every replica through Redis (lockout_store =
 * redis, SPEC section 5): the keyed counters of lockout.h as Redis keys
 * under the [redis] key_prefix.  A key is a string set with PX (SET NX
 * PX when only new), a counter set is a hash (HINCRBY, HVALS, HGET, HDEL)
 * whose expiry is set at its first count (PTTL, PEXPIRE).  Ten replicas
 * then give an attacker the attempts of one.  Every call is a network
 * round trip, so lockout.c makes them only where the pipeline allows
 * (worker threads); all commands are argv-style, names only ever parts of
 * keys.
 */
#ifndef PA_LOCKOUT_REDIS_H
#define PA_LOCKOUT_REDIS_H

#include "lockout.h"
#include "config.h"

/* The store on the [redis] section's server of cfg (address, username,
 * password_file, db, timeout_ms, key_prefix), every key under key_prefix.
 * It holds its own copy of what it needs, the password scrubbed when it
 * closes.  0, or -1 with err (no Redis in this build, an unreadable
 * password file, out of memory). */
int pa_lockout_redis_open(const struct pa_config *cfg, struct pa_lockout_store *out,
			  struct pa_error *err);

#endif
