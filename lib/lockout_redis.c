/*
 * Lockout store in Redis.  Each call is one to three commands; a reply of
 * an unexpected type is an error, so a Redis that holds something else
 * under our keys makes the lockout fall back to memory instead of
 * guessing.
 */
#include "lockout_redis.h"
#include "backend.h"
#include "redisconn.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rstore {
	struct pa_redis_pool *pool;
	char *prefix;
	/* the connection's settings: the pool points into them */
	struct pa_redis_opts opts;
	char *address, *username;
	char password[1024];
};

#define RKEY_MAX (PA_FOLD_MAX + PA_LOCKOUT_ADDR_MAX + 320)

static int
full_key(const struct rstore *r, const char *key, char *buf, struct pa_error *err)
{
	if ((size_t)snprintf(buf, RKEY_MAX, "%s%s", r->prefix, key) >= RKEY_MAX) {
		pa_error_set(err, "lockout key too long");
		return -1;
	}
	return 0;
}

/* Runs a command; the reply, or NULL with err (also for an error reply). */
static redisReply *
command(struct rstore *r, int argc, const char **argv, struct pa_error *err)
{
	redisReply *rep = pa_redis_pool_command(r->pool, argc, argv, err);

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
		pa_error_set(err, "%s: %.200s", argv[0], rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/* An integer reply into *n: 0, or -1 with err. */
static int
int_command(struct rstore *r, int argc, const char **argv, long long *n,
	    struct pa_error *err)
{
	redisReply *rep = command(r, argc, argv, err);

	if (rep == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(rep);
		pa_error_set(err, "unexpected reply to %s", argv[0]);
		return -1;
	}
	*n = rep->integer;
	freeReplyObject(rep);
	return 0;
}

static int
r_put(void *ctx, const char *key, uint64_t ttl_ms, bool only_new, uint64_t now_ms,
      struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX], ttl[24];
	const char *argv[6] = { "SET", k, "1", "PX", ttl, "NX" };
	redisReply *rep;
	int ret;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0)
		return -1;
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms > 0 ? ttl_ms : 1));
	if ((rep = command(r, only_new ? 6 : 5, argv, err)) == NULL)
		return -1;
	/* OK when set; nil when NX found the key. */
	ret = rep->type == REDIS_REPLY_STATUS ? 1 : 0;
	freeReplyObject(rep);
	return ret;
}

static int
r_exists(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX];
	const char *argv[2] = { "EXISTS", k };
	long long n;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0 || int_command(r, 2, argv, &n, err) != 0)
		return -1;
	return n > 0;
}

static long long
r_incr(void *ctx, const char *key, const char *field, uint64_t ttl_ms, uint64_t now_ms,
       struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX], ttl[24];
	const char *incr[4] = { "HINCRBY", k, field, "1" };
	const char *pttl[2] = { "PTTL", k };
	const char *expire[3] = { "PEXPIRE", k, ttl };
	const char *vals[2] = { "HVALS", k };
	redisReply *rep;
	long long n, sum = 0;
	size_t i;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0)
		return -1;
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms > 0 ? ttl_ms : 1));
	if (int_command(r, 4, incr, &n, err) != 0 || int_command(r, 2, pttl, &n, err) != 0)
		return -1;
	/* The first count opens the window: the set expires with it.  A set
	 * left without an expiry (that PEXPIRE was lost) gets one now, so
	 * failures never add up past the window. */
	if (n == -1 && int_command(r, 3, expire, &n, err) != 0)
		return -1;
	if ((rep = command(r, 2, vals, err)) == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		pa_error_set(err, "unexpected reply to HVALS");
		return -1;
	}
	for (i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING)
			sum += atoll(rep->element[i]->str);
	freeReplyObject(rep);
	return sum > 0 ? sum : 1;
}

static long long
r_get(void *ctx, const char *key, const char *field, uint64_t now_ms, struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX];
	const char *argv[3] = { "HGET", k, field };
	redisReply *rep;
	long long n = 0;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0 || (rep = command(r, 3, argv, err)) == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_STRING)
		n = atoll(rep->str);
	freeReplyObject(rep);
	return n;
}

static int
r_drop(void *ctx, const char *key, const char *field, uint64_t now_ms, struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX];
	const char *argv[3] = { "HDEL", k, field };
	long long n;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0 || int_command(r, 3, argv, &n, err) != 0)
		return -1;
	return 0;
}

static long long
r_ttl(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX];
	const char *argv[2] = { "PTTL", k };
	long long n;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0 || int_command(r, 2, argv, &n, err) != 0)
		return -1;
	/* -2: gone.  -1: no expiry (an operator's own SET): "cannot tell",
	 * and the caller keeps the lock a whole lockout. */
	return n == -2 ? 0 : n == -1 ? -1 : n;
}

static long long
r_sum(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	struct rstore *r = ctx;
	char k[RKEY_MAX];
	const char *argv[2] = { "HVALS", k };
	redisReply *rep;
	long long sum = 0;
	size_t i;

	(void)now_ms;
	if (full_key(r, key, k, err) != 0 || (rep = command(r, 2, argv, err)) == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(rep);
		pa_error_set(err, "unexpected reply to HVALS");
		return -1;
	}
	for (i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING)
			sum += atoll(rep->element[i]->str);
	freeReplyObject(rep);
	return sum;
}

static void
r_close(void *ctx)
{
	struct rstore *r = ctx;

	if (r == NULL)
		return;
	pa_redis_pool_free(r->pool);
	free(r->prefix);
	free(r->address);
	free(r->username);
	OPENSSL_cleanse(r->password, sizeof(r->password));
	free(r);
}

static const struct pa_lockout_store_ops redis_ops = {
	r_put, r_exists, r_incr, r_get, r_drop, r_close, r_ttl, r_sum,
};

int
pa_lockout_redis_open(const struct pa_config *cfg, struct pa_lockout_store *out,
		      struct pa_error *err)
{
	const struct pa_backend_ops *ops = pa_backend_find("redis");
	const struct pa_section *rs = pa_config_section(cfg, "redis");
	struct rstore *r = NULL;
	int ret = -1;

	out->ops = NULL;
	out->ctx = NULL;
	if (ops == NULL) {
		pa_error_set(err, "lockout_store = redis needs the redis backend in this build");
		goto done;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	if (pa_backend_read_secret(rs, ops->keys, "password_file", r->password,
				   sizeof(r->password), err) != 0)
		goto done;
	if ((r->prefix = strdup(pa_conf_str(rs, ops->keys, "key_prefix"))) == NULL ||
	    (r->address = strdup(pa_conf_str(rs, ops->keys, "address"))) == NULL ||
	    (r->username = strdup(pa_conf_str(rs, ops->keys, "username"))) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	r->opts.address = r->address;
	r->opts.username = r->username;
	r->opts.password = r->password;
	r->opts.db = pa_conf_int(rs, ops->keys, "db");
	r->opts.timeout_ms = pa_conf_int(rs, ops->keys, "timeout_ms");
	if ((r->pool = pa_redis_pool_new(&r->opts, 8, NULL)) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	out->ops = &redis_ops;
	out->ctx = r;
	r = NULL;
	ret = 0;
done:
	r_close(r);
	return ret;
}
