/*
 * Authorisation rules: path normalisation (so encoded or dotted paths
 * cannot slip past a rule), host matching with wildcards and ports, file
 * order, fallback to [server], and group checks.
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

static void
test_path_normalize(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "/", "/" },
		{ "", "/" },
		{ "/admin", "/admin" },
		{ "/admin?x=/../y", "/admin" },
		{ "/admin#frag", "/admin" },
		{ "//admin//x", "/admin/x" },
		{ "/public/../admin", "/admin" },
		{ "/public/./../admin/", "/admin/" },
		{ "/a/b/../../../admin", "/admin" },
		{ "/%61dmin", "/admin" },
		{ "/public/%2e%2e/admin", "/admin" },
		{ "/x/%2E%2E", "/" },
		{ "/..", "/" },
		{ "/a/.", "/a/" },
		{ "http://app.example.org/admin/x?q", "/admin/x" },
		{ "https://app.example.org", "/" },
		{ "/caf%C3%A9", "/caf\xc3\xa9" },
		/* "://" in a path or query is not an absolute URL. */
		{ "/admin?next=https://x.org/home", "/admin" },
		{ "/admin/x://evil", "/admin/x:/evil" },
		{ "/admin/https://x.org/home", "/admin/https:/x.org/home" },
		{ "https://app.example.org?x=/y", "/" },
		{ "HTTPS://app.example.org/Admin", "/Admin" },
	};
	static const char *const bad[] = {
		"/a%", "/a%4", "/a%zz", "/a%00b", "/a%0a", "/a\x01", "/%ff",
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(pa_path_normalize(ok[i].in, strlen(ok[i].in), out, sizeof(out)), 0);
		if (strcmp(out, ok[i].out) != 0)
			fail_msg("%s normalised to %s, want %s", ok[i].in, out, ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pa_path_normalize(bad[i], strlen(bad[i]), out, sizeof(out)) == 0)
			fail_msg("%s accepted as %s", bad[i], out);
	assert_int_equal(pa_path_normalize("/abcdef", 7, out, 4), -1);
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

#define REQ(r, h, p) pa_rules_required((r), (h), len_or_0(h), (p), len_or_0(p), &rule)

static void
test_rules_in_file_order(void **state)
{
	struct pa_config cfg;
	struct pa_rules r;
	const char *rule;

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
	assert_string_equal(REQ(&r, "APP.example.org:8443", "/public/../admin"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/%61dmin"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/admin?next=https://x.org/home"),
			    "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/admin/x://evil"), "admins");
	assert_string_equal(REQ(&r, "app.example.org", "https://app.example.org/admin/x"),
			    "admins");
	assert_string_equal(REQ(&r, "app.example.org", "/home"), "users,staff");
	assert_string_equal(rule, "app");
	assert_string_equal(REQ(&r, "app.example.org, evil.example", "/home"), "users,staff");
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
	const char *rule;

	(void)state;
	load(&cfg, &r, "[server]\nrequire_groups = admins\n");
	assert_string_equal(REQ(&r, "x", "/a%zz"), "admins");
	pa_rules_free(&r);
	pa_config_free(&cfg);
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
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_rules_in_file_order),
		cmocka_unit_test(test_no_rules_uses_server),
		cmocka_unit_test(test_groups_satisfy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
