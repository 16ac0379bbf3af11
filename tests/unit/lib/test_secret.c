/*
 * Unit tests for lib/secret.c: secret files (bind_password_file,
 * password_file) are read only when no one but the owner can read or
 * write them, with one trailing newline removed; every refusal names the
 * path, and the buffer holds nothing of the secret afterwards.
 */
#include "scratch.h"

#include <stdbool.h>

#include "secret.h"

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
	snprintf(f->path, sizeof(f->path), "%s/bind.secret", f->dir);
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

static const struct read_case {
	const char *content;
	size_t len;
	const char *want;
} read_cases[] = {
	{ "s3cret\n", 7, "s3cret" },
	{ "s3cret", 6, "s3cret" },
	{ "s3cret\r\n", 8, "s3cret" },			/* edited on Windows */
	{ "s3cret\n\n", 8, "s3cret\n" },		/* only one newline removed */
	{ " spaced out \n", 13, " spaced out " },	/* spaces are the secret's */
	{ "p\xc3\xa4ss:w=rd#1\n", 13, "p\xc3\xa4ss:w=rd#1" },
};

static void
test_read(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(read_cases) / sizeof(read_cases[0]); i++) {
		char buf[64];
		struct pa_error err = { { 0 } };

		scratch_write_n(f->path, read_cases[i].content, read_cases[i].len, 0600);
		if (pa_secret_read(f->path, buf, sizeof(buf), &err) != 0)
			fail_msg("case %zu refused: %s", i, err.msg);
		assert_string_equal(buf, read_cases[i].want);
	}
	/* Owner read-only is fine too. */
	scratch_write(f->path, "ro\n", 0400);
	{
		char buf[16];
		assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), 0);
		assert_string_equal(buf, "ro");
	}
}

static void
expect_refused(struct fx *f, const char *desc, const char *says)
{
	char buf[64];
	struct pa_error err = { { 0 } };
	size_t i;

	memset(buf, 'Q', sizeof(buf));
	if (pa_secret_read(f->path, buf, sizeof(buf), &err) != -1)
		fail_msg("%s: accepted", desc);
	if (strstr(err.msg, f->path) == NULL)
		fail_msg("%s: message '%s' does not name the path", desc, err.msg);
	if (says != NULL && strstr(err.msg, says) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", desc, err.msg, says);
	if (strstr(err.msg, "topsecret") != NULL)
		fail_msg("%s: message holds the secret", desc);
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] != '\0')
			fail_msg("%s: buffer not scrubbed at %zu", desc, i);
}

static void
test_open_modes_refused(void **state)
{
	static const mode_t modes[] = { 0640, 0604, 0644, 0660, 0606, 0620, 0602, 0666, 0440,
					0404 };
	struct fx *f = *state;
	char desc[32];
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		scratch_write(f->path, "topsecret\n", modes[i]);
		snprintf(desc, sizeof(desc), "mode %04o", (unsigned)modes[i]);
		expect_refused(f, desc, "chmod 600");
	}
}

static void
test_missing(void **state)
{
	struct fx *f = *state;

	expect_refused(f, "missing file", "No such file");
}

static void
test_empty(void **state)
{
	struct fx *f = *state;

	scratch_write(f->path, "", 0600);
	expect_refused(f, "empty file", "empty");
	scratch_write(f->path, "\n", 0600);
	expect_refused(f, "only a newline", "empty");
	scratch_write_n(f->path, "top\0secret", 10, 0600);
	expect_refused(f, "NUL inside", NULL);
}

static void
test_too_big(void **state)
{
	struct fx *f = *state;
	char big[200];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	scratch_write(f->path, big, 0600);
	expect_refused(f, "longer than the buffer", "longer than");
}

/* At the edge of the buffer: a secret of size - 1 bytes fits with its
 * NUL, with or without a newline after it; one byte more does not. */
static void
test_exact_fit(void **state)
{
	struct fx *f = *state;
	char buf[8];

	scratch_write(f->path, "1234567", 0600);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "1234567");

	scratch_write(f->path, "1234567\n", 0600);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "1234567");

	scratch_write(f->path, "123456\n", 0600);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "123456");

	scratch_write(f->path, "12345678", 0600);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), -1);
	scratch_write(f->path, "12345678\n", 0600);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), -1);
}

static void
test_not_a_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdir(f->path, 0700), 0);
	expect_refused(f, "a folder", NULL);
	rmdir(f->path);
}

/* A FIFO nobody writes to (a mistyped path, `password_file = /dev/stdin`
 * under systemd, a process substitution) is refused at once, for
 * pa_secret_read and pa_secret_check alike: open() used to wait for a
 * writer, and proxyauthd (and proxyauthd -t) hung at start without a
 * word.  The alarm turns such a hang into a failure. */
static void
test_fifo_refused_at_once(void **state)
{
	struct fx *f = *state;
	struct pa_error err = { { 0 } };

	assert_int_equal(mkfifo(f->path, 0600), 0);
	alarm(10);
	expect_refused(f, "a FIFO", "not a regular file");
	assert_int_equal(pa_secret_check(f->path, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	alarm(0);
	unlink(f->path);
}

/* A symlink (how Kubernetes mounts secrets) is judged by its target. */
static void
test_symlink(void **state)
{
	struct fx *f = *state;
	char target[SCRATCH_PATH_MAX + 32], buf[32];

	snprintf(target, sizeof(target), "%s/..data", f->dir);
	scratch_write(target, "topsecret\n", 0600);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(pa_secret_read(f->path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "topsecret");

	assert_int_equal(chmod(target, 0644), 0);
	expect_refused(f, "symlink to a 0644 file", NULL);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_read),
		T(test_open_modes_refused),
		T(test_missing),
		T(test_empty),
		T(test_too_big),
		T(test_exact_fit),
		T(test_not_a_file),
		T(test_fifo_refused_at_once),
		T(test_symlink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
