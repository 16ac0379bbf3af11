/*
 * Kerberos Negotiate (issue 15) against the real daemon, a private MIT
 * KDC (kdc_server.h) and, for the groups, a private slapd
 * (ldap_server.h), each started here on loopback in a temporary folder
 * and stopped by PID.  Tokens are made in this process with
 * gss_init_sec_context() from a kinit'ed ccache of the test's own.
 *
 * Directly on /auth and /auth-request: both challenges without
 * credentials (Negotiate first); Basic beside Negotiate; a valid token
 * (identity, mutual reply, realm kept or stripped); each refusal (bad
 * base64, NTLM, a raw Kerberos token, a ticket for a service principal
 * the keytab lacks, a ticket for another service principal of the
 * keytab, a realm not accepted, an expired ticket, a replay), each a
 * challenge again, logged with its reason and never the token, never
 * counted toward lockout but counted in metrics; a cached verdict that
 * ends with the ticket; groups from LDAP with require_groups; and -t on
 * a keytab that is missing or readable by others.
 */
#include "harness.h"
#include "kdc_server.h"
#include "ldap_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redis_server.c"
#include "ldap_server.c"
#include "kdc_server.c"

#define SVC "HTTP/proxy.example.org@" PA_KDC_REALM
#define OTHER_SVC "HTTP/other.example.org@" PA_KDC_REALM
#define MISSING_SVC "HTTP/missing.example.org@" PA_KDC_REALM
#define BASIC_CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""

struct nt {
	struct pa_fixture *f;
	struct pa_kdc k;
	char keytab[300];	/* SVC and OTHER_SVC */
	char users[300];	/* alice, dave */
	char alice_cc[300];
};

static int
nt_setup(void **state)
{
	struct nt *t = calloc(1, sizeof(*t));
	void *fs = NULL;

	if (t == NULL || pa_fixture_setup(&fs) != 0)
		return -1;
	t->f = fs;
	*state = t;
	if (pa_kdc_start(&t->k) != 0)
		return -1;
	snprintf(t->keytab, sizeof(t->keytab), "%s/http.keytab", t->f->dir);
	snprintf(t->users, sizeof(t->users), "%s/users.keytab", t->f->dir);
	snprintf(t->alice_cc, sizeof(t->alice_cc), "%s/alice.cc", t->f->dir);
	if (pa_kdc_add_keytab(&t->k, SVC, t->keytab) != 0 ||
	    pa_kdc_add_keytab(&t->k, OTHER_SVC, t->keytab) != 0 ||
	    pa_kdc_admin(&t->k, "addprinc -randkey " MISSING_SVC) != 0 ||
	    pa_kdc_add_keytab(&t->k, "alice", t->users) != 0 ||
	    pa_kdc_add_keytab(&t->k, "dave", t->users) != 0 ||
	    pa_kdc_kinit(&t->k, "alice", t->users, t->alice_cc, NULL) != 0)
		return -1;
	chmod(t->keytab, 0600);
	return 0;
}

static int
nt_teardown(void **state)
{
	struct nt *t = *state;
	void *fs;
	int rc;

	if (t == NULL)
		return 0;
	fs = t->f;
	rc = pa_fixture_teardown(&fs);	/* -1 on a sanitizer report of a daemon */
	pa_kdc_destroy(&t->k);
	free(t);
	return rc;
}

/* A daemon with [negotiate] on t's keytab; extra is more of that
 * section, server more of [server].  An htpasswd with bob:bob-pw. */
static struct pa_daemon *
start(struct nt *t, const char *server, const char *extra)
{
	char *line = pa_htpasswd_line("bob", "bob-pw", "staff", 4), *conf;
	struct pa_daemon *d;

	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = htpasswd\n%s\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n"
			  "[negotiate]\nkeytab = %s\n%s\n",
			  server != NULL ? server : "", t->keytab, extra != NULL ? extra : "");
	d = pa_daemon_start(t->f, conf, line);
	free(conf);
	free(line);
	return d;
}

/* GET path with "Proxy-Authorization: Negotiate tok". */
static void
neg_get(const struct pa_daemon *d, const char *path, const char *tok, struct pa_resp *r)
{
	char *h = pa_strdupf("Proxy-Authorization: Negotiate %s", tok);

	pa_get(d, "GET", path, h, r);
	free(h);
}

static void
token(const char *cc, const char *target, int spnego, int mutual, char *out, size_t len)
{
	if (pa_kdc_token(cc, target, spnego, mutual, out, len) != 0)
		fail_msg("no token for %s", target);
}

/* The last decision's reason holds want (or want2, when not NULL), and
 * the log never the token. */
static void
expect_refused2(const struct pa_daemon *d, const char *tok, const char *want,
		const char *want2)
{
	char reason[1024];
	char *log;

	pa_last_decision_field(d, "reason", reason, sizeof(reason));
	if (strstr(reason, want) == NULL && (want2 == NULL || strstr(reason, want2) == NULL))
		fail_msg("reason '%s' lacks '%s'", reason, want);
	pa_expect_last_decision(d, "outcome", "deny");
	log = pa_daemon_log(d);
	if (tok != NULL && strlen(tok) > 16) {
		char head[17];

		memcpy(head, tok, 16);
		head[16] = '\0';
		if (strstr(log, head) != NULL)
			fail_msg("the token is in the log");
	}
	free(log);
}

static void
expect_refused(const struct pa_daemon *d, const char *tok, const char *want)
{
	expect_refused2(d, tok, want, NULL);
}

static void
test_challenges_and_basic(void **state)
{
	struct nt *t = *state;
	struct pa_daemon *d = start(t, NULL, NULL);
	struct pa_resp r;

	assert_non_null(d);
	pa_get(d, "GET", "/auth", NULL, &r);
	EXPECT(r.status == 407, &r, "no credentials");
	EXPECT(r.hdr[H_PROXY_AUTHENTICATE].count == 2, &r, "two challenges");
	EXPECT(strcmp(r.hdr[H_PROXY_AUTHENTICATE].value, "Negotiate") == 0, &r,
	       "Negotiate first");
	EXPECT(strstr(r.raw_headers, "Proxy-Authenticate: " BASIC_CHALLENGE) != NULL, &r,
	       "Basic second");
	pa_resp_free(&r);
	pa_get(d, "GET", "/auth-request", NULL, &r);
	EXPECT(r.status == 401, &r, "nginx profile");
	EXPECT(r.hdr[H_PROXY_AUTHENTICATE].count == 2, &r, "two challenges");
	EXPECT(strstr(r.raw_headers, "X-Auth-Challenge-Basic: " BASIC_CHALLENGE) != NULL, &r,
	       "Basic for nginx's second add_header");
	pa_resp_free(&r);
	/* Envoy passes a denial's headers to the client: both fields. */
	pa_get(d, "GET", "/ext-authz", NULL, &r);
	EXPECT(r.status == 407 && r.hdr[H_PROXY_AUTHENTICATE].count == 2 &&
		       strcmp(r.hdr[H_PROXY_AUTHENTICATE].value, "Negotiate") == 0 &&
		       strstr(r.raw_headers, "Proxy-Authenticate: " BASIC_CHALLENGE) != NULL,
	       &r, "ext-authz: 407, Negotiate then Basic");
	pa_resp_free(&r);
	pa_get_basic(d, "/auth", "bob", "bob-pw", &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "bob"), &r, "Basic beside");
	pa_resp_free(&r);
	pa_get_basic(d, "/auth", "bob", "wrong", &r);
	EXPECT(r.status == 407 && r.hdr[H_PROXY_AUTHENTICATE].count == 2, &r, "Basic wrong");
	pa_resp_free(&r);
}

static void
test_valid_token(void **state)
{
	struct nt *t = *state;
	struct pa_daemon *d = start(t, NULL, NULL), *d2;
	char tok[8192];
	struct pa_resp r;

	assert_non_null(d);
	token(t->alice_cc, SVC, 1, 1, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204, &r, "valid token");
	EXPECT(HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "realm stripped");
	EXPECT(HDR_IS(&r, H_X_AUTH_BACKEND, "kerberos"), &r, "backend");
	EXPECT(r.hdr[H_PROXY_AUTHENTICATE].count == 1 &&
		       strncmp(r.hdr[H_PROXY_AUTHENTICATE].value, "Negotiate ", 10) == 0, &r,
	       "mutual-authentication reply");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "user", "alice");
	pa_expect_last_decision(d, "cache", "miss");
	/* The same token again: the cached verdict (no second acceptance,
	 * which the replay cache would refuse). */
	neg_get(d, "/auth-request", tok, &r);
	EXPECT(r.status == 200 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "again, cached");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "cache", "hit");
	/* Envoy's profile: 200, the identity, and the credentials header
	 * removed before the request goes on. */
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/ext-authz/app/page", tok, &r);
	EXPECT(r.status == 200 && HDR_IS(&r, H_X_AUTH_USER, "alice") &&
		       strstr(r.raw_headers, "x-envoy-auth-headers-to-remove: proxy-authorization") !=
			       NULL,
	       &r, "ext-authz: a fresh token");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "profile", "ext-authz");
	pa_expect_last_decision(d, "cache", "miss");

	d2 = start(t, NULL, "strip_realm = false\nrealms = " PA_KDC_REALM);
	assert_non_null(d2);
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d2, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice@" PA_KDC_REALM), &r,
	       "realm kept");
	EXPECT(r.hdr[H_PROXY_AUTHENTICATE].count == 0, &r, "no mutual reply unasked");
	pa_resp_free(&r);
}

static void
test_refusals(void **state)
{
	struct nt *t = *state;
	struct pa_daemon *d, *d2, *d3;
	char tok[8192];
	struct pa_resp r;
	int i;

	/* max_failures = 2, and 127.0.0.1 is no trusted proxy (so it is
	 * counted): if refused tokens counted, the address would be locked
	 * long before the Basic logins at the end. */
	d = start(t, "max_failures = 2\ncache_size = 0\ntrusted_proxies = 192.0.2.1/32", NULL);
	assert_non_null(d);

	neg_get(d, "/auth", "not*base64", &r);
	EXPECT(r.status == 407 && r.hdr[H_PROXY_AUTHENTICATE].count == 2, &r, "bad base64");
	pa_resp_free(&r);
	expect_refused(d, NULL, "bad base64");

	neg_get(d, "/auth", "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==", &r);
	EXPECT(r.status == 407, &r, "NTLM");
	pa_resp_free(&r);
	expect_refused(d, NULL, "NTLM");

	token(t->alice_cc, SVC, 0, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "raw Kerberos");
	pa_resp_free(&r);
	expect_refused(d, tok, "raw Kerberos token, not SPNEGO");

	/* A ticket for a service principal the keytab does not hold. */
	for (i = 0; i < 3; i++) {
		token(t->alice_cc, MISSING_SVC, 1, 0, tok, sizeof(tok));
		neg_get(d, "/auth-request", tok, &r);
		EXPECT(r.status == 401 && r.hdr[H_PROXY_AUTHENTICATE].count == 2, &r,
		       "unknown service");
		pa_resp_free(&r);
		expect_refused(d, tok, "gss:");
	}

	/* A token longer than a Basic header may be (an AD ticket with a big
	 * PAC): it reaches GSS-API, which refuses this one, instead of being
	 * cut off as a malformed Basic header. */
	{
		size_t total = 6000, n;
		unsigned char *der = calloc(1, total);
		char *b64 = malloc(total * 2);

		assert_non_null(der);
		assert_non_null(b64);
		der[0] = 0x60;
		der[1] = 0x82;
		der[2] = (unsigned char)((total - 4) >> 8);
		der[3] = (unsigned char)((total - 4) & 0xff);
		memcpy(der + 4, "\x06\x06\x2b\x06\x01\x05\x05\x02\xa0", 9);
		n = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, (int)total);
		assert_true(n > 4096);
		neg_get(d, "/auth", b64, &r);
		EXPECT(r.status == 407, &r, "a long token");
		pa_resp_free(&r);
		expect_refused(d, b64, "gss:");
		free(der);
		free(b64);
	}

	/* One wrong password: with max_failures = 2, had a refused token
	 * counted at all (the lockout counts a repeated guess once), this
	 * address would now be locked. */
	pa_get_basic(d, "/auth", "bob", "wrong", &r);
	EXPECT(r.status == 407, &r, "a wrong password");
	pa_resp_free(&r);
	for (i = 0; i < 3; i++) {
		pa_get_basic(d, "/auth", "bob", "bob-pw", &r);
		EXPECT(r.status == 204, &r, "refused tokens do not lock out");
		pa_resp_free(&r);
	}
	EXPECT(pa_metric(d, "proxyauthd_negotiate_failures_total") == 7, &r, "counted");
	EXPECT(pa_metric(d, "proxyauthd_lockouts_total{kind=\"address\"}") == 0, &r,
	       "no lockout");

	/* service_principal set: a ticket for another principal of the
	 * same keytab is refused. */
	d2 = start(t, "cache_size = 0", "service_principal = " SVC);
	assert_non_null(d2);
	token(t->alice_cc, OTHER_SVC, 1, 0, tok, sizeof(tok));
	neg_get(d2, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "wrong service principal");
	pa_resp_free(&r);
	expect_refused(d2, tok, "gss:");
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d2, "/auth", tok, &r);
	EXPECT(r.status == 204, &r, "the configured service principal");
	pa_resp_free(&r);

	/* A realm that is not accepted. */
	d3 = start(t, "cache_size = 0", "realms = OTHER.ORG");
	assert_non_null(d3);
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d3, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "wrong realm");
	pa_resp_free(&r);
	expect_refused(d3, tok, "not in realms");
}

static void
test_replay(void **state)
{
	struct nt *t = *state;
	char *extra = pa_strdupf("replay_cache = file2:%s/rcache", t->f->dir);
	struct pa_daemon *d = start(t, "cache_size = 0", extra);
	char tok[8192];
	struct pa_resp r;

	free(extra);
	assert_non_null(d);
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204, &r, "first use");
	pa_resp_free(&r);
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "replayed");
	pa_resp_free(&r);
	expect_refused(d, tok, "replay");
}

/* A ticket of lifetime seconds for alice in a new ccache. */
static void
short_ticket(struct nt *t, const char *lifetime, char *cc, size_t len)
{
	snprintf(cc, len, "%s/short-%s.cc", t->f->dir, lifetime);
	if (pa_kdc_kinit(&t->k, "alice", t->users, cc, lifetime) != 0)
		fail_msg("kinit -l %s", lifetime);
}

static void
test_expired_and_cache_end(void **state)
{
	struct nt *t = *state;
	struct pa_daemon *d = start(t, "cache_ttl = 60", "replay_cache = none");
	char cc[300], tok[8192], tok2[8192];
	struct pa_resp r;
	long t0;

	assert_non_null(d);
	short_ticket(t, "4s", cc, sizeof(cc));
	t0 = pa_now_ms();
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	token(cc, SVC, 1, 0, tok2, sizeof(tok2));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204, &r, "before the end");
	pa_resp_free(&r);
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204, &r, "cached");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "cache", "hit");
	/* past the ticket's end, and the clock skew MIT allows after it */
	while (pa_now_ms() - t0 < 4000 + PA_KDC_CLOCKSKEW * 1000 + 1500)
		pa_sleep_ms(100);
	/* cache_ttl is 60 s, but the ticket has ended: the verdict with it. */
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "cached verdict ends with the ticket");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "cache", "miss");
	/* MIT names a token presented after its ticket's end (and clockskew)
	 * "Ticket expired" or "Clock skew too great", whichever it checks
	 * first: no client makes a new token from an expired ticket. */
	expect_refused2(d, tok, "xpired", "lock skew");
	/* A token made before the end, never seen, presented after it. */
	neg_get(d, "/auth", tok2, &r);
	EXPECT(r.status == 407, &r, "expired ticket");
	pa_resp_free(&r);
	expect_refused2(d, tok2, "xpired", "lock skew");
}

/* A daemon on s with groups_from = ldap, the [server] lines server and
 * the [negotiate] lines extra. */
static struct pa_daemon *
ldap_groups_daemon(struct nt *t, const struct pa_slapd *s, const char *server, const char *extra)
{
	char *line = pa_htpasswd_line("bob", "bob-pw", "staff", 4);
	char *conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nbackends = ldap\n%s"
				"[ldap]\nuri = %s\nbind_dn = " PA_LDAP_SVC_DN "\n"
				"bind_password_file = %s\nbase_dn = " PA_LDAP_BASE "\n"
				"[negotiate]\nkeytab = %s\ngroups_from = ldap\n%s",
				server, s->uri, s->svc_secret, t->keytab, extra);
	struct pa_daemon *d = pa_daemon_start(t->f, conf, line);

	free(conf);
	free(line);
	return d;
}


static void
test_groups_from_ldap(void **state)
{
	struct nt *t = *state;
	struct pa_slapd s;
	struct pa_daemon *d;
	char tok[8192], cc[300];
	struct pa_resp r;

	if (pa_slapd_start(&s) != 0)
		fail_msg("slapd");
	d = ldap_groups_daemon(t, &s, "require_groups = admins\n", "");
	if (d == NULL) {
		pa_slapd_destroy(&s);
		fail_msg("daemon");
	}
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "alice");
	EXPECT(strstr(r.hdr[H_X_AUTH_GROUPS].value, "admins") != NULL &&
		       strstr(r.hdr[H_X_AUTH_GROUPS].value, "staff") != NULL, &r,
	       "groups from slapd");
	pa_resp_free(&r);
	/* carol is in LDAP but not in admins: authenticated, not authorised. */
	if (pa_kdc_add_keytab(&t->k, "carol", t->users) != 0)
		fail_msg("carol");
	snprintf(cc, sizeof(cc), "%s/carol.cc", t->f->dir);
	if (pa_kdc_kinit(&t->k, "carol", t->users, cc, NULL) != 0)
		fail_msg("kinit carol");
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 403 && r.hdr[H_PROXY_AUTHENTICATE].count == 0, &r,
	       "require_groups: 403, no challenge");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "user", "carol");
	/* dave has a ticket but no LDAP entry. */
	snprintf(cc, sizeof(cc), "%s/dave.cc", t->f->dir);
	if (pa_kdc_kinit(&t->k, "dave", t->users, cc, NULL) != 0)
		fail_msg("kinit dave");
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407, &r, "no LDAP entry");
	pa_resp_free(&r);
	expect_refused(d, tok, "no LDAP entry");
	/* LDAP down: a valid token is no allow without its groups. */
	pa_slapd_stop(&s);
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 503 && r.hdr[H_PROXY_AUTHENTICATE].count == 0, &r,
	       "LDAP down: 503");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "outcome", "unavailable");
	pa_slapd_destroy(&s);
}

static int check_config(const char *conf_text, const char *dir, char *out, size_t len);

/*
 * MIT principals are case-sensitive, the directory's uid is not: ALICE
 * (another principal) must not get alice's entry, her name and groups,
 * unless name_case = ignore says the realm's names ignore case (Active
 * Directory's KDC does).
 */
static void
test_principal_case(void **state)
{
	struct nt *t = *state;
	struct pa_slapd s;
	struct pa_daemon *d;
	char tok[8192], cc[300];
	struct pa_resp r;

	if (pa_slapd_start(&s) != 0)
		fail_msg("slapd");
	if (pa_kdc_add_keytab(&t->k, "ALICE", t->users) != 0)
		fail_msg("ALICE");
	snprintf(cc, sizeof(cc), "%s/ALICE.cc", t->f->dir);
	if (pa_kdc_kinit(&t->k, "ALICE", t->users, cc, NULL) != 0)
		fail_msg("kinit ALICE");
	if ((d = ldap_groups_daemon(t, &s, "", "")) == NULL)
		fail_msg("daemon");
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407 && r.hdr[H_X_AUTH_USER].count == 0, &r,
	       "ALICE is not alice (name_case = exact, the default)");
	pa_resp_free(&r);
	expect_refused(d, tok, "not the same name exactly");
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "alice herself");
	pa_resp_free(&r);
	pa_daemon_stop(d);

	if ((d = ldap_groups_daemon(t, &s, "", "name_case = ignore\n")) == NULL)
		fail_msg("daemon");
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice") &&
		       strstr(r.hdr[H_X_AUTH_GROUPS].value, "admins") != NULL, &r,
	       "name_case = ignore: the entry's own name and groups");
	pa_resp_free(&r);
	pa_daemon_stop(d);

	/* The exact comparison reads user_name_attribute: a filter matching
	 * %u against another attribute (or none to compare) is refused at
	 * start, since ALICE would pass a comparison of, say, cn: Alice. */
	{
		static const struct {
			const char *ldap, *neg, *want;
		} cases[] = {
			{ "user_name_attribute = cn\n", "", "name_case = exact needs" },
			{ "user_name_attribute =\n", "", "name_case = exact needs" },
			{ "", "ldap_user_filter = (mail=%u)\n", "name_case = exact needs" },
			{ "", "ldap_user_filter = (|(uid=%u)(cn=%u))\n", "name_case = exact needs" },
			{ "", "ldap_user_filter = (uid=%u*)\n", "name_case = exact needs" },
			{ "user_name_attribute = cn\n", "name_case = ignore\n", NULL },
			{ "", "ldap_user_filter = (&(objectClass=person)(UID=%u))\n", NULL },
			{ "", "ldap_user_filter = (userPrincipalName=%p)\n", NULL },
		};
		char out[8192], *conf;
		size_t i;
		int rc;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			conf = pa_strdupf("[server]\nbackends = ldap\n[ldap]\nuri = %s\n"
					  "bind_dn = " PA_LDAP_SVC_DN "\nbind_password_file = %s\n"
					  "base_dn = " PA_LDAP_BASE "\n%s[negotiate]\nkeytab = %s\n"
					  "groups_from = ldap\n%s",
					  s.uri, s.svc_secret, cases[i].ldap, t->keytab, cases[i].neg);
			rc = check_config(conf, t->f->dir, out, sizeof(out));
			free(conf);
			if (cases[i].want != NULL && (rc == 0 || strstr(out, cases[i].want) == NULL))
				fail_msg("case %zu: want refusal '%s': rc %d, %s", i, cases[i].want,
					 rc, out);
			if (cases[i].want == NULL && rc != 0)
				fail_msg("case %zu: want OK: rc %d, %s", i, rc, out);
		}
		/* Direct bind has no account to look principals up with. */
		conf = pa_strdupf("[server]\nbackends = ldap\n[ldap]\nuri = %s\n"
				  "user_dn_template = uid=%%u," PA_LDAP_BASE "\n"
				  "[negotiate]\nkeytab = %s\ngroups_from = ldap\n",
				  s.uri, t->keytab);
		rc = check_config(conf, t->f->dir, out, sizeof(out));
		free(conf);
		if (rc == 0 || strstr(out, "search-then-bind") == NULL)
			fail_msg("direct bind with groups_from = ldap: rc %d, %s", rc, out);
	}
	pa_slapd_destroy(&s);
}

static int
check_config(const char *conf_text, const char *dir, char *out, size_t len)
{
	char *conf = pa_strdupf("%s/check.conf", dir), err[4096];
	const char *argv[] = { getenv("PA_DAEMON_BIN"), "-t", "-c", conf, NULL };
	int rc;

	pa_write_file(conf, conf_text);
	rc = pa_run(argv, out, len, err, sizeof(err));
	snprintf(out + strlen(out), len - strlen(out), "%s", err);
	free(conf);
	return rc;
}

/* Principal "alice " (a blank at the end, which MIT takes) is not alice,
 * but X-Auth-User "alice " reaches the application as "alice": every
 * proxy strips the blanks around a header value.  Refused, like a name
 * with ',' or ':'. */
static void
test_blank_edged_principal(void **state)
{
	struct nt *t = *state;
	struct pa_daemon *d = start(t, NULL, NULL);
	char tok[8192], cc[300];
	struct pa_resp r;

	assert_non_null(d);
	snprintf(cc, sizeof(cc), "%s/blank.cc", t->f->dir);
	if (pa_kdc_add_keytab(&t->k, "\"alice \"", t->users) != 0 ||
	    pa_kdc_kinit(&t->k, "alice ", t->users, cc, NULL) != 0)
		fail_msg("cannot make principal 'alice '");
	token(cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 407 && !r.hdr[H_X_AUTH_USER].present, &r,
	       "'alice ' would reach the app as alice");
	pa_resp_free(&r);
	expect_refused(d, tok, "blank");
	/* alice herself still gets in. */
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "alice");
	pa_resp_free(&r);
}

static void
test_check_keytab(void **state)
{
	struct nt *t = *state;
	char out[8192], *conf, open_tab[300];
	int rc;

	conf = pa_strdupf("[server]\nbackends = htpasswd\n[htpasswd]\nfile = /dev/null\n"
			  "[negotiate]\nkeytab = %s/no-such.keytab\n", t->f->dir);
	rc = check_config(conf, t->f->dir, out, sizeof(out));
	free(conf);
	if (rc == 0 || strstr(out, "no-such.keytab: cannot open") == NULL)
		fail_msg("missing keytab: rc %d, %s", rc, out);

	snprintf(open_tab, sizeof(open_tab), "%s/open.keytab", t->f->dir);
	{
		char *data;
		size_t n;

		data = pa_read_file(t->keytab, &n);
		assert_non_null(data);
		int fd = open(open_tab, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0 && write(fd, data, n) == (ssize_t)n);
		close(fd);
		chmod(open_tab, 0644);
		free(data);
	}
	conf = pa_strdupf("[server]\nbackends = htpasswd\n[htpasswd]\nfile = /dev/null\n"
			  "[negotiate]\nkeytab = %s\n", open_tab);
	rc = check_config(conf, t->f->dir, out, sizeof(out));
	free(conf);
	if (rc == 0 || strstr(out, "readable or writable by group or others") == NULL)
		fail_msg("keytab readable by others: rc %d, %s", rc, out);

	conf = pa_strdupf("[server]\nbackends = htpasswd\n[htpasswd]\nfile = /dev/null\n"
			  "[negotiate]\nkeytab = %s\nservice_principal = " MISSING_SVC "\n",
			  t->keytab);
	rc = check_config(conf, t->f->dir, out, sizeof(out));
	free(conf);
	if (rc == 0 || strstr(out, "cannot use the keytab") == NULL)
		fail_msg("principal not in the keytab: rc %d, %s", rc, out);

	conf = pa_strdupf("[server]\nbackends = htpasswd\n[htpasswd]\nfile = /dev/null\n"
			  "[negotiate]\nkeytab = %s\n", t->keytab);
	rc = check_config(conf, t->f->dir, out, sizeof(out));
	free(conf);
	if (rc != 0 || strstr(out, "configuration OK") == NULL)
		fail_msg("good keytab: rc %d, %s", rc, out);
}

/* A daemon as nobody with its htpasswd and its keytab (a copy of t's,
 * owned by owner) in a folder nobody can reach; NULL when it does not
 * come up. */
static struct pa_daemon *
start_as_nobody(struct nt *t, const char *name, uid_t owner, gid_t group)
{
	char *shared = pa_strdupf("%s/%s", t->f->dir, name), *tab, *hp, *data, *conf;
	struct pa_daemon *d;
	size_t n;
	int fd;

	tab = pa_strdupf("%s/http.keytab", shared);
	hp = pa_strdupf("%s/users.htpasswd", shared);
	assert_int_equal(mkdir(shared, 0711), 0);
	data = pa_read_file(t->keytab, &n);
	assert_non_null(data);
	fd = open(tab, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && write(fd, data, n) == (ssize_t)n);
	close(fd);
	free(data);
	assert_int_equal(chown(tab, owner, group), 0);
	data = pa_htpasswd_line("bob", "bob-pw", NULL, 4);
	assert_int_equal(pa_write_file(hp, data), 0);
	assert_int_equal(chmod(hp, 0644), 0);
	free(data);
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nuser = nobody\nbackends = htpasswd\n"
			  "[htpasswd]\nfile = %s\n[negotiate]\nkeytab = %s\nreplay_cache = none\n",
			  hp, tab);
	d = pa_daemon_start(t->f, conf, NULL);
	free(conf);
	free(hp);
	free(tab);
	free(shared);
	return d;
}

/* Started as root with `user = nobody`: a keytab only root can read is
 * refused at start (every worker reads it when it first accepts), one
 * owned by nobody is used. */
static void
test_keytab_after_privdrop(void **state)
{
	struct nt *t = *state;
	struct passwd *pw = getpwnam("nobody");
	char *log, tok[8192];
	struct pa_daemon *d;
	struct pa_resp r;

	if (geteuid() != 0 || pw == NULL) {
		print_message("skipped: needs root and a user nobody\n");
		return;
	}
	/* nobody must reach the KDC's krb5.conf and the test's folders */
	assert_int_equal(chmod(t->k.dir, 0711), 0);
	assert_int_equal(chmod(t->k.krb5_conf, 0644), 0);
	assert_int_equal(chmod(t->f->dir, 0711), 0);

	d = start_as_nobody(t, "root-only", 0, 0);
	assert_null(d);
	log = pa_daemon_log(&t->f->d[t->f->n - 1]);
	if (strstr(log, "keytab") == NULL || strstr(log, "is not readable by this user") == NULL)
		fail_msg("a keytab nobody cannot read was not refused:\n%s", log);
	free(log);

	d = start_as_nobody(t, "nobodys", pw->pw_uid, pw->pw_gid);
	assert_non_null(d);
	assert_true(pa_daemon_wait_log(d, "running as user nobody", 1, 2000));
	token(t->alice_cc, SVC, 1, 0, tok, sizeof(tok));
	neg_get(d, "/auth", tok, &r);
	EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice"), &r, "as nobody");
	pa_resp_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_challenges_and_basic, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_valid_token, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_replay, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_expired_and_cache_end, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_groups_from_ldap, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_principal_case, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_blank_edged_principal, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_check_keytab, nt_setup, nt_teardown),
		cmocka_unit_test_setup_teardown(test_keytab_after_privdrop, nt_setup, nt_teardown),
	};

	pa_scrub_environment();
	pa_harness_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
