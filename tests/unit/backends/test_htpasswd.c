/*
 * Unit tests for backends/htpasswd.c: the file parser (comments, CRLF,
 * groups, disabled users, errors as "path:LINE: message") and the backend
 * as the chain sees it through pa_htpasswd_ops: verify results, reload on
 * change and on SIGHUP, a broken reload keeping the old table, a file that
 * is missing at start and appears later, and the cache invalidation hook.
 *
 * Hashes are bcrypt at cost 4, made once for the whole program.
 */
#include "scratch.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "backend.h"
#include "hash.h"
#include "htpasswd.h"

extern const struct pa_backend_ops pa_htpasswd_ops;

static char *hash_alpha;	/* "alpha-pw" */
static char *hash_bravo;	/* "bravo-pw" */
static char *hash_new;		/* "new-pw" */

static int
make_hashes(void **state)
{
	(void)state;
	if (pa_hash_make("alpha-pw", "bcrypt", 4, &hash_alpha, NULL) != 0 ||
	    pa_hash_make("bravo-pw", "bcrypt", 4, &hash_bravo, NULL) != 0 ||
	    pa_hash_make("new-pw", "bcrypt", 4, &hash_new, NULL) != 0)
		return -1;
	return 0;
}

static int
free_hashes(void **state)
{
	(void)state;
	free(hash_alpha);
	free(hash_bravo);
	free(hash_new);
	return 0;
}

/* A file's text with A, B, N standing for the three hashes. */
static char *
expand(const char *tmpl)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	for (; *tmpl != '\0'; tmpl++) {
		if (*tmpl == 'A' && tmpl[1] == '@')
			fputs(hash_alpha, fp), tmpl++;
		else if (*tmpl == 'B' && tmpl[1] == '@')
			fputs(hash_bravo, fp), tmpl++;
		else if (*tmpl == 'N' && tmpl[1] == '@')
			fputs(hash_new, fp), tmpl++;
		else
			fputc(*tmpl, fp);
	}
	fclose(fp);
	return out;
}

#define MAX_CALLS 32

struct fx {
	char dir[SCRATCH_PATH_MAX];
	char file[SCRATCH_PATH_MAX + 32];
	char conf[SCRATCH_PATH_MAX + 32];
	int logfd[2];
	struct pa_log log;
	struct pa_backend_env env;
	struct pa_config cfg;
	void *ctx;
	bool opened;
	char calls[MAX_CALLS][PA_USER_MAX + 1];
	int ncalls;
	int bad_backend;		/* calls naming another backend */
	pthread_mutex_t calls_lock;
	char logbuf[65536];
};

/* The cache's hook: records which users the backend asked to drop. */
static void
record_invalidate(void *arg, const char *backend, const char *user)
{
	struct fx *f = arg;

	pthread_mutex_lock(&f->calls_lock);
	if (strcmp(backend, "htpasswd") != 0)
		f->bad_backend++;
	if (f->ncalls < MAX_CALLS)
		snprintf(f->calls[f->ncalls], sizeof(f->calls[0]), "%s",
			 user != NULL ? user : "(all)");
	f->ncalls++;
	pthread_mutex_unlock(&f->calls_lock);
}

static bool
was_invalidated(struct fx *f, const char *user)
{
	int i;

	for (i = 0; i < f->ncalls && i < MAX_CALLS; i++)
		if (strcmp(f->calls[i], user) == 0)
			return true;
	return false;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	scratch_mkdir(f->dir);
	snprintf(f->file, sizeof(f->file), "%s/users.htpasswd", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/proxyauthd.conf", f->dir);
	scratch_pipe(f->logfd);
	pa_log_init(&f->log, f->logfd[1], "text", "debug");
	f->env.log = &f->log;
	f->env.invalidate = record_invalidate;
	f->env.invalidate_arg = f;
	pthread_mutex_init(&f->calls_lock, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->opened)
		pa_htpasswd_ops.close(f->ctx);
	assert_int_equal(f->bad_backend, 0);
	pa_config_free(&f->cfg);
	close(f->logfd[0]);
	close(f->logfd[1]);
	scratch_rmdir(f->dir);
	pthread_mutex_destroy(&f->calls_lock);
	free(f);
	return 0;
}

static void
write_users(struct fx *f, const char *tmpl)
{
	char *text = expand(tmpl);

	scratch_write(f->file, text, 0640);
	free(text);
}

static void
replace_users(struct fx *f, const char *tmpl)
{
	char *text = expand(tmpl);

	scratch_replace(f->file, text, 0640);
	free(text);
}

/* Loads a config naming the file, as proxyauthd would, and opens the backend. */
static void
open_backend(struct fx *f)
{
	char text[1024];
	struct pa_error err = { { 0 } };
	FILE *devnull = fopen("/dev/null", "w");
	int problems;

	snprintf(text, sizeof(text), "[server]\nbackends = htpasswd\n\n[htpasswd]\nfile = %s\n",
		 f->file);
	scratch_write(f->conf, text, 0600);
	assert_non_null(devnull);
	problems = pa_config_load(f->conf, NULL, &f->cfg, devnull);
	fclose(devnull);
	assert_int_equal(problems, 0);
	assert_non_null(pa_config_section(&f->cfg, "htpasswd"));
	if (pa_htpasswd_ops.open(pa_config_section(&f->cfg, "htpasswd"), &f->env, &f->ctx,
				 &err) != 0)
		fail_msg("open: %s", err.msg);
	f->opened = true;
}

static enum pa_result
verify(struct fx *f, const char *user, const char *password, struct pa_identity *who,
       struct pa_error *err)
{
	struct pa_credentials c;
	struct pa_identity scratch_who;
	struct pa_error scratch_err = { { 0 } };
	enum pa_result r;

	memset(&c, 0, sizeof(c));
	snprintf(c.user, sizeof(c.user), "%s", user);
	c.user_len = strlen(c.user);
	snprintf(c.password, sizeof(c.password), "%s", password);
	c.password_len = strlen(c.password);
	if (who == NULL)
		who = &scratch_who;
	if (err == NULL)
		err = &scratch_err;
	memset(who, 0, sizeof(*who));
	r = pa_htpasswd_ops.verify(f->ctx, &c, who, err);
	pa_credentials_clear(&c);
	return r;
}

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

#define expect_result(f, user, pw, want) do {					\
	enum pa_result r_ = verify((f), (user), (pw), NULL, NULL);		\
	if (r_ != (want))							\
		fail_msg("verify(%s, %s) = %s, want %s", (user), (pw),		\
			 result_name(r_), result_name(want));			\
} while (0)

/* ---- the parser ---------------------------------------------------- */

static void
test_parse_good(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };
	const struct pa_htpasswd_entry *e;

	write_users(f, "# users for the demo\n"
		       "   # an indented comment\n"
		       "\n"
		       "alice:A@\r\n"
		       "bob:B@:admins, ops ,,dev\r\n"
		       "\t\n"
		       "carol:!A@:users\n"
		       "dave:!\n"
		       "eve:B@:\n"
		       "frank:A@:  a ,  b , \n"
		       "j\xc3\xbcrgen:A@:\xe6\x97\xa5\xe6\x9c\xac\n"
		       "last:B@");	/* no final newline */
	if (pa_htpasswd_parse(f->file, false, &t, &err) != 0)
		fail_msg("parse: %s", err.msg);
	assert_non_null(t);
	assert_int_equal(t->n, 8);

	e = pa_htpasswd_find(t, "alice");
	assert_non_null(e);
	assert_string_equal(e->hash, hash_alpha);	/* CR stripped */
	assert_string_equal(e->groups, "");
	assert_false(e->disabled);
	assert_int_equal(e->line, 4);

	e = pa_htpasswd_find(t, "bob");
	assert_non_null(e);
	assert_string_equal(e->hash, hash_bravo);
	assert_string_equal(e->groups, "admins,ops,dev");
	assert_int_equal(e->line, 5);

	e = pa_htpasswd_find(t, "carol");
	assert_non_null(e);
	assert_true(e->disabled);
	assert_string_equal(e->hash, hash_alpha);	/* without the '!' */
	assert_string_equal(e->groups, "users");

	e = pa_htpasswd_find(t, "dave");
	assert_non_null(e);
	assert_true(e->disabled);
	assert_string_equal(e->hash, "");

	e = pa_htpasswd_find(t, "eve");
	assert_non_null(e);
	assert_string_equal(e->groups, "");

	e = pa_htpasswd_find(t, "frank");
	assert_non_null(e);
	assert_string_equal(e->groups, "a,b");

	e = pa_htpasswd_find(t, "j\xc3\xbcrgen");
	assert_non_null(e);
	assert_string_equal(e->groups, "\xe6\x97\xa5\xe6\x9c\xac");

	e = pa_htpasswd_find(t, "last");
	assert_non_null(e);
	assert_string_equal(e->hash, hash_bravo);
	assert_int_equal(e->line, 12);

	/* Exact, case-sensitive names, as Apache and nginx match them. */
	assert_null(pa_htpasswd_find(t, "Alice"));
	assert_null(pa_htpasswd_find(t, "ali"));
	assert_null(pa_htpasswd_find(t, "alicex"));
	assert_null(pa_htpasswd_find(t, ""));
	assert_null(pa_htpasswd_find(t, "# users for the demo"));

	/* The dummy-verify reference is a real, enabled hash from the file. */
	assert_non_null(t->reference);
	assert_true(strcmp(t->reference, hash_alpha) == 0 ||
		    strcmp(t->reference, hash_bravo) == 0);
	pa_htpasswd_free(t);
}

static void
test_parse_groups_normalised(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };

	write_users(f, "u:A@:a, b ,,c\n");
	assert_int_equal(pa_htpasswd_parse(f->file, false, &t, &err), 0);
	assert_string_equal(pa_htpasswd_find(t, "u")->groups, "a,b,c");
	pa_htpasswd_free(t);
}

static void
test_parse_empty_file(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };

	write_users(f, "# nobody yet\n\n");
	assert_int_equal(pa_htpasswd_parse(f->file, false, &t, &err), 0);
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	assert_null(pa_htpasswd_find(t, "alice"));
	pa_htpasswd_free(t);
	pa_htpasswd_free(NULL);
}

static const struct error_case {
	const char *desc;
	const char *text;
	bool allow_weak;
	int line;		/* 0: no line number */
	const char *says;	/* a part of the message */
} error_cases[] = {
	{ "no colon", "alice:A@\nnocolonhere\n", false, 2, "user:hash" },
	{ "empty user", "# comment\n\n:A@\n", false, 3, "user" },
	{ "duplicate user", "alice:A@\nbob:B@\n\n# again\nalice:N@\n", false, 5, "duplicate user 'alice'" },
	{ "duplicate, disabled", "bob:!B@\nalice:A@\nbob:B@\n", false, 3, "duplicate user 'bob'" },
	{ "plaintext hash", "alice:A@\nbob:secret\n", false, 2, "bob" },
	{ "DES hash", "alice:abJnggxhB/yWI\n", false, 1, "alice" },
	{ "empty hash", "bob:B@\nalice:\n", false, 2, "alice" },
	{ "disabled plaintext", "alice:!secret\n", false, 1, "alice" },
	{ "$apr1$ without allow_weak", "alice:A@\nold:$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/\n",
	  false, 2, "allow_weak_hashes" },
	{ "{SHA} without allow_weak", "old:{SHA}p4FH8lGmmISKJSURfMrr0lhFS3E=\n", false, 1,
	  "allow_weak_hashes" },
	{ "$1$ without allow_weak", "\n\nold:$1$fxsalt01$MEnsn4f9XB3LGmztxzZ1S0\n", false, 3,
	  "allow_weak_hashes" },
	{ "argon2 over the caps",
	  "x:$argon2id$v=19$m=4194304,t=10,p=8$AwoRGB8mLTQ7QklQV15lbA$02i/Ocxugrpwpf7xAUqZhNKccCLhcNN4qUQr1bPIT9g\n",
	  true, 1, "caps" },
	{ "control character in user", "al\x01" "ce:A@\n", false, 1, "user" },
	{ "invalid UTF-8 in user", "al\xff" "ce:A@\n", false, 1, "user" },
	{ "control character in groups", "alice:A@:a\x1b" "b\n", false, 1, "groups" },
};

static void
test_parse_errors(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct pa_htpasswd_table *t = (struct pa_htpasswd_table *)&t;
		struct pa_error err = { { 0 } };
		char prefix[1024];

		write_users(f, c->text);
		if (pa_htpasswd_parse(f->file, c->allow_weak, &t, &err) != -1)
			fail_msg("%s: accepted", c->desc);
		if (t != NULL)
			fail_msg("%s: *out not NULL on failure", c->desc);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", f->file, c->line);
		if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
			fail_msg("%s: message '%s' does not start with '%s'", c->desc, err.msg,
				 prefix);
		if (strstr(err.msg + strlen(prefix), c->says) == NULL)
			fail_msg("%s: message '%s' does not mention '%s'", c->desc, err.msg,
				 c->says);
		/* Never the hash itself (a secret in its own right). */
		if (strstr(err.msg, "$2b$04$") != NULL)
			fail_msg("%s: message holds a hash: %s", c->desc, err.msg);
	}
}

static void
test_parse_weak_allowed(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };

	write_users(f, "a:$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/\n"
		       "s:{SHA}p4FH8lGmmISKJSURfMrr0lhFS3E=\n"
		       "m:$1$fxsalt01$MEnsn4f9XB3LGmztxzZ1S0\n");
	if (pa_htpasswd_parse(f->file, true, &t, &err) != 0)
		fail_msg("parse with allow_weak: %s", err.msg);
	assert_int_equal(t->n, 3);
	pa_htpasswd_free(t);
}

static void
test_parse_nul_byte(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };
	char prefix[1024];
	static const char text[] = "# ok\nal\0ice:x\n";

	static const char two[] = "no colon here\nbo\0b:x\nalso no colon\n";
	char *report = NULL;
	size_t report_len = 0;
	FILE *fp;

	scratch_write_n(f->file, text, sizeof(text) - 1, 0640);
	assert_int_equal(pa_htpasswd_parse(f->file, false, &t, &err), -1);
	snprintf(prefix, sizeof(prefix), "%s:2: ", f->file);
	assert_int_equal(strncmp(err.msg, prefix, strlen(prefix)), 0);

	/* proxyauthd -t lists every broken line, the NUL one among them:
	 * lines 1 and 2 in the report, line 3 held in err. */
	scratch_write_n(f->file, two, sizeof(two) - 1, 0640);
	fp = open_memstream(&report, &report_len);
	assert_non_null(fp);
	assert_int_equal(pa_htpasswd_check(f->file, f->file, false, fp, &err), -1);
	fclose(fp);
	snprintf(prefix, sizeof(prefix), "%s:1: ", f->file);
	if (strstr(report, prefix) == NULL)
		fail_msg("line 1 not reported: '%s'", report);
	snprintf(prefix, sizeof(prefix), "%s:2: NUL byte in line", f->file);
	if (strstr(report, prefix) == NULL)
		fail_msg("the NUL line not reported: '%s'", report);
	snprintf(prefix, sizeof(prefix), "%s:3: ", f->file);
	assert_int_equal(strncmp(err.msg, prefix, strlen(prefix)), 0);
	free(report);
}

static void
test_parse_missing_file(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = (struct pa_htpasswd_table *)&t;
	struct pa_error err = { { 0 } };
	char prefix[1024];

	assert_int_equal(pa_htpasswd_parse(f->file, false, &t, &err), -1);
	assert_null(t);
	snprintf(prefix, sizeof(prefix), "%s: ", f->file);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err.msg, prefix);
	assert_non_null(strstr(err.msg, "No such file"));
}

/* ---- the backend ---------------------------------------------------- */

static void
test_backend_registered(void **state)
{
	(void)state;
	assert_ptr_equal(pa_backend_find("htpasswd"), &pa_htpasswd_ops);
	assert_string_equal(pa_htpasswd_ops.name, "htpasswd");
	assert_null(pa_backend_find("HTPASSWD"));
	assert_null(pa_backend_find("nosuch"));
	assert_non_null(strstr(pa_backend_names(), "htpasswd"));
	pa_htpasswd_ops.close(NULL);	/* safe on NULL */
}

static void
test_verify(void **state)
{
	struct fx *f = *state;
	struct pa_identity who;
	struct pa_error err = { { 0 } };

	write_users(f, "alice:A@\n"
		       "bob:B@:admins, ops ,,dev\r\n"
		       "carol:!A@:users\n"
		       "dave:!\n"
		       "j\xc3\xbcrgen:B@:\n");
	open_backend(f);

	assert_int_equal(verify(f, "alice", "alpha-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.user, "alice");
	assert_string_equal(who.groups, "");

	assert_int_equal(verify(f, "bob", "bravo-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.user, "bob");
	assert_string_equal(who.groups, "admins,ops,dev");

	assert_int_equal(verify(f, "j\xc3\xbcrgen", "bravo-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.user, "j\xc3\xbcrgen");

	expect_result(f, "alice", "bravo-pw", PA_DENIED);
	expect_result(f, "alice", "alpha-pW", PA_DENIED);
	expect_result(f, "alice", "alpha-p", PA_DENIED);
	expect_result(f, "bob", "alpha-pw", PA_DENIED);
	expect_result(f, "carol", "alpha-pw", PA_DENIED);	/* disabled, right password */
	expect_result(f, "dave", "anything", PA_DENIED);
	expect_result(f, "nobody", "alpha-pw", PA_NOT_FOUND);
	/* Another spelling of alice: found, denied (see below). */
	expect_result(f, "Alice", "alpha-pw", PA_DENIED);
	expect_result(f, "alice ", "alpha-pw", PA_DENIED);

	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), 0);
	assert_int_equal(f->ncalls, 0);		/* first load drops nothing */
}

/* A name the file holds in another spelling is found, and denied,
 * whatever the password: the file's "Admin" for a typed "admin" or
 * "ADMIN".  The chain asks an exact-match backend again with the folded
 * name only (chain.c), so it found a stored "admin" but never a stored
 * "Admin": with "htpasswd, ldap", the directory's own "admin" (another
 * person) was granted, and an application comparing names without regard
 * to case took it for Admin.  Never a grant: the file does not match
 * loosely. */
static void
test_verify_stored_spelling(void **state)
{
	struct fx *f = *state;
	struct pa_identity who;
	struct pa_error err = { { 0 } };

	write_users(f, "Admin:A@\n\xef\xbc\xa2ob:B@\n");	/* fullwidth B */
	open_backend(f);
	expect_result(f, "admin", "alpha-pw", PA_DENIED);
	expect_result(f, "ADMIN", "alpha-pw", PA_DENIED);
	expect_result(f, "admin", "wrong-pw", PA_DENIED);
	expect_result(f, "bob", "bravo-pw", PA_DENIED);
	expect_result(f, "nobody", "alpha-pw", PA_NOT_FOUND);
	expect_result(f, "admins", "alpha-pw", PA_NOT_FOUND);
	assert_int_equal(verify(f, "Admin", "alpha-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.user, "Admin");
	memset(&err, 0, sizeof(err));
	assert_int_equal(verify(f, "admin", "alpha-pw", &who, &err), PA_DENIED);
	assert_string_equal(who.user, "");
	assert_non_null(strstr(err.msg, "Admin"));
}

/* "alice " is a line of its own, but X-Auth-User "alice " reaches the
 * application as alice (proxies strip the blanks around a header value),
 * "alice" + U+00A0 does through Go's TrimSpace or NFKC, and "ali" U+00AD
 * "ce" (a soft hyphen) shows as alice: refused, with a warning. */
static void
test_verify_blank_edged_name(void **state)
{
	struct fx *f = *state;
	struct pa_identity who;
	struct pa_error err = { { 0 } };

	write_users(f, "alice:A@\n"
		       "alice :B@\n"
		       " alice:B@\n"
		       "alice\xc2\xa0:B@\n"
		       "ali\xc2\xad" "ce:B@\n"
		       "\xcc\x81" "admin:B@\n"
		       "john smith:B@\n");
	open_backend(f);
	/* U+0301 first: MySQL's default collation takes it for admin. */
	expect_result(f, "\xcc\x81" "admin", "bravo-pw", PA_DENIED);
	expect_result(f, "alice ", "bravo-pw", PA_DENIED);
	expect_result(f, " alice", "bravo-pw", PA_DENIED);
	expect_result(f, "alice\xc2\xa0", "bravo-pw", PA_DENIED);
	expect_result(f, "ali\xc2\xad" "ce", "bravo-pw", PA_DENIED);
	assert_int_equal(verify(f, "alice", "alpha-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.user, "alice");
	assert_int_equal(verify(f, "john smith", "bravo-pw", &who, &err), PA_GRANTED);
	scratch_drain(f->logfd[0], f->logbuf, sizeof(f->logbuf));
	assert_non_null(strstr(f->logbuf, "begins or ends with a blank"));
	/* Said at load already, with the line. */
	assert_non_null(strstr(f->logbuf, "the user name on line 2 begins or ends with a blank "
				"or an invisible character; it will be refused"));
}

static void
test_verify_weak_allowed(void **state)
{
	struct fx *f = *state;

	write_users(f, "old:$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/\n"
		       "sha:{SHA}p4FH8lGmmISKJSURfMrr0lhFS3E=\n");
	f->env.allow_weak_hashes = true;
	open_backend(f);
	expect_result(f, "old", "fixture-pw", PA_GRANTED);
	expect_result(f, "old", "fixture-pX", PA_DENIED);
	expect_result(f, "sha", "fixture-pw", PA_GRANTED);
	expect_result(f, "sha", "fixture-pX", PA_DENIED);
}

/* Without allow_weak_hashes a file with a weak hash never loads. */
static void
test_verify_weak_refused(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };

	write_users(f, "alice:A@\nold:$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/\n");
	open_backend(f);
	expect_result(f, "old", "fixture-pw", PA_UNAVAILABLE);
	expect_result(f, "alice", "alpha-pw", PA_UNAVAILABLE);
	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), -1);
	assert_non_null(strstr(err.msg, "allow_weak_hashes"));
}

static void
test_open_needs_file(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };
	void *ctx = (void *)&ctx;

	assert_int_equal(pa_htpasswd_ops.open(NULL, &f->env, &ctx, &err), -1);
	assert_null(ctx);
	assert_non_null(strstr(err.msg, "file"));
}

/* proxyauthd -t: a broken file fails open with file:line; a good one opens. */
static void
test_open_check_only(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };
	char prefix[1024];

	f->env.check_only = true;
	write_users(f, "alice:A@\nbroken\n");
	{
		FILE *devnull = fopen("/dev/null", "w");
		char text[1024];
		snprintf(text, sizeof(text), "[htpasswd]\nfile = %s\n", f->file);
		scratch_write(f->conf, text, 0600);
		assert_int_equal(pa_config_load(f->conf, NULL, &f->cfg, devnull), 0);
		fclose(devnull);
	}
	assert_int_equal(pa_htpasswd_ops.open(pa_config_section(&f->cfg, "htpasswd"), &f->env,
					      &f->ctx, &err), -1);
	snprintf(prefix, sizeof(prefix), "%s:2: ", f->file);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", err.msg, prefix);

	write_users(f, "alice:A@\n");
	assert_int_equal(pa_htpasswd_ops.open(pa_config_section(&f->cfg, "htpasswd"), &f->env,
					      &f->ctx, &err), 0);
	f->opened = true;
}

/* The file is looked at again at most once a second, from verify: after
 * a change and a pause, the new file is in force with no SIGHUP. */
static void
test_reload_on_change(void **state)
{
	struct fx *f = *state;

	write_users(f, "alice:A@\nbob:B@\n");
	open_backend(f);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);

	/* Replaced by rename, as proxyauth-passwd and most editors do. */
	replace_users(f, "alice:N@\nbob:B@\n");
	usleep(1100 * 1000);
	expect_result(f, "alice", "new-pw", PA_GRANTED);
	expect_result(f, "alice", "alpha-pw", PA_DENIED);
	expect_result(f, "bob", "bravo-pw", PA_GRANTED);

	/* Rewritten in place (same inode, same size), as htpasswd(1) does. */
	write_users(f, "alice:A@\nbob:B@\n");
	usleep(1100 * 1000);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);
	expect_result(f, "alice", "new-pw", PA_DENIED);
}

static void
test_reload_hook(void **state)
{
	struct fx *f = *state;

	write_users(f, "alice:A@\n");
	open_backend(f);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);
	expect_result(f, "bob", "bravo-pw", PA_NOT_FOUND);

	replace_users(f, "alice:N@\nbob:B@:ops\n");
	pa_htpasswd_ops.reload(f->ctx);		/* SIGHUP: no waiting */
	expect_result(f, "alice", "new-pw", PA_GRANTED);
	expect_result(f, "alice", "alpha-pw", PA_DENIED);
	expect_result(f, "bob", "bravo-pw", PA_GRANTED);
}

static void
test_broken_reload_keeps_table(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };
	char needle[1024];

	write_users(f, "alice:A@\nbob:B@\n");
	open_backend(f);
	scratch_drain(f->logfd[0], f->logbuf, sizeof(f->logbuf));
	f->ncalls = 0;

	replace_users(f, "alice:N@\nthis line is broken\nbob:B@\n");
	pa_htpasswd_ops.reload(f->ctx);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);	/* the old table */
	expect_result(f, "alice", "new-pw", PA_DENIED);
	expect_result(f, "bob", "bravo-pw", PA_GRANTED);
	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), 0);
	assert_int_equal(f->ncalls, 0);

	/* And says why, with file:line. */
	scratch_drain(f->logfd[0], f->logbuf, sizeof(f->logbuf));
	snprintf(needle, sizeof(needle), "%s:2:", f->file);
	if (strstr(f->logbuf, needle) == NULL)
		fail_msg("log does not name %s: %s", needle, f->logbuf);

	/* The same broken file seen again by the once-a-second check. */
	usleep(1100 * 1000);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);

	/* Fixed: the new table is in force. */
	replace_users(f, "alice:N@\nbob:B@\n");
	pa_htpasswd_ops.reload(f->ctx);
	expect_result(f, "alice", "new-pw", PA_GRANTED);
	expect_result(f, "alice", "alpha-pw", PA_DENIED);
}

/* A file removed after loading keeps the loaded table. */
static void
test_removed_file_keeps_table(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };

	write_users(f, "alice:A@\n");
	open_backend(f);
	unlink(f->file);
	pa_htpasswd_ops.reload(f->ctx);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);
	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), 0);
}

/* The file replaced by a FIFO nobody writes to, or pointed at a device:
 * the reload (SIGHUP here; the once-a-second check in verify is the same
 * code) returns at once and keeps the loaded table.  It used to wait in
 * fopen() for a writer, holding the reload lock, and /dev/zero as the
 * file would have grown one endless line.  The alarm turns a hang into a
 * failure. */
static void
test_reload_not_regular(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };

	write_users(f, "alice:A@\n");
	open_backend(f);
	assert_int_equal(unlink(f->file), 0);
	assert_int_equal(mkfifo(f->file, 0600), 0);
	alarm(10);
	pa_htpasswd_ops.reload(f->ctx);
	alarm(0);
	expect_result(f, "alice", "alpha-pw", PA_GRANTED);
	assert_int_equal(pa_htpasswd_parse(f->file, false, &t, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_null(t);
	alarm(10);
	assert_int_equal(pa_htpasswd_parse("/dev/zero", false, &t, &err), -1);
	alarm(0);
	assert_non_null(strstr(err.msg, "/dev/zero: not a regular file"));
	/* /dev/null stays the usual empty file (no users: Negotiate only). */
	assert_int_equal(pa_htpasswd_parse("/dev/null", false, &t, &err), 0);
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	pa_htpasswd_free(t);
	unlink(f->file);
}

static void
test_missing_at_open(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };
	struct pa_identity who;

	open_backend(f);	/* the file does not exist yet */
	assert_int_equal(verify(f, "alice", "alpha-pw", &who, &err), PA_UNAVAILABLE);
	assert_string_equal(who.user, "");
	assert_true(err.msg[0] != '\0');
	memset(&err, 0, sizeof(err));
	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), -1);
	assert_non_null(strstr(err.msg, f->file));

	/* It appears: within a second or so it is used, with no SIGHUP. */
	write_users(f, "alice:A@:ops\n");
	usleep(1100 * 1000);
	assert_int_equal(verify(f, "alice", "alpha-pw", &who, &err), PA_GRANTED);
	assert_string_equal(who.groups, "ops");
	assert_int_equal(pa_htpasswd_ops.probe(f->ctx, &err), 0);
}

static void
test_invalidate_changed_users(void **state)
{
	struct fx *f = *state;

	write_users(f, "alice:A@\nbob:B@\ncarol:A@:users\ndave:B@:ops\nerin:A@\n");
	open_backend(f);
	assert_int_equal(f->ncalls, 0);

	/* alice: new hash; bob: removed; carol: groups; erin: disabled;
	 * frank: new; dave: same. */
	replace_users(f, "# edited\nalice:N@\ncarol:A@:users,admins\ndave:B@:ops\nerin:!A@\n"
			 "frank:B@\n");
	pa_htpasswd_ops.reload(f->ctx);
	assert_true(was_invalidated(f, "alice"));
	assert_true(was_invalidated(f, "bob"));
	assert_true(was_invalidated(f, "carol"));
	assert_true(was_invalidated(f, "erin"));
	assert_true(was_invalidated(f, "frank"));
	assert_false(was_invalidated(f, "dave"));
	assert_int_equal(f->ncalls, 5);

	/* The same content again (only a comment changed): nothing dropped. */
	f->ncalls = 0;
	replace_users(f, "# edited twice\nalice:N@\ncarol:A@:users,admins\ndave:B@:ops\n"
			 "erin:!A@\nfrank:B@\n");
	pa_htpasswd_ops.reload(f->ctx);
	assert_int_equal(f->ncalls, 0);

	/* A broken file drops nothing either. */
	replace_users(f, "alice\n");
	pa_htpasswd_ops.reload(f->ctx);
	assert_int_equal(f->ncalls, 0);
}

/* verify from many threads while the table is swapped under them: every
 * answer is a real one, and (under ASan) no table is used after free. */
struct hammer {
	struct fx *f;
	bool stop;
	int bad;
	int runs;
};

static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;

	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		enum pa_result r = verify(h->f, "alice", "alpha-pw", NULL, NULL);
		if (r != PA_GRANTED && r != PA_DENIED)
			__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&h->runs, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void
test_concurrent_reload(void **state)
{
	struct fx *f = *state;
	struct hammer h = { .f = f };
	pthread_t th[4];
	int i;

	write_users(f, "alice:A@\n");
	open_backend(f);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h), 0);
	for (i = 0; i < 30; i++) {
		replace_users(f, i % 2 ? "alice:A@\n" : "alice:N@\nbob:B@\n");
		pa_htpasswd_ops.reload(f->ctx);
		usleep(5000);
		scratch_drain(f->logfd[0], f->logbuf, sizeof(f->logbuf));
	}
	__atomic_store_n(&h.stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(h.bad, 0);
	assert_true(h.runs > 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_parse_good),
		T(test_parse_groups_normalised),
		T(test_parse_empty_file),
		T(test_parse_errors),
		T(test_parse_weak_allowed),
		T(test_parse_nul_byte),
		T(test_parse_missing_file),
		T(test_backend_registered),
		T(test_verify),
		T(test_verify_blank_edged_name),
		T(test_verify_stored_spelling),
		T(test_verify_weak_allowed),
		T(test_verify_weak_refused),
		T(test_open_needs_file),
		T(test_open_check_only),
		T(test_reload_on_change),
		T(test_reload_hook),
		T(test_broken_reload_keeps_table),
		T(test_removed_file_keeps_table),
		T(test_reload_not_regular),
		T(test_missing_at_open),
		T(test_invalidate_changed_users),
		T(test_concurrent_reload),
	};

	return cmocka_run_group_tests(tests, make_hashes, free_hashes);
}
