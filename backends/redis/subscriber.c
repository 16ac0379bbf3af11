/*
 * Redis backend: cache invalidation (see redisb.h for the other files).
 *
 * A subscriber (lib/watcher.c) with its own connection listens on
 * <prefix>invalidate and hands each user name to the cache.
 * The moment its connection is lost every Redis-backed answer expires
 * (asked again first, a grant kept for stale_grace), and whenever it has
 * (re)subscribed they are dropped, since messages may have been missed
 * while it was away; it retries after 250 ms, doubling to 2 s.
 */
#include "redisb.h"

#include <string.h>

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

const struct pa_watch_source redisb_subscriber = {
	"redis", sub_open, sub_fd, sub_read, sub_close,
};
