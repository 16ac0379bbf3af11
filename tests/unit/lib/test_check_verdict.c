/*
 * Unit tests for lib/check_verdict.c, proxyauth-check's verdicts: which
 * answers pass each check and which fail it (with the reason naming what
 * went wrong), the reader of the echo target's JSON, the upstream checks
 * (forged headers, Proxy-Authorization, the credentials token in any
 * header, the right-most X-Forwarded-For entry), and the report with its
 * exit status.  A reason never holds the credentials.
 */
#include "scratch.h"

#include "check_verdict.h"

#define ANSWER(st, chal, nostore) \
	{ .status = (st), .challenge_basic = (chal), .no_store = (nostore) }

static struct pa_check_answer
echo_answer(const char *body)
{
	struct pa_check_answer a = ANSWER(200, false, false);

	a.body = body;
	a.body_len = strlen(body);
	a.echo = pa_echo_is_echo(body, a.body_len);
	return a;
}

static void
test_denied(void **state)
{
	static const struct {
		struct pa_check_answer a;
		enum pa_check_verdict v;
		const char *reason;
	} cases[] = {
		{ ANSWER(407, true, true), PA_CHECK_PASS, "407 with a Basic challenge" },
		{ ANSWER(407, false, true), PA_CHECK_FAIL, "without a Basic" },
		{ ANSWER(401, true, true), PA_CHECK_FAIL, "401 instead of 407" },
		{ ANSWER(500, false, false), PA_CHECK_FAIL, "500 instead of 407" },
		{ ANSWER(200, false, false), PA_CHECK_FAIL, "with the page" },
		{ ANSWER(204, false, false), PA_CHECK_FAIL, "with the page" },
		{ ANSWER(403, false, false), PA_CHECK_FAIL, "403 instead of 407" },
		{ ANSWER(0, false, false), PA_CHECK_FAIL, "no answer" },
	};
	struct pa_check_result r;
	struct pa_check_answer echo;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		pa_check_denied(&cases[i].a, &r);
		assert_int_equal(r.verdict, cases[i].v);
		assert_non_null(strstr(r.reason, cases[i].reason));
	}
	/* A 407 that carries the upstream's page is still a let-through. */
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[]}");
	echo.status = 407;
	echo.challenge_basic = true;
	pa_check_denied(&echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
}

static void
test_allowed_refused_outage(void **state)
{
	struct pa_check_answer ok = ANSWER(200, false, false), deny = ANSWER(407, true, true),
			       forbidden = ANSWER(403, false, false), gone = ANSWER(0, false, false),
			       unavail = ANSWER(503, false, false), err = ANSWER(500, false, false),
			       echo;
	struct pa_check_result r;

	(void)state;
	pa_check_allowed(&ok, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_allowed(&deny, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "407 instead of the page"));
	pa_check_allowed(&gone, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);

	pa_check_refused(&forbidden, "x", &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_refused(&deny, "x", &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_refused(&gone, "x", &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_refused(&ok, "other host", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_string_equal(r.reason, "other host: 200 with the page");
	/* Upstream content under an error status is still the page. */
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/admin/\",\"headers\":[]}");
	echo.status = 404;
	pa_check_refused(&echo, "x", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);

	pa_check_outage(&unavail, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_outage(&err, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	pa_check_outage(&ok, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	pa_check_outage(&deny, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	pa_check_outage(&gone, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	echo.status = 502;
	pa_check_outage(&echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
}

/* The second user's control request: only a 2xx at the target lets the
 * checks that expect that user to be refused count; anything else (a
 * wrong second password gives 407) FAILs them instead of a vacuous PASS. */
static void
test_second_user_usable(void **state)
{
	static const long bad[] = { 407, 403, 401, 500, 503, 0 };
	struct pa_check_answer a = ANSWER(200, false, false);
	struct pa_check_result r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.verdict = PA_CHECK_SKIP;
	assert_true(pa_check_second_user_usable(&a, &r));
	assert_int_equal(r.verdict, PA_CHECK_SKIP);	/* left alone */
	a.status = 204;
	assert_true(pa_check_second_user_usable(&a, &r));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		a.status = bad[i];
		assert_false(pa_check_second_user_usable(&a, &r));
		assert_int_equal(r.verdict, PA_CHECK_FAIL);
		assert_non_null(strstr(r.reason, "prove nothing"));
	}
}

static void
test_no_store(void **state)
{
	struct pa_check_answer a[2] = { ANSWER(407, true, true), ANSWER(407, true, true) };
	struct pa_check_result r;

	(void)state;
	pa_check_no_store(a, 2, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	a[1].no_store = false;
	pa_check_no_store(a, 2, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "407"));
	/* No answer at all proves nothing either way. */
	a[0].status = a[1].status = 0;
	pa_check_no_store(a, 2, &r);
	assert_int_equal(r.verdict, PA_CHECK_SKIP);
}

#define ECHO_EMPTY "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[]}"

static bool
is_echo_str(const char *s)
{
	return pa_echo_is_echo(s, strlen(s));
}

static void
test_echo_reader(void **state)
{
	/* Python's json.dumps layout (spaces) and our own (none), escapes. */
	const char *py = "{\"method\": \"GET\", \"path\": \"/x\", \"headers\": "
			 "[[\"Host\", \"a\\\"b\"], [\"X-U\", \"J\\u00fcrgen\\\\\"]]}";
	char name[64], value[64];
	size_t pos = 0;

	(void)state;
	assert_int_equal(pa_echo_next_header(py, strlen(py), &pos, name, sizeof(name), value,
					     sizeof(value)), 1);
	assert_string_equal(name, "Host");
	assert_string_equal(value, "a\"b");
	assert_int_equal(pa_echo_next_header(py, strlen(py), &pos, name, sizeof(name), value,
					     sizeof(value)), 1);
	assert_string_equal(name, "X-U");
	assert_string_equal(value, "J\xc3\xbcrgen\\");
	assert_int_equal(pa_echo_next_header(py, strlen(py), &pos, name, sizeof(name), value,
					     sizeof(value)), 0);
	assert_true(pa_echo_is_echo(py, strlen(py)));
	assert_true(pa_echo_is_echo(ECHO_EMPTY, strlen(ECHO_EMPTY)));
	assert_true(pa_echo_is_echo(ECHO_EMPTY "\n", strlen(ECHO_EMPTY) + 1));
	/* Not echo: an HTML page, a cut body, a bad escape, NULL. */
	assert_false(pa_echo_is_echo("<html>hello</html>", 18));
	assert_false(is_echo_str("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"a\",\"b\"]"));
	assert_false(is_echo_str("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"a\",\"\\q\"]]}"));
	/* Nor a page that merely holds a "headers" list: other members,
	 * another order, something after the object. */
	assert_false(is_echo_str("{\"headers\":[]}"));
	assert_false(is_echo_str("{\"rows\":1,\"headers\":[[\"a\",\"b\"]]}"));
	assert_false(is_echo_str("{\"path\":\"/\",\"method\":\"GET\",\"headers\":[]}"));
	assert_false(is_echo_str("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[],\"x\":1}"));
	assert_false(is_echo_str(ECHO_EMPTY "{}"));
	assert_false(is_echo_str("[" ECHO_EMPTY "]"));
	assert_false(pa_echo_is_echo(NULL, 0));
	/* A value longer than the buffer is cut, not overrun. */
	pos = 0;
	assert_int_equal(pa_echo_next_header(py, strlen(py), &pos, name, 3, value, 2), 1);
	assert_string_equal(name, "Ho");
	assert_string_equal(value, "a");
}

static void
test_upstream_clean(void **state)
{
	static const char *const markers[] = { "pacheck-forged" };
	const char *clean = "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"Host\",\"app\"],[\"X-Auth-User\",\"alice\"],"
			    "[\"X-Forwarded-For\",\"192.0.2.66, 127.0.0.1\"]]}";
	const char *forged = "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"X_Auth_User\",\"pacheck-forged-u\"],"
			     "[\"X-Forwarded-Prefix\",\"/pacheck-forged\"]]}";
	const char *xff = "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"X-Forwarded-For\",\"10.0.0.1, 192.0.2.66\"]]}";
	const char *pa = "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"proxy-authorization\",\"Basic YWxpY2U6cHc=\"]]}";
	const char *copied = "{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"X-Proxy-Authorization\",\"Basic YWxpY2U6cHc=\"]]}";
	struct pa_check_answer a;
	struct pa_check_result r;

	(void)state;
	a = echo_answer(clean);
	pa_check_upstream_clean(&a, markers, 1, "YWxpY2U6cHc=", "192.0.2.66", "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);

	a = echo_answer(forged);
	pa_check_upstream_clean(&a, markers, 1, "YWxpY2U6cHc=", "192.0.2.66", "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "X_Auth_User"));
	assert_non_null(strstr(r.reason, "X-Forwarded-Prefix"));
	assert_null(strstr(r.reason, "pacheck-forged"));

	a = echo_answer(xff);
	pa_check_upstream_clean(&a, markers, 1, NULL, "192.0.2.66", "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "X-Forwarded-For"));

	a = echo_answer(pa);
	pa_check_upstream_clean(&a, NULL, 0, "YWxpY2U6cHc=", NULL, "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "Proxy-Authorization reached"));
	assert_null(strstr(r.reason, "YWxpY2U6cHc="));

	a = echo_answer(copied);
	pa_check_upstream_clean(&a, NULL, 0, "YWxpY2U6cHc=", NULL, "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "X-Proxy-Authorization"));
	assert_null(strstr(r.reason, "YWxpY2U6cHc="));

	/* Not an echo target: nothing can be said. */
	a = echo_answer("<html>app</html>");
	pa_check_upstream_clean(&a, markers, 1, "YWxpY2U6cHc=", NULL, "t", &r);
	assert_int_equal(r.verdict, PA_CHECK_SKIP);
}

static void
test_tunnels(void **state)
{
	static const struct {
		long connect;
		bool forward;
		long h2c;
		enum pa_check_verdict v;
		const char *reason;
	} cases[] = {
		/* The shipped proxies: CONNECT refused, the upgrade as HTTP/1.1. */
		{ 405, false, 200, PA_CHECK_PASS, "CONNECT app.example.org:80: 405; h2c upgrade: "
		  "200, no 101" },
		{ 403, true, 200, PA_CHECK_PASS, "CONNECT app.example.org:80: 403" },
		{ 400, true, 400, PA_CHECK_PASS, "h2c upgrade: 400, no 101" },
		{ 0, false, 200, PA_CHECK_PASS, "refused or closed" },
		/* Any 2xx opens a tunnel; forward mode names the plain-HTTP port. */
		{ 200, false, 200, PA_CHECK_FAIL, "CONNECT app.example.org:80: 200, a tunnel" },
		{ 204, false, 200, PA_CHECK_FAIL, "answer CONNECT with 405" },
		{ 200, true, 200, PA_CHECK_FAIL, "(the app's plain-HTTP port): 200" },
		{ 299, true, 400, PA_CHECK_FAIL, "deny CONNECT !SSL_ports" },
		{ 300, false, 200, PA_CHECK_PASS, "CONNECT app.example.org:80: 300" },
		{ 407, false, 101, PA_CHECK_FAIL, "h2c upgrade: 101" },
		{ 405, false, 0, PA_CHECK_FAIL, "h2c upgrade: no answer" },
	};
	struct pa_check_result r;
	struct pa_check_answer a, echo;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		memset(&a, 0, sizeof(a));
		a.status = cases[i].h2c;
		pa_check_tunnels(cases[i].connect, cases[i].forward, "app.example.org:80", &a, &r);
		assert_int_equal(r.verdict, cases[i].v);
		assert_non_null(strstr(r.reason, cases[i].reason));
	}

	/* Behind the echo target (never a 101): what reached it decides. */
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"Host\","
			   "\"app\"],[\"Connection\",\"Upgrade\"]]}");
	assert_true(echo.echo);
	pa_check_tunnels(405, false, "app.example.org:80", &echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	assert_non_null(strstr(r.reason, "Upgrade not forwarded"));
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"upgrade\","
			   "\"h2c\"]]}");
	pa_check_tunnels(405, false, "app.example.org:80", &echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "h2c upgrade: upgrade reached the upstream"));
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"Upgrade\","
			   "\"websocket, h2c\"],[\"HTTP2-Settings\",\"AAMA\"]]}");
	pa_check_tunnels(0, true, "app.example.org:80", &echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_FAIL);
	assert_non_null(strstr(r.reason, "Upgrade, HTTP2-Settings reached"));
	/* HTTP2-Settings alone (nginx forwards it) cannot switch: named. */
	echo = echo_answer("{\"method\":\"GET\",\"path\":\"/\",\"headers\":[[\"HTTP2-settings\","
			   "\"AAMA\"]]}");
	pa_check_tunnels(403, true, "app.example.org:80", &echo, &r);
	assert_int_equal(r.verdict, PA_CHECK_PASS);
	assert_non_null(strstr(r.reason, "HTTP2-Settings was, which alone cannot switch"));
	/* A CONNECT tunnel is named first, whatever the upgrade did. */
	pa_check_tunnels(200, true, "app.example.org:80", &echo, &r);
	assert_non_null(strstr(r.reason, "CONNECT app.example.org:80"));
}

static void
test_report(void **state)
{
	struct pa_check_result res[3] = {
		{ "no-credentials", PA_CHECK_PASS, "407" },
		{ "outage", PA_CHECK_SKIP, "needs --outage-cmd" },
		{ "other-hosts", PA_CHECK_FAIL, "other host: 200 \"x\"" },
	};
	char buf[2048];
	FILE *f;

	(void)state;
	f = fmemopen(buf, sizeof(buf), "w");
	assert_int_equal(pa_check_report(f, res, 3, false), 1);
	fclose(f);
	assert_non_null(strstr(buf, "PASS  no-credentials"));
	assert_non_null(strstr(buf, "FAIL  other-hosts"));
	assert_non_null(strstr(buf, "proxyauth-check: 1 passed, 1 failed, 1 skipped\n"));

	f = fmemopen(buf, sizeof(buf), "w");
	assert_int_equal(pa_check_report(f, res, 3, true), 1);
	fclose(f);
	assert_non_null(strstr(buf, "{\"name\":\"other-hosts\",\"result\":\"FAIL\","
				    "\"reason\":\"other host: 200 \\\"x\\\"\"}"));
	assert_non_null(strstr(buf, "\"passed\":1,\"failed\":1,\"skipped\":1}"));

	f = fmemopen(buf, sizeof(buf), "w");
	assert_int_equal(pa_check_report(f, res, 2, false), 0);
	fclose(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_allowed_refused_outage),
		cmocka_unit_test(test_second_user_usable),
		cmocka_unit_test(test_no_store),
		cmocka_unit_test(test_echo_reader),
		cmocka_unit_test(test_upstream_clean),
		cmocka_unit_test(test_tunnels),
		cmocka_unit_test(test_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
