/*
 * Unit tests for backends/registry.c under the build options: the names
 * shown to users are exactly the compiled-in backends (so `backends =`
 * errors never offer one this build cannot open), each of them is found by
 * name, and a configuration that names a backend this build left out
 * (PA_WITH_LDAP=OFF and the like) is refused with that reason instead of
 * "unknown".  Run in the default build and in one with options off.
 */
#include "scratch.h"

#include "backend.h"
#include "config.h"

static const char *const built[] = {
	"htpasswd",
#ifdef PA_WITH_REDIS
	"redis",
#endif
#ifdef PA_WITH_POSTGRES
	"postgres",
#endif
#ifdef PA_WITH_LDAP
	"ldap",
#endif
};

static const char *const left_out[] = {
#ifndef PA_WITH_REDIS
	"redis",
#endif
#ifndef PA_WITH_POSTGRES
	"postgres",
#endif
#ifndef PA_WITH_LDAP
	"ldap",
#endif
	NULL,
};

static void
test_names_are_the_compiled_in_list(void **state)
{
	char want[128] = "";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(built) / sizeof(built[0]); i++) {
		const struct pa_backend_ops *ops = pa_backend_find(built[i]);

		assert_non_null(ops);
		assert_string_equal(ops->name, built[i]);
		assert_false(pa_backend_left_out(built[i]));
		if (i > 0)
			strcat(want, ", ");
		strcat(want, built[i]);
	}
	assert_string_equal(pa_backend_names(), want);
	for (i = 0; left_out[i] != NULL; i++) {
		assert_null(pa_backend_find(left_out[i]));
		assert_true(pa_backend_left_out(left_out[i]));
		assert_null(strstr(pa_backend_names(), left_out[i]));
	}
	assert_false(pa_backend_left_out("nosuch"));
	assert_null(pa_backend_find("nosuch"));
}

/* What `proxyauthd -t` prints for a configuration naming each backend. */
static char *
load_report(const char *dir, const char *text, int *problems)
{
	char path[SCRATCH_PATH_MAX + 16];
	static char out[4096];
	struct pa_config cfg;
	FILE *rep = fmemopen(out, sizeof(out), "w");

	assert_non_null(rep);
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	scratch_replace(path, text, 0600);
	memset(&cfg, 0, sizeof(cfg));
	*problems = pa_config_load(path, NULL, &cfg, rep);
	fclose(rep);
	pa_config_free(&cfg);
	return out;
}

static void
test_left_out_backend_refused_with_reason(void **state)
{
	char dir[SCRATCH_PATH_MAX], text[256];
	const char *out;
	size_t i;
	int problems;

	(void)state;
	scratch_mkdir(dir);
	for (i = 0; left_out[i] != NULL; i++) {
		snprintf(text, sizeof(text), "[server]\nbackends = htpasswd, %s\n", left_out[i]);
		out = load_report(dir, text, &problems);
		assert_true(problems > 0);
		assert_non_null(strstr(out, "is not in this build"));
		snprintf(text, sizeof(text), "[server]\nbackends = htpasswd\n[%s]\ntimeout_ms = 1\n",
			 left_out[i]);
		out = load_report(dir, text, &problems);
		assert_true(problems > 0);
		assert_non_null(strstr(out, "that backend is not in this build"));
	}
	out = load_report(dir, "[server]\nbackends = htpasswd, nosuch\n", &problems);
	assert_true(problems > 0);
	assert_non_null(strstr(out, "unknown backend 'nosuch' (available: "));
	assert_non_null(strstr(out, pa_backend_names()));
	scratch_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_are_the_compiled_in_list),
		cmocka_unit_test(test_left_out_backend_refused_with_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
