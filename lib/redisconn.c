/*
 * Redis connections.  hiredis 0.14 (Debian 12) has no TLS: users who need
 * it put a local TLS terminator in front or use a unix socket.
 */
#include "redisconn.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

int
pa_redis_check_address(const char *address, struct pa_error *err)
{
	const char *colon;
	long port;

	if (address[0] == '/')
		return 0;
	colon = strrchr(address, ':');
	if (colon == NULL || colon == address || pa_parse_long(colon + 1, 1, 65535, &port) != 0) {
		pa_error_set(err, "redis address must be HOST:PORT or /path/to/socket");
		return -1;
	}
	return 0;
}

redisReply *
pa_redis_command(redisContext *c, int argc, const char **argv, struct pa_error *err, int *broken)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);

	*broken = 0;
	if (r == NULL) {
		pa_error_set(err, "redis: %s", c->err ? c->errstr : "no reply");
		*broken = 1;
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		pa_error_set(err, "redis: %.*s", (int)(r->len > 200 ? 200 : r->len), r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

redisContext *
pa_redis_connect(const struct pa_redis_opts *o, struct pa_error *err)
{
	struct timeval tv = { o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000 };
	redisContext *c;
	redisReply *r;
	char host[256], dbs[24];
	int broken;

	if (o->address[0] == '/') {
		c = redisConnectUnixWithTimeout(o->address, tv);
	} else {
		const char *colon = strrchr(o->address, ':');
		const char *hs = o->address;
		size_t hl = (size_t)(colon - o->address);

		if (pa_redis_check_address(o->address, err) != 0)
			return NULL;
		if (hs[0] == '[' && hl >= 2 && hs[hl - 1] == ']') {
			hs++;
			hl -= 2;
		}
		if (pa_strlcpy_n(host, sizeof(host), hs, hl) != 0) {
			pa_error_set(err, "redis host name too long");
			return NULL;
		}
		c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
	}
	if (c == NULL || c->err) {
		pa_error_set(err, "redis %s: %s", o->address, c != NULL ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		pa_error_set(err, "redis %s: cannot set the timeout", o->address);
		goto fail;
	}
	(void)redisEnableKeepAlive(c);
	if (o->password != NULL && o->password[0] != '\0') {
		const char *argv[3] = { "AUTH", o->username, o->password };
		int argc = 3;

		if (o->username == NULL || o->username[0] == '\0') {
			argv[1] = o->password;
			argc = 2;
		}
		if ((r = pa_redis_command(c, argc, argv, err, &broken)) == NULL)
			goto fail;	/* err says why; it never holds the password */
		freeReplyObject(r);
	}
	if (o->db != 0) {
		const char *argv[2] = { "SELECT", dbs };

		snprintf(dbs, sizeof(dbs), "%ld", o->db);
		if ((r = pa_redis_command(c, 2, argv, err, &broken)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	return c;
fail:
	redisFree(c);
	return NULL;
}
