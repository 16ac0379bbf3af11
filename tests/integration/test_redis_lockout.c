/*
 * Redis-backed parts of SPEC section 5, against real processes: the
 * shared lockout (lockout_store = redis) across two proxyauthd replicas,
 * its fall-back to memory when Redis is gone, and stale answers
 * (stale_grace) while the Redis backend is stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "redis_server.h"
#include "redis_server.c"	/* pa_harness is built from harness.c alone */

struct fx {
	struct pa_fixture *f;
	struct pa_redis redis;
};

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	void *f = NULL;

	if (x == NULL || pa_fixture_setup(&f) != 0)
		return -1;
	x->f = f;
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	void *f = x->f;

	pa_fixture_teardown(&f);
	(void)pa_redis_freeze(&x->redis, false);	/* a test may leave it frozen */
	pa_redis_destroy(&x->redis);
	free(x);
	return 0;
}

static int
status(const struct pa_daemon *d, const char *user, const char *password)
{
	struct pa_resp r;
	int st;

	if (pa_get_basic(d, "/auth", user, password, &r) != 0) {
		pa_resp_free(&r);
		return -1;
	}
	st = (int)r.status;
	pa_resp_free(&r);
	return st;
}

/* The value of the first /metrics line that starts with series, or -1. */
static double
metric(const struct pa_daemon *d, const char *series)
{
	struct pa_resp r;
	double v = -1;
	const char *p;

	if (pa_get(d, "GET", "/metrics", NULL, &r) == 0 && r.body != NULL) {
		for (p = r.body; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
			if (strncmp(p, series, strlen(series)) == 0 && p[strlen(series)] == ' ') {
				v = strtod(p + strlen(series) + 1, NULL);
				break;
			}
		}
	}
	pa_resp_free(&r);
	return v;
}

/* Waits up to 5 s for proxyauthd's subscriber on proxyauth:invalidate:
 * its first subscription rightly drops every Redis answer cached before
 * it, so a test that relies on a cached answer starts after it. */
static bool
subscribed(const struct pa_redis *r)
{
	char out[512], *nl;
	int i;

	for (i = 0; i < 250; i++) {
		if (pa_redis_cli(r, out, sizeof(out), "PUBSUB", "NUMSUB", "proxyauth:invalidate",
				 NULL) == 0 && (nl = strrchr(out, '\n')) != NULL &&
		    strtol(nl + 1, NULL, 10) >= 1)
			return true;
		usleep(20000);
	}
	return false;
}

static char *users;	/* alice and bob, made once in main() */

/* Failures spread over two replicas lock the user on both, although
 * neither saw enough of them to lock it by itself. */
static void
test_shared_lockout_two_replicas(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b;
	char *conf;
	int i;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "max_failures = 4\nfailure_window = 60\nlockout = 60\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n[redis]\naddress = %s\n",
			  x->redis.addr);
	a = pa_daemon_start(x->f, conf, users);
	b = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < 4; i++) {
		char pw[32];

		snprintf(pw, sizeof(pw), "wrong-%d", i);
		assert_int_equal(status(i % 2 == 0 ? a : b, "alice", pw), 407);
	}
	/* Two failures each: memory alone would not lock.  Redis does, for
	 * both replicas, and for the right password too. */
	assert_int_equal(status(a, "alice", "alice-pw"), 407);
	assert_int_equal(status(b, "Alice", "alice-pw"), 407);
	assert_true(pa_daemon_wait_log(a, "outcome=locked", 1, 2000));
	assert_true(pa_daemon_wait_log(b, "outcome=locked", 1, 2000));
	assert_int_equal(pa_redis_int(&x->redis, "EXISTS", "proxyauth:lock:u:alice", NULL), 1);
	assert_true(metric(b, "proxyauthd_lockouts_total{kind=\"user\"}") == 1);
	/* Another user is not affected. */
	assert_int_equal(status(a, "bob", "bob-pw"), 204);
	assert_int_equal(status(b, "bob", "bob-pw"), 204);
	assert_true(metric(a, "proxyauthd_lockout_store_errors_total") == 0);
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

/* A replica holding a cached grant must not keep answering from it once
 * the shared store says the user is locked: the first guess it sees
 * (a cache miss, so asked of Redis) teaches it the lock, and from then on
 * even the cached right password is refused. */
static void
test_shared_lock_reaches_cached_answers(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b;
	char *conf;
	int i;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "max_failures = 3\nfailure_window = 60\nlockout = 60\ncache_ttl = 60\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n[redis]\naddress = %s\n",
			  x->redis.addr);
	a = pa_daemon_start(x->f, conf, users);
	b = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(status(a, "alice", "alice-pw"), 204);	/* cached on a */
	for (i = 0; i < 3; i++) {
		char pw[32];

		snprintf(pw, sizeof(pw), "guess-%d", i);
		assert_int_equal(status(b, "alice", pw), 407);	/* locked through b */
	}
	assert_int_equal(status(a, "alice", "guess-on-a"), 407);
	assert_int_equal(status(a, "alice", "alice-pw"), 407);	/* no cached 204 */
	assert_true(pa_daemon_wait_log(a, "outcome=locked", 2, 2000));
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

/* GET /auth as user from client, through the trusted loopback proxy. */
static int
status_from(const struct pa_daemon *d, const char *user, const char *password,
	    const char *client)
{
	char auth[600] = "Proxy-Authorization: ", xff[96];
	struct pa_req req = { .path = "/auth" };
	struct pa_resp r;
	int st = -1;

	pa_basic(user, password, auth + strlen(auth), sizeof(auth) - strlen(auth));
	snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", client);
	req.headers[0] = auth;
	req.headers[1] = xff;
	if (pa_request(d, &req, &r) == 0)
		st = (int)r.status;
	pa_resp_free(&r);
	return st;
}

/* Distributed guessing across two replicas while the owner works through
 * one of them: the user locks on both for everyone else, and the owner's
 * address, known good in Redis, is served by the replica that never saw
 * it.  No key in Redis holds a password. */
static void
test_shared_distributed_guessing(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b;
	char *conf, out[8192], client[32], pw[32];
	int i;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "trusted_proxies = 127.0.0.1/32\nmax_failures = 4\nfailure_window = 60\n"
			  "lockout = 60\n[htpasswd]\nfile = @HTPASSWD@\n[redis]\naddress = %s\n",
			  x->redis.addr);
	a = pa_daemon_start(x->f, conf, users);
	b = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < 10; i++) {
		assert_int_equal(status_from(a, "alice", "alice-pw", "192.0.2.10"), 204);
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		snprintf(pw, sizeof(pw), "guess-%d", i);
		assert_int_equal(status_from(i % 2 ? a : b, "alice", pw, client), 407);
	}
	assert_int_equal(pa_redis_int(&x->redis, "EXISTS", "proxyauth:lock:u:alice", NULL), 1);
	assert_int_equal(status_from(a, "alice", "alice-pw", "203.0.113.5"), 407);
	assert_int_equal(status_from(b, "alice", "alice-pw", "203.0.113.6"), 407);
	/* b never answered the owner: what it knows comes from Redis. */
	assert_int_equal(status_from(b, "alice", "alice-pw", "192.0.2.10"), 204);
	assert_int_equal(status_from(a, "alice", "alice-pw", "192.0.2.10"), 204);
	assert_int_equal(pa_redis_cli(&x->redis, out, sizeof(out), "KEYS", "*", NULL), 0);
	if (strstr(out, "guess") != NULL || strstr(out, "alice-pw") != NULL)
		fail_msg("a password in a Redis key:\n%s", out);
	assert_true(strstr(out, "proxyauth:good:x:10:192.0.2.10:alice") != NULL);
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

/* The folded-namesake bypass through two replicas: htpasswd keeps "Alice"
 * and "alice" apart; the attacker owns "Alice", logs in as it from ten
 * addresses, then again between two guesses at "alice" from each, through
 * alternating replicas, each answer from the backend (no cache: a cache
 * hit tells only its replica's memory).  Only three guesses are asked; the
 * real alice is served from its known-good address by the replica that
 * never saw it. */
static void
test_shared_folded_namesake(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b, *d;
	char *conf, *la, *lA, *file, client[32], pw[32], outcome[32];
	int i, j, asked = 0;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	la = pa_htpasswd_line("alice", "alice-pw", NULL, 4);
	lA = pa_htpasswd_line("Alice", "Alice-pw", NULL, 4);
	file = pa_strdupf("%s%s", la, lA);
	free(la);
	free(lA);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "trusted_proxies = 127.0.0.1/32\nmax_failures = 3\nfailure_window = 60\n"
			  "lockout = 60\ncache_ttl = 0\n[htpasswd]\nfile = @HTPASSWD@\n"
			  "[redis]\naddress = %s\n", x->redis.addr);
	a = pa_daemon_start(x->f, conf, file);
	b = pa_daemon_start(x->f, conf, file);
	free(conf);
	free(file);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(status_from(a, "alice", "alice-pw", "192.0.2.10"), 204);
	for (i = 0; i < 10; i++) {
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		assert_int_equal(status_from(i % 2 ? a : b, "Alice", "Alice-pw", client), 204);
	}
	for (i = 0; i < 10; i++) {
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		for (j = 0; j < 2; j++) {
			d = j ? a : b;
			assert_int_equal(status_from(j ? b : a, "Alice", "Alice-pw", client), 204);
			snprintf(pw, sizeof(pw), "guess-%d-%d", i, j);
			assert_int_equal(status_from(d, "alice", pw, client), 407);
			pa_last_decision_field(d, "outcome", outcome, sizeof(outcome));
			asked += strcmp(outcome, "deny") == 0;
		}
	}
	assert_int_equal(asked, 3);
	assert_int_equal(pa_redis_int(&x->redis, "EXISTS", "proxyauth:lock:u:alice", NULL), 1);
	assert_int_equal(status_from(b, "alice", "alice-pw", "198.51.100.10"), 407);
	assert_int_equal(status_from(b, "alice", "alice-pw", "192.0.2.10"), 204);
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

/* One stale password retried through two replicas: each replica hashes
 * passwords under its own key, so it counts at most once per replica. */
static void
test_shared_stale_password(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b;
	char *conf;
	int i;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "trusted_proxies = 127.0.0.1/32\nmax_failures = 3\nfailure_window = 60\n"
			  "lockout = 60\nnegative_ttl = 0\n[htpasswd]\nfile = @HTPASSWD@\n"
			  "[redis]\naddress = %s\n", x->redis.addr);
	a = pa_daemon_start(x->f, conf, users);
	b = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < 10; i++) {
		assert_int_equal(status_from(a, "alice", "stale", "192.0.2.7"), 407);
		assert_int_equal(status_from(b, "alice", "stale", "192.0.2.7"), 407);
	}
	assert_int_equal(pa_redis_int(&x->redis, "EXISTS", "proxyauth:lock:u:alice", NULL), 0);
	assert_int_equal(status_from(a, "alice", "alice-pw", "192.0.2.8"), 204);
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

/* With the lockout store unreachable, counting goes on in memory, and the
 * log and the metrics say so. */
static void
test_shared_lockout_falls_back_to_memory(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *d;
	char *conf;

	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "max_failures = 3\nfailure_window = 60\nlockout = 60\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n[redis]\naddress = 127.0.0.1:%d\n"
			  "timeout_ms = 200\n", pa_free_port());
	d = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(d);
	assert_int_equal(status(d, "bob", "bob-pw"), 204);	/* auth itself works */
	assert_int_equal(status(d, "alice", "wrong-1"), 407);
	assert_int_equal(status(d, "alice", "wrong-2"), 407);
	assert_int_equal(status(d, "alice", "wrong-3"), 407);
	assert_int_equal(status(d, "alice", "alice-pw"), 407);	/* locked in memory */
	assert_true(pa_daemon_wait_log(d, "counting in memory only", 1, 2000));
	assert_true(pa_daemon_wait_log(d, "outcome=locked", 1, 2000));
	assert_true(metric(d, "proxyauthd_lockout_store_errors_total") > 0);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* stale_grace: while Redis hangs, a grant a little past its TTL still
 * answers (logged cache=stale); credentials never seen get 503.  Redis
 * hangs (SIGSTOP) rather than stops: a Redis that is gone also ends the
 * subscription, and then every cached Redis answer is dropped at once,
 * stale ones included (README, Redis). */
static void
test_stale_answer_while_backend_down(void **state)
{
	struct fx *x = *state;
	const char *args[] = { "-C", "4", NULL };
	struct pa_daemon *d;
	char hash[256], *conf, *log;
	struct pa_resp r;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	assert_int_equal(pa_passwd_run(args, "carol-pw", hash, sizeof(hash), NULL, 0), 0);
	hash[strcspn(hash, "\n")] = '\0';
	assert_int_equal(pa_redis_cli(&x->redis, NULL, 0, "HSET", "proxyauth:user:carol", "hash",
				      hash, "groups", "staff", NULL), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = redis\nmax_failures = 0\n"
			  "cache_ttl = 1\nstale_grace = 60\n[redis]\naddress = %s\n"
			  "timeout_ms = 300\n", x->redis.addr);
	d = pa_daemon_start(x->f, conf, NULL);
	free(conf);
	assert_non_null(d);
	assert_true(subscribed(&x->redis));
	usleep(100000);		/* the drop that follows the subscription */
	assert_int_equal(status(d, "carol", "carol-pw"), 204);
	usleep(1300 * 1000);		/* past the 1 s TTL */
	assert_int_equal(pa_redis_freeze(&x->redis, true), 0);
	assert_int_equal(pa_get_basic(d, "/auth", "carol", "carol-pw", &r), 0);
	assert_int_equal(r.status, 204);
	pa_resp_free(&r);
	assert_true(pa_daemon_wait_log(d, "cache=stale", 1, 2000));
	log = pa_daemon_log(d);
	assert_non_null(strstr(log, "user=carol profile=auth outcome=allow backend=redis "
				    "cache=stale"));
	free(log);
	/* A wrong password is never a stale allow, nor is a stranger. */
	assert_int_equal(status(d, "carol", "not-carol-pw"), 503);
	assert_int_equal(status(d, "dave", "dave-pw"), 503);
	assert_int_equal(pa_daemon_stop(d), 0);
	assert_int_equal(pa_redis_freeze(&x->redis, false), 0);
}

/* A lock one replica learns from Redis ends when Redis's does, not a
 * whole lockout after it was learnt (review of issue 16): a locks alice
 * at t0 for 4 s, b learns of it about 2 s later, and at about 4.8 s both
 * serve the right password again (b would have held its copy to about
 * 6 s).  The margins are 0.8 s and more on either side. */
static void
test_shared_lock_learnt_ends_with_redis(void **state)
{
	struct fx *x = *state;
	struct pa_daemon *a, *b;
	char *conf;
	long t0, learnt;
	int i;

	assert_int_equal(pa_redis_start(&x->redis), 0);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nlockout_store = redis\n"
			  "max_failures = 3\nfailure_window = 60\nlockout = 4\ncache_ttl = 0\n"
			  "negative_ttl = 0\n[htpasswd]\nfile = @HTPASSWD@\n[redis]\naddress = %s\n",
			  x->redis.addr);
	a = pa_daemon_start(x->f, conf, users);
	b = pa_daemon_start(x->f, conf, users);
	free(conf);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < 3; i++) {
		char pw[32];

		snprintf(pw, sizeof(pw), "wrong-%d", i);
		assert_int_equal(status(a, "alice", pw), 407);
	}
	t0 = pa_now_ms();
	usleep(2000000);
	assert_int_equal(status(b, "alice", "alice-pw"), 407);	/* learnt from Redis */
	learnt = pa_now_ms();
	assert_true(pa_daemon_wait_log(b, "outcome=locked", 1, 2000));
	if (learnt - t0 > 3200)
		fail_msg("the machine is too slow for this test's margins (%ld ms)", learnt - t0);
	usleep((useconds_t)(4800 - (pa_now_ms() - t0)) * 1000);
	assert_int_equal(pa_redis_int(&x->redis, "EXISTS", "proxyauth:lock:u:alice", NULL), 0);
	assert_int_equal(status(a, "alice", "alice-pw"), 204);
	assert_int_equal(status(b, "alice", "alice-pw"), 204);
	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_lockout_two_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_lock_reaches_cached_answers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_distributed_guessing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_folded_namesake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_lock_learnt_ends_with_redis, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_stale_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_lockout_falls_back_to_memory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale_answer_while_backend_down, setup,
						teardown),
	};
	char *a, *b;
	int rc;

	pa_harness_init();
	a = pa_htpasswd_line("alice", "alice-pw", NULL, 4);
	b = pa_htpasswd_line("bob", "bob-pw", NULL, 4);
	users = pa_strdupf("%s%s", a, b);
	free(a);
	free(b);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(users);
	return rc;
}
