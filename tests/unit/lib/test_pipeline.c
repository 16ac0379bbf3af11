/*
 * Unit tests for lib/pipeline.c: the decision for one request, with the
 * chain faked by a scripted backend.  Checks that credentials which are
 * missing, malformed or carry an empty password are decided without any
 * backend call; that chain answers map to allow / forbidden / deny /
 * unavailable with require_groups; and that pa_decide_end() writes exactly
 * one log line with client, user and outcome, never the password or the
 * header, and scrubs the password.
 */
#include "scratch.h"
#include "logcheck.h"

#include <openssl/evp.h>
#include <stdbool.h>

#include "pipeline.h"

#define PASSWORD "Zebra-Secret-42"

struct fake {
	enum pa_result answer;
	const char *groups;
	int calls;
};

static enum pa_result
fake_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	    struct pa_error *err)
{
	struct fake *fk = ctx;

	fk->calls++;
	if (fk->answer == PA_GRANTED) {
		snprintf(who->user, sizeof(who->user), "%s", cred->user);
		snprintf(who->groups, sizeof(who->groups), "%s", fk->groups);
	} else if (fk->answer == PA_UNAVAILABLE) {
		pa_error_set(err, "timed out after 2000 ms");
	}
	return fk->answer;
}

static int
fake_probe(void *ctx, struct pa_error *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static void
fake_close(void *ctx)
{
	(void)ctx;
}

static const struct pa_backend_ops fake_ops = {
	.name = "fake", .verify = fake_verify, .probe = fake_probe, .close = fake_close,
};
static const struct pa_backend_ops fake2_ops = {
	.name = "fake2", .verify = fake_verify, .probe = fake_probe, .close = fake_close,
};

struct fx {
	int logfd[2];
	struct pa_log log;
	struct pa_pipeline p;
	struct fake fk[2];
	char groups[64];
	char line[16384];
};

static void
set_require(struct fx *f, const char *groups)
{
	snprintf(f->groups, sizeof(f->groups), "%s", groups);
	f->p.rules.server_groups = f->groups;
}

static int
setup_fmt(void **state, const char *format)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	scratch_pipe(f->logfd);
	pa_log_init(&f->log, f->logfd[1], format, "info");
	f->p.log = &f->log;
	f->p.chain.links[0].ops = &fake_ops;
	f->p.chain.links[0].ctx = &f->fk[0];
	f->p.chain.n = 1;
	f->fk[0].answer = PA_GRANTED;
	f->fk[0].groups = "";
	set_require(f, "");
	*state = f;
	return 0;
}

static int
setup_text(void **state)
{
	return setup_fmt(state, "text");
}

static int
setup_json(void **state)
{
	return setup_fmt(state, "json");
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close(f->logfd[0]);
	close(f->logfd[1]);
	free(f);
	return 0;
}

/* "Basic " + base64(text) into buf. */
static const char *
basic(char *buf, const char *text)
{
	memcpy(buf, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)buf + 6, (const unsigned char *)text, (int)strlen(text));
	return buf;
}

/* One request the way the HTTP front runs it.  hdr NULL: no header. */
static void
decide(struct fx *f, struct pa_decision *d, const char *hdr)
{
	memset(d, 0, sizeof(*d));
	d->profile = PA_PROFILE_AUTH;
	snprintf(d->client, sizeof(d->client), "192.0.2.7");
	d->start_us = pa_now_us();
	d->cred_status = pa_credentials_parse(hdr, hdr != NULL ? strlen(hdr) : 0, &d->cred,
					      &d->cred_why);
	if (!pa_decide_begin(&f->p, d))
		pa_decide_lookup(&f->p, d);
	pa_decide_end(&f->p, d);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
}

static void
expect_has(const char *line, const char *needle)
{
	if (strstr(line, needle) == NULL)
		fail_msg("log line lacks '%s': %s", needle, line);
}

static void
expect_lacks(const char *line, const char *needle)
{
	if (strstr(line, needle) != NULL)
		fail_msg("log line holds '%s': %s", needle, line);
}

static void
expect_one_line(const char *line)
{
	size_t n = strlen(line);

	if (n == 0 || line[n - 1] != '\n' || scratch_lines(line) != 1)
		fail_msg("not exactly one line: '%s'", line);
}

/* The line parses in its format, no key is repeated (a forged field would
 * repeat one), and client, user (NULL: absent) and outcome are as given. */
static void
expect_fields(const char *line, bool json, const char *client, const char *user,
	      const char *outcome)
{
	struct logcheck lc;
	const char *v;

	if (!logcheck_parse(line, json, &lc))
		fail_msg("not a well-formed line: %s", line);
	if (!logcheck_unique(&lc))
		fail_msg("a key occurs twice: %s", line);
	if ((v = logcheck_get(&lc, "client")) == NULL || strcmp(v, client) != 0)
		fail_msg("client not '%s': %s", client, line);
	if ((v = logcheck_get(&lc, "outcome")) == NULL || strcmp(v, outcome) != 0)
		fail_msg("outcome not '%s': %s", outcome, line);
	v = logcheck_get(&lc, "user");
	if (user == NULL ? v != NULL : v == NULL || strcmp(v, user) != 0)
		fail_msg("user not '%s': %s", user ? user : "(absent)", line);
	/* Time first, then the client, before anything a client chose. */
	if (strcmp(lc.key[0], "time") != 0 || logcheck_count(&lc, "level") != 1 ||
	    strcmp(lc.key[2], "client") != 0)
		fail_msg("time, level, client are not first: %s", line);
}

static void
expect_scrubbed(const struct pa_decision *d)
{
	size_t i;

	for (i = 0; i < sizeof(d->cred.password); i++)
		if (d->cred.password[i] != '\0')
			fail_msg("password byte %zu not scrubbed", i);
	assert_int_equal(d->cred.password_len, 0);
}

/* ---- decided before any backend ---------------------------------------- */

static void
test_begin_decides_alone(void **state)
{
	struct fx *f = *state;
	char b[256], hdr_forged[256];
	static const char forged[] = "x\nlevel=error msg=forged:" PASSWORD;
	const struct {
		const char *desc;
		const char *hdr;
		enum pa_cred_status status;
		enum pa_outcome outcome;
		const char *logged;
	} cases[] = {
		{ "no header", NULL, PA_CRED_MISSING, PA_OUT_DENY, "outcome=deny" },
		{ "other scheme", "Bearer abc", PA_CRED_MISSING, PA_OUT_DENY, "outcome=deny" },
		{ "bad base64", "Basic !!!!", PA_CRED_MALFORMED, PA_OUT_MALFORMED,
		  "outcome=malformed" },
		{ "control character", basic(hdr_forged, forged), PA_CRED_MALFORMED,
		  PA_OUT_MALFORMED, "outcome=malformed" },
		{ "empty password", basic(b, "alice:"), PA_CRED_EMPTY_PASSWORD, PA_OUT_DENY,
		  "user=alice" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pa_decision d;

		f->fk[0].calls = 0;
		decide(f, &d, cases[i].hdr);
		if (d.cred_status != cases[i].status)
			fail_msg("%s: status %d", cases[i].desc, d.cred_status);
		if (d.outcome != cases[i].outcome)
			fail_msg("%s: outcome %s", cases[i].desc, pa_outcome_name(d.outcome));
		if (f->fk[0].calls != 0)
			fail_msg("%s: backend called", cases[i].desc);
		expect_one_line(f->line);
		expect_has(f->line, cases[i].logged);
		expect_fields(f->line, false, "192.0.2.7",
			      cases[i].status == PA_CRED_EMPTY_PASSWORD ? "alice" : NULL,
			      pa_outcome_name(cases[i].outcome));
		expect_lacks(f->line, PASSWORD);
		expect_lacks(f->line, "forged");
		if (cases[i].status == PA_CRED_MALFORMED)
			expect_lacks(f->line, "user=");	/* only well-formed names */
		expect_scrubbed(&d);
	}
}

/* begin alone: it never calls a backend, and leaves OK credentials to lookup. */
static void
test_begin_direct(void **state)
{
	static const struct {
		enum pa_cred_status status;
		bool decided;
		enum pa_outcome outcome;
	} cases[] = {
		{ PA_CRED_MISSING, true, PA_OUT_DENY },
		{ PA_CRED_MALFORMED, true, PA_OUT_MALFORMED },
		{ PA_CRED_EMPTY_PASSWORD, true, PA_OUT_DENY },
		{ PA_CRED_OK, false, 0 },
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pa_decision d;

		memset(&d, 0, sizeof(d));
		d.cred_status = cases[i].status;
		d.outcome = PA_OUT_ALLOW;
		snprintf(d.cred.user, sizeof(d.cred.user), "alice");
		d.cred.user_len = 5;
		assert_int_equal(pa_decide_begin(&f->p, &d), cases[i].decided);
		if (cases[i].decided)
			assert_int_equal(d.outcome, cases[i].outcome);
		assert_int_equal(f->fk[0].calls, 0);
	}
}

/* ---- the chain's answer -------------------------------------------------- */

static void
test_lookup_mapping(void **state)
{
	static const struct {
		enum pa_result answer;
		const char *groups, *require;
		enum pa_outcome want;
	} cases[] = {
		{ PA_GRANTED, "", "", PA_OUT_ALLOW },
		{ PA_GRANTED, "ops", "", PA_OUT_ALLOW },
		{ PA_GRANTED, "ops", "admins,ops", PA_OUT_ALLOW },
		{ PA_GRANTED, "admins", "admins,ops", PA_OUT_ALLOW },
		{ PA_GRANTED, "dev,ops,web", "admins,ops", PA_OUT_ALLOW },
		{ PA_GRANTED, "dev", "admins,ops", PA_OUT_FORBIDDEN },
		{ PA_GRANTED, "", "admins,ops", PA_OUT_FORBIDDEN },
		{ PA_GRANTED, "admin,opsx,xops", "admins,ops", PA_OUT_FORBIDDEN },
		{ PA_GRANTED, "admins ops", "admins,ops", PA_OUT_FORBIDDEN },
		{ PA_DENIED, "", "", PA_OUT_DENY },
		{ PA_DENIED, "", "admins,ops", PA_OUT_DENY },
		{ PA_NOT_FOUND, "", "", PA_OUT_DENY },
		{ PA_UNAVAILABLE, "", "", PA_OUT_UNAVAILABLE },
		{ PA_UNAVAILABLE, "", "admins,ops", PA_OUT_UNAVAILABLE },
	};
	struct fx *f = *state;
	char hdr[128];
	size_t i;

	basic(hdr, "alice:" PASSWORD);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pa_decision d;
		char want[64];

		f->fk[0].answer = cases[i].answer;
		f->fk[0].groups = cases[i].groups;
		f->fk[0].calls = 0;
		set_require(f, cases[i].require);
		decide(f, &d, hdr);
		if (d.outcome != cases[i].want)
			fail_msg("case %zu (groups '%s', require '%s'): %s, want %s", i,
				 cases[i].groups, cases[i].require, pa_outcome_name(d.outcome),
				 pa_outcome_name(cases[i].want));
		assert_int_equal(f->fk[0].calls, 1);
		if (cases[i].answer != PA_NOT_FOUND)
			assert_string_equal(d.backend, "fake");
		if (d.outcome == PA_OUT_ALLOW || d.outcome == PA_OUT_FORBIDDEN) {
			assert_string_equal(d.who.user, "alice");
			assert_string_equal(d.who.groups, cases[i].groups);
		} else {
			assert_string_equal(d.who.user, "");
			assert_string_equal(d.who.groups, "");
		}

		expect_one_line(f->line);
		expect_fields(f->line, false, "192.0.2.7", "alice", pa_outcome_name(cases[i].want));
		snprintf(want, sizeof(want), "outcome=%s", pa_outcome_name(cases[i].want));
		expect_has(f->line, want);
		expect_has(f->line, "user=alice");
		expect_has(f->line, "client=192.0.2.7");
		expect_lacks(f->line, PASSWORD);
		expect_lacks(f->line, hdr + 6);
		if (d.outcome == PA_OUT_UNAVAILABLE) {
			expect_has(f->line, "level=warn");
			expect_has(f->line, "timed out after 2000 ms");
		}
		expect_scrubbed(&d);
	}
}

/* fallthrough_unavailable: a grant past an unavailable backend is an
 * allow, logged as such; a denial past it stays unavailable. */
static void
test_lookup_fallthrough(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char hdr[128];

	f->p.chain.links[1].ops = &fake2_ops;
	f->p.chain.links[1].ctx = &f->fk[1];
	f->p.chain.n = 2;
	f->p.chain.fallthrough_unavailable = true;
	f->fk[0].answer = PA_UNAVAILABLE;
	f->fk[1].answer = PA_GRANTED;
	f->fk[1].groups = "ops";
	basic(hdr, "alice:" PASSWORD);

	decide(f, &d, hdr);
	assert_int_equal(d.outcome, PA_OUT_ALLOW);
	assert_true(d.granted_after_unavailable);
	assert_string_equal(d.backend, "fake2");
	expect_has(f->line, "backend=fake2");
	expect_has(f->line, "unavailable");	/* the reason says it */

	f->fk[1].answer = PA_DENIED;
	decide(f, &d, hdr);
	assert_int_equal(d.outcome, PA_OUT_UNAVAILABLE);

	f->fk[1].answer = PA_NOT_FOUND;
	decide(f, &d, hdr);
	assert_int_equal(d.outcome, PA_OUT_UNAVAILABLE);

	/* Without the flag the second backend is never asked. */
	f->p.chain.fallthrough_unavailable = false;
	f->fk[1].answer = PA_GRANTED;
	f->fk[1].calls = 0;
	decide(f, &d, hdr);
	assert_int_equal(d.outcome, PA_OUT_UNAVAILABLE);
	assert_int_equal(f->fk[1].calls, 0);
}

/* ---- the log line -------------------------------------------------------- */

static void
test_end_text_line(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char hdr[128];

	basic(hdr, "alice:" PASSWORD);
	memset(&d, 0, sizeof(d));
	d.profile = PA_PROFILE_AUTH_REQUEST;
	snprintf(d.client, sizeof(d.client), "2001:db8::7");
	d.host = "app.example.org";
	d.host_len = strlen(d.host);
	d.uri = "/admin?q=1";
	d.uri_len = strlen(d.uri);
	d.method = "GET";
	d.method_len = 3;
	d.start_us = pa_now_us();
	d.cred_status = pa_credentials_parse(hdr, strlen(hdr), &d.cred, &d.cred_why);
	assert_false(pa_decide_begin(&f->p, &d));
	pa_decide_lookup(&f->p, &d);
	pa_decide_end(&f->p, &d);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));

	expect_one_line(f->line);
	expect_fields(f->line, false, "2001:db8::7", "alice", "allow");
	expect_has(f->line, "client=2001:db8::7");
	expect_has(f->line, "user=alice");
	expect_has(f->line, "profile=auth-request");
	expect_has(f->line, "outcome=allow");
	expect_has(f->line, "backend=fake");
	expect_has(f->line, "cache=miss");
	expect_has(f->line, "latency_us=");
	expect_has(f->line, "host=app.example.org");
	expect_has(f->line, "uri=\"/admin?q=1\"");
	expect_lacks(f->line, PASSWORD);
	expect_lacks(f->line, hdr + 6);
	expect_scrubbed(&d);
}

/* Context headers are the client's words: they cannot forge a line. */
static void
test_end_escapes_context(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char hdr[128];

	basic(hdr, "alice:" PASSWORD);
	memset(&d, 0, sizeof(d));
	snprintf(d.client, sizeof(d.client), "192.0.2.7");
	d.uri = "/x\nlevel=error outcome=allow user=root\",\"outcome\":\"allow";
	d.uri_len = strlen(d.uri);
	d.host = "h\r\"\x1b[2J";
	d.host_len = strlen(d.host);
	d.cred_status = pa_credentials_parse(hdr, strlen(hdr), &d.cred, &d.cred_why);
	f->fk[0].answer = PA_DENIED;
	assert_false(pa_decide_begin(&f->p, &d));
	pa_decide_lookup(&f->p, &d);
	pa_decide_end(&f->p, &d);
	scratch_drain(f->logfd[0], f->line, sizeof(f->line));
	expect_one_line(f->line);
	expect_lacks(f->line, "\r");
	expect_lacks(f->line, "\x1b");
	expect_fields(f->line, f->log.json, "192.0.2.7", "alice", "deny");
}

static void
test_end_json_line(void **state)
{
	struct fx *f = *state;
	struct pa_decision d;
	char hdr[128];
	size_t n;

	basic(hdr, "alice:" PASSWORD);
	f->fk[0].groups = "ops";
	decide(f, &d, hdr);
	assert_int_equal(d.outcome, PA_OUT_ALLOW);
	expect_one_line(f->line);
	expect_fields(f->line, true, "192.0.2.7", "alice", "allow");
	n = strlen(f->line);
	assert_int_equal(f->line[0], '{');
	assert_int_equal(f->line[n - 2], '}');
	expect_has(f->line, "\"client\":\"192.0.2.7\"");
	expect_has(f->line, "\"user\":\"alice\"");
	expect_has(f->line, "\"outcome\":\"allow\"");
	expect_has(f->line, "\"profile\":\"auth\"");
	expect_lacks(f->line, PASSWORD);
	expect_lacks(f->line, hdr + 6);
	expect_scrubbed(&d);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(pa_profile_name(PA_PROFILE_AUTH), "auth");
	assert_string_equal(pa_profile_name(PA_PROFILE_AUTH_REQUEST), "auth-request");
	assert_string_equal(pa_profile_name(PA_PROFILE_EXT_AUTHZ), "ext-authz");
	assert_string_equal(pa_outcome_name(PA_OUT_ALLOW), "allow");
	assert_string_equal(pa_outcome_name(PA_OUT_DENY), "deny");
	assert_string_equal(pa_outcome_name(PA_OUT_FORBIDDEN), "forbidden");
	assert_string_equal(pa_outcome_name(PA_OUT_MALFORMED), "malformed");
	assert_string_equal(pa_outcome_name(PA_OUT_LOCKED), "locked");
	assert_string_equal(pa_outcome_name(PA_OUT_UNAVAILABLE), "unavailable");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_begin_decides_alone, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_begin_direct, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_mapping, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_fallthrough, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_end_text_line, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_end_escapes_context, setup_text, teardown),
		cmocka_unit_test_setup_teardown(test_end_json_line, setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_end_escapes_context, setup_json, teardown),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
