/*
 * Redis backend: the [redis] keys, open and close (see redisb.h for the
 * other files).  Open reads the keys and password_file, makes the pool
 * (lib/redisconn.c; nothing connects yet) and, unless only checking (-t),
 * starts the subscriber.  Close stops the subscriber, closes the pool and
 * scrubs the password.
 */
#include "redisb.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
check_address(const char *value, struct pa_error *err)
{
	return pa_redis_check_address(value, err);
}

static const struct pa_conf_key redis_keys[] = {
	{ "address", PA_CONF_STRING, 0, 0, "127.0.0.1:6379", NULL, check_address },
	{ "username", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "password_file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "db", PA_CONF_INT, 0, 1023, "0", NULL, NULL },
	{ "key_prefix", PA_CONF_STRING, 0, 200, "proxyauth:", NULL, NULL },
	{ "timeout_ms", PA_CONF_INT, 10, 60000, "2000", NULL, NULL },
	{ "pool_size", PA_CONF_INT, 1, 256, "8", NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

static void redis_close(void *ctx);

static int
redis_open(const struct pa_section *conf, const struct pa_backend_env *env, void **ctx,
	   struct pa_error *err)
{
	struct redis *r;

	*ctx = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto oom;
	r->env = env;
	pa_reference_init(&r->reference);
	r->address = strdup(pa_conf_str(conf, redis_keys, "address"));
	r->username = strdup(pa_conf_str(conf, redis_keys, "username"));
	r->prefix = strdup(pa_conf_str(conf, redis_keys, "key_prefix"));
	if (r->address == NULL || r->username == NULL || r->prefix == NULL ||
	    asprintf(&r->channel, "%sinvalidate", r->prefix) < 0) {
		r->channel = NULL;
		redis_close(r);
		goto oom;
	}
	if (pa_backend_read_secret(conf, redis_keys, "password_file", r->password, sizeof(r->password),
				   err) != 0) {
		redis_close(r);
		return -1;
	}
	r->opts.address = r->address;
	r->opts.username = r->username;
	r->opts.password = r->password;
	r->opts.db = pa_conf_int(conf, redis_keys, "db");
	r->opts.timeout_ms = pa_conf_int(conf, redis_keys, "timeout_ms");
	if ((r->pool = pa_redis_pool_new(&r->opts, (int)pa_conf_int(conf, redis_keys, "pool_size"),
					 env->log)) == NULL) {
		redis_close(r);
		goto oom;
	}
	/* key_prefix is at most 200 bytes: these fit. */
	snprintf(r->sub_up, sizeof(r->sub_up), "subscribed to %s", r->channel);
	snprintf(r->sub_down, sizeof(r->sub_down), "cannot subscribe to %s", r->channel);
	if (!env->check_only && env->invalidate != NULL) {
		struct pa_watcher_config wc = {
			.src = &redisb_subscriber, .ctx = r, .up = r->sub_up, .down = r->sub_down,
			.conn_name = "subscriber connection", .open_timeout_ms = r->opts.timeout_ms,
			.log = env->log, .invalidate = env->invalidate,
			.expire = env->expire, .deaf = env->deaf,
			.invalidate_arg = env->invalidate_arg,
		};

		if ((r->watcher = pa_watcher_start(&wc, err)) == NULL) {
			redis_close(r);
			return -1;
		}
	}
	*ctx = r;
	return 0;
oom:
	pa_error_set(err, "out of memory");
	return -1;
}

static void
redis_close(void *ctx)
{
	struct redis *r = ctx;

	if (r == NULL)
		return;
	pa_watcher_stop(r->watcher);
	pa_redis_pool_free(r->pool);
	free(r->address);
	free(r->username);
	free(r->prefix);
	free(r->channel);
	OPENSSL_cleanse(r->password, sizeof(r->password));
	pa_reference_destroy(&r->reference);
	free(r);
}

const struct pa_backend_ops pa_redis_ops = {
	.name = "redis",
	.keys = redis_keys,
	.open = redis_open,
	.verify = redisb_verify,
	.probe = redisb_probe,
	.reload = NULL,
	.close = redis_close,
};
