/*
 * Redis backend (SPEC section 4).  A user is the hash <prefix>user:<name>
 * with fields hash, groups, disabled and expires, read with one HMGET sent
 * argv-style, so a user name is only ever a key, never command text.
 *
 * Connections: a pool of pool_size hiredis contexts (lib/redisconn.c on
 * lib/connpool.c), with one retry on a fresh connection when a kept one
 * was closed by the server; the wait for a connection, connect, AUTH,
 * SELECT and HMGET all fit in one timeout_ms.  The hash is verified after
 * the connection went back to the pool.
 *
 * Invalidation: a subscriber (lib/watcher.c) with its own connection
 * listens on <prefix>invalidate and hands each user name to the cache.
 * It drops every Redis-backed answer the moment its connection is lost
 * and again whenever it has (re)subscribed, since messages may have been
 * missed while it was away; it retries after 250 ms, doubling to 2 s.
 */
#include "backend.h"
#include "clock.h"
#include "hash.h"
#include "redisconn.h"
#include "text.h"
#include "watcher.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void
dummy_verify(struct redis *r, const struct pa_credentials *cred)
{
	pa_reference_dummy_verify(&r->reference, cred);
}

/* A copy of an HMGET field, or NULL when it is nil. */
static const char *
field(const redisReply *a, size_t k, size_t *len)
{
	const redisReply *e;

	if (a->type != REDIS_REPLY_ARRAY || k >= a->elements)
		return NULL;
	e = a->element[k];
	if (e == NULL || e->type != REDIS_REPLY_STRING)
		return NULL;
	*len = e->len;
	return e->str;
}

/* Frees an HMGET reply, scrubbing the stored hash it held. */
static void
free_reply(redisReply *reply)
{
	if (reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0] != NULL &&
	    reply->element[0]->type == REDIS_REPLY_STRING)
		OPENSSL_cleanse(reply->element[0]->str, reply->element[0]->len);
	freeReplyObject(reply);
}

static enum pa_result
redis_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	     struct pa_error *err)
{
	struct redis *r = ctx;
	char key[PA_USER_MAX + 256], hash[600], groups[PA_GROUPS_MAX], num[32];
	const char *argv[6] = { "HMGET", key, "hash", "groups", "disabled", "expires" };
	const char *h, *g, *dis, *exp;
	size_t hl = 0, gl = 0, dl = 0, el = 0;
	enum pa_result res = PA_UNAVAILABLE;
	redisReply *reply = NULL;
	long long expires = 0;
	bool disabled, exists;
	char *end;

	hash[0] = groups[0] = num[0] = '\0';
	if ((size_t)snprintf(key, sizeof(key), "%suser:%s", r->prefix, cred->user) >= sizeof(key)) {
		pa_error_set(err, "key too long");
		goto done;
	}
	if ((reply = pa_redis_pool_command(r->pool, 6, argv, err)) == NULL)
		goto done;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
		pa_error_set(err, "redis: unexpected reply to HMGET");
		goto done;
	}
	h = field(reply, 0, &hl);
	g = field(reply, 1, &gl);
	dis = field(reply, 2, &dl);
	exp = field(reply, 3, &el);
	if (h != NULL && pa_strlcpy_n(hash, sizeof(hash), h, hl) != 0)
		hash[0] = '\0';
	if (g != NULL && pa_strlcpy_n(groups, sizeof(groups), g, gl) != 0) {
		pa_log_msg(r->env->log, PA_LOG_WARN, "redis: groups of %s too long", cred->user);
		groups[0] = '\0';
		hash[0] = '\0';	/* refuse the user rather than drop groups a rule may need */
	}
	if (exp != NULL && pa_strlcpy_n(num, sizeof(num), exp, el) != 0)
		num[0] = 'x';	/* unparseable below */
	/* "1" disables; "0" or empty does not; anything else is a record we
	 * do not understand, and refused rather than guessed at. */
	disabled = dis != NULL && !(dl == 0 || (dl == 1 && dis[0] == '0'));
	if (disabled && !(dl == 1 && dis[0] == '1'))
		pa_log_msg(r->env->log, PA_LOG_WARN, "redis: user %s has a disabled field other "
			   "than 0 or 1; denied", cred->user);
	exists = h != NULL || g != NULL || dis != NULL || exp != NULL;
	free_reply(reply);
	reply = NULL;

	res = exists ? PA_DENIED : PA_NOT_FOUND;
	if (!exists || hash[0] == '\0' || disabled)
		goto dummy;
	if (num[0] != '\0') {
		errno = 0;
		expires = strtoll(num, &end, 10);
		if (errno != 0 || *end != '\0' || end == num) {
			pa_log_msg(r->env->log, PA_LOG_WARN, "redis: user %s has an unreadable "
				   "expires field; denied", cred->user);
			goto dummy;
		}
		if ((long long)time(NULL) >= expires)
			goto dummy;
	}
	res = pa_backend_check_stored(r->env, "redis", &r->reference, cred, hash, cred->user,
				      groups, who);
	/* Unix seconds, compared with this host's clock as above. */
	if (res == PA_GRANTED && expires > 0)
		who->expires_ms = expires > INT64_MAX / 1000 ? INT64_MAX : (int64_t)expires * 1000;
	goto done;
dummy:
	/* Unknown, disabled or expired: cost what a real check costs. */
	dummy_verify(r, cred);
done:
	free_reply(reply);
	OPENSSL_cleanse(hash, sizeof(hash));
	return res;
}

static int
redis_probe(void *ctx, struct pa_error *err)
{
	struct redis *r = ctx;
	const char *argv[1] = { "PING" };
	redisReply *reply = pa_redis_pool_command(r->pool, 1, argv, err);
	int ok;

	if (reply == NULL)
		return -1;
	ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	if (!ok)
		pa_error_set(err, "redis: unexpected reply to PING");
	return ok ? 0 : -1;
}

static void
on_message(struct redis *r, redisReply *m)
{
	if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
	    m->element[0]->type == REDIS_REPLY_STRING && strcmp(m->element[0]->str, "message") == 0 &&
	    m->element[2]->type == REDIS_REPLY_STRING && m->element[2]->len <= PA_USER_MAX &&
	    strlen(m->element[2]->str) == m->element[2]->len)
		r->env->invalidate(r->env->invalidate_arg, "redis", m->element[2]->str);
}

/* The subscriber, a source for lib/watcher.c: a connection of its own,
 * subscribed to <prefix>invalidate. */
static void *
sub_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct redis *r = ctx;
	const char *argv[2] = { "SUBSCRIBE", r->channel };
	enum pa_conn_status st;
	redisContext *c;
	redisReply *reply;

	if ((c = pa_redis_connect_before(&r->opts, dl, err)) == NULL)
		return NULL;
	if ((reply = pa_redis_command_before(c, dl, 2, argv, err, &st)) == NULL) {
		redisFree(c);
		return NULL;
	}
	freeReplyObject(reply);
	return c;
}

static int
sub_fd(void *ctx, void *conn)
{
	(void)ctx;
	return ((redisContext *)conn)->fd;
}

static int
sub_read(void *ctx, void *conn, struct pa_error *err)
{
	redisContext *c = conn;
	void *m = NULL;

	if (redisBufferRead(c) != REDIS_OK) {
		pa_error_set(err, "%s", c->errstr[0] ? c->errstr : "closed");
		return -1;
	}
	while (redisGetReplyFromReader(c, &m) == REDIS_OK && m != NULL) {
		on_message(ctx, m);
		freeReplyObject(m);
		m = NULL;
	}
	if (c->err) {
		pa_error_set(err, "%s", c->errstr);
		return -1;
	}
	return 0;
}

static void
sub_close(void *ctx, void *conn)
{
	(void)ctx;
	redisFree(conn);
}

static const struct pa_watch_source subscriber = {
	"redis", sub_open, sub_fd, sub_read, sub_close,
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
			.src = &subscriber, .ctx = r, .up = r->sub_up, .down = r->sub_down,
			.conn_name = "subscriber connection", .open_timeout_ms = r->opts.timeout_ms,
			.log = env->log, .invalidate = env->invalidate,
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
	.verify = redis_verify,
	.probe = redis_probe,
	.reload = NULL,
	.close = redis_close,
};
