/*
 * Unit tests for lib/text.c and lib/log.c: UTF-8 validation, control
 * detection, comma lists, bounded copies, and above all the escaping of
 * untrusted text in log lines, so that a crafted user name or URI can
 * never start a new line, close a quoted field or break the JSON.  A log
 * line written to a pipe is read back and checked as a whole: exactly one
 * line, and for JSON a parse by a small strict validator.
 */
#include "scratch.h"
#include "logcheck.h"

#include <stdbool.h>

#include "log.h"
#include "text.h"

#define T(s) s, sizeof(s) - 1

/* ---- UTF-8 and controls ------------------------------------------------- */

static const struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
} utf8_cases[] = {
	{ T(""), true },
	{ T("abc"), true },
	{ T("a\0b"), true },			/* NUL is valid UTF-8 (a control) */
	{ T("j\xc3\xbcrgen"), true },
	{ T("\xe6\x97\xa5\xe6\x9c\xac"), true },
	{ T("\xf0\x9f\x98\x80"), true },
	{ T("\xf4\x8f\xbf\xbf"), true },	/* U+10FFFF */
	{ T("\xc2\x80"), true },		/* U+0080 */
	{ T("\xed\x9f\xbf"), true },		/* U+D7FF, below the surrogates */
	{ T("\xee\x80\x80"), true },		/* U+E000, above them */
	{ T("\xe0\xa0\x80"), true },		/* U+0800, smallest 3-byte */
	{ T("\xf0\x90\x80\x80"), true },	/* U+10000, smallest 4-byte */
	{ T("\xff"), false },
	{ T("\xfe"), false },
	{ T("\xc0\xaf"), false },		/* overlong '/' */
	{ T("\xc1\xbf"), false },
	{ T("\xe0\x80\xaf"), false },
	{ T("\xe0\x9f\xbf"), false },
	{ T("\xf0\x80\x80\xaf"), false },
	{ T("\xf0\x8f\xbf\xbf"), false },
	{ T("\xed\xa0\x80"), false },		/* surrogates */
	{ T("\xed\xbf\xbf"), false },
	{ T("\xf4\x90\x80\x80"), false },	/* above U+10FFFF */
	{ T("\xf5\x80\x80\x80"), false },
	{ T("\xf8\x88\x80\x80\x80"), false },
	{ T("\xc2"), false },			/* truncated */
	{ T("\xe6\x97"), false },
	{ T("\xf0\x9f\x98"), false },
	{ T("ok\xc3"), false },
	{ T("\x80"), false },			/* lone continuation */
	{ T("\xbf"), false },
	{ T("\xc2\x41"), false },		/* continuation missing */
	{ T("\xe6\x41\x41"), false },
	{ "\xc3\xbc", 1, false },		/* len is honoured */
	{ "ok\xff", 2, true },
};

static void
test_utf8_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++)
		if (pa_utf8_valid(utf8_cases[i].s, utf8_cases[i].len) != utf8_cases[i].valid)
			fail_msg("pa_utf8_valid case %zu: want %d", i, utf8_cases[i].valid);
}

static const struct control_case {
	const char *s;
	size_t len;
	bool control;
} control_cases[] = {
	{ T(""), false },
	{ T("alice"), false },
	{ T(" ~!"), false },
	{ T("j\xc3\xbcrgen"), false },
	{ T("\xc2\xa0"), false },		/* U+00A0: just after the C1 range */
	{ T("\xc2\xbf"), false },
	{ T("\xe6\x82\x85"), false },		/* 0x85 as a continuation byte */
	{ T("\xe6\x97\xa5"), false },
	{ T("\0"), true },
	{ T("a\0"), true },
	{ T("\x01"), true },
	{ T("\t"), true },
	{ T("\n"), true },
	{ T("abc\r"), true },
	{ T("\x1b"), true },
	{ T("\x1f"), true },
	{ T("\x7f"), true },
	{ T("\xc2\x80"), true },		/* C1 */
	{ T("x\xc2\x85y"), true },		/* NEL */
	{ T("\xc2\x9f"), true },
	{ "abc\n", 3, false },			/* len is honoured */
};

static void
test_has_control(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(control_cases) / sizeof(control_cases[0]); i++)
		if (pa_has_control(control_cases[i].s, control_cases[i].len) !=
		    control_cases[i].control)
			fail_msg("pa_has_control case %zu: want %d", i, control_cases[i].control);
}

/* ---- lists and bounded copies ------------------------------------------- */

static void
test_list_normalize(void **state)
{
	static const struct {
		const char *in, *out;
		int n;
	} cases[] = {
		{ "a, b ,,c", "a,b,c", 3 },
		{ "a,b,c", "a,b,c", 3 },
		{ "", "", 0 },
		{ " ", "", 0 },
		{ ",,, ,", "", 0 },
		{ "one", "one", 1 },
		{ "  one  ", "one", 1 },
		{ "\ta\t,\tb\t", "a,b", 2 },
		{ ",a,", "a", 1 },
		{ "a b, c d", "a b,c d", 2 },		/* inner spaces kept */
		{ "Proxy-Authorization ,  Authorization", "Proxy-Authorization,Authorization", 2 },
		{ "j\xc3\xbcrgen , \xe6\x97\xa5", "j\xc3\xbcrgen,\xe6\x97\xa5", 2 },
	};
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		n = pa_list_normalize(buf);
		if (strcmp(buf, cases[i].out) != 0 || n != cases[i].n)
			fail_msg("normalize('%s') = '%s' (%d), want '%s' (%d)", cases[i].in, buf, n,
				 cases[i].out, cases[i].n);
		/* Normalising twice changes nothing. */
		assert_int_equal(pa_list_normalize(buf), cases[i].n);
		assert_string_equal(buf, cases[i].out);
	}
}

static void
test_list_contains(void **state)
{
	static const struct {
		const char *list, *name;
		bool in;
	} cases[] = {
		{ "admins,ops", "ops", true },
		{ "admins,ops", "admins", true },
		{ "admins,ops", "admin", false },	/* no prefix matches */
		{ "admins,ops", "op", false },
		{ "admins,ops", "dmins", false },
		{ "admins,ops", "admins,ops", false },
		{ "admins,ops", "Ops", false },
		{ "admins,ops", "", false },
		{ "", "ops", false },
		{ "ops", "ops", true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pa_list_contains(cases[i].list, cases[i].name, strlen(cases[i].name)) !=
		    cases[i].in)
			fail_msg("contains('%s', '%s') want %d", cases[i].list, cases[i].name,
				 cases[i].in);
}

static int
collect(const char *name, size_t len, void *arg)
{
	char *out = arg;

	strncat(out, "[", 64);
	strncat(out, name, len);
	strncat(out, "]", 64);
	return len == 4 && memcmp(name, "stop", 4) == 0 ? 7 : 0;
}

static void
test_list_foreach(void **state)
{
	char out[128];

	(void)state;
	out[0] = '\0';
	assert_int_equal(pa_list_foreach("a,bb,ccc", collect, out), 0);
	assert_string_equal(out, "[a][bb][ccc]");
	out[0] = '\0';
	assert_int_equal(pa_list_foreach("a,stop,never", collect, out), 7);
	assert_string_equal(out, "[a][stop]");
	out[0] = '\0';
	assert_int_equal(pa_list_foreach("", collect, out), 0);
	assert_string_equal(out, "");
}

static void
test_bounded_copies(void **state)
{
	char dst[6];

	(void)state;
	assert_int_equal(pa_strlcpy(dst, "abcde", sizeof(dst)), 0);	/* exactly fits */
	assert_string_equal(dst, "abcde");
	assert_int_equal(pa_strlcpy(dst, "abcdef", sizeof(dst)), -1);	/* one too many */
	assert_string_equal(dst, "");		/* never a truncated copy */
	assert_int_equal(pa_strlcpy_n(dst, sizeof(dst), "abcdefgh", 3), 0);
	assert_string_equal(dst, "abc");
	assert_int_equal(pa_strlcpy_n(dst, sizeof(dst), "abcdefgh", 6), -1);
	assert_string_equal(dst, "");
	assert_int_equal(pa_strlcpy_n(dst, 0, "a", 1), -1);

	assert_true(pa_strieq_n("BaSiC", 5, "basic"));
	assert_false(pa_strieq_n("Basic", 4, "basic"));
	assert_false(pa_strieq_n("Basicx", 6, "basic"));
}

static void
test_parse_long(void **state)
{
	static const struct {
		const char *s;
		long min, max;
		int rc;
		long v;
	} cases[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "11", 0, 10, -1, 0 },
		{ "-1", 0, 10, -1, 0 },
		{ "-5", -10, 10, 0, -5 },
		{ "", 0, 10, -1, 0 },
		{ "1x", 0, 10, -1, 0 },
		{ "x", 0, 10, -1, 0 },
		{ "99999999999999999999999", 0, 10, -1, 0 },
		{ "0x10", 0, 100, -1, 0 },	/* decimal only */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long v = 12345;
		int rc = pa_parse_long(cases[i].s, cases[i].min, cases[i].max, &v);
		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("pa_parse_long('%s') = %d, %ld", cases[i].s, rc, v);
		if (rc != 0 && v != 12345)
			fail_msg("pa_parse_long('%s') wrote on failure", cases[i].s);
	}
	assert_int_equal(pa_parse_long(NULL, 0, 1, &(long){ 0 }), -1);
}

/* ---- escaping --------------------------------------------------------- */

static const struct escape_case {
	const char *in;
	size_t len;
	const char *text, *json;
} escape_cases[] = {
	{ T("alice"), "alice", "alice" },
	{ T(""), "", "" },
	{ T("\n"), "\\n", "\\n" },
	{ T("\r"), "\\r", "\\r" },
	{ T("\t"), "\\t", "\\t" },
	{ T("\""), "\\\"", "\\\"" },
	{ T("\\"), "\\\\", "\\\\" },
	{ T("\x01"), "\\x01", "\\u0001" },
	{ T("\x1b"), "\\x1B", "\\u001B" },
	{ T("\x7f"), "\\x7F", "\\u007F" },
	{ T("a\0b"), "a\\x00b", "a\\u0000b" },
	{ T("\xff"), "\\xFF", "\\\\xFF" },
	{ T("\xc0\xaf"), "\\xC0\\xAF", "\\\\xC0\\\\xAF" },
	{ T("\xc2\x85"), "\\u0085", "\\u0085" },
	{ T("j\xc3\xbcrgen"), "j\xc3\xbcrgen", "j\xc3\xbcrgen" },
	{ T("\xe6\x97\xa5"), "\xe6\x97\xa5", "\xe6\x97\xa5" },
	{ T("x\nlevel=error"), "x\\nlevel=error", "x\\nlevel=error" },
	{ T("a\"b\\c"), "a\\\"b\\\\c", "a\\\"b\\\\c" },
	/* Line and paragraph separators, bidi controls; their neighbours in
	 * the table (U+2027, U+202F, U+2065, U+206A) pass as they are. */
	{ T("x\xe2\x80\xa8level=error"), "x\\u2028level=error", "x\\u2028level=error" },
	{ T("\xe2\x80\xa9"), "\\u2029", "\\u2029" },
	{ T("\xe2\x80\xaewolla=emoctuo"), "\\u202Ewolla=emoctuo", "\\u202Ewolla=emoctuo" },
	{ T("\xe2\x80\xaa\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"), "\\u202A\\u200E\\u200F\\u061C",
	  "\\u202A\\u200E\\u200F\\u061C" },
	{ T("\xe2\x81\xa6\xe2\x81\xa9"), "\\u2066\\u2069", "\\u2066\\u2069" },
	{ T("\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa"),
	  "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
	  "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa" },
};

static void
test_escape_table(void **state)
{
	char buf[128];
	size_t i, pos;

	(void)state;
	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *c = &escape_cases[i];

		pos = 0;
		buf[0] = '\0';
		assert_int_equal(pa_escape_append(buf, sizeof(buf), &pos, c->in, c->len, false), 0);
		if (strcmp(buf, c->text) != 0 || pos != strlen(c->text))
			fail_msg("text escape case %zu: '%s', want '%s'", i, buf, c->text);
		pos = 0;
		buf[0] = '\0';
		assert_int_equal(pa_escape_append(buf, sizeof(buf), &pos, c->in, c->len, true), 0);
		if (strcmp(buf, c->json) != 0 || pos != strlen(c->json))
			fail_msg("json escape case %zu: '%s', want '%s'", i, buf, c->json);
	}
}

/* What escaped output must be, whatever the input: printable UTF-8, and
 * every '"' escaped so that a quoted field cannot be closed early. */
static void
expect_safe(const char *out, size_t len, const char *what)
{
	size_t i;

	if (!pa_utf8_valid(out, len) || pa_has_control(out, len))
		fail_msg("%s: output has raw controls or invalid UTF-8", what);
	for (i = 0; i < len; i++) {
		if (out[i] == '\\')
			i++;		/* the escaped character */
		else if (out[i] == '"')
			fail_msg("%s: raw '\"' in output at %zu", what, i);
	}
}

/* Every byte and every pair of bytes, in both modes. */
static void
test_escape_exhaustive(void **state)
{
	char in[2], out[64], what[32];
	unsigned a, b;
	int json;
	size_t pos;

	(void)state;
	for (json = 0; json < 2; json++) {
		for (a = 0; a < 256; a++) {
			for (b = 0; b < 256; b++) {
				in[0] = (char)a;
				in[1] = (char)b;
				pos = 0;
				assert_int_equal(pa_escape_append(out, sizeof(out), &pos, in, 2,
								  json), 0);
				snprintf(what, sizeof(what), "%s %02x %02x", json ? "json" : "text", a, b);
				expect_safe(out, pos, what);
			}
		}
	}
}

/* A full buffer ends after the last whole character: never half an escape
 * or half a UTF-8 sequence, and always NUL-terminated. */
static void
test_escape_full_buffer(void **state)
{
	char buf[16];
	size_t pos;

	(void)state;
	pos = 0;
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(pa_escape_append(buf, 4, &pos, T("ab\n"), false), -1);
	assert_string_equal(buf, "ab");
	assert_int_equal(pos, 2);

	pos = 0;
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(pa_escape_append(buf, 5, &pos, T("\xe6\x97\xa5\xe6\x9c\xac"), false), -1);
	assert_string_equal(buf, "\xe6\x97\xa5");

	pos = 0;
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(pa_escape_append(buf, 6, &pos, T("a\x01"), true), -1);	/* \u0001 */
	assert_string_equal(buf, "a");

	/* Appending after what is there. */
	pos = 0;
	assert_int_equal(pa_buf_append(buf, sizeof(buf), &pos, "key=", 4), 0);
	assert_int_equal(pa_escape_append(buf, sizeof(buf), &pos, T("v\n"), false), 0);
	assert_string_equal(buf, "key=v\\n");
	/* pa_buf_append is all or nothing. */
	assert_int_equal(pa_buf_append(buf, sizeof(buf), &pos, "0123456789", 10), -1);
	assert_string_equal(buf, "key=v\\n");
}

/* ---- whole log lines ---------------------------------------------------- */

struct logfx {
	int fds[2];
	struct pa_log log;
	char line[32768];
};

static void
log_open(struct logfx *l, const char *format, const char *level)
{
	scratch_pipe(l->fds);
	pa_log_init(&l->log, l->fds[1], format, level);
}

static void
log_close(struct logfx *l)
{
	close(l->fds[0]);
	close(l->fds[1]);
}

/* Reads what was logged and checks it is one whole, well-formed line of
 * the format, whose keys are exactly keys (comma-separated) when given. */
static void
expect_line(struct logfx *l, bool json, const char *keys)
{
	size_t n = scratch_drain(l->fds[0], l->line, sizeof(l->line));
	struct logcheck lc;
	char got[512];
	int i;

	if (n == 0 || l->line[n - 1] != '\n' || scratch_lines(l->line) != 1)
		fail_msg("not exactly one line: '%s'", l->line);
	if (!pa_utf8_valid(l->line, n - 1) || pa_has_control(l->line, n - 1))
		fail_msg("raw control or invalid UTF-8 in '%s'", l->line);
	if (!logcheck_parse(l->line, json, &lc))
		fail_msg("not a well-formed %s line: %s", json ? "JSON" : "logfmt", l->line);
	got[0] = '\0';
	for (i = 0; i < lc.n; i++) {
		if (i > 0)
			strncat(got, ",", sizeof(got) - strlen(got) - 1);
		strncat(got, lc.key[i], sizeof(got) - strlen(got) - 1);
	}
	if (keys != NULL && strcmp(got, keys) != 0)
		fail_msg("keys '%s', want '%s' in: %s", got, keys, l->line);
}

static const char *const evil[] = {
	"x\nlevel=error msg=forged",
	"x\r\ntime=2000-01-01T00:00:00Z level=error",
	"a\"b",
	"a\\",
	"\"}{\"level\":\"error",
	"\",\"outcome\":\"allow",
	"alice outcome=allow",
	"a=b",
	"\x1b[2J\x07",
	"\xff\xfe",
	"\xc2\x85next",
	"",
	"j\xc3\xbcrgen",
};

static void
test_log_fields_one_line(void **state)
{
	struct logfx l;
	size_t i;
	int json;

	(void)state;
	for (json = 0; json < 2; json++) {
		log_open(&l, json ? "json" : "text", "info");
		for (i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
			struct pa_log_field f[] = {
				{ "client", "192.0.2.7", SIZE_MAX, false },
				{ "user", evil[i], SIZE_MAX, false },
				{ "outcome", "deny", SIZE_MAX, false },
				{ "uri", evil[i], SIZE_MAX, false },
				{ "skipped", NULL, 0, false },
				{ "latency_us", "1234", SIZE_MAX, true },
			};
			pa_log_fields(&l.log, PA_LOG_INFO, f, (int)(sizeof(f) / sizeof(f[0])));
			expect_line(&l, json, "time,level,client,user,outcome,uri,latency_us");
			if (strstr(l.line, "skipped") != NULL)
				fail_msg("NULL field written: %s", l.line);
			if (json) {
				if (strstr(l.line, "\"latency_us\":1234") == NULL ||
				    strstr(l.line, "\"outcome\":\"deny\"") == NULL ||
				    strncmp(l.line, "{\"time\":\"", 9) != 0)
					fail_msg("fields missing: %s", l.line);
			} else {
				if (strstr(l.line, " latency_us=1234") == NULL ||
				    strstr(l.line, " outcome=deny") == NULL ||
				    strncmp(l.line, "time=", 5) != 0)
					fail_msg("fields missing: %s", l.line);
			}
		}
		log_close(&l);
	}
}

/* The crafted user of the brief, exactly. */
static void
test_log_forged_user(void **state)
{
	struct logfx l;
	struct pa_log_field f[] = { { "user", "x\nlevel=error", SIZE_MAX, false } };

	(void)state;
	log_open(&l, "text", "info");
	pa_log_fields(&l.log, PA_LOG_INFO, f, 1);
	expect_line(&l, false, "time,level,user");
	if (strstr(l.line, " user=\"x\\nlevel=error\"\n") == NULL)
		fail_msg("text: %s", l.line);
	log_close(&l);

	log_open(&l, "json", "info");
	pa_log_fields(&l.log, PA_LOG_INFO, f, 1);
	expect_line(&l, true, "time,level,user");
	if (strstr(l.line, ",\"user\":\"x\\nlevel=error\"}\n") == NULL)
		fail_msg("json: %s", l.line);
	log_close(&l);
}

static void
test_log_msg(void **state)
{
	struct logfx l;
	int json;

	(void)state;
	for (json = 0; json < 2; json++) {
		log_open(&l, json ? "json" : "text", "info");
		pa_log_msg(&l.log, PA_LOG_WARN, "reload of %s failed: %s", "/etc/x\nlevel=info",
			   "bad \"line\"");
		expect_line(&l, json, "time,level,msg");
		if (strstr(l.line, json ? "\"level\":\"warn\"" : "level=warn") == NULL)
			fail_msg("level missing: %s", l.line);
		log_close(&l);
	}
}

static void
test_log_level_filter(void **state)
{
	struct logfx l;

	(void)state;
	log_open(&l, "text", "warn");
	pa_log_msg(&l.log, PA_LOG_INFO, "not shown");
	pa_log_msg(&l.log, PA_LOG_DEBUG, "not shown");
	assert_int_equal(scratch_drain(l.fds[0], l.line, sizeof(l.line)), 0);
	pa_log_msg(&l.log, PA_LOG_ERROR, "shown");
	expect_line(&l, false, "time,level,msg");
	assert_non_null(strstr(l.line, "level=error"));
	log_close(&l);

	log_open(&l, NULL, NULL);	/* defaults: text, info */
	pa_log_msg(&l.log, PA_LOG_DEBUG, "not shown");
	assert_int_equal(scratch_drain(l.fds[0], l.line, sizeof(l.line)), 0);
	pa_log_msg(&l.log, PA_LOG_INFO, "shown");
	expect_line(&l, false, "time,level,msg");
	log_close(&l);
}

/* A value too big for the line is dropped, the line says so and stays
 * one whole, parseable line. */
static void
test_log_truncated(void **state)
{
	char *big = malloc(20000);
	struct logfx l;
	int json;

	(void)state;
	assert_non_null(big);
	memset(big, '\n', 19999);
	big[19999] = '\0';
	for (json = 0; json < 2; json++) {
		struct pa_log_field f[] = {
			{ "client", "192.0.2.7", SIZE_MAX, false },
			{ "uri", big, SIZE_MAX, false },
			{ "outcome", "deny", SIZE_MAX, false },
		};
		log_open(&l, json ? "json" : "text", "info");
		pa_log_fields(&l.log, PA_LOG_INFO, f, 3);
		expect_line(&l, json, "time,level,client,outcome,truncated");
		assert_non_null(strstr(l.line, json ? "\"truncated\":true" : "truncated=true"));
		assert_non_null(strstr(l.line, json ? "\"outcome\":\"deny\"" : "outcome=deny"));
		log_close(&l);
	}
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_has_control),
		cmocka_unit_test(test_list_normalize),
		cmocka_unit_test(test_list_contains),
		cmocka_unit_test(test_list_foreach),
		cmocka_unit_test(test_bounded_copies),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_exhaustive),
		cmocka_unit_test(test_escape_full_buffer),
		cmocka_unit_test(test_log_fields_one_line),
		cmocka_unit_test(test_log_forged_user),
		cmocka_unit_test(test_log_msg),
		cmocka_unit_test(test_log_level_filter),
		cmocka_unit_test(test_log_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
