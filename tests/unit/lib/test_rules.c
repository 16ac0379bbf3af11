/*
 * Authorisation rules: path and host canonicalisation (every variant of
 * issue 12 refused or judged by the rule it names, and the twins that must
 * stay open), segment-wise and case-insensitive prefixes, path_case,
 * host matching with wildcards and ports, file order, fallback to
 * [server], config errors and group checks.
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

#include "rules.h"

/* Every path variant of issue 12 and its twins: accepted ones with the
 * path the rules compare, refused ones with why. */
static void
test_path_canon(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "/", "/" },
		{ "/admin", "/admin" },
		{ "/admin/", "/admin/" },
		{ "/admin/x", "/admin/x" },
		{ "/administrator", "/administrator" },
		{ "/ADMIN/x", "/ADMIN/x" },		/* case is the compare's business */
		{ "/admin?x=/../y", "/admin" },		/* the query is not the path */
		{ "/admin?a=%zz;b", "/admin" },		/* the query is not decoded */
		{ "/admin//x", "/admin/x" },		/* merged, as nginx does */
		{ "/admin/x//", "/admin/x/" },
		{ "/%61dmin", "/admin" },
		{ "/a...b/...", "/a...b/..." },		/* not dot segments */
		{ "/.well-known/x", "/.well-known/x" },
		{ "http://app.example.org/admin/x?q", "/admin/x" },
		{ "https://app.example.org", "/" },
		{ "https://app.example.org?x=/y", "/" },
		{ "HTTPS://app.example.org/Admin", "/Admin" },
		{ "/caf%C3%A9", "/caf\xc3\xa9" },
		{ "/caf\xc3\xa9", "/caf\xc3\xa9" },
		{ "/admin?next=https://x.org/home", "/admin" },
		{ "/admin/https://x.org/home", "/admin/https:/x.org/home" },
		{ "/a%20b", "/a b" },
	};
	static const char *const bad[] = {
		/* dot segments, literal or encoded, anywhere */
		"/admin/../x", "/admin/%2e%2e/x", "/admin/%2E%2e/x", "/admin/x/../../public",
		"/admin/.%2e/x", "/./admin", "/admin/.", "/admin/..", "/..", "/%2e/admin",
		"/public/..;/admin/x",
		/* ';' parameters, literal or encoded */
		"/admin;x/y", "/admin%3bx/y", "/admin%3Bjsessionid=1",
		/* backslash and encoded separators */
		"/public\\..\\admin\\x", "/public%5c..%5cadmin", "/public%2f..%2fadmin",
		"/admin%2Fx",
		/* a leading "//": Node's new URL(req.url, base) and Java's URI
		 * read the first segment as a host ("//evil/admin" is "/admin") */
		"//admin/x", "//app.example.org/admin/x", "///admin", "http://h//admin/x",
		/* double encoding */
		"/%2561dmin/", "/a%25",
		/* fragments, literal or encoded, also in the query */
		"/admin#/", "/public#/../admin", "/admin%23x", "/x?a#b", "/admin%3f/x",
		/* control characters and NUL */
		"/a%00b", "/a%0a", "/a\x01", "/a%7f", "/a\x7f",
		/* invalid UTF-8 after decoding */
		"/%ff", "/%c3", "/\xc3(", "/%c0%af",
		/* bad escapes */
		"/a%", "/a%4", "/a%zz",
		/* empty or relative */
		"", "?x", "admin/x", "*", "https://app.example.org#x",
	};
	char out[256];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		why = NULL;
		if (pa_path_canon(ok[i].in, strlen(ok[i].in), out, sizeof(out), &why) != 0)
			fail_msg("%s refused: %s", ok[i].in, why);
		if (strcmp(out, ok[i].out) != 0)
			fail_msg("%s canonical %s, want %s", ok[i].in, out, ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (pa_path_canon(bad[i], strlen(bad[i]), out, sizeof(out), &why) == 0)
			fail_msg("%s accepted as %s", bad[i], out);
		assert_non_null(why);
	}
	/* A NUL byte inside the value (header values are counted). */
	assert_int_equal(pa_path_canon("/a\0b", 4, out, sizeof(out), &why), -1);
	assert_int_equal(pa_path_canon("/abcdef", 7, out, 4, &why), -1);
}

static void
test_host_canon(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "app.example.org", "app.example.org" },
		{ "APP.Example.ORG", "app.example.org" },
		{ "app.example.org.", "app.example.org" },	/* one trailing dot */
		{ "app.example.org:443", "app.example.org" },
		{ "app.example.org.:8080", "app.example.org" },
		{ "localhost", "localhost" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.1:3128", "127.0.0.1" },
		{ "[::1]", "[::1]" },
		{ "[2001:DB8::1]:8443", "[2001:db8::1]" },
		/* one spelling per IPv6 address, as a rule names it */
		{ "[0:0::1]", "[::1]" },
		{ "[0000:0000:0000:0000:0000:0000:0000:0001]:80", "[::1]" },
		{ "[2001:db8:0:0:0:0:0:1]", "[2001:db8::1]" },
		{ "[::FFFF:127.0.0.1]", "127.0.0.1" },	/* IPv4-mapped is the IPv4 host */
		{ "[::ffff:7f00:1]", "127.0.0.1" },
	};
	static const char *const bad[] = {
		"", ".", "app.example.org..", " app.example.org", "app.example.org ",
		"app .example.org", "\tapp.example.org", "user@app.example.org",
		"other.example.org, app.example.org", "app.example.org,other",
		"app..example.org", ".app.example.org", "app_x.example.org",
		"b\xc3\xbc" "cher.example", "app.example.org:", "app.example.org:x",
		"app.example.org:123456", "app.example.org:80:80", "::1", "[::1", "[::1]x",
		"[::1]:", "[zz::1]", "[::1%25eth0]", "[fe80::1%eth0]", "127.1", "0177.0.0.1",
		"0x7f.0.0.1", "1.2.3.4.5",
		"256.0.0.1", "0x7f000001", "app/x", "app\\x", "app%2eexample.org",
	};
	char out[256];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		why = NULL;
		if (pa_host_canon(ok[i].in, strlen(ok[i].in), out, sizeof(out), &why) != 0)
			fail_msg("%s refused: %s", ok[i].in, why);
		if (strcmp(out, ok[i].out) != 0)
			fail_msg("%s canonical %s, want %s", ok[i].in, out, ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (pa_host_canon(bad[i], strlen(bad[i]), out, sizeof(out), &why) == 0)
			fail_msg("'%s' accepted as %s", bad[i], out);
		assert_non_null(why);
	}
	assert_int_equal(pa_host_canon("app\0.example.org", 16, out, sizeof(out), &why), -1);
	assert_int_equal(pa_host_canon("[20b8::\0\0]:1", 14, out, sizeof(out), &why), -1);
}

static void
test_path_under(void **state)
{
	(void)state;
	assert_true(pa_path_under("/admin", "/admin", false));
	assert_true(pa_path_under("/admin/", "/admin", false));
	assert_true(pa_path_under("/admin/x", "/admin", false));
	assert_false(pa_path_under("/administrator", "/admin", false));
	assert_false(pa_path_under("/adm", "/admin", false));
	assert_true(pa_path_under("/ADMIN/x", "/admin", false));
	assert_true(pa_path_under("/Admin", "/admin", false));
	assert_false(pa_path_under("/ADMIN/x", "/admin", true));
	assert_true(pa_path_under("/admin/x", "/admin", true));
	/* Letters Java and .NET fold to ASCII. */
	assert_true(pa_path_under("/adm\xc4\xb1n/x", "/admin", false));	/* U+0131 */
	assert_true(pa_path_under("/adm\xc4\xb0n/x", "/admin", false));	/* U+0130 */
	assert_true(pa_path_under("/\xc5\xbf" "ecret", "/secret", false));	/* U+017F */
	assert_true(pa_path_under("/\xe2\x84\xaa" "eys", "/keys", false));	/* U+212A */
	assert_false(pa_path_under("/adm\xc4\xb1n/x", "/admin", true));
	/* Any letter, as .NET's OrdinalIgnoreCase and JavaScript's /i do:
	 * "/CAF\u00c9" is "/caf\u00e9", "\u03a3" is "\u03c3" and "\u03c2". */
	assert_true(pa_path_under("/CAF\xc3\x89/x", "/caf\xc3\xa9", false));
	assert_true(pa_path_under("/caf\xc3\xa9", "/CAF\xc3\x89", false));
	assert_true(pa_path_under("/\xce\xa3", "/\xcf\x82", false));
	assert_true(pa_path_under("/\xd0\x90\xd0\xb1", "/\xd0\xb0\xd0\x91", false));	/* Cyrillic */
	assert_false(pa_path_under("/CAF\xc3\x89", "/caf\xc3\xa9", true));
	assert_false(pa_path_under("/cafe", "/caf\xc3\xa9", false));
	assert_true(pa_path_under("/x", "/", false));
	assert_true(pa_path_under("/x", "", false));
	/* A segment with a suffix after '.' or ' ' is the same segment to
	 * Rails and Spring (format and suffix patterns: /admin.json) and to
	 * Windows paths (trailing dots and spaces dropped: /admin./x). */
	assert_true(pa_path_under("/admin.json", "/admin", false));
	assert_true(pa_path_under("/admin.", "/admin", true));
	assert_true(pa_path_under("/admin../x", "/admin", false));
	assert_true(pa_path_under("/admin /x", "/admin", false));
	assert_true(pa_path_under("/Admin.JSON", "/admin", false));
	assert_true(pa_path_under("/admin./secret/x", "/admin/secret", false));
	assert_true(pa_path_under("/admin/secret.txt", "/admin/secret", false));
	/* NTFS streams on IIS: "/admin::$DATA", "/admin:$i30:$index_allocation/x" */
	assert_true(pa_path_under("/admin::$DATA", "/admin", false));
	assert_true(pa_path_under("/admin:$i30:$index_allocation/x", "/admin", false));
	assert_false(pa_path_under("/wiki/Special:Search", "/wiki/Spec", false));
	assert_false(pa_path_under("/adminx.json", "/admin", false));
	assert_false(pa_path_under("/admin-tools", "/admin", false));
	assert_false(pa_path_under("/admin_x", "/admin", false));
	assert_false(pa_path_under("/admin./public", "/admin/secret", false));
}

static void
load(struct pa_config *cfg, struct pa_rules *r, const char *text)
{
	char path[] = "/tmp/pa-rules-XXXXXX";
	int fd = mkstemp(path);
	struct pa_error err = { { 0 } };
	FILE *devnull = fopen("/dev/null", "w");

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(pa_config_load(path, NULL, cfg, devnull), 0);
	fclose(devnull);
	unlink(path);
	assert_int_equal(pa_rules_load(cfg, r, &err), 0);
}

static size_t
len_or_0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

#define REQ(r, h, p) pa_rules_required((r), (h), len_or_0(h), (p), len_or_0(p), &rule, &why)

static void
test_rules_in_file_order(void **state)
{
	struct pa_config cfg;
	struct pa_rules r;
	const char *rule, *why;

	(void)state;
	load(&cfg, &r,
	     "[server]\nrequire_groups = staff\n"
	     "[rule admin]\nhost = app.example.org\npath_prefix = /admin\nrequire_groups = admins\n"
	     "[rule app]\nhost = app.example.org\nrequire_groups = users, staff\n"
	     "[rule wiki]\nhost = *.wiki.example.org\n"
	     "[rule health]\npath_prefix = /health\nrequire_groups =\n");
	assert_int_equal(r.n, 4);
	assert_string_equal(REQ(&r, "app.example.org", "/admin/users"), "admins");
	assert_string_equal(rule, "admin");
	assert_string_equal(REQ(&r, "APP.example.org:8443", "/admin"), "admins");
	assert_null(REQ(&r, "APP.example.org:8443", "/public/../admin"));
	assert_string_equal(REQ(&r, "app.example.org", "/%61dmin"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/admin?next=https://x.org/home"),
			    "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/admin/x://evil"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "https://app.example.org/admin/x"),
			    "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/home"), "users,staff");
	assert_string_equal(rule, "app");
	assert_null(REQ(&r, "app.example.org, evil.example", "/home"));	/* a list */
	/* "*.wiki.example.org" needs a label before the suffix. */
	assert_string_equal(REQ(&r, "en.wiki.example.org", "/x"), "");
	assert_string_equal(rule, "wiki");
	assert_string_equal(REQ(&r, "wiki.example.org", "/x"), "staff");
	assert_null(rule);
	assert_string_equal(REQ(&r, "evilwiki.example.org", "/x"), "staff");
	assert_string_equal(REQ(&r, "other.example.org", "/health"), "");
	assert_string_equal(REQ(&r, NULL, NULL), "staff");
	/* A path that cannot be normalised is refused while rules exist. */
	assert_null(REQ(&r, "app.example.org", "/a%zz"));
	pa_rules_free(&r);
	pa_config_free(&cfg);
}

static void
test_no_rules_uses_server(void **state)
{
	struct pa_config cfg;
	struct pa_rules r;
	const char *rule, *why;

	(void)state;
	load(&cfg, &r, "[server]\nrequire_groups = admins\n");
	assert_string_equal(REQ(&r, "x", "/a%zz"), "admins");
	pa_rules_free(&r);
	pa_config_free(&cfg);
}

/* The issue's attack list against "[rule admin] host = app.example.org,
 * path_prefix = /admin/, require_groups = admins": each variant is refused
 * (NULL) or needs admins, and the twins that must stay open do. */
static void
test_issue12_variants(void **state)
{
	static const char *const needs_admins_or_refused[] = {
		"/admin/x", "/admin", "/admin/", "/ADMIN/x", "/Admin/x", "/admin/../x",
		"/admin/%2e%2e/x", "/admin/x/../../public", "/admin;x/y", "/public/..;/admin/x",
		"/public\\..\\admin\\x", "/%2561dmin/", "/admin#/", "//admin/x", "/%61dmin/x",
		"/admin?x", "/adm\xc4\xb1n/x", "http://app.example.org/admin/x",
		"//other.example.org/admin/x", "//x/admin",
		"/admin.json", "/admin.html", "/Admin.JSON/x", "/admin./x", "/admin%20/x",
		"/admin%2e/x", "/admin%20",
	};
	static const char *const hosts_judged_as_app[] = {
		"app.example.org", "APP.EXAMPLE.ORG", "app.example.org.", "app.example.org:443",
		"app.example.org.:80",
	};
	static const char *const hosts_refused[] = {
		"app.example.org..", " app.example.org", "app.example.org ", "bob@app.example.org",
		"other.example.org, app.example.org", "app.example.org, other.example.org", "",
	};
	struct pa_config cfg;
	struct pa_rules r;
	const char *rule, *why, *got;
	size_t i, j;

	(void)state;
	load(&cfg, &r,
	     "[server]\nrequire_groups =\n"
	     "[rule admin]\nhost = app.example.org\npath_prefix = /admin/\n"
	     "require_groups = admins\n");
	for (i = 0; i < sizeof(needs_admins_or_refused) / sizeof(needs_admins_or_refused[0]); i++) {
		got = REQ(&r, "app.example.org", needs_admins_or_refused[i]);
		if (got != NULL && strcmp(got, "admins") != 0)
			fail_msg("%s needs '%s'", needs_admins_or_refused[i], got);
		if (got != NULL)
			assert_true(pa_groups_satisfy(got, "staff,admins"));	/* admins pass */
	}
	/* The twins that stay open: everyone reaches these. */
	assert_string_equal(REQ(&r, "app.example.org", "/administrator"), "");
	assert_string_equal(REQ(&r, "app.example.org", "/public/x"), "");
	assert_string_equal(REQ(&r, "app.example.org", "/admin-tools"), "");
	assert_string_equal(REQ(&r, "app.example.org", "/adminx.json"), "");
	assert_string_equal(REQ(&r, "app.example.org", "/public/admin.json"), "");
	for (i = 0; i < sizeof(hosts_judged_as_app) / sizeof(hosts_judged_as_app[0]); i++) {
		got = REQ(&r, hosts_judged_as_app[i], "/admin/x");
		if (got == NULL || strcmp(got, "admins") != 0)
			fail_msg("host '%s' not judged as app.example.org", hosts_judged_as_app[i]);
	}
	for (i = 0; i < sizeof(hosts_refused) / sizeof(hosts_refused[0]); i++)
		for (j = 0; j < 2; j++)
			if (REQ(&r, hosts_refused[i], j ? "/admin/x" : "/public") != NULL)
				fail_msg("host '%s' accepted", hosts_refused[i]);
	/* Another host is another host: the proxy must not route it here. */
	assert_string_equal(REQ(&r, "other.example.org", "/admin/x"), "");
	assert_string_equal(REQ(&r, "127.0.0.1", "/admin/x"), "");
	pa_rules_free(&r);
	pa_config_free(&cfg);

	/* path_case = sensitive opts out of the case-insensitive compare. */
	load(&cfg, &r,
	     "[server]\nrequire_groups =\n"
	     "[rule admin]\npath_prefix = /admin\npath_case = sensitive\n"
	     "require_groups = admins\n");
	assert_string_equal(REQ(&r, "app.example.org", "/admin/x"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/Admin/x"), "");
	/* ... but not out of the refusals. */
	assert_null(REQ(&r, "app.example.org", "/admin/../x"));
	assert_non_null(why);
	pa_rules_free(&r);
	pa_config_free(&cfg);
}

/* A rule naming an IPv6 address matches every spelling of it. */
static void
test_ipv6_rule_host(void **state)
{
	struct pa_config cfg;
	struct pa_rules r;
	const char *rule, *why;

	(void)state;
	load(&cfg, &r,
	     "[server]\nrequire_groups =\n"
	     "[rule v6]\nhost = [2001:db8::1]\npath_prefix = /admin\nrequire_groups = admins\n"
	     "[rule v4]\nhost = 127.0.0.1\npath_prefix = /admin\nrequire_groups = admins\n");
	assert_string_equal(REQ(&r, "[2001:db8::1]", "/admin"), "admins");
	assert_string_equal(REQ(&r, "[2001:DB8:0::1]:8080", "/admin"), "admins");
	assert_string_equal(REQ(&r, "[2001:db8:0:0:0:0:0:1]", "/admin"), "admins");
	assert_string_equal(REQ(&r, "[::ffff:127.0.0.1]", "/admin"), "admins");
	assert_string_equal(REQ(&r, "[2001:db8::2]", "/admin"), "");
	pa_rules_free(&r);
	pa_config_free(&cfg);
}

/* Two context headers naming the path (X-Forwarded-Uri, X-Original-URI,
 * X-Original-URL) or the host must agree, or a client could supply the one
 * a proxy does not set. */
static void
test_context_agree(void **state)
{
#define PAGREE(a, b) pa_paths_agree((a), strlen(a), (b), strlen(b))
#define HAGREE(a, b) pa_hosts_agree((a), strlen(a), (b), strlen(b))
	(void)state;
	assert_true(PAGREE("/admin/x", "/admin/x"));
	assert_true(PAGREE("/admin/x?a=1", "https://app.example.org/admin/x?a=1"));
	assert_true(PAGREE("/%61dmin/x", "/admin/x"));
	assert_false(PAGREE("/public/x", "/admin/x"));
	assert_false(PAGREE("/admin/x", "/Admin/x"));	/* case: path_case decides */
	assert_false(PAGREE("/admin/../x", "/admin/../x"));	/* refused anyway */
	assert_true(HAGREE("app.example.org", "APP.example.org.:443"));
	assert_true(HAGREE("[::1]", "[0::1]:80"));
	assert_false(HAGREE("other.example.org", "app.example.org"));
	assert_false(HAGREE("app.example.org", "a b"));
	assert_int_equal(pa_url_scheme_len("https://h/x", 11), 8);
	assert_int_equal(pa_url_scheme_len("svn+ssh://h", 11), 10);
	assert_int_equal(pa_url_scheme_len("/a://h/x", 8), 0);
	assert_int_equal(pa_url_scheme_len("1a://h/x", 8), 0);
	assert_int_equal(pa_url_scheme_len("http:/x", 7), 0);
	assert_int_equal(pa_url_scheme_len("http://", 7), 7);
#undef PAGREE
#undef HAGREE
}

/* Bad host, path_prefix and path_case values are "file:line: message"
 * errors, as other keys are. */
static void
test_rule_config_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[rule a]\npath_case = upper\n", ":2: path_case must be one of" },
		{ "[rule a]\n\npath_prefix = admin\n", ":3: path_prefix:" },
		{ "[rule a]\npath_prefix = /admin/../x\n", ":2: path_prefix: dot segment" },
		{ "[rule a]\npath_prefix = /admin?x\n", ":2: path_prefix:" },
		{ "[rule a]\nhost = app.example.org, b.example\n", ":2: host:" },
		{ "[rule a]\nhost = app.example.org:443\n", ":2: host:" },
		{ "[rule a]\nhost = *.org\n", ":2: host:" },
		{ "[rule a]\nhost = app..example.org\n", ":2: host:" },
		{ "[rule a]\nhost = [::1]:80\n", ":2: host:" },
	};
	char path[] = "/tmp/pa-rules-XXXXXX", report[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pa_config cfg;
		FILE *rep = fmemopen(report, sizeof(report), "w");
		int fd;

		strcpy(path, "/tmp/pa-rules-XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0 && rep != NULL);
		assert_int_equal(write(fd, cases[i].text, strlen(cases[i].text)),
				 (ssize_t)strlen(cases[i].text));
		close(fd);
		memset(report, 0, sizeof(report));
		assert_true(pa_config_load(path, NULL, &cfg, rep) > 0);
		fclose(rep);
		unlink(path);
		if (strstr(report, cases[i].want) == NULL)
			fail_msg("%s: report '%s', want '%s'", cases[i].text, report, cases[i].want);
		pa_config_free(&cfg);
	}
}

static void
test_groups_satisfy(void **state)
{
	(void)state;
	assert_true(pa_groups_satisfy("", ""));
	assert_true(pa_groups_satisfy("", "a"));
	assert_true(pa_groups_satisfy("admins,ops", "users,ops"));
	assert_false(pa_groups_satisfy("admins", "users,ops"));
	assert_false(pa_groups_satisfy("admins", ""));
	assert_false(pa_groups_satisfy("admin", "admins"));	/* whole names only */
	assert_false(pa_groups_satisfy("Admins", "admins"));	/* case matters */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_canon),
		cmocka_unit_test(test_host_canon),
		cmocka_unit_test(test_path_under),
		cmocka_unit_test(test_issue12_variants),
		cmocka_unit_test(test_ipv6_rule_host),
		cmocka_unit_test(test_context_agree),
		cmocka_unit_test(test_rule_config_errors),
		cmocka_unit_test(test_rules_in_file_order),
		cmocka_unit_test(test_no_rules_uses_server),
		cmocka_unit_test(test_groups_satisfy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
