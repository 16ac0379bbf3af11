/*
 * One account, one counter (issue 16), against the real daemon and a real
 * slapd (ldap_server.h), in both bind modes.  slapd's caseIgnoreMatch
 * binds "ALICE", fullwidth "ａｌｉｃｅ", "Ａlice", "alice " and "ALİCE" all
 * as alice; the lockout must count them as one name.  After max_failures
 * wrong passwords spread over the variants (each from its own address
 * behind a trusted proxy), every variant, the right password included,
 * is locked for any other address without asking slapd, while the
 * owner's address, which succeeded before, is still served.  In
 * search-then-bind mode the log line of a grant names the entry's uid,
 * not what was typed.
 */
#include "backend.h"
#include "harness.h"
#include "ldap_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_server.c"
#include "ldap_server.c"

#define FULLWIDTH "\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85"
#define A_FULLWIDTH "\xef\xbc\xa1lice"
#define DOTTED_I "AL\xc4\xb0" "CE"

static const char *const variants[] = {
	"alice", "ALICE", FULLWIDTH, A_FULLWIDTH, "alice ", DOTTED_I,
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

struct it {
	struct pa_fixture *f;
	struct pa_slapd s;
};

static int
it_setup(void **state)
{
	struct it *t = calloc(1, sizeof(*t));
	void *fs = NULL;

	if (t == NULL || pa_fixture_setup(&fs) != 0) {
		free(t);
		return -1;
	}
	t->f = fs;
	*state = t;
	return 0;
}

static int
it_teardown(void **state)
{
	struct it *t = *state;
	void *fs = t->f;

	(void)pa_fixture_teardown(&fs);
	pa_slapd_destroy(&t->s);
	free(t);
	return 0;
}

/* GET /auth as user from client (X-Forwarded-For through the loopback
 * proxy, which is trusted). */
static long
ask(const struct pa_daemon *d, const char *user, const char *password, const char *client,
    struct pa_resp *r)
{
	char auth[1200] = "Proxy-Authorization: ", xff[128];
	struct pa_req req = { .path = "/auth" };

	pa_basic(user, password, auth + strlen(auth), sizeof(auth) - strlen(auth));
	snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", client);
	req.headers[0] = auth;
	req.headers[1] = xff;
	if (pa_request(d, &req, r) != 0)
		fail_msg("no answer for %s from %s", user, client);
	return r->status;
}

/* The sum of the samples of a metric family whose lines start with
 * prefix. */
static double
metric_sum(const struct pa_daemon *d, const char *prefix)
{
	struct pa_resp r;
	double sum = 0, v;
	const char *p;

	if (pa_get(d, "GET", "/metrics", NULL, &r) != 0 || r.status != 200)
		fail_msg("no /metrics");
	for (p = r.body; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		const char *sp;

		if (*p == '\n')
			p++;
		if (strncmp(p, prefix, strlen(prefix)) != 0 || (sp = strchr(p, ' ')) == NULL)
			continue;
		if (sscanf(sp, " %lf", &v) == 1)
			sum += v;
	}
	pa_resp_free(&r);
	return sum;
}

static void
one_counter(struct it *t, bool direct)
{
	struct pa_daemon *d;
	struct pa_resp r;
	char *conf, client[64], pw[32], user[512];
	size_t i;
	double binds;

	if (pa_slapd_start(&t->s) != 0)
		fail_msg("cannot start slapd");
	conf = direct
	       ? pa_strdupf("user_dn_template = uid=%%u,ou=people," PA_LDAP_BASE "\n")
	       : pa_strdupf("bind_dn = " PA_LDAP_SVC_DN "\nbind_password_file = %s\n"
			    "base_dn = " PA_LDAP_BASE "\n", t->s.svc_secret);
	{
		char *full = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = ldap\n"
					"trusted_proxies = 127.0.0.1/32\nmax_failures = 3\n"
					"failure_window = 60\nlockout = 60\ncache_ttl = 0\n"
					"negative_ttl = 0\n[ldap]\nuri = %s\n%s", t->s.uri, conf);

		d = pa_daemon_start(t->f, full, NULL);
		free(full);
		free(conf);
	}
	assert_non_null(d);

	/* slapd binds every variant as alice: the owner, from its own
	 * address, gets in with each. */
	for (i = 0; i < NVARIANTS; i++) {
		EXPECT(ask(d, variants[i], "alice-pw", "192.0.2.10", &r) == 204, &r,
		       "'%s' with alice's password binds as alice", variants[i]);
		EXPECT(HDR_IS(&r, H_X_AUTH_USER, "alice"), &r,
		       "'%s': X-Auth-User is the entry's uid", variants[i]);
		pa_resp_free(&r);
		pa_last_decision_field(d, "user", user, sizeof(user));
		if (strcmp(user, "alice") != 0)
			fail_msg("'%s': the log names '%s', not the canonical alice", variants[i],
				 user);
	}

	/* Three wrong passwords, one per variant and address. */
	for (i = 1; i <= 3; i++) {
		snprintf(client, sizeof(client), "198.51.100.%zu", i);
		snprintf(pw, sizeof(pw), "guess-%zu", i);
		EXPECT(ask(d, variants[i], pw, client, &r) == 407, &r, "wrong password");
		pa_resp_free(&r);
	}

	/* Every variant is locked now for anyone else, the right password
	 * too, and slapd is not asked. */
	binds = metric_sum(d, "proxyauthd_backend_requests_total{");
	for (i = 0; i < NVARIANTS; i++) {
		EXPECT(ask(d, variants[i], "alice-pw", "203.0.113.9", &r) == 407, &r,
		       "'%s' with the right password must be locked", variants[i]);
		pa_resp_free(&r);
		pa_expect_last_decision(d, "outcome", "locked");
	}
	assert_true(metric_sum(d, "proxyauthd_backend_requests_total{") == binds);
	assert_true(metric_sum(d, "proxyauthd_lockouts_total{kind=\"user\"}") == 1);

	/* The owner's known-good address is still served. */
	EXPECT(ask(d, FULLWIDTH, "alice-pw", "192.0.2.10", &r) == 204, &r,
	       "the owner's address is not locked out by others' guessing");
	pa_resp_free(&r);
	/* Another account is untouched. */
	EXPECT(ask(d, "bob", "bob-pw", "203.0.113.9", &r) == 204, &r, "bob");
	pa_resp_free(&r);
	assert_int_equal(pa_daemon_stop(d), 0);
}

static void
test_one_counter_search(void **state)
{
	one_counter(*state, false);
}

static void
test_one_counter_direct(void **state)
{
	one_counter(*state, true);
}

/* Review of issue 16: a directory where uid is multi-valued (alice also
 * has uid "alice.smith", as many directories keep aliases).  The entry
 * has no single uid, and the name fell back to what was typed: "ALICE"
 * or the fullwidth form reached the application as such, several
 * identities for one account.  The canonical name is the value in the
 * entry's DN (uid=alice), as SSSD names such entries: the value slapd
 * matched (the one that folds like the typed name) was taken before, so a
 * user who may write her own entry (slapd's common "by self write") added
 * "uid: admin" and logged in as admin with her own password, reaching the
 * application as X-Auth-User admin, and an alias made one account several
 * identities there.  Direct bind finds no DN for an alias at all. */
static void
multi_uid(struct it *t, bool direct)
{
	struct pa_daemon *d;
	struct pa_resp r;
	char *conf, *full, *ldif, out[2048], user[512];
	const char *argv[] = { "ldapmodify", "-x", "-H", NULL, "-D", PA_LDAP_ROOT_DN, "-w",
			       PA_LDAP_ROOT_PASSWORD, "-f", NULL, NULL };
	const char *typed[] = { "ALICE", FULLWIDTH, "alice " };
	const char *aliases[] = { "admin", "alice.smith", "ADMIN" };
	size_t i;

	if (pa_slapd_start(&t->s) != 0)
		fail_msg("cannot start slapd");
	ldif = pa_strdupf("%s/uid.ldif", t->f->dir);
	assert_int_equal(pa_write_file(ldif, "dn: uid=alice,ou=people," PA_LDAP_BASE "\n"
					     "changetype: modify\nadd: uid\nuid: alice.smith\n"
					     "uid: admin\n"),
			 0);
	argv[3] = t->s.uri;
	argv[9] = ldif;
	if (pa_ldap_tool(argv, out, sizeof(out)) != 0)
		fail_msg("ldapmodify: %s", out);
	free(ldif);
	conf = direct
	       ? pa_strdupf("user_dn_template = uid=%%u,ou=people," PA_LDAP_BASE "\n")
	       : pa_strdupf("bind_dn = " PA_LDAP_SVC_DN "\nbind_password_file = %s\n"
			    "base_dn = " PA_LDAP_BASE "\n", t->s.svc_secret);
	full = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = ldap\n"
			  "trusted_proxies = 127.0.0.1/32\ncache_ttl = 0\nnegative_ttl = 0\n"
			  "[ldap]\nuri = %s\n%s", t->s.uri, conf);
	d = pa_daemon_start(t->f, full, NULL);
	free(full);
	free(conf);
	assert_non_null(d);
	for (i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		EXPECT(ask(d, typed[i], "alice-pw", "192.0.2.10", &r) == 204, &r,
		       "'%s' with alice's password binds as alice", typed[i]);
		EXPECT(HDR_IS(&r, H_X_AUTH_USER, "alice"), &r,
		       "'%s': X-Auth-User is the uid value slapd matched, not the typed name",
		       typed[i]);
		pa_resp_free(&r);
		pa_last_decision_field(d, "user", user, sizeof(user));
		if (strcmp(user, "alice") != 0)
			fail_msg("'%s': the log names '%s', not alice", typed[i], user);
	}
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		int st = ask(d, aliases[i], "alice-pw", "192.0.2.11", &r);

		EXPECT(direct ? st == 407 : st == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r,
		       "alias '%s' with alice's password: %s", aliases[i],
		       direct ? "no such DN, denied" : "X-Auth-User is alice, the uid of the DN");
		pa_resp_free(&r);
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

static void
test_multi_uid_search(void **state)
{
	multi_uid(*state, false);
}

static void
test_multi_uid_direct(void **state)
{
	multi_uid(*state, true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_counter_search, it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(test_one_counter_direct, it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(test_multi_uid_search, it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(test_multi_uid_direct, it_setup, it_teardown),
	};

	pa_scrub_environment();
	pa_harness_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
