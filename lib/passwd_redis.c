/*
 * proxyauth-passwd's Redis edits (passwd_redis.h).  One connection per
 * call, closed on every path; the new hash is only ever sent to the
 * server, never logged.
 */
#include "passwd_redis.h"
#include "credentials.h"
#include "fold.h"
#include "redisconn.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

/*
 * Looks through the keys <prefix>user:* (SCAN, argv-style, the prefix's
 * glob characters escaped) for another user whose name folds like user:
 * "alice" for a new "Alice", which an application comparing names without
 * regard to case would take for one.  Returns 1 with alike set, 0 when
 * there is none, -1 with err set (the server refused SCAN, say).
 */
static int
find_alike(redisContext *c, const char *prefix, const char *user, char *alike, size_t size,
	   struct pa_error *err)
{
	char pattern[2 * 256 + 8], cursor[32] = "0", fold[PA_FOLD_MAX], other[PA_FOLD_MAX];
	size_t i, k = 0, skip = strlen(prefix) + 5, ulen = strlen(user);
	enum pa_conn_status st;
	redisReply *r;
	int found = 0;

	for (i = 0; prefix[i] != '\0' && k + 2 < sizeof(pattern) - 8; i++) {
		if (strchr("*?[]\\", prefix[i]) != NULL)
			pattern[k++] = '\\';
		pattern[k++] = prefix[i];
	}
	if (prefix[i] != '\0') {
		pa_error_set(err, "key prefix too long");
		return -1;
	}
	memcpy(pattern + k, "user:*", 7);
	pa_fold_user(user, ulen, fold);
	do {
		const char *scan[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *keys;

		if ((r = pa_redis_command(c, 6, scan, err, &st)) == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY ||
		    pa_strlcpy(cursor, r->element[0]->str, sizeof(cursor)) != 0) {
			freeReplyObject(r);
			pa_error_set(err, "unexpected reply to SCAN");
			return -1;
		}
		keys = r->element[1];
		for (i = 0; i < keys->elements && !found; i++) {
			const redisReply *e = keys->element[i];
			const char *name;
			size_t n;

			if (e->type != REDIS_REPLY_STRING || e->len <= skip || e->len - skip > PA_USER_MAX)
				continue;
			name = e->str + skip;
			n = e->len - skip;
			if (n == ulen && memcmp(name, user, n) == 0)
				continue;
			pa_fold_user(name, n, other);
			if (strcmp(other, fold) == 0) {
				pa_strlcpy_n(alike, size, name, n);
				found = 1;
			}
		}
		freeReplyObject(r);
	} while (!found && strcmp(cursor, "0") != 0);
	return found;
}

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
	if (op == PA_PWFILE_SET) {
		const char *ex[2] = { "EXISTS", key };
		char alike[PA_USER_MAX + 1];
		int a;

		/* A new user only: an existing one keeps working as it is. */
		if ((r = pa_redis_command(c, 2, ex, err, &st)) == NULL)
			goto done;
		absent = r->type != REDIS_REPLY_INTEGER || r->integer != 1;
		freeReplyObject(r);
		if (absent && (a = find_alike(c, prefix, user, alike, sizeof(alike), err)) != 0) {
			if (a > 0)
				pa_error_set(err, "'%s' folds like the user '%s' in redis (case, width "
					     "or blanks): an application comparing names loosely "
					     "would take one for the other; refused", user, alike);
			goto done;
		}
	}
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
