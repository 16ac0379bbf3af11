/*
 * What stands in for the Redis code in a build without it
 * (PA_WITH_REDIS=OFF, so that hiredis is not needed): each entry point
 * the core and the programs call refuses with one clear message, so
 * `lockout_store = redis` fails proxyauthd -t and start-up, and
 * proxyauth-passwd --redis stops, instead of a link error or a silent
 * fallback.
 */
#include "lockout_redis.h"
#include "passwd_redis.h"
#include "redisopts.h"

#define ABSENT "this build has no Redis (built with PA_WITH_REDIS=OFF)"

int
pa_redis_check_address(const char *address, struct pa_error *err)
{
	(void)address;
	pa_error_set(err, "--redis: " ABSENT);
	return -1;
}

int
pa_passwd_redis_update(const struct pa_redis_opts *o, const char *prefix, const char *user,
		       enum pa_pwfile_op op, const char *hash, const char *groups,
		       struct pa_error *err)
{
	(void)o, (void)prefix, (void)user, (void)op, (void)hash, (void)groups;
	pa_error_set(err, "--redis: " ABSENT);
	return -1;
}

int
pa_lockout_redis_open(const struct pa_config *cfg, struct pa_lockout_store *out,
		      struct pa_error *err)
{
	char where[256];

	out->ops = NULL;
	out->ctx = NULL;
	pa_conf_where(pa_config_section(cfg, "server"), "lockout_store", where, sizeof(where));
	pa_error_set(err, "%s: lockout_store = redis: " ABSENT, where);
	return -1;
}
