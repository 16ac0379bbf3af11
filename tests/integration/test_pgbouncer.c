/*
 * The PostgreSQL backend behind PgBouncer (Debian's 1.18), the pooler many
 * sites put in front of PostgreSQL: proxyauthd reads the test server
 * (pg_server.h) through a private pgbouncer, with the answer cache and
 * the lockout off, so every request is a lookup.
 *
 * Behind a pooler server sessions are shared (transaction mode) or may be
 * (proxyauthd cannot tell the modes apart): a prepared statement may be
 * gone, or replaced by another client of the role with one that grants
 * anyone (test_forged_statement).  The backend sees the pooler (the
 * process id it hands out is not the server's), never prepares there,
 * and says "prepared statements do not hold on this server" once.  No
 * lookup may become a 503 or a wrong answer.  Notices do not pass a
 * transaction-mode pooler: there the listener must not claim to listen.
 *
 * Each mode asks 60 questions of 10 users made with the schema's
 * add_user, from 4 client threads at once, right and wrong passwords in
 * turn: every right one must be 204 with the user in X-Auth-User, every
 * wrong one 407; the fallback is logged exactly once in each mode
 * (test_fallback_logged for the transaction mode run).
 *
 * One PostgreSQL server and its users serve the whole program (group
 * setup); each test has its own pgbouncer and daemon.
 */
#include "harness.h"
#include "pg_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pa_harness is built from harness.c alone (tests/CMakeLists.txt), so the
 * server helpers are compiled into this program here. */
#include "redis_server.c"
#include "pg_server.c"

#include "../../backends/postgres/pgb.h"	/* pgb_name_statement() */

#define FALLBACK_LINE "prepared statements do not hold on this server"
#define NUSERS 10
#define NREQ 60
#define NTHREADS 4

static struct pa_pg pg;
static struct pa_pgbouncer pgb;
/* How often the transaction mode run logged the fallback; -1 until it
 * finished. */
static int txn_fallback_lines = -1;

static char user_name[NUSERS][32], user_pw[NUSERS][32];

/* Runs a statement as role; fails the test unless it succeeds (as
 * test_postgres.c's sql(), which is static there). */
static const char *
sql(const char *role, const char *text)
{
	static char out[4096], err[4096];
	int rc = pa_pg_psql(&pg, role, text, out, sizeof(out), err, sizeof(err));

	if (rc != 0)
		fail_msg("as %s: %s\nexit %d: %s", role, text, rc, err);
	return out;
}

static int
group_setup(void **state)
{
	char text[256], err[1024];
	int i;

	(void)state;
	pa_scrub_environment();
	if (pa_pg_start(&pg) != 0) {
		pa_pg_destroy(&pg);
		return -1;
	}
	/* The way an operator makes users: the admin functions (bcrypt cost
	 * 12), as a member of proxyauth_admin. */
	for (i = 0; i < NUSERS; i++) {
		snprintf(user_name[i], sizeof(user_name[i]), "pgb%02d", i);
		snprintf(user_pw[i], sizeof(user_pw[i]), "pw-%02d-%d", i, i * 7919);
		snprintf(text, sizeof(text), "SELECT proxyauth.add_user('%s', '%s')", user_name[i],
			 user_pw[i]);
		if (pa_pg_psql(&pg, "alice_admin", text, NULL, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "add_user %s failed: %s\n", user_name[i], err);
			pa_pg_destroy(&pg);
			return -1;
		}
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	pa_pgbouncer_destroy(&pgb);
	pa_pg_destroy(&pg);
	return 0;
}

static int
setup(void **state)
{
	return pa_fixture_setup(state);
}

/* The daemons go first, then their pgbouncer. */
static int
teardown(void **state)
{
	int rc = pa_fixture_teardown(state);

	pa_pgbouncer_destroy(&pgb);
	return rc;
}

/* A daemon with `backends = postgres` reading through pgbouncer as
 * pa_reader_login with a 0600 password_file, cache and lockout off. */
static struct pa_daemon *
start_daemon(struct pa_fixture *f, int pool_size)
{
	char *pw = pa_strdupf("%s/pg.pw", f->dir);
	char *conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
				"cache_size = 0\nbackends = postgres\n"
				"[postgres]\nconninfo = %s\npassword_file = %s\n"
				"pool_size = %d\ntimeout_ms = 5000\n",
				pgb.conninfo, pw, pool_size);
	struct pa_daemon *d;

	assert_int_equal(pa_write_file(pw, PA_PG_READER_PASSWORD "\n"), 0);
	d = pa_daemon_start(f, conf, NULL);
	free(conf);
	free(pw);
	if (d == NULL)
		fail_msg("proxyauthd did not start (its log is above)");
	return d;
}

/* ---- the requests --------------------------------------------------------- */

struct answer {
	long status;
	int user_count;
	char got_user[1024];
};

struct worker {
	const struct pa_daemon *d;
	pthread_barrier_t *go;
	int first;
	struct answer *answers;
};

/* Request i asks user i % NUSERS; the right password when i plus its
 * round is even, so each user gets both in turn. */
static int
right_password(int i)
{
	return (i + i / NUSERS) % 2 == 0;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int i;

	pthread_barrier_wait(w->go);
	for (i = w->first; i < NREQ; i += NTHREADS) {
		struct answer *a = &w->answers[i];
		struct pa_resp r;

		a->status = pa_get_basic(w->d, "/auth", user_name[i % NUSERS],
					 right_password(i) ? user_pw[i % NUSERS] : "wrong-pw",
					 &r) == 0 ? r.status : 0;
		a->user_count = r.hdr[H_X_AUTH_USER].count;
		snprintf(a->got_user, sizeof(a->got_user), "%s", r.hdr[H_X_AUTH_USER].value);
		pa_resp_free(&r);
	}
	return NULL;
}

/* Sends the NREQ requests from NTHREADS threads and fails the test unless
 * every right password got 204 with its user and every wrong one 407. */
static void
ask_all(const struct pa_daemon *d, const char *mode)
{
	static struct answer answers[NREQ];
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	pthread_barrier_t go;
	int i, unavailable = 0, bad = 0;
	char first_bad[1400] = "";

	memset(answers, 0, sizeof(answers));
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .d = d, .go = &go, .first = i, .answers = answers };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NREQ; i++) {
		const struct answer *a = &answers[i];
		const char *user = user_name[i % NUSERS];
		int ok = right_password(i)
			 ? a->status == 204 && a->user_count == 1 && strcmp(a->got_user, user) == 0
			 : a->status == 407 && a->user_count == 0;

		if (a->status == 503)
			unavailable++;
		if (!ok && bad++ == 0)
			snprintf(first_bad, sizeof(first_bad),
				 "request %d (%s, %s password): status %ld, X-Auth-User '%s' (x%d)",
				 i, user, right_password(i) ? "right" : "wrong", a->status,
				 a->got_user, a->user_count);
	}
	if (bad != 0)
		fail_msg("%s mode: %d of %d answers wrong, %d of them 503; the first: %s", mode,
			 bad, NREQ, unavailable, first_bad);
}

/* The number of fallback lines in the log of the stopped daemon d; how
 * often it said it listens into *listening. */
static int
fallback_lines(struct pa_daemon *d, int *listening)
{
	char *log;
	int n;

	assert_int_equal(pa_daemon_stop(d), 0);
	log = pa_daemon_log(d);
	n = pa_count(log, FALLBACK_LINE);
	*listening = pa_count(log, "postgres: listening on proxyauth_changed");
	free(log);
	return n;
}

/* ---- the cases ------------------------------------------------------------ */

static void
test_transaction_mode(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	long conns;
	int n, listening;
	int64_t t0;

	if (pa_pgbouncer_start(&pgb, &pg, "transaction", 2) != 0)
		fail_msg("pgbouncer did not start");
	d = start_daemon(f, 4);
	ask_all(d, "transaction");
	/* The lookups went through pgbouncer: the server saw no more reader
	 * sessions than its pool, not proxyauthd's 4 plus the listener. */
	conns = strtol(sql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE usename = '"
			   PA_PG_READER_USER "'"), NULL, 10);
	if (conns > 2)
		fail_msg("%ld reader sessions on the server behind a pool of 2", conns);
	/* There the listener is down and retries, each try waiting up to
	 * timeout_ms (5 s) for its notice: a stop must not wait that out.
	 * Past the first back-off (250 ms) it is most likely in such a wait. */
	if (!pa_daemon_wait_log(d, "cannot listen on proxyauth_changed", 1, 15000))
		fail_msg("the listener did not say it cannot listen through the pooler");
	pa_sleep_ms(600);
	t0 = pa_now_ms();
	n = fallback_lines(d, &listening);
	if (pa_now_ms() - t0 > 2000)
		fail_msg("stopping took %ld ms with the listener retrying",
			 (long)(pa_now_ms() - t0));
	if (n > 1)
		fail_msg("the fallback was logged %d times, want at most once", n);
	txn_fallback_lines = n;
	/* Notices do not pass such a pooler: the listener must not claim to
	 * listen (its answers would be cached, unwatched). */
	if (listening != 0)
		fail_msg("the listener said it listens %d times through a transaction-mode "
			 "pooler", listening);
}

static void
test_session_mode(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	int n, listening;

	/* A session holds its server connection for its whole life: room for
	 * proxyauthd's pool of 4 and its listener (with 2, lookups waiting
	 * for a server connection ran out of timeout_ms: 503). */
	if (pa_pgbouncer_start(&pgb, &pg, "session", 5) != 0)
		fail_msg("pgbouncer did not start");
	d = start_daemon(f, 4);
	ask_all(d, "session");
	n = fallback_lines(d, &listening);
	/* Any pooler hands out a process id of its own: seen, nothing is
	 * prepared (a session-mode pool could have kept them, but proxyauthd
	 * cannot tell the modes apart). */
	if (n != 1)
		fail_msg("the fallback was logged %d times in session mode, want once", n);
	if (listening != 1)
		fail_msg("the listener said it listens %d times in session mode, want once",
			 listening);
}

/* The pooler is seen at the first connection, whatever the timing. */
static void
test_fallback_logged(void **state)
{
	(void)state;
	if (txn_fallback_lines < 0)
		fail_msg("test_transaction_mode did not finish");
	if (txn_fallback_lines != 1)
		fail_msg("\"" FALLBACK_LINE "\" logged %d times in transaction mode, want once",
			 txn_fallback_lines);
}

/* Behind a transaction-mode pooler server sessions are shared: another
 * client of the reader role can put a statement of its own under the
 * lookup's name (a public digest of public text), one that grants anyone
 * its password.  proxyauthd sees the pooler and never prepares, so the
 * forged statement answers nothing. */
static void
test_forged_statement(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	struct pg g;
	char hash[200], ci[600], *q;
	PGconn *a;
	PGresult *res;
	int i;

	snprintf(hash, sizeof(hash), "%s", sql("postgres", "SELECT proxyauth_crypto.crypt("
					       "'forged-pw', proxyauth_crypto.gen_salt('bf', 4))"));
	if (pa_pgbouncer_start(&pgb, &pg, "transaction", 1) != 0)
		fail_msg("pgbouncer did not start");
	d = start_daemon(f, 1);	/* one connection: it alone would have prepared */
	assert_int_equal(pa_auth_status(d, user_name[0], user_pw[0]), 204);

	memset(&g, 0, sizeof(g));
	pgb_name_statement(&g);
	snprintf(ci, sizeof(ci), "%s password=" PA_PG_READER_PASSWORD, pgb.conninfo);
	a = PQconnectdb(ci);
	assert_int_equal(PQstatus(a), CONNECTION_OK);
	q = pa_strdupf("DEALLOCATE ALL; PREPARE %s(text) AS SELECT $1::text, '%s'::text, false, "
		       "false, 'admins'::text, false, NULL::bigint", g.stmt, hash);
	res = PQexec(a, q);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("the forged statement: %s", PQresultErrorMessage(res));
	PQclear(res);
	free(q);
	PQfinish(a);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pa_auth_status(d, user_name[1], "forged-pw"), 407);
		assert_int_equal(pa_auth_status(d, "nosuchuser", "forged-pw"), 407);
		assert_int_equal(pa_auth_status(d, user_name[1], user_pw[1]), 204);
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transaction_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_mode, setup, teardown),
		cmocka_unit_test(test_fallback_logged),
		cmocka_unit_test_setup_teardown(test_forged_statement, setup, teardown),
	};

	pa_harness_init();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
