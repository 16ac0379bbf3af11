/*
 * The Redis backend (SPEC sections 4 and 5) against the real daemon and a
 * real, private redis-server (redis_server.h): users read from the hash
 * <prefix>user:<name>, exactly that key whatever the name holds; disabled
 * and expired users; the backend's place in a chain; a unix socket and a
 * least-privilege ACL user whose password comes from a 0600 file;
 * invalidation through <prefix>invalidate and the drop of every Redis
 * answer after the subscriber reconnects; 503 (never an allow) while Redis
 * is down, never answers or freezes mid-run, but a cached grant served
 * stale (stale_grace) through an outage that took the subscription with
 * it, and refused once Redis is back changed; recovery without
 * restarting proxyauthd; SIGTERM while Redis hangs; many users at once;
 * and proxyauth-passwd --redis.
 *
 * Every test has its own redis-server and daemons, in a fixture whose
 * teardown stops them (daemons first) even after a failed assertion.
 * Users are written either by proxyauth-passwd --redis or by redis-cli
 * HSET with hashes from Apache's htpasswd ($2y$), so the daemon is shown
 * to read what other tools write.  What the daemon did is read from its
 * answers, its decision log and /metrics.
 */
#include "backend.h"	/* PA_GROUPS_MAX */
#include "harness.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* pa_harness is built from harness.c alone (tests/CMakeLists.txt), so the
 * redis-server helper is compiled into this program here. */
#include "redis_server.c"

#define CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""
#define ALICE_PW "alice-S3cret!"
#define JOERG_USER "j\xc3\xb6rg"
#define JOERG_PW "p\xc3\xa4ss w\xc3\xb6rd"

/* What a test owns; rt_teardown() stops and removes all of it. */
struct rt {
	struct pa_fixture *f;		/* daemons and a scratch folder */
	struct pa_redis rs;		/* the test's redis-server */
	int hole;			/* a blackhole socket, or -1 */
};

static int
rt_setup(void **state)
{
	struct rt *t = calloc(1, sizeof(*t));
	void *fs = NULL;

	if (t == NULL)
		return -1;
	if (pa_fixture_setup(&fs) != 0) {
		free(t);
		return -1;
	}
	t->f = fs;
	t->hole = -1;
	*state = t;
	return 0;
}

static int
rt_teardown(void **state)
{
	struct rt *t = *state;
	void *fs;

	if (t == NULL)
		return 0;
	/* Daemons first (they would log every lost Redis connection), with
	 * a server that may have been left frozen thawed, so that they can
	 * finish what they were asking. */
	if (t->rs.pid > 0)
		(void)pa_redis_freeze(&t->rs, false);
	fs = t->f;
	(void)pa_fixture_teardown(&fs);
	pa_redis_destroy(&t->rs);
	if (t->hole >= 0)
		close(t->hole);
	free(t);
	*state = NULL;
	return 0;
}

static void
start_redis(struct rt *t)
{
	if (pa_redis_start(&t->rs) != 0)
		fail_msg("cannot start redis-server");
}

/* ---- users in Redis ------------------------------------------------------ */

/* A bcrypt hash ($2y$, cost 5) of password, made by Apache's htpasswd.
 * Caller frees. */
static char *
htpasswd_hash(const char *password)
{
	const char *argv[] = { "htpasswd", "-nbB", "-C", "5", "x", password, NULL };
	char out[512], err[512];
	size_t n;
	int rc = pa_run(argv, out, sizeof(out), err, sizeof(err));

	if (rc != 0 || strncmp(out, "x:$2y$05$", 9) != 0)
		fail_msg("htpasswd -nbB: exit %d: %s%s", rc, out, err);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return pa_strdupf("%s", out + 2);
}

/* A weak hash from htpasswd with option ("-nbm": $apr1$, "-nbs": {SHA}),
 * in a static buffer (one at a time). */
static const char *
weak_hash(const char *option, const char *password)
{
	static char out[512];
	const char *argv[] = { "htpasswd", option, "x", password, NULL };
	char err[512];
	size_t n;
	int rc = pa_run(argv, out, sizeof(out), err, sizeof(err));

	if (rc != 0 || strncmp(out, "x:", 2) != 0)
		fail_msg("htpasswd %s: exit %d: %s%s", option, rc, out, err);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	memmove(out, out + 2, n - 1);
	return out;
}

/*
 * Writes the user hash <prefix>user:<name> with redis-cli HSET: field
 * "hash" from htpasswd for password (left out when password is NULL), then
 * more field, value pairs, ended by NULL.
 */
static void
seed_prefixed(const struct pa_redis *r, const char *prefix, const char *name,
	      const char *password, ...)
{
	const char *args[24];
	char *key = pa_strdupf("%suser:%s", prefix, name), *hash = NULL, out[512];
	const char *k;
	va_list ap;
	int n = 0;

	args[n++] = "HSET";
	args[n++] = key;
	if (password != NULL) {
		hash = htpasswd_hash(password);
		args[n++] = "hash";
		args[n++] = hash;
	}
	va_start(ap, password);
	while ((k = va_arg(ap, const char *)) != NULL && n < 20) {
		args[n++] = k;
		args[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	args[n] = NULL;
	if (pa_redis_cliv(r, out, sizeof(out), args) != 0)
		fail_msg("HSET %s: %s", key, out);
	free(key);
	free(hash);
}

#define seed(r, name, password, ...) seed_prefixed(r, "proxyauth:", name, password, __VA_ARGS__)

/* HGET proxyauth:user:<name> field into out ("" for nil). */
static void
hget(const struct pa_redis *r, const char *name, const char *field, char *out, size_t len)
{
	char *key = pa_strdupf("proxyauth:user:%s", name);

	if (pa_redis_cli(r, out, len, "HGET", key, field, NULL) != 0)
		fail_msg("HGET %s %s: %s", key, field, out);
	free(key);
}

static long
key_exists(const struct pa_redis *r, const char *name)
{
	char *key = pa_strdupf("proxyauth:user:%s", name);
	long n = pa_redis_int(r, "EXISTS", key, NULL);

	free(key);
	return n;
}

/* Subscribers of channel, or -1. */
static long
numsub(const struct pa_redis *r, const char *channel)
{
	char out[512], *nl;

	if (pa_redis_cli(r, out, sizeof(out), "PUBSUB", "NUMSUB", channel, NULL) != 0)
		return -1;
	if ((nl = strrchr(out, '\n')) == NULL)
		return -1;
	return strtol(nl + 1, NULL, 10);
}

/* Waits up to limit_ms for channel to have at least want subscribers. */
static bool
wait_numsub(const struct pa_redis *r, const char *channel, long want, long limit_ms)
{
	long t0 = pa_now_ms();

	while (numsub(r, channel) < want) {
		if (pa_now_ms() - t0 > limit_ms)
			return false;
		pa_sleep_ms(20);
	}
	return true;
}

/* Runs proxyauth-passwd with args and password; fails the test unless
 * it exits 0. */
static void
passwd_ok(const char *const *args, const char *password)
{
	char out[1024], err[1024];
	int rc = pa_passwd_run(args, password, out, sizeof(out), err, sizeof(err));

	if (rc != 0) {
		char cmd[512] = "";
		int i;

		for (i = 0; args[i] != NULL; i++) {
			strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
			strncat(cmd, args[i], sizeof(cmd) - strlen(cmd) - 1);
		}
		fail_msg("proxyauth-passwd%s: exit %d\nstdout: %s\nstderr: %s", cmd, rc, out, err);
	}
}

/*
 * proxyauth-passwd --redis refuses a new user whose name folds like one
 * already there: "Alice" next to alice is another key, but an application
 * comparing names without regard to case takes one for the other.  3000
 * other keys make SCAN go through several cursors before it finds alice.
 */
static void
test_passwd_look_alike(void **state)
{
	struct rt *t = *state;
	const char *a_alice[] = { "-C", "4", "--redis", NULL, "alice", "dev", NULL };
	const char *a_bad[] = { "-C", "4", "--redis", NULL, "ALICE", NULL };
	const char *a_wide[] = { "-C", "4", "--redis", NULL, "\xef\xbd\x81lice", NULL };
	const char *a_blank[] = { "-C", "4", "--redis", NULL, "bob\xc2\xa0", NULL };
	const char *a_bob[] = { "-C", "4", "--redis", NULL, "Bob", NULL };
	const char *const *refused[] = { a_bad, a_wide, a_blank };
	char out[1024], err[1024], v[64], key[128];
	size_t i;

	start_redis(t);
	a_alice[3] = a_bad[3] = a_wide[3] = a_blank[3] = a_bob[3] = t->rs.addr;
	assert_int_equal(pa_redis_cli(&t->rs, v, sizeof(v), "EVAL",
				      "for i = 1, 3000 do redis.call('HSET', KEYS[1] .. i, "
				      "'hash', 'x') end", "1", "proxyauth:user:filler", NULL), 0);
	passwd_ok(a_alice, ALICE_PW);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = pa_passwd_run(refused[i], "other-pw", out, sizeof(out), err, sizeof(err));

		if (rc == 0)
			fail_msg("proxyauth-passwd --redis %s accepted", refused[i][4]);
		if (strstr(err, i < 2 ? "folds like the user 'alice'" : "another name") == NULL)
			fail_msg("proxyauth-passwd --redis %s: %s", refused[i][4], err);
		snprintf(key, sizeof(key), "proxyauth:user:%s", refused[i][4]);
		assert_int_equal(pa_redis_int(&t->rs, "EXISTS", key, NULL), 0);
	}
	passwd_ok(a_alice, "alice-new-pw");	/* alice herself: an update */
	passwd_ok(a_bob, "bob-pw");		/* no bob in any spelling */
	hget(&t->rs, "Bob", "hash", v, sizeof(v));
	assert_true(strncmp(v, "$2", 2) == 0);

	/* A prefix with glob characters is matched as written.  Unescaped,
	 * "a[1]*:user:*" would also match a1xx:user:Xdave, whose name read
	 * at a[1]*:'s length is "dave", and refuse a new Dave there. */
	{
		const char *a_carl[] = { "-C", "4", "--redis", t->rs.addr, "--redis-prefix",
					 "a[1]*:", "carl", NULL };
		const char *a_big[] = { "-C", "4", "--redis", t->rs.addr, "--redis-prefix",
					"a[1]*:", "CARL", NULL };
		const char *a_xdave[] = { "-C", "4", "--redis", t->rs.addr, "--redis-prefix",
					  "a1xx:", "Xdave", NULL };
		const char *a_dave[] = { "-C", "4", "--redis", t->rs.addr, "--redis-prefix",
					 "a[1]*:", "Dave", NULL };

		passwd_ok(a_carl, "carl-pw");
		if (pa_passwd_run(a_big, "x-pw", out, sizeof(out), err, sizeof(err)) == 0 ||
		    strstr(err, "folds like the user 'carl'") == NULL)
			fail_msg("CARL beside a[1]*:user:carl: %s", err);
		passwd_ok(a_xdave, "x-pw");
		passwd_ok(a_dave, "dave-pw");
	}
}

/* ---- the daemon ---------------------------------------------------------- */

/* A daemon with `backends = redis` at address; server_extra and
 * redis_extra are more lines for [server] and [redis] (may be ""). */
static struct pa_daemon *
start_daemon(struct rt *t, const char *address, const char *server_extra,
	     const char *redis_extra)
{
	char *conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
				"cache_ttl = 60\nbackends = redis\n%s"
				"[redis]\naddress = %s\n%s",
				server_extra, address, redis_extra);
	struct pa_daemon *d = pa_daemon_start(t->f, conf, NULL);

	free(conf);
	if (d == NULL)
		fail_msg("proxyauthd did not start (its log is above)");
	/* The subscriber drops every Redis answer when it (re)subscribes: a
	 * first answer cached just before that moment would be gone.  Wait
	 * for it (up to 2 s, which a Redis that is down at start costs). */
	(void)pa_daemon_wait_log(d, "subscribed to", 1, 2000);
	return d;
}

static int
ask(const struct pa_daemon *d, const char *user, const char *password, struct pa_resp *r)
{
	return pa_get_basic(d, "/auth", user, password, r);
}

/* Polls user:password on /auth until the status is want; returns the ms
 * it took, or -1 after limit_ms.  *last (may be NULL) gets the last
 * status seen. */
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
		pa_sleep_ms(25);
	}
}

static void
check_allow(const struct pa_resp *r, const char *user, const char *groups, const char *ctx)
{
	EXPECT(r->status == 204, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_X_AUTH_USER, user), r, "%s: X-Auth-User '%s'", ctx, user);
	EXPECT(HDR_IS(r, H_X_AUTH_GROUPS, groups), r, "%s: X-Auth-Groups '%s'", ctx, groups);
	EXPECT(HDR_IS(r, H_X_AUTH_BACKEND, "redis"), r, "%s: X-Auth-Backend", ctx);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s", ctx);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s: no challenge", ctx);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s", ctx);
}

static void
check_deny(const struct pa_resp *r, const char *ctx)
{
	EXPECT(r->status == 407, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_PROXY_AUTHENTICATE, CHALLENGE), r, "%s: the challenge", ctx);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s", ctx);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s", ctx);
	EXPECT(!r->hdr[H_X_AUTH_USER].present && !r->hdr[H_X_AUTH_GROUPS].present &&
	       !r->hdr[H_X_AUTH_BACKEND].present, r, "%s: no identity", ctx);
}

static void
check_unavailable(const struct pa_resp *r, const char *ctx)
{
	EXPECT(r->status == 503, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_RETRY_AFTER, "1"), r, "%s: Retry-After", ctx);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s: no challenge", ctx);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s", ctx);
	EXPECT(!r->hdr[H_X_AUTH_USER].present && !r->hdr[H_X_AUTH_GROUPS].present &&
	       !r->hdr[H_X_AUTH_BACKEND].present, r, "%s: no identity", ctx);
}

/* Asks once and checks the answer is an allow for user with groups. */
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
	check_deny(&r, ctx);
	pa_resp_free(&r);
}

static void
expect_unavailable(const struct pa_daemon *d, const char *user, const char *password,
		   const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(ask(d, user, password, &r), 0);
	check_unavailable(&r, ctx);
	pa_resp_free(&r);
}

/* The value of key in the last decision line of d's log, into out ("" when
 * the line lacks it).  Fails when there is no well-formed decision line. */

/* A sample of /metrics: name{...} with every one of the label texts
 * given (like `backend="redis"`), or -1 when there is none. */
static double
metric(const struct pa_daemon *d, const char *name, const char *l1, const char *l2)
{
	struct pa_resp r;
	char *p, *nl;
	double v = -1;
	size_t nlen = strlen(name);

	assert_int_equal(pa_get(d, "GET", "/metrics", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "/metrics");
	for (p = r.body; p != NULL && *p != '\0'; p = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (strncmp(p, name, nlen) != 0 || (p[nlen] != '{' && p[nlen] != ' '))
			continue;
		if ((l1 != NULL && strstr(p, l1) == NULL) || (l2 != NULL && strstr(p, l2) == NULL))
			continue;
		v = strtod(strrchr(p, ' ') + 1, NULL);
		break;
	}
	pa_resp_free(&r);
	return v;
}

static double
redis_results(const struct pa_daemon *d, const char *result)
{
	char l2[64];

	snprintf(l2, sizeof(l2), "result=\"%s\"", result);
	return metric(d, "proxyauthd_backend_requests_total", "backend=\"redis\"", l2);
}

/* Runs `proxyauthd -t -c conf`: exit status, output into out. */
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

/* ---- 1. users, results, groups ------------------------------------------ */

static void
test_users(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	char now_past[32], now_future[32], v[512];
	const char *a_alice[] = { "-C", "4", "--redis", NULL, "alice", "dev,ops", NULL };
	const char *a_yves[] = { "-a", "yescrypt", "--redis", NULL, "yves", "y", NULL };
	const char *a_argo[] = { "-a", "argon2id", "--redis", NULL, "argo", NULL };
	struct pa_resp r;
	double granted, denied, not_found;
	static char longgroups[PA_GROUPS_MAX + 200];
	size_t n;
	int i;

	start_redis(t);
	a_alice[3] = a_yves[3] = a_argo[3] = t->rs.addr;
	passwd_ok(a_alice, ALICE_PW);
	passwd_ok(a_yves, "yves-pw");
	passwd_ok(a_argo, "argo-pw");
	hget(&t->rs, "alice", "hash", v, sizeof(v));
	if (strncmp(v, "$2", 2) != 0)
		fail_msg("proxyauth-passwd --redis -C 4 stored hash '%s', want bcrypt", v);
	hget(&t->rs, "alice", "groups", v, sizeof(v));
	assert_string_equal(v, "dev,ops");
	hget(&t->rs, "yves", "hash", v, sizeof(v));
	if (strncmp(v, "$y$", 3) != 0)
		fail_msg("-a yescrypt stored '%s'", v);
	hget(&t->rs, "argo", "hash", v, sizeof(v));
	if (strncmp(v, "$argon2id$", 10) != 0)
		fail_msg("-a argon2id stored '%s'", v);

	snprintf(now_past, sizeof(now_past), "%lld", (long long)time(NULL) - 60);
	snprintf(now_future, sizeof(now_future), "%lld", (long long)time(NULL) + 3600);
	seed(&t->rs, "bob", "bob-pw", "groups", "staff", NULL);
	seed(&t->rs, "carol", "carol-pw", "groups", "dev", "disabled", "1", NULL);
	seed(&t->rs, "dave", "dave-pw", "expires", now_past, NULL);
	seed(&t->rs, "erin", "erin-pw", "groups", "a,b", "expires", now_future, NULL);
	seed(&t->rs, "frank", "frank-pw", "disabled", "0", NULL);
	/* Plaintext is never a hash; a key of another type is no user. */
	seed(&t->rs, "gina", NULL, "hash", "gina-pw", NULL);
	seed(&t->rs, "ivan", "ivan-pw", "expires", "tomorrow", NULL);
	seed(&t->rs, "jack", NULL, "hash", "", NULL);
	/* Weak hashes, refused without allow_weak_hashes. */
	seed(&t->rs, "lena", NULL, "hash", weak_hash("-nbm", "lena-pw"), NULL);
	seed(&t->rs, "mo", NULL, "hash", weak_hash("-nbs", "mo-pw"), NULL);
	for (i = 0, n = 0; n <= PA_GROUPS_MAX + 100; i++)
		n += (size_t)snprintf(longgroups + n, sizeof(longgroups) - n, "%sgroup%04d",
				      i > 0 ? "," : "", i);
	seed(&t->rs, "kim", "kim-pw", "groups", longgroups, NULL);
	assert_int_equal(pa_redis_cli(&t->rs, v, sizeof(v), "SET", "proxyauth:user:hank",
				      "hank-pw", NULL), 0);

	d = start_daemon(t, t->rs.addr, "", "");

	assert_int_equal(ask(d, "alice", ALICE_PW, &r), 0);
	check_allow(&r, "alice", "dev,ops", "alice (proxyauth-passwd --redis)");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "outcome", "allow");
	pa_expect_last_decision(d, "backend", "redis");
	pa_expect_last_decision(d, "cache", "miss");
	expect_allow(d, "alice", ALICE_PW, "dev,ops", "alice again");
	pa_expect_last_decision(d, "cache", "hit");
	assert_int_equal(pa_get_basic(d, "/auth-request", "alice", ALICE_PW, &r), 0);
	EXPECT(r.status == 200 && HDR_IS(&r, H_X_AUTH_BACKEND, "redis"), &r, "/auth-request");
	pa_resp_free(&r);
	assert_int_equal(pa_get_basic(d, "/ext-authz", "alice", ALICE_PW, &r), 0);
	EXPECT(r.status == 200 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "/ext-authz");
	pa_resp_free(&r);

	expect_deny(d, "alice", "wrong-pw", "alice, wrong password");
	pa_expect_last_decision(d, "outcome", "deny");
	expect_allow(d, "bob", "bob-pw", "staff", "bob (redis-cli HSET, htpasswd $2y$)");
	expect_deny(d, "bob", "Bob-pw", "bob, wrong password");
	expect_deny(d, "carol", "carol-pw", "carol, disabled=1, right password");
	expect_deny(d, "dave", "dave-pw", "dave, expired a minute ago, right password");
	expect_allow(d, "erin", "erin-pw", "a,b", "erin, expires in an hour");
	expect_allow(d, "frank", "frank-pw", "", "frank, disabled=0, no groups field");
	expect_allow(d, "yves", "yves-pw", "y", "yves (yescrypt)");
	expect_allow(d, "argo", "argo-pw", "", "argo (argon2id)");
	expect_deny(d, "nobody", "nobody-pw", "no such key");
	pa_expect_last_decision(d, "outcome", "deny");

	/* Every one of those was a new lookup (the one repeat came from the
	 * cache): the backend's own answers, counted by result. */
	granted = redis_results(d, "granted");
	denied = redis_results(d, "denied");
	not_found = redis_results(d, "not_found");
	if (granted != 6 || denied != 4 || not_found != 1)
		fail_msg("backend_requests_total{backend=redis}: granted %g (want 6), denied %g "
			 "(want 4: wrong password twice, disabled, expired), not_found %g "
			 "(want 1)", granted, denied, not_found);

	assert_int_equal(ask(d, "gina", "gina-pw", &r), 0);
	EXPECT(r.status != 204 && r.status != 0, &r, "a plaintext \"hash\" must never allow");
	EXPECT(!r.hdr[H_X_AUTH_USER].present, &r, "plaintext");
	pa_resp_free(&r);
	assert_int_equal(ask(d, "hank", "hank-pw", &r), 0);
	EXPECT(r.status != 204 && r.status != 0, &r, "a string key must never allow");
	pa_resp_free(&r);
	expect_deny(d, "ivan", "ivan-pw", "ivan, expires field not a number");
	expect_deny(d, "jack", "jack-pw", "jack, empty hash field");
	expect_deny(d, "lena", "lena-pw", "lena, $apr1$ hash without allow_weak_hashes");
	expect_deny(d, "mo", "mo-pw", "mo, {SHA} hash without allow_weak_hashes");
	/* Groups too long to hand on whole: refused, never an allow that
	 * silently carries no groups (or some of them). */
	assert_int_equal(ask(d, "kim", "kim-pw", &r), 0);
	EXPECT(r.status != 204 && r.status != 0 && !r.hdr[H_X_AUTH_USER].present, &r,
	       "kim, a groups field of %zu bytes (more than PA_GROUPS_MAX %d)", strlen(longgroups),
	       PA_GROUPS_MAX);
	pa_resp_free(&r);
	assert_true(pa_daemon_alive(d));
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 1b. the chain: not found goes on, denied stops, unavailable 503 ---- */

static char *
chain_config(const char *address, const char *server_extra)
{
	return pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_ttl = 60\n"
			  "backends = redis, htpasswd\n%s[redis]\naddress = %s\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n", server_extra, address);
}

static void
test_chain(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d, *fall;
	char *ht, *line, v[64];
	struct pa_resp r;
	long took;

	start_redis(t);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);
	line = pa_htpasswd_line("alice", "alice-file-pw", "filegrp", 4);
	ht = pa_htpasswd_line("zed", "zed-pw", "z", 4);
	assert_non_null(line);
	assert_non_null(ht);
	{
		char *yul = pa_htpasswd_line("yul", "yul-pw", NULL, 4);
		char *all = pa_strdupf("%s%s%s", line, ht, yul);

		free(line);
		free(ht);
		free(yul);
		ht = all;
	}
	{
		char *c1 = chain_config(t->rs.addr, "");
		char *c2 = chain_config(t->rs.addr, "fallthrough_unavailable = true\n");

		d = pa_daemon_start(t->f, c1, ht);
		fall = d != NULL ? pa_daemon_start(t->f, c2, ht) : NULL;
		free(c1);
		free(c2);
	}
	free(ht);
	assert_non_null(d);
	assert_non_null(fall);

	/* Not in Redis: the chain goes on to htpasswd. */
	assert_int_equal(ask(d, "zed", "zed-pw", &r), 0);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_BACKEND, "htpasswd") &&
	       HDR_IS(&r, H_X_AUTH_GROUPS, "z"), &r, "zed, only in htpasswd");
	pa_resp_free(&r);
	expect_allow(d, "alice", ALICE_PW, "dev", "alice in Redis");
	/* In Redis with another password: Redis denies, and that ends it. */
	expect_deny(d, "alice", "alice-file-pw", "alice with her htpasswd password");

	/* The subscriber reconnects: the Redis answers go, and so do
	 * htpasswd's, which stand on Redis having said "not found" (a user
	 * added to Redis meanwhile must win). */
	assert_true(wait_numsub(&t->rs, "proxyauth:invalidate", 2, 3000));
	expect_allow(d, "alice", ALICE_PW, "dev", "alice, cached");
	pa_expect_last_decision(d, "cache", "hit");
	assert_int_equal(ask(d, "zed", "zed-pw", &r), 0);
	pa_resp_free(&r);
	pa_expect_last_decision(d, "cache", "hit");
	assert_true(pa_redis_int(&t->rs, "CLIENT", "KILL", "TYPE", "pubsub", NULL) >= 1);
	{
		long t0 = pa_now_ms();

		for (took = -1; pa_now_ms() - t0 < 3500; pa_sleep_ms(50)) {
			expect_allow(d, "alice", ALICE_PW, "dev", "alice after the reconnect");
			pa_last_decision_field(d, "cache", v, sizeof(v));
			if (strcmp(v, "miss") == 0) {
				took = pa_now_ms() - t0;
				break;
			}
		}
	}
	if (took < 0)
		fail_msg("alice's cached Redis answer survived 3.5 s after the subscriber "
			 "connection was killed (no drop on reconnect)");
	assert_int_equal(ask(d, "zed", "zed-pw", &r), 0);
	EXPECT(r.status == 204, &r, "zed after the reconnect");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "cache", "miss");
	print_message("the Redis part of the cache went %ld ms after the kill\n", took);

	/* Redis down: unavailable ends the chain, even for a user htpasswd
	 * knows, unless fallthrough_unavailable says otherwise. */
	assert_int_equal(pa_redis_stop(&t->rs), 0);
	expect_unavailable(d, "yul", "yul-pw", "yul (htpasswd) while Redis is down");
	assert_int_equal(ask(fall, "yul", "yul-pw", &r), 0);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_BACKEND, "htpasswd"), &r,
	       "yul with fallthrough_unavailable while Redis is down");
	pa_resp_free(&r);
	/* Past the unavailable Redis, htpasswd grants alice her file
	 * password; where nothing grants, an unavailable still means 503. */
	assert_int_equal(ask(fall, "alice", "alice-file-pw", &r), 0);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_BACKEND, "htpasswd") &&
	       HDR_IS(&r, H_X_AUTH_GROUPS, "filegrp"), &r,
	       "alice's htpasswd password with fallthrough, Redis down");
	pa_resp_free(&r);
	expect_unavailable(fall, "alice", "neither-pw", "htpasswd denies, Redis down");
	expect_unavailable(fall, "nobody", "x-pw", "htpasswd does not know, Redis down");
	assert_int_equal(pa_daemon_stop(d), 0);
	assert_int_equal(pa_daemon_stop(fall), 0);
}

/*
 * Redis keys are exact: "Admin" is not found where "admin" is.  Before,
 * the chain went on and htpasswd's own "Admin" (added by someone else)
 * was granted, and an application comparing names without regard to case
 * took X-Auth-User "Admin" for admin.  Now Redis is asked again with the
 * folded name, and finding admin there ends the chain with a denial.
 */
static void
test_chain_look_alike(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	struct pa_resp r;
	char *ht, *a, *b, *conf;

	start_redis(t);
	seed(&t->rs, "admin", "admin-pw", "groups", "admins", NULL);
	a = pa_htpasswd_line("Admin", "mallory-pw", "staff", 4);
	b = pa_htpasswd_line("Zed", "zed-pw", "z", 4);
	assert_non_null(a);
	assert_non_null(b);
	ht = pa_strdupf("%s%s", a, b);
	conf = chain_config(t->rs.addr, "");
	d = pa_daemon_start(t->f, conf, ht);
	free(a);
	free(b);
	free(ht);
	free(conf);
	assert_non_null(d);
	expect_deny(d, "Admin", "mallory-pw", "htpasswd's Admin is admin to the application");
	assert_true(pa_daemon_wait_log(d, "another spelling of admin", 1, 2000));
	expect_deny(d, "ADMIN", "admin-pw", "admin's password under another spelling");
	expect_allow(d, "admin", "admin-pw", "admins", "admin as Redis holds it");
	assert_int_equal(ask(d, "Zed", "zed-pw", &r), 0);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_BACKEND, "htpasswd") &&
	       HDR_IS(&r, H_X_AUTH_USER, "Zed"), &r, "Zed: no zed in Redis in any spelling");
	pa_resp_free(&r);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/*
 * The other way round: htpasswd first holds "Admin" (the operator's), Redis
 * after it "admin" (a sign-up page's).  The chain's second question asks
 * htpasswd the folded name, "admin", which is what was typed, so before
 * Redis's admin was granted, and an application comparing names without
 * regard to case took it for Admin.  htpasswd now finds another spelling
 * of a user it holds by its fold index and denies.
 */
static void
test_chain_stored_spelling(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	struct pa_resp r;
	char *ht, *conf;

	start_redis(t);
	seed(&t->rs, "admin", "mallory-pw", "groups", "users", NULL);
	seed(&t->rs, "zed", "zed-pw", "groups", "z", NULL);
	ht = pa_htpasswd_line("Admin", "admin-pw", "admins", 4);
	assert_non_null(ht);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
			  "backends = htpasswd, redis\n[redis]\naddress = %s\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n", t->rs.addr);
	d = pa_daemon_start(t->f, conf, ht);
	free(ht);
	free(conf);
	assert_non_null(d);
	expect_deny(d, "admin", "mallory-pw", "Redis's admin is Admin to the application");
	assert_true(pa_daemon_wait_log(d, "another spelling of Admin", 1, 2000));
	assert_int_equal(ask(d, "Admin", "admin-pw", &r), 0);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_BACKEND, "htpasswd") &&
	       HDR_IS(&r, H_X_AUTH_USER, "Admin"), &r, "Admin as htpasswd holds it");
	pa_resp_free(&r);
	expect_allow(d, "zed", "zed-pw", "z", "zed: in Redis, in no spelling in htpasswd");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 2. odd user names read exactly their own key ------------------------ */

static void
test_odd_names(void **state)
{
	static const char *const names[] = {
		"john smith", "*", "?", "[a]", "a", "abc", JOERG_USER, "x DEL y", "y",
		"%s%s%s%s", "50%", "{tag}", "o'brien \"q\" \\ b", "\xe2\x98\x83 snow",
	};
	struct rt *t = *state;
	struct pa_daemon *d;
	char pw[128], v[512];
	long before, after;
	size_t i;

	start_redis(t);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(pw, sizeof(pw), "pw-%zu", i);
		seed(&t->rs, names[i], pw, "groups", "g", NULL);
	}
	/* user "c" with a colon in her password; key "c:d" can never be
	 * asked for, since the user ends at the first colon. */
	seed(&t->rs, "c", "d:pw-c", "groups", "gc", NULL);
	seed(&t->rs, "c:d", "pw-cd", "groups", "gcd", NULL);
	seed(&t->rs, JOERG_USER "2", JOERG_PW, "groups", "dev", NULL);
	before = pa_redis_int(&t->rs, "DBSIZE", NULL);
	assert_true(before > 0);

	d = start_daemon(t, t->rs.addr, "", "");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char ctx[128];

		snprintf(pw, sizeof(pw), "pw-%zu", i);
		snprintf(ctx, sizeof(ctx), "user '%s' with its own password", names[i]);
		expect_allow(d, names[i], pw, "g", ctx);
	}
	expect_allow(d, JOERG_USER "2", JOERG_PW, "dev", "UTF-8 name and password");

	/* Patterns are not patterns: each name reads its own key only. */
	expect_deny(d, "a*", "pw-5", "'a*' with abc's password");
	expect_deny(d, "*", "pw-5", "'*' with abc's password");
	expect_deny(d, "ab?", "pw-5", "'ab?' with abc's password");
	expect_deny(d, "?", "pw-4", "'?' with a's password");
	expect_deny(d, "[a]", "pw-4", "'[a]' with a's password");
	expect_deny(d, "a", "pw-3", "'a' with [a]'s password");
	expect_deny(d, "john", "pw-0", "'john' with 'john smith''s password");
	expect_deny(d, "john*", "pw-0", "'john*' with 'john smith''s password");
	expect_deny(d, "jorg", "pw-6", "'jorg' with j\xc3\xb6rg's password");
	expect_deny(d, "x", "pw-7", "'x' with 'x DEL y''s password");
	expect_deny(d, "%s", "pw-9", "'%%s' with '%%s%%s%%s%%s''s password");
	expect_deny(d, "50", "pw-10", "'50' with '50%%''s password");
	/* Basic splits at the first colon: user c, password "d:pw-cd". */
	expect_allow(d, "c", "d:pw-c", "gc", "'c' with a colon in her password");
	expect_deny(d, "c", "d:pw-cd", "'c:d' is user c with password d:pw-cd");

	/* Nothing was written, deleted or run: the same keys as before. */
	after = pa_redis_int(&t->rs, "DBSIZE", NULL);
	assert_int_equal(after, before);
	assert_int_equal(key_exists(&t->rs, "y"), 1);
	assert_int_equal(key_exists(&t->rs, "x DEL y"), 1);
	hget(&t->rs, "y", "groups", v, sizeof(v));
	assert_string_equal(v, "g");
	assert_true(pa_daemon_alive(d));
	assert_int_equal(pa_daemon_stop(d), 0);
}

/*
 * "alice " and " alice" are keys of their own, but not identities of their
 * own: nginx, Caddy, HAProxy and every HTTP library strip the blanks
 * around a header value, so X-Auth-User "alice " reaches the application
 * as "alice".  "alice" + U+3000 is alice to Go's strings.TrimSpace and
 * to NFKC, and "ali" U+200B "ce" shows as alice.  Whoever can write such
 * a key (a sign-up page that checks names with an exact match, a Redis
 * user with HSET on the prefix) would log in as alice without her
 * password.  Such a user is refused.
 */
static void
test_blank_edged_names(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;

	start_redis(t);
	seed(&t->rs, "alice", "alice-pw", "groups", "admins", NULL);
	seed(&t->rs, "alice ", "mallory-pw", "groups", "admins", NULL);
	seed(&t->rs, " alice", "mallory-pw", "groups", "admins", NULL);
	seed(&t->rs, "alice\xe3\x80\x80", "mallory-pw", "groups", "admins", NULL);
	seed(&t->rs, "ali\xe2\x80\x8b" "ce", "mallory-pw", "groups", "admins", NULL);
	seed(&t->rs, "john smith", "john-pw", "groups", "g", NULL);
	d = start_daemon(t, t->rs.addr, "", "");
	expect_allow(d, "alice", "alice-pw", "admins", "alice herself");
	expect_deny(d, "alice ", "mallory-pw", "'alice ' would reach the app as alice");
	expect_deny(d, " alice", "mallory-pw", "' alice' would reach the app as alice");
	expect_deny(d, "alice\xe3\x80\x80", "mallory-pw",
		    "alice + U+3000 is alice to TrimSpace and NFKC");
	expect_deny(d, "ali\xe2\x80\x8b" "ce", "mallory-pw",
		    "ali + U+200B + ce shows as alice");
	expect_allow(d, "john smith", "john-pw", "g", "an inner blank is kept");
	assert_true(pa_daemon_wait_log(d, "begins or ends with a blank", 1, 2000));
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 3. unix socket, ACL user, password_file ----------------------------- */

/* Writes the secret files a test uses into the fixture's folder:
 * pa.pw (0600, ACL user pa), wrong.pw (0600, a wrong password), open.pw
 * (pa's password, but 0644) and admin.pw (0600, ACL user admin). */
struct secrets {
	char pa[300], wrong[300], open[300], admin[300];
};

static void
write_secrets(const struct rt *t, struct secrets *s)
{
	snprintf(s->pa, sizeof(s->pa), "%s/pa.pw", t->f->dir);
	snprintf(s->wrong, sizeof(s->wrong), "%s/wrong.pw", t->f->dir);
	snprintf(s->open, sizeof(s->open), "%s/open.pw", t->f->dir);
	snprintf(s->admin, sizeof(s->admin), "%s/admin.pw", t->f->dir);
	assert_int_equal(pa_write_file(s->pa, PA_REDIS_PA_PASSWORD "\n"), 0);
	assert_int_equal(pa_write_file(s->wrong, "not-the-password\n"), 0);
	assert_int_equal(pa_write_file(s->open, PA_REDIS_PA_PASSWORD "\n"), 0);
	assert_int_equal(chmod(s->open, 0644), 0);
	assert_int_equal(pa_write_file(s->admin, PA_REDIS_ADMIN_PASSWORD "\n"), 0);
}

/* Connections of ACL user pa: at least one, and a subscriber (flag P)
 * logged in as pa; with only_pa, every subscriber is pa's. */
static void
expect_clients_are_pa(const struct pa_redis *r, bool only_pa)
{
	char v[8192], *line, *nl, *fl;
	int subs = 0, pa_subs = 0;

	assert_int_equal(pa_redis_cli(r, v, sizeof(v), "CLIENT", "LIST", NULL), 0);
	if (strstr(v, " user=pa ") == NULL)
		fail_msg("no connection of ACL user pa in CLIENT LIST:\n%s", v);
	for (line = v; line != NULL && *line != '\0'; line = nl != NULL ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((fl = strstr(line, " flags=")) == NULL)
			continue;
		fl += strlen(" flags=");
		if (strcspn(fl, "P ") >= strcspn(fl, " "))
			continue;	/* not a subscriber */
		subs++;
		if (strstr(line, " user=pa ") != NULL)
			pa_subs++;
		else if (only_pa)
			fail_msg("a subscriber not logged in as pa: %s", line);
	}
	if (pa_subs < 1)
		fail_msg("no subscriber logged in as pa among %d", subs);
}

/* The address is a unix socket path: the daemon reads users and
 * subscribes through it, as the default user and as ACL user pa, and
 * proxyauth-passwd writes through it. */
static void
test_unix_socket(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d, *dacl;
	struct secrets sec;
	const char *chg[] = { "-C", "4", "--redis", NULL, "alice", NULL };
	char *extra, body[512];
	long took, last;

	start_redis(t);
	write_secrets(t, &sec);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);
	d = start_daemon(t, t->rs.sock, "", "");
	if (pa_wait_readyz(d, 200, 3000, body, sizeof(body)) < 0 || strstr(body, "redis") == NULL)
		fail_msg("/readyz over the unix socket: '%s'", body);
	expect_allow(d, "alice", ALICE_PW, "dev", "alice over the unix socket");
	expect_deny(d, "alice", "wrong-pw", "alice, wrong password, unix socket");
	expect_deny(d, "nobody", "x-pw", "no such user, unix socket");
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("no subscription over the unix socket within 3 s");

	/* ACL user pa, password from a 0600 file, over the socket. */
	extra = pa_strdupf("username = pa\npassword_file = %s\n", sec.pa);
	dacl = start_daemon(t, t->rs.sock, "", extra);
	free(extra);
	expect_allow(dacl, "alice", ALICE_PW, "dev", "alice over the unix socket as ACL user pa");
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 2, 3000))
		fail_msg("ACL user pa did not subscribe over the unix socket within 3 s");
	expect_clients_are_pa(&t->rs, false);

	/* proxyauth-passwd through the socket; both daemons hear of it. */
	expect_allow(d, "alice", ALICE_PW, "dev", "alice, cached");
	chg[3] = t->rs.sock;
	passwd_ok(chg, "alice-new-pw");
	if ((took = wait_status(d, "alice", ALICE_PW, 407, 1000, &last)) < 0)
		fail_msg("the old password still gets %ld 1 s after proxyauth-passwd --redis SOCKET",
			 last);
	if (wait_status(dacl, "alice", ALICE_PW, 407, 1000, &last) < 0)
		fail_msg("ACL daemon: the old password still gets %ld 1 s after the change", last);
	expect_allow(d, "alice", "alice-new-pw", "dev", "the new password, unix socket");
	expect_allow(dacl, "alice", "alice-new-pw", "dev", "the new password, ACL user");
	assert_int_equal(pa_daemon_stop(d), 0);
	assert_int_equal(pa_daemon_stop(dacl), 0);
}

/* ACL user pa with the README's least-privilege ACL, its password from a
 * 0600 file; a 0644 file refused; a wrong password a 503. */
static void
test_acl_user(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d, *bad;
	struct secrets sec;
	char conf[300], *extra, *text, out[4096], body[512], v[8192];
	const char *chg[] = { "-C", "4", "--redis", NULL, "--redis-user", PA_REDIS_ADMIN_USER,
			      "--redis-password-file", sec.admin, "alice", NULL };
	long took;
	int rc, i;

	start_redis(t);
	write_secrets(t, &sec);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);

	/* -t: a good configuration passes; a group/world-readable secret is
	 * refused, naming the file. */
	snprintf(conf, sizeof(conf), "%s/check.conf", t->f->dir);
	text = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = redis\n[redis]\n"
			  "address = %s\nusername = pa\npassword_file = %s\n", t->rs.addr, sec.pa);
	assert_int_equal(pa_write_file(conf, text), 0);
	free(text);
	rc = daemon_check(conf, out, sizeof(out));
	if (rc != 0 || strstr(out, "configuration OK") == NULL)
		fail_msg("proxyauthd -t on a good [redis] section: exit %d: %s", rc, out);
	text = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = redis\n[redis]\n"
			  "address = %s\nusername = pa\npassword_file = %s\n", t->rs.addr, sec.open);
	assert_int_equal(pa_write_file(conf, text), 0);
	rc = daemon_check(conf, out, sizeof(out));
	if (rc == 0 || strstr(out, sec.open) == NULL)
		fail_msg("proxyauthd -t with a 0644 password_file: exit %d, want non-zero and "
			 "the path in the message: %s", rc, out);
	bad = pa_daemon_start(t->f, text, NULL);
	free(text);
	if (bad != NULL)
		fail_msg("proxyauthd started with a 0644 password_file");
	{
		char *log = pa_daemon_log(&t->f->d[t->f->n - 1]);

		if (strstr(log, sec.open) == NULL)
			fail_msg("the refusal does not name %s: %s", sec.open, log);
		free(log);
	}

	extra = pa_strdupf("username = pa\npassword_file = %s\n", sec.pa);
	d = start_daemon(t, t->rs.addr, "", extra);
	free(extra);
	expect_allow(d, "alice", ALICE_PW, "dev", "alice as ACL user pa");
	expect_deny(d, "alice", "wrong-pw", "alice, wrong password, ACL user");
	expect_deny(d, "nobody", "x-pw", "no such user, ACL user");
	if (pa_wait_readyz(d, 200, 3000, body, sizeof(body)) < 0 || strstr(body, "redis") == NULL)
		fail_msg("/readyz with the ACL user: '%s'", body);
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("ACL user pa did not subscribe within 3 s");
	expect_clients_are_pa(&t->rs, true);

	/* An invalidation on the one channel pa may read, made by
	 * proxyauth-passwd as ACL user admin. */
	expect_allow(d, "alice", ALICE_PW, "dev", "alice, cached");
	chg[3] = t->rs.addr;
	passwd_ok(chg, "alice-new-pw");
	took = wait_status(d, "alice", ALICE_PW, 407, 1000, NULL);
	if (took < 0)
		fail_msg("the old password still works 1 s after proxyauth-passwd --redis "
			 "(ACL user pa subscribed to proxyauth:invalidate)");
	expect_allow(d, "alice", "alice-new-pw", "dev", "alice's new password, ACL user");
	/* The README's least-privilege ACL is enough: Redis refused nothing. */
	assert_int_equal(pa_redis_cli(&t->rs, v, sizeof(v), "ACL", "LOG", NULL), 0);
	if (v[0] != '\0')
		fail_msg("Redis refused commands to ACL user pa (ACL LOG):\n%s", v);

	/* The wrong ACL password: unavailable, never allow, never deny. */
	extra = pa_strdupf("username = pa\npassword_file = %s\n", sec.wrong);
	bad = start_daemon(t, t->rs.addr, "", extra);
	free(extra);
	expect_unavailable(bad, "alice", "alice-new-pw", "wrong ACL password, right user password");
	expect_unavailable(bad, "alice", "wrong-pw", "wrong ACL password, wrong user password");
	expect_unavailable(bad, "nobody", "x-pw", "wrong ACL password, unknown user");
	if (pa_wait_readyz(bad, 503, 3000, body, sizeof(body)) < 0 || strstr(body, "redis") == NULL)
		fail_msg("/readyz with a wrong ACL password: '%s'", body);

	assert_int_equal(pa_daemon_stop(d), 0);
	assert_int_equal(pa_daemon_stop(bad), 0);
	/* No Redis password in any log. */
	for (i = 0; i < t->f->n; i++) {
		char *log = pa_daemon_log(&t->f->d[i]);

		if (strstr(log, PA_REDIS_PA_PASSWORD) != NULL ||
		    strstr(log, "not-the-password") != NULL)
			fail_msg("a Redis password in daemon log %d:\n%s", i, log);
		free(log);
	}
}

/* ---- 4. invalidation ----------------------------------------------------- */

static void
test_invalidation(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	const char *chg[] = { "-C", "4", "--redis", NULL, "alice", NULL };
	const char *chg_j[] = { "-C", "4", "--redis", NULL, "john smith", NULL };
	char *hash, out[256];
	long took, last;

	start_redis(t);
	chg[3] = chg_j[3] = t->rs.addr;
	seed(&t->rs, "alice", "pw-1", "groups", "dev", NULL);
	seed(&t->rs, "bob", "bob-pw", "groups", "staff", NULL);
	seed(&t->rs, "john smith", "john-1", NULL);
	d = start_daemon(t, t->rs.addr, "", "");
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("proxyauthd did not subscribe to proxyauth:invalidate within 3 s");

	expect_allow(d, "alice", "pw-1", "dev", "alice, first");
	pa_expect_last_decision(d, "cache", "miss");
	expect_allow(d, "alice", "pw-1", "dev", "alice, second");
	pa_expect_last_decision(d, "cache", "hit");
	expect_allow(d, "bob", "bob-pw", "staff", "bob");

	/* proxyauth-passwd --redis sets the hash and publishes. */
	passwd_ok(chg, "pw-2");
	took = wait_status(d, "alice", "pw-1", 407, 1000, &last);
	if (took < 0)
		fail_msg("the old password still gets %ld 1 s after proxyauth-passwd --redis "
			 "(cache_ttl 60)", last);
	expect_allow(d, "alice", "pw-2", "dev", "the new password (groups kept)");
	print_message("proxyauth-passwd --redis took effect after %ld ms\n", took);
	/* Only alice's answers went. */
	expect_allow(d, "bob", "bob-pw", "staff", "bob after alice's invalidation");
	pa_expect_last_decision(d, "cache", "hit");

	/* The same by hand: HSET, then PUBLISH the name. */
	expect_allow(d, "alice", "pw-2", "dev", "pw-2 cached");
	pa_expect_last_decision(d, "cache", "hit");
	hash = htpasswd_hash("pw-3");
	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "HSET", "proxyauth:user:alice",
				      "hash", hash, NULL), 0);
	free(hash);
	assert_true(pa_redis_int(&t->rs, "PUBLISH", "proxyauth:invalidate", "alice", NULL) >= 1);
	took = wait_status(d, "alice", "pw-2", 407, 1000, &last);
	if (took < 0)
		fail_msg("pw-2 still gets %ld 1 s after HSET + PUBLISH", last);
	expect_allow(d, "alice", "pw-3", "dev", "pw-3 after HSET + PUBLISH");

	/* A name with a space, through proxyauth-passwd. */
	expect_allow(d, "john smith", "john-1", "", "john smith");
	expect_allow(d, "john smith", "john-1", "", "john smith, cached");
	pa_expect_last_decision(d, "cache", "hit");
	passwd_ok(chg_j, "john-2");
	if (wait_status(d, "john smith", "john-1", 407, 1000, &last) < 0)
		fail_msg("john smith's old password still gets %ld 1 s after the change", last);
	expect_allow(d, "john smith", "john-2", "", "john smith's new password");

	/* The subscriber connection is killed and a change is made without
	 * a message: only the drop of every Redis answer on reconnecting can
	 * make the cached pw-3 fail. */
	expect_allow(d, "alice", "pw-3", "dev", "pw-3 cached");
	pa_expect_last_decision(d, "cache", "hit");
	assert_true(pa_redis_int(&t->rs, "CLIENT", "KILL", "TYPE", "pubsub", NULL) >= 1);
	hash = htpasswd_hash("pw-4");
	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "HSET", "proxyauth:user:alice",
				      "hash", hash, NULL), 0);
	free(hash);
	took = wait_status(d, "alice", "pw-3", 407, 3500, &last);
	if (took < 0)
		fail_msg("pw-3 still gets %ld 3.5 s after the subscriber connection was killed "
			 "and the hash changed unannounced: no drop on reconnect", last);
	print_message("reconnect dropped the cache after %ld ms\n", took);
	expect_allow(d, "alice", "pw-4", "dev", "pw-4");

	/* Subscribed again: messages work as before. */
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("proxyauthd did not subscribe again within 3 s");
	expect_allow(d, "alice", "pw-4", "dev", "pw-4 cached");
	pa_expect_last_decision(d, "cache", "hit");
	passwd_ok(chg, "pw-5");
	took = wait_status(d, "alice", "pw-4", 407, 1000, &last);
	if (took < 0)
		fail_msg("after the reconnect, pw-4 still gets %ld 1 s after proxyauth-passwd",
			 last);
	expect_allow(d, "alice", "pw-5", "dev", "pw-5");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 5. Redis stopped and started again ---------------------------------- */

static void
test_redis_down(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	char body[512], name[32], pw[32];
	long t0, t_allow = -1, t_ready = -1, s;
	int i;

	start_redis(t);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);
	seed(&t->rs, "bob", "bob-pw", "groups", "staff", NULL);
	d = start_daemon(t, t->rs.addr, "", "timeout_ms = 500\n");
	expect_allow(d, "alice", ALICE_PW, "dev", "alice while Redis is up");
	if (pa_readyz(d, body, sizeof(body)) != 200 || strstr(body, "redis") == NULL)
		fail_msg("/readyz while Redis is up: '%s'", body);

	assert_int_equal(pa_redis_stop(&t->rs), 0);
	t0 = pa_now_ms();
	/* bob is in no cache: no answer can be given, and none is guessed. */
	for (i = 0; i < 10; i++) {
		expect_unavailable(d, "bob", "bob-pw", "bob, right password, Redis down");
		expect_unavailable(d, "bob", "wrong-pw", "bob, wrong password, Redis down");
		expect_unavailable(d, "nobody", "x-pw", "unknown user, Redis down");
		pa_sleep_ms(30);
	}
	pa_expect_last_decision(d, "outcome", "unavailable");
	if (pa_wait_readyz(d, 503, 3000, body, sizeof(body)) < 0)
		fail_msg("/readyz still 200 3 s after Redis stopped: '%s'", body);
	if (strstr(body, "redis") == NULL)
		fail_msg("/readyz does not name redis: '%s'", body);
	print_message("/readyz went 503 %ld ms after the stop: %s", pa_now_ms() - t0, body);
	assert_true(pa_daemon_alive(d));

	/* Back on the same port (empty: nothing was saved). */
	assert_int_equal(pa_redis_restart(&t->rs), 0);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);
	seed(&t->rs, "bob", "bob-pw", "groups", "staff", NULL);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		snprintf(pw, sizeof(pw), "u%d-pw", i);
		seed(&t->rs, name, pw, "groups", "u", NULL);
	}
	t0 = pa_now_ms();
	while (pa_now_ms() - t0 < 5000 && (t_allow < 0 || t_ready < 0)) {
		if (t_allow < 0) {
			s = pa_auth_status(d, "bob", "bob-pw");
			if (s != 204 && s != 503)
				fail_msg("bob got %ld while Redis came back", s);
			if (s == 204)
				t_allow = pa_now_ms() - t0;
		}
		if (t_ready < 0 && pa_readyz(d, body, sizeof(body)) == 200)
			t_ready = pa_now_ms() - t0;
		pa_sleep_ms(50);
	}
	if (t_allow < 0 || t_ready < 0)
		fail_msg("not recovered within 5 s of Redis coming back (allow %ld ms, ready "
			 "%ld ms)", t_allow, t_ready);
	print_message("recovered: allow after %ld ms, /readyz 200 after %ld ms\n", t_allow,
		      t_ready);
	expect_allow(d, "bob", "bob-pw", "staff", "bob after recovery");
	expect_deny(d, "bob", "wrong-pw", "bob, wrong password, after recovery");
	expect_deny(d, "nobody", "x-pw", "unknown user after recovery");
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		snprintf(pw, sizeof(pw), "u%d-pw", i);
		expect_allow(d, name, pw, "u", "a new user after recovery");
	}

	/* Pooled connections that went stale while idle (the server closed
	 * them): the next lookups retry on a fresh one and answer. */
	assert_true(pa_redis_int(&t->rs, "CLIENT", "KILL", "TYPE", "normal", NULL) >= 1);
	for (i = 4; i < 8; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		snprintf(pw, sizeof(pw), "u%d-pw", i);
		expect_allow(d, name, pw, "u", "the first lookups after the server closed "
			     "every pooled connection");
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 6. a server that never answers -------------------------------------- */

static void
test_hung_server(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	char addr[64], body[512], name[32];
	long t0, took, worst = 0;
	int port, i;

	t->hole = pa_blackhole_listen(&port);
	assert_true(t->hole >= 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	d = start_daemon(t, addr, "", "timeout_ms = 300\n");
	for (i = 0; i < 3; i++) {
		struct pa_resp r;

		snprintf(name, sizeof(name), "user%d", i);
		t0 = pa_now_ms();
		assert_int_equal(ask(d, name, "some-pw", &r), 0);
		took = pa_now_ms() - t0;
		check_unavailable(&r, "a server that accepts and never answers");
		pa_resp_free(&r);
		if (took >= 3000)
			fail_msg("the answer took %ld ms with timeout_ms = 300", took);
		if (took > worst)
			worst = took;
	}
	print_message("503 from a hung server within %ld ms (timeout_ms = 300)\n", worst);
	if (pa_wait_readyz(d, 503, 3000, body, sizeof(body)) < 0 || strstr(body, "redis") == NULL)
		fail_msg("/readyz with a hung server: '%s'", body);
	t0 = pa_now_ms();
	assert_int_equal(pa_daemon_stop(d), 0);
	took = pa_now_ms() - t0;
	if (took > 5000)
		fail_msg("proxyauthd took %ld ms to stop with a hung Redis", took);
}

/* ---- 6a'. one timeout_ms for a whole lookup ----------------------------- */

struct timed_ask {
	const struct pa_daemon *d;
	char user[32];
	long status, took_ms;
};

static void *
timed_ask_run(void *arg)
{
	struct timed_ask *x = arg;
	struct pa_resp r;
	long t0 = pa_now_ms();

	x->status = ask(x->d, x->user, "some-pw", &r) == 0 ? r.status : 0;
	x->took_ms = pa_now_ms() - t0;
	pa_resp_free(&r);
	return NULL;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Two lookups on one connection to a server that accepts and never
 * answers, the second asked half a timeout_ms after the first: it waits
 * for the connection, gets it when the first gives up, and must give up
 * too when its own timeout_ms is over (the wait for the connection,
 * connect and HMGET share it).  Before, the wait had a timeout_ms of its
 * own and then the command got timeout_ms again: 1.5x timeout_ms.  The
 * median of three rounds is compared with timeout_ms. */
static void
test_one_timeout_per_lookup(void **state)
{
	struct rt *t = *state;
	struct timed_ask x[2];
	pthread_t th[2];
	struct pa_daemon *d;
	char addr[64];
	long second[3];
	int port, round, i;

	t->hole = pa_blackhole_listen(&port);
	assert_true(t->hole >= 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	d = start_daemon(t, addr, "", "timeout_ms = 600\npool_size = 1\n");
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 2; i++) {
			x[i].d = d;
			/* distinct names: never coalesced */
			snprintf(x[i].user, sizeof(x[i].user), "user%d-%d", round, i);
			assert_int_equal(pthread_create(&th[i], NULL, timed_ask_run, &x[i]), 0);
			if (i == 0)
				pa_sleep_ms(300);
		}
		for (i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(x[i].status, 503);
		}
		second[round] = x[1].took_ms;
	}
	qsort(second, 3, sizeof(second[0]), cmp_long);
	print_message("a lookup that waited for the one connection to a hung Redis: "
		      "median %ld ms, %.2fx timeout_ms\n", second[1], second[1] / 600.0);
	if (second[1] >= 600 * 5 / 4)
		fail_msg("the lookup took %ld ms, %.2fx timeout_ms = 600: the wait for the "
			 "connection and the command each had a timeout of their own",
			 second[1], second[1] / 600.0);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 6a''. the subscription lost --------------------------------------- */

/* The subscriber's connection is killed and it cannot subscribe again
 * (SUBSCRIBE is taken away from the user): every cached Redis answer goes
 * at once, not only once it has subscribed again, which may be never.  A
 * hash changed unannounced shows it: the old password must stop working.
 * Nor is what it answers while it cannot subscribe cached: a second
 * change counts at once too.  The subscriber says it is down once (not
 * once per attempt) while it backs off, and that it is back once
 * SUBSCRIBE works again; then answers are cached again. */
static void
test_drop_on_subscription_loss(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;
	char out[256], *hash, *log, *p;
	long took, last;
	int downs = 0;

	start_redis(t);
	seed(&t->rs, "alice", "pw-1", "groups", "dev", NULL);
	d = start_daemon(t, t->rs.addr, "", "");
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("proxyauthd did not subscribe to proxyauth:invalidate within 3 s");
	expect_allow(d, "alice", "pw-1", "dev", "alice, first");
	expect_allow(d, "alice", "pw-1", "dev", "alice, cached");
	pa_expect_last_decision(d, "cache", "hit");

	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "ACL", "SETUSER", "default",
				      "-subscribe", NULL), 0);
	hash = htpasswd_hash("pw-2");
	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "HSET", "proxyauth:user:alice",
				      "hash", hash, NULL), 0);
	free(hash);
	assert_true(pa_redis_int(&t->rs, "CLIENT", "KILL", "TYPE", "pubsub", NULL) >= 1);
	took = wait_status(d, "alice", "pw-1", 407, 1000, &last);
	if (took < 0)
		fail_msg("pw-1 still gets %ld 1 s after the subscription was lost (and could "
			 "not come back): the cached answer was not dropped", last);
	print_message("the lost subscription dropped the cache after %ld ms\n", took);
	expect_allow(d, "alice", "pw-2", "dev", "pw-2, read from Redis");

	/* While it cannot subscribe, nothing Redis answers is cached (no
	 * notice could drop it): another unannounced change counts at the
	 * next request, not when cache_ttl (60 s) ends. */
	hash = htpasswd_hash("pw-3");
	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "HSET", "proxyauth:user:alice",
				      "hash", hash, NULL), 0);
	free(hash);
	expect_deny(d, "alice", "pw-2", "pw-2 after a change made while unsubscribed");
	expect_allow(d, "alice", "pw-3", "dev", "pw-3, read from Redis");
	expect_allow(d, "alice", "pw-3", "dev", "pw-3, read from Redis again");
	pa_expect_last_decision(d, "cache", "miss");

	/* Down for 1.5 s: several attempts (back-off 250, 500, 1000 ms), and
	 * one line saying so, the loss, not one per attempt. */
	pa_sleep_ms(1500);
	log = pa_daemon_log(d);
	for (p = log; (p = strstr(p, "level=warn msg=\"redis: ")) != NULL; p++)
		downs++;
	if (downs != 1 || strstr(log, "redis: subscriber connection lost") == NULL)
		fail_msg("%d warnings about the subscriber, not one:\n%s", downs, log);
	free(log);
	assert_int_equal(pa_redis_cli(&t->rs, out, sizeof(out), "ACL", "SETUSER", "default",
				      "+subscribe", NULL), 0);
	if (!wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000))
		fail_msg("proxyauthd did not subscribe again within 3 s (back-off at most 2 s)");
	assert_true(pa_daemon_wait_log(d, "subscribed to proxyauth:invalidate again", 1, 2000));
	/* Subscribed again: answers are cached again. */
	expect_allow(d, "alice", "pw-3", "dev", "pw-3, subscribed again");
	expect_allow(d, "alice", "pw-3", "dev", "pw-3, subscribed again, cached");
	pa_expect_last_decision(d, "cache", "hit");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 6a'''. stale answers through an outage ------------------------------ */

/* With stale_grace, a Redis that goes away (the subscriber's connection
 * lost with it) leaves the cached grants usable stale: they are asked
 * again first and, with Redis down, answer logged cache=stale (they
 * were dropped on that loss before, so only 503s came).  Once Redis is
 * back with the password changed, the old one is refused at the first
 * try (asked again, never served from the cache while Redis answers),
 * and the new one works. */
static void
test_stale_through_outage(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d;

	start_redis(t);
	seed(&t->rs, "alice", "pw-1", "groups", "dev", NULL);
	d = start_daemon(t, t->rs.addr, "stale_grace = 60\n", "timeout_ms = 500\n");
	expect_allow(d, "alice", "pw-1", "dev", "alice, first");
	expect_allow(d, "alice", "pw-1", "dev", "alice, cached");
	pa_expect_last_decision(d, "cache", "hit");

	assert_int_equal(pa_redis_stop(&t->rs), 0);
	if (!pa_daemon_wait_log(d, "redis: subscriber connection lost", 1, 3000))
		fail_msg("the lost subscriber connection is not logged within 3 s of the stop");
	expect_allow(d, "alice", "pw-1", "dev", "alice, Redis down, within stale_grace");
	pa_expect_last_decision(d, "cache", "stale");
	expect_allow(d, "alice", "pw-1", "dev", "alice again, Redis still down");
	pa_expect_last_decision(d, "cache", "stale");
	expect_unavailable(d, "alice", "pw-2", "a password never cached, Redis down");

	/* Back, empty (nothing was saved), with alice's password changed. */
	assert_int_equal(pa_redis_restart(&t->rs), 0);
	seed(&t->rs, "alice", "pw-2", "groups", "dev", NULL);
	expect_deny(d, "alice", "pw-1", "the old password once Redis is back");
	pa_expect_last_decision(d, "cache", "miss");
	expect_allow(d, "alice", "pw-2", "dev", "the new password once Redis is back");
	expect_deny(d, "alice", "pw-1", "the old password, again");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 6b. a server that stops answering mid-run --------------------------- */

struct inflight {
	const struct pa_daemon *d;
	long status;
};

static void *
inflight_run(void *arg)
{
	struct inflight *x = arg;
	struct pa_resp r;

	x->status = ask(x->d, "carol", "carol-pw", &r) == 0 ? r.status : 0;
	pa_resp_free(&r);
	return NULL;
}

/* Sends SIGTERM and waits up to limit_ms for the daemon to exit.  Returns
 * the ms it took and its exit status in *status, or -1 after SIGKILLing
 * it when it did not exit in time. */
static long
sigterm_exit(struct pa_daemon *d, long limit_ms, int *status)
{
	long t0 = pa_now_ms();
	int st;

	assert_int_equal(pa_daemon_signal(d, SIGTERM), 0);
	while (pa_now_ms() - t0 < limit_ms) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return pa_now_ms() - t0;
		}
		pa_sleep_ms(20);
	}
	(void)pa_daemon_signal(d, SIGKILL);
	(void)pa_daemon_stop(d);
	*status = -1;
	return -1;
}

static void
test_frozen_server(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d, *d2, *d3;
	struct inflight x = { 0 };
	pthread_t th;
	char body[512];
	long t0, took, last;
	int status = -1;

	start_redis(t);
	seed(&t->rs, "alice", ALICE_PW, "groups", "dev", NULL);
	seed(&t->rs, "bob", "bob-pw", "groups", "staff", NULL);
	seed(&t->rs, "carol", "carol-pw", NULL);
	d = start_daemon(t, t->rs.addr, "", "timeout_ms = 300\n");
	expect_allow(d, "alice", ALICE_PW, "dev", "alice before the freeze");

	/* Pooled connections and the subscriber's stay open, unanswered. */
	assert_int_equal(pa_redis_freeze(&t->rs, true), 0);
	t0 = pa_now_ms();
	expect_unavailable(d, "bob", "bob-pw", "bob while Redis hangs");
	took = pa_now_ms() - t0;
	if (took >= 3000)
		fail_msg("the 503 took %ld ms with timeout_ms = 300", took);
	print_message("503 from a frozen server after %ld ms (timeout_ms = 300)\n", took);
	/* A fresh cached grant may still be used. */
	expect_allow(d, "alice", ALICE_PW, "dev", "alice, cached, while Redis hangs");
	pa_expect_last_decision(d, "cache", "hit");
	if (pa_wait_readyz(d, 503, 3000, body, sizeof(body)) < 0 || strstr(body, "redis") == NULL)
		fail_msg("/readyz while Redis hangs: '%s'", body);

	assert_int_equal(pa_redis_freeze(&t->rs, false), 0);
	if (wait_status(d, "bob", "bob-pw", 204, 5000, &last) < 0)
		fail_msg("bob still gets %ld 5 s after Redis answers again", last);
	if (pa_wait_readyz(d, 200, 5000, body, sizeof(body)) < 0)
		fail_msg("/readyz not 200 5 s after Redis answers again: '%s'", body);
	assert_int_equal(pa_daemon_stop(d), 0);

	/* SIGTERM while a lookup hangs on a long timeout_ms: requests in
	 * flight get up to 10 s (SPEC section 6), then the daemon exits 0. */
	d2 = start_daemon(t, t->rs.addr, "", "timeout_ms = 15000\n");
	expect_allow(d2, "alice", ALICE_PW, "dev", "alice, to open a pooled connection");
	assert_int_equal(pa_redis_freeze(&t->rs, true), 0);
	x.d = d2;
	assert_int_equal(pthread_create(&th, NULL, inflight_run, &x), 0);
	pa_sleep_ms(300);
	took = sigterm_exit(d2, 12000, &status);
	(void)pa_redis_freeze(&t->rs, false);
	pthread_join(th, NULL);
	if (took < 0)
		fail_msg("proxyauthd still running 12 s after SIGTERM, with one lookup hanging "
			 "on a frozen Redis (timeout_ms = 15000)");
	print_message("SIGTERM with a hung lookup: exit %d after %ld ms (the request got %ld)\n",
		      status, took, x.status);
	assert_int_equal(status, 0);

	/* The same with nothing in flight: only the readiness probe (every
	 * 2 s) and the subscriber wait on the frozen server.  Nothing is
	 * left to drain, so the daemon has no reason to wait the 10 s. */
	d3 = start_daemon(t, t->rs.addr, "", "timeout_ms = 15000\n");
	expect_allow(d3, "alice", ALICE_PW, "dev", "alice, to open a pooled connection");
	assert_int_equal(pa_redis_freeze(&t->rs, true), 0);
	pa_sleep_ms(2500);		/* a probe is now waiting on the frozen server */
	took = sigterm_exit(d3, 12000, &status);
	(void)pa_redis_freeze(&t->rs, false);
	if (took < 0)
		fail_msg("proxyauthd, idle, still running 12 s after SIGTERM while Redis hangs "
			 "(timeout_ms = 15000)");
	print_message("SIGTERM, idle, Redis frozen: exit %d after %ld ms\n", status, took);
	assert_int_equal(status, 0);
}

/* ---- 7. many users at once ----------------------------------------------- */

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
	struct rt *t = *state;
	struct pa_daemon *d;
	static struct job jobs[NCONC];
	pthread_t th[NCONC];
	pthread_barrier_t go;
	int i, round;

	start_redis(t);
	for (i = 0; i < NCONC; i++) {
		struct job *j = &jobs[i];

		memset(j, 0, sizeof(*j));
		snprintf(j->user, sizeof(j->user), "user%02d", i);
		snprintf(j->pw, sizeof(j->pw), "pw-%02d-%d", i, i * 7919);
		snprintf(j->groups, sizeof(j->groups), "g%02d,team", i);
		seed(&t->rs, j->user, j->pw, "groups", j->groups, NULL);
	}
	d = start_daemon(t, t->rs.addr, "", "pool_size = 4\n");
	/* The first round asks Redis for all of them; the second comes from
	 * the cache. */
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
			    strcmp(j->got_backend, "redis") != 0)
				fail_msg("round %d, %s: status %ld, X-Auth-User '%s' (x%d), "
					 "X-Auth-Groups '%s' (x%d), X-Auth-Backend '%s'; want "
					 "204, %s, %s, redis", round, j->user, j->status,
					 j->got_user, j->user_count, j->got_groups,
					 j->groups_count, j->got_backend, j->user, j->groups);
		}
	}
	if (redis_results(d, "granted") != NCONC)
		fail_msg("%g Redis lookups granted, want %d (one per user)",
			 redis_results(d, "granted"), NCONC);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- 8. proxyauth-passwd --redis ----------------------------------------- */

static void
test_passwd(void **state)
{
	struct rt *t = *state;
	struct pa_daemon *d, *d2;
	char v[512], out[1024], err[1024], adminfile[300], openfile[300], wrongfile[300];
	char deadaddr[64];
	const char *add[] = { "-C", "4", "--redis", NULL, "alice", "dev", NULL };
	const char *set[] = { "-C", "4", "--redis", NULL, "alice", NULL };
	const char *dis[] = { "--redis", NULL, "--disable", "alice", NULL };
	const char *del[] = { "--redis", NULL, "--delete", "alice", NULL };
	const char *ena[] = { "--redis", NULL, "--enable", "alice", NULL };
	const char *dis_none[] = { "--redis", NULL, "--disable", "nobody", NULL };
	const char *del_none[] = { "--redis", NULL, "--delete", "nobody", NULL };
	const char *other[] = { "-C", "4", "--redis", NULL, "--redis-db", "2", "--redis-prefix",
				"other:", "olga", "o", NULL };
	const char *admin[] = { "-C", "4", "--redis", NULL, "--redis-user", PA_REDIS_ADMIN_USER,
				"--redis-password-file", NULL, "adam", "adm", NULL };
	const char *dead[] = { "-C", "4", "--redis", deadaddr, "zoe", NULL };
	long took, last;
	int rc;

	start_redis(t);
	add[3] = set[3] = dis[1] = del[1] = ena[1] = dis_none[1] = del_none[1] = other[3] = t->rs.addr;
	admin[3] = t->rs.addr;
	passwd_ok(add, "alice-1");
	seed(&t->rs, "bob", "bob-pw", NULL);
	d = start_daemon(t, t->rs.addr, "", "");
	assert_true(wait_numsub(&t->rs, "proxyauth:invalidate", 1, 3000));
	expect_allow(d, "alice", "alice-1", "dev", "alice");
	expect_allow(d, "alice", "alice-1", "dev", "alice, cached");
	pa_expect_last_decision(d, "cache", "hit");

	/* --disable: disabled=1, announced. */
	passwd_ok(dis, NULL);
	hget(&t->rs, "alice", "disabled", v, sizeof(v));
	assert_string_equal(v, "1");
	hget(&t->rs, "alice", "hash", v, sizeof(v));
	assert_true(strncmp(v, "$2", 2) == 0);
	took = wait_status(d, "alice", "alice-1", 407, 1000, &last);
	if (took < 0)
		fail_msg("alice still gets %ld 1 s after --disable", last);

	/* A new password without GROUPS: enabled again, groups kept. */
	passwd_ok(set, "alice-2");
	hget(&t->rs, "alice", "disabled", v, sizeof(v));
	if (strcmp(v, "1") == 0)
		fail_msg("setting a password did not clear disabled");
	hget(&t->rs, "alice", "groups", v, sizeof(v));
	assert_string_equal(v, "dev");
	expect_allow(d, "alice", "alice-2", "dev", "alice enabled again with a new password");
	expect_deny(d, "alice", "alice-1", "alice's old password");

	/* --disable, then --enable: the same password works again. */
	passwd_ok(dis, NULL);
	if (wait_status(d, "alice", "alice-2", 407, 1000, &last) < 0)
		fail_msg("alice still gets %ld 1 s after the second --disable", last);
	passwd_ok(ena, NULL);
	hget(&t->rs, "alice", "disabled", v, sizeof(v));
	if (strcmp(v, "1") == 0)
		fail_msg("--enable left disabled=1");
	if (wait_status(d, "alice", "alice-2", 204, 1000, &last) < 0)
		fail_msg("alice gets %ld 1 s after --enable", last);

	/* --delete: the key goes, announced. */
	expect_allow(d, "alice", "alice-2", "dev", "alice, cached");
	pa_expect_last_decision(d, "cache", "hit");
	passwd_ok(del, NULL);
	assert_int_equal(key_exists(&t->rs, "alice"), 0);
	took = wait_status(d, "alice", "alice-2", 407, 1000, &last);
	if (took < 0)
		fail_msg("alice still gets %ld 1 s after --delete", last);

	/* Unknown users: an error, and nothing is created. */
	rc = pa_passwd_run(dis_none, NULL, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		fail_msg("--disable of an unknown user exited 0: %s%s", out, err);
	rc = pa_passwd_run(del_none, NULL, out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		fail_msg("--delete of an unknown user exited 0: %s%s", out, err);
	assert_int_equal(key_exists(&t->rs, "nobody"), 0);
	expect_allow(d, "bob", "bob-pw", "", "bob untouched");

	/* Another database and prefix, and a daemon that reads them. */
	passwd_ok(other, "olga-1");
	assert_int_equal(pa_redis_int(&t->rs, "-n", "2", "EXISTS", "other:user:olga", NULL), 1);
	assert_int_equal(pa_redis_int(&t->rs, "EXISTS", "other:user:olga", NULL), 0);
	d2 = start_daemon(t, t->rs.addr, "", "db = 2\nkey_prefix = other:\n");
	assert_true(wait_numsub(&t->rs, "other:invalidate", 1, 3000));
	expect_allow(d2, "olga", "olga-1", "o", "olga in db 2 under other:");
	expect_deny(d, "olga", "olga-1", "olga is not in db 0 under proxyauth:");
	expect_deny(d2, "bob", "bob-pw", "bob is not in db 2 under other:");
	other[9] = NULL;	/* no GROUPS: keep them */
	passwd_ok(other, "olga-2");
	if (wait_status(d2, "olga", "olga-1", 407, 1000, &last) < 0)
		fail_msg("olga's old password still gets %ld 1 s after the change (other:invalidate)",
			 last);
	expect_allow(d2, "olga", "olga-2", "o", "olga's new password");

	/* As an ACL user with a password file. */
	snprintf(adminfile, sizeof(adminfile), "%s/admin.pw", t->f->dir);
	snprintf(openfile, sizeof(openfile), "%s/open.pw", t->f->dir);
	snprintf(wrongfile, sizeof(wrongfile), "%s/wrong.pw", t->f->dir);
	assert_int_equal(pa_write_file(adminfile, PA_REDIS_ADMIN_PASSWORD "\n"), 0);
	assert_int_equal(pa_write_file(openfile, PA_REDIS_ADMIN_PASSWORD "\n"), 0);
	assert_int_equal(chmod(openfile, 0644), 0);
	assert_int_equal(pa_write_file(wrongfile, "not-the-admin-password\n"), 0);
	admin[7] = adminfile;
	passwd_ok(admin, "adam-pw");
	expect_allow(d, "adam", "adam-pw", "adm", "adam, written by ACL user admin");
	admin[7] = wrongfile;
	rc = pa_passwd_run(admin, "adam-pw2", out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		fail_msg("--redis with a wrong ACL password exited 0: %s%s", out, err);
	admin[7] = openfile;
	rc = pa_passwd_run(admin, "adam-pw3", out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		fail_msg("--redis-password-file readable by others was accepted: %s%s", out, err);
	expect_allow(d, "adam", "adam-pw", "adm", "adam unchanged by the refused runs");

	/* Nothing listening: an error, not a hang. */
	snprintf(deadaddr, sizeof(deadaddr), "127.0.0.1:%d", pa_free_port());
	rc = pa_passwd_run(dead, "zoe-pw", out, sizeof(out), err, sizeof(err));
	if (rc == 0)
		fail_msg("--redis to an address where nothing listens exited 0");

	assert_int_equal(pa_daemon_stop(d), 0);
	assert_int_equal(pa_daemon_stop(d2), 0);
}

/* A cached grant ends with the account: cache_ttl is 60 s, the user
 * expires about 2.5 s after the first grant, and from then on every answer
 * is a deny (the first within a second of `expires`, no allow begun 0.2 s
 * after it).  Before, the cached grant went on for the whole TTL. */
static void
test_expiry_ends_cached_grant(void **state)
{
	struct rt *t = *state;
	struct pa_expiry_seen seen;
	struct pa_daemon *d;
	char exp[32], *log;
	long long expires;

	start_redis(t);
	expires = (long long)(pa_wall_ms() / 1000) + 3;
	snprintf(exp, sizeof(exp), "%lld", expires);
	seed(&t->rs, "exa", "exa-pw", "groups", "g", "expires", exp, NULL);
	d = start_daemon(t, t->rs.addr, "", "");
	expect_allow(d, "exa", "exa-pw", "g", "exa before it expires");
	pa_watch_expiry(d, "exa", "exa-pw", (int64_t)expires * 1000, &seen);
	log = pa_daemon_log(d);
	if (pa_count(log, "cache=hit") < 1 || seen.allows_before < 2) {
		free(log);
		fail_msg("the grant was not served from the cache before expiry (%d allows)",
			 seen.allows_before);
	}
	free(log);
	if (!seen.denied || seen.first_deny > 1000)
		fail_msg("first deny %ld ms after expires (want <= 1000)",
			 seen.denied ? seen.first_deny : -1L);
	if (seen.allowed_after && seen.last_allow > 200)
		fail_msg("allowed %ld ms after expires", seen.last_allow);
	print_message("redis expiry: first deny %ld ms after expires, %d cached allows before\n",
		      seen.first_deny, seen.allows_before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_chain, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_chain_look_alike, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_passwd_look_alike, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_expiry_ends_cached_grant, rt_setup,
						rt_teardown),
		cmocka_unit_test_setup_teardown(test_odd_names, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_blank_edged_names, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_chain_stored_spelling, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_acl_user, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_invalidation, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_redis_down, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_hung_server, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_one_timeout_per_lookup, rt_setup,
						rt_teardown),
		cmocka_unit_test_setup_teardown(test_drop_on_subscription_loss, rt_setup,
						rt_teardown),
		cmocka_unit_test_setup_teardown(test_stale_through_outage, rt_setup,
						rt_teardown),
		cmocka_unit_test_setup_teardown(test_frozen_server, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_passwd, rt_setup, rt_teardown),
	};

	pa_harness_init();
	pa_scrub_environment();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
