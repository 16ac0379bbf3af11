/*
 * The LDAP backend (SPEC sections 3 and 4) against the real daemon and a
 * real, private slapd (ldap_server.h) loaded from tests/ldap/fixture.ldif:
 * search-then-bind and direct bind; right, wrong and empty passwords;
 * unknown users; two entries for one name; groups from memberOf and from
 * a group search; user names that would change a filter or a DN if they
 * were not escaped, each getting exactly the answer its literal value
 * deserves; failover to the second URI; StartTLS and ldaps:// with the
 * right CA and with an unrelated one; a server that never answers; slapd
 * stopped and restarted under a running daemon (a stale pooled connection
 * retried, /readyz down and up again); 32 different users at once, each
 * answer checked; and `proxyauthd -t` on broken [ldap] sections.
 *
 * The fixture's ACLs let a user read only its own entry and the groups,
 * while the service account reads all: a service search that ran on a
 * connection still bound as a user would not find other users.
 */
#include "backend.h"
#include "harness.h"
#include "ldap_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* pa_harness is built from harness.c alone (tests/CMakeLists.txt): the
 * helpers for other servers are compiled into this program here. */
#include "redis_server.c"
#include "ldap_server.c"

#define CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""
#define JOERG "j\xc3\xb6rg"
#define JOERG_PW "p\xc3\xa4ss w\xc3\xb6rd"
#define NCONC 32

struct lt {
	struct pa_fixture *f;
	struct pa_slapd s;
	int hole;
};

static int
lt_setup(void **state)
{
	struct lt *t = calloc(1, sizeof(*t));
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
lt_teardown(void **state)
{
	struct lt *t = *state;
	void *fs = t->f;

	(void)pa_fixture_teardown(&fs);
	pa_slapd_destroy(&t->s);
	if (t->hole >= 0)
		close(t->hole);
	free(t);
	*state = NULL;
	return 0;
}

static void
start_slapd(struct lt *t)
{
	if (pa_slapd_start(&t->s) != 0)
		fail_msg("cannot start slapd");
}

/* [ldap] for search-then-bind against uri. */
static char *
search_conf(const struct lt *t, const char *uri, const char *extra)
{
	return pa_strdupf("uri = %s\nbind_dn = " PA_LDAP_SVC_DN "\nbind_password_file = %s\n"
			  "base_dn = " PA_LDAP_BASE "\n%s", uri, t->s.svc_secret, extra);
}

static char *
direct_conf(const char *uri, const char *extra)
{
	return pa_strdupf("uri = %s\nuser_dn_template = uid=%%u,ou=people," PA_LDAP_BASE "\n%s",
			  uri, extra);
}

/* A daemon with backends (default "ldap"), server_extra lines for
 * [server], the [ldap] body, and an htpasswd text (may be NULL). */
static struct pa_daemon *
start_daemon(struct lt *t, const char *backends, const char *server_extra, char *ldap_body,
	     const char *htpasswd)
{
	char *conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_ttl = 0\n"
				"negative_ttl = 0\nbackends = %s\n%s%s[ldap]\n%s",
				backends != NULL ? backends : "ldap", server_extra,
				htpasswd != NULL ? "[htpasswd]\nfile = @HTPASSWD@\n" : "", ldap_body);
	struct pa_daemon *d = pa_daemon_start(t->f, conf, htpasswd);

	free(conf);
	free(ldap_body);
	if (d == NULL)
		fail_msg("proxyauthd did not start (its log is above)");
	return d;
}

/* The end of d's log, for a failure message. */
static void
print_log_tail(const struct pa_daemon *d)
{
	char *log = pa_daemon_log(d);
	size_t n = strlen(log);

	fprintf(stderr, "daemon log (end):\n%s\n", log + (n > 3000 ? n - 3000 : 0));
	free(log);
}

/* Stops d; it must exit 0 within the harness's deadline. */
static void
stop_daemon(struct pa_daemon *d)
{
	int rc = pa_daemon_stop(d);

	if (rc != 0) {
		print_log_tail(d);
		fail_msg("proxyauthd exit status %d after SIGTERM", rc);
	}
}

/* Compares comma lists as sets (LDAP gives values in no fixed order). */
static bool
same_groups(const char *a, const char *b)
{
	char x[PA_GROUPS_MAX], *tok, *save = NULL;
	int na = 0, nb = 0;

	snprintf(x, sizeof(x), "%s", a);
	for (tok = strtok_r(x, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);
		const char *p = b;
		bool found = false;

		na++;
		while ((p = strstr(p, tok)) != NULL) {
			if ((p == b || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
				found = true;
				break;
			}
			p++;
		}
		if (!found)
			return false;
	}
	if (b[0] != '\0')
		for (nb = 1, tok = (char *)b; (tok = strchr(tok, ',')) != NULL; tok++)
			nb++;
	return na == nb;
}

static void
expect_allow(const struct pa_daemon *d, const char *user, const char *pw, const char *groups,
	     const char *backend, const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(pa_get_basic(d, "/auth", user, pw, &r), 0);
	if (r.status != 204)
		print_log_tail(d);
	EXPECT(r.status == 204, &r, "%s", ctx);
	EXPECT(HDR_IS(&r, H_X_AUTH_USER, user), &r, "%s: X-Auth-User", ctx);
	EXPECT(r.hdr[H_X_AUTH_GROUPS].count == 1 &&
	       same_groups(r.hdr[H_X_AUTH_GROUPS].value, groups), &r, "%s: X-Auth-Groups '%s'",
	       ctx, groups);
	EXPECT(HDR_IS(&r, H_X_AUTH_BACKEND, backend), &r, "%s: X-Auth-Backend", ctx);
	pa_resp_free(&r);
}

static void
check_deny(const struct pa_resp *r, const char *ctx)
{
	EXPECT(r->status == 407, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_PROXY_AUTHENTICATE, CHALLENGE), r, "%s: the challenge", ctx);
	EXPECT(!r->hdr[H_X_AUTH_USER].present && !r->hdr[H_X_AUTH_BACKEND].present, r,
	       "%s: no identity", ctx);
}

static void
expect_deny(const struct pa_daemon *d, const char *user, const char *pw, const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(pa_get_basic(d, "/auth", user, pw, &r), 0);
	check_deny(&r, ctx);
	pa_resp_free(&r);
}

static void
expect_unavailable(const struct pa_daemon *d, const char *user, const char *pw, const char *ctx)
{
	struct pa_resp r;

	assert_int_equal(pa_get_basic(d, "/auth", user, pw, &r), 0);
	EXPECT(r.status == 503, &r, "%s", ctx);
	EXPECT(HDR_IS(&r, H_RETRY_AFTER, "1"), &r, "%s: Retry-After", ctx);
	EXPECT(!r.hdr[H_PROXY_AUTHENTICATE].present && !r.hdr[H_X_AUTH_USER].present, &r,
	       "%s: no challenge, no identity", ctx);
	pa_resp_free(&r);
}

/* Sum of proxyauthd_backend_requests_total{backend="ldap"} over results. */
static double
ldap_calls(const struct pa_daemon *d)
{
	struct pa_resp r;
	char *p, *nl;
	double v = 0;

	assert_int_equal(pa_get(d, "GET", "/metrics", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "/metrics");
	for (p = r.body; p != NULL && *p != '\0'; p = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (strncmp(p, "proxyauthd_backend_requests_total{", 34) == 0 &&
		    strstr(p, "backend=\"ldap\"") != NULL)
			v += strtod(strrchr(p, ' ') + 1, NULL);
	}
	pa_resp_free(&r);
	return v;
}

/* Runs `proxyauthd -t -c conf`: exit status, both outputs into out. */
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

/* ---- both modes: passwords, unknown users, groups ------------------------ */

static void
basics(const struct pa_daemon *d, bool search_mode)
{
	double before;
	struct pa_resp r;
	char cred[64], hdr[128];

	expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "alice, right password");
	expect_allow(d, "bob", "bob-pw", "staff", "ldap", "bob");
	/* carol's only group is named "comma, group": it would split in
	 * X-Auth-Groups, so it is left out, and logged. */
	expect_allow(d, "carol", "carol-pw", "", "ldap", "carol, no usable groups");
	if (!pa_daemon_wait_log(d, "group name holds a comma", 1, 3000))
		fail_msg("a group name with a comma was not logged");
	expect_allow(d, JOERG, JOERG_PW, "staff,nordic", "ldap", "UTF-8 name and password");
	expect_deny(d, "alice", "bob-pw", "alice, another's password");
	expect_deny(d, "alice", "alice-pw ", "alice, a trailing space");
	expect_deny(d, "alice", "ALICE-PW", "alice, case of the password");
	expect_deny(d, "nobody", "alice-pw", "unknown user");
	expect_deny(d, "svc", PA_LDAP_SVC_PASSWORD, "the service account is no user");
	/* An empty password never reaches LDAP (it would be an anonymous
	 * bind that succeeds). */
	before = ldap_calls(d);
	expect_deny(d, "alice", "", "alice, empty password");
	expect_deny(d, "nobody", "", "unknown, empty password");
	pa_base64("alice:", 6, cred, sizeof(cred));
	snprintf(hdr, sizeof(hdr), "Proxy-Authorization: Basic %s", cred);
	assert_int_equal(pa_get(d, "GET", "/auth", hdr, &r), 0);
	check_deny(&r, "Basic alice: by hand");
	pa_resp_free(&r);
	if (ldap_calls(d) != before)
		fail_msg("an empty password reached the LDAP backend (%g calls before, %g after)",
			 before, ldap_calls(d));
	if (search_mode) {
		/* Two entries match uid=twin: a denial, logged. */
		expect_deny(d, "twin", "twin-pw", "two entries for one name");
		if (!pa_daemon_wait_log(d, "more than one entry", 1, 3000))
			fail_msg("the ambiguous match is not logged");
	}
}

/* slapd matches uid without regard to case, width or surrounding spaces:
 * whatever was typed, the identity handed on is the entry's uid, with the
 * entry's groups. */
static void
canonical_names(const struct pa_daemon *d)
{
	static const char *const typed[] = {
		"ALICE", " alice ", "Alice", " alice",
		"\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85",	/* fullwidth */
		"\xef\xbc\xa1lice",	/* fullwidth A */
	};
	size_t i;

	for (i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		struct pa_resp r;

		assert_int_equal(pa_get_basic(d, "/auth", typed[i], "alice-pw", &r), 0);
		EXPECT(r.status == 204 && HDR_IS(&r, H_X_AUTH_USER, "alice") &&
			       HDR_IS(&r, H_X_AUTH_GROUPS, "admins,staff"),
		       &r, "typed '%s': X-Auth-User must be the entry's uid", typed[i]);
		pa_resp_free(&r);
	}
}

static void
test_search_then_bind(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;

	start_slapd(t);
	d = start_daemon(t, NULL, "", search_conf(t, t->s.uri, ""), NULL);
	basics(d, true);
	canonical_names(d);
}

static void
test_search_group_search(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;

	start_slapd(t);
	d = start_daemon(t, NULL, "", search_conf(t, t->s.uri, "group_base_dn = ou=groups,"
						   PA_LDAP_BASE "\n"), NULL);
	basics(d, true);
	expect_allow(d, "u07", "pw-u07", "g07,odd-numbered", "ldap", "u07 by group search");
}

/* Applies an LDIF of changes (ldapmodify as the root DN) to t's slapd;
 * name names the file and the failure. */
static void
ldif_apply(struct lt *t, const char *name, const char *text)
{
	char *ldif = pa_strdupf("%s/%s.ldif", t->f->dir, name), out[2048];
	const char *argv[] = { "ldapmodify", "-x", "-H", t->s.uri, "-D", PA_LDAP_ROOT_DN,
			       "-w", PA_LDAP_ROOT_PASSWORD, "-f", ldif, NULL };

	assert_int_equal(pa_write_file(ldif, text), 0);
	if (pa_ldap_tool(argv, out, sizeof(out)) != 0)
		fail_msg("ldapmodify %s: %s", name, out);
	free(ldif);
}

/*
 * A group entry whose cn has a second value: the directory, memberOf and
 * SSSD name the group by its RDN (cn=team7), but every cn value counted
 * as a group, so whoever may write the entry (a group owner under a broad
 * "by dnattr=owner write") adding "cn: admins" gave every member the
 * admins group in X-Auth-Groups and in [rule] checks.  With several
 * values the group is named by its RDN's; in both modes, and bob still
 * gets his other groups.
 */
static void
test_group_second_cn(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d, *d2;

	start_slapd(t);
	ldif_apply(t, "team7", "dn: cn=team7,ou=groups," PA_LDAP_BASE "\n"
		   "changetype: add\nobjectClass: groupOfNames\n"
		   "cn: team7\ncn: admins\n"
		   "member: uid=bob,ou=people," PA_LDAP_BASE "\n");
	d = start_daemon(t, NULL, "", search_conf(t, t->s.uri, "group_base_dn = ou=groups,"
						   PA_LDAP_BASE "\n"), NULL);
	expect_allow(d, "bob", "bob-pw", "staff,team7", "ldap", "bob by group search");
	expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "alice by group search");
	d2 = start_daemon(t, NULL, "", search_conf(t, t->s.uri, ""), NULL);
	expect_allow(d2, "bob", "bob-pw", "staff,team7", "ldap", "bob by memberOf");
}

/* LDAP matches "carl" to a stored uid "carl " (surrounding blanks are
 * insignificant to it), and an X-Auth-User "carl " reaches the
 * application as carl, since every proxy strips the blanks around a
 * header value: whoever may create such an entry would be carl there.
 * Refused with a warning; a name with an inner blank is no such name. */
static void
test_name_blank_edged(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;

	start_slapd(t);
	/* uid:: base64 of "carl " (LDIF would trim a plain trailing blank) */
	ldif_apply(t, "carl", "dn: cn=Carl Blank,ou=people," PA_LDAP_BASE "\n"
		   "changetype: add\nobjectClass: inetOrgPerson\n"
		   "cn: Carl Blank\nsn: Blank\nuid:: Y2FybCA=\n"
		   "userPassword: carl-pw\n");
	d = start_daemon(t, NULL, "", search_conf(t, t->s.uri, ""), NULL);
	expect_deny(d, "carl", "carl-pw", "uid 'carl ' matched by 'carl'");
	expect_deny(d, "carl ", "carl-pw", "uid 'carl ' matched by 'carl '");
	if (!pa_daemon_wait_log(d, "begins or ends with a blank", 1, 3000))
		fail_msg("no warning for a name with a blank at an end");
	expect_allow(d, "bob", "bob-pw", "staff", "ldap", "bob beside it");
}

static void
test_direct_bind(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d, *d2;

	start_slapd(t);
	d = start_daemon(t, NULL, "", direct_conf(t->s.uri, ""), NULL);
	basics(d, false);
	/* The bound DN was built from the typed name: X-Auth-User is still
	 * the entry's uid, read right after the bind. */
	canonical_names(d);
	/* Groups by a search under group_base_dn, run as the user itself. */
	d2 = start_daemon(t, NULL, "", direct_conf(t->s.uri, "group_base_dn = ou=groups,"
						   PA_LDAP_BASE "\n"), NULL);
	basics(d2, false);
	canonical_names(d2);
	/* A group base that does not exist after a good bind: no answer
	 * (503), neither "no such user" nor a grant without groups. */
	d2 = start_daemon(t, NULL, "", direct_conf(t->s.uri, "group_base_dn = ou=nowhere,"
						   PA_LDAP_BASE "\n"), NULL);
	expect_unavailable(d2, "alice", "alice-pw", "direct, group_base_dn missing");
	expect_deny(d2, "alice", "wrong", "direct, group_base_dn missing, wrong password");
}

/* ---- account expiry -------------------------------------------------------- */

/* Sets (or, with value NULL, removes) attr on uid=user as the rootdn. */
static void
ldap_set(const struct lt *t, const char *user, const char *attr, const char *value)
{
	char *ldif = pa_strdupf("%s/mod.ldif", t->f->dir), out[2048];
	char *text = value != NULL
		? pa_strdupf("dn: uid=%s,ou=people," PA_LDAP_BASE "\nchangetype: modify\n"
			     "replace: %s\n%s: %s\n", user, attr, attr, value)
		: pa_strdupf("dn: uid=%s,ou=people," PA_LDAP_BASE "\nchangetype: modify\n"
			     "delete: %s\n", user, attr);
	const char *argv[] = { "ldapmodify", "-x", "-H", t->s.uri, "-D", PA_LDAP_ROOT_DN, "-w",
			       PA_LDAP_ROOT_PASSWORD, "-f", ldif, NULL };

	assert_int_equal(pa_write_file(ldif, text), 0);
	if (pa_ldap_tool(argv, out, sizeof(out)) != 0)
		fail_msg("ldapmodify %s %s: %s", user, attr, out);
	free(text);
	free(ldif);
}

/* expiry_attribute = pwdEndTime: slapd itself does not enforce it without
 * a password policy, so the backend does, in both modes, with no extra
 * operation (read with the name); and a cached grant (cache_ttl 60) ends
 * within a second of it, with no allow begun 0.2 s after it. */
static void
test_expiry(void **state)
{
	struct lt *t = *state;
	struct pa_expiry_seen seen;
	struct pa_daemon *d, *ds;
	char when[32], *conf, *log;
	time_t e;
	int64_t expires;

	start_slapd(t);
	ldap_set(t, "carol", "pwdEndTime", "20200101000000Z");
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_ttl = 60\n"
			  "backends = ldap\n[ldap]\nuri = %s\nuser_dn_template = uid=%%u,ou=people,"
			  PA_LDAP_BASE "\nexpiry_attribute = pwdEndTime\n", t->s.uri);
	d = pa_daemon_start(t->f, conf, NULL);
	free(conf);
	assert_non_null(d);
	ds = start_daemon(t, NULL, "", search_conf(t, t->s.uri, "expiry_attribute = pwdEndTime\n"),
			  NULL);
	expect_deny(d, "carol", "carol-pw", "direct: carol expired in 2020");
	expect_deny(ds, "carol", "carol-pw", "search: carol expired in 2020");
	/* With a time zone offset: 2020, still past. */
	ldap_set(t, "u01", "pwdEndTime", "20200101013000+0130");
	expect_deny(d, "u01", "pw-u01", "direct: expired, with an offset");
	expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "direct: alice, no expiry");
	expect_allow(ds, "alice", "alice-pw", "admins,staff", "ldap", "search: alice, no expiry");

	e = time(NULL) + 3;
	strftime(when, sizeof(when), "%Y%m%d%H%M%SZ", gmtime(&e));
	ldap_set(t, "bob", "pwdEndTime", when);
	expires = (int64_t)e * 1000;
	expect_allow(d, "bob", "bob-pw", "staff", "ldap", "direct: bob before pwdEndTime");
	pa_watch_expiry(d, "bob", "bob-pw", expires, &seen);
	log = pa_daemon_log(d);
	if (pa_count(log, "cache=hit") < 1 || seen.allows_before < 2) {
		free(log);
		fail_msg("bob's grant was not served from the cache before expiry");
	}
	free(log);
	if (!seen.denied || seen.first_deny > 1000)
		fail_msg("first deny %ld ms after pwdEndTime (want <= 1000)",
			 seen.denied ? seen.first_deny : -1L);
	if (seen.allowed_after && seen.last_allow > 200)
		fail_msg("allowed %ld ms after pwdEndTime", seen.last_allow);
	print_message("ldap expiry: first deny %ld ms after pwdEndTime\n", seen.first_deny);
	expect_deny(ds, "bob", "bob-pw", "search: bob after pwdEndTime");
}

/* ---- names that would inject -------------------------------------------- */

static void
odd_names(const struct pa_daemon *d, bool search_mode)
{
	struct pa_resp r;
	char cred[128], hdr[256];

	/* Users whose uid literally holds these characters get in with their
	 * own password, and only with it. */
	expect_allow(d, "admin)(uid=*", "lit-admin-pw", "odd", "ldap", "literal admin)(uid=*");
	expect_deny(d, "admin)(uid=*", "alice-pw", "admin)(uid=* with alice's password");
	expect_allow(d, "x))(|(uid=*", "lit-x-pw", "odd", "ldap", "literal x))(|(uid=*");
	expect_deny(d, "x))(|(uid=*", "bob-pw", "x))(|(uid=* with bob's password");
	expect_allow(d, "back\\slash", "lit-bs-pw", "odd", "ldap", "backslash");
	expect_allow(d, "o,dd+na=me", "lit-odd-pw", "odd", "ldap", "comma, plus, equals");
	expect_allow(d, "#hash", "lit-hash-pw", "odd", "ldap", "leading #");
	expect_deny(d, "back\\slash", "alice-pw", "backslash, wrong password");
	/* Names that only an unescaped filter or DN would match. */
	expect_deny(d, "*", "alice-pw", "* with alice's password");
	expect_deny(d, "al*", "alice-pw", "al* with alice's password");
	expect_deny(d, "alice)(uid=*", "alice-pw", "alice)(uid=*");
	expect_deny(d, "*)(objectClass=*", "alice-pw", "*)(objectClass=*");
	expect_deny(d, "alice,ou=people", "alice-pw", "alice,ou=people");
	expect_deny(d, "alice\\2a", "alice-pw", "an escape sequence as a name");
	expect_deny(d, "x\\", "alice-pw", "a trailing backslash");
	expect_deny(d, "alice+cn=Alice Liddell", "alice-pw", "a multi-valued RDN");
	expect_deny(d, "j\xc3\xb6r*", JOERG_PW, "UTF-8 prefix and *");
	if (search_mode) {
		/* "*" exists in the htpasswd behind LDAP: LDAP must say not
		 * found (an unescaped "(uid=*)" would match many and deny). */
		expect_allow(d, "*", "star-pw", "", "htpasswd", "* falls through to htpasswd");
	}
	/* A NUL inside the user name never reaches a backend. */
	memcpy(cred, "ali\0ce:alice-pw", 15);
	pa_base64(cred, 15, hdr + 200, 56);
	snprintf(hdr, 200, "Proxy-Authorization: Basic %s", hdr + 200);
	assert_int_equal(pa_get(d, "GET", "/auth", hdr, &r), 0);
	check_deny(&r, "a NUL in the name");
	pa_resp_free(&r);
}

static void
test_injection_search(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char *ht;

	start_slapd(t);
	ht = pa_htpasswd_line("*", "star-pw", NULL, 4);
	assert_non_null(ht);
	d = start_daemon(t, "ldap, htpasswd", "", search_conf(t, t->s.uri, ""), ht);
	free(ht);
	odd_names(d, true);
	/* A filter of the user's own making: mail and uid both. */
}

static void
test_injection_direct(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;

	start_slapd(t);
	d = start_daemon(t, NULL, "", direct_conf(t->s.uri, ""), NULL);
	odd_names(d, false);
}

/* ---- failover, TLS, timeouts -------------------------------------------- */

/*
 * A server that drops connection attempts (a host that is down): a
 * listener that never accepts, with its accept queue filled, so that the
 * kernel drops further SYNs.  Returns the listening descriptor (the filler
 * connections go into fill[], up to 16, -1 terminated) and the port, or -1
 * when the queue did not fill (the caller skips that case).
 */
static int
dropping_server(int *port, int fill[17])
{
	int fd, n = 0, i;

	fill[0] = -1;
	if ((fd = pa_blackhole_listen(port)) < 0)
		return -1;
	(void)listen(fd, 0);
	for (i = 0; i < 16; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)*port) };
		struct pollfd pfd;
		int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (c < 0)
			break;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)connect(c, (struct sockaddr *)&sa, sizeof(sa));
		pfd.fd = c;
		pfd.events = POLLOUT;
		fill[n++] = c;
		fill[n] = -1;
		if (poll(&pfd, 1, 300) == 0)
			return fd;	/* this one hangs: SYNs are dropped now */
	}
	for (i = 0; i < n; i++)
		close(fill[i]);
	fill[0] = -1;
	close(fd);
	return -1;
}

static void
test_failover(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char *uri;
	int down = pa_free_port();

	start_slapd(t);
	uri = pa_strdupf("ldap://127.0.0.1:%d %s", down, t->s.uri);
	d = start_daemon(t, NULL, "", search_conf(t, uri, ""), NULL);
	expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "the first server down");
	expect_deny(d, "alice", "wrong", "the first server down, wrong password");
	free(uri);
	uri = pa_strdupf("ldap://127.0.0.1:%d %s", down, t->s.uri);
	d = start_daemon(t, NULL, "", direct_conf(uri, ""), NULL);
	expect_allow(d, "bob", "bob-pw", "staff", "ldap", "direct, the first server down");
	free(uri);

	/* The first server drops packets (a host that is down): it may take
	 * only its share of timeout_ms, or nothing is left for the second. */
	{
		int fill[17], hole_port, hole, i;
		char *extra;

		if ((hole = dropping_server(&hole_port, fill)) < 0) {
			print_message("cannot make a server that drops SYNs here; case skipped\n");
			return;
		}
		uri = pa_strdupf("ldap://127.0.0.1:%d %s", hole_port, t->s.uri);
		extra = pa_strdupf("timeout_ms = 3000\npool_size = 1\n");
		d = start_daemon(t, NULL, "", search_conf(t, uri, extra), NULL);
		expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap",
			     "the first server drops packets");
		free(extra);
		free(uri);
		for (i = 0; fill[i] >= 0; i++)
			close(fill[i]);
		close(hole);
	}
}

static void
test_tls(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char body[512], *extra;
	const char *ca[2];
	int good;

	start_slapd(t);
	ca[0] = t->s.ca;
	ca[1] = t->s.bad_ca;
	for (good = 0; good < 2; good++) {
		/* StartTLS on ldap:// */
		extra = pa_strdupf("starttls = true\nca_file = %s\n", ca[good]);
		d = start_daemon(t, NULL, "", search_conf(t, t->s.uri, extra), NULL);
		free(extra);
		if (good == 0) {
			expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "StartTLS");
			expect_deny(d, "alice", "nope", "StartTLS, wrong password");
			if (pa_wait_readyz(d, 200, 5000, body, sizeof(body)) < 0)
				fail_msg("/readyz with StartTLS: '%s'", body);
		} else {
			expect_unavailable(d, "alice", "alice-pw", "StartTLS, unrelated CA");
			if (pa_wait_readyz(d, 503, 5000, body, sizeof(body)) < 0 ||
			    strstr(body, "ldap") == NULL)
				fail_msg("/readyz with StartTLS and a bad CA: '%s'", body);
		}
		stop_daemon(d);
		/* ldaps:// */
		extra = pa_strdupf("ca_file = %s\n", ca[good]);
		d = start_daemon(t, NULL, "", direct_conf(t->s.uris, extra), NULL);
		free(extra);
		if (good == 0) {
			expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "ldaps");
			expect_deny(d, "alice", "nope", "ldaps, wrong password");
		} else {
			expect_unavailable(d, "alice", "alice-pw", "ldaps, unrelated CA");
			if (!pa_daemon_wait_log(d, "ldap", 1, 1000))
				fail_msg("nothing logged");
		}
		stop_daemon(d);
	}
	/* No ca_file: the system bundle does not know our CA either. */
	d = start_daemon(t, NULL, "", search_conf(t, t->s.uris, ""), NULL);
	expect_unavailable(d, "alice", "alice-pw", "ldaps, system CAs only");
	/* Failover between ldaps:// servers: the first refuses. */
	extra = pa_strdupf("ca_file = %s\n", t->s.ca);
	{
		char *uri = pa_strdupf("ldaps://127.0.0.1:%d %s", pa_free_port(), t->s.uris);

		d = start_daemon(t, NULL, "", search_conf(t, uri, extra), NULL);
		expect_allow(d, "bob", "bob-pw", "staff", "ldap", "ldaps failover");
		free(uri);
	}
	free(extra);
}

static void
test_silent_server(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char *uri, body[512];
	long t0, took;
	int port, i;

	t->hole = pa_blackhole_listen(&port);
	assert_true(t->hole >= 0);
	/* No slapd here: the service password file is the test's own. */
	snprintf(t->s.svc_secret, sizeof(t->s.svc_secret), "%s/svc.secret", t->f->dir);
	assert_int_equal(pa_write_file(t->s.svc_secret, PA_LDAP_SVC_PASSWORD "\n"), 0);
	for (i = 0; i < 4; i++) {
		const char *scheme = i == 2 ? "ldaps" : "ldap";
		const char *extra = i == 3 ? "timeout_ms = 500\nstarttls = true\n" :
			"timeout_ms = 500\n";

		uri = pa_strdupf("%s://127.0.0.1:%d", scheme, port);
		/* The service bind (search mode), the user bind (direct), the
		 * TLS handshake (ldaps) and StartTLS each meet a server that
		 * never answers. */
		d = start_daemon(t, NULL, "", i == 0 ? search_conf(t, uri, extra) :
				 direct_conf(uri, extra), NULL);
		free(uri);
		t0 = pa_now_ms();
		expect_unavailable(d, "alice", "alice-pw", "a silent server");
		took = pa_now_ms() - t0;
		print_message("%s%s, %s mode: 503 after %ld ms (timeout_ms = 500)\n", scheme,
			      i == 3 ? " + StartTLS" : "", i == 0 ? "search" : "direct", took);
		if (took < 400 || took > 3000)
			fail_msg("503 after %ld ms with timeout_ms = 500", took);
		if (pa_wait_readyz(d, 503, 5000, body, sizeof(body)) < 0)
			fail_msg("/readyz with a silent server: '%s'", body);
		stop_daemon(d);
	}
}

/* ---- slapd stopped and restarted ---------------------------------------- */

static void
test_restart(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char body[512];
	long t0;
	int mode;

	start_slapd(t);
	for (mode = 0; mode < 2; mode++) {
		d = start_daemon(t, NULL, "", mode == 0 ? search_conf(t, t->s.uri, "pool_size = 1\n")
				 : direct_conf(t->s.uri, "pool_size = 1\n"), NULL);
		expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "before the restart");
		if (pa_wait_readyz(d, 200, 5000, body, sizeof(body)) < 0)
			fail_msg("/readyz before the restart: '%s'", body);
		/* The pooled connections now point at a server that is gone;
		 * the first lookup after the restart must retry on a fresh one. */
		assert_int_equal(pa_slapd_stop(&t->s), 0);
		assert_int_equal(pa_slapd_restart(&t->s), 0);
		expect_allow(d, "bob", "bob-pw", "staff", "ldap", "first lookup after a restart");
		expect_allow(d, "alice", "alice-pw", "admins,staff", "ldap", "after a restart");

		/* Down: 503, never an allow; /readyz says so. */
		assert_int_equal(pa_slapd_stop(&t->s), 0);
		expect_unavailable(d, "alice", "alice-pw", "slapd stopped");
		expect_unavailable(d, "carol", "wrong", "slapd stopped, wrong password");
		if (pa_wait_readyz(d, 503, 6000, body, sizeof(body)) < 0 || strstr(body, "ldap") == NULL)
			fail_msg("/readyz while slapd is stopped: '%s'", body);
		/* Up again without restarting proxyauthd. */
		assert_int_equal(pa_slapd_restart(&t->s), 0);
		t0 = pa_now_ms();
		expect_allow(d, "carol", "carol-pw", "", "ldap", "slapd back");
		if (pa_wait_readyz(d, 200, 6000, body, sizeof(body)) < 0)
			fail_msg("/readyz not 200 6 s after slapd came back: '%s'", body);
		print_message("mode %d: /readyz 200 %ld ms after slapd came back\n", mode,
			      pa_now_ms() - t0);
		stop_daemon(d);
	}
}

/* ---- 32 users at once --------------------------------------------------- */

struct job {
	const struct pa_daemon *d;
	pthread_barrier_t *go;
	char user[16], pw[32], groups[64];
	long status, wrong_status;
	int user_count, groups_count;
	char got_user[1024], got_groups[1024], got_backend[1024];
};

static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct pa_resp r;

	pthread_barrier_wait(j->go);
	j->status = pa_get_basic(j->d, "/auth", j->user, j->pw, &r) == 0 ? r.status : 0;
	j->user_count = r.hdr[H_X_AUTH_USER].count;
	j->groups_count = r.hdr[H_X_AUTH_GROUPS].count;
	snprintf(j->got_user, sizeof(j->got_user), "%s", r.hdr[H_X_AUTH_USER].value);
	snprintf(j->got_groups, sizeof(j->got_groups), "%s", r.hdr[H_X_AUTH_GROUPS].value);
	snprintf(j->got_backend, sizeof(j->got_backend), "%s", r.hdr[H_X_AUTH_BACKEND].value);
	pa_resp_free(&r);
	j->wrong_status = pa_auth_status(j->d, j->user, "pw-wrong");
	return NULL;
}

static void
concurrent(const struct pa_daemon *d, const char *what)
{
	static struct job jobs[NCONC];
	pthread_t th[NCONC];
	pthread_barrier_t go;
	int i, round;

	for (round = 0; round < 3; round++) {
		assert_int_equal(pthread_barrier_init(&go, NULL, NCONC), 0);
		for (i = 0; i < NCONC; i++) {
			struct job *j = &jobs[i];

			memset(j, 0, sizeof(*j));
			j->d = d;
			j->go = &go;
			snprintf(j->user, sizeof(j->user), "u%02d", i + 1);
			snprintf(j->pw, sizeof(j->pw), "pw-u%02d", i + 1);
			snprintf(j->groups, sizeof(j->groups), "g%02d,%s", i + 1,
				 (i + 1) % 2 == 0 ? "even" : "odd-numbered");
			assert_int_equal(pthread_create(&th[i], NULL, job_run, j), 0);
		}
		for (i = 0; i < NCONC; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		for (i = 0; i < NCONC; i++) {
			const struct job *j = &jobs[i];

			if (j->status != 204 || j->user_count != 1 || j->groups_count != 1 ||
			    strcmp(j->got_user, j->user) != 0 ||
			    !same_groups(j->got_groups, j->groups) ||
			    strcmp(j->got_backend, "ldap") != 0 || j->wrong_status != 407)
				fail_msg("%s, round %d, %s: status %ld, X-Auth-User '%s' (x%d), "
					 "X-Auth-Groups '%s' (x%d), X-Auth-Backend '%s', wrong "
					 "password %ld; want 204, %s, %s, ldap, 407", what, round,
					 j->user, j->status, j->got_user, j->user_count,
					 j->got_groups, j->groups_count, j->got_backend,
					 j->wrong_status, j->user, j->groups);
		}
	}
}

static void
test_concurrent(void **state)
{
	struct lt *t = *state;
	struct pa_daemon *d;
	char out[1024];
	const char *as_user[] = { "ldapsearch", "-x", "-LLL", "-H", t->s.uri, "-D",
				  "uid=u01,ou=people," PA_LDAP_BASE, "-w", "pw-u01", "-b",
				  PA_LDAP_BASE, "(uid=u02)", "dn", NULL };

	start_slapd(t);
	as_user[4] = t->s.uri;
	/* The fixture's ACLs make this test able to fail: a connection bound
	 * as a user does not see other users. */
	(void)pa_ldap_tool(as_user, out, sizeof(out));
	if (strstr(out, "uid=u02") != NULL)
		fail_msg("u01 can read u02's entry; the ACLs do not isolate users: %s", out);
	d = start_daemon(t, NULL, "threads = 8\n", search_conf(t, t->s.uri, "pool_size = 3\n"),
			 NULL);
	concurrent(d, "search-then-bind, memberOf");
	stop_daemon(d);
	d = start_daemon(t, NULL, "threads = 8\n", search_conf(t, t->s.uri, "pool_size = 2\n"
			 "group_base_dn = ou=groups," PA_LDAP_BASE "\n"), NULL);
	concurrent(d, "search-then-bind, group search");
	stop_daemon(d);
	d = start_daemon(t, NULL, "threads = 8\n", direct_conf(t->s.uri, "pool_size = 3\n"), NULL);
	concurrent(d, "direct bind");
}

/* ---- configuration ------------------------------------------------------ */

static void
test_config_errors(void **state)
{
	struct lt *t = *state;
	char *path = pa_strdupf("%s/bad.conf", t->f->dir), *secret = pa_strdupf("%s/s", t->f->dir);
	char *conf, out[4096];

	assert_int_equal(pa_write_file(secret, "pw\n"), 0);
	/* Both modes at once; a template without %u; StartTLS with ldaps. */
	conf = pa_strdupf("[server]\nbackends = ldap\n[ldap]\nuri = ldaps://127.0.0.1:1\n"
			  "starttls = yes\nuser_dn_template = uid=alice,dc=x\nbind_dn = cn=x\n"
			  "bind_password_file = %s\nbase_dn = dc=x\n", secret);
	assert_int_equal(pa_write_file(path, conf), 0);
	free(conf);
	if (daemon_check(path, out, sizeof(out)) == 0 || strstr(out, "bad.conf:6:") == NULL ||
	    strstr(out, "starttls") == NULL || strstr(out, "either") == NULL ||
	    strstr(out, "%u") == NULL)
		fail_msg("proxyauthd -t on a broken [ldap]:\n%s", out);
	/* Neither mode; no uri. */
	assert_int_equal(pa_write_file(path, "[server]\nbackends = ldap\n[ldap]\n"
				       "timeout_ms = 100\n"), 0);
	if (daemon_check(path, out, sizeof(out)) == 0 || strstr(out, "uri") == NULL ||
	    strstr(out, "needs either") == NULL)
		fail_msg("proxyauthd -t on an empty [ldap]:\n%s", out);
	/* A filter without %u, a group filter without %d, a bad key. */
	conf = pa_strdupf("[server]\nbackends = ldap\n[ldap]\nuri = ldap://127.0.0.1:1\n"
			  "bind_dn = cn=x\nbind_password_file = %s\nbase_dn = dc=x\n"
			  "user_filter = (uid=alice)\ngroup_base_dn = dc=x\ngroup_filter = (member=x)\n"
			  "pool_size = 0\n", secret);
	assert_int_equal(pa_write_file(path, conf), 0);
	free(conf);
	if (daemon_check(path, out, sizeof(out)) == 0 || strstr(out, "bad.conf:8:") == NULL ||
	    strstr(out, "bad.conf:10:") == NULL || strstr(out, "pool_size") == NULL)
		fail_msg("proxyauthd -t on filters without %%u/%%d:\n%s", out);
	/* A secret file others can read is refused. */
	assert_int_equal(chmod(secret, 0644), 0);
	conf = pa_strdupf("[server]\nbackends = ldap\n[ldap]\nuri = ldap://127.0.0.1:1\n"
			  "bind_dn = cn=x\nbind_password_file = %s\nbase_dn = dc=x\n", secret);
	assert_int_equal(pa_write_file(path, conf), 0);
	free(conf);
	if (daemon_check(path, out, sizeof(out)) == 0 || strstr(out, "bad.conf:6:") == NULL)
		fail_msg("proxyauthd -t with a readable secret:\n%s", out);
	/* A good one. */
	assert_int_equal(chmod(secret, 0600), 0);
	if (daemon_check(path, out, sizeof(out)) != 0 || strstr(out, "configuration OK") == NULL)
		fail_msg("proxyauthd -t on a good [ldap]:\n%s", out);
	free(path);
	free(secret);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_search_then_bind, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_search_group_search, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_group_second_cn, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_name_blank_edged, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_direct_bind, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_expiry, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_injection_search, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_injection_direct, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_failover, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_tls, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_silent_server, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_restart, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, lt_setup, lt_teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, lt_setup, lt_teardown),
	};

	pa_scrub_environment();
	pa_harness_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
