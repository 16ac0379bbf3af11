/*
 * Unit tests for lib/squid_line.c: Squid's basic-auth helper lines.  A
 * request is parsed with and without channel IDs, %XX decoded strictly
 * ('+' stays a plus), checked like a Basic header (limits, control
 * characters, UTF-8, empty password) and never comes out usable when it
 * is not well-formed; answers are one quoted line each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "squid_line.h"

#define T(s) s, sizeof(s) - 1

static void
parse_ok(const char *line, bool with_id, const char *id, const char *user,
	 const char *password, const char *client)
{
	struct pa_squid_request r;

	memset(&r, 'X', sizeof(r));
	assert_int_equal(pa_squid_parse(line, strlen(line), with_id, &r), 0);
	if (r.status != PA_CRED_OK)
		fail_msg("%s: status %d (%s)", line, r.status, r.why ? r.why : "NULL");
	assert_string_equal(r.id, id);
	assert_string_equal(r.cred.user, user);
	assert_int_equal(r.cred.user_len, strlen(user));
	assert_string_equal(r.cred.password, password);
	assert_int_equal(r.cred.password_len, strlen(password));
	assert_string_equal(r.client, client);
}

/* A line that parses (the ID is there) but must be refused. */
static void
parse_bad(const char *line, size_t len, bool with_id, enum pa_cred_status want,
	  const char *why)
{
	struct pa_squid_request r;

	memset(&r, 'X', sizeof(r));
	assert_int_equal(pa_squid_parse(line, len, with_id, &r), 0);
	if (r.status != want)
		fail_msg("%.*s: status %d (%s), want %d", (int)(len > 60 ? 60 : len), line,
			 r.status, r.why ? r.why : "NULL", want);
	assert_non_null(r.why);
	assert_string_equal(r.why, why);
	assert_string_equal(r.cred.password, "");
	assert_int_equal(r.cred.password_len, 0);
	if (want != PA_CRED_EMPTY_PASSWORD)
		assert_string_equal(r.cred.user, "");
}

static void
test_plain_lines(void **state)
{
	(void)state;
	parse_ok("0 alice s3cret", true, "0", "alice", "s3cret", "");
	parse_ok("12345 alice s3cret", true, "12345", "alice", "s3cret", "");
	parse_ok("alice s3cret", false, "", "alice", "s3cret", "");
	/* A numeric user without channel IDs is a user. */
	parse_ok("42 s3cret", false, "", "42", "s3cret", "");
	/* Tabs and runs of spaces separate too; a CR was stripped by the reader. */
	parse_ok("7  alice\ts3cret", true, "7", "alice", "s3cret", "");
}

static void
test_escapes(void **state)
{
	(void)state;
	parse_ok("1 J%C3%BCrgen p%20w%25x", true, "1", "J\xc3\xbcrgen", "p w%x", "");
	parse_ok("1 a+b c+d", true, "1", "a+b", "c+d", "");		/* '+' is literal */
	parse_ok("1 alice a%3ab%3Ac", true, "1", "alice", "a:b:c", "");	/* either case */
	parse_ok("1 alice %22%5C%27", true, "1", "alice", "\"\\'", "");
	parse_bad(T("1 alice pw%"), true, PA_CRED_MALFORMED, "bad escape in password");
	parse_bad(T("1 alice pw%4"), true, PA_CRED_MALFORMED, "bad escape in password");
	parse_bad(T("1 alice pw%zz"), true, PA_CRED_MALFORMED, "bad escape in password");
	parse_bad(T("1 al%g1ce pw"), true, PA_CRED_MALFORMED, "bad escape in user");
	/* Decoded control characters, NUL and bad UTF-8 never pass. */
	parse_bad(T("1 alice pw%0Ax"), true, PA_CRED_MALFORMED, "control character");
	parse_bad(T("1 al%00ice pw"), true, PA_CRED_MALFORMED, "control character");
	parse_bad(T("1 alice %C2%85"), true, PA_CRED_MALFORMED, "control character");
	parse_bad(T("1 %FFalice pw"), true, PA_CRED_MALFORMED, "not UTF-8");
	parse_bad(T("1 a%3Ab pw"), true, PA_CRED_MALFORMED, "colon in user");
}

static void
test_missing_fields(void **state)
{
	(void)state;
	parse_bad(T("1"), true, PA_CRED_MALFORMED, "no user");
	parse_bad(T("1 "), true, PA_CRED_MALFORMED, "no user");
	parse_bad(T("1 alice"), true, PA_CRED_MALFORMED, "no password");
	parse_bad(T("1 alice "), true, PA_CRED_MALFORMED, "no password");
	parse_bad(T(""), false, PA_CRED_MALFORMED, "no user");
	parse_bad(T("alice"), false, PA_CRED_MALFORMED, "no password");
	/* Fields are never empty (a space separates): an empty password
	 * can only be a missing one, refused the same way. */
}

static void
test_no_channel_id(void **state)
{
	struct pa_squid_request r;

	(void)state;
	memset(&r, 'X', sizeof(r));
	assert_int_equal(pa_squid_parse(T("alice s3cret"), true, &r), -1);
	assert_string_equal(r.id, "");
	assert_int_equal(r.status, PA_CRED_MALFORMED);
	assert_string_equal(r.why, "no channel ID");
	assert_string_equal(r.cred.password, "");
	assert_int_equal(pa_squid_parse(T("12a alice s3cret"), true, &r), -1);
	assert_int_equal(pa_squid_parse(T("123456789012345678901 a b"), true, &r), -1);
	assert_int_equal(pa_squid_parse(T(""), true, &r), -1);
	assert_int_equal(pa_squid_parse(T(" 1 a b"), true, &r), -1);
	/* 20 digits is the most. */
	assert_int_equal(pa_squid_parse(T("12345678901234567890 a b"), true, &r), 0);
	assert_string_equal(r.id, "12345678901234567890");
}

static void
test_channel_id_prefix(void **state)
{
	char id[PA_SQUID_ID_MAX + 1];

	(void)state;
	assert_int_equal(pa_squid_channel_id(T("17 aaaa"), id), 3);
	assert_string_equal(id, "17");
	assert_int_equal(pa_squid_channel_id(T("17"), id), 2);
	assert_string_equal(id, "17");
	assert_int_equal(pa_squid_channel_id(T("17x"), id), -1);
	assert_string_equal(id, "");
	assert_int_equal(pa_squid_channel_id(T("x17"), id), -1);
}

static void
test_limits(void **state)
{
	char line[8 * 1024], *p;
	struct pa_squid_request r;
	size_t i;

	(void)state;
	/* 256 bytes of user, as 3-byte escapes: fine; one more: too long. */
	p = line + sprintf(line, "1 ");
	for (i = 0; i < PA_USER_MAX; i++)
		p += sprintf(p, "%%61");
	sprintf(p, " pw");
	assert_int_equal(pa_squid_parse(line, strlen(line), true, &r), 0);
	assert_int_equal(r.status, PA_CRED_OK);
	assert_int_equal(r.cred.user_len, PA_USER_MAX);
	p = line + sprintf(line, "1 ");
	for (i = 0; i <= PA_USER_MAX; i++)
		p += sprintf(p, "a");
	sprintf(p, " pw");
	parse_bad(line, strlen(line), true, PA_CRED_MALFORMED, "user too long");
	p = line + sprintf(line, "1 ");
	for (i = 0; i < PA_USER_MAX + 10; i++)
		p += sprintf(p, "a");
	sprintf(p, " pw");
	parse_bad(line, strlen(line), true, PA_CRED_MALFORMED, "user too long");

	p = line + sprintf(line, "1 alice ");
	for (i = 0; i < PA_PASSWORD_MAX; i++)
		p += sprintf(p, "%%7a");
	assert_int_equal(pa_squid_parse(line, strlen(line), true, &r), 0);
	assert_int_equal(r.status, PA_CRED_OK);
	assert_int_equal(r.cred.password_len, PA_PASSWORD_MAX);
	assert_int_equal(r.cred.password[0], 'z');
	sprintf(p, "z");
	parse_bad(line, strlen(line), true, PA_CRED_MALFORMED, "password too long");
	p = line + sprintf(line, "1 alice ");
	for (i = 0; i < PA_PASSWORD_MAX + 500; i++)
		p += sprintf(p, "z");
	parse_bad(line, strlen(line), true, PA_CRED_MALFORMED, "password too long");
}

static void
test_client_extra(void **state)
{
	(void)state;
	parse_ok("3 alice pw 192.0.2.7", true, "3", "alice", "pw", "192.0.2.7");
	parse_ok("3 alice pw 2001:db8::1 more", true, "3", "alice", "pw", "2001:db8::1");
	parse_ok("3 alice pw 2001%3Adb8%3A%3A1", true, "3", "alice", "pw", "2001:db8::1");
	parse_ok("alice pw 192.0.2.7", false, "", "alice", "pw", "192.0.2.7");
	/* Not an address: ignored, never taken as a client text. */
	parse_ok("3 alice pw -", true, "3", "alice", "pw", "");
	parse_ok("3 alice pw evil%0Ahost", true, "3", "alice", "pw", "");
	parse_ok("3 alice pw 192.0.2.7x", true, "3", "alice", "pw", "");
	parse_ok("3 alice pw 1111111111111111111111111111111111111111111111111111", true, "3",
		 "alice", "pw", "");
}

static void
test_format(void **state)
{
	char buf[PA_SQUID_ANSWER_MAX];

	(void)state;
	assert_int_equal(pa_squid_format(buf, sizeof(buf), "0", PA_SQUID_OK, "alice", NULL), 18);
	assert_string_equal(buf, "0 OK user=\"alice\"\n");
	pa_squid_format(buf, sizeof(buf), NULL, PA_SQUID_OK, "J\xc3\xbcrgen", NULL);
	assert_string_equal(buf, "OK user=\"J\xc3\xbcrgen\"\n");
	pa_squid_format(buf, sizeof(buf), "", PA_SQUID_OK, "a\"b\\c d", NULL);
	assert_string_equal(buf, "OK user=\"a\\\"b\\\\c d\"\n");
	pa_squid_format(buf, sizeof(buf), "17", PA_SQUID_ERR, NULL, "authentication failed");
	assert_string_equal(buf, "17 ERR message=\"authentication failed\"\n");
	pa_squid_format(buf, sizeof(buf), "17", PA_SQUID_BH, NULL, "down\r\nOK user=x");
	assert_string_equal(buf, "17 BH message=\"down??OK user=x\"\n");
	pa_squid_format(buf, sizeof(buf), "5", PA_SQUID_ERR, NULL, NULL);
	assert_string_equal(buf, "5 ERR\n");
	/* No user for OK: refused, never an OK line. */
	assert_int_equal(pa_squid_format(buf, sizeof(buf), "5", PA_SQUID_OK, NULL, NULL), -1);
	assert_string_equal(buf, "");
	/* Too small: -1 and nothing. */
	assert_int_equal(pa_squid_format(buf, 10, "5", PA_SQUID_OK, "alice", NULL), -1);
	assert_string_equal(buf, "");
	assert_int_equal(pa_squid_format(buf, 19, "0", PA_SQUID_OK, "alice", NULL), 18);
	assert_int_equal(pa_squid_format(buf, 18, "0", PA_SQUID_OK, "alice", NULL), -1);
}

static void
test_longest_answer_fits(void **state)
{
	char buf[PA_SQUID_ANSWER_MAX], user[PA_USER_MAX + 1];

	(void)state;
	memset(user, '"', PA_USER_MAX);
	user[PA_USER_MAX] = '\0';
	assert_true(pa_squid_format(buf, sizeof(buf), "12345678901234567890", PA_SQUID_OK, user,
				    NULL) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lines),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_no_channel_id),
		cmocka_unit_test(test_channel_id_prefix),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_client_extra),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_longest_answer_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
