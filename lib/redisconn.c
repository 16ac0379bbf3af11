/*
 * Redis connections.  hiredis 0.14 (Debian 12) has no TLS: users who need
 * it put a local TLS terminator in front or use a unix socket.
 */
#include "redisconn.h"
#include "clock.h"
#include "text.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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
	redisReply *r;
	int e;

	errno = 0;
	r = redisCommandArgv(c, argc, argv, NULL);
	e = errno;
	*broken = 0;
	if (r == NULL) {
		/* A kept connection the server closed (restart, idle timeout)
		 * is worth one retry; a timeout is not: it would only double the
		 * wait on a server that does not answer. */
		if (c->err == REDIS_ERR_EOF || e == ECONNRESET || e == EPIPE) {
			*broken = 2;
			pa_error_set(err, "%s", c->err ? c->errstr : "connection closed");
		} else if (e == EAGAIN || e == EWOULDBLOCK) {
			*broken = 1;
			pa_error_set(err, "no answer within the timeout");
		} else {
			*broken = 1;
			pa_error_set(err, "%s", c->err ? c->errstr : "no reply");
		}
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		pa_error_set(err, "%.*s", (int)(r->len > 200 ? 200 : r->len), r->str);
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

struct pa_redis_pool {
	struct pa_redis_opts opts;
	pthread_mutex_t lock;		/* guards busy[] */
	pthread_cond_t freed;
	int n;
	redisContext **conns;		/* conns[i] belongs to whoever holds busy[i] */
	bool *busy;
};

struct pa_redis_pool *
pa_redis_pool_new(const struct pa_redis_opts *o, int size)
{
	struct pa_redis_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->opts = *o;
	p->n = size;
	p->conns = calloc((size_t)size, sizeof(*p->conns));
	p->busy = calloc((size_t)size, sizeof(*p->busy));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	if (p->conns == NULL || p->busy == NULL) {
		pa_redis_pool_free(p);
		return NULL;
	}
	return p;
}

void
pa_redis_pool_free(struct pa_redis_pool *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; p->conns != NULL && i < p->n; i++)
		redisFree(p->conns[i]);
	free(p->conns);
	free(p->busy);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Borrows a slot, waiting up to timeout_ms.  Returns its index or -1. */
static int
pool_take(struct pa_redis_pool *p, struct pa_error *err)
{
	struct timespec until;
	int i, rc = 0;

	until = pa_deadline_ms(p->opts.timeout_ms);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (i = 0; i < p->n; i++) {
			if (!p->busy[i]) {
				p->busy[i] = true;
				pthread_mutex_unlock(&p->lock);
				return i;
			}
		}
		if (rc == ETIMEDOUT)
			break;
		rc = pthread_cond_timedwait(&p->freed, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	pa_error_set(err, "all %d redis connections busy for %ld ms", p->n, p->opts.timeout_ms);
	return -1;
}

/* Returns a slot; a broken connection is dropped, to be made anew. */
static void
pool_give(struct pa_redis_pool *p, int i, bool broken)
{
	if (broken && p->conns[i] != NULL) {
		redisFree(p->conns[i]);
		p->conns[i] = NULL;
	}
	pthread_mutex_lock(&p->lock);
	p->busy[i] = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

redisReply *
pa_redis_pool_command(struct pa_redis_pool *p, int argc, const char **argv, struct pa_error *err)
{
	redisReply *reply = NULL;
	int attempt, i, broken;
	bool fresh;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((i = pool_take(p, err)) < 0)
			return NULL;
		fresh = p->conns[i] == NULL;
		if (fresh && (p->conns[i] = pa_redis_connect(&p->opts, err)) == NULL) {
			pool_give(p, i, false);
			return NULL;	/* a fresh connect failed: no point retrying */
		}
		reply = pa_redis_command(p->conns[i], argc, argv, err, &broken);
		pool_give(p, i, broken != 0);
		if (reply != NULL || broken != 2 || fresh)
			return reply;
	}
	return NULL;
}
