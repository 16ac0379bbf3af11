/*
 * Unit tests for lib/squid_negotiate.c: Squid's negotiate helper lines
 * (YR/KK in; AF/NA/BH out), with and without channel IDs, and that an
 * allow whose name Squid would split or misread is a BH, never an AF.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "squid_negotiate.h"

static void
test_parse(void **state)
{
	char id[PA_SQUID_ID_MAX + 1], h[64];
	const char *why = NULL;
	size_t n = 9;

	(void)state;
	assert_int_equal(pa_squid_negotiate_parse("YR YA8G", 7, false, id, h, sizeof(h), &n, &why),
			 0);
	assert_string_equal(h, "Negotiate YA8G");
	assert_int_equal(n, 14);
	assert_int_equal(pa_squid_negotiate_parse("7 KK  oRQw", 10, true, id, h, sizeof(h), &n,
						  &why), 0);
	assert_string_equal(id, "7");
	assert_string_equal(h, "Negotiate oRQw");
	assert_int_equal(pa_squid_negotiate_parse("YR ", 3, false, id, h, sizeof(h), &n, &why), -1);
	assert_string_equal(why, "no token");
	assert_int_equal(pa_squid_negotiate_parse("AF x y", 6, false, id, h, sizeof(h), &n, &why),
			 -1);
	assert_int_equal(pa_squid_negotiate_parse("YR abc", 6, true, id, h, sizeof(h), &n, &why),
			 -1);
	assert_string_equal(why, "no channel ID");
	assert_int_equal(pa_squid_negotiate_parse("YR 0123456789012345678901234567890123456789"
						  "0123456789012345678901234567890123456789", 83,
						  false, id, h, sizeof(h), &n, &why), -1);
	assert_string_equal(why, "token too long");
	assert_int_equal(n, 0);
}

static void
test_answer(void **state)
{
	char b[256];

	(void)state;
	assert_true(pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_ALLOW, "alice",
					      "oYG0") > 0);
	assert_string_equal(b, "AF oYG0 alice\n");
	pa_squid_negotiate_answer(b, sizeof(b), "3", PA_OUT_ALLOW, "alice", NULL);
	assert_string_equal(b, "3 AF " PA_SQUID_NEG_DONE " alice\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_ALLOW, "al ice", "x");
	assert_string_equal(b, "BH user name not representable\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_ALLOW, "a\"b", "x");
	assert_string_equal(b, "BH user name not representable\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_ALLOW, "", "x");
	assert_string_equal(b, "BH user name not representable\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_DENY, NULL, NULL);
	assert_string_equal(b, "NA authentication failed\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_MALFORMED, NULL, NULL);
	assert_string_equal(b, "NA authentication failed\n");
	pa_squid_negotiate_answer(b, sizeof(b), NULL, PA_OUT_FORBIDDEN, "alice", NULL);
	assert_string_equal(b, "NA not authorized\n");
	pa_squid_negotiate_answer(b, sizeof(b), "12", PA_OUT_UNAVAILABLE, NULL, NULL);
	assert_string_equal(b, "12 BH authentication backend unavailable\n");
	assert_int_equal(pa_squid_negotiate_answer(b, 4, NULL, PA_OUT_DENY, NULL, NULL), -1);
	assert_string_equal(b, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
