/*
 * Unit tests for the stateful half of lib/pipeline.c (SPEC section 5): the
 * answer cache, stale answers, brute-force lockouts, coalescing and the
 * metrics they move.  The pipeline is built by hand around the real cache,
 * flights, lockout counters and metrics, with the chain faked by one
 * counting backend, so every test can say exactly how many backend
 * lookups a sequence of requests caused.  One test opens a pipeline from
 * a configuration file instead, to reach the invalidate hook and the
 * metrics observer that pa_pipeline_open() installs.
 *
 * Threads never call cmocka: they record what they saw and the main
 * thread asserts on it after joining them.
 */
#include "scratch.h"
#include "logcheck.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "pipeline.h"

#define RIGHT_PW "Right-Horse-Battery-7"
#define WRONG_PW "Wrong-Staple-9"

/* The fake backend.  It grants password (any when NULL) to any user,
 * denies other passwords, or answers answer when that is not PA_GRANTED.
 * With quorum > 0 it first waits until *started reaches quorum, then
 * sleeps delay_ms, so that every thread of a test has joined the flight
 * before the leader returns. */
struct fake {
	enum pa_result answer;
	const char *password;
	const char *canon;	/* canonical name returned; NULL: the login */
	const char *groups;
	atomic_int calls;
	atomic_int *started;
	int quorum;
	int delay_ms;
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static enum pa_result
fake_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	    struct pa_error *err)
{
	struct fake *fk = ctx;
	int waited;

	atomic_fetch_add(&fk->calls, 1);
	if (fk->quorum > 0)
		for (waited = 0; atomic_load(fk->started) < fk->quorum && waited < 10000; waited++)
			sleep_ms(1);
	if (fk->delay_ms > 0)
		sleep_ms(fk->delay_ms);
	if (fk->answer == PA_UNAVAILABLE) {
		pa_error_set(err, "fake: connection refused");
		return PA_UNAVAILABLE;
	}
	if (fk->answer != PA_GRANTED)
		return fk->answer;
	if (fk->password != NULL && (cred->password_len != strlen(fk->password) ||
				     memcmp(cred->password, fk->password, cred->password_len) != 0))
		return PA_DENIED;
	snprintf(who->user, sizeof(who->user), "%s", fk->canon != NULL ? fk->canon : cred->user);
	snprintf(who->groups, sizeof(who->groups), "%s", fk->groups);
	return PA_GRANTED;
}

static int
fake_probe(void *ctx, struct pa_error *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static void
fake_close(void *ctx)
{
	(void)ctx;
}

static const struct pa_backend_ops fake_ops = {
	.name = "fake", .verify = fake_verify, .probe = fake_probe, .close = fake_close,
};

/* The metrics observer pa_pipeline_open() installs, for hand-built
 * pipelines (the real one is static in pipeline.c). */
static void
observe(void *arg, int link, enum pa_result r, uint64_t us)
{
	struct pa_metrics *m = arg;

	atomic_fetch_add(&m->backend_requests[link][r], 1);
	pa_metrics_observe(&m->backend_duration[link], us);
}

struct fx {
	int logfd[2];
	struct pa_log log;
	struct pa_pipeline p;
	struct fake fk;
	char groups[64];
	struct pa_rule rule[2];
	char line[32768];
	char dir[SCRATCH_PATH_MAX];
	struct pa_config cfg;
	bool opened;		/* p came from pa_pipeline_open() */
};

static void
set_require(struct fx *f, const char *groups)
{
	snprintf(f->groups, sizeof(f->groups), "%s", groups);
	f->p.rules.server_groups = f->groups;
}

/* Replaces the lockout counters (max_failures 0: none). */
static void
set_lockout(struct fx *f, long max_failures, uint64_t window_ms, uint64_t lockout_ms)
{
	struct pa_lockout_opts o = { max_failures, window_ms, lockout_ms, 3600000, 64, 1000 };

	assert_int_equal(pa_pipeline_set_lockout(&f->p, &o, NULL), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	scratch_pipe(f->logfd);
	pa_log_init(&f->log, f->logfd[1], "text", "info");
	f->p.log = &f->log;
	f->p.chain.links[0].ops = &fake_ops;
	f->p.chain.links[0].ctx = &f->fk;
	f->p.chain.n = 1;
	f->p.cache = pa_cache_new(1000, NULL);
	f->p.flights = pa_flights_new();
	f->p.metrics = calloc(1, sizeof(*f->p.metrics));
	if (f->p.cache == NULL || f->p.flights == NULL || f->p.metrics == NULL)
		return -1;
	set_lockout(f, 0, 60000, 300000);
	f->p.chain.observe = observe;
	f->p.chain.observe_arg = f->p.metrics;
	f->p.ttl_ms = 60000;
	f->p.negative_ttl_ms = 5000;
	f->fk.answer = PA_GRANTED;
	f->fk.password = RIGHT_PW;
	f->fk.groups = "staff";
	atomic_init(&f->fk.calls, 0);
	set_require(f, "");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->opened) {
		pa_pipeline_close(&f->p);
		pa_config_free(&f->cfg);
	} else {
		pa_cache_free(f->p.cache);
		pa_flights_free(f->p.flights);
		pa_lockout_free(f->p.lockout);
		free(f->p.metrics);
	}
	if (f->dir[0] != '\0')
		scratch_rmdir(f->dir);
	close(f->logfd[0]);
	close(f->logfd[1]);
	free(f);
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

/* The inputs of one request, with credentials from a raw header value
 * (NULL: none) the way the HTTP front parses them. */
static void
fill_hdr(struct pa_decision *d, const char *hdr, const char *client, const char *host,
	 const char *uri)
{
	memset(d, 0, sizeof(*d));
	d->profile = PA_PROFILE_AUTH;
	snprintf(d->client, sizeof(d->client), "%s", client != NULL ? client : "192.0.2.7");
	d->host = host;
	d->host_len = host != NULL ? strlen(host) : 0;
	d->uri = uri;
	d->uri_len = uri != NULL ? strlen(uri) : 0;
	d->start_us = pa_now_us();
	d->cred_status = pa_credentials_parse(hdr, hdr != NULL ? strlen(hdr) : 0, &d->cred,
					      &d->cred_why);
}

static void
fill(struct pa_decision *d, const char *user, const char *password, const char *client,
     const char *host, const char *uri)
{
	char text[PA_USER_MAX + PA_PASSWORD_MAX + 2], hdr[sizeof(text) * 4 / 3 + 16];

	snprintf(text, sizeof(text), "%s:%s", user, password);
	memcpy(hdr, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)hdr + 6, (const unsigned char *)text, (int)strlen(text));
	fill_hdr(d, hdr, client, host, uri);
}

/* Runs the request as the HTTP front does; true when begin decided it
 * (no worker, no backend). */
static bool
run(const struct pa_pipeline *p, struct pa_decision *d)
{
	bool decided = pa_decide_begin(p, d);

	if (!decided)
		pa_decide_lookup(p, d);
	pa_decide_end(p, d);
	return decided;
}

static bool
decide_at(struct fx *f, struct pa_decision *d, const char *user, const char *password,
	  const char *client, const char *host, const char *uri)
{
	bool decided;

	fill(d, user, password, client, host, uri);
	decided = run(&f->p, d);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	return decided;
}

static bool
decide(struct fx *f, struct pa_decision *d, const char *user, const char *password)
{
	return decide_at(f, d, user, password, NULL, NULL, NULL);
}

static int
calls(struct fx *f)
{
	return atomic_load(&f->fk.calls);
}

static uint64_t
counter(const atomic_uint_fast64_t *c)
{
	return atomic_load(c);
}

#define EXPECT_OUTCOME(d, want)							\
	do {									\
		if ((d)->outcome != (want))					\
			fail_msg("outcome %s, want %s", pa_outcome_name((d)->outcome), \
				 pa_outcome_name(want));			\
	} while (0)

static void
expect_cache(const struct pa_decision *d, const char *want)
{
	if (want == NULL ? d->cache != NULL : d->cache == NULL || strcmp(d->cache, want) != 0)
		fail_msg("cache '%s', want '%s'", d->cache ? d->cache : "(none)",
			 want ? want : "(none)");
}

static void
expect_has(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL)
		fail_msg("log lacks '%s': %s", needle, text);
}

static void
expect_lacks(const char *text, const char *needle)
{
	if (strstr(text, needle) != NULL)
		fail_msg("log holds '%s': %s", needle, text);
}

/* The decision line among what was drained (the last line holding
 * " outcome="), parsed; fails unless it is well-formed with unique keys. */
static void
decision_line(const struct fx *f, struct logcheck *lc)
{
	char one[8192];
	const char *p, *nl, *found = NULL;
	size_t n;

	for (p = f->line; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if (memmem(p, (size_t)(nl - p), " outcome=", 9) != NULL)
			found = p;
	if (found == NULL)
		fail_msg("no decision line in: %s", f->line);
	n = (size_t)(strchr(found, '\n') - found) + 1;
	if (n >= sizeof(one))
		fail_msg("decision line too long");
	memcpy(one, found, n);
	one[n] = '\0';
	if (!logcheck_parse(one, false, lc) || !logcheck_unique(lc))
		fail_msg("malformed decision line: %s", one);
}

/* Lines of text holding needle. */
static int
lines_with(const char *text, const char *needle)
{
	const char *p, *nl;
	int n = 0;

	for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if (memmem(p, (size_t)(nl - p), needle, strlen(needle)) != NULL)
			n++;
	return n;
}

static void
expect_field(const struct fx *f, const char *key, const char *want)
{
	struct logcheck lc;
	const char *v;

	decision_line(f, &lc);
	v = logcheck_get(&lc, key);
	if (want == NULL ? v != NULL : v == NULL || strcmp(v, want) != 0)
		fail_msg("field %s is '%s', want '%s': %s", key, v ? v : "(absent)",
			 want ? want : "(absent)", f->line);
}

/* ---- cache --------------------------------------------------------------- */

static void
test_second_request_is_a_hit(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	expect_cache(&d, "miss");
	assert_int_equal(calls(f), 1);
	expect_field(f, "cache", "miss");

	/* Decided in begin, on the event loop: no worker, no backend. */
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	expect_cache(&d, "hit");
	assert_int_equal(calls(f), 1);
	assert_string_equal(d.who.user, "alice");
	assert_string_equal(d.who.groups, "staff");
	assert_string_equal(d.backend, "fake");
	expect_field(f, "cache", "hit");
	expect_field(f, "outcome", "allow");
	expect_field(f, "backend", "fake");
	expect_field(f, "user", "alice");
	expect_lacks(f->line, RIGHT_PW);

	/* Another password, or another spelling of the name, is another key. */
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	expect_cache(&d, "miss");
	assert_false(decide(f, &d, "Alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_string_equal(d.who.user, "Alice");
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	assert_int_equal(calls(f), 4);
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "hit");
	assert_string_equal(d.who.user, "alice");
	assert_int_equal(calls(f), 4);

	assert_int_equal(counter(&f->p.metrics->cache_hits), 2);
	assert_int_equal(counter(&f->p.metrics->cache_misses), 4);
	assert_int_equal(counter(&f->p.metrics->requests[PA_PROFILE_AUTH][PA_OUT_ALLOW]), 5);
	assert_int_equal(counter(&f->p.metrics->requests[PA_PROFILE_AUTH][PA_OUT_DENY]), 1);
	assert_int_equal(counter(&f->p.metrics->backend_requests[0][PA_GRANTED]), 3);
	assert_int_equal(counter(&f->p.metrics->backend_requests[0][PA_DENIED]), 1);
	assert_int_equal(pa_cache_entries(f->p.cache), 4);
}

/* A request that missed in begin finds the answer another request stored
 * while it waited for a worker, and asks no backend. */
static void
test_filled_while_waiting(void **state)
{
	struct fx *f = *state;
	struct pa_decision waiting, other;

	fill(&waiting, "alice", RIGHT_PW, NULL, NULL, NULL);
	assert_false(pa_decide_begin(&f->p, &waiting));
	assert_false(decide(f, &other, "alice", RIGHT_PW));
	assert_int_equal(calls(f), 1);
	pa_decide_lookup(&f->p, &waiting);
	pa_decide_end(&f->p, &waiting);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	EXPECT_OUTCOME(&waiting, PA_OUT_ALLOW);
	expect_cache(&waiting, "hit");
	assert_string_equal(waiting.who.user, "alice");
	assert_int_equal(calls(f), 1);
}

static void
test_negative_ttl(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	f->p.negative_ttl_ms = 100;
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_true(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	expect_cache(&d, "hit");
	expect_field(f, "cache", "hit");
	expect_field(f, "outcome", "deny");
	assert_int_equal(calls(f), 1);
	assert_string_equal(d.who.user, "");

	/* The denial is for that password only. */
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_int_equal(calls(f), 2);

	/* Gone after negative_ttl, while the grant (cache_ttl) stays. */
	sleep_ms(150);
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_int_equal(calls(f), 3);
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	assert_int_equal(calls(f), 3);

	/* "Not found" anywhere is kept as a denial too, without a backend. */
	f->p.negative_ttl_ms = 5000;
	f->fk.answer = PA_NOT_FOUND;
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_true(decide(f, &d, "nobody", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_null(d.backend);
	assert_int_equal(calls(f), 4);

	/* negative_ttl 0 keeps no denial. */
	f->p.negative_ttl_ms = 0;
	f->fk.answer = PA_GRANTED;
	assert_false(decide(f, &d, "bob", WRONG_PW));
	assert_false(decide(f, &d, "bob", WRONG_PW));
	assert_int_equal(calls(f), 6);

	/* Grants expire after cache_ttl; cache_ttl 0 keeps none. */
	f->p.ttl_ms = 100;
	assert_false(decide(f, &d, "carol", RIGHT_PW));
	assert_true(decide(f, &d, "carol", RIGHT_PW));
	sleep_ms(150);
	assert_false(decide(f, &d, "carol", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_int_equal(calls(f), 8);
	f->p.ttl_ms = 0;
	assert_false(decide(f, &d, "dave", RIGHT_PW));
	assert_false(decide(f, &d, "dave", RIGHT_PW));
	assert_int_equal(calls(f), 10);
}

static char rule_admin_host[] = "app.example.org", rule_admin_path[] = "/admin",
	    rule_admin_groups[] = "admins", rule_open_host[] = "", rule_open_path[] = "/public",
	    rule_open_groups[] = "";

/* Authorisation applies to cached grants as it does to fresh ones. */
static void
test_cached_grant_rechecked(void **state)
{
	static const struct {
		const char *host, *uri;
		enum pa_outcome want;
		const char *rule;
	} cases[] = {
		{ "app.example.org", "/admin/users", PA_OUT_FORBIDDEN, "admin" },
		{ "APP.example.org:443", "/admin", PA_OUT_FORBIDDEN, "admin" },
		{ "app.example.org", "/public/../admin", PA_OUT_FORBIDDEN, NULL },	/* ambiguous */
		{ "app.example.org", "/%61dmin", PA_OUT_FORBIDDEN, "admin" },
		{ "app.example.org", "/admin//?x=1", PA_OUT_FORBIDDEN, "admin" },
		{ "app.example.org", "//x/admin", PA_OUT_FORBIDDEN, NULL },	/* ambiguous */
		{ "other.example.org", "/admin", PA_OUT_ALLOW, NULL },
		{ NULL, "/admin", PA_OUT_ALLOW, NULL },
		{ "app.example.org", "/public/x", PA_OUT_ALLOW, "open" },
		{ "app.example.org", "/a%zz", PA_OUT_FORBIDDEN, NULL },
	};
	struct fx *f = *state;
	struct pa_decision d;
	size_t i;

	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	set_require(f, "admins");
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "hit");
	EXPECT_OUTCOME(&d, PA_OUT_FORBIDDEN);
	expect_field(f, "outcome", "forbidden");
	expect_field(f, "cache", "hit");
	set_require(f, "admins,staff");
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	set_require(f, "staff");
	f->rule[0] = (struct pa_rule){ "admin", rule_admin_host, rule_admin_path,
				       rule_admin_groups, false };
	f->rule[1] = (struct pa_rule){ "open", rule_open_host, rule_open_path, rule_open_groups,
				       false };
	f->p.rules.v = f->rule;
	f->p.rules.n = 2;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(decide_at(f, &d, "alice", RIGHT_PW, NULL, cases[i].host,
				      cases[i].uri));
		expect_cache(&d, "hit");
		if (d.outcome != cases[i].want)
			fail_msg("host %s uri %s: %s, want %s", cases[i].host, cases[i].uri,
				 pa_outcome_name(d.outcome), pa_outcome_name(cases[i].want));
		if (cases[i].rule == NULL ? d.rule != NULL
					  : d.rule == NULL || strcmp(d.rule, cases[i].rule) != 0)
			fail_msg("host %s uri %s: rule %s, want %s", cases[i].host, cases[i].uri,
				 d.rule ? d.rule : "(none)", cases[i].rule ? cases[i].rule : "(none)");
		expect_field(f, "rule", cases[i].rule);
	}
	expect_has(f->line, "ambiguous");	/* the last case says why */
	assert_int_equal(calls(f), 1);

	/* A cached denial stays a deny, whatever the rules say. */
	assert_false(decide_at(f, &d, "alice", WRONG_PW, NULL, "app.example.org", "/public"));
	assert_true(decide_at(f, &d, "alice", WRONG_PW, NULL, "app.example.org", "/public"));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_int_equal(calls(f), 2);
	f->p.rules.v = NULL;
	f->p.rules.n = 0;
}

static void
test_invalidate_user(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	/* A backend that answers the canonical name for another spelling. */
	f->fk.canon = "alice";
	assert_false(decide(f, &d, "ALICE", RIGHT_PW));
	assert_string_equal(d.who.user, "alice");
	f->fk.canon = NULL;
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	assert_false(decide(f, &d, "bob", WRONG_PW));
	assert_int_equal(calls(f), 3);
	assert_int_equal(pa_cache_entries(f->p.cache), 3);

	assert_int_equal(pa_cache_invalidate_user(f->p.cache, "carol"), 0);
	assert_true(decide(f, &d, "ALICE", RIGHT_PW));

	/* By the canonical name, whatever the login's case. */
	assert_int_equal(pa_cache_invalidate_user(f->p.cache, "alice"), 1);
	f->fk.canon = "alice";
	assert_false(decide(f, &d, "ALICE", RIGHT_PW));
	expect_cache(&d, "miss");
	assert_int_equal(calls(f), 4);
	assert_true(decide(f, &d, "bob", RIGHT_PW));

	/* Grants and denials alike, by the login name in any case. */
	assert_int_equal(pa_cache_invalidate_user(f->p.cache, "Bob"), 2);
	f->fk.canon = NULL;
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	assert_false(decide(f, &d, "bob", WRONG_PW));
	assert_int_equal(calls(f), 6);
}

/* ---- stale_grace --------------------------------------------------------- */

static void
test_stale_grace(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	f->p.ttl_ms = 50;
	f->p.stale_grace_ms = 5000;
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	sleep_ms(80);

	/* Past the TTL the backend is asked first; when it is down, the
	 * grant stands in, logged as stale. */
	f->fk.answer = PA_UNAVAILABLE;
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	expect_cache(&d, "stale");
	assert_int_equal(calls(f), 2);
	assert_string_equal(d.who.user, "alice");
	assert_string_equal(d.who.groups, "staff");
	assert_string_equal(d.backend, "fake");
	expect_field(f, "cache", "stale");
	expect_field(f, "outcome", "allow");
	expect_has(f->line, "stale");

	/* Only for the password it was granted for. */
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);

	/* A stale grant is authorised like a fresh one. */
	set_require(f, "admins");
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_FORBIDDEN);
	expect_cache(&d, "stale");
	set_require(f, "");

	/* Further past the TTL than stale_grace: no answer at all. */
	f->p.stale_grace_ms = 10;
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
	assert_string_equal(d.who.user, "");
	expect_field(f, "outcome", "unavailable");

	/* stale_grace 0 (the default): never. */
	f->fk.answer = PA_GRANTED;
	f->p.stale_grace_ms = 0;
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	sleep_ms(80);
	f->fk.answer = PA_UNAVAILABLE;
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
}

/* fallthrough_unavailable: a grant from a later backend (a break-glass
 * htpasswd) while the first one (LDAP) is down stands on that outage, not
 * on the first backend's "not found".  Cached for cache_ttl, it kept
 * answering after LDAP was back and would have refused it (the password
 * changed there, the account disabled).  It is asked again each time. */
static const struct pa_backend_ops glass_ops = {
	.name = "glass", .verify = fake_verify, .probe = fake_probe, .close = fake_close,
};

/* Puts glass, granting password to anyone with groups admins, second
 * in the chain, behind f's fake, with fallthrough_unavailable. */
static void
add_glass(struct fx *f, struct fake *glass, const char *password)
{
	memset(glass, 0, sizeof(*glass));
	glass->answer = PA_GRANTED;
	glass->password = password;
	glass->groups = "admins";
	atomic_init(&glass->calls, 0);
	f->p.chain.links[1].ops = &glass_ops;
	f->p.chain.links[1].ctx = glass;
	f->p.chain.n = 2;
	f->p.chain.fallthrough_unavailable = true;
}

static void
test_grant_past_unavailable_not_cached(void **state)
{
	struct fx *f = *state;
	struct fake glass;
	struct pa_decision d;

	/* the old password, still in the file */
	add_glass(f, &glass, WRONG_PW);

	f->fk.answer = PA_UNAVAILABLE;
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_string_equal(d.backend, "glass");

	/* The first backend is back, and refuses that password. */
	f->fk.answer = PA_GRANTED;
	assert_false(decide(f, &d, "alice", WRONG_PW));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_int_equal(calls(f), 2);
	assert_int_equal(atomic_load(&glass.calls), 1);
	f->p.chain.n = 1;
}

/* While the first backend is down, a wrong password for a break-glass
 * account answers 503 (SPEC: any unavailable without a grant) and a right
 * one 204: a password oracle.  Those wrong passwords were not counted, so
 * an outage (which an attacker may cause) gave unlimited guesses at the
 * break-glass accounts.  They count now; the answer stays 503. */
static void
test_denied_past_unavailable_counts(void **state)
{
	struct fx *f = *state;
	struct fake glass;
	struct pa_decision d;
	int before;

	add_glass(f, &glass, RIGHT_PW);
	set_lockout(f, 3, 60000, 300000);
	f->fk.answer = PA_UNAVAILABLE;

	assert_false(decide_at(f, &d, "root", "guess-1", "198.51.100.2", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
	assert_false(decide_at(f, &d, "root", "guess-2", "198.51.100.3", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
	assert_false(decide_at(f, &d, "root", "guess-3", "198.51.100.4", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 1);

	/* The right password now: locked, and no backend asked. */
	before = atomic_load(&glass.calls);
	assert_true(decide_at(f, &d, "root", RIGHT_PW, "198.51.100.5", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(atomic_load(&glass.calls), before);

	/* Not found anywhere past an outage is no guess at a password a
	 * backend holds: still 503 and not counted (the outage may hide the
	 * user). */
	glass.answer = PA_NOT_FOUND;
	assert_false(decide_at(f, &d, "nobody", "x", "198.51.100.6", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
	f->p.chain.n = 1;
}

/* While the backend answers, a grant past its TTL is never used: its
 * answer wins, and replaces the grant for later outages too. */
static void
test_stale_not_while_answering(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	static const enum pa_result answers[] = { PA_DENIED, PA_NOT_FOUND };
	static const uint64_t negative_ttls[] = { 5000, 0 };
	char user[32];
	size_t i, k;

	f->p.ttl_ms = 50;
	f->p.stale_grace_ms = 60000;
	for (i = 0; i < 2; i++) {
		for (k = 0; k < 2; k++) {
			snprintf(user, sizeof(user), "user%zu%zu", i, k);
			f->p.negative_ttl_ms = negative_ttls[k];
			f->fk.answer = PA_GRANTED;
			assert_false(decide(f, &d, user, RIGHT_PW));
			EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
			sleep_ms(80);

			/* The password was changed, or the user removed. */
			f->fk.answer = answers[i];
			assert_false(decide(f, &d, user, RIGHT_PW));
			EXPECT_OUTCOME(&d, PA_OUT_DENY);
			expect_cache(&d, "miss");

			/* Then the backend goes down: the old grant must not
			 * come back, whether or not the denial was kept. */
			f->fk.answer = PA_UNAVAILABLE;
			decide(f, &d, user, RIGHT_PW);
			if (d.outcome == PA_OUT_ALLOW)
				fail_msg("%s (backend said %s, negative_ttl %llu): a grant the "
					 "backend since refused was used stale", user,
					 i == 0 ? "denied" : "not found",
					 (unsigned long long)negative_ttls[k]);
			if (k == 0)
				EXPECT_OUTCOME(&d, PA_OUT_DENY);	/* the kept denial */
			else
				EXPECT_OUTCOME(&d, PA_OUT_UNAVAILABLE);
		}
	}
}

/* ---- lockout ------------------------------------------------------------- */

static void
test_lockout_user(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	int before;

	set_lockout(f, 3, 60000, 300000);
	/* A grant in the cache, to show it does not get past a lockout. */
	assert_false(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.1", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	/* One failure from each of three addresses, under three spellings:
	 * only the user's count reaches max_failures. */
	assert_false(decide_at(f, &d, "alice", "wrong-1", "198.51.100.2", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_false(decide_at(f, &d, "Alice", "wrong-2", "198.51.100.3", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 0);
	assert_false(decide_at(f, &d, "ALICE", "wrong-3", "198.51.100.4", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	expect_has(f->line, "lockout: user");
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 1);
	assert_int_equal(counter(&f->p.metrics->lockouts_address), 0);

	/* The right password now: refused in begin, no backend, no cache. */
	before = calls(f);
	assert_true(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.5", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	expect_cache(&d, NULL);
	assert_null(d.backend);
	assert_string_equal(d.who.user, "");
	assert_int_equal(calls(f), before);
	expect_field(f, "outcome", "locked");
	expect_field(f, "user", "alice");
	expect_field(f, "level", "warn");
	expect_has(f->line, "user locked out");
	expect_lacks(f->line, RIGHT_PW);
	assert_true(decide_at(f, &d, "aLiCe", RIGHT_PW, "198.51.100.6", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(calls(f), before);
	/* Spaces LDAP ignores do not make another user either. */
	assert_true(decide_at(f, &d, " alice", RIGHT_PW, "198.51.100.6", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_true(decide_at(f, &d, "ALICE  ", RIGHT_PW, "198.51.100.6", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(calls(f), before);

	/* Locked attempts neither count nor start another lockout. */
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 1);
	assert_int_equal(counter(&f->p.metrics->requests[PA_PROFILE_AUTH][PA_OUT_LOCKED]), 4);

	/* Another user, from another address, is not locked, nor is one
	 * whose name only contains alice's. */
	assert_false(decide_at(f, &d, "bob", RIGHT_PW, "198.51.100.7", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_false(decide_at(f, &d, "al ice", RIGHT_PW, "198.51.100.8", NULL, NULL));
	assert_int_not_equal(d.outcome, PA_OUT_LOCKED);
}

/* Denials from the cache count like fresh ones, and like them a wrong
 * password repeated (a client with a stale saved password) counts once. */
static void
test_lockout_counts_cached_denials(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	set_lockout(f, 3, 60000, 300000);
	assert_false(decide_at(f, &d, "alice", WRONG_PW, "198.51.100.1", NULL, NULL));
	assert_true(decide_at(f, &d, "alice", WRONG_PW, "198.51.100.2", NULL, NULL));
	expect_cache(&d, "hit");
	assert_true(decide_at(f, &d, "alice", WRONG_PW, "198.51.100.3", NULL, NULL));
	assert_int_equal(calls(f), 1);
	assert_false(decide_at(f, &d, "alice", "wrong-2", "198.51.100.4", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	assert_false(decide_at(f, &d, "alice", "wrong-3", "198.51.100.5", NULL, NULL));
	assert_true(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.6", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(calls(f), 3);
}

static void
test_lockout_address(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	int before;

	set_lockout(f, 3, 60000, 300000);
	assert_false(decide_at(f, &d, "u1", WRONG_PW, "203.0.113.7", NULL, NULL));
	assert_false(decide_at(f, &d, "u2", WRONG_PW, "203.0.113.7", NULL, NULL));
	assert_false(decide_at(f, &d, "u3", WRONG_PW, "203.0.113.7", NULL, NULL));
	expect_has(f->line, "lockout: address 203.0.113.7");
	assert_int_equal(counter(&f->p.metrics->lockouts_address), 1);
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 0);

	/* Every user from that address, right password or not. */
	before = calls(f);
	assert_true(decide_at(f, &d, "bob", RIGHT_PW, "203.0.113.7", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	expect_has(f->line, "address locked out");
	expect_field(f, "client", "203.0.113.7");
	assert_true(decide_at(f, &d, "u1", RIGHT_PW, "203.0.113.7", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(calls(f), before);

	/* The same users from elsewhere are fine. */
	assert_false(decide_at(f, &d, "bob", RIGHT_PW, "203.0.113.8", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_false(decide_at(f, &d, "u1", RIGHT_PW, "203.0.113.8", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
}

static void
test_lockout_ends_and_resets(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char client[32], pw[32];
	int i;

	set_lockout(f, 3, 60000, 100);
	for (i = 0; i < 3; i++) {
		snprintf(client, sizeof(client), "198.51.100.%d", 10 + i);
		snprintf(pw, sizeof(pw), "wrong-%d", i);
		decide_at(f, &d, "alice", pw, client, NULL, NULL);
	}
	assert_true(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.20", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	sleep_ms(150);
	assert_false(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.20", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	/* A success forgets only its own address's failures: those from
	 * elsewhere still lock the user, except for the address that
	 * succeeded (known good). */
	set_lockout(f, 3, 60000, 300000);
	decide_at(f, &d, "bob", "wrong-a", "198.51.100.30", NULL, NULL);
	decide_at(f, &d, "bob", "wrong-b", "198.51.100.31", NULL, NULL);
	decide_at(f, &d, "bob", RIGHT_PW, "198.51.100.32", NULL, NULL);
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	decide_at(f, &d, "bob", "wrong-c", "198.51.100.33", NULL, NULL);
	assert_true(decide_at(f, &d, "bob", RIGHT_PW, "198.51.100.35", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	decide_at(f, &d, "bob", RIGHT_PW, "198.51.100.32", NULL, NULL);
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	/* Failures further apart than failure_window do not add up. */
	set_lockout(f, 3, 100, 300000);
	decide_at(f, &d, "carol", "wrong-e", "198.51.100.40", NULL, NULL);
	decide_at(f, &d, "carol", "wrong-f", "198.51.100.41", NULL, NULL);
	sleep_ms(150);
	decide_at(f, &d, "carol", "wrong-g", "198.51.100.42", NULL, NULL);
	decide_at(f, &d, "carol", "wrong-h", "198.51.100.43", NULL, NULL);
	decide_at(f, &d, "carol", RIGHT_PW, "198.51.100.44", NULL, NULL);
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);

	/* max_failures 0 counts nothing. */
	set_lockout(f, 0, 60000, 300000);
	for (i = 0; i < 20; i++) {
		snprintf(pw, sizeof(pw), "wrong-%d", i);
		decide_at(f, &d, "dave", pw, "198.51.100.50", NULL, NULL);
		EXPECT_OUTCOME(&d, PA_OUT_DENY);
	}
	assert_false(decide_at(f, &d, "dave", RIGHT_PW, "198.51.100.50", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_int_equal(counter(&f->p.metrics->lockouts_user), 2);	/* alice, bob */
}

/* After a grant the backend's canonical name is the identity: in the log
 * line, and in the lockout, where the success clears the failures the
 * canonical name had from that address. */
static void
test_lockout_canonical_identity(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	set_lockout(f, 3, 60000, 300000);
	f->fk.canon = "alice";
	decide_at(f, &d, "alice", "wrong-1", "198.51.100.1", NULL, NULL);
	decide_at(f, &d, "alice", "wrong-2", "198.51.100.1", NULL, NULL);
	assert_false(decide_at(f, &d, "a.smith", RIGHT_PW, "198.51.100.1", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	expect_field(f, "user", "alice");
	decide_at(f, &d, "alice", "wrong-3", "198.51.100.2", NULL, NULL);
	EXPECT_OUTCOME(&d, PA_OUT_DENY);
	expect_field(f, "user", "alice");
	/* Two failures were cleared by a.smith's success: one is left. */
	assert_false(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.3", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	/* A denial logs the name as typed. */
	decide_at(f, &d, "A.Smith", "wrong-4", "198.51.100.4", NULL, NULL);
	expect_field(f, "user", "A.Smith");
	f->fk.canon = NULL;
}

/* A locked answer is held back about a verification's time, unless the
 * cache would have answered these credentials at once: re-sending a wrong
 * password just tried must not tell an attacker it is locked. */
static void
test_locked_delay(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	set_lockout(f, 2, 60000, 300000);
	f->p.locked_delay_min_us = 1000;
	f->p.locked_delay_max_us = 2000000;
	/* The owner's grant is cached before the lock. */
	assert_false(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.9", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_false(decide_at(f, &d, "alice", "wrong-1", "198.51.100.1", NULL, NULL));
	assert_int_equal(pa_pipeline_locked_delay_us(&f->p, &d, 0), 0);	/* a deny */
	decide_at(f, &d, "alice", "wrong-2", "198.51.100.1", NULL, NULL);
	assert_true(decide_at(f, &d, "alice", RIGHT_PW, "198.51.100.2", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	/* The right password has a cached grant, yet its locked answer is
	 * held like any other: answered at once, it would tell a locked-out
	 * guesser which password the cache knows as right. */
	assert_true(pa_pipeline_locked_delay_us(&f->p, &d, 0) >= 1000);
	/* wrong-1 is in the negative cache: its locked answer is not held. */
	assert_true(decide_at(f, &d, "alice", "wrong-1", "198.51.100.2", NULL, NULL));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);
	assert_int_equal(pa_pipeline_locked_delay_us(&f->p, &d, 0), 0);
	/* The average of verifications sets the delay, within the bounds. */
	atomic_store(&f->p.verify_avg_us, 100000);
	assert_true(decide_at(f, &d, "alice", "wrong-9", "198.51.100.2", NULL, NULL));
	assert_true(pa_pipeline_locked_delay_us(&f->p, &d, 0) == 75000);
	assert_true(pa_pipeline_locked_delay_us(&f->p, &d, 500) == 125000);
	f->p.locked_delay_max_us = 50000;
	assert_true(pa_pipeline_locked_delay_us(&f->p, &d, 250) == 50000);
}

/* ---- coalescing ---------------------------------------------------------- */

#define NTHREADS 16

struct worker {
	const struct pa_pipeline *p;
	const char *user, *password;
	atomic_int *started;
	struct pa_decision d;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	fill(&w->d, w->user, w->password, NULL, NULL, NULL);
	atomic_fetch_add(w->started, 1);
	run(w->p, &w->d);
	return NULL;
}

/* Runs NTHREADS requests at once; the fake answers only after all of
 * them started, and then takes 200 ms.  passwords[i % npw] per thread. */
static void
run_concurrently(struct fx *f, struct worker *w, const char *const *passwords, int npw)
{
	pthread_t t[NTHREADS];
	atomic_int started;
	int i;

	atomic_init(&started, 0);
	f->fk.started = &started;
	f->fk.quorum = NTHREADS;
	f->fk.delay_ms = 200;
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ &f->p, "alice", passwords[i % npw], &started, { 0 } };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	f->fk.quorum = 0;
	f->fk.delay_ms = 0;
	f->fk.started = NULL;
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	assert_int_equal(scratch_lines(f->line), NTHREADS);
}

static void
test_coalesce_grant(void **state)
{
	static const char *const pw[] = { RIGHT_PW };
	struct fx *f = *state;
	struct worker w[NTHREADS];
	int i, misses = 0;

	run_concurrently(f, w, pw, 1);
	assert_int_equal(calls(f), 1);
	for (i = 0; i < NTHREADS; i++) {
		if (w[i].d.outcome != PA_OUT_ALLOW || strcmp(w[i].d.who.user, "alice") != 0 ||
		    strcmp(w[i].d.who.groups, "staff") != 0 || w[i].d.backend == NULL ||
		    strcmp(w[i].d.backend, "fake") != 0)
			fail_msg("thread %d: %s as '%s' (%s)", i, pa_outcome_name(w[i].d.outcome),
				 w[i].d.who.user, w[i].d.who.groups);
		if (w[i].d.cache != NULL && strcmp(w[i].d.cache, "miss") == 0)
			misses++;
	}
	/* Most waited in the flight rather than finding the cache filled;
	 * at least two did, or nothing was coalesced. */
	if (misses < 2)
		fail_msg("only %d requests overlapped", misses);
	assert_int_equal(counter(&f->p.metrics->requests[PA_PROFILE_AUTH][PA_OUT_ALLOW]),
			 NTHREADS);
	assert_int_equal(counter(&f->p.metrics->cache_hits) +
			 counter(&f->p.metrics->cache_misses), NTHREADS);
	assert_int_equal(counter(&f->p.metrics->backend_requests[0][PA_GRANTED]), 1);
	assert_int_equal(pa_cache_entries(f->p.cache), 1);
}

/* A down backend is asked once too, and every waiter gets the reason. */
static void
test_coalesce_unavailable(void **state)
{
	static const char *const pw[] = { RIGHT_PW };
	struct fx *f = *state;
	struct worker w[NTHREADS];
	int i;

	f->fk.answer = PA_UNAVAILABLE;
	run_concurrently(f, w, pw, 1);
	assert_int_equal(calls(f), 1);
	for (i = 0; i < NTHREADS; i++) {
		if (w[i].d.outcome != PA_OUT_UNAVAILABLE || w[i].d.who.user[0] != '\0')
			fail_msg("thread %d: %s", i, pa_outcome_name(w[i].d.outcome));
		if (strstr(w[i].d.why.msg, "connection refused") == NULL)
			fail_msg("thread %d: reason '%s'", i, w[i].d.why.msg);
	}
	assert_int_equal(counter(&f->p.metrics->requests[PA_PROFILE_AUTH][PA_OUT_UNAVAILABLE]),
			 NTHREADS);
	assert_int_equal(pa_cache_entries(f->p.cache), 0);	/* never cached */
	assert_int_equal(lines_with(f->line, "outcome=unavailable"), NTHREADS);
}

/* Flights are keyed by the password too: a waiter with a wrong password
 * never receives the leader's grant. */
static void
test_coalesce_per_credentials(void **state)
{
	static const char *const pw[] = { RIGHT_PW, WRONG_PW };
	struct fx *f = *state;
	struct worker w[NTHREADS];
	int i;

	run_concurrently(f, w, pw, 2);
	assert_int_equal(calls(f), 2);
	for (i = 0; i < NTHREADS; i++) {
		enum pa_outcome want = i % 2 == 0 ? PA_OUT_ALLOW : PA_OUT_DENY;

		if (w[i].d.outcome != want)
			fail_msg("thread %d: %s, want %s", i, pa_outcome_name(w[i].d.outcome),
				 pa_outcome_name(want));
		if (want == PA_OUT_DENY && w[i].d.who.user[0] != '\0')
			fail_msg("thread %d: a denial carries identity '%s'", i, w[i].d.who.user);
	}
}

/* ---- metrics ------------------------------------------------------------- */

static void
expect_metric(const char *text, const char *series, unsigned long long want)
{
	char needle[256];
	const char *p;

	snprintf(needle, sizeof(needle), "\n%s ", series);
	if ((p = strstr(text, needle)) == NULL)
		fail_msg("no series %s in:\n%s", series, text);
	if (strtoull(p + strlen(needle), NULL, 10) != want)
		fail_msg("%s is %llu, want %llu", series,
			 strtoull(p + strlen(needle), NULL, 10), want);
}

static void
test_metrics_render(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char *buf = malloc(65536);

	assert_non_null(buf);
	decide(f, &d, "alice", RIGHT_PW);
	decide(f, &d, "alice", RIGHT_PW);
	decide(f, &d, "alice", WRONG_PW);
	fill_hdr(&d, "Basic !!!", NULL, NULL, NULL);
	run(&f->p, &d);
	fill_hdr(&d, NULL, NULL, NULL, NULL);
	run(&f->p, &d);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));

	assert_true(pa_pipeline_metrics(&f->p, buf, 65536) > 0);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"allow\"}", 2);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"deny\"}", 2);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"malformed\"}", 1);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth-request\",outcome=\"allow\"}",
		      0);
	expect_metric(buf, "proxyauthd_request_duration_seconds_count", 5);
	expect_metric(buf, "proxyauthd_request_duration_seconds_bucket{le=\"+Inf\"}", 5);
	expect_metric(buf, "proxyauthd_backend_requests_total{backend=\"fake\",result=\"granted\"}",
		      1);
	expect_metric(buf, "proxyauthd_backend_requests_total{backend=\"fake\",result=\"denied\"}",
		      1);
	expect_metric(buf, "proxyauthd_backend_duration_seconds_count{backend=\"fake\"}", 2);
	expect_metric(buf, "proxyauthd_cache_hits_total", 1);
	expect_metric(buf, "proxyauthd_cache_misses_total", 2);
	expect_metric(buf, "proxyauthd_cache_entries", 2);
	expect_metric(buf, "proxyauthd_lockouts_total{kind=\"user\"}", 0);
	expect_metric(buf, "proxyauthd_lockouts_total{kind=\"address\"}", 0);
	expect_metric(buf, "proxyauthd_backend_up{backend=\"fake\"}", 0);	/* never probed */
	/* Too small a buffer is an error, not a cut text. */
	assert_int_equal(pa_pipeline_metrics(&f->p, buf, 100), 0);
	free(buf);
}

/* ---- a pipeline opened from a configuration ------------------------------ */

static int
setup_opened(void **state)
{
	struct fx *f;
	char path[SCRATCH_PATH_MAX * 2], conf[SCRATCH_PATH_MAX * 4];
	char *const envp[] = { NULL };
	struct pa_backend_env env = { 0 };
	struct pa_error err = { { 0 } };

	if (setup(state) != 0)
		return -1;
	f = *state;
	pa_cache_free(f->p.cache);
	pa_flights_free(f->p.flights);
	pa_lockout_free(f->p.lockout);
	free(f->p.metrics);
	memset(&f->p, 0, sizeof(f->p));

	scratch_mkdir(f->dir);
	snprintf(path, sizeof(path), "%s/htpasswd", f->dir);
	scratch_write(path, "", 0600);
	snprintf(conf, sizeof(conf),
		 "[server]\nlisten = 127.0.0.1:0\nbackends = htpasswd\n"
		 "cache_ttl = 60\nnegative_ttl = 7\nstale_grace = 3\n"
		 "max_failures = 3\nfailure_window = 60\nlockout = 300\n"
		 "[htpasswd]\nfile = %s\n", path);
	snprintf(path, sizeof(path), "%s/proxyauthd.conf", f->dir);
	scratch_write(path, conf, 0600);
	if (pa_config_load(path, envp, &f->cfg, stderr) != 0)
		return -1;
	env.log = &f->log;
	if (pa_pipeline_open(&f->p, &f->cfg, &env, &err) != 0) {
		fprintf(stderr, "pa_pipeline_open: %s\n", err.msg);
		pa_config_free(&f->cfg);
		return -1;
	}
	f->opened = true;
	/* The fake stands in for the htpasswd backend. */
	if (f->p.chain.n != 1)
		return -1;
	f->p.chain.links[0].ops->close(f->p.chain.links[0].ctx);
	f->p.chain.links[0].ops = &fake_ops;
	f->p.chain.links[0].ctx = &f->fk;
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	return 0;
}

static void
test_opened_invalidate_hook(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	assert_int_equal(f->p.ttl_ms, 60000);
	assert_int_equal(f->p.negative_ttl_ms, 7000);
	assert_int_equal(f->p.stale_grace_ms, 3000);
	assert_non_null(f->p.cache);
	assert_non_null(f->p.env.invalidate);
	assert_ptr_equal(f->p.env.invalidate_arg, &f->p);

	assert_false(decide(f, &d, "alice", RIGHT_PW));
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	f->fk.answer = PA_NOT_FOUND;
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	f->fk.answer = PA_GRANTED;
	assert_int_equal(calls(f), 3);

	/* What a backend calls when a user changed outside. */
	f->p.env.invalidate(f->p.env.invalidate_arg, "fake", "Alice");
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "miss");
	assert_int_equal(calls(f), 4);
	assert_true(decide(f, &d, "bob", RIGHT_PW));

	/* ... and when it lost track of all of its users (a lost
	 * connection): its answers and every "not found" go. */
	f->p.env.invalidate(f->p.env.invalidate_arg, "fake", NULL);
	assert_int_equal(pa_cache_entries(f->p.cache), 0);
	assert_false(decide(f, &d, "bob", RIGHT_PW));
	assert_int_equal(calls(f), 5);
}

/* While a backend's notices go unheard (its watcher not subscribed), its
 * answers and "not found" ones are stored already expired: every request
 * asks it again, and a grant only answers stale in an outage.  Heard
 * again, caching is back. */
static void
test_opened_deaf_hook(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	assert_non_null(f->p.env.deaf);
	f->p.env.deaf(f->p.env.invalidate_arg, "fake", true);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "miss");
	f->fk.answer = PA_NOT_FOUND;
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_int_equal(calls(f), 4);

	/* The grant stored meanwhile answers stale (stale_grace 3 s) while
	 * the backend cannot answer. */
	f->fk.answer = PA_UNAVAILABLE;
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	expect_cache(&d, "stale");

	/* Another deaf backend does not stop "fake" from caching, but it
	 * does a "not found anywhere" answer. */
	f->fk.answer = PA_GRANTED;
	f->p.env.deaf(f->p.env.invalidate_arg, "fake", false);
	f->p.env.deaf(f->p.env.invalidate_arg, "other", true);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "hit");
	f->fk.answer = PA_NOT_FOUND;
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_int_equal(calls(f), 8);
	f->p.env.deaf(f->p.env.invalidate_arg, "other", false);
	assert_false(decide(f, &d, "nobody", RIGHT_PW));
	assert_true(decide(f, &d, "nobody", RIGHT_PW));
	assert_int_equal(calls(f), 9);
}

/* Chain "upper, fake": a grant of fake stands on upper's "not found", so
 * while upper is deaf (a user it would now know could be added unheard)
 * the grant is not cached fresh either; fake deaf does not touch upper. */
static struct fake upper_fk = { .answer = PA_NOT_FOUND };
static const struct pa_backend_ops upper_ops = {
	.name = "upper", .verify = fake_verify, .probe = fake_probe, .close = fake_close,
};

static void
test_deaf_earlier_backend(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;

	f->p.chain.links[1] = f->p.chain.links[0];
	f->p.chain.links[0].ops = &upper_ops;
	f->p.chain.links[0].ctx = &upper_fk;
	f->p.chain.n = 2;
	assert_int_equal(pa_cache_set_chain(f->p.cache, "upper"), 0);
	assert_int_equal(pa_cache_set_chain(f->p.cache, "fake"), 0);
	pa_cache_set_deaf(f->p.cache, "upper", true);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_ALLOW);
	assert_string_equal(d.backend, "fake");
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	expect_cache(&d, "miss");
	assert_int_equal(calls(f), 2);
	pa_cache_set_deaf(f->p.cache, "upper", false);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	assert_int_equal(calls(f), 3);
	/* upper's resubscription drops fake's answers too. */
	assert_int_equal(pa_cache_invalidate_backend(f->p.cache, "upper"), 1);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	assert_int_equal(calls(f), 4);
	/* fake deaf: upper's own answers would still be cached. */
	pa_cache_set_deaf(f->p.cache, "fake", true);
	assert_false(pa_cache_deaf(f->p.cache, "upper"));
	assert_true(pa_cache_deaf(f->p.cache, "fake"));
}

static void
test_opened_metrics_and_lockout(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char *buf = malloc(65536);

	assert_non_null(buf);
	assert_false(decide(f, &d, "alice", RIGHT_PW));
	assert_true(decide(f, &d, "alice", RIGHT_PW));
	decide(f, &d, "bob", "wrong-1");
	decide(f, &d, "bob", "wrong-2");
	decide(f, &d, "bob", "wrong-3");
	assert_true(decide(f, &d, "bob", RIGHT_PW));
	EXPECT_OUTCOME(&d, PA_OUT_LOCKED);

	assert_true(pa_pipeline_metrics(&f->p, buf, 65536) > 0);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"allow\"}", 2);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"deny\"}", 3);
	expect_metric(buf, "proxyauthd_requests_total{profile=\"auth\",outcome=\"locked\"}", 1);
	expect_metric(buf, "proxyauthd_backend_requests_total{backend=\"fake\",result=\"granted\"}",
		      1);
	expect_metric(buf, "proxyauthd_backend_requests_total{backend=\"fake\",result=\"denied\"}",
		      3);
	expect_metric(buf, "proxyauthd_backend_duration_seconds_count{backend=\"fake\"}", 4);
	expect_metric(buf, "proxyauthd_cache_hits_total", 1);
	expect_metric(buf, "proxyauthd_cache_misses_total", 4);
	/* Same client each time: user and address reach the count together. */
	expect_metric(buf, "proxyauthd_lockouts_total{kind=\"user\"}", 1);
	expect_metric(buf, "proxyauthd_lockouts_total{kind=\"address\"}", 1);
	free(buf);
}

/* A request that passed begin and waited for a worker while the user got
 * locked must not reach the backend: lookup checks the lockout again. */
static void
test_lockout_checked_again_for_queued_requests(void **state)
{
	struct fx *f = *state;
	struct pa_decision q, d;
	int before;

	set_lockout(f, 2, 60000, 300000);
	fill(&q, "alice", RIGHT_PW, "198.51.100.1", NULL, NULL);
	assert_false(pa_decide_begin(&f->p, &q));	/* queued for a worker */
	assert_false(decide_at(f, &d, "alice", "wrong-1", "198.51.100.2", NULL, NULL));
	assert_false(decide_at(f, &d, "alice", "wrong-2", "198.51.100.3", NULL, NULL));
	before = calls(f);
	pa_decide_lookup(&f->p, &q);
	assert_int_equal(q.outcome, PA_OUT_LOCKED);
	assert_int_equal(calls(f), before);
	pa_decide_end(&f->p, &q);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	expect_has(f->line, "outcome=locked");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lockout_checked_again_for_queued_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_request_is_a_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filled_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_grant_rechecked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalidate_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_not_while_answering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_past_unavailable_not_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_denied_past_unavailable_counts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lockout_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout_counts_cached_denials, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lockout_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout_ends_and_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout_canonical_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalesce_grant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalesce_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalesce_per_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_render, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opened_invalidate_hook, setup_opened,
						teardown),
		cmocka_unit_test_setup_teardown(test_opened_deaf_hook, setup_opened, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_earlier_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opened_metrics_and_lockout, setup_opened,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
