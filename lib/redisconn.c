/*
 * Redis connections.  hiredis 0.14 (Debian 12) has no TLS: users who need
 * it put a local TLS terminator in front or use a unix socket.
 */
#include "redisconn.h"
#include "clock.h"
#include "connpool.h"
#include "text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Sets c's socket timeout to what is left of dl; false when nothing is. */
static bool
set_timeout(redisContext *c, const struct pa_deadline *dl)
{
	struct timeval tv;

	return pa_deadline_left_tv(dl, pa_now_us(), &tv) && redisSetTimeout(c, tv) == REDIS_OK;
}

redisReply *
pa_redis_command_before(redisContext *c, const struct pa_deadline *dl, int argc,
			const char **argv, struct pa_error *err, enum pa_conn_status *st)
{
	redisReply *r;
	int e;

	if (dl != NULL && !set_timeout(c, dl)) {
		*st = PA_CONN_TIMEOUT;
		pa_error_set(err, "no answer within the timeout");
		return NULL;
	}
	errno = 0;
	r = redisCommandArgv(c, argc, argv, NULL);
	e = errno;
	*st = PA_CONN_OK;
	if (r == NULL) {
		/* A kept connection the server closed (restart, idle timeout)
		 * is worth one retry; a timeout is not: it would only double the
		 * wait on a server that does not answer. */
		if (c->err == REDIS_ERR_EOF || e == ECONNRESET || e == EPIPE) {
			*st = PA_CONN_CLOSED_BY_SERVER;
			pa_error_set(err, "%s", c->err ? c->errstr : "connection closed");
		} else if (e == EAGAIN || e == EWOULDBLOCK) {
			*st = PA_CONN_TIMEOUT;
			pa_error_set(err, "no answer within the timeout");
		} else {
			*st = PA_CONN_BROKEN;
			pa_error_set(err, "%s", c->err ? c->errstr : "no reply");
		}
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		*st = PA_CONN_REFUSED;
		pa_error_set(err, "%.*s", (int)(r->len > 200 ? 200 : r->len), r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

redisReply *
pa_redis_command(redisContext *c, int argc, const char **argv, struct pa_error *err,
		 enum pa_conn_status *st)
{
	return pa_redis_command_before(c, NULL, argc, argv, err, st);
}

redisContext *
pa_redis_connect_before(const struct pa_redis_opts *o, const struct pa_deadline *dl,
			struct pa_error *err)
{
	struct timeval tv;
	redisContext *c = NULL;
	redisReply *r;
	char host[256], dbs[24];
	enum pa_conn_status st;

	if (!pa_deadline_left_tv(dl, pa_now_us(), &tv)) {
		pa_error_set(err, "redis %s: no time left to connect", o->address);
		return NULL;
	}
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
	/* TCP keep-alive finds a peer that vanished without a word; on a unix
	 * socket hiredis would fail it and mark the whole context broken. */
	if (o->address[0] != '/')
		(void)redisEnableKeepAlive(c);
	if (o->password != NULL && o->password[0] != '\0') {
		const char *argv[3] = { "AUTH", o->username, o->password };
		int argc = 3;

		if (o->username == NULL || o->username[0] == '\0') {
			argv[1] = o->password;
			argc = 2;
		}
		if ((r = pa_redis_command_before(c, dl, argc, argv, err, &st)) == NULL)
			goto fail;	/* err says why; it never holds the password */
		freeReplyObject(r);
	}
	if (o->db != 0) {
		const char *argv[2] = { "SELECT", dbs };

		snprintf(dbs, sizeof(dbs), "%ld", o->db);
		if ((r = pa_redis_command_before(c, dl, 2, argv, err, &st)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	return c;
fail:
	redisFree(c);
	return NULL;
}

redisContext *
pa_redis_connect(const struct pa_redis_opts *o, struct pa_error *err)
{
	struct pa_deadline dl = pa_deadline_in(o->timeout_ms, pa_now_us());
	struct timeval tv = { o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000 };
	redisContext *c = pa_redis_connect_before(o, &dl, err);

	/* Each later command gets timeout_ms of its own. */
	if (c != NULL && redisSetTimeout(c, tv) != REDIS_OK) {
		pa_error_set(err, "redis %s: cannot set the timeout", o->address);
		redisFree(c);
		c = NULL;
	}
	return c;
}

/* ---- the pool, on lib/connpool.c ----------------------------------------- */

struct pa_redis_pool {
	struct pa_redis_opts opts;
	struct pa_connpool *pool;
};

static void *
drv_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	const struct pa_redis_pool *p = ctx;

	return pa_redis_connect_before(&p->opts, dl, err);
}

static void
drv_close(void *ctx, void *conn)
{
	(void)ctx;
	redisFree(conn);
}

static const struct pa_conn_driver redis_driver = { "redis", drv_open, drv_close };

struct pool_cmd {
	int argc;
	const char **argv;
	redisReply *reply;
};

static enum pa_conn_status
run_cmd(void *conn, const struct pa_deadline *dl, void *arg, struct pa_error *err)
{
	struct pool_cmd *cmd = arg;
	enum pa_conn_status st;

	cmd->reply = pa_redis_command_before(conn, dl, cmd->argc, cmd->argv, err, &st);
	return st;
}

struct pa_redis_pool *
pa_redis_pool_new(const struct pa_redis_opts *o, int size, const struct pa_log *log)
{
	struct pa_redis_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->opts = *o;
	if ((p->pool = pa_connpool_new(&redis_driver, p, size, log)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
pa_redis_pool_free(struct pa_redis_pool *p)
{
	if (p == NULL)
		return;
	pa_connpool_free(p->pool);
	free(p);
}

redisReply *
pa_redis_pool_command(struct pa_redis_pool *p, int argc, const char **argv, struct pa_error *err)
{
	/* One deadline for all of it: the wait for a connection, connect,
	 * AUTH, SELECT, the command and the one retry. */
	struct pa_deadline dl = pa_deadline_in(p->opts.timeout_ms, pa_now_us());
	struct pool_cmd cmd = { argc, argv, NULL };

	(void)pa_connpool_run(p->pool, &dl, run_cmd, &cmd, err);
	return cmd.reply;
}
