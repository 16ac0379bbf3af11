/*
 * proxyauth-passwd's Redis edits (passwd_redis.h).  One connection per
 * call, closed on every path; the new hash is only ever sent to the
 * server, never logged.
 */
#include "passwd_redis.h"
#include "credentials.h"
#include "redisconn.h"

#include <stdio.h>

int
pa_passwd_redis_update(const struct pa_redis_opts *o, const char *prefix, const char *user,
		       enum pa_pwfile_op op, const char *hash, const char *groups,
		       struct pa_error *err)
{
	char key[PA_USER_MAX + 256], channel[256];
	redisContext *c = NULL;
	redisReply *r;
	enum pa_conn_status st;
	int absent, ret = -1;

	if (op == PA_PWFILE_SET && pa_passwd_check_new_user(user, err) != 0)
		goto done;
	if ((size_t)snprintf(key, sizeof(key), "%suser:%s", prefix, user) >= sizeof(key) ||
	    (size_t)snprintf(channel, sizeof(channel), "%sinvalidate", prefix) >=
		    sizeof(channel)) {
		pa_error_set(err, "key prefix too long");
		goto done;
	}
	if ((c = pa_redis_connect(o, err)) == NULL)
		goto done;
	if (op != PA_PWFILE_SET) {
		const char *ex[2] = { "EXISTS", key };

		if ((r = pa_redis_command(c, 2, ex, err, &st)) == NULL)
			goto done;
		absent = r->type != REDIS_REPLY_INTEGER || r->integer != 1;
		freeReplyObject(r);
		if (absent) {
			pa_error_set(err, "no user '%s' in redis", user);
			goto done;
		}
	}
	{
		const char *set[6] = { "HSET", key, "hash", hash, "groups", groups };
		const char *hdel[3] = { "HDEL", key, "disabled" };
		const char *dis[4] = { "HSET", key, "disabled", "1" };
		const char *del[2] = { "DEL", key };

		switch (op) {
		case PA_PWFILE_SET:
			r = pa_redis_command(c, groups != NULL ? 6 : 4, set, err, &st);
			if (r != NULL) {
				freeReplyObject(r);
				r = pa_redis_command(c, 3, hdel, err, &st);
			}
			break;
		case PA_PWFILE_ENABLE:
			r = pa_redis_command(c, 3, hdel, err, &st);
			break;
		case PA_PWFILE_DISABLE:
			r = pa_redis_command(c, 4, dis, err, &st);
			break;
		case PA_PWFILE_DELETE:
		default:
			r = pa_redis_command(c, 2, del, err, &st);
			break;
		}
		if (r == NULL)
			goto done;
		freeReplyObject(r);
	}
	{
		const char *pub[3] = { "PUBLISH", channel, user };

		if ((r = pa_redis_command(c, 3, pub, err, &st)) == NULL)
			goto done;
		freeReplyObject(r);
	}
	ret = 0;
done:
	if (c != NULL)
		redisFree(c);
	return ret;
}
