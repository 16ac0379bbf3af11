/*
 * Unit tests for lib/problems.c, the -t problem reporter: the format
 * ("where:line: message", "where: message"), every problem but the last
 * printed at once when err holds the last, every one printed without
 * err, nothing printed and a stop at the first without a report, and a
 * long message cut visibly in err but printed whole without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problems.h"

/* What was printed to f so far, in buf. */
static const char *
printed(FILE *f, char *buf, size_t len)
{
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	return buf;
}

static void
test_last_held_in_err(void **state)
{
	struct pa_error err = { { 0 } };
	FILE *f = tmpfile();
	struct pa_problems p = { f, &err, 0 };
	char out[1024];

	(void)state;
	assert_non_null(f);
	assert_false(pa_problem(&p, "a.conf", 3, "bad %s", "value"));
	assert_string_equal(printed(f, out, sizeof(out)), "");
	assert_string_equal(err.msg, "a.conf:3: bad value");
	assert_false(pa_problem(&p, "a.conf:7", 0, "second"));
	assert_false(pa_problem(&p, "environment: PROXYAUTHD_LDAP_URI", 0, "third"));
	/* The caller prints the last, from err: each line exactly once. */
	assert_string_equal(printed(f, out, sizeof(out)), "a.conf:3: bad value\na.conf:7: second\n");
	assert_string_equal(err.msg, "environment: PROXYAUTHD_LDAP_URI: third");
	assert_int_equal(p.n, 3);
	fclose(f);
}

static void
test_each_printed_without_err(void **state)
{
	FILE *f = tmpfile();
	struct pa_problems p = { f, NULL, 0 };
	char out[4096], want[4096], longer[600];

	(void)state;
	assert_non_null(f);
	memset(longer, 'k', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	pa_problem(&p, "a.conf", 2, "unknown key '%s'", "x");
	pa_problem(&p, "a.conf", 0, "cannot open: %s", "No such file or directory");
	pa_problem(&p, "a.conf", 9, "unknown key '%s'", longer);
	snprintf(want, sizeof(want), "a.conf:2: unknown key 'x'\n"
		 "a.conf: cannot open: No such file or directory\n"
		 "a.conf:9: unknown key '%s'\n", longer);	/* whole, not cut */
	assert_string_equal(printed(f, out, sizeof(out)), want);
	assert_int_equal(p.n, 3);
	fclose(f);
}

static void
test_no_report_stops_at_first(void **state)
{
	struct pa_error err = { { 0 } };
	struct pa_problems p = { NULL, &err, 0 };
	char longer[600];

	(void)state;
	memset(longer, 'k', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(pa_problem(&p, "users", 4, "%s", "broken"));
	assert_string_equal(err.msg, "users:4: broken");
	/* A message longer than err is cut visibly, never silently. */
	assert_true(pa_problem(&p, "users", 5, "%s", longer));
	assert_int_equal(strcmp(err.msg + strlen(err.msg) - 3, "..."), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_held_in_err),
		cmocka_unit_test(test_each_printed_without_err),
		cmocka_unit_test(test_no_report_stops_at_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
