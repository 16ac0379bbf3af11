/*
 * PostgreSQL backend: cache invalidation (see pgb.h for the other files).
 *
 * A listener (lib/watcher.c) with its own connection LISTENs on
 * proxyauth_changed and hands each payload (a user name) to the cache;
 * an empty payload (a TRUNCATE) drops every PostgreSQL answer, and so
 * does every (re)connection, since notices may have been missed while
 * away; a loss of that connection expires them (kept for stale_grace).
 * Each connection first waits for a notice sent from another session (a
 * pooled connection): behind a transaction-mode pooler
 * LISTEN is accepted, but notices go to whoever holds that server
 * connection then, or nowhere, and a listener that hears nothing must
 * count as down (the cache then asks PostgreSQL every time).
 */
#include "clock.h"
#include "pgb.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The payload of the check notice: never a user name (neither a Basic
 * user-id nor a Negotiate name may hold a colon), and ignored when
 * heard. */
#define CHECK_PREFIX "proxyauthd:listen-check:"

static void
on_notice(struct pg *g, const PGnotify *n)
{
	size_t len;

	if (strcmp(n->relname, PG_CHANNEL) != 0 || n->extra == NULL ||
	    strncmp(n->extra, CHECK_PREFIX, strlen(CHECK_PREFIX)) == 0)
		return;
	len = strlen(n->extra);
	if (len == 0)
		g->env->invalidate(g->env->invalidate_arg, "postgres", NULL);
	else if (len <= PA_USER_MAX)
		g->env->invalidate(g->env->invalidate_arg, "postgres", n->extra);
}

/* Sends a notice from a pooled connection (another session, as a change
 * would come; not one of its own, which a session-mode pool sized for
 * pool_size and the listener could not give) and waits for it on c
 * before dl, or until g closes.  0, or -1 with err set.  Other notices
 * that come meanwhile are dropped: the watcher drops every answer once
 * this connection is up anyway. */
static int
hears_notices(struct pg *g, PGconn *c, const struct pa_deadline *dl, struct pa_error *err)
{
	char token[64];
	const char *param[2] = { PG_CHANNEL, token };
	PGresult *res;
	PGnotify *n;
	bool heard = false;
	int w;

	snprintf(token, sizeof(token), CHECK_PREFIX "%08x%08x", arc4random(), arc4random());
	res = pgb_pool_exec_before(g, dl, "SELECT pg_catalog.pg_notify($1, $2)", 2, param, err);
	if (res == NULL)
		return -1;
	PQclear(res);
	for (;;) {
		struct pa_deadline slice = pa_deadline_in(100, pa_now_us());

		if (!PQconsumeInput(c)) {
			pgb_set_error(err, "libpq", PQerrorMessage(c));
			return -1;
		}
		while ((n = PQnotifies(c)) != NULL) {
			heard = heard || (n->extra != NULL && strcmp(n->extra, token) == 0);
			PQfreemem(n);
		}
		if (heard)
			return 0;
		if (atomic_load(&g->closing)) {
			pa_error_set(err, "closing");
			return -1;
		}
		if (pa_deadline_left_us(dl, pa_now_us()) <= 0) {
			pa_error_set(err, "a notice sent on " PG_CHANNEL " did not arrive (LISTEN "
				     "through a transaction-mode pooler?)");
			return -1;
		}
		/* In slices, so that closing is seen within 100 ms. */
		if ((w = pgb_wait_fd(PQsocket(c), POLLIN,
				     pa_deadline_left_us(dl, pa_now_us()) < 100000 ? dl : &slice)) < 0) {
			pa_error_set(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* The listener, a source for lib/watcher.c: a connection of its own that
 * LISTENs on proxyauth_changed, once it has heard a notice. */
static void *
lis_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct pg *g = ctx;
	enum pa_conn_status st;
	PGconn *c;
	PGresult *res;

	if ((c = pgb_connect(g, false, dl, err)) == NULL)
		return NULL;
	if ((res = pgb_exec(c, "LISTEN " PG_CHANNEL, 0, NULL, dl, err, &st)) == NULL)
		goto fail;
	PQclear(res);
	if (hears_notices(g, c, dl, err) != 0) {
		/* Through a pooler the LISTEN stays on a shared server
		 * session: take it back (best effort, briefly). */
		struct pa_deadline brief = pa_deadline_in(200, pa_now_us());

		PQclear(pgb_exec(c, "UNLISTEN *", 0, NULL, &brief, NULL, &st));
		goto fail;
	}
	return c;
fail:
	PQfinish(c);
	return NULL;
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
