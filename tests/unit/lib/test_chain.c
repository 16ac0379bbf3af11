/*
 * Unit tests for lib/chain.c: every rule of SPEC section 4 on how the
 * answers of several backends combine, with fake backends that return a
 * scripted answer and count their calls.  Each fake also scribbles on the
 * identity when it does not grant, so the test sees that only a grant ever
 * leaves an identity behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"

#define G PA_GRANTED
#define D PA_DENIED
#define N PA_NOT_FOUND
#define U PA_UNAVAILABLE

struct fake {
	enum pa_result answer;
	int calls;
	const struct pa_credentials *seen;
};

static struct fake fakes[4];

static enum pa_result
fake_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	    struct pa_error *err)
{
	struct fake *fk = ctx;
	int i = (int)(fk - fakes);

	fk->calls++;
	fk->seen = cred;
	switch (fk->answer) {
	case PA_GRANTED:
		snprintf(who->user, sizeof(who->user), "canonical-%c", 'a' + i);
		snprintf(who->groups, sizeof(who->groups), "g%d,ops", i);
		break;
	case PA_UNAVAILABLE:
		pa_error_set(err, "connection refused by fake %c", 'a' + i);
		/* fall through */
	default:
		/* A careless backend: junk left in who. */
		snprintf(who->user, sizeof(who->user), "junk-%c", 'a' + i);
		snprintf(who->groups, sizeof(who->groups), "admins");
		break;
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

static const struct pa_backend_ops fake_ops[4] = {
	{ .name = "a", .verify = fake_verify, .probe = fake_probe, .close = fake_close },
	{ .name = "b", .verify = fake_verify, .probe = fake_probe, .close = fake_close },
	{ .name = "c", .verify = fake_verify, .probe = fake_probe, .close = fake_close },
	{ .name = "d", .verify = fake_verify, .probe = fake_probe, .close = fake_close },
};

#define END -1

static const struct chain_case {
	const char *desc;
	bool fallthrough;
	int answers[5];			/* ends at END */
	enum pa_result want;
	const char *backend;		/* NULL: none */
	bool after_unavailable;
	int calls[4];
} cases[] = {
	/* The first granted or denied answer ends the chain. */
	{ "granted", false, { G, END }, G, "a", false, { 1 } },
	{ "denied", false, { D, END }, D, "a", false, { 1 } },
	{ "granted ends", false, { G, G, END }, G, "a", false, { 1, 0 } },
	{ "granted ends before deny", false, { G, D, END }, G, "a", false, { 1, 0 } },
	{ "denied ends before grant", false, { D, G, END }, D, "a", false, { 1, 0 } },
	{ "denied ends before unavailable", false, { D, U, END }, D, "a", false, { 1, 0 } },
	/* Not found goes on. */
	{ "not found, granted", false, { N, G, END }, G, "b", false, { 1, 1 } },
	{ "not found, denied", false, { N, D, END }, D, "b", false, { 1, 1 } },
	{ "not found twice, granted", false, { N, N, G, END }, G, "c", false, { 1, 1, 1 } },
	{ "not found", false, { N, END }, N, NULL, false, { 1 } },
	{ "not found everywhere", false, { N, N, N, N, END }, N, NULL, false, { 1, 1, 1, 1 } },
	{ "empty chain", false, { END }, N, NULL, false, { 0 } },
	/* Unavailable ends the chain: a later backend may hold an older
	 * password for the same name. */
	{ "unavailable", false, { U, END }, U, "a", false, { 1 } },
	{ "unavailable before grant", false, { U, G, END }, U, "a", false, { 1, 0 } },
	{ "unavailable before deny", false, { U, D, END }, U, "a", false, { 1, 0 } },
	{ "not found, unavailable, grant", false, { N, U, G, END }, U, "b", false, { 1, 1, 0 } },
	{ "unavailable twice", false, { U, U, END }, U, "a", false, { 1, 0 } },
	/* fallthrough_unavailable: go on past it, but only a grant wins. */
	{ "fallthrough: later grant", true, { U, G, END }, G, "b", true, { 1, 1 } },
	{ "fallthrough: later deny", true, { U, D, END }, U, NULL, false, { 1, 1 } },
	{ "fallthrough: nothing found", true, { U, N, END }, U, "a", false, { 1, 1 } },
	{ "fallthrough: all unavailable", true, { U, U, U, END }, U, "a", false, { 1, 1, 1 } },
	{ "fallthrough: grant after two", true, { U, N, U, G, END }, G, "d", true, { 1, 1, 1, 1 } },
	{ "fallthrough: N U N N", true, { N, U, N, N, END }, U, "b", false, { 1, 1, 1, 1 } },
	{ "fallthrough: grant first", true, { G, U, END }, G, "a", false, { 1, 0 } },
	{ "fallthrough: deny first", true, { D, U, END }, D, "a", false, { 1, 0 } },
	{ "fallthrough: no unavailable", true, { N, G, END }, G, "b", false, { 1, 1 } },
	{ "fallthrough: not found", true, { N, N, END }, N, NULL, false, { 1, 1 } },
	{ "fallthrough: grant ends", true, { U, G, G, END }, G, "b", true, { 1, 1, 0 } },
};

static const char *
result_name(enum pa_result r)
{
	switch (r) {
	case PA_GRANTED: return "GRANTED";
	case PA_DENIED: return "DENIED";
	case PA_NOT_FOUND: return "NOT_FOUND";
	case PA_UNAVAILABLE: return "UNAVAILABLE";
	}
	return "?";
}

static void
test_chain_table(void **state)
{
	struct pa_credentials cred;
	size_t i;
	int k;

	(void)state;
	memset(&cred, 0, sizeof(cred));
	snprintf(cred.user, sizeof(cred.user), "alice");
	cred.user_len = 5;
	snprintf(cred.password, sizeof(cred.password), "pw");
	cred.password_len = 2;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct chain_case *c = &cases[i];
		struct pa_chain chain;
		struct pa_chain_answer ans;
		struct pa_identity who;
		int first_u = -1;

		memset(&chain, 0, sizeof(chain));
		memset(fakes, 0, sizeof(fakes));
		chain.fallthrough_unavailable = c->fallthrough;
		for (k = 0; c->answers[k] != END; k++) {
			fakes[k].answer = (enum pa_result)c->answers[k];
			chain.links[k].ops = &fake_ops[k];
			chain.links[k].ctx = &fakes[k];
			if (c->answers[k] == U && first_u < 0)
				first_u = k;
		}
		chain.n = k;
		memset(&who, 'X', sizeof(who));
		memset(&ans, 'X', sizeof(ans));
		pa_chain_verify(&chain, &cred, &who, &ans);

		if (ans.result != c->want)
			fail_msg("%s: %s, want %s", c->desc, result_name(ans.result),
				 result_name(c->want));
		if (c->backend == NULL && c->want != U && ans.backend != NULL)
			fail_msg("%s: backend '%s', want none", c->desc, ans.backend);
		if (c->backend != NULL &&
		    (ans.backend == NULL || strcmp(ans.backend, c->backend) != 0))
			fail_msg("%s: backend '%s', want '%s'", c->desc,
				 ans.backend ? ans.backend : "NULL", c->backend);
		if (ans.after_unavailable != c->after_unavailable)
			fail_msg("%s: after_unavailable %d", c->desc, ans.after_unavailable);
		for (k = 0; k < 4; k++)
			if (fakes[k].calls != c->calls[k])
				fail_msg("%s: backend %c called %d times, want %d", c->desc, 'a' + k,
					 fakes[k].calls, c->calls[k]);
		for (k = 0; k < 4; k++)
			if (fakes[k].calls > 0 && fakes[k].seen != &cred)
				fail_msg("%s: backend %c did not get the credentials", c->desc,
					 'a' + k);

		if (c->want == G) {
			char u[32], g[32];
			int gi = c->backend[0] - 'a';
			snprintf(u, sizeof(u), "canonical-%c", 'a' + gi);
			snprintf(g, sizeof(g), "g%d,ops", gi);
			if (strcmp(who.user, u) != 0 || strcmp(who.groups, g) != 0)
				fail_msg("%s: who '%s' '%s', want '%s' '%s'", c->desc, who.user,
					 who.groups, u, g);
		} else if (who.user[0] != '\0' || who.groups[0] != '\0') {
			/* Nothing but a grant leaves an identity: no path can
			 * turn a denial into somebody's groups. */
			fail_msg("%s: identity '%s' '%s' left on %s", c->desc, who.user,
				 who.groups, result_name(ans.result));
		}

		if (c->want == U) {
			/* The reason names the first backend that was unavailable
			 * and carries its message. */
			char want[64];
			snprintf(want, sizeof(want), "%c: connection refused by fake %c",
				 'a' + first_u, 'a' + first_u);
			if (strstr(ans.err.msg, want) == NULL)
				fail_msg("%s: reason '%s' lacks '%s'", c->desc, ans.err.msg, want);
			if (ans.backend == NULL)
				fail_msg("%s: unavailable without a backend", c->desc);
		}
	}
}

/* An unavailable backend that says nothing still gets a reason. */
static enum pa_result
silent_unavailable(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
		   struct pa_error *err)
{
	(void)ctx;
	(void)cred;
	(void)who;
	(void)err;
	return PA_UNAVAILABLE;
}

static void
test_unavailable_reason_default(void **state)
{
	static const struct pa_backend_ops silent = {
		.name = "ldap", .verify = silent_unavailable, .probe = fake_probe,
		.close = fake_close,
	};
	struct pa_chain chain;
	struct pa_chain_answer ans;
	struct pa_identity who;
	struct pa_credentials cred;

	(void)state;
	memset(&chain, 0, sizeof(chain));
	memset(&cred, 0, sizeof(cred));
	chain.links[0].ops = &silent;
	chain.n = 1;
	pa_chain_verify(&chain, &cred, &who, &ans);
	assert_int_equal(ans.result, PA_UNAVAILABLE);
	assert_string_equal(ans.backend, "ldap");
	assert_non_null(strstr(ans.err.msg, "ldap"));
}

/* Reload calls every backend's hook that has one, and close is called once
 * for each. */
static int reloads, closes;

static void
count_reload(void *ctx)
{
	(void)ctx;
	reloads++;
}

static void
count_close(void *ctx)
{
	(void)ctx;
	closes++;
}

static void
test_reload_and_close(void **state)
{
	static const struct pa_backend_ops with = {
		.name = "x", .verify = fake_verify, .probe = fake_probe,
		.reload = count_reload, .close = count_close,
	};
	static const struct pa_backend_ops without = {
		.name = "y", .verify = fake_verify, .probe = fake_probe, .close = count_close,
	};
	struct pa_chain chain;

	(void)state;
	memset(&chain, 0, sizeof(chain));
	chain.links[0].ops = &with;
	chain.links[1].ops = &without;
	chain.links[2].ops = &with;
	chain.n = 3;
	reloads = closes = 0;
	pa_chain_reload(&chain);
	assert_int_equal(reloads, 2);
	pa_chain_close(&chain);
	assert_int_equal(closes, 3);
	assert_int_equal(chain.n, 0);
	pa_chain_close(&chain);		/* twice is harmless */
	assert_int_equal(closes, 3);
	pa_chain_close(NULL);
}

/* An exact-match backend (htpasswd, Redis, PostgreSQL) holding "admin"
 * with password "admin-pw"; it records the names it was asked for. */
static struct {
	int calls;
	char asked[4][PA_USER_MAX + 1];
} exact;
static int down_on_call;	/* that call answers unavailable; 0: none */
static const char *exact_name = "admin";	/* the one user it holds */
static bool finds_spellings;			/* its ops say it folds itself */

static enum pa_result
exact_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	     struct pa_error *err)
{
	(void)ctx;
	if (exact.calls < 4)
		snprintf(exact.asked[exact.calls], sizeof(exact.asked[0]), "%s", cred->user);
	if (++exact.calls == down_on_call) {
		pa_error_set(err, "down");
		return PA_UNAVAILABLE;
	}
	if (strcmp(cred->user, exact_name) != 0)
		return PA_NOT_FOUND;
	if (strcmp(cred->password, "admin-pw") != 0)
		return PA_DENIED;
	snprintf(who->user, sizeof(who->user), "admin");
	snprintf(who->groups, sizeof(who->groups), "admins");
	return PA_GRANTED;
}

/* The later backend grants whatever it is asked, as its own user of that
 * name would be: "Admin" registered by someone on a sign-up page. */
static enum pa_result
later_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	     struct pa_error *err)
{
	(void)ctx;
	(void)err;
	fakes[1].calls++;
	snprintf(who->user, sizeof(who->user), "%s", cred->user);
	return PA_GRANTED;
}

static enum pa_result
run_exact(int n, const char *user, const char *password, struct pa_identity *who,
	  struct pa_chain_answer *ans)
{
	static const struct pa_backend_ops ops[3] = {
		{ .name = "htpasswd", .verify = exact_verify, .probe = fake_probe,
		  .close = fake_close },
		{ .name = "redis", .verify = later_verify, .probe = fake_probe,
		  .close = fake_close },
		{ .name = "htpasswd", .verify = exact_verify, .probe = fake_probe,
		  .close = fake_close, .finds_spellings = true },
	};
	struct pa_chain chain;
	struct pa_credentials cred;

	memset(&chain, 0, sizeof(chain));
	memset(&cred, 0, sizeof(cred));
	memset(&exact, 0, sizeof(exact));
	memset(fakes, 0, sizeof(fakes));
	snprintf(cred.user, sizeof(cred.user), "%s", user);
	cred.user_len = strlen(user);
	snprintf(cred.password, sizeof(cred.password), "%s", password);
	cred.password_len = strlen(password);
	chain.links[0].ops = &ops[finds_spellings ? 2 : 0];
	chain.links[1].ops = &ops[1];
	chain.n = n;
	memset(who, 'X', sizeof(*who));
	pa_chain_verify(&chain, &cred, who, ans);
	return ans->result;
}

/* "Admin" is not admin's name to an exact-match backend, but it is to an
 * application comparing names without regard to case: a later backend's
 * "Admin" must not pass, whatever password is typed. */
static void
test_look_alike_in_later_backend(void **state)
{
	struct pa_identity who;
	struct pa_chain_answer ans;

	(void)state;
	assert_int_equal(run_exact(2, "Admin", "mallory-pw", &who, &ans), PA_DENIED);
	assert_string_equal(ans.backend, "htpasswd");
	assert_int_equal(exact.calls, 2);
	assert_string_equal(exact.asked[0], "Admin");
	assert_string_equal(exact.asked[1], "admin");
	assert_int_equal(fakes[1].calls, 0);
	assert_string_equal(who.user, "");
	assert_non_null(strstr(ans.err.msg, "another spelling of admin"));
	/* The reason names the backend, as for an unavailable one. */
	assert_int_equal(strncmp(ans.err.msg, "htpasswd: ", 10), 0);

	/* admin's own password under another spelling: denied too, never a
	 * grant under a name the backend does not hold. */
	assert_int_equal(run_exact(2, "ADMIN", "admin-pw", &who, &ans), PA_DENIED);
	assert_string_equal(who.user, "");
	assert_string_equal(who.groups, "");
	/* Fullwidth letters fold the same way. */
	assert_int_equal(run_exact(2, "\xef\xbd\x81\xef\xbd\x84min", "x", &who, &ans),
			 PA_DENIED);

	/* A name nobody earlier holds in any spelling goes on, as it was typed. */
	assert_int_equal(run_exact(2, "Bob", "bob-pw", &who, &ans), PA_GRANTED);
	assert_string_equal(who.user, "Bob");
	assert_int_equal(exact.calls, 2);
	assert_int_equal(fakes[1].calls, 1);

	/* Already folded: asked once. */
	assert_int_equal(run_exact(2, "bob", "bob-pw", &who, &ans), PA_GRANTED);
	assert_int_equal(exact.calls, 1);
	/* The exact name still works as before. */
	assert_int_equal(run_exact(2, "admin", "admin-pw", &who, &ans), PA_GRANTED);
	assert_string_equal(who.user, "admin");
	assert_int_equal(exact.calls, 1);

	/* The last backend is asked once: nothing after it to shield. */
	assert_int_equal(run_exact(1, "Admin", "admin-pw", &who, &ans), PA_NOT_FOUND);
	assert_int_equal(exact.calls, 1);

	/* A backend that finds every spelling itself (htpasswd) is not asked
	 * twice: its not found already covers the folded name. */
	finds_spellings = true;
	assert_int_equal(run_exact(2, "Bob", "bob-pw", &who, &ans), PA_GRANTED);
	assert_int_equal(exact.calls, 1);
	finds_spellings = false;
}

/* A 65-byte name beginning with '#' has the shape of the fold's digest
 * for overlong names, but is a name: asked again like any other. */
static void
test_look_alike_hash_shaped(void **state)
{
	struct pa_identity who;
	struct pa_chain_answer ans;
	char stored[66], typed[66];

	(void)state;
	memset(stored, 'a', 65);
	memset(typed, 'A', 65);
	stored[0] = typed[0] = '#';
	stored[65] = typed[65] = '\0';
	exact_name = stored;
	assert_int_equal(run_exact(2, typed, "x", &who, &ans), PA_DENIED);
	assert_int_equal(exact.calls, 2);
	assert_int_equal(fakes[1].calls, 0);
	exact_name = "admin";
}

/* The second question fails closed like the first: a backend that goes
 * down between the two makes the answer unavailable (503), and the later
 * backend is not asked. */
static void
test_look_alike_unavailable(void **state)
{
	struct pa_identity who;
	struct pa_chain_answer ans;

	(void)state;
	down_on_call = 2;
	assert_int_equal(run_exact(2, "Admin", "x", &who, &ans), PA_UNAVAILABLE);
	assert_int_equal(exact.calls, 2);
	assert_int_equal(fakes[1].calls, 0);
	assert_string_equal(who.user, "");
	assert_non_null(strstr(ans.err.msg, "htpasswd: down"));
	down_on_call = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_table),
		cmocka_unit_test(test_unavailable_reason_default),
		cmocka_unit_test(test_reload_and_close),
		cmocka_unit_test(test_look_alike_in_later_backend),
		cmocka_unit_test(test_look_alike_unavailable),
		cmocka_unit_test(test_look_alike_hash_shaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
