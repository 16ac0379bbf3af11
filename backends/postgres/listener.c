/*
 * PostgreSQL backend: cache invalidation (see pgb.h for the other files).
 *
 * A listener (lib/watcher.c) with its own connection LISTENs on
 * proxyauth_changed and hands each payload (a user name) to the cache;
 * an empty payload (a TRUNCATE) drops every PostgreSQL answer, and so
 * does every (re)connection, since notices may have been missed while
 * away; a loss of that connection expires them (kept for stale_grace).
 */
#include "pgb.h"

#include <string.h>

static void
on_notice(struct pg *g, const PGnotify *n)
{
	size_t len;

	if (strcmp(n->relname, PG_CHANNEL) != 0 || n->extra == NULL)
		return;
	len = strlen(n->extra);
	if (len == 0)
		g->env->invalidate(g->env->invalidate_arg, "postgres", NULL);
	else if (len <= PA_USER_MAX)
		g->env->invalidate(g->env->invalidate_arg, "postgres", n->extra);
}

/* The listener, a source for lib/watcher.c: a connection of its own that
 * LISTENs on proxyauth_changed. */
static void *
lis_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct pg *g = ctx;
	enum pa_conn_status st;
	PGconn *c;
	PGresult *res;

	if ((c = pgb_connect(g, dl, err)) == NULL)
		return NULL;
	if ((res = pgb_exec(c, "LISTEN " PG_CHANNEL, 0, NULL, dl, err, &st)) == NULL) {
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

static int
lis_fd(void *ctx, void *conn)
{
	(void)ctx;
	return PQsocket(conn);
}

static int
lis_read(void *ctx, void *conn, struct pa_error *err)
{
	PGnotify *n;

	if (!PQconsumeInput(conn)) {
		pgb_set_error(err, "libpq", PQerrorMessage(conn));
		return -1;
	}
	while ((n = PQnotifies(conn)) != NULL) {
		on_notice(ctx, n);
		PQfreemem(n);
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		pgb_set_error(err, "libpq", PQerrorMessage(conn));
		return -1;
	}
	return 0;
}

const struct pa_watch_source pgb_listener = {
	"postgres", lis_open, lis_fd, lis_read, pgb_close_conn,
};
