/*
 * Unit tests for lib/ldap_escape.c: RFC 4514 DN values and RFC 4515
 * filter values for every name the LDAP backend may be handed (the
 * injection classics, every special character, NUL, control characters,
 * UTF-8, leading and trailing spaces), both directions (escape then
 * unescape gives the input back; the escaped form has no special character
 * outside an escape), exhaustive over every byte, bounded outputs that
 * report instead of cutting, and %u / %d template expansion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ldap_escape.h"

#define T(s) s, sizeof(s) - 1

static void
check_dn(const char *in, size_t inlen, const char *want)
{
	char out[1024];

	assert_int_equal(pa_ldap_escape_dn(in, inlen, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);
}

static void
check_filter(const char *in, size_t inlen, const char *want)
{
	char out[1024];

	assert_int_equal(pa_ldap_escape_filter(in, inlen, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);
}

static void
test_dn_table(void **state)
{
	(void)state;
	check_dn(T("alice"), "alice");
	check_dn(T(""), "");
	check_dn(T("*"), "*");
	check_dn(T("admin)(uid=*"), "admin)(uid\\3d*");
	check_dn(T("a,b+c=d"), "a\\2cb\\2bc\\3dd");
	check_dn(T("#lead"), "\\23lead");
	check_dn(T("mid#dle"), "mid\\23dle");
	check_dn(T(" sp "), "\\20sp\\20");
	check_dn(T("in side"), "in side");
	check_dn(T("\"q\";<x>\\"), "\\22q\\22\\3b\\3cx\\3e\\5c");
	check_dn(T("nul\0x"), "nul\\00x");
	check_dn(T("tab\tcr\r\x7f"), "tab\\09cr\\0d\\7f");
	check_dn(T("j\xc3\xb6rg"), "j\xc3\xb6rg");
	check_dn(T("cn=admin,dc=example,dc=org"), "cn\\3dadmin\\2cdc\\3dexample\\2cdc\\3dorg");
}

static void
test_filter_table(void **state)
{
	(void)state;
	check_filter(T("alice"), "alice");
	check_filter(T("*"), "\\2a");
	check_filter(T("admin)(uid=*"), "admin\\29\\28uid=\\2a");
	check_filter(T("x))(|(uid=*"), "x\\29\\29\\28|\\28uid=\\2a");
	check_filter(T("back\\slash"), "back\\5cslash");
	check_filter(T("nul\0x"), "nul\\00x");
	check_filter(T("a,b+c=d#e"), "a,b+c=d#e");
	check_filter(T("j\xc3\xb6rg"), "j\xc3\xb6rg");
	check_filter(T("uid=a\\2c,ou=x"), "uid=a\\5c2c,ou=x");
}

/* No special character may stand outside an escape in an escaped form. */
static void
assert_no_bare_special(const char *s, size_t n, const char *specials, bool dn)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			assert_true(i + 2 < n);
			assert_true(strchr("0123456789abcdef", s[i + 1]) != NULL && s[i + 1] != '\0');
			assert_true(strchr("0123456789abcdef", s[i + 2]) != NULL && s[i + 2] != '\0');
			i += 2;
			continue;
		}
		assert_true(c != '\0');
		assert_null(strchr(specials, c));
		if (dn) {
			assert_true(c >= 0x20 && c != 0x7f);
			assert_false(c == ' ' && (i == 0 || i + 1 == n));
		}
	}
}

static void
roundtrip(const char *in, size_t inlen)
{
	char esc[4096], back[1024];
	int n, m;

	n = pa_ldap_escape_dn(in, inlen, esc, sizeof(esc));
	assert_true(n >= 0);
	assert_no_bare_special(esc, (size_t)n, "\"+,;<=>#", true);
	m = pa_ldap_unescape_dn(esc, (size_t)n, back, sizeof(back));
	assert_int_equal(m, (int)inlen);
	assert_memory_equal(back, in, inlen);

	n = pa_ldap_escape_filter(in, inlen, esc, sizeof(esc));
	assert_true(n >= 0);
	assert_no_bare_special(esc, (size_t)n, "*()", false);
	m = pa_ldap_unescape_filter(esc, (size_t)n, back, sizeof(back));
	assert_int_equal(m, (int)inlen);
	assert_memory_equal(back, in, inlen);
}

static void
test_roundtrip(void **state)
{
	static const char *const names[] = {
		"alice", "*", "admin)(uid=*", "x))(|(uid=*", "back\\slash", "a,b", "a+b",
		"a=b", "#x", " x", "x ", " ", "  ", "j\xc3\xb6rg", "\xe6\x97\xa5\xe6\x9c\xac",
		"\"quoted\"", "<>;", "\\\\2a", "\\", "%u", "",
	};
	char buf[3];
	size_t i;
	int a, b;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		roundtrip(names[i], strlen(names[i]));
	roundtrip("nul\0inside", 10);
	/* Every byte alone, and every pair, in both escapers. */
	for (a = 0; a < 256; a++) {
		buf[0] = (char)a;
		roundtrip(buf, 1);
		for (b = 0; b < 256; b += 7) {
			buf[1] = (char)b;
			buf[2] = ' ';
			roundtrip(buf, 2);
			roundtrip(buf, 3);
		}
	}
}

static void
test_unescape_rejects(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(pa_ldap_unescape_dn(T("a,b"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("a=b"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("trailing\\"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("\\zz"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("\\4"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("a\0b"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("a*"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("(a"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("a\\"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("a\\2"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("a\\,"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("a\0b"), out, sizeof(out)), -1);
	/* The RFC 4514 short forms and upper-case hex are accepted. */
	assert_int_equal(pa_ldap_unescape_dn(T("a\\,b\\+c\\3D\\ "), out, sizeof(out)), 7);
	assert_string_equal(out, "a,b+c= ");
	assert_int_equal(pa_ldap_unescape_filter(T("\\2A\\28"), out, sizeof(out)), 2);
	assert_string_equal(out, "*(");
}

static void
test_bounded(void **state)
{
	char out[8];

	(void)state;
	/* Exactly fits: 7 bytes and the NUL. */
	assert_int_equal(pa_ldap_escape_filter(T("1234567"), out, sizeof(out)), 7);
	assert_int_equal(pa_ldap_escape_filter(T("12345678"), out, sizeof(out)), -1);
	assert_string_equal(out, "");
	/* An escape is never cut in half. */
	assert_int_equal(pa_ldap_escape_filter(T("12345*"), out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(pa_ldap_escape_dn(T("1234,"), out, sizeof(out)), 7);
	assert_int_equal(pa_ldap_escape_dn(T("12345,"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_dn(T("12345678"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_unescape_filter(T("1234567\\2a"), out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_escape_dn(T("x"), out, 0), -1);
	assert_int_equal(pa_ldap_escape_dn(T("x"), out, 1), -1);
	assert_int_equal(pa_ldap_escape_dn(T(""), out, 1), 0);
}

static void
test_expand(void **state)
{
	char out[128], esc[64];

	(void)state;
	assert_int_equal(pa_ldap_expand("uid=%u,ou=people,dc=example,dc=org", 'u', "alice",
					out, sizeof(out)), 37);
	assert_string_equal(out, "uid=alice,ou=people,dc=example,dc=org");
	assert_true(pa_ldap_escape_filter(T("x))(|(uid=*"), esc, sizeof(esc)) > 0);
	assert_true(pa_ldap_expand("(&(objectClass=inetOrgPerson)(uid=%u))", 'u', esc, out,
				   sizeof(out)) > 0);
	assert_string_equal(out, "(&(objectClass=inetOrgPerson)(uid=x\\29\\29\\28|\\28uid=\\2a))");
	assert_true(pa_ldap_expand("(|(uid=%u)(mail=%u))", 'u', "a", out, sizeof(out)) > 0);
	assert_string_equal(out, "(|(uid=a)(mail=a))");
	assert_true(pa_ldap_expand("(member=%d)(x=100%%)", 'd', "cn=a", out, sizeof(out)) > 0);
	assert_string_equal(out, "(member=cn=a)(x=100%)");
	/* The value's own '%' is not a directive. */
	assert_true(pa_ldap_expand("uid=%u", 'u', "%d%u", out, sizeof(out)) > 0);
	assert_string_equal(out, "uid=%d%u");
	assert_int_equal(pa_ldap_expand("uid=alice", 'u', "x", out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_expand("uid=%d", 'u', "x", out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_expand("uid=%u%", 'u', "x", out, sizeof(out)), -1);
	assert_int_equal(pa_ldap_expand("uid=%u", 'u', "toolongvalue", out, 10), -1);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dn_table),
		cmocka_unit_test(test_filter_table),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_unescape_rejects),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_expand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
