/*
 * Unit tests for lib/redis_absent.c, what stands in for the Redis code in
 * a build without it (PA_WITH_REDIS=OFF), next to what the Redis code
 * does in a build with it, so that both builds run the same cases:
 * lockout_store = redis opens a store with Redis (no connection is made
 * at open) and refuses without it, naming the config line and the build
 * option; a --redis address is checked with Redis and refused without.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lockout_redis.h"
#include "passwd_redis.h"
#include "redisopts.h"
#include "scratch.h"

static void
test_lockout_store(void **state)
{
	char dir[SCRATCH_PATH_MAX], path[SCRATCH_PATH_MAX + 16], want[SCRATCH_PATH_MAX + 128];
	char *const envp[] = { NULL };
	struct pa_lockout_store st = { NULL, NULL };
	struct pa_error err = { { 0 } };
	struct pa_config cfg;
	int rc;

	(void)state;
	scratch_mkdir(dir);
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	scratch_write(path, "[server]\nbackends = htpasswd\n\nlockout_store = redis\n"
		      "[htpasswd]\nfile = /nonexistent\n", 0600);
	assert_int_equal(pa_config_load(path, envp, &cfg, stderr), 0);
	rc = pa_lockout_redis_open(&cfg, &st, &err);
#ifdef PA_WITH_REDIS
	assert_int_equal(rc, 0);
	assert_non_null(st.ops);
	st.ops->close(st.ctx);
	(void)want;
#else
	assert_int_equal(rc, -1);
	assert_null(st.ops);
	snprintf(want, sizeof(want), "%s:4: lockout_store = redis: this build has no Redis "
		 "(built with PA_WITH_REDIS=OFF)", path);
	assert_string_equal(err.msg, want);
#endif
	pa_config_free(&cfg);
	scratch_rmdir(dir);
}

static void
test_passwd_address(void **state)
{
	struct pa_error err = { { 0 } };
	int rc = pa_redis_check_address("127.0.0.1:6379", &err);

	(void)state;
#ifdef PA_WITH_REDIS
	assert_int_equal(rc, 0);
	assert_int_equal(pa_redis_check_address("no-port", &err), -1);
#else
	assert_int_equal(rc, -1);
	assert_string_equal(err.msg, "--redis: this build has no Redis (built with "
			    "PA_WITH_REDIS=OFF)");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pa_passwd_redis_update(&(struct pa_redis_opts){ .address = "x:1" },
						"p:", "bob", PA_PWFILE_SET, "$2y$", NULL, &err),
			 -1);
	assert_non_null(strstr(err.msg, "PA_WITH_REDIS=OFF"));
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lockout_store),
		cmocka_unit_test(test_passwd_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
