/*
 * PostgreSQL backend: one connection and the pool (see pgb.h for the
 * other files).
 *
 * A pool of pool_size libpq connections made on first use, each lent to
 * one thread at a time (a PGconn is not thread-safe).  Every connect and
 * query runs non-blocking under a poll() deadline of timeout_ms; the
 * server ends the query itself too (statement_timeout is set on every
 * connection).  A connection that timed out is closed rather
 * than cancelled: PQcancel() can block on a hung server, and
 * statement_timeout already ends the query on the server.  A kept
 * connection found closed by the server (restart, pg_terminate_backend)
 * is retried once on a fresh one (lib/connpool.c); the wait for a
 * connection, connect, query and retry share one deadline of timeout_ms.
 *
 * conninfo is a libpq keyword string or URI (expand_dbname); the password
 * from password_file is handed to libpq as its own keyword, never put into
 * a string.  application_name defaults to "proxyauthd" (conninfo may say
 * otherwise) and client_encoding is always UTF8, since names and groups go
 * into UTF-8 headers.
 */
#include "clock.h"
#include "pgb.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpq's message up to its first newline (they end in one, and the
 * server's may go on with DETAIL lines). */
void
pgb_set_error(struct pa_error *err, const char *what, const char *msg)
{
	size_t n = msg != NULL ? strcspn(msg, "\n") : 0;

	pa_error_set(err, "%s: %.*s", what, (int)n, n > 0 ? msg : "no reason given");
}

int
pgb_wait_fd(int fd, short events, const struct pa_deadline *dl)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = pa_deadline_left_ms(dl, pa_now_us()), rc;

		if (ms <= 0)
			return 0;
		rc = poll(&p, 1, ms);
		if (rc > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Frees the notices libpq queued on a connection that does not listen
 * (through a pooler a server session may still LISTEN for another
 * client): nothing else reads them, and they would pile up. */
static void
drop_notices(PGconn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c)) != NULL)
		PQfreemem(n);
}

/* What exec() sends: a query, a statement to prepare, or a prepared one. */
enum how { SEND_QUERY, SEND_PREPARE, SEND_PREPARED };

static int
send_it(PGconn *c, enum how how, const char *stmt, const char *sql, int nparams,
	const char *const *params)
{
	switch (how) {
	case SEND_PREPARE:
		return PQsendPrepare(c, stmt, sql, nparams, NULL);
	case SEND_PREPARED:
		return PQsendQueryPrepared(c, stmt, nparams, params, NULL, NULL, 0);
	default:
		return PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	}
}

/*
 * Sends what how says on c and waits for its result before dl.  Returns
 * the result (PQclear() it), or NULL with err set and *st: PA_CONN_REFUSED
 * for an SQL error on a good connection (its SQLSTATE into state, when
 * not NULL; "" otherwise), PA_CONN_CLOSED_BY_SERVER when the server closed
 * it (the one case worth a retry on a fresh connection), PA_CONN_TIMEOUT
 * or PA_CONN_BROKEN when it must be dropped.
 */
static PGresult *
exec(PGconn *c, enum how how, const char *stmt, const char *sql, int nparams,
     const char *const *params, const struct pa_deadline *dl, struct pa_error *err,
     enum pa_conn_status *st, char state[6])
{
	PGresult *res = NULL, *r;
	int f, w;

	*st = PA_CONN_BROKEN;
	if (state != NULL)
		state[0] = '\0';
	if (!send_it(c, how, stmt, sql, nparams, params)) {
		pgb_set_error(err, "cannot send the query", PQerrorMessage(c));
		goto lost;
	}
	while ((f = PQflush(c)) != 0) {
		if (f < 0) {
			pgb_set_error(err, "cannot send the query", PQerrorMessage(c));
			goto lost;
		}
		if ((w = pgb_wait_fd(PQsocket(c), POLLIN | POLLOUT, dl)) <= 0)
			goto timeout;
		if (!PQconsumeInput(c)) {
			pgb_set_error(err, "connection lost", PQerrorMessage(c));
			goto lost;
		}
	}
	for (;;) {
		while (!PQisBusy(c)) {
			if ((r = PQgetResult(c)) == NULL)
				goto done;
			drop_notices(c);
			/* Keep the first result: an error, or the rows. */
			if (res == NULL)
				res = r;
			else
				PQclear(r);
		}
		if ((w = pgb_wait_fd(PQsocket(c), POLLIN, dl)) <= 0)
			goto timeout;
		if (!PQconsumeInput(c)) {
			pgb_set_error(err, "connection lost", PQerrorMessage(c));
			goto lost;
		}
	}
done:
	if (res == NULL) {
		pgb_set_error(err, "no result", PQerrorMessage(c));
		goto lost;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state != NULL && code != NULL && strlen(code) == 5)
			memcpy(state, code, 6);
		pgb_set_error(err, "query failed", PQresultErrorMessage(res));
		PQclear(res);
		*st = PQstatus(c) == CONNECTION_BAD ? PA_CONN_CLOSED_BY_SERVER : PA_CONN_REFUSED;
		return NULL;
	}
	*st = PA_CONN_OK;
	return res;
timeout:
	PQclear(res);
	pa_error_set(err, "no answer within the timeout");
	*st = PA_CONN_TIMEOUT;
	return NULL;
lost:
	PQclear(res);
	*st = PQstatus(c) == CONNECTION_BAD ? PA_CONN_CLOSED_BY_SERVER : PA_CONN_BROKEN;
	return NULL;
}

PGresult *
pgb_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
	 const struct pa_deadline *dl, struct pa_error *err, enum pa_conn_status *st)
{
	return exec(c, SEND_QUERY, NULL, sql, nparams, params, dl, err, st, NULL);
}

/* Gives prepared statements up for good, saying so once. */
static void
give_up_preparing(struct pg *g, const char *why)
{
	if (!atomic_exchange(&g->unprepared, true))
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: prepared statements do not hold "
			   "on this server (%s); the lookup runs unprepared from now on", why);
}

void
pgb_name_statement(struct pg *g)
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)pgb_lookup_sql, strlen(pgb_lookup_sql), d);
	snprintf(g->stmt, sizeof(g->stmt), "proxyauthd_lookup_%02x%02x%02x%02x%02x%02x", d[0],
		 d[1], d[2], d[3], d[4], d[5]);
}

/*
 * Connects with g's settings and sets statement_timeout, before dl; with
 * prepare (a connection for lookups, which prepare on first use: see
 * prepare()), also gives preparing up for good when a pooler answers for
 * the server.  Returns the connection (non-blocking; PQfinish() it), or
 * NULL with err set.
 */
PGconn *
pgb_connect(struct pg *g, bool prepare, const struct pa_deadline *dl, struct pa_error *err)
{
	/* Earlier keywords are defaults that conninfo may override; later
	 * ones override conninfo.  The keepalives let the listener notice a
	 * peer that vanished without a word within about a minute (libpq
	 * ignores them on a unix socket). */
	const char *keys[] = { "application_name", "connect_timeout", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "dbname",
			       "client_encoding", "password", NULL };
	const char *vals[] = { "proxyauthd", g->connect_timeout, "30", "10", "3", g->conninfo,
			       "UTF8", g->password, NULL };
	const char *param[1] = { g->timeout_text };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGresult *res;
	PGconn *c;
	enum pa_conn_status st_q;
	long server_pid = 0;
	bool pooled;

	if (g->password[0] == '\0')
		keys[7] = vals[7] = NULL;
	if ((c = PQconnectStartParams(keys, vals, 1)) == NULL) {
		pa_error_set(err, "out of memory");
		return NULL;
	}
	while (st != PGRES_POLLING_OK) {
		int w;

		if (PQstatus(c) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
			pgb_set_error(err, "cannot connect", PQerrorMessage(c));
			goto fail;
		}
		w = pgb_wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, dl);
		if (w == 0) {
			pa_error_set(err, "cannot connect within %ld ms", g->timeout_ms);
			goto fail;
		}
		if (w < 0) {
			pa_error_set(err, "cannot connect: poll: %s", strerror(errno));
			goto fail;
		}
		st = PQconnectPoll(c);
	}
	if (PQsetnonblocking(c, 1) != 0) {
		pgb_set_error(err, "cannot connect", PQerrorMessage(c));
		goto fail;
	}
	res = pgb_exec(c, "SELECT pg_catalog.set_config('statement_timeout', $1, false), "
		       "pg_catalog.pg_backend_pid()", 1, param, dl, err, &st_q);
	if (res == NULL)
		goto fail;
	/* A pooler in between (PgBouncer) hands out a process id of its own.
	 * Behind one, server sessions are shared: a prepared statement may be
	 * gone or, worse, replaced by another client of the same role with
	 * one that grants anyone.  Never prepare there. */
	pooled = PQntuples(res) != 1 || PQnfields(res) != 2 ||
	    pa_parse_long(PQgetvalue(res, 0, 1), 1, LONG_MAX, &server_pid) != 0 ||
	    server_pid != (long)PQbackendPID(c);
	PQclear(res);
	if (prepare && pooled)
		give_up_preparing(g, "a pooler answers for the server: the process id it gave "
				  "is not the server's");
	return c;
fail:
	PQfinish(c);
	return NULL;
}

/* A pooled connection, and whether the lookup is prepared on it. */
struct pgb_conn {
	PGconn *c;
	bool prepared;
};

static void *
drv_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct pgb_conn *pc;
	PGconn *c;

	if ((c = pgb_connect(ctx, true, dl, err)) == NULL)
		return NULL;
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		pa_error_set(err, "out of memory");
		PQfinish(c);
		return NULL;
	}
	pc->c = c;
	return pc;
}

static void
drv_close(void *ctx, void *conn)
{
	struct pgb_conn *pc = conn;

	(void)ctx;
	PQfinish(pc->c);
	free(pc);
}

void
pgb_close_conn(void *ctx, void *conn)
{
	(void)ctx;
	PQfinish(conn);
}

const struct pa_conn_driver pgb_driver = { "postgres", drv_open, drv_close };

struct query {
	const char *sql;
	int nparams;
	const char *const *params;
	PGresult *res;
};

static enum pa_conn_status
run_query(void *conn, const struct pa_deadline *dl, void *arg, struct pa_error *err)
{
	struct query *q = arg;
	enum pa_conn_status st;

	q->res = pgb_exec(((struct pgb_conn *)conn)->c, q->sql, q->nparams, q->params, dl,
			  err, &st);
	return st;
}

struct lookup {
	struct pg *g;
	const char *user;
	PGresult *res;
};

/*
 * Prepares the lookup on pc, the first time it runs there (the server then
 * parses and plans it once per connection, not at every call: most of
 * what it spends on it).  PA_CONN_OK when it is prepared, or when it was
 * there already (42P05: a pooler shares server connections, so preparing
 * is given up for good).  PA_CONN_REFUSED for an SQL error (no view, no
 * function: a schema not applied yet): the connection is kept, unprepared,
 * and the next lookup on it tries again, so a misconfigured server is
 * not sent a new connection (a new server process) per request.
 * Otherwise the connection is to be dropped.
 */
static enum pa_conn_status
prepare(struct pgb_conn *pc, struct pg *g, const struct pa_deadline *dl, struct pa_error *err)
{
	enum pa_conn_status st;
	PGresult *res;
	char state[6];

	res = exec(pc->c, SEND_PREPARE, g->stmt, pgb_lookup_sql, 1, NULL, dl, err, &st, state);
	if (res != NULL) {
		PQclear(res);
		pc->prepared = true;
		return PA_CONN_OK;
	}
	if (st == PA_CONN_REFUSED && strcmp(state, "42P05") == 0) {
		/* Already there: another client's, on a server connection a
		 * pooler shares (one that passes the server's process id
		 * on).  The connection itself is fine. */
		give_up_preparing(g, "the statement was already prepared: a pooler?");
		return PA_CONN_OK;
	}
	return st;
}

/*
 * The lookup on conn: prepared unless given up or not preparable.  A
 * prepared statement that is gone (26000: a pooler ran it on another
 * server connection) gives them up for good; one whose plan went stale
 * (0A000: the view's column types changed) leaves this connection to be
 * dropped, and a fresh one prepares again.  Either way this lookup runs
 * unprepared on the same connection, within the same deadline, rather
 * than fail.
 */
static enum pa_conn_status
run_lookup(void *conn, const struct pa_deadline *dl, void *arg, struct pa_error *err)
{
	struct pgb_conn *pc = conn;
	struct lookup *l = arg;
	const char *param[1] = { l->user };
	enum pa_conn_status st, again;
	char state[6];

	if (!pc->prepared && !atomic_load(&l->g->unprepared)) {
		st = prepare(pc, l->g, dl, err);
		if (st != PA_CONN_OK && st != PA_CONN_REFUSED)
			return st;
	}
	if (!pc->prepared || atomic_load(&l->g->unprepared)) {
		l->res = pgb_exec(pc->c, pgb_lookup_sql, 1, param, dl, err, &st);
		return st;
	}
	l->res = exec(pc->c, SEND_PREPARED, l->g->stmt, NULL, 1, param, dl, err, &st, state);
	if (l->res != NULL || st != PA_CONN_REFUSED ||
	    (strcmp(state, "26000") != 0 && strcmp(state, "0A000") != 0))
		return st;
	if (strcmp(state, "26000") == 0)
		give_up_preparing(l->g, "the prepared lookup was gone: a transaction-mode "
				  "pooler?");
	else
		pa_log_msg(l->g->env->log, PA_LOG_INFO, "postgres: the prepared lookup went stale "
			   "(%s); preparing it again on a fresh connection",
			   err != NULL ? err->msg : "0A000");
	l->res = pgb_exec(pc->c, pgb_lookup_sql, 1, param, dl, err, &again);
	/* The stale statement goes with its connection, answered or not. */
	if (strcmp(state, "0A000") == 0 && (again == PA_CONN_OK || again == PA_CONN_REFUSED))
		return PA_CONN_BROKEN;
	return again;
}

PGresult *
pgb_pool_lookup(struct pg *g, const char *user, struct pa_error *err)
{
	struct pa_deadline dl = pa_deadline_in(g->timeout_ms, pa_now_us());
	struct lookup l = { g, user, NULL };

	(void)pa_connpool_run(g->pool, &dl, run_lookup, &l, err);
	return l.res;
}

PGresult *
pgb_pool_exec_before(struct pg *g, const struct pa_deadline *dl, const char *sql, int nparams,
		     const char *const *params, struct pa_error *err)
{
	struct query q = { sql, nparams, params, NULL };

	(void)pa_connpool_run(g->pool, dl, run_query, &q, err);
	return q.res;
}

/* Runs sql on a pooled connection (lib/connpool.c), all within one
 * timeout_ms.  The result (PQclear() it), or NULL with err set. */
PGresult *
pgb_pool_exec(struct pg *g, const char *sql, int nparams, const char *const *params,
	      struct pa_error *err)
{
	struct pa_deadline dl = pa_deadline_in(g->timeout_ms, pa_now_us());

	return pgb_pool_exec_before(g, &dl, sql, nparams, params, err);
}
