/*
 * Unit tests for lib/config.c: defaults, every kind of error reported as
 * exactly one "FILE:LINE: message" line with the right line number (what
 * proxyauthd -t prints), the count returned equal to the lines printed,
 * and PROXYAUTHD_<SECTION>_<KEY> overrides passed through envp.
 */
#include "scratch.h"

#include <stdbool.h>

#include "config.h"

struct fx {
	char dir[SCRATCH_PATH_MAX];
	char file[SCRATCH_PATH_MAX + 32];
	struct pa_config cfg;
	char *report;
	size_t report_len;
	int problems;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	scratch_mkdir(f->dir);
	snprintf(f->file, sizeof(f->file), "%s/proxyauthd.conf", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	pa_config_free(&f->cfg);
	free(f->report);
	scratch_rmdir(f->dir);
	free(f);
	return 0;
}

/* Writes text as the config file and loads it with envp; the report is
 * kept in f->report. */
static void
load(struct fx *f, const char *text, char *const *envp)
{
	FILE *rep;

	pa_config_free(&f->cfg);
	free(f->report);
	f->report = NULL;
	if (text != NULL)
		scratch_write(f->file, text, 0600);
	rep = open_memstream(&f->report, &f->report_len);
	assert_non_null(rep);
	f->problems = pa_config_load(f->file, envp, &f->cfg, rep);
	fclose(rep);
}

static const struct pa_section *
server(struct fx *f)
{
	const struct pa_section *s = pa_config_section(&f->cfg, "server");

	assert_non_null(s);
	return s;
}

static const char *
srv_str(struct fx *f, const char *key)
{
	return pa_conf_str(server(f), pa_server_keys, key);
}

/* ---- what a good file gives ----------------------------------------- */

static void
test_defaults(void **state)
{
	struct fx *f = *state;

	load(f, "", NULL);
	assert_int_equal(f->problems, 0);
	assert_string_equal(f->report, "");
	assert_string_equal(srv_str(f, "listen"), "127.0.0.1:9180");
	assert_string_equal(srv_str(f, "realm"), "proxyauthd");
	assert_string_equal(srv_str(f, "credentials_header"), "Proxy-Authorization");
	assert_string_equal(srv_str(f, "backends"), "htpasswd");
	/* Loopback: a proxy on the same host or in the same pod. */
	assert_string_equal(srv_str(f, "trusted_proxies"), "127.0.0.1/32,::1/128");
	assert_string_equal(srv_str(f, "require_groups"), "");
	assert_string_equal(srv_str(f, "log_format"), "text");
	assert_string_equal(srv_str(f, "log_level"), "info");
	assert_false(pa_conf_bool(server(f), pa_server_keys, "fallthrough_unavailable"));
	assert_false(pa_conf_bool(server(f), pa_server_keys, "allow_weak_hashes"));
	assert_int_equal(pa_conf_int(server(f), pa_server_keys, "threads"), 0);
	assert_null(pa_config_section(&f->cfg, "htpasswd"));

	/* Getters on no section at all give the same defaults. */
	assert_string_equal(pa_conf_str(NULL, pa_server_keys, "realm"), "proxyauthd");
	assert_string_equal(pa_conf_str(NULL, pa_server_keys, "listen"), "127.0.0.1:9180");
	assert_false(pa_conf_bool(NULL, pa_server_keys, "allow_weak_hashes"));
}

static void
test_values(void **state)
{
	struct fx *f = *state;
	const struct pa_section *h;
	char where[SCRATCH_PATH_MAX + 64], want[SCRATCH_PATH_MAX + 64];

	load(f, "# proxyauthd.conf\r\n"
		"; another comment style\r\n"
		"[server]\r\n"
		"listen = [::1]:8080\r\n"
		"threads = 4\r\n"
		"realm = Staff only\r\n"
		"credentials_header = Proxy-Authorization ,  Authorization\r\n"
		"trusted_proxies = 10.0.0.0/8 , ::1,,192.168.0.0/16\r\n"
		"require_groups = admins, ops\r\n"
		"fallthrough_unavailable = yes\r\n"
		"log_format = json\r\n"
		"log_level = debug\r\n"
		"\r\n"
		"[htpasswd]\r\n"
		"file = /etc/proxyauthd/users\r\n", NULL);
	if (f->problems != 0)
		fail_msg("problems: %s", f->report);
	assert_string_equal(srv_str(f, "listen"), "[::1]:8080");
	assert_int_equal(pa_conf_int(server(f), pa_server_keys, "threads"), 4);
	assert_string_equal(srv_str(f, "realm"), "Staff only");
	assert_string_equal(srv_str(f, "credentials_header"), "Proxy-Authorization,Authorization");
	assert_string_equal(srv_str(f, "trusted_proxies"), "10.0.0.0/8,::1,192.168.0.0/16");
	assert_string_equal(srv_str(f, "require_groups"), "admins,ops");
	assert_true(pa_conf_bool(server(f), pa_server_keys, "fallthrough_unavailable"));
	assert_string_equal(srv_str(f, "log_format"), "json");
	assert_string_equal(srv_str(f, "log_level"), "debug");

	h = pa_config_section(&f->cfg, "htpasswd");
	assert_non_null(h);
	assert_string_equal(pa_conf_str(h, NULL, "file"), "/etc/proxyauthd/users");

	/* Where a value came from, for messages about it. */
	pa_conf_where(server(f), "realm", where, sizeof(where));
	snprintf(want, sizeof(want), "%s:6", f->file);
	assert_string_equal(where, want);
	pa_conf_where(h, "file", where, sizeof(where));
	snprintf(want, sizeof(want), "%s:15", f->file);
	assert_string_equal(where, want);
}

static void
test_bool_spellings(void **state)
{
	static const struct {
		const char *value;
		bool want;
	} cases[] = {
		{ "true", true }, { "false", false }, { "yes", true }, { "no", false },
		{ "on", true }, { "off", false }, { "1", true }, { "0", false },
		{ "TRUE", true }, { "No", false },
	};
	struct fx *f = *state;
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nallow_weak_hashes = %s\n", cases[i].value);
		load(f, text, NULL);
		if (f->problems != 0)
			fail_msg("'%s' refused: %s", cases[i].value, f->report);
		if (pa_conf_bool(server(f), pa_server_keys, "allow_weak_hashes") != cases[i].want)
			fail_msg("'%s' read as %d", cases[i].value, !cases[i].want);
	}
}

/* ---- errors ------------------------------------------------------------ */

/* A line of the report: "FILE:LINE: ..." with says in the message, or
 * with line 0 "environment: ..." (env = true). */
struct want_line {
	int line;
	const char *says;
};

#define MAX_WANT 4

static const struct error_case {
	const char *desc;
	const char *text;
	struct want_line want[MAX_WANT];	/* ends at says == NULL */
} error_cases[] = {
	{ "int above max", "[server]\nthreads = 257\n",
	  { { 2, "threads must be an integer from 0 to 256" } } },
	{ "int below min", "[server]\n\nthreads = -1\n", { { 3, "threads must be an integer" } } },
	{ "int below min 1", "[server]\nworkers = 0\n", { { 2, "workers must be an integer from 1" } } },
	{ "int not a number", "[server]\nthreads = many\n", { { 2, "threads" } } },
	{ "int with junk", "[server]\nthreads = 4x\n", { { 2, "threads" } } },
	{ "int empty", "[server]\nthreads =\n", { { 2, "threads" } } },
	{ "int overflow", "[server]\nmax_connections = 99999999999999999999999\n",
	  { { 2, "max_connections" } } },
	{ "IPv6 lockout prefix too short", "[server]\nlockout_ipv6_prefix = 16\n",
	  { { 2, "lockout_ipv6_prefix must be an integer from 32 to 128" } } },
	{ "IPv6 lockout prefix too long", "[server]\nlockout_ipv6_prefix = 129\n",
	  { { 2, "lockout_ipv6_prefix" } } },
	{ "negative known_client_ttl", "[server]\nknown_client_ttl = -1\n",
	  { { 2, "known_client_ttl" } } },
	{ "locked delay too long", "[server]\nlocked_delay_max_ms = 10001\n",
	  { { 2, "locked_delay_max_ms must be an integer from 0 to 10000" } } },
	{ "bad bool", "[server]\nfallthrough_unavailable = maybe\n",
	  { { 2, "fallthrough_unavailable must be true or false" } } },
	{ "bool 2", "[server]\nallow_weak_hashes = 2\n", { { 2, "allow_weak_hashes" } } },
	{ "bad log_format", "[server]\nlog_format = xml\n",
	  { { 2, "log_format must be one of text|json" } } },
	{ "bad log_level", "[server]\nlog_level = verbose\n", { { 2, "log_level must be one of" } } },
	{ "unknown key", "[server]\nrealm = r\ncolour = red\n",
	  { { 3, "unknown key 'colour' in [server]" } } },
	{ "unknown key in a backend", "[htpasswd]\nfile = /x\npath = /y\n",
	  { { 3, "unknown key 'path' in [htpasswd]" } } },
	{ "unknown section", "[server]\n\n[ldapp]\nuri = ldap://x\n",
	  { { 4, "unknown section [ldapp]" } } },
	{ "key outside a section", "realm = r\n[server]\n", { { 1, "outside a section" } } },
	{ "duplicate key", "[server]\nrealm = a\nthreads = 2\nrealm = b\n",
	  { { 4, "duplicate key 'realm' in [server] (first on line 2)" } } },
	{ "duplicate key across repeated sections",
	  "[server]\nrealm = a\n[htpasswd]\nfile = /x\n[server]\nrealm = b\n",
	  { { 6, "duplicate key 'realm'" } } },
	{ "syntax error", "[server]\nrealm = a\nthis is not ini\n", { { 3, "syntax error" } } },
	{ "syntax error after blank lines", "# c\n\n\n\n[server]\n\n!!!\n", { { 7, "syntax error" } } },
	{ "over-long line", NULL /* built below */, { { 3, "line longer than" } } },
	{ "empty realm", "[server]\nrealm =\n", { { 2, "realm must be 1 to 200" } } },
	{ "control character in realm", "[server]\nrealm = a\x01" "b\n", { { 2, "realm" } } },
	{ "unknown backend", "[server]\nbackends = htpasswd, ldapx\n",
	  { { 2, "unknown backend 'ldapx'" } } },
	{ "backend twice", "[server]\n\nbackends = htpasswd,htpasswd\n", { { 3, "listed twice" } } },
	{ "no backend", "[server]\nbackends = ,\n", { { 2, "at least one backend" } } },
	{ "bad CIDR prefix", "[server]\ntrusted_proxies = 10.0.0.0/33\n",
	  { { 2, "10.0.0.0/33" } } },
	{ "bad CIDR entry", "[server]\ntrusted_proxies = 10.0.0.0/8, proxy.local\n",
	  { { 2, "proxy.local" } } },
	{ "bad v6 CIDR", "[server]\ntrusted_proxies = fd00::/129\n", { { 2, "fd00::/129" } } },
	{ "listen without port", "[server]\nlisten = 127.0.0.1\n", { { 2, "listen must be" } } },
	{ "listen port too big", "[server]\nlisten = 127.0.0.1:65536\n", { { 2, "listen must be" } } },
	{ "listen with a name", "[server]\nlisten = example.org:80\n", { { 2, "listen must be" } } },
	{ "listen v6 without port", "[server]\nlisten = [::1]\n", { { 2, "listen must be" } } },
	{ "bad header name", "[server]\ncredentials_header = Proxy-Authorization:x\n",
	  { { 2, "header names" } } },
	{ "several problems",
	  "[server]\nthreads = 999\nrealm = ok\ncolour = red\n\n[htpasswd]\nfile = /x\nfile = /y\n",
	  { { 2, "threads" }, { 4, "colour" }, { 8, "duplicate key 'file'" } } },
};

/* Checks that the report is exactly the wanted lines (in any order),
 * each "FILE:LINE: " then a message holding says. */
static void
expect_report(struct fx *f, const char *desc, const struct want_line *want, int nwant)
{
	char prefix[SCRATCH_PATH_MAX + 64];
	bool used[MAX_WANT] = { false };
	const char *p = f->report;
	int lines = 0, i;

	if (f->problems != nwant || scratch_lines(f->report) != nwant)
		fail_msg("%s: %d problems, %d lines, want %d:\n%s", desc, f->problems,
			 scratch_lines(f->report), nwant, f->report);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		bool ok = false;

		for (i = 0; i < nwant && !ok; i++) {
			size_t pl;
			if (used[i])
				continue;
			snprintf(prefix, sizeof(prefix), "%s:%d: ", f->file, want[i].line);
			pl = strlen(prefix);
			if (len > pl && strncmp(p, prefix, pl) == 0 &&
			    memmem(p + pl, len - pl, want[i].says, strlen(want[i].says)) != NULL)
				used[i] = ok = true;
		}
		if (!ok)
			fail_msg("%s: unexpected report line '%.*s'", desc, (int)len, p);
		lines++;
		p += len + (nl != NULL);
	}
	assert_int_equal(lines, nwant);
}

static void
test_errors(void **state)
{
	struct fx *f = *state;
	char longline[600];
	size_t i;

	/* Longer than libinih's line buffer; later lines keep their numbers. */
	snprintf(longline, sizeof(longline), "[server]\nthreads = 2\nrealm = %0500d\nlog_level = x\n", 7);

	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		int n = 0;

		while (n < MAX_WANT && c->want[n].says != NULL)
			n++;
		load(f, c->text != NULL ? c->text : longline, NULL);
		if (c->text == NULL) {
			static const struct want_line two[] = { { 3, "line longer than" },
								{ 4, "log_level" } };
			expect_report(f, c->desc, two, 2);
			continue;
		}
		expect_report(f, c->desc, c->want, n);
	}
}

/* An unterminated section header is a syntax error on its own line; what
 * follows is outside any section. */
static void
test_unterminated_section(void **state)
{
	static const struct want_line want[] = { { 1, "syntax error" }, { 2, "outside a section" } };
	struct fx *f = *state;

	load(f, "[server\nrealm = a\n", NULL);
	expect_report(f, "unterminated section", want, 2);
}

static void
test_missing_file(void **state)
{
	struct fx *f = *state;
	char want[SCRATCH_PATH_MAX + 64];

	load(f, NULL, NULL);	/* never written */
	assert_int_equal(f->problems, 1);
	assert_int_equal(scratch_lines(f->report), 1);
	snprintf(want, sizeof(want), "%s: cannot open", f->file);
	if (strncmp(f->report, want, strlen(want)) != 0)
		fail_msg("report '%s' does not start with '%s'", f->report, want);
}

/* ---- environment overrides ------------------------------------------- */

static void
test_env_overrides(void **state)
{
	struct fx *f = *state;
	char *env[] = {
		"PATH=/usr/bin:/bin",
		"PROXYAUTHD_SERVER_REALM=x",
		"PROXYAUTHD_HTPASSWD_FILE=/y",
		"PROXYAUTHD_SERVER_LOG_FORMAT=json",
		"PROXYAUTHD_SERVER_ALLOW_WEAK_HASHES=true",
		"PROXYAUTH_SERVER_REALM=not-ours",	/* another prefix */
		"PROXYAUTHDX_SERVER_REALM=not-ours",
		NULL,
	};
	const struct pa_section *h;
	char where[SCRATCH_PATH_MAX + 64];

	load(f, "[server]\nrealm = from-file\nthreads = 3\n", env);
	if (f->problems != 0)
		fail_msg("problems: %s", f->report);
	assert_string_equal(srv_str(f, "realm"), "x");		/* env wins */
	assert_int_equal(pa_conf_int(server(f), pa_server_keys, "threads"), 3);
	assert_string_equal(srv_str(f, "log_format"), "json");
	assert_true(pa_conf_bool(server(f), pa_server_keys, "allow_weak_hashes"));

	h = pa_config_section(&f->cfg, "htpasswd");		/* made by the env */
	assert_non_null(h);
	assert_string_equal(pa_conf_str(h, NULL, "file"), "/y");

	pa_conf_where(server(f), "realm", where, sizeof(where));
	assert_string_equal(where, "environment: PROXYAUTHD_SERVER_REALM");
	pa_conf_where(h, "file", where, sizeof(where));
	assert_string_equal(where, "environment: PROXYAUTHD_HTPASSWD_FILE");
}

static const struct env_case {
	const char *desc;
	const char *var;
	const char *says;
} env_cases[] = {
	{ "bad int", "PROXYAUTHD_SERVER_THREADS=999",
	  "environment: PROXYAUTHD_SERVER_THREADS: threads must be an integer" },
	{ "bad bool", "PROXYAUTHD_SERVER_FALLTHROUGH_UNAVAILABLE=perhaps",
	  "PROXYAUTHD_SERVER_FALLTHROUGH_UNAVAILABLE" },
	{ "bad enum", "PROXYAUTHD_SERVER_LOG_FORMAT=xml", "log_format must be one of" },
	{ "unknown key", "PROXYAUTHD_SERVER_COLOUR=red", "PROXYAUTHD_SERVER_COLOUR" },
	{ "unknown section", "PROXYAUTHD_NOSUCH_KEY=1", "PROXYAUTHD_NOSUCH_KEY" },
	{ "no key", "PROXYAUTHD_SERVER=1", "PROXYAUTHD_SERVER" },
	{ "nothing after the prefix", "PROXYAUTHD_=1", "PROXYAUTHD_" },
	{ "unknown backend", "PROXYAUTHD_SERVER_BACKENDS=htpasswd,nosuch", "unknown backend 'nosuch'" },
	{ "bad CIDR", "PROXYAUTHD_SERVER_TRUSTED_PROXIES=10.0.0.0/40", "10.0.0.0/40" },
	{ "bad listen", "PROXYAUTHD_SERVER_LISTEN=localhost", "listen must be" },
	/* Only the environment carries a newline into a value: it was taken,
	 * and proxyauthd -t printed the path across two lines, the second a
	 * forged "configuration OK" (and a key prefix, a DN or a filter
	 * went to the server with it). */
	{ "newline in a path", "PROXYAUTHD_HTPASSWD_FILE=/etc/users\nconfiguration OK",
	  "PROXYAUTHD_HTPASSWD_FILE: file holds a control character" },
	/* [server] keys: every build has them (the network backends' own
	 * sections are left out of a build without them). */
	{ "CR LF in the realm", "PROXYAUTHD_SERVER_REALM=pa\r\nSet-Cookie: a=b",
	  "realm holds a control character" },
	{ "escape in a header name", "PROXYAUTHD_SERVER_CREDENTIALS_HEADER=X-Auth\x1b[2J",
	  "credentials_header holds" },
	{ "realm too long",
	  "PROXYAUTHD_SERVER_REALM="
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "a", "realm must be 1 to 200" },
};

static void
test_env_errors(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		char *env[] = { (char *)env_cases[i].var, NULL };

		load(f, "[server]\nrealm = r\n", env);
		if (f->problems != 1 || scratch_lines(f->report) != 1)
			fail_msg("%s: %d problems, report:\n%s", env_cases[i].desc, f->problems,
				 f->report);
		if (strncmp(f->report, "environment", 11) != 0 ||
		    strstr(f->report, env_cases[i].says) == NULL)
			fail_msg("%s: report '%s' lacks '%s'", env_cases[i].desc, f->report,
				 env_cases[i].says);
	}
}

/* A realm of exactly 200 characters is fine (only the environment can
 * carry one: it does not fit libinih's line). */
static void
test_env_realm_at_max(void **state)
{
	struct fx *f = *state;
	char var[256];
	char *env[] = { var, NULL };

	snprintf(var, sizeof(var), "PROXYAUTHD_SERVER_REALM=%0200d", 0);
	load(f, "", env);
	if (f->problems != 0)
		fail_msg("%s", f->report);
	assert_int_equal(strlen(srv_str(f, "realm")), 200);
}

/* File and environment problems are all counted and all printed. */
static void
test_count_matches_lines(void **state)
{
	struct fx *f = *state;
	char *env[] = { "PROXYAUTHD_SERVER_COLOUR=red", "PROXYAUTHD_SERVER_THREADS=x", NULL };

	load(f, "[server]\nthreads = 999\nlog_format = yaml\n[nosuch]\na = 1\n", env);
	assert_int_equal(f->problems, 5);
	assert_int_equal(scratch_lines(f->report), 5);
}

static void
test_free_is_safe(void **state)
{
	struct pa_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	pa_config_free(&cfg);
	pa_config_free(&cfg);
	pa_config_free(NULL);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_values),
		T(test_bool_spellings),
		T(test_errors),
		T(test_unterminated_section),
		T(test_missing_file),
		T(test_env_overrides),
		T(test_env_errors),
		T(test_env_realm_at_max),
		T(test_count_matches_lines),
		T(test_free_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
