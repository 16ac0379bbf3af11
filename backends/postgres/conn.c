/*
 * PostgreSQL backend (SPEC section 4).  A user is the row of the view
 * proxyauth.credentials (deploy/sql/schema.sql) whose username equals the
 * login, read with one parameterised query (PQsendQueryParams): the user
 * name is only ever a parameter, never SQL text.  The stored hash is
 * verified here, through lib/hash.c (pgcrypto's $2a$ by libxcrypt), after
 * the connection went back to the pool.
 *
 * Connections: a pool of pool_size libpq connections made on first use,
 * each lent to one thread at a time (a PGconn is not thread-safe).  Every
 * connect and query runs non-blocking under a poll() deadline of
 * timeout_ms; the server ends the query itself too (statement_timeout is
 * set on every connection).  A connection that timed out is closed rather
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
 *
 * Invalidation: a listener (lib/watcher.c) with its own connection
 * LISTENs on proxyauth_changed and hands each payload (a user name) to the
 * cache; an empty payload (a TRUNCATE) drops every PostgreSQL answer, and
 * so does every loss of that connection and every (re)connection, since
 * notices may have been missed while away.
 */
#include "backend.h"
#include "clock.h"
#include "connpool.h"
#include "hash.h"
#include "text.h"
#include "watcher.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_CHANNEL "proxyauth_changed"

/* disabled and expired are decided in SQL so that NULLs and the server's
 * clock mean what set_expiry meant, and so is the time left until expires_at
 * (milliseconds, NULL for none), which bounds a cached grant whatever this
 * host's clock says; bad_groups flags names that cannot go
 * into a comma list, so array_to_string() cannot blur two names into one. */
static const char lookup_sql[] =
	"SELECT username, password_hash, disabled IS NOT FALSE, "
	"COALESCE(expires_at <= pg_catalog.now(), false), "
	"pg_catalog.array_to_string(groups, ','), "
	"EXISTS (SELECT 1 FROM pg_catalog.unnest(groups) AS g(name) "
	"WHERE g.name IS NULL OR g.name = '' OR g.name ~ '[,[:cntrl:]]'), "
	"CASE WHEN pg_catalog.isfinite(expires_at) THEN "
	"(pg_catalog.date_part('epoch', expires_at - pg_catalog.now()) * 1000)::bigint END "
	"FROM proxyauth.credentials WHERE username = $1";

static const char probe_sql[] = "SELECT 1 FROM proxyauth.credentials LIMIT 0";

static int
check_conninfo(const char *value, struct pa_error *err)
{
	PQconninfoOption *opts, *o;
	char *msg = NULL;
	int rc = 0;

	if ((opts = PQconninfoParse(value, &msg)) == NULL) {
		size_t n = msg != NULL ? strcspn(msg, "\n") : 0;

		pa_error_set(err, "conninfo: %.*s", (int)n, msg != NULL ? msg : "out of memory");
		PQfreemem(msg);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			pa_error_set(err, "conninfo must not hold the password: put it into "
				     "password_file (or a PGPASSFILE)");
			rc = -1;
		}
	}
	PQconninfoFree(opts);
	return rc;
}

static const struct pa_conf_key pg_keys[] = {
	{ "conninfo", PA_CONF_STRING, 0, 0, "", NULL, check_conninfo },
	{ "password_file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "timeout_ms", PA_CONF_INT, 10, 60000, "2000", NULL, NULL },
	{ "pool_size", PA_CONF_INT, 1, 256, "8", NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

struct pg {
	char *conninfo;
	char password[1024];		/* "" when libpq finds it itself */
	long timeout_ms;
	char timeout_text[24];		/* statement_timeout, in ms */
	char connect_timeout[24];	/* libpq's, in whole seconds */
	const struct pa_backend_env *env;
	struct pa_connpool *pool;
	struct pa_watcher *listener;
	/* The last stored hash seen, for the dummy verification of unknown,
	 * disabled and expired users: it costs what the users here cost. */
	struct pa_hash_reference reference;
};

/* ---- connections --------------------------------------------------------- */

/* libpq's message up to its first newline (they end in one, and the
 * server's may go on with DETAIL lines). */
static void
set_pq_error(struct pa_error *err, const char *what, const char *msg)
{
	size_t n = msg != NULL ? strcspn(msg, "\n") : 0;

	pa_error_set(err, "%s: %.*s", what, (int)n, n > 0 ? msg : "no reason given");
}

/* Waits until fd is ready for events or dl passes.  1 when ready, 0 on
 * timeout, -1 on a poll error. */
static int
wait_fd(int fd, short events, const struct pa_deadline *dl)
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

/*
 * Runs sql with its text parameters on c before dl.  Returns the result
 * (PQclear() it), or NULL with err set and *st: PA_CONN_REFUSED for an SQL
 * error on a good connection, PA_CONN_CLOSED_BY_SERVER when the server
 * closed it (the one case worth a retry on a fresh connection),
 * PA_CONN_TIMEOUT or PA_CONN_BROKEN when it must be dropped.
 */
static PGresult *
pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
	const struct pa_deadline *dl, struct pa_error *err, enum pa_conn_status *st)
{
	PGresult *res = NULL, *r;
	int f, w;

	*st = PA_CONN_BROKEN;
	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) {
		set_pq_error(err, "cannot send the query", PQerrorMessage(c));
		goto lost;
	}
	while ((f = PQflush(c)) != 0) {
		if (f < 0) {
			set_pq_error(err, "cannot send the query", PQerrorMessage(c));
			goto lost;
		}
		if ((w = wait_fd(PQsocket(c), POLLIN | POLLOUT, dl)) <= 0)
			goto timeout;
		if (!PQconsumeInput(c)) {
			set_pq_error(err, "connection lost", PQerrorMessage(c));
			goto lost;
		}
	}
	for (;;) {
		while (!PQisBusy(c)) {
			if ((r = PQgetResult(c)) == NULL)
				goto done;
			/* Keep the first result: an error, or the rows. */
			if (res == NULL)
				res = r;
			else
				PQclear(r);
		}
		if ((w = wait_fd(PQsocket(c), POLLIN, dl)) <= 0)
			goto timeout;
		if (!PQconsumeInput(c)) {
			set_pq_error(err, "connection lost", PQerrorMessage(c));
			goto lost;
		}
	}
done:
	if (res == NULL) {
		set_pq_error(err, "no result", PQerrorMessage(c));
		goto lost;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_pq_error(err, "query failed", PQresultErrorMessage(res));
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

/*
 * Connects with g's settings and sets statement_timeout, all within
 * timeout_ms.  Returns the connection (non-blocking; PQfinish() it), or
 * NULL with err set.
 */
static PGconn *
pg_connect(struct pg *g, const struct pa_deadline *dl, struct pa_error *err)
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

	if (g->password[0] == '\0')
		keys[7] = vals[7] = NULL;
	if ((c = PQconnectStartParams(keys, vals, 1)) == NULL) {
		pa_error_set(err, "out of memory");
		return NULL;
	}
	while (st != PGRES_POLLING_OK) {
		int w;

		if (PQstatus(c) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
			set_pq_error(err, "cannot connect", PQerrorMessage(c));
			goto fail;
		}
		w = wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, dl);
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
		set_pq_error(err, "cannot connect", PQerrorMessage(c));
		goto fail;
	}
	res = pg_exec(c, "SELECT pg_catalog.set_config('statement_timeout', $1, false)", 1, param,
		      dl, err, &st_q);
	if (res == NULL)
		goto fail;
	PQclear(res);
	return c;
fail:
	PQfinish(c);
	return NULL;
}

static void *
drv_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	return pg_connect(ctx, dl, err);
}

static void
drv_close(void *ctx, void *conn)
{
	(void)ctx;
	PQfinish(conn);
}

static const struct pa_conn_driver pg_driver = { "postgres", drv_open, drv_close };

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

	q->res = pg_exec(conn, q->sql, q->nparams, q->params, dl, err, &st);
	return st;
}

/* Runs sql on a pooled connection (lib/connpool.c), all within one
 * timeout_ms.  The result (PQclear() it), or NULL with err set. */
static PGresult *
pool_exec(struct pg *g, const char *sql, int nparams, const char *const *params,
	  struct pa_error *err)
{
	struct pa_deadline dl = pa_deadline_in(g->timeout_ms, pa_now_us());
	struct query q = { sql, nparams, params, NULL };

	(void)pa_connpool_run(g->pool, &dl, run_query, &q, err);
	return q.res;
}

/* ---- verification -------------------------------------------------------- */

static void
dummy_verify(struct pg *g, const struct pa_credentials *cred)
{
	pa_reference_dummy_verify(&g->reference, cred);
}

static bool
is_true(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

static enum pa_result
pg_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	  struct pa_error *err)
{
	struct pg *g = ctx;
	const char *param[1] = { cred->user };
	char name[PA_USER_MAX + 1], hash[600], groups[PA_GROUPS_MAX];
	enum pa_result res = PA_UNAVAILABLE;
	bool disabled, expired, bad_groups;
	long left_ms = 0;		/* until expires_at, when has_left */
	bool has_left = false;
	struct timespec wall;
	PGresult *r;
	int rows;

	name[0] = hash[0] = groups[0] = '\0';
	if ((r = pool_exec(g, lookup_sql, 1, param, err)) == NULL)
		goto done;
	if (PQnfields(r) != 7) {
		pa_error_set(err, "unexpected columns from proxyauth.credentials");
		goto done;
	}
	rows = PQntuples(r);
	if (rows == 0) {
		res = PA_NOT_FOUND;
		goto dummy;
	}
	disabled = rows != 1 || is_true(r, 2);
	expired = rows == 1 && is_true(r, 3);
	bad_groups = rows == 1 && is_true(r, 5);
	if (rows == 1) {
		if (pa_strlcpy(name, PQgetvalue(r, 0, 0), sizeof(name)) != 0)
			name[0] = '\0';
		if (!PQgetisnull(r, 0, 1) &&
		    pa_strlcpy(hash, PQgetvalue(r, 0, 1), sizeof(hash)) != 0)
			hash[0] = '\0';
		if (!PQgetisnull(r, 0, 6)) {
			has_left = true;
			if (pa_parse_long(PQgetvalue(r, 0, 6), LONG_MIN, LONG_MAX, &left_ms) != 0)
				expired = true;		/* not understood: refused */
		}
		if (!PQgetisnull(r, 0, 4) &&
		    pa_strlcpy(groups, PQgetvalue(r, 0, 4), sizeof(groups)) != 0) {
			pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: groups of %s too long; "
				   "denied", cred->user);
			bad_groups = true;
		}
	}
	PQclear(r);
	r = NULL;
	if (rows != 1)
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: %d rows for %s in "
			   "proxyauth.credentials; denied", rows, cred->user);
	else if (bad_groups)
		/* Refused rather than granted without a group a rule may need. */
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: user %s has a group name that "
			   "is empty or holds a comma or control character; denied", cred->user);
	res = PA_DENIED;
	if (disabled || expired || bad_groups || hash[0] == '\0' || name[0] == '\0')
		goto dummy;
	res = pa_backend_check_stored(g->env, "postgres", &g->reference, cred, hash, name, groups,
				      who);
	if (res == PA_GRANTED && has_left) {
		/* The server's time left, on this host's wall clock. */
		clock_gettime(CLOCK_REALTIME, &wall);
		who->expires_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 +
		    (left_ms > 0 ? left_ms : 1);
	}
	goto done;
dummy:
	/* Unknown, disabled or expired: cost what a real check costs. */
	dummy_verify(g, cred);
done:
	PQclear(r);	/* libpq's storage, which it says not to write to */
	OPENSSL_cleanse(hash, sizeof(hash));
	return res;
}

/* Can proxyauthd read the view now?  Also catches a role without rights. */
static int
pg_probe(void *ctx, struct pa_error *err)
{
	struct pg *g = ctx;
	PGresult *r = pool_exec(g, probe_sql, 0, NULL, err);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* ---- invalidation -------------------------------------------------------- */

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

	if ((c = pg_connect(g, dl, err)) == NULL)
		return NULL;
	if ((res = pg_exec(c, "LISTEN " PG_CHANNEL, 0, NULL, dl, err, &st)) == NULL) {
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
		set_pq_error(err, "libpq", PQerrorMessage(conn));
		return -1;
	}
	while ((n = PQnotifies(conn)) != NULL) {
		on_notice(ctx, n);
		PQfreemem(n);
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		set_pq_error(err, "libpq", PQerrorMessage(conn));
		return -1;
	}
	return 0;
}

static const struct pa_watch_source listener = {
	"postgres", lis_open, lis_fd, lis_read, drv_close,
};

/* ---- life cycle ---------------------------------------------------------- */

static void pg_close(void *ctx);

/* True for a unix socket path or a loopback host name or address. */
static bool
local_host(const char *h)
{
	return h[0] == '/' || h[0] == '@' || strcmp(h, "localhost") == 0 ||
	       strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

/* libpq's default sslmode (prefer) takes any certificate, or none: on a
 * network, whoever sits on the path can pose as the server and answer for
 * any user.  Said once at start when the server is not on this host and
 * its certificate is not verified. */
static void
warn_unverified_tls(const struct pg *g)
{
	PQconninfoOption *opts = PQconninfoParse(g->conninfo, NULL), *o;
	const char *mode = NULL, *host = NULL, *addr = NULL;
	bool remote = false;

	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "sslmode") == 0)
			mode = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addr = o->val;
	}
	if (mode == NULL)
		mode = getenv("PGSSLMODE");
	if (host == NULL && addr == NULL)
		host = getenv("PGHOST");
	/* a comma list of hosts: remote when any is */
	for (const char *list = addr != NULL ? addr : host; list != NULL && *list != '\0';) {
		char one[256];
		size_t n = strcspn(list, ",");

		snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1),
			 list);
		remote = remote || !local_host(one);
		list += n + (list[n] == ',');
	}
	if (remote && (mode == NULL || (strcmp(mode, "verify-full") != 0 &&
					strcmp(mode, "verify-ca") != 0)))
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: the server's certificate is not "
			   "verified (sslmode=%s): whoever sits on the network path can pose as "
			   "the server and answer for any user; set sslmode=verify-full in "
			   "conninfo", mode != NULL ? mode : "prefer");
	PQconninfoFree(opts);
}

static int
pg_open(const struct pa_section *conf, const struct pa_backend_env *env, void **ctx,
	struct pa_error *err)
{
	struct pg *g;
	long size;

	*ctx = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto oom;
	g->env = env;
	pa_reference_init(&g->reference);
	g->timeout_ms = pa_conf_int(conf, pg_keys, "timeout_ms");
	snprintf(g->timeout_text, sizeof(g->timeout_text), "%ld", g->timeout_ms);
	/* libpq counts whole seconds and takes less than 2 as 2; the poll()
	 * deadline is what bounds a connect. */
	snprintf(g->connect_timeout, sizeof(g->connect_timeout), "%ld",
		 (g->timeout_ms + 999) / 1000 < 2 ? 2 : (g->timeout_ms + 999) / 1000);
	size = pa_conf_int(conf, pg_keys, "pool_size");
	g->pool = pa_connpool_new(&pg_driver, g, (int)size, env->log);
	if ((g->conninfo = strdup(pa_conf_str(conf, pg_keys, "conninfo"))) == NULL ||
	    g->pool == NULL) {
		pg_close(g);
		goto oom;
	}
	if (pa_backend_read_secret(conf, pg_keys, "password_file", g->password, sizeof(g->password),
				   err) != 0) {
		pg_close(g);
		return -1;
	}
	if (!env->check_only)
		warn_unverified_tls(g);
	if (!env->check_only && env->invalidate != NULL) {
		struct pa_watcher_config wc = {
			.src = &listener, .ctx = g, .up = "listening on " PG_CHANNEL,
			.down = "cannot listen on " PG_CHANNEL, .conn_name = "listening connection",
			.open_timeout_ms = g->timeout_ms, .log = env->log,
			.invalidate = env->invalidate, .invalidate_arg = env->invalidate_arg,
		};

		if ((g->listener = pa_watcher_start(&wc, err)) == NULL) {
			pg_close(g);
			return -1;
		}
	}
	*ctx = g;
	return 0;
oom:
	pa_error_set(err, "out of memory");
	return -1;
}

static void
pg_close(void *ctx)
{
	struct pg *g = ctx;

	if (g == NULL)
		return;
	pa_watcher_stop(g->listener);
	pa_connpool_free(g->pool);
	free(g->conninfo);
	OPENSSL_cleanse(g->password, sizeof(g->password));
	pa_reference_destroy(&g->reference);
	free(g);
}

const struct pa_backend_ops pa_postgres_ops = {
	.name = "postgres",
	.keys = pg_keys,
	.open = pg_open,
	.verify = pg_verify,
	.probe = pg_probe,
	.reload = NULL,
	.close = pg_close,
};
