/*
 * Unit tests for lib/squid_answer.c: every decision outcome becomes the
 * answer line Squid acts on.  An allow is OK with the canonical name in
 * user= (quoted, escaped, one line); a forbidden answer is ERR "not
 * authorized"; deny, locked and malformed look alike (ERR "authentication
 * failed"), so a guesser learns nothing; unavailable is BH, so Squid never
 * caches it as a wrong password.  An allow that cannot be written whole is
 * BH, never an OK.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "squid_answer.h"

static void
expect(const char *id, enum pa_outcome o, const char *user, const char *line)
{
	char buf[PA_SQUID_ANSWER_MAX];
	int n = pa_squid_answer(buf, sizeof(buf), id, o, user);

	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(buf, line);
}

static void
test_every_outcome(void **state)
{
	(void)state;
	expect("7", PA_OUT_ALLOW, "alice", "7 OK user=\"alice\"\n");
	expect("7", PA_OUT_FORBIDDEN, "alice", "7 ERR message=\"not authorized\"\n");
	expect("7", PA_OUT_DENY, "alice", "7 ERR message=\"authentication failed\"\n");
	expect("7", PA_OUT_LOCKED, "alice", "7 ERR message=\"authentication failed\"\n");
	expect("7", PA_OUT_MALFORMED, NULL, "7 ERR message=\"authentication failed\"\n");
	expect("7", PA_OUT_UNAVAILABLE, NULL,
	       "7 BH message=\"authentication backend unavailable\"\n");
}

/* Without channel IDs (concurrency=0) the line starts with the word. */
static void
test_without_channel_id(void **state)
{
	(void)state;
	expect(NULL, PA_OUT_ALLOW, "bob", "OK user=\"bob\"\n");
	expect("", PA_OUT_DENY, "bob", "ERR message=\"authentication failed\"\n");
	expect(NULL, PA_OUT_UNAVAILABLE, NULL,
	       "BH message=\"authentication backend unavailable\"\n");
}

/* The name is a quoted value: quotes and backslashes escaped, control
 * characters replaced, so a name can neither end the value early nor
 * start a second answer line. */
static void
test_user_escaped(void **state)
{
	(void)state;
	expect("3", PA_OUT_ALLOW, "a\"b\\c", "3 OK user=\"a\\\"b\\\\c\"\n");
	expect("3", PA_OUT_ALLOW, "x\n3 OK user=\"root", "3 OK user=\"x?3 OK user=\\\"root\"\n");
	expect("3", PA_OUT_ALLOW, "caf\xc3\xa9", "3 OK user=\"caf\xc3\xa9\"\n");
}

/* Only an allow carries the name: denials never echo it. */
static void
test_no_name_on_denials(void **state)
{
	char buf[PA_SQUID_ANSWER_MAX];
	enum pa_outcome o[] = { PA_OUT_DENY, PA_OUT_FORBIDDEN, PA_OUT_LOCKED,
				PA_OUT_MALFORMED, PA_OUT_UNAVAILABLE };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
		assert_true(pa_squid_answer(buf, sizeof(buf), "1", o[i], "alice") > 0);
		assert_null(strstr(buf, "alice"));
		assert_null(strstr(buf, "user="));
	}
}

/* Fail closed: an allow without a name or too long for the buffer is BH. */
static void
test_allow_that_cannot_be_written_is_bh(void **state)
{
	char buf[40];

	(void)state;
	expect("9", PA_OUT_ALLOW, NULL, "9 BH message=\"answer too long\"\n");
	assert_int_equal(pa_squid_answer(buf, sizeof(buf), "9", PA_OUT_ALLOW,
					 "a-name-far-too-long-for-this-buffer"), 31);
	assert_string_equal(buf, "9 BH message=\"answer too long\"\n");
	assert_int_equal(pa_squid_answer(buf, 8, "9", PA_OUT_ALLOW, "alice"), -1);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_outcome),
		cmocka_unit_test(test_without_channel_id),
		cmocka_unit_test(test_user_escaped),
		cmocka_unit_test(test_no_name_on_denials),
		cmocka_unit_test(test_allow_that_cannot_be_written_is_bh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
