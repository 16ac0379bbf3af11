/*
 * Unit tests for lib/log.c: what a log shipper and an operator reading the
 * lines rely on.  Every call writes exactly one line; values that come
 * from clients (user names, URIs, hosts) have control characters, quotes,
 * backslashes and invalid UTF-8 escaped in both formats, so a crafted
 * value can never start a forged line or end its field early; a value too
 * long for the line is dropped whole and the line says truncated; lines
 * below the configured level are not written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static int fds[2];

static int
setup(void **state)
{
	(void)state;
	if (pipe(fds) != 0)
		return -1;
	return fcntl(fds[0], F_SETFL, O_NONBLOCK);
}

static int
teardown(void **state)
{
	(void)state;
	close(fds[0]);
	close(fds[1]);
	return 0;
}

/* Everything written since the last call, NUL-terminated. */
static char *
drain(size_t *len)
{
	static char buf[65536];
	ssize_t n;
	size_t pos = 0;

	while (pos < sizeof(buf) - 1 && (n = read(fds[0], buf + pos, sizeof(buf) - 1 - pos)) > 0)
		pos += (size_t)n;
	buf[pos] = '\0';
	if (len != NULL)
		*len = pos;
	return buf;
}

static size_t
lines(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

/* No byte below 0x20 but the final newline, and valid UTF-8. */
static void
assert_clean_line(const char *s, size_t len)
{
	size_t i;

	assert_true(len > 0);
	assert_int_equal(s[len - 1], '\n');
	assert_int_equal(lines(s, len), 1);
	for (i = 0; i + 1 < len; i++)
		assert_true((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] != 0x7f);
	assert_true(pa_utf8_valid(s, len));
}

static const char forged[] = "mallory\ntime=2026-01-01T00:00:00Z level=info user=admin "
			     "outcome=allow";

static void
test_text_escapes(void **state)
{
	struct pa_log log;
	struct pa_log_field f[] = {
		{ "user", forged, SIZE_MAX, false },
		{ "uri", "/a\"b\\c\x01\xff\xc3\xa9", SIZE_MAX, false },
		{ "host", "plain", SIZE_MAX, false },
		{ "backend", NULL, SIZE_MAX, false },	/* left out */
		{ "latency_us", "12", SIZE_MAX, true },
	};
	size_t len;
	char *out;

	(void)state;
	pa_log_init(&log, fds[1], "text", "info");
	pa_log_fields(&log, PA_LOG_INFO, f, 5);
	out = drain(&len);
	assert_clean_line(out, len);
	assert_non_null(strstr(out, " level=info "));
	assert_non_null(strstr(out, " user=\"mallory\\ntime=2026-01-01T00:00:00Z level=info "
				    "user=admin outcome=allow\" "));
	assert_non_null(strstr(out, " uri=\"/a\\\"b\\\\c\\x01\\xFF\xc3\xa9\" "));
	assert_non_null(strstr(out, " host=plain "));
	assert_null(strstr(out, "backend"));
	assert_non_null(strstr(out, " latency_us=12\n"));
	assert_memory_equal(out, "time=", 5);
}

static void
test_json_escapes(void **state)
{
	struct pa_log log;
	struct pa_log_field f[] = {
		{ "user", forged, SIZE_MAX, false },
		{ "uri", "/a\"b\\c\x01\xff\xc2\x85", SIZE_MAX, false },
		{ "latency_us", "12", SIZE_MAX, true },
	};
	size_t len;
	char *out;

	(void)state;
	pa_log_init(&log, fds[1], "json", "info");
	pa_log_fields(&log, PA_LOG_WARN, f, 3);
	out = drain(&len);
	assert_clean_line(out, len);
	assert_memory_equal(out, "{\"time\":\"", 9);
	assert_non_null(strstr(out, ",\"level\":\"warn\","));
	assert_non_null(strstr(out, ",\"user\":\"mallory\\ntime=2026-01-01T00:00:00Z "
				    "level=info user=admin outcome=allow\","));
	/* JSON has no byte escape: an invalid byte is the text \xFF, its
	 * backslash escaped; C0 and C1 controls are \u escapes. */
	assert_non_null(strstr(out, ",\"uri\":\"/a\\\"b\\\\c\\u0001\\\\xFF\\u0085\","));
	assert_non_null(strstr(out, ",\"latency_us\":12}\n"));
}

/* A user name that a splitlines() reader would cut into a second record
 * (U+2028), or that a viewer would show reversed as outcome=allow
 * (U+202E), reaches the log escaped, in both formats. */
static void
test_separators_and_bidi_escaped(void **state)
{
	static const char user[] = "eve\xe2\x80\xa8time=2026-01-01T00:00:00Z level=info "
				   "user=admin outcome=allow \xe2\x80\xaewolla=emoctuo";
	struct pa_log log;
	struct pa_log_field f[] = { { "user", user, SIZE_MAX, false } };
	size_t len;
	char *out;
	int json;

	(void)state;
	for (json = 0; json < 2; json++) {
		pa_log_init(&log, fds[1], json ? "json" : "text", "info");
		pa_log_fields(&log, PA_LOG_INFO, f, 1);
		out = drain(&len);
		assert_clean_line(out, len);
		assert_null(strstr(out, "\xe2\x80\xa8"));
		assert_null(strstr(out, "\xe2\x80\xae"));
		assert_non_null(strstr(out, "eve\\u2028time="));
		assert_non_null(strstr(out, "allow \\u202Ewolla"));
	}
}

/* An operational message is escaped like any value. */
static void
test_msg_escaped(void **state)
{
	struct pa_log log;
	size_t len;
	char *out;

	(void)state;
	pa_log_init(&log, fds[1], "text", "info");
	pa_log_msg(&log, PA_LOG_WARN, "backend %s is down: %s", "ldap", "bad\r\nlevel=error");
	out = drain(&len);
	assert_clean_line(out, len);
	assert_non_null(strstr(out, " level=warn msg=\"backend ldap is down: bad\\r\\nlevel=error\"\n"));
}

/* A value that does not fit is dropped whole (never cut inside an escape
 * or a character), and the line says so. */
static void
test_truncated_line_stays_whole(void **state)
{
	static char big[20000];
	struct pa_log log;
	struct pa_log_field f[] = {
		{ "user", "alice", SIZE_MAX, false },
		{ "uri", big, SIZE_MAX, false },
		{ "outcome", "deny", SIZE_MAX, false },
	};
	size_t len;
	char *out;
	int json;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[100] = '\n';
	for (json = 0; json <= 1; json++) {
		pa_log_init(&log, fds[1], json ? "json" : "text", "info");
		pa_log_fields(&log, PA_LOG_INFO, f, 3);
		out = drain(&len);
		assert_clean_line(out, len);
		assert_true(len <= 8192);
		assert_null(strstr(out, "aaaa"));
		assert_non_null(strstr(out, json ? "\"user\":\"alice\"" : " user=alice"));
		assert_non_null(strstr(out, json ? "\"outcome\":\"deny\"" : " outcome=deny"));
		assert_non_null(strstr(out, json ? ",\"truncated\":true}\n" : " truncated=true\n"));
	}
}

static void
test_levels(void **state)
{
	struct pa_log log;
	size_t len;

	(void)state;
	pa_log_init(&log, fds[1], "text", "warn");
	pa_log_msg(&log, PA_LOG_INFO, "quiet");
	pa_log_msg(&log, PA_LOG_DEBUG, "quieter");
	(void)drain(&len);
	assert_int_equal(len, 0);
	pa_log_msg(&log, PA_LOG_ERROR, "loud");
	assert_non_null(strstr(drain(&len), " level=error msg=loud\n"));
	pa_log_init(&log, fds[1], "text", NULL);	/* default: info */
	pa_log_msg(&log, PA_LOG_DEBUG, "quieter");
	(void)drain(&len);
	assert_int_equal(len, 0);
	pa_log_init(&log, fds[1], "text", "debug");
	pa_log_msg(&log, PA_LOG_DEBUG, "now");
	assert_non_null(strstr(drain(&len), " level=debug msg=now\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_escapes),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_msg_escaped),
		cmocka_unit_test(test_separators_and_bidi_escaped),
		cmocka_unit_test(test_truncated_line_stays_whole),
		cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
