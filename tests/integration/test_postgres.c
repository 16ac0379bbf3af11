/*
 * The PostgreSQL backend (SPEC sections 4 and 5) against the real daemon
 * and a real, private PostgreSQL 15 (pg_server.h) holding the schema of
 * deploy/sql/schema.sql: users managed with the admin functions through
 * psql as a member of proxyauth_admin, read by proxyauthd as a member of
 * proxyauth_reader over TCP with SCRAM and a password_file.
 *
 * Covered: correct, wrong, disabled, expired, deleted and unknown users
 * and their groups; pgcrypto's $2a$ cost-12 hashes; a change made by SQL
 * seen within one second although cache_ttl is 60 s, also after the
 * listening connection was terminated (and the drop of every PostgreSQL
 * answer when it comes back, shown with a change whose notice was
 * suppressed); pooled connections terminated by the server; PostgreSQL
 * stopped mid-run (503, never an allow; /readyz down) and started again
 * (recovery without restarting proxyauthd); with stale_grace, a cached
 * grant served stale while PostgreSQL is stopped, and the old password
 * refused at once when it is back changed; a server that never answers
 * and a query that waits on a lock (timeout_ms); 32 concurrent requests
 * for different users; and configuration errors under -t.
 *
 * One server serves the whole program (group setup); each test has its
 * own daemons and user names, and leaves the server running.
 */
#include "harness.h"
#include "pg_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* pa_harness is built from harness.c alone (tests/CMakeLists.txt), so the
 * server helpers are compiled into this program here. */
#include "redis_server.c"
#include "pg_server.c"

#define CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""

static struct pa_pg pg;

static int
group_setup(void **state)
{
	(void)state;
	pa_scrub_environment();
	if (pa_pg_start(&pg) != 0) {
		pa_pg_destroy(&pg);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	pa_pg_destroy(&pg);
	return 0;
}

/* A test's daemons die before the server may be touched by the next. */
static int
setup(void **state)
{
	return pa_fixture_setup(state);
}

static int
teardown(void **state)
{
	int rc = pa_fixture_teardown(state);

	/* A test that failed with the server stopped leaves it for the
	 * next one running again. */
	if (pg.pid == 0 && pg.dir[0] != '\0')
		(void)pa_pg_restart(&pg);
	return rc;
}

/* ---- SQL ----------------------------------------------------------------- */

static char sql_out[16384], sql_err[8192];

static const char *
sql(const char *role, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a statement as role; fails the test unless it succeeds. */
static const char *
sql(const char *role, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rc = pa_pg_psql(&pg, role, text, sql_out, sizeof(sql_out), sql_err, sizeof(sql_err));
	if (rc != 0)
		fail_msg("as %s: %s\nexit %d: %s", role, text, rc, sql_err);
	return sql_out;
}

/* A user with a cheap hash (bcrypt cost 4, made by pgcrypto), written
 * directly as the superuser, with groups (comma list, may be ""). */
static void
add_cheap_user(const char *name, const char *password, const char *groups)
{
	sql("postgres", "INSERT INTO proxyauth.users (username, password_hash) VALUES ('%s', "
	    "proxyauth_crypto.crypt('%s', proxyauth_crypto.gen_salt('bf', 4)))", name, password);
	if (groups[0] != '\0')
		sql("postgres", "INSERT INTO proxyauth.groups (name) SELECT unnest(string_to_array("
		    "'%s', ',')) ON CONFLICT DO NOTHING; INSERT INTO proxyauth.memberships "
		    "(user_id, group_id) SELECT u.id, g.id FROM proxyauth.users u, proxyauth.groups "
		    "g WHERE u.username = '%s' AND g.name = ANY (string_to_array('%s', ','))",
		    groups, name, groups);
}

/* proxyauthd's listening connection in pg_stat_activity. */
#define IS_LISTENER "query = 'LISTEN proxyauth_changed'"

/* The backend pid of proxyauthd's listening connection, or 0. */
static long
listener_pid(void)
{
	const char *o = sql("postgres", "SELECT pid FROM pg_stat_activity WHERE application_name "
			    "= 'proxyauthd' AND " IS_LISTENER);

	return strtol(o, NULL, 10);
}

/* Waits up to limit_ms for a listener other than not_pid; its pid or 0. */
static long
wait_listener(long not_pid, long limit_ms)
{
	long t0 = pa_now_ms(), pid;

	while ((pid = listener_pid()) == 0 || pid == not_pid) {
		if (pa_now_ms() - t0 > limit_ms)
			return 0;
		pa_sleep_ms(25);
	}
	return pid;
}

/* Waits up to limit_ms for d to have logged that it listens, count times
 * in all: by then it has also dropped its cached answers (it does so
 * before logging), so what the test caches next stays. */
static void
wait_listening(const struct pa_daemon *d, int count, long limit_ms)
{
	if (!pa_daemon_wait_log(d, "postgres: listening on proxyauth_changed", count,
				(int)limit_ms))
		fail_msg("proxyauthd did not log LISTEN number %d within %ld ms", count, limit_ms);
}

/* ---- the daemon ---------------------------------------------------------- */

/* A daemon with `backends = postgres` reading the test server as
 * pa_reader_login with a 0600 password_file; extra lines for [server] and
 * [postgres]. */
static struct pa_daemon *
start_daemon(struct pa_fixture *f, const char *server_extra, const char *pg_extra)
{
	char *pw = pa_strdupf("%s/pg.pw", f->dir);
	char *conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
				"cache_ttl = 60\nbackends = postgres\n%s"
				"[postgres]\nconninfo = %s\npassword_file = %s\n%s",
				server_extra, pg.conninfo, pw, pg_extra);
	struct pa_daemon *d;

	assert_int_equal(pa_write_file(pw, PA_PG_READER_PASSWORD "\n"), 0);
	d = pa_daemon_start(f, conf, NULL);
	free(conf);
	free(pw);
	if (d == NULL)
		fail_msg("proxyauthd did not start (its log is above)");
	return d;
}

static int
ask(const struct pa_daemon *d, const char *user, const char *password, struct pa_resp *r)
{
	return pa_get_basic(d, "/auth", user, password, r);
}

/* Polls until the status is want; ms taken, or -1 after limit_ms. */
static long
wait_status(const struct pa_daemon *d, const char *user, const char *password, long want,
	    long limit_ms, long *last)
{
	long t0 = pa_now_ms();

	for (;;) {
		long s = pa_auth_status(d, user, password);

		if (last != NULL)
			*last = s;
		if (s == want)
			return pa_now_ms() - t0;
		if (pa_now_ms() - t0 > limit_ms)
			return -1;
		pa_sleep_ms(20);
	}
}

static void
check_allow(const struct pa_resp *r, const char *user, const char *groups, const char *ctx)
{
	EXPECT(r->status == 204, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_X_AUTH_USER, user), r, "%s: X-Auth-User '%s'", ctx, user);
	EXPECT(HDR_IS(r, H_X_AUTH_GROUPS, groups), r, "%s: X-Auth-Groups '%s'", ctx, groups);
	EXPECT(HDR_IS(r, H_X_AUTH_BACKEND, "postgres"), r, "%s: X-Auth-Backend", ctx);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s", ctx);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s: no challenge", ctx);
}

static void
expect_allow(const struct pa_daemon *d, const char *user, const char *password,
	     const char *groups, const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(ask(d, user, password, &r), 0);
	check_allow(&r, user, groups, ctx);
	pa_resp_free(&r);
}

static void
expect_deny(const struct pa_daemon *d, const char *user, const char *password, const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(ask(d, user, password, &r), 0);
	EXPECT(r.status == 407, &r, "%s", ctx);
	EXPECT(HDR_IS(&r, H_PROXY_AUTHENTICATE, CHALLENGE), &r, "%s: the challenge", ctx);
	EXPECT(!r.hdr[H_RETRY_AFTER].present, &r, "%s", ctx);
	EXPECT(!r.hdr[H_X_AUTH_USER].present && !r.hdr[H_X_AUTH_BACKEND].present, &r,
	       "%s: no identity", ctx);
	pa_resp_free(&r);
}

static void
expect_unavailable(const struct pa_daemon *d, const char *user, const char *password,
		   const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(ask(d, user, password, &r), 0);
	EXPECT(r.status == 503, &r, "%s", ctx);
	EXPECT(HDR_IS(&r, H_RETRY_AFTER, "1"), &r, "%s: Retry-After", ctx);
	EXPECT(!r.hdr[H_PROXY_AUTHENTICATE].present, &r, "%s: no challenge", ctx);
	EXPECT(!r.hdr[H_X_AUTH_USER].present && !r.hdr[H_X_AUTH_BACKEND].present, &r,
	       "%s: no identity", ctx);
	pa_resp_free(&r);
}

/* proxyauthd_backend_requests_total{backend="postgres",result=...}. */
static double
pg_results(const struct pa_daemon *d, const char *result)
{
	struct pa_resp r;
	char want[128], *p;
	double v = -1;

	snprintf(want, sizeof(want), "proxyauthd_backend_requests_total{backend=\"postgres\","
		 "result=\"%s\"} ", result);
	assert_int_equal(pa_get(d, "GET", "/metrics", NULL, &r), 0);
	if ((p = strstr(r.body, want)) != NULL)
		v = strtod(p + strlen(want), NULL);
	pa_resp_free(&r);
	return v;
}

/* ---- 1. users, results, groups ------------------------------------------ */

static void
test_users(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;

	/* Made the way an operator makes them: admin functions, cost 12. */
	sql("alice_admin", "SELECT proxyauth.add_user('alice', 'alice-S3cret!'); "
	    "SELECT proxyauth.grant_group('alice', 'ops'); "
	    "SELECT proxyauth.grant_group('alice', 'dev')");
	sql("alice_admin", "SELECT proxyauth.add_user('dora', 'dora-pw'); "
	    "SELECT proxyauth.disable_user('dora')");
	sql("alice_admin", "SELECT proxyauth.add_user('eve', 'eve-pw'); "
	    "SELECT proxyauth.set_expiry('eve', now() - interval '1 second')");
	sql("alice_admin", "SELECT proxyauth.add_user('finn', 'finn-pw'); "
	    "SELECT proxyauth.set_expiry('finn', now() + interval '1 day')");
	sql("alice_admin", "SELECT proxyauth.add_user('gus', 'gus-pw')");
	sql("alice_admin", "SELECT proxyauth.add_user('j\xc3\xb6rg', 'p\xc3\xa4ss w\xc3\xb6rd')");
	d = start_daemon(f, "", "");
	wait_listening(d, 1, 5000);

	expect_allow(d, "alice", "alice-S3cret!", "dev,ops", "alice, right password ($2a$12$)");
	pa_expect_last_decision(d, "cache", "miss");
	expect_allow(d, "alice", "alice-S3cret!", "dev,ops", "alice again");
	pa_expect_last_decision(d, "cache", "hit");
	expect_deny(d, "alice", "wrong-pw", "alice, wrong password");
	expect_deny(d, "Alice", "alice-S3cret!", "Alice: names are exact");
	expect_deny(d, "dora", "dora-pw", "dora, disabled, right password");
	expect_deny(d, "dora", "wrong", "dora, disabled, wrong password");
	expect_deny(d, "eve", "eve-pw", "eve, expired, right password");
	expect_allow(d, "finn", "finn-pw", "", "finn, expires tomorrow");
	expect_deny(d, "nobody", "x-pw", "unknown user");
	expect_deny(d, "x' OR '1'='1", "x-pw", "a quote in the name is only a parameter");
	expect_allow(d, "j\xc3\xb6rg", "p\xc3\xa4ss w\xc3\xb6rd", "", "UTF-8 name and password");

	/* Deleted while cached: gone at once. */
	expect_allow(d, "gus", "gus-pw", "", "gus");
	sql("alice_admin", "SELECT proxyauth.delete_user('gus')");
	if (wait_status(d, "gus", "gus-pw", 407, 1000, NULL) < 0)
		fail_msg("gus still allowed 1 s after delete_user");
	expect_deny(d, "gus", "gus-pw", "gus, deleted");

	/* Enabled again, and no longer expired. */
	sql("alice_admin", "SELECT proxyauth.enable_user('dora')");
	sql("alice_admin", "SELECT proxyauth.set_expiry('eve', NULL)");
	if (wait_status(d, "dora", "dora-pw", 204, 1000, NULL) < 0 ||
	    wait_status(d, "eve", "eve-pw", 204, 1000, NULL) < 0)
		fail_msg("dora or eve not allowed 1 s after enable_user / set_expiry NULL");

	assert_true(pg_results(d, "granted") >= 4);
	assert_true(pg_results(d, "denied") >= 4);
	assert_true(pg_results(d, "not_found") >= 2);
	assert_true(pg_results(d, "unavailable") == 0);
	assert_int_equal(pa_daemon_stop(d), 0);
	{
		char *log = pa_daemon_log(d);

		if (strstr(log, "alice-S3cret") != NULL || strstr(log, PA_PG_READER_PASSWORD))
			fail_msg("a password is in the log");
		free(log);
	}
}

/* Records the daemon refuses to grant: groups that cannot be a comma
 * list, two rows for one name (a view the operator wrote). */
/* A cached grant ends with the account: cache_ttl is 60 s, expires_at is
 * 2.5 s after the first grant, and from then on every answer is a deny
 * (the first within a second of expires_at, no allow begun 0.2 s after
 * it).  Before, the cached grant went on for the whole TTL (about 57 s
 * past expires_at was measured). */
static void
test_expiry_ends_cached_grant(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_expiry_seen seen;
	struct pa_daemon *d;
	long long expires;
	char *log;

	add_cheap_user("exa", "exa-pw", "g");
	sql("alice_admin", "SELECT proxyauth.set_expiry('exa', now() + interval '2.5 seconds')");
	expires = atoll(sql("postgres", "SELECT (extract(epoch FROM expires_at) * 1000)::bigint "
			    "FROM proxyauth.users WHERE username = 'exa'"));
	d = start_daemon(f, "", "");
	wait_listening(d, 1, 5000);
	expect_allow(d, "exa", "exa-pw", "g", "exa before it expires");
	pa_watch_expiry(d, "exa", "exa-pw", (int64_t)expires, &seen);
	log = pa_daemon_log(d);
	if (pa_count(log, "cache=hit") < 1 || seen.allows_before < 2) {
		free(log);
		fail_msg("the grant was not served from the cache before expiry (%d allows)",
			 seen.allows_before);
	}
	free(log);
	if (!seen.denied || seen.first_deny > 1000)
		fail_msg("first deny %ld ms after expires_at (want <= 1000)",
			 seen.denied ? seen.first_deny : -1L);
	if (seen.allowed_after && seen.last_allow > 200)
		fail_msg("allowed %ld ms after expires_at", seen.last_allow);
	print_message("postgres expiry: first deny %ld ms after expires_at, %d cached allows "
		      "before\n", seen.first_deny, seen.allows_before);
}

static void
test_odd_records(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;

	add_cheap_user("olga", "olga-pw", "");
	add_cheap_user("oscar", "oscar-pw", "");
	/* A group name the schema refuses, slipped past its check. */
	sql("postgres", "ALTER TABLE proxyauth.groups DROP CONSTRAINT groups_name_valid; "
	    "INSERT INTO proxyauth.groups (name) VALUES ('a,b'); "
	    "INSERT INTO proxyauth.memberships (user_id, group_id) SELECT u.id, g.id FROM "
	    "proxyauth.users u, proxyauth.groups g WHERE u.username = 'olga' AND g.name = 'a,b'");
	d = start_daemon(f, "", "");
	wait_listening(d, 1, 5000);
	expect_deny(d, "olga", "olga-pw", "a group name with a comma");
	assert_true(pa_daemon_wait_log(d, "olga has a group name", 1, 2000));
	expect_allow(d, "oscar", "oscar-pw", "", "oscar");
	sql("postgres", "DELETE FROM proxyauth.groups WHERE name = 'a,b'; ALTER TABLE "
	    "proxyauth.groups ADD CONSTRAINT groups_name_valid CHECK (name <> '' AND "
	    "pg_catalog.octet_length(name) <= 256 AND pg_catalog.strpos(name, ',') = 0 AND "
	    "name !~ '[[:cntrl:]]' AND name = pg_catalog.btrim(name))");
	if (wait_status(d, "olga", "olga-pw", 204, 1000, NULL) < 0)
		fail_msg("olga not allowed after the bad group went");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 2. changes by SQL within one second --------------------------------- */

static void
test_invalidation(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	long took, last, pid, pid2;

	sql("alice_admin", "SELECT proxyauth.add_user('hana', 'hana-pw-1'); "
	    "SELECT proxyauth.grant_group('hana', 'dev')");
	add_cheap_user("ivan", "ivan-pw", "staff");
	d = start_daemon(f, "", "");
	if ((pid = wait_listener(0, 5000)) == 0)
		fail_msg("proxyauthd did not LISTEN within 5 s");
	wait_listening(d, 1, 5000);

	expect_allow(d, "hana", "hana-pw-1", "dev", "hana, first");
	expect_allow(d, "hana", "hana-pw-1", "dev", "hana, second");
	pa_expect_last_decision(d, "cache", "hit");
	expect_allow(d, "ivan", "ivan-pw", "staff", "ivan");

	sql("alice_admin", "SELECT proxyauth.set_password('hana', 'hana-pw-2')");
	took = wait_status(d, "hana", "hana-pw-1", 407, 1000, &last);
	if (took < 0)
		fail_msg("the old password still gets %ld 1 s after set_password (cache_ttl 60)",
			 last);
	print_message("set_password took effect after %ld ms\n", took);
	expect_allow(d, "hana", "hana-pw-2", "dev", "the new password");
	/* Only hana's answers went. */
	expect_allow(d, "ivan", "ivan-pw", "staff", "ivan after hana's change");
	pa_expect_last_decision(d, "cache", "hit");

	/* Groups and disabling, also cached before. */
	expect_allow(d, "hana", "hana-pw-2", "dev", "hana cached");
	sql("alice_admin", "SELECT proxyauth.grant_group('hana', 'ops')");
	took = -1;
	for (long t0 = pa_now_ms(); pa_now_ms() - t0 < 1000;) {
		struct pa_resp r;

		assert_int_equal(ask(d, "hana", "hana-pw-2", &r), 0);
		if (HDR_IS(&r, H_X_AUTH_GROUPS, "dev,ops"))
			took = pa_now_ms() - t0;
		pa_resp_free(&r);
		if (took >= 0)
			break;
		pa_sleep_ms(20);
	}
	if (took < 0)
		fail_msg("grant_group not seen in X-Auth-Groups within 1 s");
	sql("alice_admin", "SELECT proxyauth.disable_user('hana')");
	if (wait_status(d, "hana", "hana-pw-2", 407, 1000, &last) < 0)
		fail_msg("hana still gets %ld 1 s after disable_user", last);
	sql("alice_admin", "SELECT proxyauth.enable_user('hana')");
	if (wait_status(d, "hana", "hana-pw-2", 204, 1000, &last) < 0)
		fail_msg("hana still gets %ld 1 s after enable_user", last);
	expect_allow(d, "hana", "hana-pw-2", "dev,ops", "hana enabled again");

	/* A direct edit by a superuser is announced too. */
	expect_allow(d, "ivan", "ivan-pw", "staff", "ivan cached");
	sql("postgres", "UPDATE proxyauth.users SET password_hash = proxyauth_crypto.crypt("
	    "'ivan-pw-2', proxyauth_crypto.gen_salt('bf', 4)) WHERE username = 'ivan'");
	if (wait_status(d, "ivan", "ivan-pw", 407, 1000, &last) < 0)
		fail_msg("ivan's old password still gets %ld 1 s after a direct UPDATE", last);
	expect_allow(d, "ivan", "ivan-pw-2", "staff", "ivan's new password");

	/* The listening connection is cut; it comes back and changes are
	 * seen as before. */
	expect_allow(d, "hana", "hana-pw-2", "dev,ops", "hana cached before the cut");
	pa_expect_last_decision(d, "cache", "hit");
	sql("postgres", "SELECT pg_terminate_backend(%ld)", pid);
	if ((pid2 = wait_listener(pid, 5000)) == 0)
		fail_msg("proxyauthd did not LISTEN again within 5 s of pg_terminate_backend");
	wait_listening(d, 2, 5000);
	sql("alice_admin", "SELECT proxyauth.set_password('hana', 'hana-pw-3')");
	took = wait_status(d, "hana", "hana-pw-2", 407, 1000, &last);
	if (took < 0)
		fail_msg("after the cut, the old password still gets %ld 1 s after set_password",
			 last);
	print_message("after the listener was cut: set_password took effect after %ld ms\n",
		      took);
	expect_allow(d, "hana", "hana-pw-3", "dev,ops", "hana-pw-3");

	/* A change whose notice is lost (the trigger switched off) while the
	 * listener is away: only the drop of every PostgreSQL answer on
	 * reconnecting can make the cached password fail. */
	expect_allow(d, "hana", "hana-pw-3", "dev,ops", "hana-pw-3 cached");
	pa_expect_last_decision(d, "cache", "hit");
	sql("postgres", "ALTER TABLE proxyauth.users DISABLE TRIGGER users_notify; "
	    "UPDATE proxyauth.users SET password_hash = proxyauth_crypto.crypt('hana-pw-4', "
	    "proxyauth_crypto.gen_salt('bf', 4)) WHERE username = 'hana'; "
	    "ALTER TABLE proxyauth.users ENABLE TRIGGER users_notify");
	expect_allow(d, "hana", "hana-pw-3", "dev,ops", "unannounced: still cached");
	pa_expect_last_decision(d, "cache", "hit");
	sql("postgres", "SELECT pg_terminate_backend(%ld)", pid2);
	took = wait_status(d, "hana", "hana-pw-3", 407, 3000, &last);
	if (took < 0)
		fail_msg("hana-pw-3 still gets %ld 3 s after the listener was cut: no drop of "
			 "the cache on reconnect", last);
	print_message("reconnect dropped the cache after %ld ms\n", took);
	expect_allow(d, "hana", "hana-pw-4", "dev,ops", "hana-pw-4");
	if (!pa_daemon_wait_log(d, "listening connection lost", 2, 2000))
		fail_msg("the lost listener is not logged");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 3. PostgreSQL stopped and started again ------------------------------ */

static void
test_server_down(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	char body[512], name[32], pw[32];
	long t0, t_allow = -1, t_ready = -1, s;
	int i;

	add_cheap_user("kurt", "kurt-pw", "k");
	add_cheap_user("lena", "lena-pw", "l");
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "down%d", i);
		snprintf(pw, sizeof(pw), "down%d-pw", i);
		add_cheap_user(name, pw, "d");
	}
	d = start_daemon(f, "", "timeout_ms = 500\npool_size = 4\n");
	wait_listening(d, 1, 5000);
	expect_allow(d, "kurt", "kurt-pw", "k", "kurt while PostgreSQL is up");
	if (pa_wait_readyz(d, 200, 3000, body, sizeof(body)) < 0 || strstr(body, "postgres") == NULL)
		fail_msg("/readyz while PostgreSQL is up: '%s'", body);

	assert_int_equal(pa_pg_stop(&pg), 0);
	t0 = pa_now_ms();
	for (i = 0; i < 10; i++) {
		expect_unavailable(d, "lena", "lena-pw", "lena, right password, PostgreSQL down");
		expect_unavailable(d, "lena", "wrong-pw", "lena, wrong password, PostgreSQL down");
		expect_unavailable(d, "nobody", "x-pw", "unknown user, PostgreSQL down");
		pa_sleep_ms(20);
	}
	pa_expect_last_decision(d, "outcome", "unavailable");
	if (pa_wait_readyz(d, 503, 4000, body, sizeof(body)) < 0)
		fail_msg("/readyz still 200 4 s after PostgreSQL stopped: '%s'", body);
	if (strstr(body, "postgres") == NULL)
		fail_msg("/readyz does not name postgres: '%s'", body);
	print_message("/readyz went 503 %ld ms after the stop: %s", pa_now_ms() - t0, body);
	assert_true(pa_daemon_alive(d));

	assert_int_equal(pa_pg_restart(&pg), 0);
	t0 = pa_now_ms();
	while (pa_now_ms() - t0 < 10000 && (t_allow < 0 || t_ready < 0)) {
		if (t_allow < 0) {
			s = pa_auth_status(d, "lena", "lena-pw");
			if (s != 204 && s != 503)
				fail_msg("lena got %ld while PostgreSQL came back", s);
			if (s == 204)
				t_allow = pa_now_ms() - t0;
		}
		if (t_ready < 0 && pa_readyz(d, body, sizeof(body)) == 200)
			t_ready = pa_now_ms() - t0;
		pa_sleep_ms(50);
	}
	if (t_allow < 0 || t_ready < 0)
		fail_msg("not recovered within 10 s of PostgreSQL coming back (allow %ld ms, "
			 "ready %ld ms)", t_allow, t_ready);
	print_message("recovered: allow after %ld ms, /readyz 200 after %ld ms\n", t_allow,
		      t_ready);
	expect_allow(d, "lena", "lena-pw", "l", "lena after recovery");
	expect_deny(d, "lena", "wrong-pw", "lena, wrong password, after recovery");
	expect_deny(d, "nobody", "x-pw", "unknown user after recovery");
	/* Listening again, and changes are seen. */
	if (wait_listener(0, 5000) == 0)
		fail_msg("proxyauthd did not LISTEN again after the restart");
	wait_listening(d, 2, 5000);
	expect_allow(d, "kurt", "kurt-pw", "k", "kurt cached");
	sql("postgres", "UPDATE proxyauth.users SET disabled = true WHERE username = 'kurt'");
	if (wait_status(d, "kurt", "kurt-pw", 407, 1000, NULL) < 0)
		fail_msg("kurt still allowed 1 s after being disabled, after the restart");

	/* Every pooled connection terminated by the server while idle: the
	 * next lookups retry on a fresh one and answer. */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "down%d", i);
		snprintf(pw, sizeof(pw), "down%d-pw", i);
		expect_allow(d, name, pw, "d", "warming the pool");
	}
	sql("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
	    "application_name = 'proxyauthd' AND NOT " IS_LISTENER);
	for (i = 4; i < 8; i++) {
		snprintf(name, sizeof(name), "down%d", i);
		snprintf(pw, sizeof(pw), "down%d-pw", i);
		expect_allow(d, name, pw, "d", "the first lookups after the server terminated "
			     "every pooled connection");
	}
	assert_true(pg_results(d, "granted") >= 7);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 3a. stale answers through an outage ------------------------------- */

/* With stale_grace, PostgreSQL stopped (the listening connection lost
 * with it) leaves the cached grants usable stale: asked again first and,
 * with the server down, answering logged cache=stale (they were dropped
 * on that loss before, so only 503s came).  Once it is back with the
 * password changed unannounced, the old one is refused at the first try
 * (asked again, never served from the cache while the server answers). */
static void
test_stale_through_outage(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;

	add_cheap_user("mona", "mona-pw-1", "m");
	d = start_daemon(f, "stale_grace = 60\n", "timeout_ms = 500\n");
	wait_listening(d, 1, 5000);
	expect_allow(d, "mona", "mona-pw-1", "m", "mona, first");
	expect_allow(d, "mona", "mona-pw-1", "m", "mona, cached");
	pa_expect_last_decision(d, "cache", "hit");

	assert_int_equal(pa_pg_stop(&pg), 0);
	if (!pa_daemon_wait_log(d, "listening connection lost", 1, 3000))
		fail_msg("the lost listening connection is not logged within 3 s of the stop");
	expect_allow(d, "mona", "mona-pw-1", "m", "mona, PostgreSQL down, within stale_grace");
	pa_expect_last_decision(d, "cache", "stale");
	expect_unavailable(d, "mona", "other-pw", "a password never cached, PostgreSQL down");

	assert_int_equal(pa_pg_restart(&pg), 0);
	sql("postgres", "ALTER TABLE proxyauth.users DISABLE TRIGGER users_notify; "
	    "UPDATE proxyauth.users SET password_hash = proxyauth_crypto.crypt('mona-pw-2', "
	    "proxyauth_crypto.gen_salt('bf', 4)) WHERE username = 'mona'; "
	    "ALTER TABLE proxyauth.users ENABLE TRIGGER users_notify");
	expect_deny(d, "mona", "mona-pw-1", "the old password once PostgreSQL is back");
	pa_expect_last_decision(d, "cache", "miss");
	expect_allow(d, "mona", "mona-pw-2", "m", "the new password once PostgreSQL is back");
	wait_listening(d, 2, 5000);
	expect_deny(d, "mona", "mona-pw-1", "the old password, listening again");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 4. a server that never answers, a query that waits on a lock -------- */

static void
test_timeouts(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d, *h;
	char body[512], *conf, hole_conninfo[128];
	long t0, took, worst = 0;
	int port, hole, i;
	pid_t locker;

	/* A port that accepts and never answers. */
	hole = pa_blackhole_listen(&port);
	assert_true(hole >= 0);
	snprintf(hole_conninfo, sizeof(hole_conninfo), "host=127.0.0.1 port=%d dbname=x user=y",
		 port);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = postgres\n"
			  "[postgres]\nconninfo = %s\ntimeout_ms = 300\n", hole_conninfo);
	h = pa_daemon_start(f, conf, NULL);
	free(conf);
	if (h == NULL) {
		close(hole);
		fail_msg("proxyauthd did not start");
	}
	for (i = 0; i < 3; i++) {
		t0 = pa_now_ms();
		expect_unavailable(h, "someone", "some-pw", "a server that never answers");
		took = pa_now_ms() - t0;
		if (took > worst)
			worst = took;
	}
	if (worst >= 2500)
		fail_msg("an answer took %ld ms with timeout_ms = 300", worst);
	print_message("503 from a hung server within %ld ms (timeout_ms = 300)\n", worst);
	if (pa_wait_readyz(h, 503, 3000, body, sizeof(body)) < 0 || strstr(body, "postgres") == NULL)
		fail_msg("/readyz with a hung server: '%s'", body);
	t0 = pa_now_ms();
	assert_int_equal(pa_daemon_stop(h), 0);
	close(hole);
	if (pa_now_ms() - t0 > 5000)
		fail_msg("proxyauthd took %ld ms to stop with a hung server", pa_now_ms() - t0);

	/* A live server where the lookup waits on a lock: statement_timeout
	 * and the poll() deadline end it, and the next lookup works. */
	add_cheap_user("lock1", "lock1-pw", "");
	d = start_daemon(f, "", "timeout_ms = 400\n");
	expect_allow(d, "lock1", "lock1-pw", "", "before the lock");
	if ((locker = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		(void)pa_pg_psql(&pg, "postgres", "BEGIN; LOCK TABLE proxyauth.users IN ACCESS "
				 "EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT", NULL, 0, NULL, 0);
		_exit(0);
	}
	assert_true(locker > 0);
	/* Until the lock is held. */
	for (t0 = pa_now_ms();; pa_sleep_ms(20)) {
		if (strcmp(sql("postgres", "SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
			       "c.oid = l.relation WHERE c.relname = 'users' AND l.mode = "
			       "'AccessExclusiveLock' AND l.granted"), "1") == 0)
			break;
		if (pa_now_ms() - t0 > 5000) {
			kill(locker, SIGKILL);
			waitpid(locker, NULL, 0);
			fail_msg("the locking session did not get its lock within 5 s");
		}
	}
	t0 = pa_now_ms();
	expect_unavailable(d, "lock2", "lock2-pw", "a lookup waiting on a lock");
	took = pa_now_ms() - t0;
	if (took > 2000)
		fail_msg("a lookup waiting on a lock took %ld ms with timeout_ms = 400", took);
	print_message("503 for a lookup behind a lock after %ld ms (timeout_ms = 400)\n", took);
	waitpid(locker, NULL, 0);
	if (wait_status(d, "lock1", "wrong-pw", 407, 5000, NULL) < 0)
		fail_msg("no answer after the lock went");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 5. many users at once ----------------------------------------------- */

#define NCONC 32

struct job {
	const struct pa_daemon *d;
	pthread_barrier_t *go;
	char user[32], pw[32], groups[64];
	long status;
	int user_count, groups_count;
	char got_user[1024], got_groups[1024], got_backend[1024];
};

static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct pa_resp r;

	pthread_barrier_wait(j->go);
	j->status = ask(j->d, j->user, j->pw, &r) == 0 ? r.status : 0;
	j->user_count = r.hdr[H_X_AUTH_USER].count;
	j->groups_count = r.hdr[H_X_AUTH_GROUPS].count;
	snprintf(j->got_user, sizeof(j->got_user), "%s", r.hdr[H_X_AUTH_USER].value);
	snprintf(j->got_groups, sizeof(j->got_groups), "%s", r.hdr[H_X_AUTH_GROUPS].value);
	snprintf(j->got_backend, sizeof(j->got_backend), "%s", r.hdr[H_X_AUTH_BACKEND].value);
	pa_resp_free(&r);
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	static struct job jobs[NCONC];
	pthread_t th[NCONC];
	pthread_barrier_t go;
	int i, round;

	for (i = 0; i < NCONC; i++) {
		struct job *j = &jobs[i];

		memset(j, 0, sizeof(*j));
		snprintf(j->user, sizeof(j->user), "conc%02d", i);
		snprintf(j->pw, sizeof(j->pw), "pw-%02d-%d", i, i * 7919);
		snprintf(j->groups, sizeof(j->groups), "g%02d,team", i);
		add_cheap_user(j->user, j->pw, j->groups);
	}
	d = start_daemon(f, "", "pool_size = 4\ntimeout_ms = 5000\n");
	wait_listening(d, 1, 5000);
	/* The first round asks PostgreSQL for all of them; the second comes
	 * from the cache. */
	for (round = 0; round < 2; round++) {
		assert_int_equal(pthread_barrier_init(&go, NULL, NCONC), 0);
		for (i = 0; i < NCONC; i++) {
			jobs[i].d = d;
			jobs[i].go = &go;
			assert_int_equal(pthread_create(&th[i], NULL, job_run, &jobs[i]), 0);
		}
		for (i = 0; i < NCONC; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		for (i = 0; i < NCONC; i++) {
			const struct job *j = &jobs[i];

			if (j->status != 204 || j->user_count != 1 || j->groups_count != 1 ||
			    strcmp(j->got_user, j->user) != 0 ||
			    strcmp(j->got_groups, j->groups) != 0 ||
			    strcmp(j->got_backend, "postgres") != 0)
				fail_msg("round %d, %s: status %ld, X-Auth-User '%s' (x%d), "
					 "X-Auth-Groups '%s' (x%d), X-Auth-Backend '%s'; want "
					 "204, %s, %s, postgres", round, j->user, j->status,
					 j->got_user, j->user_count, j->got_groups,
					 j->groups_count, j->got_backend, j->user, j->groups);
		}
	}
	if (pg_results(d, "granted") != NCONC)
		fail_msg("%g PostgreSQL lookups granted, want %d (one per user)",
			 pg_results(d, "granted"), NCONC);
	/* No more connections than pool_size, plus the listener. */
	{
		long n = strtol(sql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE "
				    "application_name = 'proxyauthd'"), NULL, 10);

		if (n > 5)
			fail_msg("%ld connections from proxyauthd with pool_size = 4", n);
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 5a. the prepared lookup ---------------------------------------------- */

/* Occurrences of needle in the file at path (0 when unreadable). */
static int
count_in_file(const char *path, const char *needle)
{
	char *text = pa_read_file(path, NULL), *p;
	int n = 0;

	for (p = text; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

/*
 * The lookup is prepared once per connection and then only executed (the
 * server's statement log says "execute proxyauthd_lookup_..."), and a
 * change of the view's column types, which leaves that statement unusable
 * ("cached plan must not change result type"), costs no answer: the
 * lookup runs unprepared once and a fresh connection prepares it again.
 */
static void
test_prepared_lookup(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	char err[4096];
	int i, before;

	add_cheap_user("prep_a", "prep-a-pw", "");
	add_cheap_user("prep_b", "prep-b-pw", "ops");
	sql("postgres", "ALTER ROLE " PA_PG_READER_USER " SET log_statement = 'all'");
	before = count_in_file(pg.log, "execute proxyauthd_lookup_");
	/* one connection, no cache: every request below is a lookup on it */
	d = start_daemon(f, "cache_size = 0\n", "pool_size = 1\n");
	for (i = 0; i < 3; i++) {
		expect_allow(d, "prep_a", "prep-a-pw", "", "prepared, right password");
		expect_deny(d, "prep_a", "wrong-pw", "prepared, wrong password");
	}
	expect_deny(d, "prep_nobody", "any-pw", "prepared, no such user");
	assert_int_equal(count_in_file(pg.log, "execute proxyauthd_lookup_") - before, 7);
	assert_int_equal(count_in_file(pg.log, "execute <unnamed>: SELECT username"), 0);

	/* The view's column types change under the kept connection. */
	sql("postgres", "BEGIN; DROP VIEW proxyauth.credentials; "
	    "CREATE VIEW proxyauth.credentials AS SELECT u.username::varchar(200) AS username, "
	    "u.password_hash::varchar(600) AS password_hash, u.disabled, u.expires_at, "
	    "ARRAY(SELECT g.name FROM proxyauth.memberships m JOIN proxyauth.groups g ON "
	    "g.id = m.group_id WHERE m.user_id = u.id ORDER BY g.name) AS groups "
	    "FROM proxyauth.users u; "
	    "GRANT SELECT ON proxyauth.credentials TO proxyauth_reader; COMMIT");
	expect_allow(d, "prep_b", "prep-b-pw", "ops", "the plan went stale");
	expect_deny(d, "prep_b", "wrong-pw", "prepared again, wrong password");
	expect_allow(d, "prep_a", "prep-a-pw", "", "prepared again");
	assert_true(pa_daemon_wait_log(d, "the prepared lookup went stale", 1, 2000));
	assert_false(pa_daemon_wait_log(d, "the prepared lookup went stale", 2, 100));
	assert_false(pa_daemon_wait_log(d, "prepared statements do not hold", 1, 100));
	pa_daemon_stop(d);

	/* prepare = false (behind a pooler that passes the server's process
	 * id on): the same answers, nothing prepared. */
	before = count_in_file(pg.log, "execute proxyauthd_lookup_");
	i = count_in_file(pg.log, "execute <unnamed>: SELECT username");
	d = start_daemon(f, "cache_size = 0\n", "pool_size = 1\nprepare = false\n");
	expect_allow(d, "prep_b", "prep-b-pw", "ops", "unprepared, right password");
	expect_deny(d, "prep_b", "wrong-pw", "unprepared, wrong password");
	assert_int_equal(count_in_file(pg.log, "execute proxyauthd_lookup_"), before);
	assert_int_equal(count_in_file(pg.log, "execute <unnamed>: SELECT username") - i, 2);
	pa_daemon_stop(d);

	/* The schema's own view back, for the tests after this one. */
	sql("postgres", "DROP VIEW proxyauth.credentials");
	if (pa_pg_apply_schema(&pg, err, sizeof(err)) != 0)
		fail_msg("the schema did not apply again: %s", err);
	sql("postgres", "ALTER ROLE " PA_PG_READER_USER " RESET log_statement");
}

/* A lookup the server cannot prepare (the view missing: a schema not
 * applied yet, or renamed away) keeps its connection: the answers are
 * 503, but the server is not sent a new connection, a new server process,
 * per request.  Once the view is back, the same connection prepares the
 * lookup and answers. */
static void
test_unpreparable_lookup(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	int i, conns, execs;

	add_cheap_user("unprep_a", "unprep-a-pw", "");
	sql("postgres", "ALTER ROLE " PA_PG_READER_USER " SET log_statement = 'all'");
	sql("postgres", "ALTER VIEW proxyauth.credentials RENAME TO credentials_away");
	/* every connection proxyauthd makes sets its statement_timeout first */
	conns = count_in_file(pg.log, "set_config('statement_timeout'");
	d = start_daemon(f, "cache_size = 0\n", "pool_size = 1\n");
	for (i = 0; i < 6; i++)
		expect_unavailable(d, "unprep_a", "unprep-a-pw", "the view is missing");
	sql("postgres", "ALTER VIEW proxyauth.credentials_away RENAME TO credentials");
	execs = count_in_file(pg.log, "execute proxyauthd_lookup_");
	expect_allow(d, "unprep_a", "unprep-a-pw", "", "the view is back");
	expect_deny(d, "unprep_a", "wrong-pw", "the view is back, wrong password");
	assert_int_equal(count_in_file(pg.log, "execute proxyauthd_lookup_") - execs, 2);
	/* Two connections for all of it: the pool's one (the readiness probe
	 * shares it) and the listener's. */
	assert_int_equal(count_in_file(pg.log, "set_config('statement_timeout'") - conns, 2);
	pa_daemon_stop(d);
	sql("postgres", "ALTER ROLE " PA_PG_READER_USER " RESET log_statement");
}

/* ---- 6. configuration ---------------------------------------------------- */

static int
daemon_check(const char *conf, char *out, size_t len)
{
	const char *argv[] = { getenv("PA_DAEMON_BIN"), "-t", "-c", conf, NULL };
	char o[2048], e[4096];
	int rc;

	assert_non_null(argv[0]);
	rc = pa_run(argv, o, sizeof(o), e, sizeof(e));
	snprintf(out, len, "%.2000s%.2000s", o, e);
	return rc;
}

/* A server off this host without sslmode=verify-full/verify-ca is warned
 * about at start; a verified one, or one on loopback, is not. */
static void
test_tls_warning(void **state)
{
	struct pa_fixture *f = *state;
	static const struct {
		const char *conninfo;
		bool warned;
	} cases[] = {
		/* 192.0.2.1 (TEST-NET-1) is never answered: lookups just fail */
		{ "host=192.0.2.1 dbname=x user=y connect_timeout=1", true },
		{ "postgresql://y@192.0.2.1/x?sslmode=require", true },
		{ "host=192.0.2.1 dbname=x user=y sslmode=verify-full", false },
		{ "host=127.0.0.1 dbname=x user=y", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = postgres\n"
					"[postgres]\nconninfo = %s\ntimeout_ms = 300\n",
					cases[i].conninfo);
		struct pa_daemon *d = pa_daemon_start(f, text, NULL);
		char *log;

		free(text);
		assert_non_null(d);
		log = pa_daemon_log(d);
		if ((strstr(log, "certificate is not verified") != NULL) != cases[i].warned)
			fail_msg("%s: expected %s warning:\n%s", cases[i].conninfo,
				 cases[i].warned ? "a" : "no", log);
		free(log);
		assert_int_equal(pa_daemon_stop(d), 0);
	}
}

static void
test_config(void **state)
{
	struct pa_fixture *f = *state;
	char *conf = pa_strdupf("%s/bad.conf", f->dir), *pw = pa_strdupf("%s/open.pw", f->dir);
	char *text, out[4096];

	assert_int_equal(pa_write_file(pw, "x\n"), 0);
	assert_int_equal(chmod(pw, 0644), 0);
	text = pa_strdupf("[server]\nbackends = postgres\n"
			  "[postgres]\n"
			  "conninfo = host=127.0.0.1 password=inline dbname=x\n"	/* line 4 */
			  "pool_size = 0\n"						/* line 5 */
			  "timeout_ms = 99999999\n"					/* line 6 */
			  "colour = blue\n"						/* line 7 */
			  "password_file = %s\n", pw);					/* line 8 */
	assert_int_equal(pa_write_file(conf, text), 0);
	free(text);
	assert_int_not_equal(daemon_check(conf, out, sizeof(out)), 0);
	if (strstr(out, "bad.conf:4:") == NULL || strstr(out, "password_file") == NULL ||
	    strstr(out, "bad.conf:5:") == NULL || strstr(out, "bad.conf:6:") == NULL ||
	    strstr(out, "bad.conf:7:") == NULL)
		fail_msg("-t did not list every problem as file:line: %s", out);
	if (strstr(out, "inline") != NULL)
		fail_msg("-t printed the inline password: %s", out);

	text = pa_strdupf("[server]\nbackends = postgres\n[postgres]\nconninfo = %s\n"
			  "password_file = %s\n", "postgresql://u@127.0.0.1/x?application_name=y",
			  pw);
	assert_int_equal(pa_write_file(conf, text), 0);
	free(text);
	assert_int_not_equal(daemon_check(conf, out, sizeof(out)), 0);
	if (strstr(out, "bad.conf:5:") == NULL || strstr(out, "readable") == NULL)
		fail_msg("a group-readable password_file was not refused as file:line: %s", out);

	assert_int_equal(chmod(pw, 0600), 0);
	assert_int_equal(daemon_check(conf, out, sizeof(out)), 0);
	if (strstr(out, "configuration OK") == NULL)
		fail_msg("a URI conninfo and a 0600 password_file: %s", out);
	free(conf);
	free(pw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_ends_cached_grant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalidation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_through_outage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpreparable_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_warning, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
