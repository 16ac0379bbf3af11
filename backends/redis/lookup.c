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
 * Unknown, disabled and expired users cost a dummy verification of the
 * last stored hash seen, as a real check costs.  See redisb.h for the
 * other files.
 */
#include "redisb.h"
#include "text.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

enum pa_result
redisb_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
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

int
redisb_probe(void *ctx, struct pa_error *err)
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
