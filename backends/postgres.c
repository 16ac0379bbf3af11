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
 * is retried once on a fresh one.
 *
 * conninfo is a libpq keyword string or URI (expand_dbname); the password
 * from password_file is handed to libpq as its own keyword, never put into
 * a string.  application_name defaults to "proxyauthd" (conninfo may say
 * otherwise) and client_encoding is always UTF8, since names and groups go
 * into UTF-8 headers.
 *
 * Invalidation: a listener thread with its own connection LISTENs on
 * proxyauth_changed and hands each payload (a user name) to the cache; an
 * empty payload (a TRUNCATE) drops every PostgreSQL answer, and so does
 * every (re)connection, since notices may have been missed while away.
 */
#include "backend.h"
#include "clock.h"
#include "hash.h"
#include "secret.h"
#include "text.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	pthread_mutex_t lock;		/* guards busy[] */
	pthread_cond_t freed;
	int n;
	PGconn **conns;			/* conns[i] belongs to whoever holds busy[i] */
	bool *busy;
	pthread_t listener;
	bool listener_started;
	atomic_bool stop;
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

static int
remaining_ms(uint64_t deadline_us)
{
	uint64_t now = pa_now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now + 999) / 1000);
}

/* Waits until fd is ready for events or the deadline passes.  1 when
 * ready, 0 on timeout, -1 on a poll error. */
static int
wait_fd(int fd, short events, uint64_t deadline_us)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = remaining_ms(deadline_us), rc;

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
 * Runs sql with its text parameters on c, waiting until deadline_us.
 * Returns the result (PQclear() it), or NULL with err set and *broken:
 * 0 when the connection is still good (an SQL error), 1 when it must be
 * dropped (timeout, protocol trouble), 2 when the server closed it (the
 * one case worth a retry on a fresh connection).
 */
static PGresult *
pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
	uint64_t deadline_us, struct pa_error *err, int *broken)
{
	PGresult *res = NULL, *r;
	int f, w;

	*broken = 1;
	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) {
		set_pq_error(err, "cannot send the query", PQerrorMessage(c));
		goto lost;
	}
	while ((f = PQflush(c)) != 0) {
		if (f < 0) {
			set_pq_error(err, "cannot send the query", PQerrorMessage(c));
			goto lost;
		}
		if ((w = wait_fd(PQsocket(c), POLLIN | POLLOUT, deadline_us)) <= 0)
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
		if ((w = wait_fd(PQsocket(c), POLLIN, deadline_us)) <= 0)
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
		*broken = PQstatus(c) == CONNECTION_BAD ? 2 : 0;
		return NULL;
	}
	*broken = 0;
	return res;
timeout:
	PQclear(res);
	pa_error_set(err, "no answer within the timeout");
	*broken = 1;
	return NULL;
lost:
	PQclear(res);
	*broken = PQstatus(c) == CONNECTION_BAD ? 2 : 1;
	return NULL;
}

/*
 * Connects with g's settings and sets statement_timeout, all within
 * timeout_ms.  Returns the connection (non-blocking; PQfinish() it), or
 * NULL with err set.
 */
static PGconn *
pg_connect(struct pg *g, uint64_t deadline, struct pa_error *err)
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
	int broken;

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
		w = wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
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
		      deadline, err, &broken);
	if (res == NULL)
		goto fail;
	PQclear(res);
	return c;
fail:
	PQfinish(c);
	return NULL;
}

/* Borrows a slot, waiting up to timeout_ms.  Returns its index or -1. */
static int
pool_take(struct pg *g, uint64_t deadline, struct pa_error *err)
{
	uint64_t now = pa_now_us();
	struct timespec until = pa_deadline_ms(deadline > now ? (long)((deadline - now) / 1000u) : 0);
	int i, rc = 0;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		for (i = 0; i < g->n; i++) {
			if (!g->busy[i]) {
				g->busy[i] = true;
				pthread_mutex_unlock(&g->lock);
				return i;
			}
		}
		if (rc == ETIMEDOUT)
			break;
		rc = pthread_cond_timedwait(&g->freed, &g->lock, &until);
	}
	pthread_mutex_unlock(&g->lock);
	pa_error_set(err, "all %d connections busy for %ld ms", g->n, g->timeout_ms);
	return -1;
}

/* Returns a slot; a broken connection is dropped, to be made anew. */
static void
pool_give(struct pg *g, int i, bool broken)
{
	if (broken && g->conns[i] != NULL) {
		PQfinish(g->conns[i]);
		g->conns[i] = NULL;
	}
	pthread_mutex_lock(&g->lock);
	g->busy[i] = false;
	pthread_cond_signal(&g->freed);
	pthread_mutex_unlock(&g->lock);
}

/* Runs sql on a pooled connection, once more on a fresh one when a kept
 * connection turns out closed.  The result (PQclear() it), or NULL with
 * err set. */
static PGresult *
pool_exec(struct pg *g, const char *sql, int nparams, const char *const *params,
	  struct pa_error *err)
{
	/* One deadline for all of it: the wait for a connection, a connect,
	 * the query and the one retry. */
	uint64_t deadline = pa_now_us() + (uint64_t)g->timeout_ms * 1000u;
	PGresult *res;
	int attempt, i, broken;
	bool fresh;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((i = pool_take(g, deadline, err)) < 0)
			return NULL;
		fresh = g->conns[i] == NULL;
		if (fresh && (g->conns[i] = pg_connect(g, deadline, err)) == NULL) {
			pool_give(g, i, false);
			return NULL;	/* a fresh connect failed: no point retrying */
		}
		res = pg_exec(g->conns[i], sql, nparams, params, deadline, err, &broken);
		pool_give(g, i, broken != 0);
		if (res != NULL || broken != 2 || fresh)
			return res;
	}
	return NULL;
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
	enum pa_result res = PA_DENIED;
	bool disabled, expired, bad_groups;
	long left_ms = 0;		/* until expires_at, when has_left */
	bool has_left = false;
	struct timespec wall;
	PGresult *r;
	int rows;

	if ((r = pool_exec(g, lookup_sql, 1, param, err)) == NULL)
		return PA_UNAVAILABLE;
	if (PQnfields(r) != 7) {
		PQclear(r);
		pa_error_set(err, "unexpected columns from proxyauth.credentials");
		return PA_UNAVAILABLE;
	}
	rows = PQntuples(r);
	if (rows == 0) {
		PQclear(r);
		dummy_verify(g, cred);
		return PA_NOT_FOUND;
	}
	name[0] = hash[0] = groups[0] = '\0';
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
	if (rows != 1)
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: %d rows for %s in "
			   "proxyauth.credentials; denied", rows, cred->user);
	else if (bad_groups)
		/* Refused rather than granted without a group a rule may need. */
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: user %s has a group name that "
			   "is empty or holds a comma or control character; denied", cred->user);
	if (disabled || expired || bad_groups || hash[0] == '\0' || name[0] == '\0') {
		dummy_verify(g, cred);
		OPENSSL_cleanse(hash, sizeof(hash));
		return PA_DENIED;
	}
	res = pa_backend_check_stored(g->env, "postgres", &g->reference, cred, hash, name, groups,
				      who);
	if (res == PA_GRANTED && has_left) {
		/* The server's time left, on this host's wall clock. */
		clock_gettime(CLOCK_REALTIME, &wall);
		who->expires_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 +
		    (left_ms > 0 ? left_ms : 1);
	}
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

/* Waits up to ms, waking early when the backend closes. */
static void
nap(struct pg *g, int ms)
{
	for (; ms > 0 && !atomic_load(&g->stop); ms -= 100)
		usleep(100000);
}

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

static void *
listener(void *arg)
{
	struct pg *g = arg;
	struct pa_error err = { { 0 } };
	bool logged_down = false;
	int backoff = 250;

	while (!atomic_load(&g->stop)) {
		PGconn *c = pg_connect(g, pa_now_us() + (uint64_t)g->timeout_ms * 1000u, &err);
		PGresult *res = NULL;
		PGnotify *n;
		int broken;

		if (c != NULL)
			res = pg_exec(c, "LISTEN " PG_CHANNEL, 0, NULL,
				      pa_now_us() + (uint64_t)g->timeout_ms * 1000u, &err, &broken);
		if (res == NULL) {
			if (!logged_down)
				pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: cannot listen on "
					   PG_CHANNEL ": %s; retrying", err.msg);
			logged_down = true;
			PQfinish(c);
			nap(g, backoff);
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
			continue;
		}
		PQclear(res);
		/* Notices sent while we were away are lost: forget everything
		 * PostgreSQL told us before. */
		g->env->invalidate(g->env->invalidate_arg, "postgres", NULL);
		pa_log_msg(g->env->log, PA_LOG_INFO, "postgres: listening on " PG_CHANNEL "%s",
			   logged_down ? " again" : "");
		logged_down = false;
		backoff = 250;
		while (!atomic_load(&g->stop)) {
			struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
			int rc = poll(&p, 1, 200);

			if (rc < 0 && errno != EINTR)
				break;
			if (rc > 0 && !PQconsumeInput(c))
				break;		/* lost: reconnect and drop everything */
			while ((n = PQnotifies(c)) != NULL) {
				on_notice(g, n);
				PQfreemem(n);
			}
			if (PQstatus(c) == CONNECTION_BAD)
				break;
		}
		if (!atomic_load(&g->stop)) {
			set_pq_error(&err, "listening connection lost", PQerrorMessage(c));
			pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: %s", err.msg);
			logged_down = true;
			/* From now on notices go unheard: drop what PostgreSQL
			 * told us at once, not only once LISTEN works again (it
			 * may not for a while).  Answers cached while it is down
			 * are dropped again on reconnect. */
			g->env->invalidate(g->env->invalidate_arg, "postgres", NULL);
		}
		PQfinish(c);
	}
	return NULL;
}

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
	const char *pwfile = pa_conf_str(conf, pg_keys, "password_file");
	struct pg *g;
	char where[256];
	long size;

	*ctx = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto oom;
	g->env = env;
	pthread_mutex_init(&g->lock, NULL);
	pa_reference_init(&g->reference);
	pthread_cond_init(&g->freed, NULL);
	atomic_init(&g->stop, false);
	g->timeout_ms = pa_conf_int(conf, pg_keys, "timeout_ms");
	snprintf(g->timeout_text, sizeof(g->timeout_text), "%ld", g->timeout_ms);
	/* libpq counts whole seconds and takes less than 2 as 2; the poll()
	 * deadline is what bounds a connect. */
	snprintf(g->connect_timeout, sizeof(g->connect_timeout), "%ld",
		 (g->timeout_ms + 999) / 1000 < 2 ? 2 : (g->timeout_ms + 999) / 1000);
	size = pa_conf_int(conf, pg_keys, "pool_size");
	g->n = (int)size;
	g->conns = calloc((size_t)size, sizeof(*g->conns));
	g->busy = calloc((size_t)size, sizeof(*g->busy));
	if ((g->conninfo = strdup(pa_conf_str(conf, pg_keys, "conninfo"))) == NULL ||
	    g->conns == NULL || g->busy == NULL) {
		pg_close(g);
		goto oom;
	}
	if (pwfile[0] != '\0' && pa_secret_read(pwfile, g->password, sizeof(g->password), err) != 0) {
		struct pa_error e = *err;

		pa_conf_where(conf, "password_file", where, sizeof(where));
		pa_error_set(err, "%s: %s", where, e.msg);
		pg_close(g);
		return -1;
	}
	if (!env->check_only)
		warn_unverified_tls(g);
	if (!env->check_only && env->invalidate != NULL) {
		if (pthread_create(&g->listener, NULL, listener, g) != 0) {
			pg_close(g);
			pa_error_set(err, "postgres: cannot start the listener thread");
			return -1;
		}
		g->listener_started = true;
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
	int i;

	if (g == NULL)
		return;
	atomic_store(&g->stop, true);
	if (g->listener_started)
		pthread_join(g->listener, NULL);
	for (i = 0; g->conns != NULL && i < g->n; i++)
		PQfinish(g->conns[i]);
	free(g->conns);
	free(g->busy);
	free(g->conninfo);
	OPENSSL_cleanse(g->password, sizeof(g->password));
	pthread_cond_destroy(&g->freed);
	pthread_mutex_destroy(&g->lock);
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
