/*
 * Unit tests for lib/passwd_edit.c, proxyauth-passwd's steps: the password
 * read from standard input (one line, CR LF or LF dropped) is refused when
 * empty, too long, or not something proxyauthd would ever accept (control
 * characters, invalid UTF-8), so no unusable hash is made; bcrypt refuses
 * a password longer than the 72 bytes it reads; a made hash verifies; the
 * file check refuses a file proxyauthd would refuse unless forced; groups
 * are taken by name or number.
 */
#include "scratch.h"

#include "hash.h"
#include "passwd_edit.h"

/* Runs pa_passwd_read on input (not a terminal). */
static int
read_from(const char *input, size_t len, char *buf, size_t size, struct pa_error *err)
{
	FILE *in = fmemopen((void *)input, len, "r");
	int rc;

	assert_non_null(in);
	memset(err, 0, sizeof(*err));
	rc = pa_passwd_read(in, stderr, buf, size, err);
	fclose(in);
	return rc;
}

static void
test_read_password(void **state)
{
	char buf[16];
	struct pa_error err;

	(void)state;
	assert_int_equal(read_from("s3cret\n", 7, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "s3cret");
	assert_int_equal(read_from("s3cret\r\n", 8, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "s3cret");
	assert_int_equal(read_from("no newline", 10, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "no newline");
	assert_int_equal(read_from("caf\xc3\xa9 au lait\n", 14, buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "caf\xc3\xa9 au lait");
	/* 14 bytes fit a 16-byte buffer; 15 do not. */
	assert_int_equal(read_from("12345678901234\n", 15, buf, sizeof(buf), &err), 0);
	assert_int_equal(read_from("123456789012345\n", 16, buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "password longer than 14 bytes");
}

static void
test_read_refuses_unusable(void **state)
{
	char buf[64];
	struct pa_error err;

	(void)state;
	assert_int_equal(read_from("\n", 1, buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "empty password");
	assert_int_equal(read_from("", 0, buf, sizeof(buf), &err), -1);
	assert_string_equal(err.msg, "empty password");
	assert_int_equal(read_from("\r\n", 2, buf, sizeof(buf), &err), -1);
	assert_int_equal(read_from("a\tb\n", 4, buf, sizeof(buf), &err), -1);
	assert_non_null(strstr(err.msg, "UTF-8 without control characters"));
	assert_int_equal(read_from("caf\xe9\n", 5, buf, sizeof(buf), &err), -1);
	assert_non_null(strstr(err.msg, "UTF-8 without control characters"));
}

static void
test_make_hash(void **state)
{
	char long_pw[80];
	struct pa_error err = { { 0 } };
	char *hash = NULL;

	(void)state;
	memset(long_pw, 'x', sizeof(long_pw) - 1);
	long_pw[sizeof(long_pw) - 1] = '\0';
	assert_int_equal(pa_passwd_make_hash(long_pw, "bcrypt", 4, &hash, &err), -1);
	assert_null(hash);
	assert_non_null(strstr(err.msg, "first 72 bytes"));
	long_pw[72] = '\0';	/* 72 is fine */
	assert_int_equal(pa_passwd_make_hash(long_pw, "bcrypt", 4, &hash, &err), 0);
	assert_non_null(hash);
	assert_memory_equal(hash, "$2", 2);
	free(hash);
	assert_int_equal(pa_passwd_make_hash("pw", "nosuch", 0, &hash, &err), -1);
	assert_null(hash);
	assert_true(err.msg[0] != '\0');
}

static void
test_check_file(void **state)
{
	char dir[SCRATCH_PATH_MAX], path[SCRATCH_PATH_MAX + 16], out[4096];
	struct pa_passwd_check pc = { false, false, NULL };
	struct pa_error err = { { 0 } };

	(void)state;
	scratch_mkdir(dir);
	snprintf(path, sizeof(path), "%s/users", dir);
	pc.report = fmemopen(out, sizeof(out), "w");
	assert_non_null(pc.report);
	/* A good file passes. */
	scratch_write(path, "alice:$2y$04$abcdefghijklmnopqrstuuLd7H3tRO4k4rAiHA0Ff9YHNs/Uyd0wy\n",
		      0600);
	assert_int_equal(pa_passwd_check_file(path, "users", &pc, &err), 0);
	/* A weak hash is refused (nothing written), unless forced. */
	scratch_replace(path, "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 0600);
	assert_int_equal(pa_passwd_check_file(path, "users", &pc, &err), -1);
	assert_non_null(strstr(err.msg, "proxyauthd would refuse the new file"));
	pc.force = true;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pa_passwd_check_file(path, "users", &pc, &err), 0);
	fflush(pc.report);
	assert_non_null(strstr(out, "written with --force"));
	/* allow_weak_hashes accepts it as proxyauthd would. */
	pc.force = false;
	pc.allow_weak = true;
	assert_int_equal(pa_passwd_check_file(path, "users", &pc, &err), 0);
	fclose(pc.report);
	scratch_rmdir(dir);
}

static void
test_group(void **state)
{
	struct pa_error err = { { 0 } };
	gid_t gid = 12345;

	(void)state;
	assert_int_equal(pa_passwd_group("root", &gid, &err), 0);
	assert_int_equal(gid, 0);
	assert_int_equal(pa_passwd_group("4242", &gid, &err), 0);
	assert_int_equal(gid, 4242);
	assert_int_equal(pa_passwd_group("no-such-group-here", &gid, &err), -1);
	assert_string_equal(err.msg, "no group 'no-such-group-here'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_password),
		cmocka_unit_test(test_read_refuses_unusable),
		cmocka_unit_test(test_make_hash),
		cmocka_unit_test(test_check_file),
		cmocka_unit_test(test_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
