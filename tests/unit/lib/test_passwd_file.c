/*
 * Unit tests for lib/passwd_file.c, the htpasswd editor behind
 * proxyauth-passwd -f: add, update, disable, enable and delete a user
 * while every other line (comments, CRLF endings, blank lines) stays byte
 * for byte; refused names; the file mode kept; no temporary file left
 * behind on success or failure; and concurrent editors not losing each
 * other's changes.  Results are also read back with the htpasswd backend's
 * own parser, since that is who reads the file.
 */
#include "scratch.h"

#include <pthread.h>
#include <stdbool.h>

#include "credentials.h"
#include "hash.h"
#include "htpasswd.h"
#include "passwd_file.h"

static char *hash_a, *hash_b, *hash_n;

static int
make_hashes(void **state)
{
	(void)state;
	if (pa_hash_make("a-pw", "bcrypt", 4, &hash_a, NULL) != 0 ||
	    pa_hash_make("b-pw", "bcrypt", 4, &hash_b, NULL) != 0 ||
	    pa_hash_make("n-pw", "bcrypt", 4, &hash_n, NULL) != 0)
		return -1;
	return 0;
}

static int
free_hashes(void **state)
{
	(void)state;
	free(hash_a);
	free(hash_b);
	free(hash_n);
	return 0;
}

struct fx {
	char dir[SCRATCH_PATH_MAX];
	char path[SCRATCH_PATH_MAX + 32];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	scratch_mkdir(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/users.htpasswd", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	scratch_rmdir(f->dir);
	free(f);
	return 0;
}

/* Text with A, B, N standing for the three hashes (as "A@" etc.). */
static char *
expand(const char *tmpl)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	for (; *tmpl != '\0'; tmpl++) {
		if (tmpl[1] == '@' && (*tmpl == 'A' || *tmpl == 'B' || *tmpl == 'N')) {
			fputs(*tmpl == 'A' ? hash_a : *tmpl == 'B' ? hash_b : hash_n, fp);
			tmpl++;
		} else {
			fputc(*tmpl, fp);
		}
	}
	fclose(fp);
	return out;
}

static void
put(struct fx *f, const char *tmpl, mode_t mode)
{
	char *text = expand(tmpl);

	scratch_write(f->path, text, mode);
	free(text);
}

/* The file must read exactly tmpl, and be the only thing in the folder. */
static void
expect_file(struct fx *f, const char *tmpl)
{
	char *want = expand(tmpl), *got = scratch_read(f->path);

	if (strcmp(got, want) != 0)
		fail_msg("file is:\n---\n%s---\nwant:\n---\n%s---", got, want);
	free(want);
	free(got);
	if (scratch_count(f->dir) != 1)
		fail_msg("%d entries in the folder: a temporary file was left", scratch_count(f->dir));
}

static void
update_ok(struct fx *f, const char *user, enum pa_pwfile_op op, const char *hash,
	  const char *groups)
{
	struct pa_error err = { { 0 } };

	if (pa_passwd_file_update(f->path, user, op, hash, groups, NULL, &err) != 0)
		fail_msg("update '%s' op %d: %s", user, op, err.msg);
}

static void
update_fails(struct fx *f, const char *user, enum pa_pwfile_op op, const char *hash,
	     const char *groups, const char *says)
{
	struct pa_error err = { { 0 } };

	if (pa_passwd_file_update(f->path, user, op, hash, groups, NULL, &err) != -1)
		fail_msg("update '%s' op %d accepted", user, op);
	if (err.msg[0] == '\0' || (says != NULL && strstr(err.msg, says) == NULL))
		fail_msg("update '%s' op %d: message '%s' lacks '%s'", user, op, err.msg,
			 says ? says : "");
}

static const struct pa_htpasswd_entry *
reread(struct fx *f, struct pa_htpasswd_table **t, const char *user)
{
	struct pa_error err = { { 0 } };

	if (pa_htpasswd_parse(f->path, false, t, &err) != 0)
		fail_msg("the backend cannot read the result: %s", err.msg);
	return pa_htpasswd_find(*t, user);
}

static void
test_set_creates_file(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	const struct pa_htpasswd_entry *e;

	update_ok(f, "alice", PA_PWFILE_SET, hash_a, " ops , dev ");
	expect_file(f, "alice:A@:ops,dev\n");
	e = reread(f, &t, "alice");
	assert_non_null(e);
	assert_string_equal(e->groups, "ops,dev");
	assert_int_equal(pa_hash_verify("a-pw", 4, e->hash, false), PA_HASH_MATCH);
	pa_htpasswd_free(t);

	/* No groups: no third field. */
	update_ok(f, "bob", PA_PWFILE_SET, hash_b, NULL);
	expect_file(f, "alice:A@:ops,dev\nbob:B@\n");
}

#define ORIGINAL \
	"# managed by hand\r\n" \
	"\n" \
	"bob:B@:admins\r\n" \
	"  # indented: bob:x\n" \
	"#alice:commented-out\n" \
	"al:A@\n" \
	"carol:!B@\n"

static void
test_set_keeps_other_lines(void **state)
{
	struct fx *f = *state;

	put(f, ORIGINAL, 0640);
	update_ok(f, "alice", PA_PWFILE_SET, hash_a, NULL);
	expect_file(f, ORIGINAL "alice:A@\n");

	/* Update: only bob's line changes; groups NULL keeps his groups. */
	update_ok(f, "bob", PA_PWFILE_SET, hash_n, NULL);
	expect_file(f, "# managed by hand\r\n"
		       "\n"
		       "bob:N@:admins\n"
		       "  # indented: bob:x\n"
		       "#alice:commented-out\n"
		       "al:A@\n"
		       "carol:!B@\n"
		       "alice:A@\n");

	/* "" clears the groups; a list is normalised. */
	update_ok(f, "bob", PA_PWFILE_SET, hash_n, "");
	update_ok(f, "alice", PA_PWFILE_SET, hash_a, "a, b ,,c");
	expect_file(f, "# managed by hand\r\n"
		       "\n"
		       "bob:N@\n"
		       "  # indented: bob:x\n"
		       "#alice:commented-out\n"
		       "al:A@\n"
		       "carol:!B@\n"
		       "alice:A@:a,b,c\n");

	/* Setting a disabled user's password gives an enabled user. */
	update_ok(f, "carol", PA_PWFILE_SET, hash_n, NULL);
	expect_file(f, "# managed by hand\r\n"
		       "\n"
		       "bob:N@\n"
		       "  # indented: bob:x\n"
		       "#alice:commented-out\n"
		       "al:A@\n"
		       "carol:N@\n"
		       "alice:A@:a,b,c\n");
}

static void
test_disable_enable(void **state)
{
	struct fx *f = *state;
	struct pa_htpasswd_table *t = NULL;
	const struct pa_htpasswd_entry *e;

	put(f, "# users\nal:A@\nalice:A@:ops\nbob:B@\n", 0640);
	update_ok(f, "alice", PA_PWFILE_DISABLE, NULL, NULL);
	expect_file(f, "# users\nal:A@\nalice:!A@:ops\nbob:B@\n");
	e = reread(f, &t, "alice");
	assert_true(e->disabled);
	assert_string_equal(e->hash, hash_a);
	assert_string_equal(e->groups, "ops");
	assert_false(pa_htpasswd_find(t, "al")->disabled);	/* not a prefix match */
	pa_htpasswd_free(t);

	/* Twice is still one '!'. */
	update_ok(f, "alice", PA_PWFILE_DISABLE, NULL, NULL);
	expect_file(f, "# users\nal:A@\nalice:!A@:ops\nbob:B@\n");

	update_ok(f, "alice", PA_PWFILE_ENABLE, NULL, NULL);
	expect_file(f, "# users\nal:A@\nalice:A@:ops\nbob:B@\n");
	e = reread(f, &t, "alice");
	assert_false(e->disabled);
	pa_htpasswd_free(t);

	/* Enabling an enabled user changes nothing. */
	update_ok(f, "alice", PA_PWFILE_ENABLE, NULL, NULL);
	expect_file(f, "# users\nal:A@\nalice:A@:ops\nbob:B@\n");

	/* Without groups. */
	update_ok(f, "bob", PA_PWFILE_DISABLE, NULL, NULL);
	expect_file(f, "# users\nal:A@\nalice:A@:ops\nbob:!B@\n");
}

static void
test_delete(void **state)
{
	struct fx *f = *state;

	put(f, "# users\r\nal:A@\nalice:A@:ops\r\n\nbob:B@\n", 0640);
	update_ok(f, "alice", PA_PWFILE_DELETE, NULL, NULL);
	expect_file(f, "# users\r\nal:A@\n\nbob:B@\n");
	update_ok(f, "bob", PA_PWFILE_DELETE, NULL, NULL);
	expect_file(f, "# users\r\nal:A@\n\n");
}

static void
test_unknown_user(void **state)
{
	static const enum pa_pwfile_op ops[] = { PA_PWFILE_DISABLE, PA_PWFILE_ENABLE,
						 PA_PWFILE_DELETE };
	struct fx *f = *state;
	size_t i;

	put(f, "# users\nalice:A@\n#bob:B@\n", 0640);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		update_fails(f, "bob", ops[i], NULL, NULL, "bob");	/* only commented */
		update_fails(f, "ali", ops[i], NULL, NULL, "ali");	/* a prefix */
		update_fails(f, "alice2", ops[i], NULL, NULL, "alice2");
		expect_file(f, "# users\nalice:A@\n#bob:B@\n");
	}
}

/* Without a file, only SET may create one. */
static void
test_missing_file(void **state)
{
	static const enum pa_pwfile_op ops[] = { PA_PWFILE_DISABLE, PA_PWFILE_ENABLE,
						 PA_PWFILE_DELETE };
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		update_fails(f, "alice", ops[i], NULL, NULL, NULL);
		assert_int_equal(scratch_count(f->dir), 0);
	}
}

static void
test_bad_names(void **state)
{
	static const char *const users[] = {
		"", ":", "a:b", "alice:", "x\ty", "x\n", "x\r", "\x01", "x\x7f", "x\xc2\x85",
		"\xff", "\xc0\xaf", "\xed\xa0\x80",
	};
	static const char *const groups[] = { "a:b", "a\nb", "a\x1b", "\xff" };
	struct fx *f = *state;
	char longname[PA_USER_MAX + 2];
	size_t i;

	put(f, "alice:A@\n", 0640);
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		struct pa_error err = { { 0 } };
		if (pa_passwd_check_user(users[i], &err) != -1)
			fail_msg("check_user accepted case %zu", i);
		update_fails(f, users[i], PA_PWFILE_SET, hash_b, NULL, NULL);
		update_fails(f, users[i], PA_PWFILE_DELETE, NULL, NULL, NULL);
		expect_file(f, "alice:A@\n");
	}
	memset(longname, 'u', sizeof(longname) - 1);
	longname[PA_USER_MAX + 1] = '\0';
	update_fails(f, longname, PA_PWFILE_SET, hash_b, NULL, NULL);
	longname[PA_USER_MAX] = '\0';	/* 256 bytes: fine */
	update_ok(f, longname, PA_PWFILE_SET, hash_b, NULL);

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		struct pa_error err = { { 0 } };
		if (pa_passwd_check_groups(groups[i], &err) != -1)
			fail_msg("check_groups accepted case %zu", i);
		update_fails(f, "alice", PA_PWFILE_SET, hash_b, groups[i], NULL);
	}

	/* Good ones pass the checks. */
	assert_int_equal(pa_passwd_check_user("j\xc3\xbcrgen", NULL), 0);
	assert_int_equal(pa_passwd_check_user("first.last@example.org", NULL), 0);
	assert_int_equal(pa_passwd_check_groups("", NULL), 0);
	assert_int_equal(pa_passwd_check_groups("a, b", NULL), 0);
}

static void
test_mode_kept(void **state)
{
	static const mode_t modes[] = { 0600, 0640, 0644, 0400 };
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct stat st;

		put(f, "alice:A@\n", modes[i]);
		update_ok(f, "bob", PA_PWFILE_SET, hash_b, NULL);
		assert_int_equal(stat(f->path, &st), 0);
		if ((st.st_mode & 07777) != modes[i])
			fail_msg("mode %04o became %04o", (unsigned)modes[i],
				 (unsigned)(st.st_mode & 07777));
		update_ok(f, "bob", PA_PWFILE_DISABLE, NULL, NULL);
		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 07777, modes[i]);
		unlink(f->path);
	}
}

/* The file is replaced, never rewritten in place: a reader holding the old
 * one open sees it whole. */
static void
test_replaced_atomically(void **state)
{
	struct fx *f = *state;
	struct stat before, after;
	char buf[256];
	ssize_t n;
	int fd;

	put(f, "alice:A@\n", 0640);
	assert_int_equal(stat(f->path, &before), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	update_ok(f, "alice", PA_PWFILE_SET, hash_n, NULL);
	assert_int_equal(stat(f->path, &after), 0);
	assert_true(before.st_ino != after.st_ino);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(strncmp(buf, "alice:", 6), 0);
	assert_non_null(strstr(buf, hash_a));
}

/* Last line without a newline: kept, and the next line starts on its own. */
static void
test_no_final_newline(void **state)
{
	struct fx *f = *state;

	put(f, "# x\nalice:A@", 0640);
	update_ok(f, "bob", PA_PWFILE_SET, hash_b, NULL);
	expect_file(f, "# x\nalice:A@\nbob:B@\n");
}

struct editor {
	struct fx *f;
	int id;
	int failures;
};

static void *
editor_run(void *arg)
{
	struct editor *e = arg;
	char user[32];
	int i;

	for (i = 0; i < 8; i++) {
		struct pa_error err = { { 0 } };
		snprintf(user, sizeof(user), "user%d-%d", e->id, i);
		if (pa_passwd_file_update(e->f->path, user, PA_PWFILE_SET,
					  i % 2 ? hash_a : hash_b, "g", NULL, &err) != 0)
			e->failures++;
	}
	return NULL;
}

/* Editors running at once are serialised: nobody's change is lost. */
static void
test_concurrent_editors(void **state)
{
	struct fx *f = *state;
	struct editor ed[4];
	pthread_t th[4];
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };
	char user[32];
	int i, j;

	put(f, "# shared\n", 0640);
	for (i = 0; i < 4; i++) {
		ed[i].f = f;
		ed[i].id = i;
		ed[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, editor_run, &ed[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ed[i].failures, 0);
	}
	if (pa_htpasswd_parse(f->path, false, &t, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(t->n, 32);
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 8; j++) {
			snprintf(user, sizeof(user), "user%d-%d", i, j);
			if (pa_htpasswd_find(t, user) == NULL)
				fail_msg("%s lost", user);
		}
	}
	pa_htpasswd_free(t);
	assert_int_equal(scratch_count(f->dir), 1);
}

/* The hook sees the new content before it is in place; its refusal
 * leaves the file as it was and no temporary file behind, and its
 * message names the file as the caller gave it. */
struct seen {
	char shown[SCRATCH_PATH_MAX + 64];
	char *text;
	int refuse;
};

static int
hook(const char *tmp, const char *shown, void *arg, struct pa_error *err)
{
	struct seen *s = arg;

	snprintf(s->shown, sizeof(s->shown), "%s", shown);
	free(s->text);
	s->text = scratch_read(tmp);
	if (s->refuse) {
		pa_error_set(err, "%s:1: refused by the hook", shown);
		return -1;
	}
	return 0;
}

static void
test_check_hook(void **state)
{
	struct fx *f = *state;
	struct seen s = { "", NULL, 1 };
	struct pa_pwfile_opts o = { hook, &s, (gid_t)-1 };
	struct pa_error err = { { 0 } };
	char *want;

	put(f, "alice:A@\nbob:B@\n", 0640);
	assert_int_equal(pa_passwd_file_update(f->path, "alice", PA_PWFILE_DELETE, NULL, NULL, &o,
					       &err), -1);
	assert_non_null(strstr(err.msg, "refused by the hook"));
	assert_string_equal(s.shown, f->path);
	want = expand("bob:B@\n");
	assert_string_equal(s.text, want);	/* what would have been written */
	free(want);
	expect_file(f, "alice:A@\nbob:B@\n");
	s.refuse = 0;
	assert_int_equal(pa_passwd_file_update(f->path, "alice", PA_PWFILE_DELETE, NULL, NULL, &o,
					       &err), 0);
	expect_file(f, "bob:B@\n");
	free(s.text);
}

/* A symbolic link is written through: the file it names changes (with its
 * mode), the link stays a link and nothing is left in either folder. */
static void
test_symlink_followed(void **state)
{
	struct fx *f = *state;
	char real[SCRATCH_PATH_MAX + 32], link[SCRATCH_PATH_MAX + 32], *got, *want;
	struct stat st;

	snprintf(real, sizeof(real), "%s/target", f->dir);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	want = expand("alice:A@\n");
	scratch_write(real, want, 0604);
	free(want);
	assert_int_equal(symlink("target", link), 0);
	{
		struct pa_error err = { { 0 } };

		if (pa_passwd_file_update(link, "bob", PA_PWFILE_SET, hash_b, NULL, NULL, &err) != 0)
			fail_msg("through a link: %s", err.msg);
	}
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(real, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	got = scratch_read(real);
	want = expand("alice:A@\nbob:B@\n");
	assert_string_equal(got, want);
	free(got);
	free(want);
	assert_int_equal(scratch_count(f->dir), 2);	/* target and link only */
}

/* A new user whose name reads as another's is refused before the file is
 * touched: "Alice" next to alice (an application comparing names without
 * regard to case takes one for the other), fullwidth and blank variants,
 * and names proxyauthd would refuse at login anyway ("bob ", U+00A0).
 * Existing users keep working: alice's own update, and deleting a bad
 * name an older tool wrote. */
static void
test_look_alike_refused(void **state)
{
	static const char *const alike[] = {
		"Alice", "ALICE", "\xef\xbd\x81lice",	/* fullwidth a */
	};
	static const char *const unsafe[] = {
		"bob ", " bob", "bob\xc2\xa0", "b\xc2\xad" "ob", "john  smith",
	};
	struct fx *f = *state;
	size_t i;

	put(f, "alice:A@\nbad :A@\n", 0640);
	for (i = 0; i < sizeof(alike) / sizeof(alike[0]); i++)
		update_fails(f, alike[i], PA_PWFILE_SET, hash_b, NULL, "folds like the user 'alice'");
	for (i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		update_fails(f, unsafe[i], PA_PWFILE_SET, hash_b, NULL, "another name");
		assert_int_not_equal(pa_passwd_check_new_user(unsafe[i], NULL), 0);
		assert_int_equal(pa_passwd_check_user(unsafe[i], NULL), 0);
	}
	/* "#x:hash" would be a comment line, reported as added. */
	update_fails(f, "#x", PA_PWFILE_SET, hash_b, NULL, "is a comment");
	expect_file(f, "alice:A@\nbad :A@\n");
	update_ok(f, "alice", PA_PWFILE_SET, hash_b, NULL);
	update_ok(f, "bad ", PA_PWFILE_DELETE, NULL, NULL);
	update_ok(f, "Bob", PA_PWFILE_SET, hash_n, NULL);
	expect_file(f, "alice:B@\nBob:N@\n");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_set_creates_file),
		T(test_set_keeps_other_lines),
		T(test_disable_enable),
		T(test_delete),
		T(test_unknown_user),
		T(test_missing_file),
		T(test_bad_names),
		T(test_mode_kept),
		T(test_replaced_atomically),
		T(test_no_final_newline),
		T(test_concurrent_editors),
		T(test_check_hook),
		T(test_symlink_followed),
		T(test_look_alike_refused),
	};

	return cmocka_run_group_tests(tests, make_hashes, free_hashes);
}
